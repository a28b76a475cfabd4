"""Run-level metrics of one simulated portfolio, computed from the finished model and its daily record."""

from __future__ import annotations

import numpy as np
import pandas as pd

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
    "days_sales_outstanding",
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


def days_sales_outstanding(outstanding_by_day: list[float], opening_balance: float) -> float:
    """Average days a unit of the opening receivables stayed outstanding over the run: sum of daily balances / opening.

    The run has no new sales, so this is the receivables-weighted collection period of the opening book (for B2B
    invoices, its DSO). It stays within the horizon unless interest and fees grow the balances.
    """
    return ratio(float(np.sum(outstanding_by_day)), opening_balance)


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the denominator is zero."""
    return numerator / denominator if denominator else float("nan")


def cost_to_collect(total_cost: float, collected: float) -> float:
    """Cost per unit of cash collected; NaN when nothing was collected."""
    return total_cost / collected if collected > 0 else float("nan")


def summarise(model: PortfolioModel, daily: pd.DataFrame) -> dict[str, float]:
    """Compute every metric of :data:`METRIC_COLUMNS` for a finished model and its daily record."""
    n = model.n
    opening = model.opening_balance.sum() / CENTS
    collected = model.paid.sum() / CENTS
    sale_proceeds = float(model.sale_proceeds.sum())
    contact_cost = float(model.contact_cost.sum())
    commission = float(model.commission.sum())
    total_cost = contact_cost + commission
    net = collected + sale_proceeds - total_cost
    economics = model.scenario.economics
    npv_cash = npv(daily["collected"].to_numpy() + daily["sale_proceeds"].to_numpy(), economics.cost_of_capital)
    npv_cost = npv(daily["cost"].to_numpy(), economics.cost_of_capital)
    npv_net = npv_cash - npv_cost
    # Customers keep their value when they end current or paid off and did not leave.
    in_good_standing = ((model.status == ACTIVE) & (model.past_due == 0)) | (model.status == PAID_OFF)
    clv_lost = float(model.clv[model.attrited].sum())
    rpc = int(model.rpc_count.sum())
    promises = int(model.promises_made.sum())
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
        "net_collections": net,
        "npv_net_collections": npv_net,
        "clv_retained": float(model.clv[in_good_standing & ~model.attrited].sum()),
        "clv_lost": clv_lost,
        "attrition_rate": float(model.attrited.mean()),
        "contacts_per_account": float(model.contacts_sent.mean()),
        "rpc_per_account": rpc / n,
        "cure_rate": float(in_good_standing.mean()),
        "charge_off_rate": float((model.status == CHARGED_OFF).mean()),
        "written_off": model.written_off.sum() / CENTS,
        "discounts_granted": model.discounts.sum() / CENTS,
        "sale_proceeds": sale_proceeds,
        "settlement_rate": float((model.status == SETTLED).mean()),
        "complaints_per_1000": 1000.0 * model.complaints.sum() / n,
        "stop_contact_rate": float(model.stop_contact.mean()),
        "ptp_per_rpc": ratio(promises, rpc),
        "promise_kept_rate": ratio(int(model.promises_kept.sum()), promises),
        "hardship_disclosed_rate": float(model.hardship_disclosed.mean()),
        "plan_acceptance_rate": ratio(model.plan_counts["accepted"], model.plan_counts["offered"]),
        "plans_broken_rate": ratio(model.plan_counts["broken"], model.plan_counts["accepted"]),
        "dispute_rate": float((model.disputes > 0).mean()),
        "self_service_share": ratio(model.paid_self_service.sum() / CENTS, collected),
        "days_sales_outstanding": days_sales_outstanding(model.outstanding_by_day, opening),
        "calls_unplaced": int(model.calls_unplaced),
        "peak_agents_busy": int(model.peak_agents_busy),
        "objective": economics.recovery_weight * npv_cash
        - economics.cost_weight * npv_cost
        - economics.clv_weight * clv_lost,
    }
    for rule in BLOCK_RULES:
        metrics[f"blocked_{rule}"] = int(model.blocked[rule])
    return metrics
