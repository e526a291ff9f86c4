"""Tests of evsynth.meta_glmm against metafor's rma.glmm (metafor 3.8-1 with lme4 and BiasedUrn).

Fixtures: tests/reference/glmm_fixtures.R -> tests/reference/glmm/*.json and
tests/reference/data/glmm_*.csv. The tests never need R.

Each model is checked against metafor run with tight optimiser settings ("tight": the optimum
of the same likelihood approximation), and against metafor's defaults where those stop short
(there evsynth's likelihood is the higher one). Deliberate differences, each shown by a test:

* CM.EL's Wald test of heterogeneity: metafor's value carries the error of its joint
  optimisation of the saturated model; evsynth computes it from each study's conditional MLE
  and information, which the R script also does with BiasedUrn + optimize + numDeriv (group
  ``glmm_cmel_wald``): agreement 1e-7.
* nAGQ = 1 (Laplace): lme4 evaluates the Laplace approximation at a mode found to its PIRLS
  tolerance; evsynth at the exact mode, so the estimates differ by up to 1e-3 for data with a
  study at 0% or 100%; evsynth's Laplace likelihood at its estimate is the higher one.
* Standard errors with moderators: lme4's finite-difference Hessian varies at 1e-4 with the
  parameterisation (scaled or not); agreement 2e-4.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import evsynth
from evsynth.errors import InputError
from evsynth.models.glmm import _AGQ, GLMMResult, meta_glmm
from fixture_data import REFERENCE

DATA = REFERENCE / "data"


def _group(name: str) -> list[dict]:
    with open(REFERENCE / "glmm" / f"{name}.json", encoding="utf-8") as fh:
        return json.load(fh)["cases"]


CASES = {c["name"]: c for g in ("glmm_or", "glmm_rate", "glmm_plo") for c in _group(g)}
BCG = pd.read_csv(DATA / "glmm_bcg.csv")


def _fit(case: dict) -> GLMMResult:
    a = dict(case["args"])
    measure = a.pop("measure")
    kw = {k: a[k] for k in ("model", "method", "nAGQ", "test", "level") if k in a}
    counts = {k: np.asarray(a[k], dtype=float) for k in
              ("ai", "bi", "ci", "di", "n1i", "n2i", "x1i", "x2i", "t1i", "t2i", "xi", "mi", "ti",
               "ni") if k in a}
    mods = BCG[["ablat"]] if case["mods"] is not None else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return meta_glmm(measure, mods=mods, **counts, **kw)


def _num(x):
    if isinstance(x, str):
        return np.nan
    return np.asarray(x, dtype=float)


def _check(fit: GLMMResult, ref: dict, fields: dict[str, float], name: str) -> None:
    for key, rtol in fields.items():
        got = np.atleast_1d(getattr(fit, key))
        exp = np.atleast_1d(_num(ref[key]))
        np.testing.assert_allclose(got, exp, rtol=rtol, atol=rtol * 5e-2,
                                   err_msg=f"{name}: {key}")


SUPPORTED = [n for n, c in CASES.items() if c.get("fit") is not None and "UM.RS" not in n]
TIGHT = [n for n in SUPPORTED if CASES[n]["tight"] and "nAGQ1 " not in n]
UMRS = [n for n, c in CASES.items() if c.get("fit") is not None and "UM.RS" in n]


# ---- the tight fixtures: every reported number --------------------------------------------
@pytest.mark.parametrize("name", TIGHT)
def test_matches_metafor_tight(name: str) -> None:
    case = CASES[name]
    fit = _fit(case)
    ref = case["fit"]
    mods = case["mods"] is not None
    cmel = "CM.EL" in name and case["args"]["measure"] == "OR"
    tol = 1e-5
    # SEs: lme4's finite-difference Hessian (UM.FS/PLO with large counts or moderators) and
    # numDeriv on BiasedUrn's density (CM.EL) are accurate to about 1e-4 (see the module doc)
    se_tol = 1e-3 if cmel else (2e-4 if mods else 1e-4)
    fields = {"beta": tol, "tau2": tol, "I2": tol, "H2": tol, "QE_LRT": 1e-7,
              "QEp_LRT": 1e-6, "vt": 1e-9, "ll": tol, "AIC": tol, "BIC": tol, "AICc": tol,
              "dev": 1e-4, "se": se_tol, "zval": se_tol, "ci_lb": se_tol, "ci_ub": se_tol,
              "pval": 50 * se_tol, "QM": 2 * se_tol, "QMp": 50 * se_tol}
    if cmel and mods:  # flat likelihood in tau^2 (0.003, SE 0.01): same maximum, 1e-11
        fields.update(beta=2e-5, tau2=5e-4, I2=5e-4, H2=5e-4)
    if not cmel:
        fields.update(QE_Wld=1e-7, QEp_Wld=1e-6)
    if "tau2" in ref and not isinstance(ref["tau2"], str) and ref["tau2"] < 1e-8:
        fields["tau2"] = 1.0  # boundary: both give (numerically) zero
        fields.pop("I2"), fields.pop("H2")
        assert fit.tau2 < 1e-8
    _check(fit, ref, fields, name)
    assert fit.k == ref["k"] and fit.p == ref["p"] and fit.parms == ref["parms"]
    assert fit.k_eff == ref["k_eff"] and fit.QE_df == ref["QE_df"]
    if cmel and fit.method == "ML":
        _check(fit, ref, {"se_tau2": 3e-3}, name)


def test_cmel_equal_effects_se_is_the_conditional_information() -> None:
    """CM.EL with tau^2 = 0: the SE is 1/sqrt(sum Var(U_i | theta)) (the conditional Fisher
    information; Breslow & Day 1980, section 4.4); metafor's numDeriv Hessian of BiasedUrn's
    density is within 2e-5 of it."""
    from evsynth.models.glmm import _NCHG

    d = pd.read_csv(DATA / "glmm_nielweise2007.csv")
    d = d[~((d.ai == 0) & (d.ci == 0))]
    a, c, n1, n2 = (d[x].to_numpy(float) for x in ("ai", "ci", "n1i", "n2i"))
    fit = meta_glmm("OR", ai=a, n1i=n1, ci=c, n2i=n2, model="CM.EL", method="EE")
    var = _NCHG(a, n1, n2, a + c)._moments(np.full((a.size, 1), fit.beta[0]))[2][:, 0]
    assert fit.se[0] == pytest.approx(1 / math.sqrt(var.sum()), rel=1e-8)
    assert fit.se[0] == pytest.approx(CASES["niel7 CM.EL EE tight"]["fit"]["se"], rel=2e-5)


@pytest.mark.parametrize("name", [n for n in TIGHT if "CM.EL" in n and "niel8" not in n])
def test_cmel_wald_from_study_cmles(name: str) -> None:
    """CM.EL's QE_Wld equals the Wald statistic R computes from each study's conditional MLE
    (BiasedUrn + optimize + numDeriv); metafor's joint fit of the saturated model is within
    1e-2 of it (its optimiser error), and the LRT and saturated log-likelihood agree."""
    wald = {c["name"]: c for c in _group("glmm_cmel_wald")}
    key = ("niel7 intercept" if name.startswith("niel7") and "interior" not in name
           else "bcg ablat" if "ablat" in name else "bcg intercept")
    if "interior" in name:
        key = "niel7 intercept"  # the infinite-MLE studies drop out: same statistic
    fit = _fit(CASES[name])
    # R's numDeriv on BiasedUrn's density (precision 1e-10) is good to ~1e-5 for the large BCG
    # trials, to 1e-8 for the small Niel-Weise ones
    rtol = 1e-7 if key.startswith("niel7") else 5e-5
    np.testing.assert_allclose(fit.QE_Wld, wald[key]["QE_Wld"], rtol=rtol)
    np.testing.assert_allclose(fit.ll_QE, wald[key]["ll_QE"], rtol=1e-9)
    ref = CASES[name]["fit"]["QE_Wld"]
    if key.startswith("niel7"):
        assert abs(fit.QE_Wld - ref) < 2e-3 * ref  # metafor's joint fit: within 1e-3
    elif not isinstance(ref, str):
        # BCG: metafor's joint saturated fit goes wrong on the 88391-per-arm TPT Madras trial
        # (231.2 instead of 163.09); the per-study computation in R confirms evsynth's value
        assert ref > 1.3 * fit.QE_Wld


def test_cmel_default_metafor_and_higher_likelihood() -> None:
    """metafor's default CM.EL (nlminb; integrate() to rel.tol 1.2e-4) on the rare-event data
    of Niel-Weise et al. (2007): estimates to 1e-6, SEs to 1e-3 (numDeriv Hessian of a
    loosely integrated likelihood); evsynth's maximised log-likelihood is at least as high."""
    case = CASES["niel7 CM.EL ML default"]
    fit = _fit(case)
    ref = case["fit"]
    _check(fit, ref, {"beta": 1e-6, "tau2": 1e-5, "se": 1e-3}, "niel7 CM.EL default")
    assert fit.ll >= ref["ll"] - 1e-9
    assert fit.ll - ref["ll"] < 1e-5


