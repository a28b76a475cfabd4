"""Render a run directory into one self-contained HTML report that opens offline.

The report compares the policies of a run against the champion: executive summary, leaderboard, charts, bucket
flows, segment and scenario breakdowns, customer impact and compliance, assumptions and a reproducibility footer.
Charts (:mod:`experiments.report_charts`) are PNG images embedded as data URLs.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jinja2
import markupsafe
import numpy as np
import pandas as pd
import pyarrow as pa

from experiments.config import json_sha256
from experiments.report_charts import (
    plot_bucket_flows,
    plot_cumulative_cash,
    plot_recovery_vs_cost,
    policy_colours,
    recovery_vs_cost_figure,
)
from experiments.stats import (
    DEFAULT_RESAMPLES,
    IntervalMethod,
    LiveTestSize,
    bound_interval,
    count_seeds,
    live_test_size,
    mean_interval,
    paired_difference,
    probability_of_improvement,
    summarise,
)
from sim.atomic import atomic_write_bytes, atomic_write_text
from sim.errors import ConfigError, parse_json, short_repr
from sim.scenario import load_yaml_mapping

__all__ = ["PdfError", "recovery_vs_cost_figure", "render_report", "write_pdf", "write_report"]

REPORT_FILE = "report.html"
PDF_FILE = "report.pdf"
#: Chromium used to print the PDF: Debian's package. The report never downloads a browser.
CHROMIUM = Path("/usr/bin/chromium")
# A headless Chromium with no sandbox (containers often lack the namespaces it needs), no GPU, and none of the
# background traffic, updates or first-run pages that would reach the network.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)
CONFIDENCE = 0.95

# The headline interval of a mean is Student-t, because a run has few seeds, and with 3 to 10 seeds a bootstrap
# interval covers the true mean far less often than its nominal level (see experiments.stats). The IQM and the
# probability of improvement pooled over scenarios have no closed-form interval, so they get the percentile bootstrap.
INTERVAL_METHOD: IntervalMethod = "t"
INTERVAL_NAMES: dict[str, str] = {"t": "Student-t", "BCa": "BCa bootstrap", "percentile": "percentile bootstrap"}

REQUIRED_CONFIG_KEYS = ("name", "scenario", "policies", "champion", "seeds")
REQUIRED_METRICS_COLUMNS = (
    "scenario",
    "policy",
    "seed",
    "n_accounts",
    "recovery_rate",
    "cost_to_collect",
    "npv_net_collections",
    "clv_lost",
    "contacts_per_account",
    "cure_rate",
)
REQUIRED_DAILY_COLUMNS = ("scenario", "policy", "seed", "day", "collected", "cost")

# Columns that must hold numbers when present, so a column of text fails at loading with its name and not
# later with a pandas traceback. Columns absent from older runs, such as sale_proceeds, are checked if present.
NUMERIC_METRICS_COLUMNS = (
    "seed",
    "n_accounts",
    "horizon_days",
    "recovery_rate",
    "cost_to_collect",
    "npv_net_collections",
    "clv_lost",
    "contacts_per_account",
    "cure_rate",
    "complaints_per_1000",
    "stop_contact_rate",
    "npv_net_collections_per_account_sd",
)
NUMERIC_DAILY_COLUMNS = ("seed", "day", "collected", "cost", "sale_proceeds")


MetricKind = Literal["percent", "money", "money_small", "decimal", "count"]


@dataclass(frozen=True)
class Metric:
    """A report column: the metrics.parquet column, its heading and how its values are formatted."""

    column: str
    label: str
    kind: MetricKind
    higher_is_better: bool | None
    #: The smallest value the metric can take, where one exists: a Student-t interval of its mean is cut there,
    #: because with few seeds it can reach below (complaints below 0 per 1,000 accounts, say).
    floor: float | None = None
    #: The largest value the metric can take, where one exists, such as 1 for a share of accounts. The interval's
    #: upper bound is cut there.
    ceiling: float | None = None


# Leaderboard columns in display order. complaints_per_1000 and stop_contact_rate are missing from runs written
# before complaints were modelled, so a column absent from metrics.parquet is left out of the report. The recovery
# rate has no ceiling, because payments also cover the interest and fees added during the run and can exceed the
# opening balance (docs/metrics.md).
LEADERBOARD: tuple[Metric, ...] = (
    Metric("recovery_rate", "Recovery rate", "percent", higher_is_better=True, floor=0.0),
    Metric("cost_to_collect", "Cost to collect", "percent", higher_is_better=False, floor=0.0),
    Metric("npv_net_collections", "NPV of net collections", "money", higher_is_better=True),
    Metric("clv_lost", "CLV lost", "money", higher_is_better=False, floor=0.0),
    Metric("complaints_per_1000", "Complaints per 1,000 accounts", "decimal", higher_is_better=False, floor=0.0),
    Metric("stop_contact_rate", "Asked to stop contact", "percent", higher_is_better=False, floor=0.0, ceiling=1.0),
    Metric("contacts_per_account", "Contacts per account", "decimal", higher_is_better=False, floor=0.0),
    Metric("cure_rate", "Cure rate", "percent", higher_is_better=True, floor=0.0, ceiling=1.0),
)

#: The metric that ranks the policies; the leaderboard adds its IQM and the probability of beating the champion.
RANKING_METRIC = "npv_net_collections"
#: Per-account standard deviation of the ranking metric, which sizes a live test; absent from older runs.
PER_ACCOUNT_SD = "npv_net_collections_per_account_sd"
LIVE_TEST_POWER = 0.8
LIVE_TEST_SIGNIFICANCE = 0.05
#: Challenger shares of the live tests the report sizes: an even split, and 10% of accounts on the challenger.
EVEN_SPLIT = 0.5
SMALL_CHALLENGER_SHARE = 0.1

# Metrics compared between the winner and the champion in the executive summary's two rows of cards.
COLLECTION_COMPARISONS = ("npv_net_collections", "recovery_rate", "cost_to_collect")
CUSTOMER_IMPACT_COMPARISONS = ("clv_lost", "complaints_per_1000", "stop_contact_rate")


@dataclass(frozen=True)
class DetailTable:
    """A table of per-policy means over seeds below the charts: its HTML id, heading, caption and columns."""

    key: str
    title: str
    caption: str
    metrics: tuple[Metric, ...]


# Each table shows the columns that metrics.parquet has. A table with no column beyond the leaderboard's is left out.
DETAIL_TABLES: tuple[DetailTable, ...] = (
    DetailTable(
        "recovery-over-time",
        "Recovery over time",
        "Cash collected plus debt-sale proceeds up to each day, divided by the opening balance. Days at or beyond "
        "the run's horizon are left out.",
        (
            Metric("recovery_rate_30d", "30 days", "percent", higher_is_better=True),
            Metric("recovery_rate_60d", "60 days", "percent", higher_is_better=True),
            Metric("recovery_rate_90d", "90 days", "percent", higher_is_better=True),
            Metric("recovery_rate_180d", "180 days", "percent", higher_is_better=True),
            Metric("recovery_rate", "Whole horizon", "percent", higher_is_better=True),
        ),
    ),
    DetailTable(
        "operations",
        "Operations",
        "Roll rate: share of statements at which a delinquent account fell one more cycle behind or was charged "
        "off. Agent utilisation: agent minutes spent on calls divided by agent minutes staffed. DSO: days a unit "
        "of the opening balance stayed outstanding.",
        (
            Metric("roll_rate", "Roll rate", "percent", higher_is_better=False),
            Metric("cure_rate", "Cure rate", "percent", higher_is_better=True),
            Metric("rpc_per_account", "Right-party contacts per account", "decimal", higher_is_better=None),
            Metric("ptp_per_rpc", "Promises per conversation", "percent", higher_is_better=True),
            Metric("promise_kept_rate", "Promises kept", "percent", higher_is_better=True),
            Metric("agent_utilisation", "Agent utilisation", "percent", higher_is_better=None),
            Metric("charge_off_rate", "Written off", "percent", higher_is_better=False),
            Metric("sale_rate", "Sold", "percent", higher_is_better=None),
            Metric("days_sales_outstanding", "DSO (days)", "decimal", higher_is_better=False),
        ),
    ),
    DetailTable(
        "customer-impact",
        "Customer impact",
        "CLV retained: lifetime value of customers in good standing at the end who did not leave. CLV lost: "
        "lifetime value of customers who closed their account on curing, at a base rate that contacts raise.",
        (
            Metric("clv_retained", "CLV retained", "money", higher_is_better=True),
            Metric("clv_lost", "CLV lost", "money", higher_is_better=False),
            Metric("attrition_rate", "Attrition", "percent", higher_is_better=False),
            Metric("complaints_per_1000", "Complaints per 1,000 accounts", "decimal", higher_is_better=False),
            Metric("stop_contact_rate", "Asked to stop contact", "percent", higher_is_better=False),
            Metric("dispute_rate", "Disputed", "percent", higher_is_better=False),
            Metric("hardship_disclosed_rate", "Disclosed hardship", "percent", higher_is_better=None),
        ),
    ),
    DetailTable(
        "compliance",
        "Compliance",
        "Actions the compliance guard blocked per run, by the first rule that blocked them, and calls that no "
        "agent was free to dial. A blocked action costs nothing, but the policy loses that account's action for "
        "the day.",
        (
            Metric("blocked_breathing_space", "Hardship hold or breathing space", "count", higher_is_better=False),
            Metric("blocked_dispute", "Dispute under review", "count", higher_is_better=False),
            Metric("blocked_stop_contact", "Asked to stop contact", "count", higher_is_better=False),
            Metric("blocked_call_cap_7_days", "7 calls in 7 days", "count", higher_is_better=False),
            Metric("blocked_call_after_conversation", "Call within 7 days of a conversation", "count", False),
            Metric("blocked_settlement_cap", "Settlement above the cap", "count", higher_is_better=False),
            Metric("calls_unplaced", "Calls unplaced", "count", higher_is_better=False),
        ),
    ),
)


@dataclass(frozen=True)
class RunData:
    """The files of one run directory, loaded."""

    config: dict[str, Any]
    metrics: pd.DataFrame
    daily: pd.DataFrame
    manifest: dict[str, Any] | None
    #: Whether config.yaml no longer hashes to the ``config_sha256`` that manifest.json recorded.
    config_edited: bool = False


# -- public API -------------------------------------------------------------------------------------------


def render_report(run_dir: str | Path) -> str:
    """Build the HTML report for a run directory and return it as a string.

    Raises ConfigError when a file is missing, unreadable or malformed, naming the file and the key or column,
    including when the champion and a challenger do not share the same seeds or daily.parquet lacks days.
    """
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    try:
        context = build_context(run)
    except ConfigError as error:
        # The checks made while building name the run's table alone; the message names the file in its folder.
        if error.source in ("metrics.parquet", "daily.parquet"):
            raise ConfigError(str(run_dir / error.source), error.key_path, error.message) from None
        raise
    return _environment().get_template("report.html").render(**context)


def write_report(run_dir: str | Path) -> Path:
    """Render the report for ``run_dir`` and write it atomically to ``run_dir/report.html``; return the path."""
    run_dir = Path(run_dir)
    html = render_report(run_dir)
    return atomic_write_text(run_dir / REPORT_FILE, html)


class PdfError(RuntimeError):
    """Printing the report to PDF failed: Playwright or Chromium is missing, or Chromium failed."""


def check_browser_starts(chromium: Path) -> None:
    """Start the browser at ``chromium`` headless and close it; raise ConfigError naming ``--chromium`` if it does
    not start. Does nothing without the playwright package."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ModuleNotFoundError:
        return
    with sync_playwright() as playwright:
        try:
            playwright.chromium.launch(executable_path=str(chromium), args=list(CHROMIUM_ARGS)).close()
        except PlaywrightError as exc:
            raise _not_a_browser(chromium, exc) from None


