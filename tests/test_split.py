"""Champion/challenger inside one portfolio."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import experiments
import policies
from experiments.config import ExperimentConfig, SplitSpec, load_config, resolve
from policies.split import ChampionChallenger, first_empty_arm
from sim import simulate
from sim.errors import ConfigError


def split_90_10() -> ChampionChallenger:
    return ChampionChallenger(
        "cc", {"standard": (policies.load("standard"), 0.9), "digital_first": (policies.load("digital_first"), 0.1)}
    )


@pytest.fixture(scope="module")
def split_run(default_scenario):
    policy = split_90_10()
    return policy, simulate(default_scenario, policy, n_accounts=4_000, days=120, seed=8, trace=True)


def test_arms_partition_the_portfolio(split_run):
    policy, result = split_run
    masks = policy.arm_masks()
    counts = {arm: int(mask.sum()) for arm, mask in masks.items()}
    assert sum(counts.values()) == 4_000
    assert not (masks["standard"] & masks["digital_first"]).any()
    # 10% of 4,000 accounts: within four binomial standard errors (19).
    assert abs(counts["digital_first"] - 400) < 4 * 19
    metrics = result.metrics.set_index("policy")
    assert list(metrics.index) == ["cc", "cc/standard", "cc/digital_first"]
    for column in ("n_accounts", "collected", "total_cost", "npv_net_collections", "clv_lost"):
        whole = metrics.loc["cc", column]
        parts = metrics.loc["cc/standard", column] + metrics.loc["cc/digital_first", column]
        assert whole == pytest.approx(parts, rel=1e-9), column


def test_each_arm_acts_like_its_policy(default_scenario, split_run):
    """With spare call capacity, an arm's accounts fare exactly as under that policy alone (common random numbers)."""
    policy, result = split_run
    assert result.metrics.set_index("policy").loc["cc", "calls_unplaced"] == 0
    alone = simulate(default_scenario, "digital_first", n_accounts=4_000, days=120, seed=8)
    arm = policy.arm_masks()["digital_first"]
    np.testing.assert_array_equal(result.model.paid[arm], alone.model.paid[arm])
    # The arm's actions are the digital-first waterfall's, never the champion's calls in early delinquency.
    actions = result.actions[np.isin(result.actions["account"], np.flatnonzero(arm))]
    early_calls = actions[(actions["action"] == "call:neutral") & (actions["dpd"] < 60)]
    assert early_calls.empty


def test_assignment_is_reproducible(default_scenario):
    first, second = split_90_10(), split_90_10()
    simulate(default_scenario, first, n_accounts=500, days=2, seed=3)
    simulate(default_scenario, second, n_accounts=500, days=2, seed=3)
    np.testing.assert_array_equal(first.assignment, second.assignment)


def test_runner_records_assignment(tmp_path):
    config = ExperimentConfig(
        name="split",
        policies=["standard"],
        splits=[SplitSpec(name="cc", arms={"standard": 0.8, "letters_only": 0.2})],
        seeds=2,
        n_accounts=600,
        horizon_days=30,
    )
    result = experiments.run(resolve(config), out=tmp_path / "run", workers=1, progress=False)
    assignment = pd.read_parquet(tmp_path / "run" / "assignment.parquet")
    assert len(assignment) == 2 * 600
    assert set(assignment["arm"]) == {"standard", "letters_only"}
    counts = assignment.groupby(["seed", "arm"]).size()
    metrics = result.metrics.set_index(["policy", "seed"])
    for (seed, arm), count in counts.items():
        assert metrics.loc[(f"cc/{arm}", seed), "n_accounts"] == count


