"""The exact optimum of a small scenario (``tiny``): its accounts as a finite MDP over observable state, solved by
value iteration, with the policy it implies and the regret of other policies measured in the same simulator.

The reduction and the conditions a scenario must meet for it are in ``docs/exact_optimum.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.stats import norm

from sim.catalogue import ACTIONS, NO_ACTION, SELL
from sim.engine import ACTIVE, CENTS, PortfolioModel
from sim.observation import Observation
from sim.scenario import CHANNELS, DEBTOR_TYPES, MAX_CYCLES_PAST_DUE, Scenario

logger = logging.getLogger(__name__)

#: Days since the last contact that reached the debtor (and since the last conversation) are kept as 1..7, with 7
#: standing for "7 or more": the repeat decay and the call guard both look back 7 days.
WINDOW_DAYS = 7
#: Value iteration stops when no state's value moves by more than this, in currency units.
DEFAULT_TOLERANCE = 1e-9
#: Scenario that :class:`ExactOptimalPolicy` solves when given none.
TINY_SCENARIO = "tiny"


class NotReducibleError(ValueError):
    """The scenario has a mechanism that the finite MDP of this module would have to approximate."""


class _NoPolicy:
    """Policy slot of the one-account model that :func:`build_mdp` builds only to read the engine's tables."""

    name = "none"

    def decide(self, obs: Observation) -> np.ndarray:
        return np.zeros(obs.n_accounts, dtype=np.int64)


# -- the MDP --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExactMDP:
    """A finite MDP of one account of a reducible scenario, with one absorbing end state.

    A state is ``(balance, cycles_past_due, paid_since_statement, days_since_statement, days_since_reached,
    days_since_conversation)``. The balance is an index into ``balances_cents``, and cycles past due run 0..6. A
    payment since the statement is possible only before an account's first statement, because any later payment
    repays the account. The day of the billing cycle runs 0..29. Days since the last contact that reached the debtor
    and since the last conversation run 1..7, with 7 meaning 7 or more. The last index, ``n_states - 1``, is the end
    state: paid off, sold or charged off. Rewards are undiscounted money of the day, and ``daily_discount``
    discounts the next day's value.
    """

    scenario: Scenario
    balances_cents: np.ndarray  # (n_balances,) int64, the balances an account can have, ascending
    shape: tuple[int, ...]  # (n_balances, cycles, paid, days, days_since_reached, days_since_conversation)
    actions: tuple[int, ...]  # catalogue index of each MDP action
    transitions: tuple[sparse.csr_matrix, ...]  # per action, (n_states, n_states), rows sum to 1
    rewards: np.ndarray  # (n_states, n_actions): expected money of the day, weighted as the objective
    start_distribution: np.ndarray  # (n_states,): state of an account at 08:00 of day 0
    daily_discount: float  # (1 + cost_of_capital) ** (-1 / 365)
    horizon_days: int  # every account has left the book after this many days, whatever the policy

    @property
    def n_states(self) -> int:
        return int(np.prod(self.shape)) + 1

    @property
    def end_state(self) -> int:
        return self.n_states - 1

    def state_index(self, obs: Observation) -> np.ndarray:
        """Return each account's MDP state from its observation; the end state for accounts no longer active.

        Raise :class:`NotReducibleError` for an active account whose observation lies outside the MDP (a balance
        the scenario cannot produce, a cycle beyond charge-off), which means the model is not this scenario.
        """
        index = np.full(obs.n_accounts, self.end_state, dtype=np.int64)
        open_accounts = np.flatnonzero(obs.active & ~obs.placed_with_agency)
        if len(open_accounts) == 0:
            return index

        balance_cents = np.rint(obs.balance[open_accounts] * CENTS).astype(np.int64)
        b = np.searchsorted(self.balances_cents, balance_cents)
        b = np.minimum(b, len(self.balances_cents) - 1)
        unknown = self.balances_cents[b] != balance_cents
        cycles = obs.cycles_past_due[open_accounts]
        if unknown.any() or cycles.max() >= self.shape[1]:
            raise NotReducibleError(
                "an observed balance or cycles past due lies outside the exact MDP of scenario "
                f"{self.scenario.name!r}; run the exact optimum only on the scenario it was built from"
            )
        paid = obs.paid_since_statement[open_accounts].astype(np.int64)
        day = obs.days_since_statement[open_accounts]
        # NOTE: letters are left out because the exact policy sends none. A letter sent by another policy reaches the
        # debtor only on arrival, which the observation does not show, so such a state would be read wrong.
        email, sms = CHANNELS.index("email"), CHANNELS.index("sms")
        since_conversation = obs.days_since_conversation[open_accounts]
        since_reached = np.minimum.reduce(
            [
                obs.days_since_contact[open_accounts, email],
                obs.days_since_contact[open_accounts, sms],
                since_conversation,
            ]
        )
        reached = np.clip(since_reached, 1, WINDOW_DAYS) - 1
        conversation = np.clip(since_conversation, 1, WINDOW_DAYS) - 1
        index[open_accounts] = np.ravel_multi_index((b, cycles, paid, day, reached, conversation), self.shape)
        return index


