"""Scenario: every parameter of the portfolio model, validated, with units and sources.

A scenario is read from YAML with :meth:`Scenario.from_yaml`. Unknown keys, probabilities outside [0, 1] and
negative money amounts are rejected with a :class:`ConfigError` that names the file and the key path.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sim.errors import NAME_PATTERN, ConfigError, config_error_from_validation, short_repr


def _check_range_order(bounds: tuple[int, int]) -> tuple[int, int]:
    if bounds[1] < bounds[0]:
        raise ValueError(f"range [{bounds[0]}, {bounds[1]}] is empty: the first value must not exceed the second")
    return bounds


#: An integer dict key that may also come as text, as JSON writes keys (a run directory's config.yaml does).
StateKey = Annotated[int, Field(strict=False)]

#: An inclusive DPD range ``[low, high]`` with ``low <= high``.
DpdRange = Annotated[
    tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]],
    Field(strict=False),  # a YAML list fills the tuple; its items stay strict integers
    AfterValidator(_check_range_order),
]

MAX_MONEY = 1e9  # currency units; larger amounts are typos, and they overflow integer cents
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
#: A name that becomes part of file names, cell keys and report rows: 1 to 100 ASCII letters, digits, '_', '.' and '-',
#: starting with a letter or digit.
SafeName = Annotated[str, Field(min_length=1, max_length=100, pattern=NAME_PATTERN)]
Money = Annotated[float, Field(ge=0.0, le=MAX_MONEY)]
PositiveMoney = Annotated[float, Field(gt=0.0, le=MAX_MONEY)]

#: Cycles past due that a state index means; the last state rolls to charge-off.
MAX_CYCLES_PAST_DUE = 6
#: Columns of a monthly transition row: cycles past due 0..6 at the next statement, then charge-off.
TRANSITION_COLUMNS = [str(i) for i in range(MAX_CYCLES_PAST_DUE + 1)] + ["charge_off"]

CHANNELS = ("email", "sms", "letter", "call")
#: Channels configured under ``channels``; calls are configured under ``call_center``.
MESSAGE_CHANNELS = ("email", "sms", "letter")
FRAMINGS = ("neutral", "social_norm", "loss_aversion", "active_choice", "personalised", "pledge")
DEBTOR_TYPES = ("forgetful", "short_of_cash", "hardship", "unwilling", "unreachable")
DebtorType = Literal["forgetful", "short_of_cash", "hardship", "unwilling", "unreachable"]

SHIPPED_SCENARIO_DIR = Path(__file__).parent / "scenarios"
#: Top-level keys that mark a YAML as another kind of file than a scenario: the kind's name and description.
OTHER_KINDS = {
    "policies": ("experiment", "an experiment config"),
    "stages": ("waterfall", "a waterfall"),
    "algo": ("training", "a training config"),
}


class StrictModel(BaseModel):
    # Strict: a YAML boolean or a quoted number is not taken for a number.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class LogNormal(StrictModel):
    """Log-normal distribution of a money amount: ``exp(N(mean_log, sd_log))``, in the scenario currency."""

    mean_log: float
    sd_log: Annotated[float, Field(ge=0.0)]


class Portfolio(StrictModel):
    """Accounts at the start of a run (day 0)."""

    initial_cycles_past_due: dict[StateKey, Probability] = Field(
        default={1: 0.85, 2: 0.1, 3: 0.03, 4: 0.01, 5: 0.005, 6: 0.005},
        description="Share of accounts by unpaid minimum payments (cycles past due, 0..6) on day 0; sums to 1.",
    )
    balance: LogNormal = LogNormal(mean_log=8.0, sd_log=1.0)
    minimum_balance: Money = Field(default=50.0, description="Opening balances are clipped to at least this amount.")
    maximum_balance: PositiveMoney = Field(default=100_000.0, description="... and to at most this amount.")
    credit_limit: LogNormal = LogNormal(mean_log=8.5, sd_log=0.8)
    minimum_payment_rate: Probability = Field(
        default=0.05, description="Minimum payment per cycle as a share of the opening balance."
    )
    minimum_payment_floor: Money = Field(default=10.0, description="Smallest minimum payment, currency units.")
    annual_interest_rate: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.18,
        description="Yearly interest rate; interest accrues daily at rate/365 on the whole balance (so it compounds) "
        "until the account leaves the book, except during a hardship hold.",
    )
    late_fee: Money = Field(default=25.0, description="Fee charged at each statement with an unpaid minimum.")

    @model_validator(mode="after")
    def _balance_range_is_ordered(self) -> Portfolio:
        if self.maximum_balance < self.minimum_balance:
            raise ValueError("maximum_balance must not be below minimum_balance")
        return self

    @field_validator("initial_cycles_past_due")
    @classmethod
    def _mix_sums_to_one(cls, mix: dict[int, float]) -> dict[int, float]:
        bad = [k for k in mix if not 0 <= k <= MAX_CYCLES_PAST_DUE]
        if bad:
            raise ValueError(f"cycles past due must be 0..{MAX_CYCLES_PAST_DUE}, got {bad}")
        total = sum(mix.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"shares must sum to 1, got {total:.6f}")
        return mix


class Transitions(StrictModel):
    """Untreated monthly behaviour, one row per cycles-past-due state at a statement.

    Row ``s`` gives the probability of each state at the next statement (``0``..``6``, ``charge_off``). A debtor who
    is ``s`` cycles behind and pays ``k`` minimum payments during the cycle is ``s + 1 - k`` behind at the next
    statement, so row ``s`` also fixes how many minimum payments the debtor pays.
    """

    monthly: dict[StateKey, list[Probability]] = Field(
        default={
            0: [0.95, 0.05, 0, 0, 0, 0, 0, 0],
            1: [0.30, 0.60, 0.10, 0, 0, 0, 0, 0],
            2: [0.20, 0.10, 0.50, 0.20, 0, 0, 0, 0],
            3: [0.10, 0.05, 0.10, 0.45, 0.30, 0, 0, 0],
            4: [0.05, 0.02, 0.03, 0.10, 0.40, 0.40, 0, 0],
            5: [0.03, 0.01, 0.01, 0.02, 0.08, 0.40, 0.45, 0],
            6: [0.02, 0.0, 0.0, 0.0, 0.0, 0.08, 0.40, 0.50],
        }
    )
    full_payoff_share: dict[StateKey, Probability] = Field(
        default={s: 0.1 for s in range(MAX_CYCLES_PAST_DUE + 1)},
        description="Among payments that bring the account current, the share that repays the whole balance.",
    )

    @field_validator("monthly")
    @classmethod
    def _rows_are_distributions(cls, rows: dict[int, list[float]]) -> dict[int, list[float]]:
        expected = set(range(MAX_CYCLES_PAST_DUE + 1))
        if set(rows) != expected:
            raise ValueError(f"needs one row for each state 0..{MAX_CYCLES_PAST_DUE}, got {sorted(rows)}")
        for state, row in rows.items():
            if len(row) != len(TRANSITION_COLUMNS):
                raise ValueError(f"row {state} needs {len(TRANSITION_COLUMNS)} entries ({TRANSITION_COLUMNS})")
            if abs(sum(row) - 1.0) > 1e-6:
                raise ValueError(f"row {state} must sum to 1, got {sum(row):.6f}")
            reachable = set(range(0, min(state + 1, MAX_CYCLES_PAST_DUE) + 1))
            for column, p in enumerate(row):
                target_state = column if column <= MAX_CYCLES_PAST_DUE else MAX_CYCLES_PAST_DUE + 1
                if p > 0 and target_state not in reachable and not (state == MAX_CYCLES_PAST_DUE and column == 7):
                    raise ValueError(
                        f"row {state} gives probability {p} to {TRANSITION_COLUMNS[column]}, but an account rolls "
                        "at most one cycle per month"
                    )
        return rows


class Channel(StrictModel):
    """One message channel. ``reach_probability`` is the share of debtors whom the channel reaches (a valid address
    whose messages they read); it is drawn once per account, so repeated messages reach the same debtors."""

    cost: Money = Field(description="Cost per contact sent, currency units.")
    reach_probability: Probability = 1.0
    delay_days: Annotated[int, Field(ge=0, le=30)] = Field(default=0, description="Days from sending to arrival.")


def _default_channels() -> dict[str, Channel]:
    return {
        # Letter: DESIGN weak prior of $1-3 per letter; postal delay of 3 days.
        "email": Channel(cost=0.05, reach_probability=0.25),
        "sms": Channel(cost=0.08, reach_probability=0.6),
        "letter": Channel(cost=1.5, reach_probability=0.7, delay_days=3),
    }


class StaffingBlock(StrictModel):
    """Agents on duty on some weekdays between two whole hours, inside the calling hours 08:00-21:00."""

    weekdays: list[Annotated[int, Field(ge=0, le=6)]] = Field(
        default=[0, 1, 2, 3, 4, 5, 6], min_length=1, description="0 = Monday (day 0 of a run) to 6 = Sunday."
    )
    start_hour: Annotated[int, Field(ge=8, le=21)]
    end_hour: Annotated[int, Field(ge=8, le=21)]
    agents: Annotated[int, Field(ge=0, le=100_000)]

    @model_validator(mode="after")
    def _hours_are_ordered(self) -> StaffingBlock:
        if self.end_hour <= self.start_hour:
            raise ValueError("end_hour must be later than start_hour")
        return self


class CallCenter(StrictModel):
    """Agents who place calls during one daily shift (one SimPy process per agent on duty)."""

    agents: Annotated[int, Field(ge=0)] = 10
    agents_by_weekday: list[Annotated[int, Field(ge=0)]] | None = Field(
        default=None,
        min_length=7,
        max_length=7,
        description="Agents on shift Monday to Sunday (day 0 of a run is a Monday); overrides 'agents'.",
    )
    staffing: list[StaffingBlock] | None = Field(
        default=None,
        description="Agents per hour and weekday as blocks whose agents add up where they overlap; overrides "
        "agents, agents_by_weekday and the shift hours. Calls start and end within an hour block's staffing.",
    )
    shift_start_hour: Annotated[float, Field(ge=8.0, le=21.0)] = 9.0
    shift_end_hour: Annotated[float, Field(ge=8.0, le=21.0)] = 17.0
    agent_cost_per_hour: Money = Field(default=25.0, description="Loaded agent cost (DESIGN weak prior: $25/h).")
    right_party_contact_probability: Probability = Field(
        default=0.26,
        description="Share of call attempts that reach the debtor (UK industry survey 2024: 20-30%).",
    )
    minutes_right_party: PositiveMoney = Field(default=10.0, description="Handling time of a conversation.")
    minutes_no_contact: PositiveMoney = Field(default=1.5, description="Handling time of an attempt without RPC.")

    @model_validator(mode="after")
    def _shift_is_ordered(self) -> CallCenter:
        if self.shift_end_hour <= self.shift_start_hour:
            raise ValueError("shift_end_hour must be later than shift_start_hour")
        if self.minutes_no_contact > self.minutes_right_party:
            raise ValueError(
                "minutes_no_contact must not exceed minutes_right_party: a conversation is the longest call"
            )
        return self


class Response(StrictModel):
    """How a debtor who received a contact responds: the chance of paying that day, by debtor type and channel.

    A reached debtor who has not paid in the current cycle pays that day with probability
    ``base[type][channel] × framing multiplier × repeat_decay ** (earlier contacts reached in the last 7 days)``.
    The payment size follows the untreated distribution of the debtor's state.
    """

    by_type: dict[str, dict[str, Probability]] = Field(
        default={
            # Cheap nudges move forgetful debtors by a few percentage points (Hallsworth et al. 2017: +1.3 to +5.1 pp;
            # Campbell, Grant & Thorp 2022: +2.4 pp) and do nothing for hardship cases. These are chances per
            # reached contact among debtors who have not paid this cycle, so the measured uplift on a treated group
            # is smaller: tests/test_evidence.py checks that it lands in the published range.
            "forgetful": {"email": 0.15, "sms": 0.2, "letter": 0.2, "call": 0.4, "agency": 0.02},
            "short_of_cash": {"email": 0.05, "sms": 0.06, "letter": 0.06, "call": 0.2, "agency": 0.02},
            "hardship": {"email": 0.0, "sms": 0.0, "letter": 0.0, "call": 0.0, "agency": 0.0},
            "unwilling": {"email": 0.0, "sms": 0.0, "letter": 0.005, "call": 0.08, "agency": 0.04},
            "unreachable": {"email": 0.0, "sms": 0.0, "letter": 0.0, "call": 0.0, "agency": 0.02},
        },
        description="Probability of paying on the day a contact reaches the debtor; 'agency' is per cycle placed.",
    )
    framing_multiplier: dict[str, Annotated[float, Field(ge=0.0, le=3.0)]] = Field(
        default={
            "neutral": 1.0,
            "social_norm": 1.3,  # Hallsworth et al. 2017: norm letters +1.3 to +5.1 pp over a 1-5 pp base effect
            "loss_aversion": 1.15,  # no field estimate found; a weak prior between neutral and social norm
            "active_choice": 1.9,  # Hallsworth et al. 2024: repayment 12% to 23%
            "personalised": 1.4,  # Haynes et al. 2013: 23% generic vs 33% with the debtor's name
            "pledge": 1.2,  # Mazar, Mochon & Ariely: +2.3 to +2.5 pp
        }
    )
    portal_multiplier: Annotated[float, Field(ge=0.0, le=3.0)] = Field(
        default=1.25,
        description="Response multiplier of an SMS with a link to the self-service payment portal over a plain SMS; "
        "an assumption (a direct link removes steps).",
    )
    repeat_decay: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.4,
        description="Effect multiplier per earlier reached contact in the last 7 days (Karlan et al. 2016).",
    )

    @field_validator("by_type")
    @classmethod
    def _known_types_and_channels(cls, table: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for debtor_type, row in table.items():
            if debtor_type not in DEBTOR_TYPES:
                raise ValueError(f"unknown debtor type {debtor_type!r}; allowed: {', '.join(DEBTOR_TYPES)}")
            for channel in row:
                if channel not in (*CHANNELS, "agency"):
                    raise ValueError(
                        f"unknown channel {channel!r} for {debtor_type}; allowed: {', '.join(CHANNELS)}, agency"
                    )
        return table

    @field_validator("framing_multiplier")
    @classmethod
    def _known_framings(cls, table: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(table) - set(FRAMINGS))
        if unknown:
            raise ValueError(f"unknown framing {unknown[0]!r}; allowed: {', '.join(FRAMINGS)}")
        return table


class Agency(StrictModel):
    """Collection agency that works placed accounts for a contingency commission."""

    commission_rate: Probability = Field(default=0.19, description="Share of amounts collected (ACA/E&Y: ~19%).")


class Customer(StrictModel):
    """Customer value and attrition."""

    annual_margin_rate: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.03, description="Yearly margin as a share of the credit limit while the customer stays."
    )
    monthly_retention: Probability = Field(default=0.985, description="Chance a good customer stays another month.")
    attrition_on_cure: Probability = Field(
        default=0.03,
        description="Chance a customer closes the account on cure (Experian 2018: ~3% at 30 DPD).",
    )
    complaint_per_contact: Probability = Field(
        default=0.002, description="Chance of a complaint per contact that reached the debtor, before fatigue."
    )
    fatigue_slope: Annotated[float, Field(ge=0.0, le=10.0)] = Field(
        default=0.5, description="Relative rise of the complaint chance per contact in the previous 7 days."
    )
    stop_request_share: Probability = Field(
        default=0.4, description="Share of complaints that ask to stop contact (CFPB 2017: 42% asked to stop)."
    )
    attrition_per_contact: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.004,
        description="Added attrition on cure per contact reached in the previous 30 days (CFPB 2017 survey: "
        "contact pressure raises attrition; the size is an assumption).",
    )


class Promises(StrictModel):
    """Promises to pay made in a right-party conversation (see :class:`sim.behaviour.PromiseToPay`)."""

    promise_probability: dict[DebtorType, Probability] = Field(
        default={"forgetful": 0.5, "short_of_cash": 0.5, "hardship": 0.2, "unwilling": 0.3, "unreachable": 0.0},
        description="Chance that a debtor who has not paid this cycle promises to pay; an assumption.",
    )
    keep_probability: dict[DebtorType, Probability] = Field(
        default={"forgetful": 0.8, "short_of_cash": 0.6, "hardship": 0.1, "unwilling": 0.3, "unreachable": 0.0},
        description="Chance a promise is kept before present bias; no authoritative public figure, a weak prior.",
    )
    max_days_ahead: Annotated[int, Field(ge=1, le=30)] = Field(default=7, description="Latest promised date, days.")
    pledge_keep_multiplier: Annotated[float, Field(ge=1.0, le=2.0)] = Field(
        default=1.1, description="Keeping multiplier when the debtor picked the date (pledge framing)."
    )


class DiscountCap(StrictModel):
    dpd: DpdRange
    max_discount: Probability


class Plans(StrictModel):
    """Payment plans: the arrears are spread over n monthly instalments (see ``sim.behaviour.PlanAcceptance``).

    No public source gives acceptance or keeping rates; every number here is an assumption to calibrate.
    """

    acceptance_ceiling: dict[DebtorType, Probability] = Field(
        default={"forgetful": 0.3, "short_of_cash": 0.6, "hardship": 0.3, "unwilling": 0.15, "unreachable": 0.0},
        description="Largest chance of accepting, approached as the number of instalments grows.",
    )
    half_acceptance_instalments: Annotated[float, Field(gt=0.0)] = Field(
        default=3.0, description="Number of instalments at which acceptance is half the ceiling."
    )
    present_bias_pull: Annotated[float, Field(ge=0.0, le=5.0)] = Field(
        default=1.0, description="Present-biased debtors like deferring: acceptance × (1 + pull × (1 − β))."
    )
    keep_probability: dict[DebtorType, Probability] = Field(
        default={"forgetful": 0.9, "short_of_cash": 0.75, "hardship": 0.4, "unwilling": 0.5, "unreachable": 0.0},
        description="Chance of paying each instalment before present bias (× β).",
    )


class Disputes(StrictModel):
    """Disputes: a debtor contests the debt, and collection pauses while the lender validates it."""

    probability_per_contact: dict[DebtorType, Probability] = Field(
        default={"unwilling": 0.02},
        description="Chance of a dispute on a day with at least one contact that reached the debtor; an assumption.",
    )
    pause_days: Annotated[int, Field(ge=0, le=365)] = Field(
        default=30, description="Days without contact while the debt is validated (FDCPA validation period)."
    )


class Settlements(StrictModel):
    """Settlement offers: pay part of the balance now, the rest forgiven (``sim.behaviour.SettlementAcceptance``)."""

    acceptance_ceiling: dict[DebtorType, Probability] = Field(
        default={"forgetful": 0.6, "short_of_cash": 0.4, "hardship": 0.05, "unwilling": 0.3, "unreachable": 0.0}
    )
    intercept: float = -3.0
    per_discount: float = Field(default=8.0, description="Logit change per unit of discount (0.25 = 25%).")
    per_30_dpd: float = Field(default=0.2, description="Logit change per 30 DPD.")
    discount_caps: list[DiscountCap] = Field(
        default=[
            DiscountCap(dpd=(91, 120), max_discount=0.25),
            DiscountCap(dpd=(121, 150), max_discount=0.40),
            DiscountCap(dpd=(151, 180), max_discount=0.50),
        ],
        description="Largest discount by DPD band (AEA RCT #13871); no settlement outside the bands.",
    )
    offer_cost: Money = Field(default=0.5, description="Cost of sending one offer, currency units.")
    offer_reach_probability: Probability = 0.6


class Income(StrictModel):
    """Income: paydays (weekly, fortnightly or monthly, on a phase drawn per account) and income shocks.

    Shock rates are assumptions. Shocks change only how a debtor responds to treatment, not the untreated
    payment behaviour, which stays as fitted.
    """

    pay_period_mix: dict[StateKey, Probability] = Field(
        default={7: 0.25, 14: 0.35, 30: 0.40}, description="Share of debtors by days between paydays; an assumption."
    )
    payday_bound_types: list[DebtorType] = Field(default=["short_of_cash"])
    job_loss_per_month: Probability = Field(
        default=0.003, description="Monthly chance of an idiosyncratic income shock that puts a debtor in hardship."
    )
    recovery_per_month: Probability = Field(
        default=0.08, description="Monthly chance that a debtor in hardship regains income (becomes short of cash)."
    )
    window_days: Annotated[int, Field(ge=1, le=30)] = Field(
        default=3, description="Days after a payday in which a payday-bound debtor can respond to a reminder."
    )

    @field_validator("pay_period_mix")
    @classmethod
    def _mix_sums_to_one(cls, mix: dict[int, float]) -> dict[int, float]:
        unknown = sorted(set(mix) - {7, 14, 30})
        if unknown:
            raise ValueError(f"pay periods must be 7, 14 or 30 days, got {unknown[0]}")
        if abs(sum(mix.values()) - 1.0) > 1e-6:
            raise ValueError(f"shares must sum to 1, got {sum(mix.values()):.6f}")
        return mix


class Recession(StrictModel):
    """A portfolio-wide downturn between two days: income falls and job losses rise."""

    start_day: Annotated[int, Field(ge=0)]
    end_day: Annotated[int, Field(ge=0)]
    payment_probability_multiplier: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.8, description="Multiplier on the untreated chance of paying in a cycle while the recession lasts."
    )
    job_loss_per_month: Probability = Field(
        default=0.02, description="Monthly chance that a debtor loses their job and falls into hardship."
    )

    @model_validator(mode="after")
    def _ordered(self) -> Recession:
        if self.end_day < self.start_day:
            raise ValueError("end_day must not be before start_day")
        return self


class Hardship(StrictModel):
    """Hardship disclosure and breathing space (UK Debt Respite Scheme: 60 days without contact, interest or fees)."""

    disclosure_probability: Probability = Field(
        default=0.5, description="Chance a debtor in hardship discloses it in a conversation; an assumption."
    )
    breathing_space_days: Annotated[int, Field(ge=0, le=365)] = 60


class Signals(StrictModel):
    """Weak signals that precede trouble, as a lender's systems record them: portal logins and the change in spend.

    Both are drawn at each statement together with the cycle's untreated payment decision, so they carry information
    about it without changing it; the payment behaviour (and its calibration) is the same with or without them. No
    public figure gives their strength: these are hand-set priors, chosen so that the signals are informative but
    noisy.
    """

    logins_if_paying: Annotated[float, Field(ge=0.0, le=100.0)] = Field(
        default=3.0, description="Mean portal logins over a cycle (Poisson) when the debtor will pay this cycle."
    )
    logins_if_not_paying: Annotated[float, Field(ge=0.0, le=100.0)] = Field(
        default=1.0, description="Mean portal logins over a cycle (Poisson) when the debtor will not pay unprompted."
    )
    spend_change_by_type: dict[DebtorType, Annotated[float, Field(ge=-1.0, le=1.0)]] = Field(
        default={"forgetful": 0.0, "short_of_cash": -0.15, "hardship": -0.4, "unwilling": 0.0, "unreachable": -0.05},
        description="Mean change in monthly card spend against the account's usual spend, by debtor type (-0.4 = "
        "a 40% drop).",
    )
    spend_change_if_not_paying: Annotated[float, Field(ge=-1.0, le=1.0)] = Field(
        default=-0.1, description="Added to the mean spend change when the debtor will not pay this cycle unprompted."
    )
    spend_change_sd: Annotated[float, Field(ge=0.0, le=2.0)] = Field(
        default=0.25,
        description="Standard deviation of the spend change around its mean; values are clipped to [-1, 1].",
    )


class Sale(StrictModel):
    price_per_dollar: Probability = Field(default=0.16, description="Debt sale price of fresh debt (CFPB 2014: ~16¢).")


class Economics(StrictModel):
    recovery_weight: Annotated[float, Field(ge=0.0, le=10.0)] = Field(
        default=1.0, description="Weight of the NPV of cash collected (and sale proceeds) in the objective."
    )
    cost_weight: Annotated[float, Field(ge=0.0, le=10.0)] = Field(
        default=1.0, description="Weight of the NPV of contact costs and commission in the objective."
    )
    clv_weight: Annotated[float, Field(ge=0.0, le=10.0)] = Field(
        default=1.0,
        description="Weight of CLV lost in the objective: recovery_weight × NPV(cash) − cost_weight × NPV(costs) "
        "− clv_weight × CLV lost; with all weights 1 it is the NPV of net collections minus CLV lost.",
    )
    cost_of_capital: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.08, description="Yearly discount rate for NPV and CLV."
    )


class Calibration(StrictModel):
    """Provenance of the fitted numbers."""

    source: str = "hand-set defaults"
    sha256: str | None = None
    command: str | None = None
    window: str | None = None
    transitions_observed: dict[StateKey, int] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


class Scenario(StrictModel):
    """A portfolio of delinquent revolving-credit accounts and how its debtors behave."""

    name: str = "default"
    description: str = ""
    currency: str = "USD"
    product: Literal["card", "instalment_loan", "b2b_invoice"] = Field(
        default="card",
        description="A revolving card; a closed-end instalment loan with a fixed monthly payment; or a business "
        "invoice on net-30 terms, due in full (the minimum payment settings do not apply).",
    )
    charge_off_dpd: Annotated[int, Field(ge=30, le=720)] = Field(
        default=180,
        description="DPD at which accounts are written off; by default 180 for cards and 120 for instalment loans "
        "(FFIEC Uniform Retail Credit Classification and Account Management Policy).",
    )

    @model_validator(mode="before")
    @classmethod
    def _charge_off_by_product(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("product") == "instalment_loan" and "charge_off_dpd" not in data:
            data = {**data, "charge_off_dpd": 120}
        return data

    cycle_days: Literal[30] = 30
    portfolio: Portfolio = Portfolio()
    transitions: Transitions = Transitions()
    debtor_types: dict[str, Probability] = Field(
        default={
            "forgetful": 0.3,
            "short_of_cash": 0.3,
            "hardship": 0.15,
            "unwilling": 0.15,
            "unreachable": 0.1,
        },
        description="Latent mix of debtor types; sums to 1. An assumption: no public source gives the mix.",
    )
    channels: dict[str, Channel] = Field(default_factory=_default_channels)
    call_center: CallCenter = CallCenter()
    response: Response = Response()
    agency: Agency = Agency()
    customer: Customer = Customer()
    economics: Economics = Economics()
    promises: Promises = Promises()
    settlements: Settlements = Settlements()
    plans: Plans = Plans()
    disputes: Disputes = Disputes()
    income: Income = Income()
    recession: Recession | None = None
    hardship: Hardship = Hardship()
    signals: Signals = Signals()
    sale: Sale = Sale()
    present_bias: tuple[Probability, Probability] = Field(
        default=(0.7, 1.0),
        strict=False,
        description="Range of the quasi-hyperbolic β drawn per debtor (Shui & Ausubel 2005).",
    )
    calibration: Calibration = Calibration()

    @model_validator(mode="after")
    def _customer_value_is_finite(self) -> Scenario:
        if self.customer.monthly_retention >= 1.0 and self.economics.cost_of_capital == 0.0:
            raise ValueError(
                "customer.monthly_retention 1 with economics.cost_of_capital 0 makes customer value infinite; "
                "lower one or raise the other"
            )
        return self

    @field_validator("debtor_types")
    @classmethod
    def _type_mix(cls, mix: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(mix) - set(DEBTOR_TYPES))
        if unknown:
            raise ValueError(f"unknown debtor type {unknown[0]!r}; allowed: {', '.join(DEBTOR_TYPES)}")
        if abs(sum(mix.values()) - 1.0) > 1e-6:
            raise ValueError(f"shares must sum to 1, got {sum(mix.values()):.6f}")
        return mix

    @field_validator("channels")
    @classmethod
    def _known_channels(cls, channels: dict[str, Channel]) -> dict[str, Channel]:
        if "call" in channels:
            raise ValueError("calls are configured under call_center, not channels")
        unknown = sorted(set(channels) - set(MESSAGE_CHANNELS))
        if unknown:
            raise ValueError(f"unknown channel {unknown[0]!r}; allowed: {', '.join(MESSAGE_CHANNELS)}")
        missing = sorted(set(MESSAGE_CHANNELS) - set(channels))
        if missing:
            raise ValueError(
                f"missing channel {missing[0]!r}; every one of {', '.join(MESSAGE_CHANNELS)} needs an entry"
            )
        return channels

    # -- loading ---------------------------------------------------------------------------------------------

    @classmethod
    def from_yaml(cls, path: str | Path) -> Scenario:
        """Load a scenario from a YAML file; raise :class:`ConfigError` naming the file and key on bad input."""
        path = Path(path)
        chain = _extends_chain(path, seen=())
        data: dict[str, Any] = {}
        for _, layer in reversed(chain):
            data = deep_merge(data, layer)
        for key, (_, description) in OTHER_KINDS.items():
            if key in data:
                # Name the file that has the key: a base of ``path`` when ``path`` extends a waterfall, for example.
                key_file = next(file for file, layer in chain if key in layer)
                via = "" if key_file == path else f" ({path} extends it)"
                raise ConfigError(
                    str(key_file), "", f"is {description} (it has '{key}'), not a scenario{via}; name a scenario YAML"
                )
        try:
            return cls.from_dict(data, source=str(path))
        except ConfigError as error:
            raise _blame_layer(error, chain) from None

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<scenario>") -> Scenario:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise config_error_from_validation(source, exc, model=cls) from None

    @classmethod
    def load(cls, name_or_path: str | Path) -> Scenario:
        """Load a shipped scenario by name (``default``) or a scenario YAML by path.

        A shipped name given as text wins over a file or folder of that name in the current directory, so that the
        current directory cannot change what a config's ``scenario: default`` means. Write ``./default`` for such a
        file.
        """
        if isinstance(name_or_path, str) and name_or_path in shipped_scenarios():
            return cls.from_yaml(SHIPPED_SCENARIO_DIR / f"{name_or_path}.yaml")
        path = Path(name_or_path)
        if path.suffix in (".yaml", ".yml") or path.exists():
            return cls.from_yaml(path)
        shipped = SHIPPED_SCENARIO_DIR / f"{name_or_path}.yaml"
        if not shipped.exists():
            names = ", ".join(shipped_scenarios())
            raise ConfigError(str(name_or_path), "scenario", f"no shipped scenario of that name; shipped: {names}")
        return cls.from_yaml(shipped)

    def config_hash(self) -> str:
        """SHA-256 of the scenario's canonical JSON, for the reproducibility footer."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


