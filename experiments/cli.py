"""The ``arrears`` command line: run, validate, report, calibrate, fit-score, bench, train, tune and list.

Bad input (a config, a data file, an argument) prints one line naming the file, the key and what is allowed, and
exits with code 2; ``--debug`` also shows the traceback before that line.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import io
import logging
import os
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

from experiments.config import MAX_SEEDS
from sim.atomic import check_writable_file
from sim.errors import ConfigError, parse_json, short_repr

DEFAULT_CONFIG = Path("configs") / "baseline.yaml"
_TRAINING_MEMORY_ADVICE = (
    "lower env.n_envs, hyperparameters.n_steps or hyperparameters.buffer_size of the training config"
)
#: Advice on the settings to lower when a command runs out of memory. A command without an entry gets none.
_MEMORY_ADVICE = {
    "run": "use fewer accounts or --workers 1",
    "fit-score": "lower --accounts or --days",
    "train": _TRAINING_MEMORY_ADVICE,
    "tune": _TRAINING_MEMORY_ADVICE,
}
SHIPPED_DEFAULT_SCENARIO = Path(__file__).resolve().parents[1] / "sim" / "scenarios" / "default.yaml"
SHIPPED_SCORE = Path(__file__).resolve().parents[1] / "policies" / "scores" / "early_warning.yaml"
# Debian's chromium, for `arrears report --pdf`; experiments.report.CHROMIUM has the same default.
DEFAULT_CHROMIUM = Path("/usr/bin/chromium")
EXIT_BAD_INPUT = 2
#: Exit code when the reader of stdout has gone, as in ``arrears list | head -1``. It is 128 + SIGPIPE, the code a
#: shell reports for a program that SIGPIPE ended.
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
#: fit-score warns when the held-out history has fewer snapshots than this of either outcome, on which its AUC rests.
#: A rule of thumb, not a measured limit.
MIN_SNAPSHOTS_PER_OUTCOME = 50
#: fit-score warns when the held-out AUC beats the shuffled-feature AUC by less than this.
WEAK_SCORE_AUC_MARGIN = 0.05
#: Delay before a SIGTERM whose :class:`Terminated` Python ignored (in a weakref callback) is sent again.
SIGTERM_RESEND_SECONDS = 0.01
VALIDATE_KINDS = ("experiment", "scenario", "waterfall", "training", "score")


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def bounded_int(maximum: int):
    """Build an argparse type that accepts a whole number from 1 to ``maximum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {maximum}, got {text!r}") from None
        if not 1 <= value <= maximum:
            raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {maximum}, got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="arrears", description="Simulate and compare debt-collection strategies.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and debug logging")
    # --debug is accepted after the command too; SUPPRESS keeps the top-level value when it is absent there.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    add_parser = commands.add_parser

    def add_command(name: str, **kwargs) -> argparse.ArgumentParser:
        command = add_parser(name, parents=[common], **kwargs)
        # So that an unknown option is reported by the command it was given to (see main).
        command.set_defaults(command_parser=command)
        return command

    commands.add_parser = add_command  # type: ignore[method-assign]

    run = commands.add_parser("run", help="run an experiment and write its run directory and report")
    run.add_argument(
        "config",
        nargs="?",
        type=_path,
        help=f"experiment YAML (default: {DEFAULT_CONFIG} of the current folder, else the shipped one)",
    )
    run.add_argument(
        "--out",
        type=_path,
        help="run directory (default: results/<experiment name>). A rerun into it skips the cells finished there",
    )
    run.add_argument("--seeds", type=bounded_int(MAX_SEEDS), help="run seeds 0..N-1 instead of the config's seeds")
    run.add_argument(
        "--workers",
        type=bounded_int(256),
        help="processes that compute cells with the local backend, this one included (default: one per core)",
    )
    run.add_argument(
        "--backend",
        choices=("local", "dask"),
        default="local",
        help="where cells run: 'local' joblib processes, or 'dask' on the cluster at --scheduler (default: local)",
    )
    run.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="address of a running Dask scheduler, such as tcp://127.0.0.1:8786, for --backend dask",
    )
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    validate = commands.add_parser(
        "validate", help="check an experiment config, a scenario, a waterfall, a training config or a score YAML"
    )
    validate.add_argument("config", type=_path, help="experiment, scenario, waterfall, training or score YAML")
    validate.add_argument(
        "--kind",
        choices=VALIDATE_KINDS,
        help="what the file is (default: an experiment if it has 'policies', a waterfall if it has 'stages', a "
        "training config if it has 'algo', a score if its 'kind' is 'early_warning', else a scenario)",
    )

    report = commands.add_parser("report", help="write report.html for an existing run directory")
    report.add_argument("run_dir", type=_path, help="a directory written by 'arrears run'")
    report.add_argument(
        "--pdf", action="store_true", help="also print the report to report.pdf with headless Chromium (Playwright)"
    )
    report.add_argument(
        "--chromium",
        type=_path,
        help=f"with --pdf: Chromium or Chrome executable that prints the PDF (default: {DEFAULT_CHROMIUM}); no browser "
        "is downloaded",
    )

    calibrate = commands.add_parser("calibrate", help="fit a scenario from account-level monthly histories")
    calibration_data = calibrate.add_mutually_exclusive_group(required=True)
    calibration_data.add_argument("--uci", type=_path, help="the UCI 'default of credit card clients' CSV")
    calibration_data.add_argument(
        "--csv", type=_path, help="a long monthly CSV of your own accounts, one row per account and month"
    )
    calibrate.add_argument(
        "--out",
        type=_path,
        help=f"scenario YAML to write (required with --csv; default with --uci: {SHIPPED_DEFAULT_SCENARIO})",
    )
    calibrate.add_argument(
        "--base",
        help="with --csv, the shipped scenario name or YAML whose keys the fit does not set (default: default)",
    )

    fit_score = commands.add_parser(
        "fit-score", help="fit the early-warning score on simulated histories and report its AUC"
    )
    fit_score.add_argument(
        "--scenario", default="default", help="shipped scenario name or scenario YAML (default: %(default)s)"
    )
    fit_score.add_argument(
        "--policy", default="standard", help="policy that treats the simulated histories (default: %(default)s)"
    )
    fit_score.add_argument(
        "--accounts", type=bounded_int(2_000_000), default=10_000, help="accounts per history (default: %(default)s)"
    )
    fit_score.add_argument(
        "--days", type=bounded_int(3650), default=150, help="days per history, more than 30 (default: %(default)s)"
    )
    fit_score.add_argument(
        "--out",
        type=_path,
        default=SHIPPED_SCORE,
        help="score YAML to write (default: the shipped score, %(default)s)",
    )

    bench = commands.add_parser(
        "bench",
        help="measure simulator, environment and training speed against targets",
        description="Measure portfolio throughput (10k, 100k and 1M accounts), the per-account SimPy mode, a minimal "
        "numpy kernel, the Gymnasium environment against CartPole-v1, PPO training speed, the 2-worker grid "
        "speed-up and every shipped policy at 100k accounts, each in a fresh process, and print a table of "
        "measurements and targets. The full run takes 2 to 5 minutes on 2 cores, by the machine; the environment "
        "and PPO parts need the rl extra. "
        "docs/performance.md explains each measurement.",
    )
    bench.add_argument("--quick", action="store_true", help="tiny sizes: checks that the suite runs, not its speed")
    bench.add_argument(
        "--out",
        type=_path,
        help="JSON file for the results (default: benchmarks/results/bench-DATE.json, or bench-DATE-quick.json with "
        "--quick, under the current directory)",
    )

    _add_rl_commands(commands)
    commands.add_parser("list", help="list the shipped scenarios and policies")
    return parser


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM, so that a run stops its workers as on Ctrl-C."""


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, turn the first SIGTERM into :class:`Terminated` and ignore any later one.

    Python's default for SIGTERM ends the process at once, which left a run's worker processes and lock file behind.
    After the block the previous handler is restored. After a SIGTERM, SIGTERM stays ignored instead, until the
    process exits.

    A process often receives SIGTERM twice, because ``timeout`` and other supervisors signal the process and then
    its process group. A second SIGTERM must neither raise in the middle of the cleanup that the first started, nor
    meet the default handler restored after the block. The default ends the process before its exit handlers run.
    The semaphores of joblib's worker pool (loky) are then never unregistered, and loky's resource tracker prints a
    multi-line "leaked semlock objects" warning after "arrears: terminated" (seen with joblib 1.6.0, loky 3.6.0).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    terminating = False
    in_unraisable_hook = False

    def send_sigterm_later() -> None:
        timer = threading.Timer(SIGTERM_RESEND_SECONDS, os.kill, (os.getpid(), signal.SIGTERM))
        timer.daemon = True
        timer.start()

    def terminate(signum: int, frame: object) -> None:
        nonlocal terminating
        if in_unraisable_hook:
            send_sigterm_later()  # an exception raised here would be ignored too
        elif not terminating:
            terminating = True
            raise Terminated

    def raise_ignored_interrupt_again(unraisable) -> None:
        nonlocal terminating, in_unraisable_hook
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
            # Ctrl-C meets the trap described below: Python ignores the KeyboardInterrupt, and the run would finish
            # with exit code 0. Send SIGINT again from another thread, so that it lands outside the callback.
            timer = threading.Timer(SIGTERM_RESEND_SECONDS, os.kill, (os.getpid(), signal.SIGINT))
            timer.daemon = True
            timer.start()
            return
        if unraisable.exc_type is None or not issubclass(unraisable.exc_type, Terminated):
            previous_hook(unraisable)
            return
        # Python runs a signal handler wherever the main thread is, and ignores an exception raised in a weakref
        # callback or __del__, so the run would go on and ignore every later SIGTERM. Send SIGTERM again from
        # another thread, because a send from this thread would run the handler here at once.
        in_unraisable_hook = True
        try:
            terminating = False
            send_sigterm_later()
        finally:
            in_unraisable_hook = False

    previous = signal.signal(signal.SIGTERM, terminate)
    previous_hook = sys.unraisablehook
    sys.unraisablehook = raise_ignored_interrupt_again
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        signal.signal(signal.SIGTERM, signal.SIG_IGN if terminating else previous)


#: The warnings filter that keeps loky's resource tracker quiet (see _quiet_resource_tracker).
RESOURCE_TRACKER_FILTER = "ignore:resource_tracker:UserWarning"


def _quiet_resource_tracker() -> None:
    """Keep joblib's (loky's) resource tracker from printing its shutdown warnings after an interrupted run.

    Killing a run's workers on Ctrl-C or SIGTERM can leave a semaphore registered that no process unregisters. The
    tracker, a process of its own that outlives this one, then unlinks it and prints two warnings after "arrears:
    terminated" (seen with joblib 1.6.0). It starts with this process's environment, so a warnings filter in
    PYTHONWARNINGS silences it; --debug leaves the warnings on.
    """
    current = os.environ.get("PYTHONWARNINGS", "")
    if RESOURCE_TRACKER_FILTER not in current.split(","):
        os.environ["PYTHONWARNINGS"] = f"{current},{RESOURCE_TRACKER_FILTER}" if current else RESOURCE_TRACKER_FILTER


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command == "run":
        _check_run_options(args.command_parser, args)
    if args.command == "calibrate":
        _check_calibrate_options(args.command_parser, args)
    # Log records read like the warnings ("arrears: warning: ..."). With --debug they show the level and logger name.
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s" if args.debug else "arrears: %(levelname_lower)s: %(message)s",
    )
    if not args.debug:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_lowercase_level)
        _quiet_resource_tracker()
    # One-line warnings while the command runs, restored after it, so that a caller of main() (a test) keeps its own.
    previous_format = warnings.formatwarning
    warnings.formatwarning = _one_line_warning
    try:
        code = _run_command(args)
        # A reader that has gone shows here, not in the flush at exit, which would print a traceback.
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    finally:
        warnings.formatwarning = previous_format


def _discard_stdout() -> None:
    """Point stdout's file descriptor at the null device, so that Python's flush at exit raises no second error.

    This follows the "Note on SIGPIPE" in the Python docs of the signal module. The output still buffered is dropped,
    because the reader of the pipe has gone.
    """
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return  # stdout was replaced by an object without a file descriptor, as pytest's capture does
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _run_command(args: argparse.Namespace) -> int:
    """Run the parsed command; turn bad input, interrupts and system errors into a message and an exit code."""
    try:
        with _sigterm_as_interrupt():
            return COMMANDS[args.command](args)
    except ConfigError as exc:
        if args.debug:
            # The traceback, and still the exit code of bad input, so that a script gets the same code either way.
            traceback.print_exc()
        # An error about the command line itself names the command as its source: print that only once.
        text = str(exc).removeprefix(f"arrears {args.command}: ")
        print(f"arrears {args.command}: error: {text}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("arrears: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("arrears: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except MemoryError:
        if args.debug:
            raise
        advice = _MEMORY_ADVICE.get(args.command)
        print(f"arrears {args.command}: error: out of memory" + (f"; {advice}" if advice else ""), file=sys.stderr)
        return 1
    except BrokenPipeError:
        raise  # handled in main, which exits without a message because the reader of stdout has gone
    except OSError as exc:
        if args.debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        if exc.errno == errno.ENAMETOOLONG:
            # A path too long for the file system derives from a name that the user gave, so it is bad input.
            print(f"arrears {args.command}: error: {where}file name too long; use a shorter path", file=sys.stderr)
            return 2
        print(f"arrears {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1


def _check_run_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Reject option combinations of ``run`` that argparse cannot express, as usage errors (exit code 2)."""
    if args.scheduler is not None and args.backend != "dask":
        parser.error("argument --scheduler: only applies with --backend dask")
    if args.backend == "dask" and not args.scheduler:
        parser.error("argument --backend dask: needs --scheduler ADDRESS, the address of a running Dask scheduler")
    if args.backend == "dask" and args.workers is not None:
        parser.error(
            "argument --workers: applies to --backend local, because a Dask cluster's workers are set where it starts"
        )


