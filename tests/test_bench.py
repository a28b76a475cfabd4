"""`arrears bench --quick` runs every measurement end to end; the speed targets live in the full run, not here."""

from __future__ import annotations

import json
import os
import stat

import pytest

from benchmarks.suite import TARGETS, format_table, measure_kernel, missing_rl_packages
from experiments.cli import main


def test_quick_bench_writes_every_measurement(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["quick"] is True
    # The tests run in a git checkout, so the record names the commit it measured.
    assert len(results["git_commit"]) == 40
    assert [row["n_accounts"] for row in results["portfolio"]] == [1_000]
    assert [(row["policy"], row["n_accounts"]) for row in results["policies"]] == [
        ("standard", 300),
        ("risk_based", 300),
    ]
    assert all(row["setup_seconds"] > 0 for row in results["policies"])
    rates = [
        results["portfolio"][0]["account_days_per_second"],
        results["per_account"]["account_days_per_second"],
        results["kernel"]["account_days_per_second"],
        results["grid"]["speedup"],
        *(row["account_days_per_second"] for row in results["policies"]),
    ]
    if missing_rl_packages():
        # Without the rl extra, the environment and PPO measurements are skipped, not failed.
        assert results["env"] is None
        assert results["ppo"] is None
    else:
        rates += [
            results["env"]["account_env_steps_per_second"],
            results["env"]["cartpole_steps_per_second"],
            results["vector"]["account_steps_per_second"],
        ]
        rates.append(results["env"]["kernel_one_account_days_per_second"])
        rates.append(results["env"]["simpy_day_steps_per_second"])
        for setting in ("training", "small"):
            rates += [results["ppo"][setting]["account_fps"], results["ppo"][setting]["cartpole_fps"]]
        rates += [results["ppo"]["training"]["null_account_fps"], results["ppo"]["training"]["null_cartpole_fps"]]
        assert "null_account_fps" not in results["ppo"]["small"]
    for rate in rates:
        assert rate > 0
    assert results["portfolio"][0]["peak_rss_mb"] > 50
    # The suite's wall clock covers every measurement, each of which took a positive time.
    assert results["elapsed_seconds"] > results["grid"]["seconds_1_worker"] + results["grid"]["seconds_2_workers"]
    assert len(results["targets"]) == len(TARGETS)
    printed = capsys.readouterr().out
    assert "| (c) numpy kernel |" in printed
    assert "| (a) policy risk_based, 300 x 30 days |" in printed
    assert "A quick run only checks that every measurement runs" in printed
    assert "| whole suite, wall clock |" in printed
    assert str(out) in printed


def test_kernel_counts_account_days():
    result = measure_kernel(2_000, 10)
    assert result["n_accounts"] == 2_000
    assert result["days"] == 10
    assert result["account_days_per_second"] == 2_000 * 10 / result["seconds"]


def test_table_marks_missed_targets():
    results = {
        "portfolio": [
            {
                "n_accounts": 10,
                "days": 2,
                "seconds": 200.0,
                "account_days_per_second": 0.1,
                "peak_rss_mb": 100.0,
                "memory_per_account_kb": 1.0,
            }
        ],
        "per_account": {"account_days_per_second": 0.01},
        "kernel": {"account_days_per_second": 1.0},
        "env": {
            "account_env_steps_per_second": 1.0,
            "cartpole_steps_per_second": 2.0,
            "kernel_one_account_days_per_second": 0.5,
        },
        "vector": {"n_accounts": 4, "account_steps_per_second": 5.0},
        "ppo": {
            "training": {
                "n_envs": 64,
                "account_fps": 9.0,
                "cartpole_fps": 10.0,
                "null_account_fps": 18.0,
                "null_cartpole_fps": 24.0,
            },
            "small": {"n_envs": 8, "account_fps": 1.0, "cartpole_fps": 10.0},
        },
        "grid": {"cells": 2, "seconds_1_worker": 2.0, "seconds_2_workers": 1.0, "speedup": 2.0},
    }
    results["targets"] = [target.check(results) for target in TARGETS]
    met = {target["target"]: target["passed"] for target in results["targets"]}
    assert met["portfolio throughput >= 25% of the minimal kernel (c), at the largest size"] is False
    assert met["portfolio throughput >= 50x the per-account mode (b), at the largest size"] is False
    assert met["largest portfolio x days in under 120 s"] is False
    assert met["Account-v0 single steps >= 30% of CartPole-v1"] is True
    # Only the training setting decides the PPO target; the small setting's 10% is reported, not judged.
    assert met["PPO fps on Account-v0 >= 80% of CartPole-v1, training setting"] is True
    assert met["2-worker grid speed-up >= 1.7"] is True
    table = format_table(results)
    assert "| 2-worker grid speed-up >= 1.7 | 2 | 1.7 | yes |" in table
    assert "| largest portfolio x days in under 120 s | 200 | 120 | no |" in table
    assert "| (e) PPO, small setting, 8 environments | Account-v0 1 fps, CartPole-v1 10 fps |" in table
    assert "| (d) numpy kernel (c) at one account | 0 account-days/s, 25.0% of CartPole-v1 |" in table
    assert (
        "| (e) PPO, training setting, null environments with the spaces of each | Account-v0's 18 fps, "
        "CartPole-v1's 24 fps, ceiling 75.0% |"
    ) in table
    # The small setting trains on no null environment.
    assert table.count("null environments") == 1


def test_table_marks_skipped_measurements():
    results = {
        "portfolio": [
            {
                "n_accounts": 10,
                "days": 2,
                "seconds": 1.0,
                "account_days_per_second": 20.0,
                "peak_rss_mb": 2_100.0,
                "memory_per_account_kb": 1.0,
            }
        ],
        "per_account": {"account_days_per_second": 0.1},
        "kernel": {"account_days_per_second": 40.0},
        "env": None,
        "vector": None,
        "ppo": None,
        "grid": {"cells": 2, "seconds_1_worker": 2.0, "seconds_2_workers": 1.0, "speedup": 2.0},
    }
    results["targets"] = [target.check(results) for target in TARGETS]
    table = format_table(results)
    assert "| (d), (e) environments and PPO | skipped: the rl extra is not installed |" in table
    assert "| vector env >= 1M account-steps per second | - | 1,000,000 | not measured |" in table
    assert "| largest portfolio peak memory under 2 GB (MB) | 2,100 | 2,048 | no |" in table
    assert "| portfolio throughput >= 25% of the minimal kernel (c), at the largest size | 0.5 | 0.25 | yes |" in table


def test_bench_keeps_unrelated_out_file(tmp_path, capsys):
    notes = tmp_path / "notes.json"
    notes.write_text('{"my": "notes"}\n')
    assert main(["bench", "--quick", "--out", str(notes)]) == 2
    err = capsys.readouterr().err
    assert f"{notes}: --out: exists and is not a result of arrears bench; name a new file" in err
    assert notes.read_text() == '{"my": "notes"}\n'


def test_bench_out_must_be_json(tmp_path, capsys):
    out = tmp_path / "results.txt"
    assert main(["bench", "--quick", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{out}: --out: is not a .json path; name the JSON file to write the results to" in err
    assert not out.exists()


def test_bench_keeps_deeply_nested_out_file(tmp_path, capsys):
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 100_000 + "]" * 100_000)
    assert main(["bench", "--quick", "--out", str(nested)]) == 2
    err = capsys.readouterr().err
    assert f"{nested}: --out: exists and is not a result of arrears bench; name a new file" in err


def test_bench_rejects_special_out_files(tmp_path, capsys):
    pipe = tmp_path / "pipe.json"
    os.mkfifo(pipe)
    result = tmp_path / "result.json"
    result.write_text('{"machine": {}, "targets": []}\n')
    link = tmp_path / "link.json"
    link.symlink_to(result)
    for out in (pipe, link):
        assert main(["bench", "--quick", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"{out}: --out: is not a regular file" in err
    # Neither the pipe nor the link was replaced by a regular file.
    assert stat.S_ISFIFO(pipe.lstat().st_mode)
    assert link.is_symlink()
    assert result.read_text() == '{"machine": {}, "targets": []}\n'


def test_largest_size_takes_median_round(monkeypatch):
    """At the largest size, (a) runs its rounds and then (c) runs as many. Each reports its median run, and (a) also
    the highest peak memory of its rounds."""
    from benchmarks import suite

    portfolio_seconds, kernel_seconds = iter([12.0, 8.5, 9.0]), iter([3.0, 2.8, 2.9])
    calls = []

    def fake_fresh_process(function, n_accounts, days):
        calls.append(function.__name__)
        if function is suite.measure_portfolio:
            seconds = next(portfolio_seconds)
            return {"seconds": seconds, "peak_rss_mb": 700.0 + seconds, "memory_per_account_kb": seconds / 10}
        return {"seconds": next(kernel_seconds)}

    monkeypatch.setattr(suite, "_in_fresh_process", fake_fresh_process)
    portfolio, kernel = suite.measure_largest(1_000_000, 180, 3)
    assert calls == ["measure_portfolio"] * 3 + ["measure_kernel"] * 3
    assert portfolio["seconds"] == 9.0
    assert portfolio["seconds_runs"] == [12.0, 8.5, 9.0]
    assert portfolio["peak_rss_mb"] == 712.0
    assert portfolio["memory_per_account_kb"] == 1.2
    assert kernel["seconds"] == 2.9
    assert kernel["seconds_runs"] == [3.0, 2.8, 2.9]
    assert suite._median_note(kernel) == " (median of 3 rounds)"
    assert suite._median_note({"seconds": 1.0}) == ""


def test_bench_out_in_proc_exits_2(capsys):
    # As root, os.access calls /proc writable although it takes no new files; the suite must not run first.
    if not os.path.isdir("/proc") or not os.access("/proc", os.W_OK | os.X_OK):
        pytest.skip("needs /proc that os.access reports as writable, as it does for root on Linux")
    assert main(["bench", "--quick", "--out", "/proc/arrears-bench.json"]) == 2
    err = capsys.readouterr().err
    assert "/proc/arrears-bench.json: --out: the folder /proc takes no new files" in err
    assert "(a) portfolio" not in err
