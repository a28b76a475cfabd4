"""arrears train and tune, and learned policies in simulations and experiments: tiny budgets, real components."""

from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

pytest.importorskip("stable_baselines3")
pytest.importorskip("sb3_contrib")
torch = pytest.importorskip("torch")

import experiments.runner as runner  # noqa: E402
import experiments.tune as tune_module  # noqa: E402
import policies  # noqa: E402
from experiments.cli import main  # noqa: E402
from experiments.config import load_config  # noqa: E402
from experiments.runner import plan_cells  # noqa: E402
from experiments.train import (  # noqa: E402
    SHIPPED_CONFIG_DIR,
    algorithm_class,
    do_nothing_returns,
    evaluation_portfolio_seed,
    load_train_config,
    make_env,
    shipped_config,
    train,
    training_portfolio_seed,
)
from policies.learned import CALL_ACTIONS, LearnedPolicy  # noqa: E402
from sim.catalogue import NO_ACTION  # noqa: E402
from sim.engine import PortfolioModel  # noqa: E402
from sim.errors import ConfigError  # noqa: E402
from sim.features import feature_matrix  # noqa: E402
from sim.scenario import Scenario  # noqa: E402
from sim.simulate import simulate  # noqa: E402

#: Per algorithm: hyperparameters small enough for a few hundred timesteps, and the timesteps trained.
TINY_HYPERPARAMETERS = {
    "ppo": {"n_steps": 16, "batch_size": 64, "n_epochs": 1},
    "maskable_ppo": {"n_steps": 16, "batch_size": 64, "n_epochs": 1},
    "a2c": {"n_steps": 8},
    "dqn": {"buffer_size": 1_000, "learning_starts": 64, "batch_size": 32, "target_update_interval": 64},
}
TIMESTEPS = 256


def write_tiny_config(folder: Path, algo: str, **overrides) -> Path:
    """Write a training YAML of ``algo`` with 8 accounts, 20-day episodes and evaluations every 128 timesteps."""
    data = {
        "name": "tiny",
        "algo": algo,
        "total_timesteps": TIMESTEPS,
        "env": {"horizon": 20, "n_envs": 8},
        "policy_kwargs": {"net_arch": [16]},
        "hyperparameters": TINY_HYPERPARAMETERS[algo],
        "eval": {"freq": 128, "n_accounts": 8},
        "checkpoint": {"freq": 128},
        **overrides,
    }
    path = folder / f"{algo}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained_ppo(tmp_path_factory):
    """The TrainResult of a PPO run of 256 timesteps, with the trained model in memory."""
    folder = tmp_path_factory.mktemp("ppo")
    config = load_train_config(write_tiny_config(folder, "ppo"))
    return train(config, folder / "ppo-tiny-seed0", progress=False)


def tiny_call_centre() -> Scenario:
    """The default scenario with one agent for one hour a day: 13 call attempts of capacity."""
    data = Scenario.load("default").model_dump(mode="json")
    data["name"] = "one_agent"
    data["call_center"].update(agents=1, shift_start_hour=9.0, shift_end_hour=10.0)
    return Scenario.model_validate(data)


def eager_caller(trained_ppo, path: Path) -> Path:
    """Save a copy of the trained PPO whose action logits favour calls by 8, so that it calls almost everyone."""
    model = algorithm_class("ppo").load(trained_ppo.run_dir / "model.zip", device="cpu")
    bias = model.policy.action_net.bias.data
    bias[CALL_ACTIONS] += torch.tensor(8.0 + 0.1 * np.arange(len(CALL_ACTIONS)), dtype=bias.dtype)
    model.save(path)
    return path


# -- arrears train ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algo", ["ppo", "a2c", "dqn", "maskable_ppo"])
def test_train_writes_run_directory(algo, tmp_path):
    out = tmp_path / "run"
    code = main(["train", "--config", str(write_tiny_config(tmp_path, algo)), "--out", str(out), "--no-progress"])
    assert code == 0

    for name in ("model.zip", "config.yaml", "vecnormalize.pkl", "evaluations.npz", "manifest.json"):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["algo"] == algo
    assert manifest["timesteps"] == TIMESTEPS
    assert manifest["history"][0]["training_portfolio_seed"] == training_portfolio_seed(0, 0)
    assert manifest["evaluation_portfolio_seed"] != manifest["history"][0]["training_portfolio_seed"]
    with np.load(out / "evaluations.npz") as evaluations:
        assert evaluations["timesteps"].tolist() == [128, 256]
        assert evaluations["results"].shape == (2, 8)
    assert load_train_config(out / "config.yaml").algo == algo
    assert LearnedPolicy(out / "model.zip").algo == algo


def test_do_nothing_returns_match_rollout(tmp_path):
    config = load_train_config(write_tiny_config(tmp_path, "ppo"))
    env = make_env(config, evaluation_portfolio_seed(0), 8)
    env.reset()
    totals, finished = np.zeros(8), np.zeros(8, dtype=bool)
    while not finished.all():
        _, rewards, dones, _ = env.step(np.full(8, NO_ACTION))
        totals += np.where(finished, 0.0, rewards)
        finished |= dones

    returns = do_nothing_returns(make_env(config, evaluation_portfolio_seed(0), 8), 8)
    assert len(returns) == 8
    assert sorted(returns) == pytest.approx(sorted(totals.tolist()), rel=1e-5)
    assert np.ptp(totals) > 0, "equal returns on every account would make the comparison vacuous"


def test_train_reports_difference_from_do_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        ["train", "--config", str(write_tiny_config(tmp_path, "maskable_ppo")), "--out", str(out), "--no-progress"]
    )
    assert code == 0

    manifest = json.loads((out / "manifest.json").read_text())
    config = load_train_config(out / "config.yaml")
    baseline = np.mean(do_nothing_returns(make_env(config, evaluation_portfolio_seed(0), 8), 8))
    assert manifest["do_nothing_mean_evaluation_return"] == pytest.approx(baseline)
    with np.load(out / "evaluations.npz") as evaluations:
        means = evaluations["results"].mean(axis=1)
    assert manifest["last_evaluation_minus_do_nothing"] == pytest.approx(means[-1] - baseline)
    assert manifest["best_model"]["timesteps"] == [128, 256][int(np.argmax(means))]
    assert manifest["best_model"]["minus_do_nothing"] == pytest.approx(means.max() - baseline)

    output = capsys.readouterr().out
    assert (
        f"evaluation at 128 timesteps: {means[0]:,.2f} per account, {means[0] - baseline:+,.2f} over do_nothing"
        in output
    )
    assert f"evaluation at 256 timesteps: {means[1]:,.2f} per account" in output
    if means.max() > baseline:
        assert f"Use {out / 'best_model.zip'}" in output
    else:
        assert "No evaluation beat do_nothing" in output

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(next((out / "tensorboard").iterdir())))
    events.Reload()
    logged = events.Scalars("eval/mean_reward_minus_do_nothing")
    assert [event.step for event in logged] == [128, 256]
    assert [event.value for event in logged] == pytest.approx((means - baseline).tolist(), rel=1e-4)


