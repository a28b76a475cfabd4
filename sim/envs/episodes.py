"""The accounts of one portfolio model, each on its own episode: the shared core of the single and vector envs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.behaviour import Behaviour
from sim.engine import ACTIVE, CENTS, PortfolioModel
from sim.envs.reward import DayOutcome, RewardFunction
from sim.features import feature_matrix
from sim.observation import Observation
from sim.scenario import Scenario

#: Up to this many accounts, a renewal recomputes the features and mask of every account (if computed already),
#: above only those of the renewed accounts. With one account in seventy renewed, all rows took 48 µs and the renewed
#: rows 55 µs at 64 accounts, both about 57 µs at 128, and 73 µs against 57 µs at 256 (one measurement each).
RECOMPUTE_ALL_MAX_ACCOUNTS = 128


class AgentActions:
    """The policy slot of a model whose actions come from an environment's ``step``, not from a policy."""

    name = "agent"
    description = "Actions chosen by the agent of a Gymnasium environment."

    def decide(self, obs: Observation) -> np.ndarray:
        raise RuntimeError(
            "this model takes its actions from the environment's step(); call begin_day() and finish_day(actions)"
        )


@dataclass(frozen=True)
class _Totals:
    """Running per-account totals, read before and after a day to find what the day added."""

    paid_cents: np.ndarray
    sale_proceeds: np.ndarray
    contact_cost: np.ndarray
    commission: np.ndarray
    attrited: np.ndarray
    blocked: np.ndarray
    unplaced: np.ndarray

    @classmethod
    def of(cls, model: PortfolioModel, copy: bool = True) -> _Totals:
        """Read the model's totals. With ``copy=False`` most fields are the model's own arrays, valid until the
        model changes them."""

        def read(values: np.ndarray) -> np.ndarray:
            return values.copy() if copy else values

        return cls(
            paid_cents=read(model.paid),
            sale_proceeds=read(model.sale_proceeds),
            contact_cost=read(model.contact_cost),
            commission=read(model.commission),
            attrited=read(model.attrited),
            blocked=model.blocked_by_account.sum(axis=0),
            unplaced=read(model.unplaced_by_account),
        )


@dataclass(frozen=True)
class DayResult:
    """Per-account results of one simulated day, from :meth:`AccountEpisodes.advance`."""

    rewards: np.ndarray  # float64
    terminated: np.ndarray  # the account left the book: paid off, settled, charged off or sold
    truncated: np.ndarray  # still on the book after `horizon` days of its episode
    blocked: np.ndarray  # the compliance guard blocked the account's action today
    call_unplaced: np.ndarray  # the account's call stayed in the queue when the shift ended


