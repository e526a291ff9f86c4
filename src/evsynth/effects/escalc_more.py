"""The further ``escalc`` measures of metafor 3.8: formulas and their rows of the measure table.

The registry is one: this module adds its rows to :data:`evsynth.effects.escalc.MEASURES` (and
its input families to the family tables) when it is imported, which
:mod:`evsynth.effects.escalc` does at its end. :func:`evsynth.effect_size` therefore accepts
every code below with metafor's argument names, options, validation and ``note`` column.

Measures (metafor 3.8-1 ``escalc`` documentation, which cites the sources named in each
docstring):

* 2x2 tables (``ai, bi, ci, di``): ``PHI`` (phi coefficient), ``YUQ`` / ``YUY`` (Yule's Q and Y),
  ``RTET`` (tetrachoric correlation), ``PBIT`` (probit difference as an SMD), ``OR2DN`` /
  ``OR2DL`` (log odds ratio to SMD, normal / logistic; ``OR2D`` is metafor's older name of
  ``OR2DL``); paired (matched) tables ``MPRD MPRR MPOR MPORC MPPETO``, and ``MPORM`` from
  the two marginal tables with the correlation ``ri`` of the paired responses;
* two-group rates (``x1i, x2i, t1i, t2i``): ``IRSD``; one-group rates (``xi, ti``): ``IR IRS
  IRFT``;
* proportions (``xi`` with ``mi`` or ``ni``): ``PLN``;
* two groups, means (``m1i, m2i, sd1i, sd2i, n1i, n2i``): ``CVR VR`` (variability ratios),
  ``RPB RBIS`` (point-biserial / biserial correlation), ``D2ORN D2ORL`` (SMD to log odds ratio;
  ``D2OR`` = ``D2ORL``), ``SMD1 SMD1H`` (standardised by the SD of group 2);
* one group, change (``m1i, m2i, sd1i, sd2i, ni, ri``): ``SMCRH ROMC CVRC VRC``;
* one group, mean (``mi, sdi, ni``): ``MNLN CVLN SDLN SMN``;
* correlations: ``UCOR`` (``ri, ni``), ``PCOR ZPCOR SPCOR`` (``ti, ni, mi``, ``r2i``);
* Cronbach's alpha (``ai, mi, ni``): ``ARAW AHW ABT``; Hardy-Weinberg (``ai, bi, ci``): ``REH``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
from scipy import special

from evsynth._lazy import LazyModule
from evsynth.effects import escalc as _e
from evsynth.effects.escalc import (
    Formula,
    Measure,
    _Opts,
    _Rows,
    _wmean,
    hedges_correction,
    log_odds_ratio,
)

__all__ = [
    "bivariate_normal_cdf", "coefficient_of_variation_ratio", "log_odds_to_smd", "phi",
    "smd_to_log_odds", "tetrachoric", "unbiased_correlation", "variability_ratio",
]

Arr = np.ndarray
stats = LazyModule("scipy.stats")
optimize = LazyModule("scipy.optimize")


# =========================================================================== 2x2 tables


def phi(a: Arr, b: Arr, c: Arr, d: Arr, vtype: str = "LS") -> tuple[Arr, Arr]:
    """Phi coefficient ``(ad - bc) / sqrt((a+b)(c+d)(a+c)(b+d))`` of a 2x2 table (metafor
    ``PHI``).

    Variance ``LS`` / ``CS`` (cross-sectional sampling; Yule 1912, Bishop, Fienberg & Holland
    1975, eq. 11.2-21):
    ``(1/N) [1 - phi^2 + phi (1 + phi^2/2) (p1. - p2.)(p.1 - p.2) / sqrt(p1. p2. p.1 p.2)
    - (3/4) phi^2 ((p1. - p2.)^2 / (p1. p2.) + (p.1 - p.2)^2 / (p.1 p.2))]``;
    ``ST`` (stratified sampling, group sizes fixed by design; Bonett 2007, Psychol Methods 12:433)
    metafor's closed form. Dimensionless.
    """
    n1, n2 = a + b, c + d
    n = n1 + n2
    y = (a * d - b * c) / np.sqrt(n1 * n2 * (a + c) * (b + d))
    p1, p2 = a / n1, c / n2
    q1, q2 = 1 - p1, 1 - p2
    if vtype == "ST":
        v = (n**2 * (4 * n1**3 * p1**2 * p2 * q1**2 * q2 + 4 * n2**3 * p1 * p2**2 * q1 * q2**2
                     + n1 * n2**2 * p2 * q2 * (p2 * q1 + p1 * q2) * (p2 * q1 + p1 * (4 * q1 + q2))
                     + n1**2 * n2 * p1 * q1 * (p2 * q1 + p1 * q2) * (p1 * q2 + p2 * (q1 + 4 * q2)))
             / (4 * (a + c) ** 3 * (b + d) ** 3))
        return y, v
    r1, r2, c1, c2 = n1 / n, n2 / n, (a + c) / n, (b + d) / n
    v = (1 - y**2 + y * (1 + y**2 / 2) * (r1 - r2) * (c1 - c2) / np.sqrt(r1 * r2 * c1 * c2)
         - 0.75 * y**2 * ((r1 - r2) ** 2 / (r1 * r2) + (c1 - c2) ** 2 / (c1 * c2))) / n
    return y, v


def yule(a: Arr, b: Arr, c: Arr, d: Arr, kind: str = "Q") -> tuple[Arr, Arr]:
    """Yule's Q ``(OR - 1)/(OR + 1)`` with variance ``(1 - Q^2)^2 / 4 * sum(1/cells)``, or Yule's
    Y ``(sqrt(OR) - 1)/(sqrt(OR) + 1)`` with variance ``(1 - Y^2)^2 / 16 * sum(1/cells)`` (Yule
    1900, 1912; Bishop, Fienberg & Holland 1975, section 11.2; metafor ``YUQ``, ``YUY``)."""
    odds = (a / b) / (c / d)
    s = 1 / a + 1 / b + 1 / c + 1 / d
    if kind == "Q":
        y = (odds - 1) / (odds + 1)
        return y, (1 - y**2) ** 2 * s / 4
    y = (np.sqrt(odds) - 1) / (np.sqrt(odds) + 1)
    return y, (1 - y**2) ** 2 * s / 16


def probit_difference(a: Arr, b: Arr, c: Arr, d: Arr) -> tuple[Arr, Arr]:
    """Probit transformed risk difference ``z1 - z2``, ``z = Phi^-1(p)``, an estimate of the SMD,
    with variance ``2 pi p1 (1 - p1) exp(z1^2) / n1 + 2 pi p2 (1 - p2) exp(z2^2) / n2``
    (Sanchez-Meca, Marin-Martinez & Chacon-Moscoso 2003, Psychol Methods 8:448; metafor
    ``PBIT``)."""
    n1, n2 = a + b, c + d
    p1, p2 = a / n1, c / n2
    z1, z2 = stats.norm.ppf(p1), stats.norm.ppf(p2)
    v = (2 * np.pi * p1 * (1 - p1) * np.exp(z1**2) / n1
         + 2 * np.pi * p2 * (1 - p2) * np.exp(z2**2) / n2)
    return z1 - z2, v


def log_odds_to_smd(a: Arr, b: Arr, c: Arr, d: Arr, dist: str = "logistic") -> tuple[Arr, Arr]:
    """The log odds ratio (Woolf variance) converted to an SMD: ``sqrt(3)/pi * log(OR)`` with
    variance times ``3/pi^2`` (logistic distribution; Hasselblad & Hedges 1995, Psychol Bull
    117:167; Chinn 2000, Stat Med 19:3127; metafor ``OR2DL``), or ``log(OR) / 1.65`` with
    variance ``/ 1.65^2`` (normal distribution; Cox 1970; Sanchez-Meca et al. 2003; metafor
    ``OR2DN``)."""
    y, v = log_odds_ratio(a, b, c, d)
    if dist == "normal":
        return y / 1.65, v / 1.65**2
    return np.sqrt(3) / np.pi * y, 3 / np.pi**2 * v


def bivariate_normal_cdf(h: Arr | float, k: Arr | float, rho: Arr | float) -> Arr:
    """``P(X < h, Y < k)`` for standard bivariate normal (X, Y) with correlation ``rho``, by
    Owen's T function: ``Phi(h)/2 + Phi(k)/2 - T(h, a_h) - T(k, a_k) - beta`` with
    ``a_h = (k - rho h)/(h sqrt(1 - rho^2))`` (and ``a_k`` alike), ``beta = 1/2`` when ``hk < 0``
    or (``hk = 0`` and ``h + k < 0``), else 0 (Owen 1956, Ann Math Stat 27:1075, eq. 3.1), and
    ``1/4 + asin(rho)/(2 pi)`` at ``h = k = 0``. Accurate to rounding for ``|rho| < 1``."""
    h, k, rho = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (h, k, rho)))
    s = np.sqrt(1 - rho**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ah = (k - rho * h) / (h * s)
        ak = (h - rho * k) / (k * s)
    ah = np.where(h == 0, np.copysign(np.inf, k - rho * h), ah)
    ak = np.where(k == 0, np.copysign(np.inf, h - rho * k), ak)
    beta = np.where((h * k < 0) | ((h * k == 0) & (h + k < 0)), 0.5, 0.0)
    out = (stats.norm.cdf(h) / 2 + stats.norm.cdf(k) / 2 - special.owens_t(h, ah)
           - special.owens_t(k, ak) - beta)
    origin = (h == 0) & (k == 0)
    out = np.where(origin, 0.25 + np.arcsin(rho) / (2 * np.pi), out)
    return np.asarray(out, dtype=float)


def _tetrachoric_nll(par: Arr, a: float, b: float, c: float, d: float,
                     maxcor: float = 0.9999) -> float:
    """Negative multinomial log-likelihood of a 2x2 table under a dichotomised bivariate normal:
    ``par = (rho, row cut, column cut)`` (metafor's internal ``.rtet``)."""
    rho = float(np.clip(par[0], -maxcor, maxcor))
    cr, cc = float(par[1]), float(par[2])
    pa = float(bivariate_normal_cdf(cc, cr, rho))
    fr, fc = float(stats.norm.cdf(cr)), float(stats.norm.cdf(cc))
    p = np.array([pa, fr - pa, fc - pa, 1 - fr - fc + pa])
    if np.any(p <= 0):
        return np.inf
    cells = np.array([a, b, c, d])
    return -float(np.sum(cells * np.log(p)))


def tetrachoric(a: float, b: float, c: float, d: float) -> tuple[float, float]:
    """Tetrachoric correlation of one 2x2 table by maximum likelihood, with its variance.

    The table is a dichotomised standard bivariate normal with correlation ``rho`` (Pearson
    1900; Olsson 1979, Psychometrika 44:443; Kirk 1973). With three parameters (``rho``, row
    cut, column cut) for three free cell probabilities the model is saturated: the ML cuts are
    the normal quantiles of the margins and ``rho`` makes the first cell's probability
    ``Phi2(column cut, row cut; rho)`` (:func:`bivariate_normal_cdf`) equal ``a / n``, which
    fits every cell. That probability increases with ``rho`` (its derivative is the bivariate
    density), so the root is bracketed on metafor's range ``|rho| <= 0.9999`` and found to
    rounding. Beyond that range the estimate is the bound, as metafor's, with no variance (not
    a maximum of the likelihood). The variance is the ``rho`` element of the inverse
    information ``n J' diag(1/p) J`` (``J``: derivatives of the four cell probabilities with
    respect to the three parameters, ``p`` the cell proportions), which in a saturated model
    equals the observed information at the MLE (Olsson 1979).

    metafor ``RTET`` (``.rtet``): a table with an empty margin gives ``yi = 0`` with infinite
    variance (both NA after ``escalc``'s clean-up); ``b = c = 0`` gives ``(1, 0)``, ``a = d = 0``
    gives ``(-1, 0)``; with one zero cell the estimate is ``+-1`` as in metafor, and its
    variance (a Hessian at the boundary, not a sampling variance) is NaN here. metafor maximises
    with ``optimize`` (tolerance 1.2e-4) and Nelder-Mead and takes a finite-difference Hessian,
    so its estimates agree with these to about 1e-4 and its variances near ``|rho| = 1`` can be
    several times off.
    """
    n = a + b + c + d
    if (a + b) == 0 or (c + d) == 0 or (a + c) == 0 or (b + d) == 0:
        return 0.0, np.inf
    if b == 0 and c == 0:
        return 1.0, 0.0
    if a == 0 and d == 0:
        return -1.0, 0.0
    if b == 0 or c == 0:
        return 1.0, np.nan
    if a == 0 or d == 0:
        return -1.0, np.nan
    cr = float(stats.norm.ppf((a + b) / n))
    cc = float(stats.norm.ppf((a + c) / n))
    target = a / n

    def gap(r: float) -> float:
        return float(bivariate_normal_cdf(cc, cr, r)) - target

    lo, hi = -TETRACHORIC_BOUND, TETRACHORIC_BOUND
    if gap(lo) >= 0:
        return lo, np.nan
    if gap(hi) <= 0:
        return hi, np.nan
    rho = float(optimize.brentq(gap, lo, hi, xtol=1e-16, rtol=4 * np.finfo(float).eps,
                                maxiter=200))
    return rho, _tetrachoric_variance(rho, cr, cc, np.array([a, b, c, d]))


#: metafor's bound of the tetrachoric correlation (``.rtet``: ``maxcor = 0.9999``)
TETRACHORIC_BOUND = 0.9999


def _tetrachoric_variance(rho: float, cr: float, cc: float, cells: Arr) -> float:
    """``[I^-1]_rho,rho`` with ``I = n J' diag(1/p) J`` at the saturated MLE (see
    :func:`tetrachoric`): ``p`` the cell proportions; ``J`` the derivatives of the cell
    probabilities ``(pa, fr - pa, fc - pa, 1 - fr - fc + pa)`` (``pa = Phi2(cc, cr; rho)``,
    ``fr = Phi(cr)``, ``fc = Phi(cc)``) with respect to ``(rho, cr, cc)``: ``dpa/drho`` is the
    bivariate normal density, ``dpa/dcr = phi(cr) Phi((cc - rho cr) / s)`` and ``dpa/dcc =
    phi(cc) Phi((cr - rho cc) / s)``, ``s = sqrt(1 - rho^2)``."""
    s = math.sqrt(1 - rho * rho)
    q = (cr * cr - 2 * rho * cr * cc + cc * cc) / (s * s)
    dens = math.exp(-q / 2) / (2 * math.pi * s)
    f_r, f_c = float(stats.norm.pdf(cr)), float(stats.norm.pdf(cc))
    a_r = f_r * float(stats.norm.cdf((cc - rho * cr) / s))
    a_c = f_c * float(stats.norm.cdf((cr - rho * cc) / s))
    J = np.array([[dens, a_r, a_c],
                  [-dens, f_r - a_r, -a_c],
                  [-dens, -a_r, f_c - a_c],
                  [dens, a_r - f_r, a_c - f_c]])
    n = float(cells.sum())
    info = n * (J.T / (cells / n)) @ J
    try:
        v = float(np.linalg.inv(info)[0, 0])
    except np.linalg.LinAlgError:
        return np.nan
    return v if np.isfinite(v) and v > 0 else np.nan


def _hessian(fn: Callable[[Arr], float], x: Arr, h: Arr | float = 1e-4) -> Arr:
    """Central-difference Hessian of the scalar function ``fn`` at ``x`` (steps ``h``, one per
    coordinate or one for all)."""
    p = len(x)
    hs = np.broadcast_to(np.asarray(h, dtype=float), (p,))
    out = np.empty((p, p))
    for i in range(p):
        for j in range(i, p):
            ei, ej = np.eye(p)[i] * hs[i], np.eye(p)[j] * hs[j]
            val = (fn(x + ei + ej) - fn(x + ei - ej) - fn(x - ei + ej)
                   + fn(x - ei - ej)) / (4 * hs[i] * hs[j])
            out[i, j] = out[j, i] = val
    return out


def _tetrachoric_vec(a: Arr, b: Arr, c: Arr, d: Arr) -> tuple[Arr, Arr]:
    """:func:`tetrachoric` for each table (one likelihood fit per table, as metafor)."""
    y = np.full(np.shape(a), np.nan)
    v = np.full(np.shape(a), np.nan)
    for i in range(len(y)):
        cells = (a[i], b[i], c[i], d[i])
        if not np.all(np.isfinite(cells)):
            continue
        y[i], v[i] = tetrachoric(*(float(x) for x in cells))
    return y, v


def paired(a: Arr, b: Arr, c: Arr, d: Arr, kind: str) -> tuple[Arr, Arr]:
    """Measures of a paired (matched) 2x2 table, ``a`` = both positive, ``b`` = first only,
    ``c`` = second only, ``d`` = neither; ``p12 = b/n``, ``p21 = c/n``, ``p1. = (a+b)/n``,
    ``p.1 = (a+c)/n`` (Fleiss, Levin & Paik 2003, *Statistical Methods for Rates and
    Proportions*, ch. 13; Zou 2007; metafor ``MPRD``, ``MPRR``, ``MPOR``, ``MPORC``, ``MPPETO``):

    * ``RD``: ``p1. - p.1``, variance ``(p12 (1-p12) + p21 (1-p21) + 2 p12 p21) / n``;
    * ``RR``: ``log(p1./p.1)``, variance ``(p12 + p21) / (n p1. p.1)``;
    * ``OR``: marginal log odds ratio, variance ``(p12 (1-p12) + p21 (1-p21) + 2 p12 p21) /
      (n p1. (1-p1.) p.1 (1-p.1))``;
    * ``ORC``: conditional log OR ``log(b/c)``, variance ``1/b + 1/c``;
    * ``PETO``: Peto's conditional log OR ``(b - E)/V``, ``E = (b+c)/2``, ``V = (b+c)/4``,
      variance ``1/V``.
    """
    n = a + b + c + d
    p12, p21, p1_, p_1 = b / n, c / n, (a + b) / n, (a + c) / n
    if kind == "RD":
        return p1_ - p_1, (p12 * (1 - p12) + 2 * p12 * p21 + p21 * (1 - p21)) / n
    if kind == "RR":
        return np.log(p1_) - np.log(p_1), (p12 + p21) / (n * p1_ * p_1)
    if kind == "OR":
        return (np.log(p1_ / (1 - p1_)) - np.log(p_1 / (1 - p_1)),
                (p12 * (1 - p12) + p21 * (1 - p21) + 2 * p12 * p21)
                / (n * p1_ * (1 - p1_) * p_1 * (1 - p_1)))
    if kind == "ORC":
        return np.log(b) - np.log(c), 1 / b + 1 / c
    e, v = (b + c) / 2, (b + c) / 4
    return (b - e) / v, 1 / v


def paired_marginal_log_odds(a: Arr, b: Arr, c: Arr, d: Arr, r: Arr) -> tuple[Arr, Arr]:
    """Marginal log odds ratio of paired binary data from the two marginal tables (``a, b``
    events and non-events under the first condition, ``c, d`` under the second) and the
    correlation ``r`` of the paired responses: ``log(a d / (b c))`` with variance ``1/a + 1/b +
    1/c + 1/d - 2 delta / n``, ``n = round((a+b+c+d)/2)`` pairs, ``s = (r sqrt(abcd) + ab)/n``,
    ``delta = n^2 (n s - ab) / (abcd)`` (Elbourne et al. 2002, Int J Epidemiol 31:140; Stedman
    et al. 2011; metafor ``MPORM``). ``round`` halves to even, as R's."""
    y, v = log_odds_ratio(a, b, c, d)
    n = np.round((a + b + c + d) / 2)
    s = (r * np.sqrt(a * b * c * d) + a * b) / n
    delta = n**2 * (n * s - a * b) / (a * b * c * d)
    return y, v - 2 * delta / n


# =========================================================================== rates, proportions


def sqrt_rate_difference(x1: Arr, x2: Arr, t1: Arr, t2: Arr) -> tuple[Arr, Arr]:
    """Square-root transformed incidence rate difference ``sqrt(x1/t1) - sqrt(x2/t2)`` with
    variance ``1/(4 t1) + 1/(4 t2)`` (Bartlett 1936; metafor ``IRSD``)."""
    return np.sqrt(x1 / t1) - np.sqrt(x2 / t2), 1 / (4 * t1) + 1 / (4 * t2)


def rate(x: Arr, t: Arr, kind: str = "IR") -> tuple[Arr, Arr]:
    """One-group incidence rate (metafor ``IR``, ``IRS``, ``IRFT``): raw ``x/t`` with variance
    ``x/t^2`` (Poisson), square root ``sqrt(x/t)`` with variance ``1/(4t)`` (Bartlett 1936), or
    Freeman-Tukey ``(sqrt(x/t) + sqrt((x+1)/t))/2`` with variance ``1/(4t)`` (Freeman & Tukey
    1950, Ann Math Stat 21:607). Units: events per unit of person-time (IR)."""
    ir = x / t
    if kind == "IRS":
        return np.sqrt(ir), 1 / (4 * t)
    if kind == "IRFT":
        return (np.sqrt(ir) + np.sqrt(ir + 1 / t)) / 2, 1 / (4 * t)
    return ir, ir / t


def log_proportion(x: Arr, m: Arr, vtype: str = "LS") -> tuple[Arr, Arr]:
    """Log proportion ``log(x/n)`` with variance ``1/x - 1/n`` (``LS``) or ``1/(pbar n) - 1/n``
    with the n-weighted mean proportion ``pbar`` (``AV``) (delta method; metafor ``PLN``)."""
    n = x + m
    p = x / n
    if vtype == "AV":
        q = _wmean(p, n)
        return np.log(p), 1 / (q * n) - 1 / n
    return np.log(p), 1 / x - 1 / n


# =========================================================================== two groups, means


def coefficient_of_variation_ratio(m1: Arr, m2: Arr, sd1: Arr, sd2: Arr, n1: Arr,
                                   n2: Arr) -> tuple[Arr, Arr]:
    """Log coefficient of variation ratio with the small-sample bias correction of each log CV:
    ``log(sd1/m1) + 1/(2(n1-1)) - log(sd2/m2) - 1/(2(n2-1))``, variance
    ``1/(2(n1-1)) + sd1^2/(n1 m1^2) + 1/(2(n2-1)) + sd2^2/(n2 m2^2)`` (Nakagawa et al. 2015,
    Methods Ecol Evol 6:143, eq. 11-12; metafor ``CVR``)."""
    y = (np.log(sd1 / m1) + 1 / (2 * (n1 - 1))) - (np.log(sd2 / m2) + 1 / (2 * (n2 - 1)))
    v = (1 / (2 * (n1 - 1)) + sd1**2 / (n1 * m1**2) + 1 / (2 * (n2 - 1))
         + sd2**2 / (n2 * m2**2))
    return y, v


def variability_ratio(sd1: Arr, sd2: Arr, n1: Arr, n2: Arr) -> tuple[Arr, Arr]:
    """Log variability ratio ``log(sd1/sd2) + 1/(2(n1-1)) - 1/(2(n2-1))``, variance
    ``1/(2(n1-1)) + 1/(2(n2-1))`` (Nakagawa et al. 2015, Methods Ecol Evol 6:143, eq. 5-6;
    metafor ``VR``)."""
    return (np.log(sd1 / sd2) + 1 / (2 * (n1 - 1)) - 1 / (2 * (n2 - 1)),
            1 / (2 * (n1 - 1)) + 1 / (2 * (n2 - 1)))


def _d_uncorrected(m1: Arr, m2: Arr, sd1: Arr, sd2: Arr, n1: Arr, n2: Arr) -> Arr:
    """Cohen's d with the pooled SD (no small-sample correction), as metafor's ``di``."""
    return (m1 - m2) / _e._pooled_sd(sd1, sd2, n1, n2)


def point_biserial(m1: Arr, m2: Arr, sd1: Arr, sd2: Arr, n1: Arr, n2: Arr,
                   vtype: str = "LS") -> tuple[Arr, Arr]:
    """Point-biserial correlation from two groups: ``r = d / sqrt(d^2 + h)``, ``h = m/n1 + m/n2``,
    ``m = n1 + n2 - 2``, d Cohen's d (Rosenthal 1994; Das Gupta 1960, Psychometrika 25:393).
    Variance ``h^2 / (h + d^2)^3 (1/n1 + 1/n2 + d^2/(2N))`` (``ST``/``LS``, group sizes fixed:
    the delta method on the SMD's variance) or ``(1 - r^2)^2 (N r^2 / (4 n1 n2) + (2 - 3 r^2) /
    (2N))`` (``CS``, cross-sectional sampling; Tate 1954, Ann Math Stat 25:603) (metafor
    ``RPB``)."""
    n = n1 + n2
    m = n - 2
    d = _d_uncorrected(m1, m2, sd1, sd2, n1, n2)
    h = m / n1 + m / n2
    r = d / np.sqrt(d**2 + h)
    if vtype == "CS":
        return r, (1 - r**2) ** 2 * (n * r**2 / (4 * n1 * n2) + (2 - 3 * r**2) / (2 * n))
    return r, h**2 / (h + d**2) ** 3 * (1 / n1 + 1 / n2 + d**2 / (2 * n))


def biserial(m1: Arr, m2: Arr, sd1: Arr, sd2: Arr, n1: Arr, n2: Arr) -> tuple[Arr, Arr]:
    """Biserial correlation from two groups: ``r_b = sqrt(p1 p2) / phi(z) * r_pb`` with
    ``p_j = n_j/N``, ``z = Phi^-1(1 - p1)``, ``r_pb`` the point-biserial correlation (Jacobs &
    Viechtbauer 2017, Res Synth Methods 8:161, eq. 8). Variance (Soper 1914; Jacobs &
    Viechtbauer 2017, eq. 12) ``[p1 p2 / phi(z)^2 - (3/2 + (1 - p1 z/phi(z))(1 + p2 z/phi(z)))
    r^2 + r^4] / (N - 1)`` with ``r`` truncated to [-1, 1] (the estimate itself is not, as in
    metafor ``RBIS``)."""
    n = n1 + n2
    rpb, _ = point_biserial(m1, m2, sd1, sd2, n1, n2)
    p1, p2 = n1 / n, n2 / n
    z = stats.norm.isf(p1)
    fz = stats.norm.pdf(z)
    y = np.sqrt(p1 * p2) / fz * rpb
    yt = np.where(np.abs(y) > 1, np.sign(y), y)
    v = (p1 * p2 / fz**2 - (1.5 + (1 - p1 * z / fz) * (1 + p2 * z / fz)) * yt**2 + yt**4) / (n - 1)
    return y, v


def smd_to_log_odds(m1: Arr, m2: Arr, sd1: Arr, sd2: Arr, n1: Arr, n2: Arr,
                    dist: str = "logistic") -> tuple[Arr, Arr]:
    """Cohen's d converted to a log odds ratio: ``pi/sqrt(3) d`` with variance ``pi^2/3 (1/n1 +
    1/n2 + d^2/(2N))`` (logistic; Hasselblad & Hedges 1995, Psychol Bull 117:167; metafor
    ``D2ORL``) or ``1.65 d`` with variance ``1.65^2 (...)`` (normal; Cox 1970; metafor
    ``D2ORN``)."""
    n = n1 + n2
    d = _d_uncorrected(m1, m2, sd1, sd2, n1, n2)
    f = 1.65 if dist == "normal" else np.pi / np.sqrt(3)
    return f * d, f**2 * (1 / n1 + 1 / n2 + d**2 / (2 * n))


def smd_control_sd(m1: Arr, m2: Arr, sd1: Arr, sd2: Arr, n1: Arr, n2: Arr, vtype: str = "LS",
                   correct: bool = True, heteroscedastic: bool = False) -> tuple[Arr, Arr]:
    """SMD standardised by the SD of group 2 (Glass's delta), ``g = c(n2 - 1) (m1 - m2) / sd2``
    (Glass 1976; Hedges 1981, J Educ Stat 6:107; metafor ``SMD1``). Variances as metafor:
    ``LS`` ``1/n1 + 1/n2 + g^2/(2 n2)``, ``LS2`` ``c^2 (1/n1 + 1/n2 + d^2/(2 n2))``, ``UB``
    ``1/n1 + 1/n2 + (1 - (m-2)/(m c^2)) g^2`` with ``m = n2 - 1``, ``AV`` with the
    (n1+n2)-weighted mean g. ``heteroscedastic=True`` (metafor ``SMD1H``): variance
    ``(sd1^2/sd2^2)/n1 + 1/n2 + g^2/(2 n2)`` (Bonett 2008, Psychol Methods 13:99)."""
    m = n2 - 1
    c = hedges_correction(m) if correct else np.ones(np.shape(m1))
    d = (m1 - m2) / sd2
    g = c * d
    base = 1 / n1 + 1 / n2
    if heteroscedastic:
        return g, (sd1**2 / sd2**2) / n1 + 1 / n2 + g**2 / (2 * n2)
    if vtype == "UB":
        return g, base + (1 - (m - 2) / (m * c**2)) * g**2
    if vtype == "LS2":
        return g, c**2 * (base + d**2 / (2 * n2))
    if vtype == "AV":
        return g, base + _wmean(g, n1 + n2) ** 2 / (2 * n2)
    return g, base + g**2 / (2 * n2)


# =========================================================================== one group


def change_raw_std_heteroscedastic(m1: Arr, m2: Arr, sd1: Arr, sd2: Arr, n: Arr, r: Arr,
                                   correct: bool = True) -> tuple[Arr, Arr]:
    """Standardised mean change with raw-score standardisation, heteroscedastic variance:
    ``g = c(n-1) (m1 - m2) / sd1``, variance ``c^2 [(sd1^2 + sd2^2 - 2 r sd1 sd2) / (sd1^2 (n-1))
    + g^2 / (2(n-1))]`` (Bonett 2008, Psychol Methods 13:99, eq. 12; metafor ``SMCRH``)."""
    c = hedges_correction(n - 1) if correct else np.ones(np.shape(n))
    vard = sd1**2 + sd2**2 - 2 * r * sd1 * sd2
    g = c * (m1 - m2) / sd1
    return g, c**2 * (vard / (sd1**2 * (n - 1)) + g**2 / (2 * (n - 1)))


def log_ratio_of_means_paired(m1: Arr, m2: Arr, sd1: Arr, sd2: Arr, n: Arr,
                              r: Arr) -> tuple[Arr, Arr]:
    """Log ratio of two dependent means ``log(m1/m2)`` with variance ``sd1^2/(n m1^2) +
    sd2^2/(n m2^2) - 2 r sd1 sd2/(n m1 m2)`` (Lajeunesse 2011, Ecology 92:2049; metafor
    ``ROMC``)."""
    return (np.log(m1 / m2),
            sd1**2 / (n * m1**2) + sd2**2 / (n * m2**2) - 2 * r * sd1 * sd2 / (m1 * m2 * n))


def cv_ratio_paired(m1: Arr, m2: Arr, sd1: Arr, sd2: Arr, n: Arr, r: Arr) -> tuple[Arr, Arr]:
    """Log CV ratio of dependent measurements ``log(sd1/m1) - log(sd2/m2)`` with variance
    ``(1 - r^2)/(n - 1) + (m1^2 sd2^2 + m2^2 sd1^2 - 2 m1 m2 r sd1 sd2) / (m1^2 m2^2 n)``
    (Nakagawa et al. 2015, Methods Ecol Evol 6:143; metafor ``CVRC``)."""
    return (np.log(sd1 / m1) - np.log(sd2 / m2),
            (1 - r**2) / (n - 1)
            + (m1**2 * sd2**2 + m2**2 * sd1**2 - 2 * m1 * m2 * r * sd1 * sd2)
            / (m1**2 * m2**2 * n))


def variability_ratio_paired(sd1: Arr, sd2: Arr, n: Arr, r: Arr) -> tuple[Arr, Arr]:
    """Log variability ratio of dependent measurements ``log(sd1/sd2)`` with variance
    ``(1 - r^2)/(n - 1)`` (Nakagawa et al. 2015; metafor ``VRC``)."""
    return np.log(sd1 / sd2), (1 - r**2) / (n - 1)


def one_group(m: Arr, sd: Arr, n: Arr, kind: str, correct: bool = True) -> tuple[Arr, Arr]:
    """One-group measures (metafor ``MNLN``, ``CVLN``, ``SDLN``, ``SMN``): log mean ``log(m)``,
    variance ``sd^2/(n m^2)`` (delta method); log CV ``log(sd/m) + 1/(2(n-1))``, variance
    ``1/(2(n-1)) + sd^2/(n m^2)``, and log SD ``log(sd) + 1/(2(n-1))``, variance
    ``1/(2(n-1))`` (Nakagawa et al. 2015, Methods Ecol Evol 6:143, with the bias correction
    ``1/(2(n-1))``); single-group SMD ``c(n-1) m/sd``, variance ``1/n + g^2/(2n)`` (Becker
    1988)."""
    if kind == "MNLN":
        return np.log(m), sd**2 / (n * m**2)
    if kind == "CVLN":
        return np.log(sd / m) + 1 / (2 * (n - 1)), 1 / (2 * (n - 1)) + sd**2 / (n * m**2)
    if kind == "SDLN":
        return np.log(sd) + 1 / (2 * (n - 1)), 1 / (2 * (n - 1))
    c = hedges_correction(n - 1) if correct else np.ones(np.shape(n))
    g = c * m / sd
    return g, 1 / n + g**2 / (2 * n)


# =========================================================================== correlations


def hyp2f1(a: float, b: float, c: Arr, x: Arr) -> Arr:
    """Gauss hypergeometric function ``2F1(a, b; c; x)`` for ``0 <= x <= 1``, ``c > b > 0``:
    :func:`scipy.special.hyp2f1`, and where that returns NaN (it does for large ``c`` with ``x``
    near 1, e.g. ``2F1(1/2, 1/2; 162; 0.9975)``, and for every ``c`` above a few hundred with
    ``x`` near 1: a UCOR of n = 3,000 and r = 0.1) Gauss's series ``sum_k (a)_k (b)_k /
    ((c)_k k!) x^k`` (A&S 15.1.1) when ``c >= 20`` (its terms fall by a factor ``< k / (c +
    k)``), else Euler's integral ``Gamma(c)/(Gamma(b) Gamma(c-b)) int_0^1 t^(b-1)
    (1-t)^(c-b-1) (1-xt)^(-a) dt`` (A&S 15.3.1) by adaptive quadrature with the algebraic
    end-point weights (which fails for large ``c``: the fuzz of session 14 found UCOR NaN for
    n >~ 3,000), or Gauss's value ``Gamma(c) Gamma(c-a-b) / (Gamma(c-a) Gamma(c-b))`` at
    ``x = 1`` (A&S 15.1.20)."""
    import warnings

    from scipy import integrate

    c, x = np.broadcast_arrays(np.asarray(c, dtype=float), np.asarray(x, dtype=float))
    with np.errstate(all="ignore"):
        out = np.asarray(special.hyp2f1(a, b, c, x), dtype=float).copy()
    for i in np.flatnonzero(~np.isfinite(out) & np.isfinite(c) & np.isfinite(x)):
        ci, xi = float(c.flat[i]), float(x.flat[i])
        if ci <= b or xi < 0 or xi > 1:
            continue
        if xi == 1:
            if ci - a - b > 0:
                out.flat[i] = float(np.exp(special.gammaln(ci) + special.gammaln(ci - a - b)
                                           - special.gammaln(ci - a) - special.gammaln(ci - b)))
            continue
        if ci >= 20:
            out.flat[i] = _hyp2f1_series(a, b, ci, xi)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", integrate.IntegrationWarning)
            val, _ = integrate.quad(lambda t, xi=xi: (1 - xi * t) ** (-a), 0, 1, weight="alg",
                                    wvar=(b - 1, ci - b - 1), epsabs=0, epsrel=1e-13,
                                    limit=200)
        out.flat[i] = val / special.beta(b, ci - b)
    return out


def _hyp2f1_series(a: float, b: float, c: float, x: float) -> float:
    """Gauss's series of ``2F1(a, b; c; x)`` (A&S 15.1.1) for ``0 <= x < 1``, summed until a
    term no longer changes the sum (NaN if that takes more than 100,000 terms)."""
    total, term = 1.0, 1.0
    for k in range(100_000):
        term *= (a + k) * (b + k) / ((c + k) * (k + 1)) * x
        new = total + term
        if new == total:
            return new
        total = new
    return math.nan


def unbiased_correlation(r: Arr, n: Arr, vtype: str = "LS") -> tuple[Arr, Arr]:
    """Approximately unbiased correlation ``r 2F1(1/2, 1/2; (n-2)/2; 1 - r^2)`` (Olkin & Pratt
    1958, Ann Math Stat 29:201, eq. 2.3; metafor ``UCOR``), undefined for ``n <= 4``. Variance
    ``(1 - u^2)^2/(n - 1)`` (``LS``), with the n-weighted mean ``u`` (``AV``), or the unbiased
    estimate ``u^2 - [1 - (n-3)/(n-2) (1 - r^2) 2F1(1, 1; n/2; 1 - r^2)]`` (``UB``; Hedges 1989,
    Psychometrika 54:149). The Gauss hypergeometric function is :func:`scipy.special.hyp2f1`
    (metafor: GSL ``hyperg_2F1``)."""
    x = 1 - r**2
    ok = n > 4
    with np.errstate(all="ignore"):
        u = np.where(ok, r * hyp2f1(0.5, 0.5, (n - 2) / 2, x), np.nan)
        if vtype == "UB":
            f = np.where(ok, hyp2f1(1.0, 1.0, n / 2, x), np.nan)
            return u, u**2 - (1 - (n - 3) / (n - 2) * x * f)
    if vtype == "AV":
        return u, (1 - _wmean(u, n) ** 2) ** 2 / (n - 1)
    return u, (1 - u**2) ** 2 / (n - 1)


def partial_correlation(t: Arr, n: Arr, m: Arr, kind: str = "PCOR", r2: Arr | None = None,
                        vtype: str = "LS") -> tuple[Arr, Arr]:
    """Partial and semi-partial correlations from the t statistic of a regression coefficient
    with ``m`` further predictors, ``df = n - m - 1`` (Aloe & Becker 2012, J Educ Behav Stat
    37:278; Aloe & Thompson 2013; metafor ``PCOR``, ``ZPCOR``, ``SPCOR``):

    * ``PCOR`` ``r = t / sqrt(t^2 + df)``, variance ``(1 - r^2)^2 / df`` (``LS``) or with the
      n-weighted mean r (``AV``);
    * ``ZPCOR`` ``atanh(r)``, variance ``1/df``;
    * ``SPCOR`` ``sr = t sqrt(1 - R^2) / sqrt(df)`` (``R^2`` of the full model, ``r2i``),
      variance ``[R^4 - 2R^2 + (R^2 - sr^2) + 1 - (R^2 - sr^2)^2] / n`` (Aloe & Becker 2012,
      eq. 5; ``AV``: with the n-weighted mean sr).
    """
    df = n - m - 1
    if kind == "SPCOR":
        assert r2 is not None
        y = t * np.sqrt(1 - r2) / np.sqrt(df)
        s = _wmean(y, n) if vtype == "AV" else y
        return y, (r2**2 - 2 * r2 + (r2 - s**2) + 1 - (r2 - s**2) ** 2) / n
    y = t / np.sqrt(t**2 + df)
    if kind == "ZPCOR":
        return 0.5 * np.log((1 + y) / (1 - y)), 1 / df
    s = _wmean(y, n) if vtype == "AV" else y
    return y, (1 - s**2) ** 2 / df


# =========================================================================== alpha, HWE


def cronbach_alpha(a: Arr, m: Arr, n: Arr, kind: str = "ARAW") -> tuple[Arr, Arr]:
    """Cronbach's alpha of a scale with ``m`` items in ``n`` subjects (metafor ``ARAW``,
    ``AHW``, ``ABT``): raw ``alpha`` with variance ``2m (1-alpha)^2 / ((m-1)(n-2))`` (Feldt,
    Woodruff & Salih 1987, Appl Psychol Meas 11:93); Hakstian-Whalen ``1 - (1-alpha)^(1/3)`` with
    variance ``18 m (n-1) (1-alpha)^(2/3) / ((m-1)(9n-11)^2)`` (Hakstian & Whalen 1976,
    Psychometrika 41:219); Bonett ``-log(1 - alpha)`` with variance ``2m / ((m-1)(n-2))``
    (Bonett 2002, J Educ Behav Stat 27:335)."""
    if kind == "AHW":
        return (1 - (1 - a) ** (1 / 3),
                18 * m * (n - 1) * (1 - a) ** (2 / 3) / ((m - 1) * (9 * n - 11) ** 2))
    if kind == "ABT":
        return -np.log(1 - a), 2 * m / ((m - 1) * (n - 2))
    return a, 2 * m * (1 - a) ** 2 / ((m - 1) * (n - 2))


def hardy_weinberg(a: Arr, b: Arr, c: Arr) -> tuple[Arr, Arr]:
    """Log relative excess heterozygosity ``log(p1 / (2 sqrt(p0 p2)))`` of genotype counts
    ``a`` (homozygous), ``b`` (heterozygous), ``c`` (other homozygous), ``p = count/n``, with
    variance ``((1 - p1)/(4 p0 p2) + 1/p1) / n`` (Lin, Tsai & Hsiao 2004; metafor ``REH``)."""
    n = a + b + c
    p0, p1, p2 = a / n, b / n, c / n
    return np.log(p1) - np.log(2 * np.sqrt(p0 * p2)), ((1 - p1) / (4 * p0 * p2) + 1 / p1) / n


# =========================================================================== families


def _get(rows: _Rows, name: str) -> Arr:
    return rows[name] if rows.has(name) else np.full(rows.k, np.nan)


def _prep_pcor(rows: _Rows, o: _Opts, code: str) -> tuple[SimpleNamespace, Arr, Arr]:
    """``ti, ni, mi`` (+ ``r2i`` for SPCOR): metafor's checks (``ni > 0``, ``mi >= 0``,
    ``ni - mi - 1 > 0``, ``0 <= r2i <= 1``) as InputErrors naming the study."""
    rows.positive("ni")
    rows.nonneg("mi")
    if rows.has("r2i"):
        rows.fail((rows["r2i"] < 0) | (rows["r2i"] > 1), "r2i", "an R^2 in [0, 1]")
    rows.fail(rows["ni"] - rows["mi"] - 1 <= 0, "ni",
              "ni > mi + 1 (positive residual degrees of freedom ni - mi - 1)")
    req = Measure.args(_e.MEASURES[code])[0]
    bad = rows.missing(*req)
    return (SimpleNamespace(t=rows["ti"], n=rows["ni"], m=rows["mi"], r2=_get(rows, "r2i")),
            bad, np.full(rows.k, ""))


def _prep_alpha(rows: _Rows, o: _Opts, code: str) -> tuple[SimpleNamespace, Arr, Arr]:
    """``ai`` (alpha <= 1), ``mi`` (items >= 2), ``ni`` (subjects >= 3) as metafor checks them
    (metafor: ``ni > 0``; with ``ni <= 2`` the variance is not defined, so it is refused)."""
    rows.fail(rows["ai"] > 1, "ai", "Cronbach's alpha <= 1")
    rows.fail(rows["mi"] < 2, "mi", "the number of items >= 2")
    rows.at_least(3, "ni")
    bad = rows.missing("ai", "mi", "ni")
    return SimpleNamespace(a=rows["ai"], m=rows["mi"], n=rows["ni"]), bad, np.full(rows.k, "")


def _prep_hwe(rows: _Rows, o: _Opts, code: str) -> tuple[SimpleNamespace, Arr, Arr]:
    rows.nonneg("ai", "bi", "ci")
    tot = rows["ai"] + rows["bi"] + rows["ci"]
    rows.fail(tot == 0, "ai", "genotype counts with a positive total (ai + bi + ci > 0)", tot)
    bad = rows.missing("ai", "bi", "ci")
    zero = ((rows["ai"] == 0) | (rows["bi"] == 0) | (rows["ci"] == 0)) & ~bad
    return (SimpleNamespace(a=rows["ai"], b=rows["bi"], c=rows["ci"]), bad,
            np.where(zero, "a genotype count is zero", ""))


_e._FAMILY_ARGS.update({
    "pcor": (("ti", "ni", "mi"), ("r2i",)),
    "alpha": (("ai", "mi", "ni"), ()),
    "hwe": (("ai", "bi", "ci"), ()),
})
_e._PREP.update({"pcor": _prep_pcor, "alpha": _prep_alpha, "hwe": _prep_hwe})

_PAIRED = ("ai", "bi", "ci", "di")
_DT = ("di", "ti")


def _2x2(f: Callable[..., tuple[Arr, Arr]], *args: str) -> Formula:
    return lambda p, vtype, correct: f(p.a, p.b, p.c, p.d, *args)


def _cont(f: Callable[..., tuple[Arr, Arr]], *args: str) -> Formula:
    return lambda p, vtype, correct: f(p.m1, p.m2, p.sd1, p.sd2, p.n1, p.n2, *args)


def _ch(f: Callable[..., tuple[Arr, Arr]], *args: str) -> Formula:
    return lambda p, vtype, correct: f(p.m1, p.m2, p.sd1, p.sd2, p.n, p.r, *args)


MORE_MEASURES: dict[str, Measure] = {
    # ---- 2x2 tables
    "PHI": Measure("2x2", lambda p, v, c: phi(p.a, p.b, p.c, p.d, v), "phi coefficient",
                   vtypes=("LS", "ST", "CS"), add=0.0),
    "YUQ": Measure("2x2", _2x2(yule, "Q"), "Yule's Q"),
    "YUY": Measure("2x2", _2x2(yule, "Y"), "Yule's Y"),
    "RTET": Measure("2x2", lambda p, v, c: _tetrachoric_vec(p.a, p.b, p.c, p.d),
                    "tetrachoric correlation", add=0.0),
    "PBIT": Measure("2x2", _2x2(probit_difference), "probit difference (SMD)"),
    "OR2DN": Measure("2x2", _2x2(log_odds_to_smd, "normal"),
                     "log odds ratio to SMD (normal distribution)"),
    "OR2DL": Measure("2x2", _2x2(log_odds_to_smd, "logistic"),
                     "log odds ratio to SMD (logistic distribution)"),
    "OR2D": Measure("2x2", _2x2(log_odds_to_smd, "logistic"),
                    "log odds ratio to SMD (logistic; metafor's older name of OR2DL)"),
    # ---- paired (matched) 2x2 tables: ai both, bi first only, ci second only, di neither
    "MPRD": Measure("2x2", _2x2(paired, "RD"), "risk difference, paired binary data",
                    required=_PAIRED, drop=("n1i", "n2i")),
    "MPRR": Measure("2x2", _2x2(paired, "RR"), "log risk ratio, paired binary data",
                    required=_PAIRED, drop=("n1i", "n2i")),
    "MPOR": Measure("2x2", _2x2(paired, "OR"), "marginal log odds ratio, paired binary data",
                    required=_PAIRED, drop=("n1i", "n2i")),
    "MPORC": Measure("2x2", _2x2(paired, "ORC"),
                     "conditional log odds ratio, paired binary data",
                     required=_PAIRED, drop=("n1i", "n2i")),
    "MPPETO": Measure("2x2", _2x2(paired, "PETO"),
                      "Peto's conditional log odds ratio, paired binary data",
                      required=_PAIRED, drop=("n1i", "n2i")),
    "MPORM": Measure("2x2", lambda p, v, c: paired_marginal_log_odds(p.a, p.b, p.c, p.d, p.r),
                     "marginal log odds ratio, paired binary data from marginal tables",
                     required=("ai", "ci", "ri"), more=("ri",)),
    # ---- rates
    "IRSD": Measure("ir2", lambda p, v, c: sqrt_rate_difference(p.x1, p.x2, p.t1, p.t2),
                    "square-root transformed incidence rate difference", add=0.0),
    "IR": Measure("ir1", lambda p, v, c: rate(p.x, p.t, "IR"), "raw incidence rate"),
    "IRS": Measure("ir1", lambda p, v, c: rate(p.x, p.t, "IRS"),
                   "square-root transformed incidence rate", add=0.0),
    "IRFT": Measure("ir1", lambda p, v, c: rate(p.x, p.t, "IRFT"),
                    "Freeman-Tukey transformed incidence rate", add=0.0),
    # ---- proportions
    "PLN": Measure("prop", lambda p, v, c: log_proportion(p.x, p.m, v), "log proportion",
                   vtypes=("LS", "AV")),
    # ---- two groups, means
    "CVR": Measure("cont2", _cont(coefficient_of_variation_ratio),
                   "log coefficient of variation ratio"),
    "VR": Measure("cont2", lambda p, v, c: variability_ratio(p.sd1, p.sd2, p.n1, p.n2),
                  "log variability ratio", required=("sd1i", "sd2i", "n1i", "n2i")),
    "RPB": Measure("cont2", lambda p, v, c: point_biserial(p.m1, p.m2, p.sd1, p.sd2, p.n1,
                                                           p.n2, v),
                   "point-biserial correlation", vtypes=("LS", "ST", "CS"),
                   required=("n1i", "n2i"), more=_DT),
    "RBIS": Measure("cont2", _cont(biserial), "biserial correlation", required=("n1i", "n2i"),
                    more=_DT),
    "D2ORN": Measure("cont2", _cont(smd_to_log_odds, "normal"),
                     "SMD to log odds ratio (normal distribution)", required=("n1i", "n2i"),
                     more=_DT),
    "D2ORL": Measure("cont2", _cont(smd_to_log_odds, "logistic"),
                     "SMD to log odds ratio (logistic distribution)", required=("n1i", "n2i"),
                     more=_DT),
    "D2OR": Measure("cont2", _cont(smd_to_log_odds, "logistic"),
                    "SMD to log odds ratio (logistic; metafor's older name of D2ORL)",
                    required=("n1i", "n2i"), more=_DT),
    "SMD1": Measure("cont2", lambda p, v, c: smd_control_sd(p.m1, p.m2, p.sd1, p.sd2, p.n1,
                                                            p.n2, v, c),
                    "SMD standardised by the SD of group 2 (Glass's delta)",
                    vtypes=("LS", "UB", "LS2", "AV"), correctable=True,
                    required=("m1i", "m2i", "sd2i", "n1i", "n2i")),
    "SMD1H": Measure("cont2", lambda p, v, c: smd_control_sd(p.m1, p.m2, p.sd1, p.sd2, p.n1,
                                                             p.n2, v, c, True),
                     "SMD standardised by the SD of group 2, heteroscedastic variance",
                     correctable=True),
    # ---- one group, change
    "SMCRH": Measure("change", lambda p, v, c: change_raw_std_heteroscedastic(
        p.m1, p.m2, p.sd1, p.sd2, p.n, p.r, c),
        "standardised mean change (raw-score standardisation, heteroscedastic)",
        correctable=True),
    "ROMC": Measure("change", _ch(log_ratio_of_means_paired), "log ratio of dependent means"),
    "CVRC": Measure("change", _ch(cv_ratio_paired), "log CV ratio of dependent measurements"),
    "VRC": Measure("change", lambda p, v, c: variability_ratio_paired(p.sd1, p.sd2, p.n, p.r),
                   "log variability ratio of dependent measurements",
                   required=("sd1i", "sd2i", "ni", "ri")),
    # ---- one group, mean
    "MNLN": Measure("mean", lambda p, v, c: one_group(p.m, p.sd, p.n, "MNLN"), "log mean"),
    "CVLN": Measure("mean", lambda p, v, c: one_group(p.m, p.sd, p.n, "CVLN"),
                    "log coefficient of variation"),
    "SDLN": Measure("mean", lambda p, v, c: one_group(p.m, p.sd, p.n, "SDLN"),
                    "log standard deviation", required=("sdi", "ni")),
    "SMN": Measure("mean", lambda p, v, c: one_group(p.m, p.sd, p.n, "SMN", c),
                   "single-group standardised mean", correctable=True),
    # ---- correlations
    "UCOR": Measure("cor", lambda p, v, c: unbiased_correlation(p.r, p.n, v),
                    "approximately unbiased correlation (Olkin-Pratt)",
                    vtypes=("LS", "UB", "AV")),
    "PCOR": Measure("pcor", lambda p, v, c: partial_correlation(p.t, p.n, p.m, "PCOR",
                                                                vtype=v),
                    "partial correlation", vtypes=("LS", "AV"), required=("ti", "ni", "mi"),
                    drop=("r2i",)),
    "ZPCOR": Measure("pcor", lambda p, v, c: partial_correlation(p.t, p.n, p.m, "ZPCOR"),
                     "Fisher r-to-z partial correlation", required=("ti", "ni", "mi"),
                     drop=("r2i",)),
    "SPCOR": Measure("pcor", lambda p, v, c: partial_correlation(p.t, p.n, p.m, "SPCOR", p.r2,
                                                                 v),
                     "semi-partial correlation", vtypes=("LS", "AV"),
                     required=("ti", "ni", "mi", "r2i")),
    # ---- reliability, genetics
    "ARAW": Measure("alpha", lambda p, v, c: cronbach_alpha(p.a, p.m, p.n, "ARAW"),
                    "raw Cronbach's alpha"),
    "AHW": Measure("alpha", lambda p, v, c: cronbach_alpha(p.a, p.m, p.n, "AHW"),
                   "Cronbach's alpha, Hakstian-Whalen transformed"),
    "ABT": Measure("alpha", lambda p, v, c: cronbach_alpha(p.a, p.m, p.n, "ABT"),
                   "Cronbach's alpha, Bonett transformed"),
    "REH": Measure("hwe", lambda p, v, c: hardy_weinberg(p.a, p.b, p.c),
                   "log relative excess heterozygosity (Hardy-Weinberg)"),
}

_e.MEASURES.update(MORE_MEASURES)
