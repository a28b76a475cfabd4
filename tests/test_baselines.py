"""The random baseline and the oracle upper bound."""

from __future__ import annotations

import numpy as np
import pytest

import policies
from sim import simulate
from sim.catalogue import ACTION_BY_NAME, NO_ACTION, contact_action
from sim.compliance import RULES
from sim.engine import PortfolioModel
from sim.rng import Purpose


def test_random_policy_never_blocked(default_scenario):
    result = simulate(default_scenario, "random", n_accounts=2_000, days=60, seed=1, trace=True)
    metrics = result.metrics.iloc[0]
    for rule in RULES:
        assert metrics[f"blocked_{rule}"] == 0, rule
    # It really is random: many kinds of action occur.
    kinds = set(result.contacts["action"].str.split(":").str[0])
    assert {"email", "sms", "letter", "call", "settlement", "plan", "portal", "agency"} <= kinds


def test_random_policy_draws_kth_allowed(default_scenario):
    model = PortfolioModel(default_scenario, policies.load("random"), n_accounts=2_000, days=40, seed=2)
    for _ in range(39):
        model.step()
    obs = model.begin_day()
    actions = model.policy.decide(obs)
    mask = model.action_mask(obs)
    u = model.rng.uniform(obs.day, Purpose.POLICY)
    counts = mask.sum(axis=1)
    for i in range(model.n):
        allowed = np.flatnonzero(mask[i])
        assert actions[i] == allowed[int(np.floor(u[i] * len(allowed)))], i
    # Accounts differ in how many actions they allow, so the draw is checked against several masks.
    assert len(np.unique(counts)) >= 4


def test_random_policy_is_reproducible(default_scenario):
    first = simulate(default_scenario, "random", n_accounts=500, days=30, seed=4)
    second = simulate(default_scenario, "random", n_accounts=500, days=30, seed=4)
    assert first.metrics.equals(second.metrics)


def test_action_mask_matches_guard(default_scenario):
    model = simulate(default_scenario, "standard", n_accounts=3_000, days=100, seed=2).model
    obs = model.observe(model.days - 1)
    mask = model.action_mask(obs)
    assert mask[:, NO_ACTION].all()
    closed = ~obs.active | obs.placed_with_agency
    assert closed.any()
    assert not mask[closed][:, 1:].any()
    # Accounts in breathing space may only get a new hold; accounts after a conversation get no call.
    held = obs.on_hold & ~closed
    assert held.any()
    allowed_when_held = np.flatnonzero(mask[held].any(axis=0))
    assert set(allowed_when_held) == {NO_ACTION, ACTION_BY_NAME["hardship_hold"]}
    talked = (obs.days_since_conversation < 7) & ~closed & ~obs.on_hold
    assert talked.any()
    assert not mask[talked, contact_action("call")].any()
    # Settlements are allowed only from 91 DPD, up to the band's cap.
    early = (obs.dpd < 91) & ~closed
    assert not mask[early, ACTION_BY_NAME["settlement:10"]].any()


@pytest.mark.parametrize("seed", [3, 4])
def test_oracle_beats_waterfalls(default_scenario, seed):
    oracle = simulate(default_scenario, "oracle_upper_bound", n_accounts=10_000, days=180, seed=seed)
    best = max(
        simulate(default_scenario, name, n_accounts=10_000, days=180, seed=seed).metrics.at[0, "objective"]
        for name in ("standard", "digital_first", "do_nothing")
    )
    assert oracle.metrics.at[0, "objective"] > best
    assert "upper_bound" in policies.load("oracle_upper_bound").name
