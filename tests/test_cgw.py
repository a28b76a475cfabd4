"""The self-exciting repayment model of Chehrazi, Glynn & Weber (2019) reproduces the paper's account values."""

from __future__ import annotations

import pytest

from sim.cgw import PUBLISHED_UNTREATED_VALUES, SelfExcitingRepayment


@pytest.mark.parametrize(("lambda_0", "published"), sorted(PUBLISHED_UNTREATED_VALUES.items()))
def test_untreated_value_matches_paper(lambda_0: float, published: float) -> None:
    estimate, error = SelfExcitingRepayment().untreated_value(lambda_0, n_paths=200_000)

    assert error < 0.001
    # The paper gives four decimals, so its rounding adds up to 0.00005 to the Monte Carlo error.
    assert abs(estimate - published) < 3 * error + 0.00005, (estimate, error)


def test_constant_intensity_matches_closed_form() -> None:
    # Without self-excitation and with the intensity at its long-run level, repayments are a Poisson process of rate
    # λ, and the value per unit of balance solves u = λ / (λ + ρ) × (E[r] + (1 - E[r]) u): u = λ E[r] / (ρ + λ E[r]).
    model = SelfExcitingRepayment(delta_10=0.0, delta_11=0.0, lambda_inf=0.1)
    mean_fraction = (model.r_low + model.r_high) / 2

    estimate, error = model.untreated_value(0.1, n_paths=200_000)

    closed_form = 0.1 * mean_fraction / (model.rho + 0.1 * mean_fraction)
    assert closed_form == pytest.approx(0.47826, abs=1e-5)
    assert abs(estimate - closed_form) < 4 * error, (estimate, error, closed_form)


def test_same_seed_same_value() -> None:
    model = SelfExcitingRepayment()

    assert model.untreated_value(0.5, n_paths=1_000, seed=3) == model.untreated_value(0.5, n_paths=1_000, seed=3)
    assert model.untreated_value(0.5, n_paths=1_000, seed=3) != model.untreated_value(0.5, n_paths=1_000, seed=4)


@pytest.mark.parametrize(("lambda_0", "n_paths", "message"), [(0.0, 100, "lambda_0"), (0.1, 1, "n_paths")])
def test_invalid_arguments_rejected(lambda_0: float, n_paths: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SelfExcitingRepayment().untreated_value(lambda_0, n_paths=n_paths)
