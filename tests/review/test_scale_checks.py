"""Issue 9, point 7: values outside an outcome's declared scale are errors naming file, line,
field and scale; an SD wider than the scale's range is a warning in `evsynth validate`, in
results.json and in the reports."""

from __future__ import annotations

from pathlib import Path

import pytest
from review_helpers import OUTCOMES, REVIEW_TOML, arm, contrast, make_review

from evsynth.cli import main
from evsynth.errors import InputError
from evsynth.review.load import load_review, validate
from evsynth.review.pipeline import run

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vertebroplasty"


def _with(*new: dict, at: int = 0, replace: int | None = None) -> list[dict]:
    """OUTCOMES with rows ``at``.. replaced by ``new`` (``replace`` rows, default len(new))."""
    rows = [dict(r) for r in OUTCOMES]
    rows[at:at + (len(new) if replace is None else replace)] = new
    return rows


def _pair(vt: str, mean_i: float, mean_c: float = 4.0, **kw) -> tuple[dict, dict]:
    """The two arms of S1's pain assessment at 2 weeks (lines 2 and 3)."""
    return (arm("S1", 2, "intervention", vt, 20, mean_i, 2.0, **kw),
            arm("S1", 2, "control", vt, 20, mean_c, 2.2, **kw))


@pytest.mark.parametrize("rows, field, value, scale", [
    # pain is declared on [0, 10]
    (_with(*_pair("final", 36)), "mean", "36", "outside the scale [0, 10] of outcome 'pain'"),
    (_with(*_pair("final", -0.5)), "mean", "-0.5", "outside the scale [0, 10] of outcome 'pain'"),
    (_with(*_pair("baseline_followup", 4.0, baseline_mean=11, baseline_sd=2.0)),
     "baseline_mean", "11", "outside the scale [0, 10] of outcome 'pain'"),
    (_with(*_pair("change", -12, -1.0)), "mean", "-12",
     "outside [-10, 10], the largest change possible on the scale [0, 10]"),
    (_with(contrast("S1", 2, "MD", 10.5, 9.0, 12.0, "intervention_minus_control"), replace=2),
     "estimate", "10.5",
     "outside [-10, 10], the largest difference possible on the scale [0, 10]"),
])
def test_values_outside_the_scale_are_errors(tmp_path, capsys, rows, field, value, scale):
    d = make_review(tmp_path / "r", outcomes=rows)
    with pytest.raises(InputError) as exc:
        load_review(d)
    msg = str(exc.value)
    assert f"{d / 'outcomes.csv'}: line 2 (study 'S1'): field '{field}': {value} is " in msg
    assert scale in msg
    assert main(["validate", str(d)]) == 2
    err = capsys.readouterr().err
    assert "outcomes.csv: line 2" in err and f"'{field}'" in err and "Traceback" not in err
    assert main(["run", str(d)]) == 2
    assert not (d / "output").exists()


def test_the_issue_case_mean_36_on_0_to_10(tmp_path, capsys):
    rows = _with(arm("S1", 2, "intervention", "final", 20, 36, 2.0))
    d = make_review(tmp_path / "r", outcomes=rows)
    assert main(["validate", str(d)]) == 2
    err = capsys.readouterr().err
    assert "line 2" in err and "field 'mean': 36" in err and "[0, 10]" in err


def test_values_on_the_scale_bounds_pass(tmp_path):
    rows = _with(arm("S1", 2, "intervention", "final", 20, 10, 2.0))
    rows[1] = arm("S1", 2, "control", "final", 20, 0, 2.2)
    assert load_review(make_review(tmp_path / "r", outcomes=rows)).warnings == []


def test_wide_sd_is_a_warning_everywhere(tmp_path, capsys):
    rows = _with(arm("S1", 2, "intervention", "final", 20, 3.0, 12.5))
    d = make_review(tmp_path / "r", outcomes=rows)
    review = load_review(d)
    assert len(review.warnings) == 1
    w = review.warnings[0]
    assert w.startswith(f"{d / 'outcomes.csv'}: line 2 (study 'S1'): field 'sd': 12.5 is wider "
                        "than the range 10 of the scale [0, 10] of outcome 'pain'")
    # validate: exit 0, the warning listed
    assert main(["validate", str(d)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: ") and "warning: " in out and "field 'sd': 12.5" in out
    # run: results.json, the reports and the console
    results = run(d, tmp_path / "out", quiet=True)
    assert results["warnings"] == [w]
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "Data warnings" in html and "field &#x27;sd&#x27;: 12.5 is wider" in html
    assert "## Data warnings" in md and "12.5 is wider than the range 10" in md
    assert main(["run", str(d), "--out", str(tmp_path / "out2")]) == 0
    assert "warning: " in capsys.readouterr().err


def test_wide_baseline_sd_on_another_scale(tmp_path):
    # func is declared on [0, 23]; OUTCOMES[14] is S1's intervention arm (line 16)
    rows = _with(arm("S1", 4, "intervention", "baseline_followup", 20, 8.0, 4.0, "func",
                     baseline_mean=12.0, baseline_sd=30.0), at=14)
    d = make_review(tmp_path / "r", outcomes=rows)
    (w,) = load_review(d).warnings
    assert "line 16 (study 'S1'): field 'baseline_sd': 30 is wider than the range 23 of the " \
        "scale [0, 23] of outcome 'func'" in w


def test_binary_outcomes_and_outcomes_without_scale_are_not_checked(tmp_path):
    rows = _with(*_pair("final", 36))

    d = make_review(tmp_path / "r", toml=REVIEW_TOML.replace("scale = [0, 10]\n", ""),
                    outcomes=rows)
    assert load_review(d).warnings == []


def test_bundled_example_still_validates_without_warnings():
    lines = validate(EXAMPLE)
    assert lines[0].startswith("OK: ")
    assert not any(x.startswith("warning") for x in lines)
    assert load_review(EXAMPLE).warnings == []
