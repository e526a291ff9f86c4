"""rstandard, rstudent, fitted and residuals (metafor rstandard.rma.uni, rstudent.rma.uni,
residuals.rma, fitted.rma, rstandard.rma.mh / .rma.peto, rstudent.rma.mh / .rma.peto).

Reference values: tests/reference/diag_extra_fixtures.R (metafor 3.8.1, tight control) on
dat.bcg, dat.hackshaw1998 and dat.bangertdrowns2004. Independent checks: the residuals of the
BCG meta-regression on absolute latitude satisfy the textbook identities (the marginal
residuals are orthogonal to X in the W metric; Pearson residuals of an equal-effects model
square-sum to Cochran's Q: Viechtbauer 2010, J Stat Softw 36(3), Section 3.2), and the
studentised deleted residuals equal the ones of explicit leave-one-out refits.
"""

from __future__ import annotations

import json
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

REF = Path(__file__).resolve().parents[1] / "reference" / "diag_extra"
RTOL = 1e-7


@cache
def load_cases(group: str) -> list[dict]:
    """The cases of one fixture group (tests/reference/diag_extra/<group>.json)."""
    with open(REF / f"{group}.json", encoding="utf-8") as fh:
        return json.load(fh)["cases"]


@cache
def dataset(name: str) -> pd.DataFrame:
    """A dataset written by the fixture script."""
    return pd.read_csv(REF / f"data_{name}.csv")


def r_formula(mods: str) -> str:
    """An R moderator formula in formulaic's spelling (factor(x) -> C(x))."""
    return "~ " + mods.replace("factor(", "C(")


def fit_case(case: dict, **extra):
    """The meta() fit of a fixture case (rows with missing moderators dropped, as metafor)."""
    d = dataset(case["data"])
    if case.get("rows"):
        d = d.iloc[np.asarray(case["rows"]) - 1]
    mods = case.get("mods")
    if mods:
        cols = [c for c in d.columns if c in mods.replace("factor(", "").replace(")", "")
                .replace("+", " ").split()]
        d = d.dropna(subset=["yi", "vi", *cols]).reset_index(drop=True)
    kw = dict(method=case["method"], test=case.get("test", "z"), data=d, slab="study",
              control={"tol": 1e-12, "maxiter": 1000})
    if mods:
        kw["mods"] = r_formula(mods)
    kw.update(extra)
    return evsynth.meta("yi", "vi", **kw)


def num(x) -> np.ndarray:
    """JSON values (with "NA") as a float array."""
    if not isinstance(x, list):
        x = [x]
    return np.array([np.nan if v in ("NA", None) else v for v in x], dtype=float)


UNI = load_cases("residuals_uni")


@pytest.mark.parametrize("case", UNI, ids=lambda c: f"{c['data']}-{c['method']}-{c['test']}-"
                         f"{c['mods']}")
def test_rstandard_rstudent_fitted_match_metafor(case):
    fit = fit_case(case)
    for name, res in (("rstandard", fit.rstandard()),
                      ("rstandard_conditional", fit.rstandard(type="conditional")),
                      ("rstudent", fit.rstudent())):
        ref = case[name]
        for col in ("resid", "se", "z"):
            assert_allclose(getattr(res, col), num(ref[col]), rtol=1e-6, atol=1e-9,
                            err_msg=f"{name} {col}")
    assert_allclose(fit.fitted().value, num(case["fitted"]), rtol=RTOL, atol=1e-12)
    for kind, ref in case["residuals"].items():
        assert_allclose(fit.residuals(type=kind).value, num(ref), rtol=1e-6, atol=1e-9,
                        err_msg=kind)


MH = load_cases("residuals_mh")


