"""Call targeting under capacity: call the accounts where a call adds the most value, or (as a baseline) at random.

The uplift of a call is estimated from a randomised hold-out in simulated history, never from the latent state.
Each day of the history, every account a call could reach is called with the same probability: the call centre's
capacity over the number of candidates, at most one half. Called and uncalled accounts therefore differ only by
chance. Two scikit-learn gradient-boosted regressors (a T-learner) predict the cash an account pays in the next 30
days with and without a call, from its observable features. Their difference, less the expected cost of a call, is
the call's incremental value. Each day the policy calls the accounts with the highest positive value, as many as the
agents can handle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from threadpoolctl import threadpool_limits

from sim.catalogue import contact_action
from sim.engine import CENTS, PortfolioModel
from sim.features import feature_matrix
from sim.observation import Observation
from sim.rng import Purpose
from sim.scenario import Scenario

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingRegressor

CALL = contact_action("call", "neutral")
#: Seed of the simulated history the uplift is learned from. Experiment seeds stay below 2**31, so the training
#: accounts are never the accounts a policy is evaluated on.
TRAINING_SEED = 2**40 + 17
#: Days after a call over which its effect on cash is measured.
WINDOW_DAYS = 30


def call_candidates(model: PortfolioModel, obs: Observation) -> np.ndarray:
    """Indices of past-due accounts that the compliance guard lets the lender call today."""
    allowed = model.action_mask(obs)[:, CALL]
    return np.flatnonzero(obs.active & (obs.dpd >= 1) & ~obs.placed_with_agency & allowed)


def expected_call_cost(scenario: Scenario) -> float:
    """Agent cost of one call attempt at the scenario's right-party contact rate, currency units."""
    config = scenario.call_center
    rpc = config.right_party_contact_probability
    minutes = rpc * config.minutes_right_party + (1.0 - rpc) * config.minutes_no_contact
    return minutes * config.agent_cost_per_hour / 60.0


@dataclass(frozen=True)
class HoldoutHistory:
    """Account-days of a randomised call experiment: features then, whether called, and cash paid in the window."""

    features: np.ndarray  # (n_samples, len(FEATURE_NAMES)) float32
    called: np.ndarray  # (n_samples,) bool
    cash: np.ndarray  # (n_samples,) currency units paid from that day until WINDOW_DAYS later
    day: np.ndarray
    account: np.ndarray


class _RandomisedCalls:
    """Call each candidate with probability min(capacity / candidates, 0.5); record the called and as many uncalled."""

    name = "randomised_calls"

    def __init__(self) -> None:
        self.samples: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []

    def bind(self, model: PortfolioModel) -> None:
        self.model = model

    def decide(self, obs: Observation) -> np.ndarray:
        model = self.model
        candidates = call_candidates(model, obs)
        actions = np.zeros(obs.n_accounts, dtype=np.int64)
        if len(candidates) == 0:
            return actions
        # At most half are called, so that an uncalled arm remains when the agents could call everyone.
        share = min(0.5, model.call_centre.expected_calls(obs.day) / len(candidates))
        called = model.rng.uniform(obs.day, Purpose.HOLDOUT, candidates) < share
        # Record uncalled accounts at the same rate as called ones, from an independent draw, to keep arms even.
        recorded = called | (model.rng.uniform(obs.day, Purpose.HOLDOUT, candidates, draw=1) < share)
        index = candidates[recorded]
        self.samples.append((obs.day, index, called[recorded], feature_matrix(obs, index)))
        actions[candidates[called]] = CALL
        return actions


def holdout_history(scenario: Scenario, n_accounts: int, days: int, seed: int = TRAINING_SEED) -> HoldoutHistory:
    """Simulate a randomised call hold-out; samples of the last ``WINDOW_DAYS`` days are dropped (no full window)."""
    if days <= WINDOW_DAYS:
        raise ValueError(f"days ({days}) must exceed the outcome window ({WINDOW_DAYS})")
    policy = _RandomisedCalls()
    model = PortfolioModel(scenario, policy, n_accounts=n_accounts, days=days, seed=seed)
    # paid_before[d] contains each account's cumulative payments before day d.
    paid_before = np.zeros((days + 1, n_accounts), dtype=np.int64)
    while model.day < model.days:
        model.step()
        paid_before[model.day] = model.paid
    features, called, cash, sample_day, account = [], [], [], [], []
    for day, index, was_called, rows in policy.samples:
        if day + WINDOW_DAYS > days:
            continue
        features.append(rows)
        called.append(was_called)
        cash.append((paid_before[day + WINDOW_DAYS, index] - paid_before[day, index]) / CENTS)
        sample_day.append(np.full(len(index), day))
        account.append(index)
    if not features:
        raise ValueError("the hold-out history has no call candidates; use more accounts or days")
    return HoldoutHistory(
        features=np.vstack(features),
        called=np.concatenate(called),
        cash=np.concatenate(cash),
        day=np.concatenate(sample_day),
        account=np.concatenate(account),
    )


