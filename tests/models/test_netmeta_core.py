"""The network meta-analysis core (evsynth.netmeta, evsynth.pairwise): identities that must
hold whatever the data, agreement with the pairwise and multivariate models it generalises,
and the validation of its input.

Reference values against netmeta and metafor are in test_netmeta_reference.py (fixtures made
by tests/reference/network_fixtures.R).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import evsynth
from evsynth.models.network._graph import multiarm_variances

# A small network with a three-arm trial (s3) and a closed loop A-B-C plus a spur to D.
NET = pd.DataFrame({
    "studlab": ["s1", "s2", "s3", "s3", "s3", "s4", "s5", "s6"],
    "treat1": ["A", "A", "A", "A", "B", "B", "A", "C"],
    "treat2": ["B", "C", "B", "C", "C", "C", "B", "D"],
    "TE": [-0.5, -0.3, -0.45, -0.2, 0.25, 0.1, -0.6, 0.3],
    "seTE": [0.2, 0.25, 0.3, 0.32, 0.31, 0.3, 0.22, 0.4],
})


def _arm_data() -> pd.DataFrame:
    return pd.DataFrame({
        "study": ["t1", "t1", "t1", "t2", "t2", "t3", "t3", "t4", "t4", "t5", "t5"],
        "treat": ["A", "B", "C", "A", "B", "B", "C", "A", "C", "A", "B"],
        "r": [10, 15, 12, 8, 11, 20, 14, 9, 13, 12, 16],
        "n": [50, 50, 48, 40, 40, 60, 61, 45, 44, 52, 50],
    })


def test_two_treatments_equal_the_pairwise_meta_analysis():
    """With two treatments the network model is the pairwise model: common effect = FE,
    generalised DL = DL (Rücker 2012, sec. 4)."""
    d = NET[NET.treat1.eq("A") & NET.treat2.eq("B") & NET.studlab.ne("s3")]
    fit = evsynth.netmeta(data=d, reference="A")
    fe = evsynth.meta(d["TE"].to_numpy(), d["seTE"].to_numpy() ** 2, method="FE")
    dl = evsynth.meta(d["TE"].to_numpy(), d["seTE"].to_numpy() ** 2, method="DL")
    assert fit.common.TE.loc["B", "A"] == pytest.approx(-fe.estimate, rel=1e-12)
    assert fit.common.seTE.loc["B", "A"] == pytest.approx(fe.se[0], rel=1e-12)
    assert fit.Q == pytest.approx(fe.QE, rel=1e-12)
    assert fit.tau2 == pytest.approx(dl.tau2, rel=1e-10)
    assert fit.random.TE.loc["A", "B"] == pytest.approx(dl.estimate, rel=1e-10)
    assert fit.random.seTE.loc["A", "B"] == pytest.approx(dl.se[0], rel=1e-10)


def test_reduced_weights_equal_the_multivariate_gls():
    """Rücker's reduced weights for multi-arm trials reproduce the multivariate GLS solution
    with the within-study covariance (Rücker & Schwarzer 2014, Stat Med 33:4353, sec. 3):
    the common-effect estimates equal a contrast-based meta_mv fit without random effects."""
    fit = evsynth.netmeta(data=NET, reference="A")
    # contrast-based: every study's comparisons with its first arm; covariances = variance of
    # the shared arm, (v_ab + v_ac - v_bc) / 2
    v = {("A", "B"): 0.3 ** 2, ("A", "C"): 0.32 ** 2, ("B", "C"): 0.31 ** 2}
    cov = (v[("A", "B")] + v[("A", "C")] - v[("B", "C")]) / 2
    y = [-0.5, -0.3, -0.45, -0.2, 0.1, -0.6, 0.3]
    X = np.array([[-1, 0, 0], [0, -1, 0], [-1, 0, 0], [0, -1, 0], [1, -1, 0], [-1, 0, 0],
                  [0, 1, -1]], dtype=float)  # columns B, C, D versus A (y = treat1 - treat2)
    blocks = [np.array([[0.2 ** 2]]), np.array([[0.25 ** 2]]),
              np.array([[v[("A", "B")], cov], [cov, v[("A", "C")]]]), np.array([[0.3 ** 2]]),
              np.array([[0.22 ** 2]]), np.array([[0.4 ** 2]])]
    mv = evsynth.meta_mv(y, blocks, mods=X, intercept=False)
    np.testing.assert_allclose(fit.common.TE.loc[["B", "C", "D"], "A"], mv.beta, rtol=1e-10)
    np.testing.assert_allclose(fit.common.seTE.loc[["B", "C", "D"], "A"], mv.se, rtol=1e-10)
    assert fit.Q == pytest.approx(mv.QE, rel=1e-10)


def test_reml_is_the_contrast_based_multivariate_model():
    """method_tau="REML" estimates tau^2 in the contrast-based model with rho = 1/2 (netmeta
    through metafor's rma.mv); the random-effects estimates then use that tau^2."""
    fit = evsynth.netmeta(data=NET, reference="A", method_tau="REML")
    assert fit.method_info["tau2_fit"]["converged"] is True
    preset = evsynth.netmeta(data=NET, reference="A", tau2=fit.tau2)
    np.testing.assert_allclose(fit.random.TE, preset.random.TE, rtol=1e-12)
    ml = evsynth.netmeta(data=NET, reference="A", method_tau="ML")
    assert ml.tau2 <= fit.tau2 + 1e-12  # ML shrinks tau^2 relative to REML here


def test_consistency_and_antisymmetry():
    fit = evsynth.netmeta(data=NET)
    for est in (fit.common, fit.random):
        te = est.TE.to_numpy()
        np.testing.assert_allclose(te, -te.T, atol=1e-15)
        for a in range(4):
            for b in range(4):
                for c in range(4):
                    assert te[a, b] == pytest.approx(te[a, c] + te[c, b], abs=1e-12)
        np.testing.assert_allclose(est.seTE.to_numpy(), est.seTE.to_numpy().T, atol=1e-15)
        assert np.all(np.diag(est.seTE.to_numpy()) == 0)
    # the fitted comparisons are the hat matrix times the observations; trace = n - 1
    H = fit.common.H
    np.testing.assert_allclose(H @ fit.data["TE"].to_numpy(), fit.common.TE_nma, atol=1e-12)
    assert np.trace(H) == pytest.approx(fit.n - 1, rel=1e-10)
    np.testing.assert_allclose(np.diag(H), fit.data["leverage_common"], rtol=1e-10)


def test_multiarm_reduced_variances_of_consistent_arms():
    """A k-arm study whose comparison variances come from arm variances s_i (v_ij = s_i + s_j)
    gets variances that reproduce its information: with equal arm variances s, the reduced
    variance of each of the 3 comparisons is 3 s (= k s; Rücker 2012, sec. 5)."""
    s = 0.04
    out = multiarm_variances(np.array([2 * s] * 3), np.array([0, 0, 1]), np.array([1, 2, 2]), 3)
    np.testing.assert_allclose(out, 3 * s, rtol=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), flip=st.lists(st.booleans(), min_size=8, max_size=8))
