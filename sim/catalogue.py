"""The action catalogue shared by waterfalls, learned policies and the report: one integer per treatment."""

from __future__ import annotations

from dataclasses import dataclass

from sim.scenario import CHANNELS, FRAMINGS


@dataclass(frozen=True)
class Action:
    index: int
    kind: str  # "none", "contact", "agency", "settlement", "plan", "hardship_hold", "sell", "write_off", "portal"
    channel: str | None = None
    framing: str | None = None
    discount: float = 0.0  # share of the balance forgiven, for settlement offers
    instalments: int = 0  # monthly instalments, for payment-plan offers

    @property
    def name(self) -> str:
        if self.kind == "contact":
            return f"{self.channel}:{self.framing}"
        if self.kind == "settlement":
            return f"settlement:{round(self.discount * 100)}"
        if self.kind == "plan":
            return f"plan:{self.instalments}"
        return self.kind


SETTLEMENT_DISCOUNTS = (0.1, 0.25, 0.4, 0.5)
PLAN_INSTALMENTS = (3, 6, 12)


def _build_catalogue() -> tuple[Action, ...]:
    actions = [Action(0, "none")]
    for channel in CHANNELS:
        for framing in FRAMINGS:
            actions.append(Action(len(actions), "contact", channel, framing))
    actions.append(Action(len(actions), "agency"))
    for discount in SETTLEMENT_DISCOUNTS:
        actions.append(Action(len(actions), "settlement", discount=discount))
    for instalments in PLAN_INSTALMENTS:
        actions.append(Action(len(actions), "plan", instalments=instalments))
    for kind in ("hardship_hold", "sell", "write_off"):
        actions.append(Action(len(actions), kind))
    # A link to the self-service payment portal, sent by SMS.
    actions.append(Action(len(actions), "portal", channel="sms", framing="neutral"))
    return tuple(actions)


ACTIONS: tuple[Action, ...] = _build_catalogue()
NO_ACTION = 0
N_ACTIONS = len(ACTIONS)
ACTION_BY_NAME = {action.name: action.index for action in ACTIONS}
AGENCY = ACTION_BY_NAME["agency"]
HARDSHIP_HOLD = ACTION_BY_NAME["hardship_hold"]
SELL = ACTION_BY_NAME["sell"]
WRITE_OFF = ACTION_BY_NAME["write_off"]


def contact_action(channel: str, framing: str = "neutral") -> int:
    """Catalogue index of a contact on ``channel`` with ``framing``."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; allowed: {', '.join(CHANNELS)}")
    if framing not in FRAMINGS:
        raise ValueError(f"unknown framing {framing!r}; allowed: {', '.join(FRAMINGS)}")
    return 1 + CHANNELS.index(channel) * len(FRAMINGS) + FRAMINGS.index(framing)


def settlement_action(discount: float) -> int:
    """Catalogue index of a settlement offer forgiving ``discount`` of the balance (one of SETTLEMENT_DISCOUNTS)."""
    name = f"settlement:{round(discount * 100)}"
    if name not in ACTION_BY_NAME:
        allowed = ", ".join(str(d) for d in SETTLEMENT_DISCOUNTS)
        raise ValueError(f"no settlement offer with discount {discount}; allowed: {allowed}")
    return ACTION_BY_NAME[name]


def plan_action(instalments: int) -> int:
    """Catalogue index of a payment-plan offer over ``instalments`` months (one of PLAN_INSTALMENTS)."""
    name = f"plan:{instalments}"
    if name not in ACTION_BY_NAME:
        allowed = ", ".join(str(n) for n in PLAN_INSTALMENTS)
        raise ValueError(f"no payment plan with {instalments} instalments; allowed: {allowed}")
    return ACTION_BY_NAME[name]
