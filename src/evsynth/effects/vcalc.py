"""Sampling covariance matrices of dependent effect sizes: :func:`vcalc` and
:func:`impute_covariance`.

:func:`vcalc` is metafor's ``vcalc`` (metafor 3.8): effects of one cluster (study) are
correlated because they are several outcomes (``type``, correlation ``rho``), several
observations of one outcome (``obs``), repeated measurements (``time1``/``time2``,
autocorrelation ``phi^|t - t'|``) or contrasts sharing a group (``grp1``/``grp2`` with group
sizes ``w1``/``w2``). :func:`impute_covariance` is clubSandwich's
``impute_covariance_matrix`` (constant correlation ``r`` and/or AR(1) correlation ``ar1`` within
a cluster). Both return the block-diagonal matrix in the order of the input rows: dense, sparse
(``scipy.sparse`` CSR) or as the list of per-cluster blocks; the blocks are computed for all
clusters of one size at once (no loop over effects).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evsynth.errors import InputError, shown
from evsynth.validation import as_frame, column, label_vector, numeric_vector

__all__ = ["impute_covariance", "vcalc"]

_EPS = float(np.finfo(float).eps)


class _Missing:
    """Sentinel group label (metafor's default grp1 = 1, grp2 = 2)."""


def _values(field: str, value: Any, data: Any, k: int) -> np.ndarray:
    """A per-row argument (values or a column of ``data``) as a 1-D array of k labels;
    missing values are an InputError naming the row."""
    import pandas as pd

    vals = label_vector(field, value, data)
    if len(vals) != k:
        raise InputError(f"argument '{field}' has {len(vals)} values but 'vi' has {k}")
    miss = np.flatnonzero(pd.isna(vals))
    if miss.size:
        raise InputError(f"row {miss[0] + 1}: field '{field}' is missing; expected a value "
                         "(missing values are not allowed)")
    return vals


def _codes(vals: Any) -> tuple[np.ndarray, list[Any]]:
    """Integer codes in order of first appearance, and the distinct values."""
    import pandas as pd

    arr = vals if isinstance(vals, np.ndarray) else np.fromiter(vals, dtype=object,
                                                                 count=len(vals))
    try:
        codes, uniq = pd.factorize(arr, sort=False)
    except TypeError:
        raise InputError("labels must be numbers or strings (hashable values)") from None
    return codes.astype(np.int64), [u.item() if isinstance(u, np.generic) else u for u in uniq]


def _vi(vi: Any, data: Any, k: int | None) -> np.ndarray:
    v = numeric_vector("vi", vi, data)
    if v.size == 1 and k is not None and k > 1:
        v = np.repeat(v, k)
    bad = np.flatnonzero(v < 0)
    if bad.size:
        raise InputError(f"row {bad[0] + 1}: field 'vi' is {shown(v[bad[0]])}; expected a "
                         "sampling variance >= 0")
    return v


def _cluster_len(cluster: Any, data: Any) -> int | None:
    raw = column("cluster", cluster, data)
    return None if np.ndim(raw) == 0 else len(raw)


class _Layout:
    """Rows grouped by cluster: per cluster size n, the row indices (J_n, n) of its clusters
    (rows within a cluster in input order) and the clusters' ids."""

    def __init__(self, codes: np.ndarray, J: int) -> None:
        order = np.argsort(codes, kind="stable")
        self.sizes = np.bincount(codes, minlength=J)
        starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        self.groups: list[tuple[np.ndarray, np.ndarray]] = []
        for n in np.unique(self.sizes):
            cl = np.flatnonzero(self.sizes == n)
            self.groups.append((cl, order[starts[cl][:, None] + np.arange(n)[None, :]]))
        self.k = codes.size
        self.J = J


def _assemble(layout: _Layout, blocks: list[np.ndarray], sparse: bool, return_list: bool,
              cluster_order: np.ndarray | None = None) -> Any:
    """The block-diagonal matrix from the blocks of each size group: a list of blocks (in
    ``cluster_order``, default the clusters' order of first appearance), a CSR matrix or a
    dense array, in the input row order."""
    if return_list:
        out: list[np.ndarray | None] = [None] * layout.J
        for (cl, _), B in zip(layout.groups, blocks, strict=True):
            for t, c in enumerate(cl):
                out[c] = B[t]
        order = range(layout.J) if cluster_order is None else cluster_order
        return [out[c] for c in order]
    rows_i = []
    rows_j = []
    vals = []
    for (_, rows), B in zip(layout.groups, blocks, strict=True):
        n = rows.shape[1]
        rows_i.append(np.repeat(rows, n, axis=1).ravel())
        rows_j.append(np.tile(rows, (1, n)).ravel())
        vals.append(B.reshape(B.shape[0], -1).ravel())
    i = np.concatenate(rows_i)
    j = np.concatenate(rows_j)
    x = np.concatenate(vals)
    if sparse:
        import scipy.sparse as sp

        keep = x != 0
        keep |= i == j
        return sp.csr_matrix((x[keep], (i[keep], j[keep])), shape=(layout.k, layout.k))
    V = np.zeros((layout.k, layout.k))
    V[i, j] = x
    return V


def _check_pd(layout: _Layout, R_blocks: list[np.ndarray], labels: list[Any],
              fn: str) -> None:
    for (cl, _), R in zip(layout.groups, R_blocks, strict=True):
        if R.shape[1] < 2:
            continue
        ok = np.all(np.isfinite(R), axis=(1, 2))
        ev = np.full(R.shape[0], np.inf)
        if ok.any():
            ev[ok] = np.linalg.eigvalsh(R[ok]).min(axis=1)
        for c in cl[ev <= _EPS]:
            warnings.warn(f"{fn}: the var-cov matrix appears to be not positive definite in "
                          f"cluster {labels[c]!r}", UserWarning, stacklevel=3)


def _rho_form(rho: Any) -> str:
    """How ``rho`` is given: ``"pair"`` (a list, tuple or 1-D array of parts, as metafor's
    ``list(rho_obs, rho_type)``; the parts may be a scalar and a matrix) or ``"single"`` (a
    scalar, a DataFrame, a mapping of mappings, a 2-D array or anything else, which
    :func:`_rho_matrix` then checks)."""
    if isinstance(rho, (list, tuple, np.ndarray)):
        try:
            nd = np.asarray(rho, dtype=float).ndim
        except (ValueError, TypeError):  # parts of different shapes, e.g. (0.5, DataFrame)
            return "pair"
        return "pair" if nd == 1 else "single"
    return "single"


def _rho_matrix(rho: Any, labels: list[Any], field: str, what: str) -> np.ndarray:
    """The correlation matrix among the distinct values ``labels`` of ``obs`` or ``type``:
    from a scalar (1 on the diagonal), a labelled pandas DataFrame, a mapping of mappings, or a
    square array whose rows follow the sorted distinct values."""
    m = len(labels)
    if isinstance(rho, (bool, np.bool_, str, bytes)):
        raise InputError(f"argument '{field}' is {rho!r}; expected a correlation in [-1, 1] or "
                         f"a square matrix of correlations among the {what} values")
    if isinstance(rho, (int, float, np.number)):
        r = float(rho)
        if not -1 <= r <= 1:
            raise InputError(f"argument '{field}' is {rho!r}; expected a correlation in [-1, 1]")
        out = np.full((m, m), r)
        np.fill_diagonal(out, 1.0)
        return out
    names: list[Any] | None = None
    if hasattr(rho, "index") and hasattr(rho, "columns"):  # a pandas DataFrame
        names = list(rho.index)
        mat = np.asarray(rho, dtype=float)
        if list(rho.columns) != names:
            mat = np.asarray(rho.loc[names, names], dtype=float)
    elif isinstance(rho, Mapping):
        names = list(rho)
        try:
            mat = np.array([[float(rho[a][b]) for b in names] for a in names])
        except (KeyError, TypeError, ValueError):
            raise InputError(f"argument '{field}': a mapping must give the correlation of "
                             "every pair of labels (rho[a][b])") from None
    else:
        try:
            mat = np.asarray(rho, dtype=float)
        except (ValueError, TypeError):
            raise InputError(f"argument '{field}' is not numeric or not rectangular; expected a "
                             f"scalar or a square matrix of correlations among the {what} "
                             "values") from None
        if mat.ndim != 2:
            raise InputError(f"argument '{field}' has shape {mat.shape}; expected a scalar or a "
                             f"square matrix of correlations among the {what} values")
        try:
            names = sorted(labels)
        except TypeError:
            raise InputError(f"argument '{field}': the {what} values cannot be sorted; give the "
                             "matrix as a labelled pandas DataFrame") from None
    if mat.ndim != 2 or mat.shape[0] != mat.shape[1]:
        raise InputError(f"argument '{field}' has shape {mat.shape}; expected a square matrix")
    if mat.shape[0] != len(names):
        raise InputError(f"argument '{field}' is a {mat.shape[0]} x {mat.shape[0]} matrix but "
                         f"there are {len(names)} labels")
    if np.any(~np.isfinite(mat)) or np.any(np.abs(mat) > 1):
        raise InputError(f"argument '{field}': all correlations must be in [-1, 1]")
    pos = {n: a for a, n in enumerate(names)}
    pos_str = {str(n): a for a, n in enumerate(names)}
    idx = []
    for lab in labels:
        if lab in pos:
            idx.append(pos[lab])
        elif str(lab) in pos_str:
            idx.append(pos_str[str(lab)])
        else:
            raise InputError(f"argument '{field}': the {what} value {lab!r} has no row/column "
                             "in the correlation matrix")
    ix = np.asarray(idx)
    return mat[np.ix_(ix, ix)]


def vcalc(vi: Any, cluster: Any, *, subgroup: Any = None, obs: Any = None, type: Any = None,
          time1: Any = None, time2: Any = None, grp1: Any = None, grp2: Any = None,
          w1: Any = None, w2: Any = None, rho: Any = None, phi: float | None = None,
          data: Any = None, rvars: Sequence[str] | None = None, sparse: bool = False,
          return_list: bool = False, checkpd: bool = True) -> Any:
    """The variance-covariance matrix of dependent effect sizes (metafor ``vcalc``).

    Within a cluster, effects i and j have covariance ``sqrt(v_i v_j) r_ij`` with (metafor
    3.8 ``vcalc``; Gleser & Olkin 2009 for shared groups)::

        r_ij = rho_ij * [ c(g1i, g1j) / sqrt(w1i w1j) - c(g1i, g2j) / sqrt(w1i w2j)
                          - c(g2i, g1j) / sqrt(w2i w1j) + c(g2i, g2j) / sqrt(w2i w2j) ]
               / (d_i d_j),
        d_i  = sqrt(1/w1i + 1/w2i - 2 c(g1i, g2i) / sqrt(w1i w2i)),

    where ``c(a, b)`` is 0 for different groups and ``phi^|t_a - t_b|`` for the same group
    measured at times ``t_a``, ``t_b``, and ``rho_ij`` is 1 for the same observation,
    ``rho[obs_i, obs_j]`` for different observations of the same ``type`` and
    ``rho[type_i, type_j]`` for different types. Effects of different clusters are
    independent.

    Parameters
    ----------
    vi : array_like or str
        Sampling variances (or a column name of ``data``); a scalar is used for every row.
    cluster : array_like or str
        Cluster (study) of each effect.
    subgroup : array_like or str, optional
        Independent subgroups within a cluster (e.g. separate samples).
    obs : array_like or str, optional
        Observation (e.g. effect size id) within a type; needs ``rho``.
    type : array_like or str, optional
        Construct / outcome type; needs ``rho``.
    time1, time2 : array_like or str, optional
        Measurement times of the first (and second) group; need ``phi``.
    grp1, grp2 : array_like or str, optional
        Labels of the two groups of each contrast (effects sharing a group are correlated).
    w1, w2 : array_like or str, optional
        Sizes of the groups (default 1).
    rho : float, sequence of two, DataFrame or array, optional
        The correlations: a scalar; with both ``type`` and ``obs`` a pair ``(within-type
        correlation of observations, between-type correlation)``; or a correlation matrix
        among the ``obs`` (or ``type``) values, as a labelled pandas DataFrame (or a square
        array whose rows follow the sorted distinct values).
    phi : float, optional
        Autocorrelation of repeated measurements, in [-1, 1].
    data : pandas.DataFrame, optional
        Data frame in which column names are looked up.
    rvars : sequence of str, optional
        Names of ``data`` columns holding each cluster's correlation (or, with ``vi=1``,
        covariance) matrix: row i of a cluster with n rows takes the first n columns, the
        lower triangle is used (metafor's ``rvars``; the other structure arguments are then
        ignored, with a warning).
    sparse : bool, default False
        Return a ``scipy.sparse`` CSR matrix (memory linear in k).
    return_list : bool, default False
        Return the list of per-cluster blocks (clusters in order of first appearance, rows
        within a block in input order).
    checkpd : bool, default True
        Warn when a cluster's block is not positive definite.

    Returns
    -------
    numpy.ndarray, scipy.sparse.csr_matrix or list of numpy.ndarray
        The k x k block-diagonal matrix in the input row order (or its blocks).

    Raises
    ------
    InputError
        For missing or misaligned values, a correlation outside [-1, 1], ``type``/``obs``
        without ``rho``, times without ``phi``, or ``grp2``/``time2``/``w2`` without their
        first counterparts.

    References
    ----------
    .. [1] Viechtbauer W (2022). vcalc: Construct or approximate the variance-covariance
           matrix of dependent effect sizes. metafor 3.8 manual.
           https://wviechtb.github.io/metafor/reference/vcalc.html
    .. [2] Gleser LJ, Olkin I (2009). Stochastically dependent effect sizes. In Cooper H,
           Hedges LV, Valentine JC (eds), *The Handbook of Research Synthesis and
           Meta-Analysis*, 2nd ed, 357-376. Russell Sage Foundation.
    .. [3] Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package.
           *J Stat Softw* 36(3):1-48. doi:10.18637/jss.v036.i03

    Examples
    --------
    Two studies with two and three correlated outcomes (rho = 0.6):

    >>> import evsynth
    >>> V = evsynth.vcalc([0.04, 0.09, 0.01, 0.04, 0.09], cluster=[1, 1, 2, 2, 2],
    ...                   obs=[1, 2, 1, 2, 3], rho=0.6)
    >>> V[:2, :2].round(4).tolist()
    [[0.04, 0.036], [0.036, 0.09]]
    >>> float(V[0, 2])
    0.0

    Two treatment groups compared with one shared control group (sizes 20, 25 and 30):

    >>> V = evsynth.vcalc([0.10, 0.09], cluster=[1, 1], grp1=["A", "B"], grp2=["C", "C"],
    ...                   w1=[20, 25], w2=[30, 30])
    >>> round(float(V[0, 1] / (0.10 * 0.09) ** 0.5), 4)
    0.4264
    """
    frame = as_frame(data)
    v = _vi(vi, frame, _cluster_len(cluster, frame))
    k = v.size
    if k == 1:
        raise InputError("vcalc(): k = 1; there is nothing to correlate")
    cl_vals = _values("cluster", cluster, frame, k)
    if subgroup is not None:
        sg = _values("subgroup", subgroup, frame, k)
        cl_vals = np.fromiter(zip(cl_vals, sg, strict=True), dtype=object, count=k)
    codes, cl_labels = _codes(cl_vals)
    layout = _Layout(codes, len(cl_labels))
    if rvars is not None:
        given = [name for name, val in (("type", type), ("obs", obs), ("grp1", grp1),
                                        ("grp2", grp2), ("time1", time1), ("time2", time2),
                                        ("w1", w1), ("w2", w2), ("rho", rho), ("phi", phi))
                 if val is not None]
        if given:
            warnings.warn(f"vcalc(): argument(s) {', '.join(given)} ignored when 'rvars' is "
                          "given (as metafor)", UserWarning, stacklevel=2)
        return _vcalc_rvars(v, rvars, frame, layout, cl_labels, sparse, return_list, checkpd)
    if type is not None and rho is None:
        raise InputError("vcalc(): argument 'rho' is required when 'type' is given")
    if obs is not None and rho is None:
        raise InputError("vcalc(): argument 'rho' is required when 'obs' is given")
    type_v = _values("type", type, frame, k) if type is not None else np.ones(k, dtype=int)
    obs_v = _values("obs", obs, frame, k) if obs is not None else np.ones(k, dtype=int)
    if grp2 is not None and grp1 is None:
        raise InputError("vcalc(): give only 'grp1', both 'grp1' and 'grp2', or neither")
    if time2 is not None and time1 is None:
        raise InputError("vcalc(): give only 'time1', both 'time1' and 'time2', or neither")
    if time2 is not None and grp2 is None:
        raise InputError("vcalc(): argument 'grp2' is required when 'time2' is given")
    if w2 is not None and w1 is None:
        raise InputError("vcalc(): give only 'w1', both 'w1' and 'w2', or neither")
    if w2 is not None and grp2 is None:
        raise InputError("vcalc(): argument 'grp2' is required when 'w2' is given")
    g_first, g_second = _Missing(), _Missing()
    g1 = _values("grp1", grp1, frame, k) if grp1 is not None else np.full(k, g_first)
    g2 = _values("grp2", grp2, frame, k) if grp2 is not None else np.full(k, g_second)
    if grp2 is not None:
        same = [i for i in range(k) if g1[i] == g2[i]]
        if same:
            raise InputError(f"row {same[0] + 1}: fields 'grp1' and 'grp2' are both "
                             f"{shown(g1[same[0]])}; expected two different groups (an effect "
                             "contrasting a group with itself has no sampling variance)")
    if time1 is not None or time2 is not None:
        if phi is None:
            raise InputError("vcalc(): argument 'phi' is required when 'time1' and/or 'time2' "
                             "are given")
    else:
        phi = 1.0
    if isinstance(phi, (bool, np.bool_)) or not isinstance(phi, (int, float, np.number)) \
            or not math.isfinite(float(phi)) or abs(float(phi)) > 1:
        raise InputError(f"argument 'phi' is {phi!r}; expected an autocorrelation in [-1, 1]")
    phi_f = float(phi)
    t1 = numeric_vector("time1", time1, frame) if time1 is not None else np.ones(k)
    t2 = numeric_vector("time2", time2, frame) if time2 is not None else t1
    w1a = numeric_vector("w1", w1, frame) if w1 is not None else np.ones(k)
    w2a = numeric_vector("w2", w2, frame) if w2 is not None else w1a
    for name, arr in (("time1", t1), ("time2", t2), ("w1", w1a), ("w2", w2a)):
        if arr.size != k:
            raise InputError(f"argument '{name}' has {arr.size} values but 'vi' has {k}")
    for name, arr in (("w1", w1a), ("w2", w2a)):
        bad = np.flatnonzero(arr <= 0)
        if bad.size:
            raise InputError(f"row {bad[0] + 1}: field '{name}' is {shown(arr[bad[0]])}; "
                             "expected a group size > 0")
    # the two correlation matrices (obs within a type; between types), as metafor
    form = _rho_form(rho)
    if type is not None and obs is not None:
        if form != "pair":
            raise InputError("vcalc(): when 'type' and 'obs' are both given, 'rho' must give "
                             "both the within- and the between-type correlations: a list of "
                             "two parts, each a scalar or a matrix")
        if len(rho) != 2:
            raise InputError(f"vcalc(): when 'type' and 'obs' are both given, 'rho' must have "
                             f"two elements (it has {len(rho)})")
        rho_obs, rho_type = rho[0], rho[1]
    elif type is not None:
        if form == "pair":
            raise InputError("vcalc(): when only 'type' is given, 'rho' must be a scalar or a "
                             "matrix")
        rho_obs, rho_type = 0.0, rho
    elif obs is not None:
        if form == "pair":
            raise InputError("vcalc(): when only 'obs' is given, 'rho' must be a scalar or a "
                             "matrix")
        rho_obs, rho_type = rho, 0.0
    else:
        rho_obs, rho_type = 0.0, 0.0
    oc, o_labels = _codes(obs_v)
    tc, t_labels = _codes(type_v)
    R1 = _rho_matrix(rho_obs, o_labels, "rho", "obs")
    R2 = _rho_matrix(rho_type, t_labels, "rho", "type")
    gc, _ = _codes(np.concatenate([g1.astype(object), g2.astype(object)]))
    gc1, gc2 = gc[:k], gc[k:]
    sd = np.sqrt(v)
    blocks = []
    R_blocks = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for _, rows in layout.groups:
            n = rows.shape[1]
            R = _vcalc_block(rows, oc, tc, gc1, gc2, t1, t2, w1a, w2a, R1, R2, phi_f)
            lower = np.tril(np.ones((n, n), dtype=bool), -1)
            R = np.where(lower, R, 0.0)
            R = R + np.swapaxes(R, 1, 2) + np.eye(n)
            R_blocks.append(R)
            blocks.append(R * sd[rows][:, :, None] * sd[rows][:, None, :])
    if checkpd:
        _check_pd(layout, R_blocks, cl_labels, "vcalc()")
    return _assemble(layout, blocks, sparse, return_list)


def _vcalc_rvars(v: np.ndarray, rvars: Sequence[str], frame: Any, layout: _Layout,
                 labels: list[Any], sparse: bool, return_list: bool, checkpd: bool) -> Any:
    """metafor's ``vcalc(..., rvars=)``: the correlation matrices stored in columns."""
    if frame is None:
        raise InputError("vcalc(): 'rvars' needs data= (the columns holding the matrices)")
    if isinstance(rvars, str) or not all(isinstance(r, str) for r in rvars):
        raise InputError(f"argument 'rvars' is {rvars!r}; expected a list of column names")
    cols = np.column_stack([numeric_vector(r, r, frame, allow_missing=True) for r in rvars])
    nmax = int(layout.sizes.max())
    if nmax != cols.shape[1]:
        raise InputError(f"argument 'rvars' names {cols.shape[1]} columns but the largest "
                         f"cluster has {nmax} rows; expected as many columns as that")
    sd = np.sqrt(v)
    blocks = []
    R_blocks = []
    for _, rows in layout.groups:
        n = rows.shape[1]
        R = cols[rows][:, :, :n]  # (J_n, n, n): row a, column b
        lower = np.tril(np.ones((n, n), dtype=bool))
        R = np.where(lower, R, np.swapaxes(R, 1, 2))
        R_blocks.append(R)
        blocks.append(R * sd[rows][:, :, None] * sd[rows][:, None, :])
    if checkpd:
        _check_pd(layout, R_blocks, labels, "vcalc()")
    return _assemble(layout, blocks, sparse, return_list)


def _vcalc_block(rows: np.ndarray, oc: np.ndarray, tc: np.ndarray, gc1: np.ndarray,
                 gc2: np.ndarray, t1: np.ndarray, t2: np.ndarray, w1: np.ndarray,
                 w2: np.ndarray, R1: np.ndarray, R2: np.ndarray, phi: float) -> np.ndarray:
    """metafor's r_ij for every pair of rows of the clusters in ``rows`` (J_n, n)."""
    def pair(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = a[rows]
        return x[:, :, None], x[:, None, :]

    oi, oj = pair(oc)
    ti_, tj_ = pair(tc)
    g1i, g1j = pair(gc1)
    g2i, g2j = pair(gc2)
    a1i, a1j = pair(t1)
    a2i, a2j = pair(t2)
    u1i, u1j = pair(1 / w1)
    u2i, u2j = pair(1 / w2)
    rho = np.where(ti_ == tj_, np.where(oi == oj, 1.0, R1[oi, oj]), R2[ti_, tj_])

    def c(ga: np.ndarray, gb: np.ndarray, ta: np.ndarray, tb: np.ndarray) -> np.ndarray:
        return np.where(ga == gb, np.where(ta == tb, 1.0, phi ** np.abs(ta - tb)), 0.0)

    num = (c(g1i, g1j, a1i, a1j) * np.sqrt(u1i * u1j) - c(g1i, g2j, a1i, a2j) * np.sqrt(u1i * u2j)
           - c(g2i, g1j, a2i, a1j) * np.sqrt(u2i * u1j) + c(g2i, g2j, a2i, a2j)
           * np.sqrt(u2i * u2j))
    x1 = rows
    g1, g2 = gc1[x1], gc2[x1]
    d = np.sqrt(1 / w1[x1] + 1 / w2[x1] - 2 * c(g1, g2, t1[x1], t2[x1])
                * np.sqrt(1 / w1[x1] / w2[x1]))
    return rho * num / (d[:, :, None] * d[:, None, :])


def impute_covariance(vi: Any, cluster: Any, r: Any = None, *, ti: Any = None, ar1: Any = None,
                      smooth_vi: bool = False, subgroup: Any = None, return_list: bool = False,
                      sparse: bool = False, check_pd: bool = True, data: Any = None) -> Any:
    """Impute the covariance matrix of dependent effects from an assumed correlation
    (clubSandwich ``impute_covariance_matrix``).

    Within cluster j, effects i and i' have covariance ``sqrt(v_i v_i') (r + (1 - r)
    ar1^|t_i - t_i'|)`` (``r`` alone: a constant correlation; ``ar1`` alone: an AR(1)
    correlation over the times ``ti``), and 0 between different ``subgroup`` values and
    different clusters (Pustejovsky & Tipton 2022; clubSandwich 0.5).

    Parameters
    ----------
    vi : array_like or str
        Sampling variances.
    cluster : array_like or str
        Cluster (study) of each effect.
    r : float or array_like, optional
        Correlation within clusters: one value, or one per cluster in the order of the sorted
        cluster labels (as clubSandwich).
    ti : array_like or str, optional
        Measurement times (needed with ``ar1``).
    ar1 : float or array_like, optional
        AR(1) autocorrelation (one value, or one per cluster as ``r``).
    smooth_vi : bool, default False
        Use the cluster's mean variance for all its effects.
    subgroup : array_like or str, optional
        Effects in different subgroups of a cluster are taken as independent.
    return_list : bool, default False
        Return the per-cluster blocks (clusters in sorted-label order, as clubSandwich).
    sparse : bool, default False
        Return a ``scipy.sparse`` CSR matrix.
    check_pd : bool, default True
        Warn when a block is not positive definite.
    data : pandas.DataFrame, optional
        Data frame in which column names are looked up.

    Returns
    -------
    numpy.ndarray, scipy.sparse.csr_matrix or list of numpy.ndarray
        The k x k block-diagonal matrix in input row order (or the blocks).

    References
    ----------
    .. [1] Pustejovsky JE, Tipton E (2022). Meta-analysis with robust variance estimation:
           expanding the range of working models. *Prev Sci* 23(3):425-438.
           doi:10.1007/s11121-021-01246-3
    .. [2] Pustejovsky JE (2022). clubSandwich: Cluster-robust (sandwich) variance estimators
           with small-sample corrections. R package 0.5.8.

    Examples
    --------
    >>> import evsynth
    >>> V = evsynth.impute_covariance([0.04, 0.09, 0.01], cluster=["a", "a", "b"], r=0.5)
    >>> V.round(4).tolist()
    [[0.04, 0.03, 0.0], [0.03, 0.09, 0.0], [0.0, 0.0, 0.01]]
    """
    frame = as_frame(data)
    v = _vi(vi, frame, None)
    k = v.size
    cl_vals = _values("cluster", cluster, frame, k)
    # clubSandwich orders the clusters by their (sorted) factor levels
    _, uniq = _codes(cl_vals)
    try:
        levels = sorted(uniq)
    except TypeError:
        levels = sorted(uniq, key=str)
    first, _ = _codes(cl_vals)
    pos = {lab: a for a, lab in enumerate(levels)}
    codes = np.array([pos[u] for u in uniq], dtype=np.int64)[first]
    J = len(levels)
    layout = _Layout(codes, J)
    if r is None and ar1 is None:
        raise InputError("impute_covariance(): give a value for 'r' or for 'ar1'")

    def per_cluster(x: Any, field: str, lo: float) -> np.ndarray:
        arr = np.atleast_1d(np.asarray(x, dtype=float))
        if arr.ndim != 1 or arr.size not in (1, J):
            raise InputError(f"argument '{field}' has {arr.size} values; expected one value or "
                             f"one per cluster ({J})")
        if np.any(~np.isfinite(arr)) or np.any(arr < lo) or np.any(arr > 1):
            raise InputError(f"argument '{field}' is {x!r}; expected correlations in "
                             f"[{lo:g}, 1]")
        return np.broadcast_to(arr, (J,)).copy()

    r_c = per_cluster(r, "r", -1.0) if r is not None else None
    a_c = per_cluster(ar1, "ar1", -1.0) if ar1 is not None else None
    if a_c is not None and ti is None:
        raise InputError("impute_covariance(): argument 'ti' is required with 'ar1'")
    t = numeric_vector("ti", ti, frame) if ti is not None else None
    if t is not None and t.size != k:
        raise InputError(f"argument 'ti' has {t.size} values but 'vi' has {k}")
    if smooth_vi:
        v = (np.bincount(codes, weights=v, minlength=J) / layout.sizes)[codes]
    sg = None
    if subgroup is not None:
        sg, _ = _codes(_values("subgroup", subgroup, frame, k))
    sd = np.sqrt(v)
    blocks = []
    R_blocks = []
    for cl, rows in layout.groups:
        n = rows.shape[1]
        eye = np.eye(n)
        if a_c is not None:
            assert t is not None
            dist = np.abs(t[rows][:, :, None] - t[rows][:, None, :])
            ar = a_c[cl][:, None, None] ** dist
            R = ar if r_c is None else r_c[cl][:, None, None] + (1 - r_c[cl][:, None, None]) * ar
        else:
            assert r_c is not None
            R = r_c[cl][:, None, None] + (1 - r_c[cl][:, None, None]) * eye
        if sg is not None:
            R = R * (sg[rows][:, :, None] == sg[rows][:, None, :])
        R_blocks.append(R)
        blocks.append(R * sd[rows][:, :, None] * sd[rows][:, None, :])
    if check_pd:
        _check_pd(layout, R_blocks, levels, "impute_covariance()")
    return _assemble(layout, blocks, sparse, return_list)

