"""RevMan-style forest plots of one analysis (an entry of results.json ``"analyses"``).

Layout after the forest plots of Review Manager 5 (The Cochrane Collaboration, RevMan 5.4 user
guide, "Forest plots"; Cochrane Handbook for Systematic Reviews of Interventions v6.4, section
10.2.1 and Figure 10.2.a): one row per study with the arm data, the weight, the effect and its
confidence interval in text, and a square sized by weight (area proportional to weight) with its
CI line; subgroup subtotals, the overall total with its diamond, the heterogeneity line
(Tau², Chi², df, P, I²), the test for the overall effect, the test for subgroup differences
(Handbook section 10.11.3.1), and "Favours ..." labels under the axis. The prediction interval
(Higgins, Thompson & Spiegelhalter 2009, J R Stat Soc A 172:137; metafor ``predict.rma``
``pi.lb``/``pi.ub``) is drawn as a bar with end caps on its own row under the total.

The plot works on plain dicts (the contract of the review pipeline, see ``evsynth.review``) and
computes no statistics: every number comes from the analysis dict. The figure is a matplotlib
:class:`~matplotlib.figure.Figure` built without pyplot (Agg canvas); its SVG keeps text as text
(``svg.fonttype = "none"``) so the labels can be searched in the HTML report.
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
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from evsynth.errors import InputError, finite_number
from evsynth.files import save_figure
from evsynth.models.engine import i2_from_q

__all__ = ["favours_labels", "forest_plot", "format_p", "write_forest", "axis_ticks"]

#: RevMan's names of the effect measures (measure code -> column header)
MEASURE_NAMES = {
    "MD": "Mean Difference", "MD_CHANGE": "Mean Difference",
    "SMD": "Std. Mean Difference", "SMD_CHANGE": "Std. Mean Difference",
    "OR": "Odds Ratio", "RR": "Risk Ratio", "RD": "Risk Difference",
}

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
SQUARE_CONTINUOUS = "#2e7d32"   # RevMan draws continuous outcomes in green
SQUARE_BINARY = "#1f4e9c"       # and dichotomous outcomes in blue
PI_COLOUR = "#b03a2e"
#: rc settings while saving: SVG text as text, reproducible SVG ids, and unhinted glyphs (a
#: third less rendering time for PNG with matplotlib's glyph-by-glyph Agg text)
_SAVE_RC = {"svg.fonttype": "none", "svg.hashsalt": "evsynth-forest", "text.hinting": "none"}


class ForestFigure(Figure):
    """A Figure whose ``savefig`` keeps SVG text as text and writes reproducible SVG ids
    (also through :func:`evsynth.files.svg_string`)."""

    def savefig(self, *args: Any, **kwargs: Any) -> None:
        """As :meth:`matplotlib.figure.Figure.savefig`, under ``svg.fonttype = "none"``."""
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


def _display(x: float, log_scale: bool) -> float:
    """A value on the analysis scale shown on the natural scale (exp for ratio measures)."""
    if not log_scale:
        return x
    return math.exp(x) if x < 700 else math.inf


def format_effect(est: float, lb: float, ub: float, log_scale: bool) -> str:
    """``"-0.90 [-1.80, 0.00]"``: estimate and CI, exponentiated for ratio measures."""
    d = [_fixed2(_display(v, log_scale)) for v in (est, lb, ub)]
    return f"{d[0]} [{d[1]}, {d[2]}]"


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
    return "" if x is None else f"{int(round(x))}"


def _fmt_tau2(t: float) -> str:
    """Tau² with two decimals as RevMan; two significant digits from 0.0001 to 0.01."""
    if 0.0001 <= t < 0.01:
        return f"{t:.2g}"
    return _fixed2(t)


def _df_text(df: float) -> str:
    return f"{int(df)}" if float(df).is_integer() else f"{df:.2f}"


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


# --------------------------------------------------------------------------------------------
# input checking
# --------------------------------------------------------------------------------------------
def _num(d: dict | None, key: str, where: str, required: bool = True,
         minimum: float | None = None) -> float | None:
    """``d[key]`` as a finite float (None allowed when not required), else an InputError."""
    return finite_number(None if d is None else d.get(key), where, key, required=required,
                         minimum=minimum)


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
    if out["n"] is None:   # contrast rows: n per arm beside the estimate, when reported
        contrast = study.get("contrast")
        src = contrast if isinstance(contrast, dict) and contrast.get(f"n_{key}") is not None \
            else study
        out["n"] = _num(src, f"n_{key}", where, False, 0)
    return out


def _studies(analysis: dict, aid: str) -> list[_Study]:
    rows = analysis.get("studies") or []
    if not isinstance(rows, list):
        raise InputError(f"analysis {aid!r}: field 'studies' is {type(rows).__name__}; "
                         "expected a list of study dicts")
    out = []
    for i, s in enumerate(rows):
        if not isinstance(s, dict):
            raise InputError(f"analysis {aid!r}: studies[{i}] is {s!r}; expected a dict")
        name = s.get("label") or s.get("study_id") or f"row {i + 1}"
        where = f"analysis {aid!r}, study {name!r}"
        yi = _num(s, "yi", where)
        sei = _num(s, "sei", where, False, 0)
        if sei is None:
            vi = _num(s, "vi", where, False, 0)
            sei = math.sqrt(vi) if vi is not None else None
        lb, ub = _num(s, "ci_lb", where), _num(s, "ci_ub", where)
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


@dataclass
class _Pooled:
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


def _pooled(d: dict, where: str, k: int) -> _Pooled:
    est = _num(d, "estimate", where)
    lb, ub = _num(d, "ci_lb", where), _num(d, "ci_ub", where)
    stat = _num(d, "zval", where, False)
    pi_lb, pi_ub = _num(d, "pi_lb", where, False), _num(d, "pi_ub", where, False)
    pi = (pi_lb, pi_ub) if pi_lb is not None and pi_ub is not None else None
    return _Pooled(est=est, lb=lb, ub=ub, k=k, stat=stat, pval=_num(d, "pval", where, False, 0),
                   df=_num(d, "df", where, False), tau2=_num(d, "tau2", where, False, 0),
                   i2=_num(d, "I2", where, False), qe=_num(d, "QE", where, False, 0),
                   qe_df=_num(d, "QE_df", where, False, 0), qep=_num(d, "QEp", where, False, 0),
                   pi=pi)


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
    """``s`` cut with an ellipsis to fit ``width`` inches."""
    s = " ".join(s.split())
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
    for word in s.split():
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
# table model
# --------------------------------------------------------------------------------------------
@dataclass
class _Col:
    key: str
    header: str
    group: str | None = None   # "i", "c" or None
    align: str = "right"
    width: float = 0.0
    x: float = 0.0


@dataclass
class _Row:
    cells: dict[str, str] = field(default_factory=dict)
    bold: bool = False
    span: str | None = None          # a text running across the table from the study column
    square: tuple[float, float, float, float] | None = None   # yi, lb, ub, weight
    diamond: tuple[float, float, float] | None = None         # est, lb, ub
    pi: tuple[float, float] | None = None
    italic: bool = False


def _heterogeneity(p: _Pooled | None, k: int, fixed: bool) -> str:
    """RevMan's heterogeneity line (Handbook v6.4 section 10.10.2)."""
    if p is None or k < 2 or p.qe is None:
        return "Heterogeneity: Not applicable"
    parts = []
    if not fixed and p.tau2 is not None:
        parts.append(f"Tau² = {_fmt_tau2(p.tau2)}")
    df = p.qe_df if p.qe_df is not None else k - 1
    chi = f"Chi² = {_fixed2(p.qe)}, df = {_df_text(df)} ({format_p(p.qep)})"
    parts.append(chi)
    if p.i2 is not None:
        parts.append(f"I² = {p.i2:.0f}%")
    return "Heterogeneity: " + "; ".join(parts)