def test_saved_model_reproduces_actions(trained_ppo):
    model = PortfolioModel(Scenario.load("default"), policies.load("do_nothing"), n_accounts=300, days=5, seed=3)
    model.begin_day()
    features = feature_matrix(model.observe(model.day))
    loaded = LearnedPolicy(trained_ppo.run_dir / "model.zip")
    loaded.load_model()

    in_memory_actions, _ = trained_ppo.model.predict(features, deterministic=True)
    loaded_actions, _ = loaded.sb3_model.predict(features, deterministic=True)
    assert np.array_equal(in_memory_actions, loaded_actions)

    obs_tensor, _ = trained_ppo.model.policy.obs_to_tensor(features)
    in_memory = trained_ppo.model.policy.get_distribution(obs_tensor).distribution.probs.detach().numpy()
    reloaded = loaded.action_preferences(features, np.ones_like(in_memory, dtype=bool))
    assert np.array_equal(in_memory, reloaded)
    assert np.ptp(reloaded[:, 0]) > 0, "probabilities that ignore the features would make this test vacuous"


def test_same_seed_trains_same_model(trained_ppo, tmp_path):
    config = load_train_config(trained_ppo.run_dir / "config.yaml")
    again = train(config, tmp_path / "again", progress=False)
    first = trained_ppo.model.policy.state_dict()
    second = again.model.policy.state_dict()
    assert all(torch.equal(first[key], second[key]) for key in first)
    assert again.last_mean_reward == trained_ppo.last_mean_reward


def test_resume_continues_step_count(tmp_path):
    out = tmp_path / "run"
    config = write_tiny_config(tmp_path, "ppo", total_timesteps=128)
    assert main(["train", "--config", str(config), "--out", str(out), "--no-progress"]) == 0
    assert main(["train", "--resume", str(out), "--timesteps", "256", "--no-progress"]) == 0

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["timesteps"] == 256
    assert [segment["start_timesteps"] for segment in manifest["history"]] == [0, 128]
    assert manifest["history"][1]["resumed_from"] == "checkpoints/rl_model_128_steps.zip"
    assert manifest["history"][1]["training_portfolio_seed"] == training_portfolio_seed(0, 1)
    with np.load(out / "evaluations.npz") as evaluations:
        assert evaluations["timesteps"].tolist() == [128, 256]
        means = evaluations["results"].mean(axis=1)
    assert algorithm_class("ppo").load(out / "model.zip").num_timesteps == 256
    assert manifest["best_model"]["timesteps"] == [128, 256][int(np.argmax(means))]
    assert manifest["best_model"]["mean_evaluation_return"] == pytest.approx(float(means.max()))


class _Killed(Exception):
    """Stands for the signal that stops a training process after its first checkpoint."""


def test_resume_after_kill_new_accounts(tmp_path, monkeypatch):
    """A segment killed after its checkpoint at 128 timesteps and its evaluation at 192 counts as a segment."""
    from stable_baselines3.common.callbacks import CheckpointCallback

    saving_step = CheckpointCallback._on_step

    def kill_at_192_timesteps(callback) -> bool:
        if callback.num_timesteps >= 192:
            raise _Killed
        return saving_step(callback)

    out = tmp_path / "run"
    config = write_tiny_config(tmp_path, "ppo", eval={"freq": 64, "n_accounts": 8})
    monkeypatch.setattr(CheckpointCallback, "_on_step", kill_at_192_timesteps)
    with pytest.raises(_Killed):
        main(["train", "--config", str(config), "--out", str(out), "--no-progress"])
    monkeypatch.undo()
    with np.load(out / "evaluations.npz") as evaluations:
        assert evaluations["timesteps"].tolist() == [64, 128, 192]

    assert main(["train", "--resume", str(out), "--no-progress"]) == 0

    # The resumed segment starts from the checkpoint at 128 and evaluates 192 again, which replaces the killed row.
    with np.load(out / "evaluations.npz") as evaluations:
        assert evaluations["timesteps"].tolist() == [64, 128, 192, 256]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["history"][1]["resumed_from"] == "checkpoints/rl_model_128_steps.zip"
    seeds = [segment["training_portfolio_seed"] for segment in manifest["history"]]
    assert seeds == [training_portfolio_seed(0, 0), training_portfolio_seed(0, 1)]
    assert manifest["history"][0]["finished_at"] is None
    assert manifest["segments"] == 2


