"""GOSH (graphical display of study heterogeneity): the model fitted to subsets of the studies
(Olkin, Dahabreh & Trikalinos 2012, Res Synth Methods 3:214, doi:10.1002/jrsm.1053; metafor
``gosh.rma``).

Registered for :class:`~evsynth.models.meta.MetaResult`. (metafor's ``gosh.rma`` also accepts
``rma.mh`` / ``rma.peto`` fits; evsynth does not offer that yet.) Draw the result with
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
    if fit.k == 1:
        raise InputError("gosh: the model has k = 1 study; there are no subsets to compare")
    if subsets is None and fit.k > GOSH_MAX_K:
        raise InputError(f"gosh: k = {fit.k} studies have 2^{fit.k} - 1 subsets; give "
                         "subsets= (the number of random subsets to fit, e.g. 100000)")
    if subsets is not None:
        subsets = whole_number(subsets, "gosh: subsets", 2)
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
