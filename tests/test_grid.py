"""Grids of scenarios × policies × seeds: sweeps, backends that agree to the last bit, and runs that resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

import experiments
from experiments.config import ExperimentConfig, load_config, resolve
from experiments.runner import CellStore, plan_cells
from sim.errors import ConfigError

TINY = {"n_accounts": 200, "horizon_days": 30}
PLACEHOLDER_REPORT = "<p>placeholder written by tests/test_grid.py</p>"


def write_placeholder_report(run_dir: Path) -> Path:
    path = run_dir / "report.html"
    path.write_text(PLACEHOLDER_REPORT, encoding="utf-8")
    return path


@pytest.fixture
def placeholder_report(monkeypatch):
    """Skip the real report (seconds per run directory, and tested elsewhere) in tests of the cells and backends."""
    monkeypatch.setattr("experiments.report.write_report", write_placeholder_report)


def grid(**fields) -> experiments.LoadedExperiment:
    return resolve(ExperimentConfig(**{"name": "grid", **TINY, **fields}))


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def assert_same_run_files(first: Path, second: Path, names=("metrics.parquet", "daily.parquet")) -> None:
    for name in names:
        pd.testing.assert_frame_equal(
            pd.read_parquet(first / name), pd.read_parquet(second / name), check_exact=True, obj=name
        )


def finished_cells(run_dir: Path) -> dict[str, int]:
    """Return the key of every finished cell folder with the modification time of its metrics file."""
    cells = run_dir / "cells"
    if not cells.is_dir():
        return {}
    return {
        entry.name: (entry / "metrics.parquet").stat().st_mtime_ns
        for entry in cells.iterdir()
        if not entry.name.startswith(".") and (entry / "cell.json").is_file()
    }


# -- configs ------------------------------------------------------------------------------------------------------


def test_scenarios_run_in_config_order():
    experiment = grid(scenarios=["recession", "default", "instalment_loan"], policies=["do_nothing"], seeds=2)
    result = experiments.run(experiment, workers=1, progress=False)

    expected = [(s, "do_nothing", seed) for s in ("recession", "default", "instalment_loan") for seed in (0, 1)]
    assert list(result.metrics[["scenario", "policy", "seed"]].itertuples(index=False, name=None)) == expected
    assert result.daily.groupby("scenario", sort=False).size().to_dict() == {
        "recession": 2 * 30,
        "default": 2 * 30,
        "instalment_loan": 2 * 30,
    }
    # The instalment loans pay a different minimum, so their cash differs from the card portfolio's on every seed.
    collected = result.metrics.pivot(index="seed", columns="scenario", values="collected")
    assert (collected["instalment_loan"] != collected["default"]).all()


def test_sweep_sets_each_value():
    experiment = grid(
        scenario="default", sweep={"parameter": "call_center.agents", "values": [0, 40]}, policies=["aggressive"]
    )
    names = [scenario.name for scenario in experiment.scenarios]
    assert names == ["default[call_center.agents=0]", "default[call_center.agents=40]"]
    assert [scenario.call_center.agents for scenario in experiment.scenarios] == [0, 40]

    result = experiments.run(experiment.with_overrides(seeds=1), workers=1, progress=False)
    calls = result.daily.groupby("scenario")["calls_handled"].sum()
    assert calls["default[call_center.agents=0]"] == 0
    assert calls["default[call_center.agents=40]"] > 100


def test_sweep_multiplies_every_scenario():
    experiment = grid(
        scenarios=["default", "recession"],
        sweep={"parameter": "customer.monthly_retention", "values": [0.9, 0.99]},
        policies=["standard"],
    )
    assert [scenario.name for scenario in experiment.scenarios] == [
        "default[customer.monthly_retention=0.9]",
        "default[customer.monthly_retention=0.99]",
        "recession[customer.monthly_retention=0.9]",
        "recession[customer.monthly_retention=0.99]",
    ]
    assert [scenario.customer.monthly_retention for scenario in experiment.scenarios] == [0.9, 0.99, 0.9, 0.99]
    assert [scenario.recession is None for scenario in experiment.scenarios] == [True, True, False, False]


@pytest.mark.parametrize(
    ("text", "key_path", "fragments"),
    [
        ("scenario: default\nscenarios: [recession]\n", "", ("either 'scenario'", "'scenarios'")),
        ("scenarios: [default, default]\n", "scenarios", ("'default' is listed twice",)),
        ("scenarios: [default, nowhere]\n", "scenarios[1]", ("'nowhere'", "no shipped scenario", "recession")),
        ("scenarios: [default, copy.yaml]\n", "scenarios[1]", ("two scenarios are named 'default'",)),
        ("sweep: {parameter: call_center.agentz, values: [1]}\n", "sweep.parameter", ("no key 'agentz'", "agents")),
        ("sweep: {parameter: recession.start_day, values: [1]}\n", "sweep.parameter", ("recession is null",)),
        ("sweep: {parameter: present_bias.2, values: [0.9]}\n", "sweep.parameter", ("0 to 1",)),
        ("sweep: {parameter: name, values: [x]}\n", "sweep.parameter", ("label",)),
        ("sweep: {parameter: currency, values: [EUR, GBP]}\n", "sweep.parameter", ("label",)),
        ("sweep: {parameter: calibration.notes, values: [[a], [b]]}\n", "sweep.parameter", ("label",)),
        (
            "sweep: {parameter: economics.cost_of_capital, values: [0.1, 0, 0.0]}\n",
            "sweep.values[2]",
            ("0.0 gives the same scenario as sweep.values[1] 0",),
        ),
        ("sweep: {parameter: call_center.agents, values: [5, -1]}\n", "sweep.values[1]", ("greater than or equal",)),
        ("sweep: {parameter: call_center.agents, values: [5, 5]}\n", "sweep.values", ("listed twice",)),
        ("sweep: {parameter: 'call_center..agents', values: [5]}\n", "sweep.parameter", ("must be a dotted key path",)),
        ("sweep: {parameter: call_center.agents, values: []}\n", "sweep.values", ("at least 1",)),
    ],
)
def test_bad_grid_config(tmp_path, text, key_path, fragments):
    write(tmp_path / "copy.yaml", "extends: default\n")
    path = write(tmp_path / "exp.yaml", "name: g\npolicies: [standard]\n" + text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.source == str(path)
    assert caught.value.key_path == key_path
    for fragment in fragments:
        assert fragment in caught.value.message


def test_grid_replays_from_its_config_yaml(tmp_path, placeholder_report):
    experiment = grid(
        scenarios=["default", "instalment_loan"],
        sweep={"parameter": "channels.sms.cost", "values": [0.05, 0.5]},
        policies=["digital_first"],
        seeds=1,
        horizon_days=10,
    )
    first = experiments.run(experiment, out=tmp_path / "first", workers=1, progress=False)

    written = yaml.safe_load((first.path / "config.yaml").read_text())
    assert written["scenario"] == ", ".join(scenario.name for scenario in experiment.scenarios)
    assert [parameters["name"] for parameters in written["scenario_parameters"]] == [
        "default[channels.sms.cost=0.05]",
        "default[channels.sms.cost=0.5]",
        "instalment_loan[channels.sms.cost=0.05]",
        "instalment_loan[channels.sms.cost=0.5]",
    ]
    replayed = load_config(first.path / "config.yaml")
    assert plan_cells(replayed)[0] == plan_cells(experiment)[0]

    experiments.run(replayed, out=tmp_path / "second", workers=1, progress=False)
    assert_same_run_files(first.path, tmp_path / "second")


# -- backends -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def split_grid():
    return grid(
        scenarios=["default", "recession"],
        policies=["do_nothing", "standard"],
        splits=[{"name": "cc", "arms": {"standard": 0.7, "letters_only": 0.3}}],
        seeds=2,
        horizon_days=20,
    )


@pytest.fixture(scope="module")
def one_worker_run(split_grid, tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("experiments.report.write_report", write_placeholder_report)
        experiments.run(split_grid, out=out, workers=1, progress=False)
    return out


def test_rows_follow_grid_order(split_grid, one_worker_run):
    metrics = pd.read_parquet(one_worker_run / "metrics.parquet")
    whole = metrics[~metrics["policy"].str.contains("/")]
    expected = [
        (scenario, policy, seed)
        for scenario in ("default", "recession")
        for policy in ("do_nothing", "standard", "cc")
        for seed in (0, 1)
    ]
    assert list(whole[["scenario", "policy", "seed"]].itertuples(index=False, name=None)) == expected

    assignment = pd.read_parquet(one_worker_run / "assignment.parquet")
    assert list(assignment.columns) == ["scenario", "split", "seed", "account", "arm"]
    assert len(assignment) == 2 * 2 * 200


def test_two_workers_match_one(split_grid, one_worker_run, tmp_path, placeholder_report):
    experiments.run(split_grid, out=tmp_path / "two", workers=2, progress=False)
    assert_same_run_files(one_worker_run, tmp_path / "two", ("metrics.parquet", "daily.parquet", "assignment.parquet"))


def test_dask_backend_matches_local(split_grid, one_worker_run, tmp_path, placeholder_report):
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    with cluster:
        result = experiments.run(
            split_grid, out=tmp_path / "dask", backend="dask", scheduler=cluster.scheduler_address, progress=False
        )

    assert_same_run_files(one_worker_run, result.path, ("metrics.parquet", "daily.parquet", "assignment.parquet"))
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["backend"] == "dask"
    assert manifest["scheduler"] == cluster.scheduler_address
    assert manifest["workers"] == 2


# -- resuming -----------------------------------------------------------------------------------------------------

KILLED_GRID = """\
name: killed
scenarios: [default, recession, instalment_loan]
policies: [do_nothing, standard, digital_first]
champion: standard
seeds: 2
n_accounts: 200
horizon_days: 30
"""


def test_killed_run_resumes_without_recomputing(tmp_path):
    config = write(tmp_path / "grid.yaml", KILLED_GRID)
    out = tmp_path / "run"
    total = 3 * 3 * 2

    # Kill a real `arrears run` once a few cells are saved; one worker keeps every cell in that one process.
    command = [sys.executable, "-m", "experiments.cli", "run", str(config), "--out", str(out), "--workers", "1"]
    process = subprocess.Popen(
        [*command, "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while len(finished_cells(out)) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)

    before = finished_cells(out)
    assert process.returncode == -signal.SIGKILL
    assert 3 <= len(before) < total
    assert not (out / "metrics.parquet").exists()
    for key in before:
        assert len(pd.read_parquet(out / "cells" / key / "metrics.parquet")) == 1

    result = experiments.run(load_config(config), out=out, workers=1, progress=False)
    assert result.cells_reused == len(before)
    assert (out / "report.html").stat().st_size > 10_000

    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["cells"]) == total
    assert {cell["key"] for cell in manifest["cells"] if cell["reused"]} == set(before)
    after = finished_cells(out)
    assert len(after) == total
    assert {key: after[key] for key in before} == before, "a finished cell was computed again"
    assert not [entry.name for entry in (out / "cells").iterdir() if entry.name.startswith(".")]
    assert not [entry.name for entry in tmp_path.iterdir() if entry.name.startswith(".")]

    whole = experiments.run(load_config(config), workers=1, progress=False)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "metrics.parquet"), whole.metrics, check_exact=True)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "daily.parquet"), whole.daily, check_exact=True)


def test_rerun_may_add_scenarios_policies_and_seeds(tmp_path, placeholder_report):
    out = tmp_path / "run"
    experiments.run(grid(scenario="default", policies=["do_nothing"], seeds=2), out=out, workers=1, progress=False)
    first = finished_cells(out)

    bigger = grid(scenarios=["default", "recession"], policies=["do_nothing", "standard"], seeds=3)
    result = experiments.run(bigger, out=out, workers=1, progress=False)

    assert result.cells_reused == 2
    assert len(finished_cells(out)) == 2 * 2 * 3
    assert {key: finished_cells(out)[key] for key in first} == first
    fresh = experiments.run(bigger, workers=1, progress=False)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "metrics.parquet"), fresh.metrics, check_exact=True)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "daily.parquet"), fresh.daily, check_exact=True)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A finished run of scenario 'custom' (a scenario YAML), do_nothing, seeds 0 and 1, 100 accounts, 10 days."""
    folder = tmp_path_factory.mktemp("small")
    write(folder / "custom.yaml", "extends: default\nname: custom\ncall_center: {agents: 4}\n")
    out = folder / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("experiments.report.write_report", write_placeholder_report)
        experiments.run(small_grid(folder / "custom.yaml"), out=out, workers=1, progress=False)
    return out


