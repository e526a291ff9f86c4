"""meta_glmm cases found by a differential fuzz against metafor 3.8.1's rma.glmm (session 12):
a crash when a trial step drove tau to underflow, a local maximum at tau^2 = 0, a wrong
conditional mode (and so a wrong likelihood) of the exact conditional model with a large
tau^2, and UM.RS's Wald test of heterogeneity lost to a study at infinity.

metafor's values come from tests/reference/fuzz_findings_fixtures.R (tight optimiser
settings); the CM.EL likelihood is also checked against an independent integral (scipy's
Fisher non-central hypergeometric times the normal density, adaptive quadrature)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import integrate, stats

import evsynth
from evsynth.models.glmm import _NCHG
from fixture_data import load_fixture

CASES = {c["id"]: c for c in load_fixture("fuzz_findings/glmm_fuzz.json")["cases"]}


def _fit(case: dict, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nAGQ notes
        return evsynth.meta_glmm(case["measure"], **case["data"], model=case["model"],
                                 nAGQ=case["nAGQ"], **kw)


def test_underflowing_trial_step_is_no_crash():
    """A Newton trial step took log tau from 1.81 to -592.7: tau^2 underflowed to 0 and
    1 / tau^2 raised ZeroDivisionError. Now the fit is metafor's (rma.glmm CM.EL for IRR, the
    conditional binomial GLMM)."""
    case = CASES["irr_cmel_underflow"]
    fit = _fit(case)
    assert fit.beta[0] == pytest.approx(case["beta"], rel=1e-6)
    assert fit.se[0] == pytest.approx(case["se"], rel=1e-5)
    assert fit.tau2 == pytest.approx(case["tau2"], rel=1e-5)


def test_boundary_local_maximum_is_left_for_the_higher_one():
    """The profile likelihood of tau has a local maximum at 0 (ll -10.7089) and the global one
    at tau^2 = 2.49 (-10.5241); the default start (tau = 0.3) ended at 0. A second start at
    glmer's tau = 1 finds metafor's answer, and a note says so."""
    case = CASES["irr_umfs_two_maxima"]
    fit = _fit(case)
    assert fit.tau2 == pytest.approx(case["tau2"], rel=1e-5)
    assert fit.beta[0] == pytest.approx(case["beta"], rel=1e-6)
    assert fit.se[0] == pytest.approx(case["se"], rel=1e-4)
    assert any("second start" in n for n in fit.method_info["notes"])
    boundary = _fit(case, control={"tau_start": 1e-3})  # the retry runs from any start
    assert boundary.tau2 == pytest.approx(case["tau2"], rel=1e-5)


def _exact_study_ll(a: float, n1: float, c: float, n2: float, mu: float, tau2: float) -> float:
    def f(t: float) -> float:
        return (stats.nchypergeom_fisher.pmf(a, n1 + n2, n1, a + c, np.exp(t))
                * stats.norm.pdf(t, mu, np.sqrt(tau2)))
    sd = np.sqrt(tau2)
    cuts = np.linspace(mu - 12 * sd, mu + 12 * sd, 41)
    return float(np.log(sum(integrate.quad(f, lo, hi, epsabs=0, epsrel=1e-12, limit=200)[0]
                            for lo, hi in zip(cuts[:-1], cuts[1:], strict=True))))


@pytest.mark.parametrize(("mu", "tau2"), [(2.0, 50.0), (2.0, 500.0), (-5.0, 9.0)])
def test_cmel_study_likelihood_with_large_tau2(mu, tau2):
    """One study (ai = 7 of 32, ci = 5 of 8) at mu = 2, tau^2 = 50: the conditional-mode
    Newton cycled between theta = 152 and -248 and the quadrature gave -540.81 for the exact
    -3.39472. Now safeguarded, 24 nodes give the integral to 1e-8."""
    nch = _NCHG(np.array([7.0]), np.array([32.0]), np.array([8.0]), np.array([12.0]))
    assert nch.loglik(np.array([mu]), tau2)[0] == pytest.approx(
        _exact_study_ll(7, 32, 5, 8, mu, tau2), abs=1e-7)


def test_cmel_fit_with_large_tau2_reaches_the_maximum():
    """evsynth stopped at beta -4.919, tau^2 7.08 (ll -4.0899); metafor (and an independent
    maximisation) at -5.466, 9.251 (ll -4.07088). The exact log-likelihood at evsynth's
    estimate is now within 1e-7 of metafor's maximum (the surface is flat there: the 24-node
    quadrature moves the estimate by 3e-4)."""
    case = CASES["or_cmel_large_tau2"]
    fit = _fit(case)
    assert fit.beta[0] == pytest.approx(case["beta"], abs=2e-3)
    assert fit.tau2 == pytest.approx(case["tau2"], rel=2e-3)
    d = case["data"]
    exact = sum(_exact_study_ll(a, n1, c, n2, float(fit.beta[0]), fit.tau2)
                for a, n1, c, n2 in zip(d["ai"], d["n1i"], d["ci"], d["n2i"], strict=True))
    assert exact >= case["ll"] - 1e-7


def test_umrs_wald_heterogeneity_test_without_the_studies_at_infinity():
    """Three zero-cell studies' log odds ratios drift to infinity in the saturated model: their
    Hessian rows underflow to 0, the covariance was all NaN and QE_Wld NaN without a note.
    Their contribution b^2 / Var(b) tends to 0: QE_Wld leaves them out and says so (metafor's
    finite value depends on where glmer stopped, so it is no reference). Leaving them out is
    checked against the statistic itself: the three studies' own terms, at the drifted
    estimates, are ~0."""
    d = {"ai": [34, 10, 4, 0, 3, 4, 22, 0, 18, 4, 0, 2, 4, 3, 2, 1, 3, 9, 1],
         "n1i": [56, 45, 42, 9, 23, 17, 58, 4, 44, 46, 59, 15, 14, 12, 7, 33, 40, 24, 35],
         "ci": [20, 2, 1, 3, 1, 14, 5, 3, 4, 2, 2, 8, 23, 2, 3, 8, 0, 23, 5],
         "n2i": [26, 9, 31, 10, 8, 36, 24, 27, 6, 3, 13, 46, 50, 12, 19, 21, 37, 50, 15]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = evsynth.meta_glmm("OR", **d, model="UM.RS", drop00=False)
    assert np.isfinite(fit.QE_Wld) and 0 < fit.QEp_Wld < 1
    assert fit.QEp_Wld == pytest.approx(1 - stats.chi2.cdf(fit.QE_Wld, 19 - 1), rel=1e-10)
    assert any("QE_Wld leaves out 3 studies" in n for n in fit.method_info["notes"])


def test_cells_without_trials_do_not_warn():
    """CM.AL with a study without events in either group (drop00=False): the saturated glm's
    variance of that cell is infinite, silently (numpy warned 'divide by zero')."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fit = evsynth.meta_glmm("OR", ai=[3, 0, 5, 2], n1i=[20, 15, 25, 18],
                                ci=[1, 0, 4, 6], n2i=[21, 14, 24, 19], model="CM.AL",
                                drop00=False)
    assert np.isfinite(fit.beta[0])
