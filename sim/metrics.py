"""Run-level metrics of one simulated portfolio: one small function per metric over plain arrays, and
:func:`summarise`, which feeds them the arrays of a finished model. docs/metrics.md defines each column.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from sim.engine import ACTIVE, BLOCK_RULES, CENTS, CHARGED_OFF, PAID_OFF, RECOVERY_DAYS, SETTLED, SOLD, PortfolioModel

#: Metric columns in the order of metrics.parquet; docs/metrics.md defines each one. New columns go at the end.
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
    *(f"recovery_rate_{days}d" for days in RECOVERY_DAYS),
    "roll_rate",
    "agent_utilisation",
    "sale_rate",
    "npv_net_collections_per_account_sd",
)


# -- generic ------------------------------------------------------------------------------------------------------


def ratio(numerator: float, denominator: float) -> float:
    """Return ``numerator / denominator``, or NaN when the denominator is zero."""
    return numerator / denominator if denominator else float("nan")


def share(flags: np.ndarray) -> float:
    """Return the fraction of True entries of a boolean array, or NaN for an empty array."""
    flags = np.asarray(flags, dtype=bool)
    return ratio(float(flags.sum()), flags.size)


def npv(daily_net: np.ndarray, annual_rate: float) -> float:
    """Return the net present value at day 0 of daily cash flows, discounted at ``annual_rate`` (365-day year)."""
    days = np.arange(len(daily_net))
    return float(np.sum(np.asarray(daily_net) * (1.0 + annual_rate) ** (-days / 365.0)))


# -- cash ---------------------------------------------------------------------------------------------------------


def recovery_rate(collected: float, sale_proceeds: float, opening_balance: float) -> float:
    """Return cash collected plus sale proceeds per unit of opening balance; NaN for a zero opening balance."""
    return ratio(collected + sale_proceeds, opening_balance)


def recovery_rate_within(
    days: int,
    paid_within: float,
    sale_proceeds: np.ndarray,
    sale_day: np.ndarray,
    opening_balance: float,
    horizon_days: int,
) -> float:
    """Return the recovery rate of the first ``days`` days of a run (days ``0 .. days - 1``).

    :param paid_within: payments made on days ``0 .. days - 1``, currency
    :param sale_proceeds: sale price per account, currency (0 for accounts not sold)
    :param sale_day: day each account was sold (any value for accounts not sold, whose proceeds are 0)
    :param opening_balance: balance on day 0, currency
    :param horizon_days: days simulated; a run shorter than ``days`` gives NaN, because the rest is unknown
    """
    if horizon_days < days:
        return float("nan")
    sold_in_time = float(np.asarray(sale_proceeds)[np.asarray(sale_day) < days].sum())
    return ratio(paid_within + sold_in_time, opening_balance)


def cost_to_collect(total_cost: float, collected: float) -> float:
    """Return cost per unit of cash collected; NaN when nothing was collected."""
    return total_cost / collected if collected > 0 else float("nan")


def npv_net_collections(npv_cash: np.ndarray, npv_cost: np.ndarray) -> float:
    """Return the NPV of net collections: per-account discounted cash minus discounted costs, summed."""
    return float(np.sum(npv_cash) - np.sum(npv_cost))


def net_collections_sd(npv_cash: np.ndarray, npv_cost: np.ndarray) -> float:
    """Return the standard deviation across accounts (``ddof=1``) of each account's NPV of net collections.

    NaN with fewer than 2 accounts. A live champion/challenger test needs this per-account spread to size its arms.
    """
    per_account = np.asarray(npv_cash, dtype=float) - np.asarray(npv_cost, dtype=float)
    return float(per_account.std(ddof=1)) if per_account.size >= 2 else float("nan")


def days_sales_outstanding(balance_days: float, opening_balance: float) -> float:
    """Return the days a unit of opening balance stayed outstanding: summed end-of-day balances / opening balance."""
    return ratio(balance_days, opening_balance)


def objective(
    npv_cash: float, npv_cost: float, clv_lost: float, recovery_weight: float, cost_weight: float, clv_weight: float
) -> float:
    """Return ``recovery_weight × NPV(cash) − cost_weight × NPV(costs) − clv_weight × clv_lost``, currency."""
    return recovery_weight * npv_cash - cost_weight * npv_cost - clv_weight * clv_lost


# -- account outcomes ---------------------------------------------------------------------------------------------


def in_good_standing(status: np.ndarray, past_due: np.ndarray) -> np.ndarray:
    """Flag accounts that end active with nothing past due, or paid off."""
    status = np.asarray(status)
    return ((status == ACTIVE) & (np.asarray(past_due) == 0)) | (status == PAID_OFF)


def cure_rate(good_standing: np.ndarray) -> float:
    """Return the share of accounts that end the run in good standing (see :func:`in_good_standing`)."""
    return share(good_standing)


def roll_rates(transition_counts: np.ndarray) -> np.ndarray:
    """Return, for each cycles-past-due state, the share of its statement transitions that moved to a worse state.

    ``transition_counts[s, j]`` counts moves from state ``s`` to state ``j`` between consecutive statements, with
    charge-off as the last column, as ``PortfolioModel.transition_counts`` records them. A worse state is any
    column after ``s``: one more cycle past due, or charge-off. The engine caps the state at its last row, so that
    row rolls only to charge-off. A state with no transitions gives NaN.
    """
    counts = np.asarray(transition_counts, dtype=float)
    n_states = counts.shape[0]
    worse = np.array([counts[s, s + 1 :].sum() for s in range(n_states)])
    totals = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, worse / totals, np.nan)


def roll_rate(transition_counts: np.ndarray) -> float:
    """Return the share of statement transitions out of a delinquent state (1 or more cycles) to a worse state.

    Pooled over the delinquent rows of ``transition_counts`` (see :func:`roll_rates`); NaN when none moved.
    """
    counts = np.asarray(transition_counts, dtype=float)
    worse = sum(counts[s, s + 1 :].sum() for s in range(1, counts.shape[0]))
    return ratio(float(worse), float(counts[1:].sum()))


def status_rate(status: np.ndarray, code: int) -> float:
    """Return the share of accounts whose final status is ``code`` (charged off, settled, sold)."""
    return share(np.asarray(status) == code)


def clv_retained(clv: np.ndarray, good_standing: np.ndarray, attrited: np.ndarray) -> float:
    """Return the summed CLV of accounts that end in good standing and whose customer did not attrite, currency."""
    keep = np.asarray(good_standing, dtype=bool) & ~np.asarray(attrited, dtype=bool)
    return float(np.asarray(clv)[keep].sum())


def clv_lost(clv: np.ndarray, attrited: np.ndarray) -> float:
    """Return the summed CLV of accounts whose customer attrited, currency."""
    return float(np.asarray(clv)[np.asarray(attrited, dtype=bool)].sum())


def attrition_rate(attrited: np.ndarray) -> float:
    """Return the share of accounts whose customer attrited."""
    return share(attrited)


# -- contacts and conduct -----------------------------------------------------------------------------------------


def per_account(count: float, n_accounts: int) -> float:
    """Return a count over the run per account, or NaN for no accounts."""
    return ratio(float(count), n_accounts)


def complaints_per_1000(complaints: float, n_accounts: int) -> float:
    """Return complaints over the run per 1,000 accounts."""
    return ratio(1000.0 * complaints, n_accounts)


def ptp_per_rpc(promises: int, right_party_contacts: int) -> float:
    """Return promises to pay made per right-party contact (conversation)."""
    return ratio(promises, right_party_contacts)


def promise_kept_rate(promises_kept: int, promises: int) -> float:
    """Return the share of promises to pay that were kept."""
    return ratio(promises_kept, promises)


def blocked_by_rule(blocked_by_account: np.ndarray, rules: Iterable[str] = BLOCK_RULES) -> dict[str, int]:
    """Return the actions blocked by the compliance guard per rule, as ``blocked_<rule>`` columns.

    ``blocked_by_account`` has one row per rule, in the order of ``rules``, and one column per account.
    """
    return {f"blocked_{rule}": int(np.sum(row)) for rule, row in zip(rules, blocked_by_account, strict=True)}


# -- call centre --------------------------------------------------------------------------------------------------


def staffed_agent_minutes(periods_by_day: Iterable[Iterable[tuple[float, float, int]]]) -> float:
    """Return the agent minutes on duty: ``agents × (end hour − start hour) × 60`` summed over every period of every
    day, with periods as :meth:`sim.callcenter.CallCentre.periods` returns them."""
    return float(sum(agents * (end - start) * 60.0 for periods in periods_by_day for start, end, agents in periods))


def agent_utilisation(agent_minutes: float, staffed_minutes: float) -> float:
    """Return the share of staffed agent minutes spent handling calls; NaN when no agent was on duty."""
    return ratio(agent_minutes, staffed_minutes)


# -- one model ----------------------------------------------------------------------------------------------------


def summarise(model: PortfolioModel, accounts: np.ndarray | None = None) -> dict[str, float]:
    """Compute every metric of :data:`METRIC_COLUMNS` for a finished model, over all accounts or a boolean subset.

    Money discounted for NPV and the objective is accumulated per account as it moves, so any subset (an arm of a
    champion/challenger split) gets exact metrics. ``peak_agents_busy`` and ``agent_utilisation`` belong to the
    shared call centre, whatever the subset. ``roll_rate`` is NaN for a strict subset, because the model counts
    statement transitions for the whole portfolio only.
    """
    m = np.ones(model.n, dtype=bool) if accounts is None else np.asarray(accounts, dtype=bool)
    n = int(m.sum())
    economics = model.scenario.economics

    opening = model.opening_balance[m].sum() / CENTS
    collected = model.paid[m].sum() / CENTS
    sale_proceeds = model.sale_proceeds[m]
    proceeds = float(sale_proceeds.sum())
    contact_cost = float(model.contact_cost[m].sum())
    commission = float(model.commission[m].sum())
    total_cost = contact_cost + commission
    npv_cash = model.npv_cash[m]
    npv_cost = model.npv_cost[m]

    status = model.status[m]
    good_standing = in_good_standing(status, model.past_due[m])
    attrited = model.attrited[m]
    lost = clv_lost(model.clv[m], attrited)
    rpc = int(model.rpc_count[m].sum())
    promises = int(model.promises_made[m].sum())
    plans = {key: int(values[m].sum()) for key, values in model.plans_by_account.items()}
    daily = model.daily_frame()
    staffed = staffed_agent_minutes(model.call_centre.periods(day) for day in range(model.days))

    metrics: dict[str, float] = {
        "n_accounts": n,
        "horizon_days": model.days,
        "opening_balance": opening,
        "collected": collected,
        "recovery_rate": recovery_rate(collected, proceeds, opening),
        "contact_cost": contact_cost,
        "agency_commission": commission,
        "total_cost": total_cost,
        "cost_to_collect": cost_to_collect(total_cost, collected + proceeds),
        "net_collections": collected + proceeds - total_cost,
        "npv_net_collections": npv_net_collections(npv_cash, npv_cost),
        "clv_retained": clv_retained(model.clv[m], good_standing, attrited),
        "clv_lost": lost,
        "attrition_rate": attrition_rate(attrited),
        "contacts_per_account": per_account(model.contacts_sent[m].sum(), n),
        "rpc_per_account": per_account(rpc, n),
        "cure_rate": cure_rate(good_standing),
        "charge_off_rate": status_rate(status, CHARGED_OFF),
        "written_off": model.written_off[m].sum() / CENTS,
        "discounts_granted": model.discounts[m].sum() / CENTS,
        "sale_proceeds": proceeds,
        "settlement_rate": status_rate(status, SETTLED),
        "complaints_per_1000": complaints_per_1000(model.complaints[m].sum(), n),
        "stop_contact_rate": share(model.stop_contact[m]),
        "ptp_per_rpc": ptp_per_rpc(promises, rpc),
        "promise_kept_rate": promise_kept_rate(int(model.promises_kept[m].sum()), promises),
        "hardship_disclosed_rate": share(model.hardship_disclosed[m]),
        "plan_acceptance_rate": ratio(plans["accepted"], plans["offered"]),
        "plans_broken_rate": ratio(plans["broken"], plans["accepted"]),
        "dispute_rate": share(model.disputes[m] > 0),
        "self_service_share": ratio(model.paid_self_service[m].sum() / CENTS, collected),
        "days_sales_outstanding": days_sales_outstanding(model.balance_days[m].sum() / CENTS, opening),
        "calls_unplaced": int(model.unplaced_by_account[m].sum()),
        **blocked_by_rule(model.blocked_by_account[:, m]),
        "peak_agents_busy": int(model.peak_agents_busy),
        "objective": objective(
            float(npv_cash.sum()),
            float(npv_cost.sum()),
            lost,
            economics.recovery_weight,
            economics.cost_weight,
            economics.clv_weight,
        ),
    }
    for window, days in enumerate(RECOVERY_DAYS):
        metrics[f"recovery_rate_{days}d"] = recovery_rate_within(
            days,
            model.paid_within_days[window, m].sum() / CENTS,
            sale_proceeds,
            model.resolved_day[m],
            opening,
            model.days,
        )
    metrics.update(
        {
            # NOTE: statement transitions are counted for the whole portfolio, so an arm of a split has no roll rate.
            "roll_rate": roll_rate(model.transition_counts) if n == model.n else float("nan"),
            "agent_utilisation": agent_utilisation(float(daily["agent_minutes"].sum()), staffed),
            "sale_rate": status_rate(status, SOLD),
            "npv_net_collections_per_account_sd": net_collections_sd(npv_cash, npv_cost),
        }
    )
    return {column: metrics[column] for column in METRIC_COLUMNS}
