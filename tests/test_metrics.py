"""Tests for the run-level metrics in sim.metrics: each function on a case computed by hand, then summarise on a run."""

from __future__ import annotations

import math

import numpy as np
import pytest

import policies
from policies import Waterfall
from policies.split import ChampionChallenger
from sim import metrics as m
from sim import simulate
from sim.engine import ACTIVE, BLOCK_RULES, CHARGED_OFF, PAID_OFF, SETTLED, SOLD

# -- cash ---------------------------------------------------------------------------------------------------------


def test_recovery_rate_includes_sale_proceeds() -> None:
    assert m.recovery_rate(300.0, 50.0, 1_000.0) == pytest.approx(0.35)


def test_recovery_rate_zero_opening_is_nan() -> None:
    assert math.isnan(m.recovery_rate(10.0, 0.0, 0.0))


def test_recovery_rate_within_counts_sales_before_day() -> None:
    proceeds = np.array([0.0, 40.0, 10.0])
    sale_day = np.array([-1, 12, 45])

    within_30 = m.recovery_rate_within(30, 120.0, proceeds, sale_day, 1_000.0, horizon_days=180)
    within_60 = m.recovery_rate_within(60, 200.0, proceeds, sale_day, 1_000.0, horizon_days=180)

    # Day 30: 120 paid plus the sale on day 12. Day 60: 200 paid plus both sales.
    assert within_30 == pytest.approx(0.16)
    assert within_60 == pytest.approx(0.25)


def test_recovery_window_excludes_sale_on_day() -> None:
    # Days 0..29 make up the first 30 days, so a sale on day 30 counts from the 60-day window on.
    value = m.recovery_rate_within(30, 0.0, np.array([50.0]), np.array([30]), 1_000.0, horizon_days=90)

    assert value == 0.0


def test_recovery_rate_within_longer_than_run_is_nan() -> None:
    value = m.recovery_rate_within(60, 200.0, np.zeros(2), np.full(2, -1), 1_000.0, horizon_days=45)

    assert math.isnan(value)


def test_npv_discounts_by_day() -> None:
    # 100 on day 0 is not discounted; 100 on day 365 is worth 100 / 1.08.
    flows = np.zeros(366)
    flows[0] = 100.0
    flows[365] = 100.0

    assert m.npv(flows, 0.08) == pytest.approx(100.0 + 100.0 / 1.08)


def test_npv_net_collections_sums_accounts() -> None:
    assert m.npv_net_collections(np.array([10.0, 20.0, 0.0, 30.0]), np.array([2.0, 2.0, 0.0, 6.0])) == 50.0


def test_net_collections_sd_by_hand() -> None:
    # Per-account net values 8, 18, 0, 24: mean 12.5, squared deviations 20.25 + 30.25 + 156.25 + 132.25 = 339.
    cash = np.array([10.0, 20.0, 0.0, 30.0])
    cost = np.array([2.0, 2.0, 0.0, 6.0])

    assert m.net_collections_sd(cash, cost) == pytest.approx(math.sqrt(339.0 / 3))


def test_net_collections_sd_one_account_is_nan() -> None:
    assert math.isnan(m.net_collections_sd(np.array([5.0]), np.array([1.0])))


def test_cost_to_collect() -> None:
    assert m.cost_to_collect(50.0, 1_000.0) == pytest.approx(0.05)
    assert math.isnan(m.cost_to_collect(50.0, 0.0))


def test_days_sales_outstanding() -> None:
    # 1,000 outstanding for 90 days gives 90,000 balance-days.
    assert m.days_sales_outstanding(90_000.0, 1_000.0) == 90.0


def test_objective_weights() -> None:
    assert m.objective(1_000.0, 100.0, 50.0, recovery_weight=1.0, cost_weight=2.0, clv_weight=3.0) == 650.0


# -- account outcomes ---------------------------------------------------------------------------------------------


def test_good_standing_and_cure_rate() -> None:
    status = np.array([ACTIVE, ACTIVE, PAID_OFF, SETTLED, CHARGED_OFF])
    past_due = np.array([0, 500, 0, 0, 0])

    good = m.in_good_standing(status, past_due)

    assert good.tolist() == [True, False, True, False, False]
    assert m.cure_rate(good) == pytest.approx(0.4)


