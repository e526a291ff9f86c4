"""Publication-bias methods of meta() fits with user weights, weighted=False or a fixed tau^2.

Fixtures: tests/reference/bias_weights_fixtures.R (metafor 3.8.1, control threshold/tol 1e-12).
What metafor does with these settings, and evsynth as well:

* ``trimfill`` (``trimfill.rma.uni``): the refits carry ``weights`` (sorted and trimmed with the
  studies; an imputed study takes the weight of the study it mirrors) and ``weighted``, but not
  a fixed tau^2, which every refit re-estimates with the fit's method.
* ``regtest``: ``model="rma"`` refits with ``weights``, ``weighted`` and the fixed tau^2;
  ``model="lm"`` is ``lm(yi ~ X + predictor, weights = 1/vi)`` whatever the fit's settings.
* ``hc`` (``hc.rma.uni``): computed from yi/vi alone (1/vi weights, DL tau^2); the ``*_rma``
  columns are the fit's.
* ``pet_peese``: the two ``regtest(model="lm")`` regressions (1/vi weights), so the fit's
  settings do not change it.
* ``selmodel``: refused for user weights and weighted=False (metafor's stop); a fixed tau^2
  stays fixed.
* ``vif(reestimate=True)`` with and without ``sim``: the refits carry all three settings.

Agreement: rtol 1e-9, atol 1e-10 (trimfill: 567 cases, regtest: 672 cases, all within it); hc
at rtol 1e-12 for beta/se/tau2 and 1e-6 for the CI (metafor's integrate() runs at rel.tol
1.2e-4); selmodel estimates at 1e-6 and SEs at 1e-5 (numerical optimisation and Hessians on both
sides, as tests/models/test_bias.py), 2e-4 with tau^2 fixed at 0 (observed 1.2e-4), delta at
its bound as test_bias.py. vif(reestimate=True) is tested in tests/models/test_vif.py.
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from test_refit_weights import _fit as _refit_fit

import evsynth
from evsynth.errors import InputError
from fixture_data import REFERENCE, load_r_group

FOLDER = REFERENCE / "bias_weights"
RTOL, ATOL = 1e-9, 1e-10
CTRL = {"tol": 1e-12}


@cache
def _cases(group: str) -> list[dict]:
    return load_r_group(FOLDER, group, na=float("nan"))["cases"]


def _fit(case: dict):
    """The fit of a fixture case, built as test_refit_weights builds it (one home)."""
    return _refit_fit(case)[0]


def _close(actual, expected, rtol=RTOL, atol=ATOL):
    assert_allclose(np.asarray(actual, float), np.asarray(expected, float), rtol=rtol, atol=atol)


def _params(group: str) -> list:
    return [pytest.param(c, id=c["id"]) for c in _cases(group)]


# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", _params("trimfill"))
def test_trimfill_matches_metafor(case):
    fit = _fit(case)
    side = None if case["side_arg"] == "auto" else case["side_arg"]
    assert case["status"] == "ok"
    r = case["result"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit.trimfill(side=side, estimator=case["estimator"])
    assert res.k0 == r["k0"]
    assert res.side == r["side"]
    assert res.k == r["k"]
    assert list(res.fill) == list(np.atleast_1d(r["fill"]))
    _close(res.se_k0, r["se_k0"])
    if case["estimator"] == "R0":
        _close(res.p_k0, r["p_k0"], rtol=1e-12)
    _close(res.yi, r["yi"])
    _close(res.vi, r["vi"], rtol=1e-14)
    if r.get("weights") is None or case["args"]["weights"] is None:
        assert res.fit.user_weights is None
    else:
        _close(res.fit.user_weights, r["weights"], rtol=1e-14)
    assert res.fit.weighted == r["weighted"]
    assert res.fit.tau2_fix == r["tau2_fix"]  # metafor re-estimates a fixed tau^2 when k0 > 0
    for key in ("beta", "se", "zval", "pval", "ci_lb", "ci_ub"):
        _close(getattr(res, key), r[key])
    _close(res.tau2, r["tau2"], atol=1e-10)


def test_trimfill_fixture_covers_filled_weighted_fits():
    cases = [c for c in _cases("trimfill") if c["status"] == "ok"]
    assert sum(c["result"]["k0"] > 0 and c["args"]["weights"] is not None for c in cases) >= 30
    assert sum(c["result"]["k0"] > 0 and not c["args"]["weighted"] for c in cases) >= 10
    assert sum(c["result"]["k0"] > 0 and c["args"]["tau2"] is not None for c in cases) >= 10


def test_trimfill_imputed_study_takes_the_mirrored_weight():
    case = next(c for c in _cases("trimfill") if c["status"] == "ok" and c["result"]["k0"] > 1
                and c["args"]["weights"] == "isd")
    fit = _fit(case)
    side = None if case["side_arg"] == "auto" else case["side_arg"]
    res = fit.trimfill(side=side, estimator=case["estimator"])
    assert res.k0 > 1
    w = fit.user_weights
    src = [int(np.flatnonzero(fit.vi == v)[0]) for v in res.vi[res.fill]]
    assert_allclose(res.fit.user_weights[res.fill], w[src], rtol=0)
    assert_allclose(res.fit.user_weights[~res.fill], w, rtol=0)


# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", _params("regtest"))
def test_regtest_matches_metafor(case):
    fit = _fit(case)
    r = case["result"]
    res = fit.regtest(model=case["model"], predictor=case["predictor"])
    _close(res.zval, r["zval"])
    _close(res.pval, r["pval"])
    if case["args"]["test"] != "z" or case["model"] == "lm":
        assert res.dfs == r["dfs"]
    for key in ("est", "ci_lb", "ci_ub"):
        if r[key] is None:
            assert getattr(res, key) is None
        else:
            _close(getattr(res, key), r[key])
    f = r["fit"]
    _close(res.fit.beta, f["beta"])
    _close(res.fit.se, f["se"])
    if case["model"] == "rma":
        _close(res.fit.tau2, f["tau2"], atol=1e-10)
        assert res.fit.tau2_fix == (case["args"]["tau2"] is not None)
        assert res.fit.weighted == case["args"]["weighted"]


@pytest.mark.parametrize("case", [c for c in _params("regtest")
                                  if c.values[0]["model"] == "lm"
                                  and c.values[0]["args"]["mods"] is None
                                  and c.values[0]["predictor"] == "sei"][:12])
def test_pet_peese_uses_regtest_lm(case):
    """PET (and PEESE) are regtest(model="lm") regressions: 1/vi weights, the fit's settings
    ignored, as metafor's regtest(model = "lm")."""
    fit = _fit(case)
    res = fit.pet_peese()
    _close(res.pet.beta, case["result"]["fit"]["beta"])
    _close(res.pet.pval, case["result"]["fit"]["pval"])
    d = pd.read_csv(REFERENCE / "data" / case["dataset"])
    plain = evsynth.meta("yi", "vi", data=d, control=CTRL).pet_peese()
    _close(res.peese.beta, plain.peese.beta, rtol=1e-12)
    assert res.chosen == plain.chosen


# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", _params("hc"))
def test_hc_matches_metafor(case):
    fit = _fit(case)
    r = case["result"]
    res = fit.hc()
    _close(res.beta, r["beta"], rtol=1e-12)
    _close(res.se, r["se"], rtol=1e-12)
    _close(res.tau2, r["tau2"], rtol=1e-12, atol=1e-14)
    _close([res.ci_lb, res.ci_ub], [r["ci_lb"], r["ci_ub"]], rtol=1e-6)
    _close([res.beta_rma, res.se_rma, res.ci_lb_rma, res.ci_ub_rma, res.tau2_rma],
           [r["beta_rma"], r["se_rma"], r["ci_lb_rma"], r["ci_ub_rma"], r["tau2_rma"]])


# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", _params("selmodel"))
def test_selmodel_refusals_and_fixed_tau2(case):
    fit = _fit(case)
    kw = {"steps": [0.025, 1]} if case["type"] == "stepfun" else {}
    if case["status"] == "error" and not case["error"].startswith("Cannot fit selection"):
        # bcg, tau^2 fixed at 0, stepfun: metafor's optim stops at maxit 10000 (convergence 1)
        pytest.skip(f"metafor failed: {case['error']}")
    if case["status"] == "error":
        setting = "weights=" if case["args"]["weights"] is not None else "weighted=False"
        with pytest.raises(InputError, match=setting):
            fit.selmodel(type=case["type"], **kw)
        return
    r = case["result"]
    res = fit.selmodel(type=case["type"], **kw)
    # a delta at its bound (metafor warns): the optimum is on the edge, compared as in
    # test_bias.py's test_selmodel_matches_metafor (delta 1e-2, SEs 2e-3)
    boundary = any("bound" in w for w in case["warnings"])
    _close(res.beta, r["beta"], rtol=1e-6)
    assert res.tau2 == case["args"]["tau2"]  # stays fixed
    _close(res.delta, r["delta"], rtol=1e-2 if boundary else 1e-6, atol=1e-8)
    _close(res.ll, r["ll"], rtol=1e-6)
    _close(res.LRT, r["LRT"], rtol=1e-6, atol=1e-8)
    # numerical Hessians on both sides (numDeriv / Richardson): 1e-5, but with tau^2 fixed at 0
    # the SEs differ by up to 1.2e-4 (observed: halfnorm's se_delta; beta's se 1.1e-5), so 2e-4
    se_rtol = 2e-3 if boundary else (2e-4 if case["args"]["tau2"] == 0 else 1e-5)
    _close(res.se, r["se"], rtol=se_rtol)
    _close(res.se_delta, r["se_delta"], rtol=se_rtol)


# ------------------------------------------------------------------------------------------------
def test_supported_lists_the_bias_methods():
    d = pd.read_csv(REFERENCE / "data" / "rma_bcg.csv")
    for kw in ({"weights": 1 / np.sqrt(d["vi"])}, {"weighted": False}, {"tau2": 0.1}):
        fit = evsynth.meta("yi", "vi", data=d, control=CTRL, **kw)
        have = fit.supports() if callable(getattr(fit, "supports", None)) else []
        for name in ("trimfill", "regtest", "hc", "pet_peese"):
            assert name in have, (kw, name)
        assert ("selmodel" in have) == ("tau2" in kw)  # metafor refuses the other two
