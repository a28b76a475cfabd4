"""The command line: bad input exits with code 2 and one line naming the file and key; good input runs."""

from __future__ import annotations

import errno
import os
import pickle
import socket
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest
import yaml

from experiments.cli import main
from experiments.config import load_config
from sim.errors import ConfigError

REPOSITORY = Path(__file__).resolve().parents[1]

EXPERIMENT = """\
name: tiny
scenario: {scenario}
policies: [{policies}]
seeds: 2
n_accounts: 300
horizon_days: 20
"""


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_validate_rejects(tmp_path: Path, capsys, name: str, text: str, *fragments: str) -> None:
    """Write ``text`` to ``name`` and check that ``arrears validate`` exits 2 with one line naming ``fragments``."""
    config = write(tmp_path / name, text)
    code, _, err = run_cli(["validate", str(config)], capsys)
    assert code == 2
    assert_one_line_error(err, name, *fragments)


def assert_one_line_error(err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got: {err!r}"
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} missing from {lines[0]!r}"


def test_unknown_key_in_experiment(tmp_path, capsys):
    config = write(tmp_path / "exp.yaml", EXPERIMENT.format(scenario="default", policies="standard") + "polices: []\n")
    code, out, err = run_cli(["run", str(config), "--out", str(tmp_path / "run")], capsys)
    assert code == 2
    assert_one_line_error(err, "exp.yaml", "polices", "unknown key")
    assert not (tmp_path / "run").exists()


def test_probability_above_one(tmp_path, capsys):
    write(tmp_path / "scen.yaml", "call_center:\n  right_party_contact_probability: 1.4\n")
    config = write(tmp_path / "exp.yaml", EXPERIMENT.format(scenario="scen.yaml", policies="standard"))
    code, out, err = run_cli(["run", str(config), "--out", str(tmp_path / "run")], capsys)
    assert code == 2
    assert_one_line_error(err, "scen.yaml", "call_center.right_party_contact_probability", "less than or equal to 1")
    assert not (tmp_path / "run").exists()


def test_negative_balance(tmp_path, capsys):
    scenario = write(tmp_path / "scen.yaml", "portfolio:\n  minimum_balance: -100\n")
    code, out, err = run_cli(["validate", str(scenario)], capsys)
    assert code == 2
    assert_one_line_error(err, "scen.yaml", "portfolio.minimum_balance", "greater than or equal to 0")


def test_unknown_channel_in_waterfall(tmp_path, capsys):
    write(
        tmp_path / "fax.yaml",
        """\
        name: fax_first
        stages:
          - dpd: [1, 29]
            treatments:
              - {channel: fax, every: 7}
        """,
    )
    config = write(tmp_path / "exp.yaml", EXPERIMENT.format(scenario="default", policies="fax.yaml"))
    code, out, err = run_cli(["run", str(config), "--out", str(tmp_path / "run")], capsys)
    assert code == 2
    assert_one_line_error(err, "fax.yaml", "stages[0].treatments[0].channel", "'email', 'sms', 'letter' or 'call'")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "missing.yaml"], "missing.yaml: file not found"),
        (["run", "--seeds", "0"], "--seeds"),
        (["run", "--workers", "two"], "--workers"),
        (["validate"], "config"),
        # An unknown option is reported by the command it was given to, which lists the options it takes.
        (["bench", "--bogus"], "arrears bench: error: unrecognized arguments: --bogus (see 'arrears bench --help')"),
        (["list", "extra"], "arrears list: error: unrecognized arguments: extra"),
    ],
)
def test_bad_arguments(args, fragment, capsys):
    try:
        code = main(args)
    except SystemExit as exc:  # argparse exits on usage errors
        code = exc.code
    assert code == 2
    assert_one_line_error(capsys.readouterr().err, fragment)


def test_unknown_policy_names_the_list_entry(tmp_path, capsys):
    config = write(tmp_path / "exp.yaml", EXPERIMENT.format(scenario="default", policies="standard, no_such_policy"))
    code, out, err = run_cli(["validate", str(config)], capsys)
    assert code == 2
    assert_one_line_error(err, "exp.yaml", "policies[1]", "no_such_policy", "digital_first")


def test_invalid_yaml(tmp_path, capsys):
    config = write(tmp_path / "exp.yaml", "name: [unclosed\n")
    code, out, err = run_cli(["validate", str(config)], capsys)
    assert code == 2
    assert_one_line_error(err, "exp.yaml", "invalid YAML at line")


def test_deeply_nested_yaml_is_one_line_error(tmp_path, capsys):
    nested = "[" * 2000 + "]" * 2000
    config = write(tmp_path / "deep.yaml", f"name: t\nscenario: default\npolicies: [do_nothing]\nseeds: {nested}\n")
    code, out, err = run_cli(["validate", str(config)], capsys)
    assert code == 2
    assert_one_line_error(err, "deep.yaml", "nested too deeply")


def test_console_script_runs_and_writes_run_directory(tmp_path):
    config = write(tmp_path / "exp.yaml", EXPERIMENT.format(scenario="default", policies="do_nothing, standard"))
    out = tmp_path / "run"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.cli",
            "run",
            str(config),
            "--out",
            str(out),
            "--workers",
            "1",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    for name in ("config.yaml", "metrics.parquet", "daily.parquet", "manifest.json", "report.html"):
        assert (out / name).is_file(), name
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert sorted(metrics["policy"].unique()) == ["do_nothing", "standard"]
    assert sorted(metrics["seed"].unique()) == [0, 1]
    assert len(pd.read_parquet(out / "daily.parquet")) == 2 * 2 * 20
    assert not list(out.glob(".*.tmp")), "a temporary file was left behind"


