"""Forest plots of fitted models in the RevMan layout: :func:`forest` (``fit.plot_forest()``).

Registered for :class:`~evsynth.models.meta.MetaResult` (metafor ``forest.rma``; with
moderators the fitted values are drawn, as metafor) and for Mantel-Haenszel and Peto fits
(:class:`~evsynth.models.mh.MHResult`; metafor ``forest.rma.mh``, ``forest.rma.peto``). Each
registered function converts its fit into the row model of :mod:`evsynth.reports.forest`
(:class:`~evsynth.reports.forest.ForestData`), which the review pipeline's analyses are converted
into too, and draws it with the one drawing routine
(:func:`~evsynth.reports.forest.draw_forest`). A new model type plugs in by registering a
function that builds a :class:`_FitRows` and calls :func:`_draw`.

The drawing module is imported when a plot is drawn, not when this module is loaded, so asking
a fit what it supports (``fit.supports()``) does not load matplotlib.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evsynth._lazy import LazyModule
from evsynth.errors import InputError
from evsynth.models.diagnostics import dispatch, register
from evsynth.models.kernels import FIXED_METHODS
from evsynth.models.meta import MetaResult
from evsynth.models.mh import MHResult
from evsynth.validation import level_percent

stats = LazyModule("scipy.stats")

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from evsynth.reports.forest import ForestData, ForestGroup, ForestPooled

__all__ = ["forest"]

#: ``order`` names: how the study rows are sorted (within subgroups)
ORDERS = ("obs", "prec", "weight", "fit")


def forest(fit: Any, *, transf: Callable[[Any], Any] | str | bool | None = "auto",
           xlim: Sequence[float] | None = None, order: str | Sequence[int] | None = None,
           slab: Sequence[Any] | None = None, labels: Sequence[Any] | None = None,
           ilab: Any = None, ilab_labels: Sequence[str] | None = None,
           ilab_groups: Sequence[str | None] | None = None,
           arms: Sequence[str] | bool | None = None,
           favours: Sequence[str] | None = None, measure: str | None = None,
           title: str | None = None, level: float | None = None, prediction: bool = True,
           pi_type: str = "riley", targs: dict[str, Any] | None = None) -> Figure:
    """Forest plot of a fitted model in the RevMan 5 layout (metafor ``forest``).

    One row per study with its data columns (``ilab``), weight (percent, from the fit), estimate
    and confidence interval in text, and a square (area proportional to the weight) with its CI
    line; then the total with its diamond, the prediction interval (random-effects models), the
    heterogeneity line (Tau², Chi², df, P, I²) and the test for the overall effect (Z, or T with
    its df under t and Knapp-Hartung tests). A fit with ``subgroup=`` shows each subgroup with
    its subtotal, heterogeneity and test lines, and the test for subgroup differences. A
    meta-regression (``meta`` with moderators) shows each study's fitted value with its CI as a
    grey diamond (metafor's polygons), no summary diamond, and the residual heterogeneity and the
    test of the moderators under the table. Mantel-Haenszel fits are labelled "M-H, Fixed" and
    Peto fits "Peto, Fixed", with their own weights and, as RevMan, the arm data (events and
    totals per arm, or events and person-time) with their totals; studies the per-study effect
    cannot be computed for (e.g. no events in either arm) show "Not estimable". Every number
    drawn is the fit's own (per-study CIs are ``yi +/- z * sqrt(vi)``, as metafor and RevMan).

    Parameters
    ----------
    fit : MetaResult, MHResult, MetaMVResult, RobustResult, RobuResult or GLMMResult
        A fit from :func:`evsynth.meta`, :func:`evsynth.meta_mh`, :func:`evsynth.meta_peto`,
        :func:`evsynth.meta_mv` (effects grouped by study), :func:`evsynth.robust` (robust
        pooled CI), :func:`evsynth.robu` or :func:`evsynth.meta_glmm` (see
        :mod:`evsynth.models.diagnostics.forest_more`).
    transf : callable, "auto", True, False or None, optional
        Transformation of the estimates and limits for display. ``"auto"`` (default): ``np.exp``
        for ratio measures (OR, RR, Peto OR, HR, IRR, ROM; the measure of a Mantel-Haenszel or
        Peto fit, or ``measure=``), else none. ``True``: exp for a ratio measure (an error
        otherwise); ``None``/``False``: none. The exponential gives RevMan's ratio axis (log
        spacing, null line at 1); any other function (e.g. ``np.tanh`` for Fisher's z) plots
        the transformed values on a linear axis, as metafor's ``transf``. A name of a function
        in :mod:`evsynth.transf` (``"exp"``, ``"ztor"``, ``"ilogit"``, ``"ipft_hm"``, ...) is
        that function; ``targs`` (a dict, metafor's ``targs``) is passed to it, e.g.
        ``transf="ipft_hm", targs={"ni": ni}``.
    xlim : (float, float), optional
        Limits of the plot axis on the displayed scale (e.g. ``(0.05, 20)`` for risk ratios).
        Default: RevMan's symmetric axis around the null line holding every estimate, every
        pooled CI and the CIs of most studies; CIs beyond the limits end in arrows.
    order : {"obs", "prec", "weight", "fit"} or sequence of int, optional
        Sort order of the study rows (within subgroups): ``"obs"`` by the observed estimate,
        ``"prec"`` by the sampling variance (most precise first), ``"weight"`` by the weight
        (largest first), ``"fit"`` by the fitted value (meta-regression), or the row positions
        (0-based, a permutation of the studies) from the top. Default: the order of the data.
    slab : sequence, optional
        Study labels (one per study, in the order of the data), replacing the fit's.
    labels : sequence, optional
        Same as ``slab``.
    ilab : DataFrame, dict, array-like, optional
        Extra columns left of the weights, one row per study (in the order of the data), such
        as the arm data of RevMan's plots (events and totals per arm): a DataFrame or dict
        (column names become the headers) or an array (k values, or k x m). Numbers are shown
        as entered (integers without decimals). A column headed "Total" or "N" is summed on
        the total rows and one headed "Events" on a "Total events" row, as RevMan.
    ilab_labels : sequence of str, optional
        Headers of the ``ilab`` columns (replacing a DataFrame's or dict's names).
    ilab_groups : sequence of str or None, optional
        A group header over each ``ilab`` column (e.g. the arm: ``["Vaccine", "Vaccine",
        "Control", "Control"]``); neighbouring columns with the same group share it.
    arms : (str, str) or bool, optional
        The arm data of a fit that holds it (Mantel-Haenszel and Peto fits: events and totals,
        or events and person-time, per arm) under the arm names: a pair of names (default
        RevMan's "Experimental" and "Control"), or False to leave them out. By default they are
        shown unless ``ilab`` is given (whose columns then replace them).
    favours : (str, str), optional
        Labels under the axis, left and right of the null line (e.g. ``("Favours vaccine",
        "Favours control")``). Default: none (the fit does not know the direction of benefit).
    measure : str, optional
        The effect measure: a code ("OR", "RR", "RD", "MD", "SMD", "HR", ...), shown by RevMan's
        name ("Risk Ratio"), or any header text. Default: the fit's measure (Mantel-Haenszel
        and Peto fits), else "Estimate".
    title : str, optional
        A title over the plot.
    level : float, optional
        Confidence level (95 or 0.95) of the study CIs and the pooled CIs. Default: the fit's.
    prediction : bool, optional
        Draw the prediction interval of a random-effects model without moderators (k >= 3)
        under the total (default True).
    pi_type : str, optional
        How the prediction interval is computed (:meth:`MetaResult.predict`): ``"riley"``
        (default: t with k - 2 df, Higgins, Thompson & Spiegelhalter 2009, as Cochrane Handbook
        section 10.10.4.3), ``"default"`` (metafor's), ``"t"`` or ``"simple"``.
    targs : dict, optional
        Extra arguments of ``transf`` (metafor's ``targs``; see :func:`evsynth.transf.resolve`),
        e.g. ``{"ni": ni}`` for ``transf="ipft_hm"`` or ``{"tau2": fit.tau2}`` for
        ``transf="exp_int"``.

    Returns
    -------
    matplotlib.figure.Figure
        The plot, built without pyplot (no global state); ``fig.savefig("forest.svg")`` keeps
        the text as text, ``fig.savefig("forest.png", dpi=150)`` gives a bitmap.

    Raises
    ------
    InputError
        Options that do not fit the model (lengths, an unknown order, limits), a model type
        without forest plots, or a transform that gives non-finite values.

    See Also
    --------
    evsynth.reports.forest.forest_plot : the same plot of a review pipeline analysis.

    References
    ----------
    Lewis S, Clarke M (2001). Forest plots: trying to see the wood and the trees. BMJ
    322:1479-1480. doi:10.1136/bmj.322.7300.1479

    Higgins JPT, Thompson SG, Spiegelhalter DJ (2009). A re-evaluation of random-effects
    meta-analysis. J R Stat Soc A 172:137-159. doi:10.1111/j.1467-985X.2008.00552.x

    Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw
    36(3):1-48. doi:10.18637/jss.v036.i03

    Higgins JPT, Thomas J, Chandler J, et al. (eds.) (2023). Cochrane Handbook for Systematic
    Reviews of Interventions, version 6.4, sections 10.2.1 (forest plots) and 10.10.4.3
    (prediction intervals). Review Manager (RevMan) 5.4, The Cochrane Collaboration, 2020.

    Examples
    --------
    >>> import numpy as np
    >>> import evsynth
    >>> fit = evsynth.meta([-0.5, -0.9, 0.2, -0.3], [0.2, 0.21, 0.59, 0.1],
    ...                    slab=["Adams 2001", "Brown 2005", "Chen 2010", "Diaz 2016"])
    >>> fig = evsynth.forest(fit, measure="MD", favours=("Favours drug", "Favours placebo"))
    >>> from matplotlib.figure import Figure
    >>> isinstance(fig, Figure)
    True
    >>> mh = evsynth.meta_mh("RR", ai=[4, 6, 3], bi=[119, 300, 228], ci=[11, 29, 11],
    ...                      di=[128, 274, 209], slab=["Aronson", "Ferguson", "Rosenthal"])
    >>> fig = mh.plot_forest(arms=("Vaccine", "Control"), title="BCG vaccine")
    >>> fig.savefig(__import__("io").BytesIO(), format="svg")
    """
    if isinstance(fit, dict):
        raise InputError("forest: fit is a dict; expected a fitted model (from evsynth.meta, "
                         "meta_mh or meta_peto). A review pipeline analysis (results.json) is "
                         "drawn with evsynth.reports.forest.forest_plot")
    from evsynth.models.results import FittedModel

    if not isinstance(fit, FittedModel):
        raise InputError(f"forest: fit is a {type(fit).__name__}; expected a fitted model (from "
                         "evsynth.meta, meta_mh or meta_peto)")
    return dispatch("forest", fit, transf=transf, xlim=xlim, order=order, slab=slab,
                    labels=labels, ilab=ilab, ilab_labels=ilab_labels, ilab_groups=ilab_groups,
                    arms=arms, favours=favours, measure=measure, title=title, level=level,
                    prediction=prediction, pi_type=pi_type, targs=targs)


# --------------------------------------------------------------------------------------------
# options
# --------------------------------------------------------------------------------------------
@dataclass
class _Options:
    transf: Any = "auto"
    xlim: Any = None
    order: Any = None
    slab: Any = None
    labels: Any = None
    ilab: Any = None
    ilab_labels: Any = None
    ilab_groups: Any = None
    arms: Any = None
    favours: Any = None
    measure: Any = None
    title: Any = None
    level: Any = None
    prediction: Any = True
    pi_type: Any = "riley"
    targs: Any = None


def _options(kwargs: dict[str, Any]) -> _Options:
    known = set(_Options.__dataclass_fields__)
    bad = sorted(set(kwargs) - known)
    if bad:
        raise InputError(f"forest: unknown option(s) {', '.join(bad)}; expected "
                         f"{', '.join(sorted(known))}")
    o = _Options(**kwargs)
    if not isinstance(o.prediction, (bool, np.bool_)):
        raise InputError(f"forest: argument 'prediction' is {o.prediction!r}; expected True or "
                         "False")
    for name in ("title", "measure"):
        value = getattr(o, name)
        if value is not None and not isinstance(value, str):
            raise InputError(f"forest: argument {name!r} is {value!r}; expected a string")
    return o


# --------------------------------------------------------------------------------------------
# what a model type gives the plot
# --------------------------------------------------------------------------------------------
@dataclass
class _FitRows:
    """The numbers a fit contributes, before the options are applied: per-study labels, yi, vi
    (NaN: not estimable), weights in percent (NaN: not in the pooled estimate), the pooled
    result, subgroups (``group_of``: each study's subgroup index), fitted values of a
    meta-regression, and the lines under the table."""

    labels: list[str]
    yi: np.ndarray
    vi: np.ndarray
    weights: np.ndarray
    measure: str | None
    method: str
    level: float
    fixed: bool
    tstat: bool
    pooled: ForestPooled | None = None
    groups: list[ForestGroup] | None = None
    group_of: list[int] | None = None
    fitted: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    show_total: bool = True
    extra_lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    binary: bool = False
    #: per arm ("i" experimental, "c" control): (column header, one value per study)
    arm_data: dict[str, list[tuple[str, np.ndarray]]] | None = None


def _f(x: Any) -> float | None:
    """A finite float, or None."""
    if x is None:
        return None
    v = float(np.asarray(x, dtype=float).ravel()[0])
    return v if math.isfinite(v) else None


def _level(o: _Options, fit: Any) -> float:
    return float(fit.level) if o.level is None else level_percent(o.level)


def _ci(fit: Any, level: float) -> tuple[float, float]:
    """The pooled CI of a one-coefficient fit at ``level`` (the fit's own numbers at its own
    level)."""
    if math.isclose(level, float(fit.level), abs_tol=1e-9):
        return float(fit.ci_lb[0]), float(fit.ci_ub[0])
    pred = fit.predict(level=level)
    return float(np.ravel(pred.ci_lb)[0]), float(np.ravel(pred.ci_ub)[0])


def _pooled_meta(fit: MetaResult, level: float, pi: tuple[float, float] | None = None
                 ) -> ForestPooled:
    from evsynth.reports.forest import ForestPooled

    lb, ub = _ci(fit, level)
    return ForestPooled(est=float(fit.beta[0]), lb=lb, ub=ub, k=int(fit.k),
                        stat=_f(fit.zval), pval=_f(fit.pval), df=_f(fit.df),
                        tau2=_f(fit.tau2), i2=_f(fit.I2), qe=_f(fit.QE), qe_df=int(fit.k) - 1,
                        qep=_f(fit.QEp), pi=pi)


def _membership(fit: MetaResult, subs: dict[Any, MetaResult]) -> list[int]:
    """Each study's subgroup index: the subgroup fits hold the studies of each level in the
    order of the data (label, yi and vi identify them; identical studies are interchangeable)."""
    slab = fit.slab
    free: dict[tuple[str, float, float], list[int]] = {}
    for i in range(int(fit.k)):
        key = ("" if slab is None else str(slab[i]), float(fit.yi[i]), float(fit.vi[i]))
        free.setdefault(key, []).append(i)
    group = [-1] * int(fit.k)
    for g, sub in enumerate(subs.values()):
        for j in range(len(sub.yi)):
            key = ("" if sub.slab is None else str(sub.slab[j]), float(sub.yi[j]),
                   float(sub.vi[j]))
            if not free.get(key):
                raise InputError("forest: the subgroup fits do not hold the studies of the fit; "
                                 "expected the result of meta(..., subgroup=...)")
            group[free[key].pop(0)] = g
    if min(group, default=0) < 0:
        raise InputError("forest: some studies are in no subgroup fit; expected the result of "
                         "meta(..., subgroup=...)")
    return group


def _meta_rows(fit: MetaResult, o: _Options) -> _FitRows:
    from evsynth.reports.forest import (
        ForestGroup,
        ForestPooled,
        _fixed2,
        heterogeneity_line,
        subgroup_test_line,
    )

    level = _level(o, fit)
    st = fit.studies
    fixed = fit.method in FIXED_METHODS
    rows = _FitRows(labels=[str(s) for s in st["slab"]], yi=np.asarray(fit.yi, dtype=float),
                    vi=np.asarray(fit.vi, dtype=float),
                    weights=np.asarray(fit.weights, dtype=float), measure=None,
                    method=f"IV, {'Fixed' if fixed else 'Random'}", level=level, fixed=fixed,
                    tstat=fit.test != "z")
    if list(fit.coef_names) != ["intrcpt"]:   # a meta-regression: fitted values, no total
        pred = fit.predict(level=level)
        f_est, f_lb, f_ub = (np.atleast_1d(np.asarray(a, dtype=float))
                             for a in (pred.pred, pred.ci_lb, pred.ci_ub))
        rows.fitted = (f_est, f_lb, f_ub)
        rows.show_total = False
        p = int(fit.p)
        resid = ForestPooled(est=0.0, lb=0.0, ub=0.0, k=int(fit.k), tau2=_f(fit.tau2),
                             i2=_f(fit.I2), qe=_f(fit.QE), qe_df=int(fit.k) - p,
                             qep=_f(fit.QEp))
        rows.extra_lines = [heterogeneity_line(resid, fixed, "Residual heterogeneity"),
                            _moderator_line(fit)]
        mods = [n for n in fit.coef_names if n != "intrcpt"]
        rows.notes.append(f"Grey diamonds: the fitted values of the meta-regression on "
                          f"{', '.join(mods)} with their {level:g}% CIs (as metafor's "
                          "forest.rma); no summary estimate.")
        return rows
    pi = None
    if o.prediction and not fixed and fit.k >= 3:
        pr = fit.predict(level=level, pi_type=o.pi_type)
        lo, hi = _f(pr.pi_lb), _f(pr.pi_ub)
        pi = (lo, hi) if lo is not None and hi is not None else None
    rows.pooled = _pooled_meta(fit, level, pi)
    subs = fit.subgroups
    if subs:
        rows.group_of = _membership(fit, subs)
        rows.groups = [ForestGroup(label=str(lvl), pooled=_pooled_meta(sub, level))
                       for lvl, sub in subs.items()]
        q, df = _f(fit.Q_between), _f(fit.Q_between_df)
        if q is not None and df is not None:
            common = fit.subgroup_tau2 == "common"
            if common and fit.test != "z":
                rows.extra_lines.append(
                    f"Test for subgroup differences (common Tau²): F = {_fixed2(q)}, df = "
                    f"({df:g}, {int(fit.k) - len(subs)}) ({_p(fit.Q_between_p)})")
            else:
                label = ("Test for subgroup differences (common Tau²)" if common
                         else "Test for subgroup differences")
                rows.extra_lines.append(subgroup_test_line(q, df, _f(fit.Q_between_p),
                                                           _f(fit.Q_between_I2), label))
    return rows


def _p(p: Any) -> str:
    from evsynth.reports.forest import format_p

    return format_p(_f(p))


def _moderator_line(fit: MetaResult) -> str:
    """"Test of moderators: Chi² = QM, df = m (P = ...)" (F with (m, k - p) df under t
    tests), metafor's omnibus test of the moderators."""
    from evsynth.reports.forest import _fixed2

    df = fit.QMdf
    if fit.test == "z":
        return f"Test of moderators: Chi² = {_fixed2(fit.QM)}, df = {df[0]} ({_p(fit.QMp)})"
    return (f"Test of moderators: F = {_fixed2(fit.QM)}, df = ({df[0]}, {df[1]}) "
            f"({_p(fit.QMp)})")


def _mh_rows(fit: MHResult, o: _Options) -> _FitRows:
    from evsynth.reports.forest import ForestPooled

    level = _level(o, fit)
    st = fit.studies
    names = list(st["slab"])
    if names == list(range(1, len(names) + 1)):   # no labels given: metafor's numbers
        names = [f"Study {i}" for i in names]
    peto = fit.method == "PETO"
    rows = _FitRows(labels=[str(s) for s in names], yi=st["yi"].to_numpy(dtype=float),
                    vi=st["vi"].to_numpy(dtype=float),
                    weights=st["weight"].to_numpy(dtype=float), measure=fit.measure,
                    method="Peto, Fixed" if peto else "M-H, Fixed", level=level, fixed=True,
                    tstat=False, binary=True)
    tab = getattr(fit, "tables", None) or {}
    if {"ai", "bi", "ci", "di"} <= set(tab):
        rows.arm_data = {"i": [("Events", tab["ai"]), ("Total", tab["ai"] + tab["bi"])],
                         "c": [("Events", tab["ci"]), ("Total", tab["ci"] + tab["di"])]}
    elif {"x1i", "x2i", "t1i", "t2i"} <= set(tab):
        rows.arm_data = {"i": [("Events", tab["x1i"]), ("Person-time", tab["t1i"])],
                         "c": [("Events", tab["x2i"]), ("Person-time", tab["t2i"])]}
    lb, ub = _ci(fit, level)
    rows.pooled = ForestPooled(est=float(fit.beta[0]), lb=lb, ub=ub, k=int(fit.k_yi),
                               stat=_f(fit.zval), pval=_f(fit.pval), qe=_f(fit.QE),
                               qe_df=int(fit.k_yi) - 1, qep=_f(fit.QEp), i2=_f(fit.I2))
    return rows


@register("forest", MetaResult)
def forest_rma(fit: MetaResult, **options: Any) -> Figure:
    """metafor ``forest.rma`` in the RevMan layout (options: :func:`forest`)."""
    o = _options(options)
    return _draw(_meta_rows(fit, o), o)


@register("forest", MHResult)
def forest_mh(fit: MHResult, **options: Any) -> Figure:
    """metafor ``forest.rma.mh`` / ``forest.rma.peto`` in the RevMan layout ("M-H, Fixed",
    "Peto, Fixed"; options: :func:`forest`)."""
    o = _options(options)
    return _draw(_mh_rows(fit, o), o)


# --------------------------------------------------------------------------------------------
# options applied to the rows of any model type, then the one drawing routine
# --------------------------------------------------------------------------------------------
def _draw(rows: _FitRows, o: _Options) -> Figure:
    from evsynth.reports.forest import draw_forest

    return draw_forest(_forest_data(rows, o))


def _forest_data(rows: _FitRows, o: _Options) -> ForestData:
    from evsynth.reports.forest import (
        BINARY_MEASURES,
        SQUARE_BINARY,
        SQUARE_CONTINUOUS,
        ForestData,
        ForestStudy,
        measure_name,
    )

    n = len(rows.yi)
    labels = _labels(o, rows.labels, n)
    code = o.measure if o.measure is not None else rows.measure
    scale = _scale(o.transf, code, o.targs)
    columns, headers, cells, counts = _arms(o, rows, n)
    i_cols, i_heads, i_cells, i_counts = _ilab(o, n)
    columns += i_cols
    headers.update(i_heads)
    for i in range(n):
        cells[i].update(i_cells[i])
        counts[i].update(i_counts[i])
    crit = float(stats.norm.ppf(1 - (1 - rows.level / 100) / 2))
    studies = []
    for i in range(n):
        y, v, w = rows.yi[i], rows.vi[i], rows.weights[i]
        ok = bool(np.isfinite(y) and np.isfinite(v) and v >= 0)
        half = crit * math.sqrt(v) if ok else 0.0
        fitted = None
        if rows.fitted is not None:
            fitted = (float(rows.fitted[0][i]), float(rows.fitted[1][i]),
                      float(rows.fitted[2][i]))
        studies.append(ForestStudy(
            label=labels[i], yi=float(y) if ok else None, lb=float(y - half) if ok else None,
            ub=float(y + half) if ok else None,
            weight=float(w) if np.isfinite(w) else None, cells=cells[i], counts=counts[i],
            group=None if rows.group_of is None else rows.group_of[i], fitted=fitted))
    studies = [studies[i] for i in _order(o.order, rows, n)]
    binary = rows.binary or (isinstance(code, str) and code.strip().upper() in BINARY_MEASURES)
    return ForestData(
        title=o.title or "", measure=measure_name(code, scale), method=rows.method,
        level=rows.level, scale=scale, studies=studies, columns=columns, group_headers=headers,
        groups=rows.groups, pooled=rows.pooled, fixed=rows.fixed, tstat=rows.tstat,
        show_total=rows.show_total, extra_lines=list(rows.extra_lines),
        favours=_favours(o.favours), colour=SQUARE_BINARY if binary else SQUARE_CONTINUOUS,
        notes=list(rows.notes), xlim=_xlim(o.xlim, scale.kind == "log"))


def _scale(transf: Any, code: str | None, targs: Any = None) -> Any:
    from evsynth import transf as _transf
    from evsynth.reports.forest import RATIO_MEASURES, Scale

    ratio = isinstance(code, str) and code.strip().upper() in RATIO_MEASURES
    if targs is not None and (transf is None or isinstance(transf, bool) or transf == "auto"):
        raise InputError("forest: targs given without a transformation function (transf)")
    if (isinstance(transf, str) and transf != "auto") or targs is not None:
        func, _ = _transf.resolve(transf, targs, "forest")
        return Scale.of(func)
    if isinstance(transf, str):
        return Scale("log") if ratio else Scale("linear")
    if transf is True:
        if not ratio:
            raise InputError(f"forest: transf=True means exp for ratio measures, but the measure "
                             f"is {code!r}; pass measure='OR' (or another ratio measure) or a "
                             "function such as numpy.exp")
        return Scale("log")
    if transf is None or transf is False:
        return Scale("linear")
    return Scale.of(transf)


def _labels(o: _Options, default: list[str], n: int) -> list[str]:
    if o.slab is not None and o.labels is not None:
        raise InputError("forest: give the study labels as slab or as labels, not both")
    given = o.slab if o.slab is not None else o.labels
    if given is None:
        return default
    if isinstance(given, str):
        raise InputError(f"forest: slab is the string {given!r}; expected one label per study")
    values = list(given)
    if len(values) != n:
        raise InputError(f"forest: slab has {len(values)} labels but the fit has {n} studies; "
                         "expected one label per study, in the order of the data")
    return ["" if v is None else str(v) for v in values]


def _cell(v: Any) -> tuple[str, float | None]:
    """The text of an ``ilab`` value and its number (None when it is not a number)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "", None
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v)), None
    if isinstance(v, (int, float, np.integer, np.floating)):
        x = float(v)
        if not math.isfinite(x):
            return ("∞" if x > 0 else "-∞") if math.isinf(x) else "", None
        from evsynth.reports.forest import _fmt_num

        return _fmt_num(x), x
    try:
        if pd.isna(v):
            return "", None
    except (TypeError, ValueError):
        pass
    return str(v), None


_TOTALS = {"total": "sum", "n": "sum", "events": "events", "person-time": "sum"}


def _arms(o: _Options, rows: _FitRows, n: int) -> tuple[list[Any], dict[str, str],
                                                        list[dict[str, str]],
                                                        list[dict[str, float | None]]]:
    """The arm data columns of a fit that holds them (RevMan's Events/Total per arm)."""
    from evsynth.reports.forest import Column

    cells: list[dict[str, str]] = [{} for _ in range(n)]
    counts: list[dict[str, float | None]] = [{} for _ in range(n)]
    arms = o.arms
    names = ("Experimental", "Control")
    if arms is None:
        show = o.ilab is None
    elif isinstance(arms, (bool, np.bool_)):
        show = bool(arms)
    else:
        pair = None if isinstance(arms, str) else list(arms)
        if pair is None or len(pair) != 2 or not all(isinstance(a, str) for a in pair):
            raise InputError(f"forest: arms is {arms!r}; expected two arm names (experimental, "
                             "control), True or False")
        names, show = (pair[0], pair[1]), True
    if not show or rows.arm_data is None:
        return [], {}, cells, counts
    columns = []
    for side in ("i", "c"):
        for j, (header, values) in enumerate(rows.arm_data[side]):
            key = f"{side}_arm{j}"
            columns.append(Column(key, header, group=side, total=_TOTALS.get(header.lower())))
            for i in range(n):
                cells[i][key], counts[i][key] = _cell(values[i])
    return columns, {"i": names[0], "c": names[1]}, cells, counts


def _ilab(o: _Options, n: int) -> tuple[list[Any], dict[str, str], list[dict[str, str]],
                                        list[dict[str, float | None]]]:
    """The extra columns: Column definitions, group headers, and per-study texts and
    numbers."""
    from evsynth.reports.forest import Column

    cells: list[dict[str, str]] = [{} for _ in range(n)]
    counts: list[dict[str, float | None]] = [{} for _ in range(n)]
    if o.ilab is None:
        if o.ilab_labels is not None or o.ilab_groups is not None:
            raise InputError("forest: ilab_labels/ilab_groups given without ilab")
        return [], {}, cells, counts
    ilab = o.ilab
    if isinstance(ilab, dict):
        ilab = pd.DataFrame({str(k): list(v) if np.ndim(v) else [v] for k, v in ilab.items()})
    if isinstance(ilab, pd.Series):
        ilab = ilab.to_frame()
    if isinstance(ilab, pd.DataFrame):
        names = [str(c) for c in ilab.columns]
        values = [list(ilab[c]) for c in ilab.columns]
        if len(ilab) != n:
            raise InputError(f"forest: ilab has {len(ilab)} rows but the fit has {n} studies; "
                             "expected one row per study, in the order of the data")
    else:
        arr = np.asarray(ilab, dtype=object)
        if arr.ndim == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2 or arr.shape[0] != n:
            raise InputError(f"forest: ilab has shape {np.shape(ilab)}; expected {n} values or "
                             f"a {n} x m array (one row per study, in the order of the data)")
        names = [""] * arr.shape[1]
        values = [list(arr[:, j]) for j in range(arr.shape[1])]
    m = len(values)
    if o.ilab_labels is not None:
        heads = [o.ilab_labels] if isinstance(o.ilab_labels, str) else list(o.ilab_labels)
        if len(heads) != m:
            raise InputError(f"forest: ilab_labels has {len(heads)} headers for {m} ilab "
                             "column(s); expected one per column")
        names = [str(h) for h in heads]
    groups: list[str | None] = [None] * m
    if o.ilab_groups is not None:
        groups = [o.ilab_groups] if isinstance(o.ilab_groups, str) else list(o.ilab_groups)
        if len(groups) != m:
            raise InputError(f"forest: ilab_groups has {len(groups)} entries for {m} ilab "
                             "column(s); expected one per column (None for no group)")
    columns, headers = [], {}
    run, prev = -1, object()
    for j in range(m):
        g = groups[j]
        key = None
        if g is not None:
            if g != prev:
                run += 1
            key = f"ilab-group-{run}"
            headers[key] = str(g)
        prev = g
        parsed = [_cell(v) for v in values[j]]
        numeric = all(x is not None or t == "" for t, x in parsed)
        total = _TOTALS.get(names[j].strip().lower()) if numeric else None
        columns.append(Column(f"ilab{j}", names[j], group=key, total=total))
        for i, (text, x) in enumerate(parsed):
            cells[i][f"ilab{j}"] = text
            counts[i][f"ilab{j}"] = x
    return columns, headers, cells, counts


def _order(order: Any, rows: _FitRows, n: int) -> list[int]:
    """Row positions from the top."""
    if order is None:
        return list(range(n))
    if isinstance(order, str):
        key = order.strip().lower()
        if key == "obs":
            values = rows.yi
        elif key == "prec":
            values = rows.vi
        elif key == "weight":
            values = -rows.weights
        elif key == "fit":
            values = rows.fitted[0] if rows.fitted is not None else np.zeros(n)
        else:
            raise InputError(f"forest: order is {order!r}; expected one of "
                             f"{', '.join(ORDERS)} or the row positions")
        keys = np.where(np.isfinite(values), values, np.inf)
        return [int(i) for i in np.argsort(keys, kind="stable")]
    try:
        arr = np.asarray(order)
        ok = arr.ndim == 1 and arr.dtype.kind in "iu" and sorted(arr.tolist()) == list(range(n))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InputError(f"forest: order is {order!r}; expected one of {', '.join(ORDERS)} or "
                         f"the row positions (a permutation of 0..{n - 1}, top row first)")
    return [int(i) for i in arr]


def _favours(favours: Any) -> tuple[str, str] | None:
    if favours is None:
        return None
    if isinstance(favours, str) or len(list(favours)) != 2 or not all(
            isinstance(s, str) for s in favours):
        raise InputError(f"forest: favours is {favours!r}; expected two labels (left, right), "
                         "e.g. ('Favours treatment', 'Favours control')")
    left, right = favours
    return left, right


def _xlim(xlim: Any, log: bool) -> tuple[float, float] | None:
    if xlim is None:
        return None
    try:
        lo, hi = (float(v) for v in xlim)
        ok = not any(isinstance(v, (bool, np.bool_)) for v in xlim)
    except (TypeError, ValueError):
        ok = False
    if not ok or not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise InputError(f"forest: xlim is {xlim!r}; expected two finite numbers, lower first")
    if log and lo <= 0:
        raise InputError(f"forest: xlim is {xlim!r}; the axis is on the ratio scale, so the "
                         "limits must be positive (e.g. (0.1, 10))")
    return lo, hi