def test_row_order_and_orientation_do_not_matter(seed, flip):
    """Turning comparisons round (TE negated) and shuffling rows changes nothing."""
    rng = np.random.default_rng(seed)
    d = NET.copy()
    # random arm effects per study: multi-arm effects stay consistent (TE_ac = TE_ab + TE_bc)
    arm = {(st, t): rng.normal(0, 0.35) for st, t in
           zip(np.r_[d.studlab, d.studlab], np.r_[d.treat1, d.treat2], strict=True)}
    d["TE"] = [arm[st, a] - arm[st, b] for st, a, b in zip(d.studlab, d.treat1, d.treat2,
                                                           strict=True)]
    fit = evsynth.netmeta(data=d)
    f = np.array(flip)
    e = d.copy()
    e.loc[f, ["treat1", "treat2"]] = e.loc[f, ["treat2", "treat1"]].to_numpy()
    e.loc[f, "TE"] = -e.loc[f, "TE"]
    e = e.iloc[rng.permutation(len(e))]
    other = evsynth.netmeta(data=e)
    for a, b in ((fit.common, other.common), (fit.random, other.random)):
        np.testing.assert_allclose(a.TE, b.TE, atol=1e-12)
        np.testing.assert_allclose(a.seTE, b.seTE, atol=1e-12)
    assert fit.Q == pytest.approx(other.Q, rel=1e-10, abs=1e-12)
    assert fit.tau2 == pytest.approx(other.tau2, rel=1e-9, abs=1e-12)


