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

A stage may apply to a ``segment`` only (bands of ``balance``, ``past_due``, ``credit_limit``, ``cycles_past_due``),
and ``exit`` lists conditions (``promise_pending``, ``on_plan``, ``hardship_disclosed``, ``disputed``,
``stop_contact``) under which an account gets no action. Stages may not overlap (same DPD and overlapping segments)
nor leave a DPD gap within one segment.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from policies.early_warning import EarlyWarningModel, load_score
from sim.catalogue import ACTION_BY_NAME, contact_action, plan_action, settlement_action
from sim.engine import Observation
from sim.errors import ConfigError, config_error_from_validation, short_repr
from sim.scenario import CHANNELS, OTHER_KINDS, DpdRange, Probability, SafeName, load_yaml_mapping

SHIPPED_WATERFALL_DIR = Path(__file__).parent / "waterfalls"
#: Largest ``start`` or ``every``, in days: ten years, beyond any DPD an account reaches before charge-off.
MAX_DAYS = 3650


class Treatment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    channel: Literal["email", "sms", "letter", "call"] | None = None
    framing: Literal["neutral", "social_norm", "loss_aversion", "active_choice", "personalised", "pledge"] = "neutral"
    action: Literal["contact", "portal", "agency", "settlement", "plan", "hardship_hold", "sell", "write_off"] = (
        "contact"
    )
    discount: Literal[0.1, 0.25, 0.4, 0.5] | None = Field(
        default=None, description="Share of the balance forgiven by a settlement offer."
    )
    instalments: Literal[3, 6, 12] | None = Field(default=None, description="Monthly instalments of a payment plan.")
    start: Annotated[int, Field(ge=0, le=MAX_DAYS)] = Field(default=0, description="Days after the stage's lowest DPD.")
    every: Annotated[int, Field(ge=1, le=MAX_DAYS)] | None = Field(
        default=None, description="Repeat every N days; once if absent."
    )
    cycle_day: Annotated[int, Field(ge=0, le=29)] | None = Field(
        default=None,
        description="Fire on this day of each statement cycle (days since the statement) instead of by DPD; for "
        "pre-due reminders to accounts that are not yet past due.",
    )

    @model_validator(mode="after")
    def _channel_for_contacts(self) -> Treatment:
        if self.action == "contact" and self.channel is None:
            raise ValueError(f"a contact needs a channel; allowed: {', '.join(CHANNELS)}")
        if self.action != "contact" and self.channel is not None:
            raise ValueError(f"the action {self.action!r} takes no channel")
        if self.action != "contact" and self.framing != "neutral":
            raise ValueError(f"the action {self.action!r} takes no framing; framings apply to contacts")
        if (self.action == "settlement") != (self.discount is not None):
            raise ValueError("a settlement needs a discount, and only a settlement takes one")
        if (self.action == "plan") != (self.instalments is not None):
            raise ValueError("a plan needs a number of instalments, and only a plan takes one")
        if self.cycle_day is not None and self.model_fields_set & {"start", "every"}:
            raise ValueError("cycle_day fires once a cycle; it takes no start or every")
        return self

    def fires(self, obs: Observation, candidates: np.ndarray, low: int) -> np.ndarray:
        """Return whether this treatment falls today on each account at positions ``candidates``, aligned with them.

        ``low`` is the lowest DPD of the treatment's stage.
        """
        if self.cycle_day is not None:
            return obs.days_since_statement[candidates] == self.cycle_day
        return self.fires_in_stage(obs.dpd[candidates] - low)

    def fires_in_stage(self, days_into_stage: np.ndarray) -> np.ndarray:
        """Return whether this DPD treatment falls on accounts ``days_into_stage`` DPD past their stage's lowest."""
        offset = days_into_stage - self.start
        if self.every is None:
            return offset == 0
        return (offset >= 0) & (offset % self.every == 0)

    @property
    def action_index(self) -> int:
        if self.action == "contact":
            return contact_action(self.channel, self.framing)
        if self.action == "settlement":
            return settlement_action(self.discount)
        if self.action == "plan":
            return plan_action(self.instalments)
        return ACTION_BY_NAME[self.action]


Band = Annotated[tuple[Annotated[float, Field(ge=0)] | None, Annotated[float, Field(ge=0)] | None], Field(strict=False)]


