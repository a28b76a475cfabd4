"""The performance benchmarks behind ``arrears bench``: throughput of the simulator against its references.

Each measurement runs in a fresh worker process (``spawn``), so that peak memory is that of one measurement and no
cache or import of an earlier one helps it. The suite measures:

- (a) portfolio throughput, account-days per second, of the standard waterfall on the default scenario, and peak
  memory per account; and the throughput of every other shipped policy at 100,000 accounts;
- (b) the same model in a per-account mode, one SimPy environment and process per account (the naive design);
- (c) a minimal numpy kernel of one account-day (keyed draws, payment hazard, payment, DPD update): the practical
  limit of the array design;
- (d) ``arrears/Account-v0`` single-environment steps per second next to Gymnasium's ``CartPole-v1``, and
  account-steps per second of the vector environment at 1,024 accounts;
- (e) stable-baselines3 PPO frames per second on ``Account-v0`` next to ``CartPole-v1``, same hyperparameters;
- (f) the speed-up of an experiment grid with 2 workers over 1.

Targets are ratios measured in one run, so that a slower or faster machine moves both sides together.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

#: Sizes of the full benchmark and of ``--quick`` (a smoke test that checks the suite runs, not its speed).
FULL = {
    "portfolio_sizes": (10_000, 100_000, 1_000_000),
    "days": 180,
    "per_account_accounts": 300,
    "env_steps": 20_000,
    "vector_accounts": 1_024,
    # 1,000 steps take about a second: 200 steps (0.2 s) varied by several percent between runs.
    "vector_steps": 1_000,
    # (e): 8 rollouts of configs/rl/ppo.yaml's 64 x 32 steps, and 8 of the small setting's 8 x 128 steps.
    "ppo_timesteps": 16_384,
    "ppo_small_timesteps": 8_192,
    # Rounds of (a) at the largest size and of (c), one after the other, and of (e) and (f), where each round runs
    # both sides of the ratio in turn. The median over rounds counts.
    "repeats": 3,
    # The grid of the README's main job, configs/baseline.yaml: 4 waterfalls x 10 seeds x 10,000 accounts.
    "grid_policies": ("do_nothing", "letters_only", "standard", "digital_first"),
    "grid_accounts": 10_000,
    "grid_seeds": 10,
    # Shipped policies on the default scenario (None: every one), at this size, with the same days.
    "policies": None,
    "policy_accounts": 100_000,
}
QUICK = {
    "portfolio_sizes": (1_000,),
    "days": 30,
    "per_account_accounts": 5,
    "env_steps": 200,
    "vector_accounts": 64,
    "vector_steps": 20,
    "ppo_timesteps": 256,
    "ppo_small_timesteps": 256,
    "repeats": 1,
    "grid_policies": ("standard", "digital_first"),
    "grid_accounts": 300,
    "grid_seeds": 2,
    "policies": ("standard", "risk_based"),
    "policy_accounts": 300,
}
# NOTE: the per-account mode is timed on a sample of accounts and reported as a rate. 10,000 accounts would take
# about 7 minutes at its speed, and the rate per account-day does not depend on how many accounts are timed.


@dataclass(frozen=True)
class Target:
    name: str
    value: Callable[[dict[str, Any]], float]
    threshold: float
    higher_is_better: bool = True
    #: Measurements that may be skipped (stored as None) and that the value reads.
    optional: tuple[str, ...] = ()

    def check(self, results: dict[str, Any]) -> dict[str, Any]:
        """Return the target's value and whether it is met; both are None when a measurement it needs was skipped."""
        if any(results[name] is None for name in self.optional):
            return {"target": self.name, "value": None, "threshold": self.threshold, "passed": None}
        value = float(self.value(results))
        passed = value >= self.threshold if self.higher_is_better else value <= self.threshold
        return {"target": self.name, "value": value, "threshold": self.threshold, "passed": bool(passed)}


def _peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _account_days(n_accounts: int, days: int, seconds: float) -> dict[str, float]:
    """Return the size of a timed run and its throughput in account-days per second."""
    return {
        "n_accounts": n_accounts,
        "days": days,
        "seconds": seconds,
        "account_days_per_second": n_accounts * days / seconds,
    }


# -- measurements, each run in its own process -------------------------------------------------------------------


