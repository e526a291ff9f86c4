"""No silently wrong numbers from the models (issue 9, points 1-3 and the property test).

* ``predict(newmods=...)`` follows metafor's ``predict.rma`` rule for every shape (fixtures:
  tests/reference/predict_fixtures.R -> rma/predict_newmods.json); shapes that metafor flattens
  but that could be read two ways are an InputError saying what was expected.
* Extreme inputs: the rma.uni model is location/scale equivariant, so data near the limits of
  floating point are fitted on a rescaled problem; what cannot be represented is an InputError
  naming the study; booleans are not effect sizes, variances or counts.
* ``subgroup_tau2="common"``: every subgroup result is a complete intercept-only fit with the
  common tau^2 (fixtures: rma/subgroups_common.json, metafor ``rma(yi, vi, mods = ~ 0 +
  factor(alloc))`` and ``rma(yi, vi, tau2 = tau2_common, subset = level)``).
* A hypothesis property over meta, meta_mh, meta_peto, meta_batch and effect_size: finite
  results or InputError, never NaN/inf, never another exception type.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import evsynth
from evsynth.errors import InputError
from fixture_data import REFERENCE

RTOL = 1e-6
ATOL = 1e-10
_SPECIAL = {"NA": None, "NaN": math.nan, "Inf": math.inf, "-Inf": -math.inf}


def _decode(x):
    """jsonlite na = "string": NA -> None, NaN/Inf as floats."""
    if isinstance(x, dict):
        return {k: _decode(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_decode(v) for v in x]
    if isinstance(x, str) and x in _SPECIAL:
        return _SPECIAL[x]
    return x


def _group(name: str) -> dict:
    with open(REFERENCE / "rma" / f"{name}.json", encoding="utf-8") as fh:
        return _decode(json.load(fh))


BCG = pd.read_csv(REFERENCE / "data" / "rma_bcg.csv")
PREDICT = _group("predict_newmods")
COMMON = _group("subgroups_common")
FIXED = ("EE", "FE", "CE")


def _close(ours, ref, what: str, rtol: float = RTOL, atol: float = ATOL) -> float:
    """assert_allclose naming the case; returns the largest absolute difference."""
    ours = np.atleast_1d(np.asarray(ours, dtype=float))
    ref = np.atleast_1d(np.asarray(ref, dtype=float))
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} vs metafor {ref.shape}"
    assert_allclose(ours, ref, rtol=rtol, atol=atol, err_msg=what)
    return float(np.max(np.abs(ours - ref)))


# ------------------------------------------------------------------------------------------------
# 1. predict(newmods=...) against metafor
# ------------------------------------------------------------------------------------------------
def _fit_model(case: dict):
    spec = case["model"]
    kw = {"method": case["method"], "test": case["test"]}
    if spec["kind"] == "formula":
        return evsynth.meta("yi", "vi", data=BCG, mods=spec["mods"], **kw)
    if spec["kind"] == "array":
        return evsynth.meta(BCG["yi"], BCG["vi"], mods=BCG[spec["columns"]].to_numpy(),
                            intercept=spec["intercept"], **kw)
    if spec["kind"] == "frame":
        return evsynth.meta(BCG["yi"], BCG["vi"], mods=BCG[spec["columns"]],
                            intercept=spec["intercept"], **kw)
    return evsynth.meta(BCG["yi"], BCG["vi"], **kw)


def _newmods(case: dict):
    nm = case["newmods"]
    if nm["shape"] == "scalar":
        return nm["value"]
    if nm["shape"] == "vector":
        return list(nm["value"])
    if nm["shape"] == "matrix":
        return np.array(nm["value"], dtype=float)
    if nm["shape"] == "frame":
        return pd.DataFrame(nm["value"])
    return dict(nm["value"])  # dict of single values: one prediction


def _predict_cases(evsynth_does: str) -> list:
    return [pytest.param(c, id=c["id"]) for c in PREDICT["cases"] if c["evsynth"] == evsynth_does]


def check_prediction(pr, ref: dict, fit, what: str, pi_type: str) -> float:
    worst = 0.0
    for f in ("pred", "se", "ci_lb", "ci_ub"):
        worst = max(worst, _close(getattr(pr, f), ref[f], f"{what}: {f}"))
    if ref["pi_lb"] is None:  # equal-effects: metafor gives no PI; evsynth's default is the CI
        assert fit.method in FIXED, what
        if pi_type == "default":
            _close(pr.pi_lb, pr.ci_lb, f"{what}: pi_lb = ci_lb (equal effects)")
            _close(pr.pi_ub, pr.ci_ub, f"{what}: pi_ub = ci_ub (equal effects)")
        return worst
    for f in ("pi_lb", "pi_ub"):
        worst = max(worst, _close(getattr(pr, f), ref[f], f"{what}: {f}"))
    return worst


@pytest.mark.parametrize("case", _predict_cases("match"))
def test_predict_newmods_shapes_match_metafor(case):
    fit = _fit_model(case)
    assert_allclose(fit.tau2, case["tau2"], rtol=RTOL, atol=ATOL)
    assert_allclose(fit.beta, case["beta"], rtol=RTOL, atol=ATOL)
    kw = {} if case["intercept"] is None else {"intercept": case["intercept"]}
    for pt in ("default", "t", "riley"):
        pr = fit.predict(_newmods(case), pi_type=pt, **kw)
        check_prediction(pr, case["predict"][pt], fit, f"{case['id']} pi_type={pt}", pt)
    pr = fit.predict(_newmods(case), level=90, **kw)
    check_prediction(pr, case["predict"]["level90"], fit, f"{case['id']} level=90", "default")


@pytest.mark.parametrize("case", _predict_cases("InputError"))
def test_predict_newmods_ambiguous_or_wrong_shapes_are_refused(case):
    """Shapes metafor refuses (recorded error), or that it flattens although they could be read
    two ways (recorded output: evsynth refuses them; see predict_fixtures.R)."""
    fit = _fit_model(case)
    assert case["why"], case["id"]
    if case["status"] == "error":
        assert "newmods" in case["error"] or "moderator" in case["error"], case["error"]
    else:  # metafor flattened a matrix of a one-moderator model into one prediction per element
        assert np.size(case["predict"]["default"]["pred"]) == np.size(case["newmods"]["value"])
    with pytest.raises(InputError, match="expected") as err:
        fit.predict(_newmods(case))
    assert "newmods" in str(err.value), str(err.value)


def test_predict_fixture_inventory():
    """Every shape named in the issue is covered (guard against a truncated fixture run)."""
    ids = {c["id"] for c in PREDICT["cases"]}
    for needed in ("ablat_scalar", "ablat_vector", "ablat_year_vector", "ablat_year_matrix",
                   "ablat_year_intercept_column", "noint_ablat_vector", "noint_ablat_year_matrix",
                   "ablat_alloc_frame", "ablat_alloc_dict", "int_only_scalar"):
        assert needed in ids, needed
    assert len(PREDICT["cases"]) >= 30


def test_predict_two_values_with_one_moderator_are_two_predictions():
    """The report: newmods=[5, 10] on a one-moderator model gave one value (5 b0 + 10 b1)."""
    fit = evsynth.meta(BCG["yi"], BCG["vi"], mods=BCG["ablat"].to_numpy())
    pr = fit.predict(newmods=[5, 10])
    assert_allclose(pr.pred, fit.beta[0] + fit.beta[1] * np.array([5.0, 10.0]), rtol=1e-12)
    assert_allclose(fit.predict(newmods=np.array([[5.0], [10.0]])).pred, pr.pred, rtol=1e-15)
    assert_allclose(fit.predict(newmods=5).pred, pr.pred[0], rtol=1e-15)


@pytest.mark.parametrize("newmods, match", [
    ([[30, 1970, 1]], "expected 2 values"),
    ([30, 1970, 1], "vector of length 3"),
    (np.ones((2, 2, 2)), "shape"),
    ([], "empty"),
    (["a", "b"], "numbers only"),
    ([[30, np.nan]], "row 1, 'year' is nan"),
    ([[30, np.inf]], "finite"),
    (pd.DataFrame({"ablat": [30]}), "columns"),
])
def test_predict_newmods_errors_say_what_was_expected(newmods, match):
    fit = evsynth.meta(BCG["yi"], BCG["vi"], mods=BCG[["ablat", "year"]])
    with pytest.raises(InputError, match=match):
        fit.predict(newmods=newmods)


def test_predict_intercept_argument():
    fit = evsynth.meta(BCG["yi"], BCG["vi"], mods=BCG[["ablat"]].to_numpy())
    assert_allclose(fit.predict([10, 20], intercept=False).pred, fit.beta[1] * np.array([10, 20]),
                    rtol=1e-12)
    with pytest.raises(InputError, match="intercept=False needs newmods"):
        fit.predict(intercept=False)
    with pytest.raises(InputError, match="True or False"):
        fit.predict([10], intercept="no")
    noint = evsynth.meta(BCG["yi"], BCG["vi"], mods=BCG[["ablat"]].to_numpy(), intercept=False,
                         method="FE")
    with pytest.raises(InputError, match="no intercept"):
        noint.predict([10], intercept=True)
    assert_allclose(noint.predict([10], intercept=False).pred, noint.predict([10]).pred)


def test_predict_formula_new_data_checks():
    fit = evsynth.meta("yi", "vi", data=BCG, mods="~ ablat + C(alloc)")
    with pytest.raises(InputError, match="fit the formula"):  # formulaic would use the baseline
        fit.predict(pd.DataFrame({"ablat": [10], "alloc": ["quasi-random"]}))
    with pytest.raises(InputError, match="fit the formula"):  # formulaic would drop the row
        fit.predict(pd.DataFrame({"ablat": [10, np.nan], "alloc": ["random"] * 2}))
    with pytest.raises(InputError, match="fit the formula"):
        fit.predict({"ablat": 10})
    pr = fit.predict({"ablat": [10, 30], "alloc": ["random", "random"]})
    assert np.shape(pr.pred) == (2,)


# ------------------------------------------------------------------------------------------------
# 3. subgroups with a common tau^2: complete intercept-only fits
# ------------------------------------------------------------------------------------------------
def _element(ref: dict, j: int) -> dict:
    return {f: (None if ref[f] is None else np.atleast_1d(ref[f])[j]) for f in ref}


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in COMMON["cases"]])
def test_common_tau2_subgroups_match_metafor(case):
    a = case["args"]
    fit = evsynth.meta("yi", "vi", data=BCG, slab="study", method=a["method"], test=a["test"],
                       subgroup=a["subgroup"], subgroup_tau2="common")
    assert list(fit.subgroups) == case["levels"]
    total_qe = 0.0
    for j, lvl in enumerate(case["levels"]):
        sub, ref = fit.subgroups[lvl], case["fixed_tau2_fits"][lvl]
        what = f"{case['id']} [{lvl}]"
        # a complete intercept-only fit over this level's studies
        assert (sub.k, sub.p, sub.coef_names) == (ref["k"], 1, ["intrcpt"]), what
        assert sub.beta.shape == sub.se.shape == sub.ci_lb.shape == (1,), what
        assert sub.vb.shape == (1, 1) and sub._des.X.shape == (sub.k, 1), what
        assert np.all(sub._des.X == 1) and sub.yi.size == sub.k == len(sub.slab), what
        assert list(sub.slab) == list(BCG.loc[BCG["alloc"] == lvl, "study"]), what
        # the common tau^2 and the level's coefficient of rma(yi, vi, mods = ~ 0 + factor(alloc))
        _close(sub.tau2, case["tau2"], f"{what}: common tau2")
        if case["se_tau2"] is not None:
            _close(sub.se_tau2, case["se_tau2"], f"{what}: se_tau2")
        for f in ("beta", "se", "zval", "pval", "ci_lb", "ci_ub"):
            _close(getattr(sub, f), case["coef"][f][j], f"{what}: {f}")
        # the level's studies at the fixed common tau^2: rma(yi, vi, tau2 = ., subset = level)
        for f in ("QE", "QEp", "I2", "H2", "weights", "ll", "AIC", "BIC", "AICc"):
            _close(getattr(sub, f), ref[f], f"{what}: {f}", atol=1e-8)
        total_qe += sub.QE
        # predict(): metafor's predict(res, newmods = diag(3)) row for the level
        for pt in ("default", "t", "riley"):
            check_prediction(sub.predict(pi_type=pt), _element(case["predict"][pt], j), sub,
                             f"{what} pi_type={pt}", pt)
        check_prediction(sub.predict(level=90), _element(case["predict"]["level90"], j), sub,
                         f"{what} level=90", "default")
        json.dumps(sub.to_dict())
        assert f"k = {sub.k}" in str(sub.summary())
        with pytest.raises(InputError, match="no moderators"):
            sub.predict(newmods=[1])
    _close(total_qe, case["QE"], f"{case['id']}: the levels' QE add up to the common QE",
           atol=1e-8)


@pytest.mark.parametrize("method", ["REML", "ML", "DL"])
def test_common_tau2_subgroup_loglik_adds_up(method):
    """The levels' log-likelihoods at the common tau^2 add up to the common model's (the model
    matrix is block-diagonal: ML and REML likelihoods factor over the levels)."""
    fit = evsynth.meta("yi", "vi", data=BCG, method=method, subgroup="alloc",
                       subgroup_tau2="common")
    common = evsynth.meta("yi", "vi", data=BCG, method=method, mods="~ 0 + C(alloc)")
    _close(common.tau2, fit.subgroups["random"].tau2, "tau2")
    _close(sum(s.ll for s in fit.subgroups.values()), common.ll, "sum of logLik", atol=1e-9)


def test_common_tau2_subgroup_has_no_own_tau2_interval():
    fit = evsynth.meta("yi", "vi", data=BCG, subgroup="alloc", subgroup_tau2="common")
    with pytest.raises(InputError, match="common tau"):
        fit.subgroups["random"].confint()
    assert fit.subgroups["random"].anova().QMdf == 1


def test_common_tau2_single_study_level_and_knha():
    """A level with one study: k = 1, QE = 0, I^2 = 0, but the common tau^2 (not 0) and the
    common model's t quantiles."""
    y = np.array([0.1, 0.3, 0.5, 0.2, 0.4, 0.9])
    v = np.array([0.01, 0.02, 0.015, 0.03, 0.02, 0.05])
    fit = evsynth.meta(y, v, subgroup=["a", "a", "b", "b", "b", "c"], subgroup_tau2="common",
                       test="knha")
    c = fit.subgroups["c"]
    assert c.k == 1 and c.QE == 0 and c.I2 == 0 and c.tau2 == fit.subgroups["a"].tau2 > 0
    assert c.QMdf == [1, 3] and c.df == 3
    pr = c.predict()
    assert np.isfinite([pr.ci_lb, pr.ci_ub, pr.pi_lb, pr.pi_ub]).all()
    assert not any("tau^2 set to 0" in n for n in c.method_info["notes"])


