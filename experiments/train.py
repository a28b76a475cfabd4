"""Train a Stable-Baselines3 agent on ``arrears/Account-v0`` from a hyperparameter YAML, into a run directory.

A training config (``configs/rl/<algo>.yaml``) contains the environment settings, the algorithm's hyperparameters,
``policy_kwargs``, the timestep budget and the evaluation and checkpoint frequencies, in the manner of the RL Zoo.
Timesteps count account-days: one step of the vector env advances ``env.n_envs`` accounts by one day.

Seeds: the training accounts come from portfolio seed ``TRAINING_SEED_BASE + 1024 * seed + segment`` (``segment``
counts resumes), the evaluation accounts from ``EVALUATION_SEED_BASE + seed``. Both lie above ``2**41``, so they never
meet each other or the seeds of an experiment (below ``2**31``), on which a learned policy is compared.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import logging
import math
import os
import platform
import re
import reprlib
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from experiments.config import detect_kind, json_sha256, shipped_configs_dir
from sim.atomic import atomic_write_text
from sim.errors import (
    NAME_PATTERN,
    SCHEDULE_PATTERN,
    ConfigError,
    config_error_from_validation,
    parse_json,
    short_repr,
)
from sim.scenario import Scenario, load_yaml_mapping

logger = logging.getLogger(__name__)

ALGORITHMS = ("ppo", "a2c", "dqn", "maskable_ppo")
SHIPPED_CONFIG_DIR = shipped_configs_dir() / "rl"
RESULTS_DIR = Path("results") / "rl"
TRAINING_SEED_BASE = 2**41
EVALUATION_SEED_BASE = 2**42
#: Training segments of one run (the first plus its resumes) with their own accounts. A further segment's
#: portfolio seed would be the first segment's seed of the next --seed.
MAX_SEGMENTS = 1024
MAX_SEED = 2**31 - 1
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_PREFIX = "rl_model"
#: Packages of the rl extra that training needs.
RL_PACKAGES = ("stable_baselines3", "sb3_contrib", "torch")
REPORTED_PACKAGES = ("stable_baselines3", "sb3_contrib", "torch", "gymnasium", "numpy", "optuna")
_CHECKPOINT_NAME = re.compile(rf"^{CHECKPOINT_PREFIX}_(\d+)_steps\.zip$")

#: Means whose difference is within this fraction of their size are a tie (see :func:`beats_do_nothing`). An
#: estimate: about 80 float32 epsilons, room for the rounding of float32 returns summed over days and accounts.
TIE_RELATIVE_TOLERANCE = 1e-5
#: The tie tolerance for means near 0, in money per account.
TIE_ABSOLUTE_TOLERANCE = 1e-6

# -- the training config ------------------------------------------------------------------------------------------


def _check_schedule_start(value: float | str) -> float | str:
    """Reject a ``lin_`` schedule whose start is not a finite number above 0, such as ``lin_-0.001`` or ``lin_0``."""
    if not isinstance(value, str):
        return value
    try:
        start = float(value.removeprefix("lin_"))
    except ValueError:  # text that SCHEDULE_PATTERN allows but is no number, such as "lin_."
        start = math.nan
    if not (math.isfinite(start) and start > 0):
        raise ValueError(
            "must be a number above 0, or 'lin_' and a finite number above 0 for a linear decay, such as lin_3.0e-4, "
            f"got {reprlib.repr(value)}"
        )
    return value


Schedule = Annotated[
    Annotated[float, Field(gt=0.0, allow_inf_nan=False)] | Annotated[str, Field(pattern=SCHEDULE_PATTERN)],
    AfterValidator(_check_schedule_start),
]
#: A name that becomes part of file names: a run directory's, or the YAML that ``arrears tune`` writes.
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=NAME_PATTERN)]


class _Strict(BaseModel):
    # allow_inf_nan=False: an infinite weight or coefficient passes ge/gt bounds but turns every loss into NaN.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class RewardWeights(_Strict):
    """Weights of :class:`sim.envs.NetCashReward`; a weight left out takes the scenario's ``economics`` value."""

    recovery_weight: Annotated[float, Field(ge=0.0)] | None = None
    cost_weight: Annotated[float, Field(ge=0.0)] | None = None
    clv_weight: Annotated[float, Field(ge=0.0)] | None = None


class EnvSettings(_Strict):
    scenario: str = Field(default="default", description="Shipped scenario name or scenario YAML path.")
    horizon: Annotated[int, Field(ge=1, le=3650)] = Field(default=180, description="Days per episode.")
    n_envs: Annotated[int, Field(ge=1, le=100_000)] = Field(
        default=64, description="Accounts stepped together in one portfolio model (SB3's n_envs)."
    )
    normalize_reward: bool = Field(
        default=True,
        description="Scale rewards with VecNormalize (observations are left as they are: they already lie in [-1, 1]).",
    )
    reward: RewardWeights = RewardWeights()


class PolicyKwargs(_Strict):
    net_arch: (
        list[Annotated[int, Field(ge=1, le=4096)]]
        | dict[Literal["pi", "vf"], list[Annotated[int, Field(ge=1, le=4096)]]]
    ) = [64, 64]
    activation_fn: Literal["tanh", "relu"] = "tanh"
    ortho_init: bool | None = Field(default=None, description="Actor-critic algorithms only; SB3's default if absent.")


class EvalSettings(_Strict):
    freq: Annotated[int, Field(ge=1)] = Field(default=100_000, description="Timesteps between evaluations.")
    n_accounts: Annotated[int, Field(ge=1, le=100_000)] = Field(
        default=2048, description="Held-out accounts per evaluation, one episode each."
    )


class CheckpointSettings(_Strict):
    freq: Annotated[int, Field(ge=1)] = Field(default=200_000, description="Timesteps between checkpoints.")