def test_console_script_bad_input_has_no_traceback(tmp_path):
    config = write(tmp_path / "exp.yaml", "name: x\npolicies: [standard]\nseeds: -3\n")
    completed = subprocess.run(
        [sys.executable, "-m", "experiments.cli", "run", str(config)], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 2
    assert_one_line_error(completed.stderr, "exp.yaml", "seeds")


def test_config_error_survives_pickle():
    """A cell that fails in a worker process sends its ConfigError back pickled."""
    error = ConfigError("model.zip", "policy", "cannot be loaded")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is ConfigError
    assert str(copy) == str(error)
    assert (copy.source, copy.key_path, copy.message) == ("model.zip", "policy", "cannot be loaded")


def test_list_prints_shipped_names(capsys):
    code, out, err = run_cli(["list"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert any(line.startswith("scenario  default") for line in lines)
    for name in ("do_nothing", "letters_only", "standard", "digital_first"):
        assert any(line.startswith(f"policy    {name} ") for line in lines), name


def test_out_that_is_a_file_fails_before_running(tmp_path, capsys):
    config = write(tmp_path / "exp.yaml", EXPERIMENT.format(scenario="default", policies="standard"))
    target = write(tmp_path / "afile", "hi")
    code, out, err = run_cli(["run", str(config), "--out", str(target)], capsys)
    assert code == 2
    assert_one_line_error(err, "afile", "--out", "not a directory")
    assert target.read_text() == "hi"


def test_out_never_overwrites_user_files(tmp_path, capsys):
    config = write(tmp_path / "exp.yaml", EXPERIMENT.format(scenario="default", policies="standard"))
    folder = tmp_path / "mine"
    folder.mkdir()
    write(folder / "config.yaml", "my own file")
    code, out, err = run_cli(["run", str(config), "--out", str(folder)], capsys)
    assert code == 2
    assert_one_line_error(err, "mine", "not an arrears run")
    assert (folder / "config.yaml").read_text() == "my own file"


def test_run_directory_replays_identically(tmp_path, capsys):
    config = write(tmp_path / "exp.yaml", EXPERIMENT.format(scenario="default", policies="do_nothing, letters_only"))
    first, second = tmp_path / "first", tmp_path / "second"
    assert run_cli(["run", str(config), "--out", str(first), "--no-progress"], capsys)[0] == 0
    assert run_cli(["validate", str(first / "config.yaml")], capsys)[0] == 0
    assert run_cli(["run", str(first / "config.yaml"), "--out", str(second), "--no-progress"], capsys)[0] == 0
    pd.testing.assert_frame_equal(
        pd.read_parquet(first / "metrics.parquet"), pd.read_parquet(second / "metrics.parquet"), check_exact=True
    )
    # A rerun into an existing run directory replaces it whole, leaving no staging folders behind.
    assert run_cli(["run", str(config), "--out", str(first), "--no-progress"], capsys)[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_replay_after_policy_file_changed_warns(tmp_path, capsys, caplog):
    waterfall = write(
        tmp_path / "mine.yaml",
        "name: mine\nstages:\n  - dpd: [1, 59]\n    treatments:\n      - {channel: sms, every: 5}\n",
    )
    config = write(tmp_path / "exp.yaml", EXPERIMENT.format(scenario="default", policies=f"do_nothing, {waterfall}"))
    first = tmp_path / "first"
    assert run_cli(["run", str(config), "--out", str(first), "--no-progress"], capsys)[0] == 0
    replay = ["run", str(first / "config.yaml"), "--no-progress", "--out"]

    # Unchanged files replay without a warning.
    with caplog.at_level("WARNING", logger="experiments.runner"):
        assert run_cli([*replay, str(tmp_path / "second")], capsys)[0] == 0
    assert "policy_sha256" not in caplog.text

    waterfall.write_text(waterfall.read_text(encoding="utf-8").replace("every: 5", "every: 7"), encoding="utf-8")
    with caplog.at_level("WARNING", logger="experiments.runner"):
        assert run_cli([*replay, str(tmp_path / "third")], capsys)[0] == 0
    assert f"{first / 'config.yaml'}: policy 'mine' changed since the run recorded in {first / 'manifest.json'}" in (
        caplog.text
    )
    assert "policy 'do_nothing'" not in caplog.text


def test_policy_sources_checked_under_own_key(tmp_path, capsys):
    (tmp_path / "fake.zip").write_bytes(b"PK not a model")
    head = "name: t\nscenario: default\npolicies: [do_nothing, standard]\n"
    assert_validate_rejects(
        tmp_path,
        capsys,
        "unknown.yaml",
        head + "policy_sources: {ghost: letters_only}\n",
        "policy_sources.ghost: names no policy in 'policies' (do_nothing, standard); remove it",
    )
    assert_validate_rejects(
        tmp_path,
        capsys,
        "broken.yaml",
        head + "policy_sources: {standard: fake.zip}\n",
        "policy_sources.standard: 'fake.zip': is not a Stable-Baselines3 model zip",
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["fit-score", "--policy", "nope"], "arrears fit-score: error: --policy: 'nope': unknown policy"),
        (["fit-score", "--scenario", "nope"], "arrears fit-score: error: --scenario: 'nope': no shipped scenario"),
        (["calibrate", "--csv", "{csv}", "--base", "nope"], "arrears calibrate: error: --base: 'nope': no shipped"),
    ],
)
def test_unknown_name_reported_under_option(tmp_path, capsys, arguments, message):
    csv = write(tmp_path / "history.csv", "account_id,month,state\n")
    arguments = [argument.format(csv=csv) for argument in arguments]
    code, _, err = run_cli([*arguments, "--out", str(tmp_path / "out.yaml")], capsys)
    assert code == 2
    assert_one_line_error(err, message)
    assert not (tmp_path / "out.yaml").exists()


def test_directory_as_policy_says_so(tmp_path, capsys):
    (tmp_path / "models").mkdir()
    text = f"name: t\nscenario: default\npolicies: [do_nothing, {tmp_path / 'models'}]\n"
    assert_validate_rejects(tmp_path, capsys, "exp.yaml", text, "policies[1]:", "is a directory; name a waterfall YAML")


def test_edited_replay_scenario_rejected(tmp_path, capsys):
    config = write(tmp_path / "exp.yaml", EXPERIMENT.format(scenario="default", policies="do_nothing"))
    assert run_cli(["run", str(config), "--out", str(tmp_path / "run"), "--no-progress"], capsys)[0] == 0
    written = (tmp_path / "run" / "config.yaml").read_text(encoding="utf-8")
    assert "\nscenario: default\n" in written
    edited = write(tmp_path / "edited.yaml", written.replace("\nscenario: default\n", "\nscenario: recession\n"))

    code, _, err = run_cli(["validate", str(edited)], capsys)
    assert code == 2
    assert_one_line_error(
        err, "edited.yaml: scenario: is 'recession', but scenario_parameters", "delete scenario_parameters to run"
    )


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("name: ../escape\npolicies: [standard]\n", ("name", "must start with an ASCII letter or digit", "../escape")),
        ("name: a\nname: b\npolicies: [standard]\n", ("duplicate key 'name'", "line 2")),
        ("name: a\npolicies: [standard]\nsede: 3\n", ("sede", "unknown key; allowed: name, description")),
        ("name: a\npolicies: [standard]\nseeds: [0, 4294967296]\n", ("seeds",)),
    ],
)
def test_bad_experiment_values(tmp_path, capsys, text, fragments):
    config = write(tmp_path / "exp.yaml", text)
    code, out, err = run_cli(["validate", str(config)], capsys)
    assert code == 2
    assert_one_line_error(err, "exp.yaml", *fragments)


def test_binary_file_is_rejected(tmp_path, capsys):
    junk = tmp_path / "junk.yaml"
    junk.write_bytes(bytes(range(256)) * 8)
    code, out, err = run_cli(["validate", str(junk)], capsys)
    assert code == 2
    assert_one_line_error(err, "junk.yaml", "not UTF-8")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--scheduler", "tcp://127.0.0.1:8786"], ("--scheduler", "only applies with --backend dask")),
        (["--backend", "dask"], ("--backend dask", "needs --scheduler")),
        (["--backend", "dask", "--scheduler", "tcp://127.0.0.1:8786", "--workers", "2"], ("--workers", "local")),
        (["--backend", "spark"], ("--backend", "invalid choice", "'local', 'dask'")),
    ],
)
def test_bad_run_backend_options(tmp_path, capsys, args, fragments):
    config = write(tmp_path / "exp.yaml", EXPERIMENT.format(scenario="default", policies="standard"))
    with pytest.raises(SystemExit) as exited:
        main(["run", str(config), "--out", str(tmp_path / "run"), *args])
    assert exited.value.code == 2
    assert_one_line_error(capsys.readouterr().err, "arrears run: error:", *fragments)
    assert not (tmp_path / "run").exists()


def test_dask_backend_without_dask_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # makes `import distributed` raise ImportError
    config = write(tmp_path / "exp.yaml", EXPERIMENT.format(scenario="default", policies="standard"))
    args = ["run", str(config), "--out", str(tmp_path / "run"), "--backend", "dask", "--scheduler", "tcp://127.0.0.1:1"]
    code, out, err = run_cli(args, capsys)
    assert code == 2
    assert_one_line_error(err, "--backend dask", "not installed", "pip install -e '.[distributed]'")
    assert not (tmp_path / "run").exists()


