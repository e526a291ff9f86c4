"""Confidence intervals for tau^2, tau, I^2 and H^2 (``fit.confint(type=...)``) against metafor
3.8.1 ``confint.rma.uni`` (fixtures: tests/reference/uni_extra_fixtures.R, tau2_ci.json and,
for the generalised-Q interval, genqm.json) and published values.

Types: QP (Q-profile), PL (profile likelihood), Wald, Wald.log, Wald.sqrt, GENQ. Agreement
target rtol 1e-6 (metafor's bounds are uniroot roots with tol 1e-12). Deliberate difference: at
tau^2 = 0 the log- and square-root-scale Wald intervals are undefined (the transformation has no
derivative there); metafor returns [0, NaN] and [0, Inf], evsynth [NaN, NaN] with a note.
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
from scipy import stats

import evsynth
from evsynth.errors import InputError
from evsynth.models.heterogeneity import ConfintResult, qf_sf, tau2_confint
from fixture_data import load_r_group

REF = Path(__file__).resolve().parents[1] / "reference"
UNI = REF / "uni_extra"
DATA = REF / "data"
@cache
def _group(name: str) -> dict:
    return load_r_group(UNI, name, na=math.nan)


@cache
def _data(csv: str) -> pd.DataFrame:
    return pd.read_csv(DATA / csv)


def _fit(dataset: str, method: str, mods=None, weights=None):
    d = _data(dataset)
    kw = {"mods": mods, "data": d} if mods else {}
    if weights == "iv01":
        kw["weights"] = 1 / (d["vi"].to_numpy() + 0.1)
    elif weights == "iv":
        kw["weights"] = 1 / d["vi"].to_numpy()
    elif weights == "isd":
        kw["weights"] = 1 / np.sqrt(d["vi"].to_numpy())
    return evsynth.meta(d["yi"].to_numpy(), d["vi"].to_numpy(), method=method,
                        control={"tol": 1e-12}, **kw)


CASES = [pytest.param(c, id=c["id"]) for c in _group("tau2_ci")["cases"]]


@pytest.mark.parametrize("case", CASES)
def test_tau2_ci_matches_metafor(case):
    a = case["args"]
    fit = _fit(case["dataset"], a["method"], a["mods"], a["weights"])
    assert_allclose(fit.tau2, case["tau2"], rtol=1e-6, atol=1e-10)
    ci = fit.confint(level=a["level"], type=a["type"])
    frame = ci.to_frame()
    r = case["result"]
    undefined = a["type"] in ("Wald.log", "Wald.sqrt") and fit.tau2 == 0
    for i, row in enumerate(("tau2", "tau", "I2", "H2")):
        assert_allclose(frame.loc[row, "estimate"], r["estimate"][i], rtol=1e-6, atol=1e-9,
                        err_msg=f"{case['id']} {row} estimate")
        if undefined:  # deliberate difference (module docstring)
            assert math.isnan(frame.loc[row, "ci_lb"]) and math.isnan(frame.loc[row, "ci_ub"])
            continue
        for col in ("ci_lb", "ci_ub"):
            assert_allclose(frame.loc[row, col], r[col][i], rtol=1e-6, atol=1e-9,
                            err_msg=f"{case['id']} {row} {col}")
    assert ci.level == a["level"] and ci.method_info["type"] == a["type"]
    json.dumps(ci.to_dict(), allow_nan=False)


def test_wald_log_at_zero_is_undefined_with_a_note():
    fit = _fit("rma_homog.csv", "REML")
    assert fit.tau2 == 0
    ci = fit.confint(type="wald.log")
    assert any("undefined" in n for n in ci.method_info["notes"])
    assert "Note:" in str(ci.summary())


def test_published_bcg_q_profile():
    """metafor's documentation example (help page of confint.rma; Viechtbauer 2007, Stat Med
    26:37): BCG vaccine log risk ratios, REML: tau^2 0.3132 [0.1197, 1.1115], tau 0.5597
    [0.3460, 1.0543] (the printed values, 4 decimals)."""
    ci = _fit("rma_bcg.csv", "REML").confint().to_frame()
    assert_allclose(ci.loc["tau2"].to_numpy(), [0.3132, 0.1197, 1.1115], atol=5e-5)
    assert_allclose(ci.loc["tau"].to_numpy(), [0.5597, 0.3460, 1.0543], atol=5e-5)


def test_pl_bounds_are_where_the_lrt_reaches_the_quantile():
    """The PL bounds solve 2 (ll_max - ll(tau^2)) = chi^2_{1,0.95}, checked with an independent
    REML log-likelihood (Viechtbauer 2005, eq. 10) written out here."""
    d = _data("rma_bcg.csv")
    y, v = d["yi"].to_numpy(), d["vi"].to_numpy()
    fit = evsynth.meta(y, v)

    def ll_reml(t):
        w = 1 / (v + t)
        b = np.sum(w * y) / np.sum(w)
        return (-0.5 * (len(y) - 1) * np.log(2 * np.pi) + 0.5 * np.log(len(y))
                - 0.5 * np.sum(np.log(v + t)) - 0.5 * np.log(np.sum(w))
                - 0.5 * np.sum(w * (y - b) ** 2))

    ci = fit.confint(type="PL").to_frame().loc["tau2"]
    crit = stats.chi2.ppf(0.95, 1)
    for bound in (ci["ci_lb"], ci["ci_ub"]):
        assert_allclose(2 * (ll_reml(fit.tau2) - ll_reml(bound)), crit, rtol=1e-9)


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in _group("genqm")["cases"]])
def test_genq_ci_matches_metafor_algorithm(case):
    """GENQ CI (Jackson 2013): metafor's algorithm with Imhof's formula via R's integrate();
    tolerance 1e-6 as integrate() reaches only 1e-6 to 1e-11 on these integrals (metafor's own
    confint with CompQuadForm: test_genqm_metafor.py)."""
    a = case["args"]
    d = _data(case["dataset"])
    w = {"iv": 1 / d["vi"], "iv01": 1 / (d["vi"] + 0.1), "isd": 1 / np.sqrt(d["vi"])}[
        a["weights"]].to_numpy()
    kw = {"mods": a["mods"], "data": d} if a.get("mods") else {}
    fit = evsynth.meta(d["yi"].to_numpy(), d["vi"].to_numpy(), method="GENQ", weights=w, **kw)
    r = case["result"]
    assert_allclose(fit.tau2, r["genq_tau2"], rtol=1e-10)
    ci = fit.confint()  # GENQ is the default type of a GENQ fit, as metafor
    assert ci.method_info["type"] == "GENQ"
    f = ci.to_frame()
    assert_allclose(f.loc["tau2", "ci_lb"], r["genq_ci_lb"], rtol=1e-5, atol=1e-7)
    assert_allclose(f.loc["tau2", "ci_ub"], r["genq_ci_ub"], rtol=1e-5, atol=1e-7)
    assert_allclose(f.loc["I2", "ci_lb"], r["I2_lb"], rtol=1e-5, atol=1e-6)
    assert_allclose(f.loc["I2", "ci_ub"], r["I2_ub"], rtol=1e-5, atol=1e-6)


def test_genq_type_needs_a_genq_fit():
    with pytest.raises(InputError, match="GENQ"):
        _fit("rma_bcg.csv", "REML").confint(type="GENQ")


@pytest.mark.parametrize("method", ["DL", "PM", "EB"])
def test_pl_needs_a_likelihood_fit(method):
    with pytest.raises(InputError, match="ML or REML"):
        _fit("rma_bcg.csv", method).confint(type="PL")


def test_confint_refusals():
    with pytest.raises(InputError, match="fixed"):
        evsynth.meta([0.1, 0.5, 0.3], [0.01, 0.02, 0.03], tau2=0.1).confint()
    with pytest.raises(InputError, match="type"):
        _fit("rma_bcg.csv", "REML").confint(type="XYZ")
    with pytest.raises(InputError, match="equal-effects"):
        _fit("rma_bcg.csv", "FE").confint()


# ------------------------------------------------------------------------------------------------
# the distribution of the quadratic form
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", _group("qf")["cases"])
def test_qf_sf_matches_r_integrate(case):
    # R's integrate() reaches 1e-6 to 1e-11 here (the reference is the less accurate side)
    assert_allclose(qf_sf(case["q"], np.asarray(case["lambda"])), case["sf"], atol=5e-6)


@settings(max_examples=60, deadline=None)
@given(st.floats(0.1, 10), st.integers(1, 8), st.floats(0.01, 40))
def test_qf_sf_equal_weights_is_chi_square(lam, m, q):
    assert_allclose(qf_sf(q, np.full(m, lam)), stats.chi2.sf(q / lam, m), atol=1e-12)


def _ruben_sf(q: float, lam: np.ndarray) -> float:
    """Ruben's (1962) exact series (the method of CompQuadForm::farebrother) for weights
    within a factor 20: ratio of convergence <= 0.95, 1500 terms."""
    beta = lam.min()
    n = 1500
    g = np.array([np.sum((1 - beta / lam) ** j) for j in range(n + 1)])
    c = np.zeros(n)
    c[0] = np.prod(np.sqrt(beta / lam))
    for k in range(1, n):
        c[k] = np.dot(g[k:0:-1], c[:k]) / (2 * k)
    return float(1 - np.sum(c * stats.chi2.cdf(q / beta, lam.size + 2 * np.arange(n))))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.05, 1.0), min_size=2, max_size=6), st.floats(0.01, 10))
def test_qf_sf_against_ruben_series(lam, q):
    lam = np.asarray(lam)
    assert_allclose(qf_sf(q, lam), _ruben_sf(q, lam), atol=1e-9)


@pytest.mark.parametrize("m, seed", [(30, 1), (150, 2)])
@pytest.mark.parametrize("quantile", [0.01, 0.5, 0.99])
def test_qf_sf_many_weights(m, seed, quantile):
    """Many weights (the integrand decays fast; the truncated Gauss-Legendre route), at the
    1%, 50% and 99% points of the distribution (Satterthwaite's approximation for x)."""
    lam = np.random.default_rng(seed).uniform(0.05, 1.0, m)
    scale = np.sum(lam**2) / np.sum(lam)
    q = scale * stats.chi2.ppf(quantile, np.sum(lam) ** 2 / np.sum(lam**2))
    assert_allclose(qf_sf(q, lam), _ruben_sf(q, lam), atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-1, 1), min_size=4, max_size=9), st.sampled_from(["QP", "PL", "Wald"]))