def test_cmel_where_metafor_fails() -> None:
    """metafor's default CM.EL with a moderator on the BCG data stops (nlminb convergence code
    1); evsynth fits it and agrees with metafor's tight run."""
    assert CASES["bcg CM.EL ML ablat default"].get("fit") is None
    fit = _fit(CASES["bcg CM.EL ML ablat default"])
    ref = CASES["bcg CM.EL ML ablat tight"]["fit"]
    assert fit.method_info["converged"]
    np.testing.assert_allclose(fit.beta, ref["beta"], rtol=2e-4)
    assert fit.ll >= ref["ll"] - 1e-7


@pytest.mark.parametrize("name", [n for n in SUPPORTED if not CASES[n]["tight"]
                                  and "CM.EL" not in n])
def test_metafor_defaults_stop_short(name: str) -> None:
    """With metafor's default optimiser settings lme4 stops short of the optimum (e.g. the
    convergence warning on the Niel-Weise 2007 UM.FS fit); evsynth agrees with the tight
    reference better than the default does, and to 1e-3 with the default."""
    case = CASES[name]
    tight = CASES[name.replace("default", "tight")]["fit"]
    fit = _fit(case)
    for key in ("beta", "tau2"):
        got, dflt, best = (np.atleast_1d(getattr(fit, key)), np.atleast_1d(case["fit"][key]),
                           np.atleast_1d(tight[key]))
        assert np.all(np.abs(got - best) <= np.abs(dflt - best) + 1e-7), key
        np.testing.assert_allclose(got, dflt, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in SUPPORTED if "nAGQ1 " in n])
