"""RevMan-style forest plots: one row model, one drawing routine, two entries.

Layout after the forest plots of Review Manager 5 (The Cochrane Collaboration, RevMan 5.4 user
guide, "Forest plots"; Cochrane Handbook for Systematic Reviews of Interventions v6.4, section
10.2.1 and Figure 10.2.a): one row per study with its data columns (arm data), the weight, the
effect and its confidence interval in text, and a square sized by weight (area proportional to
weight) with its CI line; subgroup subtotals, the overall total with its diamond, the
heterogeneity line (Tau², Chi², df, P, I²), the test for the overall effect, the test for
subgroup differences (Handbook section 10.11.3.1), and "Favours ..." labels under the axis. The
prediction interval (Higgins, Thompson & Spiegelhalter 2009, J R Stat Soc A 172:137; Handbook
section 10.10.4.3) is drawn as a bar with end caps on its own row under the total.

Two entries build the same row model (:class:`ForestData`: studies, data columns, subgroups,
pooled results, lines under the table) and draw it with one routine (:func:`draw_forest`):

* :func:`forest_plot` / :func:`write_forest`: one analysis of the review pipeline (an entry of
  results.json ``"analyses"``, see ``evsynth.review``), converted by :func:`analysis_data`;
* :func:`evsynth.forest` (``fit.plot_forest()``): a fitted model, converted by the converter the
  model type registers in :mod:`evsynth.models.diagnostics.forest`.

Nothing here computes statistics: every number comes from the analysis dict or the fit. A dict
the plot cannot be drawn from (a field missing or not finite, no studies) is an
:class:`~evsynth.errors.InputError` naming the analysis, study and field, never a blank figure.
The figure is a matplotlib :class:`~matplotlib.figure.Figure` built without pyplot (Agg canvas,
no global state); its SVG keeps text as text (``svg.fonttype = "none"``) so the labels can be
searched in the HTML report.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullLocator

from evsynth.errors import InputError, finite_number
from evsynth.files import save_figures
from evsynth.models.engine import i2_from_q
from evsynth.summaries.wording import format_ratio
from evsynth.textsafe import document_text

__all__ = ["ForestData", "ForestGroup", "ForestPooled", "ForestRob", "ForestStudy", "Scale",
           "analysis_data",
           "axis_ticks", "draw_forest", "favours_labels", "forest_plot", "format_effect",
           "format_p", "measure_name", "write_forest"]

#: RevMan's names of the effect measures (measure code -> column header)
MEASURE_NAMES = {
    "MD": "Mean Difference", "MD_CHANGE": "Mean Difference",
    "SMD": "Std. Mean Difference", "SMD_CHANGE": "Std. Mean Difference",
    "OR": "Odds Ratio", "RR": "Risk Ratio", "RD": "Risk Difference",
    "PETO": "Peto Odds Ratio", "HR": "Hazard Ratio", "IRR": "Rate Ratio",
    "IRD": "Rate Difference", "ROM": "Ratio of Means",
}
#: measures analysed on the log scale and shown on the ratio scale
RATIO_MEASURES = frozenset({"OR", "RR", "PETO", "HR", "IRR", "ROM"})
#: measures of dichotomous (or count) outcomes: squares in RevMan's blue
BINARY_MEASURES = frozenset({"OR", "RR", "RD", "PETO", "HR", "IRR", "IRD"})

FONT = "DejaVu Sans"
#: fonts tried, in order, for characters DejaVu Sans lacks (CJK), when installed
FALLBACK_FONTS = ("Noto Sans CJK JP", "Noto Sans CJK SC", "Droid Sans Fallback")
SIZE = 8.0          # body text, points
SMALL = 7.0         # footnotes (excluded studies), points
ROW_H = 0.19        # row height, inches
PAD = 0.10          # horizontal padding between columns, inches
MARGIN = 0.15       # figure margin, inches
PANEL_W = 2.6       # width of the plot panel, inches
MAX_LABEL_W = 2.4   # study labels are truncated to this width, inches
MAX_GROUP_W = 1.9   # arm names in the column headers are truncated to this width, inches
INK = "#111111"
GREY = "#555555"
FITTED = "#8c8c8c"              # fitted values of a meta-regression (metafor's grey polygons)
SQUARE_CONTINUOUS = "#2e7d32"   # RevMan draws continuous outcomes in green
SQUARE_BINARY = "#1f4e9c"       # and dichotomous outcomes in blue
PI_COLOUR = "#b03a2e"
ROB_GAP = 0.35      # from the plot panel to the first risk-of-bias column, inches
ROB_DX = 0.2        # between risk-of-bias columns, inches
#: rc settings while saving: SVG text as text, reproducible SVG ids, and unhinted glyphs (a
#: third less rendering time for PNG with matplotlib's glyph-by-glyph Agg text)
_SAVE_RC: dict[Any, Any] = {"svg.fonttype": "none", "svg.hashsalt": "evsynth-forest",
                            "text.hinting": "none"}


class ForestFigure(Figure):
    """A Figure whose ``savefig`` keeps SVG text as text and writes reproducible SVG ids
    (also through :func:`evsynth.files.svg_string`)."""

    def savefig(self, *args: Any, **kwargs: Any) -> None:
        """As :meth:`matplotlib.figure.Figure.savefig`, under ``svg.fonttype = "none"`` (the rc
        settings are restored afterwards)."""
        with mpl.rc_context(_SAVE_RC), warnings.catch_warnings():
            # a character no installed font has is drawn as a box in the PNG; the SVG keeps the
            # character itself (the browser has its own fonts)
            warnings.filterwarnings("ignore", "Glyph .* missing from font", UserWarning)
            super().savefig(*args, **kwargs)


# --------------------------------------------------------------------------------------------
# formatting (RevMan conventions)
# --------------------------------------------------------------------------------------------
def format_p(p: float | None) -> str:
    """A P value as RevMan prints it: ``P < 0.00001``; two decimals from 0.01 up, else one
    significant digit (``P = 0.003``)."""
    if p is None or not math.isfinite(p):
        return "P = NA"
    if p < 0.00001:
        return "P < 0.00001"
    if p >= 0.00995:
        return f"P = {p:.2f}"
    r = float(f"{p:.1g}")
    return f"P = {r:.{-math.floor(math.log10(r))}f}"


def _fixed2(x: float) -> str:
    """Two decimals, as RevMan; no ``-0.00``; very large values in exponent form."""
    if math.isnan(x):
        return "NA"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if abs(x) >= 1e5:
        return f"{x:.2e}"
    s = f"{x:.2f}"
    return "0.00" if s == "-0.00" else s


def _ratio_text(x: float) -> str:
    """A ratio: :func:`_fixed2`, with two significant digits between 0 and 0.1 (where two
    decimals read 0.00 or lose the value: the SoF's :func:`format_ratio`)."""
    if 0 < x < 0.1:
        return format_ratio(x)
    return _fixed2(x)


def _is_exp(f: Callable[..., Any]) -> bool:
    """True when ``f`` is the exponential function (numpy.exp, math.exp or an equivalent)."""
    try:
        with np.errstate(all="ignore"):
            return all(math.isclose(float(f(x)), math.exp(x), rel_tol=1e-12)
                       for x in (-2.0, -0.5, 0.0, 0.7, 3.0))
    except Exception:  # a transform that fails on plain floats is not exp
        return False


@dataclass(frozen=True)
class Scale:
    """How values on the analysis scale are shown: ``"linear"`` (as they are), ``"log"``
    (exponentiated, on a log-spaced ratio axis: RevMan's OR/RR plots) or ``"transf"`` (any
    other monotone function ``func``, on a linear axis of the transformed values, as metafor's
    ``transf``)."""

    kind: str = "linear"
    func: Callable[[float], Any] | None = None

    @classmethod
    def of(cls, transf: Callable[[float], Any] | None) -> Scale:
        """The scale of a transform: None -> linear, the exponential -> log, else transf."""
        if transf is None:
            return cls("linear")
        if not callable(transf):
            raise InputError(f"forest: argument 'transf' is {transf!r}; expected a function such "
                             "as numpy.exp, None or 'auto'")
        return cls("log") if _is_exp(transf) else cls("transf", transf)

    def show(self, x: float) -> float:
        """``x`` on the displayed scale."""
        if self.kind == "linear":
            return x
        if self.kind == "log":
            return math.exp(x) if x < 700 else math.inf
        assert self.func is not None
        try:
            with np.errstate(all="ignore"):   # a non-finite result is reported by the caller
                return float(self.func(x))
        except Exception as exc:  # a failing user function is bad input
            raise InputError(f"forest: transf({x!r}) failed: {exc}") from None

    def interval(self, lb: float, ub: float) -> tuple[float, float]:
        """A confidence interval on the displayed scale, lower bound first (a decreasing
        transform swaps the bounds)."""
        a, b = self.show(lb), self.show(ub)
        return (a, b) if a <= b else (b, a)

    def effect(self, est: float, lb: float, ub: float) -> str:
        """``"-0.90 [-1.80, 0.00]"`` on the displayed scale; ratios below 0.1 with two
        significant digits, as the Summary of Findings shows them
        (:func:`evsynth.summaries.wording.format_ratio`: ``0.00023 [0.000046, 0.0012]``, not
        ``0.00 [0.00, 0.00]``)."""
        lo, hi = self.interval(lb, ub)
        fmt = _ratio_text if self.kind == "log" else _fixed2
        return f"{fmt(self.show(est))} [{fmt(lo)}, {fmt(hi)}]"

    @property
    def null(self) -> float | None:
        """The line of no effect on the displayed scale (0, or 1 for ratios)."""
        v = self.show(0.0)
        return v if math.isfinite(v) else None


def format_effect(est: float, lb: float, ub: float, log_scale: bool) -> str:
    """``"-0.90 [-1.80, 0.00]"``: estimate and CI, exponentiated for ratio measures."""
    return Scale("log" if log_scale else "linear").effect(est, lb, ub)


def _fmt_num(x: float | None) -> str:
    """An arm mean or SD as entered (up to four significant digits, no exponent)."""
    if x is None:
        return ""
    if float(x).is_integer() and abs(x) < 1e6:
        return f"{int(x)}"
    if abs(x) >= 1000:
        return f"{x:.0f}"
    return f"{x:.4g}"


def _fmt_int(x: float | None) -> str:
    """A count; a non-integer count (e.g. a shared group split between comparisons) is shown as
    entered, never rounded."""
    if x is None:
        return ""
    return f"{int(round(x))}" if float(x).is_integer() else _fmt_num(x)


def _fmt_tau2(t: float) -> str:
    """Tau² with two decimals as RevMan; two significant digits from 0.0001 to 0.01."""
    if 0.0001 <= t < 0.01:
        return f"{t:.2g}"
    return _fixed2(t)


def _df_text(df: float) -> str:
    return f"{int(df)}" if float(df).is_integer() else f"{df:.2f}"


def measure_name(measure: str | None, scale: Scale) -> str:
    """The header of the effect column: RevMan's name of a measure code ("Risk Ratio"), the
    text itself for anything else, ``log[...]`` for a ratio measure shown on the log scale."""
    text = "" if measure is None else str(measure).strip()
    name = MEASURE_NAMES.get(text.upper(), text) or "Estimate"
    if text.upper() in RATIO_MEASURES and scale.kind == "linear":
        return f"log[{name}]"
    return name


# --------------------------------------------------------------------------------------------
# favours labels and axis
# --------------------------------------------------------------------------------------------
def favours_labels(analysis: dict) -> tuple[str, str]:
    """The ``(left, right)`` labels under the axis: "Favours [intervention]" / "Favours
    [control]".

    Effects are intervention minus control (or intervention over control), so values left of
    the null line mean a lower value (fewer events) with the intervention. That favours the
    intervention when lower is better (pain, fractures) and the control when higher is better
    (function, responders). Cochrane Handbook v6.4 section 10.2.1 (the "favours" labels must
    match the direction of the outcome).
    """
    aid = analysis.get("id", "?")
    comp = analysis.get("comparison") or {}
    outcome = analysis.get("outcome") or {}
    inter = str(comp.get("intervention") or "intervention")
    ctrl = str(comp.get("control") or "control")
    direction = outcome.get("direction")
    if direction == "lower_is_better":
        return f"Favours {inter}", f"Favours {ctrl}"
    if direction == "higher_is_better":
        return f"Favours {ctrl}", f"Favours {inter}"
    raise InputError(f"analysis {aid!r}: field 'outcome.direction' is {direction!r}; expected "
                     "'lower_is_better' or 'higher_is_better'")


#: symmetric log-axis scales as in RevMan: upper limit -> tick values (ratio scale)
_LOG_SCALES = (
    (2.0, (0.5, 0.7, 1, 1.5, 2)),
    (5.0, (0.2, 0.5, 1, 2, 5)),
    (10.0, (0.1, 0.2, 0.5, 1, 2, 5, 10)),
    (20.0, (0.05, 0.2, 1, 5, 20)),
    (50.0, (0.02, 0.1, 1, 10, 50)),
    (100.0, (0.01, 0.1, 1, 10, 100)),
    (1000.0, (0.001, 0.1, 1, 10, 1000)),
)


def axis_ticks(extent: float, log_scale: bool) -> tuple[float, list[float]]:
    """Symmetric axis limit and ticks on the analysis scale covering ``extent`` (the largest
    absolute value to show, on the analysis scale: log units for ratio measures).

    Ratio measures: limits 2, 5, 10, ... 1000 with RevMan's tick sets, then powers of ten
    (ticks 10^-d, 10^-d/2, 1, 10^d/2, 10^d); returned as logs. Difference measures: a 1-2-5
    limit L with ticks -L, -L/2, 0, L/2, L.
    """
    extent = abs(extent) if math.isfinite(extent) else 0.0
    if log_scale:
        for lim, ticks in _LOG_SCALES:
            if math.log(lim) >= extent * (1 - 1e-12):
                return math.log(lim), [math.log(t) for t in ticks]
        dec = min(300, math.ceil(extent * (1 - 1e-12) / math.log(10)))
        ks = [-dec, -(dec // 2), 0, dec // 2, dec]
        return dec * math.log(10), [k * math.log(10) for k in ks]
    if extent <= 0:
        lim = 1.0
    else:
        e = math.floor(math.log10(extent))
        lim = math.inf
        for k in (e - 1, e, e + 1):
            for m in (1.0, 2.0, 5.0):
                c = m * 10.0 ** k
                if c >= extent * (1 - 1e-12) and c < lim:
                    lim = c
    return lim, [-lim, -lim / 2, 0.0, lim / 2, lim]


def _tick_label(t: float, log_scale: bool) -> str:
    v = math.exp(t) if log_scale else t
    if log_scale and abs(t) > math.log(1000) + 1e-9:   # beyond 1000: powers of ten
        return f"1e{round(t / math.log(10)):d}"
    s = f"{round(v, 10):g}"
    return "0" if s == "-0" else s


def _value_label(v: float) -> str:
    """A tick label on the displayed scale."""
    s = f"{round(v, 10):g}"
    return "0" if s == "-0" else s


def _ticks_between(lo: float, hi: float, log: bool) -> list[float]:
    """Ticks for user-given axis limits (displayed scale): the limits themselves and round
    values between them (1-2-5 on a log axis; matplotlib's 1-2-2.5-5 steps on a linear one)."""
    if log:
        span = math.log(hi) - math.log(lo)
        cands = [m * 10.0 ** e for e in range(math.floor(math.log10(lo)) - 1,
                                              math.ceil(math.log10(hi)) + 2) for m in (1, 2, 5)]
        inner = [c for c in cands if lo < c < hi
                 and min(math.log(c) - math.log(lo), math.log(hi) - math.log(c)) > 0.08 * span]
        if len(inner) > 5:
            inner = [c for c in inner if math.isclose(math.log10(c), round(math.log10(c)),
                                                      abs_tol=1e-9)] or inner[::2]
        return [lo, *inner, hi]
    span = hi - lo
    inner = [float(t) for t in MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
             if lo < t < hi and min(t - lo, hi - t) > 0.08 * span]
    return [lo, *inner, hi]


# --------------------------------------------------------------------------------------------
# input checking (analysis dicts)
# --------------------------------------------------------------------------------------------
def _num(d: dict | None, key: str, where: str, required: bool = True,
         minimum: float | None = None) -> float | None:
    """``d[key]`` as a finite float (None allowed when not required), else an InputError."""
    return finite_number(None if d is None else d.get(key), where, key, required=required,
                         minimum=minimum)


def _req(d: dict | None, key: str, where: str, minimum: float | None = None) -> float:
    """``d[key]`` as a finite float; an InputError when it is missing or not finite."""
    out = finite_number(None if d is None else d.get(key), where, key, required=True,
                        minimum=minimum)
    assert out is not None
    return out


# --------------------------------------------------------------------------------------------
# text measurement (the Agg font machinery, no rendering)
# --------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _fallbacks() -> tuple[str, ...]:
    from matplotlib.font_manager import fontManager

    installed = {f.name for f in fontManager.ttflist}
    return tuple(f for f in FALLBACK_FONTS if f in installed)


@lru_cache(maxsize=4)
def _font(bold: bool, fallback: bool) -> Any:
    from matplotlib.font_manager import FontProperties, findfont, get_font

    fams = [FONT, *_fallbacks()] if fallback else [FONT]
    weight = "bold" if bold else "normal"
    return get_font(list(dict.fromkeys(findfont(FontProperties(family=f, weight=weight))
                                       for f in fams)))


# an FT2Font must not be used on both sides of a fork (its font file is read through a file
# offset the processes share): a forked process opens its own, as matplotlib does for its cache
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_font.cache_clear)


@lru_cache(maxsize=1)
def _dejavu_chars() -> frozenset[int]:
    return frozenset(_font(False, False).get_charmap())


def font_families(s: str) -> list[str]:
    """``["DejaVu Sans", "sans-serif"]``, with the installed fallback fonts before the generic
    family when ``s`` has characters DejaVu Sans lacks (matplotlib's glyph fallback is several
    times slower, so only then). The SVG names the same list, so a browser without DejaVu Sans
    uses its sans-serif font."""
    if all(ord(ch) in _dejavu_chars() for ch in s):
        return [FONT, "sans-serif"]
    return [FONT, *_fallbacks(), "sans-serif"]


class _QuietFontLog(logging.Filter):
    """Drops matplotlib's "Failed to find font weight bold for <fallback font>" notices."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Failed to find font weight" not in record.getMessage()


logging.getLogger("matplotlib.font_manager").addFilter(_QuietFontLog())


@lru_cache(maxsize=8192)
def text_width(s: str, size: float = SIZE, bold: bool = False) -> float:
    """Width of one line of text in inches (DejaVu Sans at ``size`` points)."""
    font = _font(bold, len(font_families(s)) > 1)
    font.set_size(size, 72)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Glyph .* missing from font", UserWarning)
        font.set_text(s, 0.0)
    return font.get_width_height()[0] / 64.0 / 72.0


def _truncate(s: str, width: float, size: float = SIZE, bold: bool = False) -> str:
    """``s`` cut with an ellipsis to fit ``width`` inches (controls measured as they are shown,
    :func:`evsynth.textsafe.document_text`)."""
    s = document_text(" ".join(s.split()))
    if text_width(s, size, bold) <= width:
        return s
    lo, hi = 0, len(s)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if text_width(s[:mid].rstrip() + "…", size, bold) <= width:
            lo = mid
        else:
            hi = mid - 1
    return s[:lo].rstrip() + "…"


def _wrap(s: str, width: float, size: float = SMALL, bold: bool = False) -> list[str]:
    """Greedy word wrap of ``s`` to ``width`` inches (over-long words truncated)."""
    lines: list[str] = []
    cur = ""
    for word in document_text(s).split():
        trial = f"{cur} {word}" if cur else word
        if text_width(trial, size, bold) <= width:
            cur = trial
            continue
        if cur:
            lines.append(cur)
        cur = _truncate(word, width, size, bold)
    if cur:
        lines.append(cur)
    return lines or [""]


# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# the row model: what both entries build and the drawing routine draws
# --------------------------------------------------------------------------------------------
@dataclass
class Column:
    """A data column of the table (arm data, extra columns), between the study labels and the
    weights. ``group`` joins consecutive columns under one header (an arm's name); ``total``
    says what the total rows show: ``"sum"`` (the column's sum on the Total/Subtotal row, as
    RevMan's arm totals) or ``"events"`` (the sum on a "Total events" row)."""

    key: str
    header: str
    group: str | None = None
    align: str = "right"
    total: str | None = None
    width: float = 0.0
    x: float = 0.0


@dataclass
class ForestStudy:
    """One study row. ``yi``/``lb``/``ub`` are on the analysis scale (None: not estimable);
    ``weight`` in percent (None: not in the pooled estimate); ``cells`` the texts of the data
    columns and ``counts`` their numbers for the total rows; ``group`` the index of its subgroup
    in :attr:`ForestData.groups`; ``fitted`` the fitted value and its CI of a meta-regression
    (drawn as a grey polygon, as metafor's ``forest.rma``)."""

    label: str
    yi: float | None
    lb: float | None
    ub: float | None
    weight: float | None
    cells: dict[str, str] = field(default_factory=dict)
    counts: dict[str, float | None] = field(default_factory=dict)
    group: int | None = None
    fitted: tuple[float, float, float] | None = None
    rob: list[tuple[str | None, str, str]] | None = None


@dataclass
class ForestRob:
    """Risk-of-bias columns beside the plot (RevMan): the column letters (the domains, then
    the overall judgement), the tool's name and the legend lines; each study's circles are in
    :attr:`ForestStudy.rob` as ``(judgement or None, symbol, colour)`` per letter."""

    tool: str
    letters: list[str]
    legend: list[str]


@dataclass
class ForestPooled:
    """A pooled result (total or subtotal): estimate and CI (analysis scale), the number of
    studies in its heterogeneity statistics ``k``, the test statistic (z, or t with ``df``) and
    its P value, and tau², I², Q with its df and P; ``pi`` the prediction interval."""

    est: float
    lb: float
    ub: float
    k: int
    stat: float | None = None
    pval: float | None = None
    df: float | None = None
    tau2: float | None = None
    i2: float | None = None
    qe: float | None = None
    qe_df: float | None = None
    qep: float | None = None
    pi: tuple[float, float] | None = None


@dataclass
class ForestGroup:
    """A subgroup: its heading, its pooled result (None: "Not estimable") and whether it gets
    subtotal rows (False for the "Not in a subgroup" block)."""

    label: str
    pooled: ForestPooled | None = None
    subtotal: bool = True


@dataclass
class ForestData:
    """Everything a forest plot shows; built by :func:`analysis_data` (pipeline analyses) and by
    the model converters of :mod:`evsynth.models.diagnostics.forest`, drawn by
    :func:`draw_forest`.

    ``method`` is RevMan's method and model ("IV, Random", "M-H, Fixed"), ``level`` the
    confidence level in percent; ``fixed`` leaves Tau² out of the heterogeneity lines and
    ``tstat`` names the statistic T (t tests) instead of Z. ``show_total`` False (a
    meta-regression) draws no total rows: ``extra_lines`` then say what the model tested.
    ``group_headers`` maps a column group to its header (an arm's name). ``xlim`` are the axis
    limits on the displayed scale (None: RevMan's symmetric axis)."""

    title: str
    measure: str
    method: str
    level: float
    scale: Scale
    studies: list[ForestStudy]
    columns: list[Column] = field(default_factory=list)
    group_headers: dict[str, str] = field(default_factory=dict)
    groups: list[ForestGroup] | None = None
    pooled: ForestPooled | None = None
    fixed: bool = False
    tstat: bool = False
    show_total: bool = True
    extra_lines: list[str] = field(default_factory=list)
    favours: tuple[str, str] | None = None
    colour: str = SQUARE_CONTINUOUS
    notes: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    xlim: tuple[float, float] | None = None
    rob: ForestRob | None = None

    @property
    def model_label(self) -> str:
        """``"IV, Random, 95% CI"``: the header of the effect column and of the plot."""
        return f"{self.method}, {self.level:g}% CI"


def heterogeneity_line(p: ForestPooled | None, fixed: bool,
                       prefix: str = "Heterogeneity") -> str:
    """RevMan's heterogeneity line (Handbook v6.4 section 10.10.2)."""
    if p is None or p.k < 2 or p.qe is None:
        return f"{prefix}: Not applicable"
    parts = []
    if not fixed and p.tau2 is not None:
        parts.append(f"Tau² = {_fmt_tau2(p.tau2)}")
    df = p.qe_df if p.qe_df is not None else p.k - 1
    parts.append(f"Chi² = {_fixed2(p.qe)}, df = {_df_text(df)} ({format_p(p.qep)})")
    if p.i2 is not None:
        parts.append(f"I² = {p.i2:.0f}%")
    return f"{prefix}: " + "; ".join(parts)


def overall_test_line(p: ForestPooled | None, tstat: bool) -> str:
    """RevMan's "Test for overall effect: Z = 1.96 (P = 0.05)" (T and df under t/Knapp-Hartung
    tests, metafor's ``test="t"``/``"knha"``)."""
    if p is None:
        return "Test for overall effect: Not applicable"
    if p.stat is None:
        return f"Test for overall effect: {format_p(p.pval)}"
    name = "T" if tstat else "Z"
    df = f", df = {_df_text(p.df)}" if tstat and p.df is not None else ""
    return f"Test for overall effect: {name} = {_fixed2(abs(p.stat))}{df} ({format_p(p.pval)})"


def subgroup_test_line(q: float, df: float, p: float | None, i2: float | None,
                       label: str = "Test for subgroup differences") -> str:
    """"Test for subgroup differences: Chi² = ..., df = ... (P = ...), I² = ...%" (Handbook
    section 10.11.3.1); I² from :func:`evsynth.models.engine.i2_from_q` when not given."""
    if i2 is None:
        i2 = i2_from_q(q, df)
    return f"{label}: Chi² = {_fixed2(q)}, df = {_df_text(df)} ({format_p(p)}), I² = {i2:.1f}%"


# --------------------------------------------------------------------------------------------
# analysis dicts (the review pipeline's results.json analyses) -> ForestData
# --------------------------------------------------------------------------------------------
#: fields an analysis dict needs for its forest plot (docs/results-schema.md)
_REQUIRED = ("comparison", "outcome", "measure", "log_scale", "model", "studies", "pooled")


@dataclass
class _Study:
    label: str
    yi: float
    lb: float
    ub: float
    weight: float
    contrast: bool
    sei: float | None
    subgroup: str | None
    arms: dict[str, dict[str, float | None]]   # "i"/"c" -> {"n", "mean", "sd", "events", ...}
    baseline_followup: bool = False


def _arm(study: dict, side: str, where: str) -> dict[str, float | None]:
    key = "intervention" if side == "i" else "control"
    arm = study.get(key)
    if arm is not None and not isinstance(arm, dict):
        raise InputError(f"{where}: field {key!r} is {arm!r}; expected a dict of arm data or None")
    w = f"{where}, {key} arm"
    out: dict[str, float | None] = {
        "n": _num(arm, "n", w, False, 0) if arm else None,
        "mean": _num(arm, "mean", w, False) if arm else None,
        "sd": _num(arm, "sd", w, False, 0) if arm else None,
        "events": _num(arm, "events", w, False, 0) if arm else None,
        "change_mean": _num(arm, "change_mean", w, False) if arm else None,
        "change_sd": _num(arm, "change_sd", w, False, 0) if arm else None,
    }
    if arm and out["n"] is None:
        out["n"] = _num(arm, "total", w, False, 0)
    if arm and out["n"] is None:   # rate data: events per person-time (shown as "Person-time")
        out["n"] = _num(arm, "person_time", w, False, 0)
    if out["n"] is None:   # contrast rows: n per arm beside the estimate, when reported
        contrast = study.get("contrast")
        src = contrast if isinstance(contrast, dict) and contrast.get(f"n_{key}") is not None \
            else study
        out["n"] = _num(src, f"n_{key}", where, False, 0)
    return out


def _studies(analysis: dict, aid: str) -> list[_Study]:
    rows = analysis.get("studies")
    if not isinstance(rows, list):
        raise InputError(f"analysis {aid!r}: field 'studies' is {type(rows).__name__}; "
                         "expected a list of study dicts")
    out = []
    for i, s in enumerate(rows):
        if not isinstance(s, dict):
            raise InputError(f"analysis {aid!r}: studies[{i}] is {s!r}; expected a dict")
        name = s.get("label") or s.get("study_id") or f"row {i + 1}"
        where = f"analysis {aid!r}, study {name!r}"
        yi = _req(s, "yi", where)
        sei = _num(s, "sei", where, False, 0)
        if sei is None:
            vi = _num(s, "vi", where, False, 0)
            sei = math.sqrt(vi) if vi is not None else None
        lb, ub = _req(s, "ci_lb", where), _req(s, "ci_ub", where)
        if not lb <= yi <= ub:
            raise InputError(f"{where}: yi = {yi!r} is not inside [ci_lb, ci_ub] = "
                             f"[{lb!r}, {ub!r}]; expected ci_lb <= yi <= ci_ub")
        weight = _num(s, "weight", where, False, 0)
        contrast = s.get("data_level") == "contrast"
        out.append(_Study(label=str(name), yi=yi, lb=lb, ub=ub,
                          weight=0.0 if weight is None else weight, contrast=contrast, sei=sei,
                          baseline_followup=s.get("value_type") == "baseline_followup",
                          subgroup=None if s.get("subgroup") is None else str(s["subgroup"]),
                          arms={"i": _arm(s, "i", where), "c": _arm(s, "c", where)}))
    return out


def _pooled(d: dict, where: str, k: int) -> ForestPooled:
    pi_lb, pi_ub = _num(d, "pi_lb", where, False), _num(d, "pi_ub", where, False)
    pi = (pi_lb, pi_ub) if pi_lb is not None and pi_ub is not None else None
    return ForestPooled(est=_req(d, "estimate", where), lb=_req(d, "ci_lb", where),
                        ub=_req(d, "ci_ub", where), k=k, stat=_num(d, "zval", where, False),
                        pval=_num(d, "pval", where, False, 0), df=_num(d, "df", where, False),
                        tau2=_num(d, "tau2", where, False, 0), i2=_num(d, "I2", where, False),
                        qe=_num(d, "QE", where, False, 0),
                        qe_df=_num(d, "QE_df", where, False, 0),
                        qep=_num(d, "QEp", where, False, 0), pi=pi)


def _model_label(analysis: dict) -> tuple[str, float, bool, bool]:
    """("IV, Random", level in percent, fixed?, t-test?) from the analysis' model settings."""
    from evsynth.models.kernels import FIXED_METHODS

    aid = analysis.get("id", "?")
    model = analysis.get("model")
    if not isinstance(model, dict):
        raise InputError(f"analysis {aid!r}: field 'model' is {model!r}; expected a dict with "
                         "'method', 'test' and 'level'")
    if not isinstance(model.get("method"), str) or not model["method"].strip():
        raise InputError(f"analysis {aid!r}, model: field 'method' is {model.get('method')!r}; "
                         "expected the estimator code (e.g. 'REML', 'DL', 'FE')")
    method = model["method"].strip().upper()
    level = _req(model, "level", f"analysis {aid!r}, model", 0)
    level = level * 100 if level < 1 else level
    if not 0 < level < 100:
        raise InputError(f"analysis {aid!r}, model: field 'level' is "
                         f"{model.get('level')!r}; expected a confidence level in (0, 100)")
    fixed = method in FIXED_METHODS or method in ("MH", "PETO")
    kind = {"MH": "M-H", "PETO": "Peto"}.get(method, "IV")
    test = str(model.get("test") or "z").lower()
    label = f"{kind}, {'Fixed' if fixed else 'Random'}"
    if isinstance(model.get("label"), str) and model["label"].strip():
        # the review pipeline's pooling label (e.g. "M-H, Random": DL tau^2 from the M-H Q)
        label = model["label"].strip()
        fixed = label.endswith("Fixed")
    return (label, level, fixed, test in ("t", "knha", "adhoc"))


def _check_contract(analysis: Any) -> str:
    """The analysis id; an InputError naming what is missing when ``analysis`` is not an
    analysis dict that can be drawn (e.g. a fit's ``to_dict()``, an empty dict)."""
    if not isinstance(analysis, dict):
        hint = (": a fitted model is drawn with evsynth.forest(fit)"
                if hasattr(analysis, "plot_forest") else "")
        raise InputError(f"forest_plot: analysis is {type(analysis).__name__}; expected a dict "
                         f"(an analysis of results.json){hint}")
    aid = str(analysis.get("id", "?"))
    missing = [k for k in _REQUIRED if k not in analysis]
    if missing:
        hint = ""
        if {"beta", "yi", "vi"} & set(analysis):
            hint = ("; this looks like a fitted model's to_dict(): draw the fit itself with "
                    "evsynth.forest(fit) (or fit.plot_forest())")
        raise InputError(f"forest_plot: analysis {aid!r} has no field(s) "
                         f"{', '.join(repr(k) for k in missing)}; expected a results.json "
                         f"analysis (docs/results-schema.md){hint}")
    comp = analysis["comparison"]
    if not isinstance(comp, dict):
        raise InputError(f"analysis {aid!r}: field 'comparison' is {comp!r}; expected a dict "
                         "with 'intervention' and 'control'")
    for arm in ("intervention", "control"):
        if not isinstance(comp.get(arm), str) or not comp[arm].strip():
            raise InputError(f"analysis {aid!r}: field 'comparison.{arm}' is "
                             f"{comp.get(arm)!r}; expected the name of the {arm} arm")
    if not isinstance(analysis["outcome"], dict):
        raise InputError(f"analysis {aid!r}: field 'outcome' is {analysis['outcome']!r}; "
                         "expected a dict")
    if not isinstance(analysis["measure"], str) or not analysis["measure"].strip():
        raise InputError(f"analysis {aid!r}: field 'measure' is {analysis['measure']!r}; "
                         "expected the effect measure code (e.g. 'MD', 'OR')")
    if not isinstance(analysis["log_scale"], bool):
        raise InputError(f"analysis {aid!r}: field 'log_scale' is {analysis['log_scale']!r}; "
                         "expected true or false")
    pooled = analysis["pooled"]
    if pooled is not None and not isinstance(pooled, dict):
        raise InputError(f"analysis {aid!r}: field 'pooled' is {pooled!r}; expected a dict or "
                         "None")
    return aid


def _title(analysis: dict) -> str:
    comp, outcome = analysis["comparison"], analysis["outcome"]
    window = analysis.get("window") or {}
    parts = [comp.get("label") or f"{comp['intervention']} vs {comp['control']}",
             outcome.get("label") or outcome.get("id")]
    if isinstance(window, dict) and window.get("label"):
        parts.append(window["label"])
    return " · ".join(str(t) for t in parts if t)


def _excluded_lines(analysis: dict, aid: str) -> list[str]:
    rows = analysis.get("excluded") or []
    if not isinstance(rows, list):
        raise InputError(f"analysis {aid!r}: field 'excluded' is {type(rows).__name__}; "
                         "expected a list")
    out = []
    for i, e in enumerate(rows):
        if not isinstance(e, dict):
            raise InputError(f"analysis {aid!r}: excluded[{i}] is {e!r}; expected a dict")
        name = e.get("label") or e.get("study_id") or f"row {i + 1}"
        tp = e.get("timepoint_weeks")
        when = ""
        if isinstance(tp, (int, float)) and not isinstance(tp, bool) and math.isfinite(tp):
            when = f" ({tp:g} weeks)"
        out.append(f"{name}{when}: {e.get('reason') or 'no reason given'}")
    return out


def analysis_data(analysis: dict) -> ForestData | None:
    """The row model of one analysis dict (None when no study could be pooled: k = 0 with the
    excluded studies listed). Raises InputError naming the analysis, study and field when a
    field needed for the plot is missing or not finite."""
    aid = _check_contract(analysis)
    excluded = _excluded_lines(analysis, aid)
    studies = _studies(analysis, aid)
    if not studies:
        if not excluded:
            raise InputError(f"forest_plot: analysis {aid!r} has no studies and no excluded "
                             "studies; expected at least one study (field 'studies') or the "
                             "reasons studies were left out (field 'excluded')")
        return None
    log = analysis["log_scale"]
    outcome = analysis["outcome"]
    comp = analysis["comparison"]
    binary = outcome.get("kind") == "binary" or any(
        s.arms["i"]["events"] is not None for s in studies)
    measure = analysis["measure"].strip()
    change = measure.upper().endswith("_CHANGE")
    method, level, fixed, tstat = _model_label(analysis)
    scale = Scale("log" if log else "linear")
    name = MEASURE_NAMES.get(measure.upper(), measure)
    if method.startswith("Peto") and measure.upper() == "OR":
        name = MEASURE_NAMES["PETO"]   # RevMan: "Peto Odds Ratio"
    columns = _analysis_columns(studies, binary, change, name, log)
    if outcome.get("kind") == "rate":   # events / person-time per arm (review pipeline)
        columns = [Column(c.key, "Person-time", group=c.group, total=c.total)
                   if c.key in ("i_n", "c_n") and c.header == "Total" else c for c in columns]
    notes: list[str] = []
    fstudies = [_analysis_study(s, change, notes) for s in studies]
    pd_ = analysis["pooled"]
    pooled = None if pd_ is None else _pooled(pd_, f"analysis {aid!r}, pooled", len(studies))
    data = ForestData(
        title=_title(analysis), measure=name, method=method, level=level, scale=scale,
        studies=fstudies, columns=columns,
        group_headers={"i": str(comp["intervention"]), "c": str(comp["control"])},
        pooled=pooled, fixed=fixed, tstat=tstat, favours=favours_labels(analysis),
        colour=SQUARE_BINARY if binary else SQUARE_CONTINUOUS, excluded=excluded)
    if notes:
        data.notes.append(_change_note(analysis, notes))
    for m in analysis.get("multiarm") or []:   # multi-arm trials (Cochrane Handbook 23.3.4)
        if isinstance(m, dict) and isinstance(m.get("text"), str):
            data.notes.append(f"Multi-arm trial: {m['text']}.")
    _analysis_rob(analysis, aid, data)
    _analysis_subgroups(analysis, aid, studies, data)
    if analysis.get("variance_components") and not data.groups:
        _group_by_study(analysis, data)   # several effects per study (review dependence)
    return data


def _group_by_study(analysis: dict, data: ForestData) -> None:
    """Rows of the same study under the study's label (a study with several effects: time
    points, arm pairs), and the variance components of the multilevel model under the
    plot (evsynth.review.dependence)."""
    groups: list[ForestGroup] = []
    index: dict[str, int] = {}
    for fs, s in zip(data.studies, analysis["studies"], strict=True):
        sid = str(s.get("study_id"))
        if sid not in index:
            index[sid] = len(groups)
            groups.append(ForestGroup(label=str(s.get("study_label") or sid), subtotal=False))
        fs.group = index[sid]
        fs.counts = {}   # groups in several effects: no column totals (counted in the report)
        if s.get("effect"):
            fs.label = f"  {s['effect']}"
    data.groups = groups
    vc = analysis["variance_components"]
    if isinstance(vc.get("text"), str):
        data.extra_lines.append(f"Variance components: {vc['text']}")


def _analysis_rob(analysis: dict, aid: str, data: ForestData) -> None:
    """The risk-of-bias columns of the analysis (``risk_of_bias_columns``, from
    :meth:`evsynth.reports.rob.RiskOfBias.forest_columns`), one row per study in order."""
    cols = analysis.get("risk_of_bias_columns")
    if not cols:
        return
    rows = cols.get("rows") if isinstance(cols, dict) else None
    if not isinstance(rows, list) or len(rows) != len(data.studies):
        raise InputError(f"analysis {aid!r}: field 'risk_of_bias_columns.rows' has "
                         f"{len(rows) if isinstance(rows, list) else rows!r} rows for "
                         f"{len(data.studies)} studies; expected one per study")
    letters = [str(x) for x in cols.get("letters") or []]
    for s, row in zip(data.studies, rows, strict=True):
        if not isinstance(row, list) or len(row) != len(letters):
            raise InputError(f"analysis {aid!r}, study {s.label!r}: field "
                             "'risk_of_bias_columns.rows' has the wrong number of columns; "
                             f"expected {len(letters)}")
        s.rob = [(c.get("judgement"), str(c.get("symbol") or ""), str(c.get("colour")))
                 for c in row]
    data.rob = ForestRob(tool=str(cols.get("tool") or ""), letters=letters,
                         legend=[str(x) for x in cols.get("legend") or []])


def _analysis_columns(studies: list[_Study], binary: bool, change: bool, name: str,
                      log: bool) -> list[Column]:
    any_arm = any(not s.contrast for s in studies)
    any_contrast = any(s.contrast for s in studies)
    arm_keys = (("events", "Events"), ("n", "Total")) if binary else (
        ("mean", "Mean change" if change else "Mean"), ("sd", "SD"), ("n", "Total"))
    totals = {"n": "sum", "events": "events"}
    giv = [Column("giv_est", f"log[{name}]" if log else name), Column("giv_se", "SE")]
    cols: list[Column] = []
    if any_arm:
        for side in ("i", "c"):
            cols += [Column(f"{side}_{k}", h, group=side, total=totals.get(k))
                     for k, h in arm_keys]
        if any_contrast:
            cols += giv
    else:
        cols += giv + [Column("i_n", "Total", group="i", total="sum"),
                       Column("c_n", "Total", group="c", total="sum")]
    return cols


def _analysis_study(s: _Study, change: bool, notes: list[str]) -> ForestStudy:
    cells: dict[str, str] = {}
    counts: dict[str, float | None] = {}
    for side in ("i", "c"):
        arm = s.arms[side]
        cells[f"{side}_n"] = _fmt_int(arm["n"])
        counts[f"{side}_n"] = arm["n"]
        counts[f"{side}_events"] = arm["events"]
        if not s.contrast:
            mean, sd = arm["mean"], arm["sd"]
            if change and s.baseline_followup:   # the arm's change, when given
                mean, sd = arm["change_mean"], arm["change_sd"]
            cells[f"{side}_mean"] = _fmt_num(mean)
            cells[f"{side}_sd"] = _fmt_num(sd)
            cells[f"{side}_events"] = _fmt_int(arm["events"])
    if change and s.baseline_followup and not s.contrast and any(
            s.arms[side]["change_mean"] is None for side in ("i", "c")):
        notes.append(s.label)
    if s.contrast:
        cells["giv_est"] = f"{s.yi:.4f}"
        cells["giv_se"] = "" if s.sei is None else f"{s.sei:.4f}"
    return ForestStudy(label=s.label, yi=s.yi, lb=s.lb, ub=s.ub, weight=s.weight, cells=cells,
                       counts=counts)


def _change_note(analysis: dict, names: list[str]) -> str:
    """Why the mean and SD of change are blank for studies reporting baseline and follow-up
    values (their change SD is imputed by the pipeline, Cochrane Handbook v6.4 section
    6.5.2.8)."""
    r = (analysis.get("model") or {}).get("change_score_correlation")
    imputed = f" with correlation {r:g}" if isinstance(r, (int, float)) else ""
    return (f"Note: {', '.join(names)}: the change from baseline was computed from baseline and "
            f"follow-up values (SD of change imputed{imputed}); the arms' change mean and SD are "
            "not shown.")


def _analysis_subgroups(analysis: dict, aid: str, studies: list[_Study],
                        data: ForestData) -> None:
    where = f"analysis {aid!r}, subgroups"
    sg = analysis.get("subgroups")
    if not sg:
        return
    if not isinstance(sg, dict):
        raise InputError(f"{where}: expected a dict or None, got {sg!r}")
    levels = sg.get("levels") or []
    if not isinstance(levels, list):
        raise InputError(f"{where}: field 'levels' is {levels!r}; expected a list")
    groups: list[ForestGroup] = []
    labels: list[str] = []
    for j, lv in enumerate(levels):
        if not isinstance(lv, dict):
            raise InputError(f"{where}.levels[{j}] is {lv!r}; expected a dict")
        label = str(lv.get("label"))
        members = [s for s in studies if s.subgroup == label]
        lp = None
        if lv.get("estimate") is not None:
            lp = _pooled(lv, f"{where}, level {label!r}", len(members))
        labels.append(label)
        groups.append(ForestGroup(label=label, pooled=lp))
    rest = len(groups)
    for fs, s in zip(data.studies, studies, strict=True):
        fs.group = labels.index(s.subgroup) if s.subgroup in labels else rest
    if any(fs.group == rest for fs in data.studies):
        groups.append(ForestGroup(label="Not in a subgroup", subtotal=False))
    data.groups = groups
    q = _num(sg, "Q_between", where, False, 0)
    df = _num(sg, "Q_between_df", where, False, 0)
    if q is not None and df is not None:
        data.extra_lines.append(subgroup_test_line(q, df, _num(sg, "Q_between_p", where, False, 0),
                                                   _num(sg, "I2_between", where, False)))


# --------------------------------------------------------------------------------------------
# the drawing routine
# --------------------------------------------------------------------------------------------
@dataclass
class _Row:
    cells: dict[str, str] = field(default_factory=dict)
    bold: bool = False
    span: str | None = None          # a text running across the table from the study column
    square: tuple[float, float, float, float] | None = None   # yi, lb, ub, weight
    diamond: tuple[float, float, float] | None = None         # est, lb, ub
    fitted: tuple[float, float, float] | None = None          # meta-regression fitted value
    pi: tuple[float, float] | None = None
    italic: bool = False
    rob: list[tuple[str | None, str, str]] | None = None


def _rows(d: ForestData) -> tuple[list[_Row], list[str]]:
    """The table rows and the lines under it (heterogeneity, overall effect, subgroup
    differences or what a meta-regression tested)."""
    rows: list[_Row] = []
    level = f"{d.level:g}% CI"
    if d.groups:
        for j, g in enumerate(d.groups):
            members = [s for s in d.studies if s.group == j]
            if not members:
                continue
            rows.append(_Row(span=_truncate(g.label, 4.0, SIZE, True), bold=True))
            rows += [_study_row(d, s) for s in members]
            if g.subtotal:
                _total_rows(d, rows, f"Subtotal ({level})", members, g.pooled,
                            heterogeneity_line(g.pooled, d.fixed),
                            overall_test_line(g.pooled, d.tstat))
            rows.append(_Row())
    else:
        rows += [_study_row(d, s) for s in d.studies]
    bottom: list[str] = []
    if d.show_total:
        _total_rows(d, rows, f"Total ({level})", d.studies, d.pooled, "", "")
        p = d.pooled
        if p is not None and p.pi is not None:
            lo, hi = d.scale.interval(*p.pi)
            rows.append(_Row(cells={"study": "Prediction interval",
                                    "effect": f"[{_fixed2(lo)}, {_fixed2(hi)}]"},
                             pi=p.pi, italic=True))
        bottom = [heterogeneity_line(p, d.fixed), overall_test_line(p, d.tstat)]
    return rows, bottom + d.extra_lines


def _study_row(d: ForestData, s: ForestStudy) -> _Row:
    cells = {"study": _truncate(s.label, MAX_LABEL_W), **s.cells}
    cells["weight"] = "" if s.weight is None else f"{s.weight:.1f}%"
    if s.yi is None or s.lb is None or s.ub is None:
        cells["effect"] = "Not estimable"
        return _Row(cells=cells, fitted=s.fitted, rob=s.rob)
    cells["effect"] = d.scale.effect(s.yi, s.lb, s.ub)
    return _Row(cells=cells, square=(s.yi, s.lb, s.ub, s.weight or 0.0), fitted=s.fitted,
                rob=s.rob)


def _total_rows(d: ForestData, rows: list[_Row], label: str, group: list[ForestStudy],
                p: ForestPooled | None, het: str, test: str) -> None:
    cells = {"study": label}
    events: dict[str, str] = {}
    for c in d.columns:
        if c.total is None:
            continue
        vals = [s.counts.get(c.key) for s in group]
        if not vals or any(v is None for v in vals):
            continue
        total = sum(v for v in vals if v is not None)
        text = _fmt_int(total) if float(total).is_integer() else _fmt_num(total)
        if c.total == "sum":
            cells[c.key] = text
        else:
            events[c.key] = text
    cells["weight"] = ("" if all(s.weight is None for s in group)   # no weights (rma.glmm)
                       else f"{sum(s.weight or 0.0 for s in group):.1f}%")
    if p is not None:
        cells["effect"] = d.scale.effect(p.est, p.lb, p.ub)
        rows.append(_Row(cells=cells, bold=True, diamond=(p.est, p.lb, p.ub)))
    else:
        cells["effect"] = "Not estimable"
        rows.append(_Row(cells=cells, bold=True))
    if events:
        rows.append(_Row(cells={"study": "Total events", **events}))
    if het:
        rows.append(_Row(span=het))
    if test:
        rows.append(_Row(span=test))


def _check_finite_display(d: ForestData) -> None:
    """Every number shown must be finite on the displayed scale (a transform can make an
    infinity or a NaN out of a finite value: an InputError naming the study)."""
    if d.scale.kind != "transf":
        return
    pts: list[tuple[str, float]] = []
    for s in d.studies:
        for v in (s.yi, s.lb, s.ub):
            if v is not None:
                pts.append((f"study {s.label!r}", v))
        if s.fitted is not None:
            pts += [(f"fitted value of study {s.label!r}", v) for v in s.fitted]
    pooled = [d.pooled] + [g.pooled for g in d.groups or []]
    for p in pooled:
        if p is not None:
            pts += [("pooled estimate", v) for v in (p.est, p.lb, p.ub, *(p.pi or ()))]
    for where, v in pts:
        shown = d.scale.show(v)
        if not math.isfinite(shown):
            raise InputError(f"forest: transf gives {shown!r} for the value {v!r} of the "
                             f"{where}; expected a function that is finite on every estimate "
                             "and confidence limit")


def draw_forest(d: ForestData) -> Figure:
    """Draw the row model: the one drawing routine of every forest plot."""
    if not d.studies:
        raise InputError("forest: no studies to draw; expected at least one study row")
    _check_finite_display(d)
    return _Layout(d).figure()


class _Layout:
    """Lays out the table (columns measured from their texts) and draws it with the panel."""

    def __init__(self, d: ForestData) -> None:
        self.d = d
        self.rows, self.bottom_lines = _rows(d)
        self.columns = ([Column("study", "Study or Subgroup", align="left")]
                        + [Column(c.key, c.header, c.group, c.align, c.total) for c in d.columns]
                        + [Column("weight", "Weight"),
                           Column("effect", d.model_label, align="left")])
        self.notes = list(d.notes)
        if d.rob is not None:
            self.notes.append(f"Risk of bias ({d.rob.tool}): " + "; ".join(d.rob.legend))

    # ---- geometry -----------------------------------------------------------------------------
    def _measure(self) -> None:
        # a data column empty in every row (e.g. arm totals of contrast rows that report none)
        # is left out
        self.columns = [c for c in self.columns
                        if c.key in ("study", "weight", "effect")
                        or any(r.cells.get(c.key) for r in self.rows)]
        for c in self.columns:
            texts = [r.cells.get(c.key, "") for r in self.rows]
            bold_w = max((text_width(r.cells.get(c.key, ""), SIZE, r.bold) for r in self.rows),
                         default=0.0)
            hw = text_width(c.header, SIZE, True)
            c.width = max(bold_w, hw, 0.28 if any(texts) else 0.0) + PAD * 2
        # arm names over their column groups
        for key in self._groups():
            cols = [c for c in self.columns if c.group == key]
            name = self.d.group_headers.get(key, "")
            need = min(text_width(name, SIZE, True), MAX_GROUP_W) + PAD * 2 if name else 0.0
            have = sum(c.width for c in cols)
            if cols and need > have:
                for c in cols:
                    c.width += (need - have) / len(cols)
        # text running across the table must stop before the plot panel
        spans = [text_width(r.span, SIZE, r.bold) for r in self.rows if r.span]
        spans += [text_width(s, SIZE) for s in self.bottom_lines]
        left = sum(c.width for c in self.columns)
        need = max(spans, default=0.0) + PAD * 2 + 0.25   # room for the first tick label
        if need > left:
            self.columns[0].width += need - left
        x = MARGIN
        for c in self.columns:
            c.x = x
            x += c.width
        self.panel_x = x + PAD
        self.width = self.panel_x + PANEL_W + MARGIN
        if self.d.rob is not None:   # RevMan's risk-of-bias columns right of the plot
            self.rob_x = self.panel_x + PANEL_W + ROB_GAP
            self.width = self.rob_x + (len(self.d.rob.letters) - 1) * ROB_DX + ROB_DX / 2 \
                + MARGIN

    def _groups(self) -> list[str]:
        return list(dict.fromkeys(c.group for c in self.columns if c.group is not None))

    def _axis(self) -> tuple[float, float, list[float], list[str]]:
        """Axis limits, ticks and tick labels on the displayed scale. RevMan's symmetric
        limits by default: every point estimate and pooled CI inside, and the CIs of most
        studies (the rest get arrows)."""
        sc = self.d.scale
        log = sc.kind == "log"
        if self.d.xlim is not None:
            lo, hi = self.d.xlim
            ticks = _ticks_between(lo, hi, log)
            return lo, hi, ticks, [_value_label(t) for t in ticks]
        sq = [r.square for r in self.rows if r.square]
        polys = [r.diamond for r in self.rows if r.diamond]
        polys += [r.fitted for r in self.rows if r.fitted]
        if sc.kind != "transf":
            core = [abs(s[0]) for s in sq]
            ci = sorted(max(abs(s[1]), abs(s[2])) for s in sq)
            for poly in polys:
                core += [abs(poly[1]), abs(poly[2])]
            ci += [max(abs(r.pi[0]), abs(r.pi[1])) for r in self.rows if r.pi]
            q80 = ci[min(len(ci) - 1, int(0.8 * len(ci)))] if ci else 0.0
            lim, ticks = axis_ticks(max(max(core, default=0.0), q80), log)
            return (sc.show(-lim), sc.show(lim), [sc.show(t) for t in ticks],
                    [_tick_label(t, log) for t in ticks])
        # any other transform: round limits around the estimates, pooled CIs, most study CIs
        vals = [sc.show(s[0]) for s in sq]
        for poly in polys:
            vals += list(sc.interval(poly[1], poly[2]))
        ivs = [sc.interval(s[1], s[2]) for s in sq]
        ivs += [sc.interval(*r.pi) for r in self.rows if r.pi]
        if ivs:
            lows, highs = sorted(i[0] for i in ivs), sorted(i[1] for i in ivs)
            vals += [lows[int(0.2 * (len(lows) - 1))], highs[int(0.8 * (len(highs) - 1))]]
        if sc.null is not None:
            vals.append(sc.null)
        lo, hi = min(vals), max(vals)
        if hi - lo <= 1e-12 * max(1.0, abs(hi)):
            lo, hi = lo - 1.0, hi + 1.0
        ticks = [float(t) for t in
                 MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)]
        lo2 = max([t for t in ticks if t <= lo], default=lo)
        hi2 = min([t for t in ticks if t >= hi], default=hi)
        ticks = [t for t in ticks if lo2 <= t <= hi2]
        return lo2, hi2, ticks, [_value_label(t) for t in ticks]

    def figure(self) -> Figure:
        self._measure()
        lo, hi, ticks, tick_labels = self._axis()
        d = self.d
        t_lines = _wrap(d.title, self.width - 2 * MARGIN, SIZE + 1, True) if d.title else []
        # favours labels: right of the null line up to the margin; left of it down to the end
        # of the heterogeneity lines beside the axis
        null_x = self.panel_x + PANEL_W * self._null_fraction(lo, hi)
        used = max((text_width(s) for s in self.bottom_lines), default=0.0) + MARGIN + PAD
        left, right = d.favours or ("", "")
        fav_l = _wrap(left, null_x - 0.06 - max(used + 0.2, self.panel_x - 0.3),
                      SIZE - 0.5) if left else []
        fav_r = _wrap(right, self.width - null_x - 0.06 - MARGIN / 2, SIZE - 0.5) \
            if right else []
        n_fav = max(len(fav_l), len(fav_r))
        wrapped, h_ex = _footnote_height(d.excluded, self.width - 2 * MARGIN - 0.1)
        note_lines: list[str] = []
        for note in self.notes:
            note_lines += _wrap(note, self.width - 2 * MARGIN)
        h_note = len(note_lines) * ROW_H * 0.85 + (ROW_H * 0.4 if note_lines else 0)
        y_head = MARGIN + len(t_lines) * ROW_H + (0.08 if t_lines else 0.0)
        y_body = y_head + 2 * ROW_H + 0.06
        y_end = y_body + len(self.rows) * ROW_H
        band = max(len(self.bottom_lines) * ROW_H, 0.2 + (n_fav + 0.3) * ROW_H) + 0.08
        height = y_end + band + h_note + (h_ex + ROW_H * 1.3 if wrapped else 0) + MARGIN
        fig, ax = _new_figure(self.width, height)
        # title and headers
        for j, line in enumerate(t_lines):
            _text(ax, MARGIN, MARGIN + (j + 0.5) * ROW_H, line, size=SIZE + 1, bold=True)
        self._draw_headers(ax, y_head)
        # rows
        for i, r in enumerate(self.rows):
            yc = y_body + (i + 0.5) * ROW_H
            if r.span:
                _text(ax, MARGIN + PAD, yc, r.span, bold=r.bold)
            for c in self.columns:
                s = r.cells.get(c.key)
                if not s:
                    continue
                x = c.x + PAD if c.align == "left" else c.x + c.width - PAD
                _text(ax, x, yc, s, bold=r.bold, ha=c.align, italic=r.italic)
        for j, line in enumerate(self.bottom_lines):
            _text(ax, MARGIN + PAD, y_end + 0.08 + (j + 0.5) * ROW_H, line)
        self._draw_panel(fig, height, y_body, y_end, lo, hi, ticks, tick_labels)
        if d.rob is not None:
            self._draw_rob(ax, y_head, y_body)
        y0 = y_end + 0.08 + 0.2 + ROW_H * 0.5
        for j, line in enumerate(fav_l):
            _text(ax, null_x - 0.06, y0 + j * ROW_H * 0.9, line, size=SIZE - 0.5, ha="right",
                  gid=f"favours-left-{j}")
        for j, line in enumerate(fav_r):
            _text(ax, null_x + 0.06, y0 + j * ROW_H * 0.9, line, size=SIZE - 0.5, ha="left",
                  gid=f"favours-right-{j}")
        for j, line in enumerate(note_lines):
            _text(ax, MARGIN, y_end + band + ROW_H * 0.4 + j * ROW_H * 0.85, line, size=SMALL,
                  colour=GREY, gid=f"note-{j}")
        if wrapped:
            _draw_footnotes(ax, y_end + band + h_note + ROW_H * 0.6, wrapped)
        return fig

    def _draw_rob(self, ax: Any, y_head: float, y_body: float) -> None:
        """The risk-of-bias circles of each study row and the letters above them
        (:func:`evsynth.reports.rob.draw_forest_columns`)."""
        from evsynth.reports.rob import ForestRobColumns, draw_forest_columns

        rob = self.d.rob
        assert rob is not None
        ys = [y_body + (i + 0.5) * ROW_H for i, r in enumerate(self.rows) if r.rob]
        rows = [r.rob for r in self.rows if r.rob]
        cols = ForestRobColumns(tool=rob.tool, studies=[""] * len(rows), letters=rob.letters,
                                codes=rob.letters, rows=rows, legend=rob.legend)
        _text(ax, self.rob_x + (len(rob.letters) - 1) * ROB_DX / 2, y_head + 0.5 * ROW_H,
              "Risk of Bias", bold=True, ha="center", gid="rob-header")
        draw_forest_columns(ax, ys, cols, x0=self.rob_x, dx=ROB_DX,
                            header_y=y_head + 1.5 * ROW_H, size=8.0, fontsize=5.5)

    def _null_fraction(self, lo: float, hi: float) -> float:
        """Where the null line is across the panel (0..1); the middle when it is not shown."""
        null = self.d.scale.null
        if null is None or not lo <= null <= hi:
            return 0.5
        if self.d.scale.kind == "log":
            return (math.log(null) - math.log(lo)) / (math.log(hi) - math.log(lo))
        return (null - lo) / (hi - lo)

    def _draw_headers(self, ax: Any, y: float) -> None:
        y1, y2 = y + 0.5 * ROW_H, y + 1.5 * ROW_H
        for key in self._groups():
            cols = [c for c in self.columns if c.group == key]
            name = self.d.group_headers.get(key, "")
            x0, x1 = cols[0].x, cols[-1].x + cols[-1].width
            if name:
                _text(ax, (x0 + x1) / 2, y1, _truncate(name, x1 - x0 - PAD, SIZE, True),
                      bold=True, ha="center")
            ax.plot([x0 + PAD / 2, x1 - PAD / 2], [y1 + 0.5 * ROW_H] * 2, color=INK, lw=0.5)
        eff = next(c for c in self.columns if c.key == "effect")
        _text(ax, eff.x + PAD, y1, self.d.measure, bold=True)
        for c in self.columns:
            x = c.x + PAD if c.align == "left" else c.x + c.width - PAD
            _text(ax, x, y2, c.header, bold=True, ha=c.align)
        px = self.panel_x + PANEL_W / 2
        _text(ax, px, y1, self.d.measure, bold=True, ha="center")
        _text(ax, px, y2, self.d.model_label, bold=True, ha="center")
        ax.plot([MARGIN, self.panel_x + PANEL_W], [y + 2 * ROW_H + 0.03] * 2, color=INK, lw=0.7)

    def _draw_panel(self, fig: Figure, height: float, y_body: float, y_end: float, lo: float,
                    hi: float, ticks: list[float], tick_labels: list[str]) -> None:
        w = self.width
        sc = self.d.scale
        pax = fig.add_axes((self.panel_x / w, (height - y_end) / height, PANEL_W / w,
                            (y_end - y_body) / height))
        pax.set_gid("forest-panel")
        pax.patch.set_visible(False)
        for side in ("top", "right", "left"):
            pax.spines[side].set_visible(False)
        pax.spines["bottom"].set_linewidth(0.7)
        pax.set_ylim(y_end, y_body)
        if sc.kind == "log":
            pax.set_xscale("log")
        pax.set_xlim(lo, hi)
        pax.set_yticks([])
        pax.set_xticks(ticks)
        pax.set_xticklabels(tick_labels, fontsize=SIZE - 0.5, fontfamily=[FONT, "sans-serif"])
        pax.xaxis.set_minor_locator(NullLocator())
        pax.tick_params(axis="x", length=3, width=0.6, pad=2)
        null = sc.null
        if null is not None and lo <= null <= hi:
            pax.plot([null, null], [y_end, y_body], color=INK, lw=0.6, zorder=1,
                     gid="null-line")

        def clip(v: float) -> float:
            return min(max(v, lo), hi)

        sq_x, sq_y, sq_w, arr_l, arr_r = [], [], [], [], []
        seg_x: list[tuple[float, float]] = []
        seg_y: list[float] = []
        for i, r in enumerate(self.rows):
            yc = y_body + (i + 0.5) * ROW_H
            if r.fitted:
                f_lb, f_ub = sc.interval(r.fitted[1], r.fitted[2])
                fx = [clip(f_lb), clip(sc.show(r.fitted[0])), clip(f_ub)]
                h = ROW_H * 0.3
                pax.fill([fx[0], fx[1], fx[2], fx[1]], [yc, yc - h, yc, yc + h],
                         facecolor=FITTED, edgecolor=FITTED, lw=0.4, zorder=2.5,
                         gid=f"fitted-{i}")
            if r.square:
                yi, lb, ub, wt = r.square
                a, b = sc.interval(lb, ub)
                sq_x.append(clip(sc.show(yi)))
                sq_y.append(yc)
                sq_w.append(wt)
                seg_x.append((clip(a), clip(b)))
                seg_y.append(yc)
                if a < lo:
                    arr_l.append(yc)
                if b > hi:
                    arr_r.append(yc)
            if r.diamond:
                d_lb, d_ub = sc.interval(r.diamond[1], r.diamond[2])
                dx = [clip(d_lb), clip(sc.show(r.diamond[0])), clip(d_ub)]
                h = ROW_H * 0.38
                pax.fill([dx[0], dx[1], dx[2], dx[1]], [yc, yc - h, yc, yc + h],
                         facecolor=INK, edgecolor=INK, lw=0.5, zorder=3, gid=f"diamond-{i}")
            if r.pi:
                p_lb, p_ub = sc.interval(*r.pi)
                xs = [clip(p_lb), clip(p_ub)]
                pax.plot(xs, [yc, yc], color=PI_COLOUR, lw=1.6, zorder=3,
                         solid_capstyle="butt", gid="prediction-interval")
                h = ROW_H * 0.25
                for v, x, left in ((p_lb, xs[0], True), (p_ub, xs[1], False)):
                    if lo <= v <= hi:
                        pax.plot([x, x], [yc - h, yc + h], color=PI_COLOUR, lw=1.2, zorder=3)
                    else:
                        pax.plot([x], [yc], marker="<" if left else ">", ms=4,
                                 color=PI_COLOUR, zorder=3)
        if seg_x:
            for (x0, x1), yc in zip(seg_x, seg_y, strict=True):
                pax.plot([x0, x1], [yc, yc], color=INK, lw=0.8, zorder=2,
                         solid_capstyle="butt")
            side_pt = ROW_H * 72 * 0.8
            top = max(sq_w) if sq_w and max(sq_w) > 0 else 1.0
            sizes = [max(side_pt ** 2 * wt / top, 2.0) for wt in sq_w]
            pax.scatter(sq_x, sq_y, s=sizes, marker="s", c=self.d.colour, linewidths=0,
                        zorder=4, gid="study-squares")
            if arr_l:
                pax.scatter([lo] * len(arr_l), arr_l, s=14, marker="<", c=INK,
                            linewidths=0, zorder=4, clip_on=False, gid="ci-arrows-left")
            if arr_r:
                pax.scatter([hi] * len(arr_r), arr_r, s=14, marker=">", c=INK,
                            linewidths=0, zorder=4, clip_on=False, gid="ci-arrows-right")


def _new_figure(width: float, height: float, figure_class: type[Figure] | None = None
                ) -> tuple[Figure, Any]:
    """A white figure of ``width`` x ``height`` inches with one axes spanning it in inch
    coordinates (y down, no frame); a :class:`ForestFigure` unless ``figure_class``."""
    fig = (figure_class or ForestFigure)(figsize=(width, height))
    FigureCanvasAgg(fig)
    fig.patch.set_facecolor("white")
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)   # inches, y grows downwards
    ax.set_axis_off()
    return fig, ax


def _text(ax: Any, x: float, y: float, s: str, *, size: float = SIZE, bold: bool = False,
          ha: str = "left", colour: str = INK, italic: bool = False, gid: str | None = None,
          **kw: Any) -> Any:
    """One line of text (mathtext off: ``$`` in labels stays a dollar sign)."""
    return ax.text(x, y, s, fontsize=size, fontfamily=font_families(s), ha=ha, va="center",
                   color=colour,
                   fontweight="bold" if bold else "normal",
                   fontstyle="italic" if italic else "normal", parse_math=False, gid=gid,
                   **kw)


def _footnote_height(lines: list[str], width: float) -> tuple[list[str], float]:
    wrapped: list[str] = []
    for line in lines:
        wrapped += _wrap("• " + line, width, SMALL)
    return wrapped, len(wrapped) * ROW_H * 0.85


def _draw_footnotes(ax: Any, y: float, wrapped: list[str]) -> None:
    if not wrapped:
        return
    _text(ax, MARGIN, y, "Not included in this analysis:", size=SMALL, bold=True, colour=GREY)
    for j, line in enumerate(wrapped):
        _text(ax, MARGIN + (0 if line.startswith("• ") else 0.1), y + (j + 1) * ROW_H * 0.85,
              line, size=SMALL, colour=GREY, gid=f"excluded-{j}")


def _empty_plot(title: str, excluded: list[str]) -> Figure:
    """The k = 0 plot: a notice that no study could be pooled and the excluded studies."""
    width = 7.0
    wrapped, h_ex = _footnote_height(excluded, width - 2 * MARGIN - 0.1)
    title_lines = _wrap(title, width - 2 * MARGIN, SIZE + 1, True)
    height = MARGIN * 2 + ROW_H * (len(title_lines) + 2.2) + (h_ex + ROW_H if excluded else 0)
    fig, ax = _new_figure(width, height)
    y = MARGIN + ROW_H / 2
    for line in title_lines:
        _text(ax, MARGIN, y, line, size=SIZE + 1, bold=True)
        y += ROW_H
    _text(ax, MARGIN, y + ROW_H * 0.4, "No studies could be pooled for this analysis.",
          italic=True)
    y += ROW_H * 1.7
    _draw_footnotes(ax, y, wrapped)
    return fig


# --------------------------------------------------------------------------------------------
# entries
# --------------------------------------------------------------------------------------------
def forest_plot(analysis: dict) -> Figure:
    """RevMan-style forest plot of one analysis (the results.json analysis dict).

    Raises :class:`~evsynth.errors.InputError` naming the analysis, study and field when a
    field needed for the plot is missing or not finite, or when there is nothing to draw (no
    studies and no excluded studies); a fitted model is drawn with :func:`evsynth.forest`.
    """
    data = analysis_data(analysis)
    if data is None:   # k = 0: the notice and the excluded studies
        return _empty_plot(_title(analysis), _excluded_lines(analysis, str(analysis.get("id"))))
    return draw_forest(data)


def write_forest(analysis: dict, out_dir: str | os.PathLike[str], stem: str, *,
                 dpi: int = 150) -> dict[str, str]:
    """Draw the forest plot and save ``stem.svg`` and ``stem.png`` (at ``dpi``) in ``out_dir``
    atomically (:func:`evsynth.files.save_figures`). Returns ``{"svg": path, "png": path}``."""
    fig = forest_plot(analysis)
    out_dir = Path(out_dir)
    svg, png = save_figures(fig, [out_dir / f"{stem}.svg", out_dir / f"{stem}.png"], dpi=dpi)
    return {"svg": str(svg), "png": str(png)}

