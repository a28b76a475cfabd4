"""Tests for the HTML run report, on small synthetic run directories written with pandas and pyarrow."""

from __future__ import annotations

import base64
import html as html_lib
import json
import math
import re
import subprocess
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from matplotlib.text import Text
from scipy import stats as scipy_stats

from experiments.cli import main as cli_main
from experiments.config import json_sha256
from experiments.report import (
    format_decimal,
    format_money,
    format_money_small,
    format_percent,
    format_points,
    recovery_vs_cost_figure,
    render_report,
    split_arms,
    write_report,
)
from experiments.report_charts import bucket_shares, efficient_frontier, recovery_vs_cost_points
from experiments.stats import mean_interval
from sim.errors import ConfigError

CHAMPION = "current_waterfall"
POLICIES = ("current_waterfall", "sms_first", "agency_early")
SEEDS = (11, 12, 13, 14, 15)
DAYS = 30
N_ACCOUNTS = 1_000

# Per-policy levels of the synthetic metrics: sms_first has the highest NPV, agency_early the lowest.
RECOVERY = {"current_waterfall": 0.30, "sms_first": 0.34, "agency_early": 0.31}
CONTACT_COST_SHARE = {"current_waterfall": 0.060, "sms_first": 0.045, "agency_early": 0.030}
COMMISSION_SHARE = {"current_waterfall": 0.000, "sms_first": 0.000, "agency_early": 0.080}
CLV_LOST = {"current_waterfall": 90_000.0, "sms_first": 70_000.0, "agency_early": 120_000.0}
CONTACTS = {"current_waterfall": 6.0, "sms_first": 9.0, "agency_early": 3.5}
CURE = {"current_waterfall": 0.40, "sms_first": 0.45, "agency_early": 0.38}
COMPLAINTS = {"current_waterfall": 2.0, "sms_first": 3.5, "agency_early": 1.0}
STOP_CONTACT = {"current_waterfall": 0.004, "sms_first": 0.007, "agency_early": 0.002}
# Standard deviation across accounts of each account's NPV of net collections, per policy.
PER_ACCOUNT_SD = {"current_waterfall": 900.0, "sms_first": 1_000.0, "agency_early": 1_100.0}
BLOCKED_DISPUTE = {"current_waterfall": 12, "sms_first": 30, "agency_early": 4}
# A champion/challenger split written by split=True: the split's name and its arms' shares of the accounts.
SPLIT = "cc"
SPLIT_SHARES = {"current_waterfall": 0.9, "sms_first": 0.1}
# Daily account states: the share of the book in each DPD bucket while in collection.
BUCKET_MIX = {"accounts_current": 0.4, "accounts_1_29": 0.3, "accounts_30_59": 0.2, "accounts_60_89": 0.1}


def write_run_dir(
    run_dir: Path,
    *,
    name: str = "Q3 waterfall review",
    policies: Sequence[str] = POLICIES,
    champion: str = CHAMPION,
    levels: dict[str, str] | None = None,
    scenarios: Sequence[str] = ("baseline",),
    seeds: Sequence[int] = SEEDS,
    description: str = "Compare an SMS-first waterfall and early agency placement with today's waterfall.",
    manifest: bool = True,
    customer_impact: bool = True,
    new_metrics: bool = True,
    buckets: bool = True,
    split: bool = False,
) -> Path:
    """Write config.yaml, metrics.parquet, daily.parquet and manifest.json for a synthetic run.

    ``levels`` maps each policy name to the POLICIES entry whose numbers it takes from the level tables
    above. By default the i-th policy takes the numbers of the i-th entry. Each seed draws one portfolio
    effect that all policies share, as under common random numbers, and each policy adds a small noise.
    ``customer_impact=False`` leaves out complaints_per_1000 and stop_contact_rate, and ``new_metrics=False`` the
    columns added with recovery by day, as older runs do. ``buckets=False`` leaves the DPD bucket columns out of
    daily.parquet. ``split=True`` adds a split SPLIT whose arms run the first two policies' levels on SPLIT_SHARES
    of the accounts, with one row for the whole split and one per arm.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    levels = levels or {policy: POLICIES[index % len(POLICIES)] for index, policy in enumerate(policies)}
    columns = {"customer_impact": customer_impact, "new_metrics": new_metrics}
    metrics_rows = []
    daily_rows = []
    for scenario_index, scenario in enumerate(scenarios):
        for seed in seeds:
            portfolio = np.random.default_rng(seed)
            opening_balance = N_ACCOUNTS * 2_500.0 * (1 + 0.05 * portfolio.normal())
            shared_recovery_shock = 0.01 * portfolio.normal()
            daily_shape = portfolio.dirichlet(np.full(DAYS, 4.0))
            runs = [(policy, levels[policy], 1.0, policy_index) for policy_index, policy in enumerate(policies)]
            if split:
                runs.append((SPLIT, levels[policies[0]], 1.0, len(policies)))
                for arm_index, (arm, share) in enumerate(SPLIT_SHARES.items()):
                    runs.append((f"{SPLIT}/{arm}", levels[policies[arm_index]], share, len(policies) + 1 + arm_index))
            for policy, level, share, policy_index in runs:
                noise = np.random.default_rng([seed, policy_index, scenario_index])
                recovery_rate = RECOVERY[level] + shared_recovery_shock + 0.002 * noise.normal() - 0.02 * scenario_index
                row = metrics_row(
                    level, opening_balance * share, recovery_rate, noise, round(N_ACCOUNTS * share), **columns
                )
                metrics_rows.append({"scenario": scenario, "policy": policy, "seed": seed, **row})
                if "/" in policy:
                    continue
                for day in range(DAYS):
                    daily_rows.append(
                        {
                            "scenario": scenario,
                            "policy": policy,
                            "seed": seed,
                            "day": day,
                            "collected": row["collected"] * daily_shape[day],
                            "cost": row["total_cost"] / DAYS,
                            **(bucket_counts(day, recovery_rate) if buckets else {"accounts_current": 0}),
                            "contacts": 10,
                            "calls_attempted": 5,
                            "calls_handled": 5,
                            "calls_unplaced": 0,
                        }
                    )

    config = {
        "name": name,
        "scenario": scenarios[0],
        "policies": list(policies),
        "champion": champion,
        "seeds": list(seeds),
        "n_accounts": N_ACCOUNTS,
        "horizon_days": DAYS,
        "description": description,
        "economics": {"cost_of_capital": 0.08},
    }
    if split:
        config["splits"] = [{"name": SPLIT, "arms": dict(SPLIT_SHARES)}]
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    pd.DataFrame(metrics_rows).to_parquet(run_dir / "metrics.parquet", index=False)
    pd.DataFrame(daily_rows).to_parquet(run_dir / "daily.parquet", index=False)
    if manifest:
        manifest_data = {
            "arrears_version": "0.1.0",
            "python": "3.11.9",
            "packages": {"numpy": "2.1.0", "pandas": "2.2.3"},
            "git_commit": "0123456789abcdef0123456789abcdef01234567",
            "seeds": list(seeds),
            "config_sha256": json_sha256(config),
            "started_at": "2025-01-01T10:00:00+00:00",
            "finished_at": "2025-01-01T10:01:00+00:00",
            "elapsed_seconds": 60.0,
            "cells": [],
        }
        (run_dir / "manifest.json").write_text(json.dumps(manifest_data), encoding="utf-8")
    return run_dir


def metrics_row(
    level: str,
    opening_balance: float,
    recovery_rate: float,
    noise: np.random.Generator,
    n_accounts: int,
    customer_impact: bool,
    new_metrics: bool,
) -> dict[str, float]:
    """Return the metric columns of one synthetic run of a policy with the numbers of ``level``."""
    collected = opening_balance * recovery_rate
    contact_cost = collected * CONTACT_COST_SHARE[level]
    agency_commission = collected * COMMISSION_SHARE[level]
    total_cost = contact_cost + agency_commission
    net_collections = collected - total_cost
    scale = n_accounts / N_ACCOUNTS
    clv_lost = CLV_LOST[level] * scale * (1 + 0.03 * noise.normal())
    customer_columns = {
        "complaints_per_1000": COMPLAINTS[level] * (1 + 0.05 * noise.normal()),
        "stop_contact_rate": STOP_CONTACT[level] * (1 + 0.05 * noise.normal()),
    }
    new_columns = {
        # The 30-day window is the whole run, and sim.metrics writes NaN for windows longer than the run.
        **{f"recovery_rate_{days}d": recovery_rate if days <= DAYS else np.nan for days in (30, 60, 90, 180)},
        "roll_rate": 0.08 + 0.01 * noise.normal(),
        "agent_utilisation": 0.6,
        "sale_rate": 0.0,
        "npv_net_collections_per_account_sd": PER_ACCOUNT_SD[level] * (1 + 0.02 * noise.normal()),
        "blocked_dispute": BLOCKED_DISPUTE[level],
        "blocked_breathing_space": 3,
        "days_sales_outstanding": 25.0,
    }
    return {
        "n_accounts": n_accounts,
        "horizon_days": DAYS,
        "opening_balance": opening_balance,
        "collected": collected,
        "recovery_rate": recovery_rate,
        "contact_cost": contact_cost,
        "agency_commission": agency_commission,
        "total_cost": total_cost,
        "cost_to_collect": total_cost / collected,
        "net_collections": net_collections,
        "npv_net_collections": net_collections * 0.995,
        "clv_retained": 400_000.0 * scale - clv_lost,
        "clv_lost": clv_lost,
        "attrition_rate": clv_lost / 1_000_000.0,
        "contacts_per_account": CONTACTS[level] * (1 + 0.02 * noise.normal()),
        "rpc_per_account": CONTACTS[level] * 0.3,
        "cure_rate": CURE[level] + 0.01 * noise.normal(),
        "charge_off_rate": 0.05,
        **(customer_columns if customer_impact else {}),
        "calls_unplaced": 0,
        **(new_columns if new_metrics else {}),
    }


def bucket_counts(day: int, recovery_rate: float) -> dict[str, int]:
    """Return a day's account counts per state: paid off grows with the recovery rate, the rest is in collection."""
    paid_off = round(N_ACCOUNTS * recovery_rate * (day + 1) / DAYS)
    charged_off = round(N_ACCOUNTS * 0.05 * (day + 1) / DAYS)
    in_collection = N_ACCOUNTS - paid_off - charged_off
    counts = {column: round(in_collection * share) for column, share in BUCKET_MIX.items()}
    counts["accounts_current"] += in_collection - sum(counts.values())
    zero = ("accounts_90_119", "accounts_120_149", "accounts_150_179", "accounts_180_plus")
    return {
        **counts,
        **dict.fromkeys(zero, 0),
        "accounts_paid_off": paid_off,
        "accounts_settled": 0,
        "accounts_sold": 0,
        "accounts_charged_off": charged_off,
    }


def section_text(html: str, section_id: str) -> str:
    """Return the visible text of one <section>, with tags removed, entities decoded and spaces collapsed."""
    match = re.search(rf'<section id="{section_id}"[^>]*>(.*?)</section>', html, re.DOTALL)
    assert match, f"no section with id {section_id!r} in the report"
    block_tags = r"</?(?:h\d|p|div|table|tr|th|td|dl|dt|dd|br|figure|figcaption)\b[^>]*>"
    text = re.sub(block_tags, " ", match.group(1))
    text = re.sub(r"<[^>]+>", "", text)
    return " ".join(html_lib.unescape(text).split())


