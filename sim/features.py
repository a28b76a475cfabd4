"""The observable state of each account as a fixed-length vector of numbers in known bounds.

One table serves every learner: the early-warning classifier, uplift models and the Gymnasium environment. Each
feature is a transform of an :class:`sim.observation.Observation` field, scaled into ``[0, 1]`` (``spend_change``
into ``[-1, 1]``) so that models train without further scaling and the environment's ``Box`` has fixed bounds.
Latent state (debtor type, ability and willingness to pay) never enters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.observation import Observation
from sim.scenario import CHANNELS

#: Money is scaled as log1p(amount) / log1p(MONEY_SCALE), so amounts up to MONEY_SCALE map into [0, 1].
MONEY_SCALE = 1_000_000.0
#: Day counts are capped here: "more than 90 days ago" is one value.
DAYS_CAP = 90.0


@dataclass(frozen=True)
class Feature:
    name: str
    description: str
    transform: Callable[[Observation], np.ndarray]
    low: float = 0.0
    high: float = 1.0


# np.minimum(np.maximum(...)) is np.clip with less overhead per call, which dominates for one account per step.


def _money(values: np.ndarray) -> np.ndarray:
    return np.log1p(np.minimum(np.maximum(values, 0.0), MONEY_SCALE)) / np.log1p(MONEY_SCALE)


def _days(values: np.ndarray) -> np.ndarray:
    return np.minimum(np.maximum(values, 0), DAYS_CAP) / DAYS_CAP


def _count(values: np.ndarray, cap: float) -> np.ndarray:
    return np.minimum(np.maximum(values, 0), cap) / cap


def _flag(name: str) -> Feature:
    return Feature(name, f"1 when {name.replace('_', ' ')}, else 0", lambda obs: getattr(obs, name).astype(float))


def _days_since_contact(channel: int) -> Feature:
    name = CHANNELS[channel]
    return Feature(
        f"days_since_{name}",
        f"days since the last {name} sent, capped at {DAYS_CAP:.0f}, / {DAYS_CAP:.0f}",
        lambda obs: _days(obs.days_since_contact[:, channel]),
    )


FEATURES: tuple[Feature, ...] = (
    Feature("dpd", "days past due, capped at 360, / 360", lambda obs: _count(obs.dpd, 360.0)),
    Feature(
        "cycles_past_due", "unpaid minimum payments, capped at 12, / 12", lambda obs: _count(obs.cycles_past_due, 12)
    ),
    Feature("balance", "log1p(balance) / log1p(1e6)", lambda obs: _money(obs.balance)),
    Feature("past_due", "log1p(amount past due) / log1p(1e6)", lambda obs: _money(obs.past_due)),
    Feature("credit_limit", "log1p(credit limit) / log1p(1e6)", lambda obs: _money(obs.credit_limit)),
    Feature(
        "utilisation",
        "balance / credit limit, capped at 2, / 2",
        lambda obs: _count(obs.balance / np.maximum(obs.credit_limit, 1.0), 2.0),
    ),
    *(_days_since_contact(c) for c in range(len(CHANNELS))),
    Feature("calls_last_7_days", "call attempts in the last 7 days / 7", lambda obs: _count(obs.calls_last_7_days, 7)),
    Feature(
        "days_since_conversation",
        f"days since the last right-party conversation, capped at {DAYS_CAP:.0f}, / {DAYS_CAP:.0f}",
        lambda obs: _days(obs.days_since_conversation),
    ),
    Feature("complaints", "complaints so far, capped at 5, / 5", lambda obs: _count(obs.complaints, 5)),
    Feature(
        "days_since_statement", "days since the last statement / 30", lambda obs: _count(obs.days_since_statement, 30)
    ),
    Feature(
        "days_since_payment",
        f"days since the last payment, capped at {DAYS_CAP:.0f}, / {DAYS_CAP:.0f}",
        lambda obs: _days(obs.days_since_payment),
    ),
    Feature(
        "paid_since_statement",
        "1 when a payment arrived since the last statement, else 0",
        lambda obs: (obs.days_since_payment <= obs.days_since_statement).astype(float),
    ),
    Feature(
        "portal_logins",
        "portal logins over the last cycle, capped at 10, / 10",
        lambda obs: _count(obs.portal_logins, 10),
    ),
    Feature("spend_change", "change in card spend against the usual (-1 to 1)", lambda obs: obs.spend_change, low=-1.0),
    *(
        _flag(name)
        for name in (
            "placed_with_agency",
            "on_hold",
            "stop_contact",
            "hardship_disclosed",
            "promise_pending",
            "on_plan",
            "disputed",
        )
    ),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
FEATURE_LOW = np.array([f.low for f in FEATURES], dtype=np.float32)
FEATURE_HIGH = np.array([f.high for f in FEATURES], dtype=np.float32)


def feature_matrix(obs: Observation, index: np.ndarray | None = None) -> np.ndarray:
    """Return the features of every account (or of the accounts at ``index``), shape (n, len(FEATURES)), float32.

    Every value lies within ``[FEATURE_LOW, FEATURE_HIGH]``.
    """
    matrix = np.empty((obs.n_accounts, len(FEATURES)), dtype=np.float32)
    for column, feature in enumerate(FEATURES):
        matrix[:, column] = feature.transform(obs)
    if index is not None:
        matrix = matrix[index]
    return np.clip(matrix, FEATURE_LOW, FEATURE_HIGH)
