"""Gymnasium environments of the portfolio model: ``arrears/Account-v0`` and its vector form.

Importing this package registers the environment id with Gymnasium, so either of these works without an import
statement of ours::

    gymnasium.make("sim.envs:arrears/Account-v0")
    gymnasium.make_vec("sim.envs:arrears/Account-v0", num_envs=64, vectorization_mode="vector_entry_point")

The Stable-Baselines3 adapter lives in :mod:`sim.envs.sb3`, which needs stable-baselines3.
"""

from __future__ import annotations

import gymnasium

from sim.envs.account import AccountEnv
from sim.envs.reward import DayOutcome, NetCashReward, RewardFunction
from sim.envs.vector import AccountVectorEnv

ENV_ID = "arrears/Account-v0"

__all__ = ["ENV_ID", "AccountEnv", "AccountVectorEnv", "DayOutcome", "NetCashReward", "RewardFunction", "register"]


def register() -> None:
    """Register :data:`ENV_ID` with Gymnasium, single and vector entry points; a second call does nothing."""
    if ENV_ID in gymnasium.registry:
        return
    gymnasium.register(
        id=ENV_ID,
        entry_point="sim.envs.account:AccountEnv",
        vector_entry_point="sim.envs.vector:AccountVectorEnv",
    )


register()
