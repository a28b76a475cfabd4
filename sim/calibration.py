"""Calibrate scenarios from account-level monthly histories: the UCI "default of credit card clients" data
(Taiwan, 2005), which gives the shipped default scenario, or a user's long monthly CSV (docs/calibration.md).

Fits monthly roll rates between cycles past due, cure payments, the delinquent portfolio mix, balances, credit
limits and the minimum payment rate, and writes them as a scenario YAML with their provenance.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import logging
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats
import yaml

from sim.atomic import atomic_write_text
from sim.errors import ConfigError
from sim.scenario import MAX_CYCLES_PAST_DUE, Calibration, LogNormal, Portfolio, Scenario, Transitions

logger = logging.getLogger(__name__)

#: UCI month index of each repayment-status, bill and payment column: 1 = September ... 6 = April 2005.
MONTH_NAMES = {1: "Sep", 2: "Aug", 3: "Jul", 4: "Jun", 5: "May", 6: "Apr"}
#: Fitted monthly transitions as (earlier, later) UCI month indices: Apr->May, May->Jun, Jun->Jul, Jul->Aug.
FIT_MONTH_PAIRS = ((6, 5), (5, 4), (4, 3), (3, 2))
#: UCI month index of the portfolio snapshot (April 2005).
SNAPSHOT_MONTH = 6

STATUS_COLUMNS = ["PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6"]
BILL_COLUMNS = [f"BILL_AMT{m}" for m in range(1, 7)]
PAYMENT_COLUMNS = [f"PAY_AMT{m}" for m in range(1, 7)]
REQUIRED_COLUMNS = ["LIMIT_BAL", *STATUS_COLUMNS, *BILL_COLUMNS, *PAYMENT_COLUMNS]
#: Repayment status values that UCI documents (-1, 1..9) or that occur in the file (-2, 0).
STATUS_RANGE = (-2, 9)

#: Column index of charge-off in a transition row (after the states 0..6).
CHARGE_OFF = MAX_CYCLES_PAST_DUE + 1
STATES = list(range(MAX_CYCLES_PAST_DUE + 1))

#: New Taiwan dollars per US dollar, an approximate 2005 average (not an official fixing).
TWD_PER_USD = 32.2
#: Width of the histogram bins in which the modal payment-to-bill ratio is looked for.
PAYMENT_RATIO_BIN = 0.001
#: Range that the fitted minimum payment rate is clipped to. It is an assumption about plausible card minimums.
MINIMUM_PAYMENT_RATE_RANGE = (0.01, 0.10)

UCI_CSV_NAME = "UCI_Credit_Card.csv"
#: Command that regenerates the shipped default scenario, run from the repository root.
REGENERATE_COMMAND = (
    "arrears calibrate --uci ../shared/data/uci-credit-card-default/UCI_Credit_Card.csv"
    " --out sim/scenarios/default.yaml"
)
FIT_WINDOW = "2005-04 to 2005-08: 4 pooled monthly transitions Apr->May, May->Jun, Jun->Jul, Jul->Aug"
SIGNIFICANT_DIGITS = 6

_LAYOUT_HINT = (
    "expected the UCI 'default of credit card clients' layout with LIMIT_BAL, PAY_0, PAY_2..PAY_6, "
    "BILL_AMT1..BILL_AMT6 and PAY_AMT1..PAY_AMT6 (the CSV published as UCI_Credit_Card.csv)"
)


# -- loading -------------------------------------------------------------------------------------------------


def _read_csv(path: Path, required: Sequence[str], layout_hint: str, **options) -> pd.DataFrame:
    """Read a CSV with ``pd.read_csv(path, **options)`` and check that it has data rows and every ``required`` column.

    Raises :class:`ConfigError` naming the file (and the column) when a check fails or the file cannot be read as CSV.
    """
    try:
        with warnings.catch_warnings():
            # A row with more fields than the header would otherwise turn its first fields into an index silently.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            # compression=None, because the checks below read the file as plain text and a .gz or .zip file would
            # pass pandas and then fail there.
            raw = pd.read_csv(path, index_col=False, compression=None, **options)
    except pd.errors.ParserWarning:
        raise ConfigError(str(path), "", f"{_first_row_of_wrong_width(path)}; {layout_hint}") from None
    except FileNotFoundError:
        raise ConfigError(str(path), "", f"file not found; {layout_hint}") from None
    except pd.errors.EmptyDataError:
        raise ConfigError(str(path), "", f"the file is empty; {layout_hint}") from None
    except pd.errors.ParserError as exc:
        # pandas reports a later row with too many fields as "Expected N fields in line L, saw M".
        problem = _first_row_of_wrong_width(path) if "fields in line" in str(exc) else f"not a valid CSV file ({exc})"
        raise ConfigError(str(path), "", f"{problem}; {layout_hint}") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(str(path), "", f"not a valid CSV file ({exc}); {layout_hint}") from None
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot be read: {exc.strerror}") from None

    try:
        repeated = _repeated_columns(path)
        # pandas fills a row with fewer fields than the header with missing values, so short rows are found here.
        problem = _find_row_of_wrong_width(path)
    except csv.Error as exc:
        raise ConfigError(str(path), "", f"not a valid CSV file ({exc}); {layout_hint}") from None
    if repeated:
        # pandas would rename the second one ("balance.1") and the fit would read the first without a word.
        raise ConfigError(str(path), repeated[0], "column named more than once in the header; keep one")
    for column in required:
        if column not in raw.columns:
            raise ConfigError(str(path), column, f"missing column; {layout_hint}")
    if raw.empty:
        raise ConfigError(str(path), "", "the file has a header but no data rows")
    if problem is not None:
        raise ConfigError(str(path), "", f"{problem}; {layout_hint}")
    return raw


@contextlib.contextmanager
def _csv_field_size_limit(path: Path) -> Iterator[None]:
    """Let the csv module read a field as long as the file, as pandas does, and restore its limit afterwards."""
    # The csv module stops at fields over 131,072 characters by default; its limit is a C long.
    previous = csv.field_size_limit(min(path.stat().st_size + 1, 2**31 - 1))
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _find_row_of_wrong_width(path: Path) -> str | None:
    """Describe the first CSV line whose number of fields differs from the header's, or return None.

    Blank lines are skipped, as pandas skips them.
    """
    with _csv_field_size_limit(path), open(path, newline="", encoding="utf-8") as file:
        rows = csv.reader(file)
        width = len(next(rows, []))
        for row in rows:
            if row and len(row) != width:
                # line_num counts physical lines, so a record with a quoted field that spans lines is named by its
                # last line.
                return f"line {rows.line_num} has {len(row)} fields, the header {width}; every row needs {width} fields"
    return None


def _repeated_columns(path: Path) -> list[str]:
    """Return the names that the CSV header lists more than once, in header order."""
    with _csv_field_size_limit(path), open(path, newline="", encoding="utf-8-sig") as file:
        header = next(csv.reader(file), [])
    return [name for position, name in enumerate(header) if name in header[:position]]


def _first_row_of_wrong_width(path: Path) -> str:
    """Describe the first CSV line whose number of fields differs from the header's."""
    try:
        found = _find_row_of_wrong_width(path)
    except UnicodeDecodeError as exc:
        # pandas stopped at the wide row before it decoded the later bytes that are not UTF-8.
        return f"not a valid CSV file ({exc})"
    return found or "a row's number of fields differs from the header's"


