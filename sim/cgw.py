"""The self-exciting repayment model of Chehrazi, Glynn & Weber, reproduced by Monte Carlo as a validation check.

Chehrazi, N., Glynn, P. W. and Weber, T. A. (2019), "Dynamic Credit-Collections Optimization", Management Science
65(6), 2737-2769, doi:10.1287/mnsc.2018.3070. An account repays in random events whose intensity ``λ`` excites
itself: between events it decays exponentially toward ``λ∞`` at rate ``κ``, and each repayment of a fraction ``r``
of the remaining balance raises it by ``δ10 + δ11 r``. The value of an untreated account is the expected present
value, at rate ``ρ``, of its repayments as a fraction of its balance. The paper's collection actions (each raising
``λ`` by ``δ2`` at a cost ``c``) are not simulated here.

arrears' own engine does not use this model. It is here so that the validation suite reproduces a published
result: with the paper's example parameters and ``r`` uniform on [0.1, 1], an untreated account is worth about
0.5105 of its balance at ``λ0 = 0.11`` and 0.7431 at ``λ0 = 1.0``. ``python -m sim.cgw`` prints both estimates.

NOTE: the two target values and the parameters were not checked against the paper's text. This simulation
reproduces them, which an error in either would make unlikely but not impossible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: A path stops once its remaining balance, discounted to time 0, is below this fraction of the opening balance: its
#: later repayments could add at most that much to the value.
NEGLIGIBLE_VALUE = 1e-7


@dataclass(frozen=True)
class SelfExcitingRepayment:
    """Parameters of the repayment intensity and the repayment fraction; defaults are the paper's example.

    Rates are per year: ``lambda_inf`` is the long-run intensity, ``kappa`` the decay rate toward it, ``delta_10``
    and ``delta_11`` the jump after a repayment of fraction ``r`` (``delta_10 + delta_11 * r``), ``rho`` the discount
    rate. Each repayment fraction is uniform on ``[r_low, r_high]``.
    """

    lambda_inf: float = 0.10
    kappa: float = 0.7
    delta_10: float = 0.02
    delta_11: float = 0.5
    rho: float = 0.06
    r_low: float = 0.1
    r_high: float = 1.0

    def untreated_value(self, lambda_0: float, n_paths: int = 200_000, seed: int = 0) -> tuple[float, float]:
        """Estimate the present value of an untreated account's repayments per unit of balance, with its standard
        error: ``(estimate, standard_error)`` over ``n_paths`` simulated accounts starting at intensity ``lambda_0``.

        Repayment times are drawn exactly by thinning (Ogata's method). From a state at time ``s`` the intensity
        ``λ∞ + (λ_s - λ∞) e^{-κ(t - s)}`` never exceeds ``max(λ_s, λ∞)``, so a candidate drawn at that rate is kept
        with probability intensity / bound, and the search restarts from each candidate's time.
        """
        if not lambda_0 > 0:
            raise ValueError(f"lambda_0 must be above 0, got {lambda_0!r}")
        if n_paths < 2:
            raise ValueError(f"n_paths must be at least 2 for a standard error, got {n_paths!r}")
        rng = np.random.default_rng(seed)
        time = np.zeros(n_paths)
        intensity = np.full(n_paths, float(lambda_0))
        remaining = np.ones(n_paths)  # fraction of the opening balance still owed
        value = np.zeros(n_paths)
        active = np.arange(n_paths)
        while len(active):
            bound = np.maximum(intensity[active], self.lambda_inf)
            wait = rng.exponential(1.0 / bound)
            decayed = self.lambda_inf + (intensity[active] - self.lambda_inf) * np.exp(-self.kappa * wait)
            time[active] += wait
            intensity[active] = decayed
            repaid = active[rng.random(len(active)) * bound <= decayed]
            fraction = rng.uniform(self.r_low, self.r_high, len(repaid))
            value[repaid] += np.exp(-self.rho * time[repaid]) * remaining[repaid] * fraction
            remaining[repaid] *= 1.0 - fraction
            intensity[repaid] += self.delta_10 + self.delta_11 * fraction
            active = active[np.exp(-self.rho * time[active]) * remaining[active] >= NEGLIGIBLE_VALUE]
        return float(value.mean()), float(value.std(ddof=1) / math.sqrt(n_paths))


#: The untreated values that the paper reports for its example, by starting intensity.
PUBLISHED_UNTREATED_VALUES = {0.11: 0.5105, 1.0: 0.7431}


def main() -> None:
    model = SelfExcitingRepayment()
    for lambda_0, published in PUBLISHED_UNTREATED_VALUES.items():
        estimate, error = model.untreated_value(lambda_0, n_paths=1_000_000)
        print(f"λ0 = {lambda_0}: {estimate:.4f} ± {1.96 * error:.4f} (95%), published {published}")


if __name__ == "__main__":
    main()
