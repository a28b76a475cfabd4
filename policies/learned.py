"""A policy learned with Stable-Baselines3 (``arrears train``), applied to a whole portfolio in one batch.

Security: an SB3 model zip contains pickled Python objects, and loading it can run arbitrary code. Load only models
you trained yourself or otherwise trust; arrears loads a model only from a path the user names, never by search.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np

from sim.catalogue import ACTIONS, N_ACTIONS, NO_ACTION
from sim.errors import ConfigError, parse_json
from sim.features import FEATURE_NAMES, feature_matrix
from sim.observation import Observation

ALGORITHMS = ("ppo", "a2c", "dqn", "maskable_ppo")
#: Catalogue indices of the call actions, one per framing: the actions that use the call centre's capacity.
CALL_ACTIONS = np.array([action.index for action in ACTIONS if action.channel == "call"], dtype=np.int64)
_IS_CALL = np.isin(np.arange(len(ACTIONS)), CALL_ACTIONS)


# The module of each supported algorithm's policy class, as SB3 records it in a model zip. PPO and A2C share
# SB3's actor-critic policy (None here), and only PPO's parameters include a clip range.
_POLICY_MODULES = {
    "stable_baselines3.common.policies": None,
    "stable_baselines3.dqn.policies": "dqn",
    "sb3_contrib.common.maskable.policies": "maskable_ppo",
}


def detect_algorithm(path: Path, content: bytes | None = None) -> str:
    """Return the algorithm of an SB3 model zip, after checking that its spaces are those of ``Account-v0``.

    Only the JSON ``data`` member is read, no pickle: the module of the policy class names the algorithm (PPO
    stores a ``clip_range``, A2C does not), and the spaces' recorded shape and size must match the
    :data:`sim.features.FEATURE_NAMES` features and the :data:`sim.catalogue.ACTIONS` catalogue. ``content`` is the
    file's bytes when the caller has read them already; ``path`` then only names the file in errors.
    """
    try:
        with zipfile.ZipFile(path if content is None else io.BytesIO(content)) as archive:
            data = parse_json(archive.read("data"))
        module = str(data.get("policy_class", {}).get("__module__", ""))
    except (zipfile.BadZipFile, KeyError, ValueError, AttributeError, OSError):
        raise ConfigError(
            str(path), "policy", "is not a Stable-Baselines3 model zip (written by arrears train)"
        ) from None
    if module not in _POLICY_MODULES:
        raise ConfigError(
            str(path), "policy", f"is a model of an algorithm arrears does not load; allowed: {', '.join(ALGORITHMS)}"
        )
    _check_spaces(path, data)
    actor_critic = "ppo" if "clip_range" in data else "a2c"
    return _POLICY_MODULES[module] or actor_critic


def _check_spaces(path: Path, data: dict) -> None:
    """Raise ConfigError unless the model's spaces are a Box of the features and a Discrete of the catalogue."""
    observation, action = data.get("observation_space", {}), data.get("action_space", {})
    # SB3 records a space's attributes as JSON values where it can and as their repr text otherwise.
    shape = observation.get("_shape")
    try:
        shape = json.loads(shape) if isinstance(shape, str) else shape
        n_actions = int(action.get("n", -1))
    except (ValueError, TypeError, AttributeError):
        shape, n_actions = None, -1
    expected_shape = [len(FEATURE_NAMES)]
    if "Box" not in str(observation.get(":type:", "")) or shape != expected_shape:
        raise ConfigError(
            str(path),
            "policy",
            f"is a model for observations of shape {shape}, not of the {expected_shape[0]} features of "
            "arrears/Account-v0; train one with 'arrears train'",
        )
    if "Discrete" not in str(action.get(":type:", "")) or n_actions != N_ACTIONS:
        kind = "a Discrete(" + str(n_actions) + ")" if n_actions >= 0 else "a continuous or other"
        raise ConfigError(
            str(path),
            "policy",
            f"is a model with {kind} action space, not the {N_ACTIONS} catalogue actions of arrears/Account-v0; "
            "train one with 'arrears train'",
        )


def _model_name(path: Path) -> str:
    """Name a model ``<run dir>`` for ``model.zip``, ``<run dir>-best`` for ``best_model.zip``, else its stem."""
    if path.stem == "model" and path.parent.name:
        return path.parent.name
    if path.stem == "best_model" and path.parent.name:
        return f"{path.parent.name}-best"
    return path.stem