class PPOHyperparameters(_Strict):
    learning_rate: Schedule = 3e-4
    n_steps: Annotated[int, Field(ge=1)] = 128
    batch_size: Annotated[int, Field(ge=2)] = 1024
    n_epochs: Annotated[int, Field(ge=1)] = 5
    gamma: Annotated[float, Field(gt=0.0, le=1.0)] = 0.995
    gae_lambda: Annotated[float, Field(ge=0.0, le=1.0)] = 0.95
    clip_range: Schedule = 0.2
    ent_coef: Annotated[float, Field(ge=0.0)] = 0.01
    vf_coef: Annotated[float, Field(ge=0.0)] = 0.5
    max_grad_norm: Annotated[float, Field(gt=0.0)] = 0.5
    normalize_advantage: bool = True
    target_kl: Annotated[float, Field(gt=0.0)] | None = None


class A2CHyperparameters(_Strict):
    learning_rate: Schedule = 7e-4
    n_steps: Annotated[int, Field(ge=1)] = 16
    gamma: Annotated[float, Field(gt=0.0, le=1.0)] = 0.995
    gae_lambda: Annotated[float, Field(ge=0.0, le=1.0)] = 0.95
    ent_coef: Annotated[float, Field(ge=0.0)] = 0.01
    vf_coef: Annotated[float, Field(ge=0.0)] = 0.5
    max_grad_norm: Annotated[float, Field(gt=0.0)] = 0.5
    use_rms_prop: bool = True
    normalize_advantage: bool = False


class DQNHyperparameters(_Strict):
    learning_rate: Schedule = 1e-4
    buffer_size: Annotated[int, Field(ge=1)] = 200_000
    learning_starts: Annotated[int, Field(ge=0)] = 10_000
    batch_size: Annotated[int, Field(ge=1)] = 256
    tau: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    gamma: Annotated[float, Field(gt=0.0, le=1.0)] = 0.995
    train_freq: Annotated[int, Field(ge=1)] = 1
    gradient_steps: Annotated[int, Field(ge=-1)] = 8
    target_update_interval: Annotated[int, Field(ge=1)] = 10_000
    exploration_fraction: Annotated[float, Field(ge=0.0, le=1.0)] = 0.2
    exploration_initial_eps: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    exploration_final_eps: Annotated[float, Field(ge=0.0, le=1.0)] = 0.05
    max_grad_norm: Annotated[float, Field(gt=0.0)] = 10.0


class TrainConfig(_Strict):
    """One training run: environment, algorithm, hyperparameters, budget, evaluation and checkpoints."""

    name: Name = "default"
    description: str = ""
    algo: Literal["ppo", "a2c", "dqn", "maskable_ppo"]
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] = 0
    total_timesteps: Annotated[int, Field(ge=1)] = 1_000_000
    env: EnvSettings = EnvSettings()
    policy: Literal["MlpPolicy"] = "MlpPolicy"
    policy_kwargs: PolicyKwargs = PolicyKwargs()
    hyperparameters: PPOHyperparameters | A2CHyperparameters | DQNHyperparameters
    eval: EvalSettings = EvalSettings()
    checkpoint: CheckpointSettings = CheckpointSettings()


HYPERPARAMETERS: dict[str, type[BaseModel]] = {
    "ppo": PPOHyperparameters,
    "maskable_ppo": PPOHyperparameters,
    "a2c": A2CHyperparameters,
    "dqn": DQNHyperparameters,
}


def validate_name(value: str, source: str, key_path: str) -> str:
    """Validate ``value`` as a training config's ``name``, raising :class:`ConfigError` that names ``key_path``."""
    try:
        return TypeAdapter(Name).validate_python(value)
    except ValidationError as exc:
        raise config_error_from_validation(source, exc, prefix=key_path) from None


def shipped_config(algo: str) -> Path:
    return SHIPPED_CONFIG_DIR / f"{algo}.yaml"


def validate_train_config(data: dict[str, Any], source: str, base: Path | None = None) -> TrainConfig:
    """Validate a training config mapping; raise :class:`ConfigError` naming ``source`` and the key path.

    The hyperparameters are checked against the model of the config's ``algo``, so an unknown key lists the keys
    that algorithm accepts. A scenario given as a YAML path is resolved relative to ``base``.
    """
    algo = data.get("algo")
    if algo not in ALGORITHMS:
        message = "missing" if algo is None else f"unknown algorithm {algo!r}"
        raise ConfigError(source, "algo", f"{message}; allowed: {', '.join(ALGORITHMS)}")
    hyperparameters = data.get("hyperparameters") or {}
    if not isinstance(hyperparameters, dict):
        raise ConfigError(source, "hyperparameters", f"must be a mapping, got {short_repr(hyperparameters)}")
    model = HYPERPARAMETERS[algo]
    try:
        parsed = model.model_validate(hyperparameters)
    except ValidationError as exc:
        # The rest of the config is checked too, with the algorithm's default hyperparameters, so that the message
        # counts its errors among the others.
        try:
            TrainConfig.model_validate({**data, "hyperparameters": model()})
            rest = 0
        except ValidationError as rest_exc:
            rest = rest_exc.error_count()
        raise config_error_from_validation(
            source, exc, prefix="hyperparameters", model=model, other_errors=rest
        ) from None
    try:
        config = TrainConfig.model_validate({**data, "hyperparameters": parsed})
    except ValidationError as exc:
        raise config_error_from_validation(source, exc, model=TrainConfig) from None

    written = scenario = config.env.scenario
    if scenario.endswith((".yaml", ".yml")) and base is not None and not Path(scenario).is_absolute():
        scenario = str((base / scenario).resolve())
        config = config.model_copy(update={"env": config.env.model_copy(update={"scenario": scenario})})
    try:
        Scenario.load(scenario)
    except ConfigError as exc:
        if exc.key_path == "scenario":
            raise ConfigError(source, "env.scenario", f"{scenario!r}: {exc.message}") from None
        if exc.source == scenario and not exc.key_path:
            # The scenario file itself is missing or unreadable, so the error names the training config's key and
            # the path as written there. An error inside the scenario file still names that file and its key.
            raise ConfigError(source, "env.scenario", f"{written!r}: {exc.message}") from None
        raise
    _check_algorithm_settings(config, source)
    return config