def _extends_chain(path: Path, seen: tuple[Path, ...]) -> list[tuple[Path, dict[str, Any]]]:
    """Read a scenario YAML and the scenarios it extends; return ``(file, its keys)`` from ``path`` to the root.

    The scenario is the layers merged from the root up by :func:`deep_merge`: mappings merge key by key at every
    depth, and any other value (a list, a number) replaces the base's value.
    """
    data = load_yaml_mapping(path)
    base = data.pop("extends", None)
    if base is None:
        return [(path, data)]
    if not isinstance(base, str):
        raise ConfigError(str(path), "extends", "must be a shipped scenario name or a path to a scenario YAML")
    base_path = Path(base)
    if base_path.suffix not in (".yaml", ".yml"):
        base_path = SHIPPED_SCENARIO_DIR / f"{base}.yaml"
        if not base_path.exists():
            raise ConfigError(
                str(path), "extends", f"no shipped scenario {base!r}; shipped: {', '.join(shipped_scenarios())}"
            )
    elif not base_path.is_absolute():
        base_path = path.parent / base_path
    if not base_path.is_file():
        reason = "is a directory" if base_path.is_dir() else "file not found"
        raise ConfigError(
            str(path), "extends", f"{short_repr(base)}: {reason}; name a scenario YAML or a shipped scenario"
        )
    if base_path.resolve() in seen:
        raise ConfigError(str(path), "extends", "scenarios extend each other in a cycle")
    return [(path, data), *_extends_chain(base_path, (*seen, path.resolve()))]


