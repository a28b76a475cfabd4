"""Statistics over seeds: per-policy means and interquartile means (IQM) with confidence intervals, paired (CRN)
differences, the probability of improvement, and the size of a live champion/challenger test.

The mean's default interval is Student's t, because a run has few seeds and the bootstrap undercovers in small
samples: in 2,000 trials of 3 normal values, a nominal 95% BCa interval contained the true mean in only 72% of them.
The bootstrap (BCa or percentile, via ``scipy.stats.bootstrap``) serves statistics without a closed-form interval,
the IQM and the probability of improvement, and stays available for the mean through ``method``. When the values
come from several strata (scenarios), the bootstrap resamples within each stratum and the t interval uses the
stratified standard error. Every bootstrap interval is reproducible: its draws come from a generator seeded by the
``seed`` argument.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

BootstrapMethod = Literal["BCa", "percentile"]
IntervalMethod = Literal["t", "BCa", "percentile"]
INTERVAL_METHODS: tuple[str, ...] = ("t", "BCa", "percentile")

DEFAULT_RESAMPLES = 9999

# The interquartile mean drops the lowest and highest 25% of the values, as scipy.stats.trim_mean counts them:
# floor(0.25 × n) values at each end, so 3 seeds keep all 3 and 5 seeds keep the middle 3.
IQM_TRIM = 0.25

# Bootstrap resamples held in memory at once by `mean_interval_by_column`, so a long horizon with many seeds
# does not allocate n_resamples x seeds x days floats in one go.
COLUMN_BATCH = 200

# scipy 1.15 added the `rng` keyword to `scipy.stats.bootstrap` and deprecated `random_state`. Older
# releases take the Generator as `random_state` instead.
_BOOTSTRAP_SEED_KEYWORD = "rng" if "rng" in inspect.signature(scipy_stats.bootstrap).parameters else "random_state"


def mean_interval(
    values: Iterable[float],
    confidence: float = 0.95,
    seed: int = 0,
    method: IntervalMethod = "t",
    n_resamples: int = DEFAULT_RESAMPLES,
) -> tuple[float, float, float]:
    """Estimate the mean of ``values`` with a confidence interval: ``(mean, low, high)``.

    ``method="t"`` gives the Student-t interval ``mean ± t(n - 1) × s / sqrt(n)``, which is exact for normal
    values and ignores ``seed`` and ``n_resamples``. NaN values are dropped first, because a metric such as
    cost to collect is NaN for a seed that collected nothing. The edge cases are:

    - no values left: ``(nan, nan, nan)``;
    - one value: ``(value, nan, nan)``, since one sample gives no interval;
    - all values equal: ``(value, value, value)``, since the sample has no spread.

    The bootstrap ``method="BCa"`` (bias-corrected and accelerated) falls back to the percentile interval where
    BCa is undefined, which happens when the bootstrap distribution is degenerate.
    """
    _check_confidence(confidence)
    sample = np.asarray(values if isinstance(values, np.ndarray | pd.Series) else list(values), dtype=float)
    if sample.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {sample.shape}; use mean_interval_by_column for a matrix")
    sample = sample[~np.isnan(sample)]
    if sample.size == 0:
        return (math.nan, math.nan, math.nan)

    means, lows, highs = mean_interval_by_column(
        sample.reshape(-1, 1), confidence=confidence, seed=seed, method=method, n_resamples=n_resamples
    )
    return (float(means[0]), float(lows[0]), float(highs[0]))


def mean_interval_by_column(
    matrix: np.ndarray,
    confidence: float = 0.95,
    seed: int = 0,
    method: IntervalMethod = "t",
    n_resamples: int = DEFAULT_RESAMPLES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Estimate the mean of each column of ``matrix`` (rows are seeds) with a confidence interval.

    Returns three arrays of length ``matrix.shape[1]``: mean, low and high. ``method`` is as in
    :func:`mean_interval`. A bootstrap resamples rows jointly, so the columns of one seed stay together, as the
    days of one cumulative cash curve should. The edge cases
    match :func:`mean_interval`: fewer than 2 rows give NaN bounds and a constant column gives bounds equal
    to its mean. ``matrix`` must not contain NaN.
    """
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D with one row per seed, got shape {matrix.shape}")
    if np.isnan(matrix).any():
        raise ValueError("matrix contains NaN; drop or fill the missing values first")
    _check_confidence(confidence)
    _check_method(method)

    n_rows, n_columns = matrix.shape
    means = matrix.mean(axis=0) if n_rows else np.full(n_columns, math.nan)
    lows = np.full(n_columns, math.nan)
    highs = np.full(n_columns, math.nan)
    if n_rows < 2:
        return means, lows, highs

    constant = np.all(matrix == matrix[0], axis=0)
    lows[constant] = means[constant]
    highs[constant] = means[constant]

    varying = np.flatnonzero(~constant)
    if varying.size and method == "t":
        lows[varying], highs[varying] = _t_interval(matrix[:, varying], confidence)
    elif varying.size:
        low, high = _bootstrap_mean(matrix[:, varying], confidence, seed, method, n_resamples)
        undefined = ~(np.isfinite(low) & np.isfinite(high))
        if method == "BCa" and undefined.any():
            fallback_low, fallback_high = _bootstrap_mean(
                matrix[:, varying[undefined]], confidence, seed, "percentile", n_resamples
            )
            low[undefined] = fallback_low
            high[undefined] = fallback_high
        lows[varying] = low
        highs[varying] = high
    return means, lows, highs


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive), got {confidence}")


