"""The call centre: agents on one daily shift, modelled as a SimPy resource.

Calls are dialled in queue order (the engine puts the largest past-due amount first). An agent dials only while a
full conversation would still end within the shift, because nobody knows before dialling whether the right party
answers; the calls left in the queue are counted as unplaced, never dropped silently.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field

import numpy as np
import simpy

from sim.scenario import CallCenter

HOURS_PER_DAY = 24.0


@dataclass
class ShiftLog:
    """Outcome of one shift: which queued calls were handled, and the peak number of agents busy at once."""

    handled: np.ndarray
    agent_minutes: float = 0.0
    peak_busy: int = 0
    busy_now: int = field(default=0, repr=False)


class CallCentre:
    """Agents as a :class:`simpy.Resource`; :meth:`shift` is a SimPy process for one day's calls."""

    def __init__(self, env: simpy.Environment, config: CallCenter) -> None:
        self.env = env
        self.config = config
        self.agents: simpy.Resource | None = None

    def agents_on(self, day: int) -> int:
        """Agents on shift on ``day``; day 0 is a Monday."""
        if self.config.agents_by_weekday is not None:
            return self.config.agents_by_weekday[day % 7]
        return self.config.agents

    def shift(self, day: int, minutes: np.ndarray, log: ShiftLog) -> Generator[simpy.Event, object, None]:
        """Dial calls of the given handling times (in queue order) from shift start until no more fit."""
        start = day + self.config.shift_start_hour / HOURS_PER_DAY
        end = day + self.config.shift_end_hour / HOURS_PER_DAY
        if self.env.now < start:
            yield self.env.timeout(start - self.env.now)
        staff = self.agents_on(day)
        if staff == 0 or len(minutes) == 0:
            return
        # A fresh resource per shift: the day's staffing is its capacity.
        self.agents = simpy.Resource(self.env, capacity=staff)

        durations = minutes / (HOURS_PER_DAY * 60.0)
        longest_call = self.config.minutes_right_party / (HOURS_PER_DAY * 60.0)
        finished: list[simpy.Process] = []
        for position, duration in enumerate(durations):
            request = self.agents.request()
            yield request
            if self.env.now + longest_call > end + 1e-12:
                # Too late in the shift to start a call that may become a conversation: the queue stops here.
                self.agents.release(request)
                break
            log.handled[position] = True
            log.agent_minutes += float(minutes[position])
            finished.append(self.env.process(self._talk(request, float(duration), log)))
        if finished:
            yield self.env.all_of(finished)

    def _talk(self, request: simpy.Resource, duration: float, log: ShiftLog) -> Generator[simpy.Event, object, None]:
        log.busy_now += 1
        log.peak_busy = max(log.peak_busy, log.busy_now, self.agents.count)
        yield self.env.timeout(duration)
        log.busy_now -= 1
        self.agents.release(request)
