"""Conversions of reported trial statistics into the inputs of effect sizes.

All functions are vectorised: arguments are numbers or array-likes that broadcast together, and
the result has the broadcast shape (a plain ``float`` when every argument is a scalar). Bad input
raises :class:`evsynth.errors.InputError` naming the study (``row i``, 1-based over the flattened
broadcast arrays, or the label given in ``labels``) and the field.

Sources: Cochrane Handbook for Systematic Reviews of Interventions v6.4 (Higgins et al., 2023),
chapter 6.5; Wan et al. (2014); Luo et al. (2018); Shi et al. (2020); metafor's ``conv.fivenum``,
``conv.wald`` (Viechtbauer, 2010).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from evsynth._lazy import LazyModule
from evsynth.errors import InputError, first_bad, study_name
from evsynth.validation import level_fraction

#: scipy.stats (~0.4 s to import) loaded on first use: most reviews never call it
stats = LazyModule("scipy.stats")

__all__ = [
    "CombinedGroup",
    "MeanSD",
    "combine_groups",
    "combine_groups_many",
    "correlation_from_change",
    "loghr_from_logrank",
    "loghr_from_oe",
    "mean_sd_from_median",
    "sd_change",
    "sd_from_ci",
    "sd_from_ci_md",
    "sd_from_p",
    "sd_from_se",
    "sd_from_t",
    "se_from_ci",
    "se_from_p",
    "wald_yi_vi",
]

ArrayLike = float | int | Sequence | np.ndarray
Labels = Sequence | None


# --------------------------------------------------------------------------- helpers


def _as_float(x: ArrayLike, field: str) -> np.ndarray:
    """``x`` as a float array; InputError naming ``field`` if it is not numeric."""
    try:
        raw = np.asarray(x)
        if raw.dtype.kind in "USO" and any(isinstance(v, str) and "_" in v
                                            for v in raw.ravel().tolist()):
            raise ValueError("a digit separator '_'")  # numpy reads "1_0" as 10: a slip
        return raw.astype(float)
    except (TypeError, ValueError):
        raise InputError(f"field '{field}': {x!r} is not a number or array of numbers") from None


def _broadcast(fields: dict[str, ArrayLike]) -> tuple[list[np.ndarray], bool]:
    """Convert and broadcast the named arguments; also tell whether all of them were scalars."""
    arrays = [_as_float(v, k) for k, v in fields.items()]
    scalar = all(a.ndim == 0 for a in arrays)
    try:
        out = np.broadcast_arrays(*arrays)
    except ValueError:
        shapes = ", ".join(f"{k}{a.shape}" for k, a in zip(fields, arrays, strict=True))
        raise InputError(f"arguments have incompatible shapes: {shapes}; expected arrays of "
                         f"one common length (or scalars)") from None
    return [np.array(a, dtype=float) for a in out], scalar


def _fail(mask: np.ndarray, x: np.ndarray, field: str, want: str, labels: Labels) -> None:
    """Raise InputError at the first True of ``mask`` (flattened), naming study and field."""
    i = first_bad(np.ravel(mask))
    if i is not None:
        v = float(np.ravel(x)[i])
        raise InputError(f"{study_name(i, labels)}: field '{field}' is {v!r}; expected {want}")


def _finite(x: np.ndarray, field: str, labels: Labels) -> None:
    _fail(~np.isfinite(x), x, field, "a finite number", labels)


def _nonneg(x: np.ndarray, field: str, labels: Labels) -> None:
    _finite(x, field, labels)
    _fail(x < 0, x, field, "a number >= 0", labels)


def _positive(x: np.ndarray, field: str, labels: Labels) -> None:
    _finite(x, field, labels)
    _fail(x <= 0, x, field, "a positive number", labels)


def _group_size(n: np.ndarray, field: str, labels: Labels) -> None:
    """A number of participants: finite and >= 1 (not necessarily whole: an effective sample
    size after a design-effect adjustment, Cochrane Handbook 23.1.4, need not be)."""
    _finite(n, field, labels)
    _fail(n < 1, n, field, "a group size >= 1", labels)


def _correlation(r: np.ndarray, field: str, labels: Labels) -> None:
    _finite(r, field, labels)
    _fail((r < -1) | (r > 1), r, field, "a correlation in [-1, 1]", labels)


def _probability(p: np.ndarray, field: str, labels: Labels) -> None:
    _finite(p, field, labels)
    _fail((p <= 0) | (p >= 1), p, field, "a P value strictly between 0 and 1", labels)


def _pair(x: np.ndarray, fx: str, y: np.ndarray, fy: str, labels: Labels) -> None:
    """InputError at the first study where one of a pair (e.g. q1/q3) is NaN and the other not."""
    i = first_bad(np.ravel(np.isnan(x) != np.isnan(y)))
    if i is not None:
        missing, other = (fx, fy) if np.isnan(np.ravel(x)[i]) else (fy, fx)
        raise InputError(f"{study_name(i, labels)}: field '{missing}' is missing while "
                         f"'{other}' is given; expected {fx} and {fy} both given (or both "
                         f"missing)")


def _out(x: np.ndarray, scalar: bool) -> float | np.ndarray:
    return float(x) if scalar else x


# --------------------------------------------------------------------------- change scores


def sd_change(sd_baseline: ArrayLike, sd_followup: ArrayLike, r: ArrayLike, *,
              labels: Labels = None) -> float | np.ndarray:
    """SD of change from baseline, given baseline and follow-up SDs and their correlation.

    ``SD_change = sqrt(SD_b^2 + SD_f^2 - 2 r SD_b SD_f)`` (Cochrane Handbook v6.4, section
    6.5.2.8; Follmann et al. 1992). Units: those of the SDs.

    Parameters
    ----------
    sd_baseline, sd_followup : float or array_like
        SDs at baseline and at follow-up (>= 0).
    r : float or array_like
        Correlation between baseline and follow-up measurements, in [-1, 1] (often imputed,
        e.g. from :func:`correlation_from_change` applied to a study reporting all three SDs).
    labels : sequence of str, optional
        Study labels used in error messages instead of ``row i``.

    Returns
    -------
    float or numpy.ndarray
        The SD of the change scores (a float when every argument is a scalar).

    References
    ----------
    .. [1] Higgins JPT, Thomas J, Chandler J, Cumpston M, Li T, Page MJ, Welch VA (eds.)
           (2019). *Cochrane Handbook for Systematic Reviews of Interventions*, 2nd edition
           (online version 6.4, 2023). Wiley. doi:10.1002/9781119536604
    .. [2] Follmann D, Elliott P, Suh I, Cutler J (1992). Variance imputation for overviews of
           clinical trials with continuous response. *J Clin Epidemiol* 45(7):769-773.

    Examples
    --------
    >>> from evsynth import convert
    >>> round(convert.sd_change(10.0, 12.0, r=0.5), 4)
    11.1355
    >>> convert.sd_change([10.0, 8.0], [12.0, 8.0], r=0.8).round(4)
    array([7.2111, 5.0596])
    """
    (sb, sf, rr), scalar = _broadcast({"sd_baseline": sd_baseline, "sd_followup": sd_followup,
                                       "r": r})
    _nonneg(sb, "sd_baseline", labels)
    _nonneg(sf, "sd_followup", labels)
    _correlation(rr, "r", labels)
    # written as (sb - sf)^2 + 2 (1 - r) sb sf, which is >= 0 for r <= 1 without cancellation
    var = (sb - sf) ** 2 + 2.0 * (1.0 - rr) * sb * sf
    return _out(np.sqrt(np.maximum(var, 0.0)), scalar)


# --------------------------------------------------------------------------- generic SEs


def se_from_ci(lower: ArrayLike, upper: ArrayLike, level: float = 95, log: bool = False, *,
               labels: Labels = None) -> float | np.ndarray:
    """Standard error of an estimate from its normal-theory confidence interval.

    ``SE = (upper - lower) / (2 z_{(1+level)/2})``, e.g. divisor 3.92 for 95% (Cochrane Handbook
    v6.4, section 6.3.1; for ratio measures (``log=True``) the limits are log-transformed first,
    section 6.3.2, giving the SE of the log ratio; as metafor ``conv.wald``).

    Parameters
    ----------
    lower, upper : float or array_like
        Confidence limits (``lower < upper``); ratios (> 0) when ``log=True``.
    level : float, default 95
        Confidence level in percent (95) or as a fraction (0.95).
    log : bool, default False
        The limits are ratios (OR, RR, HR): return the SE of the log ratio.
    labels : sequence of str, optional
        Study labels used in error messages instead of ``row i``.

    Returns
    -------
    float or numpy.ndarray
        Standard error(s) on the analysis scale (log scale when ``log=True``).

    References
    ----------
    .. [1] Higgins JPT, Thomas J, Chandler J, Cumpston M, Li T, Page MJ, Welch VA (eds.)
           (2019). *Cochrane Handbook for Systematic Reviews of Interventions*, 2nd edition
           (online version 6.4, 2023). Wiley. doi:10.1002/9781119536604
    .. [2] Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package.
           *J Stat Softw* 36(3):1-48. doi:10.18637/jss.v036.i03

    Examples
    --------
    A mean difference of 0.6 with 95% CI 0.2 to 1.0, and a risk ratio with 95% CI 0.5 to 0.9:

    >>> from evsynth import convert
    >>> round(convert.se_from_ci(0.2, 1.0), 4)
    0.2041
    >>> round(convert.se_from_ci(0.5, 0.9, log=True), 4)
    0.1499
    """
    (lo, up), scalar = _broadcast({"lower": lower, "upper": upper})
    lv = level_fraction(level)
    if log:
        _positive(lo, "lower", labels)
        _positive(up, "upper", labels)
        lo, up = np.log(lo), np.log(up)
    else:
        _finite(lo, "lower", labels)
        _finite(up, "upper", labels)
    _fail(lo >= up, np.exp(lo) if log else lo, "lower",
          "a lower confidence limit < the upper limit", labels)
    z = special.ndtri(0.5 + lv / 2.0)   # stats.norm.ppf without importing scipy.stats
    return _out((up - lo) / (2.0 * z), scalar)


def se_from_p(estimate: ArrayLike, p: ArrayLike, *, labels: Labels = None
              ) -> float | np.ndarray:
    """Standard error of an estimate from its two-sided P value (normal test).

    ``z = Phi^{-1}(1 - p/2)``, ``SE = |estimate| / z`` (Cochrane Handbook v6.4, section 6.3.2;
    Altman & Bland 2011).

    Parameters
    ----------
    estimate : float or array_like
        Estimate on the analysis scale (e.g. a log odds ratio); must be non-zero.
    p : float or array_like
        Exact two-sided P value in (0, 1) (not a threshold such as "p < 0.05").
    labels : sequence of str, optional
        Study labels used in error messages instead of ``row i``.

    Returns
    -------
    float or numpy.ndarray
        Standard error(s) of ``estimate``.

    References
    ----------
    .. [1] Higgins JPT, Thomas J, Chandler J, Cumpston M, Li T, Page MJ, Welch VA (eds.)
           (2019). *Cochrane Handbook for Systematic Reviews of Interventions*, 2nd edition
           (online version 6.4, 2023). Wiley. doi:10.1002/9781119536604
    .. [2] Altman DG, Bland JM (2011). How to obtain the confidence interval from a P value.
           *BMJ* 343:d2090. doi:10.1136/bmj.d2090

    Examples
    --------
    >>> import math
    >>> from evsynth import convert
    >>> round(convert.se_from_p(math.log(0.7), 0.03), 4)
    0.1644
    """
    (est, pp), scalar = _broadcast({"estimate": estimate, "p": p})
    _finite(est, "estimate", labels)
    _fail(est == 0, est, "estimate", "a non-zero estimate (the SE is undefined when it is 0)",
          labels)
    _probability(pp, "p", labels)
    z = -special.ndtri(pp / 2.0)   # stats.norm.isf without importing scipy.stats
    return _out(np.abs(est) / z, scalar)


# --------------------------------------------------------------------------- time to event


def loghr_from_oe(o_minus_e: ArrayLike, v: ArrayLike, *, labels: Labels = None
                  ) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Log hazard ratio and its variance from the log-rank O - E and its variance V.

    ``log HR = (O - E) / V``, ``var(log HR) = 1 / V`` (Peto's one-step estimate; Yusuf et al.
    1985; Cochrane Handbook v6.4 section 6.8.2; Tierney et al. 2007, "direct" method), where
    O - E is the observed minus expected number of events in the group whose hazard is the
    numerator of the ratio.

    Parameters
    ----------
    o_minus_e : float or array_like
        Observed minus expected events (log-rank) of the numerator group.
    v : float or array_like
        The log-rank variance V (> 0).
    labels : sequence of str, optional
        Study labels used in error messages instead of ``row i``.

    Returns
    -------
    tuple
        ``(yi, vi)``: the log hazard ratio(s) and their sampling variance(s).

    References
    ----------
    .. [1] Tierney JF, Stewart LA, Ghersi D, Burdett S, Sydes MR (2007). Practical methods for
           incorporating summary time-to-event data into meta-analysis. *Trials* 8:16.
           doi:10.1186/1745-6215-8-16
    .. [2] Yusuf S, Peto R, Lewis J, Collins R, Sleight P (1985). Beta blockade during and
           after myocardial infarction. *Prog Cardiovasc Dis* 27(5):335-371.
           doi:10.1016/S0033-0620(85)80003-7
    .. [3] Higgins JPT, Thomas J, Chandler J, et al. (eds.) (2019). *Cochrane Handbook for
           Systematic Reviews of Interventions*, 2nd edition (online version 6.4, 2023),
           section 6.8.2. Wiley. doi:10.1002/9781119536604

    Examples
    --------
    >>> from evsynth import convert
    >>> yi, vi = convert.loghr_from_oe(-5.0, 20.0)
    >>> round(yi, 4), round(vi, 4)
    (-0.25, 0.05)
    """
    (oe, vv), scalar = _broadcast({"o_minus_e": o_minus_e, "v": v})
    _finite(oe, "o_minus_e", labels)
    _positive(vv, "v", labels)
    return _out(oe / vv, scalar), _out(1.0 / vv, scalar)


