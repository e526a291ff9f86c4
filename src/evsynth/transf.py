"""Transformations and back-transformations of effect sizes: metafor's ``transf.*`` functions.

Each function of metafor 3.8-1's ``transf`` family is here under the same name in snake case
(``transf.ipft.hm`` is :func:`ipft_hm`, ``transf.exp.int`` is :func:`exp_int`), vectorised over
numpy arrays, with the same boundary rules (e.g. :func:`ipft` is 0 below the transformed 0 and
1 above the transformed 1); ``NaN`` stays ``NaN``. A few conversions of metafor >= 4.0 are
included and marked so. Functions that need extra values take them as metafor does: the
integral transforms, :func:`ipft_hm` and :func:`dtomd` through ``targs`` (a dict), the others
(``ni``, ``ti``, ``pc``, ``n1i``/``n2i``) as keyword arguments.

Results take a transformation by name or as a function: ``fit.predict(transf="ilogit")``,
``fit.predict(transf=evsynth.transf.ipft_hm, targs={"ni": ni})`` and
``evsynth.forest(fit, transf="exp")``; :func:`resolve` turns a ``transf``/``targs`` pair into
the function applied (metafor's ``predict.rma`` and ``forest`` arguments ``transf`` and
``targs``).

References
----------
.. [1] Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. *J Stat
       Softw* 36(3):1-48. doi:10.18637/jss.v036.i03 (``transf``, metafor 3.8-1)
.. [2] Miller JJ (1978). The inverse of the Freeman-Tukey double arcsine transformation. *Am
       Stat* 32(4):138. doi:10.1080/00031305.1978.10479283
.. [3] Freeman MF, Tukey JW (1950). Transformations related to the angular and the square root.
       *Ann Math Stat* 21(4):607-611. doi:10.1214/aoms/1177729756

Examples
--------
>>> import evsynth
>>> evsynth.transf.ilogit([-2.0, 0.0, 2.0]).round(4).tolist()
[0.1192, 0.5, 0.8808]
>>> evsynth.transf.ztor(evsynth.transf.rtoz(0.3)).round(12).tolist()
0.3
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from evsynth._lazy import LazyModule
from evsynth.errors import InputError

stats = LazyModule("scipy.stats")
integrate = LazyModule("scipy.integrate")

__all__ = [
    "abt", "ahw", "arcsin", "dtobesd", "dtocles", "dtolnor_logis", "dtolnor_norm", "dtomd",
    "dtorpb", "dtou1", "dtou2", "dtou3", "exp", "exp_int", "iabt", "iahw", "iarcsin", "iirft",
    "ilogit", "ilogit_int", "ipft", "ipft_hm", "irft", "isqrt", "lnortod_logis",
    "lnortod_norm", "logit", "logortord", "logortorr", "names", "pft", "resolve", "rpbtod",
    "rtoz", "ztor", "ztor_int",
]

Arr = np.ndarray


def _arr(x: Any) -> Arr:
    """``x`` as a float array (scalars stay 0-d); InputError for non-numeric input."""
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"transf: expected numbers, got {x!r}") from None


def _clean(z: Arr) -> Arr:
    """NaN for undefined values (metafor's NaN -> NA), as a float array."""
    return np.asarray(np.where(np.isnan(z), np.nan, z), dtype=float)


# =========================================================================== simple pairs


def exp(x: Any) -> Arr:
    """Exponential ``e^x``: log ratios (log OR, log RR, log IRR, log ROM) to ratios.

    Parameters
    ----------
    x : array_like
        Values on the log scale.

    Returns
    -------
    numpy.ndarray
        ``exp(x)``.

    References
    ----------
    .. [1] Viechtbauer W (2010). *J Stat Softw* 36(3). doi:10.18637/jss.v036.i03

    Examples
    --------
    >>> import evsynth
    >>> evsynth.transf.exp([0.0, -0.7133]).round(4).tolist()
    [1.0, 0.49]
    """
    with np.errstate(over="ignore"):
        return np.exp(_arr(x))


def rtoz(x: Any) -> Arr:
    """Fisher's r-to-z transformation ``atanh(r) = log((1 + r)/(1 - r)) / 2`` (Fisher 1921;
    metafor ``transf.rtoz``).

    Parameters
    ----------
    x : array_like
        Correlations in [-1, 1] (+-1 gives +-inf).

    Returns
    -------
    numpy.ndarray
        Fisher's z values.

    References
    ----------
    .. [1] Fisher RA (1921). On the "probable error" of a coefficient of correlation deduced
           from a small sample. *Metron* 1:3-32. (metafor: doi:10.18637/jss.v036.i03)

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.rtoz(0.5).round(6))
    0.549306
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return _clean(np.arctanh(_arr(x)))


def ztor(x: Any) -> Arr:
    """Fisher's z back to a correlation, ``tanh(z)`` (metafor ``transf.ztor``); exact 1 for
    large z (``tanh(20) == 1`` in double precision).

    Parameters
    ----------
    x : array_like
        Fisher's z values.

    Returns
    -------
    numpy.ndarray
        Correlations in [-1, 1].

    References
    ----------
    .. [1] Fisher RA (1921). *Metron* 1:3-32. (metafor: doi:10.18637/jss.v036.i03)

    Examples
    --------
    >>> import evsynth
    >>> evsynth.transf.ztor([0.0, 0.549306, 50.0]).round(6).tolist()
    [0.0, 0.5, 1.0]
    """
    return np.tanh(_arr(x))


def logit(x: Any) -> Arr:
    """Logit ``log(p/(1 - p))`` (metafor ``transf.logit``, R ``qlogis``).

    Parameters
    ----------
    x : array_like
        Proportions in [0, 1] (0 and 1 give -inf and inf).

    Returns
    -------
    numpy.ndarray
        Log odds.

    References
    ----------
    .. [1] Viechtbauer W (2010). *J Stat Softw* 36(3). doi:10.18637/jss.v036.i03

    Examples
    --------
    >>> import evsynth
    >>> evsynth.transf.logit([0.5, 0.9]).round(4).tolist()
    [0.0, 2.1972]
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return _clean(stats.logistic.ppf(_arr(x)))


def ilogit(x: Any) -> Arr:
    """Inverse logit ``1/(1 + exp(-x))`` (metafor ``transf.ilogit``, R ``plogis``): logit
    proportions (PLO) and log odds back to proportions.

    Parameters
    ----------
    x : array_like
        Log odds.

    Returns
    -------
    numpy.ndarray
        Proportions in [0, 1].

    References
    ----------
    .. [1] Viechtbauer W (2010). *J Stat Softw* 36(3). doi:10.18637/jss.v036.i03

    Examples
    --------
    >>> import evsynth
    >>> evsynth.transf.ilogit([0.0, 2.1972]).round(4).tolist()
    [0.5, 0.9]
    """
    return np.asarray(stats.logistic.cdf(_arr(x)), dtype=float)


def arcsin(x: Any) -> Arr:
    """Arcsine square-root transformation ``asin(sqrt(p))`` (metafor ``transf.arcsin``; the
    ``PAS`` measure).

    Parameters
    ----------
    x : array_like
        Proportions in [0, 1].

    Returns
    -------
    numpy.ndarray
        Values in [0, pi/2].

    References
    ----------
    .. [1] Anscombe FJ (1948). The transformation of Poisson, binomial and negative-binomial
           data. *Biometrika* 35:246-254. doi:10.1093/biomet/35.3-4.246

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.arcsin(0.25).round(6))
    0.523599
    """
    with np.errstate(invalid="ignore"):
        return _clean(np.arcsin(np.sqrt(_arr(x))))


def iarcsin(x: Any) -> Arr:
    """Inverse arcsine square-root transformation ``sin(x)^2``, 0 for ``x < 0`` and 1 for
    ``x > pi/2`` (metafor ``transf.iarcsin``).

    Parameters
    ----------
    x : array_like
        Arcsine square-root values (``PAS``, ``AS`` results).

    Returns
    -------
    numpy.ndarray
        Proportions in [0, 1].

    References
    ----------
    .. [1] Anscombe FJ (1948). *Biometrika* 35:246-254. doi:10.1093/biomet/35.3-4.246

    Examples
    --------
    >>> import evsynth
    >>> evsynth.transf.iarcsin([-0.1, 0.523599, 2.0]).round(6).tolist()
    [0.0, 0.25, 1.0]
    """
    x = _arr(x)
    z = np.sin(x) ** 2
    z = np.where(x < 0, 0.0, z)
    return np.asarray(np.where(x > np.arcsin(1.0), 1.0, z), dtype=float)


def isqrt(x: Any) -> Arr:
    """Inverse square-root transformation ``x^2``, 0 for ``x < 0`` (metafor
    ``transf.isqrt``; back-transforms ``IRS``).

    Parameters
    ----------
    x : array_like
        Square-root values.

    Returns
    -------
    numpy.ndarray
        Squares (0 for negative input).

    References
    ----------
    .. [1] Viechtbauer W (2010). *J Stat Softw* 36(3). doi:10.18637/jss.v036.i03

    Examples
    --------
    >>> import evsynth
    >>> evsynth.transf.isqrt([-0.5, 0.2, 3.0]).round(6).tolist()
    [0.0, 0.04, 9.0]
    """
    x = _arr(x)
    return np.asarray(np.where(x < 0, 0.0, x * x), dtype=float)


# =========================================================================== Freeman-Tukey


def pft(x: Any, ni: Any) -> Arr:
    """Freeman-Tukey double arcsine of a proportion ``p`` with sample size ``n``:
    ``(asin(sqrt(np/(n+1))) + asin(sqrt((np+1)/(n+1)))) / 2`` (Freeman & Tukey 1950; metafor
    ``transf.pft``; the ``PFT`` measure).

    Parameters
    ----------
    x : array_like
        Proportions.
    ni : array_like
        Sample sizes (broadcast against ``x``).

    Returns
    -------
    numpy.ndarray
        Transformed values.

    References
    ----------
    .. [1] Freeman MF, Tukey JW (1950). *Ann Math Stat* 21(4):607-611.
           doi:10.1214/aoms/1177729756

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.pft(0.3, 20).round(6))
    0.589711
    """
    x, n = _arr(x), _arr(ni)
    k = x * n
    with np.errstate(invalid="ignore"):
        return _clean((np.arcsin(np.sqrt(k / (n + 1))) + np.arcsin(np.sqrt((k + 1) / (n + 1))))
                      / 2)


def _ipft(x: Arr, n: Arr | float) -> Arr:
    s = np.sin(2 * x)
    with np.errstate(all="ignore"):
        z = 0.5 * (1 - np.sign(np.cos(2 * x)) * np.sqrt(1 - (s + (s - 1 / s) / n) ** 2))
    z = np.where(np.isnan(z), np.nan, z)
    z = np.where(x > pft(1.0, n), 1.0, z)
    return np.asarray(np.where(x < pft(0.0, n), 0.0, z), dtype=float)


def ipft(x: Any, ni: Any) -> Arr:
    """Inverse of the Freeman-Tukey double arcsine for sample size ``n`` (Miller 1978):
    ``p = (1 - sign(cos 2x) sqrt(1 - (sin 2x + (sin 2x - 1/sin 2x)/n)^2)) / 2``, 0 below
    ``pft(0, n)`` and 1 above ``pft(1, n)`` (metafor ``transf.ipft``).

    Parameters
    ----------
    x : array_like
        Double-arcsine values.
    ni : array_like
        Sample sizes (broadcast against ``x``).

    Returns
    -------
    numpy.ndarray
        Proportions in [0, 1] (NaN where the formula is undefined inside the range).

    References
    ----------
    .. [1] Miller JJ (1978). The inverse of the Freeman-Tukey double arcsine transformation.
           *Am Stat* 32(4):138. doi:10.1080/00031305.1978.10479283

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.ipft(0.589711, 20).round(5))
    0.3
    >>> evsynth.transf.ipft([0.0, 1.6], 20).tolist()
    [0.0, 1.0]
    """
    return _ipft(_arr(x), _arr(ni))


def _targ(targs: Any, key: str, fun: str) -> Any:
    if not isinstance(targs, Mapping) or targs.get(key) is None:
        raise InputError(f"transf.{fun}: give {key!r} through targs, e.g. targs={{{key!r}: ...}}")
    return targs[key]


def ipft_hm(x: Any, targs: Mapping[str, Any] | None = None) -> Arr:
    """Inverse Freeman-Tukey double arcsine (:func:`ipft`) with ``n`` the harmonic mean of the
    studies' sample sizes ``targs["ni"]`` (Miller 1978; metafor ``transf.ipft.hm``, used to
    back-transform a pooled ``PFT`` estimate).

    Parameters
    ----------
    x : array_like
        Double-arcsine values.
    targs : dict
        ``{"ni": sample sizes}``; missing values are ignored in the harmonic mean.

    Returns
    -------
    numpy.ndarray
        Proportions in [0, 1].

    References
    ----------
    .. [1] Miller JJ (1978). *Am Stat* 32(4):138. doi:10.1080/00031305.1978.10479283

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.ipft_hm(0.589711, targs={"ni": [10, 20, 60]}).round(4))
    0.299
    """
    ni = _arr(_targ(targs, "ni", "ipft_hm")).ravel()
    ok = ~np.isnan(ni)
    if not ok.any() or np.any(ni[ok] <= 0):
        raise InputError("transf.ipft_hm: targs['ni'] must hold positive sample sizes")
    nhm = 1 / float(np.mean(1 / ni[ok]))
    return _ipft(_arr(x), nhm)


def irft(x: Any, ti: Any) -> Arr:
    """Freeman-Tukey transformation of an incidence rate ``r`` with person-time ``t``:
    ``(sqrt(r) + sqrt(r + 1/t)) / 2`` (Freeman & Tukey 1950; metafor ``transf.irft``; the
    ``IRFT`` measure).

    Parameters
    ----------
    x : array_like
        Incidence rates.
    ti : array_like
        Person-times.

    Returns
    -------
    numpy.ndarray
        Transformed rates.

    References
    ----------
    .. [1] Freeman MF, Tukey JW (1950). *Ann Math Stat* 21(4):607-611.
           doi:10.1214/aoms/1177729756

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.irft(0.02, 500).round(6))
    0.144873
    """
    x, t = _arr(x), _arr(ti)
    with np.errstate(invalid="ignore"):
        return _clean((np.sqrt(x) + np.sqrt(x + 1 / t)) / 2)


def iirft(x: Any, ti: Any) -> Arr:
    """Inverse of :func:`irft`: ``(1/t - 8x^2 + 16 t x^4) / (16 x^2 t)``, 0 below
    ``irft(0, t)`` and for values at or below machine epsilon (metafor ``transf.iirft``).

    Parameters
    ----------
    x : array_like
        Freeman-Tukey transformed rates.
    ti : array_like
        Person-times.

    Returns
    -------
    numpy.ndarray
        Incidence rates (>= 0).

    References
    ----------
    .. [1] Freeman MF, Tukey JW (1950). *Ann Math Stat* 21(4):607-611.
           doi:10.1214/aoms/1177729756

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.iirft(0.144873, 500).round(5))
    0.02
    """
    x, t = _arr(x), _arr(ti)
    with np.errstate(all="ignore"):
        z = (1 / t - 8 * x**2 + 16 * t * x**4) / (16 * x**2 * t)
    z = np.where(np.isnan(z), np.nan, z)
    z = np.where(x < irft(0.0, t), 0.0, z)
    return np.asarray(np.where(z <= np.finfo(float).eps, 0.0, z), dtype=float)


# =========================================================================== Cronbach's alpha


def ahw(x: Any) -> Arr:
    """Hakstian-Whalen transformation of Cronbach's alpha ``1 - (1 - alpha)^(1/3)`` (Hakstian &
    Whalen 1976; metafor ``transf.ahw``; the ``AHW`` measure).

    Parameters
    ----------
    x : array_like
        Alpha values (<= 1).

    Returns
    -------
    numpy.ndarray
        Transformed values.

    References
    ----------
    .. [1] Hakstian AR, Whalen TE (1976). A k-sample significance test for independent alpha
           coefficients. *Psychometrika* 41(2):219-231. doi:10.1007/BF02291840

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.ahw(0.875).round(6))
    0.5
    """
    x = _arr(x)
    # (1 - alpha)^(1/3) is real only for alpha <= 1 (NaN above, as R's power)
    return np.asarray(np.where(x > 1, np.nan, 1 - np.cbrt(1 - x)), dtype=float)


def iahw(x: Any) -> Arr:
    """Inverse Hakstian-Whalen transformation ``1 - (1 - x)^3``, in [0, 1] (metafor
    ``transf.iahw``).

    Parameters
    ----------
    x : array_like
        Transformed alpha values.

    Returns
    -------
    numpy.ndarray
        Alpha values (0 for ``x < 0``, 1 for ``x > 1``).

    References
    ----------
    .. [1] Hakstian AR, Whalen TE (1976). *Psychometrika* 41(2):219-231.
           doi:10.1007/BF02291840

    Examples
    --------
    >>> import evsynth
    >>> evsynth.transf.iahw([-0.2, 0.5, 1.3]).tolist()
    [0.0, 0.875, 1.0]
    """
    x = _arr(x)
    z = 1 - (1 - x) ** 3
    z = np.where(x > 1, 1.0, z)
    return np.asarray(np.where(x < 0, 0.0, z), dtype=float)


def abt(x: Any) -> Arr:
    """Bonett transformation of Cronbach's alpha ``-log(1 - alpha)`` (Bonett 2002; metafor
    ``transf.abt``; the ``ABT`` measure).

    Parameters
    ----------
    x : array_like
        Alpha values (< 1).

    Returns
    -------
    numpy.ndarray
        Transformed values.

    References
    ----------
    .. [1] Bonett DG (2002). Sample size requirements for testing and estimating coefficient
           alpha. *J Educ Behav Stat* 27(4):335-340. doi:10.3102/10769986027004335

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.abt(0.75).round(6))
    1.386294
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return _clean(-np.log(1 - _arr(x)))


def iabt(x: Any) -> Arr:
    """Inverse Bonett transformation ``1 - exp(-x)``, 0 for ``x < 0`` (metafor
    ``transf.iabt``).

    Parameters
    ----------
    x : array_like
        Transformed alpha values.

    Returns
    -------
    numpy.ndarray
        Alpha values.

    References
    ----------
    .. [1] Bonett DG (2002). *J Educ Behav Stat* 27(4):335-340.
           doi:10.3102/10769986027004335

    Examples
    --------
    >>> import evsynth
    >>> evsynth.transf.iabt([-1.0, 1.386294]).round(6).tolist()
    [0.0, 0.75]
    """
    x = _arr(x)
    return np.asarray(np.where(x < 0, 0.0, -np.expm1(-np.maximum(x, 0.0))), dtype=float)


# =========================================================================== integral transforms


def _targs_int(targs: Any, fun: str) -> tuple[float, float | None, float | None]:
    """metafor's ``.chktargsint``: ``tau2`` (default 0), ``lower``, ``upper``; a dict, or a
    sequence read as (tau2, lower, upper)."""
    if targs is None:
        return 0.0, None, None
    if isinstance(targs, Mapping):
        bad = set(targs) - {"tau2", "lower", "upper"}
        if bad:
            raise InputError(f"transf.{fun}: targs takes 'tau2', 'lower', 'upper'; got "
                             f"{sorted(bad)}")
        vals = [targs.get("tau2", 0.0), targs.get("lower"), targs.get("upper")]
    else:
        seq = list(np.atleast_1d(targs))
        if len(seq) > 3:
            raise InputError(f"transf.{fun}: targs has at most 3 values (tau2, lower, upper)")
        vals = seq + [None] * (3 - len(seq))
        vals[0] = 0.0 if vals[0] is None else vals[0]
    out: list[float | None] = []
    for name, v in zip(("tau2", "lower", "upper"), vals, strict=True):
        if v is None:
            out.append(None)
            continue
        if np.ndim(v) != 0 or isinstance(v, (str, bytes, bool, np.bool_)):
            raise InputError(f"transf.{fun}: targs[{name!r}] is {v!r}; expected a single "
                             "number")
        try:
            fv = float(v)
        except (TypeError, ValueError):
            raise InputError(f"transf.{fun}: targs[{name!r}] is {v!r}; expected a single "
                             "number") from None
        if not math.isfinite(fv):
            raise InputError(f"transf.{fun}: targs[{name!r}] is {v!r}; expected a finite number")
        out.append(fv)
    tau2 = out[0] if out[0] is not None else 0.0
    if tau2 < 0:
        raise InputError(f"transf.{fun}: targs['tau2'] is {tau2!r}; expected a number >= 0")
    return tau2, out[1], out[2]


def _integral(f: Callable[[float], float], x: Any, targs: Any, fun: str) -> Arr:
    """``E[f(Z)]`` for ``Z ~ N(x, tau2)``, integrated over ``[lower, upper]`` (default ``x -+ 10
    tau``), as metafor's ``transf.*.int`` (R ``integrate``; here adaptive Gauss-Kronrod,
    :func:`scipy.integrate.quad`). With ``tau2 = 0`` it is ``f(x)``; at ``x = +-inf`` without
    bounds it is the limit ``f(x)``.

    The interval is split at ``x``, ``x -+ 3 tau`` and ``x -+ 10 tau`` where they fall inside
    it: over user bounds much wider than ``tau`` the normal density is a narrow peak that the
    rule's first nodes can all miss, which read as an integral of ~0 (``ilogit_int(1, tau2 =
    1e-4, lower = -5, upper = 5)`` gave 1.4e-18 for 0.7311; R's ``integrate`` misses it as
    well)."""
    tau2, lower, upper = _targs_int(targs, fun)
    xs = _arr(x)
    out = np.full(xs.shape, np.nan)
    tau = math.sqrt(tau2)
    for idx, xi in np.ndenumerate(xs):
        if np.isnan(xi):
            continue
        if tau2 == 0 or (math.isinf(xi) and lower is None and upper is None):
            out[idx] = f(float(xi))
            continue
        lo = float(xi) - 10 * tau if lower is None else lower
        hi = float(xi) + 10 * tau if upper is None else upper
        if math.isinf(xi):  # the density's mass lies beyond the finite bound: 0
            out[idx] = 0.0
            continue
        breaks = [b for b in (float(xi) + c * tau for c in (-10, -3, 0, 3, 10)) if lo < b < hi]

        def dens(z: float, m: float = float(xi)) -> float:
            return f(z) * math.exp(-0.5 * ((z - m) / tau) ** 2) / (tau * math.sqrt(2 * math.pi))

        with np.errstate(over="ignore"), warnings.catch_warnings():
            # a value near 0 (ztor_int at 0) cannot meet the relative tolerance: epsabs does
            warnings.simplefilter("ignore", integrate.IntegrationWarning)
            out[idx] = integrate.quad(dens, lo, hi, epsabs=1e-14, epsrel=1e-11, limit=200,
                                      points=breaks or None)[0]
    return out


def exp_int(x: Any, targs: Mapping[str, Any] | Any = None) -> Arr:
    """Mean of ``exp(Z)``, ``Z ~ N(x, tau2)``: the expected ratio over the distribution of true
    effects (metafor ``transf.exp.int``), integrated numerically over ``[lower, upper]``
    (default ``x -+ 10 tau``); ``exp(x)`` when ``tau2 = 0``. Over the whole line it equals
    ``exp(x + tau2/2)``.

    Parameters
    ----------
    x : array_like
        Log-scale values (e.g. a pooled log OR).
    targs : dict, optional
        ``{"tau2": ..., "lower": ..., "upper": ...}`` (or a sequence in that order).

    Returns
    -------
    numpy.ndarray
        The integrals.

    References
    ----------
    .. [1] Viechtbauer W (2010). *J Stat Softw* 36(3). doi:10.18637/jss.v036.i03

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.exp_int(0.0, targs={"tau2": 0.5}).round(6))
    1.284025
    """
    return _integral(math.exp, x, targs, "exp_int")


def ilogit_int(x: Any, targs: Mapping[str, Any] | Any = None) -> Arr:
    """Mean of ``ilogit(Z)``, ``Z ~ N(x, tau2)``: the mean proportion over the distribution of
    true logits (metafor ``transf.ilogit.int``), numerical integration as :func:`exp_int`.

    Parameters
    ----------
    x : array_like
        Logit values.
    targs : dict, optional
        ``{"tau2": ..., "lower": ..., "upper": ...}``.

    Returns
    -------
    numpy.ndarray
        Mean proportions.

    References
    ----------
    .. [1] Viechtbauer W (2010). *J Stat Softw* 36(3). doi:10.18637/jss.v036.i03

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.ilogit_int(1.0, targs={"tau2": 1.0}).round(6))
    0.696735
    """
    return _integral(lambda z: 1 / (1 + math.exp(-z)) if z > -700 else 0.0, x, targs,
                     "ilogit_int")


def ztor_int(x: Any, targs: Mapping[str, Any] | Any = None) -> Arr:
    """Mean of ``tanh(Z)``, ``Z ~ N(x, tau2)``: the mean correlation over the distribution of
    true Fisher z values (metafor ``transf.ztor.int``), numerical integration as
    :func:`exp_int`.

    Parameters
    ----------
    x : array_like
        Fisher z values.
    targs : dict, optional
        ``{"tau2": ..., "lower": ..., "upper": ...}``.

    Returns
    -------
    numpy.ndarray
        Mean correlations.

    References
    ----------
    .. [1] Viechtbauer W (2010). *J Stat Softw* 36(3). doi:10.18637/jss.v036.i03

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.ztor_int(0.5, targs={"tau2": 0.1}).round(6))
    0.430048
    """
    return _integral(math.tanh, x, targs, "ztor_int")


# =========================================================================== SMD conversions


def dtou1(x: Any) -> Arr:
    """Cohen's U1 from a standardised mean difference: ``(2 U2 - 1)/U2`` with ``U2 =
    Phi(|d|/2)`` (Cohen 1988, section 2.2; metafor ``transf.dtou1``).

    Parameters
    ----------
    x : array_like
        Standardised mean differences.

    Returns
    -------
    numpy.ndarray
        Proportions of non-overlap.

    References
    ----------
    .. [1] Cohen J (1988). *Statistical Power Analysis for the Behavioral Sciences*, 2nd ed.
           Erlbaum. doi:10.4324/9780203771587

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.dtou1(0.5).round(4))
    0.3297
    """
    u2 = stats.norm.cdf(np.abs(_arr(x)) / 2)
    return np.asarray((2 * u2 - 1) / u2, dtype=float)


def dtou2(x: Any) -> Arr:
    """Cohen's U2 ``Phi(d/2)`` (Cohen 1988; metafor ``transf.dtou2``).

    Parameters
    ----------
    x : array_like
        Standardised mean differences.

    Returns
    -------
    numpy.ndarray
        U2 values.

    References
    ----------
    .. [1] Cohen J (1988). *Statistical Power Analysis for the Behavioral Sciences*, 2nd ed.
           Erlbaum. doi:10.4324/9780203771587

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.dtou2(0.5).round(4))
    0.5987
    """
    return np.asarray(stats.norm.cdf(_arr(x) / 2), dtype=float)


def dtou3(x: Any) -> Arr:
    """Cohen's U3 ``Phi(d)`` (Cohen 1988; metafor ``transf.dtou3``).

    Parameters
    ----------
    x : array_like
        Standardised mean differences.

    Returns
    -------
    numpy.ndarray
        U3 values.

    References
    ----------
    .. [1] Cohen J (1988). *Statistical Power Analysis for the Behavioral Sciences*, 2nd ed.
           Erlbaum. doi:10.4324/9780203771587

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.dtou3(0.5).round(4))
    0.6915
    """
    return np.asarray(stats.norm.cdf(_arr(x)), dtype=float)


def dtocles(x: Any) -> Arr:
    """Common language effect size (probability of superiority) ``Phi(d/sqrt(2))`` (McGraw &
    Wong 1992; metafor ``transf.dtocles``).

    Parameters
    ----------
    x : array_like
        Standardised mean differences.

    Returns
    -------
    numpy.ndarray
        Probabilities.

    References
    ----------
    .. [1] McGraw KO, Wong SP (1992). A common language effect size statistic. *Psychol Bull*
           111(2):361-365. doi:10.1037/0033-2909.111.2.361

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.dtocles(0.5).round(4))
    0.6382
    """
    return np.asarray(stats.norm.cdf(_arr(x) / math.sqrt(2)), dtype=float)


def dtorpb(x: Any, n1i: Any = None, n2i: Any = None) -> Arr:
    """Standardised mean difference to a point-biserial correlation ``d / sqrt(d^2 + h)``, ``h =
    m/n1 + m/n2`` with ``m = n1 + n2 - 2``, or ``h = 4`` without group sizes (Rosenthal 1994;
    metafor ``transf.dtorpb``).

    Parameters
    ----------
    x : array_like
        Standardised mean differences.
    n1i, n2i : array_like, optional
        Group sizes (both or neither, as long as ``x``).

    Returns
    -------
    numpy.ndarray
        Point-biserial correlations.

    References
    ----------
    .. [1] Rosenthal R (1994). Parametric measures of effect size. In Cooper H, Hedges LV
           (eds.), *The Handbook of Research Synthesis*. Russell Sage. doi:10.7758/9781610441377

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.dtorpb(0.5).round(6))
    0.242536
    """
    x = _arr(x)
    if (n1i is None) != (n2i is None):
        raise InputError("transf.dtorpb: give both n1i and n2i (or neither)")
    if n1i is None:
        h: Arr | float = 4.0
    else:
        n1, n2 = _arr(n1i), _arr(n2i)
        if n1.shape != n2.shape or (n1.ndim and n1.shape != x.shape):
            raise InputError("transf.dtorpb: n1i and n2i must have the length of x")
        m = n1 + n2 - 2
        h = m / n1 + m / n2
    return np.asarray(x / np.sqrt(x**2 + h), dtype=float)


def rpbtod(x: Any) -> Arr:
    """Point-biserial correlation (equal groups) to a standardised mean difference ``2r /
    sqrt(1 - r^2)``, the inverse of :func:`dtorpb` with ``h = 4`` (Rosenthal 1994; metafor >= 4.0
    ``transf.rpbtod``).

    Parameters
    ----------
    x : array_like
        Point-biserial correlations in (-1, 1).

    Returns
    -------
    numpy.ndarray
        Standardised mean differences.

    References
    ----------
    .. [1] Rosenthal R (1994). In *The Handbook of Research Synthesis*. Russell Sage.
           doi:10.7758/9781610441377

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.rpbtod(0.242536).round(5))
    0.5
    """
    x = _arr(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _clean(2 * x / np.sqrt(1 - x**2))


def dtobesd(x: Any) -> Arr:
    """Binomial effect size display: the 'success rate' ``1/2 + r/2`` of the first group with
    ``r = d / sqrt(d^2 + 4)`` (Rosenthal & Rubin 1982; metafor ``transf.dtobesd``).

    Parameters
    ----------
    x : array_like
        Standardised mean differences.

    Returns
    -------
    numpy.ndarray
        Proportions.

    References
    ----------
    .. [1] Rosenthal R, Rubin DB (1982). A simple, general purpose display of magnitude of
           experimental effect. *J Educ Psychol* 74(2):166-169. doi:10.1037/0022-0663.74.2.166

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.dtobesd(0.5).round(6))
    0.621268
    """
    x = _arr(x)
    return np.asarray(0.5 + x / np.sqrt(x**2 + 4) / 2, dtype=float)


def dtomd(x: Any, targs: Mapping[str, Any] | Any = None) -> Arr:
    """Standardised mean difference to a raw mean difference ``d * sd`` with one SD
    ``targs["sd"]`` (metafor ``transf.dtomd``; Cochrane Handbook v6.4 section 15.5.3.1).

    Parameters
    ----------
    x : array_like
        Standardised mean differences.
    targs : dict or float
        ``{"sd": value}`` (or the value itself): a single SD on the scale wanted.

    Returns
    -------
    numpy.ndarray
        Mean differences.

    References
    ----------
    .. [1] Higgins JPT, Thomas J, et al. (eds.) (2019). *Cochrane Handbook for Systematic
           Reviews of Interventions*, 2nd ed. Wiley. doi:10.1002/9781119536604

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.dtomd(0.5, targs={"sd": 12.0})[()])
    6.0
    """
    sd = _targ(targs, "sd", "dtomd") if isinstance(targs, Mapping) else targs
    if sd is None or np.ndim(sd) != 0:
        raise InputError("transf.dtomd: give one standard deviation, targs={'sd': value}")
    return _arr(x) * float(sd)


def dtolnor_logis(x: Any) -> Arr:
    """Standardised mean difference to a log odds ratio under logistic distributions, ``pi d /
    sqrt(3)`` (Hasselblad & Hedges 1995; metafor >= 4.0 ``transf.dtolnor.logis``; the
    ``D2ORL`` measure).

    Parameters
    ----------
    x : array_like
        Standardised mean differences.

    Returns
    -------
    numpy.ndarray
        Log odds ratios.

    References
    ----------
    .. [1] Hasselblad V, Hedges LV (1995). Meta-analysis of screening and diagnostic tests.
           *Psychol Bull* 117(1):167-178. doi:10.1037/0033-2909.117.1.167

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.dtolnor_logis(0.5).round(6))
    0.9069
    """
    return _arr(x) * math.pi / math.sqrt(3)


def lnortod_logis(x: Any) -> Arr:
    """Log odds ratio to a standardised mean difference under logistic distributions,
    ``sqrt(3) log(OR) / pi`` (Hasselblad & Hedges 1995; Chinn 2000; metafor >= 4.0
    ``transf.lnortod.logis``; the ``OR2DL`` measure).

    Parameters
    ----------
    x : array_like
        Log odds ratios.

    Returns
    -------
    numpy.ndarray
        Standardised mean differences.

    References
    ----------
    .. [1] Chinn S (2000). A simple method for converting an odds ratio to effect size for use
           in meta-analysis. *Stat Med* 19(22):3127-3131.
           doi:10.1002/1097-0258(20001130)19:22<3127::AID-SIM784>3.0.CO;2-M

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.lnortod_logis(0.9069).round(4))
    0.5
    """
    return _arr(x) * math.sqrt(3) / math.pi


def dtolnor_norm(x: Any) -> Arr:
    """Standardised mean difference to a log odds ratio under normal distributions, ``1.65 d``
    (Cox 1970; Sanchez-Meca et al. 2003; metafor >= 4.0 ``transf.dtolnor.norm``; ``D2ORN``).

    Parameters
    ----------
    x : array_like
        Standardised mean differences.

    Returns
    -------
    numpy.ndarray
        Log odds ratios.

    References
    ----------
    .. [1] Sanchez-Meca J, Marin-Martinez F, Chacon-Moscoso S (2003). Effect-size indices for
           dichotomized outcomes in meta-analysis. *Psychol Methods* 8(4):448-467.
           doi:10.1037/1082-989X.8.4.448

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.dtolnor_norm(0.5).round(6))
    0.825
    """
    return _arr(x) * 1.65


def lnortod_norm(x: Any) -> Arr:
    """Log odds ratio to a standardised mean difference under normal distributions,
    ``log(OR) / 1.65`` (Cox 1970; metafor >= 4.0 ``transf.lnortod.norm``; ``OR2DN``).

    Parameters
    ----------
    x : array_like
        Log odds ratios.

    Returns
    -------
    numpy.ndarray
        Standardised mean differences.

    References
    ----------
    .. [1] Sanchez-Meca J, Marin-Martinez F, Chacon-Moscoso S (2003). *Psychol Methods*
           8(4):448-467. doi:10.1037/1082-989X.8.4.448

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.lnortod_norm(0.825).round(6))
    0.5
    """
    return _arr(x) / 1.65


# =========================================================================== odds ratios


def _pc(pc: Any, x: Arr, fun: str) -> Arr:
    if pc is None:
        raise InputError(f"transf.{fun}: give the control group risk pc")
    p = _arr(pc)
    if np.any((p < 0) | (p > 1)):
        raise InputError(f"transf.{fun}: the control group risk 'pc' must be between 0 and 1")
    if p.ndim and x.ndim and p.shape != x.shape:
        raise InputError(f"transf.{fun}: 'pc' must be one value or one per value of x")
    return p


def logortord(x: Any, pc: Any = None) -> Arr:
    """Log odds ratio to a risk difference at control risk ``pc``: ``e^x pc / (1 - pc + pc
    e^x) - pc`` (Cochrane Handbook v6.4 section 15.4.4; metafor ``transf.logortord``).

    Parameters
    ----------
    x : array_like
        Log odds ratios.
    pc : array_like
        Control group risk(s) in [0, 1].

    Returns
    -------
    numpy.ndarray
        Risk differences.

    References
    ----------
    .. [1] Higgins JPT, Thomas J, et al. (eds.) (2019). *Cochrane Handbook for Systematic
           Reviews of Interventions*, 2nd ed. Wiley. doi:10.1002/9781119536604

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.logortord(0.0, pc=0.2)[()])
    0.0
    """
    x = _arr(x)
    p = _pc(pc, x, "logortord")
    e = np.exp(x)
    return np.asarray(e * p / (1 - p + p * e) - p, dtype=float)


def logortorr(x: Any, pc: Any = None) -> Arr:
    """Log odds ratio to a risk ratio at control risk ``pc``: ``e^x / (pc (e^x - 1) + 1)``
    (Zhang & Yu 1998; metafor ``transf.logortorr``).

    Parameters
    ----------
    x : array_like
        Log odds ratios.
    pc : array_like
        Control group risk(s) in [0, 1].

    Returns
    -------
    numpy.ndarray
        Risk ratios.

    References
    ----------
    .. [1] Zhang J, Yu KF (1998). What's the relative risk? A method of correcting the odds
           ratio in cohort studies of common outcomes. *JAMA* 280(19):1690-1691.
           doi:10.1001/jama.280.19.1690

    Examples
    --------
    >>> import evsynth
    >>> float(evsynth.transf.logortorr(0.6931472, pc=0.2).round(6))
    1.666667
    """
    x = _arr(x)
    p = _pc(pc, x, "logortorr")
    e = np.exp(x)
    return np.asarray(e / (p * (e - 1) + 1), dtype=float)


# =========================================================================== lookup


def names() -> list[str]:
    """Names accepted by :func:`resolve` (and so by ``transf=`` of predict and forest).

    Returns
    -------
    list of str
        The transformation functions of this module.

    References
    ----------
    .. [1] Viechtbauer W (2010). *J Stat Softw* 36(3). doi:10.18637/jss.v036.i03

    Examples
    --------
    >>> import evsynth
    >>> "ipft_hm" in evsynth.transf.names()
    True
    """
    return [n for n in __all__ if n not in ("names", "resolve")]


def _by_name(name: str, what: str) -> Callable[..., Any]:
    key = name.strip().lower()
    for prefix in ("evsynth.transf.", "transf."):
        if key.startswith(prefix):
            key = key[len(prefix):]
    key = key.replace(".", "_")
    key = {"plogis": "ilogit", "qlogis": "logit", "tanh": "ztor", "atanh": "rtoz"}.get(key, key)
    if key not in names():
        raise InputError(f"{what}: unknown transformation transf={name!r}; expected a function "
                         f"or one of {', '.join(names())}")
    fn: Callable[..., Any] = globals()[key]
    return fn


def resolve(transf: Any, targs: Mapping[str, Any] | None = None, what: str = "transf"
            ) -> tuple[Callable[[Any], Arr] | None, str | None]:
    """The function a ``transf``/``targs`` pair stands for (metafor's ``transf``, ``targs``).

    Parameters
    ----------
    transf : None, str or callable
        ``None`` (no transformation); a name of this module's functions (``"exp"``,
        ``"ilogit"``, ``"ipft_hm"``; metafor spellings such as ``"transf.ipft.hm"`` are
        accepted); or any function of one array (``numpy.exp``).
    targs : dict, optional
        Extra arguments: passed as ``targs=`` to a function that has a ``targs`` parameter
        (integral transforms, :func:`ipft_hm`, :func:`dtomd`, as metafor); otherwise its keys are
        passed as keyword arguments (e.g. ``{"ni": 50}`` for :func:`ipft`, ``{"pc": 0.2}`` for
        :func:`logortord`; an evsynth convenience).
    what : str
        Name of the calling function, used in messages.

    Returns
    -------
    tuple
        ``(function, name)``: a function of one array returning a float array, and the name
        reported with the results; ``(None, None)`` without a transformation.

    Raises
    ------
    InputError
        For an unknown name, ``targs`` without ``transf``, or ``targs`` the function does not
        take.

    References
    ----------
    .. [1] Viechtbauer W (2010). *J Stat Softw* 36(3). doi:10.18637/jss.v036.i03

    Examples
    --------
    >>> import evsynth
    >>> f, name = evsynth.transf.resolve("transf.ilogit")
    >>> name, f([0.0]).tolist()
    ('ilogit', [0.5])
    >>> f, name = evsynth.transf.resolve("exp_int", targs={"tau2": 0.5})
    >>> float(f(0.0)[()].round(6))
    1.284025
    """
    if transf is None:
        if targs is not None:
            raise InputError(f"{what}: targs given without transf")
        return None, None
    if isinstance(transf, str):
        fn = _by_name(transf, what)
        name = fn.__name__
    elif callable(transf):
        fn = transf
        name = getattr(transf, "__name__", repr(transf))
    else:
        raise InputError(f"{what}: argument 'transf' is {transf!r}; expected a function such as "
                         "numpy.exp or the name of one in evsynth.transf (e.g. 'exp')")
    if targs is not None and not isinstance(targs, Mapping):
        raise InputError(f"{what}: targs must be a dict (metafor's list), e.g. {{'tau2': 0.1}}")
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins / ufuncs without a signature
        params = {}  # type: ignore[assignment]
    # arguments the function needs besides the values (ipft's ni, dtorpb's n1i and n2i)
    needed = [p.name for p in list(params.values())[1:]
              if p.default is inspect.Parameter.empty
              and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    missing = [a for a in needed if targs is None or a not in targs]
    if missing:
        raise InputError(f"{what}: transf {name!r} needs {', '.join(map(repr, missing))}; give "
                         f"{'it' if len(missing) == 1 else 'them'} in targs, e.g. "
                         f"targs={{{missing[0]!r}: ...}}")
    if targs is None:
        def apply(x: Any) -> Arr:
            return np.asarray(fn(x), dtype=float)
        return apply, name
    if "targs" in params:
        kwargs: dict[str, Any] = {"targs": dict(targs)}
    else:
        unknown = [k for k in targs if k not in params]
        if unknown:
            raise InputError(f"{what}: transf {name!r} does not take "
                             f"{', '.join(map(repr, unknown))} (targs)")
        kwargs = dict(targs)

    def apply_targs(x: Any) -> Arr:
        return np.asarray(fn(x, **kwargs), dtype=float)
    return apply_targs, name

