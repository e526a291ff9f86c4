"""evsynth.vcalc (metafor vcalc) and evsynth.impute_covariance (clubSandwich
impute_covariance_matrix) against R fixtures (tests/reference/robust_fixtures.R), the Gleser &
Olkin (2009) shared-control covariance and invariance properties."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import evsynth
from evsynth.errors import InputError

REF = Path(__file__).resolve().parents[1] / "reference" / "robust"
VCALC = json.loads((REF / "vcalc.json").read_text())["cases"]
IMPUTE = json.loads((REF / "impute_covariance.json").read_text())["cases"]


def dense(t):
    V = np.zeros((t["n"], t["n"]))
    V[np.array(t["i"]) - 1, np.array(t["j"]) - 1] = t["x"]
    return V


def vcalc_args(case):
    d = dict(case["data"])
    a = dict(case["args"])
    if "rho_matrix" in a:
        names = a.pop("rho_names")
        a["rho"] = pd.DataFrame(a.pop("rho_matrix"), index=names, columns=names)
    elif "rho_pair_matrix" in a:  # rho = (scalar within types, labelled matrix between)
        names = a.pop("rho_pair_names")
        a["rho"] = (a.pop("rho_pair_scalar"),
                    pd.DataFrame(a.pop("rho_pair_matrix"), index=names, columns=names))
    elif isinstance(a.get("rho"), list):
        a["rho"] = tuple(a["rho"])
    if "rvars" in a:  # the matrices are columns of a data frame
        frame = pd.DataFrame(d)
        return "vi", "cluster", {"rvars": a["rvars"], "data": frame}
    vi = d.pop("vi")
    cluster = d.pop("cluster")
    return vi, cluster, {**d, **a}


@pytest.mark.parametrize("case", VCALC, ids=[c["name"] for c in VCALC])
def test_vcalc_matches_metafor(case):
    """metafor 3.8 vcalc() on the examples of its help page (dat.assink2016, dat.ishak2007,
    dat.kalaian1996, dat.berkey1998 with type/rho and with rvars, dat.knapp2017) and a made-up
    time x group design."""
    vi, cluster, kw = vcalc_args(case)
    R = dense(case["V"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        V = evsynth.vcalc(vi, cluster, **kw)
        Vs = evsynth.vcalc(vi, cluster, sparse=True, **kw)
        blocks = evsynth.vcalc(vi, cluster, return_list=True, **kw)
    scale = np.max(np.abs(R))
    np.testing.assert_allclose(V, R, rtol=0, atol=1e-13 * scale)
    assert sp.issparse(Vs)
    np.testing.assert_allclose(Vs.toarray(), R, rtol=0, atol=1e-13 * scale)
    assert sum(b.shape[0] for b in blocks) == R.shape[0]


def test_vcalc_warns_when_not_positive_definite():
    """dat.knapp2017 with shared groups only: metafor warns for 8 clusters; so does evsynth."""
    case = next(c for c in VCALC if c["name"] == "knapp_groups_only")
    vi, cluster, kw = vcalc_args(case)
    with pytest.warns(UserWarning, match="not positive definite") as rec:
        evsynth.vcalc(vi, cluster, **kw)
    assert len(rec) == 8


@pytest.mark.parametrize("case", IMPUTE, ids=[c["name"] for c in IMPUTE])
def test_impute_covariance_matches_clubsandwich(case):
    d = dict(case["data"])
    V = evsynth.impute_covariance(d.pop("vi"), d.pop("cluster"), **d, **case["args"])
    R = dense(case["V"])
    np.testing.assert_allclose(V, R, rtol=0, atol=1e-13 * np.max(np.abs(R)))


def test_shared_control_group_gleser_olkin():
    """Two treatments against one control (Gleser & Olkin 2009, Handbook of Research Synthesis
    and Meta-Analysis, 2nd ed., ch. 19, pp. 357-376, multiple-treatment studies): the mean
    differences share the control mean, so cov = sigma^2 / n_C and
    corr = (1/n_C) / sqrt((1/n_A + 1/n_C)(1/n_B + 1/n_C)), derived by hand."""
    nA, nB, nC = 20.0, 25.0, 30.0
    vA, vB = 1 / nA + 1 / nC, 1 / nB + 1 / nC
    V = evsynth.vcalc([vA, vB], cluster=[1, 1], grp1=["A", "B"], grp2=["C", "C"],
                      w1=[nA, nB], w2=[nC, nC])
    np.testing.assert_allclose(V, [[vA, 1 / nC], [1 / nC, vB]], rtol=1e-14)


def test_rho_array_follows_sorted_labels_and_mapping():
    rho = np.array([[1, 0.3, 0.5], [0.3, 1, 0.7], [0.5, 0.7, 1]])
    kw = dict(cluster=[1, 1, 1], type=["c", "a", "b"])
    V1 = evsynth.vcalc([1.0, 1.0, 1.0], rho=rho, **kw)
    labels = ["a", "b", "c"]
    V2 = evsynth.vcalc([1.0, 1.0, 1.0], rho=pd.DataFrame(rho, index=labels, columns=labels),
                       **kw)
    V3 = evsynth.vcalc([1.0, 1.0, 1.0], rho={a: dict(zip(labels, row, strict=True))
                                            for a, row in zip(labels, rho, strict=True)}, **kw)
    np.testing.assert_allclose(V1, V2)
    np.testing.assert_allclose(V1, V3)
    assert V1[0, 1] == pytest.approx(0.5)  # c with a
    assert V1[1, 2] == pytest.approx(0.3)  # a with b


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10 ** 6), rho=st.floats(-0.3, 0.95), phi=st.floats(0.0, 0.99))
def test_vcalc_properties(seed, rho, phi):
    """Symmetric, diagonal = vi, zero across clusters, and permuting the rows permutes V."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 25))
    cluster = rng.integers(0, 5, k)
    vi = rng.uniform(0.01, 0.5, k)
    obs = rng.integers(0, 3, k)
    t1 = rng.integers(0, 4, k).astype(float)
    kw = dict(obs=obs, rho=rho, time1=t1, phi=phi, checkpd=False)
    V = evsynth.vcalc(vi, cluster, **kw)
    np.testing.assert_allclose(V, V.T, atol=1e-15)
    np.testing.assert_allclose(np.diag(V), vi, rtol=1e-14)
    assert np.all(V[cluster[:, None] != cluster[None, :]] == 0)
    perm = rng.permutation(k)
    Vp = evsynth.vcalc(vi[perm], cluster[perm], **{**kw, "obs": obs[perm], "time1": t1[perm]})
    np.testing.assert_allclose(Vp, V[np.ix_(perm, perm)], atol=1e-15)
    Vi = evsynth.impute_covariance(vi, cluster, r=max(rho, 0.0), check_pd=False)
    Vip = evsynth.impute_covariance(vi[perm], cluster[perm], r=max(rho, 0.0), check_pd=False)
    np.testing.assert_allclose(Vip, Vi[np.ix_(perm, perm)], atol=1e-15)


