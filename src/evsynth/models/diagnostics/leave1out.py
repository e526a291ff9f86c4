"""Leave-one-out analysis: the model refitted without each study in turn.

Registered for :class:`~evsynth.models.meta.MetaResult` without moderators (metafor
``leave1out.rma.uni``) and for Mantel-Haenszel and Peto fits (:class:`~evsynth.models.mh.MHResult`;
metafor ``leave1out.rma.mh``, ``leave1out.rma.peto``). Reference: Viechtbauer (2010, J Stat Softw
36(3), doi:10.18637/jss.v036.i03); Viechtbauer & Cheung (2010, Res Synth Methods 1:112,
doi:10.1002/jrsm.11).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from evsynth.errors import InputError
from evsynth.models.diagnostics import _mh, register
from evsynth.models.diagnostics._common import INT_ONLY
from evsynth.models.influence import (
    CaseTable,
    case_frame,
    fit_groups,
    labels_of,
    leave_out_rows,
    transf_function,
)
from evsynth.models.meta import MetaResult
from evsynth.models.mh import MHResult


@register("leave1out", MetaResult, **INT_ONLY)
def leave1out_rma(fit: MetaResult, *, transf: Callable[[Any], Any] | bool | None = None
                  ) -> CaseTable:
    """metafor ``leave1out.rma.uni``: the model refitted without each study (one batch), with
    the fit's tau^2 estimator, test, level and control. Row i: the fit without study i."""
    if fit.k == 1:
        raise InputError("leave1out: the model has k = 1 study; there is nothing to leave out")
    func, name = transf_function(transf, "leave1out")
    k, y, v = fit.k, fit.yi, fit.vi

    def build(groups: np.ndarray) -> tuple[np.ndarray, ...]:
        idx = leave_out_rows(k, groups)
        return y[idx], v[idx], np.ones((idx.size, 1)), idx

    res = fit_groups(fit, np.full(k, k - 1), build)
    return CaseTable(case_frame(res, labels_of(fit), transf=func), "leave1out", fit.method,
                     fit.test, fit.level, name)


@register("leave1out", MHResult)
def leave1out_mh(fit: MHResult, *, transf: Callable[[Any], Any] | bool | None = None
                 ) -> CaseTable:
    """metafor ``leave1out.rma.mh`` / ``leave1out.rma.peto``: the Mantel-Haenszel (Peto)
    estimator on the tables without study i, with the fit's measure, add/to/drop00, correct and
    level, for every study the estimator uses (the ``k`` tables: also those without a
    per-study effect in Q, not the double-zero tables removed by ``drop00[1]``, as metafor).
    Columns as metafor (no tau^2: a common-effect model); a refit that cannot be done is NaN.
    ``transf=True`` is exp for ratio measures (OR, RR, IRR, Peto), as metafor."""
    if fit.k == 1:
        raise InputError("leave1out: the model has k = 1 study; there is nothing to leave out")
    func, name = transf_function(transf, "leave1out", ratio=fit.estimate_exp is not None)
    everyone = np.arange(fit.k_all)
    rows = _mh.in_model(fit)
    res = _mh.refits(fit, [everyone[everyone != i] for i in rows])
    labels = _mh.labels_all(fit)
    return CaseTable(case_frame(res, [labels[i] for i in rows], tau2=False, transf=func),
                     "leave1out", fit.method, "z", fit.level, name)