def _overall_test(p: _Pooled | None, tstat: bool) -> str:
    """RevMan's "Test for overall effect: Z = 1.96 (P = 0.05)" (T and df under t/Knapp-Hartung
    tests, metafor's ``test="t"``/``"knha"``)."""
    if p is None:
        return "Test for overall effect: Not applicable"
    if p.stat is None:
        return f"Test for overall effect: {format_p(p.pval)}"
    name = "T" if tstat else "Z"
    df = f", df = {_df_text(p.df)}" if tstat and p.df is not None else ""
    return f"Test for overall effect: {name} = {_fixed2(abs(p.stat))}{df} ({format_p(p.pval)})"


def _subgroup_difference(sg: dict, where: str) -> str | None:
    """"Test for subgroup differences: Chi² = ..., df = ... (P = ...), I² = ...%".

    I² for subgroup differences comes from the model layer (``I2_between``, set by the pipeline
    from :func:`evsynth.meta`'s ``Q_between_I2``), or from the same function
    (:func:`evsynth.models.engine.i2_from_q`) for a hand-made dict without it.
    """
    q = _num(sg, "Q_between", where, False, 0)
    df = _num(sg, "Q_between_df", where, False, 0)
    if q is None or df is None:
        return None
    i2 = _num(sg, "I2_between", where, False)
    if i2 is None:
        i2 = i2_from_q(q, df)
    p = _num(sg, "Q_between_p", where, False, 0)
    return (f"Test for subgroup differences: Chi² = {_fixed2(q)}, df = {_df_text(df)} "
            f"({format_p(p)}), I² = {i2:.1f}%")