@pytest.mark.parametrize("damaged", ["rl_model_128_steps.zip", "rl_model_vecnormalize_128_steps.pkl"])
def test_resume_from_truncated_checkpoint_exits_2(tmp_path, capsys, damaged):
    out = tmp_path / "run"
    config = write_tiny_config(tmp_path, "ppo", total_timesteps=128)
    assert main(["train", "--config", str(config), "--out", str(out), "--no-progress"]) == 0
    checkpoint = out / "checkpoints" / damaged
    checkpoint.write_bytes(checkpoint.read_bytes()[:200])  # as a save killed midway would leave it
    capsys.readouterr()

    assert main(["train", "--resume", str(out), "--timesteps", "256", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{checkpoint}: --resume: cannot be read (" in err
    assert "delete this checkpoint's files to resume from the one before" in err
    assert json.loads((out / "manifest.json").read_text())["timesteps"] == 128


def test_resume_without_more_timesteps_exits_2(tmp_path, capsys):
    out = tmp_path / "run"
    config = write_tiny_config(tmp_path, "ppo", total_timesteps=128)
    assert main(["train", "--config", str(config), "--out", str(out), "--no-progress"]) == 0
    manifest = (out / "manifest.json").read_bytes()
    capsys.readouterr()

    assert main(["train", "--resume", str(out), "--timesteps", "128", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{out}: --timesteps: the run has trained 128 timesteps already" in err
    assert "pass --timesteps above 128" in err
    assert (out / "manifest.json").read_bytes() == manifest


def test_resume_without_checkpoint_starts_again(tmp_path, capsys):
    out = tmp_path / "run"
    config = write_tiny_config(tmp_path, "ppo", total_timesteps=128)
    assert main(["train", "--config", str(config), "--out", str(out), "--no-progress"]) == 0
    # As a run stopped before its first checkpoint leaves the directory: no checkpoint, no evaluation.
    for checkpoint in (out / "checkpoints").iterdir():
        checkpoint.unlink()
    (out / "evaluations.npz").unlink()
    capsys.readouterr()

    assert main(["train", "--resume", str(out), "--timesteps", "128", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "no checkpoint in checkpoints/ (the run stopped before its first" in err
    assert "so training starts again from timestep 0" in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["timesteps"] == 128
    assert manifest["segments"] == 2
    assert manifest["history"][1]["resumed_from"] is None
    assert manifest["history"][1]["training_portfolio_seed"] == training_portfolio_seed(0, 1)
    assert (out / "model.zip").is_file()


def test_resume_of_missing_directory_exits_2(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path / "nowhere")]) == 2
    assert f"{tmp_path / 'nowhere'}: --resume: directory not found" in capsys.readouterr().err


def test_resume_rejects_edited_scenario(tmp_path, capsys):
    scenario = tmp_path / "mine.yaml"
    scenario.write_text("extends: default\nname: mine\n", encoding="utf-8")
    out = tmp_path / "run"
    config = write_tiny_config(
        tmp_path, "ppo", total_timesteps=128, env={"scenario": "mine.yaml", "horizon": 20, "n_envs": 8}
    )
    assert main(["train", "--config", str(config), "--out", str(out), "--no-progress"]) == 0
    manifest = (out / "manifest.json").read_bytes()
    scenario.write_text("extends: default\nname: mine\ncall_center: {agents: 1}\n", encoding="utf-8")
    capsys.readouterr()

    assert main(["train", "--resume", str(out), "--timesteps", "256", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{out}: --resume: the scenario {scenario} changed since the run began" in err
    assert (out / "manifest.json").read_bytes() == manifest


def test_resume_rejects_edited_config(tmp_path, capsys):
    out = tmp_path / "run"
    config = write_tiny_config(tmp_path, "ppo", total_timesteps=128)
    assert main(["train", "--config", str(config), "--out", str(out), "--no-progress"]) == 0
    run_config = out / "config.yaml"
    run_config.write_text(run_config.read_text().replace("horizon: 20", "horizon: 5"), encoding="utf-8")
    capsys.readouterr()

    assert main(["train", "--resume", str(out), "--timesteps", "256", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{run_config} differs from the settings the run began with" in err
    assert "only --timesteps may change" in err
    assert json.loads((out / "manifest.json").read_text())["timesteps"] == 128


def test_resume_rejects_changed_seed(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    assert main(["train", "--resume", str(out), "--seed", "3"]) == 2
    assert "--seed: cannot change a run being resumed" in capsys.readouterr().err


def test_out_must_be_new(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["train", "--algo", "ppo", "--out", str(tmp_path)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"hyperparameters": {"n_stepz": 16}}, "hyperparameters.n_stepz: unknown key; allowed: learning_rate, n_steps"),
        ({"hyperparameters": {"gamma": 1.5}}, "hyperparameters.gamma: Input should be less than or equal to 1"),
        ({"algo": "sac"}, "algo: unknown algorithm 'sac'; allowed: ppo, a2c, dqn, maskable_ppo"),
        ({"env": {"n_envs": 0}}, "env.n_envs: Input should be greater than or equal to 1"),
        ({"env": {"scenario": "atlantis"}}, "env.scenario: 'atlantis'"),
        ({"policy_kwargs": {"activation_fn": "gelu"}}, "policy_kwargs.activation_fn: Input should be 'tanh' or 'relu'"),
    ],
)
def test_bad_config_exits_2_with_one_line(change, expected, tmp_path, capsys):
    path = write_tiny_config(tmp_path, "ppo")
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), **change}), encoding="utf-8")
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"arrears train: error: {path}: {expected}")
    assert not (tmp_path / "run").exists()


EXPERIMENT = "name: tiny\nscenario: default\npolicies: [standard]\nseeds: 2\nn_accounts: 300\nhorizon_days: 20\n"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (EXPERIMENT, "is an experiment config (it has 'policies'), not a training config; run it with arrears run"),
        ("name: mine\nstages: []\n", "is a waterfall (it has 'stages'), not a training config"),
    ],
)
def test_train_config_of_other_kind_named(tmp_path, capsys, text, fragment):
    config = tmp_path / "other.yaml"
    config.write_text(text, encoding="utf-8")

    assert main(["train", "--config", str(config), "--out", str(tmp_path / "rl")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"arrears train: error: {config}: {fragment}")
    assert not (tmp_path / "rl").exists()


def test_train_resume_of_experiment_run_named(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text(EXPERIMENT, encoding="utf-8")

    assert main(["train", "--resume", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{run_dir / 'config.yaml'}: is an experiment config" in err
    assert "run it with arrears run" in err


def test_a2c_one_timestep_rollout_exits_2(tmp_path, capsys):
    path = write_tiny_config(tmp_path, "a2c")
    data = yaml.safe_load(path.read_text())
    data["env"]["n_envs"] = 1
    data["hyperparameters"] = {"n_steps": 1, "normalize_advantage": True}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")

    assert main(["train", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"arrears train: error: {path}: hyperparameters.normalize_advantage: needs a rollout")
    assert not (tmp_path / "run").exists()


def test_shipped_configs_validate():
    for algo in ("ppo", "a2c", "dqn", "maskable_ppo"):
        config = load_train_config(shipped_config(algo))
        assert config.algo == algo
        assert config.name == "default"


def test_every_shipped_config_loads():
    paths = sorted(SHIPPED_CONFIG_DIR.glob("*.yaml"))
    assert "ppo_tiny.yaml" in [path.name for path in paths]
    for path in paths:
        config = load_train_config(path)  # raises ConfigError on an invalid key or value
        assert config.algo in ("ppo", "a2c", "dqn", "maskable_ppo"), path.name


# -- learned policies ---------------------------------------------------------------------------------------------


def test_learned_policy_caps_calls_at_capacity(trained_ppo, tmp_path):
    scenario = tiny_call_centre()
    policy = LearnedPolicy(eager_caller(trained_ppo, tmp_path / "caller.zip"))
    model = PortfolioModel(scenario, policy, n_accounts=300, days=5, seed=1)
    obs = model.begin_day()
    capacity = model.call_centre.expected_calls(obs.day)
    features = feature_matrix(obs)
    raw, _ = policy.sb3_model.predict(features, deterministic=True)
    mask = model.action_mask(obs)
    queued = np.isin(raw, CALL_ACTIONS) & obs.active & mask[np.arange(300), raw]
    assert capacity == 13
    assert queued.sum() > 5 * capacity, "the raw policy must ask for more calls than the agents can make"

    actions = policy.decide(obs)
    called = np.flatnonzero(np.isin(actions, CALL_ACTIONS))
    probabilities = policy.action_preferences(features, mask)
    call_probability = probabilities[:, CALL_ACTIONS].sum(axis=1)
    assert len(called) == capacity
    assert call_probability[called].min() >= call_probability[queued & ~np.isin(actions, CALL_ACTIONS)].max()
    demoted = queued & ~np.isin(actions, CALL_ACTIONS)
    assert mask[demoted, actions[demoted]].all(), "a demoted call becomes an allowed non-call action"

    result = simulate(scenario, policy, n_accounts=300, days=10, seed=1)
    days = result.daily["day"].to_numpy()
    limits = np.array([result.model.call_centre.expected_calls(day) for day in days])
    assert (result.daily["calls_requested"].to_numpy() <= limits).all()
    assert result.daily["calls_requested"].max() == capacity


@pytest.mark.parametrize("algo", ["a2c", "dqn", "maskable_ppo"])
def test_cap_calls_for_each_algorithm(algo, tmp_path):
    run = train(load_train_config(write_tiny_config(tmp_path, algo)), tmp_path / "run", progress=False)
    policy = LearnedPolicy(run.run_dir / "model.zip")
    model = PortfolioModel(tiny_call_centre(), policy, n_accounts=200, days=5, seed=1)
    obs = model.begin_day()
    features = feature_matrix(obs)
    mask = model.action_mask(obs)
    wanted = np.where(mask[:, CALL_ACTIONS[0]] & obs.active, CALL_ACTIONS[0], 0)
    assert (wanted > 0).sum() > 13

    actions = policy.cap_calls(obs, features, mask, wanted)
    calls = np.isin(actions, CALL_ACTIONS)
    demoted = (wanted > 0) & ~calls
    assert calls.sum() == model.call_centre.expected_calls(obs.day) == 13
    assert mask[demoted, actions[demoted]].all()
    assert not np.isin(actions[demoted], CALL_ACTIONS).any()


def test_learned_policy_repeats_with_same_seed(trained_ppo):
    first = simulate("default", LearnedPolicy(trained_ppo.run_dir / "model.zip"), n_accounts=200, days=10, seed=4)
    second = simulate("default", policies.load(str(trained_ppo.run_dir / "model.zip")), n_accounts=200, days=10, seed=4)
    pd.testing.assert_frame_equal(first.metrics, second.metrics)
    assert first.metrics.at[0, "policy"] == "ppo-tiny-seed0"
    assert LearnedPolicy(trained_ppo.run_dir / "best_model.zip").name == "ppo-tiny-seed0-best"


def test_experiment_runs_model_next_to_waterfall(trained_ppo, tmp_path):
    model_path = tmp_path / "models" / "ppo" / "model.zip"
    model_path.parent.mkdir(parents=True)
    model_path.write_bytes((trained_ppo.run_dir / "model.zip").read_bytes())
    config = tmp_path / "experiment.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "learned",
                "policies": ["standard", "models/ppo/model.zip"],
                "seeds": 2,
                "n_accounts": 150,
                "horizon_days": 10,
            }
        )
    )
    out = tmp_path / "run"
    assert main(["run", str(config), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert sorted(metrics["policy"].unique()) == ["ppo", "standard"]
    assert len(metrics) == 4

    before = {cell.policy: cell.key for cell in plan_cells(load_config(config))[0] if cell.seed == 0}
    eager_caller(trained_ppo, model_path)
    after = {cell.policy: cell.key for cell in plan_cells(load_config(config))[0] if cell.seed == 0}
    assert after["standard"] == before["standard"]
    assert after["ppo"] != before["ppo"], "a changed model file must change its cells' keys, so resume reruns them"


def test_model_without_rl_packages_names_the_model(trained_ppo, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name in ("torch", "sb3_contrib") else real_find_spec(name, *args),
    )
    path = trained_ppo.run_dir / "model.zip"
    with pytest.raises(ConfigError) as caught:
        LearnedPolicy(path)
    assert caught.value.source == str(path)
    assert caught.value.key_path == "policy"
    assert caught.value.message.startswith("needs sb3_contrib, torch, which are not installed;")


def test_missing_model_in_experiment_exits_2(tmp_path, capsys):
    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump({"name": "x", "policies": ["standard", "nowhere/model.zip"]}))
    assert main(["validate", str(config)]) == 2
    assert "policies[1]: 'nowhere/model.zip': model file not found" in capsys.readouterr().err


def rewritten_model(source: Path, target: Path, change) -> Path:
    """Copy the model zip ``source`` to ``target`` with ``change`` applied to its JSON ``data`` member."""
    import zipfile

    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for item in original.infolist():
            content = original.read(item.filename)
            if item.filename == "data":
                data = json.loads(content)
                change(data)
                content = json.dumps(data).encode()
            copy.writestr(item, content)
    return target


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda data: data["policy_class"].update(__module__="stable_baselines3.sac.policies"),
            "is a model of an algorithm arrears does not load; allowed: ppo, a2c, dqn, maskable_ppo",
        ),
        (
            lambda data: data["observation_space"].update(_shape=[4]),
            "is a model for observations of shape [4], not of the 25 features of arrears/Account-v0",
        ),
        (
            lambda data: data["action_space"].update(n="2"),
            "is a model with a Discrete(2) action space, not the 37 catalogue actions of arrears/Account-v0",
        ),
    ],
)
def test_model_of_other_env_rejected_before_run(trained_ppo, tmp_path, capsys, change, message):
    rewritten_model(trained_ppo.run_dir / "model.zip", tmp_path / "other.zip", change)
    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump({"name": "x", "policies": ["standard", "other.zip"], "n_accounts": 50}))

    assert main(["validate", str(config)]) == 2
    assert message in capsys.readouterr().err
    assert main(["run", str(config), "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_model_suffix_in_upper_case_runs(trained_ppo, tmp_path, capsys):
    shutil.copyfile(trained_ppo.run_dir / "model.zip", tmp_path / "MODEL.ZIP")
    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump({"name": "x", "policies": ["standard", "MODEL.ZIP"], "n_accounts": 20}))

    code = main(["run", str(config), "--out", str(tmp_path / "run"), "--no-progress", "--seeds", "1"])

    assert code == 0, capsys.readouterr().err
    metrics = pd.read_parquet(tmp_path / "run" / "metrics.parquet")
    assert sorted(metrics["policy"]) == ["MODEL", "standard"]


def with_damaged_weights(source: Path, target: Path) -> Path:
    """Copy the model zip ``source`` to ``target``, its ``policy.pth`` member replaced by bytes torch cannot read."""
    import zipfile

    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for item in original.infolist():
            content = b"not a torch file" if item.filename == "policy.pth" else original.read(item.filename)
            copy.writestr(item, content)
    return target


@pytest.mark.parametrize("workers", ["1", "2"])
def test_model_with_damaged_weights_exits_2(trained_ppo, tmp_path, capsys, workers):
    with_damaged_weights(trained_ppo.run_dir / "model.zip", tmp_path / "damaged.zip")
    config = tmp_path / "experiment.yaml"
    config.write_text(
        yaml.safe_dump({"name": "x", "policies": ["standard", "damaged.zip"], "n_accounts": 50, "horizon_days": 5})
    )

    code = main(["run", str(config), "--out", str(tmp_path / "run"), "--workers", workers, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "experiment.yaml: policies[1]: 'damaged.zip': cannot be loaded (" in err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_model_replaced_after_hash_runs_as_hashed(trained_ppo, tmp_path, monkeypatch):
    model = tmp_path / "m.zip"
    shutil.copyfile(trained_ppo.run_dir / "model.zip", model)
    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump({"name": "x", "policies": ["m.zip"], "n_accounts": 20, "horizon_days": 3}))
    cells, arguments = plan_cells(load_config(config))
    expected = runner.compute_cell(*arguments[0]).metrics
    replacement = with_damaged_weights(model, tmp_path / "replacement.zip")
    bind = LearnedPolicy.bind

    def bind_after_replacement(self, portfolio):
        # The file is replaced after the cell compared its hash with the plan and before the model loads.
        if replacement.exists():
            replacement.replace(model)
        bind(self, portfolio)

    monkeypatch.setattr(LearnedPolicy, "bind", bind_after_replacement)
    assert runner.compute_cell(*arguments[0]).metrics == expected
    assert not replacement.exists()


def test_model_with_damaged_weights_fails_validate(trained_ppo, tmp_path, capsys):
    with_damaged_weights(trained_ppo.run_dir / "model.zip", tmp_path / "damaged.zip")
    config = tmp_path / "experiment.yaml"
    arms = {"standard": 0.5, "damaged.zip": 0.5}
    config.write_text(yaml.safe_dump({"name": "x", "policies": ["standard"], "splits": [{"name": "ab", "arms": arms}]}))

    assert main(["validate", str(config)]) == 2
    err = capsys.readouterr().err
    assert "experiment.yaml: splits[0].arms.damaged.zip: 'damaged.zip': cannot be loaded (" in err


# -- arrears tune -------------------------------------------------------------------------------------------------


def test_tune_runs_trials_in_sqlite_study(tmp_path, capsys):
    optuna = pytest.importorskip("optuna")
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    out = tmp_path / "best.yaml"
    config = write_tiny_config(tmp_path, "ppo")
    arguments = ["tune", "--config", str(config), "--trials", "2", "--timesteps", "128", "--no-progress"]
    code = main([*arguments, "--storage", storage, "--study-name", "tiny", "--out", str(out)])
    assert code == 0

    study = optuna.load_study(study_name="tiny", storage=storage)
    assert len(study.trials) == 2
    assert all(trial.state == optuna.trial.TrialState.COMPLETE for trial in study.trials)
    best = load_train_config(out)
    assert best.hyperparameters.learning_rate == study.best_params["learning_rate"]
    assert best.hyperparameters.n_epochs == study.best_params["n_epochs"]
    assert best.total_timesteps == 128
    # PPO trains one rollout of n_steps on each of the 8 accounts, more than the budget of 128.
    trained = study.best_trial.params["n_steps"] * 8
    assert study.best_trial.user_attrs["timesteps"] == trained
    assert f"after {trained:,} timesteps of training (a budget of 128, in whole rollouts)" in best.description
    assert "best trial" in capsys.readouterr().out


def test_learning_leaves_no_temp_folder(tmp_path, monkeypatch):
    # SB3's default logger creates an empty SB3-<date> folder in the temporary directory at every learn().
    pytest.importorskip("optuna")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    config = write_tiny_config(tmp_path, "ppo")
    arguments = ["--config", str(config), "--timesteps", "128", "--no-progress"]
    assert main(["tune", *arguments, "--trials", "2", "--out", str(tmp_path / "best.yaml")]) == 0
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *rest: None if name == "tensorboard" else find_spec(name, *rest)
    )
    assert main(["train", *arguments, "--out", str(tmp_path / "run")]) == 0
    assert not (tmp_path / "run" / "tensorboard").exists()
    assert sorted(path.name for path in temporary.glob("SB3-*")) == []


def test_tune_takes_algo_from_config(tmp_path, capsys):
    optuna = pytest.importorskip("optuna")
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    config = write_tiny_config(tmp_path, "a2c")
    arguments = ["tune", "--config", str(config), "--trials", "1", "--timesteps", "128", "--no-progress"]
    assert main([*arguments, "--storage", storage, "--out", str(tmp_path / "best.yaml")]) == 0
    assert load_train_config(tmp_path / "best.yaml").algo == "a2c"
    assert optuna.load_study(study_name="a2c-tiny", storage=storage).trials[0].state.name == "COMPLETE"


def test_tune_retries_storage_being_created(tmp_path, monkeypatch):
    optuna = pytest.importorskip("optuna")
    sqlalchemy_exc = pytest.importorskip("sqlalchemy.exc")
    create_study = optuna.create_study
    attempts = []

    def lose_the_race_twice(**options):
        # The two errors that a process gets when another one creates the same new SQLite storage at the same time.
        attempts.append(options["study_name"])
        if len(attempts) == 1:
            raise sqlalchemy_exc.IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))
        if len(attempts) == 2:
            raise sqlalchemy_exc.OperationalError("CREATE", {}, Exception("table alembic_version already exists"))
        return create_study(**options)

    monkeypatch.setattr(optuna, "create_study", lose_the_race_twice)
    monkeypatch.setattr(tune_module, "STORAGE_PAUSE_SECONDS", 0.0)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    config = write_tiny_config(tmp_path, "ppo")
    arguments = ["tune", "--config", str(config), "--trials", "1", "--timesteps", "128", "--no-progress"]

    assert main([*arguments, "--storage", storage, "--study-name", "race", "--out", str(tmp_path / "best.yaml")]) == 0
    assert attempts == ["race", "race", "race"]
    assert len(optuna.load_study(study_name="race", storage=storage).trials) == 1


