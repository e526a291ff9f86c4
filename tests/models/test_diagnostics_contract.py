"""The diagnostics contract, for every model type x every diagnostic name (in the spirit of
scikit-learn's common estimator checks).

For each fit (meta() without and with moderators; meta_mh() OR, RR, RD, IRR, IRD; meta_peto())
and each name in :data:`evsynth.models.diagnostics.METHODS`: either the method is supported
(listed by ``fit.supports()``) and returns a result with ``summary()``, ``to_frame()`` and a
``to_dict()`` that ``json.dumps`` accepts without NaN (plots: a matplotlib Figure), or it raises
an InputError that names the model and lists what the model supports. ``fit.supports()`` is
exactly the set of names that work, and matches what metafor defines for the class (rma.uni,
rma.mh, rma.peto; see the registry's module docstring).
"""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import evsynth
from evsynth.errors import InputError
from evsynth.models import diagnostics
from evsynth.models.results import Summary
from fixture_data import REFERENCE

PLOTS = ("funnel", "forest")
#: keyword arguments that keep the expensive diagnostics quick
QUICK = {"permutest": {"iter": 200, "seed": 1}, "gosh": {"subsets": 300, "seed": 1}}


def _bcg_rma() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "data" / "rma_bcg.csv")


def _bcg_mh() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "data" / "mh_bcg.csv")


def _rates() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "data" / "mh_nielweise.csv")


def _meta():
    d = _bcg_rma()
    return evsynth.meta("yi", "vi", data=d, slab="study")


def _meta_mods():
    d = _bcg_rma()
    return evsynth.meta("yi", "vi", mods="ablat", data=d, slab="study")


def _mh(measure: str):
    def make():
        if measure in ("IRR", "IRD"):
            return evsynth.meta_mh(measure, x1i="x1i", x2i="x2i", t1i="t1i", t2i="t2i",
                                   data=_rates(), slab="study")
        return evsynth.meta_mh(measure, ai="ai", bi="bi", ci="ci", di="di", data=_bcg_mh(),
                               slab="study")
    return make


def _peto():
    return evsynth.meta_peto(ai="ai", bi="bi", ci="ci", di="di", data=_bcg_mh(), slab="study")


def _meta_mv():
    d = pd.read_csv(REFERENCE / "mv" / "data_konst.csv")
    return evsynth.meta_mv("yi", "vi", random="~ 1 | district/school", data=d)


def _meta_mv_cluster():
    return pd.read_csv(REFERENCE / "mv" / "data_konst.csv")["district"]


#: model name -> (constructor, what metafor defines for its class)
ALL_RMA = {"leave1out", "cumul", "influence", "baujat", "gosh", "permutest", "regtest",
           "ranktest", "trimfill", "pet_peese", "hc", "selmodel", "funnel", "forest",
           "rstandard", "rstudent", "fitted", "residuals", "blup", "ranef", "vif"}
MH_PETO = {"leave1out", "cumul", "baujat", "gosh", "regtest", "ranktest", "funnel", "forest",
           "rstandard", "rstudent", "fitted", "residuals"}
