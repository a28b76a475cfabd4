"""Gymnasium environments of the portfolio model: ``arrears/Account-v0`` and its vector form.

After install, Gymnasium knows the id with no import of ours (see :mod:`arrears_gymnasium`)::

    gymnasium.make("arrears/Account-v0")
    gymnasium.make_vec("arrears/Account-v0", num_envs=64, vectorization_mode="vector_entry_point")

Importing this package registers the id too, for interpreters started without the installed start-up hook.

The Stable-Baselines3 adapter lives in :mod:`sim.envs.sb3`, which needs stable-baselines3.
"""

from __future__ import annotations

from arrears_gymnasium import ACCOUNT_ENV_ID, register_envs
from sim.envs.account import AccountEnv
from sim.envs.reward import DayOutcome, NetCashReward, RewardFunction
from sim.envs.vector import AccountVectorEnv

#: The id of the environment, as registered with Gymnasium.
ENV_ID = ACCOUNT_ENV_ID

__all__ = ["ENV_ID", "AccountEnv", "AccountVectorEnv", "DayOutcome", "NetCashReward", "RewardFunction", "register"]


def register() -> None:
    """Register :data:`ENV_ID` with Gymnasium, single and vector entry points; a second call does nothing."""
    register_envs()


register()
