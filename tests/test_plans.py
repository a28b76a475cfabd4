"""Payment plans, settlements and debt sales: acceptance curves, lifecycle and the ledger."""

from __future__ import annotations

import numpy as np
import pytest

from policies import Waterfall
from sim import simulate
from sim.behaviour import PlanAcceptance
from sim.scenario import DEBTOR_TYPES, Scenario

OFFERS = {
    "name": "offers",
    "stages": [
        {"dpd": [30, 90], "treatments": [{"action": "plan", "instalments": 6, "every": 10}]},
        {"dpd": [91, 150], "treatments": [{"action": "settlement", "discount": 0.25, "every": 15}]},
        {"dpd": [151, 179], "treatments": [{"action": "sell", "start": 10}]},
    ],
}


def test_plan_acceptance_curve():
    plans = PlanAcceptance(Scenario())
    short = np.full(3, DEBTOR_TYPES.index("short_of_cash"))
    by_instalments = plans.acceptance(np.array([3, 6, 12]), short, np.ones(3))
    assert (np.diff(by_instalments) > 0).all()
    by_bias = plans.acceptance(np.full(3, 6), short, np.array([1.0, 0.85, 0.7]))
    assert (np.diff(by_bias) > 0).all(), "present-biased debtors prefer to defer"
    unreachable = np.full(3, DEBTOR_TYPES.index("unreachable"))
    assert (plans.acceptance(np.array([3, 6, 12]), unreachable, np.ones(3)) == 0).all()
    keep = plans.keep_probability(short, np.array([0.7, 0.85, 1.0]))
    assert (np.diff(keep) > 0).all()


@pytest.fixture(scope="module")
def offers_run(default_scenario):
    portfolio = default_scenario.portfolio.model_copy(
        update={"initial_cycles_past_due": {1: 0.4, 2: 0.3, 3: 0.2, 4: 0.1}}
    )
    scenario = default_scenario.model_copy(update={"portfolio": portfolio})
    return simulate(scenario, Waterfall.from_dict(OFFERS), n_accounts=6_000, days=180, seed=21)


def test_plan_lifecycle_counts_add_up(offers_run):
    model = offers_run.model
    counts = model.plan_counts
    assert counts["accepted"] > 100
    assert counts["broken"] > 0
    assert counts["completed"] > 0
    assert counts["accepted"] == counts["completed"] + counts["broken"] + int(model.on_plan.sum())
    # While an account keeps its plan it is current: its arrears are inside the plan.
    on_plan = model.on_plan & (model.status == 0)
    assert on_plan.any()
    assert (model.past_due[on_plan] == 0).all()
    assert (model.dpd(model.days - 1)[on_plan] == 0).all()


def test_settlements_and_sales_keep_the_ledger(offers_run):
    cents = offers_run.model.ledger_cents()
    left = cents["opening_balance"] + cents["interest"] + cents["fees"]
    right = cents["paid"] + cents["discounts"] + cents["written_off"] + cents["sold"] + cents["outstanding"]
    np.testing.assert_array_equal(left, right)
    metrics = offers_run.metrics.iloc[0]
    assert metrics["settlement_rate"] > 0
    assert metrics["discounts_granted"] > 0
    assert metrics["sale_proceeds"] > 0
    sold = offers_run.accounts["status"] == "sold"
    # Sold at 16 cents per unit of balance: proceeds / face value sold.
    assert metrics["sale_proceeds"] == pytest.approx(0.16 * cents["sold"].sum() / 100, rel=1e-9)
    assert (offers_run.accounts.loc[sold, "balance"] == 0).all()
    settled = offers_run.accounts["status"] == "settled"
    # A settlement forgives at most 25% of the balance at acceptance: discounts <= paid / 3 per account.
    ledger = offers_run.ledger[settled.to_numpy()]
    assert (ledger["discounts"] <= ledger["paid"] / 3 + 0.01).all()


def test_objective_weights(default_scenario):
    from sim.metrics import npv

    result = simulate(default_scenario, "standard", n_accounts=1_000, days=60, seed=5)
    metrics = result.metrics.iloc[0]
    assert metrics["objective"] == pytest.approx(metrics["npv_net_collections"] - metrics["clv_lost"])

    economics = default_scenario.economics.model_copy(update={"cost_weight": 3.0, "clv_weight": 0.0})
    scenario = default_scenario.model_copy(update={"economics": economics})
    weighted = simulate(scenario, "standard", n_accounts=1_000, days=60, seed=5).metrics.iloc[0]
    cost_npv = npv(result.daily["cost"].to_numpy(), economics.cost_of_capital)
    assert cost_npv > 0
    # Three times the costs instead of once, and CLV no longer counts.
    assert weighted["objective"] == pytest.approx(metrics["npv_net_collections"] - 2 * cost_npv)
