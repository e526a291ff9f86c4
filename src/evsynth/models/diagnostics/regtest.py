"""Regression tests for funnel-plot asymmetry (metafor ``regtest``; Egger et al. 1997, BMJ
315:629, doi:10.1136/bmj.315.7109.629; Sterne & Egger 2005, in Publication Bias in
Meta-Analysis, Wiley, doi:10.1002/0470870168.ch6), with Peters' and Harbord's variants.

Registered for :class:`~evsynth.models.meta.MetaResult` (with or without moderators, as metafor)
and for Mantel-Haenszel and Peto fits: metafor's ``regtest`` accepts ``rma.mh`` / ``rma.peto``
objects and then tests the per-study effects ``yi``/``vi`` of the fit in an equal-effects
("FE") model with the fit's level (its ``regtest`` code sets ``X`` to an intercept for these
classes).

Fits with user weights, ``weighted=False`` or a fixed tau^2 are tested as metafor 3.8.1's
``regtest`` does: ``model="rma"`` refits the model with the predictor added and passes
``weights = x$weights``, ``weighted = x$weighted`` and ``tau2 = ifelse(x$tau2.fix, x$tau2,
NA)`` (so a fixed tau^2 stays fixed); ``model="lm"`` is ``lm(yi ~ X + predictor, weights =
1/vi)`` whatever the fit's weights (metafor ignores them there, and so do Egger's and Peters'
named variants, which are ``lm`` regressions).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evsynth.errors import InputError, first_bad, shown, study_name
from evsynth.models.bias import (
    PREDICTORS,
    REGTEST_METHODS,
    RegtestResult,
    study_vector,
    two_by_two,
    weighted_lm,
)
from evsynth.models.diagnostics import register
from evsynth.models.diagnostics._common import refit_carrying
from evsynth.models.kernels import FIXED_METHODS
from evsynth.models.meta import MetaResult, meta
from evsynth.models.mh import MHResult


@register("regtest", MetaResult)
def regtest_rma(fit: MetaResult, model: str = "rma", predictor: str = "sei", ni: Any = None,
                *, method: str | None = None, ai: Any = None, bi: Any = None, ci: Any = None,
                di: Any = None, n1i: Any = None, n2i: Any = None) -> RegtestResult:
    """Regression test for funnel-plot asymmetry (metafor ``regtest``).

    ``model="rma"`` (default): the fit's model (same tau^2 estimator, test, level, control)
    with the ``predictor`` added as a moderator; the test is the predictor's z (or t under
    t/knha/adhoc). ``model="lm"``: weighted regression ``lm(yi ~ X + predictor, weights =
    1/vi)`` with t(k - p - 1) (Egger's classic test). Predictors: ``sei``, ``vi``, ``ni``,
    ``ninv`` (1/n), ``sqrtni``, ``sqrtninv`` (1/sqrt n); the sample-size ones need ``ni``.
    Moderators of the fit stay in the model (as metafor). The limit estimate ``est`` (the
    intercept) is given for intercept-only fits with predictors sei, vi, ninv, sqrtninv.

    Named variants (``method=``, overriding model/predictor):

    * ``"egger"``: ``model="lm", predictor="sei"`` (Egger et al. 1997).
    * ``"peters"``: lnOR on 1/n (Peters et al. 2006, JAMA 295:676, doi:10.1001/jama.295.6.676)
      weighted by ``1/(1/(ai+ci) + 1/(bi+di))`` (events and non-events) when the 2x2 counts are
      given; with only ``ni`` it is metafor's variant (``model="lm", predictor="ninv"``,
      weights 1/vi). The fit's yi should be log odds ratios.
    * ``"harbord"``: Harbord, Egger & Sterne (2006, Stat Med 25:3443, doi:10.1002/sim.2380)
      modified test for binary outcomes, from the counts (``ai, bi, ci, di`` or ``ai, n1i, ci,
      n2i``): the efficient score ``Z = ai - n1 m1 / N`` and its variance ``V = n1 n2 m1 m2 /
      (N^2 (N - 1))`` under OR = 1; ``Z/sqrt(V)`` is regressed on ``sqrt(V)`` (unweighted) and
      the intercept is tested with t(k - 2). The fit's yi are not used.

    User weights, ``weighted=False`` and a fixed tau^2 of the fit are carried into the
    ``model="rma"`` refit; ``model="lm"`` uses ``1/vi`` (metafor 3.8.1 ``regtest``).

    References
    ----------
    Egger M, Davey Smith G, Schneider M, Minder C (1997). BMJ 315:629-634,
    doi:10.1136/bmj.315.7109.629. Sterne JAC, Egger M (2005), in Publication Bias in
    Meta-Analysis, Wiley, doi:10.1002/0470870168.ch6. metafor 3.8.1 ``regtest``.
    """
    what = "regtest"
    k, labels = fit.k, fit.slab
    if method is not None:
        method = str(method).lower()
        if method not in REGTEST_METHODS:
            raise InputError(f"{what}: unknown method {method!r}; expected one of "
                             f"{', '.join(REGTEST_METHODS)} (or None for model/predictor)")
        if method == "egger":
            model, predictor = "lm", "sei"
        elif method == "peters":
            model, predictor = "lm", "ninv"
        elif method == "harbord":
            return harbord(fit, ai, bi, ci, di, n1i, n2i)
    if model not in ("rma", "lm"):
        raise InputError(f"{what}: model must be 'rma' or 'lm'; got {model!r}")
    if predictor not in PREDICTORS:
        raise InputError(f"{what}: predictor must be one of {', '.join(PREDICTORS)}; got "
                         f"{predictor!r}")
    X0 = fit.model_matrix
    p = X0.shape[1]
    y, v = fit.yi, fit.vi
    if predictor in ("ni", "ninv", "sqrtni", "sqrtninv") or method == "peters":
        if ni is None:
            ni = getattr(fit, "ni", None)
        if ni is None and method == "peters" and ai is not None:
            a, b, c, d = two_by_two(what, k, labels, ai, bi, ci, di, n1i, n2i)
            ni = a + b + c + d
        if ni is None:
            raise InputError(f"{what}: predictor '{predictor}' needs the sample sizes: pass "
                             "ni= (total sample size of each study)")
        n = study_vector(ni, k, "ni", labels, what)
        i = first_bad(n <= 0)
        if i is not None:
            raise InputError(f"{what}: {study_name(i, labels)}: field 'ni' is {shown(n[i])}; "
                             "expected a positive sample size")
        x = {"ni": n, "ninv": 1 / n, "sqrtni": np.sqrt(n), "sqrtninv": 1 / np.sqrt(n)}[
            predictor]
    else:
        x = np.sqrt(v) if predictor == "sei" else v.copy()
    X = np.column_stack([X0, x])
    if np.linalg.matrix_rank(X) < p + 1:
        raise InputError(f"{what}: the model matrix is no longer of full rank after adding "
                         f"the predictor '{predictor}' (e.g. all studies have the same "
                         f"{predictor})")
    tau2_fix = bool(getattr(fit, "tau2_fix", False))
    need = p + 2 if (model == "lm" or (fit.method not in FIXED_METHODS and not tau2_fix)) \
        else p + 1
    if k < need:
        raise InputError(f"{what}: too few studies (k = {k}); the {model} regression with "
                         f"{p + 1} coefficient(s) needs at least {need}")
    names = [*fit.coef_names, predictor]
    has_limit = fit.int_only and predictor in ("sei", "vi", "ninv", "sqrtninv")
    reg: Any
    if model == "rma":
        frame = pd.DataFrame(X[:, 1:] if fit.intercept else X,
                             columns=names[1:] if fit.intercept else names)
        # metafor: weights = x$weights, weighted = x$weighted, tau2 = ifelse(x$tau2.fix, ...)
        reg = refit_carrying(fit, y, v, getattr(fit, "user_weights", None),
                             tau2=fit.tau2 if tau2_fix else None, mods=frame,
                             intercept=fit.intercept, slab=labels)
        zval, pval = float(reg.zval[p]), float(reg.pval[p])
        dfs = None if fit.test == "z" else int(fit.k - p - 1)
    else:
        w = 1 / v
        if method == "peters" and ai is not None:
            a, b, c, d = two_by_two(what, k, labels, ai, bi, ci, di, n1i, n2i)
            ev, ne = a + c, b + d
            i = first_bad((ev <= 0) | (ne <= 0))
            if i is not None:
                raise InputError(f"{what}: {study_name(i, labels)} has no events or no "
                                 "non-events; Peters' weights 1/(1/events + 1/non-events) "
                                 "are undefined")
            w = 1 / (1 / ev + 1 / ne)
        reg = weighted_lm(y, X, w, names, fit.level / 100)
        zval, pval = float(reg.tval[p]), float(reg.pval[p])
        dfs = int(reg.df)
    est = lb = ub = None
    if has_limit:
        est, lb, ub = float(reg.beta[0]), float(reg.ci_lb[0]), float(reg.ci_ub[0])
    return RegtestResult(method or ("egger" if (model, predictor) == ("lm", "sei")
                                    else "metafor"),
                         model, predictor, zval, pval, dfs, est, lb, ub, reg,
                         tested=f"coefficient of {predictor} = 0")


def harbord(fit: Any, ai: Any, bi: Any, ci: Any, di: Any, n1i: Any, n2i: Any) -> RegtestResult:
    """Harbord et al. (2006) score-based test (see :func:`regtest_rma`)."""
    what = "regtest(method='harbord')"
    k, labels = fit.k, fit.slab
    a, b, c, d = two_by_two(what, k, labels, ai, bi, ci, di, n1i, n2i)
    n1, n2, m1, m2 = a + b, c + d, a + c, b + d
    N = n1 + n2
    i = first_bad((n1 <= 0) | (n2 <= 0) | (m1 <= 0) | (m2 <= 0) | (N < 2))
    if i is not None:
        raise InputError(f"{what}: {study_name(i, labels)} has an empty arm, no events or no "
                         "non-events: its score variance V is 0; Harbord's test cannot use "
                         "it (leave it out)")
    if k < 3:
        raise InputError(f"{what}: too few studies (k = {k}); needs at least 3")
    Z = a - n1 * m1 / N
    V = n1 * n2 * m1 * m2 / (N**2 * (N - 1))
    X = np.column_stack([np.ones(k), np.sqrt(V)])
    reg = weighted_lm(Z / np.sqrt(V), X, np.ones(k), ["intrcpt", "sqrtV"], fit.level / 100)
    return RegtestResult("harbord", "lm", "sqrtV", float(reg.tval[0]), float(reg.pval[0]),
                         int(reg.df), None, None, None, reg, tested="intercept = 0")


def effects_fit(fit: MHResult) -> MetaResult:
    """The per-study effects of a Mantel-Haenszel / Peto fit (``yi``, ``vi``: the ``k_yi``
    studies with an effect) in an equal-effects model with the fit's level, as metafor's
    ``regtest`` and ``ranktest`` use them (``rma.uni(yi, vi, method = "FE")``)."""
    return meta(fit.yi, fit.vi, method="EE", level=fit.level, slab=list(fit.slab_yi))


def _in_q(fit: MHResult, values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=float)[np.asarray(fit.studies["in_q"], dtype=bool)]


@register("regtest", MHResult)
def regtest_mh(fit: MHResult, model: str = "rma", predictor: str = "sei", ni: Any = None,
               *, method: str | None = None, ai: Any = None, bi: Any = None, ci: Any = None,
               di: Any = None, n1i: Any = None, n2i: Any = None) -> RegtestResult:
    """metafor ``regtest`` on an ``rma.mh`` / ``rma.peto`` fit: the test of
    :func:`regtest_rma` on the fit's per-study effects (``yi``, ``vi`` of the ``k_yi`` studies
    with one) in an equal-effects model. ``ni`` defaults to the studies' sample sizes
    (``n1i + n2i``; person-time ``t1i + t2i`` for IRR/IRD, as metafor's ``ni``); Peters' and
    Harbord's variants take the 2x2 counts of those studies from the fit when none are given.
    Any per-study argument given has one value per study with an effect (``k_yi``)."""
    tables = fit.tables
    if ni is None and tables:
        if "t1i" in tables:
            ni = _in_q(fit, tables["t1i"] + tables["t2i"])
        else:
            ni = _in_q(fit, tables["ai"] + tables["bi"] + tables["ci"] + tables["di"])
    named = str(method).lower() if method is not None else None
    if named in ("peters", "harbord") and ai is None and "ai" in tables:
        ai, bi, ci, di = (_in_q(fit, tables[c]) for c in ("ai", "bi", "ci", "di"))
        n1i = n2i = None
    return regtest_rma(effects_fit(fit), model, predictor, ni, method=method, ai=ai, bi=bi,
                       ci=ci, di=di, n1i=n1i, n2i=n2i)
