"""Regenerate docs/images/report.png, the README's screenshot of the first screen of a report.

Runs ``arrears run`` on a small config in a temporary folder, opens its report.html in Debian's headless Chromium
through Playwright and saves the first 1280 × 800 pixels. Run from anywhere with the dev extra installed:

    python docs/make_screenshot.py [--out PATH]

It takes under a minute on 2 cores. The browser opens only the report's file:// URL.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from experiments.cli import main as arrears_cli
from experiments.report import CHROMIUM, CHROMIUM_ARGS

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "docs" / "images" / "report.png"
VIEWPORT = {"width": 1280, "height": 800}
# The quick start's baseline job (configs/baseline.yaml) on fewer accounts and seeds, so that it runs in under a minute.
CONFIG = """\
name: baseline
description: >-
  Four collection waterfalls compared on 2,000 delinquent card accounts over 180 days, on 5 seeds with common
  random numbers. The champion is the standard waterfall.
scenario: default
policies: [do_nothing, letters_only, standard, digital_first]
champion: standard
seeds: 5
n_accounts: 2000
horizon_days: 180
"""


def take_screenshot(report: Path, out: Path, chromium: Path = CHROMIUM) -> None:
    """Open ``report`` in headless Chromium and save the first screen as a PNG at ``out``."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(report.as_uri(), wait_until="load")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=False)
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"PNG file to write (default: {DEFAULT_OUT})")
    parser.add_argument("--chromium", type=Path, default=CHROMIUM, help=f"Chromium executable (default: {CHROMIUM})")
    args = parser.parse_args(argv)
    if not args.chromium.is_file():
        parser.error(f"Chromium not found at {args.chromium}; install Debian's chromium package or pass --chromium")

    with tempfile.TemporaryDirectory(prefix="arrears-screenshot-") as folder:
        config = Path(folder) / "baseline.yaml"
        config.write_text(CONFIG)
        run_dir = Path(folder) / "run"
        exit_code = arrears_cli(["run", str(config), "--out", str(run_dir)])
        if exit_code != 0:
            return exit_code
        take_screenshot(run_dir / "report.html", args.out, args.chromium)

    print(f"wrote {args.out} ({args.out.stat().st_size / 1000:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
