"""Batch-native numeric kernels for (mixed-effects) meta-analysis models.

Many meta-analyses are stacked in flat arrays ``y`` (effects), ``v`` (sampling variances) and ``X``
(design matrix, one row per study) sorted by group, with group offsets (ragged: each group has its
own k). Every kernel works on all groups at once; a single fit is a batch of one.

Notation follows Viechtbauer (2005, J Educ Behav Stat 30:261) and metafor's ``rma.uni``:
``W = diag(1/(v + tau2))``, ``A = X'WX``, ``P = W - W X A^-1 X' W``, so that ``Y'PY`` is the
(generalised) residual sum of squares and ``PY = W r`` with GLS residuals ``r = y - X beta``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np

#: tau^2 estimators known to the kernels (metafor's ``rma.uni`` method codes)
METHODS = ("EE", "FE", "CE", "DL", "DLIT", "HE", "HS", "HSk", "SJ", "SJIT", "ML", "REML", "EB",
           "PM", "PMM", "GENQ", "GENQM")
#: estimators that need user weights a_i (the generalised Q statistic with weights a_i)
WEIGHTED_METHODS = ("GENQ", "GENQM")
FIXED_METHODS = ("EE", "FE", "CE")

#: the start offset of a single group for ``np.add.reduceat``
_ONE_START = np.zeros(1, dtype=np.intp)


def sum1(x: np.ndarray) -> float:
    """The sum of one group's rows as :meth:`Segments.sum` computes it (``np.add.reduceat``),
    as a Python float: the single-group fast paths use it to stay bitwise equal to the batch
    code."""
    return float(np.add.reduceat(x, _ONE_START)[0])


def row_sums(M: np.ndarray) -> np.ndarray:
    """Per-row sums of a C-contiguous (R, k) array as :meth:`Segments.sum` computes a group of
    k rows (``np.add.reduceat``), bitwise."""
    R, k = M.shape
    return np.add.reduceat(M.reshape(-1), np.arange(0, R * k, k)) if R * k else np.zeros(R)


class Segments:
    """Contiguous groups of rows: ``starts`` offsets into arrays of length ``n`` sorted by group."""

    def __init__(self, sizes: np.ndarray):
        sizes = np.asarray(sizes, dtype=np.int64)
        self.sizes = sizes
        self.G = int(sizes.size)
        self.n = int(sizes.sum())
        self.equal_k: int | None
        self._index: np.ndarray | None = None
        if self.G == 1:  # a single fit: the same arrays, built without the general steps
            self.starts = np.zeros(1, dtype=np.int64)
            self.equal_k = int(sizes[0])
        else:
            self.starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
            self.equal_k = int(sizes[0]) if self.G and np.all(sizes == sizes[0]) else None

    @property
    def index(self) -> np.ndarray:
        """The group of every row (formed on first use: equal-size groups rarely need it)."""
        if self._index is None:
            self._index = (np.zeros(self.n, dtype=np.int64) if self.G == 1
                           else np.repeat(np.arange(self.G), self.sizes))
        return self._index

    def sum(self, x: np.ndarray) -> np.ndarray:
        """Per-group sums of ``x`` (first axis = rows); returns shape (G, ...).

        Always ``np.add.reduceat``: a group's sum then depends only on its own values, not on
        which other groups share the batch or where it sits in memory, so a group fitted alone,
        in a pandas batch or in a Dask partition gets bitwise the same result. (A BLAS
        matrix-vector product ``(G, k) @ ones`` is faster, but its rounding depends on the
        number of rows and the row's position: 44 of 396 sub-batches differed in a test.)"""
        return np.add.reduceat(x, self.starts, axis=0)

    def expand(self, g: np.ndarray) -> np.ndarray:
        """Broadcast a per-group array (G, ...) to rows (n, ...)."""
        if self.equal_k is not None:
            return np.broadcast_to(g[:, None, ...], (self.G, self.equal_k, *g.shape[1:])).reshape(
                self.n, *g.shape[1:])
        return g[self.index]

    def add(self, x: np.ndarray, g: np.ndarray, sign: float = 1.0) -> np.ndarray:
        """Row-wise ``x + sign * g[group]`` without materialising the expanded ``g`` when all
        groups have the same size (broadcasting over a (G, k) view)."""
        if self.equal_k is not None and g.ndim == 1:
            out = x.reshape(self.G, self.equal_k) + sign * g[:, None]
            return out.reshape(self.n)
        return x + sign * self.expand(g)

    def subset(self, groups: np.ndarray) -> tuple[Segments, np.ndarray]:
        """Segments for the selected groups (bool mask of length G) and their rows: a row mask,
        or the row indices in order when few groups are selected (the rows of 2 groups out of
        10^6 were found through a mask of 10^7 rows: ~20 ms per call)."""
        idx = np.flatnonzero(groups)
        if 8 * idx.size >= self.G:
            return Segments(self.sizes[idx]), np.repeat(groups, self.sizes)
        return self.take(idx)

    def take(self, idx: np.ndarray) -> tuple[Segments, np.ndarray]:
        """Segments for the groups ``idx`` (indices, in that order, repeats allowed) and the
        indices of their rows."""
        sizes = self.sizes[idx]
        ends = np.cumsum(sizes)
        rows = np.repeat(self.starts[idx] - (ends - sizes), sizes) + np.arange(
            int(ends[-1]) if idx.size else 0)
        return Segments(sizes), rows


@dataclass
class Design:
    """Stacked data of a batch: effects, variances, design matrix and groups."""

    y: np.ndarray
    v: np.ndarray
    X: np.ndarray  # (n, p)
    seg: Segments
    intercept_only: bool = field(init=False)

    def __post_init__(self) -> None:
        X = self.X
        if X.shape[1] == 1 and X.shape[0] > 1 and X.strides[0] == 0:  # one value broadcast
            self.intercept_only = bool(X[0, 0] == 1.0)
        else:
            self.intercept_only = X.shape[1] == 1 and bool(np.all(X == 1.0))

    @property
    def p(self) -> int:
        return int(self.X.shape[1])

    @property
    def k(self) -> np.ndarray:
        return self.seg.sizes

    def subset(self, groups: np.ndarray) -> Design:
        seg, rows = self.seg.subset(groups)
        return Design(self.y[rows], self.v[rows], self.X[rows], seg)

    def take(self, idx: np.ndarray) -> Design:
        """The groups ``idx`` (indices; repeats allowed) stacked in that order."""
        seg, rows = self.seg.take(idx)
        return Design(self.y[rows], self.v[rows], self.X[rows], seg)

    # -- weighted cross products, per group ---------------------------------------------------
    def xtdx(self, d: np.ndarray) -> np.ndarray:
        """Per-group ``X' diag(d) X`` with shape (G, p, p)."""
        if self.intercept_only:
            return self.seg.sum(d)[:, None, None]
        X = self.X
        if self.seg.equal_k is not None:  # batched matmul (G, p, k) @ (G, k, p): no n x p x p array
            Xr = X.reshape(self.seg.G, self.seg.equal_k, X.shape[1])
            return (Xr * d.reshape(self.seg.G, -1, 1)).transpose(0, 2, 1) @ Xr
        return self.seg.sum(d[:, None, None] * X[:, :, None] * X[:, None, :])

    def xtdy(self, d: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-group ``X' diag(d) y`` with shape (G, p)."""
        if self.intercept_only:
            return self.seg.sum(d * y)[:, None]
        return self.seg.sum((d * y)[:, None] * self.X)

    def residuals(self, beta: np.ndarray) -> np.ndarray:
        """Row-wise ``y - X beta_g`` for per-group coefficients beta (G, p)."""
        if self.intercept_only:
            return self.seg.add(self.y, beta[:, 0], -1.0)
        return self.y - np.einsum("ij,ij->i", self.X, self.seg.expand(beta))


def _inv(A: np.ndarray) -> np.ndarray:
    """Inverse of a stack of symmetric positive-definite matrices (G, p, p)."""
    if A.shape[1] == 1:
        return 1.0 / A
    return np.linalg.inv(A)


def _tr(M: np.ndarray) -> np.ndarray:
    return np.einsum("gii->g", M)


def _tr_prod(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """tr(A B) for stacks of matrices."""
    return np.einsum("gij,gji->g", A, B)


#: a group's expanded trace is recomputed from P itself when ``kappa * (|T1| + 2 |T2| + |T3|)
#: > _TRACE_CANCEL * result`` (see :func:`_trace_pdpd`)
_TRACE_CANCEL = 4e6
#: the largest k for which a flagged group's k x k matrix P is formed (8 bytes * k^2: 128 MB)
_TRACE_MAX_K = 4000
#: elements of the stacked k x k matrices formed at once in :func:`_trace_pdpd` (2^23: 64 MB)
_TRACE_CHUNK = 2**23


def _cond_equilibrated(A: np.ndarray, Ainv: np.ndarray) -> np.ndarray:
    """1-norm condition number of every ``D A D`` (G, p, p), ``D = diag(A)^-1/2``, from A and its
    computed inverse: the factor by which the rounding errors of ``A^-1`` grow in the traces
    ``tr(A^-1 X'DX)`` (the equilibrated matrix: the traces do not depend on the columns' scale)."""
    d = np.sqrt(np.abs(np.diagonal(A, axis1=1, axis2=2)))
    dd = d[:, :, None] * d[:, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        a1 = (np.abs(A) / dd).sum(axis=1).max(axis=1)
    return a1 * (np.abs(Ainv) * dd).sum(axis=1).max(axis=1)


def _complement_basis(des: Design, w: np.ndarray, gs: np.ndarray, rows: np.ndarray, kg: int,
                      cache: dict[bytes, np.ndarray] | None) -> np.ndarray:
    """``B = W^1/2 Q2`` (n, k, k - p) of the groups ``gs`` (all of size ``kg``, rows ``rows``):
    Q2 the last k - p columns of the complete QR of W^1/2 X with the rows sorted by decreasing
    size (:func:`_trace_pdpd`); kept in ``cache`` (the fit's) for its other traces."""
    key = gs.tobytes()
    if cache is not None and key in cache:
        return cache[key]
    n, p = gs.size, des.p
    sw = np.sqrt(w[rows]).reshape(n, kg)
    M = sw[:, :, None] * des.X[rows].reshape(n, kg, p)
    order = np.argsort(-np.abs(M).max(axis=2), axis=1, kind="stable")
    stack = np.arange(n)[:, None]
    Q = np.linalg.qr(M[stack, order], mode="complete")[0]
    B = np.empty((n, kg, kg - p))
    B[stack, order] = Q[:, :, p:]  # back to the original row order
    B *= sw[:, :, None]
    if cache is not None:
        cache[key] = B
    return B


def _trace_pdpd(des: Design, w: np.ndarray, A: np.ndarray, Ainv: np.ndarray,
                terms: tuple[np.ndarray, ...], d1: np.ndarray | None,
                d2: np.ndarray | None = None,
                cache: dict[bytes, np.ndarray] | None = None) -> tuple[np.ndarray, int]:
    """tr(P D1) or tr(P D1 P D2) per group (D = diag(d), None: the identity) from their
    expansions, recomputed accurately for the groups where the expansion cancels. The one home
    of tr(P), tr(PV), tr(PP), tr(PVP), tr(PVPV) (:class:`WeightedFit`) and of the OLS traces of
    the HE estimator (:func:`ols_quantities`, w = 1).

    ``P = W - W X A^-1 X'W`` with row weights ``w`` and ``A = X'WX`` (``Ainv`` its computed
    inverse); ``terms`` is ``(T1, T2)`` for ``tr(P D1) = T1 - T2`` or ``(T1, T2, T3)`` for
    ``tr(P D1 P D2) = T1 - 2 T2 + T3``, formed by the caller as before. The expansion is the fast
    path and stays bitwise the value it always was; T1, T2, T3 >= 0 (sums of non-negative
    products; traces of products of positive semi-definite matrices).

    When to recompute: each term is formed to a few eps relative to itself, except that the
    rounding errors of ``A^-1`` grow with its condition number; the expansion's error is thus
    about ``eps * kappa * (T1 + 2 T2 + T3)`` with kappa the 1-norm condition number of the
    equilibrated A (:func:`_cond_equilibrated`; measured against 40-digit mpmath values on 300
    random meta-regressions, the error was at most ~10x this estimate, median 0.15x). A group is
    flagged when the result is not finite, <= 0, or ``kappa * (T1 + 2 T2 + T3) > C * result``
    with C = :data:`_TRACE_CANCEL` = 4e6: an unflagged result is then accurate to
    ~10 * 4e6 * eps ~ 1e-8 relative (typically 0.15x that; results are compared with metafor
    to ~1e-8, and printed to 4 digits), while a flagged one could have lost more. A
    differential fuzz against metafor found 6 % errors and negative traces (NaN SEs) with
    weights 1e4..2e5 apart; uncentred moderators (e.g. a year, kappa ~ 1e5..1e7) lose
    1e-10..1e-5 relative with ordinary weights: those above ~1e-8 are refined. A smaller C
    (1e4, ~2e-11) refined most year-moderator fits (a QR in every fit and every refit of
    their diagnostics) to move their values by ~1e-9.

    Only meta-regressions are refined, never the intercept-only model: its expansion is what
    the compiled (numba) and single-fit fast paths compute bitwise, and it is ill-conditioned
    only when one study holds > 99.98 % of the weight. (A one-column design other than the
    intercept is refined like p > 1: no fast path computes it.)

    How: with the complete QR ``W^1/2 X = [Q1 Q2] R`` (Householder, ``np.linalg.qr``), I - Q1 Q1'
    = Q2 Q2', so ``P = B B'`` with ``B = W^1/2 Q2`` (k x (k - p)): ``P_ii = sum_j B_ij^2`` and, P
    being symmetric, ``tr(P D1 P D2) = sum_ij P_ij^2 d1_j d2_i``: sums of non-negative terms,
    no cancellation, no A^-1 (Golub & Van Loan 2013, Matrix Computations, 4th ed., sec. 5.2-5.3).
    The rows are sorted by decreasing size before the QR, which keeps Householder QR accurate
    for rows of very different weight (Cox & Higham 1998, "Stability of Householder QR
    factorization for weighted least squares problems", Numerical Analysis 1997, Pitman). Groups
    of one size are factored as one stack (LAPACK per matrix: a group's value does not depend on
    the batch around it). Memory is k x k per flagged group: groups with k > :data:`_TRACE_MAX_K`
    keep the expansion (counted in the second value returned, for a note).

    Returns (traces, number of flagged groups left in their expanded form)."""
    full = len(terms) == 3
    t1, t2 = terms[0], terms[1]
    res = t1 - 2.0 * t2 + terms[2] if full else t1 - t2
    if des.intercept_only or res.size == 0:
        return res, 0
    with np.errstate(invalid="ignore", over="ignore"):
        scale = np.abs(t1) + np.abs(t2) if not full else (
            np.abs(t1) + 2.0 * np.abs(t2) + np.abs(terms[2]))
        bad = ~np.isfinite(res) | ~(_cond_equilibrated(A, Ainv) * scale <= _TRACE_CANCEL * res)
    if not bad.any():
        return res, 0
    res = res.copy()
    seg, p = des.seg, des.p
    groups = np.flatnonzero(bad)
    sizes = seg.sizes[groups]
    skipped = int(np.count_nonzero(sizes > _TRACE_MAX_K))
    for kg in np.unique(sizes[sizes <= _TRACE_MAX_K]).tolist():
        same = groups[sizes == kg]
        step = max(1, _TRACE_CHUNK // (kg * kg))
        for c in range(0, same.size, step):
            gs = same[c:c + step]
            n = gs.size
            rows = (seg.starts[gs][:, None] + np.arange(kg)).reshape(-1)
            B = _complement_basis(des, w, gs, rows, kg, cache)
            e1 = None if d1 is None else d1[rows].reshape(n, kg)
            if not full:  # P_ii = sum_j B_ij^2
                diag = row_sums(np.ascontiguousarray((B * B).reshape(n * kg, kg - p)))
                diag = diag.reshape(n, kg)
                res[gs] = row_sums(diag if e1 is None else diag * e1)
                continue
            P2 = B @ B.transpose(0, 2, 1)
            P2 *= P2
            if e1 is not None:
                P2 *= e1[:, None, :]  # P_ij^2 d1_j
            if d2 is not None:
                P2 *= d2[rows].reshape(n, kg)[:, :, None]  # ... d2_i
            res[gs] = row_sums(P2.reshape(n, kg * kg))
    return res, skipped


class WeightedFit:
    """Weighted least-squares fit of every group at per-group tau^2 (or given row weights).

    Quantities (per group) follow metafor's ``rma.uni`` internals: ``RSS = Y'PY``,
    ``YPPY = Y'PPY``, ``trP = tr(P)``, ``trPP = tr(PP)``.
    """

    #: flagged groups whose traces were left in their expanded form (k too large to form P;
    #: :func:`_trace_pdpd`): the most of any one trace of this fit
    unrefined: int = 0
    #: the QR factors of the groups whose traces were recomputed (:func:`_complement_basis`)
    _bases: dict[bytes, np.ndarray] | None = None

    def __init__(self, des: Design, tau2: np.ndarray | None = None,
                 w: np.ndarray | None = None) -> None:
        self.des = des
        self.tau2 = tau2
        if w is None:
            if tau2 is None:
                raise ValueError("WeightedFit needs tau2 or the row weights w")
            w = 1.0 / des.seg.add(des.v, tau2)
        self.w = w
        self.A = des.xtdx(w)
        self.Ainv = _inv(self.A)
        self.beta = np.einsum("gij,gj->gi", self.Ainv, des.xtdy(w, des.y))
        self.r = des.residuals(self.beta)
        self._cache: dict[str, np.ndarray] = {}

    def _sum(self, key: str, x_fn: Callable[[], np.ndarray]) -> np.ndarray:
        if key not in self._cache:
            self._cache[key] = self.des.seg.sum(x_fn())
        return self._cache[key]

    def _row(self, key: str, x_fn: Callable[[], np.ndarray]) -> np.ndarray:
        if key not in self._cache:
            self._cache[key] = x_fn()
        return self._cache[key]

    @property
    def u(self) -> np.ndarray:
        """PY = W r (row-wise)."""
        return self._row("u", lambda: self.w * self.r)

    @property
    def w2(self) -> np.ndarray:
        return self._row("w2", lambda: self.w * self.w)

    @property
    def RSS(self) -> np.ndarray:
        return self._sum("RSS", lambda: self.u * self.r)

    @property
    def YPPY(self) -> np.ndarray:
        return self._sum("YPPY", lambda: self.u * self.u)

    @property
    def YPPPY(self) -> np.ndarray:
        """Y'PPPY = u'Pu with u = PY = W r (for the observed information of ML/REML)."""
        if "YPPPY" not in self._cache:
            wu = self.w * self.u
            Xtwu = self.des.xtdy(np.ones_like(wu), wu) if not self.des.intercept_only else (
                self.des.seg.sum(wu)[:, None])
            quad = np.einsum("gi,gij,gj->g", Xtwu, self.Ainv, Xtwu)
            self._cache["YPPPY"] = self.des.seg.sum(wu * self.u) - quad
        return self._cache["YPPPY"]

    @property
    def sum_w(self) -> np.ndarray:
        if self.des.intercept_only:
            return self.A[:, 0, 0]
        return self._sum("sw", lambda: self.w)

    @property
    def sum_w2(self) -> np.ndarray:
        return self._sum("sw2", lambda: self.w2)

    @property
    def sum_w3(self) -> np.ndarray:
        return self._sum("sw3", lambda: self.w2 * self.w)

    def _AinvB(self, power: int) -> np.ndarray:
        """A^-1 X'W^power X for power 2 or 3."""
        key = f"AinvB{power}"
        if key not in self._cache:
            if self.des.intercept_only:
                s = self.sum_w2 if power == 2 else self.sum_w3
                self._cache[key] = (s / self.A[:, 0, 0])[:, None, None]
            else:
                d = self.w2 if power == 2 else self.w2 * self.w
                self._cache[key] = np.einsum("gij,gjk->gik", self.Ainv, self.des.xtdx(d))
        return self._cache[key]

    @property
    def trP(self) -> np.ndarray:
        """tr(P) = sum(w) - tr(A^-1 X'W^2X) (recomputed where it cancels: :func:`_trace_pdpd`)."""
        return self._trace((self.sum_w, _tr(self._AinvB(2))), None)

    @property
    def trPP(self) -> np.ndarray:
        """tr(PP) = sum(w^2) - 2 tr(A^-1 X'W^3X) + tr((A^-1 X'W^2X)^2) (recomputed where it
        cancels: :func:`_trace_pdpd`)."""
        M2 = self._AinvB(2)
        return self._trace((self.sum_w2, _tr(self._AinvB(3)), _tr_prod(M2, M2)), None, None)

    def _trace(self, terms: tuple[np.ndarray, ...], d1: np.ndarray | None,
               d2: np.ndarray | None = None) -> np.ndarray:
        """The expansion ``terms`` of tr(P D1) or tr(P D1 P D2), recomputed where it cancels
        (:func:`_trace_pdpd`)."""
        if self._bases is None:
            self._bases = {}
        res, skipped = _trace_pdpd(self.des, self.w, self.A, self.Ainv, terms, d1, d2,
                                   self._bases)
        self.unrefined = max(self.unrefined, skipped)
        return res

    def tr_PVPV(self, v: np.ndarray) -> np.ndarray:
        """tr(PVPV) with V = diag(v), P built from these weights (for SE of tau^2, metafor)."""
        w = self.w
        if self.des.intercept_only:  # 1 x 1 matrices: the same products without einsum
            seg, ainv = self.des.seg, self.Ainv[:, 0, 0]
            d1 = ainv * seg.sum(w**2 * v)
            return seg.sum((w * v) ** 2) - 2.0 * (ainv * seg.sum(w**3 * v**2)) + d1 * d1
        D1 = np.einsum("gij,gjk->gik", self.Ainv, self.des.xtdx(w**2 * v))
        return self._trace((self.des.seg.sum((w * v) ** 2), _tr(np.einsum(
            "gij,gjk->gik", self.Ainv, self.des.xtdx(w**3 * v**2))), _tr_prod(D1, D1)), v, v)

    def tr_PV(self, v: np.ndarray) -> np.ndarray:
        """tr(PV) = sum(w v) - tr(A^-1 X'W V W X) with V = diag(v), P built from these weights
        (the expectation of the generalised Q statistic, DerSimonian & Kacker 2007)."""
        w = self.w
        return self._trace((self.des.seg.sum(w * v), _tr(np.einsum(
            "gij,gjk->gik", self.Ainv, self.des.xtdx(w**2 * v)))), v)

    def tr_PVP(self, v: np.ndarray) -> np.ndarray:
        """tr(PVP) = sum(PV * P) with V = diag(v)."""
        w = self.w
        M2 = self._AinvB(2)
        if self.des.intercept_only:  # 1 x 1 matrices: the same products without einsum
            seg, ainv = self.des.seg, self.Ainv[:, 0, 0]
            return (seg.sum(w**2 * v) - 2.0 * (ainv * seg.sum(w**3 * v))
                    + M2[:, 0, 0] * (ainv * seg.sum(w**2 * v)))
        D1 = np.einsum("gij,gjk->gik", self.Ainv, self.des.xtdx(w**2 * v))
        return self._trace((self.des.seg.sum(w**2 * v), _tr(np.einsum(
            "gij,gjk->gik", self.Ainv, self.des.xtdx(w**3 * v))), _tr_prod(M2, D1)), v, None)

    def logdet_A(self) -> np.ndarray:
        if self.A.shape[1] == 1:
            return np.log(self.A[:, 0, 0])
        return np.linalg.slogdet(self.A)[1]

    @property
    def sum_log_vt(self) -> np.ndarray:
        """sum log(v + tau^2) = -sum log w (the log-determinant of the marginal covariance)."""
        tau2 = self.tau2
        if tau2 is None:
            return self._sum("slv", lambda: -np.log(self.w))
        return self._sum("slv", lambda: np.log(self.des.seg.add(self.des.v, tau2)))


class FusedInterceptFit(WeightedFit):
    """:class:`WeightedFit` of a big intercept-only batch with every per-group sum computed in
    one fused pass (:func:`evsynth.models._fused.weighted_sums`); row-wise arrays (weights,
    residuals) are only formed when asked for. Same quantities, same formulas."""

    tau2: np.ndarray  # always given here (the base class also allows row weights instead)

    def __init__(self, des: Design, tau2: np.ndarray) -> None:
        from evsynth.models import _fused

        self.des = des
        self.tau2 = np.asarray(tau2, dtype=float)
        sums = _fused.weighted_sums(des.y, des.v, des.seg.starts, des.seg.sizes, self.tau2)
        self._set(sums)

    @classmethod
    def from_sums(cls, des: Design, tau2: np.ndarray,
                  sums: dict[str, np.ndarray]) -> FusedInterceptFit:
        """The fit from per-group sums already formed (keys ``sw``, ``beta``, ``RSS``,
        ``slv``, ...; :func:`evsynth.models._fused.two_sums`)."""
        fit = cls.__new__(cls)
        fit.des = des
        fit.tau2 = np.asarray(tau2, dtype=float)
        fit.A = sums["sw"][:, None, None]
        fit.Ainv = 1.0 / fit.A
        fit.beta = sums["beta"][:, None]
        fit._cache = {key: sums[key] for key in ("RSS", "slv", "sw2", "sw3") if key in sums}
        return fit

    def _set(self, sums: dict[str, np.ndarray]) -> None:
        self.A = sums["sw"][:, None, None]
        self.Ainv = 1.0 / self.A
        self.beta = sums["beta"][:, None]
        swu, sw = sums["swu"], sums["sw"]
        self._cache = {"RSS": sums["RSS"], "YPPY": sums["YPPY"], "sw2": sums["sw2"],
                       "sw3": sums["sw3"], "slv": sums["slv"], "YPPPY": sums["swuu"] - swu**2 / sw}

    @property
    def w(self) -> np.ndarray:  # type: ignore[override]  # lazy property for the base's attribute
        return self._row("w", lambda: 1.0 / self.des.seg.add(self.des.v, self.tau2))

    @property
    def r(self) -> np.ndarray:  # type: ignore[override]  # lazy property for the base's attribute
        return self._row("r", lambda: self.des.residuals(self.beta))


def weighted_fit(des: Design, tau2: np.ndarray) -> WeightedFit:
    """The weighted fit at ``tau2``: fused for big intercept-only batches (numba), numpy
    otherwise."""
    if _fusable(des):
        return FusedInterceptFit(des, tau2)
    return WeightedFit(des, tau2)


def ols_quantities(des: Design, notes: list[str] | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OLS residual sum of squares, tr(PV) and tr(PVPV) with P = I - X(X'X)^-1X' (HE estimator).

    The traces of a meta-regression are recomputed where their expansions cancel
    (:func:`_trace_pdpd` with W = I); a note goes to ``notes`` for groups too large for that."""
    if des.intercept_only:  # P = I - J/k: closed forms of the same traces, no matrices
        seg, k = des.seg, des.k.astype(float)
        if _single_fast(des):  # the same operations in Python floats (bitwise)
            n1, y, v = seg.n, des.y, des.v
            kf = float(n1)
            ybar = sum1(y) / kf
            rss1 = sum1((y + -1.0 * ybar) ** 2)
            sv1 = sum1(v)
            sv21 = sum1(v**2)
            m = sv1 / kf
            return (np.array([rss1]), np.array([sv1 - m]),
                    np.array([sv21 - 2.0 * sv21 / kf + m * m]))
        if _fusable(des):
            from evsynth.models import _fused

            rss, sv, sv2 = _fused.ols_sums(des.y, des.v, seg.starts, seg.sizes)
        else:
            rss = seg.sum(seg.add(des.y, seg.sum(des.y) / k, -1.0) ** 2)
            sv, sv2 = seg.sum(des.v), seg.sum(des.v**2)
        return rss, sv - sv / k, sv2 - 2.0 * sv2 / k + (sv / k) ** 2
    ones = np.ones_like(des.y)
    fit = WeightedFit(des, w=ones)
    S = fit.Ainv
    XtVX = des.xtdx(des.v)
    SXtVX = np.einsum("gij,gjk->gik", S, XtVX)
    bases: dict[bytes, np.ndarray] = {}
    trPV, skipped1 = _trace_pdpd(des, ones, fit.A, S, (des.seg.sum(des.v), _tr(SXtVX)), des.v,
                                 cache=bases)
    trPVPV, skipped = _trace_pdpd(
        des, ones, fit.A, S, (des.seg.sum(des.v**2), _tr(np.einsum(
            "gij,gjk->gik", S, des.xtdx(des.v**2))), _tr_prod(SXtVX, SXtVX)), des.v, des.v,
        cache=bases)
    skipped = max(skipped, skipped1)
    if skipped and notes is not None:
        _note_unrefined(notes, skipped)
    return fit.RSS, trPV, trPVPV


def _note_unrefined(notes: list[str], n: int) -> None:
    note = (f"{n} group(s) with k > {_TRACE_MAX_K}: the traces behind the SE of tau^2 cancel "
            "badly for these data and were not recomputed (too large); the SE may be inaccurate")
    if note not in notes:
        notes.append(note)


@dataclass
class Tau2Result:
    """Per-group tau^2 estimates with their convergence record."""

    tau2: np.ndarray
    se_tau2: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    fallback: np.ndarray  # True where the bracketing root finder was used
    notes: list[str] = field(default_factory=list)
    fit: WeightedFit | None = None  # the weighted fit at tau2, when it was formed on the way
    fe: WeightedFit | None = None  # the fit with fixed-effects weights 1 / v
    #: (Q, tr(P)) of the fixed-effects fit when only those were formed (one group, in floats)
    fe_stats: tuple[float, float] | None = None
    #: (w, sum w) at tau^2 when formed for one group in floats (no ``fit``)
    w_sw: tuple[np.ndarray, float] | None = None


def _score(method: str, fit: WeightedFit, target: np.ndarray | None,
           newton: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Estimating equation value (root = estimate; positive = tau^2 too small) and the step.

    - ML: score ``Y'PPY - sum(w)``, expected information ``sum(w^2)`` (Viechtbauer 2005, eq. 9).
    - REML: score ``Y'PPY - tr(P)``, expected information ``tr(PP)`` (Viechtbauer 2005, eq. 11).
    - PM/EB/PMM: ``Q(tau2) - target`` with ``Q = Y'PY`` and ``dQ/dtau2 = -Y'PPY`` (Paule & Mandel
      1982; DerSimonian & Kacker 2007, Newton form). EB's fixed point (Morris 1983, metafor's
      iteration ``k/(k-p) Y'PY = k``) is the same root as PM's ``Y'PY = k - p``.

    With ``newton=True`` the ML/REML step uses the observed information
    (``2 Y'PPPY - tr(PP)`` for REML, ``2 Y'PPPY - sum(w^2)`` for ML: the derivative of the score),
    where it is positive, for quadratic convergence; Fisher scoring elsewhere.
    """
    if method in ("ML", "REML"):
        if method == "ML":
            num, info = fit.YPPY - fit.sum_w, fit.sum_w2
        else:
            num, info = fit.YPPY - fit.trP, fit.trPP
        if newton:
            obs = 2.0 * fit.YPPPY - info
            info = np.where(obs > 0, obs, info)
        return num, num / info
    if target is None:
        raise ValueError(f"method {method!r}: the estimating equation needs its target")
    num = fit.RSS - target
    return num, num / fit.YPPY


def loglik(des: Design, tau2: np.ndarray, reml: bool, fit: WeightedFit | None = None) -> np.ndarray:
    """Log-likelihood per group (metafor's ``ll.ML`` / ``ll.REML`` with ``REMLf=TRUE``); with a
    given ``fit`` (its tau^2 is the one used) the value is kept with the fit, so the
    boundary check and the fit statistics compute it once."""
    if fit is not None and fit.des is des:
        key = "ll_REML" if reml else "ll_ML"
        if key not in fit._cache:
            fit._cache[key] = _loglik(des, reml, fit)
        return fit._cache[key]
    return _loglik(des, reml, fit or weighted_fit(des, tau2))


def _loglik(des: Design, reml: bool, fit: WeightedFit) -> np.ndarray:
    k = des.k
    slv = fit.sum_log_vt
    if not reml:
        return -0.5 * k * np.log(2 * np.pi) - 0.5 * slv - 0.5 * fit.RSS
    p = des.p
    if des.intercept_only:
        logdet_xx = np.log(k.astype(float))
    else:
        logdet_xx = np.linalg.slogdet(des.xtdx(np.ones_like(des.y)))[1]
    return (-0.5 * (k - p) * np.log(2 * np.pi) + 0.5 * logdet_xx - 0.5 * slv
            - 0.5 * fit.logdet_A() - 0.5 * fit.RSS)


def _bracket_root(des: Design, method: str, target: np.ndarray | None, lo: np.ndarray,
                  hi: np.ndarray, tol: float, maxiter: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised safeguarded root finder (Illinois regula falsi with bisection fallback) for
    the estimating equation on [lo, hi] where score(lo) > 0 > score(hi).

    Returns (root, iterations).
    """

    def f(t: np.ndarray) -> np.ndarray:
        return _score(method, WeightedFit(des, t), target)[0]

    flo, fhi = f(lo), f(hi)
    it = np.zeros(lo.shape, dtype=np.int64)
    side = np.zeros(lo.shape)
    for i in range(maxiter):
        width = hi - lo
        done = width <= tol * np.maximum(1.0, hi)
        if np.all(done):
            break
        # regula falsi point, falling back to bisection when it is not strictly inside
        mid = hi - fhi * (hi - lo) / (fhi - flo)
        bad = ~np.isfinite(mid) | (mid <= lo) | (mid >= hi) | (i % 3 == 2)
        mid = np.where(bad, 0.5 * (lo + hi), mid)
        fm = f(mid)
        it += ~done
        pos = fm > 0
        upd_lo = pos & ~done
        upd_hi = ~pos & ~done
        # Illinois modification: halve the function value at the retained end point
        fhi = np.where(upd_lo & (side == 1), fhi / 2, fhi)
        flo = np.where(upd_hi & (side == -1), flo / 2, flo)
        lo = np.where(upd_lo, mid, lo)
        flo = np.where(upd_lo, fm, flo)
        hi = np.where(upd_hi, mid, hi)
        fhi = np.where(upd_hi, fm, fhi)
        side = np.where(upd_lo, 1, np.where(upd_hi, -1, side))
        exact = (fm == 0) & ~done
        lo = np.where(exact, mid, lo)
        hi = np.where(exact, mid, hi)
    return 0.5 * (lo + hi), it


#: groups from which the fused (numba) kernel is used for intercept-only ML/REML/PM batches
FUSED_MIN_GROUPS = 2048


#: the kernels pinned for every fit of the current top-level batch ("fused" or "numpy"; None:
#: chosen by each call's size), see :func:`pinned_kernels`
_PINNED: ContextVar[str | None] = ContextVar("evsynth_pinned_kernels", default=None)


@contextmanager
def pinned_kernels(groups: int) -> Iterator[None]:
    """Pin the kernels of every fit inside to those a batch of ``groups`` groups gets (fused
    from :data:`FUSED_MIN_GROUPS` groups, numpy below), unless an outer call pinned them already.

    The fused (numba) and numpy kernels agree only to ~1e-12 (their sums run in different
    orders); pinned, a group's result no longer depends on the batch around it: the working
    subsets of an iteration, a pandas batch and the Dask partitions of the same data
    (:func:`evsynth.models.dask_batch.meta_batch_dask` pins the whole frame's number of
    groups) all give bitwise the same values."""
    if _PINNED.get() is not None:
        yield
        return
    token = _PINNED.set("fused" if groups >= FUSED_MIN_GROUPS else "numpy")
    try:
        yield
    finally:
        _PINNED.reset(token)


def _fusable(des: Design) -> bool:
    """Fused kernels for big intercept-only batches (or as pinned by :func:`pinned_kernels`),
    when numba is importable."""
    if not des.intercept_only:
        return False
    pinned = _PINNED.get()
    if pinned == "numpy" or (pinned is None and des.seg.G < FUSED_MIN_GROUPS):
        return False
    from evsynth.models import _fused

    return _fused.AVAILABLE


def _single_fast(des: Design) -> bool:
    """Whether the one-group fast paths (Python floats, bitwise the numpy kernels) apply: one
    group, unless the fused kernels are pinned (their results differ in the last bits)."""
    return _SINGLE_FAST and des.seg.G == 1 and _PINNED.get() != "fused"


def _use_fused(des: Design, method: str) -> bool:
    return method in ("ML", "REML", "PM") and _fusable(des)


#: fast paths with bitwise the same results as the array code (the tests check this by
#: switching them off): single intercept-only fits in Python floats (:func:`_newton_one`,
#: :func:`_sj_one`, ...) and the global-maximum scan of equal-k intercept-only batches on a
#: (points x groups, k) array (:func:`_scan_one`)
_SINGLE_FAST = True


def _score_one(method: str, y: np.ndarray, v: np.ndarray, t: float,
               target: float | None) -> tuple[float, float]:
    """:func:`_score` (``newton=True``) of one intercept-only group at tau^2 = ``t``, in Python
    floats: the same floating-point operations in the same order as :class:`WeightedFit` and
    :func:`_score` on a batch of one (the sums are :func:`sum1`, as :meth:`Segments.sum`), so
    bitwise the same values, without ~100 numpy calls on arrays of one element per step."""
    s = sum1

    w = 1.0 / (v + t)
    sw = s(w)
    ainv = _div(1.0, sw)
    beta = ainv * s(w * y)  # einsum(A^-1, X'Wy) of 1 x 1 matrices
    r = y + -beta
    u = w * r
    if method == "PM":
        assert target is not None
        num = s(u * r) - target
        return num, _div(num, s(u * u))
    YPPY = s(u * u)
    w2 = w * w
    sw2 = s(w2)
    if method == "ML":
        num, info = YPPY - sw, sw2
    else:
        m2 = _div(sw2, sw)  # A^-1 X'W^2X
        num = YPPY - (sw - m2)  # Y'PPY - tr(P)
        info = sw2 - 2.0 * _div(s(w2 * w), sw) + m2 * m2  # tr(PP)
    wu = w * u
    swu = s(wu)
    obs = 2.0 * (s(wu * u) - swu * ainv * swu) - info  # 2 Y'PPPY - info
    if obs > 0:
        info = obs
    return num, _div(num, info)


#: the NaN the hardware gives for an invalid operation (0 / 0, inf - inf: on x86 its sign bit
#: is set, unlike ``math.nan``), computed at run time as numpy's arrays get it
_INVALID_NAN = math.inf - math.inf


def _div(a: float, b: float) -> float:
    """``a / b`` with numpy's IEEE semantics (+-inf or NaN for a zero divisor, no exception;
    the NaN's bits as numpy's: ``a`` itself when it is NaN, else the hardware's)."""
    if b == 0:
        if a != a:
            return a
        if a == 0:
            return _INVALID_NAN
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _sj_one(des: Design, tau0: float) -> tuple[np.ndarray, np.ndarray]:
    """SJ estimate and its SE (:func:`estimate_tau2`) for one intercept-only group (k > 1) at
    the start value ``tau0``: the operations of :class:`WeightedFit` (``RSS``, ``tr_PVPV``,
    ``tr_PVP``, ``trPP``) in the same order, per-group quantities in Python floats (squares as
    products, as numpy's ``**2``), so bitwise the same values."""
    y, v = des.y, des.v
    n = y.size
    s = sum1

    km = float(n) - 1.0  # k - p
    w = 1.0 / (v + tau0)
    sw = s(w)
    ainv = _div(1.0, sw)
    r = y + -(ainv * s(w * y))
    u = w * r
    tau2 = _mx(0.0, _div(tau0 * s(u * r), km))
    w2 = w * w
    sw2v = s(w**2 * v)
    m2 = _div(s(w2), sw)
    d1 = ainv * sw2v
    pvpv = s((w * v) ** 2) - 2.0 * (ainv * s(w**3 * v**2)) + d1 * d1
    pvp = sw2v - 2.0 * (ainv * s(w**3 * v)) + m2 * (ainv * sw2v)
    trpp = s(w2) - 2.0 * _div(s(w2 * w), sw) + m2 * m2
    x = _div(tau0 * tau0, km * km) * (2 * pvpv + 4 * tau2 * pvp + 2 * (tau2 * tau2) * trpp)
    se = math.sqrt(x) if x >= 0 else math.nan
    return np.array([tau2]), np.array([se])


def _mx(a: float, b: float) -> float:
    """``np.maximum`` of two floats (NaN propagates; ``a`` on ties)."""
    return a if (a >= b or a != a) else b


def _mn(a: float, b: float) -> float:
    """``np.minimum`` of two floats (NaN propagates; ``a`` on ties)."""
    return a if (a <= b or a != a) else b


def _newton_one(des: Design, method: str, t: float, target: float | None, tol: float,
                maxiter: int) -> tuple[float, int, bool]:
    """The safeguarded Newton iteration of :func:`_iterative` for one intercept-only group in
    Python floats (same steps, same order of operations; bitwise the same iterates).
    Returns (tau2, iterations, converged)."""
    y, v = des.y, des.v
    lo_all, hi_all, tried0, iters = 0.0, np.inf, False, 0
    t = _mx(t, 0.0)
    for _ in range(maxiter):
        score, step = _score_one(method, y, v, t, target)
        if not math.isfinite(step):
            step = 0.0
        pos = score > 0
        lo = _mx(lo_all, t) if pos else lo_all
        hi = _mn(hi_all, t) if not pos else hi_all
        at0 = t == 0 and not pos
        new = t + step
        small_step = abs(step) <= tol * _mx(1.0, t)
        outside = (new < lo or new > hi) and not small_step
        finite_hi = math.isfinite(hi)
        mid = 0.5 * (lo + hi) if finite_hi else lo
        try0 = outside and new < lo and lo == 0 and not tried0
        tried0 = tried0 or try0
        if try0:
            mid = 0.0
        if outside:
            new = mid
        new = 0.0 if at0 else _mx(new, 0.0)
        narrow = (finite_hi and hi - lo <= tol * _mx(1.0, hi) and not small_step and not at0)
        if narrow:
            new = 0.5 * (lo + hi)
        t = new
        lo_all, hi_all = lo, hi
        iters += 1
        if small_step or at0 or narrow:
            return t, iters, True
    return t, iters, False


def _iterative(des: Design, method: str, init: np.ndarray, target: np.ndarray | None,
               tol: float, maxiter: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Safeguarded Newton / Fisher scoring on the estimating equation, for all groups at once.

    Each group keeps a bracket ``[lo, hi]`` (score > 0 at lo, < 0 at hi; lo starts at the
    boundary 0). A step that leaves the bracket is replaced by its midpoint, or by the boundary
    0 itself while no upper end is known, so the iteration cannot oscillate (the idea of
    Numerical Recipes' ``rtsafe``). The boundary is exact: when tau^2 = 0 and the score there is
    <= 0, the estimate is 0. Groups not converged after ``maxiter`` steps go to a bracketing root
    finder. Returns (tau2, converged, iterations, used_fallback).
    """
    G = des.seg.G
    # k = 1 (intercept-only): no equation to solve (the ML/REML score is 0/0); tau^2 = 0 as
    # metafor, without iterations (estimate_tau2 sets it), not 100 steps and the fallback
    one = (des.k == 1) if des.intercept_only else np.zeros(G, dtype=bool)
    if one.all():
        return (np.zeros(G), np.ones(G, dtype=bool), np.zeros(G, dtype=np.int64),
                np.zeros(G, dtype=bool))
    single = _single_fast(des) and des.intercept_only and method in ("ML", "REML", "PM")
    if single:
        t1, it1, conv1 = _newton_one(des, method, _mx(float(init[0]), 0.0),
                                     None if target is None else float(target[0]), tol, maxiter)
        if conv1:  # the usual case: nothing left for the loop or the fallback below
            return (np.array([t1]), np.ones(1, dtype=bool), np.array([it1], dtype=np.int64),
                    np.zeros(1, dtype=bool))
    tau2 = np.where(one, 0.0, np.maximum(init, 0.0))
    lo_all = np.zeros(G)
    hi_all = np.full(G, np.inf)
    tried0 = np.zeros(G, dtype=bool)
    active = ~one
    iters = np.zeros(G, dtype=np.int64)
    idx, sub = np.arange(G), des
    steps = maxiter
    if single:
        tau2, iters, active = np.array([t1]), np.array([it1], dtype=np.int64), np.array([not conv1])
        steps = 0
    elif _use_fused(des, method):
        from evsynth.models import _fused

        tau2, iters, conv = _fused.newton_intercept_only(
            des.y, des.v, des.seg.starts, des.seg.sizes, method, tau2, target, tol, maxiter)
        active = ~conv & ~one
        iters = np.where(one, 0, iters)  # k = 1: the kernel counts one pass
        steps = 0
    for _ in range(steps):
        if not active.any():
            break
        live = active[idx]
        if live.mean() < 0.5:  # shrink the working set once most of its groups are done
            idx, sub = idx[live], sub.subset(live)
        t = tau2[idx]
        fit = WeightedFit(sub, t)
        score, step = _score(method, fit, None if target is None else target[idx],
                             newton=True)
        step = np.where(np.isfinite(step), step, 0.0)
        pos = score > 0
        lo = np.where(pos, np.maximum(lo_all[idx], t), lo_all[idx])
        hi = np.where(~pos, np.minimum(hi_all[idx], t), hi_all[idx])
        at0 = (t == 0) & ~pos
        new = t + step
        small_step = np.abs(step) <= tol * np.maximum(1.0, t)
        outside = ((new < lo) | (new > hi)) & ~small_step
        mid = np.where(np.isfinite(hi), 0.5 * (lo + hi), lo)
        # a step below the boundary tries tau2 = 0 itself once (the MLE is often exactly there)
        try0 = outside & (new < lo) & (lo == 0) & ~tried0[idx]
        tried0[idx] |= try0
        mid = np.where(try0, 0.0, mid)
        new = np.where(outside, mid, new)
        new = np.where(at0, 0.0, np.maximum(new, 0.0))
        narrow = np.isfinite(hi) & (hi - lo <= tol * np.maximum(1.0, hi)) & ~small_step & ~at0
        new = np.where(narrow, 0.5 * (lo + hi), new)
        was = active[idx]
        tau2[idx] = np.where(was, new, t)
        lo_all[idx], hi_all[idx] = lo, hi
        iters[idx] += was
        done = small_step | at0 | narrow
        active[idx[done]] = False
    return _bracket_fallback(des, method, target, tau2, iters, active, tol)


def _bracket_fallback(des: Design, method: str, target: np.ndarray | None, tau2: np.ndarray,
                      iters: np.ndarray, active: np.ndarray,
                      tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The end of :func:`_iterative`: groups still ``active`` (not converged) get the root of
    the estimating equation from the bracketing root finder (``tau2`` and ``iters`` updated in
    place). Returns (tau2, converged, iterations, used_fallback)."""
    G = des.seg.G
    converged = ~active
    fallback = np.zeros(G, dtype=bool)
    if active.any():
        # bracketing fallback on the estimating equation
        sub = des.subset(active)
        tgt = None if target is None else target[active]
        f0 = _score(method, WeightedFit(sub, np.zeros(sub.seg.G)), tgt)[0]
        root = np.zeros(sub.seg.G)
        pos = f0 > 0
        if pos.any():
            sub2 = sub.subset(pos)
            tgt2 = None if tgt is None else tgt[pos]
            ybar = sub2.seg.sum(sub2.y) / sub2.k
            spread = sub2.seg.sum((sub2.y - sub2.seg.expand(ybar)) ** 2) / sub2.k
            hi = np.maximum(10.0 * spread, 10.0 * sub2.seg.sum(sub2.v) / sub2.k) + 1.0
            for _ in range(60):
                fhi = _score(method, WeightedFit(sub2, hi), tgt2)[0]
                if np.all(fhi < 0):
                    break
                hi = np.where(fhi >= 0, hi * 4.0, hi)
            lo = np.zeros(sub2.seg.G)
            r, it = _bracket_root(sub2, method, tgt2, lo, hi, tol)
            root[pos] = r
            sub_iters = np.zeros(sub.seg.G, dtype=np.int64)
            sub_iters[pos] = it
            iters[active] += sub_iters
        tau2[active] = root
        fallback[active] = True
        converged[active] = True
    return tau2, converged, iters, fallback


def estimate_tau2(des: Design, method: str, *, tol: float = 1e-12, maxiter: int = 100,
                  reml_ll0check: bool = True, init: float | None = None,
                  a: np.ndarray | None = None) -> Tau2Result:
    """Estimate tau^2 for every group with the given method (metafor ``rma.uni`` codes).

    Closed forms: DL (DerSimonian & Laird 1986), HE (Hedges 1983; Hedges & Olkin 1985),
    HS/HSk (Hunter & Schmidt 2004), SJ (Sidik & Jonkman 2005), GENQ (generalised Q with user
    weights ``a``; DerSimonian & Kacker 2007, Jackson 2013). Iterative: ML, REML (Fisher
    scoring; Viechtbauer 2005), PM (Paule & Mandel 1982), EB (Morris 1983; Berkey et al. 1995),
    PMM (median-unbiased PM; Viechtbauer 2021, metafor), GENQM (median-unbiased GENQ; metafor),
    DLIT/SJIT (iterated DL/SJ). SEs of tau^2 follow metafor's ``rma.uni``. Every estimate is
    >= 0.

    ``init`` is metafor's ``control$tau2.init``: the start of ML/REML/EB/PM/PMM/DLIT/SJIT (the
    estimate is the same root) and, as in metafor, the value ``tau2_0`` of the one-step SJ
    estimator (which changes it). ``a`` (row weights) is needed by GENQ/GENQM only; no other
    estimator depends on user weights (metafor 3.8 ``rma.uni``).
    """
    G = des.seg.G
    k = des.k.astype(float)
    p = des.p
    zeros = np.zeros(G)
    conv = np.ones(G, dtype=bool)
    iters = np.zeros(G, dtype=np.int64)
    fallback = np.zeros(G, dtype=bool)
    notes: list[str] = []
    if method in FIXED_METHODS:
        return Tau2Result(zeros.copy(), np.full(G, np.nan), conv, iters, fallback)

    if _single_fast(des) and des.intercept_only and des.y.size > 0:
        if method in ("DL", "HE"):
            return _closed_form_one(des, method)
        if method in ("EB", "PM", "PMM"):
            return _pm_one(des, method, tol, maxiter, init)
    v = des.v
    fe = weighted_fit(des, zeros)  # fixed-effects weights 1 / v
    se = np.full(G, np.nan)
    fit_at_tau2: WeightedFit | None = None  # kept for the iterative estimators
    se_fits: list[WeightedFit] = [fe]  # the fits whose traces give the SE of tau^2
    if method in ("HS", "HSk"):
        rss = fe.RSS * (k / (k - p) if method == "HSk" else 1.0)
        tau2 = np.maximum(0.0, (rss - k) / fe.sum_w)
        se = np.sqrt(1 / fe.sum_w**2 * (2 * (k - p) + 4 * tau2 * fe.trP + 2 * tau2**2 * fe.trPP))
        if method == "HSk":
            se = k / (k - p) * se
    elif method == "HE":
        rss0, trPV, trPVPV = ols_quantities(des, notes)
        tau2 = np.maximum(0.0, (rss0 - trPV) / (k - p))
        se = np.sqrt(1 / (k - p) ** 2 * (2 * trPVPV + 4 * tau2 * trPV + 2 * tau2**2 * (k - p)))
    elif method in ("DL", "DLIT"):
        tau2 = np.maximum(0.0, (fe.RSS - (k - p)) / fe.trP)
        if method == "DLIT":
            start = tau2 if init is None else np.full(G, float(init))
            tau2, conv, iters = _fixed_point(
                des, start, lambda f, t: (f.RSS - (f.des.k - p)) / f.trP, tol, maxiter)
        fit = fe if method == "DL" else weighted_fit(des, tau2)
        se_fits.append(fit)
        se = np.sqrt(1 / fit.trP**2 * (2 * (k - p) + 4 * tau2 * fit.trP + 2 * tau2**2 * fit.trPP))
    elif method in ("SJ", "SJIT"):
        ybar = des.seg.sum(des.y) / k
        tau0 = des.seg.sum((des.y - des.seg.expand(ybar)) ** 2) / k
        if init is not None:  # metafor: tau2.init is the SJ estimator's tau2_0
            tau0 = np.full(G, float(init))
        if method == "SJ" and _single_fast(des) and des.intercept_only and des.y.size > 1:
            tau2, se = _sj_one(des, float(tau0[0]))
        elif method == "SJ":
            fit0 = WeightedFit(des, tau0)
            se_fits.append(fit0)
            tau2 = np.maximum(0.0, tau0 * fit0.RSS / (k - p))
            se = np.sqrt(tau0**2 / (k - p) ** 2 * (2 * fit0.tr_PVPV(v)
                         + 4 * tau2 * fit0.tr_PVP(v) + 2 * tau2**2 * fit0.trPP))
        else:
            tau2, conv, iters = _fixed_point(des, tau0, lambda f, t: t * f.RSS / (f.des.k - p), tol,
                                             maxiter)
            tau2 = np.maximum(0.0, tau2)
            w = 1.0 / (v + des.seg.expand(tau2))
            se = np.sqrt(2 * k**2 / (k - p) / des.seg.sum(w) ** 2)
    elif method in ("ML", "REML", "EB", "PM", "PMM"):
        target = None
        if method in ("EB", "PM"):
            target = k - p
        elif method == "PMM":
            from scipy import stats  # imported here: scipy.stats takes ~0.3 s to import

            target = stats.chi2.ppf(0.5, k - p)
        if init is not None:  # metafor's control$tau2.init
            start = np.full(G, float(init))
        elif method in ("ML", "REML"):
            rss0, trPV, _ = ols_quantities(des)
            start = np.maximum(0.0, (rss0 - trPV) / (k - p))  # HE start, as metafor
        else:
            start = zeros.copy()
        tau2, conv, iters, fallback = _iterative(des, "PM" if target is not None else method,
                                                 start, target, tol, maxiter)
        if method in ("ML", "REML"):
            tau2 = _other_maxima(des, method, start, tau2, tol, notes)
        if method in ("ML", "REML") and reml_ll0check:
            # global check against the boundary (metafor's ll0check): keep tau2 = 0 when the
            # likelihood there is higher than at the interior root
            reml = method == "REML"
            fit = weighted_fit(des, tau2)
            ll_est = loglik(des, tau2, reml, fit=fit)
            ll_0 = loglik(des, zeros, reml, fit=fe)
            worse = (ll_0 > ll_est + 1e-10 * np.maximum(1.0, np.abs(ll_est))) & (tau2 > 0)
            if worse.any():
                tau2 = np.where(worse, 0.0, tau2)
                notes.append(f"{int(worse.sum())} group(s): root was a local maximum; the "
                             "likelihood is higher at tau^2 = 0, which was taken")
                fit = weighted_fit(des, tau2)
        else:
            fit = weighted_fit(des, tau2)
        fit_at_tau2 = fit
        se_fits.append(fit)
        if method == "ML":
            se = np.sqrt(2 / fit.sum_w2)
        elif method == "REML":
            se = np.sqrt(2 / fit.trPP)
        else:
            se = np.sqrt(2 * k**2 / (k - p) / fit.sum_w**2)
    elif method in WEIGHTED_METHODS:
        if a is None:
            raise ValueError(f"method {method!r} needs the user weights a")
        fa = WeightedFit(des, w=a)  # P_A = A - A X (X'AX)^-1 X'A
        se_fits.append(fa)
        trP, trPV = fa.trP, fa.tr_PV(v)
        if method == "GENQ":  # E[Q_A] = tr(P_A V) + tau^2 tr(P_A) (DerSimonian & Kacker 2007)
            tau2 = np.maximum(0.0, (fa.RSS - trPV) / trP)
        else:
            tau2, conv, iters = _genqm(des, a, fa.RSS, tol, maxiter)
        se = np.sqrt(1 / trP**2 * (2 * fa.tr_PVPV(v) + 4 * tau2 * fa.tr_PVP(v)
                                   + 2 * tau2**2 * fa.trPP))
    else:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    unrefined = max(f.unrefined for f in se_fits)
    if unrefined:
        _note_unrefined(notes, unrefined)
    final = fit_at_tau2
    # k == 1 (intercept-only): tau^2 = 0 as metafor
    one = des.k == 1
    if one.any():
        tau2 = np.where(one, 0.0, tau2)
        se = np.where(one, np.nan, se)
        final = None
    return Tau2Result(tau2, se, conv, iters, fallback, notes, fit=final, fe=fe)


def _fe_one(des: Design) -> tuple[np.ndarray, float, float, np.ndarray, float, float, float]:
    """The fixed-effects fit (w = 1 / v) of one intercept-only group as :class:`WeightedFit`
    computes it, in floats: (w, sum w, Q = RSS, w^2, sum w^2, sum w^2 / sum w, tr(P))."""
    y, v = des.y, des.v
    s = sum1

    w = 1.0 / (v + 0.0)
    sw = s(w)
    beta = _div(1.0, sw) * s(w * y)
    r = y + -beta
    u = w * r
    rss = s(u * r)
    w2 = w * w
    sw2 = s(w2)
    m2 = _div(sw2, sw)
    return w, sw, rss, w2, sw2, m2, sw - m2


def _closed_form_one(des: Design, method: str) -> Tau2Result:
    """DL or HE (:func:`estimate_tau2`) of one intercept-only group in Python floats: the
    operations of :class:`WeightedFit` at tau^2 = 0 (sums as the same BLAS products
    :func:`sum1`, as :meth:`Segments.sum`) and of the estimator's formulas in their order, so
    bitwise the same tau^2 and SE; the fixed-effects Q and tr(P) are kept in ``fe_stats``."""
    n = des.y.size

    s = sum1

    df = float(n) - 1.0  # k - p
    w, sw, rss, w2, sw2, m2, trp = _fe_one(des)
    if method == "HE":
        rss0, trpv, trpvpv = (float(x[0]) for x in ols_quantities(des))
        tau2 = _mx(0.0, _div(rss0 - trpv, df))
        x = _div(1, df * df) * (2 * trpvpv + 4 * tau2 * trpv + 2 * (tau2 * tau2) * df)
    else:
        trpp = sw2 - 2.0 * _div(s(w2 * w), sw) + m2 * m2
        tau2 = _mx(0.0, _div(rss - df, trp))
        x = _div(1, trp * trp) * (2 * df + 4 * tau2 * trp + 2 * (tau2 * tau2) * trpp)
    se = math.sqrt(x) if (x >= 0 or x != x) else _INVALID_NAN
    if n == 1:  # k = 1: tau^2 = 0 as metafor
        tau2, se = 0.0, math.nan
    return Tau2Result(np.array([tau2]), np.array([se]), np.ones(1, dtype=bool),
                      np.zeros(1, dtype=np.int64), np.zeros(1, dtype=bool), [],
                      fe_stats=(rss, trp))


def _pm_one(des: Design, method: str, tol: float, maxiter: int,
            init: float | None) -> Tau2Result:
    """EB, PM or PMM (:func:`estimate_tau2`) of one intercept-only group: the same iteration
    (:func:`_iterative`, whose one-group steps run in floats) and the SE of tau^2 from the
    weights at the estimate in Python floats (the same BLAS sum, the same operations), so
    bitwise the same values; the fixed-effects Q and tr(P) in ``fe_stats``."""
    n = des.y.size
    k = des.k.astype(float)
    if method == "PMM":
        from scipy import stats  # imported here: scipy.stats takes ~0.3 s to import

        target = stats.chi2.ppf(0.5, k - 1)
    else:
        target = k - 1
    start = np.zeros(1) if init is None else np.full(1, float(init))
    tau2, conv, iters, fallback = _iterative(des, "PM", start, target, tol, maxiter)
    t = float(tau2[0])
    kf = float(n)
    w = 1.0 / (des.v + t)
    sw = sum1(w)
    x = _div(_div(2 * (kf * kf), kf - 1.0), sw * sw)
    se = math.sqrt(x) if (x >= 0 or x != x) else _INVALID_NAN
    w_sw: tuple[np.ndarray, float] | None = (w, sw)
    if n == 1:  # k = 1: tau^2 = 0 as metafor
        tau2, se, w_sw = np.zeros(1), math.nan, None
    fe = _fe_one(des)
    return Tau2Result(tau2, np.array([se]), conv, iters, fallback, [], fe_stats=(fe[2], fe[6]),
                      w_sw=w_sw)


#: size (rows x coefficients) of one stacked fit in the global-maximum scan of
#: :func:`_other_maxima` (2^20: a k = 10 fit or a batch of 6,500 such groups scans its 16 grid
#: points in one fit; a meta-regression with k * p >= 2^19 scans them one at a time without
#: copying its rows)
_SCAN_ROWS = 2**20


def _other_maxima(des: Design, method: str, init: np.ndarray, tau2: np.ndarray, tol: float,
                  notes: list[str], n_grid: int = 16) -> np.ndarray:
    """Make the ML/REML estimate the global maximum on tau^2 >= 0, not just the root the
    iteration reached.

    The ML/REML likelihood of tau^2 need not be unimodal (Viechtbauer 2005, J Educ Behav Stat
    30:261, discusses multiple maxima): the iteration can stop at a local maximum, interior or at
    the boundary 0, while another one is higher (seen in the benchmark: a k = 10 meta-analysis with
    REML maxima at tau^2 = 0.0019 and 0.0692, log-likelihoods -6.9025 and -6.8325). For every group
    the score is scanned on a grid in (0, upper], upper = max(2 tau^2, start, sample variance of
    y); every down-crossing of the score that does not contain the current estimate is refined
    with the bracketing root finder, and the candidate with the highest likelihood is kept.
    Limit: a maximum below the first grid point (upper / n_grid^2) is not seen (fuzz round 5:
    an interior ML maximum at 0.0046 beside a local one at 0, first point 0.0098).
    """
    if _fusable(des):
        from evsynth.models import _fused

        out = _fused.global_maxima(des.y, des.v, des.seg.starts, des.seg.sizes, method, init,
                                   tau2, tol, n_grid)
        _note_moved(notes, int(np.sum(out != tau2)))
        return out
    if _single_fast(des) and des.intercept_only and des.y.size > 1 and not (
            _one_has_other_maxima(des, method, float(init[0]), float(tau2[0]), n_grid)):
        return tau2  # one group, no down-crossing of the score away from the estimate
    k = des.k.astype(float)
    seg = des.seg
    ybar = seg.sum(des.y) / k
    s2 = seg.sum(seg.add(des.y, ybar, -1.0) ** 2) / np.maximum(k - 1, 1)
    upper = np.maximum(np.maximum(2 * tau2, init), s2)
    live = (upper > 0) & (des.k > 1)
    if not live.any():
        return tau2
    sub = des if live.all() else des.subset(live)
    up, cur = upper[live], tau2[live]
    grid = up[:, None] * (np.arange(1, n_grid + 1) / n_grid)[None, :] ** 2
    # the grid points of every group in stacked fits (grid-major copies of the rows), as many
    # points per fit as keep the stacked rows within _SCAN_ROWS: all at once for small data,
    # one point at a time on the data themselves (no copy) for a big meta-regression
    G = sub.seg.G
    per_fit = max(1, min(n_grid, _SCAN_ROWS // max(sub.y.size * sub.p, 1)))
    scores = np.empty((G, n_grid))
    if _SINGLE_FAST and sub.intercept_only and sub.seg.equal_k is not None and per_fit == n_grid:
        scores[:] = _scan_one(method, sub.y, sub.v, grid)
        per_fit = n_grid + 1  # done: skip the stacked fits below
    for j0 in range(0, n_grid if per_fit <= n_grid else 0, per_fit):
        m = min(per_fit, n_grid - j0)
        if m == 1:
            stacked = sub
        else:
            rows = np.tile(np.arange(sub.y.size), m)
            stacked = Design(sub.y[rows], sub.v[rows], sub.X[rows],
                             Segments(np.tile(sub.seg.sizes, m)))
        scores[:, j0:j0 + m] = _score(method, WeightedFit(stacked, grid[:, j0:j0 + m].T.ravel()),
                                      None)[0].reshape(m, G).T
    reml = method == "REML"
    # down-crossings of the score between neighbouring grid points, all at once (they depend on
    # the scan only, not on the candidates found so far)
    downs = (scores[:, :-1] > 0) & (scores[:, 1:] <= 0)
    downs &= ~((grid[:, :-1] <= cur[:, None]) & (cur[:, None] <= grid[:, 1:]))  # own root
    if not downs.any():
        _note_moved(notes, 0)
        return tau2
    best_t = cur.copy()
    best_ll = loglik(sub, best_t, reml)
    # every down-crossing refined in one call of the root finder, the groups stacked column by
    # column (each group's iteration and log-likelihood depend on its own rows only: the same
    # values as one call per grid column, in far fewer steps); then the candidates compared
    # column by column, in the grid's order
    cols = np.flatnonzero(downs.any(axis=0))
    which = [np.flatnonzero(downs[:, j]) for j in cols]
    groups = np.concatenate(which)
    jj = np.repeat(cols, [w.size for w in which])
    sub2 = sub.take(groups)
    root, _ = _bracket_root(sub2, method, None, grid[groups, jj], grid[groups, jj + 1], tol)
    ll = loglik(sub2, root, reml)
    at = 0
    for idx in which:
        r, lj = root[at:at + idx.size], ll[at:at + idx.size]
        at += idx.size
        better = lj > best_ll[idx] + 1e-10 * np.maximum(1.0, np.abs(lj))
        best_t[idx[better]], best_ll[idx[better]] = r[better], lj[better]
    moved = best_t != cur
    _note_moved(notes, int(moved.sum()))
    if not moved.any():
        return tau2
    out = tau2.copy()
    out[np.flatnonzero(live)[moved]] = best_t[moved]
    return out


def _one_has_other_maxima(des: Design, method: str, init: float, tau2: float,
                          n_grid: int) -> bool:
    """Whether the scan of :func:`_other_maxima` finds a down-crossing of the score away from
    the estimate for one intercept-only group (k > 1): its first steps in Python floats, the
    same operations in the same order (bitwise the same grid and scores). When it does, the
    general code refines the crossings."""
    y, v = des.y, des.v
    k = y.size
    ybar = sum1(y) / k
    d = y + -1.0 * ybar
    s2 = sum1(d**2) / _mx(k - 1.0, 1.0)
    upper = _mx(_mx(2 * tau2, init), s2)
    if not upper > 0:
        return False
    grid = upper * (np.arange(1, n_grid + 1) / n_grid) ** 2
    if n_grid * k > _SCAN_ROWS:
        return True  # the general code's point-by-point scan
    scores = _scan_one(method, y, v, grid[None, :])[0]
    downs = (scores[:-1] > 0) & (scores[1:] <= 0)
    downs &= ~((grid[:-1] <= tau2) & (tau2 <= grid[1:]))
    return bool(downs.any())


def _scan_one(method: str, y: np.ndarray, v: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """ML/REML scores at every grid point of intercept-only groups of equal size k (``y``,
    ``v`` flat, G * k rows; ``grid`` (G, m)): the stacked fit of :func:`_other_maxima`
    (grid-major rows, one group per grid point and group) as an (m * G, k) array, the same
    operations in the same order (bitwise the same scores), without building the stacked
    design. Returns (G, m)."""
    G, m = grid.shape
    k = y.size // G
    w = (1.0 / (v.reshape(1, G, k) + 1.0 * grid.T[:, :, None])).reshape(m * G, k)
    yy = np.broadcast_to(y.reshape(1, G, k), (m, G, k)).reshape(m * G, k)
    sw = row_sums(w)
    A = sw[:, None, None]
    beta = np.einsum("gij,gj->gi", 1.0 / A, row_sums(w * yy)[:, None])
    u = w * (yy + -1.0 * beta[:, 0][:, None])
    YPPY = row_sums(u * u)
    if method == "ML":
        out = YPPY - sw
    else:
        out = YPPY - (sw - _tr((row_sums(w * w) / A[:, 0, 0])[:, None, None]))
    return out.reshape(m, G).T


def _note_moved(notes: list[str], n: int) -> None:
    if n:
        notes.append(f"{n} group(s): the iteration reached a local maximum of the likelihood; a "
                     "higher maximum was found by a scan of the score and taken")


def _fixed_point(des: Design, start: np.ndarray,
                 update: Callable[[WeightedFit, np.ndarray], np.ndarray], tol: float,
                 maxiter: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Iterate ``tau2 <- max(0, update(fit(tau2), tau2))`` (DLIT, SJIT) for all groups.

    Groups whose iteration has not settled after ``10 * maxiter`` steps (the DLIT map can cycle;
    metafor then stops with an error) are solved by bisection on ``h(t) = update(t) - t`` over a
    bracket with h > 0 at the lower and h <= 0 at the upper end, so a true fixed point is
    returned, never the last iterate. A group with no sign change keeps converged = False.
    """
    tau2 = np.maximum(0.0, start)
    G = des.seg.G
    active = np.ones(G, dtype=bool)
    iters = np.zeros(G, dtype=np.int64)
    for _ in range(maxiter * 10):
        if not active.any():
            break
        fit = WeightedFit(des, tau2)
        new = np.maximum(0.0, update(fit, tau2))
        change = np.abs(new - tau2)
        tau2 = np.where(active, new, tau2)
        iters += active
        active &= ~(change <= tol * np.maximum(1.0, new))
    if active.any():
        sub = des.subset(active)

        def h(t: np.ndarray) -> np.ndarray:
            return np.maximum(0.0, update(WeightedFit(sub, t), t)) - t

        lo = np.zeros(sub.seg.G)
        h_lo = h(lo)
        hi = np.maximum(tau2[active], 1e-12) * 2
        for _ in range(200):
            bad = h(hi) > 0
            if not bad.any():
                break
            hi = np.where(bad, hi * 4, hi)
        ok = (h_lo > 0) & (h(hi) <= 0)
        for _ in range(300):
            mid = 0.5 * (lo + hi)
            pos = h(mid) > 0
            lo, hi = np.where(pos, mid, lo), np.where(pos, hi, mid)
            if np.all(hi - lo <= tol * np.maximum(1.0, hi) * 1e-2):
                break
        root = np.where(h_lo <= 0, 0.0, 0.5 * (lo + hi))
        idx = np.flatnonzero(active)
        tau2[idx] = root
        solved = ok | (h_lo <= 0)
        active[idx[solved]] = False
    return tau2, ~active, iters


def genq_lambdas(des: Design, a: np.ndarray, tau2: float, g: int = 0) -> np.ndarray:
    """The k - p positive weights ``lambda`` of ``Q_A = sum lambda_j chi^2_1`` for group ``g`` at
    ``tau2``: eigenvalues of ``S P_A S``, ``S = diag(sqrt(v + tau^2))``, ``P_A = A - A X
    (X'AX)^-1 X'A`` (Biggerstaff & Jackson 2008; Jackson 2013; metafor ``.GENQ.func``)."""
    s0, kg = int(des.seg.starts[g]), int(des.seg.sizes[g])
    X = des.X[s0:s0 + kg]
    ag = a[s0:s0 + kg]
    AX = ag[:, None] * X
    P = np.diag(ag) - AX @ np.linalg.solve(X.T @ AX, AX.T)
    sd = np.sqrt(des.v[s0:s0 + kg] + tau2)
    lam = np.linalg.eigvalsh(sd[:, None] * P * sd[None, :])[::-1]
    return np.maximum(lam[:kg - des.p], 0.0)


def _genqm(des: Design, a: np.ndarray, Q: np.ndarray, tol: float,
           maxiter: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GENQM: the median-unbiased generalised-Q estimate, the tau^2 at which the observed
    ``Q_A`` is the median of its distribution, ``P(Q_A(tau^2) > Q_obs) = 0.5``, or 0 when that
    probability already exceeds 0.5 at tau^2 = 0 (metafor ``rma.uni``, method "GENQM"; the
    distribution of the quadratic form by :func:`evsynth.models.heterogeneity.qf_sf`)."""
    from scipy.optimize import brentq

    from evsynth.models.heterogeneity import qf_sf

    G = des.seg.G
    out = np.zeros(G)
    conv = np.ones(G, dtype=bool)
    iters = np.zeros(G, dtype=np.int64)
    for g in range(G):
        if des.seg.sizes[g] <= des.p:
            continue

        def f(t: float, g: int = g) -> float:
            return qf_sf(float(Q[g]), genq_lambdas(des, a, t, g)) - 0.5

        if f(0.0) >= 0:
            continue
        hi = max(1.0, float(np.var(des.y[des.seg.starts[g]:des.seg.starts[g]
                                         + des.seg.sizes[g]])))
        while f(hi) < 0:
            hi *= 4.0
            if hi > 1e300:
                conv[g] = False
                break
        if not conv[g]:
            out[g] = np.nan
            continue
        root, info = brentq(f, 0.0, hi, xtol=tol * 1e-3, rtol=4 * np.finfo(float).eps,
                            maxiter=max(maxiter, 200), full_output=True, disp=False)
        out[g], iters[g], conv[g] = root, info.iterations, info.converged
    return out, conv, iters
