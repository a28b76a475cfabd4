"""Under the do-nothing policy, simulated month-to-month transitions reproduce the fitted monthly matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim import simulate
from sim.scenario import MAX_CYCLES_PAST_DUE, TRANSITION_COLUMNS

MIN_ROW_COUNT = 1_500


def test_do_nothing_reproduces_fitted_transitions(default_scenario, record_property):
    # Spread the portfolio over every state so that each row is measured on enough transitions.
    states = range(MAX_CYCLES_PAST_DUE + 1)
    portfolio = default_scenario.portfolio.model_copy(
        update={"initial_cycles_past_due": {s: 1 / len(states) for s in states}}
    )
    scenario = default_scenario.model_copy(update={"portfolio": portfolio})
    result = simulate(scenario, "do_nothing", n_accounts=30_000, days=240, seed=2024)

    counts = result.transitions.to_numpy(dtype=float)
    row_totals = counts.sum(axis=1)
    simulated = counts / row_totals[:, None]
    fitted = np.array([scenario.transitions.monthly[s] for s in states])
    difference = pd.DataFrame(np.abs(simulated - fitted), columns=TRANSITION_COLUMNS)
    difference.index.name = "from_state"

    report = difference.round(4).to_string()
    print(f"\nLargest absolute difference per cell (simulated - fitted):\n{report}\nrows: {row_totals.astype(int)}")
    record_property("largest_difference", float(difference.to_numpy().max()))

    assert (row_totals >= MIN_ROW_COUNT).all(), f"too few transitions per row: {row_totals}"
    # Allow four binomial standard errors, and at least 0.02, per cell.
    standard_error = np.sqrt(fitted * (1 - fitted) / row_totals[:, None])
    tolerance = np.maximum(0.02, 4 * standard_error)
    outside = difference.to_numpy() > tolerance
    assert not outside.any(), f"cells outside tolerance:\n{report}"
    # Moves the model forbids never happen: no roll by more than one state.
    for s in states:
        assert counts[s, s + 2 : MAX_CYCLES_PAST_DUE + 1].sum() == 0
