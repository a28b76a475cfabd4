"""Run an experiment: every policy on every seed, in joblib worker processes, into a run directory.

Each cell (policy, seed) is a pure function of its spec, so the results are the same whatever the worker count.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from joblib import Parallel, delayed
from tqdm.auto import tqdm

import policies
from experiments.config import LoadedExperiment, load_config
from policies.split import ChampionChallenger
from sim.atomic import UMASK, atomic_write, atomic_write_text
from sim.errors import ConfigError
from sim.scenario import Scenario
from sim.simulate import simulate

logger = logging.getLogger(__name__)

RESULTS_DIR = Path("results")
REPORTED_PACKAGES = ("numpy", "pandas", "pyarrow", "simpy", "scipy", "matplotlib", "pydantic", "joblib")


@dataclass
class ExperimentResult:
    """Outcome of :func:`run`: metrics (one row per scenario × policy × seed), the daily series, the run directory."""

    metrics: pd.DataFrame
    daily: pd.DataFrame
    path: Path | None
    assignment: pd.DataFrame | None = None
    """Champion/challenger splits only: the arm of every account on every seed (split, seed, account, arm)."""


def build_policy(name: str, spec: str | dict[str, tuple[str, float]]):
    """Build a policy from its resolved spec, or a champion/challenger split from its arms."""
    if isinstance(spec, dict):
        return ChampionChallenger(name, {arm: (policies.load(path), share) for arm, (path, share) in spec.items()})
    return policies.load(spec)


def run_cell(
    scenario: Scenario, scenario_name: str, name: str, spec: str | dict, n_accounts: int, days: int, seed: int
):
    """Simulate one policy (or split) on one seed; return its metrics rows, daily rows and arm assignment."""
    started = time.perf_counter()
    policy = build_policy(name, spec)
    result = simulate(scenario, policy, n_accounts=n_accounts, days=days, seed=seed)
    metrics = result.metrics.assign(scenario=scenario_name)
    daily = result.daily.assign(scenario=scenario_name, policy=result.metrics.at[0, "policy"], seed=seed)
    assignment = None
    if isinstance(policy, ChampionChallenger):
        arms = np.array(policy.arm_names, dtype=object)[policy.assignment]
        assignment = pd.DataFrame({"split": name, "seed": seed, "account": np.arange(n_accounts), "arm": arms})
    return metrics, daily, assignment, time.perf_counter() - started


def run(
    config: LoadedExperiment | str | Path,
    out: str | Path | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> ExperimentResult:
    """Run every policy of ``config`` on every seed; write the run directory to ``out`` when given.

    :param config: a loaded experiment or the path of an experiment YAML
    :param out: run directory to write (created if missing; files in it are replaced atomically), or None
    :param workers: joblib worker processes; None uses every core, capped at the number of cells
    :param progress: show a progress bar on standard error
    """
    experiment = config if isinstance(config, LoadedExperiment) else load_config(config)
    path = Path(out) if out is not None else None
    if path is not None:
        check_run_directory(path)
    cfg = experiment.config
    seeds = cfg.seed_list
    every_spec = {**experiment.policy_specs, **experiment.split_specs}
    cells = [(name, spec, seed) for name, spec in every_spec.items() for seed in seeds]
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(cells)))
    scenario_name = experiment.scenario.name

    started_at = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    logger.info(
        "running %d cells (%d policies x %d seeds) on %d workers",
        len(cells),
        len(experiment.policy_specs),
        len(seeds),
        n_workers,
    )
    jobs = (
        delayed(run_cell)(experiment.scenario, scenario_name, name, spec, cfg.n_accounts, cfg.horizon_days, seed)
        for name, spec, seed in cells
    )
    outputs = Parallel(n_jobs=n_workers, return_as="generator")(jobs)
    results = list(tqdm(outputs, total=len(cells), desc=cfg.name, unit="cell", disable=not progress))

    metrics = pd.concat([m for m, _, _, _ in results], ignore_index=True)
    daily = pd.concat([d for _, d, _, _ in results], ignore_index=True)
    metrics = _order_columns(metrics, ["scenario", "policy", "seed"])
    daily = _order_columns(daily, ["scenario", "policy", "seed", "day"])
    assignments = [a for _, _, a, _ in results if a is not None]
    assignment = pd.concat(assignments, ignore_index=True) if assignments else None
    cell_seconds = [s for _, _, _, s in results]

    if out is not None:
        manifest = _manifest(experiment, cells, cell_seconds, started_at, time.perf_counter() - clock, n_workers)
        write_run_directory(path, experiment, metrics, daily, manifest, assignment)
    return ExperimentResult(metrics=metrics, daily=daily, path=path, assignment=assignment)


def _order_columns(frame: pd.DataFrame, first: list[str]) -> pd.DataFrame:
    return frame[first + [c for c in frame.columns if c not in first]]


RUN_FILES = ("config.yaml", "metrics.parquet", "daily.parquet", "manifest.json", "report.html")


def check_run_directory(path: Path) -> None:
    """Raise :class:`ConfigError` unless ``path`` can become a run directory: absent, empty or an earlier run.

    Checked before any simulation, so that a bad ``--out`` fails at once and never overwrites a user's files.
    """
    if path.exists() and not path.is_dir():
        raise ConfigError(str(path), "--out", "exists and is not a directory; name a new or run directory")
    if path.is_dir():
        entries = {entry.name for entry in path.iterdir()}
        if entries and not (path / "manifest.json").is_file():
            raise ConfigError(
                str(path), "--out", "is a non-empty directory that is not an arrears run; name a new directory"
            )
    parent = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(str(path), "--out", f"cannot be created: {parent} is not a writable directory")


def write_run_directory(
    path: Path,
    experiment: LoadedExperiment,
    metrics: pd.DataFrame,
    daily: pd.DataFrame,
    manifest: dict,
    assignment: pd.DataFrame | None = None,
) -> None:
    """Write config.yaml, metrics.parquet, daily.parquet, manifest.json and report.html as one unit.

    The files are written into a temporary directory beside ``path``, which then replaces ``path`` by renames, so
    an interrupted or failed write leaves the earlier run (or nothing), never a mix of two runs.
    """
    from experiments.report import write_report

    check_run_directory(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        resolved = experiment.resolved_dict()
        atomic_write_text(staging / "config.yaml", yaml.safe_dump(resolved, sort_keys=False, allow_unicode=True))
        atomic_write(staging / "metrics.parquet", lambda tmp: metrics.to_parquet(tmp, index=False))
        atomic_write(staging / "daily.parquet", lambda tmp: daily.to_parquet(tmp, index=False))
        atomic_write_text(staging / "manifest.json", json.dumps(manifest, indent=2) + "\n")
        if assignment is not None:
            atomic_write(staging / "assignment.parquet", lambda tmp: assignment.to_parquet(tmp, index=False))
        write_report(staging)
        os.chmod(staging, 0o777 & ~UMASK)
        _replace_directory(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _replace_directory(new: Path, target: Path) -> None:
    """Put ``new`` at ``target``; an earlier run there is moved aside first and deleted after."""
    if not target.exists():
        os.replace(new, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.replace(target, old / target.name)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old / target.name, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _manifest(
    experiment: LoadedExperiment,
    cells: list[tuple[str, str, int]],
    cell_seconds: list[float],
    started_at: dt.datetime,
    elapsed: float,
    n_workers: int,
) -> dict:
    resolved = experiment.resolved_dict()
    config_sha = hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()
    return {
        "arrears_version": _version("arrears"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in REPORTED_PACKAGES},
        "git_commit": _git_commit(),
        "config_source": experiment.source,
        "config_sha256": config_sha,
        "scenario_sha256": experiment.scenario.config_hash(),
        "seeds": experiment.config.seed_list,
        "workers": n_workers,
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "elapsed_seconds": round(elapsed, 3),
        "cells": [
            {"policy": name, "seed": seed, "seconds": round(seconds, 3), "finished": True}
            for (name, _, seed), seconds in zip(cells, cell_seconds, strict=True)
        ],
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    """Return the commit of the arrears source tree when it is a git checkout, else None (an installed wheel)."""
    source_dir = Path(__file__).resolve().parent
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=source_dir,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() or None if completed.returncode == 0 else None
