"""Run an experiment grid (scenarios × policies × seeds) in joblib processes or on a Dask cluster, into a run directory.

Each cell is a pure function of its spec (scenario parameters, policy, accounts, days, seed), so the results are the
same to the last bit whatever the backend or worker count. With a run directory, every finished cell is saved under
``cells/`` as soon as it completes, and a rerun into the same directory skips the cells already saved there.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import io
import json
import logging
import os
import platform
import queue
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib.externals.loky import get_reusable_executor
from pydantic import BaseModel
from tqdm.auto import tqdm

import policies
from experiments.config import LoadedExperiment, config_yaml, json_sha256, load_config
from policies.split import ChampionChallenger
from sim.atomic import UMASK, atomic_write, atomic_write_text
from sim.errors import ConfigError, parse_json, short_repr
from sim.scenario import Scenario
from sim.simulate import simulate

logger = logging.getLogger(__name__)

RESULTS_DIR = Path("results")
REPORTED_PACKAGES = ("numpy", "pandas", "pyarrow", "simpy", "scipy", "matplotlib", "pydantic", "joblib", "distributed")
BACKENDS = ("local", "dask")
#: Seconds to wait for a Dask scheduler to accept the connection.
SCHEDULER_TIMEOUT_SECONDS = 30
#: Subfolder of a run directory with one folder per finished cell, and the grid of the latest run in grid.json.
CELLS_DIR = "cells"
#: Tries to lock a run directory whose lock file other runs keep deleting and creating.
LOCK_ATTEMPTS = 5
GRID_FILE = "grid.json"
#: Files and folders of an `arrears train` run (experiments.train), which has a manifest.json as a run has.
TRAINING_RUN_ENTRIES = frozenset({"model.zip", "best_model.zip", "evaluations.npz", "checkpoints"})
#: Part of every cell key; bump it when the files of a cell change, so that older cells are not reused.
CELL_FORMAT = 1
CELL_FILES = ("metrics.parquet", "daily.parquet", "cell.json")


@dataclass
class ExperimentResult:
    """Outcome of :func:`run`: metrics (one row per scenario × policy × seed), the daily series, the run directory."""

    metrics: pd.DataFrame
    daily: pd.DataFrame
    path: Path | None
    assignment: pd.DataFrame | None = None
    """Champion/challenger splits only: the arm of every account (scenario, split, seed, account, arm)."""
    cells_reused: int = 0
    """Cells read back from an earlier, interrupted or smaller run in the same run directory."""


@dataclass(frozen=True)
class Cell:
    """One simulation of the grid: a policy or split on one scenario and seed, keyed by the SHA-256 of its spec."""

    scenario: str
    policy: str
    seed: int
    key: str


@dataclass(frozen=True)
class CellOutput:
    """A finished cell as parquet bytes, so that every backend returns, saves and reads back the same frames."""

    metrics: bytes
    daily: bytes
    assignment: bytes | None
    seconds: float


#: From this many accounts, a cell frees its model with a full garbage collection before it returns.
COLLECT_AFTER_ACCOUNTS = 100_000


def build_policy(name: str, spec: str | dict[str, tuple[str, float]]):
    """Build a policy from its resolved spec, or a champion/challenger split from its arms.

    Waterfalls load without warnings, because loading the experiment config warned once already.
    """
    if isinstance(spec, dict):
        arms = {arm: (policies.load(path, warn=False), share) for arm, (path, share) in spec.items()}
        return ChampionChallenger(name, arms)
    return policies.load(spec, warn=False)


def compute_cell(
    scenario: Scenario,
    name: str,
    spec: str | dict,
    n_accounts: int,
    days: int,
    seed: int,
    fingerprint: Any = None,
) -> CellOutput:
    """Simulate one policy (or split) on one scenario and seed; return its metrics, daily rows and arm assignment.

    ``fingerprint`` is the policy's :func:`_policy_fingerprint` when the run planned its cells. A worker reads the
    policy's files again, so it raises :class:`ConfigError` when they no longer match: the cell would be saved under
    the key of the file as planned but computed from the file as edited since.
    """
    started = time.perf_counter()
    policy = build_policy(name, spec)
    # The policy as loaded here is the one that runs, so it is the one compared with the plan.
    if fingerprint is not None and _policy_fingerprint(spec, policy) != fingerprint:
        files = sorted(path for path, _ in spec.values()) if isinstance(spec, dict) else [spec]
        raise ConfigError(
            ", ".join(files),
            "",
            f"policy {short_repr(name)} changed on disk after the run started, so its cells would mix two versions; "
            "once the file stays unchanged, rerun with it as it was, or with the new file and a new --out",
        )
    result = simulate(scenario, policy, n_accounts=n_accounts, days=days, seed=seed)

    metrics = _order_columns(result.metrics.assign(scenario=scenario.name), ["scenario", "policy", "seed"])
    daily = result.daily.assign(scenario=scenario.name, policy=result.metrics.at[0, "policy"], seed=seed)
    daily = _order_columns(daily, ["scenario", "policy", "seed", "day"])
    assignment = None
    if isinstance(policy, ChampionChallenger):
        arms = np.array(policy.arm_names, dtype=object)[policy.assignment]
        assignment = pd.DataFrame(
            {"scenario": scenario.name, "split": name, "seed": seed, "account": np.arange(n_accounts), "arm": arms}
        )
    metrics_blob, daily_blob = _to_parquet(metrics), _to_parquet(daily)
    assignment_blob = None if assignment is None else _to_parquet(assignment)
    # The finished model sits in reference cycles, which reference counting does not free. Without a collection, a
    # 1M-account model (about 500 MB) stayed alive while the next cell ran, until Python's next full collection. A
    # collection takes about 40 ms, a fifth of a 10,000-account cell, so small cells leave it to Python.
    del result, policy, metrics, daily, assignment
    if n_accounts >= COLLECT_AFTER_ACCOUNTS:
        gc.collect()
    return CellOutput(
        metrics=metrics_blob,
        daily=daily_blob,
        assignment=assignment_blob,
        seconds=time.perf_counter() - started,
    )


def _compute_indexed(index: int, *args) -> tuple[int, CellOutput]:
    return index, compute_cell(*args)


def run(
    config: LoadedExperiment | str | Path,
    out: str | Path | None = None,
    workers: int | None = None,
    progress: bool = True,
    backend: str = "local",
    scheduler: str | None = None,
) -> ExperimentResult:
    """Run every policy of ``config`` on every scenario and seed; write the run directory to ``out`` when given.

    :param config: a loaded experiment or the path of an experiment YAML
    :param out: run directory, created if missing. Cells finished there by an earlier run of the same grid, or of a
        grid that this one extends, are read back instead of simulated again
    :param workers: processes that compute cells with the local backend: this one and ``workers - 1`` joblib (loky)
        worker processes. None uses one per core, capped at the cell count
    :param progress: show a progress bar on standard error
    :param backend: ``"local"`` (joblib processes) or ``"dask"`` (the Dask cluster at ``scheduler``)
    :param scheduler: the Dask scheduler's address, such as ``tcp://127.0.0.1:8786``; only with ``backend="dask"``
    :raises ConfigError: when ``out`` is not a new, empty or run directory, or holds a run of an incompatible grid
    """
    _check_backend(backend, scheduler, workers)
    if not isinstance(config, LoadedExperiment | str | Path):
        raise TypeError(
            f"config must be the result of experiments.load_config(path) or the path of an experiment YAML, "
            f"got {type(config).__name__}"
        )
    experiment = config if isinstance(config, LoadedExperiment) else load_config(config)
    path = _resolve_out(Path(out)) if out is not None else None
    if path is not None:
        check_run_directory(path)  # before the lock file beside it is created
    with _exclusive_run_directory(path):
        return _run(experiment, path, workers, progress, backend, scheduler)


def _resolve_out(path: Path) -> Path:
    """Return ``path`` with symbolic links resolved, so that two names of one directory share one lock.

    Raises :class:`ConfigError` when it is the current directory or contains it: a run replaces its directory.
    """
    resolved = path.resolve()
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise ConfigError(
            str(path),
            "--out",
            "is the current directory or contains it, which a run would replace; name a new "
            "directory such as results/NAME",
        )
    return resolved


@contextmanager
def _exclusive_run_directory(
    path: Path | None, option: str = "--out", command: str = "run", advice: str = "wait for it or name another"
) -> Iterator[None]:
    """Hold a lock on ``path`` as a run directory for the duration, or raise :class:`ConfigError` if a run holds it.

    The lock is an advisory ``flock`` on a hidden file beside the directory (``.NAME.lock``), because the directory
    itself is replaced when the run is written. The file is deleted before the lock is released, and a run that
    locked a file that another run has since deleted tries again, so two runs never both hold a lock. A killed run
    leaves its file behind, unlocked, for the next run to take. Where ``fcntl`` is missing (Windows), runs are not
    locked.

    ``arrears run`` and ``arrears train`` both lock their run directory, and ``arrears report`` the run directory it
    reads and writes into. The error names the caller's ``option``, the ``command`` that most likely holds the lock
    and the ``advice``.
    """
    try:
        import fcntl
    except ImportError:
        fcntl = None
    if path is None or fcntl is None:
        yield
        return
    busy = ConfigError(str(path), option, f"another arrears {command} is writing to this directory; {advice}")
    lock_path = path.parent / f".{path.name}.lock"
    for _ in range(LOCK_ATTEMPTS):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock_file = open(lock_path, "a+b")
        except OSError as exc:
            raise ConfigError(str(path), option, f"cannot create the lock file {lock_path}: {exc.strerror}") from None
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            raise busy from None
        try:
            current = os.stat(lock_path)
        except FileNotFoundError:
            current = None
        if current is not None and os.path.samestat(os.fstat(lock_file.fileno()), current):
            break
        lock_file.close()  # the run that held the file deleted it, so lock the new one
    else:
        raise busy
    try:
        yield
    finally:
        lock_path.unlink(missing_ok=True)
        fcntl.flock(lock_file, fcntl.LOCK_UN)
        lock_file.close()


def _run(
    experiment: LoadedExperiment,
    path: Path | None,
    workers: int | None,
    progress: bool,
    backend: str,
    scheduler: str | None,
) -> ExperimentResult:
    cells, arguments = plan_cells(experiment)
    # Every cell of a policy carries its fingerprint, so each policy is hashed once.
    fingerprints = {argument[1]: argument[6] for argument in arguments}
    policy_sha256 = {name: _fingerprint_sha256(fingerprint) for name, fingerprint in fingerprints.items()}
    _warn_changed_policies(experiment.source, policy_sha256)

    # Check the run directory before anything is written or simulated, so that bad input changes nothing.
    store = None
    if path is not None:
        check_run_directory(path)
        check_resume(path, experiment, cells)
        store = CellStore(path / CELLS_DIR)
    finished = {cell.key for cell in cells if store is not None and store.is_finished(cell.key)}
    todo = [i for i, cell in enumerate(cells) if cell.key not in finished]

    started_at = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    with _executor(backend, scheduler, workers, len(todo)) as (execute, n_workers):
        if store is not None:
            store.prepare(experiment, cells)
        logger.info(
            "running %d of %d cells (%d scenarios x %d policies and splits x %d seeds) on %d %s workers",
            len(todo),
            len(cells),
            len(experiment.scenarios),
            len(experiment.policy_specs) + len(experiment.split_specs),
            len(experiment.config.seed_list),
            n_workers,
            backend,
        )
        fresh: dict[str, CellOutput] = {}
        # Each finished cell's parquet is read as it arrives, while other cells still compute, because reading 40
        # cells took about 0.12 s. That time would otherwise come after the last cell.
        tables: dict[str, _CellTables] = {}
        bar = tqdm(
            total=len(cells), initial=len(finished), desc=experiment.config.name, unit="cell", disable=not progress
        )
        with bar:
            for index, output in execute([arguments[i] for i in todo]):
                cell = cells[todo[index]]
                if store is not None:
                    store.save(cell, output)
                fresh[cell.key] = output
                tables[cell.key] = _read_cell(output)
                bar.update()

    # Assemble in grid order, never in completion order, so that every backend writes the same files.
    outputs = [fresh[cell.key] if cell.key in fresh else store.load(cell.key) for cell in cells]
    cell_tables = [
        tables[cell.key] if cell.key in tables else _read_cell(output)
        for cell, output in zip(cells, outputs, strict=True)
    ]
    metrics, daily, assignment = _assemble(cell_tables)
    if path is not None:
        elapsed = time.perf_counter() - clock
        runtime = {"backend": backend, "scheduler": scheduler, "workers": n_workers}
        manifest = _manifest(experiment, cells, outputs, finished, started_at, elapsed, runtime, policy_sha256)
        write_run_directory(path, experiment, metrics, daily, manifest, assignment)
    return ExperimentResult(metrics=metrics, daily=daily, path=path, assignment=assignment, cells_reused=len(finished))


@dataclass(frozen=True)
class _CellTables:
    """A finished cell's frames read from their parquet bytes, as Arrow tables."""

    metrics: Any
    daily: Any
    assignment: Any | None


