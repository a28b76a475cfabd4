"""Packaging: the files that commands read at run time are inside the wheel, not only in the source checkout."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from experiments.config import CHECKOUT_CONFIGS_DIR, installed_from_wheel, shipped_configs_dir

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_puts_configs_in_package():
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    force_include = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert force_include["configs"] == "arrears_configs"
    assert (REPO_ROOT / "configs" / "rl" / "ppo.yaml").is_file()


def test_checkout_reads_configs_from_source_tree():
    assert shipped_configs_dir() == CHECKOUT_CONFIGS_DIR == REPO_ROOT / "configs"
    assert not installed_from_wheel(), "the tests run from a checkout or an editable install"


def built_wheel_names(folder: Path, version: str) -> set[str]:
    """Build the wheel of the checkout (``version`` is hatchling's "standard" or "editable") into ``folder``, offline,
    and return the names of the files in it."""
    pytest.importorskip("hatchling", reason="the dev extra installs hatchling, which builds the wheel offline")
    built = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", f"wheel:{version}", "-d", str(folder)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    wheels = list(folder.glob("arrears-*.whl"))
    assert len(wheels) == 1, wheels
    return set(zipfile.ZipFile(wheels[0]).namelist())


@pytest.mark.packaging
def test_wheel_contains_shipped_configs(tmp_path):
    names = built_wheel_names(tmp_path, "standard")

    for config in sorted((REPO_ROOT / "configs").rglob("*.yaml")):
        packaged = "arrears_configs/" + config.relative_to(REPO_ROOT / "configs").as_posix()
        assert packaged in names, f"{packaged} is missing from the wheel"
    assert "sim/scenarios/default.yaml" in names
    assert "policies/waterfalls/standard.yaml" in names
    assert not any(name.startswith("configs/") for name in names), "a top-level configs/ folder in site-packages"


@pytest.mark.packaging
def test_editable_wheel_has_no_package_folders(tmp_path):
    """An editable wheel maps the packages to the checkout. A real sim/, policies/ or experiments/ folder in it
    would be installed into site-packages and hide the checkout's modules."""
    names = built_wheel_names(tmp_path, "editable")

    for package in ("sim/", "policies/", "experiments/", "benchmarks/"):
        assert not any(name.startswith(package) for name in names), f"the editable wheel contains {package}"
