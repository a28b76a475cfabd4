"""Collection policies: waterfalls declared in YAML (including do-nothing), call targeting, baselines and an oracle."""

from __future__ import annotations

from pathlib import Path

from policies.base import Policy
from policies.baselines import OracleUpperBound, RandomPolicy
from policies.uplift import RandomCalls, UpliftCalls
from policies.waterfall import SHIPPED_WATERFALL_DIR, Waterfall, WaterfallSpec, shipped_waterfalls
from sim.errors import ConfigError

__all__ = [
    "OracleUpperBound",
    "Policy",
    "RandomCalls",
    "RandomPolicy",
    "UpliftCalls",
    "Waterfall",
    "WaterfallSpec",
    "load",
    "shipped_policies",
]

#: Shipped policies written in Python rather than YAML.
BUILT_IN = {policy.name: policy for policy in (RandomPolicy, OracleUpperBound, UpliftCalls, RandomCalls)}


def shipped_policies() -> list[str]:
    """Names that :func:`load` accepts without a path."""
    return sorted([*shipped_waterfalls(), *BUILT_IN])


def load(spec: str | Path, warn: bool = True) -> Policy:
    """Load a policy by shipped name (``standard``, ``random``), from a waterfall YAML path or a model zip path.

    A ``.zip`` is a model saved by ``arrears train``; it contains pickles, so name only a file you trust. With
    ``warn=False``, a waterfall YAML loads without warning about cadences that the guard will block.
    """
    text = str(spec)
    # Suffixes in any case: MODEL.ZIP is a model too.
    suffix = Path(text).suffix.lower()
    if suffix == ".zip":
        from policies.learned import LearnedPolicy

        return LearnedPolicy(text)
    # A shipped name given as text wins over a file of that name in the current directory, so that the current
    # directory cannot change what a config's 'standard' means. Write ./standard for such a file.
    if isinstance(spec, str) and text in BUILT_IN:
        return BUILT_IN[text]()
    shipped = SHIPPED_WATERFALL_DIR / f"{text}.yaml"
    if isinstance(spec, str) and text in shipped_waterfalls():
        # Shipped waterfalls document their clashes with the guard (the aggressive one relies on it).
        return Waterfall.from_yaml(shipped, warn=False)
    if suffix in (".yaml", ".yml") or Path(text).is_file():
        return Waterfall.from_yaml(text, warn=warn)
    if text in BUILT_IN:
        return BUILT_IN[text]()
    if shipped.exists():
        return Waterfall.from_yaml(shipped, warn=False)
    if Path(text).is_dir():
        raise ConfigError(text, "policy", "is a directory; name a waterfall YAML or a model zip in it")
    raise ConfigError(
        text,
        "policy",
        f"unknown policy; shipped: {', '.join(shipped_policies())}, or a path to a waterfall YAML or a model zip",
    )
