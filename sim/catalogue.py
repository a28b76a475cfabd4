"""The action catalogue shared by waterfalls, learned policies and the report: one integer per treatment."""

from __future__ import annotations

from dataclasses import dataclass

from sim.scenario import CHANNELS, FRAMINGS


@dataclass(frozen=True)
class Action:
    index: int
    kind: str  # "none", "contact" or "agency"
    channel: str | None = None
    framing: str | None = None

    @property
    def name(self) -> str:
        if self.kind == "contact":
            return f"{self.channel}:{self.framing}"
        return self.kind


def _build_catalogue() -> tuple[Action, ...]:
    actions = [Action(0, "none")]
    for channel in CHANNELS:
        for framing in FRAMINGS:
            actions.append(Action(len(actions), "contact", channel, framing))
    actions.append(Action(len(actions), "agency"))
    return tuple(actions)


ACTIONS: tuple[Action, ...] = _build_catalogue()
NO_ACTION = 0
AGENCY = ACTIONS[-1].index
N_ACTIONS = len(ACTIONS)


def contact_action(channel: str, framing: str = "neutral") -> int:
    """Catalogue index of a contact on ``channel`` with ``framing``."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; allowed: {', '.join(CHANNELS)}")
    if framing not in FRAMINGS:
        raise ValueError(f"unknown framing {framing!r}; allowed: {', '.join(FRAMINGS)}")
    return 1 + CHANNELS.index(channel) * len(FRAMINGS) + FRAMINGS.index(framing)
