"""The observable feature vector and the weak signals it carries."""

import numpy as np
import pytest

import policies
import sim.features as features_module
from sim.engine import NO_PAYMENT, PortfolioModel
from sim.features import FEATURE_HIGH, FEATURE_LOW, FEATURE_NAMES, FEATURES, feature_matrix
from sim.scenario import Scenario


def test_features_stay_in_bounds_over_a_run():
    model = PortfolioModel(Scenario(), policies.load("standard"), n_accounts=500, days=60, seed=3)
    while model.day < model.days:
        if model.day % 15 == 0:
            features = feature_matrix(model.observe(model.day))
            assert features.shape == (500, len(FEATURE_NAMES))
            assert features.dtype == np.float32
            assert not np.isnan(features).any()
            assert (features >= FEATURE_LOW).all()
            assert (features <= FEATURE_HIGH).all()
        model.step()


def test_feature_names_are_unique():
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)


def test_index_selects_rows():
    model = PortfolioModel(Scenario(), policies.load("do_nothing"), n_accounts=50, days=5, seed=1)
    obs = model.observe(0)
    index = np.array([3, 7, 11])
    np.testing.assert_array_equal(feature_matrix(obs, index), feature_matrix(obs)[index])


@pytest.mark.parametrize("chunk", [features_module._CHUNK_ROWS, 64])
def test_features_scaled_by_their_caps(monkeypatch, chunk):
    """Every column equals its feature's documented scaling, also when the accounts are scaled in several chunks."""
    monkeypatch.setattr(features_module, "_CHUNK_ROWS", chunk)
    model = PortfolioModel(Scenario(), policies.load("random"), n_accounts=500, days=40, seed=5)
    for _ in range(30):
        model.step()
    obs = model.observe(model.day)
    expected = np.empty((500, len(FEATURES)), dtype=np.float32)
    for column, feature in enumerate(FEATURES):
        value = np.asarray(feature.value(obs), dtype=np.float64)
        if feature.cap is not None:
            value = np.minimum(np.maximum(value, 0.0), feature.cap) / feature.cap
        expected[:, column] = np.minimum(np.maximum(value, feature.low), feature.high)
    # The run must have produced values that the caps and bounds cut, or the comparison would not test them.
    assert (expected == 1.0).any(axis=0).sum() >= 5
    assert (expected[:, FEATURE_NAMES.index("spend_change")] < 0).any()
    np.testing.assert_array_equal(feature_matrix(obs), expected)


def test_capped_features_scale_into_bounds():
    """feature_matrix clips a capped feature only to [0, cap], then divides by the cap: [0, 1] must fit its bounds."""
    capped = [feature for feature in FEATURES if feature.cap is not None]

    assert len(capped) >= 20
    for feature in capped:
        assert feature.low <= 0.0, feature.name
        assert feature.high >= 1.0, feature.name


def test_logins_and_spend_follow_the_payment_decision():
    scenario = Scenario()
    model = PortfolioModel(scenario, policies.load("do_nothing"), n_accounts=20_000, days=1, seed=5)
    will_pay = model.pay_day != NO_PAYMENT
    logins_paying = model.portal_logins[will_pay].mean()
    logins_not_paying = model.portal_logins[~will_pay].mean()
    # Poisson means 3.0 and 1.0 by default; 20,000 accounts give a standard error near 0.02.
    assert abs(logins_paying - scenario.signals.logins_if_paying) < 0.1
    assert abs(logins_not_paying - scenario.signals.logins_if_not_paying) < 0.1
    gap = model.spend_change[will_pay].mean() - model.spend_change[~will_pay].mean()
    assert 0.05 < gap < 0.15


def test_signals_leave_untreated_payments_unchanged():
    scenario = Scenario()
    silent = scenario.model_copy(
        update={"signals": scenario.signals.model_copy(update={"logins_if_paying": 0.0, "logins_if_not_paying": 0.0})}
    )
    loud = PortfolioModel(scenario, policies.load("do_nothing"), n_accounts=2_000, days=90, seed=2).run()
    quiet = PortfolioModel(silent, policies.load("do_nothing"), n_accounts=2_000, days=90, seed=2).run()
    np.testing.assert_array_equal(loud.paid, quiet.paid)
    assert loud.portal_logins.sum() > 0
    assert quiet.portal_logins.sum() == 0
