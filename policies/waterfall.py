"""Waterfalls: rule-based collection strategies declared in YAML, by DPD stage.

A waterfall is a list of stages, each covering a DPD range, with treatments on a cadence::

    name: standard
    description: SMS early, then email, calls from 30 DPD, a letter at 90 and the agency at 120.
    stages:
      - dpd: [1, 29]
        treatments:
          - {channel: sms, framing: neutral, start: 3, every: 7}   # DPD 4, 11, 18, 25
          - {channel: email, start: 5, every: 7}
      - dpd: [120, 179]
        treatments:
          - {action: agency}

Besides contacts (``channel`` and ``framing``), a treatment may be an ``action``: ``agency`` (placement),
``settlement`` (with a ``discount`` of 0.1, 0.25, 0.4 or 0.5), ``plan`` (with 3, 6 or 12 ``instalments``),
``hardship_hold``, ``sell``, ``write_off`` or ``portal`` (an SMS with a link to the self-service payment portal).
A treatment fires on the DPD ``low + start + j * every`` (j = 0, 1, ...; once if ``every`` is absent) while the
account is in the stage. When two treatments fire on the same day, the first listed wins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sim.catalogue import ACTION_BY_NAME, contact_action, plan_action, settlement_action
from sim.engine import Observation
from sim.errors import config_error_from_validation
from sim.scenario import CHANNELS, FRAMINGS, load_yaml_mapping

SHIPPED_WATERFALL_DIR = Path(__file__).parent / "waterfalls"


class Treatment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Literal["email", "sms", "letter", "call"] | None = None
    framing: Literal["neutral", "social_norm", "loss_aversion", "active_choice", "personalised", "pledge"] = "neutral"
    action: Literal["contact", "portal", "agency", "settlement", "plan", "hardship_hold", "sell", "write_off"] = (
        "contact"
    )
    discount: Literal[0.1, 0.25, 0.4, 0.5] | None = Field(
        default=None, description="Share of the balance forgiven by a settlement offer."
    )
    instalments: Literal[3, 6, 12] | None = Field(default=None, description="Monthly instalments of a payment plan.")
    start: Annotated[int, Field(ge=0)] = Field(default=0, description="Days after the stage's lowest DPD.")
    every: Annotated[int, Field(ge=1)] | None = Field(default=None, description="Repeat every N days; once if absent.")

    @model_validator(mode="after")
    def _channel_for_contacts(self) -> Treatment:
        if self.action == "contact" and self.channel is None:
            raise ValueError(f"a contact needs a channel; allowed: {', '.join(CHANNELS)}")
        if self.action != "contact" and self.channel is not None:
            raise ValueError(f"a {self.action} action takes no channel")
        if (self.action == "settlement") != (self.discount is not None):
            raise ValueError("a settlement needs a discount, and only a settlement takes one")
        if (self.action == "plan") != (self.instalments is not None):
            raise ValueError("a plan needs a number of instalments, and only a plan takes one")
        return self

    @property
    def action_index(self) -> int:
        if self.action == "contact":
            return contact_action(self.channel, self.framing)
        if self.action == "settlement":
            return settlement_action(self.discount)
        if self.action == "plan":
            return plan_action(self.instalments)
        return ACTION_BY_NAME[self.action]


class Stage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    dpd: tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]]
    treatments: list[Treatment] = Field(default_factory=list)

    @model_validator(mode="after")
    def _range_is_ordered(self) -> Stage:
        if self.dpd[1] < self.dpd[0]:
            raise ValueError(
                f"dpd range [{self.dpd[0]}, {self.dpd[1]}] is empty: the first value must not exceed the second"
            )
        return self


class WaterfallSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    stages: list[Stage]

    @field_validator("stages")
    @classmethod
    def _stages_do_not_overlap(cls, stages: list[Stage]) -> list[Stage]:
        ranges = sorted((s.dpd[0], s.dpd[1], i) for i, s in enumerate(stages))
        for (_, high, i), (low, _, j) in zip(ranges, ranges[1:], strict=False):
            if low <= high:
                raise ValueError(
                    f"stages[{i}] and stages[{j}] overlap at DPD {low}; a DPD may belong to one stage only"
                )
        return stages


class Waterfall:
    """A policy that applies a :class:`WaterfallSpec` to every account, every day."""

    def __init__(self, spec: WaterfallSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.description = spec.description

    @classmethod
    def from_yaml(cls, path: str | Path) -> Waterfall:
        path = Path(path)
        return cls.from_dict(load_yaml_mapping(path), source=str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<waterfall>") -> Waterfall:
        try:
            return cls(WaterfallSpec.model_validate(data))
        except ValidationError as exc:
            raise config_error_from_validation(source, exc) from None

    def decide(self, obs: Observation) -> np.ndarray:
        actions = np.zeros(obs.n_accounts, dtype=np.int64)
        undecided = obs.active.copy()
        for stage in self.spec.stages:
            low, high = stage.dpd
            in_stage = undecided & (obs.dpd >= low) & (obs.dpd <= high)
            if not in_stage.any():
                continue
            for treatment in stage.treatments:
                offset = obs.dpd - low - treatment.start
                if treatment.every is None:
                    fires = in_stage & (offset == 0)
                else:
                    fires = in_stage & (offset >= 0) & (offset % treatment.every == 0)
                actions[fires] = treatment.action_index
                in_stage &= ~fires
                undecided &= ~fires
        return actions


def shipped_waterfalls() -> list[str]:
    return sorted(p.stem for p in SHIPPED_WATERFALL_DIR.glob("*.yaml"))


def framings_and_channels() -> str:
    return f"channels: {', '.join(CHANNELS)}; framings: {', '.join(FRAMINGS)}"
