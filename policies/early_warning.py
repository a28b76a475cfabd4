"""Early-warning score: the probability that an account rolls to a worse bucket within 30 days.

The classifier is a scikit-learn logistic regression on the observable features of :mod:`sim.features`, trained on
simulated account histories (of any scenario, including one calibrated from a lender's data). The label of an
account observed on day ``d`` is 1 when, on day ``d + horizon``, it has more unpaid minimum payments than on day
``d`` or has been charged off. A fitted model is a handful of numbers, so it is stored as YAML (never a pickle) and
scored with numpy. ``arrears fit-score`` refits the shipped one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sim.atomic import atomic_write_text
from sim.engine import CHARGED_OFF, PortfolioModel
from sim.errors import ConfigError, short_repr
from sim.features import FEATURE_NAMES, feature_matrix
from sim.observation import Observation
from sim.scenario import Scenario, load_yaml_mapping

SHIPPED_SCORE_DIR = Path(__file__).parent / "scores"
#: Days ahead over which a roll is predicted.
HORIZON_DAYS = 30
#: Top-level keys of a score YAML, as :meth:`EarlyWarningModel.to_dict` writes them.
SCORE_KEYS = ("kind", "horizon_days", "intercept", "coefficients", "metadata")


@dataclass(frozen=True)
class RollHistory:
    """Snapshots of accounts on sample days: their features then, and whether they rolled within the horizon."""

    features: np.ndarray  # (n_samples, len(FEATURE_NAMES)) float32
    rolled: np.ndarray  # (n_samples,) bool
    day: np.ndarray  # (n_samples,) day of the snapshot
    account: np.ndarray  # (n_samples,) account index within the simulated portfolio


class _Recorder:
    """Wrap a policy and keep the observations it receives on the requested days."""

    def __init__(self, policy, days: set[int]) -> None:
        self.policy = policy
        self.name = policy.name
        self.days = days
        self.seen: dict[int, Observation] = {}

    def bind(self, model: PortfolioModel) -> None:
        if hasattr(self.policy, "bind"):
            self.policy.bind(model)

    def decide(self, obs: Observation) -> np.ndarray:
        if obs.day in self.days:
            self.seen[obs.day] = obs
        return self.policy.decide(obs)


def roll_history(
    scenario: Scenario,
    policy,
    n_accounts: int,
    days: int,
    seed: int,
    every: int = 10,
    horizon: int = HORIZON_DAYS,
) -> RollHistory:
    """Simulate ``policy`` and label each active account on days 0, ``every``, 2 ``every``, ... by a roll.

    Only snapshot days at least ``horizon`` days before the end are labelled. Charge-off counts as a roll.
    """
    if days <= horizon:
        raise ValueError(f"days ({days}) must exceed the horizon ({horizon}) to label any snapshot")
    snapshot_days = list(range(0, days - horizon, every))
    wanted = set(snapshot_days) | {d + horizon for d in snapshot_days}
    recorder = _Recorder(policy, wanted)
    model = PortfolioModel(scenario, recorder, n_accounts=n_accounts, days=days, seed=seed)
    charged_off_day = np.full(n_accounts, np.iinfo(np.int64).max)
    while model.day < model.days:
        model.step()
        newly = (model.status == CHARGED_OFF) & (charged_off_day == np.iinfo(np.int64).max)
        charged_off_day[newly] = model.day - 1

    features, rolled, sample_day, account = [], [], [], []
    for d in snapshot_days:
        now, later = recorder.seen[d], recorder.seen[d + horizon]
        index = np.flatnonzero(now.active)
        worse = later.cycles_past_due[index] > now.cycles_past_due[index]
        charged_off = charged_off_day[index] < d + horizon
        features.append(feature_matrix(now, index))
        rolled.append(worse | charged_off)
        sample_day.append(np.full(len(index), d))
        account.append(index)
    return RollHistory(
        features=np.vstack(features),
        rolled=np.concatenate(rolled),
        day=np.concatenate(sample_day),
        account=np.concatenate(account),
    )


class ThinHistoryError(ValueError):
    """A simulated history too small to fit or measure the score: all its snapshots rolled, or none did."""


def _check_both_outcomes(history: RollHistory, history_name: str) -> None:
    if history.rolled.all() or not history.rolled.any():
        snapshots = "every snapshot" if history.rolled.any() else "no snapshot"
        raise ThinHistoryError(
            f"{snapshots} of the {history_name} history rolled ({len(history.rolled)} snapshots), so there is nothing "
            "to tell apart"
        )


@dataclass
class EarlyWarningModel:
    """A fitted logistic regression over :data:`sim.features.FEATURE_NAMES`; ``score`` returns roll probabilities."""

    coefficients: np.ndarray
    intercept: float
    metadata: dict[str, Any] = field(default_factory=dict)
    feature_names: tuple[str, ...] = FEATURE_NAMES

    @classmethod
    def fit(cls, history: RollHistory, regularisation: float = 1.0) -> EarlyWarningModel:
        """Fit on a :class:`RollHistory`; ``regularisation`` is scikit-learn's ``C`` (inverse L2 strength)."""
        _check_both_outcomes(history, "training")
        from sklearn.linear_model import LogisticRegression  # slow to import; only fitting needs it

        classifier = LogisticRegression(C=regularisation, max_iter=5000)
        classifier.fit(history.features.astype(np.float64), history.rolled)
        metadata = {"training_samples": int(len(history.rolled)), "training_roll_rate": float(history.rolled.mean())}
        return cls(classifier.coef_[0].copy(), float(classifier.intercept_[0]), metadata)

    def score_features(self, features: np.ndarray) -> np.ndarray:
        """Return the roll probability for each row of a feature matrix.

        Each row's score depends on that row alone, to the last bit. A BLAS product (``features @ coefficients``)
        does not promise that: with OpenBLAS, scoring a subset of the rows changed some of their scores in the last
        bit. ``einsum`` sums each row's products in one order, and it was faster at 200,000 rows.
        """
        logit = np.einsum("ij,j->i", features.astype(np.float64), self.coefficients) + self.intercept
        return 1.0 / (1.0 + np.exp(-logit))

    def score(self, obs: Observation, index: np.ndarray | None = None) -> np.ndarray:
        """Return each account's probability of rolling within the horizon, from its observable state.

        With ``index``, only the accounts at those positions are scored. Their scores equal those they get when
        every account is scored.
        """
        return self.score_features(feature_matrix(obs, index))

    def auc(self, history: RollHistory) -> float:
        """Area under the ROC curve on a labelled history."""
        from sklearn.metrics import roc_auc_score

        _check_both_outcomes(history, "held-out")
        return float(roc_auc_score(history.rolled, self.score_features(history.features)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "early_warning",
            "horizon_days": HORIZON_DAYS,
            "intercept": round(self.intercept, 12),
            "coefficients": {
                name: round(float(c), 12) for name, c in zip(self.feature_names, self.coefficients, strict=True)
            },
            "metadata": self.metadata,
        }

    def to_yaml(self, path: str | Path) -> Path:
        header = "# Early-warning score written by `arrears fit-score`; regenerate it rather than editing by hand.\n"
        return atomic_write_text(path, header + yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def from_yaml(cls, path: str | Path) -> EarlyWarningModel:
        source = str(path)
        data = load_yaml_mapping(Path(path))
        if data.get("kind") != "early_warning":
            raise ConfigError(source, "kind", f"expected 'early_warning', got {short_repr(data.get('kind'))}")
        unknown = sorted(set(data) - set(SCORE_KEYS), key=str)
        if unknown:
            raise ConfigError(source, str(unknown[0]), f"unknown key; allowed: {', '.join(SCORE_KEYS)}")
        horizon = data.get("horizon_days", HORIZON_DAYS)
        # A score is used as the probability of a roll within HORIZON_DAYS whatever horizon the file states, so a
        # file that states another one was not written by this version's fit-score.
        if isinstance(horizon, bool) or horizon != HORIZON_DAYS:
            raise ConfigError(
                source,
                "horizon_days",
                f"expected {HORIZON_DAYS} (scores predict a roll within {HORIZON_DAYS} days), "
                f"got {short_repr(horizon)}",
            )
        if not isinstance(data.get("metadata") or {}, dict):
            raise ConfigError(source, "metadata", "expected a mapping of names to values")
        coefficients = data.get("coefficients")
        if not isinstance(coefficients, dict):
            raise ConfigError(source, "coefficients", "expected a mapping of feature name to number")
        # A YAML mapping has no order that matters, so compare the feature sets and read the values in
        # FEATURE_NAMES order, the column order of sim.features.feature_matrix.
        if set(coefficients) != set(FEATURE_NAMES):
            missing = [name for name in FEATURE_NAMES if name not in coefficients]
            extra = sorted(str(name) for name in coefficients if name not in FEATURE_NAMES)
            detail = "; ".join(
                part
                for part in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"unknown {', '.join(extra)}" if extra else "",
                )
                if part
            )
            raise ConfigError(
                source,
                "coefficients",
                f"fitted on other features than this version's ({detail}; expected {', '.join(FEATURE_NAMES)}); "
                "refit with `arrears fit-score`",
            )
        values = []
        for name in FEATURE_NAMES:
            value = coefficients[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
                raise ConfigError(source, f"coefficients.{name}", f"expected a finite number, got {short_repr(value)}")
            values.append(float(value))
        intercept = data.get("intercept")
        if isinstance(intercept, bool) or not isinstance(intercept, int | float) or not np.isfinite(intercept):
            raise ConfigError(source, "intercept", f"expected a finite number, got {short_repr(intercept)}")
        return cls(np.array(values), float(intercept), dict(data.get("metadata") or {}))


def load_score(spec: str | Path) -> EarlyWarningModel:
    """Load a shipped score by name (``early_warning``) or a score YAML by path.

    A shipped name given as text wins over a file of that name in the current directory (write ``./early_warning``
    for such a file), because every waterfall's default ``score`` is the shipped name.
    """
    shipped = SHIPPED_SCORE_DIR / f"{spec}.yaml"
    if isinstance(spec, str) and "/" not in spec and shipped.is_file():
        return EarlyWarningModel.from_yaml(shipped)
    path = Path(spec)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(str(spec), "score", "file not found")
        return EarlyWarningModel.from_yaml(path)
    shipped = SHIPPED_SCORE_DIR / f"{spec}.yaml"
    if not shipped.is_file():
        names = ", ".join(sorted(p.stem for p in SHIPPED_SCORE_DIR.glob("*.yaml")))
        raise ConfigError(str(spec), "score", f"no shipped score of that name; shipped: {names}, or a path to a YAML")
    return EarlyWarningModel.from_yaml(shipped)


@dataclass(frozen=True)
class TrainingReport:
    model: EarlyWarningModel
    training_auc: float
    holdout_auc: float
    shuffled_auc: float
    #: Held-out snapshots whose account rolled and whose account did not, on which the held-out AUC rests.
    holdout_rolled: int = 0
    holdout_not_rolled: int = 0


def train(
    scenario: Scenario,
    policy,
    n_accounts: int = 10_000,
    days: int = 150,
    seed: int = 0,
    holdout_seed: int = 1,
    scenario_name: str = "",
) -> TrainingReport:
    """Fit on one simulated portfolio and measure the AUC on another (other accounts: ``holdout_seed``).

    The shuffled AUC scores the held-out features with their rows permuted against the labels: a score that reads
    only the features falls to about 0.5 there, while one that leaked anything else would keep its AUC.
    """
    if seed == holdout_seed:
        raise ValueError("the hold-out seed must differ from the training seed")
    training = roll_history(scenario, policy, n_accounts, days, seed)
    holdout = roll_history(scenario, policy, n_accounts, days, holdout_seed)
    model = EarlyWarningModel.fit(training)
    permutation = np.random.default_rng(holdout_seed).permutation(len(holdout.rolled))
    shuffled = RollHistory(holdout.features[permutation], holdout.rolled, holdout.day, holdout.account)
    rolled = int(holdout.rolled.sum())
    report = TrainingReport(
        model,
        model.auc(training),
        model.auc(holdout),
        model.auc(shuffled),
        holdout_rolled=rolled,
        holdout_not_rolled=len(holdout.rolled) - rolled,
    )
    model.metadata.update(
        {
            "scenario": scenario_name or scenario.name,
            "policy": policy.name,
            "n_accounts": n_accounts,
            "days": days,
            "seed": seed,
            "holdout_seed": holdout_seed,
            "training_auc": round(report.training_auc, 4),
            "holdout_auc": round(report.holdout_auc, 4),
            "shuffled_auc": round(report.shuffled_auc, 4),
            "fitted_on": dt.date.today().isoformat(),
        }
    )
    return report
