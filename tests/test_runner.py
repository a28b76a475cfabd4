"""The runner: every policy on every seed, written as a run directory (worker counts and backends: test_grid.py)."""

from __future__ import annotations

import gc
import io
import json
import shutil
import subprocess
import warnings
import weakref

import pandas as pd
import pytest
import yaml

import experiments
from experiments import runner
from experiments.config import ExperimentConfig, json_sha256, resolve
from sim.errors import ConfigError
from sim.metrics import METRIC_COLUMNS
from sim.scenario import load_yaml_mapping


@pytest.fixture(scope="module")
def tiny_experiment():
    config = ExperimentConfig(
        name="tiny",
        policies=["do_nothing", "letters_only", "standard"],
        champion="standard",
        seeds=3,
        n_accounts=400,
        horizon_days=40,
    )
    return resolve(config)


def test_run_directory_contents(tiny_experiment, tmp_path):
    result = experiments.run(tiny_experiment, out=tmp_path / "run", workers=2, progress=False)
    assert result.path == tmp_path / "run"

    metrics = pd.read_parquet(result.path / "metrics.parquet")
    assert list(metrics.columns[:3]) == ["scenario", "policy", "seed"]
    assert set(METRIC_COLUMNS) <= set(metrics.columns)
    assert len(metrics) == 3 * 3
    assert metrics.groupby("policy")["seed"].apply(sorted).to_dict() == {
        "do_nothing": [0, 1, 2],
        "letters_only": [0, 1, 2],
        "standard": [0, 1, 2],
    }
    pd.testing.assert_frame_equal(metrics, result.metrics)

    daily = pd.read_parquet(result.path / "daily.parquet")
    assert len(daily) == 3 * 3 * 40
    assert daily["day"].min() == 0
    assert daily["day"].max() == 39

    config = yaml.safe_load((result.path / "config.yaml").read_text())
    assert config["seeds"] == [0, 1, 2]
    assert config["champion"] == "standard"
    assert config["scenario_parameters"]["charge_off_dpd"] == 180

    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["seeds"] == [0, 1, 2]
    assert manifest["backend"] == "local"
    assert manifest["workers"] == 2
    assert len(manifest["cells"]) == 9
    assert all(cell["finished"] for cell in manifest["cells"])
    assert not any(cell["reused"] for cell in manifest["cells"])
    assert [(cell["policy"], cell["seed"]) for cell in manifest["cells"][:4]] == [
        ("do_nothing", 0),
        ("do_nothing", 1),
        ("do_nothing", 2),
        ("letters_only", 0),
    ]
    assert {cell["scenario"] for cell in manifest["cells"]} == {"default"}
    assert manifest["packages"]["simpy"]
    assert len(manifest["config_sha256"]) == 64
    assert list(manifest["scenario_sha256"]) == ["default"]

    # Every cell is kept in its own folder, named by its key, for a later rerun to reuse.
    keys = sorted(cell["key"] for cell in manifest["cells"])
    assert sorted(p.name for p in (result.path / "cells").iterdir() if p.is_dir()) == keys
    grid = json.loads((result.path / "cells" / "grid.json").read_text())
    assert sorted(cell["key"] for cell in grid["cells"]) == keys
    assert (grid["n_accounts"], grid["horizon_days"]) == (400, 40)
    saved = pd.read_parquet(result.path / "cells" / manifest["cells"][0]["key"] / "metrics.parquet")
    pd.testing.assert_frame_equal(saved, metrics.iloc[[0]], check_exact=True)

    assert (result.path / "report.html").stat().st_size > 10_000


def test_policies_compared_on_common_portfolios(tiny_experiment):
    """Every policy starts from the same opening portfolio on a seed, so paired differences are fair."""
    result = experiments.run(tiny_experiment, workers=1, progress=False)
    opening = result.metrics.pivot(index="seed", columns="policy", values="opening_balance")
    assert (opening.nunique(axis=1) == 1).all()
    assert opening.iloc[:, 0].nunique() == 3


