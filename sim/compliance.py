"""The compliance guard's rules, as pure functions of the observable state, and the action mask they imply.

The simulator applies :func:`blocked_by_rule` to every policy's actions; :func:`allowed_actions` evaluates the same
rules for every catalogue action, for policies that choose only among allowed actions (random, learned).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sim.catalogue import ACTIONS, NO_ACTION
from sim.observation import Observation

CALL_CAP_PER_WEEK = 7  # Regulation F, 12 CFR 1006.14(b)(2): 7 call attempts in 7 days
DAYS_AFTER_CONVERSATION = 7  # ... and none for 7 days after a telephone conversation
#: Rules in the order they are checked; an action blocked by one rule is counted under that rule only.
RULES = ("breathing_space", "dispute", "stop_contact", "call_cap_7_days", "call_after_conversation", "settlement_cap")

_KIND = np.array([a.kind for a in ACTIONS])
_REACHES_DEBTOR = np.isin(_KIND, ("contact", "portal", "settlement", "plan"))
_IS_CALL = np.array([a.channel == "call" for a in ACTIONS])
_IS_SETTLEMENT = _KIND == "settlement"
_IS_HOLD = _KIND == "hardship_hold"
_DISCOUNT = np.array([a.discount for a in ACTIONS])


def blocked_by_rule(
    actions: np.ndarray,
    obs: Observation,
    settlement_cap: Callable[[np.ndarray], np.ndarray],
    index: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """For one action per account, which rule (if any) blocks it: one boolean array per rule in :data:`RULES`.

    No contact, offer, placement, sale or write-off during a hardship hold or breathing space (a new hold is
    allowed). No contact or offer while a dispute is validated, nor after a request to stop contact. Calls at most 7
    attempts in 7 days and none within 7 days after a conversation (Regulation F, 12 CFR 1006.14). No settlement
    discount above the cap of the account's DPD band.

    With ``index``, only the accounts at those positions are checked, and each array is aligned with ``index``.
    """

    def state(name: str, rows: np.ndarray | None = None) -> np.ndarray:
        """Return the observed ``name`` of the checked accounts, or of those at ``rows`` among them."""
        values = getattr(obs, name)
        if rows is not None:
            return values[rows if index is None else index[rows]]
        return values if index is None else values[index]

    if index is not None:
        actions = actions[index]
    acting = actions != NO_ACTION
    reaches_debtor = _REACHES_DEBTOR[actions]
    on_hold = acting & state("on_hold") & ~_IS_HOLD[actions]
    disputed = reaches_debtor & state("disputed") & ~on_hold
    stopped = reaches_debtor & state("stop_contact") & ~on_hold & ~disputed
    is_call = _IS_CALL[actions] & ~on_hold & ~disputed & ~stopped
    # Calls and offers are a small share of the actions, so their rules read the state of those accounts only.
    call_cap = np.zeros_like(is_call)
    after_conversation = np.zeros_like(is_call)
    calls = np.flatnonzero(is_call)
    if len(calls):
        capped = state("calls_last_7_days", calls) >= CALL_CAP_PER_WEEK
        call_cap[calls] = capped
        after_conversation[calls] = ~capped & (state("days_since_conversation", calls) < DAYS_AFTER_CONVERSATION)
    is_offer = _IS_SETTLEMENT[actions] & ~on_hold & ~disputed & ~stopped
    over_cap = is_offer.copy()
    offers = np.flatnonzero(is_offer)
    if len(offers):
        over_cap[offers] = _DISCOUNT[actions[offers]] > settlement_cap(state("dpd", offers)) + 1e-12
    return {
        "breathing_space": on_hold,
        "dispute": disputed,
        "stop_contact": stopped,
        "call_cap_7_days": call_cap,
        "call_after_conversation": after_conversation,
        "settlement_cap": over_cap,
    }


def allowed_actions(obs: Observation, settlement_cap: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Boolean mask (n_accounts, N_ACTIONS): the actions the guard would let through today.

    Resolved and agency-placed accounts allow only the no-action; the no-action is always allowed. The mask is the
    union of the rules of :func:`blocked_by_rule`, each evaluated once per account and broadcast over the actions
    (the order of the rules matters only for which rule a blocked action is counted under).
    """
    on_hold = obs.on_hold[:, None] & ~_IS_HOLD[None, :]
    no_contact = (obs.disputed | obs.stop_contact)[:, None] & _REACHES_DEBTOR[None, :]
    call_barred = (obs.calls_last_7_days >= CALL_CAP_PER_WEEK) | (obs.days_since_conversation < DAYS_AFTER_CONVERSATION)
    calls = call_barred[:, None] & _IS_CALL[None, :]
    over_cap = _IS_SETTLEMENT[None, :] & (_DISCOUNT[None, :] > settlement_cap(obs.dpd)[:, None] + 1e-12)
    open_accounts = obs.active & ~obs.placed_with_agency
    mask = open_accounts[:, None] & ~(on_hold | no_contact | calls | over_cap)
    mask[:, NO_ACTION] = True
    return mask
