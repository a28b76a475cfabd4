"""The exact optimum of the tiny scenario: the MDP, value iteration, and its value in the simulator."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

import policies
from policies.exact import (
    ExactOptimalPolicy,
    NotReducibleError,
    bellman_backup,
    build_mdp,
    regret,
    simulate_values,
    solve,
)
from sim.catalogue import NO_ACTION, SELL, contact_action
from sim.scenario import Scenario

Z_99 = norm.ppf(0.995)
SHIPPED_POLICIES = ("do_nothing", "letters_only", "standard", "digital_first", "aggressive", "random")


@pytest.fixture(scope="module")
def tiny() -> Scenario:
    return Scenario.load("tiny")


@pytest.fixture(scope="module")
def optimum(tiny) -> ExactOptimalPolicy:
    return ExactOptimalPolicy(tiny)


@pytest.fixture(scope="module")
def optimal_values(tiny, optimum) -> np.ndarray:
    return simulate_values(lambda: optimum, tiny, n_accounts=4_000, seeds=(0, 1, 2))


def state(mdp, cycles: int, day: int, since_reached: int = 7, since_conversation: int = 7, paid: int = 0) -> int:
    """Index of the unpaid 200 balance state ``day`` days into a cycle ``cycles`` behind."""
    balance = int(np.searchsorted(mdp.balances_cents, 20_000))
    return int(np.ravel_multi_index((balance, cycles, paid, day, since_reached - 1, since_conversation - 1), mdp.shape))


def test_transition_rows_sum_to_one(optimum):
    mdp = optimum.solution.mdp
    for action, matrix in zip(mdp.actions, mdp.transitions, strict=True):
        sums = np.asarray(matrix.sum(axis=1)).ravel()
        assert np.abs(sums - 1.0).max() < 1e-12, f"rows of action {action} do not sum to 1"
        assert matrix.data.min() >= 0.0, f"action {action} has a negative transition probability"
    assert mdp.start_distribution.sum() == pytest.approx(1.0, abs=1e-12)


def test_mdp_actions_are_none_contacts_and_sale(optimum):
    # Each channel keeps its strongest framing (active choice, x1.9), which beats the portal link (x1.25).
    expected = (NO_ACTION, contact_action("email", "active_choice"), contact_action("sms", "active_choice"))
    assert optimum.solution.mdp.actions == (*expected, contact_action("call", "active_choice"), SELL)


def test_value_iteration_converges(optimum):
    solution = optimum.solution
    mdp = solution.mdp
    assert solution.residual <= 1e-9
    # Every path ends within the horizon, so value iteration needs at most that many sweeps plus one to confirm.
    assert solution.iterations <= mdp.horizon_days + 2
    backup = bellman_backup(mdp, solution.values).max(axis=1)
    assert np.abs(backup - solution.values).max() <= 1e-9
    assert solution.values[mdp.end_state] == 0.0


def test_bellman_update_on_last_day_before_charge_off(optimum):
    mdp = optimum.solution.mdp
    q = bellman_backup(mdp, np.zeros(mdp.n_states))
    last_day = state(mdp, cycles=3, day=29)
    # Hazard of the untreated payment on day 29 of a cycle paid with probability 0.1: (0.1 / 30) / (1 - 0.1 * 29 / 30).
    hazard = 1.0 / 271.0
    call_cost = 0.26 * 10.0 * 25.0 / 60.0 + 0.74 * 1.5 * 25.0 / 60.0
    expected = {
        NO_ACTION: 200.0 * hazard,
        contact_action("email", "active_choice"): 200.0 * (1 - (1 - hazard) * (1 - 0.04 * 1.9)) - 0.05,
        contact_action("sms", "active_choice"): 200.0 * (1 - (1 - hazard) * (1 - 0.06 * 1.9)) - 0.08,
        contact_action("call", "active_choice"): 200.0 * (1 - (1 - hazard) * (1 - 0.26 * 0.25 * 1.9)) - call_cost,
        SELL: 0.16 * 200.0,
    }
    for column, action in enumerate(mdp.actions):
        assert q[last_day, column] == pytest.approx(expected[action], rel=1e-12), f"Q of action {action}"
    assert optimum.solution.policy[last_day] == SELL

    # A contact that reached the debtor 3 days ago leaves no effect to a new one (repeat decay 0): only cost.
    blocked = state(mdp, cycles=3, day=29, since_reached=3, since_conversation=3)
    sms = mdp.actions.index(contact_action("sms", "active_choice"))
    call = mdp.actions.index(contact_action("call", "active_choice"))
    assert q[blocked, sms] == pytest.approx(200.0 * hazard - 0.08, rel=1e-12)
    # The guard turns a call within 7 days of a conversation into no action, at no cost.
    assert q[blocked, call] == pytest.approx(200.0 * hazard, rel=1e-12)


def test_bellman_update_discounts_next_day(optimum):
    mdp = optimum.solution.mdp
    values = optimum.solution.values
    day_28 = state(mdp, cycles=3, day=28)
    q = bellman_backup(mdp, values)
    hazard = 0.1 / 27.2
    discount = 1.08 ** (-1 / 365)
    # With no action, day 29 starts in the same window state, where the sale is worth 32.
    assert values[state(mdp, cycles=3, day=29)] == pytest.approx(32.0, rel=1e-12)
    expected = 200.0 * hazard + discount * (1 - hazard) * 32.0
    assert q[day_28, mdp.actions.index(NO_ACTION)] == pytest.approx(expected, rel=1e-12)


def test_simulated_optimum_matches_computed_value(optimum, optimal_values):
    half_width = Z_99 * optimal_values.std(ddof=1) / np.sqrt(len(optimal_values))
    assert abs(optimal_values.mean() - optimum.start_value) <= half_width, (
        f"simulated {optimal_values.mean():.3f} vs computed {optimum.start_value:.3f} (99% half-width {half_width:.3f})"
    )
    # The interval is narrow enough to catch a wrong action or a missed mechanism: under 0.5% of the value.
    assert half_width < 0.005 * optimum.start_value


def test_account_env_return_matches_portfolio(tiny, optimum, optimal_values):
    pytest.importorskip("gymnasium", reason="gymnasium is not installed; pip install -e '.[rl]'")
    from sim.envs import AccountEnv

    env = AccountEnv(tiny, horizon=optimum.solution.mdp.horizon_days)
    for account in range(8):
        env.reset(seed=0, options={"account_id": account})
        total, ended = 0.0, False
        while not ended:
            action = optimum.decide(env.model.observation)[0]
            _, reward, terminated, truncated, _ = env.step(int(action))
            total += reward
            ended = terminated or truncated
        assert terminated, f"account {account} was still open at the horizon"
        assert total == pytest.approx(optimal_values[account], abs=1e-9), f"account {account}"


@pytest.mark.parametrize("policy_name", SHIPPED_POLICIES)
def test_optimum_beats_shipped_policy(tiny, optimum, optimal_values, policy_name):
    # Seed 0 alone: the gaps are tens of standard errors wide. Its accounts come first in optimal_values.
    values = simulate_values(lambda: policies.load(policy_name), tiny, n_accounts=4_000, seeds=(0,))
    gap = optimal_values[: len(values)] - values
    half_width = Z_99 * gap.std(ddof=1) / np.sqrt(len(gap))
    assert gap.mean() - half_width > 0.0, f"{policy_name} is not worse than the optimum: gap {gap.mean():.3f}"
    assert values.mean() < optimum.start_value


def test_regret_reports_fraction_of_optimum(tiny, optimum):
    report = regret("do_nothing", tiny, n_accounts=2_000, seeds=(0,), optimum=optimum)
    assert report.optimum == optimum.start_value
    assert report.fraction.mean == pytest.approx(report.value.mean / optimum.start_value)
    assert report.fraction.low < report.fraction.mean < report.fraction.high
    assert report.fraction.high < 0.6
    assert report.gap.low > 0.0
    assert report.n_accounts == 2_000


def test_regret_without_seeds_rejected(tiny, optimum):
    with pytest.raises(ValueError, match=r"^seeds must name at least one seed"):
        regret("do_nothing", tiny, n_accounts=100, seeds=(), optimum=optimum)


@pytest.mark.parametrize("n_accounts", [1, 0, 2.5, True])
def test_regret_of_too_few_accounts_rejected(tiny, optimum, n_accounts):
    with pytest.raises(ValueError, match=r"^n_accounts must be a whole number of at least 2 for an interval"):
        regret("do_nothing", tiny, n_accounts=n_accounts, seeds=(0,), optimum=optimum)


def test_regret_foreign_optimum_rejected(tiny, optimum):
    other = Scenario.from_dict({**tiny.model_dump(), "name": "tiny_cheaper_letters"})

    with pytest.raises(ValueError, match=r"^optimum was solved for scenario 'tiny', not 'tiny_cheaper_letters'"):
        regret("do_nothing", other, n_accounts=100, seeds=(0,), optimum=optimum)


def test_default_scenario_is_not_reducible():
    with pytest.raises(NotReducibleError, match="exactly one debtor type"):
        build_mdp("default")


def test_partial_repeat_decay_not_reducible(tiny):
    data = tiny.model_dump()
    data["response"]["repeat_decay"] = 0.4
    with pytest.raises(NotReducibleError, match="repeat_decay"):
        solve(build_mdp(Scenario.from_dict(data)))


def test_row_without_untreated_payments_not_reducible(tiny):
    # With pay probability 0, a contact still prompts a payment, of one minimum payment, which leaves the balance
    # partly unpaid: a state the MDP does not have.
    data = tiny.model_dump()
    data["transitions"]["monthly"][1] = [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    with pytest.raises(NotReducibleError, match="transitions.monthly row 1"):
        build_mdp(Scenario.from_dict(data))
