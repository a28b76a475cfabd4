"""A model pickled or deep-copied mid-run continues exactly as the original does."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pandas as pd

import policies
from sim.engine import PortfolioModel


def run_days(model: PortfolioModel, days: int) -> None:
    for _ in range(days):
        model.step()


def assert_same_run(left: PortfolioModel, right: PortfolioModel) -> None:
    pd.testing.assert_frame_equal(left.daily_frame(), right.daily_frame(), check_exact=True)
    for column, values in left.ledger_cents().items():
        np.testing.assert_array_equal(values, right.ledger_cents()[column], err_msg=column)
    np.testing.assert_array_equal(left.transition_counts, right.transition_counts)


def test_pickle_round_trip_mid_run(default_scenario):
    original = PortfolioModel(default_scenario, policies.load("letters_only"), n_accounts=2_000, days=120, seed=9)
    run_days(original, 61)
    # Letters posted in the last days are still in the post: the copy must deliver them too.
    assert original._in_post, "expected letters in the post at the pickling point"
    restored = pickle.loads(pickle.dumps(original))
    original.run()
    restored.run()
    assert_same_run(original, restored)


def test_deepcopy_mid_run(default_scenario):
    original = PortfolioModel(default_scenario, policies.load("standard"), n_accounts=1_000, days=90, seed=4)
    run_days(original, 36)
    twin = copy.deepcopy(original)
    original.run()
    twin.run()
    assert_same_run(original, twin)


def test_stepping_equals_running(default_scenario):
    stepped = PortfolioModel(default_scenario, policies.load("digital_first"), n_accounts=800, days=50, seed=2)
    run_days(stepped, 50)
    whole = PortfolioModel(default_scenario, policies.load("digital_first"), n_accounts=800, days=50, seed=2).run()
    assert_same_run(stepped, whole)