# ------------------------------------------------------------------------------------------------
# 2. extreme inputs: rescaled where sound, otherwise an InputError naming the study
# ------------------------------------------------------------------------------------------------
UNI_BCG = {c["id"]: c for c in _group("uni_bcg")["cases"] if c["status"] == "ok"}


@pytest.mark.parametrize("factor", [2.0**500, 2.0**-500, 1e150, 1e-150, 1e-12])
@pytest.mark.parametrize("case_id", ["bcg_REML_z", "bcg_ML_knha", "bcg_DL_z", "bcg_PM_t",
                                     "bcg_HE_z", "bcg_SJ_adhoc", "bcg_EB_z", "bcg_PMM_z",
                                     "bcg_HSk_z", "bcg_DLIT_z", "bcg_SJIT_z", "bcg_FE_knha"])
def test_rescaled_data_match_metafor_on_the_original_scale(case_id, factor):
    """y -> c y, v -> c^2 v: beta c, tau^2 c^2, the same z, Q, I^2, p; logLik - n log c
    (n = k, or k - p for REML). Before, bcg x 1e150 gave a NaN estimate and tau^2 = inf."""
    case = UNI_BCG[case_id]
    r = case["result"]
    fit = evsynth.meta(BCG["yi"] * factor, BCG["vi"] * factor**2, method=r["method"],
                       test=r["test"])
    what = f"{case_id} x {factor:g}"
    _close(fit.beta / factor, r["beta"], f"{what}: beta")
    _close(fit.se / factor, r["se"], f"{what}: se")
    _close(fit.ci_lb / factor, r["ci_lb"], f"{what}: ci_lb")
    _close(fit.ci_ub / factor, r["ci_ub"], f"{what}: ci_ub")
    _close(fit.tau2 / factor**2, r["tau2"], f"{what}: tau2")
    for f in ("zval", "pval", "QE", "I2", "H2"):
        _close(getattr(fit, f), r[f], f"{what}: {f}", atol=1e-8)
    n_ll = fit.k - (fit.p if fit.method == "REML" else 0)
    _close(fit.ll + n_ll * math.log(factor), r["ll"], f"{what}: logLik", atol=1e-7)
    pr = fit.predict()
    assert np.isfinite([pr.ci_lb, pr.ci_ub, pr.pi_lb, pr.pi_ub]).all()