def _buffer_bytes(config: TrainConfig) -> tuple[str, int, int]:
    """Return the setting that sizes SB3's buffer for ``config``, its value and an estimate of the buffer's bytes.

    The estimate follows the arrays of Stable-Baselines3 2.x's buffers on ``Account-v0``. A rollout stores per
    timestep a float32 observation of the features, the action and six float32 scalars, and MaskablePPO one float32
    per catalogue action for the mask. DQN's replay buffer stores the observation, the next observation, an int64
    action and three float32 scalars per transition.
    """
    from sim.catalogue import N_ACTIONS
    from sim.features import FEATURE_NAMES

    observation = 4 * len(FEATURE_NAMES)
    params = config.hyperparameters
    if isinstance(params, DQNHyperparameters):
        return "hyperparameters.buffer_size", params.buffer_size, params.buffer_size * (2 * observation + 8 + 3 * 4)
    per_timestep = observation + 4 + 6 * 4 + (4 * N_ACTIONS if config.algo == "maskable_ppo" else 0)
    return "hyperparameters.n_steps", params.n_steps, params.n_steps * config.env.n_envs * per_timestep


def _physical_memory_bytes() -> int | None:
    """Return this machine's physical memory in bytes, or None where the platform does not report it."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _check_algorithm_settings(config: TrainConfig, source: str) -> None:
    params = config.hyperparameters
    if config.algo == "dqn" and isinstance(config.policy_kwargs.net_arch, dict):
        raise ConfigError(source, "policy_kwargs.net_arch", "DQN takes a list of layer sizes, not pi/vf")
    if config.algo == "dqn" and config.policy_kwargs.ortho_init is not None:
        raise ConfigError(source, "policy_kwargs.ortho_init", "applies to actor-critic algorithms, not DQN")
    if isinstance(params, PPOHyperparameters) and params.batch_size > params.n_steps * config.env.n_envs:
        raise ConfigError(
            source,
            "hyperparameters.batch_size",
            f"{params.batch_size} exceeds a rollout of n_steps × env.n_envs = {params.n_steps * config.env.n_envs}",
        )
    # SB3's PPO asserts this itself, but A2C (SB3 2.9.2) takes the standard deviation of a single advantage, which is
    # NaN, and the first update fills the network with NaN.
    if isinstance(params, A2CHyperparameters) and params.normalize_advantage and params.n_steps * config.env.n_envs < 2:
        raise ConfigError(
            source,
            "hyperparameters.normalize_advantage",
            "needs a rollout of at least 2 timesteps (n_steps × env.n_envs is 1); raise n_steps or env.n_envs, or set "
            "normalize_advantage to false",
        )
    if isinstance(params, DQNHyperparameters) and params.buffer_size < params.batch_size:
        raise ConfigError(
            source,
            "hyperparameters.buffer_size",
            f"{params.buffer_size} is smaller than batch_size {params.batch_size}; the replay buffer must hold at "
            "least one batch",
        )
    key, value, needed = _buffer_bytes(config)
    memory = _physical_memory_bytes()
    if memory is not None and needed > memory:
        rollout = "" if key.endswith("buffer_size") else f" × env.n_envs {config.env.n_envs}"
        raise ConfigError(
            source,
            key,
            f"{value:,}{rollout} needs about {needed / 2**30:,.1f} GiB for the training buffer, more than this "
            f"machine's {memory / 2**30:,.1f} GiB of memory; lower it",
        )


#: Error text, by kind, for a YAML file of another kind given as a training config.
_OTHER_KIND_ADVICE = {
    "experiment": "an experiment config (it has 'policies'), not a training config; run it with arrears run",
    "waterfall": "a waterfall (it has 'stages'), not a training config; list it under 'policies' in an experiment",
    "score": "an early-warning score, not a training config; name it as 'score' in a waterfall",
}


def load_train_config(path: str | Path) -> TrainConfig:
    """Load and validate a training YAML (see :func:`validate_train_config`)."""
    path = Path(path)
    data = load_yaml_mapping(path)
    # A file that another kind's key identifies gets that kind named, not "algo: missing". Scenarios are not
    # detected here, because a training config with a misspelt key may look like one.
    kind = detect_kind(data)
    if kind in _OTHER_KIND_ADVICE:
        raise ConfigError(str(path), "", f"is {_OTHER_KIND_ADVICE[kind]}")
    return validate_train_config(data, str(path), base=path.parent)


def config_dict(config: TrainConfig) -> dict[str, Any]:
    """Return ``config`` as plain data in the YAML layout, every default filled in."""
    return config.model_dump(mode="json", exclude_none=False)


def default_run_dir(config: TrainConfig) -> Path:
    return RESULTS_DIR / f"{config.algo}-{config.name}-seed{config.seed}"


def training_portfolio_seed(seed: int, segment: int) -> int:
    """Portfolio seed of the training accounts in ``segment`` (0, then 1 after the first resume, ...)."""
    if not 0 <= segment < MAX_SEGMENTS:
        raise ValueError(f"a run can be resumed at most {MAX_SEGMENTS - 1} times, got segment {segment}")
    return TRAINING_SEED_BASE + MAX_SEGMENTS * seed + segment


def evaluation_portfolio_seed(seed: int) -> int:
    return EVALUATION_SEED_BASE + seed


# -- environments and the algorithm -------------------------------------------------------------------------------


def require_rl_packages(
    command: str = "arrears train", packages: tuple[str, ...] = RL_PACKAGES, key_path: str = ""
) -> None:
    """Raise :class:`ConfigError` naming ``command`` (or a file and ``key_path``) when any of ``packages`` (from
    the rl extra) is missing."""
    missing = [name for name in packages if importlib.util.find_spec(name) is None]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise ConfigError(
            command,
            key_path,
            f"needs {', '.join(missing)}, which {verb} not installed; install the CPU build of torch first, then the "
            "rl extra from the repository: pip install torch==2.13.0 && pip install -e '.[rl]'",
        )


def silent_logger():
    """Return an SB3 logger that writes nothing and creates no folder.

    SB3 gives a model with ``verbose=0`` and no ``tensorboard_log`` a logger that first creates an empty
    ``SB3-<date and time>`` folder in the system's temporary directory, one per ``learn()``: one per tuning trial.
    Set this one with ``model.set_logger`` instead.
    """
    from stable_baselines3.common.logger import Logger

    return Logger(folder=None, output_formats=[])


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread inside the block, then restore the thread count.

    The networks are small, so more threads do not pay off, and idle ones spin on a busy machine. Measured with
    PPO and configs/rl/ppo.yaml on 2 CPU cores: 3,970 timesteps/s on one thread, 780 on two.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def algorithm_class(algo: str):
    """Return the SB3 (or sb3-contrib) class of ``algo``."""
    require_rl_packages()
    if algo == "maskable_ppo":
        from sb3_contrib import MaskablePPO

        return MaskablePPO
    import stable_baselines3

    return {"ppo": stable_baselines3.PPO, "a2c": stable_baselines3.A2C, "dqn": stable_baselines3.DQN}[algo]


def _fixed_seed_wrapper():
    from stable_baselines3.common.vec_env import VecEnvWrapper

    class FixedPortfolioSeed(VecEnvWrapper):
        """Build portfolio seed ``portfolio_seed`` on every reset, whatever seed SB3 passes to ``seed()``.

        SB3 seeds an environment with the algorithm's seed. The accounts here come from a seed kept apart from
        experiment seeds, and every evaluation starts from the same held-out accounts.
        """

        def __init__(self, venv, portfolio_seed: int) -> None:
            super().__init__(venv)
            self.portfolio_seed = portfolio_seed

        def reset(self):
            self.venv.seed(self.portfolio_seed)
            return self.venv.reset()

        def step_wait(self):
            return self.venv.step_wait()

        def seed(self, seed: int | None = None):
            return [self.portfolio_seed] * self.num_envs

    return FixedPortfolioSeed


def make_env(config: TrainConfig, portfolio_seed: int, n_accounts: int):
    """Build the SB3 vector env of ``n_accounts`` accounts of ``portfolio_seed``, wrapped in VecMonitor."""
    from stable_baselines3.common.vec_env import VecMonitor

    from sim.envs import NetCashReward
    from sim.envs.sb3 import SB3AccountVecEnv

    weights = config.env.reward
    reward = NetCashReward(weights.recovery_weight, weights.cost_weight, weights.clv_weight)
    venv = SB3AccountVecEnv(n_accounts, scenario=config.env.scenario, horizon=config.env.horizon, reward=reward)
    return VecMonitor(_fixed_seed_wrapper()(venv, portfolio_seed))


def normalize(venv, config: TrainConfig, training: bool):
    """Wrap ``venv`` in VecNormalize (rewards only) when the config asks for it; an evaluation env never scales."""
    if not config.env.normalize_reward:
        return venv
    from stable_baselines3.common.vec_env import VecNormalize

    return VecNormalize(
        venv,
        training=training,
        norm_obs=False,
        norm_reward=training,
        gamma=config.hyperparameters.gamma,
    )


def _schedule(value: float | str) -> float | Callable[[float], float]:
    """A number, or RL Zoo's ``lin_<start>``: linear decay from ``start`` to 0 over training."""
    if isinstance(value, str):
        start = float(value.removeprefix("lin_"))
        return lambda progress_remaining: progress_remaining * start
    return value


