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

    A policy that reads only some fields of the observation may list them in an ``observed_fields`` attribute (names
    from :data:`sim.observation.OBSERVATION_FIELDS`). The model then computes those and the fields it reads itself,
    and leaves the others None, which saves a pass over every account for each field left out. Without the
    attribute, or with None, every field is computed. Waterfalls declare theirs.
    """

    name: str

    def decide(self, obs: Observation) -> np.ndarray:
        """Return one action index from :data:`sim.catalogue.ACTIONS` per account (int array of ``obs.n_accounts``)."""
        ...