def test_effects_near_1e300_that_floating_point_cannot_hold_are_refused():
    """The issue's example: effects 1e300 apart with variances of 1 imply tau^2 ~ 1e600."""
    with pytest.raises(InputError, match=r"study 'B' \(row 2\).*standard errors"):
        evsynth.meta([1e300, -2e300, 3e300], [1, 2, 3], slab=["A", "B", "C"])
    for method in ("FE", "DL", "REML"):
        with pytest.raises(InputError, match="floating-point range"):
            evsynth.meta([1e300, -2e300, 3e300], [1, 2, 3], method=method)


def test_effects_near_1e300_are_fitted_when_floating_point_can_hold_the_result():
    """Equal effects near 1e300 (Q = 0) or a single study: the estimate is 1e300-ish, the SE
    and CI finite; equal-effects weights of variances 1e300 apart are not."""
    for method in ("REML", "DL", "FE"):
        fit = evsynth.meta([1e300, 1e300, 1e300], [1, 2, 3], method=method)
        assert fit.beta[0] == 1e300 and fit.tau2 == 0 and fit.QE == 0, method
        assert np.isfinite([fit.se[0], fit.ci_lb[0], fit.ci_ub[0], fit.zval[0]]).all()
    one = evsynth.meta([-1.7e308], [1e300])
    assert one.beta[0] == -1.7e308 and np.isfinite(one.ci_lb[0])
    big = evsynth.meta([1e150, 3e150, -2e150, 5e149], [1e300, 2e300, 3e300, 1e300])
    unit = evsynth.meta([1, 3, -2, 0.5], [1, 2, 3, 1])
    assert_allclose(big.beta / 1e150, unit.beta, rtol=1e-12)
    assert_allclose(big.tau2 / 1e300, unit.tau2, rtol=1e-9)