def loghr_from_logrank(p: ArrayLike, sign: ArrayLike, *, events1: ArrayLike | None = None,
                       events2: ArrayLike | None = None, events: ArrayLike | None = None,
                       n1: ArrayLike | None = None, n2: ArrayLike | None = None,
                       labels: Labels = None
                       ) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Log hazard ratio and its variance from a two-sided log-rank P value and the events.

    The variance of O - E is approximated from the events: with the events of each group,
    ``V = O1 O2 / (O1 + O2)`` (Parmar et al. 1998; Tierney et al. 2007, method of
    "events per arm"); with the total events ``O`` and the numbers randomised,
    ``V = O n1 n2 / (n1 + n2)^2`` (Tierney et al. 2007; ``O / 4`` for 1:1 allocation). Then
    ``O - E = sign * sqrt(V) * Phi^{-1}(1 - p/2)``, ``log HR = (O - E) / V`` and
    ``var(log HR) = 1 / V``.

    Parameters
    ----------
    p : float or array_like
        Exact two-sided log-rank P value in (0, 1] (not a threshold such as "p < 0.05").
    sign : float or array_like
        -1 where group 1 had the lower hazard (log HR < 0), +1 where group 2 had.
    events1, events2 : float or array_like, optional
        Events in each group (> 0), for Parmar's variance.
    events, n1, n2 : float or array_like, optional
        Total events (> 0, at most n1 + n2) and the numbers randomised to each group (>= 1),
        for Tierney's variance
        (used where ``events1``/``events2`` are not given).
    labels : sequence of str, optional
        Study labels used in error messages instead of ``row i``.

    Returns
    -------
    tuple
        ``(yi, vi)``: the log hazard ratio(s) of group 1 vs group 2 and their variance(s).

    References
    ----------
    .. [1] Parmar MKB, Torri V, Stewart L (1998). Extracting summary statistics to perform
           meta-analyses of the published literature for survival endpoints. *Stat Med*
           17(24):2815-2834. doi:10.1002/(SICI)1097-0258(19981230)17:24<2815::AID-SIM110>3.0.CO;2-8
    .. [2] Tierney JF, Stewart LA, Ghersi D, Burdett S, Sydes MR (2007). Practical methods for
           incorporating summary time-to-event data into meta-analysis. *Trials* 8:16.
           doi:10.1186/1745-6215-8-16

    Examples
    --------
    A trial with 1:1 allocation, 100 deaths and log-rank P = 0.04 in favour of group 1:

    >>> from evsynth import convert
    >>> yi, vi = convert.loghr_from_logrank(0.04, -1, events=100, n1=150, n2=150)
    >>> round(yi, 4), round(vi, 4)
    (-0.4107, 0.04)
    """
    if events1 is not None or events2 is not None:
        if events1 is None or events2 is None:
            raise InputError("loghr_from_logrank: give both 'events1' and 'events2'")
        (pp, sg, o1, o2), scalar = _broadcast({"p": p, "sign": sign, "events1": events1,
                                               "events2": events2})
    else:
        if events is None or n1 is None or n2 is None:
            raise InputError("loghr_from_logrank: give 'events1' and 'events2', or 'events' "
                             "with 'n1' and 'n2'")
        (pp, sg, o, a, b), scalar = _broadcast({"p": p, "sign": sign, "events": events,
                                                "n1": n1, "n2": n2})
    _finite(pp, "p", labels)
    _fail((pp <= 0) | (pp > 1), pp, "p", "a P value in (0, 1]", labels)
    _fail(~np.isin(sg, (-1.0, 1.0)), sg, "sign", "-1 or +1", labels)
    if events1 is not None:
        _positive(o1, "events1", labels)
        _positive(o2, "events2", labels)
        v = o1 * o2 / (o1 + o2)
    else:
        _positive(o, "events", labels)
        _group_size(a, "n1", labels)
        _group_size(b, "n2", labels)
        _fail(o > a + b, o, "events", "at most n1 + n2 events (one per participant)", labels)
        v = o * a * b / (a + b) ** 2
    z = -special.ndtri(pp / 2.0)
    oe = sg * np.sqrt(v) * z
    return _out(oe / v + 0.0, scalar), _out(1.0 / v, scalar)


def _optional(x: ArrayLike | None) -> ArrayLike:
    return np.nan if x is None else x


def wald_yi_vi(estimate: ArrayLike, lower: ArrayLike | None = None,
               upper: ArrayLike | None = None, p: ArrayLike | None = None,
               z: ArrayLike | None = None, level: float = 95, log: bool = False,
               check: bool = True, *, labels: Labels = None) -> pd.DataFrame:
    """Effect sizes ``yi`` and sampling variances ``vi`` from Wald-type CIs, z or P values.

    Per study (NaN = not reported): ``vi = ((upper - lower) / (2 z_{(1+level)/2}))^2`` when
    both CI limits are given, else ``vi = (yi / z)^2`` with ``z`` given or
    ``z = Phi^{-1}(1 - p/2)`` from a two-sided P value (Cochrane Handbook v6.4, sections
    6.3.1-6.3.2; as metafor ``conv.wald``, which also prefers the CI).

    Parameters
    ----------
    estimate : float or array_like
        Point estimates; ratios (OR, RR, HR) when ``log=True``.
    lower, upper : float or array_like, optional
        Confidence limits (NaN where not reported).
    p : float or array_like, optional
        Two-sided P values, used where no CI is given.
    z : float or array_like, optional
        Test statistics, used where no CI is given (before ``p``).
    level : float, default 95
        Confidence level of the intervals, in percent or as a fraction.
    log : bool, default False
        ``estimate`` and the limits are ratios; ``yi`` is then the log ratio.
    check : bool, default True
        Warn (:class:`UserWarning`) naming studies whose estimate is not about halfway between
        the limits (``|midpoint - yi| > 0.1 (upper - lower)``, metafor's rule; often a ratio
        given without ``log=True``).
    labels : sequence of str, optional
        Study labels used in error messages instead of ``row i``.

    Returns
    -------
    pandas.DataFrame
        Columns ``yi``, ``vi`` and ``source`` (``"ci"``, ``"z"`` or ``"p"``: what ``vi`` was
        computed from), one row per study.

    References
    ----------
    .. [1] Higgins JPT, Thomas J, Chandler J, Cumpston M, Li T, Page MJ, Welch VA (eds.)
           (2019). *Cochrane Handbook for Systematic Reviews of Interventions*, 2nd edition
           (online version 6.4, 2023). Wiley. doi:10.1002/9781119536604
    .. [2] Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package.
           *J Stat Softw* 36(3):1-48. doi:10.18637/jss.v036.i03

    Examples
    --------
    Two hazard ratios, one reported with its 95% CI and one with a P value only:

    >>> import numpy as np
    >>> from evsynth import convert
    >>> out = convert.wald_yi_vi([0.8, 0.7], lower=[0.6, np.nan], upper=[1.07, np.nan],
    ...                          p=[np.nan, 0.03], log=True)
    >>> print(out.round(4))
           yi      vi source
    0 -0.2231  0.0218     ci
    1 -0.3567  0.0270      p
    """
    (est, lo, up, pp, zz), _ = _broadcast({"estimate": estimate, "lower": _optional(lower),
                                           "upper": _optional(upper), "p": _optional(p),
                                           "z": _optional(z)})
    est, lo, up, pp, zz = (np.ravel(a) for a in (est, lo, up, pp, zz))
    lv = level_fraction(level)
    _finite(est, "estimate", labels)
    for x, f in ((lo, "lower"), (up, "upper"), (pp, "p"), (zz, "z")):
        _fail(np.isinf(x), x, f, "a finite number (or NaN for not reported)", labels)
    _pair(lo, "lower", up, "upper", labels)
    has_ci = ~np.isnan(lo)
    has_z = ~has_ci & ~np.isnan(zz)
    has_p = ~has_ci & ~has_z & ~np.isnan(pp)
    _fail(~(has_ci | has_z | has_p), est, "estimate",
          "a confidence interval (lower, upper), a z statistic or a P value with it", labels)
    if log:
        _positive(est, "estimate", labels)
        _fail(has_ci & ~(lo > 0), lo, "lower", "a positive ratio (log=True)", labels)
        _fail(has_ci & ~(up > 0), up, "upper", "a positive ratio (log=True)", labels)
    _fail(has_ci & (lo >= up), lo, "lower", "a lower confidence limit < the upper limit", labels)
    _fail(has_p & ((pp <= 0) | (pp >= 1)), pp, "p", "a P value strictly between 0 and 1",
          labels)
    _fail(has_z & (zz == 0), zz, "z", "a non-zero z statistic", labels)
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = np.log(est) if log else est.copy()
        llo = np.where(has_ci, np.log(np.where(has_ci, lo, 1.0)), np.nan) if log else lo
        lup = np.where(has_ci, np.log(np.where(has_ci, up, 1.0)), np.nan) if log else up
    _fail((has_z | has_p) & (yi == 0), est, "estimate",
          "an estimate different from the null (vi from a z or P value would be 0)", labels)
    crit = stats.norm.isf((1.0 - lv) / 2.0)
    vi = np.full(yi.shape, np.nan)
    vi[has_ci] = ((lup[has_ci] - llo[has_ci]) / (2.0 * crit)) ** 2
    vi[has_z] = (yi[has_z] / zz[has_z]) ** 2
    vi[has_p] = (yi[has_p] / stats.norm.isf(pp[has_p] / 2.0)) ** 2
    if check and has_ci.any():
        width = lup - llo
        with np.errstate(divide="ignore", invalid="ignore"):
            off = np.abs((lup + llo) / 2.0 - yi) > 0.1 * width
        off &= has_ci
        if off.any():
            names = ", ".join(study_name(int(j), labels) for j in np.flatnonzero(off))
            warnings.warn(f"the estimate is not about halfway between the confidence limits "
                          f"(ratio measure without log=True?) for {names}", UserWarning,
                          stacklevel=2)
    source = np.where(has_ci, "ci", np.where(has_z, "z", "p"))
    return pd.DataFrame({"yi": yi, "vi": vi, "source": source})


# --------------------------------------------------------------------------- SDs of group means


def sd_from_se(se: ArrayLike, n: ArrayLike, *, labels: Labels = None) -> float | np.ndarray:
    """SD of a group from the standard error of its mean: ``SD = SE * sqrt(n)``.

    Cochrane Handbook v6.4, section 6.5.2.2.

    Parameters
    ----------
    se : float or array_like
        Standard error of the group mean (>= 0), in the outcome's units.
    n : float or array_like
        Group size (>= 1; need not be whole, e.g. an effective sample size).
    labels : sequence of str, optional
        Study labels used in error messages instead of ``row i``.

    Returns
    -------
    float or numpy.ndarray
        The group's SD, in the outcome's units.

    References
    ----------
    .. [1] Higgins JPT, Thomas J, Chandler J, Cumpston M, Li T, Page MJ, Welch VA (eds.)
           (2019). *Cochrane Handbook for Systematic Reviews of Interventions*, 2nd edition
           (online version 6.4, 2023). Wiley. doi:10.1002/9781119536604

    Examples
    --------
    >>> from evsynth import convert
    >>> convert.sd_from_se(0.5, 25)
    2.5
    """
    (s, nn), scalar = _broadcast({"se": se, "n": n})
    _nonneg(s, "se", labels)
    _group_size(nn, "n", labels)
    return _out(s * np.sqrt(nn), scalar)


_DISTS = ("auto", "t", "z")


def _check_dist(dist: str) -> str:
    if dist not in _DISTS:
        raise InputError(f"argument 'dist' is {dist!r}; expected one of {', '.join(_DISTS)}")
    return dist


def _use_t(dist: str, small: np.ndarray) -> np.ndarray:
    """Boolean mask of rows using a t quantile: all for 't', none for 'z', ``small`` for 'auto'."""
    if dist == "t":
        return np.ones_like(small, dtype=bool)
    if dist == "z":
        return np.zeros_like(small, dtype=bool)
    return small


def _quantile(lv: float, use_t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Upper ``(1 + level)/2`` quantile: Student t with ``df`` where ``use_t``, else normal."""
    prob = 0.5 + lv / 2.0
    q = np.full(use_t.shape, stats.norm.ppf(prob))
    if np.any(use_t):
        q[use_t] = stats.t.ppf(prob, df[use_t])
    return q


