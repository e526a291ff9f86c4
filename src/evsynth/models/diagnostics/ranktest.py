"""Begg & Mazumdar's rank correlation test for funnel-plot asymmetry (Begg & Mazumdar 1994,
Biometrics 50:1088, doi:10.2307/2533446; metafor ``ranktest``).

Registered for :class:`~evsynth.models.meta.MetaResult` (the fit's ``yi``/``vi``; moderators
are ignored, as metafor) and for Mantel-Haenszel and Peto fits (metafor's ``ranktest`` takes any
``rma`` object and uses its ``yi``/``vi``: here the per-study effects of the ``k_yi`` studies).
"""

from __future__ import annotations

import numpy as np

from evsynth.errors import InputError
from evsynth.models.bias import RanktestResult, kendall_test
from evsynth.models.diagnostics import register
from evsynth.models.meta import MetaResult
from evsynth.models.mh import MHResult


def rank_correlation(yi: np.ndarray, vi: np.ndarray, exact: bool = True) -> RanktestResult:
    """Kendall's tau between the standardised deviates ``(yi - theta_FE) / sqrt(vi -
    1/sum(wi))`` and ``vi`` (w = 1/v; Begg & Mazumdar 1994, as metafor ``ranktest``). The
    p-value is exact when there are no ties (as metafor, which asks ``cor.test`` for the exact
    test), else the normal approximation."""
    k = yi.size
    if k < 3:
        raise InputError(f"ranktest: needs at least 3 studies (k = {k})")
    y, v = yi, vi
    w = 1 / v
    theta = np.sum(w * y) / np.sum(w)
    vstar = v - 1 / np.sum(w)
    ystar = (y - theta) / np.sqrt(vstar)
    tau, p, used = kendall_test(ystar, v, exact=exact)
    return RanktestResult(tau, p, used, k)


@register("ranktest", MetaResult)
def ranktest_rma(fit: MetaResult, exact: bool = True) -> RanktestResult:
    """metafor ``ranktest`` on an ``rma.uni`` fit (see :func:`rank_correlation`)."""
    return rank_correlation(np.asarray(fit.yi, float), np.asarray(fit.vi, float), exact)


@register("ranktest", MHResult)
def ranktest_mh(fit: MHResult, exact: bool = True) -> RanktestResult:
    """metafor ``ranktest`` on an ``rma.mh`` / ``rma.peto`` fit: the test on the per-study
    effects ``yi``/``vi`` of the studies that have one (``k_yi``)."""
    return rank_correlation(np.asarray(fit.yi, float), np.asarray(fit.vi, float), exact)
