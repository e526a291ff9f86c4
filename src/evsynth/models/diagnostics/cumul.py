"""Cumulative meta-analysis: the model refitted as the studies are added one at a time.

Registered for :class:`~evsynth.models.meta.MetaResult` without moderators (metafor
``cumul.rma.uni``) and for Mantel-Haenszel and Peto fits (metafor ``cumul.rma.mh``,
``cumul.rma.peto``). Reference: Lau et al. (1992, N Engl J Med 327:248,
doi:10.1056/NEJM199207233270406); Viechtbauer (2010, J Stat Softw 36(3),
doi:10.18637/jss.v036.i03).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from evsynth.models.diagnostics import _mh, register
from evsynth.models.diagnostics._common import INT_ONLY
from evsynth.models.influence import (
    CaseTable,
    case_frame,
    fit_groups,
    labels_of,
    sort_order,
    transf_function,
)
from evsynth.models.meta import MetaResult
from evsynth.models.mh import MHResult


@register("cumul", MetaResult, **INT_ONLY)
def cumul_rma(fit: MetaResult, order: Any = None, decreasing: bool = False, *,
              transf: Callable[[Any], Any] | bool | None = None) -> CaseTable:
    """metafor ``cumul.rma.uni``: row i is the model (the fit's tau^2 estimator, test, level,
    control) on the first i + 1 studies in the order of ``order`` (values to sort by, stable as
    R's ``order()``); ``slab`` names the study added. One batch for all rows."""
    func, name = transf_function(transf, "cumul")
    k = fit.k
    pos = np.arange(k) if order is None else sort_order(order, k, decreasing)
    y, v = fit.yi[pos], fit.vi[pos]

    def build(groups: np.ndarray) -> tuple[np.ndarray, ...]:
        tri = np.arange(k)[None, :] <= groups[:, None]
        idx = np.broadcast_to(np.arange(k), tri.shape)[tri]
        return y[idx], v[idx], np.ones((idx.size, 1)), pos[idx]

    res = fit_groups(fit, np.arange(1, k + 1), build)
    labels = labels_of(fit)
    return CaseTable(case_frame(res, [labels[i] for i in pos], transf=func), "cumul", fit.method,
                     fit.test, fit.level, name)


@register("cumul", MHResult)
def cumul_mh(fit: MHResult, order: Any = None, decreasing: bool = False, *,
             transf: Callable[[Any], Any] | bool | None = None) -> CaseTable:
    """metafor ``cumul.rma.mh`` / ``cumul.rma.peto``: the supplied studies (all ``k_all``, one
    value of ``order`` each) sorted by ``order``; the row of study i is the Mantel-Haenszel
    (Peto) estimator, with the fit's settings, on the studies up to and including i. Rows are
    given for the studies the estimator uses (not the double-zero tables removed by
    ``drop00[1]``, as metafor). A refit that cannot be done (e.g. only tables without events so
    far) is NaN, as metafor's NA."""
    func, name = transf_function(transf, "cumul", ratio=fit.estimate_exp is not None)
    k_all = fit.k_all
    pos = np.arange(k_all) if order is None else sort_order(order, k_all, decreasing)
    used = np.zeros(k_all, dtype=bool)
    used[_mh.in_model(fit)] = True
    steps = [i for i in range(k_all) if used[pos[i]]]
    res = _mh.refits(fit, [pos[: i + 1] for i in steps])
    labels = _mh.labels_all(fit)
    return CaseTable(case_frame(res, [labels[pos[i]] for i in steps], tau2=False, transf=func),
                     "cumul", fit.method, "z", fit.level, name)
