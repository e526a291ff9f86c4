"""evsynth run / validate: output folder, atomic replacement, inputs untouched, exit codes,
--json, and invariance to the row order of outcomes.csv."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from review_helpers import OUTCOMES, make_review

from evsynth.cli import main
from evsynth.errors import InputError
from evsynth.review import pipeline
from evsynth.review.analysis import build_analyses
from evsynth.review.load import load_review
from evsynth.review.pipeline import run


@pytest.fixture
def fast_figures(monkeypatch):
    """Tests about the output folder, not the plots: a stand-in for the forest-plot writer
    (the real one is exercised by test_output_folder and test_cli_run_json)."""
    import evsynth.reports.forest as forest

    def write(analysis, out_dir, stem):
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
        (out_dir / f"{stem}.svg").write_text(svg)
        (out_dir / f"{stem}.png").write_bytes(b"")
        return {"svg": str(out_dir / f"{stem}.svg"), "png": str(out_dir / f"{stem}.png")}

    monkeypatch.setattr(forest, "write_forest", write)


def _hashes(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())
            if p.is_file()}


def _siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    d = make_review(root / "review")
    before = _hashes(d)
    out = root / "out"
    results = run(d, out, quiet=True)
    return d, out, results, before


def test_output_folder(finished):
    d, out, results, _ = finished
    assert (out / "results.json").is_file()
    data = json.loads((out / "results.json").read_text())
    assert data["schema"] == "evsynth.results" and data["schema_version"] == "1.5"
    assert data["review"]["title"] == "Test review"
    assert [a["id"] for a in data["analyses"]] == [a["id"] for a in results["analyses"]]
    prov = data["provenance"]
    assert set(prov["input_files"]) == {"review.toml", "studies.csv", "outcomes.csv"}
    assert prov["input_files"]["outcomes.csv"]["sha256"] == \
        hashlib.sha256((d / "outcomes.csv").read_bytes()).hexdigest()
    assert prov["evsynth_version"] and prov["python"] and prov["created_utc"].endswith("+00:00")
    comp = data["comparisons"][0]
    assert comp["k_trials"] == 4 and comp["participants"] == 40 + 60 + 80 + 100
    assert data["studies"][0]["study_id"] == "S1"
    assert {"id": "a_vs_b.func.late", "reason": "no study has an assessment in this window"} \
        in data["not_analysed"]
    for a in data["analyses"]:
        if a.get("figures"):
            assert (out / a["figures"]["forest_svg"]).is_file()
            assert (out / a["figures"]["forest_png"]).is_file()
    if not prov["missing_components"]:
        assert (out / "report.html").is_file() and (out / "report.md").is_file()
        assert all(a["grade"] and a["sof"] for a in data["analyses"])
    assert _siblings(out) == []  # no temporary folder left


def test_inputs_unchanged(finished):
    d, _, _, before = finished
    assert _hashes(d) == before


def test_json_has_no_nan(finished):
    text = (finished[1] / "results.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in results.json"))


def test_failure_mid_run_leaves_nothing(tmp_path, monkeypatch, fast_figures):
    d = make_review(tmp_path / "review")
    out = tmp_path / "out"

    def boom(results, path):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pipeline, "write_results_json", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        run(d, out, quiet=True)
    assert not out.exists()
    assert _siblings(out) == []


def test_failure_keeps_previous_output(tmp_path, monkeypatch, fast_figures):
    d = make_review(tmp_path / "review")
    out = tmp_path / "out"
    run(d, out, quiet=True)
    before = _hashes(out)
    monkeypatch.setattr(pipeline, "write_results_json",
                        lambda r, p: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        run(d, out, quiet=True)
    assert _hashes(out) == before and _siblings(out) == []


def test_rerun_replaces_output(tmp_path, fast_figures):
    d = make_review(tmp_path / "review")
    out = tmp_path / "out"
    run(d, out, quiet=True)
    run(d, out, quiet=True)  # evsynth's own output is replaced without asking
    (out / "stale.txt").write_text("old")  # a file evsynth did not write: only with force
    with pytest.raises(InputError, match=r"files evsynth did not write.*\(stale.txt\).*--force"):
        run(d, out, quiet=True)
    assert (out / "stale.txt").read_text() == "old"
    run(d, out, quiet=True, force=True)
    assert not (out / "stale.txt").exists() and (out / "results.json").exists()
    assert _siblings(out) == []


def test_refuses_to_replace_foreign_folder(tmp_path):
    d = make_review(tmp_path / "review")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.docx").write_text("precious")
    with pytest.raises(InputError, match="holds no evsynth results.json"):
        run(d, out, quiet=True)
    assert (out / "thesis.docx").read_text() == "precious"


def test_refuses_review_folder_as_output(tmp_path):
    d = make_review(tmp_path / "review")
    with pytest.raises(InputError, match="would replace the review folder"):
        run(d, d, quiet=True)
    with pytest.raises(InputError, match="would replace the review folder"):
        run(d, tmp_path, quiet=True)


def test_invalid_input_writes_nothing(tmp_path):
    d = make_review(tmp_path / "review")
    (d / "review.toml").write_text("title = 1\n")
    out = tmp_path / "out"
    with pytest.raises(InputError):
        run(d, out, quiet=True)
    assert not out.exists() and _siblings(out) == []


# --------------------------------------------------------------------------- CLI
def test_cli_run_json(tmp_path, capsys):
    d = make_review(tmp_path / "review")
    assert main(["run", str(d), "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    head = json.loads(lines[0])
    assert head["results"] == str(d / "output" / "results.json")  # default --out
    recs = [json.loads(x) for x in lines[1:]]
    assert [r["id"] for r in recs] == ["a_vs_b.pain.early", "a_vs_b.pain.late",
                                       "a_vs_b.func.early", "a_vs_b.fracture.late"]
    assert all({"k", "estimate", "ci_lb", "ci_ub", "excluded"} <= set(r) for r in recs)


def test_cli_run_quiet_and_plain(tmp_path, capsys, fast_figures):
    d = make_review(tmp_path / "review")
    assert main(["run", str(d), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["run", str(d), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "a_vs_b.pain.early: MD" in out and "Wrote" in out


def test_cli_invalid_input_exit_2(tmp_path, capsys):
    rows = [dict(r) for r in OUTCOMES]
    rows[0]["sd"] = "-1"
    d = make_review(tmp_path / "review", outcomes=rows)
    assert main(["run", str(d)]) == 2
    err = capsys.readouterr().err
    assert "outcomes.csv: line 2" in err and "'sd'" in err and "Traceback" not in err
    assert main(["validate", str(d)]) == 2


def test_cli_validate_ok(review_dir, capsys):
    assert main(["validate", str(review_dir)]) == 0
    assert capsys.readouterr().out.startswith("OK: ")


def test_cli_internal_error_exit_1(review_dir, capsys, monkeypatch):
    import evsynth.review.pipeline as p

    def broken(*a, **k):
        raise RuntimeError("bug")

    monkeypatch.setattr(p, "build_analyses", broken)
    assert main(["run", str(review_dir)]) == 1
    err = capsys.readouterr().err
    assert "internal error" in err and "--debug" in err
    with pytest.raises(RuntimeError):
        main(["run", str(review_dir), "--debug"])


def test_cli_subprocess_exit_codes(tmp_path):
    import subprocess
    import sys

    d = make_review(tmp_path / "review")
    (d / "studies.csv").write_text("study_id,year\nS1,abc\n")
    r = subprocess.run([sys.executable, "-m", "evsynth.cli", "validate", str(d)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "studies.csv: line 2" in r.stderr
    assert "Traceback" not in r.stderr


# --------------------------------------------------------------------------- properties
def _strip(analyses: list[dict]) -> list[dict]:
    """Analyses without the CSV line numbers (which follow the row order by design)."""
    out = json.loads(json.dumps(analyses))
    for a in out:
        for s in a["studies"] + a["excluded"]:
            s.pop("lines", None)
        a["model"]["method_info"] = None if a["model"]["method_info"] is None else \
            {k: v for k, v in a["model"]["method_info"].items() if k != "iterations"}
    return out


@settings(max_examples=15)
@given(seed=st.integers(0, 2**32 - 1))
def test_invariant_to_row_order(tmp_path_factory, seed):
    base = make_review(tmp_path_factory.mktemp("base") / "r")
    rows = list(OUTCOMES)
    random.Random(seed).shuffle(rows)
    shuffled = make_review(tmp_path_factory.mktemp("shuf") / "r", outcomes=rows)
    a = _strip(build_analyses(load_review(base)))
    b = _strip(build_analyses(load_review(shuffled)))
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


# --------------------------------------------------------------------------- progress, example
def test_progress_only_for_many_analyses_on_a_tty(monkeypatch):
    assert pipeline._progress(100, quiet=True) == (None, None)
    assert pipeline._progress(3, quiet=False) == (None, None)

    class Tty:
        def isatty(self):
            return True

        def write(self, s):
            return len(s)

        def flush(self):
            pass

    monkeypatch.setattr(pipeline.sys, "stderr", Tty())
    update, bar = pipeline._progress(100, quiet=False)
    assert callable(update)
    update(1)
    bar.close()
    monkeypatch.undo()


def test_bundled_example_validates():
    from evsynth.review.load import validate

    example = Path(__file__).resolve().parents[2] / "examples" / "vertebroplasty"
    lines = validate(example)
    assert lines[0].startswith("OK: ") and "11 studies" in lines[0]   # + Wang 2016 (no data)
    an = {a["id"]: a for a in build_analyses(load_review(example))}
    # unknown-sign contrasts are left out with the reason, never guessed
    early = an["vp_vs_placebo.pain.early"]
    assert early["k"] == 0
    assert {e["study_id"] for e in early["excluded"]} == {"Kallmes 2009", "Firanescu 2018"}
    # Comstock 2013 (positive = lower pain with vertebroplasty) is turned to VP minus placebo
    late = {s["study_id"]: s for s in an["vp_vs_placebo.pain.late"]["studies"]}
    assert late["Kallmes 2009"]["yi"] == pytest.approx(-1.02)
    # so is Kroon 2014's adjusted MD of improvement (Buchbinder 2009 trial, 12 months)
    assert late["Buchbinder 2009"]["yi"] == pytest.approx(-0.3)
    # arm-level continuous, events, contrast and mixed arm + contrast analyses are all present
    levels = {s["data_level"] for s in an["vp_vs_usual_care.new_fracture.late"]["studies"]}
    assert levels == {"arm", "contrast"}
    assert an["vp_vs_kyphoplasty.disability.early"]["model"]["change_score_correlation"] == 0.5
