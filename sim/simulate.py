"""One simulation of one policy on one portfolio: :func:`simulate` and its result."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import pandas as pd

from sim.engine import PortfolioModel
from sim.errors import short_repr
from sim.metrics import METRIC_COLUMNS, summarise
from sim.scenario import TRANSITION_COLUMNS, Scenario


@dataclass
class SimulationResult:
    """Outcome of :func:`simulate`.

    :ivar metrics: one-row summary (columns of :data:`sim.metrics.METRIC_COLUMNS` plus policy and seed)
    :ivar daily: one row per day: cash, costs, accounts per DPD bucket, contacts and calls
    :ivar accounts: final state per account
    :ivar ledger: per-account ledger; opening + interest + fees = paid + discounts + written_off + sold + outstanding
    :ivar transitions: counts of cycles-past-due moves between consecutive statements (rows: from state)
    :ivar contacts: one row per contact requested (day, account, action, sent, reached); only with ``trace=True``
    :ivar payments: one row per payment (day, account, amount); only with ``trace=True``
    :ivar actions: one row per action that passed the guard (day, account, action, state); ``trace=True``
    """

    metrics: pd.DataFrame
    daily: pd.DataFrame
    accounts: pd.DataFrame
    ledger: pd.DataFrame
    transitions: pd.DataFrame
    model: PortfolioModel
    contacts: pd.DataFrame | None = None
    payments: pd.DataFrame | None = None
    actions: pd.DataFrame | None = None


def simulate(
    scenario: Scenario | str,
    policy,
    n_accounts: int = 10_000,
    days: int = 180,
    seed: int = 0,
    trace: bool = False,
) -> SimulationResult:
    """Simulate ``policy`` on a fresh portfolio of ``n_accounts`` drawn from ``scenario`` for ``days`` days.

    ``scenario`` is a :class:`Scenario`, a shipped scenario name or a YAML path; ``policy`` is a policy object or
    anything :func:`policies.load` accepts. The same arguments give the same numbers to the last bit.
    ``trace=True`` also records every contact and agency placement per account in ``result.contacts`` (slower; for
    tests and audits).
    """
    _check_whole_number("n_accounts", n_accounts)
    _check_whole_number("days", days)
    if not isinstance(scenario, Scenario):
        scenario = Scenario.load(scenario)
    if not hasattr(policy, "decide"):
        import policies

        policy = policies.load(policy)
    model = PortfolioModel(scenario, policy, n_accounts=n_accounts, days=days, seed=seed, trace=trace).run()

    daily = model.daily_frame()
    rows = [{"policy": policy.name, "seed": seed, **summarise(model)}]
    # A champion/challenger split also reports each arm on its own accounts, as "split/arm".
    if hasattr(policy, "arm_masks"):
        for arm, mask in policy.arm_masks().items():
            rows.append({"policy": f"{policy.name}/{arm}", "seed": seed, **summarise(model, mask)})
    metrics = pd.DataFrame(rows)[["policy", "seed", *METRIC_COLUMNS]]
    transitions = pd.DataFrame(model.transition_counts, columns=TRANSITION_COLUMNS)
    transitions.index.name = "from_state"
    return SimulationResult(
        metrics=metrics,
        daily=daily,
        accounts=model.accounts_frame(),
        ledger=model.ledger_frame(),
        transitions=transitions,
        model=model,
        contacts=model.contacts_frame() if trace else None,
        payments=model.payments_frame() if trace else None,
        actions=model.actions_frame() if trace else None,
    )


def _check_whole_number(argument: str, value: object) -> None:
    """Raise ValueError unless ``value`` is an integer of at least 1: numpy integers pass, booleans and floats fail."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{argument} must be a whole number (an int), got {short_repr(value)}")
    if value < 1:
        raise ValueError(f"{argument} must be at least 1, got {value}")
