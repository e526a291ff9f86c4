"""Diagnostics of Mantel-Haenszel and Peto fits against metafor 3.8.1.

Fixtures: tests/reference/mh_diag_fixtures.R -> tests/reference/mh/diag_<group>.json (metafor's
leave1out.rma.mh / leave1out.rma.peto, cumul.rma.mh / cumul.rma.peto, baujat.rma, ranktest,
regtest and funnel.rma on rma.mh / rma.peto fits of tests/reference/data/mh_*.csv). Agreement:
rtol 1e-6 (atol 1e-10 for values that are 0 in exact arithmetic). NA in metafor is NaN here.

Deliberate differences, each tested below:

* ranktest with fewer than 3 per-study effects: metafor returns Kendall's tau of 2 points (a
  p-value of 1); evsynth refuses (InputError), as for meta() fits.
* regtest(model = "lm") with as many studies as coefficients (k_yi = 2): metafor returns NaN
  statistics from a regression with 0 residual df; evsynth refuses (InputError), as for meta()
  fits.
* a refit whose Mantel-Haenszel estimate is degenerate (the risk difference of double-zero
  tables only: metafor's estimate 0 with standard error 0 and z = NaN) is NaN in evsynth, as
  meta_mh() refuses such data; Q, its p-value, I^2 and H^2 agree.
* regtest(predictor = "vi") on the IRD example: metafor's rank check (on the variances of rate
  differences, ~1e-7) calls the model matrix rank-deficient; evsynth's does not and fits.

Asking a Mantel-Haenszel or Peto fit for a diagnostic metafor does not define for rma.mh /
rma.peto (influence, trimfill, hc, permutest, selmodel, pet_peese) is an InputError that
names the model and lists what it supports. (gosh is defined for them, as metafor's gosh.rma:
tests/models/test_mh_gosh.py.)
"""

from __future__ import annotations

import json
import math
from functools import cache

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from numpy.testing import assert_allclose

import evsynth
from evsynth.errors import InputError
from fixture_data import REFERENCE, fit_mh_fixture

RTOL, ATOL = 1e-6, 1e-10


@cache
def _group(name: str) -> list[dict]:
    with open(REFERENCE / "mh" / f"diag_{name}.json", encoding="utf-8") as fh:
        return json.load(fh)["cases"]


def _num(x) -> np.ndarray:
    return np.array([np.nan if v in ("NA", "NaN", None) else v for v in np.ravel(x)], float)


def _strings(x) -> list[str]:
    """A character vector from the JSON (jsonlite writes a length-1 vector as a string)."""
    return [x] if isinstance(x, str) else [str(v) for v in x]


def _ids(group: str, *keys: str) -> list[str]:
    return ["-".join([c["name"], *(str(c.get(k)) for k in keys)]) for c in _group(group)]


@cache
def _fit_cached(dataset: str, fun: str, args_json: str):
    return fit_mh_fixture(dataset, fun, json.loads(args_json), warnings_as="ignore")


def _fit(case: dict):
    return _fit_cached(case["dataset"], case["fun"], json.dumps(case["args"], sort_keys=True))


def _close(actual, expected, what: str) -> None:
    assert_allclose(np.asarray(actual, float), _num(expected), rtol=RTOL, atol=ATOL,
                    err_msg=what)


CASE_COLUMNS = ("estimate", "se", "zval", "pval", "ci_lb", "ci_ub", "QE", "QEp", "I2", "H2")


def _check_table(table, result: dict, name: str) -> None:
    frame = table.to_frame()
    assert list(frame.columns) == ["slab", *CASE_COLUMNS]  # no tau2: a common-effect model
    assert [str(s) for s in frame["slab"]] == _strings(result["slab"])
    degenerate = _num(result["se"]) == 0  # metafor's RD of double-zero tables (see above)
    for col in CASE_COLUMNS:
        expected = _num(result[col])
        if col in ("estimate", "se", "zval", "pval", "ci_lb", "ci_ub"):
            expected[degenerate] = np.nan
        _close(frame[col], expected, f"{name}: {col}")


# --------------------------------------------------------------------------------------------
# leave1out and cumul
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", _group("leave1out"), ids=_ids("leave1out", "transf"))
def test_leave1out_matches_metafor(case):
    fit = _fit(case)
    if "error" in case:
        assert "k = 1" in case["error"]
        with pytest.raises(InputError, match="k = 1"):
            fit.leave1out(transf=case["transf"])
        return
    out = fit.leave1out(transf=case["transf"])
    assert out.kind == "leave1out" and out.transf == ("exp" if case["transf"] else None)
    _check_table(out, case["result"], case["name"])
    assert len(out) == fit.k  # the tables in the model (metafor's not.na)