def _read_cell(output: CellOutput) -> _CellTables:
    return _CellTables(
        metrics=_read_parquet(output.metrics),
        daily=_read_parquet(output.daily),
        assignment=None if output.assignment is None else _read_parquet(output.assignment),
    )


def _read_parquet(blob: bytes):
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pq.read_table(pa.BufferReader(blob))


def _assemble(cells: list[_CellTables]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """Concatenate the cells' metrics, daily rows and arm assignments in the order given."""
    metrics = _concat_tables([cell.metrics for cell in cells])
    daily = _concat_tables([cell.daily for cell in cells])
    assignments = [cell.assignment for cell in cells if cell.assignment is not None]
    assignment = _concat_tables(assignments) if assignments else None
    return metrics, daily, assignment


def _concat_parquet(blobs: list[bytes]) -> pd.DataFrame:
    """Read parquet files (as bytes) and concatenate their rows in order, with a fresh index."""
    return _concat_tables([_read_parquet(blob) for blob in blobs])


def _concat_tables(tables: list) -> pd.DataFrame:
    """Concatenate Arrow tables' rows in order into one frame, with a fresh index."""
    import pyarrow as pa

    try:
        # One conversion to pandas instead of one per cell: 0.14 s against 0.22 s for 40 cells of 180 days each, in
        # one measurement.
        return pa.concat_tables(tables).to_pandas()
    except pa.ArrowInvalid:
        # Cells saved by another version of arrears may differ in a column's type, which pandas reconciles.
        return pd.concat([table.to_pandas() for table in tables], ignore_index=True)


def plan_cells(experiment: LoadedExperiment) -> tuple[list[Cell], list[tuple]]:
    """List the grid's cells in order (scenario, then policy and split, then seed) with their arguments.

    The second list contains the arguments of :func:`compute_cell` for each cell.
    """
    cfg = experiment.config
    every_spec = {**experiment.policy_specs, **experiment.split_specs}
    fingerprints = {name: _policy_fingerprint(spec) for name, spec in every_spec.items()}
    version = _version("arrears")
    cells: list[Cell] = []
    arguments: list[tuple] = []
    for scenario in experiment.scenarios:
        parameters = scenario.model_dump(mode="json")
        for name, spec in every_spec.items():
            for seed in cfg.seed_list:
                spec_of_cell = {
                    "format": CELL_FORMAT,
                    "arrears_version": version,
                    "scenario": parameters,
                    "policy": name,
                    "policy_spec": fingerprints[name],
                    "n_accounts": cfg.n_accounts,
                    "days": cfg.horizon_days,
                    "seed": seed,
                }
                key = json_sha256(spec_of_cell)
                cells.append(Cell(scenario=scenario.name, policy=name, seed=seed, key=key))
                arguments.append((scenario, name, spec, cfg.n_accounts, cfg.horizon_days, seed, fingerprints[name]))
    return cells, arguments


def _policy_fingerprint(spec: str | dict[str, tuple[str, float]], policy: Any = None) -> Any:
    """Describe a policy by content, so that an edited waterfall file gets new cell keys but a moved one does not.

    A waterfall is described by its parsed spec and, when its segments read a risk score, by the numbers of the
    score it loaded, so that an edited score file gets new cell keys too. Another file is described by its SHA-256,
    a policy written in Python by its name. ``policy`` is the policy :func:`build_policy` built from ``spec``, or
    None to load it here.
    """
    if isinstance(spec, dict):
        arm_policies = [None] * len(spec) if policy is None else policy.policies
        return {
            arm: [_policy_fingerprint(path, arm_policy), share]
            for (arm, (path, share)), arm_policy in zip(spec.items(), arm_policies, strict=True)
        }
    if policy is None:
        policy = policies.load(spec, warn=False)
    waterfall = getattr(policy, "spec", None)
    if isinstance(waterfall, BaseModel):
        fingerprint = {"waterfall": waterfall.model_dump(mode="json")}
        score = getattr(policy, "score", None)
        if score is not None:
            # The score's metadata (training sample counts) does not change a decision, so it is left out.
            fingerprint["score"] = {
                "feature_names": list(score.feature_names),
                "coefficients": [float(value) for value in score.coefficients],
                "intercept": float(score.intercept),
            }
        return fingerprint
    # A learned policy hashes the bytes it loads its model from, so the hash describes the model that runs.
    file_sha256 = getattr(policy, "sha256", None)
    if file_sha256 is not None:
        return {"file_sha256": file_sha256}
    if Path(spec).is_file():
        return {"file_sha256": hashlib.sha256(Path(spec).read_bytes()).hexdigest()}
    # NOTE: the code of a policy written in Python is not hashed. An edit to it between an interrupted run and its
    # rerun goes unnoticed unless the arrears version changes too.
    return {"name": spec}


# -- backends -----------------------------------------------------------------------------------------------------


def _check_backend(backend: str, scheduler: str | None, workers: int | None) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "dask" and not scheduler:
        raise ValueError("backend 'dask' needs the scheduler's address, such as scheduler='tcp://127.0.0.1:8786'")
    if backend == "dask" and workers is not None:
        raise ValueError("workers applies to the local backend; a Dask cluster's workers are set where it starts")
    if backend == "local" and scheduler is not None:
        raise ValueError("scheduler applies to backend 'dask' only")


@contextmanager
def _executor(backend: str, scheduler: str | None, workers: int | None, n_cells: int):
    """Yield ``(execute, n_workers)``, where ``execute(arguments)`` yields ``(index, CellOutput)`` as cells finish."""
    if backend == "local":
        n_workers = max(1, min(workers or _usable_cores(), n_cells))
        yield (lambda arguments: _execute_local(arguments, n_workers)), n_workers
        return
    with _dask_client(scheduler) as client:
        n_workers = len(client.nthreads())
        if n_workers == 0 and n_cells:
            logger.warning("the Dask cluster at %s has no workers yet; cells wait until one joins", scheduler)
        yield (lambda arguments: _execute_dask(client, arguments)), n_workers


def _usable_cores() -> int:
    """Return the cores this process may run on (its CPU affinity where the platform reports it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _execute_local(arguments: list[tuple], n_workers: int) -> Iterator[tuple[int, CellOutput]]:
    """Compute cells in a thread of this process and in ``n_workers - 1`` worker processes; yield them as they finish.

    This process computes cells too, because a worker process takes most of a second to start (it imports numpy,
    pandas and SciPy) and this one needs no start. Its cells run in a thread, so that the calling thread yields each
    finished cell at once, from the thread or from a worker, and gives a free worker its next cell at once. The thread
    takes cells from the front of the queue and the workers from the back, one cell per worker at a time.
    """
    cells = deque(enumerate(arguments))
    if n_workers == 1 or len(cells) == 1:
        for index, args in cells:
            yield _compute_indexed(index, *args)
        return

    # Finished cells from both sides: (index, output) from the thread, a Future from a worker, or the thread's error.
    finished: queue.SimpleQueue = queue.SimpleQueue()
    lock = threading.Lock()
    stop = threading.Event()

    def compute_here() -> None:
        while not stop.is_set():
            with lock:
                if not cells:
                    return
                index, args = cells.popleft()
            try:
                finished.put(_compute_indexed(index, *args))
            except BaseException as exc:  # raised again in the calling thread
                finished.put(exc)
                return

    def hand_out() -> None:
        with lock:
            if not cells:
                return
            index, args = cells.pop()
        executor.submit(_compute_indexed, index, *args).add_done_callback(finished.put)

    remaining = len(cells)
    executor = get_reusable_executor(max_workers=n_workers - 1)
    # A daemon thread, so that an interrupted run can exit while the thread finishes its cell.
    threading.Thread(target=compute_here, name="arrears-cells", daemon=True).start()
    try:
        for _ in range(n_workers - 1):
            hand_out()
        while remaining:
            item = _next_finished(finished)
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, Future):
                item = item.result()  # raises the worker's error, if any
                hand_out()
            remaining -= 1
            yield item
    except BaseException:
        # Interrupted, failed, or abandoned by the caller: stop the thread after its cell and kill the workers.
        stop.set()
        executor.shutdown(wait=False, kill_workers=True)
        raise


def _next_finished(finished: queue.SimpleQueue):
    """Wait for the next finished cell in short waits, so that an interrupt (Ctrl-C) is handled within a second."""
    while True:
        try:
            return finished.get(timeout=1.0)
        except queue.Empty:
            continue


@contextmanager
def _dask_client(address: str):
    """Connect to the Dask scheduler at ``address``, or raise :class:`ConfigError` if dask is missing or it is down."""
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError(
            "--backend dask",
            "",
            "needs the dask.distributed package, which is not installed; "
            "install it from the repository with: pip install -e '.[distributed]'",
        ) from None
    _probe_scheduler(address)
    try:
        client = Client(address, timeout=SCHEDULER_TIMEOUT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(
            address,
            "--scheduler",
            f"no Dask scheduler answered within {SCHEDULER_TIMEOUT_SECONDS} s ({type(exc).__name__}); "
            f"start one with {LOCAL_SCHEDULER_COMMAND!r} and pass the address it prints",
        ) from None
    except ValueError as exc:
        raise ConfigError(address, "--scheduler", f"invalid scheduler address: {exc}") from None
    try:
        yield client
    finally:
        client.close()


#: A scheduler for one machine, listening on the loopback address only ('dask scheduler' alone listens on every one).
LOCAL_SCHEDULER_COMMAND = "dask scheduler --host 127.0.0.1 --dashboard-address 127.0.0.1:8787"
#: Address schemes of Dask's comms whose location is a TCP host and port, which _probe_scheduler tries to reach.
TCP_SCHEMES = ("tcp", "tls", "ws", "wss")
#: Schemes that encrypt the connection with TLS, which needs TLS settings in the Dask configuration.
TLS_SCHEMES = ("tls", "wss")


def _probe_scheduler(address: str) -> None:
    """Raise :class:`ConfigError` at once for a scheduler address that Dask's client cannot use.

    That is an ``inproc://`` address, an address of a scheme that Dask does not know, a TLS address without TLS
    settings in the Dask configuration, or a TCP address where nothing accepts a connection. Dask retries a refused
    connection until its timeout, so without this check a mistyped port costs that long. A client that fails to
    start for another reason waits 60 s to close when Python collects it (distributed 2026.8.0), so the address is
    checked before the client is built.
    """
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port
    from distributed.comm.registry import get_backend
    from distributed.security import Security

    try:
        scheme, location = parse_address(address)
    except ValueError as exc:
        raise ConfigError(address, "--scheduler", f"invalid scheduler address: {exc}") from None
    if scheme == "inproc":
        raise ConfigError(
            address,
            "--scheduler",
            "an inproc:// address reaches only a scheduler inside this process; pass the tcp:// address that "
            "'dask scheduler' prints",
        )
    try:
        get_backend(scheme)
    except ValueError:
        # The dashboard's http:// address is a likely mistake. A client built with it would fail and then wait 60 s.
        raise ConfigError(
            address,
            "--scheduler",
            f"unknown address scheme {scheme!r}; use a tcp:// address such as the one 'dask scheduler' prints",
        ) from None
    if scheme not in TCP_SCHEMES:
        return
    try:
        host, port = parse_host_port(location)
    except ValueError as exc:
        raise ConfigError(address, "--scheduler", f"invalid scheduler address: {exc}") from None
    if not 0 < port < 2**16:
        raise ConfigError(address, "--scheduler", f"invalid port {port}; a port is a number from 1 to 65535")
    if scheme in TLS_SCHEMES and Security().get_connection_args("client").get("ssl_context") is None:
        raise ConfigError(
            address,
            "--scheduler",
            f"a {scheme}:// address needs TLS settings, which the Dask configuration does not set "
            "(distributed.comm.tls); set them, or pass the scheduler's tcp:// address",
        )
    try:
        with socket.create_connection((host, port), timeout=SCHEDULER_TIMEOUT_SECONDS):
            pass
    except OSError as exc:
        raise ConfigError(
            address,
            "--scheduler",
            f"cannot connect: {exc.strerror or type(exc).__name__}; start a scheduler with {LOCAL_SCHEDULER_COMMAND!r} "
            "and pass the address it prints",
        ) from None


def _execute_dask(client, arguments: list[tuple]) -> Iterator[tuple[int, CellOutput]]:
    from distributed import as_completed

    # An explicit key per task spares Dask from hashing the scenario object to name it. The token keeps two runs
    # on one cluster apart.
    token = uuid.uuid4().hex
    futures = [
        client.submit(_compute_indexed, i, *args, key=f"arrears-cell-{token}-{i}") for i, args in enumerate(arguments)
    ]
    try:
        for future in as_completed(futures, loop=client.loop):
            yield future.result()
    except BaseException:
        client.cancel(futures)
        raise


# -- cells of a run directory -------------------------------------------------------------------------------------


class CellStore:
    """Finished cells of a run directory: one folder per cell under ``cells/``, named by the cell's key.

    A cell's files are written into a hidden folder that is renamed into place when complete, so a cell folder
    exists only once all its files do, and a run killed at any moment leaves no partial cell behind.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def prepare(self, experiment: LoadedExperiment, cells: list[Cell]) -> None:
        """Create the folder, delete what a killed run left half-written, and record this run's grid."""
        self.root.mkdir(parents=True, exist_ok=True)
        # NOTE: run() locks the directory, so no other run is writing cells here, except on Windows, which has no
        # fcntl. There a second run at once would delete the first's half-written cells.
        for entry in self.root.iterdir():
            if entry.is_dir() and (entry.name.startswith(".") or not self.is_finished(entry.name)):
                if not entry.name.startswith(".") and all((entry / name).is_file() for name in CELL_FILES):
                    logger.warning("deleting %s, a cell whose files cannot be read; it is computed again", entry)
                else:
                    logger.info("deleting %s, an unfinished cell of an interrupted run", entry)
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.name.startswith("."):
                entry.unlink(missing_ok=True)
        grid = {
            "arrears_version": _version("arrears"),
            "config_source": experiment.source,
            "n_accounts": experiment.config.n_accounts,
            "horizon_days": experiment.config.horizon_days,
            "cells": [_cell_record(cell) for cell in cells],
        }
        atomic_write_text(self.root / GRID_FILE, json.dumps(grid, indent=1) + "\n")

    def is_finished(self, key: str) -> bool:
        """Return whether the cell ``key`` has all its files and they can be read (so it need not be computed)."""
        import pyarrow.parquet as pq

        folder = self.root / key
        if not all((folder / name).is_file() for name in CELL_FILES):
            return False
        # A cell folder appears complete by a rename, so damage means a disk fault or an edit by hand. Such a cell
        # is computed again rather than read.
        try:
            record = parse_json((folder / "cell.json").read_text(encoding="utf-8"))
            float(record["seconds"])
            for parquet in folder.glob("*.parquet"):
                pq.read_metadata(parquet)
        except (OSError, ValueError, KeyError, TypeError):
            return False
        return record.get("key") == key

    def save(self, cell: Cell, output: CellOutput) -> None:
        staging = Path(tempfile.mkdtemp(prefix=f".{cell.key[:16]}.", suffix=".tmp", dir=self.root))
        try:
            (staging / "metrics.parquet").write_bytes(output.metrics)
            (staging / "daily.parquet").write_bytes(output.daily)
            if output.assignment is not None:
                (staging / "assignment.parquet").write_bytes(output.assignment)
            record = {**_cell_record(cell), "seconds": round(output.seconds, 3)}
            (staging / "cell.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
            os.chmod(staging, 0o777 & ~UMASK)
            try:
                os.replace(staging, self.root / cell.key)
            except OSError:
                # Another run saved the same cell first; both computed the same bytes, so keep the saved one.
                if not self.is_finished(cell.key):
                    raise
                shutil.rmtree(staging, ignore_errors=True)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            # A write on a full disk fails without a file name, so name the cell's folder, as atomic_write does.
            raise OSError(exc.errno, exc.strerror, str(self.root / cell.key)) from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def load(self, key: str) -> CellOutput:
        folder = self.root / key
        assignment = folder / "assignment.parquet"
        record = parse_json((folder / "cell.json").read_text(encoding="utf-8"))
        return CellOutput(
            metrics=(folder / "metrics.parquet").read_bytes(),
            daily=(folder / "daily.parquet").read_bytes(),
            assignment=assignment.read_bytes() if assignment.is_file() else None,
            seconds=float(record["seconds"]),
        )


def _cell_record(cell: Cell) -> dict[str, Any]:
    return {"scenario": cell.scenario, "policy": cell.policy, "seed": cell.seed, "key": cell.key}


def check_resume(path: Path, experiment: LoadedExperiment, cells: list[Cell]) -> None:
    """Raise :class:`ConfigError` unless every cell of the latest run in ``path`` is also a cell of this grid.

    A rerun into the same directory may add scenarios, sweep values, policies, splits or seeds, and it reuses the
    cells already finished. Any other change (accounts, days, a scenario parameter, a waterfall, the arrears version)
    needs a new directory, so that a finished run is never silently replaced by a different experiment. A directory
    written before runs kept their cells has no grid to compare and is replaced as a whole.
    """
    grid_path = path / CELLS_DIR / GRID_FILE
    if not grid_path.is_file():
        return
    try:
        earlier = parse_json(grid_path.read_text(encoding="utf-8"))
        earlier_cells = [(c["scenario"], c["policy"], int(c["seed"]), c["key"]) for c in earlier["cells"]]
    except (ValueError, KeyError, TypeError):
        raise ConfigError(
            str(grid_path), "", "is not a grid written by arrears run; delete the run directory or name a new --out"
        ) from None

    keys = {cell.key for cell in cells}
    by_label = {(cell.scenario, cell.policy, cell.seed): cell for cell in cells}
    missing = [entry for entry in earlier_cells if entry[3] not in keys]
    if not missing:
        return
    # grid.json is written when a run starts, so after an interrupted rerun it lists that rerun's grid while the
    # files at the top of the directory are still those of the finished run before it. This grid may repeat or
    # extend that finished run, whose files it replaces; the interrupted rerun's saved cells stay in cells/.
    finished = _finished_cell_keys(path)
    if finished is not None and finished <= keys:
        return
    scenario, policy, seed, _ = missing[0]
    cfg = experiment.config
    if earlier.get("arrears_version") != _version("arrears"):
        reason = f"was written by arrears {earlier.get('arrears_version')}, this is {_version('arrears')}"
    elif earlier.get("n_accounts") != cfg.n_accounts:
        reason = f"has n_accounts {earlier.get('n_accounts')}, this run {cfg.n_accounts}"
    elif earlier.get("horizon_days") != cfg.horizon_days:
        reason = f"has horizon_days {earlier.get('horizon_days')}, this run {cfg.horizon_days}"
    elif (scenario, policy, seed) in by_label:
        reason = (
            f"ran scenario {short_repr(scenario)} or policy {short_repr(policy)} with other parameters or another "
            "waterfall, score or model file"
        )
    else:
        reason = (
            f"has scenario {short_repr(scenario)}, policy {short_repr(policy)}, seed {short_repr(seed)}, which this "
            "run does not include"
        )
    raise ConfigError(
        str(path),
        "--out",
        f"holds a run that {reason}; a rerun into the same directory may only add scenarios, policies, splits "
        "or seeds, so name a new --out",
    )


def _finished_cell_keys(path: Path) -> set[str] | None:
    """Return the cell keys of the finished run in ``path`` (its manifest.json), or None without a readable one."""
    try:
        manifest = parse_json((path / "manifest.json").read_text(encoding="utf-8"))
        return {str(cell["key"]) for cell in manifest["cells"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None


# -- the run directory --------------------------------------------------------------------------------------------


def _order_columns(frame: pd.DataFrame, first: list[str]) -> pd.DataFrame:
    return frame[first + [c for c in frame.columns if c not in first]]


def _to_parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


RUN_FILES = ("config.yaml", "metrics.parquet", "daily.parquet", "manifest.json", "report.html")
#: Every name that arrears writes at the top of a run directory: the files of :func:`write_run_directory`, the
#: saved cells, and report.pdf from ``arrears report --pdf``. The lock file and staging folders lie beside it.
RUN_ENTRIES = frozenset((*RUN_FILES, "assignment.parquet", "report.pdf", CELLS_DIR))
#: Files written in place in a run directory, by ``arrears report`` and ``arrears report --pdf``. The other files
#: are written into a staging folder beside it.
IN_PLACE_FILES = ("report.html", "report.pdf")
#: The temporary file that a killed atomic write (sim.atomic) of NAME leaves: ``.NAME.RANDOM.tmp``, where RANDOM
#: is from the alphabet of :mod:`tempfile`.
TEMPORARY_NAME = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]+\.tmp")
CELL_KEY = re.compile(r"[0-9a-f]{64}")
#: Files that file managers write into any folder they show (macOS Finder, Windows Explorer). A rerun may replace
#: them with the rest of the directory.
FILE_MANAGER_FILES = frozenset((".DS_Store", "Thumbs.db", "desktop.ini"))
#: Unknown entries named in the error of :func:`check_run_directory`; it counts the rest.
LISTED_UNKNOWN_ENTRIES = 3


def _max_name_bytes(path: Path) -> int:
    """Return the file system's maximum file name length in bytes for names beside ``path`` (255 where unknown)."""
    existing = next((p for p in path.parents if p.exists()), Path("."))
    try:
        return os.pathconf(existing, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):
        return 255


def _is_file(path: Path) -> bool:
    """Return whether ``path`` is a file, and False when a folder on the way cannot be read."""
    try:
        return path.is_file()
    except OSError:
        return False


def check_run_directory(path: Path) -> None:
    """Raise :class:`ConfigError` unless ``path`` can become a run directory: absent, empty or an earlier run.

    An earlier run is a finished one (with manifest.json) or an interrupted one (with cells/grid.json), and it may
    contain only what arrears writes there, because a run replaces the directory and would delete anything else.
    Checked before any simulation, so that a bad ``--out`` fails at once and never overwrites a user's files.
    """
    # The staging and backup folders that a run creates beside NAME (".NAME.RANDOM.tmp", ".NAME.RANDOM.old") are
    # its longest file names, 14 bytes longer than NAME. Checked before path.exists(), which raises OSError for a
    # name above the file system's limit.
    max_name = _max_name_bytes(path) - len(".XXXXXXXX.tmp") - 1
    if len(os.fsencode(path.name)) > max_name:
        raise ConfigError(
            str(path), "--out", f"the directory name is too long; use at most {max_name} bytes for its last part"
        )
    if path.exists() and not path.is_dir():
        raise ConfigError(str(path), "--out", "exists and is not a directory; name a new or run directory")
    # A run inside another would be an unknown entry of the outer one, whose rerun then stops.
    outer = next((parent for parent in path.parents if _is_file(parent / CELLS_DIR / GRID_FILE)), None)
    if outer is not None:
        raise ConfigError(
            str(path), "--out", f"lies inside the run directory {outer}; name a directory outside every run"
        )
    if path.is_dir():
        entries = {entry.name for entry in path.iterdir()}
        is_run = (path / "manifest.json").is_file() or (path / CELLS_DIR / GRID_FILE).is_file()
        if entries and not is_run:
            raise ConfigError(
                str(path), "--out", "is a non-empty directory that is not an arrears run; name a new directory"
            )
        # `arrears train` writes a manifest.json too, beside its models, and never a cells folder.
        if entries & TRAINING_RUN_ENTRIES and CELLS_DIR not in entries:
            raise ConfigError(
                str(path), "--out", "is an `arrears train` folder, not an experiment run; name a new directory"
            )
        unknown = unknown_run_entries(path)
        if unknown:
            listed = ", ".join(short_repr(name) for name in unknown[:LISTED_UNKNOWN_ENTRIES])
            if len(unknown) > LISTED_UNKNOWN_ENTRIES:
                listed += f" and {len(unknown) - LISTED_UNKNOWN_ENTRIES} more"
            raise ConfigError(
                str(path),
                "--out",
                f"is an earlier run but also contains {listed}, which arrears did not write and a rerun would "
                "delete; move them elsewhere or name a new --out",
            )
    parent = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(str(path), "--out", f"cannot be created: {parent} is not a writable directory")


def unknown_run_entries(path: Path) -> list[str]:
    """List the entries of the run directory ``path`` and of its ``cells/`` that arrears did not write, sorted.

    Folders end in "/". Only names are checked, and whether each is a folder, not what a file or cell folder holds.
    """
    unknown = [_entry_name(entry) for entry in sorted(path.iterdir()) if not _is_run_entry(entry)]
    cells = path / CELLS_DIR
    if _is_run_entry(cells) and cells.is_dir():
        unknown += [
            f"{CELLS_DIR}/{_entry_name(entry)}" for entry in sorted(cells.iterdir()) if not _is_cell_entry(entry.name)
        ]
    return unknown


def _entry_name(entry: Path) -> str:
    return f"{entry.name}/" if entry.is_dir() and not entry.is_symlink() else entry.name


def _is_run_entry(entry: Path) -> bool:
    temporary = TEMPORARY_NAME.fullmatch(entry.name)
    if temporary is not None:
        return temporary["name"] in IN_PLACE_FILES
    is_folder = entry.is_dir() and not entry.is_symlink()
    if entry.name in FILE_MANAGER_FILES:
        return not is_folder
    return entry.name in RUN_ENTRIES and is_folder == (entry.name == CELLS_DIR)


def _is_cell_entry(name: str) -> bool:
    # CellStore.prepare deletes every hidden entry of cells/ as what a killed run left half-written.
    return name.startswith(".") or name == GRID_FILE or CELL_KEY.fullmatch(name) is not None


def write_run_directory(
    path: Path,
    experiment: LoadedExperiment,
    metrics: pd.DataFrame,
    daily: pd.DataFrame,
    manifest: dict,
    assignment: pd.DataFrame | None = None,
) -> None:
    """Write config.yaml, metrics.parquet, daily.parquet, manifest.json and report.html as one unit.

    The files are written into a temporary directory beside ``path``, with the saved cells hard-linked (or copied)
    from ``path/cells``; it then replaces ``path`` by renames, so an interrupted or failed write leaves the earlier
    run directory as it was (or nothing), never a mix of two runs.
    """
    from experiments.report import write_report

    check_run_directory(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _delete_stale_staging(path)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        resolved = experiment.resolved_dict()
        atomic_write_text(staging / "config.yaml", config_yaml(resolved))
        atomic_write(staging / "metrics.parquet", lambda tmp: metrics.to_parquet(tmp, index=False))
        atomic_write(staging / "daily.parquet", lambda tmp: daily.to_parquet(tmp, index=False))
        atomic_write_text(staging / "manifest.json", json.dumps(manifest, indent=2) + "\n")
        if assignment is not None:
            atomic_write(staging / "assignment.parquet", lambda tmp: assignment.to_parquet(tmp, index=False))
        write_report(staging)
        if (path / CELLS_DIR).is_dir():
            _link_tree(path / CELLS_DIR, staging / CELLS_DIR)
        os.chmod(staging, 0o777 & ~UMASK)
        _replace_directory(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _delete_stale_staging(path: Path) -> None:
    """Delete the staging folders of ``path`` that killed runs left beside it (``.NAME.RANDOM.tmp``).

    The caller holds the run directory's lock, so no other run is writing one of them. The pattern matches the
    8 characters that :func:`tempfile.mkdtemp` adds (CPython 3.11), so the staging folder of another run directory
    whose name starts with this one's, such as ``NAME.v2``, does not match.
    """
    staging_name = re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}\.tmp")
    for entry in path.parent.iterdir():
        if staging_name.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink():
            logger.info("deleting %s, the staging folder of a killed run", entry)
            shutil.rmtree(entry, ignore_errors=True)


def _link_tree(source: Path, target: Path) -> None:
    """Recreate ``source`` at ``target`` with hard links to its files (copies where links fail); skip hidden ones."""
    target.mkdir()
    for entry in source.iterdir():
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            _link_tree(entry, target / entry.name)
            continue
        try:
            os.link(entry, target / entry.name)
        except OSError:
            shutil.copy2(entry, target / entry.name)


def _replace_directory(new: Path, target: Path) -> None:
    """Put ``new`` at ``target``; an earlier run there is moved aside first and deleted after."""
    if not target.exists():
        os.replace(new, target)
        return
    # NOTE: a kill between the two renames below leaves no directory at ``target``. The earlier run is then in the
    # hidden .old folder beside it. Linux can swap two directories in one step (renameat2), but Python has no call.
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
    cells: list[Cell],
    outputs: list[CellOutput],
    reused: set[str],
    started_at: dt.datetime,
    elapsed: float,
    runtime: dict[str, Any],
    policy_sha256: dict[str, str],
) -> dict:
    return {
        "arrears_version": _version("arrears"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in REPORTED_PACKAGES},
        "git_commit": git_commit(),
        "git_modified": git_modified(),
        "config_source": experiment.source,
        "config_sha256": json_sha256(experiment.resolved_dict()),
        "scenario_sha256": {scenario.name: scenario.config_hash() for scenario in experiment.scenarios},
        # config_sha256 covers a policy file's path only, so a replay with an edited file would match it.
        "policy_sha256": policy_sha256,
        "seeds": experiment.config.seed_list,
        "backend": runtime["backend"],
        "scheduler": runtime["scheduler"],
        "workers": runtime["workers"],
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "elapsed_seconds": round(elapsed, 3),
        "cells": [
            {
                **_cell_record(cell),
                "seconds": round(output.seconds, 3),
                "finished": True,
                "reused": cell.key in reused,
            }
            for cell, output in zip(cells, outputs, strict=True)
        ],
    }


def _warn_changed_policies(source: str, policy_sha256: dict[str, str]) -> None:
    """Warn when ``source`` is a run directory's config.yaml and a policy differs from the one its run recorded.

    The config names waterfall, score and model files by path, so a replay after one of them changed runs the edited
    file. Its numbers then differ from the recorded run's, and the manifest's ``policy_sha256`` shows which policy
    changed.
    """
    config_path = Path(source)
    manifest_path = config_path.parent / "manifest.json"
    if config_path.name != "config.yaml" or not manifest_path.is_file():
        return
    try:
        recorded = parse_json(manifest_path.read_text(encoding="utf-8")).get("policy_sha256")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return  # not a manifest this version can read, so there is nothing to compare with
    if not isinstance(recorded, dict):
        return  # a run written before policy_sha256 was recorded
    changed = [name for name, sha in policy_sha256.items() if name in recorded and recorded[name] != sha]
    if changed:
        logger.warning(
            "%s: %s changed since the run recorded in %s (policy_sha256), so this replay does not reproduce it",
            source,
            ", ".join(f"policy {name!r}" for name in changed),
            manifest_path,
        )


def _fingerprint_sha256(fingerprint: Any) -> str:
    """Return a file's own SHA-256 for a policy read from a file, else the SHA-256 of its fingerprint's JSON."""
    if isinstance(fingerprint, dict) and set(fingerprint) == {"file_sha256"}:
        return fingerprint["file_sha256"]
    return json_sha256(fingerprint)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_commit() -> str | None:
    """Return the commit of the arrears source tree when it is a git checkout, else None (an installed wheel)."""
    completed = _git(["rev-parse", "HEAD"])
    return completed.stdout.strip() or None if completed is not None and completed.returncode == 0 else None


def git_modified(source_dir: Path | None = None) -> bool | None:
    """Return whether tracked files of the git checkout at ``source_dir`` differ from its commit, or None outside a
    checkout.

    ``source_dir`` defaults to the arrears source tree. A run records this beside the commit, so that the commit is
    not taken for the code that ran.
    """
    completed = _git(["status", "--porcelain", "--untracked-files=no"], source_dir)
    return bool(completed.stdout.strip()) if completed is not None and completed.returncode == 0 else None


def _git(arguments: list[str], source_dir: Path | None = None) -> subprocess.CompletedProcess | None:
    """Run git with ``arguments`` in ``source_dir``; return None when git cannot run there."""
    try:
        return subprocess.run(
            ["git", *arguments],
            cwd=source_dir or Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