def test_bounds_ordered_and_contain_estimate(y, kind):
    v = np.linspace(0.01, 0.2, len(y))
    fit = evsynth.meta(y, v, method="REML")
    f = fit.confint(type=kind).to_frame()
    for row in ("tau2", "tau", "I2", "H2"):
        lb, ub = f.loc[row, "ci_lb"], f.loc[row, "ci_ub"]
        assert lb <= ub + 1e-12
        if kind in ("PL", "Wald"):  # the estimate is inside these (not always for QP)
            assert lb - 1e-9 <= f.loc[row, "estimate"] <= ub + 1e-9


def test_result_object_contract():
    ci = tau2_confint(_fit("rma_bcg.csv", "REML"), type="Wald.sqrt", level=0.9)
    assert isinstance(ci, ConfintResult)
    assert ci.level == 90.0
    assert "Wald (sqrt scale)" in str(ci.summary())
    assert "<pre>" in ci._repr_html_()
    assert list(ci.table.columns) == ["parameter", "estimate", "ci_lb", "ci_ub"]


def test_wald_log_of_a_tiny_tau2_is_zero_to_infinity():
    """Fuzz round 5: tau^2 = 3.8e-9 with SE 1.7e-5 made exp(log(tau^2) + z se / tau^2) raise
    OverflowError; the bounds are 0 and +inf (metafor: 0 and Inf)."""
    import warnings

    fit = evsynth.meta([0.86651321, 0.87339186], [0.07199883, 0.076596], method="SJ")
    assert 0 < fit.tau2 < 1e-8 and fit.se_tau2 / fit.tau2 > 1e3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ci = fit.confint(type="Wald.log").to_frame()
    assert ci.loc["tau2", "ci_lb"] == 0.0 and ci.loc["tau2", "ci_ub"] == float("inf")
    assert ci.loc["I2", "ci_ub"] == 100.0
