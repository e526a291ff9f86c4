"""Gleser & Olkin (2009) worked examples: evsynth.vcalc and evsynth.meta_mv.

Source: Gleser LJ, Olkin I (2009). Stochastically dependent effect sizes. In Cooper H, Hedges LV,
Valentine JC (eds), *The Handbook of Research Synthesis and Meta-Analysis*, 2nd ed., pp. 357-376.
New York: Russell Sage Foundation. The data and the chapter's published results are as metafor
recreates them (metafor-project.org, "analyses:gleser2009", and metafor's
tests/testthat/test_analysis_example_gleser2009.r, which quotes the chapter's numbers with their
pages). Every test names the page / table / equation of the number it checks.

The effect sizes, variances and the chapter's covariance formulas are computed here in Python
(evsynth.effect_size and the chapter's formulas), independently of the R script, and the fits
are checked twice: against the chapter's published (rounded) numbers, and against metafor 3.8.1
``rma.mv`` to 1e-8 (tests/reference/mv_gleser2009_fixtures.R -> tests/reference/mv/
gleser2009.json). The vcalc() approximation of the covariances (shared-group formula of
metafor's vcalc) is checked against metafor's vcalc and the fit with it against rma.mv.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.linalg import block_diag

import evsynth

REF = Path(__file__).parents[1] / "reference" / "mv"
CASES = json.loads((REF / "gleser2009.json").read_text())["cases"]

# multiple-treatment studies, dichotomous response (chapter Table 19.2, p. 360): group 1 is the
# shared control (ai of n1i), group 2 the treatment (ci of n2i)
TREAT = pd.DataFrame({"study": [1, 1, 2, 3, 3, 3], "trt": [1, 2, 1, 1, 2, 3],
                      "ai": [40, 40, 10, 150, 150, 150],
                      "n1i": [1000, 1000, 200, 2000, 2000, 2000],
                      "ci": [100, 150, 15, 40, 80, 50],
                      "n2i": [4000, 4000, 400, 1000, 1000, 1000]})
# multiple-treatment studies, quantitative response (chapter p. 364)
SMD = pd.DataFrame({"study": [1, 1, 2, 3, 4, 4], "trt": [1, 2, 1, 1, 1, 2],
                    "m1i": [7.87, 4.35, 9.32, 8.08, 7.44, 5.34],
                    "m2i": [-1.36, -1.36, 0.98, 1.17, 0.45, 0.45],
                    "sdpi": [4.2593, 4.2593, 2.8831, 3.1764, 2.9344, 2.9344],
                    "n1i": [25, 22, 38, 50, 30, 30], "n2i": [25, 25, 40, 50, 30, 30]})
# multiple-endpoint studies (chapter pp. 368-371): math and reading in 7 schools
ENDP = pd.DataFrame({
    "study": np.repeat(np.arange(1, 8), 2), "outcome": ["math", "reading"] * 7,
    "m1i": [2.3, 2.5, 2.4, 1.3, 2.5, 2.4, 3.3, 1.7, 1.1, 2.0, 2.8, 2.1, 1.7, 0.6],
    "m2i": [10.3, 6.6, 9.7, 3.1, 8.7, 3.7, 7.5, 8.5, 2.2, 2.1, 3.8, 1.4, 1.8, 3.9],
    "sdpi": [8.2, 7.3, 8.3, 8.9, 8.5, 8.3, 7.7, 9.8, 9.1, 10.4, 9.6, 7.9, 9.2, 10.2],
    "ri": np.repeat([.55, .43, .57, .66, .51, .59, .49], 2),
    "n1i": np.repeat([22, 21, 26, 18, 38, 42, 39], 2),
    "n2i": np.repeat([24, 21, 23, 18, 36, 42, 38], 2)})

# covariance of two contrasts against the same control group = the variance of the control's
# estimate on the measure's scale (chapter eqs. 19.5 and pp. 362-365)
SHARED = {
    "RD": lambda p, n: p * (1 - p) / n,
    "OR": lambda p, n: 1 / (n * p * (1 - p)),
    "RR": lambda p, n: (1 - p) / (n * p),
    "AS": lambda p, n: 1 / (4 * n),
}


def _blocks(d: pd.DataFrame, make) -> np.ndarray:
    return block_diag(*[make(g) for _, g in d.groupby("study", sort=False)])


def _treat(measure: str) -> tuple[pd.DataFrame, np.ndarray]:
    es = evsynth.effect_size(measure, ai=TREAT["ai"], n1i=TREAT["n1i"], ci=TREAT["ci"],
                             n2i=TREAT["n2i"])
    d = TREAT.assign(yi=es["yi"].to_numpy(), vi=es["vi"].to_numpy())

    def make(g):
        p = g["ai"].iloc[0] / g["n1i"].iloc[0]
        v = np.full((len(g), len(g)), SHARED[measure](p, g["n1i"].iloc[0]))
        np.fill_diagonal(v, g["vi"])
        return v

    return d, _blocks(d, make)


def _smd() -> tuple[pd.DataFrame, np.ndarray]:
    d = SMD.copy()
    # N: all subjects of the study (the treatment groups and the shared control)
    d["Ni"] = d.groupby("study")["n1i"].transform("sum") + d["n2i"]
    d["yi"] = (d["m1i"] - d["m2i"]) / d["sdpi"]
    d["vi"] = 1 / d["n1i"] + 1 / d["n2i"] + d["yi"] ** 2 / (2 * d["Ni"])

    def make(g):
        y = g["yi"].to_numpy()
        v = 1 / g["n2i"].iloc[0] + np.outer(y, y) / (2 * g["Ni"].iloc[0])
        np.fill_diagonal(v, g["vi"])
        return v

    return d, _blocks(d, make)


def _endpoint() -> tuple[pd.DataFrame, np.ndarray]:
    d = ENDP.copy()
    # the chapter rounds d to 3 and the (co)variances to 4 decimals (p. 370)
    d["yi"] = ((d["m2i"] - d["m1i"]) / d["sdpi"]).round(3)
    nn = d["n1i"] + d["n2i"]
    d["vi"] = (1 / d["n1i"] + 1 / d["n2i"] + d["yi"] ** 2 / (2 * nn)).round(4)
    prod = d.groupby("study")["yi"].transform("prod")
    d["covi"] = ((1 / d["n1i"] + 1 / d["n2i"]) * d["ri"] + prod / (2 * nn) * d["ri"] ** 2).round(4)
    return d, _blocks(d, lambda g: np.array([[g["vi"].iloc[0], g["covi"].iloc[0]],
                                             [g["covi"].iloc[0], g["vi"].iloc[1]]]))


def _fit_trt(d, V):
    # no random effects: the chapter's GLS fit. metafor's rma.mv(method = "FE") reports the ML
    # log-likelihood, which evsynth gives with method="ML" (meta_mv does not take "FE")
    return evsynth.meta_mv(d["yi"].to_numpy(), V, mods="~ 0 + C(trt)", data=d, method="ML")


def _published(value, expected, decimals, slack=0.0):
    """``value`` rounds to the chapter's ``expected`` (printed to ``decimals``)."""
    value, expected = np.asarray(value, float), np.asarray(expected, float)
    tol = 0.5 * 10.0 ** -decimals + slack + 1e-12
    assert np.all(np.abs(value - expected) <= tol), (value, expected)


