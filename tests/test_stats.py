"""Tests for the bootstrap intervals over seeds in experiments.stats."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from experiments.stats import mean_interval, mean_interval_by_column, paired_difference, summarise


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


@pytest.mark.parametrize("method", ["BCa", "percentile"])
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

    assert mean_interval(sample, seed=5) == mean_interval(sample, seed=5)
    assert mean_interval(sample, seed=5) != mean_interval(sample, seed=6)


def test_mean_interval_near_constant_falls_back() -> None:
    # Values equal up to rounding make BCa undefined; the percentile fallback still gives finite bounds.
    sample = np.array([0.1 + 0.2, 0.3, 0.3, 0.1 + 0.2, 0.3])

    mean, low, high = mean_interval(sample)

    assert math.isfinite(low)
    assert math.isfinite(high)
    assert low <= mean <= high


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


def test_summarise_other_grouping() -> None:
    metrics = pd.DataFrame({"scenario": ["x", "x", "y", "y"], "collected": [1.0, 3.0, 10.0, 10.0]})

    summary = summarise(metrics, ["collected"], by="scenario")

    assert summary.loc["x", ("collected", "mean")] == 2.0
    assert summary.loc["y", ("collected", "low")] == 10.0


def test_summarise_rejects_unknown_column() -> None:
    metrics = pd.DataFrame({"policy": ["a"], "collected": [1.0]})

    with pytest.raises(ValueError, match=r"metrics has no column \['recovery'\]"):
        summarise(metrics, ["recovery"])