def test_laplace(name: str) -> None:
    """nAGQ = 1: within 1e-3 (estimates) of lme4's Laplace fit, and evsynth's (exact-mode)
    Laplace likelihood is higher at its own estimate than at lme4's."""
    case = CASES[name]
    fit = _fit(case)
    ref = case["fit"]
    _check(fit, ref, {"beta": 1e-3, "tau2": 3e-3}, name)
    if case["args"]["measure"] == "PLO":
        x, n = np.asarray(case["args"]["xi"], float), np.asarray(case["args"]["ni"], float)
        agq = _AGQ("binomial", x[:, None], n[:, None], np.ones((x.size, 1)), 1)
        at = lambda b, t2: float(agq.loglik(np.full((x.size, 1), b), math.sqrt(t2)).sum())  # noqa: E731
        assert at(fit.beta[0], fit.tau2) >= at(ref["beta"], ref["tau2"])
        np.testing.assert_allclose(fit.ll_marginal, at(fit.beta[0], fit.tau2), rtol=1e-12)


def test_summary_prints_as_metafor() -> None:
    for name in ("pritz PLO EE tight", "niel7 UM.FS EE tight", "niel8 CM.EL EE tight",
                 "niel7 CM.AL ML tight", "niel8 IRLN ML tight"):
        fit = _fit(CASES[name])
        assert str(fit.summary()) == CASES[name]["fit"]["printed"], name