def test_unreachable_scheduler_fails_before_running(tmp_path, capsys):
    pytest.importorskip("distributed")
    with socket.socket() as probe:  # a port on this machine that nothing listens on once the probe closes
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    config = write(tmp_path / "exp.yaml", EXPERIMENT.format(scenario="default", policies="standard"))
    args = ["run", str(config), "--out", str(tmp_path / "run"), "--backend", "dask", "--scheduler", address]
    code, out, err = run_cli(args, capsys)
    assert code == 2
    assert_one_line_error(
        err, address, "--scheduler", "cannot connect: Connection refused", "dask scheduler --host 127.0.0.1"
    )
    assert not (tmp_path / "run").exists()


def test_rerun_into_earlier_run_directory(tmp_path, capsys):
    config = write(tmp_path / "exp.yaml", EXPERIMENT.format(scenario="default", policies="standard"))
    out = tmp_path / "run"
    assert run_cli(["run", str(config), "--out", str(out), "--no-progress"], capsys)[0] == 0
    metrics = (out / "metrics.parquet").read_bytes()

    write(tmp_path / "exp.yaml", EXPERIMENT.format(scenario="default", policies="standard").replace("300", "400"))
    code, _, err = run_cli(["run", str(config), "--out", str(out), "--no-progress"], capsys)
    assert code == 2
    assert_one_line_error(err, "run: --out: holds a run that has n_accounts 300, this run 400", "name a new --out")
    assert (out / "metrics.parquet").read_bytes() == metrics

    write(tmp_path / "exp.yaml", EXPERIMENT.format(scenario="default", policies="standard"))
    code, printed, _ = run_cli(["run", str(config), "--out", str(out), "--seeds", "3", "--no-progress"], capsys)
    assert code == 0
    assert "(3 metrics rows, 2 cells from the earlier run)" in printed


def test_waterfall_path_listed_first_is_the_champion(tmp_path, capsys):
    waterfall = write(tmp_path / "mine.yaml", "name: mine\nstages: [{dpd: [1, 29], treatments: [{channel: sms}]}]\n")
    config = write(
        tmp_path / "exp.yaml",
        "name: t\nscenario: default\npolicies: [mine.yaml, standard]\nseeds: 1\nn_accounts: 50\nhorizon_days: 3\n",
    )
    code, out, err = run_cli(["run", str(config), "--out", str(tmp_path / "run"), "--no-progress"], capsys)
    assert code == 0, err
    written = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert written["champion"] == "mine"
    assert written["policies"] == ["mine", "standard"]
    assert written["policy_sources"]["mine"] == str(waterfall.resolve())


@pytest.mark.parametrize("champion", ["mine.yaml", "mine"])
def test_waterfall_champion_by_path_or_name(tmp_path, capsys, champion):
    # The report and config.yaml call the waterfall 'mine', so the config may name the champion that way too.
    write(tmp_path / "mine.yaml", "name: mine\nstages: [{dpd: [1, 29], treatments: [{channel: sms}]}]\n")
    config = write(
        tmp_path / "exp.yaml",
        f"name: t\npolicies: [standard, mine.yaml]\nchampion: {champion}\nseeds: 1\nn_accounts: 50\nhorizon_days: 3\n",
    )
    code, out, err = run_cli(["validate", str(config)], capsys)
    assert code == 0, err
    assert load_config(config).config.champion == "mine"


def test_unknown_champion_names_the_policies(tmp_path, capsys):
    write(tmp_path / "mine.yaml", "name: mine\nstages: []\n")
    config = write(tmp_path / "exp.yaml", "name: t\npolicies: [standard, mine.yaml]\nchampion: theirs\n")
    code, out, err = run_cli(["validate", str(config)], capsys)
    assert code == 2
    assert_one_line_error(err, "exp.yaml: champion: 'theirs' is not one of the policies: standard, mine")


@pytest.mark.parametrize(
    ("path", "fragments"),
    [
        ("configs/rl/ppo.yaml", ("valid training config 'default' for ppo", "1,500,000 timesteps", "64 accounts")),
        ("policies/scores/early_warning.yaml", ("valid early-warning score over 25 features",)),
        ("configs/baseline.yaml", ("valid experiment 'baseline'",)),
    ],
)
def test_validate_detects_each_kind(path, fragments, capsys):
    code, out, err = run_cli(["validate", str(REPOSITORY / path)], capsys)
    assert code == 0
    for fragment in fragments:
        assert fragment in out


def test_validate_bad_training_config_names_the_key(tmp_path, capsys):
    config = write(tmp_path / "train.yaml", "algo: ppo\ntotal_timesteps: 0\n")
    code, out, err = run_cli(["validate", str(config)], capsys)
    assert code == 2
    assert_one_line_error(err, "train.yaml", "total_timesteps", "greater than or equal to 1")


def test_validate_bad_score_names_the_key(tmp_path, capsys):
    score = write(tmp_path / "score.yaml", "kind: early_warning\nintercept: 1.0\ncoefficients: [1, 2]\n")
    code, out, err = run_cli(["validate", str(score)], capsys)
    assert code == 2
    assert_one_line_error(err, "score.yaml", "coefficients", "mapping of feature name to number")


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        ({"metadata": 5}, ("metadata", "mapping of names to values")),
        ({"bogus": 1}, ("bogus", "unknown key; allowed: kind, horizon_days")),
        ({"horizon_days": 0}, ("horizon_days", "expected 30 (scores predict a roll within 30 days), got 0")),
        # The score is read as a 30-day roll probability, so another horizon would be silently ignored.
        ({"horizon_days": 45}, ("horizon_days", "expected 30", "got 45")),
        ({"horizon_days": True}, ("horizon_days", "expected 30", "got True")),
    ],
)
def test_bad_score_keys_exit_2(tmp_path, capsys, change, fragments):
    data = yaml.safe_load((REPOSITORY / "policies" / "scores" / "early_warning.yaml").read_text())
    score = write(tmp_path / "score.yaml", yaml.safe_dump({**data, **change}, sort_keys=False))
    code, out, err = run_cli(["validate", str(score)], capsys)
    assert code == 2
    assert_one_line_error(err, "score.yaml", *fragments)


@pytest.mark.parametrize("command", [["fit-score", "--accounts", "200", "--days", "40"], ["calibrate", "--uci"]])
def test_output_directory_rejected_before_work(tmp_path, capsys, command):
    folder = tmp_path / "folder"
    folder.mkdir()
    args = [*command, str(tmp_path / "missing.csv")] if command[-1] == "--uci" else command
    code, out, err = run_cli([*args, "--out", str(folder)], capsys)
    assert code == 2
    assert_one_line_error(err, "folder", "--out", "is a directory")


@pytest.mark.parametrize(
    ("command", "what"),
    [
        (["fit-score", "--accounts", "200", "--days", "40"], "score"),
        (["calibrate", "--uci", "data.csv"], "scenario"),
        (["calibrate", "--csv", "data.csv"], "scenario"),
    ],
)
def test_output_other_than_yaml_rejected(tmp_path, capsys, command, what):
    # A typo must not replace a CSV: --out names the YAML to write.
    precious = write(tmp_path / "precious.csv", "a,b\n1,2\n")
    data = write(tmp_path / "data.csv", "a,b\n1,2\n")
    args = [str(data) if arg == "data.csv" else arg for arg in command]
    code, out, err = run_cli([*args, "--out", str(precious)], capsys)
    assert code == 2
    assert_one_line_error(err, "precious.csv: --out: is not a .yaml or .yml path", f"name the {what} YAML to write")
    assert precious.read_text() == "a,b\n1,2\n"