def test_contract_reference_and_predict():
    fit = evsynth.netmeta(data=NET, reference="C", sm="MD")
    assert fit.coef_names == ["A", "B", "D"] and fit.k == 6 and fit.m == 8 and fit.n == 4
    np.testing.assert_allclose(fit.beta, fit.random.TE.loc[["A", "B", "D"], "C"])
    assert fit.level == 95.0 and fit.method_info["reference"] == "C"
    json.dumps(fit.to_dict(), allow_nan=False)
    frame = fit.to_frame()
    assert list(frame["term"]) == ["A", "B", "D"]
    other = fit.with_reference("A")
    assert other.coef_names == ["B", "C", "D"] and fit.reference == "C"
    pred = fit.predict(level=90)
    assert pred.level == 90.0
    assert np.all(pred.pi_lb < pred.ci_lb) and np.all(pred.ci_ub < pred.pi_ub)
    assert fit.designs == ["A:B", "A:B:C", "A:C", "B:C", "C:D"]
    assert fit.narms["s3"] == 3 and fit.df_Q == 6 + 1 - 3
    common = evsynth.netmeta(data=NET, reference="C", random=False)
    np.testing.assert_allclose(common.beta, common.common.TE.loc[["A", "B", "D"], "C"])
    assert "Random effects" not in str(common.summary())


def test_pairwise_from_arm_data_matches_effect_size():
    arms = _arm_data()
    pw = evsynth.pairwise("OR", treat="treat", event="r", n="n", studlab="study", data=arms)
    assert len(pw) == 3 + 4
    row = pw[(pw.studlab == "t1") & (pw.treat1 == "B") & (pw.treat2 == "C")].iloc[0]
    es = evsynth.effect_size("OR", ai=[15], n1i=[50], ci=[12], n2i=[48])
    assert row.TE == pytest.approx(es["yi"].iat[0], rel=1e-12)
    assert row.seTE == pytest.approx(math.sqrt(es["vi"].iat[0]), rel=1e-12)
    assert {"event1", "n1", "event2", "n2"} <= set(pw.columns)
    fit = evsynth.netmeta(data=pw, sm="OR")
    assert fit.k == 5 and fit.narms["t1"] == 3


@pytest.mark.parametrize("measure", ["MD", "SMD", "ROM"])
def test_pairwise_means(measure):
    arms = {"study": ["a", "a", "a", "b", "b"], "treat": ["X", "Y", "Z", "X", "Y"],
            "m": [1.0, 2.0, 3.0, 1.5, 2.5], "sd": [1.0, 1.2, 0.9, 1.1, 1.0],
            "n": [10, 12, 11, 20, 21]}
    pw = evsynth.pairwise(measure, treat="treat", mean="m", sd="sd", n="n", studlab="study",
                          data=arms)
    es = evsynth.effect_size(measure, m1i=[2.0], sd1i=[1.2], n1i=[12], m2i=[3.0], sd2i=[0.9],
                             n2i=[11])
    yz = pw[(pw.studlab == "a") & (pw.treat1 == "Y")].iloc[0]
    assert yz.TE == pytest.approx(es["yi"].iat[0], rel=1e-12)
    assert yz.seTE == pytest.approx(math.sqrt(es["vi"].iat[0]), rel=1e-12)