def test_tune_other_storage_error_not_retried(tmp_path, monkeypatch, capsys):
    optuna = pytest.importorskip("optuna")
    sqlalchemy_exc = pytest.importorskip("sqlalchemy.exc")
    attempts = []

    def unable_to_open(**options):
        attempts.append(options["study_name"])
        raise sqlalchemy_exc.OperationalError("CONNECT", {}, Exception("unable to open database file"))

    monkeypatch.setattr(optuna, "create_study", unable_to_open)
    config = write_tiny_config(tmp_path, "ppo")
    arguments = ["tune", "--config", str(config), "--trials", "1", "--timesteps", "128", "--no-progress"]

    assert main([*arguments, "--storage", "sqlite:////nonexistent/x.db", "--out", str(tmp_path / "best.yaml")]) == 2
    assert attempts == ["ppo-tiny"]
    assert "cannot open the Optuna storage" in capsys.readouterr().err


def test_tune_storage_error_hides_password(tmp_path, capsys):
    pytest.importorskip("optuna")
    config = write_tiny_config(tmp_path, "ppo")
    arguments = ["tune", "--config", str(config), "--trials", "1", "--timesteps", "128", "--no-progress"]
    # A dialect with no driver fails when SQLAlchemy loads it, before any connection.
    storage = "mysql+nosuchdriver://analyst:s3cret@localhost/optuna"
    code = main([*arguments, "--storage", storage, "--out", str(tmp_path / "best.yaml")])
    assert code == 2
    err = capsys.readouterr().err
    assert "s3cret" not in err
    assert "mysql+nosuchdriver://analyst:***@localhost/optuna: --storage: cannot open the Optuna storage" in err


