"""Same seed, same numbers to the last bit; another seed, other numbers; draws do not depend on batch layout."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim import simulate
from sim.rng import KeyedRandom, Purpose


def test_same_seed_identical_metrics(default_scenario):
    first = simulate(default_scenario, "standard", n_accounts=2_000, days=90, seed=11)
    second = simulate(default_scenario, "standard", n_accounts=2_000, days=90, seed=11)
    pd.testing.assert_frame_equal(first.metrics, second.metrics, check_exact=True)
    pd.testing.assert_frame_equal(first.daily, second.daily, check_exact=True)


def test_different_seeds_differ(default_scenario):
    first = simulate(default_scenario, "standard", n_accounts=2_000, days=90, seed=11)
    second = simulate(default_scenario, "standard", n_accounts=2_000, days=90, seed=12)
    assert first.metrics.at[0, "collected"] != second.metrics.at[0, "collected"]
    assert first.metrics.at[0, "opening_balance"] != second.metrics.at[0, "opening_balance"]


def test_policies_share_the_portfolio(default_scenario):
    """Common random numbers: on one seed every policy starts from the same accounts."""
    quiet = simulate(default_scenario, "do_nothing", n_accounts=1_000, days=5, seed=4)
    busy = simulate(default_scenario, "standard", n_accounts=1_000, days=5, seed=4)
    np.testing.assert_array_equal(quiet.ledger["opening_balance"], busy.ledger["opening_balance"])
    np.testing.assert_array_equal(quiet.accounts["debtor_type"], busy.accounts["debtor_type"])


def test_keyed_draws_ignore_batch_layout():
    everyone = KeyedRandom(5, np.arange(10_000)).uniform(17, Purpose.WILL_PAY)
    some = KeyedRandom(5, np.arange(4_000, 6_000)).uniform(17, Purpose.WILL_PAY)
    np.testing.assert_array_equal(everyone[4_000:6_000], some)
    picked = KeyedRandom(5, np.arange(10_000)).uniform(17, Purpose.WILL_PAY, index=np.array([9_999, 3]))
    np.testing.assert_array_equal(picked, everyone[[9_999, 3]])


def test_keyed_draws_are_uniform_and_independent():
    rng = KeyedRandom(0, np.arange(200_000))
    u = rng.uniform(3, Purpose.RESPONSE)
    assert u.min() >= 0.0
    assert u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.003
    assert abs(u.var() - 1 / 12) < 0.001
    other_purpose = rng.uniform(3, Purpose.REACH)
    other_day = rng.uniform(4, Purpose.RESPONSE)
    assert abs(np.corrcoef(u, other_purpose)[0, 1]) < 0.01
    assert abs(np.corrcoef(u, other_day)[0, 1]) < 0.01
