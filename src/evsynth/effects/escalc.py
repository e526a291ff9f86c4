"""Effect sizes and their sampling variances: the Python counterpart of metafor's ``escalc``.

:func:`effect_size` takes per-study summary data (counts, means and SDs, correlations, rates,
or a reported estimate with its SE / CI / P value) and returns one row per study with the effect
``yi``, its sampling variance ``vi`` and standard error ``sei``. Argument names and measure codes
follow ``metafor::escalc`` (Viechtbauer 2010, J Stat Softw 36(3); metafor 3.8-1 documentation of
``escalc``), which is the numerical reference of the test suite.

Every measure is a row of :data:`MEASURES`: a *family* (which inputs it reads and how they are
validated and continuity-corrected) plus one small formula function. Each formula exists once
(e.g. the standardised mean difference is :func:`smd`, used by ``SMD`` and ``SMD_CHANGE``; the
small-sample correction is :func:`hedges_correction`, used by every standardised measure).

All computations are vectorised over studies. A study gets ``NaN`` only where metafor gives ``NA``
(missing input, an excluded double-zero study, an undefined value) and the reason is always written
to the ``note`` column; bad input raises :class:`evsynth.errors.InputError` naming the study and
the field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from evsynth.effects.conversions import sd_change, se_from_ci, se_from_p
from evsynth.errors import (
    InputError,
    first_bad,
    nonnegative_number,
    study_name,
)
from evsynth.validation import (
    as_array,
    as_frame,
    choice,
    column,
    flag,
    level_fraction,
    numeric_vector,
    study_labels,
)

__all__ = ["MEASURES", "Measure", "effect_size", "hedges_correction", "measures", "smd"]

Arr = np.ndarray
#: value of ``to`` implementing the RevMan 5 zero-cell rule (see :func:`effect_size`)
REVMAN = "revman"
_TO = ("only0", "all", "if0all", "none", REVMAN)


# =========================================================================== shared formulas


def hedges_correction(m: Arr | float) -> Arr:
    """Exact small-sample bias correction ``c(m)`` of a standardised mean difference.

    ``c(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2))``, computed on the log scale as
    ``exp(lgamma(m/2) - log(sqrt(m/2)) - lgamma((m-1)/2))`` (Hedges 1981, J Educ Stat 6:107, eq.
    6e; metafor's internal ``.cmicalc``). ``m`` is the degrees of freedom (``n1 + n2 - 2`` for two
    groups, ``n - 1`` for one group); ``NaN`` where ``m <= 1``. Dimensionless. The log-gamma
    difference loses about ``eps * m log(m)`` to rounding (relative 3e-10 at m = 1e6), as in
    metafor.
    """
    m = np.asarray(m, dtype=float)
    with np.errstate(all="ignore"):
        c = np.exp(special.gammaln(m / 2) - np.log(np.sqrt(m / 2)) - special.gammaln((m - 1) / 2))
    return np.where(m > 1, c, np.nan)


def _wmean(x: Arr, w: Arr) -> float:
    """Weighted mean over the studies where both ``x`` and ``w`` are finite (metafor ``.wmean``
    with ``na.rm=TRUE``); used by the ``AV`` variance types. Unlike metafor, a 2x2 study with a
    missing cell (or dropped by ``drop00``) is left out of both groups' means, not only the
    group with the missing value."""
    ok = np.isfinite(x) & np.isfinite(w)
    if not ok.any():
        return np.nan
    return float(np.sum(x[ok] * w[ok]) / np.sum(w[ok]))


def _pooled_sd(sd1: Arr, sd2: Arr, n1: Arr, n2: Arr) -> Arr:
    """Pooled within-group SD ``sqrt(((n1-1) sd1^2 + (n2-1) sd2^2) / (n1+n2-2))`` (Cochrane
    Handbook v6.4, section 6.5.1.2; metafor ``escalc`` ``sdpi``). Units of the SDs."""
    return np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / (n1 + n2 - 2))


def smd(m1: Arr, m2: Arr, sd1: Arr, sd2: Arr, n1: Arr, n2: Arr, vtype: str = "LS",
        correct: bool = True) -> tuple[Arr, Arr]:
    """Standardised mean difference (Hedges' g) of group 1 minus group 2 and its variance.

    ``d = (m1 - m2) / s_pooled`` (:func:`_pooled_sd`), ``g = c(m) d`` with the exact correction
    :func:`hedges_correction`, ``m = n1 + n2 - 2``, ``N = n1 + n2`` (Hedges 1981; Borenstein et al.
    2009, Introduction to Meta-Analysis, ch. 4). Variances (metafor ``escalc`` ``vtype``):

    * ``LS``  (default) ``1/n1 + 1/n2 + g^2 / (2N)`` (Hedges 1982; metafor default);
    * ``LS2`` ``c^2 (1/n1 + 1/n2 + d^2 / (2N))`` (Borenstein 2009, eq. 4.20 and 4.24);
    * ``UB``  ``1/n1 + 1/n2 + (1 - (m-2) / (m c^2)) g^2``, the unbiased estimator (Hedges 1983);
    * ``AV``  ``1/n1 + 1/n2 + gbar^2 / (2N)``, ``gbar`` the N-weighted mean of g over the studies
      (Hedges & Olkin 1985);
    * ``RM5`` RevMan 5: ``g = (1 - 3/(4N - 9)) d`` (the approximate correction) and
      ``var = N/(n1 n2) + g^2 / (2 (N - 3.94))`` (Deeks & Higgins 2010, *Statistical algorithms
      in Review Manager 5*, section "Standardized mean difference").

    ``correct=False`` gives Cohen's d (no correction; as metafor >= 4.0 ``correct=FALSE``).
    Dimensionless.
    """
    big_n = n1 + n2
    m = big_n - 2
    d = (m1 - m2) / _pooled_sd(sd1, sd2, n1, n2)
    if vtype == "RM5":
        g = (1 - 3 / (4 * big_n - 9)) * d if correct else d
        return g, big_n / (n1 * n2) + g**2 / (2 * (big_n - 3.94))
    c = hedges_correction(m) if correct else np.ones_like(d)
    g = c * d
    base = 1 / n1 + 1 / n2
    if vtype == "LS":
        v = base + g**2 / (2 * big_n)
    elif vtype == "LS2":
        v = c**2 * (base + d**2 / (2 * big_n))
    elif vtype == "UB":
        v = base + (1 - (m - 2) / (m * c**2)) * g**2
    elif vtype == "AV":
        v = base + _wmean(g, big_n) ** 2 / (2 * big_n)
    else:  # pragma: no cover - vtype is validated against the measure table
        raise InputError(f"unknown vtype {vtype!r} for a standardised mean difference")
    return g, v


# =========================================================================== 2x2 tables


def log_odds_ratio(a: Arr, b: Arr, c: Arr, d: Arr) -> tuple[Arr, Arr]:
    """Log odds ratio ``log(a d / (b c))`` and Woolf's variance ``1/a + 1/b + 1/c + 1/d``
    (Woolf 1955; Cochrane Handbook v6.4 section 10.4.1; metafor ``OR``). Counts: events and
    non-events in group 1 (a, b) and group 2 (c, d)."""
    p1, p2 = a / (a + b), c / (c + d)
    return np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2)), 1 / a + 1 / b + 1 / c + 1 / d


def log_risk_ratio(a: Arr, b: Arr, c: Arr, d: Arr) -> tuple[Arr, Arr]:
    """Log risk ratio ``log((a/n1) / (c/n2))``, variance ``1/a - 1/n1 + 1/c - 1/n2`` (Katz et al.
    1978; metafor ``RR``)."""
    n1, n2 = a + b, c + d
    return np.log(a / n1) - np.log(c / n2), 1 / a - 1 / n1 + 1 / c - 1 / n2


def risk_difference(a: Arr, b: Arr, c: Arr, d: Arr, vtype: str = "LS") -> tuple[Arr, Arr]:
    """Risk difference ``a/n1 - c/n2`` (metafor ``RD``). Variance ``p(1-p)/n`` summed over groups
    (``LS``), with ``n - 1`` (``UB``), or with the n-weighted mean risk of each group over all
    studies in place of ``p`` (``AV``) (metafor ``escalc``; Cochrane Handbook section 10.4.1)."""
    n1, n2 = a + b, c + d
    p1, p2 = a / n1, c / n2
    if vtype == "UB":
        v = p1 * (1 - p1) / (n1 - 1) + p2 * (1 - p2) / (n2 - 1)
    elif vtype == "AV":
        q1, q2 = _wmean(p1, n1), _wmean(p2, n2)
        v = q1 * (1 - q1) / n1 + q2 * (1 - q2) / n2
    else:
        v = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    return p1 - p2, v


def peto_log_odds_ratio(a: Arr, b: Arr, c: Arr, d: Arr) -> tuple[Arr, Arr]:
    """Peto's one-step log odds ratio ``(O - E) / V`` with variance ``1 / V``, where ``E = (a+c)
    n1 / N`` and ``V = (a+c)(b+d) n1 n2 / (N^2 (N-1))`` (Yusuf et al. 1985, Prog Cardiovasc Dis
    27:335; Cochrane Handbook section 10.4.4.2; metafor ``PETO``)."""
    n1, n2 = a + b, c + d
    n = n1 + n2
    events, nonevents = a + c, b + d
    e = events * n1 / n
    v = events * nonevents * (n1 / n) * (n2 / n) / (n - 1)
    return (a - e) / v, 1 / v


def arcsine_difference(a: Arr, b: Arr, c: Arr, d: Arr) -> tuple[Arr, Arr]:
    """Arcsine square-root risk difference ``asin(sqrt(p1)) - asin(sqrt(p2))``, variance
    ``1/(4 n1) + 1/(4 n2)`` (Rücker et al. 2009, Stat Med 28:721; metafor ``AS``)."""
    n1, n2 = a + b, c + d
    return (np.arcsin(np.sqrt(a / n1)) - np.arcsin(np.sqrt(c / n2)),
            1 / (4 * n1) + 1 / (4 * n2))


# =========================================================================== rates


def log_rate_ratio(x1: Arr, x2: Arr, t1: Arr, t2: Arr) -> tuple[Arr, Arr]:
    """Log incidence rate ratio ``log((x1/t1) / (x2/t2))``, variance ``1/x1 + 1/x2``
    (Rothman, Greenland & Lash 2008, Modern Epidemiology ch. 14; metafor ``IRR``)."""
    return np.log(x1 / t1) - np.log(x2 / t2), 1 / x1 + 1 / x2


def rate_difference(x1: Arr, x2: Arr, t1: Arr, t2: Arr) -> tuple[Arr, Arr]:
    """Incidence rate difference ``x1/t1 - x2/t2``, variance ``x1/t1^2 + x2/t2^2`` (Rothman,
    Greenland & Lash 2008; metafor ``IRD``). Units: events per unit of person-time."""
    r1, r2 = x1 / t1, x2 / t2
    return r1 - r2, r1 / t1 + r2 / t2


def log_rate(x: Arr, t: Arr) -> tuple[Arr, Arr]:
    """Log incidence rate ``log(x/t)``, variance ``1/x`` (metafor ``IRLN``)."""
    return np.log(x / t), 1 / x


# =========================================================================== proportions


def proportion(x: Arr, m: Arr, vtype: str = "LS") -> tuple[Arr, Arr]:
    """Raw proportion ``x/n`` with variance ``p(1-p)/n`` (``LS``), ``/(n-1)`` (``UB``) or with the
    n-weighted mean proportion ``pbar`` (``AV``) (metafor ``PR``). ``m`` = non-events."""
    n = x + m
    p = x / n
    if vtype == "UB":
        return p, p * (1 - p) / (n - 1)
    if vtype == "AV":
        q = _wmean(p, n)
        return p, q * (1 - q) / n
    return p, p * (1 - p) / n


def logit_proportion(x: Arr, m: Arr, vtype: str = "LS") -> tuple[Arr, Arr]:
    """Logit proportion ``log(x/m)``, variance ``1/x + 1/m`` (``LS``) or ``1/(pbar n) +
    1/((1-pbar) n)`` (``AV``) (metafor ``PLO``)."""
    n = x + m
    p = x / n
    y = np.log(p / (1 - p))
    if vtype == "AV":
        q = _wmean(p, n)
        return y, 1 / (q * n) + 1 / ((1 - q) * n)
    return y, 1 / x + 1 / m


def arcsine_proportion(x: Arr, m: Arr) -> tuple[Arr, Arr]:
    """Arcsine square-root proportion ``asin(sqrt(x/n))``, variance ``1/(4n)`` (Anscombe 1948;
    metafor ``PAS``)."""
    n = x + m
    return np.arcsin(np.sqrt(x / n)), 1 / (4 * n)


def freeman_tukey_proportion(x: Arr, m: Arr) -> tuple[Arr, Arr]:
    """Freeman-Tukey double arcsine ``(asin(sqrt(x/(n+1))) + asin(sqrt((x+1)/(n+1)))) / 2``,
    variance ``1/(4n + 2)`` (Freeman & Tukey 1950, Ann Math Stat 21:607; metafor ``PFT``)."""
    n = x + m
    y = 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))
    return y, 1 / (4 * n + 2)


# =========================================================================== continuous


def mean_difference(m1: Arr, m2: Arr, sd1: Arr, sd2: Arr, n1: Arr, n2: Arr,
                    vtype: str = "LS") -> tuple[Arr, Arr]:
    """Raw mean difference ``m1 - m2``; variance ``sd1^2/n1 + sd2^2/n2`` (``LS``/``UB``, unequal
    variances) or ``s_pooled^2 (1/n1 + 1/n2)`` (``HO``) (Cochrane Handbook section 6.5.1.2;
    metafor ``MD``). Units of the means (variance: squared)."""
    if vtype == "HO":
        return m1 - m2, _pooled_sd(sd1, sd2, n1, n2) ** 2 * (1 / n1 + 1 / n2)
    return m1 - m2, sd1**2 / n1 + sd2**2 / n2


def smd_heteroscedastic(m1: Arr, m2: Arr, sd1: Arr, sd2: Arr, n1: Arr, n2: Arr,
                        correct: bool = True) -> tuple[Arr, Arr]:
    """SMD standardised by ``sqrt((sd1^2 + sd2^2)/2)`` without assuming equal variances, with
    Bonett's variance (Bonett 2008, Psychol Methods 13:99, eq. 3-4), times ``c(n1+n2-2)^2`` as in
    metafor ``SMDH`` (``vtype="LS"``). Dimensionless."""
    c = hedges_correction(n1 + n2 - 2) if correct else np.ones(np.shape(m1))
    s2 = sd1**2 + sd2**2
    y = c * (m1 - m2) / np.sqrt(s2 / 2)
    v = (y**2 * (sd1**4 / (n1 - 1) + sd2**4 / (n2 - 1)) / (2 * s2**2)
         + (sd1**2 / (n1 - 1) + sd2**2 / (n2 - 1)) / (s2 / 2))
    return y, c**2 * v


def log_ratio_of_means(m1: Arr, m2: Arr, sd1: Arr, sd2: Arr, n1: Arr, n2: Arr,
                       vtype: str = "LS") -> tuple[Arr, Arr]:
    """Log ratio of means ``log(m1/m2)`` (Hedges, Gurevitch & Curtis 1999, Ecology 80:1150, eq.
    1). Variance ``sd1^2/(n1 m1^2) + sd2^2/(n2 m2^2)`` (``LS``), with the pooled SD for both groups
    (``HO``), with the n-weighted mean coefficients of variation of each group (``AV``), or one
    pooled mean CV (``AVHO``) (metafor ``ROM``)."""
    y = np.log(m1 / m2)
    if vtype == "HO":
        sp2 = _pooled_sd(sd1, sd2, n1, n2) ** 2
        return y, sp2 / (n1 * m1**2) + sp2 / (n2 * m2**2)
    cv1, cv2 = sd1 / m1, sd2 / m2
    if vtype == "AV":
        return y, _wmean(cv1, n1) ** 2 / n1 + _wmean(cv2, n2) ** 2 / n2
    if vtype == "AVHO":
        ok = np.isfinite(cv1) & np.isfinite(cv2) & np.isfinite(n1) & np.isfinite(n2)
        cv = (np.sum((n1 * cv1)[ok]) + np.sum((n2 * cv2)[ok])) / np.sum((n1 + n2)[ok])
        return y, cv**2 * (1 / n1 + 1 / n2)
    return y, sd1**2 / (n1 * m1**2) + sd2**2 / (n2 * m2**2)


def mean_change(m1: Arr, m2: Arr, sd1: Arr, sd2: Arr, n: Arr, r: Arr) -> tuple[Arr, Arr]:
    """Raw mean change ``m1 - m2`` (m1 follow-up, m2 baseline) with variance ``SD_change^2 / n``,
    ``SD_change`` from :func:`evsynth.effects.conversions.sd_change` (Cochrane Handbook section
    6.5.2.8; metafor ``MC``). Units of the means."""
    return m1 - m2, sd_change(sd2, sd1, r) ** 2 / n


def smd_change_score_std(m1: Arr, m2: Arr, sd1: Arr, sd2: Arr, n: Arr, r: Arr,
                         vtype: str = "LS", correct: bool = True) -> tuple[Arr, Arr]:
    """Standardised mean change, change-score standardisation: ``g = c(n-1) (m1 - m2) / SD_change``
    with variance ``1/n + g^2/(2n)`` (``LS``) or ``c^2 (1/n + d^2/(2n))`` (``LS2``) (Gibbons et al.
    1993, J Educ Stat 18:271; metafor ``SMCC``)."""
    c = hedges_correction(n - 1) if correct else np.ones(np.shape(n))
    d = (m1 - m2) / sd_change(sd2, sd1, r)
    g = c * d
    if vtype == "LS2":
        return g, c**2 * (1 / n + d**2 / (2 * n))
    return g, 1 / n + g**2 / (2 * n)


def smd_change_raw_std(m1: Arr, m2: Arr, sd1: Arr, n: Arr, r: Arr, vtype: str = "LS",
                       correct: bool = True) -> tuple[Arr, Arr]:
    """Standardised mean change, raw-score standardisation: ``g = c(n-1) (m1 - m2) / sd1`` (sd1
    usually the baseline SD) with variance ``2(1-r)/n + g^2/(2n)`` (``LS``) or
    ``c^2 (2(1-r)/n + d^2/(2n))`` (``LS2``) (Becker 1988, Br J Math Stat Psychol 41:257; metafor
    ``SMCR``)."""
    c = hedges_correction(n - 1) if correct else np.ones(np.shape(n))
    d = (m1 - m2) / sd1
    g = c * d
    if vtype == "LS2":
        return g, c**2 * (2 * (1 - r) / n + d**2 / (2 * n))
    return g, 2 * (1 - r) / n + g**2 / (2 * n)


def two_group_change(m1_pre: Arr, m1_post: Arr, sd1_pre: Arr, sd1_post: Arr, m2_pre: Arr,
                     m2_post: Arr, sd2_pre: Arr, sd2_post: Arr, r: Arr
                     ) -> tuple[Arr, Arr, Arr, Arr]:
    """Per-arm change scores (follow-up minus baseline) and their SDs ``sd_change(sd_pre, sd_post,
    r)`` (Cochrane Handbook v6.4 section 6.5.2.8): returns ``(mc1, mc2, sdc1, sdc2)``."""
    return (m1_post - m1_pre, m2_post - m2_pre,
            np.asarray(sd_change(sd1_pre, sd1_post, r), dtype=float),
            np.asarray(sd_change(sd2_pre, sd2_post, r), dtype=float))


# =========================================================================== single groups


def raw_mean(m: Arr, sd: Arr, n: Arr) -> tuple[Arr, Arr]:
    """Raw mean ``m`` with variance ``sd^2 / n`` (metafor ``MN``). Units of the mean."""
    return m, sd**2 / n


def correlation(r: Arr, n: Arr, vtype: str = "LS") -> tuple[Arr, Arr]:
    """Raw correlation ``r`` with variance ``(1 - r^2)^2 / (n - 1)`` (``LS``) or with the n-weighted
    mean correlation in place of ``r`` (``AV``) (Olkin & Pratt 1958; metafor ``COR``)."""
    if vtype == "AV":
        return r, (1 - _wmean(r, n) ** 2) ** 2 / (n - 1)
    return r, (1 - r**2) ** 2 / (n - 1)


def fisher_z(r: Arr, n: Arr) -> tuple[Arr, Arr]:
    """Fisher's r-to-z ``atanh(r) = log((1+r)/(1-r)) / 2`` with variance ``1/(n - 3)`` (Fisher
    1921; metafor ``ZCOR``)."""
    return 0.5 * np.log((1 + r) / (1 - r)), 1 / (n - 3)


# =========================================================================== measure table


@dataclass(frozen=True)
class Measure:
    """One row of :data:`MEASURES`: a measure code's family, formula and options."""

    family: str
    formula: Callable[[SimpleNamespace, str, bool], tuple[Arr, Arr]]
    description: str
    vtypes: tuple[str, ...] = ("LS",)
    add: float = 0.5
    correctable: bool = False
    #: required arguments when they differ from the family's (e.g. SMCR needs no sd2i)
    required: tuple[str, ...] | None = None
    #: optional arguments beyond the family's (e.g. SMD's di, ti)
    more: tuple[str, ...] = ()
    #: family arguments this measure does not take (e.g. n1i, n2i for paired tables)
    drop: tuple[str, ...] = ()

    def args(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(required, optional) data arguments of this measure."""
        req, opt = _FAMILY_ARGS[self.family]
        if self.required is None:
            return req, tuple(a for a in opt if a not in self.drop) + self.more
        return (self.required,
                tuple(a for a in req + opt if a not in self.required and a not in self.drop)
                + self.more)


#: formula adapter: (parameters, vtype, correct) -> (yi, vi)
Formula = Callable[[SimpleNamespace, str, bool], tuple[Arr, Arr]]


def _2x2(f: Callable[..., tuple[Arr, Arr]], vt: bool = False) -> Formula:
    if vt:
        return lambda p, vtype, correct: f(p.a, p.b, p.c, p.d, vtype)
    return lambda p, vtype, correct: f(p.a, p.b, p.c, p.d)


def _prop(f: Callable[..., tuple[Arr, Arr]], vt: bool = False) -> Formula:
    if vt:
        return lambda p, vtype, correct: f(p.x, p.m, vtype)
    return lambda p, vtype, correct: f(p.x, p.m)


def _smd_change_two_group(p: SimpleNamespace, vtype: str, correct: bool) -> tuple[Arr, Arr]:
    """``SMD_CHANGE``: Hedges' g (:func:`smd`) of the per-arm change scores
    (:func:`two_group_change`)."""
    mc1, mc2, sd1, sd2 = two_group_change(p.m1_pre, p.m1_post, p.sd1_pre, p.sd1_post, p.m2_pre,
                                          p.m2_post, p.sd2_pre, p.sd2_post, p.r)
    return smd(mc1, mc2, sd1, sd2, p.n1, p.n2, vtype, correct)


def _md_change_two_group(p: SimpleNamespace, vtype: str, correct: bool) -> tuple[Arr, Arr]:
    """``MD_CHANGE``: mean difference (:func:`mean_difference`) of the per-arm change scores."""
    mc1, mc2, sd1, sd2 = two_group_change(p.m1_pre, p.m1_post, p.sd1_pre, p.sd1_post, p.m2_pre,
                                          p.m2_post, p.sd2_pre, p.sd2_post, p.r)
    return mean_difference(mc1, mc2, sd1, sd2, p.n1, p.n2, vtype)


MEASURES: dict[str, Measure] = {
    # ---- 2x2 tables: ai, bi (or n1i), ci, di (or n2i)
    "OR": Measure("2x2", _2x2(log_odds_ratio), "log odds ratio"),
    "RR": Measure("2x2", _2x2(log_risk_ratio), "log risk ratio"),
    "RD": Measure("2x2", _2x2(risk_difference, vt=True), "risk difference",
                  vtypes=("LS", "UB", "AV")),
    "PETO": Measure("2x2", _2x2(peto_log_odds_ratio), "Peto's log odds ratio"),
    "AS": Measure("2x2", _2x2(arcsine_difference), "arcsine square-root risk difference",
                  add=0.0),
    # ---- two groups, counts and person-time: x1i, x2i, t1i, t2i
    "IRR": Measure("ir2", lambda p, v, c: log_rate_ratio(p.x1, p.x2, p.t1, p.t2),
                   "log incidence rate ratio"),
    "IRD": Measure("ir2", lambda p, v, c: rate_difference(p.x1, p.x2, p.t1, p.t2),
                   "incidence rate difference"),
    # ---- one group, count and person-time: xi, ti
    "IRLN": Measure("ir1", lambda p, v, c: log_rate(p.x, p.t), "log incidence rate"),
    # ---- one group, events: xi, mi (non-events) or ni
    "PR": Measure("prop", _prop(proportion, vt=True), "raw proportion",
                  vtypes=("LS", "UB", "AV")),
    "PLO": Measure("prop", _prop(logit_proportion, vt=True), "logit proportion",
                   vtypes=("LS", "AV")),
    "PAS": Measure("prop", _prop(arcsine_proportion), "arcsine square-root proportion",
                   add=0.0),
    "PFT": Measure("prop", _prop(freeman_tukey_proportion),
                   "Freeman-Tukey double-arcsine proportion", add=0.0),
    # ---- two groups, means: m1i, m2i, sd1i, sd2i, n1i, n2i
    "MD": Measure("cont2", lambda p, v, c: mean_difference(p.m1, p.m2, p.sd1, p.sd2, p.n1,
                                                           p.n2, v),
                  "raw mean difference", vtypes=("LS", "UB", "HO")),
    "SMD": Measure("cont2", lambda p, v, c: smd(p.m1, p.m2, p.sd1, p.sd2, p.n1, p.n2, v, c),
                   "standardised mean difference (Hedges' g)",
                   vtypes=("LS", "UB", "LS2", "AV", "RM5"), correctable=True,
                   required=("n1i", "n2i"), more=("di", "ti")),
    "SMDH": Measure("cont2", lambda p, v, c: smd_heteroscedastic(p.m1, p.m2, p.sd1, p.sd2, p.n1,
                                                                 p.n2, c),
                    "standardised mean difference, heteroscedastic (Bonett)",
                    correctable=True),
    "ROM": Measure("cont2", lambda p, v, c: log_ratio_of_means(p.m1, p.m2, p.sd1, p.sd2, p.n1,
                                                               p.n2, v),
                   "log ratio of means", vtypes=("LS", "HO", "AV", "AVHO")),
    # ---- one group, change: m1i (follow-up), m2i (baseline), sd1i, sd2i, ni, ri
    "MC": Measure("change", lambda p, v, c: mean_change(p.m1, p.m2, p.sd1, p.sd2, p.n, p.r),
                  "raw mean change"),
    "SMCC": Measure("change", lambda p, v, c: smd_change_score_std(p.m1, p.m2, p.sd1, p.sd2,
                                                                   p.n, p.r, v, c),
                    "standardised mean change (change-score standardisation)",
                    vtypes=("LS", "LS2"), correctable=True),
    "SMCR": Measure("change", lambda p, v, c: smd_change_raw_std(p.m1, p.m2, p.sd1, p.n, p.r,
                                                                 v, c),
                    "standardised mean change (raw-score standardisation)",
                    vtypes=("LS", "LS2"), correctable=True,
                    required=("m1i", "m2i", "sd1i", "ni", "ri")),
    # ---- two groups, baseline and follow-up summaries per arm
    "SMD_CHANGE": Measure("change2", _smd_change_two_group,
                          "standardised mean difference (Hedges' g) of change scores",
                          vtypes=("LS", "UB", "LS2", "AV", "RM5"), correctable=True),
    "MD_CHANGE": Measure("change2", _md_change_two_group, "mean difference of change scores",
                         vtypes=("LS", "UB", "HO")),
    # ---- one group, mean; correlations
    "MN": Measure("mean", lambda p, v, c: raw_mean(p.m, p.sd, p.n), "raw mean"),
    "COR": Measure("cor", lambda p, v, c: correlation(p.r, p.n, v), "raw correlation",
                   vtypes=("LS", "AV")),
    "ZCOR": Measure("cor", lambda p, v, c: fisher_z(p.r, p.n), "Fisher r-to-z correlation"),
    # ---- generic inverse variance
    "GEN": Measure("gen", lambda p, v, c: (p.y, p.v), "generic estimate with SE, CI or P"),
}

#: arguments read by each family: (required, optional)
_FAMILY_ARGS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "2x2": (("ai", "ci"), ("bi", "di", "n1i", "n2i")),
    "ir2": (("x1i", "x2i", "t1i", "t2i"), ()),
    "ir1": (("xi", "ti"), ()),
    "prop": (("xi",), ("mi", "ni")),
    "cont2": (("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"), ()),
    "change": (("m1i", "m2i", "sd1i", "sd2i", "ni", "ri"), ()),
    "change2": (("m1i_pre", "m1i_post", "sd1i_pre", "sd1i_post", "m2i_pre", "m2i_post",
                 "sd2i_pre", "sd2i_post", "n1i", "n2i", "ri"), ()),
    "mean": (("mi", "sdi", "ni"), ()),
    "cor": (("ri", "ni"), ()),
    "gen": ((), ("yi", "sei", "vi", "ci_lb", "ci_ub", "pval")),
}


# =========================================================================== input handling


class _Rows:
    """The per-study input arrays of one call, the study labels and the ``note`` column."""

    def __init__(self, measure: str, k: int, labels: list | None):
        self.measure, self.k, self.labels = measure, k, labels
        self.x: dict[str, Arr] = {}
        self.note = np.full(k, "", dtype=object)

    def has(self, name: str) -> bool:
        return name in self.x

    def __getitem__(self, name: str) -> Arr:
        return self.x[name]

    def fail(self, mask: Arr, fld: str, want: str, value: Arr | None = None) -> None:
        """Raise InputError at the first study where ``mask`` is True."""
        i = first_bad(np.asarray(mask, dtype=bool))
        if i is not None:
            v = self.x[fld][i] if value is None else value[i]
            raise InputError(f"{self.measure}: {study_name(i, self.labels)}: field '{fld}' is "
                             f"{float(v)!r}; expected {want}")

    def mark(self, mask: Arr, reason: str) -> None:
        """Record ``reason`` in ``note`` for the studies in ``mask`` that have no note yet."""
        m = np.asarray(mask, dtype=bool) & (self.note == "")
        self.note[m] = reason

    # -- validators (NaN = missing is skipped here and noted separately)
    def nonneg(self, *names: str) -> None:
        for n in names:
            if self.has(n):
                self.fail(self[n] < 0, n, "a number >= 0")

    def positive(self, *names: str) -> None:
        for n in names:
            if self.has(n):
                self.fail(self[n] <= 0, n, "a positive number")

    def at_least(self, lo: float, *names: str) -> None:
        for n in names:
            if self.has(n):
                self.fail(self[n] < lo, n, f"a sample size >= {lo:g}")

    def correlation(self, *names: str) -> None:
        for n in names:
            if self.has(n):
                self.fail(np.abs(self[n]) > 1, n, "a correlation in [-1, 1]")

    def missing(self, *names: str) -> Arr:
        """Studies with a missing (NaN) value in any of ``names``; noted."""
        miss = np.zeros(self.k, dtype=bool)
        for n in names:
            m = np.isnan(self[n])
            self.mark(m, f"missing value for '{n}'")
            miss |= m
        return miss


def _numeric(val: Any, fld: str, labels: list | None) -> Arr:
    """One input column as a 1-d float array (NaN for missing); InputError for text, booleans
    and infinities (through :func:`evsynth.validation.numeric_vector`)."""
    out = numeric_vector(fld, val, labels=labels, allow_missing=True)
    i = first_bad(np.isinf(out))
    if i is not None:
        raise InputError(f"{study_name(i, labels)}: field '{fld}' is {float(out[i])!r}; expected a "
                         f"finite number")
    return out


def _column(name: str, val: Any, data: pd.DataFrame | None) -> Any:
    val = column(name, val, data)
    if isinstance(val, pd.Series):
        return val.reset_index(drop=True)
    return val


def _collect(code: str, spec: Measure, data: pd.DataFrame | None, slab: Any,
             columns: dict[str, Any]) -> _Rows:
    req, opt = spec.args()
    allowed = set(req) | set(opt)
    for name in columns:
        if name not in allowed:
            known = any(name in r + o for r, o in _FAMILY_ARGS.values())
            what = "is not used by" if known else "is not an argument of effect_size for"
            raise InputError(f"argument '{name}' {what} measure '{code}'; it takes "
                             f"{', '.join(req + opt)}")
    raw = {n: _column(n, v, data) for n, v in columns.items() if v is not None}
    for n, v in raw.items():
        if np.ndim(as_array(n, v)) > 1:
            raise InputError(f"field '{n}': expected a one-dimensional column, got shape "
                             f"{np.shape(v)}")
    lengths = {n: len(v) for n, v in raw.items() if np.ndim(v) > 0}
    if data is not None:
        k = len(data)
    elif lengths:
        k = next(iter(lengths.values()))
    else:
        k = 1
    for n, ln in lengths.items():
        if ln != k:
            src = "data" if data is not None else f"the first column ({next(iter(lengths))})"
            raise InputError(f"argument '{n}' has {ln} values but {src} has {k}; expected one "
                             f"value per study")
    labels = study_labels(slab, data, k)
    rows = _Rows(code, k, labels)
    for n, v in raw.items():
        arr = _numeric(v, n, labels)
        rows.x[n] = np.repeat(arr, k) if arr.size == 1 and k != 1 and np.ndim(v) == 0 else arr
    return rows


# =========================================================================== families


@dataclass
class _Opts:
    vtype: str
    add: float
    to: str
    drop00: bool
    correct: bool
    level: float
    ratio: bool


def _zero_correct(cells: list[Arr], id0: Arr, valid: Arr, o: _Opts) -> list[Arr]:
    """Add ``o.add`` to every cell of the studies selected by ``o.to`` (metafor ``escalc``
    ``add``/``to``): ``only0``/``revman`` studies with a zero cell, ``all`` every study,
    ``if0all`` every study if any study has a zero cell, ``none`` no study."""
    if o.to == "all":
        sel = np.ones_like(id0)
    elif o.to in ("only0", REVMAN):
        sel = id0
    elif o.to == "if0all":
        sel = np.full_like(id0, bool((id0 & valid).any()))
    else:
        sel = np.zeros_like(id0)
    return [c + o.add * sel for c in cells]


def _fill_total(rows: _Rows, events: str, rest: str, total: str, group: str) -> Arr:
    """Non-events of a group from ``rest`` or ``total - events``; checks their agreement."""
    ev = rows[events]
    if rows.has(rest) and rows.has(total):
        r, t = rows[rest], rows[total]
        rows.fail(np.abs(ev + r - t) > 1e-9 * np.maximum(1, np.abs(t)), total,
                  f"{total} = {events} + {rest} (= {group} group size)")
        r = np.where(np.isnan(r), t - ev, r)
    elif rows.has(rest):
        r = rows[rest]
    elif rows.has(total):
        r = rows[total] - ev
        rows.fail(r < 0, events, f"{events} <= {total} (events cannot exceed the group size)")
    else:
        raise InputError(f"measure '{rows.measure}' needs '{rest}' or '{total}' (the "
                         f"{group} group's non-events or size)")
    return r


def _prep_2x2(rows: _Rows, o: _Opts, code: str) -> tuple[SimpleNamespace, Arr, Arr]:
    rows.nonneg("ai", "bi", "ci", "di", "n1i", "n2i")
    b = _fill_total(rows, "ai", "bi", "n1i", "first")
    d = _fill_total(rows, "ci", "di", "n2i", "second")
    a, c = rows["ai"], rows["ci"]
    rows.x["bi"], rows.x["di"] = b, d
    if code in PAIRED or code == "RTET":  # cross-classifications: a margin may be empty
        rows.fail((a + b + c + d) == 0, "ai", "a table with at least one count", a + b + c + d)
    else:
        rows.fail((a + b) == 0, "ai", "a first group with at least one participant (ai + bi > 0)",
                  a + b)
        rows.fail((c + d) == 0, "ci",
                  "a second group with at least one participant (ci + di > 0)", c + d)
    bad = rows.missing("ai", "bi", "ci", "di")
    id00 = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
    if o.drop00:
        rows.mark(id00, "dropped: no events (or only events) in both groups (drop00=True)")
        bad |= id00
    if o.to == REVMAN and code in ("OR", "RR"):
        rows.mark(id00, f"excluded (RevMan 5 rule): no events (or only events) in both groups, "
                        f"{code} not estimable")
        bad |= id00
    a, b, c, d = (np.where(bad, np.nan, x) for x in (a, b, c, d))
    id0 = ((a == 0) | (b == 0) | (c == 0) | (d == 0)) & ~bad
    o2 = o if not (o.to == REVMAN and code == "PETO") else _Opts(**{**o.__dict__, "to": "none"})
    a, b, c, d = _zero_correct([a, b, c, d], id0, ~bad, o2)
    suffix = " and no continuity correction" if o2.to == "none" else ""
    why = np.where(id00, "no events (or only events) in both groups", "zero cell(s)")
    zero_note = np.where(id0, np.char.add(why, suffix), "")
    if rows.has("ri"):  # MPORM: the correlation of the paired responses
        rows.correlation("ri")
        miss = rows.missing("ri") & ~bad
        bad |= miss
    return SimpleNamespace(a=a, b=b, c=c, d=d, r=_get(rows, "ri")), bad, zero_note


def _prep_ir2(rows: _Rows, o: _Opts, code: str) -> tuple[SimpleNamespace, Arr, Arr]:
    rows.nonneg("x1i", "x2i")
    rows.positive("t1i", "t2i")
    bad = rows.missing("x1i", "x2i", "t1i", "t2i")
    x1, x2 = rows["x1i"], rows["x2i"]
    if o.drop00:
        id00 = (x1 == 0) & (x2 == 0)
        rows.mark(id00, "dropped: no events in both groups (drop00=True)")
        bad |= id00
    x1, x2 = np.where(bad, np.nan, x1), np.where(bad, np.nan, x2)
    id0 = ((x1 == 0) | (x2 == 0)) & ~bad
    x1, x2 = _zero_correct([x1, x2], id0, ~bad, o)
    return (SimpleNamespace(x1=x1, x2=x2, t1=rows["t1i"], t2=rows["t2i"]), bad,
            np.where(id0, "zero count and no continuity correction", ""))


def _prep_ir1(rows: _Rows, o: _Opts, code: str) -> tuple[SimpleNamespace, Arr, Arr]:
    rows.nonneg("xi")
    rows.positive("ti")
    bad = rows.missing("xi", "ti")
    x = rows["xi"]
    id0 = (x == 0) & ~bad
    (x,) = _zero_correct([x], id0, ~bad, o)
    return (SimpleNamespace(x=x, t=rows["ti"]), bad,
            np.where(id0, "zero count and no continuity correction", ""))


def _prep_prop(rows: _Rows, o: _Opts, code: str) -> tuple[SimpleNamespace, Arr, Arr]:
    rows.nonneg("xi", "mi", "ni")
    m = _fill_total(rows, "xi", "mi", "ni", "study's")
    rows.x["mi"] = m
    x = rows["xi"]
    rows.fail((x + m) == 0, "xi", "a study with at least one participant (xi + mi > 0)", x + m)
    bad = rows.missing("xi", "mi")
    id0 = ((x == 0) | (m == 0)) & ~bad
    x, m = _zero_correct([x, m], id0, ~bad, o)
    return (SimpleNamespace(x=x, m=m), bad,
            np.where(id0, "zero cell and no continuity correction", ""))


#: measures of the "cont2" family that take Cohen's d (di) or t (ti) in place of the means
D_INPUT = ("SMD", "RPB", "RBIS", "D2ORN", "D2ORL", "D2OR")
#: measures whose means must be positive (the log of a mean or of a coefficient of variation)
POSITIVE_MEANS = ("ROM", "CVR", "ROMC", "CVRC", "MNLN", "CVLN")
#: paired (matched) 2x2 measures: a row or column of the table may be empty
PAIRED = ("MPRD", "MPRR", "MPOR", "MPORC", "MPPETO")


def _get(rows: _Rows, name: str) -> Arr:
    """An input column, or all-NaN when the measure does not need it and it is not given."""
    return rows[name] if rows.has(name) else np.full(rows.k, np.nan)


def _smd_from_d_or_t(rows: _Rows) -> Arr:
    """SMD studies reported as Cohen's d (``di``) or a two-sample t statistic (``ti``, converted
    by ``d = t sqrt(1/n1 + 1/n2)``, Borenstein 2009 eq. 4.23; metafor ``escalc`` SMD): the d is
    put in as ``m1i = d, m2i = 0, sd1i = sd2i = 1`` (as metafor does), so the SMD formula then
    applies its correction and variance. Returns the mask of studies given this way."""
    k = rows.k
    means = ("m1i", "m2i", "sd1i", "sd2i")
    if not (rows.has("di") or rows.has("ti")) and not all(rows.has(n) for n in means):
        missing = [n for n in means if not rows.has(n)]
        raise InputError(f"measure '{rows.measure}' needs {', '.join(repr(n) for n in missing)} "
                         f"(or Cohen's d 'di', or the t statistic 'ti')")
    d = rows["di"] if rows.has("di") else np.full(k, np.nan)
    if rows.has("ti"):
        d = np.where(np.isnan(d), rows["ti"] * np.sqrt(1 / rows["n1i"] + 1 / rows["n2i"]), d)
    use = ~np.isnan(d)
    if not all(rows.has(n) for n in means):  # the user gave d or t only: name those
        given = [repr(n) for n in ("di", "ti") if rows.has(n)]
        rows.mark(~use, f"missing value for {' and '.join(given)}")
    fills: tuple[Arr | float, ...] = (d, 0.0, 1.0, 1.0)  # d, and neutral means and SDs
    for n, fill in zip(means, fills, strict=True):
        x = rows[n] if rows.has(n) else np.full(k, np.nan)
        rows.x[n] = np.where(use, fill, x)
    return use


def _prep_cont2(rows: _Rows, o: _Opts, code: str) -> tuple[SimpleNamespace, Arr, Arr]:
    rows.positive("sd1i", "sd2i")
    rows.at_least(2, "n1i", "n2i")
    if code in POSITIVE_MEANS:
        rows.positive("m1i", "m2i")
    needed = MEASURES[code].args()[0]
    if code in D_INPUT:
        _smd_from_d_or_t(rows)
        needed = ("n1i", "n2i", "m1i", "m2i", "sd1i", "sd2i")
    bad = rows.missing(*needed)
    p = SimpleNamespace(m1=_get(rows, "m1i"), m2=_get(rows, "m2i"), sd1=_get(rows, "sd1i"),
                        sd2=_get(rows, "sd2i"), n1=rows["n1i"], n2=rows["n2i"])
    return p, bad, np.full(rows.k, "")


def _prep_change(rows: _Rows, o: _Opts, code: str) -> tuple[SimpleNamespace, Arr, Arr]:
    rows.positive("sd1i", "sd2i")
    rows.at_least(2, "ni")
    rows.correlation("ri")
    if code in POSITIVE_MEANS:
        rows.positive("m1i", "m2i")
    bad = rows.missing(*MEASURES[code].args()[0])
    ok = ~bad
    # sd_change validates its inputs; give it only the complete studies
    p = SimpleNamespace(m1=_get(rows, "m1i")[ok], m2=_get(rows, "m2i")[ok],
                        sd1=rows["sd1i"][ok], sd2=_get(rows, "sd2i")[ok], n=rows["ni"][ok],
                        r=rows["ri"][ok])
    return p, bad, np.full(rows.k, "")


def _prep_change2(rows: _Rows, o: _Opts, code: str) -> tuple[SimpleNamespace, Arr, Arr]:
    rows.positive("sd1i_pre", "sd1i_post", "sd2i_pre", "sd2i_post")
    rows.at_least(2, "n1i", "n2i")
    rows.correlation("ri")
    names = _FAMILY_ARGS["change2"][0]
    bad = rows.missing(*names)
    ok = ~bad
    short = {"m1i_pre": "m1_pre", "m1i_post": "m1_post", "sd1i_pre": "sd1_pre",
             "sd1i_post": "sd1_post", "m2i_pre": "m2_pre", "m2i_post": "m2_post",
             "sd2i_pre": "sd2_pre", "sd2i_post": "sd2_post", "n1i": "n1", "n2i": "n2", "ri": "r"}
    return (SimpleNamespace(**{short[n]: rows[n][ok] for n in names}), bad,
            np.full(rows.k, ""))


def _prep_mean(rows: _Rows, o: _Opts, code: str) -> tuple[SimpleNamespace, Arr, Arr]:
    rows.positive("sdi")
    rows.at_least(2, "ni")
    if code in POSITIVE_MEANS:
        rows.positive("mi")
    bad = rows.missing(*MEASURES[code].args()[0])
    return (SimpleNamespace(m=_get(rows, "mi"), sd=rows["sdi"], n=rows["ni"]), bad,
            np.full(rows.k, ""))


def _prep_cor(rows: _Rows, o: _Opts, code: str) -> tuple[SimpleNamespace, Arr, Arr]:
    rows.correlation("ri")
    rows.at_least(2, "ni")
    bad = rows.missing("ri", "ni")
    if code == "UCOR":
        rows.mark((rows["ni"] <= 4) & ~bad, "ni <= 4: the bias-corrected correlation (UCOR) is "
                  "undefined (Olkin & Pratt 1958)")
    return SimpleNamespace(r=rows["ri"], n=rows["ni"]), bad, np.full(rows.k, "")


def _prep_gen(rows: _Rows, o: _Opts, code: str) -> tuple[SimpleNamespace, Arr, Arr]:
    """Generic inverse variance: per study, the SE comes from ``sei``, else ``vi``, else the CI
    (:func:`~evsynth.effects.conversions.se_from_ci`), else the P value
    (:func:`~evsynth.effects.conversions.se_from_p`) -- Cochrane Handbook v6.4 sections 6.3.1-2."""
    k = rows.k
    has = {n: rows[n] if rows.has(n) else np.full(k, np.nan) for n in _FAMILY_ARGS["gen"][1]}
    if not (rows.has("yi") or (rows.has("ci_lb") and rows.has("ci_ub"))):
        raise InputError("measure 'GEN' needs the estimate 'yi' (or a CI 'ci_lb', 'ci_ub')")
    if not (rows.has("sei") or rows.has("vi") or (rows.has("ci_lb") and rows.has("ci_ub"))
            or rows.has("pval")):
        raise InputError("measure 'GEN' needs 'sei', 'vi', a CI ('ci_lb' and 'ci_ub') or "
                         "'pval' for the uncertainty of 'yi'")
    if rows.has("ci_lb") != rows.has("ci_ub"):
        raise InputError("measure 'GEN': give both 'ci_lb' and 'ci_ub' (or neither)")
    rows.positive("sei", "vi")
    if rows.has("pval"):
        rows.fail((rows["pval"] <= 0) | (rows["pval"] > 1), "pval",
                  "a two-sided P value in (0, 1]")
    if o.ratio:
        rows.positive("yi", "ci_lb", "ci_ub")
    lb, ub, y = has["ci_lb"], has["ci_ub"], has["yi"]
    rows.fail(lb >= ub, "ci_lb", "a lower confidence limit below the upper limit")
    if o.ratio:
        y, lb, ub = np.log(y), np.log(lb), np.log(ub)
    has_ci = ~np.isnan(lb) & ~np.isnan(ub)
    # estimate: given, else the midpoint of the (log) CI
    y = np.where(np.isnan(y) & has_ci, (lb + ub) / 2, y)
    se = has["sei"].copy()
    from_v = np.isnan(se) & ~np.isnan(has["vi"])
    se[from_v] = np.sqrt(has["vi"][from_v])
    from_ci = np.isnan(se) & has_ci
    se[from_ci] = se_from_ci(lb[from_ci], ub[from_ci], level=o.level)
    p = has["pval"]
    from_p = np.isnan(se) & ~np.isnan(p) & ~np.isnan(y)
    p_one = from_p & (p == 1)
    y_zero = from_p & (y == 0) & (p < 1)
    rows.mark(p_one, "P value is 1: SE cannot be derived from it")
    rows.mark(y_zero, "estimate is 0 but P < 1: SE cannot be derived from the P value")
    use_p = from_p & ~p_one & ~y_zero
    se[use_p] = se_from_p(y[use_p], p[use_p])
    rows.mark(np.isnan(y), "missing value for 'yi' (and no CI to take it from)")
    rows.mark(np.isnan(se), "missing uncertainty: none of 'sei', 'vi', CI or 'pval' given")
    bad = np.isnan(y) | np.isnan(se)
    return SimpleNamespace(y=y, v=se**2), bad, np.full(k, "")


_PREP: dict[str, Callable[[_Rows, _Opts, str], tuple[SimpleNamespace, Arr, Arr]]] = {
    "2x2": _prep_2x2, "ir2": _prep_ir2, "ir1": _prep_ir1, "prop": _prep_prop,
    "cont2": _prep_cont2, "change": _prep_change, "change2": _prep_change2,
    "mean": _prep_mean, "cor": _prep_cor, "gen": _prep_gen,
}
_COUNT_FAMILIES = ("2x2", "ir2", "ir1", "prop")
_SUBSET_FAMILIES = ("change", "change2")  # prep returns only the complete studies


# =========================================================================== public entry


def effect_size(measure: str, data: pd.DataFrame | None = None, *, slab: Any = None,
                vtype: str = "LS", add: float | None = None, to: str = "only0",
                drop00: bool = False, correct: bool = True, level: float = 95,
                ratio: bool = False, log_scale: bool | None = None,
                **columns: Any) -> pd.DataFrame:
    """Per-study effect sizes and sampling variances (metafor ``escalc``).

    Parameters
    ----------
    measure : str
        Measure code (see :data:`MEASURES`): 2x2 tables ``OR RR RD PETO AS`` (``ai, bi, ci, di``
        or ``ai, n1i, ci, n2i``); rates ``IRR IRD`` (``x1i, x2i, t1i, t2i``), ``IRLN`` (``xi,
        ti``); proportions ``PR PLO PAS PFT`` (``xi`` and ``mi`` non-events or ``ni``); two-group
        means ``MD SMD SMDH ROM`` (``m1i, m2i, sd1i, sd2i, n1i, n2i``; for ``SMD`` a study may
        instead give Cohen's d ``di`` or the two-sample t statistic ``ti``, as in metafor);
        one-group change ``MC SMCC SMCR`` (``m1i`` follow-up mean, ``m2i`` baseline mean,
        ``sd1i, sd2i, ni, ri``; ``SMCR`` standardises by ``sd1i``, normally the baseline SD, and
        does not need ``sd2i``); ``MN`` (``mi, sdi, ni``); ``COR ZCOR`` (``ri, ni``).

        ``SMD_CHANGE`` (two groups, change from baseline): Hedges' g of the change scores, from
        per-arm baseline and follow-up means and SDs ``m1i_pre, m1i_post, sd1i_pre, sd1i_post,
        m2i_pre, m2i_post, sd2i_pre, sd2i_post``, arm sizes ``n1i, n2i`` and the assumed pre-post
        correlation ``ri``. Each arm's change SD is ``sqrt(sd_pre^2 + sd_post^2 - 2 r sd_pre
        sd_post)`` (Cochrane Handbook v6.4 section 6.5.2.8), then :func:`smd` is applied to the
        change means (post - pre) and SDs, so every SMD ``vtype`` is available. ``MD_CHANGE``
        does the same for the raw mean difference.

        The further measures of metafor 3.8 (module :mod:`evsynth.effects.escalc_more`, where
        each formula cites its source): 2x2 tables ``PHI`` (``vtype`` ``LS``/``ST``/``CS``),
        ``YUQ YUY``, ``RTET`` (tetrachoric, by maximum likelihood), ``PBIT OR2DN OR2DL``
        (``OR2D`` = ``OR2DL``); paired 2x2 tables ``MPRD MPRR MPOR MPORC MPPETO`` (``ai``
        both, ``bi`` first only, ``ci`` second only, ``di`` neither), ``MPORM`` (the two
        marginal tables and the correlation ``ri``); rates ``IRSD``
        (two groups), ``IR IRS IRFT`` (``xi, ti``); ``PLN`` (log proportion); two-group means
        ``CVR``, ``VR`` (``sd1i, sd2i, n1i, n2i``), ``RPB`` (``LS``/``ST``/``CS``), ``RBIS``,
        ``D2ORN D2ORL`` (``D2OR`` = ``D2ORL``; these four also from ``di`` or ``ti``), ``SMD1
        SMD1H`` (standardised by ``sd2i``); one-group change ``SMCRH ROMC CVRC``, ``VRC``
        (``sd1i, sd2i, ni, ri``); one-group ``MNLN CVLN SMN`` (``mi, sdi, ni``), ``SDLN``
        (``sdi, ni``); ``UCOR`` (``ri, ni``; ``LS``/``UB``/``AV``); partial correlations
        ``PCOR ZPCOR`` (``ti, ni, mi``, ``mi`` = number of predictors) and ``SPCOR`` (also
        ``r2i``); Cronbach's alpha ``ARAW AHW ABT`` (``ai, mi`` items, ``ni``); ``REH``
        (genotype counts ``ai, bi, ci``). :mod:`evsynth.transf` back-transforms them.

        ``GEN`` (generic inverse variance): an estimate ``yi`` with ``sei`` or ``vi``, or with a
        confidence interval ``ci_lb, ci_ub`` at ``level`` percent (SE = (ub - lb) / (2 z)), or with
        a two-sided P value ``pval`` (SE = |yi| / z_{p/2}; Cochrane Handbook v6.4 section 6.3).
        Per study the first available of sei, vi, CI, pval is used; if ``yi`` is missing but a CI
        is given, the CI midpoint is used. ``ratio=True`` (alias ``log_scale=True``): ``yi`` and
        the CI are ratios (OR, RR, HR) and are log-transformed; ``sei``/``vi`` are then taken to
        be on the log scale already.
    data
        Optional DataFrame; string arguments (and ``slab``) name its columns.
    slab
        Study labels (array or column name), returned in column ``slab`` and used in messages.
    vtype
        Variance type (metafor ``vtype``): ``LS`` everywhere by default; ``UB``/``AV`` for RD and
        PR; ``AV`` for PLO, COR; ``HO`` for MD (pooled SD), ``HO``/``AV``/``AVHO`` for ROM;
        ``UB``/``LS2``/``AV`` and ``RM5`` (RevMan 5) for SMD and SMD_CHANGE; ``LS2`` for SMCC/SMCR;
        ``ST``/``CS`` for PHI and RPB; ``UB``/``AV`` for UCOR; ``AV`` for PLN, PCOR, SPCOR;
        ``UB``/``LS2``/``AV`` for SMD1.
    add, to
        Continuity correction for count measures (metafor): ``add`` (default 1/2; 0 for AS, PAS,
        PFT, PHI, RTET, IRSD, IRS, IRFT) is added to every cell of the studies selected by ``to``:
        ``"only0"`` (default) studies with a zero cell, ``"all"``, ``"if0all"`` all studies if any
        has a zero cell, ``"none"``. ``to="revman"`` (2x2 measures OR, RR, RD, PETO) applies the
        Review Manager 5 rule (Deeks & Higgins 2010, *Statistical algorithms in Review Manager 5*;
        Cochrane Handbook v6.4 section 10.4.4): 0.5 is added to all four cells of a study with a
        zero cell; for OR and RR a study with no events in both groups, or only events in both
        groups, is not estimable and is excluded (NaN, with the reason in ``note``); RD keeps such
        studies (with 0.5 added to their cells, as any study with a zero cell, so that the variance
        is positive); PETO gets no correction (Peto's method needs none) and double-zero studies
        come out undefined. Note: the RD and PETO parts follow the RevMan 5 documentation and the
        Handbook's description; they have not been checked against RevMan output.
    drop00
        Exclude (NaN, noted) studies with no events (or only events) in both groups (2x2 and
        two-group rate measures).
    correct
        Apply the small-sample correction to standardised measures (SMD, SMDH, SMCC, SMCR,
        SMD_CHANGE, SMD1, SMD1H, SMCRH, SMN); ``False`` gives uncorrected d (as metafor >= 4.0
        ``correct=FALSE``; not with ``vtype="UB"``, the unbiased variance of the corrected g).
    level, ratio, log_scale
        ``GEN`` only, see above.
    **columns
        The data arguments named above.

    Returns
    -------
    pandas.DataFrame
        One row per study with ``slab`` (if given), ``yi``, ``vi``, ``sei`` and ``note`` (empty,
        or why the study's ``yi``/``vi`` is NaN), indexed like ``data`` if given.
        ``attrs["measure"]`` holds the code. Pass it to :func:`evsynth.meta` as ``yi``.

    Raises
    ------
    InputError
        For an unknown measure, a missing or unused argument, or a value that is not a number
        or out of range (the message names the study and the field).

    References
    ----------
    .. [1] Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package.
           *J Stat Softw* 36(3):1-48. doi:10.18637/jss.v036.i03 (``escalc``)
    .. [2] Hedges LV (1981). Distribution theory for Glass's estimator of effect size and
           related estimators. *J Educ Stat* 6(2):107-128. doi:10.3102/10769986006002107
           (SMD: Hedges' g and its small-sample correction)
    .. [3] Borenstein M, Hedges LV, Higgins JPT, Rothstein HR (2009). *Introduction to
           Meta-Analysis*. Wiley. doi:10.1002/9780470743386 (2x2-table and mean measures)
    .. [4] Yusuf S, Peto R, Lewis J, Collins R, Sleight P (1985). Beta blockade during and
           after myocardial infarction: an overview of the randomized trials. *Prog Cardiovasc
           Dis* 27(5):335-371. doi:10.1016/S0033-0620(85)80003-7 (PETO)
    .. [5] Higgins JPT, Thomas J, Chandler J, et al. (eds.) (2019). *Cochrane Handbook for
           Systematic Reviews of Interventions*, 2nd edition (online version 6.4, 2023).
           Wiley. doi:10.1002/9781119536604 (GEN, SMD_CHANGE, ``to="revman"``)

    Examples
    --------
    Log risk ratios of the first four BCG vaccine trials (metafor's ``dat.bcg``):

    >>> import evsynth
    >>> es = evsynth.effect_size("RR", ai=[4, 6, 3, 62], bi=[119, 300, 228, 13536],
    ...                          ci=[11, 29, 11, 248], di=[128, 274, 209, 12619],
    ...                          slab=["Aronson", "Ferguson", "Rosenthal", "Hart"])
    >>> print(es[["slab", "yi", "vi"]].round(4))
            slab      yi      vi
    0    Aronson -0.8893  0.3256
    1   Ferguson -1.5854  0.1946
    2  Rosenthal -1.3481  0.4154
    3       Hart -1.4416  0.0200

    Column names with ``data=``, and Hedges' g from group means and SDs:

    >>> import pandas as pd
    >>> df = pd.DataFrame({"m1": [10.2, 8.9], "m2": [11.8, 10.1], "sd1": [3.1, 2.7],
    ...                    "sd2": [3.4, 2.9], "n1": [40, 55], "n2": [42, 50]})
    >>> g = evsynth.effect_size("SMD", data=df, m1i="m1", m2i="m2", sd1i="sd1", sd2i="sd2",
    ...                         n1i="n1", n2i="n2")
    >>> g["yi"].round(4).tolist()
    [-0.4866, -0.4259]
    """
    code = choice(measure, tuple(MEASURES), "measure")
    spec = MEASURES[code]
    data = as_frame(data)
    o = _options(code, spec, vtype, add, to, drop00, correct, level, ratio, log_scale)
    req, opt = spec.args()
    for n in req:
        if columns.get(n) is None:
            raise InputError(f"measure '{code}' needs argument '{n}' (it takes "
                             f"{', '.join(req + opt)})")
    rows = _collect(code, spec, data, slab, columns)
    with np.errstate(all="ignore"):
        params, bad, zero_note = _PREP[spec.family](rows, o, code)
        yi_ok, vi_ok = spec.formula(params, o.vtype, o.correct)
    yi = np.full(rows.k, np.nan)
    vi = np.full(rows.k, np.nan)
    if spec.family in _SUBSET_FAMILIES:
        yi[~bad], vi[~bad] = yi_ok, vi_ok
    else:
        yi[:], vi[:] = np.broadcast_to(yi_ok, rows.k), np.broadcast_to(vi_ok, rows.k)
    yi[bad] = np.nan
    vi[bad] = np.nan
    _finish(rows, spec, code, yi, vi, bad, zero_note)
    out = pd.DataFrame({"yi": yi, "vi": vi, "sei": np.sqrt(vi), "note": rows.note},
                       index=data.index if data is not None else None)
    if rows.labels is not None:
        out.insert(0, "slab", rows.labels)
    out.attrs["measure"] = code
    return out


def _finish(rows: _Rows, spec: Measure, code: str, yi: Arr, vi: Arr, bad: Arr,
            zero_note: Arr) -> None:
    """metafor's clean-up: +-Inf or NaN in yi or vi -> both NaN; (COR, ZCOR) vi NA for
    ni <= 3 with yi kept; vi < 0 -> vi NaN. Each case noted."""
    if spec.family == "cor":
        small = (rows["ni"] <= 3) & ~bad
        vi[small] = np.nan
        rows.mark(small, "ni <= 3: sampling variance undefined")
        keep = small
    elif code == "RTET":
        # one zero cell: the ML estimate is on the boundary (+-1, as metafor) and has no sampling
        # variance (metafor reports the inverse of a Hessian taken at the boundary, e.g. 6322);
        # a maximum beyond metafor's range |rho| <= 0.9999 is reported at that bound
        keep = np.isfinite(yi) & np.isnan(vi) & ~bad
        rows.mark(keep & (np.abs(yi) == 1), "one zero cell: tetrachoric correlation at the "
                  "boundary (+-1); its sampling variance is undefined")
        rows.mark(keep & (np.abs(yi) < 1), "tetrachoric correlation beyond metafor's range "
                  "|rho| <= 0.9999: reported at that bound, with no sampling variance")
    else:
        keep = np.zeros(rows.k, dtype=bool)
    undefined = ~bad & ~(np.isfinite(yi) & (np.isfinite(vi) | keep))
    why = np.where(zero_note != "", ": " + zero_note.astype(object), "")
    # an infinite yi or vi where an input is beyond 1e150 in size (or below 1e-150, but not 0) is
    # floating-point overflow (e.g. m1i = 1e300: squares and differences overflow), not a
    # property of the data such as a zero cell: say so
    extreme = np.zeros(rows.k, dtype=bool)
    for arr in rows.x.values():
        a = np.abs(np.broadcast_to(np.asarray(arr, dtype=float), (rows.k,)))
        with np.errstate(invalid="ignore"):
            extreme |= (a > 1e150) | ((a > 0) & (a < 1e-150))
    overflow = undefined & extreme & (np.isinf(yi) | (np.isinf(vi) & ~keep))
    for i in np.flatnonzero(undefined & (rows.note == "")):
        if overflow[i]:
            rows.note[i] = (f"{code} not computable: the values are too large for floating-point "
                            "arithmetic (overflow); rescale the data (e.g. other units)")
        else:
            rows.note[i] = f"{code} undefined for these data{why[i]}"
    yi[undefined] = np.nan
    vi[undefined] = np.nan
    neg = vi < 0
    rows.mark(neg, "negative sampling variance")
    vi[neg] = np.nan


def _options(code: str, spec: Measure, vtype: str, add: float | None, to: str, drop00: bool,
             correct: bool, level: float, ratio: bool, log_scale: bool | None) -> _Opts:
    """Validate the options against the measure (InputError for one that does not apply)."""
    drop00, correct, ratio = flag("drop00", drop00), flag("correct", correct), flag("ratio", ratio)
    if log_scale is not None:
        log_scale = flag("log_scale", log_scale)
    if not isinstance(vtype, str) or vtype.upper() not in spec.vtypes:
        raise InputError(f"vtype {vtype!r} is not available for measure '{code}'; expected one "
                         f"of {', '.join(spec.vtypes)}")
    vtype = vtype.upper()
    if to not in _TO:
        raise InputError(f"argument 'to' is {to!r}; expected one of {', '.join(_TO)}")
    counts = spec.family in _COUNT_FAMILIES
    if not counts and (add is not None or to != "only0"):
        raise InputError(f"arguments 'add'/'to' (continuity correction) do not apply to measure "
                         f"'{code}'")
    if to == REVMAN and code not in ("OR", "RR", "RD", "PETO"):
        raise InputError(f"to='revman' applies to OR, RR, RD and PETO, not to '{code}'")
    if to == REVMAN and add is not None and add != 0.5:
        raise InputError(f"to='revman' adds 0.5 (the RevMan 5 rule); got add={add!r}")
    if add is None:
        add = 0.5 if to == REVMAN else spec.add
    add = nonnegative_number("add", add)
    if drop00 and spec.family not in ("2x2", "ir2"):
        raise InputError(f"drop00 applies to two-group count measures, not to '{code}'")
    if not correct and not spec.correctable:
        raise InputError(f"correct=False applies to standardised mean differences, not to "
                         f"'{code}'")
    if not correct and vtype == "UB":
        raise InputError("vtype='UB' is the unbiased variance of the corrected g; it needs "
                         "correct=True")
    if log_scale is not None:
        if ratio and not log_scale:
            raise InputError("ratio=True and log_scale=False contradict each other")
        ratio = bool(log_scale) or ratio
    lv = level_fraction(level)
    if code != "GEN" and (ratio or lv != 0.95):
        raise InputError(f"'level' and 'ratio'/'log_scale' apply to measure 'GEN' only, not to "
                         f"'{code}'")
    return _Opts(vtype, add, to, bool(drop00), bool(correct), lv, bool(ratio))


def measures() -> pd.DataFrame:
    """Table of the measure codes: family, description, variance types, default ``add``."""
    return pd.DataFrame(
        [(c, m.family, m.description, ", ".join(m.vtypes), m.add) for c, m in MEASURES.items()],
        columns=["measure", "family", "description", "vtypes", "add"])


# the further measures of metafor 3.8 (their module adds its rows to MEASURES, _FAMILY_ARGS and
# _PREP: one registry); imported last, as it builds on the definitions above
from evsynth.effects import escalc_more as _escalc_more  # noqa: E402,F401
