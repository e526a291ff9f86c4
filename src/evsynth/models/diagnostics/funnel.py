"""Funnel plot of a fit (metafor ``funnel.rma``; Sterne & Egger 2001, J Clin Epidemiol 54:1046,
doi:10.1016/S0895-4356(01)00377-8; contours: Peters et al. 2008, J Clin Epidemiol 61:991,
doi:10.1016/j.jclinepi.2007.11.010).

Registered for :class:`~evsynth.models.meta.MetaResult` (with or without moderators) and for
Mantel-Haenszel and Peto fits (metafor's ``funnel.rma`` takes any ``rma`` object; for
``rma.mh`` / ``rma.peto`` it draws the per-study effects ``yi`` against their standard errors
around the pooled estimate). For a meta-regression the residuals (metafor ``rstandard``) are drawn
against their standard errors around 0, as metafor does. Drawn by
:func:`evsynth.reports.bias_plots.funnel_plot`; returns a matplotlib Figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from evsynth.models.diagnostics import register
from evsynth.models.meta import MetaResult
from evsynth.models.mh import MHResult

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


@register("funnel", MetaResult)
@register("funnel", MHResult)
def funnel(fit: Any, *, contours: bool | Sequence[float] = False, trimfill: Any = None,
           level: float | None = None, xlabel: str = "Effect size", title: str | None = None,
           width: float = 6.0, height: float = 5.0) -> Figure:
    """:func:`evsynth.reports.bias_plots.funnel_plot` of the fit (see there)."""
    from evsynth.reports.bias_plots import funnel_plot

    return funnel_plot(fit, contours=contours, trimfill=trimfill, level=level, xlabel=xlabel,
                       title=title, width=width, height=height)
