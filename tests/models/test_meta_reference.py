"""evsynth.meta against metafor 3.8.1 (fixtures written by tests/reference/rma_fixtures.R).

Agreement target: rtol 1e-6 (atol 1e-10 for values that may be 0, such as tau^2 at the boundary;
p-values: rtol 1e-6 or atol 1e-12). Deliberate differences from metafor are tested against an
independent computation and documented where they occur:

* models without an intercept: metafor 3.8.1 centres yi before computing QE and tau^2, which is
  wrong there; the fixtures for these models are plain matrix algebra in R (noint_bcg.json), and
  metafor's own (wrong) numbers are kept in the fixture and shown to differ.
* k = 1 with test "t"/"knha"/"adhoc": metafor silently switches to test "z" (with a warning);
  evsynth refuses (InputError), because the t distribution has no degrees of freedom.
* equal-effects models: metafor reports no prediction interval; evsynth's equals the CI.
* metafor cannot converge with threshold 1e-12 for DLIT on some data (hackshaw, k2, tiny, huge):
  there the fixture records the error, and evsynth's DLIT estimate is checked to be a fixed point
  of the DLIT update (metafor rma.uni, method "DLIT").
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import evsynth
from evsynth.errors import InputError
from evsynth.models.results import Summary
from fixture_data import load_r_group

REF = Path(__file__).resolve().parents[1] / "reference"
RMA = REF / "rma"
DATA = REF / "data"

RTOL = 1e-6
ATOL = 1e-10


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
@cache
def _group(name: str) -> dict:
    return load_r_group(RMA, name, na=None)


@cache
def _data(csv: str) -> pd.DataFrame:
    return pd.read_csv(DATA / csv)


def _cases(*names: str, status: str | None = "ok") -> list:
    out = []
    for name in names:
        for case in _group(name)["cases"]:
            if status is None or case["status"] == status:
                out.append(pytest.param(case, id=case["id"]))
    return out


UNI = sorted(p.stem for p in RMA.glob("uni_*.json"))


def _isnull(x) -> bool:
    if x is None:
        return True
    arr = np.asarray(x, dtype=float)
    return bool(np.all(np.isnan(arr)))


def close(ours, ref, what: str, *, rtol: float = RTOL, atol: float = ATOL) -> None:
    """assert_allclose naming the case and field; JSON null (NA) must be NaN/None on our side."""
    if ref is None:
        assert _isnull(ours), f"{what}: metafor gives NA, evsynth gives {ours!r}"
        return
    if isinstance(ref, list):
        ref = [np.nan if r is None else r for r in ref]
    ours_arr = np.asarray(ours, dtype=float)
    ref_arr = np.asarray(ref, dtype=float)
    if ours_arr.size == ref_arr.size:
        ours_arr = ours_arr.reshape(ref_arr.shape)
    assert_allclose(ours_arr, ref_arr, rtol=rtol, atol=atol, err_msg=what, equal_nan=True)


def close_p(ours, ref, what: str) -> None:
    close(ours, ref, what, rtol=RTOL, atol=1e-12)


def tau2_atol(df: pd.DataFrame) -> float:
    """Absolute tolerance for quantities on the variance scale: 1e-10, scaled down for data with
    tiny sampling variances (vi ~ 1e-8) so the comparison stays meaningful there."""
    return ATOL * min(1.0, float(np.median(df["vi"])))


def fit_args(case: dict) -> dict:
    a = case["args"]
    kw = {"method": a["method"], "test": a["test"], "level": a.get("level", 95)}
    if a.get("mods"):
        kw["mods"] = a["mods"]
    if a.get("btt") is not None:
        kw["btt"] = list(np.atleast_1d(a["btt"]))
    return kw


def fit_case(case: dict):
    df = _data(case["dataset"])
    return evsynth.meta("yi", "vi", data=df, **fit_args(case)), df


def check_fields(fit, r: dict, df: pd.DataFrame, what: str) -> None:
    """Compare every stored rma() output with the evsynth result."""
    t_atol = tau2_atol(df)
    assert fit.k == r["k"], f"{what}: k"
    assert fit.p == r["p"], f"{what}: p"
    # coefficient scale: yi may be huge (1e3) or the se tiny (1e-4); use atol relative to the data
    scale = max(1e-300, float(np.max(np.abs(df["yi"]))))
    b_atol = ATOL * min(1.0, scale)
    close(fit.beta, r["beta"], f"{what}: beta", atol=b_atol)
    close(fit.se, r["se"], f"{what}: se", atol=b_atol)
    close(fit.zval, r["zval"], f"{what}: zval", atol=1e-8)
    close_p(fit.pval, r["pval"], f"{what}: pval")
    close(fit.ci_lb, r["ci_lb"], f"{what}: ci_lb", atol=b_atol)
    close(fit.ci_ub, r["ci_ub"], f"{what}: ci_ub", atol=b_atol)
    close(fit.vb, r["vb"], f"{what}: vb", atol=b_atol**2)
    close(fit.tau2, r["tau2"], f"{what}: tau2", atol=t_atol)
    # |sqrt(a) - sqrt(b)| <= sqrt(|a - b|): metafor stops at tau^2 ~ 1e-13 for an estimate of 0
    close(fit.tau, r["tau"], f"{what}: tau", atol=math.sqrt(t_atol))
    close(fit.se_tau2, r["se_tau2"], f"{what}: se_tau2", atol=t_atol)
    close(fit.I2, r["I2"], f"{what}: I2", atol=1e-8)
    close(fit.H2, r["H2"], f"{what}: H2", atol=1e-10)
    close(fit.R2, r["R2"], f"{what}: R2", atol=1e-8)
    close(fit.QE, r["QE"], f"{what}: QE", atol=1e-8)
    close_p(fit.QEp, r["QEp"], f"{what}: QEp")
    close(fit.QM, r["QM"], f"{what}: QM", atol=1e-8)
    close_p(fit.QMp, r["QMp"], f"{what}: QMp")
    qmdf = list(np.atleast_1d(fit.QMdf))
    assert qmdf[0] == r["QMdf"][0], f"{what}: QMdf[0] {qmdf} vs {r['QMdf']}"
    if r["QMdf"][1] is not None:
        assert len(qmdf) > 1 and qmdf[1] == r["QMdf"][1], f"{what}: QMdf {qmdf} vs {r['QMdf']}"
    close(fit.weights, r["weights"], f"{what}: weights (%)", atol=1e-8)
    close(fit.ll, r["ll"], f"{what}: logLik", atol=1e-8)
    close(fit.AIC, r["AIC"], f"{what}: AIC", atol=1e-8)
    close(fit.BIC, r["BIC"], f"{what}: BIC", atol=1e-8)
    close(fit.AICc, r["AICc"], f"{what}: AICc", atol=1e-8)


def check_prediction(pr, ref: dict, what: str, fit=None, pi_type: str = "default",
                     level: float | None = None, scale: float = 1.0) -> None:
    """Compare a prediction with metafor's. metafor reports no prediction interval for
    equal-effects models; there ours must be pred +/- crit * se (tau^2 = 0), with crit from
    ``pi_type``: the CI's critical value ("default"), or t(k-p) ("t" and "riley": an EE model has
    no tau^2 parameter, so metafor's riley df = k - p - (parms - p) is k - p)."""
    from scipy import stats

    atol = ATOL * min(1.0, scale)
    for f in ("pred", "se", "ci_lb", "ci_ub"):
        close(getattr(pr, f), ref[f], f"{what}: {f}", atol=atol)
    if ref["pi_lb"] is None and fit is not None and fit.method in FIXED:
        lvl = (fit.level if level is None else level) / 100
        if pi_type == "default":
            lb, ub = pr.ci_lb, pr.ci_ub
        else:
            crit = stats.t.ppf(1 - (1 - lvl) / 2, max(fit.k - fit.p, 1))
            lb = np.asarray(pr.pred) - crit * np.asarray(pr.se)
            ub = np.asarray(pr.pred) + crit * np.asarray(pr.se)
        close(pr.pi_lb, lb, f"{what}: pi_lb (equal-effects: no PI in metafor)", atol=atol)
        close(pr.pi_ub, ub, f"{what}: pi_ub (equal-effects: no PI in metafor)", atol=atol)
        return
    for f in ("pi_lb", "pi_ub"):
        close(getattr(pr, f), ref[f], f"{what}: {f}", atol=atol)


