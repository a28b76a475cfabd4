"""Search training hyperparameters with Optuna: TPE sampling, median pruning on intermediate evaluations.

Each trial trains the config's algorithm with sampled hyperparameters and evaluates it on the held-out accounts every
``eval.freq`` timesteps. A trial whose evaluation return falls below the median of earlier trials at the same
evaluation is pruned. With an RDB storage URL (``sqlite:///study.db``), several ``arrears tune`` processes share one
study.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from experiments.config import json_sha256
from experiments.train import (
    RESULTS_DIR,
    TrainConfig,
    algorithm_class,
    algorithm_kwargs,
    config_dict,
    eval_callback,
    evaluation_portfolio_seed,
    load_train_config,
    make_env,
    normalize,
    one_torch_thread,
    progress_bar_callback,
    require_rl_packages,
    shipped_config,
    silent_logger,
    training_portfolio_seed,
    validate_name,
    validate_train_config,
)
from sim.atomic import atomic_write_text, check_writable_file
from sim.errors import ConfigError, short_repr
from sim.scenario import Scenario, load_yaml_mapping

logger = logging.getLogger(__name__)

#: Trials that are never pruned, and evaluations of each trial before pruning may stop it.
STARTUP_TRIALS = 5
WARMUP_EVALUATIONS = 1
#: The start of the description of a config written by ``arrears tune``, which a later run may replace.
_TUNE_DESCRIPTION = re.compile(r"Best of \d+ finished trials of Optuna study ")
#: The study user attribute that records the settings all trials of a study ran with (see :func:`trial_settings`).
TRIAL_SETTINGS_ATTR = "arrears_trial_settings"
#: Differing settings named in the error that rejects a continued study; further ones are counted.
LISTED_DIFFERENCES = 3
#: Names of the settings outside the training config, as the error that rejects a continued study writes them.
_SETTING_LABELS = {
    "scenario_sha256": "scenario SHA-256",
    "timesteps_per_trial": "--timesteps",
    "arrears_version": "arrears version",
}


def sample_hyperparameters(trial, algo: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sample the main hyperparameters of ``algo``; return (hyperparameters, policy_kwargs) for the config.

    The ranges follow the RL Zoo's samplers, narrowed to what fits one account-day step: batch sizes are powers of
    two, so they divide a rollout of ``n_steps × n_envs`` when ``n_envs`` is one too.
    """
    params: dict[str, Any] = {
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 3e-3, log=True),
        "gamma": trial.suggest_categorical("gamma", [0.98, 0.99, 0.995, 0.999]),
    }
    if algo in ("ppo", "maskable_ppo", "a2c"):
        params["gae_lambda"] = trial.suggest_categorical("gae_lambda", [0.9, 0.95, 0.98, 1.0])
        params["ent_coef"] = trial.suggest_float("ent_coef", 1e-6, 0.05, log=True)
        params["vf_coef"] = trial.suggest_float("vf_coef", 0.2, 1.0)
        params["max_grad_norm"] = trial.suggest_categorical("max_grad_norm", [0.3, 0.5, 1.0, 2.0])
    if algo in ("ppo", "maskable_ppo"):
        params["n_steps"] = trial.suggest_categorical("n_steps", [32, 64, 128, 256])
        params["batch_size"] = trial.suggest_categorical("batch_size", [256, 512, 1024, 2048])
        params["n_epochs"] = trial.suggest_categorical("n_epochs", [1, 3, 5, 10])
        params["clip_range"] = trial.suggest_categorical("clip_range", [0.1, 0.2, 0.3])
    elif algo == "a2c":
        params["n_steps"] = trial.suggest_categorical("n_steps", [4, 8, 16, 32])
    else:
        params["batch_size"] = trial.suggest_categorical("batch_size", [64, 128, 256, 512])
        params["exploration_fraction"] = trial.suggest_float("exploration_fraction", 0.05, 0.5)
        params["exploration_final_eps"] = trial.suggest_float("exploration_final_eps", 0.01, 0.2)
        params["target_update_interval"] = trial.suggest_categorical("target_update_interval", [1000, 5000, 20000])
        params["gradient_steps"] = trial.suggest_categorical("gradient_steps", [1, 4, 8])
    width = trial.suggest_categorical("net_width", [32, 64, 128])
    depth = trial.suggest_categorical("net_depth", [1, 2])
    policy_kwargs = {
        "net_arch": [width] * depth,
        "activation_fn": trial.suggest_categorical("activation_fn", ["tanh", "relu"]),
    }
    return params, policy_kwargs


