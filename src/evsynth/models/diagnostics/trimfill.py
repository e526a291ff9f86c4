"""Trim-and-fill (Duval & Tweedie 2000, Biometrics 56:455, doi:10.1111/j.0006-341X.2000.00455.x,
and J Am Stat Assoc 95:89, doi:10.1080/01621459.2000.10473905; metafor ``trimfill.rma.uni``).

Registered for :class:`~evsynth.models.meta.MetaResult` without moderators, as metafor (which
has no ``trimfill`` method for ``rma.mh`` / ``rma.peto`` fits).

Fits with user weights, ``weighted=False`` or a fixed tau^2 are handled as metafor 3.8.1's
``trimfill.rma.uni``: its refits (the side regression, the trimmed fits and the fit to the
filled data) pass ``weights`` (the studies' own, sorted and trimmed with them; an imputed study
gets the weight of the study it mirrors, ``c(x$weights.f, wi[(k-k0+1):k])``) and ``weighted =
x$weighted``, but no ``tau2``: a fixed tau^2 is re-estimated by the fit's method in every refit
(with k0 = 0 the result is the fit itself, its tau^2 still fixed).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evsynth.errors import InputError
from evsynth.models.bias import TrimfillResult, round_half_even
from evsynth.models.diagnostics import register
from evsynth.models.diagnostics._common import INT_ONLY, refit_carrying
from evsynth.models.meta import MetaResult


def rounding_noise(k: np.ndarray | int, max_abs_y: np.ndarray | float) -> np.ndarray | float:
    """Bound of the rounding error of a pooled estimate of ``k`` effects of magnitude at most
    ``max_abs_y``: ``4 k eps max|y|``. trim-and-fill counts residuals within it as 0."""
    return 4 * k * np.finfo(float).eps * max_abs_y


@register("trimfill", MetaResult, **INT_ONLY)
def trimfill_rma(fit: MetaResult, side: str | None = None, estimator: str = "L0",
                 maxiter: int = 100, ilim: Sequence[float] | None = None) -> TrimfillResult:
    """Trim-and-fill (Duval & Tweedie 2000, Biometrics 56:455 and JASA 95:89; metafor
    ``trimfill.rma.uni``).

    ``side``: where studies are missing; by default from the sign of the slope of the
    fit's model with ``sqrt(vi)`` as moderator (negative slope: "right"). ``estimator``:
    ``L0``, ``R0`` or ``Q0`` (Duval & Tweedie 2000); studies are trimmed and the estimate
    refitted (same tau^2 estimator) until k0 is stable. The imputed studies mirror the k0
    most extreme ones about the last trimmed estimate; the model is refitted to the filled
    data with this fit's estimator, test and level (metafor refits with test "z" and level
    95). ``p_k0`` (R0 only) = ``0.5^(k0+1)``. With R0 and all ranks positive, k0 = k - 1.
    Residuals within ``4 k eps max|yi|`` of the trimmed estimate (its rounding error) count as
    0, as in exact arithmetic, so equal effects give k0 = 0 on either side where metafor's
    ranks follow the signs of rounding noise (and may not converge).

    User weights and ``weighted=False`` are carried into every refit and an imputed study
    takes the weight of the study it mirrors; a fixed tau^2 is not carried (re-estimated by the
    fit's method), all as metafor 3.8.1's ``trimfill.rma.uni`` (see the module docstring).

    References
    ----------
    Duval S, Tweedie R (2000). Biometrics 56:455-463, doi:10.1111/j.0006-341X.2000.00455.x;
    J Am Stat Assoc 95:89-98, doi:10.1080/01621459.2000.10473905. metafor 3.8.1
    ``trimfill.rma.uni``.
    """
    what = "trimfill"
    if estimator not in ("L0", "R0", "Q0"):
        raise InputError(f"{what}: estimator must be 'L0', 'R0' or 'Q0'; got {estimator!r}")
    k = fit.k
    if k < 2:
        raise InputError(f"{what}: needs at least 2 studies (k = {k})")
    y0, v0 = fit.yi, fit.vi
    w0 = fit.user_weights  # metafor: wi <- x$weights, passed with weighted = x$weighted
    if side is None:
        try:
            slope = refit_carrying(fit, y0, v0, w0, mods=np.sqrt(v0)[:, None],
                                   test="z").beta[1]
        except InputError as exc:
            raise InputError(f"{what}: cannot choose the side from the regression on "
                             f"sqrt(vi) ({exc}); give side='left' or 'right'") from None
        side = "right" if slope < 0 else "left"
    elif side not in ("left", "right"):
        raise InputError(f"{what}: side must be 'left', 'right' or None; got {side!r}")
    sgn = -1.0 if side == "right" else 1.0
    ys = sgn * y0
    order = np.argsort(ys, kind="stable")
    ys, vs = ys[order], v0[order]
    ws = None if w0 is None else w0[order]
    noise = rounding_noise(k, float(np.max(np.abs(ys))))
    k0, k0_prev, it = 0, -1, 0
    beta, se_k0 = 0.0, 0.0
    while k0 != k0_prev:
        k0_prev = k0
        it += 1
        if it > maxiter:
            raise InputError(f"{what}: the trim-and-fill algorithm did not converge in "
                             f"{maxiter} iterations (maxiter)")
        m = k - k0
        beta = float(refit_carrying(fit, ys[:m], vs[:m], None if ws is None else ws[:m],
                                    test="z").beta[0])
        c = ys - beta
        # a residual within the rounding error of the pooled estimate (a few ulps of the
        # largest effect) is 0, as in exact arithmetic: otherwise equal effects get the signs
        # of rounding noise and k0 can oscillate between two values (metafor then stops with
        # "did not converge"; a deliberate difference, tests/models/test_bias.py)
        c[np.abs(c) <= noise] = 0.0
        # ordinal ranks of |c|, ties in data order (scipy.stats.rankdata(method="ordinal"),
        # a stable sort; metafor's rank(ties.method = "first"))
        ranks = np.empty(c.size, dtype=np.int64)
        ranks[np.argsort(np.abs(c), kind="stable")] = np.arange(1, c.size + 1)
        srank = np.sign(c) * ranks
        if estimator == "R0":
            neg = -srank[srank < 0]
            k0f = float(k - (neg.max() if neg.size else 0) - 1)
            se_k0 = np.sqrt(2 * max(0.0, k0f) + 2)
        else:
            Sr = float(np.sum(srank[srank > 0]))
            if estimator == "L0":
                k0f = (4 * Sr - k * (k + 1)) / (2 * k - 1)
            else:
                disc = 2 * k**2 - 4 * Sr + 0.25
                if disc < 0:
                    raise InputError(f"{what}: the Q0 estimator is undefined for these data "
                                     f"(2k^2 - 4 S_rank + 1/4 = {disc:.4g} < 0); use L0 or "
                                     "R0")
                k0f = k - 0.5 - np.sqrt(disc)
            varSr = (k * (k + 1) * (2 * k + 1) + 10 * k0f**3 + 27 * k0f**2 + 17 * k0f
                     - 18 * k * k0f**2 - 18 * k * k0f + 6 * k**2 * k0f) / 24
            sq = np.sqrt(varSr) if varSr >= 0 else np.nan
            if estimator == "L0":
                se_k0 = 4 * sq / (2 * k - 1)
            else:
                den = (k - 0.5) ** 2 - k0f * (2 * k - k0f - 1)
                se_k0 = 2 * sq / np.sqrt(den) if den > 0 else np.nan
        k0 = int(max(0, round_half_even(k0f)))
        se_k0 = float(max(0.0, se_k0)) if np.isfinite(se_k0) else np.nan
    labels = fit.slab if fit.slab is not None else [f"Study {i + 1}" for i in range(k)]
    if k0 > 0:
        idx = order[k - k0:]
        b_orig = sgn * beta
        y_fill = 2 * b_orig - y0[idx]
        if ilim is not None:
            lo, hi = sorted(float(x) for x in ilim)
            y_fill = np.clip(y_fill, lo, hi)
        yi = np.concatenate([y0, y_fill])
        vi = np.concatenate([v0, v0[idx]])
        slab = [*labels, *[f"Filled {j + 1}" for j in range(k0)]]
        wi = None if w0 is None else np.concatenate([w0, w0[idx]])
        refitted = refit_carrying(fit, yi, vi, wi, slab=slab)
    else:
        yi, vi, slab, refitted = y0.copy(), v0.copy(), list(labels), fit
    fill = np.r_[np.zeros(k, bool), np.ones(k0, bool)]
    p_k0 = float(0.5 ** (k0 + 1)) if estimator == "R0" else None
    notes = []
    if not np.isfinite(se_k0):
        notes.append("se_k0 is undefined (NaN, as metafor): the variance formula of S_rank "
                     "(Duval & Tweedie 2000) is negative at this k0")
    return TrimfillResult(k0, side, estimator, se_k0, p_k0, yi, vi, fill, slab, refitted, it,
                          notes)
