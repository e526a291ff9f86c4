"""Forest plots of meta_mv, robust, robu and meta_glmm fits
(src/evsynth/models/diagnostics/forest_more.py): every number in the row model is the fit's own.

metafor 3.8 ``forest.rma`` draws ``rma.mv`` and ``rma.glmm`` fits (studies' yi with CIs from vi,
the pooled estimate or, with moderators, the fitted values); a ``robust.rma`` object is drawn
with its cluster-robust CI; robumeta's ``forest.robu`` groups the effects by study.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats

import evsynth
from evsynth.errors import InputError
from evsynth.models.diagnostics.forest import _forest_data, _options
from evsynth.models.diagnostics.forest_more import (
    _glmm_rows,
    _mv_rows,
    _robu_rows,
    _robust_rows,
)

REF = Path(__file__).parents[1] / "reference"
Z = stats.norm.ppf(0.975)


def _konst():
    return pd.read_csv(REF / "mv" / "data_konst.csv")


def _bcg():
    return pd.read_csv(REF / "data" / "rma_bcg.csv")


def _mh():
    return pd.read_csv(REF / "data" / "mh_bcg.csv")


def _data(rows):
    return _forest_data(rows, _options({}))


def test_meta_mv_rows_grouped_by_study():
    d = _konst()
    fit = evsynth.meta_mv("yi", "vi", random="~ 1 | district/school", data=d)
    rows = _mv_rows(fit, _options({}))
    W = fit.weight_matrix().diagonal()
    np.testing.assert_allclose(rows.weights, 100 * W / W.sum(), rtol=1e-12)
    assert rows.pooled.est == pytest.approx(fit.beta[0], rel=1e-12)
    assert (rows.pooled.lb, rows.pooled.ub) == pytest.approx((fit.ci_lb[0], fit.ci_ub[0]))
    fr = fit.predict().frame
    assert rows.pooled.pi == pytest.approx((fr["pi_lb"].iloc[0], fr["pi_ub"].iloc[0]))
    assert len(rows.groups) == d["district"].nunique()
    labels = [rows.groups[g].label for g in rows.group_of]
    assert labels == [str(x) for x in d["district"]]
    assert any(f"{fit.sigma2[0]:.4f} (district)" in ln for ln in rows.extra_lines)
    fd = _data(rows)
    s = fd.studies[0]
    assert (s.lb, s.ub) == pytest.approx((d["yi"][0] - Z * np.sqrt(d["vi"][0]),
                                          d["yi"][0] + Z * np.sqrt(d["vi"][0])))
    assert isinstance(fit.plot_forest(), Figure)


def test_meta_mv_with_moderators_draws_fitted_values():
    d = _konst()
    fit = evsynth.meta_mv("yi", "vi", mods="~ year_c", random="~ 1 | district/school", data=d)
    rows = _mv_rows(fit, _options({}))
    assert not rows.show_total and rows.pooled is None
    fr = fit.predict().frame
    np.testing.assert_allclose(rows.fitted[0], fit.model_matrix @ fit.beta, rtol=1e-12)
    np.testing.assert_allclose(rows.fitted[1], fr["ci_lb"], rtol=1e-12)
    assert any(ln.startswith("Test of moderators: Chi² = ") for ln in rows.extra_lines)


def test_meta_mv_multivariate_groups_by_outer_factor():
    d = pd.read_csv(REF / "mv" / "data_berkey.csv")
    V = np.array(pd.read_json(REF / "mv" / "V_berkey.json"))
    fit = evsynth.meta_mv(d["yi"], V, mods="~ 0 + outcome", random="~ outcome | trial",
                          struct="UN", data=d)
    rows = _mv_rows(fit, _options({}))
    assert [rows.groups[g].label for g in rows.group_of] == [str(t) for t in d["trial"]]
    assert any("τ² = " in ln and "ρ = " in ln for ln in rows.extra_lines)


def test_robust_meta_pooled_is_robust():
    fit = evsynth.meta("yi", "vi", data=_bcg(), slab="study")
    res = evsynth.robust(fit, cluster=np.arange(13) // 2, clubsandwich=True)
    rows = _robust_rows(res, _options({}))
    assert (rows.pooled.est, rows.pooled.lb, rows.pooled.ub) == pytest.approx(
        (res.beta[0], res.ci_lb[0], res.ci_ub[0]), rel=1e-12)
    assert rows.pooled.df == pytest.approx(res.df[0]) and rows.tstat
    pr = res.predict()
    assert rows.pooled.pi == pytest.approx((float(np.ravel(pr.pi_lb)[0]),
                                            float(np.ravel(pr.pi_ub)[0])))
    assert rows.pooled.tau2 == pytest.approx(fit.tau2) and "CR2" in rows.method
    np.testing.assert_allclose(rows.weights, fit.weights)
    assert isinstance(res.plot_forest(), Figure)


def test_robust_meta_mv_and_moderators():
    d = _konst()
    fit = evsynth.meta_mv("yi", "vi", random="~ 1 | district/school", data=d)
    res = evsynth.robust(fit, cluster=d["district"])
    rows = _robust_rows(res, _options({}))
    assert (rows.pooled.lb, rows.pooled.ub) == pytest.approx((res.ci_lb[0], res.ci_ub[0]))
    assert rows.groups is not None and "CR1" in rows.method
    mfit = evsynth.meta("yi", "vi", mods=_bcg()[["ablat"]], data=_bcg())
    mres = evsynth.robust(mfit, cluster=np.arange(13) // 2)
    rows = _robust_rows(mres, _options({}))
    pr = mres.predict()
    np.testing.assert_allclose(rows.fitted[1], np.ravel(pr.ci_lb), rtol=1e-12)
    assert any(ln.startswith("Test of moderators: F = ") for ln in rows.extra_lines)
    assert isinstance(mres.plot_forest(), Figure)


def test_robu_rows():
    res = evsynth.robu("yi", "vi", np.arange(13) // 2, data=_bcg())
    rows = _robu_rows(res, _options({}))
    np.testing.assert_allclose(rows.yi, _bcg()["yi"])
    np.testing.assert_allclose(rows.weights, 100 * res.weights / res.weights.sum())
    assert (rows.pooled.lb, rows.pooled.ub) == pytest.approx((res.ci_lb[0], res.ci_ub[0]))
    assert len(rows.groups) == 7 and rows.group_of == list(np.arange(13) // 2)
    assert isinstance(res.plot_forest(), Figure)


def test_glmm_rows_no_weights():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = evsynth.meta_glmm("OR", ai="ai", bi="bi", ci="ci", di="di", data=_mh(),
                                slab="study")
    rows = _glmm_rows(fit, _options({}))
    assert np.all(np.isnan(rows.weights))
    np.testing.assert_allclose(rows.yi, fit.yi)
    assert (rows.pooled.est, rows.pooled.lb, rows.pooled.ub) == pytest.approx(
        (fit.beta[0], fit.ci_lb[0], fit.ci_ub[0]))
    assert rows.pooled.qe == pytest.approx(fit.QE_Wld)
    fd = _data(rows)
    assert fd.scale.kind == "log" and all(s.weight is None for s in fd.studies)
    assert isinstance(fit.plot_forest(measure="OR"), Figure)


def test_options_are_validated():
    d = _konst()
    fit = evsynth.meta_mv("yi", "vi", random="~ 1 | district/school", data=d)
    with pytest.raises(InputError, match="order"):
        fit.plot_forest(order="nonsense")
    with pytest.raises(InputError, match="slab"):
        evsynth.forest(fit, slab=["a", "b"])
