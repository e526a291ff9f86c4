"""User weights, unweighted estimation, fixed tau^2, start values and the generalised-Q
estimators of :func:`evsynth.meta` against metafor 3.8.1 (fixtures written by
tests/reference/uni_extra_fixtures.R: ``rma(yi, vi, weights=, weighted=, tau2=, method="GENQ",
control=list(tau2.init=))``, run tight).

Agreement target: rtol 1e-6 (atol 1e-10 for values that may be 0). GENQM: here its reference is
metafor's algorithm with Imhof's formula integrated by R's ``integrate()`` (genqm.json; tolerance
1e-6 because ``integrate()`` reaches only 1e-6 to 1e-11 there), and the defining equation
``P(Q_a(tau^2) > Q_obs) = 1/2`` is checked with an independent series for the quadratic form
(Ruben 1962); metafor's own GENQM with CompQuadForm is compared in test_genqm_metafor.py
(1e-11).

Deliberate differences from metafor: with tau^2 fixed (``tau2=``) metafor still reports the
estimator's SE formula evaluated at the fixed value; evsynth reports no SE for a value that was
not estimated (``se_tau2`` NaN). metafor's HS/HSk use the Q statistic as the others do;
no estimator other than GENQ/GENQM depends on the weights (checked: metafor's rma.uni source).
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import evsynth
from evsynth.errors import InputError
from fixture_data import load_r_group

REF = Path(__file__).resolve().parents[1] / "reference"
UNI = REF / "uni_extra"
DATA = REF / "data"
@cache
def _group(name: str) -> dict:
    return load_r_group(UNI, name, na=None)


@cache
def _data(csv: str) -> pd.DataFrame:
    return pd.read_csv(DATA / csv)


def _cases(name: str, status: str | None = "ok") -> list:
    return [pytest.param(c, id=c["id"]) for c in _group(name)["cases"]
            if status is None or c.get("status", "ok") == status]


def _weights(spec: str | None, d: pd.DataFrame):
    if spec is None:
        return None
    v = d["vi"].to_numpy()
    return {"iv": 1 / v, "iv01": 1 / (v + 0.1), "isd": 1 / np.sqrt(v),
            "unit": np.ones_like(v)}[spec]


def _fit(case: dict, **extra):
    d = _data(case["dataset"])
    a = case["args"]
    kw = {"method": a["method"], "test": a.get("test", "z"), "weighted": a.get("weighted", True)}
    if a.get("mods"):
        kw.update(mods=a["mods"], data=d)
    if a.get("weights"):
        kw["weights"] = _weights(a["weights"], d)
    if a.get("tau2") is not None:
        kw["tau2"] = a["tau2"]
    if a.get("tau2_init") is not None:
        kw["control"] = {"tau2_init": a["tau2_init"], "tol": 1e-12}
    kw.update(extra)
    return evsynth.meta(d["yi"].to_numpy(), d["vi"].to_numpy(), **kw)


def _check(fit, r: dict, cid: str, se_tau2: bool = True) -> None:
    def close(x, y, what, atol=1e-10):
        assert_allclose(x, y, rtol=1e-6, atol=atol, err_msg=f"{cid}: {what}")

    close(fit.beta, r["beta"], "beta")
    close(fit.se, r["se"], "se")
    close(fit.zval, r["zval"], "zval")
    close(fit.pval, r["pval"], "pval", atol=1e-12)
    close(fit.ci_lb, r["ci_lb"], "ci_lb")
    close(fit.ci_ub, r["ci_ub"], "ci_ub")
    close(fit.vb, np.asarray(r["vb"]).reshape(fit.vb.shape), "vb")
    close(fit.tau2, r["tau2"], "tau2")
    if se_tau2 and r["se_tau2"] is not None:
        close(fit.se_tau2, r["se_tau2"], "se_tau2")
    close(fit.QE, r["QE"], "QE")
    close(fit.I2, r["I2"], "I2", atol=1e-8)
    close(fit.H2, r["H2"], "H2")
    if r["QM"] is not None:
        close(fit.QM, r["QM"], "QM")
        close(fit.QMp, r["QMp"], "QMp", atol=1e-12)
    close(fit.fit_stats["ll_ML"], r["ll_ML"], "ll ML")
    close(fit.fit_stats["ll_REML"], r["ll_REML"], "ll REML")
    close(fit.AIC, r["AIC"], "AIC")
    close(fit.BIC, r["BIC"], "BIC")
    close(fit.weights, r["weights"], "weights (%)")
    close(fit.parms, r["parms"], "parms")
    if r.get("R2") is not None:
        close(fit.R2, r["R2"], "R2", atol=1e-8)


@pytest.mark.parametrize("case", _cases("weights"))
def test_weights_and_unweighted_match_metafor(case):
    _check(_fit(case), case["result"], case["id"])


@pytest.mark.parametrize("case", _cases("tau2_fixed"))
def test_fixed_tau2_matches_metafor(case):
    fit = _fit(case)
    _check(fit, case["result"], case["id"], se_tau2=False)
    assert fit.tau2_fix and fit.method_info["tau2_fixed"]
    assert math.isnan(fit.se_tau2)  # deliberate: a fixed value has no SE (metafor reports one)
    assert "fixed" in fit.method_info["algorithm"]
    assert "specified" in str(fit.summary())


@pytest.mark.parametrize("case", _cases("tau2_init"))
def test_tau2_init_matches_metafor(case):
    fit = _fit(case)
    _check(fit, case["result"], case["id"])
    assert fit.method_info["tau2_init"] == case["args"]["tau2_init"]


def test_tau2_init_alias_and_sj_changes_with_it():
    d = _data("rma_bcg.csv")
    a = evsynth.meta(d["yi"], d["vi"], method="SJ", control={"tau2.init": 2.0})
    b = evsynth.meta(d["yi"], d["vi"], method="SJ", control={"tau2_init": 2.0})
    c = evsynth.meta(d["yi"], d["vi"], method="SJ")
    assert a.tau2 == b.tau2 != c.tau2  # metafor: tau2.init is the SJ estimator's tau2_0


@pytest.mark.parametrize("case", _cases("genq"))
def test_genq_matches_metafor(case):
    _check(_fit(case), case["result"], case["id"])


def test_genq_without_weights_refused_as_metafor():
    case = next(c for c in _group("genq")["cases"] if c["id"] == "bcg_GENQ_noweights")
    assert case["status"] == "error" and "weights" in case["error"]
    d = _data("rma_bcg.csv")
    for m in ("GENQ", "genqm"):
        with pytest.raises(InputError, match="needs the study weights"):
            evsynth.meta(d["yi"], d["vi"], method=m)


def test_genq_with_inverse_variance_weights_is_dl():
    """With a_i = 1/v_i the generalised Q is Cochran's Q and GENQ is DerSimonian-Laird
    (DerSimonian & Kacker 2007, Contemp Clin Trials 28:105, section 2.2)."""
    d = _data("rma_bcg.csv")
    g = evsynth.meta(d["yi"], d["vi"], method="GENQ", weights=1 / d["vi"])
    dl = evsynth.meta(d["yi"], d["vi"], method="DL")
    assert_allclose(g.tau2, dl.tau2, rtol=1e-12)
    assert_allclose(g.se_tau2, dl.se_tau2, rtol=1e-10)


@pytest.mark.parametrize("mods", [None, "~ ablat"])
def test_genq_with_unit_weights_is_hedges(mods):
    """With a_i = 1 the generalised Q is the OLS residual sum of squares and GENQ is Hedges'
    (HE) estimator (DerSimonian & Kacker 2007, Contemp Clin Trials 28:105, section 2.2)."""
    d = _data("rma_bcg.csv")
    kw = {"mods": mods, "data": d} if mods else {}
    g = evsynth.meta("yi", "vi", data=d, method="GENQ", weights=np.ones(len(d)),
                     **{k: v for k, v in kw.items() if k != "data"})
    he = evsynth.meta("yi", "vi", data=d, method="HE",
                      **{k: v for k, v in kw.items() if k != "data"})
    assert_allclose(g.tau2, he.tau2, rtol=1e-12)
    assert_allclose(g.se_tau2, he.se_tau2, rtol=1e-10)


def _ruben_sf(q: float, lam: np.ndarray, terms: int = 4000) -> float:
    """P(sum lam_j chi2_1 > q) by Ruben's (1962) series in central chi-squares (the algorithm
    behind CompQuadForm::farebrother): beta = min(lam), c_0 = prod sqrt(beta/lam_j),
    c_k = 1/(2k) sum_{r<k} g_{k-r} c_r, g_j = sum (1 - beta/lam)^j."""
    from scipy import stats

    beta = lam.min()
    m = lam.size
    g = np.array([np.sum((1 - beta / lam) ** j) for j in range(terms + 1)])
    c = np.zeros(terms)
    c[0] = np.prod(np.sqrt(beta / lam))
    for k in range(1, terms):
        c[k] = np.dot(g[k:0:-1], c[:k]) / (2 * k)
    cdf = np.sum(c * stats.chi2.cdf(q / beta, m + 2 * np.arange(terms)))
    return float(1 - cdf)


@pytest.mark.parametrize("case", _cases("genqm", status=None))
def test_genqm_matches_metafor_algorithm(case):
    from evsynth.models.heterogeneity import qf_sf
    from evsynth.models.kernels import genq_lambdas

    d = _data(case["dataset"])
    a = case["args"]
    kw = {"mods": a["mods"], "data": d} if a.get("mods") else {}
    w = _weights(a["weights"], d)
    fit = evsynth.meta(d["yi"].to_numpy(), d["vi"].to_numpy(), method="GENQM", weights=w, **kw)
    r = case["result"]
    assert_allclose(fit.tau2, r["tau2_genqm"], rtol=1e-6, atol=1e-9, err_msg=case["id"])
    assert_allclose(fit.beta, r["beta"], rtol=1e-6, err_msg=case["id"])
    assert_allclose(fit.se, r["se"], rtol=1e-6, err_msg=case["id"])
    if fit.tau2 > 0:  # the defining equation, with an independent series for the tail
        lam = genq_lambdas(fit.design, np.asarray(w, dtype=float), fit.tau2)
        Q = float(np.sum(w * (fit.yi - fit.model_matrix @ np.linalg.lstsq(
            fit.model_matrix * np.sqrt(w)[:, None], fit.yi * np.sqrt(w), rcond=None)[0]) ** 2))
        assert_allclose(qf_sf(Q, lam), 0.5, atol=1e-9)
        lam_ok = lam[lam > 1e-12]
        if lam_ok.max() / lam_ok.min() < 200:
            assert_allclose(_ruben_sf(Q, lam_ok), 0.5, atol=1e-7)


def test_genqm_at_zero_when_q_is_small():
    d = _data("rma_homog.csv")
    fit = evsynth.meta(d["yi"], d["vi"], method="GENQM", weights=1 / d["vi"])
    assert fit.tau2 == 0.0 and fit.method_info["boundary"]


# ------------------------------------------------------------------------------------------------
# properties
# ------------------------------------------------------------------------------------------------
ys = st.lists(st.floats(-2, 2), min_size=4, max_size=10)


@settings(max_examples=40, deadline=None)
@given(ys, st.floats(0.01, 100.0), st.sampled_from(["DL", "REML", "FE", "PM"]))
def test_weights_invariant_to_scale(y, c, method):
    """beta and its sandwich variance depend on the weights only up to a common factor."""
    k = len(y)
    v = np.linspace(0.02, 0.3, k)
    w = np.linspace(1.0, 3.0, k)
    a = evsynth.meta(y, v, method=method, weights=w)
    b = evsynth.meta(y, v, method=method, weights=c * w)
    assert_allclose(a.beta, b.beta, rtol=1e-9, atol=1e-12)
    assert_allclose(a.se, b.se, rtol=1e-9, atol=1e-12)
    assert_allclose(a.weights, b.weights, rtol=1e-9)


@settings(max_examples=40, deadline=None)
@given(ys, st.sampled_from(["DL", "REML", "ML", "FE"]))
def test_unit_weights_are_unweighted_and_iv_weights_are_default(y, method):
    k = len(y)
    v = np.linspace(0.02, 0.3, k)
    unw = evsynth.meta(y, v, method=method, weighted=False)
    one = evsynth.meta(y, v, method=method, weights=np.ones(k))
    assert_allclose(unw.beta, one.beta, rtol=1e-10, atol=1e-12)
    assert_allclose(unw.se, one.se, rtol=1e-10, atol=1e-12)
    base = evsynth.meta(y, v, method=method)
    iv = evsynth.meta(y, v, method=method, weights=1 / (v + base.tau2))
    assert_allclose(iv.beta, base.beta, rtol=1e-9, atol=1e-12)
    assert_allclose(iv.se, base.se, rtol=1e-8, atol=1e-12)  # the sandwich collapses
    assert_allclose(iv.tau2, base.tau2, rtol=1e-12, atol=1e-15)


@settings(max_examples=30, deadline=None)
@given(ys, st.sampled_from(["DL", "REML", "HE"]))
def test_unweighted_intercept_only_is_the_mean(y, method):
    """Unweighted estimation (Hedges & Olkin 1985; metafor weighted=FALSE): the arithmetic
    mean, with variance sum(v_i + tau^2) / k^2."""
    v = np.linspace(0.02, 0.3, len(y))
    fit = evsynth.meta(y, v, method=method, weighted=False)
    k = len(y)
    assert_allclose(fit.beta[0], np.mean(y), rtol=1e-12, atol=1e-14)
    assert_allclose(fit.se[0] ** 2, np.sum(v + fit.tau2) / k**2, rtol=1e-12)
    assert_allclose(fit.weights, np.full(k, 100 / k))


@settings(max_examples=30, deadline=None)
@given(ys)
def test_fixed_tau2_at_the_estimate_reproduces_the_fit(y):
    v = np.linspace(0.02, 0.3, len(y))
    fit = evsynth.meta(y, v, method="REML")
    fixed = evsynth.meta(y, v, method="REML", tau2=fit.tau2)
    assert_allclose(fixed.beta, fit.beta, rtol=1e-12, atol=1e-14)
    assert_allclose(fixed.se, fit.se, rtol=1e-12, atol=1e-14)
    assert_allclose(fixed.ll, fit.ll, rtol=1e-12, atol=1e-12)
    assert fixed.parms == fit.parms - 1


# ------------------------------------------------------------------------------------------------
# input handling, contract, diagnostics
# ------------------------------------------------------------------------------------------------
Y = [0.1, 0.4, -0.2, 0.3, 0.25]
V = [0.02, 0.05, 0.03, 0.04, 0.06]


@pytest.mark.parametrize("weights, match", [
    ([1, 1, -1, 1, 1], r"row 3.*'weights' is -1.*>= 0"),
    ([1, 1, 1], "3 values but there are 5 studies"),
    ([0, 0, 0, 0, 0], "0 for every study"),
    ([1, 1, np.nan, 1, 1], r"row 3.*'weights'"),
    ([1, True, 1, 1, 1], "booleans"),
    ("w", "no data= DataFrame"),
])
def test_bad_weights(weights, match):
    with pytest.raises(InputError, match=match):
        evsynth.meta(Y, V, weights=weights)


def test_weights_column_and_scalar():
    df = pd.DataFrame({"yi": Y, "vi": V, "w": [1, 2, 3, 4, 5]})
    a = evsynth.meta("yi", "vi", data=df, weights="w", method="DL")
    b = evsynth.meta(Y, V, weights=[1, 2, 3, 4, 5], method="DL")
    assert_allclose(a.beta, b.beta)
    c = evsynth.meta(Y, V, weights=2.0, method="DL")
    assert_allclose(c.beta, evsynth.meta(Y, V, weighted=False, method="DL").beta)


def test_zero_weights_must_leave_coefficients_identified():
    with pytest.raises(InputError, match="X'AX is singular"):
        evsynth.meta(Y, V, mods=[1.0, 2, 3, 4, 5], weights=[1, 0, 0, 0, 0])


@pytest.mark.parametrize("tau2, match", [(-0.1, "tau2"), ("a", "tau2"), (True, "tau2"),
                                         (math.inf, "tau2")])
def test_bad_tau2(tau2, match):
    with pytest.raises(InputError, match=match):
        evsynth.meta(Y, V, tau2=tau2)


def test_tau2_with_equal_effects_refused():
    with pytest.raises(InputError, match="equal-effects"):
        evsynth.meta(Y, V, method="FE", tau2=0.1)


@pytest.mark.parametrize("control, match", [({"tau2_init": -1}, "tau2_init"),
                                            ({"tau2.init": "x"}, "tau2.init"),
                                            ({"tau2_init": 1, "tau2.init": 1}, "not both")])
def test_bad_tau2_init(control, match):
    with pytest.raises(InputError, match=match):
        evsynth.meta(Y, V, control=control)


def test_weighted_must_be_bool():
    with pytest.raises(InputError, match="weighted"):
        evsynth.meta(Y, V, weighted="no")


def test_subgroup_with_weights_refused():
    with pytest.raises(InputError, match="subgroup"):
        evsynth.meta(Y, V, weights=[1, 2, 3, 4, 5], subgroup=list("aabbb"))


def test_method_codes_case_insensitive():
    a = evsynth.meta(Y, V, method="genq", weights=[1, 2, 3, 4, 5])
    assert a.method == "GENQ"


@pytest.mark.parametrize("kw", [{"weights": [1, 2, 3, 4, 5]}, {"weighted": False},
                                {"tau2": 0.05}, {"method": "GENQM", "weights": [1, 2, 3, 4, 5]}])
def test_contract_and_refits(kw):
    """The refits carry the settings as metafor's do (leave1out, trimfill, ...; values against
    metafor in test_refit_weights.py and test_bias_weights.py); a selection model is refused
    for user weights and weighted=False (metafor: "Cannot fit selection model for unweighted
    models or models with custom weights") and fitted with a fixed tau^2."""
    fit = evsynth.meta(Y, V, **kw)
    d = fit.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["weighted"] == kw.get("weighted", True)
    assert {"leave1out", "trimfill", "regtest"} <= set(fit.supports())
    assert len(fit.leave1out().frame) == 5
    assert fit.trimfill().k >= 5
    if "tau2" in kw:
        assert "selmodel" in fit.supports()
    else:
        assert "selmodel" not in fit.supports()
        with pytest.raises(InputError, match="selmodel"):
            fit.selmodel("beta")
    assert "Random-effects" in str(fit.summary())
    assert list(fit.to_frame().columns)[:2] == ["term", "estimate"]


def test_user_weights_recorded():
    fit = evsynth.meta(Y, V, weights=[1, 2, 3, 4, 5], method="DL")
    assert fit.method_info["weights"] == "user"
    assert_allclose(fit.weights, 100 * np.arange(1, 6) / 15)
    assert any("sandwich" in n for n in fit.method_info["notes"])
    assert evsynth.meta(Y, V, weighted=False).method_info["weights"] == "none"
