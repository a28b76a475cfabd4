"""Run-level metrics of one simulated portfolio, computed from the finished model and its daily record."""

from __future__ import annotations

import numpy as np

from sim.engine import ACTIVE, BLOCK_RULES, CENTS, CHARGED_OFF, PAID_OFF, SETTLED, PortfolioModel

#: Metric columns in the order of metrics.parquet; docs/metrics.md defines each one.
METRIC_COLUMNS = (
    "n_accounts",
    "horizon_days",
    "opening_balance",
    "collected",
    "recovery_rate",
    "contact_cost",
    "agency_commission",
    "total_cost",
    "cost_to_collect",
    "net_collections",
    "npv_net_collections",
    "clv_retained",
    "clv_lost",
    "attrition_rate",
    "contacts_per_account",
    "rpc_per_account",
    "cure_rate",
    "charge_off_rate",
    "written_off",
    "discounts_granted",
    "sale_proceeds",
    "settlement_rate",
    "complaints_per_1000",
    "stop_contact_rate",
    "ptp_per_rpc",
    "promise_kept_rate",
    "hardship_disclosed_rate",
    "plan_acceptance_rate",
    "plans_broken_rate",
    "dispute_rate",
    "self_service_share",
    "days_sales_outstanding",  # sum over days of outstanding balance / opening balance: days a unit stays open
    "calls_unplaced",
    "blocked_breathing_space",
    "blocked_dispute",
    "blocked_stop_contact",
    "blocked_call_cap_7_days",
    "blocked_call_after_conversation",
    "blocked_settlement_cap",
    "peak_agents_busy",
    "objective",
)


def npv(daily_net: np.ndarray, annual_rate: float) -> float:
    """Net present value at day 0 of daily cash flows, discounted at ``annual_rate`` (compounded, 365-day year)."""
    days = np.arange(len(daily_net))
    return float(np.sum(np.asarray(daily_net) * (1.0 + annual_rate) ** (-days / 365.0)))


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the denominator is zero."""
    return numerator / denominator if denominator else float("nan")


def cost_to_collect(total_cost: float, collected: float) -> float:
    """Cost per unit of cash collected; NaN when nothing was collected."""
    return total_cost / collected if collected > 0 else float("nan")


def summarise(model: PortfolioModel, accounts: np.ndarray | None = None) -> dict[str, float]:
    """Compute every metric of :data:`METRIC_COLUMNS` for a finished model, over all accounts or a boolean subset.

    Money discounted for NPV and the objective is accumulated per account as it moves, so any subset (an arm of a
    champion/challenger split) gets exact metrics. ``peak_agents_busy`` is the shared call centre's, whatever the
    subset.
    """
    m = np.ones(model.n, dtype=bool) if accounts is None else np.asarray(accounts, dtype=bool)
    n = int(m.sum())
    opening = model.opening_balance[m].sum() / CENTS
    collected = model.paid[m].sum() / CENTS
    sale_proceeds = float(model.sale_proceeds[m].sum())
    contact_cost = float(model.contact_cost[m].sum())
    commission = float(model.commission[m].sum())
    total_cost = contact_cost + commission
    economics = model.scenario.economics
    npv_cash = float(model.npv_cash[m].sum())
    npv_cost = float(model.npv_cost[m].sum())
    # Customers keep their value when they end current or paid off and did not leave.
    in_good_standing = (((model.status == ACTIVE) & (model.past_due == 0)) | (model.status == PAID_OFF))[m]
    attrited = model.attrited[m]
    clv = model.clv[m]
    clv_lost = float(clv[attrited].sum())
    rpc = int(model.rpc_count[m].sum())
    promises = int(model.promises_made[m].sum())
    plans = {key: int(values[m].sum()) for key, values in model.plans_by_account.items()}
    metrics = {
        "n_accounts": n,
        "horizon_days": model.days,
        "opening_balance": opening,
        "collected": collected,
        "recovery_rate": ratio(collected + sale_proceeds, opening),
        "contact_cost": contact_cost,
        "agency_commission": commission,
        "total_cost": total_cost,
        "cost_to_collect": cost_to_collect(total_cost, collected + sale_proceeds),
        "net_collections": collected + sale_proceeds - total_cost,
        "npv_net_collections": npv_cash - npv_cost,
        "clv_retained": float(clv[in_good_standing & ~attrited].sum()),
        "clv_lost": clv_lost,
        "attrition_rate": ratio(float(attrited.sum()), n),
        "contacts_per_account": ratio(float(model.contacts_sent[m].sum()), n),
        "rpc_per_account": ratio(rpc, n),
        "cure_rate": ratio(float(in_good_standing.sum()), n),
        "charge_off_rate": ratio(float((model.status[m] == CHARGED_OFF).sum()), n),
        "written_off": model.written_off[m].sum() / CENTS,
        "discounts_granted": model.discounts[m].sum() / CENTS,
        "sale_proceeds": sale_proceeds,
        "settlement_rate": ratio(float((model.status[m] == SETTLED).sum()), n),
        "complaints_per_1000": ratio(1000.0 * model.complaints[m].sum(), n),
        "stop_contact_rate": ratio(float(model.stop_contact[m].sum()), n),
        "ptp_per_rpc": ratio(promises, rpc),
        "promise_kept_rate": ratio(int(model.promises_kept[m].sum()), promises),
        "hardship_disclosed_rate": ratio(float(model.hardship_disclosed[m].sum()), n),
        "plan_acceptance_rate": ratio(plans["accepted"], plans["offered"]),
        "plans_broken_rate": ratio(plans["broken"], plans["accepted"]),
        "dispute_rate": ratio(float((model.disputes[m] > 0).sum()), n),
        "self_service_share": ratio(model.paid_self_service[m].sum() / CENTS, collected),
        "days_sales_outstanding": ratio(model.balance_days[m].sum() / CENTS, opening),
        "calls_unplaced": int(model.unplaced_by_account[m].sum()),
        "peak_agents_busy": int(model.peak_agents_busy),
        "objective": economics.recovery_weight * npv_cash
        - economics.cost_weight * npv_cost
        - economics.clv_weight * clv_lost,
    }
    for r, rule in enumerate(BLOCK_RULES):
        metrics[f"blocked_{rule}"] = int(model.blocked_by_account[r][m].sum())
    return metrics