@pytest.mark.parametrize("case", MH, ids=lambda c: f"{c['fun']}-{c['measure']}")
def test_mh_peto_residuals_match_metafor(case):
    d = dataset("bcg")
    tables = dict(ai=d.tpos, bi=d.tneg, ci=d.cpos, di=d.cneg, slab=d.study)
    fit = (evsynth.meta_peto(**tables) if case["fun"] == "rma.peto"
           else evsynth.meta_mh(case["measure"], **tables))
    for name in ("rstandard", "rstudent"):
        res = getattr(fit, name)()
        for col in ("resid", "se", "z"):
            assert_allclose(getattr(res, col), num(case[name][col]), rtol=1e-7, atol=1e-10,
                            err_msg=f"{name} {col}")
    assert_allclose(fit.fitted().value, num(case["fitted"]), rtol=1e-12)
    for kind, ref in case["residuals"].items():
        assert_allclose(fit.residuals(kind).value, num(ref), rtol=1e-7, atol=1e-10)
    with pytest.raises(InputError, match="Cholesky"):
        fit.residuals("cholesky")
    with pytest.raises(InputError, match="marginal residuals only"):
        fit.rstandard(type="conditional")


def test_identities_of_the_bcg_meta_regression():
    """Independent of metafor: X'W e = 0 for the marginal residuals of a weighted fit; the
    Pearson residuals of an equal-effects model square-sum to Q (Viechtbauer 2010, JSS 36(3),
    Sec. 3.2); rstudent equals explicit leave-one-out refits."""
    d = dataset("bcg")
    fit = evsynth.meta("yi", "vi", mods="~ ablat", data=d, method="REML")
    e = fit.residuals().value
    w = 1 / (fit.vi + fit.tau2)
    assert_allclose(fit.model_matrix.T @ (w * e), 0, atol=1e-10)
    ee = evsynth.meta("yi", "vi", mods="~ ablat", data=d, method="EE")
    assert_allclose(np.sum(ee.residuals("pearson").value ** 2), ee.QE, rtol=1e-10)
    assert_allclose(ee.residuals("cholesky").value, ee.residuals("pearson").value, rtol=1e-12)
    rs = fit.rstudent()
    for i in (0, 5, 12):
        keep = np.delete(np.arange(fit.k), i)
        sub = evsynth.meta(d.yi[keep], d.vi[keep], mods=d.ablat[keep].to_numpy(), method="REML")
        pred = sub.beta[0] + sub.beta[1] * d.ablat[i]
        xi = np.array([1.0, d.ablat[i]])
        se = np.sqrt(d.vi[i] + xi @ sub.vb @ xi + sub.tau2)
        assert_allclose(rs.resid[i], d.yi[i] - pred, rtol=1e-9)
        assert_allclose(rs.se[i], se, rtol=1e-9)


def test_results_contract_and_errors():
    d = dataset("bcg")
    fit = evsynth.meta("yi", "vi", data=d, slab="study")
    res = fit.rstandard()
    assert list(res.to_frame().columns) == ["slab", "resid", "se", "z"]
    assert "Marginal standardized residuals" in str(res.summary())
    json.dumps(res.to_dict(), allow_nan=False)
    json.dumps(fit.residuals("rstudent").to_dict(), allow_nan=False)
    assert fit.fitted().to_frame().shape == (fit.k, 2)
    assert res._repr_html_().startswith("<pre>") or "<pre>" in res._repr_html_()
    with pytest.raises(InputError, match="type must be one of"):
        fit.residuals("deviance")
    with pytest.raises(InputError, match="marginal' or 'conditional"):
        fit.rstandard(type="partial")
    one = evsynth.meta([0.1], [0.01])
    with pytest.raises(InputError, match="k = 1"):
        one.rstudent()
    for name in ("rstandard", "rstudent", "fitted", "residuals"):
        assert name in fit.supports()
        assert name in evsynth.meta_mh("OR", ai=d.tpos, bi=d.tneg, ci=d.cpos,
                                       di=d.cneg).supports()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(-2, 2), st.floats(0.01, 1)), min_size=3, max_size=12),
       st.sampled_from(["EE", "DL", "REML"]))
def test_property_residual_identities(rows, method):
    """For any data: response = y - fitted; z = resid / se; the conditional residuals are
    the marginal ones shrunk by v / (v + tau^2)."""
    y = np.array([r[0] for r in rows])
    v = np.array([r[1] for r in rows])
    fit = evsynth.meta(y, v, method=method)
    assert_allclose(fit.residuals().value + fit.fitted().value, y, atol=1e-12)
    m = fit.rstandard()
    c = fit.rstandard(type="conditional")
    assert_allclose(c.resid, m.resid * v / (v + fit.tau2), atol=1e-12)
    ok = m.se > 0
    assert_allclose(m.z[ok], m.resid[ok] / m.se[ok], rtol=1e-12)


