"""Common random numbers: a policy against itself differs by exactly zero, and paired seeds cut the variance of a
difference between two close policies far below that of independent seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import policies
from policies import Waterfall
from sim import simulate

# Independent runs of the second policy use seed + INDEPENDENT_SEED_OFFSET, so they share no portfolio with the first.
INDEPENDENT_SEED_OFFSET = 1_000
# At these sizes the variance ratio (independent over paired) of the collected difference was 48,000 on seeds 0-23,
# 8,350 on 500-523 and 717 on 2000-2023, and the test took about 25 s on a shared 2-core machine.
CRN_SEEDS = range(24)
CRN_ACCOUNTS = 1_000
CRN_DAYS = 90
CRN_METRICS = ("collected", "npv_net_collections")
MINIMUM_VARIANCE_RATIO = 5.0


def numeric_difference(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """Subtract the numeric columns of two frames of one shape, row by row."""
    columns = first.select_dtypes("number").columns
    return first[columns].reset_index(drop=True) - second[columns].reset_index(drop=True)


def standard_with_social_norm_sms() -> Waterfall:
    """Return the shipped ``standard`` waterfall with its early-reminder SMS framed as a social norm, not neutral."""
    spec = policies.load("standard").spec.model_dump()
    spec["name"] = "standard_social_norm_sms"
    early_sms = spec["stages"][0]["treatments"][0]
    assert early_sms["channel"] == "sms", f"standard no longer opens with an SMS: {early_sms}"
    assert early_sms["framing"] == "neutral", f"standard's first SMS is no longer neutral: {early_sms}"
    early_sms["framing"] = "social_norm"
    return Waterfall.from_dict(spec)


@pytest.mark.parametrize("policy_name", policies.shipped_policies())
def test_policy_against_itself_differs_by_zero(default_scenario, policy_name):
    first = simulate(default_scenario, policies.load(policy_name), n_accounts=1_000, days=90, seed=5)
    second = simulate(default_scenario, policies.load(policy_name), n_accounts=1_000, days=90, seed=5)

    difference = numeric_difference(first.metrics, second.metrics).iloc[0]
    for metric, value in difference.items():
        if np.isnan(value):
            # NaN - NaN is NaN, so a metric that is undefined (cost to collect when nothing is collected) must be
            # NaN in both runs.
            assert np.isnan(first.metrics.at[0, metric]), f"{metric} is NaN in the second run only"
            assert np.isnan(second.metrics.at[0, metric]), f"{metric} is NaN in the first run only"
        else:
            assert value == 0.0, f"{metric} differs by {value} between two runs of {policy_name} on one seed"

    daily_difference = numeric_difference(first.daily, second.daily)
    changed = daily_difference.columns[(daily_difference != 0).any()].tolist()
    assert not changed, f"daily columns that differ between two runs of {policy_name}: {changed}"


def test_paired_seeds_cut_difference_variance(default_scenario):
    champion = policies.load("standard")
    challenger = standard_with_social_norm_sms()

    def run(policy, seeds) -> pd.DataFrame:
        rows = [
            simulate(default_scenario, policy, n_accounts=CRN_ACCOUNTS, days=CRN_DAYS, seed=seed).metrics
            for seed in seeds
        ]
        return pd.concat(rows, ignore_index=True)

    champion_metrics = run(champion, CRN_SEEDS)
    paired_metrics = run(challenger, CRN_SEEDS)
    independent_metrics = run(challenger, [seed + INDEPENDENT_SEED_OFFSET for seed in CRN_SEEDS])

    for metric in CRN_METRICS:
        paired_variance = np.var(paired_metrics[metric] - champion_metrics[metric], ddof=1)
        independent_variance = np.var(independent_metrics[metric] - champion_metrics[metric], ddof=1)
        ratio = independent_variance / paired_variance
        print(
            f"{metric}: variance of differences over {len(CRN_SEEDS)} seeds, paired {paired_variance:.4g}, "
            f"independent {independent_variance:.4g}, ratio {ratio:.4g}"
        )
        # A zero paired variance would mean the framing changed nothing, and the comparison would prove little.
        assert paired_variance > 0, f"the social-norm SMS left {metric} unchanged on every seed"
        assert ratio >= MINIMUM_VARIANCE_RATIO, (
            f"paired seeds cut the variance of the {metric} difference only {ratio:.3g}-fold "
            f"(paired {paired_variance:.4g}, independent {independent_variance:.4g})"
        )


# 1,667 draws are placed group by group, 122 in one comparison (sim.rng._ONE_PASS_MAX_DRAWS lies between).
@pytest.mark.parametrize("every", [3, 41])
def test_choice_by_group_matches_choice(every):
    from sim.rng import _ONE_PASS_MAX_DRAWS, KeyedRandom, Purpose

    rng = KeyedRandom(7, np.arange(5_000))
    tables = np.array([[0.5, 0.5, 0.0], [0.1, 0.0, 0.9], [0.0, 0.0, 1.0], [0.2, 0.3, 0.5]])
    group = np.arange(5_000) % len(tables)
    index = np.arange(0, 5_000, every)
    assert (len(index) > _ONE_PASS_MAX_DRAWS) == (every == 3)
    by_group = rng.choice_by_group(3, Purpose.PAY_AMOUNT, tables, group[index], index)
    per_account = rng.choice(3, Purpose.PAY_AMOUNT, tables[group[index]], index)
    np.testing.assert_array_equal(by_group, per_account)
    assert set(np.unique(by_group[group[index] == 2])) == {2}
    assert 2 not in set(by_group[group[index] == 0])
    assert 1 not in set(by_group[group[index] == 1])


def test_subset_draws_equal_indexed_draws():
    from sim.rng import KeyedRandom, Purpose

    rng = KeyedRandom(7, np.arange(10, 5_010))
    index = np.array([4_000, 3, 3, 17, 0, 4_999])
    subset = rng.subset(index)
    np.testing.assert_array_equal(subset.uniform(5, Purpose.WILL_PAY), rng.uniform(5, Purpose.WILL_PAY, index))
    np.testing.assert_array_equal(subset.uniform(5, Purpose.REACH, draw=2), rng.uniform(5, Purpose.REACH, index, 2))
    np.testing.assert_array_equal(subset.normal(-1, Purpose.BALANCE), rng.normal(-1, Purpose.BALANCE, index))
    np.testing.assert_array_equal(
        subset.uniform(5, Purpose.PAY_DAY, [1, 0]), rng.uniform(5, Purpose.PAY_DAY, [3, 4_000])
    )


def test_uniform_rows_equal_single_draws():
    from sim.rng import KeyedRandom, Purpose

    rng = KeyedRandom(3, np.array([5, 0, 900, 12]))
    draws = [(Purpose.BALANCE, 0), (Purpose.REACH, 0), (Purpose.REACH, 4)]
    rows = rng.uniform_rows(-1, draws)
    assert rows.shape == (len(draws), 4)
    for row, (purpose, draw) in zip(rows, draws, strict=True):
        np.testing.assert_array_equal(row, rng.uniform(-1, purpose, draw=draw))


def test_day_key_table_matches_scalar_mix():
    from sim.rng import _TABLE_DRAWS, KeyedRandom, Purpose, _mix_int, _scalar_key, _scalar_keys

    # Keys mixed from Python ints, as every version of the generator did, for draws inside and outside the table.
    # Below day -2**20 the key's day bits are negative, and above about day 2**40 they pass 64 bits. Both wrap modulo
    # 2**64, as _mix_int wraps them.
    for day in (-(1 << 21), -1, 0, 17, 4_000_000, 1 << 41):
        for purpose in Purpose:
            for draw in range(_TABLE_DRAWS + 2):
                expected = _mix_int(((day + (1 << 20)) << 24) ^ (int(purpose) << 8) ^ draw)
                assert int(_scalar_key(day, purpose, draw)) == expected
        # Plain integers outside the purposes, and a bool draw, take the keys their integer values give.
        for purpose, draw in ((-1, 0), (max(Purpose) + 1, 1), (Purpose.REACH, True)):
            expected = _mix_int(((day + (1 << 20)) << 24) ^ (int(purpose) << 8) ^ int(draw))
            assert int(_scalar_key(day, purpose, draw)) == expected
        draws = ((Purpose.WILL_PAY, 0), (Purpose.REACH, 1), (Purpose.HOLDOUT, 0))
        assert _scalar_keys(day, draws).tolist() == [int(_scalar_key(day, p, d)) for p, d in draws]
        assert not _scalar_keys(day, draws).flags.writeable
        assert not _scalar_key(day, Purpose.REACH, 0).flags.writeable
    # Draws pinned from the generator before the table existed: a change of key is a change of every result.
    rng = KeyedRandom(3, np.array([5, 0, 900]))
    assert [float(u).hex() for u in rng.uniform(17, Purpose.WILL_PAY)] == [
        "0x1.73dee27e62430p-1",
        "0x1.197d39336407ep-2",
        "0x1.57ac9da977400p-10",
    ]
    assert [float(u).hex() for u in rng.uniform(-1, Purpose.REACH, draw=4)] == [
        "0x1.dcbc8218b2820p-6",
        "0x1.24e7c9611e658p-1",
        "0x1.b42f8465e91e0p-2",
    ]


def test_cumulative_group_matches_per_draw_tables():
    from sim.rng import _ONE_PASS_MAX_DRAWS, category_by_cumulative_group, category_from_uniform, cumulative_table

    tables = np.array([[0.5, 0.5, 0.0], [0.1, 0.0, 0.9], [0.0, 0.0, 1.0]])
    cumulative = cumulative_table(tables)
    # Both paths: one comparison for up to _ONE_PASS_MAX_DRAWS draws, a search per group above.
    for n_draws in (30, _ONE_PASS_MAX_DRAWS + 30):
        u = np.linspace(0.0, 0.999, n_draws)
        group = np.arange(n_draws) % 3
        categories = category_by_cumulative_group(u, cumulative, group)
        np.testing.assert_array_equal(categories, category_from_uniform(u, tables[group]))
        assert categories.dtype == np.int64
        assert set(categories[group == 2].tolist()) == {2}
        assert 1 not in categories[group == 1]
    # In group 0 of the 30 draws, the five below 0.5 take category 0 and the five above take 1.
    u, group = np.linspace(0.0, 0.999, 30), np.arange(30) % 3
    assert category_by_cumulative_group(u, cumulative, group)[group == 0].tolist() == [0] * 5 + [1] * 5


def test_with_rows_of_matches_new_ids():
    from sim.rng import KeyedRandom, Purpose

    ids = np.array([5, 0, 900, 12])
    reserve = KeyedRandom(3, np.array([40, 41, 42]))
    replaced = KeyedRandom(3, ids).with_rows_of(np.array([1, 3]), reserve, np.array([2, 0]))
    expected = KeyedRandom(3, np.array([5, 42, 900, 40]))
    np.testing.assert_array_equal(replaced.uniform(9, Purpose.WILL_PAY), expected.uniform(9, Purpose.WILL_PAY))
    # The original draws are left as they were.
    np.testing.assert_array_equal(
        KeyedRandom(3, ids).uniform(9, Purpose.WILL_PAY)[[0, 2]], replaced.uniform(9, Purpose.WILL_PAY)[[0, 2]]
    )
    with pytest.raises(ValueError, match="expected draws of seed 3 to copy from, got seed 4"):
        KeyedRandom(3, ids).with_rows_of(np.array([0]), KeyedRandom(4, np.array([1])), np.array([0]))