def test_identical_effects_far_from_zero_have_no_heterogeneity():
    """Rounding of the mean of effects 1e99 SEs from 0 showed up as Q = 1e165 and tau^2 = 1e209;
    the effects are centred first (location equivariance)."""
    for method in ("REML", "DL", "PM", "HE", "FE"):
        fit = evsynth.meta([-9.482007609948317e198] * 3, [2.4e200, 2.4e200, 1e200],
                           method=method)
        assert fit.QE == 0 and fit.tau2 == 0 and fit.I2 == 0, method
        assert fit.beta[0] == -9.482007609948317e198 and np.isfinite(fit.QM)
    fit = evsynth.meta(1e12 + np.array([0.1, 0.3, -0.2, 0.25]), [1e-4, 2e-4, 1e-4, 3e-4])
    ref = evsynth.meta(np.array([0.1, 0.3, -0.2, 0.25]), [1e-4, 2e-4, 1e-4, 3e-4])
    assert_allclose(fit.tau2, ref.tau2, rtol=1e-4)  # 1e12 + 0.1 keeps ~4 digits of 0.1
    assert_allclose(fit.beta - 1e12, ref.beta, atol=1e-4)


def test_tiny_scale_data_are_resolved():
    """SDs ~ 1e-13: tau^2 ~ 1e-26 is below the absolute part of the stopping rule; fitted on the
    rescaled data it equals the unit-scale fit (found by the equivariance property below)."""
    y = np.array([0.69, -0.12, 0.84, 0.33, -0.41])
    v = np.array([0.25, 0.12, 0.4, 0.33, 0.18])
    for method in ("REML", "PM", "ML", "PMM", "EB"):
        ref = evsynth.meta(y, v, method=method)
        fit = evsynth.meta(y * 1e-13, v * 1e-26, method=method)
        assert_allclose(fit.tau2 * 1e26, ref.tau2, rtol=1e-8, err_msg=method)
        assert_allclose(fit.beta * 1e13, ref.beta, rtol=1e-8, err_msg=method)