def small_grid(scenario: Path, **fields) -> experiments.LoadedExperiment:
    settings = {"scenario": str(scenario), "policies": ["do_nothing"], "seeds": 2, "n_accounts": 100}
    return grid(**{"horizon_days": 10, **settings, **fields})


@pytest.mark.parametrize(
    ("fields", "agents", "fragment"),
    [
        ({"n_accounts": 150}, 4, "has n_accounts 100, this run 150"),
        ({"horizon_days": 12}, 4, "has horizon_days 10, this run 12"),
        ({"seeds": [0]}, 4, "seed 1, which this run does not include"),
        ({}, 5, "ran scenario 'custom' or policy 'do_nothing' with other parameters"),
    ],
)
def test_rerun_with_another_grid_is_rejected(small_run, tmp_path, fields, agents, fragment):
    scenario = write(tmp_path / "custom.yaml", f"extends: default\nname: custom\ncall_center: {{agents: {agents}}}\n")
    manifest = (small_run / "manifest.json").read_bytes()

    with pytest.raises(ConfigError) as caught:
        experiments.run(small_grid(scenario, **fields), out=small_run, workers=1, progress=False)

    assert caught.value.key_path == "--out"
    assert fragment in caught.value.message
    assert "may only add scenarios, policies, splits or seeds" in caught.value.message
    assert (small_run / "manifest.json").read_bytes() == manifest


