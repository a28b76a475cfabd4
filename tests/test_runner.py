"""The runner: every policy on every seed, identical whatever the worker count, written as a run directory."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

import experiments
from experiments.config import ExperimentConfig, resolve
from sim.metrics import METRIC_COLUMNS


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


def test_worker_count_does_not_change_results(tiny_experiment):
    one = experiments.run(tiny_experiment, workers=1, progress=False)
    two = experiments.run(tiny_experiment, workers=2, progress=False)
    pd.testing.assert_frame_equal(one.metrics, two.metrics, check_exact=True)
    pd.testing.assert_frame_equal(one.daily, two.daily, check_exact=True)


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
    assert len(manifest["cells"]) == 9
    assert all(cell["finished"] for cell in manifest["cells"])
    assert manifest["packages"]["simpy"]
    assert len(manifest["config_sha256"]) == 64

    assert (result.path / "report.html").stat().st_size > 10_000


def test_policies_compared_on_common_portfolios(tiny_experiment):
    """Every policy starts from the same opening portfolio on a seed, so paired differences are fair."""
    result = experiments.run(tiny_experiment, workers=1, progress=False)
    opening = result.metrics.pivot(index="seed", columns="policy", values="opening_balance")
    assert (opening.nunique(axis=1) == 1).all()
    assert opening.iloc[:, 0].nunique() == 3


def test_seeds_override(tiny_experiment):
    assert tiny_experiment.with_overrides(seeds=5).config.seed_list == [0, 1, 2, 3, 4]
