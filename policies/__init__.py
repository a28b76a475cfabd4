"""Collection policies: waterfalls declared in YAML, including the do-nothing baseline."""

from __future__ import annotations

from pathlib import Path

from policies.base import Policy
from policies.waterfall import SHIPPED_WATERFALL_DIR, Waterfall, WaterfallSpec, shipped_waterfalls
from sim.errors import ConfigError

__all__ = ["Policy", "Waterfall", "WaterfallSpec", "load", "shipped_policies"]


def shipped_policies() -> list[str]:
    """Names that :func:`load` accepts without a path."""
    return shipped_waterfalls()


def load(spec: str | Path) -> Policy:
    """Load a policy by shipped name (``standard``) or from a waterfall YAML path."""
    text = str(spec)
    if text.endswith((".yaml", ".yml")) or Path(text).is_file():
        return Waterfall.from_yaml(text)
    shipped = SHIPPED_WATERFALL_DIR / f"{text}.yaml"
    if shipped.exists():
        return Waterfall.from_yaml(shipped)
    raise ConfigError(
        text,
        "policy",
        f"unknown policy; shipped: {', '.join(shipped_policies())}, or a path to a waterfall YAML",
    )
