"""Render a run directory into one self-contained HTML report that opens offline.

The report compares the policies of a run against the champion: executive summary, leaderboard, charts,
assumptions and a reproducibility footer. Charts are PNG images embedded as data URLs.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jinja2
import numpy as np
import pandas as pd
import pyarrow as pa
from matplotlib.figure import Figure
from matplotlib.text import Annotation
from matplotlib.ticker import FuncFormatter, PercentFormatter

from experiments.stats import IntervalMethod, mean_interval_by_column, paired_difference, summarise
from sim.atomic import atomic_write_text
from sim.errors import ConfigError
from sim.scenario import load_yaml_mapping

REPORT_FILE = "report.html"
CONFIDENCE = 0.95

# Every interval in the report is Student-t, because a run has few seeds, and with 3 to 10 seeds a bootstrap
# interval covers the true mean far less often than its nominal level (see experiments.stats).
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
)
NUMERIC_DAILY_COLUMNS = ("seed", "day", "collected", "cost", "sale_proceeds")


MetricKind = Literal["percent", "money", "decimal"]


@dataclass(frozen=True)
class Metric:
    """A leaderboard column: the metrics.parquet column, its heading and how its values are formatted."""

    column: str
    label: str
    kind: MetricKind
    higher_is_better: bool


# Leaderboard columns in display order. complaints_per_1000 and stop_contact_rate are missing from runs written
# before complaints were modelled, so a column absent from metrics.parquet is left out of the report.
LEADERBOARD: tuple[Metric, ...] = (
    Metric("recovery_rate", "Recovery rate", "percent", higher_is_better=True),
    Metric("cost_to_collect", "Cost to collect", "percent", higher_is_better=False),
    Metric("npv_net_collections", "NPV of net collections", "money", higher_is_better=True),
    Metric("clv_lost", "CLV lost", "money", higher_is_better=False),
    Metric("complaints_per_1000", "Complaints per 1,000 accounts", "decimal", higher_is_better=False),
    Metric("stop_contact_rate", "Asked to stop contact", "percent", higher_is_better=False),
    Metric("contacts_per_account", "Contacts per account", "decimal", higher_is_better=False),
    Metric("cure_rate", "Cure rate", "percent", higher_is_better=True),
)

# Metrics compared between the winner and the champion in the executive summary's two rows of cards.
COLLECTION_COMPARISONS = ("npv_net_collections", "recovery_rate", "cost_to_collect")
CUSTOMER_IMPACT_COMPARISONS = ("clv_lost", "complaints_per_1000", "stop_contact_rate")


@dataclass(frozen=True)
class RunData:
    """The files of one run directory, loaded."""

    config: dict[str, Any]
    metrics: pd.DataFrame
    daily: pd.DataFrame
    manifest: dict[str, Any] | None


# -- public API -------------------------------------------------------------------------------------------


def render_report(run_dir: str | Path) -> str:
    """Build the HTML report for a run directory and return it as a string.

    Raises ConfigError when a file is missing, unreadable or malformed, naming the file and the key or column,
    including when the champion and a challenger do not share the same seeds or daily.parquet lacks days.
    """
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    context = build_context(run)
    return _environment().get_template("report.html").render(**context)


def write_report(run_dir: str | Path) -> Path:
    """Render the report for ``run_dir`` and write it atomically to ``run_dir/report.html``; return the path."""
    run_dir = Path(run_dir)
    html = render_report(run_dir)
    return atomic_write_text(run_dir / REPORT_FILE, html)


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

    champion = str(config["champion"])
    if champion not in set(metrics["policy"]):
        found = ", ".join(map(str, pd.unique(metrics["policy"])))
        raise ConfigError(
            str(config_path), "champion", f"{champion!r} has no rows in metrics.parquet; policies found: {found}"
        )

    manifest = _read_manifest(run_dir)
    return RunData(config=config, metrics=metrics, daily=daily, manifest=manifest)


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
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(str(manifest_path), "", f"invalid JSON at line {exc.lineno}, column {exc.colno}") from None
    except UnicodeDecodeError:
        raise ConfigError(str(manifest_path), "", "invalid JSON: the file is not UTF-8 text") from None
    if not isinstance(manifest, dict):
        raise ConfigError(str(manifest_path), "", f"expected a JSON object, got {type(manifest).__name__}")
    return manifest


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


def _short_reason(exc: Exception) -> str:
    """Return the first sentence of a pyarrow error, without the file path that the ConfigError already names."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    reason = re.sub(r"^Could not open Parquet input source '[^']*': ", "", reason)
    return reason.split(". ")[0].rstrip(".")