@pytest.mark.parametrize(
    ("command", "existing", "message"),
    [
        (
            ["fit-score", "--accounts", "200", "--days", "40"],
            "name: mine\nstages: [{dpd: [1, 179]}]\n",
            "exists and is a waterfall, not an early-warning score",
        ),
        (
            ["calibrate", "--csv", "data.csv"],
            "kind: early_warning\n",
            "exists and is an early-warning score, not a scenario",
        ),
        (["calibrate", "--csv", "data.csv"], "name: [unclosed\n", "exists and is not a scenario YAML (invalid YAML"),
    ],
    ids=["score-over-waterfall", "scenario-over-score", "scenario-over-invalid-yaml"],
)
def test_output_of_another_kind_kept(tmp_path, capsys, command, existing, message):
    out = write(tmp_path / "mine.yaml", existing)
    data = write(tmp_path / "data.csv", "a,b\n1,2\n")
    args = [str(data) if arg == "data.csv" else arg for arg in command]
    code, _, err = run_cli([*args, "--out", str(out)], capsys)
    assert code == 2
    assert_one_line_error(err, f"mine.yaml: --out: {message}", "name a new file, or delete this one first")
    assert out.read_text() == existing


@pytest.mark.parametrize(
    ("existing", "content"), [("", "scenario"), ("name: old\n", "scenario"), ("kind: early_warning\n", "score")]
)
def test_output_same_kind_replaceable(tmp_path, existing, content):
    from experiments.cli import _check_yaml_out

    out = write(tmp_path / "mine.yaml", existing)
    assert _check_yaml_out(out, content) is None  # it raises ConfigError for a file it may not replace


def test_report_on_a_file_says_so(tmp_path, capsys):
    not_a_run = write(tmp_path / "metrics.csv", "a,b\n1,2\n")
    code, out, err = run_cli(["report", str(not_a_run)], capsys)
    assert code == 2
    assert_one_line_error(err, "metrics.csv", "is a file, not a run directory")


def test_report_of_locked_run_exits_2(tmp_path, capsys):
    from experiments.runner import _exclusive_run_directory

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.parquet").write_bytes(b"")  # the report checks that the file exists before it locks
    with _exclusive_run_directory(run_dir.resolve()):
        code, _, err = run_cli(["report", str(run_dir)], capsys)
    assert code == 2
    assert_one_line_error(
        err, f"{run_dir.resolve()}: another arrears run is writing to this directory", "run arrears report again"
    )
    assert not (run_dir / "report.html").exists()


def test_report_during_first_run_says_busy(tmp_path, capsys):
    from experiments.runner import _exclusive_run_directory

    # A first run into the directory holds its lock and has not written metrics.parquet yet.
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with _exclusive_run_directory(run_dir.resolve()):
        code, _, err = run_cli(["report", str(run_dir)], capsys)
    assert code == 2
    assert_one_line_error(err, "another arrears run is writing to this directory", "run arrears report again")
    # Without a run, the same directory is not a run directory, and checking the lock leaves no lock file behind.
    code, _, err = run_cli(["report", str(run_dir)], capsys)
    assert code == 2
    assert_one_line_error(err, "not a run directory: metrics.parquet is missing")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("n_accounts: 010\n", "010 as an octal number"),
        ("horizon_days: 1:30\n", "1:30 as a base-60 number"),
        ("sweep: {parameter: portfolio.late_fee, values: [1:30.5]}\n", "1:30.5 as a base-60 number"),
    ],
)
def test_yaml_octal_and_base_60_rejected(tmp_path, capsys, text, number):
    config = write(tmp_path / "exp.yaml", "name: t\nscenario: default\npolicies: [do_nothing]\n" + text)
    code, _, err = run_cli(["validate", str(config)], capsys)
    assert code == 2
    assert_one_line_error(err, "exp.yaml: invalid YAML at line 4", f"YAML 1.1 reads {number}")


def test_yaml_decimal_and_hex_numbers_accepted(tmp_path, capsys):
    text = "name: t\nscenario: default\npolicies: [do_nothing]\nn_accounts: 0x10\nhorizon_days: 1_0\nseeds: [0]\n"
    config = write(tmp_path / "exp.yaml", text)
    code, out, _ = run_cli(["validate", str(config)], capsys)
    assert code == 0
    assert "16 accounts" in out
    assert "10 days" in out


@pytest.mark.parametrize("extra", [1, 15])
def test_too_long_out_name_exits_2_before_running(tmp_path, capsys, extra):
    """A name 1 byte over what leaves room for ".NAME.XXXXXXXX.tmp", and one over the file system's own limit."""
    from experiments.runner import _max_name_bytes, check_run_directory

    longest = _max_name_bytes(tmp_path / "x") - len(".XXXXXXXX.tmp") - 1
    check_run_directory(tmp_path / ("c" * longest))
    out = tmp_path / ("c" * (longest + extra))
    config = write(tmp_path / "exp.yaml", EXPERIMENT.format(scenario="default", policies="standard"))
    code, _, err = run_cli(["run", str(config), "--out", str(out), "--no-progress"], capsys)
    assert code == 2
    assert_one_line_error(err, f"--out: the directory name is too long; use at most {longest} bytes")
    assert list(tmp_path.iterdir()) == [config]


def test_report_of_too_long_path_exits_2(tmp_path, capsys):
    run_dir = tmp_path / ("c" * 300)
    code, _, err = run_cli(["report", str(run_dir)], capsys)
    assert code == 2
    assert_one_line_error(err, "arrears report: error:", "file name too long; use a shorter path")


def test_experiment_named_as_scenario_says_so(tmp_path, capsys):
    inner = write(tmp_path / "inner.yaml", EXPERIMENT.format(scenario="default", policies="standard"))
    outer = write(tmp_path / "outer.yaml", EXPERIMENT.format(scenario=inner, policies="standard"))
    code, out, err = run_cli(["validate", str(outer)], capsys)
    assert code == 2
    assert_one_line_error(err, "inner.yaml", "is an experiment config (it has 'policies'), not a scenario")


def test_logged_warning_reads_like_other_warnings(tmp_path):
    arrears = Path(sys.executable).with_name("arrears")
    command = [str(arrears), "fit-score", "--accounts", "50", "--days", "31", "--out", str(tmp_path / "s.yaml")]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert finished.stderr.startswith("arrears: warning: the score ranks held-out accounts barely better")
    assert "WARNING" not in finished.stderr


def test_fit_score_on_too_few_accounts_exits_2(tmp_path, capsys):
    out = tmp_path / "s.yaml"
    code, _, err = run_cli(["fit-score", "--accounts", "5", "--days", "31", "--out", str(out)], capsys)
    assert code == 2
    assert_one_line_error(err, "--accounts: 5 accounts over 31 days are too few", "raise --accounts")
    assert not out.exists()


