"""``arrears/Account-v0`` as a Stable-Baselines3 ``VecEnv``, for PPO, MaskablePPO (sb3-contrib) and the like."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from sim.envs.reward import RewardFunction
from sim.envs.vector import AccountVectorEnv
from sim.scenario import Scenario

#: The keys of a reset's info for one account; a step's info adds blocked, call_unplaced and TimeLimit.truncated.
_RESET_KEYS = ("action_mask", "account_id", "day", "status")


class SB3AccountVecEnv(VecEnv):
    """``num_envs`` accounts of one portfolio (:class:`~sim.envs.AccountVectorEnv`) behind SB3's ``VecEnv`` API.

    SB3 resets a finished environment within the same step: the returned observation is the new account's first,
    ``infos[i]["terminal_observation"]`` contains the old account's last, and ``infos[i]["TimeLimit.truncated"]`` is
    True when the episode was truncated at the horizon rather than ended by the account leaving the book. Each
    ``infos[i]`` also contains the account's ``action_mask``, ``account_id``, ``day``, ``status``, ``blocked`` and
    ``call_unplaced``, as in the Gymnasium env. As in SB3's ``DummyVecEnv``, on the step that ends an episode
    ``infos[i]`` describes the account that ended (its final status, say) and ``reset_infos[i]`` the account that
    replaced it.

    ``env_method("action_masks")`` returns one mask per account, which is what sb3-contrib's
    ``get_action_masks`` stacks for MaskablePPO. Seeding: ``seed(s)`` followed by ``reset()`` builds portfolio seed
    ``s`` (SB3 hands out ``s + i`` per environment; the accounts share one portfolio, so the first is used).
    """

    def __init__(
        self,
        num_envs: int = 1,
        scenario: Scenario | str = "default",
        horizon: int = 180,
        reward: RewardFunction | None = None,
    ) -> None:
        self.venv = AccountVectorEnv(
            num_envs, scenario=scenario, horizon=horizon, reward=reward, autoreset_mode=AutoresetMode.SAME_STEP
        )
        self._actions: np.ndarray | None = None
        super().__init__(num_envs, self.venv.single_observation_space, self.venv.single_action_space)

    def reset(self) -> np.ndarray:
        seed = self._seeds[0]
        # Options from set_options() go to the vector env, which takes none and raises, so that they are not lost.
        options = next((options for options in self._options if options), None)
        obs, info = self.venv.reset(seed=seed, options=options)
        self.reset_infos = self._split_info(info)
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        actions = np.asarray(actions)
        # SB3 passes shape (num_envs,), some callers (num_envs, 1); any other size or layout is a caller's mistake.
        if actions.size != self.num_envs or sum(length > 1 for length in actions.shape) > 1:
            raise ValueError(
                f"expected {self.num_envs} actions, one per account (shape ({self.num_envs},)), "
                f"got an array of shape {actions.shape}"
            )
        # A cast would silently turn 22.9 into action 22, so non-integer actions are a caller's mistake too.
        if not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(f"expected integer actions (catalogue indices), got an array of {actions.dtype}")
        self._actions = actions.reshape(self.num_envs).astype(np.int64)

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("call step_async(actions) before step_wait()")
        # Taken before the step, so that actions of a step that raised are not stepped again by a later step_wait().
        actions, self._actions = self._actions, None
        obs, rewards, terminated, truncated, info = self.venv.step(actions)
        dones = terminated | truncated
        time_limit = truncated & ~terminated
        infos = self._split_info(info, time_limit=time_limit)
        ended = dones.nonzero()[0]
        if len(ended):
            # SB3's convention (DummyVecEnv): an ended account's row describes its last step, and the account that
            # replaced it goes to reset_infos, with the keys of a reset's info. Only the ended rows are built.
            final = info["final_info"]
            ended_info = {key: final[key][ended] for key in (*_RESET_KEYS, "blocked", "call_unplaced")}
            final_rows = self._split_info(ended_info, time_limit=time_limit[ended])
            for i, row in zip(ended.tolist(), final_rows, strict=True):
                self.reset_infos[i] = {key: infos[i][key] for key in _RESET_KEYS}
                row["terminal_observation"] = info["final_obs"][i]
                infos[i] = row
        return obs, rewards.astype(np.float32), dones, infos

    def action_masks(self) -> np.ndarray:
        """Allowed actions per account, shape (num_envs, 37)."""
        return self.venv.action_masks()

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """Return an attribute of the shared environment once per index (the accounts share one environment)."""
        value = getattr(self.venv, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute of the shared environment; it applies to every account, whatever ``indices``."""
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        """Call ``action_masks`` per account; any other method of the shared environment is called once.

        A method other than ``action_masks`` acts on the whole portfolio, so its one result is repeated per index.
        """
        positions = list(self._get_indices(indices))
        if method_name == "action_masks":
            masks = self.venv.action_masks()
            return [masks[i] for i in positions]
        result = getattr(self.venv, method_name)(*method_args, **method_kwargs)
        return [result for _ in positions]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        """No account is wrapped: the accounts are rows of one vector environment, not Gymnasium envs."""
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None for _ in range(self.num_envs)]

    def _split_info(self, info: dict[str, Any], time_limit: np.ndarray | None = None) -> list[dict[str, Any]]:
        """Turn the vector env's info (a dict of arrays) into SB3's list of per-account dicts.

        A reset's info has the first four entries. A step's also has ``blocked``, ``call_unplaced`` and, from
        ``time_limit``, ``TimeLimit.truncated``.
        """
        # Python scalars, and one row (array) of the action mask per account. Dict displays build the dicts about
        # twice as fast as dict(zip(keys, row)) for 64 accounts.
        columns = (
            list(info["action_mask"]),
            info["account_id"].tolist(),
            info["day"].tolist(),
            info["status"].tolist(),
        )
        if time_limit is None:
            return [
                {"action_mask": mask, "account_id": account_id, "day": day, "status": status}
                for mask, account_id, day, status in zip(*columns, strict=True)
            ]
        step_columns = (info["blocked"].tolist(), info["call_unplaced"].tolist(), time_limit.tolist())
        return [
            {
                "action_mask": mask,
                "account_id": account_id,
                "day": day,
                "status": status,
                "blocked": blocked,
                "call_unplaced": call_unplaced,
                "TimeLimit.truncated": truncated,
            }
            for mask, account_id, day, status, blocked, call_unplaced, truncated in zip(
                *columns, *step_columns, strict=True
            )
        ]
