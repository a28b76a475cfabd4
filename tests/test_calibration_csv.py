"""Tests of `arrears calibrate --csv`: the long monthly CSV schema, its fit, the holdout validation and input errors."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import shared_data_dir
from scipy import stats as scipy_stats

from experiments.cli import main
from sim import simulate
from sim.calibration import (
    compare_transition_counts,
    fit_monthly_csv,
    fit_uci,
    holdout_accounts,
    load_monthly_csv,
    load_uci,
    monthly_transitions,
    transition_counts,
)
from sim.scenario import Scenario

UCI_RELATIVE_PATH = Path("uci-credit-card-default") / "UCI_Credit_Card.csv"
# UCI month index of each repayment-status column in the fitted window, with its calendar month.
UCI_MONTHS = {"2005-04": 6, "2005-05": 5, "2005-06": 4, "2005-07": 3, "2005-08": 2}
# Status code to cycles past due, written out in full as an independent check of sim.calibration's mapping.
STATUS_TO_STATE = {-2: 0, -1: 0, 0: 0, 1: 1, 2: 1, 3: 2, 4: 3, 5: 4, 6: 5, 7: 6, 8: 6, 9: 6}
TWD_PER_USD = 32.2

# A monthly matrix in which every row can reach every state the model allows; column 7 is charge-off.
KNOWN_MATRIX = np.array(
    [
        [0.90, 0.10, 0, 0, 0, 0, 0, 0],
        [0.35, 0.40, 0.25, 0, 0, 0, 0, 0],
        [0.20, 0.15, 0.30, 0.35, 0, 0, 0, 0],
        [0.10, 0.10, 0.10, 0.30, 0.40, 0, 0, 0],
        [0.05, 0.05, 0.05, 0.10, 0.30, 0.45, 0, 0],
        [0.05, 0.05, 0.05, 0.05, 0.10, 0.20, 0.50, 0],
        [0.05, 0.05, 0.05, 0.05, 0.05, 0.10, 0.25, 0.40],
    ]
)
SYNTHETIC_ACCOUNTS = 6_000
SYNTHETIC_MONTHS = 12
# Accounts whose sixth row is removed, so that their histories have one gap each.
ACCOUNTS_WITH_GAP = 500


# -- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def uci_csv() -> Path:
    path = shared_data_dir() / UCI_RELATIVE_PATH
    if not path.is_file():
        pytest.skip(f"UCI data not found at {path}; set ARREARS_SHARED_DATA to the folder that contains it")
    return path


@pytest.fixture(scope="module")
def uci_long(uci_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """Write the UCI April-August histories as a long monthly CSV. Returns its path and the raw UCI frame."""
    raw = pd.read_csv(uci_csv)
    frames = []
    for month, index in UCI_MONTHS.items():
        status_column = "PAY_0" if index == 1 else f"PAY_{index}"
        frames.append(
            pd.DataFrame(
                {
                    "account_id": "client-" + raw["ID"].astype(str),
                    "month": month,
                    "cycles_past_due": raw[status_column].map(STATUS_TO_STATE),
                    # The schema has no credit balances; the UCI fits use positive bills only, so 0 changes nothing.
                    "balance": raw[f"BILL_AMT{index}"].clip(lower=0),
                    "credit_limit": raw["LIMIT_BAL"],
                    "payment": raw[f"PAY_AMT{index}"],
                }
            )
        )
    path = tmp_path_factory.mktemp("uci") / "uci_long.csv"
    # Rows in month order, not account order, so the loader has to sort them.
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)
    return path, raw


def synthetic_histories(seed: int = 7) -> pd.DataFrame:
    """Simulate monthly histories from KNOWN_MATRIX, with a charged_off flag and one gap in some accounts."""
    rng = np.random.default_rng(seed)
    cumulative = KNOWN_MATRIX.cumsum(axis=1)
    states = rng.integers(0, 7, size=SYNTHETIC_ACCOUNTS)
    active = np.ones(SYNTHETIC_ACCOUNTS, dtype=bool)
    account_ids = np.array([f"ACCT-{rng.integers(16**8):08x}-{i}" for i in range(SYNTHETIC_ACCOUNTS)])
    rows = []
    for month in range(SYNTHETIC_MONTHS):
        balances = rng.lognormal(7.0, 1.0, size=SYNTHETIC_ACCOUNTS).round(2)
        charged_off = states == 7
        rows.append(
            pd.DataFrame(
                {
                    "account_id": account_ids[active],
                    "month": f"2023-{month + 1:02d}",
                    "cycles_past_due": np.minimum(states, 6)[active],
                    "balance": balances[active],
                    "credit_limit": (balances * 2)[active],
                    "charged_off": charged_off[active].astype(int),
                }
            )
        )
        # A charged-off account has one charged-off row and then leaves the file.
        active &= ~charged_off
        draws = rng.random(SYNTHETIC_ACCOUNTS)
        next_states = (draws[:, None] > cumulative[np.minimum(states, 6)]).sum(axis=1)
        states = np.where(charged_off, 7, next_states)
    frame = pd.concat(rows, ignore_index=True)

    sixth_month = frame[(frame["month"] == "2023-06") & (frame["charged_off"] == 0)]
    with_gap = sixth_month.index[:ACCOUNTS_WITH_GAP]
    return frame.drop(index=with_gap)


@pytest.fixture(scope="module")
def synthetic_csv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    frame = synthetic_histories()
    path = tmp_path_factory.mktemp("synthetic") / "histories.csv"
    frame.to_csv(path, index=False)
    return path, frame


# -- the UCI data in the long format gives the UCI fit -------------------------------------------------------


def test_uci_long_format_matches_uci_fit(uci_long: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    long_path, raw = uci_long
    ids = "client-" + raw["ID"].astype(str)
    fitted_part = raw[~holdout_accounts(ids)]
    uci_subset = tmp_path / "UCI_fitted_part.csv"
    fitted_part.to_csv(uci_subset, index=False)

    expected = fit_uci(uci_subset)
    fitted = fit_monthly_csv(long_path)

    assert fitted.calibration.transitions_observed == expected.calibration.transitions_observed
    for state, row in expected.transitions.monthly.items():
        assert fitted.transitions.monthly[state] == pytest.approx(row, abs=1e-12), f"row {state}"
    for state, share in expected.transitions.full_payoff_share.items():
        assert fitted.transitions.full_payoff_share[state] == pytest.approx(share, abs=1e-12), f"state {state}"
    for state, share in expected.portfolio.initial_cycles_past_due.items():
        assert fitted.portfolio.initial_cycles_past_due[state] == pytest.approx(share, abs=1e-12), f"state {state}"
    # The UCI fit converts NT$ to USD and the CSV fit keeps the file's currency.
    assert fitted.portfolio.balance.mean_log == pytest.approx(
        expected.portfolio.balance.mean_log + math.log(TWD_PER_USD), abs=1e-9
    )
    assert fitted.portfolio.balance.sd_log == pytest.approx(expected.portfolio.balance.sd_log, abs=1e-9)


def test_uci_long_unsplit_matches_full_fit(uci_csv: Path, uci_long: tuple[Path, pd.DataFrame]) -> None:
    expected = fit_uci(uci_csv)
    fitted = fit_monthly_csv(uci_long[0], holdout_share=0.0)
    assert fitted.calibration.transitions_observed == expected.calibration.transitions_observed
    for state, row in expected.transitions.monthly.items():
        assert fitted.transitions.monthly[state] == pytest.approx(row, abs=1e-12), f"row {state}"


# -- a synthetic file from a known matrix --------------------------------------------------------------------


def test_synthetic_matrix_is_recovered(synthetic_csv: tuple[Path, pd.DataFrame]) -> None:
    fitted = fit_monthly_csv(synthetic_csv[0])
    observed = fitted.calibration.transitions_observed
    for state in range(7):
        row = np.array(fitted.transitions.monthly[state])
        assert observed[state] >= 2_000, f"row {state} rests on {observed[state]} transitions"
        # Four binomial standard errors per cell, and at least 0.005.
        tolerance = np.maximum(0.005, 4 * np.sqrt(KNOWN_MATRIX[state] * (1 - KNOWN_MATRIX[state]) / observed[state]))
        difference = np.abs(row - KNOWN_MATRIX[state])
        assert (difference <= tolerance).all(), f"row {state}: fitted {row.round(4)}, true {KNOWN_MATRIX[state]}"
        unreachable = KNOWN_MATRIX[state] == 0
        assert (row[unreachable] == 0).all(), f"row {state} gives probability to an impossible move"


def test_synthetic_gaps_are_skipped(synthetic_csv: tuple[Path, pd.DataFrame]) -> None:
    transitions, skipped = monthly_transitions(load_monthly_csv(synthetic_csv[0]))
    assert skipped["gaps"] == ACCOUNTS_WITH_GAP
    assert skipped["jumps"] == 0
    assert skipped["early_charge_off"] == 0
    # Every account has SYNTHETIC_MONTHS rows at most, so no more than SYNTHETIC_MONTHS - 1 pairs.
    assert int(transitions.groupby("account").size().max()) <= SYNTHETIC_MONTHS - 1


def test_synthetic_holdout_validates_fit(synthetic_csv: tuple[Path, pd.DataFrame]) -> None:
    path, frame = synthetic_csv
    transitions, _ = monthly_transitions(load_monthly_csv(path))
    held_out = transitions["holdout"]
    validation = compare_transition_counts(
        transition_counts(transitions[~held_out]), transition_counts(transitions[held_out])
    )

    holdout_share = holdout_accounts(frame["account_id"].unique()).mean()
    assert 0.27 < holdout_share < 0.33
    assert (validation["holdout"] > 500).all()
    # Both parts come from one matrix, so they differ by sampling error only: small, but not zero.
    assert 0 < validation["max_abs_difference"].max() < 0.06
    assert (validation["impossible"] == 0).all()
    assert validation["p_value"].min() > 1e-4, validation.to_string()


def test_validation_p_values_hold_their_level() -> None:
    # Both parts are drawn from KNOWN_MATRIX, so about 5% of the p-values may fall below 0.05. A test that took the
    # fitted probabilities as exact ignores the fit part's own sampling error and rejects far more often.
    rng = np.random.default_rng(11)
    fit_totals, holdout_totals = 7_000, 3_000
    columns = range(KNOWN_MATRIX.shape[1])
    p_values = []
    for _ in range(300):
        fit = pd.DataFrame([rng.multinomial(fit_totals, row) for row in KNOWN_MATRIX], columns=columns)
        holdout = pd.DataFrame([rng.multinomial(holdout_totals, row) for row in KNOWN_MATRIX], columns=columns)
        p_values.append(compare_transition_counts(fit, holdout)["p_value"].to_numpy())
    rejected = float((np.concatenate(p_values) < 0.05).mean())
    assert rejected < 0.07, f"{rejected:.3f} of p-values below 0.05 when both parts share one matrix"


def test_sparse_row_monte_carlo_p_value() -> None:
    # Row 0 has an expected count of 2.6, where the chi-square approximation fails; row 1 has hundreds per cell.
    fit = pd.DataFrame([[1, 26], [400, 600]], columns=[0, 1])
    holdout = pd.DataFrame([[6, 10], [170, 260]], columns=[0, 1])

    validation = compare_transition_counts(fit, holdout)

    assert validation["p_method"].tolist() == ["monte_carlo", "chi_square"]
    # A label permutation of the row's 43 transitions, with another generator, estimates the same exact p-value.
    rng = np.random.default_rng(5)
    labels = np.repeat([0, 0, 1, 1], [1, 26, 6, 10])  # 0: fit part, 1: holdout part
    outcome = np.repeat([0, 1, 0, 1], [1, 26, 6, 10])
    observed = validation.loc[0, "chi_square"]
    permuted = []
    for _ in range(20_000):
        shuffled = rng.permutation(labels)
        table = np.array([[np.sum((shuffled == part) & (outcome == cell)) for cell in (0, 1)] for part in (0, 1)])
        permuted.append(scipy_stats.chi2_contingency(table, correction=False)[0])
    expected = (1 + np.sum(np.array(permuted) >= observed * (1 - 1e-9))) / (1 + len(permuted))
    assert validation.loc[0, "p_value"] == pytest.approx(expected, abs=0.004)
    # The chi-square approximation would have been off by far more than the Monte Carlo error.
    assert validation.loc[0, "p_value"] != pytest.approx(scipy_stats.chi2.sf(observed, 1), rel=0.3)
    assert validation.loc[1, "p_value"] == pytest.approx(scipy_stats.chi2.sf(validation.loc[1, "chi_square"], 1))


def test_row_without_fitted_transitions_not_rejected() -> None:
    # With no fitted transitions in a row, every table of its margins is the observed one: nothing to reject.
    fit = pd.DataFrame([[0, 0, 0], [40, 30, 30]], columns=[0, 1, 2])
    holdout = pd.DataFrame([[2, 0, 1], [15, 12, 13]], columns=[0, 1, 2])

    validation = compare_transition_counts(fit, holdout)

    assert validation.loc[0, "p_method"] == "monte_carlo"
    assert validation.loc[0, "chi_square"] == 0.0
    assert validation.loc[0, "p_value"] == 1.0


def test_huge_cycles_read_as_state_six(tmp_path: Path) -> None:
    path = tmp_path / "huge_cycles.csv"
    path.write_text(
        "account_id,month,cycles_past_due,balance\na,2024-01,5,100\na,2024-02,6,100\na,2024-03,1e20,100\n",
        encoding="utf-8",
    )
    data = load_monthly_csv(path)
    assert data["cycles_past_due"].min() >= 0
    transitions, _ = monthly_transitions(data)
    moves = sorted(zip(transitions["from_state"], transitions["to_state"], strict=True))
    assert moves == [(5, 6), (6, 7)]


def test_loan_base_leaves_charged_off_states_out(synthetic_csv: tuple[Path, pd.DataFrame]) -> None:
    # Instalment loans charge off at 120 DPD, so accounts 5 or 6 cycles behind would be charged off on day 0.
    card = fit_monthly_csv(synthetic_csv[0])
    loan = fit_monthly_csv(synthetic_csv[0], base="instalment_loan")
    assert card.portfolio.initial_cycles_past_due[6] > 0
    assert loan.portfolio.initial_cycles_past_due[5] == 0
    assert loan.portfolio.initial_cycles_past_due[6] == 0
    assert sum(loan.portfolio.initial_cycles_past_due.values()) == pytest.approx(1.0)
    assert "charges off at 120 DPD" in " ".join(loan.calibration.notes)


def test_holdout_split_ignores_file_order() -> None:
    ids = [f"A{i}" for i in range(1_000)]
    forward = dict(zip(ids, holdout_accounts(ids), strict=True))
    backward = dict(zip(ids[::-1], holdout_accounts(ids[::-1]), strict=True))
    assert forward == backward
    assert 250 < sum(forward.values()) < 350


def test_state_six_twice_charges_off(tmp_path: Path) -> None:
    path = tmp_path / "no_flag.csv"
    path.write_text(
        "account_id,month,cycles_past_due,balance\n"
        "a,2024-01,5,100\na,2024-02,6,100\na,2024-03,6,100\na,2024-04,7,100\n"
        "b,2024-01,6,100\nb,2024-02,1,100\n",
        encoding="utf-8",
    )
    transitions, _ = monthly_transitions(load_monthly_csv(path))
    moves = sorted(zip(transitions["from_state"], transitions["to_state"], strict=True))
    assert moves == [(5, 6), (6, 1), (6, 7), (6, 7)]


# -- the written scenario ------------------------------------------------------------------------------------


def test_written_scenario_has_no_account_ids(synthetic_csv: tuple[Path, pd.DataFrame], tmp_path: Path, capsys) -> None:
    path, frame = synthetic_csv
    out = tmp_path / "mine.yaml"
    assert main(["calibrate", "--csv", str(path), "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    printed = capsys.readouterr()

    leaked = [account for account in frame["account_id"].unique() if account in text]
    assert leaked == [], f"{len(leaked)} account ids in the scenario, such as {leaked[:3]}"
    assert "ACCT-" not in text
    assert "ACCT-" not in printed.out + printed.err


def test_written_scenario_loads_and_simulates(synthetic_csv: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    out = tmp_path / "mine.yaml"
    assert main(["calibrate", "--csv", str(synthetic_csv[0]), "--out", str(out), "--base", "tiny"]) == 0

    written = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert "extends" not in written
    assert set(written) == set(Scenario.model_fields), "the file lists every key"

    scenario = Scenario.from_yaml(out)
    base = Scenario.load("tiny")
    assert scenario.name == "mine"
    assert scenario.response == base.response
    assert scenario.economics == base.economics
    assert scenario.portfolio.late_fee == base.portfolio.late_fee
    assert scenario.transitions.monthly[6][7] == pytest.approx(KNOWN_MATRIX[6, 7], abs=0.05)
    assert scenario.calibration.command.startswith("arrears calibrate --csv ")
    assert any(note.startswith("Validation of the fitted matrix") for note in scenario.calibration.notes)

    result = simulate(scenario, "do_nothing", n_accounts=300, days=90, seed=3)
    assert int(result.transitions.to_numpy().sum()) > 0


# -- input errors --------------------------------------------------------------------------------------------

GOOD_ROWS = "account_id,month,cycles_past_due,balance,credit_limit,charged_off\n" + "".join(
    f"acct-{i},2024-0{m},{(i + m) % 3},{100 + i},{500 + i},0\n" for i in range(3) for m in (1, 2)
)


def replace_cell(text: str, line: int, column: str, value: str) -> str:
    """Set one cell of a CSV text; ``line`` counts from 1, the header."""
    lines = text.splitlines()
    header = lines[0].split(",")
    cells = lines[line - 1].split(",")
    cells[header.index(column)] = value
    lines[line - 1] = ",".join(cells)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("line", "column", "value", "fragment"),
    [
        (3, "month", "2024-13", "invalid month '2024-13' in line 3; expected YYYY-MM"),
        (4, "month", "03/2024", "invalid month '03/2024' in line 4"),
        (5, "balance", "-12.5", "invalid amount -12.5 in line 5; expected an amount of 0 or more"),
        (2, "cycles_past_due", "1.5", "invalid value 1.5 in line 2; expected a whole number"),
        (6, "cycles_past_due", "-1", "invalid value -1 in line 6"),
        (7, "cycles_past_due", "two", "non-numeric value 'two' in line 7"),
        (3, "credit_limit", "0", "invalid amount 0 in line 3; expected a positive amount"),
        (4, "charged_off", "yes", "invalid value 'yes' in line 4; expected 0, 1, true or false"),
        (3, "month", "2024-01", "line 3 repeats the month of an earlier row of the same account"),
        (5, "account_id", "", "missing value in line 5"),
        (6, "account_id", "   ", "missing value in line 6"),
    ],
)
def test_bad_value_exits_2_naming_line(
    tmp_path: Path, capsys, line: int, column: str, value: str, fragment: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(replace_cell(GOOD_ROWS, line, column, value), encoding="utf-8")
    code = main(["calibrate", "--csv", str(path), "--out", str(tmp_path / "out.yaml")])
    err = capsys.readouterr().err

    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got {err!r}"
    assert lines[0].startswith(f"arrears calibrate: error: {path}: {column}: ")
    assert fragment in lines[0]
    assert "acct-" not in lines[0], "no account id in the message"
    assert not (tmp_path / "out.yaml").exists()


@pytest.mark.parametrize("missing", ["account_id", "month", "cycles_past_due", "balance"])
def test_missing_column_exits_2(tmp_path: Path, capsys, missing: str) -> None:
    frame = pd.read_csv(pd.io.common.StringIO(GOOD_ROWS)).drop(columns=missing)
    path = tmp_path / "short.csv"
    frame.to_csv(path, index=False)
    code = main(["calibrate", "--csv", str(path), "--out", str(tmp_path / "out.yaml")])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert f"{path}: {missing}: missing column" in err


def test_csv_without_out_exits_2(tmp_path: Path, capsys) -> None:
    path = tmp_path / "good.csv"
    path.write_text(GOOD_ROWS, encoding="utf-8")
    assert main(["calibrate", "--csv", str(path)]) == 2
    assert "--out: missing" in capsys.readouterr().err


def test_uci_and_csv_are_exclusive(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["calibrate", "--uci", "a.csv", "--csv", "b.csv", "--out", str(tmp_path / "x.yaml")])
    assert caught.value.code == 2
    assert "not allowed with argument --uci" in capsys.readouterr().err


def test_base_with_uci_exits_2(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["calibrate", "--uci", "a.csv", "--base", "tiny", "--out", str(tmp_path / "x.yaml")])
    assert caught.value.code == 2
    assert "argument --base: applies only with --csv" in capsys.readouterr().err
    assert not (tmp_path / "x.yaml").exists()


def test_absent_optional_columns_keep_base(synthetic_csv: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    path = tmp_path / "required_only.csv"
    frame = synthetic_csv[1][["account_id", "month", "cycles_past_due", "balance"]].copy()
    frame["payment"] = ""  # present but empty throughout, so it cannot be used
    frame.to_csv(path, index=False)

    fitted = fit_monthly_csv(path)
    base = Scenario.load("default")
    assert fitted.transitions.full_payoff_share == base.transitions.full_payoff_share
    assert fitted.portfolio.credit_limit == base.portfolio.credit_limit
    assert fitted.portfolio.minimum_payment_rate == base.portfolio.minimum_payment_rate
    assert fitted.portfolio.balance != base.portfolio.balance, "the balance is fitted from the required columns"
    not_fitted = [note for note in fitted.calibration.notes if "not fitted" in note]
    assert len(not_fitted) == 3, not_fitted


def test_minimum_due_sets_rate(tmp_path: Path) -> None:
    rows = ["account_id,month,cycles_past_due,balance,minimum_due"]
    for account in range(40):
        for month in (1, 2, 3):
            balance = 1_000 + 10 * account
            rows.append(f"m{account},2024-0{month},{(account + month) % 7},{balance},{0.03 * balance:.2f}")
    path = tmp_path / "minimum_due.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    fitted = fit_monthly_csv(path, holdout_share=0.0)
    assert fitted.portfolio.minimum_payment_rate == pytest.approx(0.03, abs=1e-6)


def test_thin_file_warns_and_skips_chi_square(tmp_path: Path, caplog) -> None:
    # 14 accounts that each move one state a month: every row has 10 transitions, all to one cell.
    rows = ["account_id,month,cycles_past_due,balance"]
    for account in range(14):
        state = account % 7
        for month in range(1, 9):
            rows.append(f"acc{account},2024-0{month},{state},{500 + 10 * month}")
            state = 0 if state == 6 else state + 1
    path = tmp_path / "thin.csv"
    path.write_text("\n".join(rows) + "\n")

    with caplog.at_level("WARNING", logger="sim.calibration"):
        scenario = fit_monthly_csv(path, name="thin")

    assert "transition rows 0, 1, 2, 3, 4, 5, 6 rest on fewer than 200 transitions" in caplog.text
    notes = " ".join(scenario.calibration.notes)
    assert "Split: of 14 accounts, 10 fitted and 4 held out" in notes
    assert "one reachable cell, so no chi-square test" in notes
    assert "on 0 df" not in notes


def test_row_with_extra_fields_names_the_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "wide.csv"
    path.write_text("account_id,month,cycles_past_due,balance\na,2020-01,1,5\nb,2020-01,1,5,7,8\n")
    code = main(["calibrate", "--csv", str(path), "--out", str(tmp_path / "out.yaml")])
    err = capsys.readouterr().err
    assert code == 2
    assert "wide.csv: line 3 has 6 fields, the header 4" in err
    assert not (tmp_path / "out.yaml").exists()


def test_first_row_with_extra_fields_names_the_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "wide.csv"
    path.write_text("account_id,month,cycles_past_due,balance\na,2020-01,1,5,7,8\nb,2020-01,1,5\n")
    code = main(["calibrate", "--csv", str(path), "--out", str(tmp_path / "out.yaml")])
    assert code == 2
    assert "wide.csv: line 2 has 6 fields, the header 4" in capsys.readouterr().err


def test_row_with_too_few_fields_names_the_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "narrow.csv"
    path.write_text("account_id,month,cycles_past_due,balance\na,2020-01,1,5\nb,2020-01,1\n")
    code = main(["calibrate", "--csv", str(path), "--out", str(tmp_path / "out.yaml")])
    err = capsys.readouterr().err
    assert code == 2
    assert "narrow.csv: line 3 has 3 fields, the header 4; every row needs 4 fields" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.yaml").exists()


def test_short_row_with_empty_optional_column_is_rejected(tmp_path: Path) -> None:
    # Without the width check, pandas reads the missing payment as an empty cell.
    path = tmp_path / "narrow.csv"
    path.write_text("account_id,month,cycles_past_due,balance,payment\na,2020-01,1,5,0\na,2020-02,1,5\n")
    from sim.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_monthly_csv(path)
    assert caught.value.source == str(path)
    assert "line 3 has 4 fields, the header 5; every row needs 5 fields" in caught.value.message


def test_blank_lines_are_not_short_rows(tmp_path: Path) -> None:
    path = tmp_path / "blank.csv"
    path.write_text("account_id,month,cycles_past_due,balance\na,2020-01,1,5\n\nb,2020-01,0,7\n\n")
    data = load_monthly_csv(path)
    assert len(data) == 2


def test_out_that_is_the_input_csv_exits_2(synthetic_csv, tmp_path, capsys) -> None:
    copy = tmp_path / "histories.csv"
    copy.write_bytes(synthetic_csv[0].read_bytes())
    before = copy.read_bytes()

    code = main(["calibrate", "--csv", str(copy), "--out", str(tmp_path / "." / "histories.csv")])

    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"arrears calibrate: error: {tmp_path / '.' / 'histories.csv'}: --out: is the --csv file it reads; "
        "name another file for the scenario YAML"
    ]
    assert copy.read_bytes() == before


def test_repeated_column_names_the_column(tmp_path, capsys) -> None:
    path = tmp_path / "twice.csv"
    path.write_text(
        "account_id,month,cycles_past_due,balance,balance\nA,2024-01,0,100,200\nA,2024-02,1,150,250\n", encoding="utf-8"
    )
    code = main(["calibrate", "--csv", str(path), "--out", str(tmp_path / "out.yaml")])
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"arrears calibrate: error: {path}: balance: column named more than once in the header; keep one"]
    assert not (tmp_path / "out.yaml").exists()


def assert_not_a_valid_csv(path, tmp_path, capsys) -> None:
    """Calibrating from ``path`` exits 2 with one line saying it is not a valid CSV file, and writes nothing."""
    code = main(["calibrate", "--csv", str(path), "--out", str(tmp_path / "out.yaml")])
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"arrears calibrate: error: {path}: not a valid CSV file")
    assert not (tmp_path / "out.yaml").exists()


def test_compressed_csv_exits_2(tmp_path, capsys) -> None:
    path = tmp_path / "histories.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as file:
        file.write("account_id,month,cycles_past_due,balance\nA,2024-01,0,100\nA,2024-02,1,150\n")
    assert_not_a_valid_csv(path, tmp_path, capsys)


def test_wide_row_before_non_utf8_bytes_exits_2(tmp_path, capsys) -> None:
    # A Latin-1 export whose third line has an extra field: pandas reports the field count first.
    rows = [b"account_id,month,cycles_past_due,balance", b"A,2024-01,0,100", b"A,2024-02,0,100,9"]
    rows += [b"A%d,2024-01,0,100" % number for number in range(20)]
    rows += [b"B\xe9,2024-01,0,100", b""]
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"\n".join(rows))
    assert_not_a_valid_csv(path, tmp_path, capsys)


def test_field_longer_than_csv_limit_is_read(tmp_path) -> None:
    # The csv module's default limit is 131,072 characters a field; pandas has none.
    note = "x" * 200_000
    path = tmp_path / "notes.csv"
    path.write_text(
        f"account_id,month,cycles_past_due,balance,note\nA,2024-01,0,100,{note}\nA,2024-02,1,150,short\n",
        encoding="utf-8",
    )
    data = load_monthly_csv(path)
    assert len(data) == 2
    assert data["cycles_past_due"].tolist() == [0, 1]


def test_uci_field_longer_than_csv_limit_is_read(uci_csv: Path, tmp_path: Path) -> None:
    raw = pd.read_csv(uci_csv, nrows=50)
    raw["SEX"] = raw["SEX"].astype(str)
    raw.loc[3, "SEX"] = "1" * 200_000
    path = tmp_path / "uci_long_cell.csv"
    raw.to_csv(path, index=False)
    assert len(load_uci(path)) == 50


def test_uci_negative_payment_exits_2(uci_csv: Path, tmp_path: Path, capsys) -> None:
    raw = pd.read_csv(uci_csv, nrows=50)
    raw.loc[7, "PAY_AMT3"] = -5
    path = tmp_path / "negative_payment.csv"
    raw.to_csv(path, index=False)

    code = main(["calibrate", "--uci", str(path), "--out", str(tmp_path / "out.yaml")])

    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"arrears calibrate: error: {path}: PAY_AMT3: payment -5 in data row 8 is invalid; "
        "expected an amount of 0 or more"
    ]
    assert not (tmp_path / "out.yaml").exists()


def test_uci_repeated_client_exits_2(uci_csv: Path, tmp_path: Path, capsys) -> None:
    raw = pd.read_csv(uci_csv, nrows=50)
    path = tmp_path / "repeated_client.csv"
    pd.concat([raw, raw.iloc[[3]]], ignore_index=True).to_csv(path, index=False)

    code = main(["calibrate", "--uci", str(path), "--out", str(tmp_path / "out.yaml")])

    assert code == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        f"arrears calibrate: error: {path}: ID: data row 51 repeats the ID of an earlier row; "
        "expected one row per client"
    )
    # The message names rows, never a client's id.
    assert f" {raw['ID'][3]} " not in err
    assert not (tmp_path / "out.yaml").exists()