FIXED = ("EE", "FE", "CE")


# ------------------------------------------------------------------------------------------------
# intercept-only models: every method x test x dataset
# ------------------------------------------------------------------------------------------------
def _uni_ok() -> list:
    out = []
    for name in UNI:
        for case in _group(name)["cases"]:
            if case["status"] == "ok" and case["result"]["test"] == case["args"]["test"]:
                out.append(pytest.param(case, id=case["id"]))
    return out


def _uni_switched() -> list:
    """Cases where metafor switched the test to "z" (k = 1)."""
    out = []
    for name in UNI:
        for case in _group(name)["cases"]:
            if case["status"] == "ok" and case["result"]["test"] != case["args"]["test"]:
                out.append(pytest.param(case, id=case["id"]))
    return out


@pytest.mark.parametrize("case", _uni_ok())
def test_intercept_only_matches_metafor(case):
    fit, df = fit_case(case)
    check_fields(fit, case["result"], df, case["id"])


@pytest.mark.parametrize("case", [c for c in _uni_ok() if "predict" in c.values[0]])
def test_intercept_only_predictions_match_metafor(case):
    fit, df = fit_case(case)
    scale = float(np.max(np.abs(df["yi"])))
    preds = case["predict"]
    for pt in ("default", "t", "riley"):
        check_prediction(fit.predict(pi_type=pt), preds[pt], f"{case['id']} pi_type={pt}", fit,
                         pt, scale=scale)
    check_prediction(fit.predict(level=90), preds["level90"], f"{case['id']} level=90", fit,
                     level=90, scale=scale)
    if "exp" in preds:
        # metafor back-transforms the bounds; se is not reported (NA)
        pe = fit.predict(transf=np.exp)
        for f in ("pred", "ci_lb", "ci_ub"):
            close(getattr(pe, f), preds["exp"][f], f"{case['id']} transf=exp: {f}")
        assert _isnull(pe.se)
        if preds["exp"]["pi_lb"] is not None:
            close(pe.pi_lb, preds["exp"]["pi_lb"], f"{case['id']} transf=exp: pi_lb")
            close(pe.pi_ub, preds["exp"]["pi_ub"], f"{case['id']} transf=exp: pi_ub")