def measure_portfolio(n_accounts: int, days: int) -> dict[str, float]:
    """(a) Simulate the standard waterfall on the default scenario; return account-days per second and memory."""
    import policies
    from sim.engine import PortfolioModel
    from sim.scenario import Scenario

    scenario = Scenario.load("default")
    policy = policies.load("standard")
    PortfolioModel(scenario, policy, n_accounts=100, days=2, seed=1).run()  # warm imports and caches
    baseline = _peak_rss_mb()
    started = time.perf_counter()
    PortfolioModel(scenario, policy, n_accounts=n_accounts, days=days, seed=0).run()
    seconds = time.perf_counter() - started
    peak = _peak_rss_mb()
    return {
        **_account_days(n_accounts, days, seconds),
        "peak_rss_mb": peak,
        "memory_per_account_kb": max(peak - baseline, 0.0) * 1024.0 / n_accounts,
    }


def measure_policy(name: str, n_accounts: int, days: int) -> dict[str, Any]:
    """Simulate the shipped policy ``name`` on the default scenario; return its set-up time and account-days per
    second.

    The set-up loads the policy and builds the model. A policy that learns from simulated history fits its model
    then: ``uplift_calls`` fits its uplift model. The run is the simulated days.
    """
    import policies
    from sim.engine import PortfolioModel
    from sim.scenario import Scenario

    scenario = Scenario.load("default")
    PortfolioModel(scenario, policies.load("standard"), n_accounts=100, days=2, seed=1).run()  # warm imports
    started = time.perf_counter()
    model = PortfolioModel(scenario, policies.load(name), n_accounts=n_accounts, days=days, seed=0)
    set_up = time.perf_counter()
    model.run()
    seconds = time.perf_counter() - set_up
    return {"policy": name, **_account_days(n_accounts, days, seconds), "setup_seconds": set_up - started}


def measure_per_account(n_accounts: int, days: int) -> dict[str, float]:
    """(b) The same model with one SimPy environment per account, each stepped a day at a time in turn."""
    import policies
    from sim.engine import PortfolioModel
    from sim.scenario import Scenario

    scenario = Scenario.load("default")
    policy = policies.load("standard")
    started = time.perf_counter()
    models = [PortfolioModel(scenario, policy, n_accounts=1, days=days, seed=seed) for seed in range(n_accounts)]
    for _ in range(days):
        for model in models:
            model.step()
    return _account_days(n_accounts, days, time.perf_counter() - started)