class UpliftModel:
    """T-learner: one regressor of the window's cash for called accounts, one for uncalled; uplift is the gap."""

    def __init__(self, with_call: HistGradientBoostingRegressor, without_call: HistGradientBoostingRegressor) -> None:
        self.with_call = with_call
        self.without_call = without_call

    @classmethod
    def fit(cls, history: HoldoutHistory) -> UpliftModel:
        # Imported here: scikit-learn takes most of a second to import, and most runs never fit a model.
        from sklearn.ensemble import HistGradientBoostingRegressor

        if history.called.all() or not history.called.any():
            raise ValueError("the hold-out history needs both called and uncalled accounts")
        fitted = []
        for arm in (True, False):
            # Fixed trees without early stopping: the fit is deterministic, so results repeat to the last bit.
            regressor = HistGradientBoostingRegressor(
                max_iter=100, max_leaf_nodes=15, min_samples_leaf=100, early_stopping=False, random_state=0
            )
            rows = history.called == arm
            with threadpool_limits(limits=1, user_api="openmp"):
                regressor.fit(history.features[rows], history.cash[rows])
            fitted.append(regressor)
        return cls(*fitted)

    def uplift(self, features: np.ndarray) -> np.ndarray:
        """Expected extra cash over the window from calling each account, currency units."""
        # One thread: one day's candidates are too few for OpenMP threads to pay off, and waiting threads spin
        # when the machine is busy with other work (joblib workers, a test run beside this one).
        with threadpool_limits(limits=1, user_api="openmp"):
            return self.with_call.predict(features) - self.without_call.predict(features)


@dataclass(frozen=True)
class TrainingSettings:
    n_accounts: int = 5_000
    days: int = 120
    seed: int = TRAINING_SEED


_FITTED: dict[tuple[str, TrainingSettings], UpliftModel] = {}


def fitted_uplift(scenario: Scenario, settings: TrainingSettings = TrainingSettings()) -> UpliftModel:
    """Fit (once per process, scenario and settings) the uplift model from a hold-out history of ``scenario``."""
    key = (scenario.model_dump_json(), settings)
    if key not in _FITTED:
        history = holdout_history(scenario, settings.n_accounts, settings.days, settings.seed)
        _FITTED[key] = UpliftModel.fit(history)
    return _FITTED[key]


class _CallTargeting:
    """Each day, call up to the number of calls the agents on shift can handle, chosen by :meth:`choose`."""

    name: str
    description: str

    def bind(self, model: PortfolioModel) -> None:
        self.model = model

    def decide(self, obs: Observation) -> np.ndarray:
        actions = np.zeros(obs.n_accounts, dtype=np.int64)
        candidates = call_candidates(self.model, obs)
        capacity = self.model.call_centre.expected_calls(obs.day)
        if len(candidates) and capacity:
            actions[self.choose(obs, candidates, capacity)] = CALL
        return actions

    def choose(self, obs: Observation, candidates: np.ndarray, capacity: int) -> np.ndarray:
        raise NotImplementedError


class UpliftCalls(_CallTargeting):
    """Calls the accounts with the highest estimated incremental value of a call: uplift in cash less its cost."""

    name = "uplift_calls"
    description = (
        "Each day, calls the past-due accounts where a call is expected to add the most cash net of its cost, up to "
        "as many as the agents can handle, and none whose expected gain is below the call's cost; the uplift is "
        "learned from a randomised call hold-out in simulated history."
    )

    def __init__(self, settings: TrainingSettings = TrainingSettings()) -> None:
        self.settings = settings

    def bind(self, model: PortfolioModel) -> None:
        super().bind(model)
        self.call_cost = expected_call_cost(model.scenario)
        # With no agent on any weekday's shift, no call is ever placed. The hold-out history then has no called account
        # to learn from, and decide() never calls choose().
        if not any(model.call_centre.expected_calls(day) for day in range(7)):
            self.uplift_model = None
            return
        self.uplift_model = fitted_uplift(model.scenario, self.settings)

    def choose(self, obs: Observation, candidates: np.ndarray, capacity: int) -> np.ndarray:
        value = self.uplift_model.uplift(feature_matrix(obs, candidates)) - self.call_cost
        order = np.argsort(-value, kind="stable")[:capacity]
        return candidates[order[value[order] > 0]]


class RandomCalls(_CallTargeting):
    """Calls past-due accounts picked at random, as many as the agents can handle: the baseline for targeting."""

    name = "random_calls"
    description = (
        "Each day, calls past-due accounts picked uniformly at random, as many as the agents can handle; the "
        "baseline that call targeting must beat at the same capacity."
    )

    def choose(self, obs: Observation, candidates: np.ndarray, capacity: int) -> np.ndarray:
        draws = self.model.rng.uniform(obs.day, Purpose.POLICY, candidates)
        return candidates[np.argsort(draws, kind="stable")[:capacity]]