@pytest.mark.parametrize("case", _uni_switched())
def test_k1_t_based_tests_are_refused(case):
    """metafor: 'Setting argument test="z" since k=1.'; evsynth raises InputError instead."""
    assert case["result"]["k"] == 1
    assert any("since k=1" in w for w in case["warnings"])
    with pytest.raises(InputError, match="k"):
        fit_case(case)


def _dlit_fixed_point_residual(y, v, tau2):
    """DLIT update (metafor rma.uni, method "DLIT"): tau2 <- max(0, (Q(tau2) - (k-1)) / tr P)."""
    w = 1 / (v + tau2)
    mu = np.sum(w * y) / np.sum(w)
    Q = np.sum(w * (y - mu) ** 2)
    trP = np.sum(w) - np.sum(w**2) / np.sum(w)
    return max(0.0, (Q - (y.size - 1)) / trP) - tau2


@pytest.mark.parametrize("case", _cases(*UNI, status="error"))
def test_metafor_refused_cases(case):
    """metafor could not converge (recorded in the fixture): its DLIT iteration cycles. A fixed
    point of the DLIT update exists in (0, tau2_PM] whenever DL > 0 (the update is positive at 0
    and 0 at the PM root), so evsynth must either return it or refuse, never the last iterate."""
    assert "converge" in case["error"]
    assert case["args"]["method"] == "DLIT", "only DLIT is expected to fail in metafor here"
    try:
        fit, df = fit_case(case)
    except InputError:
        return
    y, v = df["yi"].to_numpy(), df["vi"].to_numpy()
    assert np.isfinite(fit.tau2) and fit.tau2 >= 0
    resid = _dlit_fixed_point_residual(y, v, fit.tau2)
    assert abs(resid) <= 1e-8 * max(fit.tau2, float(np.median(v))), (case["id"], fit.tau2, resid)
    assert np.all(np.isfinite(fit.beta)) and np.all(np.isfinite(fit.se))