def test_tune_bad_storage_exits_2(tmp_path, capsys):
    pytest.importorskip("optuna")
    config = write_tiny_config(tmp_path, "ppo")
    arguments = ["tune", "--config", str(config), "--trials", "1", "--timesteps", "128", "--no-progress"]
    code = main([*arguments, "--storage", "garbage", "--out", str(tmp_path / "best.yaml")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "garbage: --storage: cannot open the Optuna storage" in err
    assert "sqlite:///study.db" in err


def test_pruned_trial_stops_training_early(tmp_path):
    optuna = pytest.importorskip("optuna")
    from experiments.tune import objective

    source = str(write_tiny_config(tmp_path, "ppo", total_timesteps=512))
    base = load_train_config(source)
    # Every evaluation return lies below this threshold, so the pruner stops the trial at its first evaluation.
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=1e12))
    study.optimize(lambda trial: objective(trial, base, source, False), n_trials=1)

    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert list(trial.intermediate_values) == [1]


def test_pruner_spares_first_evaluation():
    optuna = pytest.importorskip("optuna")
    from experiments.tune import STARTUP_TRIALS, WARMUP_EVALUATIONS, warmed_up_pruner

    study = optuna.create_study(direction="maximize", pruner=warmed_up_pruner())
    for _ in range(STARTUP_TRIALS):
        trial = study.ask()
        for step in range(1, WARMUP_EVALUATIONS + 2):
            trial.report(100.0, step)
        study.tell(trial, 100.0)

    # Steps count evaluations from 1, as the trial callback reports them.
    trial = study.ask()
    for step in range(1, WARMUP_EVALUATIONS + 1):
        trial.report(0.0, step)
        assert not trial.should_prune(), f"pruned at evaluation {step}"
    trial.report(0.0, WARMUP_EVALUATIONS + 1)
    assert trial.should_prune()