def _model_label(analysis: dict) -> tuple[str, bool, bool]:
    """("IV, Random, 95% CI", fixed?, t-test?) from the analysis' model settings."""
    from evsynth.models.kernels import FIXED_METHODS

    model = analysis.get("model") or {}
    method = str(model.get("method") or "REML").upper()
    level = _num(model, "level", f"analysis {analysis.get('id', '?')!r}, model", False, 0)
    level = 95.0 if level is None else level * 100 if level < 1 else level
    if not 0 < level < 100:
        raise InputError(f"analysis {analysis.get('id', '?')!r}, model: field 'level' is "
                         f"{model.get('level')!r}; expected a confidence level in (0, 100)")
    fixed = method in FIXED_METHODS or method in ("MH", "PETO")
    kind = {"MH": "M-H", "PETO": "Peto"}.get(method, "IV")
    test = str(model.get("test") or "z").lower()
    return (f"{kind}, {'Fixed' if fixed else 'Random'}, {level:g}% CI", fixed,
            test in ("t", "knha", "adhoc"))


# --------------------------------------------------------------------------------------------
# the plot
# --------------------------------------------------------------------------------------------
def forest_plot(analysis: dict) -> Figure:
    """RevMan-style forest plot of one analysis (the results.json analysis dict).

    Raises :class:`~evsynth.errors.InputError` naming the analysis, study and field when a
    number needed for the plot is missing or not finite.
    """
    if not isinstance(analysis, dict):
        raise InputError(f"forest_plot: analysis is {type(analysis).__name__}; expected a dict")
    aid = str(analysis.get("id", "?"))
    comp = analysis.get("comparison") or {}
    outcome = analysis.get("outcome") or {}
    window = analysis.get("window") or {}
    title_parts = [comp.get("label") or f"{comp.get('intervention', '?')} vs "
                   f"{comp.get('control', '?')}", outcome.get("label") or outcome.get("id")]
    if window.get("label"):
        title_parts.append(window["label"])
    title = " · ".join(str(t) for t in title_parts if t)
    excluded = _excluded_lines(analysis, aid)
    studies = _studies(analysis, aid)
    if not studies:
        return _empty_plot(title, excluded)
    return _ForestBuilder(analysis, aid, title, studies, excluded).figure()


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


def _new_figure(width: float, height: float) -> tuple[Figure, Any]:
    fig = ForestFigure(figsize=(width, height))
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


