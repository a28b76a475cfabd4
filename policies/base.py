"""The policy interface: a batch of observations in, one catalogue action per account out."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from sim.observation import Observation


@runtime_checkable
class Policy(Protocol):
    """Anything with a ``name`` and a ``decide`` method is a policy.

    A policy may also define ``bind(model)``: the model calls it once when it is built, for policies that need more
    than the observation (the random baseline's action mask, the oracle's latent state, a split's assignment).
    """

    name: str

    def decide(self, obs: Observation) -> np.ndarray:
        """Return one action index from :data:`sim.catalogue.ACTIONS` per account (int array of ``obs.n_accounts``)."""
        ...
