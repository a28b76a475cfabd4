"""Call targeting: the uplift learned from a randomised hold-out beats random calls at the same capacity."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from policies.uplift import (
    CALL,
    RandomCalls,
    TrainingSettings,
    UpliftCalls,
    UpliftModel,
    fitted_uplift,
    holdout_history,
)
from sim.engine import PortfolioModel
from sim.features import FEATURE_NAMES

SETTINGS = TrainingSettings()


@pytest.fixture(scope="module")
def scenario(default_scenario):
    # One agent for four hours: about 60 call attempts a day for over 1,000 past-due accounts, so targeting matters.
    call_center = default_scenario.call_center.model_copy(update={"agents": 1, "shift_end_hour": 13.0})
    return default_scenario.model_copy(update={"call_center": call_center})


@pytest.fixture(scope="module")
def history(scenario):
    return holdout_history(scenario, SETTINGS.n_accounts, SETTINGS.days, SETTINGS.seed)


def test_holdout_arms_are_balanced(history):
    called, features = history.called, history.features
    assert 0.4 < called.mean() < 0.6
    # Randomised assignment: the arms look alike on what the lender observes.
    for name in ("dpd", "balance", "portal_logins", "days_since_payment"):
        column = features[:, FEATURE_NAMES.index(name)]
        gap = abs(column[called].mean() - column[~called].mean())
        assert gap < 0.1 * column.std() + 1e-6, name


def test_uplift_fit_is_deterministic(history):
    first = UpliftModel.fit(history).uplift(history.features[:500])
    second = UpliftModel.fit(history).uplift(history.features[:500])
    np.testing.assert_array_equal(first, second)


def _net_cash(scenario, policy, seed: int) -> tuple[float, int]:
    model = PortfolioModel(scenario, policy, n_accounts=2_000, days=90, seed=seed).run()
    calls = int(model.daily_frame()["calls_requested"].sum())
    return float((model.npv_cash - model.npv_cost).sum()), calls


def test_uplift_beats_random_targeting(scenario):
    fitted_uplift(scenario, SETTINGS)  # fit once, outside the comparison
    differences = []
    # The gain is about 8 per account, with a standard deviation of about 16 per account from seed to seed (24 seeds
    # of 2,000 accounts), so an interval over a handful of seeds would include zero.
    for seed in range(24):
        uplift_value, uplift_calls = _net_cash(scenario, UpliftCalls(SETTINGS), seed)
        random_value, random_calls = _net_cash(scenario, RandomCalls(), seed)
        # Same capacity: targeting never requests more calls than the random baseline.
        assert uplift_calls <= random_calls
        differences.append(uplift_value - random_value)
    differences = np.array(differences)
    # Paired by seed (common random numbers): a 95% Student-t interval of the mean difference.
    half_width = stats.t.ppf(0.975, len(differences) - 1) * differences.std(ddof=1) / np.sqrt(len(differences))
    assert differences.mean() - half_width > 0, differences


def test_random_calls_fill_capacity(scenario):
    policy = RandomCalls()
    model = PortfolioModel(scenario, policy, n_accounts=3_000, days=3, seed=1)
    obs = model.observe(0)
    actions = policy.decide(obs)
    assert (actions == CALL).sum() == model.call_centre.expected_calls(0)


def test_uplift_calls_none_without_agents(default_scenario):
    """With no agent on shift on any weekday, no call can be placed or learned from, so the policy calls no account."""
    call_center = default_scenario.call_center.model_copy(update={"agents": 0})
    no_agents = default_scenario.model_copy(update={"call_center": call_center})
    policy = UpliftCalls(SETTINGS)
    model = PortfolioModel(no_agents, policy, n_accounts=500, days=20, seed=3)
    assert policy.uplift_model is None
    model.run()
    assert model.contacts_sent.sum() == 0
    assert model.daily_frame()["calls_requested"].sum() == 0
