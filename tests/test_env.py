"""The Gymnasium environments: API checkers, seeding, pickling, rewards, autoreset, shared call capacity, SB3."""

from __future__ import annotations

import copy
import inspect
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")

import policies  # noqa: E402
from sim.catalogue import AGENCY, N_ACTIONS, NO_ACTION, SELL, WRITE_OFF, contact_action  # noqa: E402
from sim.engine import ACTIVE, CENTS, SOLD, PortfolioModel  # noqa: E402
from sim.envs import ENV_ID, AccountEnv, AccountVectorEnv, DayOutcome, NetCashReward  # noqa: E402
from sim.envs.episodes import AgentActions  # noqa: E402
from sim.features import FEATURE_NAMES, feature_matrix  # noqa: E402
from sim.metrics import summarise  # noqa: E402
from sim.observation import OBSERVATION_FIELDS  # noqa: E402
from sim.scenario import Scenario  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
LETTER = contact_action("letter")
CALL = contact_action("call")
SMS = contact_action("sms")
#: Account 37 of seed 5 cures under an SMS every third day and then closes the account, losing its CLV; found by
#: trying accounts 0-79 of that seed under that policy.
ATTRITING_SEED, ATTRITING_ACCOUNT = 5, 37


def masked_random_action(rng: np.random.Generator, mask: np.ndarray, exclude: tuple[int, ...] = ()) -> int:
    """A uniformly random allowed action, leaving out ``exclude`` unless nothing else is allowed."""
    allowed = np.flatnonzero(mask)
    preferred = allowed[~np.isin(allowed, exclude)]
    return int(rng.choice(preferred if len(preferred) else allowed))


def masked_random_actions(rng: np.random.Generator, masks: np.ndarray) -> np.ndarray:
    """One uniformly random allowed action per row of ``masks``."""
    k = np.floor(rng.random(len(masks)) * masks.sum(axis=1)).astype(np.int64)
    return (np.cumsum(masks, axis=1) > k[:, None]).argmax(axis=1)


def rollout(env: AccountEnv, actions_seed: int, steps: int) -> list[tuple]:
    """Step ``env`` (already reset) with masked random actions, resetting at episode ends; return every transition."""
    rng = np.random.default_rng(actions_seed)
    info = {"action_mask": env.action_masks()}
    transitions = []
    for _ in range(steps):
        action = masked_random_action(rng, info["action_mask"], exclude=(SELL, WRITE_OFF))
        obs, reward, terminated, truncated, info = env.step(action)
        transitions.append((action, obs, reward, terminated, truncated, info))
        if terminated or truncated:
            obs, info = env.reset()
            transitions.append(("reset", obs, info))
    return transitions


def assert_same_transitions(first: list[tuple], second: list[tuple]) -> None:
    assert len(first) == len(second)
    for step, (left, right) in enumerate(zip(first, second, strict=True)):
        assert left[0] == right[0], f"step {step}: actions differ"
        np.testing.assert_array_equal(left[1], right[1], err_msg=f"step {step}: observations differ")
        if left[0] == "reset":
            continue
        assert left[2] == right[2], f"step {step}: rewards {left[2]} and {right[2]} differ"
        assert left[3:5] == right[3:5], f"step {step}: episode ends differ"
        np.testing.assert_array_equal(left[5]["action_mask"], right[5]["action_mask"])
        assert {k: v for k, v in left[5].items() if k != "action_mask"} == {
            k: v for k, v in right[5].items() if k != "action_mask"
        }


# -- the single env ----------------------------------------------------------------------------------------------


def test_gymnasium_checker_passes():
    from gymnasium.utils.env_checker import check_env

    env = gymnasium.make(ENV_ID)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


def test_sb3_checker_passes():
    from stable_baselines3.common.env_checker import check_env

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(AccountEnv(), warn=True)


def run_fresh_interpreter(script: str, cwd: Path, **environment: str) -> subprocess.CompletedProcess:
    """Run ``script`` in a new interpreter of this venv, so the installed start-up hook runs as it does for users."""
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **environment},
    )


def test_make_needs_no_import_of_ours(tmp_path):
    script = """
import sys
import gymnasium
assert "sim" not in sys.modules
assert "policies" not in sys.modules
assert "arrears/Account-v0" in gymnasium.registry
# The hook leaves Gymnasium's own loader in place and takes its finder off the import path.
assert type(gymnasium.__loader__) is type(gymnasium.__spec__.loader) is type(sys.modules["json"].__loader__)
assert not any(type(finder).__name__ == "_GymnasiumImportFinder" for finder in sys.meta_path)
env = gymnasium.make("arrears/Account-v0", horizon=5)
obs, info = env.reset(seed=0)
for _ in range(5):
    obs, reward, terminated, truncated, info = env.step(0)
vector = gymnasium.make_vec("arrears/Account-v0", num_envs=3, vectorization_mode="vector_entry_point")
observations, infos = vector.reset(seed=0)
print(type(env.unwrapped).__name__, obs.shape, truncated or terminated, type(vector).__name__, observations.shape)
"""
    output = run_fresh_interpreter(script, tmp_path)
    assert output.returncode == 0, output.stderr
    assert output.stdout.split() == ["AccountEnv", "(25,)", "True", "AccountVectorEnv", "(3,", "25)"]
    assert output.stderr == ""


def test_start_up_hook_light_and_optional(tmp_path):
    script = """
import sys
heavy = sorted(name for name in ("gymnasium", "numpy", "sim", "pandas") if name in sys.modules)
import gymnasium
registered = "arrears/Account-v0" in gymnasium.registry
import sim.envs
print(",".join(heavy) or "-", registered, "arrears/Account-v0" in gymnasium.registry)
"""
    hooked = run_fresh_interpreter(script, tmp_path)
    assert hooked.returncode == 0, hooked.stderr
    assert hooked.stdout.split() == ["-", "True", "True"]
    opted_out = run_fresh_interpreter(script, tmp_path, ARREARS_NO_GYMNASIUM_HOOK="1")
    assert opted_out.returncode == 0, opted_out.stderr
    assert opted_out.stdout.split() == ["-", "False", "True"]