@pytest.mark.parametrize("vi, match", [
    ([0.1, 1e-320, 0.2], r"study 'B' \(row 2\): field 'vi' is 1e-320, below the smallest"),
    ([1e-250, 0.1, 1e10], r"study 'A' \(row 1\).*times smaller than that of study 'C'"),
])
def test_variances_floating_point_cannot_weight_are_refused(vi, match):
    with pytest.raises(InputError, match=match):
        evsynth.meta([0.1, 0.2, 0.3], vi, slab=["A", "B", "C"])


def test_meta_batch_scales_per_group_and_names_row_and_group():
    df = pd.DataFrame({"g": ["a", "b"] * 4,
                       "yi": [0.1, 1e150, 0.3, 3e150, -0.2, -1e150, 0.25, 2e150],
                       "vi": [0.01, 1e298, 0.02, 2e298, 0.015, 1e298, 0.03, 4e298]})
    res = evsynth.meta_batch(df, "g").to_frame()
    a = evsynth.meta(df.yi[df.g == "a"], df.vi[df.g == "a"])
    b = evsynth.meta(df.yi[df.g == "b"] / 1e150, df.vi[df.g == "b"] / 1e300)
    assert_allclose(res["estimate"], [a.beta[0], b.beta[0] * 1e150], rtol=1e-10)
    assert_allclose(res["tau2"], [a.tau2, b.tau2 * 1e300], rtol=1e-8)
    bad = df.assign(yi=[0.1, 1e300, 0.3, -2e300, 0.2, 3e300, 0.25, 1e300],
                    vi=[0.01, 1, 0.02, 2, 0.015, 3, 0.03, 1])
    with pytest.raises(InputError, match=r"meta_batch: row \d \(group \{'g': 'b'\}\)"):
        evsynth.meta_batch(bad, "g")