def test_run_of_a_mapping_rejected():
    expected = r"^config must be the result of experiments\.load_config\(path\) .*, got dict$"
    with pytest.raises(TypeError, match=expected):
        experiments.run({"name": "x", "policies": ["standard"]}, progress=False)


def test_seeds_override(tiny_experiment):
    assert tiny_experiment.with_overrides(seeds=5).config.seed_list == [0, 1, 2, 3, 4]


def test_second_run_into_one_directory_is_rejected(tiny_experiment, tmp_path):
    from experiments.runner import _exclusive_run_directory

    out = tmp_path / "run"
    with _exclusive_run_directory(out):
        with pytest.raises(ConfigError) as caught:
            experiments.run(tiny_experiment, out=out, workers=1, progress=False)
    assert caught.value.key_path == "--out"
    assert "another arrears run is writing to this directory" in caught.value.message
    assert not out.exists()

    # Once the first run has finished, the directory is free again.
    result = experiments.run(tiny_experiment, out=out, workers=1, progress=False)
    assert (result.path / "metrics.parquet").is_file()


def test_out_through_symlink_shares_the_lock(tiny_experiment, tmp_path):
    from experiments.runner import _exclusive_run_directory

    target = tmp_path / "run"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    with _exclusive_run_directory(target):
        with pytest.raises(ConfigError) as caught:
            experiments.run(tiny_experiment, out=link, workers=1, progress=False)
    assert "another arrears run" in caught.value.message

    experiments.run(tiny_experiment, out=link, workers=1, progress=False)
    assert link.is_symlink()
    assert (target / "metrics.parquet").is_file()


def test_out_must_not_be_current_directory(tiny_experiment, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for out in (".", tmp_path, tmp_path.parent):
        with pytest.raises(ConfigError) as caught:
            experiments.run(tiny_experiment, out=out, workers=1, progress=False)
        assert caught.value.key_path == "--out"
        assert "current directory" in caught.value.message
    assert list(tmp_path.iterdir()) == []


def test_default_workers_follow_affinity(monkeypatch):
    monkeypatch.setattr(runner.os, "sched_getaffinity", lambda pid: {3}, raising=False)
    assert runner._usable_cores() == 1
    with runner._executor("local", None, None, n_cells=9) as (_, n_workers):
        assert n_workers == 1


def test_local_cells_run_here_and_fail_loudly(tiny_experiment, monkeypatch):
    # Two cells on 2 workers: this process computes one of them, so its failure must reach the caller.
    _, arguments = runner.plan_cells(tiny_experiment)

    def fail_here(index, *args):
        raise RuntimeError(f"cell {index} failed in this process")

    monkeypatch.setattr(runner, "_compute_indexed", fail_here)
    with pytest.raises(RuntimeError, match="cell 0 failed in this process"):
        list(runner._execute_local(arguments[:2], n_workers=2))


def test_cells_concatenate_in_order():
    first = pd.DataFrame({"policy": ["a", "a"], "day": [0, 1], "cash": [1.5, 2.5]})
    second = pd.DataFrame({"policy": ["b"], "day": [0], "cash": [4.0]})
    joined = runner._concat_parquet([runner._to_parquet(first), runner._to_parquet(second)])
    read_back = [pd.read_parquet(io.BytesIO(runner._to_parquet(frame))) for frame in (first, second)]
    expected = pd.concat(read_back, ignore_index=True)
    pd.testing.assert_frame_equal(joined, expected, check_exact=True)
    assert joined["policy"].tolist() == ["a", "a", "b"]
    assert joined.index.tolist() == [0, 1, 2]


def test_cells_of_mixed_types_concatenate():
    # A cell saved by an older version may store a column as integers where this one writes floats.
    older = pd.DataFrame({"day": [0], "cash": [3]})
    newer = pd.DataFrame({"day": [1], "cash": [2.5]})
    joined = runner._concat_parquet([runner._to_parquet(older), runner._to_parquet(newer)])
    assert joined["cash"].tolist() == [3.0, 2.5]
    assert joined["cash"].dtype == "float64"


def test_waterfall_edited_mid_run_is_rejected(tmp_path):
    # A worker loads the waterfall from its path; an edit after planning must not be saved under the planned key.
    waterfall = tmp_path / "mine.yaml"
    waterfall.write_text("name: mine\nstages:\n  - dpd: [1, 29]\n    treatments:\n      - {channel: sms, every: 7}\n")
    config = ExperimentConfig(name="edit", policies=[str(waterfall)], seeds=1, n_accounts=50, horizon_days=10)
    _, arguments = runner.plan_cells(resolve(config))
    runner.compute_cell(*arguments[0])

    waterfall.write_text(waterfall.read_text().replace("every: 7", "every: 1"))
    with pytest.raises(ConfigError) as caught:
        runner.compute_cell(*arguments[0])
    assert "changed on disk after the run started" in caught.value.message
    assert str(waterfall) in caught.value.source


def test_large_cell_frees_its_model(monkeypatch, default_scenario):
    # The model sits in reference cycles, so only a garbage collection frees it. Automatic collection is off here,
    # so the model is freed only by the collection the cell itself runs.
    models = []
    simulate = runner.simulate

    def keep_weak_reference(*args, **kwargs):
        result = simulate(*args, **kwargs)
        models.append(weakref.ref(result.model))
        return result

    monkeypatch.setattr(runner, "simulate", keep_weak_reference)
    gc.collect()
    gc.disable()
    try:
        runner.compute_cell(default_scenario, "standard", "standard", runner.COLLECT_AFTER_ACCOUNTS, 2, 0)
        model = models.pop()()
    finally:
        gc.enable()
    assert model is None, "the cell's model outlived the cell"


def test_git_modified_sees_changed_tracked_files(tmp_path_factory):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")

    tmp_path = tmp_path_factory.mktemp("checkout")

    def git(*arguments):
        subprocess.run(["git", *arguments], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "model.py").write_text("x = 1\n")
    git("add", "model.py")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "first")
    (tmp_path / "notes.txt").write_text("untracked files do not count\n")
    assert runner.git_modified(tmp_path) is False
    (tmp_path / "model.py").write_text("x = 2\n")
    assert runner.git_modified(tmp_path) is True
    assert runner.git_modified(tmp_path_factory.mktemp("not_a_checkout")) is None


