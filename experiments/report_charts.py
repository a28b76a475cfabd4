"""Charts of the HTML run report, drawn with matplotlib and returned as base64 PNG text for data URLs.

Charts use matplotlib's object-oriented Figure, which renders PNG with the Agg canvas. It never imports pyplot, so it
neither needs a display nor switches the backend of a notebook that calls the report.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Annotation, Text
from matplotlib.ticker import FuncFormatter, PercentFormatter

from experiments.stats import IntervalMethod, bound_interval, mean_interval_by_column
from sim.errors import ConfigError

CHAMPION_MARKER = "D"
CHALLENGER_MARKER = "o"
FRONTIER_COLOUR = "#6b7280"

# Marker diameters in points: the policy that lost the most customer value gets the largest marker.
MIN_MARKER_POINTS = 6.0
MAX_MARKER_POINTS = 18.0

#: Account states of daily.parquet in the stacking order of the bucket-flow chart: (column, legend label, colour).
#: Resolved accounts that paid sit at the bottom, then current and the DPD buckets in order, then sold and charged off.
BUCKET_STATES: tuple[tuple[str, str, str], ...] = (
    ("accounts_paid_off", "Paid off", "#1d4ed8"),
    ("accounts_settled", "Settled", "#93c5fd"),
    ("accounts_current", "Current", "#15803d"),
    ("accounts_1_29", "1–29 DPD", "#a3e635"),
    ("accounts_30_59", "30–59 DPD", "#facc15"),
    ("accounts_60_89", "60–89 DPD", "#f59e0b"),
    ("accounts_90_119", "90–119 DPD", "#f97316"),
    ("accounts_120_149", "120–149 DPD", "#ef4444"),
    ("accounts_150_179", "150–179 DPD", "#b91c1c"),
    ("accounts_180_plus", "180+ DPD", "#7f1d1d"),
    ("accounts_sold", "Sold", "#c4b5fd"),
    ("accounts_charged_off", "Charged off", "#4b5563"),
)


# -- recovery versus cost -----------------------------------------------------------------------------------------

#: The smallest and largest value of a metric, either None where there is no limit, keyed by metrics.parquet column.
Bounds = Mapping[str, tuple[float | None, float | None]]


def efficient_frontier(points: Mapping[str, tuple[float, float]]) -> list[str]:
    """Return the policies on the recovery-versus-cost frontier, from the cheapest to the most expensive.

    ``points`` maps a policy to ``(cost_to_collect, recovery_rate)``. A policy is on the frontier when every cheaper
    or equally cheap policy recovers less. Of two policies at the same point, the first is kept. NaN points are
    skipped.
    """
    valid = [(cost, -recovery, order, policy) for order, (policy, (cost, recovery)) in enumerate(points.items())]
    valid = [entry for entry in valid if not (math.isnan(entry[0]) or math.isnan(entry[1]))]
    frontier = []
    best = -math.inf
    for _cost, negative_recovery, _order, policy in sorted(valid):
        if -negative_recovery > best:
            frontier.append(policy)
            best = -negative_recovery
    return frontier


def plot_recovery_vs_cost(
    summary: pd.DataFrame,
    champion: str,
    colours: Mapping[str, Any],
    clv_lost: Mapping[str, float] | None = None,
    bounds: Bounds | None = None,
) -> str:
    """Draw the recovery-versus-cost chart of :func:`recovery_vs_cost_figure` and return the PNG as base64 text."""
    return _png_base64(recovery_vs_cost_figure(summary, champion, colours, clv_lost, bounds))


def recovery_vs_cost_points(summary: pd.DataFrame, bounds: Bounds | None = None) -> pd.DataFrame:
    """Return the point and interval bar of each policy as the chart draws them, one row per policy.

    Columns are ``cost``, ``cost_low``, ``cost_high``, ``recovery``, ``recovery_low`` and ``recovery_high``, from the
    ``cost_to_collect`` and ``recovery_rate`` means and interval bounds of ``summary``. Each interval is cut at
    ``bounds[column]``, the range the leaderboard cuts the same interval to. Policies whose cost or recovery is NaN
    are left out.
    """
    bounds = bounds or {}
    rows = {}
    for policy in summary.index:
        row = {}
        for column, name in (("cost_to_collect", "cost"), ("recovery_rate", "recovery")):
            mean, low, high = (float(summary.loc[policy, (column, stat)]) for stat in ("mean", "low", "high"))
            floor, ceiling = bounds.get(column, (None, None))
            low, high = bound_interval(low, high, floor, ceiling)
            row.update({name: mean, f"{name}_low": low, f"{name}_high": high})
        if not (math.isnan(row["cost"]) or math.isnan(row["recovery"])):
            rows[policy] = row
    columns = ["cost", "cost_low", "cost_high", "recovery", "recovery_low", "recovery_high"]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns, dtype=float)


def recovery_vs_cost_figure(
    summary: pd.DataFrame,
    champion: str,
    colours: Mapping[str, Any],
    clv_lost: Mapping[str, float] | None = None,
    bounds: Bounds | None = None,
) -> Figure:
    """Draw recovery rate against cost to collect, one labelled point per policy with interval bars.

    The bars are the intervals of :func:`recovery_vs_cost_points`, cut at ``bounds``. A dashed line joins the
    policies of the :func:`efficient_frontier`. With ``clv_lost`` (each policy's mean CLV lost), a marker's area grows
    with the customer value the policy lost, and its label states the amount. A label that would overlap another,
    such as those of two zero-cost policies with the same recovery, moves to the nearest free place above or below
    and is joined to its point by a thin line.
    """
    figure = Figure(figsize=(7.2, 4.6), layout="constrained")
    axes = figure.add_subplot()
    largest_loss = max((value for value in (clv_lost or {}).values() if not math.isnan(value)), default=0.0)
    lowest_cost = 0.0
    labels = []
    points: dict[str, tuple[float, float]] = {}
    drawn = recovery_vs_cost_points(summary, bounds)
    for policy in drawn.index:
        x, x_low, x_high, y, y_low, y_high = drawn.loc[policy].tolist()
        points[policy] = (x, y)
        lowest_cost = min(lowest_cost, x if math.isnan(x_low) else x_low)
        is_champion = policy == champion
        loss = math.nan if clv_lost is None else clv_lost.get(policy, math.nan)
        size = MIN_MARKER_POINTS if math.isnan(loss) or largest_loss <= 0 else _marker_size(loss / largest_loss)
        axes.errorbar(
            x,
            y,
            xerr=[[_error_below(x, x_low)], [_error_above(x, x_high)]],
            yerr=[[_error_below(y, y_low)], [_error_above(y, y_high)]],
            fmt=CHAMPION_MARKER if is_champion else CHALLENGER_MARKER,
            markersize=size,
            markeredgecolor="white",
            color=colours[policy],
            ecolor=colours[policy],
            elinewidth=1.2,
            capsize=3,
            alpha=0.9,
        )
        label = f"{policy} (champion)" if is_champion else str(policy)
        if not math.isnan(loss):
            label += f"\nCLV lost {_compact_money(loss)}"
        labels.append(
            axes.annotate(
                _plain_text(label),
                (x, y),
                xytext=(4 + size / 2, 4),
                textcoords="offset points",
                fontsize=9,
                color="#1f2937",
                annotation_clip=False,
                # The line to the point shows only when the label has to move away from it.
                arrowprops={
                    "arrowstyle": "-",
                    "color": colours[policy],
                    "linewidth": 0.7,
                    "alpha": 0.8,
                    "relpos": (0.0, 0.5),
                    "shrinkA": 1,
                    "shrinkB": size / 2,
                },
            )
        )
        labels[-1].arrow_patch.set_visible(False)

    frontier = efficient_frontier(points)
    if len(frontier) > 1:
        axes.plot(
            [points[policy][0] for policy in frontier],
            [points[policy][1] for policy in frontier],
            linestyle="--",
            linewidth=1.0,
            color=FRONTIER_COLOUR,
            zorder=0,
        )
        frontier_handle = Line2D([], [], linestyle="--", linewidth=1.0, color=FRONTIER_COLOUR)
        axes.legend([frontier_handle], ["Efficient frontier"], frameon=False, fontsize=9, loc="lower right")
    axes.set_xlabel("Cost to collect (cost per unit of cash collected)")
    # On two lines: on one, the label is taller than the axes and the figure cuts off its end.
    axes.set_ylabel("Recovery rate\n(collected + sale proceeds) / opening balance")
    axes.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    axes.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    axes.margins(x=0.25, y=0.2)
    # Costs are never negative: keep the margin (or an interval that crosses 0) from opening a wide negative range.
    left, right = axes.get_xlim()
    axes.set_xlim(max(left, lowest_cost - 0.04 * (right - lowest_cost)), right)
    _style_axes(axes)
    _move_overlapping_labels(figure, labels)
    return figure


def _marker_size(relative_loss: float) -> float:
    """Return a marker diameter whose area is proportional to ``relative_loss`` in 0..1, never below the smallest."""
    return max(MIN_MARKER_POINTS, MAX_MARKER_POINTS * math.sqrt(max(relative_loss, 0.0)))


LABEL_GAP_POINTS = 2.0


def _move_overlapping_labels(figure: Figure, labels: Sequence[Annotation]) -> None:
    """Move each label that overlaps one placed before it to the nearest free slot above or below its place.

    Labels are placed from the highest point down. Slots are one label height plus a gap apart, tried in the order
    0, -1, +1, -2, +2, ... A label that moved shows its line to the point.
    """
    # Lay the figure out once so each label has a position in display coordinates.
    figure.draw_without_rendering()
    order = sorted(range(len(labels)), key=lambda index: -labels[index].xy[1])
    placed = []
    for index in order:
        label = labels[index]
        x_offset, y_offset = label.xyann
        step = _text_box(label).height * 72 / figure.dpi + LABEL_GAP_POINTS
        for slot in _slots(len(labels)):
            label.xyann = (x_offset, y_offset + slot * step)
            if not any(_text_box(label).overlaps(other) for other in placed):
                break
        label.arrow_patch.set_visible(label.xyann[1] != y_offset)
        placed.append(_text_box(label))


def _text_box(label: Annotation) -> Any:
    """Return the display box of the label's text alone; an Annotation's own box also spans its line to the point."""
    return Text.get_window_extent(label)


def _slots(count: int) -> list[int]:
    """Return the slot offsets 0, -1, 1, -2, 2, ... enough for ``count`` labels on either side."""
    slots = [0]
    for distance in range(1, count + 1):
        slots += [-distance, distance]
    return slots


# -- cumulative cash ----------------------------------------------------------------------------------------------


def plot_cumulative_cash(
    daily: pd.DataFrame,
    policies: Sequence[str],
    champion: str,
    colours: Mapping[str, Any],
    confidence: float = 0.95,
    method: IntervalMethod = "t",
) -> str:
    """Draw the mean cumulative net cash (collected plus sale proceeds, minus costs) by day, one line per policy.

    A second panel below draws each challenger's paired difference from the champion, seed by seed, which
    separates policies whose curves overlap in the first panel. Shaded bands are ``confidence`` intervals of the
    mean over seeds on each day (``method`` as in :func:`experiments.stats.mean_interval`), absent with one seed.
    Returns the PNG as base64 text for a data URL.
    """
    cumulative = {policy: _cumulative_net_cash(daily, policy) for policy in policies}
    cumulative = {policy: frame for policy, frame in cumulative.items() if not frame.empty}
    with_differences = champion in cumulative and len(cumulative) > 1

    figure = Figure(figsize=(7.2, 6.6 if with_differences else 4.2), layout="constrained")
    if with_differences:
        cash_axes, difference_axes = figure.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    else:
        cash_axes, difference_axes = figure.add_subplot(), None

    def band(axes: Any, frame: pd.DataFrame, colour: str, is_champion: bool) -> Any:
        return _plot_band(axes, frame, colour, is_champion, confidence, method)

    handles = []
    labels = []
    for policy, frame in cumulative.items():
        line = band(cash_axes, frame, colours[policy], is_champion=policy == champion)
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
            band(difference_axes, frame - champion_cash.loc[frame.index], colours[policy], is_champion=False)
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


def _plot_band(
    axes: Any, frame: pd.DataFrame, colour: str, is_champion: bool, confidence: float, method: IntervalMethod
) -> Any:
    """Plot the mean over seeds (rows) of a seed x day table with its interval band, and return the line."""
    mean, low, high = mean_interval_by_column(frame.to_numpy(), confidence=confidence, method=method)
    days = frame.columns.to_numpy()
    (line,) = axes.plot(
        days, mean, color=colour, linewidth=2.2 if is_champion else 1.6, linestyle="--" if is_champion else "-"
    )
    if not np.isnan(low).all():
        axes.fill_between(days, low, high, color=colour, alpha=0.12, linewidth=0)
    return line


# -- bucket flows -------------------------------------------------------------------------------------------------


def bucket_shares(daily: pd.DataFrame, policy: str) -> pd.DataFrame:
    """Return one policy's share of accounts in each state of :data:`BUCKET_STATES` by day, averaged over seeds.

    Rows are days and columns the state columns present in ``daily``. Each day's counts are divided by their sum,
    which is the number of accounts when every state column is present.
    """
    columns = [column for column, _, _ in BUCKET_STATES if column in daily.columns]
    rows = daily[daily["policy"] == policy]
    counts = rows.groupby("day")[columns].mean().sort_index()
    totals = counts.sum(axis=1).replace(0, np.nan)
    return counts.div(totals, axis=0)


def plot_bucket_flows(daily: pd.DataFrame, policies: Sequence[str], champion: str) -> str | None:
    """Draw each policy's accounts by DPD bucket and final state over the days, as stacked shares, one panel each.

    Returns the PNG as base64 text, or None when ``daily`` has fewer than two state columns, as in runs written
    before the daily record kept them, or none of ``policies`` has rows.
    """
    columns = [column for column, _, _ in BUCKET_STATES if column in daily.columns]
    panels = [policy for policy in policies if (daily["policy"] == policy).any()]
    if len(columns) < 2 or not panels:
        return None
    style = {column: (label, colour) for column, label, colour in BUCKET_STATES}

    figure = Figure(figsize=(7.2, 4.4), layout="constrained")
    axes_row = figure.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for axes, policy in zip(axes_row, panels, strict=True):
        shares = bucket_shares(daily, policy)
        axes.stackplot(
            shares.index.to_numpy(),
            shares.to_numpy().T,
            colors=[style[column][1] for column in shares.columns],
            linewidth=0,
        )
        axes.set_title(_plain_text(f"{policy} (champion)" if policy == champion else str(policy)), fontsize=10)
        axes.set_xlabel("Day of the simulation")
        axes.set_ylim(0, 1)
        axes.margins(x=0)
        axes.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
        _style_axes(axes)
    axes_row[0].set_ylabel("Share of accounts")

    # Legend entries from the top of the stack down, so they read in the order the bands appear.
    handles = [Line2D([], [], color=style[column][1], linewidth=8) for column in reversed(columns)]
    names = [style[column][0] for column in reversed(columns)]
    figure.legend(handles, names, loc="outside right center", frameon=False, fontsize=8)
    return _png_base64(figure)


# -- shared helpers -----------------------------------------------------------------------------------------------


def policy_colours(policies: Sequence[str]) -> dict[str, Any]:
    """Assign each policy a colour, in the order given, so a policy keeps its colour across charts."""
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


def _compact_money(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1e9:
        return f"{value / 1e9:,.1f}B"
    if magnitude >= 1e6:
        return f"{value / 1e6:,.1f}M"
    if magnitude >= 1e3:
        return f"{value / 1e3:,.0f}k"
    return f"{value:,.0f}"
