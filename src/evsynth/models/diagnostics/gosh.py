"""GOSH (graphical display of study heterogeneity): the model fitted to subsets of the studies
(Olkin, Dahabreh & Trikalinos 2012, Res Synth Methods 3:214, doi:10.1002/jrsm.1053; metafor
``gosh.rma``).

Registered for :class:`~evsynth.models.meta.MetaResult` and, as metafor's ``gosh.rma`` for
``rma.mh`` / ``rma.peto``, for :class:`~evsynth.models.mh.MHResult`. Draw the result with
:func:`evsynth.reports.influence_plots.gosh_plot`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evsynth.errors import InputError
from evsynth.models.diagnostics import register
from evsynth.models.influence import (
    GOSH_MAX_K,
    GoshResult,
    fit_groups,
    gosh_subsets,
    whole_number,
)
from evsynth.models.meta import MetaResult
from evsynth.models.mh import MHResult


def _subsets_argument(k: int, subsets: int | None) -> int | None:
    """``subsets`` checked for a fit of ``k`` studies (the checks of every ``gosh``)."""
    if k == 1:
        raise InputError("gosh: the model has k = 1 study; there are no subsets to compare")
    if subsets is None and k > GOSH_MAX_K:
        raise InputError(f"gosh: k = {k} studies have 2^{k} - 1 subsets; give "
                         "subsets= (the number of random subsets to fit, e.g. 100000)")
    return None if subsets is None else whole_number(subsets, "gosh: subsets", 2)


@register("gosh", MetaResult)
def gosh_rma(fit: MetaResult, subsets: int | None = None, seed: int | None = None
             ) -> GoshResult:
    """The model fitted to every subset of the studies with at least p of them (metafor
    ``gosh.rma``), or to ``subsets`` random subsets when there are more than that (default
    cut-off 10^6, as metafor; subset sizes ~ Binomial(k, 1/2) restricted to p..k), in batches.

    Returns per subset k, QE, I2, H2, tau2 and the estimate(s), plus the incidence matrix.
    For DL and equal-effects intercept-only models metafor uses closed forms in which
    H2 = QE/(k-1) even when tau2 = 0; that convention is kept so the numbers match.
    k > 30 needs an explicit ``subsets``. User weights (the subset's), ``weighted=False`` and a
    fixed tau^2 are carried to every subset fit, as metafor's ``.profile.rma.uni``; metafor's
    closed form applies to standard weights only, and evsynth keeps a fixed tau^2 fixed there
    too (metafor's DL closed form re-estimates it).
    """
    subsets = _subsets_argument(fit.k, subsets)
    k, p = fit.k, fit.p
    rng = np.random.default_rng(seed)
    incl, exact = gosh_subsets(k, p, subsets, rng)
    X, y, v = fit.model_matrix, fit.yi, fit.vi

    def build(groups: np.ndarray) -> tuple[np.ndarray, ...]:
        idx = np.nonzero(incl[groups])[1]
        return y[idx], v[idx], X[idx], idx

    sizes = incl.sum(axis=1)
    res = fit_groups(fit, sizes, build)
    H2 = res["H2"]
    if (fit.method == "DL" and fit.int_only and fit.user_weights is None and fit.weighted
            and not fit.tau2_fix):  # metafor's closed form (its gosh.rma 'model 2')
        with np.errstate(divide="ignore", invalid="ignore"):
            H2 = np.where(sizes > 1, res["QE"] / (sizes - 1), 1.0)
    frame = pd.DataFrame({"k": sizes, "QE": res["QE"], "I2": res["I2"], "H2": H2,
                          "tau2": res["tau2"]})
    names = ["estimate"] if fit.int_only else list(fit.coef_names)
    for j, name in enumerate(names):
        frame[name] = res["beta"][:, j]
    fitted = np.isfinite(res["beta"]).all(axis=1)
    return GoshResult(frame, incl, fitted, exact, fit.method, names,
                      list(fit.slab) if fit.slab is not None else None)


@register("gosh", MHResult)
def gosh_mh(fit: MHResult, subsets: int | None = None, seed: int | None = None) -> GoshResult:
    """metafor ``gosh.rma`` for ``rma.mh`` / ``rma.peto`` fits: the fit's estimator
    (Mantel-Haenszel with its measure, or Peto; its ``add``/``to``/``drop00``, ``correct`` and
    level) refitted on every non-empty subset of the k studies it uses (all subsets when there
    are at most ``subsets``, default 10^6, as metafor; else a random sample, subset sizes ~
    Binomial(k, 1/2)). The estimators are sums of per-study terms, so all subsets are pooled
    at once by a matrix product (``diagnostics._mh.pooled_subsets``), with the values and the
    failures of the public :func:`evsynth.meta_mh` / :func:`evsynth.meta_peto` call on each
    subset's tables (tested against those refits); with ``to="if0all"`` (a correction that
    depends on the subset) each subset is refitted that way, as metafor's
    ``.profile.rma.mh``.

    Columns ``k`` (studies in the subset), ``QE``, ``I2``, ``H2``, ``tau2`` (0: a common-effect
    model) and ``estimate`` (log scale for ratio measures). Where the estimator is not defined
    on a subset (e.g. no events) the estimate is NaN and Q, I^2, H^2 are those of its studies,
    as metafor's ``rma.mh``; where the refit fails altogether (always so for Peto) the row is
    NaN, as metafor's NA. A risk difference on double-zero tables only is 0, as metafor gives
    it (meta_mh refuses such a fit: its variance is 0).
    """
    from evsynth.models.diagnostics import _mh

    rows = _mh.in_model(fit)  # the k studies the estimator uses (metafor's not.na)
    subsets = _subsets_argument(int(rows.size), subsets)
    incl, exact = gosh_subsets(int(rows.size), 1, subsets, np.random.default_rng(seed))
    res = _mh.pooled_subsets(fit, rows, incl)  # every subset in one matrix product
    if res is None:  # a continuity correction that depends on the subset: one refit each
        res = _mh.refits(fit, [rows[m] for m in incl])
    sizes = incl.sum(axis=1)
    beta = res["beta"]
    if fit.method == "PETO":  # rma.peto fails on such a subset: every column NA
        tau2 = np.where(np.isfinite(res["QE"]), 0.0, np.nan)
    else:  # rma.mh always returns a fit (estimate NA where undefined), tau^2 = 0
        tau2 = np.zeros(sizes.size)
        if fit.measure == "RD":
            # double-zero tables only: the Mantel-Haenszel risk difference is 0 (its variance is
            # 0 too, so meta_mh refuses the fit); metafor reports the estimate 0
            t = _mh.tables_of(fit)
            dz = (np.asarray(t["ai"]) == 0) & (np.asarray(t["ci"]) == 0)
            only_dz = ~(incl & ~dz[rows][None, :]).any(axis=1)
            beta = np.where(only_dz & np.isnan(beta), 0.0, beta)
    frame = pd.DataFrame({"k": sizes, "QE": res["QE"], "I2": res["I2"], "H2": res["H2"],
                          "tau2": tau2, "estimate": beta})
    labels = _mh.labels_all(fit)
    return GoshResult(frame, incl, np.isfinite(frame.to_numpy()).all(axis=1), exact,
                      fit.method, ["estimate"], [labels[i] for i in rows])
