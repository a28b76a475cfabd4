"""Tests of the UCI calibration: recounts of the fitted numbers, the shipped default.yaml and input errors."""

from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import shared_data_dir

from sim.calibration import (
    REQUIRED_COLUMNS,
    calibrate_uci,
    calibration_header,
    count_jumps,
    fit_uci,
    load_uci,
    render_scenario_yaml,
    round_distribution,
    uci_transitions,
    write_scenario,
)
from sim.errors import ConfigError
from sim.scenario import SHIPPED_SCENARIO_DIR, Scenario, Transitions

# Read by conftest.shared_data_dir: the folder that contains uci-credit-card-default/.
DATA_ENV_VAR = "ARREARS_SHARED_DATA"
UCI_RELATIVE_PATH = Path("uci-credit-card-default") / "UCI_Credit_Card.csv"

# Status code to cycles past due, written out in full as an independent check of sim.calibration's mapping.
STATUS_TO_STATE = {-2: 0, -1: 0, 0: 0, 1: 1, 2: 1, 3: 2, 4: 3, 5: 4, 6: 5, 7: 6, 8: 6, 9: 6}
FITTED_STATUS_PAIRS = [("PAY_6", "PAY_5"), ("PAY_5", "PAY_4"), ("PAY_4", "PAY_3"), ("PAY_3", "PAY_2")]


@pytest.fixture(scope="module")
def uci_csv() -> Path:
    path = shared_data_dir() / UCI_RELATIVE_PATH
    if not path.is_file():
        pytest.skip(f"UCI data not found at {path}; set {DATA_ENV_VAR} to the folder that contains {UCI_RELATIVE_PATH}")
    return path


@pytest.fixture(scope="module")
def raw(uci_csv: Path) -> pd.DataFrame:
    return pd.read_csv(uci_csv)


@pytest.fixture(scope="module")
def fitted(uci_csv: Path) -> Scenario:
    return fit_uci(uci_csv)


@pytest.fixture(scope="module")
def recount(raw: pd.DataFrame) -> pd.DataFrame:
    """Count transitions by state with plain pandas, independently of sim.calibration."""
    stacked = pd.concat(
        [
            pd.DataFrame({"before": raw[earlier].map(STATUS_TO_STATE), "after": raw[later].map(STATUS_TO_STATE)})
            for earlier, later in FITTED_STATUS_PAIRS
        ],
        ignore_index=True,
    )
    stacked["after"] = stacked["after"].where(~((stacked["before"] == 6) & (stacked["after"] == 6)), "charge_off")
    return pd.crosstab(stacked["before"], stacked["after"].astype(str))


def transition_probability(recount: pd.DataFrame, state: int, column: str) -> float:
    return float(recount.loc[state, column] / recount.loc[state].sum())


# -- fitted numbers against a direct recount -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "column"),
    [(0, "0"), (0, "1"), (1, "0"), (1, "2"), (2, "3"), (3, "1"), (5, "6"), (6, "1"), (6, "charge_off")],
)
def test_transition_cell_matches_recount(fitted: Scenario, recount: pd.DataFrame, state: int, column: str) -> None:
    column_index = ["0", "1", "2", "3", "4", "5", "6", "charge_off"].index(column)
    expected = transition_probability(recount, state, column)
    assert fitted.transitions.monthly[state][column_index] == pytest.approx(expected, abs=1e-12)


def test_transitions_observed_match_recount(fitted: Scenario, recount: pd.DataFrame) -> None:
    expected = {int(state): int(total) for state, total in recount.sum(axis=1).items()}
    assert fitted.calibration.transitions_observed == expected


def test_rows_sum_to_one(fitted: Scenario) -> None:
    for state, row in fitted.transitions.monthly.items():
        assert sum(row) == pytest.approx(1.0, abs=1e-12), f"row {state}"


def test_no_mass_above_next_state(fitted: Scenario) -> None:
    for state, row in fitted.transitions.monthly.items():
        reachable_columns = state + 2 if state < 6 else 8
        assert all(p == 0.0 for p in row[reachable_columns:]), f"row {state}: {row}"
        if state == 6:
            assert row[6] == 0.0, "state 6 to state 6 is counted as charge-off"