def test_module_prefixed_id_still_works(tmp_path):
    script = """
import gymnasium
env = gymnasium.make("sim.envs:arrears/Account-v0", horizon=5)
print(type(env.unwrapped).__name__)
"""
    output = run_fresh_interpreter(script, tmp_path, ARREARS_NO_GYMNASIUM_HOOK="1")
    assert output.returncode == 0, output.stderr
    assert output.stdout.split() == ["AccountEnv"]


def test_same_seed_same_rollout():
    first, second = AccountEnv(), AccountEnv()
    first_reset, second_reset = first.reset(seed=21), second.reset(seed=21)
    np.testing.assert_array_equal(first_reset[0], second_reset[0])
    first_run, second_run = rollout(first, actions_seed=3, steps=250), rollout(second, actions_seed=3, steps=250)
    assert_same_transitions(first_run, second_run)
    assert sum(1 for t in first_run if t[0] == "reset") >= 1, "expected an episode end within 250 steps"

    other = AccountEnv()
    other.reset(seed=22)
    other_run = rollout(other, actions_seed=3, steps=250)
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(first_run, other_run, strict=False)), (
        "seeds 21 and 22 gave the same observations"
    )


def test_reset_without_seed_moves_to_next_account():
    env = AccountEnv()
    ids = [env.reset(seed=4)[1]["account_id"], env.reset()[1]["account_id"], env.reset()[1]["account_id"]]
    assert ids == [0, 1, 2]
    assert env.reset(options={"account_id": 17})[1]["account_id"] == 17
    assert env.reset()[1]["account_id"] == 18
    assert env.reset(seed=4)[1]["account_id"] == 0


def test_open_day_observes_on_first_read(default_scenario):
    """open_day runs the statements as begin_day does. The observation, computed when first read, includes the
    accounts renewed in between."""
    opened = PortfolioModel(default_scenario, AgentActions(), n_accounts=40, days=60, seed=2)
    begun = PortfolioModel(default_scenario, AgentActions(), n_accounts=40, days=60, seed=2)
    with pytest.raises(RuntimeError, match="has not begun"):
        opened.finish_day(np.zeros(40, dtype=np.int64))
    for day in range(31):
        actions = (np.arange(40) + day) % N_ACTIONS
        opened.open_day()
        expected = begun.begin_day()
        # Day 30 closes the first statement cycle, so the statements have run on every account by then.
        for name in OBSERVATION_FIELDS:
            np.testing.assert_array_equal(getattr(opened.observation, name), getattr(expected, name), err_msg=name)
        opened.finish_day(actions)
        begun.finish_day(actions)
    assert opened.observation is None
    opened.open_day()
    with pytest.raises(RuntimeError, match="already begun"):
        opened.open_day()
    # Renewed before the first read, and after one: either way the observation shows the account that joined.
    opened.renew_accounts(np.array([5]), np.array([100]))
    before = opened.observation
    opened.renew_accounts(np.array([6]), np.array([101]))
    after = opened.observation
    every_field = opened.observe(opened.day)
    for name in OBSERVATION_FIELDS:
        np.testing.assert_array_equal(getattr(after, name), getattr(every_field, name), err_msg=name)
    assert before.balance[5] == after.balance[5] == opened.balance[5] / CENTS
    assert before.balance[6] != after.balance[6] == opened.balance[6] / CENTS


def test_env_account_is_portfolio_account(default_scenario):
    """Account k of seed s in the env is account k of a portfolio run on seed s (no calls, so no shared capacity)."""
    env = AccountEnv(default_scenario, horizon=120)
    env.reset(seed=8, options={"account_id": 3})
    letters = policies.load("letters_only")
    # One day more than the env's horizon, so the portfolio too can begin the day after the episode's last.
    portfolio = PortfolioModel(default_scenario, letters, n_accounts=6, days=121, seed=8)
    obs = portfolio.begin_day()
    ended = False
    while not ended:
        actions = np.asarray(letters.decide(obs))
        portfolio.finish_day(actions)
        obs = portfolio.begin_day()
        _, _, terminated, truncated, _ = env.step(int(actions[3]))
        ended = terminated or truncated
    env_ledger, portfolio_ledger = env.model.ledger_cents(), portfolio.ledger_cents()
    for column, values in env_ledger.items():
        assert values[0] == portfolio_ledger[column][3], (
            f"{column}: env {values[0]}, portfolio {portfolio_ledger[column][3]}"
        )
    # The waterfall's daily observation contains only the fields it reads, so observe every field of the same day.
    assert obs.balance is None
    every_field = portfolio.observe(portfolio.day)
    np.testing.assert_array_equal(feature_matrix(env.model.observation)[0], feature_matrix(every_field)[3])
    assert env.model.contacts_sent[0] == portfolio.contacts_sent[3]
    assert env.model.contacts_sent[0] > 0, "the letters_only waterfall sent account 3 no letter"


def test_rewards_sum_to_objective():
    env = AccountEnv(horizon=90)
    env.reset(seed=ATTRITING_SEED, options={"account_id": ATTRITING_ACCOUNT})
    total, ended, mask = 0.0, False, env.action_masks()
    while not ended:
        action = SMS if mask[SMS] and env.model.day % 3 == 0 else NO_ACTION
        _, reward, terminated, truncated, info = env.step(action)
        total += reward
        ended, mask = terminated or truncated, info["action_mask"]
    metrics = summarise(env.model)
    assert metrics["clv_lost"] > 0, "the account no longer attrites: pick another one so the CLV term is checked"
    assert metrics["collected"] > 0
    assert total == pytest.approx(metrics["objective"], rel=1e-12, abs=1e-9)


