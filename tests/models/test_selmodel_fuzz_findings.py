"""Selection models where a differential fuzz against metafor 3.8.1 (session 12) found evsynth
wrong: a beta model whose weighting integral underflowed (a false maximum, ll = +23630), and a
negative-exponential-power model whose search stalled on the ridge delta1 ~ 0.

metafor's values: tests/reference/fuzz_findings_fixtures.R; the likelihoods are checked against
an independent adaptive quadrature (scipy.integrate.quad over +-40 SD)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import integrate, special, stats

import evsynth
from fixture_data import load_fixture

CASES = {c["id"]: c for c in load_fixture("fuzz_findings/selmodel_fuzz.json")["cases"]}


def _independent_ll(yi, vi, b, t2, log_w, pval, clamp: float = 1e-5) -> float:
    """sum log( w(p_i) phi(y_i; b, v_i + t2) / A_i ), A_i = E[w(p(Y_i))] by adaptive quadrature
    (Vevea & Hedges 1995; Citkowicz & Vevea 2017), p clamped to [clamp, 1 - clamp] (metafor:
    1e-5 for the beta model, none for negexppow)."""
    total = 0.0
    for y, v in zip(yi, vi, strict=True):
        se, sd = np.sqrt(v), np.sqrt(v + t2)

        def w(x: float, se: float = se) -> float:
            return float(np.exp(log_w(np.clip(pval(x / se), clamp, 1 - clamp))))

        A = integrate.quad(lambda x, sd=sd, w=w: w(x) * stats.norm.pdf(x, b, sd),
                           b - 40 * sd, b + 40 * sd, points=[0.0], limit=2000, epsabs=0)[0]
        total += np.log(w(y)) + stats.norm.logpdf(y, b, sd) - np.log(A)
    return total


def test_beta_model_far_tail_is_not_a_maximum():
    """evsynth's integral over +-9 SD underflowed to 2e-323 at beta -35.2, delta1 65.4, and
    read as a log-likelihood of +23630 (the true value there is -88.9). Such points are now
    refused; the fit reaches -3.0059 (independent quadrature alike), above metafor's -3.0651
    at (-2.780, delta1 5.82), with no RuntimeWarning."""
    case = CASES["beta_far_tail"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        s = evsynth.meta(case["yi"], case["vi"], method="ML").selmodel(
            type="beta", alternative="less", delta=[None, 0.5])
    assert s.ll < 0 and abs(float(s.beta[0])) < 10

    d = np.asarray(s.delta)

    def log_w(p):
        return (d[0] - 1) * np.log(p) + (d[1] - 1) * np.log1p(-p)

    mine = _independent_ll(case["yi"], case["vi"], float(s.beta[0]), s.tau2, log_w,
                           special.ndtr)
    assert s.ll == pytest.approx(mine, abs=1e-6)
    assert s.ll >= case["ll"] - 1e-6


def test_negexppow_leaves_the_ridge():
    """From delta = (1, 1) the search stopped at delta1 = 5e-15, ll -1.84063, 'converged'
    (metafor: delta1 0.0017, ll -1.84053, also on the ridge); starts at larger delta2 reach a
    log-likelihood 0.3 higher, equal to the independent quadrature at that point, and no
    fixed delta2 of a scan does better."""
    case = CASES["negexppow_ridge"]
    fit = evsynth.meta(case["yi"], case["vi"], method="ML")
    s = fit.selmodel(type="negexppow")
    assert s.ll > case["ll"] + 0.3
    assert s.delta[0] > 1
    d = np.asarray(s.delta)

    def log_w(p):  # w(p) = exp(-delta1 p^(1 / delta2)) (one-sided p, threshold 0)
        return -d[0] * p ** (1 / d[1])

    mine = _independent_ll(case["yi"], case["vi"], float(s.beta[0]), s.tau2, log_w,
                           lambda z: special.ndtr(-z), clamp=0.0)
    assert s.ll == pytest.approx(mine, abs=1e-6)
    for d2 in (2.0, 10.0, 30.0, 100.0):
        assert fit.selmodel(type="negexppow", delta=[None, d2]).ll <= s.ll + 1e-7
