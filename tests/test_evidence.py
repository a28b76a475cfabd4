"""Scenario tests: the model reproduces the direction and rough size of the field evidence it is built on."""

from __future__ import annotations

import numpy as np
import pytest

from policies import Waterfall
from policies.waterfall import shipped_waterfalls
from sim import simulate
from sim.catalogue import contact_action
from sim.engine import Observation


class OnDays:
    """Send one action to every active account on the given days of the run."""

    def __init__(self, name: str, action: int, days: tuple[int, ...]) -> None:
        self.name, self.action, self.days = name, action, days

    def decide(self, obs: Observation) -> np.ndarray:
        actions = np.zeros(obs.n_accounts, dtype=np.int64)
        if obs.day in self.days:
            actions[obs.active] = self.action
        return actions


def early_portfolio(scenario, state: int = 1):
    """The scenario with every account ``state`` cycles behind on day 0."""
    portfolio = scenario.portfolio.model_copy(update={"initial_cycles_past_due": {state: 1.0}})
    return scenario.model_copy(update={"portfolio": portfolio})


def paid_share_by_type(result, days: int) -> dict[str, float]:
    """Share of accounts of each latent type that paid anything in the first ``days`` days."""
    payments = result.payments
    payers = set(payments.loc[payments["day"] < days, "account"])
    accounts = result.accounts
    paid = accounts["account"].isin(payers)
    return paid.groupby(accounts["debtor_type"], observed=True).mean().to_dict()


def test_social_norm_letter_moves_forgetful_not_hardship(default_scenario):
    scenario = early_portfolio(default_scenario)
    letter = contact_action("letter", "social_norm")
    kwargs = dict(n_accounts=20_000, days=21, seed=5, trace=True)
    control = paid_share_by_type(simulate(scenario, OnDays("none", 0, ()), **kwargs), days=21)
    treated = paid_share_by_type(simulate(scenario, OnDays("letter", letter, (0,)), **kwargs), days=21)

    forgetful_uplift = treated["forgetful"] - control["forgetful"]
    print(f"uplift in the share paying within 21 days: forgetful {forgetful_uplift:+.4f}")
    # A few percentage points (Hallsworth et al. 2017: +1.3 to +5.1 pp).
    assert 0.01 <= forgetful_uplift <= 0.06
    # Common random numbers: debtors in hardship behave exactly as without the letter.
    assert treated["hardship"] == control["hardship"]
    assert treated["unreachable"] == control["unreachable"]


def test_second_reminder_in_a_week_adds_less(default_scenario):
    scenario = early_portfolio(default_scenario)
    sms = contact_action("sms")
    kwargs = dict(n_accounts=40_000, days=14, seed=6, trace=True)
    paid = {}
    for name, days in (("none", ()), ("one", (0,)), ("two", (0, 3))):
        result = simulate(scenario, OnDays(name, sms, days), **kwargs)
        paid[name] = result.payments["account"].nunique() / kwargs["n_accounts"]
    first, second = paid["one"] - paid["none"], paid["two"] - paid["one"]
    print(f"share paying within 14 days: first SMS {first:+.4f}, second SMS {second:+.4f}")
    assert first > 0.005
    assert 0 < second < 0.6 * first


def test_daily_calls_raise_complaints_and_attrition(default_scenario):
    centre = default_scenario.call_center.model_copy(update={"agents": 200})
    scenario = default_scenario.model_copy(update={"call_center": centre})

    def calls_every(days: int) -> Waterfall:
        stages = [{"dpd": [1, 179], "treatments": [{"channel": "call", "every": days}]}]
        return Waterfall.from_dict({"name": f"call_every_{days}", "stages": stages}, warn=False)

    kwargs = dict(n_accounts=10_000, days=120, seed=7)
    daily = simulate(scenario, calls_every(1), **kwargs).metrics.iloc[0]
    weekly = simulate(scenario, calls_every(7), **kwargs).metrics.iloc[0]
    print(
        f"complaints per 1000: daily {daily['complaints_per_1000']:.1f}, weekly {weekly['complaints_per_1000']:.1f}; "
        f"attrition: daily {daily['attrition_rate']:.4f}, weekly {weekly['attrition_rate']:.4f}"
    )
    assert daily["contacts_per_account"] > 2 * weekly["contacts_per_account"]
    assert daily["complaints_per_1000"] > 1.5 * weekly["complaints_per_1000"]
    assert daily["attrition_rate"] > weekly["attrition_rate"]


def test_untreated_portfolio_self_cures_early_buckets(default_scenario):
    result = simulate(early_portfolio(default_scenario), "do_nothing", n_accounts=10_000, days=90, seed=8)
    cured = result.accounts["cured"].mean()
    assert result.metrics.at[0, "contacts_per_account"] == 0
    # The fitted row for one cycle behind cures about 30% a month.
    assert 0.3 < cured < 0.9


@pytest.mark.parametrize("policy_name", shipped_waterfalls())
def test_recession_lowers_recovery(policy_name):
    kwargs = dict(n_accounts=5_000, days=150, seed=9)
    normal = simulate("default", policy_name, **kwargs).metrics.iloc[0]
    recession = simulate("recession", policy_name, **kwargs).metrics.iloc[0]
    assert recession["recovery_rate"] < normal["recovery_rate"] - 0.01
    assert recession["charge_off_rate"] >= normal["charge_off_rate"]


def test_portal_link_beats_plain_sms(default_scenario):
    from sim.catalogue import ACTION_BY_NAME

    scenario = early_portfolio(default_scenario)
    kwargs = dict(n_accounts=20_000, days=14, seed=10, trace=True)
    plain = simulate(scenario, OnDays("sms", contact_action("sms"), (0,)), **kwargs)
    portal = simulate(scenario, OnDays("portal", ACTION_BY_NAME["portal"], (0,)), **kwargs)
    assert portal.payments["account"].nunique() > plain.payments["account"].nunique()
    assert portal.metrics.at[0, "contact_cost"] == plain.metrics.at[0, "contact_cost"]
    assert portal.metrics.at[0, "self_service_share"] > 0
    assert plain.metrics.at[0, "self_service_share"] == 0
