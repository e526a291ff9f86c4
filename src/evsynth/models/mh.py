"""Mantel-Haenszel and Peto common-effect pooling of 2x2 tables and person-time data.

Python counterparts of metafor's ``rma.mh`` and ``rma.peto`` (Viechtbauer 2010, metafor 3.8-1),
checked against them to 1e-6 relative (fixtures in ``tests/reference/mh``).

Public functions
----------------
``meta_mh(measure, ai, bi, ci, di, n1i, n2i, *, x1i, x2i, t1i, t2i, data, slab, add, to,
drop00, correct, level)`` and ``meta_peto(ai, bi, ci, di, n1i, n2i, *, data, slab, add, to,
drop00, level)``, both returning :class:`MHResult`.

Zero cells and continuity corrections (``add``, ``to``, ``drop00``)
-------------------------------------------------------------------
As in metafor, each of these can be one value or a pair. The first element applies to the
per-study effect sizes ``yi``/``vi`` (computed by :func:`evsynth.effect_size`, used for Cochran's Q,
I^2 and forest-plot rows); the second applies to the tables used by the pooled estimator and
defaults to ``0`` / ``"none"`` / ``False``: the Mantel-Haenszel and Peto estimators need no
continuity correction, and a study with no events (or only events) in both arms contributes
nothing to the pooled OR/RR (it is kept in ``k`` as metafor does, with weight 0). For the risk
difference such a study *does* contribute (an observed difference of 0), again as metafor.

RevMan 5 differs: it adds 0.5 to every cell of a study with a zero cell also inside the
Mantel-Haenszel computation and leaves out double-zero studies (this is what R's ``meta`` does by
default, ``MH.exact=FALSE``, to reproduce RevMan). That behaviour is obtained here with
``add=(0.5, 0.5), to=("only0", "only0"), drop00=(True, True)``; the default follows metafor.
Not verified against RevMan output itself (no RevMan reference values in the test suite).

Deviations from metafor (documented, deliberate)
------------------------------------------------
* Where metafor returns ``NA`` for the estimate (e.g. MH OR when every study has ``ai = 0`` or
  ``di = 0``) or would produce a zero standard error, :class:`evsynth.errors.InputError` is raised.
* Missing counts raise :class:`InputError` instead of silently dropping the study.
* A group of size 0 (``n1i = 0`` or ``n2i = 0``) or a person-time <= 0 raises :class:`InputError`.
* Non-integer counts are accepted (as metafor does) but trigger a ``UserWarning``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from evsynth.errors import (
    InputError,
    first_bad,
    nonnegative_number,
    shown,
    study_name,
)
from evsynth.models.engine import chi2_upper, i2_from_q
from evsynth.models.results import FittedModel, ResultMixin, fmt_p
from evsynth.validation import (
    MAX_COUNT,
    as_frame,
    column,
    level_fraction,
    mh_measure,
    numeric_vector,
    study_labels,
)

__all__ = ["MHResult", "MHPrediction", "meta_mh", "meta_peto"]

_RATIO_MEASURES = ("OR", "RR", "IRR", "PETO")
_TO_CHOICES = ("all", "only0", "if0all", "none")

_VARIANCE_NAMES = {
    "OR": "Robins-Breslow-Greenland (1986)",
    "RR": "Greenland-Robins (1985)",
    "RD": "Sato-Greenland-Robins (1989) / Greenland-Robins (1985)",
    "IRR": "Greenland-Robins (1985), person-time",
    "IRD": "Greenland-Robins (1985), person-time",
    "PETO": "Peto one-step: 1 / sum(V_i) (Yusuf et al. 1985)",
}


# --------------------------------------------------------------------------------------------
# result objects
# --------------------------------------------------------------------------------------------


@dataclass(repr=False)
class MHPrediction(ResultMixin):
    """Pooled estimate from :meth:`MHResult.predict`.

    ``pred``, ``ci_lb``, ``ci_ub`` are on the model scale (log scale for OR/RR/IRR/PETO) unless a
    ``transf`` was given. ``se`` is ``None`` after a transformation (as metafor's ``NA``). There is
    no prediction interval: the model is a common-effect (equal-effects) model with tau^2 = 0, so a
    prediction interval would coincide with the confidence interval and is not reported.
    """

    pred: float
    se: float | None
    ci_lb: float
    ci_ub: float
    level: float
    transf: str | None = None

    _dict_fields = ("pred", "se", "ci_lb", "ci_ub", "level", "transf")

    def summary_text(self) -> str:
        se = "NA" if self.se is None else f"{self.se:.4f}"
        head = f"{'pred':>9} {'se':>8} {'ci.lb':>9} {'ci.ub':>9}"
        row = f"{self.pred:9.4f} {se:>8} {self.ci_lb:9.4f} {self.ci_ub:9.4f}"
        note = f"({self.level:g}% CI" + (f", transformed by {self.transf})" if self.transf else ")")
        return f"{head}\n{row}\n{note}"


@dataclass(repr=False)
class MHResult(FittedModel):
    """Fitted Mantel-Haenszel / Peto common-effect model (names follow metafor's ``rma.mh``).

    Follows the results contract (:class:`evsynth.models.results.FittedModel`): ``beta``,
    ``se``, ``zval``, ``pval``, ``ci_lb``, ``ci_ub`` are arrays of length 1 (the one coefficient,
    ``coef_names = ["intrcpt"]``), ``estimate`` is ``beta[0]``, ``level`` is in percent.

    Fields
    ------
    measure : "OR", "RR", "RD", "IRR", "IRD" or "PETO".
    method : "MH" or "PETO".
    k : number of tables used by the pooled estimator (metafor ``k``; double-zero tables are kept
        unless the second element of ``drop00`` is True).
    k_yi : number of per-study effect sizes entering Q (metafor ``k.yi``).
    k_all : number of rows supplied.
    k_pos : (OR) tables used by the Breslow-Day test; (PETO) tables with V_i > 0.
    beta, se, zval, pval, ci_lb, ci_ub : pooled estimate on the model scale (log OR, log RR,
        log IRR, log Peto OR; raw risk / rate difference), its standard error, Wald z, two-sided
        p-value and ``level`` % confidence limits.
    estimate_exp, ci_lb_exp, ci_ub_exp : exp() of beta and limits for ratio measures, else None.
    tau2 : always 0 (common-effect model).
    QE, QEp, I2 (percent), H2 : Cochran's Q test of heterogeneity and derived statistics; NaN
        (undefined) when a per-study effect in Q has sampling variance 0 (see
        ``method_info["zero_variance_studies"]``; metafor reports QE = Inf there).
    CO, COp : Cochran's (1954) test (OR only); MH, MHp : Cochran-Mantel-Haenszel test (OR) or
        Mantel-Haenszel person-time test (IRR); BD, BDp : Breslow-Day; TA, TAp : Tarone-corrected
        Breslow-Day (OR only). ``None`` where not applicable (e.g. BDp when k_pos < 2).
    yi, vi : per-study effect sizes and sampling variances entering Q (length k_yi), from
        :func:`evsynth.effect_size`; ``slab_yi`` their labels.
    weights : percent weight of each of the k tables in the pooled estimate (as RevMan shows);
        ``slab`` their labels.
    studies : one row per supplied study: label, yi, vi, weight, in_model, in_q.
    method_info : every choice made (measure, add, to, drop00, correct, level, variance estimator,
        studies dropped and why, studies with a zero sampling variance, ``notes``).
    tables : the supplied per-study data, all ``k_all`` studies (``ai, bi, ci, di`` or ``x1i,
        x2i, t1i, t2i``): the diagnostics refit the estimator on subsets of them (metafor's
        ``outdat.f``).
    """

    measure: str
    method: str
    k: int
    k_yi: int
    k_all: int
    k_pos: int | None
    beta: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    level: float
    QE: float
    QEp: float
    I2: float
    H2: float
    yi: np.ndarray
    vi: np.ndarray
    weights: np.ndarray
    slab: list
    slab_yi: list
    studies: pd.DataFrame
    method_info: dict[str, Any]
    CO: float | None = None
    COp: float | None = None
    MH: float | None = None
    MHp: float | None = None
    BD: float | None = None
    BDp: float | None = None
    TA: float | None = None
    TAp: float | None = None
    tau2: float = 0.0
    tables: dict[str, np.ndarray] = field(default_factory=dict)
    estimate_exp: float | None = field(init=False)
    ci_lb_exp: float | None = field(init=False)
    ci_ub_exp: float | None = field(init=False)

    _dict_fields = (
        "measure", "method", "k", "k_yi", "k_all", "k_pos", "beta", "se", "zval", "pval",
        "ci_lb", "ci_ub", "estimate_exp", "ci_lb_exp", "ci_ub_exp", "level", "tau2", "QE", "QEp",
        "I2", "H2", "CO", "COp", "MH", "MHp", "BD", "BDp", "TA", "TAp", "yi", "vi", "slab_yi",
        "weights", "slab", "studies", "method_info",
    )

    def __post_init__(self) -> None:
        for name in ("beta", "se", "zval", "pval", "ci_lb", "ci_ub"):
            setattr(self, name, np.atleast_1d(np.asarray(getattr(self, name), dtype=float)))
        self.coef_names = ["intrcpt"]
        self.model_name = ("Peto fit (rma.peto)" if self.method == "PETO"
                           else "Mantel-Haenszel fit (rma.mh)")
        if self.measure in _RATIO_MEASURES:
            self.estimate_exp = math.exp(self.beta[0])
            self.ci_lb_exp = math.exp(self.ci_lb[0])
            self.ci_ub_exp = math.exp(self.ci_ub[0])
        else:
            self.estimate_exp = self.ci_lb_exp = self.ci_ub_exp = None

    @property
    def b(self) -> np.ndarray:
        """Alias of ``beta`` (metafor's ``b``)."""
        return self.beta

    def predict(self, transf: Callable[[Any], Any] | str | None = None,
                level: float | None = None, targs: dict[str, Any] | None = None
                ) -> MHPrediction:
        """Pooled estimate with a confidence interval, optionally transformed (e.g. ``"exp"``).

        As metafor's ``predict.rma``: with ``transf`` (a function, or a name of
        :mod:`evsynth.transf` with ``targs``) the estimate and CI limits are transformed and
        ``se`` is None. ``level`` (percent, default the model's) recomputes the Wald CI
        beta +/- z_{1-alpha/2} se. No prediction interval is given (common-effect model, tau^2=0).
        """
        from evsynth.transf import resolve

        alpha = 1 - level_fraction(self.level if level is None else level)
        crit = float(-special.ndtri(alpha / 2))
        beta, se0 = float(self.beta[0]), float(self.se[0])
        pred, lb, ub = beta, beta - crit * se0, beta + crit * se0
        se: float | None = se0
        func, name = resolve(transf, targs, what="predict")
        if func is not None:
            pred, lb, ub = (float(np.asarray(func(np.asarray([v], dtype=float)))[0])
                            for v in (pred, lb, ub))
            lb, ub = min(lb, ub), max(lb, ub)
            se = None
        return MHPrediction(pred=float(pred), se=se, ci_lb=float(lb), ci_ub=float(ub),
                            level=100 * (1 - alpha), transf=name)

    def summary_text(self) -> str:
        title = ("Equal-Effects Model (Mantel-Haenszel)" if self.method == "MH"
                 else "Equal-Effects Model (Peto's method)")
        scale = {"OR": "log OR", "RR": "log RR", "IRR": "log IRR", "PETO": "log OR",
                 "RD": "RD", "IRD": "IRD"}[self.measure]
        lines = [f"{title}, measure {self.measure} (k = {self.k})", ""]
        if self.k_yi > 1 and math.isnan(self.QE):  # a zero-variance study: Q undefined
            lines += ["I^2 (total heterogeneity / total variability):  NA",
                      "H^2 (total variability / sampling variability): NA", "",
                      "Test for Heterogeneity:",
                      f"Q(df = {self.k_yi - 1}) = NA, p-val NA (a per-study effect has "
                      "sampling variance 0)", ""]
        elif self.k_yi > 1:
            lines += [
                f"I^2 (total heterogeneity / total variability):  {self.I2:.2f}%",
                f"H^2 (total variability / sampling variability): {self.H2:.2f}",
                "",
                "Test for Heterogeneity:",
                f"Q(df = {self.k_yi - 1}) = {self.QE:.4f}, p-val {_pfmt(self.QEp)}",
                "",
            ]
        lines += [
            f"Model Results ({scale} scale):",
            "",
            f"{'estimate':>9} {'se':>8} {'zval':>9} {'pval':>8} {'ci.lb':>9} {'ci.ub':>9}",
            f"{self.beta[0]:9.4f} {self.se[0]:8.4f} {self.zval[0]:9.4f} "
            f"{fmt_p(self.pval[0]):>8} {self.ci_lb[0]:9.4f} {self.ci_ub[0]:9.4f}",
        ]
        if self.estimate_exp is not None:
            name = "OR" if self.measure == "PETO" else self.measure
            lines += [
                "",
                f"Model Results ({name} scale):",
                "",
                f"{'estimate':>9} {'ci.lb':>9} {'ci.ub':>9}",
                f"{self.estimate_exp:9.4f} {self.ci_lb_exp:9.4f} {self.ci_ub_exp:9.4f}",
            ]
        if self.MH is not None:
            test = "Cochran-Mantel-Haenszel Test:" if self.measure == "OR" else \
                "Mantel-Haenszel Test:"
            lines += ["", f"{test:33s}CMH = {self.MH:.4f}, df = 1, p-val {_pfmt(self.MHp)}"]
        if self.TA is not None and self.TAp is not None and self.k_pos is not None:
            lines.append(f"{'Tarone' + chr(39) + 's Test for Heterogeneity:':33s}"
                         f"X^2 = {self.TA:.4f}, df = {self.k_pos - 1}, "
                         f"p-val {_pfmt(self.TAp)}")
        lines += ["", "tau^2 = 0 (common-effect model); no prediction interval is reported."]
        lines += [f"Note: {n}" for n in self.method_info.get("notes", [])]
        return "\n".join(lines)


def _pfmt(p: float | None) -> str:
    s = fmt_p(p)
    return s if s.startswith("<") or s == "NA" else f"= {s}"


# --------------------------------------------------------------------------------------------
# argument handling
# --------------------------------------------------------------------------------------------


def _pair(value: Any, name: str) -> tuple[Any, Any]:
    """Normalise metafor's one-or-two-value arguments to a pair (2nd defaults as metafor)."""
    default2 = {"add": 0.0, "to": "none", "drop00": False}[name]
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        pair = (value, default2)
    else:
        vals = list(value)
        if len(vals) == 1:
            pair = (vals[0], default2)
        elif len(vals) == 2:
            pair = (vals[0], vals[1])
        else:
            raise InputError(f"'{name}' must be one value or a pair (first for the per-study "
                             f"effect sizes, second for the pooled estimator), got {value!r}")
    if name == "add":
        return nonnegative_number("add", pair[0]), nonnegative_number("add", pair[1])
    if name == "to":
        for v in pair:
            if v not in _TO_CHOICES:
                raise InputError(f"'to' must be one of {', '.join(_TO_CHOICES)} (or a pair of "
                                 f"them), got {v!r}")
        return pair[0], pair[1]
    for v in pair:
        if not isinstance(v, (bool, np.bool_)):
            raise InputError(f"'drop00' must be True/False (or a pair of them), got {v!r}")
    return bool(pair[0]), bool(pair[1])


def _columns(values: dict[str, Any], data: pd.DataFrame | None, slab: Any) -> dict[str, Any]:
    """The per-study numeric vectors (None where not given) and, under ``"slab"``, the study
    labels; each vector from values or a column name of ``data``, checked by
    :mod:`evsynth.validation` with the study named (missing values are reported by
    :func:`_check_count`)."""
    raw = {n: column(n, v, data) for n, v in values.items() if v is not None}
    sizes = [1 if np.ndim(v) == 0 else len(v) for v in raw.values()]
    labels = None
    if sizes and len(set(sizes)) == 1:
        labels = study_labels(slab, data, sizes[0])
    out: dict[str, Any] = {n: None for n in values}
    for n, v in raw.items():
        out[n] = numeric_vector(n, v, labels=labels, allow_missing=True)
    out["slab"] = labels
    return out


def _check_lengths(cols: dict[str, np.ndarray]) -> int:
    lengths = {n: len(v) for n, v in cols.items()}
    if len(set(lengths.values())) != 1:
        desc = ", ".join(f"{n} has {m}" for n, m in lengths.items())
        raise InputError(f"mismatched lengths: {desc}; all per-study fields must have one value "
                         f"per study")
    k = next(iter(lengths.values()))
    if k == 0:
        raise InputError("no studies supplied (all per-study fields are empty)")
    return k


def _check_count(x: np.ndarray, name: str, labels: list | None, what: str = "a count") -> None:
    """Missing, non-finite or negative values are errors; so is a count (not a person-time)
    above 2^53, which a double cannot hold as a whole number."""
    i = first_bad(np.isnan(x))
    if i is not None:
        raise InputError(f"{study_name(i, labels)}: field '{name}' is missing; expected {what} "
                         f"(studies with missing data must be removed before pooling)")
    i = first_bad(~np.isfinite(x))
    if i is not None:
        raise InputError(f"{study_name(i, labels)}: field '{name}' is {shown(x[i])}; "
                         f"expected {what}")
    i = first_bad(x < 0)
    if i is not None:
        raise InputError(f"{study_name(i, labels)}: field '{name}' is {x[i]:g}; expected {what} "
                         f">= 0")
    i = None if what == "a person-time" else first_bad(x > MAX_COUNT)
    if i is not None:
        raise InputError(f"{study_name(i, labels)}: field '{name}' is {x[i]:g}; expected {what} "
                         f"<= 2^53 ({MAX_COUNT:.0f}), the largest whole number stored exactly")


def _warn_noninteger(x: np.ndarray, name: str, labels: list | None) -> bool:
    """Warn (UserWarning) about the first non-integer count; True if a warning was issued."""
    i = first_bad(x != np.round(x))
    if i is not None:
        warnings.warn(f"{study_name(i, labels)}: field '{name}' is {x[i]:g}, not a whole number; "
                      f"counts are used as given (metafor does the same)", UserWarning,
                      stacklevel=4)
        return True
    return False


def _binary_tables(ai: Any, bi: Any, ci: Any, di: Any, n1i: Any, n2i: Any,
                   data: pd.DataFrame | None, slab: Any,
                   fn: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list | None]:
    """Validated 2x2 cell counts (ai, bi, ci, di) from either cells or (ai, n1i, ci, n2i)."""
    cols = _columns({"ai": ai, "bi": bi, "ci": ci, "di": di, "n1i": n1i, "n2i": n2i}, data,
                    slab)
    labels = cols.pop("slab")
    given = {n: v for n, v in cols.items() if v is not None}
    for req in ("ai", "ci"):
        if req not in given:
            raise InputError(f"{fn}: field '{req}' is required; give ai, bi, ci, di or ai, n1i, "
                             f"ci, n2i")
    if "bi" not in given and "n1i" not in given:
        raise InputError(f"{fn}: give either 'bi' or 'n1i' (group 1 non-events or group size)")
    if "di" not in given and "n2i" not in given:
        raise InputError(f"{fn}: give either 'di' or 'n2i' (group 2 non-events or group size)")
    _check_lengths(given)
    for n, v in given.items():
        _check_count(v, n, labels, "a count" if n not in ("n1i", "n2i") else "a group size")
    a, c = given["ai"], given["ci"]
    for ev, tot, grp in ((a, given.get("n1i"), 1), (c, given.get("n2i"), 2)):
        if tot is not None:
            i = first_bad(ev > tot)
            if i is not None:
                evn, totn = ("ai", "n1i") if grp == 1 else ("ci", "n2i")
                raise InputError(f"{study_name(i, labels)}: field '{evn}' is {ev[i]:g} but "
                                 f"'{totn}' is {tot[i]:g}; events cannot exceed the group size")
    b = given["bi"] if "bi" in given else given["n1i"] - a
    d = given["di"] if "di" in given else given["n2i"] - c
    for cell, tot, cn, tn, evn in ((b, given.get("n1i"), "bi", "n1i", "ai"),
                                   (d, given.get("n2i"), "di", "n2i", "ci")):
        if tot is not None and cn in given:
            ev = a if evn == "ai" else c
            i = first_bad(ev + cell != tot)
            if i is not None:
                raise InputError(f"{study_name(i, labels)}: field '{tn}' is {tot[i]:g} but "
                                 f"{evn} + {cn} = {ev[i] + cell[i]:g}; expected them to agree")
    for n, v in given.items():  # warn once, naming the first supplied field that is fractional
        if _warn_noninteger(v, n, labels):
            break
    for tot, tn in ((a + b, "n1i"), (c + d, "n2i")):
        i = first_bad(tot <= 0)
        if i is not None:
            raise InputError(f"{study_name(i, labels)}: field '{tn}' (group size) is 0; expected "
                             f"a positive group size")
    return a, b, c, d, labels


def _rate_tables(x1i: Any, x2i: Any, t1i: Any, t2i: Any, data: pd.DataFrame | None,
                 slab: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list | None]:
    """Validated event counts and person-times for IRR/IRD."""
    cols = _columns({"x1i": x1i, "x2i": x2i, "t1i": t1i, "t2i": t2i}, data, slab)
    labels = cols.pop("slab")
    for n, v in cols.items():
        if v is None:
            raise InputError(f"meta_mh: field '{n}' is required for person-time measures "
                             f"(give x1i, x2i, t1i, t2i)")
    _check_lengths(cols)
    for n in ("x1i", "x2i"):
        _check_count(cols[n], n, labels)
    for n in ("x1i", "x2i"):
        if _warn_noninteger(cols[n], n, labels):
            break
    for n in ("t1i", "t2i"):
        t = cols[n]
        _check_count(t, n, labels, "a person-time")
        i = first_bad(t <= 0)
        if i is not None:
            raise InputError(f"{study_name(i, labels)}: field '{n}' is {t[i]:g}; expected a "
                             f"positive person-time")
    return cols["x1i"], cols["x2i"], cols["t1i"], cols["t2i"], labels


def _add_to(cells: list[np.ndarray], add: float, to: str) -> list[np.ndarray]:
    """Add ``add`` to the cells of all / zero-cell / (if any zero) all tables (escalc's ``to``)."""
    if to == "none" or add == 0:
        return cells
    if to == "all":
        return [c + add for c in cells]
    any0 = np.zeros(len(cells[0]), dtype=bool)
    for c in cells:
        any0 |= c == 0
    if to == "only0":
        return [c + add * any0 for c in cells]
    if any0.any():  # if0all
        return [c + add for c in cells]
    return cells


# --------------------------------------------------------------------------------------------
# per-study effect sizes (delegated to evsynth.effect_size)
# --------------------------------------------------------------------------------------------


def _study_effects(measure: str, tables: dict[str, Any], add: float, to: str,
                   drop00: bool, labels: list | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-study yi, vi from :func:`evsynth.effect_size` (metafor ``escalc``), NaN where undefined.

    ``drop00`` sets yi/vi of double-zero (or double-all) studies to NaN, as escalc.
    """
    from evsynth.effects.escalc import effect_size

    res = effect_size(measure, **tables, add=add, to=to, drop00=drop00)
    yi = np.asarray(res["yi"], dtype=float)
    vi = np.asarray(res["vi"], dtype=float)
    ok = np.isfinite(yi) & np.isfinite(vi)
    return np.where(ok, yi, np.nan), np.where(ok, vi, np.nan)


def _heterogeneity(yi: np.ndarray, vi: np.ndarray, beta: float) -> tuple[float, float, float,
                                                                         float]:
    """Cochran's Q of yi around the pooled ``beta`` with weights 1/vi, and I^2 (%), H^2.

    As metafor ``rma.mh``: QE = max(0, sum((yi - beta)^2 / vi)), df = k_yi - 1, I^2 =
    max(0, 100 (QE - df) / QE), H^2 = QE / df (Higgins & Thompson 2002); with k_yi <= 1:
    QE = 0, p = 1, I^2 = 0, H^2 = 1.
    """
    kyi = len(yi)
    if kyi <= 1:
        return 0.0, 1.0, 0.0, 1.0
    qe, _ = _cochran_q(yi, vi, np.array([beta]), np.ones((1, kyi), dtype=bool))
    return _q_stats(float(qe[0]), kyi - 1)


def _cochran_q(yi: np.ndarray, vi: np.ndarray, beta: np.ndarray,
               member: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cochran's Q of the per-study effects of each set of studies (rows of the boolean
    ``member``, sets x studies) around that set's pooled ``beta``, as metafor ``rma.mh``:
    ``max(0, sum((yi - beta)^2 / vi))``, 0 with at most one effect; and each set's number of
    effects k_yi. ``yi``/``vi`` must be finite where ``member`` is set. One fit is one set;
    ``gosh()`` passes every subset at once (``diagnostics._mh.pooled_subsets``)."""
    k_yi = member.sum(axis=1)
    with np.errstate(all="ignore"):
        resid = (yi[None, :] - beta[:, None]) ** 2 / vi[None, :]
        qe = np.maximum(0.0, np.sum(np.where(member, resid, 0.0), axis=1))
    return np.where(k_yi > 1, qe, 0.0), k_yi


def _q_stats(qe: float, df: int) -> tuple[float, float, float, float]:
    qep = float(chi2_upper(qe, df))
    i2 = i2_from_q(qe, df)
    return qe, qep, i2, qe / df


# --------------------------------------------------------------------------------------------
# pooled estimators (vectorised over studies)
# --------------------------------------------------------------------------------------------


def _pooled_terms(kind: str, cells: list[np.ndarray],
                  times: list[np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Per-study terms of a pooled estimator whose sums over the pooled studies give the
    estimate, its variance and (Peto) Q: :func:`_pooled_from_sums`. A fit sums over its
    studies; ``gosh()`` sums over every subset at once (one matrix product). ``kind``: "OR",
    "RR", "RD", "IRR", "IRD" (Mantel-Haenszel) or "PETO"; ``cells`` are the tables after the
    estimator's continuity correction (a, b, c, d; or x1, x2 with ``times`` t1, t2). The
    formulas and their sources are in the docstrings of :func:`_mh_or`, :func:`_mh_rr`,
    :func:`_mh_rd`, :func:`_mh_irr`, :func:`_mh_ird` and :func:`_peto`."""
    if kind in ("IRR", "IRD"):
        assert times is not None
        x1, x2 = cells[0], cells[1]
        t1, t2 = times
        tt = t1 + t2
        if kind == "IRR":
            return {"r": x1 * (t2 / tt), "s": x2 * (t1 / tt),
                    "v": (t1 / tt) * (t2 / tt) * (x1 + x2), "x1": x1, "x2": x2}
        w = (t1 / tt) * t2
        return {"num": (x1 * t2 - x2 * t1) / tt, "w": w,
                "v": w**2 * (x1 / t1**2 + x2 / t2**2)}
    a, b, c, d = cells
    n = a + b + c + d
    n1, n2 = a + b, c + d
    if kind == "OR":
        r, s = a * d / n, b * c / n
        p, q = (a + d) / n, (b + c) / n
        return {"r": r, "s": s, "pr": p * r, "ps_qr": p * s + q * r, "qs": q * s}
    if kind == "RR":
        return {"r": a * (n2 / n), "s": c * (n1 / n),
                "v": n1 / n * (n2 / n) * (a + c) - a / n * c, "x1": a, "x2": c}
    if kind == "RD":
        return {"num": a * (n2 / n) - c * (n1 / n), "w": n1 * (n2 / n),
                "t1": c * (n1 / n) ** 2 - a * (n2 / n) ** 2 + (n1 / n) * (n2 / n) * (n2 - n1) / 2,
                "t2": a * (n2 - c) / n + c * (n1 - a) / n}
    xt, yt = a + c, b + d  # Peto
    with np.errstate(divide="ignore", invalid="ignore"):
        v = xt * yt * (n1 / n) * (n2 / n) / (n - 1)
    v = np.where(np.isfinite(v), v, 0.0)
    oe = a - xt * n1 / n
    pos = v > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        oe2v = np.where(pos, oe**2 / v, 0.0)
    return {"oe": oe, "v": v, "oe2v": oe2v, "pos": pos.astype(float)}


def _study_sums(terms: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The sums of :func:`_pooled_terms` over all the studies (one fit)."""
    return {name: np.sum(t) for name, t in terms.items()}


def _pooled_from_sums(kind: str, sums: dict[str, np.ndarray]
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(estimate, SE, not estimable) from the sums of :func:`_pooled_terms` over one or more
    sets of studies (arrays or scalars). Not estimable: the Mantel-Haenszel ratio has a zero sum
    (OR: sum a d / N or sum b c / N; RR: no events in a group; IRR: no events in a group), or
    Peto's sum of V is 0; a fit then refuses. Peto's Q is :func:`_peto_q`."""
    S = sums
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if kind == "OR":
            rs, ss = S["r"], S["s"]
            var = 0.5 * (S["pr"] / rs**2 + S["ps_qr"] / (rs * ss) + S["qs"] / ss**2)
            return np.log(rs / ss), np.sqrt(var), (rs == 0) | (ss == 0)
        if kind in ("RR", "IRR"):
            r, s = S["r"], S["s"]
            var = S["v"] / (r * s)
            se = np.sqrt(np.maximum(var, 0.0)) if kind == "RR" else np.sqrt(var)
            return np.log(r / s), se, (S["x1"] == 0) | (S["x2"] == 0)
        if kind == "RD":
            w = S["w"]
            beta = S["num"] / w
            num = beta * S["t1"] + S["t2"] / 2
            return beta, np.sqrt(np.maximum(num, 0.0) / w**2), np.zeros(np.shape(w), bool)
        if kind == "IRD":
            w = S["w"]
            return S["num"] / w, np.sqrt(S["v"]) / w, np.zeros(np.shape(w), bool)
        vs = S["v"]  # Peto
        return S["oe"] / vs, np.sqrt(1 / vs), vs == 0


def _peto_q(sums: dict[str, np.ndarray]) -> np.ndarray:
    """Peto's Q = sum((O - E)^2 / V) - (sum(O - E))^2 / sum(V) over the tables with V > 0,
    floored at 0 (metafor ``rma.peto``), from the sums of :func:`_pooled_terms`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.maximum(0.0, sums["oe2v"] - sums["oe"] ** 2 / sums["v"])


#: exp() of a ratio measure's confidence bounds must be finite
_EXP_LIMIT = math.log(np.finfo(float).max)


def _crit(alpha: float) -> float:
    """z_{alpha/2}, the critical value of a (1 - alpha) Wald CI."""
    return float(-special.ndtri(alpha / 2))


def _estimate_ok(beta: Any, se: Any) -> Any:
    """A pooled estimate a fit can report: finite, with a finite SE > 0 (scalars or arrays)."""
    return np.isfinite(se) & (se > 0) & np.isfinite(beta)


def _ci_ok(lb: Any, ub: Any, measure: str) -> Any:
    """Confidence bounds a fit can report: finite and, for ratio measures, with finite exp()
    (scalars or arrays)."""
    ok = np.isfinite(lb) & np.isfinite(ub)
    if measure in _RATIO_MEASURES:
        ok = ok & (np.maximum(np.abs(lb), np.abs(ub)) < _EXP_LIMIT)
    return ok


def _wald(beta: float, se: float, alpha: float) -> dict[str, float]:
    """Wald z test and (1 - alpha) CI: z = beta/se, p = 2(1 - Phi(|z|)), beta -/+ z_{a/2} se."""
    crit = _crit(alpha)
    z = beta / se
    return {"beta": beta, "se": se, "zval": z, "pval": float(2 * special.ndtr(-abs(z))),
            "ci_lb": beta - crit * se, "ci_ub": beta + crit * se}


def _mh_or(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray,
           correct: bool) -> dict[str, Any]:
    """Mantel-Haenszel pooled log odds ratio with tests.

    * OR_MH = sum(a d / N) / sum(b c / N) (Mantel & Haenszel 1959).
    * Var(log OR_MH) by Robins, Breslow & Greenland (1986, Biometrics 42:311), with
      P = (a + d)/N, Q = (b + c)/N, R = a d / N, S = b c / N:
      1/2 [sum(P R)/R+^2 + sum(P S + Q R)/(R+ S+) + sum(Q S)/S+^2].
    * Cochran (1954) statistic CO (hypergeometric variance with N) and Cochran-Mantel-Haenszel
      MH (N - 1; Mantel & Haenszel 1959), with the 1/2 continuity correction if ``correct``.
    * Breslow-Day (Breslow & Day 1980, sec. 4.4) statistic around OR_MH on the k_pos tables with
      fitted cell > 0 and both margins > 0, and Tarone's (1985) corrected version, df = k_pos - 1.
    Matches metafor ``rma.mh(measure="OR")`` line by line. Weights (%): S_i / S+ (RevMan MH).
    """
    n = a + b + c + d
    n1, n2 = a + b, c + d
    terms = _pooled_terms("OR", [a, b, c, d])
    sums = _study_sums(terms)
    beta, se, undefined = _pooled_from_sums("OR", sums)
    if undefined:
        rsum = float(sums["r"])
        which = ("every study has ai = 0 or di = 0 (sum of ai*di/ni is 0), so the pooled OR "
                 "would be 0") if rsum == 0 else ("every study has bi = 0 or ci = 0 (sum of "
                                                  "bi*ci/ni is 0), so the pooled OR would be "
                                                  "infinite")
        raise InputError(f"meta_mh(measure='OR'): all studies are uninformative: {which}; the "
                         f"Mantel-Haenszel odds ratio is not estimable (fields 'ai'/'bi'/'ci'/"
                         f"'di')")
    or_mh = float(sums["r"] / sums["s"])
    out: dict[str, Any] = {"beta": float(beta), "se": float(se), "weights_raw": terms["s"]}

    xt, yt = a + c, b + d
    cc = 0.5 if correct else 0.0
    dev = abs(float(np.sum(a - n1 / n * xt))) - cc
    v_co = float(np.sum(n1 / n * (n2 / n) * (xt * (yt / n))))
    v_mh = float(np.sum(n1 / n * (n2 / n) * (xt * (yt / (n - 1)))))
    out["CO"] = dev**2 / v_co
    out["COp"] = float(chi2_upper(out["CO"], 1))
    out["MH"] = dev**2 / v_mh
    out["MHp"] = float(chi2_upper(out["MH"], 1))

    with np.errstate(divide="ignore", invalid="ignore"):
        # the admissible root of (OR-1) x^2 - aa x + OR n1 xt = 0 in its rationalised form
        # 2C / (aa + sqrt(aa^2 - 4AC)): the same root without cancellation (and OR = 1 included)
        aa = or_mh * (n1 + xt) + (n2 - xt)
        bb = np.sqrt(aa**2 - 4 * n1 * xt * or_mh * (or_mh - 1))
        n11 = 2 * or_mh * n1 * xt / (aa + bb)
        pos = (n11 > 0) & (xt > 0) & (yt > 0)
        k_pos = int(pos.sum())
        e11 = n11[pos]
        e12 = n1[pos] - e11
        e21 = xt[pos] - e11
        e22 = e11 - n1[pos] - xt[pos] + n[pos]
        v_i = 1.0 / (1 / e11 + 1 / e12 + 1 / e21 + 1 / e22)
        resid = a[pos] - e11
        # a table with an expected cell of 0 has no variance and carries no information for the
        # test; keep it out instead of letting inf/NaN make the sum order-dependent
        keep = np.isfinite(v_i) & (v_i > 0) & np.isfinite(resid)
        v_i, resid = v_i[keep], resid[keep]
        k_pos = int(keep.sum())
        bd = max(0.0, float(np.sum(resid**2 / v_i)))
        sv = float(np.sum(v_i))
        ta = max(0.0, bd - float(np.sum(resid)) ** 2 / sv) if k_pos and sv > 0 else 0.0
    out.update(BD=bd, TA=ta, k_pos=k_pos,
               BDp=float(chi2_upper(bd, k_pos - 1)) if k_pos > 1 else None,
               TAp=float(chi2_upper(ta, k_pos - 1)) if k_pos > 1 else None)
    return out


def _mh_rr(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> dict[str, Any]:
    """Mantel-Haenszel pooled log risk ratio (Greenland & Robins 1985, Biometrics 41:55).

    RR_MH = sum(a n2/N) / sum(c n1/N); Var(log RR_MH) = sum(n1 n2 (a + c)/N^2 - a c/N) / (R S)
    with R = sum(a n2/N), S = sum(c n1/N). As metafor ``rma.mh(measure="RR")``.
    Weights (%): c n1 / N (RevMan MH).
    """
    terms = _pooled_terms("RR", [a, b, c, d])
    beta, se, undefined = _pooled_from_sums("RR", _study_sums(terms))
    if undefined:
        fld = "ai" if float(a.sum()) == 0 else "ci"
        grp = 1 if fld == "ai" else 2
        raise InputError(f"meta_mh(measure='RR'): all studies are uninformative: field '{fld}' "
                         f"is 0 in every study (no events in group {grp}), so the "
                         f"Mantel-Haenszel risk ratio is not estimable")
    return {"beta": float(beta), "se": float(se), "weights_raw": c / (a + b + c + d) * (a + b)}


def _mh_rd(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> dict[str, Any]:
    """Mantel-Haenszel pooled risk difference (Greenland & Robins 1985) with the Sato,
    Greenland & Robins (1989, Biometrics 45:1323) variance, as metafor ``rma.mh(measure="RD")``.

    RD_MH = sum((a n2 - c n1)/N) / W, W = sum(n1 n2 / N);
    Var = [RD_MH sum(c (n1/N)^2 - a (n2/N)^2 + (n1/N)(n2/N)(n2 - n1)/2)
           + sum(a (n2 - c)/N + c (n1 - a)/N)/2] / W^2.  Weights (%): n1 n2 / N.
    """
    terms = _pooled_terms("RD", [a, b, c, d])
    beta, se, _ = _pooled_from_sums("RD", _study_sums(terms))
    return {"beta": float(beta), "se": float(se), "weights_raw": terms["w"]}


def _mh_irr(x1: np.ndarray, x2: np.ndarray, t1: np.ndarray, t2: np.ndarray,
            correct: bool) -> dict[str, Any]:
    """Mantel-Haenszel pooled log incidence rate ratio (Greenland & Robins 1985; Rothman,
    Greenland & Lash 2008, ch. 15), as metafor ``rma.mh(measure="IRR")``.

    IRR_MH = sum(x1 t2/T) / sum(x2 t1/T); Var(log) = sum((t1/T)(t2/T)(x1 + x2)) / (R S).
    MH test (person-time): (|sum(x1 - (x1 + x2) t1/T)| - cc)^2 / sum((x1 + x2)(t1/T)(t2/T)),
    cc = 1/2 if ``correct``. Weights (%): x2 t1 / T.
    """
    tt = t1 + t2
    terms = _pooled_terms("IRR", [x1, x2], [t1, t2])
    beta, se, undefined = _pooled_from_sums("IRR", _study_sums(terms))
    if undefined:
        fld = "x1i" if float(x1.sum()) == 0 else "x2i"
        raise InputError(f"meta_mh(measure='IRR'): all studies are uninformative: field '{fld}' "
                         f"is 0 in every study, so the incidence rate ratio is not estimable")
    xt = x1 + x2
    cc = 0.5 if correct else 0.0
    mh = (abs(float(np.sum(x1 - xt * (t1 / tt)))) - cc) ** 2 / float(
        np.sum(xt * (t1 / tt) * (t2 / tt)))
    return {"beta": float(beta), "se": float(se), "MH": mh,
            "MHp": float(chi2_upper(mh, 1)), "weights_raw": x2 / tt * t1}


def _mh_ird(x1: np.ndarray, x2: np.ndarray, t1: np.ndarray, t2: np.ndarray) -> dict[str, Any]:
    """Mantel-Haenszel pooled incidence rate difference (Greenland & Robins 1985), as metafor
    ``rma.mh(measure="IRD")``: IRD = sum((x1 t2 - x2 t1)/T) / W, W = sum(t1 t2/T),
    Var = sum((t1 t2/T)^2 (x1/t1^2 + x2/t2^2)) / W^2. Weights (%): t1 t2 / T.
    """
    terms = _pooled_terms("IRD", [x1, x2], [t1, t2])
    beta, se, _ = _pooled_from_sums("IRD", _study_sums(terms))
    return {"beta": float(beta), "se": float(se), "weights_raw": terms["w"]}


def _peto(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> dict[str, Any]:
    """Peto's one-step pooled log odds ratio (Yusuf, Peto, Lewis, Collins & Sleight 1985; Cochrane
    Handbook v6.4 sec. 10.4.4.2), as metafor ``rma.peto``.

    O - E = a - (a + c) n1/N, V = (a + c)(b + d) n1 n2 / (N^2 (N - 1)) (hypergeometric variance);
    log OR = sum(O - E) / sum(V), se = 1/sqrt(sum V). Heterogeneity:
    Q = sum((O - E)^2 / V) - (sum(O - E))^2 / sum(V) over tables with V > 0. Weights (%): V.
    """
    terms = _pooled_terms("PETO", [a, b, c, d])
    sums = _study_sums(terms)
    beta, se, undefined = _pooled_from_sums("PETO", sums)
    if undefined:
        raise InputError("meta_peto: all studies are uninformative: one of the two outcomes "
                         "never occurs in any table (fields 'ai'+'ci' or 'bi'+'di' are 0 in "
                         "every study), so Peto's method cannot be used")
    return {"beta": float(beta), "se": float(se), "weights_raw": terms["v"],
            "QE_peto": float(_peto_q(sums)), "k_pos": int(sums["pos"])}


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def _double_zero(cells: list[np.ndarray], rates: bool) -> np.ndarray:
    if rates:
        return (cells[0] == 0) & (cells[1] == 0)
    a, b, c, d = cells
    return ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))


def _raise_not_representable(fn: str, what: str, supplied: dict[str, np.ndarray],
                             labels: list | None, strict: bool = False) -> None:
    """InputError for data whose Mantel-Haenszel / Peto computations leave the floating-point
    range, naming the study and field with the value farthest from 1 (largest |log x| over the
    positive counts and person-times). With ``strict`` it only raises when that value lies
    outside 1e-8 .. 1e8 (else the caller reports the data as uninformative)."""
    best, where = -1.0, None
    for name, x in supplied.items():
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore"):
            dist = np.where(x > 0, np.abs(np.log10(np.where(x > 0, x, 1.0))), -1.0)
        i = int(np.argmax(dist))
        if dist[i] > best:
            best, where = float(dist[i]), (name, i, float(x[i]))
    if strict and (where is None or best <= 8):
        return
    if where is None:
        raise InputError(f"{fn}: {what} is not finite for these data")
    name, i, val = where
    raise InputError(f"{fn}: {study_name(i, labels)}: field '{name}' is {val:g}; {what} is not "
                     "finite: the computations overflow or underflow for counts or person-times "
                     "this far from 1 (check the data: counts are whole numbers of events or "
                     "participants)")


def _fit(method: str, measure: str, cells: list[np.ndarray], times: list[np.ndarray] | None,
         labels: list | None, add: Any, to: Any, drop00: Any, correct: bool,
         level: Any) -> MHResult:
    add2, to2, drop2 = _pair(add, "add"), _pair(to, "to"), _pair(drop00, "drop00")
    alpha = 1 - level_fraction(level)
    if not isinstance(correct, (bool, np.bool_)):
        raise InputError(f"'correct' must be True or False, got {correct!r}")
    rates = times is not None
    k_all = len(cells[0])
    names = labels if labels is not None else list(range(1, k_all + 1))

    # tables for the pooled estimator (second element)
    dz = _double_zero(cells, rates)
    in_model = ~dz if drop2[1] else np.ones(k_all, dtype=bool)
    k = int(in_model.sum())
    if k == 0:
        raise InputError(f"{'meta_peto' if method == 'PETO' else 'meta_mh'}: all {k_all} "
                         f"studies have no events (or only events) in both groups and "
                         f"drop00[1] is True, so no study is left (k = 0)")
    mcells = _add_to([x[in_model] for x in cells], add2[1], to2[1])

    fn = f"{'meta_peto' if method == 'PETO' else 'meta_mh'}(measure={measure!r})"
    supplied = dict(zip(("x1i", "x2i") if rates else ("ai", "bi", "ci", "di"), cells,
                        strict=False))
    # person-times of the tables in the model (IRR, IRD)
    mtimes = [] if times is None else [t[in_model] for t in times]
    if times is not None:
        supplied.update(t1i=times[0], t2i=times[1])
    try:
        with np.errstate(all="ignore"):
            if method == "PETO":
                fit = _peto(*mcells)
            elif measure == "OR":
                fit = _mh_or(mcells[0], mcells[1], mcells[2], mcells[3], correct=bool(correct))
            elif measure == "RR":
                fit = _mh_rr(*mcells)
            elif measure == "RD":
                fit = _mh_rd(*mcells)
            elif measure == "IRR":
                fit = _mh_irr(mcells[0], mcells[1], mtimes[0], mtimes[1], correct=bool(correct))
            else:
                fit = _mh_ird(mcells[0], mcells[1], mtimes[0], mtimes[1])
    except (ArithmeticError, ValueError) as exc:  # math.log(0), float overflow, x / 0.0
        if isinstance(exc, InputError):
            raise
        _raise_not_representable(fn, "the pooled estimate", supplied, labels)
    if not _estimate_ok(fit["beta"], fit["se"]):
        _raise_not_representable(fn, "the pooled estimate", supplied, labels, strict=True)
        raise InputError(f"{fn}: the pooled estimate has standard error {fit['se']!r}; the data "
                         "are uninformative (e.g. no events, or only events, in every study)")

    wald = _wald(fit["beta"], fit["se"], alpha)
    if not _ci_ok(wald["ci_lb"], wald["ci_ub"], measure):
        _raise_not_representable(fn, "the confidence interval", supplied, labels)

    # per-study effect sizes (first element of add/to/drop00), after the pooled estimator so that
    # uninformative data are reported by the estimator's own message
    if times is not None:
        tables = {"x1i": cells[0], "x2i": cells[1], "t1i": times[0], "t2i": times[1]}
    else:
        tables = {"ai": cells[0], "bi": cells[1], "ci": cells[2], "di": cells[3]}
    es_measure = "PETO" if method == "PETO" else measure
    yi_f, vi_f = _study_effects(es_measure, tables, add2[0], to2[0], drop2[0], labels)
    in_q = np.isfinite(yi_f)
    yi, vi = yi_f[in_q], vi_f[in_q]
    k_yi = int(in_q.sum())
    # studies whose per-study effect has sampling variance 0 (risk or rate difference without a
    # continuity correction where both groups have no events, or only events: yi = 0 or +-1,
    # vi = 0 exactly): the inverse-variance weight 1/vi is infinite and Cochran's Q undefined.
    # The MH / Peto estimate and its variance do not use Q, so they are reported; QE, QEp, I2,
    # H2 are NaN (metafor's rma.mh reports QE = Inf, QEp = 0, I2 = NaN, H2 = Inf here).
    zero_v = [names[i] for i in np.flatnonzero(in_q & (vi_f == 0))]
    if method == "PETO":
        # metafor rma.peto: Q from (O - E) and V, df = k_yi - 1, applied when k_pos > 1
        if fit["k_pos"] > 1 and k_yi > 1:
            qe, qep, i2, h2 = _q_stats(fit["QE_peto"], k_yi - 1)
        else:
            qe, qep, i2, h2 = fit["QE_peto"], 1.0, 0.0, 1.0
    elif zero_v and k_yi > 1:
        qe = qep = i2 = h2 = math.nan
    else:
        with np.errstate(all="ignore"):
            qe, qep, i2, h2 = _heterogeneity(yi, vi, fit["beta"])
    if not math.isfinite(qe) and not (zero_v and method != "PETO"):
        _raise_not_representable(fn, "Cochran's Q", supplied, labels)

    wraw = np.asarray(fit["weights_raw"], dtype=float)
    weights = 100 * wraw / wraw.sum()
    weight_full = np.full(k_all, np.nan)
    weight_full[in_model] = weights
    studies = pd.DataFrame({"slab": names, "yi": yi_f, "vi": vi_f, "weight": weight_full,
                            "in_model": in_model, "in_q": in_q})

    dropped_model = [names[i] for i in np.flatnonzero(~in_model)]
    excluded_q = [names[i] for i in np.flatnonzero(~in_q)]
    dz_label = ("no events in both groups" if rates else
                "no events (or only events) in both groups")
    info: dict[str, Any] = {
        "method": "Peto" if method == "PETO" else "Mantel-Haenszel",
        "measure": measure,
        "model": "common-effect (equal-effects), tau2 = 0",
        "add": list(add2), "to": list(to2), "drop00": list(drop2),
        "correct": bool(correct) if method == "MH" and measure in ("OR", "IRR") else None,
        "level": 100 * (1 - alpha),
        "variance_estimator": _VARIANCE_NAMES["PETO" if method == "PETO" else measure],
        "per_study_effects": f"evsynth.effect_size(measure={es_measure!r}, add={add2[0]}, "
                             f"to={to2[0]!r}, drop00={drop2[0]})",
        "k_all": k_all, "k": k, "k_yi": k_yi,
        "n_dropped_from_model": len(dropped_model),
        "dropped_from_model": dropped_model,
        "dropped_from_model_reason": (f"{dz_label} (drop00[1] = True)" if dropped_model
                                      else None),
        "n_excluded_from_q": len(excluded_q),
        "excluded_from_q": excluded_q,
        "excluded_from_q_reason": (f"per-study effect not computable: {dz_label} "
                                   f"(drop00[0] = {drop2[0]}) or zero cells without a "
                                   f"continuity correction" if excluded_q else None),
        "heterogeneity": ("Q = sum((O-E)^2/V) - (sum(O-E))^2/sum(V)" if method == "PETO" else
                          "Cochran's Q of per-study yi (weights 1/vi) around the pooled "
                          "estimate"),
        "weights": "percent of " + {"PETO": "V_i", "OR": "b*c/N", "RR": "c*n1/N",
                                    "RD": "n1*n2/N", "IRR": "x2*t1/T",
                                    "IRD": "t1*t2/T"}["PETO" if method == "PETO" else measure],
        "prediction_interval": "none (common-effect model, tau2 = 0)",
        "reference": "metafor::rma.peto" if method == "PETO" else "metafor::rma.mh",
        "zero_variance_studies": zero_v,
        "notes": [],
    }
    if zero_v and method != "PETO" and k_yi > 1:
        cause = ("no events in either group, no continuity correction" if rates else
                 "no events or only events in each group, no continuity correction")
        info["heterogeneity"] += "; undefined (QE, QEp, I2, H2 = NaN): zero sampling variance"
        info["notes"].append(
            f"per-study effect with sampling variance 0 ({cause}): "
            f"{', '.join(str(x) for x in zero_v)}; its inverse-variance weight is infinite, "
            f"so Cochran's Q, I^2 and H^2 are undefined (NaN; metafor: QE = Inf, I2 = NaN); "
            f"the pooled estimate and its SE do not depend on Q")
    return MHResult(
        measure=measure, method=method, k=k, k_yi=k_yi, k_all=k_all,
        k_pos=fit.get("k_pos"), level=100 * (1 - alpha),
        QE=qe, QEp=qep, I2=i2, H2=h2, yi=yi, vi=vi, weights=weights,
        slab=[names[i] for i in np.flatnonzero(in_model)],
        slab_yi=[names[i] for i in np.flatnonzero(in_q)],
        studies=studies, method_info=info,
        CO=fit.get("CO"), COp=fit.get("COp"), MH=fit.get("MH"), MHp=fit.get("MHp"),
        BD=fit.get("BD"), BDp=fit.get("BDp"), TA=fit.get("TA"), TAp=fit.get("TAp"),
        tables={name: np.asarray(col, dtype=float).copy() for name, col in tables.items()},
        beta=np.atleast_1d(wald["beta"]), se=np.atleast_1d(wald["se"]),
        zval=np.atleast_1d(wald["zval"]), pval=np.atleast_1d(wald["pval"]),
        ci_lb=np.atleast_1d(wald["ci_lb"]), ci_ub=np.atleast_1d(wald["ci_ub"]),
    )


def meta_mh(measure: str, ai: Any = None, bi: Any = None, ci: Any = None, di: Any = None,
            n1i: Any = None, n2i: Any = None, *, x1i: Any = None, x2i: Any = None,
            t1i: Any = None, t2i: Any = None, data: pd.DataFrame | None = None,
            slab: Any = None, add: float | Sequence[float] = 1 / 2,
            to: str | Sequence[str] = "only0", drop00: bool | Sequence[bool] = True,
            correct: bool = True, level: float = 95) -> MHResult:
    """Mantel-Haenszel common-effect meta-analysis (metafor ``rma.mh``).

    Pools 2x2 tables (odds ratio, risk ratio, risk difference) or person-time data (incidence
    rate ratio and difference) with Mantel-Haenszel weights (Mantel & Haenszel 1959); the
    variance of the log odds ratio is that of Robins, Breslow & Greenland (1986), those of the
    other measures follow Greenland & Robins (1985). For OR and IRR the result also holds the
    (Cochran-)Mantel-Haenszel test and, for OR, Tarone's test for heterogeneity.

    Parameters
    ----------
    measure : {"OR", "RR", "RD", "IRR", "IRD"}
        Effect measure (case-insensitive). OR, RR, RD take 2x2 tables, IRR and IRD
        person-time data.
    ai, bi, ci, di : array_like or str, optional
        Cells of the 2x2 tables: events and non-events in group 1 (treatment/exposed: ``ai``,
        ``bi``) and in group 2 (``ci``, ``di``).
    n1i, n2i : array_like or str, optional
        Group sizes, instead of ``bi`` and ``di``.
    x1i, x2i, t1i, t2i : array_like or str, optional
        Events and person-times in groups 1 and 2 (IRR, IRD).
    data : pandas.DataFrame, optional
        Any per-study argument (and ``slab``) may then be a column name.
    slab : array_like or str, optional
        Study labels (used in the study table and in error messages).
    add, to, drop00 : float, str, bool or a pair of them
        Continuity correction (one value, or a pair: first for the per-study ``yi``/``vi``,
        second for the pooled estimator; defaults ``(1/2, 0)``, ``("only0", "none")``,
        ``(True, False)`` as metafor). See the module docstring.
    correct : bool, default True
        Continuity correction of 1/2 in the (C)MH test (OR, IRR).
    level : float, default 95
        Confidence level in percent (95) or as a fraction (0.95).

    Returns
    -------
    MHResult
        The fit: ``beta``, ``estimate``, ``se``, ``ci_lb``, ``ci_ub``, ``pval`` on the log scale
        for OR/RR/IRR (raw for RD/IRD), exponentiated ``estimate_exp``, ``ci_lb_exp``,
        ``ci_ub_exp`` for ratio measures, heterogeneity ``QE``, ``QEp``, ``I2``, ``H2``, the
        per-study ``yi``/``vi``; ``summary()`` prints as metafor. When a per-study effect has
        sampling variance 0 (RD with no events or only events in each group, IRD with no
        events, RR with only events in both groups, all without continuity correction:
        ``add=0``, ``drop00=False``), Cochran's Q is undefined (an infinite weight 1/vi):
        ``QE``, ``QEp``, ``I2``, ``H2`` are NaN (metafor: QE = Inf, QEp = 0, I2 = NaN,
        H2 = Inf), ``method_info["zero_variance_studies"]`` names the studies and
        ``method_info["notes"]`` says so; the MH estimate and its SE do not use Q and are
        reported as usual.

    Raises
    ------
    InputError
        For an unknown measure, arguments of the other data type, or a count that is not a
        non-negative number (the message names the study and the field).

    See Also
    --------
    meta_peto : Peto's one-step odds ratio.
    meta : inverse-variance (equal-, random- and mixed-effects) models.

    References
    ----------
    .. [1] Mantel N, Haenszel W (1959). Statistical aspects of the analysis of data from
           retrospective studies of disease. *J Natl Cancer Inst* 22(4):719-748.
           doi:10.1093/jnci/22.4.719
    .. [2] Robins J, Breslow N, Greenland S (1986). Estimators of the Mantel-Haenszel variance
           consistent in both sparse data and large-strata limiting models. *Biometrics*
           42(2):311-323. doi:10.2307/2531052
    .. [3] Greenland S, Robins JM (1985). Estimation of a common effect parameter from sparse
           follow-up data. *Biometrics* 41(1):55-68. doi:10.2307/2530643
    .. [4] Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package.
           *J Stat Softw* 36(3):1-48. doi:10.18637/jss.v036.i03

    Examples
    --------
    The BCG vaccine trials (metafor's ``dat.bcg``): tuberculosis cases and non-cases among
    vaccinated and unvaccinated participants.

    >>> import evsynth
    >>> tpos = [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27]
    >>> tneg = [119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886]
    >>> cpos = [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29]
    >>> cneg = [128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825]
    >>> res = evsynth.meta_mh("OR", ai=tpos, bi=tneg, ci=cpos, di=cneg)
    >>> round(res.estimate, 4), res.se.round(4)
    (-0.4734, array([0.041]))
    >>> round(res.estimate_exp, 4), round(res.ci_lb_exp, 4), round(res.ci_ub_exp, 4)
    (0.6229, 0.5748, 0.675)
    >>> round(res.QE, 2), res.k
    (163.94, 13)
    """
    measure = mh_measure(measure)
    data = as_frame(data)
    if measure in ("IRR", "IRD"):
        extra = [n for n, v in (("ai", ai), ("bi", bi), ("ci", ci), ("di", di), ("n1i", n1i),
                                ("n2i", n2i)) if v is not None]
        if extra:
            raise InputError(f"meta_mh(measure={measure!r}): person-time measures take x1i, x2i, "
                             f"t1i, t2i, not {', '.join(extra)}")
        x1, x2, t1, t2, labels = _rate_tables(x1i, x2i, t1i, t2i, data, slab)
        return _fit("MH", measure, [x1, x2], [t1, t2], labels, add, to, drop00, correct, level)
    extra = [n for n, v in (("x1i", x1i), ("x2i", x2i), ("t1i", t1i), ("t2i", t2i))
             if v is not None]
    if extra:
        raise InputError(f"meta_mh(measure={measure!r}): 2x2-table measures take ai, bi, ci, di "
                         f"(or ai, n1i, ci, n2i), not {', '.join(extra)}")
    a, b, c, d, labels = _binary_tables(ai, bi, ci, di, n1i, n2i, data, slab, "meta_mh")
    return _fit("MH", measure, [a, b, c, d], None, labels, add, to, drop00, correct, level)


def meta_peto(ai: Any = None, bi: Any = None, ci: Any = None, di: Any = None, n1i: Any = None,
              n2i: Any = None, *, data: pd.DataFrame | None = None, slab: Any = None,
              add: float | Sequence[float] = 1 / 2, to: str | Sequence[str] = "only0",
              drop00: bool | Sequence[bool] = True, level: float = 95) -> MHResult:
    """Peto's one-step common-effect odds ratio (metafor ``rma.peto``).

    The pooled log odds ratio is ``sum(O - E) / sum(V)`` over the 2x2 tables, with ``O - E``
    the observed minus expected events in group 1 and ``V`` the hypergeometric variance
    (Yusuf et al. 1985). ``add``/``to``/``drop00`` (first element) only affect the per-study
    Peto log odds ratios ``yi``/``vi``; the pooled estimate and Q use the raw tables.

    Parameters
    ----------
    ai, bi, ci, di : array_like or str, optional
        Cells of the 2x2 tables: events and non-events in group 1 (``ai``, ``bi``) and in
        group 2 (``ci``, ``di``).
    n1i, n2i : array_like or str, optional
        Group sizes, instead of ``bi`` and ``di``.
    data : pandas.DataFrame, optional
        Any per-study argument (and ``slab``) may then be a column name.
    slab : array_like or str, optional
        Study labels.
    add, to, drop00 : float, str, bool or a pair of them
        Continuity correction of the per-study ``yi``/``vi`` (as :func:`meta_mh`).
    level : float, default 95
        Confidence level in percent (95) or as a fraction (0.95).

    Returns
    -------
    MHResult
        The fit with ``measure`` "PETO": ``beta`` (the pooled log odds ratio), ``se``,
        ``ci_lb``, ``ci_ub``, ``pval``, ``estimate_exp`` and its CI on the odds-ratio scale,
        ``QE``, ``QEp``, ``I2``; ``summary()`` prints as metafor.

    Raises
    ------
    InputError
        For a count that is not a non-negative number (naming the study and the field).

    See Also
    --------
    meta_mh : Mantel-Haenszel pooling.

    References
    ----------
    .. [1] Yusuf S, Peto R, Lewis J, Collins R, Sleight P (1985). Beta blockade during and
           after myocardial infarction: an overview of the randomized trials. *Prog Cardiovasc
           Dis* 27(5):335-371. doi:10.1016/S0033-0620(85)80003-7
    .. [2] Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package.
           *J Stat Softw* 36(3):1-48. doi:10.18637/jss.v036.i03

    Examples
    --------
    >>> import evsynth
    >>> tpos = [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27]
    >>> tneg = [119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886]
    >>> cpos = [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29]
    >>> cneg = [128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825]
    >>> res = evsynth.meta_peto(ai=tpos, bi=tneg, ci=cpos, di=cneg)
    >>> round(res.estimate, 4), round(res.estimate_exp, 4)
    (-0.4744, 0.6222)
    """
    data = as_frame(data)
    a, b, c, d, labels = _binary_tables(ai, bi, ci, di, n1i, n2i, data, slab, "meta_peto")
    return _fit("PETO", "PETO", [a, b, c, d], None, labels, add, to, drop00, False, level)