def _check_calibrate_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Reject --base with --uci as a usage error (exit code 2), because the UCI fit always starts from its own keys."""
    if args.uci is not None and args.base is not None:
        parser.error("argument --base: applies only with --csv; the --uci fit writes the default scenario")
    if args.base is None:
        args.base = "default"


def _lowercase_level(record: logging.LogRecord) -> bool:
    """Give ``record`` the attribute ``levelname_lower`` ("warning") for the log format; keep every record."""
    record.levelname_lower = record.levelname.lower()
    return True


def _path(text: str) -> Path:
    """Parse a path argument; an empty one is an error, because Path("") would silently mean the current folder."""
    if not text:
        raise argparse.ArgumentTypeError("must not be empty; name a file or directory")
    return Path(text)


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"arrears: warning: {message}\n"


def _default_config() -> Path:
    """Return configs/baseline.yaml of the current folder when it exists, else the shipped one."""
    from experiments.config import shipped_configs_dir

    return DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else shipped_configs_dir() / "baseline.yaml"


def cmd_run(args: argparse.Namespace) -> int:
    from experiments.config import load_config
    from experiments.runner import RESULTS_DIR, check_run_directory, run

    config_path = args.config or _default_config()
    out = args.out
    if out is not None:
        check_run_directory(out)
    if args.config is None and not config_path.exists():
        raise ConfigError(
            str(config_path),
            "",
            "no CONFIG given and the shipped default config was not found; pass an experiment YAML",
        )
    experiment = load_config(config_path).with_overrides(seeds=args.seeds)
    out = out or RESULTS_DIR / experiment.config.name
    result = run(
        experiment,
        out=out,
        workers=args.workers,
        progress=not args.no_progress,
        backend=args.backend,
        scheduler=args.scheduler,
    )
    counts = _count(len(result.metrics), "metrics row")
    if result.cells_reused:
        counts += f", {_count(result.cells_reused, 'cell')} from the earlier run"
    print(f"wrote {result.path}/ ({counts}); report: {result.path / 'report.html'}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate a YAML as the kind given, or as the kind its top-level keys show."""
    from experiments.config import detect_kind
    from sim.scenario import load_yaml_mapping

    data = load_yaml_mapping(args.config)
    detected = detect_kind(data)
    if args.kind is None or args.kind == detected:
        return _validate_as(args, detected)
    try:
        return _validate_as(args, args.kind)
    except ConfigError as error:
        # The first error of one kind checked as another ("stages: Field required") does not say why.
        described = _kind_descriptions()
        if described[detected] in error.message:
            raise
        hint = f"; its top-level keys are those of {described[detected]}"
        raise ConfigError(error.source, error.key_path, error.message + hint) from error


