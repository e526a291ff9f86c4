"""GENQM (DerSimonian & Kacker 2007, Contemp Clin Trials 28:105-114, doi:10.1016/j.cct.2006.04.004)
and the generalised-Q CI for tau^2 (Jackson 2013, Res Synth Methods 4:220-229,
doi:10.1002/jrsm.1081) against metafor 3.8 itself: ``rma(method = "GENQM")`` and
``confint(type = "GENQ")``, run with CompQuadForm's ``farebrother()`` (fixture:
tests/reference/genqm_metafor_fixtures.R -> uni_extra/genqm_metafor.json).

Agreement: the GENQM estimate, its beta and SE to 1e-11 relative (tested at 1e-9). The GENQ CI
bounds differ by up to 2.7e-4 relative: metafor's ``confint.rma.uni`` finds them by ``uniroot``
at its default tolerance (about 1.2e-4; ``control$tol`` is not passed on), so its bounds miss
the defining equation by up to 1.1e-5 in probability (evaluated in R by ``CompQuadForm::imhof``
at 1e-13), while evsynth's solve it to 1e-8 or better: a deliberate difference, tested both
ways below.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import evsynth
from fixture_data import load_r_group

REF = Path(__file__).resolve().parents[1] / "reference"


@cache
def _group() -> dict:
    return load_r_group(REF / "uni_extra", "genqm_metafor", na=None)


def _weights(spec: str, d: pd.DataFrame) -> np.ndarray:
    v = d["vi"].to_numpy()
    return {"iv01": 1 / (v + 0.1), "isd": 1 / np.sqrt(v), "unit": np.ones_like(v)}[spec]


CASES = [pytest.param(c, id=c["id"]) for c in _group()["cases"]]


def test_fixture_ran_metafor_with_compquadform():
    g = _group()
    assert g["compquadform_version"] and len(g["cases"]) >= 10


@pytest.mark.parametrize("case", CASES)
def test_genqm_matches_metafor(case):
    d = pd.read_csv(REF / "data" / case["dataset"])
    a = case["args"]
    kw = {"mods": a["mods"], "data": d} if a.get("mods") else {}
    w = _weights(a["weights"], d)
    r = case["result"]
    fit = evsynth.meta(d["yi"].to_numpy(), d["vi"].to_numpy(), method="GENQM", weights=w, **kw)
    assert_allclose(fit.tau2, r["tau2"], rtol=1e-9, atol=1e-12, err_msg=case["id"])
    assert_allclose(fit.beta, r["beta"], rtol=1e-9, atol=1e-12, err_msg=case["id"])
    assert_allclose(fit.se, r["se"], rtol=1e-9, err_msg=case["id"])
    # Q, its p-value and I^2/H^2 do not involve the quadratic-form tail: tight
    assert_allclose(fit.QE, r["QE"], rtol=1e-10, err_msg=case["id"])
    assert_allclose(fit.QEp, r["QEp"], rtol=1e-8, err_msg=case["id"])
    assert_allclose(fit.I2, r["I2"], rtol=1e-9, atol=1e-10, err_msg=case["id"])


@pytest.mark.parametrize("case", CASES)
def test_genq_ci_matches_metafor(case):
    r = case["result"]
    if r["genq_ci"] is None:
        pytest.skip("metafor gave no GENQ CI")
    d = pd.read_csv(REF / "data" / case["dataset"])
    a = case["args"]
    kw = {"mods": a["mods"], "data": d} if a.get("mods") else {}
    fit = evsynth.meta(d["yi"].to_numpy(), d["vi"].to_numpy(), method="GENQ",
                       weights=_weights(a["weights"], d), **kw)
    assert_allclose(fit.tau2, r["genq_tau2"], rtol=1e-10, atol=1e-12)
    f = fit.confint(type="GENQ").to_frame()
    est, lb, ub = r["genq_ci"]
    # metafor's bounds: uniroot() at its default tolerance (about 1.2e-4 in tau^2)
    assert_allclose(f.loc["tau2", "ci_lb"], lb, rtol=5e-4, atol=1e-7, err_msg=case["id"])
    assert_allclose(f.loc["tau2", "ci_ub"], ub, rtol=5e-4, atol=1e-7, err_msg=case["id"])
    _, ilb, iub = r["genq_ci_I2"]
    assert_allclose(f.loc["I2", "ci_lb"], ilb, rtol=5e-4, atol=1e-5, err_msg=case["id"])
    assert_allclose(f.loc["I2", "ci_ub"], iub, rtol=5e-4, atol=1e-5, err_msg=case["id"])
    if r.get("tail_at_ci") is None:
        return
    # Where they differ, evsynth's bounds solve the defining equation
    # P(Q_a(tau^2) > Q_obs) = 0.025 / 0.975 (Jackson 2013, eq. 6) more closely than metafor's,
    # whose tail probabilities were evaluated in R by CompQuadForm::imhof at 1e-13.
    from evsynth.models.heterogeneity import qf_sf
    from evsynth.models.kernels import genq_lambdas

    w = _weights(a["weights"], d)
    X = fit.model_matrix
    beta_w = np.linalg.lstsq(X * np.sqrt(w)[:, None], fit.yi * np.sqrt(w), rcond=None)[0]
    Q = float(np.sum(w * (fit.yi - X @ beta_w) ** 2))
    for bound, target, theirs in ((f.loc["tau2", "ci_lb"], 0.025, r["tail_at_ci"][0]),
                                  (f.loc["tau2", "ci_ub"], 0.975, r["tail_at_ci"][1])):
        ours = qf_sf(Q, genq_lambdas(fit.design, w, float(bound)))
        assert abs(ours - target) <= max(1e-8, abs(theirs - target)), (case["id"], ours, theirs)