def load_uci(path: str | Path) -> pd.DataFrame:
    """Read the UCI CSV and check the columns the fit needs.

    Returns the required columns only, all numeric, with the repayment statuses as integers. Raises
    :class:`ConfigError` naming the file and the column when the file is missing or a column is missing or invalid.
    """
    path = Path(path)
    # Only an empty cell counts as missing, so that text such as "NA" is reported as non-numeric.
    raw = _read_csv(path, REQUIRED_COLUMNS, _LAYOUT_HINT, keep_default_na=False, na_values=[""])

    data = raw[REQUIRED_COLUMNS].copy()
    for column in REQUIRED_COLUMNS:
        data[column] = _numeric_column(path, data[column])

    for column in STATUS_COLUMNS:
        status = data[column]
        bad = ~status.between(*STATUS_RANGE) | (status != status.round())
        if bad.any():
            row = int(bad.idxmax())
            raise ConfigError(
                str(path),
                column,
                f"repayment status {status[row]:g} in data row {row + 1} is invalid; "
                f"expected a whole number from {STATUS_RANGE[0]} to {STATUS_RANGE[1]}",
            )
        data[column] = status.astype("int64")

    limits = data["LIMIT_BAL"]
    if (limits <= 0).any():
        row = int((limits <= 0).idxmax())
        raise ConfigError(
            str(path),
            "LIMIT_BAL",
            f"credit limit {limits[row]:g} in data row {row + 1} is invalid; expected a positive amount",
        )
    for column in PAYMENT_COLUMNS:
        # A bill may be negative (a credit balance), a payment may not.
        negative = data[column] < 0
        if negative.any():
            row = int(negative.idxmax())
            raise ConfigError(
                str(path),
                column,
                f"payment {data[column][row]:g} in data row {row + 1} is invalid; expected an amount of 0 or more",
            )
    if "ID" in raw.columns:
        # A repeated client would enter the fit twice. The message names rows, never a client's id.
        repeated = raw["ID"].duplicated()
        if repeated.any():
            row = int(repeated.idxmax())
            raise ConfigError(
                str(path), "ID", f"data row {row + 1} repeats the ID of an earlier row; expected one row per client"
            )
    return data


def _data_row(row: int) -> str:
    return f"data row {row + 1}"


def _numeric_column(
    path: Path, values: pd.Series, *, row_name: Callable[[int], str] = _data_row, allow_missing: bool = False
) -> pd.Series:
    """Convert one column to numbers. Raises :class:`ConfigError` on the first empty or non-finite cell.

    ``row_name`` turns a 0-based row position into the words that locate it in the message. With ``allow_missing``
    an empty cell becomes NaN instead of an error.
    """
    numbers = pd.to_numeric(values, errors="coerce")
    bad = ~np.isfinite(numbers)
    if allow_missing:
        bad &= values.notna()
    if not bad.any():
        return numbers
    row = int(bad.to_numpy().argmax())
    if pd.isna(values.iloc[row]):
        message = f"missing value in {row_name(row)}; expected a number"
    elif pd.isna(numbers.iloc[row]):
        message = f"non-numeric value {values.iloc[row]!r} in {row_name(row)}; expected a number"
    else:
        message = f"non-finite value {numbers.iloc[row]:g} in {row_name(row)}; expected a finite number"
    raise ConfigError(str(path), str(values.name), message)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- state mapping and transitions ---------------------------------------------------------------------------


def cycles_past_due(status: pd.Series) -> pd.Series:
    """Map UCI repayment statuses (April-August coding) to cycles past due, 0..6.

    Statuses -2, -1 and 0 are current. A first missed payment is coded 2, so status ``s >= 2`` is ``s - 1``
    cycles past due, capped at 6 (statuses 7, 8 and 9). The rare status 1 is read as 1 cycle past due.
    """
    state = (status - 1).clip(lower=0, upper=MAX_CYCLES_PAST_DUE)
    return state.mask(status == 1, 1).astype("int64")


def uci_transitions(data: pd.DataFrame) -> pd.DataFrame:
    """Stack the April-August monthly transitions into one frame, one row per account and month pair.

    Columns: ``months`` (for example ``Apr->May``), ``from_status`` and ``to_status`` (UCI codes), and
    ``from_state`` and ``to_state`` (cycles past due). A ``to_state`` of 7 is charge-off, meaning state 6 again
    at the next statement. ``bill`` is BILL_AMT of the earlier month and ``payment`` is PAY_AMT of the later
    month, which UCI pays against the earlier month's bill, both in NT$.

    NOTE: the data suggest that a month's status reflects the payment of the month after it, because 68% of
    state-1 cures have a zero PAY_AMT of the later month under this pairing. The pairing would then be PAY_AMT of
    the month after the later one with BILL_AMT of the later month. See "Known limitations" in docs/model.md.
    """
    frames = []
    for earlier, later in FIT_MONTH_PAIRS:
        from_status = data[_status_column(earlier)]
        to_status = data[_status_column(later)]
        frames.append(
            pd.DataFrame(
                {
                    "months": f"{MONTH_NAMES[earlier]}->{MONTH_NAMES[later]}",
                    "from_status": from_status,
                    "to_status": to_status,
                    "from_state": cycles_past_due(from_status),
                    "to_state": cycles_past_due(to_status),
                    "bill": data[f"BILL_AMT{earlier}"],
                    "payment": data[f"PAY_AMT{later}"],
                }
            )
        )
    transitions = pd.concat(frames, ignore_index=True)

    # The statuses stop at 8 and accounts sit at status 7 for months, so a state-6 account that is state 6
    # again at the next statement is read as the unpaid cycle that rolls it to charge-off.
    mark_charge_offs_at_last_state(transitions)
    return transitions


def mark_charge_offs_at_last_state(transitions: pd.DataFrame) -> None:
    """Set ``to_state`` to charge-off, in place, where an account is in state 6 at two consecutive statements."""
    rolled = (transitions["from_state"] == MAX_CYCLES_PAST_DUE) & (transitions["to_state"] == MAX_CYCLES_PAST_DUE)
    transitions.loc[rolled, "to_state"] = CHARGE_OFF


def _status_column(month: int) -> str:
    # The Kaggle copy names the September status PAY_0 and has no PAY_1.
    return "PAY_0" if month == 1 else f"PAY_{month}"


def count_jumps(transitions: pd.DataFrame) -> int:
    """Count transitions that rise by more than one state, which one roll per month cannot produce."""
    return int((transitions["to_state"] - transitions["from_state"] > 1).sum())


def transition_counts(transitions: pd.DataFrame) -> pd.DataFrame:
    """Count transitions by state (rows 0..6) and next state (columns 0..6, then 7 = charge-off)."""
    counts = pd.crosstab(transitions["from_state"], transitions["to_state"])
    return counts.reindex(index=STATES, columns=[*STATES, CHARGE_OFF], fill_value=0)


# -- fits ----------------------------------------------------------------------------------------------------