def fit_score_warnings(tmp_path, capsys, caplog, accounts: int, days: int) -> str:
    """Run `arrears fit-score` on ``accounts`` accounts over ``days`` days; return the warnings it logged."""
    args = ["fit-score", "--accounts", str(accounts), "--days", str(days), "--out", str(tmp_path / "s.yaml")]
    with caplog.at_level("WARNING", logger="experiments.cli"):
        code, _, _ = run_cli(args, capsys)
    assert code == 0
    return caplog.text


def test_weak_score_is_warned(tmp_path, capsys, caplog):
    warned = fit_score_warnings(tmp_path, capsys, caplog, accounts=50, days=31)
    assert "barely better than shuffled features" in warned


@pytest.mark.parametrize(
    ("name", "text", "key"),
    [
        ("exp.yaml", "name: t\nscenario: default\npolicies: [do_nothing]\nn_accounts: true\n", "n_accounts"),
        ("exp.yaml", "name: t\nscenario: default\npolicies: [do_nothing]\nhorizon_days: '30'\n", "horizon_days"),
        ("w.yaml", "name: w\nstages:\n- dpd: [1, 30]\n  treatments:\n  - {channel: sms, every: '7'}\n", "every"),
        ("s.yaml", "extends: default\nname: s\ncall_center: {agents: yes}\n", "call_center.agents"),
        ("t.yaml", "algo: ppo\ntotal_timesteps: yes\n", "total_timesteps"),
    ],
)
def test_booleans_and_quoted_numbers_are_not_numbers(tmp_path, capsys, name, text, key):
    assert_validate_rejects(tmp_path, capsys, name, text, key, "Input should be a valid integer")


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        # A value that fits no member of a union gets one message naming every member, not one per member.
        ("name: t\nseeds: yes\n", "seeds:", "should be a valid integer or a valid list, got True"),
        # A list that fails inside gets the failing item's position.
        ("name: t\nseeds: [1, x]\n", "seeds[1]:", "Input should be a valid integer, got 'x'"),
        (
            "name: t\nn_accounts: 1e6\n",
            "n_accounts:",
            "Input should be a valid integer, got '1e6'; YAML reads 1e6 as text, so write 1_000_000",
        ),
        ("name: bad name!\n", "name:", "must start with an ASCII letter or digit and contain only ASCII letters"),
        ("name: t\nsweep: {parameter: a b, values: [1]}\n", "sweep.parameter:", "must be a dotted key path"),
    ],
)
def test_validation_messages_use_config_words(tmp_path, capsys, text, key, message):
    config = write(tmp_path / "exp.yaml", "scenario: default\npolicies: [do_nothing]\n" + text)
    code, out, err = run_cli(["validate", str(config)], capsys)
    assert code == 2
    assert_one_line_error(err, f"exp.yaml: {key} {message}")
    assert ".int" not in err
    assert "list[int]" not in err
    assert "more error" not in err
    assert "^" not in err


def test_schedule_text_error_names_the_form(tmp_path, capsys):
    config = write(tmp_path / "t.yaml", "algo: ppo\nhyperparameters: {learning_rate: lin_x}\n")
    code, out, err = run_cli(["validate", str(config)], capsys)
    assert code == 2
    assert_one_line_error(
        err, "t.yaml: hyperparameters.learning_rate: must be a number above 0, or 'lin_' and a number", "got 'lin_x'"
    )
    assert "constrained" not in err
    assert "YAML reads" not in err


def test_schedule_exponent_as_text_gets_hint(tmp_path, capsys):
    # PyYAML reads 1e-4 as text, which then fails the pattern of a lin_ schedule.
    config = write(tmp_path / "t.yaml", "algo: ppo\nhyperparameters: {learning_rate: 1e-4}\n")
    code, out, err = run_cli(["validate", str(config)], capsys)
    assert code == 2
    hint = "got '1e-4'; YAML reads 1e-4 as text, so write 1.0e-04"
    assert_one_line_error(err, "hyperparameters.learning_rate:", hint)


def test_extends_of_waterfall_names_waterfall(tmp_path, capsys):
    waterfall = write(tmp_path / "w.yaml", "name: w\nstages: [{dpd: [1, 179]}]\n")
    child = write(tmp_path / "chain.yaml", "extends: w.yaml\nname: chain\n")

    code, _, err = run_cli(["validate", str(child)], capsys)
    assert code == 2
    assert_one_line_error(err, f"{waterfall}: is a waterfall (it has 'stages'), not a scenario ({child} extends it)")


def test_extends_error_names_setting_file(tmp_path, capsys):
    base = write(tmp_path / "neg.yaml", "extends: default\ncall_center: {agents: -2}\n")
    child = write(tmp_path / "chain.yaml", "extends: neg.yaml\nname: chain\n")
    code, _, err = run_cli(["validate", str(child)], capsys)
    assert code == 2
    assert_one_line_error(err, f"{base}: call_center.agents: ", f"(the value comes from {base}, which {child} extends)")


def test_merged_shares_error_lists_inherited_keys(tmp_path, capsys):
    text = "extends: default\nname: mix\nportfolio: {initial_cycles_past_due: {1: 0.7, 2: 0.3}}\n"
    config = write(tmp_path / "mix.yaml", text)
    code, _, err = run_cli(["validate", str(config)], capsys)
    assert code == 2
    assert_one_line_error(
        err,
        f"{config}: portfolio.initial_cycles_past_due: shares must sum to 1",
        "merges this mapping key by key with the shipped scenario 'default', which adds 3, 4, 5, 6",
    )


# -- broken pipes and report --pdf --chromium ----------------------------------------------------------------------


def test_broken_pipe_exits_quietly():
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the command writes, as when `head` exits early
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "experiments.cli", "list"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert completed.returncode == 141
    assert completed.stderr == ""


def chromium_run_dir(tmp_path: Path) -> Path:
    from test_report import write_run_dir

    return write_run_dir(tmp_path / "run")


def test_pdf_chromium_checked_before_report(tmp_path, capsys):
    run_dir = chromium_run_dir(tmp_path)
    folder = tmp_path / "folder"
    folder.mkdir()
    not_executable = write(tmp_path / "chromium.txt", "not a program")
    cases = [
        (tmp_path / "missing", "Chromium not found"),
        (folder, "is not a file"),
        (not_executable, "is not executable"),
    ]
    for chromium, message in cases:
        code, out, err = run_cli(["report", str(run_dir), "--pdf", "--chromium", str(chromium)], capsys)
        assert code == 2, chromium
        assert_one_line_error(err, f"{chromium}: --chromium: {message}")
        assert not (run_dir / "report.html").exists(), chromium
        assert not (run_dir / "report.pdf").exists(), chromium


def test_pdf_chromium_that_is_no_browser_exits_2(tmp_path, capsys):
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    true = Path("/bin/true")
    if not true.is_file():
        pytest.skip("/bin/true not found")
    run_dir = chromium_run_dir(tmp_path)
    code, out, err = run_cli(["report", str(run_dir), "--pdf", "--chromium", str(true)], capsys)
    assert code == 2
    assert_one_line_error(err, f"arrears report: error: {true}: --chromium: failed to start as a headless browser")
    # The browser is started before the HTML report is written, so nothing is.
    assert not (run_dir / "report.html").exists()
    assert not (run_dir / "report.pdf").exists()


def test_chromium_without_pdf_exits_2(tmp_path, capsys):
    run_dir = chromium_run_dir(tmp_path)
    code, out, err = run_cli(["report", str(run_dir), "--chromium", "/usr/bin/chromium"], capsys)
    assert code == 2
    assert_one_line_error(err, "arrears report: error: /usr/bin/chromium: --chromium: applies only with --pdf")
    assert not (run_dir / "report.html").exists()