def _check_numeric(column: pd.Series, path: Path, name: str) -> None:
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return
    examples = column.dropna()
    example = f" such as {str(examples.iloc[0])[:40]!r}" if not examples.empty else ""
    raise ConfigError(
        str(path), name, f"expected a numeric column (float or integer), got {column.dtype} values{example}"
    )


# -- analysis ---------------------------------------------------------------------------------------------


def build_context(run: RunData) -> dict[str, Any]:
    """Compute everything the template shows: one section per scenario, assumptions and provenance."""
    config = run.config
    champion = str(config["champion"])
    configured_policies = [str(policy) for policy in config["policies"]]
    scenarios = [str(name) for name in pd.unique(run.metrics["scenario"])]

    sections = []
    for scenario in scenarios:
        metrics = run.metrics[run.metrics["scenario"] == scenario]
        daily = run.daily[run.daily["scenario"] == scenario]
        sections.append(_scenario_section(scenario, metrics, daily, champion, configured_policies))

    # The runner writes the resolved list of seeds; a bare count is read back from the metrics instead.
    if isinstance(config["seeds"], list):
        seeds = [int(seed) for seed in config["seeds"]]
    else:
        seeds = sorted(int(seed) for seed in pd.unique(run.metrics["seed"]))
    return {
        "name": str(config["name"]),
        "description": str(config.get("description") or ""),
        "currency": _find_key(config, "currency"),
        "champion": champion,
        "sections": sections,
        "multiple_scenarios": len(sections) > 1,
        "confidence": CONFIDENCE,
        "interval_name": INTERVAL_NAMES[INTERVAL_METHOD],
        "assumptions": _assumptions(config, run.metrics, seeds),
        "provenance": _provenance(run.manifest, seeds),
    }


def _scenario_section(
    scenario: str, metrics: pd.DataFrame, daily: pd.DataFrame, champion: str, configured_policies: list[str]
) -> dict[str, Any]:
    policies = _policy_order(metrics, configured_policies)
    leaderboard = [metric for metric in LEADERBOARD if metric.column in metrics.columns]
    summary = summarise(
        metrics, [metric.column for metric in leaderboard], confidence=CONFIDENCE, method=INTERVAL_METHOD
    ).reindex(policies)
    ranked = summary[("npv_net_collections", "mean")].sort_values(ascending=False, kind="stable").index.tolist()
    winner = ranked[0]
    n_accounts = float(metrics["n_accounts"].mean())

    if champion not in policies:
        comparison = None
    elif winner != champion:
        comparison = _compare(metrics, winner, champion, n_accounts, leaderboard)
    elif len(ranked) > 1:
        comparison = _compare(metrics, ranked[1], champion, n_accounts, leaderboard)
    else:
        comparison = None

    colours = _policy_colours(policies)
    rows = [
        {
            "policy": policy,
            "is_champion": policy == champion,
            "is_winner": policy == winner,
            "seeds": int((metrics["policy"] == policy).sum()),
            "cells": [
                _interval_cell(
                    summary.loc[policy, (metric.column, "mean")],
                    summary.loc[policy, (metric.column, "low")],
                    summary.loc[policy, (metric.column, "high")],
                    kind=metric.kind,
                )
                for metric in leaderboard
            ],
        }
        for policy in ranked
    ]
    return {
        "scenario": scenario,
        "winner": winner,
        "champion_in_scenario": champion in policies,
        "comparison": comparison,
        "n_seeds": int(metrics["seed"].nunique()),
        "metrics": leaderboard,
        "rows": rows,
        "frontier_png": plot_recovery_vs_cost(summary, champion, colours),
        "cash_png": plot_cumulative_cash(daily, policies, champion, colours),
        "policies": policies,
    }