def test_summary_with_moderators() -> None:
    fit = _fit(CASES["bcg UM.FS ML ablat tight"])
    text = str(fit.summary())
    ref = CASES["bcg UM.FS ML ablat tight"]["fit"]["printed"]
    def head(s: str) -> list[str]:  # tau^2 at the boundary: lme4 3e-14 ("0.0000"), evsynth 0
        return [ln for ln in s.split("Model Results:")[0].splitlines()
                if not ln.startswith(("tau", "QM"))]

    assert head(text) == head(ref)
    assert "ablat" in text and "Test of Moderators (coefficient 2):" in text


# ---- the results contract ------------------------------------------------------------------
def test_contract_fields() -> None:
    fit = _fit(CASES["niel7 CM.EL ML default"])
    d = fit.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["model"] == "CM.EL" and d["level"] == 95.0
    frame = fit.to_frame()
    assert list(frame.columns) == ["term", "estimate", "se", "statistic", "pval", "ci_lb",
                                   "ci_ub"]
    assert fit.estimate == pytest.approx(fit.beta[0])
    assert fit.tau == pytest.approx(math.sqrt(fit.tau2))
    assert "<pre>" in fit._repr_html_()
    assert fit.method_info["converged"] and fit.method_info["likelihood"].startswith("non-c")
    assert fit.fit_stats["ll"] == fit.ll
    assert fit.dropped == [15]  # Yucel 2004: no events in either group (drop00, as metafor)


def test_data_frame_and_labels() -> None:
    d7 = pd.read_csv(DATA / "glmm_nielweise2007.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = meta_glmm("OR", ai="ai", n1i="n1i", ci="ci", n2i="n2i", data=d7, slab="author",
                        method="ee")
    assert fit.method == "EE" and fit.slab[0] == "Bach" and fit.dropped == ["Yucel"]
    assert evsynth.meta_glmm is meta_glmm


# ---- input errors --------------------------------------------------------------------------
def test_input_errors() -> None:
    with pytest.raises(InputError, match=r"study in row 2: field 'ai' is -1"):
        meta_glmm("OR", ai=[1, -1], n1i=[10, 10], ci=[2, 2], n2i=[10, 10])
    with pytest.raises(InputError, match=r"study 'B' \(row 2\): field 'ai' is 12 but 'n1i' is 10"):
        meta_glmm("OR", ai=[1, 12], n1i=[10, 10], ci=[2, 2], n2i=[10, 10], slab=["A", "B"])
    with pytest.raises(InputError, match=r"study in row 1: field 'ci' is nan"):
        meta_glmm("OR", ai=[1, 2], n1i=[10, 10], ci=[np.nan, 2], n2i=[10, 10])
    with pytest.raises(InputError, match=r"field 'xi' is 1.5; expected a whole number"):
        meta_glmm("PLO", xi=[1.5, 2], ni=[10, 10])
    with pytest.raises(InputError, match=r"field 't1i' is 0; expected a positive"):
        meta_glmm("IRR", x1i=[1, 2], t1i=[0, 10], x2i=[1, 2], t2i=[10, 10])
    with pytest.raises(InputError, match="measure 'IRR' needs"):
        meta_glmm("IRR", x1i=[1, 2])
    with pytest.raises(InputError, match="argument 'measure'"):
        meta_glmm("SMD", ai=[1])
    with pytest.raises(InputError, match="nAGQ"):
        meta_glmm("PLO", xi=[1, 2], ni=[10, 10], nAGQ=0)
    with pytest.raises(InputError, match="'test'"):
        meta_glmm("PLO", xi=[1, 2], ni=[10, 10], test="knha")
    with pytest.raises(InputError, match="level"):
        meta_glmm("PLO", xi=[1, 2], ni=[10, 10], level=40)
    with pytest.raises(InputError, match="more parameters"):
        meta_glmm("PLO", xi=[1], ni=[10])
    with pytest.raises(InputError, match="control: unknown setting"):
        meta_glmm("PLO", xi=[1, 2], ni=[10, 10], control={"bogus": 1})