def test_full_payoff_share_state_1_matches_recount(fitted: Scenario, raw: pd.DataFrame) -> None:
    cures = []
    months = [
        ("PAY_6", "PAY_5", 6, 5),
        ("PAY_5", "PAY_4", 5, 4),
        ("PAY_4", "PAY_3", 4, 3),
        ("PAY_3", "PAY_2", 3, 2),
    ]
    for earlier, later, bill_month, payment_month in months:
        cured = (raw[earlier].map(STATUS_TO_STATE) == 1) & (raw[later].map(STATUS_TO_STATE) == 0)
        bill = raw.loc[cured, f"BILL_AMT{bill_month}"]
        payment = raw.loc[cured, f"PAY_AMT{payment_month}"]
        cures.append(payment[bill > 0] >= bill[bill > 0])
    expected = float(pd.concat(cures).mean())
    assert fitted.transitions.full_payoff_share[1] == pytest.approx(expected, abs=1e-12)


def test_initial_mix_matches_april_counts(fitted: Scenario, raw: pd.DataFrame) -> None:
    april = raw["PAY_6"].map(STATUS_TO_STATE)
    counts = april[april > 0].value_counts()
    for state in range(1, 7):
        expected = counts.get(state, 0) / counts.sum()
        assert fitted.portfolio.initial_cycles_past_due[state] == pytest.approx(expected, abs=1e-12), state


def test_balance_fit_matches_april_bills(fitted: Scenario, raw: pd.DataFrame) -> None:
    delinquent = raw[(raw["PAY_6"].map(STATUS_TO_STATE) > 0) & (raw["BILL_AMT6"] > 0)]
    logs = np.log(delinquent["BILL_AMT6"] / 32.2)
    assert fitted.portfolio.balance.mean_log == pytest.approx(logs.mean(), abs=1e-9)
    assert fitted.portfolio.balance.sd_log == pytest.approx(logs.std(ddof=0), abs=1e-9)


def test_minimum_payment_rate_in_range(fitted: Scenario) -> None:
    # Revolving accounts (status 0) pay a median of about 5% of the bill, and the minimum is below that.
    assert 0.01 <= fitted.portfolio.minimum_payment_rate <= 0.05


def test_unfitted_fields_keep_defaults(fitted: Scenario) -> None:
    defaults = Scenario()
    assert fitted.response == defaults.response
    assert fitted.channels == defaults.channels
    assert fitted.debtor_types == defaults.debtor_types
    assert fitted.portfolio.late_fee == defaults.portfolio.late_fee


# -- the state mapping ---------------------------------------------------------------------------------------


def test_mapping_has_no_jumps(uci_csv: Path, raw: pd.DataFrame) -> None:
    assert count_jumps(uci_transitions(load_uci(uci_csv))) == 0
    for earlier, later in FITTED_STATUS_PAIRS:
        rise = raw[later].map(STATUS_TO_STATE) - raw[earlier].map(STATUS_TO_STATE)
        assert int((rise > 1).sum()) == 0, f"{earlier} -> {later}"


def test_status_one_is_rare_before_september(raw: pd.DataFrame) -> None:
    for column in ["PAY_6", "PAY_5", "PAY_4", "PAY_3", "PAY_2"]:
        assert int((raw[column] == 1).sum()) < 50, column
    assert int((raw["PAY_0"] == 1).sum()) > 1000


# -- the shipped default.yaml --------------------------------------------------------------------------------


def test_shipped_default_loads() -> None:
    scenario = Scenario.load("default")
    assert scenario.name == "default"
    assert scenario.calibration.sha256 is not None


def test_shipped_default_matches_fit(fitted: Scenario) -> None:
    shipped_path = SHIPPED_SCENARIO_DIR / "default.yaml"
    shipped = shipped_path.read_text(encoding="utf-8")
    regenerated = render_scenario_yaml(fitted, calibration_header(fitted))
    diff = "".join(
        difflib.unified_diff(
            shipped.splitlines(keepends=True), regenerated.splitlines(keepends=True), "shipped", "fit_uci"
        )
    )
    assert shipped == regenerated, f"{shipped_path} is stale; regenerate it with:\n{fitted.calibration.command}\n{diff}"


def test_calibrate_twice_gives_identical_files(uci_csv: Path, tmp_path: Path) -> None:
    first = tmp_path / "first.yaml"
    second = tmp_path / "second.yaml"
    calibrate_uci(uci_csv, first)
    calibrate_uci(uci_csv, second)
    assert first.read_bytes() == second.read_bytes()


def test_written_yaml_round_trips(uci_csv: Path, fitted: Scenario, tmp_path: Path) -> None:
    out = tmp_path / "default.yaml"
    loaded = calibrate_uci(uci_csv, out)
    assert Scenario.from_yaml(out) == loaded
    for state, row in loaded.transitions.monthly.items():
        assert sum(row) == pytest.approx(1.0, abs=1e-6), f"row {state}"
        assert row == pytest.approx(fitted.transitions.monthly[state], abs=1e-6), f"row {state}"
    command = (
        "arrears calibrate --uci ../shared/data/uci-credit-card-default/UCI_Credit_Card.csv"
        " --out sim/scenarios/default.yaml"
    )
    assert loaded.calibration.command == command
    assert f"#   {command}\n" in out.read_text(encoding="utf-8"), "the header names the regenerating command"


