"""Plots of a network meta-analysis registered as the model type's ``forest`` and ``funnel``
(the forest plot of every treatment against the reference; the comparison-adjusted funnel
plot of Chaimani & Salanti 2012, Res Synth Methods 3:161, doi:10.1002/jrsm.57)."""

from __future__ import annotations

from typing import Any

from evsynth.errors import InputError
from evsynth.models.diagnostics import register
from evsynth.models.network.fit import NetmetaResult


@register("forest", NetmetaResult)
def forest_netmeta(fit: NetmetaResult, *args: Any, **kwargs: Any) -> Any:
    """Forest plot of each treatment versus the reference
    (:func:`evsynth.reports.network_plots.forest_network`)."""
    from evsynth.reports.network_plots import forest_network

    if args:
        raise InputError("plot_forest() of a network meta-analysis takes keyword arguments "
                         "only (model=, reference=, transf=, xlabel=, sort_by=, show_pi=)")
    kwargs.setdefault("model", fit.main.model)
    return forest_network(fit, **kwargs)


@register("funnel", NetmetaResult)
def funnel_netmeta(fit: NetmetaResult, *, contours: Any = False, trimfill: Any = None,
                   **kwargs: Any) -> Any:
    """Comparison-adjusted funnel plot
    (:func:`evsynth.reports.network_plots.funnel_comparison_adjusted`)."""
    from evsynth.reports.network_plots import funnel_comparison_adjusted

    if contours or trimfill is not None:
        raise InputError("the comparison-adjusted funnel plot of a network meta-analysis has "
                         "no contours or trim-and-fill; use order=, model=, level=")
    if kwargs.get("xlabel") == "Effect size":  # FittedModel's default label
        kwargs["xlabel"] = None
    return funnel_comparison_adjusted(fit, **kwargs)
