"""Many meta-analyses at once: :func:`meta_batch`.

All groups are stacked in flat arrays with group offsets and fitted by the same kernels as
:func:`evsynth.meta` (:func:`evsynth.models.engine.fit_batch`), iterating every group at once.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from evsynth.errors import InputError, shown
from evsynth.models.engine import Control, fit_batch, fused_batch, prediction_half
from evsynth.models.kernels import FIXED_METHODS, Design, Segments, pinned_kernels
from evsynth.models.results import FrameResult
from evsynth.validation import level_percent, meta_method, numeric_vector, test_code

BATCH_COLUMNS = ("k", "estimate", "se", "zval", "pval", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2",
                 "se_tau2", "tau", "I2", "H2", "QE", "QEp", "converged", "iterations", "note")


def key_columns(by: str | Sequence[str]) -> list[str]:
    """The group key column(s) named by ``by``: a column name or a non-empty list of names."""
    if isinstance(by, str):
        return [by]
    try:
        cols = list(by)
    except TypeError:
        cols = []
    if not cols or not all(isinstance(c, str) for c in cols):
        raise InputError(f"argument 'by' is {by!r}; expected a column name or a list of column "
                         "names")
    return cols


def check_columns(cols: Sequence[str], yi: str, vi: str,
                  names: tuple[str, str, str] = ("by=", "yi=", "vi=")) -> None:
    """Refuse a column named in two roles (a group key that is also ``yi`` or ``vi``, ``yi``
    the same as ``vi``, or a key column named twice): an :class:`InputError` naming the
    column and the roles; ``names`` are the roles' names in messages (the CLI's options). The
    one check of meta_batch, its Dask path and ``evsynth batch``."""
    roles: dict[str, str] = {}
    for role, columns in zip(names, (list(cols), [yi], [vi]), strict=True):
        for c in columns:
            if c in roles:
                two = (f"twice in {role}" if roles[c] == role
                       else f"in both {roles[c]} and {role}")
                raise InputError(f"column {c!r} is named {two}; expected different columns "
                                 f"for the group key(s) ({names[0]}), the effect sizes "
                                 f"({names[1]}) and the sampling variances ({names[2]})")
            roles[c] = role


def _group_codes(df: pd.DataFrame, by: str | Sequence[str]) -> tuple[np.ndarray, pd.DataFrame]:
    cols = key_columns(by)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(f"meta_batch: column(s) {missing} named in by= are not in the data")
    if len(cols) > 1:  # factorize would make a missing key part of a group of its own
        na = df[cols].isna().to_numpy()
        if na.any():
            i, j = (int(x[0]) for x in np.nonzero(na))
            raise InputError(f"meta_batch: row {i + 1}: group column {cols[j]!r} is missing")
    if len(cols) == 1:
        col = df[cols[0]]
        runs = _sorted_runs(col)
        if runs is not None:  # the common layout: integer keys, each group's rows together
            codes, uniques = runs
        else:
            codes, uniques = pd.factorize(col, sort=False)
        keys = pd.DataFrame({cols[0]: np.asarray(uniques)})
    else:
        mi = pd.MultiIndex.from_frame(df[cols])
        codes, uniques = pd.factorize(mi, sort=False)
        keys = uniques.to_frame(index=False)
        keys.columns = cols  # factorize drops the MultiIndex names (pandas 3)
    if (codes < 0).any():
        i = int(np.flatnonzero(codes < 0)[0])
        raise InputError(f"meta_batch: row {i + 1}: group column(s) {cols} are missing")
    return codes.astype(np.int64), keys


def _sorted_runs(col: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """``pd.factorize(col, sort=False)`` without hashing when ``col`` is a numpy integer column
    in non-decreasing order (every group's rows together, groups in order of first appearance):
    codes count the runs, the keys are the first value of each run. None otherwise."""
    if not isinstance(col.dtype, np.dtype) or col.dtype.kind not in "iu" or len(col) == 0:
        return None
    a = col.to_numpy()
    new = np.empty(a.size, dtype=bool)
    new[0] = True
    np.greater(a[1:], a[:-1], out=new[1:])
    if not np.all(new[1:] | (a[1:] == a[:-1])):
        return None
    return np.cumsum(new) - 1, a[new]


def _run_starts(df: pd.DataFrame,
                by: str | Sequence[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """The first row of every group and its key when ``by`` is one numpy integer column in
    strictly increasing runs (the groups of :func:`_sorted_runs`, without a code per row);
    None otherwise."""
    if not isinstance(by, str) or by not in df.columns:
        return None
    col = df[by]
    if not isinstance(col.dtype, np.dtype) or col.dtype.kind not in "iu" or len(col) == 0:
        return None
    a = col.to_numpy()
    fused = _fused_module(a.size)
    if fused is not None:  # one pass, no temporaries of the data's size
        found = fused.run_starts(a)
        if found is None:
            return None
        starts, firsts = found
    else:
        if not np.all(a[1:] >= a[:-1]):
            return None
        starts = np.flatnonzero(a[1:] != a[:-1])
        starts += 1
        starts = np.concatenate(([0], starts))
        firsts = a[starts]
    return starts, firsts


#: rows from which meta_batch finds the groups' first rows in one pass (numba)
_FUSED_MIN_ROWS = 1 << 20
#: the same once numba is loaded in this process (by an earlier big batch): from these rows on
#: the one pass beats numpy's three (0.2 vs 0.05 ms for 10^5 rows; 2.5 vs 0.9 ms for 10^6)
_FUSED_MIN_ROWS_LOADED = 1 << 14


def _fused_module(n: int) -> Any:
    """:mod:`evsynth.models._fused` for data of ``n`` rows when its one-pass helpers pay
    (numba installed, n >= 2^20, or n >= 2^14 once the module is loaded); None otherwise
    (small data do not load numba). The helpers give the same values as the numpy steps."""
    loaded = sys.modules.get("evsynth.models._fused")
    if n < (_FUSED_MIN_ROWS if loaded is None else min(_FUSED_MIN_ROWS, _FUSED_MIN_ROWS_LOADED)):
        return None
    from evsynth.models import _fused

    return _fused if _fused.AVAILABLE else None


def _float_column(name: str, col: pd.Series) -> np.ndarray:
    """A float64 column's values as they are (no copy; the fit only reads them), any other
    column through :func:`numeric_vector`."""
    if col.dtype == np.float64:
        return col.to_numpy()
    return numeric_vector(name, col, allow_missing=True)


#: the notes of a batch row (codes of :func:`meta_batch`'s ``note`` column)
_NOTE_K1_Z = "k = 1: tau^2 set to 0"
_NOTE_K1_T = "k = 1: no degrees of freedom for the t distribution"
_NOTE_FALLBACK = "bracketing root finder used"
_NOTE_TEXTS: dict[str, Any] = {}


def _note_column(k: np.ndarray, fallback: np.ndarray | None, test: str) -> Any:
    """The ``note`` column: each row's note taken from the few distinct strings (a string
    per row built by np.where and converted by pandas cost more than the whole fit of a DL
    batch); the strings' array is made once per test."""
    texts = _NOTE_TEXTS.get(test)
    if texts is None:
        texts = pd.array(["", _NOTE_K1_Z if test == "z" else _NOTE_K1_T, _NOTE_FALLBACK],
                         dtype="str")
        _NOTE_TEXTS[test] = texts
    code = np.where(k == 1, 1, 0)
    if fallback is not None:
        code[fallback] = 2
    return texts.take(code)