def measure_kernel(n_accounts: int, days: int) -> dict[str, float]:
    """(c) One account-day as a minimal numpy kernel: keyed draws, payment hazard, payment and DPD update."""
    from sim.allocator import tune_allocator
    from sim.rng import KeyedRandom, Purpose

    # The same allocator settings as a PortfolioModel runs under, so that the two rates are comparable.
    tune_allocator()
    rng = KeyedRandom(0, np.arange(n_accounts))
    pay_probability = np.array([0.9, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    state = np.floor(rng.uniform(-1, Purpose.INITIAL_STATE) * 4).astype(np.int64)
    installment = np.full(n_accounts, 5_000, dtype=np.int64)
    balance = np.full(n_accounts, 200_000, dtype=np.int64)
    dpd = state * 30
    started = time.perf_counter()
    for day in range(days):
        hazard = pay_probability[np.minimum(state, 6)] / 30.0
        pays = rng.uniform(day, Purpose.WILL_PAY) < hazard
        amount = np.minimum(np.where(pays, installment * (state + 1), 0), balance)
        balance -= amount
        state = np.where(pays, 0, state)
        dpd = np.where(state > 0, dpd + 1, 0)
        state = np.where((dpd > 0) & (dpd % 30 == 0), state + 1, state)
    return _account_days(n_accounts, days, time.perf_counter() - started)


#: The id under which :func:`measure_env_steps` registers :func:`_simpy_day_env`.
SIMPY_DAY_ENV_ID = "arrears-bench/SimPyDay-v0"


def _simpy_day_env() -> Any:
    """Return a Gymnasium env whose step is an ``Account-v0`` day of one account with the model's work left out.

    A step runs the day's SimPy process as the model does, which waits until 08:00 and then until 22:00, and
    returns an observation and an action mask of ``Account-v0``'s shapes. No account is simulated, and the episode
    never ends.
    """
    import gymnasium as gym
    import simpy

    from sim.catalogue import N_ACTIONS
    from sim.features import FEATURE_HIGH, FEATURE_LOW

    class SimPyDayEnv(gym.Env):
        def __init__(self) -> None:
            self.observation_space = gym.spaces.Box(FEATURE_LOW, FEATURE_HIGH, dtype=np.float32)
            self.action_space = gym.spaces.Discrete(N_ACTIONS)
            self.env = simpy.Environment()
            self.mask = np.ones(N_ACTIONS, dtype=bool)

        def _day(self, day: int) -> Any:
            yield self.env.timeout(day + 8 / 24 - self.env.now)
            yield self.env.timeout(day + 22 / 24 - self.env.now)

        def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
            super().reset(seed=seed)
            return np.zeros(len(FEATURE_LOW), dtype=np.float32), {"action_mask": self.mask.copy()}

        def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
            day = int(self.env.now)
            self.env.process(self._day(day))
            self.env.run(until=day + 1)
            return np.zeros(len(FEATURE_LOW), dtype=np.float32), 0.0, False, False, {"action_mask": self.mask.copy()}

    return SimPyDayEnv()


def measure_env_steps(steps: int) -> dict[str, float]:
    """(d) Single-environment steps per second: Account-v0 with random actions, and CartPole-v1.

    Two references, which no target reads, bound the steps per second of an environment built on the array design
    with SimPy driving time. The minimal kernel (c) at one account over ``steps`` days runs one account's day in
    numpy arrays, without SimPy, features or a mask. The SimPy day (:func:`_simpy_day_env`) runs a day's SimPy
    events through ``gym.make`` with no model work.
    """
    import gymnasium as gym

    import sim.envs  # noqa: F401  (registers the environment even without the installed entry point)

    if SIMPY_DAY_ENV_ID not in gym.registry:
        gym.register(SIMPY_DAY_ENV_ID, entry_point=_simpy_day_env)
    rates = {}
    for env_id in ("arrears/Account-v0", "CartPole-v1", SIMPY_DAY_ENV_ID):
        env = gym.make(env_id)
        env.reset(seed=0)
        env.action_space.seed(0)
        started = time.perf_counter()
        for _ in range(steps):
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                env.reset()
        rates[env_id] = steps / (time.perf_counter() - started)
        env.close()
    # Last, because it tunes the allocator of this process.
    kernel = measure_kernel(1, steps)
    return {
        "steps": steps,
        "account_env_steps_per_second": rates["arrears/Account-v0"],
        "cartpole_steps_per_second": rates["CartPole-v1"],
        "kernel_one_account_days_per_second": kernel["account_days_per_second"],
        "simpy_day_steps_per_second": rates[SIMPY_DAY_ENV_ID],
    }


def measure_vector_env(n_accounts: int, steps: int) -> dict[str, float]:
    """(d) Vector-env account-steps per second: ``n_accounts`` accounts of one portfolio stepped together."""
    import gymnasium as gym

    import sim.envs  # noqa: F401

    env = gym.make_vec("arrears/Account-v0", num_envs=n_accounts, vectorization_mode="vector_entry_point")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for _ in range(steps):
        env.step(rng.integers(0, env.single_action_space.n, size=n_accounts))
    seconds = time.perf_counter() - started
    env.close()
    return {"n_accounts": n_accounts, "steps": steps, "account_steps_per_second": n_accounts * steps / seconds}


#: The 8-environment PPO setting of (e), kept as a reference: the fewer accounts a step advances, the more the fixed
#: cost of a simulated day weighs. Other hyperparameters are SB3's defaults.
SMALL_PPO = {"n_envs": 8, "n_steps": 128, "batch_size": 64, "n_epochs": 4}


def _ppo_fps(build_env: Callable[[], Any], timesteps: int, policy: str, hyperparameters: dict[str, Any]) -> float:
    """Train PPO for ``timesteps`` on the environment ``build_env`` returns; return frames (timesteps) per second."""
    from stable_baselines3 import PPO

    from experiments.train import silent_logger

    env = build_env()
    model = PPO(policy, env, seed=0, device="cpu", verbose=0, **hyperparameters)
    model.set_logger(silent_logger())
    started = time.perf_counter()
    model.learn(total_timesteps=timesteps)
    # SB3 collects whole rollouts, so it may train on more timesteps than asked for.
    fps = model.num_timesteps / (time.perf_counter() - started)
    env.close()
    return fps


def _null_vec_env(observation_space: Any, action_space: Any, n_envs: int) -> Any:
    """Return an SB3 ``VecEnv`` with the given spaces whose steps do nothing: zero observations and rewards, no end.

    PPO trained on it measures what PPO itself costs with those spaces. That is the ceiling of frames per second
    that no simulator with the same spaces can exceed.
    """
    from stable_baselines3.common.vec_env import VecEnv

    class NullVecEnv(VecEnv):
        render_mode = None

        def __init__(self) -> None:
            super().__init__(n_envs, observation_space, action_space)
            self._obs = np.zeros((n_envs, *observation_space.shape), dtype=observation_space.dtype)

        def reset(self) -> np.ndarray:
            return self._obs.copy()

        def step_async(self, actions: np.ndarray) -> None:
            pass

        def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
            ended = np.zeros(n_envs, dtype=bool)
            return self._obs.copy(), np.zeros(n_envs, dtype=np.float32), ended, [{} for _ in range(n_envs)]

        def close(self) -> None:
            pass

        def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
            return [getattr(self, attr_name) for _ in self._get_indices(indices)]

        def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
            setattr(self, attr_name, value)

        def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list:
            raise NotImplementedError(f"the null environment has no method {method_name!r}")

        def env_is_wrapped(self, wrapper_class: Any, indices: Any = None) -> list[bool]:
            return [False for _ in self._get_indices(indices)]

    return NullVecEnv()


def measure_ppo(timesteps: int, small_timesteps: int, repeats: int) -> dict[str, Any]:
    """(e) PPO frames per second on Account-v0 and CartPole-v1 with the same hyperparameters.

    ``training`` uses the settings of ``configs/rl/ppo.yaml``, with which ``arrears train --algo ppo`` trains (64
    environments, that is 64 accounts of one portfolio for Account-v0), and decides the target. ``small`` uses
    :data:`SMALL_PPO`. Each setting trains ``repeats`` times on each environment, alternating between the two, and
    reports the median of each, so that one slow spell of the machine does not decide the ratio.

    The training setting also trains on a null environment (:func:`_null_vec_env`) with Account-v0's spaces and one
    with CartPole-v1's: their ratio is the most that Account-v0 could reach with a simulator that took no time.
    """
    import gymnasium as gym
    import torch
    from stable_baselines3.common.env_util import make_vec_env

    from experiments.train import algorithm_kwargs, load_train_config, shipped_config
    from sim.envs.sb3 import SB3AccountVecEnv

    torch.set_num_threads(1)
    shipped = load_train_config(shipped_config("ppo"))
    small = dict(SMALL_PPO)
    settings = {
        "training": (shipped.env.n_envs, timesteps, shipped.policy, algorithm_kwargs(shipped)),
        "small": (small.pop("n_envs"), small_timesteps, "MlpPolicy", small),
    }
    spaces = {}
    for env_name, env_id in (("account", "arrears/Account-v0"), ("cartpole", "CartPole-v1")):
        probe = gym.make(env_id)
        spaces[env_name] = (probe.observation_space, probe.action_space)
        probe.close()
    results: dict[str, Any] = {}
    for name, (n_envs, steps, policy, hyperparameters) in settings.items():
        environments = {
            "account": lambda n=n_envs: SB3AccountVecEnv(num_envs=n),
            "cartpole": lambda n=n_envs: make_vec_env("CartPole-v1", n_envs=n, seed=0),
        }
        if name == "training":
            for env_name, (observation_space, action_space) in list(spaces.items()):
                environments[f"null_{env_name}"] = lambda n=n_envs, o=observation_space, a=action_space: _null_vec_env(
                    o, a, n
                )
        runs: dict[str, list[float]] = {env_name: [] for env_name in environments}
        for _ in range(repeats):
            for env_name, build in environments.items():
                runs[env_name].append(_ppo_fps(build, steps, policy, hyperparameters))
        results[name] = {"n_envs": n_envs, "timesteps": steps}
        for env_name, fps in runs.items():
            results[name] |= {f"{env_name}_fps": statistics.median(fps), f"{env_name}_fps_runs": fps}
    return results


def measure_grid(policies: tuple[str, ...], n_accounts: int, seeds: int, repeats: int) -> dict[str, Any]:
    """(f) Time a grid of ``policies`` x ``seeds`` with 1 worker and with 2 processes; return the speed-up.

    Each 2-worker run starts its own worker processes, as a run of ``arrears run`` does. The 1-worker and 2-worker
    runs alternate for ``repeats`` rounds. The speed-up is the median of the rounds' ratios, and the times are medians.
    """
    from joblib.externals.loky import get_reusable_executor

    from experiments.config import ExperimentConfig, resolve
    from experiments.runner import run

    config = {
        "name": "bench_grid",
        "scenario": "default",
        "policies": list(policies),
        "seeds": seeds,
        "n_accounts": n_accounts,
        "horizon_days": 180,
    }
    experiment = resolve(ExperimentConfig.model_validate(config))
    seconds: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(repeats):
        for workers in (1, 2):
            started = time.perf_counter()
            run(experiment, out=None, workers=workers, progress=False)
            seconds[workers].append(time.perf_counter() - started)
            # joblib keeps its worker processes for reuse. Stop them, so that the next 2-worker run starts its own
            # and this process need not wait for their idle timeout (300 s) before it can exit.
            get_reusable_executor().shutdown(wait=True)
    speedups = [one / two for one, two in zip(seconds[1], seconds[2], strict=True)]
    return {
        "n_accounts": n_accounts,
        "cells": len(policies) * seeds,
        "seconds_1_worker": statistics.median(seconds[1]),
        "seconds_2_workers": statistics.median(seconds[2]),
        "speedup": statistics.median(speedups),
        "seconds_1_worker_runs": seconds[1],
        "seconds_2_workers_runs": seconds[2],
    }


# -- the suite ---------------------------------------------------------------------------------------------------

TARGETS = (
    Target(
        "portfolio throughput >= 25% of the minimal kernel (c), at the largest size",
        lambda r: r["portfolio"][-1]["account_days_per_second"] / r["kernel"]["account_days_per_second"],
        0.25,
    ),
    Target(
        "portfolio throughput >= 50x the per-account mode (b), at the largest size",
        lambda r: r["portfolio"][-1]["account_days_per_second"] / r["per_account"]["account_days_per_second"],
        50.0,
    ),
    Target(
        "largest portfolio x days in under 120 s",
        lambda r: r["portfolio"][-1]["seconds"],
        120.0,
        higher_is_better=False,
    ),
    Target("largest portfolio peak memory under 2 GB (MB)", lambda r: r["portfolio"][-1]["peak_rss_mb"], 2048.0, False),
    Target(
        "Account-v0 single steps >= 30% of CartPole-v1",
        lambda r: r["env"]["account_env_steps_per_second"] / r["env"]["cartpole_steps_per_second"],
        0.30,
        optional=("env",),
    ),
    Target(
        "vector env >= 1M account-steps per second",
        lambda r: r["vector"]["account_steps_per_second"],
        1e6,
        optional=("vector",),
    ),
    Target(
        "PPO fps on Account-v0 >= 80% of CartPole-v1, training setting",
        lambda r: r["ppo"]["training"]["account_fps"] / r["ppo"]["training"]["cartpole_fps"],
        0.8,
        optional=("ppo",),
    ),
    Target("2-worker grid speed-up >= 1.7", lambda r: r["grid"]["speedup"], 1.7),
)


def missing_rl_packages() -> list[str]:
    """Return the packages of the rl extra that (d) and (e) need and this environment lacks."""
    return [name for name in ("gymnasium", "stable_baselines3", "torch") if importlib.util.find_spec(name) is None]


def _in_fresh_process(function: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def run_suite(quick: bool = False, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every measurement; return the results with the machine, the date and each target's outcome."""
    from experiments.runner import git_commit, git_modified
    from policies import shipped_policies

    sizes = QUICK if quick else FULL
    started = time.perf_counter()
    results: dict[str, Any] = {
        "quick": quick,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_model": _cpu_model(),
        },
        "git_commit": git_commit(),
        "git_modified": git_modified(),
        "portfolio": [],
    }
    days, repeats = sizes["days"], sizes["repeats"]
    *smaller, largest = sizes["portfolio_sizes"]
    for n_accounts in smaller:
        log(f"(a) portfolio, {n_accounts:,} accounts x {days} days")
        results["portfolio"].append(_in_fresh_process(measure_portfolio, n_accounts, days))
    log(f"(a) portfolio and (c) numpy kernel, {largest:,} accounts x {days} days, {_rounds(repeats)}")
    largest_portfolio, results["kernel"] = measure_largest(largest, days, repeats)
    results["portfolio"].append(largest_portfolio)
    log(f"(b) per-account mode, {sizes['per_account_accounts']} accounts x {days} days")
    results["per_account"] = _in_fresh_process(measure_per_account, sizes["per_account_accounts"], days)
    missing = missing_rl_packages()
    if missing:
        log(f"(d) and (e) skipped: {', '.join(missing)} not installed; install the rl extra for them")
        results["env"] = results["vector"] = results["ppo"] = None
    else:
        log(f"(d) single-env steps, {sizes['env_steps']:,} steps each")
        results["env"] = _in_fresh_process(measure_env_steps, sizes["env_steps"])
        log(f"(d) vector env, {sizes['vector_accounts']:,} accounts x {sizes['vector_steps']} steps")
        results["vector"] = _in_fresh_process(measure_vector_env, sizes["vector_accounts"], sizes["vector_steps"])
        log(f"(e) PPO, {sizes['ppo_timesteps']:,} and {sizes['ppo_small_timesteps']:,} timesteps, {_rounds(repeats)}")
        results["ppo"] = _in_fresh_process(measure_ppo, sizes["ppo_timesteps"], sizes["ppo_small_timesteps"], repeats)
    policies = sizes["grid_policies"]
    log(
        f"(f) grid, {len(policies)} policies x {sizes['grid_seeds']} seeds x {sizes['grid_accounts']:,} accounts, "
        f"1 then 2 workers, {_rounds(repeats)}"
    )
    results["grid"] = _in_fresh_process(measure_grid, policies, sizes["grid_accounts"], sizes["grid_seeds"], repeats)
    shipped = sizes["policies"] or shipped_policies()
    log(f"(a) {len(shipped)} shipped policies, {sizes['policy_accounts']:,} accounts x {days} days each")
    results["policies"] = [_in_fresh_process(measure_policy, name, sizes["policy_accounts"], days) for name in shipped]
    results["targets"] = [target.check(results) for target in TARGETS]
    results["elapsed_seconds"] = time.perf_counter() - started
    return results


def measure_largest(n_accounts: int, days: int, repeats: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Measure (a) at the largest size for ``repeats`` rounds, then (c) for as many, each in a fresh process.

    Return the portfolio run and the kernel run of median time, each with every round's seconds. The portfolio's
    peak memory is the highest of its rounds. The portfolio's rounds run one after the other, because of how the
    virtual machine of the records in benchmarks/records treats memory. There a 1M-account run, which touches about
    700 MB, took 10 to 12 s unless another process had used that much memory just before, and 8.6 s if it had. The
    first round therefore pays that cost and the median does not.
    """
    portfolio_runs = [_in_fresh_process(measure_portfolio, n_accounts, days) for _ in range(repeats)]
    kernel_runs = [_in_fresh_process(measure_kernel, n_accounts, days) for _ in range(repeats)]
    portfolio = {
        **_median_run(portfolio_runs),
        "peak_rss_mb": max(run["peak_rss_mb"] for run in portfolio_runs),
        "memory_per_account_kb": max(run["memory_per_account_kb"] for run in portfolio_runs),
    }
    return portfolio, _median_run(kernel_runs)


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the run of median time (the later of the two middle ones for an even count), with every run's
    seconds."""
    by_time = sorted(runs, key=lambda run: run["seconds"])
    return {**by_time[len(by_time) // 2], "seconds_runs": [run["seconds"] for run in runs]}


def _median_note(run: dict[str, Any]) -> str:
    """Say of a run chosen by :func:`_median_run` that it is the median of its rounds."""
    rounds = len(run.get("seconds_runs", ()))
    return f" (median of {rounds} rounds)" if rounds > 1 else ""


def _rounds(repeats: int) -> str:
    return "1 round" if repeats == 1 else f"{repeats} rounds"


def _cpu_model() -> str | None:
    """Return the processor's model name from /proc/cpuinfo (Linux), or None where it cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def format_table(results: dict[str, Any]) -> str:
    """Render the results as a Markdown table of measurements followed by one of targets."""
    lines = ["| measurement | value |", "|---|---|"]
    for row in results["portfolio"]:
        lines.append(
            f"| (a) portfolio {row['n_accounts']:,} x {row['days']} days | {row['account_days_per_second']:,.0f} "
            f"account-days/s, {row['seconds']:.1f} s, peak {row['peak_rss_mb']:,.0f} MB, "
            f"{row['memory_per_account_kb']:.2f} kB/account{_median_note(row)} |"
        )
    for row in results.get("policies", ()):
        lines.append(
            f"| (a) policy {row['policy']}, {row['n_accounts']:,} x {row['days']} days | "
            f"{row['account_days_per_second']:,.0f} account-days/s, {row['seconds']:.1f} s, set-up "
            f"{row['setup_seconds']:.1f} s |"
        )
    per_account, kernel = results["per_account"], results["kernel"]
    lines.append(f"| (b) per-account mode | {per_account['account_days_per_second']:,.0f} account-days/s |")
    lines.append(
        f"| (c) numpy kernel | {kernel['account_days_per_second']:,.0f} account-days/s{_median_note(kernel)} |"
    )
    env, vector, ppo, grid = results["env"], results["vector"], results["ppo"], results["grid"]
    if env is None:
        lines.append("| (d), (e) environments and PPO | skipped: the rl extra is not installed |")
    else:
        cartpole = env["cartpole_steps_per_second"]
        lines.append(
            f"| (d) single env | Account-v0 {env['account_env_steps_per_second']:,.0f} steps/s, CartPole-v1 "
            f"{cartpole:,.0f} steps/s |"
        )
        kernel_one = env["kernel_one_account_days_per_second"]
        lines.append(
            f"| (d) numpy kernel (c) at one account | {kernel_one:,.0f} account-days/s, "
            f"{kernel_one / cartpole:.1%} of CartPole-v1 |"
        )
        if "simpy_day_steps_per_second" in env:
            simpy_day = env["simpy_day_steps_per_second"]
            lines.append(
                f"| (d) a SimPy day with no model work, one account | {simpy_day:,.0f} steps/s, "
                f"{simpy_day / cartpole:.1%} of CartPole-v1 |"
            )
        rate = vector["account_steps_per_second"]
        lines.append(f"| (d) vector env, {vector['n_accounts']:,} accounts | {rate:,.0f} account-steps/s |")
        for name, setting in ppo.items():
            lines.append(
                f"| (e) PPO, {name} setting, {setting['n_envs']} environments | Account-v0 "
                f"{setting['account_fps']:,.0f} fps, CartPole-v1 {setting['cartpole_fps']:,.0f} fps |"
            )
            if "null_account_fps" in setting:
                null_account, null_cartpole = setting["null_account_fps"], setting["null_cartpole_fps"]
                lines.append(
                    f"| (e) PPO, {name} setting, null environments with the spaces of each | Account-v0's "
                    f"{null_account:,.0f} fps, CartPole-v1's {null_cartpole:,.0f} fps, ceiling "
                    f"{null_account / null_cartpole:.1%} |"
                )
    lines.append(
        f"| (f) grid, {grid['cells']} cells | 1 worker {grid['seconds_1_worker']:.1f} s, 2 workers "
        f"{grid['seconds_2_workers']:.1f} s, speed-up {grid['speedup']:.2f} |"
    )
    # Records written before the suite timed itself have no elapsed time.
    if "elapsed_seconds" in results:
        lines.append(f"| whole suite, wall clock | {results['elapsed_seconds']:.0f} s |")
    lines.append("")
    if results.get("quick"):
        lines += ["A quick run only checks that every measurement runs: at its sizes the targets mean nothing.", ""]
    lines += ["| target | measured | threshold | met |", "|---|---|---|---|"]
    for target in results["targets"]:
        met = {True: "yes", False: "no", None: "not measured"}[target["passed"]]
        value = "-" if target["value"] is None else _number(target["value"])
        lines.append(f"| {target['target']} | {value} | {_number(target['threshold'])} | {met} |")
    return "\n".join(lines)


def _number(value: float) -> str:
    """Format a table value: whole numbers with thousands separators from 100 up, three significant digits below."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def write_results(results: dict[str, Any], path: Path) -> Path:
    from sim.atomic import atomic_write_text

    return atomic_write_text(path, json.dumps(results, indent=2) + "\n")
