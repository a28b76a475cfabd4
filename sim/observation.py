"""The observation a policy receives each day: the observable state of every account, never the latent one."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True)
class Observation:
    """Observable state of every account on one day: what a lender's systems hold, never the latent type.

    Arrays are read-only, of length ``n_accounts``; money in currency units. A field is None when the model's policy
    declared the fields it observes (``observed_fields``, see :mod:`policies.base`) and this one is not among them.
    """

    day: int
    active: np.ndarray
    dpd: np.ndarray
    cycles_past_due: np.ndarray
    balance: np.ndarray
    past_due: np.ndarray
    credit_limit: np.ndarray
    placed_with_agency: np.ndarray
    days_since_contact: np.ndarray  # (n_accounts, 4): days since the last contact sent on each channel
    calls_last_7_days: np.ndarray
    days_since_conversation: np.ndarray
    on_hold: np.ndarray  # hardship hold or breathing space: no contact
    stop_contact: np.ndarray  # the debtor asked to stop contact
    hardship_disclosed: np.ndarray
    promise_pending: np.ndarray  # a promise to pay falls due today or later
    on_plan: np.ndarray  # repaying arrears on a payment plan
    disputed: np.ndarray  # collection paused while a dispute is validated
    complaints: np.ndarray
    days_since_statement: np.ndarray  # days since the last statement closed the cycle (0 on statement day)
    days_since_payment: np.ndarray  # days since the last payment; large when none is on record
    portal_logins: np.ndarray  # logins to the self-service portal over the last closed cycle
    spend_change: np.ndarray  # change in monthly card spend against the usual, at the last statement (-0.4 = -40%)

    def take(self, index: np.ndarray) -> Observation:
        """Return the observation of the accounts at positions ``index`` only, in that order."""
        selected = {name: getattr(self, name) for name in OBSERVATION_FIELDS}
        selected = {name: None if values is None else values[index] for name, values in selected.items()}
        for values in selected.values():
            if values is not None:
                values.setflags(write=False)
        return Observation(day=self.day, **selected)

    @property
    def n_accounts(self) -> int:
        return len(self.dpd)

    @property
    def paid_since_statement(self) -> np.ndarray:
        """Whether a payment arrived since the last statement."""
        return self.days_since_payment <= self.days_since_statement


#: Names of the per-account fields of an :class:`Observation`, in order.
OBSERVATION_FIELDS: tuple[str, ...] = tuple(field.name for field in fields(Observation) if field.name != "day")