class LearnedPolicy:
    """Actions of a saved SB3 model, the greedy action per account, with calls capped at the day's capacity.

    Each day the model sees :func:`sim.features.feature_matrix` of every account at once and picks its most
    probable action (the largest Q-value for DQN); MaskablePPO also gets the compliance guard's action mask. When
    the accounts that would really be called (active, not with an agency, the call allowed) outnumber the calls the
    agents can handle (:meth:`sim.callcenter.CallCentre.expected_calls`), the calls go to the accounts where the
    model most prefers a call: the largest total probability of the call actions, or for DQN the largest margin of
    the best call's Q-value over the best other action's. Every other account gets its best allowed non-call action.

    The model is loaded in :meth:`bind`, when a simulation starts, so listing a model in a config costs little.
    ``path`` must name a file you trust, because an SB3 zip contains pickles (see the module docstring).

    :param path: the model zip written by ``arrears train`` (``model.zip``, ``best_model.zip`` or a checkpoint)
    :param algo: ``ppo``, ``a2c``, ``dqn`` or ``maskable_ppo``; read from the zip when None
    :param name: the name in results; by default the run directory's name for ``model.zip``, with ``-best`` for
        ``best_model.zip``, else the file's stem
    """

    def __init__(self, path: str | Path, algo: str | None = None, name: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigError(str(self.path), "policy", "model file not found; train one with 'arrears train'")
        if algo is not None and algo not in ALGORITHMS:
            raise ValueError(f"algo must be one of {', '.join(ALGORITHMS)}, got {algo!r}")
        # The file is read once: its algorithm, its SHA-256 and the model all come from these bytes, so a file
        # replaced after this point cannot give a model that differs from the hash a run keys its cells by.
        try:
            self.content = self.path.read_bytes()
        except OSError as error:
            raise ConfigError(
                str(self.path), "policy", f"failed to read the model file ({error.strerror}); check its permissions"
            ) from None
        self.sha256 = hashlib.sha256(self.content).hexdigest()
        self.algo = algo or detect_algorithm(self.path, self.content)
        from experiments.train import RL_PACKAGES, require_rl_packages

        # Checked here, when a config names the model, so that a run stops before any cell starts.
        require_rl_packages(str(self.path), RL_PACKAGES, key_path="policy")
        self.name = name or _model_name(self.path)
        self.description = f"Learned {self.algo} policy from {self.path}, greedy, with calls capped at capacity."
        self.sb3_model = None
        self.model = None

    def load_model(self):
        """Load the SB3 model from the bytes read from :attr:`path` once (it unpickles the zip) and return it."""
        if self.sb3_model is None:
            from experiments.train import algorithm_class

            try:
                self.sb3_model = algorithm_class(self.algo).load(io.BytesIO(self.content), device="cpu")
            except Exception as error:  # SB3, torch, zipfile and pickle each raise their own kinds for a damaged file
                # Only the error's type: torch's message suggests loading with weights_only=False, which would run
                # the file's pickles.
                raise ConfigError(
                    str(self.path),
                    "policy",
                    f"cannot be loaded ({type(error).__name__}); the zip has the data of an SB3 model but its weights "
                    "are damaged or do not fit it; train the model again with 'arrears train'",
                ) from error
        return self.sb3_model

    def bind(self, model) -> None:
        """Keep the portfolio model for its action masks and call centre, and load the SB3 model."""
        self.model = model
        self.load_model()

    def decide(self, obs: Observation) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("LearnedPolicy needs its portfolio model: simulate it, or call bind(model) first")
        features = feature_matrix(obs)
        mask = self.model.action_mask(obs)
        from experiments.train import one_torch_thread

        with one_torch_thread():
            if self.algo == "maskable_ppo":
                actions, _ = self.sb3_model.predict(features, deterministic=True, action_masks=mask)
            else:
                actions, _ = self.sb3_model.predict(features, deterministic=True)
            actions = np.asarray(actions, dtype=np.int64).reshape(obs.n_accounts)
            return self.cap_calls(obs, features, mask, actions)

    def cap_calls(self, obs: Observation, features: np.ndarray, mask: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Keep the day's capacity of calls on the accounts that prefer a call most; demote the other calls."""
        rows = np.arange(obs.n_accounts)
        # Only these calls reach the queue: the guard turns a call on a closed, placed or protected account into
        # no action, so such a call uses no agent time.
        queued = _IS_CALL[actions] & obs.active & ~obs.placed_with_agency & mask[rows, actions]
        capacity = self.model.call_centre.expected_calls(obs.day)
        callers = np.flatnonzero(queued)
        if len(callers) <= capacity:
            return actions

        preference = self.action_preferences(features[callers], mask[callers])
        if self.algo == "dqn":
            call_score = preference[:, _IS_CALL].max(axis=1) - preference[:, ~_IS_CALL].max(axis=1)
        else:
            call_score = preference[:, _IS_CALL].sum(axis=1)
        order = np.argsort(-call_score, kind="stable")
        demoted = order[capacity:]

        other = np.where(mask[callers[demoted]] & ~_IS_CALL, preference[demoted], -np.inf)
        best_other = other.argmax(axis=1)
        best_other[~np.isfinite(other.max(axis=1))] = NO_ACTION
        actions = actions.copy()
        actions[callers[demoted]] = best_other
        return actions

    def action_preferences(self, features: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Action probabilities (actor-critic algorithms) or Q-values (DQN), shape (len(features), N_ACTIONS)."""
        import torch

        policy = self.sb3_model.policy
        tensor, _ = policy.obs_to_tensor(features)
        with torch.no_grad():
            if self.algo == "dqn":
                return policy.q_net(tensor).cpu().numpy()
            if self.algo == "maskable_ppo":
                distribution = policy.get_distribution(tensor, action_masks=mask)
            else:
                distribution = policy.get_distribution(tensor)
            return distribution.distribution.probs.cpu().numpy()
