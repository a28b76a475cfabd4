"""The state the model keeps up to date instead of recomputing each day equals a recomputation from scratch."""

from __future__ import annotations

import numpy as np
import pytest

import policies
from sim.engine import ACTIVE, PortfolioModel
from sim.scenario import Scenario


def recomputed_dpd(model: PortfolioModel, day: int) -> np.ndarray:
    """Compute DPD from the arrears, the last statement and the due day, as the contract defines it."""
    active = model.status == ACTIVE
    if model.is_invoice:
        return np.where(active & (model.past_due > 0), day - model.due_day + 1, 0)
    cycles = -(-model.past_due // model.installment)
    dpd = (cycles - 1) * model.scenario.cycle_days + day + 1 - model.last_statement
    return np.where(active & (cycles > 0), dpd, 0)


def assert_kept_state_matches(model: PortfolioModel, day: int) -> None:
    # The close of day relies on this when it accrues interest on every account.
    assert (model.balance[model.status != ACTIVE] == 0).all(), "a resolved account has a balance"
    np.testing.assert_array_equal(model.cycles_past_due, -(-model.past_due // model.installment))
    np.testing.assert_array_equal(model.dpd(day), recomputed_dpd(model, day))
    np.testing.assert_array_equal(model.calls_last_7_days, model.calls_ring.sum(axis=0))


@pytest.mark.parametrize(
    ("scenario", "policy"),
    [
        ("default", "aggressive"),
        ("default", "random"),
        ("b2b_invoices", "standard"),
        ("recession", "risk_based"),
    ],
)
def test_kept_state_matches_recomputation(scenario, policy):
    model = PortfolioModel(Scenario.load(scenario), policies.load(policy), n_accounts=400, days=90, seed=5)
    assert_kept_state_matches(model, 0)
    while model.day < model.days:
        day = model.day
        obs = model.begin_day()
        assert_kept_state_matches(model, day)
        np.testing.assert_array_equal(obs.dpd, recomputed_dpd(model, day))
        model.finish_day(model.policy.decide(obs))
        assert_kept_state_matches(model, day)


def test_kept_state_matches_after_renewals():
    model = PortfolioModel(
        Scenario.load("default"), policies.load("random"), n_accounts=64, days=60, seed=2, record_daily=False
    )
    next_id = model.n
    while model.day < model.days:
        model.step()
        ended = np.flatnonzero(model.status != ACTIVE)
        model.renew_accounts(ended, np.arange(next_id, next_id + len(ended)))
        next_id += len(ended)
        assert_kept_state_matches(model, model.day)
