"""evsynth.meta_mv: published worked examples, equivalences, invariants and input errors.

Published examples (each names its source):

* Konstantopoulos S (2011). Fixed effects and variance components estimation in three-level
  meta-analysis. Res Synth Methods 2:61-76 (doi:10.1002/jrsm.35): 56 studies of modified school
  calendars in 11 districts (metadat dat.konstantopoulos2011); the three-level REML estimates
  reported there (pp. 70-72): overall effect 0.185 (SE 0.085), district variance 0.065, school
  variance 0.033 (reproduced at metafor-project.org, analyses:konstantopoulos2011).
* Berkey CS et al. (1998). Meta-analysis of multiple outcomes by regression with random effects.
  Stat Med 17:2537-2550: five periodontal trials, probing depth (PD) and attachment level (AL)
  (dat.berkey1998); multivariate REML model without covariates, unstructured between-trial
  covariance: PD 0.353, AL -0.339, tau^2 0.0117 (PD) and 0.0327 (AL), correlation 0.61
  (reproduced at metafor-project.org, analyses:berkey1998).
* Ishak KJ et al. (2007). Meta-analysis of longitudinal studies. Clin Trials 4:525-539: mean
  change in UPDRS after deep-brain stimulation at 3, 6, 12 and 24 months (dat.ishak2007) with
  an AR(1) structure over time (metadat's example), checked against metafor in
  test_meta_mv_reference.py (group ishak).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_meta_mv_boundary import _random_data
from test_meta_mv_reference import REF

import evsynth
from evsynth.errors import InputError


def _konst() -> pd.DataFrame:
    return pd.read_csv(REF / "data_konst.csv")


def _berkey() -> tuple[pd.DataFrame, np.ndarray]:
    return (pd.read_csv(REF / "data_berkey.csv"),
            np.array(json.loads((REF / "V_berkey.json").read_text())))


def test_konstantopoulos_2011_three_level_published():
    """Konstantopoulos (2011), Res Synth Methods 2:61-76, pp. 70-72 (three-level REML)."""
    fit = evsynth.meta_mv("yi", "vi", random="~ 1 | district/school", data=_konst())
    assert round(fit.estimate, 3) == 0.185
    assert round(float(fit.se[0]), 3) == 0.085
    assert np.round(fit.sigma2, 3).tolist() == [0.065, 0.033]
    assert fit.s_nlevels == [11, 56]
    # intra-class correlation of the true effects within districts
    assert round(fit.sigma2[0] / fit.sigma2.sum(), 3) == 0.665
    text = str(fit.summary())
    assert "sigma^2.1  0.0651  0.2551     11     no" in text
    assert "Q(df = 55) = 578.8640, p-val < .0001" in text


def test_berkey_1998_multivariate_published():
    """Berkey et al. (1998), Stat Med 17:2537-2550: multivariate REML, no covariates."""
    d, V = _berkey()
    fit = evsynth.meta_mv(d["yi"], V, mods="~ 0 + outcome", random="~ outcome | trial",
                          struct="UN", data=d)
    assert np.round(fit.beta, 3).tolist() == [-0.339, 0.353]
    assert np.round(fit.tau2, 4).tolist() == [0.0327, 0.0117]
    assert round(float(fit.rho[0]), 2) == 0.61
    assert fit.g_levels == ["AL", "PD"]


def test_single_level_model_equals_rma_uni():
    """~ 1 | id with one level per effect is the random-effects model of meta() (REML, ML)."""
    d = _konst()
    for method in ("REML", "ML"):
        mv = evsynth.meta_mv("yi", "vi", random="~ 1 | study", data=d, method=method)
        uni = evsynth.meta("yi", "vi", data=d, method=method)
        np.testing.assert_allclose(mv.sigma2[0], uni.tau2, rtol=1e-6)
        np.testing.assert_allclose(mv.beta, uni.beta, rtol=1e-7)
        np.testing.assert_allclose(mv.se, uni.se, rtol=1e-6)
        np.testing.assert_allclose(mv.ll, uni.ll, rtol=1e-9)


def test_marginal_and_weight_matrices_are_sparse_inverses():
    d, V = _berkey()
    fit = evsynth.meta_mv(d["yi"], sp.csr_matrix(V), mods="~ 0 + outcome",
                          random="~ outcome | trial", struct="CS", data=d)
    M, W = fit.marginal_var(), fit.weight_matrix()
    assert sp.issparse(M) and sp.issparse(W) and M.format == "csr" and W.format == "csr"
    np.testing.assert_allclose((W @ M).toarray(), np.eye(fit.k), atol=1e-10)
    assert M.nnz == 20  # five 2 x 2 blocks
    assert fit.model_matrix.shape == (10, 2) and fit.vb.shape == (2, 2)
    assert fit.yi.shape == (10,) and fit.test == "z" and fit.dfs == "residual"


def test_v_as_list_of_blocks_and_boundary_component():
    d, V = _berkey()
    blocks = [V[i:i + 2, i:i + 2] for i in range(0, 10, 2)]
    a = evsynth.meta_mv(d["yi"], blocks, mods="~ 0 + outcome", random="~ outcome | trial",
                        struct="UN", data=d)
    b = evsynth.meta_mv(d["yi"], V, mods="~ 0 + outcome", random="~ outcome | trial",
                        struct="UN", data=d)
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-12)
    # a component with no support in the data goes to exactly 0 (boundary), and the fit converges
    k = _konst()
    k = k.assign(yi=k.groupby("district")["yi"].transform("mean") * 0 + k["yi"].mean()
                 + (k["yi"] - k.groupby("district")["yi"].transform("mean")))
    fit = evsynth.meta_mv("yi", "vi", random="~ 1 | district/school", data=k)
    assert fit.sigma2[0] == 0.0 and fit.method_info["converged"]
    assert fit.method_info["boundary"]


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000))
def test_row_order_does_not_matter(seed):
    d = _konst()
    perm = np.random.default_rng(seed).permutation(len(d))
    a = evsynth.meta_mv("yi", "vi", random="~ 1 | district/school", data=d, method="ML")
    b = evsynth.meta_mv("yi", "vi", random="~ 1 | district/school", data=d.iloc[perm],
                        method="ML")
    np.testing.assert_allclose(a.sigma2, b.sigma2, rtol=1e-6)
    np.testing.assert_allclose(a.ll, b.ll, rtol=1e-10)


@settings(max_examples=15, deadline=None)
@given(st.floats(0.0, 0.3), st.floats(0.0, 0.3))
def test_estimate_maximises_the_likelihood(s1, s2):
    d = _konst()
    fit = evsynth.meta_mv("yi", "vi", random="~ 1 | district/school", data=d)
    fixed = evsynth.meta_mv("yi", "vi", random="~ 1 | district/school", data=d,
                            sigma2=[s1, s2])
    assert fixed.ll <= fit.ll + 1e-9
    assert fixed.parms == 1 and fit.parms == 3


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"random": "~ 1 | nosuch"}, "column 'nosuch' is not in data"),
    ({"random": "1 | district"}, "not a random-effects formula"),
    ({"random": "~ school | district", "struct": "XYZ"}, "argument 'struct'"),
    ({"random": "~ 1 | district", "method": "DL"}, "argument 'method'"),
    ({"random": "~ 1 | district", "test": "knha"}, "expected one of z, t "),
    ({"random": "~ 1 | district", "tau2": 0.1}, "no '~ inner | outer' term"),
    ({"random": "~ 1 | district", "sigma2": [0.1, 0.2]}, "sigma2"),
    ({"random": "~ 1 | district", "level": 0.3}, "level"),
    ({"random": "~ school | district", "struct": "CAR"}, None),
    ({"random": "~ 1 | one"}, "single level"),
    ({"random": "~ one | district", "struct": "CS"}, "single level"),
    ({"random": "~ 1 | district", "control": {"nosuch": 1}}, "unknown setting"),
])
def test_input_errors(kwargs, match):
    d = _konst().assign(one=1)
    if match is None:  # CAR on a numeric time variable is accepted
        fit = evsynth.meta_mv("yi", "vi", data=d, **kwargs)
        assert fit.rho.size == 1 and 0 <= fit.rho[0] <= 1
        return
    with pytest.raises(InputError, match=match):
        evsynth.meta_mv("yi", "vi", data=d, **kwargs)


def test_v_errors():
    d = _konst()
    with pytest.raises(InputError, match="expected 56 x 56"):
        evsynth.meta_mv(d["yi"], np.eye(3), random="~ 1 | district", data=d)
    bad = np.eye(56) * 0.01
    bad[0, 1] = 0.005
    with pytest.raises(InputError, match="not symmetric"):
        evsynth.meta_mv(d["yi"], bad, random="~ 1 | district", data=d)
    with pytest.raises(InputError, match="positive sampling variance"):
        evsynth.meta_mv(d["yi"], -d["vi"], random="~ 1 | district", data=d)
    with pytest.raises(InputError, match="CAR needs a numeric time|struct 'CAR'"):
        evsynth.meta_mv("yi", "vi", random="~ grp | district", struct="CAR",
                        data=d.assign(grp=np.where(d["school"] % 2, "a", "b")))


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 100_000),
       st.sampled_from(["CS", "HCS", "UN", "AR", "HAR", "CAR", "ID", "DIAG"]),
       st.sampled_from(["REML", "ML"]))
def test_converges_on_random_data(seed, struct, method):
    """Random multivariate data (3 outcomes in 4 to 12 studies, some with true variance 0;
    CAR on the irregular times 0, 1, 3): the fit converges, and no fixed set of components
    gives a higher likelihood."""
    d = _random_data(seed)
    random = "~ time | study" if struct == "CAR" else "~ outcome | study"
    fit = evsynth.meta_mv("yi", "vi", random=random, struct=struct, data=d, method=method)
    # as in metafor, G is not constrained to be positive semi-definite (CS/HCS: variances
    # >= 0, rho in [-1, 1], only the marginal covariance positive definite): with rho below
    # -1/(L-1) = -1/2 the likelihood can increase without bound (REML: towards a supremum not
    # attained) as a block of the marginal covariance becomes singular, so no maximum exists;
    # evsynth then reports converged = False with a "no maximum exists" note. Only those
    # fits are excluded: boundary maxima (rho = -1 with an indefinite G, variances at 0) must
    # converge (KKT conditions checked; tests/models/test_meta_mv_boundary.py)
    assume(not any("no maximum exists" in n for n in fit.method_info["notes"]))
    assert fit.method_info["converged"], fit.method_info
    assert np.all(np.isfinite(fit.beta)) and np.all(fit.tau2 >= 0)
    alt = evsynth.meta_mv("yi", "vi", random=random, struct=struct, data=d,
                          method=method, tau2=fit.tau2 * 1.5 + 0.01,
                          rho=(None if fit.rho.size == 0 else fit.rho * 0.5))
    assert alt.ll <= fit.ll + 1e-8
    # a variance at 0 is a KKT point: moving it into the interior (the other components as
    # fitted) does not raise the likelihood (on metafor's log(tau^2) scale the derivative
    # vanishes at 0 whatever its sign on the natural scale)
    for i in np.flatnonzero(fit.tau2 == 0):
        t2 = fit.tau2.copy()
        t2[i] = 1e-5
        alt = evsynth.meta_mv("yi", "vi", random=random, struct=struct, data=d, method=method,
                              tau2=t2, rho=(None if fit.rho.size == 0 else fit.rho))
        assert alt.ll <= fit.ll + 1e-8, (i, alt.ll, fit.ll)