@dataclass(frozen=True)
class _Contact:
    """One MDP action that contacts the debtor: its chance to reach, response when reached, and cost."""

    action: int
    channel: int
    framing: int
    boost: float  # response multiplier of a portal link, 1 for other contacts
    reach_probability: float  # per attempt: 1 for messages, the RPC rate for calls
    cost_reached: float
    cost_not_reached: float


def check_reducible(scenario: Scenario, model: PortfolioModel) -> int:
    """Check that ``scenario`` reduces exactly to the MDP of :func:`build_mdp`; return its one debtor type's index.

    Raise :class:`NotReducibleError` naming the first mechanism that would need state the MDP does not have.
    """
    problems: list[str] = []
    types = [t for t in DEBTOR_TYPES if scenario.debtor_types.get(t, 0.0) > 0.0]
    if len(types) != 1:
        raise NotReducibleError(f"needs exactly one debtor type with a positive share, got {types}")
    debtor_type = DEBTOR_TYPES.index(types[0])
    portfolio, behaviour = scenario.portfolio, model.behaviour

    if scenario.product != "card":
        problems.append(f"product must be 'card', got {scenario.product!r}")
    if portfolio.balance.sd_log != 0.0:
        problems.append("portfolio.balance.sd_log must be 0, so that every account opens with one balance")
    if portfolio.annual_interest_rate != 0.0 or portfolio.late_fee != 0.0:
        problems.append("portfolio.annual_interest_rate and portfolio.late_fee must be 0, so that balances stay fixed")
    if scenario.charge_off_dpd > MAX_CYCLES_PAST_DUE * scenario.cycle_days:
        problems.append(f"charge_off_dpd must be at most {MAX_CYCLES_PAST_DUE * scenario.cycle_days}")
    if scenario.recession is not None:
        problems.append("recession must be absent")
    if behaviour.payday.affected[debtor_type]:
        problems.append(f"debtor type {types[0]!r} must not be payday-bound (income.payday_bound_types)")
    recovers = types[0] == "hardship" and scenario.income.recovery_per_month != 0.0
    if scenario.income.job_loss_per_month != 0.0 or recovers:
        problems.append("income shocks must be off, so that the debtor type never changes")
    if scenario.response.repeat_decay not in (0.0, 1.0):
        problems.append(
            "response.repeat_decay must be 0 or 1: otherwise the response depends on the count of contacts in the "
            "last 7 days, which the observation does not show"
        )

    # Every payment brings the account current and repays the whole balance. A contact can prompt a payment in a row
    # whose untreated pay probability is 0, where the engine pays one minimum payment, so every row is checked.
    for s in range(MAX_CYCLES_PAST_DUE + 1):
        if model.pay_probability[s] == 0 and s > 0:
            problems.append(
                f"transitions.monthly row {s} must give a cure (column 0) a positive probability, because a payment "
                "that a contact prompts in a row without payments is one minimum payment, not a cure"
            )
        elif model.payments_given_pay[s, : s + 1].sum() > 0:
            problems.append(f"transitions.monthly row {s} must give probability only to a cure (column 0) or a roll")
        if model.full_payoff_share[s] != 1.0:
            problems.append(f"transitions.full_payoff_share[{s}] must be 1")

    nudge = behaviour.nudge
    for c, channel in enumerate(CHANNELS):
        base = nudge.base[debtor_type, c]
        if base > 0 and model.channel_delay[c] > 0:
            problems.append(f"{channel} has a postal delay, so its response for {types[0]!r} must be 0")
        if base > 0 and channel != "call" and model.reach_probability[c] != 1.0:
            problems.append(f"channels.{channel}.reach_probability must be 1 (reach is a hidden trait of the account)")
    if nudge.agency_probability(np.array([debtor_type]))[0] != 0.0:
        problems.append(f"the agency response of {types[0]!r} must be 0")
    if behaviour.promises.promise[debtor_type] != 0.0:
        problems.append(f"promises.promise_probability of {types[0]!r} must be 0")
    if behaviour.plans.ceiling[debtor_type] != 0.0:
        problems.append(f"plans.acceptance_ceiling of {types[0]!r} must be 0")
    if behaviour.settlement.ceiling[debtor_type] != 0.0 and behaviour.settlement.cap(np.arange(400)).max() > 0.0:
        problems.append("settlements must be blocked (no discount_caps) or never accepted")
    if types[0] == "hardship" and scenario.hardship.disclosure_probability != 0.0:
        problems.append("hardship.disclosure_probability must be 0")
    if scenario.disputes.probability_per_contact.get(types[0], 0.0) != 0.0:
        problems.append(f"disputes.probability_per_contact of {types[0]!r} must be 0")
    customer = scenario.customer
    if customer.complaint_per_contact != 0.0:
        problems.append("customer.complaint_per_contact must be 0 (a complaint may stop contact)")
    if scenario.economics.clv_weight != 0.0 and (customer.attrition_on_cure or customer.attrition_per_contact):
        problems.append("customer attrition must be 0 (it depends on 30 days of contact history)")
    signals = scenario.signals
    if signals.logins_if_paying != signals.logins_if_not_paying or signals.spend_change_if_not_paying != 0.0:
        problems.append("signals must not depend on the payment decision, or a policy could read the hidden decision")
    if problems:
        raise NotReducibleError(f"scenario {scenario.name!r} does not reduce exactly: " + "; ".join(problems))
    return debtor_type


