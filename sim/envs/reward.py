"""Rewards of the account environments: what one simulated day did to each account, and the default reward on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sim.scenario import Economics


@dataclass(frozen=True)
class DayOutcome:
    """Money that moved on each account during one simulated day, undiscounted, in the scenario's currency.

    Arrays hold one entry per account of the environment (one for :class:`~sim.envs.AccountEnv`, ``num_envs`` for
    the vector form).
    """

    day: int  # the day just simulated
    start_day: np.ndarray  # the day each account's episode began
    collected: np.ndarray  # payments received, whether to the lender, through a settlement or through an agency
    sale_proceeds: np.ndarray  # paid by a debt buyer for accounts sold today
    contact_cost: np.ndarray  # messages, letters, offers and agent time spent today
    commission: np.ndarray  # agency commission on today's payments through an agency
    clv_lost: np.ndarray  # customer lifetime value of customers who closed their account today
    status: np.ndarray  # status code at the end of the day (sim.engine.STATUS_NAMES)
    economics: Economics  # the scenario's objective weights and cost of capital


class RewardFunction(Protocol):
    """Map a day's outcome to one reward per account (float array of the outcome's length)."""

    def __call__(self, outcome: DayOutcome) -> np.ndarray: ...


class NetCashReward:
    """Net cash of the day discounted to the start of the episode, less the customer value lost.

    ``reward = recovery_weight × (collected + sale_proceeds) × d − cost_weight × (contact_cost + commission) × d
    − clv_weight × clv_lost``, where ``d = (1 + cost_of_capital) ** (−(day − start_day) / 365)``.

    A weight left as None takes the scenario's ``economics`` value. With those weights, the undiscounted return
    (``gamma = 1``) of an episode that starts on day 0 is the account's share of the run's ``objective`` metric,
    which counts CLV lost undiscounted as well. Any ``gamma < 1`` discounts once more on top of ``d``.
    """

    def __init__(
        self,
        recovery_weight: float | None = None,
        cost_weight: float | None = None,
        clv_weight: float | None = None,
    ) -> None:
        for name, weight in (
            ("recovery_weight", recovery_weight),
            ("cost_weight", cost_weight),
            ("clv_weight", clv_weight),
        ):
            is_number = isinstance(weight, int | float | np.integer | np.floating) and not isinstance(weight, bool)
            if weight is not None and not (is_number and np.isfinite(weight) and weight >= 0.0):
                raise ValueError(f"{name} must be a finite number of at least 0 or None, got {weight!r}")
        self.recovery_weight = recovery_weight
        self.cost_weight = cost_weight
        self.clv_weight = clv_weight

    def __call__(self, outcome: DayOutcome) -> np.ndarray:
        economics = outcome.economics
        recovery_weight = economics.recovery_weight if self.recovery_weight is None else self.recovery_weight
        cost_weight = economics.cost_weight if self.cost_weight is None else self.cost_weight
        clv_weight = economics.clv_weight if self.clv_weight is None else self.clv_weight
        discount = (1.0 + economics.cost_of_capital) ** (-(outcome.day - outcome.start_day) / 365.0)
        cash = recovery_weight * (outcome.collected + outcome.sale_proceeds)
        cost = cost_weight * (outcome.contact_cost + outcome.commission)
        return (cash - cost) * discount - clv_weight * outcome.clv_lost

    def __repr__(self) -> str:
        return (
            f"NetCashReward(recovery_weight={self.recovery_weight}, cost_weight={self.cost_weight}, "
            f"clv_weight={self.clv_weight})"
        )


def reward_or_default(reward: RewardFunction | None) -> RewardFunction:
    """Return ``reward``, or :class:`NetCashReward` with the scenario's weights for None.

    Raise ``TypeError`` when ``reward`` cannot be called, so that the mistake shows when the environment is built
    rather than at its first step.
    """
    if reward is None:
        return NetCashReward()
    if not callable(reward):
        raise TypeError(f"reward must be a callable from a DayOutcome to rewards, or None, got {reward!r}")
    return reward