def test_fixture_inventory():
    """Every method x test was run on every dataset (guard against a truncated fixture run)."""
    methods = {"EE", "FE", "DL", "REML", "ML", "PM", "EB", "HE", "SJ", "HS", "HSk", "DLIT", "SJIT",
               "PMM"}
    for name in UNI:
        grid = {(c["args"]["method"], c["args"]["test"]) for c in _group(name)["cases"]}
        assert {(m, t) for m in methods for t in ("z", "t", "knha", "adhoc")} <= grid, name
    assert len(UNI) >= 14


# ------------------------------------------------------------------------------------------------
# meta-regression
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", _cases("reg_bcg"))
def test_meta_regression_matches_metafor(case):
    fit, df = fit_case(case)
    check_fields(fit, case["result"], df, case["id"])


def _newmods(case) -> np.ndarray:
    n_mods = len(np.atleast_1d(case["args"]["mod_columns"]))
    return np.asarray(case["args"]["newmods"], dtype=float).reshape(-1, n_mods)


@pytest.mark.parametrize("case", [c for c in _cases("reg_bcg") if "predict_new" in c.values[0]])
def test_meta_regression_predictions_match_metafor(case):
    fit, df = fit_case(case)
    nm = _newmods(case)
    preds = case["predict_new"]
    for pt in ("default", "t", "riley"):
        check_prediction(fit.predict(nm, pi_type=pt), preds[pt], f"{case['id']} pi_type={pt}",
                         fit, pt)
    check_prediction(fit.predict(nm, level=90), preds["level90"], f"{case['id']} level=90", fit,
                     level=90)
    if "exp" in preds:
        pe = fit.predict(nm, transf=np.exp)
        for f in ("pred", "ci_lb", "ci_ub"):
            close(getattr(pe, f), preds["exp"][f], f"{case['id']} transf=exp: {f}")
        if preds["exp"]["pi_lb"] is not None:
            close(pe.pi_lb, preds["exp"]["pi_lb"], f"{case['id']} transf=exp: pi_lb")
            close(pe.pi_ub, preds["exp"]["pi_ub"], f"{case['id']} transf=exp: pi_ub")
    # newmods=None: fitted values for each study, as metafor's predict(res)
    check_prediction(fit.predict(), case["predict_fitted"], f"{case['id']} fitted", fit)


@pytest.mark.parametrize("case", [c for c in _cases("reg_bcg") if "anova_btt" in c.values[0]])
def test_wald_tests_match_metafor(case):
    fit, _ = fit_case(case)
    ref = case["anova_btt"]
    a = fit.anova(btt=ref["btt"])  # 0-based (R's btt = 3:4)
    close(a.QM, ref["QM"], f"{case['id']}: anova(btt) QM", atol=1e-8)
    close_p(a.QMp, ref["QMp"], f"{case['id']}: anova(btt) QMp")
    assert list(np.atleast_1d(a.QMdf)) == [d for d in ref["QMdf"] if d is not None]
    ref = case["anova_L"]
    a = fit.anova(L=np.asarray(ref["L"], dtype=float))
    close(a.QM, ref["QM"], f"{case['id']}: anova(L) QM", atol=1e-8)
    close_p(a.QMp, ref["QMp"], f"{case['id']}: anova(L) QMp")
    assert list(np.atleast_1d(a.QMdf)) == [d for d in ref["QMdf"] if d is not None]


def test_formula_and_array_moderators_agree():
    df = _data("rma_bcg.csv")
    f1 = evsynth.meta("yi", "vi", data=df, mods="~ ablat + year", method="REML")
    f2 = evsynth.meta(df["yi"], df["vi"], mods=df[["ablat", "year"]].to_numpy(), method="REML")
    assert_allclose(f1.beta, f2.beta, rtol=1e-12)
    assert_allclose(f1.tau2, f2.tau2, rtol=1e-12)