def test_unfinished_cell_is_computed_again(small_run, tmp_path, placeholder_report):
    out = tmp_path / "run"
    experiments.run(small_grid(small_run.parent / "custom.yaml"), out=out, workers=1, progress=False)
    broken, kept = sorted(finished_cells(out))
    (out / "cells" / broken / "daily.parquet").unlink()
    (out / "cells" / ".leftover.tmp").mkdir()

    result = experiments.run(small_grid(small_run.parent / "custom.yaml"), out=out, workers=1, progress=False)

    assert result.cells_reused == 1
    reused = {cell["key"]: cell["reused"] for cell in json.loads((out / "manifest.json").read_text())["cells"]}
    assert reused == {broken: False, kept: True}
    assert sorted(entry.name for entry in (out / "cells").iterdir()) == sorted([broken, kept, "grid.json"])
    assert_same_run_files(small_run, out)


@pytest.mark.parametrize(
    ("damaged", "content"),
    [
        ("cell.json", "junk"),
        ("cell.json", '{"seconds": 0.1}'),
        ("cell.json", "[" * 100_000 + "]" * 100_000),
        ("metrics.parquet", "junk"),
        ("daily.parquet", ""),
    ],
    ids=["junk-json", "no-key", "deep-json", "junk-parquet", "empty-parquet"],
)
def test_damaged_cell_is_computed_again(small_run, tmp_path, placeholder_report, caplog, damaged, content):
    out = tmp_path / "run"
    experiments.run(small_grid(small_run.parent / "custom.yaml"), out=out, workers=1, progress=False)
    broken, kept = sorted(finished_cells(out))
    (out / "cells" / broken / damaged).write_text(content, encoding="utf-8")

    with caplog.at_level("WARNING", logger="experiments.runner"):
        result = experiments.run(small_grid(small_run.parent / "custom.yaml"), out=out, workers=1, progress=False)

    assert result.cells_reused == 1
    reused = {cell["key"]: cell["reused"] for cell in json.loads((out / "manifest.json").read_text())["cells"]}
    assert reused == {broken: False, kept: True}
    assert f"{broken}, a cell whose files cannot be read" in caplog.text
    assert_same_run_files(small_run, out)