def _contact_actions(model: PortfolioModel, debtor_type: int) -> list[_Contact]:
    """For each channel that can prompt a payment, the catalogue action with the largest response.

    Actions on one channel cost the same and differ only in their response multiplier (framing, portal boost), so
    the largest one dominates the rest.
    """
    nudge = model.behaviour.nudge
    call_centre = model.scenario.call_center
    contacts = []
    for c, channel in enumerate(CHANNELS):
        if nudge.base[debtor_type, c] <= 0 or model.channel_delay[c] > 0:
            continue
        candidates = [a.index for a in ACTIONS if model.action_channel[a.index] == c]
        multiplier = [nudge.framing_multiplier[model.action_framing[a]] * model.action_boost[a] for a in candidates]
        best = candidates[int(np.argmax(multiplier))]
        framing, boost = int(model.action_framing[best]), float(model.action_boost[best])
        if channel == "call":
            unreachable = DEBTOR_TYPES[debtor_type] == "unreachable"
            contacts.append(
                _Contact(
                    action=best,
                    channel=c,
                    framing=framing,
                    boost=boost,
                    reach_probability=0.0 if unreachable else call_centre.right_party_contact_probability,
                    cost_reached=call_centre.minutes_right_party * call_centre.agent_cost_per_hour / 60.0,
                    cost_not_reached=call_centre.minutes_no_contact * call_centre.agent_cost_per_hour / 60.0,
                )
            )
        else:
            cost = float(model.channel_cost[c])
            contacts.append(_Contact(best, c, framing, boost, 1.0, cost, cost))
    return contacts