def test_roll_rates_per_state() -> None:
    # States 0..2 and charge-off. From state 1, 2 moved to state 2 and 1 was charged off: 3 of 10 rolled.
    counts = np.array(
        [
            [8, 2, 0, 0],
            [3, 4, 2, 1],
            [1, 1, 2, 4],
        ]
    )

    rates = m.roll_rates(counts)

    assert rates.tolist() == pytest.approx([0.2, 0.3, 0.5])


def test_roll_rate_pools_delinquent_states() -> None:
    counts = np.array([[8, 2, 0, 0], [3, 4, 2, 1], [1, 1, 2, 4]])

    # Rolled: 3 from state 1 and 4 from state 2, out of 10 + 8 transitions. State 0 is not delinquent.
    assert m.roll_rate(counts) == pytest.approx(7 / 18)


def test_roll_rate_without_transitions_is_nan() -> None:
    counts = np.array([[5, 1, 0], [0, 0, 0]])

    assert math.isnan(m.roll_rate(counts))
    assert math.isnan(m.roll_rates(counts)[1])


def test_status_rates() -> None:
    status = np.array([SOLD, SOLD, CHARGED_OFF, ACTIVE, PAID_OFF, SETTLED, ACTIVE, ACTIVE])

    assert m.status_rate(status, SOLD) == 0.25
    assert m.status_rate(status, CHARGED_OFF) == 0.125
    assert m.status_rate(status, SETTLED) == 0.125


def test_clv_retained_lost_and_attrition() -> None:
    clv = np.array([100.0, 200.0, 300.0, 400.0])
    good = np.array([True, True, False, True])
    attrited = np.array([False, True, False, False])

    # Retained: accounts 0 and 3 (account 1 left, account 2 is not in good standing). Lost: account 1.
    assert m.clv_retained(clv, good, attrited) == 500.0
    assert m.clv_lost(clv, attrited) == 200.0
    assert m.attrition_rate(attrited) == 0.25


def test_share_of_empty_is_nan() -> None:
    assert math.isnan(m.share(np.array([], dtype=bool)))


# -- contacts and conduct -----------------------------------------------------------------------------------------


def test_contacts_and_complaints_per_account() -> None:
    assert m.per_account(1_500, 600) == 2.5
    assert m.complaints_per_1000(3, 600) == 5.0
    assert math.isnan(m.per_account(3, 0))


def test_ptp_and_promise_kept_rates() -> None:
    assert m.ptp_per_rpc(6, 24) == 0.25
    assert m.promise_kept_rate(3, 6) == 0.5
    assert math.isnan(m.promise_kept_rate(0, 0))


def test_blocked_by_rule_sums_accounts() -> None:
    blocked = np.array([[1, 0, 2], [0, 0, 0]])

    assert m.blocked_by_rule(blocked, rules=("breathing_space", "dispute")) == {
        "blocked_breathing_space": 3,
        "blocked_dispute": 0,
    }


def test_blocked_by_rule_needs_one_row_per_rule() -> None:
    with pytest.raises(ValueError):
        m.blocked_by_rule(np.zeros((len(BLOCK_RULES) - 1, 3)))


# -- call centre --------------------------------------------------------------------------------------------------


def test_staffed_agent_minutes() -> None:
    # Day 0: 10 agents for 8 hours. Day 1: no agents. Day 2: 2 agents for 4 hours, then 5 for 8 hours.
    periods = [[(9.0, 17.0, 10)], [], [(8.0, 12.0, 2), (12.0, 20.0, 5)]]

    assert m.staffed_agent_minutes(periods) == 4_800 + 480 + 2_400


def test_agent_utilisation() -> None:
    assert m.agent_utilisation(1_920.0, 7_680.0) == 0.25
    assert math.isnan(m.agent_utilisation(0.0, 0.0))


# -- columns ------------------------------------------------------------------------------------------------------


def test_new_columns_at_the_end() -> None:
    assert m.METRIC_COLUMNS[:3] == ("n_accounts", "horizon_days", "opening_balance")
    assert m.METRIC_COLUMNS.index("objective") == 40
    assert m.METRIC_COLUMNS[41:] == (
        "recovery_rate_30d",
        "recovery_rate_60d",
        "recovery_rate_90d",
        "recovery_rate_180d",
        "roll_rate",
        "agent_utilisation",
        "sale_rate",
        "npv_net_collections_per_account_sd",
    )
    assert len(set(m.METRIC_COLUMNS)) == len(m.METRIC_COLUMNS)