def write_waterfall_with_missing_score(folder: Path) -> Path:
    return write(
        folder / "wf.yaml",
        """\
        name: wf
        score: nosuch.yaml
        stages:
          - dpd: [1, 10]
            segment: {risk_score: [0.5, null]}
            treatments: [{channel: sms}]
        """,
    )


def test_missing_score_named_by_validate(tmp_path, capsys, monkeypatch):
    write_waterfall_with_missing_score(tmp_path)
    monkeypatch.chdir(tmp_path)

    code, out, err = run_cli(["validate", "wf.yaml"], capsys)

    assert code == 2
    assert_one_line_error(err, "arrears validate: error: wf.yaml: score: 'nosuch.yaml': file not found")


def test_missing_score_named_by_run(tmp_path, capsys):
    waterfall = write_waterfall_with_missing_score(tmp_path)
    config = write(tmp_path / "exp.yaml", EXPERIMENT.format(scenario="default", policies="standard, wf.yaml"))

    code, out, err = run_cli(["run", str(config), "--out", str(tmp_path / "run")], capsys)

    assert code == 2
    assert_one_line_error(err, f"arrears run: error: {waterfall}: score: 'nosuch.yaml': file not found")
    assert "waterfall file not found" not in err
    assert not (tmp_path / "run").exists()


def test_missing_waterfall_named_by_run(tmp_path, capsys):
    config = write(tmp_path / "exp.yaml", EXPERIMENT.format(scenario="default", policies="standard, nowhere.yaml"))

    code, out, err = run_cli(["run", str(config), "--out", str(tmp_path / "run")], capsys)

    assert code == 2
    assert_one_line_error(err, f"{config}: policies[1]: 'nowhere.yaml': waterfall file not found")


def alias_bomb(levels: int) -> str:
    """Return a YAML flow list of ``levels`` anchors, each a list of ten aliases of the one before.

    The last anchor, ``a{levels - 1}``, expands to 10**levels numbers from a few hundred bytes.
    """
    items = ["&a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    items += [f"&a{level} [{', '.join([f'*a{level - 1}'] * 10)}]" for level in range(1, levels)]
    return f"[{', '.join(items)}]"


@pytest.mark.parametrize(
    ("values", "key_path"),
    [
        # The second and third values are the same list of 10 million numbers.
        ("[{bomb}, *a6, *a6]", "sweep.values"),
        # Distinct values: the first, a list of every anchor, is invalid for the parameter.
        ("[{bomb}, *a6]", "sweep.values[0]"),
    ],
)
def test_alias_bomb_error_is_short(tmp_path, capsys, values, key_path):
    config = write(
        tmp_path / "exp.yaml",
        EXPERIMENT.format(scenario="default", policies="standard")
        + f"sweep:\n  parameter: call_center.agents_by_weekday\n  values: {values.format(bomb=alias_bomb(7))}\n",
    )
    assert config.stat().st_size < 1000
    started = time.perf_counter()

    code, out, err = run_cli(["validate", str(config)], capsys)

    elapsed = time.perf_counter() - started
    assert code == 2
    assert_one_line_error(err, f"exp.yaml: {key_path}: ")
    assert len(err) < 400, err[:400]
    assert elapsed < 10, f"took {elapsed:.1f} s"


def test_split_arm_without_accounts_exits_2(tmp_path, capsys):
    config = write(
        tmp_path / "exp.yaml",
        EXPERIMENT.format(scenario="default", policies="standard")
        + "splits:\n  - {name: s, arms: {standard: 0.9999999999, do_nothing: 0.0000000001}}\n",
    )

    code, out, err = run_cli(["run", str(config), "--out", str(tmp_path / "run")], capsys)

    assert code == 2
    assert_one_line_error(err, "exp.yaml: splits[0].arms.do_nothing: share 1e-10 gives this arm no account on seed 0")
    assert "Mean of empty slice" not in err
    assert not (tmp_path / "run").exists()


MISSPELT_POLICIES = "name: typo\npolices: [standard]\nseeds: 2\n"


def test_run_names_misspelt_policies_key(tmp_path, capsys):
    config = write(tmp_path / "typo.yaml", MISSPELT_POLICIES)
    code, out, err = run_cli(["run", str(config), "--out", str(tmp_path / "run")], capsys)
    assert code == 2
    assert_one_line_error(err, "typo.yaml: polices: unknown key", "did you mean 'policies'?")
    assert "Field required" not in err
    assert "more error" not in err
    assert not (tmp_path / "run").exists()


def test_validate_as_experiment_names_misspelt_key(tmp_path, capsys):
    config = write(tmp_path / "typo.yaml", MISSPELT_POLICIES)
    code, out, err = run_cli(["validate", str(config), "--kind", "experiment"], capsys)
    assert code == 2
    assert_one_line_error(err, "typo.yaml: polices: unknown key", "did you mean 'policies'?")


@pytest.mark.parametrize(
    ("path", "kind", "fragments"),
    [
        ("sim/scenarios/default.yaml", "waterfall", ("stages: Field required", "keys are those of a scenario")),
        ("configs/rl/ppo.yaml", "waterfall", ("is a training config (it has 'algo'), not a waterfall",)),
        ("sim/scenarios/default.yaml", "score", ("kind: expected 'early_warning'", "keys are those of a scenario")),
    ],
)
def test_validate_other_kind_names_file_kind(path, kind, fragments, capsys):
    code, out, err = run_cli(["validate", str(REPOSITORY / path), "--kind", kind], capsys)
    assert code == 2
    assert_one_line_error(err, *fragments)


def test_validate_other_kind_no_repeat(capsys):
    code, out, err = run_cli(
        ["validate", str(REPOSITORY / "sim/scenarios/default.yaml"), "--kind", "experiment"], capsys
    )
    assert code == 2
    assert_one_line_error(err, "default.yaml: is a scenario (it has no 'policies'), not an experiment config")
    assert "keys are those of" not in err


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (
            "name: x\nstage:\n  - {name: a, dpd: [1, 29], treatments: [{channel: sms}]}\n",
            ("stage: unknown key; allowed: name, description, exit, score, stages", "did you mean 'stages'?"),
        ),
        (
            "name: x\nexits: [on_plan]\nstages:\n  - {name: a, dpd: [1, 29], treatments: [{channel: sms}]}\n",
            ("exits: unknown key", "did you mean 'exit'?"),
        ),
        ("name: s\ncall_centre: {agents: 3}\n", ("call_centre: unknown key", "did you mean 'call_center'?")),
    ],
)
def test_misspelt_key_suggests_the_key(tmp_path, capsys, text, fragments):
    # Waterfalls and scenarios get the suggestion that experiment configs get.
    config = write(tmp_path / "typo.yaml", text)
    code, out, err = run_cli(["validate", str(config)], capsys)
    assert code == 2
    assert_one_line_error(err, *fragments)
    assert "Field required" not in err


def test_waterfall_with_shipped_name_warns(tmp_path, capsys):
    waterfall = "name: standard\nstages:\n  - dpd: [1, 29]\n    treatments:\n      - {channel: sms}\n"
    write(tmp_path / "mine.yaml", waterfall)
    config = write(tmp_path / "exp.yaml", "name: shadow\npolicies: [do_nothing, mine.yaml]\n")

    with pytest.warns(UserWarning) as caught:
        code, out, err = run_cli(["validate", str(config)], capsys)

    assert code == 0
    assert [str(warning.message) for warning in caught] == [
        f"{config}: policies[1]: 'mine.yaml' names its policy 'standard', the name of a shipped policy, so the "
        "report cannot tell which of the two ran; give it a name of its own"
    ]


