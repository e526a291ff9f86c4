"""Refits of Mantel-Haenszel and Peto fits on subsets of their tables (shared by the
``leave1out``, ``cumul`` and ``baujat`` implementations for :class:`~evsynth.models.mh.MHResult`).

metafor refits ``rma.mh`` / ``rma.peto`` with the fit's own settings (``measure``, ``add``,
``to``, ``drop00``, ``correct``, ``level``) and ``subset=`` (``leave1out.rma.mh``,
``cumul.rma.mh``, ``baujat.rma``); a refit that fails is ``NA``. Here every refit is the public
:func:`evsynth.meta_mh` / :func:`evsynth.meta_peto` call on the subset of the tables the fit
recorded (:attr:`MHResult.tables`), so the estimator, its zero-cell handling and its checks are
exactly those of the original fit.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from evsynth.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from evsynth.models.mh import MHResult

#: the statistics of a refit reported by metafor's leave1out/cumul for rma.mh and rma.peto
KEYS = ("beta", "se", "zval", "pval", "ci_lb", "ci_ub", "QE", "QEp", "I2", "H2")


def tables_of(fit: MHResult) -> dict[str, np.ndarray]:
    """The per-study tables the fit was computed from (all ``k_all`` supplied studies)."""
    tables = fit.tables
    if not tables:
        raise InputError(f"this {fit.model_name} does not carry its 2x2 / person-time tables "
                         "(it was not made by meta_mh() or meta_peto()); refit it to use the "
                         "diagnostics")
    return tables


def labels_all(fit: MHResult) -> list[Any]:
    """Labels of all supplied studies (``fit.studies['slab']``), as metafor's ``slab``."""
    return list(fit.studies["slab"])


def in_model(fit: MHResult) -> np.ndarray:
    """Positions of the supplied studies the estimator uses (all but the double-zero tables
    removed by ``drop00[1]``): metafor's ``not.na``, the rows its diagnostics report."""
    return np.flatnonzero(np.asarray(fit.studies["in_model"], dtype=bool))


def refit(fit: MHResult, rows: Sequence[int] | np.ndarray) -> MHResult:
    """The fit's estimator on the supplied studies at positions ``rows`` (0-based, in that
    order), with its settings; InputError when it cannot be fitted (e.g. no informative
    table)."""
    from evsynth.models.mh import meta_mh, meta_peto

    rows = np.asarray(rows, dtype=np.int64)
    tables = tables_of(fit)
    sub = {name: np.asarray(col)[rows] for name, col in tables.items()}
    labels = labels_all(fit)
    info = fit.method_info
    kw: dict[str, Any] = {"slab": [labels[i] for i in rows], "add": info["add"],
                          "to": info["to"], "drop00": info["drop00"], "level": fit.level}
    with warnings.catch_warnings():  # e.g. non-integer counts, warned about by the fit itself
        warnings.simplefilter("ignore")
        if fit.method == "PETO":
            return meta_peto(**sub, **kw)
        correct = info.get("correct")
        return meta_mh(fit.measure, **sub, correct=True if correct is None else bool(correct),
                       **kw)