def test_reward_argument_replaces_default():
    def collected_cents(outcome: DayOutcome) -> np.ndarray:
        return outcome.collected * CENTS

    env = AccountEnv(horizon=60, reward=collected_cents)
    env.reset(seed=2)
    rng = np.random.default_rng(0)
    total, ended, mask = 0.0, False, env.action_masks()
    while not ended:
        _, reward, terminated, truncated, info = env.step(masked_random_action(rng, mask, exclude=(SELL, WRITE_OFF)))
        total += reward
        ended, mask = terminated or truncated, info["action_mask"]
    assert env.model.paid[0] > 0, "the account paid nothing: the check proves little"
    assert total == pytest.approx(float(env.model.paid[0]))


def pickle_round_trip(env: AccountEnv) -> AccountEnv:
    return pickle.loads(pickle.dumps(env))


@pytest.mark.parametrize("duplicate", [pickle_round_trip, copy.deepcopy], ids=["pickle", "deepcopy"])
def test_copy_mid_episode_continues_identically(duplicate):
    env = AccountEnv(horizon=150)
    env.reset(seed=13, options={"account_id": 1})
    rng = np.random.default_rng(5)
    for day in range(40):
        # Letters on the last days leave one in the post when the env is copied.
        allowed = masked_random_action(rng, env.action_masks(), exclude=(SELL, WRITE_OFF, AGENCY))
        action = LETTER if day >= 38 else allowed
        _, _, terminated, truncated, _ = env.step(action)
        assert not (terminated or truncated), "the episode ended before the copy point; pick another account"
    assert env.model._in_post, "expected a letter in the post at the copy point"
    twin = duplicate(env)
    original_run, twin_run = rollout(env, actions_seed=9, steps=150), rollout(twin, actions_seed=9, steps=150)
    assert_same_transitions(original_run, twin_run)


def test_random_steps_stay_in_space():
    """10,000 account-days under random allowed actions: features inside the Box, finite rewards, valid masks."""
    vector = AccountVectorEnv(100, horizon=60)
    space = vector.single_observation_space
    observations, info = vector.reset(seed=1)
    rng = np.random.default_rng(2)
    ended = 0
    for _ in range(100):
        assert info["action_mask"][:, NO_ACTION].all()
        actions = masked_random_actions(rng, info["action_mask"])
        observations, rewards, terminated, truncated, info = vector.step(actions)
        assert observations.dtype == np.float32
        assert not np.isnan(observations).any()
        assert (observations >= space.low).all()
        assert (observations <= space.high).all()
        assert all(row in space for row in observations)
        assert np.isfinite(rewards).all()
        ended += int((terminated | truncated).sum())
    assert ended > 100, f"only {ended} episodes ended: renewal was barely exercised"

    env = AccountEnv(horizon=60)
    obs, info = env.reset(seed=3)
    for _ in range(500):
        obs, reward, terminated, truncated, info = env.step(masked_random_action(rng, info["action_mask"]))
        assert obs in env.observation_space
        assert np.isfinite(reward)
        if terminated or truncated:
            obs, info = env.reset()


def test_agency_placement_keeps_episode_open():
    env = AccountEnv()
    env.reset(seed=6, options={"account_id": 2})
    assert env.action_masks()[AGENCY]
    _, reward, terminated, truncated, info = env.step(AGENCY)
    assert not terminated
    assert not truncated
    assert info["status"] == ACTIVE
    assert np.flatnonzero(info["action_mask"]).tolist() == [NO_ACTION]
    assert reward == 0.0


def test_sale_terminates_with_proceeds(default_scenario):
    env = AccountEnv(default_scenario)
    obs, _ = env.reset(seed=6, options={"account_id": 2})
    balance = float(env.model.balance[0]) / CENTS
    _, reward, terminated, truncated, info = env.step(SELL)
    assert terminated and not truncated
    assert info["status"] == SOLD
    assert reward == pytest.approx(balance * default_scenario.sale.price_per_dollar)


def test_misuse_raises():
    env = AccountEnv(horizon=2)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(N_ACTIONS)
    with pytest.raises(ValueError, match="option"):
        env.reset(options={"day": 3})
    env.step(0)
    _, _, terminated, truncated, _ = env.step(0)
    assert truncated or terminated
    with pytest.raises(RuntimeError, match="episode has ended"):
        env.step(0)
    with pytest.raises(ValueError, match="horizon"):
        AccountEnv(horizon=0)


def test_docstring_and_docs_list_every_feature():
    doc = inspect.getdoc(AccountEnv)
    table_rows = [line for line in doc.splitlines() if line.startswith("| ") and line.split("|")[1].strip().isdigit()]
    assert [row.split("|")[2].strip() for row in table_rows] == list(FEATURE_NAMES)
    assert f"Discrete({N_ACTIONS})" in doc
    assert f"({len(FEATURE_NAMES)},)" in doc
    page = (REPO_ROOT / "docs" / "environment.md").read_text()
    for name in FEATURE_NAMES:
        assert f"| {name} |" in page, f"docs/environment.md has no row for feature {name}"


# -- the engine's account renewal -----------------------------------------------------------------------------------


def account_state(model: PortfolioModel) -> dict[str, np.ndarray]:
    state = {}
    for name in model._account_attributes:
        value = getattr(model, name)
        if isinstance(value, np.ndarray):
            state[name] = value
        elif isinstance(value, dict) and all(isinstance(v, np.ndarray) for v in value.values()):
            state.update({f"{name}[{key}]": v for key, v in value.items()})
    return state