def test_pairwise_zero_cells_correct_the_whole_study():
    arms = pd.DataFrame({"study": ["a", "a", "a", "b", "b", "c", "c"],
                         "treat": ["X", "Y", "Z", "X", "Y", "X", "Y"],
                         "r": [0, 3, 4, 2, 5, 0, 0], "n": [20, 20, 20, 30, 30, 10, 10]})
    pw = evsynth.pairwise("OR", treat="treat", event="r", n="n", studlab="study", data=arms)
    # study a: 0.5 added to the events and non-events of every arm (netmeta's pairwise), so
    # Y vs Z is log((3.5 / 17.5) / (4.5 / 16.5)); netmeta 3.4-0 pairwise(treat, r, n,
    # studlab = study, sm = "OR") gives TE -0.310154928304 and seTE 0.791002797521
    yz = pw[(pw.studlab == "a") & (pw.treat1 == "Y")].iloc[0]
    assert yz.TE == pytest.approx(math.log((3.5 / 17.5) / (4.5 / 16.5)), rel=1e-12)
    assert yz.TE == pytest.approx(-0.310154928304, abs=1e-11)
    assert yz.seTE == pytest.approx(0.791002797521, abs=1e-11)
    xy = pw[(pw.studlab == "a") & (pw.treat2 == "Y")].iloc[0]
    assert (xy.TE, xy.seTE) == (pytest.approx(-2.104134154270, abs=1e-11),
                                pytest.approx(1.546492040284, abs=1e-11))
    assert "c (no events or only events in every arm)" in pw.attrs["dropped"]
    assert set(pw.studlab) == {"a", "b"}
    assert arms["r"].tolist() == [0, 3, 4, 2, 5, 0, 0]  # the input is not modified


def test_pairwise_risk_and_rate_differences_with_zero_cells():
    """RD and IRD of a study with a zero cell: the estimate from the data as they are, the SE
    from the cells with 0.5 added to every arm of the study (meta's metabin and metainc, which
    netmeta's pairwise calls; Cooper & Hedges 1994 for RD). Before, the whole call failed
    ("no finite RD with a positive standard error"); session 13 fuzz."""
    pw = evsynth.pairwise("RD", treat=["A", "B", "C"], studlab=["s"] * 3, event=[0, 0, 4],
                          n=[20, 20, 20])
    ab, ac = pw.iloc[0], pw.iloc[1]
    c0, c4 = (0.5 * 20.5) / 21**3, (4.5 * 16.5) / 21**3   # (e + .5)(n - e + .5) / (n + 1)^3
    assert (ab.TE, ac.TE) == (0.0, pytest.approx(-0.2, abs=1e-15))
    assert ab.seTE == pytest.approx(math.sqrt(2 * c0), rel=1e-14)
    assert ac.seTE == pytest.approx(math.sqrt(c0 + c4), rel=1e-14)
    # a study with no events in any arm stays (RD is defined), as in metabin
    both = evsynth.pairwise("RD", treat=["A", "B"], studlab=["t", "t"], event=[0, 0],
                            n=[10, 30])
    assert both.TE.iat[0] == 0.0
    assert both.seTE.iat[0] == pytest.approx(
        math.sqrt(0.5 * 10.5 / 11**3 + 0.5 * 30.5 / 31**3), rel=1e-14)
    ird = evsynth.pairwise("IRD", treat=["A", "B"], studlab=["s", "s"], event=[0, 0],
                           time=[10.0, 5.0])
    assert ird.TE.iat[0] == 0.0
    assert ird.seTE.iat[0] == pytest.approx(math.sqrt(0.5 / 10**2 + 0.5 / 5**2), rel=1e-14)
    # without zero cells: escalc's values, uncorrected
    plain = evsynth.pairwise("RD", treat=["A", "B"], studlab=["s", "s"], event=[3, 5],
                             n=[20, 25])
    es = evsynth.effect_size("RD", ai=[3], n1i=[20], ci=[5], n2i=[25])
    assert plain.TE.iat[0] == es["yi"].iat[0]
    assert plain.seTE.iat[0] == pytest.approx(math.sqrt(es["vi"].iat[0]), rel=1e-15)


