"""Plots of the influence and sensitivity analyses: Baujat plot, GOSH scatter, influence panel and
cumulative forest plot.

The plots draw results of the diagnostics (:mod:`evsynth.models.diagnostics`; no statistics
here) after metafor's ``baujat.rma``, ``plot.gosh.rma``, ``plot.infl.rma.uni`` and
``forest.cumul.rma`` (Viechtbauer 2010, J Stat Softw 36(3)); GOSH after Olkin, Dahabreh &
Trikalinos (2012, Res Synth Methods 3:214), the Baujat plot after Baujat et al. (2002, Stat Med
21:2641). Each function returns a matplotlib :class:`~matplotlib.figure.Figure` built without
pyplot (Agg canvas); save it with :func:`evsynth.files.save_figure` (SVG or PNG).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from evsynth._lazy import LazyModule
from evsynth.errors import InputError
from evsynth.models.influence import BaujatResult

stats = LazyModule("scipy.stats")

__all__ = ["baujat_plot", "gosh_plot", "influence_plot", "cumul_forest_plot"]

POINT = "#1f1f1f"
FLAG = "#d62728"
MISSING = "#b0b0b0"


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _plain_log_axis(axis: Any) -> None:
    """Log-scale axis labelled with plain numbers (0.2, 0.5, 1, 2) rather than powers of 10."""
    axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    axis.set_minor_formatter(ticker.NullFormatter())


def baujat_plot(fit: Any, *, symbol: str = "ids", title: str | None = None) -> Figure:
    """Baujat plot: each study's contribution to the (residual) heterogeneity (x) against its
    influence on the pooled result / fitted value (y) (metafor ``baujat.rma``).

    ``fit``: a fitted model (its ``baujat()`` coordinates are computed: a
    :func:`evsynth.meta`, :func:`evsynth.meta_mh` or :func:`evsynth.meta_peto` fit), the
    :class:`~evsynth.models.influence.BaujatResult` that ``fit.baujat()`` returns, or a
    DataFrame with columns slab, x, y.
    ``symbol``: ``"ids"`` (study numbers, metafor's default), ``"slab"`` (study labels) or
    ``"dot"``.
    """
    if symbol not in ("ids", "slab", "dot"):
        raise InputError(f"baujat_plot: symbol must be 'ids', 'slab' or 'dot'; got {symbol!r}")
    if isinstance(fit, pd.DataFrame):
        coords, int_only, fixed = fit, True, False
    elif isinstance(fit, BaujatResult):
        coords, int_only, fixed = fit.frame, fit.int_only, fit.fixed
    elif hasattr(fit, "supports") and "baujat" in fit.supports():
        res = fit.baujat()
        coords, int_only, fixed = res.frame, res.int_only, res.fixed
    else:
        raise InputError("baujat_plot: expected a fitted model with a baujat() method "
                         "(evsynth.meta, meta_mh, meta_peto), its baujat() result or a DataFrame "
                         "with columns slab, x, y")
    for col in ("slab", "x", "y"):
        if col not in coords.columns:
            raise InputError(f"baujat_plot: the coordinates have no column {col!r}")
    fig = _figure(6.0, 5.0)
    ax = fig.add_subplot()
    x, y = coords["x"].to_numpy(float), coords["y"].to_numpy(float)
    ok = np.isfinite(x) & np.isfinite(y)
    ax.grid(True, color="lightgray", linewidth=0.6)
    ax.set_axisbelow(True)
    if symbol != "dot":
        names = (coords["slab"].to_numpy() if symbol == "slab"
                 else np.arange(1, len(coords) + 1))
        ax.scatter(x[ok], y[ok], s=0)  # sets the limits; the labels are the symbols
        for xi, yi, lab in zip(x[ok], y[ok], names[ok], strict=True):
            ax.annotate(str(lab), (xi, yi), ha="center", va="center", fontsize=8)
        ax.margins(0.08)
    else:
        ax.scatter(x[ok], y[ok], s=20, color=POINT)
    if fixed:
        xlab = ("Contribution to Overall Heterogeneity" if int_only
                else "Contribution to Residual Heterogeneity")
    else:
        xlab = "Squared Pearson Residual"
    ax.set_xlabel(xlab)
    ax.set_ylabel("Influence on Overall Result" if int_only else "Influence on Fitted Value")
    if title:
        ax.set_title(title)
    return fig


def gosh_plot(gosh: Any, *, coef: str | None = None, het: str = "I2", bins: int = 40,
              alpha: float | None = None, title: str | None = None) -> Figure:
    """GOSH plot: the estimate of every subset fit (x) against its heterogeneity (y, default
    I^2), with the marginal histograms (metafor ``plot.gosh.rma``; Olkin et al. 2012).

    ``gosh``: the result of ``fit.gosh()``; ``coef``: the coefficient for a meta-regression
    (default: the first one after the intercept); ``het``: ``"I2"``, ``"H2"``, ``"tau2"`` or
    ``"QE"``. Points are rasterised so an SVG of a million subsets stays small.
    """
    frame = getattr(gosh, "frame", None)
    if not isinstance(frame, pd.DataFrame):
        raise InputError("gosh_plot: expected the result of fit.gosh()")
    if het not in ("I2", "H2", "tau2", "QE"):
        raise InputError(f"gosh_plot: het must be 'I2', 'H2', 'tau2' or 'QE'; got {het!r}")
    names = list(gosh.coef_names)
    if coef is None:
        coef = names[1] if len(names) > 1 and names[0] == "intrcpt" else names[0]
    if coef not in names:
        raise InputError(f"gosh_plot: coef must be one of {names}; got {coef!r}")
    est = frame[coef].to_numpy(float)
    h = frame[het].to_numpy(float)
    ok = np.isfinite(est) & np.isfinite(h)
    if not ok.any():
        raise InputError("gosh_plot: no subset could be fitted; nothing to draw")
    est, h = est[ok], h[ok]
    if alpha is None:
        alpha = float(np.clip(30.0 / np.sqrt(est.size), 0.02, 0.8))
    fig = _figure(6.5, 6.0)
    grid = fig.add_gridspec(2, 2, width_ratios=(4, 1), height_ratios=(1, 4))
    ax = fig.add_subplot(grid[1, 0])
    top = fig.add_subplot(grid[0, 0], sharex=ax)
    right = fig.add_subplot(grid[1, 1], sharey=ax)
    ax.scatter(est, h, s=4, color=POINT, alpha=alpha, linewidths=0, rasterized=True)
    top.hist(est, bins=bins, color="#7f7f7f")
    right.hist(h, bins=bins, orientation="horizontal", color="#7f7f7f")
    top.tick_params(labelbottom=False)
    right.tick_params(labelleft=False)
    label = "Estimate" if coef == "estimate" else f"Estimate ({coef})"
    ax.set_xlabel(label)
    ax.set_ylabel({"I2": "I² (%)", "H2": "H²", "tau2": "τ²", "QE": "Q"}[het])
    n = f"all {est.size:,}" if gosh.exact else f"{est.size:,} random"
    fig.suptitle(title or f"GOSH plot ({n} subsets of k = {gosh.k_total})")
    return fig


_PANELS = ("rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "QE_del", "hat", "weight")


def _reference_lines(name: str, infl: Any) -> list[tuple[float, str]]:
    """Horizontal reference lines of metafor's ``plot.infl.rma.uni`` panels."""
    k, p = infl.k, infl.p
    if name == "rstudent":
        z = float(stats.norm.ppf(0.975))
        return [(0.0, "--"), (-z, ":"), (z, ":")]
    if name == "dffits":
        c = 3 * np.sqrt(p / (k - p)) if k > p else np.inf
        return [(0.0, "--"), (c, ":"), (-c, ":")]
    if name == "cook_d":
        return [(float(stats.chi2.ppf(0.5, p)), ":")]
    if name == "cov_r":
        return [(1.0, "--")]
    if name == "tau2_del":
        return [(infl.tau2, "--")]
    if name == "QE_del":
        return [(infl.QE, "--")]
    if name == "hat":
        return [(p / k, "--"), (3 * p / k, ":")]
    return [(100.0 / k, "--")]


def influence_plot(infl: Any, *, log_covr: bool = True, title: str | None = None) -> Figure:
    """Influence panel (metafor ``plot.infl.rma.uni``): rstudent, DFFITS, Cook's distance,
    covariance ratio (log scale), tau^2 and Q_E after deletion, hat value and weight, per study,
    with metafor's reference lines; influential studies in red, missing values in grey.

    ``infl``: the result of ``fit.influence()``.
    """
    frame = getattr(infl, "frame", None)
    if not isinstance(frame, pd.DataFrame) or not set(_PANELS) <= set(frame.columns):
        raise InputError("influence_plot: expected the result of fit.influence()")
    k = len(frame)
    fig = _figure(9.0, 10.0)
    axes = fig.subplots(4, 2, sharex=True).ravel()
    pos = np.arange(1, k + 1)
    flagged = np.asarray(infl.is_infl, dtype=bool)
    for ax, name in zip(axes, _PANELS, strict=True):
        z = frame[name].to_numpy(float)
        ok = np.isfinite(z)
        for h, style in _reference_lines(name, infl):
            if np.isfinite(h):
                ax.axhline(h, linestyle=style, color="#555555", linewidth=0.8)
        ax.plot(pos[ok], z[ok], color=POINT, linewidth=0.8)
        ax.scatter(pos[ok & ~flagged], z[ok & ~flagged], s=22, color=POINT, zorder=3)
        ax.scatter(pos[ok & flagged], z[ok & flagged], s=26, color=FLAG, zorder=4,
                   label="influential")
        if (~ok).any():
            lo = np.nanmin(z) if ok.any() else 0.0
            ax.scatter(pos[~ok], np.full((~ok).sum(), lo), marker="x", color=MISSING, zorder=3)
        if name == "cov_r" and log_covr and ok.any() and np.all(z[ok] > 0):
            ax.set_yscale("log")
            subs = [float(s) for s in range(1, 10)]
            ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=subs))
            ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_title(name, fontsize=10)
    labels = [str(s) for s in frame["slab"]]
    step = max(1, k // 25)
    for ax in axes[-2:]:
        ax.set_xticks(pos[::step])
        ax.set_xticklabels(labels[::step], rotation=90 if k > 8 else 0, fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


def cumul_forest_plot(cumul: Any, *, transf: Callable[[np.ndarray], np.ndarray] | None = None,
                      refline: float | None = None, xlabel: str | None = None,
                      title: str | None = None) -> Figure:
    """Cumulative forest plot (metafor ``forest.cumul.rma``): row i shows the pooled estimate and
    its confidence interval after adding the i-th study (labelled "+ study").

    ``cumul``: the result of ``fit.cumul()``; ``transf``: applied to the estimates and bounds
    (e.g. ``np.exp`` for ratios, then the reference line is at 1 and the axis is logarithmic);
    ``refline``: position of the line of no effect (default 0, or 1 with ``transf=np.exp``).
    """
    frame = getattr(cumul, "frame", None)
    if not isinstance(frame, pd.DataFrame) or not {"estimate", "ci_lb", "ci_ub"} <= set(
            frame.columns):
        raise InputError("cumul_forest_plot: expected the result of fit.cumul() (or leave1out())")
    est = frame["estimate"].to_numpy(float)
    lb, ub = frame["ci_lb"].to_numpy(float), frame["ci_ub"].to_numpy(float)
    log_axis = transf is np.exp
    if transf is not None:
        est, lb, ub = (np.asarray(transf(a), dtype=float) for a in (est, lb, ub))
        lb, ub = np.minimum(lb, ub), np.maximum(lb, ub)
    if refline is None:
        refline = 1.0 if log_axis else 0.0
    k = len(frame)
    fig = _figure(7.5, 1.2 + 0.28 * k)
    ax = fig.add_subplot()
    rows = np.arange(k)[::-1]
    ok = np.isfinite(est) & np.isfinite(lb) & np.isfinite(ub)
    ax.hlines(rows[ok], lb[ok], ub[ok], color=POINT, linewidth=1.0)
    ax.scatter(est[ok], rows[ok], marker="s", s=24, color=POINT, zorder=3)
    ax.axvline(refline, color="#555555", linestyle="--", linewidth=0.8)
    kind = getattr(cumul, "kind", "cumul")
    prefix = "+ " if kind == "cumul" else "− "
    ax.set_yticks(rows)
    ax.set_yticklabels([prefix + str(s) for s in frame["slab"]], fontsize=8)
    ax.set_ylim(-0.8, k - 0.2)
    if log_axis:
        ax.set_xscale("log")
        _plain_log_axis(ax.xaxis)
    right = [f"{e:.2f} [{a:.2f}, {b:.2f}]" if np.isfinite(e) else "NA"
             for e, a, b in zip(est, lb, ub, strict=True)]
    twin = ax.twinx()
    twin.set_ylim(ax.get_ylim())
    twin.set_yticks(rows)
    twin.set_yticklabels(right, fontsize=8)
    twin.tick_params(length=0)
    level = float(getattr(cumul, "level", 95.0))  # percent (the results contract)
    ax.set_xlabel(xlabel or f"Estimate ({level:g}% CI)")
    heading = ("Cumulative meta-analysis" if kind == "cumul"
               else "Leave-one-out analysis")
    ax.set_title(title or heading, fontsize=10)
    return fig