# ------------------------------------------------------------------------------------------------
# no-intercept models (deliberate difference from metafor 3.8.1)
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", _cases("noint_bcg"))
def test_no_intercept_models_match_matrix_algebra(case):
    df = _data(case["dataset"])
    a = case["args"]
    bcg = df.copy()
    for lvl in ("alternate", "random", "systematic"):
        bcg[f"alloc{lvl}"] = (bcg["alloc"] == lvl).astype(float)
    X = bcg[a["mod_columns"]].to_numpy(dtype=float)
    fit = evsynth.meta(bcg["yi"], bcg["vi"], mods=X, intercept=False, method=a["method"],
                       test=a["test"])
    r = case["result"]
    what = case["id"]
    assert fit.k == r["k"] and fit.p == r["p"]
    for f in ("beta", "se", "ci_lb", "ci_ub", "vb", "weights"):
        close(getattr(fit, f), r[f], f"{what}: {f}")
    close(fit.zval, r["zval"], f"{what}: zval", atol=1e-8)
    close_p(fit.pval, r["pval"], f"{what}: pval")
    close(fit.tau2, r["tau2"], f"{what}: tau2")
    for f in ("QE", "I2", "H2", "QM"):
        close(getattr(fit, f), r[f], f"{what}: {f}", atol=1e-8)
    close_p(fit.QEp, r["QEp"], f"{what}: QEp")
    close_p(fit.QMp, r["QMp"], f"{what}: QMp")
    assert list(np.atleast_1d(fit.QMdf))[: len(np.atleast_1d(r["QMdf"]))] == list(
        np.atleast_1d(r["QMdf"]))
    ll = r["ll_REML"] if a["method"] == "REML" else r["ll_ML"]
    close(fit.ll, ll, f"{what}: logLik", atol=1e-8)


def test_no_intercept_difference_from_metafor_is_documented():
    """metafor 3.8.1's QE for mods = ~ ablat - 1 (DL) is 209.69; y'Py is 48.70 (what we give)."""
    case = next(c for c in _group("noint_bcg")["cases"] if c["id"] == "bcg_noint_ablat_DL_z")
    assert case["metafor"]["QE"] == pytest.approx(209.69, abs=0.01)
    assert case["result"]["QE"] == pytest.approx(48.70, abs=0.01)
    df = _data("rma_bcg.csv")
    fit = evsynth.meta(df["yi"], df["vi"], mods=df[["ablat"]].to_numpy(), intercept=False,
                       method="DL")
    assert fit.QE == pytest.approx(case["result"]["QE"], rel=1e-10)
    # independent numpy check of y'Py with fixed-effects weights
    y, v, X = df["yi"].to_numpy(), df["vi"].to_numpy(), df[["ablat"]].to_numpy(dtype=float)
    W = np.diag(1 / v)
    P = W - W @ X @ np.linalg.solve(X.T @ W @ X, X.T @ W)
    assert fit.QE == pytest.approx(float(y @ P @ y), rel=1e-10)


# ------------------------------------------------------------------------------------------------
# confint (Q-profile), anova LRT, subgroups
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", _cases("confint"))
def test_confint_matches_metafor(case):
    fit, df = fit_case(case)
    ci = fit.confint(level=case["args"]["ci_level"])
    ref = case["confint"]
    t_atol = tau2_atol(df)
    for i, row in enumerate(ref["rows"]):
        atol = {"tau2": t_atol, "tau": 1e-8, "I2": 1e-6, "H2": 1e-8}[row]
        for col in ("estimate", "ci_lb", "ci_ub"):
            close(ci.to_frame().loc[row, col], ref[col][i], f"{case['id']}: {row} {col}", rtol=1e-6,
                  atol=atol)


@pytest.mark.parametrize("case", _cases("anova_lrt"))
def test_lrt_matches_metafor(case):
    df = _data(case["dataset"])
    a = case["args"]
    full = evsynth.meta("yi", "vi", data=df, mods=a["full"], method=a["method"])
    red = evsynth.meta("yi", "vi", data=df, mods=a["reduced"], method=a["method"])
    r = case["result"]
    for one, other in ((full, red), (red, full)):  # order does not matter
        res = one.anova(other)
        close(res.LRT, r["LRT"], f"{case['id']}: LRT", atol=1e-8)
        assert res.df == r["df"]
        close_p(res.pval, r["pval"], f"{case['id']}: pval")
        close(res.R2, r["R2"], f"{case['id']}: R2", atol=1e-8)
        close(res.ll_full, r["ll_full"], f"{case['id']}: ll full", atol=1e-8)
        close(res.ll_reduced, r["ll_reduced"], f"{case['id']}: ll reduced", atol=1e-8)


@pytest.mark.parametrize("case", [c for c in _cases("subgroups")
                                  if c.values[0]["args"]["subgroup_tau2"] == "separate"])