def test_trial_value_is_best_evaluation(tmp_path):
    optuna = pytest.importorskip("optuna")
    from experiments.tune import objective

    source = str(write_tiny_config(tmp_path, "ppo", total_timesteps=1024))
    base = load_train_config(source)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    # Rollouts of 32 × 8 accounts and a large learning rate, so that the policy, and its evaluations, change.
    study.enqueue_trial(
        {
            "learning_rate": 3e-3,
            "gamma": 0.99,
            "gae_lambda": 0.95,
            "ent_coef": 1e-6,
            "vf_coef": 0.5,
            "max_grad_norm": 0.5,
            "n_steps": 32,
            "batch_size": 256,
            "n_epochs": 10,
            "clip_range": 0.3,
            "net_width": 32,
            "net_depth": 1,
            "activation_fn": "tanh",
        }
    )
    study.optimize(lambda trial: objective(trial, base, source, False), n_trials=1)

    trial = study.trials[0]
    evaluations = list(trial.intermediate_values.values())
    assert len(evaluations) > 1
    assert evaluations[-1] < max(evaluations), "with the last evaluation the best, this test could not fail"
    assert trial.value == max(evaluations)


# -- checks before tuning or training -----------------------------------------------------------------------------


def tune_arguments(tmp_path: Path) -> list[str]:
    """Return the arguments of a one-trial tune of 128 timesteps, with a tiny config written to ``tmp_path``."""
    config = write_tiny_config(tmp_path, "ppo")
    return ["tune", "--config", str(config), "--trials", "1", "--timesteps", "128", "--no-progress"]


def test_tune_out_directory_exits_2_before_trials(tmp_path, capsys):
    pytest.importorskip("optuna")
    folder = tmp_path / "folder"
    folder.mkdir()
    assert main([*tune_arguments(tmp_path), "--out", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err == f"arrears tune: error: {folder}: --out: is a directory; name the file to write inside it\n"


def test_tune_out_rejects_config_file(tmp_path, capsys):
    pytest.importorskip("optuna")
    arguments = tune_arguments(tmp_path)
    config = Path(arguments[2])
    original = config.read_text()
    assert main([*arguments, "--out", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"arrears tune: error: {config}: --out: is the --config file")
    assert err.count("\n") == 1
    assert config.read_text() == original


def test_tune_out_rejects_other_existing_file(tmp_path, capsys):
    pytest.importorskip("optuna")
    notes = tmp_path / "notes.yaml"
    notes.write_text("algo: ppo\ndescription: my own notes\n")
    assert main([*tune_arguments(tmp_path), "--out", str(notes)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"arrears tune: error: {notes}: --out: exists and is not a config written by arrears tune")
    assert "trial 0" not in err
    assert notes.read_text() == "algo: ppo\ndescription: my own notes\n"


def test_tune_out_replaces_earlier_tune_result(tmp_path, capsys):
    pytest.importorskip("optuna")
    out = tmp_path / "best.yaml"
    arguments = [*tune_arguments(tmp_path), "--study-name", "again", "--out", str(out)]
    assert main(arguments) == 0
    first = out.read_text()
    assert main([*arguments, "--seed", "1"]) == 0
    assert out.read_text() != first
    assert load_train_config(out).seed == 1


@pytest.mark.parametrize("study_name", ["../../../../escaped", "ABSOLUTE/x", ""])
def test_tune_study_name_outside_results_rejected(tmp_path, capsys, monkeypatch, study_name):
    pytest.importorskip("optuna")
    arguments = tune_arguments(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    # From work/results/rl/tune, ../../../../escaped.yaml is tmp_path/escaped.yaml, outside the results folder.
    # An absolute name inside tmp_path, so that a failing test writes there and not at the filesystem root.
    study_name = study_name.replace("ABSOLUTE", str(tmp_path / "absolute"))
    assert main([*arguments, "--study-name", study_name]) == 2
    err = capsys.readouterr().err
    assert err.startswith("arrears tune: error: --study-name: ")
    assert err.count("\n") == 1
    assert "trial 0" not in err
    assert sorted(path.name for path in tmp_path.rglob("*.yaml")) == ["ppo.yaml"]


@pytest.mark.parametrize(
    ("hyperparameters", "key"),
    [
        ({"learning_rate": "lin_-0.001"}, "learning_rate"),
        ({"learning_rate": "lin_0"}, "learning_rate"),
        ({"learning_rate": "lin_1e999"}, "learning_rate"),
        ({"learning_rate": "lin_."}, "learning_rate"),
        ({"clip_range": "lin_-0.2"}, "clip_range"),
    ],
)
def test_nonpositive_schedule_rejected(hyperparameters, key, tmp_path, capsys):
    path = write_tiny_config(tmp_path, "ppo", hyperparameters={**TINY_HYPERPARAMETERS["ppo"], **hyperparameters})
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"arrears validate: error: {path}: hyperparameters.{key}: must be a number above 0, or 'lin_' and a finite "
        f"number above 0 for a linear decay, such as lin_3.0e-4, got {hyperparameters[key]!r}\n"
    )


def test_positive_schedule_accepted(tmp_path):
    hyperparameters = {**TINY_HYPERPARAMETERS["ppo"], "learning_rate": "lin_3.0e-4", "clip_range": "lin_0.2"}
    config = load_train_config(write_tiny_config(tmp_path, "ppo", hyperparameters=hyperparameters))
    assert config.hyperparameters.learning_rate == "lin_3.0e-4"
    assert config.hyperparameters.clip_range == "lin_0.2"


@pytest.mark.parametrize(
    ("overrides", "key", "message"),
    [
        (
            {"hyperparameters": {**TINY_HYPERPARAMETERS["ppo"], "ent_coef": float("inf")}},
            "hyperparameters.ent_coef",
            "Input should be a finite number, got inf",
        ),
        (
            {"hyperparameters": {**TINY_HYPERPARAMETERS["ppo"], "vf_coef": float("inf")}},
            "hyperparameters.vf_coef",
            "Input should be a finite number, got inf",
        ),
        (
            {"env": {"horizon": 20, "n_envs": 8, "reward": {"recovery_weight": float("inf")}}},
            "env.reward.recovery_weight",
            "Input should be a finite number, got inf",
        ),
        (
            {"policy_kwargs": {"net_arch": {"pi": [8], "vf": [-1]}}},
            "policy_kwargs.net_arch.vf[0]",
            "Input should be greater than or equal to 1, got -1",
        ),
        (
            {"policy_kwargs": {"net_arch": {"pi": [0], "vf": [8]}}},
            "policy_kwargs.net_arch.pi[0]",
            "Input should be greater than or equal to 1, got 0",
        ),
    ],
)
def test_infinite_number_or_empty_layer_rejected(overrides, key, message, tmp_path, capsys):
    path = write_tiny_config(tmp_path, "ppo", **overrides)
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err == f"arrears validate: error: {path}: {key}: {message}\n"


def test_errors_outside_hyperparameters_counted(tmp_path, capsys):
    hyperparameters = {**TINY_HYPERPARAMETERS["ppo"], "gamma": 1.5}
    path = write_tiny_config(
        tmp_path, "ppo", hyperparameters=hyperparameters, policy_kwargs={"activation_fn": "sigmoid"}
    )

    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"arrears validate: error: {path}: hyperparameters.gamma: Input should be less than or equal to 1, got 1.5 "
        "(and 1 more error)\n"
    )


def test_missing_scenario_file_names_training_key(tmp_path, capsys):
    path = write_tiny_config(tmp_path, "ppo", env={"horizon": 20, "n_envs": 8, "scenario": "nosuch.yaml"})
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err == f"arrears train: error: {path}: env.scenario: 'nosuch.yaml': file not found\n"
    assert not (tmp_path / "run").exists()


def test_dqn_buffer_smaller_than_batch_rejected(tmp_path, capsys):
    hyperparameters = {**TINY_HYPERPARAMETERS["dqn"], "buffer_size": 1, "batch_size": 64}
    path = write_tiny_config(tmp_path, "dqn", hyperparameters=hyperparameters)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"arrears validate: error: {path}: hyperparameters.buffer_size: 1 is smaller than batch_size 64"
    )
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("algo", "setting", "value", "shown"),
    [
        ("dqn", "buffer_size", 10**14, "100,000,000,000,000 needs about"),
        ("ppo", "n_steps", 10**12, "1,000,000,000,000 × env.n_envs 8 needs about"),
        ("maskable_ppo", "n_steps", 10**12, "1,000,000,000,000 × env.n_envs 8 needs about"),
    ],
)
def test_buffer_larger_than_memory_rejected(tmp_path, capsys, algo, setting, value, shown):
    hyperparameters = {**TINY_HYPERPARAMETERS[algo], setting: value}
    path = write_tiny_config(tmp_path, algo, hyperparameters=hyperparameters)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"arrears validate: error: {path}: hyperparameters.{setting}: {shown} ")
    assert "GiB for the training buffer, more than this machine's" in err
    assert err.count("\n") == 1


