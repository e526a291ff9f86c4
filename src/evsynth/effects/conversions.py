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

from collections.abc import Sequence

import numpy as np
from scipy import stats

from evsynth.errors import InputError, first_bad, study_name

__all__ = [
    "sd_change",
    "se_from_ci",
    "se_from_p",
]

ArrayLike = float | int | Sequence | np.ndarray
Labels = Sequence | None


# --------------------------------------------------------------------------- helpers


def _as_float(x: ArrayLike, field: str) -> np.ndarray:
    """``x`` as a float array; InputError naming ``field`` if it is not numeric."""
    try:
        return np.asarray(x, dtype=float)
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
        v = np.ravel(x)[i]
        raise InputError(f"{study_name(i, labels)}: field '{field}' is {v!r}; expected {want}")


def _finite(x: np.ndarray, field: str, labels: Labels) -> None:
    _fail(~np.isfinite(x), x, field, "a finite number", labels)


def _nonneg(x: np.ndarray, field: str, labels: Labels) -> None:
    _finite(x, field, labels)
    _fail(x < 0, x, field, "a number >= 0", labels)


def _positive(x: np.ndarray, field: str, labels: Labels) -> None:
    _finite(x, field, labels)
    _fail(x <= 0, x, field, "a positive number", labels)


def _correlation(r: np.ndarray, field: str, labels: Labels) -> None:
    _finite(r, field, labels)
    _fail((r < -1) | (r > 1), r, field, "a correlation in [-1, 1]", labels)


def _probability(p: np.ndarray, field: str, labels: Labels) -> None:
    _finite(p, field, labels)
    _fail((p <= 0) | (p >= 1), p, field, "a P value strictly between 0 and 1", labels)


def _level(level: float) -> float:
    """Confidence level given as a percentage (95) or a fraction (0.95) -> fraction."""
    try:
        lv = float(level)
    except (TypeError, ValueError):
        raise InputError(f"argument 'level' is {level!r}; expected a number such as 95") from None
    if 1 < lv < 100:
        lv /= 100
    if not 0 < lv < 1:
        raise InputError(f"argument 'level' is {level!r}; expected a confidence level in (0, 100) "
                         f"percent, e.g. 95 (or a fraction in (0, 1))")
    return lv


def _out(x: np.ndarray, scalar: bool) -> float | np.ndarray:
    return float(x) if scalar else x


# --------------------------------------------------------------------------- change scores


def sd_change(sd_baseline: ArrayLike, sd_followup: ArrayLike, r: ArrayLike, *,
              labels: Labels = None) -> float | np.ndarray:
    """SD of change from baseline, given baseline and follow-up SDs and their correlation.

    ``SD_change = sqrt(SD_b^2 + SD_f^2 - 2 r SD_b SD_f)`` (Cochrane Handbook v6.4, section
    6.5.2.8; Follmann et al. 1992, J Clin Epidemiol 45:769). Units: those of the SDs.
    ``r`` must lie in [-1, 1]; SDs must be >= 0.
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
    """
    (lo, up), scalar = _broadcast({"lower": lower, "upper": upper})
    lv = _level(level)
    if log:
        _positive(lo, "lower", labels)
        _positive(up, "upper", labels)
        lo, up = np.log(lo), np.log(up)
    else:
        _finite(lo, "lower", labels)
        _finite(up, "upper", labels)
    _fail(lo > up, np.exp(lo) if log else lo, "lower",
          "a lower confidence limit <= the upper limit", labels)
    z = stats.norm.ppf(0.5 + lv / 2.0)
    return _out((up - lo) / (2.0 * z), scalar)


def se_from_p(estimate: ArrayLike, p: ArrayLike, *, labels: Labels = None
              ) -> float | np.ndarray:
    """Standard error of an estimate from its two-sided P value (normal test).

    ``z = Phi^{-1}(1 - p/2)``, ``SE = |estimate| / z`` (Cochrane Handbook v6.4, section 6.3.2;
    Altman & Bland 2011, BMJ 343:d2090). ``estimate`` is on the analysis scale (e.g. a log odds
    ratio) and must be non-zero; ``p`` must lie in (0, 1).
    """
    (est, pp), scalar = _broadcast({"estimate": estimate, "p": p})
    _finite(est, "estimate", labels)
    _fail(est == 0, est, "estimate", "a non-zero estimate (the SE is undefined when it is 0)",
          labels)
    _probability(pp, "p", labels)
    z = stats.norm.isf(pp / 2.0)
    return _out(np.abs(est) / z, scalar)