def test_data_frame_columns():
    df = pd.DataFrame({"v": [0.1, 0.2, 0.3], "s": [1, 1, 2], "o": [1, 2, 1]})
    V = evsynth.vcalc("v", "s", obs="o", rho=0.5, data=df)
    assert V[0, 1] == pytest.approx(0.5 * np.sqrt(0.02))


def test_errors():
    with pytest.raises(InputError, match="'rho' is required when 'obs'"):
        evsynth.vcalc([0.1, 0.2], [1, 1], obs=[1, 2])
    with pytest.raises(InputError, match="'phi' is required"):
        evsynth.vcalc([0.1, 0.2], [1, 1], time1=[1, 2])
    with pytest.raises(InputError, match="argument 'phi'"):
        evsynth.vcalc([0.1, 0.2], [1, 1], time1=[1, 2], phi=1.5)
    with pytest.raises(InputError, match="correlation in \\[-1, 1\\]"):
        evsynth.vcalc([0.1, 0.2], [1, 1], obs=[1, 2], rho=2)
    with pytest.raises(InputError, match="has 3 values but 'vi' has 2"):
        evsynth.vcalc([0.1, 0.2], [1, 1, 2])
    with pytest.raises(InputError, match="row 2: field 'cluster' is missing"):
        evsynth.vcalc([0.1, 0.2], [1, None])
    with pytest.raises(InputError, match="give only 'grp1'"):
        evsynth.vcalc([0.1, 0.2], [1, 1], grp2=["a", "b"])
    with pytest.raises(InputError, match="no row/column"):
        evsynth.vcalc([0.1, 0.2], [1, 1], obs=["x", "y"],
                      rho=pd.DataFrame([[1, 0.2], [0.2, 1]], index=["x", "z"],
                                       columns=["x", "z"]))
    with pytest.raises(InputError, match="largest cluster has 2 rows"):
        evsynth.vcalc("v", "s", rvars=["a"], data=pd.DataFrame({"v": [1.0, 1.0], "s": [1, 1],
                                                                  "a": [1.0, 0.5]}))
    with pytest.warns(UserWarning, match="ignored when 'rvars'"):
        evsynth.vcalc("v", "s", rvars=["a", "b"], rho=0.3,
                      data=pd.DataFrame({"v": [1.0, 1.0], "s": [1, 1], "a": [1.0, 0.5],
                                         "b": [0.5, 1.0]}))
    with pytest.raises(InputError, match="'r' or for 'ar1'"):
        evsynth.impute_covariance([0.1, 0.2], [1, 1])
    with pytest.raises(InputError, match="'ti' is required"):
        evsynth.impute_covariance([0.1, 0.2], [1, 1], ar1=0.5)
    with pytest.raises(InputError, match="one per cluster"):
        evsynth.impute_covariance([0.1, 0.2, 0.3], [1, 1, 2], r=[0.1, 0.2, 0.3])


@pytest.mark.parametrize("rho, match", [
    ("0.5", r"argument 'rho' is '0\.5'; expected a correlation in \[-1, 1\] or a square matrix"),
    ((0.5,), "when only 'obs' is given, 'rho' must be a scalar or a matrix"),
    (((0.5, 0.2), np.eye(2)), "when only 'obs' is given, 'rho' must be a scalar or a matrix"),
])
def test_vcalc_rho_forms_are_named_errors(rho, match):
    with pytest.raises(InputError, match=match):
        evsynth.vcalc([0.1, 0.2, 0.3], [1, 1, 1], obs=["a", "b", "a"], rho=rho)


@pytest.mark.parametrize("rho, match", [
    (0.5, "must give both the within- and the between-type correlations"),
    ((0.5, np.eye(2), 0.1), r"must have two elements \(it has 3\)"),
])
def test_vcalc_type_and_obs_need_two_parts(rho, match):
    with pytest.raises(InputError, match=match):
        evsynth.vcalc([0.1, 0.2, 0.3], [1, 1, 1], obs=["a", "b", "a"], type=["x", "x", "y"],
                      rho=rho)


def test_vcalc_refuses_a_group_contrasted_with_itself():
    # metafor gives an all-NaN matrix; before, evsynth kept vi with NaN covariances
    with pytest.raises(InputError, match=r"row 2: fields 'grp1' and 'grp2' are both 'a'"):
        evsynth.vcalc([0.1, 0.2], [1, 1], grp1=["a", "a"], grp2=["b", "a"])