def _check_ci(lo: np.ndarray, up: np.ndarray, labels: Labels) -> None:
    _finite(lo, "lower", labels)
    _finite(up, "upper", labels)
    _fail(lo >= up, lo, "lower", "a lower confidence limit < the upper limit", labels)


def sd_from_ci(lower: ArrayLike, upper: ArrayLike, n: ArrayLike, level: float = 95,
               dist: str = "auto", *, labels: Labels = None) -> float | np.ndarray:
    """SD of a group from the confidence interval of its mean.

    ``SD = sqrt(n) (upper - lower) / (2 q)`` with ``q`` the upper ``(1 + level)/2`` quantile
    (divisor 3.92 for a large-sample 95% CI). Cochrane Handbook v6.4, section 6.5.2.2: for small
    groups the CI should have used Student t with ``n - 1`` df.

    Parameters
    ----------
    lower, upper : float or array_like
        Confidence limits of the group mean (``lower < upper``).
    n : float or array_like
        Group size (>= 1).
    level : float, default 95
        Confidence level in percent (95) or as a fraction (0.95).
    dist : {"auto", "t", "z"}, default "auto"
        Quantile used: ``"auto"`` uses Student t when ``n < 60`` and the normal otherwise (the
        Handbook notes that for 60-100 either may have been used); ``"t"`` or ``"z"`` force one.
    labels : sequence of str, optional
        Study labels used in error messages instead of ``row i``.

    Returns
    -------
    float or numpy.ndarray
        The group's SD, in the outcome's units.

    References
    ----------
    .. [1] Higgins JPT, Thomas J, Chandler J, Cumpston M, Li T, Page MJ, Welch VA (eds.)
           (2019). *Cochrane Handbook for Systematic Reviews of Interventions*, 2nd edition
           (online version 6.4, 2023). Wiley. doi:10.1002/9781119536604

    Examples
    --------
    A mean with 95% CI 10.2 to 13.8 in a group of 100 (normal quantile), and in a group of 25
    (t quantile with 24 df):

    >>> from evsynth import convert
    >>> round(convert.sd_from_ci(10.2, 13.8, n=100), 4)
    9.1838
    >>> round(convert.sd_from_ci(10.2, 13.8, n=25), 4)
    4.3607
    """
    (lo, up, nn), scalar = _broadcast({"lower": lower, "upper": upper, "n": n})
    lv = level_fraction(level)
    dist = _check_dist(dist)
    _check_ci(lo, up, labels)
    _group_size(nn, "n", labels)
    use_t = _use_t(dist, nn < 60)
    _fail(use_t & (nn < 2), nn, "n",
          "n >= 2 (a t quantile needs n - 1 >= 1 degrees of freedom)", labels)
    q = _quantile(lv, use_t, nn - 1.0)
    return _out(np.sqrt(nn) * (up - lo) / (2.0 * q), scalar)