def test_buffer_estimate_matches_sb3(tmp_path):
    """The estimate of the rollout and replay buffers is within a tenth of the arrays SB3 allocates."""
    from stable_baselines3.common.buffers import ReplayBuffer, RolloutBuffer

    from experiments.train import _buffer_bytes
    from sim.envs.sb3 import SB3AccountVecEnv

    env = SB3AccountVecEnv(num_envs=8)
    ppo = load_train_config(write_tiny_config(tmp_path, "ppo"))
    rollout = RolloutBuffer(ppo.hyperparameters.n_steps, env.observation_space, env.action_space, n_envs=8)
    rollout_arrays = ("observations", "actions", "rewards", "returns", "episode_starts", "values", "log_probs")
    rollout_bytes = sum(getattr(rollout, name).nbytes for name in (*rollout_arrays, "advantages"))
    assert _buffer_bytes(ppo)[2] == pytest.approx(rollout_bytes, rel=0.1)

    dqn = load_train_config(write_tiny_config(tmp_path, "dqn"))
    replay = ReplayBuffer(dqn.hyperparameters.buffer_size, env.observation_space, env.action_space, n_envs=8)
    replay_arrays = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")
    replay_bytes = sum(getattr(replay, name).nbytes for name in replay_arrays)
    assert _buffer_bytes(dqn)[2] == pytest.approx(replay_bytes, rel=0.1)


@pytest.mark.parametrize(
    ("command", "advice"),
    [
        ("run", "; use fewer accounts or --workers 1"),
        ("train", "; lower env.n_envs, hyperparameters.n_steps or hyperparameters.buffer_size of the training config"),
        ("list", ""),
    ],
)
def test_memory_advice_fits_command(monkeypatch, capsys, command, advice):
    from experiments import cli

    def exhausted(args):
        raise MemoryError

    monkeypatch.setitem(cli.COMMANDS, command, exhausted)
    arguments = {"run": ["run"], "train": ["train", "--algo", "ppo"], "list": ["list"]}[command]
    assert main(arguments) == 1
    assert capsys.readouterr().err == f"arrears {command}: error: out of memory{advice}\n"


def test_recommendation_treats_float32_tie_as_no_win(tmp_path):
    from experiments.train import TrainResult, recommendation

    def result(best: float, baseline: float) -> TrainResult:
        return TrainResult(
            run_dir=tmp_path,
            timesteps=256,
            last_mean_reward=best,
            seconds=1.0,
            model=None,
            do_nothing_mean_reward=baseline,
            best_mean_reward=best,
            best_timesteps=128,
        )

    # The means of one run whose model acted like do_nothing: float32 against float64, 2.4e-07 apart.
    tie = recommendation(result(float(np.float32(7.439871788)), 7.439871549), 8)
    assert "No evaluation beat do_nothing" in tie
    assert "best_model.zip" not in tie
    win = recommendation(result(7.45, 7.439871549), 8)
    assert f"Use {tmp_path / 'best_model.zip'}" in win


@pytest.mark.parametrize(("algo", "timesteps"), [("ppo", 1_152), ("a2c", 1_152), ("dqn", 1_104)])
def test_progress_bar_total_is_timesteps_run(algo, timesteps, tmp_path, monkeypatch):
    pytest.importorskip("tqdm")
    pytest.importorskip("rich")
    import experiments.train as train_module

    bars = []
    build_bar = train_module.progress_bar_callback

    def record_bar():
        bar = build_bar()
        bars.append(bar)
        return bar

    monkeypatch.setattr(train_module, "progress_bar_callback", record_bar)
    # Rollouts of 16 × 8 = 128 timesteps for PPO, 8 × 8 = 64 for A2C, and vector steps of 8 for DQN.
    config = load_train_config(write_tiny_config(tmp_path, algo, total_timesteps=1_100, eval={"freq": 10**6}))
    result = train(config, tmp_path / "run", progress=True)

    assert result.timesteps == timesteps
    assert len(bars) == 1
    assert bars[0].pbar.total == timesteps
    assert bars[0].pbar.n == timesteps


# -- the lock on a run directory ----------------------------------------------------------------------------------


def test_train_into_locked_out_exits_2(tmp_path, capsys):
    from experiments.runner import _exclusive_run_directory

    config = write_tiny_config(tmp_path, "ppo")
    out = tmp_path / "race"

    # The test holds the lock as a concurrent `arrears train --out race` would.
    with _exclusive_run_directory(out.resolve(), command="train"):
        code = main(["train", "--config", str(config), "--out", str(out), "--no-progress"])

    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "race: --out: another arrears train is writing to this directory" in err
    assert not out.exists()
    assert not (tmp_path / ".race.lock").exists()


