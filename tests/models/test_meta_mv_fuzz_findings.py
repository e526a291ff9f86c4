"""meta_mv post-fit methods where a differential fuzz against metafor 3.8.1 (session 12) found
faults: t tests of linear combinations under containment df, and deletion diagnostics when a
deletion removes an inner level's only effect or the refit does not converge.

metafor's values: tests/reference/fuzz_findings_fixtures.R."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import evsynth
from evsynth.models.multivariate import diagnostics as mv_diag
from fixture_data import load_fixture

CASES = {c["id"]: c for c in load_fixture("fuzz_findings/mv_df_and_deletions.json")["cases"]}


def _contain_fit():
    d = pd.DataFrame(CASES["contain"]["data"])
    return evsynth.meta_mv("yi", "vi", random="~ 1 | study/es", mods="~ x1", data=d,
                           dfs="contain", test="t")


def test_anova_uses_the_df_of_the_tested_coefficients():
    """ddf = (4, 16): the test of the slope has 16 df (metafor F(1, 16), p = 0.00085), where
    evsynth took the smallest df of all coefficients (4; p = 0.015)."""
    case = CASES["contain"]
    fit = _contain_fit()
    np.testing.assert_allclose(fit.ddf, case["ddf"])
    for res in (fit.anova(btt=[1]), fit.anova(L=[[0, 1]])):
        assert res.df2 == case["anova_btt_df2"] == 16
        assert res.stat == pytest.approx(case["anova_btt_F"], rel=1e-6)
        assert res.pval == pytest.approx(case["anova_btt_p"], rel=1e-5)
    both = fit.anova(L=[[1, 0], [0, 1]])  # the omnibus F of two rows: the smaller df
    assert both.df2 == 4


def test_predict_uses_the_df_of_each_combination():
    """The slope alone (intercept=False, row (0, 1)) has 16 df: metafor's CI [0.1635, 0.5149]
    (evsynth's was [0.1091, 0.5693] on 4 df); intercept + 0.5 slope has min(4, 16) = 4."""
    case = CASES["contain"]
    fit = _contain_fit()
    slope = fit.predict(newmods=[[0, 1.0]], intercept=False).frame
    assert slope["ci_lb"].iloc[0] == pytest.approx(case["ci_lb"][1], rel=1e-5)
    assert slope["ci_ub"].iloc[0] == pytest.approx(case["ci_ub"][1], rel=1e-5)
    mixed = fit.predict(newmods=[[0.5]]).frame
    assert mixed["ci_lb"].iloc[0] == pytest.approx(case["ci_lb"][2], rel=1e-5)
    assert mixed["ci_ub"].iloc[0] == pytest.approx(case["ci_ub"][2], rel=1e-5)
    # by hand: pred -/+ t_(0.975, df) se with each row's df
    two = fit.predict(newmods=[[0, 1.0], [1, 0.5]], intercept=False).frame
    t = stats.t.ppf(0.975, [16, 4])
    np.testing.assert_allclose(two["ci_ub"] - two["pred"], t * two["se"], rtol=1e-12)


def _vanish_fit(struct: str):
    d = pd.DataFrame(CASES["vanishing_level"]["data"])
    return evsynth.meta_mv("yi", "vi", random="~ outcome | study", struct=struct, data=d)


def test_deleting_an_inner_levels_only_effect_cs():
    """Effect 17 is the only one of outcome o2: deleting it dropped a level, and rstudent()
    raised IndexError (the refit's smaller G indexed with the full data's codes). CS keeps one
    variance: metafor's z for every row, 0.6335 for that one."""
    fit = _vanish_fit("CS")
    z = fit.rstudent().to_frame()["z"].to_numpy()
    np.testing.assert_allclose(z, CASES["vanishing_level"]["cs_z"], rtol=2e-4, atol=1e-5)
    # the refit's variance components apply to the full data (one variance, one correlation)
    labels, B, VB = mv_diag._deletions(fit, np.where(np.arange(fit.k) == fit.k - 1, 1, 0))
    assert np.all(np.isfinite(B[1])) and np.all(np.isfinite(VB[1]))  # cluster 1: effect 17


def test_deleting_an_inner_levels_only_effect_un():
    """UN: the refit has no variance for o2, so the row is NA as in metafor (evsynth raised
    IndexError / ValueError 'operands could not be broadcast')."""
    fit = _vanish_fit("UN")
    z = fit.rstudent().to_frame()["z"].to_numpy()
    ref = np.array([np.nan if x == "NA" else x for x in CASES["vanishing_level"]["un_z"]],
                   dtype=float)
    assert np.isnan(z[-1]) and np.isnan(ref[-1])
    assert np.isnan(fit.cooks_distance().iloc[-1])
    assert np.isnan(fit.dfbetas().iloc[-1]).all()
    assert np.all(np.isfinite(z[:-1]))


def test_non_converged_refits_give_na(monkeypatch):
    """A refit flagged converged=False (its likelihood rising towards a singular marginal
    covariance) gave dfbetas 5.39 where metafor's refit gives 0.646; such rows are now NA."""
    fit = _vanish_fit("CS")
    real = type(fit).refit

    def refit(self, rows=None, **kw):
        sub = real(self, rows, **kw)
        if rows is not None and 0 not in rows:  # the deletion of effect 1 "fails to converge"
            monkeypatch.setattr(sub, "method_info", {**sub.method_info, "converged": False})
        return sub

    monkeypatch.setattr(type(fit), "refit", refit)
    sub = mv_diag._refit_on(fit, np.arange(1, fit.k))
    assert sub is None
    assert np.isnan(fit.cooks_distance().iloc[0])
    assert np.isfinite(fit.cooks_distance().iloc[1])


CS_DATA = pd.DataFrame({
    "yi": [0.0243, 0.2944, -0.1164, 0.9902, -0.0227, 0.8741, 0.2797, 1.0261, 1.0861, 0.4161,
           0.1499, 0.4468, 1.1322, 0.5699, 0.2379, 0.3624, 0.4353, 1.1936, 0.1945],
    "vi": [0.227606, 0.091319, 0.150705, 0.294414, 0.288881, 0.220189, 0.166956, 0.090298,
           0.056589, 0.291278, 0.15966, 0.043601, 0.190812, 0.235238, 0.187771, 0.276016,
           0.021482, 0.163291, 0.143207],
    "study": ["s00", "s01", "s01", "s01", "s02", "s02", "s03", "s03", "s04", "s05", "s05",
              "s05", "s06", "s06", "s07", "s08", "s08", "s08", "s09"],
    "outcome": ["o0", "o0", "o1", "o2", "o0", "o2", "o1", "o2", "o2", "o0", "o1", "o2", "o0",
                "o1", "o1", "o0", "o1", "o2", "o1"]})


def test_confint_bound_is_a_root_of_the_profile():
    """The profile at tau^2 = 0.216 was computed from the fit's rho = -0.81, where the marginal
    covariance is not positive definite: it came out -inf, and brentq returned the jump
    (0.21587) as the upper bound although the profile is 0.29 above the target there. A second
    start gives the finite profile; the bound is where a fit with tau^2 fixed there (an
    independent refit) is exactly qchisq(0.95, 1) / 2 below the maximum (metafor's 0.23620 is
    0.057 above the target)."""
    fit = evsynth.meta_mv("yi", "vi", random="~ outcome | study", struct="CS", data=CS_DATA)
    ci = fit.confint().frame
    ub = float(ci.loc["tau2", "ci_ub"])
    assert ub > 0.2159  # not the jump the search took for a bound before
    target = fit.ll - stats.chi2.ppf(0.95, 1) / 2
    at = evsynth.meta_mv("yi", "vi", random="~ outcome | study", struct="CS", data=CS_DATA,
                         tau2=ub)
    assert at.ll - target == pytest.approx(0.0, abs=1e-6)
    assert "upper" not in ci.loc["tau2", "note"]  # the lower bound is at the limit 0


# ------------------------------------------------- UN: inner levels that never co-occur
NEVER = load_fixture("fuzz_findings/mv_un_never_together.json")["cases"]


@pytest.mark.parametrize("case", NEVER, ids=[c["id"] for c in NEVER])
def test_un_correlation_of_levels_never_together_is_fixed_to_zero(case):
    """Outcomes B and C never occur in one study: their correlation does not enter the
    likelihood. metafor fixes it to 0 (with a warning) and does not count it as a parameter;
    evsynth estimated it (an arbitrary +/-0.64 in the fuzz, parms one too many). Now fixed to
    0 with a note (tests/reference/fuzz3_findings_fixtures.R)."""
    d = pd.DataFrame(case["data"])
    fit = evsynth.meta_mv("yi", "vi", mods="~ outcome - 1", random="~ outcome | study",
                          struct="UN", data=d, method=case["method"])
    assert fit.rho[2] == 0.0  # B-C in metafor's order (A-B, A-C, B-C)
    assert fit.parms == case["parms"] == 8
    assert any("levels 'B'-'C' never occur in one study: their rho fixed to 0" in n
               for n in fit.method_info["notes"])
    np.testing.assert_allclose(fit.rho, case["rho"], atol=1e-6)
    np.testing.assert_allclose(fit.tau2, case["tau2"], rtol=1e-4)
    np.testing.assert_allclose(np.ravel(fit.beta), case["beta"], atol=1e-6)
    assert fit.ll >= case["ll"] - 1e-9  # at least metafor's maximum
    assert fit.AIC == pytest.approx(-2 * fit.ll + 2 * case["parms"], rel=1e-12)
    # a correlation the user fixes is left as given, without the note
    fixed = evsynth.meta_mv("yi", "vi", mods="~ outcome - 1", random="~ outcome | study",
                            struct="UN", data=d, method=case["method"],
                            rho=[float("nan"), float("nan"), 0.3])
    assert fixed.rho[2] == 0.3
    assert not any("never occur" in n for n in fixed.method_info["notes"])


def test_un_leaves_a_rank_deficient_sign_pattern_for_a_better_one():
    """UN with 3 outcomes in 8 effects: the fit stopped at rho = (1, -1, -1) (ll -3.1377,
    'converged'), a rank-deficient G the Cholesky path cannot leave, where rho = (1, 1, 1)
    reaches metafor's maximum (-2.79228). Restarts from each sign pattern of the levels
    (tests/reference/fuzz3_findings_fixtures.R)."""
    case = load_fixture("fuzz_findings/mv_un_sign_pattern.json")["cases"][0]
    d = pd.DataFrame(case["data"])
    fit = evsynth.meta_mv("yi", "vi", mods="~ x1 + x2", random="~ outcome | study",
                          struct="UN", data=d, method="REML")
    assert fit.converged
    assert fit.ll >= case["ll"] - 1e-9
    np.testing.assert_allclose(fit.rho, case["rho"], atol=1e-6)
    np.testing.assert_allclose(fit.tau2, case["tau2"], rtol=1e-5)
    np.testing.assert_allclose(np.ravel(fit.beta), case["beta"], rtol=1e-5, atol=1e-8)


def test_un_with_no_two_levels_together_is_fitted_as_metafor():
    """Districts within studies, each study in one district: all 55 correlations are fixed to
    0, leaving 11 variances for 56 effects. evsynth counted the correlations as parameters
    and refused the model as not identifiable; metafor fits it."""
    case = load_fixture("fuzz_findings/mv_un_all_never_together.json")["cases"][0]
    from pathlib import Path

    d = pd.read_csv(Path(__file__).resolve().parents[1] / "reference" / "mv" / "data_konst.csv")
    fit = evsynth.meta_mv("yi", "vi", random="~ district | study", struct="UN", data=d)
    assert fit.parms == case["parms"] == 12
    assert np.all(fit.rho == 0.0)
    assert fit.ll >= case["ll"] - 1e-8
    np.testing.assert_allclose(np.ravel(fit.beta)[0], case["beta"], rtol=1e-6)
    np.testing.assert_allclose(np.ravel(fit.se)[0], case["se"], rtol=1e-5)
    note = next(n for n in fit.method_info["notes"] if "never occur" in n)
    assert "and 50 more pairs never occur in one study" in note
