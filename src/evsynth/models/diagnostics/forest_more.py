"""Forest plots of multilevel/multivariate, cluster-robust and GLMM fits (``fit.plot_forest()``,
:func:`evsynth.forest`): each fit is converted into the row model of
:mod:`evsynth.models.diagnostics.forest` (``_FitRows``) and drawn by its one drawing routine.

* :class:`~evsynth.models.multivariate.result.MetaMVResult` (metafor ``forest.rma`` of an
  ``rma.mv`` fit): one row per effect size, ``yi`` with its CI from ``sqrt(V_ii)``, weights
  ``100 W_ii / sum W_ii`` with ``W = M^-1`` (metafor ``weights.rma.mv``, ``type =
  "diagonal"``), the pooled estimate of an intercept-only model (with its prediction interval
  from the sum of the variance components when metafor gives one) or, with moderators, the
  fitted values with their CIs. Rows are grouped under the levels of the outermost
  random-effects factor (the study), when it groups several effects; the variance components
  are listed under the plot.
* :class:`~evsynth.models.robust.RobustResult` (metafor ``forest.rma`` of a ``robust.rma``
  object): the rows of the fit it was computed from, with the pooled estimate (or fitted
  values) and their cluster-robust CIs, t test and df, and the robust test of the moderators.
* :class:`~evsynth.models.robust.RobuResult` (robumeta ``forest.robu`` shows the same: each
  effect with its CI, grouped by study, and the robust pooled estimate): weights from the
  working model, grouped by cluster.
* :class:`~evsynth.models.glmm.GLMMResult` (metafor ``forest.rma`` of an ``rma.glmm`` fit): the
  studies' ``escalc`` estimates and CIs (no weights: metafor defines no ``weights.rma.glmm``),
  the pooled estimate or, with moderators, the fitted values; the heterogeneity line uses the
  Wald-type test (``QE_Wld``).

References
----------
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw
36(3):1-48. doi:10.18637/jss.v036.i03

Fisher Z, Tipton E (2015). robumeta: an R-package for robust variance estimation in
meta-analysis. arXiv:1503.02220.

Lewis S, Clarke M (2001). Forest plots: trying to see the wood and the trees. BMJ
322:1479-1480. doi:10.1136/bmj.322.7300.1479
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import numpy as np

from evsynth.models.diagnostics import register
from evsynth.models.diagnostics.forest import (
    _ci,
    _draw,
    _f,
    _FitRows,
    _level,
    _meta_rows,
    _moderator_line,
    _Options,
    _options,
)
from evsynth.models.glmm import GLMMResult
from evsynth.models.meta import MetaResult
from evsynth.models.multivariate.result import MetaMVResult
from evsynth.models.robust import RobuResult, RobustResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from evsynth.reports.forest import ForestPooled


def _arr(x: Any) -> np.ndarray:
    return np.atleast_1d(np.asarray(x, dtype=float))


def _group_rows(rows: _FitRows, keys: list[Any]) -> None:
    """Rows under the levels of ``keys`` (in order of first appearance), when some level holds
    several rows (``ForestGroup`` without subtotals, as the pipeline's by-study grouping)."""
    from evsynth.reports.forest import ForestGroup

    if len(set(keys)) == len(keys):
        return
    index: dict[Any, int] = {}
    for key in keys:
        index.setdefault(key, len(index))
    rows.groups = [ForestGroup(label=str(key), subtotal=False) for key in index]
    rows.group_of = [index[key] for key in keys]


def _fmt(x: float) -> str:
    return f"{x:.4f}" if abs(x) >= 1e-4 or x == 0 else f"{x:.2e}"


def _components_line(fit: MetaMVResult) -> str | None:
    """The variance components of a meta_mv fit, one text line."""
    eng = fit._eng
    parts = [f"σ² = {_fmt(float(fit.sigma2[j]))} ({t.name})"
             for j, t in enumerate(eng.sigma_terms)]
    for j, st_ in enumerate(eng.struct_terms):
        v, r = (fit.tau2, fit.rho) if j == 0 else (fit.gamma2, fit.phi)
        vs, rs = ("τ²", "ρ") if j == 0 else ("γ²", "φ")
        where = f"{st_.inner_name} | {st_.outer_name}, {st_.struct}"
        text = ", ".join(_fmt(float(x)) for x in v)
        if len(r):
            text += f"; {rs} = " + ", ".join(f"{float(x):.3f}" for x in r)
        parts.append(f"{vs} = {text} ({where})")
    return "Variance components: " + "; ".join(parts) if parts else None


def _outer_keys(fit: MetaMVResult) -> list[Any] | None:
    """Each effect's level of the outermost random-effects factor: the outer factor of the
    first ``~ inner | outer`` term, else the first ``~ 1 | f`` term (metafor's order)."""
    eng = fit._eng
    if eng.struct_terms:
        st_ = eng.struct_terms[0]
        return [st_.outer_levels[i] for i in st_.out]
    if eng.sigma_terms:
        t = eng.sigma_terms[0]
        return [t.levels[i] for i in t.lev]
    return None


def _mv_rows(fit: MetaMVResult, o: _Options) -> _FitRows:
    from evsynth.reports.forest import ForestPooled, heterogeneity_line

    level = _level(o, fit)
    w = np.asarray(fit.weight_matrix().diagonal(), dtype=float)
    fixed = not (fit._eng.sigma_terms or fit._eng.struct_terms)
    labels = [str(s) for s in fit.slab] if fit.slab is not None else [
        f"Estimate {i + 1}" for i in range(fit.k)]
    rows = _FitRows(labels=labels, yi=np.asarray(fit.yi, dtype=float),
                    vi=np.asarray(fit.V.diagonal(), dtype=float), weights=100 * w / w.sum(),
                    measure=None, method="IV, " + ("Fixed" if fixed else "Multilevel"),
                    level=level, fixed=fixed, tstat=fit.test != "z")
    keys = _outer_keys(fit)
    if keys is not None:
        _group_rows(rows, keys)
    line = _components_line(fit)
    k, p = int(fit.k), int(fit.p)
    het = ForestPooled(est=0.0, lb=0.0, ub=0.0, k=k, qe=_f(fit.QE), qe_df=k - p,
                       qep=_f(fit.QEp))
    if list(fit.coef_names) != ["intrcpt"]:
        pred = fit.predict(level=level).frame
        rows.fitted = (pred["pred"].to_numpy(float), pred["ci_lb"].to_numpy(float),
                       pred["ci_ub"].to_numpy(float))
        rows.show_total = False
        rows.extra_lines = [heterogeneity_line(het, True, "Residual heterogeneity"),
                            _moderator_line(cast(Any, fit))]
        rows.notes.append(f"Grey diamonds: the fitted values with their {level:g}% CIs (as "
                          "metafor's forest.rma); no summary estimate.")
    else:
        pi = None
        if o.prediction and not fixed:
            fr = fit.predict(level=level).frame
            lo, hi = _f(fr["pi_lb"].iloc[0]), _f(fr["pi_ub"].iloc[0])
            pi = (lo, hi) if lo is not None and hi is not None else None
        lb, ub = _ci(fit, level)
        rows.pooled = ForestPooled(est=float(fit.beta[0]), lb=lb, ub=ub, k=k,
                                   stat=_f(fit.zval), pval=_f(fit.pval),
                                   df=_f(fit.ddf[0]) if fit.test != "z" else None,
                                   qe=het.qe, qe_df=k - 1, qep=het.qep, pi=pi)
        # the heterogeneity line gives Q; the variance components follow (no single Tau²)
    if line:
        rows.extra_lines.append(line)
    return rows


@register("forest", MetaMVResult)
def forest_rma_mv(fit: MetaMVResult, **options: Any) -> Figure:
    """metafor ``forest.rma`` of an ``rma.mv`` fit, effects grouped by study (options:
    :func:`evsynth.models.diagnostics.forest.forest`)."""
    o = _options(options)
    return _draw(_mv_rows(fit, o), o)


# --------------------------------------------------------------------------------------------
# cluster-robust results
# --------------------------------------------------------------------------------------------
def _robust_pooled(res: Any, level: float, base: ForestPooled | None) -> ForestPooled:
    from evsynth.reports.forest import ForestPooled

    pr = res.predict(level=level)
    lb, ub = float(_arr(pr.ci_lb)[0]), float(_arr(pr.ci_ub)[0])
    pi = None
    if base is not None and base.pi is not None:   # the fit asked for one: the robust PI
        lo, hi = _f(getattr(pr, "pi_lb", None)), _f(getattr(pr, "pi_ub", None))
        pi = (lo, hi) if lo is not None and hi is not None else None
    kw = {} if base is None else {"tau2": base.tau2, "i2": base.i2, "qe": base.qe,
                                  "qe_df": base.qe_df, "qep": base.qep}
    return ForestPooled(est=float(res.beta[0]), lb=lb, ub=ub, k=int(res.k),
                        stat=_f(res.zval), pval=_f(res.pval), df=_f(res.df[0]), pi=pi, **kw)


def _robust_fitted(res: Any, rows: _FitRows, level: float) -> None:
    pr = res.predict(level=level)
    rows.fitted = (_arr(pr.pred), _arr(pr.ci_lb), _arr(pr.ci_ub))
    rows.extra_lines = [ln for ln in rows.extra_lines if not ln.startswith("Test of moderators")]
    rows.extra_lines.insert(1, _moderator_line(cast(Any, res)))


def _robust_rows(res: RobustResult, o: _Options) -> _FitRows:
    base = res.fit
    rows = _mv_rows(base, o) if isinstance(base, MetaMVResult) else _meta_rows(base, o)
    level = _level(o, res)
    rows.level = level
    rows.tstat = True
    rows.method = f"{rows.method} (robust {res.vcov_type})"
    if rows.show_total:
        rows.pooled = _robust_pooled(res, level, rows.pooled)
    else:
        _robust_fitted(res, rows, level)
    rows.notes.append(f"Pooled CIs and tests: cluster-robust ({res.vcov_type}, "
                      f"{res.n_clusters} clusters; t with "
                      f"{'Satterthwaite' if res.vcov_type == 'CR2' else 'residual'} df), as "
                      "metafor's robust(); the study CIs are the usual yi ± z·sqrt(vi).")
    if isinstance(base, MetaResult) and base.subgroups:
        rows.groups, rows.group_of = None, None   # subgroup fits have no robust subtotals
    return rows


@register("forest", RobustResult)
def forest_robust(fit: RobustResult, **options: Any) -> Figure:
    """metafor ``forest.rma`` of a ``robust.rma`` object: the fit's rows with the
    cluster-robust pooled CI (options: :func:`evsynth.models.diagnostics.forest.forest`)."""
    o = _options(options)
    return _draw(_robust_rows(fit, o), o)


def _robu_rows(res: RobuResult, o: _Options) -> _FitRows:
    from evsynth.reports.forest import ForestPooled

    level = _level(o, res)
    yi, vi = np.asarray(res.yi, dtype=float), np.asarray(res.vi, dtype=float)
    w = np.asarray(res.weights, dtype=float)
    k = int(res.k)
    rows = _FitRows(labels=[f"Effect {i + 1}" for i in range(k)], yi=yi, vi=vi,
                    weights=100 * w / w.sum(), measure=None,
                    method=f"IV, RVE {res.model} ({'CR2' if res.small else 'CR1'})",
                    level=level, fixed=False, tstat=True)
    _group_rows(rows, list(res.cluster))
    comps = f"τ² = {_fmt(res.tau2)}"
    if res.omega2 is not None:
        comps += f", ω² = {_fmt(float(res.omega2))}"
    if res.model == "CE":
        comps += f" (assumed ρ = {res.rho:g})"
    i2 = _f(res.I2)
    if i2 is not None:
        comps += f"; I² = {i2:.0f}%"
    if list(res.coef_names) != ["intrcpt"]:
        pr = res.predict(level=level)
        rows.fitted = (_arr(pr.pred), _arr(pr.ci_lb), _arr(pr.ci_ub))
        rows.show_total = False
        p = len(res.coef_names)
        rows.extra_lines = [f"Working model: {comps}",
                            f"{k} effects in {res.n_clusters} clusters; {p} coefficients"]
    else:
        lb, ub = _ci(res, level)
        rows.pooled = ForestPooled(est=float(res.beta[0]), lb=lb, ub=ub, k=k,
                                   stat=_f(res.zval), pval=_f(res.pval), df=_f(res.df[0]))
        rows.extra_lines = [f"Working model: {comps}"]
    rows.notes.append("Pooled CI and test: robust variance estimation (robumeta's robu()); the "
                      "study CIs are yi ± z·sqrt(vi).")
    return rows


@register("forest", RobuResult)
def forest_robu(fit: RobuResult, **options: Any) -> Figure:
    """robumeta ``forest.robu``: each effect with its CI grouped by study and the robust pooled
    estimate (options: :func:`evsynth.models.diagnostics.forest.forest`)."""
    o = _options(options)
    return _draw(_robu_rows(fit, o), o)


# --------------------------------------------------------------------------------------------
# GLMM fits
# --------------------------------------------------------------------------------------------
def _glmm_rows(fit: GLMMResult, o: _Options) -> _FitRows:
    from evsynth.reports.forest import ForestPooled, heterogeneity_line

    level = _level(o, fit)
    fixed = str(fit.method).upper() in ("EE", "FE", "CE")
    k = int(fit.k)
    labels = [str(s) for s in fit.slab] if fit.slab is not None else [
        f"Study {i + 1}" for i in range(len(fit.yi))]
    rows = _FitRows(labels=labels, yi=np.asarray(fit.yi, dtype=float),
                    vi=np.asarray(fit.vi, dtype=float),
                    weights=np.full(len(fit.yi), np.nan), measure=fit.measure,
                    method=f"GLMM {fit.model}, {'Fixed' if fixed else 'Random'}",
                    level=level, fixed=fixed, tstat=fit.test != "z",
                    binary=fit.measure in ("OR", "PLO", "PR", "RR", "RD"))
    het = ForestPooled(est=0.0, lb=0.0, ub=0.0, k=k, tau2=_f(fit.tau2), i2=_f(fit.I2),
                       qe=_f(fit.QE_Wld), qe_df=_f(fit.QE_df), qep=_f(fit.QEp_Wld))
    if not fit.int_only:
        pred = fit.predict(level=level)
        rows.fitted = (_arr(pred.pred), _arr(pred.ci_lb), _arr(pred.ci_ub))
        rows.show_total = False
        rows.extra_lines = [heterogeneity_line(het, fixed, "Residual heterogeneity"),
                            _moderator_line(cast(Any, fit))]
    else:
        pi = None
        if o.prediction and not fixed and k >= 3:
            pr = fit.predict(level=level)
            lo, hi = _f(getattr(pr, "pi_lb", None)), _f(getattr(pr, "pi_ub", None))
            pi = (lo, hi) if lo is not None and hi is not None else None
        lb, ub = _ci(fit, level)
        rows.pooled = ForestPooled(est=float(fit.beta[0]), lb=lb, ub=ub, k=k,
                                   stat=_f(fit.zval), pval=_f(fit.pval), tau2=het.tau2,
                                   i2=het.i2, qe=het.qe, qe_df=het.qe_df, qep=het.qep, pi=pi)
    rows.notes.append("Study estimates and CIs: escalc() per study; the pooled result is the "
                      "GLMM's (metafor's rma.glmm), no per-study weights (metafor defines none "
                      "for rma.glmm); Chi² is the Wald-type test of heterogeneity.")
    return rows


@register("forest", GLMMResult)
def forest_rma_glmm(fit: GLMMResult, **options: Any) -> Figure:
    """metafor ``forest.rma`` of an ``rma.glmm`` fit (options:
    :func:`evsynth.models.diagnostics.forest.forest`)."""
    o = _options(options)
    return _draw(_glmm_rows(fit, o), o)


__all__ = ["forest_rma_glmm", "forest_rma_mv", "forest_robu", "forest_robust"]