def _check_method(method: str) -> None:
    if method not in INTERVAL_METHODS:
        raise ValueError(f"method must be one of {', '.join(INTERVAL_METHODS)}, got {method!r}")


def _t_interval(matrix: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the Student-t bounds of the mean of each column, for a matrix with at least 2 rows."""
    n_rows = matrix.shape[0]
    means = matrix.mean(axis=0)
    standard_errors = matrix.std(axis=0, ddof=1) / math.sqrt(n_rows)
    quantile = scipy_stats.t.ppf(0.5 + confidence / 2, df=n_rows - 1)
    return means - quantile * standard_errors, means + quantile * standard_errors


def _bootstrap_mean(
    matrix: np.ndarray, confidence: float, seed: int, method: BootstrapMethod, n_resamples: int
) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        # BCa is undefined for a degenerate bootstrap distribution, such as values equal up to rounding. scipy
        # then warns and returns NaN bounds, which mean_interval_by_column replaces with percentile bounds.
        warnings.simplefilter("ignore", scipy_stats.DegenerateDataWarning)
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        result = scipy_stats.bootstrap(
            (matrix,),
            np.mean,
            n_resamples=n_resamples,
            batch=COLUMN_BATCH if matrix.shape[1] > 1 else None,
            axis=0,
            confidence_level=confidence,
            method=method,
            **{_BOOTSTRAP_SEED_KEYWORD: np.random.default_rng(seed)},
        )
    low = np.atleast_1d(np.asarray(result.confidence_interval.low, dtype=float)).copy()
    high = np.atleast_1d(np.asarray(result.confidence_interval.high, dtype=float)).copy()
    return low, high


def paired_difference(
    a: pd.Series | Mapping[int, float],
    b: pd.Series | Mapping[int, float],
    confidence: float = 0.95,
    seed: int = 0,
    method: IntervalMethod = "t",
    n_resamples: int = DEFAULT_RESAMPLES,
) -> tuple[float, float, float]:
    """Estimate the mean of ``a - b`` over paired seeds with a confidence interval: ``(mean, low, high)``.

    ``a`` and ``b`` map a simulation seed to one policy's metric on that seed, as a Series indexed by seed
    or a mapping. Under common random numbers the two policies saw the same draws on the same seed, so the
    per-seed differences cancel most of the noise. Raises ValueError naming the seeds that are missing from
    either side or repeated within one side. NaN differences are dropped and ``method`` applies as in
    :func:`mean_interval`, so the default is the paired Student-t interval.
    """
    series_a, series_b = _paired(a, b)
    differences = series_a - series_b
    return mean_interval(
        differences.to_numpy(), confidence=confidence, seed=seed, method=method, n_resamples=n_resamples
    )


def _paired(a: pd.Series | Mapping[int, float], b: pd.Series | Mapping[int, float]) -> tuple[pd.Series, pd.Series]:
    """Return ``a`` and ``b`` as float Series aligned on the same seeds, or raise ValueError naming unpaired seeds."""
    series_a = _by_seed(a, "a")
    series_b = _by_seed(b, "b")

    # tolist() turns numpy integers into Python ints, so the message reads [3] and not [np.int64(3)].
    seeds_a = set(series_a.index.tolist())
    seeds_b = set(series_b.index.tolist())
    only_a = sorted(seeds_a - seeds_b)
    only_b = sorted(seeds_b - seeds_a)
    if only_a or only_b:
        parts = []
        if only_b:
            parts.append(f"seeds {only_b} are missing from a")
        if only_a:
            parts.append(f"seeds {only_a} are missing from b")
        raise ValueError(
            f"paired difference needs the same seeds on both sides, but {' and '.join(parts)}; "
            "rerun the missing cells or compare on the common seeds only"
        )
    return series_a, series_b.reindex(series_a.index)


def _by_seed(values: pd.Series | Mapping[int, float], side: str) -> pd.Series:
    series = values.copy() if isinstance(values, pd.Series) else pd.Series(dict(values), dtype=float)
    series = series.astype(float)
    repeated = sorted(set(series.index[series.index.duplicated()].tolist()))
    if repeated:
        raise ValueError(f"seeds {repeated} appear more than once in {side}; pass one value per seed")
    return series


@dataclass(frozen=True)
class SeedCounts:
    """Paired seeds on which one policy's value was higher than, lower than or equal to the other's."""

    higher: int
    lower: int
    tied: int

    @property
    def total(self) -> int:
        """Paired seeds counted."""
        return self.higher + self.lower + self.tied


def count_seeds(a: pd.Series | Mapping[int, float], b: pd.Series | Mapping[int, float]) -> SeedCounts:
    """Count the paired seeds on which ``a`` is higher than, lower than or equal to ``b``.

    The inputs pair up as in :func:`paired_difference`, and pairs with a NaN are dropped. A confidence interval of
    the mean difference can exclude zero while some seeds go the other way, so the report states these counts
    separately from the interval.
    """
    series_a, series_b = _paired(a, b)
    differences = (series_a - series_b).dropna().to_numpy()
    return SeedCounts(
        higher=int((differences > 0).sum()), lower=int((differences < 0).sum()), tied=int((differences == 0).sum())
    )


def bound_interval(
    low: float, high: float, floor: float | None = None, ceiling: float | None = None
) -> tuple[float, float]:
    """Cut an interval's bounds to the range a quantity can take: ``low`` is raised to ``floor``, ``high`` lowered
    to ``ceiling``.

    A Student-t interval over few seeds can reach outside that range, such as a recovery rate below 0. NaN bounds
    stay NaN, and None leaves that side uncut.
    """
    if floor is not None and not math.isnan(low):
        low = max(low, floor)
    if ceiling is not None and not math.isnan(high):
        high = min(high, ceiling)
    return low, high


# -- interquartile mean, stratified bootstrap, probability of improvement ------------------------------------


def iqm(values: np.ndarray, axis: int | None = None) -> float | np.ndarray:
    """Return the interquartile mean: the mean of the values left after trimming :data:`IQM_TRIM` at each end.

    It is ``scipy.stats.trim_mean(values, 0.25)``, robust to one unusual seed and closer to the mean than the
    median is. With fewer than 4 values nothing is trimmed, so it equals the mean.
    """
    return scipy_stats.trim_mean(values, IQM_TRIM, axis=axis)


def stratified_bootstrap(
    strata: Sequence[Iterable[float]],
    statistic: Callable[..., np.ndarray],
    confidence: float = 0.95,
    seed: int = 0,
    method: BootstrapMethod = "percentile",
    n_resamples: int = DEFAULT_RESAMPLES,
) -> tuple[float, float, float]:
    """Estimate ``statistic`` of the pooled values of ``strata`` with a stratified bootstrap interval.

    Returns ``(estimate, low, high)``. ``statistic(values, axis=...)`` must reduce along ``axis``, as ``np.mean``
    and :func:`iqm` do. Each stratum (the seeds of one scenario, say) is resampled with replacement within itself,
    by passing one sample per stratum to ``scipy.stats.bootstrap``, so every resample keeps the strata's sizes.
    NaN values are dropped first. A stratum with one value has nothing to resample and enters every resample
    as it is. The edge cases match :func:`mean_interval`: no values give ``(nan, nan, nan)``, no stratum with two
    or more values gives NaN bounds, and values constant within every stratum give bounds equal to the estimate.
    BCa falls back to the percentile interval where it is undefined.
    """
    _check_confidence(confidence)
    _check_method(method)
    if method == "t":
        raise ValueError("stratified_bootstrap needs a bootstrap method, BCa or percentile, got 't'")

    samples = [np.asarray(list(stratum), dtype=float) for stratum in strata]
    samples = [sample[~np.isnan(sample)] for sample in samples]
    samples = [sample for sample in samples if sample.size]
    if not samples:
        return (math.nan, math.nan, math.nan)
    estimate = float(statistic(np.concatenate(samples), axis=-1))
    varying = [sample for sample in samples if sample.size >= 2]
    if not varying:
        return (estimate, math.nan, math.nan)
    if all(np.all(sample == sample[0]) for sample in varying):
        return (estimate, estimate, estimate)
    fixed = np.concatenate([sample for sample in samples if sample.size == 1] or [np.empty(0)])

    def pooled_statistic(*resampled: np.ndarray, axis: int) -> np.ndarray:
        parts = [np.moveaxis(part, axis, -1) for part in resampled]
        if fixed.size:
            parts.append(np.broadcast_to(fixed, parts[0].shape[:-1] + fixed.shape))
        return statistic(np.concatenate(parts, axis=-1), axis=-1)

    low, high = _bootstrap(varying, pooled_statistic, confidence, seed, method, n_resamples)
    if method == "BCa" and not (math.isfinite(low) and math.isfinite(high)):
        low, high = _bootstrap(varying, pooled_statistic, confidence, seed, "percentile", n_resamples)
    return (estimate, low, high)


def _bootstrap(
    samples: Sequence[np.ndarray],
    statistic: Callable[..., np.ndarray],
    confidence: float,
    seed: int,
    method: BootstrapMethod,
    n_resamples: int,
) -> tuple[float, float]:
    with warnings.catch_warnings():
        # As in _bootstrap_mean: scipy warns and returns NaN where BCa is undefined, and the caller falls back.
        warnings.simplefilter("ignore", scipy_stats.DegenerateDataWarning)
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        result = scipy_stats.bootstrap(
            tuple(samples),
            statistic,
            n_resamples=n_resamples,
            vectorized=True,
            confidence_level=confidence,
            method=method,
            **{_BOOTSTRAP_SEED_KEYWORD: np.random.default_rng(seed)},
        )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def probability_of_improvement(
    challenger: pd.Series | Mapping[int, float],
    champion: pd.Series | Mapping[int, float],
    strata: pd.Series | Mapping[object, object] | None = None,
    confidence: float = 0.95,
    seed: int = 0,
    method: BootstrapMethod = "percentile",
    n_resamples: int = DEFAULT_RESAMPLES,
    clusters: pd.Series | Mapping[object, object] | None = None,
) -> tuple[float, float, float]:
    """Estimate the probability that the challenger beats the champion on a seed, with a bootstrap interval.

    Returns ``(probability, low, high)``: the share of paired seeds on which ``challenger`` is greater than
    ``champion``, a tie counting one half. Without ``strata`` the interval is the Clopper-Pearson (exact binomial)
    interval of that share (:func:`binomial_interval`), because seeds are independent trials and a percentile
    bootstrap of a share collapses to a single point when every seed goes the same way. With ``strata`` or
    ``clusters`` it is a bootstrap interval over seeds (:func:`stratified_bootstrap`, :func:`clustered_bootstrap`).
    Pass values where higher is better; negate a metric such as cost to collect first. The inputs pair up as in
    :func:`paired_difference`, and pairs with a NaN are dropped. ``strata`` maps each index value to its stratum,
    such as the scenario when the index is (scenario, seed); seeds are then resampled within each stratum.
    ``clusters`` maps each index value to its cluster, such as the seed when the scenarios share seeds; whole
    clusters are then resampled (:func:`clustered_bootstrap`, percentile only) and ``strata`` is not needed. When
    every cluster has the same share, as when the challenger loses on every seed of every scenario, that bootstrap
    collapses to a point, so the interval is the Clopper-Pearson interval with one trial per cluster.
    """
    series_challenger, series_champion = _paired(challenger, champion)
    keep = series_challenger.notna() & series_champion.notna()
    series_challenger, series_champion = series_challenger[keep], series_champion[keep]
    wins = pd.Series(
        np.where(series_challenger > series_champion, 1.0, 0.0)
        + np.where(series_challenger == series_champion, 0.5, 0.0),
        index=series_challenger.index,
    )
    if clusters is not None:
        cluster_labels = _label_each_pair(clusters, wins.index, "cluster")
        estimate, low, high = clustered_bootstrap(
            wins.to_numpy(), cluster_labels, np.mean, confidence=confidence, seed=seed, n_resamples=n_resamples
        )
        per_cluster = wins.groupby(cluster_labels).mean()
        if per_cluster.size >= 2 and per_cluster.nunique() == 1:
            # Every resample of identical clusters gives the same share, so the bootstrap interval collapses to a
            # point. Each cluster then counts as one trial of the Clopper-Pearson interval, as each seed does above.
            _, low, high = binomial_interval(float(per_cluster.sum()), int(per_cluster.size), confidence=confidence)
        return (estimate, low, high)
    if strata is None and wins.size < 2:
        # One seed gives no interval, as for every other statistic over seeds.
        return (float(wins.mean()) if wins.size else math.nan, math.nan, math.nan)
    if strata is None:
        return binomial_interval(float(wins.sum()), int(wins.size), confidence=confidence)
    by_stratum = _label_each_pair(strata, wins.index, "stratum")
    groups = [wins.to_numpy()[by_stratum == label] for label in pd.unique(by_stratum)]
    return stratified_bootstrap(
        groups, np.mean, confidence=confidence, seed=seed, method=method, n_resamples=n_resamples
    )


def _label_each_pair(labels: pd.Series | Mapping[object, object], index: pd.Index, kind: str) -> np.ndarray:
    """Return the label (a stratum or a cluster, ``kind``) of each paired seed in ``index``, in its order.

    Raises ValueError naming the first pairs that ``labels`` has no label for.
    """
    labels = pd.Series(labels) if not isinstance(labels, pd.Series) else labels
    missing = [key for key in index.tolist() if key not in labels.index]
    if missing:
        plural = "strata" if kind == "stratum" else "clusters"
        raise ValueError(f"{plural} has no {kind} for {missing[:5]}; pass one {kind} per paired seed")
    return labels.reindex(index).to_numpy()


def binomial_interval(successes: float, trials: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """Estimate a probability from ``successes`` in ``trials`` with the Clopper-Pearson interval: ``(share, low,
    high)``.

    The bounds are Beta quantiles, ``Beta(α/2; k, n - k + 1)`` and ``Beta(1 - α/2; k + 1, n - k)``, with ``low`` 0
    when ``k`` is 0 and ``high`` 1 when ``k`` is ``n``. ``successes`` may be a half-integer, as when a tie counts one
    half. No trials give ``(nan, nan, nan)``.
    """
    _check_confidence(confidence)
    if trials <= 0:
        return (math.nan, math.nan, math.nan)
    if not 0.0 <= successes <= trials:
        raise ValueError(f"successes must be between 0 and trials ({trials}), got {successes}")
    alpha = 1.0 - confidence
    low = 0.0 if successes == 0 else float(scipy_stats.beta.ppf(alpha / 2, successes, trials - successes + 1))
    high = 1.0 if successes == trials else float(scipy_stats.beta.ppf(1 - alpha / 2, successes + 1, trials - successes))
    return (successes / trials, low, high)


# -- stratified Student t -----------------------------------------------------------------------------------


def stratified_mean_interval(strata: Sequence[Iterable[float]], confidence: float = 0.95) -> tuple[float, float, float]:
    """Estimate the mean of the pooled values of ``strata`` with a stratified Student-t interval.

    Returns ``(mean, low, high)``. The standard error is that of a stratified sample,
    ``sqrt(Σ w_h² s_h² / n_h)`` with weights ``w_h = n_h / N``, so differences between strata (between scenarios)
    do not widen the interval. The degrees of freedom are Welch-Satterthwaite's. One stratum gives the plain
    Student-t interval of :func:`mean_interval`. NaN values are dropped. A stratum with one value, whose spread is
    unknown, gives NaN bounds, and zero spread in every stratum gives bounds equal to the mean.
    """
    _check_confidence(confidence)
    samples = [np.asarray(list(stratum), dtype=float) for stratum in strata]
    samples = [sample[~np.isnan(sample)] for sample in samples]
    samples = [sample for sample in samples if sample.size]
    if not samples:
        return (math.nan, math.nan, math.nan)
    pooled = np.concatenate(samples)
    mean = float(pooled.mean())
    if any(sample.size < 2 for sample in samples):
        return (mean, math.nan, math.nan)

    total = pooled.size
    terms = np.array([(sample.size / total) ** 2 * sample.var(ddof=1) / sample.size for sample in samples])
    variance = float(terms.sum())
    if variance == 0.0:
        return (mean, mean, mean)
    degrees_of_freedom = variance**2 / float(np.sum(terms**2 / np.array([s.size - 1 for s in samples])))
    half_width = scipy_stats.t.ppf(0.5 + confidence / 2, df=degrees_of_freedom) * math.sqrt(variance)
    return (mean, mean - half_width, mean + half_width)


# -- seeds shared across strata -----------------------------------------------------------------------------


def clustered_mean_interval(
    values: Iterable[float],
    strata: Iterable[object],
    clusters: Iterable[object],
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """Estimate the mean of pooled ``values`` with a Student-t interval when strata share clusters (seeds).

    Returns ``(mean, low, high)``. Under common random numbers every scenario of a run uses the same seeds, so the
    values of one seed in different scenarios are correlated, often almost perfectly. The stratified standard error
    of :func:`stratified_mean_interval` treats the scenarios as independent samples and is then too small. Here each
    value is centred on its stratum's mean, so differences between strata still do not count as noise. The
    residuals are then summed per cluster (``E_c``), and the variance of the pooled mean is
    ``G / (G - 1) × Σ_c E_c² / N²`` over the ``G`` clusters, with ``G - 1`` degrees of freedom. With every cluster in
    every stratum this is the Student-t interval of the per-seed average over strata. NaN values are dropped. Fewer
    than two clusters give NaN bounds, and zero spread gives bounds equal to the mean.
    """
    _check_confidence(confidence)
    frame = pd.DataFrame(
        {"value": np.asarray(list(values), dtype=float), "stratum": list(strata), "cluster": list(clusters)}
    ).dropna(subset=["value"])
    if frame.empty:
        return (math.nan, math.nan, math.nan)
    mean = float(frame["value"].mean())
    cluster_count = frame["cluster"].nunique()
    if cluster_count < 2:
        return (mean, math.nan, math.nan)

    residuals = frame["value"] - frame.groupby("stratum")["value"].transform("mean")
    cluster_sums = residuals.groupby(frame["cluster"]).sum().to_numpy()
    variance = cluster_count / (cluster_count - 1) * float(np.sum(cluster_sums**2)) / len(frame) ** 2
    if variance <= 0.0:
        return (mean, mean, mean)
    half_width = scipy_stats.t.ppf(0.5 + confidence / 2, df=cluster_count - 1) * math.sqrt(variance)
    return (mean, mean - half_width, mean + half_width)


def clustered_bootstrap(
    values: Iterable[float],
    clusters: Iterable[object],
    statistic: Callable[..., np.ndarray],
    confidence: float = 0.95,
    seed: int = 0,
    n_resamples: int = DEFAULT_RESAMPLES,
) -> tuple[float, float, float]:
    """Estimate ``statistic`` of pooled ``values`` with a percentile bootstrap that resamples whole clusters.

    Returns ``(estimate, low, high)``. Each resample draws clusters (seeds) with replacement and keeps all their
    values, in every stratum, together, so the correlation between scenarios on one seed stays in the resamples.
    ``statistic(values, axis=...)`` must reduce along ``axis``, as ``np.mean`` and :func:`iqm` do. NaN values are
    dropped. Fewer than two clusters give NaN bounds, and constant values give bounds equal to the estimate.
    """
    _check_confidence(confidence)
    frame = pd.DataFrame({"value": np.asarray(list(values), dtype=float), "cluster": list(clusters)}).dropna()
    if frame.empty:
        return (math.nan, math.nan, math.nan)
    estimate = float(statistic(frame["value"].to_numpy(), axis=-1))
    groups = [group.to_numpy() for _, group in frame.groupby("cluster", sort=True)["value"]]
    if len(groups) < 2:
        return (estimate, math.nan, math.nan)
    if np.all(frame["value"].to_numpy() == frame["value"].iloc[0]):
        return (estimate, estimate, estimate)

    sizes = {group.size for group in groups}
    if len(sizes) == 1:
        # Every cluster has as many values: resample rows of a clusters x values matrix in one vectorised pass.
        matrix = np.stack(groups)

        def pooled(indices: np.ndarray, axis: int) -> np.ndarray:
            picked = matrix[np.moveaxis(indices, axis, -1)]
            return statistic(picked.reshape(*picked.shape[:-2], -1), axis=-1)

        vectorized = True
    else:

        def pooled(indices: np.ndarray) -> float:  # type: ignore[misc]
            return float(statistic(np.concatenate([groups[index] for index in indices]), axis=-1))

        vectorized = False

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy_stats.DegenerateDataWarning)
        result = scipy_stats.bootstrap(
            (np.arange(len(groups)),),
            pooled,
            n_resamples=n_resamples,
            vectorized=vectorized,
            confidence_level=confidence,
            method="percentile",
            **{_BOOTSTRAP_SEED_KEYWORD: np.random.default_rng(seed)},
        )
    return (estimate, float(result.confidence_interval.low), float(result.confidence_interval.high))


# -- live test size -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveTestSize:
    """Accounts a live champion/challenger test needs in each arm to detect a difference in a per-account mean."""

    challenger: int
    champion: int

    @property
    def total(self) -> int:
        """Accounts in both arms."""
        return self.challenger + self.champion


def live_test_size(
    difference: float,
    sd_challenger: float,
    sd_champion: float,
    challenger_share: float = 0.5,
    power: float = 0.8,
    significance: float = 0.05,
) -> LiveTestSize | None:
    """Size a live champion/challenger test that detects ``difference`` in a per-account mean outcome.

    Uses the two-sample z test, two-sided at ``significance``, with the per-account standard deviations of the
    outcome under each policy (``sd_challenger``, ``sd_champion``, same unit as ``difference``). With
    ``r = (1 - challenger_share) / challenger_share`` champion accounts per challenger account, the challenger arm
    needs ``n = (z(1 - significance / 2) + z(power))² × (sd_challenger² + sd_champion² / r) / difference²``
    accounts, rounded up, and the champion arm ``r × n``. Live accounts are independent: a live test has no
    common random numbers, so it needs far more accounts than the simulation needed seeds.

    Returns None when there is no difference to detect (zero or NaN) or a standard deviation is NaN.
    """
    if not 0.0 < challenger_share < 1.0:
        raise ValueError(f"challenger_share must be between 0 and 1 (exclusive), got {challenger_share}")
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be between 0 and 1 (exclusive), got {power}")
    if not 0.0 < significance < 1.0:
        raise ValueError(f"significance must be between 0 and 1 (exclusive), got {significance}")
    if any(math.isnan(value) for value in (difference, sd_challenger, sd_champion)) or difference == 0.0:
        return None
    if sd_challenger < 0 or sd_champion < 0:
        raise ValueError(f"standard deviations must not be negative, got {sd_challenger} and {sd_champion}")

    champions_per_challenger = (1.0 - challenger_share) / challenger_share
    z = scipy_stats.norm.ppf(1.0 - significance / 2.0) + scipy_stats.norm.ppf(power)
    variance_factor = sd_challenger**2 + sd_champion**2 / champions_per_challenger
    challenger = z**2 * variance_factor / difference**2
    # Round before the ceiling, so a size that is whole up to floating-point error is not pushed up by one.
    return LiveTestSize(
        challenger=max(1, math.ceil(round(challenger, 9))),
        champion=max(1, math.ceil(round(challenger * champions_per_challenger, 9))),
    )


# -- tables -------------------------------------------------------------------------------------------------


def summarise(
    metrics: pd.DataFrame,
    columns: Sequence[str],
    by: str = "policy",
    confidence: float = 0.95,
    seed: int = 0,
    method: IntervalMethod = "t",
    n_resamples: int = DEFAULT_RESAMPLES,
    strata: str | None = None,
    with_iqm: bool = False,
    clusters: str | None = None,
) -> pd.DataFrame:
    """Summarise each metric column per group as the mean with its confidence interval over rows (seeds).

    Returns a DataFrame indexed by the values of ``by``, in order of first appearance, with two-level
    columns ``(column, "mean" | "low" | "high")``. For example ``summary.loc["sms_first", ("recovery_rate",
    "low")]`` is the lower bound of the mean recovery rate of policy ``sms_first``. ``method`` sets the mean's
    interval as in :func:`mean_interval`.

    ``strata`` names a column, such as ``scenario``, whose values split each group's rows into strata: the
    t interval then uses the stratified standard error (:func:`stratified_mean_interval`) and the bootstrap
    resamples within strata (:func:`stratified_bootstrap`). ``with_iqm=True`` adds ``"iqm"``, ``"iqm_low"`` and
    ``"iqm_high"``: the interquartile mean with a stratified percentile bootstrap interval. A group of one stratum
    with fewer than 4 values, which the IQM does not trim, gets the mean's Student-t interval instead.

    ``clusters`` names a column, such as ``seed``, whose values are shared across strata, as the seeds of the
    scenarios of one run are. With ``strata``, the mean's t interval then comes from
    :func:`clustered_mean_interval` (a bootstrap mean's from :func:`clustered_bootstrap`), which keeps the
    correlation between strata on one seed, and the IQM is that of each cluster's average over the strata, with a
    percentile bootstrap over the clusters.
    """
    extra = [name for name in (strata, clusters) if name]
    missing = [name for name in [by, *columns, *extra] if name not in metrics.columns]
    if missing:
        raise ValueError(f"metrics has no column {missing}; available columns: {list(metrics.columns)}")
    _check_method(method)

    statistics = ["mean", "low", "high", *(["iqm", "iqm_low", "iqm_high"] if with_iqm else [])]
    rows: dict[object, dict[tuple[str, str], float]] = {}
    for group, frame in metrics.groupby(by, sort=False):
        labels = frame[strata].to_numpy() if strata else np.zeros(len(frame))
        cluster_labels = frame[clusters].to_numpy() if clusters else None
        row: dict[tuple[str, str], float] = {}
        for column in columns:
            values = frame[column].to_numpy(dtype=float)
            groups = [values[labels == label] for label in pd.unique(labels)]
            shared_clusters = cluster_labels is not None and len(groups) > 1
            if shared_clusters and method == "t":
                mean, low, high = clustered_mean_interval(values, labels, cluster_labels, confidence=confidence)
            elif shared_clusters:
                mean, low, high = clustered_bootstrap(
                    values, cluster_labels, np.mean, confidence=confidence, seed=seed, n_resamples=n_resamples
                )
            elif len(groups) == 1:
                mean, low, high = mean_interval(
                    values, confidence=confidence, seed=seed, method=method, n_resamples=n_resamples
                )
            elif method == "t":
                mean, low, high = stratified_mean_interval(groups, confidence=confidence)
            else:
                mean, low, high = stratified_bootstrap(
                    groups, np.mean, confidence=confidence, seed=seed, method=method, n_resamples=n_resamples
                )
            row[(column, "mean")] = mean
            row[(column, "low")] = low
            row[(column, "high")] = high
            if with_iqm:
                # With shared clusters, the IQM of each seed's average over the strata: trimming the pooled values
                # would drop the lowest strata's values, not the unusual seeds.
                samples = [pd.Series(values).groupby(cluster_labels).mean().to_numpy()] if shared_clusters else groups
                if len(samples) == 1 and math.floor(IQM_TRIM * len(samples[0])) == 0:
                    # Too few values to trim any, so the IQM is the mean and gets the mean's Student-t interval. A
                    # percentile bootstrap of 2 or 3 values spans little more than their range.
                    estimate, iqm_low, iqm_high = mean_interval(samples[0], confidence=confidence, method="t")
                else:
                    estimate, iqm_low, iqm_high = stratified_bootstrap(
                        samples, iqm, confidence=confidence, seed=seed, method="percentile", n_resamples=n_resamples
                    )
                row[(column, "iqm")] = estimate
                row[(column, "iqm_low")] = iqm_low
                row[(column, "iqm_high")] = iqm_high
        rows[group] = row

    header = pd.MultiIndex.from_product([list(columns), statistics])
    summary = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=header)
    summary.index.name = by
    return summary
