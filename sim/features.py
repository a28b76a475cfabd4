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

from sim.observation import OBSERVATION_FIELDS, Observation
from sim.scenario import CHANNELS

#: Money is scaled as log1p(amount) / log1p(MONEY_SCALE), so amounts up to MONEY_SCALE map into [0, 1].
MONEY_SCALE = 1_000_000.0
#: Day counts are capped here: "more than 90 days ago" is one value.
DAYS_CAP = 90.0


@dataclass(frozen=True)
class Feature:
    """One column of the feature table: ``value`` of each account, scaled as ``min(max(value, 0), cap) / cap``.

    A feature without a ``cap`` is ``value`` itself, already scaled.
    """

    name: str
    description: str
    value: Callable[[Observation], np.ndarray]
    cap: float | None = None
    low: float = 0.0
    high: float = 1.0


#: The divisor of the money features, computed once: numpy's call on a scalar costs about as much as on an array.
_LOG1P_MONEY_SCALE = np.log1p(MONEY_SCALE)


def _money(values: np.ndarray) -> np.ndarray:
    # np.minimum(np.maximum(...)) is np.clip with less overhead per call, which dominates for one account per step.
    return np.log1p(np.minimum(np.maximum(values, 0.0), MONEY_SCALE)) / _LOG1P_MONEY_SCALE


def _flag(name: str) -> Feature:
    return Feature(name, f"1 when {name.replace('_', ' ')}, else 0", lambda obs: getattr(obs, name), cap=1.0)


def _days_since_contact(channel: int) -> Feature:
    name = CHANNELS[channel]
    return Feature(
        f"days_since_{name}",
        f"days since the last {name} sent, capped at {DAYS_CAP:.0f}, / {DAYS_CAP:.0f}",
        lambda obs: obs.days_since_contact[:, channel],
        cap=DAYS_CAP,
    )


FEATURES: tuple[Feature, ...] = (
    Feature("dpd", "days past due, capped at 360, / 360", lambda obs: obs.dpd, cap=360.0),
    Feature(
        "cycles_past_due", "unpaid minimum payments, capped at 12, / 12", lambda obs: obs.cycles_past_due, cap=12.0
    ),
    Feature("balance", "log1p(balance) / log1p(1e6)", lambda obs: _money(obs.balance)),
    Feature("past_due", "log1p(amount past due) / log1p(1e6)", lambda obs: _money(obs.past_due)),
    Feature("credit_limit", "log1p(credit limit) / log1p(1e6)", lambda obs: _money(obs.credit_limit)),
    Feature(
        "utilisation",
        "balance / credit limit, capped at 2, / 2",
        lambda obs: obs.balance / np.maximum(obs.credit_limit, 1.0),
        cap=2.0,
    ),
    *(_days_since_contact(c) for c in range(len(CHANNELS))),
    Feature("calls_last_7_days", "call attempts in the last 7 days / 7", lambda obs: obs.calls_last_7_days, cap=7.0),
    Feature(
        "days_since_conversation",
        f"days since the last right-party conversation, capped at {DAYS_CAP:.0f}, / {DAYS_CAP:.0f}",
        lambda obs: obs.days_since_conversation,
        cap=DAYS_CAP,
    ),
    Feature("complaints", "complaints so far, capped at 5, / 5", lambda obs: obs.complaints, cap=5.0),
    Feature(
        "days_since_statement",
        "days since the last statement / 30",
        lambda obs: obs.days_since_statement,
        cap=30.0,
    ),
    Feature(
        "days_since_payment",
        f"days since the last payment, capped at {DAYS_CAP:.0f}, / {DAYS_CAP:.0f}",
        lambda obs: obs.days_since_payment,
        cap=DAYS_CAP,
    ),
    Feature(
        "paid_since_statement",
        "1 when a payment arrived since the last statement, else 0",
        lambda obs: obs.days_since_payment <= obs.days_since_statement,
        cap=1.0,
    ),
    Feature(
        "portal_logins",
        "portal logins over the last cycle, capped at 10, / 10",
        lambda obs: obs.portal_logins,
        cap=10.0,
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


#: Accounts scaled at once. It bounds the float64 scratch table at 25 x 65,536 x 8 bytes, about 13 MB.
_CHUNK_ROWS = 65_536
# Bounds and divisor of each feature's scaling, as columns that broadcast over a (len(FEATURES), n) table. A feature
# with a cap is clipped to [0, cap] and divided by it, which lands in [0, 1], within its FEATURE_LOW and FEATURE_HIGH
# (a test checks this). A feature without one is clipped to its bounds and divided by 1, which leaves it unchanged.
_FLOOR = np.array([[f.low if f.cap is None else 0.0] for f in FEATURES])
_CEILING = np.array([[f.high if f.cap is None else f.cap] for f in FEATURES])
_DIVISOR = np.array([[1.0 if f.cap is None else f.cap] for f in FEATURES])
#: Observation fields that the features read.
_FEATURE_FIELDS = tuple(name for name in OBSERVATION_FIELDS if name != "active")


def feature_matrix(obs: Observation, index: np.ndarray | None = None) -> np.ndarray:
    """Return the features of every account (or of the accounts at ``index``), shape (n, len(FEATURES)), float32.

    Every value lies within ``[FEATURE_LOW, FEATURE_HIGH]``.
    """
    unobserved = [name for name in _FEATURE_FIELDS if getattr(obs, name) is None]
    if unobserved:
        raise ValueError(
            f"the observation lacks {', '.join(unobserved)}: its model observes only what its policy declares in "
            "observed_fields; call model.observe(day) for every field"
        )
    if index is not None:
        # Features are computed row by row, so the rows at index alone give the same values for less work.
        obs = obs.take(index)
    n = obs.n_accounts
    values = [feature.value(obs) for feature in FEATURES]
    matrix = np.empty((n, len(FEATURES)), dtype=np.float32)
    # The table has one feature per row, so that each feature is copied in contiguously, and the transposing copy
    # into ``matrix`` is one pass. At 100,000 accounts this took half the time of filling a table of one account per
    # row, whose 25 strided column writes dominated.
    scratch = None if n <= _CHUNK_ROWS else np.empty((len(FEATURES), _CHUNK_ROWS))
    for start in range(0, n, _CHUNK_ROWS):
        stop = min(start + _CHUNK_ROWS, n)
        width = stop - start
        if scratch is None:
            # One concatenation, which casts each feature to float64 as the row copies below do, in one call.
            table = np.concatenate(values, dtype=np.float64).reshape(len(FEATURES), n)
        else:
            table = scratch[:, :width]
            for row, value in enumerate(values):
                table[row] = value[start:stop]
        np.maximum(table, _FLOOR, out=table)
        np.minimum(table, _CEILING, out=table)
        # The division runs in float64 and writes each quotient, rounded to float32, into its account's row.
        np.divide(table, _DIVISOR, out=matrix[start:stop].T, casting="same_kind")
    return matrix
