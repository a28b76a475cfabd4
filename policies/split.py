"""Champion/challenger inside one portfolio: accounts assigned at random to policies by configured shares."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from sim.observation import Observation
from sim.rng import KeyedRandom, Purpose

#: Accounts whose assignment :func:`first_empty_arm` draws at once.
_CHUNK_ACCOUNTS = 65_536
#: Expected account count of the smallest arm from which :func:`first_empty_arm` skips the exact check. An arm that
#: expects 60 accounts or more gets none with a probability of at most exp(-60), about 1e-26, per seed.
_SURELY_FILLED = 60.0


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
        """Assign the model's accounts to the arms; raise ValueError when an arm gets none (its metrics would be
        undefined)."""
        assignment = assign_arms(model.rng.uniform(-1, Purpose.ASSIGNMENT), self.arm_names, self.shares)
        counts = np.bincount(assignment, minlength=len(self.arm_names))
        if len(assignment) and (counts == 0).any():
            arm = self.arm_names[int(np.flatnonzero(counts == 0)[0])]
            raise ValueError(
                f"split {self.name!r}: arm {arm!r} got none of the {len(assignment):,} accounts on seed {model.seed} "
                "(accounts are assigned at random by seed); give it a larger share or use more accounts"
            )
        self.assignment = assignment
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


def assign_arms(draws: np.ndarray, arm_names: list[str], shares: np.ndarray) -> np.ndarray:
    """Return the arm index of each account from its assignment draw in [0, 1).

    The unit interval is cut into one piece per arm, as long as its share, in the order of the arm names.
    """
    by_name = np.array(sorted(range(len(arm_names)), key=lambda arm: arm_names[arm]))
    cumulative = np.cumsum(np.asarray(shares, dtype=float)[by_name])
    cumulative[-1] = 1.0
    return by_name[np.searchsorted(cumulative, draws, side="right")]


def first_empty_arm(arms: dict[str, float], n_accounts: int, seeds: Iterable[int]) -> tuple[str, int] | None:
    """Return an arm and a seed on which the split's assignment gives that arm no account, or None if none does.

    ``arms`` maps arm names to shares. The check draws the assignment as :meth:`ChampionChallenger.bind` does for a
    portfolio of accounts 0 to ``n_accounts - 1``, which is how experiments build their portfolios. It is exact,
    except that it skips a split whose every arm expects at least 60 accounts, because then an empty arm has a
    probability of about 1e-26 per seed.
    """
    names = list(arms)
    shares = np.array([arms[name] for name in names], dtype=float)
    if shares.min() * n_accounts >= _SURELY_FILLED:
        return None
    for seed in seeds:
        seen = np.zeros(len(names), dtype=bool)
        # Draw in chunks and stop at the first chunk after which every arm has an account.
        for start in range(0, n_accounts, _CHUNK_ACCOUNTS):
            accounts = np.arange(start, min(start + _CHUNK_ACCOUNTS, n_accounts))
            draws = KeyedRandom(seed, accounts).uniform(-1, Purpose.ASSIGNMENT)
            seen[assign_arms(draws, names, shares)] = True
            if seen.all():
                break
        if not seen.all():
            return names[int(np.flatnonzero(~seen)[0])], seed
    return None