def _opening_balances(scenario: Scenario) -> tuple[dict[int, int], dict[int, int]]:
    """Opening balance in cents by initial cycles past due, and the balance after a payment made before day 0.

    Mirrors ``PortfolioModel._init_accounts`` for a balance with no spread.
    """
    portfolio = scenario.portfolio
    balance = float(np.clip(np.exp(portfolio.balance.mean_log), portfolio.minimum_balance, portfolio.maximum_balance))
    installment = max(
        int(np.rint(max(portfolio.minimum_payment_rate * balance, portfolio.minimum_payment_floor) * CENTS)), 1
    )
    opening, after_payment = {}, {}
    for s, share in portfolio.initial_cycles_past_due.items():
        if share <= 0:
            continue
        opening[s] = max(int(np.rint(balance * CENTS)), (s + 2) * installment)
        past_due = s * installment
        billed = min(installment, opening[s] - past_due)
        # A payment before day 0 pays s + 1 minimum payments (a cure), at least the arrears and the current bill.
        after_payment[s] = opening[s] - min(max((s + 1) * installment, past_due + billed), opening[s])
    return opening, after_payment


def build_mdp(scenario: Scenario | str = TINY_SCENARIO) -> ExactMDP:
    """Build the finite MDP of one account of ``scenario`` from the engine's own tables and response curves.

    Raise :class:`NotReducibleError` when the scenario has a mechanism the MDP would only approximate.
    """
    if not isinstance(scenario, Scenario):
        scenario = Scenario.load(scenario)
    model = PortfolioModel(scenario, _NoPolicy(), n_accounts=1, days=1, seed=0)
    debtor_type = check_reducible(scenario, model)
    economics = scenario.economics
    cycle = scenario.cycle_days

    opening, after_payment = _opening_balances(scenario)
    balances = np.array(sorted(set(opening.values()) | set(after_payment.values())), dtype=np.int64)
    shape = (len(balances), MAX_CYCLES_PAST_DUE + 1, 2, cycle, WINDOW_DAYS, WINDOW_DAYS)
    n_inner = int(np.prod(shape))
    end = n_inner
    b, s, paid, d, reached, conversation = (axis.ravel() for axis in np.indices(shape))
    balance = balances[b] / CENTS

    # The untreated payment: drawn at the statement with the pay probability of the state, on a day uniform over
    # the cycle. Given no payment on days 0..d-1, the chance that it falls on day d is a hazard of the belief.
    p_cycle = model.pay_probability[s]
    hazard = np.where(paid == 1, 0.0, (p_cycle / cycle) / (1.0 - p_cycle * d / cycle))

    # After the day: charge-off at 22:00 once DPD reaches the charge-off DPD, else the next morning's state.
    dpd = np.where(s > 0, (s - 1) * cycle + d + 1, 0)
    charged_off = dpd >= scenario.charge_off_dpd
    statement = d + 1 == cycle
    next_s = np.where(statement, np.minimum(s + 1 - paid, MAX_CYCLES_PAST_DUE), s)
    next_paid = np.where(statement, 0, paid)
    next_d = np.where(statement, 0, d + 1)
    aged_reached = np.minimum(reached + 1, WINDOW_DAYS - 1)
    aged_conversation = np.minimum(conversation + 1, WINDOW_DAYS - 1)

    def next_state(reached_today: bool, conversation_today: bool) -> np.ndarray:
        inner = np.ravel_multi_index(
            (
                b,
                next_s,
                next_paid,
                next_d,
                np.zeros_like(reached) if reached_today else aged_reached,
                np.zeros_like(conversation) if conversation_today else aged_conversation,
            ),
            shape,
        )
        return np.where(charged_off, end, inner)

    untouched = next_state(False, False)
    rows = np.arange(n_inner)
    actions, transitions, rewards = [], [], []

    def add(action: int, outcomes: Iterable[tuple[np.ndarray, np.ndarray]], reward: np.ndarray) -> None:
        outcomes = list(outcomes)
        # Outcomes that lead to one state add up; the end state loops on itself.
        probability = np.concatenate([p for p, _ in outcomes] + [[1.0]])
        source = np.concatenate([rows for _ in outcomes] + [[end]])
        target = np.concatenate([t for _, t in outcomes] + [[end]])
        matrix = sparse.coo_matrix((probability, (source, target)), shape=(end + 1, end + 1)).tocsr()
        actions.append(action)
        transitions.append(matrix)
        rewards.append(np.append(reward, 0.0))

    # No action: the account pays on its own with the hazard.
    add(
        NO_ACTION,
        [(hazard, np.full(n_inner, end)), (1.0 - hazard, untouched)],
        economics.recovery_weight * hazard * balance,
    )

    # Contacts: a reached debtor who has not paid this cycle pays today with the nudge probability, which repeat
    # decay 0 sets to 0 after a contact that reached the debtor in the previous 6 days.
    for contact in _contact_actions(model, debtor_type):
        is_call = CHANNELS[contact.channel] == "call"
        earlier_reached = (reached < WINDOW_DAYS - 1).astype(np.float64)
        response = model.behaviour.nudge.probability(
            np.full(n_inner, debtor_type), contact.channel, np.full(n_inner, contact.framing), earlier_reached
        )
        # As in the engine, a portal link multiplies the response of its SMS.
        response = np.where(paid == 1, 0.0, np.clip(response * contact.boost, 0.0, 1.0))
        q = contact.reach_probability
        pay = 1.0 - (1.0 - hazard) * (1.0 - q * response)
        cost = q * contact.cost_reached + (1.0 - q) * contact.cost_not_reached
        reward = economics.recovery_weight * pay * balance - economics.cost_weight * cost
        outcomes = [
            (pay, np.full(n_inner, end)),
            ((1.0 - hazard) * q * (1.0 - response), next_state(True, is_call)),
            ((1.0 - hazard) * (1.0 - q), untouched),
        ]
        if is_call:
            # The compliance guard turns a call within 7 days of a conversation into no action, at no cost.
            blocked = conversation < WINDOW_DAYS - 1
            none_reward = economics.recovery_weight * hazard * balance
            outcomes = [
                (np.where(blocked, hazard, pay), np.full(n_inner, end)),
                (np.where(blocked, 0.0, outcomes[1][0]), outcomes[1][1]),
                (np.where(blocked, 1.0 - hazard, outcomes[2][0]), untouched),
            ]
            reward = np.where(blocked, none_reward, reward)
        add(contact.action, outcomes, reward)

    # Sale: the debt buyer pays the sale price on the balance at 08:00, before any payment of the day.
    add(
        SELL,
        [(np.ones(n_inner), np.full(n_inner, end))],
        economics.recovery_weight * scenario.sale.price_per_dollar * balance,
    )

    start = _start_distribution(scenario, model, opening, after_payment, balances, shape)
    return ExactMDP(
        scenario=scenario,
        balances_cents=balances,
        shape=shape,
        actions=tuple(actions),
        transitions=tuple(transitions),
        rewards=np.column_stack(rewards),
        start_distribution=start,
        daily_discount=(1.0 + economics.cost_of_capital) ** (-1.0 / 365.0),
        # The rest of the first cycle, one current cycle, then the cycles up to charge-off.
        horizon_days=2 * cycle + scenario.charge_off_dpd,
    )


