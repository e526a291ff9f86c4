"""evsynth.netmeta against R netmeta 3.4-0 and metafor rma.mv (tests/reference/network_fixtures.R).

Datasets (tests/reference/network/): Senn et al. 2013 glucose-lowering agents (netmeta's
Senn2013, MD, contrast level, one 3-arm trial), Hasselblad 1998 smoking cessation (metadat's
dat.hasselblad1998, OR from arm-level events, two 3-arm trials; the data of Lu & Ades 2006),
Franchini et al. 2012 Parkinson's disease (netmeta's Franchini2012, MD from arm-level means, one
3-arm trial) and Linde et al. 2015 depression (netmeta's Linde2015, early response OR, several
3-arm trials).

Each network is fitted from the contrasts netmeta fitted (``<d>_pairwise.csv``). The R side:
netmeta common + random effects with the generalised DerSimonian-Laird tau^2; for REML / ML the
random-effects part uses tau^2 from a tight metafor ``rma.mv`` contrast-based model (rho = 1/2)
passed to netmeta as ``tau.preset`` (netmeta's own REML runs rma.mv at default tolerances and,
for contrast-only input, with a diagonal V; see the fixture script). The closed-form parts are
compared at rtol 1e-8, the (RE)ML estimates at 1e-6.

netmeta swaps each comparison so that treat1 < treat2 in R's collation, and evsynth so that
treat1 comes first in its treatment order: per-comparison values are matched by
(studlab, {treat1, treat2}) with signed values flipped where the orientation differs, and
matrices by treatment name.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evsynth

REF = Path(__file__).parents[1] / "reference" / "network"
DATASETS = [d for d in ("senn2013", "hasselblad1998", "franchini2012", "linde2015")
            if (REF / f"{d}.json").exists()]
TAUS = ("DL", "REML", "ML")

RTOL = 1e-8      # closed form (common effects, DL, preset tau^2)
RTOL_ML = 1e-6   # (RE)ML tau^2 estimated by evsynth
ATOL = 1e-10

pytestmark = pytest.mark.skipif(not DATASETS, reason="network fixtures not generated")


# ---- fixture access -----------------------------------------------------------------------------
@functools.cache
def fixture(name: str) -> dict:
    return json.loads((REF / f"{name}.json").read_text())


def _f(x) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in np.atleast_1d(x)], dtype=float)


def rmat(m: dict) -> pd.DataFrame:
    """A fixture matrix {rows, cols, values} as a labelled DataFrame (null -> NaN)."""
    vals = np.array([[np.nan if v is None else v for v in row] for row in m["values"]], float)
    return pd.DataFrame(vals, index=m["rows"], columns=m["cols"])


def rvec(v: dict) -> pd.Series:
    return pd.Series(_f(v["values"]), index=v["names"])


def pairwise_data(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / fixture(name)["pairwise_csv"], dtype={"studlab": str})


@functools.cache
def fit(name: str, tau: str = "DL", preset: bool = False):
    """evsynth fit of a dataset: DL, or REML / ML estimated (preset=False) or with the
    fixture's tau^2 fixed (preset=True)."""
    fx = fixture(name)
    kw = {"sm": fx["sm"], "reference": fx["reference"], "small_values": fx["small_values"]}
    if tau == "DL":
        kw["method_tau"] = "DL"
    elif preset:
        kw["tau2"] = float(fx["rma_mv"][tau]["tau2"])
    else:
        kw["method_tau"] = tau
    return evsynth.netmeta(data=pairwise_data(name), **kw)


def rtol_for(tau: str, preset: bool) -> float:
    return RTOL if tau == "DL" or preset else RTOL_ML


def close_mat(actual: pd.DataFrame, expected: pd.DataFrame, rtol: float, what: str,
              offdiag: bool = True, atol: float = ATOL) -> None:
    rows, cols = list(expected.index), list(expected.columns)
    assert set(rows) <= set(actual.index) and set(cols) <= set(actual.columns), what
    a = actual.loc[rows, cols].to_numpy(float)
    e = expected.to_numpy(float)
    if offdiag and a.shape[0] == a.shape[1]:
        mask = ~np.eye(len(rows), dtype=bool)
        a, e = a[mask], e[mask]
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=what, equal_nan=True)


