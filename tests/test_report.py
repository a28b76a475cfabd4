"""Tests for the HTML run report, on small synthetic run directories written with pandas and pyarrow."""

from __future__ import annotations

import base64
import html as html_lib
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from experiments.report import (
    format_money,
    format_percent,
    format_points,
    render_report,
    write_report,
)
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
) -> Path:
    """Write config.yaml, metrics.parquet, daily.parquet and manifest.json for a synthetic run.

    ``levels`` maps each policy name to the POLICIES entry whose numbers it takes from the level tables
    above. By default the i-th policy takes the numbers of the i-th entry. Each seed draws one portfolio
    effect that all policies share, as under common random numbers, and each policy adds a small noise.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    levels = levels or {policy: POLICIES[index % len(POLICIES)] for index, policy in enumerate(policies)}
    metrics_rows = []
    daily_rows = []
    for scenario_index, scenario in enumerate(scenarios):
        for seed in seeds:
            portfolio = np.random.default_rng(seed)
            opening_balance = N_ACCOUNTS * 2_500.0 * (1 + 0.05 * portfolio.normal())
            shared_recovery_shock = 0.01 * portfolio.normal()
            daily_shape = portfolio.dirichlet(np.full(DAYS, 4.0))
            for policy_index, policy in enumerate(policies):
                level = levels[policy]
                noise = np.random.default_rng([seed, policy_index, scenario_index])
                recovery_rate = RECOVERY[level] + shared_recovery_shock + 0.002 * noise.normal() - 0.02 * scenario_index
                collected = opening_balance * recovery_rate
                contact_cost = collected * CONTACT_COST_SHARE[level]
                agency_commission = collected * COMMISSION_SHARE[level]
                total_cost = contact_cost + agency_commission
                net_collections = collected - total_cost
                clv_lost = CLV_LOST[level] * (1 + 0.03 * noise.normal())
                metrics_rows.append(
                    {
                        "scenario": scenario,
                        "policy": policy,
                        "seed": seed,
                        "n_accounts": N_ACCOUNTS,
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
                        "clv_retained": 400_000.0 - clv_lost,
                        "clv_lost": clv_lost,
                        "attrition_rate": clv_lost / 1_000_000.0,
                        "contacts_per_account": CONTACTS[level] * (1 + 0.02 * noise.normal()),
                        "rpc_per_account": CONTACTS[level] * 0.3,
                        "cure_rate": CURE[level] + 0.01 * noise.normal(),
                        "charge_off_rate": 0.05,
                        "calls_unplaced": 0,
                    }
                )
                for day in range(DAYS):
                    daily_rows.append(
                        {
                            "scenario": scenario,
                            "policy": policy,
                            "seed": seed,
                            "day": day,
                            "collected": collected * daily_shape[day],
                            "cost": total_cost / DAYS,
                            "accounts_current": 0,
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
            "config_sha256": "f" * 64,
            "started_at": "2025-01-01T10:00:00+00:00",
            "finished_at": "2025-01-01T10:01:00+00:00",
            "elapsed_seconds": 60.0,
            "cells": [],
        }
        (run_dir / "manifest.json").write_text(json.dumps(manifest_data), encoding="utf-8")
    return run_dir


def section_text(html: str, section_id: str) -> str:
    """Return the visible text of one <section>, with tags removed, entities decoded and spaces collapsed."""
    match = re.search(rf'<section id="{section_id}"[^>]*>(.*?)</section>', html, re.DOTALL)
    assert match, f"no section with id {section_id!r} in the report"
    block_tags = r"</?(?:h\d|p|div|table|tr|th|td|dl|dt|dd|br|figure|figcaption)\b[^>]*>"
    text = re.sub(block_tags, " ", match.group(1))
    text = re.sub(r"<[^>]+>", "", text)
    return " ".join(html_lib.unescape(text).split())


def leaderboard_rows(html: str, table_id: str = "leaderboard") -> list[tuple[str, str]]:
    """Return (class attribute, policy name) for each body row of a leaderboard table, in page order."""
    match = re.search(rf'<table id="{table_id}"[^>]*>.*?<tbody>(.*?)</tbody>', html, re.DOTALL)
    assert match, f"no table with id {table_id!r} in the report"
    rows = re.findall(r'<tr class="([^"]*)" data-policy="([^"]*)">', match.group(1))
    return [(css_class, html_lib.unescape(policy)) for css_class, policy in rows]


def npv_by_seed(run_dir: Path, policy: str) -> pd.Series:
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    rows = metrics[metrics["policy"] == policy]
    return rows.set_index("seed")["npv_net_collections"]


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
    assert f"{gain:+,.0f} more than the champion, {CHAMPION}" in summary
    assert f"{gain / N_ACCOUNTS:+,.2f} per account" in summary


def test_summary_gain_interval_brackets_gain(run_dir: Path, report_html: str) -> None:
    gain = (npv_by_seed(run_dir, "sms_first") - npv_by_seed(run_dir, CHAMPION)).mean()
    summary = section_text(report_html, "summary")

    match = re.search(r"95% interval ([+-][\d,]+) to ([+-][\d,]+)", summary)
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
    assert len(cells) == 6
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

    assert len(images) == 2
    for encoded, alt in images:
        assert base64.b64decode(encoded).startswith(b"\x89PNG\r\n\x1a\n")
        assert len(alt) > 40


def test_assumptions_and_footer(report_html: str) -> None:
    assumptions = section_text(report_html, "assumptions")
    footer = re.search(r"<footer>(.*?)</footer>", report_html, re.DOTALL)
    assert footer

    assert "Scenario baseline" in assumptions
    assert "Accounts per simulation 1,000" in assumptions
    assert f"Horizon {DAYS} days" in assumptions
    assert "Seeds 5 (11, 12, 13, 14, 15)" in assumptions
    assert "Cost of capital 8.0% per year" in assumptions
    assert "0123456789abcdef0123456789abcdef01234567" in footer.group(1)
    assert "f" * 64 in footer.group(1)
    assert "numpy 2.1.0, pandas 2.2.3" in footer.group(1)
    assert "3.11.9" in footer.group(1)


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
    assert f"The best challenger, {challenger}, returns {difference:+,.0f} against the champion" in summary
    assert "The whole interval lies below zero" in summary


def test_one_table_per_scenario(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path, scenarios=("baseline", "recession"))

    html = render_report(run_dir)

    assert len(leaderboard_rows(html, "leaderboard")) == len(POLICIES)
    assert len(leaderboard_rows(html, "leaderboard-2")) == len(POLICIES)
    assert "Scenario: recession" in html
    assert html.count("data:image/png;base64,") == 4


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
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))

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
