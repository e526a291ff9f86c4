"""Cluster-robust inference for meta-analytic models: :func:`robust` and :func:`robu`.

:func:`robust` is metafor's ``robust.rma.uni`` / ``robust.rma.mv`` (metafor 3.8): the
sandwich estimator of the variance of the fixed effects of a fitted :func:`evsynth.meta` or
``evsynth.meta_mv`` model with effects clustered in ``cluster``,

* ``clubsandwich=False``: the CR1 estimator ``(X'WX)^-1 (sum_j X_j'W e_j e_j' W X_j)
  (X'WX)^-1`` times ``n / (n - p)`` (``adjust=True``; n clusters, p coefficients), t tests and
  intervals with ``n - p`` degrees of freedom and an F test of the moderators (Hedges, Tipton &
  Johnson 2010; metafor's default);
* ``clubsandwich=True``: the bias-reduced linearisation estimator CR2 (Bell & McCaffrey 2002;
  Pustejovsky & Tipton 2018) with the fitted model as working model, Satterthwaite degrees of
  freedom per coefficient and the Hotelling's T^2 "HTZ" test of several coefficients
  (Tipton & Pustejovsky 2015), exactly as R's clubSandwich 0.5 (``vcovCR(type = "CR2")``,
  ``coef_test(test = "Satterthwaite")``, ``Wald_test(test = "HTZ")``), which is what metafor's
  ``robust(..., clubSandwich = TRUE)`` calls.

:func:`robu` is R's robumeta ``robu()`` (Fisher & Tipton 2015): robust variance estimation
with the correlated-effects (``"CE"``) or hierarchical (``"HIER"``) working models and their
method-of-moments variance components (Hedges, Tipton & Johnson 2010), with the small-sample
corrections of Tipton (2015) (``small=True``: CR2 with Satterthwaite df) or the CR1 estimator.

Everything is computed cluster by cluster (clusters of equal size in one batched numpy call):
no k x k matrix is formed, so memory is linear in k and time linear in the number of clusters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from evsynth._lazy import LazyModule
from evsynth.errors import InputError, shown
from evsynth.models.results import FittedModel, fmt_p
from evsynth.validation import (
    as_frame,
    choice,
    flag,
    label_vector,
    level_percent,
    numeric_vector,
)

if TYPE_CHECKING:
    import pandas as pd
    import scipy.sparse as sp

    from evsynth.models.meta import Prediction
else:
    pd = LazyModule("pandas")

__all__ = ["RobuResult", "RobustResult", "robu", "robust"]

#: eigenvalue threshold of clubSandwich's ``matrix_power`` (values <= 1e-12 are set to 0)
CS_EIGEN_TOL = 1e-12
#: eigenvalue threshold of robumeta's small-sample adjustment matrices
ROBU_EIGEN_TOL = 1e-10
#: a cluster-robust variance (or an eigenvalue of a tested block of coefficients, relative to
#: the model-based variance) at or below this fraction of the model-based variance is 0 up to
#: rounding: the sandwich cannot estimate it (its rounding noise is ~1e-16 of it)
ROBUST_ZERO = 1e-10


def _zero_variance(var: np.ndarray, var_model: np.ndarray) -> np.ndarray:
    """Where a cluster-robust variance (of coefficients or of contrasts) is 0 up to rounding:
    at most :data:`ROBUST_ZERO` times the model-based one (or negative, or NaN)."""
    return ~(var > ROBUST_ZERO * var_model)


def _t_inference(beta: np.ndarray, vb: np.ndarray, df: np.ndarray, level: float,
                 v_model: np.ndarray, names: Sequence[str], satterthwaite: bool = False
                 ) -> tuple[dict[str, np.ndarray], list[str]]:
    """SEs, t statistics, two-sided p-values and ``level``% CIs ``beta -/+ t_(df) se`` of the
    coefficients from a cluster-robust ``vb`` (Hedges, Tipton & Johnson 2010, eq. 6-8).

    A coefficient whose robust variance is 0 up to rounding (<= :data:`ROBUST_ZERO` times its
    model-based variance ``v_model``; e.g. a moderator level observed in one cluster only,
    whose residuals are 0) has no estimable robust SE: its SE, t, p-value and CI are NaN and a
    note names it (metafor reports a SE of ~1e-16 and p ~ 0, rounding noise); so are its df
    when they are ``satterthwaite`` (estimated from that variance: a ratio of rounding noise),
    while residual df (clusters - p) stay. ``out["df"]`` holds the df to report."""
    from scipy import special

    d = np.diag(vb)
    zero = _zero_variance(d, np.diag(v_model))
    se = np.sqrt(np.where(zero, np.nan, d))
    tval = beta / se
    out = {"se": se, "tval": tval, "pval": 2 * special.stdtr(df, -np.abs(tval)),
           "crit": special.stdtrit(df, 1 - (1 - level / 100) / 2),
           "df": np.where(zero, np.nan, df) if satterthwaite else df}
    out["ci_lb"], out["ci_ub"] = beta - out["crit"] * se, beta + out["crit"] * se
    notes = [f"coefficient {names[i]!r}: its cluster-robust variance is 0 up to rounding "
             f"({d[i]:.3g}; model-based {np.diag(v_model)[i]:.3g}), as when the coefficient is "
             "determined by the effects of one cluster alone: its robust SE, test and CI are "
             "undefined (NaN)" for i in np.flatnonzero(zero).tolist()]
    return out, notes


def _singular_block(vb: np.ndarray, v_model: np.ndarray, idx: np.ndarray) -> bool:
    """Whether the cluster-robust variance of the coefficients ``idx`` is singular up to
    rounding: its smallest eigenvalue relative to the model-based variance (the generalised
    eigenvalue of the pair) is <= :data:`ROBUST_ZERO`. Its Wald/HTZ test is then undefined
    (``b' V^-1 b`` would divide by rounding noise; metafor reports NA)."""
    A = vb[np.ix_(idx, idx)]
    try:
        L = np.linalg.cholesky(v_model[np.ix_(idx, idx)])
    except np.linalg.LinAlgError:
        return False  # no model-based reference: leave the test to the solver
    Li = np.linalg.solve(L, np.eye(L.shape[0]))
    S = Li @ A @ Li.T
    return bool(np.linalg.eigvalsh(0.5 * (S + S.T)).min() <= ROBUST_ZERO)


def _singular_note(idx: np.ndarray, names: Sequence[str]) -> str:
    return (f"the test of coefficient(s) {', '.join(repr(names[int(i)]) for i in idx)} is "
            "undefined (NaN): their cluster-robust covariance matrix is singular up to rounding "
            "(fewer clusters inform them than there are coefficients)")


# --------------------------------------------------------------------------------------------
# clusters
# --------------------------------------------------------------------------------------------
def cluster_codes(cluster: Any, k: int, data: Any = None, field: str = "cluster"
                  ) -> tuple[np.ndarray, list[Any]]:
    """Integer codes ``0..J-1`` of the clusters (in order of first appearance) and their labels.

    ``cluster`` is one value per row (any hashable values) or the name of a column of ``data``;
    missing values are an :class:`InputError` naming the row.
    """
    frame = as_frame(data)
    values = label_vector(field, cluster, frame)
    if len(values) != k:
        raise InputError(f"argument '{field}' has {len(values)} values but the model has "
                         f"{k} rows (effects)")
    try:
        codes, uniques = pd.factorize(values, sort=False, use_na_sentinel=True)
    except TypeError:
        bad = next(i for i, v in enumerate(values) if not _hashable(v))
        raise InputError(f"row {bad + 1}: field '{field}' is {shown(values[bad])}, which "
                         "cannot label a cluster; expected a number or a string") from None
    missing = np.flatnonzero(codes < 0)
    if missing.size:
        raise InputError(f"row {missing[0] + 1}: field '{field}' is missing; expected a "
                         "cluster label (missing values are not allowed)")
    labels = [u.item() if isinstance(u, np.generic) else u for u in uniques]
    return codes.astype(np.int64), labels


def _hashable(val: Any) -> bool:
    try:
        hash(val)
    except TypeError:
        return False
    return True


@dataclass
class Blocks:
    """Rows grouped by cluster: for each cluster size n, the clusters of that size and their
    rows (``rows[n]`` is a (J_n, n) array of row indices, in the data's order within a
    cluster)."""

    codes: np.ndarray
    sizes: np.ndarray
    groups: list[tuple[np.ndarray, np.ndarray]]  # (cluster ids, rows (J_n, n))
    pos: np.ndarray  # position of each row within its cluster

    @classmethod
    def from_codes(cls, codes: np.ndarray, J: int) -> Blocks:
        order = np.argsort(codes, kind="stable")
        sizes = np.bincount(codes, minlength=J)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        pos = np.empty(codes.size, dtype=np.int64)
        pos[order] = np.arange(codes.size) - np.repeat(starts, sizes)
        groups = []
        for n in np.unique(sizes):
            cl = np.flatnonzero(sizes == n)
            rows = order[starts[cl][:, None] + np.arange(n)[None, :]]
            groups.append((cl, rows))
        return cls(codes, sizes, groups, pos)

    @property
    def J(self) -> int:
        return int(self.sizes.size)


def _group_sum(values: np.ndarray, codes: np.ndarray, J: int) -> np.ndarray:
    """Sums of the rows of ``values`` (k x m) by cluster (J x m)."""
    out = np.zeros((J,) + values.shape[1:])
    np.add.at(out, codes, values)
    return out


# --------------------------------------------------------------------------------------------
# the sandwich estimators
# --------------------------------------------------------------------------------------------
def matrix_power_sym(A: np.ndarray, power: float, tol: float | np.ndarray) -> np.ndarray:
    """``A^power`` of symmetric matrices (stacked in the last two axes) through their
    eigendecomposition, eigenvalues <= ``tol`` set to 0 (clubSandwich's ``matrix_power``);
    ``tol`` may hold one threshold per stacked matrix."""
    vals, vecs = np.linalg.eigh(A)
    keep = vals > np.asarray(tol)[..., None]
    vp = np.where(keep, np.abs(vals) ** power * keep, 0.0)
    return (vecs * vp[..., None, :]) @ np.swapaxes(vecs, -1, -2)


@dataclass
class CR2Parts:
    """What the CR2 estimator leaves for the small-sample tests: ``bread`` M = (X'WX)^-1,
    ``vcov``, per cluster ``D_j = M E_j Phi_j E_j' M`` and the low-rank terms of the
    covariances of the cluster contributions under the working model: ``P^ab_ij =
    delta_ij D_i[a, b] + sum_t c_t L_t,i[a] . R_t,j[b]`` (Pustejovsky & Tipton 2018, Theorem 2;
    the G and H arrays of clubSandwich's ``get_GH``/``get_P_array``)."""

    bread: np.ndarray
    vcov: np.ndarray
    D: np.ndarray  # (J, p, p)
    terms: list[tuple[float, np.ndarray, np.ndarray]]  # (c_t, L_t (J, p, m), R_t (J, p, m))


def cr2(X: np.ndarray, e: np.ndarray, blocks: Blocks, phi: list[np.ndarray],
        weights: list[np.ndarray] | None = None,
        tol: float | np.ndarray = CS_EIGEN_TOL) -> CR2Parts:
    """The CR2 sandwich (Bell & McCaffrey 2002; Pustejovsky & Tipton 2018, eq. 7; clubSandwich
    ``CR2``) with working covariance blocks ``Phi_j`` and weight blocks ``W_j`` (default
    ``Phi_j^-1``, the inverse-variance case).

    Adjustment matrices ``A_j = U_j' G_j^(-1/2) U_j`` with ``U_j`` the upper Cholesky factor of
    ``Phi_j`` and ``G_j = U_j (Phi_j - H_jj Phi_j - Phi_j H_jj' + X_j M X'W Phi W X M X_j')
    U_j'``, ``H_jj = X_j M X_j' W_j``, ``M = (X'WX)^-1`` (``G_j = U_j (Phi_j - X_j M X_j')
    U_j'`` with inverse-variance weights); ``V = M (sum_j X_j' W_j A_j e_j e_j' A_j' W_j X_j)
    M``. ``phi[g]`` and ``weights[g]`` hold the blocks (J_g, n, n) of the clusters of size
    group g of ``blocks``; clusters of equal size are processed in one batched call.
    """
    p = X.shape[1]
    J = blocks.J
    inverse_var = weights is None
    XtWX = np.zeros((p, p))
    W_list = []
    for g, ((_, rows), Phi) in enumerate(zip(blocks.groups, phi, strict=True)):
        Xn = X[rows]
        Wn = np.linalg.inv(Phi) if weights is None else weights[g]
        W_list.append(Wn)
        XtWX += (np.swapaxes(Xn, 1, 2) @ (Wn @ Xn)).sum(axis=0)
    M = _inv_sym(XtWX)
    LM = np.linalg.cholesky(M)
    if not inverse_var:
        XWPWX = np.zeros((p, p))
        for (_, rows), Phi, Wn in zip(blocks.groups, phi, W_list, strict=True):
            WX = Wn @ X[rows]
            XWPWX += (np.swapaxes(WX, 1, 2) @ (Phi @ WX)).sum(axis=0)
        MQM = M @ XWPWX @ M
        L_O = np.linalg.cholesky(0.5 * (MQM + MQM.T))
    D = np.empty((J, p, p))
    H1 = np.empty((J, p, p))
    H2 = np.empty((J, p, p)) if not inverse_var else H1
    H3 = np.empty((J, p, p)) if not inverse_var else H1
    meat = np.zeros((p, p))
    for (cl, rows), Phi, Wn in zip(blocks.groups, phi, W_list, strict=True):
        Xn = X[rows]
        Xt = np.swapaxes(Xn, 1, 2)
        L = np.linalg.cholesky(Phi)  # Phi = L L'; clubSandwich's chol() is U = L'
        Lt = np.swapaxes(L, 1, 2)
        XMX = (Xn @ M) @ Xt
        if inverse_var:
            inner = Phi - XMX
        else:
            HP = XMX @ Wn @ Phi  # H_jj Phi_j
            inner = Phi - HP - np.swapaxes(HP, 1, 2) + (Xn @ MQM) @ Xt
        G = Lt @ inner @ L  # U inner U'
        tol_g = tol[cl] if isinstance(tol, np.ndarray) else tol
        Gm = matrix_power_sym(0.5 * (G + np.swapaxes(G, 1, 2)), -0.5, tol_g)
        A = L @ Gm @ Lt  # U' G^-1/2 U
        E = (Xt @ Wn) @ A  # X_j' W_j A_j  (J, p, n)
        u = (E @ e[rows][:, :, None])[:, :, 0]
        meat += u.T @ u
        ME = M @ E
        MEL = ME @ L
        D[cl] = MEL @ np.swapaxes(MEL, 1, 2)
        MEX = ME @ Xn
        H1[cl] = MEX @ LM
        if not inverse_var:
            H2[cl] = (ME @ (Phi @ (Wn @ Xn))) @ LM
            H3[cl] = MEX @ L_O
    vcov = M @ meat @ M
    terms = ([(-1.0, H1, H1)] if inverse_var
             else [(1.0, H3, H3), (-1.0, H1, H2), (-1.0, H2, H1)])
    return CR2Parts(M, 0.5 * (vcov + vcov.T), D, terms)


def _inv_sym(A: np.ndarray) -> np.ndarray:
    try:
        L = np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        raise InputError("the model matrix is not of full rank in the weighted fit (X'WX is "
                         "singular); the fixed effects are not estimable") from None
    Li = np.linalg.inv(L)
    return Li.T @ Li


def _expected(D: np.ndarray, terms: list[tuple[float, np.ndarray, np.ndarray]]) -> np.ndarray:
    """``E[C V C'] = sum_i P_ii`` under the working model (clubSandwich's Omega)."""
    out = np.einsum("jab->ab", D)
    for c, Lt, Rt in terms:
        out = out + c * np.einsum("jam,jbm->ab", Lt, Rt)
    return out


def _t_sums(D: np.ndarray, terms: list[tuple[float, np.ndarray, np.ndarray]]) -> np.ndarray:
    """``T[a, b, c, d] = sum_ij P^ab_ij P^cd_ij`` for ``P^ab_ij = delta_ij D_i[a, b] +
    sum_t c_t L_t,i[a] . R_t,j[b]``: the moments of the quadratic forms of clubSandwich's P
    array (``Satterthwaite``, ``total_variance_mat``) without forming J x J arrays."""
    T = np.einsum("jab,jcd->abcd", D, D)
    for c, Lt, Rt in terms:
        Hd = c * np.einsum("jam,jbm->jab", Lt, Rt)
        T = T + np.einsum("jab,jcd->abcd", D, Hd) + np.einsum("jab,jcd->abcd", Hd, D)
    for c1, L1, R1 in terms:
        for c2, L2, R2 in terms:
            KL = np.einsum("jam,jcn->acmn", L1, L2)
            KR = np.einsum("jbm,jdn->bdmn", R1, R2)
            T = T + c1 * c2 * np.einsum("acmn,bdmn->abcd", KL, KR)
    return T


def satterthwaite_df(parts: CR2Parts, C: np.ndarray | None = None,
                     chunk: int = 256) -> np.ndarray:
    """Satterthwaite degrees of freedom of each coefficient (or of each contrast, a row of
    ``C``) under the working model (Bell & McCaffrey 2002, sec. 3; Pustejovsky & Tipton 2018,
    eq. 11; clubSandwich ``Satterthwaite`` and ``linear_contrast``): ``df = 2 E[c'Vc]^2 /
    Var[c'Vc]``, with ``E = sum_i P_ii`` and ``Var = 2 sum_ij P_ij^2`` for the scalar P array
    of the contrast; rows of ``C`` in chunks (memory J x chunk x p)."""
    p = parts.D.shape[1]
    C = np.eye(p) if C is None else np.atleast_2d(C)
    out = np.empty(C.shape[0])
    for s0 in range(0, C.shape[0], chunk):
        Cc = C[s0:s0 + chunk]
        d = np.einsum("ia,jab,ib->ji", Cc, parts.D, Cc)  # (J, q)
        proj = [(c, np.einsum("ia,jam->jim", Cc, Lt), np.einsum("ia,jam->jim", Cc, Rt))
                for c, Lt, Rt in parts.terms]
        E = d.sum(axis=0)
        T = np.einsum("ji,ji->i", d, d)
        for c, lt, rt in proj:
            lr = np.einsum("jim,jim->ji", lt, rt)
            E = E + c * lr.sum(axis=0)
            T = T + 2 * c * np.einsum("ji,ji->i", d, lr)
        for c1, l1, r1 in proj:
            for c2, l2, r2 in proj:
                KL = np.einsum("jim,jin->imn", l1, l2)
                KR = np.einsum("jim,jin->imn", r1, r2)
                T = T + c1 * c2 * np.einsum("imn,imn->i", KL, KR)
        out[s0:s0 + chunk] = E ** 2 / T
    return out


def _transform(parts: CR2Parts, C: np.ndarray
               ) -> tuple[np.ndarray, list[tuple[float, np.ndarray, np.ndarray]]]:
    D = np.einsum("ia,jab,kb->jik", C, parts.D, C)
    terms = [(c, np.einsum("ia,jam->jim", C, Lt), np.einsum("ia,jam->jim", C, Rt))
             for c, Lt, Rt in parts.terms]
    return D, terms


def htz_test(parts: CR2Parts, beta: np.ndarray, C: np.ndarray) -> dict[str, float]:
    """The HTZ test of ``C beta = 0`` (Tipton & Pustejovsky 2015, J Educ Behav Stat 40:604;
    Pustejovsky & Tipton 2018, sec. 3.2; clubSandwich ``Wald_test(test = "HTZ")``): Hotelling's
    T^2 with ``nu = q (q + 1) / sum_st Var(d_st)``, ``d = Omega^-1/2 C V C' Omega^-1/2`` and
    ``Omega = E[C V C']`` under the working model; ``F = (nu - q + 1) / (nu q) Q`` on
    ``(q, nu - q + 1)`` degrees of freedom."""
    from scipy import special

    q = C.shape[0]
    D, terms = _transform(parts, C)
    Omega = _expected(D, terms)
    N = matrix_power_sym(Omega, -0.5, CS_EIGEN_TOL)
    Dn = np.einsum("ia,jab,kb->jik", N, D, N)
    terms_n = [(c, np.einsum("ia,jam->jim", N, Lt), np.einsum("ia,jam->jim", N, Rt))
               for c, Lt, Rt in terms]
    T = _t_sums(Dn, terms_n)
    var_mat = np.einsum("sTTs->sT", T) + np.einsum("ssTT->sT", T)
    nu = q * (q + 1) / var_mat.sum()
    Cb = C @ beta
    Q = float(Cb @ np.linalg.solve(C @ parts.vcov @ C.T, Cb))
    delta = max((nu - q + 1) / nu, 0.0)
    df2 = nu - q + 1
    F = delta * Q / q
    pval = float(special.fdtrc(q, df2, F)) if df2 > 0 else math.nan
    return {"F": F, "df1": float(q), "df2": float(df2), "pval": pval, "Q": Q, "nu": nu,
            "delta": delta}


# --------------------------------------------------------------------------------------------
# the working model of a fit
# --------------------------------------------------------------------------------------------
@dataclass
class _Working:
    """What robust() needs from a fit (an adapter over meta() and meta_mv() results)."""

    kind: str
    X: np.ndarray
    y: np.ndarray
    beta: np.ndarray
    coef_names: list[str]
    btt: np.ndarray
    int_only: bool
    level: float
    diag_var: np.ndarray | None  # meta(): vi + tau^2
    M: sp.csr_matrix | None  # meta_mv(): V + Z G Z'
    W: sp.csr_matrix | None  # meta_mv(): M^-1
    model_name: str
    notes: list[str]
    #: meta(): the fit's weights when they are not 1 / (vi + tau^2) (user weights, or ones for
    #: an unweighted fit); None for inverse-variance weights
    weights: np.ndarray | None = None


def _working(fit: Any) -> _Working:
    from evsynth.models.meta import MetaResult

    notes: list[str] = []
    if isinstance(fit, MetaResult):
        X = np.asarray(fit.model_matrix, dtype=float)
        if fit.test in ("knha", "adhoc"):
            notes.append("the fit used the Knapp-Hartung test; the sandwich uses the unscaled "
                         "(X'WX)^-1 (metafor 3.8 multiplies by its s^2 scale factor)")
        if fit.subgroups is not None:
            notes.append("the fit's subgroup fits are not made robust; only the overall model")
        user = getattr(fit, "user_weights", None)
        weights = None
        if user is not None:
            weights = np.asarray(user, dtype=float)
            notes.append("user weights: the sandwich uses them (metafor), CR2 takes vi + tau^2 "
                         "as working model (clubSandwich)")
        elif not getattr(fit, "weighted", True):
            weights = np.ones(X.shape[0])
            notes.append("unweighted fit: the sandwich uses unit weights (metafor), CR2 takes "
                         "vi + tau^2 as working model (clubSandwich)")
        return _Working("meta", X, np.asarray(fit.yi, float), np.asarray(fit.beta, float),
                        list(fit.coef_names), np.asarray(fit.btt), bool(fit.int_only),
                        float(fit.level), np.asarray(fit.vi, float) + float(fit.tau2), None, None,
                        fit.model_name, notes, weights)
    if all(hasattr(fit, a) for a in ("marginal_var", "model_matrix", "beta", "yi")):
        import scipy.sparse as sp

        X = np.asarray(fit.model_matrix, dtype=float)
        p = X.shape[1]
        names = list(getattr(fit, "coef_names", None) or [f"b{j}" for j in range(p)])
        intercept = bool(np.allclose(X[:, 0], 1.0))
        btt = getattr(fit, "btt", None)
        if btt is None:
            btt = np.arange(1, p) if (intercept and p > 1) else np.arange(p)
        M = sp.csr_matrix(fit.marginal_var())
        W = sp.csr_matrix(fit.weight_matrix()) if hasattr(fit, "weight_matrix") else None
        if getattr(fit, "user_weights", None) is not None:
            raise InputError("robust(): fits with user-specified weight matrices are not "
                             "supported (the sandwich here assumes W = M^-1)")
        beta = np.asarray(fit.beta, float).ravel()
        return _Working("meta_mv", X, np.asarray(fit.yi, float), beta, names,
                        np.asarray(btt), p == 1 and intercept, float(fit.level), None, M, W,
                        getattr(fit, "model_name", "meta_mv() fit (rma.mv)"), notes)
    raise InputError(f"robust(): 'fit' is a {type(fit).__name__}; expected a fit of "
                     "evsynth.meta() or evsynth.meta_mv()")


def _diagonal_blocks(values: np.ndarray, blocks: Blocks) -> list[np.ndarray]:
    """Diagonal matrices per cluster-size group: ``diag(values[rows])`` for each cluster's
    rows, stacked as ``(clusters, n, n)``."""
    out = []
    for _, rows in blocks.groups:
        n = rows.shape[1]
        D = np.zeros((rows.shape[0], n, n))
        idx = np.arange(n)
        D[:, idx, idx] = values[rows]
        out.append(D)
    return out


def _phi_blocks(w: _Working, blocks: Blocks) -> list[np.ndarray]:
    """Working covariance blocks per cluster-size group: diag(vi + tau^2) for meta(), the
    cluster blocks of the marginal covariance M for meta_mv() (which must be block-diagonal by
    cluster: the random effects nested in the clusters, as clubSandwich requires)."""
    if w.diag_var is not None:
        return _diagonal_blocks(w.diag_var, blocks)
    assert w.M is not None
    coo = w.M.tocoo()
    r, c, v = coo.row, coo.col, coo.data
    nz = v != 0
    r, c, v = r[nz], c[nz], v[nz]
    cross = blocks.codes[r] != blocks.codes[c]
    if cross.any():
        i = int(np.flatnonzero(cross)[0])
        raise InputError(f"robust(clubsandwich=True): rows {r[i] + 1} and {c[i] + 1} are in "
                         "different clusters but correlated in the model (random effects or "
                         "sampling covariances are not nested within 'cluster'); use a "
                         "cluster that nests them (clubSandwich refuses the same)")
    size_group = np.empty(blocks.J, dtype=np.int64)
    slot = np.empty(blocks.J, dtype=np.int64)
    out = []
    for g, (cl, _) in enumerate(blocks.groups):
        size_group[cl] = g
        slot[cl] = np.arange(cl.size)
        n = blocks.sizes[cl[0]]
        out.append(np.zeros((cl.size, n, n)))
    cl_of = blocks.codes[r]
    for g in range(len(out)):
        sel = size_group[cl_of] == g
        out[g][slot[cl_of[sel]], blocks.pos[r[sel]], blocks.pos[c[sel]]] = v[sel]
    return out


def _weight_blocks(w: _Working, blocks: Blocks) -> list[np.ndarray] | None:
    """Diagonal weight blocks for a meta() fit with user weights or no weights (clubSandwich's
    non-inverse-variance CR2); None for inverse-variance weights."""
    if w.weights is None:
        return None
    bad = np.flatnonzero(~(w.weights > 0))
    if bad.size:
        raise InputError(f"robust(clubsandwich=True): row {bad[0] + 1} has weight "
                         f"{shown(w.weights[bad[0]])}; CR2 needs positive weights")
    return _diagonal_blocks(w.weights, blocks)


# --------------------------------------------------------------------------------------------
# result
# --------------------------------------------------------------------------------------------
def _t_coefficients(res: Any) -> pd.DataFrame:
    """The coefficient table of a t-based robust result (``zval`` holds the t statistics)."""
    return pd.DataFrame({"estimate": res.beta, "se": res.se, "tval": res.zval, "df": res.df,
                         "pval": res.pval, "ci_lb": res.ci_lb, "ci_ub": res.ci_ub},
                        index=res.coef_names)


class RobustResult(FittedModel):
    """Cluster-robust tests and confidence intervals of a fitted model (metafor
    ``robust.rma``): the fit's coefficients with sandwich standard errors, t tests
    (``zval`` holds the t statistics) with ``df`` degrees of freedom (one per coefficient), and
    the F test of the moderators (``QM``, ``QMdf``, ``QMp``)."""

    model_name = "robust() result"
    _dict_fields = ("k", "coef_names", "beta", "se", "zval", "pval", "ci_lb", "ci_ub", "df",
                    "vb", "QM", "QMdf", "QMp", "n_clusters", "cluster_sizes", "level", "vcov_type",
                    "method_info")

    def __init__(self, *, k: int, coef_names: list[str], beta: np.ndarray, se: np.ndarray,
                 zval: np.ndarray, pval: np.ndarray, ci_lb: np.ndarray, ci_ub: np.ndarray,
                 df: np.ndarray, vb: np.ndarray, QM: float, QMdf: list[float], QMp: float,
                 n_clusters: int, cluster_sizes: np.ndarray, level: float, vcov_type: str,
                 method_info: dict[str, Any], btt: np.ndarray, fit: Any) -> None:
        self.k = k
        self.coef_names = coef_names
        self.beta, self.se, self.zval, self.pval = beta, se, zval, pval
        self.ci_lb, self.ci_ub, self.df, self.vb = ci_lb, ci_ub, df, vb
        self.QM, self.QMdf, self.QMp = QM, QMdf, QMp
        self.n_clusters = n_clusters
        self.cluster_sizes = cluster_sizes
        self.level = level
        self.vcov_type = vcov_type
        self.method_info = method_info
        self.btt = btt
        self.fit = fit
        self.test = "t"
        self._parts: CR2Parts | None = None
        self._X = np.empty((0, len(beta)))
        self._intercept = False
        self._pi_var: float | None = None
        #: model-based variance of the coefficients (the reference of ROBUST_ZERO)
        self._v_model = np.zeros((len(beta), len(beta)))

    @property
    def coefficients(self) -> pd.DataFrame:
        """Coefficient table (estimate, se, tval, df, pval, ci_lb, ci_ub) indexed by name;
        ``to_frame()`` is the contract's tidy table (the df are in :attr:`df`)."""
        return _t_coefficients(self)

    def predict(self, newmods: Any = None, *, level: float | None = None) -> Prediction:
        """Predicted average effects with cluster-robust confidence intervals (metafor
        ``predict`` of a ``robust.rma`` object): ``x' b`` with SE ``sqrt(x' V x)`` and t
        quantiles on ``n - p`` df (CR1/CR0) or the Satterthwaite df of the contrast ``x``
        (CR2, as clubSandwich ``linear_contrast``, which metafor calls); prediction intervals
        add the fit's heterogeneity (tau^2 of a ``meta`` fit; the sum of the sigma^2 of a
        ``meta_mv`` fit without ``inner | outer`` terms), as metafor.

        ``newmods``: values of the moderators (m x (p - 1) without the intercept column, or
        m x p), or None for the intercept of an intercept-only model and the fitted values
        otherwise.
        """
        lvl = self.level if level is None else level_percent(level)
        return _predict(self.beta, self.vb, self._parts, float(self.df[0]), self._X,
                        self._intercept, self._pi_var, lvl, newmods, self._v_model)

    def wald_test(self, coefs: Sequence[int]) -> dict[str, float]:
        """Test that the coefficients ``coefs`` (0-based indices) are all 0: the HTZ test
        for CR2 results (clubSandwich ``Wald_test(constraints = constrain_zero(coefs), test =
        "HTZ")``), the Wald F test on ``(q, n - p)`` df otherwise (metafor's omnibus test).
        Returns ``F``, ``df1``, ``df2``, ``pval``."""
        return _wald(self.beta, self.vb, self._parts, float(self.df[0]), coefs,
                     self._v_model)

    def summary_text(self) -> str:
        sizes = self.cluster_sizes
        cs = self.method_info.get("clubsandwich", False)
        lines = [f"Cluster-robust inference for a {self.method_info['model']}", "",
                 f"Number of estimates:   {self.k}",
                 f"Number of clusters:    {self.n_clusters}",
                 f"Estimates per cluster: {sizes.min()}-{sizes.max()} (mean: "
                 f"{sizes.mean():.2f}, median: {np.median(sizes):g})", ""]
        p = len(self.beta)
        if p > 1 or not self.method_info.get("int_only", False):
            coefs = _coef_range(self.btt)
            df2 = self.QMdf[1]
            df2s = "NA" if not math.isfinite(df2) else f"{df2:.2f}" if cs else f"{df2:g}"
            lines.append(f"Test of Moderators (coefficient{'s' if len(self.btt) > 1 else ''} "
                         f"{coefs}):\u00b9")
            qm = f"{self.QM:.4f}" if math.isfinite(self.QM) else "NA"
            lines.append(f"F(df1 = {self.QMdf[0]:g}, df2 = {df2s}) = {qm}, "
                         f"p-val = {fmt_p(self.QMp)}")
            lines.append("")
        lines.append("Model Results:")
        lines.append("")
        table = pd.DataFrame({"estimate": self.beta, "se\u00b9": self.se, "tval\u00b9": self.zval,
                              "df\u00b9": ["NA" if not math.isfinite(d) else f"{d:.2f}" if cs
                                           else f"{d:g}" for d in self.df],
                              "pval\u00b9": [fmt_p(x) for x in self.pval],
                              "ci.lb\u00b9": self.ci_lb, "ci.ub\u00b9": self.ci_ub},
                             index=self.coef_names)
        lines.append(table.to_string(float_format=lambda x: f"{x:.4f}", na_rep="NA"))
        lines.append("")
        dfm = "Satterthwaite approx" if cs else "residual method"
        lines.append(f"1) results based on cluster-robust inference (var-cov estimator: "
                     f"{self.vcov_type},")
        lines.append(f"   approx t-test and confidence interval, df: {dfm})")
        lines += [f"Note: {n}" for n in self.method_info.get("notes", [])]
        return "\n".join(lines)


def _predict(beta: np.ndarray, vb: np.ndarray, parts: CR2Parts | None, df_const: float,
             X: np.ndarray, intercept: bool, pi_var: float | None, lvl: float,
             newmods: Any, v_model: np.ndarray) -> Prediction:
    """Predictions ``x' b`` with t intervals (Satterthwaite df per contrast with CR2 parts,
    else ``df_const``) and, when ``pi_var`` is given, prediction intervals; NaN SE and
    intervals for a contrast whose robust variance is 0 up to rounding (:data:`ROBUST_ZERO` of
    its model-based variance under ``v_model``)."""
    from scipy import special

    from evsynth.models.meta import Prediction

    p = len(beta)
    if newmods is None:
        Xn = np.ones((1, 1)) if p == 1 else X
    else:
        try:
            Xn = np.asarray(newmods, dtype=float)
        except (TypeError, ValueError):
            raise InputError(f"argument 'newmods' is {newmods!r}; expected numbers") from None
        m = p - int(intercept)
        if Xn.ndim <= 1:  # one moderator: one value per prediction; else one row
            Xn = Xn.reshape(-1, 1) if m == 1 else Xn.reshape(1, -1)
        if intercept and Xn.shape[1] == p - 1:
            Xn = np.column_stack([np.ones(Xn.shape[0]), Xn])
        if Xn.shape[1] != p or not np.all(np.isfinite(Xn)):
            raise InputError(f"argument 'newmods' has shape {np.shape(newmods)}; expected "
                             f"finite values for the {p - int(intercept)} "
                             "moderator(s) (one row per prediction)")
    pred = Xn @ beta
    var = np.einsum("ij,jk,ik->i", Xn, vb, Xn)
    zero = _zero_variance(var, np.einsum("ij,jk,ik->i", Xn, v_model, Xn))
    se = np.sqrt(np.where(zero, np.nan, var))
    if parts is not None:
        df = satterthwaite_df(parts, Xn)
    else:
        df = np.full(Xn.shape[0], df_const)
    crit = special.stdtrit(df, 1 - (1 - lvl / 100) / 2)
    pi_sd = np.sqrt(se ** 2 + pi_var) if pi_var is not None else np.nan * se
    one = Xn.shape[0] == 1

    def out(a: np.ndarray) -> Any:
        return float(a[0]) if one else a

    return Prediction(out(pred), out(se), out(pred - crit * se), out(pred + crit * se),
                      out(pred - crit * pi_sd), out(pred + crit * pi_sd), lvl,
                      "t (cluster-robust)")


def _wald(beta: np.ndarray, vb: np.ndarray, parts: CR2Parts | None, df2: float,
          coefs: Sequence[int], v_model: np.ndarray) -> dict[str, float]:
    """HTZ test (CR2 ``parts``) or Wald F test on ``(q, df2)`` df of ``beta[coefs] = 0``;
    NaN when the robust covariance of those coefficients is singular (:func:`_singular_block`
    against the model-based ``v_model``)."""
    from scipy import special

    p = len(beta)
    try:
        idx = np.asarray([int(c) for c in coefs], dtype=np.int64)
    except (TypeError, ValueError):
        raise InputError(f"argument 'coefs' is {coefs!r}; expected 0-based coefficient "
                         "indices") from None
    if idx.size == 0 or np.any(idx < 0) or np.any(idx >= p) or np.unique(idx).size != idx.size:
        raise InputError(f"argument 'coefs' is {coefs!r}; expected distinct indices in "
                         f"0..{p - 1}")
    if _singular_block(vb, v_model, idx):
        df2_out = htz_test(parts, beta, np.eye(p)[idx])["df2"] if parts is not None else df2
        return {"F": math.nan, "df1": float(idx.size), "df2": float(df2_out), "pval": math.nan}
    if parts is not None:
        out = htz_test(parts, beta, np.eye(p)[idx])
        return {key: out[key] for key in ("F", "df1", "df2", "pval")}
    b = beta[idx]
    q = idx.size
    try:
        F = float(b @ np.linalg.solve(vb[np.ix_(idx, idx)], b)) / q
    except np.linalg.LinAlgError:
        return {"F": math.nan, "df1": float(q), "df2": df2, "pval": math.nan}
    return {"F": F, "df1": float(q), "df2": df2, "pval": float(special.fdtrc(q, df2, F))}


def _coef_range(btt: np.ndarray) -> str:
    b = [int(i) + 1 for i in btt]
    if len(b) > 1 and b == list(range(b[0], b[-1] + 1)):
        return f"{b[0]}:{b[-1]}"
    return ",".join(map(str, b))


# --------------------------------------------------------------------------------------------
# robust()
# --------------------------------------------------------------------------------------------
def robust(fit: Any, cluster: Any, *, adjust: bool = True, clubsandwich: bool = False,
           data: Any = None) -> RobustResult:
    """Cluster-robust tests and confidence intervals for a fitted model (metafor ``robust``).

    With ``clubsandwich=False`` (metafor's default) the variance of the coefficients is the
    sandwich ``V = M (sum_j X_j' W r_j r_j' W X_j) M``, ``M = (X'WX)^-1``, with the fit's
    weights ``W`` (``1 / (vi + tau^2)`` for :func:`evsynth.meta`, ``(V + Z G Z')^-1`` for
    ``evsynth.meta_mv``), residuals ``r_j`` of cluster j and, with ``adjust=True``, the
    small-sample factor ``n / (n - p)`` (n clusters, p coefficients; "CR1"); tests and intervals
    use t distributions with ``n - p`` degrees of freedom and the moderators an F test
    ``F = b' V^-1 b / m`` on ``(m, n - p)`` degrees of freedom (Hedges, Tipton & Johnson 2010;
    metafor 3.8 ``robust.rma.uni``/``robust.rma.mv``).

    With ``clubsandwich=True`` the bias-reduced linearisation estimator "CR2" (Bell &
    McCaffrey 2002) with the fitted model as working model, t tests with Satterthwaite degrees
    of freedom per coefficient and the HTZ F test of the moderators (Pustejovsky & Tipton 2018;
    Tipton & Pustejovsky 2015), as R's clubSandwich 0.5 and metafor's ``robust(...,
    clubSandwich = TRUE)``; ``adjust`` is then not used (as in metafor).

    A coefficient whose robust variance is 0 up to rounding (at most ``ROBUST_ZERO = 1e-10``
    times its model-based variance, e.g. a moderator level observed in one cluster only) has
    no estimable robust SE: its SE, t, p-value and CI are NaN and ``method_info["notes"]``
    names it (metafor prints a SE of ~1e-16 and p < .0001, rounding noise). Likewise the test
    of the moderators is NaN when their robust covariance is singular up to rounding (metafor:
    QM = NA).

    Parameters
    ----------
    fit : MetaResult or MultivariateResult
        A fit of :func:`evsynth.meta` or ``evsynth.meta_mv``.
    cluster : array_like or str
        The cluster (e.g. study) of each effect, or a column name of ``data``.
    adjust : bool, default True
        Apply the small-sample factor ``n / (n - p)`` ("CR1"; else "CR0").
    clubsandwich : bool, default False
        CR2 with Satterthwaite and HTZ tests instead of CR1 with ``n - p`` df.
    data : pandas.DataFrame, optional
        Data frame in which ``cluster`` is looked up when it is a column name.

    Returns
    -------
    RobustResult
        ``beta``, ``se``, ``zval`` (t statistics), ``df``, ``pval``, ``ci_lb``, ``ci_ub``
        (``level`` of the fit), ``vb``, ``QM``/``QMdf``/``QMp`` (F test of the coefficients
        ``fit.btt``), ``n_clusters``, ``method_info``; ``summary()`` prints as metafor.

    Raises
    ------
    InputError
        If the number of clusters is not larger than the number of coefficients, the
        clusters have missing values or the wrong length, or (CR2 of a ``meta_mv`` fit) the
        model correlates effects of different clusters.

    References
    ----------
    .. [1] Hedges LV, Tipton E, Johnson MC (2010). Robust variance estimation in
           meta-regression with dependent effect size estimates. *Res Synth Methods*
           1(1):39-65. doi:10.1002/jrsm.5
    .. [2] Bell RM, McCaffrey DF (2002). Bias reduction in standard errors for linear
           regression with multi-stage samples. *Surv Methodol* 28(2):169-181.
    .. [3] Pustejovsky JE, Tipton E (2018). Small-sample methods for cluster-robust variance
           estimation and hypothesis testing in fixed effects models. *J Bus Econ Stat*
           36(4):672-683. doi:10.1080/07350015.2016.1247004
    .. [4] Tipton E, Pustejovsky JE (2015). Small-sample adjustments for tests of moderators
           and model fit using robust variance estimation in meta-regression. *J Educ Behav
           Stat* 40(6):604-634. doi:10.3102/1076998615606099
    .. [5] Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package.
           *J Stat Softw* 36(3):1-48. doi:10.18637/jss.v036.i03

    Examples
    --------
    Four studies contribute two effects each (made-up numbers):

    >>> import evsynth
    >>> yi = [0.30, 0.42, 0.11, 0.25, 0.52, 0.61, 0.05, 0.18]
    >>> vi = [0.02, 0.03, 0.02, 0.04, 0.05, 0.03, 0.02, 0.03]
    >>> fit = evsynth.meta(yi, vi)
    >>> res = evsynth.robust(fit, cluster=[1, 1, 2, 2, 3, 3, 4, 4])
    >>> res.n_clusters, res.df.tolist()
    (4, [3.0])
    >>> round(float(res.se[0]), 4)
    0.0963
    >>> cr2 = evsynth.robust(fit, cluster=[1, 1, 2, 2, 3, 3, 4, 4], clubsandwich=True)
    >>> cr2.vcov_type, round(float(cr2.df[0]), 2)
    ('CR2', 2.95)
    """
    adjust, clubsandwich = flag("adjust", adjust), flag("clubsandwich", clubsandwich)
    w = _working(fit)
    k, p = w.X.shape
    if data is None and isinstance(cluster, str):
        data = getattr(fit, "data", None)  # the fit's own data= frame (metafor's behaviour)
    codes, _labels = cluster_codes(cluster, k, data)
    J = len(_labels)
    dfs_res = J - p
    if dfs_res <= 0:
        raise InputError(f"robust(): number of clusters ({J}) must be larger than the number "
                         f"of coefficients ({p})")
    blocks = Blocks.from_codes(codes, J)
    e = w.y - w.X @ w.beta
    level = w.level
    v_model = _model_vcov(w)
    if clubsandwich:
        parts = cr2(w.X, e, blocks, _phi_blocks(w, blocks), _weight_blocks(w, blocks))
        vb = parts.vcov
        df = satterthwaite_df(parts)
        vtype = "CR2"
        ref = "clubSandwich 0.5 vcovCR(type='CR2'), coef_test(Satterthwaite), Wald_test(HTZ)"
    else:
        vb = _cr1(w, e, codes, J)
        vtype = "CR0"
        if adjust:
            vb = vb * (J / dfs_res)
            vtype = "CR1"
        df = np.full(p, float(dfs_res))
        ref = "metafor 3.8 robust.rma (Hedges, Tipton & Johnson 2010)"
    st, notes = _t_inference(w.beta, vb, df, level, v_model, w.coef_names,
                             satterthwaite=bool(clubsandwich))
    se, tval, pval, df = st["se"], st["tval"], st["pval"], st["df"]
    if clubsandwich and w.int_only:
        QM, QMdf, QMp = float(max(0.0, tval[0] ** 2)), [1.0, float(df[0])], float(pval[0])
    else:
        ht = _wald(w.beta, vb, parts if clubsandwich else None, float(dfs_res),
                   w.btt.tolist(), v_model)
        QM, QMdf, QMp = max(0.0, ht["F"]), [ht["df1"], ht["df2"]], ht["pval"]
        if math.isnan(ht["F"]):
            QM = math.nan
            notes.append(_singular_note(w.btt, w.coef_names))
    info = {"model": w.model_name, "vcov": vtype, "clubsandwich": bool(clubsandwich),
            "adjust": bool(adjust) if not clubsandwich else None,
            "df": df.tolist() if clubsandwich else float(dfs_res),
            "df_method": "Satterthwaite" if clubsandwich else "residual (clusters - p)",
            "omnibus_test": "HTZ" if (clubsandwich and not w.int_only) else "Wald F",
            "n_clusters": J, "level": level, "int_only": w.int_only,
            "notes": w.notes + notes, "reference": ref}
    res = RobustResult(k=k, coef_names=w.coef_names, beta=w.beta.copy(), se=se, zval=tval,
                       pval=pval, ci_lb=st["ci_lb"], ci_ub=st["ci_ub"], df=df,
                       vb=vb, QM=QM, QMdf=QMdf, QMp=QMp, n_clusters=J,
                       cluster_sizes=blocks.sizes.copy(), level=level, vcov_type=vtype,
                       method_info=info, btt=w.btt, fit=fit)
    if clubsandwich:
        res._parts = parts
    res._X = w.X
    res._intercept = bool(np.all(w.X[:, 0] == 1.0))
    res._pi_var = _pi_variance(fit, w)
    res._v_model = v_model
    return res


def _model_vcov(w: _Working) -> np.ndarray:
    """The model-based variance of the fit's coefficients without a Knapp-Hartung scale
    factor, the reference of :data:`ROBUST_ZERO`: ``(X'WX)^-1`` with inverse-variance weights
    (``W = M^-1``), the sandwich ``B X'A D A X B``, ``B = (X'AX)^-1``, with user weights ``A``
    (metafor ``rma.uni``, ``D = diag(vi + tau^2)``)."""
    if w.diag_var is not None:  # meta()
        if w.weights is None:
            return _inv_sym(w.X.T @ (w.X / w.diag_var[:, None]))
        AX = w.X * w.weights[:, None]
        B = _inv_sym(w.X.T @ AX)
        return B @ (AX.T @ (AX * w.diag_var[:, None])) @ B
    if w.W is not None:
        return _inv_sym(w.X.T @ np.asarray(w.W @ w.X))
    from scipy.sparse.linalg import splu

    return _inv_sym(w.X.T @ splu(w.M.tocsc()).solve(w.X))  # type: ignore[union-attr]


def _pi_variance(fit: Any, w: _Working) -> float | None:
    """The heterogeneity a prediction interval adds (metafor ``predict.rma``/``predict.rma.mv``):
    tau^2 of a meta() fit, the sum of the sigma^2 of a meta_mv() fit without structured
    (``inner | outer``) terms; None otherwise."""
    if w.kind == "meta":
        return float(fit.tau2)
    tau2 = np.atleast_1d(getattr(fit, "tau2", np.empty(0)))
    sigma2 = getattr(fit, "sigma2", None)
    if sigma2 is None or tau2.size:
        return None
    return float(np.sum(sigma2))


def _cr1(w: _Working, e: np.ndarray, codes: np.ndarray, J: int) -> np.ndarray:
    """CR0 sandwich with the fit's full weight matrix (metafor: ``vb X'W`` as bread)."""
    if w.weights is not None:
        WX = w.X * w.weights[:, None]
    elif w.diag_var is not None:
        WX = w.X / w.diag_var[:, None]
    else:
        if w.W is not None:
            WX = np.asarray(w.W @ w.X)
        else:
            from scipy.sparse.linalg import splu

            lu = splu(w.M.tocsc())  # type: ignore[union-attr]
            WX = lu.solve(w.X)
    M = _inv_sym(w.X.T @ WX)
    u = _group_sum(WX * e[:, None], codes, J)
    meat = u.T @ u
    vb = M @ meat @ M
    return 0.5 * (vb + vb.T)


# --------------------------------------------------------------------------------------------
# robumeta
# --------------------------------------------------------------------------------------------
class RobuResult(FittedModel):
    """A robust variance estimation meta-regression (R robumeta ``robu``): coefficients,
    robust SEs, t tests with ``df`` (Satterthwaite with ``small=True``), the variance
    components of the working model (``tau2``, and ``omega2`` for ``"HIER"``) and, for
    ``"CE"``, robumeta's I^2."""

    model_name = "robu() fit (robumeta)"
    _dict_fields = ("k", "n_clusters", "coef_names", "beta", "se", "zval", "pval", "ci_lb",
                    "ci_ub", "df", "vb", "tau2", "omega2", "I2", "rho", "model", "small",
                    "level", "weights", "method_info")

    n_clusters: int
    df: np.ndarray
    vb: np.ndarray
    tau2: float
    omega2: float | None
    I2: float | None
    rho: float
    model: str
    small: bool
    weights: np.ndarray
    cluster_sizes: np.ndarray
    #: the data (for the forest plot): effect sizes, sampling variances, each one's cluster
    yi: np.ndarray
    vi: np.ndarray
    cluster: list[Any]

    def __init__(self, **kw: Any) -> None:
        self._parts: CR2Parts | None = kw.pop("parts", None)
        #: model-based variance of the coefficients under the working weights (the reference
        #: of ROBUST_ZERO)
        self._v_model = np.zeros((len(kw["beta"]),) * 2)
        self._X: np.ndarray = kw.pop("X")
        self._intercept: bool = kw.pop("intercept")
        for key, val in kw.items():
            setattr(self, key, val)
        self.test = "t"

    def predict(self, newmods: Any = None, *, level: float | None = None) -> Prediction:
        """Predicted average effects ``x' b`` with robust confidence intervals: t quantiles on
        the contrast's Satterthwaite df (``small=True``, as clubSandwich ``linear_contrast``
        on a robu fit) or ``n - p`` df; no prediction interval (robumeta has none: NaN).
        ``newmods`` as in :meth:`RobustResult.predict`."""
        lvl = self.level if level is None else level_percent(level)
        return _predict(self.beta, self.vb, self._parts, float(self.n_clusters - len(self.beta)),
                        self._X, self._intercept, None, lvl, newmods, self._v_model)

    def wald_test(self, coefs: Sequence[int]) -> dict[str, float]:
        """Test that the coefficients ``coefs`` (0-based) are all 0: with ``small=True`` the
        HTZ test with robumeta's working model (clubSandwich ``Wald_test(robu_fit,
        constrain_zero(coefs), vcov = "CR2", test = "HTZ")``), else the Wald F test on
        ``(q, n - p)`` df. Returns ``F``, ``df1``, ``df2``, ``pval``."""
        df2 = float(self.n_clusters - len(self.beta))
        return _wald(self.beta, self.vb, self._parts, df2, coefs, self._v_model)

    @property
    def coefficients(self) -> pd.DataFrame:
        """Coefficient table (estimate, se, tval, df, pval, ci_lb, ci_ub) indexed by name;
        ``to_frame()`` is the contract's tidy table (the df are in :attr:`df`)."""
        return _t_coefficients(self)

    def summary_text(self) -> str:
        label = ("RVE: Correlated Effects Model" if self.model == "CE"
                 else "RVE: Hierarchical Effects Model")
        if self.small:
            label += " with Small-Sample Corrections"
        lines = [label, "", f"Number of studies = {self.n_clusters}",
                 f"Number of outcomes = {self.k} (min = {int(self.cluster_sizes.min())} , "
                 f"mean = {self.cluster_sizes.mean():.2f} , median = "
                 f"{np.median(self.cluster_sizes):g} , max = {int(self.cluster_sizes.max())} )"]
        if self.model == "CE":
            lines.append(f"Rho = {self.rho:g}")
            lines.append(f"I.sq = {self.I2:g}")
            lines.append(f"Tau.sq = {self.tau2:g}")
        else:
            lines.append(f"Omega.sq = {self.omega2:g}")
            lines.append(f"Tau.sq = {self.tau2:g}")
        lines.append("")
        table = pd.DataFrame({"Estimate": self.beta, "StdErr": self.se, "t-value": self.zval,
                              "dfs": self.df, "P(|t|>)": self.pval,
                              f"{self.level:g}% CI.L": self.ci_lb,
                              f"{self.level:g}% CI.U": self.ci_ub}, index=self.coef_names)
        lines.append(table.to_string(float_format=lambda x: f"{x:.5g}", na_rep="NA"))
        if self.small:
            lines.append("---")
            lines.append("Note: If df < 4, do not trust the results")
        lines += [f"Note: {n}" for n in self.method_info.get("notes", [])]
        return "\n".join(lines)


def robu(yi: Any, vi: Any, cluster: Any, *, mods: Any = None, intercept: bool = True,
         data: Any = None, model: str = "CE", rho: float = 0.8, small: bool = True,
         level: float = 95) -> RobuResult:
    """Robust variance estimation meta-regression with robumeta's working models.

    The correlated-effects model (``"CE"``) weights effect i of study j by
    ``1 / (k_j (mean(v_j) + tau^2))``; the hierarchical model (``"HIER"``) by
    ``1 / (v_ij + tau^2 + omega^2)``; ``tau^2`` (and ``omega^2``) are the method-of-moments
    estimates of Hedges, Tipton & Johnson (2010, eqs. for the CE and HIER models; CE with the
    assumed within-study correlation ``rho``), computed as R's robumeta 2.0. The variance of the
    coefficients is the sandwich with the CR2 adjustment and Satterthwaite degrees of freedom
    (``small=True``, Tipton 2015) or CR1 with ``n - p`` degrees of freedom (``small=False``).
    With one effect per study the hierarchical model's two moment equations coincide:
    ``omega^2`` is not identified and set to 0, and ``tau^2`` is the DerSimonian-Laird estimate
    (robumeta divides 0 by 0 there). Coefficients without an estimable robust variance are NaN
    as in :func:`robust`.

    Parameters
    ----------
    yi, vi : array_like or str
        Effect sizes and sampling variances (or column names of ``data``).
    cluster : array_like or str
        Study of each effect (robumeta's ``studynum``).
    mods : array_like or str, optional
        Moderators (a k x m array without intercept, or a formula such as ``"~ x1 + x2"``
        with ``data=``), as in :func:`evsynth.meta`.
    intercept : bool, default True
        Add an intercept.
    data : pandas.DataFrame, optional
        Data frame for column names and formulas.
    model : {"CE", "HIER"}, default "CE"
        Working model (robumeta ``modelweights = "CORR"`` or ``"HIER"``; ``"CORR"`` is
        accepted for ``"CE"``).
    rho : float, default 0.8
        Assumed correlation of effects within a study (CE model).
    small : bool, default True
        Small-sample corrections (Tipton 2015).
    level : float, default 95
        Confidence level (robumeta always prints 95%).

    Returns
    -------
    RobuResult
        ``beta``, ``se``, ``zval`` (t), ``df``, ``pval``, ``ci_lb``, ``ci_ub``, ``tau2``,
        ``omega2`` (HIER), ``I2`` (CE), ``weights`` (per effect, in the input order).

    References
    ----------
    .. [1] Hedges LV, Tipton E, Johnson MC (2010). Robust variance estimation in
           meta-regression with dependent effect size estimates. *Res Synth Methods*
           1(1):39-65. doi:10.1002/jrsm.5
    .. [2] Tipton E (2015). Small sample adjustments for robust variance estimation with
           meta-regression. *Psychol Methods* 20(3):375-393. doi:10.1037/met0000011
    .. [3] Fisher Z, Tipton E (2015). robumeta: An R-package for robust variance estimation
           in meta-analysis. arXiv:1503.02220.
    .. [4] Tanner-Smith EE, Tipton E (2014). Robust variance estimation with dependent effect
           sizes: practical considerations including a software tutorial in Stata and SPSS.
           *Res Synth Methods* 5(1):13-30. doi:10.1002/jrsm.1091

    Examples
    --------
    >>> import evsynth
    >>> yi = [0.30, 0.42, 0.11, 0.25, 0.52, 0.61, 0.05, 0.18]
    >>> vi = [0.02, 0.03, 0.02, 0.04, 0.05, 0.03, 0.02, 0.03]
    >>> res = evsynth.robu(yi, vi, cluster=[1, 1, 2, 2, 3, 3, 4, 4])
    >>> round(res.estimate, 4), round(res.tau2, 4)
    (0.2879, 0.0111)
    """

    from evsynth.models.meta import build_model_matrix

    model_c = choice(model, ("CE", "HIER"), "model", {"CORR": "CE", "CORRELATED": "CE",
                                                     "HIERARCHICAL": "HIER"})
    level = level_percent(level)
    if isinstance(rho, (bool, np.bool_)) or not isinstance(rho, (int, float, np.number)) \
            or not 0 <= float(rho) <= 1:
        raise InputError(f"argument 'rho' is {rho!r}; expected a correlation between 0 and 1")
    small = flag("small", small)
    frame = as_frame(data)
    y = numeric_vector("yi", yi, frame)
    v = numeric_vector("vi", vi, frame)
    k = y.size
    if v.size != k:
        raise InputError(f"argument 'vi' has {v.size} values but 'yi' has {k}")
    bad = np.flatnonzero(v <= 0)
    if bad.size:
        raise InputError(f"row {bad[0] + 1}: field 'vi' is {shown(v[bad[0]])}; expected a "
                         "positive sampling variance")
    codes, _labels = cluster_codes(cluster, k, frame)
    J = len(_labels)
    mm = build_model_matrix(mods, frame, intercept, k, None)
    X = mm.X
    p = X.shape[1]
    if J - p <= 0:
        raise InputError(f"robu(): number of studies ({J}) must be larger than the number of "
                         f"coefficients ({p})")
    sizes = np.bincount(codes, minlength=J).astype(float)
    kj = sizes[codes]
    vbar = (np.bincount(codes, weights=v, minlength=J) / sizes)[codes]
    w0 = 1 / v if model_c == "HIER" else 1 / (kj * vbar)
    XtWX = X.T @ (X * w0[:, None])
    Vi = _inv_sym(XtWX)
    b0 = Vi @ (X.T @ (w0 * y))
    e0 = y - X @ b0
    tr = np.trace
    s_w = _group_sum(X * w0[:, None], codes, J)  # X_j' W_j 1
    t_x = _group_sum(X, codes, J)  # X_j' 1
    sumXWJWX = s_w.T @ s_w
    Qe = float(np.sum(w0 * e0 ** 2))
    omega2 = None
    I2 = None
    notes: list[str] = []
    if model_c == "CE":
        wj = 1 / (sizes * np.bincount(codes, weights=v, minlength=J) / sizes)  # per study
        sumW = float(w0.sum())
        denom = sumW - tr(Vi @ sumXWJWX)
        WK = X.T @ (X * (w0 / kj)[:, None])
        # robumeta's (W/k)[1,1] (X'JX - X'X) summed over studies: w_j / k_j (t_j t_j' - X_j'X_j)
        XtX_wk = X.T @ (X * ((wj / sizes)[codes])[:, None])
        XJX_XX = np.einsum("j,ja,jb->ab", wj / sizes, t_x, t_x) - XtX_wk
        termA = tr(Vi @ WK)
        termB = tr(Vi @ XJX_XX)
        tau2_raw = (Qe - J + termA) / denom + rho * termB / denom
        tau2 = max(tau2_raw, 0.0)
        dfI = J - termA - rho * termB
        I2 = max((Qe - dfI) / Qe * 100, 0.0)
        w = 1 / (kj * (vbar + tau2))
    else:
        sumXJX = t_x.T @ t_x
        sumXWJJX = np.einsum("j,ja,jb->ab", sizes, s_w, t_x)
        sumXJJWX = sumXWJJX.T
        sumXWWX = X.T @ (X * (w0 ** 2)[:, None])
        sumXJWX = t_x.T @ s_w
        sumXWJX = s_w.T @ t_x
        trJJ = float(np.sum(sizes ** 2))
        sumW = float(w0.sum())
        Qa = float(np.sum(np.bincount(codes, weights=e0, minlength=J) ** 2))
        A1 = trJJ - tr(Vi @ sumXJJWX) - tr(Vi @ sumXWJJX) + tr(Vi @ sumXJX @ Vi @ sumXWJWX)
        B1 = k - tr(Vi @ sumXWJX) - tr(Vi @ sumXJWX) + tr(Vi @ sumXJX @ Vi @ sumXWWX)
        C1 = float(v.sum()) - tr(Vi @ sumXJX)
        A2 = sumW - tr(Vi @ sumXWJWX)
        B2 = sumW - tr(Vi @ sumXWWX)
        C2 = k - p
        if J == k:
            # one effect per study: J_j = 1, so A1 = B1 and A2 = B2 and the two moment
            # equations are one equation in tau^2 + omega^2; omega^2 (within studies) is not
            # identified and is 0, tau^2 carries all the heterogeneity (robumeta's formula
            # divides 0 by 0 and lands here or elsewhere by the sign of rounding noise)
            om_raw = math.nan
            omega2 = 0.0
            notes.append("every study has one effect: the within-study variance omega^2 is "
                         "not identified (the moment equations coincide) and is set to 0; "
                         "tau^2 = (Qe - (k - p)) / A2 holds all the heterogeneity")
        else:
            om_raw = ((Qa - C1) * A2 - (Qe - C2) * A1) / (B1 * A2 - B2 * A1)
            omega2 = max(om_raw, 0.0)
        tau2_raw = (Qe - C2) / A2 - omega2 * (B2 / A2)
        tau2 = max(tau2_raw, 0.0)
        w = 1 / (v + tau2 + omega2)
    # the fit with the working-model weights
    M = _inv_sym(X.T @ (X * w[:, None]))
    beta = M @ (X.T @ (w * y))
    e = y - X @ beta
    blocks = Blocks.from_codes(codes, J)
    if small:
        phi = []
        for _, rows in blocks.groups:
            n = rows.shape[1]
            P = np.zeros((rows.shape[0], n, n))
            idx = np.arange(n)
            P[:, idx, idx] = 1 / w[rows]
            phi.append(P)
        # robumeta zeroes eigenvalues <= 1e-10 of I - H_jj (CE) and of
        # D^1/2 (I - H_jj) D^3/2 (HIER); G = U (I - H_jj) Phi U' is c_j^2 (I - H_jj) for the
        # CE working model Phi_j = c_j I and the HIER matrix itself
        tol: float | np.ndarray = ROBU_EIGEN_TOL
        if model_c == "CE":
            tol = ROBU_EIGEN_TOL * (1 / (sizes * (np.bincount(codes, weights=v, minlength=J)
                                                 / sizes + tau2))) ** -2
        parts = cr2(X, e, blocks, phi, tol=tol)
        vb = parts.vcov
        df = satterthwaite_df(parts)
        vtype = "CR2"
    else:
        u = _group_sum(X * (w * e)[:, None], codes, J)
        vb = M @ (u.T @ u) @ M * (J / (J - p))
        df = np.full(p, float(J - p))
        vtype = "CR1"
        parts = None
    st, zero_notes = _t_inference(beta, vb, df, level, M, list(mm.names),
                                  satterthwaite=bool(small))
    notes += zero_notes
    df = st["df"]
    info = {"model": model_c, "rho": float(rho) if model_c == "CE" else None,
            "small": bool(small), "vcov": vtype,
            "df_method": "Satterthwaite (Tipton 2015)" if small else "clusters - p",
            "tau2_raw": float(tau2_raw), "omega2_raw": None if omega2 is None else float(om_raw),
            "level": level, "notes": notes,
            "reference": "robumeta 2.0 robu() (Hedges, Tipton & Johnson 2010; Tipton 2015)"}
    res = RobuResult(k=k, n_clusters=J, coef_names=list(mm.names), beta=beta, se=st["se"],
                      zval=st["tval"], pval=st["pval"], ci_lb=st["ci_lb"], ci_ub=st["ci_ub"],
                      df=df, vb=vb, tau2=float(tau2), omega2=omega2, I2=I2,
                      rho=float(rho), model=model_c, small=bool(small), level=level,
                      weights=w, cluster_sizes=blocks.sizes.copy(), method_info=info,
                      parts=parts if small else None, X=X, intercept=bool(mm.intercept),
                      yi=y, vi=v, cluster=[_labels[c] for c in codes])
    res._v_model = M
    return res