def test_resume_of_locked_run_exits_2(tmp_path, capsys):
    from experiments.runner import _exclusive_run_directory

    config = write_tiny_config(tmp_path, "ppo")
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "--out", str(out), "--no-progress"]) == 0
    assert not (tmp_path / ".run.lock").exists(), "a finished train left its lock file"
    capsys.readouterr()

    with _exclusive_run_directory(out.resolve(), command="train"):
        code = main(["train", "--resume", str(out), "--timesteps", "512", "--no-progress"])

    assert code == 2
    assert "run: --resume: another arrears train is writing to this directory" in capsys.readouterr().err
    assert sorted(path.name for path in (out / "tensorboard").iterdir()) == ["ppo_1"]


@pytest.mark.parametrize(("error", "exit_code"), [(KeyboardInterrupt, 130), (OSError(28, "No space left"), 1)])
def test_train_releases_lock_on_error(error, exit_code, tmp_path, capsys, monkeypatch):
    from experiments.runner import _exclusive_run_directory

    def fail(*args, **kwargs):
        assert (tmp_path / ".run.lock").exists(), "train ran without the lock"
        raise error

    monkeypatch.setattr("experiments.train.train", fail)
    config = write_tiny_config(tmp_path, "ppo")

    code = main(["train", "--config", str(config), "--out", str(tmp_path / "run"), "--no-progress"])

    assert code == exit_code
    assert not (tmp_path / ".run.lock").exists()
    with _exclusive_run_directory((tmp_path / "run").resolve(), command="train"):
        pass  # the lock can be taken again


# -- continuing a tuning study, and train --out that is a file ----------------------------------------------------


def tune_into_study(tmp_path: Path, config: Path, *options: str) -> int:
    """Run a one-trial tune of ``config`` into the SQLite study "shared" in ``tmp_path``; return the exit code."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    arguments = ["tune", "--config", str(config), "--trials", "1", "--timesteps", "128", "--no-progress"]
    return main([*arguments, "--storage", storage, "--study-name", "shared", *options])


def test_tune_study_records_trial_settings(tmp_path, capsys):
    optuna = pytest.importorskip("optuna")
    from experiments.tune import TRIAL_SETTINGS_ATTR

    config = write_tiny_config(tmp_path, "ppo")
    assert tune_into_study(tmp_path, config, "--out", str(tmp_path / "best.yaml")) == 0

    study = optuna.load_study(study_name="shared", storage=f"sqlite:///{tmp_path / 'study.db'}")
    recorded = study.user_attrs[TRIAL_SETTINGS_ATTR]
    assert recorded["settings"]["env.horizon"] == 20
    assert recorded["settings"]["timesteps_per_trial"] == 128
    assert "arrears_version" in recorded["settings"]
    # The sampled hyperparameters are no setting of the study, and the fixed ones are.
    assert "hyperparameters.learning_rate" not in recorded["settings"]
    assert "policy_kwargs.net_arch" not in recorded["settings"]
    assert recorded["settings"]["hyperparameters.normalize_advantage"] is True
    assert len(recorded["sha256"]) == 64


def test_tune_continues_study_with_same_settings(tmp_path, capsys):
    optuna = pytest.importorskip("optuna")
    config = write_tiny_config(tmp_path, "ppo")
    out = tmp_path / "best.yaml"
    assert tune_into_study(tmp_path, config, "--out", str(out)) == 0
    assert tune_into_study(tmp_path, config, "--out", str(out)) == 0

    study = optuna.load_study(study_name="shared", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert len(study.trials) == 2
    # The continued run does not propose the first run's trial again.
    assert study.trials[0].params != study.trials[1].params
    assert load_train_config(out).description.startswith("Best of 2 finished trials")


def test_tune_rejects_study_of_other_horizon(tmp_path, capsys):
    optuna = pytest.importorskip("optuna")
    first = tmp_path / "first"
    first.mkdir()
    assert tune_into_study(tmp_path, write_tiny_config(first, "ppo"), "--out", str(tmp_path / "best.yaml")) == 0
    best = (tmp_path / "best.yaml").read_text()
    capsys.readouterr()
    shorter = write_tiny_config(tmp_path, "ppo", env={"horizon": 10, "n_envs": 8})

    code = tune_into_study(tmp_path, shorter, "--out", str(tmp_path / "best.yaml"))

    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err == (
        f"arrears tune: error: {shorter}: --study-name: study 'shared' in --storage ran its trials with env.horizon "
        "20, but this run has env.horizon 10; their results are not comparable, so tune with the study's settings "
        "or name a new --study-name\n"
    )
    assert "trial 1" not in err
    assert (tmp_path / "best.yaml").read_text() == best
    study = optuna.load_study(study_name="shared", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert len(study.trials) == 1


def test_tune_rejects_study_of_other_timesteps_and_seed(tmp_path, capsys):
    pytest.importorskip("optuna")
    config = write_tiny_config(tmp_path, "ppo")
    assert tune_into_study(tmp_path, config, "--out", str(tmp_path / "best.yaml")) == 0
    capsys.readouterr()

    code = tune_into_study(tmp_path, config, "--out", str(tmp_path / "best.yaml"), "--seed", "1", "--timesteps", "256")

    assert code == 2
    err = capsys.readouterr().err
    assert "ran its trials with seed 0 and --timesteps 128, but this run has seed 1 and --timesteps 256;" in err


def test_tune_rejects_study_without_settings(tmp_path, capsys):
    optuna = pytest.importorskip("optuna")
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    # A study with one trial and no recorded settings, as arrears tune wrote before it recorded them.
    earlier = optuna.create_study(study_name="shared", storage=storage, direction="maximize")
    earlier.optimize(lambda trial: trial.suggest_float("learning_rate", 1e-5, 3e-3), n_trials=1)
    config = write_tiny_config(tmp_path, "ppo")

    code = tune_into_study(tmp_path, config, "--out", str(tmp_path / "best.yaml"))

    assert code == 2
    err = capsys.readouterr().err
    assert err == (
        f"arrears tune: error: {config}: --study-name: study 'shared' in --storage has 1 trials from an arrears "
        "version that did not record the settings they ran with, so they cannot be checked against this config; "
        "name a new --study-name\n"
    )
    assert not (tmp_path / "best.yaml").exists()
    assert len(optuna.load_study(study_name="shared", storage=storage).trials) == 1


def test_train_out_file_exits_2(tmp_path, capsys):
    notes = tmp_path / "notes.yaml"
    notes.write_text("mine")

    assert main(["train", "--config", str(write_tiny_config(tmp_path, "ppo")), "--out", str(notes)]) == 2

    err = capsys.readouterr().err
    assert (
        err == f"arrears train: error: {notes}: --out: exists and is not a directory; name a new or empty directory\n"
    )
    assert notes.read_text() == "mine"


@pytest.mark.parametrize("below", ["sub", "sub/run"])
def test_train_out_under_file_exits_2(tmp_path, capsys, below):
    notes = tmp_path / "notes.yaml"
    notes.write_text("mine")
    out = notes / below

    assert main(["train", "--config", str(write_tiny_config(tmp_path, "ppo")), "--out", str(out)]) == 2

    err = capsys.readouterr().err
    assert err == f"arrears train: error: {out}: --out: cannot be created: {notes} is not a directory\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.yaml", "ppo.yaml"]
