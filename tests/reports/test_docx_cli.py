"""Word export from the review pipeline: ``evsynth run --docx`` and
``ReviewResults.write_docx(path)``, opened with python-docx: the Summary of Findings tables in
GRADEpro's layout (the numbers of results.json), the forest plots as pictures, the key
results."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "review"))

from review_helpers import make_review  # noqa: E402

import evsynth.review  # noqa: E402
from evsynth.cli import main  # noqa: E402

docx = pytest.importorskip("docx", reason="python-docx is missing (pip install evsynth[docx])")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "antibiotic_prophylaxis"


def _text(doc) -> str:
    return "\n".join(p.text for p in doc.paragraphs)


def _sof_tables(doc) -> list:
    return [t for t in doc.tables if "Outcomes" in t.cell(1, 0).text]


def test_write_docx_example(tmp_path: Path) -> None:
    res = evsynth.review.analyse(evsynth.review.load(EXAMPLE))
    path = res.write_docx(tmp_path / "review.docx")
    doc = docx.Document(str(path))
    results = res.to_dict()
    assert results["review"]["title"] in _text(doc)
    tables = _sof_tables(doc)
    assert len(tables) == len(results["comparisons"]) == 1
    t = tables[0]
    comp = results["comparisons"][0]
    assert t.cell(0, 0).text == f"{comp['intervention']} compared with {comp['control']}"
    a = results["analyses"][0]
    row = [c.text for c in t.rows[3].cells]
    assert row[0].startswith(a["sof"]["outcome_text"])
    assert a["sof"]["relative_text"].split(" ")[0] in row[3]           # OR 0.28 ...
    assert "0.28" in row[3] and "16 RCTs" in row[1] and "3,024" in row[1]
    assert a["sof"]["certainty_text"] in row[2]
    # the comment column is the short comment; the prompts are footnotes under the table
    assert row[6] == a["sof"]["comments_short"]
    for note in a["sof"]["footnotes"]:
        assert note.rstrip(".") in _text(doc)
    # one forest plot per analysis, as a picture
    assert len(doc.inline_shapes) == len(results["analyses"])
    assert a["plain_language"] in _text(doc)


def test_cli_run_docx(tmp_path: Path, capsys) -> None:
    d = make_review(tmp_path / "review")
    out = tmp_path / "out"
    assert main(["run", str(d), "--out", str(out), "--docx", "--quiet"]) == 0
    doc = docx.Document(str(out / "report.docx"))
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert len(_sof_tables(doc)) == len(results["comparisons"])
    n_forest = sum(1 for a in results["analyses"] if (a.get("figures") or {}).get("forest_png"))
    assert len(doc.inline_shapes) == n_forest > 0
    # the docx is listed in the output's manifest: a second run replaces the folder
    manifest = json.loads((out / ".evsynth-output.json").read_text(encoding="utf-8"))
    assert "report.docx" in manifest["files"]
    assert main(["run", str(d), "--out", str(out), "--quiet"]) == 0
    assert not (out / "report.docx").exists()


def test_run_docx_matches_write_docx(tmp_path: Path) -> None:
    """run(docx=True) and ReviewResults.write_docx hold the same tables and texts."""
    src = tmp_path / "ex"
    shutil.copytree(EXAMPLE, src)
    from evsynth.review.pipeline import run

    run(src, tmp_path / "out", quiet=True, docx=True)
    res = evsynth.review.analyse(evsynth.review.load(src))
    res.write_docx(tmp_path / "api.docx")
    a, b = docx.Document(str(tmp_path / "out" / "report.docx")), docx.Document(
        str(tmp_path / "api.docx"))
    assert _text(a) == _text(b)
    assert [[c.text for c in r.cells] for t in a.tables for r in t.rows] == \
        [[c.text for c in r.cells] for t in b.tables for r in t.rows]


def test_readme_first_command(tmp_path: Path) -> None:
    """The README's first command (``evsynth run <example> --docx``) runs on a copy of the
    example it names and writes the report, results.json and report.docx."""
    import re

    readme = (EXAMPLE.parents[1] / "README.md").read_text(encoding="utf-8")
    first = re.search(r"```bash\n(.*?)\n```", readme, re.S)
    assert first is not None
    m = re.search(r"evsynth run (examples/\S+)((?: --\w+)*)", first.group(1))
    assert m is not None, first.group(1)
    src = tmp_path / "example"
    shutil.copytree(EXAMPLE.parents[1] / m.group(1), src,
                    ignore=shutil.ignore_patterns("output", "evsynth.sqlite"))
    assert main(["run", str(src), *m.group(2).split(), "--quiet"]) == 0
    out = src / "output"
    assert {"report.html", "report.md", "results.json"} <= {p.name for p in out.iterdir()}
    if "--docx" in m.group(2):
        assert len(docx.Document(str(out / "report.docx")).tables) >= 1
        # python-docx is an extra: a fresh machine's install line must ask for it
        assert re.search(r"pip install \S*\[[^\]]*docx", first.group(1)), first.group(1)


def test_docx_without_python_docx_is_a_clear_error(tmp_path: Path, monkeypatch, capsys) -> None:
    """Without the optional python-docx, `evsynth run --docx` exits 2 with a message naming
    the extra to install (no traceback, no 'internal error')."""
    import sys

    monkeypatch.setitem(sys.modules, "docx", None)  # import docx now raises ModuleNotFoundError
    src = tmp_path / "example"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("output", "evsynth.sqlite"))
    assert main(["run", str(src), "--docx", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "evsynth[docx]" in err and "internal error" not in err and "Traceback" not in err
