"""The further escalc measures (issue 13): independent checks that do not rely on metafor
(identities with raw data, closed forms, published values), validation messages, the deliberate
differences from metafor, and property tests."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import evsynth
from evsynth.effects.escalc import MEASURES, measures
from evsynth.effects.escalc_more import (
    bivariate_normal_cdf,
    hyp2f1,
    tetrachoric,
)
from evsynth.errors import InputError
from fixture_data import load_fixture

es = evsynth.effect_size
rng = np.random.default_rng(20261203)


def test_registry_has_every_metafor_38_measure():
    metafor_38 = ("RR OR PETO RD AS PHI YUQ YUY RTET PBIT OR2D OR2DN OR2DL MPRD MPRR MPOR MPORC "
                  "MPPETO IRR IRD IRSD MD SMD SMDH SMD1 SMD1H ROM CVR VR RPB RBIS D2OR D2ORN "
                  "D2ORL COR UCOR ZCOR PCOR ZPCOR SPCOR PR PLN PLO PAS PFT IR IRLN IRS IRFT MN "
                  "MNLN CVLN SDLN SMN MC SMCC SMCR SMCRH ROMC CVRC VRC ARAW AHW ABT REH GEN "
                  "MPORM")
    assert set(metafor_38.split()) - set(MEASURES) == set()
    table = measures()
    assert {"PHI", "UCOR", "PCOR", "IRFT"} <= set(table["measure"])


# ------------------------------------------------------------------ identities with raw data


def test_rpb_is_pearson_correlation_with_group_indicator():
    # point-biserial r = Pearson r between the outcome and a 0/1 group indicator
    y1, y2 = rng.normal(1.0, 2.0, 30), rng.normal(0.0, 1.5, 45)
    grp = np.r_[np.ones(30), np.zeros(45)]
    r = np.corrcoef(np.r_[y1, y2], grp)[0, 1]
    res = es("RPB", m1i=[y1.mean()], m2i=[y2.mean()], sd1i=[y1.std(ddof=1)],
             sd2i=[y2.std(ddof=1)], n1i=[30], n2i=[45])
    assert res["yi"].iloc[0] == pytest.approx(r, rel=1e-12)


def test_phi_is_pearson_correlation_of_two_binary_variables():
    a, b, c, d = 23, 17, 9, 31
    x = np.r_[np.ones(a + b), np.zeros(c + d)]
    y = np.r_[np.ones(a), np.zeros(b), np.ones(c), np.zeros(d)]
    res = es("PHI", ai=[a], bi=[b], ci=[c], di=[d])
    assert res["yi"].iloc[0] == pytest.approx(np.corrcoef(x, y)[0, 1], rel=1e-12)


def _ols_t(y, X):
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    df = len(y) - X.shape[1]
    s2 = resid @ resid / df
    cov = s2 * np.linalg.inv(X.T @ X)
    return beta / np.sqrt(np.diag(cov)), 1 - resid @ resid / np.sum((y - y.mean()) ** 2)


def test_pcor_and_spcor_from_a_regression():
    # partial r of x1 with y given x2, x3 = corr of the residuals of both on (1, x2, x3);
    # semi-partial = corr of y with the residual of x1 (Aloe & Becker 2012)
    n = 60
    Z = rng.normal(size=(n, 3))
    y = 0.5 * Z[:, 0] + 0.3 * Z[:, 1] - 0.2 * Z[:, 2] + rng.normal(size=n)
    X = np.column_stack([np.ones(n), Z])
    t, r2 = _ols_t(y, X)
    W = np.column_stack([np.ones(n), Z[:, 1:]])

    def resid(v):
        return v - W @ np.linalg.lstsq(W, v, rcond=None)[0]

    pr = np.corrcoef(resid(y), resid(Z[:, 0]))[0, 1]
    sr = np.corrcoef(y, resid(Z[:, 0]))[0, 1]
    # mi counts every predictor of the model (3 here): df = n - mi - 1 (metafor ?escalc)
    got = es("PCOR", ti=[t[1]], ni=[n], mi=[3])
    assert got["yi"].iloc[0] == pytest.approx(pr, rel=1e-10)
    got = es("SPCOR", ti=[t[1]], ni=[n], mi=[3], r2i=[r2])
    assert got["yi"].iloc[0] == pytest.approx(sr, rel=1e-10)
    z = es("ZPCOR", ti=[t[1]], ni=[n], mi=[3])
    assert z["yi"].iloc[0] == pytest.approx(np.arctanh(pr), rel=1e-10)
    assert z["vi"].iloc[0] == pytest.approx(1 / (n - 3 - 1))


def test_aloe2013_first_study():
    # metafor's ?dat.aloe2013 example, study 1 (Abu-Bader 2000): t = 4.61, n = 218, 4 predictors
    fx = load_fixture("escalc_more/aloe_PCOR_LS.json")
    df = 218 - 4 - 1
    assert fx["yi"][0] == pytest.approx(4.61 / math.sqrt(4.61**2 + df), rel=1e-12)


def tetrachoric_nll(par: np.ndarray, a: float, b: float, c: float, d: float) -> float:
    """Negative multinomial log-likelihood of a 2x2 table under a dichotomised bivariate
    normal, ``par = (rho, row cut, column cut)`` (metafor's ``.rtet``), for the checks."""
    rho, cr, cc = (float(x) for x in par)
    pa = float(bivariate_normal_cdf(cc, cr, rho))
    fr, fc = float(stats.norm.cdf(cr)), float(stats.norm.cdf(cc))
    p = np.array([pa, fr - pa, fc - pa, 1 - fr - fc + pa])
    if np.any(p <= 0):
        return np.inf
    return -float(np.sum(np.array([a, b, c, d]) * np.log(p)))


def central_hessian(fn, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Central-difference Hessian (steps ``h``), an independent check of the information."""
    p = len(x)
    out = np.empty((p, p))
    for i in range(p):
        for j in range(i, p):
            ei, ej = np.eye(p)[i] * h[i], np.eye(p)[j] * h[j]
            out[i, j] = out[j, i] = (fn(x + ei + ej) - fn(x + ei - ej) - fn(x - ei + ej)
                                     + fn(x - ei - ej)) / (4 * h[i] * h[j])
    return out


@pytest.mark.parametrize("a, b", [(35, 15), (12, 30), (90, 2)])
def test_tetrachoric_median_split_closed_form(a, b):
    # both cut points at 0: P(both below) = 1/4 + asin(rho)/(2 pi) (Sheppard 1899), so
    # rho = sin(2 pi (a/n - 1/4)); with a = d and b = c the information of rho and of the cuts
    # separate, and var(rho) = 1 / (n sum_i f^2 / p_i) with f = 1 / (2 pi sqrt(1 - rho^2)) the
    # bivariate density at the origin and p_i the cell proportions
    n = 2 * (a + b)
    y, v = tetrachoric(a, b, b, a)
    rho = math.sin(2 * math.pi * (a / n - 0.25))
    assert y == pytest.approx(rho, rel=1e-13, abs=1e-15)
    f = 1 / (2 * math.pi * math.sqrt(1 - rho * rho))
    assert v == pytest.approx(1 / (n * f * f * (2 * n / a + 2 * n / b)), rel=1e-12)


def test_rtet_is_the_exact_maximiser():
    # metafor stops optimize() at a tolerance of 1.2e-4; evsynth's estimate has the higher
    # likelihood in every fixture table where they differ
    fx = load_fixture("escalc_more/rtet_tables.json")
    cells = np.array([fx["inputs"][k] for k in ("ai", "bi", "ci", "di")], dtype=float).T
    ours = es("RTET", ai=cells[:, 0], bi=cells[:, 1], ci=cells[:, 2], di=cells[:, 3])
    for (a, b, c, d), theirs, mine in zip(cells, fx["yi"], ours["yi"], strict=True):
        if theirs is None or abs(mine) == 1:
            continue
        n = a + b + c + d
        cuts = [stats.norm.ppf((a + b) / n), stats.norm.ppf((a + c) / n)]
        assert (tetrachoric_nll(np.array([mine, *cuts]), a, b, c, d)
                <= tetrachoric_nll(np.array([theirs, *cuts]), a, b, c, d) + 1e-12)


def test_rtet_fits_every_cell_to_rounding():
    """The model is saturated: the MLE reproduces the cell proportions. Fuzz round 4: near
    |rho| = 0.9999 a cell probability rounded to 0 gave the score a wrong sign at the bound,
    and the bounded minimiser's ~1e-8 answer was used ((7, 13, 2, 9): 0.3094904208 for
    0.3094904342; (6, 6, 35, 35), ad = bc: -1.05e-8 for 0)."""
    for cells in [(7, 13, 2, 9), (6, 6, 35, 35), (5, 500, 400, 5), (15, 10, 5, 20),
                  (1, 1000, 2, 3), (250, 1, 2, 300)]:
        a, b, c, d = cells
        n = sum(cells)
        y, v = tetrachoric(*map(float, cells))
        cr, cc = stats.norm.ppf((a + b) / n), stats.norm.ppf((a + c) / n)
        assert float(bivariate_normal_cdf(cc, cr, y)) == pytest.approx(a / n, rel=1e-13)
        assert np.isfinite(v) and v > 0
    assert abs(tetrachoric(6, 6, 35, 35)[0]) < 1e-14  # ad = bc: independence


def test_rtet_variance_is_the_inverse_information():
    """The analytic information n J' diag(1/p) J against a central-difference Hessian of the
    log-likelihood (steps 1e-5). Fuzz round 4: the finite-difference variance was 7.5% low at
    rho = -0.9994 ((5, 500, 400, 5): 1.3501e-7 for 1.45882e-7; metafor 6.06e-7)."""
    # next to the bound the steps must be small and the differences' truncation error grows:
    # 1e-3 relative at rho = -0.9994 (a 40-digit numerical Hessian gives 1.45882e-7 there)
    for cells, tol in [((15, 10, 5, 20), 2e-4), ((5, 7, 6, 9), 2e-4), ((40, 3, 2, 35), 2e-4),
                       ((7, 13, 2, 9), 2e-4), ((5, 500, 400, 5), 1.5e-3)]:
        a, b, c, d = cells
        n = sum(cells)
        y, v = tetrachoric(*map(float, cells))
        par = np.array([y, stats.norm.ppf((a + b) / n), stats.norm.ppf((a + c) / n)])
        step = np.array([min(1e-5, (1 - abs(y)) / 8), 1e-5, 1e-5])
        fine = np.linalg.inv(central_hessian(lambda p, t=cells: tetrachoric_nll(p, *t), par,
                                             step))[0, 0]
        assert v == pytest.approx(fine, rel=tol)


def test_rtet_beyond_metafors_range_is_reported_at_the_bound():
    """(1e6, 10, 10, 1e6): rho = cos(pi 1e-5) = 1 - 4.9e-10, beyond |rho| <= 0.9999: the bound,
    as metafor, without a variance and with that reason (it said 'one zero cell')."""
    res = es("RTET", ai=[1e6, 10], bi=[10, 1e6], ci=[10, 1e6], di=[1e6, 10])
    assert res["yi"].tolist() == [0.9999, -0.9999]
    assert res["vi"].isna().all()
    assert res["note"].str.contains("beyond metafor's range").all()


def test_rtet_one_zero_cell_differs_from_metafor_on_purpose():
    # metafor 3.8: yi = 1 with vi = 6322 (an inverse Hessian at the boundary); evsynth keeps
    # yi = +-1 and gives no variance, with the reason in `note`
    res = es("RTET", ai=[10, 0], bi=[0, 8], ci=[4, 6], di=[6, 9])
    assert res["yi"].tolist() == [1.0, -1.0]
    assert res["vi"].isna().all()
    assert res["note"].str.contains("boundary").all()


def test_bivariate_normal_cdf():
    for h, k, r in [(0.3, -0.5, 0.4), (-1.2, -0.7, -0.6), (0.0, 0.8, 0.3), (0.0, 0.0, 0.5),
                    (1.5, 2.0, 0.95), (-2.0, 0.0, -0.2)]:
        ref = stats.multivariate_normal(mean=[0, 0], cov=[[1, r], [r, 1]]).cdf([h, k])
        assert bivariate_normal_cdf(h, k, r) == pytest.approx(ref, abs=1e-6)
    assert bivariate_normal_cdf(0.0, 0.0, 0.5) == pytest.approx(1 / 3, rel=1e-14)
    assert bivariate_normal_cdf(0.4, -0.3, 0.0) == pytest.approx(
        stats.norm.cdf(0.4) * stats.norm.cdf(-0.3), rel=1e-14)


def test_ucor_hypergeometric_fallback():
    # scipy returns NaN for 2F1(1/2, 1/2; 162; 0.9975); Euler's integral takes over, and agrees
    # with the series where scipy is fine
    assert np.isfinite(hyp2f1(0.5, 0.5, np.array([162.0]), np.array([0.9975]))).all()
    from scipy import special
    for c, x in [(3.0, 0.5), (10.0, 0.9), (40.0, 0.99)]:
        ref = special.hyp2f1(0.5, 0.5, c, x)
        assert np.isfinite(ref)
        # force the integral path
        from scipy import integrate
        val = integrate.quad(lambda t, x=x: (1 - x * t) ** -0.5, 0, 1, weight="alg",
                             wvar=(-0.5, c - 1.5))[0] / special.beta(0.5, c - 0.5)
        assert val == pytest.approx(ref, rel=1e-10)
    # Olkin & Pratt (1958): u ~= r (1 + (1 - r^2) / (2 (n - 3))) for large n
    u = es("UCOR", ri=[0.4], ni=[500])["yi"].iloc[0]
    assert u == pytest.approx(0.4 * (1 + 0.84 / (2 * 497)), rel=1e-5)


def test_log_odds_and_smd_conversions_agree():
    bin_ = dict(ai=[12, 30], bi=[18, 20], ci=[6, 25], di=[24, 25])
    lor = es("OR", **bin_)
    np.testing.assert_allclose(es("OR2DL", **bin_)["yi"], lor["yi"] * math.sqrt(3) / math.pi)
    np.testing.assert_allclose(es("OR2DN", **bin_)["vi"], lor["vi"] / 1.65**2)
    np.testing.assert_allclose(es("OR2D", **bin_)["yi"], es("OR2DL", **bin_)["yi"])
    cont = dict(m1i=[5.0], m2i=[4.0], sd1i=[2.0], sd2i=[2.0], n1i=[20], n2i=[20])
    d = (5 - 4) / 2
    assert es("D2ORL", **cont)["yi"].iloc[0] == pytest.approx(math.pi / math.sqrt(3) * d)
    # RPB from Cohen's d equals RPB from the means (d given as di)
    np.testing.assert_allclose(es("RPB", di=[d], n1i=[20], n2i=[20])["yi"],
                               es("RPB", **cont)["yi"], rtol=1e-14)


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(("measure", "kwargs", "msg"), [
    ("CVR", dict(m1i=[-1.0], m2i=[2.0], sd1i=[1.0], sd2i=[1.0], n1i=[10], n2i=[10]),
     "field 'm1i' is -1.0; expected a positive number"),
    ("VR", dict(sd1i=[1.0], sd2i=[0.0], n1i=[10], n2i=[10]), "field 'sd2i'"),
    ("VR", dict(sd1i=[1.0], n1i=[10], n2i=[10]), "needs argument 'sd2i'"),
    ("MNLN", dict(mi=[0.0], sdi=[1.0], ni=[10]), "field 'mi' is 0.0"),
    ("SDLN", dict(sdi=[1.0], ni=[1]), "field 'ni' is 1.0; expected a sample size >= 2"),
    ("PCOR", dict(ti=[2.0], ni=[5], mi=[4]), "ni > mi + 1"),
    ("PCOR", dict(ti=[2.0], ni=[50], mi=[4], r2i=[0.3]), "'r2i' is not used by measure 'PCOR'"),
    ("SPCOR", dict(ti=[2.0], ni=[50], mi=[4], r2i=[1.3]), "an R^2 in [0, 1]"),
    ("SPCOR", dict(ti=[2.0], ni=[50], mi=[4]), "needs argument 'r2i'"),
    ("ROMC", dict(m1i=[1.0], m2i=[-2.0], sd1i=[1.0], sd2i=[1.0], ni=[10], ri=[0.5]),
     "field 'm2i'"),
    ("UCOR", dict(ri=[1.2], ni=[10]), "a correlation in [-1, 1]"),
    ("IRS", dict(xi=[-1], ti=[10]), "field 'xi' is -1.0"),
    ("ARAW", dict(ai=[1.2], mi=[5], ni=[40]), "Cronbach's alpha <= 1"),
    ("ARAW", dict(ai=[0.8], mi=[1], ni=[40]), "number of items >= 2"),
    ("MPRD", dict(ai=[1], bi=[2], ci=[3], di=[4], n1i=[3]), "'n1i' is not used"),
    ("MPORM", dict(ai=[1], bi=[2], ci=[3], di=[4]), "needs argument 'ri'"),
    ("MPORM", dict(ai=[1], bi=[2], ci=[3], di=[4], ri=[1.5]), "a correlation in [-1, 1]"),
    ("OR", dict(ai=[1], bi=[2], ci=[3], di=[4], ri=[0.5]), "'ri' is not used by measure 'OR'"),
    ("RBIS", dict(n1i=[10], n2i=[12]), "(or Cohen's d 'di', or the t statistic 'ti')"),
])
def test_bad_input(measure, kwargs, msg):
    with pytest.raises(InputError, match=re.escape(msg)):
        es(measure, **kwargs)


@pytest.mark.parametrize(("measure", "vtype"), [("PHI", "UB"), ("RPB", "AV"), ("PCOR", "UB"),
                                                ("ZPCOR", "AV"), ("COR", "UB"), ("VR", "HO")])
def test_vtype_not_available(measure, vtype):
    with pytest.raises(InputError, match=f"vtype '{vtype}' is not available"):
        es(measure, vtype=vtype, **{
            "PHI": dict(ai=[1], bi=[2], ci=[3], di=[4]),
            "RPB": dict(m1i=[1.0], m2i=[0.0], sd1i=[1.0], sd2i=[1.0], n1i=[9], n2i=[9]),
            "PCOR": dict(ti=[1.0], ni=[9], mi=[1]), "ZPCOR": dict(ti=[1.0], ni=[9], mi=[1]),
            "COR": dict(ri=[0.2], ni=[9]),
            "VR": dict(sd1i=[1.0], sd2i=[2.0], n1i=[9], n2i=[9])}[measure])


def test_options_that_do_not_apply():
    with pytest.raises(InputError, match="drop00 applies to two-group count measures"):
        es("IR", xi=[1], ti=[10], drop00=True)
    with pytest.raises(InputError, match="continuity correction"):
        es("PCOR", ti=[1.0], ni=[9], mi=[1], add=0.5)
    with pytest.raises(InputError, match="correct=False applies to standardised"):
        es("VR", sd1i=[1.0], sd2i=[2.0], n1i=[9], n2i=[9], correct=False)


def test_notes_for_undefined_studies():
    res = es("UCOR", ri=[0.3, 0.3], ni=[4, 20])
    assert np.isnan(res["yi"].iloc[0]) and "ni <= 4" in res["note"].iloc[0]
    assert res["note"].iloc[1] == ""
    res = es("PBIT", ai=[0, 5], bi=[10, 5], ci=[3, 4], di=[7, 6], to="none")
    assert np.isnan(res["yi"].iloc[0]) and "zero cell" in res["note"].iloc[0]
    res = es("RTET", ai=[5], bi=[0], ci=[3], di=[0])  # empty column margin
    assert np.isnan(res["yi"].iloc[0]) and res["note"].iloc[0] != ""


# ------------------------------------------------------------------ properties


cells = st.integers(1, 200)


@settings(max_examples=60, deadline=None)
@given(a=cells, b=cells, c=cells, d=cells)
def test_association_measures_bounded_and_antisymmetric(a, b, c, d):
    tab = dict(ai=[a], bi=[b], ci=[c], di=[d])
    swap = dict(ai=[c], bi=[d], ci=[a], di=[b])
    for m in ("PHI", "YUQ", "YUY"):
        y = es(m, **tab)["yi"].iloc[0]
        assert -1 <= y <= 1
        assert es(m, **swap)["yi"].iloc[0] == pytest.approx(-y, abs=1e-12)
    for m in ("PBIT", "OR2DN", "OR2DL"):
        assert es(m, **swap)["yi"].iloc[0] == pytest.approx(-es(m, **tab)["yi"].iloc[0],
                                                            abs=1e-12)
    # Yule's Y = tanh(log(OR)/4), Q = tanh(log(OR)/2)
    lor = math.log((a * d) / (b * c))
    assert es("YUQ", **tab)["yi"].iloc[0] == pytest.approx(math.tanh(lor / 2), abs=1e-12)
    assert es("YUY", **tab)["yi"].iloc[0] == pytest.approx(math.tanh(lor / 4), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(sd1=st.floats(0.1, 50), sd2=st.floats(0.1, 50), n=st.integers(2, 500),
       scale=st.floats(0.01, 100))
def test_variability_ratios_scale_free_and_antisymmetric(sd1, sd2, n, scale):
    a = es("VR", sd1i=[sd1], sd2i=[sd2], n1i=[n], n2i=[n])
    b = es("VR", sd1i=[sd1 * scale], sd2i=[sd2 * scale], n1i=[n], n2i=[n])
    c = es("VR", sd1i=[sd2], sd2i=[sd1], n1i=[n], n2i=[n])
    assert b["yi"].iloc[0] == pytest.approx(a["yi"].iloc[0], abs=1e-9)
    assert c["yi"].iloc[0] == pytest.approx(-a["yi"].iloc[0], abs=1e-9)
    cv = es("CVR", m1i=[3.0], m2i=[3.0 * scale], sd1i=[sd1], sd2i=[sd1 * scale], n1i=[n],
            n2i=[n])
    assert cv["yi"].iloc[0] == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(x=st.integers(0, 500), t=st.floats(1.0, 1e5))
def test_rates_back_transform(x, t):
    ir = es("IR", xi=[x], ti=[t], to="none")["yi"].iloc[0]
    irs = es("IRS", xi=[x], ti=[t])["yi"].iloc[0]
    irft = es("IRFT", xi=[x], ti=[t])["yi"].iloc[0]
    assert ir == pytest.approx(x / t, rel=1e-12, abs=1e-300)
    assert float(evsynth.transf.isqrt(irs)) == pytest.approx(x / t, rel=1e-10, abs=1e-15)
    assert float(evsynth.transf.iirft(irft, t)) == pytest.approx(x / t, rel=1e-6, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(x=st.integers(1, 300), m=st.integers(0, 300))
def test_pln_exponentiates_to_the_proportion(x, m):
    y = es("PLN", xi=[x], mi=[m], to="none")["yi"].iloc[0]
    assert math.exp(y) == pytest.approx(x / (x + m), rel=1e-12)


def test_data_frame_columns_labels_and_index():
    import pandas as pd

    fx = load_fixture("escalc_more/aloe_SPCOR_LS.json")
    df = pd.DataFrame({"t": fx["inputs"]["ti"], "n": fx["inputs"]["ni"],
                       "p": fx["inputs"]["mi"], "R2": fx["inputs"]["r2i"]},
                      index=range(100, 100 + len(fx["yi"])))
    df["study"] = [f"S{i}" for i in range(len(df))]
    res = es("SPCOR", data=df, ti="t", ni="n", mi="p", r2i="R2", slab="study")
    assert list(res.index) == list(df.index) and res["slab"].tolist() == df["study"].tolist()
    np.testing.assert_allclose(res["yi"], fx["yi"], rtol=1e-12)
    df.loc[103, "n"] = 3  # n - mi - 1 <= 0: the message names the study
    with pytest.raises(InputError, match="S3"):
        es("SPCOR", data=df, ti="t", ni="n", mi="p", r2i="R2", slab="study")


@settings(max_examples=60, deadline=None)
@given(t=st.floats(-50, 50), n=st.integers(3, 5000), m=st.integers(0, 50),
       r2=st.floats(0, 0.99))
def test_partial_correlations_bounded(t, n, m, r2):
    if n - m - 1 <= 0:
        return
    pc = es("PCOR", ti=[t], ni=[n], mi=[m])
    assert -1 <= pc["yi"].iloc[0] <= 1 and pc["vi"].iloc[0] >= 0
    z = es("ZPCOR", ti=[t], ni=[n], mi=[m])["yi"].iloc[0]
    assert math.tanh(z) == pytest.approx(pc["yi"].iloc[0], abs=1e-12)