def _check_two_groups(n1: np.ndarray, n2: np.ndarray, labels: Labels) -> None:
    _group_size(n1, "n1", labels)
    _group_size(n2, "n2", labels)


def _pooled_factor(n1: np.ndarray, n2: np.ndarray) -> np.ndarray:
    """``sqrt(1/n1 + 1/n2)``: SE of a mean difference per unit within-group SD."""
    return np.sqrt(1.0 / n1 + 1.0 / n2)


def sd_from_ci_md(lower: ArrayLike, upper: ArrayLike, n1: ArrayLike, n2: ArrayLike,
                  level: float = 95, dist: str = "auto", *, labels: Labels = None
                  ) -> float | np.ndarray:
    """Pooled within-group SD from the confidence interval of a mean difference.

    ``SE = (upper - lower) / (2 q)``, ``SD = SE / sqrt(1/n1 + 1/n2)`` (Cochrane Handbook v6.4,
    section 6.5.2.3). The SD is assumed common to both groups.

    Parameters
    ----------
    lower, upper : float or array_like
        Confidence limits of the mean difference (``lower < upper``).
    n1, n2 : float or array_like
        Group sizes (>= 1).
    level : float, default 95
        Confidence level in percent (95) or as a fraction (0.95).
    dist : {"auto", "t", "z"}, default "auto"
        ``"auto"``: Student t with ``n1 + n2 - 2`` df when either group has fewer than 60
        participants, else the normal quantile; ``"t"`` or ``"z"`` force one.
    labels : sequence of str, optional
        Study labels used in error messages instead of ``row i``.

    Returns
    -------
    float or numpy.ndarray
        The pooled within-group SD, in the outcome's units.

    References
    ----------
    .. [1] Higgins JPT, Thomas J, Chandler J, Cumpston M, Li T, Page MJ, Welch VA (eds.)
           (2019). *Cochrane Handbook for Systematic Reviews of Interventions*, 2nd edition
           (online version 6.4, 2023). Wiley. doi:10.1002/9781119536604

    Examples
    --------
    >>> from evsynth import convert
    >>> round(convert.sd_from_ci_md(-3.2, -0.4, n1=25, n2=27), 4)
    2.5113
    """
    (lo, up, a, b), scalar = _broadcast({"lower": lower, "upper": upper, "n1": n1, "n2": n2})
    lv = level_fraction(level)
    dist = _check_dist(dist)
    _check_ci(lo, up, labels)
    _check_two_groups(a, b, labels)
    df = a + b - 2.0
    use_t = _use_t(dist, (a < 60) | (b < 60))
    _fail(use_t & (df < 1), a + b, "n1 + n2",
          "n1 + n2 >= 3 (a t quantile needs n1 + n2 - 2 >= 1 degrees of freedom)", labels)
    q = _quantile(lv, use_t, df)
    se = (up - lo) / (2.0 * q)
    return _out(se / _pooled_factor(a, b), scalar)