def _kind_descriptions() -> dict[str, str]:
    """Return each YAML kind of :func:`experiments.config.detect_kind` described with its article, for messages."""
    from sim.scenario import OTHER_KINDS

    described = {kind: description for kind, description in OTHER_KINDS.values()}
    return described | {"score": "an early-warning score", "scenario": "a scenario"}


def _validate_as(args: argparse.Namespace, kind: str) -> int:
    import policies
    from sim.scenario import Scenario

    if kind == "training":
        from experiments.train import load_train_config

        config = load_train_config(args.config)
        counts = f"{config.total_timesteps:,} timesteps, {_count(config.env.n_envs, 'account')} per step"
        print(f"{args.config}: valid training config '{config.name}' for {config.algo}: {counts}")
    elif kind == "score":
        from policies.early_warning import EarlyWarningModel

        score = EarlyWarningModel.from_yaml(args.config)
        print(f"{args.config}: valid early-warning score over {_count(len(score.feature_names), 'feature')}")
    elif kind == "experiment":
        from experiments.config import load_config

        experiment = load_config(args.config)
        cfg = experiment.config
        counts = ", ".join(
            (
                _count(len(experiment.policy_specs), "policy", "policies"),
                _count(len(cfg.seed_list), "seed"),
                _count(cfg.n_accounts, "account"),
                _count(cfg.horizon_days, "day"),
            )
        )
        print(f"{args.config}: valid experiment '{cfg.name}': {counts}")
    elif kind == "waterfall":
        policy = policies.Waterfall.from_yaml(args.config)
        print(f"{args.config}: valid waterfall '{policy.name}' with {_count(len(policy.spec.stages), 'stage')}")
    else:
        scenario = Scenario.from_yaml(args.config)
        detected = "" if args.kind else " (no key of another kind; pass --kind to check it as another kind)"
        print(f"{args.config}: valid scenario '{scenario.name}'{detected}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from experiments.report import PdfError, write_pdf, write_report
    from experiments.runner import _exclusive_run_directory

    if not args.run_dir.is_dir():
        reason = "is a file, not a run directory" if args.run_dir.exists() else "directory not found"
        raise ConfigError(str(args.run_dir), "", f"{reason}; name a directory written by arrears run")
    # Hold the run's lock, because a run that replaced the directory while this report rendered would otherwise
    # receive a report of the earlier run's metrics.
    # NOTE: the lock file goes beside the run directory, so a run directory inside a folder that is not writable gets
    # no report (not tested, because the tests run as root).
    lock = functools.partial(
        _exclusive_run_directory,
        args.run_dir.resolve(),
        option="",
        advice="run arrears report again when it has finished",
    )
    if not (args.run_dir / "metrics.parquet").exists():
        # The first run into the directory writes its metrics last, so a directory locked by a run is busy, not wrong.
        with lock():
            pass
        raise ConfigError(str(args.run_dir), "", "not a run directory: metrics.parquet is missing")
    if args.chromium is not None and not args.pdf:
        raise ConfigError(str(args.chromium), "--chromium", "applies only with --pdf; add --pdf or drop --chromium")
    chromium = args.chromium or DEFAULT_CHROMIUM
    if args.pdf:
        check_chromium(chromium)
    with lock():
        path = write_report(args.run_dir)
        print(f"wrote {path}")
        if args.pdf:
            try:
                pdf_path = write_pdf(args.run_dir, chromium=chromium)
            except PdfError as exc:
                print(f"arrears report: error: {exc}", file=sys.stderr)
                return 1
            print(f"wrote {pdf_path}")
    return 0


def check_chromium(chromium: Path) -> None:
    """Raise :class:`ConfigError` naming ``--chromium`` unless ``chromium`` is an executable that starts as a
    headless browser.

    Checked before report.html is written, so that a wrong browser leaves the run directory as it was, with no new
    HTML beside an older PDF. It starts the browser once through Playwright and closes it, which costs about a
    second. Without the playwright package only the file is checked, and ``write_pdf`` reports the missing package.
    """
    if not chromium.exists():
        raise ConfigError(
            str(chromium), "--chromium", "Chromium not found; install Debian's chromium package or pass its path"
        )
    if not chromium.is_file():
        raise ConfigError(str(chromium), "--chromium", "is not a file; pass the path of the Chromium executable")
    if not os.access(chromium, os.X_OK):
        raise ConfigError(str(chromium), "--chromium", "is not executable; pass the path of the Chromium executable")
    from experiments.report import check_browser_starts

    check_browser_starts(chromium)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from sim.calibration import REGENERATE_COMMAND, calibrate_monthly_csv, calibrate_uci
    from sim.scenario import Scenario

    if args.uci is not None:
        from experiments.config import installed_from_wheel

        if args.out is None and installed_from_wheel():
            raise ConfigError(
                "--out",
                "",
                "missing; the default, the shipped default scenario, is inside this non-editable install, so pass "
                "the YAML to write, such as --out uci.yaml",
            )
        out = args.out or SHIPPED_DEFAULT_SCENARIO
        check_writable_file(out, "--out")
        _check_not_input(out, args.uci, "--uci")
        _check_yaml_out(out, "scenario")
        # The shipped default records the command that regenerates it from the repository root, another file the
        # command that wrote it.
        command = REGENERATE_COMMAND if args.out is None else f"arrears calibrate --uci {args.uci} --out {args.out}"
        scenario = calibrate_uci(args.uci, out, command=command)
        print(f"wrote {out} (scenario '{scenario.name}', fitted from {args.uci})")
        return 0

    if args.out is None:
        raise ConfigError("--out", "", "missing; --csv needs the scenario YAML to write, such as --out mine.yaml")
    check_writable_file(args.out, "--out")
    _check_not_input(args.out, args.csv, "--csv")
    _check_yaml_out(args.out, "scenario")
    command = f"arrears calibrate --csv {args.csv} --out {args.out} --base {args.base}"
    # Loaded here first, so that an unknown name is reported under --base before the CSV is read.
    with _named_by_option("arrears calibrate", "--base", str(args.base), "scenario"):
        Scenario.load(args.base)
    scenario = calibrate_monthly_csv(args.csv, args.out, base=args.base, command=command)
    print(f"wrote {args.out} (scenario '{scenario.name}', fitted from {args.csv}, other keys from {args.base})")
    return 0


def _check_yaml_out(out: Path, content: str) -> None:
    """Raise :class:`ConfigError` unless ``--out`` names a YAML file that is new, empty or of the kind to write.

    ``content`` is the kind to write ("scenario" or "score"). The checks keep a typo from replacing a CSV, a model, a
    waterfall or another config.
    """
    from experiments.config import detect_kind
    from sim.scenario import load_yaml_mapping

    if out.suffix.lower() not in (".yaml", ".yml"):
        raise ConfigError(str(out), "--out", f"is not a .yaml or .yml path; name the {content} YAML to write")
    if not out.is_file() or out.stat().st_size == 0:
        return
    replace = "name a new file, or delete this one first"
    try:
        kind = detect_kind(load_yaml_mapping(out))
    except ConfigError as error:
        raise ConfigError(
            str(out), "--out", f"exists and is not a {content} YAML ({error.message}); {replace}"
        ) from None
    if kind != content:
        described = _kind_descriptions()
        raise ConfigError(str(out), "--out", f"exists and is {described[kind]}, not {described[content]}; {replace}")


def _check_not_input(out: Path, data: Path, option: str) -> None:
    """Raise :class:`ConfigError` when ``--out`` names the data file that ``option`` reads, which it would replace."""
    if out.exists() and data.exists() and out.samefile(data):
        raise ConfigError(str(out), "--out", f"is the {option} file it reads; name another file for the scenario YAML")


@contextlib.contextmanager
def _named_by_option(command: str, option: str, value: str, key_path: str) -> Iterator[None]:
    """Report an unknown name given to ``option`` under that option, as other argument errors are.

    The loaders report an unknown name under ``key_path`` of a config, which a command-line value does not have. An
    error inside a named file keeps that file and key.
    """
    try:
        yield
    except ConfigError as exc:
        if exc.key_path != key_path or exc.source != value:
            raise
        raise ConfigError(command, option, f"{short_repr(value)}: {exc.message}") from None


def cmd_fit_score(args: argparse.Namespace) -> int:
    import policies
    from policies.early_warning import HORIZON_DAYS, ThinHistoryError, train
    from sim.scenario import Scenario

    if args.days <= HORIZON_DAYS:
        raise ConfigError("--days", "", f"must exceed the {HORIZON_DAYS}-day horizon, got {args.days}")
    check_writable_file(args.out, "--out")
    _check_yaml_out(args.out, "score")
    with _named_by_option("arrears fit-score", "--scenario", args.scenario, "scenario"):
        scenario = Scenario.load(args.scenario)
    with _named_by_option("arrears fit-score", "--policy", args.policy, "policy"):
        policy = policies.load(args.policy)
    try:
        report = train(
            scenario,
            policy,
            n_accounts=args.accounts,
            days=args.days,
            seed=0,
            holdout_seed=1,
            scenario_name=args.scenario,
        )
    except ThinHistoryError as error:
        raise ConfigError(
            "--accounts", "", f"{args.accounts} accounts over {args.days} days are too few: {error}; raise --accounts"
        ) from None
    report.model.to_yaml(args.out)
    print(
        f"wrote {args.out}: AUC {report.holdout_auc:.3f} on held-out accounts ({report.training_auc:.3f} in "
        f"training, {report.shuffled_auc:.3f} with the features shuffled)"
    )
    if report.holdout_auc - report.shuffled_auc < WEAK_SCORE_AUC_MARGIN:
        logging.getLogger(__name__).warning(
            "the score ranks held-out accounts barely better than shuffled features (AUC %.3f against %.3f); "
            "fit it on more accounts or days before using it",
            report.holdout_auc,
            report.shuffled_auc,
        )
    fewer = min(report.holdout_rolled, report.holdout_not_rolled)
    if fewer < MIN_SNAPSHOTS_PER_OUTCOME:
        logging.getLogger(__name__).warning(
            "the held-out AUC rests on %d snapshots that rolled and %d that did not, too few to trust it; fit the "
            "score on more accounts or days",
            report.holdout_rolled,
            report.holdout_not_rolled,
        )
    return 0


def _is_bench_result(path: Path) -> bool:
    """Return whether ``path`` contains the JSON of an earlier ``arrears bench``, which a new run may replace."""
    try:
        data = parse_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and {"machine", "targets"} <= data.keys()


def cmd_bench(args: argparse.Namespace) -> int:
    import datetime as dt

    from benchmarks.suite import format_table, run_suite, write_results

    suffix = "-quick" if args.quick else ""
    out = args.out or Path("benchmarks") / "results" / f"bench-{dt.date.today().isoformat()}{suffix}.json"
    if out.suffix.lower() != ".json":
        raise ConfigError(str(out), "--out", "is not a .json path; name the JSON file to write the results to")
    check_writable_file(out, "--out")
    if out.is_file() and not _is_bench_result(out):
        raise ConfigError(str(out), "--out", "exists and is not a result of arrears bench; name a new file")
    results = run_suite(quick=args.quick, log=lambda line: print(line, file=sys.stderr))
    write_results(results, out)
    print(format_table(results))
    print(f"\nwrote {out}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    import policies
    from sim.scenario import Scenario, shipped_scenarios

    for name in shipped_scenarios():
        print(f"scenario  {name:20s} {_first_sentence(Scenario.load(name).description)}")
    for name in policies.shipped_policies():
        print(f"policy    {name:20s} {_first_sentence(policies.load(name).description)}")
    return 0


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def _add_rl_commands(commands) -> None:
    """Add ``train`` and ``tune``, which need the ``rl`` extra (Stable-Baselines3, sb3-contrib, Optuna)."""
    algorithms = ("ppo", "a2c", "dqn", "maskable_ppo")
    train = commands.add_parser("train", help="train a reinforcement-learning agent on arrears/Account-v0")
    train.add_argument("--algo", choices=algorithms, help="algorithm (default: the config's 'algo')")
    train.add_argument(
        "--config", type=_path, help="training YAML (default: the shipped configs/rl/ALGO.yaml of --algo)"
    )
    train.add_argument(
        "--timesteps",
        type=bounded_int(10**10),
        help="total timesteps (account-days) to train; PPO and A2C round it up to whole rollouts (n_steps x n_envs)",
    )
    train.add_argument("--seed", type=int, help="seed of the network and of the training accounts, 0 to 2**31 - 1")
    train.add_argument("--out", type=_path, help="run directory (default: results/rl/ALGO-NAME-seedS)")
    train.add_argument("--resume", type=_path, metavar="DIR", help="continue the run in DIR from its latest checkpoint")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    tune = commands.add_parser("tune", help="search hyperparameters with Optuna and write the best as a training YAML")
    tune.add_argument(
        "--algo", choices=algorithms, help="algorithm (default: the config's 'algo', or ppo without --config)"
    )
    tune.add_argument("--config", type=_path, help="training YAML whose settings the trials share (default: shipped)")
    tune.add_argument("--trials", type=bounded_int(100_000), default=20, help="trials to run (default: %(default)s)")
    tune.add_argument("--timesteps", type=bounded_int(10**10), help="timesteps per trial (default: the config's)")
    tune.add_argument(
        "--storage",
        help="Optuna storage URL shared by several workers, such as sqlite:///study.db (default: in memory)",
    )
    tune.add_argument(
        "--study-name",
        help="study to create or continue, a name of letters, digits, '_', '.' and '-' (default: ALGO-NAME)",
    )
    tune.add_argument("--seed", type=int, default=0, help="seed of the sampler and of every trial (default: 0)")
    tune.add_argument(
        "--out",
        type=_path,
        help="YAML to write the best config to (default: results/rl/tune/STUDY.yaml). It must be new or a file an "
        "earlier arrears tune wrote, and not the --config file",
    )
    tune.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def cmd_train(args: argparse.Namespace) -> int:
    from experiments.train import run_train_command

    return run_train_command(args)


def cmd_tune(args: argparse.Namespace) -> int:
    from experiments.tune import run_tune_command

    return run_tune_command(args)


COMMANDS = {
    "run": cmd_run,
    "validate": cmd_validate,
    "report": cmd_report,
    "calibrate": cmd_calibrate,
    "fit-score": cmd_fit_score,
    "bench": cmd_bench,
    "list": cmd_list,
    "train": cmd_train,
    "tune": cmd_tune,
}

if __name__ == "__main__":
    sys.exit(main())
