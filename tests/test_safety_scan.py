"""Every CSV writer and every terminal printer in the package goes through the one neutralising
function of evsynth.textsafe (found by scanning the source's syntax trees, so a writer added
later without it fails here).

CSV: only evsynth/textsafe.py may call ``csv.writer``/``csv.DictWriter``/``writerow(s)``,
``DataFrame.to_csv`` or ``numpy.savetxt``; everything else writes CSV through
``textsafe.write_csv``/``csv_text`` (cells through ``csv_cell``).

Terminal: every ``print(...)`` and ``sys.stdout/sys.stderr.write(...)`` in the package, and every
``.write(...)`` in the CLI and the screener, has ``terminal_text(...)`` as its argument; the CLI's
``echo`` is ``evsynth.textsafe.echo`` (which prints through ``terminal_text``); progress bars have
constant labels.
"""

from __future__ import annotations

import ast
from pathlib import Path

import evsynth

PKG = Path(evsynth.__file__).resolve().parent
TEXTSAFE = PKG / "textsafe.py"
CSV_CALLS = {"to_csv", "writerow", "writerows", "savetxt", "DictWriter"}
#: modules whose every .write() goes to a terminal
TERMINAL_MODULES = ("cli", "records/screener.py")


def _sources() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if p != TEXTSAFE)


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _dotted(node: ast.expr) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _is_terminal_text(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and _name(node.func) == "terminal_text"


def csv_violations(tree: ast.AST, where: str) -> list[str]:
    """Calls that write CSV without textsafe."""
    out = []
    csv_names = {"writer", "DictWriter"}
    from_csv = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "csv":
            from_csv |= {a.asname or a.name for a in node.names if a.name in csv_names}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        dotted = _dotted(node.func)
        if name in CSV_CALLS or dotted in ("csv.writer", "csv.DictWriter") or \
                (isinstance(node.func, ast.Name) and node.func.id in from_csv):
            out.append(f"{where}:{node.lineno}: {dotted or name}(...) writes CSV without "
                       "evsynth.textsafe (use write_csv/csv_text)")
    return out


def terminal_violations(tree: ast.AST, where: str, terminal_module: bool) -> list[str]:
    """Terminal output that does not go through terminal_text."""
    out = []
    echo_ok = False
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "evsynth.textsafe":
            echo_ok |= any(a.name == "echo" and a.asname in (None, "echo") for a in node.names)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        dotted = _dotted(node.func)
        if isinstance(node.func, ast.Name) and name == "print":
            if not node.args or not all(_is_terminal_text(a) for a in node.args):
                out.append(f"{where}:{node.lineno}: print(...) without terminal_text")
        elif dotted in ("sys.stdout.write", "sys.stderr.write", "sys.stdout.writelines",
                        "sys.stderr.writelines") or \
                (terminal_module and name in ("write", "writelines")):
            if not node.args or not _is_terminal_text(node.args[0]):
                out.append(f"{where}:{node.lineno}: {dotted}(...) without terminal_text")
        elif isinstance(node.func, ast.Name) and name == "echo" and not echo_ok:
            out.append(f"{where}:{node.lineno}: echo(...) is not evsynth.textsafe.echo")
        elif name == "tqdm":
            for kw in node.keywords:
                if kw.arg == "desc" and not isinstance(kw.value, ast.Constant):
                    out.append(f"{where}:{node.lineno}: tqdm(desc=...) is not a constant")
    return out


def _scan() -> tuple[list[str], list[str], dict[str, int]]:
    csv_bad: list[str] = []
    term_bad: list[str] = []
    counts = {"files": 0, "csv_routed": 0, "echo": 0, "terminal_text": 0}
    for path in _sources():
        rel = path.relative_to(PKG).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        counts["files"] += 1
        csv_bad += csv_violations(tree, rel)
        term_bad += terminal_violations(tree, rel, rel.startswith(TERMINAL_MODULES))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                n = _name(node.func)
                if n in ("write_csv", "csv_text"):
                    counts["csv_routed"] += 1
                elif n in ("echo", "terminal_text"):
                    counts[n] += 1
    return csv_bad, term_bad, counts


def test_every_csv_writer_goes_through_textsafe():
    csv_bad, _, counts = _scan()
    assert csv_bad == []
    assert counts["files"] > 40
    assert counts["csv_routed"] >= 1  # the decisions export (records/screening.py)


def test_every_terminal_printer_goes_through_terminal_text():
    _, term_bad, counts = _scan()
    assert term_bad == []
    assert counts["echo"] >= 30 and counts["terminal_text"] >= 1


def test_the_scanner_finds_violations():
    """The checks above would notice a writer or printer added without textsafe."""
    code = """
import csv, sys
from csv import writer as W
def f(df, fh, out, name):
    df.to_csv("x.csv")
    csv.writer(fh).writerow(["=1+1"])
    W(fh)
    print(name)
    print(terminal_text(name), name)
    sys.stderr.write(name)
    out.write(name)
    echo(name)
    tqdm(total=3, desc=name)
"""
    tree = ast.parse(code)
    csv_bad = csv_violations(tree, "m.py")
    assert len(csv_bad) == 4  # to_csv, csv.writer, writerow, W
    term_bad = terminal_violations(tree, "m.py", terminal_module=True)
    assert len(term_bad) == 6  # print x2, sys.stderr.write, out.write, echo, tqdm
    ok = """
from evsynth.textsafe import echo, terminal_text
def f(out, name):
    print(terminal_text(name))
    out.write(terminal_text("x", name))
    echo(name)
"""
    assert terminal_violations(ast.parse(ok), "m.py", terminal_module=True) == []
