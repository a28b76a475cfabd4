"""Invariants of the model that hold for any scenario, waterfall and seed, checked with hypothesis.

Each example draws changes to the default scenario, a policy (a shipped one or a random waterfall), a seed and a small
portfolio. Generation is derandomized and uses no example database, so every run of the suite tries the same
examples. A failure prints the drawn :class:`Case`, which :func:`run_case` replays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import policies
from policies import Waterfall
from sim import Scenario, SimulationResult, simulate
from sim.scenario import CHANNELS, FRAMINGS, MAX_CYCLES_PAST_DUE, deep_merge

# Examples take 0.05-1.4 s each at these portfolio sizes; the whole file took about 30 s on a shared 2-core machine.
PROPERTY_SETTINGS = settings(max_examples=12, deadline=None, derandomize=True, database=None)

DEFAULT_SCENARIO = Scenario.load("default")
# Every column of model.ledger_cents() that is not a credit is a debit, so a new debit column joins the identity.
LEDGER_CREDITS = ("opening_balance", "interest", "fees")
LEDGER_DEBITS = ("paid", "discounts", "written_off", "outstanding")
WEEK_DAYS = 7
CALL_CAP_PER_WEEK = 7  # Regulation F, 12 CFR 1006.14(b)(2): at most 7 call attempts in 7 days
DAYS_AFTER_CONVERSATION = 7  # ... and no call for 7 days after a telephone conversation


@dataclass(frozen=True)
class Case:
    """One drawn example: changes to the default scenario, a policy, a seed and a portfolio size.

    ``policy`` is a shipped policy name or a waterfall mapping for :meth:`Waterfall.from_dict`.
    """

    scenario_changes: dict[str, Any]
    policy: str | dict[str, Any]
    seed: int
    n_accounts: int
    days: int

    def scenario(self) -> Scenario:
        data = deep_merge(DEFAULT_SCENARIO.model_dump(), self.scenario_changes)
        # The drawn mix replaces the default mix whole, because a merged mix would no longer sum to 1.
        mix = self.scenario_changes.get("portfolio", {}).get("initial_cycles_past_due")
        if mix is not None:
            data["portfolio"]["initial_cycles_past_due"] = mix
        return Scenario.model_validate(data)

    def build_policy(self):
        if isinstance(self.policy, str):
            return policies.load(self.policy)
        # Random cadences often clash with the guard on purpose, so the warnings about them are left out.
        return Waterfall.from_dict(self.policy, warn=False)


def run_case(case: Case, trace: bool = False) -> SimulationResult:
    return simulate(
        case.scenario(),
        case.build_policy(),
        n_accounts=case.n_accounts,
        days=case.days,
        seed=case.seed,
        trace=trace,
    )


# -- strategies -----------------------------------------------------------------------------------------------------

probabilities = st.floats(min_value=0.0, max_value=1.0)
costs = st.floats(min_value=0.0, max_value=20.0)


@st.composite
def scenario_changes(draw) -> dict[str, Any]:
    """Draw changes to the default scenario: call centre, channels, response, initial mix and account terms."""
    shift_start = draw(st.integers(min_value=8, max_value=20))
    shift_end = draw(st.integers(min_value=shift_start + 1, max_value=21))
    # NOTE: no-contact attempts are drawn no longer than a conversation, because longer ones can overrun the shift
    # (see test_long_no_contact_call_stays_in_shift).
    minutes_right_party = draw(st.floats(min_value=1.0, max_value=30.0))
    minutes_no_contact = draw(st.floats(min_value=0.5, max_value=minutes_right_party))
    call_center = {
        "agents": draw(st.integers(min_value=0, max_value=5)),
        "right_party_contact_probability": draw(probabilities),
        "shift_start_hour": float(shift_start),
        "shift_end_hour": float(shift_end),
        "minutes_right_party": minutes_right_party,
        "minutes_no_contact": minutes_no_contact,
    }

    channels = {}
    for name in DEFAULT_SCENARIO.channels:
        channels[name] = {"reach_probability": draw(probabilities), "cost": draw(costs)}
    channels["letter"]["delay_days"] = draw(st.integers(min_value=0, max_value=10))

    # One scale factor per debtor type, clipped so that every response probability stays within [0, 1].
    by_type = {}
    for debtor_type, row in DEFAULT_SCENARIO.response.by_type.items():
        scale = draw(st.floats(min_value=0.0, max_value=10.0))
        by_type[debtor_type] = {channel: min(1.0, p * scale) for channel, p in row.items()}

    # Integer weights per cycles-past-due state; the main state gets one more, so the mix never sums to 0.
    weights = draw(
        st.lists(
            st.integers(min_value=0, max_value=10),
            min_size=MAX_CYCLES_PAST_DUE + 1,
            max_size=MAX_CYCLES_PAST_DUE + 1,
        )
    )
    weights[draw(st.sampled_from([1, 0, 2, 3, 4, 5, 6]))] += 1
    total = sum(weights)
    initial_mix = {state: weight / total for state, weight in enumerate(weights) if weight > 0}

    return {
        "call_center": call_center,
        "channels": channels,
        "response": {"by_type": by_type, "repeat_decay": draw(probabilities)},
        "portfolio": {
            "initial_cycles_past_due": initial_mix,
            "late_fee": draw(st.floats(min_value=0.0, max_value=100.0)),
            "annual_interest_rate": draw(probabilities),
            "minimum_payment_rate": draw(probabilities),
        },
    }


# Waterfall actions other than contacts and agency placements, as treatment fields.
OTHER_ACTIONS = (
    *({"action": "settlement", "discount": discount} for discount in (0.1, 0.25, 0.4, 0.5)),
    *({"action": "plan", "instalments": instalments} for instalments in (3, 6, 12)),
    {"action": "hardship_hold"},
    {"action": "sell"},
    {"action": "write_off"},
    {"action": "portal"},
)


@st.composite
def treatments(draw) -> dict[str, Any]:
    """Draw a treatment: mostly a contact, one time in ten an agency placement and one in ten another action
    (settlement, plan, hold, sale, write-off, portal link).

    Calls come first and cadences of 1-3 days are favoured, so that examples reach the compliance guard and the call
    centre's capacity.
    """
    treatment: dict[str, Any] = {"start": draw(st.integers(min_value=0, max_value=40))}
    every = draw(st.integers(min_value=1, max_value=3) | st.integers(min_value=1, max_value=30) | st.none())
    if every is not None:
        treatment["every"] = every
    kind = draw(st.integers(min_value=0, max_value=9))
    if kind == 8:
        treatment["action"] = "agency"
    elif kind == 9:
        treatment.update(draw(st.sampled_from(OTHER_ACTIONS)))
    else:
        treatment["channel"] = draw(st.sampled_from(["call", *(c for c in CHANNELS if c != "call")]))
        treatment["framing"] = draw(st.sampled_from(FRAMINGS))
    return treatment


@st.composite
def waterfall_specs(draw, call_heavy: bool = False) -> dict[str, Any]:
    """Draw a waterfall mapping of up to 4 adjacent DPD stages within 0..179, listed in random order.

    Stages leave no DPD gap between them, as the waterfall schema requires. With ``call_heavy``, there is at least one
    stage and each opens with a call every 1 or 2 days, so that calls queue beyond the call centre's capacity.
    """
    stages = []
    low = draw(st.integers(min_value=0, max_value=60))
    for _ in range(draw(st.integers(min_value=1 if call_heavy else 0, max_value=4))):
        if low > 179:
            break
        high = min(179, low + draw(st.integers(min_value=0, max_value=89)))
        stage_treatments = draw(st.lists(treatments(), max_size=3))
        if call_heavy:
            stage_treatments.insert(0, {"channel": "call", "every": draw(st.integers(min_value=1, max_value=2))})
        stages.append({"dpd": [low, high], "treatments": stage_treatments})
        low = high + 1
    return {"name": "random_waterfall", "stages": draw(st.permutations(stages))}


def case_strategy(policy: st.SearchStrategy) -> st.SearchStrategy[Case]:
    return st.builds(
        Case,
        scenario_changes=scenario_changes(),
        policy=policy,
        seed=st.integers(min_value=0, max_value=2**32 - 1),
        n_accounts=st.integers(min_value=50, max_value=400),
        days=st.integers(min_value=30, max_value=200),
    )


cases = case_strategy(
    st.sampled_from(policies.shipped_policies()) | waterfall_specs() | waterfall_specs(call_heavy=True)
)
# For the call rules and the call centre: shipped policies that call, or call-heavy random waterfalls.
call_cases = case_strategy(st.sampled_from(["standard", "digital_first"]) | waterfall_specs(call_heavy=True))


# -- properties -----------------------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(case=cases)
def test_ledger_identity_to_the_cent(case):
    cents = run_case(case).model.ledger_cents()
    missing = [column for column in (*LEDGER_CREDITS, *LEDGER_DEBITS) if column not in cents]
    assert not missing, f"ledger_cents() lacks the columns {missing}"

    debits = [column for column in cents if column not in LEDGER_CREDITS]
    left = sum(cents[column] for column in LEDGER_CREDITS)
    right = sum(cents[column] for column in debits)
    mismatched = np.flatnonzero(left != right)
    assert mismatched.size == 0, (
        f"{mismatched.size} accounts break {' + '.join(LEDGER_CREDITS)} = {' + '.join(debits)}, "
        f"first: {mismatched[:5]}, off by {(left - right)[mismatched[:5]]} cents"
    )


@PROPERTY_SETTINGS
@given(case=cases)
def test_no_negative_amounts(case):
    result = run_case(case, trace=True)
    accounts = result.accounts

    negative_balance = accounts.loc[accounts["balance"] < 0, "account"].to_numpy()
    assert negative_balance.size == 0, f"accounts with a negative balance: {negative_balance[:5]}"
    negative_arrears = accounts.loc[accounts["past_due"] < 0, "account"].to_numpy()
    assert negative_arrears.size == 0, f"accounts with negative arrears: {negative_arrears[:5]}"

    for column, values in result.model.ledger_cents().items():
        negative = np.flatnonzero(values < 0)
        assert negative.size == 0, f"ledger column {column} is negative for accounts {negative[:5]}"

    payments = result.payments
    negative_payments = payments[payments["amount"] < 0]
    assert negative_payments.empty, f"negative payments:\n{negative_payments.head()}"


@PROPERTY_SETTINGS
@given(case=cases)
def test_no_payment_after_resolution(case):
    result = run_case(case, trace=True)
    accounts = result.accounts

    active = accounts["status"] == "active"
    resolved_while_active = accounts.loc[active & (accounts["resolved_day"] != -1), "account"].to_numpy()
    assert resolved_while_active.size == 0, f"active accounts with a resolved_day: {resolved_while_active[:5]}"
    resolved = accounts.loc[~active]
    unrecorded = resolved.loc[resolved["resolved_day"] < 0, "account"].to_numpy()
    assert unrecorded.size == 0, f"resolved accounts without a resolved_day: {unrecorded[:5]}"

    payments = result.payments.merge(accounts[["account", "resolved_day"]], on="account")
    late = payments[(payments["resolved_day"] >= 0) & (payments["day"] > payments["resolved_day"])]
    assert late.empty, f"payments after the account was resolved:\n{late.head()}"


@PROPERTY_SETTINGS
@given(case=call_cases)
def test_no_compliance_rule_broken(case):
    result = run_case(case, trace=True)
    contacts = result.contacts
    # A run without contacts gives an empty action column of floats (see test_contacts_action_is_text_when_empty).
    contacts = contacts.assign(action=contacts["action"].astype(str))

    calls = contacts[contacts["action"].str.startswith("call") & contacts["sent"].astype(bool)]
    for account, group in calls.groupby("account"):
        days = np.sort(group["day"].to_numpy())
        # Any 8 consecutive calls must span at least 7 days, or some 7-day window contains 8 of them.
        # NOTE: an account gets at most one action a day, so no account can reach 8 calls in 7 days, guard or not.
        if len(days) > CALL_CAP_PER_WEEK:
            spans = days[CALL_CAP_PER_WEEK:] - days[:-CALL_CAP_PER_WEEK]
            assert spans.min() >= WEEK_DAYS, f"account {account} has 8 calls within 7 days: {days.tolist()}"
        for conversation_day in group.loc[group["reached"].astype(bool), "day"]:
            too_soon = days[(days > conversation_day) & (days < conversation_day + DAYS_AFTER_CONVERSATION)]
            assert too_soon.size == 0, (
                f"account {account} was called on day {too_soon[0]}, within 7 days after a conversation on day "
                f"{conversation_day}"
            )

    placements = contacts[contacts["action"] == "agency"]
    placed = result.accounts.loc[result.accounts["placed_with_agency"], "account"]
    assert sorted(placements["account"]) == sorted(placed), "agency rows in contacts differ from placed_with_agency"
    placement_day = placements.set_index("account")["day"]
    later = contacts[contacts["account"].isin(placement_day.index) & (contacts["action"] != "agency")]
    later = later[later["day"].to_numpy() >= placement_day.loc[later["account"]].to_numpy()]
    assert later.empty, f"contacts on or after the agency placement:\n{later.head()}"


@PROPERTY_SETTINGS
@given(case=call_cases)
def test_call_capacity_never_exceeded(case):
    result = run_case(case)
    centre = result.model.scenario.call_center
    daily = result.daily
    shift_minutes = (centre.shift_end_hour - centre.shift_start_hour) * 60

    assert result.model.peak_agents_busy <= centre.agents
    over_capacity = daily[daily["agent_minutes"] > centre.agents * shift_minutes + 1e-9]
    assert over_capacity.empty, (
        f"agent minutes above {centre.agents} agents x {shift_minutes} min:\n{over_capacity[['day', 'agent_minutes']]}"
    )
    unbalanced = daily[daily["calls_handled"] + daily["calls_unplaced"] != daily["calls_requested"]]
    assert unbalanced.empty, f"days where handled + unplaced != requested:\n{unbalanced.head()}"


# -- regressions: the smallest examples of defects the properties found ----------------------------------------


@pytest.mark.parametrize(
    ("portfolio_changes", "n_accounts", "days", "seed"),
    [
        # A minimum payment of half the balance: one cure from 1 cycle past due repays everything.
        ({"minimum_payment_rate": 0.5, "initial_cycles_past_due": {1: 1.0}}, 1, 21, 26),
        # The default scenario: account 1785 is 5 cycles behind on the $10 minimum-payment floor, so its balance is
        # raised to 6 x $10, and one cure before day 0 repays all of it.
        ({}, 1_786, 23, 188),
    ],
)
def test_no_zero_balance_at_start(portfolio_changes, n_accounts, days, seed):
    case = Case({"portfolio": portfolio_changes}, "do_nothing", seed, n_accounts, days)
    result = run_case(case, trace=True)

    empty = result.ledger.loc[result.ledger["opening_balance"] <= 0, "account"].to_numpy()
    assert empty.size == 0, f"accounts that open with no balance: {empty[:5]}"
    payments = result.payments
    zero = payments[payments["amount"] == 0]
    assert zero.empty, f"payments of 0.00:\n{zero.head()}"


# One agent on a one-hour shift, with no-contact attempts twice as long as a conversation.
LONG_NO_CONTACT_CALL_CENTER = {
    "agents": 1,
    "shift_start_hour": 9.0,
    "shift_end_hour": 10.0,
    "minutes_right_party": 10.0,
    "minutes_no_contact": 20.0,
}


def test_call_center_rejects_long_no_contact_calls():
    """Calls are dialled while a conversation still fits the shift, so no attempt may be longer than one."""
    with pytest.raises(ValidationError):
        Case({"call_center": LONG_NO_CONTACT_CALL_CENTER}, "do_nothing", seed=0, n_accounts=1, days=1).scenario()


def test_contacts_action_is_text_when_empty():
    case = Case({}, "do_nothing", seed=0, n_accounts=50, days=1)
    contacts = run_case(case, trace=True).contacts
    assert contacts.empty
    assert pd.api.types.is_string_dtype(contacts["action"]), f"action column has dtype {contacts['action'].dtype}"


def test_cycles_past_due_match_integer_ceiling():
    from sim.engine import PortfolioModel

    rng = np.random.default_rng(11)
    model = PortfolioModel.__new__(PortfolioModel)  # only the two arrays are read
    installment = rng.integers(1, 2**40, size=200_000)
    # Exact multiples, one cent either side of them, and arbitrary amounts, up to about 2**52 cents.
    multiple = rng.integers(0, 2**12, size=200_000) * installment
    model.installment = np.concatenate([installment] * 4)
    model.past_due = np.concatenate(
        [multiple, multiple + 1, np.maximum(multiple - 1, 0), rng.integers(0, 2**52, 200_000)]
    )
    expected = -(-model.past_due // model.installment)
    np.testing.assert_array_equal(model._cycles_past_due(), expected)