MODELS = {
    "meta": (_meta, ALL_RMA - {"vif"}),  # vif: meta-regressions only (as metafor)
    # leave1out, cumul, trimfill, hc (metafor: int.only) and pet_peese need a model without
    # moderators (funnel draws the residuals of a meta-regression, as metafor)
    "meta_mods": (_meta_mods, ALL_RMA - {"leave1out", "cumul", "trimfill", "hc", "pet_peese"}),
    "mh_OR": (_mh("OR"), MH_PETO),
    "mh_RR": (_mh("RR"), MH_PETO),
    "mh_RD": (_mh("RD"), MH_PETO),
    "mh_IRR": (_mh("IRR"), MH_PETO),
    "mh_IRD": (_mh("IRD"), MH_PETO),
    "peto": (_peto, MH_PETO),
    # rma.mv: metafor 3.8 defines rstandard, rstudent, fitted, residuals and ranef (and
    # cooks.distance / dfbetas / hatvalues, methods of the fit); blup gives the true effects;
    # forest (forest.rma), effects grouped by study
    "meta_mv": (_meta_mv, {"rstandard", "rstudent", "fitted", "residuals", "blup", "ranef",
                           "forest"}),
    # cluster-robust inference (robust(), robumeta's robu()): tests of a fit; the forest plot
    # with the robust CIs (forest.rma of robust.rma objects, robumeta's forest.robu)
    "robust": (lambda: evsynth.robust(_meta_mods(), cluster=np.arange(13) // 2), {"forest"}),
    "robust_mv": (lambda: evsynth.robust(_meta_mv(), cluster=_meta_mv_cluster()), {"forest"}),
    "robu": (lambda: evsynth.robu("yi", "vi", np.arange(13) // 2, data=_bcg_rma()),
             {"forest"}),
    # rma.glmm: metafor 3.8 defines funnel and ranktest (and forest, predict, fitted,
    # residuals); leave1out, influence, regtest, trimfill, ... are "not available"
    "glmm": (lambda: evsynth.meta_glmm("OR", ai="ai", bi="bi", ci="ci", di="di",
                                       data=_bcg_mh(), slab="study"),
             {"ranktest", "funnel", "forest", "fitted", "residuals"}),
    # network meta-analysis: the forest plot against the reference and the
    # comparison-adjusted funnel plot (netmeta's forest.netmeta and funnel.netmeta); the
    # case-deletion methods of pairwise models are not defined for it
    "netmeta": (lambda: evsynth.netmeta(data=pd.DataFrame({
        "studlab": ["s1", "s2", "s3", "s3", "s3", "s4", "s5"],
        "treat1": ["A", "A", "A", "A", "B", "B", "A"],
        "treat2": ["B", "C", "B", "C", "C", "C", "B"],
        "TE": [-0.5, -0.3, -0.4, -0.2, 0.2, 0.1, -0.6],
        "seTE": [0.2, 0.25, 0.3, 0.32, 0.31, 0.3, 0.22]}), sm="MD"), {"forest", "funnel"}),
    "glmm_mods": (lambda: evsynth.meta_glmm("PLO", xi="ai", mi="bi", data=_bcg_mh(),
                                            mods=_bcg_rma()[["ablat"]]),
                  {"forest", "fitted", "residuals"}),
}

_FITS: dict[str, object] = {}


def _fit(model: str):
    if model not in _FITS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITS[model] = MODELS[model][0]()
    return _FITS[model]


def _json_safe(d: dict) -> None:
    text = json.dumps(d, allow_nan=False)  # NaN/inf must have been written as null / "Inf"
    assert json.loads(text) == json.loads(json.dumps(d, allow_nan=False))


@pytest.mark.parametrize("name", list(diagnostics.METHODS))
@pytest.mark.parametrize("model", list(MODELS))
def test_every_model_and_diagnostic(model, name):
    fit = _fit(model)
    expected = MODELS[model][1]
    supported = fit.supports()
    assert (name in supported) == (name in expected), (model, name, supported)
    method = getattr(fit, "plot_" + name if name in PLOTS else name)
    if name not in supported:
        have = ", ".join(supported)
        with pytest.raises(InputError) as err:
            method()
        msg = str(err.value)
        assert msg.startswith(f"{name}() is ")
        assert fit.model_name in msg
        assert f"supports: {have}" in msg
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = method(**QUICK.get(name, {}))
    if name in PLOTS:
        assert isinstance(res, Figure)
        return
    summary = res.summary()
    assert isinstance(summary, Summary) and len(str(summary)) > 20
    assert isinstance(res._repr_html_(), str)
    frame = res.to_frame()
    assert isinstance(frame, pd.DataFrame) and len(frame) >= 1
    _json_safe(res.to_dict())


@pytest.mark.parametrize("model", list(MODELS))
def test_supports_lists_the_registry_in_order(model):
    fit = _fit(model)
    names = [n for n in diagnostics.METHODS
             if diagnostics.implementation(n, fit) is not None]
    assert fit.supports() == names
    assert set(names) == MODELS[model][1]


def test_unknown_diagnostic_and_new_model_type():
    fit = _fit("meta")
    with pytest.raises(InputError, match=r"nonesuch\(\) is not defined for a meta\(\) fit"):
        diagnostics.dispatch("nonesuch", fit)

    class Bare(evsynth.models.results.FittedModel):  # a model type that registers nothing
        model_name = "bare test model"

    bare = Bare()
    assert bare.supports() == []
    with pytest.raises(InputError, match="not defined for a bare test model; this model "
                                         "supports: no diagnostics"):
        bare.leave1out()


def test_condition_message_for_meta_regression():
    fit = _fit("meta_mods")
    with pytest.raises(InputError, match=re.escape("leave1out() is defined only for models "
                                                   "without moderators (as in metafor)")):
        fit.leave1out()


# --------------------------------------------------------------------------------------------
# renamed result fields: the old metafor names still work for one release, with a warning
# --------------------------------------------------------------------------------------------
def test_old_names_warn_and_still_work():
    fit = _fit("meta")
    inf = fit.influence()
    for old, new in (("cook.d", "cook_d"), ("cov.r", "cov_r"), ("tau2.del", "tau2_del"),
                     ("QE.del", "QE_del"), ("dfbs.intrcpt", "dfbs_intrcpt")):
        with pytest.warns(DeprecationWarning, match=re.escape(f"'{old}' is now called '{new}'")):
            old_col = inf[old]
        pd.testing.assert_series_equal(old_col, inf[new])
        with pytest.warns(DeprecationWarning):
            assert np.array_equal(getattr(inf, old), inf.frame[new].to_numpy(), equal_nan=True)
    for res in (fit.leave1out(), fit.cumul(), _fit("mh_OR").leave1out()):
        for old, new in (("Q", "QE"), ("Qp", "QEp")):
            with pytest.warns(DeprecationWarning):
                pd.testing.assert_series_equal(res[old], res[new])
            with pytest.warns(DeprecationWarning):
                assert np.array_equal(getattr(res, old), res.frame[new].to_numpy())
        assert "Q" not in res.frame.columns
    b = fit.baujat()
    with pytest.warns(DeprecationWarning, match="BaujatResult"):
        assert list(b.columns) == ["slab", "x", "y"]
    with pytest.raises(AttributeError):
        _ = inf.no_such_column