@pytest.mark.parametrize("call, field", [
    (lambda: evsynth.meta(yi=[True, False, True], vi=[0.1, 0.2, 0.3]), "yi"),
    (lambda: evsynth.meta(yi=[0.1, 0.2, 0.3], vi=[True, True, True]), "vi"),
    (lambda: evsynth.meta(yi=np.array([True, False]), vi=[0.1, 0.2]), "yi"),
    (lambda: evsynth.effect_size("OR", ai=[True, 3], bi=[5, 6], ci=[1, 2], di=[7, 8]), "ai"),
    (lambda: evsynth.effect_size("MD", m1i=[1.0], m2i=[0.5], sd1i=[1.0], sd2i=[1.0],
                                 n1i=[np.True_], n2i=[10]), "n1i"),
    (lambda: evsynth.meta_mh("OR", ai=[True, False], bi=[5, 6], ci=[1, 2], di=[7, 8]), "ai"),
    (lambda: evsynth.meta_peto(ai=[1, 2], bi=[5, 6], ci=[1, 2], di=np.array([True, True])),
     "di"),
    (lambda: evsynth.meta_batch(pd.DataFrame({"g": [1, 1], "yi": [True, False],
                                              "vi": [0.1, 0.2]}), "g"), "yi"),
])
def test_booleans_are_not_effect_sizes_variances_or_counts(call, field):
    with pytest.raises(InputError, match=f"'{field}'.*boolean"):
        call()


def test_counts_a_double_cannot_hold_and_overflowing_tables_are_refused():
    with pytest.raises(InputError, match=r"field 'bi' is .*<= 2\^53"):
        evsynth.meta_mh("OR", ai=[1, 2], bi=[1e17, 6], ci=[1, 2], di=[7, 8])
    with pytest.raises(InputError, match="field 't2i' is 1e-300.*not finite"):
        evsynth.meta_mh("IRD", x1i=[3, 5], x2i=[4, 2], t1i=[100, 120], t2i=[1e-300, 90])


