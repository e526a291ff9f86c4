"""Network meta-analysis with very unequal weights, and the checks of multi-arm input (found by a
differential fuzz against netmeta 3.6-2's own code and metafor's rma.mv, session 12).

The expected values are exact by construction (a tree network reproduces its studies; a study
with a tiny SE pins its contrast), so a mistake shared with netmeta, whose pseudoinverse
``(L - J/n)^-1 + J/n`` loses the same digits, cannot pass."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import evsynth
from evsynth.errors import InputError
from evsynth.models.network._graph import grounded_inverse, incidence


def test_tree_with_unequal_weights_reproduces_its_studies():
    """Two studies, B-C (SE 0.0019) and B-A (SE 13.1): a tree, so the network estimates are
    the studies' own effects and Q = 0. The pseudoinverse formula gave A vs B = 8.277257
    (exact 8.27620393950594) and Q = 6e-9."""
    d = pd.DataFrame({"studlab": ["s1", "s2"], "treat1": ["B", "B"], "treat2": ["C", "A"],
                      "TE": [0.9765906816068212, -8.27620393950594],
                      "seTE": [0.001861669152919418, 13.118423208171189]})
    fit = evsynth.netmeta(data=d, reference="B")
    assert fit.common.TE.loc["A", "B"] == pytest.approx(8.27620393950594, rel=1e-14)
    assert fit.common.TE.loc["C", "B"] == pytest.approx(-0.9765906816068212, rel=1e-14)
    assert fit.common.seTE.loc["A", "B"] == pytest.approx(13.118423208171189, rel=1e-14)
    assert fit.common.seTE.loc["C", "B"] == pytest.approx(0.001861669152919418, rel=1e-12)
    assert abs(fit.Q) < 1e-20 and fit.df_Q == 0


@pytest.mark.parametrize("precise_se", [1e-5, 1e-9])
def test_a_very_precise_study_pins_its_contrast(precise_se):
    """s4 (A vs B, -0.4) is so precise that B - A = 0.4; s2 and s3 then both give C - A = 0.3,
    and only s1 deviates: Q = (-0.5 + 0.4)^2 / 0.2^2 = 0.25 on 2 df, so tau^2 = 0. Before, the
    DL tau^2 was 0.0024 (its denominator cancelled) and with SE 1e-9 the estimates were
    B vs A = 0 (SE 0) and C vs A = -5.16 with Q = 1.6e17; netmeta stops ('computationally
    singular')."""
    d = pd.DataFrame({"studlab": ["s1", "s2", "s3", "s4"], "treat1": ["A", "A", "B", "A"],
                      "treat2": ["B", "C", "C", "B"], "TE": [-0.5, -0.3, 0.1, -0.4],
                      "seTE": [0.2, 0.25, 0.3, precise_se]})
    fit = evsynth.netmeta(data=d, reference="A")
    assert fit.Q == pytest.approx(0.25, rel=1e-8)
    assert fit.df_Q == 2
    assert fit.tau2 == 0.0
    assert fit.common.TE.loc["B", "A"] == pytest.approx(0.4, rel=1e-9)
    assert fit.common.seTE.loc["B", "A"] == pytest.approx(precise_se, rel=1e-6)
    assert fit.common.TE.loc["C", "A"] == pytest.approx(0.3, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(3, 7), seed=st.integers(0, 10**6))
def test_trees_reproduce_their_studies_to_rounding(n, seed):
    """A random spanning tree with SEs log-uniform over 1e-3 .. 1e3: every edge's network
    estimate is its study's effect up to the forward error of the reduced solve,
    4 eps kappa max|TE| with kappa = the ratio of the largest to the smallest weight (the
    condition of the reduced Laplacian; 400 random trees peaked at 1.5 eps kappa max|TE|),
    and Q = 0 to rounding."""
    rng = np.random.default_rng(seed)
    trts = [f"T{i}" for i in range(n)]
    rows = []
    for i in range(1, n):
        j = int(rng.integers(0, i))
        rows.append({"studlab": f"s{i}", "treat1": trts[i], "treat2": trts[j],
                     "TE": float(rng.normal(0, 3)), "seTE": float(10 ** rng.uniform(-3, 3))})
    d = pd.DataFrame(rows)
    fit = evsynth.netmeta(data=d)
    kappa = float(d.seTE.max() / d.seTE.min()) ** 2
    bound = 4 * np.finfo(float).eps * kappa * float(np.abs(d.TE).max())
    for r in rows:
        assert abs(fit.common.TE.loc[r["treat1"], r["treat2"]] - r["TE"]) <= bound
    assert fit.df_Q == 0


def test_grounded_inverse_is_a_generalised_inverse():
    """L G L = L, and P G P is the Moore-Penrose pseudoinverse (numpy's pinv)."""
    rng = np.random.default_rng(5)
    B = incidence(np.array([0, 0, 1, 2, 1]), np.array([1, 2, 2, 3, 3]), 4)
    L = B.T @ (rng.uniform(0.5, 50, 5)[:, None] * B)
    G = grounded_inverse(L)
    np.testing.assert_allclose(L @ G @ L, L, atol=1e-12 * np.abs(L).max())
    P = np.eye(4) - 0.25
    np.testing.assert_allclose(P @ G @ P, np.linalg.pinv(L), atol=1e-13)


# ------------------------------------------------------------------ multi-arm input checks
MULTI = pd.DataFrame({"studlab": ["m1", "m1", "m1", "s2", "s3"],
                      "treat1": ["A", "A", "B", "A", "B"], "treat2": ["B", "C", "C", "B", "C"],
                      "TE": [-0.5, -0.2, 0.3, 0.1, 0.1], "seTE": [0.3, 0.3, 0.3, 0.2, 0.2]})


@pytest.mark.parametrize("method", ["DL", "REML", "ML"])
def test_negative_arm_variance_is_refused(method):
    """SEs 0.1, 0.1 and 1.0 need arm variances A: -0.49, B and C: 0.5 (seTE_ab^2 = s_a +
    s_b): the study's covariance is not positive definite. DL raised 'math domain error',
    REML/ML an empty NotPositiveDefinite, and 13 of 50 fuzz fits reported SE = 0, p = 0."""
    d = MULTI.assign(seTE=[0.1, 0.1, 1.0, 0.2, 0.2])
    with pytest.raises(InputError, match=r"study 'm1' \(3 arms: A, B, C\).*negative variance "
                                         r"for arm A.*A: -0\.49"):
        evsynth.netmeta(data=d, method_tau=method)


def test_inconsistent_multi_arm_effects_are_refused():
    """TE(A vs C) = -0.2 but TE(A vs B) + TE(B vs C) = -0.5 + 0.9 = 0.4: netmeta stops
    ('inconsistent treatment estimates', tol.multiarm = 0.001); evsynth fitted it with
    Q = 5.81 before."""
    d = MULTI.assign(TE=[-0.5, -0.2, 0.9, 0.1, 0.1])
    with pytest.raises(InputError, match=r"study 'm1'.*not consistent.*A vs B: \+0\.2.*"
                                         r"tol_multiarm = 0\.001"):
        evsynth.netmeta(data=d)


def test_tol_multiarm_admits_rounded_effects():
    """Effects rounded to 2 decimals leave residuals of 0.0033: refused at netmeta's 0.001,
    fitted with tol_multiarm=0.01 (netmeta's tol.multiarm)."""
    d = MULTI.assign(TE=[-0.5, -0.19, 0.3, 0.1, 0.1])
    with pytest.raises(InputError, match="not consistent"):
        evsynth.netmeta(data=d)
    fit = evsynth.netmeta(data=d, tol_multiarm=0.01)
    assert np.isfinite(fit.Q)
    assert evsynth.netmeta(data=MULTI).df_Q == 2  # consistent data pass at the default


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "0.1", True])
def test_tol_multiarm_must_be_positive(bad):
    with pytest.raises(InputError, match="tol_multiarm"):
        evsynth.netmeta(data=MULTI, tol_multiarm=bad)


