"""Type checkers see the real public API, not ``Any`` (issue 10, point 5).

``evsynth/__init__.py`` exports its public names lazily through a module ``__getattr__`` (for a
fast ``import evsynth``); an ``if TYPE_CHECKING:`` block imports the same objects for type
checkers. These tests run mypy on a small snippet with ``reveal_type`` and check the revealed
types, and check that the ``TYPE_CHECKING`` block and the lazy table name the same objects.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

import evsynth

ROOT = Path(__file__).resolve().parents[1]
INIT = ROOT / "src" / "evsynth" / "__init__.py"
PUBLIC = [n for n in evsynth.__all__ if n != "__version__"]

needs_mypy = pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                                reason="mypy is not installed")

#: expression -> the type mypy must reveal for it (exact)
FIT_RESULTS = {
    "evsynth.meta([0.1, 0.3, 0.2], [0.01, 0.02, 0.015])": "evsynth.models.meta.MetaResult",
    "evsynth.meta_mh('OR', ai=[1, 2], bi=[9, 8], ci=[3, 4], di=[7, 6])":
        "evsynth.models.mh.MHResult",
    "evsynth.meta_peto(ai=[1, 2], bi=[9, 8], ci=[3, 4], di=[7, 6])":
        "evsynth.models.mh.MHResult",
    "evsynth.meta_batch(df, by='g')": "evsynth.models.batch.BatchResult",
    "evsynth.fsn([0.1, 0.3, 0.2], [0.01, 0.02, 0.015])": "evsynth.models.bias.FsnResult",
    "evsynth.convert.combine_groups(10, 1.0, 0.5, 12, 1.5, 0.6)":
        "evsynth.effects.conversions.CombinedGroup",
    "evsynth.forest(evsynth.meta([0.1, 0.3], [0.01, 0.02]))": "matplotlib.figure.Figure",
    "evsynth.InputError('x')": "evsynth.errors.InputError",
}
# effect_size returns a pandas.DataFrame: Any here, as pandas ships no inline types and
# pandas-stubs is not required (see [tool.mypy] in pyproject.toml); its signature is checked by
# test_no_public_name_is_any.


def _reveal(tmp_path: Path, exprs: list[str]) -> list[str]:
    """Revealed types of ``exprs`` (in order), from mypy run with the project's configuration."""
    lines = ["import evsynth", "import pandas as pd", "df = pd.DataFrame()"]
    lines += [f"reveal_type({e})" for e in exprs]
    snippet = tmp_path / "snippet.py"
    snippet.write_text("\n".join(lines) + "\n")
    # follow-imports=silent: only the snippet is reported (the package itself is checked by
    # .ci/run); the cache makes repeated runs fast.
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--follow-imports=silent", "--cache-dir", str(ROOT / ".mypy_cache"), str(snippet)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    found: dict[int, str] = {}
    for line in proc.stdout.splitlines():
        m = re.match(r".*snippet\.py:(\d+): note: Revealed type is \"(.*)\"$", line)
        if m:
            found[int(m.group(1))] = m.group(2)
    errors = [ln for ln in proc.stdout.splitlines() if "snippet.py" in ln and ": error:" in ln]
    assert not errors, "\n".join(errors)
    first = 4  # line of the first reveal_type
    assert len(found) == len(exprs), proc.stdout + proc.stderr
    return [found[first + i] for i in range(len(exprs))]


@needs_mypy
def test_fit_functions_reveal_their_result_types(tmp_path: Path) -> None:
    revealed = _reveal(tmp_path, list(FIT_RESULTS))
    assert dict(zip(FIT_RESULTS, revealed, strict=True)) == FIT_RESULTS


@needs_mypy
def test_no_public_name_is_any(tmp_path: Path) -> None:
    """Every name in ``evsynth.__all__`` (and every name in the public modules' ``__all__``) has
    a real type: a function signature, a class or a module, never ``Any``."""
    exprs = [f"evsynth.{n}" for n in PUBLIC]
    exprs += [f"evsynth.convert.{n}" for n in evsynth.convert.__all__]
    exprs += [f"evsynth.records.{n}" for n in evsynth.records.__all__]
    revealed = _reveal(tmp_path, exprs)
    untyped = [e for e, t in zip(exprs, revealed, strict=True) if t == "Any"]
    assert not untyped, f"type checkers see Any for: {untyped}"
    for e, t in zip(exprs, revealed, strict=True):
        if not e.startswith("evsynth.records.") and callable(eval(e, {"evsynth": evsynth})):
            # signatures are complete (disallow_incomplete_defs): no unannotated parameter
            assert "->" in t or t.startswith(("def", "type[")), (e, t)


def _type_checking_imports(tree: ast.Module) -> dict[str, tuple[str, str | None]]:
    """``name -> (module, attribute or None for a module)`` imported under TYPE_CHECKING."""
    out: dict[str, tuple[str, str | None]] = {}
    for node in tree.body:
        if (isinstance(node, ast.If) and isinstance(node.test, ast.Name)
                and node.test.id == "TYPE_CHECKING"):
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom), ast.dump(imp)
                for alias in imp.names:
                    assert alias.asname == alias.name, "re-export as 'import x as x'"
                    assert imp.module is not None
                    if imp.module == "evsynth":  # a submodule: from evsynth import convert
                        out[alias.name] = (f"evsynth.{alias.name}", None)
                    else:
                        out[alias.name] = (imp.module, alias.name)
    return out


def test_type_checking_block_matches_lazy_table() -> None:
    """What type checkers see (TYPE_CHECKING imports) is what runs (``_LAZY``)."""
    tree = ast.parse(INIT.read_text())
    assert _type_checking_imports(tree) == evsynth._LAZY


def test_records_type_checking_block_matches_lazy_table() -> None:
    import evsynth.records as rec

    tree = ast.parse((ROOT / "src" / "evsynth" / "records" / "__init__.py").read_text())
    assert _type_checking_imports(tree) == rec._LAZY


def test_import_stays_lazy() -> None:
    """The TYPE_CHECKING imports do not run: ``import evsynth`` loads no model code."""
    code = ("import sys, evsynth; "
            "heavy = [m for m in ('evsynth.models.meta', 'evsynth.models.mh', "
            "'evsynth.models.bias', 'evsynth.effects.escalc', 'evsynth.records.io', "
            "'pandas', 'scipy') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
