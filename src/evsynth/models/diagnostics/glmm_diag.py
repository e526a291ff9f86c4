"""Diagnostics of :func:`evsynth.meta_glmm` fits (metafor ``rma.glmm``).

metafor 3.8 defines few methods for ``rma.glmm`` objects: ``funnel`` and ``ranktest`` (on the
per-study ``escalc`` effects ``yi``/``vi`` that the fit keeps, as for ``rma.uni``), ``forest``,
``predict``, ``fitted``, ``residuals``, ``vcov`` and ``logLik``; ``leave1out``, ``influence``,
``baujat``, ``regtest``, ``trimfill``, ``gosh``, ``confint``, ``anova`` and the selection models
are "not available for objects of class rma.glmm". Registered here: ``funnel`` and ``ranktest``
for models without moderators (the residual funnel of a meta-regression needs
``rstandard``, which metafor does not define for GLMMs).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evsynth.models.bias import RanktestResult
from evsynth.models.diagnostics import register
from evsynth.models.diagnostics.funnel import funnel
from evsynth.models.diagnostics.ranktest import rank_correlation
from evsynth.models.glmm import GLMMResult

_REQUIRES = "models without moderators (metafor defines no rstandard for rma.glmm)"


def _int_only(fit: Any) -> bool:
    return bool(fit.int_only)


@register("ranktest", GLMMResult, when=_int_only, requires=_REQUIRES)
def ranktest_glmm(fit: GLMMResult, exact: bool = True) -> RanktestResult:
    """metafor ``ranktest`` on an ``rma.glmm`` fit: Begg & Mazumdar's test on the per-study
    effects ``yi``/``vi`` (escalc, 1/2 added to studies with a zero cell)."""
    ok = np.isfinite(fit.yi) & np.isfinite(fit.vi)
    return rank_correlation(np.asarray(fit.yi, float)[ok], np.asarray(fit.vi, float)[ok], exact)


register("funnel", GLMMResult, when=_int_only, requires=_REQUIRES)(funnel)