# ------------------------------------------------------------------------------------------------
# properties: finite results or InputError, for any input (hypothesis)
# ------------------------------------------------------------------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_MAG = st.builds(lambda m, e, sign: sign * m * 10.0**e, st.floats(1, 9.99),
                 st.integers(-300, 299), st.sampled_from([1.0, -1.0]))
_SPECIAL_VALUES = st.sampled_from([0.0, 1e300, -1e300, 1e-300, 5e-324, 1.7e308, -1.7e308, 0.5])
#: any number: extreme floats of both signs, ints, booleans
NUMBER = st.one_of(_MAG, st.integers(-10**6, 10**6), st.booleans(), _SPECIAL_VALUES)
#: non-negative numbers (variances, counts), with the same extremes
POSITIVE = st.one_of(_MAG.map(abs), st.integers(0, 10**6), st.integers(0, 10**18), st.booleans(),
                     _SPECIAL_VALUES.map(abs))
METHODS = ["REML", "ML", "DL", "PM", "EB", "HE", "SJ", "FE", "DLIT", "SJIT", "HS", "HSk", "PMM"]


def _finite(*values) -> bool:
    return all(np.all(np.isfinite(np.asarray(v, dtype=float))) for v in values)


def _studies(k_min: int = 1, k_max: int = 6):
    return st.integers(k_min, k_max).flatmap(lambda k: st.tuples(
        st.lists(NUMBER, min_size=k, max_size=k), st.lists(POSITIVE, min_size=k, max_size=k)))


@settings(max_examples=300, deadline=None)
@given(_studies(), st.sampled_from(METHODS), st.sampled_from(["z", "knha"]))
def test_meta_gives_finite_results_or_input_error(studies, method, test):
    yi, vi = studies
    try:
        fit = evsynth.meta(yi, vi, method=method, test=test)
    except InputError:
        return
    pr = fit.predict()
    assert _finite(fit.beta, fit.se, fit.tau2, fit.ci_lb, fit.ci_ub, fit.QE, fit.I2,
                   pr.ci_lb, pr.ci_ub, pr.pi_lb, pr.pi_ub), (yi, vi, method, test)


_TABLE = st.lists(st.one_of(st.integers(0, 60), POSITIVE), min_size=4, max_size=4)


@pytest.mark.filterwarnings("ignore:.*not a whole number:UserWarning")
@settings(max_examples=300, deadline=None)
@given(st.lists(_TABLE, min_size=1, max_size=5),
       st.sampled_from(["OR", "RR", "RD", "PETO", "IRR", "IRD"]))
def test_meta_mh_and_peto_give_finite_results_or_input_error(tables, measure):
    a, b, c, d = (list(col) for col in zip(*tables, strict=True))
    try:
        if measure == "PETO":
            fit = evsynth.meta_peto(a, b, c, d)
        elif measure in ("IRR", "IRD"):
            fit = evsynth.meta_mh(measure, x1i=a, x2i=b, t1i=c, t2i=d)
        else:
            fit = evsynth.meta_mh(measure, a, b, c, d)
    except InputError:
        return
    assert _finite(fit.beta, fit.se, fit.ci_lb, fit.ci_ub, fit.QE), (tables, measure)
    if fit.estimate_exp is not None:
        assert _finite(fit.estimate_exp, fit.ci_lb_exp, fit.ci_ub_exp), (tables, measure)


@settings(max_examples=80, deadline=None)
@given(_studies(2, 8), st.data(), st.sampled_from(["REML", "DL", "FE", "PM"]),
       st.sampled_from(["z", "knha"]))
def test_meta_batch_gives_finite_results_or_input_error(studies, data, method, test):
    yi, vi = studies
    groups = data.draw(st.lists(st.sampled_from("ab"), min_size=len(yi), max_size=len(yi)))
    try:
        res = evsynth.meta_batch(pd.DataFrame({"g": groups, "yi": yi, "vi": vi}), "g",
                                 method=method, test=test).to_frame()
    except InputError:
        return
    assert _finite(res["estimate"], res["se"], res["tau2"], res["QE"])
    # a group with k = 1 has no t quantile: its CI is undefined by design, with a note
    defined = (res["k"] > 1) | (test == "z")
    assert _finite(res["ci_lb"][defined], res["ci_ub"][defined], res["pi_lb"][defined])
    assert (res["note"][~defined] != "").all()