def test_zero_event_studies_are_kept() -> None:
    """Single-zero studies stay in the model (the point of GLMMs for rare events)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = meta_glmm("OR", ai=[0, 1, 0, 2], n1i=[50, 40, 60, 30], ci=[3, 4, 2, 5],
                        n2i=[50, 40, 60, 30], model="CM.EL")
    assert fit.k == 4 and np.isfinite(fit.estimate) and fit.estimate < 0


# ---- properties ----------------------------------------------------------------------------
tables = st.lists(st.tuples(st.integers(0, 8), st.integers(10, 40), st.integers(0, 8),
                            st.integers(10, 40)), min_size=3, max_size=6)


def _ok(rows: list) -> bool:
    return all(a + c > 0 for a, _, c, _ in rows) and sum(a for a, *_ in rows) > 0 and \
        sum(c for _, _, c, _ in rows) > 0


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=tables, model=st.sampled_from(["UM.FS", "CM.EL", "CM.AL"]))
def test_swapping_groups_flips_the_sign(rows: list, model: str) -> None:
    if not _ok(rows):
        return
    a, n1, c, n2 = (np.array(v, float) for v in zip(*rows, strict=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f1 = meta_glmm("OR", ai=a, n1i=n1, ci=c, n2i=n2, model=model, method="EE")
        f2 = meta_glmm("OR", ai=c, n1i=n2, ci=a, n2i=n1, model=model, method="EE")
    assert f1.estimate == pytest.approx(-f2.estimate, abs=1e-7)
    assert f1.se[0] == pytest.approx(f2.se[0], rel=1e-6)
    assert f1.QE_LRT == pytest.approx(f2.QE_LRT, rel=1e-6, abs=1e-8)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=tables, seed=st.integers(0, 10_000))
def test_invariant_to_study_order(rows: list, seed: int) -> None:
    if not _ok(rows):
        return
    a, n1, c, n2 = (np.array(v, float) for v in zip(*rows, strict=True))
    perm = np.random.default_rng(seed).permutation(a.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f1 = meta_glmm("OR", ai=a, n1i=n1, ci=c, n2i=n2, model="CM.EL")
        f2 = meta_glmm("OR", ai=a[perm], n1i=n1[perm], ci=c[perm], n2i=n2[perm], model="CM.EL")
    if not (f1.method_info["converged"] and f2.method_info["converged"]):
        # no finite maximum (tau^2 -> infinity): both say so
        assert not f1.method_info["converged"] and not f2.method_info["converged"]
        return
    assert f1.estimate == pytest.approx(f2.estimate, abs=1e-6)
    assert f1.tau2 == pytest.approx(f2.tau2, abs=1e-6)
    assert f1.ll == pytest.approx(f2.ll, abs=1e-8)


def test_swapped_groups_ml_um_fs() -> None:
    d7 = pd.read_csv(DATA / "glmm_nielweise2007.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f1 = meta_glmm("OR", ai=d7.ai, n1i=d7.n1i, ci=d7.ci, n2i=d7.n2i)
        f2 = meta_glmm("OR", ai=d7.ci, n1i=d7.n2i, ci=d7.ai, n2i=d7.n1i)
    assert f1.estimate == pytest.approx(-f2.estimate, abs=1e-7)
    assert f1.tau2 == pytest.approx(f2.tau2, abs=1e-7)


# ---- predict -------------------------------------------------------------------------------
def test_predict_matches_metafor() -> None:
    pz = pd.read_csv(DATA / "glmm_pritz1997.csv")
    for case in _group("glmm_predict"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if case["name"].startswith("pritz"):
                fit = meta_glmm("PLO", xi=pz.xi, ni=pz.ni, test=case["test"])
            else:
                fit = meta_glmm("PLO", xi=BCG.tpos, mi=BCG.tneg, mods=BCG[["ablat"]])
        pred = fit.predict(newmods=case["newmods"], level=case["level"],
                           transf=case.get("transf"))
        for key in ("pred", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):  # bounds: lme4's SEs (1e-4)
            np.testing.assert_allclose(np.atleast_1d(getattr(pred, key)), case["pred"][key],
                                       rtol=1e-5 if key == "pred" else 5e-5,
                                       err_msg=f"{case['name']}: {key}")
        if case.get("transf") is None:
            np.testing.assert_allclose(np.atleast_1d(pred.se), case["pred"]["se"], rtol=2e-4)
    with pytest.raises(InputError, match="no moderators"):
        meta_glmm("PLO", xi=pz.xi, ni=pz.ni).predict(newmods=[1.0])


# ---- UM.RS: random study effects -----------------------------------------------------------
@pytest.mark.parametrize("name", [n for n in UMRS if " EE " in n])
def test_um_rs_equal_effects(name: str) -> None:
    """UM.RS with tau^2 = 0: glmer(~ X.fit + const + (1 | study)) by AGQ (7 nodes); lme4's
    log-likelihood convention for nAGQ > 1 (relative to the saturated cells) reproduced."""
    case = CASES[name]
    fit = _fit(case)
    ref = case["fit"]
    _check(fit, ref, {"beta": 5e-6, "se": 2e-5, "sigma2": 3e-5, "ll": 1e-7, "QE_LRT": 1e-7,
                      "AIC": 1e-7}, name)
    # the saturated model's Wald test: lme4's fit of it is unstable with zero cells
    # (Niel-Weise 2007: 12.96; evsynth 12.91); without zero cells 1e-5
    _check(fit, ref, {"QE_Wld": 1e-5 if not name.startswith("niel7") else 1e-2}, name)
    assert fit.parms == ref["parms"] and fit.k_eff == ref["k_eff"]


@pytest.mark.parametrize("name", [n for n in UMRS if " ML " in n])
def test_um_rs_laplace(name: str) -> None:
    """UM.RS ML: two independent random effects per study (metafor's cor=FALSE), Laplace
    approximation (nAGQ forced to 1, with metafor's warning). lme4 evaluates the Laplace
    approximation at modes found to its PIRLS tolerance: evsynth's log-likelihood is at least
    as high in every case and the estimates agree to 1e-3 (SEs to 2%)."""
    case = CASES[name]
    with pytest.warns(UserWarning, match="nAGQ set to 1"):
        a = dict(case["args"])
        counts = {k: np.asarray(a[k], dtype=float) for k in
                  ("ai", "bi", "ci", "di", "n1i", "n2i", "x1i", "x2i", "t1i", "t2i") if k in a}
        meta_glmm(a["measure"], model="UM.RS", **counts)
    fit = _fit(case)
    ref = case["fit"]
    assert fit.method_info["converged"]
    assert fit.ll >= ref["ll"] - 1e-9
    assert fit.ll - ref["ll"] < 2e-4
    _check(fit, ref, {"beta": 1e-3, "tau2": 2e-3, "sigma2": 1e-3, "se": 2e-2}, name)
    assert fit.parms == ref["parms"] and np.isfinite(fit.sigma2)
    assert "sigma^2 (estimated amount of study level variability)" in str(fit.summary())


def test_fitted_and_residuals() -> None:
    """metafor: fitted(res) = X b, residuals(res) = yi - X b (escalc yi); other residual types
    are not available for rma.glmm."""
    fit = _fit(CASES["bcg PLO ML ablat tight"])
    X = np.column_stack([np.ones(13), BCG.ablat])
    np.testing.assert_allclose(fit.fitted().value, X @ fit.beta, rtol=1e-12)
    yi = np.log(BCG.tpos / BCG.tneg)
    np.testing.assert_allclose(fit.residuals().value, yi - X @ fit.beta, rtol=1e-10)
    with pytest.raises(InputError, match="not available"):
        fit.residuals(type="pearson")


def test_degenerate_data_warn_instead_of_failing() -> None:
    """No events in group 1 of any study: the MLE of the log odds ratio is -infinity; every
    model returns where its iterations stopped with a warning (as metafor/glm), never a
    traceback; a UM.RS fit whose variances go to 0 reports them as 0."""
    for model in ("UM.FS", "CM.EL", "CM.AL", "UM.RS"):
        with pytest.warns(UserWarning, match="beyond"):
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*(nAGQ|converge).*")
                fit = meta_glmm("OR", ai=[0, 0, 0], n1i=[10, 20, 30], ci=[3, 2, 5],
                                n2i=[10, 20, 30], model=model)
        assert fit.estimate < -15
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = meta_glmm("IRR", x1i=[0, 3, 5], t1i=[100, 200, 300], x2i=[2, 0, 4],
                        t2i=[100, 200, 300], model="UM.RS")
    assert fit.tau2 == 0 and fit.sigma2 == 0 and np.isfinite(fit.se[0])
    assert fit.method_info["converged"]


# ---- UM.RS with correlated random effects (metafor cor=TRUE) --------------------------------
COR_CASES = {c["name"]: c for c in _group("glmm_umrs_cor")}


def _cor_fit(a: dict, case: dict) -> GLMMResult:
    assert a.pop("cor") is True
    measure = a.pop("measure")
    kw = {k: a[k] for k in ("model", "method") if k in a}
    counts = {k: np.asarray(a[k], dtype=float) for k in
              ("ai", "bi", "ci", "di", "n1i", "n2i", "x1i", "x2i", "t1i", "t2i") if k in a}
    mods = BCG[["ablat"]] if case["mods"] is not None else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return meta_glmm(measure, mods=mods, cor=True, **counts, **kw)


@pytest.mark.parametrize("name", [n for n in COR_CASES if " ML " in n and " cor " in n])
def test_um_rs_correlated_matches_metafor_lme4(name: str) -> None:
    """UM.RS with cor=TRUE: glmer(~ 0 + X.fit + const + (group | study)), Laplace, against
    metafor with glmer's PIRLS tolerance tightened to 1e-11 (at its default 1e-7 lme4's
    Laplace value is ~1e-4 off, see glmm_fixtures.R). Agreement: log-likelihood within 1e-5
    (evsynth's never lower), beta 1e-4, tau^2 2e-4 and sigma^2 1e-5 relative, rho 1e-5
    absolute, SEs 1e-4 relative, except where lme4's finite-difference Hessian was not positive
    definite and it fell back to the RX-based covariance, which ignores the variance
    parameters' uncertainty (then 3%)."""
    case = COR_CASES[name]
    fit = _cor_fit(dict(case["args"]), case)
    ref = case["fit"]
    assert fit.method_info["converged"] and fit.method_info["cor"]
    assert fit.ll >= ref["ll"] - 1e-8
    assert fit.ll - ref["ll"] < 1e-5
    rx = any("falling back to var-cov estimated from RX" in w for w in case["warnings"])
    _check(fit, ref, {"beta": 1e-4, "tau2": 2e-4, "sigma2": 1e-5,
                      "se": 3e-2 if rx else 1e-4}, name)
    assert abs(fit.rho - ref["rho"]) < 1e-5
    assert fit.parms == ref["parms"]  # metafor does not count rho
    _check(fit, ref, {"AIC": 1e-7}, name)  # (QE tests: the cor-free FE/saturated fits)
    d = fit.to_dict()
    assert d["rho"] == fit.rho and -1 < d["rho"] < 1
    assert "rho (correlation of the random study and treatment effects)" in str(fit.summary())


@pytest.mark.parametrize("name", [n for n in COR_CASES if " ind " in n])
def test_um_rs_independent_matches_tight_lme4(name: str) -> None:
    """UM.RS with cor=FALSE against metafor with glmer's PIRLS tolerance tightened to 1e-11 (the
    reference of test_um_rs_laplace keeps lme4's default and agrees only to 1e-3): measured,
    log-likelihood within 1.1e-6 (evsynth's never lower beyond 1e-10), beta within 2.4e-6,
    tau^2 within 8.7e-5, sigma^2 within 2e-6 relative (bcg and Niel-Weise 2008 to 1e-7); SEs
    within 3e-5, except bcg ~ ablat (0.35%, lme4 fell back to its RX-based covariance)."""
    case = COR_CASES[name]
    a = dict(case["args"])
    assert a.pop("cor") is False
    measure = a.pop("measure")
    counts = {k: np.asarray(a[k], dtype=float) for k in
              ("ai", "bi", "ci", "di", "n1i", "n2i", "x1i", "x2i", "t1i", "t2i") if k in a}
    mods = BCG[["ablat"]] if case["mods"] is not None else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = meta_glmm(measure, mods=mods, model="UM.RS", method="ML", **counts)
    ref = case["fit"]
    assert fit.method_info["converged"] and not fit.method_info.get("cor")
    assert fit.ll >= ref["ll"] - 1e-8
    assert fit.ll - ref["ll"] < 1e-5
    rx = any("falling back to var-cov estimated from RX" in w for w in case["warnings"])
    _check(fit, ref, {"beta": 1e-4, "tau2": 2e-4, "sigma2": 1e-4,
                      "se": 3e-2 if rx else 1e-4}, name)


def test_um_rs_correlated_beats_independent_and_ee_ignores_cor() -> None:
    """The correlated model nests the independent one (rho = 0): its maximised log-likelihood is
    at least as high; with rho fixed at 0 the Laplace approximation is the independent one. EE
    has no treatment-effect variance: cor is ignored (rho NaN, as metafor's NA)."""
    case = COR_CASES["bcg UM.RS cor ML tight"]
    cor = _cor_fit(dict(case["args"]), case)
    ind = _fit(next(c for n, c in CASES.items() if n == "bcg UM.RS ML tight"))
    assert cor.ll >= ind.ll - 1e-9 and np.isnan(ind.rho)
    ee_case = COR_CASES["bcg UM.RS cor EE tight"]
    ee = _cor_fit(dict(ee_case["args"]), ee_case)
    assert np.isnan(ee.rho) and np.isnan(_num(ee_case["fit"]["rho"]))
    np.testing.assert_allclose(ee.beta, ee_case["fit"]["beta"], rtol=5e-6)
    # the Laplace approximation with cov = 0 is the independent one
    from evsynth.models.glmm import _Laplace2

    y = np.column_stack([BCG.tpos, BCG.cpos]).astype(float)
    n = np.column_stack([BCG.tpos + BCG.tneg, BCG.cpos + BCG.cneg]).astype(float)
    F = np.full((13, 2), -4.0)
    a = _Laplace2("binomial", y, n).loglik(F, 1.5, 0.3)
    b = _Laplace2("binomial", y, n).loglik(F, 1.5, 0.3, 0.0)
    np.testing.assert_allclose(a, b, rtol=1e-13)


def test_cor_only_with_um_rs() -> None:
    with pytest.raises(InputError, match="UM.RS"):
        meta_glmm("OR", ai=BCG.tpos, bi=BCG.tneg, ci=BCG.cpos, di=BCG.cneg, cor=True)
    with pytest.raises(InputError, match="cor"):
        meta_glmm("OR", ai=BCG.tpos, bi=BCG.tneg, ci=BCG.cpos, di=BCG.cneg, model="UM.RS",
                  cor="yes")