def trial_config(base: TrainConfig, params: dict[str, Any], policy_kwargs: dict[str, Any], source: str) -> TrainConfig:
    """Return ``base`` with sampled hyperparameters and policy_kwargs, validated like a training YAML."""
    data = config_dict(base)
    data["hyperparameters"] = {**data["hyperparameters"], **params}
    data["policy_kwargs"] = {**data["policy_kwargs"], **policy_kwargs}
    if "batch_size" in params and "n_steps" in data["hyperparameters"]:
        rollout = data["hyperparameters"]["n_steps"] * base.env.n_envs
        data["hyperparameters"]["batch_size"] = min(params["batch_size"], rollout)
    return validate_train_config(data, source)


def _trial_eval_callback(config: TrainConfig, eval_env, trial):
    """An evaluation callback that reports each evaluation's mean return to ``trial`` and stops a pruned trial."""
    if config.algo == "maskable_ppo":
        from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback as base
    else:
        from stable_baselines3.common.callbacks import EvalCallback as base

    class TrialEvalCallback(base):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.evaluations_done = 0
            self.is_pruned = False

        def _on_step(self) -> bool:
            if self.eval_freq <= 0 or self.n_calls % self.eval_freq != 0:
                return True
            continue_training = super()._on_step()
            self.evaluations_done += 1
            trial.report(self.last_mean_reward, self.evaluations_done)
            if trial.should_prune():
                self.is_pruned = True
                return False
            return continue_training

    return eval_callback(config, eval_env, None, callback_class=TrialEvalCallback)


def objective(trial, base: TrainConfig, source: str, progress: bool) -> float:
    """Train one trial and return its best evaluation's mean return per account; raise TrialPruned when pruned.

    The best, not the last, because ``arrears train`` keeps the best evaluated model as ``best_model.zip`` and the
    docs tell users to use that one: a trial is worth what its best model is worth.
    """
    import optuna

    params, policy_kwargs = sample_hyperparameters(trial, base.algo)
    config = trial_config(base, params, policy_kwargs, source)
    env = normalize(make_env(config, training_portfolio_seed(config.seed, 0), config.env.n_envs), config, True)
    eval_env = normalize(
        make_env(config, evaluation_portfolio_seed(config.seed), config.eval.n_accounts), config, False
    )
    model = algorithm_class(config.algo)(config.policy, env, seed=config.seed, verbose=0, **algorithm_kwargs(config))
    model.set_logger(silent_logger())
    callback = _trial_eval_callback(config, eval_env, trial)
    callbacks = [callback, progress_bar_callback()] if progress else [callback]
    try:
        with one_torch_thread():
            model.learn(config.total_timesteps, callback=callbacks)
    finally:
        env.close()
        eval_env.close()
    # SB3 trains whole rollouts, so a trial may train more timesteps than its budget.
    trial.set_user_attr("timesteps", int(model.num_timesteps))
    if callback.is_pruned:
        raise optuna.TrialPruned()
    if callback.evaluations_done == 0:
        raise RuntimeError(f"trial {trial.number} finished without an evaluation; eval.freq exceeds its timesteps")
    return callback.best_mean_reward


def best_config(base: TrainConfig, study, source: str) -> TrainConfig:
    """Rebuild the training config of the study's best trial."""
    import optuna

    params, policy_kwargs = sample_hyperparameters(optuna.trial.FixedTrial(study.best_trial.params), base.algo)
    return trial_config(base, params, policy_kwargs, source)


