"""Products other than the revolving card: instalment loans and B2B invoices."""

from __future__ import annotations

import numpy as np

from sim import Scenario, simulate
from sim.engine import PortfolioModel


def test_invoice_dpd_counts_from_due_date():
    import policies

    model = PortfolioModel(
        Scenario.load("b2b_invoices"), policies.load("do_nothing"), n_accounts=2_000, days=200, seed=3
    )
    model.run()
    accounts = model.accounts_frame()
    # Unpaid invoices age past 30 DPD without wrapping at each 30-day cycle, and are written off at 180.
    assert model.daily_frame()["accounts_150_179"].max() > 0
    assert (accounts.loc[accounts["status"] == "active", "dpd"] < 180).all()
    assert (accounts["status"] == "charged_off").sum() > 0
    # Invoices are paid in full or not at all.
    paid = model.paid[model.status == 1]
    assert (paid == model.opening_balance[model.status == 1]).all()


def test_reminders_cut_days_sales_outstanding():
    quiet = simulate("b2b_invoices", "do_nothing", n_accounts=4_000, days=180, seed=4).metrics.iloc[0]
    reminded = simulate("b2b_invoices", "standard", n_accounts=4_000, days=180, seed=4).metrics.iloc[0]
    assert reminded["days_sales_outstanding"] < quiet["days_sales_outstanding"] - 2
    assert 0 < reminded["days_sales_outstanding"] < 180


def test_instalment_loans_charge_off_at_120():
    result = simulate("instalment_loan", "do_nothing", n_accounts=5_000, days=180, seed=5)
    daily = result.daily
    assert daily["accounts_charged_off"].iloc[-1] > 0
    for column in ("accounts_120_149", "accounts_150_179", "accounts_180_plus"):
        assert daily[column].max() == 0, column
    cents = result.model.ledger_cents()
    left = cents["opening_balance"] + cents["interest"] + cents["fees"]
    right = cents["paid"] + cents["discounts"] + cents["written_off"] + cents["sold"] + cents["outstanding"]
    np.testing.assert_array_equal(left, right)
