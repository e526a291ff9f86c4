"""Fit (mixed-effects) meta-analysis models for a whole batch of groups at once.

This is the one code path behind :func:`evsynth.meta` (a batch of one), :func:`evsynth.meta_batch`,
subgroup analyses and the leave-one-out style diagnostics. Formulas follow metafor's ``rma.uni``
(Viechtbauer 2010, J Stat Softw 36(3)); the Knapp-Hartung adjustment follows Knapp & Hartung
(2003, Stat Med 22:2693) and Sidik & Jonkman (2002); the "adhoc" variant floors the scale factor
at 1 (Knapp & Hartung 2003; Röver, Knapp & Friede 2015).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
from scipy import special

from evsynth.errors import InputError, first_bad, nonnegative_number
from evsynth.models import kernels as _kernels
from evsynth.models.kernels import (
    FIXED_METHODS,
    METHODS,
    WEIGHTED_METHODS,
    Design,
    Segments,
    Tau2Result,
    WeightedFit,
    estimate_tau2,
    loglik,
    weighted_fit,
)
from evsynth.validation import TESTS, control_settings, level_fraction


@dataclass
class Control:
    """Numerical settings of the tau^2 estimation (recorded in every result)."""

    tol: float = 1e-12  # convergence: |change in tau^2| <= tol * max(1, tau^2)
    maxiter: int = 100  # Fisher-scoring / Newton steps before the bracketing fallback
    ll0check: bool = True  # compare the ML/REML root with the boundary tau^2 = 0
    tau2_init: float | None = None  # start of the iterative estimators (metafor tau2.init)

    @classmethod
    def from_any(cls, control: dict | Control | None) -> Control:
        """Settings from a ``control=`` dict (metafor's ``threshold`` is an alias of ``tol``,
        ``tau2.init`` of ``tau2_init``), checked by
        :func:`evsynth.validation.control_settings`; ``tau2_init`` is a number >= 0."""
        if isinstance(control, Control):
            return control
        init = None
        if isinstance(control, dict):
            control = dict(control)
            keys = [key for key in ("tau2_init", "tau2.init") if key in control]
            if len(keys) == 2:
                raise InputError("control: give 'tau2_init' or its alias 'tau2.init', not both")
            if keys:
                init = nonnegative_number(f"control: setting {keys[0]!r}", control.pop(keys[0]))
        settings = control_settings(control, {"tol": float, "maxiter": int, "ll0check": bool,
                                              "tau2_init": float},
                                    aliases={"threshold": "tol"})
        return cls(**settings, tau2_init=init)


def default_btt(p: int, intercept: bool) -> np.ndarray:
    """Coefficients tested by the omnibus test: all but the intercept when there are moderators."""
    if intercept and p > 1:
        return np.arange(1, p)
    return np.arange(p)


def critical_values(test: str, level: float, df: np.ndarray) -> np.ndarray:
    """Two-sided critical values: normal for ``z``, t(df) otherwise (the t quantile computed
    once per distinct df: a batch has few, and each costs microseconds)."""
    alpha = 1 - level
    if test == "z":
        return np.full(np.shape(df), special.ndtri(1 - alpha / 2))
    df = np.asarray(df, dtype=float)
    q = 1 - alpha / 2
    if df.size > 64:
        lo, hi = float(df.min()), float(df.max())
        if lo == hi:  # one df for all (NaN compares unequal)
            return np.full(df.shape, special.stdtrit(lo, q))
        if 0 <= lo and hi - lo <= 1e6:  # integer df (k - p): a table, no sort
            ints = df.astype(np.int64)
            if np.array_equal(ints, df):
                ints -= int(lo)
                values = np.flatnonzero(np.bincount(ints.reshape(-1)))
                table = np.empty(int(hi - lo) + 1)
                table[values] = special.stdtrit(values + lo, q)
                return table[ints]
        values, index = np.unique(df, return_inverse=True)
        return special.stdtrit(values, q)[index.reshape(df.shape)]
    return special.stdtrit(df, q)


def knha_scale(rss: np.ndarray, df: np.ndarray, test: str) -> np.ndarray:
    """The factor of the coefficients' covariance under ``"knha"``: ``s^2 = RSS / (k - p)`` of
    the weighted fit at tau^2 (Knapp & Hartung 2003, Stat Med 22:2693, doi:10.1002/sim.1482;
    0 when RSS <= machine epsilon, as metafor), under ``"adhoc"`` ``max(1, s^2)`` (the ad hoc
    modification of the same paper; Roever, Knapp & Friede 2015, BMC Med Res Methodol 15:99,
    doi:10.1186/s12874-015-0091-1); 1 under ``z`` and ``t``, and where ``k - p <= 0`` (no
    residual df: s^2 is undefined, the SE stays the model-based one, as metafor's switch to a
    z test for k = 1; the t p-value and CI are undefined there)."""
    if test not in ("knha", "adhoc"):
        return np.ones_like(df)
    s2w = np.where(df <= 0, 1.0,
                   np.where(rss <= np.finfo(float).eps, 0.0, rss / np.where(df > 0, df, 1)))
    if test == "adhoc":
        s2w = np.maximum(s2w, 1.0)
    return s2w


def prediction_half(crit: np.ndarray, se: np.ndarray, tau2: np.ndarray) -> np.ndarray:
    """Half-width of metafor's default prediction interval: ``crit * sqrt(se^2 + tau^2)``
    (Riley et al. 2011 with metafor's critical value)."""
    with np.errstate(invalid="ignore"):
        return crit * np.sqrt(se**2 + tau2)


def chi2_upper(x: Any, df: Any) -> np.ndarray:
    """``P(X > x)`` for ``X ~ chi^2(df)``: the values of ``scipy.stats.chi2.sf(x, df)`` bit for
    bit (``chdtrc``; 1 for ``x <= 0``, NaN for ``df <= 0`` or NaN), without importing
    scipy.stats (about 0.4 s of every command's start-up). The one home of the chi-square tail;
    :func:`chi2_sf` is its form for the batch Wald tests."""
    x = np.asarray(x, dtype=float)
    df = np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore"):
        return special.chdtrc(np.where(df > 0, df, np.nan), np.maximum(x, 0.0))


def q_pvalue(QE: np.ndarray, df: np.ndarray | int, fused: bool,
             out: np.ndarray | None = None) -> np.ndarray:
    """P-value of Cochran's Q on ``df`` = k - p >= 1 degrees of freedom (``df``: one per value
    or one for all): :func:`chi2_upper`, or in fits on the fused (numba) kernels the finite
    series :func:`evsynth.models._fused.chi2_upper_int` (a fourth of the time; within ~1e-14
    relative of chdtrc and closer to the exact value). Which one is fixed per batch with the
    kernels (:func:`evsynth.models.kernels.pinned_kernels`), so a group's p-value does not
    depend on the batch around it. ``out``: an array to write into."""
    if fused:
        from evsynth.models import _fused

        return _fused.chi2_upper_int(QE, df, out)
    return special.chdtrc(np.asarray(df, dtype=float), QE, out=out)


def t_pvalue(stat: np.ndarray, df: np.ndarray, fused: bool) -> np.ndarray:
    """Two-sided p-value ``P(|T_df| >= |stat|)`` of the t-based tests (t, knha, adhoc):
    scipy's ``2 * stdtr(df, -|stat|)``, or in fits on the fused (numba) kernels with integer
    df :func:`evsynth.models._fused.t_two_sided_int` (a third of the time; within ~1e-14
    relative of stdtr and closer to the exact value). As :func:`q_pvalue`, which one is fixed
    per batch with the kernels. ``stat`` is (groups, coefficients), ``df`` one per group."""
    if fused and np.array_equal(df, np.round(df)):
        from evsynth.models import _fused

        return _fused.t_two_sided_int(stat, df.astype(np.int64)[:, None])
    return 2 * special.stdtr(df[:, None], -np.abs(stat))


def chi2_sf(df: float | np.ndarray, x: np.ndarray) -> np.ndarray:
    """:func:`chi2_upper` for the omnibus Wald tests of a batch (x >= 0 or NaN): with 1 df
    through ``erfc(sqrt(x / 2))`` (P(chi^2_1 > x) = P(|Z| > sqrt(x))), exact and far faster
    than the incomplete gamma function for millions of values."""
    df = np.asarray(df)
    if df.ndim == 0 and df == 1:
        return special.erfc(np.sqrt(np.asarray(x) / 2))
    return chi2_upper(x, df)


@overload
def i2_from_q(Q: float, df: float) -> float: ...
@overload
def i2_from_q(Q: np.ndarray, df: float | np.ndarray) -> np.ndarray: ...
def i2_from_q(Q: float | np.ndarray, df: float | np.ndarray) -> float | np.ndarray:
    """I^2 (%) from a Q statistic and its degrees of freedom: ``max(0, 100 (Q - df) / Q)``, 0 when
    Q = 0 (Higgins & Thompson 2002, Stat Med 21:1539; for subgroup differences Cochrane Handbook
    10.11.3.1). Works on scalars and arrays."""
    Q = np.asarray(Q, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(Q > 0, np.maximum(0.0, 100 * (Q - df) / Q), 0.0)
    return float(out) if out.ndim == 0 else out


def wald(beta: np.ndarray, vb: np.ndarray, L: np.ndarray, test: str,
         df: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """Wald test of ``L beta = 0`` per group: (QM, df1, p). F(m, df) under t/knha/adhoc."""
    m = L.shape[0]
    if m == 1 and L.shape[1] == 1:  # one coefficient of an intercept-only model: no linear algebra
        with np.errstate(divide="ignore", invalid="ignore"):
            # (b / se)^2 rather than b^2 / se^2: finite whenever z^2 is, even for huge b
            QM = np.where(vb[:, 0, 0] > 0, (beta[:, 0] / np.sqrt(vb[:, 0, 0])) ** 2, np.nan)
        if test == "z":
            return QM, m, chi2_sf(m, QM)
        return QM, m, special.fdtrc(m, df, QM)
    Lb = np.einsum("ij,gj->gi", L, beta)
    LVL = np.einsum("ij,gjk,lk->gil", L, vb, L)
    # a singular covariance (e.g. a Knapp-Hartung scale factor of 0) leaves the test undefined
    singular = ~(np.abs(np.linalg.det(LVL)) > 0) | ~np.all(np.isfinite(LVL), axis=(1, 2))
    safe = np.where(singular[:, None, None], np.eye(m)[None], LVL)
    QM = np.einsum("gi,gi->g", Lb, np.linalg.solve(safe, Lb[..., None])[..., 0])
    QM = np.where(singular, np.nan, QM)
    if test == "z":
        return QM, m, chi2_sf(m, QM)
    QM = QM / m
    return QM, m, special.fdtrc(m, df, QM)


#: a fit of a batch: per-group arrays, plus ``notes`` (list of str), ``method`` (str) and
#: ``level`` (float), see :func:`_fit_batch`
FitDict = dict[str, Any]


def fit_batch(*args: Any, **kwargs: Any) -> FitDict:
    """Fit the model for every group (see :func:`_fit_batch`); edge cases such as k = 1 or
    Q = 0 divide by zero on the way and are resolved explicitly, so numpy's warnings are muted."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        return _fit_batch(*args, **kwargs)


#: :func:`fused_batch` is used (switched off by the tests that compare it with the general
#: path, bitwise)
_FUSED_BATCH = True


def fused_batch(des: Design, method: str, test: str, level: float,
                where: Callable[[int], str] | None = None,
                control: Control | None = None,
                ext: tuple[float, float, float, float] | None = None
                ) -> dict[str, np.ndarray] | None:
    """The columns of :func:`evsynth.meta_batch` for a big intercept-only batch (>= 2,048
    groups, numba): DL or HE from one fused kernel per group
    (:func:`evsynth.models._fused.closed_form_fits`), ML/REML/EB/PM/PMM from the fused
    iteration (:func:`_fused_iterative`), under any test: the floating-point operations of
    :func:`_fit_batch` in the same order, so bitwise the same values, without the arrays of
    the general path or the statistics meta_batch does not report (likelihoods, information
    criteria, the omnibus test). Under t, knha and adhoc the coefficient's SE, t value,
    p-value, CI and prediction interval are formed from the fit's ``vb`` and RSS at tau^2 by
    the general path's own functions (:func:`knha_scale`, :func:`_coef_stats`,
    :func:`prediction_half`). None when the general path is needed: other methods, data
    needing a location shift or rescaling, or a fit that is not finite (which the general path
    then reports). ``ext``: min y, max y, min v, max v when already known."""
    from evsynth.models.kernels import _fusable

    iterative = method in ("ML", "REML", "EB", "PM", "PMM")
    if not (_FUSED_BATCH and (method in ("DL", "HE") or iterative) and test in TESTS
            and _fusable(des)):
        return None
    ext = _extremes(des) if ext is None else ext
    if _location_shift(des, True, ext) is not None:
        return None
    if not np.all(data_scale(des, where, ext=ext) == 1.0):
        return None
    from evsynth.models import _fused

    lvl = level_fraction(level)
    crit = float(special.ndtri(1 - (1 - lvl) / 2))
    extra: dict[str, np.ndarray] = {}
    if iterative:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            out, extra = _fused_iterative(des, method, control or Control(), crit, ext)
    else:
        out = _fused.closed_form_fits(des.y, des.v, des.seg.starts, des.seg.sizes, method,
                                      crit, want_rss=test in ("knha", "adhoc"))
    cols = dict(zip(_fused.CLOSED_FORM_ROWS, out, strict=True))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        vt = cols["vt"]
        if not (np.isfinite(cols["estimate"]).all() and np.isfinite(cols["se"]).all()
                and np.isfinite(cols["ci_lb"]).all() and np.isfinite(cols["ci_ub"]).all()
                and np.isfinite(cols["tau2"]).all() and np.isfinite(cols["QE"]).all()
                and (np.isfinite(vt) & (vt >= 0)).all()):
            return None
        if test == "z":
            pval = cols["pval"]
            np.negative(np.abs(cols["zval"]), out=pval)
            special.ndtr(pval, out=pval)
            pval *= 2
        elif not _t_based(cols, des.k, test, lvl):
            return None
        k = des.k
        if des.seg.equal_k is not None and des.seg.equal_k > 1:
            q_pvalue(cols["QE"], des.seg.equal_k - 1, True, out=cols["QEp"])
        else:
            has_df = k > 1
            cols["QEp"] = np.where(has_df, q_pvalue(cols["QE"], np.where(has_df, k - 1, 1), True),
                                   1.0)
    cols.update(extra)
    return cols


def _t_based(cols: dict[str, np.ndarray], k: np.ndarray, test: str, level: float) -> bool:
    """Replace the z-based columns of :func:`fused_batch` (``se``, ``zval``, ``pval``, CI and
    prediction interval) by those of test t, knha or adhoc with df = k - 1, as :func:`_fit_core`
    and meta_batch form them; False when one is not finite where the general path requires
    it (which then reports it)."""
    df = k.astype(float) - 1
    vb = cols["vb"]
    if test in ("knha", "adhoc"):
        vb = vb * knha_scale(cols["RSS_t"], df, test)
    beta = cols["estimate"]
    st = _coef_stats(beta[:, None], vb[:, None, None], df, test, level, fused=True)
    se, crit = st["se"][:, 0], st["crit"]
    if not (np.isfinite(se).all() and (np.isfinite(st["ci_lb"]) & np.isfinite(st["ci_ub"])
                                       | ~np.isfinite(crit)[:, None]).all()):
        return False
    pi_half = prediction_half(crit, se, cols["tau2"])
    cols.update({"se": se, "zval": st["zval"][:, 0], "pval": st["pval"][:, 0],
                 "ci_lb": st["ci_lb"][:, 0], "ci_ub": st["ci_ub"][:, 0],
                 "pi_lb": beta - pi_half, "pi_ub": beta + pi_half})
    return True


def _fused_iterative(des: Design, method: str, control: Control, crit: float,
                     ext: tuple[float, float, float, float] | None = None
                     ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """ML/REML/EB/PM/PMM for :func:`fused_batch`: tau^2 as :func:`estimate_tau2` finds it
    (start, fused iteration with its fallback, the global-maximum scan, the boundary check on
    the same log-likelihoods), then the sums at 0 and at tau^2 in one pass and every statistic
    from them in one kernel (bitwise the general path's values)."""
    from evsynth.models import _fused
    from evsynth.models.kernels import (
        FusedInterceptFit,
        _bracket_fallback,
        _iterative,
        _loglik,
        _other_maxima,
    )

    G = des.seg.G
    k = des.k.astype(float)
    target = None
    if method in ("EB", "PM"):
        target = k - 1
    elif method == "PMM":
        from scipy import stats

        target = stats.chi2.ppf(0.5, k - 1)
    if control.tau2_init is None and method in ("ML", "REML"):
        # the HE start computed in the iteration's pass; then _iterative's fallback
        start, tau2, iters, conv = _fused.newton_he_start(
            des.y, des.v, des.seg.starts, des.seg.sizes, method, control.tol, control.maxiter)
        one = des.k == 1  # no equation to solve (as in _iterative): tau^2 = 0, no iterations
        conv, iters = conv | one, np.where(one, 0, iters)
        tau2, conv, iters, fallback = _bracket_fallback(des, method, None, tau2, iters, ~conv,
                                                        control.tol)
    else:
        start = (np.zeros(G) if control.tau2_init is None
                 else np.full(G, float(control.tau2_init)))
        tau2, conv, iters, fallback = _iterative(des, "PM" if target is not None else method,
                                                 start, target, control.tol, control.maxiter)
    check = method in ("ML", "REML") and control.ll0check
    if method in ("ML", "REML"):
        tau2 = _other_maxima(des, method, start, tau2, control.tol, [])
    # the statistics of every group, each chunk's written in place
    out = np.empty((len(_fused.CLOSED_FORM_ROWS), G))
    names = ("sw", "beta", "sw2", "sw3", "RSS", "slv")
    ones = np.broadcast_to(np.ones(1), (des.y.size, 1))
    reml = method == "REML"
    log_max = 0.0
    if check and _LL0_BOUND:
        v_lo, v_hi = (float(np.min(des.v)), float(np.max(des.v))) if ext is None else ext[2:]
        log_max = max(abs(math.log(v_lo)), abs(math.log(v_hi + float(np.max(tau2, initial=0)))))
    for lo in range(0, G, _FINISH_CHUNK):  # chunks of groups: the sums need little memory
        c = slice(lo, min(G, lo + _FINISH_CHUNK))
        sizes, t = des.seg.sizes[c], tau2[c]
        starts = des.seg.starts[c]
        at0 = sizes == 1
        if check and _LL0_BOUND:
            s0, s1, swb = _fused.two_sums_bound(des.y, des.v, starts, sizes, t)
            idx = np.flatnonzero(_ll0_undecided(sizes, t, s0, s1, swb, reml, log_max))
            if idx.size:
                _fused.group_logs(des.v, starts, sizes, t, idx, s0, s1)
        else:
            s0, s1 = _fused.two_sums(des.y, des.v, starts, sizes, t, check)
            idx = np.arange(sizes.size)
        if check and idx.size:
            # the log-likelihoods of kernels._loglik from these sums for the groups whose
            # check the bound left open (a design naming them: _loglik reads only their sizes;
            # its values are elementwise, so the same for a group in any subset)
            ti = t[idx]
            part = Design(des.y, des.v, ones, Segments(sizes[idx]))
            ll_est = _loglik(part, reml, FusedInterceptFit.from_sums(part, ti, dict(zip(
                names, s1[:, idx], strict=True))))
            ll_0 = _loglik(part, reml, FusedInterceptFit.from_sums(part, np.zeros(ti.size), dict(
                zip(names, s0[:, idx], strict=True))))
            worse = (ll_0 > ll_est + 1e-10 * np.maximum(1.0, np.abs(ll_est))) & (ti > 0)
            if worse.any():
                t = t.copy()
                t[idx[worse]] = 0.0
                at0[idx[worse]] = True
        _fused.finish_iterative(sizes, t, at0, s0, s1, method, crit, out=out, lo=lo)
    return out, {"converged": conv, "iterations": iters, "fallback": fallback}


#: groups per chunk in the last stage of :func:`_fused_iterative`
_FINISH_CHUNK = 2**17

#: the boundary check of fused ML/REML batches computes the logs of a group only when the
#: bound of :func:`_ll0_undecided` leaves its outcome open (False: the logs of every group with
#: tau^2 > 0, as before; the tests compare both)
_LL0_BOUND = True


def _ll0_undecided(k: np.ndarray, t: np.ndarray, s0: np.ndarray, s1: np.ndarray,
                   swb: np.ndarray, reml: bool, log_max: float) -> np.ndarray:
    """Groups (mask) whose ML/REML boundary check needs the exact log-likelihoods.

    The check keeps tau^2 = 0 when ``ll(0) > ll(tau^2) + 1e-10 max(1, |ll(tau^2)|)``. With
    ``x_i = tau^2 / v_i``, ``ll(0) - ll(tau^2) = (A + R [+ log sw_t - log sw_0]) / 2`` (REML's
    term in brackets), ``A = sum log(1 + x_i)`` and ``R = RSS_t - RSS_0``, and
    ``log(1 + x) <= x (2 + x) / (2 (1 + x))`` (x >= 0; its derivative difference is
    ``x^2 / (2 (1 + x)^2) >= 0``) gives ``A <= tau^2 sum w1 + tau^4 / 2 sum w0 w1`` (w0 = 1/v,
    w1 = 1/(v + tau^2)) with no logarithm. Where that upper bound of ``ll(0) - ll(tau^2)`` is
    below ``-1e-12 k M`` (M: the sum of the magnitudes of the terms of both log-likelihoods,
    |log(v + tau^2)| <= ``log_max``), the computed check cannot keep 0, its rounding being at
    most ~k eps M; the other groups (and none with tau^2 = 0, which the check skips) are
    returned."""
    kf = k.astype(float)
    sw0, sw1 = s0[0], s1[0]
    U = t * sw1 + 0.5 * (t * t) * swb
    R = s1[4] - s0[4]
    with np.errstate(divide="ignore", invalid="ignore"):
        d_hi = U + R
        mag = (kf * (2.0 * log_max + 1.0 + np.log(2 * np.pi)) + np.abs(s0[4]) + np.abs(s1[4])
               + U + 1.0)
        if reml:
            l0, l1 = np.log(sw0), np.log(sw1)
            d_hi = d_hi + (l1 - l0)
            mag = mag + np.abs(l0) + np.abs(l1) + np.log(kf)
        safe = 0.5 * d_hi < -1e-12 * kf * mag
    return (t > 0) & ~safe


def _row_name(i: int) -> str:
    return f"study in row {i + 1}"


_TINY = float(np.finfo(float).tiny)  # the smallest normal double
_EPS = float(np.finfo(float).eps)

# exponent budget (base 2) for the products formed by the kernels: sums of w^3 (tr(PP)),
# (w r)^2 (Y'PPY), w^3 r^2 (Y'PPPY), v^2 (HE, SJ), tau^4 (SE of tau^2), with room for k terms
_BUDGET = 960.0
# log2 range of the sampling SDs' geometric middle within which data are fitted unscaled
# (1.5e-5 .. 1.3e30): below it the absolute part of the convergence rule |change in tau^2| <=
# tol * max(1, tau^2) would stop the iterations before tau^2 (~ SD^2 < 1e-10) is resolved;
# above it only overflow matters, which the bounds of data_scale control
_SD_LOW, _SD_HIGH = -16.0, 100.0


def data_scale(des: Design, where: Callable[[int], str] | None = None,
               report: Design | None = None,
               ext: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """Per-group power-of-two scale ``s`` at which the model is fitted: ``y / s``, ``v / s^2``.

    The rma.uni model is location/scale equivariant (Viechtbauer 2010, J Stat Softw 36(3):
    ``y -> y / s``, ``v -> v / s^2`` gives ``beta / s``, ``tau^2 / s^2``, the same z, Q, I^2 and
    p-values, and log-likelihoods shifted by ``-k log s`` (ML) or ``-(k - p) log s`` (REML)).
    Powers of two scale without rounding. ``s = 1`` (the data as given, bit for bit) whenever
    the data are in the usual range: the geometric middle of the sampling SDs within 2^-16 ..
    2^100 (1.5e-5 .. 1.3e30) and no product the kernels form can overflow. Otherwise (e.g. SDs
    of 1e-8, whose tau^2 ~ 1e-16 the absolute convergence tolerance could not resolve, or
    effects near 1e300) ``s`` is the geometric middle of the sampling SDs,
    moved as little as needed so that, in log2 units with ``a = v_min``, ``b = v_max``,
    ``D`` = the spread of y and ``Y = max |y|`` (all scaled), every one of
    ``w^3 = a^-3``, ``(w r)^2 = D^2 / a^2``, ``w^3 r^2 = D^2 / a^3``, ``w y = Y / a``, ``b^2``,
    ``tau^4 ~ D^4`` and ``Y`` stays below ``2^960``.

    Where no scale satisfies all of them the data cannot be fitted in floating point, and an
    :class:`InputError` names the study (``where(i)`` names row ``i``; the values shown are
    those of ``report``, the data before a location shift) and the reason:
    a variance below the smallest normal double (precision already lost), sampling variances
    more than 2^800 (~1e240) apart, or an effect more than 2^360 (~1e108) standard errors from
    the others.
    """
    where = where or _row_name
    y, v, seg = des.y, des.v, des.seg
    tiny = _TINY
    ylo, yhi, vlo, vhi = _extremes(des) if ext is None else ext
    if vlo < tiny:
        i = int(np.argmax(v < tiny))
        raise InputError(f"{where(i)}: field 'vi' is {float(v[i])!r}, below the smallest normal "
                         f"floating-point number ({tiny:.3g}): its precision is already lost; "
                         "express the effects in other units so that the sampling variances "
                         "are larger")
    if _usual_range(ylo, yhi, vlo, vhi):
        return np.ones(seg.G)  # the usual case: one pass over the data, no scaling
    starts = seg.starts
    vmin, vmax = np.minimum.reduceat(v, starts), np.maximum.reduceat(v, starts)
    ymin, ymax = np.minimum.reduceat(y, starts), np.maximum.reduceat(y, starts)
    spread = 2.0 * (ymax / 2 - ymin / 2)  # max - min without overflow
    la, lb = np.log2(vmin), np.log2(vmax)
    ly = np.log2(np.maximum(np.maximum(np.abs(ymin), np.abs(ymax)), tiny))
    ld = np.where(spread > 0, np.log2(np.where(spread > 0, spread, 1.0)), la / 2 - 1)
    E = _BUDGET
    hi = np.minimum.reduce([(la + E / 3) / 2, E / 2 - ld + la, (E - 2 * ld + 3 * la) / 4,
                            E - ly + la])
    lo = np.maximum.reduce([(lb - E / 2) / 2, ld - E / 4, ly - E])
    mid = (la + lb) / 4
    sigma = np.where((lo <= 0) & (hi >= 0) & (mid >= _SD_LOW) & (mid <= _SD_HIGH), 0.0,
                     np.clip(mid, lo, hi))
    bad = np.flatnonzero(lo > hi)
    if bad.size:
        _raise_range(report if report is not None else des, int(bad[0]), where)
    return np.exp2(np.round(sigma))


def _usual_range(ylo: float, yhi: float, vlo: float, vhi: float) -> bool:
    """Whether data with these extremes (min y, max y, min v, max v; ``vlo`` >= the smallest
    normal double) are fitted as they are: :func:`data_scale`'s scale 1 for every group (each
    group's extremes lie within these)."""
    ymag = max(abs(ylo), abs(yhi))
    ok = _scale_bounds(vlo, vhi, 2.0 * ymag, ymag)
    return ok is not None and ok[0] <= 0.0 <= ok[1] and _SD_LOW <= ok[2] and ok[3] <= _SD_HIGH


def _scale_bounds(vmin: float, vmax: float, spread: float,
                  ymax: float) -> tuple[float, float, float, float] | None:
    """(lowest, highest) feasible log2 scale, log2 of the smallest and of the largest SD, for one
    set of extremes (the bounds of :func:`data_scale`), or None if there is none (``math.log2``
    on the floats: these bounds only decide whether to scale)."""
    la, lb = math.log2(vmin), math.log2(vmax)
    ld = math.log2(spread) if spread > 0 else la / 2 - 1
    ly = math.log2(max(ymax, _TINY))
    E = _BUDGET
    hi = min((la + E / 3) / 2, E / 2 - ld + la, (E - 2 * ld + 3 * la) / 4, E - ly + la)
    lo = max((lb - E / 2) / 2, ld - E / 4, ly - E)
    # every group's geometric middle of the SDs lies within 2^(la/2) .. 2^(lb/2)
    return (lo, hi, la / 2, lb / 2) if lo <= hi else None


def _raise_range(des: Design, g: int, where: Callable[[int], str],
                 what: str | None = None) -> None:
    """InputError for group ``g`` whose data floating point cannot hold, naming the study most
    responsible: the smallest sampling variance when the variances are too far apart, else the
    effect farthest (in standard errors) from the median effect."""
    s0 = int(des.seg.starts[g])
    y = des.y[s0:s0 + des.seg.sizes[g]]
    v = des.v[s0:s0 + des.seg.sizes[g]]
    lo, hi = int(np.argmin(v)), int(np.argmax(v))
    prefix = f"{what} is not finite: " if what else ""
    if np.log2(v[hi]) - np.log2(v[lo]) > 5 * _BUDGET / 6:
        raise InputError(f"{where(s0 + lo)}: {prefix}its sampling variance vi = {v[lo]:.3g} is "
                         f"{v[hi] / v[lo]:.3g} times smaller than that of {where(s0 + hi)} "
                         f"(vi = {v[hi]:.3g}); weights this unequal (more than 1e240 apart) "
                         "cannot be computed in floating point: check the variances (units, "
                         "SE given as variance?)")
    med = float(np.median(y))
    dev = np.abs(y / 2 - med / 2)  # half the distance, without overflow
    with np.errstate(divide="ignore"):
        lz = np.log10(2 * np.maximum(dev, np.finfo(float).tiny)) - 0.5 * np.log10(v)
    i = int(np.argmax(lz))
    raise InputError(f"{where(s0 + i)}: {prefix}its effect yi = {y[i]:.6g} lies about "
                     f"10^{lz[i]:.0f} standard errors (sei = {np.sqrt(v[i]):.3g}) from the "
                     f"median effect {med:.6g}; the heterogeneity (Q, tau^2) of such data "
                     "exceeds the floating-point range: check the effects and their variances "
                     "(units?)")


def _fit_batch(des: Design, method: str = "REML", test: str = "z", level: float = 95,
               control: Control | None = None, btt: np.ndarray | None = None,
               intercept: bool = True, compute_r2: bool = True,
               row_weights: bool = True, tau2_fixed: np.ndarray | None = None,
               where: Callable[[int], str] | None = None, weights: np.ndarray | None = None,
               weighted: bool = True) -> FitDict:
    """Fit the model for every group of ``des``; returns a dict of per-group arrays.

    Keys: ``k, p, beta (G,p), vb (G,p,p), se, zval, pval, ci_lb, ci_ub, df, tau2, se_tau2, I2,
    H2, vt, QE, QEp, QM, QMdf, QMp, s2w, ll_ML, ll_REML, ll, AIC, BIC, AICc, parms, R2,
    weights (n,), converged, iterations, fallback``.

    ``tau2_fixed`` (per group): tau^2 is not estimated but set to these values (metafor
    ``rma(..., tau2 = value)``: ``parms = p``, I^2 and H^2 from the fixed value).
    ``weights`` (per row, >= 0): user weights ``a_i`` (metafor ``weights=``): ``beta =
    (X'AX)^-1 X'Ay`` with the sandwich variance of :func:`fixed_effects`; GENQ/GENQM use them as
    the weights of the generalised Q statistic. ``weighted=False``: unweighted least squares
    (metafor ``weighted=FALSE``). Neither changes the other tau^2 estimators (as metafor).
    ``where(i)`` names row ``i`` in error messages (default "study in row i+1").

    The fit is done on data rescaled by :func:`data_scale` (exactly the data when they are in
    the usual range) and scaled back; a fit whose estimate, SE, CI, tau^2 or Q is still not
    finite raises an :class:`InputError` naming the study most responsible.
    """
    where = where or _row_name
    ext = _extremes(des)
    shift = _location_shift(des, intercept, ext)
    work = des if shift is None else Design(des.y - des.seg.expand(shift), des.v, des.X, des.seg)
    if shift is None and ext[2] >= _TINY and _usual_range(*ext):
        scale = None  # data_scale's usual case (scale 1 for every group), decided on floats
    else:
        scale = data_scale(work, where, report=des, ext=ext if shift is None else None)
    if scale is None or np.all(scale == 1.0):
        out = _fit_core(work, method, test, level, control, btt, intercept, compute_r2,
                        row_weights, tau2_fixed, weights, weighted)
    else:
        s2 = scale * scale
        scaled = Design(work.y / des.seg.expand(scale), des.v / des.seg.expand(s2), des.X,
                        des.seg)
        out = _fit_core(scaled, method, test, level, control, btt, intercept, compute_r2,
                        row_weights, None if tau2_fixed is None else tau2_fixed / s2,
                        weights, weighted)
        _unscale(out, scale, des)
        out["notes"].append(f"{int(np.sum(scale != 1.0))} group(s) fitted on y / s, v / s^2 "
                            "with s a power of two (data outside the usual floating-point "
                            "range; location/scale equivariance), results in the original "
                            "units")
    if shift is not None:  # back to the original location: beta_0 + c, its tests and CI
        out["notes"].append(f"{int(np.sum(shift != 0))} group(s) fitted on y - c (c = midrange "
                            "of y; effects far from 0 relative to their SEs), the intercept "
                            "shifted back")
        out["beta"][:, 0] += shift
        L = np.eye(des.p)[default_btt(des.p, intercept) if btt is None else np.asarray(btt)]
        tests = _coef_tests(out["beta"], out["vb"], out["df"], test, float(out["level"]), L,
                            _kernels._fusable(des))
        tests.pop("QMdf")  # per group in out, unchanged
        out.update(tests)
    _check_finite_fit(out, des, where)
    return out


def _unscale(out: FitDict, s: np.ndarray, des: Design) -> None:
    """Results of the fit to ``y / s``, ``v / s^2`` in the original units (equivariance, see
    :func:`data_scale`)."""
    s2 = s * s
    for key in ("beta", "se", "ci_lb", "ci_ub"):
        out[key] = out[key] * s[:, None]
    out["vb"] = out["vb"] * s2[:, None, None]
    for key in ("tau2", "se_tau2", "vt"):
        out[key] = out[key] * s2
    k = des.k.astype(float)
    log_s = np.log(s)
    out["ll_ML"] = out["ll_ML"] - k * log_s
    out["ll_REML"] = out["ll_REML"] - (k - des.p) * log_s
    shift = out["ll"] - (out["ll_REML"] if out["method"] == "REML" else out["ll_ML"])
    out["ll"] = out["ll"] - shift
    for key in ("AIC", "BIC", "AICc"):  # -2 ll + penalty
        out[key] = out[key] + 2 * shift
    if out["weights"] is not None and out["user_weights"] is False:
        out["weights"] = out["weights"] / des.seg.expand(s2)


def _check_finite_fit(out: FitDict, des: Design,
                      where: Callable[[int], str]) -> None:
    """No fit returns a non-finite estimate, SE, tau^2, CI or Q from finite data: the first
    group where one is not finite raises an InputError (t-based CIs of a group with no degrees
    of freedom, k = p, are undefined by design and left to the caller)."""
    vt = out.get("vt")
    keys = ("beta", "se", "ci_lb", "ci_ub", "tau2", "QE")
    if out["beta"].size == 1:  # one group, one coefficient: the same test on floats
        vt1 = 0.0 if vt is None else vt.item()
        if all(math.isfinite(out[key].item()) for key in keys) and (
                math.isfinite(vt1) and vt1 >= 0):
            return
    vt_bad = None if vt is None else ~(np.isfinite(vt) & (vt >= 0))
    if (all(np.isfinite(out[key]).all() for key in ("beta", "se", "ci_lb", "ci_ub", "tau2", "QE"))
            and (vt_bad is None or not vt_bad.any())):
        return  # the usual case: nothing to name
    # tr(P) = sum w - sum w^2 / sum w > 0 in exact arithmetic; with one weight more than ~1e16
    # times the others it cancels to <= 0 in floating point, and tau^2 (DL, HE, ...), the
    # typical sampling variance and I^2 built on it are meaningless: refuse, naming the studies
    g = None if vt_bad is None else first_bad(vt_bad)
    if g is not None:
        s0 = int(des.seg.starts[g])
        v = des.v[s0:s0 + des.seg.sizes[g]]
        lo, hi = int(np.argmin(v)), int(np.argmax(v))
        raise InputError(f"{where(s0 + lo)}: its sampling variance vi = {v[lo]:.3g} is "
                         f"{v[hi] / v[lo]:.3g} times smaller than that of {where(s0 + hi)} "
                         f"(vi = {v[hi]:.3g}); with weights this unequal the heterogeneity "
                         "statistics (tau^2, I^2) are lost in rounding: check the variances "
                         "(units, SE given as variance?)")
    crit_ok = np.isfinite(out["crit"])[:, None]
    checks = (("the estimate", ~np.isfinite(out["beta"]).all(axis=1)),
              ("its standard error", ~np.isfinite(out["se"]).all(axis=1)),
              ("the confidence interval",
               ~(np.isfinite(out["ci_lb"]) & np.isfinite(out["ci_ub"]) | ~crit_ok).all(axis=1)),
              ("tau^2", ~np.isfinite(out["tau2"])),
              ("Cochran's Q", ~np.isfinite(out["QE"])))
    for what, bad in checks:
        g = first_bad(bad)
        if g is not None:
            _raise_range(des, g, where, what)


def _coef_stats(beta: np.ndarray, vb: np.ndarray, df: np.ndarray, test: str,
                level: float, fused: bool = False) -> dict[str, np.ndarray]:
    """SEs, Wald z (or t with df = k - p), two-sided p-values and CIs ``beta -/+ crit se``
    of each coefficient (metafor rma.uni; Knapp & Hartung 2003 for t/knha); ``fused``: the
    fit runs on the fused kernels (the t p-value then from :func:`t_pvalue`'s series)."""
    se = np.sqrt(np.einsum("gii->gi", vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = beta / se
    if test == "z":
        pval = 2 * special.ndtr(-np.abs(zval))
    else:
        pval = t_pvalue(zval, df, fused)
    crit = critical_values(test, level, df)
    return {"se": se, "zval": zval, "pval": pval, "crit": crit,
            "ci_lb": beta - crit[:, None] * se, "ci_ub": beta + crit[:, None] * se}


def _coef_tests(beta: np.ndarray, vb: np.ndarray, df: np.ndarray, test: str, level: float,
                L: np.ndarray, fused: bool = False) -> dict[str, Any]:
    """:func:`_coef_stats` and the omnibus Wald test of ``L beta = 0`` (``QM``, ``QMdf``: its
    numerator df, ``QMp``)."""
    out: dict[str, Any] = dict(_coef_stats(beta, vb, df, test, level, fused))
    out["QM"], out["QMdf"], out["QMp"] = wald(beta, vb, L, test, df)
    return out


def _extremes(des: Design) -> tuple[float, float, float, float]:
    """min y, max y, min v, max v."""
    y, v = des.y, des.v
    return float(y.min()), float(y.max()), float(v.min()), float(v.max())


def _location_shift(des: Design, intercept: bool,
                    ext: tuple[float, float, float, float] | None = None) -> np.ndarray | None:
    """Per-group shift ``c`` of the effects, or None: the midrange of y for groups whose effects
    lie more than 2^32 smallest standard errors from 0 in a model with an intercept column.

    The model is location equivariant when X has an intercept column (y -> y - c gives
    beta_0 - c, everything else unchanged; Viechtbauer 2010). Far from 0, rounding of the
    weighted mean (relative error ~1e-16 of |y|) would otherwise exceed the standard errors and
    show up as spurious heterogeneity; the midrange is exact for identical effects and keeps
    |y - c| at half the spread."""
    y, v = des.y, des.v
    ylo, yhi, vlo, _ = _extremes(des) if ext is None else ext
    if max(abs(ylo), abs(yhi)) <= 2.0**32 * np.sqrt(vlo):
        return None
    if not intercept or not (des.intercept_only or np.all(des.X[:, 0] == 1.0)):
        return None
    starts = des.seg.starts
    ymin, ymax = np.minimum.reduceat(y, starts), np.maximum.reduceat(y, starts)
    need = np.maximum(np.abs(ymin), np.abs(ymax)) > 2.0**32 * np.sqrt(
        np.minimum.reduceat(v, starts))
    return np.where(need, ymin / 2 + ymax / 2, 0.0)


def _fit_core(des: Design, method: str, test: str, level: float, control: Control | None,
              btt: np.ndarray | None, intercept: bool, compute_r2: bool, row_weights: bool,
              tau2_fixed: np.ndarray | None, weights: np.ndarray | None = None,
              weighted: bool = True) -> FitDict:
    """:func:`_fit_batch` on data in a safe range."""
    control = control or Control()
    level = level_fraction(level)
    method = method.upper() if method.upper() in METHODS else method
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; expected one of {', '.join(TESTS)}")
    if method in WEIGHTED_METHODS and weights is None:
        raise InputError(f"method {method!r} (generalised Q statistic) needs the study weights: "
                         "fit with meta(..., weights=...) (the a_i of Q_a = sum a_i (y_i - "
                         "x_i'b_a)^2), as metafor requires")
    k = des.k.astype(float)
    p = des.p
    if tau2_fixed is None:
        t2 = estimate_tau2(des, method, tol=control.tol, maxiter=control.maxiter,
                           reml_ll0check=control.ll0check, init=control.tau2_init,
                           a=weights)
    else:
        G = des.seg.G
        t2 = Tau2Result(np.asarray(tau2_fixed, dtype=float).copy(), np.full(G, np.nan),
                        np.ones(G, dtype=bool), np.zeros(G, dtype=np.int64),
                        np.zeros(G, dtype=bool))
    tau2 = t2.tau2
    if (_kernels._single_fast(des) and tau2_fixed is None and weights is None and weighted
            and des.intercept_only and des.y.size > 0
            and (btt is None or list(np.asarray(btt)) == [0])):
        return _fit_core_one(des, method, test, level, t2, row_weights)
    fit = t2.fit if t2.fit is not None else weighted_fit(des, tau2)
    custom = weights is not None or not weighted
    if custom:
        beta, vb, rss_f = fixed_effects(des, tau2, weights, weighted)
    else:
        beta, vb, rss_f = fit.beta, fit.Ainv.copy(), fit.RSS
    df = k - p
    s2w = knha_scale(fit.RSS, df, test)
    if test in ("knha", "adhoc"):
        vb = vb * s2w[:, None, None]
    btt = default_btt(p, intercept) if btt is None else np.asarray(btt)
    fused = _kernels._fusable(des)
    tests = _coef_tests(beta, vb, df, test, level, np.eye(p)[btt], fused)
    se, zval, pval, crit = tests["se"], tests["zval"], tests["pval"], tests["crit"]
    ci_lb, ci_ub, QM, QMdf, QMp = (tests[key] for key in ("ci_lb", "ci_ub", "QM", "QMdf", "QMp"))

    # heterogeneity: Cochran's Q with fixed-effects weights (uncentred y; see meta() docs)
    if t2.fe is not None:
        fe = t2.fe
    elif method in FIXED_METHODS and tau2_fixed is None:
        fe = fit  # the fit above is already the one at tau^2 = 0 (w = 1/v)
    else:
        fe = weighted_fit(des, np.zeros(des.seg.G))  # w = 1/v
    has_df = k > p
    if has_df.all():  # the usual case: the same values without the masks
        QE = np.maximum(0.0, fe.RSS)
        QEp = q_pvalue(QE, des.k - p, fused)
        vt = (k - p) / fe.trP
    else:
        QE = np.where(has_df, np.maximum(0.0, fe.RSS), 0.0)
        QEp = np.where(has_df, q_pvalue(QE, np.where(has_df, des.k - p, 1), fused), 1.0)
        vt = np.where(has_df, (k - p) / fe.trP, 0.0)
    if method in FIXED_METHODS:
        with np.errstate(divide="ignore", invalid="ignore"):
            I2 = np.where(has_df, i2_from_q(QE, k - p), 0.0)
            H2 = np.where(has_df, QE / np.where(has_df, k - p, 1), 1.0)
    elif has_df.all():
        I2 = 100 * tau2 / (vt + tau2)
        H2 = tau2 / vt + 1
    else:
        I2 = np.where(has_df, 100 * tau2 / (vt + tau2), 0.0)
        H2 = np.where(has_df, tau2 / np.where(has_df, vt, 1) + 1, 1.0)

    # fit statistics (metafor: ll.ML and ll.REML with REMLf = TRUE, at the estimated beta:
    # RSS.f = sum w_i (y_i - x_i'beta)^2 with w_i = 1 / (v_i + tau^2))
    ll_ML = loglik(des, tau2, reml=False, fit=fit) - 0.5 * (rss_f - fit.RSS)
    ll_REML = loglik(des, tau2, reml=True, fit=fit) - 0.5 * (rss_f - fit.RSS)
    parms = p + (0 if method in FIXED_METHODS or tau2_fixed is not None else 1)
    if method == "REML":
        ll, n_ic = ll_REML, k - p
    else:
        ll, n_ic = ll_ML, k
    AIC = -2 * ll + 2 * parms
    BIC = -2 * ll + parms * np.log(n_ic)
    m_ = np.maximum(n_ic, parms + 2)
    AICc = -2 * ll + 2 * parms * m_ / (m_ - parms - 1)

    R2 = np.full(des.seg.G, np.nan)
    if compute_r2 and intercept and p > 1:
        R2 = pseudo_r2(des, method, tau2, control, weights, weighted)

    return {
        "k": des.k.copy(), "p": np.full(des.seg.G, p), "beta": beta, "vb": vb, "se": se,
        "zval": zval, "pval": pval, "ci_lb": ci_lb, "ci_ub": ci_ub, "df": df, "crit": crit,
        "tau2": tau2, "se_tau2": t2.se_tau2, "I2": I2, "H2": H2, "vt": vt, "QE": QE, "QEp": QEp,
        "QM": QM, "QMdf": np.full(des.seg.G, QMdf), "QMp": QMp, "s2w": s2w,
        "ll_ML": ll_ML, "ll_REML": ll_REML, "ll": ll, "AIC": AIC, "BIC": BIC, "AICc": AICc,
        "parms": np.full(des.seg.G, parms), "R2": R2,
        "weights": (_row_weights(des, fit, weights, weighted) if row_weights else None),
        "user_weights": custom,
        "converged": t2.converged, "iterations": t2.iterations, "fallback": t2.fallback,
        "notes": t2.notes, "level": level, "method": method,
    }


_LOG_2PI = float(np.log(2 * np.pi))


def _sqrt(x: float) -> float:
    """``np.sqrt`` of a float (NaN for a negative value, no exception)."""
    if x >= 0 or x != x:
        return math.sqrt(x)
    return _kernels._INVALID_NAN


def _fit_core_one(des: Design, method: str, test: str, level: float, t2: Tau2Result,
                  row_weights: bool) -> FitDict:
    """:func:`_fit_core` after tau^2 is estimated, for one intercept-only group without user
    weights or a fixed tau^2: the same floating-point operations in the same order on Python
    floats (sums by :func:`~evsynth.models.kernels.sum1`, as the batch code's; squares as
    products; numpy's maximum and division semantics; scipy's functions on the same values), so
    bitwise the same
    values (tests/models/test_fast_paths.py), without ~100 numpy calls on arrays of one
    element."""
    from evsynth.models.kernels import _div, _mx, sum1

    y, v = des.y, des.v
    n = y.size
    s = sum1

    kf = float(n)
    df = kf - 1.0  # k - p
    t = float(t2.tau2[0])
    fit = t2.fit
    if fit is None:  # WeightedFit at tau^2, its sums in floats
        if t2.w_sw is not None:  # formed with the estimate
            w, sw = t2.w_sw
        else:
            w = 1.0 / (v + t)
            sw = s(w)
        ainv = _div(1.0, sw)
        beta = ainv * s(w * y)
        r = y + -beta
        u = w * r
        rss = s(u * r)
        slv = s(np.log(v + t))
    else:
        w = fit.w
        sw = float(fit.A[0, 0, 0])
        ainv = float(fit.Ainv[0, 0, 0])
        beta = float(fit.beta[0, 0])
        rss = float(fit.RSS[0])
        slv = float(fit.sum_log_vt[0])
    fixed = method in FIXED_METHODS
    if t2.fe_stats is not None:
        fe_rss, fe_trp = t2.fe_stats
    elif t2.fe is not None:
        fe_rss, fe_trp = float(t2.fe.RSS[0]), float(t2.fe.trP[0])
    elif fixed:  # the fit above is the one at tau^2 = 0
        fe_rss, fe_trp = rss, sw - _div(s(w * w), sw)
    else:
        fe = weighted_fit(des, np.zeros(1))
        fe_rss, fe_trp = float(fe.RSS[0]), float(fe.trP[0])
    # coefficient tests (_coef_tests, wald, critical_values)
    vb = ainv
    s2w = 1.0
    if test in ("knha", "adhoc"):
        s2w = 1.0 if df <= 0 else 0.0 if rss <= _EPS else rss / df
        if test == "adhoc":
            s2w = _mx(s2w, 1.0)
        vb = vb * s2w
    se = _sqrt(vb)
    zval = _div(beta, se)
    alpha = 1 - level
    if test == "z":
        pval = 2 * float(special.ndtr(-abs(zval)))
        crit = float(special.ndtri(1 - alpha / 2))
    else:
        pval = 2 * float(special.stdtr(df, -abs(zval)))
        crit = float(special.stdtrit(df, 1 - alpha / 2))
    if vb > 0:
        q = beta / math.sqrt(vb)
        QM = q * q
    else:
        QM = math.nan
    if test == "z":
        QMp = float(special.erfc(_sqrt(QM / 2)))
    else:
        QMp = float(special.fdtrc(1, df, QM))
    # heterogeneity
    if n > 1:
        QE = _mx(0.0, fe_rss)
        QEp = float(special.chdtrc(df, QE))
        vt = _div(df, fe_trp)
    else:
        QE, QEp, vt = 0.0, 1.0, 0.0
    if fixed:
        if n > 1:
            I2 = _mx(0.0, _div(100 * (QE - df), QE)) if QE > 0 else 0.0
            H2 = _div(QE, df)
        else:
            I2, H2 = 0.0, 1.0
    elif n > 1:
        I2 = _div(100 * t, vt + t)
        H2 = _div(t, vt) + 1
    else:
        I2, H2 = 0.0, 1.0
    # fit statistics (_loglik on the floats)
    ll_ML = -0.5 * kf * _LOG_2PI - 0.5 * slv - 0.5 * rss
    ll_REML = (-0.5 * df * _LOG_2PI + 0.5 * float(np.log(kf)) - 0.5 * slv
               - 0.5 * float(np.log(sw)) - 0.5 * rss)
    parms = 1 + (0 if fixed else 1)
    if method == "REML":
        ll, n_ic = ll_REML, df
    else:
        ll, n_ic = ll_ML, kf
    AIC = -2 * ll + 2 * parms
    BIC = -2 * ll + parms * float(np.log(n_ic))
    m_ = _mx(n_ic, float(parms + 2))
    AICc = -2 * ll + 2 * parms * m_ / (m_ - parms - 1)
    f = np.array([beta, vb, se, zval, pval, beta - crit * se, beta + crit * se])
    g = np.array([df, crit, I2, H2, vt, QE, QEp, QM, QMp, s2w, ll_ML, ll_REML, ll, AIC, BIC,
                  AICc, math.nan])
    return {
        "k": des.k.copy(), "p": np.ones(1, dtype=np.int64), "beta": f[0:1].reshape(1, 1),
        "vb": f[1:2].reshape(1, 1, 1), "se": f[2:3].reshape(1, 1), "zval": f[3:4].reshape(1, 1),
        "pval": f[4:5].reshape(1, 1), "ci_lb": f[5:6].reshape(1, 1),
        "ci_ub": f[6:7].reshape(1, 1), "df": g[0:1], "crit": g[1:2], "tau2": t2.tau2,
        "se_tau2": t2.se_tau2, "I2": g[2:3], "H2": g[3:4], "vt": g[4:5], "QE": g[5:6],
        "QEp": g[6:7], "QM": g[7:8], "QMdf": np.ones(1, dtype=np.int64), "QMp": g[8:9],
        "s2w": g[9:10], "ll_ML": g[10:11], "ll_REML": g[11:12], "ll": g[12:13],
        "AIC": g[13:14], "BIC": g[14:15], "AICc": g[15:16],
        "parms": np.full(1, parms), "R2": g[16:17],
        "weights": w if row_weights else None, "user_weights": False,
        "converged": t2.converged, "iterations": t2.iterations, "fallback": t2.fallback,
        "notes": t2.notes, "level": level, "method": method,
    }


def pseudo_r2(des: Design, method: str, tau2: np.ndarray, control: Control,
              weights: np.ndarray | None = None, weighted: bool = True) -> np.ndarray:
    """Pseudo R^2 (% of heterogeneity accounted for): (tau2_RE - tau2_ME) / tau2_RE, floored at 0
    (Raudenbush 2009; metafor ``r2def = "1"``; tau2_RE from the intercept-only model with the
    same estimator, weights and start value). For equal-effects models: the adjusted R^2 of the
    (weighted: 1 / v_i or the user weights; or unweighted) least-squares regression (metafor)."""
    if method in FIXED_METHODS:
        w_ls = (np.ones_like(des.v) if not weighted else
                1.0 / des.v if weights is None else weights)
        fit = WeightedFit(des, w=w_ls)
        null = Design(des.y, des.v, np.ones((des.y.size, 1)), des.seg)
        fit0 = WeightedFit(null, w=w_ls)
        k = des.k.astype(float)
        r2 = 1 - fit.RSS / fit0.RSS
        adj = 1 - (1 - r2) * (k - 1) / (k - des.p)
        # identical effects: nothing to account for, R^2 = 0 as metafor (its RSS ratio is 0/0
        # or rounding noise, which gave NaN or 100)
        starts = des.seg.starts
        constant = np.minimum.reduceat(des.y, starts) == np.maximum.reduceat(des.y, starts)
        return np.where(constant, 0.0, np.maximum(0.0, 100 * adj))
    null = Design(des.y, des.v, np.ones((des.y.size, 1)), des.seg)
    t0 = estimate_tau2(null, method, tol=control.tol, maxiter=control.maxiter,
                       reml_ll0check=control.ll0check, init=control.tau2_init, a=weights).tau2
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(t0 > 0, np.maximum(0.0, 100 * (t0 - tau2) / t0), 0.0)
    return r2


def fixed_effects(des: Design, tau2: np.ndarray, weights: np.ndarray | None,
                  weighted: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients, their covariance and ``RSS.f`` with user weights or unweighted
    (metafor ``rma.uni``, Viechtbauer 2010, J Stat Softw 36(3)).

    With weights ``A = diag(a_i)`` (``A = I`` for ``weighted=False``): ``beta = (X'AX)^-1 X'Ay``
    and, since ``A`` is not the inverse of the marginal covariance ``M = diag(v_i + tau^2)``,
    the sandwich ``Var(beta) = (X'AX)^-1 X'AMAX (X'AX)^-1`` (exact under the model for fixed
    ``tau^2``). ``RSS.f = sum (y_i - x_i'beta)^2 / (v_i + tau^2)`` enters metafor's
    log-likelihoods. Returns per-group ``beta (G, p)``, ``vb (G, p, p)`` and ``RSS.f (G,)``.
    """
    a = np.ones_like(des.v) if not weighted or weights is None else weights
    fa = WeightedFit(des, w=a)
    m = des.seg.add(des.v, tau2)
    meat = des.xtdx(a * a * m)
    vb = np.einsum("gij,gjk,gkl->gil", fa.Ainv, meat, fa.Ainv)
    rss_f = des.seg.sum(fa.r * fa.r / m)
    return fa.beta, vb, rss_f


def _row_weights(des: Design, fit: WeightedFit, weights: np.ndarray | None,
                 weighted: bool) -> np.ndarray:
    """The weight each row has in the fit (metafor ``weights.rma.uni`` before the scaling to
    percent): ``1 / (v_i + tau^2)``, the user weights, or 1 (unweighted)."""
    if not weighted:
        return np.ones_like(des.v)
    if weights is not None:
        return np.asarray(weights, dtype=float)
    return fit.w


def loglik_at(des: Design, tau2: np.ndarray, reml: bool, weights: np.ndarray | None = None,
              weighted: bool = True) -> np.ndarray:
    """Log-likelihood (ML, or REML with metafor's ``REMLf = TRUE``) of every group at given tau^2
    values, at the coefficients the model estimates there (GLS; with user weights or
    ``weighted=False`` those of :func:`fixed_effects`, as metafor's ``ll.ML`` / ``ll.REML``).
    The profile likelihood of :mod:`evsynth.models.profile` and the profile-likelihood CI of
    :mod:`evsynth.models.heterogeneity`."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        fit = WeightedFit(des, tau2)
        ll = loglik(des, tau2, reml, fit=fit)
        if weights is not None or not weighted:
            ll = ll - 0.5 * (fixed_effects(des, tau2, weights, weighted)[2] - fit.RSS)
    return ll