def test_cli_records_command_it_ran(uci_csv: Path, tmp_path: Path) -> None:
    from experiments.cli import main

    subset = tmp_path / "first_rows.csv"
    pd.read_csv(uci_csv, nrows=3_000).to_csv(subset, index=False)
    out = tmp_path / "mine.yaml"
    assert main(["calibrate", "--uci", str(subset), "--out", str(out)]) == 0

    command = f"arrears calibrate --uci {subset} --out {out}"
    text = out.read_text(encoding="utf-8")
    assert Scenario.from_yaml(out).calibration.command == command
    assert f"#   {command}\n" in text, "the header names the command that wrote the file"


# -- writing without the data --------------------------------------------------------------------------------


def test_round_distribution_keeps_sum_and_zeros() -> None:
    shares = [1 / 3, 1 / 3, 1 / 3 - 1e-9, 1e-9, 0.0]
    rounded = round_distribution(shares)
    assert sum(rounded) == pytest.approx(1.0, abs=1e-6)
    assert rounded[-1] == 0.0
    for share in rounded:
        assert share == float(f"{share:.6g}"), f"{share!r} has more than 6 significant digits"


def test_write_scenario_rounds_rows_that_still_load(tmp_path: Path) -> None:
    # Row s spreads evenly over the states it can reach, so rows 1, 4 and 5 hold 1/3, 1/6 and 1/7.
    monthly = {}
    for state in range(7):
        reachable = state + 2 if state < 6 else 8
        monthly[state] = [1 / reachable] * reachable + [0.0] * (8 - reachable)
    scenario = Scenario(name="uniform", transitions=Transitions(monthly=monthly))

    out = write_scenario(scenario, tmp_path / "uniform.yaml", ["test header"])
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# test header\n")
    assert "portfolio" not in text, "fields left at their defaults are not written"

    loaded = Scenario.from_yaml(out)
    assert loaded.transitions.monthly[1][:3] == [0.333334, 0.333333, 0.333333]
    for state, row in loaded.transitions.monthly.items():
        assert sum(row) == pytest.approx(1.0, abs=1e-6), f"row {state}"


# -- input errors --------------------------------------------------------------------------------------------


def write_csv(path: Path, columns: list[str], rows: int = 3) -> Path:
    frame = pd.DataFrame({column: [0] * rows for column in columns})
    frame["LIMIT_BAL"] = 50000
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("missing", ["PAY_3", "BILL_AMT6", "LIMIT_BAL"])
def test_missing_column_raises(tmp_path: Path, missing: str) -> None:
    columns = [column for column in ["ID", *REQUIRED_COLUMNS] if column != missing]
    frame = pd.DataFrame({column: [0, 0] for column in columns})
    frame.to_csv(tmp_path / "broken.csv", index=False)
    with pytest.raises(ConfigError) as caught:
        load_uci(tmp_path / "broken.csv")
    assert caught.value.key_path == missing
    assert "missing column" in caught.value.message


def test_non_numeric_value_raises(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "text.csv", REQUIRED_COLUMNS)
    frame = pd.read_csv(path)
    frame["BILL_AMT2"] = frame["BILL_AMT2"].astype(object)
    frame.loc[1, "BILL_AMT2"] = "n/a"
    frame.to_csv(path, index=False)
    with pytest.raises(ConfigError) as caught:
        load_uci(path)
    assert caught.value.key_path == "BILL_AMT2"
    assert "'n/a'" in caught.value.message
    assert "data row 2" in caught.value.message


def test_invalid_status_raises(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "status.csv", REQUIRED_COLUMNS)
    frame = pd.read_csv(path)
    frame.loc[0, "PAY_4"] = 12
    frame.to_csv(path, index=False)
    with pytest.raises(ConfigError) as caught:
        load_uci(path)
    assert caught.value.key_path == "PAY_4"


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_uci(tmp_path / "absent.csv")
    assert "file not found" in caught.value.message
    assert caught.value.source == str(tmp_path / "absent.csv")


def test_fit_without_state_raises(tmp_path: Path) -> None:
    # Every account current in every month: rows 1..6 of the matrix have no transitions to fit.
    path = write_csv(tmp_path / "current.csv", REQUIRED_COLUMNS)
    with pytest.raises(ConfigError) as caught:
        fit_uci(path)
    assert "no transitions from 1 cycles past due" in caught.value.message