def _start_distribution(
    scenario: Scenario,
    model: PortfolioModel,
    opening: dict[int, int],
    after_payment: dict[int, int],
    balances: np.ndarray,
    shape: tuple[int, ...],
) -> np.ndarray:
    """State of an account at 08:00 of day 0: ``d`` days into its cycle, uniform over the cycle, with no contact yet.

    A payment drawn for a day before day 0 was made before it: the account opens current with a lower balance.
    """
    cycle = scenario.cycle_days
    start = np.zeros(int(np.prod(shape)) + 1)
    never = WINDOW_DAYS - 1
    for s, share in scenario.portfolio.initial_cycles_past_due.items():
        if share <= 0:
            continue
        b_open = int(np.searchsorted(balances, opening[s]))
        b_paid = int(np.searchsorted(balances, after_payment[s]))
        for d in range(cycle):
            paid_before = model.pay_probability[s] * d / cycle
            start[np.ravel_multi_index((b_paid, 0, 1, d, never, never), shape)] += share / cycle * paid_before
            start[np.ravel_multi_index((b_open, s, 0, d, never, never), shape)] += share / cycle * (1 - paid_before)
    return start


# -- value iteration ------------------------------------------------------------------------------------------------


def bellman_backup(mdp: ExactMDP, values: np.ndarray) -> np.ndarray:
    """Return the action values ``Q[x, a] = R[x, a] + daily_discount × Σ_y P_a[x, y] V[y]``, (n_states, n_actions)."""
    return mdp.rewards + mdp.daily_discount * np.column_stack([p @ values for p in mdp.transitions])


