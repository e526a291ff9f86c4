"""Analyses of the bundled example and of the test review against metafor 3.8.1
(tests/reference/review_fixtures.R recomputes them from the raw numbers with escalc/rma)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from numpy.testing import assert_allclose
from review_helpers import make_review

from evsynth.review.analysis import build_analyses
from evsynth.review.load import load_review

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "reference" / "review" / "analyses.json"
EXAMPLE = REPO / "examples" / "vertebroplasty"
TOL = {"rtol": 1e-6, "atol": 1e-10}
CASES = {c["id"]: c for c in json.loads(FIXTURE.read_text())["cases"]}


def _listify(x):
    return x if isinstance(x, list) else [x]


@pytest.fixture(scope="module")
def analyses(tmp_path_factory) -> dict[str, dict]:
    out = {a["id"]: a for a in build_analyses(load_review(EXAMPLE))}
    test_dir = make_review(tmp_path_factory.mktemp("ref") / "review")
    out |= {f"test.{a['id']}": a for a in build_analyses(load_review(test_dir))}
    return out


@pytest.mark.parametrize("case_id", [c for c in CASES if "@" not in c])
def test_analysis_matches_metafor(analyses, case_id):
    ref = CASES[case_id]
    a = analyses[case_id]
    assert a["k"] == ref["k"]
    assert_allclose([s["yi"] for s in a["studies"]], _listify(ref["yi"]), **TOL)
    assert_allclose([s["vi"] for s in a["studies"]], _listify(ref["vi"]), **TOL)
    assert_allclose([s["weight"] for s in a["studies"]], _listify(ref["weights"]), **TOL)
    p = a["pooled"]
    for key in ("estimate", "se", "ci_lb", "ci_ub", "pval", "tau2", "I2", "QE", "QEp", "pi_lb",
                "pi_ub"):
        if key in ref:
            assert_allclose(p[key], ref[key], **TOL, err_msg=key)
        elif key in ("tau2", "I2", "QE", "QEp", "pi_lb", "pi_ub"):
            assert p[key] is None, key


@pytest.mark.parametrize("r", [0.5, 0.2, 0.8])
def test_change_score_correlation_matches_metafor(analyses, r):
    ref = CASES[f"vp_vs_kyphoplasty.disability.early@r={r:g}"]
    a = analyses["vp_vs_kyphoplasty.disability.early"]
    if r == 0.5:
        got = a["pooled"]
        assert_allclose(a["studies"][0]["vi"], ref["vi"], **TOL)
    else:
        got = next(s for s in a["sensitivity"] if s["name"] == f"change-score correlation {r:g}")
    assert_allclose([got["estimate"], got["ci_lb"], got["ci_ub"]],
                    [ref["estimate"], ref["ci_lb"], ref["ci_ub"]], **TOL)