@pytest.mark.parametrize("begun", [False, True], ids=["before_begin_day", "after_begin_day"])
def test_renewal_on_day_zero_equals_construction(default_scenario, begun):
    do_nothing = policies.load("do_nothing")
    renewed = PortfolioModel(default_scenario, do_nothing, n_accounts=6, days=10, seed=3)
    if begun:
        renewed.begin_day()
    renewed.renew_accounts(np.array([4, 2]), np.array([9, 7]))
    built = PortfolioModel(
        default_scenario, do_nothing, n_accounts=6, days=10, seed=3, account_ids=np.array([0, 1, 7, 3, 9, 5])
    )
    if begun:
        built.begin_day()
        # The refreshed observation contains the fields the policy observes (a waterfall: some), as the built one does.
        for name in OBSERVATION_FIELDS:
            mine, theirs = getattr(renewed.observation, name), getattr(built.observation, name)
            assert (mine is None) == (theirs is None), name
            if mine is not None:
                np.testing.assert_array_equal(mine, theirs, err_msg=name)
        assert renewed.observation.dpd is not None
    assert_same_accounts(renewed, built)
    if begun:
        renewed.finish_day(np.zeros(6, dtype=np.int64))
        built.finish_day(np.zeros(6, dtype=np.int64))
    renewed.run()
    built.run()
    assert_same_accounts(renewed, built)


def assert_same_accounts(first: PortfolioModel, second: PortfolioModel) -> None:
    first_state, second_state = account_state(first), account_state(second)
    assert len(first_state) > 60, "expected every per-account array of the model"
    assert first_state.keys() == second_state.keys()
    for name, values in first_state.items():
        np.testing.assert_array_equal(values, second_state[name], err_msg=name)


def test_renewal_mid_run_keeps_ledgers_and_drops_letters(default_scenario):
    model = PortfolioModel(default_scenario, policies.load("letters_only"), n_accounts=400, days=200, seed=2)
    for _ in range(45):
        model.step()
    addressed = np.unique(np.concatenate([letter.accounts for letter in model._in_post]))
    assert len(addressed) > 2, "expected letters in the post to renew away"
    idx = addressed[:2]
    model.renew_accounts(idx, np.array([1_000, 1_001]))
    assert not any(np.isin(letter.accounts, idx).any() for letter in model._in_post)
    np.testing.assert_array_equal(model.account_ids[idx], [1_000, 1_001])
    assert (0 <= model.day - model.last_statement[idx]).all()
    assert (model.day - model.last_statement[idx] < default_scenario.cycle_days).all()
    assert (model.paid[idx] == 0).all()
    assert (model.reached_ring[:, idx] == 0).all()
    model.run()
    ledger = model.ledger_cents()
    left = ledger["opening_balance"] + ledger["interest"] + ledger["fees"]
    right = ledger["paid"] + ledger["discounts"] + ledger["written_off"] + ledger["sold"] + ledger["outstanding"]
    np.testing.assert_array_equal(left, right)


def account_at(model: PortfolioModel, position: int) -> dict[str, np.ndarray]:
    """Every per-account value of the account at ``position``."""
    state = {}
    for name, values in account_state(model).items():
        axis_last = values.ndim > 1 and values.shape[0] != model.n
        state[name] = values[..., position] if axis_last else values[position]
    return state


@pytest.mark.parametrize("scenario_name", ["default", "b2b_invoices"])
def test_renewal_same_account_any_route(scenario_name):
    # Account 150 joins at position 2 on day 20 in three ways: from a reserve drawn 15 days earlier, from a reserve
    # drawn for it, and drawn alone beside an id too far away to draw ahead. It must be the same account.
    scenario = Scenario.load(scenario_name)
    models, reserves = [], []
    for earlier_id, joining in ((100, [150]), (300, [150]), (100, [150, 5_000])):
        model = PortfolioModel(scenario, policies.load("do_nothing"), n_accounts=6, days=60, seed=3)
        for _ in range(5):
            model.step()
        model.renew_accounts(np.array([1]), np.array([earlier_id]))
        for _ in range(15):
            model.step()
        reserve = model._reserve
        model.renew_accounts(np.array([2, 3][: len(joining)]), np.array(joining))
        reserves.append((reserve, model._reserve))
        models.append(model)

    (kept, still), (missed, redrawn), (alone, after) = reserves
    assert still is kept, "account 150 lies in the reserve drawn from account 100, which should have been reused"
    assert redrawn is not missed
    assert redrawn.first_id == 150
    assert after is alone, "ids 4,850 apart are drawn alone, and the reserve stays as it was"
    for model in models[1:]:
        first, other = account_at(models[0], 2), account_at(model, 2)
        for name, value in first.items():
            np.testing.assert_array_equal(value, other[name], err_msg=name)

    for model in models:
        assert 0 <= 20 - model.last_statement[2] < scenario.cycle_days
        assert model.opening_balance[2] == model.balance[2]
        model.run()
    # Nothing else reaches account 150 under do-nothing, so it stays the same account to the end.
    for model in models[1:]:
        first, other = account_at(models[0], 2), account_at(model, 2)
        for name, value in first.items():
            np.testing.assert_array_equal(value, other[name], err_msg=name)


def test_renewal_rejects_ids_in_use(default_scenario):
    model = PortfolioModel(default_scenario, policies.load("do_nothing"), n_accounts=5, days=5, seed=0)
    with pytest.raises(ValueError, match="already in the portfolio"):
        model.renew_accounts(np.array([0]), np.array([3]))
    with pytest.raises(ValueError, match="distinct"):
        model.renew_accounts(np.array([0, 1]), np.array([8, 8]))
    # Ids below the book's highest, unsorted: the clash with account 1 is found whatever the order.
    with pytest.raises(ValueError, match="account id 1 is already"):
        model.renew_accounts(np.array([0, 2]), np.array([9, 1]))
    with pytest.raises(ValueError, match="distinct positions"):
        model.renew_accounts(np.array([2, 2]), np.array([8, 9]))
    with pytest.raises(ValueError, match="must be distinct"):
        model.renew_accounts(np.array([0, 1, 2]), np.array([9, 8, 9]))
    np.testing.assert_array_equal(model.account_ids, [0, 1, 2, 3, 4])
    model.renew_accounts(np.array([0, 3]), np.array([3, 0]))
    np.testing.assert_array_equal(model.account_ids, [3, 1, 2, 0, 4])