@dataclass(frozen=True)
class ExactSolution:
    """Optimal values and actions of an :class:`ExactMDP`."""

    mdp: ExactMDP
    values: np.ndarray  # (n_states,) optimal value, currency discounted to the state's day
    q_values: np.ndarray  # (n_states, n_actions)
    policy: np.ndarray  # (n_states,) catalogue index of the optimal action; ties go to the earlier MDP action
    iterations: int
    residual: float  # largest change of a value in the last sweep

    @property
    def start_value(self) -> float:
        """Optimal expected objective of one account, discounted to day 0: the value of the start distribution."""
        return float(self.mdp.start_distribution @ self.values)


def solve(mdp: ExactMDP, tolerance: float = DEFAULT_TOLERANCE, max_iterations: int = 10_000) -> ExactSolution:
    """Solve ``mdp`` by value iteration from zero values until no value changes by more than ``tolerance``.

    Every path ends within ``mdp.horizon_days`` days, so the iteration is exact after that many sweeps; the
    tolerance only stops it early when values settle sooner.
    """
    values = np.zeros(mdp.n_states)
    for iteration in range(1, max_iterations + 1):  # noqa: B007 (reported after the loop)
        q_values = bellman_backup(mdp, values)
        new_values = q_values.max(axis=1)
        residual = float(np.abs(new_values - values).max())
        values = new_values
        if residual <= tolerance:
            break
    else:
        raise RuntimeError(f"value iteration did not reach tolerance {tolerance} in {max_iterations} sweeps")
    q_values = bellman_backup(mdp, values)
    policy = np.asarray(mdp.actions)[q_values.argmax(axis=1)]
    logger.debug("value iteration converged in %d sweeps, residual %.3g", iteration, residual)
    return ExactSolution(mdp, values, q_values, policy, iteration, residual)


# -- the policy -----------------------------------------------------------------------------------------------------


