"""Analyses of the bundled example and of the test review against metafor 3.8.1
(tests/reference/review_fixtures.R recomputes them from the raw numbers with escalc/rma)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from arm_helpers import make_arm_review
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
    arm_dir = make_arm_review(tmp_path_factory.mktemp("arm") / "review")
    out |= {f"arm.{a['id']}": a for a in build_analyses(load_review(arm_dir))}
    out |= {a["id"]: a for a in build_analyses(load_review(
        make_laopaiboon(tmp_path_factory.mktemp("lao") / "review")))}
    return out


# Laopaiboon M, Panpanich R, Swa Mya K (2015). Azithromycin for acute lower respiratory tract
# infections. Cochrane Database Syst Rev (3):CD001954, doi:10.1002/14651858.CD001954.pub4;
# Analysis 1.1 (clinical failure, all 15 trials). Data as in metadat's dat.laopaiboon2015:
# study, azithromycin failures/n, amoxycillin(-clavulanate) failures/n.
LAOPAIBOON = [("Balmes 1991", 4, 48, 7, 56), ("Beghi 1995", 22, 69, 2, 73),
              ("Biebuyck 1996", 53, 497, 53, 257), ("Daniel 1991", 5, 121, 10, 120),
              ("Ferwerda 2001", 5, 55, 7, 53), ("Gris 1996", 6, 34, 2, 33),
              ("Harris 1998", 11, 125, 4, 63), ("Hoepelman 1993", 4, 48, 4, 51),
              ("Hoepelman 1998", 3, 62, 5, 61), ("Mertens 1992", 1, 25, 5, 25),
              ("Sevieri 1993", 5, 25, 2, 25), ("Whitlock 1995", 0, 29, 2, 27),
              ("Wubbel 1999", 1, 39, 2, 49), ("Zachariah 1996", 8, 173, 7, 173),
              ("Zheng 2002", 12, 38, 2, 42)]
LAO_TOML = """
title = "Azithromycin vs amoxycillin for acute LRTI (Laopaiboon 2015, Analysis 1.1)"
[[comparisons]]
id = "laopaiboon2015"
intervention = "azithromycin"
control = "amoxycillin"
[[outcomes]]
id = "failure"
kind = "binary"
direction = "lower_is_better"
measure = "RR"
pooling = "MH"
effects = "random"
[[windows]]
id = "main"
weeks = [0, 10]
target_weeks = 2
"""


def make_laopaiboon(root: Path) -> Path:
    from review_helpers import write_csv

    from evsynth.review.schema import OUTCOME_COLUMNS

    root.mkdir(parents=True)
    (root / "review.toml").write_text(LAO_TOML, encoding="utf-8")
    write_csv(root / "studies.csv", [{"study_id": s[0].replace(" ", "_")} for s in LAOPAIBOON])
    rows = []
    for sid, a, n1, c, n2 in LAOPAIBOON:
        for treat, e, n in (("azithromycin", a, n1), ("amoxycillin", c, n2)):
            rows.append({"study_id": sid.replace(" ", "_"), "outcome": "failure",
                         "timepoint_weeks": 2, "treatment": treat, "value_type": "events",
                         "events": e, "total": n})
    write_csv(root / "outcomes.csv", rows, list(OUTCOME_COLUMNS))
    return root


def test_published_cochrane_analysis_laopaiboon2015(analyses):
    """Laopaiboon et al. 2015 (Cochrane review CD001954.pub4), abstract, Main results, and
    Analysis 1.1: clinical failure, 15 trials, 2496 participants, "RR random-effects 1.09; 95%
    CI 0.64 to 1.85" (RevMan 5: M-H, Random). The pipeline's M-H random effects (DL tau^2 from
    the M-H Q) reproduce the published numbers to their two decimals."""
    a = analyses["laopaiboon2015.failure.main"]
    p = a["pooled"]
    assert a["model"]["label"] == "M-H, Random"
    assert a["k"] == 15 and a["participants"] == 2496
    assert [round(float(np.exp(p[k])), 2) for k in ("estimate", "ci_lb", "ci_ub")] == \
        [1.09, 0.64, 1.85]


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
