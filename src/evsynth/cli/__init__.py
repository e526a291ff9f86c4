"""Command-line interface: ``evsynth <command> ...``.

Each subcommand module exposes ``register(subparsers)``; exit codes: 0 success, 2 invalid input
(message, no traceback), 1 internal error (short message; ``--debug`` shows the traceback).

Everything the commands print goes through :func:`evsynth.textsafe.echo` (Python warnings too),
so control characters in record titles, file contents or error messages are shown in caret
notation and cannot drive the terminal.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
import warnings
from typing import TYPE_CHECKING, TextIO

from evsynth import __version__
from evsynth.errors import InputError
from evsynth.textsafe import echo, terminal_text

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

#: modules under evsynth.cli that register subcommands (skipped if absent)
SUBCOMMAND_MODULES = ("records", "screen", "search", "run", "batch", "serve")

#: command -> (module under evsynth.cli that registers it, its one-line help). Only the module
#: of the command being run is imported (``evsynth --help`` imports none of them), so the
#: help lines are kept here too; tests/test_cli_startup.py checks they equal the modules' own.
COMMANDS: dict[str, tuple[str, str]] = {
    "records": ("records", "import, deduplicate and track literature records"),
    "screen": ("screen", "screen records interactively in the terminal"),
    "search": ("search", "run and document literature searches"),
    "run": ("run", "run a review folder: results.json, forest plots, Summary of Findings, "
            "report.html and report.md"),
    "validate": ("run", "check a review folder; print a summary or the errors (exit 2)"),
    "batch": ("batch", "fit one meta-analysis per group of a partitioned Parquet dataset on "
              "Dask (needs evsynth[dask])"),
    "serve": ("serve", "run the web app for a review folder (import, deduplicate, screen in a "
              "browser)"),
    "users": ("serve", "manage the web app's accounts of a review (add, list, remove, role, "
              "password)"),
}


def _command_in(argv: list[str] | None) -> str | None:
    """The subcommand named in ``argv`` (the first argument that is not an option; the
    top-level options take no values), or None."""
    args = sys.argv[1:] if argv is None else argv
    for a in args:
        if a == "--":
            return None
        if not a.startswith("-"):
            return a
    return None


class _Parser(argparse.ArgumentParser):
    """argparse's parser, printing its usage, help and error messages through the
    terminal-safe printer: an unrecognised argument (``evsynth validate DIR $'\\e]0;x\\a'``) is
    echoed in argparse's error message, whose escape sequences would otherwise reach the
    terminal as they are. Its subparsers are of this class too (argparse's default)."""

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        if message:
            (file if file is not None else sys.stderr).write(terminal_text(message))


def build_parser(argv: list[str] | None = None, *, full: bool = False) -> argparse.ArgumentParser:
    """The ``evsynth`` parser. Only the module of the command named in ``argv`` is imported
    and registers its full parser; the other commands get a stub with their help line (enough
    for ``evsynth --help``). ``full=True`` imports and registers every command."""
    parser = _Parser(prog="evsynth", description="Evidence synthesis.")
    parser.add_argument("--version", action="version", version=f"evsynth {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = _command_in(argv)
    load = set(SUBCOMMAND_MODULES) if full else (
        {COMMANDS[wanted][0]} if wanted in COMMANDS else set())
    registered: set[str] = set()
    for name in SUBCOMMAND_MODULES:
        if name not in load:
            continue
        try:
            mod = importlib.import_module(f"evsynth.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"evsynth.cli.{name}":
                continue
            raise
        before = set(sub.choices)
        mod.register(sub)
        registered |= set(sub.choices) - before
    # stubs, in the order of COMMANDS, for the commands not loaded
    for command, (_module, help_text) in COMMANDS.items():
        if command not in registered:
            sub.add_parser(command, help=help_text, add_help=False)
    return parser


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    """Python warnings during a command: one line through the terminal-safe printer."""
    echo(f"evsynth: warning: {message}", err=True)


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the ``evsynth`` program (not a call from Python)
        tune_collector()
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        code = _run(args)
    if argv is None:  # the ``evsynth`` program (not a call from Python): its process ends next
        skip_exit_collection()
    return code


def tune_collector() -> None:
    """Collect the youngest generation every 10,000 container allocations instead of 700
    (and the older ones after 20 younger collections instead of 10): a command allocates
    hundreds of thousands of long-lived objects (imports, tables, figures), which the default
    thresholds collect over and over without freeing them. On ``evsynth run
    examples/vertebroplasty`` the collector's time fell from 0.15 to 0.07 s (gc callbacks,
    2026-12-05; 440 young and 3 full collections before, 93 and none after). Cycles are still
    collected; memory in the young generation stays bounded by the threshold."""
    gc.set_threshold(10_000, 20, 20)


def skip_exit_collection() -> None:
    """Spare the process the cyclic garbage collection of interpreter shutdown.

    Python's finalisation runs a full collection that visits every container object, about
    150,000 after a review run: ~0.3 s of the 2.8 s that ``evsynth run
    examples/vertebroplasty`` took on a 2-core machine (bench/bench_run.py, 2026-12-05).
    ``gc.freeze`` moves them all to the permanent generation, which that collection skips; the
    memory returns to the operating system with the process either way. Nothing evsynth
    writes depends on it: outputs are written and closed before a command returns (atomic
    renames, stores closed by their ``with`` blocks), evsynth registers no finalizers, and the
    interpreter still runs ``atexit`` handlers and flushes stdout and stderr. Only the
    command-line entry point calls this; a program that calls :func:`main` with arguments
    keeps its garbage collector as it was."""
    gc.freeze()


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        echo(f"evsynth: error: {exc}", err=True)
        return 2
    except KeyboardInterrupt:
        echo("evsynth: interrupted", err=True)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading: not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout
        return 0
    except Exception as exc:  # noqa: BLE001 - last-resort handler for the CLI
        if args.debug:
            raise
        echo(f"evsynth: internal error: {type(exc).__name__}: {exc} (run with --debug for the "
             "traceback)", err=True)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