@pytest.mark.parametrize(
    ("arms", "fragment"),
    [("{standard: 1.0}", "at least two arms"), ("{standard: 0.5, letters_only: 0.4}", "sum to 1")],
)
def test_bad_split_rejected(tmp_path, arms, fragment):
    path = tmp_path / "exp.yaml"
    path.write_text(f"name: x\npolicies: [standard]\nsplits:\n  - {{name: s, arms: {arms}}}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key_path == "splits[0].arms"
    assert fragment in caught.value.message


def test_arm_order_changes_no_assignment(default_scenario):
    standard, digital = policies.load("standard"), policies.load("digital_first")
    listed = ChampionChallenger("cc", {"standard": (standard, 0.7), "digital_first": (digital, 0.3)})
    swapped = ChampionChallenger("cc", {"digital_first": (digital, 0.3), "standard": (standard, 0.7)})
    first = simulate(default_scenario, listed, n_accounts=2_000, days=20, seed=3)
    second = simulate(default_scenario, swapped, n_accounts=2_000, days=20, seed=3)
    for arm in ("standard", "digital_first"):
        np.testing.assert_array_equal(listed.arm_masks()[arm], swapped.arm_masks()[arm])
    assert abs(int(listed.arm_masks()["digital_first"].sum()) - 600) < 4 * 21
    pd.testing.assert_frame_equal(first.ledger, second.ledger)


def write_split_experiment(path, arms: str, n_accounts: int = 300, seeds: str = "1"):
    path.write_text(
        f"name: x\npolicies: [standard]\nseeds: {seeds}\nn_accounts: {n_accounts}\nhorizon_days: 10\n"
        f"splits:\n  - {{name: s, arms: {arms}}}\n",
        encoding="utf-8",
    )
    return path


def test_arm_without_accounts_rejected(tmp_path):
    path = write_split_experiment(tmp_path / "exp.yaml", "{standard: 0.9999999999, do_nothing: 0.0000000001}")

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert caught.value.source == str(path)
    assert caught.value.key_path == "splits[0].arms.do_nothing"
    assert "share 1e-10 gives this arm no account on seed 0 with n_accounts 300" in caught.value.message
    assert "assigned to arms at random by seed" in caught.value.message


def test_empty_arm_check_matches_assignment(default_scenario):
    """An arm expecting one account of 50 gets none on some seeds: the check names exactly those seeds."""
    shares = {"standard": 0.98, "do_nothing": 0.02}
    empty_seeds, filled_seeds = [], []
    for seed in range(12):
        policy = ChampionChallenger("cc", {name: (policies.load(name), share) for name, share in shares.items()})
        found = first_empty_arm(shares, 50, [seed])
        try:
            simulate(default_scenario, policy, n_accounts=50, days=1, seed=seed)
        except ValueError as error:
            # Built through the Python API, the split itself refuses an empty arm.
            assert f"arm 'do_nothing' got none of the 50 accounts on seed {seed}" in str(error)
            empty_seeds.append(seed)
            assert found == ("do_nothing", seed)
        else:
            assert policy.arm_masks()["do_nothing"].sum() > 0
            filled_seeds.append(seed)
            assert found is None, seed
    assert empty_seeds, "expected a seed on which the small arm gets no account"
    assert filled_seeds, "expected a seed on which the small arm gets an account"


def test_seeds_override_checks_arms(tmp_path):
    shares = {"standard": 0.98, "do_nothing": 0.02}
    empty_seed = next(seed for seed in range(100) if first_empty_arm(shares, 50, [seed]) is not None)
    filled_seed = next(seed for seed in range(100) if first_empty_arm(shares, 50, [seed]) is None)
    path = write_split_experiment(
        tmp_path / "exp.yaml", "{standard: 0.98, do_nothing: 0.02}", n_accounts=50, seeds=f"[{filled_seed}]"
    )
    experiment = load_config(path)

    with pytest.raises(ConfigError) as caught:
        experiment.with_overrides(seeds=empty_seed + 1)

    assert caught.value.key_path == "splits[0].arms.do_nothing"
    assert f"no account on seed {empty_seed} " in caught.value.message


def test_large_arms_skip_exact_check():
    """Arms that expect 60 accounts or more are accepted without drawing the assignment."""
    assert first_empty_arm({"standard": 0.5, "do_nothing": 0.5}, 2_000_000, range(10_000)) is None
