"""Shared fixtures: small portfolios, and the path of the public data beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sim.scenario import Scenario

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The public data folder: $ARREARS_SHARED_DATA, else ../shared/data beside the repository."""
    override = os.environ.get("ARREARS_SHARED_DATA")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def default_scenario() -> Scenario:
    return Scenario.load("default")