def algorithm_kwargs(config: TrainConfig) -> dict[str, Any]:
    """Keyword arguments of the algorithm's constructor: hyperparameters, schedules and policy_kwargs."""
    import torch

    params = config.hyperparameters.model_dump()
    for key in ("learning_rate", "clip_range"):
        if key in params:
            params[key] = _schedule(params[key])
    policy_kwargs: dict[str, Any] = {
        "net_arch": config.policy_kwargs.net_arch,
        "activation_fn": {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[config.policy_kwargs.activation_fn],
    }
    if config.policy_kwargs.ortho_init is not None:
        policy_kwargs["ortho_init"] = config.policy_kwargs.ortho_init
    return {**params, "policy_kwargs": policy_kwargs}


def timesteps_per_collection(model) -> int:
    """Return the timesteps that ``model`` collects between two checks of its budget in ``learn``.

    PPO and A2C collect whole rollouts of ``n_steps × n_envs``, DQN ``train_freq`` vector steps of ``n_envs``, so
    ``learn`` runs the budget rounded up to a multiple of this.
    """
    from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
    from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
    from stable_baselines3.common.type_aliases import TrainFrequencyUnit

    if isinstance(model, OnPolicyAlgorithm):
        return model.n_steps * model.n_envs
    if isinstance(model, OffPolicyAlgorithm) and model.train_freq.unit == TrainFrequencyUnit.STEP:
        return model.train_freq.frequency * model.n_envs
    return model.n_envs


def progress_bar_callback():
    """Build SB3's progress bar with the timesteps that ``learn`` will run as its total, not the requested budget.

    SB3's own bar counts up to the budget while the algorithm runs whole collections past it, so it showed
    6,144/5,000. This bar's total is the budget rounded up (see :func:`timesteps_per_collection`), and it never
    counts past its total. Needs the tqdm and rich packages.
    """
    from stable_baselines3.common import callbacks

    class RoundedProgressBar(callbacks.ProgressBarCallback):
        def _on_training_start(self) -> None:
            remaining = max(0, self.locals["total_timesteps"] - self.model.num_timesteps)
            collection = timesteps_per_collection(self.model)
            self.pbar = callbacks.tqdm(total=-(-remaining // collection) * collection)

        def _on_step(self) -> bool:
            self.pbar.update(min(self.training_env.num_envs, self.pbar.total - self.pbar.n))
            return True

    return RoundedProgressBar()


def _per_step(timesteps: int, config: TrainConfig) -> int:
    """Convert a frequency in timesteps to calls of the callback (one per vector step of ``n_envs`` timesteps)."""
    return max(1, timesteps // config.env.n_envs)


class _DoNothing:
    """A predictor for SB3's ``evaluate_policy`` that takes no action on every account."""

    def predict(self, observation, state=None, episode_start=None, deterministic=True, action_masks=None):
        from sim.catalogue import NO_ACTION

        return np.full(len(observation), NO_ACTION, dtype=np.int64), state


def do_nothing_returns(eval_env, n_accounts: int) -> list[float]:
    """Return the unscaled return of each held-out account of ``eval_env`` under ``do_nothing``, one episode each.

    The episodes are collected as SB3's ``evaluate_policy`` collects a model's, so the mean compares with the
    evaluation callback's mean on the same accounts.
    """
    from stable_baselines3.common.evaluation import evaluate_policy

    returns, _ = evaluate_policy(
        _DoNothing(), eval_env, n_eval_episodes=n_accounts, deterministic=True, return_episode_rewards=True, warn=False
    )
    return [float(value) for value in returns]


def _with_baseline(callback_class):
    """Subclass an SB3 evaluation callback to log each evaluation as a difference from ``do_nothing``."""

    class BaselineEvalCallback(callback_class):
        """Log ``eval/mean_reward_minus_do_nothing`` after each evaluation and track the best one's timesteps.

        ``baseline`` is ``do_nothing``'s mean return on the same held-out accounts. ``report`` receives one line
        per evaluation. ``best_timesteps`` is the timestep count of the evaluation saved as ``best_model.zip``.
        """

        def __init__(self, *args, baseline: float, report: Callable[[str], None], **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.baseline = baseline
            self.report = report
            self.best_timesteps: int | None = None

        def _on_step(self) -> bool:
            if self.eval_freq <= 0 or self.n_calls % self.eval_freq != 0:
                return True
            best_before = self.best_mean_reward
            continue_training = super()._on_step()
            difference = self.last_mean_reward - self.baseline
            is_best = self.best_mean_reward > best_before
            if is_best:
                self.best_timesteps = self.num_timesteps
            # SB3's callback has already written its scalars, so this one is written at the same step on its own.
            self.logger.record("eval/mean_reward_minus_do_nothing", difference)
            self.logger.dump(self.num_timesteps)
            self.report(
                f"evaluation at {self.num_timesteps:,} timesteps: {self.last_mean_reward:,.2f} per account, "
                f"{difference:+,.2f} over do_nothing{' (best so far)' if is_best else ''}"
            )
            return continue_training

    return BaselineEvalCallback


def eval_callback(
    config: TrainConfig,
    eval_env,
    run_dir: Path | None,
    callback_class=None,
    baseline: float | None = None,
    report: Callable[[str], None] = lambda line: None,
    **kwargs,
):
    """Build the evaluation callback: ``callback_class``, else MaskableEvalCallback for MaskablePPO or EvalCallback.

    With ``baseline`` (``do_nothing``'s mean return on the evaluation accounts), each evaluation is also logged and
    reported as a difference from it.
    """
    if callback_class is None:
        if config.algo == "maskable_ppo":
            from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback as callback_class
        else:
            from stable_baselines3.common.callbacks import EvalCallback as callback_class
    if baseline is not None:
        callback_class = _with_baseline(callback_class)
        kwargs = {**kwargs, "baseline": baseline, "report": report}
    return callback_class(
        eval_env,
        n_eval_episodes=config.eval.n_accounts,
        eval_freq=_per_step(config.eval.freq, config),
        log_path=None if run_dir is None else str(run_dir),
        best_model_save_path=None if run_dir is None else str(run_dir),
        deterministic=True,
        verbose=0,
        **kwargs,
    )


# -- a run directory ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    timesteps: int
    model: Path
    vecnormalize: Path | None
    replay_buffer: Path | None


def latest_checkpoint(run_dir: Path) -> Checkpoint | None:
    """Return the checkpoint with the most timesteps under ``run_dir/checkpoints``, or None when there is none."""
    folder = run_dir / CHECKPOINT_DIR
    found = []
    for path in folder.glob(f"{CHECKPOINT_PREFIX}_*_steps.zip") if folder.is_dir() else []:
        match = _CHECKPOINT_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    if not found:
        return None
    steps, model = max(found)
    vecnormalize = folder / f"{CHECKPOINT_PREFIX}_vecnormalize_{steps}_steps.pkl"
    replay_buffer = folder / f"{CHECKPOINT_PREFIX}_replay_buffer_{steps}_steps.pkl"
    return Checkpoint(
        timesteps=steps,
        model=model,
        vecnormalize=vecnormalize if vecnormalize.is_file() else None,
        replay_buffer=replay_buffer if replay_buffer.is_file() else None,
    )


@contextmanager
def _unreadable_checkpoint(path: Path) -> Iterator[None]:
    """Turn a failure to load the checkpoint file ``path`` (truncated, say, by a killed save) into a ConfigError."""
    try:
        yield
    except ConfigError:
        raise
    except Exception as error:  # SB3, torch, zipfile and pickle each raise their own kinds for a damaged file
        details = str(error).splitlines()[0] if str(error) else "no details"
        raise ConfigError(
            str(path),
            "--resume",
            f"cannot be read ({type(error).__name__}: {details}); delete this checkpoint's files to resume from the "
            "one before",
        ) from error


def _save_checkpoint(model, run_dir: Path) -> None:
    """Save the model, its VecNormalize statistics and its replay buffer under the names CheckpointCallback uses."""
    folder = run_dir / CHECKPOINT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    steps = model.num_timesteps
    model.save(folder / f"{CHECKPOINT_PREFIX}_{steps}_steps.zip")
    if model.get_vec_normalize_env() is not None:
        model.get_vec_normalize_env().save(str(folder / f"{CHECKPOINT_PREFIX}_vecnormalize_{steps}_steps.pkl"))
    if getattr(model, "replay_buffer", None) is not None:
        model.save_replay_buffer(folder / f"{CHECKPOINT_PREFIX}_replay_buffer_{steps}_steps.pkl")


def _restore_evaluations(callback, run_dir: Path, resumed_at: int) -> None:
    """Load evaluations.npz of the run into ``callback``, so that it appends to the earlier evaluations.

    Evaluations after ``resumed_at``, the timesteps of the checkpoint that training resumes from, came from a segment
    that was killed after that checkpoint. The resumed run evaluates those timesteps again with another model, so they
    are dropped, and evaluations.npz has one row per timestep. The best evaluation is taken over all rows, dropped or
    not, because best_model.zip is the model of that evaluation until a better one replaces it.
    """
    path = run_dir / "evaluations.npz"
    if not path.is_file():
        return
    with np.load(path) as data:
        timesteps = [int(t) for t in data["timesteps"]]
        results = [list(r) for r in data["results"]]
        lengths = [list(n) for n in data["ep_lengths"]]
    if results:
        means = [float(np.mean(r)) for r in results]
        best = int(np.argmax(means))
        callback.best_mean_reward = means[best]
        callback.best_timesteps = timesteps[best]
    before_resume = [i for i, t in enumerate(timesteps) if t <= resumed_at]
    callback.evaluations_timesteps = [timesteps[i] for i in before_resume]
    callback.evaluations_results = [results[i] for i in before_resume]
    callback.evaluations_length = [lengths[i] for i in before_resume]


def check_new_run_dir(path: Path) -> None:
    """Raise :class:`ConfigError` naming ``--out`` unless ``path`` can become a new run directory.

    The path must be an empty directory, or new with a writable directory as its nearest existing folder. Checked
    before training, and before the lock file beside the directory is created.
    """
    if path.exists() and not path.is_dir():
        raise ConfigError(str(path), "--out", "exists and is not a directory; name a new or empty directory")
    if path.is_dir():
        if any(path.iterdir()):
            raise ConfigError(
                str(path), "--out", "exists and is not empty; continue it with --resume DIR or name a new directory"
            )
        return
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ConfigError(str(path), "--out", f"cannot be created: {folder} is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(str(path), "--out", f"cannot be created: the folder {folder} is not writable")


def _versions() -> dict[str, str | None]:
    versions = {}
    for name in ("arrears", *REPORTED_PACKAGES):
        try:
            versions[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


# -- training -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    timesteps: int
    last_mean_reward: float | None
    seconds: float
    model: Any  # the trained SB3 model, as saved to run_dir/model.zip
    do_nothing_mean_reward: float
    best_mean_reward: float | None  # the evaluation of best_model.zip
    best_timesteps: int | None


def train(
    config: TrainConfig,
    run_dir: Path,
    progress: bool = True,
    resume: bool = False,
    note: Callable[[str], None] = lambda message: None,
    report: Callable[[str], None] = lambda line: None,
) -> TrainResult:
    """Train ``config``'s algorithm into ``run_dir``; with ``resume``, continue from its latest checkpoint.

    Writes ``model.zip``, ``config.yaml`` (resolved), ``vecnormalize.pkl`` (with ``normalize_reward``),
    ``evaluations.npz``, ``best_model.zip``, ``checkpoints/`` and ``manifest.json``, and ``tensorboard/`` when the
    tensorboard package is installed. ``note`` receives one-line notes for the user (a missing optional package),
    ``report`` one line per evaluation with its difference from ``do_nothing`` on the same held-out accounts.
    """
    require_rl_packages()
    from stable_baselines3.common.callbacks import CallbackList, CheckpointCallback
    from stable_baselines3.common.vec_env import VecNormalize

    started_at = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    algorithm = algorithm_class(config.algo)
    earlier = _read_manifest(run_dir) if resume else None
    problem = _problem_hashes(config)
    if earlier is not None:
        _check_resumed_problem(run_dir, config, earlier, problem)
    segment = 0 if earlier is None else int(earlier.get("segments", 1))
    checkpoint = latest_checkpoint(run_dir) if resume else None
    if resume and checkpoint is None:
        # A run stopped before its first checkpoint leaves no model to continue, so training starts again, as a new
        # segment on new accounts, and the directory needs no deleting.
        note(
            f"{run_dir}: no checkpoint in {CHECKPOINT_DIR}/ (the run stopped before its first, at "
            f"{config.checkpoint.freq:,} timesteps), so training starts again from timestep 0"
        )

    train_seed = training_portfolio_seed(config.seed, segment)
    env = make_env(config, train_seed, config.env.n_envs)
    eval_env = normalize(
        make_env(config, evaluation_portfolio_seed(config.seed), config.eval.n_accounts), config, False
    )
    # Run before the model is built, which seeds the global random generators, so training draws the same numbers.
    baseline = float(np.mean(do_nothing_returns(eval_env, config.eval.n_accounts)))
    tensorboard_log = None
    if importlib.util.find_spec("tensorboard") is not None:
        tensorboard_log = str(run_dir / "tensorboard")
    else:
        note("tensorboard is not installed, so no TensorBoard logs are written (pip install tensorboard)")
    if progress and (importlib.util.find_spec("tqdm") is None or importlib.util.find_spec("rich") is None):
        note("the progress bar needs tqdm and rich; training without it (pip install tqdm rich)")
        progress = False

    run_dir.mkdir(parents=True, exist_ok=True)
    if checkpoint is None:
        env = normalize(env, config, True)
        model = algorithm(
            config.policy, env, seed=config.seed, tensorboard_log=tensorboard_log, verbose=0, **algorithm_kwargs(config)
        )
    else:
        if checkpoint.vecnormalize is not None:
            with _unreadable_checkpoint(checkpoint.vecnormalize):
                env = VecNormalize.load(str(checkpoint.vecnormalize), env)
            env.training = True
        elif config.env.normalize_reward:
            raise ConfigError(str(checkpoint.model), "--resume", "has no VecNormalize statistics beside it")
        with _unreadable_checkpoint(checkpoint.model):
            model = algorithm.load(checkpoint.model, env=env, device="cpu", tensorboard_log=tensorboard_log)
        if checkpoint.replay_buffer is not None:
            with _unreadable_checkpoint(checkpoint.replay_buffer):
                model.load_replay_buffer(checkpoint.replay_buffer)
    if tensorboard_log is None:
        model.set_logger(silent_logger())
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(config_dict(config), sort_keys=False))

    evaluation = eval_callback(config, eval_env, run_dir, baseline=baseline, report=report)
    if resume:
        _restore_evaluations(evaluation, run_dir, resumed_at=0 if checkpoint is None else checkpoint.timesteps)
    checkpoints = CheckpointCallback(
        save_freq=_per_step(config.checkpoint.freq, config),
        save_path=str(run_dir / CHECKPOINT_DIR),
        name_prefix=CHECKPOINT_PREFIX,
        save_replay_buffer=True,
        save_vecnormalize=True,
    )
    remaining = config.total_timesteps - model.num_timesteps
    if remaining > 0:
        # Recorded before training, so that a resume after this segment is killed still counts it and trains on the
        # next segment's accounts instead of repeating this one's.
        running = _running_manifest(earlier, problem, checkpoint, train_seed, started_at, run_dir)
        atomic_write_text(run_dir / "manifest.json", json.dumps(running, indent=2) + "\n")
        callbacks = [evaluation, checkpoints, progress_bar_callback()] if progress else [evaluation, checkpoints]
        with one_torch_thread():
            model.learn(
                total_timesteps=remaining,
                callback=CallbackList(callbacks),
                reset_num_timesteps=checkpoint is None,
                tb_log_name=config.algo,
            )
    else:
        note(f"the run already has {model.num_timesteps} timesteps; raise --timesteps to train further")

    model.save(run_dir / "model.zip")
    if model.get_vec_normalize_env() is not None:
        model.get_vec_normalize_env().save(str(run_dir / "vecnormalize.pkl"))
    _save_checkpoint(model, run_dir)
    env.close()
    eval_env.close()

    seconds = time.perf_counter() - clock
    last = float(np.mean(evaluation.evaluations_results[-1])) if evaluation.evaluations_results else None
    result = TrainResult(
        run_dir=run_dir,
        timesteps=model.num_timesteps,
        last_mean_reward=last,
        seconds=seconds,
        model=model,
        do_nothing_mean_reward=baseline,
        best_mean_reward=evaluation.best_mean_reward if evaluation.evaluations_results else None,
        best_timesteps=evaluation.best_timesteps,
    )
    manifest = _manifest(config, result, earlier, problem, checkpoint, train_seed, started_at)
    atomic_write_text(run_dir / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return result


def _problem_hashes(config: TrainConfig) -> dict[str, str]:
    """Return the SHA-256 of the training settings other than the timestep budget, and of the scenario they name.

    A resumed run must train and evaluate on what its earlier segments did, and only its budget may grow.
    """
    settings = config_dict(config)
    del settings["total_timesteps"]
    return {
        "config_sha256": json_sha256(settings),
        "scenario_sha256": Scenario.load(config.env.scenario).config_hash(),
    }


def _check_resumed_problem(
    run_dir: Path, config: TrainConfig, earlier: dict[str, Any], problem: dict[str, str]
) -> None:
    """Raise ConfigError when ``DIR/config.yaml`` or the scenario it names changed since the run began.

    Manifests written before the hashes were recorded pass unchecked.
    """
    changed = {
        "config_sha256": f"{run_dir / 'config.yaml'} differs from the settings the run began with",
        "scenario_sha256": f"the scenario {config.env.scenario} changed since the run began",
    }
    for key, change in changed.items():
        recorded = earlier.get(key)
        if recorded is not None and recorded != problem[key]:
            raise ConfigError(
                str(run_dir),
                "--resume",
                f"{change} (SHA-256 {recorded[:12]} then, {problem[key][:12]} now), and only --timesteps may change; "
                "restore it or start a new run",
            )


def _read_manifest(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "manifest.json"
    if not path.is_file():
        return None
    try:
        return parse_json(path.read_text(encoding="utf-8"))
    except ValueError:
        raise ConfigError(
            str(path), "", "is not valid JSON; it should be the manifest written by arrears train"
        ) from None


def _running_manifest(
    earlier: dict[str, Any] | None,
    problem: dict[str, str],
    checkpoint: Checkpoint | None,
    train_seed: int,
    started_at: dt.datetime,
    run_dir: Path,
) -> dict[str, Any]:
    """Return the manifest of a run whose current segment has started but not finished.

    It is the earlier manifest with one more segment, whose ``history`` entry has ``finished_at`` None, and the hashes
    of ``problem`` (see :func:`_problem_hashes`). The final manifest replaces it when the segment finishes. A killed
    segment leaves it behind, and its unfinished entry stays in the history of the resumed run.
    """
    history = [] if earlier is None else list(earlier.get("history", []))
    segment = _segment_record(run_dir, checkpoint, train_seed, started_at)
    return {**(earlier or {}), **problem, "segments": len(history) + 1, "history": [*history, segment]}


def _segment_record(
    run_dir: Path,
    checkpoint: Checkpoint | None,
    train_seed: int,
    started_at: dt.datetime,
    finished: tuple[float, int] | None = None,
) -> dict[str, Any]:
    """Return the ``history`` entry of a training segment.

    ``finished`` is the segment's elapsed seconds and its last timestep count, or None while it runs, which leaves
    ``finished_at``, ``elapsed_seconds`` and ``end_timesteps`` None.
    """
    return {
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": None if finished is None else dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "elapsed_seconds": None if finished is None else round(finished[0], 3),
        "resumed_from": None if checkpoint is None else str(checkpoint.model.relative_to(run_dir)),
        "start_timesteps": 0 if checkpoint is None else checkpoint.timesteps,
        "end_timesteps": None if finished is None else int(finished[1]),
        "training_portfolio_seed": train_seed,
    }


def _manifest(
    config: TrainConfig,
    result: TrainResult,
    earlier: dict[str, Any] | None,
    problem: dict[str, str],
    checkpoint: Checkpoint | None,
    train_seed: int,
    started_at: dt.datetime,
) -> dict[str, Any]:
    from experiments.runner import git_commit, git_modified

    run_dir, model, seconds = result.run_dir, result.model, result.seconds
    baseline = result.do_nothing_mean_reward
    best_model = None
    if result.best_mean_reward is not None:
        best_model = {
            "timesteps": result.best_timesteps,
            "mean_evaluation_return": result.best_mean_reward,
            "minus_do_nothing": result.best_mean_reward - baseline,
        }

    segment = _segment_record(run_dir, checkpoint, train_seed, started_at, finished=(seconds, model.num_timesteps))
    history = [] if earlier is None else list(earlier.get("history", []))
    return {
        "algo": config.algo,
        "config_name": config.name,
        "seed": config.seed,
        "timesteps": int(model.num_timesteps),
        "segments": len(history) + 1,
        "evaluation_portfolio_seed": evaluation_portfolio_seed(config.seed),
        "evaluation_accounts": config.eval.n_accounts,
        "do_nothing_mean_evaluation_return": baseline,
        "last_mean_evaluation_return": result.last_mean_reward,
        "last_evaluation_minus_do_nothing": (
            None if result.last_mean_reward is None else result.last_mean_reward - baseline
        ),
        "best_model": best_model,
        **problem,
        "normalization": "rewards" if config.env.normalize_reward else None,
        "tensorboard": (run_dir / "tensorboard").is_dir(),
        "versions": _versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": git_commit(),
        "git_modified": git_modified(),
        "history": [*history, segment],
    }


# -- the command line ---------------------------------------------------------------------------------------------


def resolve_command_config(args) -> tuple[TrainConfig, Path]:
    """Return the training config and run directory that ``arrears train`` options select.

    With ``--resume DIR`` the config is DIR/config.yaml; ``--timesteps`` may raise its budget, and the options that
    would change the run (``--config``, ``--algo``, ``--seed``, ``--out``) are rejected.
    """
    if args.resume is not None:
        for option in ("config", "algo", "seed", "out"):
            if getattr(args, option) is not None:
                raise ConfigError(
                    "--resume", f"--{option}", "cannot change a run being resumed; leave it out or start a new run"
                )
        if not args.resume.is_dir():
            raise ConfigError(str(args.resume), "--resume", "directory not found")
        if not (args.resume / "config.yaml").is_file():
            raise ConfigError(str(args.resume), "--resume", "has no config.yaml; it is not a run of arrears train")
        config = load_train_config(args.resume / "config.yaml")
        run_dir = args.resume
        checkpoint = latest_checkpoint(run_dir)
        budget = args.timesteps if args.timesteps is not None else config.total_timesteps
        if checkpoint is not None and checkpoint.timesteps >= budget:
            raise ConfigError(
                str(run_dir),
                "--timesteps",
                f"the run has trained {checkpoint.timesteps:,} timesteps already, so a budget of {budget:,} adds "
                f"nothing; pass --timesteps above {checkpoint.timesteps:,}",
            )
    else:
        if args.config is None and args.algo is None:
            raise ConfigError("arrears train", "--algo", f"give --algo ({', '.join(ALGORITHMS)}) or --config FILE")
        config = load_train_config(args.config or shipped_config(args.algo))
        if args.algo is not None and config.algo != args.algo:
            raise ConfigError(str(args.config), "algo", f"is {config.algo!r}, but --algo is {args.algo!r}")
        if args.seed is not None:
            if not 0 <= args.seed <= MAX_SEED:
                raise ConfigError("arrears train", "--seed", f"must be from 0 to {MAX_SEED}, got {args.seed}")
            config = config.model_copy(update={"seed": args.seed})
        run_dir = args.out or default_run_dir(config)
        check_new_run_dir(run_dir)
    if args.timesteps is not None:
        config = config.model_copy(update={"total_timesteps": args.timesteps})
    return config, run_dir


def run_train_command(args) -> int:
    """Run ``arrears train`` for parsed arguments; print each evaluation, where the run went and which model to use.

    The run directory is locked while training, as ``arrears run`` locks its own, so a second ``arrears train`` into
    the same directory at the same time exits with code 2 (on Linux and macOS, which have ``fcntl``).
    """
    from experiments.runner import _exclusive_run_directory

    require_rl_packages()
    config, run_dir = resolve_command_config(args)
    option = "--out" if args.resume is None else "--resume"
    # The resolved path, so that two names of one directory (a symbolic link) share one lock file.
    with _exclusive_run_directory(run_dir.resolve(), option=option, command="train"):
        if args.resume is None:
            # Checked again under the lock: a train into the same directory may have finished since the first check.
            check_new_run_dir(run_dir)
        result = train(
            config,
            run_dir,
            progress=not args.no_progress,
            resume=args.resume is not None,
            note=lambda message: print(f"arrears train: note: {message}", file=sys.stderr),
            report=lambda line: print(f"arrears train: {line}", flush=True),
        )
    print(f"wrote {result.run_dir}: {result.timesteps:,} timesteps in {result.seconds:.0f} s")
    print(recommendation(result, config.eval.n_accounts))
    return 0


def beats_do_nothing(mean_return: float, baseline: float) -> bool:
    """Return whether a mean evaluation return beats ``do_nothing``'s mean ``baseline`` by more than a tie.

    SB3's evaluation callback averages the float32 episode returns in float32, while ``baseline`` is their float64
    mean, so a model that acts like ``do_nothing`` differs from it by rounding alone (2.4e-07 on a mean of 7.44 was
    seen). Both means are compared as float32, and a difference within ``TIE_RELATIVE_TOLERANCE`` of the larger one
    (at least ``TIE_ABSOLUTE_TOLERANCE``) is a tie, not a win.
    """
    model = float(np.float32(mean_return))
    reference = float(np.float32(baseline))
    tie = math.isclose(model, reference, rel_tol=TIE_RELATIVE_TOLERANCE, abs_tol=TIE_ABSOLUTE_TOLERANCE)
    return model > reference and not tie


def recommendation(result: TrainResult, n_accounts: int) -> str:
    """Name the model to use: ``best_model.zip`` when its evaluation beat ``do_nothing``, else warn against both."""
    baseline = (
        f"do_nothing makes {result.do_nothing_mean_reward:,.2f} per account on the {n_accounts:,} held-out accounts"
    )
    if result.best_mean_reward is None:
        return f"no evaluation yet ({baseline}); model.zip is the final model, not evaluated"
    best = result.best_mean_reward - result.do_nothing_mean_reward
    last = result.last_mean_reward - result.do_nothing_mean_reward
    found = (
        f"{baseline}; the best evaluation, {best:+,.2f}, came at {result.best_timesteps:,} timesteps "
        f"and the last one was {last:+,.2f}"
    )
    if not beats_do_nothing(result.best_mean_reward, result.do_nothing_mean_reward):
        return f"{found}. No evaluation beat do_nothing, so use neither model: train with another --seed or config"
    return f"{found}. Use {result.run_dir / 'best_model.zip'}, and compare it with do_nothing in arrears run"
