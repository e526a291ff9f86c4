"""Block-diagonal likelihood engine of :func:`evsynth.meta_mv`.

The marginal covariance of the effect sizes is ``M = V + sum_t Z_t D_t Z_t'`` (metafor's
``rma.mv``; Viechtbauer 2010, J Stat Softw 36(3), doi:10.18637/jss.v036.i03). Effects that share
no sampling covariance and no level of any random-effects grouping are independent, so ``M`` is
block diagonal over the connected components of the graph "shares a non-zero ``V`` entry or a
grouping level". The engine finds these components once, stacks components of equal size into
3-D arrays and evaluates the (restricted) log-likelihood, its gradient and everything else with
batched numpy linear algebra (``np.linalg.cholesky`` / ``inv`` on stacked ``s x s`` blocks):
memory is linear in ``k`` (times the block size) and time linear in the number of blocks. No
``k x k`` matrix, let alone its inverse, is ever formed.

Log-likelihoods (metafor ``.ll.rma.mv``, with its constants, so logLik/AIC/BIC agree):

* ML:   ``-k/2 log(2 pi) - 1/2 log|M| - 1/2 r' M^-1 r``
* REML: ``-(k-p)/2 log(2 pi) + 1/2 log|X'X| - 1/2 log|M| - 1/2 log|X'M^-1 X| - 1/2 r'M^-1 r``

with ``r = y - X b`` and ``b`` the GLS estimate. Gradient with respect to any parameter ``theta``
(Harville 1977, J Am Stat Assoc 72:320, doi:10.1080/01621459.1977.10480998):
``dl/dtheta = sum_ij Gamma_ij dM_ij/dtheta`` with ``Gamma = -1/2 P + 1/2 (P y)(P y)'`` (REML;
``P = W - W X (X'WX)^-1 X'W``, ``W = M^-1``; ML: ``P`` replaced by ``W`` in the first term); only
the diagonal blocks of ``Gamma`` are needed because ``dM/dtheta`` is block diagonal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from evsynth.models.multivariate._terms import SigmaTerm, StructTerm

LOG2PI = float(np.log(2 * np.pi))


@dataclass
class SizeGroup:
    """All independent blocks of one size ``s``: ``idx`` (n, s) observation indices."""

    idx: np.ndarray
    V: np.ndarray                   # (n, s, s)
    y: np.ndarray                   # (n, s)
    X: np.ndarray                   # (n, s, p)
    K: list[np.ndarray]             # per sigma term (n, s, s)
    inn: list[np.ndarray]           # per struct term (n, s) inner level index
    same: list[np.ndarray]          # per struct term (n, s, s) bool: same outer level


@dataclass
class Values:
    """Values of all variance components."""

    sigma2: np.ndarray
    v: list[np.ndarray]             # per struct term: variances (tau2 / gamma2)
    r: list[np.ndarray]             # per struct term: correlations (rho / phi)


@dataclass
class Evaluation:
    """The likelihood and the GLS quantities at one set of variance components."""

    ll: float
    ll_ml: float
    ll_reml: float
    beta: np.ndarray
    vb: np.ndarray
    rss: float
    logdet_M: float
    W: list[np.ndarray]             # per size group (n, s, s)
    Wr: list[np.ndarray]            # per size group (n, s): M^-1 (y - X b)
    WX: list[np.ndarray]            # per size group (n, s, p)
    G: list[np.ndarray]             # per struct term


def _tri_inv(L: np.ndarray) -> np.ndarray:
    """Inverses of stacked lower-triangular matrices (n, s, s): forward substitution vectorised
    over the stack for small blocks (numpy's batched ``inv`` costs ~10 us per matrix), LAPACK
    for large ones."""
    n, s, _ = L.shape
    if s > 24:
        return np.linalg.solve(L, np.broadcast_to(np.eye(s), L.shape))
    out = np.zeros_like(L)
    for i in range(s):
        row = -(L[:, i:i + 1, :i] @ out[:, :i, :])[:, 0, :]
        row[:, i] += 1.0
        out[:, i, :] = row / L[:, i, i:i + 1]
    return out


class NotPositiveDefinite(ArithmeticError):
    """The marginal covariance matrix is not positive definite."""


def components(k: int, V: sp.csr_matrix, sigma_terms: list[SigmaTerm],
               struct_terms: list[StructTerm]) -> np.ndarray:
    """Connected component of every observation (independent blocks)."""
    rows = [V.tocoo().row]
    cols = [V.tocoo().col]
    offset = k
    for t in sigma_terms:
        rows.append(np.arange(k))
        cols.append(offset + t.lev)
        if t.R is not None:
            a, b = np.nonzero(t.R)
            rows.append(offset + a)
            cols.append(offset + b)
        offset += t.nlevels
    for st in struct_terms:
        rows.append(np.arange(k))
        cols.append(offset + st.out)
        offset += len(st.outer_levels)
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    graph = sp.coo_matrix((np.ones(r.size), (r, c)), shape=(offset, offset)).tocsr()
    _, labels = connected_components(graph, directed=False)
    obs = labels[:k]
    _, comp = np.unique(obs, return_inverse=True)
    return np.asarray(comp, dtype=np.intp)


class Engine:
    """The model ``y ~ N(X b, V + sum Z D Z')`` organised in independent blocks."""

    def __init__(self, y: np.ndarray, X: np.ndarray, V: sp.csr_matrix,
                 sigma_terms: list[SigmaTerm], struct_terms: list[StructTerm]) -> None:
        self.y, self.X, self.V = y, X, V
        self.k, self.p = X.shape
        self.sigma_terms, self.struct_terms = sigma_terms, struct_terms
        comp = components(self.k, V, sigma_terms, struct_terms)
        self.comp = comp
        order = np.argsort(comp, kind="stable")
        sizes = np.bincount(comp)
        self.n_blocks = int(sizes.size)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        # position of every observation inside its block
        pos = np.empty(self.k, dtype=np.intp)
        pos[order] = np.arange(self.k) - np.repeat(starts, sizes)
        self.pos = pos
        self.groups: list[SizeGroup] = []
        self.group_of_comp = np.empty(sizes.size, dtype=np.intp)
        self.slot_of_comp = np.empty(sizes.size, dtype=np.intp)
        coo = V.tocoo()
        for gi, s in enumerate(np.unique(sizes)):
            comps = np.flatnonzero(sizes == s)
            self.group_of_comp[comps] = gi
            self.slot_of_comp[comps] = np.arange(comps.size)
            idx = order[(starts[comps][:, None] + np.arange(s)[None, :])]
            n = comps.size
            Vb = np.zeros((n, s, s))
            self.groups.append(SizeGroup(idx, Vb, y[idx], X[idx], [], [], []))
        ci = comp[coo.row]
        gsel = self.group_of_comp[ci]
        for gi, g in enumerate(self.groups):
            m = gsel == gi
            g.V[self.slot_of_comp[ci[m]], pos[coo.row[m]], pos[coo.col[m]]] = coo.data[m]
        for g in self.groups:
            for t in sigma_terms:
                li = t.lev[g.idx]
                if t.R is None:
                    g.K.append((li[:, :, None] == li[:, None, :]).astype(float))
                else:
                    g.K.append(t.R[li[:, :, None], li[:, None, :]])
            for st in struct_terms:
                g.inn.append(st.inn[g.idx])
                oi = st.out[g.idx]
                g.same.append(oi[:, :, None] == oi[:, None, :])
        sign, logdet = np.linalg.slogdet(X.T @ X)
        self.logdet_XtX = float(logdet) if sign > 0 else -np.inf

    # ----------------------------------------------------------------------------------
    def block_M(self, g: SizeGroup, vals: Values, G: list[np.ndarray]) -> np.ndarray:
        M = g.V.copy()
        for j, K in enumerate(g.K):
            if vals.sigma2[j] != 0:
                M += vals.sigma2[j] * K
        for j, Gm in enumerate(G):
            ii = g.inn[j]
            M += Gm[ii[:, :, None], ii[:, None, :]] * g.same[j]
        return M

    def evaluate(self, vals: Values, reml: bool) -> Evaluation:
        """Log-likelihood and GLS fit; raises :class:`NotPositiveDefinite`."""
        G = [st.G(vals.v[j], vals.r[j]) for j, st in enumerate(self.struct_terms)]
        p = self.p
        logdet = 0.0
        XtWX = np.zeros((p, p))
        XtWy = np.zeros(p)
        Ws, WXs = [], []
        for g in self.groups:
            M = self.block_M(g, vals, G)
            try:
                Lc = np.linalg.cholesky(M)
            except np.linalg.LinAlgError:
                raise NotPositiveDefinite from None
            diag = np.diagonal(Lc, axis1=1, axis2=2)
            if not np.all(np.isfinite(diag)) or np.any(diag <= 0):
                raise NotPositiveDefinite
            logdet += 2.0 * float(np.log(diag).sum())
            Linv = _tri_inv(Lc)
            W = np.swapaxes(Linv, 1, 2) @ Linv
            WX = W @ g.X
            XtWX += (np.swapaxes(g.X, 1, 2) @ WX).sum(axis=0)
            XtWy += (g.y[:, None, :] @ WX).sum(axis=(0, 1))
            Ws.append(W)
            WXs.append(WX)
        try:
            cf = np.linalg.cholesky(XtWX)
        except np.linalg.LinAlgError:
            raise NotPositiveDefinite from None
        vb = np.linalg.inv(XtWX)
        vb = (vb + vb.T) / 2
        beta = vb @ XtWy
        rss = 0.0
        Wrs = []
        for g, W in zip(self.groups, Ws, strict=True):
            r = g.y - g.X @ beta
            Wr = (W @ r[:, :, None])[:, :, 0]
            rss += float(np.einsum("ni,ni->", r, Wr))
            Wrs.append(Wr)
        k = self.k
        ll_ml = -0.5 * k * LOG2PI - 0.5 * logdet - 0.5 * rss
        logdet_XtWX = 2.0 * float(np.log(np.diag(cf)).sum())
        ll_reml = (-0.5 * (k - p) * LOG2PI + 0.5 * self.logdet_XtX - 0.5 * logdet
                   - 0.5 * logdet_XtWX - 0.5 * rss)
        return Evaluation(ll_reml if reml else ll_ml, ll_ml, ll_reml, beta, vb, rss, logdet,
                          Ws, Wrs, WXs, G)

    def gamma_blocks(self, ev: Evaluation, reml: bool) -> list[np.ndarray]:
        """``Gamma = -1/2 P + 1/2 Py (Py)'`` within each block (see the module docstring)."""
        out = []
        for W, WX, Wr in zip(ev.W, ev.WX, ev.Wr, strict=True):
            Pb = W - (WX @ ev.vb) @ np.swapaxes(WX, 1, 2) if reml else W
            out.append(-0.5 * Pb + 0.5 * Wr[:, :, None] * Wr[:, None, :])
        return out

    def raw_gradient(self, ev: Evaluation, reml: bool) -> tuple[np.ndarray, list[np.ndarray]]:
        """``dl/dsigma2_t`` for every sigma term and ``dl/dG_ab`` for every struct term."""
        gam = self.gamma_blocks(ev, reml)
        gs = np.zeros(len(self.sigma_terms))
        gG = [np.zeros((st.L, st.L)) for st in self.struct_terms]
        for g, Gm in zip(self.groups, gam, strict=True):
            for j, K in enumerate(g.K):
                gs[j] += float(np.einsum("nij,nij->", Gm, K))
            for j, st in enumerate(self.struct_terms):
                ii = g.inn[j]
                flat = (ii[:, :, None] * st.L + ii[:, None, :])[g.same[j]]
                gG[j] += np.bincount(flat, weights=Gm[g.same[j]],
                                     minlength=st.L * st.L).reshape(st.L, st.L)
        return gs, gG

    def average_information(self, ev: Evaluation, dM: list[list[np.ndarray]],
                            reml: bool) -> np.ndarray:
        """The average information matrix ``AI_jk = 1/2 (Py)' dM_j P dM_k (Py)`` (Gilmour,
        Thompson & Cullis 1995, Biometrics 51:1440, doi:10.2307/2533274; ``P`` replaced by
        ``W`` for ML), from the per-group derivative blocks ``dM[group][j]`` (n, s, s)."""
        q = len(dM[0]) if dM else 0
        a = [[(dm @ wr[:, :, None])[:, :, 0] for dm in dms]
             for dms, wr in zip(dM, ev.Wr, strict=True)]
        # P a_k = W a_k - W X vb X'W a_k
        xwa = np.zeros((self.p, q))
        for ag, WX in zip(a, ev.WX, strict=True):
            for j in range(q):
                xwa[:, j] += np.einsum("nsp,ns->p", WX, ag[j])
        corr = ev.vb @ xwa if reml else np.zeros_like(xwa)
        AI = np.zeros((q, q))
        for ag, W, WX in zip(a, ev.W, ev.WX, strict=True):
            for k in range(q):
                pa = (W @ ag[k][:, :, None])[:, :, 0] - WX @ corr[:, k]
                for j in range(q):
                    AI[j, k] += float(np.einsum("ni,ni->", ag[j], pa))
        return 0.5 * (AI + AI.T) / 2

    # ----------------------------------------------------------------------------------
    def qe(self) -> float:
        """Cochran's generalised Q of residual heterogeneity: ``r' V^-1 r`` with the
        equal-effects GLS fit on ``V`` alone (metafor's QE for rma.mv)."""
        p = self.p
        XtWX = np.zeros((p, p))
        XtWy = np.zeros(p)
        Ws = []
        for g in self.groups:
            W = np.linalg.inv(g.V)
            WX = W @ g.X
            XtWX += np.einsum("nsp,nsq->pq", g.X, WX)
            XtWy += np.einsum("nsp,ns->p", WX, g.y)
            Ws.append(W)
        b = np.linalg.solve(XtWX, XtWy)
        q = 0.0
        for g, W in zip(self.groups, Ws, strict=True):
            r = g.y - g.X @ b
            q += float(np.einsum("ni,nij,nj->", r, W, r))
        return q

    def trace_P_V(self) -> float:
        """``tr(P)`` for ``P = W - W X (X'WX)^-1 X'W`` with ``W = V^-1`` (the "typical"
        sampling variance of the I^2 decomposition)."""
        p = self.p
        XtWX = np.zeros((p, p))
        XtWWX = np.zeros((p, p))
        trW = 0.0
        for g in self.groups:
            W = np.linalg.inv(g.V)
            WX = W @ g.X
            XtWX += np.einsum("nsp,nsq->pq", g.X, WX)
            XtWWX += np.einsum("nsp,nsq->pq", WX, WX)
            trW += float(np.trace(W, axis1=1, axis2=2).sum())
        return trW - float(np.trace(np.linalg.solve(XtWX, XtWWX)))

    def scatter(self, blocks: list[np.ndarray]) -> sp.csr_matrix:
        """A block-diagonal k x k sparse matrix from per-group (n, s, s) blocks."""
        rows, cols, data = [], [], []
        for g, B in zip(self.groups, blocks, strict=True):
            s = g.idx.shape[1]
            rows.append(np.repeat(g.idx, s, axis=1).ravel())
            cols.append(np.tile(g.idx, (1, s)).ravel())
            data.append(B.reshape(B.shape[0], -1).ravel())
        r = np.concatenate(rows)
        c = np.concatenate(cols)
        d = np.concatenate(data)
        keep = d != 0
        return sp.csr_matrix((d[keep], (r[keep], c[keep])), shape=(self.k, self.k))

    def to_obs(self, per_group: list[np.ndarray]) -> np.ndarray:
        """Per-observation values from per-group (n, s, ...) arrays."""
        first = per_group[0]
        out = np.empty((self.k, *first.shape[2:]))
        for g, a in zip(self.groups, per_group, strict=True):
            out[g.idx.ravel()] = a.reshape(-1, *a.shape[2:])
        return out


def as_values(sigma2: Any, v: Any, r: Any) -> Values:
    return Values(np.asarray(sigma2, dtype=float), [np.asarray(x) for x in v],
                  [np.asarray(x) for x in r])