def fit_full_payoff_share(transitions: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Compute, by state, the share of cures (transitions to state 0) whose payment repays the earlier bill.

    Only cures with a positive earlier bill and a recorded payment count, because a zero or credit balance has
    nothing to repay. A state with no such cure gets the pooled share of all delinquent states (1..6). Returns the
    shares and the number of cures behind each.
    """
    cures = transitions[(transitions["to_state"] == 0) & (transitions["bill"] > 0) & transitions["payment"].notna()]
    paid_in_full = cures["payment"] >= cures["bill"]
    shares = paid_in_full.groupby(cures["from_state"]).mean().reindex(STATES)
    cure_counts = cures.groupby("from_state").size().reindex(STATES, fill_value=0)

    delinquent = cures["from_state"] > 0
    pooled_delinquent_share = float(paid_in_full[delinquent].mean()) if delinquent.any() else 0.0
    return shares.fillna(pooled_delinquent_share), cure_counts


def fit_initial_mix(data: pd.DataFrame) -> pd.Series:
    """Compute the mix of cycles past due 1..6 in April among accounts delinquent in April."""
    return delinquent_mix(cycles_past_due(data[_status_column(SNAPSHOT_MONTH)]))


def delinquent_mix(states: pd.Series) -> pd.Series:
    """Compute the share of each state 1..6 among the delinquent (state > 0) entries of ``states``."""
    delinquent = states[states > 0]
    return delinquent.value_counts(normalize=True).reindex(STATES[1:], fill_value=0.0)


def fit_lognormal(amounts: pd.Series) -> LogNormal:
    """Fit ``exp(N(mean_log, sd_log))`` to positive amounts by maximum likelihood (sd with divisor n)."""
    logs = np.log(amounts.to_numpy(dtype=float))
    return LogNormal(mean_log=float(logs.mean()), sd_log=float(logs.std(ddof=0)))


def minimum_payment_ratios(transitions: pd.DataFrame) -> pd.Series:
    """Return payment-to-bill ratios of revolvers: UCI status 0 in both months and a positive bill."""
    revolving = (transitions["from_status"] == 0) & (transitions["to_status"] == 0) & (transitions["bill"] > 0)
    selected = transitions[revolving]
    return selected["payment"] / selected["bill"]


def modal_ratio(ratios: pd.Series) -> float:
    """Return the centre of the ``PAYMENT_RATIO_BIN``-wide bin with the most ratios in (0, 0.1].

    Of bins with equal counts, the lowest wins.
    """
    in_range = ratios[(ratios > 0) & (ratios <= 0.1)]
    # Rounding before the floor puts a ratio on a bin edge, such as 36/1000, in the bin that starts there.
    bins = np.floor((in_range / PAYMENT_RATIO_BIN).round(9))
    counts = bins.value_counts()
    top_bin = counts[counts == counts.max()].index.min()
    return float((top_bin + 0.5) * PAYMENT_RATIO_BIN)


def fit_uci(path: str | Path, *, command: str = REGENERATE_COMMAND) -> Scenario:
    """Fit the default scenario to the UCI CSV at ``path``. Parameters not fitted keep their defaults.

    ``command`` is recorded in ``calibration.command`` as the command that regenerates the output file.
    """
    path = Path(path)
    data = load_uci(path)

    all_transitions = uci_transitions(data)
    jumps = count_jumps(all_transitions)
    if jumps:
        logger.warning("%s: dropped %d transitions that rise by more than one state per month", path, jumps)
    transitions = all_transitions[all_transitions["to_state"] - all_transitions["from_state"] <= 1]

    fitted_transitions, counts, cure_counts = fit_transition_rows(path, transitions, window_name="April-August")

    snapshot_states = cycles_past_due(data[_status_column(SNAPSHOT_MONTH)])
    delinquent = data[snapshot_states > 0]
    with_bill = delinquent[delinquent[f"BILL_AMT{SNAPSHOT_MONTH}"] > 0]
    if with_bill.empty:
        raise ConfigError(str(path), f"BILL_AMT{SNAPSHOT_MONTH}", "no account delinquent in April has a positive bill")

    ratios = minimum_payment_ratios(transitions)
    if ratios.empty:
        raise ConfigError(
            str(path),
            "",
            "no revolving account (status 0 in two consecutive months with a positive bill), so the minimum "
            "payment rate cannot be fitted",
        )
    modal_payment_ratio = modal_ratio(ratios)
    minimum_payment_rate = float(np.clip(modal_payment_ratio, *MINIMUM_PAYMENT_RATE_RANGE))

    portfolio = Portfolio(
        initial_cycles_past_due={state: float(share) for state, share in fit_initial_mix(data).items()},
        balance=fit_lognormal(with_bill[f"BILL_AMT{SNAPSHOT_MONTH}"] / TWD_PER_USD),
        credit_limit=fit_lognormal(with_bill["LIMIT_BAL"] / TWD_PER_USD),
        minimum_payment_rate=minimum_payment_rate,
    )
    notes = _fit_notes(
        data=data,
        transitions=transitions,
        counts=counts,
        jumps=jumps,
        cure_counts=cure_counts,
        n_delinquent=len(delinquent),
        n_with_bill=len(with_bill),
        ratios=ratios,
        modal_payment_ratio=modal_payment_ratio,
    )
    calibration = Calibration(
        source=f"UCI 'default of credit card clients' (Yeh & Lien 2009, DOI 10.24432/C55S3H), {UCI_CSV_NAME}",
        sha256=file_sha256(path),
        command=command,
        window=FIT_WINDOW,
        transitions_observed={state: int(total) for state, total in counts.sum(axis=1).items()},
        notes=notes,
    )
    return Scenario(
        name="default",
        description=(
            "Delinquent credit-card portfolio calibrated from the UCI 'default of credit card clients' data "
            f"({len(data):,} clients of a Taiwanese card issuer, April-August 2005): monthly roll rates "
            "between cycles past due, the share of cures that repay the whole bill, the April mix of "
            f"delinquent accounts, their balances and credit limits (converted at {TWD_PER_USD} NT$ per USD) "
            "and the minimum payment rate. Contact costs, treatment response, debtor types, customer value "
            "and economics are the defaults of sim/scenario.py."
        ),
        portfolio=portfolio,
        transitions=fitted_transitions,
        calibration=calibration,
    )


def fit_transition_rows(
    path: Path, transitions: pd.DataFrame, *, window_name: str
) -> tuple[Transitions, pd.DataFrame, pd.Series]:
    """Fit the monthly transition rows and full-payoff shares. Returns them with the counts behind them.

    ``transitions`` has the columns of :func:`uci_transitions`. Raises :class:`ConfigError` naming ``path`` when a
    state has no transitions in ``window_name``.
    """
    counts = transition_counts(transitions)
    observed = counts.sum(axis=1)
    empty_states = [state for state in STATES if observed[state] == 0]
    if empty_states:
        raise ConfigError(
            str(path),
            "",
            f"no transitions from {empty_states[0]} cycles past due in {window_name}, so row "
            f"{empty_states[0]} of the transition matrix cannot be fitted",
        )
    probabilities = counts.div(observed, axis=0)
    payoff_shares, cure_counts = fit_full_payoff_share(transitions)

    fitted = Transitions(
        monthly={state: [float(p) for p in probabilities.loc[state]] for state in STATES},
        full_payoff_share={state: float(payoff_shares[state]) for state in STATES},
    )
    return fitted, counts, cure_counts


def _fit_notes(
    *,
    data: pd.DataFrame,
    transitions: pd.DataFrame,
    counts: pd.DataFrame,
    jumps: int,
    cure_counts: pd.Series,
    n_delinquent: int,
    n_with_bill: int,
    ratios: pd.Series,
    modal_payment_ratio: float,
) -> list[str]:
    """Write the fit's choices and its doubtful points as sentences, with the counts behind them."""
    return [
        *_mapping_notes(data, jumps),
        *_transition_notes(data, transitions, counts),
        _payoff_note(cure_counts),
        *_portfolio_notes(len(data), n_delinquent, n_with_bill),
        _minimum_payment_note(transitions, ratios, modal_payment_ratio),
    ]


def _mapping_notes(data: pd.DataFrame, jumps: int) -> list[str]:
    fit_status_columns = [_status_column(month) for month in MONTH_NAMES if month != 1]
    status_one = int((data[fit_status_columns] == 1).to_numpy().sum())

    september = data["PAY_0"]
    august = data["PAY_2"]
    september_status_one = int((september == 1).sum())
    from_no_balance = int(((august == -2) & (september == 1)).sum())
    from_status_two = int(((august == 2) & (september == 1)).sum())

    return [
        "State mapping: UCI repayment statuses -2, -1 and 0 are current (state 0). In April-August a first "
        "missed payment is coded 2, so status s >= 2 is s - 1 cycles past due, capped at 6 (statuses 7 and "
        "8). "
        f"The rare status 1 is read as state 1 ({status_one} account-months in April-August).",
        f"Mapping check: {jumps} transitions rise by more than one state after the mapping. Any such "
        "transition would be dropped from the fit.",
        "September (PAY_0) is left out because it codes delinquency differently: "
        f"{september_status_one:,} accounts have status 1 in September, {from_no_balance:,} of them with no "
        f"balance (status -2) in August and {from_status_two:,} with status 2 in August. Aug->Sep moves "
        "would therefore not mean the same as the earlier months.",
    ]


def _transition_notes(data: pd.DataFrame, transitions: pd.DataFrame, counts: pd.DataFrame) -> list[str]:
    observed = counts.sum(axis=1)
    charge_offs = int(counts.loc[MAX_CYCLES_PAST_DUE, CHARGE_OFF])
    thin_states = [str(state) for state in STATES if observed[state] < THIN_ROW_TRANSITIONS]

    from_last_state = transitions[transitions["from_state"] == MAX_CYCLES_PAST_DUE]
    late_cures = from_last_state[from_last_state["to_state"] == 1]
    moved_down = int((from_last_state["to_state"] < MAX_CYCLES_PAST_DUE).sum())
    late_cure_months = ", ".join(late_cures["months"].unique()) or "no month"

    from_current = transitions[transitions["from_state"] == 0]
    roll_forward = (from_current["to_state"] == 1).groupby(from_current["months"], sort=False).mean()
    from_first_state = transitions[transitions["from_state"] == 1]
    cure_rate = (from_first_state["to_state"] == 0).groupby(from_first_state["months"], sort=False).mean()
    pooled_roll_forward = float((from_current["to_state"] == 1).mean())
    relapse_share, relapsed, cured = _next_month_after_cure(data)

    return [
        "Charge-off: an account in state 6 that is in state 6 again at the next statement (status 7 or 8 in "
        f"both months) is counted as rolling to charge-off at 180 DPD ({charge_offs} transitions). The data "
        "cannot tell that apart from a debtor who paid exactly one minimum payment, so row 6 gives state 6 "
        "probability 0.",
        f"Doubtful: {len(late_cures)} transitions go from state 6 straight to state 1 (status 7 or 8 to "
        f"status 2, in {late_cure_months}), six minimum payments in one month. They may be re-aged accounts "
        f"or a coding change. They are kept and are {len(late_cures)} of the {moved_down} moves down from "
        "state 6.",
        "Transitions observed per state: "
        + ", ".join(f"state {state}: {int(observed[state]):,}" for state in STATES)
        + f". Rows {', '.join(thin_states) or 'none'} rest on fewer than {THIN_ROW_TRANSITIONS} transitions each, "
        "so their entries carry sampling errors of several percentage points.",
        "Row 0 pools every current account, including inactive cards (status -2) and accounts paid in full. "
        f"Roll from state 0 to 1 by month: {_percentages(roll_forward)}. Cure from state 1 to 0 by month: "
        f"{_percentages(cure_rate)}. Accounts cured the month before rolled back to state 1 at "
        f"{relapse_share:.1%} ({relapsed:,} of {cured:,}), against {pooled_roll_forward:.1%} for row 0 as a "
        "whole.",
    ]


def _payoff_note(cure_counts: pd.Series) -> str:
    payoff_counts = ", ".join(f"state {state}: {int(cure_counts[state]):,}" for state in STATES)
    note = (
        "full_payoff_share: among transitions that end in state 0 with a positive earlier bill (BILL_AMT of "
        "the earlier month), the share whose payment (PAY_AMT of the later month, paid against that bill) is "
        f"at least the bill. Cures behind each share: {payoff_counts}."
    )
    no_cure_states = [str(state) for state in STATES if cure_counts[state] == 0]
    if len(no_cure_states) == 1:
        note += f" State {no_cure_states[0]} has no cure and takes the pooled share of states 1-6."
    elif no_cure_states:
        note += f" States {', '.join(no_cure_states)} have no cure and take the pooled share of states 1-6."
    return note


def _portfolio_notes(n_accounts: int, n_delinquent: int, n_with_bill: int) -> list[str]:
    return [
        f"initial_cycles_past_due: April (PAY_6) mix of the {n_delinquent:,} accounts delinquent in April, "
        f"out of {n_accounts:,}.",
        "balance and credit_limit: maximum-likelihood log-normal fits (sd with divisor n) of BILL_AMT6 and "
        f"LIMIT_BAL of the {n_with_bill:,} accounts delinquent in April with a positive April bill "
        f"({n_delinquent - n_with_bill} with a zero or credit bill are left out). NT$ are converted at "
        f"{TWD_PER_USD} NT$ per USD, an approximate 2005 average, not an official rate.",
    ]


def _minimum_payment_note(transitions: pd.DataFrame, ratios: pd.Series, modal_payment_ratio: float) -> str:
    monthly_modes = ratios.groupby(transitions.loc[ratios.index, "months"], sort=False).apply(modal_ratio)
    low, high = MINIMUM_PAYMENT_RATE_RANGE
    return (
        f"minimum_payment_rate: the modal payment-to-bill ratio ({PAYMENT_RATIO_BIN}-wide bins, ratios in "
        f"(0, 0.1]) of {len(ratios):,} revolving transitions with status 0 in both months and a positive "
        f"bill is {modal_payment_ratio:.4f}. The modal ratio of each month alone is "
        f"{monthly_modes.min():.4f}-{monthly_modes.max():.4f}. Payments pile up at the minimum because "
        "status 0 means at least the minimum was paid. The median ratio, "
        f"{ratios.median():.4f}, also counts those who paid more. The estimate is clipped to "
        f"[{low}, {high}], a range assumed plausible for card minimums."
    )


def _next_month_after_cure(data: pd.DataFrame) -> tuple[float, int, int]:
    """Return the share of cured accounts in state 1 a month after the cure, and its two counts."""
    states = [cycles_past_due(data[_status_column(month)]) for month in (6, 5, 4, 3, 2)]
    rolled_back = 0
    cured = 0
    for before, cure_month, after in zip(states, states[1:], states[2:], strict=False):
        was_cured = (before > 0) & (cure_month == 0)
        cured += int(was_cured.sum())
        rolled_back += int((was_cured & (after == 1)).sum())
    return (rolled_back / cured if cured else math.nan), rolled_back, cured


def _percentages(by_month: pd.Series) -> str:
    return ", ".join(f"{months} {share:.1%}" for months, share in by_month.items())


# -- a user's monthly histories -----------------------------------------------------------------------------

#: Columns of the long monthly CSV that must be present.
CSV_REQUIRED_COLUMNS = ["account_id", "month", "cycles_past_due", "balance"]
#: Columns that may be present, each letting the fit estimate more (see docs/calibration.md).
CSV_OPTIONAL_COLUMNS = ["credit_limit", "payment", "minimum_due", "charged_off"]
CSV_MONTH_PATTERN = r"\d{4}-(0[1-9]|1[0-2])"
CHARGED_OFF_VALUES = {"0": False, "1": True, "false": False, "true": True}
#: Upper clip of cycles_past_due as read, far above the state cap of 6, so that the mapping note still counts it.
CYCLES_PAST_DUE_CLIP = 2**31 - 1
#: Share of accounts, chosen by a hash of account_id, whose transitions validate the fit instead of entering it.
HOLDOUT_SHARE = 0.3
#: A fitted transition row resting on fewer transitions than this is flagged in the notes and in a warning.
THIN_ROW_TRANSITIONS = 200

_CSV_LAYOUT_HINT = (
    "expected a long monthly CSV with one row per account and month and the columns account_id, month (YYYY-MM), "
    "cycles_past_due and balance, optionally credit_limit, payment, minimum_due and charged_off"
)


def _csv_line(row: int) -> str:
    # Line 1 is the header, so data row 0 is line 2. A quoted field that spans lines shifts later numbers.
    return f"line {row + 2}"


def load_monthly_csv(path: str | Path, *, holdout_share: float = HOLDOUT_SHARE) -> pd.DataFrame:
    """Read a long monthly CSV (one row per account and month) and check every value the fit uses.

    Returns one row per account-month in file order. ``account`` is an integer code per account_id, so that no
    identifier travels further, and ``holdout`` marks the accounts of the validation part. ``month_index`` counts
    months since year 0, ``cycles_past_due`` is an integer that is not capped, and ``balance`` and each optional
    column present in the file follow, with NaN for an empty cell. Raises :class:`ConfigError` naming the file,
    the column and the line of the first invalid value.
    """
    path = Path(path)
    # Only an empty cell counts as missing, so that text such as "NA" is reported as invalid.
    raw = _read_csv(
        path,
        CSV_REQUIRED_COLUMNS,
        _CSV_LAYOUT_HINT,
        dtype={"account_id": str, "month": str, "charged_off": str},
        keep_default_na=False,
        na_values=[""],
    )
    # Every column is read, so that a row with more fields than the header is caught. Only the known ones are kept.
    raw = raw[[column for column in raw.columns if column in (*CSV_REQUIRED_COLUMNS, *CSV_OPTIONAL_COLUMNS)]]

    # An identifier of spaces alone is as missing as an empty cell.
    missing_id = raw["account_id"].isna() | (raw["account_id"].astype(str).str.strip() == "")
    if missing_id.any():
        row = int(missing_id.to_numpy().argmax())
        raise ConfigError(str(path), "account_id", f"missing value in {_csv_line(row)}; expected an account identifier")
    codes, unique_ids = pd.factorize(raw["account_id"])
    data = pd.DataFrame({"account": codes, "holdout": holdout_accounts(unique_ids, holdout_share)[codes]})

    data["month_index"] = _month_index(path, raw["month"])
    data["cycles_past_due"] = _cycles_column(path, raw["cycles_past_due"])
    data["balance"] = _amount_column(path, raw["balance"], allow_missing=False, positive=False)
    for column in ("credit_limit", "payment", "minimum_due"):
        if column in raw.columns:
            data[column] = _amount_column(path, raw[column], allow_missing=True, positive=column == "credit_limit")
    if "charged_off" in raw.columns:
        data["charged_off"] = _charged_off_column(path, raw["charged_off"])

    _check_unique_months(path, data)
    return data


def holdout_accounts(account_ids: Sequence[str] | pd.Index, share: float = HOLDOUT_SHARE) -> np.ndarray:
    """Mark the accounts whose SHA-256 of account_id falls in the lowest ``share`` of the hash range.

    The split depends on the identifier alone, so it is the same on every run, machine and file order.
    """
    hashes = np.array(
        [int.from_bytes(hashlib.sha256(str(account).encode()).digest()[:8], "big") for account in account_ids],
        dtype=np.float64,
    )
    return hashes / 2.0**64 < share


def _month_index(path: Path, months: pd.Series) -> pd.Series:
    valid = months.str.fullmatch(CSV_MONTH_PATTERN).fillna(False).astype(bool)
    if not valid.all():
        row = int((~valid).to_numpy().argmax())
        cell = "an empty cell" if pd.isna(months.iloc[row]) else repr(months.iloc[row])
        raise ConfigError(
            str(path), "month", f"invalid month {cell} in {_csv_line(row)}; expected YYYY-MM, such as 2024-03"
        )
    year = months.str.slice(0, 4).astype("int64")
    month = months.str.slice(5, 7).astype("int64")
    return year * 12 + month - 1


def _cycles_column(path: Path, values: pd.Series) -> pd.Series:
    cycles = _numeric_column(path, values, row_name=_csv_line)
    bad = (cycles < 0) | (cycles != cycles.round())
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise ConfigError(
            str(path),
            "cycles_past_due",
            f"invalid value {cycles.iloc[row]:g} in {_csv_line(row)}; expected a whole number of unpaid minimum "
            "payments, 0 or more",
        )
    # States cap cycles at 6 anyway. The clip keeps a value of 2**63 or more from wrapping to a negative int64.
    return cycles.clip(upper=CYCLES_PAST_DUE_CLIP).astype("int64")


def _amount_column(path: Path, values: pd.Series, *, allow_missing: bool, positive: bool) -> pd.Series:
    amounts = _numeric_column(path, values, row_name=_csv_line, allow_missing=allow_missing)
    bad = amounts <= 0 if positive else amounts < 0
    if bad.any():
        row = int(bad.to_numpy().argmax())
        expected = "a positive amount" if positive else "an amount of 0 or more"
        raise ConfigError(
            str(path),
            str(values.name),
            f"invalid amount {amounts.iloc[row]:g} in {_csv_line(row)}; expected {expected}",
        )
    return amounts.astype("float64")


def _charged_off_column(path: Path, values: pd.Series) -> pd.Series:
    flags = values.str.strip().str.lower().map(CHARGED_OFF_VALUES)
    bad = flags.isna()
    if bad.any():
        row = int(bad.to_numpy().argmax())
        cell = "an empty cell" if pd.isna(values.iloc[row]) else repr(values.iloc[row])
        raise ConfigError(
            str(path), "charged_off", f"invalid value {cell} in {_csv_line(row)}; expected 0, 1, true or false"
        )
    return flags.astype(bool)


def _check_unique_months(path: Path, data: pd.DataFrame) -> None:
    repeated = data.duplicated(["account", "month_index"])
    if repeated.any():
        row = int(repeated.to_numpy().argmax())
        raise ConfigError(
            str(path),
            "month",
            f"{_csv_line(row)} repeats the month of an earlier row of the same account; expected one row per "
            "account and month",
        )


def monthly_transitions(data: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Pair each account-month with the same account's next calendar month, one row per pair.

    Returns the pairs with the columns of :func:`uci_transitions` (``from_state``, ``to_state`` with 7 for
    charge-off, ``bill`` = the earlier balance, ``payment`` = the later month's payment), plus ``account``,
    ``holdout``, ``from_cycles`` and ``to_cycles``, and the counts of the pairs that are not fitted. States cap
    cycles past due at 6. Without a ``charged_off`` column an account in state 6 at two consecutive statements
    rolls to charge-off, as in the UCI fit. With it, a month flagged charged off after a month at state 6 is a
    charge-off, and pairs that start in a charged-off month are left out.
    """
    ordered = data.sort_values(["account", "month_index"], kind="stable")
    earlier = ordered.iloc[:-1].reset_index(drop=True)
    later = ordered.iloc[1:].reset_index(drop=True)
    same_account = earlier["account"].to_numpy() == later["account"].to_numpy()
    step = later["month_index"].to_numpy() - earlier["month_index"].to_numpy()
    consecutive = same_account & (step == 1)
    skipped = {"gaps": int((same_account & (step > 1)).sum())}

    earlier = earlier[consecutive].reset_index(drop=True)
    later = later[consecutive].reset_index(drop=True)
    transitions = pd.DataFrame(
        {
            "account": earlier["account"],
            "holdout": earlier["holdout"],
            "month_index": earlier["month_index"],
            "from_cycles": earlier["cycles_past_due"],
            "to_cycles": later["cycles_past_due"],
            "from_state": earlier["cycles_past_due"].clip(upper=MAX_CYCLES_PAST_DUE),
            "to_state": later["cycles_past_due"].clip(upper=MAX_CYCLES_PAST_DUE),
            "bill": earlier["balance"],
            "payment": later["payment"] if "payment" in later else np.nan,
        }
    )

    if "charged_off" in data:
        after_charge_off = earlier["charged_off"].to_numpy()
        to_charge_off = later["charged_off"].to_numpy() & ~after_charge_off
        early_charge_off = to_charge_off & (transitions["from_state"].to_numpy() < MAX_CYCLES_PAST_DUE)
        transitions.loc[to_charge_off, "to_state"] = CHARGE_OFF
        skipped["after_charge_off"] = int(after_charge_off.sum())
        skipped["early_charge_off"] = int(early_charge_off.sum())
        transitions = transitions[~after_charge_off & ~early_charge_off].reset_index(drop=True)
    else:
        mark_charge_offs_at_last_state(transitions)

    jumps = transitions["to_state"] - transitions["from_state"] > 1
    skipped["jumps"] = int(jumps.sum())
    return transitions[~jumps].reset_index(drop=True), skipped


#: Below this expected count in a cell of a row, the row's p-value is a Monte Carlo one, not the chi-square
#: approximation's (the usual rule of thumb for Pearson's test).
MIN_EXPECTED_COUNT = 5.0
#: Random tables drawn for a Monte Carlo p-value, and their seed.
MONTE_CARLO_TABLES = 20_000
MONTE_CARLO_SEED = 0


def compare_transition_counts(fit_counts: pd.DataFrame, holdout_counts: pd.DataFrame) -> pd.DataFrame:
    """Compare the holdout part's transitions with the matrix fitted on the other part, row by row.

    Returns one row per state. ``fit`` and ``holdout`` count the transitions observed, and ``max_abs_difference``
    is the largest absolute difference between the two parts' probabilities. ``chi_square``, ``df`` and
    ``p_value`` are Pearson's test of homogeneity of the two parts' counts (a 2 x k table over the cells where
    either part has a transition), so the fit part's sampling error counts as well as the holdout part's.
    ``impossible`` counts holdout transitions to a cell the fit gives probability 0. Rows without holdout
    transitions get NaN statistics.

    NOTE: the test treats transitions as independent, but one account contributes several, so on real histories the
    p-values are still somewhat too small.
    """
    fit_totals = fit_counts.sum(axis=1)
    holdout_totals = holdout_counts.sum(axis=1)
    fitted = fit_counts.div(fit_totals.where(fit_totals > 0), axis=0)
    holdout = holdout_counts.div(holdout_totals.where(holdout_totals > 0), axis=0)

    possible = fitted > 0
    combined = fit_counts + holdout_counts
    grand_totals = fit_totals + holdout_totals
    observed_cells = combined > 0
    chi_square = pd.Series(_pearson_homogeneity(holdout_counts.to_numpy(), combined.to_numpy()), index=fit_counts.index)
    df = observed_cells.sum(axis=1) - 1
    has_holdout = holdout_totals > 0
    p_value = pd.Series(scipy.stats.chi2.sf(chi_square, df.clip(lower=1)), index=df.index)
    # The chi-square distribution approximates the statistic's only when the expected counts are about 5 or more.
    # The smaller part's expected count in a cell is the cell's combined count times that part's share of the row.
    holdout_share = holdout_totals / grand_totals.where(grand_totals > 0)
    smaller_share = np.minimum(holdout_share, 1.0 - holdout_share)
    smallest_expected = combined.mul(smaller_share, axis=0).where(observed_cells).min(axis=1)
    sparse = (smallest_expected < MIN_EXPECTED_COUNT) & has_holdout & (df > 0)
    for state in df.index[sparse]:
        p_value[state] = _monte_carlo_p_value(fit_counts.loc[state].to_numpy(), holdout_counts.loc[state].to_numpy())
    return pd.DataFrame(
        {
            "fit": fit_totals,
            "holdout": holdout_totals,
            "max_abs_difference": (fitted - holdout).abs().max(axis=1).where(has_holdout),
            "chi_square": chi_square.where(has_holdout),
            "df": df,
            "p_value": p_value.where(has_holdout & (df > 0)),
            "p_method": pd.Series(np.where(sparse, "monte_carlo", "chi_square"), index=df.index).where(
                has_holdout & (df > 0)
            ),
            "impossible": holdout_counts.where(~possible, 0).sum(axis=1),
        }
    )


def _monte_carlo_p_value(fit: np.ndarray, holdout: np.ndarray) -> float:
    """Return the Monte Carlo p-value of Pearson's homogeneity statistic for one row of counts of the two parts.

    Under the null hypothesis, given the row's combined counts, the holdout part's counts are a multivariate
    hypergeometric draw of its total. The p-value is ``(1 + draws at least as extreme) / (1 + draws)`` over
    :data:`MONTE_CARLO_TABLES` draws of a fixed seed, so it is the same on every run.
    """
    combined = (fit + holdout)[fit + holdout > 0].astype(np.int64)
    holdout = holdout[fit + holdout > 0].astype(np.int64)
    draws = np.random.default_rng(MONTE_CARLO_SEED).multivariate_hypergeometric(
        combined, int(holdout.sum()), size=MONTE_CARLO_TABLES
    )
    observed = _pearson_homogeneity(holdout, combined)
    # A relative tolerance, so that a draw equal to the observed table counts although its sum rounds differently.
    extreme = int((_pearson_homogeneity(draws, combined) >= observed * (1.0 - 1e-9)).sum())
    return (1 + extreme) / (1 + MONTE_CARLO_TABLES)


def _pearson_homogeneity(holdout: np.ndarray, combined: np.ndarray) -> np.ndarray:
    """Return Pearson's statistic that the holdout part's counts and the other part's come from one distribution.

    ``combined`` counts both parts. The last axis of either array is a row's cells, and ``holdout`` may contain many
    tables of one row. A cell with no expected count adds nothing.
    """
    holdout = np.asarray(holdout, dtype=np.float64)
    combined = np.asarray(combined, dtype=np.float64)
    row_total = combined.sum(axis=-1, keepdims=True)
    statistic = np.zeros(np.broadcast_shapes(holdout.shape, combined.shape)[:-1])
    for part in (combined - holdout, holdout):
        # An empty row divides by infinity, so its share and expected counts are 0.
        share = part.sum(axis=-1, keepdims=True) / np.where(row_total > 0, row_total, np.inf)
        expected = combined * share
        terms = np.divide((part - expected) ** 2, expected, out=np.zeros_like(expected), where=expected > 0)
        statistic += terms.sum(axis=-1)
    return statistic


def fit_monthly_csv(
    path: str | Path,
    *,
    base: str | Path = "default",
    name: str = "calibrated",
    command: str | None = None,
    holdout_share: float = HOLDOUT_SHARE,
) -> Scenario:
    """Fit a scenario to a long monthly CSV: the ``base`` scenario with the keys the data lets the fit estimate.

    The transitions, cures and portfolio are fitted on the accounts outside the holdout part. The fitted matrix is
    then checked against the holdout accounts' transitions, and the statistics go to ``calibration.notes``. No
    account identifier enters the scenario. ``command`` is recorded as the command that regenerates the output.
    """
    path = Path(path)
    base_scenario = Scenario.load(base)
    data = load_monthly_csv(path, holdout_share=holdout_share)

    transitions, skipped = monthly_transitions(data)
    dropped = skipped["jumps"] + skipped.get("early_charge_off", 0)
    if dropped:
        logger.warning(
            "%s: dropped %d transitions that rise by more than one state per month or charge off below 6 cycles "
            "past due; calibration.notes has the counts",
            path,
            dropped,
        )
    first_month, last_month = _month_name(data["month_index"].min()), _month_name(data["month_index"].max())
    window_name = f"{first_month} to {last_month}"
    fit_part = transitions[~transitions["holdout"]]
    holdout_part = transitions[transitions["holdout"]]
    if fit_part.empty:
        raise ConfigError(str(path), "month", "no account outside the holdout part has rows for two consecutive months")

    fitted_transitions, counts, cure_counts = fit_transition_rows(path, fit_part, window_name=window_name)
    has_payments = "payment" in data and bool(data["payment"].notna().any())
    if not has_payments:
        fitted_transitions = fitted_transitions.model_copy(
            update={"full_payoff_share": base_scenario.transitions.full_payoff_share}
        )
    validation = compare_transition_counts(counts, transition_counts(holdout_part))

    portfolio, portfolio_notes = _fit_portfolio(path, data, fit_part, base_scenario)
    n_accounts = int(data["account"].nunique())
    n_holdout_accounts = int(data.loc[data["holdout"], "account"].nunique())
    observed = counts.sum(axis=1)
    thin_states = [str(state) for state in STATES if observed[state] < THIN_ROW_TRANSITIONS]
    if thin_states:
        logger.warning(
            "%s: transition rows %s rest on fewer than %d transitions each, so their fitted probabilities are "
            "uncertain; calibration.notes has the counts",
            path,
            ", ".join(thin_states),
            THIN_ROW_TRANSITIONS,
        )
    if not (validation["holdout"] > 0).any():
        logger.warning("%s: no held-out account has two consecutive months, so the fit is not validated", path)
    notes = [
        _csv_mapping_note(data, skipped),
        _csv_counts_note(counts, n_accounts, n_holdout_accounts, holdout_share),
        _csv_payoff_note(cure_counts) if has_payments else _missing_note("payment", "transitions.full_payoff_share"),
        *portfolio_notes,
        _validation_note(validation),
    ]
    calibration = Calibration(
        source=f"account-level monthly histories in {path.name}",
        sha256=file_sha256(path),
        command=command or f"arrears calibrate --csv {path} --out {name}.yaml --base {base}",
        window=f"{window_name}: {len(transitions):,} transitions between consecutive months",
        transitions_observed={state: int(total) for state, total in counts.sum(axis=1).items()},
        notes=notes,
    )
    fitted = {
        "name": name,
        "description": (
            f"Fitted by arrears calibrate to the monthly histories of {n_accounts:,} accounts in {path.name} "
            f"({window_name}): monthly roll rates between cycles past due and the delinquent portfolio at "
            f"{first_month}, with the other keys of scenario {str(base)!r}. calibration.notes lists what was "
            "fitted and the validation on held-out accounts."
        ),
        "portfolio": portfolio.model_dump(),
        "transitions": fitted_transitions.model_dump(),
        "calibration": calibration.model_dump(),
    }
    return Scenario.from_dict({**base_scenario.model_dump(), **fitted}, source=f"scenario fitted to {path}")


def _month_name(month_index: int) -> str:
    return f"{int(month_index) // 12:04d}-{int(month_index) % 12 + 1:02d}"


def _fit_portfolio(
    path: Path, data: pd.DataFrame, fit_part: pd.DataFrame, base_scenario: Scenario
) -> tuple[Portfolio, list[str]]:
    """Fit the delinquent mix, balances, credit limits and minimum payment rate on the accounts outside the holdout.

    The snapshot is the first month in the file. Accounts more cycles behind in it than the base scenario's
    charge-off DPD allows would be charged off on day 0, so they are left out of the mix and the balance fits. Keys
    that the file's columns cannot inform keep the base scenario's portfolio values.
    """
    base = base_scenario.portfolio
    charge_off_dpd = base_scenario.charge_off_dpd
    last_open_state = min(MAX_CYCLES_PAST_DUE, charge_off_dpd // base_scenario.cycle_days)
    fit_rows = data[~data["holdout"]]
    snapshot_index = int(data["month_index"].min())
    snapshot_month = _month_name(snapshot_index)
    snapshot = fit_rows[fit_rows["month_index"] == snapshot_index]
    if "charged_off" in snapshot:
        snapshot = snapshot[~snapshot["charged_off"]]
    states = snapshot["cycles_past_due"].clip(upper=MAX_CYCLES_PAST_DUE)
    beyond_charge_off = int((states > last_open_state).sum())
    states = states[states <= last_open_state]
    delinquent = snapshot.loc[states.index][states > 0]
    if delinquent.empty:
        raise ConfigError(
            str(path),
            "cycles_past_due",
            f"no account outside the holdout part is delinquent in {snapshot_month}, the first month of the file, "
            "so the initial mix cannot be fitted",
        )
    with_balance = delinquent[delinquent["balance"] > 0]
    if with_balance.empty:
        raise ConfigError(str(path), "balance", f"no account delinquent in {snapshot_month} has a positive balance")

    update: dict[str, Any] = {
        "initial_cycles_past_due": {state: float(share) for state, share in delinquent_mix(states).items()},
        "balance": fit_lognormal(with_balance["balance"]),
    }
    mix_note = (
        f"initial_cycles_past_due: {snapshot_month} mix of the {len(delinquent):,} accounts outside the holdout part "
        f"that are delinquent in that month, the first of the file."
    )
    if last_open_state < MAX_CYCLES_PAST_DUE:
        mix_note += (
            f" {beyond_charge_off:,} accounts more than {last_open_state} cycles behind are left out, because the base "
            f"scenario charges off at {charge_off_dpd} DPD and would charge them off on day 0."
        )
    notes = [
        mix_note,
        "balance: maximum-likelihood log-normal fit (sd with divisor n) of the balances of the "
        f"{len(with_balance):,} of them with a positive balance ({len(delinquent) - len(with_balance):,} with a zero "
        "balance are left out), in the currency of the file.",
    ]

    limits = with_balance["credit_limit"].dropna() if "credit_limit" in with_balance else pd.Series(dtype=float)
    if limits.empty:
        notes.append(_missing_note("credit_limit", "portfolio.credit_limit"))
    else:
        update["credit_limit"] = fit_lognormal(limits)
        notes.append(f"credit_limit: log-normal fit of the credit limits of {len(limits):,} of the same accounts.")

    rate, rate_note = _fit_minimum_payment_rate(fit_rows, fit_part)
    if rate is not None:
        update["minimum_payment_rate"] = rate
    notes.append(rate_note)
    return base.model_copy(update=update), notes


def _fit_minimum_payment_rate(fit_rows: pd.DataFrame, fit_part: pd.DataFrame) -> tuple[float | None, str]:
    """Estimate the minimum payment rate from minimum_due, else from the payments of revolving accounts."""
    low, high = MINIMUM_PAYMENT_RATE_RANGE
    if "minimum_due" in fit_rows and fit_rows["minimum_due"].notna().any():
        billed = fit_rows[(fit_rows["balance"] > 0) & (fit_rows["minimum_due"] > 0)]
        if not billed.empty:
            median = float((billed["minimum_due"] / billed["balance"]).median())
            return float(np.clip(median, low, high)), (
                f"minimum_payment_rate: the median ratio of minimum_due to balance over {len(billed):,} "
                f"account-months with both positive is {median:.4f}, clipped to [{low}, {high}]. A minimum payment "
                "floor raises the ratio on small balances."
            )

    if "payment" in fit_rows:
        revolving = fit_part[
            (fit_part["from_cycles"] == 0)
            & (fit_part["to_cycles"] == 0)
            & (fit_part["bill"] > 0)
            & fit_part["payment"].notna()
        ]
        ratios = revolving["payment"] / revolving["bill"]
        if ((ratios > 0) & (ratios <= 0.1)).any():
            modal_payment_ratio = modal_ratio(ratios)
            return float(np.clip(modal_payment_ratio, low, high)), (
                f"minimum_payment_rate: the modal payment-to-balance ratio ({PAYMENT_RATIO_BIN}-wide bins, ratios in "
                f"(0, 0.1]) of {len(ratios):,} transitions current in both months with a positive earlier balance "
                f"is {modal_payment_ratio:.4f}, clipped to [{low}, {high}]. It assumes that many current accounts "
                "pay exactly the minimum."
            )
    return None, _missing_note("minimum_due or payment", "portfolio.minimum_payment_rate")


def _missing_note(columns: str, key: str) -> str:
    return f"{key}: not fitted, because the file has no usable {columns} column, so it keeps the base scenario's value."


def _csv_mapping_note(data: pd.DataFrame, skipped: dict[str, int]) -> str:
    capped = int((data["cycles_past_due"] > MAX_CYCLES_PAST_DUE).sum())
    note = (
        "State mapping: cycles_past_due is the state, with values above 6 read as 6 "
        f"({capped:,} account-months). Only pairs of consecutive calendar months of one account are transitions; "
        f"{skipped['gaps']:,} pairs with missing months between them are skipped, and {skipped['jumps']:,} "
        "transitions that rise by more than one state are dropped."
    )
    if "charged_off" in data:
        return note + (
            " Charge-off: a month flagged charged_off after a month in state 6 is a charge-off, so state 6 to 6 is a "
            f"stay. {skipped['early_charge_off']:,} charge-offs from states 0-5, which the model cannot produce, "
            f"and {skipped['after_charge_off']:,} pairs that start in a charged-off month are left out."
        )
    return note + (
        " Charge-off: the file has no charged_off column, so an account in state 6 at two consecutive statements "
        "counts as rolling to charge-off, as in the UCI fit, and row 6 gives state 6 probability 0."
    )


def _csv_counts_note(counts: pd.DataFrame, n_accounts: int, n_holdout_accounts: int, holdout_share: float) -> str:
    observed = counts.sum(axis=1)
    thin_states = [str(state) for state in STATES if observed[state] < THIN_ROW_TRANSITIONS]
    return (
        f"Split: of {n_accounts:,} accounts, {n_accounts - n_holdout_accounts:,} fitted and {n_holdout_accounts:,} "
        f"held out for validation, chosen by the SHA-256 of account_id (holdout share {holdout_share}). "
        "Transitions observed per state in the fitted part: "
        + ", ".join(f"state {state}: {int(observed[state]):,}" for state in STATES)
        + ". "
        + (
            f"Rows {', '.join(thin_states)} rest on fewer than {THIN_ROW_TRANSITIONS} transitions each."
            if thin_states
            else f"Every row rests on at least {THIN_ROW_TRANSITIONS} transitions."
        )
    )


def _csv_payoff_note(cure_counts: pd.Series) -> str:
    payoff_counts = ", ".join(f"state {state}: {int(cure_counts[state]):,}" for state in STATES)
    return (
        "full_payoff_share: among transitions that end in state 0 with a positive earlier balance and a recorded "
        "payment, the share whose payment in the later month is at least the earlier balance. States without such "
        f"a cure take the pooled share of states 1-6. Cures behind each share: {payoff_counts}."
    )


def _validation_note(validation: pd.DataFrame) -> str:
    rows = []
    for state, row in validation.iterrows():
        text = f"state {state}: {int(row['fit']):,} fitted, {int(row['holdout']):,} held out"
        if row["holdout"] > 0:
            text += f", max |difference| {row['max_abs_difference']:.4f}"
            if row["df"] > 0:
                text += f", chi-square {row['chi_square']:.2f} on {int(row['df'])} df"
            else:
                text += ", one reachable cell, so no chi-square test"
            if row["df"] > 0 and not math.isnan(row["p_value"]):
                if row["p_method"] == "monte_carlo":
                    text += f" (Monte Carlo p = {row['p_value']:.3g}, because an expected count is below 5)"
                else:
                    text += f" (p = {row['p_value']:.3g})"
        rows.append(text)
    held_out = validation[validation["holdout"] > 0]
    if held_out.empty:
        return "Validation: no held-out account has two consecutive months, so the fit is not validated."
    return (
        "Validation of the fitted matrix on the held-out accounts' transitions, by row (Pearson chi-square test "
        "that the fitted and held-out counts share one distribution, over cells where either part has a transition): "
        + "; ".join(rows)
        + f". Largest absolute difference in any cell: {held_out['max_abs_difference'].max():.4f}. Held-out "
        f"transitions to cells the fit gives probability 0: {int(validation['impossible'].sum()):,}."
    )


def calibrate_monthly_csv(
    csv_path: str | Path,
    out_path: str | Path,
    *,
    base: str | Path = "default",
    command: str | None = None,
    holdout_share: float = HOLDOUT_SHARE,
) -> Scenario:
    """Fit a scenario to a long monthly CSV, write it in full to ``out_path`` and return it as read back.

    The file lists every key, so it loads the same whatever later changes the base scenario or the defaults.
    """
    out_path = Path(out_path)
    scenario = fit_monthly_csv(csv_path, base=base, name=out_path.stem, command=command, holdout_share=holdout_share)
    write_scenario(scenario, out_path, calibration_header(scenario, lists_every_key=True), exclude_unset=False)
    return Scenario.from_yaml(out_path)


# -- writing -------------------------------------------------------------------------------------------------


class _ScenarioDumper(yaml.SafeDumper):
    """Safe YAML dumper that writes a list of numbers on one line, so a transition row reads as a row."""


def _represent_list(dumper: yaml.SafeDumper, values: list[Any]) -> yaml.Node:
    numeric = bool(values) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", values, flow_style=numeric)


_ScenarioDumper.add_representer(list, _represent_list)


def round_significant(value: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    return float(f"{value:.{digits}g}")


def round_distribution(shares: Sequence[float], digits: int = SIGNIFICANT_DIGITS) -> list[float]:
    """Round shares to ``digits`` significant digits so that they still sum to 1 within 1e-6.

    The largest share absorbs the rounding residual, so zeros stay zero. Rounding that share again leaves a
    residual of at most half a unit in its last digit, which is 5e-7 at 6 digits for a share from 0.1 to 1.
    """
    rounded = [round_significant(share, digits) for share in shares]
    largest = max(range(len(rounded)), key=lambda i: rounded[i])
    rest = math.fsum(rounded[:largest] + rounded[largest + 1 :])
    rounded[largest] = round_significant(1.0 - rest, digits)
    return rounded


def _round_floats(value: Any) -> Any:
    if isinstance(value, float):
        return round_significant(value)
    if isinstance(value, dict):
        return {key: _round_floats(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_round_floats(item) for item in value]
    return value


def scenario_to_yaml_data(scenario: Scenario, *, exclude_unset: bool = True) -> dict[str, Any]:
    """Convert the fields set on ``scenario`` to plain data in schema order, with floats rounded.

    Distributions are rounded so that they still sum to 1. With ``exclude_unset``, fields left at their defaults
    are not included, so a scenario file lists only what was fitted or set, and the rest follows the defaults in
    :mod:`sim.scenario`. Without it every field is written.
    """
    data = _round_floats(scenario.model_dump(mode="python", exclude_unset=exclude_unset))

    monthly = data.get("transitions", {}).get("monthly")
    if monthly is not None:
        data["transitions"]["monthly"] = {state: round_distribution(row) for state, row in monthly.items()}
    for section, key in (("portfolio", "initial_cycles_past_due"), (None, "debtor_types")):
        container = data.get(section, {}) if section else data
        mix = container.get(key)
        if mix is not None:
            container[key] = dict(zip(mix, round_distribution(list(mix.values())), strict=True))
    return data


def render_scenario_yaml(scenario: Scenario, header_lines: Sequence[str], *, exclude_unset: bool = True) -> str:
    """Render ``scenario`` as YAML under a ``#`` comment header, with fields as :func:`scenario_to_yaml_data`.

    Raises :class:`ConfigError` if the rounded data no longer loads as a scenario.
    """
    data = scenario_to_yaml_data(scenario, exclude_unset=exclude_unset)
    Scenario.from_dict(data, source=f"scenario {scenario.name!r} after rounding")

    header = "".join(f"# {line}".rstrip() + "\n" for line in header_lines)
    body = yaml.dump(data, Dumper=_ScenarioDumper, sort_keys=False, allow_unicode=True, width=110)
    return header + body


def write_scenario(
    scenario: Scenario, path: str | Path, header_lines: Sequence[str], *, exclude_unset: bool = True
) -> Path:
    """Write ``scenario`` as YAML to ``path`` atomically, as rendered by :func:`render_scenario_yaml`."""
    return atomic_write_text(path, render_scenario_yaml(scenario, header_lines, exclude_unset=exclude_unset))


def calibration_header(scenario: Scenario, *, lists_every_key: bool = False) -> list[str]:
    """Return the comment lines that state where a fitted scenario's numbers come from and how to regenerate them.

    ``lists_every_key`` says that the file is written in full rather than as the keys that differ from the defaults.
    """
    calibration = scenario.calibration
    if lists_every_key:
        keys = [
            "Every key is listed, so the file does not depend on the defaults of sim/scenario.py. The fit's",
            "choices, its validation on held-out accounts and doubtful points are listed under calibration.notes.",
        ]
    else:
        keys = [
            "Keys that are not listed take their defaults from sim/scenario.py. The fit's choices and doubtful",
            "points are listed under calibration.notes.",
        ]
    return [
        f"Scenario {scenario.name!r}, fitted by sim/calibration.py to:",
        f"  {calibration.source}",
        f"Data file sha256: {calibration.sha256}",
        f"Fit window: {calibration.window}.",
        "Generated file: do not edit by hand. Regenerate from the repository root with:",
        f"  {calibration.command}",
        *keys,
    ]


def calibrate_uci(csv_path: str | Path, out_path: str | Path, *, command: str = REGENERATE_COMMAND) -> Scenario:
    """Fit the scenario to the UCI CSV, write it to ``out_path`` and return the scenario read back from it."""
    scenario = fit_uci(csv_path, command=command)
    write_scenario(scenario, out_path, calibration_header(scenario))
    return Scenario.from_yaml(out_path)