def test_subgroups():
    """Each subgroup of a subgroup analysis is an rma.uni fit of its own studies (metafor:
    rma(..., subset=)), so its residuals and BLUPs are those of that fit; a subgroup of a
    common-tau^2 model is a view of the joint model and cannot be refitted (no rstudent)."""
    d = dataset("bcg")
    fit = evsynth.meta("yi", "vi", data=d, slab="study", subgroup="alloc")
    for name, sub in fit.subgroups.items():
        rows = d[d.alloc == name]
        alone = evsynth.meta(rows.yi.to_numpy(), rows.vi.to_numpy())
        assert_allclose(sub.rstandard().z, alone.rstandard().z, rtol=1e-10)
        assert_allclose(sub.rstudent().z, alone.rstudent().z, rtol=1e-8)
        assert_allclose(sub.blup().pred, alone.blup().pred, rtol=1e-10)
    common = evsynth.meta("yi", "vi", data=d, subgroup="alloc", subgroup_tau2="common")
    sub = next(iter(common.subgroups.values()))
    assert len(sub.rstandard()) == sub.k
    with pytest.raises(InputError, match="refitted"):
        sub.rstudent()


WEIGHTS = load_cases("residuals_weights")


@pytest.mark.parametrize("case", WEIGHTS, ids=lambda c: f"{c['method']}-{c['weights']}-"
                         f"{c['mods']}")
def test_residuals_with_user_weights_or_unweighted_match_metafor(case):
    """The hat matrix with W = diag(user weights) or W = I (metafor weights=, weighted=FALSE):
    marginal standardised residuals; Pearson and Cholesky residuals use M = diag(v + tau^2)."""
    d = dataset("bcg")
    kw = {"weights": 1 / np.sqrt(d.vi.to_numpy())} if case["weights"] == "user" else {
        "weighted": False}
    if case["mods"]:
        kw["mods"] = r_formula(case["mods"])
    fit = evsynth.meta("yi", "vi", data=d, method=case["method"],
                       control={"tol": 1e-12, "maxiter": 1000}, **kw)
    res = fit.rstandard()
    for col in ("resid", "se", "z"):
        assert_allclose(getattr(res, col), num(case["rstandard"][col]), rtol=1e-6, atol=1e-9)
    assert_allclose(fit.fitted().value, num(case["fitted"]), rtol=1e-7)
    for kind, ref in case["residuals"].items():
        assert_allclose(fit.residuals(kind).value, num(ref), rtol=1e-6, atol=1e-9)
    with pytest.raises(InputError, match="conditional residuals are not available"):
        fit.rstandard(type="conditional")
    with pytest.raises(InputError, match="user weights"):
        fit.blup()


@pytest.mark.parametrize("kind", ["marginal", "conditional"])
def test_study_fitted_exactly_has_no_standardised_residual(kind):
    """Study 'c' is alone in moderator level 1 (h_ii = 1): its residual and their SE are 0,
    and z = 0/0 is undefined. Rounding left a residual of ~1e-13 on effects ~90 over an SE of
    ~1e-15, which read as z = 107 (session 13 fuzz; metafor prints such noise too)."""
    yi = [90.1, 91.3, 89.7, 88.2, 92.4, 90.8]
    vi = [0.4, 0.3, 0.5, 0.2, 0.6, 0.35]
    x = [0, 0, 1, 0, 0, 0]
    fit = evsynth.meta(yi, vi, mods=x, method="REML")
    r = fit.rstandard(type=kind).to_frame()
    assert r["resid"].iat[2] == 0.0 and r["se"].iat[2] == 0.0 and np.isnan(r["z"].iat[2])
    others = r.drop(index=2)
    assert np.isfinite(others["z"]).all() and (others["se"] > 0).all()
