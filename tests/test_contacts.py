"""Contact costs and call-centre capacity."""

from __future__ import annotations

import numpy as np

from policies import Waterfall
from sim import simulate

CALL_EVERY_DAY = {
    "name": "call_everyone",
    "stages": [{"dpd": [1, 179], "treatments": [{"channel": "call", "every": 1}]}],
}


def test_do_nothing_costs_nothing(default_scenario):
    result = simulate(default_scenario, "do_nothing", n_accounts=2_000, days=120, seed=1)
    metrics = result.metrics.iloc[0]
    assert metrics["contact_cost"] == 0.0
    assert metrics["total_cost"] == 0.0
    assert metrics["contacts_per_account"] == 0.0
    assert result.daily["contacts"].sum() == 0
    assert (result.accounts["contact_cost"] == 0.0).all()


def test_contacts_cost_what_the_scenario_says(default_scenario):
    letters = simulate(default_scenario, "letters_only", n_accounts=2_000, days=120, seed=1)
    letter_cost = default_scenario.channels["letter"].cost
    sent = letters.accounts["contacts"].sum()
    assert sent > 0
    assert letters.metrics.at[0, "contact_cost"] == np.float64(sent * letter_cost)


def test_calls_never_exceed_agent_capacity(default_scenario):
    centre = default_scenario.call_center.model_copy(update={"agents": 2})
    scenario = default_scenario.model_copy(update={"call_center": centre})
    result = simulate(scenario, Waterfall.from_dict(CALL_EVERY_DAY, warn=False), n_accounts=3_000, days=30, seed=2)
    daily = result.daily
    shift_minutes = (centre.shift_end_hour - centre.shift_start_hour) * 60
    assert result.model.peak_agents_busy == 2
    assert (daily["agent_minutes"] <= 2 * shift_minutes + 1e-9).all()
    # Demand far above capacity: the unplaced calls are counted, and handled + unplaced = requested.
    assert daily["calls_unplaced"].sum() > 0
    assert (daily["calls_handled"] + daily["calls_unplaced"] == daily["calls_requested"]).all()
    assert result.metrics.at[0, "calls_unplaced"] == daily["calls_unplaced"].sum()
    # With the queue always long, agents are busy nearly the whole shift.
    assert daily["agent_minutes"].iloc[5:].min() > 0.95 * 2 * shift_minutes


def test_regulation_f_call_cap(default_scenario):
    """No account gets more than 7 calls in any 7 days, nor a call within 7 days after a conversation."""
    result = simulate(
        default_scenario, Waterfall.from_dict(CALL_EVERY_DAY, warn=False), n_accounts=500, days=40, seed=3, trace=True
    )
    calls = result.contacts[result.contacts["action"].str.startswith("call") & result.contacts["sent"]]
    metrics = result.metrics.iloc[0]
    assert metrics["blocked_call_cap_7_days"] + metrics["blocked_call_after_conversation"] > 0
    assert len(calls) > 0
    for account, group in calls.groupby("account"):
        days = np.sort(group["day"].to_numpy())
        # Any 8 consecutive calls span at least 7 days, so no 7-day window contains more than 7.
        if len(days) > 7:
            assert (days[7:] - days[:-7]).min() >= 7, f"account {account} has 8 calls within 7 days"
        conversations = group.loc[group["reached"], "day"].to_numpy()
        for day in conversations:
            too_soon = days[(days > day) & (days < day + 7)]
            assert too_soon.size == 0, f"account {account} called on day {too_soon[0]} after a conversation on {day}"
    # Daily calls and no other limit: accounts never reached are called every day, the rest far less often.
    per_account = calls.groupby("account").size()
    assert per_account.max() == 40
    assert per_account.min() < 15


def test_hourly_staffing_caps_agent_time(default_scenario):
    blocks = [
        {"weekdays": [0, 1, 2, 3, 4], "start_hour": 9, "end_hour": 12, "agents": 2},
        {"weekdays": [0, 1, 2, 3, 4], "start_hour": 14, "end_hour": 17, "agents": 1},
        {"weekdays": [0], "start_hour": 15, "end_hour": 17, "agents": 1},
    ]
    centre = default_scenario.call_center.model_validate(
        {**default_scenario.call_center.model_dump(), "staffing": blocks}
    )
    scenario = default_scenario.model_copy(update={"call_center": centre})
    result = simulate(scenario, Waterfall.from_dict(CALL_EVERY_DAY, warn=False), n_accounts=3_000, days=14, seed=2)

    periods = result.model.call_centre.periods(0)
    assert periods == [(9, 12, 2), (14, 15, 1), (15, 17, 2)]
    assert result.model.call_centre.periods(5) == []  # Saturday: no agent on duty
    capacity = {0: (3 * 2 + 1 + 2 * 2) * 60, 1: (3 * 2 + 3) * 60, 5: 0, 6: 0}
    daily = result.daily.set_index("day")
    for day, row in daily.iterrows():
        weekday_capacity = capacity.get(day % 7, (3 * 2 + 3) * 60)
        assert row["agent_minutes"] <= weekday_capacity + 1e-9, day
    assert daily.loc[5, "calls_handled"] == 0
    assert daily.loc[5, "calls_unplaced"] > 0
    # Busy weekdays fill nearly every staffed minute.
    assert daily.loc[7, "agent_minutes"] > 0.9 * capacity[0]
    assert result.model.peak_agents_busy == 2


def test_reached_counts_same_either_gather(default_scenario, monkeypatch):
    """_reached_on gathers a window of the contact ring at once for few accounts and day by day for many. Both give
    the same counts."""
    import policies
    import sim.engine
    from sim.engine import PortfolioModel

    model = PortfolioModel(default_scenario, policies.load("aggressive"), n_accounts=400, days=40, seed=5)
    model.run()
    idx = np.random.default_rng(0).permutation(400)[:150]
    windows = (range(0, 7), range(1, 8), range(0, 30))
    one_gather = {window: model._reached_on(39, window, idx) for window in windows}
    monkeypatch.setattr(sim.engine, "_ONE_GATHER_MAX_ACCOUNTS", 0)
    for window, counts in one_gather.items():
        by_day = model._reached_on(39, window, idx)
        np.testing.assert_array_equal(counts, by_day)
        # Each (day, account) cell counted once: summing the ring directly gives the same.
        expected = sum(model.reached_ring[(39 - k) % sim.engine.WINDOW_DAYS][idx].astype(np.int64) for k in window)
        np.testing.assert_array_equal(by_day, expected)
    assert one_gather[range(0, 30)].sum() > one_gather[range(0, 7)].sum() > 0