def rewrite_config(run_dir: Path, config: dict) -> None:
    """Write ``config`` as the run's config.yaml, with its hash in manifest.json, as a run with it would have."""
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    manifest["config_sha256"] = json_sha256(config)
    (run_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def leaderboard_rows(html: str, table_id: str = "leaderboard") -> list[tuple[str, str]]:
    """Return (class attribute, policy name) for each body row of a leaderboard table, in page order."""
    match = re.search(rf'<table id="{table_id}"[^>]*>.*?<tbody>(.*?)</tbody>', html, re.DOTALL)
    assert match, f"no table with id {table_id!r} in the report"
    rows = re.findall(r'<tr class="([^"]*)" data-policy="([^"]*)">', match.group(1))
    return [(css_class, html_lib.unescape(policy)) for css_class, policy in rows]


def npv_by_seed(run_dir: Path, policy: str) -> pd.Series:
    return metric_by_seed(run_dir, policy, "npv_net_collections")


def metric_by_seed(run_dir: Path, policy: str, column: str) -> pd.Series:
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    rows = metrics[metrics["policy"] == policy]
    return rows.set_index("seed")[column]


def summary_card(html: str, metric: str) -> str:
    """Return the visible text of the summary card of one metric column, with spaces collapsed."""
    match = re.search(rf'<div class="card[^"]*" data-metric="{metric}">(.*?)\n</div>', html, re.DOTALL)
    assert match, f"no summary card for {metric!r}"
    text = re.sub(r"<[^>]+>", " ", match.group(1))
    return " ".join(html_lib.unescape(text).split())


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_run_dir(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def report_html(run_dir: Path) -> str:
    return render_report(run_dir)


def test_summary_names_winner_and_gain(run_dir: Path, report_html: str) -> None:
    gain = (npv_by_seed(run_dir, "sms_first") - npv_by_seed(run_dir, CHAMPION)).mean()
    summary = section_text(report_html, "summary")

    assert summary.startswith("Executive summary sms_first is the best policy")
    assert f"{gain:,.0f} more than the champion, {CHAMPION}" in summary
    assert f"{gain / N_ACCOUNTS:+,.2f} per account" in summary


def test_summary_does_not_call_an_undecided_winner_best(tmp_path: Path) -> None:
    # sms_first runs the champion's numbers plus noise, so it may lead on the mean but the interval spans zero.
    run_dir = write_run_dir(
        tmp_path, levels={CHAMPION: CHAMPION, "sms_first": CHAMPION, "agency_early": "agency_early"}
    )
    gain = (npv_by_seed(run_dir, "sms_first") - npv_by_seed(run_dir, CHAMPION)).mean()

    summary = section_text(render_report(run_dir), "summary")

    assert summary.startswith(
        "Executive summary sms_first returns the highest mean net present value (NPV) of net collections, but the "
        "seeds cannot tell it from the champion"
    )
    assert f"it returns {gain:,.0f} more than the champion" in summary
    assert "is the best policy" not in summary


def test_summary_gain_interval_brackets_gain(run_dir: Path, report_html: str) -> None:
    gain = (npv_by_seed(run_dir, "sms_first") - npv_by_seed(run_dir, CHAMPION)).mean()
    summary = section_text(report_html, "summary")

    match = re.search(r"97\.5% interval ([+-][\d,]+) to ([+-][\d,]+)", summary)
    assert match, summary
    low, high = (float(bound.replace(",", "")) for bound in match.groups())
    assert low <= round(gain) <= high
    assert low > 0
    assert "The whole interval lies above zero" in summary


def test_summary_compares_recovery_cost_and_clv(run_dir: Path, report_html: str) -> None:
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    means = metrics.groupby("policy")[["recovery_rate", "cost_to_collect", "clv_lost"]].mean()
    summary = section_text(report_html, "summary")

    for policy in ("sms_first", CHAMPION):
        assert f"{means.loc[policy, 'recovery_rate']:.1%}" in summary
        assert f"{means.loc[policy, 'cost_to_collect']:.1%}" in summary
        assert f"{means.loc[policy, 'clv_lost']:,.0f}" in summary


def test_leaderboard_has_one_row_per_policy(report_html: str) -> None:
    rows = leaderboard_rows(report_html)

    assert sorted(policy for _, policy in rows) == sorted(POLICIES)


def test_leaderboard_ranked_by_npv(run_dir: Path, report_html: str) -> None:
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    expected = metrics.groupby("policy")["npv_net_collections"].mean().sort_values(ascending=False).index.tolist()

    rows = leaderboard_rows(report_html)

    assert [policy for _, policy in rows] == expected
    assert expected[0] == "sms_first"


def test_leaderboard_marks_champion(report_html: str) -> None:
    rows = dict((policy, css_class) for css_class, policy in leaderboard_rows(report_html))

    assert rows[CHAMPION] == "champion"
    assert rows["sms_first"] == ""
    assert rows["agency_early"] == ""
    champion_row = re.search(rf'<tr class="champion" data-policy="{CHAMPION}">(.*?)</tr>', report_html, re.DOTALL)
    assert champion_row
    assert '<span class="badge champion"' in champion_row.group(1)
    assert report_html.count('<span class="badge champion"') == 1


def test_leaderboard_cells_show_mean_and_interval(run_dir: Path, report_html: str) -> None:
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    mean_recovery = metrics[metrics["policy"] == "agency_early"]["recovery_rate"].mean()
    row = re.search(r'data-policy="agency_early">(.*?)</tr>', report_html, re.DOTALL)
    assert row

    cells = re.findall(r'<td class="num">(.*?)</td>', row.group(1), re.DOTALL)
    # Eight metric columns, then the NPV IQM and the probability of beating the champion.
    assert len(cells) == 10
    assert cells[0].strip().startswith(f"{mean_recovery:.1%}")
    assert re.search(r'<span class="interval">\d+\.\d% – \d+\.\d%</span>', cells[0])


def test_untrusted_names_are_escaped(tmp_path: Path) -> None:
    script_policy = "<script>alert(1)</script>"
    run_dir = write_run_dir(
        tmp_path,
        name="<b>Q3</b> review",
        policies=(CHAMPION, script_policy, "agency_early"),
        levels={CHAMPION: CHAMPION, script_policy: "sms_first", "agency_early": "agency_early"},
        scenarios=("<i>baseline</i>",),
        description='<img src=x onerror="alert(2)">',
    )

    html = render_report(run_dir)

    assert "<script" not in html
    assert "<b>Q3" not in html
    assert "<i>baseline" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;Q3&lt;/b&gt; review" in html
    assert "&lt;i&gt;baseline&lt;/i&gt;" in html
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in html
    assert section_text(html, "summary").startswith(f"Executive summary {script_policy} is the best policy")


def test_control_characters_are_replaced(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path, name="q3\x00review", description="first\x1b[31m line\x07")

    html = render_report(run_dir)

    assert "\x00" not in html
    assert "\x1b" not in html
    assert "\x07" not in html
    assert "q3\ufffdreview" in html
    assert "first\ufffd[31m line\ufffd" in html


def test_report_loads_nothing_from_network(report_html: str) -> None:
    references = re.findall(r'\b(?:src|href)\s*=\s*["\']?([^"\'\s>]+)', report_html, re.IGNORECASE)

    assert "http://" not in report_html
    assert "https://" not in report_html
    assert references
    assert all(reference.startswith("data:image/png;base64,") for reference in references)
    assert "url(" not in report_html
    assert "@import" not in report_html


def test_charts_embedded_as_png(report_html: str) -> None:
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"\s+alt="([^"]+)"', report_html)

    # Recovery versus cost, cumulative cash and bucket flows.
    assert len(images) == 3
    for encoded, alt in images:
        assert base64.b64decode(encoded).startswith(b"\x89PNG\r\n\x1a\n")
        assert len(alt) > 40


def test_assumptions_and_footer(run_dir: Path, report_html: str) -> None:
    assumptions = section_text(report_html, "assumptions")
    footer = re.search(r"<footer>(.*?)</footer>", report_html, re.DOTALL)
    assert footer

    assert "Scenario baseline" in assumptions
    assert "Accounts per simulation 1,000" in assumptions
    assert f"Horizon {DAYS} days" in assumptions
    assert "Seeds 5 (11, 12, 13, 14, 15)" in assumptions
    assert "Cost of capital 8.0% per year" in assumptions
    assert "0123456789abcdef0123456789abcdef01234567" in footer.group(1)
    assert json_sha256(yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))) in footer.group(1)
    assert "numpy 2.1.0, pandas 2.2.3" in footer.group(1)
    assert "3.11.9" in footer.group(1)
    assert "uncommitted changes" not in footer.group(1)


def test_one_account_one_day_singular(tmp_path: Path) -> None:
    config = tmp_path / "one.yaml"
    config.write_text(
        "name: one\nscenario: default\npolicies: [do_nothing]\nseeds: 1\nn_accounts: 1\nhorizon_days: 1\n",
        encoding="utf-8",
    )
    assert cli_main(["run", str(config), "--out", str(tmp_path / "run"), "--no-progress"]) == 0

    text = re.sub(r"<[^>]+>", " ", (tmp_path / "run" / "report.html").read_text(encoding="utf-8"))
    text = " ".join(text.split())
    assert "1 account · 1 day" in text
    assert "Horizon 1 day" in text
    assert "1 accounts" not in text
    assert "1 days" not in text


def test_footer_flags_modified_checkout(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path)
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    (run_dir / "manifest.json").write_text(json.dumps({**manifest, "git_modified": True}), encoding="utf-8")

    footer = re.search(r"<footer>(.*?)</footer>", render_report(run_dir), re.DOTALL)

    assert footer
    text = " ".join(re.sub(r"<[^>]+>", "", footer.group(1)).split())
    assert "0123456789abcdef0123456789abcdef01234567, with uncommitted changes to tracked files" in text


def test_champion_best_reports_best_challenger(tmp_path: Path) -> None:
    run_dir = write_run_dir(
        tmp_path,
        levels={CHAMPION: "sms_first", "sms_first": CHAMPION, "agency_early": "agency_early"},
    )
    gain = (npv_by_seed(run_dir, "agency_early") - npv_by_seed(run_dir, CHAMPION)).mean()
    gain_other = (npv_by_seed(run_dir, "sms_first") - npv_by_seed(run_dir, CHAMPION)).mean()
    challenger, difference = ("agency_early", gain) if gain > gain_other else ("sms_first", gain_other)

    summary = section_text(render_report(run_dir), "summary")

    assert f"The champion, {CHAMPION}, remains the best policy" in summary
    assert f"The best challenger, {challenger}, returns {-difference:,.0f} less than the champion" in summary
    assert "The whole interval lies below zero" in summary


def test_one_table_per_scenario(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path, scenarios=("baseline", "recession"))

    html = render_report(run_dir)

    assert len(leaderboard_rows(html, "leaderboard")) == len(POLICIES)
    assert len(leaderboard_rows(html, "leaderboard-2")) == len(POLICIES)
    assert "Scenario: recession" in html
    assert html.count("data:image/png;base64,") == 6


def test_nan_cost_to_collect_is_skipped(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path)
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    nothing_collected = (metrics["policy"] == "agency_early") & (metrics["seed"] == SEEDS[0])
    metrics.loc[nothing_collected, "cost_to_collect"] = np.nan
    metrics.to_parquet(run_dir / "metrics.parquet", index=False)
    expected = metrics[metrics["policy"] == "agency_early"]["cost_to_collect"].mean()

    html = render_report(run_dir)

    row = re.search(r'data-policy="agency_early">(.*?)</tr>', html, re.DOTALL)
    assert row
    cells = re.findall(r'<td class="num">(.*?)</td>', row.group(1), re.DOTALL)
    assert cells[1].strip().startswith(f"{expected:.1%}")
    assert "nan" not in row.group(1)


def test_card_means_cover_paired_seeds(tmp_path: Path) -> None:
    from experiments.report import build_context, load_run

    run_dir = write_run_dir(tmp_path)
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    # The champion collected nothing on one seed, so its cost to collect is NaN there and that seed is not paired.
    # The challenger's cost on that seed differs from its others, so that a mean over every seed would differ too.
    nothing_collected = (metrics["policy"] == CHAMPION) & (metrics["seed"] == SEEDS[0])
    metrics.loc[nothing_collected, "cost_to_collect"] = np.nan
    metrics.loc[(metrics["policy"] != CHAMPION) & (metrics["seed"] == SEEDS[0]), "cost_to_collect"] = 0.5
    metrics.to_parquet(run_dir / "metrics.parquet", index=False)

    comparison = build_context(load_run(run_dir))["sections"][0]["comparison"]
    card = next(card for card in comparison["collection"] if card["column"] == "cost_to_collect")
    challenger = metrics[metrics["policy"] == comparison["challenger"]].set_index("seed")["cost_to_collect"]
    champion = metrics[metrics["policy"] == CHAMPION].set_index("seed")["cost_to_collect"]
    paired = [seed for seed in SEEDS if seed != SEEDS[0]]
    assert card["challenger"] == pytest.approx(challenger.loc[paired].mean(), rel=1e-12)
    assert card["champion"] == pytest.approx(champion.loc[paired].mean(), rel=1e-12)
    assert card["challenger"] - card["champion"] == pytest.approx(card["difference"]["mean"], rel=1e-9)


def test_missing_manifest_warns(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path, manifest=False)

    with pytest.warns(UserWarning, match="manifest.json not found"):
        html = render_report(run_dir)

    assert "manifest.json was not found in the run directory" in html


def test_unknown_champion_rejected(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path, champion="does_not_exist")

    with pytest.raises(ConfigError, match="champion: 'does_not_exist' has no rows in metrics.parquet") as error:
        render_report(run_dir)

    assert error.value.key_path == "champion"


def test_missing_metrics_rejected(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path)
    (run_dir / "metrics.parquet").unlink()

    with pytest.raises(ConfigError, match="metrics.parquet: file not found"):
        render_report(run_dir)


def test_missing_metrics_column_rejected(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path)
    metrics = pd.read_parquet(run_dir / "metrics.parquet").drop(columns=["clv_lost"])
    metrics.to_parquet(run_dir / "metrics.parquet", index=False)

    with pytest.raises(ConfigError, match="clv_lost: missing column"):
        render_report(run_dir)


def test_missing_config_key_rejected(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    del config["champion"]
    rewrite_config(run_dir, config)

    with pytest.raises(ConfigError, match="config.yaml: champion: missing key"):
        render_report(run_dir)


def test_write_report_replaces_file(run_dir: Path, report_html: str) -> None:
    (run_dir / "report.html").write_text("stale", encoding="utf-8")

    path = write_report(run_dir)

    assert path == run_dir / "report.html"
    assert path.read_text(encoding="utf-8") == report_html
    assert not list(run_dir.glob(".report.html.*"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1_234_567.4, "1,234,567"), (-9_876.5, "-9,876"), (0.0, "0"), (float("nan"), "n/a")],
)
def test_format_money(value: float, expected: str) -> None:
    assert format_money(value) == expected


def test_format_signed_money() -> None:
    assert format_money(12_345.0, signed=True) == "+12,345"
    assert format_money(-12_345.0, signed=True) == "-12,345"


def test_format_percent_and_points() -> None:
    assert format_percent(0.1234) == "12.3%"
    assert format_percent(float("nan")) == "n/a"
    assert format_percent(0.0023) == "0.23%"
    assert format_percent(0.0) == "0.0%"
    assert format_points(0.012) == "+1.2 pp"
    assert format_points(-0.0006) == "-0.06 pp"
    assert format_points(-0.049) == "-4.9 pp"


def test_difference_that_rounds_to_zero_has_no_sign() -> None:
    assert format_points(-0.00001) == "0.00 pp"
    assert format_money(-0.4, signed=True) == "0"
    assert format_money_small(-0.004, signed=True) == "0.00"
    assert format_decimal(0.0, signed=True) == "0.00"
    assert format_money(-0.6, signed=True) == "-1"


# -- intervals ------------------------------------------------------------------------------------------


def test_leaderboard_interval_is_student_t(run_dir: Path, report_html: str) -> None:
    recovery = metric_by_seed(run_dir, "agency_early", "recovery_rate")
    expected = scipy_stats.ttest_1samp(recovery, 0.0).confidence_interval(confidence_level=0.95)
    row = re.search(r'data-policy="agency_early">(.*?)</tr>', report_html, re.DOTALL)
    assert row

    cells = re.findall(r'<td class="num">(.*?)</td>', row.group(1), re.DOTALL)

    assert f'<span class="interval">{expected.low:.1%} – {expected.high:.1%}</span>' in cells[0]


def test_gain_interval_is_paired_t(run_dir: Path, report_html: str) -> None:
    expected = scipy_stats.ttest_rel(npv_by_seed(run_dir, "sms_first"), npv_by_seed(run_dir, CHAMPION))
    # Three policies ran, so the summary's interval is the Bonferroni interval at 1 - 5% / 2.
    interval = expected.confidence_interval(confidence_level=0.975)
    summary = section_text(report_html, "summary")

    assert f"97.5% interval {interval.low:+,.0f} to {interval.high:+,.0f}" in summary
    assert "95% Student-t interval" in section_text(report_html, "leaderboard-section")
    assert "Mean Student-t interval over seeds, the headline interval" in section_text(report_html, "assumptions")


def test_single_seed_shows_no_interval(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path, seeds=(11,))

    html = render_report(run_dir)

    summary = section_text(html, "summary")
    summary_html = re.search(r'<section id="summary".*?</section>', html, re.DOTALL)
    assert summary_html
    assert "one seed cannot show how sure the comparison is" in summary
    assert "% interval" not in summary
    assert "n/a" not in summary
    assert 'class="better"' not in summary_html.group(0)
    assert 'class="worse"' not in summary_html.group(0)
    assert 'class="unclear"' not in summary_html.group(0)
    assert 'class="interval"' not in html
    assert "single seed, which gives no interval" in section_text(html, "leaderboard-section")


# -- customer impact ------------------------------------------------------------------------------------


def test_leaderboard_shows_customer_impact(run_dir: Path, report_html: str) -> None:
    complaints = metric_by_seed(run_dir, "agency_early", "complaints_per_1000").mean()
    stop_contact = metric_by_seed(run_dir, "agency_early", "stop_contact_rate").mean()
    header = re.search(r'<table id="leaderboard".*?<thead>(.*?)</thead>', report_html, re.DOTALL)
    row = re.search(r'data-policy="agency_early">(.*?)</tr>', report_html, re.DOTALL)
    assert header
    assert row

    cells = re.findall(r'<td class="num">(.*?)</td>', row.group(1), re.DOTALL)

    assert "Complaints per 1,000 accounts" in header.group(1)
    assert "Asked to stop contact" in header.group(1)
    assert cells[4].strip().startswith(f"{complaints:,.2f}")
    assert cells[5].strip().startswith(f"{stop_contact:.2%}")


def test_summary_shows_customer_impact(run_dir: Path, report_html: str) -> None:
    complaints = {policy: metric_by_seed(run_dir, policy, "complaints_per_1000").mean() for policy in POLICIES}
    stop_contact = {policy: metric_by_seed(run_dir, policy, "stop_contact_rate").mean() for policy in POLICIES}
    summary = section_text(report_html, "summary")

    complaints_card = summary_card(report_html, "complaints_per_1000")
    stop_contact_card = summary_card(report_html, "stop_contact_rate")

    assert "Customer impact" in summary
    assert complaints_card.startswith(f"Complaints per 1,000 accounts {complaints['sms_first']:,.2f}")
    assert f"Champion: {complaints[CHAMPION]:,.2f}" in complaints_card
    assert stop_contact_card.startswith(f"Asked to stop contact {stop_contact['sms_first']:.2%}")
    assert f"Champion: {stop_contact[CHAMPION]:.2%}" in stop_contact_card
    assert summary.index("CLV lost") < summary.index("Complaints per 1,000") < summary.index("Asked to stop")


def test_summary_flags_more_complaints(run_dir: Path, report_html: str) -> None:
    winner = metric_by_seed(run_dir, "sms_first", "complaints_per_1000").mean()
    champion = metric_by_seed(run_dir, CHAMPION, "complaints_per_1000").mean()
    summary = section_text(report_html, "summary")

    assert (
        f"sms_first causes more complaints than the champion: {winner:,.2f} against {champion:,.2f} "
        "per 1,000 accounts." in summary
    )
    assert "The 97.5% interval of the difference lies above zero" in summary


def test_summary_fewer_complaints_not_flagged(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path)
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    winner_rows = metrics["policy"] == "sms_first"
    metrics.loc[winner_rows, "complaints_per_1000"] = metrics.loc[winner_rows, "complaints_per_1000"] / 4
    metrics.to_parquet(run_dir / "metrics.parquet", index=False)

    summary = section_text(render_report(run_dir), "summary")

    assert "causes more complaints" not in summary
    assert "sms_first causes fewer complaints than the champion" in summary
    assert "the 97.5% interval of the difference lies below zero" in summary


def test_summary_complaints_unclear_claims_no_cause(tmp_path: Path) -> None:
    # Complaints differ by +1 and -1 on alternate seeds: the interval includes zero, so no cause is claimed.
    run_dir = write_npv_run(tmp_path, np.array([1.0, -0.8] * 5), column="complaints")

    summary = section_text(render_report(run_dir), "summary")

    assert "sms_first causes" not in summary
    assert "sms_first draws 2.10 complaints per 1,000 accounts, against 2.00 under the champion." in summary
    assert (
        "The 97.5% interval of the difference includes zero, so the seeds cannot tell whether the two differ."
        in summary
    )


def test_old_run_without_customer_impact(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path, customer_impact=False)

    html = render_report(run_dir)

    row = re.search(r'data-policy="agency_early">(.*?)</tr>', html, re.DOTALL)
    assert row
    assert len(re.findall(r'<td class="num">(.*?)</td>', row.group(1), re.DOTALL)) == 8
    assert "Complaints" not in html
    assert "complaints" not in section_text(html, "summary")
    assert "Asked to stop contact" not in html
    assert "CLV lost" in section_text(html, "summary")


def test_cost_to_collect_definition(report_html: str) -> None:
    definitions = section_text(report_html, "leaderboard-section")

    assert "agent minutes actually spent on calls, letters, messages and offers" in definitions
    assert "not idle agent time or fixed costs" in definitions


def test_clv_lost_definition_includes_base_attrition(report_html: str) -> None:
    definitions = section_text(report_html, "leaderboard-section")

    assert "because collection pressure made customers leave" not in definitions
    assert "some value is lost even without any contact" in definitions


def test_recovery_rate_definition_counts_sales(report_html: str) -> None:
    definitions = section_text(report_html, "leaderboard-section")

    assert (
        "Recovery rate Cash collected plus debt-sale proceeds over the horizon, divided by the opening" in definitions
    )


def test_npv_card_shows_challenger_value(run_dir: Path, report_html: str) -> None:
    challenger = npv_by_seed(run_dir, "sms_first").mean()
    champion = npv_by_seed(run_dir, CHAMPION).mean()

    card = summary_card(report_html, "npv_net_collections")

    assert card.startswith(f"NPV of net collections {challenger:,.0f} Champion: {champion:,.0f}")
    assert f"Difference: {challenger - champion:+,.0f}" in card


# -- recovery versus cost chart -------------------------------------------------------------------------


def test_frontier_labels_at_same_place_do_not_overlap() -> None:
    # do_nothing and letters_only cost nothing and recover the same share, so their points coincide.
    columns = pd.MultiIndex.from_product([["recovery_rate", "cost_to_collect"], ["mean", "low", "high"]])
    summary = pd.DataFrame(
        [
            [0.30, 0.29, 0.31, 0.02, 0.019, 0.021],
            [0.25, 0.24, 0.26, 0.0, 0.0, 0.0],
            [0.25, 0.24, 0.26, 0.0, 0.0, 0.0],
            [0.25, 0.24, 0.26, 0.0, 0.0, 0.0],
        ],
        index=[CHAMPION, "do_nothing", "letters_only", "hold_only"],
        columns=columns,
    )
    colours = {policy: "#2563eb" for policy in summary.index}

    figure = recovery_vs_cost_figure(summary, CHAMPION, colours)

    figure.draw_without_rendering()
    labels = figure.axes[0].texts
    # The text's own box: an Annotation's box also spans its line to the point.
    boxes = {label.get_text(): Text.get_window_extent(label) for label in labels}
    assert sorted(boxes) == sorted(["current_waterfall (champion)", "do_nothing", "letters_only", "hold_only"])
    names = sorted(boxes)
    for index, first in enumerate(names):
        for second in names[index + 1 :]:
            assert not boxes[first].overlaps(boxes[second]), f"labels {first!r} and {second!r} overlap"
    # The first of the three labels at one point stays beside it; the two that moved are joined to it by a line.
    lines = {label.get_text(): label.arrow_patch.get_visible() for label in labels}
    assert lines == {
        "current_waterfall (champion)": False,
        "do_nothing": False,
        "letters_only": True,
        "hold_only": True,
    }


def recovery_cost_summary(rows: dict[str, list[float]]) -> pd.DataFrame:
    """Return recovery rate and cost to collect (mean, low, high) per policy, in the layout the charts read."""
    columns = pd.MultiIndex.from_product([["recovery_rate", "cost_to_collect"], ["mean", "low", "high"]])
    return pd.DataFrame(list(rows.values()), index=list(rows), columns=columns)


def test_recovery_axis_labels_inside_figure() -> None:
    summary = recovery_cost_summary(
        {CHAMPION: [0.68, 0.67, 0.69, 0.002, 0.0018, 0.0022], "do_nothing": [0.665, 0.657, 0.673, 0.0, 0.0, 0.0]}
    )

    figure = recovery_vs_cost_figure(summary, CHAMPION, {policy: "#2563eb" for policy in summary.index})

    figure.draw_without_rendering()
    axes = figure.axes[0]
    figure_box = figure.bbox
    for label in (axes.xaxis.label, axes.yaxis.label):
        box = label.get_window_extent()
        assert box.y0 >= figure_box.y0, f"{label.get_text()!r} is cut off at the bottom"
        assert box.y1 <= figure_box.y1, f"{label.get_text()!r} is cut off at the top"
        assert box.x0 >= figure_box.x0, f"{label.get_text()!r} is cut off at the left"


def test_frontier_labels_of_a_cluster_stay_near_it() -> None:
    # Seven policies within 0.5 pp of cost and 3 pp of recovery, and one far away, as with random in a run.
    columns = pd.MultiIndex.from_product([["recovery_rate", "cost_to_collect"], ["mean", "low", "high"]])
    rows = [[0.66 + 0.005 * i, 0.6, 0.72 + 0.005 * i, 0.001 * i, 0.0, 0.002 * i + 0.001] for i in range(7)]
    rows.append([0.36, 0.24, 0.47, 0.074, 0.067, 0.081])
    names = [CHAMPION, "p1", "p2", "p3", "p4", "p5", "p6", "random"]
    summary = pd.DataFrame(rows, index=names, columns=columns)

    figure = recovery_vs_cost_figure(summary, CHAMPION, {policy: "#2563eb" for policy in names})

    figure.draw_without_rendering()
    axes = figure.axes[0]
    boxes = [Text.get_window_extent(label) for label in axes.texts]
    for index, first in enumerate(boxes):
        for second in boxes[index + 1 :]:
            assert not first.overlaps(second)
    # Every label stays within the plot and within a few label heights of its point.
    plot = axes.get_window_extent()
    label_height = max(box.height for box in boxes)
    for label, box in zip(axes.texts, boxes, strict=True):
        point = axes.transData.transform(label.xy)
        assert plot.y0 - label_height <= box.y0, label.get_text()
        assert box.y1 <= plot.y1 + label_height, label.get_text()
        assert abs((box.y0 + box.y1) / 2 - point[1]) <= 5 * label_height, label.get_text()
    # Costs are never negative, so the axis starts just below 0 rather than a quarter of the range below.
    assert -0.005 < axes.get_xlim()[0] < 0.0


# -- unreadable inputs ----------------------------------------------------------------------------------


def test_missing_directory_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="directory not found"):
        render_report(tmp_path / "no_such_run")


def test_random_bytes_metrics_rejected(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path)
    (run_dir / "metrics.parquet").write_bytes(np.random.default_rng(1).bytes(4096))

    with pytest.raises(ConfigError) as error:
        render_report(run_dir)

    assert error.value.source == str(run_dir / "metrics.parquet")
    assert error.value.key_path == ""
    assert error.value.message.startswith("cannot be read as a parquet table: ")
    assert "Parquet magic bytes not found" in error.value.message
    assert str(run_dir) not in error.value.message


def test_zero_byte_daily_rejected(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path)
    (run_dir / "daily.parquet").write_bytes(b"")

    with pytest.raises(ConfigError, match=r"daily.parquet: cannot be read as a parquet table: .*0 bytes"):
        render_report(run_dir)


def test_daily_without_rows_rejected(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path)
    daily = pd.read_parquet(run_dir / "daily.parquet")
    daily.iloc[0:0].to_parquet(run_dir / "daily.parquet", index=False)

    with pytest.raises(ConfigError, match="daily.parquet: no rows"):
        render_report(run_dir)


def test_truncated_daily_rejected(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path)
    daily = pd.read_parquet(run_dir / "daily.parquet")
    daily.iloc[:10].to_parquet(run_dir / "daily.parquet", index=False)

    with pytest.raises(ConfigError) as caught:
        render_report(run_dir)

    assert caught.value.source == str(run_dir / "daily.parquet")
    assert caught.value.message.startswith("no rows for scenario 'baseline', policy ")
    assert caught.value.message.endswith("of metrics.parquet; rerun the run")


def test_daily_short_of_horizon_rejected(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path)
    daily = pd.read_parquet(run_dir / "daily.parquet")
    daily[daily["day"] < DAYS - 5].to_parquet(run_dir / "daily.parquet", index=False)

    with pytest.raises(ConfigError) as caught:
        render_report(run_dir)

    assert caught.value.source == str(run_dir / "daily.parquet")
    assert caught.value.key_path == "day"
    assert f"has {DAYS - 5} rows over days 0 to {DAYS - 6}, expected days 0 to {DAYS - 1} once each" in (
        caught.value.message
    )


@pytest.mark.parametrize(
    ("edit", "rows", "first", "last"),
    [
        ("drop the last day", DAYS - 1, 0, DAYS - 2),
        ("repeat the first day", DAYS + 1, 0, DAYS - 1),
    ],
)
def test_daily_gap_or_repeat_rejected(tmp_path: Path, edit: str, rows: int, first: int, last: int) -> None:
    run_dir = write_run_dir(tmp_path)
    daily = pd.read_parquet(run_dir / "daily.parquet")
    sms_first_seed = (daily["policy"] == "sms_first") & (daily["seed"] == SEEDS[1])
    if edit == "drop the last day":
        daily = daily[~(sms_first_seed & (daily["day"] == DAYS - 1))]
    else:
        daily = pd.concat([daily, daily[sms_first_seed & (daily["day"] == 0)]], ignore_index=True)
    daily.to_parquet(run_dir / "daily.parquet", index=False)

    with pytest.raises(ConfigError) as caught:
        render_report(run_dir)

    assert caught.value.source == str(run_dir / "daily.parquet")
    assert caught.value.key_path == "day"
    assert caught.value.message == (
        f"scenario 'baseline', policy 'sms_first', seed {SEEDS[1]} has {rows} rows over days {first} to {last}, "
        f"expected days 0 to {DAYS - 1} once each; rerun the run"
    )


@pytest.mark.parametrize(
    ("file_name", "column"),
    [("metrics.parquet", "recovery_rate"), ("metrics.parquet", "complaints_per_1000"), ("daily.parquet", "cost")],
)
def test_text_metric_column_rejected(tmp_path: Path, file_name: str, column: str) -> None:
    run_dir = write_run_dir(tmp_path)
    table = pd.read_parquet(run_dir / file_name)
    table[column] = table[column].map(lambda value: f"{value:.1%}")
    table.to_parquet(run_dir / file_name, index=False)

    with pytest.raises(ConfigError, match=rf"{file_name}: {column}: expected a numeric column") as error:
        render_report(run_dir)

    assert error.value.key_path == column


@pytest.mark.parametrize("column", ["cost_to_collect", "recovery_rate"])
def test_infinite_metric_rejected(tmp_path: Path, column: str) -> None:
    run_dir = write_run_dir(tmp_path)
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    metrics[column] = np.inf
    metrics.to_parquet(run_dir / "metrics.parquet", index=False)

    with pytest.raises(ConfigError, match=rf"metrics.parquet: {column}: infinite value inf in row 1") as error:
        render_report(run_dir)

    assert error.value.key_path == column


def test_unpaired_seeds_rejected(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path)
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    metrics = metrics[~((metrics["policy"] == "sms_first") & (metrics["seed"] == SEEDS[0]))]
    metrics.to_parquet(run_dir / "metrics.parquet", index=False)

    with pytest.raises(
        ConfigError, match=r"must share their seeds .* seeds \[11\] only in 'current_waterfall'"
    ) as error:
        render_report(run_dir)

    assert error.value.source == str(run_dir / "metrics.parquet")
    assert error.value.key_path == "seed"


def test_cli_prints_one_line_for_unreadable_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CLI replaces warnings.formatwarning; monkeypatch restores it after the test.
    monkeypatch.setattr(warnings, "formatwarning", warnings.formatwarning)
    run_dir = write_run_dir(tmp_path)
    (run_dir / "metrics.parquet").write_bytes(np.random.default_rng(2).bytes(4096))

    exit_code = cli_main(["report", str(run_dir)])

    errors = capsys.readouterr().err.splitlines()
    assert exit_code == 2
    assert len(errors) == 1
    assert errors[0].startswith(f"arrears report: error: {run_dir / 'metrics.parquet'}: cannot be read as a parquet")


def test_deeply_nested_manifest_rejected(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path)
    (run_dir / "manifest.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        render_report(run_dir)

    assert caught.value.source == str(run_dir / "manifest.json")
    assert caught.value.message == "invalid JSON: arrays or objects nested too deeply"


@pytest.mark.parametrize(
    ("fields", "key", "message"),
    [
        ({"packages": [1, 2]}, "packages", "expected an object or null, got [1, 2]"),
        ({"elapsed_seconds": "x"}, "elapsed_seconds", "expected a number or null, got 'x'"),
        ({"elapsed_seconds": True}, "elapsed_seconds", "expected a number or null, got True"),
        ({"started_at": 5}, "started_at", "expected a string or null, got 5"),
        ({"seeds": [1, "b"]}, "seeds", "expected a list of whole numbers, got [1, 'b']"),
        ({"packages": {"numpy": 5}}, "packages.numpy", "expected a version string or null, got 5"),
    ],
)
def test_manifest_field_of_wrong_type_rejected(tmp_path: Path, fields: dict, key: str, message: str) -> None:
    run_dir = write_run_dir(tmp_path)
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    (run_dir / "manifest.json").write_text(json.dumps(manifest | fields), encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        render_report(run_dir)

    assert caught.value.source == str(run_dir / "manifest.json")
    assert caught.value.key_path == key
    assert caught.value.message == message


def test_manifest_without_footer_fields_warns(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path)
    (run_dir / "manifest.json").write_text('{"a": 1}', encoding="utf-8")

    lacking = r"lacks arrears_version, git_commit, config_sha256, .*elapsed_seconds, so .* not recorded"
    with pytest.warns(UserWarning, match=lacking):
        html = render_report(run_dir)

    assert "not recorded" in html


def test_edited_config_flagged(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path)
    config_path = run_dir / "config.yaml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config["n_accounts"] += 1
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    with pytest.warns(UserWarning, match=r"config\.yaml was edited after the run: it no longer matches"):
        html = render_report(run_dir)

    header = re.search(r'<header class="page">(.*?)</header>', html, re.DOTALL)
    assert header
    assert "config.yaml was edited after the run:</strong> it no longer matches" in header.group(1)
    assert "which config.yaml no longer matches" in html


def test_unedited_config_not_flagged(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    run_dir = write_run_dir(tmp_path)
    config_path = run_dir / "config.yaml"
    # The same settings in another key order hash the same: the hash sorts the keys.
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config_path.write_text(yaml.safe_dump(config, sort_keys=True), encoding="utf-8")

    html = render_report(run_dir)

    assert "edited" not in html
    assert [str(warning.message) for warning in recwarn] == []


def test_cli_missing_manifest_warns_in_one_line(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path, manifest=False)
    command = "import sys; from experiments.cli import main; sys.exit(main(sys.argv[1:]))"

    result = subprocess.run(
        [sys.executable, "-c", command, "report", str(run_dir)], capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"arrears: warning: manifest.json not found in {run_dir}, so the report's footer shows versions and "
        "timings as not recorded"
    ]
    assert "not recorded" in (run_dir / "report.html").read_text(encoding="utf-8")


# -- statistics against the champion ----------------------------------------------------------------------------


def leaderboard_row(html: str, policy: str, table_id: str = "leaderboard") -> str:
    """Return the HTML of one policy's row in a leaderboard table."""
    table = re.search(rf'<table [^>]*id="{table_id}"[^>]*>(.*?)</table>', html, re.DOTALL)
    assert table, f"no table with id {table_id!r}"
    row = re.search(rf'data-policy="{re.escape(policy)}">(.*?)</tr>', table.group(1), re.DOTALL)
    assert row, f"no row for {policy!r} in {table_id!r}"
    return row.group(1)


def expected_live_test(run_dir: Path, challenger_share: float, difference: float | None = None) -> tuple[int, int]:
    """Size a live test by hand from the metrics: (challenger accounts, total accounts). ``difference`` per account
    defaults to the mean simulated one."""
    z = scipy_stats.norm.ppf(0.975) + scipy_stats.norm.ppf(0.8)
    if difference is None:
        difference = ((npv_by_seed(run_dir, "sms_first") - npv_by_seed(run_dir, CHAMPION)) / N_ACCOUNTS).mean()
    sd = {
        policy: np.sqrt((metric_by_seed(run_dir, policy, "npv_net_collections_per_account_sd") ** 2).mean())
        for policy in ("sms_first", CHAMPION)
    }
    ratio = (1 - challenger_share) / challenger_share
    challenger = z**2 * (sd["sms_first"] ** 2 + sd[CHAMPION] ** 2 / ratio) / difference**2
    return int(np.ceil(challenger)), int(np.ceil(challenger)) + int(np.ceil(challenger * ratio))


def test_leaderboard_iqm_column(run_dir: Path, report_html: str) -> None:
    # Five seeds: the interquartile mean drops the lowest and the highest NPV and averages the middle three.
    npv = np.sort(npv_by_seed(run_dir, "agency_early").to_numpy())

    cells = re.findall(r'<td class="num">(.*?)</td>', leaderboard_row(report_html, "agency_early"), re.DOTALL)

    assert cells[8].strip().startswith(f"{npv[1:4].mean():,.0f}")
    assert '<span class="interval">' in cells[8]


def test_leaderboard_probability_column(run_dir: Path, report_html: str) -> None:
    wins = {
        policy: (npv_by_seed(run_dir, policy) > npv_by_seed(run_dir, CHAMPION)).mean()
        for policy in ("sms_first", "agency_early")
    }

    for policy, share in wins.items():
        cells = re.findall(r'<td class="num">(.*?)</td>', leaderboard_row(report_html, policy), re.DOTALL)
        assert cells[9].strip().startswith(f"{share:.1%}"), policy
    champion_row = leaderboard_row(report_html, CHAMPION)
    assert '<td class="num dash" data-stat="probability">–</td>' in champion_row


def test_leaderboard_live_test_column(run_dir: Path, report_html: str) -> None:
    per_arm, _ = expected_live_test(run_dir, 0.5)

    cell = re.search(r'data-stat="live-test">([^<]*)</td>', leaderboard_row(report_html, "sms_first"))

    assert cell
    assert cell.group(1) == approx_total(per_arm, 0.5)
    assert "Live test size" in section_text(report_html, "leaderboard-section")


def approx(accounts: int) -> str:
    """Write a number of accounts rounded up to three significant figures, as the report does: 9,721,854 as
    9,730,000."""
    return f"{rounded_up(accounts):,}"


def rounded_up(accounts: int) -> int:
    step = 10 ** max(0, len(str(accounts)) - 3)
    return math.ceil(accounts / step) * step


def approx_total(challenger_arm: int, share: float) -> str:
    """Write a live test's total as the report does: the challenger arm, rounded up, over its share of the accounts."""
    return f"{round(rounded_up(challenger_arm) / share):,}"


def test_summary_states_live_test(run_dir: Path, report_html: str) -> None:
    per_arm, _ = expected_live_test(run_dir, 0.5)
    challenger, _ = expected_live_test(run_dir, 0.1)
    difference = ((npv_by_seed(run_dir, "sms_first") - npv_by_seed(run_dir, CHAMPION)) / N_ACCOUNTS).mean()

    summary = section_text(report_html, "summary")

    # The summary rounds the challenger arm up to three significant figures, and its total is the arms it writes.
    even_total, small_total = approx_total(per_arm, 0.5), approx_total(challenger, 0.1)
    assert (
        f"A live champion/challenger test needs about {even_total} accounts split evenly ({approx(per_arm)} per arm)"
        in summary
    )
    assert (
        f"or {small_total} with 10% of accounts on the challenger ({approx(challenger)} challenger accounts)" in summary
    )
    assert int(even_total.replace(",", "")) == 2 * rounded_up(per_arm)
    assert (
        f"to detect the simulated difference of {difference:+,.2f} of NPV per account with 80% power at 5% two-sided "
        "significance." in summary
    )


def test_summary_states_live_test_range(run_dir: Path, report_html: str) -> None:
    # The size scales with 1 / difference², so the summary gives the sizes at both ends of the difference's interval.
    # That interval is at 97.5%, the level of the summary's other intervals in a run of three policies.
    differences = (npv_by_seed(run_dir, "sms_first") - npv_by_seed(run_dir, CHAMPION)) / N_ACCOUNTS
    n = len(differences)
    half_width = scipy_stats.t.ppf(0.9875, n - 1) * differences.std(ddof=1) / np.sqrt(n)
    low, high = differences.mean() - half_width, differences.mean() + half_width
    assert low > 0, "the fixture's challenger should beat the champion on every seed"
    at_high, _ = expected_live_test(run_dir, 0.5, difference=high)
    at_low, _ = expected_live_test(run_dir, 0.5, difference=low)

    summary = section_text(report_html, "summary")

    assert (
        f"Across the 97.5% interval of that difference, {low:+,.2f} to {high:+,.2f} per account, an even split needs "
        f"from {approx_total(at_high, 0.5)} to {approx_total(at_low, 0.5)} accounts." in summary
    )


def test_summary_live_test_when_difference_includes_zero(tmp_path: Path) -> None:
    noise = np.array([-100.0, 120.0, -90.0, 110.0, -80.0, 100.0, -70.0, 60.0, -30.0, 80.0])
    summary = section_text(render_report(write_npv_run(tmp_path, noise)), "summary")

    assert "A live champion/challenger test needs about" in summary
    assert "This size is only a guide: the 97.5% interval of that difference, " in summary
    assert "per account, includes zero, so the simulation does not settle which policy returns more" in summary
    assert "Across the" not in summary


def test_summary_live_test_at_summary_level(tmp_path: Path) -> None:
    # The 97.5% interval of the gain includes zero and the 95% one does not: the live test must not give a range of
    # sizes over the narrower interval, as if the sign of the difference were known.
    summary = section_text(render_report(write_npv_run(tmp_path, BORDERLINE_ABOVE)), "summary")

    assert "but the seeds cannot tell it from the champion" in summary
    assert "This size is only a guide: the 97.5% interval of that difference, " in summary
    assert "per account, includes zero, so the simulation does not settle which policy returns more" in summary
    assert "Across the" not in summary


def test_summary_states_customer_impact(run_dir: Path, report_html: str) -> None:
    clv = {policy: metric_by_seed(run_dir, policy, "clv_lost").mean() for policy in ("sms_first", CHAMPION)}
    complaints = {policy: metric_by_seed(run_dir, policy, "complaints_per_1000").mean() for policy in clv}

    summary = section_text(report_html, "summary")

    assert (
        f"Customer impact: sms_first loses {clv['sms_first']:,.0f} of customer lifetime value, against "
        f"{clv[CHAMPION]:,.0f} under the champion, and draws {complaints['sms_first']:.2f} complaints per 1,000 "
        f"accounts, against {complaints[CHAMPION]:.2f}." in summary
    )
    # The customer impact comes before the verdict and the cards, on the first screen.
    assert summary.index("Customer impact:") < summary.index("The whole interval lies above zero")


def test_leaderboard_probability_never_collapses(tmp_path: Path) -> None:
    # sms_first beats the champion on every seed or on none: the interval must still have width.
    run_dir = write_run_dir(tmp_path)
    wins = npv_by_seed(run_dir, "sms_first") > npv_by_seed(run_dir, CHAMPION)
    assert wins.all() or not wins.any()

    html = render_report(run_dir)

    cells = re.findall(r'<td class="num">(.*?)</td>', leaderboard_row(html, "sms_first"), re.DOTALL)
    interval = re.search(r'<span class="interval">([^<]*)</span>', cells[9])
    assert interval
    assert interval.group(1) not in ("100.0% – 100.0%", "0.0% – 0.0%")


def test_summary_states_probability(run_dir: Path, report_html: str) -> None:
    share = (npv_by_seed(run_dir, "sms_first") > npv_by_seed(run_dir, CHAMPION)).mean()

    assert f"sms_first returned the higher NPV on {share:.1%} of the seeds" in section_text(report_html, "summary")


def test_old_run_without_new_metrics(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path, new_metrics=False)

    html = render_report(run_dir)

    header = re.search(r'<table id="leaderboard".*?<thead>(.*?)</thead>', html, re.DOTALL)
    assert header
    assert "NPV IQM" in header.group(1)
    assert "Live test size" not in header.group(1)
    assert 'id="live-test"' not in html
    assert 'id="recovery-over-time"' not in html
    assert 'id="compliance"' in html


# -- bucket flows, segments, detail tables ----------------------------------------------------------------------


def test_bucket_shares_average_seeds() -> None:
    # Day 0: seed 1 has 6 current and 4 in 1-29 DPD, seed 2 has 8 and 2, so the means are 7 and 3 of 10.
    daily = pd.DataFrame(
        {
            "policy": ["a", "a", "a", "a", "b"],
            "seed": [1, 2, 1, 2, 1],
            "day": [0, 0, 1, 1, 0],
            "accounts_current": [6, 8, 5, 5, 10],
            "accounts_1_29": [4, 2, 3, 1, 0],
            "accounts_paid_off": [0, 0, 2, 4, 0],
        }
    )

    shares = bucket_shares(daily, "a")

    assert shares.columns.tolist() == ["accounts_paid_off", "accounts_current", "accounts_1_29"]
    assert shares.loc[0].tolist() == pytest.approx([0.0, 0.7, 0.3])
    assert shares.loc[1].tolist() == pytest.approx([0.3, 0.5, 0.2])


def test_bucket_flows_drawn_for_champion_and_winner(report_html: str) -> None:
    section = re.search(r'<section id="buckets">(.*?)</section>', report_html, re.DOTALL)
    assert section

    assert 'src="data:image/png;base64,' in section.group(1)
    assert f"for {CHAMPION} and sms_first" in section_text(report_html, "buckets")


def test_bucket_flows_need_bucket_columns(tmp_path: Path) -> None:
    html = render_report(write_run_dir(tmp_path, buckets=False))

    assert "daily.parquet has no DPD bucket columns" in section_text(html, "buckets")
    assert html.count("data:image/png;base64,") == 2


def test_summary_compares_policies_before_split(tmp_path: Path) -> None:
    # The split, mostly the champion, returns the most after it, but the summary compares the best other policy,
    # so a clear loss of sms_first is not hidden behind the split's near tie.
    run_dir = write_run_dir(tmp_path, split=True)
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    champion = metrics.loc[metrics["policy"] == CHAMPION, "npv_net_collections"].to_numpy()
    metrics.loc[metrics["policy"] == SPLIT, "npv_net_collections"] = champion - 100.0
    for policy in ("sms_first", "agency_early"):
        metrics.loc[metrics["policy"] == policy, "npv_net_collections"] = champion - 50_000.0
    metrics.to_parquet(run_dir / "metrics.parquet", index=False)

    summary = section_text(render_report(run_dir), "summary")

    assert f"The champion, {CHAMPION}, remains the best policy" in summary
    assert "The best challenger, sms_first, returns" in summary
    assert f"This summary compares policies only, not {SPLIT}, a champion/challenger split: it runs its arms" in summary
    assert f"{SPLIT} is a champion/challenger split" not in summary


def test_header_counts_policies_and_splits(tmp_path: Path) -> None:
    html = render_report(write_run_dir(tmp_path, split=True))

    header = re.search(r'<header class="page">(.*?)</header>', html, re.DOTALL)
    assert header
    text = " ".join(re.sub(r"<[^>]+>", " ", header.group(1)).split())
    assert "3 policies · 1 split · 5 seeds" in text
    assert f"Champion/challenger splits</th><td>{SPLIT}</td>" in html


def test_summary_points_from_a_split_to_its_arms(tmp_path: Path) -> None:
    # The champion and a split are all that ran: the summary compares the split and points to the arms' breakdown.
    run_dir = write_run_dir(tmp_path, split=True)
    others = ["sms_first", "agency_early"]
    for name in ("metrics.parquet", "daily.parquet"):
        table = pd.read_parquet(run_dir / name)
        table[~table["policy"].isin(others)].to_parquet(run_dir / name, index=False)

    summary = section_text(render_report(run_dir), "summary")

    assert f"The best challenger, {SPLIT}, returns" in summary
    assert f"{SPLIT} is a champion/challenger split: it runs its arms on shares of one portfolio" in summary


def test_summary_names_no_split_without_one(report_html: str) -> None:
    assert "is a champion/challenger split" not in section_text(report_html, "summary")


def test_split_arms_grouped_by_split() -> None:
    policies = ["standard", "cc", "cc/standard", "cc/digital", "a/b"]

    assert split_arms(policies) == {"cc": ["cc/standard", "cc/digital"]}


def test_segment_breakdown_per_account(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path, split=True)
    arms = {arm: f"{SPLIT}/{arm}" for arm in SPLIT_SHARES}
    accounts = {arm: round(N_ACCOUNTS * share) for arm, share in SPLIT_SHARES.items()}
    per_account = {arm: npv_by_seed(run_dir, policy) / accounts[arm] for arm, policy in arms.items()}
    difference = (per_account["sms_first"] - per_account[CHAMPION]).mean()

    html = render_report(run_dir)

    segments = section_text(html, "segments")
    assert f"Split {SPLIT}: reference arm {CHAMPION}" in segments
    assert f"{CHAMPION} 900 90.0% {per_account[CHAMPION].mean():,.2f}" in segments
    assert f"sms_first 100 10.0% {per_account['sms_first'].mean():,.2f}" in segments
    assert f"{difference:+,.2f}" in segments
    leaderboard = [policy for _, policy in leaderboard_rows(html)]
    assert SPLIT in leaderboard
    assert not [policy for policy in leaderboard if "/" in policy]
    # A live test of a split against the champion means nothing, so its cell is a dash; a policy's has a size.
    assert '<td class="num dash" data-stat="live-test">–</td>' in leaderboard_row(html, SPLIT)
    assert re.search(r'data-stat="live-test">[0-9,]+</td>', leaderboard_row(html, "sms_first"))


def test_detail_tables_show_means(report_html: str) -> None:
    compliance = leaderboard_row(report_html, "sms_first", "compliance-table")

    assert re.findall(r'<td class="num">([^<]*)</td>', compliance) == ["3", "30", "0"]
    # The horizon is 30 days: recovery by day 30 repeats the whole horizon and later days are undefined, so the
    # recovery-over-time table would only repeat the leaderboard.
    assert 'id="recovery-over-time"' not in report_html


def test_recovery_over_time_stops_before_horizon(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path)
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    metrics["horizon_days"] = 120
    metrics["recovery_rate_60d"] = metrics["recovery_rate_30d"] + 0.01
    metrics["recovery_rate_90d"] = metrics["recovery_rate_30d"] + 0.02
    metrics.to_parquet(run_dir / "metrics.parquet", index=False)
    # daily.parquet must cover the 120 days too: four copies of the fixture's 30 days, one after another.
    daily = pd.read_parquet(run_dir / "daily.parquet")
    copies = [daily.assign(day=daily["day"] + DAYS * index) for index in range(120 // DAYS)]
    pd.concat(copies, ignore_index=True).to_parquet(run_dir / "daily.parquet", index=False)
    means = metrics[metrics["policy"] == "sms_first"][["recovery_rate_30d", "recovery_rate_60d", "recovery_rate_90d"]]

    html = render_report(run_dir)

    recovery = leaderboard_row(html, "sms_first", "recovery-over-time-table")
    cells = re.findall(r'<td class="num">([^<]*)</td>', recovery)
    assert cells[:3] == [f"{value:.1%}" for value in means.mean()]
    assert "n/a" not in cells
    headings = section_text(html, "recovery-over-time")
    assert "30 days 60 days 90 days Whole horizon" in headings
    assert "180 days" not in headings


# -- scenarios ----------------------------------------------------------------------------------------------------


def test_scenario_breakdown_pools_scenarios(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path, scenarios=("baseline", "recession"))
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    rows = metrics[metrics["policy"] == "sms_first"]
    champion = metrics[metrics["policy"] == CHAMPION].set_index(["scenario", "seed"])["npv_net_collections"]
    wins = (rows.set_index(["scenario", "seed"])["npv_net_collections"] > champion).mean()
    per_scenario = [rows.loc[rows["scenario"] == name, "npv_net_collections"] for name in ("baseline", "recession")]
    # The scenarios share their seeds, so the pooled mean's interval is the Student-t interval of the per-seed
    # average over the scenarios.
    per_seed = rows.groupby("seed")["npv_net_collections"].mean()
    mean, low, high = mean_interval(per_seed.to_numpy())

    html = render_report(run_dir)

    row = leaderboard_row(html, "sms_first", "scenario-table")
    cells = re.findall(r'<td class="num">(.*?)</td>', row, re.DOTALL)
    assert cells[0] == f"{per_scenario[0].mean():,.0f}"
    assert cells[1] == f"{per_scenario[1].mean():,.0f}"
    assert cells[2].strip().startswith(f"{mean:,.0f}")
    assert f'<span class="interval">{low:,.0f} – {high:,.0f}</span>' in cells[2]
    # The pooled IQM trims seeds, not scenarios: it is the IQM of the per-seed averages.
    assert cells[3].strip().startswith(f"{scipy_stats.trim_mean(per_seed, 0.25):,.0f}")
    assert cells[4].strip().startswith(f"{wins:.1%}")
    assert "Scenarios in the run baseline, recession" in section_text(html, "assumptions")


def test_scenario_breakdown_iqm_of_three_seeds(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path, scenarios=("baseline", "recession"), seeds=(11, 12, 13))
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    per_seed = metrics[metrics["policy"] == "sms_first"].groupby("seed")["npv_net_collections"].mean()
    _, low, high = mean_interval(per_seed.to_numpy())

    html = render_report(run_dir)

    # Three seeds trim nothing, so the pooled IQM is the pooled mean with its Student-t interval, not a bootstrap.
    cells = re.findall(r'<td class="num">(.*?)</td>', leaderboard_row(html, "sms_first", "scenario-table"), re.DOTALL)
    assert f'<span class="interval">{low:,.0f} – {high:,.0f}</span>' in cells[3]
    note = section_text(html, "scenarios")
    assert "It and the probability of beating the champion have 95% percentile bootstrap" not in note
    assert "With fewer than 4 seeds the IQM trims nothing and is the pooled mean" in note


def test_assumptions_name_summary_intervals_exception(report_html: str) -> None:
    assumptions = section_text(report_html, "assumptions")

    assert "The executive summary's paired intervals are the exception" in assumptions


def test_duplicate_scenario_does_not_narrow_pooled_interval(tmp_path: Path) -> None:
    # A second scenario with the same results on the same seeds adds no evidence, so the pooled interval must
    # equal the one scenario's own interval.
    run_dir = write_run_dir(tmp_path, scenarios=("baseline",))
    _, low, high = mean_interval(npv_by_seed(run_dir, "sms_first").to_numpy())
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    copy = metrics.assign(scenario="baseline_copy")
    pd.concat([metrics, copy], ignore_index=True).to_parquet(run_dir / "metrics.parquet", index=False)
    daily = pd.read_parquet(run_dir / "daily.parquet")
    pd.concat([daily, daily.assign(scenario="baseline_copy")], ignore_index=True).to_parquet(
        run_dir / "daily.parquet", index=False
    )

    html = render_report(run_dir)

    row = leaderboard_row(html, "sms_first", "scenario-table")
    assert f'<span class="interval">{low:,.0f} – {high:,.0f}</span>' in row


def test_single_scenario_has_no_breakdown(report_html: str) -> None:
    assert 'id="scenarios"' not in report_html


# -- recovery versus cost with CLV ------------------------------------------------------------------------------


def test_efficient_frontier_by_hand() -> None:
    points = {
        "a": (0.02, 0.30),
        "b": (0.0, 0.25),
        "c": (0.0, 0.25),
        "d": (0.05, 0.28),
        "e": (0.06, 0.35),
        "f": (float("nan"), 0.50),
    }

    # c ties b and comes later. d costs more than a and recovers less. f has no cost.
    assert efficient_frontier(points) == ["b", "a", "e"]


def test_frontier_labels_state_clv_lost() -> None:
    summary = recovery_cost_summary(
        {CHAMPION: [0.30, 0.29, 0.31, 0.02, 0.019, 0.021], "sms_first": [0.33, 0.32, 0.34, 0.01, 0.009, 0.011]}
    )
    colours = {policy: "#2563eb" for policy in summary.index}

    figure = recovery_vs_cost_figure(summary, CHAMPION, colours, {CHAMPION: 90_000.0, "sms_first": 70_000.0})

    labels = sorted(text.get_text() for text in figure.axes[0].texts)
    assert labels == [f"{CHAMPION} (champion)\nCLV lost 90k", "sms_first\nCLV lost 70k"]


# -- PDF ----------------------------------------------------------------------------------------------------------


def test_pdf_needs_chromium(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(warnings, "formatwarning", warnings.formatwarning)
    run_dir = write_run_dir(tmp_path / "run")
    missing = tmp_path / "no_chromium"

    exit_code = cli_main(["report", str(run_dir), "--pdf", "--chromium", str(missing)])

    output = capsys.readouterr()
    assert exit_code == 2
    assert output.err.splitlines() == [
        f"arrears report: error: {missing}: --chromium: Chromium not found; install Debian's chromium package or pass "
        "its path"
    ]
    # The browser is checked before anything is written.
    assert not (run_dir / "report.html").exists()
    assert not (run_dir / "report.pdf").exists()


def test_interval_of_non_negative_metric_cut_at_zero(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path, seeds=(0, 1))
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    # Two seeds of 0 and 10 complaints: the Student-t interval of the mean, 5 ± 63.5, reaches far below 0.
    metrics.loc[metrics["policy"] == "sms_first", "complaints_per_1000"] = [0.0, 10.0]
    metrics.loc[metrics["policy"] == "sms_first", "npv_net_collections"] = [100_000.0, 1_500_000.0]
    metrics.to_parquet(run_dir / "metrics.parquet")

    row = leaderboard_row(render_report(run_dir), "sms_first")

    assert '<td class="num">5.00\n<span class="interval">0.00 – 68.53</span></td>' in row
    # NPV can be negative, so its interval is never cut.
    npv = metrics.loc[metrics["policy"] == "sms_first", "npv_net_collections"].to_numpy()
    low = npv.mean() - scipy_stats.t.ppf(0.975, 1) * npv.std(ddof=1) / np.sqrt(2)
    assert low < 0
    assert f'<span class="interval">{low:,.0f} – ' in row


def test_money_cards_name_the_currency(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config["economics"] = {"currency": "EUR"}
    rewrite_config(run_dir, config)

    html = render_report(run_dir)

    assert summary_card(html, "npv_net_collections").startswith("NPV of net collections (EUR) ")
    assert summary_card(html, "recovery_rate").startswith("Recovery rate ")
    assert "(EUR)" not in summary_card(html, "recovery_rate")


def test_each_scenario_names_its_currency(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path, scenarios=("baseline", "recession"))
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config["scenario_parameters"] = [
        {"name": "baseline", "currency": "USD", "economics": {"cost_of_capital": 0.08}},
        {"name": "recession", "currency": "EUR", "economics": {"cost_of_capital": 0.2}},
    ]
    rewrite_config(run_dir, config)

    html = render_report(run_dir)
    baseline_summary = section_text(html, "summary")
    recession_summary = section_text(html, "summary-2")
    assumptions = section_text(html, "assumptions")

    assert "USD" in baseline_summary
    assert "EUR" not in baseline_summary
    assert "EUR" in recession_summary
    assert "USD" not in recession_summary
    assert "Cost of capital baseline: 8.0% per year, recession: 20.0% per year" in assumptions
    assert "Currency baseline: USD, recession: EUR" in assumptions
    assert "different currencies (EUR, USD)" in section_text(html, "scenarios")


def test_one_currency_pools_without_caution(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path, scenarios=("baseline", "recession"))

    html = render_report(run_dir)

    assert "Mean NPV of net collections per scenario" in section_text(html, "scenarios")
    assert "different currencies" not in html


# -- what the summary claims about intervals and seeds --------------------------------------------------------------

TEN_SEEDS = tuple(range(1, 11))
# Per-seed NPV differences, sms_first minus the champion. Eight seeds lose 100 and two win, so the mean, -75, has a
# paired Student-t interval at 97.5% (three policies ran) of about -120 to -30, below zero, though sms_first beat the
# champion on 2 of 10 seeds.
MOSTLY_BELOW = (-100.0,) * 8 + (20.0, 30.0)


def write_npv_run(
    run_dir: Path,
    differences: Sequence[float],
    third: Sequence[float] | None = None,
    column: str = "npv",
    policies: Sequence[str] = POLICIES,
) -> Path:
    """Write a ten-seed run whose sms_first NPV is the champion's plus ``differences``, seed by seed.

    agency_early gets the champion's NPV plus ``third``, or 50,000 less than the champion when ``third`` is None,
    so it ranks last. With ``column="complaints"`` the differences go to complaints_per_1000 instead, and the NPVs
    keep sms_first first. ``policies`` without agency_early leaves it out of the run.
    """
    write_run_dir(run_dir, seeds=TEN_SEEDS, policies=policies)
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    champion = 1_000_000.0 + 10_000.0 * np.arange(len(TEN_SEEDS))
    third_differences = np.full(len(TEN_SEEDS), -50_000.0) if third is None else np.asarray(third)
    if column == "npv":
        values = {CHAMPION: champion, "sms_first": champion + differences, "agency_early": champion + third_differences}
        for policy in policies:
            metrics.loc[metrics["policy"] == policy, "npv_net_collections"] = values[policy]
    else:
        complaints = np.full(len(TEN_SEEDS), 2.0)
        metrics.loc[metrics["policy"] == CHAMPION, "complaints_per_1000"] = complaints
        metrics.loc[metrics["policy"] == "sms_first", "complaints_per_1000"] = complaints + differences
    metrics.to_parquet(run_dir / "metrics.parquet", index=False)
    return run_dir


# Per-seed differences whose paired Student-t interval lies above zero at 95% (about +1.5 to +24.5) but includes
# zero at 97.5% (about -0.6 to +26.6).
BORDERLINE_ABOVE = (30.0, 0.0, 25.0, 5.0, 40.0, -5.0, 15.0, 20.0, -10.0, 10.0)


def test_summary_three_policies_widen_intervals(tmp_path: Path) -> None:
    summary = section_text(render_report(write_npv_run(tmp_path, BORDERLINE_ABOVE)), "summary")

    assert "but the seeds cannot tell it from the champion: it returns 13 more than the champion" in summary
    assert "(97.5% interval -1 to +27, or" in summary
    assert (
        "The summary's intervals are 97.5% intervals, not 95%, because it picks among 3 policies: a claim that one "
        "beats another can be wrong in 2 ways, and the Bonferroni correction keeps the chance of any wrong claim "
        "about NPV under 5%." in summary
    )
    assert "is the best policy" not in summary


def test_summary_two_policies_keep_95(tmp_path: Path) -> None:
    run_dir = write_npv_run(tmp_path, BORDERLINE_ABOVE, policies=(CHAMPION, "sms_first"))

    summary = section_text(render_report(run_dir), "summary")

    assert "sms_first is the best policy" in summary
    assert "(95% interval +2 to +24, or" in summary
    assert "The whole interval lies above zero, so with 95% confidence sms_first returns more" in summary
    assert "Bonferroni" not in summary


def test_summary_interval_below_some_seeds_above(tmp_path: Path) -> None:
    summary = section_text(render_report(write_npv_run(tmp_path, MOSTLY_BELOW)), "summary")

    assert f"The champion, {CHAMPION}, remains the best policy" in summary
    assert (
        "The whole interval lies below zero, so with 97.5% confidence sms_first returns less than the champion on "
        "average over seeds, though not on every seed." in summary
    )
    assert "sms_first returned the higher NPV on 20.0% of the seeds, 2 of 10 (" in summary
    assert "consistent" not in summary
    assert "every one of" not in summary


def test_summary_interval_below_every_seed_below(tmp_path: Path) -> None:
    differences = [-100.0 - seed for seed in range(len(TEN_SEEDS))]

    summary = section_text(render_report(write_npv_run(tmp_path, differences)), "summary")

    assert (
        "The whole interval lies below zero, so with 97.5% confidence sms_first returns less than the champion on "
        "average over seeds, and it returned less on every one of the 10 simulated seeds." in summary
    )
    assert (
        "sms_first returned the higher NPV on 0.0% of the seeds, 0 of 10 (95% Clopper-Pearson interval 0.0% to 30.8%)."
        in summary
    )
    assert "not on every seed" not in summary


def test_summary_interval_above_some_seeds_below(tmp_path: Path) -> None:
    differences = [-value for value in MOSTLY_BELOW]

    summary = section_text(render_report(write_npv_run(tmp_path, differences)), "summary")

    assert summary.startswith("Executive summary sms_first is the best policy")
    assert (
        "The whole interval lies above zero, so with 97.5% confidence sms_first returns more than the champion on "
        "average over seeds, though not on every seed." in summary
    )
    assert "sms_first returned the higher NPV on 80.0% of the seeds, 8 of 10 (" in summary
    assert "consistent" not in summary


def test_summary_interval_above_every_seed_above(tmp_path: Path) -> None:
    differences = [100.0 + seed for seed in range(len(TEN_SEEDS))]

    summary = section_text(render_report(write_npv_run(tmp_path, differences)), "summary")

    assert (
        "The whole interval lies above zero, so with 97.5% confidence sms_first returns more than the champion on "
        "average over seeds, and it returned more on every one of the 10 simulated seeds." in summary
    )
    assert (
        "sms_first returned the higher NPV on 100.0% of the seeds, 10 of 10 (95% Clopper-Pearson interval 69.2% to "
        "100.0%)." in summary
    )


def test_summary_states_tied_seeds(tmp_path: Path) -> None:
    differences = (100.0,) * 7 + (0.0, 0.0, -10.0)

    summary = section_text(render_report(write_npv_run(tmp_path, differences)), "summary")

    # 7 wins and 2 ties of 10: (7 + 2 / 2) / 10.
    assert (
        "sms_first returned the higher NPV on 80.0% of the seeds: higher on 7 of 10 and equal on 2, each tie "
        "counting one half (" in summary
    )


def test_summary_undecided_champion_not_called_best(tmp_path: Path) -> None:
    # Mean -5, with seeds from -100 to +80, so the interval includes zero.
    differences = (-100.0, 80.0, -90.0, 70.0, -60.0, 50.0, -40.0, 30.0, -20.0, 30.0)

    summary = section_text(render_report(write_npv_run(tmp_path, differences)), "summary")

    assert summary.startswith(
        f"Executive summary The champion, {CHAMPION}, returns the highest mean net present value (NPV) of net "
        "collections, but the seeds cannot tell it from the best challenger. The best challenger, sms_first, returns"
    )
    assert "remains the best policy" not in summary
    assert "The interval includes zero" in summary


def test_summary_winner_tied_with_runner_up(tmp_path: Path) -> None:
    # Both challengers beat the champion by about 1,000 on every seed, and sms_first leads agency_early by a mean of
    # 10, with seeds from -100 to +120, so the seeds cannot tell the two apart.
    ahead = np.full(len(TEN_SEEDS), 1_000.0)
    noise = np.array([-100.0, 120.0, -90.0, 110.0, -80.0, 100.0, -70.0, 60.0, -30.0, 80.0])
    run_dir = write_npv_run(tmp_path, ahead + noise, third=ahead)

    summary = section_text(render_report(run_dir), "summary")

    assert summary.startswith(
        "Executive summary sms_first returns the highest mean net present value (NPV) of net collections, 1,010 "
        f"more than the champion, {CHAMPION}"
    )
    assert "is the best policy" not in summary
    assert (
        "The seeds cannot tell sms_first from agency_early: it returns 10 more on average, but the 97.5% "
        "interval of that difference, " in summary
    )
    assert "includes zero." in summary


def test_summary_winner_clear_of_runner_up(tmp_path: Path) -> None:
    ahead = 1_000.0 + np.arange(len(TEN_SEEDS))
    run_dir = write_npv_run(tmp_path, ahead + 500.0, third=ahead)

    summary = section_text(render_report(run_dir), "summary")

    assert summary.startswith("Executive summary sms_first is the best policy")
    assert "cannot tell sms_first from" not in summary


def test_winner_not_best_noisy_challenger(tmp_path: Path) -> None:
    # The challenger beats the champion by 500 on every seed, and so ranks first. agency_early has the lowest mean,
    # 300 below the champion, but swings by 2,000 either way, so the seeds cannot place it below the winner.
    ahead = np.full(len(TEN_SEEDS), 500.0) + np.arange(len(TEN_SEEDS))
    swings = np.array([-2_000.0, 2_000.0] * 5) - 300.0
    html = render_report(write_npv_run(tmp_path, ahead, third=swings))
    summary = section_text(html, "summary")

    assert "is the best policy" not in summary
    assert "The seeds cannot tell sms_first from agency_early: it returns" in summary
    assert badge(html, "sms_first") == "highest mean NPV"


def test_champion_not_best_noisy_challenger(tmp_path: Path) -> None:
    # sms_first, the best challenger, is below the champion on every seed; agency_early is lower on average but
    # swings either way.
    below = -500.0 - np.arange(len(TEN_SEEDS))
    swings = np.array([-2_000.0, 2_000.0] * 5) - 600.0
    html = render_report(write_npv_run(tmp_path, below, third=swings))
    summary = section_text(html, "summary")

    assert "remains the best policy" not in summary
    assert f"The champion, {CHAMPION}, returns the highest mean net present value (NPV) of net collections." in summary
    assert f"The seeds cannot tell {CHAMPION} from agency_early: it returns" in summary
    assert badge(html, CHAMPION) == "highest mean NPV"


def test_champion_best_when_every_challenger_is_below(tmp_path: Path) -> None:
    below = -500.0 - np.arange(len(TEN_SEEDS))
    html = render_report(write_npv_run(tmp_path, below, third=below - 100.0))

    assert f"The champion, {CHAMPION}, remains the best policy" in section_text(html, "summary")
    assert badge(html, CHAMPION) == "best NPV"


def test_summary_complaints_above_some_seeds_below(tmp_path: Path) -> None:
    run_dir = write_npv_run(tmp_path, (1.0,) * 8 + (-0.2, -0.1), column="complaints")

    summary = section_text(render_report(run_dir), "summary")

    assert "sms_first causes more complaints than the champion" in summary
    assert (
        "The 97.5% interval of the difference lies above zero, so with 97.5% confidence it draws more complaints on "
        "average over seeds, though not on every seed." in summary
    )
    assert "consistent" not in summary


def test_summary_complaints_above_every_seed_above(tmp_path: Path) -> None:
    run_dir = write_npv_run(tmp_path, 1.0 + 0.1 * np.arange(len(TEN_SEEDS)), column="complaints")

    summary = section_text(render_report(run_dir), "summary")

    assert (
        "The 97.5% interval of the difference lies above zero, so with 97.5% confidence it draws more complaints on "
        "average over seeds, and it drew more on every one of the 10 simulated seeds." in summary
    )


def test_summary_no_interval_winner_not_called_best(tmp_path: Path) -> None:
    summary = section_text(render_report(write_run_dir(tmp_path, seeds=(11,))), "summary")

    assert summary.startswith(
        "Executive summary sms_first returns the highest mean net present value (NPV) of net collections,"
    )
    assert "is the best policy" not in summary


def test_one_seed_live_test_is_a_guide(tmp_path: Path) -> None:
    summary = section_text(render_report(write_run_dir(tmp_path, seeds=(11,))), "summary")

    assert "A live champion/challenger test needs about" in summary
    assert "This size is only a guide: with one seed the simulated difference has no interval." in summary


# -- recovery-versus-cost chart bounds ------------------------------------------------------------------------------


def test_chart_points_cut_at_bounds() -> None:
    columns = pd.MultiIndex.from_product([["recovery_rate", "cost_to_collect"], ["mean", "low", "high"]])
    summary = pd.DataFrame(
        [[0.02, -0.05, 0.09, 0.01, -0.002, 0.022], [0.95, 0.85, 1.05, 0.0, 0.0, 0.0]],
        index=[CHAMPION, "sms_first"],
        columns=columns,
    )
    bounds = {"recovery_rate": (0.0, 1.0), "cost_to_collect": (0.0, None)}

    points = recovery_vs_cost_points(summary, bounds)

    assert points.loc[CHAMPION, "recovery_low"] == 0.0
    assert points.loc[CHAMPION, "recovery_high"] == 0.09
    assert points.loc[CHAMPION, "cost_low"] == 0.0
    assert points.loc["sms_first", "recovery_high"] == 1.0
    # Without bounds the intervals are drawn as computed.
    assert recovery_vs_cost_points(summary).loc[CHAMPION, "recovery_low"] == -0.05


def test_chart_bars_drawn_from_cut_points() -> None:
    columns = pd.MultiIndex.from_product([["recovery_rate", "cost_to_collect"], ["mean", "low", "high"]])
    summary = pd.DataFrame([[0.02, -0.05, 0.09, 0.01, 0.005, 0.015]], index=[CHAMPION], columns=columns)

    figure = recovery_vs_cost_figure(
        summary, CHAMPION, {CHAMPION: "#2563eb"}, bounds={"recovery_rate": (0.0, None), "cost_to_collect": (0.0, None)}
    )

    (container,) = figure.axes[0].containers
    _, _, (x_bars, y_bars) = container.lines
    (y_segment,) = y_bars.get_segments()
    assert y_segment[:, 1].min() == pytest.approx(0.0)
    assert y_segment[:, 1].max() == pytest.approx(0.09)


def test_report_chart_intervals_match_leaderboard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = write_run_dir(tmp_path, seeds=(0, 1))
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    # Two seeds recovering 1% and 20%: the Student-t interval of the mean, 10.5% ± 120.7%, reaches far below 0.
    metrics.loc[metrics["policy"] == "agency_early", "recovery_rate"] = [0.01, 0.20]
    # Two seeds curing 90% and 100% of accounts: the interval, 95% ± 63.5%, reaches far above 100%.
    metrics.loc[metrics["policy"] == "agency_early", "cure_rate"] = [0.90, 1.00]
    metrics.to_parquet(run_dir / "metrics.parquet", index=False)
    drawn: dict[str, pd.DataFrame] = {}

    def record_points(summary: pd.DataFrame, champion: str, colours: object, clv_lost: object, bounds: object) -> str:
        drawn["points"] = recovery_vs_cost_points(summary, bounds)
        return ""

    monkeypatch.setattr("experiments.report.plot_recovery_vs_cost", record_points)
    row = leaderboard_row(render_report(run_dir), "agency_early")

    assert '<td class="num">10.5%\n<span class="interval">0.0% – ' in row
    assert drawn["points"].loc["agency_early", "recovery_low"] == 0.0
    assert drawn["points"].loc["agency_early", "cost_low"] >= 0.0
    assert '<td class="num">95.0%\n<span class="interval">31.5% – 100.0%</span></td>' in row


def test_runner_up_name_is_escaped(tmp_path: Path) -> None:
    runner_up = "<script>alert(3)</script>"
    ahead = np.full(len(TEN_SEEDS), 1_000.0)
    noise = np.array([-100.0, 120.0, -90.0, 110.0, -80.0, 100.0, -70.0, 60.0, -30.0, 80.0])
    run_dir = write_npv_run(tmp_path, ahead + noise, third=ahead)
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    metrics["policy"] = metrics["policy"].replace("agency_early", runner_up)
    metrics.to_parquet(run_dir / "metrics.parquet", index=False)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config["policies"] = [runner_up if policy == "agency_early" else policy for policy in config["policies"]]
    rewrite_config(run_dir, config)

    html = render_report(run_dir)

    assert "<script" not in html
    assert f"The seeds cannot tell sms_first from {runner_up}:" in section_text(html, "summary")


# -- exact ties, one account per simulation, and the leaderboard's badge --------------------------------------------


def badge(html: str, policy: str) -> str | None:
    """Return the text of the ranking badge in a policy's leaderboard row, or None when the row has none."""
    found = re.search(r'<span class="badge winner"[^>]*>([^<]*)</span>', leaderboard_row(html, policy))
    return found.group(1) if found else None


def test_summary_exact_tie_with_champion(tmp_path: Path) -> None:
    html = render_report(write_npv_run(tmp_path, np.zeros(len(TEN_SEEDS))))
    summary = section_text(html, "summary")

    assert summary.startswith(
        f"Executive summary The champion, {CHAMPION}, and the best challenger, sms_first, returned the same net "
        "present value (NPV) of net collections on every one of the 10 simulated seeds, so neither ranks above the "
        "other."
    )
    assert (
        "The two policies returned the same NPV on each of the 10 seeds, so the difference is exactly zero rather "
        "than uncertain, and more seeds are not the remedy." in summary
    )
    assert "highest mean" not in summary
    assert "run more seeds" not in summary
    assert "cannot tell" not in summary.split("Each card shows")[0]
    assert badge(html, CHAMPION) == "tied for highest NPV"
    assert badge(html, "sms_first") == "tied for highest NPV"
    assert badge(html, "agency_early") is None


def test_leaderboard_exact_tie_has_no_interval(tmp_path: Path) -> None:
    html = render_report(write_npv_run(tmp_path, np.zeros(len(TEN_SEEDS))))

    tied_row = leaderboard_row(html, "sms_first")
    assert '<td class="num" data-stat="probability">tied on every seed</td>' in tied_row
    losing_row = leaderboard_row(html, "agency_early")
    assert "tied on every seed" not in losing_row
    assert re.search(r"<td class=\"num\">0\.0%\s*<span class=\"interval\">", losing_row)


@pytest.mark.parametrize(
    ("accounts", "text"),
    [(999, "999"), (1_000, "1,000"), (1_001, "1,010"), (192_463, "193,000"), (1_225_000, "1,230,000")],
)
def test_live_test_sizes_round_up(accounts: int, text: str) -> None:
    from experiments.report import format_approx_accounts

    assert format_approx_accounts(accounts) == text


@pytest.mark.parametrize(
    ("challenger", "champion", "share", "text"),
    [(745_922, 745_922, 0.5, "1,492,000"), (723, 6_507, 0.1, "7,230"), (1_001, 9_009, 0.1, "10,100")],
)
def test_live_test_total_adds_up_its_arms(challenger: int, champion: int, share: float, text: str) -> None:
    from experiments.report import format_approx_total
    from experiments.stats import LiveTestSize

    # Rounding the even split's unrounded total, 1,491,844, on its own would give 1,500,000 for arms of 746,000.
    assert format_approx_total(LiveTestSize(challenger=challenger, champion=champion), share) == text


def test_summary_exact_tie_challenger_listed_first(tmp_path: Path) -> None:
    run_dir = write_npv_run(tmp_path, np.zeros(len(TEN_SEEDS)))
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config["policies"] = ["sms_first", CHAMPION, "agency_early"]
    rewrite_config(run_dir, config)

    html = render_report(run_dir)
    summary = section_text(html, "summary")

    assert summary.startswith(
        f"Executive summary sms_first and the champion, {CHAMPION}, returned the same net present value (NPV) of net "
        "collections on every one of the 10 simulated seeds, so neither ranks above the other."
    )
    assert "highest mean" not in summary
    assert "more than the champion" not in summary
    assert badge(html, "sms_first") == "tied for highest NPV"
    assert badge(html, CHAMPION) == "tied for highest NPV"


def test_summary_exact_tie_with_runner_up(tmp_path: Path) -> None:
    ahead = 1_000.0 + np.arange(len(TEN_SEEDS))
    html = render_report(write_npv_run(tmp_path, ahead, third=ahead))
    summary = section_text(html, "summary")

    assert (
        "sms_first returned the same NPV as agency_early on every one of the 10 simulated seeds, so "
        "neither ranks above the other." in summary
    )
    assert "is the best policy" not in summary
    assert "includes zero" not in summary.split("Customer impact")[0]
    assert badge(html, "sms_first") == "tied for highest NPV"
    assert badge(html, "agency_early") == "tied for highest NPV"
    assert badge(html, CHAMPION) is None


def test_summary_one_account_explains_live_test(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path)
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    # One account per simulation, as sim.metrics writes it: the per-account standard deviation is NaN.
    metrics["n_accounts"] = 1
    metrics["npv_net_collections_per_account_sd"] = np.nan
    metrics.to_parquet(run_dir / "metrics.parquet", index=False)

    html = render_report(run_dir)
    summary = section_text(html, "summary")

    gain = (npv_by_seed(run_dir, "sms_first") - npv_by_seed(run_dir, CHAMPION)).mean()
    assert f"or {gain:+,.2f} per account" in summary
    assert (
        "No live test size can be given: each simulation had one account, and the spread of NPV across accounts, "
        "which sizes a live test, cannot be computed from one account." in summary
    )
    assert "the same under both policies" not in summary
    assert 'data-stat="live-test">n/a</td>' in leaderboard_row(html, "sms_first")
    assert "no difference" not in leaderboard_row(html, "sms_first")


def test_metric_missing_on_every_seed_warns_nothing(tmp_path: Path) -> None:
    # A run that collects nothing has no cost to collect on any seed: its card shows n/a, with no numpy warning.
    run_dir = write_run_dir(tmp_path)
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    metrics["cost_to_collect"] = np.nan
    metrics.to_parquet(run_dir / "metrics.parquet", index=False)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        html = render_report(run_dir)

    assert 'id="summary"' in html


def test_leaderboard_badge_best_when_confirmed(run_dir: Path, report_html: str) -> None:
    assert section_text(report_html, "summary").startswith("Executive summary sms_first is the best policy")
    assert badge(report_html, "sms_first") == "best NPV"
    assert badge(report_html, CHAMPION) is None


def test_leaderboard_badge_undecided_winner(tmp_path: Path) -> None:
    # A mean lead whose interval from the champion includes zero, as the summary states.
    differences = (100.0, -80.0, 90.0, -70.0, 60.0, -50.0, 40.0, -30.0, 20.0, -30.0)
    html = render_report(write_npv_run(tmp_path, differences))

    assert "but the seeds cannot tell it from the champion" in section_text(html, "summary")
    assert badge(html, "sms_first") == "highest mean NPV"


def test_leaderboard_badge_undecided_runner_up(tmp_path: Path) -> None:
    ahead = np.full(len(TEN_SEEDS), 1_000.0)
    noise = np.array([-100.0, 120.0, -90.0, 110.0, -80.0, 100.0, -70.0, 60.0, -30.0, 80.0])
    html = render_report(write_npv_run(tmp_path, ahead + noise, third=ahead))

    assert "The seeds cannot tell sms_first from agency_early" in section_text(html, "summary")
    assert badge(html, "sms_first") == "highest mean NPV"
    assert badge(html, "agency_early") is None


def test_leaderboard_badge_champion_best(tmp_path: Path) -> None:
    html = render_report(write_npv_run(tmp_path, MOSTLY_BELOW))

    assert f"The champion, {CHAMPION}, remains the best policy" in section_text(html, "summary")
    assert badge(html, CHAMPION) == "best NPV"


def test_leaderboard_badge_single_seed(tmp_path: Path) -> None:
    html = render_report(write_run_dir(tmp_path, seeds=(11,)))

    assert badge(html, "sms_first") == "highest mean NPV"