def sd_from_t(t: ArrayLike, n1: ArrayLike, n2: ArrayLike, md: ArrayLike, *,
              labels: Labels = None) -> float | np.ndarray:
    """Pooled within-group SD from a two-sample t statistic and the mean difference.

    ``SE = |MD| / |t|``, ``SD = SE / sqrt(1/n1 + 1/n2)`` (Cochrane Handbook v6.4, section
    6.5.2.3).

    Parameters
    ----------
    t : float or array_like
        Two-sample t statistic (non-zero).
    n1, n2 : float or array_like
        Group sizes (>= 1).
    md : float or array_like
        Mean difference (non-zero), in the outcome's units.
    labels : sequence of str, optional
        Study labels used in error messages instead of ``row i``.

    Returns
    -------
    float or numpy.ndarray
        The pooled within-group SD, in the units of ``md``.

    References
    ----------
    .. [1] Higgins JPT, Thomas J, Chandler J, Cumpston M, Li T, Page MJ, Welch VA (eds.)
           (2019). *Cochrane Handbook for Systematic Reviews of Interventions*, 2nd edition
           (online version 6.4, 2023). Wiley. doi:10.1002/9781119536604

    Examples
    --------
    >>> from evsynth import convert
    >>> round(convert.sd_from_t(2.1, n1=30, n2=32, md=4.5), 4)
    8.432
    """
    (tt, a, b, d), scalar = _broadcast({"t": t, "n1": n1, "n2": n2, "md": md})
    _finite(tt, "t", labels)
    _fail(tt == 0, tt, "t", "a non-zero t statistic", labels)
    _check_two_groups(a, b, labels)
    _finite(d, "md", labels)
    _fail(d == 0, d, "md", "a non-zero mean difference (the SD is undefined when it is 0)",
          labels)
    return _out(np.abs(d) / np.abs(tt) / _pooled_factor(a, b), scalar)


def sd_from_p(p: ArrayLike, n1: ArrayLike, n2: ArrayLike, md: ArrayLike, dist: str = "t", *,
              labels: Labels = None) -> float | np.ndarray:
    """Pooled within-group SD from the two-sided P value of a two-sample t test.

    ``t = F^{-1}_{t, n1+n2-2}(1 - p/2)``, then as :func:`sd_from_t` (Cochrane Handbook v6.4,
    section 6.5.2.3).

    Parameters
    ----------
    p : float or array_like
        Exact two-sided P value in (0, 1), not a threshold such as "p < 0.05".
    n1, n2 : float or array_like
        Group sizes (>= 1).
    md : float or array_like
        Mean difference (non-zero), in the outcome's units.
    dist : {"t", "z"}, default "t"
        ``"z"`` uses the normal quantile instead of Student t (large trials).
    labels : sequence of str, optional
        Study labels used in error messages instead of ``row i``.

    Returns
    -------
    float or numpy.ndarray
        The pooled within-group SD, in the units of ``md``.

    References
    ----------
    .. [1] Higgins JPT, Thomas J, Chandler J, Cumpston M, Li T, Page MJ, Welch VA (eds.)
           (2019). *Cochrane Handbook for Systematic Reviews of Interventions*, 2nd edition
           (online version 6.4, 2023). Wiley. doi:10.1002/9781119536604

    Examples
    --------
    >>> from evsynth import convert
    >>> round(convert.sd_from_p(0.04, n1=30, n2=32, md=4.5), 4)
    8.4346
    """
    if dist not in ("t", "z"):
        raise InputError(f"argument 'dist' is {dist!r}; expected 't' or 'z'")
    (pp, a, b, d), scalar = _broadcast({"p": p, "n1": n1, "n2": n2, "md": md})
    _probability(pp, "p", labels)
    _check_two_groups(a, b, labels)
    _finite(d, "md", labels)
    _fail(d == 0, d, "md", "a non-zero mean difference (the SD is undefined when it is 0)",
          labels)
    df = a + b - 2.0
    if dist == "t":
        _fail(df < 1, a + b, "n1 + n2",
              "n1 + n2 >= 3 (the t quantile needs n1 + n2 - 2 >= 1 degrees of freedom)", labels)
        tt = stats.t.isf(pp / 2.0, df)
    else:
        tt = stats.norm.isf(pp / 2.0)
    return _out(np.abs(d) / tt / _pooled_factor(a, b), scalar)


# --------------------------------------------------------------------------- change scores (2)


