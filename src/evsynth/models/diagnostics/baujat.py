"""Baujat plot coordinates: each study's contribution to the heterogeneity and its influence on
the pooled result (Baujat et al. 2002, Stat Med 21:2641, doi:10.1002/sim.1221).

Registered for :class:`~evsynth.models.meta.MetaResult` and for Mantel-Haenszel and Peto fits
(metafor's ``baujat.rma`` handles ``rma.uni``, ``rma.mh`` and ``rma.peto``). Draw the result with
:func:`evsynth.reports.influence_plots.baujat_plot`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evsynth.errors import InputError
from evsynth.models.diagnostics import _mh, register
from evsynth.models.influence import BaujatResult, deletion_fits, labels_of
from evsynth.models.kernels import FIXED_METHODS
from evsynth.models.meta import MetaResult
from evsynth.models.mh import MHResult


@register("baujat", MetaResult)
def baujat_rma(fit: MetaResult) -> BaujatResult:
    """metafor ``baujat.rma`` for ``rma.uni``: per study, ``x`` = its contribution to the
    (residual) heterogeneity, the squared Pearson residual (y_i - x_i'beta)^2 / (v_i + tau^2)
    (for an equal-effects intercept-only model its term of Cochran's Q), and ``y`` = its
    influence on the fitted value, (x_i'beta_(-i) - x_i'beta)^2 / (x_i' vb_(-i) x_i) from the
    fit without it (one batch of deletion fits)."""
    if fit.k == 1:
        raise InputError("baujat: the model has k = 1 study; case deletion is undefined")
    _, delpred, vdelpred = deletion_fits(fit)
    pred = fit.model_matrix @ fit.beta
    with np.errstate(divide="ignore", invalid="ignore"):
        yhat = (delpred - pred) ** 2 / vdelpred
    xhat = (fit.yi - pred) ** 2 / (fit.tau2 + fit.vi)
    frame = pd.DataFrame({"slab": labels_of(fit), "x": xhat, "y": yhat})
    return BaujatResult(frame, fit.model_name, fit.int_only, fit.method in FIXED_METHODS)


@register("baujat", MHResult)
def baujat_mh(fit: MHResult) -> BaujatResult:
    """metafor ``baujat.rma`` for ``rma.mh`` / ``rma.peto``: one row per study the estimator
    uses (the ``k`` tables); ``x`` = (y_i - beta)^2 / v_i, its term of Cochran's Q (NaN for a
    study without a per-study effect, e.g. a double-zero table), ``y`` = (beta_(-i) - beta)^2 /
    se_(-i)^2 with beta_(-i) the Mantel-Haenszel (Peto) estimate without study i (same
    settings; NaN where it cannot be fitted)."""
    if fit.k == 1:
        raise InputError("baujat: the model has k = 1 study; case deletion is undefined")
    everyone = np.arange(fit.k_all)
    rows = _mh.in_model(fit)
    d = _mh.refits(fit, [everyone[everyone != i] for i in rows])
    beta = float(fit.beta[0])
    yi = np.asarray(fit.studies["yi"], dtype=float)[rows]
    vi = np.asarray(fit.studies["vi"], dtype=float)[rows]
    with np.errstate(divide="ignore", invalid="ignore"):
        yhat = (d["beta"] - beta) ** 2 / d["vb"]
        xhat = (yi - beta) ** 2 / vi
    labels = _mh.labels_all(fit)
    frame = pd.DataFrame({"slab": [labels[i] for i in rows], "x": xhat, "y": yhat})
    return BaujatResult(frame, fit.model_name, True, True)
