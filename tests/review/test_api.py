"""The in-memory review API (evsynth.review.load / analyse / ReviewResults): ``evsynth run`` is
load + analyse + write with the same files; analyse writes nothing and keeps no state;
report_html() is the report.html written; to_dict() is results.json."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from review_helpers import make_review

import evsynth.review
from evsynth.errors import InputError
from evsynth.review.api import ReviewResults
from evsynth.review.pipeline import run

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ["antibiotic_prophylaxis", "vertebroplasty"]
STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00")


def _files(d: Path) -> dict[str, str]:
    return {p.relative_to(d).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


def _no_stamp(path: Path) -> str:
    return STAMP.sub("TIME", path.read_text(encoding="utf-8"))


def _listing(d: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(d).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(d.rglob("*"))}


def test_public_names() -> None:
    assert callable(evsynth.review.load) and callable(evsynth.review.analyse)
    assert evsynth.review.ReviewResults is ReviewResults
    assert {"load", "analyse", "ReviewResults"} <= set(evsynth.review.__all__)
    # the submodule evsynth.review.load stays importable beside the function
    from evsynth.review.load import load_review

    assert callable(load_review)


@pytest.mark.parametrize("name", EXAMPLES)
def test_run_is_load_analyse_write(name: str, tmp_path: Path) -> None:
    """Both examples: run() and analyse(load()).write() give the same files (byte-identical
    apart from the creation time), and report_html() is the report.html written."""
    src = tmp_path / name
    shutil.copytree(ROOT / "examples" / name, src, ignore=shutil.ignore_patterns("output"))
    before = _listing(src)
    cli = run(src, tmp_path / "run", quiet=True)
    res = evsynth.review.analyse(evsynth.review.load(src))
    assert _listing(src) == before          # analyse read only
    out = res.write(tmp_path / "api")
    assert out == tmp_path / "api"
    a, b = _files(tmp_path / "run"), _files(tmp_path / "api")
    assert set(a) == set(b)
    stamped = {"results.json", "report.html", "report.md", ".evsynth-output.json"}
    for rel in a:
        if rel in stamped:
            continue
        assert a[rel] == b[rel], rel          # figures byte-identical
    for rel in ("results.json", "report.html", "report.md"):
        assert _no_stamp(tmp_path / "run" / rel) == _no_stamp(tmp_path / "api" / rel), rel
    # to_dict() is results.json; the CLI's extra output_dir is not part of it
    saved = json.loads((tmp_path / "api" / "results.json").read_text(encoding="utf-8"))
    assert res.to_dict() == saved
    assert res.to_json() == (tmp_path / "api" / "results.json").read_text(encoding="utf-8")
    assert "output_dir" in cli and "output_dir" not in saved
    # the HTML report in memory is the file written
    assert res.report_html() == (tmp_path / "api" / "report.html").read_text(encoding="utf-8")
    assert res.report_markdown() == (tmp_path / "api" / "report.md").read_text(
        encoding="utf-8")
    assert saved["schema_version"] == "1.5"


def test_analyse_writes_nothing_and_keeps_no_state(tmp_path: Path, monkeypatch) -> None:
    d = make_review(tmp_path / "review")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    review = evsynth.review.load(d)
    before = _listing(tmp_path)
    first = evsynth.review.analyse(review).to_dict()
    html = evsynth.review.analyse(review).report_html()
    second = evsynth.review.analyse(evsynth.review.load(d)).to_dict()
    assert _listing(tmp_path) == before
    for r in (first, second):
        r["provenance"].pop("created_utc")
    assert first == second
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html


def test_progress_called_per_combination(tmp_path: Path) -> None:
    review = evsynth.review.load(make_review(tmp_path / "review"))
    calls: list[int] = []
    res = evsynth.review.analyse(review, progress=calls.append)
    cfg = review.config
    assert sum(calls) == len(cfg.comparisons) * len(cfg.outcomes) * len(cfg.windows)
    assert len(res.to_frame()) == len(res.to_dict()["analyses"])
    assert "analyses" in repr(res) and res.summary()


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="argument 'review' is str"):
        evsynth.review.analyse(str(tmp_path))   # type: ignore[arg-type]
    review = evsynth.review.load(make_review(tmp_path / "review"))
    with pytest.raises(InputError, match="argument 'progress'"):
        evsynth.review.analyse(review, progress=3)   # type: ignore[arg-type]
    with pytest.raises(InputError, match="review folder not found"):
        evsynth.review.load(tmp_path / "missing")
    with pytest.raises(InputError, match="results.json dict"):
        ReviewResults({"x": 1})


def test_write_refuses_the_review_folder_and_foreign_files(tmp_path: Path) -> None:
    d = make_review(tmp_path / "review")
    res = evsynth.review.analyse(evsynth.review.load(d))
    with pytest.raises(InputError, match="would replace the review folder"):
        res.write(d)
    out = tmp_path / "out"
    res.write(out)
    (out / "mine.txt").write_text("x")
    with pytest.raises(InputError, match="files evsynth did"):
        res.write(out)
    res.write(out, force=True)
    assert not (out / "mine.txt").exists()


def test_grade_step_is_public(tmp_path: Path) -> None:
    """The GRADE / SoF step runs on analyses built elsewhere (a web app's own loop)."""
    from evsynth.review.analysis import build_analyses
    from evsynth.review.pipeline import summarise_analyses

    review = evsynth.review.load(make_review(tmp_path / "review"))
    analyses = build_analyses(review)
    summarise_analyses(review, analyses)
    pain = next(a for a in analyses if a["outcome"]["id"] == "pain" and a["k"])
    assert pain["grade"]["downgrades"]["imprecision"]["downgrade"] == 1
    assert pain["sof"]["outcome_id"] == "pain" and pain["plain_language"]


def test_sof_in_report_uses_short_comments_and_footnotes() -> None:
    """GRADEpro's layout in the report: the comment column holds ``comments_short``; the
    reasons for rating down and the computed prompts are lettered footnotes under the table
    (identical texts share a letter)."""
    res = evsynth.review.analyse(evsynth.review.load(ROOT / "examples" / "antibiotic_prophylaxis"))
    a = res.to_dict()["analyses"][0]
    sof = a["sof"]
    html = res.report_html()
    table = html[html.index('<table class="sof">'):]
    table = table[:table.index("</table>")]
    assert f"<td>{sof['comments_short']}</td>" in table
    assert sof["comments_text"] not in table
    notes = sof["certainty_footnotes"] + sof["footnotes"]
    letters = "abcdefghijklmnopqrstuvwxyz"
    assert f"<sup>{','.join(letters[:len(sof['certainty_footnotes'])])}</sup>" in table
    block = html[html.index('<ul class="footnotes">'):]
    block = block[:block.index("</ul>")]
    import html as h

    for i, note in enumerate(notes):
        assert f"<li>{letters[i]}. {h.escape(note)}</li>" in block
    md = res.report_markdown()
    assert f"- {letters[0]}. " in md and "<sup>a,b</sup>" in md
