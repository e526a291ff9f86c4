"""Cluster-robust inference where the sandwich has nothing to estimate (found by a differential
fuzz against metafor 3.8.1, clubSandwich and robumeta, session 12):

* robumeta's hierarchical model with one effect per study, where omega^2 is not identified;
* a coefficient whose robust variance is 0 up to rounding (it is determined by one cluster's
  effect, whose residual is 0): metafor reports se ~ 2.4e-16 and p ~ 0, evsynth NaN with a note;
* a tested block of coefficients whose robust covariance is singular: metafor's QM is NA.

Reference values: tests/reference/fuzz_findings_fixtures.R."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import evsynth
from evsynth.models.robust import ROBUST_ZERO
from fixture_data import load_fixture

HIER = load_fixture("fuzz_findings/robu_hier_one_effect.json")["cases"][0]
DEGENERATE = {c["id"]: c for c in load_fixture("fuzz_findings/robust_degenerate.json")["cases"]}


def _frame(case: dict) -> pd.DataFrame:
    return pd.DataFrame({k: case[k] for k in ("yi", "vi", "study", "f")})


# ------------------------------------------------------------------ robu HIER, k_j = 1
def test_hier_with_one_effect_per_study_matches_robumeta():
    """robumeta 2.1: tau^2 = 0.0682, omega^2 = 0, b = (0.2806, 0.2286); evsynth gave omega^2 =
    1.5e14 (0/0 plus rounding) and weights of ~0 before."""
    r = evsynth.robu(HIER["yi"], HIER["vi"], cluster=list(range(19)), mods=HIER["x"],
                     model="HIER")
    assert r.omega2 == 0.0
    assert r.tau2 == pytest.approx(HIER["tau2"], rel=1e-10)
    np.testing.assert_allclose(r.beta, HIER["beta"], rtol=1e-10)
    np.testing.assert_allclose(r.se, HIER["se"], rtol=1e-8)
    np.testing.assert_allclose(r.df, HIER["df"], rtol=1e-8)
    assert np.isnan(r.method_info["omega2_raw"])
    assert any("one effect" in n for n in r.method_info["notes"])
    assert "omega^2 is not identified" in r.summary()


@pytest.mark.parametrize("mods", [None, "x"])
def test_hier_with_one_effect_per_study_is_the_dl_moment_estimator(mods):
    """With J_j = 1 the hierarchical model's moment equation for tau^2 is
    E[Q_E] = (k - p) + tr(P) tau^2 (Hedges, Tipton & Johnson 2010, eq. 12 with omega^2 = 0),
    the DerSimonian-Laird estimator of the meta-regression (Raudenbush 2009): both give the same
    tau^2 (untruncated here: the data are heterogeneous)."""
    x = np.asarray(HIER["x"]) if mods else None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the 0/0 warned before
        r = evsynth.robu(HIER["yi"], HIER["vi"], cluster=list(range(19)), mods=x,
                         model="HIER")
    dl = evsynth.meta(HIER["yi"], HIER["vi"], mods=x, method="DL")
    assert dl.tau2 > 0
    assert r.tau2 == pytest.approx(dl.tau2, rel=1e-10)


# ------------------------------------------------------------------ robust variance 0
@pytest.mark.parametrize("kind", ["robust", "robust_cr2", "robu_ce", "robu_hier"])
def test_coefficient_with_zero_robust_variance_is_undefined(kind):
    """The intercept (level 'a') is one effect of cluster 4: its residual is 0 and so is its
    robust variance (evsynth's CR1 gave -1.6e-16 and a silent NaN, metafor 2.4e-16 and p ~ 0).
    Its SE, t, p and CI are NaN with a note naming it; the other coefficients are metafor's."""
    case = DEGENERATE["zero_variance"]
    d = _frame(case)
    if kind.startswith("robust"):
        fit = evsynth.meta("yi", "vi", mods="~ f", data=d, method="ML")
        r = evsynth.robust(fit, "study", data=d, clubsandwich=kind == "robust_cr2")
    else:
        r = evsynth.robu("yi", "vi", "study", mods="~ f", data=d, model=kind[5:].upper())
    for field in ("se", "zval", "pval", "ci_lb", "ci_ub"):
        assert np.isnan(getattr(r, field)[0]), field
        assert np.all(np.isfinite(getattr(r, field)[1:])), field
    assert any("'intrcpt'" in n and "0 up to rounding" in n for n in r.method_info["notes"])
    text = str(r.summary())
    assert "Note: coefficient 'intrcpt'" in text
    table = text.split("Note:")[0]
    assert "NaN" not in table and "nan" not in table and " NA " in table  # NA, as metafor
    assert r.to_dict()["se"][0] is None
    # Satterthwaite df (CR2, robu's small-sample default) of a zero variance: a ratio of
    # rounding noise, NaN; the residual df of CR1 (clusters - p) stays, a property of the design
    assert np.isnan(r.df[0]) == (kind != "robust")
    assert np.all(np.isfinite(r.df[1:]))
    if kind == "robust":  # CR1: metafor's values for the estimable coefficients and the F test
        np.testing.assert_allclose(r.se[1:], case["se"][1:], rtol=1e-9)
        np.testing.assert_allclose(r.pval[1:], case["pval"][1:], rtol=1e-8)
        assert r.QM == pytest.approx(case["QM"], rel=1e-9)
        assert r.QMp == pytest.approx(case["QMp"], rel=1e-9)
        assert abs(case["vb_diag"][0]) < 1e-15  # metafor's rounding noise


def test_singular_robust_block_has_no_test():
    """Level 'c' occurs in one cluster and 'b' in another: the CR1 covariance of the tested
    coefficients has rank 1 of 2 (all its entries 0.0441). evsynth's F was 1.7e16 (p = 5e-9);
    metafor's QM is NA; now NaN with a note, in the fit and in wald_test()."""
    case = DEGENERATE["singular_block"]
    assert case["QM"] == "NA"
    d = _frame(case)
    fit = evsynth.meta("yi", "vi", mods="~ f", data=d, method="ML")
    r = evsynth.robust(fit, "study", data=d)
    np.testing.assert_allclose(r.se, case["se"], rtol=1e-9)
    assert np.isnan(r.QM) and np.isnan(r.QMp)
    assert r.QMdf == [2.0, 1.0]
    assert any("singular up to rounding" in n for n in r.method_info["notes"])
    text = str(r.summary())
    assert "F(df1 = 2, df2 = 1) = NA, p-val = NA" in text
    assert "Note: the test of coefficient(s) 'f[T.b]', 'f[T.c]' is undefined" in text
    out = r.wald_test([1, 2])
    assert np.isnan(out["F"]) and np.isnan(out["pval"])
    one = r.wald_test([1])  # one coefficient alone is estimable: its F = t^2
    assert one["F"] == pytest.approx(r.zval[1] ** 2, rel=1e-12)


def test_regular_data_are_untouched():
    """The threshold is far from ordinary robust variances: on metafor's dat.bcg-like data the
    smallest ratio of robust to model-based variance is ~1e-2, and nothing is flagged."""
    rng = np.random.default_rng(3)
    k = 24
    d = pd.DataFrame({"yi": rng.normal(0.2, 0.3, k), "vi": rng.uniform(0.01, 0.1, k),
                      "study": np.repeat(np.arange(8), 3), "x": rng.normal(size=k)})
    fit = evsynth.meta("yi", "vi", mods="~ x", data=d)
    r = evsynth.robust(fit, "study", data=d)
    ratio = np.diag(r.vb) / np.diag(fit.vb)
    assert ratio.min() > 1e6 * ROBUST_ZERO
    assert np.all(np.isfinite(r.se)) and np.isfinite(r.QM)
    assert not any("rounding" in n for n in r.method_info["notes"])


@pytest.mark.parametrize("kind", ["robust", "robust_cr2", "robu_hier"])
def test_prediction_with_zero_robust_variance_is_undefined(kind):
    """The prediction at the reference level is the intercept: NaN SE and intervals (no sqrt of
    a negative rounding residue, no RuntimeWarning); the other level's prediction is finite."""
    d = _frame(DEGENERATE["zero_variance"])
    if kind.startswith("robust"):
        fit = evsynth.meta("yi", "vi", mods="~ f", data=d, method="ML")
        r = evsynth.robust(fit, "study", data=d, clubsandwich=kind == "robust_cr2")
    else:
        r = evsynth.robu("yi", "vi", "study", mods="~ f", data=d, model="HIER")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pred = r.predict(newmods=[[0, 0], [1, 0]])
    assert pred.pred[0] == pytest.approx(r.beta[0], rel=1e-12)
    assert np.isnan(pred.se[0]) and np.isnan(pred.ci_lb[0]) and np.isnan(pred.ci_ub[0])
    assert np.isfinite(pred.se[1]) and np.isfinite(pred.ci_lb[1])