class Segment(BaseModel):
    """Accounts a stage applies to: each band is ``[low, high]`` inclusive, ``null`` for no bound."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    balance: Band | None = Field(default=None, description="Outstanding balance, currency units.")
    past_due: Band | None = Field(default=None, description="Amount past due, currency units.")
    credit_limit: Band | None = Field(default=None, description="Credit limit, currency units.")
    cycles_past_due: Band | None = Field(default=None, description="Unpaid minimum payments.")
    risk_score: tuple[Probability | None, Probability | None] | None = Field(
        default=None,
        strict=False,
        description="Early-warning probability of a roll within 30 days (0 to 1), from the waterfall's score.",
    )

    @model_validator(mode="after")
    def _bands_are_ordered(self) -> Segment:
        for key, (low, high) in self.bands().items():
            if high < low:
                raise ValueError(f"{key} band [{low}, {high}] is empty: the first value must not exceed the second")
        return self

    def bands(self) -> dict[str, tuple[float, float]]:
        bands = {}
        for key in type(self).model_fields:
            band = getattr(self, key)
            if band is not None:
                bands[key] = (-np.inf if band[0] is None else band[0], np.inf if band[1] is None else band[1])
        return bands

    def matches(self, obs: Observation, risk_score: np.ndarray | None = None) -> np.ndarray:
        mask = np.ones(obs.n_accounts, dtype=bool)
        for key, (low, high) in self.bands().items():
            values = risk_score if key == "risk_score" else getattr(obs, key)
            mask &= (values >= low) & (values <= high)
        return mask

    def overlaps(self, other: Segment) -> bool:
        """Return whether some account could fall in both segments (no band of one is disjoint from the other's)."""
        mine, theirs = self.bands(), other.bands()
        for key in mine.keys() & theirs.keys():
            (low, high), (other_low, other_high) = mine[key], theirs[key]
            if high < other_low or other_high < low:
                return False
        return True


EXIT_CONDITIONS = (
    "promise_pending",
    "on_plan",
    "hardship_disclosed",
    "disputed",
    "stop_contact",
    "paid_since_statement",
)


class Stage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = ""
    dpd: DpdRange
    segment: Segment = Field(default_factory=Segment)
    treatments: list[Treatment] = Field(default_factory=list)


def _check_not_other_kind(data: dict[str, Any], source: str) -> None:
    """Raise ConfigError when ``data``, which has no 'stages', is plainly a file of another kind.

    Otherwise a file listed under an experiment's ``policies`` by mistake gets the waterfall's missing keys listed.
    """
    if "stages" in data:
        return
    for key, (kind, description) in OTHER_KINDS.items():
        if key in data and kind != "waterfall":
            raise ConfigError(source, "", f"is {description} (it has '{key}'), not a waterfall")
    if data.get("kind") == "early_warning":
        raise ConfigError(source, "", "is an early-warning score, not a waterfall; name it as a waterfall's 'score'")


class WaterfallSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: SafeName
    description: str = ""
    exit: list[
        Literal["promise_pending", "on_plan", "hardship_disclosed", "disputed", "stop_contact", "paid_since_statement"]
    ] = Field(
        default_factory=list,
        description="Conditions under which an account leaves the waterfall and gets no action while they hold.",
    )
    score: str = Field(
        default="early_warning",
        description="Early-warning score for risk_score segments: a shipped score name or a score YAML path.",
    )
    stages: list[Stage]

    @field_validator("stages")
    @classmethod
    def _stages_do_not_overlap(cls, stages: list[Stage]) -> list[Stage]:
        for i, first in enumerate(stages):
            for j in range(i + 1, len(stages)):
                second = stages[j]
                low, high = max(first.dpd[0], second.dpd[0]), min(first.dpd[1], second.dpd[1])
                if low <= high and first.segment.overlaps(second.segment):
                    raise ValueError(
                        f"stages[{i}] and stages[{j}] overlap at DPD {low}; an account may belong to one stage only "
                        "(give them disjoint DPD ranges or disjoint segments)"
                    )
        return stages

    @field_validator("stages")
    @classmethod
    def _stages_leave_no_gap(cls, stages: list[Stage]) -> list[Stage]:
        """Stages of one segment cover a contiguous DPD range: a gap is almost always a typo.

        DPDs between two stages of one segment that a stage of an overlapping segment covers are no gap, because
        the waterfall handles them on purpose, for example with stages split by balance.
        """
        by_segment: dict[Segment, list[tuple[int, int, int]]] = {}
        for i, stage in enumerate(stages):
            by_segment.setdefault(stage.segment, []).append((stage.dpd[0], stage.dpd[1], i))
        for segment, ranges in by_segment.items():
            ranges.sort()
            for (_, high, i), (low, _, j) in zip(ranges, ranges[1:], strict=False):
                if low > high + 1:
                    uncovered = _first_uncovered(stages, segment, high + 1, low - 1)
                    if uncovered is None:
                        continue
                    first, last = uncovered
                    raise ValueError(
                        f"DPD {first} to {last} is uncovered between stages[{i}] and stages[{j}]; extend a "
                        "stage or add one with no treatments"
                    )
        return stages


def _first_uncovered(stages: list[Stage], segment: Segment, low: int, high: int) -> tuple[int, int] | None:
    """Return the first run of DPDs in ``[low, high]`` that no stage of a segment overlapping ``segment`` covers."""
    covering = sorted(
        (max(stage.dpd[0], low), min(stage.dpd[1], high))
        for stage in stages
        if stage.dpd[0] <= high and stage.dpd[1] >= low and stage.segment.overlaps(segment)
    )
    next_dpd = low
    for first, last in covering:
        if first > next_dpd:
            return next_dpd, first - 1
        next_dpd = max(next_dpd, last + 1)
    return (next_dpd, high) if next_dpd <= high else None


class Waterfall:
    """A policy that applies a :class:`WaterfallSpec` to every account, every day."""

    def __init__(self, spec: WaterfallSpec, score: EarlyWarningModel | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.description = spec.description
        self.score = score
        if score is None and any(stage.segment.risk_score is not None for stage in spec.stages):
            raise ValueError(f"waterfall {spec.name!r} has risk_score segments but no early-warning score")
        self._dpd_actions, self._other_stages = _dpd_action_table(spec.stages)
        self._scored_stages = [stage for stage in spec.stages if stage.segment.risk_score is not None]

    @classmethod
    def from_yaml(cls, path: str | Path, warn: bool = True) -> Waterfall:
        path = Path(path)
        return cls.from_dict(load_yaml_mapping(path), source=str(path), warn=warn)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<waterfall>", warn: bool = True) -> Waterfall:
        """Validate a waterfall; with ``warn``, warn (``UserWarning``) about cadences the guard will block."""
        _check_not_other_kind(data, source)
        try:
            spec = WaterfallSpec.model_validate(data)
        except ValidationError as exc:
            raise config_error_from_validation(source, exc, model=WaterfallSpec) from None
        if warn:
            for message in compliance_warnings(spec):
                warnings.warn(f"{source}: {message}", UserWarning, stacklevel=2)
        score = None
        if any(stage.segment.risk_score is not None for stage in spec.stages):
            score_path = Path(spec.score)
            # A relative score path is read from the waterfall file's folder.
            if score_path.suffix in (".yaml", ".yml") and not score_path.is_absolute() and source != "<waterfall>":
                score_path = Path(source).parent / score_path
            try:
                score = load_score(score_path if score_path.suffix in (".yaml", ".yml") else spec.score)
            except ConfigError as exc:
                # An error about the score as a whole (missing, unknown) names the score as written. An error inside
                # the score file names that file and key.
                message = f"{short_repr(spec.score)}: {exc.message}" if exc.key_path == "score" else str(exc)
                raise ConfigError(source, "score", message) from None
        return cls(spec, score)

    @property
    def observed_fields(self) -> frozenset[str] | None:
        """The observation fields that :meth:`decide` reads, or None for all (a risk score reads every feature).

        A subclass whose ``decide`` reads more fields must add them here, because the model leaves the others None.
        """
        if self.score is not None:
            return None
        fields = {"active", "dpd"}
        for condition in self.spec.exit:
            if condition == "paid_since_statement":
                # Derived from the days since the last payment and since the last statement.
                fields |= {"days_since_payment", "days_since_statement"}
            else:
                fields.add(condition)
        for stage in self.spec.stages:
            fields |= stage.segment.bands().keys()
            if any(treatment.cycle_day is not None for treatment in stage.treatments):
                fields.add("days_since_statement")
        return frozenset(fields)

    def decide(self, obs: Observation) -> np.ndarray:
        undecided = obs.active.copy()
        for condition in self.spec.exit:
            undecided &= ~getattr(obs, condition)
        if self._dpd_actions is None:
            actions = np.zeros(obs.n_accounts, dtype=np.int64)
        else:
            # The table ends with a 0 (no action), which applies to every DPD beyond the table.
            actions = self._dpd_actions[np.minimum(obs.dpd, len(self._dpd_actions) - 1)]
            actions *= undecided
        if not self._other_stages:
            return actions

        risk_score = self._risk_scores(obs, undecided)
        for stage in self._other_stages:
            low, high = stage.dpd
            in_stage = undecided & (obs.dpd >= low) & (obs.dpd <= high) & stage.segment.matches(obs, risk_score)
            # The treatments work on positions, because a stage contains a fraction of the accounts.
            candidates = np.flatnonzero(in_stage)
            for treatment in stage.treatments:
                if len(candidates) == 0:
                    break
                fires = treatment.fires(obs, candidates, low)
                actions[candidates[fires]] = treatment.action_index
                undecided[candidates[fires]] = False
                candidates = candidates[~fires]
        return actions

    def _risk_scores(self, obs: Observation, undecided: np.ndarray) -> np.ndarray | None:
        """Return the early-warning scores that the stages with a ``risk_score`` band need, or None without a score.

        Only the undecided accounts within such a stage's DPD range are scored. The others get NaN, which matches no
        band. This saves the features and scores of closed and exited accounts, and each score equals the one it
        gets when every account is scored (:meth:`EarlyWarningModel.score`).
        """
        if self.score is None:
            return None
        scored = np.zeros(obs.n_accounts, dtype=bool)
        for stage in self._scored_stages:
            low, high = stage.dpd
            scored |= (obs.dpd >= low) & (obs.dpd <= high)
        index = np.flatnonzero(scored & undecided)
        risk_score = np.full(obs.n_accounts, np.nan)
        risk_score[index] = self.score.score(obs, index)
        return risk_score


#: Largest DPD that a waterfall's table of actions by DPD covers; a stage reaching beyond it is applied per account.
MAX_TABLE_DPD = 10_000


def _dpd_action_table(stages: list[Stage]) -> tuple[np.ndarray | None, list[Stage]]:
    """Split ``stages`` into a table of the action at each DPD and the stages that need more than the DPD.

    A stage with no segment and only DPD-timed treatments takes the same action on every account at one DPD, so
    :meth:`Waterfall.decide` looks it up in one pass instead of testing each stage and treatment. Stages never
    overlap, so a stage in the table never competes with another stage for an account. The table is None when no
    stage qualifies; entry ``d`` is 0 (no action) where no qualifying stage covers DPD ``d``.
    """
    by_dpd = [
        not stage.segment.bands()
        and all(treatment.cycle_day is None for treatment in stage.treatments)
        and stage.dpd[1] <= MAX_TABLE_DPD
        for stage in stages
    ]
    others = [stage for stage, in_table in zip(stages, by_dpd, strict=True) if not in_table]
    if not any(by_dpd):
        return None, others

    table_stages = [stage for stage, in_table in zip(stages, by_dpd, strict=True) if in_table]
    table = np.zeros(max(stage.dpd[1] for stage in table_stages) + 2, dtype=np.int64)
    for stage in table_stages:
        low, high = stage.dpd
        days_into_stage = np.arange(high - low + 1)
        undecided = np.ones(len(days_into_stage), dtype=bool)
        # Where two treatments fall on one DPD, the first listed wins.
        for treatment in stage.treatments:
            fires = undecided & treatment.fires_in_stage(days_into_stage)
            table[low : high + 1][fires] = treatment.action_index
            undecided &= ~fires
    return table, others


def shipped_waterfalls() -> list[str]:
    return sorted(p.stem for p in SHIPPED_WATERFALL_DIR.glob("*.yaml"))


def compliance_warnings(spec: WaterfallSpec) -> list[str]:
    """Cadences that the compliance guard will partly block, as sentences for the user."""
    warnings = []
    for i, stage in enumerate(spec.stages):
        for j, treatment in enumerate(stage.treatments):
            where = f"stages[{i}].treatments[{j}]"
            if stage.dpd[0] + treatment.start > stage.dpd[1]:
                warnings.append(
                    f"{where}: start {treatment.start} lies beyond the stage's DPD range {list(stage.dpd)}, so the "
                    "treatment never fires"
                )
            if treatment.channel == "call" and treatment.every is not None and treatment.every < 7:
                warnings.append(
                    f"{where}: calls every {_days(treatment.every)}; the guard blocks calls within 7 days after a "
                    "conversation (Regulation F), so some will not be placed"
                )
            if treatment.action == "settlement":
                first_allowed = _first_settlement_dpd(treatment.discount)
                if stage.dpd[1] < first_allowed:
                    warnings.append(
                        f"{where}: a {treatment.discount:.0%} settlement before DPD {first_allowed} is always "
                        "blocked by the discount caps"
                    )
    return warnings


def _days(count: int) -> str:
    return "day" if count == 1 else f"{count} days"


def _first_settlement_dpd(discount: float) -> int:
    """Lowest DPD at which the default discount caps allow ``discount``.

    NOTE: a scenario may set other caps; the warning uses the defaults because a waterfall is loaded without one.
    """
    from sim.scenario import Settlements

    allowed = [cap.dpd[0] for cap in Settlements().discount_caps if cap.max_discount >= discount - 1e-12]
    return min(allowed) if allowed else 10**9