def _key_columns(keys: pd.DataFrame) -> dict[str, Any]:
    """The group keys as the first columns of a batch frame (their arrays: no index to align)."""
    return {c: keys[c].array for c in keys.columns}


def _key_of(keys: dict[str, Any], g: int) -> dict[str, Any]:
    """Group ``g``'s key as a dict of Python values (for messages)."""
    return {c: (a[g].item() if isinstance(a[g], np.generic) else a[g]) for c, a in keys.items()}


class BatchResult(FrameResult):
    """Many fitted meta-analyses: the results contract for a batch (one row per group).

    ``k``, ``estimate``, ``se``, ``zval``, ``pval``, ``ci_lb``, ``ci_ub``, ``pi_lb``, ``pi_ub``,
    ``tau2``, ``I2``, ``QE``, ... are arrays with one value per group (also reachable as
    ``res["tau2"]``); ``level`` is in percent; ``method_info`` records every choice;
    ``to_frame()`` is the table (group keys first); ``summary()`` a short description;
    ``to_dict()`` JSON-safe. Other DataFrame attributes (``res.columns``, ``res.iterrows()``)
    still work for one release with a DeprecationWarning: use ``res.to_frame()``.
    """

    _dict_fields = ("level", "method_info", "table")
    _was_dataframe = "meta_batch()"

    def __init__(self, frame: pd.DataFrame, keys: list[str], level: float,
                 method_info: dict[str, Any]) -> None:
        self.frame = frame
        self.keys = keys
        self.level = level
        self.method_info = method_info

    def summary_text(self) -> str:
        info = self.method_info
        n = len(self.frame)
        lines = [f"{n} meta-analyses (tau^2 estimator: {info['estimator']}; test: "
                 f"{info['test']}; level: {self.level:g}%)"]
        if n:
            k = self.frame["k"]
            lines.append(f"k per analysis: {int(k.min())} to {int(k.max())} (median "
                         f"{float(k.median()):g}); not converged: "
                         f"{int((~self.frame['converged'].astype(bool)).sum())}")
            lines.append("")
            shown = self.frame.head(10)
            lines.append(shown.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
            if n > 10:
                lines.append(f"... {n - 10} more rows (to_frame() for all)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        head = html.escape(self.summary_text().splitlines()[0])
        return f"<strong>{head}</strong>" + self.frame.head(50).to_html(index=False)


def meta_batch(df: pd.DataFrame, by: str | Sequence[str], yi: str = "yi", vi: str = "vi",
               method: str = "REML", test: str = "z", level: float = 95,
               control: dict[str, Any] | None = None) -> BatchResult:
    """Fit one intercept-only meta-analysis per group of ``df`` (grouped by column(s) ``by``).

    Every group is fitted by the same code path as :func:`evsynth.meta` (metafor ``rma.uni``), all
    groups at once in flat arrays, so results equal those of ``meta`` on each group. A group with
    k = 1 gets tau^2 = 0 and a note; under t-based tests its p-value and CI are undefined (NaN,
    with the note saying why).

    ``df`` may also be a Dask DataFrame partitioned by the group key (every group's rows in
    one partition; checked): the result is then a Dask DataFrame with the columns of
    ``to_frame()``, fitted partition by partition where the rows live
    (:mod:`evsynth.models.dask_batch`; optional extra ``evsynth[dask]``).

    Parameters
    ----------
    df : pandas.DataFrame
        One row per study, with the group key(s) and the effect sizes and sampling variances.
    by : str or sequence of str
        Column(s) defining the groups (one meta-analysis per distinct key).
    yi, vi : str, default "yi", "vi"
        Columns of the effect sizes and sampling variances.
    method : str, default "REML"
        tau^2 estimator, as :func:`evsynth.meta` (case-insensitive).
    test : str, default "z"
        ``"z"``, ``"t"``, ``"knha"`` or ``"adhoc"``, as :func:`evsynth.meta`.
    level : float, default 95
        Confidence level in percent (95) or as a fraction (0.95).
    control : dict, optional
        Iteration settings, as :func:`evsynth.meta`.

    Returns
    -------
    BatchResult
        One row per group (in order of first appearance) with the group key(s) and ``k``,
        ``estimate``, ``se``, ``zval``, ``pval``, ``ci_lb``, ``ci_ub``, ``pi_lb``, ``pi_ub``
        (metafor's default prediction interval), ``tau2``, ``se_tau2``, ``tau``, ``I2``, ``H2``,
        ``QE``, ``QEp``, ``converged``, ``iterations``, ``note``; ``to_frame()`` gives them as a
        DataFrame, ``method_info`` describes the model.

    Raises
    ------
    InputError
        For a missing column, a non-finite effect or a non-positive variance (naming the row and
        its group), or an unknown method or test code.

    References
    ----------
    .. [1] Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package.
           *J Stat Softw* 36(3):1-48. doi:10.18637/jss.v036.i03
    .. [2] DerSimonian R, Laird N (1986). Meta-analysis in clinical trials. *Control Clin
           Trials* 7(3):177-188. doi:10.1016/0197-2456(86)90046-2

    Examples
    --------
    >>> import pandas as pd
    >>> import evsynth
    >>> df = pd.DataFrame({"outcome": ["pain"] * 3 + ["function"] * 3,
    ...                    "yi": [-0.4, -0.2, -0.6, 0.1, 0.3, 0.2],
    ...                    "vi": [0.04, 0.05, 0.06, 0.03, 0.04, 0.05]})
    >>> res = evsynth.meta_batch(df, by="outcome", method="DL")
    >>> print(res.to_frame()[["outcome", "k", "estimate", "ci_lb", "ci_ub"]].round(4))
        outcome  k  estimate   ci_lb   ci_ub
    0      pain  3   -0.3892 -0.6388 -0.1396
    1  function  3    0.1894 -0.0321  0.4108

    The same as one :func:`evsynth.meta` per group:

    >>> round(evsynth.meta(df.yi[:3], df.vi[:3], method="DL").estimate, 4)
    -0.3892
    """
    from evsynth.models.dask_batch import is_dask_frame

    if is_dask_frame(df):
        from evsynth.models.dask_batch import meta_batch_dask

        return meta_batch_dask(df, by, yi, vi, method, test, level, control)
    method = meta_method(method)
    test = test_code(test)
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"meta_batch: argument 'df' is a {type(df).__name__}; expected a pandas "
                         "DataFrame")
    if method in ("GENQ", "GENQM"):
        raise InputError(f"meta_batch: method {method!r} needs the study weights (the a_i of the "
                         "generalised Q statistic), which meta_batch does not take; fit each "
                         "group with evsynth.meta(..., weights=...)")
    key_cols = key_columns(by)
    check_columns(key_cols, yi, vi)
    for col in (yi, vi):
        if col not in df.columns:
            raise InputError(f"meta_batch: column {col!r} is not in the data")
    twice = sorted({c for c in (*key_cols, yi, vi) if c in df.columns
                    and np.count_nonzero(df.columns == c) > 1})
    if twice:
        raise InputError(f"meta_batch: the data have two columns named {twice[0]!r}; expected "
                         "one column per name")
    level = level_percent(level)
    lvl = level / 100
    con = Control.from_any(control)
    runs = _run_starts(df, by)
    codes: np.ndarray | None = None
    keys: dict[str, Any]  # the key column(s) of the groups, in order of first appearance
    if runs is not None:  # integer keys in runs: the groups without a code per row
        run_starts, firsts = runs
        keys = {str(by): firsts}

        def code(i: int) -> int:
            return int(np.searchsorted(run_starts, i, side="right")) - 1
    else:
        codes, key_frame = _group_codes(df, by)
        keys = _key_columns(key_frame)

        def code(i: int) -> int:
            assert codes is not None
            return int(codes[i])
    y = _float_column(yi, df[yi])
    v = _float_column(vi, df[vi])
    if y.size == 0:  # no rows, no groups: an empty result with every column
        from evsynth.models.dask_batch import empty_result

        return BatchResult(empty_result(pd.DataFrame(keys)), list(keys), level,
                           _info(method, test, level, con))
    ext = None
    if y.size:  # min and max propagate NaN: finite extremes mean finite data
        ext = (float(y.min()), float(y.max()), float(v.min()), float(v.max()))
        if not (np.isfinite(ext).all() and ext[2] > 0):
            ext = None
    for arr, name in (() if ext is not None else ((y, yi), (v, vi))):
        bad = ~np.isfinite(arr) if name == yi else ~(np.isfinite(arr) & (arr > 0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            key = _key_of(keys, code(i))
            want = "a finite number" if name == yi else "a positive finite sampling variance"
            raise InputError(f"meta_batch: row {i + 1} (group {key}): field '{name}' is "
                             f"{shown(arr[i])}; expected {want}")
    order = None
    if codes is None:
        sizes = np.diff(np.append(run_starts, y.size))
    else:
        if not (codes.size and np.all(codes[1:] >= codes[:-1])):
            order = np.argsort(codes, kind="stable")
            codes, y, v = codes[order], y[order], v[order]
        sizes = np.bincount(codes, minlength=len(next(iter(keys.values()))))
    des = Design(y, v, np.broadcast_to(np.ones(1), (y.size, 1)), Segments(sizes))

    def where(i: int) -> str:  # row i of the sorted data, named as in the input
        row = int(order[i]) if order is not None else i
        return f"row {row + 1} (group {_key_of(keys, code(i))})"

    # one choice of kernels for the whole batch (and for a Dask partition, the whole frame's):
    # every group's result independent of the batch around it
    try:
        with pinned_kernels(des.seg.G):
            fused = fused_batch(des, method, test, lvl, where, con, ext=ext)
            if fused is not None:  # big batch: every column from fused kernels
                res = pd.DataFrame(_frame_columns(keys, sizes, fused, test), copy=False)
                return BatchResult(res, list(keys), level, _info(method, test, level, con))
            out = fit_batch(des, method, test, lvl, con, compute_r2=False, row_weights=False,
                            where=where)
    except InputError as exc:  # the rows and groups it names are meta_batch's
        raise InputError(f"meta_batch: {exc}") from None
    est, se = out["beta"][:, 0], out["se"][:, 0]
    tau2 = out["tau2"]
    pi_half = prediction_half(out["crit"], se, tau2)
    cols = {"estimate": est, "se": se, "zval": out["zval"][:, 0], "pval": out["pval"][:, 0],
            "ci_lb": out["ci_lb"][:, 0], "ci_ub": out["ci_ub"][:, 0], "pi_lb": est - pi_half,
            "pi_ub": est + pi_half, "tau2": tau2, "se_tau2": out["se_tau2"],
            "tau": np.sqrt(tau2), "I2": out["I2"], "H2": out["H2"], "QE": out["QE"],
            "QEp": out["QEp"], "converged": out["converged"], "iterations": out["iterations"]}
    if method not in FIXED_METHODS:
        cols["fallback"] = out["fallback"]
    res = pd.DataFrame(_frame_columns(keys, out["k"], cols, test), copy=False)
    return BatchResult(res, list(keys), level, _info(method, test, level, con))


def _info(method: str, test: str, level: float, con: Control) -> dict[str, Any]:
    return {"estimator": method, "test": test, "level": level, "tolerance": con.tol,
            "max_iterations": con.maxiter, "ll0check": con.ll0check,
            "prediction_interval": "metafor default: estimate +/- crit * sqrt(se^2 + tau^2)",
            "reference": "metafor rma.uni, one fit per group"}


def _frame_columns(keys: dict[str, Any], k: np.ndarray, cols: dict[str, np.ndarray],
                   test: str) -> dict[str, Any]:
    """The columns of a batch frame, in :data:`BATCH_COLUMNS`' order after the group keys,
    from the per-group arrays of either path (:func:`evsynth.models.engine.fused_batch` or the
    general fit): ``converged``/``iterations`` default to a closed form's (converged, no
    iterations), ``fallback`` (groups the bracketing root finder solved) to none; the notes
    from k, the fallback and the test. Arrays are taken without copies (``pd.DataFrame(...,
    copy=False)`` does not consolidate them)."""
    G = k.size
    columns = dict(keys)
    columns["k"] = k
    columns.update({c: cols[c] for c in BATCH_COLUMNS[1:16]})
    columns.update({"converged": cols.get("converged", np.ones(G, dtype=bool)),
                    "iterations": cols.get("iterations", np.zeros(G, dtype=np.int64)),
                    "note": _note_column(k, cols.get("fallback"), test)})
    return columns
