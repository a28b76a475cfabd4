"""Tests for the statistics over seeds in experiments.stats: intervals, IQM, probability of improvement, test size."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from experiments.stats import (
    SeedCounts,
    binomial_interval,
    bound_interval,
    clustered_bootstrap,
    clustered_mean_interval,
    count_seeds,
    iqm,
    live_test_size,
    mean_interval,
    mean_interval_by_column,
    paired_difference,
    probability_of_improvement,
    stratified_bootstrap,
    stratified_mean_interval,
    summarise,
)

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


# -- interquartile mean -----------------------------------------------------------------------------------------


def test_iqm_drops_quarter_at_each_end() -> None:
    # 8 values: the lowest 2 and the highest 2 go, leaving 3, 4, 5, 6.
    assert iqm(np.array([1.0, 2.0, 3.0, 4.0, 100.0, 5.0, 6.0, 7.0])) == 4.5


def test_iqm_of_three_values_is_mean() -> None:
    # floor(0.25 × 3) = 0 values are trimmed at each end.
    assert iqm(np.array([1.0, 2.0, 9.0])) == 4.0


def test_iqm_along_axis() -> None:
    values = np.array([[1.0, 2.0, 3.0, 50.0], [0.0, 0.0, 4.0, 4.0]])

    assert iqm(values, axis=1).tolist() == [2.5, 2.0]


# -- stratified bootstrap -----------------------------------------------------------------------------------------


def test_stratified_bootstrap_keeps_strata_apart() -> None:
    # Each resample draws 2 values from {0, 1} and 2 from {10, 11}, so the pooled mean lies in [5, 6]. Both ends
    # have probability 1/16, above 2.5%, so they are the bounds.
    estimate, low, high = stratified_bootstrap([[0.0, 1.0], [10.0, 11.0]], np.mean)

    assert estimate == 5.5
    assert low == 5.0
    assert high == 6.0


def test_unstratified_bootstrap_is_wider() -> None:
    _, low, high = stratified_bootstrap([[0.0, 1.0, 10.0, 11.0]], np.mean)

    assert high - low > 3.0


def test_stratified_bootstrap_one_value_stratum_is_fixed() -> None:
    # The stratum {10} enters every resample. Resamples of {0, 1} have means 0, 0.5 and 1 with probabilities
    # 1/4, 1/2 and 1/4, so the pooled mean is 10/3, 11/3 or 4.
    estimate, low, high = stratified_bootstrap([[0.0, 1.0], [10.0]], np.mean)

    assert estimate == pytest.approx(11 / 3)
    assert low == pytest.approx(10 / 3)
    assert high == pytest.approx(4.0)


def test_stratified_bootstrap_edge_cases() -> None:
    assert all(math.isnan(value) for value in stratified_bootstrap([[], [np.nan]], np.mean))
    # Pooled 2, 2, 4, 4, 4: one value is trimmed at each end, leaving 2, 4, 4.
    assert stratified_bootstrap([[2.0, 2.0], [4.0, 4.0, 4.0]], iqm) == pytest.approx((10 / 3, 10 / 3, 10 / 3))
    estimate, low, high = stratified_bootstrap([[7.0], [9.0]], np.mean)
    assert estimate == 8.0
    assert math.isnan(low)
    assert math.isnan(high)


def test_stratified_bootstrap_drops_nan() -> None:
    with_nan = stratified_bootstrap([[0.0, 1.0, np.nan], [10.0, 11.0]], np.mean)

    assert with_nan == stratified_bootstrap([[0.0, 1.0], [10.0, 11.0]], np.mean)


def test_stratified_bootstrap_reproducible_by_seed() -> None:
    sample = np.random.default_rng(4).normal(size=(2, 12))

    first = stratified_bootstrap(list(sample), iqm, seed=1)

    assert first == stratified_bootstrap(list(sample), iqm, seed=1)
    assert first != stratified_bootstrap(list(sample), iqm, seed=2)


def test_stratified_bootstrap_bca() -> None:
    sample = np.random.default_rng(9).normal(loc=3.0, size=(2, 20))

    estimate, low, high = stratified_bootstrap(list(sample), np.mean, method="BCa")

    assert low < estimate < high


def test_stratified_bootstrap_rejects_t() -> None:
    with pytest.raises(ValueError, match="needs a bootstrap method"):
        stratified_bootstrap([[1.0, 2.0]], np.mean, method="t")  # type: ignore[arg-type]


# -- stratified Student t -----------------------------------------------------------------------------------------


def test_stratified_t_one_stratum_is_student_t() -> None:
    sample = [3.1, -0.4, 1.7, 2.2]

    assert stratified_mean_interval([sample]) == pytest.approx(mean_interval(sample))


def test_stratified_t_by_hand() -> None:
    # Strata {1, 2, 3} (mean 2, variance 1) and {10, 14} (mean 12, variance 8); N = 5, so the weights are 3/5 and
    # 2/5. Variance of the mean: 0.36 × 1 / 3 + 0.16 × 8 / 2 = 0.12 + 0.64 = 0.76. Welch-Satterthwaite degrees of
    # freedom: 0.76² / (0.12² / 2 + 0.64² / 1) = 0.5776 / 0.4168.
    half_width = scipy_stats.t.ppf(0.975, df=0.5776 / 0.4168) * math.sqrt(0.76)

    mean, low, high = stratified_mean_interval([[1.0, 2.0, 3.0], [10.0, 14.0]])

    assert mean == 6.0
    assert low == pytest.approx(6.0 - half_width)
    assert high == pytest.approx(6.0 + half_width)


def test_stratified_t_edge_cases() -> None:
    mean, low, high = stratified_mean_interval([[1.0, 2.0], [5.0]])
    assert mean == pytest.approx(8 / 3)
    assert math.isnan(low)
    assert math.isnan(high)
    assert stratified_mean_interval([[2.0, 2.0], [6.0, 6.0]]) == (4.0, 4.0, 4.0)
    assert all(math.isnan(value) for value in stratified_mean_interval([[]]))


# -- seeds shared across strata -----------------------------------------------------------------------------------


def test_clustered_t_duplicate_stratum_adds_nothing() -> None:
    sample = [3.1, -0.4, 1.7, 2.2, 0.9]
    seeds = list(range(5))

    pooled = clustered_mean_interval(sample + sample, ["a"] * 5 + ["b"] * 5, seeds + seeds)

    assert pooled == pytest.approx(mean_interval(sample))


def test_clustered_t_is_per_seed_average() -> None:
    first = np.array([10.0, 12.0, 9.0, 14.0])
    second = np.array([1.0, 4.0, 0.0, 3.0])

    pooled = clustered_mean_interval(np.concatenate([first, second]), ["a"] * 4 + ["b"] * 4, [0, 1, 2, 3, 0, 1, 2, 3])

    assert pooled == pytest.approx(mean_interval((first + second) / 2))


def test_clustered_t_covers_correlated_strata() -> None:
    # Three scenarios whose values on one seed are correlated at 0.98, as under common random numbers.
    rng = np.random.default_rng(7)
    means = np.array([100.0, 90.0, 95.0])
    covariance = np.full((3, 3), 0.98) + 0.02 * np.eye(3)
    factor = np.linalg.cholesky(covariance)
    seeds = np.arange(8)
    covered = 0
    trials = 1000
    for _ in range(trials):
        values = means[:, None] + 10.0 * (factor @ rng.standard_normal((3, seeds.size)))
        _, low, high = clustered_mean_interval(values.ravel(), np.repeat([0, 1, 2], seeds.size), np.tile(seeds, 3))
        covered += low <= means.mean() <= high

    assert 0.93 <= covered / trials <= 0.97


def test_clustered_bootstrap_duplicate_stratum_adds_nothing() -> None:
    sample = np.array([3.1, -0.4, 1.7, 2.2, 0.9, 5.0])
    seeds = np.arange(6)

    single = clustered_bootstrap(sample, seeds, np.mean)
    doubled = clustered_bootstrap(np.concatenate([sample, sample]), np.concatenate([seeds, seeds]), np.mean)

    assert doubled == pytest.approx(single)


def test_summarise_with_clusters_uses_seeds() -> None:
    frame = pd.DataFrame(
        {
            "policy": ["p"] * 8,
            "scenario": ["a"] * 4 + ["b"] * 4,
            "seed": [0, 1, 2, 3] * 2,
            "npv": [10.0, 12.0, 9.0, 14.0, 10.0, 12.0, 9.0, 14.0],
        }
    )

    summary = summarise(frame, ["npv"], strata="scenario", clusters="seed", with_iqm=True)

    _, low, high = mean_interval([10.0, 12.0, 9.0, 14.0])
    assert summary.loc["p", ("npv", "low")] == pytest.approx(low)
    assert summary.loc["p", ("npv", "high")] == pytest.approx(high)


# -- probability of improvement -----------------------------------------------------------------------------------


def test_probability_of_improvement_counts_ties_half() -> None:
    challenger = {1: 5.0, 2: 3.0, 3: 4.0, 4: 4.0}
    champion = {1: 4.0, 2: 3.5, 3: 4.0, 4: 1.0}

    probability, low, high = probability_of_improvement(challenger, champion)

    # Seeds 1 and 4 win, seed 2 loses, seed 3 ties: (1 + 0 + 0.5 + 1) / 4.
    assert probability == 0.625
    assert 0.0 <= low < probability < high <= 1.0


def test_probability_of_improvement_all_wins() -> None:
    # Three wins in three seeds do not prove that the challenger always wins: the Clopper-Pearson lower bound of
    # 3 successes in 3 trials is 0.025 ** (1 / 3).
    challenger = pd.Series([2.0, 3.0, 4.0], index=[7, 8, 9])

    probability, low, high = probability_of_improvement(challenger, challenger - 1.0)

    assert probability == 1.0
    assert low == pytest.approx(0.025 ** (1 / 3))
    assert high == 1.0


def test_probability_of_improvement_no_wins() -> None:
    champion = pd.Series([2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0])

    probability, low, high = probability_of_improvement(champion - 1.0, champion)

    assert probability == 0.0
    assert low == 0.0
    assert high == pytest.approx(1 - 0.025 ** (1 / 10))


def test_binomial_interval_matches_scipy() -> None:
    for successes, trials in ((0, 10), (2, 10), (7, 9), (5, 5)):
        expected = scipy_stats.binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="exact")

        share, low, high = binomial_interval(successes, trials)

        assert share == successes / trials
        assert low == pytest.approx(expected.low)
        assert high == pytest.approx(expected.high)


def test_probability_of_improvement_by_stratum() -> None:
    # The challenger wins both seeds of scenario x and loses both of y. Within each stratum the outcome never
    # varies, so the stratified interval is the point 0.5.
    index = pd.MultiIndex.from_tuples([("x", 1), ("x", 2), ("y", 1), ("y", 2)], names=["scenario", "seed"])
    challenger = pd.Series([2.0, 2.0, 0.0, 0.0], index=index)
    champion = pd.Series([1.0, 1.0, 1.0, 1.0], index=index)
    strata = pd.Series(index.get_level_values("scenario"), index=index)

    stratified = probability_of_improvement(challenger, champion, strata=strata)
    pooled = probability_of_improvement(challenger, champion)

    assert stratified == (0.5, 0.5, 0.5)
    assert pooled[0] == 0.5
    assert pooled[2] - pooled[1] >= 0.5


def test_probability_of_improvement_drops_nan_pairs() -> None:
    challenger = {1: 2.0, 2: np.nan, 3: 0.0}
    champion = {1: 1.0, 2: 1.0, 3: 1.0}

    assert probability_of_improvement(challenger, champion)[0] == 0.5


def test_probability_of_improvement_needs_pairs() -> None:
    with pytest.raises(ValueError, match=r"seeds \[3\] are missing from b"):
        probability_of_improvement({1: 1.0, 3: 2.0}, {1: 1.0})


def test_probability_of_improvement_needs_stratum_per_seed() -> None:
    with pytest.raises(ValueError, match="strata has no stratum for"):
        probability_of_improvement({1: 1.0, 2: 2.0}, {1: 0.0, 2: 0.0}, strata={1: "x"})


# -- live test size -----------------------------------------------------------------------------------------------

# z(0.975) + z(0.8) = 1.959964 + 0.841621 = 2.801585, squared 7.848879.
Z_SQUARED = 7.848879


def test_live_test_size_even_split() -> None:
    # A difference of one standard deviation: 7.848879 × (1 + 1) / 1 = 15.7 accounts per arm, rounded up.
    size = live_test_size(1.0, 1.0, 1.0)

    assert size is not None
    assert size.challenger == 16
    assert size.champion == 16
    assert size.total == 32


def test_live_test_size_ninety_ten() -> None:
    # Nine champion accounts per challenger account: 7.848879 × (1 + 1 / 9) = 8.72 challenger accounts, and the
    # champion arm nine times that, 78.5.
    size = live_test_size(1.0, 1.0, 1.0, challenger_share=0.1)

    assert size is not None
    assert size.challenger == 9
    assert size.champion == 79
    assert Z_SQUARED * (1 + 1 / 9) == pytest.approx(8.7210, abs=1e-4)


def test_live_test_size_unequal_spread() -> None:
    # 7.848879 × (3² + 4²) / 2² = 49.06 per arm.
    size = live_test_size(-2.0, 3.0, 4.0)

    assert size is not None
    assert size.challenger == 50
    assert size.champion == 50


def test_live_test_size_needs_a_difference() -> None:
    assert live_test_size(0.0, 1.0, 1.0) is None
    assert live_test_size(float("nan"), 1.0, 1.0) is None
    assert live_test_size(1.0, float("nan"), 1.0) is None


@pytest.mark.parametrize("keyword", ["challenger_share", "power", "significance"])
def test_live_test_size_rejects_bad_fraction(keyword: str) -> None:
    with pytest.raises(ValueError, match=f"{keyword} must be between 0 and 1"):
        live_test_size(1.0, 1.0, 1.0, **{keyword: 1.0})


# -- summarise with IQM and strata --------------------------------------------------------------------------------


def test_summarise_adds_iqm() -> None:
    metrics = pd.DataFrame({"policy": ["a"] * 5, "collected": [1.0, 2.0, 3.0, 100.0, 4.0]})

    summary = summarise(metrics, ["collected"], with_iqm=True)

    # Five seeds: the lowest and the highest are trimmed, leaving 2, 3 and 4.
    assert summary.columns.get_level_values(1).tolist() == ["mean", "low", "high", "iqm", "iqm_low", "iqm_high"]
    assert summary.loc["a", ("collected", "mean")] == 22.0
    assert summary.loc["a", ("collected", "iqm")] == 3.0
    assert summary.loc["a", ("collected", "iqm_low")] <= 3.0 <= summary.loc["a", ("collected", "iqm_high")]


def test_summarise_iqm_three_seeds() -> None:
    metrics = pd.DataFrame({"policy": ["a"] * 3, "collected": [10.0, 20.0, 60.0]})

    summary = summarise(metrics, ["collected"], with_iqm=True)

    # Three seeds trim nothing, so the IQM is the mean, with the mean's Student-t interval: about -36 to 96, where a
    # percentile bootstrap of the three values gives 10 to 60, their range.
    mean, low, high = mean_interval([10.0, 20.0, 60.0])
    assert summary.loc["a", ("collected", "iqm")] == mean
    assert summary.loc["a", ("collected", "iqm_low")] == low
    assert summary.loc["a", ("collected", "iqm_high")] == high
    assert low < 0.0


def test_summarise_clustered_iqm_three_seeds() -> None:
    frame = pd.DataFrame(
        {
            "policy": ["p"] * 6,
            "scenario": ["a"] * 3 + ["b"] * 3,
            "seed": [0, 1, 2] * 2,
            "npv": [10.0, 12.0, 9.0, 30.0, 20.0, 40.0],
        }
    )

    summary = summarise(frame, ["npv"], strata="scenario", clusters="seed", with_iqm=True)

    # The IQM pools each seed's average over the scenarios: 20, 16 and 24.5.
    assert tuple(summary.loc["p", "npv"][["iqm", "iqm_low", "iqm_high"]]) == mean_interval([20.0, 16.0, 24.5])


def test_summarise_stratified_t() -> None:
    metrics = pd.DataFrame(
        {"policy": ["a"] * 5, "scenario": ["x", "x", "x", "y", "y"], "collected": [1.0, 2.0, 3.0, 10.0, 14.0]}
    )

    summary = summarise(metrics, ["collected"], strata="scenario")

    expected = stratified_mean_interval([[1.0, 2.0, 3.0], [10.0, 14.0]])
    assert tuple(summary.loc["a", "collected"]) == pytest.approx(expected)


def test_summarise_stratified_bootstrap() -> None:
    metrics = pd.DataFrame({"policy": ["a"] * 4, "scenario": ["x", "x", "y", "y"], "collected": [0.0, 1.0, 10.0, 11.0]})

    summary = summarise(metrics, ["collected"], strata="scenario", method="percentile", with_iqm=True)

    assert tuple(summary.loc["a", "collected"]) == (5.5, 5.0, 6.0, 5.5, 5.0, 6.0)


# -- seed counts and interval bounds ------------------------------------------------------------------------------


def test_count_seeds_higher_lower_tied() -> None:
    challenger = {1: 5.0, 2: 3.0, 3: 4.0, 4: 4.0, 5: math.nan}
    champion = {1: 4.0, 2: 3.5, 3: 4.0, 4: 1.0, 5: 2.0}

    counts = count_seeds(challenger, champion)

    # Seeds 1 and 4 higher, seed 2 lower, seed 3 tied. Seed 5 has a NaN and is dropped.
    assert counts == SeedCounts(higher=2, lower=1, tied=1)
    assert counts.total == 4


def test_count_seeds_aligns_by_seed() -> None:
    challenger = pd.Series([1.0, 10.0], index=[2, 1])
    champion = pd.Series([5.0, 0.0], index=[1, 2])

    assert count_seeds(challenger, champion) == SeedCounts(higher=2, lower=0, tied=0)


def test_count_seeds_names_missing_seeds() -> None:
    with pytest.raises(ValueError, match=r"seeds \[3\] are missing from a"):
        count_seeds({1: 1.0}, {1: 1.0, 3: 2.0})


def test_bound_interval_cuts_each_side() -> None:
    assert bound_interval(-0.05, 1.2, floor=0.0, ceiling=1.0) == (0.0, 1.0)
    assert bound_interval(-0.05, 1.2, floor=0.0) == (0.0, 1.2)
    assert bound_interval(-0.05, 1.2) == (-0.05, 1.2)
    # Bounds inside the range stay as they are.
    assert bound_interval(0.2, 0.4, floor=0.0, ceiling=1.0) == (0.2, 0.4)


def test_bound_interval_keeps_nan() -> None:
    low, high = bound_interval(math.nan, math.nan, floor=0.0, ceiling=1.0)

    assert math.isnan(low)
    assert math.isnan(high)


def test_probability_of_improvement_clustered_never_collapses() -> None:
    # The challenger loses on each of 5 seeds in both scenarios. A bootstrap over identical seeds is the point 0,
    # but 5 seeds give the Clopper-Pearson upper bound 1 - 0.025 ** (1 / 5), as in one scenario.
    index = pd.MultiIndex.from_product([["x", "y"], range(5)], names=["scenario", "seed"])
    champion = pd.Series(np.arange(10.0), index=index)
    seeds = pd.Series(index.get_level_values("seed"), index=index)

    probability, low, high = probability_of_improvement(champion - 1.0, champion, clusters=seeds)

    assert probability == 0.0
    assert low == 0.0
    assert high == pytest.approx(1 - 0.025 ** (1 / 5))
