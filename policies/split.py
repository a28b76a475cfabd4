"""Champion/challenger inside one portfolio: accounts assigned at random to policies by configured shares."""

from __future__ import annotations

import numpy as np

from sim.observation import Observation
from sim.rng import Purpose


class ChampionChallenger:
    """Run several policies side by side on one portfolio, each on a random share of the accounts.

    Assignment uses keyed draws (seed, account), so it is reproducible and independent of the policies. The draws
    are split among the arms in the order of their names, so the order in which a config lists the arms changes no
    account's arm. After a run,
    :meth:`arm_masks` gives each arm's accounts, and the result reports one metrics row per arm besides the whole.
    """

    def __init__(self, name: str, arms: dict[str, tuple[object, float]]) -> None:
        if len(arms) < 2:
            raise ValueError("a champion/challenger split needs at least two arms")
        shares = np.array([share for _, share in arms.values()], dtype=float)
        if (shares <= 0).any() or abs(shares.sum() - 1.0) > 1e-6:
            raise ValueError(f"arm shares must be positive and sum to 1, got {shares.tolist()}")
        self.name = name
        self.arm_names = list(arms)
        self.policies = [policy for policy, _ in arms.values()]
        self.shares = shares
        self.description = "Champion/challenger split: " + ", ".join(
            f"{arm} {share:.0%}" for arm, share in zip(self.arm_names, shares, strict=True)
        )
        self.assignment: np.ndarray | None = None

    def bind(self, model) -> None:
        draws = model.rng.uniform(-1, Purpose.ASSIGNMENT)
        by_name = np.array(sorted(range(len(self.arm_names)), key=lambda arm: self.arm_names[arm]))
        cumulative = np.cumsum(self.shares[by_name])
        cumulative[-1] = 1.0
        self.assignment = by_name[np.searchsorted(cumulative, draws, side="right")]
        for policy in self.policies:
            if hasattr(policy, "bind"):
                policy.bind(model)

    @property
    def observed_fields(self) -> frozenset[str] | None:
        """The fields the arms observe together, or None (all) when an arm does not declare its own."""
        declared = [getattr(policy, "observed_fields", None) for policy in self.policies]
        if any(fields is None for fields in declared):
            return None
        return frozenset().union(*declared)

    def decide(self, obs: Observation) -> np.ndarray:
        actions = np.zeros(obs.n_accounts, dtype=np.int64)
        for arm, policy in enumerate(self.policies):
            chosen = np.asarray(policy.decide(obs), dtype=np.int64)
            mine = self.assignment == arm
            actions[mine] = chosen[mine]
        return actions

    def arm_masks(self) -> dict[str, np.ndarray]:
        """Boolean account mask per arm name (after the model bound the policy)."""
        if self.assignment is None:
            raise RuntimeError("the split has not been bound to a model yet")
        return {arm: self.assignment == i for i, arm in enumerate(self.arm_names)}
