"""Graph algebra of a network meta-analysis (Rücker 2012): incidence matrices, the Laplacian and
its (grounded and Moore-Penrose) inverses, and the reduced weights of multi-arm studies.

References
----------
Rücker G (2012). Network meta-analysis, electrical networks and graph theory. Res Synth Methods
3:312-324. doi:10.1002/jrsm.1058
Rücker G, Schwarzer G (2014). Reduce dimension or reduce weights? Comparing two approaches to
multi-arm studies in network meta-analysis. Stat Med 33:4353-4369. doi:10.1002/sim.6236
"""

from __future__ import annotations

import unicodedata
from typing import Any

import numpy as np


def incidence(pos1: np.ndarray, pos2: np.ndarray, n: int) -> np.ndarray:
    """Edge-vertex incidence matrix B (m x n): row e has +1 at ``pos1[e]`` and -1 at
    ``pos2[e]`` (Rücker 2012, sec. 3), so that ``B theta`` are the contrasts treat1 - treat2 of
    the treatment "potentials" ``theta``."""
    m = len(pos1)
    B = np.zeros((m, n))
    rows = np.arange(m)
    B[rows, pos1] = 1.0
    B[rows, pos2] = -1.0
    return B


def grounded_inverse(L: np.ndarray) -> np.ndarray:
    """A generalised inverse ``G`` of a connected graph's Laplacian: the inverse of ``L`` with
    the row and column of one treatment (the ground, ``theta_g = 0``) removed, padded with
    zeros. ``G b`` solves ``L theta = b`` for any ``b`` with ``sum(b) = 0``, and contrasts of
    ``G`` equal those of the pseudoinverse (``G_aa + G_bb - 2 G_ab`` = ``R_ab``, Rücker 2012,
    eq. 8), so estimates and their variances can be read from ``G`` directly.

    The Moore-Penrose pseudoinverse is ``L+ = P G P``, ``P = I - J/n``. The ground is the
    treatment with the largest total weight. Unlike ``(L - J/n)^-1``, whose
    entries mix the weights with ``1/n`` and cancel when the weights span many orders of
    magnitude (a study with SE 0.002 next to one with SE 13 moved a tree network's estimate
    by 1e-3), the reduced Laplacian keeps every weight's own digits: the estimates' error is
    of the order of eps times the ratio of the largest to the smallest weight (tested on
    random trees), and a star grounded at its hub is solved exactly."""
    n = L.shape[0]
    g = int(np.argmax(np.diag(L)))
    keep = np.delete(np.arange(n), g)
    G = np.zeros((n, n))
    G[np.ix_(keep, keep)] = np.linalg.inv(L[np.ix_(keep, keep)])
    return 0.5 * (G + G.T)


def resistance(Lplus: np.ndarray) -> np.ndarray:
    """Effective resistances ``R_ab = L+_aa + L+_bb - 2 L+_ab``: the variances of the network
    estimates of every treatment pair (Rücker 2012, eq. 8)."""
    d = np.diag(Lplus)
    return np.maximum(d[:, None] + d[None, :] - 2.0 * Lplus, 0.0)


def multiarm_variances(v: np.ndarray, i: np.ndarray, j: np.ndarray, k: int) -> np.ndarray:
    """Reduced-weight variances of the pairwise comparisons of multi-arm studies.

    The ``k (k - 1) / 2`` comparisons of a ``k``-arm study are not independent. Rücker (2012,
    sec. 5; Rücker & Schwarzer 2014) replaces them by independent comparisons with inflated
    variances that reproduce the study's within-study information exactly: with ``R`` the
    k x k matrix of the observed comparison variances ``v_ij`` and ``P = I - J/k``,

        L = (-1/2 P R P)^+,     W_ij = -L_ij (i != j),     v~_ij = 1 / W_ij.

    Weights that come out negative by rounding (relative size below 1e-3, netmeta's rule) are
    set to 0, i.e. an infinite variance.

    Parameters
    ----------
    v : variances of the comparisons (``seTE^2``, plus ``tau^2`` for the random-effects
        model): one study's (shape ``(m,)``) or ``g`` studies' with ``k`` arms each (shape
        ``(g, m)``, all computed at once), ``m = k (k - 1) / 2``.
    i, j : 0-based arm indices of each comparison (every pair exactly once), shaped as ``v``.
    k : number of arms.

    Returns
    -------
    ndarray
        The adjusted variances ``v~``, shaped as ``v`` (``inf`` for a zero weight).
    """
    v2, i2, j2 = np.atleast_2d(v), np.atleast_2d(i), np.atleast_2d(j)
    g, m = v2.shape
    gi = np.repeat(np.arange(g), m)
    R = np.zeros((g, k, k))
    R[gi, i2.ravel(), j2.ravel()] = v2.ravel()
    R[gi, j2.ravel(), i2.ravel()] = v2.ravel()
    P = np.eye(k) - 1.0 / k
    J = np.full((k, k), 1.0 / k)
    W = -(np.linalg.inv(-0.5 * P @ R @ P - J) + J)  # -pinv(Lt), batched (Rücker 2012, eq. 7)
    diag = np.arange(k)
    W[:, diag, diag] = 0.0
    low = np.tril_indices(k, -1)
    total = np.abs(W[:, low[0], low[1]]).sum(axis=1)[:, None, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        small = (W < 0) & (total > 0) & (np.abs(W) / total < 1e-3)
    W[small] = 0.0
    w = W[gi, i2.ravel(), j2.ravel()].reshape(g, m)
    with np.errstate(divide="ignore"):
        out = np.where(w != 0, 1.0 / w, np.inf)
    return out.reshape(np.shape(v))


def connected_components(pos1: np.ndarray, pos2: np.ndarray, n: int) -> np.ndarray:
    """Component label (0, 1, ...) of each of the ``n`` treatments in the graph with edges
    ``(pos1[e], pos2[e])`` (union-find; netmeta's ``netconnection``)."""
    parent = np.arange(n)

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return int(a)

    for a, b in zip(pos1.tolist(), pos2.tolist(), strict=True):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([find(a) for a in range(n)])
    _, labels = np.unique(roots, return_inverse=True)
    return labels


# R's sort() (and so netmeta's treatment order) uses ICU's root collation on most systems:
# spaces and punctuation first (in this order), then digits, then letters ignoring case and
# accents; then accents; then case (lower before upper).
_ICU_ASCII = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$"


def r_sort_key(label: str) -> tuple[Any, ...]:
    """Sort key approximating ICU root collation (R's ``sort()`` in a UTF-8 locale with ICU,
    hence netmeta's ``trts``) for Latin labels: exact for ASCII."""
    prim: list[tuple[int, Any]] = []
    sec: list[str] = []
    ter: list[int] = []
    for ch in unicodedata.normalize("NFD", label):
        if unicodedata.combining(ch) and prim:
            sec[-1] += ch
            continue
        if ch in _ICU_ASCII:
            prim.append((0, _ICU_ASCII.index(ch)))
        elif ch.isdigit():
            prim.append((2, unicodedata.digit(ch, 0)))
        elif ch.isalpha():
            prim.append((3, ch.casefold()))
        else:  # other spaces, punctuation and symbols: after the ASCII ones, before digits
            prim.append((1, ord(ch)))
        sec.append("")
        ter.append(int(ch.isupper()))
    return tuple(prim), tuple(sec), tuple(ter), label
