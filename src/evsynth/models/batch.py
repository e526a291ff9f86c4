"""Many meta-analyses at once: :func:`meta_batch`.

All groups are stacked in flat arrays with group offsets and fitted by the same kernels as
:func:`evsynth.meta` (:func:`evsynth.models.engine.fit_batch`), iterating every group at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evsynth.errors import InputError
from evsynth.models.engine import TESTS, Control, fit_batch, normalise_level
from evsynth.models.kernels import FIXED_METHODS, METHODS, Design, Segments

BATCH_COLUMNS = ("k", "estimate", "se", "zval", "pval", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2",
                 "se_tau2", "tau", "I2", "H2", "QE", "QEp", "converged", "iterations", "note")


def _group_codes(df: pd.DataFrame, by) -> tuple[np.ndarray, pd.DataFrame]:
    cols = [by] if isinstance(by, str) else list(by)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(f"meta_batch: column(s) {missing} named in by= are not in the data")
    if len(cols) == 1:
        codes, uniques = pd.factorize(df[cols[0]], sort=False)
        keys = pd.DataFrame({cols[0]: np.asarray(uniques)})
    else:
        mi = pd.MultiIndex.from_frame(df[cols])
        codes, uniques = pd.factorize(mi, sort=False)
        keys = uniques.to_frame(index=False)
    if (codes < 0).any():
        i = int(np.flatnonzero(codes < 0)[0])
        raise InputError(f"meta_batch: row {i + 1}: group column(s) {cols} are missing")
    return codes.astype(np.int64), keys


def meta_batch(df: pd.DataFrame, by, yi: str = "yi", vi: str = "vi", method: str = "REML",
               test: str = "z", level: float = 95, control: dict | None = None) -> pd.DataFrame:
    """Fit one intercept-only meta-analysis per group of ``df`` (grouped by column(s) ``by``).

    Returns one row per group (in order of first appearance) with the group key(s) and ``k``,
    ``estimate``, ``se``, ``zval``, ``pval``, ``ci_lb``, ``ci_ub``, ``pi_lb``, ``pi_ub`` (metafor's
    default prediction interval), ``tau2``, ``se_tau2``, ``tau``, ``I2``, ``H2``, ``QE``, ``QEp``,
    ``converged``, ``iterations``, ``note``. Results equal those of :func:`evsynth.meta` on each
    group (same code path). A group with k = 1 gets tau^2 = 0 and a note; under t-based tests its
    p-value and CI are undefined (NaN, with the note saying why).
    """
    if method not in METHODS or method == "GENQ":
        raise InputError(f"unknown method {method!r}; expected one of {', '.join(METHODS[:-1])}")
    if test not in TESTS:
        raise InputError(f"unknown test {test!r}; expected one of {', '.join(TESTS)}")
    for col in (yi, vi):
        if col not in df.columns:
            raise InputError(f"meta_batch: column {col!r} is not in the data")
    lvl = normalise_level(level)
    codes, keys = _group_codes(df, by)
    y = df[yi].to_numpy(dtype=float)
    v = df[vi].to_numpy(dtype=float)
    for arr, name in ((y, yi), (v, vi)):
        bad = ~np.isfinite(arr) if name == yi else ~(np.isfinite(arr) & (arr > 0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            key = keys.iloc[codes[i]].to_dict()
            want = "a finite number" if name == yi else "a positive finite sampling variance"
            raise InputError(f"meta_batch: row {i + 1} (group {key}): field '{name}' is "
                             f"{arr[i]!r}; expected {want}")
    if codes.size and np.all(codes[1:] >= codes[:-1]):
        order = None
    else:
        order = np.argsort(codes, kind="stable")
        codes, y, v = codes[order], y[order], v[order]
    sizes = np.bincount(codes, minlength=len(keys))
    des = Design(y, v, np.ones((y.size, 1)), Segments(sizes))
    out = fit_batch(des, method, test, lvl, Control.from_any(control), compute_r2=False,
                    row_weights=False)
    k = out["k"]
    est, se = out["beta"][:, 0], out["se"][:, 0]
    tau2 = out["tau2"]
    crit = out["crit"]
    with np.errstate(invalid="ignore"):
        pi_half = crit * np.sqrt(se**2 + tau2)
    note = np.where(k == 1, "k = 1: tau^2 set to 0", "")
    if test != "z":
        note = np.where(k == 1, "k = 1: no degrees of freedom for the t distribution", note)
    if method not in FIXED_METHODS:
        note = np.where(out["fallback"], "bracketing root finder used", note)
    res = keys.copy()
    res["k"] = k
    res["estimate"] = est
    res["se"] = se
    res["zval"] = out["zval"][:, 0]
    res["pval"] = out["pval"][:, 0]
    res["ci_lb"] = out["ci_lb"][:, 0]
    res["ci_ub"] = out["ci_ub"][:, 0]
    res["pi_lb"] = est - pi_half
    res["pi_ub"] = est + pi_half
    res["tau2"] = tau2
    res["se_tau2"] = out["se_tau2"]
    res["tau"] = np.sqrt(tau2)
    res["I2"] = out["I2"]
    res["H2"] = out["H2"]
    res["QE"] = out["QE"]
    res["QEp"] = out["QEp"]
    res["converged"] = out["converged"]
    res["iterations"] = out["iterations"]
    res["note"] = note
    res.attrs["method_info"] = {"estimator": method, "test": test, "level": lvl,
                                "tolerance": Control.from_any(control).tol,
                                "reference": "metafor rma.uni, one fit per group"}
    return res