def _value_at(data: Any, parts: list[str]) -> tuple[bool, Any]:
    """Return ``(True, value)`` if the nested mapping ``data`` has the key path ``parts`` (keys compared as text)."""
    for part in parts:
        if not isinstance(data, dict):
            return False, None
        matches = [value for key, value in data.items() if str(key) == part]
        if not matches:
            return False, None
        data = matches[0]
    return True, data


def _blame_layer(error: ConfigError, chain: list[tuple[Path, dict[str, Any]]]) -> ConfigError:
    """Name the file of an ``extends`` chain that set the invalid key, and note a mapping merged from several files."""
    if len(chain) == 1 or not error.key_path:
        return error
    parts = [part for part in re.split(r"[.\[\]]", error.key_path) if part]
    setters = []
    for path, layer in chain:
        found, value = _value_at(layer, parts)
        if found:
            setters.append((path, value))
    if not setters:
        return error
    child = chain[0][0]
    first_path, first_value = setters[0]
    message = error.message
    if first_path != child:
        message += f" (the value comes from {first_path}, which {child} extends)"
    elif isinstance(first_value, dict) and len(setters) > 1:
        inherited = sorted(
            {str(key) for _, value in setters[1:] if isinstance(value, dict) for key in value}
            - {str(key) for key in first_value},
            key=lambda key: (len(key), key),
        )
        if inherited:
            base = setters[1][0]
            base_name = f"the shipped scenario '{base.stem}'" if base.parent == SHIPPED_SCENARIO_DIR else str(base)
            message += (
                f" ({child} merges this mapping key by key with {base_name}, which adds "
                f"{', '.join(inherited)}; list those keys too, with 0 where they do not apply)"
            )
    return ConfigError(str(first_path), error.key_path, message)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Return ``base`` with ``override`` applied: mappings merge key by key at every depth, other values replace."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def shipped_scenarios() -> list[str]:
    return sorted(p.stem for p in SHIPPED_SCENARIO_DIR.glob("*.yaml"))


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that rejects a key repeated in one mapping, which plain YAML silently resolves to the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        """Reject the integers that YAML 1.1 reads in an unexpected base: 030 (octal, 24) and 1:30 (base 60, 90)."""
        text = self.construct_scalar(node)
        digits = text.replace("_", "").lstrip("+-")
        if ":" in digits:
            self._reject_base(text, "a base-60 number", node)
        if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
            self._reject_base(text, "an octal number", node)
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        """Reject the floats that YAML 1.1 reads in base 60, such as 1:30.5 (90.5)."""
        text = self.construct_scalar(node)
        if ":" in text:
            self._reject_base(text, "a base-60 number", node)
        return super().construct_yaml_float(node)

    @staticmethod
    def _reject_base(text: str, base: str, node: yaml.ScalarNode) -> None:
        problem = f"YAML 1.1 reads {text} as {base}; write the decimal number, with no leading zero or colon"
        raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark)


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _UniqueKeyLoader.construct_yaml_int)
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:float", _UniqueKeyLoader.construct_yaml_float)


def load_yaml_mapping(path: Path) -> dict[str, Any]:
    """Read a YAML file whose top level is a mapping; raise :class:`ConfigError` when it is missing or malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "", "file not found") from None
    except IsADirectoryError:
        raise ConfigError(str(path), "", "is a directory; expected a YAML file") from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), "", "is not UTF-8 text; expected a YAML file") from None
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot be read: {exc.strerror}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: builds plain data only
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "malformed"
        raise ConfigError(str(path), "", f"invalid YAML{where}: {problem}") from None
    except RecursionError:
        # PyYAML recurses once per nesting level: 600 nested brackets exhausted the stack on Python 3.11.
        raise ConfigError(str(path), "", "invalid YAML: nested too deeply") from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), "", "the top level must be a mapping of keys to values")
    return data