@pytest.mark.parametrize("case", _group("cumul"), ids=_ids("cumul", "decreasing", "transf"))
def test_cumul_matches_metafor(case):
    fit = _fit(case)
    order = None if case["order"] is None else np.asarray(case["order"], float)
    out = fit.cumul(order=order, decreasing=case["decreasing"], transf=case["transf"])
    _check_table(out, case["result"], case["name"])


def test_leave1out_rows_are_separate_fits():
    """Row i is meta_mh() on the tables without study i (same settings), by hand."""
    d = pd.read_csv(REFERENCE / "data" / "mh_bcg.csv")
    fit = evsynth.meta_mh("RR", ai=d.ai, bi=d.bi, ci=d.ci, di=d.di, slab=d.study, level=90)
    frame = fit.leave1out().to_frame()
    for i in (0, 5, 12):
        keep = np.arange(len(d)) != i
        g = evsynth.meta_mh("RR", ai=d.ai[keep], bi=d.bi[keep], ci=d.ci[keep], di=d.di[keep],
                            level=90)
        assert_allclose(frame.loc[i, ["estimate", "se", "ci_lb", "QE", "I2"]].to_numpy(float),
                        [g.beta[0], g.se[0], g.ci_lb[0], g.QE, g.I2], rtol=1e-12)
    last = fit.cumul().to_frame().iloc[-1]
    assert_allclose([last["estimate"], last["se"], last["QE"]], [fit.beta[0], fit.se[0], fit.QE],
                    rtol=1e-12)


def test_transf_options():
    d = pd.read_csv(REFERENCE / "data" / "mh_bcg.csv")
    rd = evsynth.meta_mh("RD", ai=d.ai, bi=d.bi, ci=d.ci, di=d.di)
    with pytest.raises(InputError, match="not a ratio"):
        rd.leave1out(transf=True)
    with pytest.raises(InputError, match="transformation"):
        rd.cumul(transf="not_a_transformation")
    assert_allclose(rd.cumul(transf="exp").to_frame()["estimate"],
                    np.exp(rd.cumul().to_frame()["estimate"]))  # a name of evsynth.transf
    scaled = rd.leave1out(transf=lambda x: 100 * x).to_frame()
    plain = rd.leave1out().to_frame()
    assert_allclose(scaled["estimate"], 100 * plain["estimate"])
    assert scaled["se"].isna().all()
    peto = evsynth.meta_peto(ai=d.ai, bi=d.bi, ci=d.ci, di=d.di)
    assert_allclose(peto.leave1out(transf=True).to_frame()["ci_ub"],
                    np.exp(peto.leave1out().to_frame()["ci_ub"]))


def test_cumul_order_errors():
    d = pd.read_csv(REFERENCE / "data" / "mh_bcg.csv")
    fit = evsynth.meta_mh("OR", ai=d.ai, bi=d.bi, ci=d.ci, di=d.di)
    with pytest.raises(InputError, match="order has 2 values but the model has k = 13"):
        fit.cumul(order=[1, 2])
    with pytest.raises(InputError, match="not a column name"):
        fit.cumul(order="year")


# --------------------------------------------------------------------------------------------
# baujat, ranktest, regtest, funnel
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", _group("baujat"), ids=_ids("baujat"))
def test_baujat_matches_metafor(case):
    fit = _fit(case)
    if "error" in case:
        with pytest.raises(InputError, match="k = 1"):
            fit.baujat()
        return
    b = fit.baujat()
    r = case["result"]
    assert [str(s) for s in b.frame["slab"]] == _strings(r["slab"])
    _close(b.frame["x"], r["x"], f"{case['name']}: x")
    _close(b.frame["y"], r["y"], f"{case['name']}: y")


@pytest.mark.parametrize("case", _group("ranktest"), ids=_ids("ranktest"))
def test_ranktest_matches_metafor(case):
    fit = _fit(case)
    if fit.k_yi < 3:  # deliberate: evsynth needs 3 studies (metafor: p = 1 with 2, error with 1)
        with pytest.raises(InputError, match="at least 3"):
            fit.ranktest()
        return
    rt = fit.ranktest()
    _close(rt.tau, case["result"]["tau"], "tau")
    _close(rt.pval, case["result"]["pval"], "pval")


def _regtest_differs(case: dict, fit) -> bool:
    """The documented differences of regtest (see the module docstring)."""
    no_df = fit.k_yi <= 2 and (case["model"] == "lm" or fit.k_yi == 1)
    rank = case["name"] == "nielweise_IRD" and case["predictor"] == "vi"
    return no_df or rank


