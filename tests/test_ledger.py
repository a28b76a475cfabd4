"""The ledger identity is exact to the cent for every account under every shipped policy."""

from __future__ import annotations

import numpy as np
import pytest

import policies
from sim import simulate


@pytest.mark.parametrize("policy_name", policies.shipped_policies())
def test_ledger_identity_per_account(default_scenario, policy_name):
    result = simulate(default_scenario, policy_name, n_accounts=3_000, days=200, seed=7)
    cents = result.model.ledger_cents()
    left = cents["opening_balance"] + cents["interest"] + cents["fees"]
    right = cents["paid"] + cents["discounts"] + cents["written_off"] + cents["sold"] + cents["outstanding"]
    mismatched = np.flatnonzero(left != right)
    assert mismatched.size == 0, f"{mismatched.size} accounts break the identity, first: {mismatched[:5]}"
    # The run must exercise every term, or the identity proves little.
    assert cents["interest"].sum() > 0
    assert cents["fees"].sum() > 0
    assert cents["paid"].sum() > 0
    assert cents["written_off"].sum() > 0
    assert (cents["outstanding"] >= 0).all()


def test_ledger_frame_matches_cents(default_scenario):
    result = simulate(default_scenario, "standard", n_accounts=500, days=60, seed=3)
    cents = result.model.ledger_cents()
    for column in ("opening_balance", "paid", "outstanding"):
        np.testing.assert_array_equal(np.rint(result.ledger[column].to_numpy() * 100).astype(np.int64), cents[column])
    assert result.metrics.at[0, "collected"] == pytest.approx(cents["paid"].sum() / 100)