def test_subgroups_separate_match_metafor(case):
    df = _data(case["dataset"])
    a = case["args"]
    fit = evsynth.meta("yi", "vi", data=df, method=a["method"], test=a["test"],
                       subgroup=a["subgroup"], subgroup_tau2="separate")
    assert set(map(str, fit.subgroups)) == set(case["levels"])
    for lvl, sub in fit.subgroups.items():
        check_fields(sub, case["subgroups"][str(lvl)], df[df["alloc"] == lvl],
                     f"{case['id']} [{lvl}]")
    r = case["result"]
    close(fit.Q_between, r["Q_between"], f"{case['id']}: Q_between", atol=1e-8)
    assert fit.Q_between_df == r["Q_between_df"]
    close_p(fit.Q_between_p, r["Q_between_p"], f"{case['id']}: Q_between_p")
    q, dfq = r["Q_between"], r["Q_between_df"]  # I^2 of subgroup differences (Handbook 10.11.3.1)
    close(fit.Q_between_I2, max(0.0, 100 * (q - dfq) / q) if q > 0 else 0.0,
          f"{case['id']}: Q_between_I2", atol=1e-8)


@pytest.mark.parametrize("case", [c for c in _cases("subgroups")
                                  if c.values[0]["args"]["subgroup_tau2"] == "common"])
def test_subgroups_common_tau2_match_metafor(case):
    df = _data(case["dataset"])
    a = case["args"]
    fit = evsynth.meta("yi", "vi", data=df, method=a["method"], test=a["test"],
                       subgroup=a["subgroup"], subgroup_tau2="common")
    r = case["result"]
    close(fit.Q_between, r["Q_between"], f"{case['id']}: Q_between", atol=1e-8)
    assert fit.Q_between_df == r["Q_between_df"]
    close_p(fit.Q_between_p, r["Q_between_p"], f"{case['id']}: Q_between_p")
    q, dfq = r["Q_between"], r["Q_between_df"]  # I^2 of subgroup differences (Handbook 10.11.3.1)
    close(fit.Q_between_I2, max(0.0, 100 * (q - dfq) / q) if q > 0 else 0.0,
          f"{case['id']}: Q_between_I2", atol=1e-8)
    est = [fit.subgroups[lvl].beta[0] for lvl in case["levels"]]
    close(est, r["level_estimates"], f"{case['id']}: subgroup estimates")
    for lvl in case["levels"]:
        close(fit.subgroups[lvl].tau2, r["tau2"], f"{case['id']}: common tau2")


def test_result_has_the_contract_fields():
    df = _data("rma_bcg.csv")
    fit = evsynth.meta("yi", "vi", data=df, mods="~ ablat", method="REML", slab=df["study"])
    for name in ("k", "p", "beta", "se", "zval", "pval", "ci_lb", "ci_ub", "vb", "tau2", "se_tau2",
                 "tau", "I2", "H2", "R2", "QE", "QEp", "QM", "QMp", "QMdf", "weights", "ll",
                 "AIC", "BIC", "AICc", "method_info"):
        assert hasattr(fit, name), name
    for name in ("beta", "se", "zval", "pval", "ci_lb", "ci_ub"):
        assert np.shape(getattr(fit, name)) == (fit.p,), name
    assert np.shape(fit.vb) == (fit.p, fit.p)
    assert np.shape(fit.weights) == (fit.k,)
    assert isinstance(fit.method_info, dict) and fit.method_info
    d = fit.to_dict()
    json.dumps(d)  # JSON-ready
    assert d["tau2"] == pytest.approx(fit.tau2)
    text = fit.summary()
    assert isinstance(text, Summary) and "ablat" in text
    pr = fit.predict(np.array([[10.0], [50.0]]))
    assert np.shape(pr.pred) == (2,)
    single = evsynth.meta("yi", "vi", data=df).predict()
    assert isinstance(single.pred, float)


def test_i2_from_q_revman_subgroup_example():
    """RevMan prints 'Chi² = 3.05, df = 1 (P = 0.08), I² = 67.2%' for a test for subgroup
    differences; I^2 is 0 when Q <= df or Q = 0."""
    from evsynth.models.engine import i2_from_q

    assert round(i2_from_q(3.05, 1), 1) == 67.2
    assert i2_from_q(0.5, 1) == 0.0 and i2_from_q(0.0, 3) == 0.0
    assert np.allclose(i2_from_q(np.array([4.0, 0.0]), 2), [50.0, 0.0])
