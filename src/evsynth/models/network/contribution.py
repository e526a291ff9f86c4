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

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evsynth.models.network.inconsistency import _model, _positions
from evsynth.models.results import FrameResult
from evsynth.validation import choice

if TYPE_CHECKING:  # pragma: no cover
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


def _shortestpath(H: np.ndarray, ri: np.ndarray, rj: np.ndarray, e: np.ndarray,
                  n: int) -> np.ndarray:
    """Papakonstantinou et al. (2018): repeatedly take a shortest path (fewest edges) from i
    to j in the flow graph, give each of its edges the path's flow (the smallest remaining
    flow on it) divided by the path length, subtract that flow and drop emptied edges."""
    C, E = H.shape
    ea, eb = e
    out = np.zeros((C, E))
    for r in range(C):
        flow = np.abs(H[r]).copy()
        tail = np.where(H[r] > 0, ea, eb)
        head = np.where(H[r] > 0, eb, ea)
        alive = np.ones(E, dtype=bool)
        src, dst = int(ri[r]), int(rj[r])
        while True:
            adj: dict[int, list[int]] = {}
            for k in np.flatnonzero(alive).tolist():
                adj.setdefault(int(tail[k]), []).append(k)
            prev = {src: -1}
            dq = deque([src])
            while dq and dst not in prev:
                u = dq.popleft()
                for k in adj.get(u, []):
                    v = int(head[k])
                    if v not in prev:
                        prev[v] = k
                        dq.append(v)
            if dst not in prev:
                break
            path = []
            v = dst
            while v != src:
                k = prev[v]
                path.append(k)
                v = int(tail[k])
            f = float(flow[path].min())
            out[r, path] += f / len(path)
            flow[path] -= f
            alive[path] &= flow[path] > _EPS
            if f <= _EPS:
                alive[path] = np.where(flow[path] <= _EPS, False, alive[path])
    out[out < _EPS] = 0.0
    return out


def contribution(fit: NetmetaResult, model: str = "random",
                 method: str = "randomwalk") -> ContributionMatrix:
    r"""Contribution matrix (Papakonstantinou et al. 2018; Davies et al. 2022; netmeta
    ``netcontrib``).

    Row ``(i, j)`` of the aggregated hat matrix :math:`H = B_{full} L^+ B' W` (direct
    comparisons pooled, :math:`W` their summed adjusted weights) is a flow of one unit from
    ``i`` to ``j`` through the network of direct comparisons. ``"randomwalk"`` (Davies et al.
    2022) gives each direct comparison the expected share of a random walk from ``i`` to
    ``j`` that follows the flow, :math:`\sum_{\pi \ni e} P(\pi)/|\pi|`; ``"shortestpath"``
    (Papakonstantinou et al. 2018) decomposes the flow into paths, shortest first. Each row
    sums to 1.

    Parameters
    ----------
    fit : NetmetaResult
    model : {"random", "common"}
    method : {"randomwalk", "shortestpath"}

    Returns
    -------
    ContributionMatrix

    References
    ----------
    Papakonstantinou T et al. (2018). F1000Research 7:610. doi:10.12688/f1000research.14770.3
    Davies AL et al. (2022). Stat Med 41:2091-2114. doi:10.1002/sim.9346
    """
    mod = _model(fit, model)
    meth = choice(method, ("randomwalk", "shortestpath"), "method",
                  {"random walk": "randomwalk", "shortest path": "shortestpath"})
    n = len(fit.treatments)
    H, ri, rj, e, inv = _aggregate_hat(fit, mod)
    weights = (_randomwalk if meth == "randomwalk" else _shortestpath)(H, ri, rj, e, n)
    trt = list(fit.treatments)
    rows = [f"{trt[a]}:{trt[b]}" for a, b in zip(ri, rj, strict=True)]
    cols = [f"{trt[a]}:{trt[b]}" for a, b in zip(e[0], e[1], strict=True)]
    frame = pd.DataFrame(weights, index=pd.Index(rows, name="comparison"), columns=cols)
    # study contributions: each edge's share split by the studies' weights on it
    W = np.asarray(getattr(fit, mod).W, dtype=float)
    _, _, sidx, studies = _positions(fit)
    Wagg = np.bincount(inv, W, minlength=len(cols))
    share = np.zeros((len(cols), len(studies)))
    np.add.at(share, (inv, sidx), W / Wagg[inv])
    study = pd.DataFrame(weights @ share, index=frame.index, columns=studies)
    return ContributionMatrix(frame=frame, study=study, model=mod, method=meth,
                              method_info={"model": mod, "method": meth,
                                           "hat_matrix": "aggregated (netmeta hatmatrix.aggr)"})
