"""evsynth.robust (metafor robust.rma, clubSandwich CR2/Satterthwaite/HTZ) and evsynth.robu
(robumeta) against R fixtures (tests/reference/robust_fixtures.R), analytic special cases and
invariance properties."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import evsynth
from evsynth.errors import InputError
from evsynth.models.robust import RobuResult, RobustResult, robu, robust

REF = Path(__file__).resolve().parents[1] / "reference" / "robust"
ROBUST = json.loads((REF / "robust.json").read_text())["cases"]
ROBUMETA = json.loads((REF / "robumeta.json").read_text())["cases"]
RTOL = 1e-8


def arr(x, k=None):
    a = np.atleast_1d(np.asarray(x, dtype=float))
    return a.reshape(k, -1) if k is not None else a


def close(a, b, rtol=RTOL, atol=1e-12):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol, atol=atol)


class FakeMV:
    """The interface of an evsynth.meta_mv result that robust() uses (yi, model_matrix, beta,
    marginal_var, weight_matrix, coef_names, btt, level), filled from an rma.mv fixture."""

    def __init__(self, c):
        k = len(c["yi"])
        self.yi = arr(c["yi"])
        self.model_matrix = arr(c["X"], k)
        self.beta = arr(c["beta"])
        self.level = 95.0
        t = c["M"]
        self._M = sp.csr_matrix((t["x"], (np.array(t["i"]) - 1, np.array(t["j"]) - 1)),
                                shape=(t["n"], t["n"]))
        self.coef_names = [str(x) for x in np.atleast_1d(c["coef_names"])]
        self.btt = np.atleast_1d(np.asarray(c["btt"])) - 1
        self.sigma2 = arr(c["sigma2"])

    def marginal_var(self):
        return self._M

    def weight_matrix(self):
        return sp.csr_matrix(np.linalg.inv(self._M.toarray()))


def fit_of(c):
    if c["kind"] == "uni":
        X = arr(c["X"], len(c["yi"]))
        fit = evsynth.meta(c["yi"], c["vi"], mods=X[:, 1:] if X.shape[1] > 1 else None,
                           control={"tol": 1e-12})
        if c.get("user_weights") is None and c.get("weighted", True):
            close(fit.tau2, c["tau2"], rtol=1e-7, atol=1e-12)
            return fit
        # a weighted (user weights) or unweighted rma() fit: robust() reads the fit's
        # user_weights / weighted / tau2 / beta, set here from metafor's fit
        fit.tau2 = float(c["tau2"])
        fit.beta = arr(c["beta"])
        if c.get("user_weights") is not None:
            fit.user_weights = arr(c["user_weights"])
        else:
            fit.weighted = False
        return fit
    return FakeMV(c)


CASES = [(c, r) for c in ROBUST for r in c["robust"]]


@pytest.mark.parametrize("case,ref", CASES,
                         ids=[f"{c['name']}-{r['vbest']}" for c, r in CASES])
def test_robust_matches_metafor(case, ref):
    """metafor 3.8 robust(): CR1 / CR0 (adjust) and clubSandwich=TRUE (CR2, Satterthwaite, HTZ)."""
    fit = fit_of(case)
    res = robust(fit, case["cluster"], adjust=ref["adjust"], clubsandwich=ref["clubSandwich"])
    assert isinstance(res, RobustResult)
    assert res.vcov_type == ref["vbest"]
    assert res.n_clusters == ref["n"]
    p = len(res.beta)
    close(res.beta, arr(ref["beta"]), rtol=1e-7)
    close(res.vb, arr(ref["vb"], p), rtol=1e-7)
    close(res.se, arr(ref["se"]), rtol=1e-7)
    close(res.zval, arr(ref["tval"]), rtol=1e-7)
    close(res.df, np.broadcast_to(arr(ref["df"]), (p,)), rtol=1e-7)
    close(res.pval, arr(ref["pval"]), rtol=1e-6)
    close(res.ci_lb, arr(ref["ci_lb"]), rtol=1e-7)
    close(res.ci_ub, arr(ref["ci_ub"]), rtol=1e-7)
    close(res.QM, ref["QM"], rtol=1e-7)
    close(res.QMdf, arr(ref["QMdf"]), rtol=1e-7)
    close(res.QMp, ref["QMp"], rtol=1e-6)


@pytest.mark.parametrize("case", ROBUST, ids=[c["name"] for c in ROBUST])
def test_clubsandwich_vcov_and_satterthwaite(case):
    """clubSandwich vcovCR CR0, CR1 (J/(J-1)) and CR2, coef_test Satterthwaite df."""
    fit = fit_of(case)
    p = len(arr(case["beta"]))
    cr0 = robust(fit, case["cluster"], adjust=False)
    J = cr0.n_clusters
    close(cr0.vb, arr(case["clubSandwich"]["CR0"]["vcov"], p), rtol=1e-7)
    close(cr0.vb * J / (J - 1), arr(case["clubSandwich"]["CR1"]["vcov"], p), rtol=1e-7)
    cr2 = robust(fit, case["cluster"], clubsandwich=True)
    close(cr2.vb, arr(case["clubSandwich"]["CR2"]["vcov"], p), rtol=1e-7)
    close(cr2.df, arr(case["clubSandwich"]["CR2"]["df"]), rtol=1e-7)
    close(cr2.pval, arr(case["clubSandwich"]["CR2"]["p"]), rtol=1e-6)


WALD = [(c, w) for c in ROBUST for w in c["wald"]]


@pytest.mark.parametrize("case,ref", WALD,
                         ids=[f"{c['name']}-{'-'.join(map(str, np.atleast_1d(w['coefs'])))}"
                              for c, w in WALD])
def test_wald_htz_matches_clubsandwich(case, ref):
    """clubSandwich Wald_test(constrain_zero(coefs), test = "HTZ") with CR2."""
    res = robust(fit_of(case), case["cluster"], clubsandwich=True)
    out = res.wald_test(np.atleast_1d(ref["coefs"]) - 1)
    close(out["F"], ref["Fstat"], rtol=1e-7)
    close(out["df1"], ref["df_num"])
    close(out["df2"], ref["df_denom"], rtol=1e-7)
    close(out["pval"], ref["p_val"], rtol=1e-6)


def test_htz_with_one_constraint_is_the_satterthwaite_t_test():
    """For q = 1 the HTZ test is the square of the Satterthwaite t test (Pustejovsky & Tipton
    2018, sec. 3.2: nu_Z reduces to the Satterthwaite df)."""
    c = next(c for c in ROBUST if c["name"] == "assink_uni_deltype_year")
    res = robust(fit_of(c), c["cluster"], clubsandwich=True)
    for j in range(len(res.beta)):
        out = res.wald_test([j])
        close(out["df2"], res.df[j], rtol=1e-10)
        close(out["F"], res.zval[j] ** 2, rtol=1e-10)
        close(out["pval"], res.pval[j], rtol=1e-9)


@pytest.mark.parametrize("case", ROBUMETA, ids=[c["name"] for c in ROBUMETA])
def test_robu_matches_robumeta(case):
    """robumeta 2.0 robu(): CE ("CORR") and HIER, small = TRUE / FALSE."""
    k = len(case["yi"])
    X = arr(case["X"], k)
    model = "CE" if case["model"] == "CORR" else "HIER"
    res = robu(case["yi"], case["vi"], case["cluster"], mods=X[:, 1:] if X.shape[1] > 1 else None,
               model=model, rho=case["rho"], small=case["small"])
    assert isinstance(res, RobuResult)
    p = X.shape[1]
    close(res.beta, arr(case["beta"]), rtol=1e-9)
    close(res.se, arr(case["se"]), rtol=1e-9)
    close(res.zval, arr(case["t"]), rtol=1e-9)
    close(res.df, arr(case["df"]), rtol=1e-9)
    close(res.pval, arr(case["p"]), rtol=1e-8)
    close(res.ci_lb, arr(case["ci_lb"]), rtol=1e-9)
    close(res.ci_ub, arr(case["ci_ub"]), rtol=1e-9)
    # robumeta's VR.r is the unscaled (CR0) matrix when small = FALSE; its SEs use N/(N-p)
    J = res.n_clusters
    scale = 1.0 if case["small"] else (J - p) / J
    close(res.vb * scale, arr(case["vb"], p), rtol=1e-9)
    close(res.tau2, case["tau2"], rtol=1e-9)
    if model == "HIER":
        close(res.omega2, case["omega2"], rtol=1e-9)
    else:
        close(res.I2, case["I2"], rtol=1e-9)


# ---------------------------------------------------------------------------------------------
# analytic special cases (independent of R)
# ---------------------------------------------------------------------------------------------
def test_cr0_with_singleton_clusters_is_whites_hc0():
    """One effect per cluster: the CR0 sandwich is White's (1980) HC0 estimator of the weighted
    regression, (X'WX)^-1 X'W diag(e^2) W X (X'WX)^-1 (computed here by hand)."""
    rng = np.random.default_rng(1)
    k = 12
    x = rng.normal(size=k)
    vi = rng.uniform(0.01, 0.1, k)
    yi = 0.2 + 0.3 * x + rng.normal(0, 0.2, k)
    fit = evsynth.meta(yi, vi, mods=x)
    res = robust(fit, np.arange(k), adjust=False)
    X = np.column_stack([np.ones(k), x])
    w = 1 / (vi + fit.tau2)
    M = np.linalg.inv(X.T @ (w[:, None] * X))
    e = yi - X @ fit.beta
    hc0 = M @ (X.T @ (((w * e) ** 2)[:, None] * X)) @ M
    close(res.vb, hc0, rtol=1e-10)


@settings(max_examples=25, deadline=None)
@given(J=st.integers(3, 9), n=st.integers(1, 5), seed=st.integers(0, 10 ** 6))
def test_cr2_balanced_intercept_only_equals_cr1(J, n, seed):
    """Balanced design (J clusters of n effects with one common variance), intercept only:
    (I - H_jj) = I - 11'/(Jn) has eigenvalue 1 - 1/J on the 1 vector, so CR2 = CR0 J/(J-1),
    which is metafor's CR1 (n/(n-p), p = 1), and the Satterthwaite df are exactly J - 1."""
    rng = np.random.default_rng(seed)
    k = J * n
    yi = rng.normal(size=k)
    vi = np.full(k, 0.05)
    fit = evsynth.meta(yi, vi, method="FE")
    cluster = np.repeat(np.arange(J), n)
    cr1 = robust(fit, cluster)
    cr2 = robust(fit, cluster, clubsandwich=True)
    close(cr2.vb, cr1.vb, rtol=1e-9)
    close(cr2.df, [J - 1], rtol=1e-9)
    rb = robu(yi, vi, cluster, model="CE")
    close(rb.df, [J - 1], rtol=1e-9)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10 ** 6), J=st.integers(4, 8))