# -- the vector env ----------------------------------------------------------------------------------------------


def test_vector_next_step_autoreset():
    vector = AccountVectorEnv(4)
    observations, info = vector.reset(seed=5)
    assert info["account_id"].tolist() == [0, 1, 2, 3]
    twin = AccountVectorEnv(4)
    twin.reset(seed=5)

    sell_first = np.array([SELL, NO_ACTION, NO_ACTION, NO_ACTION])
    idle = np.zeros(4, dtype=np.int64)
    observations, rewards, terminated, truncated, info = vector.step(sell_first)
    twin_observations, *_ = twin.step(idle)
    assert terminated.tolist() == [True, False, False, False]
    assert not truncated.any()
    assert rewards[0] > 0
    assert info["status"][0] == SOLD
    assert info["account_id"][0] == 0

    # The next step ignores account 0's action and starts account 4 in its place.
    observations, rewards, terminated, truncated, info = vector.step(sell_first)
    twin_observations, *_ = twin.step(idle)
    assert info["account_id"].tolist() == [4, 1, 2, 3]
    assert rewards[0] == 0.0
    assert not terminated[0]
    assert not truncated[0]
    assert info["status"][0] == ACTIVE
    assert info["day"][0] == 2
    np.testing.assert_array_equal(observations[0], feature_matrix(vector.model.observe(2))[0])
    np.testing.assert_array_equal(observations[1:], twin_observations[1:])
    # Account 4 has the traits of account 4 of seed 5 in a portfolio built on day 0.
    reference = PortfolioModel(
        vector.scenario, policies.load("do_nothing"), n_accounts=1, days=1, seed=5, account_ids=np.array([4])
    )
    assert vector.model.credit_limit[0] == reference.credit_limit[0]
    assert vector.model.installment[0] == reference.installment[0]
    assert vector.model.debtor_type[0] == reference.debtor_type[0]

    # Account 4's episode now runs: selling it ends it.
    _, rewards, terminated, _, _ = vector.step(sell_first)
    assert terminated[0]
    assert rewards[0] > 0


def test_vector_truncates_at_horizon_and_renews_everyone():
    vector = AccountVectorEnv(5, horizon=3)
    vector.reset(seed=2)
    idle = np.zeros(5, dtype=np.int64)
    for _ in range(2):
        _, _, terminated, truncated, _ = vector.step(idle)
        assert not truncated.any()
    _, _, terminated, truncated, info = vector.step(idle)
    assert (truncated | terminated).all()
    assert truncated.any()
    _, rewards, terminated, truncated, info = vector.step(idle)
    assert info["account_id"].tolist() == [5, 6, 7, 8, 9]
    assert (rewards == 0.0).all()
    assert not (terminated | truncated).any()


def test_vector_same_step_autoreset():
    vector = AccountVectorEnv(3, autoreset_mode="SameStep")
    vector.reset(seed=5)
    observations, rewards, terminated, truncated, info = vector.step(np.array([NO_ACTION, SELL, NO_ACTION]))
    assert terminated.tolist() == [False, True, False]
    assert info["account_id"].tolist() == [0, 3, 2]
    assert info["_final_obs"].tolist() == [False, True, False]
    assert info["final_info"]["status"][1] == SOLD
    assert info["final_info"]["account_id"][1] == 1
    assert info["status"][1] == ACTIVE
    # A sold account has no balance: its last observation shows none, the new account's first shows one.
    balance = FEATURE_NAMES.index("balance")
    assert info["final_obs"][1][balance] == 0.0
    assert observations[1][balance] > 0.0


@pytest.mark.parametrize("spelling", ["SAME_STEP", "SameStep", "same"])
def test_autoreset_mode_by_name_or_value(spelling):
    from gymnasium.vector import AutoresetMode

    if spelling == "same":
        with pytest.raises(ValueError, match="autoreset_mode must be .* got 'same'"):
            AccountVectorEnv(2, autoreset_mode=spelling)
        return
    assert AccountVectorEnv(2, autoreset_mode=spelling).metadata["autoreset_mode"] is AutoresetMode.SAME_STEP


def test_vector_calls_share_one_call_centre(default_scenario):
    one_agent = default_scenario.model_copy(
        update={"call_center": default_scenario.call_center.model_copy(update={"agents": 1})}
    )
    vector = AccountVectorEnv(300, scenario=one_agent)
    _, info = vector.reset(seed=0)
    assert info["action_mask"][:, CALL].all()
    past_due = vector.model.past_due.copy()
    _, _, _, _, info = vector.step(np.full(300, CALL))
    unplaced = info["call_unplaced"]
    assert 0 < unplaced.sum() < 300, f"{unplaced.sum()} of 300 calls unplaced with one agent"
    assert vector.model.calls_unplaced == unplaced.sum()
    # The queue dials the largest past-due amounts first, so the unplaced calls are the smallest.
    assert past_due[unplaced].max() <= past_due[~unplaced].min()

    few = AccountVectorEnv(5, scenario=one_agent)
    few.reset(seed=0)
    _, _, _, _, info = few.step(np.full(5, CALL))
    assert not info["call_unplaced"].any()


def test_vector_make_vec_entry_point():
    vector = gymnasium.make_vec(ENV_ID, num_envs=6, vectorization_mode="vector_entry_point", horizon=30)
    observations, info = vector.reset(seed=0)
    assert observations.shape == (6, len(FEATURE_NAMES))
    assert vector.unwrapped.horizon == 30
    assert vector.metadata["autoreset_mode"] == gymnasium.vector.AutoresetMode.NEXT_STEP
    assert vector.action_space == gymnasium.spaces.MultiDiscrete([N_ACTIONS] * 6)
    assert info["action_mask"].shape == (6, N_ACTIONS)


