"""The portfolio model: delinquent accounts as arrays, one simulated day at a time, driven by SimPy.

Order of events in one simulated day ``t`` (fractions of a day are hours / 24):

1. 00:00 Statements: accounts whose cycle ends today move the unpaid bill into arrears, and a plan whose instalment
   went unpaid breaks. They pay a late fee for a missed minimum unless on hold, get the next bill, may suffer an
   income shock, and draw this cycle's untreated payment decision (pay or not, which day, how much).
2. 08:00 The policy sees the observable state and picks one action per account; the compliance guard
   (:mod:`sim.compliance`) blocks what the rules forbid and counts it per rule. Emails, SMS, portal links and offers
   arrive at once, letters after their postal delay (a SimPy timeout); placements, holds, sales and write-offs take
   effect.
3. Shift hours: the call centre's agents (SimPy processes) dial the queued calls; a call reaches the right party with a
   probability, and a conversation may bring a promise to pay or a hardship disclosure (then breathing space).
4. 10:00 Letters posted ``delay_days`` earlier arrive.
5. 22:00 Debtors decide: settlement and plan offers are accepted or not; scheduled payments, kept promises and plan
   instalments fall due; a debtor reached today who has not paid this cycle pays with the probability of the
   response curve. Reached debtors may complain (and ask to stop contact) or dispute. Cures may end in attrition,
   which removes the customer's value.
6. Still at 22:00, the ledger: interest accrues (not on hold), DPD advances, accounts at the charge-off DPD are
   written off, and the day is recorded.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Generator
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
import simpy
from scipy.special import pdtr

from sim.allocator import lasting_arrays, tune_allocator
from sim.behaviour import Behaviour, clip_probability
from sim.callcenter import HOURS_PER_DAY, CallCentre, ShiftLog
from sim.catalogue import ACTIONS, AGENCY, HARDSHIP_HOLD, N_ACTIONS, NO_ACTION, SELL, WRITE_OFF
from sim.compliance import RULES, allowed_actions, blocked_by_rule
from sim.observation import OBSERVATION_FIELDS, Observation
from sim.rng import (
    KeyedRandom,
    Purpose,
    category_by_cumulative_group,
    category_from_uniform,
    cumulative_table,
    normal_from_uniform,
)
from sim.scenario import CHANNELS, DEBTOR_TYPES, FRAMINGS, MAX_CYCLES_PAST_DUE, Scenario

ACTIVE, PAID_OFF, CHARGED_OFF, SETTLED, SOLD = 0, 1, 2, 3, 4
#: Up to this many accounts, the close of day counts the statuses with one histogram, above with a comparison per
#: status. At 1,024 accounts the histogram took 2 µs against 26 µs, at 16,384 both about 45 µs, and at 65,536 the
#: comparisons took 73 µs against 166 µs (one measurement each, with another job running).
_STATUS_HISTOGRAM_MAX_ACCOUNTS = 16_384
STATUS_NAMES = {ACTIVE: "active", PAID_OFF: "paid_off", CHARGED_OFF: "charged_off", SETTLED: "settled", SOLD: "sold"}
N_STATUSES = len(STATUS_NAMES)
#: Compliance rules the guard enforces; blocked actions are counted under these names.
BLOCK_RULES = RULES
KIND_NONE, KIND_CONTACT, KIND_AGENCY, KIND_SETTLEMENT, KIND_HOLD, KIND_SELL, KIND_WRITE_OFF, KIND_PLAN, KIND_PORTAL = (
    range(9)
)
_KIND_CODES = {
    "none": KIND_NONE,
    "contact": KIND_CONTACT,
    "agency": KIND_AGENCY,
    "settlement": KIND_SETTLEMENT,
    "hardship_hold": KIND_HOLD,
    "sell": KIND_SELL,
    "write_off": KIND_WRITE_OFF,
    "plan": KIND_PLAN,
    "portal": KIND_PORTAL,
}
#: DPD bands of the daily record: (column, lowest DPD, highest DPD).
BUCKETS = (
    ("accounts_current", 0, 0),
    ("accounts_1_29", 1, 29),
    ("accounts_30_59", 30, 59),
    ("accounts_60_89", 60, 89),
    ("accounts_90_119", 90, 119),
    ("accounts_120_149", 120, 149),
    ("accounts_150_179", 150, 179),
    ("accounts_180_plus", 180, np.iinfo(np.int64).max),  # only when charge_off_dpd is above 180
)


def _bucket_lows() -> tuple[int, ...]:
    """Return the lowest DPD of each bucket, checking that the buckets cover DPD 0 upwards without gaps or overlaps.

    So bucket ``k`` contains the DPDs from its lowest up to, not including, the next bucket's lowest.
    """
    lows = tuple(low for _, low, _ in BUCKETS)
    highs = tuple(high for _, _, high in BUCKETS)
    gaps = [high + 1 != low for high, low in zip(highs[:-1], lows[1:], strict=True)]
    if lows[0] != 0 or highs[-1] != np.iinfo(np.int64).max or any(gaps):
        raise RuntimeError(f"the DPD buckets must cover 0 upwards without gaps or overlaps, got {BUCKETS}")
    return lows


_BUCKET_LOWS = _bucket_lows()
WINDOW_DAYS = 30  # contact history kept per account, days
CENTS = 100
RECOVERY_DAYS = (30, 60, 90, 180)  # paid_within_days[k]: cents paid before run day RECOVERY_DAYS[k]
NO_PAYMENT = np.iinfo(np.int64).min  # pay_day of an account that will not pay this cycle unprompted
#: DPD origin of an account that is current or resolved: far enough ahead that ``day - origin`` is negative on every
#: simulated day, and far enough from the int64 limit that the subtraction cannot overflow.
NOT_DELINQUENT = 2**62
_CALL_CHANNEL = CHANNELS.index("call")
#: The draws of a cycle's payment decision, as (purpose, draw) pairs of KeyedRandom.uniform_rows.
_PAYMENT_DRAWS = tuple(
    (purpose, 0)
    for purpose in (
        Purpose.WILL_PAY,
        Purpose.AGENCY,
        Purpose.PORTAL_LOGINS,
        Purpose.SPEND_CHANGE,
        Purpose.PAY_DAY,
        Purpose.PAY_AMOUNT,
    )
)
#: Up to this many accounts, PortfolioModel._reached_on gathers a window of the contact ring in one call.
_ONE_GATHER_MAX_ACCOUNTS = 65_536
#: The draws at a statement: the payment decision, then the income shock.
_STATEMENT_DRAWS = (*_PAYMENT_DRAWS, (Purpose.JOB_LOSS, 0))
#: The draws of a right-party conversation's outcome, in the order _conversation reads them.
_CONVERSATION_DRAWS = tuple(
    (purpose, 0) for purpose in (Purpose.DISCLOSURE, Purpose.PROMISE, Purpose.PROMISE_DAY, Purpose.PROMISE_KEEP)
)
#: The draws of each reached debtor's complaint and dispute.
_COMPLAINT_DRAWS = ((Purpose.COMPLAINT, 0), (Purpose.DISPUTE, 0))


#: Per-account arrays whose last axis, not the first, is the account (rings of recent days, counts per rule).
_ACCOUNT_AXIS_LAST = frozenset({"reached_ring", "calls_ring", "blocked_by_account", "paid_within_days"})


def _read_only(values: np.ndarray) -> np.ndarray:
    """Mark ``values`` read-only and return it."""
    values.setflags(write=False)
    return values


#: The computation of each Observation field from the model's state on a day.
_OBSERVE = {
    "active": lambda m, day: m.status == ACTIVE,
    "dpd": lambda m, day: m.dpd(day),
    "cycles_past_due": lambda m, day: m.cycles_past_due.copy(),
    "balance": lambda m, day: m.balance / CENTS,
    "past_due": lambda m, day: m.past_due / CENTS,
    "credit_limit": lambda m, day: m.credit_limit.copy(),
    "placed_with_agency": lambda m, day: m.placed.copy(),
    "days_since_contact": lambda m, day: day - m.last_contact,
    "calls_last_7_days": lambda m, day: m.calls_last_7_days.copy(),
    "days_since_conversation": lambda m, day: day - m.last_conversation,
    "on_hold": lambda m, day: m.hold_until > day,
    "stop_contact": lambda m, day: m.stop_contact.copy(),
    "hardship_disclosed": lambda m, day: m.hardship_disclosed.copy(),
    "promise_pending": lambda m, day: m.promise_day >= day,
    "on_plan": lambda m, day: m.on_plan.copy(),
    "disputed": lambda m, day: m.dispute_until > day,
    "complaints": lambda m, day: m.complaints.copy(),
    "days_since_statement": lambda m, day: day - m.last_statement,
    "days_since_payment": lambda m, day: day - m.last_payment_day,
    "portal_logins": lambda m, day: m.portal_logins.copy(),
    "spend_change": lambda m, day: m.spend_change.copy(),
}
#: Fields the model itself reads from the observation: the compliance guard and its action mask, and the call
#: queue's order.
ENGINE_FIELDS = frozenset(
    {
        "active",
        "dpd",
        "placed_with_agency",
        "on_hold",
        "disputed",
        "stop_contact",
        "calls_last_7_days",
        "days_since_conversation",
        "past_due",
    }
)


def observed_fields(policy: object, trace: bool = False) -> frozenset[str]:
    """Return the observation fields a model of ``policy`` computes each day.

    Every field, unless the policy has an ``observed_fields`` attribute that is not None: then those fields and the
    ones the model reads itself (:data:`ENGINE_FIELDS`). A traced model records some more, so it computes every field.
    """
    declared = getattr(policy, "observed_fields", None)
    if declared is None or trace:
        return frozenset(OBSERVATION_FIELDS)
    unknown = sorted(set(declared) - set(OBSERVATION_FIELDS))
    if unknown:
        raise ValueError(
            f"policy {getattr(policy, 'name', policy)!r} declares unknown observation fields {unknown}; "
            f"allowed: {', '.join(OBSERVATION_FIELDS)}"
        )
    return frozenset(declared) | ENGINE_FIELDS


def _check_account_ids(account_ids: np.ndarray, n_accounts: int) -> np.ndarray:
    """Return ``account_ids`` as a fresh int64 array; raise ValueError unless it contains n distinct ids >= 0."""
    id_array = np.asarray(account_ids)
    # Casting floats to int64 would truncate 500.7 to account 500, and a number too large for int64 gives objects.
    if id_array.size and id_array.dtype.kind not in "iu":
        raise ValueError(f"account ids must be whole numbers from 0 to 2**63 - 1, got {id_array.dtype} values")
    ids = id_array.astype(np.int64)
    if ids.shape != (n_accounts,):
        raise ValueError(f"account_ids must have shape ({n_accounts},), got {ids.shape}")
    if n_accounts and ids.min() < 0:
        raise ValueError(f"account ids must be at least 0, got {ids.min()}")
    # Increasing ids (the usual case: a range, or the ids an environment hands out) are distinct without a sort.
    if n_accounts > 1 and not (ids[1:] > ids[:-1]).all() and len(np.unique(ids)) != n_accounts:
        raise ValueError("account ids must be distinct: two positions with one id would share every random draw")
    return ids


def _poisson_quantile(u: np.ndarray, rate: float) -> np.ndarray:
    """Poisson quantiles by lookup in a cached CDF table.

    Equal to ``scipy.stats.poisson.ppf(u, rate)`` for u in (0, 1), and 0 at u = 0, where scipy returns -1.
    """
    return np.searchsorted(_poisson_cdf_table(float(rate)), u, side="left")


@functools.lru_cache(maxsize=64)
def _poisson_cdf_table(rate: float) -> np.ndarray:
    """The Poisson CDF of ``rate`` at 0, 1, ... up to the first value that is 1.0 in floating point (cached).

    scipy.special.pdtr is the function that scipy.stats.poisson.cdf evaluates. It is called directly because
    scipy.stats is slow to import, and every worker process of a grid imports the model.
    """
    size = int(rate + 10.0 * np.sqrt(rate)) + 16
    while True:
        table = pdtr(np.arange(size), rate)
        if table[-1] == 1.0:
            table.setflags(write=False)
            return table
        size *= 2


@functools.lru_cache(maxsize=256)
def _ring_offsets(ring_row: int, days_back: range, n_accounts: int) -> np.ndarray:
    """Return the flat offsets of the rows of days ``ring_row - k``, ``k`` in ``days_back``, in a contact ring of
    ``n_accounts`` columns, as a read-only column (cached, because every day reads the same few)."""
    rows = np.array([(ring_row - k) % WINDOW_DAYS for k in days_back], dtype=np.int64)
    offsets = rows[:, None] * n_accounts
    offsets.setflags(write=False)
    return offsets


@dataclass(eq=False)
class _Letters:
    """A batch of letters in the post (compared by identity, so each batch is removed once on delivery)."""

    arrival: float
    accounts: np.ndarray
    channel: int
    framing: np.ndarray


@dataclass(frozen=True)
class _Start:
    """New accounts' draws that take effect only on the day they join: their place in the billing cycle and the
    payment decision of their first cycle."""

    days_into_cycle: np.ndarray  # days from the last statement to the first day
    overdue_cycles: np.ndarray  # invoices: cycles the invoice was overdue at its last statement, less one
    will_pay: np.ndarray
    pay_offset: np.ndarray  # days from the last statement to the unaligned pay day

    def take(self, rows: np.ndarray) -> _Start:
        return _Start(*(getattr(self, field.name)[rows] for field in fields(self)))


#: Accounts drawn at once, ahead of need, when accounts join through ``renew_accounts``. A vector env renews a few
#: accounts on most steps, and drawing costs little more for many accounts than for one: 1,024 accounts took about
#: 330 µs and 256 about 220 µs (one measurement).
RESERVE_ACCOUNTS = 1024


@dataclass(frozen=True)
class _Reserve:
    """Accounts ``first_id .. first_id + size - 1`` drawn ahead of joining: their per-account arrays and start."""

    first_id: int
    size: int
    #: (attribute, key for a dict of arrays or None, whether the account is the last axis, drawn values)
    arrays: tuple[tuple[str, str | None, bool, np.ndarray], ...]
    start: _Start
    #: The drawn accounts' random numbers, whose keys renew_accounts copies rather than mixes again.
    rng: KeyedRandom


class PortfolioModel:
    """A portfolio of ``n_accounts`` delinquent card accounts under one policy, for ``days`` days.

    Construct, then call :meth:`run`. State lives in numpy arrays (one entry per account); SimPy keeps time and runs
    the intraday processes (the call centre's shift, letters in the post). A caller that chooses the actions itself
    (a Gymnasium environment) calls :meth:`begin_day` and :meth:`finish_day` in place of :meth:`step`, and may
    replace finished accounts with new ones through :meth:`renew_accounts`.

    ``account_ids`` gives the id of the account at each position, which keys its random draws (by default
    ``0 .. n_accounts - 1``), so account ``k`` of a seed is the same account whatever its position. With
    ``record_daily=False`` only the last day's row of :meth:`daily_frame` is kept, so a model that runs without end
    does not grow.

    Building a model tunes glibc's allocator for the process (:func:`sim.allocator.tune_allocator`), which makes
    large portfolios faster; set ``ARREARS_DEFAULT_MALLOC=1`` to prevent it.
    """

    def __init__(
        self,
        scenario: Scenario,
        policy,
        n_accounts: int,
        days: int,
        seed: int,
        trace: bool = False,
        behaviour: Behaviour | None = None,
        account_ids: np.ndarray | None = None,
        record_daily: bool = True,
    ) -> None:
        if n_accounts < 1:
            raise ValueError(f"n_accounts must be at least 1, got {n_accounts}")
        if days < 1:
            raise ValueError(f"days must be at least 1, got {days}")
        tune_allocator()
        self.scenario = scenario
        self.policy = policy
        self.n = n_accounts
        self.days = days
        self.seed = seed
        self.account_ids = _check_account_ids(np.arange(n_accounts) if account_ids is None else account_ids, n_accounts)
        self.rng = KeyedRandom(seed, self.account_ids)
        self.is_invoice = scenario.product == "b2b_invoice"
        self.behaviour = behaviour or Behaviour.from_scenario(scenario)
        self.env = simpy.Environment()
        self.call_centre = CallCentre(self.env, scenario.call_center)
        self._init_tables()
        # Every attribute that _init_accounts creates is per-account state, which renew_accounts redraws.
        attributes_before = set(vars(self))
        with lasting_arrays():
            self._init_accounts()
        self._account_attributes = tuple(sorted(set(vars(self)) - attributes_before))
        self.record_daily = record_daily
        self._day_open = False  # between open_day (or begin_day) and finish_day
        self._observation: Observation | None = None  # today's observation once computed, kept until finish_day
        self._reserve: _Reserve | None = None  # accounts drawn ahead for renew_accounts
        #: The observation fields computed each day (see observed_fields); the others are None.
        self.observed_fields = observed_fields(policy, trace)
        self._daily_rows: list[dict[str, float]] = []
        self.transition_counts = np.zeros((MAX_CYCLES_PAST_DUE + 1, MAX_CYCLES_PAST_DUE + 2), dtype=np.int64)
        self.peak_agents_busy = 0
        self.trace = trace
        self.day = 0  # the next day to simulate
        self._in_post: list[_Letters] = []
        self._contact_log: list[pd.DataFrame] = []
        # A policy that needs the model itself (the random baseline's action mask, the oracle's latent state)
        # receives it once here.
        if hasattr(policy, "bind"):
            policy.bind(self)
        self._payment_log: list[pd.DataFrame] = []
        self._action_log: list[pd.DataFrame] = []

    # -- set-up ---------------------------------------------------------------------------------------------------

    def _init_tables(self) -> None:
        sc = self.scenario
        self.spend_change_by_type = np.array([sc.signals.spend_change_by_type.get(t, 0.0) for t in DEBTOR_TYPES])
        rows = sc.transitions.monthly
        n_states = MAX_CYCLES_PAST_DUE + 1
        self.transition_matrix = np.array([rows[s] for s in range(n_states)], dtype=np.float64)
        # Minimum payments k paid in a cycle from state s: next state s + 1 - k, so k = s + 1 - next.
        self.pay_probability = np.empty(n_states)
        self.payments_given_pay = np.zeros((n_states, n_states + 1))
        for s in range(n_states):
            roll = self.transition_matrix[s, s + 1]
            self.pay_probability[s] = 1.0 - roll
            for k in range(1, s + 2):
                self.payments_given_pay[s, k] = self.transition_matrix[s, s + 1 - k]
            total = self.payments_given_pay[s].sum()
            if total > 0:
                self.payments_given_pay[s] /= total
            else:
                self.payments_given_pay[s, 1] = 1.0
        # Every statement draws from these, so their cumulative rows are computed once.
        self._payments_cumulative = cumulative_table(self.payments_given_pay)
        self.full_payoff_share = np.array([sc.transitions.full_payoff_share.get(s, 0.0) for s in range(n_states)])
        self.dispute_probability = np.array([sc.disputes.probability_per_contact.get(t, 0.0) for t in DEBTOR_TYPES])
        self.late_fee_cents = np.rint(sc.portfolio.late_fee * CENTS).astype(np.int64)

        # Per channel in CHANNELS order; calls take their cost and reach from the call centre instead.
        messages = [sc.channels.get(c) for c in CHANNELS]
        self.reach_probability = np.array([m.reach_probability if m else 1.0 for m in messages])
        self.channel_cost = np.array([m.cost if m else 0.0 for m in messages])
        self.channel_delay = np.array([m.delay_days if m else 0 for m in messages], dtype=np.int64)

        # Catalogue lookups: kind, channel index (-1 when not a contact), framing index and discount per action.
        self.action_kind = np.array([_KIND_CODES[a.kind] for a in ACTIONS], dtype=np.int64)
        self.action_discount = np.array([a.discount for a in ACTIONS])
        self.action_instalments = np.array([a.instalments for a in ACTIONS], dtype=np.int64)
        self.action_channel = np.full(N_ACTIONS, -1, dtype=np.int64)
        self.action_framing = np.zeros(N_ACTIONS, dtype=np.int64)
        # A portal link is an SMS whose response is multiplied by the portal multiplier.
        self.action_boost = np.array([sc.response.portal_multiplier if a.kind == "portal" else 1.0 for a in ACTIONS])
        for action in ACTIONS:
            if action.channel is not None:
                self.action_channel[action.index] = CHANNELS.index(action.channel)
                self.action_framing[action.index] = FRAMINGS.index(action.framing)

    def _init_accounts(self) -> None:
        """Draw every account's initial state, as the lender's systems hold it on day 0, the account's first day."""
        start = self._draw_accounts()
        self._start_accounts(np.arange(self.n), 0, start)

    def _draw_accounts(self) -> _Start:
        """Create every per-account array with the accounts' drawn state; return what waits for the first day.

        Draws are keyed by day -1 whatever the first day, so an account id is the same account whenever it joins. The
        arrays that depend on the first day (the last statement, the due day of an invoice, the pay day, the
        aging and the opening balance) hold placeholders until :meth:`_start_accounts` sets them.
        """
        sc, n = self.scenario, self.n
        portfolio = sc.portfolio
        setup_day = -1
        # Reach of each message channel and, last, of settlement offers.
        reach = np.append(self.reach_probability, sc.settlements.offer_reach_probability)
        # All set-up draws in one call, because a renewal draws for a few accounts, where the cost per call dominates.
        purposes = (
            Purpose.DEBTOR_TYPE,
            Purpose.INITIAL_STATE,
            Purpose.BALANCE,
            Purpose.CREDIT_LIMIT,
            Purpose.CYCLE_OFFSET,
            Purpose.PRESENT_BIAS,
            Purpose.PAY_PERIOD,
            Purpose.PAYDAY_PHASE,
        )
        setup_draws = [(purpose, 0) for purpose in purposes] + [(Purpose.REACH, c) for c in range(len(reach))]
        u = dict(zip(setup_draws, self.rng.uniform_rows(setup_day, setup_draws), strict=True))

        type_mix = np.array([sc.debtor_types.get(t, 0.0) for t in DEBTOR_TYPES])
        self.debtor_type = category_from_uniform(u[Purpose.DEBTOR_TYPE, 0], type_mix).astype(np.int8)

        state_mix = np.array([portfolio.initial_cycles_past_due.get(s, 0.0) for s in range(MAX_CYCLES_PAST_DUE + 1)])
        state = category_from_uniform(u[Purpose.INITIAL_STATE, 0], state_mix).astype(np.int64)

        balance = np.exp(
            portfolio.balance.mean_log + portfolio.balance.sd_log * normal_from_uniform(u[Purpose.BALANCE, 0])
        )
        balance = np.clip(balance, portfolio.minimum_balance, portfolio.maximum_balance)
        limit = np.exp(
            portfolio.credit_limit.mean_log
            + portfolio.credit_limit.sd_log * normal_from_uniform(u[Purpose.CREDIT_LIMIT, 0])
        )
        self.credit_limit = np.round(limit, 2)
        installment = np.maximum(portfolio.minimum_payment_rate * balance, portfolio.minimum_payment_floor)
        self.installment = np.maximum(np.rint(installment * CENTS).astype(np.int64), 1)
        balance_cents = np.rint(balance * CENTS).astype(np.int64)
        # Each account's last statement was 0..29 days before its first day; it is in the middle of that cycle.
        days_into_cycle = np.floor(u[Purpose.CYCLE_OFFSET, 0] * sc.cycle_days).astype(np.int64)
        self.last_statement = np.zeros(n, dtype=np.int64)  # set by _start_accounts

        if self.is_invoice:
            # An invoice is due in full: one "minimum payment" is the whole invoice.
            self.balance = balance_cents
            self.installment = balance_cents.copy()
            self.past_due = np.where(state > 0, balance_cents, 0)
            self.billed = np.where(state > 0, 0, balance_cents)
            overdue_cycles = np.maximum(state - 1, 0)
            self.due_day = np.zeros(n, dtype=np.int64)  # set by _start_accounts
            state = np.minimum(state, 1)
        else:
            # The balance exceeds the arrears plus the current bill, so the state is consistent and a cure settled
            # before day 0 never repays the whole balance.
            self.balance = np.maximum(balance_cents, (state + 2) * self.installment)
            self.past_due = state * self.installment
            self.billed = np.minimum(self.installment, self.balance - self.past_due)
            self.due_day = np.zeros(n, dtype=np.int64)  # used for invoices only
            overdue_cycles = np.zeros(n, dtype=np.int64)
        self.cycle_state = state  # cycles past due at the last statement
        self.status = np.full(n, ACTIVE, dtype=np.int8)
        self.resolved_day = np.full(n, -1, dtype=np.int64)  # day the account left the book; -1 while active
        self.placed = np.zeros(n, dtype=bool)

        # Latent willingness and income timing.
        low, high = sc.present_bias
        self.present_bias = low + (high - low) * u[Purpose.PRESENT_BIAS, 0]
        periods = np.array(list(sc.income.pay_period_mix), dtype=np.int64)
        shares = np.array(list(sc.income.pay_period_mix.values()))
        self.pay_period = periods[category_from_uniform(u[Purpose.PAY_PERIOD, 0], shares)]
        self.payday_phase = np.floor(u[Purpose.PAYDAY_PHASE, 0] * self.pay_period).astype(np.int64)
        self.payday_bound = self.behaviour.payday.affected[self.debtor_type]

        # Conduct: holds, complaints, requests to stop contact, promises.
        self.hold_until = np.full(n, -1, dtype=np.int64)  # no contact, interest or fees before this day
        self.hardship_disclosed = np.zeros(n, dtype=bool)
        self.complaints = np.zeros(n, dtype=np.int64)
        self.stop_contact = np.zeros(n, dtype=bool)
        self.promise_day = np.full(n, NO_PAYMENT, dtype=np.int64)
        self.promise_will_keep = np.zeros(n, dtype=bool)
        # Day of the conversation that made the pending promise: a payment since then fulfils the promise.
        self.promise_made_day = np.full(n, NO_PAYMENT, dtype=np.int64)
        self.promises_made = np.zeros(n, dtype=np.int64)
        self.promises_kept = np.zeros(n, dtype=np.int64)
        self.dispute_until = np.full(n, -1, dtype=np.int64)  # collection paused while a dispute is validated
        self.disputes = np.zeros(n, dtype=np.int64)

        # Payment plans: the arrears at acceptance, repaid in equal instalments that fall due at statements.
        self.on_plan = np.zeros(n, dtype=bool)
        self.plan_instalment = np.zeros(n, dtype=np.int64)
        self.plan_remaining = np.zeros(n, dtype=np.int64)
        self.plans_by_account = {
            key: np.zeros(n, dtype=np.int32) for key in ("offered", "accepted", "completed", "broken")
        }
        self.blocked = dict.fromkeys(BLOCK_RULES, 0)

        # Customer value: monthly margin discounted at the cost of capital with monthly retention, as an annuity.
        customer = sc.customer
        monthly_margin = customer.annual_margin_rate * self.credit_limit / 12.0
        monthly_discount = (1.0 + sc.economics.cost_of_capital) ** (-1.0 / 12.0)
        q = customer.monthly_retention * monthly_discount
        self.clv = monthly_margin * q / (1.0 - q) if q < 1.0 else np.full(n, np.inf)
        self.attrited = np.zeros(n, dtype=bool)
        self.cured = np.zeros(n, dtype=bool)

        # Whether each message channel (and settlement offers, last column) reaches the debtor: a trait of the
        # account, drawn once, so a debtor who ignores one SMS ignores the next one too.
        self.reachable = np.column_stack([u[Purpose.REACH, c] < reach[c] for c in range(len(reach))])
        self.reachable &= (self.debtor_type != DEBTOR_TYPES.index("unreachable"))[:, None]

        # Contact history.
        never = np.iinfo(np.int32).min // 2
        self.last_contact = np.full((n, len(CHANNELS)), never, dtype=np.int64)
        self.last_conversation = np.full(n, never, dtype=np.int64)
        self.reached_ring = np.zeros((WINDOW_DAYS, n), dtype=np.int16)
        self.calls_ring = np.zeros((7, n), dtype=np.int16)
        # The sum of calls_ring over its days, kept up to date, because summing 7 rows each morning costs 7 passes.
        self.calls_last_7_days = np.zeros(n, dtype=np.int64)
        self.contacts_sent = np.zeros(n, dtype=np.int64)
        self.rpc_count = np.zeros(n, dtype=np.int64)
        self.calls_unplaced = 0
        self.settlement_offers = 0
        self.settlements = 0

        # This cycle's payment decision, drawn as at the last statement. Payments whose day fell before the first
        # day are settled before it, as instalments and never as a payoff. So the first day shows the account as
        # its systems would, and its first statement still follows the monthly transition row.
        self.pay_day = np.full(n, NO_PAYMENT, dtype=np.int64)
        self.pay_installments = np.zeros(n, dtype=np.int64)
        self.paid_this_cycle = np.zeros(n, dtype=bool)
        self.last_payment_day = np.full(n, never, dtype=np.int64)
        self.portal_logins = np.zeros(n, dtype=np.int64)
        self.spend_change = np.zeros(n, dtype=np.float64)
        will_pay, pay_offset = self._draw_payment(np.arange(n), key_day=setup_day)
        # Aging that _refresh_aging keeps up to date. cycles_past_due is the count now (cycle_state is the count at the
        # last statement), and dpd_origin is the day before the oldest unpaid payment fell due, so DPD on day t is
        # t - dpd_origin.
        self.cycles_past_due = np.zeros(n, dtype=np.int64)
        self.dpd_origin = np.zeros(n, dtype=np.int64)

        # Ledger (cents) from the first day. Per account:
        # opening + interest + fees = paid + discounts + written_off + sold + balance.
        self.opening_balance = np.zeros(n, dtype=np.int64)  # set by _start_accounts
        self.interest = np.zeros(n, dtype=np.int64)
        self.fees = np.zeros(n, dtype=np.int64)
        self.paid = np.zeros(n, dtype=np.int64)
        self.paid_within_days = np.zeros((len(RECOVERY_DAYS), n), dtype=np.int64)
        self.discounts = np.zeros(n, dtype=np.int64)
        self.written_off = np.zeros(n, dtype=np.int64)
        self.sold = np.zeros(n, dtype=np.int64)
        self.sale_proceeds = np.zeros(n, dtype=np.float64)
        self.paid_via_agency = np.zeros(n, dtype=np.int64)
        self.contact_cost = np.zeros(n, dtype=np.float64)
        self.commission = np.zeros(n, dtype=np.float64)
        # Cash and costs discounted to day 0 at the cost of capital, per account (for metrics of any subset).
        self.npv_cash = np.zeros(n, dtype=np.float64)
        self.npv_cost = np.zeros(n, dtype=np.float64)
        self.blocked_by_account = np.zeros((len(RULES), n), dtype=np.int32)
        self.unplaced_by_account = np.zeros(n, dtype=np.int32)
        # Sum over days of the balance at the end of the day (cent-days), for days sales outstanding.
        self.balance_days = np.zeros(n, dtype=np.int64)

        # Contacts reached today (response applied at 22:00) and letters in the post.
        self._reached_today = np.zeros(n, dtype=bool)
        self._response_today = np.zeros(n, dtype=np.float64)
        self._offer_today = np.zeros(n, dtype=np.float64)  # settlement discount offered and received today
        self._plan_offer_today = np.zeros(n, dtype=np.int64)  # instalments of a plan offered and received today
        self._portal_today = np.zeros(n, dtype=bool)  # a portal link reached the debtor today
        self.paid_self_service = np.zeros(n, dtype=np.int64)  # cents paid through the portal the day a link arrived
        return _Start(days_into_cycle, overdue_cycles, will_pay, pay_offset)

    def _start_accounts(self, idx: np.ndarray, start_day: int, start: _Start) -> None:
        """Place the drawn accounts at ``idx`` on their first day, ``start_day``: their billing cycle, this cycle's pay
        day and the payments that fell before the first day, their aging and their opening balance."""
        self.last_statement[idx] = start_day - start.days_into_cycle
        if self.is_invoice:
            # An invoice `state` cycles overdue fell due 30 * (state - 1) days before its last statement; DPD counts
            # from that day.
            self.due_day[idx] = self.last_statement[idx] - self.scenario.cycle_days * start.overdue_cycles
        self._set_pay_day(idx, start.will_pay, start.pay_offset)
        pay_day = self.pay_day[idx]
        before_run = idx[(pay_day != NO_PAYMENT) & (pay_day < start_day)]
        if self.is_invoice:
            # An invoice paid before its first day would not be in the portfolio: it skips this cycle's payment.
            self.pay_day[before_run] = NO_PAYMENT
        elif len(before_run):
            amount = self._installments_amount(before_run)
            to_arrears = np.minimum(amount, self.past_due[before_run])
            self.past_due[before_run] -= to_arrears
            self.billed[before_run] -= np.minimum(amount - to_arrears, self.billed[before_run])
            self.balance[before_run] -= amount
            self.paid_this_cycle[before_run] = True
            self.last_payment_day[before_run] = self.pay_day[before_run]
        self._refresh_aging(idx)
        self.opening_balance[idx] = self.balance[idx]

    def renew_accounts(self, idx: np.ndarray, account_ids: np.ndarray) -> None:
        """Replace the accounts at positions ``idx`` with new accounts ``account_ids`` that join the book today.

        Each new account is drawn as at construction (its draws are keyed by its id, so account ``k`` of a seed
        starts the same whatever its position or day), with its billing cycle counted from today, ``self.day``.
        Portfolio totals (the daily record, transition counts, blocked actions by rule, unplaced calls) keep what
        the replaced accounts did. Letters still in the post to them are discarded. Between :meth:`begin_day` and
        :meth:`finish_day` the new accounts join after the 00:00 statements, and today's observation is refreshed.
        """
        idx = np.asarray(idx, dtype=np.int64)
        if idx.ndim != 1:
            raise ValueError(f"idx must be a 1-D array of distinct positions, got {idx!r}")
        if len(idx) and (idx.min() < 0 or idx.max() >= self.n):
            raise ValueError(f"positions must lie in 0..{self.n - 1}, got {idx.min()}..{idx.max()}")
        kept = np.ones(self.n, dtype=bool)
        kept[idx] = False
        # A repeated position is marked once, so fewer positions than len(idx) leave the book.
        if self.n - np.count_nonzero(kept) != len(idx):
            raise ValueError(f"idx must be a 1-D array of distinct positions, got {idx!r}")
        account_ids = _check_account_ids(account_ids, len(idx))
        staying = self.account_ids[kept]
        # The environments hand out ids above every id in the book, which cannot clash; only other ids are looked up.
        if len(account_ids) and len(staying) and account_ids.min() <= staying.max():
            # Both id arrays are distinct, so intersect1d may assume it and sort once. np.isin was several times
            # slower on a vector env's thousand accounts.
            in_use = np.intersect1d(account_ids, staying, assume_unique=True)
            if len(in_use):
                raise ValueError(f"account id {in_use[0]} is already in the portfolio; every account needs its own id")
        if self.trace:
            raise RuntimeError("a traced model cannot renew accounts: its logs record positions, not account ids")
        if len(idx) == 0:
            return

        # The new accounts come drawn from the reserve, copied in place, then start today.
        # NOTE: the first cycle's payment decision is drawn as on day -1, so a recession running on the joining day
        # does not lower it. Later cycles are drawn at their statements and do feel it.
        reserve, rows = self._joining(account_ids)
        # A small vector env renews one account on most steps. Integer positions then copy the per-account arrays, of
        # which there are about eighty, at 12% to 40% of the cost of one-element index arrays (one measurement).
        where, source = (int(idx[0]), int(rows[0])) if len(idx) == 1 else (idx, rows)
        for name, key, axis_last, drawn in reserve.arrays:
            current = getattr(self, name) if key is None else getattr(self, name)[key]
            if axis_last:
                current[..., where] = drawn[..., source]
            else:
                current[where] = drawn[source]
        self.account_ids[idx] = account_ids
        self.rng = self.rng.with_rows_of(idx, reserve.rng, rows)
        self._start_accounts(idx, self.day, reserve.start.take(rows))
        for letter in self._in_post:
            addressed_elsewhere = kept[letter.accounts]
            letter.accounts = letter.accounts[addressed_elsewhere]
            letter.framing = letter.framing[addressed_elsewhere]
        # Today's observation, if the day is open, is computed afresh when next read.
        self._observation = None

    def _joining(self, account_ids: np.ndarray) -> tuple[_Reserve, np.ndarray]:
        """Return drawn accounts that include ``account_ids``, and the rows of those ids in them.

        Ids within :data:`RESERVE_ACCOUNTS` of each other come from the reserve. When the reserve lacks one of them, a
        new reserve is drawn from the lowest id. Ids spread wider are drawn on their own.
        """
        reserve = self._reserve
        if reserve is not None:
            rows = account_ids - reserve.first_id
            if rows.min() >= 0 and rows.max() < reserve.size:
                return reserve, rows
        first = int(account_ids.min())
        last_possible = np.iinfo(np.int64).max - RESERVE_ACCOUNTS
        if int(account_ids.max()) - first < RESERVE_ACCOUNTS and first <= last_possible:
            self._reserve = self._draw_reserve(np.arange(first, first + RESERVE_ACCOUNTS, dtype=np.int64))
            return self._reserve, account_ids - first
        return self._draw_reserve(account_ids), np.arange(len(account_ids))

    def _draw_reserve(self, account_ids: np.ndarray) -> _Reserve:
        """Draw the accounts ``account_ids`` in a model of their own that shares this model's tables."""
        joining = PortfolioModel.__new__(PortfolioModel)
        per_account = frozenset(self._account_attributes)
        joining.__dict__.update((k, v) for k, v in vars(self).items() if k not in per_account)
        joining.n = len(account_ids)
        joining.rng = KeyedRandom(self.seed, account_ids)
        start = joining._draw_accounts()
        arrays = []
        for name in self._account_attributes:
            current, drawn = getattr(self, name), getattr(joining, name)
            if isinstance(current, np.ndarray):
                entries = [(None, current, drawn)]
            elif isinstance(current, dict) and all(isinstance(v, np.ndarray) for v in current.values()):
                entries = [(key, current[key], drawn[key]) for key in current]
            else:
                continue  # a portfolio total (calls_unplaced, blocked by rule), which keeps its value
            axis_last = name in _ACCOUNT_AXIS_LAST
            for key, current_values, drawn_values in entries:
                axis = current_values.ndim - 1 if axis_last else 0
                other_axes = current_values.shape[:axis] + current_values.shape[axis + 1 :]
                if current_values.shape[axis] != self.n or (
                    drawn_values.shape[:axis] + drawn_values.shape[axis + 1 :] != other_axes
                ):
                    label = name if key is None else f"{name}[{key!r}]"
                    raise RuntimeError(
                        f"cannot renew per-account array {label} of shape {current_values.shape}: its account axis "
                        f"is not axis {axis}; list it in _ACCOUNT_AXIS_LAST if the account is its last axis"
                    )
                arrays.append((name, key, axis_last, drawn_values))
        return _Reserve(int(account_ids[0]), len(account_ids), tuple(arrays), start, joining.rng)

    # -- the cycle --------------------------------------------------------------------------------------------------

    def _draw_payment(
        self, idx: np.ndarray, key_day: int, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw whether the accounts at ``idx`` pay this cycle, how many minimum payments, and the weak signals.

        ``rows`` are the uniform draws of :data:`_PAYMENT_DRAWS` on ``key_day``, if the caller has drawn them. Return
        whether each account pays, and its pay day's offset from the last statement before payday alignment.
        """
        if rows is None:
            # All draws in one call, because a statement day or a renewal draws for a few accounts, where the cost per
            # call dominates.
            rows = self.rng.subset(idx).uniform_rows(key_day, _PAYMENT_DRAWS)
        u = dict(zip(_PAYMENT_DRAWS, rows, strict=True))
        state = self.cycle_state[idx]
        pay_probability = self.pay_probability[state] * self._recession_multiplier(key_day)
        on_plan = self.on_plan[idx]
        if on_plan.any():
            keep = self.behaviour.plans.keep_probability(self.debtor_type[idx], self.present_bias[idx])
            pay_probability = np.where(on_plan, keep, pay_probability)
        will_pay = u[Purpose.WILL_PAY, 0] < pay_probability
        placed = self.placed[idx]
        if placed.any():
            agency_probability = self.behaviour.nudge.agency_probability(self.debtor_type[idx])
            will_pay |= placed & (u[Purpose.AGENCY, 0] < agency_probability)
        self._draw_signals(idx, will_pay, u[Purpose.PORTAL_LOGINS, 0], u[Purpose.SPEND_CHANGE, 0])

        # Pay day: uniform over the cycle's days. A cycle that began at statement day S takes payments on days
        # S..S+29 (the statement runs at 00:00, payments at 22:00).
        offset = np.floor(u[Purpose.PAY_DAY, 0] * self.scenario.cycle_days).astype(np.int64)
        k = category_by_cumulative_group(u[Purpose.PAY_AMOUNT, 0], self._payments_cumulative, state)
        self.pay_installments[idx] = k
        self.paid_this_cycle[idx] = False
        return will_pay, offset

    def _set_pay_day(self, idx: np.ndarray, will_pay: np.ndarray, offset: np.ndarray) -> None:
        """Set this cycle's pay day of the accounts at ``idx``: ``offset`` days after the last statement, moved to
        just after a payday for debtors whose payments follow their pay, or none when they do not pay."""
        start = self.last_statement[idx]
        pay_day = start + offset
        bound = self.payday_bound[idx]
        aligned = self.behaviour.payday.align_to_payday(
            pay_day, start, self.scenario.cycle_days, self.payday_phase[idx], self.pay_period[idx]
        )
        pay_day = np.where(bound, aligned, pay_day)
        self.pay_day[idx] = np.where(will_pay, pay_day, NO_PAYMENT)

    def _draw_signals(self, idx: np.ndarray, will_pay: np.ndarray, logins_u: np.ndarray, spend_u: np.ndarray) -> None:
        """Set the weak signals a lender records at a statement from their uniform draws: portal logins and the change
        in spend.

        They depend on the cycle's payment decision and the debtor type, and feed no decision, so an early-warning
        model can learn from them while the untreated behaviour stays as calibrated.
        """
        signals = self.scenario.signals
        # Both quantiles of every draw, then one pick: fewer numpy calls than picking the draws of each rate first.
        self.portal_logins[idx] = np.where(
            will_pay,
            _poisson_quantile(logins_u, signals.logins_if_paying),
            _poisson_quantile(logins_u, signals.logins_if_not_paying),
        )
        mean = self.spend_change_by_type[self.debtor_type[idx]] + np.where(
            will_pay, 0.0, signals.spend_change_if_not_paying
        )
        noise = signals.spend_change_sd * normal_from_uniform(spend_u)
        self.spend_change[idx] = np.minimum(np.maximum(mean + noise, -1.0), 1.0)

    def _recession_multiplier(self, day: int) -> float:
        recession = self.scenario.recession
        if recession is None or not recession.start_day <= day <= recession.end_day:
            return 1.0
        return recession.payment_probability_multiplier

    def _income_shocks(self, idx: np.ndarray, day: int, draw: np.ndarray) -> None:
        """At a statement, debtors may lose their income (hardship) or regain it (short of cash).

        Job losses run at the idiosyncratic monthly rate, plus the recession's rate while a recession lasts. ``draw``
        is each account's uniform draw for ``Purpose.JOB_LOSS`` on ``day``.
        """
        income, recession = self.scenario.income, self.scenario.recession
        job_loss = income.job_loss_per_month
        if recession is not None and recession.start_day <= day <= recession.end_day:
            job_loss = 1.0 - (1.0 - job_loss) * (1.0 - recession.job_loss_per_month)
        hardship, short = DEBTOR_TYPES.index("hardship"), DEBTOR_TYPES.index("short_of_cash")
        in_hardship = self.debtor_type[idx] == hardship
        recovers = idx[in_hardship & (draw < income.recovery_per_month)]
        loses = idx[~in_hardship & (self.debtor_type[idx] != DEBTOR_TYPES.index("unreachable")) & (draw < job_loss)]
        if len(recovers) == 0 and len(loses) == 0:
            return
        self.debtor_type[recovers] = short
        self.debtor_type[loses] = hardship
        changed = np.concatenate([recovers, loses])
        self.payday_bound[changed] = self.behaviour.payday.affected[self.debtor_type[changed]]

    def _statements(self, day: int) -> None:
        """Close the cycle of accounts whose statement falls on ``day``."""
        cycle = self.scenario.cycle_days
        due = (self.last_statement == day - cycle).nonzero()[0]
        due = due[self.status[due] == ACTIVE]
        if len(due) == 0:
            return
        self._plan_statements(due)
        unpaid_bill = self.billed[due]
        missed = unpaid_bill > 0
        self.due_day[due[missed & (self.past_due[due] == 0)]] = day
        self.past_due[due] += unpaid_bill
        on_hold = self.hold_until[due] > day
        fee = np.where(missed & ~on_hold, self.late_fee_cents, 0)
        self.fees[due] += fee
        self.balance[due] += fee

        self.last_statement[due] = day
        self._refresh_aging(due)
        new_state = np.minimum(self.cycles_past_due[due], MAX_CYCLES_PAST_DUE)
        self._count_transitions(self.cycle_state[due], new_state)
        self.cycle_state[due] = new_state
        self.billed[due] = np.where(
            self.on_plan[due], 0, np.minimum(self.installment[due], self.balance[due] - self.past_due[due])
        )
        # One call draws the income shock and the new cycle's payment decision of every account with a statement.
        u = self.rng.subset(due).uniform_rows(day, _STATEMENT_DRAWS)
        self._income_shocks(due, day, u[-1])
        will_pay, pay_offset = self._draw_payment(due, day, u[:-1])
        self._set_pay_day(due, will_pay, pay_offset)

    def _count_transitions(self, from_state: np.ndarray, to_state: np.ndarray | int) -> None:
        """Add one move per account from ``from_state`` to ``to_state`` (a column of transition_counts)."""
        counts = self.transition_counts
        # One histogram of flat positions is several times faster than np.add.at on tens of thousands of moves.
        flat = np.bincount(from_state * counts.shape[1] + to_state, minlength=counts.size)
        counts += flat.reshape(counts.shape)

    def _plan_statements(self, due: np.ndarray) -> None:
        """At a statement, a plan whose instalment of the closing cycle went unpaid is broken.

        The plan's unpaid remainder returns to arrears, so the account is as delinquent as that remainder makes it.
        """
        on_plan = due[self.on_plan[due]]
        if len(on_plan) == 0:
            return
        broken = on_plan[~self.paid_this_cycle[on_plan]]
        self.on_plan[broken] = False
        self.past_due[broken] += np.minimum(self.plan_remaining[broken], self.balance[broken])
        self.plan_remaining[broken] = 0
        self.plans_by_account["broken"][broken] += 1

    def _installments_amount(self, idx: np.ndarray) -> np.ndarray:
        """Cents paid by accounts that pay this cycle's drawn number of minimum payments, capped at the balance.

        A payment of ``cycles_past_due + 1`` minimum payments or more is a cure: it clears the arrears and the current
        bill, whatever interest and fees added since the statement.
        """
        k = self.pay_installments[idx]
        amount = k * self.installment[idx]
        cures = k >= self.cycle_state[idx] + 1
        amount = np.where(cures, np.maximum(amount, self.past_due[idx] + self.billed[idx]), amount)
        amount = np.where(self.on_plan[idx], self.plan_instalment[idx], amount)
        return np.minimum(amount, self.balance[idx])

    def _cycles_past_due(self, idx: np.ndarray | None = None) -> np.ndarray:
        """Unpaid minimum payments: the amount past due over the instalment, rounded up (all accounts by default)."""
        past_due = self.past_due if idx is None else self.past_due[idx]
        installment = self.installment if idx is None else self.installment[idx]
        # For whole numbers below 2**53 (amounts in cents are far below it), the float quotient rounds up to the
        # same whole number as the exact one. Float division is several times faster than integer floor division.
        return np.ceil(past_due / installment).astype(np.int64)

    def _refresh_aging(self, idx: np.ndarray) -> None:
        """Recompute the cycles past due and the DPD origin of the accounts at ``idx``.

        Every change to an account's arrears, last statement, due day or status calls it, because the observation and
        the close of day read these arrays instead of recomputing them for every account.
        """
        if len(idx) == 0:
            return
        cycles = self._cycles_past_due(idx)
        self.cycles_past_due[idx] = cycles
        if self.is_invoice:
            # An invoice is due in full, so DPD counts from the day it fell due.
            delinquent = self.past_due[idx] > 0
            origin = self.due_day[idx] - 1
        else:
            # Contractual aging: the oldest unpaid minimum payment fell due cycles - 1 cycles before the last statement.
            delinquent = cycles > 0
            origin = self.last_statement[idx] - 1 - (cycles - 1) * self.scenario.cycle_days
        delinquent &= self.status[idx] == ACTIVE
        self.dpd_origin[idx] = np.where(delinquent, origin, NOT_DELINQUENT)

    def dpd(self, day: int, index: np.ndarray | None = None, cap: int | None = None) -> np.ndarray:
        """Return the days past due on ``day``, counted from the day the oldest unpaid minimum payment fell due
        (contractual aging), or 0 for current and resolved accounts.

        For invoices, which are due in full, days since the invoice fell due. With ``index``, only the accounts at
        those positions are computed, in that order. With ``cap``, DPD above it is returned as ``cap``. ``day`` must
        not precede the accounts' last statement.
        """
        dpd = day - (self.dpd_origin if index is None else self.dpd_origin[index])
        # np.maximum and np.minimum rather than np.clip, whose overhead per call dominates for a few accounts.
        np.maximum(dpd, 0, out=dpd)
        if cap is not None:
            np.minimum(dpd, cap, out=dpd)
        return dpd

    # -- observation and policy -----------------------------------------------------------------------------------

    def observe(self, day: int, fields: Collection[str] | None = None) -> Observation:
        """Return the observable state on ``day`` as fresh read-only arrays.

        With ``fields``, only those fields are computed and the others are None. The model observes each day with
        :attr:`observed_fields`.
        """
        requested = OBSERVATION_FIELDS if fields is None else fields
        observed = {
            name: _read_only(_OBSERVE[name](self, day)) if name in requested else None for name in OBSERVATION_FIELDS
        }
        return Observation(day=day, **observed)

    def action_mask(self, obs: Observation) -> np.ndarray:
        """Actions the compliance guard would let through for each account today, shape (n_accounts, N_ACTIONS)."""
        return allowed_actions(obs, self.behaviour.settlement.cap)

    def _guard(self, day: int, actions: np.ndarray, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        """Apply the compliance guard (:mod:`sim.compliance`); return the actions that go ahead and the positions of
        the accounts that still have one.

        Nothing happens on resolved or agency-placed accounts. Blocked actions are counted per rule. Calls happen
        only within the shift, which the scenario keeps inside 08:00-21:00.
        """
        actions = np.where(obs.active & ~self.placed, actions, NO_ACTION)
        # A boolean array's nonzero positions are several times faster to find than an integer array's.
        acting = (actions != NO_ACTION).nonzero()[0]
        if len(acting) == 0:
            return actions, acting
        rules = blocked_by_rule(actions, obs, self.behaviour.settlement.cap, index=acting)
        blocked = np.zeros(len(acting), dtype=bool)
        for row, rule in enumerate(RULES):
            mask = rules[rule]
            # Most rules block nothing on most days, and then nothing needs counting.
            if not mask.any():
                continue
            idx = acting[mask]
            self.blocked[rule] += len(idx)
            self.blocked_by_account[row, idx] += 1
            blocked |= mask
        actions[acting[blocked]] = NO_ACTION
        return actions, acting[~blocked]

    # -- the day --------------------------------------------------------------------------------------------------

    def run(self) -> PortfolioModel:
        """Simulate every remaining day."""
        while self.day < self.days:
            self.step()
        return self

    def step(self) -> None:
        """Simulate one day with the model's policy. Between steps the model can be pickled or copied."""
        obs = self.begin_day()
        self.finish_day(self.policy.decide(obs))

    @property
    def observation(self) -> Observation | None:
        """The 08:00 observation of the day opened by :meth:`begin_day` or :meth:`open_day`; None until it opens and
        after it is finished. It is computed when first read."""
        if self._day_open and self._observation is None:
            self._observation = self.observe(self.day, self.observed_fields)
        return self._observation

    def begin_day(self) -> Observation:
        """Run the 00:00 statements of the next day and return the 08:00 observation that the policy acts on.

        Nothing happens between 00:00 and 08:00, so no SimPy process is mid-day and the model can be pickled or
        copied until :meth:`finish_day` runs the rest of the day.
        """
        self.open_day()
        return self.observation

    def open_day(self) -> None:
        """Run the 00:00 statements of the next day, as :meth:`begin_day` does, and leave the observation to be
        computed when :attr:`observation` is first read.

        An environment that replaces accounts before anyone reads the observation computes it once, not twice.
        """
        if self.day >= self.days:
            raise RuntimeError(f"the run has ended: all {self.days} days are simulated")
        if self._day_open:
            raise RuntimeError(f"day {self.day} has already begun; call finish_day(actions) to simulate the rest of it")
        day = self.day
        self._discount = (1.0 + self.scenario.economics.cost_of_capital) ** (-day / 365.0)
        self._statements(day)
        self._today = {
            "collected": 0.0,
            "cost": 0.0,
            "contacts": 0,
            "calls_requested": 0,
            "calls_handled": 0,
            "agent_minutes": 0.0,
            "sale_proceeds": 0.0,
            "complaints": 0,
        }
        # Few accounts had a call 7 days ago, so only theirs leave the count.
        expiring = self.calls_ring[day % 7]
        called = expiring.nonzero()[0]
        self.calls_last_7_days[called] -= expiring[called]
        expiring[called] = 0
        self.reached_ring[day % WINDOW_DAYS] = 0
        self._day_open = True

    def finish_day(self, actions: np.ndarray) -> None:
        """Simulate the day begun by :meth:`begin_day` from 08:00, with one catalogue action per account."""
        if not self._day_open:
            raise RuntimeError(f"day {self.day} has not begun; call begin_day() first")
        obs = self.observation
        actions = np.asarray(actions, dtype=np.int64)
        if actions.shape != (self.n,):
            raise ValueError(f"actions have shape {actions.shape}, expected ({self.n},)")
        if actions.min(initial=0) < 0 or actions.max(initial=0) >= N_ACTIONS:
            raise ValueError(f"an action is outside 0..{N_ACTIONS - 1}")
        self.env.process(self._simulate_day(self.day, obs, actions))
        self.env.run(until=self.day + 1)
        self._day_open = False
        self._observation = None
        self.day += 1

    def __getstate__(self) -> dict:
        # SimPy's environment contains generators, which cannot be pickled. Letters in the post are kept as data in
        # _in_post and re-posted on restore. Nothing else is pending at a day boundary or between begin_day and
        # finish_day.
        state = self.__dict__.copy()
        del state["env"], state["call_centre"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.env = simpy.Environment(initial_time=self.day)
        self.call_centre = CallCentre(self.env, self.scenario.call_center)
        for letter in list(self._in_post):
            self.env.process(self._deliver(letter))

    def _simulate_day(self, day: int, obs: Observation, actions: np.ndarray) -> Generator[simpy.Event, object, None]:
        """Run the day from 08:00: the guard, contacts, the call shift, then the debtors' decisions and the ledger."""
        yield self.env.timeout(day + 8 / HOURS_PER_DAY - self.env.now)
        actions, acting = self._guard(day, actions, obs)
        if self.trace:
            self._action_log.append(
                pd.DataFrame(
                    {
                        "day": day,
                        "account": acting,
                        "action": [ACTIONS[a].name for a in actions[acting]],
                        "dpd": obs.dpd[acting],
                        "balance": obs.balance[acting],
                        "promise_pending": obs.promise_pending[acting],
                        "on_plan": obs.on_plan[acting],
                    }
                )
            )
        self._send(day, actions, acting)
        calls = acting[self.action_channel[actions[acting]] == _CALL_CHANNEL]
        if len(calls):
            yield from self._call_shift(day, actions, calls, obs)

        yield self.env.timeout(day + 22 / HOURS_PER_DAY - self.env.now)
        self._debtors_decide(day)
        self._close_day(day)

    def _send(self, day: int, actions: np.ndarray, acting: np.ndarray) -> None:
        """Send emails, SMS, letters and settlement offers; place, hold, sell or write off accounts.

        ``acting`` contains the positions of the accounts with an action today. Most accounts have none on a given
        day, so the work runs on those positions.
        """
        chosen = actions[acting]
        place = acting[chosen == AGENCY]
        self.placed[place] = True
        self._log_contacts(day, place, actions[place], sent=True, reached=np.zeros(len(place), dtype=bool))
        hold = acting[chosen == HARDSHIP_HOLD]
        self.hold_until[hold] = day + self.scenario.hardship.breathing_space_days
        self._sell(day, acting[chosen == SELL])
        self._write_off(day, acting[chosen == WRITE_OFF])
        self._send_offers(day, actions, acting)

        channel = self.action_channel[chosen]
        # An account takes one action a day, so the messages of all channels update the per-account totals at once.
        is_message = (channel >= 0) & (channel != _CALL_CHANNEL)
        messaged, cost = acting[is_message], self.channel_cost[channel[is_message]]
        self.contact_cost[messaged] += cost
        self.npv_cost[messaged] += cost * self._discount
        self.contacts_sent[messaged] += 1
        for c, name in enumerate(CHANNELS):
            if name == "call":
                continue
            idx = acting[channel == c]
            if len(idx) == 0:
                continue
            self._today["cost"] += self.channel_cost[c] * len(idx)
            self._today["contacts"] += len(idx)
            # Indexing a column view is faster than indexing the 2-D array with a scalar and an index array.
            self.last_contact[:, c][idx] = day
            sent_actions = actions[idx]
            framing = self.action_framing[sent_actions]
            reached = self.reachable[:, c][idx]
            self._log_contacts(day, idx, sent_actions, sent=True, reached=reached)
            received, received_actions = idx[reached], sent_actions[reached]
            if self.channel_delay[c] == 0:
                self._receive(received, c, framing[reached], self.action_boost[received_actions])
                self._portal_today[received[self.action_kind[received_actions] == KIND_PORTAL]] = True
            else:
                self._post(day, int(self.channel_delay[c]), received, c, framing[reached])

    def _send_offers(self, day: int, actions: np.ndarray, acting: np.ndarray) -> None:
        """Send settlement and payment-plan offers; a debtor who receives one decides at 22:00.

        ``acting`` contains the positions of the accounts with an action today.
        """
        kind = self.action_kind[actions[acting]]
        is_offer = (kind == KIND_SETTLEMENT) | (kind == KIND_PLAN)
        idx = acting[is_offer]
        if len(idx) == 0:
            return
        config = self.scenario.settlements
        self.contact_cost[idx] += config.offer_cost
        self.npv_cost[idx] += config.offer_cost * self._discount
        self._today["cost"] += config.offer_cost * len(idx)
        self._today["contacts"] += len(idx)
        self.contacts_sent[idx] += 1
        is_plan = kind[is_offer] == KIND_PLAN
        self.settlement_offers += int((~is_plan).sum())
        self.plans_by_account["offered"][idx[is_plan]] += 1
        reached = self.reachable[idx, len(CHANNELS)]
        self._log_contacts(day, idx, actions[idx], sent=True, reached=reached)
        received = idx[reached]
        self._offer_today[received] = self.action_discount[actions[received]]
        self._plan_offer_today[received] = self.action_instalments[actions[received]]

    def _sell(self, day: int, idx: np.ndarray) -> None:
        """Sell accounts to a debt buyer at the scenario's price per unit of balance."""
        if len(idx) == 0:
            return
        proceeds = self.balance[idx] / CENTS * self.scenario.sale.price_per_dollar
        self.sale_proceeds[idx] += proceeds
        self.npv_cash[idx] += proceeds * self._discount
        self._today["sale_proceeds"] += float(proceeds.sum())
        self.sold[idx] += self.balance[idx]
        self._close_accounts(idx, SOLD, day)

    def _write_off(self, day: int, idx: np.ndarray) -> None:
        if len(idx) == 0:
            return
        # A write-off is a charge-off, so the roll rate counts it as a move to the charge-off column, as at the
        # charge-off DPD.
        self._count_transitions(self.cycle_state[idx], MAX_CYCLES_PAST_DUE + 1)
        self.written_off[idx] += self.balance[idx]
        self._close_accounts(idx, CHARGED_OFF, day)

    def _close_accounts(self, idx: np.ndarray, status: int, day: int) -> None:
        self.on_plan[idx] = False
        self.balance[idx] = 0
        self.past_due[idx] = 0
        self.billed[idx] = 0
        self.status[idx] = status
        self.resolved_day[idx] = day
        self._refresh_aging(idx)

    def _post(self, day: int, delay: int, idx: np.ndarray, channel: int, framing: np.ndarray) -> None:
        """Put a batch of letters in the post; they arrive at 10:00 ``delay`` days later, if the run lasts that long."""
        letter = _Letters(arrival=day + delay + 10 / HOURS_PER_DAY, accounts=idx, channel=channel, framing=framing)
        self._in_post.append(letter)
        self.env.process(self._deliver(letter))

    def _deliver(self, letter: _Letters) -> Generator[simpy.Event, object, None]:
        yield self.env.timeout(letter.arrival - self.env.now)
        self._in_post.remove(letter)
        self._receive(letter.accounts, letter.channel, letter.framing)

    def _receive(self, idx: np.ndarray, channel: int, framing: np.ndarray, boost: np.ndarray | None = None) -> None:
        """Record contacts that reached the debtor and their chance of prompting a payment today."""
        # A letter may arrive after its account left the book, and then it prompts no response.
        open_accounts = self.status[idx] == ACTIVE
        idx, framing = idx[open_accounts], framing[open_accounts]
        if boost is not None:
            boost = boost[open_accounts]
        if len(idx) == 0:
            return
        day = int(self.env.now)
        reached_7 = self._reached_on(day, range(0, 7), idx)
        p = self.behaviour.nudge.probability(self.debtor_type[idx], channel, framing, reached_7)
        if boost is not None:
            p = clip_probability(p * boost)
        # A debtor who is paid by payday responds only while there is money after a payday.
        has_money = self.behaviour.payday.has_money(day, self.payday_phase[idx], self.pay_period[idx])
        p = np.where(self.payday_bound[idx] & ~has_money, 0.0, p)
        # Several contacts on one day combine as independent chances.
        self._response_today[idx] = 1.0 - (1.0 - self._response_today[idx]) * (1.0 - p)
        self._reached_today[idx] = True
        # An account appears once in a batch (one action a day, one letter batch a day), so += counts each contact.
        self.reached_ring[day % WINDOW_DAYS, idx] += 1

    def _reached_on(self, day: int, days_back: range, idx: np.ndarray) -> np.ndarray:
        """Count the contacts that reached each account at ``idx`` on days ``day - k``, ``k`` in ``days_back``."""
        if len(idx) <= _ONE_GATHER_MAX_ACCOUNTS:
            # One gather of every (day, account) cell from the flat ring, then one sum. For 5 to 200 accounts and a
            # seven-day window, it took 2 to 4 µs, against 7 to 10 µs for a gather per day.
            offsets = _ring_offsets(day % WINDOW_DAYS, days_back, self.n)
            cells = self.reached_ring.reshape(-1).take(offsets + idx)
            return np.add.reduce(cells, axis=0, dtype=np.int64)
        # One gather per day for many accounts, where the table of cells would cost memory and save no time.
        counts = np.zeros(len(idx), dtype=np.int64)
        for row in [(day - k) % WINDOW_DAYS for k in days_back]:
            counts += self.reached_ring[row][idx]
        return counts

    def _call_shift(self, day: int, actions: np.ndarray, calls: np.ndarray, obs: Observation):
        """Queue today's calls at positions ``calls`` (largest past-due amount first) and run the call centre's
        shift."""
        idx = calls[np.argsort(-obs.past_due[calls], kind="stable")]
        cc = self.scenario.call_center
        rpc = self.rng.uniform(day, Purpose.RIGHT_PARTY_CONTACT, idx) < cc.right_party_contact_probability
        rpc &= self.debtor_type[idx] != DEBTOR_TYPES.index("unreachable")
        minutes = np.where(rpc, cc.minutes_right_party, cc.minutes_no_contact)

        log = ShiftLog(handled=np.zeros(len(idx), dtype=bool))
        yield from self.call_centre.shift(day, minutes, log)
        self.peak_agents_busy = max(self.peak_agents_busy, log.peak_busy)

        handled = idx[log.handled]
        self.calls_unplaced += int((~log.handled).sum())
        self.unplaced_by_account[idx[~log.handled]] += 1
        self._today["calls_requested"] += len(idx)
        self._today["calls_handled"] += len(handled)
        self._today["agent_minutes"] = log.agent_minutes
        cost = minutes[log.handled] * cc.agent_cost_per_hour / 60.0
        self.contact_cost[handled] += cost
        self.npv_cost[handled] += cost * self._discount
        self._today["cost"] += float(cost.sum())
        self._today["contacts"] += len(handled)
        self.contacts_sent[handled] += 1
        self.last_contact[handled, _CALL_CHANNEL] = day
        self.calls_ring[day % 7, handled] += 1
        self.calls_last_7_days[handled] += 1

        self._log_contacts(day, idx, actions[idx], sent=log.handled, reached=log.handled & rpc)
        conversation = handled[rpc[log.handled]]
        self.rpc_count[conversation] += 1
        self.last_conversation[conversation] = day
        framing = self.action_framing[actions[conversation]]
        self._receive(conversation, _CALL_CHANNEL, framing)
        self._conversation(day, conversation, framing)

    def _conversation(self, day: int, idx: np.ndarray, framing: np.ndarray) -> None:
        """Draw the outcome of right-party conversations: a hardship disclosure (then breathing space) or a promise."""
        if len(idx) == 0:
            return
        config = self.scenario
        # Every draw for every conversation in one call; each later step keeps the columns of the accounts it keeps.
        u = self.rng.subset(idx).uniform_rows(day, _CONVERSATION_DRAWS)
        hardship = self.debtor_type[idx] == DEBTOR_TYPES.index("hardship")
        discloses = hardship & (u[0] < config.hardship.disclosure_probability)
        disclosed = idx[discloses & ~self.hardship_disclosed[idx]]
        self.hardship_disclosed[disclosed] = True
        self.hold_until[disclosed] = day + config.hardship.breathing_space_days

        may_promise = ~discloses & ~self.paid_this_cycle[idx] & (self.promise_day[idx] < day)
        idx, framing, u = idx[may_promise], framing[may_promise], u[1:, may_promise]
        promise_p = self.behaviour.promises.promise_probability(self.debtor_type[idx])
        promising = u[0] < promise_p
        idx, framing, u = idx[promising], framing[promising], u[1:, promising]
        days_ahead = 1 + np.floor(u[0] * config.promises.max_days_ahead)
        promised = day + days_ahead.astype(np.int64)
        # A debtor paid by payday promises the first payday within reach, if there is one.
        next_payday = day + 1 + (self.payday_phase[idx] - day - 1) % self.pay_period[idx]
        within_reach = self.payday_bound[idx] & (next_payday <= day + config.promises.max_days_ahead)
        self.promise_day[idx] = np.where(within_reach, next_payday, promised)
        self.promise_made_day[idx] = day
        keep_p = self.behaviour.promises.keep_probability(
            self.debtor_type[idx], self.present_bias[idx], framing == FRAMINGS.index("pledge")
        )
        self.promise_will_keep[idx] = u[1] < keep_p
        self.promises_made[idx] += 1

    def _log_contacts(self, day: int, idx: np.ndarray, actions: np.ndarray, sent, reached: np.ndarray) -> None:
        """Keep an account-level record of contacts when tracing (tests and audits; off in production runs)."""
        if not self.trace or len(idx) == 0:
            return
        self._contact_log.append(
            pd.DataFrame(
                {
                    "day": day,
                    "account": idx,
                    "action": [ACTIONS[a].name for a in actions],
                    "sent": np.broadcast_to(sent, idx.shape),
                    "reached": reached,
                }
            )
        )

    def contacts_frame(self) -> pd.DataFrame:
        """Return every contact requested while tracing: day, account, action, and whether it was sent and reached.

        A call counts as sent when an agent dialled it and as reached on a right-party contact. Agency placements
        are listed too, as action ``agency`` with ``sent`` True and ``reached`` False, though they are not contacts:
        the ``contacts`` metrics do not count them.
        """
        if not self.trace:
            raise RuntimeError("contacts are recorded only when the model is built with trace=True")
        columns = ["day", "account", "action", "sent", "reached"]
        if not self._contact_log:
            return pd.DataFrame(
                {
                    "day": pd.Series(dtype=np.int64),
                    "account": pd.Series(dtype=np.int64),
                    "action": pd.Series(dtype=object),
                    "sent": pd.Series(dtype=bool),
                    "reached": pd.Series(dtype=bool),
                }
            )
        return pd.concat(self._contact_log, ignore_index=True)[columns]

    def actions_frame(self) -> pd.DataFrame:
        """Return every action that passed the compliance guard while tracing, with the account's state at 08:00."""
        if not self.trace:
            raise RuntimeError("actions are recorded only when the model is built with trace=True")
        columns = ["day", "account", "action", "dpd", "balance", "promise_pending", "on_plan"]
        frames = [frame for frame in self._action_log if len(frame)]
        if not frames:
            return pd.DataFrame({column: pd.Series(dtype=object) for column in columns})
        return pd.concat(frames, ignore_index=True)[columns]

    def payments_frame(self) -> pd.DataFrame:
        """Return every payment made while tracing: day, account and amount in currency units."""
        if not self.trace:
            raise RuntimeError("payments are recorded only when the model is built with trace=True")
        if not self._payment_log:
            return pd.DataFrame(columns=["day", "account", "amount"])
        return pd.concat(self._payment_log, ignore_index=True)

    def _debtors_decide(self, day: int) -> None:
        """Settlements, scheduled payments, kept promises and responses to today's contacts, then complaints and
        attrition on cure."""
        self._settle(day)
        self._accept_plans(day)
        unpaid = self.status == ACTIVE
        unpaid &= ~self.paid_this_cycle
        scheduled = unpaid & (self.pay_day == day)
        # Few accounts are reached or have a promise due on a day, so the work runs on their positions.
        reached = self._reached_today.nonzero()[0]
        candidates = reached[unpaid[reached]]
        if len(candidates):
            respond_draw = self.rng.uniform(day, Purpose.RESPONSE, candidates)
            responded = candidates[respond_draw < self._response_today[candidates]]
            scheduled[responded] = True

        self._keep_promises(day, unpaid, scheduled)
        payers = scheduled.nonzero()[0]
        self._complaints(day, reached)
        # Today's contacts have had their effect. Only the reached accounts have a flag or a response to clear.
        self._reached_today[reached] = False
        self._response_today[reached] = 0.0
        portal = self._portal_today[payers]
        self._portal_today[:] = False
        if len(payers) == 0:
            return

        state = self.cycle_state[payers]
        amount = self._installments_amount(payers)
        on_plan = self.on_plan[payers]
        cures = (self.pay_installments[payers] >= state + 1) & ~on_plan
        payoff = cures & (self.rng.uniform(day, Purpose.FULL_PAYOFF, payers) < self.full_payoff_share[state])
        amount = np.where(payoff, self.balance[payers], amount)
        self._apply_payment(payers, amount, day)
        self.paid_self_service[payers[portal]] += amount[portal]
        self.paid_this_cycle[payers] = True
        completed = self._plan_progress(payers[on_plan], amount[on_plan])

        was_delinquent = state > 0
        newly_current = payers[(self.past_due[payers] == 0) & (self.billed[payers] == 0) & was_delinquent & ~on_plan]
        if len(completed):
            # Without completed plans the union is newly_current itself, which is already sorted and distinct.
            newly_current = np.union1d(newly_current, completed)
        self.cured[newly_current] = True
        self._attrition(day, newly_current)

    def _keep_promises(self, day: int, unpaid: np.ndarray, scheduled: np.ndarray) -> None:
        """Settle the promises that fall due today: a debtor who keeps one pays today, which sets ``scheduled``.

        ``unpaid`` marks the open accounts without a payment this cycle.
        """
        promised = (self.promise_day == day).nonzero()[0]
        promised = promised[self.status[promised] == ACTIVE]
        # With 64 accounts and random actions, a promise fell due on one day in twenty.
        if len(promised) == 0:
            return
        will_keep = self.promise_will_keep[promised]
        self.promises_kept[promised[will_keep]] += 1
        # A payment since the conversation, even one in an earlier cycle than the promised day, fulfils the promise.
        paid_since_promise = self.last_payment_day[promised] >= self.promise_made_day[promised]
        keeps = promised[will_keep & unpaid[promised] & ~scheduled[promised] & ~paid_since_promise]
        self.promise_day[promised] = NO_PAYMENT
        # A kept promise pays the arrears and the current bill: it cures the account.
        self.pay_installments[keeps] = np.maximum(self.pay_installments[keeps], self.cycle_state[keeps] + 1)
        scheduled[keeps] = True

    def _accept_plans(self, day: int) -> None:
        """Debtors in arrears who received a plan offer today accept it or not.

        Acceptance turns the arrears and the current bill into equal monthly instalments, due at the statements
        from the next one on. The account is current (DPD 0) while it keeps the plan.
        """
        if not self._plan_offer_today.any():
            return
        offered = (self._plan_offer_today > 0).nonzero()[0]
        instalments = self._plan_offer_today[offered]
        self._plan_offer_today[:] = 0
        eligible = (self.status[offered] == ACTIVE) & (self.past_due[offered] > 0) & ~self.on_plan[offered]
        offered, instalments = offered[eligible], instalments[eligible]
        if len(offered) == 0:
            return
        p = self.behaviour.plans.acceptance(instalments, self.debtor_type[offered], self.present_bias[offered])
        accepts = self.rng.uniform(day, Purpose.PLAN, offered) < p
        idx, instalments = offered[accepts], instalments[accepts]
        total = self.past_due[idx] + self.billed[idx]
        self.plan_remaining[idx] = total
        self.plan_instalment[idx] = -(-total // instalments)
        self.past_due[idx] = 0
        self.billed[idx] = 0
        self._refresh_aging(idx)
        self.on_plan[idx] = True
        self.cycle_state[idx] = 0
        # No instalment falls due in the cycle of acceptance.
        self.pay_day[idx] = NO_PAYMENT
        self.paid_this_cycle[idx] = True
        self.plans_by_account["accepted"][idx] += 1

    def _plan_progress(self, idx: np.ndarray, amount: np.ndarray) -> np.ndarray:
        """Count plan instalments paid; return the accounts whose plan is now complete."""
        if len(idx) == 0:
            return idx
        self.plan_remaining[idx] -= np.minimum(amount, self.plan_remaining[idx])
        completed = idx[(self.plan_remaining[idx] == 0) | (self.status[idx] != ACTIVE)]
        self.on_plan[completed] = False
        self.plans_by_account["completed"][completed] += 1
        return completed[self.status[completed] == ACTIVE]

    def _settle(self, day: int) -> None:
        """Debtors who received a settlement offer today accept it or not; acceptance resolves the account."""
        if not self._offer_today.any():
            return
        idx = ((self._offer_today > 0) & (self.status == ACTIVE)).nonzero()[0]
        discount_share = self._offer_today[idx]
        self._offer_today[:] = 0.0
        if len(idx) == 0:
            return
        dpd = self.dpd(day, index=idx)
        p = self.behaviour.settlement.probability(discount_share, dpd, self.debtor_type[idx], self.present_bias[idx])
        accepts = self.rng.uniform(day, Purpose.SETTLEMENT, idx) < p
        idx, discount_share = idx[accepts], discount_share[accepts]
        if len(idx) == 0:
            return
        forgiven = np.rint(self.balance[idx] * discount_share).astype(np.int64)
        self.discounts[idx] += forgiven
        self.balance[idx] -= forgiven
        self.settlements += len(idx)
        self._apply_payment(idx, self.balance[idx].copy(), day)
        self.status[idx] = SETTLED
        self._refresh_aging(idx)

    def _complaints(self, day: int, reached: np.ndarray) -> None:
        """Draw complaints and disputes from the debtors reached today (at positions ``reached``).

        Complaints grow more likely after many contacts, and some ask to stop contact.
        """
        if len(reached) == 0:
            return
        today = self.reached_ring[day % WINDOW_DAYS, reached]
        before = self._reached_on(day, range(1, 8), reached)
        p = self.behaviour.fatigue.complaint_probability(today, before)
        complaint_u, dispute_u = self.rng.subset(reached).uniform_rows(day, _COMPLAINT_DRAWS)
        complains = reached[complaint_u < p]
        self.complaints[complains] += 1
        self._today["complaints"] += len(complains)
        stop_share = self.scenario.customer.stop_request_share
        if len(complains):
            stops = complains[self.rng.uniform(day, Purpose.STOP_REQUEST, complains) < stop_share]
            self.stop_contact[stops] = True

        dispute_p = self.dispute_probability[self.debtor_type[reached]]
        disputing = reached[dispute_u < dispute_p]
        self.dispute_until[disputing] = day + self.scenario.disputes.pause_days
        self.disputes[disputing] += 1

    def _apply_payment(self, idx: np.ndarray, amount: np.ndarray, day: int) -> None:
        """Apply payments to arrears first, then the current bill, then the rest of the balance."""
        to_arrears = np.minimum(amount, self.past_due[idx])
        self.past_due[idx] -= to_arrears
        to_bill = np.minimum(amount - to_arrears, self.billed[idx])
        self.billed[idx] -= to_bill
        self.balance[idx] -= amount
        self.paid[idx] += amount
        for window, window_days in enumerate(RECOVERY_DAYS):
            if window_days > day:
                self.paid_within_days[window][idx] += amount
        self.last_payment_day[idx] = day
        is_paid_off = self.balance[idx] == 0
        paid_off = idx[is_paid_off]
        if len(paid_off):
            # A payoff ends the account current: record it as the transition to state 0 it would show at a statement.
            self._count_transitions(self.cycle_state[paid_off], 0)
            self.status[paid_off] = PAID_OFF
            self.resolved_day[paid_off] = day
            self.past_due[paid_off] = 0
            self.billed[paid_off] = 0
        # Most payments clear only the current bill, which leaves the arrears, and so the aging, as they were.
        self._refresh_aging(idx[(to_arrears > 0) | is_paid_off])
        if self.trace:
            self._payment_log.append(pd.DataFrame({"day": day, "account": idx, "amount": amount / CENTS}))

        self.npv_cash[idx] += amount / CENTS * self._discount
        self._today["collected"] += float(amount.sum()) / CENTS
        placed = self.placed[idx]
        # Without a payer placed with the agency, every commission is 0 and the day's cost stays as it is.
        if not placed.any():
            return
        commission = np.where(placed, amount / CENTS * self.scenario.agency.commission_rate, 0.0)
        # Only accounts placed with the agency pay commission, so only theirs change. The day's total below still sums
        # the whole array, because leaving out the zeros would change the order of the float additions.
        agency, agency_commission = idx[placed], commission[placed]
        self.paid_via_agency[agency] += amount[placed]
        self.commission[agency] += agency_commission
        self.npv_cost[agency] += agency_commission * self._discount
        self._today["cost"] += float(commission.sum())

    def _attrition(self, day: int, idx: np.ndarray) -> None:
        """Customers who cure may close the account; contact pressure in the last 30 days raises the chance."""
        if len(idx) == 0:
            return
        pressure = self.reached_ring[:, idx].sum(axis=0)
        p = self.behaviour.fatigue.attrition_probability(pressure)
        leaves = idx[(self.rng.uniform(day, Purpose.ATTRITION, idx) < p) & ~self.attrited[idx]]
        self.attrited[leaves] = True

    def _close_day(self, day: int) -> None:
        """Accrue interest, age the accounts, charge off at the charge-off DPD and record the day."""
        daily_rate = self.scenario.portfolio.annual_interest_rate / 365.0
        # Rounding straight into an integer array saves a pass over the accounts against rint and then astype.
        accrued = np.rint(self.balance * daily_rate, out=np.empty_like(self.balance), casting="unsafe")
        # Interest and fees are frozen during a hardship hold or breathing space. Resolved accounts have a zero
        # balance, so they accrue nothing without a test of their status.
        accrued[self.hold_until > day] = 0
        self.interest += accrued
        self.balance += accrued

        # DPD is capped where neither the charge-off nor the buckets tell higher values apart, so that one histogram
        # gives the bucket counts below. Resolved accounts have DPD 0, below any charge-off DPD.
        cap = max(self.scenario.charge_off_dpd, _BUCKET_LOWS[-1])
        dpd = self.dpd(day, cap=cap)
        charge_off = (dpd >= self.scenario.charge_off_dpd).nonzero()[0]
        if len(charge_off):
            self._count_transitions(self.cycle_state[charge_off], MAX_CYCLES_PAST_DUE + 1)
            self.written_off[charge_off] += self.balance[charge_off]
            self.balance[charge_off] = 0
            self.past_due[charge_off] = 0
            self.billed[charge_off] = 0
            self.status[charge_off] = CHARGED_OFF
            self.resolved_day[charge_off] = day
            self._refresh_aging(charge_off)
            dpd[charge_off] = 0

        self.balance_days += self.balance
        row: dict[str, float] = {"day": day}
        row.update(self._today)
        # One histogram of DPD takes fewer passes than testing each range, and the last bucket sums it from its
        # lowest DPD to the cap. Resolved accounts have DPD 0, so they are taken out of the first bucket afterwards.
        histogram = np.bincount(dpd, minlength=cap + 1)
        per_bucket = np.add.reduceat(histogram, _BUCKET_LOWS)
        by_status = self._status_counts()
        per_bucket[0] -= self.n - by_status[ACTIVE]
        for (column, _, _), count in zip(BUCKETS, per_bucket.tolist(), strict=True):
            row[column] = count
        row["accounts_charged_off"] = by_status[CHARGED_OFF]
        row["accounts_paid_off"] = by_status[PAID_OFF]
        row["accounts_settled"] = by_status[SETTLED]
        row["accounts_sold"] = by_status[SOLD]
        row["calls_unplaced"] = row["calls_requested"] - row["calls_handled"]
        if not self.record_daily:
            self._daily_rows.clear()
        self._daily_rows.append(row)

    def _status_counts(self) -> list[int]:
        """Return the number of accounts in each status, indexed by the status code."""
        if self.n <= _STATUS_HISTOGRAM_MAX_ACCOUNTS:
            return np.bincount(self.status, minlength=N_STATUSES).tolist()
        # A comparison per status for many accounts, because np.bincount of a million int8 statuses took 1.9 ms
        # against 0.2 ms for all five comparisons (it converts them to int64 first).
        return [int(np.count_nonzero(self.status == status)) for status in range(N_STATUSES)]

    # -- results --------------------------------------------------------------------------------------------------

    @property
    def plan_counts(self) -> dict[str, int]:
        """Plans offered, accepted, completed and broken over the whole portfolio."""
        return {key: int(values.sum()) for key, values in self.plans_by_account.items()}

    def daily_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self._daily_rows)

    def ledger_frame(self) -> pd.DataFrame:
        """Per-account ledger in currency units (exact: every column is a whole number of cents)."""
        return pd.DataFrame(
            {
                "account": np.arange(self.n),
                "opening_balance": self.opening_balance / CENTS,
                "interest": self.interest / CENTS,
                "fees": self.fees / CENTS,
                "paid": self.paid / CENTS,
                "discounts": self.discounts / CENTS,
                "written_off": self.written_off / CENTS,
                "sold": self.sold / CENTS,
                "outstanding": self.balance / CENTS,
                "paid_via_agency": self.paid_via_agency / CENTS,
            }
        )

    def ledger_cents(self) -> dict[str, np.ndarray]:
        """Per-account ledger columns in integer cents, for exact checks of the ledger identity."""
        return {
            "opening_balance": self.opening_balance,
            "interest": self.interest,
            "fees": self.fees,
            "paid": self.paid,
            "discounts": self.discounts,
            "written_off": self.written_off,
            "sold": self.sold,
            "outstanding": self.balance,
        }

    def accounts_frame(self) -> pd.DataFrame:
        """Final state per account; ``debtor_type`` is latent and is here for analysis only."""
        final_day = self.days - 1
        return pd.DataFrame(
            {
                "account": np.arange(self.n),
                "debtor_type": pd.Categorical.from_codes(self.debtor_type, categories=list(DEBTOR_TYPES)),
                "status": pd.Categorical.from_codes(self.status, categories=list(STATUS_NAMES.values())),
                "dpd": self.dpd(final_day),
                "balance": self.balance / CENTS,
                "past_due": self.past_due / CENTS,
                "credit_limit": self.credit_limit,
                "placed_with_agency": self.placed,
                "resolved_day": self.resolved_day,
                "cured": self.cured,
                "complaints": self.complaints,
                "stop_contact": self.stop_contact,
                "hardship_disclosed": self.hardship_disclosed,
                "promises_made": self.promises_made,
                "promises_kept": self.promises_kept,
                "disputes": self.disputes,
                "on_plan": self.on_plan,
                "sale_proceeds": self.sale_proceeds,
                "attrited": self.attrited,
                "clv": self.clv,
                "contacts": self.contacts_sent,
                "right_party_contacts": self.rpc_count,
                "contact_cost": self.contact_cost,
                "agency_commission": self.commission,
            }
        )