def _vs_metafor(fit, ref):
    np.testing.assert_allclose(fit.beta, ref["beta"], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fit.vb, np.array(ref["vb"]), rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(fit.se, ref["se"], rtol=1e-7)
    np.testing.assert_allclose(fit.ci_lb, ref["ci_lb"], rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(fit.ci_ub, ref["ci_ub"], rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose([fit.QE, fit.QM], [ref["QE"], ref["QM"]], rtol=1e-8)
    np.testing.assert_allclose(fit.QEp, ref["QEp"], rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(fit.ll, ref["ll"], rtol=1e-8)


# ---- the chapter's published numbers -----------------------------------------------------------
def test_risk_differences_published():
    """Multiple-treatment studies, risk differences: Table 19.2 (p. 360), eq. 19.6 (p. 361,
    estimates), eq. 19.7 (p. 361, covariance matrix x 10^6), eq. 19.8 (p. 362, Q = 7.1907)."""
    d, V = _treat("RD")
    _published(d["yi"], [0.0150, 0.0025, 0.0125, 0.0350, -0.0050, 0.0250], 4)
    fit = _fit_trt(d, V)
    _published(fit.beta, [0.0200, 0.0043, 0.0211], 4)
    _published(fit.vb * 1e6, [[24.612, 19.954, 13.323], [19.954, 28.538, 13.255],
                              [13.323, 13.255, 69.806]], 3)
    _published(fit.QE, 7.1907, 4)


def test_log_odds_ratios_published():
    """Log odds ratios: effect sizes p. 362; estimates, covariance matrix and Q p. 363 (the
    chapter prints Q = 2.057; the exact value is 2.0563, as metafor notes)."""
    d, V = _treat("OR")
    _published(d["yi"], [0.4855, 0.0671, 0.3008, 0.6657, -0.0700, 0.4321], 4)
    fit = _fit_trt(d, V)
    _published(fit.beta, [0.5099, 0.0044, 0.4301], 4)
    _published(fit.vb, [[0.01412, 0.00712, 0.00425], [0.00712, 0.01178, 0.00455],
                        [0.00425, 0.00455, 0.02703]], 5)
    _published(fit.QE, 2.057, 3, slack=1e-3)


def test_log_risk_ratios_published():
    """Log risk ratios: effect sizes p. 364, estimates p. 363 (no covariance matrix or Q in
    the chapter)."""
    d, V = _treat("RR")
    _published(d["yi"], [0.4700, 0.0645, 0.2877, 0.6286, -0.0645, 0.4055], 4)
    _published(_fit_trt(d, V).beta, [0.4875, 0.0006, 0.4047], 4)


def test_arcsine_differences_published():
    """Differences of arcsine-transformed risks: the chapter's arcsine is twice metafor's
    (2 arcsin sqrt(p)); effect sizes p. 364, estimates, covariance matrix and Q p. 365 (the
    chapter prints Q = 4.264, exact 4.2634)."""
    d, V = _treat("AS")
    _published(2 * d["yi"], [0.0852, 0.0130, 0.0613, 0.1521, -0.0187, 0.1038], 4)
    fit = _fit_trt(d, V)
    _published(2 * fit.beta, [0.1010, 0.0102, 0.0982], 4)
    _published(4 * fit.vb, [[0.00058, 0.0004, 0.00024], [0.0004, 0.00061, 0.00025],
                            [0.00024, 0.00025, 0.00137]], 5)
    _published(fit.QE, 4.264, 3, slack=1e-3)


def test_standardised_mean_differences_published():
    """Multiple-treatment studies, quantitative response: effect sizes p. 364; estimates,
    covariance matrix and Q = 3.9447 p. 367."""
    d, V = _smd()
    _published(d["yi"], [2.1670, 1.3406, 2.8927, 2.1754, 2.3821, 1.6664], 4)
    fit = _fit_trt(d, V)
    _published(fit.beta, [2.3743, 1.5702], 4)
    _published(fit.vb, [[0.02257, 0.01244], [0.01244, 0.03554]], 5)
    _published(fit.QE, 3.9447, 4)


def test_multiple_endpoints_published():
    """Multiple-endpoint studies (math and reading): the homogeneity statistic p. 371 (printed
    as 19.62; exact 19.6264). The chapter prints no estimates for this GLS fit."""
    d, V = _endpoint()
    fit = evsynth.meta_mv(d["yi"].to_numpy(), V, mods="~ 0 + outcome", data=d)
    assert fit.QE == pytest.approx(19.62, abs=0.01)
    assert fit.k - fit.p == 12


# ---- against metafor rma.mv ---------------------------------------------------------------------
@pytest.mark.parametrize("measure", ["RD", "OR", "RR", "AS"])
def test_treatment_vs_metafor(measure):
    case = CASES[f"treat_{measure}"]
    d, V = _treat(measure)
    np.testing.assert_allclose(d["yi"], case["yi"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(V, np.array(case["V"]), rtol=1e-12, atol=1e-15)
    _vs_metafor(_fit_trt(d, V), case["fit"])


def test_smd_vs_metafor():
    case = CASES["treat_SMD"]
    d, V = _smd()
    np.testing.assert_allclose(V, np.array(case["V"]), rtol=1e-12)
    _vs_metafor(_fit_trt(d, V), case["fit"])


def test_endpoint_vs_metafor():
    case = CASES["endpoint_SMD"]
    d, V = _endpoint()
    np.testing.assert_allclose(d["covi"], case["covi"], rtol=1e-12)
    np.testing.assert_allclose(V, np.array(case["V"]), rtol=1e-12)
    _vs_metafor(evsynth.meta_mv(d["yi"].to_numpy(), V, mods="~ 0 + outcome", data=d,
                                method="ML"), case["fit"])


def test_endpoint_reml_unstructured_vs_metafor():
    """REML with an unstructured between-school covariance of the two outcomes (not in the
    chapter): tau^2, rho and the estimates as metafor's (optim BFGS, reltol 1e-14). With 7
    schools the restricted likelihood is flat along (tau^2_2, rho): evsynth's maximum is
    7.6e-10 higher than metafor's, and tau^2_2 / rho differ by 1.3e-6 / 1.3e-4."""
    ref = CASES["endpoint_SMD"]["fit_reml_un"]
    d, V = _endpoint()
    fit = evsynth.meta_mv(d["yi"].to_numpy(), V, mods="~ 0 + outcome",
                          random="~ outcome | study", struct="UN", data=d)
    np.testing.assert_allclose(fit.tau2, ref["tau2"], rtol=1e-5, atol=5e-6)
    np.testing.assert_allclose(fit.rho, ref["rho"], atol=5e-4)
    np.testing.assert_allclose(fit.beta, ref["beta"], rtol=1e-5)
    np.testing.assert_allclose(fit.se, ref["se"], rtol=1e-4)
    assert fit.ll >= ref["ll"] - 1e-12


# ---- vcalc's approximation of the covariances ---------------------------------------------------
@pytest.mark.parametrize("measure", ["RD", "OR", "RR", "AS"])
def test_vcalc_shared_control_vs_metafor(measure):
    """vcalc(vi, cluster, grp1 = the shared control, grp2 = treatment, w1, w2) as metafor's,
    and the fit with it as rma.mv's."""
    case = CASES[f"treat_{measure}"]
    d, _ = _treat(measure)
    Vc = evsynth.vcalc(d["vi"], d["study"], grp1=np.zeros(len(d), int), grp2=d["trt"],
                       w1=d["n1i"], w2=d["n2i"])
    np.testing.assert_allclose(Vc, np.array(case["V_vcalc"]), rtol=1e-12, atol=1e-18)
    _vs_metafor(_fit_trt(d, Vc), case["fit_vcalc"])


def test_vcalc_smd_and_endpoints_vs_metafor():
    case = CASES["treat_SMD"]
    d, _ = _smd()
    Vc = evsynth.vcalc("vi", "study", grp1="trt", grp2=np.zeros(len(d), int), w1="n1i",
                       w2="n2i", data=d)
    np.testing.assert_allclose(Vc, np.array(case["V_vcalc"]), rtol=1e-12)
    _vs_metafor(_fit_trt(d, Vc), case["fit_vcalc"])
    case = CASES["endpoint_SMD"]
    d, _ = _endpoint()
    Vc = evsynth.vcalc("vi", "study", obs="outcome", rho=case["vcalc_rho"], data=d)
    np.testing.assert_allclose(Vc, np.array(case["V_vcalc"]), rtol=1e-12)
    _vs_metafor(evsynth.meta_mv(d["yi"].to_numpy(), Vc, mods="~ 0 + outcome", data=d,
                                method="ML"), case["fit_vcalc"])


def test_vcalc_shared_control_is_the_exact_formula_for_arcsine():
    """For arcsine differences the control's variance 1/(4 n) does not depend on p, so vcalc's
    shared-group correlation reproduces the chapter's exact covariance."""
    d, V = _treat("AS")
    Vc = evsynth.vcalc(d["vi"], d["study"], grp1=np.zeros(len(d), int), grp2=d["trt"],
                       w1=d["n1i"], w2=d["n2i"])
    np.testing.assert_allclose(Vc, V, rtol=1e-12)
