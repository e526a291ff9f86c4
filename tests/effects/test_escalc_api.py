"""evsynth.effect_size: calling conventions, notes on NaN rows, and one test per bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import evsynth
from evsynth.effects.escalc import MEASURES, hedges_correction, measures, smd
from evsynth.errors import InputError

es = evsynth.effect_size

BIN = dict(ai=[4, 6, 3], bi=[119, 300, 228], ci=[11, 29, 11], di=[128, 274, 209])
CONT = dict(m1i=[10.0, 12.0, 9.5], m2i=[8.0, 12.5, 7.0], sd1i=[3.0, 4.0, 2.5],
            sd2i=[3.5, 3.0, 2.0], n1i=[20, 35, 12], n2i=[22, 30, 15])
TWO = dict(m1i_pre=[7.9, 30.6], m1i_post=[2.3, 38.5], sd1i_pre=[2.0, 15.0],
           sd1i_post=[2.6, 11.6], m2i_pre=[7.4, 23.1], m2i_post=[3.0, 19.7],
           sd2i_pre=[1.9, 13.8], sd2i_post=[2.8, 14.8], n1i=[56, 20], n2i=[59, 20], ri=0.5)


# ----------------------------------------------------------------------------- calling


def test_output_columns_and_attrs():
    res = es("OR", **BIN)
    assert list(res.columns) == ["yi", "vi", "sei", "note"]
    assert res.attrs["measure"] == "OR"
    np.testing.assert_allclose(res["sei"], np.sqrt(res["vi"]))
    assert (res["note"] == "").all()


def test_data_frame_column_names_slab_and_index():
    df = pd.DataFrame({"study": ["A", "B", "C"], "tp": BIN["ai"], "tn": BIN["bi"],
                       "cp": BIN["ci"], "cn": BIN["di"]}, index=[10, 20, 30])
    res = es("RR", data=df, ai="tp", bi="tn", ci="cp", di="cn", slab="study")
    assert list(res.columns) == ["slab", "yi", "vi", "sei", "note"]
    assert list(res.index) == [10, 20, 30]
    assert list(res["slab"]) == ["A", "B", "C"]
    direct = es("RR", **BIN)
    np.testing.assert_allclose(res["yi"].to_numpy(), direct["yi"].to_numpy())
    # arrays and Series may be mixed with column names
    res2 = es("RR", data=df, ai=df["tp"], bi=np.array(BIN["bi"]), ci="cp", di="cn")
    np.testing.assert_allclose(res2["yi"].to_numpy(), direct["yi"].to_numpy())


def test_events_and_group_sizes_equivalent_to_cells():
    a = es("OR", **BIN)
    n1 = np.add(BIN["ai"], BIN["bi"])
    n2 = np.add(BIN["ci"], BIN["di"])
    b = es("OR", ai=BIN["ai"], n1i=n1, ci=BIN["ci"], n2i=n2)
    np.testing.assert_allclose(a[["yi", "vi"]], b[["yi", "vi"]])


def test_measure_code_case_insensitive():
    np.testing.assert_allclose(es("or", **BIN)["yi"], es("OR", **BIN)["yi"])


def test_scalar_broadcast_for_correlation():
    res = es("SMCC", m1i=[5.0, 6.0], m2i=[4.0, 4.5], sd1i=[2.0, 2.5], sd2i=[2.1, 2.4],
             ni=[30, 40], ri=0.6)
    res2 = es("SMCC", m1i=[5.0, 6.0], m2i=[4.0, 4.5], sd1i=[2.0, 2.5], sd2i=[2.1, 2.4],
              ni=[30, 40], ri=[0.6, 0.6])
    np.testing.assert_allclose(res[["yi", "vi"]], res2[["yi", "vi"]])


def test_single_study_scalars():
    res = es("MD", m1i=5.0, m2i=3.0, sd1i=2.0, sd2i=2.0, n1i=10, n2i=10)
    assert len(res) == 1
    np.testing.assert_allclose(res["yi"], [2.0])
    np.testing.assert_allclose(res["vi"], [0.8])


def test_measures_table_lists_every_code():
    tab = measures()
    assert set(tab["measure"]) == set(MEASURES)
    for code in ("OR", "RR", "RD", "PETO", "AS", "MD", "SMD", "SMDH", "ROM", "SMCC", "SMCR", "MC",
                 "SMD_CHANGE", "PR", "PLO", "PAS", "PFT", "MN", "COR", "ZCOR", "IRR", "IRD",
                 "IRLN", "GEN"):
        assert code in MEASURES


# ----------------------------------------------------------------------------- formulas


def test_hedges_correction_exact_values():
    # c(2) = Gamma(1) / (1 * Gamma(1/2)) = 1/sqrt(pi); c(m) ~ 1 - 3/(4m - 1)
    np.testing.assert_allclose(hedges_correction(2), 1 / np.sqrt(np.pi), rtol=1e-14)
    m = np.array([10.0, 50.0, 400.0])
    np.testing.assert_allclose(hedges_correction(m), 1 - 3 / (4 * m - 1), rtol=1e-3)
    assert np.isnan(hedges_correction(1.0))
    # large m stays finite (log-gamma, no overflow)
    assert 0.999999 < float(hedges_correction(1e7)) < 1


def test_smd_rm5_matches_revman_formula():
    m1, m2, s1, s2, n1, n2 = (np.array([10.0]), np.array([8.0]), np.array([3.0]),
                              np.array([3.5]), np.array([20.0]), np.array([22.0]))
    g, v = smd(m1, m2, s1, s2, n1, n2, vtype="RM5")
    n = n1 + n2
    sp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n - 2))
    g_ref = (m1 - m2) / sp * (1 - 3 / (4 * n - 9))
    np.testing.assert_allclose(g, g_ref, rtol=1e-14)
    np.testing.assert_allclose(v, n / (n1 * n2) + g_ref**2 / (2 * (n - 3.94)), rtol=1e-14)


def test_smd_change_is_smd_of_change_scores():
    res = es("SMD_CHANGE", **TWO)
    r = 0.5
    sdc = lambda a, b: np.sqrt(np.square(a) + np.square(b) - 2 * r * np.multiply(a, b))  # noqa: E731
    ref = es("SMD", m1i=np.subtract(TWO["m1i_post"], TWO["m1i_pre"]),
             m2i=np.subtract(TWO["m2i_post"], TWO["m2i_pre"]),
             sd1i=sdc(TWO["sd1i_pre"], TWO["sd1i_post"]),
             sd2i=sdc(TWO["sd2i_pre"], TWO["sd2i_post"]), n1i=TWO["n1i"], n2i=TWO["n2i"])
    np.testing.assert_allclose(res[["yi", "vi"]], ref[["yi", "vi"]], rtol=1e-12)


def test_md_change_matches_md_of_changes():
    res = es("MD_CHANGE", **TWO)
    np.testing.assert_allclose(res["yi"], np.subtract(TWO["m1i_post"], TWO["m1i_pre"])
                               - np.subtract(TWO["m2i_post"], TWO["m2i_pre"]))


def test_smd_from_t_statistic_equals_d():
    n1, n2 = np.array([15.0, 40.0]), np.array([14.0, 38.0])
    t = np.array([2.5, -1.2])
    a = es("SMD", ti=t, n1i=n1, n2i=n2)
    b = es("SMD", di=t * np.sqrt(1 / n1 + 1 / n2), n1i=n1, n2i=n2)
    np.testing.assert_allclose(a[["yi", "vi"]], b[["yi", "vi"]], rtol=1e-12)


def test_uncorrected_smd_is_cohens_d():
    res = es("SMD", correct=False, **CONT)
    g = es("SMD", **CONT)
    c = hedges_correction(np.add(CONT["n1i"], CONT["n2i"]) - 2)
    np.testing.assert_allclose(res["yi"], g["yi"] / c, rtol=1e-12)


# ----------------------------------------------------------------------------- GEN


def test_gen_from_sei_vi_ci_and_p_per_row():
    z = stats.norm.ppf(0.975)
    res = es("GEN", yi=[0.5, 0.5, 0.5, 0.5], sei=[0.2, np.nan, np.nan, np.nan],
             vi=[np.nan, 0.04, np.nan, np.nan], ci_lb=[np.nan, np.nan, 0.5 - 0.2 * z, np.nan],
             ci_ub=[np.nan, np.nan, 0.5 + 0.2 * z, np.nan],
             pval=[np.nan, np.nan, np.nan, 2 * stats.norm.sf(0.5 / 0.2)])
    np.testing.assert_allclose(res["sei"], [0.2] * 4, rtol=1e-12)
    assert (res["note"] == "").all()


def test_gen_ratio_ci_and_midpoint():
    res = es("GEN", yi=[2.0], ci_lb=[1.2], ci_ub=[3.5], ratio=True)
    np.testing.assert_allclose(res["yi"], np.log(2.0))
    np.testing.assert_allclose(res["sei"], (np.log(3.5) - np.log(1.2)) / (2 * stats.norm.ppf(.975)))
    mid = es("GEN", ci_lb=[1.2], ci_ub=[3.5], log_scale=True)
    np.testing.assert_allclose(mid["yi"], (np.log(1.2) + np.log(3.5)) / 2)
    lv = es("GEN", yi=[0.1], ci_lb=[-0.2], ci_ub=[0.4], level=0.9)
    np.testing.assert_allclose(lv["sei"], 0.6 / (2 * stats.norm.ppf(0.95)))


def test_gen_p_value_edge_rows_are_noted():
    res = es("GEN", yi=[0.4, 0.0, 0.3], pval=[1.0, 0.5, 0.01])
    assert np.isnan(res["vi"].iloc[0]) and "P value is 1" in res["note"].iloc[0]
    assert np.isnan(res["vi"].iloc[1]) and "estimate is 0" in res["note"].iloc[1]
    assert np.isfinite(res["vi"].iloc[2]) and res["note"].iloc[2] == ""


def test_gen_missing_uncertainty_row_is_noted():
    res = es("GEN", yi=[0.4, 0.2], sei=[0.1, np.nan])
    assert np.isnan(res["vi"].iloc[1]) and "missing uncertainty" in res["note"].iloc[1]


# ----------------------------------------------------------------------------- NaN with notes


def test_missing_input_gives_nan_with_note():
    res = es("SMD", slab=["a", "b", "c"], **{**CONT, "sd2i": [3.5, np.nan, 2.0]})
    assert np.isnan(res["yi"].iloc[1]) and "sd2i" in res["note"].iloc[1]
    assert res["note"].iloc[0] == "" and np.isfinite(res["yi"].iloc[0])
    res = es("OR", **{**BIN, "ai": [4, None, 3]})
    assert np.isnan(res["yi"].iloc[1]) and "'ai'" in res["note"].iloc[1]


def test_missing_in_data_frame_pandas_na():
    df = pd.DataFrame({"a": pd.array([4, None, 3], dtype="Int64"), "b": BIN["bi"],
                       "c": BIN["ci"], "d": BIN["di"]})
    res = es("OR", data=df, ai="a", bi="b", ci="c", di="d")
    assert res["yi"].isna().tolist() == [False, True, False]


def test_drop00_and_revman_notes():
    z = dict(ai=[0, 2], bi=[10, 8], ci=[0, 1], di=[12, 9])
    res = es("OR", drop00=True, **z)
    assert np.isnan(res["yi"].iloc[0]) and "drop00" in res["note"].iloc[0]
    res = es("RR", to="revman", **z)
    assert np.isnan(res["yi"].iloc[0]) and "RevMan" in res["note"].iloc[0]
    rd = es("RD", to="revman", **z)
    # RD keeps the double-zero study (0.5 added to its cells, so RD is ~0, not exactly 0)
    assert abs(rd["yi"].iloc[0]) < 0.01 and np.isfinite(rd["vi"].iloc[0])
    assert rd["note"].iloc[0] == ""


def test_zero_cell_without_correction_noted():
    res = es("OR", ai=[0, 2], bi=[10, 8], ci=[3, 1], di=[12, 9], to="none")
    assert np.isnan(res["yi"].iloc[0]) and "zero cell" in res["note"].iloc[0]


def test_zero_change_sd_noted():
    res = es("SMCC", m1i=[5.0], m2i=[4.0], sd1i=[2.0], sd2i=[2.0], ni=[10], ri=[1.0])
    assert np.isnan(res["yi"].iloc[0]) and "undefined" in res["note"].iloc[0]


def test_small_correlation_samples_keep_yi():
    res = es("ZCOR", ri=[0.3, 0.3], ni=[3, 20])
    assert np.isfinite(res["yi"].iloc[0]) and np.isnan(res["vi"].iloc[0])
    assert "ni <= 3" in res["note"].iloc[0]


# ----------------------------------------------------------------------------- bad input


def _raises(match: str, *args, **kwargs):
    with pytest.raises(InputError, match=match):
        es(*args, **kwargs)


def test_bad_unknown_measure():
    _raises("argument 'measure' is 'XYZ'; expected one of", "XYZ", **BIN)
    _raises("argument 'measure' is 3; expected one of", 3, **BIN)


def test_bad_negative_count_names_study_and_field():
    _raises(r"study 'B' \(row 2\): field 'bi' is -1.0", "OR", slab=["A", "B", "C"],
            **{**BIN, "bi": [119, -1, 228]})


def test_bad_events_exceed_group_size():
    _raises(r"row 2.*'ai'.*ai <= n1i", "RR", ai=[4, 40], n1i=[10, 20], ci=[1, 2], n2i=[10, 20])
    _raises(r"row 1.*'xi'.*xi <= ni", "PR", xi=[12], ni=[10])


def test_bad_inconsistent_totals():
    _raises(r"'n1i'.*n1i = ai \+ bi", "OR", ai=[4], bi=[6], n1i=[11], ci=[1], di=[9])


def test_bad_empty_group():
    _raises("at least one participant", "OR", ai=[0], bi=[0], ci=[1], di=[9])


def test_bad_sd_not_positive():
    _raises(r"row 3.*'sd1i' is 0.0.*positive", "SMD", **{**CONT, "sd1i": [3.0, 4.0, 0.0]})
    _raises(r"'sd2i_post' is -1.0", "SMD_CHANGE", **{**TWO, "sd2i_post": [2.8, -1.0]})
    _raises(r"'sdi'", "MN", mi=[1.0], sdi=[0.0], ni=[10])


def test_bad_sample_size_below_two():
    _raises(r"row 2.*'n2i' is 1.0.*>= 2", "MD", **{**CONT, "n2i": [22, 1, 15]})
    _raises(r"'ni' is 1.0", "SMCR", m1i=[1.0], m2i=[0.5], sd1i=[1.0], ni=[1], ri=[0.5])
    _raises(r"'ni' is 1.0", "COR", ri=[0.1], ni=[1])


def test_bad_correlation_out_of_range():
    _raises(r"'ri' is 1.5.*\[-1, 1\]", "COR", ri=[1.5], ni=[20])
    _raises(r"'ri' is -1.2", "SMD_CHANGE", **{**TWO, "ri": -1.2})


def test_bad_missing_required_argument():
    _raises("measure 'SMD' needs 'sd2i'", "SMD",
            **{k: v for k, v in CONT.items() if k != "sd2i"})
    _raises("needs 'bi' or 'n1i'", "OR", ai=[1], ci=[2], di=[5])
    _raises("measure 'SMD' needs argument 'n2i'", "SMD", di=[0.3], n1i=[10])
    _raises("needs argument 'ri'", "SMCC", m1i=[1.0], m2i=[0.5], sd1i=[1.0], sd2i=[1.0], ni=[9])
    _raises("needs the estimate 'yi'", "GEN", sei=[0.1])
    _raises("needs 'sei', 'vi', a CI", "GEN", yi=[0.1])
    _raises("give both 'ci_lb' and 'ci_ub'", "GEN", yi=[0.1], ci_lb=[0.0], sei=[0.1])


def test_bad_unknown_or_unused_argument():
    _raises("'sd1' is not an argument", "SMD", sd1=[1.0], **CONT)
    _raises("'sd1i' is not used by measure 'OR'", "OR", sd1i=[1.0], **BIN)


def test_bad_mismatched_lengths():
    _raises("'bi' has 2 values but", "OR", **{**BIN, "bi": [119, 300]})
    df = pd.DataFrame({"a": [1, 2]})
    _raises("'ci' has 3 values but data has 2", "OR", data=df, ai="a", bi=[5, 5], ci=[1, 2, 3],
            di=[5, 5])


def test_bad_column_not_in_data():
    df = pd.DataFrame({"tp": [1], "tn": [5], "cp": [2], "cn": [4]})
    _raises("column 'cpos' is not in data", "OR", data=df, ai="tp", bi="tn", ci="cpos", di="cn")
    _raises("no data= DataFrame", "OR", ai="tp", bi=[1], ci=[1], di=[1])
    _raises("expected a pandas DataFrame", "OR", data=[1, 2], ai=[1], bi=[1], ci=[1], di=[1])


def test_bad_non_numeric_and_infinite_values():
    _raises(r"row 2.*'m1i' is 'ten'", "MD", **{**CONT, "m1i": [10.0, "ten", 9.5]})
    _raises(r"row 1.*'m2i' is inf", "MD", **{**CONT, "m2i": [np.inf, 12.5, 7.0]})
    _raises("one-dimensional", "MD", **{**CONT, "m1i": [[1.0, 2.0], [3.0, 4.0]]})


def test_bad_options():
    _raises("vtype 'HO' is not available for measure 'SMD'", "SMD", vtype="HO", **CONT)
    _raises("vtype 'UB' is not available for measure 'OR'", "OR", vtype="UB", **BIN)
    _raises("argument 'to' is 'some'", "OR", to="some", **BIN)
    _raises("argument 'add' is -0.5", "OR", add=-0.5, **BIN)
    _raises("argument 'add' is 'x'", "OR", add="x", **BIN)
    _raises("do not apply to measure 'MD'", "MD", add=0.5, **CONT)
    _raises("drop00 applies to two-group count", "PR", drop00=True, xi=[1], ni=[10])
    _raises("correct=False applies to standardised", "OR", correct=False, **BIN)
    _raises("needs correct=True", "SMD", correct=False, vtype="UB", **CONT)
    _raises("apply to measure 'GEN' only", "OR", ratio=True, **BIN)
    _raises("apply to measure 'GEN' only", "MD", level=90, **CONT)
    _raises("to='revman' applies to OR, RR, RD and PETO", "AS", to="revman", **BIN)
    _raises("to='revman' adds 0.5", "OR", to="revman", add=0.25, **BIN)
    _raises("confidence level", "GEN", yi=[0.1], ci_lb=[0.0], ci_ub=[0.2], level=150)
    _raises("contradict", "GEN", yi=[1.1], sei=[0.1], ratio=True, log_scale=False)


def test_bad_gen_inputs():
    _raises(r"'ci_lb' is 0.5.*below the upper", "GEN", yi=[0.4], ci_lb=[0.5], ci_ub=[0.3])
    _raises(r"'pval' is 0.0", "GEN", yi=[0.4], pval=[0.0])
    _raises(r"'pval' is 1.5", "GEN", yi=[0.4], pval=[1.5])
    _raises(r"'yi' is -2.0.*positive", "GEN", yi=[-2.0], ci_lb=[0.5], ci_ub=[3.0], ratio=True)
    _raises(r"'sei' is 0.0", "GEN", yi=[0.4], sei=[0.0])


def test_bad_rates_and_means():
    _raises(r"'t2i' is 0.0", "IRR", x1i=[1], x2i=[2], t1i=[10], t2i=[0])
    _raises(r"'x1i' is -1.0", "IRD", x1i=[-1], x2i=[2], t1i=[10], t2i=[10])
    _raises(r"'m2i' is -3.0.*positive", "ROM", **{**CONT, "m2i": [8.0, -3.0, 7.0]})


def test_bad_slab():
    _raises("'slab' has 2 labels but there are 3 studies", "OR", slab=["a", "b"], **BIN)
    _raises("'slab' is missing", "OR", slab=["a", None, "c"], **BIN)


def test_overflow_is_noted_as_overflow():
    """Finite inputs whose yi or vi overflow give NaN with a note naming the cause (not 'undefined
    for these data'), and the other studies are unaffected."""
    out = evsynth.effect_size("MD", m1i=[1e300, 5], m2i=[-1e300, 4], sd1i=[1e300, 1],
                              sd2i=[1e300, 1], n1i=[10, 10], n2i=[10, 10])
    assert np.isnan(out["yi"][0]) and np.isnan(out["vi"][0])
    assert "overflow" in out["note"][0]
    assert out["yi"][1] == 1.0 and out["note"][1] == ""
