"""The call centre's shift against an independent queue computation."""

from __future__ import annotations

import heapq

import numpy as np
import pytest
import simpy

from sim.callcenter import HOURS_PER_DAY, CallCentre, ShiftLog
from sim.scenario import CallCenter

MINUTES_PER_DAY = HOURS_PER_DAY * 60.0


def expected_shift(centre: CallCentre, day: int, minutes: np.ndarray) -> tuple[int, float, int]:
    """Return the calls handled, agent minutes and peak agents busy, giving each queued call to the agent free first.

    A call starts only if a conversation starting then would end within its staffing period. The first call that
    cannot start closes the period for the calls behind it.
    """
    longest = centre.config.minutes_right_party / MINUTES_PER_DAY
    position, agent_minutes, peak = 0, 0.0, 0
    for start_hour, end_hour, staff in centre.periods(day):
        start, end = day + start_hour / HOURS_PER_DAY, day + end_hour / HOURS_PER_DAY
        free_at = [start] * staff
        intervals = []
        while position < len(minutes):
            now = heapq.heappop(free_at)
            if now + longest > end + 1e-12:
                break
            finish = now + minutes[position] / MINUTES_PER_DAY
            heapq.heappush(free_at, finish)
            intervals.append((now, finish))
            agent_minutes += float(minutes[position])
            position += 1
        # Calls in progress at once: a call that ends at the moment another starts is not counted twice.
        events = sorted([(finish, -1) for _, finish in intervals] + [(begin, 1) for begin, _ in intervals])
        busy = 0
        for _, change in events:
            busy += change
            peak = max(peak, busy)
    return position, agent_minutes, peak


def run_shift(centre: CallCentre, day: int, minutes: np.ndarray) -> ShiftLog:
    log = ShiftLog(handled=np.zeros(len(minutes), dtype=bool))
    centre.env.process(centre.shift(day, minutes, log))
    centre.env.run()
    return log


STAFFING = [
    {"agents": 3},
    {"agents": 1, "shift_start_hour": 9.0, "shift_end_hour": 9.5},
    {"agents": 40},
    {
        "staffing": [
            {"weekdays": [2], "start_hour": 9, "end_hour": 12, "agents": 2},
            {"weekdays": [2], "start_hour": 11, "end_hour": 14, "agents": 1},
            {"weekdays": [2], "start_hour": 16, "end_hour": 17, "agents": 4},
        ]
    },
    {"staffing": [{"weekdays": [0], "start_hour": 9, "end_hour": 17, "agents": 5}]},  # no agent on day 2
]


@pytest.mark.parametrize("settings", STAFFING)
@pytest.mark.parametrize("n_calls", [0, 1, 7, 60, 400])
def test_shift_matches_queue_computation(settings, n_calls):
    day = 2
    config = CallCenter(**settings)
    rng = np.random.default_rng(n_calls)
    minutes = np.where(rng.uniform(size=n_calls) < 0.26, config.minutes_right_party, config.minutes_no_contact)
    centre = CallCentre(simpy.Environment(initial_time=day + 8 / HOURS_PER_DAY), config)

    log = run_shift(centre, day, minutes)
    handled, agent_minutes, peak = expected_shift(centre, day, minutes)

    assert log.handled.sum() == handled
    assert log.handled[:handled].all()  # the calls handled are the front of the queue
    assert log.agent_minutes == agent_minutes
    assert log.peak_busy == peak
    assert peak <= max((agents for _, _, agents in centre.periods(day)), default=0)


def test_shift_leaves_calls_unplaced_when_capacity_ends():
    config = CallCenter(agents=1, shift_start_hour=9.0, shift_end_hour=10.0)
    centre = CallCentre(simpy.Environment(initial_time=8 / HOURS_PER_DAY), config)
    # Six 10-minute conversations fill the hour from 09:00, and a seventh could start only at 10:00.
    log = run_shift(centre, 0, np.full(8, 10.0))
    assert log.handled.tolist() == [True] * 6 + [False] * 2
    assert log.agent_minutes == 60.0
    assert log.peak_busy == 1
