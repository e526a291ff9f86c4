"""Best linear unbiased predictions (metafor ``blup.rma.uni`` and ``ranef.rma.uni``).

Registered for :class:`~evsynth.models.meta.MetaResult` with the standard inverse-variance
weights (metafor refuses fits with user weights or ``weighted=FALSE``).

With ``l_i = tau^2 / (tau^2 + v_i)`` (the shrinkage factor) and ``x_i'b`` the fitted value
(Raudenbush & Bryk 1985, J Educ Stat 10:75, doi:10.3102/10769986010002075; Robinson 1991, Stat
Sci 6:15, doi:10.1214/ss/1177011926; Viechtbauer 2010, J Stat Softw 36(3),
doi:10.18637/jss.v036.i03):

* BLUP of the true effect theta_i: ``l_i y_i + (1 - l_i) x_i'b`` with variance
  ``l_i v_i + (1 - l_i)^2 x_i' Var(b) x_i``;
* BLUP of the random effect u_i: ``l_i (y_i - x_i'b)`` with variance
  ``l_i v_i + l_i^2 x_i' Var(b) x_i`` (0 for an equal-effects model);

prediction intervals ``pred +- crit SE`` with the normal quantile, or the t quantile on
``k - p`` df for ``test="t"``, ``"knha"`` and ``"adhoc"`` (as metafor).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from evsynth.errors import InputError
from evsynth.models.diagnostics import register
from evsynth.models.influence import labels_of
from evsynth.models.kernels import FIXED_METHODS
from evsynth.models.meta import MetaResult
from evsynth.models.results import FrameResult
from evsynth.validation import level_fraction, level_percent


class BlupResult(FrameResult):
    """Predicted true effects or random effects, one row per study: ``slab, pred, se, pi_lb,
    pi_ub`` (metafor's ``list.rma`` of ``blup`` / ``ranef``); ``level`` in percent, ``transf``
    the name of the function applied (then ``se`` is NaN)."""

    _dict_fields = ("what", "level", "transf", "slab", "pred", "se", "pi_lb", "pi_ub")

    def __init__(self, frame: pd.DataFrame, what: str, level: float,
                 transf: str | None) -> None:
        self.frame = frame
        self.what = what
        self.level = level
        self.transf = transf

    def summary_text(self) -> str:
        head = ("BLUPs of the true effects" if self.what == "blup"
                else "BLUPs of the random effects")
        extra = f"; transformed by {self.transf}" if self.transf else ""
        return (f"{head} ({self.level:g}% prediction intervals{extra})\n"
                + self.frame.set_index("slab").to_string(float_format=lambda x: f"{x:.4f}"))


def _crit(fit: MetaResult, level: float) -> float:
    alpha = 1 - level_fraction(level)
    if fit.test == "z":
        return float(special.ndtri(1 - alpha / 2))
    df = fit.df if fit.df is not None else fit.k - fit.p
    return float(special.stdtrit(df, 1 - alpha / 2))


def _predictions(fit: MetaResult, what: str, level: Any, transf: Any,
                 targs: Mapping[str, Any] | None) -> BlupResult:
    if getattr(fit, "user_weights", None) is not None or not getattr(fit, "weighted", True):
        raise InputError(f"{what}: not available for fits with user weights or weighted=False "
                         "(as in metafor)")
    lev = fit.level if level is None else level_percent(level)
    from evsynth import transf as transf_module

    func, fname = transf_module.resolve(None if transf is False else transf, targs, what)
    X = np.asarray(fit.model_matrix, dtype=float)
    y, v, tau2 = fit.yi, fit.vi, fit.tau2
    li = tau2 / (tau2 + v)
    xb = X @ fit.beta
    xvx = np.einsum("ij,jk,ik->i", X, fit.vb, X)
    if what == "blup":
        pred = li * y + (1 - li) * xb
        vpred = li * v + (1 - li) ** 2 * xvx
    elif fit.method in FIXED_METHODS:
        pred = np.zeros(fit.k)
        vpred = np.zeros(fit.k)
    else:
        pred = li * (y - xb)
        vpred = li * v + li**2 * xvx
    se = np.sqrt(vpred)
    crit = _crit(fit, lev)
    lb, ub = pred - crit * se, pred + crit * se
    if func is not None:
        pred, lb, ub = (np.asarray(func(a), dtype=float) for a in (pred, lb, ub))
        lb, ub = np.fmin(lb, ub), np.fmax(lb, ub)
        se = np.full_like(se, np.nan)
    frame = pd.DataFrame({"slab": labels_of(fit), "pred": pred, "se": se, "pi_lb": lb,
                          "pi_ub": ub})
    return BlupResult(frame, what, lev, fname)


@register("blup", MetaResult)
def blup_rma(fit: MetaResult, level: float | None = None,
             transf: Callable[[Any], Any] | str | None = None,
             targs: Mapping[str, Any] | None = None) -> BlupResult:
    """BLUPs of the true effects with SEs and prediction intervals (metafor
    ``blup.rma.uni``); see the module docstring for the formulas. ``transf`` (a function or a
    name in :mod:`evsynth.transf`, with ``targs``) is applied to the predictions and interval
    bounds (then ``se`` is NaN), as metafor."""
    return _predictions(fit, "blup", level, transf, targs)


@register("ranef", MetaResult)
def ranef_rma(fit: MetaResult, level: float | None = None,
              transf: Callable[[Any], Any] | str | None = None,
              targs: Mapping[str, Any] | None = None) -> BlupResult:
    """BLUPs of the random effects u_i with SEs and prediction intervals (metafor
    ``ranef.rma.uni``); all 0 for an equal-effects model. ``transf``/``targs`` as in
    :func:`blup_rma`."""
    return _predictions(fit, "ranef", level, transf, targs)