# -- the SB3 adapter ---------------------------------------------------------------------------------------------


def test_sb3_adapter_reports_episode_ends():
    pytest.importorskip("stable_baselines3")
    from sim.envs.sb3 import SB3AccountVecEnv

    venv = SB3AccountVecEnv(4, horizon=2)
    venv.seed(7)
    venv.reset()
    observations, rewards, dones, infos = venv.step(np.array([SELL, NO_ACTION, NO_ACTION, NO_ACTION]))
    assert dones.tolist() == [True, False, False, False]
    assert rewards.dtype == np.float32
    assert infos[0]["TimeLimit.truncated"] is False
    assert infos[0]["terminal_observation"].shape == (len(FEATURE_NAMES),)
    assert "terminal_observation" not in infos[1]
    # As in SB3's DummyVecEnv, infos describe the account that ended and reset_infos the one that replaced it.
    assert infos[0]["account_id"] == 0
    assert infos[0]["status"] == SOLD
    assert venv.reset_infos[0]["account_id"] == 4
    assert venv.reset_infos[0]["status"] == ACTIVE

    observations, rewards, dones, infos = venv.step(np.zeros(4, dtype=np.int64))
    assert dones.tolist() == [False, True, True, True]
    # Accounts 1-3 of seed 7 are still on the book after two days without action: the horizon ends them.
    assert [infos[i]["TimeLimit.truncated"] for i in range(4)] == [False, True, True, True]
    masks = venv.env_method("action_masks")
    assert len(masks) == 4
    np.testing.assert_array_equal(np.stack(masks), venv.action_masks())


def test_sb3_set_attr_applies_mid_training():
    pytest.importorskip("stable_baselines3")
    from sim.envs.sb3 import SB3AccountVecEnv

    venv = SB3AccountVecEnv(4, horizon=50)
    venv.seed(7)
    venv.reset()
    venv.set_attr("horizon", 3)
    venv.set_attr("reward", lambda outcome: np.full(len(outcome.collected), 7.0))

    observations, rewards, dones, infos = venv.step(np.zeros(4, dtype=np.int64))
    assert rewards.tolist() == [7.0, 7.0, 7.0, 7.0]
    venv.step(np.zeros(4, dtype=np.int64))
    observations, rewards, dones, infos = venv.step(np.zeros(4, dtype=np.int64))
    assert dones.all()
    assert all(info["TimeLimit.truncated"] for info in infos)
    assert venv.get_attr("horizon") == [3, 3, 3, 3]


def test_vector_env_rejects_bad_horizon_attribute():
    vector = AccountVectorEnv(2, horizon=5)
    vector.reset(seed=0)
    with pytest.raises(ValueError, match="horizon must be a whole number"):
        vector.horizon = 0
    with pytest.raises(TypeError, match="reward must be a callable"):
        vector.reward = 3
    assert vector.horizon == 5


def test_maskable_ppo_trains_on_adapter():
    sb3_contrib = pytest.importorskip("sb3_contrib")
    from sb3_contrib.common.maskable.utils import get_action_masks
    from stable_baselines3.common.vec_env import VecMonitor

    from sim.envs.sb3 import SB3AccountVecEnv

    venv = VecMonitor(SB3AccountVecEnv(8, horizon=30))
    venv.seed(0)
    from experiments.train import silent_logger

    model = sb3_contrib.MaskablePPO("MlpPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.set_logger(silent_logger())
    model.learn(total_timesteps=512)
    assert model.num_timesteps >= 512

    observations = venv.reset()
    for _ in range(20):
        masks = get_action_masks(venv)
        actions, _ = model.predict(observations, action_masks=masks)
        assert masks[np.arange(8), actions].all(), "MaskablePPO chose an action the mask forbids"
        observations, _, _, _ = venv.step(actions)


def test_renewal_rejects_fractional_ids(default_scenario):
    model = PortfolioModel(default_scenario, policies.load("do_nothing"), n_accounts=5, days=5, seed=0)
    with pytest.raises(ValueError, match="account ids must be whole numbers"):
        model.renew_accounts(np.array([1]), np.array([500.7]))
    assert model.account_ids[1] == 1


def test_env_runs_out_of_account_ids():
    env = AccountEnv()
    env.reset(seed=1, options={"account_id": 2**63 - 1})
    with pytest.raises(ValueError, match=r"no account id is left after 9223372036854775807"):
        env.reset()
    with pytest.raises(ValueError, match=r"account_id must be a whole number from 0 to 2\*\*63 - 1"):
        env.reset(options={"account_id": 2**63})


@pytest.mark.parametrize("shape", [(3,), (9,), (2, 4), (8, 2)])
def test_sb3_adapter_rejects_wrong_action_shape(shape):
    pytest.importorskip("stable_baselines3")
    from sim.envs.sb3 import SB3AccountVecEnv

    venv = SB3AccountVecEnv(8, horizon=5)
    venv.seed(0)
    venv.reset()
    with pytest.raises(ValueError) as caught:
        venv.step(np.zeros(shape, dtype=np.int64))
    assert str(caught.value) == f"expected 8 actions, one per account (shape (8,)), got an array of shape {shape}"
    # The rejected call leaves no action pending, so a correct step still works.
    observations, _, dones, _ = venv.step(np.zeros(8, dtype=np.int64))
    assert observations.shape == (8, len(FEATURE_NAMES))
    assert dones.shape == (8,)


def test_sb3_adapter_rejects_float_actions():
    pytest.importorskip("stable_baselines3")
    from sim.envs.sb3 import SB3AccountVecEnv

    venv = SB3AccountVecEnv(2, horizon=5)
    venv.seed(0)
    venv.reset()
    with pytest.raises(ValueError, match="expected integer actions"):
        venv.step(np.array([22.9, 36.7]))


def test_sb3_adapter_accepts_column_of_actions():
    pytest.importorskip("stable_baselines3")
    from sim.envs.sb3 import SB3AccountVecEnv

    venv = SB3AccountVecEnv(4, horizon=5)
    venv.seed(0)
    venv.reset()
    observations, _, _, _ = venv.step(np.zeros((4, 1), dtype=np.int64))
    assert observations.shape == (4, len(FEATURE_NAMES))


# -- input checks --------------------------------------------------------------------------------------------------


def test_sb3_adapter_rejects_reset_options():
    pytest.importorskip("stable_baselines3")
    from sim.envs.sb3 import SB3AccountVecEnv

    venv = SB3AccountVecEnv(2, horizon=5)
    venv.set_options({"account_id": 5})
    with pytest.raises(ValueError, match="unknown reset option 'account_id'; the vector env takes no options"):
        venv.reset()


def test_env_rejects_bool_action(default_scenario):
    env = AccountEnv(default_scenario, horizon=10)
    env.reset(seed=0)
    for action in (True, np.bool_(False)):
        with pytest.raises(ValueError, match="action must be an integer"):
            env.step(action)
    env.step(1)


@pytest.mark.parametrize("make", [lambda r: AccountEnv(reward=r), lambda r: AccountVectorEnv(2, reward=r)])
def test_uncallable_reward_rejected_when_built(make):
    with pytest.raises(TypeError, match="reward must be a callable from a DayOutcome to rewards, or None, got 3"):
        make(3)


@pytest.mark.parametrize("weight", ["1", True])
def test_reward_weight_must_be_a_number(weight):
    message = f"recovery_weight must be a finite number of at least 0 or None, got {weight!r}"
    with pytest.raises(ValueError, match=message):
        NetCashReward(recovery_weight=weight)


def test_nonfinite_reward_rejected(default_scenario):
    def nan_reward(outcome):
        return np.full(len(outcome.status), np.nan)

    env = AccountVectorEnv(4, scenario=default_scenario, reward=nan_reward)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="returned nan for an account; every reward must be finite"):
        env.step(np.zeros(4, dtype=np.int64))