def row_match(fitted, r_rows: dict) -> tuple[np.ndarray, np.ndarray]:
    """Index of each fixture row in ``fitted.data`` and the orientation sign (+1 same, -1
    swapped)."""
    d = fitted.data
    where = {}
    for i, (s, a, b) in enumerate(zip(d["studlab"].astype(str), d["treat1"], d["treat2"],
                                      strict=True)):
        where[(s, a, b)] = (i, 1.0)
        where[(s, b, a)] = (i, -1.0)
    idx, sign = zip(*(where[(str(s), a, b)] for s, a, b in
                      zip(r_rows["studlab"], r_rows["treat1"], r_rows["treat2"], strict=True)),
                    strict=True)
    return np.array(idx), np.array(sign)


def method_or_skip(obj, name: str, *args, **kwargs):
    """Call ``obj.name(...)``; skip cleanly while the part is not implemented yet."""
    meth = getattr(obj, name, None)
    if meth is None:
        pytest.skip(f"NetmetaResult.{name}() not implemented yet")
    try:
        return meth(*args, **kwargs)
    except (ImportError, NotImplementedError) as exc:
        pytest.skip(f"NetmetaResult.{name}() not available yet: {exc}")


CASES = [(d, t, p) for d in DATASETS for t in TAUS for p in ((False,) if t == "DL"
                                                            else (True, False))]
CASE_IDS = [f"{d}-{t}{'-preset' if p else ''}" for d, t, p in CASES]


# ---- the network and the common-effects model ---------------------------------------------------
@pytest.mark.parametrize("name", DATASETS)
def test_network_structure(name):
    fx, f = fixture(name)["fits"]["DL"], fit(name)
    assert sorted(f.treatments) == sorted(fx["treatments"])
    assert f.k == fx["k"] and f.m == fx["m"] and f.n == fx["n"]
    assert len(f.designs) == fx["d"]
    assert sorted(f.studies) == sorted(fx["studies"])
    r_narms = dict(zip(fx["studies"], fx["narms"], strict=True))
    assert {s: int(v) for s, v in f.narms.items()} == {s: int(v) for s, v in r_narms.items()}
    # design labels: the same sets of treatments
    assert ({frozenset(x.split(":")) for x in f.designs}
            == {frozenset(x.split(":")) for x in fx["designs"]})


@pytest.mark.parametrize("name", DATASETS)
def test_common_effects_matrices(name):
    fx, f = fixture(name)["fits"]["DL"], fit(name)
    c = fx["common"]
    for ours, theirs in (("TE", "TE"), ("seTE", "seTE"), ("lower", "lower"), ("upper", "upper"),
                         ("zval", "statistic")):
        close_mat(getattr(f.common, ours), rmat(c[theirs]), RTOL, f"common {ours}")
    close_mat(f.common.pval, rmat(c["pval"]), 1e-6, "common pval", atol=1e-300)


@pytest.mark.parametrize("name", DATASETS)
def test_heterogeneity(name):
    fx, f = fixture(name)["fits"]["DL"], fit(name)
    np.testing.assert_allclose(f.Q, fx["Q"], rtol=RTOL)
    assert f.df_Q == fx["df_Q"]
    np.testing.assert_allclose(f.pval_Q, fx["pval_Q"], rtol=1e-6, atol=1e-300)
    np.testing.assert_allclose(f.tau2, fx["tau2"], rtol=RTOL, atol=1e-14)
    np.testing.assert_allclose(f.tau, fx["tau"], rtol=RTOL, atol=1e-14)
    np.testing.assert_allclose([f.I2, f.I2_lower, f.I2_upper],
                               _f([fx["I2"], fx["lower_I2"], fx["upper_I2"]]), rtol=1e-7,
                               atol=1e-10)