# ------------------------------------------------------------------ negative reduced weights
FOUR_ARM = pd.DataFrame({
    "studlab": ["S11"] * 6, "treat1": ["t4", "t1", "t6", "t4", "t6", "t7"],
    "treat2": ["t1", "t7", "t1", "t7", "t4", "t6"],
    "TE": [0.528008, -0.038363, -1.280619, 0.489645, -1.808626, 1.318981],
    "seTE": [0.969221, 0.417347, 0.548940, 0.729154, 0.702362, 0.622757]})


@pytest.mark.parametrize("method", ["randomwalk", "shortestpath"])
def test_contribution_rows_with_negative_reduced_weights_are_named(method):
    """A four-arm study (its SEs do not come exactly from arm variances, which netmeta does not
    require either) whose Rücker reduced weights include -10.1: a flow runs against the
    potential on that edge, so the flow graph has a cycle and the rows do not sum to 1 (random
    walk 0.66 .. 1, shortest path 3.4 .. 10.5). The rows are named in a note; the
    docstring said every row sums to 1. The adjusted SE of the negative weight is NaN, without
    a RuntimeWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fit = evsynth.netmeta(data=FOUR_ARM)
    assert np.asarray(fit.common.W).min() < 0
    cm = fit.contribution(model="common", method=method)
    sums = cm.frame.sum(axis=1)
    assert not np.allclose(sums, 1, atol=1e-8)  # random walk 0.66 .. 1, shortest path 3.4 .. 10.5
    note = " ".join(cm.method_info["notes"])
    assert "do not sum to 1" in note and "negative aggregated weight" in note


def test_regular_contribution_rows_sum_to_one_without_note():
    d = MULTI.assign(seTE=[0.3, 0.32, 0.31, 0.2, 0.25])
    cm = evsynth.netmeta(data=d).contribution(model="common")
    np.testing.assert_allclose(cm.frame.sum(axis=1), 1, atol=1e-12)
    assert "notes" not in cm.method_info


@pytest.mark.parametrize("k", [3, 4, 5])
def test_multiarm_arm_variances_are_the_least_squares_fit(k):
    """The closed form of the arm variances (complete graph of k arms) against numpy's least
    squares on |B| (netmeta: ginv): a study whose SEs imply a negative arm variance is refused
    with that variance, whatever the number of arms."""
    import itertools
    import re

    rng = np.random.default_rng(k)
    arms = [f"T{i}" for i in range(k)]
    s_arm = rng.uniform(0.02, 0.2, k)
    s_arm[1] = -0.015  # arm T1: negative, yet every comparison variance stays positive
    pairs = list(itertools.combinations(range(k), 2))
    v = np.array([s_arm[a] + s_arm[b] for a, b in pairs]) * rng.uniform(0.97, 1.03, len(pairs))
    B = np.zeros((len(pairs), k))
    for r, (a, b) in enumerate(pairs):
        B[r, a], B[r, b] = 1, -1
    expected = np.linalg.lstsq(np.abs(B), v, rcond=None)[0]
    d = pd.DataFrame({"studlab": "m", "treat1": [arms[a] for a, _ in pairs],
                      "treat2": [arms[b] for _, b in pairs], "TE": 0.0, "seTE": np.sqrt(v)})
    with pytest.raises(InputError, match="negative variance for arm T1") as err:
        evsynth.netmeta(data=d)
    got = float(re.search(r"T1: (-?[0-9.e-]+)", str(err.value)).group(1))
    assert got == pytest.approx(expected[1], rel=1e-3)