def correlation_from_change(sd_baseline: ArrayLike, sd_followup: ArrayLike,
                            sd_change: ArrayLike, tol: float = 0.05, *,
                            labels: Labels = None) -> float | np.ndarray:
    """Baseline/follow-up correlation back-computed from a study reporting all three SDs.

    ``r = (SD_b^2 + SD_f^2 - SD_change^2) / (2 SD_b SD_f)`` (Cochrane Handbook v6.4, section
    6.5.2.8). Reported SDs are rounded, so a value just outside [-1, 1] (by at most ``tol``) is
    clipped to the boundary with a :class:`UserWarning` naming the studies; a value further out
    means the three SDs are impossible together (``SD_change`` must lie between
    ``|SD_b - SD_f|`` and ``SD_b + SD_f``) and raises InputError naming the study.

    Parameters
    ----------
    sd_baseline, sd_followup : float or array_like
        SDs at baseline and follow-up (> 0).
    sd_change : float or array_like
        SD of the change from baseline (>= 0).
    tol : float, default 0.05
        How far outside [-1, 1] an implied correlation may be and still be clipped.
    labels : sequence of str, optional
        Study labels used in error messages instead of ``row i``.

    Returns
    -------
    float or numpy.ndarray
        The implied correlation(s), in [-1, 1].

    References
    ----------
    .. [1] Higgins JPT, Thomas J, Chandler J, Cumpston M, Li T, Page MJ, Welch VA (eds.)
           (2019). *Cochrane Handbook for Systematic Reviews of Interventions*, 2nd edition
           (online version 6.4, 2023). Wiley. doi:10.1002/9781119536604

    Examples
    --------
    >>> from evsynth import convert
    >>> convert.correlation_from_change(10.0, 12.0, sd_change=8.0)
    0.75
    """
    (sb, sf, sc), scalar = _broadcast({"sd_baseline": sd_baseline, "sd_followup": sd_followup,
                                       "sd_change": sd_change})
    _positive(sb, "sd_baseline", labels)
    _positive(sf, "sd_followup", labels)
    _nonneg(sc, "sd_change", labels)
    if not (np.isfinite(tol) and tol >= 0):
        raise InputError(f"argument 'tol' is {tol!r}; expected a number >= 0")
    r = (sb**2 + sf**2 - sc**2) / (2.0 * sb * sf)
    i = first_bad(np.ravel(np.abs(r) > 1.0 + tol))
    if i is not None:
        b, f, c = (float(np.ravel(v)[i]) for v in (sb, sf, sc))
        raise InputError(
            f"{study_name(i, labels)}: field 'sd_change' is {c!r}; expected a value between "
            f"|sd_baseline - sd_followup| = {abs(b - f)!r} and sd_baseline + sd_followup = "
            f"{b + f!r} (the implied correlation {float(np.ravel(r)[i]):.4g} is outside [-1, 1])")
    # beyond 1 by more than the formula's own rounding (a few ulp; sd = (0.3, 0.7, 1.0) gives
    # r = -1 - 2.2e-16): rounded SDs, worth a warning
    out = np.ravel(np.abs(r) > 1.0 + 8 * np.finfo(float).eps)
    if out.any():
        names = ", ".join(study_name(int(j), labels) for j in np.flatnonzero(out))
        warnings.warn(f"implied correlation slightly outside [-1, 1] (rounded SDs?) clipped to "
                      f"the boundary for {names}", UserWarning, stacklevel=2)
    return _out(np.clip(r, -1.0, 1.0), scalar)


# --------------------------------------------------------------------------- combining groups


@dataclass(frozen=True)
class CombinedGroup:
    """Sample size, mean and SD of groups merged into one (arrays or floats)."""

    n: float | np.ndarray
    mean: float | np.ndarray
    sd: float | np.ndarray

    def __iter__(self) -> Iterator:
        return iter((self.n, self.mean, self.sd))

    def to_frame(self) -> pd.DataFrame:
        """One row per study: columns ``n``, ``mean``, ``sd``."""
        return pd.DataFrame({k: np.atleast_1d(v) for k, v in
                             (("n", self.n), ("mean", self.mean), ("sd", self.sd))})


