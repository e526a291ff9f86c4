"""Plots for small-study effects: funnel plot (optionally contour-enhanced, with trim-and-fill
studies), radial (Galbraith) plot and L'Abbé plot.

Drawn after metafor's ``funnel.rma`` (Sterne & Egger 2001, J Clin Epidemiol 54:1046; contours:
Peters et al. 2008, J Clin Epidemiol 61:991), ``radial.rma`` (Galbraith 1988, Stat Med 7:889) and
``labbe.rma`` (L'Abbé, Detsky & O'Rourke 1987, Ann Intern Med 107:224). The statistics come from
the fitted model (:mod:`evsynth.models`); each function returns a matplotlib
:class:`~matplotlib.figure.Figure` built without pyplot (Agg canvas); save it with
:func:`evsynth.files.save_figure` (SVG or PNG by suffix).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import special

from evsynth.errors import InputError, check_finite, first_bad, shown, study_name
from evsynth.validation import level_fraction

__all__ = ["funnel_plot", "radial_plot", "labbe_plot"]

POINT = "#1f1f1f"
CONTOUR_FILLS = {0.90: "#ffffff", 0.95: "#d9d9d9", 0.99: "#a6a6a6"}


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _intercept_only(fit: Any, what: str) -> None:
    """A model without moderators: ``int_only`` where the model has it (metafor's
    ``int.only``), else one coefficient (e.g. a Mantel-Haenszel or Peto fit)."""
    beta = np.atleast_1d(np.asarray(getattr(fit, "beta", [np.nan]), dtype=float))
    if not bool(getattr(fit, "int_only", beta.size == 1)):
        raise InputError(f"{what}: needs a model without moderators")


def _has_moderators(fit: Any) -> bool:
    """Whether ``fit`` is a meta-regression (metafor: not ``int.only``) with a model matrix."""
    beta = np.atleast_1d(np.asarray(getattr(fit, "beta", [np.nan]), dtype=float))
    int_only = bool(getattr(fit, "int_only", beta.size == 1))
    if not int_only and getattr(fit, "model_matrix", None) is None:
        raise InputError("funnel_plot: needs a model without moderators, or a meta() "
                         "meta-regression (its residuals are drawn)")
    return not int_only


def funnel_plot(fit: Any, *, contours: bool | Sequence[float] = False, trimfill: Any = None,
                level: float | None = None, xlabel: str = "Effect size",
                title: str | None = None, width: float = 6.0, height: float = 5.0) -> Figure:
    """Funnel plot: effects against their standard errors (SE axis inverted, 0 at the top).

    For a meta-regression (a :func:`evsynth.meta` fit with moderators) the residuals
    ``y_i - x_i' beta`` are drawn against their standard errors around 0, as metafor's
    ``funnel.rma`` does (``rstandard.rma.uni``: Var(e) = (I - H) diag(v + tau^2) (I - H)').

    ``fit``: any fitted model that has per-study ``yi``, ``vi``, a pooled
    ``estimate`` (or ``beta``) and ``level`` (percent), e.g. a :func:`evsynth.meta`,
    :func:`evsynth.meta_mh` or :func:`evsynth.meta_peto` fit (for these, the studies with a
    per-study effect, as metafor's ``funnel.rma`` draws ``x$yi``). The pseudo-confidence region
    is ``estimate +/- z_(1-alpha/2) * SE`` around the fit's estimate (metafor ``funnel.rma``,
    level of the fit). ``contours=True`` (or a list of levels such as ``[0.90, 0.95, 0.99]``)
    draws a contour-enhanced funnel centred on 0 (Peters et al. 2008): shaded regions where a
    study would be significant at 10/5/1%. ``trimfill``: a ``fit.trimfill()`` result; its
    filled studies are drawn as open points and its adjusted estimate as a dashed line.
    """
    for name in ("yi", "vi", "level"):
        if getattr(fit, name, None) is None:
            raise InputError(f"funnel_plot: expected a fitted model with per-study yi and vi "
                             f"(this {type(fit).__name__} has no {name!r})")
    residual = _has_moderators(fit)
    if residual:
        # metafor funnel.rma of a meta-regression: the residuals (rstandard.rma.uni) against
        # their standard errors, around 0
        from evsynth.models.influence import standardized_residuals

        if trimfill is not None:
            raise InputError("funnel_plot: trim-and-fill applies to models without moderators")
        y, se = standardized_residuals(fit)
        est = 0.0
        if xlabel == "Effect size":
            xlabel = "Residual value"
    else:
        y, se = np.asarray(fit.yi, float), np.sqrt(np.asarray(fit.vi, float))
        est = float(np.ravel(fit.beta)[0])
    if y.size == 0:
        raise InputError("funnel_plot: the model has no per-study effects to draw")
    lvl = level_fraction(fit.level if level is None else level)
    extra_y = extra_se = np.empty(0)
    if trimfill is not None:
        fill = np.asarray(trimfill.fill, bool)
        extra_y, extra_se = np.asarray(trimfill.yi)[fill], np.sqrt(np.asarray(trimfill.vi)[fill])
    se_max = float(max(se.max(), extra_se.max() if extra_se.size else 0.0)) * 1.05
    fig = _figure(width, height)
    ax = fig.add_subplot()
    grid = np.linspace(0, se_max, 100)
    if contours is not False and contours is not None:
        levels = [0.90, 0.95, 0.99] if contours is True else sorted(float(c) for c in contours)
        if any(not 0 < c < 1 for c in levels):
            raise InputError(f"funnel_plot: contour levels must be in (0, 1); got {levels}")
        span = float(max(np.abs(y).max(), np.abs(extra_y).max() if extra_y.size else 0))
        span = max(span, special.ndtri(1 - (1 - levels[-1]) / 2) * se_max) * 1.1
        ax.fill_betweenx(grid, -span, span, color="#7f7f7f", lw=0,
                         label=f"p < {1 - levels[-1]:.2g}")
        for c in reversed(levels):
            z = special.ndtri(1 - (1 - c) / 2)
            fillc = CONTOUR_FILLS.get(round(c, 2), "#eeeeee")
            ax.fill_betweenx(grid, -z * grid, z * grid, color=fillc, lw=0,
                             label=f"p > {1 - c:.2g}" if c == levels[0] else
                             f"{1 - c:.2g} < p < {1 - levels[levels.index(c) - 1]:.2g}"
                             if levels.index(c) > 0 else None)
        ax.set_xlim(-span, span)
    crit = special.ndtri(1 - (1 - lvl) / 2)
    ax.plot(est - crit * grid, grid, color=POINT, lw=0.8, ls=":")
    ax.plot(est + crit * grid, grid, color=POINT, lw=0.8, ls=":")
    ax.axvline(est, color=POINT, lw=0.8)
    ax.scatter(y, se, s=22, color=POINT, zorder=3, label="studies")
    if extra_y.size:
        ax.scatter(extra_y, extra_se, s=22, facecolors="white", edgecolors=POINT, zorder=3,
                   label="filled (trim-and-fill)")
        ax.axvline(float(trimfill.fit.beta[0]), color=POINT, lw=0.8, ls="--")
    ax.set_ylim(se_max, 0)
    ax.set_ylabel("Standard error")
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    if (contours is not False and contours is not None) or extra_y.size:
        ax.legend(loc="lower right", fontsize=8, frameon=True)
    return fig


def radial_plot(fit: Any, *, title: str | None = None, width: float = 6.0,
                height: float = 5.0) -> Figure:
    """Radial (Galbraith) plot: ``y_i / sqrt(v_i + tau2)`` against ``1 / sqrt(v_i + tau2)``; the
    line through the origin with slope = estimate, and the +/- z band (metafor ``radial.rma``,
    Galbraith 1988). Studies outside the band deviate from the pooled estimate."""
    _intercept_only(fit, "radial_plot")
    y, v = np.asarray(fit.yi, float), np.asarray(fit.vi, float)
    tau2 = 0.0 if not np.isfinite(fit.tau2) else float(fit.tau2)
    prec = 1 / np.sqrt(v + tau2)
    zi = y * prec
    est = float(fit.beta[0])
    crit = special.ndtri(1 - (1 - fit.level / 100) / 2)
    fig = _figure(width, height)
    ax = fig.add_subplot()
    xs = np.linspace(0, prec.max() * 1.08, 50)
    ax.plot(xs, est * xs, color=POINT, lw=0.9)
    ax.plot(xs, est * xs + crit, color=POINT, lw=0.7, ls=":")
    ax.plot(xs, est * xs - crit, color=POINT, lw=0.7, ls=":")
    ax.axhline(0, color="#7f7f7f", lw=0.6)
    ax.scatter(prec, zi, s=22, color=POINT, zorder=3)
    ax.set_xlim(0, xs[-1])
    ax.set_xlabel(r"$1/\sqrt{v_i + \tau^2}$" if tau2 > 0 else r"$1/\sqrt{v_i}$")
    ax.set_ylabel(r"$y_i/\sqrt{v_i + \tau^2}$" if tau2 > 0 else r"$y_i/\sqrt{v_i}$")
    if title:
        ax.set_title(title)
    return fig


def labbe_plot(ai: Any, n1i: Any, ci: Any, n2i: Any, *, measure: str = "OR",
               estimate: float | None = None, slab: Sequence | None = None,
               title: str | None = None, width: float = 5.5, height: float = 5.5) -> Figure:
    """L'Abbé plot: event proportion in the treatment arm (``ai/n1i``) against the control arm
    (``ci/n2i``), points sized by total sample size, the line of no effect (y = x) and, if an
    ``estimate`` (on the ``measure`` scale: log OR, log RR or RD) is given, the pooled effect
    as a curve (metafor ``labbe.rma``)."""
    arrays = {}
    for name, val in (("ai", ai), ("n1i", n1i), ("ci", ci), ("n2i", n2i)):
        try:
            arrays[name] = np.asarray(val, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            raise InputError(f"labbe_plot: '{name}' must be numbers") from None
    k = arrays["ai"].size
    labels = list(slab) if slab is not None else None
    for name, arr in arrays.items():
        if arr.size != k:
            raise InputError(f"labbe_plot: '{name}' has {arr.size} values; 'ai' has {k}")
        check_finite(arr, name, labels)
    for n_name, e_name in (("n1i", "ai"), ("n2i", "ci")):
        n, e = arrays[n_name], arrays[e_name]
        i = first_bad(n <= 0)
        if i is not None:
            raise InputError(f"labbe_plot: {study_name(i, labels)}: '{n_name}' is {shown(n[i])}; "
                             "expected a positive group size")
        i = first_bad((e < 0) | (e > n))
        if i is not None:
            raise InputError(f"labbe_plot: {study_name(i, labels)}: '{e_name}' is {shown(e[i])}; "
                             f"expected 0 <= {e_name} <= {n_name}")
    if measure not in ("OR", "RR", "RD"):
        raise InputError(f"labbe_plot: measure must be 'OR', 'RR' or 'RD'; got {measure!r}")
    p1 = arrays["ai"] / arrays["n1i"]
    p2 = arrays["ci"] / arrays["n2i"]
    size = arrays["n1i"] + arrays["n2i"]
    fig = _figure(width, height)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="#7f7f7f", lw=0.8, ls="--", label="no effect")
    ax.scatter(p2, p1, s=20 + 180 * size / size.max(), facecolors="none", edgecolors=POINT,
               zorder=3)
    if estimate is not None:
        est = float(estimate)
        if not np.isfinite(est):
            raise InputError(f"labbe_plot: estimate must be a finite number; got {estimate!r}")
        pc = np.linspace(0.0005, 0.9995, 400)
        if measure == "OR":
            odds = pc / (1 - pc) * np.exp(est)
            pt = odds / (1 + odds)
        elif measure == "RR":
            pt = pc * np.exp(est)
        else:
            pt = pc + est
        keep = (pt >= 0) & (pt <= 1)
        ax.plot(pc[keep], pt[keep], color=POINT, lw=1.0, label="pooled estimate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("Event rate, control group")
    ax.set_ylabel("Event rate, treatment group")
    ax.legend(loc="upper left", fontsize=8)
    if title:
        ax.set_title(title)
    return fig
