"""The call centre: agents on one daily shift, each a SimPy process that dials queued calls.

Calls are dialled in queue order (the engine puts the largest past-due amount first). An agent dials only while a
full conversation would still end within the shift, because nobody can tell before dialling whether the right
party answers. The calls left in the queue are counted as unplaced, never dropped silently.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field

import numpy as np
import simpy

from sim.scenario import CallCenter

HOURS_PER_DAY = 24.0


@dataclass
class _Queue:
    """Today's calls in queue order, as handling times in days and in minutes, and the next call to dial."""

    durations: list[float]
    minutes: list[float]
    position: int = 0


@dataclass
class ShiftLog:
    """Outcome of one shift: which queued calls were handled, and the peak number of agents busy at once."""

    handled: np.ndarray
    agent_minutes: float = 0.0
    peak_busy: int = 0
    busy_now: int = field(default=0, repr=False)


class CallCentre:
    """The day's agents: :meth:`shift` yields the SimPy events of one day's calls, with one process per agent on
    duty. The day's process runs it (``yield from``), and a test may run it as a process of its own."""

    def __init__(self, env: simpy.Environment, config: CallCenter) -> None:
        self.env = env
        self.config = config

    def agents_on(self, day: int) -> int:
        """Most agents on duty at any hour of ``day``; day 0 is a Monday."""
        return max((agents for _, _, agents in self.periods(day)), default=0)

    def periods(self, day: int) -> list[tuple[float, float, int]]:
        """Return the day's staffing as (start hour, end hour, agents) periods of constant staffing, in time order."""
        config = self.config
        if config.staffing is None:
            agents = config.agents if config.agents_by_weekday is None else config.agents_by_weekday[day % 7]
            return [(config.shift_start_hour, config.shift_end_hour, agents)] if agents > 0 else []
        weekday = day % 7
        by_hour = [0] * 24
        for block in config.staffing:
            if weekday in block.weekdays:
                for hour in range(block.start_hour, block.end_hour):
                    by_hour[hour] += block.agents
        periods: list[tuple[float, float, int]] = []
        for hour, agents in enumerate(by_hour):
            if periods and periods[-1][2] == agents and periods[-1][1] == hour:
                periods[-1] = (periods[-1][0], hour + 1, agents)
            elif agents:
                periods.append((hour, hour + 1, agents))
        return [p for p in periods if p[2] > 0]

    def expected_calls(self, day: int) -> int:
        """Estimate how many call attempts the agents on shift can handle on ``day``.

        Staffed minutes of each period, less the last conversation's length (no call starts that could overrun the
        period), divided by the expected handling time of an attempt at the right-party contact rate. An estimate:
        the queue is dialled in order, so the real count varies with which attempts reach the right party.
        """
        config = self.config
        rpc = config.right_party_contact_probability
        minutes_per_attempt = rpc * config.minutes_right_party + (1.0 - rpc) * config.minutes_no_contact
        usable = sum(
            agents * max(0.0, (end - start) * 60.0 - config.minutes_right_party)
            for start, end, agents in self.periods(day)
        )
        return int(usable // minutes_per_attempt)

    def shift(self, day: int, minutes: np.ndarray, log: ShiftLog) -> Generator[simpy.Event, object, None]:
        """Dial calls of the given handling times (in queue order) through the day's staffed periods.

        In each period of constant staffing, every agent on duty is a SimPy process that, whenever free, dials the next
        call in the queue and is busy for its handling time. The calls therefore go in queue order to the agent who is
        free first, and a call waits until an agent is free. No more agents start than the period staffs, and every
        call ends within its period, so the agents on duty are never exceeded. Calls still queued when the last period
        ends are unplaced; the handled calls are always a prefix of the queue.
        """
        durations = minutes / (HOURS_PER_DAY * 60.0)
        queue = _Queue(durations=durations.tolist(), minutes=minutes.tolist())
        for start_hour, end_hour, staff in self.periods(day):
            if queue.position == len(queue.durations):
                break
            start, end = day + start_hour / HOURS_PER_DAY, day + end_hour / HOURS_PER_DAY
            if self.env.now < start:
                yield self.env.timeout(start - self.env.now)
            # An agent who would find the queue empty dials nothing, so no more agents start than calls remain.
            on_duty = min(staff, len(queue.durations) - queue.position)
            yield self.env.all_of([self.env.process(self._agent(end, queue, log)) for _ in range(on_duty)])

    def _agent(self, end: float, queue: _Queue, log: ShiftLog) -> Generator[simpy.Event, object, None]:
        """Dial calls from the queue until it is empty or too little of the period is left for a conversation."""
        longest_call = self.config.minutes_right_party / (HOURS_PER_DAY * 60.0)
        # Local names, because the loop runs once per call and a large portfolio's shift dials over a thousand calls.
        env, durations, minutes, handled = self.env, queue.durations, queue.minutes, log.handled
        while queue.position < len(durations):
            if env.now + longest_call > end + 1e-12:
                # Too late in the period to start a call that may become a conversation.
                break
            position = queue.position
            queue.position += 1
            handled[position] = True
            log.agent_minutes += minutes[position]
            log.busy_now += 1
            if log.busy_now > log.peak_busy:
                log.peak_busy = log.busy_now
            yield env.timeout(durations[position])
            log.busy_now -= 1