def _interval_cell(mean: float, low: float, high: float, kind: str) -> dict[str, Any]:
    """Return a mean with its interval bounds, and whether the interval exists (it needs two or more seeds)."""
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


def _compare(
    metrics: pd.DataFrame, challenger: str, champion: str, n_accounts: float, leaderboard: Sequence[Metric]
) -> dict[str, Any]:
    """Compute paired (same seed) differences, challenger minus champion, for the summary's metrics.

    Returns the NPV gain with its verdict, and one card per available metric in two groups: collections,
    and customer impact.
    """
    _check_paired_seeds(metrics, challenger, champion)

    def by_seed(policy: str, column: str) -> pd.Series:
        rows = metrics[metrics["policy"] == policy]
        return pd.Series(rows[column].to_numpy(dtype=float), index=rows["seed"].to_numpy())

    def card(metric: Metric) -> dict[str, Any]:
        difference = _interval_cell(
            *paired_difference(
                by_seed(challenger, metric.column),
                by_seed(champion, metric.column),
                confidence=CONFIDENCE,
                method=INTERVAL_METHOD,
            ),
            kind=metric.kind,
        )
        return {
            "column": metric.column,
            "label": metric.label,
            "kind": metric.kind,
            "challenger": float(np.nanmean(by_seed(challenger, metric.column))),
            "champion": float(np.nanmean(by_seed(champion, metric.column))),
            "difference": difference,
            "tone": _tone(difference["low"], difference["high"], metric.higher_is_better),
        }

    available = {metric.column: metric for metric in leaderboard}
    collection = [card(available[column]) for column in COLLECTION_COMPARISONS]
    customer_impact = [card(available[column]) for column in CUSTOMER_IMPACT_COMPARISONS if column in available]
    gain = collection[0]["difference"]
    return {
        "challenger": challenger,
        "gain": gain,
        "gain_per_account": {key: gain[key] / n_accounts for key in ("mean", "low", "high")} if n_accounts else None,
        "verdict": _verdict(gain["low"], gain["high"]),
        "collection": collection,
        "customer_impact": customer_impact,
        "complaints": next((card for card in customer_impact if card["column"] == "complaints_per_1000"), None),
    }


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


def _verdict(low: float, high: float) -> str:
    """Classify a paired interval as 'above', 'below' or 'includes_zero' ('unknown' when undefined)."""
    if math.isnan(low) or math.isnan(high):
        return "unknown"
    if low > 0:
        return "above"
    if high < 0:
        return "below"
    return "includes_zero"


def _assumptions(config: Mapping[str, Any], metrics: pd.DataFrame, seeds: list[int]) -> dict[str, Any]:
    n_accounts = config.get("n_accounts")
    if n_accounts is None:
        n_accounts = int(metrics["n_accounts"].iloc[0])
    horizon_days = config.get("horizon_days")
    if horizon_days is None and "horizon_days" in metrics.columns:
        horizon_days = int(metrics["horizon_days"].iloc[0])
    return {
        "scenario": str(config["scenario"]),
        "n_accounts": n_accounts,
        "horizon_days": horizon_days,
        "seeds": seeds,
        "policies": [str(policy) for policy in config["policies"]],
        "cost_of_capital": _find_key(config, "cost_of_capital"),
    }


