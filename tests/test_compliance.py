"""The action mask equals the guard's rules applied to each catalogue action in turn."""

from __future__ import annotations

import numpy as np

import policies
from sim.catalogue import N_ACTIONS, NO_ACTION
from sim.compliance import allowed_actions, blocked_by_rule
from sim.engine import PortfolioModel


def mask_action_by_action(obs, settlement_cap) -> np.ndarray:
    """The mask as the guard would judge each action if every account chose it."""
    open_accounts = obs.active & ~obs.placed_with_agency
    mask = np.zeros((obs.n_accounts, N_ACTIONS), dtype=bool)
    for action in range(N_ACTIONS):
        chosen = np.full(obs.n_accounts, action, dtype=np.int64)
        blocked = np.logical_or.reduce(list(blocked_by_rule(chosen, obs, settlement_cap).values()))
        mask[:, action] = open_accounts & ~blocked
    mask[:, NO_ACTION] = True
    return mask


def test_mask_matches_the_rules_on_a_busy_portfolio(default_scenario):
    # The random policy grants holds, makes calls and offers settlements, so every rule binds on some account.
    model = PortfolioModel(default_scenario, policies.load("random"), n_accounts=3_000, days=120, seed=4)
    cap = model.behaviour.settlement.cap
    seen_blocked = np.zeros(N_ACTIONS, dtype=bool)
    seen_flags = dict.fromkeys(("on_hold", "disputed", "stop_contact"), False)
    while model.day < model.days:
        if model.day % 10 == 9:
            obs = model.observe(model.day)
            expected = mask_action_by_action(obs, cap)
            np.testing.assert_array_equal(allowed_actions(obs, cap), expected)
            seen_blocked |= (~expected & (obs.active & ~obs.placed_with_agency)[:, None]).any(axis=0)
            for flag in seen_flags:
                seen_flags[flag] |= bool(getattr(obs, flag).any())
        model.step()
    # Every action but the no-action and the hold is blocked for some open account at some point.
    assert seen_blocked.sum() >= N_ACTIONS - 2
    for flag, seen in seen_flags.items():
        assert seen, flag
