"""The vector form of ``arrears/Account-v0``: accounts of one portfolio stepped together, sharing call capacity."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from sim.behaviour import Behaviour
from sim.catalogue import N_ACTIONS, NO_ACTION
from sim.engine import PortfolioModel
from sim.envs.account import (
    check_horizon,
    check_render_mode,
    check_reset_seed,
    load_scenario,
    next_account_ids,
    portfolio_seed_for_reset,
)
from sim.envs.episodes import AccountEpisodes
from sim.envs.reward import RewardFunction, reward_or_default
from sim.features import FEATURE_HIGH, FEATURE_LOW
from sim.scenario import Scenario

#: Day limit of the vector env's model: it runs until the environment is closed, far short of this.
_ENDLESS_DAYS = 2**31 - 1


class AccountVectorEnv(VectorEnv):
    """``num_envs`` accounts of one portfolio model, each an ``arrears/Account-v0`` episode, stepped in one pass.

    ## Description

    The accounts live in one :class:`sim.engine.PortfolioModel`, so a step is one simulated day of the whole
    portfolio in a few numpy passes, and the accounts share one call centre. When more calls are queued than the
    agents can dial in the shift, the calls with the smallest past-due amounts stay unplaced
    (``info["call_unplaced"]``), so one account's return depends on what the others' actions cost in agent time.
    Everything else (the spaces, the compliance guard, the reward, when an episode ends) is as in
    :class:`sim.envs.AccountEnv`.

    ## Action Space

    ``MultiDiscrete([37] * num_envs)``: one catalogue action per account; :meth:`action_masks` and
    ``info["action_mask"]`` (shape ``(num_envs, 37)``) give the allowed ones.

    ## Observation Space

    ``Box(FEATURE_LOW, FEATURE_HIGH, (num_envs, 25), float32)``: one row per account, the features of
    :class:`sim.envs.AccountEnv`.

    ## Rewards

    As :class:`sim.envs.AccountEnv`, per account; each account's discounting starts on its own first day.

    ## Starting State

    ``reset(seed=s)`` builds a new portfolio on day 0 with accounts ``0 .. num_envs - 1`` of seed ``s``, the same
    accounts as ``sim.simulate(scenario, ..., n_accounts=num_envs, seed=s)``. A ``reset()`` without a seed builds
    a new portfolio of the same seed's next ``num_envs`` unused accounts. An account that replaces a finished one
    gets the next unused account id and joins on the current day, so each episode is a different account.

    ## Episode End

    As :class:`sim.envs.AccountEnv`, per account; ``horizon`` counts the steps since each account joined. When the
    reward function raises, or returns a rejected reward, the day is simulated all the same. The next step then
    reports the episodes that day ended, with reward 0, and those accounts take no action on its day.

    With ``autoreset_mode=AutoresetMode.NEXT_STEP`` (the default), the step after an account's episode ends
    ignores that account's action, replaces the account and returns the new account's first observation with reward
    0 and neither terminated nor truncated. The old account stays in the book for that one day with no action.
    With ``AutoresetMode.SAME_STEP`` the account is replaced at once, and the step returns the new account's first
    observation, with the old account's last one in ``info["final_obs"]`` and its info in ``info["final_info"]``.

    ## Arguments

    - ``num_envs``: accounts stepped together (default 1).
    - ``scenario``, ``horizon``, ``reward``, ``render_mode``: as :class:`sim.envs.AccountEnv`.
    - ``autoreset_mode``: ``AutoresetMode.NEXT_STEP`` (default) or ``AutoresetMode.SAME_STEP``, or the name as text
      (``"SAME_STEP"``).

    ## Version History

    - v0: initial version.
    """

    def __init__(
        self,
        num_envs: int = 1,
        scenario: Scenario | str = "default",
        horizon: int = 180,
        reward: RewardFunction | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
    ) -> None:
        check_render_mode(render_mode)
        self.render_mode = None
        if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer) or num_envs < 1:
            raise ValueError(f"num_envs must be a whole number of at least 1, got {num_envs!r}")
        # Either the enum, its value ("NextStep") or its name ("NEXT_STEP"), as the docs write it.
        if isinstance(autoreset_mode, str) and autoreset_mode in AutoresetMode.__members__:
            autoreset_mode = AutoresetMode[autoreset_mode]
        try:
            mode = AutoresetMode(autoreset_mode)
        except ValueError:
            mode = None
        if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(
                "autoreset_mode must be AutoresetMode.NEXT_STEP or AutoresetMode.SAME_STEP, or the name or value as "
                f"text ('NEXT_STEP', 'NextStep', 'SAME_STEP', 'SameStep'), got {autoreset_mode!r}"
            )
        self.num_envs = int(num_envs)
        self.scenario = load_scenario(scenario)
        self._episodes: AccountEpisodes | None = None
        self.horizon = check_horizon(horizon)
        self.reward = reward_or_default(reward)
        self.metadata = {"autoreset_mode": mode, "render_modes": []}
        self.single_action_space = spaces.Discrete(N_ACTIONS)
        self.single_observation_space = spaces.Box(FEATURE_LOW, FEATURE_HIGH, dtype=np.float32)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._behaviour = Behaviour.from_scenario(self.scenario)
        self._portfolio_seed: int | None = None
        self._next_account_id = 0
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        # Episodes ended by a day whose step raised (in the reward function), reported by the next step.
        self._late_terminated = np.zeros(self.num_envs, dtype=bool)
        self._late_truncated = np.zeros(self.num_envs, dtype=bool)

    # The horizon and reward apply to the running episodes as soon as they are set (SB3's set_attr sets them), because
    # under autoreset the whole portfolio is reset only by reset(), which SB3 calls once at the start of learn().
    @property
    def horizon(self) -> int:
        """Steps after which an account's episode is truncated. An account past a lowered horizon ends at the next
        step."""
        return self._horizon

    @horizon.setter
    def horizon(self, value: int) -> None:
        self._horizon = check_horizon(value)
        if self._episodes is not None:
            self._episodes.horizon = self._horizon

    @property
    def reward(self) -> RewardFunction:
        """Reward function of every account, from the next step on."""
        return self._reward

    @reward.setter
    def reward(self, value: RewardFunction | None) -> None:
        self._reward = reward_or_default(value)
        if self._episodes is not None:
            self._episodes.reward = self._reward

    @property
    def model(self) -> PortfolioModel | None:
        """The portfolio model behind the accounts, for inspection; None before the first reset."""
        return None if self._episodes is None else self._episodes.model

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        # A bool is an int here, and check_reset_seed rejects it.
        if seed is not None and not isinstance(seed, int | np.integer):
            raise ValueError(
                f"seed must be one integer for the whole portfolio (its accounts share one model), got {seed!r}"
            )
        seed = check_reset_seed(seed)
        super().reset(seed=seed)
        if options:
            raise ValueError(f"unknown reset option {sorted(options)[0]!r}; the vector env takes no options")
        new_seed = portfolio_seed_for_reset(seed, self._portfolio_seed, self.np_random)
        if new_seed is not None:
            self._portfolio_seed, self._next_account_id = new_seed, 0

        self._episodes = AccountEpisodes(
            self.scenario,
            self._behaviour,
            self.reward,
            self.horizon,
            seed=self._portfolio_seed,
            account_ids=self._new_account_ids(self.num_envs),
            days=_ENDLESS_DAYS,
            record_daily=False,
        )
        self._autoreset[:] = False
        self._late_terminated[:] = self._late_truncated[:] = False
        return self._episodes.features(), self._info()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self._episodes is None:
            raise RuntimeError("call reset() before step()")
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(f"actions must be {self.num_envs} integers, got shape {actions.shape} of {actions.dtype}")
        if actions.min() < 0 or actions.max() >= N_ACTIONS:
            raise ValueError(f"every action must lie in 0..{N_ACTIONS - 1}, got {actions.min()}..{actions.max()}")
        episodes = self._episodes
        replacing = self._autoreset.copy()
        late = self._late_terminated | self._late_truncated
        day = episodes.day
        try:
            result = episodes.advance(np.where(replacing | late, NO_ACTION, actions).astype(np.int64))
        except Exception:
            if episodes.day == day:
                raise  # the day was not simulated
            # The day was simulated before the reward function raised, so the episodes it ended went unreported. The
            # next step reports them, with reward 0 and no action for those accounts on its day.
            unreported = ~replacing & ~late
            self._late_terminated |= episodes.day_terminated & unreported
            self._late_truncated |= episodes.day_truncated & unreported
            raise
        rewards, blocked, call_unplaced = result.rewards, result.blocked, result.call_unplaced
        terminated, truncated = result.terminated.copy(), result.truncated.copy()
        if late.any():
            rewards[late] = 0.0
            terminated[late], truncated[late] = self._late_terminated[late], self._late_truncated[late]
            self._late_terminated[:] = self._late_truncated[:] = False

        final_obs = final_info = None
        if self.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP:
            replacing = terminated | truncated
            if replacing.any():
                final_obs = episodes.features()
                final_info = self._info(blocked, call_unplaced)
        else:
            # The accounts that ended in the previous step stayed for one more day with no action. Only now are
            # they replaced, and what that day brought them belongs to no episode.
            rewards[replacing] = 0.0
            terminated[replacing] = truncated[replacing] = False
            self._autoreset = terminated | truncated

        idx = replacing.nonzero()[0]
        if len(idx):
            episodes.renew(idx, self._new_account_ids(len(idx)))
            blocked[idx] = call_unplaced[idx] = False
        info = self._info(blocked, call_unplaced)
        if final_obs is not None:
            info["final_obs"] = np.full(self.num_envs, None, dtype=object)
            for i in idx:
                info["final_obs"][i] = final_obs[i]
            info["_final_obs"] = replacing.copy()
            info["final_info"] = {
                **final_info,
                **{f"_{key}": replacing.copy() for key in final_info},
            }
            info["_final_info"] = replacing.copy()
        return episodes.features(), rewards, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        """Actions the compliance guard allows on each account today, shape (num_envs, 37), for MaskablePPO."""
        if self._episodes is None:
            raise RuntimeError("call reset() before action_masks()")
        return self._episodes.action_mask()

    def _new_account_ids(self, count: int) -> np.ndarray:
        ids = next_account_ids(self._next_account_id, count)
        self._next_account_id += count
        return ids

    def _info(self, blocked: np.ndarray | None = None, call_unplaced: np.ndarray | None = None) -> dict[str, Any]:
        episodes = self._episodes
        info: dict[str, Any] = {
            "action_mask": episodes.action_mask(),
            "account_id": episodes.account_ids,
            "day": np.full(self.num_envs, episodes.day, dtype=np.int64),
            "status": episodes.status.astype(np.int64),
        }
        if blocked is not None:
            info["blocked"] = blocked.copy()
            info["call_unplaced"] = call_unplaced.copy()
        return info