def _provenance(manifest: Mapping[str, Any] | None, seeds: list[int]) -> dict[str, Any]:
    manifest = manifest or {}
    packages = manifest.get("packages") or {}
    return {
        "recorded": bool(manifest),
        "arrears_version": manifest.get("arrears_version"),
        "git_commit": manifest.get("git_commit"),
        "config_sha256": manifest.get("config_sha256"),
        "seeds": manifest.get("seeds", seeds),
        "python": manifest.get("python"),
        "packages": sorted((str(name), str(version)) for name, version in packages.items()),
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


# -- charts -----------------------------------------------------------------------------------------------

# Charts use matplotlib's object-oriented Figure, which renders PNG with the Agg canvas. It never imports
# pyplot, so it neither needs a display nor switches the backend of a notebook that calls render_report.

CHAMPION_MARKER = "D"
CHALLENGER_MARKER = "o"


def plot_recovery_vs_cost(summary: pd.DataFrame, champion: str, colours: Mapping[str, Any]) -> str:
    """Draw the recovery-versus-cost chart of :func:`recovery_vs_cost_figure` and return the PNG as base64 text."""
    return _png_base64(recovery_vs_cost_figure(summary, champion, colours))


def recovery_vs_cost_figure(summary: pd.DataFrame, champion: str, colours: Mapping[str, Any]) -> Figure:
    """Draw recovery rate against cost to collect, one labelled point per policy with interval bars.

    Labels that would overlap, such as those of two zero-cost policies with the same recovery, are stacked.
    """
    figure = Figure(figsize=(7.2, 4.6), layout="constrained")
    axes = figure.add_subplot()
    labels = []
    for policy in summary.index:
        x, x_low, x_high = (summary.loc[policy, ("cost_to_collect", stat)] for stat in ("mean", "low", "high"))
        y, y_low, y_high = (summary.loc[policy, ("recovery_rate", stat)] for stat in ("mean", "low", "high"))
        if math.isnan(x) or math.isnan(y):
            continue
        is_champion = policy == champion
        axes.errorbar(
            x,
            y,
            xerr=[[_error_below(x, x_low)], [_error_above(x, x_high)]],
            yerr=[[_error_below(y, y_low)], [_error_above(y, y_high)]],
            fmt=CHAMPION_MARKER if is_champion else CHALLENGER_MARKER,
            markersize=8,
            color=colours[policy],
            ecolor=colours[policy],
            elinewidth=1.2,
            capsize=3,
        )
        label = f"{policy} (champion)" if is_champion else str(policy)
        labels.append(
            axes.annotate(
                _plain_text(label),
                (x, y),
                xytext=(7, 6),
                textcoords="offset points",
                fontsize=9,
                color="#1f2937",
            )
        )
    axes.set_xlabel("Cost to collect (cost per unit of cash collected)")
    axes.set_ylabel("Recovery rate (collected / opening balance)")
    axes.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    axes.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    axes.margins(x=0.25, y=0.2)
    _style_axes(axes)
    _stack_overlapping_labels(figure, labels)
    return figure


LABEL_GAP_POINTS = 2.0


def _stack_overlapping_labels(figure: Figure, labels: Sequence[Annotation]) -> None:
    """Move each label down, one line at a time, until it overlaps no label placed before it."""
    # Lay the figure out once so each label has a position in display coordinates.
    figure.draw_without_rendering()
    placed = []
    for label in labels:
        for _ in range(len(labels)):
            box = label.get_window_extent()
            if not any(box.overlaps(other) for other in placed):
                break
            x_offset, y_offset = label.xyann
            label.xyann = (x_offset, y_offset - box.height * 72 / figure.dpi - LABEL_GAP_POINTS)
        placed.append(label.get_window_extent())


def plot_cumulative_cash(
    daily: pd.DataFrame, policies: Sequence[str], champion: str, colours: Mapping[str, Any]
) -> str:
    """Draw the mean cumulative net cash (collected plus sale proceeds, minus costs) by day, one line per policy.

    A second panel below draws each challenger's paired difference from the champion, seed by seed, which
    separates policies whose curves overlap in the first panel. Shaded bands are intervals of the mean over
    seeds on each day (INTERVAL_METHOD), absent with one seed. Returns the PNG as base64 text for a data URL.
    """
    cumulative = {policy: _cumulative_net_cash(daily, policy) for policy in policies}
    cumulative = {policy: frame for policy, frame in cumulative.items() if not frame.empty}
    with_differences = champion in cumulative and len(cumulative) > 1

    figure = Figure(figsize=(7.2, 6.6 if with_differences else 4.2), layout="constrained")
    if with_differences:
        cash_axes, difference_axes = figure.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    else:
        cash_axes, difference_axes = figure.add_subplot(), None

    handles = []
    labels = []
    for policy, frame in cumulative.items():
        line = _plot_band(cash_axes, frame, colours[policy], is_champion=policy == champion)
        handles.append(line)
        labels.append(_plain_text(f"{policy} (champion)" if policy == champion else str(policy)))
    cash_axes.set_ylabel("Cumulative net cash (undiscounted)")
    # Explicit labels, because legend() would silently skip a policy whose name starts with an underscore.
    cash_axes.legend(handles, labels, frameon=False, fontsize=9, loc="upper left")

    if difference_axes is not None:
        champion_cash = cumulative[champion]
        for policy, frame in cumulative.items():
            if policy == champion:
                continue
            _check_same_seeds(frame, champion_cash, policy, champion)
            _plot_band(difference_axes, frame - champion_cash.loc[frame.index], colours[policy], is_champion=False)
        difference_axes.axhline(0, color=colours[champion], linewidth=1.6, linestyle="--")
        difference_axes.set_ylabel("Difference from champion")

    axes_list = [cash_axes] if difference_axes is None else [cash_axes, difference_axes]
    for axes in axes_list:
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _position: _compact_money(value)))
        axes.axhline(0, color="#9ca3af", linewidth=0.8, zorder=0)
        _style_axes(axes)
    axes_list[-1].set_xlabel("Day of the simulation")
    return _png_base64(figure)


