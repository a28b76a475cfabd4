"""Tests for the confidence intervals over seeds in experiments.stats."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from experiments.stats import mean_interval, mean_interval_by_column, paired_difference, summarise

COVERAGE_TRIALS = 20_000
COVERAGE_CONFIDENCE = 0.95
# Four binomial standard errors of an empirical coverage over COVERAGE_TRIALS trials, about 0.0062. A correct
# 95% interval lands outside this band with probability about 6e-5, and the seed is fixed, so the test is
# deterministic. The BCa bootstrap covered about 0.72 at n = 3 and 0.90 at n = 10, far outside the band.
COVERAGE_TOLERANCE = 4 * math.sqrt(COVERAGE_CONFIDENCE * (1 - COVERAGE_CONFIDENCE) / COVERAGE_TRIALS)


def test_mean_interval_constant_sample() -> None:
    assert mean_interval([2.5, 2.5, 2.5, 2.5]) == (2.5, 2.5, 2.5)


def test_mean_interval_single_value() -> None:
    mean, low, high = mean_interval([7.0])

    assert mean == 7.0
    assert math.isnan(low)
    assert math.isnan(high)


def test_mean_interval_empty_sample() -> None:
    assert all(math.isnan(value) for value in mean_interval([]))


def test_mean_interval_drops_nan() -> None:
    with_nan = mean_interval([1.0, 2.0, float("nan"), 3.0, 4.0, 5.0])
    without_nan = mean_interval([1.0, 2.0, 3.0, 4.0, 5.0])

    assert with_nan == without_nan
    assert with_nan[0] == 3.0


def test_mean_interval_small_sample_by_hand() -> None:
    # The exact bootstrap distribution of the mean of 5 draws from {1, ..., 5} puts 1.8% of its mass at or
    # below 1.6 and 4.0% at or below 1.8, so its 2.5% quantile is 1.8, and by symmetry its 97.5% quantile 4.2.
    mean, low, high = mean_interval([1.0, 2.0, 3.0, 4.0, 5.0], method="percentile")

    assert mean == 3.0
    assert low == pytest.approx(1.8)
    assert high == pytest.approx(4.2)


@pytest.mark.parametrize("method", ["t", "BCa", "percentile"])
def test_mean_interval_contains_true_mean(method: str) -> None:
    sample = np.random.default_rng(20240601).normal(loc=100.0, scale=15.0, size=400)

    mean, low, high = mean_interval(sample, method=method)

    assert low < 100.0 < high
    assert low < mean < high
    # The half-width should be near 1.96 * 15 / sqrt(400) = 1.47.
    assert (high - low) / 2 == pytest.approx(1.96 * 15.0 / 20.0, rel=0.15)


def test_mean_interval_narrows_with_more_data() -> None:
    rng = np.random.default_rng(7)
    small = rng.normal(loc=0.0, scale=1.0, size=50)
    large = rng.normal(loc=0.0, scale=1.0, size=2_000)

    _, small_low, small_high = mean_interval(small)
    _, large_low, large_high = mean_interval(large)

    assert large_high - large_low < (small_high - small_low) / 3


def test_mean_interval_reproducible_by_seed() -> None:
    sample = np.random.default_rng(3).exponential(size=30)

    assert mean_interval(sample, seed=5, method="BCa") == mean_interval(sample, seed=5, method="BCa")
    assert mean_interval(sample, seed=5, method="BCa") != mean_interval(sample, seed=6, method="BCa")


def test_student_t_ignores_seed() -> None:
    sample = np.random.default_rng(3).exponential(size=30)

    assert mean_interval(sample, seed=5) == mean_interval(sample, seed=6)


def test_mean_interval_near_constant_falls_back() -> None:
    # Values equal up to rounding make BCa undefined; the percentile fallback still gives finite bounds.
    sample = np.array([0.1 + 0.2, 0.3, 0.3, 0.1 + 0.2, 0.3])

    mean, low, high = mean_interval(sample, method="BCa")

    assert math.isfinite(low)
    assert math.isfinite(high)
    assert low <= mean <= high


@pytest.mark.parametrize("n", [3, 10])
def test_default_interval_coverage(n: int) -> None:
    # Each column is one trial: n normal draws whose true mean is 0.
    samples = np.random.default_rng(20250611 + n).normal(loc=0.0, scale=1.0, size=(n, COVERAGE_TRIALS))

    _, lows, highs = mean_interval_by_column(samples, confidence=COVERAGE_CONFIDENCE)

    coverage = np.mean((lows <= 0.0) & (highs >= 0.0))
    assert abs(coverage - COVERAGE_CONFIDENCE) <= COVERAGE_TOLERANCE, f"coverage {coverage:.4f} at n = {n}"


def test_mean_interval_default_is_student_t() -> None:
    sample = np.array([3.1, -0.4, 1.7])
    expected = scipy_stats.ttest_1samp(sample, 0.0).confidence_interval(confidence_level=0.90)

    mean, low, high = mean_interval(sample, confidence=0.90)

    assert mean == pytest.approx(sample.mean())
    assert low == pytest.approx(expected.low)
    assert high == pytest.approx(expected.high)


def test_two_values_give_wide_interval() -> None:
    # With 2 values the t quantile is 12.71, so the interval is mean ± 12.71 × |a - b| / 2.
    mean, low, high = mean_interval([1.0, 3.0])

    assert mean == 2.0
    assert low == pytest.approx(2.0 - 12.7062, abs=1e-3)
    assert high == pytest.approx(2.0 + 12.7062, abs=1e-3)


def test_bootstrap_stays_available() -> None:
    sample = np.random.default_rng(5).normal(size=12)

    t_interval = mean_interval(sample)
    bca_interval = mean_interval(sample, method="BCa")
    percentile_interval = mean_interval(sample, method="percentile")

    assert bca_interval[0] == t_interval[0]
    assert bca_interval[1:] != t_interval[1:]
    assert percentile_interval[1:] != t_interval[1:]
    assert bca_interval[1] < bca_interval[0] < bca_interval[2]


def test_mean_interval_rejects_unknown_method() -> None:
    with pytest.raises(ValueError, match="method must be one of t, BCa, percentile, got 'bca'"):
        mean_interval([1.0, 2.0, 3.0], method="bca")  # type: ignore[arg-type]


def test_mean_interval_rejects_bad_confidence() -> None:
    with pytest.raises(ValueError, match="confidence must be between 0 and 1"):
        mean_interval([1.0, 2.0], confidence=95)


def test_mean_interval_rejects_matrix() -> None:
    with pytest.raises(ValueError, match="values must be 1-D"):
        mean_interval(np.ones((3, 2)))


def test_mean_interval_by_column_edge_cases() -> None:
    matrix = np.array([[1.0, 5.0, 0.0], [2.0, 5.0, 10.0], [3.0, 5.0, 20.0], [4.0, 5.0, 30.0]])

    means, lows, highs = mean_interval_by_column(matrix)

    assert means.tolist() == [2.5, 5.0, 15.0]
    assert lows[1] == highs[1] == 5.0
    assert lows[0] < 2.5 < highs[0]
    assert lows[2] < 15.0 < highs[2]


def test_mean_interval_by_column_one_row() -> None:
    means, lows, highs = mean_interval_by_column(np.array([[1.0, 2.0]]))

    assert means.tolist() == [1.0, 2.0]
    assert np.isnan(lows).all()
    assert np.isnan(highs).all()


def test_mean_interval_by_column_rejects_nan() -> None:
    with pytest.raises(ValueError, match="matrix contains NaN"):
        mean_interval_by_column(np.array([[1.0, np.nan], [2.0, 3.0]]))


def test_paired_difference_constant_shift() -> None:
    a = pd.Series([10.0, 12.0, 9.0, 15.0], index=[1, 2, 3, 4])
    b = a - 2.0

    assert paired_difference(a, b) == (2.0, 2.0, 2.0)


def test_paired_difference_aligns_by_seed() -> None:
    a = {1: 10.0, 2: 20.0, 3: 30.0}
    b = pd.Series([29.0, 9.0, 19.0], index=[3, 1, 2])

    assert paired_difference(a, b) == (1.0, 1.0, 1.0)


def test_paired_difference_cancels_seed_effect() -> None:
    rng = np.random.default_rng(11)
    seed_effect = rng.normal(scale=100.0, size=20)
    a = pd.Series(seed_effect + 5.0 + rng.normal(scale=1.0, size=20), index=range(20))
    b = pd.Series(seed_effect + rng.normal(scale=1.0, size=20), index=range(20))

    mean, low, high = paired_difference(a, b)

    assert low < 5.0 < high
    assert mean == pytest.approx(5.0, abs=1.0)
    assert high - low < 3.0


def test_paired_difference_default_is_paired_t() -> None:
    a = pd.Series([10.0, 14.0, 9.0, 13.0], index=[1, 2, 3, 4])
    b = pd.Series([9.5, 12.0, 9.2, 11.0], index=[1, 2, 3, 4])
    expected = scipy_stats.ttest_rel(a, b).confidence_interval(confidence_level=0.95)

    mean, low, high = paired_difference(a, b)

    assert mean == pytest.approx((a - b).mean())
    assert low == pytest.approx(expected.low)
    assert high == pytest.approx(expected.high)


def test_paired_difference_names_missing_seeds() -> None:
    a = pd.Series([1.0, 2.0, 3.0], index=[1, 2, 3])
    b = pd.Series([1.0, 2.0, 4.0], index=np.array([1, 2, 4], dtype=np.int64))

    with pytest.raises(ValueError, match=r"seeds \[4\] are missing from a and seeds \[3\] are missing from b"):
        paired_difference(a, b)


def test_paired_difference_rejects_repeated_seeds() -> None:
    a = pd.Series([1.0, 2.0, 3.0], index=[1, 1, 2])
    b = pd.Series([1.0, 2.0], index=[1, 2])

    with pytest.raises(ValueError, match=r"seeds \[1\] appear more than once in a"):
        paired_difference(a, b)


def test_summarise_shape_and_values() -> None:
    metrics = pd.DataFrame(
        {
            "policy": ["b"] * 3 + ["a"] * 3,
            "seed": [1, 2, 3] * 2,
            "recovery_rate": [0.2, 0.2, 0.2, 0.1, 0.3, 0.2],
            "clv_lost": [5.0, 6.0, 7.0, 1.0, 1.0, 1.0],
        }
    )

    summary = summarise(metrics, ["recovery_rate", "clv_lost"])

    assert summary.index.tolist() == ["b", "a"]
    assert summary.index.name == "policy"
    assert summary.columns.tolist() == [
        ("recovery_rate", "mean"),
        ("recovery_rate", "low"),
        ("recovery_rate", "high"),
        ("clv_lost", "mean"),
        ("clv_lost", "low"),
        ("clv_lost", "high"),
    ]
    assert summary.loc["b", ("recovery_rate", "low")] == pytest.approx(0.2)
    assert summary.loc["a", ("clv_lost", "high")] == 1.0
    assert summary.loc["b", ("clv_lost", "mean")] == 6.0
    assert summary.loc["a", ("recovery_rate", "low")] < 0.2 < summary.loc["a", ("recovery_rate", "high")]
    expected = scipy_stats.ttest_1samp([0.1, 0.3, 0.2], 0.0).confidence_interval()
    assert summary.loc["a", ("recovery_rate", "low")] == pytest.approx(expected.low)
    assert summary.loc["a", ("recovery_rate", "high")] == pytest.approx(expected.high)


def test_summarise_other_grouping() -> None:
    metrics = pd.DataFrame({"scenario": ["x", "x", "y", "y"], "collected": [1.0, 3.0, 10.0, 10.0]})

    summary = summarise(metrics, ["collected"], by="scenario")

    assert summary.loc["x", ("collected", "mean")] == 2.0
    assert summary.loc["y", ("collected", "low")] == 10.0


def test_summarise_rejects_unknown_column() -> None:
    metrics = pd.DataFrame({"policy": ["a"], "collected": [1.0]})

    with pytest.raises(ValueError, match=r"metrics has no column \['recovery'\]"):
        summarise(metrics, ["recovery"])
