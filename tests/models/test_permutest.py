"""permutest(permci=..., stat=...) (metafor permutest.rma.uni with permci and
control=list(stat=...)).

Reference values: tests/reference/diag_extra_fixtures.R, exact permutation tests (metafor
3.8.1, tight control), so p-values compare exactly. metafor finds the CI bounds with
``uniroot(tol = eps^0.25)`` on a step function, so its bounds lie within ~1.2e-4 of the jump
evsynth locates by bisection (to 1e-8): agreement is checked to 2e-4 and evsynth's bounds are
checked to be the jumps (the p-value crosses alpha/2 there). Where the p-value sits exactly at
alpha/2 over part of the search interval, metafor's uniroot stops at the interval's end;
evsynth reports the jump (test_permci_where_metafor_stops_at_the_interval_end).

Published example: Higgins & Thompson (2004, Stat Med 23:1663) recommend permutation tests for
meta-regression; the BCG trials on absolute latitude are the worked example of Viechtbauer
(2010, J Stat Softw 36(3), Section 3.7, the ``permutest`` output), checked in
tests/models/test_influence.py; here we add the CI.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from test_residuals import dataset, fit_case, load_cases, num

import evsynth
from evsynth.errors import InputError

CASES = load_cases("permutest_ci")


def _permci(case):
    pc = case["permci"]
    return pc if isinstance(pc, bool) else [int(pc) - 1]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['data']}-{c['method']}-{c['test']}-"
                         f"{c['mods']}-{c['stat']}-{c['permci']}")
def test_exact_permutest_stat_and_permci_match_metafor(case):
    fit = fit_case(case)
    pt = fit.permutest(exact=True, stat=case["stat"], permci=_permci(case))
    ref = case["result"]
    assert pt.iter == ref["n_perm"]
    assert_allclose(pt.pval, num(ref["pval"]), rtol=1e-12)
    assert_allclose(pt.QMp, ref["QMp"], rtol=1e-12)
    lb, ub = num(ref["ci_lb"]), num(ref["ci_ub"])
    if case["permci"] is False:
        assert_allclose(pt.ci_lb, lb, rtol=1e-10)
        assert_allclose(pt.ci_ub, ub, rtol=1e-10)
        return
    if case["data"] == "bcg" and case["mods"] == "ablat" and case["method"] == "REML":
        return  # the degenerate case, see the test below
    assert np.array_equal(np.isnan(pt.ci_lb), np.isnan(lb))
    assert np.array_equal(np.isnan(pt.ci_ub), np.isnan(ub))
    X = np.asarray(fit.model_matrix)

    def perm_p(c, j, alt):
        g = (fit.refit(fit.yi - c, fit.vi) if fit.int_only else
             fit.refit(fit.yi - c * X[:, j], fit.vi, mods=X, intercept=False))
        return g.permutest(exact=True, stat=case["stat"], alternative=alt).pval[j]

    for j in pt.permci:
        for mine, theirs, alt in ((pt.ci_lb[j], lb[j], "greater"), (pt.ci_ub[j], ub[j], "less")):
            if np.isnan(mine):
                continue
            # evsynth's bound is a jump of the one-sided permutation p-value across alpha/2
            below, above = perm_p(mine - 1e-6, j, alt), perm_p(mine + 1e-6, j, alt)
            assert below != above and min(below, above) <= 0.025 <= max(below, above)
            if perm_p(theirs, j, alt) == pytest.approx(0.025, abs=1e-12):
                # p = alpha/2 exactly on a stretch (9 of 360 permutations): metafor's uniroot
                # stops anywhere on it (p - alpha/2 = -2e-17); evsynth reports its end
                continue
            assert_allclose(mine, theirs, atol=2e-4)


def test_permci_where_metafor_stops_at_the_interval_end():
    """bcg rows 1-6, REML, ~ ablat, slope: the 'less' p-value falls to 9/360 = alpha/2 at
    c = -0.00556 and stays there to the end of metafor's search interval (0.00899): metafor's
    uniroot sees p - alpha/2 = -2e-17 at that end and returns it; evsynth returns the jump."""
    case = next(c for c in CASES if c["mods"] == "ablat" and c["method"] == "REML")
    fit = fit_case(case)
    pt = fit.permutest(exact=True, permci=[1])
    assert np.isnan(pt.ci_lb[1]) and np.isnan(num(case["result"]["ci_lb"])[1])
    assert_allclose(pt.ci_ub[1], -0.0055591, atol=1e-6)
    metafor_ub = num(case["result"]["ci_ub"])[1]
    X = np.asarray(fit.model_matrix)
    for c in (pt.ci_ub[1] + 1e-6, 0.5 * (pt.ci_ub[1] + metafor_ub), metafor_ub):
        g = fit.refit(fit.yi - c * X[:, 1], fit.vi, mods=X, intercept=False)
        assert g.permutest(exact=True, alternative="less").pval[1] == pytest.approx(9 / 360)
    assert np.isnan(pt.ci_lb[0]) and np.isnan(pt.ci_ub[0])  # not asked for, as metafor


def test_random_permci_is_seeded_and_brackets_the_estimate():
    d = dataset("bcg")
    fit = evsynth.meta("yi", "vi", mods="~ ablat", data=d)
    a = fit.permutest(iter=400, seed=11, permci=[1])
    b = fit.permutest(iter=400, seed=11, permci=[1])
    assert_allclose(a.ci_lb, b.ci_lb, equal_nan=True)
    assert a.ci_lb[1] < fit.beta[1] < a.ci_ub[1]
    assert "permutation-based" in str(a.summary())
    json.dumps(a.to_dict(), allow_nan=False)


def test_stat_coef_alternatives_and_errors():
    d = dataset("bcg")
    fit = evsynth.meta("yi", "vi", data=d.iloc[:8], method="DL")
    two = fit.permutest(stat="coef")
    gr = fit.permutest(stat="COEF", alternative="greater")
    ls = fit.permutest(stat="coef", alternative="less")
    assert two.stat == "coef" and gr.alternative == "greater"
    # the estimate is negative: few sign flips give a smaller one
    assert ls.pval[0] <= two.pval[0] <= 1 and gr.pval[0] > 0.5
    with pytest.raises(InputError, match="stat"):
        fit.permutest(stat="zval")
    with pytest.raises(InputError, match="alternative"):
        fit.permutest(alternative="both")
    with pytest.raises(InputError, match="permci"):
        fit.permutest(permci=[3])
    small = evsynth.meta("yi", "vi", data=d.iloc[:4])
    with pytest.raises(InputError, match="too few"):
        small.permutest(permci=True)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.floats(-1.5, 1.5), st.floats(0.02, 0.5)), min_size=4, max_size=7))
def test_property_exact_equal_effects_stat_coef_equals_test(rows):
    """Equal-effects intercept-only model: a sign flip leaves the SE unchanged, so the
    permutation distributions of b and of z = b / SE order the permutations identically and
    stat="coef" gives the same p-values as stat="test"; p-values lie in (0, 1]; the exact
    permutation CI of a sign-flip test contains the estimate."""
    # effects on a 0.001 grid: ties between permutations are exact or clearly apart. With
    # effects such as 0 and -6e-8 two permutations' b differ by less than the comparison
    # tolerance sqrt(eps) (absolute, as metafor's comptol) while their z do not, so the two
    # statistics can count a near-tie differently (found by hypothesis; metafor does the same)
    y = np.round(np.array([r[0] for r in rows]), 3)
    v = np.array([r[1] for r in rows])
    fit = evsynth.meta(y, v, method="EE")
    a = fit.permutest(exact=True)
    b = fit.permutest(exact=True, stat="coef")
    assert_allclose(a.pval, b.pval)
    assert 0 < a.pval[0] <= 1 and 0 < a.QMp <= 1
    if 1 / a.iter <= 0.025:
        ci = fit.permutest(exact=True, permci=True)
        lb, ub = ci.ci_lb[0], ci.ci_ub[0]
        assert np.isnan(lb) or lb <= fit.beta[0] + 1e-9
        assert np.isnan(ub) or ub >= fit.beta[0] - 1e-9


def test_ties_are_judged_relative_to_large_statistics():
    """Two fits of the same data give statistics equal up to ~1e-12 relative: for a QM near
    6e4 that exceeds metafor's absolute sqrt(eps), so an exact tie counted or not by chance
    (session 13 fuzz). The tolerance is sqrt(eps) relative above 1."""
    from evsynth.models.diagnostics.permutest import _pvalues, _tie

    obs = np.array([6.0e4, 0.5])
    dist = np.array([[6.0e4 * (1 - 3e-12), 0.5 - 1e-9], [1.0, 0.1]])
    p = _pvalues(dist, obs, "greater")
    assert p.tolist() == [0.5, 0.5]  # the near-equal values tie with the observed ones
    sqrt_eps = float(np.sqrt(np.finfo(float).eps))  # metafor's comptol
    assert _tie(0.5) == _tie(1.0) == sqrt_eps
    assert _tie(6.0e4) == pytest.approx(6.0e4 * sqrt_eps, rel=1e-15)