@pytest.mark.parametrize("case", _group("regtest"), ids=_ids("regtest", "model", "predictor"))
def test_regtest_matches_metafor(case):
    fit = _fit(case)
    if _regtest_differs(case, fit):
        if fit.k_yi <= 2:
            with pytest.raises(InputError):
                fit.regtest(model=case["model"], predictor=case["predictor"])
        else:
            assert "error" in case  # metafor refuses; evsynth fits
            rt = fit.regtest(model=case["model"], predictor=case["predictor"])
            assert math.isfinite(rt.zval)
        return
    assert "error" not in case, case.get("error")
    rt = fit.regtest(model=case["model"], predictor=case["predictor"])
    r = case["result"]
    _close(rt.zval, r["zval"], "zval")
    _close(rt.pval, r["pval"], "pval")
    assert (rt.dfs is None) == (r["dfs"] in ("NA", None)) or case["model"] == "rma"
    if case["model"] == "lm":
        assert rt.dfs == r["dfs"]
    if r["est"] not in ("NA", None):
        for key in ("est", "ci_lb", "ci_ub"):
            _close(getattr(rt, key), r[key], key)
    else:
        assert rt.est is None


def test_regtest_named_variants_use_the_fit_tables():
    """Peters' and Harbord's tests of an MH fit take the 2x2 counts of its studies with a
    per-study effect; they equal the tests on a meta() fit of the same yi/vi with the counts."""
    d = pd.read_csv(REFERENCE / "data" / "mh_collins.csv")
    fit = evsynth.meta_mh("OR", ai=d.ai, n1i=d.n1i, ci=d.ci, n2i=d.n2i, slab=d.study)
    q = fit.studies["in_q"].to_numpy()
    a, n1, c, n2 = (d[k].to_numpy(float)[q] for k in ("ai", "n1i", "ci", "n2i"))
    ee = evsynth.meta(fit.yi, fit.vi, method="EE")
    for method in ("peters", "harbord"):
        if method == "harbord" and ((a + c == 0) | (n1 - a + n2 - c == 0)).any():
            continue
        got = fit.regtest(method=method)
        ref = ee.regtest(method=method, ai=a, n1i=n1, ci=c, n2i=n2)
        assert_allclose([got.zval, got.pval], [ref.zval, ref.pval], rtol=1e-12)


@pytest.mark.parametrize("case", _group("funnel"), ids=_ids("funnel"))
def test_funnel_draws_metafor_points(case):
    fit = _fit(case)
    fig = fit.plot_funnel()
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    r = case["result"]
    pts = np.asarray(ax.collections[-1].get_offsets(), float)
    _close(pts[:, 0], r["x"], "yi")
    _close(pts[:, 1], r["y"], "sei")
    vlines = [ln.get_xdata()[0] for ln in ax.get_lines() if len(set(ln.get_xdata())) == 1]
    assert any(abs(v - r["refline"]) <= 1e-12 * max(1, abs(r["refline"])) for v in vlines)
    assert fit.level == r["level"]


# --------------------------------------------------------------------------------------------
# what MH / Peto fits do not support
# --------------------------------------------------------------------------------------------
NOT_FOR_MH = ("influence", "trimfill", "hc", "permutest", "selmodel", "pet_peese")


@pytest.mark.parametrize("name", NOT_FOR_MH)
@pytest.mark.parametrize("fun", ["meta_mh", "meta_peto"])
def test_unsupported_diagnostics_are_clear_input_errors(name, fun):
    d = pd.read_csv(REFERENCE / "data" / "mh_bcg.csv")
    args = dict(ai=d.ai, bi=d.bi, ci=d.ci, di=d.di)
    fit = evsynth.meta_mh("OR", **args) if fun == "meta_mh" else evsynth.meta_peto(**args)
    model = "Mantel-Haenszel fit" if fun == "meta_mh" else "Peto fit"
    with pytest.raises(InputError, match=rf"{name}\(\) is not defined for a {model}.*"
                                         r"supports: leave1out, cumul, baujat"):
        getattr(fit, name)()
    assert name not in fit.supports()
    assert {"leave1out", "cumul", "baujat", "regtest", "ranktest", "funnel"} <= set(
        fit.supports())


def test_plots_of_mh_diagnostics():
    """The influence plots draw the diagnostics of an MH fit (cumulative forest plot with the
    level in percent, Baujat plot from the fit or its result)."""
    from evsynth.reports.influence_plots import baujat_plot, cumul_forest_plot

    d = pd.read_csv(REFERENCE / "data" / "mh_bcg.csv")
    fit = evsynth.meta_mh("OR", ai=d.ai, bi=d.bi, ci=d.ci, di=d.di, slab=d.study, level=90)
    fig = cumul_forest_plot(fit.cumul(), transf=np.exp)
    assert fig.axes[0].get_xlabel() == "Estimate (90% CI)"
    b = fit.baujat()
    for arg in (fit, b):
        ax = baujat_plot(arg).axes[0]
        texts = {t.get_text(): t.xy for t in ax.texts}
        assert_allclose(texts["4"], (b.frame["x"][3], b.frame["y"][3]))
        assert ax.get_xlabel() == "Contribution to Overall Heterogeneity"