@pytest.mark.parametrize("kw, message", [
    ({"event": [1, 2], "n": [-20, 20]},
     r"study 's', treatment 'A' \(arm in row 1\): field 'n' is -20\.0; expected a number of "
     "participants > 0"),
    ({"event": [1, 25], "n": [20, 20]},
     r"treatment 'B' \(arm in row 2\): field 'event' is 25\.0; expected at most n events"),
    ({"event": [0, 2], "n": [0, 20]}, r"field 'n' is 0\.0"),
    ({"event": [1, 2], "n": [20, 20], "incr": "a"}, r"argument 'incr' is 'a'"),
    ({"event": [1, 2], "n": [20, 20], "incr": -1}, r"argument 'incr' is -1"),
    ({"event": [1, 2], "n": [20, 20], "treat": ["A", None]},
     r"arm in row 2: field 'treat' is missing"),
    ({"event": [1, 2], "n": [20, 20], "studlab": ["s", float("nan")]},
     r"arm in row 2: field 'studlab' is missing"),
    ({"event": [1, 2], "n": [20, 20], "treat": [1, "1"]}, r"treatment '1' appears in two arms"),
])
def test_pairwise_names_the_arm_and_field(kw, message):
    args = {"treat": ["A", "B"], "studlab": ["s", "s"]} | kw
    with pytest.raises(evsynth.InputError, match=message):
        evsynth.pairwise("OR", **args)


def test_pairwise_generic_needs_positive_standard_errors():
    with pytest.raises(evsynth.InputError, match=r"field 'seTE' is -0\.1; expected a standard"):
        evsynth.pairwise("GEN", treat=["A", "B"], studlab=["s", "s"], TE=[1.0, 2.0],
                         seTE=[-0.1, 0.2])


@pytest.mark.parametrize("change, message", [
    (lambda d: d.drop(index=4), "study 's3' has 2 comparisons"),
    (lambda d: d.assign(seTE=d.seTE.where(d.index != 1, 0.0)), "field 'seTE' is 0.0"),
    (lambda d: d.assign(treat2=d.treat2.where(d.index != 0, "A")), "both 'A'"),
    (lambda d: d.assign(TE=d.TE.where(d.index != 2, np.nan)), "field 'TE'"),
    (lambda d: d[d.studlab.ne("s6")].assign(
        treat1=lambda x: x.treat1.where(x.studlab.ne("s4"), "E"),
        treat2=lambda x: x.treat2.where(x.studlab.ne("s4"), "F")), "not connected"),
])
def test_bad_input_names_the_study_and_field(change, message):
    with pytest.raises(evsynth.InputError, match=message):
        evsynth.netmeta(data=change(NET.copy()))


def test_bad_arguments():
    with pytest.raises(evsynth.InputError, match="argument 'reference'"):
        evsynth.netmeta(data=NET, reference="Z")
    with pytest.raises(evsynth.InputError, match="method_tau"):
        evsynth.netmeta(data=NET, method_tau="PM")
    with pytest.raises(evsynth.InputError, match="'seq'"):
        evsynth.netmeta(data=NET, seq=["A", "B", "C"])
    with pytest.raises(evsynth.InputError, match="argument 'tau2'"):
        evsynth.netmeta(data=NET, tau2=-1.0)
    with pytest.raises(evsynth.InputError, match="needs the arm-level field 'n'"):
        evsynth.pairwise("OR", treat="treat", event="r", studlab="study", data=_arm_data())


def test_subnetworks():
    from evsynth.models.network.fit import subnetworks

    d = pd.DataFrame({"treat1": ["A", "C", "B"], "treat2": ["B", "D", "E"]})
    assert subnetworks(d) == [["A", "B", "E"], ["C", "D"]]


def test_seq_orders_the_matrices():
    fit = evsynth.netmeta(data=NET, seq=["D", "C", "B", "A"])
    assert list(fit.common.TE.index) == ["D", "C", "B", "A"] and fit.reference == "D"
    base = evsynth.netmeta(data=NET)
    assert fit.common.TE.loc["A", "D"] == pytest.approx(base.common.TE.loc["A", "D"], rel=1e-12)