def _cumulative_net_cash(daily: pd.DataFrame, policy: str) -> pd.DataFrame:
    """Return one policy's cumulative net cash (collected plus sale proceeds, minus cost) as a seed x day table."""
    rows = daily[daily["policy"] == policy]
    if rows.empty:
        return pd.DataFrame()
    # Runs written before debt sales existed have no sale_proceeds column.
    proceeds = rows["sale_proceeds"] if "sale_proceeds" in rows else 0.0
    net_cash = rows.assign(net=rows["collected"] + proceeds - rows["cost"]).pivot_table(
        index="seed", columns="day", values="net", aggfunc="sum"
    )
    if net_cash.isna().any().any():
        incomplete = net_cash.index[net_cash.isna().any(axis=1)].tolist()
        raise ConfigError(
            "daily.parquet", "", f"policy {policy!r} has no rows for some days on seeds {incomplete}; rerun those cells"
        )
    return net_cash.sort_index(axis=1).cumsum(axis=1)


def _check_same_seeds(frame: pd.DataFrame, champion_frame: pd.DataFrame, policy: str, champion: str) -> None:
    if set(frame.index) != set(champion_frame.index) or not frame.columns.equals(champion_frame.columns):
        raise ConfigError(
            "daily.parquet",
            "",
            f"policy {policy!r} and the champion {champion!r} do not cover the same seeds and days, "
            "so their cash curves cannot be paired; rerun the missing cells",
        )


def _plot_band(axes: Any, frame: pd.DataFrame, colour: str, is_champion: bool) -> Any:
    """Plot the mean over seeds (rows) of a seed x day table with its interval band, and return the line."""
    mean, low, high = mean_interval_by_column(frame.to_numpy(), confidence=CONFIDENCE, method=INTERVAL_METHOD)
    days = frame.columns.to_numpy()
    (line,) = axes.plot(
        days, mean, color=colour, linewidth=2.2 if is_champion else 1.6, linestyle="--" if is_champion else "-"
    )
    if not np.isnan(low).all():
        axes.fill_between(days, low, high, color=colour, alpha=0.12, linewidth=0)
    return line


