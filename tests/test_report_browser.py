"""Open a written report.html in headless Chromium and check that it renders offline without errors.

Needs Debian's chromium at /usr/bin/chromium and the playwright package; the test is skipped without them.
It saves a full-page screenshot to test-artifacts/report.png for a person to look at.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_report import CHAMPION, POLICIES, SPLIT_SHARES, write_run_dir

from experiments.cli import main as cli_main
from experiments.report import CHROMIUM, CHROMIUM_ARGS, write_report

SCREENSHOT = Path(__file__).resolve().parents[1] / "test-artifacts" / "report.png"

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


@pytest.fixture(scope="module")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found; install Debian's chromium package to run browser tests")
    return CHROMIUM


def record_dialog(dialog: sync_api.Dialog, dialogs: list[str]) -> None:
    """Store the message of an alert, confirm or prompt and dismiss it, so the page does not hang."""
    dialogs.append(dialog.message)
    dialog.dismiss()


def test_report_renders_in_chromium(tmp_path: Path, chromium_path: Path) -> None:
    run_dir = write_run_dir(tmp_path / "run")
    report = write_report(run_dir)
    console_errors: list[str] = []
    dialogs: list[str] = []
    outside_requests: list[str] = []

    def record_console(message: sync_api.ConsoleMessage) -> None:
        if message.type == "error":
            console_errors.append(message.text)

    def record_request(request: sync_api.Request) -> None:
        if not request.url.startswith(("file:", "data:")):
            outside_requests.append(request.url)

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", record_console)
            page.on("pageerror", lambda error: console_errors.append(str(error)))
            page.on("dialog", lambda dialog: record_dialog(dialog, dialogs))
            page.on("request", record_request)

            page.goto(report.as_uri(), wait_until="load")
            image_widths = page.eval_on_selector_all("img", "images => images.map(image => image.naturalWidth)")
            leaderboard_rows = page.locator("#leaderboard tbody tr").count()
            champion_rows = page.locator("#leaderboard tbody tr.champion").all_inner_texts()
            leaderboard_headers = page.locator("#leaderboard thead th").all_inner_texts()
            # The leaderboard has eleven metric columns, so check that it fits the viewport without scrolling.
            page_width = page.evaluate("document.documentElement.scrollWidth")
            title = page.title()

            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()

    # Recovery versus cost, cumulative cash and bucket flows.
    assert len(image_widths) == 3
    assert all(width > 0 for width in image_widths), image_widths
    assert leaderboard_rows == len(POLICIES)
    assert len(champion_rows) == 1
    assert CHAMPION in champion_rows[0]
    # Rank, policy, eight metrics, NPV IQM, probability of beating the champion and live test size.
    assert len(leaderboard_headers) == 13
    assert page_width <= 1200
    assert title.startswith("Q3 waterfall review")
    assert console_errors == []
    assert dialogs == []
    assert outside_requests == []
    assert SCREENSHOT.stat().st_size > 0


def test_script_policy_fires_no_dialog(tmp_path: Path, chromium_path: Path) -> None:
    script_policy = "<script>alert(1)</script>"
    run_dir = write_run_dir(
        tmp_path / "run",
        name="<b>Q3</b> review <img src=x onerror=alert(2)>",
        policies=(CHAMPION, script_policy, "agency_early"),
        levels={CHAMPION: CHAMPION, script_policy: "sms_first", "agency_early": "agency_early"},
    )
    report = write_report(run_dir)
    dialogs: list[str] = []
    console_errors: list[str] = []

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page()
            page.on("dialog", lambda dialog: record_dialog(dialog, dialogs))
            # An unescaped <script> would not run, because the page's Content-Security-Policy blocks inline
            # scripts, but Chromium logs the blocked script as a console error.
            page.on("console", lambda message: console_errors.append(message.text))
            page.goto(report.as_uri(), wait_until="load")
            heading = page.locator("h1").inner_text()
            policies = page.locator("#leaderboard tbody tr .policy").all_inner_texts()
            bold_elements = page.locator("h1 b").count()
        finally:
            browser.close()

    assert dialogs == []
    assert console_errors == []
    assert heading == "<b>Q3</b> review <img src=x onerror=alert(2)>"
    assert bold_elements == 0
    assert script_policy in policies


def test_split_and_scenarios_render(tmp_path: Path, chromium_path: Path) -> None:
    run_dir = write_run_dir(tmp_path / "run", scenarios=("baseline", "recession"), split=True)
    report = write_report(run_dir)
    console_errors: list[str] = []

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda message: console_errors.append(message.text))
            page.on("pageerror", lambda error: console_errors.append(str(error)))
            page.goto(report.as_uri(), wait_until="load")
            image_widths = page.eval_on_selector_all("img", "images => images.map(image => image.naturalWidth)")
            segment_rows = page.locator("#segments tbody tr").count()
            scenario_rows = page.locator("#scenario-table tbody tr").count()
            page_width = page.evaluate("document.documentElement.scrollWidth")
        finally:
            browser.close()

    # Three charts per scenario.
    assert len(image_widths) == 6
    assert all(width > 0 for width in image_widths), image_widths
    assert segment_rows == len(SPLIT_SHARES)
    # The three policies and the split as a whole; its arms appear only in the segment breakdown.
    assert scenario_rows == len(POLICIES) + 1
    assert page_width <= 1200
    assert console_errors == []


def test_long_names_fit_page(tmp_path: Path, chromium_path: Path) -> None:
    # Four sweep scenarios give the breakdown table four headers with no space to wrap at.
    scenarios = tuple(f"{base}[call_center.agents={agents}]" for base in ("default", "recession") for agents in (2, 10))
    run_dir = write_run_dir(
        tmp_path / "run",
        name="review_" + "N" * 90,
        description="A description with one long word: " + "L" * 400,
        scenarios=scenarios,
    )
    report = write_report(run_dir)
    widths = {}

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(report.as_uri(), wait_until="load")
            widths["screen"] = page.evaluate("document.documentElement.scrollWidth")
            # The printable width of an A4 landscape page within the PDF's 10 mm side margins, in CSS pixels.
            page.set_viewport_size({"width": 1047, "height": 740})
            page.emulate_media(media="print")
            widths["print"] = page.evaluate("document.documentElement.scrollWidth")
        finally:
            browser.close()

    assert widths["screen"] <= 1200
    assert widths["print"] <= 1047


def test_narrow_screen_page_width(tmp_path: Path, chromium_path: Path) -> None:
    # On a 390-pixel-wide phone screen the tables scroll on their own; the page itself stays as wide as the screen.
    report = write_report(write_run_dir(tmp_path / "run"))

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.goto(report.as_uri(), wait_until="load")
            page_width = page.evaluate("document.documentElement.scrollWidth")
            leaderboard_width = page.evaluate("document.querySelector('table.leaderboard').scrollWidth")
        finally:
            browser.close()

    assert page_width <= 390
    assert leaderboard_width > 390, "the leaderboard keeps its columns and scrolls"


def test_cli_prints_pdf(tmp_path: Path, chromium_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = write_run_dir(tmp_path / "run")

    exit_code = cli_main(["report", str(run_dir), "--pdf", "--chromium", str(chromium_path)])

    pdf = (run_dir / "report.pdf").read_bytes()
    pages = re.findall(rb"/Type\s*/Page\b(?!s)", pdf)
    assert exit_code == 0
    assert capsys.readouterr().out.splitlines() == [
        f"wrote {run_dir / 'report.html'}",
        f"wrote {run_dir / 'report.pdf'}",
    ]
    assert pdf.startswith(b"%PDF-")
    # The report runs to several A4 pages: summary, leaderboard, charts and tables.
    assert len(pages) >= 3