def test_shipped_policy_name_no_warning(tmp_path, capsys):
    config = write(tmp_path / "exp.yaml", "name: plain\npolicies: [do_nothing, standard]\n")

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code, out, err = run_cli(["validate", str(config)], capsys)

    assert code == 0
    assert err == ""


def test_validate_detects_misspelt_experiment(tmp_path, capsys):
    config = write(tmp_path / "typo.yaml", MISSPELT_POLICIES)
    code, out, err = run_cli(["validate", str(config)], capsys)
    assert code == 2
    assert_one_line_error(err, "typo.yaml: polices: unknown key", "did you mean 'policies'?")
    assert "currency" not in err, "listed the keys of a scenario"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: inner\nscenario: default\npolicies: [standard]\n", "is an experiment config (it has 'policies')"),
        ("algo: ppo\n", "is a training config (it has 'algo')"),
        ("kind: early_warning\n", "is an early-warning score, not a waterfall"),
    ],
)
def test_policy_file_of_other_kind_named(tmp_path, capsys, text, message):
    write(tmp_path / "other.yaml", text)
    config = write(tmp_path / "exp.yaml", "name: t\nscenario: default\npolicies: [do_nothing, other.yaml]\n")
    code, _, err = run_cli(["validate", str(config)], capsys)
    assert code == 2
    assert_one_line_error(err, "other.yaml", message)
    assert "Field required" not in err


def test_run_names_a_waterfall(tmp_path, capsys):
    config = write(
        tmp_path / "okwf.yaml",
        "name: okwf\nstages:\n  - {name: letters, dpd: [1, 179], treatments: [{channel: letter, every: 30}]}\n",
    )
    assert run_cli(["validate", str(config)], capsys)[0] == 0
    code, out, err = run_cli(["run", str(config), "--out", str(tmp_path / "run")], capsys)
    assert code == 2
    assert_one_line_error(
        err, "okwf.yaml: is a waterfall (it has 'stages'), not an experiment config", "list it under 'policies'"
    )
    assert "Field required" not in err


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("extends: default\ncall_center: {agents: 4}\n", ("is a scenario (it has no 'policies')",)),
        ("name: small\n", ("is a scenario (it has no 'policies')",)),
        ("name: t\nalgo: ppo\n", ("is a training config (it has 'algo')", "arrears train --config")),
        ("kind: early_warning\n", ("is an early-warning score",)),
    ],
)
def test_run_names_other_kinds(tmp_path, capsys, text, fragments):
    config = write(tmp_path / "other.yaml", text)
    code, out, err = run_cli(["run", str(config), "--out", str(tmp_path / "run")], capsys)
    assert code == 2
    assert_one_line_error(err, "other.yaml: ", "not an experiment config", *fragments)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        ({"name": "t", "polices": ["standard"]}, "experiment"),
        ({"name": "t", "seeds": 3}, "experiment"),
        ({"name": "t", "policies": ["standard"]}, "experiment"),
        ({"name": "t", "stage": []}, "waterfall"),
        ({"name": "t", "stages": []}, "waterfall"),
        ({"name": "t", "algo": "ppo"}, "training"),
        ({"kind": "early_warning"}, "score"),
        ({"kind": "early_warnin", "horizon_days": 30, "coefficients": {"dpd": 1.0}}, "score"),
        ({"extends": "default", "promises": {}}, "scenario"),
        ({"extends": "default", "promses": {}}, "scenario"),
        ({"name": "t"}, "scenario"),
    ],
)
def test_detect_kind(data, kind):
    from experiments.config import detect_kind

    assert detect_kind(data) == kind


def test_near_miss_in_nested_key(tmp_path, capsys):
    config = write(tmp_path / "exp.yaml", "name: g\npolicies: [standard]\nsweep: {paramter: x, values: [1]}\n")
    code, out, err = run_cli(["validate", str(config)], capsys)
    assert code == 2
    assert_one_line_error(err, "exp.yaml: sweep.paramter: unknown key; allowed: parameter, values", "'parameter'?")


# -- SIGTERM ------------------------------------------------------------------------------------------------------

SIGTERM_GRID = """\
name: sigterm
scenarios: [default, recession, instalment_loan]
policies: [do_nothing, standard, digital_first]
seeds: 2
n_accounts: 3000
horizon_days: 60
"""


def test_repeated_sigterm_exits_143_with_one_line(tmp_path):
    import signal

    config = write(tmp_path / "grid.yaml", SIGTERM_GRID)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "experiments.cli", "run", str(config), "--out", str(out), "--workers", "2"]
    process = subprocess.Popen(
        [*command, "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            if (out / "cells").is_dir() and any(len(entry.name) == 64 for entry in (out / "cells").iterdir()):
                break
            time.sleep(0.01)
        # As `timeout` does: signal the process, then its process group (the workers too). A third SIGTERM comes
        # once the first is handled, which the default handler would turn into an exit that skips loky's cleanup.
        process.send_signal(signal.SIGTERM)
        os.killpg(process.pid, signal.SIGTERM)
        time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    # NOTE: the process once ended with -6 (SIGABRT) in a whole-suite run, cause unknown (70 runs of this test alone
    # did not repeat it). The assertion shows its stderr.
    assert process.returncode == 128 + signal.SIGTERM, err.decode()
    # communicate() reads stderr to its end, after loky's resource tracker, which shares it, has exited too. So a
    # "leaked semlock objects" warning of the tracker would be in err.
    assert err.decode().splitlines() == ["arrears: terminated"]
    assert not (tmp_path / ".run.lock").exists()


def test_sigterm_in_weakref_callback_raised_again():
    import signal

    from experiments.cli import Terminated, _sigterm_as_interrupt

    class SignalledWhenDeleted:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here, where Python ignores its exception

    handler = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(Terminated), _sigterm_as_interrupt():
            SignalledWhenDeleted()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                time.sleep(0.01)
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, handler)


def test_sigint_in_weakref_callback_raised_again():
    import signal

    from experiments.cli import _sigterm_as_interrupt

    class InterruptedWhenDeleted:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)  # Python ignores the KeyboardInterrupt raised here

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt), _sigterm_as_interrupt():
        InterruptedWhenDeleted()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.01)


@pytest.mark.parametrize("command", [["run", "--out", ""], ["train", "--out", ""], ["validate", ""]])
def test_empty_path_argument_exits_2(command, capsys):
    with pytest.raises(SystemExit) as exited:  # argparse exits on usage errors
        main(command)
    assert exited.value.code == 2
    assert_one_line_error(capsys.readouterr().err, f"arrears {command[0]}: error: argument", "must not be empty")


def test_thin_holdout_is_warned(tmp_path, capsys, caplog):
    warned = fit_score_warnings(tmp_path, capsys, caplog, accounts=50, days=31)
    assert "snapshots that rolled and" in warned
    assert "too few to trust it" in warned


def test_ample_holdout_is_not_warned(tmp_path, capsys, caplog):
    warned = fit_score_warnings(tmp_path, capsys, caplog, accounts=1500, days=70)
    assert "too few to trust it" not in warned