def test_invariant_to_row_order_and_cluster_labels(seed, J):
    """Shuffling the rows (within and between clusters) and relabelling the clusters changes
    nothing: CR1, CR2, Satterthwaite df, HTZ and robu."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 5, J)
    cluster = np.repeat(np.arange(J), sizes)
    k = cluster.size
    x = rng.normal(size=k)
    vi = rng.uniform(0.01, 0.2, k)
    yi = 0.1 + 0.2 * x + rng.normal(0, 0.3, k)
    perm = rng.permutation(k)
    labels = np.array([f"s{j}" for j in rng.permutation(J)])
    a = evsynth.meta(yi, vi, mods=x)
    b = evsynth.meta(yi[perm], vi[perm], mods=x[perm])
    for cs in (False, True):
        ra = robust(a, cluster, clubsandwich=cs)
        rb = robust(b, labels[cluster][perm], clubsandwich=cs)
        close(ra.vb, rb.vb, rtol=1e-7, atol=1e-14)
        close(ra.df, rb.df, rtol=1e-7)
        close(ra.QM, rb.QM, rtol=1e-6)
    ua = robu(yi, vi, cluster, mods=x, model="HIER")
    ub = robu(yi[perm], vi[perm], labels[cluster][perm], mods=x[perm], model="HIER")
    close(ua.vb, ub.vb, rtol=1e-7, atol=1e-14)
    close(ua.df, ub.df, rtol=1e-7)


# ---------------------------------------------------------------------------------------------
# contract, printing and errors
# ---------------------------------------------------------------------------------------------
def test_result_contract_and_printing():
    c = next(c for c in ROBUST if c["name"] == "assink_uni_deltype_year")
    res = robust(fit_of(c), c["cluster"], clubsandwich=True)
    text = str(res.summary())
    assert "Number of clusters:    17" in text
    assert "Satterthwaite approx" in text and "CR2" in text
    assert "Test of Moderators (coefficients 2:4)" in text
    assert res.level == 95.0
    frame = res.to_frame()
    assert list(frame.columns) == ["term", "estimate", "se", "statistic", "pval", "ci_lb",
                                   "ci_ub"]
    assert list(res.coefficients["df"]) == list(res.df)
    json.dumps(res.to_dict(), allow_nan=False)
    assert res.method_info["vcov"] == "CR2" and res.method_info["n_clusters"] == 17
    cr1 = robust(fit_of(c), c["cluster"])
    assert "df: residual method" in str(cr1.summary())
    rb = robu(c["yi"], c["vi"], c["cluster"])
    assert "RVE: Correlated Effects Model" in str(rb.summary())
    json.dumps(rb.to_dict(), allow_nan=False)
    assert rb._repr_html_().startswith("<pre>")


def test_cluster_from_data_frame_column():
    import pandas as pd

    c = ROBUST[0]
    fit = fit_of(c)
    df = pd.DataFrame({"district": c["cluster"]})
    a = robust(fit, "district", data=df)
    b = robust(fit, c["cluster"])
    close(a.vb, b.vb)


def test_errors():
    fit = evsynth.meta([0.1, 0.2, 0.3, 0.4], [0.01, 0.02, 0.01, 0.02], mods=[1.0, 2.0, 3.0, 5.0])
    with pytest.raises(InputError, match="number of clusters \\(2\\) must be larger"):
        robust(fit, [1, 1, 2, 2])
    with pytest.raises(InputError, match="has 3 values but the model has 4"):
        robust(fit, [1, 2, 3])
    with pytest.raises(InputError, match="row 2: field 'cluster' is missing"):
        robust(fit, [1, None, 2, 3])
    with pytest.raises(InputError, match="'adjust'"):
        robust(fit, [1, 2, 3, 4], adjust="yes")
    with pytest.raises(InputError, match="expected a fit of evsynth.meta"):
        robust("fit", [1, 2, 3, 4])
    with pytest.raises(InputError, match="argument 'model'"):
        robu([0.1, 0.2, 0.3], [0.01, 0.01, 0.01], [1, 2, 3], model="XX")
    with pytest.raises(InputError, match="argument 'rho'"):
        robu([0.1, 0.2, 0.3], [0.01, 0.01, 0.01], [1, 2, 3], rho=1.5)


def test_cr2_refuses_random_effects_crossing_clusters():
    c = next(c for c in ROBUST if c["name"] == "konst_mv_int")
    fit = FakeMV(c)
    coarse = np.asarray(c["cluster"], dtype=object)
    fine = np.arange(len(coarse))  # each effect its own cluster: the district effects cross
    with pytest.raises(InputError, match="not nested within 'cluster'"):
        robust(fit, fine, clubsandwich=True)
    robust(fit, coarse, clubsandwich=True)


def test_fitted_model_robust_method():
    c = ROBUST[1]
    fit = fit_of(c)
    a = fit.robust(c["cluster"], clubsandwich=True)
    b = robust(fit, c["cluster"], clubsandwich=True)
    close(a.vb, b.vb, rtol=0, atol=0)
    close(a.df, b.df, rtol=0, atol=0)


def test_cluster_labels_of_many_kinds():
    """Strings, numbers, a pandas Categorical and tuples label clusters alike."""
    import pandas as pd

    c = ROBUST[0]
    fit = fit_of(c)
    base = robust(fit, c["cluster"])
    for cl in (np.asarray(c["cluster"]), pd.Categorical(c["cluster"]),
               [(x, "a") for x in c["cluster"]], pd.Series(c["cluster"]).astype(int)):
        close(robust(fit, cl).vb, base.vb, rtol=0, atol=0)


HTZ_ROBU = [c for c in ROBUMETA if c.get("htz")]


@pytest.mark.parametrize("case", HTZ_ROBU, ids=[c["name"] for c in HTZ_ROBU])
def test_robu_htz_matches_clubsandwich(case):
    """clubSandwich Wald_test(robu fit, constrain_zero(slopes), vcov = "CR2", test = "HTZ")."""
    k = len(case["yi"])
    X = arr(case["X"], k)
    model = "CE" if case["model"] == "CORR" else "HIER"
    res = robu(case["yi"], case["vi"], case["cluster"], mods=X[:, 1:], model=model,
               rho=case["rho"], small=True)
    ref = case["htz"]
    out = res.wald_test(np.asarray(ref["coefs"]) - 1)
    close(out["F"], ref["Fstat"], rtol=1e-8)
    close(out["df2"], ref["df_denom"], rtol=1e-8)
    close(out["pval"], ref["p_val"], rtol=1e-7)


PRED = [(c, r) for c in ROBUST for r in c["robust"]
        if r.get("predict") and "error" not in r["predict"]]


@pytest.mark.parametrize("case,ref", PRED, ids=[f"{c['name']}-{r['vbest']}" for c, r in PRED])
def test_predict_matches_metafor(case, ref):
    """metafor predict() of robust objects: CI with n - p df (CR1/CR0) or the Satterthwaite df
    of each contrast (CR2; clubSandwich linear_contrast), PI with tau^2 / sum(sigma^2)."""
    fit = fit_of(case)
    res = robust(fit, case["cluster"], adjust=ref["adjust"], clubsandwich=ref["clubSandwich"])
    pr = ref["predict"]
    out = res.predict(pr["newmods"]) if pr.get("newmods") is not None else res.predict()
    for name in ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
        close(np.atleast_1d(getattr(out, name)), arr(pr[name]), rtol=1e-7, atol=1e-10)
    assert out.level == 95.0
    assert res.predict(level=90).level == 90.0


def test_satterthwaite_contrast_equals_coefficient_df():
    c = next(c for c in ROBUST if c["name"] == "assink_uni_deltype_year")
    res = robust(fit_of(c), c["cluster"], clubsandwich=True)
    from evsynth.models.robust import satterthwaite_df

    p = len(res.beta)
    close(satterthwaite_df(res._parts, np.eye(p)), res.df, rtol=1e-12)
    for j in range(p):
        close(res.wald_test([j])["df2"], res.df[j], rtol=1e-10)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10 ** 6), J=st.integers(3, 10))
def test_cr2_is_exactly_unbiased_under_the_working_model(seed, J):
    """Bell & McCaffrey (2002) / Pustejovsky & Tipton (2018, sec. 2.2): with the adjustment
    matrices A_j, E[V_CR2] = (X'WX)^-1 exactly when the working model is true, for any
    (unbalanced) design: the expectation computed from the CR2 parts equals the model-based
    variance."""
    from evsynth.models.robust import _expected

    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 6, J)
    cluster = np.repeat(np.arange(J), sizes)
    k = cluster.size
    x = rng.normal(size=k)
    vi = rng.uniform(0.01, 0.3, k)
    yi = rng.normal(size=k)
    fit = evsynth.meta(yi, vi, mods=x if J > 3 else None)
    res = robust(fit, cluster, clubsandwich=True)
    parts = res._parts
    close(_expected(parts.D, parts.terms), parts.bread, rtol=1e-8, atol=1e-12)
