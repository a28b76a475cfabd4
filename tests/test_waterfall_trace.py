"""A waterfall that uses every construct of the language behaves as written, checked on an account-level trace."""

from __future__ import annotations

import pytest

from policies import Waterfall
from sim import simulate

EVERY_CONSTRUCT = {
    "name": "every_construct",
    "description": "One of each: segments, cadences, one-off treatments, offers, holds, sale, write-off, exits.",
    "exit": ["promise_pending", "on_plan", "paid_since_statement"],
    "score": "early_warning",
    "stages": [
        {
            "name": "pre-due reminder to risky current accounts",
            "dpd": [0, 0],
            "segment": {"risk_score": [0.05, None]},
            "treatments": [{"channel": "sms", "framing": "active_choice", "cycle_day": 20}],
        },
        {
            "name": "small early",
            "dpd": [1, 29],
            "segment": {"balance": [None, 499.99]},
            "treatments": [
                {"channel": "sms", "framing": "social_norm", "start": 2, "every": 5},
                {"action": "portal", "start": 4, "every": 10},
            ],
        },
        {
            "name": "large early",
            "dpd": [1, 29],
            "segment": {"balance": [500, None]},
            "treatments": [
                {"channel": "call", "framing": "pledge", "start": 0, "every": 7},
                {"channel": "email", "framing": "personalised", "start": 3, "every": 7},
            ],
        },
        {
            "name": "middle",
            "dpd": [30, 90],
            "treatments": [
                {"action": "plan", "instalments": 6, "start": 1},
                {"channel": "letter", "framing": "active_choice", "start": 5, "every": 20},
                {"action": "hardship_hold", "start": 40},
            ],
        },
        {
            "name": "late",
            "dpd": [91, 179],
            "treatments": [
                {"action": "settlement", "discount": 0.25, "start": 0, "every": 10},
                {"action": "agency", "start": 25},
                {"action": "sell", "start": 55},
                {"action": "write_off", "start": 85},
            ],
        },
    ],
}


class Recorder:
    """Pass decisions through to a waterfall and keep every observation it receives."""

    def __init__(self, waterfall: Waterfall) -> None:
        self.waterfall = waterfall
        self.name = waterfall.name
        self.seen = {}

    def decide(self, obs):
        self.seen[obs.day] = obs
        return self.waterfall.decide(obs)


@pytest.fixture(scope="module")
def traced(default_scenario):
    portfolio = default_scenario.portfolio.model_copy(
        update={"initial_cycles_past_due": {1: 0.4, 2: 0.2, 3: 0.2, 4: 0.1, 5: 0.05, 6: 0.05}}
    )
    scenario = default_scenario.model_copy(update={"portfolio": portfolio})
    waterfall = Waterfall.from_dict(EVERY_CONSTRUCT, warn=False)
    recorder = Recorder(waterfall)
    result = simulate(scenario, recorder, n_accounts=3_000, days=150, seed=17, trace=True)
    return waterfall, result, recorder.seen


def expected_actions(spec, dpd: int, balance: float, risk_score: float, days_since_statement: int) -> list[str]:
    """Every action the spec allows to an account in this state, in listed order (the first firing one wins)."""
    values = {"balance": balance, "risk_score": risk_score}
    names = []
    for stage in spec.stages:
        low, high = stage.dpd
        in_segment = all(lo <= values[key] <= hi for key, (lo, hi) in stage.segment.bands().items())
        if not (low <= dpd <= high and in_segment):
            continue
        for treatment in stage.treatments:
            if treatment.cycle_day is not None:
                fires = days_since_statement == treatment.cycle_day
            else:
                offset = dpd - low - treatment.start
                fires = offset == 0 if treatment.every is None else offset >= 0 and offset % treatment.every == 0
            if fires:
                names.append(treatment.action_index)
    return names


def test_every_action_matches_its_rule(traced):
    waterfall, result, seen = traced
    actions = result.actions
    assert len(actions) > 1_000
    from sim.catalogue import ACTIONS

    scores = {day: waterfall.score.score(obs) for day, obs in seen.items()}
    for row in actions.itertuples():
        obs = seen[row.day]
        assert not obs.paid_since_statement[row.account], f"day {row.day} account {row.account} paid since statement"
        state = (row.dpd, row.balance, scores[row.day][row.account], obs.days_since_statement[row.account])
        allowed = expected_actions(waterfall.spec, *state)
        assert allowed, f"day {row.day} account {row.account}: {row.action} at DPD {row.dpd} matches no treatment"
        # The guard may block the first firing treatment, never replace it by another one.
        assert ACTIONS[allowed[0]].name == row.action, (row, [ACTIONS[a].name for a in allowed])


def test_every_construct_is_exercised(traced):
    _, result, _ = traced
    kinds = set(result.actions["action"])
    expected = {
        "sms:active_choice",
        "sms:social_norm",
        "portal",
        "call:pledge",
        "email:personalised",
        "plan:6",
        "letter:active_choice",
        "hardship_hold",
        "settlement:25",
        "agency",
        "sell",
    }
    assert expected <= kinds, expected - kinds
    # Segments route by balance: no call below 500, no SMS from 500 up.
    calls = result.actions[result.actions["action"] == "call:pledge"]
    sms = result.actions[result.actions["action"] == "sms:social_norm"]
    assert (calls["balance"] >= 500).all()
    assert (sms["balance"] < 500).all()


def test_outcomes_follow_the_actions(traced):
    _, result, _ = traced
    accounts = result.accounts.set_index("account")
    actions = result.actions
    sold = actions.loc[actions["action"] == "sell", "account"]
    assert (accounts.loc[sold, "status"] == "sold").all()
    placed = actions.loc[actions["action"] == "agency", ["account", "day"]]
    assert accounts.loc[placed["account"], "placed_with_agency"].all()
    # Nothing happens to an account after it is placed with the agency or leaves the book.
    for account, day in placed.itertuples(index=False):
        later = actions[(actions["account"] == account) & (actions["day"] > day)]
        assert later.empty, f"account {account} got {later['action'].tolist()} after placement on day {day}"
    # Exit rules: no action while a promise is pending or a plan runs, and both situations occur.
    assert not actions["promise_pending"].any()
    assert not actions["on_plan"].any()
    assert result.model.promises_made.sum() > 0
    assert result.model.plan_counts["accepted"] > 0