def _not_a_browser(chromium: Path, exc: Exception) -> ConfigError:
    return ConfigError(
        str(chromium),
        "--chromium",
        f"failed to start as a headless browser ({_short_reason(exc)}); pass the path of a Chromium or Chrome "
        "executable",
    )


def write_pdf(run_dir: str | Path, chromium: str | Path = CHROMIUM) -> Path:
    """Print ``run_dir/report.html`` to ``run_dir/report.pdf`` with headless Chromium, and return the PDF's path.

    Uses Playwright's Chromium driver on the browser at ``chromium``, A4 landscape so the leaderboard fits across a
    page, with the report's own print styles. Write the HTML first with :func:`write_report`. Raises ConfigError
    when report.html or the browser is missing or the browser does not start, and PdfError when the playwright
    package is missing or the browser fails to print.
    """
    run_dir = Path(run_dir)
    chromium = Path(chromium)
    html_path = run_dir / REPORT_FILE
    if not html_path.is_file():
        raise ConfigError(str(html_path), "", "file not found; write the HTML report before the PDF")
    if not chromium.is_file():
        raise ConfigError(
            str(chromium), "--chromium", "Chromium not found; install Debian's chromium package or pass its path"
        )
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ModuleNotFoundError:
        raise PdfError("PDF output needs the playwright package; install it with 'pip install playwright'") from None

    try:
        with sync_playwright() as playwright:
            try:
                browser = playwright.chromium.launch(executable_path=str(chromium), args=list(CHROMIUM_ARGS))
            except PlaywrightError as exc:
                raise _not_a_browser(chromium, exc) from None
            try:
                page = browser.new_page()
                page.goto(html_path.resolve().as_uri(), wait_until="load")
                pdf = page.pdf(format="A4", landscape=True, print_background=True, margin=PDF_MARGINS)
            finally:
                browser.close()
    except PlaywrightError as exc:
        raise PdfError(f"{chromium} failed to print {html_path}: {_short_reason(exc)}") from None
    return atomic_write_bytes(run_dir / PDF_FILE, pdf)


PDF_MARGINS = {"top": "12mm", "bottom": "12mm", "left": "10mm", "right": "10mm"}


# -- loading ----------------------------------------------------------------------------------------------


def load_run(run_dir: Path) -> RunData:
    """Read config.yaml, metrics.parquet, daily.parquet and manifest.json, checking the keys the report uses."""
    if not run_dir.is_dir():
        raise ConfigError(str(run_dir), "", "run directory not found; pass the folder that `arrears run` wrote")

    config_path = run_dir / "config.yaml"
    config = load_yaml_mapping(config_path)
    missing_keys = [key for key in REQUIRED_CONFIG_KEYS if key not in config]
    if missing_keys:
        raise ConfigError(
            str(config_path), missing_keys[0], "missing key; the report needs " + ", ".join(REQUIRED_CONFIG_KEYS)
        )

    metrics = _read_parquet(run_dir / "metrics.parquet", REQUIRED_METRICS_COLUMNS, NUMERIC_METRICS_COLUMNS)
    daily = _read_parquet(run_dir / "daily.parquet", REQUIRED_DAILY_COLUMNS, NUMERIC_DAILY_COLUMNS)
    _check_daily_days(daily, metrics, run_dir / "daily.parquet")

    champion = str(config["champion"])
    if champion not in set(metrics["policy"]):
        found = ", ".join(map(str, pd.unique(metrics["policy"])))
        raise ConfigError(
            str(config_path), "champion", f"{champion!r} has no rows in metrics.parquet; policies found: {found}"
        )

    manifest = _read_manifest(run_dir)
    recorded_sha = (manifest or {}).get("config_sha256")
    config_edited = recorded_sha is not None and recorded_sha != json_sha256(config)
    if config_edited:
        warnings.warn(
            f"{config_path} was edited after the run: it no longer matches the config_sha256 in manifest.json, so "
            "the report's settings may not be those that produced its results",
            stacklevel=2,
        )
    return RunData(config=config, metrics=metrics, daily=daily, manifest=manifest, config_edited=config_edited)