class _FirstChoiceTrial:
    """A stand-in for an Optuna trial that suggests each range's low end or the first choice.

    :func:`trial_settings` passes it to :func:`sample_hyperparameters` to learn which keys the search samples.
    """

    def suggest_float(self, name: str, low: float, high: float, log: bool = False) -> float:
        return low

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return choices[0]


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings into dotted key paths, such as ``{"env.horizon": 180}``. Lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _arrears_version() -> str | None:
    try:
        return metadata.version("arrears")
    except metadata.PackageNotFoundError:
        return None


def trial_settings(base: TrainConfig) -> dict[str, Any]:
    """Return what every trial of a study on ``base`` runs with, as dotted key paths and JSON values.

    That is the training config without the hyperparameters and ``policy_kwargs`` that :func:`sample_hyperparameters`
    samples, and without ``name``, ``description`` and the scenario's path. The scenario counts by the SHA-256 of its
    contents, so a moved scenario file stays the same setting. The timesteps per trial and the arrears version are
    added, because trial values measured under other ones are not comparable.
    """
    sampled_params, sampled_policy_kwargs = sample_hyperparameters(_FirstChoiceTrial(), base.algo)
    data = config_dict(base)
    for key in ("name", "description", "total_timesteps"):
        del data[key]
    del data["env"]["scenario"]
    for key in sampled_params:
        del data["hyperparameters"][key]
    for key in sampled_policy_kwargs:
        del data["policy_kwargs"][key]
    settings = _flatten(data)
    settings["scenario_sha256"] = Scenario.load(base.env.scenario).config_hash()
    settings["timesteps_per_trial"] = base.total_timesteps
    settings["arrears_version"] = _arrears_version()
    return settings


def settings_fingerprint(settings: dict[str, Any]) -> str:
    """Return the SHA-256 of ``settings`` as canonical JSON (sorted keys)."""
    return json_sha256(settings)


def _describe_settings(keys: Sequence[str], settings: dict[str, Any]) -> str:
    """Write ``keys`` and their values in ``settings`` as a list, such as "env.horizon 60 and seed 0"."""
    parts = []
    for key in keys:
        value = settings.get(key, "missing")
        if key == "scenario_sha256" and isinstance(value, str):
            value = value[:12]
        parts.append(f"{_SETTING_LABELS.get(key, key)} {short_repr(value)}")
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def check_study_settings(study, settings: dict[str, Any], source: str, study_name: str) -> None:
    """Record ``settings`` in a new study, or raise :class:`ConfigError` unless a continued study recorded the same.

    A study's best trial is written out as the tuned config, so all its trials must have run with the same settings:
    a trial run with another horizon or scenario measured another problem. A study that has trials but no record was
    created before arrears recorded one, and is rejected too, because its trials cannot be checked.
    """
    recorded = study.user_attrs.get(TRIAL_SETTINGS_ATTR)
    if recorded is None:
        trials = len(study.get_trials(deepcopy=False))
        if trials:
            raise ConfigError(
                source,
                "--study-name",
                f"study {short_repr(study_name)} in --storage has {trials} trials from an arrears version that did "
                "not record the settings they ran with, so they cannot be checked against this config; name a new "
                "--study-name",
            )
        study.set_user_attr(TRIAL_SETTINGS_ATTR, {"sha256": settings_fingerprint(settings), "settings": settings})
        # Read back, so that of two processes creating the study at once with different settings, the one whose
        # record was overwritten stops here.
        # NOTE: a process that reads back before the other one writes still runs its trials into the study.
        recorded = study.user_attrs.get(TRIAL_SETTINGS_ATTR)
    if not isinstance(recorded, dict) or not isinstance(recorded.get("settings"), dict):
        raise ConfigError(
            source,
            "--study-name",
            f"study {short_repr(study_name)} in --storage has an unreadable {TRIAL_SETTINGS_ATTR} attribute, so its "
            "trials cannot be checked against this config; name a new --study-name",
        )
    if recorded.get("sha256") == settings_fingerprint(settings) and recorded["settings"] == settings:
        return
    earlier = recorded["settings"]
    differing = sorted(key for key in earlier.keys() | settings.keys() if earlier.get(key) != settings.get(key))
    listed = differing[:LISTED_DIFFERENCES]
    more = len(differing) - len(listed)
    further = f" (and {more} more setting{'s' if more != 1 else ''})" if more else ""
    raise ConfigError(
        source,
        "--study-name",
        f"study {short_repr(study_name)} in --storage ran its trials with {_describe_settings(listed, earlier)}, but "
        f"this run has {_describe_settings(listed, settings)}{further}; their results are not comparable, so tune "
        "with the study's settings or name a new --study-name",
    )


