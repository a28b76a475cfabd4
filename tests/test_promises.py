"""Promises to pay: a payment made since the conversation fulfils the promise, even across a statement."""

from __future__ import annotations

import numpy as np

from sim.catalogue import contact_action
from sim.engine import PortfolioModel
from sim.scenario import Scenario

N_ACCOUNTS = 200
DAYS = 10


class _CallOnDayZero:
    """Call every account on day 0 and do nothing afterwards."""

    name = "call_on_day_zero"
    observed_fields = None

    def decide(self, obs):
        actions = np.zeros(obs.n_accounts, dtype=np.int64)
        if obs.day == 0:
            actions[:] = contact_action("call")
        return actions


def _promise_scenario() -> Scenario:
    """Forgetful debtors who never pay untreated: every call is a conversation, prompts a payment and a kept promise."""
    never_pay = {s: [0.0] * 8 for s in range(7)}
    for s in range(7):
        never_pay[s][s + 1] = 1.0
    return Scenario.model_validate(
        {
            "debtor_types": {"forgetful": 1.0},
            "present_bias": [1.0, 1.0],
            "portfolio": {"initial_cycles_past_due": {1: 1.0}},
            "transitions": {"monthly": never_pay, "full_payoff_share": dict.fromkeys(range(7), 0.0)},
            "response": {"by_type": {"forgetful": {"call": 1.0}}},
            "promises": {"promise_probability": {"forgetful": 1.0}, "keep_probability": {"forgetful": 1.0}},
            "call_center": {"right_party_contact_probability": 1.0, "agents": 50},
        }
    )


def test_promise_paid_once_across_statement():
    model = PortfolioModel(_promise_scenario(), _CallOnDayZero(), n_accounts=N_ACCOUNTS, days=DAYS, seed=0, trace=True)
    model.run()
    payments = model.payments_frame()

    # Every debtor paid on the call day and promised, and some accounts had a statement after the call.
    assert set(payments.loc[payments.day == 0, "account"]) == set(range(N_ACCOUNTS))
    assert model.promises_made.sum() == N_ACCOUNTS
    assert (model.last_statement > 0).any()
    # Debtors who never pay untreated make no payment after the call: the call-day payment fulfilled the promise.
    later = payments[payments.day > 0]
    assert later.empty, later.head().to_dict("records")
