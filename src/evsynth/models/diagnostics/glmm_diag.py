"""Diagnostics of :func:`evsynth.meta_glmm` fits (metafor ``rma.glmm``).

metafor 3.8 defines few methods for ``rma.glmm`` objects: ``funnel`` and ``ranktest`` (on the
per-study ``escalc`` effects ``yi``/``vi`` that the fit keeps, as for ``rma.uni``), ``forest``,
``predict``, ``fitted``, ``residuals``, ``vcov`` and ``logLik``; ``leave1out``, ``influence``,
``baujat``, ``regtest``, ``trimfill``, ``gosh``, ``confint``, ``anova`` and the selection models
are "not available for objects of class rma.glmm". Registered here: ``fitted`` and
``residuals`` (``type="response"`` only, as metafor), ``forest`` (every fit:
the per-study escalc effects with their CIs, no weights since a GLMM has none, and the pooled
estimate or, for a meta-regression, the fitted values, as ``forest.rma``), ``funnel`` and
``ranktest`` for models without moderators (the residual funnel of a meta-regression needs
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


@register("forest", GLMMResult)
def forest_glmm(fit: GLMMResult, **options: Any) -> Any:
    """metafor ``forest.rma`` on an ``rma.glmm`` fit, in the RevMan layout (options:
    :func:`evsynth.forest`): each study's escalc effect and CI (no weights: a GLMM has none),
    the pooled estimate with the heterogeneity line (Wald-type QE of the GLMM) or the fitted
    values of a meta-regression."""
    from evsynth.models.diagnostics import forest as fo
    from evsynth.reports.forest import ForestPooled, heterogeneity_line

    o = fo._options(options)
    level = fo._level(o, fit)
    fixed = fit.method in ("EE", "FE", "CE")
    measure = fit.measure if fit.measure in ("OR", "IRR") else None
    rows = fo._FitRows(labels=[str(s) for s in fit.slab], yi=np.asarray(fit.yi, float),
                       vi=np.asarray(fit.vi, float), weights=np.full(len(fit.yi), np.nan),
                       measure=measure, method=f"GLMM {fit.model}, "
                       f"{'Fixed' if fixed else 'Random'}", level=level, fixed=fixed,
                       tstat=fit.test != "z", binary=fit.measure == "OR")
    df = float(fit.k - fit.p) if fit.test == "t" else None
    if not fit.int_only:
        pred = fit.predict(level=level)
        rows.fitted = tuple(np.atleast_1d(np.asarray(a, float))  # type: ignore[assignment]
                            for a in (pred.pred, pred.ci_lb, pred.ci_ub))
        rows.show_total = False
        resid = ForestPooled(est=0.0, lb=0.0, ub=0.0, k=int(fit.k), tau2=fo._f(fit.tau2),
                             i2=fo._f(fit.I2), qe=fo._f(fit.QE_Wld), qe_df=int(fit.QE_df),
                             qep=fo._f(fit.QEp_Wld))
        rows.extra_lines = [heterogeneity_line(resid, fixed, "Residual heterogeneity"),
                            fo._moderator_line(fit)]  # type: ignore[arg-type]
        rows.notes.append(f"Grey diamonds: the fitted values of the meta-regression with "
                          f"their {level:g}% CIs (as metafor's forest.rma); no summary "
                          "estimate.")
    else:
        pi = None
        if o.prediction and not fixed and fit.k >= 3:
            pr = fit.predict(level=level)
            lo, hi = fo._f(pr.pi_lb), fo._f(pr.pi_ub)
            pi = (lo, hi) if lo is not None and hi is not None else None
        lb, ub = fo._ci(fit, level)
        rows.pooled = ForestPooled(est=float(fit.beta[0]), lb=lb, ub=ub, k=int(fit.k),
                                   stat=fo._f(fit.zval), pval=fo._f(fit.pval), df=df,
                                   tau2=fo._f(fit.tau2), i2=fo._f(fit.I2),
                                   qe=fo._f(fit.QE_Wld), qe_df=int(fit.QE_df),
                                   qep=fo._f(fit.QEp_Wld), pi=pi)
    rows.notes.append(f"GLMM ({fit.model}, {fit.method}); study CIs from the escalc effects "
                      "(1/2 added to tables with a zero cell); heterogeneity: Wald-type test "
                      "of the saturated model (metafor's QE.Wld).")
    return fo._draw(rows, o)


@register("fitted", GLMMResult)
def fitted_glmm(fit: GLMMResult) -> Any:
    """Fitted values ``X b`` (metafor ``fitted.rma`` on an ``rma.glmm`` fit)."""
    import pandas as pd

    from evsynth.models.diagnostics.residuals import StudyValues

    value = np.asarray(fit.model_matrix, float) @ fit.beta
    return StudyValues(pd.DataFrame({"slab": list(fit.slab), "value": value}),
                       "fitted values", fit.model_name)


@register("residuals", GLMMResult)
def residuals_glmm(fit: GLMMResult, type: str = "response") -> Any:
    """Residuals ``y_i - x_i' b`` of the escalc effects (metafor ``residuals.rma`` on an
    ``rma.glmm`` fit; the other types are "not available for objects of class rma.glmm")."""
    import pandas as pd

    from evsynth.errors import InputError
    from evsynth.models.diagnostics.residuals import StudyValues

    if not (isinstance(type, str) and type.lower() == "response"):
        raise InputError(f"residuals: type {type!r} is not available for a {fit.model_name} "
                         "(as in metafor); expected 'response'")
    value = np.asarray(fit.yi, float) - np.asarray(fit.model_matrix, float) @ fit.beta
    return StudyValues(pd.DataFrame({"slab": list(fit.slab), "value": value}),
                       "response residuals", fit.model_name)
