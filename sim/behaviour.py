"""Response curves: how debtors respond to contacts, offers and pressure, one small swappable component each.

Every component maps arrays of account attributes to arrays of probabilities. Its parameters, with units, live in a
pydantic model of :mod:`sim.scenario`. To try another curve, subclass the component and pass it to
:class:`sim.engine.PortfolioModel` through ``behaviour=Behaviour(...)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.scenario import CHANNELS, DEBTOR_TYPES, FRAMINGS, Scenario

AGENCY_COLUMN = len(CHANNELS)


def clip_probability(p: np.ndarray) -> np.ndarray:
    """Return ``p`` clipped to [0, 1], as np.clip does, with less overhead per call (it dominates for few accounts)."""
    return np.minimum(np.maximum(p, 0.0), 1.0)


def _type_table(rows: dict[str, dict[str, float]], columns: tuple[str, ...]) -> np.ndarray:
    table = np.zeros((len(DEBTOR_TYPES), len(columns)))
    for t, debtor_type in enumerate(DEBTOR_TYPES):
        for c, column in enumerate(columns):
            table[t, c] = rows.get(debtor_type, {}).get(column, 0.0)
    return table


class NudgeResponse:
    """Chance that a contact which reached the debtor prompts a payment that day.

    ``p = base[type, channel] × framing multiplier × repeat_decay ** (earlier contacts reached in the last 7 days)``,
    so the effect is zero for types with a zero base (hardship, unreachable), grows with a stronger framing and
    saturates with repeats (Karlan et al., Mgmt Sci 2016).
    """

    def __init__(self, scenario: Scenario) -> None:
        response = scenario.response
        self.base = _type_table(response.by_type, (*CHANNELS, "agency"))
        self.framing_multiplier = np.array([response.framing_multiplier.get(f, 1.0) for f in FRAMINGS])
        self.repeat_decay = response.repeat_decay

    def probability(
        self, debtor_type: np.ndarray, channel: int, framing: np.ndarray, earlier_reached: np.ndarray
    ) -> np.ndarray:
        p = self.base[debtor_type, channel] * self.framing_multiplier[framing] * self.repeat_decay**earlier_reached
        return clip_probability(p)

    def agency_probability(self, debtor_type: np.ndarray) -> np.ndarray:
        """Chance per cycle that a placed account pays the agency."""
        return self.base[debtor_type, AGENCY_COLUMN]


class ContactFatigue:
    """Complaints and attrition driven by contact pressure (contacts that reached the debtor recently).

    A complaint on a day with contact: ``complaint_per_contact × contacts today × (1 + fatigue_slope × contacts in
    the previous 7 days)``. Attrition on cure: ``attrition_on_cure + attrition_per_contact × contacts in the last 30
    days`` (Experian 2018: ~3% at 30 DPD; CFPB 2017 survey: pressure raises both; the slopes are assumptions).
    """

    def __init__(self, scenario: Scenario) -> None:
        self.customer = scenario.customer

    def complaint_probability(self, contacts_today: np.ndarray, contacts_before: np.ndarray) -> np.ndarray:
        c = self.customer
        p = c.complaint_per_contact * contacts_today * (1.0 + c.fatigue_slope * contacts_before)
        return clip_probability(p)

    def attrition_probability(self, contacts_last_30_days: np.ndarray) -> np.ndarray:
        c = self.customer
        return clip_probability(c.attrition_on_cure + c.attrition_per_contact * contacts_last_30_days)


class PromiseToPay:
    """Promises made in a conversation and whether they are kept.

    A debtor who has not paid this cycle promises with ``promise[type]``; a promise is kept with ``keep[type] × β``,
    where β is the debtor's present bias (quasi-hyperbolic, Shui & Ausubel 2005: β ≈ 0.8, range 0.7–1.0), so
    present-biased debtors break more promises. A pledge framing raises keeping by ``pledge_keep_multiplier``
    (Mazar, Mochon & Ariely: choosing a date, +2.3 to +2.5 pp).
    """

    def __init__(self, scenario: Scenario) -> None:
        self.config = scenario.promises
        self.promise = np.array([self.config.promise_probability.get(t, 0.0) for t in DEBTOR_TYPES])
        self.keep = np.array([self.config.keep_probability.get(t, 0.0) for t in DEBTOR_TYPES])

    def promise_probability(self, debtor_type: np.ndarray) -> np.ndarray:
        return self.promise[debtor_type]

    def keep_probability(self, debtor_type: np.ndarray, present_bias: np.ndarray, pledge: np.ndarray) -> np.ndarray:
        p = self.keep[debtor_type] * present_bias * np.where(pledge, self.config.pledge_keep_multiplier, 1.0)
        return clip_probability(p)


class SettlementAcceptance:
    """Chance that a debtor accepts a settlement offer (pay ``1 − discount`` of the balance now, the rest forgiven).

    Logistic in the discount and in DPD, scaled by the type's ceiling and by present bias:
    ``ceiling[type] × β / (1 + exp(−(intercept + per_discount × discount + per_30_dpd × dpd / 30)))``.
    Acceptance rises with the discount and with DPD (AEA RCT #13871; Dobbie 2020: settled write-downs average ~33%).
    """

    def __init__(self, scenario: Scenario) -> None:
        self.config = scenario.settlements
        self.ceiling = np.array([self.config.acceptance_ceiling.get(t, 0.0) for t in DEBTOR_TYPES])
        # The cap is constant between consecutive band edges, so whole-number DPDs look it up. _cap_by_interval[i]
        # is the cap of DPDs from _cap_edges[i - 1] up to, but excluding, _cap_edges[i].
        edges = sorted({edge for band in self.config.discount_caps for edge in (band.dpd[0], band.dpd[1] + 1)})
        self._cap_edges = np.array(edges, dtype=np.int64)
        self._cap_by_interval = self._cap_by_band(np.array([-1, *edges], dtype=np.int64))

    def probability(
        self, discount: np.ndarray, dpd: np.ndarray, debtor_type: np.ndarray, present_bias: np.ndarray
    ) -> np.ndarray:
        c = self.config
        logit = c.intercept + c.per_discount * discount + c.per_30_dpd * dpd / 30.0
        return clip_probability(self.ceiling[debtor_type] * present_bias / (1.0 + np.exp(-logit)))

    def cap(self, dpd: np.ndarray) -> np.ndarray:
        """Largest discount allowed at each DPD: 0 before the first band (settlements start late)."""
        dpd = np.asarray(dpd)
        if dpd.dtype.kind in "iu":
            return self._cap_by_interval[np.searchsorted(self._cap_edges, dpd, side="right")]
        return self._cap_by_band(dpd)

    def _cap_by_band(self, dpd: np.ndarray) -> np.ndarray:
        """Evaluate the discount caps band by band; a later band overrides an earlier one where they overlap."""
        caps = np.zeros(len(dpd))
        for band in self.config.discount_caps:
            caps = np.where((dpd >= band.dpd[0]) & (dpd <= band.dpd[1]), band.max_discount, caps)
        return caps


class PlanAcceptance:
    """Chance that a debtor accepts a payment plan of ``n`` monthly instalments, and keeps each instalment.

    Acceptance: ``ceiling[type] × n / (n + half) × (1 + pull × (1 − β))``, rising with the number of instalments
    (smaller payments) and with present bias (deferring appeals to the present-biased). Keeping an instalment:
    ``keep[type] × β``. All parameters are assumptions; no public source gives them.
    """

    def __init__(self, scenario: Scenario) -> None:
        self.config = scenario.plans
        self.ceiling = np.array([self.config.acceptance_ceiling.get(t, 0.0) for t in DEBTOR_TYPES])
        self.keep = np.array([self.config.keep_probability.get(t, 0.0) for t in DEBTOR_TYPES])

    def acceptance(self, instalments: np.ndarray, debtor_type: np.ndarray, present_bias: np.ndarray) -> np.ndarray:
        c = self.config
        share = instalments / (instalments + c.half_acceptance_instalments)
        pull = 1.0 + c.present_bias_pull * (1.0 - present_bias)
        return clip_probability(self.ceiling[debtor_type] * share * pull)

    def keep_probability(self, debtor_type: np.ndarray, present_bias: np.ndarray) -> np.ndarray:
        return clip_probability(self.keep[debtor_type] * present_bias)


class PaydayAbility:
    """Income timing: debtors short of cash pay on or just after a payday.

    An untreated payment drawn for day ``d`` of a cycle moves to the first payday on or after ``d`` if that payday is
    still in the cycle, else to the last payday before ``d`` in the cycle, so the cycle's payment probability (the
    calibrated transition) is unchanged. A reminder reaches such a debtor's wallet only within ``window_days`` after
    a payday.
    """

    def __init__(self, scenario: Scenario) -> None:
        self.config = scenario.income
        self.affected = np.array([t in self.config.payday_bound_types for t in DEBTOR_TYPES])

    def has_money(self, day: int, payday_phase: np.ndarray, pay_period: np.ndarray) -> np.ndarray:
        days_since_payday = (day - payday_phase) % pay_period
        return days_since_payday < self.config.window_days

    def align_to_payday(
        self, pay_day: np.ndarray, cycle_start: np.ndarray, cycle_days: int, phase: np.ndarray, period: np.ndarray
    ) -> np.ndarray:
        after = pay_day + (phase - pay_day) % period
        before = after - period
        last_day = cycle_start + cycle_days - 1
        moved = np.where(after <= last_day, after, before)
        return np.where(moved >= cycle_start, moved, pay_day)


@dataclass
class Behaviour:
    """The response components a model uses; swap any one to test another curve."""

    nudge: NudgeResponse
    fatigue: ContactFatigue
    promises: PromiseToPay
    settlement: SettlementAcceptance
    plans: PlanAcceptance
    payday: PaydayAbility

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> Behaviour:
        return cls(
            nudge=NudgeResponse(scenario),
            fatigue=ContactFatigue(scenario),
            promises=PromiseToPay(scenario),
            settlement=SettlementAcceptance(scenario),
            plans=PlanAcceptance(scenario),
            payday=PaydayAbility(scenario),
        )