def _read_manifest(run_dir: Path) -> dict[str, Any] | None:
    """Read manifest.json, or warn and return None when it is missing, so the footer shows "not recorded"."""
    manifest_path = run_dir / "manifest.json"
    if not manifest_path.exists():
        # The CLI prints warnings as one line, so the message carries the whole fact without a source line.
        warnings.warn(
            f"manifest.json not found in {run_dir}, so the report's footer shows versions and timings as not recorded",
            UserWarning,
            stacklevel=3,
        )
        return None
    try:
        manifest = parse_json(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(str(manifest_path), "", f"invalid JSON at line {exc.lineno}, column {exc.colno}") from None
    except UnicodeDecodeError:
        raise ConfigError(str(manifest_path), "", "invalid JSON: the file is not UTF-8 text") from None
    except ValueError as exc:  # nested too deeply
        raise ConfigError(str(manifest_path), "", str(exc)) from None
    if not isinstance(manifest, dict):
        raise ConfigError(str(manifest_path), "", f"expected a JSON object, got {type(manifest).__name__}")
    _check_manifest_fields(manifest, str(manifest_path))
    return manifest


#: The manifest's fields that the report's footer shows, with the JSON types each may take (null for any of them).
_FOOTER_FIELDS: dict[str, tuple[type, ...]] = {
    "arrears_version": (str,),
    "git_commit": (str,),
    "git_modified": (bool,),
    "config_sha256": (str,),
    "seeds": (list,),
    "python": (str,),
    "packages": (dict,),
    "started_at": (str,),
    "finished_at": (str,),
    "elapsed_seconds": (int, float),
}
_JSON_TYPE_NAMES = {str: "a string", bool: "true or false", list: "a list", dict: "an object", int: "a number"}


def _check_manifest_fields(manifest: dict[str, Any], source: str) -> None:
    """Raise :class:`ConfigError` for a footer field of the wrong type, and warn about missing footer fields."""
    for key, types in _FOOTER_FIELDS.items():
        value = manifest.get(key)
        # bool is an int in Python, but JSON's true is not a number of seconds.
        if value is None or (isinstance(value, types) and not (isinstance(value, bool) and bool not in types)):
            continue
        raise ConfigError(source, key, f"expected {_JSON_TYPE_NAMES[types[0]]} or null, got {short_repr(value)}")
    if not all(isinstance(seed, int) and not isinstance(seed, bool) for seed in manifest.get("seeds") or []):
        raise ConfigError(source, "seeds", f"expected a list of whole numbers, got {short_repr(manifest['seeds'])}")
    for name, version in (manifest.get("packages") or {}).items():
        if version is not None and not isinstance(version, str):
            raise ConfigError(
                source, f"packages.{name}", f"expected a version string or null, got {short_repr(version)}"
            )
    # Runs written before git_modified was recorded lack it, and the footer then shows nothing in its place.
    missing = [key for key in _FOOTER_FIELDS if key not in manifest and key != "git_modified"]
    if missing:
        pronoun = "it" if len(missing) == 1 else "them"
        warnings.warn(
            f"{source} lacks {', '.join(missing)}, so the report's footer shows {pronoun} as not recorded",
            UserWarning,
            stacklevel=4,
        )


def _read_parquet(path: Path, required: Sequence[str], numeric: Sequence[str]) -> pd.DataFrame:
    """Read one table of the run, raising ConfigError if it cannot be read, lacks a column or has no rows."""
    if not path.exists():
        raise ConfigError(str(path), "", "file not found; the run may have been interrupted, so rerun it to resume")
    try:
        frame = pd.read_parquet(path)
    except (pa.ArrowException, OSError) as exc:
        raise ConfigError(str(path), "", f"cannot be read as a parquet table: {_short_reason(exc)}") from None
    if frame.empty:
        raise ConfigError(str(path), "", "no rows; the run produced no results, so rerun it")

    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise ConfigError(str(path), missing[0], "missing column; the report needs " + ", ".join(required))
    for column in numeric:
        if column in frame.columns:
            _check_numeric(frame[column], path, column)
    return frame


def _check_daily_days(daily: pd.DataFrame, metrics: pd.DataFrame, path: Path) -> None:
    """Raise ConfigError unless daily.parquet has every day, once, of every simulation in metrics.parquet.

    A simulation is a scenario, policy and seed; a split's arms share their split's simulation and have no daily rows
    of their own. Every simulation runs the same days, 0 to the horizon minus 1, so a truncated or partly rewritten
    daily.parquet shows as a simulation with missing or repeated days.
    """
    keys = ["scenario", "policy", "seed"]
    simulations = metrics.loc[~metrics["policy"].astype(str).str.contains("/", regex=False), keys].drop_duplicates()
    days = daily.groupby(keys, sort=False)["day"].agg(["count", "nunique", "min", "max"])
    # metrics.parquet records the horizon, so a daily.parquet that lacks the same last days of every simulation is
    # caught too. Runs written before it recorded horizon_days fall back on the longest simulation in daily.parquet.
    recorded = metrics["horizon_days"].dropna() if "horizon_days" in metrics.columns else pd.Series(dtype=float)
    horizon = int(recorded.max()) if len(recorded) else int(days["max"].max()) + 1
    missing = simulations.set_index(keys).index.difference(days.index)
    if len(missing):
        scenario, policy, seed = missing[0]
        raise ConfigError(
            str(path),
            "",
            f"no rows for scenario {scenario!r}, policy {policy!r}, seed {seed} of metrics.parquet; rerun the run",
        )
    incomplete = days[(days["count"] != horizon) | (days["nunique"] != horizon) | (days["min"] != 0)]
    if len(incomplete):
        (scenario, policy, seed), row = next(incomplete.iterrows())
        raise ConfigError(
            str(path),
            "day",
            f"scenario {scenario!r}, policy {policy!r}, seed {seed} has {row['count']} rows over days "
            f"{row['min']} to {row['max']}, expected days 0 to {horizon - 1} once each; rerun the run",
        )


def _short_reason(exc: Exception) -> str:
    """Return the first sentence of a pyarrow error, without the file path that the ConfigError already names."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    reason = re.sub(r"^Could not open Parquet input source '[^']*': ", "", reason)
    return reason.split(". ")[0].rstrip(".")


def _check_numeric(column: pd.Series, path: Path, name: str) -> None:
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        # NaN is a valid metric (cost_to_collect when nothing was collected), but no metric is infinite, and an
        # infinite value breaks the interval and chart code.
        infinite = np.isinf(column.to_numpy(dtype=float))
        if infinite.any():
            row = int(np.flatnonzero(infinite)[0])
            raise ConfigError(
                str(path), name, f"infinite value {column.iloc[row]} in row {row + 1}; expected finite numbers or NaN"
            )
        return
    examples = column.dropna()
    example = f" such as {str(examples.iloc[0])[:40]!r}" if not examples.empty else ""
    raise ConfigError(
        str(path), name, f"expected a numeric column (float or integer), got {column.dtype} values{example}"
    )


# -- analysis ---------------------------------------------------------------------------------------------


def build_context(run: RunData) -> dict[str, Any]:
    """Compute everything the template shows: one section per scenario, the breakdown by scenario, assumptions
    and provenance."""
    config = run.config
    champion = str(config["champion"])
    configured_policies = [str(policy) for policy in config["policies"]]
    scenarios = [str(name) for name in pd.unique(run.metrics["scenario"])]

    settings = _scenario_settings(config, scenarios)
    sections = []
    for scenario in scenarios:
        metrics = run.metrics[run.metrics["scenario"] == scenario]
        daily = run.daily[run.daily["scenario"] == scenario]
        section = _scenario_section(scenario, metrics, daily, champion, configured_policies)
        section["currency"] = settings[scenario]["currency"]
        sections.append(section)
    currencies = {section["currency"] for section in sections}

    # The runner writes the resolved list of seeds; a bare count is read back from the metrics instead.
    if isinstance(config["seeds"], list):
        seeds = [int(seed) for seed in config["seeds"]]
    else:
        seeds = sorted(int(seed) for seed in pd.unique(run.metrics["seed"]))
    return {
        "name": str(config["name"]),
        "description": str(config.get("description") or ""),
        # Each section names its own currency. The report has one only when every scenario uses it.
        "currency": next(iter(currencies)) if len(currencies) == 1 else None,
        # Amounts pooled over scenarios of different currencies add unconverted money, which the report warns of.
        "mixed_currencies": sorted(str(code) for code in currencies) if len(currencies) > 1 else [],
        "champion": champion,
        "sections": sections,
        "multiple_scenarios": len(sections) > 1,
        "scenario_breakdown": _scenario_breakdown(run.metrics, champion, configured_policies),
        "confidence": CONFIDENCE,
        "interval_name": INTERVAL_NAMES[INTERVAL_METHOD],
        "statistics": {
            "resamples": DEFAULT_RESAMPLES,
            "power": LIVE_TEST_POWER,
            "significance": LIVE_TEST_SIGNIFICANCE,
            "small_challenger_share": SMALL_CHALLENGER_SHARE,
        },
        "assumptions": _assumptions(config, run.metrics, seeds, scenarios, settings),
        "provenance": _provenance(run.manifest, seeds, run.config_edited),
    }


def _scenario_section(
    scenario: str, metrics: pd.DataFrame, daily: pd.DataFrame, champion: str, configured_policies: list[str]
) -> dict[str, Any]:
    found = _policy_order(metrics, configured_policies)
    arms = split_arms(found)
    policies = [policy for policy in found if not any(policy in names for names in arms.values())]
    main = metrics[metrics["policy"].isin(policies)]

    leaderboard = [metric for metric in LEADERBOARD if metric.column in main.columns]
    summary = summarise(
        main, [metric.column for metric in leaderboard], confidence=CONFIDENCE, method=INTERVAL_METHOD
    ).reindex(policies)
    robust = summarise(main, [RANKING_METRIC], confidence=CONFIDENCE, with_iqm=True).reindex(policies)
    ranked = summary[(RANKING_METRIC, "mean")].sort_values(ascending=False, kind="stable").index.tolist()
    # A split runs its arms, often mostly the champion, on one portfolio, so its NPV sits near the champion's by
    # construction. The summary therefore picks the winner and the best challenger among the policies, and among
    # the splits only when fewer than two policies ran.
    contenders = [policy for policy in ranked if policy not in arms]
    if len(contenders) < 2:
        contenders = ranked
    winner = contenders[0]
    confidence = summary_confidence(len(contenders))
    n_accounts = float(main["n_accounts"].mean())

    champion_in_scenario = champion in policies
    versus = {
        # A split's row already mixes policies inside one portfolio: a live test of it against the champion means
        # nothing.
        policy: _versus_champion(main, policy, champion, confidence, with_live_test=policy not in arms)
        for policy in ranked
        if champion_in_scenario and policy != champion
    }
    if not champion_in_scenario:
        comparison = None
    elif winner != champion:
        comparison = _compare(main, winner, champion, n_accounts, leaderboard, versus[winner], confidence)
        comparison["runner_up"] = _runner_up(main, contenders, champion, confidence)
    elif len(contenders) > 1:
        comparison = _compare(main, contenders[1], champion, n_accounts, leaderboard, versus[contenders[1]], confidence)
        comparison["runner_up"] = _runner_up(main, contenders, contenders[1], confidence)
    else:
        comparison = None
    if comparison is not None:
        # A split mixes its arms on one portfolio, so the summary points to the arms' own comparison.
        comparison["challenger_is_split"] = comparison["challenger"] in arms

    colours = policy_colours(policies)
    badges = _ranking_badges(contenders, champion, comparison)
    rows = [
        {
            "policy": policy,
            "is_champion": policy == champion,
            "badge": badges.get(policy),
            "seeds": int((main["policy"] == policy).sum()),
            "cells": [
                _interval_cell(
                    *(summary.loc[policy, (metric.column, stat)] for stat in ("mean", "low", "high")),
                    kind=metric.kind,
                    floor=metric.floor,
                    ceiling=metric.ceiling,
                )
                for metric in leaderboard
            ],
            "iqm": _interval_cell(
                *(robust.loc[policy, (RANKING_METRIC, stat)] for stat in ("iqm", "iqm_low", "iqm_high")), kind="money"
            ),
            "versus": versus.get(policy),
        }
        for policy in ranked
    ]
    clv_lost = {policy: float(summary.loc[policy, ("clv_lost", "mean")]) for policy in policies}
    # The chart's interval bars are cut where the leaderboard cuts the same intervals.
    bounds = {metric.column: (metric.floor, metric.ceiling) for metric in leaderboard}
    bucket_policies = [champion, comparison["challenger"]] if comparison else contenders[:1]
    return {
        "scenario": scenario,
        "winner": winner,
        "winner_badge": badges.get(winner),
        "champion_in_scenario": champion_in_scenario,
        "comparison": comparison,
        "n_seeds": int(main["seed"].nunique()),
        "contenders": len(contenders),
        "metrics": leaderboard,
        "rows": rows,
        "has_live_test": any(entry["live_test"] is not None for entry in versus.values()),
        "frontier_png": plot_recovery_vs_cost(summary, champion, colours, clv_lost, bounds),
        "cash_png": plot_cumulative_cash(
            daily, policies, champion, colours, confidence=CONFIDENCE, method=INTERVAL_METHOD
        ),
        "buckets_png": plot_bucket_flows(daily, bucket_policies, champion),
        "bucket_policies": bucket_policies,
        "splits_left_out": [policy for policy in ranked if policy not in contenders],
        "segments": [_segment(metrics, split, names, champion) for split, names in arms.items()],
        "detail_tables": _detail_tables(main, ranked, champion),
        "policies": policies,
    }


def split_arms(policies: Sequence[str]) -> dict[str, list[str]]:
    """Group the rows of champion/challenger arms under their split: ``{"cc": ["cc/standard", "cc/digital"]}``.

    The runner names an arm's row ``split/arm``, so a policy whose name before the first ``/`` is another policy
    of the run is an arm of that split. Splits come in the order of ``policies``.
    """
    names = set(policies)
    arms: dict[str, list[str]] = {}
    for policy in policies:
        split, separator, _ = policy.partition("/")
        if separator and split in names:
            arms.setdefault(split, []).append(policy)
    return arms


def _interval_cell(
    mean: float, low: float, high: float, kind: str, floor: float | None = None, ceiling: float | None = None
) -> dict[str, Any]:
    """Return a mean with its interval bounds, and whether the interval exists (it needs two or more seeds).

    With ``floor`` and ``ceiling``, the smallest and largest values the quantity can take, the interval is cut to
    that range.
    """
    low, high = bound_interval(low, high, floor, ceiling)
    return {
        "kind": kind,
        "mean": mean,
        "low": low,
        "high": high,
        "has_interval": not (math.isnan(low) or math.isnan(high)),
    }


def _policy_order(metrics: pd.DataFrame, configured_policies: list[str]) -> list[str]:
    """Policies in the config's order, then any others found in the metrics, so colours stay stable."""
    found = [str(policy) for policy in pd.unique(metrics["policy"])]
    ordered = [policy for policy in configured_policies if policy in found]
    return ordered + [policy for policy in found if policy not in ordered]


def _by_seed(metrics: pd.DataFrame, policy: str, column: str) -> pd.Series:
    """Return one policy's values of ``column`` as a float Series indexed by seed."""
    rows = metrics[metrics["policy"] == policy]
    return pd.Series(rows[column].to_numpy(dtype=float), index=rows["seed"].to_numpy())


def _versus_champion(
    metrics: pd.DataFrame, challenger: str, champion: str, confidence: float, with_live_test: bool = True
) -> dict[str, Any]:
    """Compare one policy with the champion seed by seed: the probability that it returns the higher NPV, and the
    size of a live champion/challenger test that would detect the measured per-account NPV difference.

    The interval of that difference, which only the executive summary shows, is at the summary's ``confidence``
    (:func:`summary_confidence`), so that it agrees with the summary's interval of the same difference.
    """
    _check_paired_seeds(metrics, challenger, champion)
    npv = {policy: _by_seed(metrics, policy, RANKING_METRIC) for policy in (challenger, champion)}
    seeds = _seed_counts(npv[challenger], npv[champion])
    # Equal NPVs on every seed are an exact tie: the share of wins is one half with no uncertainty, which the
    # binomial interval of half a win per seed would misstate as wide.
    tied = seeds["total"] >= 2 and seeds["tied"] == seeds["total"]
    estimate = (
        (0.5, math.nan, math.nan)
        if tied
        else probability_of_improvement(npv[challenger], npv[champion], confidence=CONFIDENCE)
    )
    probability = _interval_cell(*estimate, kind="percent") | {"tied": tied}

    per_account = {policy: npv[policy] / _by_seed(metrics, policy, "n_accounts") for policy in npv}
    # Series.mean skips NaN and, unlike np.nanmean, gives NaN without a warning when every value is NaN.
    difference = float((per_account[challenger] - per_account[champion]).mean())
    live_test = None
    if with_live_test and PER_ACCOUNT_SD in metrics.columns:
        sd = {policy: _pooled_sd(_by_seed(metrics, policy, PER_ACCOUNT_SD)) for policy in npv}
        accounts = min(float(_by_seed(metrics, policy, "n_accounts").min()) for policy in npv)

        def size(per_account_difference: float, share: float) -> LiveTestSize | None:
            return live_test_size(
                per_account_difference,
                sd[challenger],
                sd[champion],
                challenger_share=share,
                power=LIVE_TEST_POWER,
                significance=LIVE_TEST_SIGNIFICANCE,
            )

        sizes = {
            name: size(difference, share) for name, share in (("even", EVEN_SPLIT), ("small", SMALL_CHALLENGER_SHARE))
        }
        # The size scales with 1 / difference², so the uncertainty of the simulated difference matters. An interval
        # whose ends have one sign gives a range of sizes, and one that includes zero gives no upper end.
        _, low, high = paired_difference(
            per_account[challenger], per_account[champion], confidence=confidence, method=INTERVAL_METHOD
        )
        one_sign = low > 0 or high < 0
        live_test = {
            "difference_per_account": difference,
            "difference_low": low,
            "difference_high": high,
            "difference_includes_zero": low <= 0 <= high,
            "difference_has_interval": not (math.isnan(low) or math.isnan(high)),
            # The even split's size at the end of the interval farther from zero, then at the nearer one.
            "even_range": [size(end, EVEN_SPLIT) for end in sorted((low, high), key=abs, reverse=True)]
            if one_sign
            else None,
            **sizes,
            "reason": _no_live_test_reason(sizes, sd, accounts),
        }
    return {"probability": probability, "live_test": live_test}


def _no_live_test_reason(
    sizes: Mapping[str, Any], standard_deviations: Mapping[str, float], accounts: float
) -> str | None:
    """Say why a live test has no size: None when it has one, else "one_account", "no_spread" or "no_difference".

    A per-account standard deviation is NaN when a simulation had one account ("one_account"), or when the run did
    not record it ("no_spread"). Otherwise the size is missing because the mean difference per account is zero.
    """
    if sizes["even"] is not None:
        return None
    if any(math.isnan(sd) for sd in standard_deviations.values()):
        return "one_account" if accounts < 2 else "no_spread"
    return "no_difference"


def _pooled_sd(standard_deviations: pd.Series) -> float:
    """Pool per-seed standard deviations of equal-sized samples: the root of their mean variance, NaN if none."""
    variances = standard_deviations.to_numpy(dtype=float) ** 2
    return math.sqrt(float(np.nanmean(variances))) if np.isfinite(variances).any() else math.nan


def summary_confidence(contenders: int) -> float:
    """Return the confidence level of the executive summary's paired intervals when it picks among ``contenders``.

    The summary names the best challenger, and the best policy, after looking at the results. With ``k`` policies a
    claim that one of them beats another can be wrong in any of ``k - 1`` ways. Each interval is therefore a Bonferroni
    interval at 1 - 5% / (k - 1), which keeps the chance of any wrong claim about NPV under 5%. Two policies keep 95%.
    """
    return 1.0 - (1.0 - CONFIDENCE) / max(1, contenders - 1)


def _compare(
    metrics: pd.DataFrame,
    challenger: str,
    champion: str,
    n_accounts: float,
    leaderboard: Sequence[Metric],
    versus: Mapping[str, Any],
    confidence: float,
) -> dict[str, Any]:
    """Compute paired (same seed) differences, challenger minus champion, for the summary's metrics, with intervals at
    ``confidence`` (:func:`summary_confidence`).

    Returns the NPV gain with its verdict and the seeds on which the challenger was higher, lower or tied, the
    probability of improvement, the live test size, and one card per available metric in two groups: collections,
    and customer impact. ``runner_up`` starts as None, and the caller sets it (:func:`_runner_up`).
    """
    _check_paired_seeds(metrics, challenger, champion)

    def card(metric: Metric) -> dict[str, Any]:
        challenger_values = _by_seed(metrics, challenger, metric.column)
        champion_values = _by_seed(metrics, champion, metric.column)
        difference = _interval_cell(
            *paired_difference(challenger_values, champion_values, confidence=confidence, method=INTERVAL_METHOD),
            kind=metric.kind,
        )
        # The means cover the seeds that the difference pairs, so that the card's three numbers subtract. A seed that
        # collected nothing has a NaN cost to collect on one side only.
        paired = challenger_values.notna() & champion_values.reindex(challenger_values.index).notna()
        seeds = challenger_values.index[paired.to_numpy()]
        return {
            "column": metric.column,
            "label": metric.label,
            "kind": metric.kind,
            "challenger": float(challenger_values.loc[seeds].mean()),
            "champion": float(champion_values.loc[seeds].mean()),
            "difference": difference,
            "tone": _tone(difference["low"], difference["high"], bool(metric.higher_is_better)),
            "seeds": _seed_counts(challenger_values, champion_values),
        }

    available = {metric.column: metric for metric in leaderboard}
    collection = [card(available[column]) for column in COLLECTION_COMPARISONS]
    customer_impact = [card(available[column]) for column in CUSTOMER_IMPACT_COMPARISONS if column in available]
    gain = collection[0]["difference"]
    return {
        "challenger": challenger,
        "confidence": confidence,
        "gain": gain,
        "gain_per_account": {key: gain[key] / n_accounts for key in ("mean", "low", "high")} if n_accounts else None,
        "verdict": _paired_verdict(gain, collection[0]["seeds"]),
        "seeds": collection[0]["seeds"],
        "runner_up": None,
        "probability": versus["probability"],
        "live_test": versus["live_test"],
        "collection": collection,
        "customer_impact": customer_impact,
        "clv_lost": next(card for card in customer_impact if card["column"] == "clv_lost"),
        "complaints": next((card for card in customer_impact if card["column"] == "complaints_per_1000"), None),
    }


def _runner_up(metrics: pd.DataFrame, ranked: Sequence[str], compared: str, confidence: float) -> dict[str, Any] | None:
    """Compare the winner (``ranked[0]``), seed by seed, with every other policy but ``compared``, the one that the
    comparison with the champion already covers, with intervals at ``confidence`` (:func:`summary_confidence`).

    Beating the champion, or the best challenger, does not make the winner the best policy when the seeds cannot
    tell it from another policy, even one with a lower mean but a wider spread. Returns the paired difference in NPV,
    winner minus that policy, with its verdict and seed counts, for the first policy in rank order that the seeds do
    not place below the winner; when they place every one below, for the next-ranked one. None when no other policy
    ran.
    """
    winner = ranked[0]
    winner_npv = _by_seed(metrics, winner, RANKING_METRIC)
    closest = None
    for policy in ranked[1:]:
        if policy == compared:
            continue
        other_npv = _by_seed(metrics, policy, RANKING_METRIC)
        difference = _interval_cell(
            *paired_difference(winner_npv, other_npv, confidence=confidence, method=INTERVAL_METHOD), kind="money"
        )
        seeds = _seed_counts(winner_npv, other_npv)
        rival = {
            "policy": policy,
            "difference": difference,
            "verdict": _paired_verdict(difference, seeds),
            "seeds": seeds,
        }
        if rival["verdict"] != "above":
            return rival
        closest = closest or rival
    return closest


def _ranking_badges(ranked: Sequence[str], champion: str, comparison: Mapping[str, Any] | None) -> dict[str, str]:
    """Return the leaderboard badge of the top policy, and of a policy tied with it, by the executive summary's rule.

    "best" when the summary calls the top policy the best: its paired differences from every other policy lie
    above zero (for the champion, the best challenger's difference from it lies below zero, and the champion's
    differences from the other challengers above zero). "tied" for the top policy and the one it compares with when
    the two returned the same NPV on every seed. Otherwise "highest_mean". A run of one policy gets no badge.
    """
    if len(ranked) < 2:
        return {}
    winner = ranked[0]
    if comparison is None:
        return {winner: "highest_mean"}
    runner_up = comparison["runner_up"]
    if comparison["verdict"] == "tied":
        return {winner: "tied", comparison["challenger"] if winner == champion else champion: "tied"}
    if runner_up is not None and runner_up["verdict"] == "tied":
        return {winner: "tied", runner_up["policy"]: "tied"}
    beats_the_rest = runner_up is None or runner_up["verdict"] == "above"
    confirmed = beats_the_rest and comparison["verdict"] == ("below" if winner == champion else "above")
    return {winner: "best" if confirmed else "highest_mean"}


def _seed_counts(challenger_values: pd.Series, champion_values: pd.Series) -> dict[str, int]:
    """Count the paired seeds on which the challenger's value was higher, lower or equal, for the template."""
    counts = count_seeds(challenger_values, champion_values)
    return {"higher": counts.higher, "lower": counts.lower, "tied": counts.tied, "total": counts.total}


def _segment(metrics: pd.DataFrame, split: str, arms: Sequence[str], champion: str) -> dict[str, Any]:
    """Break a champion/challenger split down by arm, per account, since arms treat different numbers of accounts.

    The reference arm is the one running the champion policy, or else the arm with the most accounts. Each other
    arm gets the paired (same seed) difference of its NPV per account from the reference arm's.
    """
    split_accounts = float(metrics.loc[metrics["policy"] == split, "n_accounts"].mean())
    accounts = {arm: float(metrics.loc[metrics["policy"] == arm, "n_accounts"].mean()) for arm in arms}
    reference = next((arm for arm in arms if arm.partition("/")[2] == champion), max(arms, key=accounts.__getitem__))

    def per_account(arm: str, column: str) -> pd.Series:
        return _by_seed(metrics, arm, column) / _by_seed(metrics, arm, "n_accounts")

    rows = []
    for arm in arms:
        npv = per_account(arm, RANKING_METRIC)
        difference = None
        tone = "none"
        if arm != reference:
            _check_paired_seeds(metrics, arm, reference)
            difference = _interval_cell(
                *paired_difference(
                    npv, per_account(reference, RANKING_METRIC), confidence=CONFIDENCE, method=INTERVAL_METHOD
                ),
                kind="money_small",
            )
            tone = _tone(difference["low"], difference["high"], higher_is_better=True)
        complaints = (
            float(_by_seed(metrics, arm, "complaints_per_1000").mean())
            if "complaints_per_1000" in metrics.columns
            else None
        )
        rows.append(
            {
                "arm": arm.partition("/")[2],
                "policy": arm,
                "is_reference": arm == reference,
                "accounts": accounts[arm],
                "share": accounts[arm] / split_accounts if split_accounts else math.nan,
                "npv_per_account": _interval_cell(
                    *mean_interval(npv.to_numpy(), confidence=CONFIDENCE, method=INTERVAL_METHOD), kind="money_small"
                ),
                "recovery_rate": float(_by_seed(metrics, arm, "recovery_rate").mean()),
                "cost_to_collect": float(_by_seed(metrics, arm, "cost_to_collect").mean()),
                "clv_lost_per_account": float(per_account(arm, "clv_lost").mean()),
                "complaints_per_1000": complaints,
                "difference": difference,
                "tone": tone,
            }
        )
    return {"split": split, "reference": reference.partition("/")[2], "rows": rows}


def _at_or_beyond(column: str, horizon: int | None) -> bool:
    """Return whether ``column`` is recovery by a day at or beyond ``horizon`` (False without a horizon)."""
    day = re.fullmatch(r"recovery_rate_(\d+)d", column)
    return horizon is not None and day is not None and int(day.group(1)) >= horizon


def _detail_tables(metrics: pd.DataFrame, ranked: Sequence[str], champion: str) -> list[dict[str, Any]]:
    """Return the per-policy means over seeds of each :data:`DETAIL_TABLES` table.

    A table is left out when metrics.parquet has none of its columns beyond those of the leaderboard, as in runs
    written before recovery by day was recorded.
    """
    leaderboard = {metric.column for metric in LEADERBOARD}
    # Recovery by the horizon's own day repeats the whole horizon's column, and by a later day it is undefined (n/a
    # on every row), so such columns are left out when every row shares one horizon.
    horizons = metrics["horizon_days"].unique() if "horizon_days" in metrics.columns else []
    horizon = int(horizons[0]) if len(horizons) == 1 else None
    tables = []
    for table in DETAIL_TABLES:
        columns = [
            metric
            for metric in table.metrics
            if metric.column in metrics.columns and not _at_or_beyond(metric.column, horizon)
        ]
        if all(metric.column in leaderboard for metric in columns):
            continue
        means = metrics.groupby("policy", sort=False)[[metric.column for metric in columns]].mean()
        rows = [
            {
                "policy": policy,
                "is_champion": policy == champion,
                "cells": [(float(means.loc[policy, metric.column]), metric.kind) for metric in columns],
            }
            for policy in ranked
        ]
        tables.append(
            {"key": table.key, "title": table.title, "caption": table.caption, "metrics": columns, "rows": rows}
        )
    return tables


def _scenario_breakdown(metrics: pd.DataFrame, champion: str, configured_policies: list[str]) -> dict[str, Any] | None:
    """Tabulate each policy's mean NPV per scenario and pooled over scenarios; None for a single scenario.

    The scenarios share their seeds, so the pooled mean's Student-t interval sums each seed's residuals across the
    scenarios (:func:`experiments.stats.clustered_mean_interval`), and the pooled IQM and probability of beating
    the champion have bootstrap intervals that resample whole seeds (the IQM of fewer than 4 seeds, the mean's
    Student-t interval). Differences between scenarios do not count as noise. Pairs with the champion are matched on
    (scenario, seed).
    """
    scenarios = [str(name) for name in pd.unique(metrics["scenario"])]
    if len(scenarios) < 2:
        return None
    found = _policy_order(metrics, configured_policies)
    arms = split_arms(found)
    policies = [policy for policy in found if not any(policy in names for names in arms.values())]
    main = metrics[metrics["policy"].isin(policies)]

    by_scenario = main.groupby(["policy", "scenario"], sort=False)[RANKING_METRIC].mean()
    # Every scenario runs on the same seeds, so values of one seed are correlated across scenarios: the intervals
    # resample or sum whole seeds rather than treating the scenarios as independent samples.
    pooled = summarise(
        main,
        [RANKING_METRIC],
        confidence=CONFIDENCE,
        method=INTERVAL_METHOD,
        strata="scenario",
        with_iqm=True,
        clusters="seed",
    ).reindex(policies)
    ranked = pooled[(RANKING_METRIC, "mean")].sort_values(ascending=False, kind="stable").index.tolist()

    def keyed(policy: str) -> pd.Series:
        rows = main[main["policy"] == policy]
        index = pd.MultiIndex.from_arrays([rows["scenario"].astype(str), rows["seed"]], names=["scenario", "seed"])
        return pd.Series(rows[RANKING_METRIC].to_numpy(dtype=float), index=index)

    rows = []
    for policy in ranked:
        probability = None
        if champion in policies and policy != champion:
            challenger_values, champion_values = keyed(policy), keyed(champion)
            common = challenger_values.index.intersection(champion_values.index)
            seeds = pd.Series(common.get_level_values("seed"), index=common)
            probability = _interval_cell(
                *probability_of_improvement(
                    challenger_values.loc[common], champion_values.loc[common], confidence=CONFIDENCE, clusters=seeds
                ),
                kind="percent",
            )
        rows.append(
            {
                "policy": policy,
                "is_champion": policy == champion,
                "by_scenario": [float(by_scenario.get((policy, scenario), math.nan)) for scenario in scenarios],
                "mean": _interval_cell(
                    *(pooled.loc[policy, (RANKING_METRIC, stat)] for stat in ("mean", "low", "high")), kind="money"
                ),
                "iqm": _interval_cell(
                    *(pooled.loc[policy, (RANKING_METRIC, stat)] for stat in ("iqm", "iqm_low", "iqm_high")),
                    kind="money",
                ),
                "probability": probability,
            }
        )
    return {"scenarios": scenarios, "rows": rows}


def _check_paired_seeds(metrics: pd.DataFrame, challenger: str, champion: str) -> None:
    """Raise ConfigError unless the two policies have exactly one row for each of the same seeds."""
    seeds = {policy: metrics.loc[metrics["policy"] == policy, "seed"] for policy in (challenger, champion)}
    for policy, policy_seeds in seeds.items():
        repeated = sorted(set(policy_seeds[policy_seeds.duplicated()].tolist()))
        if repeated:
            raise ConfigError(
                "metrics.parquet",
                "seed",
                f"policy {policy!r} has more than one row for seeds {repeated}; keep one row per policy and seed",
            )
    only_challenger = sorted(set(seeds[challenger].tolist()) - set(seeds[champion].tolist()))
    only_champion = sorted(set(seeds[champion].tolist()) - set(seeds[challenger].tolist()))
    unpaired = [
        f"seeds {seed_list} only in {policy!r}"
        for policy, seed_list in ((challenger, only_challenger), (champion, only_champion))
        if seed_list
    ]
    if unpaired:
        raise ConfigError(
            "metrics.parquet",
            "seed",
            f"policy {challenger!r} and the champion {champion!r} must share their seeds to be compared, but "
            f"the run has {' and '.join(unpaired)}; rerun the missing cells",
        )


def _tone(low: float, high: float, higher_is_better: bool) -> str:
    """Colour a paired difference: 'better' or 'worse' when its interval excludes zero, else 'unclear'.

    Returns 'none' when the difference has no interval, as with a single seed, so that no colour is shown.
    """
    verdict = _verdict(low, high)
    if verdict == "unknown":
        return "none"
    if verdict == "includes_zero":
        return "unclear"
    return "better" if (verdict == "above") == higher_is_better else "worse"


def _paired_verdict(difference: Mapping[str, Any], seeds: Mapping[str, int]) -> str:
    """Classify a paired difference as :func:`_verdict` does, or 'tied' when two or more seeds pair up and the two
    policies returned the same value on every one of them, so the difference is exactly zero, not uncertain."""
    if seeds["total"] >= 2 and seeds["tied"] == seeds["total"]:
        return "tied"
    return _verdict(difference["low"], difference["high"])


def _verdict(low: float, high: float) -> str:
    """Classify a paired interval as 'above', 'below' or 'includes_zero' ('unknown' when undefined)."""
    if math.isnan(low) or math.isnan(high):
        return "unknown"
    if low > 0:
        return "above"
    if high < 0:
        return "below"
    return "includes_zero"


def _scenario_settings(config: Mapping[str, Any], scenarios: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Return each scenario's ``currency`` and ``cost_of_capital`` from the resolved config's ``scenario_parameters``.

    Scenarios of one run can differ in both, as a list of scenario files or a sweep of the cost of capital does. A
    scenario missing from ``scenario_parameters``, as in runs written without it, takes the first value found anywhere
    in the config.
    """
    parameters = config.get("scenario_parameters")
    entries = parameters if isinstance(parameters, list) else [parameters]
    by_name = {str(entry.get("name")): entry for entry in entries if isinstance(entry, Mapping)}
    if isinstance(parameters, Mapping) and len(scenarios) == 1:
        by_name.setdefault(scenarios[0], parameters)
    return {
        scenario: {key: _find_key(by_name.get(scenario, config), key) for key in ("currency", "cost_of_capital")}
        for scenario in scenarios
    }


def _assumptions(
    config: Mapping[str, Any],
    metrics: pd.DataFrame,
    seeds: list[int],
    scenarios: list[str],
    settings: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    n_accounts = config.get("n_accounts")
    if n_accounts is None:
        n_accounts = int(metrics["n_accounts"].iloc[0])
    horizon_days = config.get("horizon_days")
    if horizon_days is None and "horizon_days" in metrics.columns:
        horizon_days = int(metrics["horizon_days"].iloc[0])
    return {
        "scenario": str(config["scenario"]),
        "scenarios": scenarios,
        "n_accounts": n_accounts,
        "horizon_days": horizon_days,
        "seeds": seeds,
        "policies": [str(policy) for policy in config["policies"]],
        "splits": [str(split["name"]) for split in config.get("splits") or []],
        # A list of (scenario, value) pairs, or one pair without a scenario name when every scenario uses one value.
        "cost_of_capital": _per_scenario(settings, "cost_of_capital"),
        "currency": _per_scenario(settings, "currency"),
    }


def _per_scenario(settings: Mapping[str, Mapping[str, Any]], key: str) -> list[tuple[str | None, Any]]:
    values = [(scenario, values[key]) for scenario, values in settings.items()]
    if len({json.dumps(value) for _, value in values}) <= 1:
        return [(None, values[0][1] if values else None)]
    return values


def _provenance(manifest: Mapping[str, Any] | None, seeds: list[int], config_edited: bool) -> dict[str, Any]:
    manifest = manifest or {}
    packages = manifest.get("packages") or {}
    return {
        "recorded": bool(manifest),
        "arrears_version": manifest.get("arrears_version"),
        "git_commit": manifest.get("git_commit"),
        "git_modified": manifest.get("git_modified"),
        "config_sha256": manifest.get("config_sha256"),
        "config_edited": config_edited,
        "seeds": manifest.get("seeds", seeds),
        "python": manifest.get("python"),
        # A package that is not installed (version None) is left out rather than shown as "None".
        "packages": sorted((str(name), str(version)) for name, version in packages.items() if version is not None),
        "started_at": manifest.get("started_at"),
        "finished_at": manifest.get("finished_at"),
        "elapsed_seconds": manifest.get("elapsed_seconds"),
    }


def _find_key(tree: Any, key: str) -> Any:
    """Return the first value stored under ``key`` anywhere in a nested config, or None."""
    if isinstance(tree, Mapping):
        if key in tree:
            return tree[key]
        children = list(tree.values())
    elif isinstance(tree, list):
        children = tree
    else:
        return None
    for child in children:
        found = _find_key(child, key)
        if found is not None:
            return found
    return None


# -- formatting -------------------------------------------------------------------------------------------

NOT_AVAILABLE = "n/a"


def format_money(value: float, signed: bool = False) -> str:
    """Format an amount with thousands separators and no decimals, e.g. ``1,234,567`` or ``+1,234,567``."""
    if _missing(value):
        return NOT_AVAILABLE
    return _signed_text(value, "+,.0f") if signed else f"{value:,.0f}"


def format_money_small(value: float, signed: bool = False) -> str:
    """Format a per-account amount with two decimals, e.g. ``12.34``."""
    if _missing(value):
        return NOT_AVAILABLE
    return _signed_text(value, "+,.2f") if signed else f"{value:,.2f}"


def format_percent(value: float) -> str:
    """Format a rate in 0..1 as a percentage, e.g. ``0.1234`` as ``12.3%``.

    Rates below 1% get two decimals (``0.0023`` as ``0.23%``), so a small cost to collect stays readable.
    """
    if _missing(value):
        return NOT_AVAILABLE
    return f"{value:.2%}" if 0 < abs(value) < 0.01 else f"{value:.1%}"


def format_whole_percent(value: float) -> str:
    """Format a rate in 0..1 as a whole percentage, e.g. ``0.8`` as ``80%``, for settings such as a test's power."""
    if _missing(value):
        return NOT_AVAILABLE
    return f"{value:.0%}"


def format_points(value: float) -> str:
    """Format a difference of two rates in percentage points, e.g. ``0.012`` as ``+1.2 pp``.

    Differences below 1 point get two decimals (``-0.0006`` as ``-0.06 pp``).
    """
    if _missing(value):
        return NOT_AVAILABLE
    points = value * 100
    return _signed_text(points, "+.2f" if 0 < abs(points) < 1 else "+.1f") + " pp"


def format_decimal(value: float, signed: bool = False) -> str:
    """Format a count or ratio with two decimals, e.g. ``8.96``."""
    if _missing(value):
        return NOT_AVAILABLE
    return _signed_text(value, "+,.2f") if signed else f"{value:,.2f}"


def format_confidence(level: float) -> str:
    """Format a confidence level with up to two decimals and no trailing zeros: ``95%``, ``97.5%``, ``98.33%``."""
    return f"{100 * level:.2f}".rstrip("0").rstrip(".") + "%"


def format_count(value: float) -> str:
    """Format a count or a mean of counts: whole numbers without decimals (``1,234``), others with one (``2.5``)."""
    if _missing(value):
        return NOT_AVAILABLE
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def format_accounts(value: int | None) -> str:
    """Format a number of accounts with thousands separators, or n/a for None."""
    return NOT_AVAILABLE if value is None else f"{value:,}"


def _round_up_to_three_figures(value: int) -> int:
    """Round a number of accounts up to three significant figures: 9,721,854 as 9,730,000."""
    step = 10 ** max(0, len(str(abs(int(value)))) - 3)
    return -(-int(value) // step) * step


def format_approx_accounts(value: int | None) -> str:
    """Format a number of accounts rounded up to three significant figures (9,721,854 as 9,730,000), or n/a for None.

    A live test's size is an estimate from a simulated difference, so its last digits mean nothing to a reader. It is
    a minimum, so it is rounded up, never down.
    """
    return NOT_AVAILABLE if value is None else f"{_round_up_to_three_figures(value):,}"


def format_approx_total(size: LiveTestSize | None, challenger_share: float) -> str:
    """Format a live test's accounts in both arms as the challenger arm rounded up to three significant figures over
    its share of the accounts, or n/a for None.

    The total so equals the arms as the report writes them: 746,000 per arm of an even split makes 1,492,000, where
    rounding the unrounded total of 1,491,844 on its own would give 1,500,000.
    """
    if size is None:
        return NOT_AVAILABLE
    return f"{round(_round_up_to_three_figures(size.challenger) / challenger_share):,}"


def format_value(value: float, kind: str) -> str:
    """Format a metric value by its kind: 'percent', 'money', 'money_small', 'decimal' or 'count'."""
    formatters = {
        "percent": format_percent,
        "money": format_money,
        "money_small": format_money_small,
        "decimal": format_decimal,
        "count": format_count,
    }
    return formatters[kind](value)


def _signed_text(value: float, spec: str) -> str:
    """Format ``value`` with ``spec`` (a signed format such as ``+,.2f``), without a sign when it rounds to zero, so
    that a difference of -0.001 reads ``0.00``, not ``-0.00``."""
    text = format(value, spec)
    return text[1:] if not any(digit in text for digit in "123456789") else text


def format_difference(value: float, kind: str) -> str:
    """Format a signed difference of a metric: percentage points for rates, signed amounts otherwise."""
    if kind == "percent":
        return format_points(value)
    if kind == "money":
        return format_money(value, signed=True)
    if kind == "money_small":
        return format_money_small(value, signed=True)
    return format_decimal(value, signed=True)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


# Control characters other than tab and newline, which a config's free text may contain but HTML may not.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _without_control_characters(value: Any) -> Any:
    """Replace control characters in a string written into the report with U+FFFD, the replacement character.

    Markup (HTML that a filter built from escaped values) stays markup: the replacement touches no tag.
    """
    if isinstance(value, markupsafe.Markup):
        return markupsafe.Markup(_CONTROL_CHARACTERS.sub("\ufffd", value))
    return _CONTROL_CHARACTERS.sub("\ufffd", value) if isinstance(value, str) else value


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("experiments", "templates"),
        autoescape=True,
        finalize=_without_control_characters,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        money=format_money,
        money_small=format_money_small,
        percent=format_percent,
        confidence=format_confidence,
        whole_percent=format_whole_percent,
        points=format_points,
        metric_value=format_value,
        metric_difference=format_difference,
        accounts=format_accounts,
        approx_accounts=format_approx_accounts,
        approx_total=format_approx_total,
    )
    return environment