def warmed_up_pruner():
    """Build the median pruner, which prunes no trial before its evaluation number ``WARMUP_EVALUATIONS + 1``.

    Trials report evaluations as steps 1, 2, ..., and Optuna's ``n_warmup_steps`` allows pruning from that step on
    (Optuna 5.1), so it is one more than the evaluations that are never pruned.
    """
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=WARMUP_EVALUATIONS + 1)


def tune(
    base: TrainConfig,
    source: str,
    trials: int,
    storage: str | None = None,
    study_name: str | None = None,
    seed: int = 0,
    progress: bool = False,
    on_trial=None,
):
    """Run ``trials`` trials of an Optuna study, created or continued from ``storage``, and return the study.

    A new study records :func:`trial_settings` of ``base``, and a continued one must have recorded the same (see
    :func:`check_study_settings`), or :class:`ConfigError` is raised before any trial runs.
    """
    import optuna
    import sqlalchemy.exc  # optuna's RDB storage is built on SQLAlchemy

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=STARTUP_TRIALS)
    pruner = warmed_up_pruner()
    try:
        study = _create_or_load_study(study_name or f"{base.algo}-{base.name}", storage, sampler, pruner)
    except (ValueError, ImportError, optuna.exceptions.StorageInternalError, sqlalchemy.exc.SQLAlchemyError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            _without_password(str(storage)),
            "--storage",
            f"cannot open the Optuna storage ({reason}); give a URL such as sqlite:///study.db",
        ) from None
    check_study_settings(study, trial_settings(base), source, study.study_name)
    if study.trials:
        # A continued study seeds its sampler with the trials it already has, so that it does not propose its first
        # trials again. NOTE: processes that join one study at the same time with the same --seed and trial count
        # still draw the same start-up trials.
        study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials), n_startup_trials=STARTUP_TRIALS)
    callbacks = [] if on_trial is None else [on_trial]
    study.optimize(
        lambda trial: objective(trial, base, source, progress),
        n_trials=trials,
        callbacks=callbacks,
        catch=(),
    )
    return study


#: Attempts at opening a study while other processes create the same new storage, and the first pause between them.
STORAGE_ATTEMPTS = 5
STORAGE_PAUSE_SECONDS = 0.5


def _create_or_load_study(study_name: str, storage: Any, sampler: Any, pruner: Any) -> Any:
    """Create the study, or load it when it exists, retrying while another ``arrears tune`` creates the storage.

    Processes started together on a new storage race to create its tables and the study. A process that loses gets
    SQLAlchemy's IntegrityError, or an OperationalError saying that a table already exists, although the storage is
    complete a moment later. Each retry waits longer than the one before, 0.5 s, 1 s and so on.
    """
    import optuna
    import sqlalchemy.exc

    def create() -> Any:
        return optuna.create_study(
            study_name=study_name,
            storage=storage,
            sampler=sampler,
            pruner=pruner,
            direction="maximize",
            load_if_exists=True,
        )

    for attempt in range(1, STORAGE_ATTEMPTS):
        try:
            return create()
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError) as exc:
            lost_race = isinstance(exc, sqlalchemy.exc.IntegrityError) or "already exists" in str(exc)
            if not lost_race:
                raise
            time.sleep(STORAGE_PAUSE_SECONDS * attempt)
    # The last attempt raises whatever it meets.
    return create()