class ExactOptimalPolicy:
    """The optimal policy of a reducible scenario (by default ``tiny``), from value iteration on its exact MDP.

    It reads observable state only. Built without a scenario, it solves the scenario of the model it is bound to.
    """

    name = "exact_optimum"
    description = (
        "Research reference: the exact optimum of a small scenario (tiny), by value iteration on the account model "
        "reduced to a finite MDP over observable state. Raises on a scenario that does not reduce exactly."
    )

    def __init__(self, scenario: Scenario | str | None = None, tolerance: float = DEFAULT_TOLERANCE) -> None:
        self.tolerance = tolerance
        self.solution: ExactSolution | None = None
        if scenario is not None:
            self.solution = solve(build_mdp(scenario), tolerance)

    def bind(self, model: PortfolioModel) -> None:
        if self.solution is None or self.solution.mdp.scenario != model.scenario:
            self.solution = solve(build_mdp(model.scenario), self.tolerance)

    @property
    def start_value(self) -> float:
        return self._solution().start_value

    def decide(self, obs: Observation) -> np.ndarray:
        solution = self._solution()
        return solution.policy[solution.mdp.state_index(obs)]

    def _solution(self) -> ExactSolution:
        if self.solution is None:
            raise RuntimeError("the exact optimum is not solved yet: pass a scenario or bind it to a model")
        return self.solution


# -- evaluation in the simulator ------------------------------------------------------------------------------------


def account_values(model: PortfolioModel) -> np.ndarray:
    """Return each account's objective: weighted NPV of cash less NPV of costs, less CLV lost, in currency."""
    economics = model.scenario.economics
    clv_lost = np.where(model.attrited, model.clv, 0.0)
    return (
        economics.recovery_weight * model.npv_cash
        - economics.cost_weight * model.npv_cost
        - economics.clv_weight * clv_lost
    )


def simulate_values(
    policy_factory: Callable[[], object],
    scenario: Scenario | str = TINY_SCENARIO,
    n_accounts: int = 2_000,
    seeds: Iterable[int] = (0,),
    days: int | None = None,
) -> np.ndarray:
    """Run a fresh policy from ``policy_factory`` on each seed of ``scenario``; return every account's objective.

    Values are in seed order, then account order, so two policies run on the same seeds pair account by account
    (common random numbers). ``days`` defaults to the MDP's horizon, after which every account has left the book.
    Raise RuntimeError if a call waited in the queue or an account was still open, because the simulated value would
    then not be the value the MDP computes.
    """
    if not isinstance(scenario, Scenario):
        scenario = Scenario.load(scenario)
    if days is None:
        days = 2 * scenario.cycle_days + scenario.charge_off_dpd
    values = []
    for seed in seeds:
        model = PortfolioModel(
            scenario, policy_factory(), n_accounts=n_accounts, days=days, seed=seed, record_daily=False
        )
        model.run()
        if model.calls_unplaced:
            raise RuntimeError(f"{model.calls_unplaced} calls were not placed on seed {seed}; add agents")
        still_open = int((model.status == ACTIVE).sum())
        if still_open:
            raise RuntimeError(f"{still_open} accounts are still open after {days} days on seed {seed}")
        values.append(account_values(model))
    return np.concatenate(values)


@dataclass(frozen=True)
class Interval:
    """A mean with its two-sided normal confidence interval."""

    mean: float
    low: float
    high: float

    @classmethod
    def of(cls, samples: np.ndarray, confidence: float, scale: float = 1.0) -> Interval:
        mean = float(samples.mean())
        half_width = float(norm.ppf(0.5 + confidence / 2) * samples.std(ddof=1) / np.sqrt(len(samples)))
        return cls(mean / scale, (mean - half_width) / scale, (mean + half_width) / scale)


@dataclass(frozen=True)
class Regret:
    """A policy's value on a reducible scenario against the exact optimum, per account, in currency."""

    policy: str
    optimum: float  # exact optimal value of the start distribution
    value: Interval  # the policy's simulated mean value per account
    fraction: Interval  # value / optimum
    gap: Interval  # simulated optimum minus the policy, paired account by account on the same seeds
    n_accounts: int

    def __str__(self) -> str:
        return (
            f"{self.policy}: {self.value.mean:.2f} per account ({self.fraction.mean:.1%} of the optimum "
            f"{self.optimum:.2f}, interval {self.fraction.low:.1%} to {self.fraction.high:.1%}); "
            f"gap to the simulated optimum {self.gap.mean:.2f} ({self.gap.low:.2f} to {self.gap.high:.2f})"
        )


