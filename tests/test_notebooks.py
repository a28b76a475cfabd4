"""Execute every notebook in notebooks/ on small settings, so that a change to the API cannot silently break them.

Each notebook keeps its parameters in its first code cell. The test inserts a cell after it that shrinks them, runs
a copy of the notebook in a Jupyter kernel from a temporary folder and checks the outputs. The notebooks use only
that folder and the system temporary folder, which the test points at the same place.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import REPO_ROOT, shared_data_dir

nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed; pip install -e '.[dev]'")
nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed; pip install -e '.[dev]'")
pytest.importorskip("ipykernel", reason="ipykernel is not installed; pip install -e '.[dev]'")

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = ("quick_start.ipynb", "train_rl_policy.ipynb", "calibrate_from_data.ipynb")
QUICK_START_POLICIES = ("do_nothing", "letters_only", "standard", "digital_first")
#: Seconds that one cell may run before the test fails.
CELL_TIMEOUT = 300


def execute_notebook(name: str, overrides: str, folder: Path) -> nbformat.NotebookNode:
    """Run a copy of notebook ``name`` in ``folder`` with ``overrides`` run right after its first code cell.

    Raises nbclient's ``CellExecutionError`` when a cell raises.
    """
    notebook = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    first_code = next(index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code")
    notebook.cells.insert(first_code + 1, nbformat.v4.new_code_cell(overrides))
    copy = folder / name
    nbformat.write(notebook, copy)

    client = nbclient.NotebookClient(
        notebook, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    client.execute()
    return notebook


def output_text(cell: nbformat.NotebookNode) -> str:
    """Join the printed text, HTML and plain-text results of a code cell."""
    parts = []
    for output in cell.outputs:
        parts.append(output.get("text", ""))
        data = output.get("data", {})
        parts.append(data.get("text/html", ""))
        parts.append(data.get("text/plain", ""))
    return "\n".join(parts)


def count_images(notebook: nbformat.NotebookNode) -> int:
    return sum("image/png" in output.get("data", {}) for cell in notebook.cells for output in cell.get("outputs", []))


@pytest.fixture
def run_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary folder that is also the kernel's system temporary folder, so nothing is left behind."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_committed_without_outputs(name: str) -> None:
    notebook = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    nbformat.validate(notebook)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]

    assert notebook.cells[0].cell_type == "markdown"
    assert code_cells
    assert all(cell.outputs == [] for cell in code_cells)
    assert all(cell.execution_count is None for cell in code_cells)


def test_quick_start_compares_every_policy(run_folder: Path) -> None:
    overrides = "N_ACCOUNTS = 200\nDAYS = 45\nSEEDS = [0, 1]"

    notebook = execute_notebook("quick_start.ipynb", overrides, run_folder)

    last = notebook.cells[-1]
    table = output_text(last)
    assert last.cell_type == "code"
    for policy in QUICK_START_POLICIES:
        assert f">{policy}</th>" in table, f"{policy} is missing from the final comparison table"
    # The bar chart of net collections and recovery, and the cumulative cash curves.
    assert count_images(notebook) == 2
    assert sorted(path.name for path in run_folder.iterdir() if not path.name.startswith(".")) == ["quick_start.ipynb"]


def test_train_rl_policy_evaluates_against_do_nothing(run_folder: Path) -> None:
    pytest.importorskip("stable_baselines3", reason="stable-baselines3 is not installed; pip install -e '.[rl]'")
    overrides = "TIMESTEPS = 256\nNUM_ENVS = 8\nN_STEPS = 16\nHORIZON = 20\nEVAL_SEEDS = [100, 101]\nEVAL_ACCOUNTS = 16"

    notebook = execute_notebook("train_rl_policy.ipynb", overrides, run_folder)

    text = "\n".join(output_text(cell) for cell in notebook.cells if cell.cell_type == "code")
    summary = output_text(notebook.cells[-1])
    assert "trained on 256 account-days" in text
    assert "episode truncated after 20 days" in text or "episode terminated after" in text
    for row in ("ppo", "do_nothing", "ppo - do_nothing"):
        assert f">{row}</th>" in summary, f"{row} is missing from the final summary table"


def test_calibrate_from_data_reproduces_fit(run_folder: Path) -> None:
    data_dir = shared_data_dir()
    uci_csv = data_dir / "uci-credit-card-default" / "UCI_Credit_Card.csv"
    if not uci_csv.is_file():
        pytest.skip(f"{uci_csv} not found; set ARREARS_SHARED_DATA to the folder that holds the public data")
    overrides = (
        f"DATA_DIR = Path({str(data_dir)!r})\nN_ACCOUNTS = 3_000\nDAYS = 90\nCOMPARE_ACCOUNTS = 200\nCOMPARE_DAYS = 45"
    )

    notebook = execute_notebook("calibrate_from_data.ipynb", overrides, run_folder)

    text = "\n".join(output_text(cell) for cell in notebook.cells if cell.cell_type == "code")
    scenarios = list(run_folder.glob("arrears-calibration-*/calibrated.yaml"))
    comparison = output_text(notebook.cells[-1])
    assert len(scenarios) == 1, "the scenario is written to the temporary folder"
    fit_error = re.search(r"largest absolute difference, fitted - observed: (\S+)", text)
    assert fit_error is not None
    # The fit takes the observed frequencies, rounded to 6 significant digits in the YAML file.
    assert float(fit_error.group(1)) < 1e-5
    # The matrices of observed and fitted, then simulated and their difference.
    assert count_images(notebook) == 2
    for policy in ("do_nothing", "standard"):
        assert f">{policy}</th>" in comparison