@pytest.mark.parametrize("name", DATASETS)
def test_per_comparison_common(name):
    fx, f = fixture(name)["fits"]["DL"], fit(name)
    rows = fx["data"]
    idx, sign = row_match(f, rows)
    d = f.data.iloc[idx]
    np.testing.assert_allclose(d["TE"].to_numpy() * sign, _f(rows["TE"]), rtol=1e-12)
    np.testing.assert_allclose(d["seTE_adj_common"], _f(rows["seTE_adj_common"]), rtol=RTOL)
    np.testing.assert_allclose(d["TE_nma_common"].to_numpy() * sign, _f(rows["TE_nma_common"]),
                               rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(f.common.seTE_nma[idx], _f(rows["seTE_nma_common"]), rtol=RTOL)
    np.testing.assert_allclose(f.common.W[idx], _f(rows["w_common"]), rtol=RTOL)
    # netmeta reports the leverage of two-arm comparisons only (NA for multi-arm rows)
    lev = _f(rows["leverage_common"])
    ok = np.isfinite(lev)
    np.testing.assert_allclose(d["leverage_common"].to_numpy()[ok], lev[ok], rtol=RTOL)
    # and design labels name the same treatments
    assert all(frozenset(a.split(":")) == frozenset(b.split(":"))
               for a, b in zip(d["design"], rows["design"], strict=True))


# ---- random effects: DL, REML and ML ------------------------------------------------------------
@pytest.mark.parametrize(("name", "tau", "preset"), CASES, ids=CASE_IDS)
def test_random_effects_matrices(name, tau, preset):
    fx, f = fixture(name)["fits"][tau], fit(name, tau, preset)
    rtol = rtol_for(tau, preset)
    # (tau^2 at the boundary, e.g. Franchini 2012: metafor stops at ~1e-11)
    np.testing.assert_allclose(f.tau2, fx["tau2"], rtol=rtol, atol=1e-12 if preset else 1e-9)
    r = fx["random"]
    for ours, theirs in (("TE", "TE"), ("seTE", "seTE"), ("lower", "lower"), ("upper", "upper"),
                         ("zval", "statistic")):
        close_mat(getattr(f.random, ours), rmat(r[theirs]), rtol, f"random {ours}")
    close_mat(f.random.pval, rmat(r["pval"]), max(rtol, 1e-6) * 10, "random pval", atol=1e-300)
    # the contract fields: every treatment versus the reference, random effects
    ref = fixture(name)["reference"]
    te = rmat(r["TE"])
    np.testing.assert_allclose(f.beta, te.loc[f.coef_names, ref].to_numpy(), rtol=rtol,
                               atol=ATOL)
    np.testing.assert_allclose(f.se, rmat(r["seTE"]).loc[f.coef_names, ref].to_numpy(),
                               rtol=rtol)


@pytest.mark.parametrize(("name", "tau", "preset"), CASES, ids=CASE_IDS)
def test_prediction_intervals(name, tau, preset):
    fx, f = fixture(name)["fits"][tau], fit(name, tau, preset)
    assert fx["method_predict"] == "V"  # t with df_Q (netmeta's default)
    rtol = rtol_for(tau, preset)
    atol = ATOL if tau == "DL" or preset else 1e-7  # limits near 0 with tau^2 to ~1e-8
    if fx["df_Q"] < 2:
        assert np.all(np.isnan(f.random.lower_predict.to_numpy()))
        return
    close_mat(f.random.seTE_predict, rmat(fx["seTE_predict"]), rtol, "seTE_predict", atol=atol)
    close_mat(f.random.lower_predict, rmat(fx["lower_predict"]), rtol, "lower_predict", atol=atol)
    close_mat(f.random.upper_predict, rmat(fx["upper_predict"]), rtol, "upper_predict", atol=atol)
    # contract: prediction limits of every treatment versus the reference
    ref = fixture(name)["reference"]
    np.testing.assert_allclose(f.pi_lb, rmat(fx["lower_predict"]).loc[f.coef_names, ref],
                               rtol=rtol, atol=atol)
    np.testing.assert_allclose(f.pi_ub, rmat(fx["upper_predict"]).loc[f.coef_names, ref],
                               rtol=rtol, atol=atol)


@pytest.mark.parametrize(("name", "tau", "preset"), CASES, ids=CASE_IDS)
def test_per_comparison_random(name, tau, preset):
    fx, f = fixture(name)["fits"][tau], fit(name, tau, preset)
    rtol = rtol_for(tau, preset)
    rows = fx["data"]
    idx, sign = row_match(f, rows)
    d = f.data.iloc[idx]
    np.testing.assert_allclose(d["seTE_adj_random"], _f(rows["seTE_adj_random"]), rtol=rtol)
    np.testing.assert_allclose(d["TE_nma_random"].to_numpy() * sign, _f(rows["TE_nma_random"]),
                               rtol=rtol, atol=ATOL)
    np.testing.assert_allclose(f.random.seTE_nma[idx], _f(rows["seTE_nma_random"]), rtol=rtol)
    np.testing.assert_allclose(f.random.W[idx], _f(rows["w_random"]), rtol=rtol)


@pytest.mark.parametrize(("name", "tau", "preset"), CASES, ids=CASE_IDS)
def test_direct_estimates_and_laplacian(name, tau, preset):
    fx, f = fixture(name)["fits"][tau], fit(name, tau, preset)
    rtol = rtol_for(tau, preset)
    for mod in ("common", "random"):
        est, r = getattr(f, mod), fx[mod]
        tol = RTOL if mod == "common" else rtol
        close_mat(est.TE_direct, rmat(r["TE_direct"]), tol, f"{mod} TE_direct")
        close_mat(est.seTE_direct, rmat(r["seTE_direct"]), tol, f"{mod} seTE_direct")
        close_mat(pd.DataFrame(est.Lplus, index=f.treatments, columns=f.treatments),
                  rmat(r["Lplus_matrix"]), tol, f"{mod} Lplus", offdiag=False, atol=1e-12)


# ---- metafor rma.mv contrast-based models -------------------------------------------------------
@pytest.mark.parametrize("name", DATASETS)
def test_common_effects_equal_rma_mv_gls(name):
    """The graph-theoretical common-effects solution equals the multivariate GLS fit."""
    rm, f = fixture(name)["rma_mv"]["common"], fit(name)
    ref = fixture(name)["reference"]
    names = rm["beta_names"]
    np.testing.assert_allclose(f.common.TE.loc[names, ref], _f(rm["beta"]), rtol=RTOL,
                               atol=ATOL)
    np.testing.assert_allclose(f.common.seTE.loc[names, ref], _f(rm["se"]), rtol=1e-7)
    np.testing.assert_allclose(f.Q, rm["QE"], rtol=RTOL)
    assert f.df_Q == rm["QE_df"]


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("tau", ("REML", "ML"))
def test_likelihood_tau2_equal_rma_mv(name, tau):
    rm, f = fixture(name)["rma_mv"][tau], fit(name, tau)
    ref = fixture(name)["reference"]
    assert f.method_tau == tau
    np.testing.assert_allclose(f.tau2, rm["tau2"], rtol=RTOL_ML, atol=1e-9)
    names = rm["beta_names"]
    np.testing.assert_allclose(f.random.TE.loc[names, ref], _f(rm["beta"]), rtol=RTOL_ML,
                               atol=1e-9)
    np.testing.assert_allclose(f.random.seTE.loc[names, ref], _f(rm["se"]), rtol=RTOL_ML)
    info = f.method_info.get("tau2_fit", {})
    if "ll" in info and tau == "ML":
        # (the REML log-likelihood has a log|X'X| term that depends on the baseline arms
        # chosen, so only the ML values are comparable) evsynth maximises at least as well as
        # metafor
        assert info["ll"] >= rm["ll"] - 1e-8
        np.testing.assert_allclose(info["ll"], rm["ll"], rtol=0, atol=1e-7)


# ---- arm-level input through evsynth.pairwise ---------------------------------------------------
@pytest.mark.parametrize("name", [d for d in DATASETS if fixture(d)["arms_csv"]])
def test_pairwise_matches_netmeta_pairwise(name):
    fx = fixture(name)
    arms = pd.read_csv(REF / fx["arms_csv"], dtype={"studlab": str})
    cols = {c: c for c in ("event", "n", "mean", "sd") if c in arms.columns}
    pw = evsynth.pairwise(fx["sm"], treat="treat", studlab="studlab", data=arms, **cols)
    r = pairwise_data(name)
    key = {}
    for i, (s, a, b) in enumerate(zip(pw["studlab"].astype(str), pw["treat1"], pw["treat2"],
                                      strict=True)):
        key[(s, a, b)] = (i, 1.0)
        key[(s, b, a)] = (i, -1.0)
    assert len(pw) == len(r)
    idx, sign = zip(*(key[(s, a, b)] for s, a, b in
                      zip(r["studlab"], r["treat1"], r["treat2"], strict=True)), strict=True)
    idx, sign = np.array(idx), np.array(sign)
    np.testing.assert_allclose(pw["TE"].to_numpy()[idx] * sign, r["TE"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(pw["seTE"].to_numpy()[idx], r["seTE"], rtol=1e-12)
    # and the network fitted from evsynth's own pairwise() equals netmeta's
    f = evsynth.netmeta(data=pw, sm=fx["sm"], reference=fx["reference"])
    close_mat(f.random.TE, rmat(fx["fits"]["DL"]["random"]["TE"]), RTOL, "random TE")


# ---- inconsistency: decomp_design, netsplit, netheat --------------------------------------------
def _design_key(label: str) -> frozenset:
    return frozenset(label.split(":"))


@pytest.mark.parametrize("name", DATASETS)
def test_decomp_design(name):
    dx = fixture(name)["decomp"]
    dec = method_or_skip(fit(name), "decomp_design")
    qd = dec.q_decomp
    exp = dx["Q_decomp"]
    for i, row in enumerate(exp["rows"]):
        np.testing.assert_allclose(qd.loc[row, "Q"], exp["Q"][i], rtol=RTOL, atol=1e-10,
                                   err_msg=row)
        assert int(qd.loc[row, "df"]) == int(exp["df"][i]), row
        np.testing.assert_allclose(qd.loc[row, "pval"], _f(exp["pval"][i]), rtol=1e-6,
                                   atol=1e-300, err_msg=row)
    # within-design Q per design (netmeta lists designs with df > 0)
    het = dx["Q_het_design"]
    ours = {_design_key(d): (q, df) for d, q, df in
            zip(dec.q_het_design["design"], dec.q_het_design["Q"], dec.q_het_design["df"],
                strict=True)}
    for d, q, df in zip(het["design"], het["Q"], het["df"], strict=True):
        np.testing.assert_allclose(ours[_design_key(d)][0], q, rtol=RTOL, atol=1e-10,
                                   err_msg=d)
        assert int(ours[_design_key(d)][1]) == int(df), d
    # between-designs Q after detaching each design
    det = dx["Q_inc_detach"]
    ours = {_design_key(d): (q, df) for d, q, df in
            zip(dec.q_inc_detach["design"], dec.q_inc_detach["Q"], dec.q_inc_detach["df"],
                strict=True)}
    assert set(ours) == {_design_key(d) for d in det["design"]}
    for d, q, df in zip(det["design"], det["Q"], det["df"], strict=True):
        np.testing.assert_allclose(ours[_design_key(d)][0], q, rtol=1e-7, atol=1e-9,
                                   err_msg=d)
        assert int(ours[_design_key(d)][1]) == int(df), d
    # full design-by-treatment interaction random-effects model
    rnd = dx["Q_inc_random"]
    qr = dec.q_inc_random.iloc[0]
    tau_w = _f(rnd["tau.within"])[0]
    np.testing.assert_allclose(qr["tau_within"], tau_w, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(qr["tau2_within"], tau_w ** 2, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(qr["Q"], _f(rnd["Q"])[0], rtol=1e-7, atol=1e-10)
    assert int(qr["df"]) == int(_f(rnd["df"])[0])
    np.testing.assert_allclose(qr["pval"], _f(rnd["pval"])[0], rtol=1e-6)


SPLITS = ([(d, t, "back-calculation", "Back-calculation") for d in DATASETS for t in TAUS]
          + [(d, "DL", "SIDE", "SIDDE") for d in DATASETS])


def _split_fixture(name: str, tau: str, r_method: str) -> dict:
    ns = fixture(name)["netsplit"]
    return ns[tau][r_method] if r_method == "Back-calculation" else ns["SIDDE_DL"]


@pytest.mark.parametrize(("name", "tau", "method", "r_method"), SPLITS,
                         ids=[f"{d}-{t}-{m}" for d, t, m, _ in SPLITS])
def test_netsplit(name, tau, method, r_method):
    sx = _split_fixture(name, tau, r_method)
    f = fit(name, tau, preset=tau != "DL")
    ns = method_or_skip(f, "netsplit", method=method)
    for mod in ("common", "random"):
        ours = getattr(ns, mod)
        where = {}
        for i, (a, b) in enumerate(zip(ours["treat1"], ours["treat2"], strict=True)):
            where[(a, b)] = (i, 1.0)
            where[(b, a)] = (i, -1.0)
        pairs = [tuple(c.split(":")) for c in sx["comparison"]]
        idx, sign = map(np.array, zip(*(where[p] for p in pairs), strict=True))
        o = ours.iloc[idx]
        np.testing.assert_array_equal(o["k"].to_numpy(int), _f(sx["k"]).astype(int))
        np.testing.assert_allclose(o["prop"], _f(sx[f"prop_{mod}"]), rtol=1e-7, atol=1e-10,
                                   err_msg=f"{mod} prop")
        for part, te, se in (("", "TE_nma", "seTE_nma"), ("direct_", "TE_direct",
                                                          "seTE_direct"),
                             ("indirect_", "TE_indirect", "seTE_indirect"),
                             ("compare_", "diff", "seTE_diff")):
            r = sx[f"{part}{mod}"]
            np.testing.assert_allclose(o[te].to_numpy() * sign, _f(r["TE"]), rtol=1e-7,
                                       atol=1e-9, err_msg=f"{mod} {te}", equal_nan=True)
            np.testing.assert_allclose(o[se], _f(r["seTE"]), rtol=1e-7, atol=1e-9,
                                       err_msg=f"{mod} {se}", equal_nan=True)
        cmp = sx[f"compare_{mod}"]
        np.testing.assert_allclose(o["zval"].to_numpy() * sign, _f(cmp["z"]), rtol=1e-7,
                                   atol=1e-9, err_msg=f"{mod} z", equal_nan=True)
        np.testing.assert_allclose(o["pval"], _f(cmp["p"]), rtol=1e-6, atol=1e-12,
                                   err_msg=f"{mod} p", equal_nan=True)


def _norm_row(label: str, treatments: set) -> str:
    """A design row label ("a:b" or "a:b_design") with its treatments sorted; treatment names
    may themselves contain "_"."""
    parts = [(label, "")] + [(label[:i], label[i + 1:]) for i, ch in enumerate(label)
                             if ch == "_"]
    for comp, design in parts:
        c, d = comp.split(":"), design.split(":") if design else []
        if len(c) == 2 and set(c) <= treatments and set(d) <= treatments:
            return ":".join(sorted(c)) + ("_" + ":".join(sorted(d)) if d else "")
    raise AssertionError(f"cannot parse design row label {label!r}")


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("model", ("common", "random"))
def test_netheat(name, model):
    hx = fixture(name)["netheat"][model]
    nh = method_or_skip(fit(name), "netheat", model=model)
    if model == "random":
        np.testing.assert_allclose(nh.tau2, hx["tau_within"] ** 2, rtol=1e-7, atol=1e-12)
    # netmeta's design rows (nma_krahn): the comparison, plus "_design" for multi-arm designs
    des = hx["design"]
    trts = set(fixture(name)["treatments"])

    def norm(label: str) -> str:
        return _norm_row(label, trts)

    labels = [norm(c if int(k) == 2 else f"{c}_{d}") for c, d, k in
              zip(des["comparison"], des["design"], des["narms"], strict=True)]
    comp_of = {lab: frozenset(c.split(":")) for lab, c in zip(labels, des["comparison"],
                                                              strict=True)}
    diff = rmat(hx["diff"])
    diff.index, diff.columns = labels, labels
    ours = nh.q_diff.rename(index=norm, columns=norm)
    assert set(ours.index) <= set(labels), (list(ours.index), labels)
    # the designs evsynth leaves out are the ones netmeta's plot drops (all-NA columns)
    dropped = [lab for lab in labels if lab not in set(ours.columns)]
    assert np.all(np.isnan(diff[dropped].to_numpy(float)))
    rows = list(ours.index)
    np.testing.assert_allclose(ours.loc[rows, rows].to_numpy(float),
                               diff.loc[rows, rows].to_numpy(float), rtol=1e-7, atol=1e-9,
                               err_msg="q_diff")
    # hat matrix: netheat plots H[design row's comparison, design row]; orientation of each
    # row may differ, so compare magnitudes
    H = rmat(hx["H"])
    hrow = {frozenset(r.split(":")): i for i, r in enumerate(H.index)}
    hcol = {lab: j for j, lab in enumerate(labels)}
    Hv = H.to_numpy(float)
    exp = np.array([[Hv[hrow[comp_of[r]], hcol[c]] for c in rows] for r in rows])
    hat = nh.hat.rename(index=norm, columns=norm).loc[rows, rows].to_numpy(float)
    np.testing.assert_allclose(np.abs(hat), np.abs(exp), rtol=1e-7, atol=1e-10,
                               err_msg="hat")


# ---- ranking and contributions ------------------------------------------------------------------
RANKS = [(d, t, m, sv) for d in DATASETS for t in TAUS for m in ("common", "random")
         for sv in ("desirable", "undesirable")]


@pytest.mark.parametrize(("name", "tau", "model", "small_values"), RANKS,
                         ids=[f"{d}-{t}-{m}-{s}" for d, t, m, s in RANKS])
def test_p_scores(name, tau, model, small_values):
    rx = fixture(name)["netrank"][tau][small_values]
    f = fit(name, tau, preset=tau != "DL")
    rk = method_or_skip(f, "p_scores", model=model, small_values=small_values)
    exp = rvec(rx[f"Pscore_{model}"])
    np.testing.assert_allclose(rk.pscore.loc[exp.index].to_numpy(float), exp.to_numpy(),
                               rtol=1e-8, atol=1e-12)
    close_mat(rk.pmatrix, rmat(rx[f"Pmatrix_{model}"]), 1e-8, "Pmatrix", atol=1e-12)


# known differences from netmeta, reported to the owner of the module (non-strict xfail so
# that a fix shows up as XPASS)
KNOWN_CONTRIB_MISMATCH: dict[tuple[str, str], str] = {}
CONTRIB = [pytest.param(d, t, m, meth, id=f"{d}-{t}-{m}-{meth}",
                        marks=[pytest.mark.xfail(reason=KNOWN_CONTRIB_MISMATCH[(d, meth)],
                                                 strict=False)]
                        if (d, meth) in KNOWN_CONTRIB_MISMATCH else [])
           for d in DATASETS for t in ("DL", "REML") for m in ("common", "random")
           for meth in ("randomwalk", "shortestpath")]


@pytest.mark.parametrize(("name", "tau", "model", "method"), CONTRIB)
def test_contribution(name, tau, model, method):
    cx = fixture(name)["netcontrib"][tau][method]
    if cx is None:
        pytest.skip(f"netmeta's netcontrib(method = {method!r}) failed for {name}")
    f = fit(name, tau, preset=tau != "DL")
    cm = method_or_skip(f, "contribution", model=model, method=method)
    exp = rmat(cx[model])

    def key(label: str) -> frozenset:
        return frozenset(label.split(":"))

    ours = cm.frame.rename(index=key, columns=key)
    exp = exp.rename(index=key, columns=key)
    assert set(ours.index) == set(exp.index)
    assert set(ours.columns) == set(exp.columns)
    a = ours.loc[list(exp.index), list(exp.columns)].to_numpy(float)
    np.testing.assert_allclose(a, exp.to_numpy(float), rtol=1e-7, atol=1e-10)


# ---- league table -------------------------------------------------------------------------------
def _cell(x) -> str:
    """netleague pads numbers with spaces: "0.29 ( 0.06 to  0.51)" -> "0.29 (0.06 to 0.51)";
    it also prints a tiny negative estimate as "-0.00" (read as "0.00")."""
    x = re.sub(r"\s+", " ", str(x)).replace("( ", "(").strip()
    return re.sub(r"(?<![\d.])-(0\.0+)(?![\d])", r"\1", x)


LEAGUE = [(d, t, m) for d in DATASETS for t in TAUS for m in ("common", "random")]


@pytest.mark.parametrize(("name", "tau", "model"), LEAGUE,
                         ids=[f"{d}-{t}-{m}" for d, t, m in LEAGUE])
def test_league_table(name, tau, model):
    """netleague(digits = 2): lower triangle network estimates (column versus row), upper
    triangle direct estimates, back-transformed for ratio measures."""
    lx = fixture(name)["netleague"][tau][model]
    trts = fixture(name)["treatments"]
    f = fit(name, tau, preset=tau != "DL")
    lt = method_or_skip(f, "league_table", model=model, digits=2, order=trts)
    ours = lt.table
    assert list(ours.columns) == trts
    for j, col in enumerate(trts):
        exp = [_cell(v) for v in lx[col]]
        got = [_cell(v) for v in ours.iloc[:, j]]
        assert got == exp, (col, got, exp)