def _combine(n1: np.ndarray, m1: np.ndarray, s1: np.ndarray, n2: np.ndarray, m2: np.ndarray,
             s2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = n1 + n2
    m = (n1 * m1 + n2 * m2) / n
    ss = (n1 - 1.0) * s1**2 + (n2 - 1.0) * s2**2 + n1 * n2 / n * (m1 - m2) ** 2
    return n, m, np.sqrt(np.maximum(ss, 0.0) / (n - 1.0))


def combine_groups(n1: ArrayLike, m1: ArrayLike, sd1: ArrayLike, n2: ArrayLike, m2: ArrayLike,
                   sd2: ArrayLike, *, labels: Labels = None) -> CombinedGroup:
    """Combine two subgroups (sizes, means, SDs) into a single group.

    ``N = N1 + N2``, ``M = (N1 M1 + N2 M2) / N``,
    ``SD = sqrt(((N1-1) SD1^2 + (N2-1) SD2^2 + N1 N2 / N (M1 - M2)^2) / (N - 1))``
    (Cochrane Handbook v6.4, Table 6.5.a). Exact for sample SDs (divisor ``n - 1``), so it is
    associative and commutative.

    Parameters
    ----------
    n1, m1, sd1 : float or array_like
        Size (>= 1), mean and SD (>= 0) of the first subgroup.
    n2, m2, sd2 : float or array_like
        The same for the second subgroup.
    labels : sequence of str, optional
        Study labels used in error messages instead of ``row i``.

    Returns
    -------
    CombinedGroup
        ``n``, ``mean`` and ``sd`` of the merged group (floats, or arrays for array input);
        iterating gives ``(n, mean, sd)`` and :meth:`CombinedGroup.to_frame` a DataFrame.

    References
    ----------
    .. [1] Higgins JPT, Thomas J, Chandler J, Cumpston M, Li T, Page MJ, Welch VA (eds.)
           (2019). *Cochrane Handbook for Systematic Reviews of Interventions*, 2nd edition
           (online version 6.4, 2023). Wiley. doi:10.1002/9781119536604

    Examples
    --------
    Two dose arms merged into one intervention group:

    >>> from evsynth import convert
    >>> n, mean, sd = convert.combine_groups(10, 5.0, 1.0, 20, 6.0, 1.5)
    >>> n, round(mean, 4), round(sd, 4)
    (30.0, 5.6667, 1.4193)
    """
    (a, ma, sa, b, mb, sb), scalar = _broadcast(
        {"n1": n1, "m1": m1, "sd1": sd1, "n2": n2, "m2": m2, "sd2": sd2})
    for x, f in ((a, "n1"), (b, "n2")):
        _group_size(x, f, labels)
    _finite(ma, "m1", labels)
    _finite(mb, "m2", labels)
    _nonneg(sa, "sd1", labels)
    _nonneg(sb, "sd2", labels)
    n, m, s = _combine(a, ma, sa, b, mb, sb)
    return CombinedGroup(_out(n, scalar), _out(m, scalar), _out(s, scalar))


def combine_groups_many(ns: ArrayLike, means: ArrayLike, sds: ArrayLike, *,
                        labels: Labels = None) -> CombinedGroup:
    """Combine k >= 1 groups into one by folding :func:`combine_groups` over axis 0.

    Cochrane Handbook v6.4, Table 6.5.a, applied repeatedly; the result does not depend on the
    order of the groups.

    Parameters
    ----------
    ns, means, sds : array_like
        Sizes, means and SDs of shape ``(k,)`` (k groups of one study) or ``(k, m)`` (k groups
        in each of m studies; the result then has shape ``(m,)``).
    labels : sequence of str, optional
        Group labels used in error messages, where ``row i`` is group i along axis 0.

    Returns
    -------
    CombinedGroup
        ``n``, ``mean`` and ``sd`` of the merged group(s).

    References
    ----------
    .. [1] Higgins JPT, Thomas J, Chandler J, Cumpston M, Li T, Page MJ, Welch VA (eds.)
           (2019). *Cochrane Handbook for Systematic Reviews of Interventions*, 2nd edition
           (online version 6.4, 2023). Wiley. doi:10.1002/9781119536604

    Examples
    --------
    >>> from evsynth import convert
    >>> g = convert.combine_groups_many([10, 20, 30], [5.0, 6.0, 7.0], [1.0, 1.5, 2.0])
    >>> g.n, round(g.mean, 4), round(g.sd, 4)
    (60.0, 6.3333, 1.8461)
    """
    (nn, mm, ss), _ = _broadcast({"ns": ns, "means": means, "sds": sds})
    if nn.ndim == 0 or nn.shape[0] == 0:
        raise InputError("arguments 'ns', 'means', 'sds': expected one entry per group "
                         "(a sequence of length k >= 1 along the first axis)")
    # validate column by column so that "row i" in a message is group i (position on axis 0)
    k = nn.shape[0]
    for arr, field in ((nn, "ns"), (mm, "means"), (ss, "sds")):
        cols = arr.reshape(k, -1).T
        for v in cols:
            _finite(v, field, labels)
            if field == "ns":
                _fail(v < 1, v, field, "a group size >= 1", labels)
            elif field == "sds":
                _fail(v < 0, v, field, "a number >= 0", labels)
    n, m, s = nn[0], mm[0], ss[0]
    for g in range(1, k):
        n, m, s = _combine(n, m, s, nn[g], mm[g], ss[g])
    scalar = np.ndim(n) == 0
    return CombinedGroup(_out(np.asarray(n), scalar), _out(np.asarray(m), scalar),
                         _out(np.asarray(s), scalar))


# --------------------------------------------------------------------------- medians, IQR, range


@dataclass(frozen=True)
class MeanSD:
    """Estimated means and SDs, with the scenario used for each study.

    ``scenario`` is ``"S1"`` (min, median, max), ``"S2"`` (min, q1, median, q3, max) or ``"S3"``
    (q1, median, q3), as in Wan et al. (2014). Iterating gives ``(mean, sd)``.
    """

    mean: float | np.ndarray
    sd: float | np.ndarray
    scenario: str | np.ndarray
    method: str

    def __iter__(self) -> Iterator:
        return iter((self.mean, self.sd))

    def to_frame(self) -> pd.DataFrame:
        """One row per study: columns ``mean``, ``sd``, ``scenario``."""
        return pd.DataFrame({"mean": np.atleast_1d(self.mean), "sd": np.atleast_1d(self.sd),
                             "scenario": np.atleast_1d(self.scenario)})


#: method -> (mean estimator, SD estimator) per scenario; see mean_sd_from_median
_MEDIAN_METHODS: dict[str, tuple[str, str]] = {
    "luo_wan_shi": ("luo", "wan_shi"),
    "luo_wan": ("luo", "wan"),
    "wan": ("wan", "wan"),
    "hozo": ("hozo", "hozo"),
    "bland": ("bland", "bland"),
}
_METHOD_ALIASES = {"default": "luo_wan_shi", "shi": "luo_wan_shi", "luo_shi": "luo_wan_shi"}
#: scenarios each method covers
_METHOD_SCENARIOS = {"hozo": ("S1",), "bland": ("S2",)}


def _xi(n: np.ndarray) -> np.ndarray:
    """Approximate expected range of n standard normals (Wan et al. 2014):
    2 Phi^-1((n - 0.375)/(n + 0.25))."""
    return 2.0 * stats.norm.ppf((n - 0.375) / (n + 0.25))


def _eta(n: np.ndarray) -> np.ndarray:
    """Approximate expected IQR of n standard normals (Wan et al. 2014):
    2 Phi^-1((0.75 n - 0.125)/(n + 0.25))."""
    return 2.0 * stats.norm.ppf((0.75 * n - 0.125) / (n + 0.25))


def mean_sd_from_median(median: ArrayLike, q1: ArrayLike | None = None,
                        q3: ArrayLike | None = None, min: ArrayLike | None = None,
                        max: ArrayLike | None = None, n: ArrayLike | None = None,
                        method: str = "luo_wan_shi", *, labels: Labels = None) -> MeanSD:
    """Estimate a group's mean and SD from its median with the IQR and/or the range.

    Scenarios (per study; a NaN in ``q1``/``q3`` or ``min``/``max`` means "not reported"):
    S1 = {min, median, max}, S2 = {min, q1, median, q3, max}, S3 = {q1, median, q3}. All
    methods assume normal data; means are in the outcome's units.

    * ``"luo_wan_shi"`` (default; aliases ``"default"``, ``"shi"``): means of Luo et al. (2018)
      with their n-dependent weights, e.g. S1: ``w = 4 / (4 + n^0.75)``,
      ``mean = w (min + max)/2 + (1 - w) median``; SDs of Wan et al. (2014) for S1
      ``(max - min)/xi(n)`` and S3 ``(q3 - q1)/eta(n)``, and of Shi et al. (2020) for S2,
      ``w (max - min)/xi + (1 - w)(q3 - q1)/eta`` with ``w = 1/(1 + 0.07 n^0.6)``.
      This is metafor's ``conv.fivenum(..., method="default", dist="norm", test=FALSE)``.
    * ``"luo_wan"``: Luo means; Wan SDs in all scenarios (S2: the average of the range and IQR
      estimators, as in Wan et al. 2014).
    * ``"wan"``: Wan et al. (2014) means, S1 ``(min + 2 median + max)/4``, S2
      ``(min + 2 q1 + 2 median + 2 q3 + max)/8``, S3 ``(q1 + median + q3)/3``, and Wan SDs.
    * ``"hozo"`` (S1 only): Hozo et al. (2005): mean ``(min + 2 median + max)/4`` if n <= 25
      else the median; SD ``sqrt(((min - 2 median + max)^2/4 + (max - min)^2)/12)`` if n <= 15,
      ``range/4`` if n <= 70, else ``range/6``.
    * ``"bland"`` (S2 only): Bland (2015) mean and SD.

    Here ``xi(n) = 2 Phi^-1((n - 0.375)/(n + 0.25))`` and
    ``eta(n) = 2 Phi^-1((0.75 n - 0.125)/(n + 0.25))``. No skewness test is applied (metafor's
    ``test=TRUE`` would drop skewed studies); no log-normal variant.

    Parameters
    ----------
    median : float or array_like
        Group median(s).
    q1, q3 : float or array_like, optional
        First and third quartiles (both or neither per study).
    min, max : float or array_like, optional
        Minimum and maximum (both or neither per study).
    n : float or array_like
        Group size (>= 2); required.
    method : str, default "luo_wan_shi"
        Estimators, see above.
    labels : sequence of str, optional
        Study labels used in error messages instead of ``row i``.

    Returns
    -------
    MeanSD
        ``mean``, ``sd``, ``scenario`` (per study) and ``method``; iterating gives
        ``(mean, sd)`` and :meth:`MeanSD.to_frame` a DataFrame.

    Raises
    ------
    InputError
        Naming the study, if the summaries are not ordered (min <= q1 <= median <= q3 <= max),
        a pair is only half reported, neither the IQR nor the range is given, or the method does
        not cover the study's scenario.

    References
    ----------
    .. [1] Luo D, Wan X, Liu J, Tong T (2018). Optimally estimating the sample mean from the
           sample size, median, mid-range, and/or mid-quartile range. *Stat Methods Med Res*
           27(6):1785-1805. doi:10.1177/0962280216669183
    .. [2] Wan X, Wang W, Liu J, Tong T (2014). Estimating the sample mean and standard
           deviation from the sample size, median, range and/or interquartile range. *BMC Med
           Res Methodol* 14:135. doi:10.1186/1471-2288-14-135
    .. [3] Shi J, Luo D, Weng H, Zeng XT, Lin L, Chu H, Tong T (2020). Optimally estimating the
           sample standard deviation from the five-number summary. *Res Synth Methods*
           11(5):641-654. doi:10.1002/jrsm.1429
    .. [4] Hozo SP, Djulbegovic B, Hozo I (2005). Estimating the mean and variance from the
           median, range, and the size of a sample. *BMC Med Res Methodol* 5:13.
           doi:10.1186/1471-2288-5-13
    .. [5] Bland M (2015). Estimating mean and standard deviation from the sample size, three
           quartiles, minimum, and maximum. *Int J Stat Med Res* 4(1):57-64.
           doi:10.6000/1929-6029.2015.04.01.6

    Examples
    --------
    A median of 50 with IQR 40 to 62 in a group of 60 (scenario S3):

    >>> from evsynth import convert
    >>> est = convert.mean_sd_from_median(50.0, q1=40.0, q3=62.0, n=60)
    >>> round(est.mean, 4), round(est.sd, 4), est.scenario
    (50.7065, 16.7108, 'S3')
    """
    key = _METHOD_ALIASES.get(method, method)
    if key not in _MEDIAN_METHODS:
        raise InputError(f"argument 'method' is {method!r}; expected one of "
                         f"{', '.join([*_MEDIAN_METHODS, *_METHOD_ALIASES])}")
    if n is None:
        raise InputError("argument 'n' (the group size) is required")
    nan = np.nan
    given = {"median": median, "q1": nan if q1 is None else q1, "q3": nan if q3 is None else q3,
             "min": nan if min is None else min, "max": nan if max is None else max, "n": n}
    (m, a1, a3, lo, hi, nn), scalar = _broadcast(given)
    _finite(m, "median", labels)
    _finite(nn, "n", labels)
    _fail(nn < 2, nn, "n", "a group size >= 2", labels)
    for x, f in ((a1, "q1"), (a3, "q3"), (lo, "min"), (hi, "max")):
        _fail(np.isinf(x), x, f, "a finite number (or NaN for not reported)", labels)
    has_q = ~np.isnan(a1) & ~np.isnan(a3)
    has_r = ~np.isnan(lo) & ~np.isnan(hi)
    _pair(a1, "q1", a3, "q3", labels)
    _pair(lo, "min", hi, "max", labels)
    _fail(~has_q & ~has_r, m, "median",
          "the median with its quartiles (q1, q3) and/or the range (min, max)", labels)
    # ordering min <= q1 <= median <= q3 <= max (only among the values given)
    chain = [(lo, "min"), (a1, "q1"), (m, "median"), (a3, "q3"), (hi, "max")]
    for i, (x, fx) in enumerate(chain):
        for y, fy in chain[i + 1:]:
            bad = ~np.isnan(x) & ~np.isnan(y) & (x > y)
            _fail(bad, x, fx, f"{fx} <= {fy} (summaries must be ordered "
                  "min <= q1 <= median <= q3 <= max)", labels)
    s2 = has_q & has_r
    s1 = has_r & ~has_q
    s3 = has_q & ~has_r
    scen = np.where(s2, "S2", np.where(s1, "S1", "S3"))
    covered = _METHOD_SCENARIOS.get(key)
    if covered is not None:
        _fail(~np.isin(scen, covered), m, "median",
              f"data for scenario {'/'.join(covered)} (method {key!r} covers only "
              f"{'/'.join(covered)}: S1 = min, median, max; S2 = all five; S3 = q1, median, q3)",
              labels)
    mean_kind, sd_kind = _MEDIAN_METHODS[key]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean, sd = _median_estimates(mean_kind, sd_kind, m, a1, a3, lo, hi, nn, s1, s2, s3)
    return MeanSD(_out(mean, scalar), _out(sd, scalar), str(scen) if scalar else scen, key)


def _median_estimates(mean_kind: str, sd_kind: str, m: np.ndarray, q1: np.ndarray,
                      q3: np.ndarray, a: np.ndarray, b: np.ndarray, n: np.ndarray,
                      s1: np.ndarray, s2: np.ndarray, s3: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Elementwise estimators for each scenario (formulas cited in mean_sd_from_median)."""
    mid_r = (a + b) / 2.0
    mid_q = (q1 + q3) / 2.0
    rng = b - a
    iqr = q3 - q1
    xi, eta = _xi(n), _eta(n)
    if mean_kind == "luo":  # Luo et al. (2018)
        w1 = 4.0 / (4.0 + n**0.75)
        mean_s1 = w1 * mid_r + (1.0 - w1) * m
        w3 = 0.7 + 0.39 / n
        mean_s3 = w3 * mid_q + (1.0 - w3) * m
        wa = 2.2 / (2.2 + n**0.75)
        wb = 0.7 - 0.72 / n**0.55
        mean_s2 = wa * mid_r + wb * mid_q + (1.0 - wa - wb) * m
    elif mean_kind == "wan":
        mean_s1 = (a + 2.0 * m + b) / 4.0  # Wan et al. (2014)
        mean_s2 = (a + 2.0 * q1 + 2.0 * m + 2.0 * q3 + b) / 8.0
        mean_s3 = (q1 + m + q3) / 3.0
    elif mean_kind == "hozo":
        mean_s1 = np.where(n <= 25, (a + 2.0 * m + b) / 4.0, m)   # Hozo et al. (2005)
        mean_s2 = mean_s3 = np.full_like(m, np.nan)
    else:  # bland
        mean_s2 = (a + 2.0 * q1 + 2.0 * m + 2.0 * q3 + b) / 8.0   # Bland (2015)
        mean_s1 = mean_s3 = np.full_like(m, np.nan)

    sd_s1 = rng / xi  # Wan et al. (2014)
    sd_s3 = iqr / eta
    if sd_kind == "wan_shi":
        w = 1.0 / (1.0 + 0.07 * n**0.6)  # Shi et al. (2020)
        sd_s2 = w * rng / xi + (1.0 - w) * iqr / eta
    elif sd_kind == "wan":
        sd_s2 = 0.5 * (rng / xi + iqr / eta)  # Wan et al. (2014)
    elif sd_kind == "hozo":
        small = np.sqrt(((a - 2.0 * m + b) ** 2 / 4.0 + rng**2) / 12.0)
        sd_s1 = np.where(n <= 15, small, np.where(n <= 70, rng / 4.0, rng / 6.0))
        sd_s2 = sd_s3 = np.full_like(m, np.nan)
    else:  # bland (2015): SD from the five-number summary
        var = ((a**2 + 2 * q1**2 + 2 * m**2 + 2 * q3**2 + b**2) / 16.0
               + (a * q1 + q1 * m + m * q3 + q3 * b) / 8.0
               - (a + 2 * q1 + 2 * m + 2 * q3 + b) ** 2 / 64.0)
        sd_s2 = np.sqrt(np.maximum(var, 0.0))
        sd_s1 = sd_s3 = np.full_like(m, np.nan)
    mean = np.where(s2, mean_s2, np.where(s1, mean_s1, mean_s3))
    sd = np.where(s2, sd_s2, np.where(s1, sd_s1, sd_s3))
    return mean, sd