class _ForestBuilder:
    """Lays out the table (columns measured from their texts) and draws it."""

    def __init__(self, analysis: dict, aid: str, title: str, studies: list[_Study],
                 excluded: list[str]):
        self.a = analysis
        self.aid = aid
        self.title = title
        self.studies = studies
        self.excluded = excluded
        self.log = bool(analysis.get("log_scale"))
        outcome = analysis.get("outcome") or {}
        self.binary = outcome.get("kind") == "binary" or any(
            s.arms["i"]["events"] is not None for s in studies)
        measure = str(analysis.get("measure") or outcome.get("measure") or "")
        self.change = measure.upper().endswith("_CHANGE")
        self.notes: list[str] = []   # footnotes under the plot
        self.measure_name = MEASURE_NAMES.get(measure.upper(), measure or "Effect")
        self.model_label, self.fixed, self.tstat = _model_label(analysis)
        self.level_label = self.model_label.split(", ")[-1]
        comp = analysis.get("comparison") or {}
        self.inter = str(comp.get("intervention") or "Intervention")
        self.ctrl = str(comp.get("control") or "Control")
        self.left_label, self.right_label = favours_labels(analysis)
        pd_ = analysis.get("pooled")
        self.pooled = None if pd_ is None else _pooled(pd_, f"analysis {aid!r}, pooled",
                                                       len(studies))
        self.columns = self._columns()
        self.rows: list[_Row] = []
        self.bottom_lines: list[str] = []
        self._build_rows()

    # ---- columns ----------------------------------------------------------------------------
    def _columns(self) -> list[_Col]:
        any_arm = any(not s.contrast for s in self.studies)
        any_contrast = any(s.contrast for s in self.studies)
        arm_keys = (("events", "Events"), ("n", "Total")) if self.binary else (
            ("mean", "Mean change" if self.change else "Mean"), ("sd", "SD"), ("n", "Total"))
        giv_name = f"log[{self.measure_name}]" if self.log else self.measure_name
        giv = [_Col("giv_est", giv_name), _Col("giv_se", "SE")]
        cols = [_Col("study", "Study or Subgroup", align="left")]
        if any_arm:
            for side in ("i", "c"):
                cols += [_Col(f"{side}_{k}", h, group=side) for k, h in arm_keys]
            if any_contrast:
                cols += giv
        else:
            cols += giv + [_Col("i_n", "Total", group="i"), _Col("c_n", "Total", group="c")]
        cols += [_Col("weight", "Weight"), _Col("effect", self.model_label, align="left")]
        return cols

    # ---- rows ---------------------------------------------------------------------------------
    def _study_row(self, s: _Study) -> _Row:
        cells = {"study": _truncate(s.label, MAX_LABEL_W)}
        for side in ("i", "c"):
            arm = s.arms[side]
            cells[f"{side}_n"] = _fmt_int(arm["n"])
            if not s.contrast:
                mean, sd = arm["mean"], arm["sd"]
                if self.change and s.baseline_followup:   # the arm's change, when given
                    mean, sd = arm["change_mean"], arm["change_sd"]
                cells[f"{side}_mean"] = _fmt_num(mean)
                cells[f"{side}_sd"] = _fmt_num(sd)
                cells[f"{side}_events"] = _fmt_int(arm["events"])
        if self.change and s.baseline_followup and not s.contrast and any(
                s.arms[side]["change_mean"] is None for side in ("i", "c")):
            self.notes.append(s.label)
        if s.contrast:
            cells["giv_est"] = f"{s.yi:.4f}"
            cells["giv_se"] = "" if s.sei is None else f"{s.sei:.4f}"
        cells["weight"] = f"{s.weight:.1f}%"
        cells["effect"] = format_effect(s.yi, s.lb, s.ub, self.log)
        return _Row(cells=cells, square=(s.yi, s.lb, s.ub, s.weight))

    def _total_rows(self, label: str, group: list[_Study], p: _Pooled | None,
                    het: str, test: str) -> None:
        cells = {"study": label}
        for side in ("i", "c"):
            ns = [s.arms[side]["n"] for s in group]
            if ns and all(n is not None for n in ns):
                cells[f"{side}_n"] = _fmt_int(sum(ns))
        cells["weight"] = f"{sum(s.weight for s in group):.1f}%"
        if p is not None:
            cells["effect"] = format_effect(p.est, p.lb, p.ub, self.log)
            self.rows.append(_Row(cells=cells, bold=True, diamond=(p.est, p.lb, p.ub)))
        else:
            cells["effect"] = "Not estimable"
            self.rows.append(_Row(cells=cells, bold=True))
        if self.binary:
            ev = {side: [s.arms[side]["events"] for s in group] for side in ("i", "c")}
            if all(e is not None for side in ev for e in ev[side]):
                self.rows.append(_Row(cells={"study": "Total events",
                                             "i_events": _fmt_int(sum(ev["i"])),
                                             "c_events": _fmt_int(sum(ev["c"]))}))
        if het:
            self.rows.append(_Row(span=het))
        if test:
            self.rows.append(_Row(span=test))

    def _build_rows(self) -> None:
        where = f"analysis {self.aid!r}, subgroups"
        sg = self.a.get("subgroups")
        p = self.pooled
        k = len(self.studies)
        if sg:
            if not isinstance(sg, dict):
                raise InputError(f"{where}: expected a dict or None, got {sg!r}")
            levels = sg.get("levels") or []
            labels = [str(lv.get("label")) for lv in levels if isinstance(lv, dict)]
            for j, lv in enumerate(levels):
                if not isinstance(lv, dict):
                    raise InputError(f"{where}.levels[{j}] is {lv!r}; expected a dict")
                group = [s for s in self.studies if s.subgroup == labels[j]]
                if not group:
                    continue
                self.rows.append(_Row(span=_truncate(labels[j], 4.0, SIZE, True), bold=True))
                self.rows += [self._study_row(s) for s in group]
                w = f"{where}, level {labels[j]!r}"
                lp = None
                if lv.get("estimate") is not None:
                    lp = _pooled(lv, w, len(group))
                    lp.stat = _num(lv, "zval", w, False)
                self._total_rows(f"Subtotal ({self.level_label})", group, lp,
                                 _heterogeneity(lp, len(group), self.fixed),
                                 _overall_test(lp, self.tstat))
                self.rows.append(_Row())
            rest = [s for s in self.studies if s.subgroup not in labels]
            if rest:
                self.rows.append(_Row(span="Not in a subgroup", bold=True))
                self.rows += [self._study_row(s) for s in rest]
                self.rows.append(_Row())
            sub = _subgroup_difference(sg, where)
            if sub:
                self.bottom_lines.append(sub)
        else:
            self.rows += [self._study_row(s) for s in self.studies]
        self._total_rows(f"Total ({self.level_label})", self.studies, p, "", "")
        if p is not None and p.pi is not None:
            lo, hi = p.pi
            self.rows.append(_Row(cells={"study": "Prediction interval",
                                         "effect": "[" + ", ".join(
                                             _fixed2(_display(v, self.log)) for v in (lo, hi))
                                         + "]"},
                                  pi=(lo, hi), italic=True))
        self.bottom_lines[:0] = [_heterogeneity(p, k, self.fixed), _overall_test(p, self.tstat)]

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
        for side, name in (("i", self.inter), ("c", self.ctrl)):
            cols = [c for c in self.columns if c.group == side]
            need = min(text_width(name, SIZE, True), MAX_GROUP_W) + PAD * 2
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

    def _axis(self) -> tuple[float, list[float]]:
        """Symmetric limits: every point estimate and pooled CI inside, and the CIs of most
        studies (the rest get arrows, as RevMan)."""
        core = [abs(s.yi) for s in self.studies]
        ci = sorted(max(abs(s.lb), abs(s.ub)) for s in self.studies)
        for r in self.rows:
            if r.diamond:
                core += [abs(r.diamond[1]), abs(r.diamond[2])]
            if r.pi:
                ci.append(max(abs(r.pi[0]), abs(r.pi[1])))
        q80 = ci[min(len(ci) - 1, int(0.8 * len(ci)))] if ci else 0.0
        return axis_ticks(max(max(core, default=0.0), q80), self.log)

    def figure(self) -> Figure:
        self._measure()
        lim, ticks = self._axis()
        t_lines = _wrap(self.title, self.width - 2 * MARGIN, SIZE + 1, True)
        # favours labels: right of the null line up to the margin; left of it down to the end
        # of the heterogeneity lines beside the axis
        null_x = self.panel_x + PANEL_W / 2
        used = max((text_width(s) for s in self.bottom_lines), default=0.0) + MARGIN + PAD
        fav_l = _wrap(self.left_label, null_x - 0.06 - max(used + 0.2, self.panel_x - 0.3),
                      SIZE - 0.5)
        fav_r = _wrap(self.right_label, self.width - null_x - 0.06 - MARGIN / 2, SIZE - 0.5)
        n_fav = max(len(fav_l), len(fav_r))
        wrapped, h_ex = _footnote_height(self.excluded, self.width - 2 * MARGIN - 0.1)
        note_lines = _wrap(self._change_note(), self.width - 2 * MARGIN) if self.notes else []
        h_note = len(note_lines) * ROW_H * 0.85 + (ROW_H * 0.4 if note_lines else 0)
        y_head = MARGIN + len(t_lines) * ROW_H + 0.08
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
        self._draw_panel(fig, height, y_body, y_end, lim, ticks, fav_l, fav_r)
        for j, line in enumerate(note_lines):
            _text(ax, MARGIN, y_end + band + ROW_H * 0.4 + j * ROW_H * 0.85, line, size=SMALL,
                  colour=GREY, gid=f"note-{j}")
        if wrapped:
            _draw_footnotes(ax, y_end + band + h_note + ROW_H * 0.6, wrapped)
        return fig

    def _change_note(self) -> str:
        """Why the mean and SD of change are blank for studies reporting baseline and
        follow-up values (their change SD is imputed by the pipeline, Cochrane Handbook v6.4
        section 6.5.2.8)."""
        r = (self.a.get("model") or {}).get("change_score_correlation")
        imputed = f" with correlation {r:g}" if isinstance(r, (int, float)) else ""
        return (f"Note: {', '.join(self.notes)}: the change from baseline was computed from "
                f"baseline and follow-up values (SD of change imputed{imputed}); the arms' "
                "change mean and SD are not shown.")

    def _draw_headers(self, ax: Any, y: float) -> None:
        y1, y2 = y + 0.5 * ROW_H, y + 1.5 * ROW_H
        for side, name in (("i", self.inter), ("c", self.ctrl)):
            cols = [c for c in self.columns if c.group == side]
            if not cols:
                continue
            x0, x1 = cols[0].x, cols[-1].x + cols[-1].width
            _text(ax, (x0 + x1) / 2, y1, _truncate(name, x1 - x0 - PAD, SIZE, True), bold=True,
                  ha="center")
            ax.plot([x0 + PAD / 2, x1 - PAD / 2], [y1 + 0.5 * ROW_H] * 2, color=INK, lw=0.5)
        eff = next(c for c in self.columns if c.key == "effect")
        _text(ax, eff.x + PAD, y1, self.measure_name, bold=True)
        for c in self.columns:
            x = c.x + PAD if c.align == "left" else c.x + c.width - PAD
            _text(ax, x, y2, c.header, bold=True, ha=c.align)
        px = self.panel_x + PANEL_W / 2
        _text(ax, px, y1, self.measure_name, bold=True, ha="center")
        _text(ax, px, y2, self.model_label, bold=True, ha="center")
        ax.plot([MARGIN, self.panel_x + PANEL_W], [y + 2 * ROW_H + 0.03] * 2, color=INK, lw=0.7)

    def _draw_panel(self, fig: Figure, height: float, y_body: float, y_end: float, lim: float,
                    ticks: list[float], fav_l: list[str], fav_r: list[str]) -> None:
        w = self.width
        pax = fig.add_axes((self.panel_x / w, (height - y_end) / height, PANEL_W / w,
                            (y_end - y_body) / height))
        pax.set_gid("forest-panel")
        pax.patch.set_visible(False)
        for side in ("top", "right", "left"):
            pax.spines[side].set_visible(False)
        pax.spines["bottom"].set_linewidth(0.7)
        pax.set_ylim(y_end, y_body)
        tr: Callable[[float], float] = math.exp if self.log else float
        if self.log:
            pax.set_xscale("log")
        pax.set_xlim(tr(-lim), tr(lim))
        pax.set_yticks([])
        pax.set_xticks([tr(t) for t in ticks])
        pax.set_xticklabels([_tick_label(t, self.log) for t in ticks], fontsize=SIZE - 0.5,
                            fontfamily=[FONT, "sans-serif"])
        pax.xaxis.set_minor_locator(mpl.ticker.NullLocator())
        pax.tick_params(axis="x", length=3, width=0.6, pad=2)
        null = tr(0.0)
        pax.plot([null, null], [y_end, y_body], color=INK, lw=0.6, zorder=1,
                 gid="null-line")
        colour = SQUARE_BINARY if self.binary else SQUARE_CONTINUOUS

        def clip(v: float) -> float:
            return min(max(v, -lim), lim)

        sq_x, sq_y, sq_w, arr_l, arr_r = [], [], [], [], []
        seg_x: list[tuple[float, float]] = []
        seg_y: list[float] = []
        for i, r in enumerate(self.rows):
            yc = y_body + (i + 0.5) * ROW_H
            if r.square:
                yi, lb, ub, wt = r.square
                sq_x.append(tr(clip(yi)))
                sq_y.append(yc)
                sq_w.append(wt)
                seg_x.append((tr(clip(lb)), tr(clip(ub))))
                seg_y.append(yc)
                if lb < -lim:
                    arr_l.append(yc)
                if ub > lim:
                    arr_r.append(yc)
            if r.diamond:
                est, lb, ub = (clip(v) for v in r.diamond)
                h = ROW_H * 0.38
                pax.fill([tr(lb), tr(est), tr(ub), tr(est)], [yc, yc - h, yc, yc + h],
                         facecolor=INK, edgecolor=INK, lw=0.5, zorder=3, gid=f"diamond-{i}")
            if r.pi:
                lb, ub = r.pi
                xs = [tr(clip(lb)), tr(clip(ub))]
                pax.plot(xs, [yc, yc], color=PI_COLOUR, lw=1.6, zorder=3,
                         solid_capstyle="butt", gid="prediction-interval")
                h = ROW_H * 0.25
                for v, x in zip((lb, ub), xs, strict=True):
                    if -lim <= v <= lim:
                        pax.plot([x, x], [yc - h, yc + h], color=PI_COLOUR, lw=1.2, zorder=3)
                    else:
                        pax.plot([x], [yc], marker="<" if v < 0 else ">", ms=4,
                                 color=PI_COLOUR, zorder=3)
        if seg_x:
            for (x0, x1), yc in zip(seg_x, seg_y, strict=True):
                pax.plot([x0, x1], [yc, yc], color=INK, lw=0.8, zorder=2,
                         solid_capstyle="butt")
            side_pt = ROW_H * 72 * 0.8
            top = max(sq_w) if sq_w and max(sq_w) > 0 else 1.0
            sizes = [max(side_pt ** 2 * wt / top, 2.0) for wt in sq_w]
            pax.scatter(sq_x, sq_y, s=sizes, marker="s", c=colour, linewidths=0, zorder=4,
                        gid="study-squares")
            if arr_l:
                pax.scatter([tr(-lim)] * len(arr_l), arr_l, s=14, marker="<", c=INK,
                            linewidths=0, zorder=4, clip_on=False, gid="ci-arrows-left")
            if arr_r:
                pax.scatter([tr(lim)] * len(arr_r), arr_r, s=14, marker=">", c=INK,
                            linewidths=0, zorder=4, clip_on=False, gid="ci-arrows-right")
        # favours labels under the tick labels, either side of the null line
        ax = fig.axes[0]
        null_x = self.panel_x + PANEL_W / 2
        y0 = y_end + 0.08 + 0.2 + ROW_H * 0.5
        for j, line in enumerate(fav_l):
            _text(ax, null_x - 0.06, y0 + j * ROW_H * 0.9, line, size=SIZE - 0.5, ha="right",
                  gid=f"favours-left-{j}")
        for j, line in enumerate(fav_r):
            _text(ax, null_x + 0.06, y0 + j * ROW_H * 0.9, line, size=SIZE - 0.5, ha="left",
                  gid=f"favours-right-{j}")


def write_forest(analysis: dict, out_dir: str | os.PathLike[str], stem: str, *,
                 dpi: int = 150) -> dict[str, str]:
    """Draw the forest plot and save ``stem.svg`` and ``stem.png`` (at ``dpi``) in ``out_dir``
    atomically (:func:`evsynth.files.save_figure`). Returns ``{"svg": path, "png": path}``."""
    fig = forest_plot(analysis)
    out_dir = Path(out_dir)
    return {fmt: str(save_figure(fig, out_dir / f"{stem}.{fmt}", dpi=dpi))
            for fmt in ("svg", "png")}
