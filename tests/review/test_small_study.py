"""Small-study effects and robustness in the review pipeline (issue 4, "In the review
pipeline"): the small_study, leave_one_out and influence blocks of an analysis, the funnel plot
files, and the GRADE prompts they feed.

The k >= 10 path runs end to end on a synthetic review folder of 12 trials
(small_study_helpers.py); every number is compared with a direct call of the model methods
(fit.regtest, fit.ranktest, fit.trimfill, fit.leave1out, fit.influence) on the same yi/vi,
which are themselves checked against R metafor in tests/models.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from small_study_helpers import K, make_small_study_review

from evsynth.models.meta import meta
from evsynth.review.analysis import (
    MIN_K_SMALL_STUDY,
    build_analyses,
    refit,
    robustness,
    small_study,
)
from evsynth.review.load import load_review
from evsynth.review.pipeline import run
from evsynth.summaries.grade import prompts

RTOL = dict(rtol=1e-12, atol=1e-14)  # same computation, same inputs


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("small_study")
    review = make_small_study_review(root / "review")
    results = run(review, root / "out", quiet=True)
    return results, root / "out"


def _fit(a: dict):
    yi = np.array([s["yi"] for s in a["studies"]])
    vi = np.array([s["vi"] for s in a["studies"]])
    m = a["model"]
    return meta(yi, vi, method=m["method"], test=m["test"], level=m["level"],
                slab=[s["study_id"] for s in a["studies"]])


def test_k_at_least_10_tests_match_direct_calls(finished):
    results, _ = finished
    assert [a["k"] for a in results["analyses"]] == [K, K]
    for a in results["analyses"]:
        ss = a["small_study"]
        assert ss["assessed"] is True and ss["k"] == K
        fit = _fit(a)
        eg = fit.regtest(model="lm", predictor="sei")
        assert ss["egger"]["model"] == "lm" and ss["egger"]["predictor"] == "sei"
        assert ss["egger"]["statistic_name"] == "t" and ss["egger"]["df"] == K - 2 == eg.dfs
        assert_allclose([ss["egger"]["statistic"], ss["egger"]["p"], ss["egger_p"],
                         ss["egger"]["limit_estimate"]], [eg.zval, eg.pval, eg.pval, eg.est],
                        **RTOL)
        rt = fit.ranktest()
        assert_allclose([ss["begg"]["tau"], ss["begg"]["p"], ss["begg_p"]],
                        [rt.tau, rt.pval, rt.pval], **RTOL)
        tf = fit.trimfill()
        t = ss["trimfill"]
        assert t["k0"] == ss["trimfill_k0"] == tf.k0 and t["side"] == tf.side
        assert t["k"] == K + tf.k0 and len(t["filled"]) == tf.k0
        assert_allclose([t["estimate"], t["ci_lb"], t["ci_ub"]],
                        [tf.fit.beta[0], tf.fit.ci_lb[0], tf.fit.ci_ub[0]], **RTOL)
        # the built-in small-study effect is found: studies missing on the right of a benefit
        assert t["side"] == "right" and t["k0"] >= 1
        assert "13.3.5" in ss["text"]


def test_funnel_files_written(finished):
    results, out = finished
    for a in results["analyses"]:
        f = a["figures"]
        assert f["funnel_svg"] == f"figures/{a['id']}.funnel.svg"
        assert f["funnel_png"] == f"figures/{a['id']}.funnel.png"
        svg = (out / f["funnel_svg"]).read_text(encoding="utf-8")
        assert svg.lstrip().startswith(("<?xml", "<svg")) and "</svg>" in svg
        assert (out / f["funnel_png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert saved["schema_version"] == "1.5"
    assert saved["analyses"][0]["figures"]["funnel_svg"].endswith(".funnel.svg")


def test_refit_reproduces_the_main_fit(finished):
    results, _ = finished
    for a in results["analyses"]:
        fit = refit(a)
        assert_allclose([fit.beta[0], fit.tau2], [a["pooled"]["estimate"], a["pooled"]["tau2"]],
                        **RTOL)


def test_leave_one_out_and_influence_tables(finished):
    results, _ = finished
    for a in results["analyses"]:
        fit = _fit(a)
        ratio = a["log_scale"]
        tr = np.exp if ratio else (lambda x: x)
        loo, ref = a["leave_one_out"], fit.leave1out().frame
        assert len(loo["rows"]) == K and loo["note"] is None
        assert [r["study_id"] for r in loo["rows"]] == [s["study_id"] for s in a["studies"]]
        for col in ("estimate", "ci_lb", "ci_ub"):
            assert_allclose([r[col] for r in loo["rows"]], tr(ref[col].to_numpy()), **RTOL)
        assert_allclose([r["tau2"] for r in loo["rows"]], ref["tau2"], **RTOL)
        assert_allclose([r["I2"] for r in loo["rows"]], ref["I2"], **RTOL)
        inf, iref = a["influence"], fit.influence()
        assert len(inf["rows"]) == K
        for key, col in (("rstudent", "rstudent"), ("cook_d", "cook_d"), ("dffits", "dffits"),
                         ("hat", "hat"), ("weight", "weight")):
            assert_allclose([r[key] for r in inf["rows"]], iref.frame[col], **RTOL)
        assert [r["flagged"] for r in inf["rows"]] == list(iref.is_infl)
        assert_allclose(sum(r["weight"] for r in inf["rows"]), 100.0, rtol=1e-10)


def test_ratio_leave_one_out_on_display_scale(finished):
    results, _ = finished
    a = next(a for a in results["analyses"] if a["measure"] == "OR")
    rows = a["leave_one_out"]["rows"]
    assert all(r["ci_lb"] < r["estimate"] < r["ci_ub"] for r in rows)
    assert all(r["estimate"] > 0 for r in rows)
    # the pooled OR is below 1 and so is every leave-one-out OR
    assert np.exp(a["pooled"]["estimate"]) < 1 and all(r["estimate"] < 1 for r in rows)


def test_grade_prompt_uses_the_tests(finished):
    results, _ = finished
    for a in results["analyses"]:
        text = a["grade"]["prompts"]["publication_bias"]
        assert f"k = {K}" in text and "Egger's test p" in text and "Begg's test p" in text
        assert "trim-and-fill imputes" in text


# --------------------------------------------------------------------------- k < 10, k < 3
def test_small_k_gives_the_caution_not_tests(review_dir):
    an = {a["id"]: a for a in build_analyses(load_review(review_dir))}
    a = an["a_vs_b.pain.early"]
    assert a["k"] == 3  # S1, S2, S3 (S4's direction is unknown)
    assert len(a["leave_one_out"]["rows"]) == len(a["influence"]["rows"]) == 3
    ss = a["small_study"]
    assert ss["assessed"] is False and ss["k"] == a["k"] < MIN_K_SMALL_STUDY
    assert ss["egger_p"] is None and ss["begg_p"] is None and ss["trimfill_k0"] is None
    assert ss["egger"] is None and ss["begg"] is None and ss["trimfill"] is None
    assert f"k = {a['k']}" in ss["text"] and "13.3.5.4" in ss["text"]
    assert "at least 10 studies" in ss["text"]


def test_robustness_absent_below_3_with_reason():
    for k in (1, 2):
        fit = meta(np.linspace(0.1, 0.3, k), np.full(k, 0.04), method="REML" if k > 1 else "EE")
        loo, inf = robustness(fit, k, ratio=False)
        assert loo["rows"] is None and inf["rows"] is None
        assert f"k = {k}" in loo["note"] and "at least 3" in loo["note"]
        assert inf["note"] == loo["note"]


def test_k0_analysis_has_no_blocks(review_dir):
    # an analysis with an assessment in the window but no usable study: nothing pooled
    for a in build_analyses(load_review(review_dir)):
        if a["k"] == 0:
            assert a["small_study"] is None and a["leave_one_out"] is None
            assert a["influence"] is None


def test_bundled_example_shows_the_caution(tmp_path):
    example = Path(__file__).resolve().parents[2] / "examples" / "vertebroplasty"
    an = build_analyses(load_review(example))
    pooled = [a for a in an if a["k"]]
    assert pooled and max(a["k"] for a in pooled) <= 2
    for a in pooled:
        assert a["small_study"]["assessed"] is False
        assert "13.3.5.4" in a["small_study"]["text"]
        assert a["leave_one_out"]["rows"] is None


def test_failed_test_is_recorded_not_raised():
    # an exact weighted regression (yi linear in sei) has no residual variance: Egger is None
    vi = np.linspace(0.01, 0.2, 10)
    yi = 0.5 + 2.0 * np.sqrt(vi)
    fit = meta(yi, vi, method="EE")
    ss = small_study(fit, 10)
    assert ss["assessed"] and ss["egger"] is None and ss["egger_p"] is None
    assert any("Egger's test not computed" in n for n in ss["notes"])
    assert ss["begg"] is not None and ss["trimfill"] is not None


# --------------------------------------------------------------------------- GRADE sentences
def _hand(flagged: list[str], changes: list[str], full: bool) -> dict:
    return {"id": "c.o.w", "k": 5, "participants": 400, "measure": "MD", "log_scale": False,
            "outcome": {"id": "o", "kind": "continuous", "direction": "lower_is_better",
                        "measure": "MD", "mid": None},
            "model": {"level": 95},
            "pooled": {"estimate": -1.0, "ci_lb": -1.8, "ci_ub": -0.2, "pi_lb": None,
                       "pi_ub": None, "I2": 40.0, "QEp": 0.2},
            "control_summary": {"continuous": None, "binary": None},
            "influence": {"flagged": flagged},
            "leave_one_out": {"changes_conclusion": changes, "full_excludes_null": full}}


def test_grade_prompt_influential_and_conclusion_change():
    p = prompts(_hand(["Smith 2001"], ["Jones 2004"], True))
    assert "Smith 2001 is flagged as influential" in p["inconsistency"]
    assert ("leaving out Jones 2004 changes the conclusion: the CI excludes the null with all "
            "studies and includes it without that study") in p["imprecision"]
    p = prompts(_hand(["A", "B"], ["A", "C"], False))
    assert "A and B are flagged as influential" in p["inconsistency"]
    assert "includes the null with all studies and excludes it" in p["imprecision"]
    p = prompts(_hand([], [], True))
    assert "influential" not in p["inconsistency"] and "leaving out" not in p["imprecision"]


# --------------------------------------------------------------------------- invariants
@settings(max_examples=25, deadline=None)
@given(k=st.integers(3, 8), seed=st.integers(0, 10_000), ratio=st.booleans())
def test_robustness_invariants(k, seed, ratio):
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.5, k)
    yi = rng.normal(0.2, np.sqrt(vi + 0.05))
    fit = meta(yi, vi, method="REML", slab=[f"S{i}" for i in range(k)])
    loo, inf = robustness(fit, k, ratio)
    assert len(loo["rows"]) == len(inf["rows"]) == k
    full = bool(fit.ci_lb[0] > 0 or fit.ci_ub[0] < 0)
    assert loo["full_excludes_null"] == full
    for r in loo["rows"]:
        lo, hi = (np.log(r["ci_lb"]), np.log(r["ci_ub"])) if ratio else (r["ci_lb"], r["ci_ub"])
        assert r["excludes_null"] == bool(lo > 0 or hi < 0)
        assert r["changes_conclusion"] == (r["excludes_null"] != full)
        assert r["ci_lb"] <= r["estimate"] <= r["ci_ub"]
    assert loo["changes_conclusion"] == [r["study_id"] for r in loo["rows"]
                                         if r["changes_conclusion"]]
    assert inf["flagged"] == [r["study_id"] for r in inf["rows"] if r["flagged"]]
    assert_allclose(sum(r["weight"] for r in inf["rows"]), 100.0, rtol=1e-10)