class AccountEpisodes:
    """A :class:`PortfolioModel` whose accounts each run one episode that starts on the day the account joins.

    The model is always between :meth:`PortfolioModel.begin_day` and :meth:`PortfolioModel.finish_day`: the
    features and mask describe the 08:00 observation of ``model.day``, on which the next actions act.
    """

    def __init__(
        self,
        scenario: Scenario,
        behaviour: Behaviour,
        reward: RewardFunction,
        horizon: int,
        seed: int,
        account_ids: np.ndarray,
        days: int,
        record_daily: bool,
    ) -> None:
        self.model = PortfolioModel(
            scenario,
            AgentActions(),
            n_accounts=len(account_ids),
            days=days,
            seed=seed,
            behaviour=behaviour,
            account_ids=account_ids,
            record_daily=record_daily,
        )
        self.reward = reward
        self.horizon = horizon
        self.start_day = np.zeros(self.model.n, dtype=np.int64)
        #: Accounts whose episode the last simulated day ended by leaving the book, and by reaching the horizon. Set by
        #: advance() before the reward function runs, so that they are known when it raises.
        self.day_terminated = np.zeros(self.model.n, dtype=bool)
        self.day_truncated = np.zeros(self.model.n, dtype=bool)
        self.model.open_day()
        self._features: np.ndarray | None = None
        self._mask: np.ndarray | None = None

    @property
    def day(self) -> int:
        """The day whose 08:00 observation the accounts are at."""
        return self.model.day

    @property
    def day_ended(self) -> np.ndarray:
        """Accounts whose episode the last simulated day ended, terminated or truncated."""
        return self.day_terminated | self.day_truncated

    @property
    def account_ids(self) -> np.ndarray:
        return self.model.account_ids.copy()

    @property
    def status(self) -> np.ndarray:
        return self.model.status.copy()

    def features(self) -> np.ndarray:
        """Feature vectors of the current observation, shape (n, len(FEATURES)), float32; a fresh array."""
        if self._features is None:
            self._features = feature_matrix(self.model.observation)
        return self._features.copy()

    def action_mask(self) -> np.ndarray:
        """Actions the compliance guard allows on each account today, shape (n, N_ACTIONS); a fresh array."""
        if self._mask is None:
            self._mask = self.model.action_mask(self.model.observation)
        return self._mask.copy()

    def advance(self, actions: np.ndarray) -> DayResult:
        """Simulate today with ``actions``, begin tomorrow, and return each account's reward and episode end."""
        model = self.model
        day = model.day
        before = _Totals.of(model)
        model.finish_day(actions)
        # Read now, because open_day below changes the model again.
        after = _Totals.of(model, copy=False)

        outcome = DayOutcome(
            day=day,
            start_day=self.start_day.copy(),
            collected=(after.paid_cents - before.paid_cents) / CENTS,
            sale_proceeds=after.sale_proceeds - before.sale_proceeds,
            contact_cost=after.contact_cost - before.contact_cost,
            commission=after.commission - before.commission,
            clv_lost=np.where(after.attrited & ~before.attrited, model.clv, 0.0),
            status=model.status.copy(),
            economics=model.scenario.economics,
        )
        terminated = model.status != ACTIVE
        truncated = ~terminated & (model.day - self.start_day >= self.horizon)
        self.day_terminated, self.day_truncated = terminated.copy(), truncated.copy()
        blocked = after.blocked > before.blocked
        call_unplaced = after.unplaced > before.unplaced

        model.open_day()
        self._features = self._mask = None
        # The reward function runs and is checked once the next day is open, so that a caller who catches an error
        # it raises, or the error of a bad reward below, can go on stepping.
        returned = np.asarray(self.reward(outcome))
        # numpy would drop the imaginary part with only a warning, and turn the text "1" into 1.0.
        if returned.dtype.kind == "c":
            raise ValueError("the reward function returned complex numbers; every reward must be a real number")
        if returned.dtype.kind not in "biuf":
            raise ValueError(
                f"the reward function returned values of type {returned.dtype}; every reward must be a real number"
            )
        rewards = returned.astype(np.float64, copy=False)
        if rewards.shape != (model.n,):
            raise ValueError(f"the reward function returned shape {rewards.shape}, expected ({model.n},)")
        if not np.isfinite(rewards).all():
            raise ValueError(
                f"the reward function returned {rewards[~np.isfinite(rewards)][0]} for an account; every reward "
                "must be finite"
            )
        return DayResult(
            rewards=rewards,
            terminated=terminated,
            truncated=truncated,
            blocked=blocked,
            call_unplaced=call_unplaced,
        )

    def renew(self, idx: np.ndarray, account_ids: np.ndarray) -> None:
        """Replace the accounts at ``idx`` with new accounts whose episodes start today."""
        model = self.model
        model.renew_accounts(idx, account_ids)
        self.start_day[idx] = model.day
        self.day_terminated[idx] = self.day_truncated[idx] = False
        # Features and masks already computed today change only in the renewed rows. Both are private arrays, because
        # features() and action_mask() hand out copies.
        if self._features is None and self._mask is None:
            return
        if model.n <= RECOMPUTE_ALL_MAX_ACCOUNTS:
            # For few accounts the cost is per numpy call, and computing every row again takes fewer calls than
            # picking the renewed rows out of the observation first. Both give the same values.
            self._features = self._mask = None
        else:
            joined = model.observation.take(idx)
            if self._features is not None:
                self._features[idx] = feature_matrix(joined)
            if self._mask is not None:
                self._mask[idx] = model.action_mask(joined)