def test_manifest_hashes_policy_files(tmp_path):
    # The config names a model or waterfall file by path only, so the manifest must tell an edited file apart.
    waterfall = tmp_path / "mine.yaml"
    text = "name: mine\nstages:\n  - dpd: [1, 59]\n    treatments:\n      - {channel: sms, every: 5}\n"
    waterfall.write_text(text, encoding="utf-8")
    config = ExperimentConfig(
        name="hashes", policies=["standard", str(waterfall)], seeds=1, n_accounts=50, horizon_days=10
    )
    first = experiments.run(resolve(config), out=tmp_path / "first", workers=1, progress=False)
    waterfall.write_text(text.replace("every: 5", "every: 7"), encoding="utf-8")
    second = experiments.run(resolve(config), out=tmp_path / "second", workers=1, progress=False)

    hashes = [json.loads((run.path / "manifest.json").read_text())["policy_sha256"] for run in (first, second)]
    assert set(hashes[0]) == {"standard", "mine"}
    assert hashes[0]["standard"] == hashes[1]["standard"]
    assert hashes[0]["mine"] != hashes[1]["mine"]


def test_config_yaml_reads_back_to_its_hash(tmp_path):
    # PyYAML writes U+0085 (NEL) raw in a single-quoted string and reads it back as a space.
    description = "Q3 review\x85second line"
    experiment = resolve(
        ExperimentConfig(
            name="nel", description=description, policies=["do_nothing"], seeds=1, n_accounts=50, horizon_days=5
        )
    )

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = experiments.run(experiment, out=tmp_path / "run", workers=1, progress=False)

    config = load_yaml_mapping(result.path / "config.yaml")
    manifest = json.loads((result.path / "manifest.json").read_text(encoding="utf-8"))
    assert config["description"] == description
    assert json_sha256(config) == manifest["config_sha256"]
    assert [str(warning.message) for warning in caught if "edited" in str(warning.message)] == []
