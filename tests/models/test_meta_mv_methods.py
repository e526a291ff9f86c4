"""predict, ranef, blup, confint (profile likelihood), cooks.distance, dfbetas, anova, profile
and the multilevel I^2 of evsynth.meta_mv against metafor 3.8.1 (tests/reference/mv_fixtures.R).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_meta_mv_reference import CASES, REF, _num, fit_case

from evsynth.models.multivariate import meta_mv

FULL = [c for c in CASES if "ranef" in c]


def _konst():
    return pd.read_csv(REF / "data_konst.csv")


@pytest.mark.parametrize("case", FULL, ids=[c["name"] for c in FULL])
def test_predict_matches_metafor(case):
    fit = fit_case(case)
    pr = fit.predict()
    for col in ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
        np.testing.assert_allclose(pr[col].to_numpy(), _num(case["predict"][col]), rtol=5e-5,
                                   atol=1e-8, err_msg=col)


@pytest.mark.parametrize("case", FULL, ids=[c["name"] for c in FULL])
def test_ranef_matches_metafor(case):
    fit = fit_case(case)
    re = fit.ranef()
    assert len(re.tables) == len(case["ranef"])
    for (name, table), (rname, ref) in zip(re.tables.items(), case["ranef"].items(),
                                           strict=True):
        assert len(table) == len(ref["levels"]), (name, rname)
        # metafor orders the rows its own way (nested levels, inner | outer): match by label
        pos = {lab.replace(" ", ""): i for i, lab in enumerate(table["level"])}
        order = [pos[lab.replace(" ", "")] for lab in ref["levels"]]
        for col in ("intrcpt", "se", "pi_lb", "pi_ub"):
            want = _num(ref[col])
            atol = 2e-6 * max(1.0, float(np.max(np.abs(want))))
            np.testing.assert_allclose(table[col].to_numpy()[order], want, rtol=1e-4,
                                       atol=atol, err_msg=f"{name} {col}")


#: metafor 3.8.1's confint for berkey UN fails for tau^2 (NA, with the warning "Cannot
#: obtain ... bound ... due to convergence problems") and returns rho bounds [0.3044, 0.9218]
#: (0.3044 is exactly half the estimate, its search start) where the profile log-likelihood is
#: still 1.8 and 1.4 above the cut-off: not a confidence limit. evsynth's bounds are checked on
#: the profile instead (test_confint_bounds_are_on_the_profile).
METAFOR_CI_FAILED = {"berkey_UN_REML"}


@pytest.mark.parametrize("case", FULL, ids=[c["name"] for c in FULL])
def test_confint_matches_metafor(case):
    if case["name"] in METAFOR_CI_FAILED:
        pytest.skip("metafor's profile CIs failed here; see test_confint_bounds_are_on_the_"
                    "profile")
    fit = fit_case(case)
    ci = fit.confint().to_frame()
    compared = 0
    for ref in case["confint"].values():
        rows = np.atleast_1d(ref["rows"])
        name = rows[0].replace("^", "")
        row = ci.loc[name]
        np.testing.assert_allclose(row["estimate"], _num(ref["est"])[0], rtol=1e-4)
        for b in ("lb", "ub"):
            val = _num(ref[b])[0]
            if np.isfinite(val):  # metafor gives NA where its own profiling failed
                np.testing.assert_allclose(row[f"ci_{b}"], val, rtol=2e-4, atol=1e-6,
                                           err_msg=f"{name} {b}")
                compared += 1
    assert compared >= 2


@pytest.mark.parametrize("case", FULL, ids=[c["name"] for c in FULL])
def test_confint_bounds_are_on_the_profile(case):
    """Each finite interior bound is where the profile drops by qchisq(.95, 1) / 2."""
    from scipy import stats

    fit = fit_case(case)
    ci = fit.confint().to_frame()
    target = fit.ll - stats.chi2.ppf(0.95, 1) / 2
    comps = {c[0]: c for c in fit._components()}
    for name, row in ci.iterrows():
        if name not in comps:
            continue
        for b in ("ci_lb", "ci_ub"):
            if "limit" in row["note"] and ((b == "ci_lb" and "lower" in row["note"])
                                           or (b == "ci_ub" and "upper" in row["note"])):
                assert fit._profile_ll(comps[name], row[b]) >= target - 1e-6
                continue
            assert abs(fit._profile_ll(comps[name], row[b]) - target) < 1e-4, (name, b)
    if case["name"] == "berkey_UN_REML":  # metafor's rho bounds are inside the interval
        assert fit._profile_ll(comps["rho"], 0.304399524343999) > target + 1
        assert fit._profile_ll(comps["rho"], 0.921759809737599) > target + 1


@pytest.mark.parametrize("case", FULL, ids=[c["name"] for c in FULL])
def test_cooks_and_dfbetas_match_metafor(case):
    fit = fit_case(case)
    cook = _num(case["cooks"])
    ok = np.isfinite(cook)  # metafor returns NA where its refit did not converge
    assert ok.sum() >= 3
    np.testing.assert_allclose(fit.cooks_distance().to_numpy()[ok], cook[ok], rtol=2e-3,
                               atol=1e-7)
    dfb = np.array([[np.nan if v in ("NA", None) else v for v in np.atleast_1d(r)]
                    for r in case["dfbetas"]], dtype=float)
    mine = fit.dfbetas().to_numpy()
    okb = np.isfinite(dfb)
    np.testing.assert_allclose(mine[okb], dfb[okb], rtol=2e-3, atol=1e-6)


def test_i2_decomposition_metafor_faq():
    """metafor FAQ 'I^2 for multilevel and multivariate models' (Nakagawa & Santos 2012)."""
    ref = json.loads((REF / "i2.json").read_text())["cases"][0]
    fit = meta_mv("yi", "vi", random="~ 1 | district/school", data=_konst())
    tab = fit.i2().to_frame()
    np.testing.assert_allclose(fit.i2().typical, ref["typical"], rtol=1e-9)
    np.testing.assert_allclose(tab["I2"].iloc[1:3].to_numpy(), ref["I2"], rtol=1e-5)
    np.testing.assert_allclose(tab.loc["total (sigma2)", "I2"], ref["I2_total"], rtol=1e-5)


def test_anova_lrt_wald_and_profile():
    ref = json.loads((REF / "anova.json").read_text())["cases"][0]
    d = _konst()
    full = meta_mv("yi", "vi", random="~ 1 | district/school", data=d)
    red = meta_mv("yi", "vi", random="~ 1 | district/school", data=d, sigma2=[0, None])
    a = full.anova(red)
    np.testing.assert_allclose([a.stat, a.pval, a.df], [ref["LRT"], ref["pval"], ref["df"]],
                               rtol=1e-6)
    assert a.to_dict()["kind"] == "LRT"
    prof = full.profile("sigma2.1", values=ref["profile_grid"])
    np.testing.assert_allclose(prof.ll, ref["profile_ll"], rtol=1e-7)
    fig = prof.plot()
    assert fig.axes
    fm = meta_mv("yi", "vi", random="~ 1 | district/school", mods="~ year_c", data=d)
    w = fm.anova(L=[[1, 0], [1, 10]])
    np.testing.assert_allclose(w.stat, ref["wald_QM"], rtol=1e-5)
    np.testing.assert_allclose(w.pval, ref["wald_QMp"], rtol=1e-5)
    np.testing.assert_allclose(w.estimates, ref["wald_Xb"], rtol=1e-6)
    np.testing.assert_allclose(w.se, ref["wald_se"], rtol=1e-6)


def test_blup_of_true_effects_is_fitted_plus_ranef():
    d = _konst()
    fit = meta_mv("yi", "vi", random="~ 1 | district/school", data=d)
    b = fit.blup()
    re = fit.ranef()
    lev1 = dict(zip(re["district"]["level"], re["district"]["intrcpt"], strict=True))
    lev2 = dict(zip(re["district/school"]["level"], re["district/school"]["intrcpt"],
                    strict=True))
    expect = (fit.beta[0] + np.array([lev1[str(x)] for x in d["district"]])
              + np.array([lev2[f"{a}/{s}"] for a, s in zip(d["district"], d["school"],
                                                             strict=True)]))
    np.testing.assert_allclose(b.pred, expect, rtol=1e-10, atol=1e-12)
    assert np.all(b.se > 0) and np.all(b.pi_lb < b.pred)


def test_cluster_deletion_and_predict_levels():
    d = pd.read_csv(REF / "data_berkey.csv")
    V = np.array(json.loads((REF / "V_berkey.json").read_text()))
    fit = meta_mv(d["yi"], V, mods="~ 0 + outcome", random="~ outcome | trial",
                  struct="UN", data=d)
    cd = fit.cooks_distance(cluster="trial")
    assert len(cd) == 5 and np.all(cd >= 0)
    p = fit.predict(newmods=np.eye(2), tau2_levels=["AL", "PD"])
    assert np.all(np.isfinite(p.pi_lb))
    nopi = fit.predict(newmods=np.eye(2))
    assert np.all(np.isnan(nopi.pi_lb)) and nopi.notes


@pytest.mark.parametrize("case", FULL, ids=[c["name"] for c in FULL])
def test_rstudent_matches_metafor(case):
    fit = fit_case(case)
    rs = fit.rstudent()
    ref_r, ref_se = _num(case["rstudent"]["resid"]), _num(case["rstudent"]["se"])
    ok = np.isfinite(ref_r)  # NA where metafor's refit failed
    assert ok.sum() >= 3
    scale = float(np.max(np.abs(ref_r[ok])))
    np.testing.assert_allclose(rs.resid[ok], ref_r[ok], rtol=1e-3, atol=1e-5 * scale)
    np.testing.assert_allclose(rs.se[ok], ref_se[ok], rtol=1e-3)


def test_cluster_deletion_matches_metafor():
    """cooks.distance / dfbetas with cluster = trial (metafor default control: its refits fail
    at rel.tol 1e-12, so the tolerance is that of nlminb's default)."""
    ref = json.loads((REF / "cluster.json").read_text())["cases"][0]
    d = pd.read_csv(REF / "data_berkey.csv")
    V = np.array(json.loads((REF / "V_berkey.json").read_text()))
    fit = meta_mv(d["yi"], V, mods="~ 0 + outcome", random="~ outcome | trial", struct="UN",
                  data=d)
    np.testing.assert_allclose(fit.cooks_distance(cluster="trial").to_numpy(), ref["cooks"],
                               rtol=2e-3)
    np.testing.assert_allclose(fit.dfbetas(cluster=d["trial"]).to_numpy(),
                               np.array(ref["dfbetas"]), rtol=2e-3, atol=2e-5)