def _without_password(url: str) -> str:
    """Return the storage ``url`` with the password of ``scheme://user:password@host`` replaced by ***."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def _is_tune_result(path: Path) -> bool:
    """Return whether ``path`` contains a config that an earlier ``arrears tune`` wrote, which a new run may replace."""
    try:
        data = load_yaml_mapping(path)
    except ConfigError:
        return False
    if "algo" not in data:
        return False
    description = data.get("description")
    return isinstance(description, str) and _TUNE_DESCRIPTION.match(description) is not None


def check_tune_output(out: Path, config: Path) -> None:
    """Raise :class:`ConfigError` naming ``--out`` unless the best config may be written to ``out``.

    Checked before the first trial. ``out`` must be a new file, or one that an earlier ``arrears tune`` wrote (so a
    continued study rewrites its own result), and never the ``--config`` file.
    """
    check_writable_file(out, "--out")
    if not out.exists():
        return
    if config.exists() and out.samefile(config):
        raise ConfigError(str(out), "--out", "is the --config file, which tune would overwrite; name a new file")
    if not _is_tune_result(out):
        raise ConfigError(str(out), "--out", "exists and is not a config written by arrears tune; name a new file")


def run_tune_command(args) -> int:
    """Run ``arrears tune`` for parsed arguments: print each trial, the best parameters, and write the best YAML."""
    require_rl_packages("arrears tune", ("optuna", "stable_baselines3", "torch"))
    import optuna

    source = str(args.config or shipped_config(args.algo or "ppo"))
    base = load_train_config(source)
    if args.algo is not None and base.algo != args.algo:
        raise ConfigError(source, "algo", f"is {base.algo!r}, but --algo is {args.algo!r}")
    if not 0 <= args.seed < 2**31:
        raise ConfigError("arrears tune", "--seed", f"must be from 0 to 2**31 - 1, got {args.seed}")
    base = base.model_copy(update={"seed": args.seed})
    if args.timesteps is not None:
        base = base.model_copy(update={"total_timesteps": args.timesteps})
    # The study name becomes the default output's file name, so it is checked like a config's name.
    study_name = f"{base.algo}-{base.name}" if args.study_name is None else args.study_name
    study_name = validate_name(study_name, "arrears tune", "--study-name")
    out = args.out or RESULTS_DIR / "tune" / f"{study_name}.yaml"
    check_tune_output(out, Path(source))
    if base.eval.freq > base.total_timesteps:
        raise ConfigError(
            source,
            "eval.freq",
            f"{base.eval.freq} exceeds the {base.total_timesteps} timesteps of a trial, so no trial would be "
            "evaluated; lower eval.freq or raise --timesteps",
        )

    def report(study, trial) -> None:
        if trial.state == optuna.trial.TrialState.COMPLETE:
            outcome = f"mean evaluation return {trial.value:,.2f}"
        else:
            outcome = trial.state.name.lower()
        print(f"trial {trial.number}: {outcome}", file=sys.stderr)

    study = tune(base, source, args.trials, args.storage, study_name, args.seed, not args.no_progress, report)
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not finished:
        print(f"study {study_name}: no trial has finished (all pruned or failed); run more trials", file=sys.stderr)
        return 1
    best = best_config(base, study, source)
    data = config_dict(best)
    trained = study.best_trial.user_attrs.get("timesteps", base.total_timesteps)
    budget = "" if trained == base.total_timesteps else f" (a budget of {base.total_timesteps:,}, in whole rollouts)"
    data["description"] = (
        f"Best of {len(finished)} finished trials of Optuna study {study_name!r}, mean evaluation return "
        f"{study.best_value:,.2f} per account after {trained:,} timesteps of training{budget}."
    )
    atomic_write_text(out, yaml.safe_dump(data, sort_keys=False))
    print(f"best trial {study.best_trial.number}: mean evaluation return {study.best_value:,.2f}")
    for key, value in study.best_trial.params.items():
        print(f"  {key}: {value}")
    print(f"wrote {out}; train with it: arrears train --config {out}")
    return 0