# -- summarise on a run -------------------------------------------------------------------------------------------

N_ACCOUNTS = 1_500


@pytest.fixture(scope="module")
def run(default_scenario):
    return simulate(default_scenario, "standard", n_accounts=N_ACCOUNTS, days=180, seed=3)


def test_summarise_returns_every_column(run) -> None:
    assert tuple(run.metrics.columns[2:]) == m.METRIC_COLUMNS


def test_recovery_windows_match_daily_cash(run) -> None:
    row = run.metrics.iloc[0]
    cash = run.daily["collected"] + run.daily["sale_proceeds"]

    for days in (30, 60, 90, 180):
        expected = cash.iloc[:days].sum() / row["opening_balance"]
        assert row[f"recovery_rate_{days}d"] == pytest.approx(expected, rel=1e-9), days
    assert row["recovery_rate_180d"] == pytest.approx(row["recovery_rate"], rel=1e-12)
    assert 0 < row["recovery_rate_30d"] < row["recovery_rate_60d"] < row["recovery_rate_90d"]


def test_short_run_has_no_later_windows(default_scenario) -> None:
    row = simulate(default_scenario, "standard", n_accounts=200, days=40, seed=3).metrics.iloc[0]

    assert row["recovery_rate_30d"] > 0
    assert math.isnan(row["recovery_rate_60d"])
    assert math.isnan(row["recovery_rate_180d"])


def test_roll_rate_of_run_uses_transitions(run) -> None:
    assert run.metrics.iloc[0]["roll_rate"] == pytest.approx(m.roll_rate(run.transitions.to_numpy()))


def test_agent_utilisation_of_run(default_scenario, run) -> None:
    call_center = default_scenario.call_center
    assert call_center.staffing is None
    assert call_center.agents_by_weekday is None
    staffed_per_day = call_center.agents * (call_center.shift_end_hour - call_center.shift_start_hour) * 60

    utilisation = run.metrics.iloc[0]["agent_utilisation"]

    assert utilisation == pytest.approx(run.daily["agent_minutes"].sum() / (staffed_per_day * 180))
    assert 0 < utilisation < 1


def test_per_account_sd_of_run(run) -> None:
    model = run.model
    expected = np.std(model.npv_cash - model.npv_cost, ddof=1)

    assert run.metrics.iloc[0]["npv_net_collections_per_account_sd"] == pytest.approx(expected)


def test_split_arms_have_no_roll_rate(default_scenario) -> None:
    split = ChampionChallenger(
        "cc", {"standard": (policies.load("standard"), 0.8), "digital_first": (policies.load("digital_first"), 0.2)}
    )

    metrics = simulate(default_scenario, split, n_accounts=500, days=60, seed=2).metrics.set_index("policy")

    assert 0 < metrics.loc["cc", "roll_rate"] < 1
    assert math.isnan(metrics.loc["cc/standard", "roll_rate"])
    assert math.isnan(metrics.loc["cc/digital_first", "roll_rate"])
    whole = metrics.loc["cc", "recovery_rate_30d"] * metrics.loc["cc", "opening_balance"]
    arms = sum(metrics.loc[arm, "recovery_rate_30d"] * metrics.loc[arm, "opening_balance"] for arm in metrics.index[1:])
    assert whole == pytest.approx(arms, rel=1e-9)
    assert metrics.loc["cc/standard", "agent_utilisation"] == metrics.loc["cc", "agent_utilisation"]


def test_write_offs_count_in_roll_rate(default_scenario) -> None:
    stage = {"name": "late", "dpd": [40, 179], "treatments": [{"action": "write_off"}]}
    write_off_at_40 = Waterfall.from_dict({"name": "write_off_at_40", "stages": [stage]}, warn=False)

    result = simulate(default_scenario, write_off_at_40, n_accounts=1_000, days=120, seed=1)
    charged_off = int((result.accounts["status"] == "charged_off").sum())

    assert charged_off > 100
    assert int(result.transitions["charge_off"].sum()) == charged_off
