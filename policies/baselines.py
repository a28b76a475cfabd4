"""Reference policies that are not waterfalls: a random baseline and an oracle that reads the latent state."""

from __future__ import annotations

import numpy as np

from sim.catalogue import ACTION_BY_NAME, N_ACTIONS, NO_ACTION, contact_action, plan_action, settlement_action
from sim.compliance import CLASS_ALLOWED, action_classes
from sim.observation import Observation
from sim.rng import Purpose
from sim.scenario import DEBTOR_TYPES

#: For each compliance class (:func:`sim.compliance.action_classes`): how many actions it allows, and those actions
#: in catalogue order, padded with the no-action.
_ALLOWED_COUNT = CLASS_ALLOWED.sum(axis=1)
_ALLOWED_IN_ORDER = np.array([np.pad(np.flatnonzero(row), (0, N_ACTIONS - row.sum())) for row in CLASS_ALLOWED])


class RandomPolicy:
    """Each day, each account gets an action drawn uniformly from those the compliance guard allows.

    A floor for any strategy, learned or designed. Draws are keyed by (seed, account, day), so the policy is
    reproducible and shares common random numbers with the model's own draws.
    """

    name = "random"
    description = "Uniformly random among the actions the compliance guard allows, each day, for each account."

    def bind(self, model) -> None:
        self.model = model

    def decide(self, obs: Observation) -> np.ndarray:
        classes = action_classes(obs, self.model.behaviour.settlement.cap)
        u = self.model.rng.uniform(obs.day, Purpose.POLICY)
        # The k-th allowed action of each account, k uniform in 0..count-1.
        k = np.floor(u * _ALLOWED_COUNT[classes]).astype(np.int64)
        return _ALLOWED_IN_ORDER[classes, k]


class OracleUpperBound:
    """A research benchmark that treats each debtor by their latent type, which no real lender can see.

    Never offer it as a recommendation. It applies fixed rules on top of perfect knowledge of who is forgetful,
    short of cash, in hardship, unwilling or unreachable. Despite its name it is no upper bound: on the default
    scenario the ``aggressive`` waterfall collects more. The exact optimum of the ``tiny`` scenario
    (``policies.exact``) is the bound to measure regret against.
    """

    name = "oracle_upper_bound"
    description = (
        "Research benchmark, never a recommendation, and despite its name no upper bound: reads each debtor's "
        "latent type and applies a fixed treatment per type (calls and reminders for the forgetful, plans and "
        "payday contacts for the short of cash, holds in hardship, calls and settlements for the unwilling, sale "
        "for the unreachable)."
    )

    def bind(self, model) -> None:
        self.model = model

    def decide(self, obs: Observation) -> np.ndarray:
        model = self.model
        debtor_type = model.debtor_type
        delinquent = obs.active & (obs.dpd > 0)
        days_since_sms = obs.days_since_contact[:, 1]
        days_since_call = obs.days_since_contact[:, 3]
        actions = np.full(obs.n_accounts, NO_ACTION, dtype=np.int64)

        def assign(mask: np.ndarray, action: int) -> None:
            actions[mask & (actions == NO_ACTION)] = action

        forgetful = delinquent & (debtor_type == DEBTOR_TYPES.index("forgetful"))
        assign(forgetful & (days_since_call >= 7), contact_action("call", "active_choice"))
        assign(forgetful & (days_since_sms >= 3), contact_action("sms", "active_choice"))

        # Debtors short of cash are worth contacting only just after a payday, when they have money.
        short = delinquent & (debtor_type == DEBTOR_TYPES.index("short_of_cash"))
        has_money = model.behaviour.payday.has_money(obs.day, model.payday_phase, model.pay_period)
        assign(short & (obs.dpd >= 30) & ~obs.on_plan & (obs.dpd % 30 == 0), plan_action(12))
        assign(short & has_money & (days_since_call >= 7), contact_action("call", "active_choice"))
        assign(short & has_money & (days_since_sms >= 2), contact_action("sms", "active_choice"))

        hardship = delinquent & (debtor_type == DEBTOR_TYPES.index("hardship"))
        assign(hardship & ~obs.on_hold & (obs.dpd < 90), ACTION_BY_NAME["hardship_hold"])

        unwilling = delinquent & (debtor_type == DEBTOR_TYPES.index("unwilling"))
        assign(unwilling & (obs.dpd >= 151) & (obs.dpd % 10 == 1), settlement_action(0.5))
        assign(unwilling & (obs.dpd >= 91) & (obs.dpd % 10 == 1), settlement_action(0.25))
        assign(unwilling & (days_since_call >= 7), contact_action("call", "active_choice"))

        unreachable = delinquent & (debtor_type == DEBTOR_TYPES.index("unreachable"))
        assign(unreachable & (obs.dpd >= 150), ACTION_BY_NAME["sell"])
        return actions
