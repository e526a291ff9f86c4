"""Tests for evsynth.convert (src/evsynth/effects/conversions.py).

Reference values: JSON fixtures written by tests/reference/conversions_fixtures.R (metafor
escalc "MC", R's qt/qnorm, a base-R transcription of the median/IQR/range estimators, and
simulated raw data for combined groups), worked examples quoted from the Cochrane Handbook, and
hypothesis properties.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from evsynth import convert
from evsynth.errors import InputError

FIXTURES = Path(__file__).resolve().parents[1] / "reference" / "conversions"
RTOL, ATOL = 1e-6, 1e-10


def fixture(name: str) -> dict:
    with open(FIXTURES / name, encoding="utf-8") as fh:
        return json.load(fh)


def arr(x) -> np.ndarray:
    """JSON list (null = NA) -> float array with NaN."""
    return np.array([np.nan if v is None else v for v in x], dtype=float)


def test_public_api():
    for name in convert.__all__:
        assert callable(getattr(convert, name))
    assert "sd_change" in convert.__all__


# ============================================================== fixtures from R / metafor


def test_sd_change_matches_metafor_escalc_mc():
    d = fixture("sd_change.json")
    got = convert.sd_change(d["sd_baseline"], d["sd_followup"], d["r"])
    assert_allclose(got, d["sd_change"], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("dist", ["auto", "t", "z"])
def test_sd_from_ci_matches_r(dist):
    d = fixture("ci_t_p.json")["one_group"]
    for lv in d["levels"]:
        got = convert.sd_from_ci(d["lower"], d["upper"], d["n"], level=lv, dist=dist)
        assert_allclose(got, d["sd"][str(lv)][dist], rtol=RTOL, atol=ATOL)
        # fraction form of the level gives the same result
        got2 = convert.sd_from_ci(d["lower"], d["upper"], d["n"], level=lv / 100, dist=dist)
        assert_allclose(got2, got, rtol=1e-12)


@pytest.mark.parametrize("dist", ["auto", "t", "z"])
def test_sd_from_ci_md_matches_r(dist):
    d = fixture("ci_t_p.json")["two_group"]
    for lv in d["levels"]:
        got = convert.sd_from_ci_md(d["lower"], d["upper"], d["n1"], d["n2"], level=lv,
                                    dist=dist)
        assert_allclose(got, d["sd"][str(lv)][dist], rtol=RTOL, atol=ATOL)


def test_sd_from_t_and_p_match_r():
    d = fixture("ci_t_p.json")["t_p"]
    assert_allclose(convert.sd_from_t(d["t"], d["n1"], d["n2"], d["md"]), d["sd_from_t"],
                    rtol=RTOL, atol=ATOL)
    assert_allclose(convert.sd_from_p(d["p"], d["n1"], d["n2"], d["md"]), d["sd_from_p_t"],
                    rtol=RTOL, atol=ATOL)
    assert_allclose(convert.sd_from_p(d["p"], d["n1"], d["n2"], d["md"], dist="z"),
                    d["sd_from_p_z"], rtol=RTOL, atol=ATOL)


def test_generic_se_match_r():
    d = fixture("ci_t_p.json")["generic"]
    rows = d["log_rows"]
    lo, up = np.array(d["lower"]), np.array(d["upper"])
    for lv in d["levels"]:
        assert_allclose(convert.se_from_ci(lo, up, level=lv), d["se_from_ci"][str(lv)],
                        rtol=RTOL, atol=ATOL)
        assert_allclose(convert.se_from_ci(lo[rows], up[rows], level=lv, log=True),
                        d["se_from_ci_log"][str(lv)], rtol=RTOL, atol=ATOL)
    assert_allclose(convert.se_from_p(d["estimate"], d["p"]), d["se_from_p"],
                    rtol=RTOL, atol=ATOL)


def test_wald_yi_vi_matches_r_generic_se():
    d = fixture("ci_t_p.json")["generic"]
    est, lo, up = (np.array(d[k]) for k in ("estimate", "lower", "upper"))
    se_ci = np.array(d["se_from_ci"]["95"])
    # rows 0-1 from the CI, row 2 from the P value, row 3 from a z statistic
    lo_, up_ = lo.copy(), up.copy()
    lo_[2:] = up_[2:] = np.nan
    z = np.array([np.nan, np.nan, np.nan, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        out = convert.wald_yi_vi(est, lo_, up_, p=d["p"], z=z)
    assert list(out["source"]) == ["ci", "ci", "p", "z"]
    assert_allclose(out["yi"], est)
    assert_allclose(out["vi"][:2], se_ci[:2] ** 2, rtol=RTOL, atol=ATOL)
    assert_allclose(out["vi"][2], d["se_from_p"][2] ** 2, rtol=RTOL, atol=ATOL)
    assert_allclose(out["vi"][3], (est[3] / 3.0) ** 2, rtol=1e-12)
    # ratio measures: log scale, as se_from_ci(log=True)
    rows = d["log_rows"]
    ratio = np.sqrt(lo[rows] * up[rows])  # geometric midpoint: symmetric on the log scale
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lg = convert.wald_yi_vi(ratio, lo[rows], up[rows], log=True, level=90)
    assert_allclose(lg["yi"], np.log(ratio))
    assert_allclose(lg["vi"], np.array(d["se_from_ci_log"]["90"]) ** 2, rtol=RTOL, atol=ATOL)


def test_wald_yi_vi_checks_and_bad_input():
    with pytest.warns(UserWarning, match="halfway.*row 1"):
        convert.wald_yi_vi(1.5, 1.1, 2.2)  # an odds ratio given without log=True
    with raises(r"row 2.*confidence interval.*P value"):
        convert.wald_yi_vi([1.0, 2.0], [0.5, np.nan], [1.5, np.nan])
    with raises(r"'upper' is missing while 'lower'"):
        convert.wald_yi_vi(1.0, 0.5)
    with raises(r"'lower'.*< the upper"):
        convert.wald_yi_vi(1.0, 1.0, 1.0)
    with raises(r"'estimate'.*positive"):
        convert.wald_yi_vi(-1.0, 0.5, 1.5, log=True)
    with raises(r"'lower'.*positive ratio"):
        convert.wald_yi_vi(1.0, 0.0, 1.5, log=True)
    with raises(r"'p'.*between 0 and 1"):
        convert.wald_yi_vi(1.0, p=1.0)
    with raises(r"'z'.*non-zero"):
        convert.wald_yi_vi(1.0, z=0.0)
    with raises(r"'estimate'.*different from the null"):
        convert.wald_yi_vi(1.0, p=0.04, log=True)
    with raises(r"'estimate'.*finite"):
        convert.wald_yi_vi(np.nan, 0.5, 1.5)


MEDIAN_METHODS = ["luo_wan_shi", "luo_wan", "wan"]


@pytest.mark.parametrize("method", MEDIAN_METHODS)
def test_mean_sd_from_median_matches_r(method):
    d = fixture("fivenum.json")
    res = convert.mean_sd_from_median(d["median"], q1=arr(d["q1"]), q3=arr(d["q3"]),
                                      min=arr(d["min"]), max=arr(d["max"]), n=d["n"],
                                      method=method)
    assert list(res.scenario) == d["scenario"]
    assert_allclose(res.mean, d["methods"][method]["mean"], rtol=RTOL, atol=ATOL)
    assert_allclose(res.sd, d["methods"][method]["sd"], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("method", ["hozo", "bland"])
def test_mean_sd_from_median_single_scenario_methods_match_r(method):
    d = fixture("fivenum.json")
    rows = d["methods"][method]["rows"]
    pick = {k: arr(d[k])[rows] for k in ("median", "q1", "q3", "min", "max", "n")}
    res = convert.mean_sd_from_median(pick["median"], q1=pick["q1"], q3=pick["q3"],
                                      min=pick["min"], max=pick["max"], n=pick["n"],
                                      method=method)
    assert_allclose(res.mean, d["methods"][method]["mean"], rtol=RTOL, atol=ATOL)
    assert_allclose(res.sd, d["methods"][method]["sd"], rtol=RTOL, atol=ATOL)


def test_mean_sd_from_median_aliases_and_frame():
    d = fixture("fivenum.json")
    kw = dict(q1=arr(d["q1"]), q3=arr(d["q3"]), min=arr(d["min"]), max=arr(d["max"]),
              n=d["n"])
    base = convert.mean_sd_from_median(d["median"], **kw)
    for alias in ("default", "shi", "luo_wan_shi"):
        r = convert.mean_sd_from_median(d["median"], method=alias, **kw)
        assert_allclose(r.sd, base.sd, rtol=0)
    frame = base.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["mean", "sd", "scenario"]
    mean, sd = base
    assert_allclose(frame["mean"], mean)
    assert_allclose(frame["sd"], sd)


def test_mean_sd_from_median_scalar_and_none_arguments():
    # S1 with scalars: the first fixture row (median 6, range 2-14, n 20)
    d = fixture("fivenum.json")
    r = convert.mean_sd_from_median(6, min=2, max=14, n=20)
    assert isinstance(r.mean, float) and r.scenario == "S1"
    assert_allclose(r.mean, d["methods"]["luo_wan_shi"]["mean"][0], rtol=RTOL)
    assert_allclose(r.sd, d["methods"]["luo_wan_shi"]["sd"][0], rtol=RTOL)
    r3 = convert.mean_sd_from_median(6, q1=4, q3=10, n=20)
    assert r3.scenario == "S3"
    assert_allclose(r3.sd, d["methods"]["luo_wan_shi"]["sd"][1], rtol=RTOL)


def test_combine_groups_matches_raw_data():
    for s in fixture("combine_groups.json")["studies"]:
        n, m, sd = s["n"], s["mean"], s["sd"]
        res = convert.combine_groups_many(n, m, sd)
        assert_allclose(res.n, s["combined_n"])
        assert_allclose(res.mean, s["combined_mean"], rtol=RTOL, atol=ATOL)
        assert_allclose(res.sd, s["combined_sd"], rtol=RTOL, atol=ATOL)
        if len(n) == 2:
            two = convert.combine_groups(n[0], m[0], sd[0], n[1], m[1], sd[1])
            assert_allclose([two.n, two.mean, two.sd],
                            [s["combined_n"], s["combined_mean"], s["combined_sd"]],
                            rtol=RTOL, atol=ATOL)


def test_combine_groups_many_two_dimensional():
    # 3 groups (axis 0) in each of 2 studies (axis 1)
    ns = [[10, 5], [20, 6], [30, 7]]
    ms = [[1.0, 2.0], [2.0, 3.0], [3.0, 4.0]]
    sds = [[1.0, 0.5], [1.5, 0.5], [2.0, 0.5]]
    res = convert.combine_groups_many(ns, ms, sds)
    assert res.mean.shape == (2,)
    for j in range(2):
        one = convert.combine_groups_many([r[j] for r in ns], [r[j] for r in ms],
                                          [r[j] for r in sds])
        assert_allclose([res.n[j], res.mean[j], res.sd[j]], [one.n, one.mean, one.sd])
    assert len(res.to_frame()) == 2


# ============================================================== Cochrane Handbook examples


def test_handbook_6_5_2_2_t_divisor_for_n_25():
    # Handbook 6.5.2.2: for a 95% CI from a group of 25, the t value (24 df) is 2.0639, so the
    # divisor 3.92 becomes 2 x 2.0639 = 4.128; SD = sqrt(25) x (upper - lower) / 4.128.
    sd = convert.sd_from_ci(0.0, 4.128, 25)
    assert_allclose(sd, 5.0, atol=5e-4)
    # large groups: divisor 3.92 (= 2 x 1.96) for 95%, 3.29 for 90%, 5.15 for 99%
    for lv, div in ((95, 3.92), (90, 3.29), (99, 5.15)):
        assert_allclose(convert.sd_from_ci(0.0, div, 100, level=lv), 10.0, atol=0.01)


def test_handbook_6_5_2_3_p_value_example():
    # Handbook 6.5.2.3: MD 3.8, P = 0.008, groups of 25 and 22: t with 45 df for P = 0.008 is
    # 2.78 (=tinv(0.008, 45)), SE = 3.8 / 2.78 = 1.37, SD = SE / sqrt(1/25 + 1/22).
    sd = convert.sd_from_p(0.008, 25, 22, 3.8)
    se = sd * np.sqrt(1 / 25 + 1 / 22)
    assert_allclose(3.8 / se, 2.78, atol=0.005)
    assert_allclose(se, 1.37, atol=0.005)
    assert_allclose(convert.sd_from_t(2.78, 25, 22, 3.8), 1.367 / np.sqrt(1 / 25 + 1 / 22),
                    rtol=1e-3)
    # and the 95% CI version uses t with 25 + 22 - 2 = 45 df (=tinv(0.05, 45) = 2.0141)
    sd_ci = convert.sd_from_ci_md(0.0, 2 * 2.0141, 25, 22)
    assert_allclose(sd_ci * np.sqrt(1 / 25 + 1 / 22), 1.0, atol=1e-4)


def test_handbook_correlation_example():
    # Handbook 6.5.2.8 (v5.1 16.1.3.2): a study reporting baseline, final and change SDs
    # 6.4, 7.1, 4.5 (experimental) and 7.0, 6.9, 4.2 (comparator) implies correlations
    # 0.78 and 0.82.
    r = convert.correlation_from_change([6.4, 7.0], [7.1, 6.9], [4.5, 4.2])
    assert_allclose(r, [0.78, 0.82], atol=0.005)


# ============================================================== properties (hypothesis)

pos = st.floats(0.01, 1e3, allow_nan=False)
size = st.integers(1, 500)
mean_s = st.floats(-1e3, 1e3, allow_nan=False)
corr = st.floats(-1.0, 1.0, allow_nan=False)


@given(pos, pos)
def test_sd_change_r0_is_root_sum_of_squares(a, b):
    assert_allclose(convert.sd_change(a, b, 0.0), np.hypot(a, b), rtol=1e-12)


@given(pos, pos, corr)
def test_correlation_from_change_inverts_sd_change(a, b, r):
    sc = convert.sd_change(a, b, r)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        back = convert.correlation_from_change(a, b, sc)
    # r is recovered up to cancellation in sd^2 differences (relative to the SD scale)
    scale = (a**2 + b**2) / (2 * a * b)
    assert abs(back - r) <= 1e-9 * scale + 1e-12


@given(pos, st.integers(1, 10_000))
def test_sd_from_se_inverts_se(sd, n):
    se = sd / np.sqrt(n)
    assert_allclose(convert.sd_from_se(se, n), sd, rtol=1e-12)


group = st.tuples(size, mean_s, st.floats(0.0, 100.0, allow_nan=False))


@given(group, group)
def test_combine_groups_commutative(g1, g2):
    a = convert.combine_groups(*g1, *g2)
    b = convert.combine_groups(*g2, *g1)
    assert_allclose([a.n, a.mean, a.sd], [b.n, b.mean, b.sd], rtol=1e-9, atol=1e-9)


@given(group, group, group)
def test_combine_groups_associative(g1, g2, g3):
    left = convert.combine_groups(*convert.combine_groups(*g1, *g2), *g3)
    right = convert.combine_groups(*g1, *convert.combine_groups(*g2, *g3))
    tol_sd = 1e-7 * (1 + max(abs(g[1]) for g in (g1, g2, g3)) + max(g[2] for g in (g1, g2, g3)))
    assert_allclose(left.n, right.n)
    assert_allclose(left.mean, right.mean, rtol=1e-9, atol=1e-9)
    assert_allclose(left.sd, right.sd, rtol=1e-7, atol=tol_sd)


@given(st.integers(2, 500), mean_s, st.floats(0.0, 100.0, allow_nan=False))
def test_combining_group_with_itself_keeps_mean(n, m, sd):
    res = convert.combine_groups(n, m, sd, n, m, sd)
    assert res.n == 2 * n
    assert_allclose(res.mean, m, rtol=1e-12, atol=1e-12)
    # the pooled SD grows only by the factor sqrt((2n - 2) / (2n - 1)) < 1
    assert_allclose(res.sd, sd * np.sqrt((2 * n - 2) / (2 * n - 1)), rtol=1e-9, atol=1e-12)


@settings(max_examples=50)
@given(st.lists(st.floats(-50, 50, allow_nan=False), min_size=2, max_size=30),
       st.integers(1, 29))
def test_combine_groups_equals_pooled_sample(xs, cut):
    x = np.array(xs)
    cut = min(cut, len(x) - 1)
    a, b = x[:cut], x[cut:]
    sd = [np.std(g, ddof=1) if len(g) > 1 else 0.0 for g in (a, b)]
    res = convert.combine_groups(len(a), a.mean(), sd[0], len(b), b.mean(), sd[1])
    assert_allclose(res.mean, x.mean(), atol=1e-9)
    assert_allclose(res.sd, np.std(x, ddof=1), rtol=1e-7, atol=1e-7)


@given(st.permutations(range(4)))
def test_combine_groups_many_order_free(perm):
    ns = np.array([3, 10, 7, 25])
    ms = np.array([1.0, -2.0, 4.5, 0.3])
    sds = np.array([0.5, 2.0, 1.1, 3.0])
    base = convert.combine_groups_many(ns, ms, sds)
    p = list(perm)
    res = convert.combine_groups_many(ns[p], ms[p], sds[p])
    assert_allclose([res.n, res.mean, res.sd], [base.n, base.mean, base.sd], rtol=1e-12)


@given(st.floats(-100, 100), st.floats(0.01, 50), st.floats(0.01, 50), st.integers(5, 2000),
       st.sampled_from(MEDIAN_METHODS))
def test_median_estimates_location_scale_equivariant(med, d_lo, d_hi, n, method):
    # estimators are linear in the summaries: shifting moves the mean, scaling scales both
    q1, q3 = med - d_lo, med + d_hi
    lo, hi = q1 - d_lo, q3 + d_hi
    base = convert.mean_sd_from_median(med, q1, q3, lo, hi, n=n, method=method)
    shifted = convert.mean_sd_from_median(med + 7, q1 + 7, q3 + 7, lo + 7, hi + 7, n=n,
                                          method=method)
    scaled = convert.mean_sd_from_median(3 * med, 3 * q1, 3 * q3, 3 * lo, 3 * hi, n=n,
                                         method=method)
    assert_allclose(shifted.mean, base.mean + 7, rtol=1e-9, atol=1e-9)
    assert_allclose(shifted.sd, base.sd, rtol=1e-9, atol=1e-9)
    assert_allclose(scaled.mean, 3 * base.mean, rtol=1e-9, atol=1e-9)
    assert_allclose(scaled.sd, 3 * base.sd, rtol=1e-9, atol=1e-9)
    assert base.sd >= 0 and lo <= base.mean <= hi


@given(st.floats(0.1, 1e3), st.floats(0.1, 1e3), st.integers(2, 500))
def test_sd_from_ci_t_is_wider_than_z(lo, width, n):
    t = convert.sd_from_ci(lo, lo + width, n, dist="t")
    z = convert.sd_from_ci(lo, lo + width, n, dist="z")
    assert t <= z  # t quantile >= normal quantile


@given(st.floats(0.001, 0.999), st.integers(2, 300), st.integers(2, 300),
       st.floats(0.01, 100))
def test_sd_from_p_consistent_with_sd_from_t(p, n1, n2, md):
    from scipy import stats
    t = stats.t.isf(p / 2, n1 + n2 - 2)
    assert_allclose(convert.sd_from_p(p, n1, n2, md), convert.sd_from_t(t, n1, n2, md),
                    rtol=1e-10)


# ============================================================== shapes and scalars


def test_scalar_in_scalar_out_and_broadcasting():
    assert isinstance(convert.sd_change(1.0, 2.0, 0.5), float)
    assert isinstance(convert.sd_from_se(1.0, 4), float)
    out = convert.sd_change([[1.0, 2.0], [3.0, 4.0]], 2.0, 0.5)
    assert out.shape == (2, 2)
    assert convert.sd_from_ci([1, 2, 3], [2, 3, 4], 100).shape == (3,)


# ============================================================== bad input


def raises(match: str):
    return pytest.raises(InputError, match=match)


def test_bad_sd_change():
    with raises(r"row 2.*'sd_followup'.*>= 0"):
        convert.sd_change([1, 2], [1, -1], 0.5)
    with raises(r"row 1.*'r'.*\[-1, 1\]"):
        convert.sd_change(1, 1, 1.5)
    with raises(r"'sd_baseline'.*finite"):
        convert.sd_change(np.nan, 1, 0.5)
    with raises(r"study 'Smith 2001' \(row 2\).*'r'"):
        convert.sd_change([1, 1], [1, 1], [0.2, -1.2], labels=["Doe 1999", "Smith 2001"])
    with raises("not a number"):
        convert.sd_change("abc", 1, 0.5)
    with raises("incompatible shapes"):
        convert.sd_change([1, 2, 3], [1, 2], 0.5)


def test_bad_sd_from_se():
    with raises(r"'se'.*>= 0"):
        convert.sd_from_se(-1, 10)
    with raises(r"row 2.*'n'.*group size >= 1"):
        convert.sd_from_se([1, 1], [10, 0])


def test_bad_sd_from_ci():
    with raises(r"row 1.*'lower'.*< the upper"):
        convert.sd_from_ci(5, 3, 20)
    with raises(r"'n'.*n >= 2"):
        convert.sd_from_ci(1, 3, 1)  # t quantile with 0 df
    assert convert.sd_from_ci(1, 3, 1, dist="z") > 0  # fine with the normal quantile
    with raises(r"'n'.*group size >= 1"):
        convert.sd_from_ci(1, 3, -4)
    with raises("'level'"):
        convert.sd_from_ci(1, 3, 10, level=100)
    with raises("'level'"):
        convert.sd_from_ci(1, 3, 10, level=-5)
    with raises("'dist'"):
        convert.sd_from_ci(1, 3, 10, dist="normal")


def test_bad_two_group_inputs():
    with raises(r"'n1 \+ n2'.*degrees of freedom"):
        convert.sd_from_ci_md(1, 3, 1, 1)
    with raises(r"row 2.*'n2'.*group size >= 1"):
        convert.sd_from_ci_md([1, 1], [3, 3], [10, 10], [10, -1])
    with raises(r"'t'.*non-zero"):
        convert.sd_from_t(0, 10, 10, 1.0)
    with raises(r"'md'.*non-zero"):
        convert.sd_from_t(2, 10, 10, 0.0)
    with raises(r"row 2.*'p'.*between 0 and 1"):
        convert.sd_from_p([0.05, 1.0], 10, 10, 2.0)
    with raises(r"'p'.*between 0 and 1"):
        convert.sd_from_p(0, 10, 10, 2.0)
    with raises(r"'n1 \+ n2'"):
        convert.sd_from_p(0.05, 1, 1, 2.0)
    with raises("'dist'"):
        convert.sd_from_p(0.05, 10, 10, 2.0, dist="auto")


def test_bad_generic_se():
    with raises(r"'lower'.*< the upper"):
        convert.se_from_ci(2.0, 1.0)
    with raises(r"row 2.*'lower'.*< the upper"):
        convert.se_from_ci([1.0, 1.5], [2.0, 1.5])  # a zero-width CI would give SE = 0
    with raises(r"row 2.*'lower'.*positive"):
        convert.se_from_ci([0.5, -0.1], [2, 2], log=True)
    with raises(r"'estimate'.*non-zero"):
        convert.se_from_p(0.0, 0.05)
    with raises(r"'p'.*between 0 and 1"):
        convert.se_from_p(1.0, 1.5)


def test_correlation_from_change_clips_and_rejects():
    # SDs rounded to one decimal: 3.0, 4.0, 7.05 would give r = -1.0104 -> clipped with warning
    with pytest.warns(UserWarning, match="row 1"):
        r = convert.correlation_from_change(3.0, 4.0, 7.05)
    assert r == -1.0
    with pytest.warns(UserWarning):
        assert convert.correlation_from_change(3.0, 4.0, 0.95) == 1.0
    with raises(r"row 2.*'sd_change'.*between"):
        convert.correlation_from_change([3, 3], [4, 4], [2, 9])
    with raises(r"'sd_baseline'.*positive"):
        convert.correlation_from_change(0, 4, 2)
    with raises("'tol'"):
        convert.correlation_from_change(3, 4, 2, tol=-1)


def test_bad_combine_groups():
    with raises(r"row 1.*'n2'.*>= 1"):
        convert.combine_groups(10, 1, 1, 0, 2, 1)
    with raises(r"'sd1'.*>= 0"):
        convert.combine_groups(10, 1, -1, 5, 2, 1)
    with raises(r"'m2'.*finite"):
        convert.combine_groups(10, 1, 1, 5, np.inf, 1)
    with raises(r"row 3.*'sds'"):
        convert.combine_groups_many([1, 2, 3], [1, 2, 3], [1, 1, -1])
    with raises(r"study 'C' \(row 3\).*'ns'.*>= 1"):
        convert.combine_groups_many([1, 2, 0], [1, 2, 3], [1, 1, 1], labels=["A", "B", "C"])
    with raises("one entry per group"):
        convert.combine_groups_many([], [], [])


def test_bad_mean_sd_from_median():
    nan = np.nan
    with raises(r"row 2.*'q1'.*q1 <= median"):
        convert.mean_sd_from_median([5, 5], q1=[4, 6], q3=[7, 7], n=20)
    with raises(r"'min'.*min <= q1"):
        convert.mean_sd_from_median(5, q1=3, q3=7, min=3.5, max=9, n=20)
    with raises(r"'q3'.*q3 <= max"):
        convert.mean_sd_from_median(5, q1=3, q3=7, min=1, max=6, n=20)
    with raises(r"'q3' is missing while 'q1' is given.*both given"):
        convert.mean_sd_from_median(5, q1=3, n=20)
    with raises(r"row 2.*'max' is missing while 'min'"):
        convert.mean_sd_from_median([5, 5], min=[1, 1], max=[9, nan], n=20)
    with raises(r"row 1.*'q1' is missing while 'q3'"):
        convert.mean_sd_from_median([5, 5], q1=[nan, 3], q3=[7, 7], n=20)
    with raises(r"row 2.*quartiles.*range"):
        convert.mean_sd_from_median([5, 5], min=[1, nan], max=[9, nan], n=20)
    with raises(r"'n'.*>= 2"):
        convert.mean_sd_from_median(5, min=1, max=9, n=1)
    with raises("argument 'n'"):
        convert.mean_sd_from_median(5, min=1, max=9)
    with raises("'method'"):
        convert.mean_sd_from_median(5, min=1, max=9, n=10, method="mln")
    with raises(r"'median'.*finite"):
        convert.mean_sd_from_median(nan, min=1, max=9, n=10)
    with raises(r"row 2.*covers only S1"):
        convert.mean_sd_from_median([5, 5], q1=[nan, 3], q3=[nan, 7], min=[1, nan],
                                    max=[9, nan], n=10, method="hozo")
    with raises(r"covers only S2"):
        convert.mean_sd_from_median(5, q1=3, q3=7, n=10, method="bland")


def test_loghr_from_logrank_broadcasts_every_argument():
    # events (and n1, n2) as vectors against scalar p and sign, as the module promises: each
    # study as if converted alone (it raised numpy's "cannot broadcast" before; session 13)
    yi, vi = convert.loghr_from_logrank(0.04, -1, events=[100, 50], n1=150, n2=[150, 100])
    for i, (ev, n2) in enumerate(((100, 150), (50, 100))):
        y1, v1 = convert.loghr_from_logrank(0.04, -1, events=ev, n1=150, n2=n2)
        assert (yi[i], vi[i]) == (y1, v1)
    yi, vi = convert.loghr_from_logrank([0.04, 0.2], 1, events1=[50, 20], events2=40)
    assert vi.tolist() == [1 / (50 * 40 / 90), 1 / (20 * 40 / 60)]  # var = 1 / V
    with raises(r"incompatible shapes: p\(3,\), sign\(\), events\(2,\)"):
        convert.loghr_from_logrank([0.1, 0.2, 0.3], -1, events=[100, 50], n1=150, n2=150)


def test_loghr_from_logrank_events_at_most_the_participants():
    with raises(r"row 2: field 'events' is 30\.0; expected at most n1 \+ n2 events"):
        convert.loghr_from_logrank(0.04, -1, events=[10, 30], n1=[10, 10], n2=10)


@pytest.mark.parametrize("call", [
    lambda: convert.sd_from_se(1.0, 0.5),
    lambda: convert.sd_from_ci(1.0, 2.0, n=0.9, dist="z"),
    lambda: convert.sd_from_t(2.0, n1=0.2, n2=10, md=1.0),
    lambda: convert.sd_from_ci_md(0.1, 1.0, n1=0.5, n2=3),
    lambda: convert.combine_groups(0.5, 1.0, 1.0, 10, 2.0, 1.0),
])
def test_group_sizes_below_one_are_refused(call):
    with raises(r"expected a group size >= 1"):
        call()
    # an effective sample size need not be whole
    assert np.isfinite(convert.sd_from_se(1.0, 12.5))


def test_correlation_at_minus_one_by_rounding_does_not_warn():
    # (0.3^2 + 0.7^2 - 1) / (2 * 0.3 * 0.7) is -1 - 2.2e-16 in floating point: exactly -1,
    # not "rounded SDs"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert convert.correlation_from_change(0.3, 0.7, 1.0) == -1.0