_ES_ARGS = {"MD": ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"),
            "SMD": ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"),
            "ROM": ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"),
            "OR": ("ai", "bi", "ci", "di"), "RR": ("ai", "bi", "ci", "di"),
            "RD": ("ai", "bi", "ci", "di"), "PETO": ("ai", "bi", "ci", "di"),
            "MN": ("mi", "sdi", "ni"), "COR": ("ri", "ni"), "ZCOR": ("ri", "ni"),
            "PLO": ("xi", "ni"), "PR": ("xi", "ni"), "GEN": ("yi", "vi"),
            "IRR": ("x1i", "x2i", "t1i", "t2i"), "IRLN": ("xi", "ti")}


@pytest.mark.filterwarnings("ignore:.*not a whole number:UserWarning")
@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(_ES_ARGS)), st.integers(1, 3), st.data())
def test_effect_size_gives_finite_values_or_a_noted_gap_or_input_error(measure, k, data):
    """effect_size, like metafor's escalc, returns NaN for a study whose effect is undefined,
    always with the reason in ``note``; never an infinite value or a negative variance."""
    columns = {name: data.draw(st.lists(st.one_of(NUMBER, POSITIVE), min_size=k, max_size=k))
               for name in _ES_ARGS[measure]}
    try:
        res = evsynth.effect_size(measure, **columns)
    except InputError:
        return
    y, v = res["yi"].to_numpy(), res["vi"].to_numpy()
    assert not (np.isinf(y).any() or np.isinf(v).any()), (measure, columns)
    gap = np.isnan(y) | np.isnan(v)
    assert (res["note"][gap] != "").all(), (measure, columns)
    assert (v[~np.isnan(v)] >= 0).all(), (measure, columns)


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 8).flatmap(lambda k: st.tuples(
           st.lists(st.floats(-3, 3), min_size=k, max_size=k),
           st.lists(st.floats(0.01, 2), min_size=k, max_size=k))),
       st.integers(-150, 150), st.integers(-100, 100), st.sampled_from(METHODS),
       st.sampled_from(["z", "knha"]))
def test_meta_is_scale_and_location_equivariant_over_the_float_range(studies, e, shift, method,
                                                                       test):
    """y -> c (y + d), v -> c^2 v gives c (beta + d), c^2 tau^2 and the same Q for c = 10^e
    from 1e-150 to 1e150 (Viechtbauer 2010): no silently wrong numbers at any scale."""
    y, v = np.array(studies[0]), np.array(studies[1])
    c = 10.0**e
    try:
        ref = evsynth.meta(y, v, method=method, test=test)
    except InputError:
        return
    fit = evsynth.meta((y + shift) * c, v * c * c, method=method, test=test)
    tol = 1e-7 * (1 + abs(shift))  # the shifted input itself is rounded at ~1e-16 |shift|
    assert abs(fit.beta[0] / c - shift - ref.beta[0]) <= tol
    assert_allclose(fit.se[0] / c, ref.se[0], rtol=1e-6 * (1 + abs(shift)))
    assert abs(fit.tau2 / c**2 - ref.tau2) <= tol * max(ref.tau2, float(np.mean(v)))
    assert abs(fit.QE - ref.QE) <= tol * (1 + ref.QE)


def test_weights_too_unequal_for_tr_p_are_refused():
    """tr(P) = sum w - sum w^2 / sum w cancels to <= 0 when one weight is ~1e174 times the
    other (found by hypothesis: DL gave tau^2 = 1.2e142 and I^2 = inf); an InputError names both
    studies instead of a meaningless tau^2."""
    with pytest.raises(evsynth.InputError, match="row 2: its sampling variance.*row 1"):
        evsynth.meta([8.744295591576398e-278, 0.0], [1e300, 1.90234375e126], method="DL")