@pytest.mark.parametrize("content", ["junk", "[" * 100_000 + "]" * 100_000], ids=["junk", "deep"])
def test_unreadable_grid_json_rejected(small_run, tmp_path, placeholder_report, content):
    out = tmp_path / "run"
    experiments.run(small_grid(small_run.parent / "custom.yaml"), out=out, workers=1, progress=False)
    (out / "cells" / "grid.json").write_text(content, encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        experiments.run(small_grid(small_run.parent / "custom.yaml"), out=out, workers=1, progress=False)

    assert caught.value.source == str(out / "cells" / "grid.json")
    assert "is not a grid written by arrears run" in caught.value.message


def test_run_directory_without_cells_is_replaced(small_run, tmp_path, placeholder_report):
    """A run directory written before runs kept their cells has no grid to compare, so it is replaced whole."""
    out = tmp_path / "run"
    out.mkdir()
    write(out / "manifest.json", "{}")
    write(out / "metrics.parquet", "an older run")

    experiments.run(small_grid(small_run.parent / "custom.yaml"), out=out, workers=1, progress=False)

    assert_same_run_files(small_run, out)
    assert len(finished_cells(out)) == 2


def child_pids(pid: int) -> set[int]:
    """Return the ids of the processes whose parent is ``pid``, read from /proc."""
    children = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue  # the process ended between the glob and the read
        if f"\nPPid:\t{pid}\n" in text:
            children.add(int(status.parent.name))
    return children


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads child processes from /proc (Linux)")
def test_sigterm_stops_workers_and_unlocks(tmp_path):
    config = write(tmp_path / "grid.yaml", KILLED_GRID.replace("n_accounts: 200", "n_accounts: 2000"))
    out = tmp_path / "run"
    command = [sys.executable, "-m", "experiments.cli", "run", str(config), "--out", str(out), "--workers", "2"]
    process = subprocess.Popen(
        [*command, "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while len(finished_cells(out)) < 2 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        workers = child_pids(process.pid)
        assert workers, "expected the run to have started a worker process"
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 128 + signal.SIGTERM
        assert err.decode().strip().splitlines()[-1] == "arrears: terminated"
        assert not (tmp_path / ".run.lock").exists()
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()], "a worker outlived the run"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


# -- a waterfall's score file -------------------------------------------------------------------------------------

REPOSITORY = Path(__file__).resolve().parents[1]


def write_scored_grid(folder: Path) -> Path:
    """Write an experiment whose second policy is the shipped risk_based waterfall reading its score from a file.

    The score is a copy of the shipped one, named ``my score.yaml`` in ``folder`` and given by that relative path.
    """
    score = (REPOSITORY / "policies" / "scores" / "early_warning.yaml").read_text(encoding="utf-8")
    (folder / "my score.yaml").write_text(score, encoding="utf-8")
    waterfall = yaml.safe_load((REPOSITORY / "policies" / "waterfalls" / "risk_based.yaml").read_text(encoding="utf-8"))
    waterfall.update(name="scored", score="my score.yaml")
    (folder / "scored.yaml").write_text(yaml.safe_dump(waterfall, sort_keys=False), encoding="utf-8")
    return write(
        folder / "grid.yaml",
        """\
        name: scored
        policies: [standard, scored.yaml]
        seeds: 1
        n_accounts: 300
        horizon_days: 30
        """,
    )


def edit_score(folder: Path, key: str, value) -> None:
    path = folder / "my score.yaml"
    score = yaml.safe_load(path.read_text(encoding="utf-8"))
    score[key] = value
    path.write_text(yaml.safe_dump(score, sort_keys=False), encoding="utf-8")


def cell_keys(config: Path) -> dict[str, str]:
    cells, _ = plan_cells(load_config(config))
    return {cell.policy: cell.key for cell in cells}


def test_edited_score_changes_cell_keys(tmp_path):
    config = write_scored_grid(tmp_path)
    before = cell_keys(config)

    edit_score(tmp_path, "intercept", -1.5)
    after = cell_keys(config)

    assert after["scored"] != before["scored"]
    assert after["standard"] == before["standard"]


def test_score_metadata_keeps_cell_keys(tmp_path):
    config = write_scored_grid(tmp_path)
    before = cell_keys(config)

    edit_score(tmp_path, "metadata", {"note": "refitted by hand"})

    assert cell_keys(config) == before


def test_rerun_after_score_edit_is_rejected(tmp_path, capsys, placeholder_report):
    from experiments.cli import main

    config = write_scored_grid(tmp_path)
    out = tmp_path / "run"
    assert main(["run", str(config), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    capsys.readouterr()
    cells = finished_cells(out)
    manifest = (out / "manifest.json").read_bytes()
    metrics = (out / "metrics.parquet").read_bytes()

    edit_score(tmp_path, "intercept", -1.5)
    code = main(["run", str(config), "--out", str(out), "--workers", "1", "--no-progress"])

    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "--out: holds a run that ran scenario 'default' or policy 'scored'" in err
    assert "another waterfall, score or model file" in err
    assert "name a new --out" in err
    assert finished_cells(out) == cells
    assert (out / "manifest.json").read_bytes() == manifest
    assert (out / "metrics.parquet").read_bytes() == metrics


def test_unnamed_scenario_file_has_one_label(tmp_path, capsys):
    from experiments.cli import main

    write(tmp_path / "s.yaml", "extends: default\ncall_center: {agents: 4}\n")
    config = write(
        tmp_path / "exp.yaml",
        "name: label\nscenario: s.yaml\npolicies: [standard]\nseeds: 1\nn_accounts: 100\nhorizon_days: 10\n",
    )
    out = tmp_path / "run"
    assert main(["run", str(config), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    capsys.readouterr()

    written = yaml.safe_load((out / "config.yaml").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    metrics = pd.read_parquet(out / "metrics.parquet")
    report = (out / "report.html").read_text()
    assert written["scenario"] == "default"
    assert written["scenario_parameters"]["call_center"]["agents"] == 4
    assert metrics["scenario"].unique().tolist() == ["default"]
    assert list(manifest["scenario_sha256"]) == ["default"]
    assert "Scenario default ·" in report
    assert "s.yaml" not in report


def test_two_unnamed_scenario_files_exit_2(tmp_path, capsys):
    from experiments.cli import main

    write(tmp_path / "a.yaml", "extends: default\ncall_center: {agents: 4}\n")
    write(tmp_path / "b.yaml", "extends: default\ncall_center: {agents: 8}\n")
    config = write(tmp_path / "exp.yaml", "name: two\nscenarios: [a.yaml, b.yaml]\npolicies: [standard]\n")

    code = main(["run", str(config), "--out", str(tmp_path / "run")])

    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "exp.yaml: scenarios[1]: two scenarios are named 'default' (b.yaml has no 'name' of its own)" in err
    assert "give each scenario YAML its own 'name'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_named_scenario_file_keeps_its_name(tmp_path):
    write(tmp_path / "a.yaml", "extends: default\nname: fewer_agents\ncall_center: {agents: 4}\n")
    write(tmp_path / "b.yaml", "extends: default\ncall_center: {agents: 8}\n")
    config = write(tmp_path / "exp.yaml", "name: two\nscenarios: [a.yaml, b.yaml]\npolicies: [standard]\n")

    experiment = load_config(config)

    assert [scenario.name for scenario in experiment.scenarios] == ["fewer_agents", "default"]
    assert experiment.resolved_dict()["scenario"] == "fewer_agents, default"


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"n_accounts": 10.5}, "n_accounts must be a whole number (an int), got 10.5"),
        ({"n_accounts": "10"}, "n_accounts must be a whole number (an int), got '10'"),
        ({"n_accounts": True}, "n_accounts must be a whole number (an int), got True"),
        ({"n_accounts": 0}, "n_accounts must be at least 1, got 0"),
        ({"days": 2.0}, "days must be a whole number (an int), got 2.0"),
        ({"days": -1}, "days must be at least 1, got -1"),
    ],
)
def test_simulate_rejects_bad_sizes(arguments, fragment):
    from sim import simulate

    with pytest.raises(ValueError) as caught:
        simulate("tiny", "do_nothing", **{"n_accounts": 10, "days": 5, **arguments})
    assert str(caught.value) == fragment


def test_simulate_accepts_numpy_integers():
    import numpy as np

    from sim import simulate

    result = simulate("tiny", "do_nothing", n_accounts=np.int64(10), days=np.int32(5))
    assert int(result.metrics.at[0, "n_accounts"]) == 10


# -- files of the user in a run directory -------------------------------------------------------------------------


def run_into(config: Path, out: Path, capsys) -> tuple[int, str]:
    from experiments.cli import main

    code = main(["run", str(config), "--out", str(out), "--workers", "1", "--no-progress"])
    return code, capsys.readouterr().err


def test_rerun_rejects_unknown_entries(tmp_path, capsys, placeholder_report):
    config = write(
        tmp_path / "grid.yaml", "name: mine\npolicies: [standard]\nseeds: 2\nn_accounts: 300\nhorizon_days: 30\n"
    )
    out = tmp_path / "self"
    assert run_into(config, out, capsys)[0] == 0
    (out / "NOTES.txt").write_text("my notes", encoding="utf-8")
    (out / "results").mkdir()
    (out / "results" / "table.csv").write_text("a,b\n", encoding="utf-8")
    before = {path: path.read_bytes() for path in out.rglob("*") if path.is_file()}

    code, err = run_into(config, out, capsys)

    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert "self: --out: is an earlier run but also contains 'NOTES.txt', 'results/'" in lines[0]
    assert "move them elsewhere or name a new --out" in lines[0]
    assert {path: path.read_bytes() for path in out.rglob("*") if path.is_file()} == before
    assert not list(tmp_path.glob(".self.*")), "a lock, staging or .old entry was left beside the run"


def test_training_folder_is_not_a_run(tmp_path, capsys):
    config = write(tmp_path / "grid.yaml", "name: mine\npolicies: [standard]\nn_accounts: 300\nhorizon_days: 30\n")
    out = tmp_path / "ppo-default-seed0"
    out.mkdir()
    # What `arrears train` leaves in its folder, manifest.json included.
    for name in ("manifest.json", "config.yaml", "model.zip", "best_model.zip", "evaluations.npz"):
        (out / name).write_bytes(b"{}")
    (out / "checkpoints").mkdir()

    code, err = run_into(config, out, capsys)

    assert code == 2
    assert err.strip().splitlines() == [
        f"arrears run: error: {out}: --out: is an `arrears train` folder, not an experiment run; name a new directory"
    ]


def test_run_inside_a_run_rejected(tmp_path, capsys, placeholder_report):
    config = write(tmp_path / "grid.yaml", "name: mine\npolicies: [standard]\nn_accounts: 300\nhorizon_days: 30\n")
    outer = tmp_path / "outer"
    assert run_into(config, outer, capsys)[0] == 0
    before = sorted(path.relative_to(outer) for path in outer.rglob("*"))

    code, err = run_into(config, outer / "cells" / "nested", capsys)

    assert code == 2
    assert err.strip().splitlines() == [
        f"arrears run: error: {outer / 'cells' / 'nested'}: --out: lies inside the run directory {outer}; name a "
        "directory outside every run"
    ]
    assert sorted(path.relative_to(outer) for path in outer.rglob("*")) == before


def test_unknown_entries_listed_up_to_three(tmp_path):
    from experiments.runner import check_run_directory

    out = tmp_path / "run"
    (out / "cells").mkdir(parents=True)
    (out / "manifest.json").write_text("{}", encoding="utf-8")
    for name in ("a.txt", "b.txt", "c.txt", "d.txt"):
        (out / name).write_text("mine", encoding="utf-8")
    (out / "cells" / "mine").mkdir()

    with pytest.raises(ConfigError) as caught:
        check_run_directory(out)

    assert "contains 'a.txt', 'b.txt', 'c.txt' and 2 more, which arrears did not write" in caught.value.message


def test_unknown_entries_in_cells_rejected(tmp_path):
    from experiments.runner import check_run_directory

    out = tmp_path / "run"
    (out / "cells").mkdir(parents=True)
    (out / "cells" / "grid.json").write_text("{}", encoding="utf-8")
    (out / "cells" / "backup").mkdir()

    with pytest.raises(ConfigError) as caught:
        check_run_directory(out)

    assert "contains 'cells/backup/'" in caught.value.message


def test_rerun_accepts_run_with_pdf(tmp_path, capsys, placeholder_report):
    config = write(
        tmp_path / "grid.yaml", "name: mine\npolicies: [standard]\nseeds: 2\nn_accounts: 300\nhorizon_days: 30\n"
    )
    out = tmp_path / "run"
    assert run_into(config, out, capsys)[0] == 0
    (out / "report.pdf").write_bytes(b"%PDF-1.4 written by arrears report --pdf")
    # What a killed `arrears report --pdf` leaves behind: the temporary file of its atomic write.
    (out / ".report.pdf.k2j_a9x1.tmp").write_bytes(b"%PDF-1.4 half")
    # What macOS Finder writes into a folder it shows.
    (out / ".DS_Store").write_bytes(b"Bud1")

    code, err = run_into(config, out, capsys)

    assert code == 0, err
    assert (out / "manifest.json").is_file()
    assert len(finished_cells(out)) == 2


def test_rerun_accepts_interrupted_run(tmp_path, capsys, placeholder_report):
    config = write(
        tmp_path / "grid.yaml", "name: mine\npolicies: [standard]\nseeds: 2\nn_accounts: 300\nhorizon_days: 30\n"
    )
    out = tmp_path / "run"
    assert run_into(config, out, capsys)[0] == 0
    # An interrupted run has cells only: remove the files written at the end, and leave what a killed run leaves in
    # cells/ (the staging folder of a cell and the temporary file of grid.json).
    for path in out.iterdir():
        if path.is_file():
            path.unlink()
    key = next(iter(finished_cells(out)))
    (out / "cells" / f".{key[:16]}.abc_1234.tmp").mkdir()
    (out / "cells" / ".grid.json.x9y8z7w6.tmp").write_text("{", encoding="utf-8")

    code, err = run_into(config, out, capsys)

    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [cell["reused"] for cell in manifest["cells"]] == [True, True]


@pytest.mark.parametrize("base", ["nothere.yaml", "folder.yaml"])
def test_missing_extends_file_names_extending_file(tmp_path, base):
    from sim.errors import ConfigError
    from sim.scenario import Scenario

    (tmp_path / "folder.yaml").mkdir()
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"extends: {base}\nname: s\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        Scenario.load(str(scenario))
    reason = "is a directory" if base == "folder.yaml" else "file not found"
    assert str(raised.value) == f"{scenario}: extends: '{base}': {reason}; name a scenario YAML or a shipped scenario"


def test_rerun_after_interrupted_extension(tmp_path, placeholder_report):
    # A finished run of 2 seeds, then a rerun with 3 seeds that stops after planning (its grid.json is written):
    # the finished run's own grid must still be accepted, and the larger grid afterwards too.
    out = tmp_path / "run"
    smaller = grid(scenario="default", policies=["do_nothing"], seeds=2)
    experiments.run(smaller, out=out, workers=1, progress=False)
    larger = grid(scenario="default", policies=["do_nothing"], seeds=3)
    CellStore(out / "cells").prepare(larger, plan_cells(larger)[0])

    again = experiments.run(smaller, out=out, workers=1, progress=False)
    assert again.cells_reused == 2
    assert sorted(pd.read_parquet(out / "metrics.parquet")["seed"]) == [0, 1]

    fewer = grid(scenario="default", policies=["do_nothing"], seeds=1)
    with pytest.raises(ConfigError) as caught:
        experiments.run(fewer, out=out, workers=1, progress=False)
    assert "seed 1, which this run does not include" in caught.value.message

    bigger = experiments.run(larger, out=out, workers=1, progress=False)
    assert bigger.cells_reused == 2


def test_rerun_deletes_staging_of_killed_run(tmp_path, placeholder_report):
    # A run killed while it writes leaves its staging folder beside the run directory, and the next run deletes it.
    # The staging folder of another run directory whose name starts with the same text stays.
    out = tmp_path / "run"
    experiment = grid(scenario="default", policies=["do_nothing"], seeds=1)
    experiments.run(experiment, out=out, workers=1, progress=False)
    stale = tmp_path / ".run.ab12cd_3.tmp"
    stale.mkdir()
    (stale / "metrics.parquet").write_bytes(b"partial")
    other = tmp_path / ".run.v2.ab12cd_3.tmp"
    other.mkdir()

    experiments.run(experiment, out=out, workers=1, progress=False)

    assert not stale.exists()
    assert other.is_dir()
    assert (out / "metrics.parquet").is_file()