def test_complex_reward_rejected(default_scenario):
    def complex_reward(outcome):
        return np.full(len(outcome.status), 1 + 2j)

    env = AccountVectorEnv(4, scenario=default_scenario, reward=complex_reward)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="returned complex numbers; every reward must be a real number"):
        env.step(np.zeros(4, dtype=np.int64))


@pytest.mark.parametrize("values", [["1", "2", "3", "4"], [1.0, 2.0, None, 4.0]])
def test_text_or_object_reward_rejected(default_scenario, values):
    env = AccountVectorEnv(4, scenario=default_scenario, reward=lambda outcome: values)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="returned values of type (<U1|object); every reward must be a real number"):
        env.step(np.zeros(4, dtype=np.int64))


@pytest.mark.parametrize("action", [np.uint64(3), np.uint8(3), np.int32(3), np.array(3)])
def test_numpy_integer_action_accepted(action):
    env, reference = AccountEnv(horizon=5), AccountEnv(horizon=5)
    env.reset(seed=4)
    reference.reset(seed=4)

    observation, reward, _, _, info = env.step(action)
    expected_observation, expected_reward, _, _, expected_info = reference.step(3)
    np.testing.assert_array_equal(observation, expected_observation)
    assert reward == expected_reward
    assert info["blocked"] == expected_info["blocked"]


@pytest.mark.parametrize("action", [True, np.bool_(False), np.uint64(37), -1, 3.0, np.array([3])])
def test_invalid_action_rejected(action):
    env = AccountEnv(horizon=5)
    env.reset(seed=4)
    with pytest.raises(ValueError, match="action must be an integer in 0..36"):
        env.step(action)


@pytest.mark.parametrize("make", [lambda: AccountEnv(horizon=5), lambda: AccountVectorEnv(num_envs=2, horizon=5)])
def test_numpy_seed_equals_int_seed(make):
    env, reference = make(), make()
    observation, _ = env.reset(seed=np.int64(5))
    expected, _ = reference.reset(seed=5)
    np.testing.assert_array_equal(observation, expected)


@pytest.mark.parametrize("make", [AccountEnv, lambda **kwargs: AccountVectorEnv(num_envs=2, **kwargs)])
def test_render_mode_only_none(make):
    assert make(render_mode=None).render_mode is None
    with pytest.raises(ValueError, match="render_mode must be None, got 'rgb_array': Account-v0 has no render modes"):
        make(render_mode="rgb_array")


@pytest.mark.parametrize("make", [AccountEnv, lambda **kwargs: AccountVectorEnv(num_envs=2, **kwargs)])
def test_scenario_of_other_type_rejected(make):
    with pytest.raises(TypeError, match=r"^scenario must be a Scenario, a shipped scenario's name or a .*, got None$"):
        make(scenario=None)


@pytest.mark.parametrize("make", [lambda: AccountEnv(horizon=5), lambda: AccountVectorEnv(num_envs=2, horizon=5)])
def test_bool_seed_rejected(make):
    with pytest.raises(ValueError, match="seed must be"):
        make().reset(seed=True)


def _infinite(outcome):
    return np.full(len(outcome.status), np.inf)


def _raising(outcome):
    raise KeyError("bug in the reward")


