"""Property-based tests (hypothesis) of evsynth.effect_size invariants."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

import evsynth
from evsynth.effects.escalc import hedges_correction

es = evsynth.effect_size
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

count = st.integers(min_value=0, max_value=200)
pos_count = st.integers(min_value=1, max_value=200)
mean = st.floats(min_value=-100, max_value=100, allow_nan=False)
sd = st.floats(min_value=0.1, max_value=50, allow_nan=False)
size = st.integers(min_value=2, max_value=500)
corr = st.floats(min_value=-0.95, max_value=0.95, allow_nan=False)


@st.composite
def tables(draw, k_min=1, k_max=8):
    k = draw(st.integers(min_value=k_min, max_value=k_max))
    cells = [draw(st.lists(count, min_size=k, max_size=k)) for _ in range(4)]
    a, b, c, d = (np.array(x, dtype=float) for x in cells)
    # each group needs at least one participant
    b = np.where(a + b == 0, 1, b)
    d = np.where(c + d == 0, 1, d)
    return dict(ai=a, bi=b, ci=c, di=d)


@st.composite
def two_groups(draw, k_min=1, k_max=8):
    k = draw(st.integers(min_value=k_min, max_value=k_max))
    out = {}
    for name, strat in (("m1i", mean), ("m2i", mean), ("sd1i", sd), ("sd2i", sd),
                        ("n1i", size), ("n2i", size)):
        out[name] = np.array(draw(st.lists(strat, min_size=k, max_size=k)), dtype=float)
    return out


def _swap_tables(t):
    return dict(ai=t["ci"], bi=t["di"], ci=t["ai"], di=t["bi"])


def _swap_groups(g):
    return dict(m1i=g["m2i"], m2i=g["m1i"], sd1i=g["sd2i"], sd2i=g["sd1i"], n1i=g["n2i"],
                n2i=g["n1i"])


@SETTINGS
@given(tables(), st.sampled_from(["OR", "RR", "RD", "PETO", "AS"]),
       st.sampled_from(["only0", "all", "if0all"]))
def test_swapping_groups_negates_binary_measures(t, measure, to):
    a = es(measure, to=to, **t)
    b = es(measure, to=to, **_swap_tables(t))
    np.testing.assert_allclose(b["yi"], -a["yi"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b["vi"], a["vi"], rtol=1e-9, atol=1e-12)


@SETTINGS
@given(two_groups(), st.sampled_from([("MD", "LS"), ("MD", "HO"), ("SMD", "LS"), ("SMD", "UB"),
                                      ("SMD", "LS2"), ("SMD", "AV"), ("SMD", "RM5"),
                                      ("SMDH", "LS")]))
def test_swapping_groups_negates_mean_differences(g, mv):
    measure, vtype = mv
    a = es(measure, vtype=vtype, **g)
    b = es(measure, vtype=vtype, **_swap_groups(g))
    np.testing.assert_allclose(b["yi"], -a["yi"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b["vi"], a["vi"], rtol=1e-9, atol=1e-12)


@SETTINGS
@given(tables(k_min=2), st.randoms(use_true_random=False),
       st.sampled_from(["OR", "RR", "RD", "PETO"]), st.sampled_from(["only0", "if0all"]))
def test_row_order_does_not_change_study_values(t, rnd, measure, to):
    k = len(t["ai"])
    perm = list(range(k))
    rnd.shuffle(perm)
    a = es(measure, to=to, **t)
    b = es(measure, to=to, **{key: v[perm] for key, v in t.items()})
    np.testing.assert_allclose(b["yi"].to_numpy(), a["yi"].to_numpy()[perm], rtol=1e-12)
    np.testing.assert_allclose(b["vi"].to_numpy(), a["vi"].to_numpy()[perm], rtol=1e-12)


@SETTINGS
@given(tables(k_min=2), st.sampled_from(["OR", "RR", "RD", "AS"]))
def test_adding_studies_does_not_change_others(t, measure):
    # with to="only0" (default) each study's value depends on that study only
    full = es(measure, **t)
    first = es(measure, **{key: v[:1] for key, v in t.items()})
    np.testing.assert_allclose(full[["yi", "vi"]].iloc[:1], first[["yi", "vi"]], rtol=1e-12)


@SETTINGS
@given(two_groups(), st.floats(min_value=0.01, max_value=100),
       st.sampled_from(["LS", "UB", "LS2", "AV", "RM5"]))
def test_rescaling_leaves_smd_invariant(g, scale, vtype):
    a = es("SMD", vtype=vtype, **g)
    scaled = {**g, **{n: g[n] * scale for n in ("m1i", "m2i", "sd1i", "sd2i")}}
    b = es("SMD", vtype=vtype, **scaled)
    np.testing.assert_allclose(b[["yi", "vi"]], a[["yi", "vi"]], rtol=1e-9, atol=1e-12)
    md_a, md_b = es("MD", **g), es("MD", **scaled)
    np.testing.assert_allclose(md_b["yi"], scale * md_a["yi"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(md_b["vi"], scale**2 * md_a["vi"], rtol=1e-9)


@SETTINGS
@given(two_groups(), st.floats(min_value=-50, max_value=50))
def test_shifting_both_means_leaves_md_smd_invariant(g, shift):
    shifted = {**g, "m1i": g["m1i"] + shift, "m2i": g["m2i"] + shift}
    for measure in ("MD", "SMD"):
        np.testing.assert_allclose(es(measure, **shifted)[["yi", "vi"]],
                                   es(measure, **g)[["yi", "vi"]], rtol=1e-7, atol=1e-9)


@SETTINGS
@given(st.lists(st.tuples(mean, mean, sd, sd, mean, mean, sd, sd, size, size), min_size=1,
                max_size=5),
       corr, st.floats(min_value=0.01, max_value=100))
def test_smd_change_scale_invariant_and_antisymmetric(rows, r, scale):
    cols = list(zip(*rows, strict=True))
    names = ("m1i_pre", "m1i_post", "sd1i_pre", "sd1i_post", "m2i_pre", "m2i_post", "sd2i_pre",
             "sd2i_post", "n1i", "n2i")
    data = {n: np.array(c, dtype=float) for n, c in zip(names, cols, strict=True)}
    a = es("SMD_CHANGE", ri=r, **data)
    scaled = {n: (v * scale if n[0] in "ms" else v) for n, v in data.items()}
    np.testing.assert_allclose(es("SMD_CHANGE", ri=r, **scaled)[["yi", "vi"]], a[["yi", "vi"]],
                               rtol=1e-7, atol=1e-9)
    swapped = {n.replace("1i", "#").replace("2i", "1i").replace("#", "2i"): v
               for n, v in data.items()}
    b = es("SMD_CHANGE", ri=r, **swapped)
    np.testing.assert_allclose(b["yi"], -a["yi"], rtol=1e-9, atol=1e-12)


@SETTINGS
@given(st.lists(st.tuples(st.floats(min_value=-5, max_value=5), st.floats(min_value=0.01,
                                                                           max_value=5)),
                min_size=1, max_size=6),
       st.sampled_from([90, 95, 99]), st.booleans())
def test_gen_ci_round_trip(rows, level, ratio):
    y = np.array([r[0] for r in rows])
    se = np.array([r[1] for r in rows])
    z = stats.norm.ppf(0.5 + level / 200)
    lb, ub = y - z * se, y + z * se
    if ratio:
        res = es("GEN", yi=np.exp(y), ci_lb=np.exp(lb), ci_ub=np.exp(ub), level=level,
                 ratio=True)
    else:
        res = es("GEN", yi=y, ci_lb=lb, ci_ub=ub, level=level)
    np.testing.assert_allclose(res["yi"], y, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res["sei"], se, rtol=1e-7)


@SETTINGS
@given(st.floats(min_value=-5, max_value=5).filter(lambda v: abs(v) > 1e-3),
       st.floats(min_value=0.01, max_value=5))
def test_gen_p_value_round_trip(y, se):
    p = 2 * stats.norm.sf(abs(y) / se)
    if not 0 < p < 1:
        return
    res = es("GEN", yi=[y], pval=[p])
    np.testing.assert_allclose(res["sei"], [se], rtol=1e-6)


@SETTINGS
@given(st.integers(min_value=2, max_value=10**6))
def test_hedges_correction_bounds(m):
    c = float(hedges_correction(m))
    assert 0 < c < 1
    # Hedges' approximation 1 - 3/(4m - 1) has error O(m^-2); the log-gamma difference (as in
    # metafor) carries a rounding error of about eps * lgamma(m/2) ~ eps * m log(m) / 2
    assert abs(c - (1 - 3 / (4 * m - 1))) < 0.2 / m**2 + 4e-16 * m * np.log(m)
    if m < 10**4:  # beyond this, c(m+1) - c(m) ~ 1/m^2 is below the log-gamma rounding (~1e-10)
        assert c < float(hedges_correction(m + 1))


@SETTINGS
@given(tables())
def test_notes_exactly_on_nan_rows(t):
    for to in ("only0", "none"):
        res = es("OR", to=to, drop00=True, **t)
        nan = res["yi"].isna() | res["vi"].isna()
        assert ((res["note"] != "") == nan).all()
        assert (res.loc[~nan, "vi"] > 0).all()