def regret(
    policy: str | Callable[[], object],
    scenario: Scenario | str = TINY_SCENARIO,
    n_accounts: int = 2_000,
    seeds: Iterable[int] = (0,),
    confidence: float = 0.95,
    optimum: ExactOptimalPolicy | None = None,
) -> Regret:
    """Measure ``policy`` against the exact optimum of ``scenario``, both simulated on the same accounts and seeds.

    ``policy`` is a name or path for :func:`policies.load`, or a callable that returns a fresh policy (a policy may
    keep state, so each seed gets a new one). The fraction is the policy's mean value over the exact optimal value.
    Its interval comes from the policy's sampling error only, because the optimum is computed, not estimated.
    """
    import policies

    if not isinstance(scenario, Scenario):
        scenario = Scenario.load(scenario)
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must name at least one seed, such as (0,)")
    if isinstance(n_accounts, bool) or not isinstance(n_accounts, int | np.integer) or n_accounts < 2:
        raise ValueError(f"n_accounts must be a whole number of at least 2 for an interval, got {n_accounts!r}")
    if optimum is not None and optimum.solution is not None and optimum.solution.mdp.scenario != scenario:
        raise ValueError(
            f"optimum was solved for scenario {optimum.solution.mdp.scenario.name!r}, not {scenario.name!r}; pass "
            "ExactOptimalPolicy(scenario), or no optimum to solve this one"
        )
    optimum = optimum or ExactOptimalPolicy(scenario)
    factory = (lambda: policies.load(policy)) if isinstance(policy, str) else policy
    name = policy if isinstance(policy, str) else getattr(factory(), "name", "policy")
    values = simulate_values(factory, scenario, n_accounts, seeds)
    optimal_values = simulate_values(lambda: optimum, scenario, n_accounts, seeds)
    return Regret(
        policy=name,
        optimum=optimum.start_value,
        value=Interval.of(values, confidence),
        fraction=Interval.of(values, confidence, scale=optimum.start_value),
        gap=Interval.of(optimal_values - values, confidence),
        n_accounts=len(values),
    )


def main(argv: list[str] | None = None) -> int:
    """Print the exact optimum of a reducible scenario and the regret of the shipped policies on it."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m policies.exact", description=main.__doc__)
    parser.add_argument("--scenario", default=TINY_SCENARIO, help="shipped scenario name or YAML path (default: tiny)")
    parser.add_argument("--accounts", type=int, default=4_000, help="accounts per seed (default: 4000)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default: 3)")
    parser.add_argument(
        "--policies",
        nargs="+",
        default=["do_nothing", "letters_only", "standard", "digital_first", "aggressive", "risk_based", "random"],
        help="policy names or waterfall YAML paths to measure",
    )
    args = parser.parse_args(argv)

    scenario = Scenario.load(args.scenario)
    optimum = ExactOptimalPolicy(scenario)
    solution = optimum.solution
    seeds = range(args.seeds)
    simulated = Interval.of(simulate_values(lambda: optimum, scenario, args.accounts, seeds), 0.99)
    print(
        f"exact optimum of {scenario.name}: {optimum.start_value:.4f} per account "
        f"({solution.mdp.n_states} states, {len(solution.mdp.actions)} actions, {solution.iterations} sweeps, "
        f"residual {solution.residual:.1e})"
    )
    print(f"simulated: {simulated.mean:.4f} (99% interval {simulated.low:.4f} to {simulated.high:.4f})")
    for name in args.policies:
        print(regret(name, scenario, args.accounts, seeds, optimum=optimum))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
