"""Contribution of each direct comparison to each network estimate (the "contribution matrix"
of CINeMA; netmeta ``netcontrib``).

References
----------
Papakonstantinou T, Nikolakopoulou A, Rücker G, Chaimani A, Schwarzer G, Egger M, Salanti G
(2018). Estimating the contribution of studies in network meta-analysis: paths, flows and
streams. F1000Research 7:610. doi:10.12688/f1000research.14770.3
Davies AL, Papakonstantinou T, Nikolakopoulou A, Rücker G, Galla T (2022). Network
meta-analysis and random walks. Stat Med 41:2091-2114. doi:10.1002/sim.9346
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evsynth.models.network._graph import r_sort_key
from evsynth.models.network.inconsistency import _model, _positions
from evsynth.models.results import FrameResult
from evsynth.validation import choice

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

    from evsynth.models.network.fit import NetmetaResult

__all__ = ["ContributionMatrix", "contribution"]

_EPS = 1000 * np.finfo(float).eps  # netmeta's is_zero(x, n = 1000)


@dataclass(repr=False)
class ContributionMatrix(FrameResult):
    """Contribution matrix: ``frame`` has rows = every network comparison (``"a:b"``, a before
    b in treatment order), columns = the direct comparisons, each row summing to 1 (index
    ``comparison``). ``study``: rows = network comparisons, columns = studies (each direct
    comparison's share split among its studies in proportion to their weights)."""

    frame: pd.DataFrame
    study: pd.DataFrame
    model: str
    method: str
    method_info: dict[str, Any]
    _dict_fields = ("model", "method", "method_info")

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["rows"] = list(self.frame.index)
        out["cols"] = list(self.frame.columns)
        out["values"] = self.frame.to_numpy().tolist()
        out["study_cols"] = list(self.study.columns)
        out["study_values"] = self.study.to_numpy().tolist()
        return out

    def to_frame(self) -> pd.DataFrame:
        return self.frame.reset_index()

    def summary_text(self) -> str:
        lines = [f"Contribution matrix ({self.method} method, {self.model} effects model)", ""]
        with pd.option_context("display.width", 200, "display.max_columns", 60):
            lines.append((100 * self.frame).round(1).to_string())
        lines += ["", "(percentage contribution of each direct comparison, columns, to each "
                  "network estimate, rows)"]
        return "\n".join(lines)


def _aggregate_hat(fit: Any, mod: str) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                 np.ndarray, np.ndarray]:
    """H (all comparisons x direct edges) of the aggregated network: rows (i, j), i < j; edges
    (a, b), a < b; ``H[r, e]`` is the flow of comparison r along edge e from a to b."""
    n = len(fit.treatments)
    est = getattr(fit, mod)
    p1, p2, _, _ = _positions(fit)
    lo, hi = np.minimum(p1, p2), np.maximum(p1, p2)
    W = np.asarray(est.W, dtype=float)
    key = lo * n + hi
    edges, inv = np.unique(key, return_inverse=True)
    Wagg = np.bincount(inv, W, minlength=len(edges))
    ea, eb = edges // n, edges % n
    Lp = np.asarray(est.Lplus, dtype=float)
    ri, rj = np.triu_indices(n, 1)
    # H[r, e] = (e_i - e_j)' L+ (e_a - e_b) W_e
    H = (Lp[np.ix_(ri, ea)] - Lp[np.ix_(ri, eb)] - Lp[np.ix_(rj, ea)] + Lp[np.ix_(rj, eb)]) \
        * Wagg
    return H, ri, rj, np.stack([ea, eb]), inv