def refits(fit: MHResult, subsets: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Per subset the statistics in :data:`KEYS` of the refit (NaN where it fails, as metafor's
    NA), and ``vb`` = se^2.

    Where the Mantel-Haenszel estimator is not defined (e.g. no events in any table so far;
    :func:`evsynth.meta_mh` refuses, metafor's ``rma.mh`` returns an NA estimate, or for the
    risk difference of double-zero tables an estimate of 0 with standard error 0) but the subset
    has at most one study with a per-study effect, Q = 0, p = 1, I^2 = 0, H^2 = 1, as metafor
    computes them without the estimate. metafor's ``rma.peto`` gives NA for all of them.
    """
    n = len(subsets)
    out = {key: np.full(n, np.nan) for key in KEYS}
    has_yi = np.isfinite(np.asarray(fit.studies["yi"], dtype=float))
    for g, rows in enumerate(subsets):
        try:
            res = refit(fit, rows)
        except InputError:
            if fit.method != "PETO" and has_yi[np.asarray(rows, dtype=np.int64)].sum() <= 1:
                out["QE"][g], out["QEp"][g], out["I2"][g], out["H2"][g] = 0.0, 1.0, 0.0, 1.0
            continue
        for key in KEYS:
            out[key][g] = float(np.ravel(getattr(res, key))[0])
    out["vb"] = out["se"] ** 2
    return out


#: subsets per block of :func:`pooled_subsets` (bounds its temporary arrays)
_BLOCK = 1 << 15


def pooled_subsets(fit: MHResult, rows: np.ndarray,
                   incl: np.ndarray) -> dict[str, np.ndarray] | None:
    """The estimate, QE, I^2 and H^2 of the fit's estimator on every subset of the studies at
    positions ``rows`` (``incl``: subsets x len(rows), bool) at once, with the values (up to
    rounding) and the failures of :func:`refits` (NaN rows; Q = 0, I^2 = 0, H^2 = 1 for a
    Mantel-Haenszel subset with at most one per-study effect): the estimators are sums of
    per-study terms (``mh._pooled_terms``), so every subset's sums are one matrix product.
    None when a continuity correction depends on the set of studies (``to="if0all"`` with
    ``add`` > 0): then each subset is refitted."""
    from evsynth.models.engine import i2_from_q
    from evsynth.models.mh import (
        _add_to,
        _ci_ok,
        _cochran_q,
        _crit,
        _estimate_ok,
        _peto_q,
        _pooled_from_sums,
        _pooled_terms,
    )

    info = fit.method_info
    if any(t == "if0all" and a != 0 for a, t in zip(info["add"], info["to"], strict=True)):
        return None
    tables = tables_of(fit)
    rates = "x1i" in tables
    names = ("x1i", "x2i") if rates else ("ai", "bi", "ci", "di")
    cells = _add_to([np.asarray(tables[n], dtype=float)[rows] for n in names],
                    info["add"][1], info["to"][1])
    times = ([np.asarray(tables[n], dtype=float)[rows] for n in ("t1i", "t2i")] if rates
             else None)
    kind = "PETO" if fit.method == "PETO" else fit.measure
    terms = _pooled_terms(kind, cells, times)
    keys = list(terms)
    T = np.column_stack([np.broadcast_to(terms[key], (rows.size,)) for key in keys])
    yi = np.asarray(fit.studies["yi"], dtype=float)[rows]
    vi = np.asarray(fit.studies["vi"], dtype=float)[rows]
    in_q = np.isfinite(yi)
    y_q, v_q = np.where(in_q, yi, 0.0), np.where(in_q, vi, 1.0)
    crit = _crit(1 - fit.level / 100)
    n = incl.shape[0]
    out = {key: np.full(n, np.nan) for key in ("beta", "QE", "I2", "H2")}
    for lo in range(0, n, _BLOCK):
        blk = slice(lo, min(n, lo + _BLOCK))
        m = incl[blk].astype(float)
        sums = dict(zip(keys, (m @ T).T, strict=True))
        beta, se, undefined = _pooled_from_sums(kind, sums)
        qe, k_yi = _cochran_q(y_q, v_q, beta, m.astype(bool) & in_q)
        with np.errstate(all="ignore"):
            # the checks of a fit (meta_mh / meta_peto refuse the others)
            ok = ~undefined & _estimate_ok(beta, se) & _ci_ok(beta - crit * se,
                                                              beta + crit * se, kind)
            df = k_yi - 1.0
            if kind == "PETO":  # metafor rma.peto: Q from (O - E) and V
                qe = _peto_q(sums)
                use = (sums["pos"] > 1) & (k_yi > 1)
            else:  # Cochran's Q of the per-study effects around the pooled estimate
                use = k_yi > 1
            i2 = np.where(use, i2_from_q(qe, np.where(use, df, 1.0)), 0.0)
            h2 = np.where(use, qe / np.where(use, df, 1.0), 1.0)
        ok &= np.isfinite(qe)
        out["beta"][blk] = np.where(ok, beta, np.nan)
        for key, val in (("QE", qe), ("I2", i2), ("H2", h2)):
            out[key][blk] = np.where(ok, val, np.nan)
        if kind != "PETO":  # refused fit with at most one per-study effect: as refits()
            few = ~ok & (k_yi <= 1)
            out["QE"][blk][few], out["I2"][blk][few], out["H2"][blk][few] = 0.0, 0.0, 1.0
    return out