def _policy_colours(policies: Sequence[str]) -> dict[str, Any]:
    # NOTE: with more than 10 policies the colours repeat, so the charts' labels and legend tell them apart.
    palette = [
        "#2563eb",
        "#dc2626",
        "#059669",
        "#d97706",
        "#7c3aed",
        "#0891b2",
        "#db2777",
        "#4b5563",
        "#65a30d",
        "#9333ea",
    ]
    return {policy: palette[index % len(palette)] for index, policy in enumerate(policies)}


def _error_below(mean: float, low: float) -> float:
    return 0.0 if math.isnan(low) else max(mean - low, 0.0)


def _error_above(mean: float, high: float) -> float:
    return 0.0 if math.isnan(high) else max(high - mean, 0.0)


def _plain_text(label: str) -> str:
    """Escape dollar signs so matplotlib draws a policy name literally instead of as mathtext."""
    return label.replace("$", r"\$")


def _style_axes(axes: Any) -> None:
    axes.grid(True, color="#e5e7eb", linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        axes.spines[side].set_color("#9ca3af")
    axes.tick_params(colors="#374151", labelsize=9)


def _png_base64(figure: Figure) -> str:
    buffer = io.BytesIO()
    # Dropping the Software tag keeps matplotlib's URL and version string out of the image.
    figure.savefig(buffer, format="png", dpi=144, facecolor="white", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# -- formatting -------------------------------------------------------------------------------------------

NOT_AVAILABLE = "n/a"


def format_money(value: float, signed: bool = False) -> str:
    """Format an amount with thousands separators and no decimals, e.g. ``1,234,567`` or ``+1,234,567``."""
    if _missing(value):
        return NOT_AVAILABLE
    return f"{value:+,.0f}" if signed else f"{value:,.0f}"


def format_money_small(value: float, signed: bool = False) -> str:
    """Format a per-account amount with two decimals, e.g. ``12.34``."""
    if _missing(value):
        return NOT_AVAILABLE
    return f"{value:+,.2f}" if signed else f"{value:,.2f}"


def format_percent(value: float) -> str:
    """Format a rate in 0..1 as a percentage, e.g. ``0.1234`` as ``12.3%``.

    Rates below 1% get two decimals (``0.0023`` as ``0.23%``), so a small cost to collect stays readable.
    """
    if _missing(value):
        return NOT_AVAILABLE
    return f"{value:.2%}" if 0 < abs(value) < 0.01 else f"{value:.1%}"


def format_points(value: float) -> str:
    """Format a difference of two rates in percentage points, e.g. ``0.012`` as ``+1.2 pp``.

    Differences below 1 point get two decimals (``-0.0006`` as ``-0.06 pp``).
    """
    if _missing(value):
        return NOT_AVAILABLE
    points = value * 100
    return f"{points:+.2f} pp" if 0 < abs(points) < 1 else f"{points:+.1f} pp"


def format_decimal(value: float, signed: bool = False) -> str:
    """Format a count or ratio with two decimals, e.g. ``8.96``."""
    if _missing(value):
        return NOT_AVAILABLE
    return f"{value:+,.2f}" if signed else f"{value:,.2f}"


def format_value(value: float, kind: str) -> str:
    """Format a metric value by its kind: 'percent', 'money' or 'decimal'."""
    return {"percent": format_percent, "money": format_money, "decimal": format_decimal}[kind](value)


def format_difference(value: float, kind: str) -> str:
    """Format a signed difference of a metric: percentage points for rates, signed amounts otherwise."""
    if kind == "percent":
        return format_points(value)
    if kind == "money":
        return format_money(value, signed=True)
    return format_decimal(value, signed=True)


def _compact_money(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1e9:
        return f"{value / 1e9:,.1f}B"
    if magnitude >= 1e6:
        return f"{value / 1e6:,.1f}M"
    if magnitude >= 1e3:
        return f"{value / 1e3:,.0f}k"
    return f"{value:,.0f}"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("experiments", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        money=format_money,
        money_small=format_money_small,
        percent=format_percent,
        points=format_points,
        metric_value=format_value,
        metric_difference=format_difference,
    )
    return environment