def test_default_config_of_current_folder_first(tmp_path, monkeypatch):
    from experiments.cli import DEFAULT_CONFIG, _default_config
    from experiments.config import shipped_configs_dir

    monkeypatch.chdir(tmp_path)
    assert _default_config() == shipped_configs_dir() / "baseline.yaml"
    assert _default_config().is_file()
    (tmp_path / "configs").mkdir()
    (tmp_path / DEFAULT_CONFIG).write_text("name: mine\n", encoding="utf-8")
    assert _default_config() == DEFAULT_CONFIG


def test_calibrate_uci_needs_out_in_wheel_install(tmp_path, capsys, monkeypatch):
    import experiments.config

    monkeypatch.setattr(experiments.config, "installed_from_wheel", lambda: True)
    data = tmp_path / "uci.csv"
    data.write_text("ID,LIMIT_BAL\n1,1000\n", encoding="utf-8")
    code, out, err = run_cli(["calibrate", "--uci", str(data)], capsys)
    assert code == 2
    assert_one_line_error(err, "arrears calibrate: error: --out: missing", "non-editable install")


@pytest.mark.parametrize(
    ("address", "fragment"),
    [
        ("inproc://somewhere", "reaches only a scheduler inside this process"),
        ("tls://127.0.0.1:1", "needs TLS settings"),
        ("tcp://127.0.0.1:99999", "invalid port 99999; a port is a number from 1 to 65535"),
    ],
)
def test_unusable_scheduler_address_fails_at_once(tmp_path, capsys, address, fragment):
    pytest.importorskip("distributed")
    config = write(tmp_path / "exp.yaml", EXPERIMENT.format(scenario="default", policies="standard"))
    args = ["run", str(config), "--out", str(tmp_path / "run"), "--backend", "dask", "--scheduler", address]
    started = time.monotonic()
    code, out, err = run_cli(args, capsys)
    assert code == 2
    assert_one_line_error(err, address, "--scheduler", fragment)
    assert "invalid scheduler address" not in err
    assert time.monotonic() - started < 20, "the failed client waited for its timeout"
    assert not (tmp_path / "run").exists()


def test_unknown_scheduler_scheme_exits_at_once(tmp_path):
    # The dashboard's http:// address, copied by mistake. A client built with it fails, and when Python collects it
    # at exit it waits 60 s and prints a traceback (distributed 2026.8.0), so the test runs a process of its own.
    pytest.importorskip("distributed")
    config = write(tmp_path / "exp.yaml", EXPERIMENT.format(scenario="default", policies="standard"))
    address = "http://127.0.0.1:8787"
    command = [sys.executable, "-m", "experiments.cli", "run", str(config), "--out", str(tmp_path / "run")]
    command += ["--backend", "dask", "--scheduler", address]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=40, cwd=REPOSITORY)
    except subprocess.TimeoutExpired:
        pytest.fail("arrears run did not exit within 40 s of an unknown scheduler scheme")
    assert completed.returncode == 2
    assert_one_line_error(completed.stderr, address, "--scheduler", "unknown address scheme 'http'")
    assert not (tmp_path / "run").exists()


LEAKED_SEMAPHORE = (
    "from joblib.externals.loky.backend import resource_tracker as tracker; "
    "tracker.ensure_running(); tracker.register('/arrears-test-leaked-semaphore', 'semlock')"
)


@pytest.mark.parametrize("quiet", [False, True])
def test_resource_tracker_warnings_silenced(quiet):
    # A process that exits with a semaphore still registered, as a run whose workers were killed can: loky's
    # resource tracker outlives it and warns on the shared stderr, unless the CLI's filter is in the environment.
    setup = "import experiments.cli as cli; cli._quiet_resource_tracker(); " if quiet else ""
    # main() in this test process adds the filter to os.environ, so the child starts from an environment without it.
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONWARNINGS"}
    completed = subprocess.run(
        [sys.executable, "-c", setup + LEAKED_SEMAPHORE],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPOSITORY,
        env=environment,
    )
    assert completed.returncode == 0
    if quiet:
        assert completed.stderr == ""
    else:
        assert "leaked semlock objects" in completed.stderr


@pytest.mark.parametrize(
    ("name", "text", "key"),
    [
        ("exp.yaml", "name: t\nscenario: default\npolicies: [do_nothing]\nseeds: 1e400\n", "seeds"),
        ("exp.yaml", "name: t\nscenario: default\npolicies: [do_nothing]\nn_accounts: -1e400\n", "n_accounts"),
        ("s.yaml", "extends: default\nname: s\ncharge_off_dpd: 1e400\n", "charge_off_dpd"),
        ("s.yaml", "extends: default\nname: s\nportfolio: {balance: {mean_log: 1e400, sd_log: 0.5}}\n", "mean_log"),
        ("t.yaml", "algo: ppo\ntotal_timesteps: 1e400\n", "total_timesteps"),
    ],
)
def test_overflowing_exponent_text_is_one_line_error(tmp_path, capsys, name, text, key):
    assert_validate_rejects(tmp_path, capsys, name, text, key, "exceeds the float range")


@pytest.mark.parametrize("debug", [True, False])
def test_debug_shows_traceback_and_keeps_exit_code(tmp_path, capsys, debug):
    config = write(tmp_path / "empty.yaml", "")
    code, _, err = run_cli([*(["--debug"] if debug else []), "validate", str(config)], capsys)
    assert code == 2
    assert ("Traceback (most recent call last)" in err) is debug
    assert err.strip().splitlines()[-1].startswith(f"arrears validate: error: {config}")


@pytest.mark.parametrize(
    ("line", "key", "message"),
    [
        ("policies: [standard, dir.yaml]", "policies[1]", "'dir.yaml': is a directory; expected a YAML file"),
        ("policies: [standard, empty.yaml]", "policies[1]", "'empty.yaml': the top level must be a mapping"),
        ("scenario: empty.yaml", "scenario", "'empty.yaml': the top level must be a mapping"),
    ],
)
def test_unusable_referenced_file_names_the_key(tmp_path, capsys, line, key, message):
    (tmp_path / "dir.yaml").mkdir()
    write(tmp_path / "empty.yaml", "")
    lines = {"policies": "policies: [standard]", "scenario": "scenario: default"}
    lines[line.split(":")[0]] = line
    config = write(tmp_path / "exp.yaml", f"name: t\n{lines['scenario']}\n{lines['policies']}\nseeds: 1\n")
    code, _, err = run_cli(["validate", str(config)], capsys)
    assert code == 2
    assert_one_line_error(err, f"exp.yaml: {key}: {message}")


def test_full_disk_names_the_cell_folder(tmp_path, capsys, monkeypatch):
    # A write on a full disk raises OSError without a file name; the error message must still name the folder.
    write_bytes = Path.write_bytes

    def full_disk(path: Path, data: bytes) -> int:
        if path.name == "daily.parquet" and path.parent.name.endswith(".tmp"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_bytes(path, data)

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    config = write(tmp_path / "exp.yaml", EXPERIMENT.format(scenario="default", policies="standard"))
    arguments = ["run", str(config), "--out", str(tmp_path / "run"), "--workers", "1", "--no-progress"]
    code, _, err = run_cli(arguments, capsys)
    assert code == 1
    assert_one_line_error(err, str(tmp_path / "run" / "cells"), "No space left on device")
    # No staging folder is left behind in the cells folder.
    assert [p.name for p in (tmp_path / "run" / "cells").iterdir() if p.name.endswith(".tmp")] == []