def _randomwalk(H: np.ndarray, ri: np.ndarray, rj: np.ndarray, e: np.ndarray,
                n: int) -> np.ndarray:
    """Davies et al. (2022): the walk from i to j moving along edges in the direction of the
    comparison's flow with probabilities proportional to it; an edge's contribution is
    sum over paths through it of P(path) / length(path). Computed by dynamic programming over
    path lengths (the flow graph is acyclic): with F_l(u) = P(at u after l steps) and
    B_m(v) = P(reach j from v in m steps), the edge u->v gets
    P_uv sum_{l,m} F_l(u) B_m(v) / (l + m + 1)."""
    C, E = H.shape
    ea, eb = e
    Q = np.zeros((C, n, n))
    pos = np.where(H > 0, H, 0.0)
    neg = np.where(H < 0, -H, 0.0)
    Q[:, ea, eb] = pos
    Q[:, eb, ea] = neg
    rows = Q.sum(axis=2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        P = np.where(rows > 0, Q / rows, 0.0)
    P[P < _EPS] = 0.0
    c = np.arange(C)
    P[c, rj, :] = 0.0  # the sink absorbs
    Lmax = n - 1
    F = np.zeros((C, Lmax, n))
    Bk = np.zeros((C, Lmax, n))
    f = np.zeros((C, n))
    f[c, ri] = 1.0
    b = np.zeros((C, n))
    b[c, rj] = 1.0
    for step in range(Lmax):
        F[:, step] = f
        Bk[:, step] = b
        f = np.einsum("cu,cuv->cv", f, P)
        b = np.einsum("cuv,cv->cu", P, b)
        if not f.any() and not b.any():
            break
    ll = np.arange(Lmax)
    K = 1.0 / (ll[:, None] + ll[None, :] + 1.0)
    M = np.matmul(F.transpose(0, 2, 1), K @ Bk)  # (C, n, n): sum_l,m F_l(u) K B_m(v)
    contrib = P * M
    out = contrib[:, ea, eb] + contrib[:, eb, ea]
    out[out < _EPS] = 0.0
    return out



def _shortestpath(H: np.ndarray, ri: np.ndarray, rj: np.ndarray, e: np.ndarray, n: int,
                  rpos: np.ndarray) -> np.ndarray:
    """Papakonstantinou et al. (2018) with netmeta's (igraph's) tie rule, for all rows at once.

    ``rpos[t]``: position of treatment t in netmeta's order. Row (i, j) is taken as a flow
    from the earlier to the later of i, j in that order (netmeta's row orientation); its
    graph lists the direct comparisons in netmeta's order (by position of the first, then the
    second treatment), each directed along its flow (a zero flow from the second to the
    first treatment), and numbers the vertices by first appearance in that list (igraph's
    ``graph_from_edgelist``). A breadth-first search that scans out-neighbours by vertex
    number (igraph's ``get.shortest.paths``) finds the shortest path whose sequence of
    vertex numbers is lexicographically smallest; it is found here greedily from the source
    using distances to the sink. Each path gets its smallest remaining flow divided by its
    length on every edge; that flow is subtracted and the edges left with exactly zero flow
    are dropped (netmeta's test), until source and sink are disconnected.

    Rows are processed together in blocks (dense ``rows x n x n`` arrays); distances to the
    sink are updated after each path by Bellman-Ford relaxation from the previous ones
    (they only grow as edges are dropped)."""
    C, E = H.shape
    ea, eb = e
    out = np.zeros((C, E))
    if C == 0 or E == 0:
        return out
    pa, pb = rpos[ea], rpos[eb]
    lo, hi = np.minimum(pa, pb), np.maximum(pa, pb)
    cols = np.lexsort((hi, lo))  # netmeta's column order
    lo, hi = lo[cols], hi[cols]
    # flow along lo -> hi, rows oriented as in netmeta (source = earlier in netmeta's order)
    hsign = np.where(pa < pb, 1.0, -1.0)[cols]
    rsign = np.where(rpos[ri] < rpos[rj], 1.0, -1.0)
    src_all = np.minimum(rpos[ri], rpos[rj])
    dst_all = np.maximum(rpos[ri], rpos[rj])
    # first column in which each vertex (netmeta position) appears
    firstcol = np.full(n, E)
    np.minimum.at(firstcol, lo, np.arange(E))
    np.minimum.at(firstcol, hi, np.arange(E))
    block = max(1, 4_000_000 // (n * n))
    for b0 in range(0, C, block):
        rows = np.arange(b0, min(C, b0 + block))
        out[rows[:, None], cols] = _shortestpath_block(
            H[rows][:, cols] * hsign * rsign[rows, None], lo, hi, firstcol,
            src_all[rows], dst_all[rows], n)
    out[np.abs(out) < 10 * np.finfo(float).eps] = 0.0  # netmeta's is_zero(weights)
    return out


def _shortestpath_block(h: np.ndarray, lo: np.ndarray, hi: np.ndarray, firstcol: np.ndarray,
                        src: np.ndarray, dst: np.ndarray, n: int) -> np.ndarray:
    """``_shortestpath`` for a block of rows; ``h``: flows along ``lo -> hi`` (netmeta's
    columns and positions); returns the contributions in the same column order."""
    R, E = h.shape
    r = np.arange(R)
    pos = h > 0
    tail = np.where(pos, lo, hi)
    head = np.where(pos, hi, lo)
    # igraph vertex numbers: order of first appearance in (tail_1, head_1, tail_2, ...)
    fc = firstcol[None, :].repeat(R, 0)
    # a vertex is the head in its first column (vertices in no column are numbered last)
    is_head = head[:, np.minimum(firstcol, E - 1)] == np.arange(n)
    vid = np.argsort(np.argsort(2 * fc + is_head, axis=1, kind="stable"), axis=1)
    tv = vid[r[:, None], tail]
    hv = vid[r[:, None], head]
    s, t = vid[r, src], vid[r, dst]
    A = np.zeros((R, n, n), dtype=bool)
    F = np.zeros((R, n, n))
    A[r[:, None], tv, hv] = True
    F[r[:, None], tv, hv] = np.abs(h)
    W = np.zeros((R, n, n))
    words = (n + 63) // 64
    Abits = _bits(A, words)
    one = np.uint64(1)
    inf = n  # distance of vertices that cannot reach the sink
    dist = np.zeros((R, n), dtype=np.int32)
    _sink_distances(Abits, dist, t, r, inf)
    A2, Abits2 = A.reshape(R * n, n), Abits.reshape(R * n, words)
    Ff, Wf, Af = F.reshape(-1), W.reshape(-1), A.reshape(-1)
    act = r.copy()
    while True:
        act = act[dist[act, s[act]] < inf]
        if not act.size:
            break
        # the lexicographically first shortest path of each row, greedily from the source
        # (rows sorted by path length, so that the rows still walking are a prefix)
        L = dist[act, s[act]]
        srt = np.argsort(-L, kind="stable")
        act, L = act[srt], L[srt]
        steps = int(L[0])
        walking = (L[None, :] > np.arange(steps)[:, None]).sum(axis=1)
        ar = np.arange(act.size)
        cur = s[act]
        da = dist[act]
        lins, poss = [], []
        Fpath = np.full((steps, act.size), np.inf)
        for k in range(steps):
            m = walking[k]
            base = act[:m] * n + cur[:m]
            cand = A2[base] & (da[:m] == (da[ar[:m], cur[:m]] - 1)[:, None])
            v = np.argmax(cand, axis=1)
            lin = base * n + v
            Fpath[k, :m] = Ff[lin]
            lins.append(lin)
            poss.append(ar[:m])
            cur[:m] = v
        lin = np.concatenate(lins)
        pos = np.concatenate(poss)
        fk = Fpath.min(axis=0)[pos]
        Wf[lin] += fk / L[pos]
        Ff[lin] -= fk
        lin = lin[Ff[lin] == 0.0]
        Af[lin] = False
        ru_u, vv = lin // n, lin % n
        Abits2[ru_u, vv // 64] &= ~(one << (vv % 64).astype(np.uint64))
        # distances change only where a dropped edge was its tail's last one on a shortest
        # route to the sink
        ru, uu = ru_u // n, ru_u % n
        kept = (A2[ru_u] & (dist[ru] == (dist[ru, uu] - 1)[:, None])).any(axis=1)
        _sink_distances(Abits, dist, t, np.unique(ru[~kept]), inf)
    return W[r[:, None], tv, hv]


def _bits(mask: np.ndarray, words: int) -> np.ndarray:
    """Boolean (..., n) as bit sets (..., words) of uint64 (bit k of word k // 64)."""
    packed = np.packbits(mask, axis=-1, bitorder="little")
    pad = words * 8 - packed.shape[-1]
    if pad:
        packed = np.concatenate([packed, np.zeros((*packed.shape[:-1], pad), np.uint8)], -1)
    return np.ascontiguousarray(packed).view("<u8")


def _sink_distances(Abits: np.ndarray, dist: np.ndarray, t: np.ndarray, todo: np.ndarray,
                    inf: int) -> None:
    """Breadth-first distances to the sinks ``t`` (rows ``todo`` of ``dist``, in place) on
    bit-set adjacency ``Abits[row, u]`` = out-neighbours of u; ``inf``: unreachable."""
    if not todo.size:
        return
    n, words = Abits.shape[1], Abits.shape[2]
    m = np.arange(todo.size)
    d = np.full((todo.size, n), inf, dtype=dist.dtype)
    d[m, t[todo]] = 0
    front = _bits(d == 0, words)
    Asub = Abits[todo]
    for level in range(1, n):
        hit = ((Asub & front[:, None, :]) != 0).any(axis=2) & (d == inf)
        if not hit.any():
            break
        d[hit] = level
        front = _bits(hit, words)
    dist[todo] = d


def contribution(fit: NetmetaResult, model: str = "random", method: str = "randomwalk",
                 treatment_order: Sequence[str] | None = None) -> ContributionMatrix:
    r"""Contribution matrix (Papakonstantinou et al. 2018; Davies et al. 2022; netmeta
    ``netcontrib``).

    Row ``(i, j)`` of the aggregated hat matrix :math:`H = B_{full} L^+ B' W` (direct
    comparisons pooled, :math:`W` their summed adjusted weights) is a flow of one unit from
    ``i`` to ``j`` through the network of direct comparisons. ``"randomwalk"`` (Davies et al.
    2022) gives each direct comparison the expected share of a random walk from ``i`` to
    ``j`` that follows the flow, :math:`\sum_{\pi \ni e} P(\pi)/|\pi|`; ``"shortestpath"``
    (Papakonstantinou et al. 2018) decomposes the flow into paths, shortest first. Each row
    sums to 1 when every direct comparison's (aggregated) weight is positive. Rücker's reduced
    weights of a multi-arm study can be negative even for valid data; a flow then runs
    against the potential on that edge, the flow graph has a cycle, and neither method (nor
    netmeta's, which follows simple paths) carries exactly one unit: such rows are named in
    ``method_info["notes"]`` with their sums.

    The shortest-path decomposition depends on which of several equally short paths is taken
    first (it changes the flow left for later paths: contributions can differ by several
    percentage points). The tie rule used is netmeta's (``netcontrib(method =
    "shortestpath")``, which takes igraph's ``get.shortest.paths``), reproduced exactly:

    * treatments in netmeta's order (its ``trts``: R's ``sort()`` of the labels, which on
      most systems uses ICU collation: punctuation, then digits, then letters ignoring case;
      lower case before upper case on ties; see ``treatment_order``);
    * row ``(i, j)`` is the flow from the earlier to the later of ``i`` and ``j`` in that
      order (the reversed flow can decompose differently);
    * the row's graph lists the direct comparisons ``a:b`` (a before b) in that order, each
      directed along its flow (a zero flow from b to a), and numbers the vertices in order of
      first appearance in that list;
    * the path taken is the breadth-first one that scans out-neighbours by vertex number,
      i.e. among the shortest paths the one whose sequence of vertex numbers, from the
      source, is lexicographically first;
    * each path gives all its edges its smallest remaining flow divided by its length, that
      flow is subtracted and only edges left with exactly zero flow are dropped (a residual
      of rounding size stays and may carry a tiny later path, as in netmeta).

    Agreement with netmeta 3.4-0 (igraph 1.3.5) is to rounding (< 1e-13) on Senn 2013,
    Hasselblad 1998, Franchini 2012, Linde 2015 and simulated networks of 12 and 20
    treatments. Only flows that are zero in exact arithmetic have a direction set by rounding
    (in netmeta as here); where such an edge joins two vertices on source-sink paths, its
    direction can change the vertex numbering and so the decomposition.

    Parameters
    ----------
    fit : NetmetaResult
    model : {"random", "common"}
    method : {"randomwalk", "shortestpath"}
    treatment_order : sequence of str, optional
        ``"shortestpath"`` only: the treatment order that sets the tie rule above (netmeta's
        ``trts``). Default: the labels in ICU root collation order (exact for ASCII labels),
        which is R's ``sort()`` in a UTF-8 locale when R uses ICU (``capabilities("ICU")``).
        In the C locale, or without ICU, R sorts differently (by code points in the C
        locale: ``sorted(labels)``): pass that order to match such a run.

    Returns
    -------
    ContributionMatrix

    References
    ----------
    Papakonstantinou T et al. (2018). F1000Research 7:610. doi:10.12688/f1000research.14770.3
    Davies AL et al. (2022). Stat Med 41:2091-2114. doi:10.1002/sim.9346
    Schwarzer G (2026). netmeta: Network Meta-Analysis using Frequentist Methods, version
    3.4-0 (``netcontrib``; ``contribution.matrix.tpapak``).
    """
    mod = _model(fit, model)
    meth = choice(method, ("randomwalk", "shortestpath"), "method",
                  {"random walk": "randomwalk", "shortest path": "shortestpath"})
    n = len(fit.treatments)
    H, ri, rj, e, inv = _aggregate_hat(fit, mod)
    trt = list(fit.treatments)
    info: dict[str, Any] = {"model": mod, "method": meth,
                            "hat_matrix": "aggregated (netmeta hatmatrix.aggr)"}
    if meth == "randomwalk":
        weights = _randomwalk(H, ri, rj, e, n)
    else:
        labels = [str(t) for t in trt]
        order = (sorted(labels, key=r_sort_key) if treatment_order is None
                 else [str(t) for t in treatment_order])
        if sorted(order) != sorted(labels):
            raise ValueError("treatment_order must list each treatment of the network once")
        where = {t: k for k, t in enumerate(order)}
        rpos = np.array([where[t] for t in labels])
        weights = _shortestpath(H, ri, rj, e, n, rpos)
        info["tie_rule"] = ("netmeta/igraph: lexicographically first shortest path in the "
                            "vertex numbering of netmeta's row graph")
        info["treatment_order"] = order
    rows = [f"{trt[a]}:{trt[b]}" for a, b in zip(ri, rj, strict=True)]
    cols = [f"{trt[a]}:{trt[b]}" for a, b in zip(e[0], e[1], strict=True)]
    W = np.asarray(getattr(fit, mod).W, dtype=float)
    Wagg = np.bincount(inv, W, minlength=len(cols))  # each direct comparison's summed weight
    sums = weights.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1) > 1e-8)
    if off.size:
        neg = [cols[i] for i in np.flatnonzero(Wagg < 0)]
        info["notes"] = [
            f"{off.size} row(s) do not sum to 1 ("
            + ", ".join(f"{rows[i]}: {sums[i]:.4f}" for i in off[:5])
            + (", ..." if off.size > 5 else "") + "): "
            + (f"the direct comparison(s) {', '.join(neg)} have a negative aggregated weight "
               "(Rücker's reduced weights of a multi-arm study), so the flow has a cycle and "
               f"the {meth} method does not carry exactly one unit (as in netmeta)" if neg else
               "the flow was not fully decomposed")]
    frame = pd.DataFrame(weights, index=pd.Index(rows, name="comparison"), columns=cols)
    # study contributions: each edge's share split by the studies' weights on it
    _, _, sidx, studies = _positions(fit)
    share = np.zeros((len(cols), len(studies)))
    np.add.at(share, (inv, sidx), W / Wagg[inv])
    study = pd.DataFrame(weights @ share, index=frame.index, columns=studies)
    return ContributionMatrix(frame=frame, study=study, model=mod, method=meth,
                              method_info=info)