@pytest.mark.parametrize(
    ("bad_reward", "error", "message"),
    [(_infinite, ValueError, "returned inf for an account"), (_raising, KeyError, "bug in the reward")],
)
def test_env_steps_on_after_a_bad_reward(default_scenario, bad_reward, error, message):
    """A rejected reward, or an error the reward function raises, leaves the next day open to step."""

    def reward_with_a_bad_day(outcome):
        return bad_reward(outcome) if outcome.day == 3 else np.ones(len(outcome.status))

    env = AccountEnv(default_scenario, horizon=10, reward=reward_with_a_bad_day)
    env.reset(seed=0)
    for _ in range(3):
        env.step(0)
    with pytest.raises(error, match=message):
        env.step(0)
    _, reward, _, _, info = env.step(0)
    assert reward == 1.0
    assert info["day"] == 5


def test_env_ends_after_a_rejected_last_reward(default_scenario):
    """A bad reward on the step that reaches the horizon still ends the episode, so later steps raise until reset."""
    horizon = 5

    def reward_bad_on_last_day(outcome):
        return np.full(len(outcome.status), np.nan if outcome.day == horizon - 1 else 1.0)

    env = AccountEnv(default_scenario, horizon=horizon, reward=reward_bad_on_last_day)
    env.reset(seed=0)
    for _ in range(horizon - 1):
        env.step(0)
    with pytest.raises(ValueError, match="returned nan for an account"):
        env.step(0)
    with pytest.raises(RuntimeError, match=r"the episode has ended; call reset\(\)"):
        env.step(0)
    _, info = env.reset()
    assert info["account_id"] == 1


@pytest.mark.parametrize("mode", ["nxt", "Disabled", 3])
def test_vector_env_lists_autoreset_modes(mode):
    with pytest.raises(ValueError, match=r"autoreset_mode must be AutoresetMode.NEXT_STEP or AutoresetMode.SAME_STEP"):
        AccountVectorEnv(2, autoreset_mode=mode)


def test_vector_env_accepts_autoreset_mode_names():
    from gymnasium.vector import AutoresetMode

    for mode in ("NEXT_STEP", "NextStep", AutoresetMode.NEXT_STEP):
        assert AccountVectorEnv(2, autoreset_mode=mode).metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    for mode in ("SAME_STEP", "SameStep", AutoresetMode.SAME_STEP):
        assert AccountVectorEnv(2, autoreset_mode=mode).metadata["autoreset_mode"] == AutoresetMode.SAME_STEP


@pytest.mark.parametrize("mode", ["NEXT_STEP", "SAME_STEP"])
def test_vector_env_ends_after_bad_reward(default_scenario, mode):
    """Episodes that the day of a failed step ended are reported by the next step, whose day they sit out."""
    horizon, n = 5, 6

    def reward_bad_on_last_day(outcome):
        return np.full(len(outcome.status), np.nan if outcome.day == horizon - 1 else 1.0)

    env = AccountVectorEnv(
        n, scenario=default_scenario, horizon=horizon, reward=reward_bad_on_last_day, autoreset_mode=mode
    )
    env.reset(seed=0)
    for _ in range(horizon - 1):
        env.step(np.full(n, NO_ACTION))
    # The failed step sells account 0 and takes every other account to the horizon.
    with pytest.raises(ValueError, match="returned nan for an account"):
        env.step(np.array([SELL] + [NO_ACTION] * (n - 1)))
    assert env.model.status[0] == SOLD
    assert (env.model.status[1:] == ACTIVE).all()

    # Every episode ended on that day, so no account takes the sale that the next step requests, and none is blocked.
    _, rewards, terminated, truncated, info = env.step(np.full(n, SELL))
    np.testing.assert_array_equal(rewards, np.zeros(n))
    np.testing.assert_array_equal(terminated, [True] + [False] * (n - 1))
    np.testing.assert_array_equal(truncated, [False] + [True] * (n - 1))
    assert not info["blocked"].any()
    if mode == "NEXT_STEP":
        np.testing.assert_array_equal(info["account_id"], np.arange(n))
        assert (info["status"][1:] == ACTIVE).all()
        _, rewards, terminated, truncated, info = env.step(np.full(n, NO_ACTION))
        assert not (terminated | truncated).any()
    else:
        assert info["_final_obs"].all()
        assert (info["final_info"]["status"][1:] == ACTIVE).all()
    np.testing.assert_array_equal(info["account_id"], np.arange(n, 2 * n))


@pytest.mark.parametrize("make", [lambda: AccountEnv(horizon=5), lambda: AccountVectorEnv(num_envs=2, horizon=5)])
def test_rejected_seed_keeps_current_portfolio(make):
    env = make()
    env.reset(seed=1)

    random_state = env.np_random.bit_generator.state
    with pytest.raises(ValueError, match="seed must be an integer"):
        env.reset(seed=2**63)

    assert env.np_random.bit_generator.state == random_state
    _, info = env.reset()
    assert int(np.min(info["account_id"])) >= 1


def test_rejected_account_id_keeps_current_portfolio():
    env = AccountEnv(horizon=5)
    env.reset(seed=1)

    with pytest.raises(ValueError, match="account_id"):
        env.reset(seed=7, options={"account_id": -1})

    _, info = env.reset()
    assert info["account_id"] == 1
    assert env.model.seed == 1


def test_sb3_adapter_drops_failed_actions(default_scenario):
    from sim.envs.sb3 import SB3AccountVecEnv

    def reward_bad_on_day_1(outcome):
        return np.full(len(outcome.status), np.nan if outcome.day == 1 else 1.0)

    venv = SB3AccountVecEnv(4, scenario=default_scenario, reward=reward_bad_on_day_1)
    venv.seed(0)
    venv.reset()
    venv.step(np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match="returned nan for an account"):
        venv.step(np.zeros(4, dtype=np.int64))

    with pytest.raises(RuntimeError, match=r"call step_async\(actions\) before step_wait\(\)"):
        venv.step_wait()
    _, rewards, _, _ = venv.step(np.zeros(4, dtype=np.int64))
    np.testing.assert_array_equal(rewards, np.ones(4, dtype=np.float32))
