"""The command line loads only what a command needs (issue 18, point 5). Wall times are
measured by bench/bench_startup.py, not here; these tests check the imports that make them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evsynth.cli import COMMANDS, SUBCOMMAND_MODULES, build_parser

EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "vertebroplasty")
HEAVY = ("numpy", "pandas", "scipy", "matplotlib", "numba", "sqlalchemy", "pydantic", "dask",
         "pyarrow")


def _loaded(code: str) -> list[str]:
    prog = (f"import sys\n{code}\n"
            f"print(__import__('json').dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_help_imports_no_heavy_library() -> None:
    code = ("from evsynth.cli import main\ntry:\n    main(['--help'])\n"
            "except SystemExit:\n    pass")
    assert _loaded(code) == []


def test_import_evsynth_is_light() -> None:
    assert _loaded("import evsynth") == []


def test_validate_needs_no_pandas_or_scipy() -> None:
    loaded = _loaded(f"from evsynth.cli import main\nmain(['validate', {EXAMPLE!r}])")
    for name in ("pandas", "scipy", "matplotlib", "numba", "sqlalchemy", "dask"):
        assert name not in loaded


def test_a_plain_fit_does_not_import_pandas_scipy_stats_numba_or_matplotlib() -> None:
    prog = ("import sys, evsynth\nevsynth.meta([0.1, 0.3, 0.2], [0.01, 0.02, 0.03])\n"
            "print([m for m in ('pandas', 'scipy.stats', 'numba', 'matplotlib', 'formulaic')"
            " if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_command_table_matches_the_modules() -> None:
    """The help lines kept in COMMANDS (for a fast --help) are the modules' own."""
    full = build_parser(full=True)
    sub = next(a for a in full._actions if a.dest == "command")
    helps = {c.dest: c.help for c in sub._choices_actions}
    assert set(helps) == set(COMMANDS)
    for name, (module, text) in COMMANDS.items():
        assert helps[name] == text, name
        assert module in SUBCOMMAND_MODULES


@pytest.mark.parametrize("argv", [["run", "--help"], ["validate", "--help"],
                                  ["--debug", "batch", "--help"], ["records", "--help"]])
def test_subcommand_help_is_complete(argv: list[str], capsys) -> None:
    from evsynth.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    command = [a for a in argv if not a.startswith("-")][0]
    assert f"usage: evsynth {command}" in out and "--help" in out


def _collector_after(code: str) -> tuple[int, list[int]]:
    """gc.get_freeze_count() and gc.get_threshold() after ``code`` in a fresh interpreter."""
    prog = (f"import gc, json, sys\n{code}\n"
            "print(json.dumps([gc.get_freeze_count(), gc.get_threshold()]))")
    out = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True,
                         check=True)
    frozen, threshold = json.loads(out.stdout.strip().splitlines()[-1])
    return frozen, threshold


def test_program_skips_the_exit_collection_library_calls_do_not() -> None:
    # the `evsynth` program (main() reading sys.argv) freezes the heap before the process ends
    # (skip_exit_collection: the shutdown collection cost ~0.3 s of a review run); a program
    # calling main() with arguments keeps its garbage collector as it was
    # (and sets the collector's thresholds for a short-lived process: tune_collector)
    program = ("from evsynth.cli import main\nsys.argv = ['evsynth', 'validate', "
               f"{EXAMPLE!r}]\nassert main() == 0")
    frozen, threshold = _collector_after(program)
    assert frozen > 0 and threshold == [10_000, 20, 20]
    library = f"from evsynth.cli import main\nassert main(['validate', {EXAMPLE!r}]) == 0"
    frozen, threshold = _collector_after(library)
    assert frozen == 0 and threshold == [700, 10, 10]
