"""Run-level metrics of one simulated portfolio: one function of the finished model each, in currency units."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.engine import ACTIVE, CENTS, CHARGED_OFF, PAID_OFF, PortfolioModel

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
    "calls_unplaced",
    "calls_blocked",
    "peak_agents_busy",
)


def npv(daily_net: np.ndarray, annual_rate: float) -> float:
    """Net present value at day 0 of daily cash flows, discounted at ``annual_rate`` (compounded, 365-day year)."""
    days = np.arange(len(daily_net))
    return float(np.sum(np.asarray(daily_net) * (1.0 + annual_rate) ** (-days / 365.0)))


def cost_to_collect(total_cost: float, collected: float) -> float:
    """Cost per unit of cash collected; NaN when nothing was collected."""
    return total_cost / collected if collected > 0 else float("nan")


def summarise(model: PortfolioModel, daily: pd.DataFrame) -> dict[str, float]:
    """Compute every metric of :data:`METRIC_COLUMNS` for a finished model and its daily record."""
    n = model.n
    opening = model.opening_balance.sum() / CENTS
    collected = model.paid.sum() / CENTS
    contact_cost = float(model.contact_cost.sum())
    commission = float(model.commission.sum())
    total_cost = contact_cost + commission
    # Customers keep their value when they end current or paid off and did not leave.
    in_good_standing = ((model.status == ACTIVE) & (model.past_due == 0)) | (model.status == PAID_OFF)
    return {
        "n_accounts": n,
        "horizon_days": model.days,
        "opening_balance": opening,
        "collected": collected,
        "recovery_rate": collected / opening if opening > 0 else float("nan"),
        "contact_cost": contact_cost,
        "agency_commission": commission,
        "total_cost": total_cost,
        "cost_to_collect": cost_to_collect(total_cost, collected),
        "net_collections": collected - total_cost,
        "npv_net_collections": npv(
            daily["collected"].to_numpy() - daily["cost"].to_numpy(), model.scenario.economics.cost_of_capital
        ),
        "clv_retained": float(model.clv[in_good_standing & ~model.attrited].sum()),
        "clv_lost": float(model.clv[model.attrited].sum()),
        "attrition_rate": float(model.attrited.mean()),
        "contacts_per_account": float(model.contacts_sent.mean()),
        "rpc_per_account": float(model.rpc_count.mean()),
        "cure_rate": float(in_good_standing.mean()),
        "charge_off_rate": float((model.status == CHARGED_OFF).mean()),
        "written_off": model.written_off.sum() / CENTS,
        "calls_unplaced": int(model.calls_unplaced),
        "calls_blocked": int(model.blocked_calls),
        "peak_agents_busy": int(model.peak_agents_busy),
    }
