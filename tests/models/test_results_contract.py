"""The results contract, checked on every fitted model type (evsynth.models.results).

Every fitted model has k, estimate (one-coefficient models), beta/se/zval/pval/ci_lb/ci_ub as
1-D arrays, level in percent, method_info; summary() returns a Summary that prints only when
printed and renders in Jupyter; to_dict() is JSON-safe (no NaN/inf: null and "Inf"/"-Inf");
to_frame() is a tidy DataFrame. A batch result follows the same contract per row.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import evsynth
from evsynth.models.results import FittedModel, Summary, to_jsonable

BCG = pd.read_csv(__import__("pathlib").Path(__file__).parents[2] / "examples" / "bcg.csv")
ES = evsynth.effect_size("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=BCG,
                         slab="study")
DATA = BCG.join(ES[["yi", "vi"]])


def _fits() -> dict:
    kw = {"ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg", "data": BCG, "slab": "study"}
    return {
        "meta_REML": lambda: evsynth.meta(ES["yi"], ES["vi"], slab=ES["slab"]),
        "meta_FE_knha": lambda: evsynth.meta(ES["yi"], ES["vi"], method="FE", test="knha"),
        "meta_regression": lambda: evsynth.meta("yi", "vi", data=DATA, mods="~ ablat"),
        "meta_subgroups": lambda: evsynth.meta("yi", "vi", data=DATA, subgroup="alloc"),
        "meta_weights_GENQ": lambda: evsynth.meta("yi", "vi", data=DATA, mods="~ ablat",
                                                  method="GENQ", weights=1 / DATA["vi"]),
        "meta_unweighted_knha": lambda: evsynth.meta(ES["yi"], ES["vi"], weighted=False,
                                                     test="knha"),
        "meta_tau2_fixed": lambda: evsynth.meta("yi", "vi", data=DATA, mods="~ ablat",
                                                tau2=0.05),
        "meta_mh_OR": lambda: evsynth.meta_mh("OR", **kw),
        "meta_mh_RD": lambda: evsynth.meta_mh("RD", **kw),
        "meta_peto": lambda: evsynth.meta_peto(**kw),
        "meta_glmm_UM.FS": lambda: evsynth.meta_glmm("OR", **kw),
        "meta_glmm_PLO_mods": lambda: evsynth.meta_glmm("PLO", xi="tpos", mi="tneg", data=BCG,
                                                        mods="~ ablat"),
        "meta_mv_three_level": lambda: evsynth.meta_mv(
            "yi", "vi", random="~ 1 | district/school", data=pd.read_csv(
                __import__("pathlib").Path(__file__).parents[1] / "reference" / "mv"
                / "data_konst.csv")),
        "robust_CR1": lambda: evsynth.robust(evsynth.meta("yi", "vi", data=DATA, mods="~ ablat"),
                                             cluster=DATA["alloc"]),
        "robust_CR2": lambda: evsynth.robust(evsynth.meta("yi", "vi", data=DATA),
                                             cluster=DATA["alloc"], clubsandwich=True),
        "robu_CE": lambda: evsynth.robu("yi", "vi", "alloc", data=DATA),
        "netmeta": lambda: evsynth.netmeta(data=pd.DataFrame({
            "studlab": ["s1", "s2", "s3", "s3", "s3", "s4"],
            "treat1": ["A", "A", "A", "A", "B", "B"],
            "treat2": ["B", "C", "B", "C", "C", "C"], "TE": [-0.5, -0.3, -0.4, -0.2, 0.2, 0.1],
            "seTE": [0.2, 0.25, 0.3, 0.32, 0.31, 0.3]}), sm="MD"),
        "meta_mv_struct": lambda: evsynth.meta_mv(
            "yi", "vi", random="~ factor(alloc) | study", struct="DIAG", mods="~ ablat",
            data=DATA, test="t"),
    }


FITS = _fits()


@pytest.fixture(params=list(FITS))
def fit(request) -> FittedModel:
    return FITS[request.param]()


def test_contract_fields(fit):
    assert isinstance(fit, FittedModel)
    assert isinstance(fit.k, int) and fit.k > 0
    p = len(fit.coef_names)
    for name in ("beta", "se", "zval", "pval", "ci_lb", "ci_ub"):
        arr = getattr(fit, name)
        assert isinstance(arr, np.ndarray) and arr.shape == (p,), name
        assert np.all(np.isfinite(arr)), name
    assert np.all(fit.ci_lb <= fit.beta) and np.all(fit.beta <= fit.ci_ub)
    assert fit.level == 95.0
    assert isinstance(fit.method_info, dict) and fit.method_info["level"] == 95.0
    if p == 1:
        assert fit.estimate == fit.beta[0]
    else:
        with pytest.raises(AttributeError, match="use beta"):
            _ = fit.estimate


def test_summary_prints_only_when_printed(fit, capsys):
    s = fit.summary()
    assert capsys.readouterr().out == ""
    assert isinstance(s, Summary) and str(s) == repr(fit)
    print(s)
    assert capsys.readouterr().out.strip() == str(s).strip()
    html = s._repr_html_()
    assert html.startswith("<") and "<pre>" in html
    assert fit._repr_html_() == html


def test_to_dict_is_json_safe(fit):
    d = fit.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text) == d
    for key in ("k", "beta", "se", "pval", "ci_lb", "ci_ub", "level", "method_info"):
        assert key in d, key
    assert d["level"] == 95.0


def test_to_frame_is_tidy(fit):
    frame = fit.to_frame()
    assert list(frame.columns) == ["term", "estimate", "se", "statistic", "pval", "ci_lb",
                                   "ci_ub"]
    assert len(frame) == len(fit.coef_names)
    np.testing.assert_array_equal(frame["estimate"], fit.beta)


def test_predict_and_level(fit):
    pred = fit.predict(level=90)
    assert pred.level == 90.0
    if len(fit.coef_names) == 1:  # a 90% CI lies inside the 95% CI
        assert fit.ci_lb[0] < np.atleast_1d(pred.ci_lb)[0] < fit.beta[0]


def test_to_jsonable_nonfinite():
    assert to_jsonable([np.nan, np.inf, -np.inf, 1.5]) == [None, "Inf", "-Inf", 1.5]
    assert to_jsonable({"a": np.float64("nan")}) == {"a": None}


def test_batch_result_contract(capsys):
    df = pd.DataFrame({"g": ["a"] * 3 + ["b"] * 4,
                       "yi": [0.1, 0.3, 0.2, 0.5, 0.4, 0.45, 0.7],
                       "vi": [0.01, 0.02, 0.01, 0.03, 0.02, 0.05, 0.04]})
    res = evsynth.meta_batch(df, by="g", level=0.9)
    assert res.level == 90.0 and res.method_info["level"] == 90.0
    assert len(res) == 2
    for name in ("k", "estimate", "se", "pval", "ci_lb", "ci_ub", "tau2"):
        assert isinstance(getattr(res, name), np.ndarray) and len(getattr(res, name)) == 2
    one = evsynth.meta(df["yi"][:3], df["vi"][:3], level=90)
    assert res.estimate[0] == pytest.approx(one.estimate, rel=1e-12)
    assert res.ci_lb[0] == pytest.approx(one.ci_lb[0], rel=1e-12)
    frame = res.to_frame()
    assert isinstance(frame, pd.DataFrame) and list(frame["g"]) == ["a", "b"]
    s = res.summary()
    assert capsys.readouterr().out == "" and "2 meta-analyses" in str(s)
    json.dumps(res.to_dict(), allow_nan=False)
    assert "<table" in res._repr_html_()
    with pytest.warns(DeprecationWarning, match="to_frame"):
        assert list(res.columns)[:2] == ["g", "k"]


def test_confint_result():
    fit = evsynth.meta(ES["yi"], ES["vi"])
    ci = fit.confint()
    assert not isinstance(ci, pd.DataFrame)
    assert ci.level == 95.0
    assert ci.tau2["estimate"] == pytest.approx(fit.tau2)
    frame = ci.to_frame()
    assert list(frame.index) == ["tau2", "tau", "I2", "H2"]
    assert math.isclose(frame.loc["tau", "ci_lb"] ** 2, frame.loc["tau2", "ci_lb"])
    json.dumps(ci.to_dict(), allow_nan=False)
    assert "Q-profile" in str(ci.summary())


def test_common_tau2_subgroups_refuse_refits():
    """A subgroup of a common-tau^2 model is a view of the joint model: refits of it alone would
    re-estimate tau^2 from that subgroup, so refit-based diagnostics are refused."""
    fit = evsynth.meta("yi", "vi", data=DATA, subgroup="alloc", subgroup_tau2="common")
    sub = next(iter(fit.subgroups.values()))
    assert not sub.refittable and fit.refittable
    # what uses the joint model's tau^2 without refitting stays: residuals, BLUPs, plots
    assert set(sub.supports()) == {"ranktest", "funnel", "forest", "residuals", "rstandard",
                                   "fitted", "blup", "ranef"}
    for name in ("leave1out", "influence", "trimfill", "regtest"):
        with pytest.raises(evsynth.InputError, match="view of a joint model"):
            getattr(sub, name)()
    separate = evsynth.meta("yi", "vi", data=DATA, subgroup="alloc")
    assert next(iter(separate.subgroups.values())).refittable


def test_weighted_fit_refusal_names_the_setting():
    """A method that cannot use a fit with user weights (a selection model, as metafor's
    ``selmodel``: "Cannot fit selection model for unweighted models or models with custom
    weights") is refused with a message naming the setting (not a 'view of a joint model');
    the refits that carry the weights (leave1out, influence, ...) run."""
    fit = evsynth.meta("yi", "vi", data=DATA, weights=1 / DATA["vi"] ** 0.5)
    assert fit.refit_obstacle is not None and "weights=" in fit.refit_obstacle
    with pytest.raises(evsynth.InputError, match="user weights"):
        fit.selmodel("beta")
    assert len(fit.leave1out().to_frame()) == fit.k
    assert evsynth.meta("yi", "vi", data=DATA).refit_obstacle is None
