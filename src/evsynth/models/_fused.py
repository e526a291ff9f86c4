"""Fused per-group kernel for intercept-only ML/REML/PM iterations (optional, needs numba).

The numpy kernel in :mod:`evsynth.models.kernels` makes about twenty passes over all rows per
Newton step and is memory-bound for millions of meta-analyses. This kernel runs the *same*
safeguarded Newton iteration (same estimating equations, bracket, boundary rule and stopping
rule as ``kernels._iterative``; see there for the sources) group by group with the sums fused in
one pass, in parallel over groups. It is used only when numba is installed; results are tested
equal to the numpy kernel. bench/bench_meta.py measured the need (bench/RESULTS.md).
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable
from typing import Any

import numpy as np

try:  # pragma: no cover - exercised when numba is installed
    from numba import njit, prange

    AVAILABLE = True
except ImportError:  # pragma: no cover
    AVAILABLE = False

METHOD_CODES = {"ML": 0, "REML": 1, "PM": 2}

#: batches with fewer groups run the kernels on one thread: numba's thread pool costs ~10 ms a
#: call on this 2-core machine under load (measured 8 ms parallel vs 0.8 ms serial for 10^4
#: groups of 10; equal at 10^5; parallel 1.4x faster at 10^6: bench/RESULTS.md "kernels").
#: With the leaner kernels of issue 17's last round, a REML batch of 10^5 groups of 10 took
#: 0.097 s parallel and 0.080 s serial (CPU and wall, load 2.2), so 10^5 runs serially now
PARALLEL_MIN_GROUPS = 200_000


def _serial(kernel: Any) -> Any:
    """A one-thread compiled copy of a parallel kernel: ``prange`` runs as ``range`` and every
    group is computed by the same code, so results are bitwise those of the parallel kernel
    (tests/models/test_fused_kernel.py). Its own name keeps numba's on-disk cache entries
    apart."""
    fn = kernel.py_func
    name = fn.__name__ + "_serial"
    copy = types.FunctionType(fn.__code__.replace(co_name=name), fn.__globals__, name,
                              fn.__defaults__, fn.__closure__)
    copy.__qualname__ = name
    # error_model="numpy": IEEE results (inf, nan) for a division by zero, as in the parallel
    # kernels (whose prange bodies do not raise), instead of Python's ZeroDivisionError
    return njit(cache=True, error_model="numpy")(copy)


def _i64(a: np.ndarray) -> np.ndarray:
    """``a`` as contiguous int64 without a copy when it already is (group offsets and sizes of
    a million groups were copied on every kernel call)."""
    return np.ascontiguousarray(a, dtype=np.int64)


def _pick(parallel: Any, serial: Any, G: int) -> Any:
    return parallel if G >= PARALLEL_MIN_GROUPS else serial


if AVAILABLE:

    @njit(cache=True, inline="always")
    def _sums(y, v, s, k, t, logs):  # pragma: no cover - compiled
        """Sums of one group's weighted fit at tau^2 = t (see :func:`weighted_sums`)."""
        sw = 0.0
        swy = 0.0
        slv = 0.0
        for i in range(s, s + k):
            vt = v[i] + t
            w = 1.0 / vt
            sw += w
            swy += w * y[i]
            if logs:
                slv += np.log(vt)
        b = swy / sw
        sw2 = 0.0
        sw3 = 0.0
        rss = 0.0
        yppy = 0.0
        swu = 0.0
        swuu = 0.0
        for i in range(s, s + k):
            w = 1.0 / (v[i] + t)
            r = y[i] - b
            u = w * r
            w2 = w * w
            sw2 += w2
            sw3 += w2 * w
            rss += u * r
            yppy += u * u
            swu += w * u
            swuu += w * u * u
        return sw, b, sw2, sw3, rss, yppy, swu, swuu, slv

    @njit(cache=True, inline="always")
    def _sums_w(y, v, s, k, t, wb, code):  # pragma: no cover - compiled
        """:func:`_sums` without the logs, the weights of the first pass kept in ``wb`` for
        the second (the same values, half the divisions); only the sums the method's step
        uses (code 0 ML, 1 REML, 2 PM; the others stay 0)."""
        sw = 0.0
        swy = 0.0
        for i in range(k):
            w = 1.0 / (v[s + i] + t)
            wb[i] = w
            sw += w
            swy += w * y[s + i]
        b = swy / sw
        sw2 = 0.0
        sw3 = 0.0
        rss = 0.0
        yppy = 0.0
        swu = 0.0
        swuu = 0.0
        if code == 2:
            for i in range(k):
                r = y[s + i] - b
                u = wb[i] * r
                rss += u * r
                yppy += u * u
        else:
            for i in range(k):
                w = wb[i]
                r = y[s + i] - b
                u = w * r
                w2 = w * w
                sw2 += w2
                if code == 1:
                    sw3 += w2 * w
                yppy += u * u
                swu += w * u
                swuu += w * u * u
        return sw, b, sw2, sw3, rss, yppy, swu, swuu

    @njit(cache=True, inline="always")
    def _he_start(y, v, s, k):  # pragma: no cover - compiled
        """The HE start of ML/REML (``estimate_tau2``): max(0, (RSS_OLS - tr(PV)) / (k - 1))."""
        orss, sv, sv2 = _ols_one(y, v, s, k)
        kf = float(k)
        return _max0((orss - (sv - sv / kf)) / (kf - 1.0))

    @njit(cache=True, inline="always")
    def _score_info(code, tg, sw, sw2, sw3, rss, yppy, swu, swuu):  # pragma: no cover
        """Score and information of one Newton step from a group's sums (code 0 ML, 1 REML:
        the observed information where positive, else the expected; 2 PM: Q(tau^2) - target
        ``tg`` and its derivative); see ``kernels._iterative`` for the sources."""
        if code == 2:
            return rss - tg, yppy
        if code == 0:
            score = yppy - sw
            info = sw2
        else:
            m2 = sw2 / sw
            score = yppy - (sw - m2)
            info = sw2 - 2.0 * sw3 / sw + m2 * m2
        obs = 2.0 * (swuu - swu * swu / sw) - info
        if obs > 0.0:
            info = obs
        return score, info

    @njit(cache=True, inline="always")
    def _newton_step(t, lo, hi, tried0, score, info, tol):  # pragma: no cover - compiled
        """One safeguarded Newton step of ``kernels._iterative`` (bracket [lo, hi] from the
        score's sign, bisection when the step leaves it, the boundary rule, the stopping
        rule); returns (new t, lo, hi, tried0, converged)."""
        # a zero information gives a non-finite step (IEEE), which is 0: no division by 0 (a
        # kernel compiled with numba's default error model would raise there)
        step = 0.0 if info == 0.0 else score / info
        if not np.isfinite(step):
            step = 0.0
        pos = score > 0.0
        if pos:
            if t > lo:
                lo = t
        else:
            if t < hi:
                hi = t
        at0 = (t == 0.0) and (not pos)
        new = t + step
        small = abs(step) <= tol * max(1.0, t)
        outside = ((new < lo) or (new > hi)) and not small
        if outside:
            if np.isfinite(hi):
                mid = 0.5 * (lo + hi)
            else:
                mid = lo
            if new < lo and lo == 0.0 and not tried0:
                tried0 = True
                mid = 0.0
            new = mid
        if at0:
            new = 0.0
        elif new < 0.0:
            new = 0.0
        narrow = np.isfinite(hi) and (hi - lo <= tol * max(1.0, hi)) and not small \
            and not at0
        if narrow:
            new = 0.5 * (lo + hi)
        return new, lo, hi, tried0, small or at0 or narrow

    @njit(cache=True, parallel=True)
    def _newton_groups(y, v, starts, sizes, init, target, code, tol, maxiter, kmax, tau2_out,
                       iters_out, conv_out, he_start):  # pragma: no cover - compiled
        G = starts.shape[0]
        chunk = 512  # groups per task: the weight buffer is allocated once per chunk
        for c0 in prange((G + chunk - 1) // chunk):
            wb = np.empty(kmax)
            for g in range(c0 * chunk, min(G, (c0 + 1) * chunk)):
                s = starts[g]
                k = sizes[g]
                if he_start:  # the HE start of ML/REML (estimate_tau2), written into init
                    init[g] = _he_start(y, v, s, k)
                t = init[g] if init[g] > 0.0 else 0.0
                lo = 0.0
                hi = np.inf
                tried0 = False
                conv = False
                it = 0
                while it < maxiter:
                    sw, b, sw2, sw3, rss, yppy, swu, swuu = _sums_w(y, v, s, k, t, wb, code)
                    score, info = _score_info(code, target[g], sw, sw2, sw3, rss, yppy, swu,
                                              swuu)
                    t, lo, hi, tried0, done = _newton_step(t, lo, hi, tried0, score, info, tol)
                    it += 1
                    if done:
                        conv = True
                        break
                tau2_out[g] = t
                iters_out[g] = it
                conv_out[g] = conv


#: groups computed side by side by :func:`_newton_lanes` and :func:`_closed_form_lanes`
_LANES = 8
#: an iterate above this (or not finite) hands the group back to :func:`_newton_groups`
_LANE_T_MAX = 1e300


if AVAILABLE:

    @njit(cache=True, inline="always")
    def _lanes_mean(y, v, S, T, k, W, sw, b):  # pragma: no cover - compiled
        """The first loop of :func:`_sums` for :data:`_LANES` groups side by side (rows
        ``S[q] ..``, tau^2 ``T[q]``): ``W[i, q] = 1 / (v + T[q])``, ``sw[q] = sum W`` and
        ``b[q] = sum W y / sw[q]``, each lane's sums in the rows' order."""
        for q in range(_LANES):
            sw[q] = 0.0
            b[q] = 0.0
        for i in range(k):
            for q in range(_LANES):
                w = 1.0 / (v[S[q] + i] + T[q])
                W[i, q] = w
                sw[q] += w
                b[q] += w * y[S[q] + i]
        for q in range(_LANES):
            b[q] = b[q] / sw[q]

    @njit(cache=True, inline="always")
    def _lane_load(y, v, starts, init, he_start, maxiter, k, nxt, g1, tau2_out, iters_out,
                   conv_out, redo, t_max):  # pragma: no cover - compiled
        """The next group from ``nxt`` on (below ``g1``) that needs an iteration and its
        start, its HE start written into ``init`` when asked; a group with maxiter <= 0 gets its
        start, 0 iterations, not converged; a start outside the lanes' range goes to ``redo``.
        Returns (group or -1, start, next index)."""
        while nxt < g1:
            g = nxt
            nxt += 1
            if he_start:
                init[g] = _he_start(y, v, starts[g], k)
            t = init[g] if init[g] > 0.0 else 0.0
            if maxiter <= 0:
                tau2_out[g] = t
                iters_out[g] = 0
                conv_out[g] = False
            elif not t <= t_max:
                redo[g] = True
            else:
                return g, t, nxt
        return -1, 0.0, nxt

    @njit(cache=True)
    def _newton_lanes(y, v, starts, k, init, code, tol, maxiter, tau2_out, iters_out, conv_out,
                      redo, he_start, g0, g1, t_max):  # pragma: no cover - compiled
        """:func:`_newton_groups` for ML or REML (code 0 or 1) on groups g0 .. g1 - 1 of one
        size ``k >= 2``, :data:`_LANES` groups iterated side by side: each Newton step forms
        the sums of every lane in one loop over the rows (independent chains of additions that
        the processor overlaps, where one group's chain waits on each addition), then steps
        each lane and refills a finished lane with the next group. Every group gets the
        operations of :func:`_newton_groups` in the same order: bitwise the same results
        (tests/models/test_fused_kernel.py).

        Compiled with numba's default error model, whose code is 12-20% faster here than with
        ``error_model="numpy"`` (measured, k = 10); it raises on a division by zero, which
        cannot occur: k >= 2, v > 0 and every iterate finite and <= ``t_max``
        (:data:`_LANE_T_MAX`: sum w > 0; the Newton step tests the information for 0). A group
        whose iterate leaves that range is marked in ``redo`` and left for
        :func:`_newton_groups`, from its start."""
        L = _LANES
        W = np.empty((k, L))
        lane = np.full(L, -1, dtype=np.int64)
        T = np.zeros(L)
        LO = np.zeros(L)
        HI = np.full(L, np.inf)
        TR = np.zeros(L, dtype=np.bool_)
        IT = np.zeros(L, dtype=np.int64)
        S = np.full(L, starts[g0] if g0 < g1 else 0, dtype=np.int64)  # idle lanes: any rows
        sw = np.zeros(L)
        swy = np.zeros(L)
        sw2 = np.zeros(L)
        sw3 = np.zeros(L)
        yppy = np.zeros(L)
        swu = np.zeros(L)
        swuu = np.zeros(L)
        nxt = g0
        active = 0
        for q in range(L):
            g, t, nxt = _lane_load(y, v, starts, init, he_start, maxiter, k, nxt, g1, tau2_out,
                                   iters_out, conv_out, redo, t_max)
            if g >= 0:
                lane[q] = g
                S[q] = starts[g]
                T[q] = t
                active += 1
        while active > 0:
            # the sums of _sums_w (codes 0 and 1) of every lane, row by row. The second loop
            # is written out, as _closed_form_lanes' (which forms other sums): one inline
            # helper for both took this kernel back to the one-group kernel's time
            # (2.41 vs 2.05 ms for 10^4 ML groups of 10, measured)
            _lanes_mean(y, v, S, T, k, W, sw, swy)  # swy: b
            for q in range(L):
                sw2[q] = 0.0
                sw3[q] = 0.0
                yppy[q] = 0.0
                swu[q] = 0.0
                swuu[q] = 0.0
            for i in range(k):
                for q in range(L):
                    w = W[i, q]
                    r = y[S[q] + i] - swy[q]
                    u = w * r
                    w2 = w * w
                    sw2[q] += w2
                    if code == 1:
                        sw3[q] += w2 * w
                    yppy[q] += u * u
                    swu[q] += w * u
                    swuu[q] += w * u * u
            for q in range(L):
                g = lane[q]
                if g < 0:
                    continue
                score, info = _score_info(code, 0.0, sw[q], sw2[q], sw3[q], 0.0, yppy[q],
                                          swu[q], swuu[q])
                t, lo, hi, tried0, done = _newton_step(T[q], LO[q], HI[q], TR[q], score, info,
                                                       tol)
                it = IT[q] + 1
                out_of_range = not t <= t_max
                if done or it >= maxiter or out_of_range:
                    if out_of_range:
                        redo[g] = True
                    else:
                        tau2_out[g] = t
                        iters_out[g] = it
                        conv_out[g] = done
                    active -= 1
                    g, t, nxt = _lane_load(y, v, starts, init, he_start, maxiter, k, nxt, g1,
                                           tau2_out, iters_out, conv_out, redo, t_max)
                    lane[q] = g
                    if g >= 0:
                        active += 1
                        S[q] = starts[g]
                        T[q] = t
                        LO[q] = 0.0
                        HI[q] = np.inf
                        TR[q] = False
                        IT[q] = 0
                else:
                    T[q] = t
                    LO[q] = lo
                    HI[q] = hi
                    TR[q] = tried0
                    IT[q] = it

    @njit(cache=True, parallel=True)
    def _newton_lanes_parallel(y, v, starts, k, init, code, tol, maxiter, tau2_out, iters_out,
                               conv_out, redo, he_start, t_max):  # pragma: no cover - compiled
        """:func:`_newton_lanes` on chunks of 4,096 groups in parallel."""
        G = starts.shape[0]
        chunk = 4096
        for c in prange((G + chunk - 1) // chunk):
            _newton_lanes(y, v, starts, k, init, code, tol, maxiter, tau2_out, iters_out,
                          conv_out, redo, he_start, c * chunk, min(G, (c + 1) * chunk), t_max)


if AVAILABLE:

    @njit(cache=True, parallel=True)
    def _weighted_sums(y, v, starts, sizes, tau2, out):  # pragma: no cover - compiled
        G = starts.shape[0]
        for g in prange(G):
            sw, b, sw2, sw3, rss, yppy, swu, swuu, slv = _sums(y, v, starts[g], sizes[g],
                                                               tau2[g], True)
            out[g, 0] = sw
            out[g, 1] = b
            out[g, 2] = sw2
            out[g, 3] = sw3
            out[g, 4] = rss
            out[g, 5] = yppy
            out[g, 6] = swu
            out[g, 7] = swuu
            out[g, 8] = slv


if AVAILABLE:

    @njit(cache=True, inline="always")
    def _score_at(y, v, s, k, t, c, reml):  # pragma: no cover - compiled
        """ML/REML score at t in one pass over the group, y centred at c (no precision lost:
        sum w^2 (y - b)^2 = sum w^2 yc^2 - 2 b' sum w^2 yc + b'^2 sum w^2, b' = b - c)."""
        sw = 0.0
        swy = 0.0
        sw2 = 0.0
        sw2y = 0.0
        sw2yy = 0.0
        for i in range(s, s + k):
            w = 1.0 / (v[i] + t)
            yc = y[i] - c
            w2 = w * w
            sw += w
            swy += w * yc
            sw2 += w2
            sw2y += w2 * yc
            sw2yy += w2 * yc * yc
        b = swy / sw
        yppy = sw2yy - 2.0 * b * sw2y + b * b * sw2
        if reml:
            return yppy - (sw - sw2 / sw)
        return yppy - sw

    @njit(cache=True, inline="always")
    def _loglik_at(y, v, s, k, t, reml):  # pragma: no cover - compiled
        sw, b, sw2, sw3, rss, yppy, swu, swuu, slv = _sums(y, v, s, k, t, True)
        if reml:
            return (-0.5 * (k - 1) * np.log(2 * np.pi) + 0.5 * np.log(k) - 0.5 * slv
                    - 0.5 * np.log(sw) - 0.5 * rss)
        return -0.5 * k * np.log(2 * np.pi) - 0.5 * slv - 0.5 * rss

    @njit(cache=True, inline="always")
    def _grid_scores(y, v, s, k, tg, c, reml, acc, sc):  # pragma: no cover - compiled
        """:func:`_score_at` at every grid point ``tg`` at once: the rows are read once and
        the points form the inner loop, so the compiler can use vector instructions across
        points; each point's sums still run over the rows in order (the same values)."""
        n = tg.shape[0]
        for j in range(n):
            for q in range(5):
                acc[q, j] = 0.0
        for i in range(s, s + k):
            yc = y[i] - c
            vi = v[i]
            for j in range(n):
                w = 1.0 / (vi + tg[j])
                w2 = w * w
                acc[0, j] += w
                acc[1, j] += w * yc
                acc[2, j] += w2
                acc[3, j] += w2 * yc
                acc[4, j] += w2 * yc * yc
        for j in range(n):
            sw = acc[0, j]
            sw2 = acc[2, j]
            b = acc[1, j] / sw
            yppy = acc[4, j] - 2.0 * b * acc[3, j] + b * b * sw2
            if reml:
                sc[j] = yppy - (sw - sw2 / sw)
            else:
                sc[j] = yppy - sw

    @njit(cache=True, parallel=True)
    def _global_maxima(y, v, starts, sizes, init, tau2, reml, tol, n_grid,
                       out):  # pragma: no cover - compiled
        G = starts.shape[0]
        chunk = 512  # groups per task: the scratch arrays are allocated once per chunk
        for c0 in prange((G + chunk - 1) // chunk):
            tg = np.empty(n_grid)
            sc = np.empty(n_grid)
            acc = np.empty((5, n_grid))
            for g in range(c0 * chunk, min(G, (c0 + 1) * chunk)):
                s = starts[g]
                k = sizes[g]
                cur = tau2[g]
                out[g] = cur
                if k <= 1:
                    continue
                ybar = 0.0
                for i in range(s, s + k):
                    ybar += y[i]
                ybar /= k
                s2 = 0.0
                for i in range(s, s + k):
                    s2 += (y[i] - ybar) ** 2
                s2 /= k - 1
                upper = max(max(2.0 * cur, init[g]), s2)
                if not upper > 0.0:
                    continue
                best_t = cur
                best_ll = 0.0
                have_ll = False  # the likelihood at cur, formed at the first other root
                tg[0] = upper / (n_grid * n_grid)
                for j in range(2, n_grid + 1):
                    tg[j - 1] = upper * (j / n_grid) ** 2
                _grid_scores(y, v, s, k, tg, ybar, reml, acc, sc)
                t0 = tg[0]
                sc0 = sc[0]
                for j in range(2, n_grid + 1):
                    t1 = tg[j - 1]
                    sc1 = sc[j - 1]
                    if sc0 > 0.0 and sc1 <= 0.0 and not (t0 <= cur and cur <= t1):
                        lo = t0
                        hi = t1
                        for _ in range(200):  # bisection on the score
                            if hi - lo <= tol * max(1.0, hi):
                                break
                            mid = 0.5 * (lo + hi)
                            if _score_at(y, v, s, k, mid, ybar, reml) > 0.0:
                                lo = mid
                            else:
                                hi = mid
                        root = 0.5 * (lo + hi)
                        if not have_ll:
                            best_ll = _loglik_at(y, v, s, k, cur, reml)
                            have_ll = True
                        ll = _loglik_at(y, v, s, k, root, reml)
                        if ll > best_ll + 1e-10 * max(1.0, abs(ll)):
                            best_t = root
                            best_ll = ll
                    t0 = t1
                    sc0 = sc1
                out[g] = best_t


def global_maxima(y: np.ndarray, v: np.ndarray, starts: np.ndarray, sizes: np.ndarray,
                  method: str, init: np.ndarray, tau2: np.ndarray, tol: float,
                  n_grid: int) -> np.ndarray:
    """The fused form of ``kernels._other_maxima`` for intercept-only groups: the same score
    scan on (0, max(2 tau2, start, var y)], bisection of every other down-crossing and the
    likelihood comparison, group by group in one parallel call. Returns the new tau^2."""
    out = np.empty(starts.size)
    kern = _pick(_global_maxima, _global_maxima_serial, starts.size)
    kern(np.ascontiguousarray(y, dtype=float), np.ascontiguousarray(v, dtype=float),
                   _i64(starts), _i64(sizes),
                   np.ascontiguousarray(init, dtype=float), np.ascontiguousarray(tau2, dtype=float),
                   method == "REML", float(tol), int(n_grid), out)
    return out


if AVAILABLE:

    @njit(cache=True, inline="always")
    def _ols_one(y, v, s, k):  # pragma: no cover - compiled
        """sum (y - mean y)^2, sum v and sum v^2 of one group (see :func:`ols_sums`)."""
        ybar = 0.0
        sv = 0.0
        sv2 = 0.0
        for i in range(s, s + k):
            ybar += y[i]
            sv += v[i]
            sv2 += v[i] * v[i]
        ybar /= k
        rss = 0.0
        for i in range(s, s + k):
            rss += (y[i] - ybar) ** 2
        return rss, sv, sv2

    @njit(cache=True, parallel=True)
    def _ols_sums(y, v, starts, sizes, out):  # pragma: no cover - compiled
        G = starts.shape[0]
        for g in prange(G):
            rss, sv, sv2 = _ols_one(y, v, starts[g], sizes[g])
            out[g, 0] = rss
            out[g, 1] = sv
            out[g, 2] = sv2


#: the kinds of :func:`_per_value_kernel`: the chi-square upper tail, Student t's two tails
_CHI2, _T2 = 0, 1
#: the series of :func:`chi2_upper_int` runs up to this many degrees of freedom (at most
#: df / 2 terms); beyond it, and where e^(-x/2) would underflow, scipy's ``chdtrc`` answers
CHI2_SERIES_MAX_DF = 1000


if AVAILABLE:

    @njit(cache=True)
    def _chi2_upper_series(df, x):  # pragma: no cover - compiled
        """P(chi^2_df > x) for an integer df >= 1 by the finite series of Abramowitz & Stegun
        (1964) 26.4.4 (odd df: erfc(sqrt(x/2)) + sum_{j=1}^{(df-1)/2} e^(-x/2) (x/2)^(j-1/2)
        / Gamma(j + 1/2)) and 26.4.5 (even df: e^(-x/2) sum_{j=0}^{df/2-1} (x/2)^j / j!);
        every term is positive, so the sum keeps full relative accuracy. NaN where the series
        does not answer (x/2 > 700, df > CHI2_SERIES_MAX_DF, NaN input)."""
        if x <= 0.0:
            return 1.0
        h = 0.5 * x
        if not (h <= 700.0) or df < 1 or df > CHI2_SERIES_MAX_DF:
            return np.nan
        e = math.exp(-h)
        if df % 2 == 0:
            term = e
            s = e
            for j in range(1, df // 2):
                term *= h / j
                s += term
            return s
        c = math.sqrt(h)
        s = 0.0
        if df >= 3:
            term = e * c * 1.1283791670955126  # 2 / sqrt(pi) = 1 / Gamma(3/2)
            s = term
            for j in range(1, (df - 1) // 2):
                term *= h / (j + 0.5)
                s += term
        return math.erfc(c) + s


def chi2_upper_int(x: np.ndarray, df: np.ndarray | int,
                   out: np.ndarray | None = None) -> np.ndarray:
    """P(chi^2_df > x) for integer degrees of freedom >= 1 (``df``: one int, or one per x):
    the finite series of Abramowitz & Stegun (1964) 26.4.4-26.4.5 (:func:`_chi2_upper_series`),
    a fourth of the time of scipy's ``chdtrc`` (25 vs 88-91 ns a value in
    bench/bench_batch_parts.py), which answers where the series does not (x > 1400,
    df > :data:`CHI2_SERIES_MAX_DF`). The values agree with
    ``chdtrc`` to about 1e-14 relative and are closer to the exact value (40-digit mpmath:
    worst relative error 1.1e-15 against chdtrc's 3.4e-14 on 3,000 random df <= 60;
    tests/models/test_chi2_series.py). 1 for x <= 0, NaN for NaN x. ``out``: a contiguous
    float array of x's shape to write into."""
    from scipy import special

    return _per_value(_CHI2, special.chdtrc, x, df, out)


#: :func:`t_two_sided_int` runs its series and continued fraction up to this many degrees of
#: freedom; beyond it, and for |t| >= 1e150, scipy's ``stdtr`` answers. Both the head (df/2
#: terms) and the continued fraction near the switch lose about df * 1e-16 relative: 1.2e-14
#: at df <= 50, 2.3e-14 at 50-100, 1.7e-13 at 400-1,000 (worst of 400,000 random t each)
T_SERIES_MAX_DF = 100
#: 2 / pi
_TWO_OVER_PI = 0.6366197723675814


if AVAILABLE:

    @njit(cache=True)
    def _t_two_sided(nu, t):  # pragma: no cover - compiled
        """P(|T_nu| >= |t|) for an integer nu >= 1, i.e. the regularised incomplete beta
        function I_x(nu/2, 1/2) with x = nu / (nu + t^2) (Abramowitz & Stegun 1964, 26.7.1).

        With y = 1 - x = t^2 / (nu + t^2), n = floor(nu/2) and e_j the coefficients of
        (1 - x)^(-1/2) = sum (1/2)_j / j! x^j (even nu) or of arcsin's series
        j! / (3/2)_j (odd nu), the probability splits into a finite head and a positive tail
        (A&S 26.7.3-26.7.4, the tail written out): even nu, 1 - p = sqrt(y) sum_{j<n} e_j x^j;
        odd nu, 1 - p = (2/pi) (atan(|t| / sqrt(nu)) + sqrt(xy) sum_{j<n} e_j x^j); and
        p = C e_n x^n / K with C = sqrt(y) (even) or (2/pi) sqrt(xy) (odd), where C e_n x^n
        is the prefactor x^a (1-x)^b / (a B(a, b)) of the continued fraction
        K^-1 = 1 / (1 + d_1 / (1 + d_2 / (1 + ...))) of DLMF 8.17.22 (a = nu/2, b = 1/2).
        Where the fraction converges fast, x < (a + 1) / (a + b + 2) (Press et al., Numerical
        Recipes, 6.4), p comes from it, evaluated forward by the Wallis recurrences (no
        division in the dependency chain; the convergents' difference is the product of the
        d's, so the stopping rule costs one multiplication); elsewhere p >= 0.083 and comes
        from the head, 1 - (1 - p). Both lose about nu units in the last place (the head's
        rounding over nu/2 terms; the fraction's cancellation near the switch), hence
        :data:`T_SERIES_MAX_DF`. NaN where it does not answer (nu outside
        1..T_SERIES_MAX_DF, |t| >= 1e150, NaN t, a fraction not converged)."""
        if t != t:
            return np.nan
        at = abs(t)
        if at == 0.0:
            return 1.0
        if nu < 1 or nu > T_SERIES_MAX_DF or not (at < 1e150):
            return np.nan
        fn = float(nu)
        tt = at * at
        x = fn / (fn + tt)
        y = tt / (fn + tt)
        n = nu // 2
        odd = nu - 2 * n
        term = 1.0  # e_j x^j
        head = 0.0
        for j in range(n):
            head += term
            term *= x * (2 * j + 1 + odd) / (2 * j + 2 + odd)
        c = math.sqrt(x * y) * _TWO_OVER_PI if odd else math.sqrt(y)
        if x >= (fn + 2.0) / (fn + 5.0):
            if odd:
                return 1.0 - (_TWO_OVER_PI * math.atan2(at, math.sqrt(fn)) + c * head)
            return 1.0 - c * head
        a = 0.5 * fn
        a2, a1 = 1.0, 1.0  # Wallis numerators A_{m-2}, A_{m-1} (K = lim A_m / B_m)
        b2, b1 = 0.0, 1.0
        diff = -1.0  # A_m B_{m-1} - A_{m-1} B_m = -d_m (the previous one)
        converged = False
        for h in range(20 * T_SERIES_MAX_DF):  # d_{2h+1} and d_{2h+2} (b = 1/2), the test
            e = a + 2.0 * h
            d = -(a + h) * (a + h + 0.5) * x / (e * (e + 1.0))
            a2, a1 = a1, a1 + d * a2
            b2, b1 = b1, b1 + d * b2
            diff = -d * diff
            d = -(h + 1.0) * (h + 0.5) * x / ((e + 1.0) * (e + 2.0))
            a2, a1 = a1, a1 + d * a2
            b2, b1 = b1, b1 + d * b2
            diff = -d * diff
            if abs(diff) <= 1e-17 * abs(a1 * b2):
                converged = True
                break
        if not converged:  # never seen: at most 40 passes up to 100 df (measured at the
            return np.nan  # switch, where it converges slowest); scipy's value then
        return c * term * b1 / a1

    @njit(cache=True)
    def _per_value_kernel(kind, x, df, out):  # pragma: no cover - compiled
        """:func:`_chi2_upper_series` (``kind`` :data:`_CHI2`) or :func:`_t_two_sided`
        (:data:`_T2`) of each x (df: one per x, or one for all); returns how many are NaN
        where x is not (left to scipy)."""
        missing = 0
        one = df.shape[0] == 1
        for i in range(x.shape[0]):
            xi = x[i]  # read before writing: ``out`` may be ``x``
            d = df[0] if one else df[i]
            q = _chi2_upper_series(d, xi) if kind == _CHI2 else _t_two_sided(d, xi)
            out[i] = q
            if q != q and xi == xi:
                missing += 1
        return missing


def _per_value(kind: int, fallback: Callable[[np.ndarray, np.ndarray], np.ndarray],
               x: np.ndarray, df: np.ndarray | int, out: np.ndarray | None) -> np.ndarray:
    """:func:`_per_value_kernel` over ``x`` of any shape with integer ``df`` (one, or one per
    x); the values it leaves to scipy from ``fallback(df as float, x)``. ``out``: a contiguous
    float array of x's shape to write into."""
    x = np.ascontiguousarray(x, dtype=float)
    d = np.asarray(df, dtype=np.int64)
    d = np.ascontiguousarray(d if d.ndim == 0 or d.shape == x.shape
                             else np.broadcast_to(d, x.shape)).reshape(-1)
    target = out
    if out is None or np.shares_memory(out, x):  # the fallback below reads x after the kernel
        out = np.empty(x.shape)
    if _per_value_kernel(kind, x.reshape(-1), d, out.reshape(-1)):
        left = np.isnan(out) & ~np.isnan(x)
        dfs = d.reshape(x.shape) if d.size > 1 else np.broadcast_to(d.reshape(()), x.shape)
        out[left] = fallback(dfs[left].astype(float), x[left])
    if target is not None and target is not out:
        target[...] = out
        return target
    return out


def t_two_sided_int(t: np.ndarray, df: np.ndarray | int) -> np.ndarray:
    """Two-sided p-value P(|T_df| >= |t|) of Student's t for integer degrees of freedom
    (``df``: one int, or one per t): :func:`_t_two_sided` (A&S 26.7.3-26.7.4 and the
    incomplete-beta continued fraction, DLMF 8.17.22), a third of the time of scipy's
    ``2 * stdtr(df, -|t|)`` (~80 vs 220-280 ns a value), which answers where it does not
    (df < 1 or > :data:`T_SERIES_MAX_DF`, |t| >= 1e150). Against 40-digit mpmath: on 600
    random df <= 60 and |t| in 1e-3..200 worst relative error 5.0e-15 (stdtr: 8.0e-15); at
    the switch to the head (p >= 0.083) 9.0e-15 (stdtr: 1.5e-15); near t = 0 stdtr loses
    (df = 1, t = 1e-10: exactly 1 instead of 1 - 6.4e-11, which this gives);
    tests/models/test_t_series.py. 1 for t = 0, NaN for NaN t."""
    from scipy import special

    def fallback(d: np.ndarray, x: np.ndarray) -> np.ndarray:
        return 2 * special.stdtr(d, -np.abs(x))

    return _per_value(_T2, fallback, t, df, None)


#: rows of :func:`closed_form_fits`' output (``pval`` and ``QEp`` are left for the caller:
#: scipy's ``ndtr`` and :func:`evsynth.models.engine.q_pvalue`)
CLOSED_FORM_ROWS = ("tau2", "se_tau2", "estimate", "se", "zval", "ci_lb", "ci_ub", "pi_lb",
                    "pi_ub", "tau", "I2", "H2", "QE", "vt", "pval", "QEp", "vb", "RSS_t")


if AVAILABLE:

    @njit(cache=True, inline="always")
    def _max0(x):  # pragma: no cover - compiled
        """``np.maximum(0.0, x)``: 0.0 on ties, NaN propagates."""
        return 0.0 if 0.0 >= x else x

    @njit(cache=True, inline="always")
    def _closed_tau2(he, k, sw, sw2, sw3, rss0, orss, sv, sv2):  # pragma: no cover - compiled
        """tau^2, its SE and tr(P) of the fixed-effects fit for DL (``he`` False) or HE from a
        group's fixed-effects sums (sum w, w^2, w^3 and Q) and OLS sums (RSS, sum v, sum v^2),
        the operations of ``kernels.estimate_tau2`` in their order."""
        kf = float(k)
        df = kf - 1.0
        m2 = sw2 / sw
        trP = sw - m2
        if he:  # Hedges: OLS residuals and traces (kernels.ols_quantities)
            trPV = sv - sv / kf
            mv = sv / kf
            trPVPV = sv2 - 2.0 * sv2 / kf + mv * mv
            tau2 = _max0((orss - trPV) / df)
            se_tau2 = np.sqrt(1 / (df * df) * (2.0 * trPVPV + 4.0 * tau2 * trPV
                                               + 2.0 * (tau2 * tau2) * df))
        else:  # DerSimonian-Laird
            trPP = sw2 - 2.0 * (sw3 / sw) + m2 * m2
            tau2 = _max0((rss0 - df) / trP)
            se_tau2 = np.sqrt(1 / (trP * trP) * (2.0 * df + 4.0 * tau2 * trP
                                                 + 2.0 * (tau2 * tau2) * trPP))
        if k == 1:
            tau2 = 0.0
            se_tau2 = np.nan
        return tau2, se_tau2, trP

    @njit(cache=True, inline="always")
    def _closed_one(y, v, s, k, he, crit, want_rss, out, g):  # pragma: no cover - compiled
        """One group of :func:`_closed_form`: the fixed-effects sums, tau^2, the sums at tau^2
        (their RSS only when ``want_rss``: the second loop is dropped otherwise) and the row of
        statistics."""
        sw, b, sw2, sw3, rss0, yppy, swu, swuu, slv = _sums(y, v, s, k, 0.0, False)
        orss = sv = sv2 = 0.0
        if he:
            orss, sv, sv2 = _ols_one(y, v, s, k)
        tau2, se_tau2, trP = _closed_tau2(he, k, sw, sw2, sw3, rss0, orss, sv, sv2)
        if want_rss:
            swt, beta, sw2t, sw3t, rsst, ypt, swut, swuut, slvt = _sums(y, v, s, k, tau2, False)
        else:  # the same call, its RSS unused (the compiler drops the loop forming it)
            swt, beta, sw2t, sw3t, rss_unused, ypt, swut, swuut, slvt = _sums(y, v, s, k, tau2,
                                                                             False)
            rsst = 0.0
        _row_stats(out, g, k, tau2, se_tau2, swt, beta, rss0, trP, crit, rsst)

    @njit(cache=True, parallel=True)
    def _closed_form(y, v, starts, sizes, he, crit, want_rss, out):  # pragma: no cover
        G = starts.shape[0]
        for g in prange(G):
            _closed_one(y, v, starts[g], sizes[g], he, crit, want_rss, out, g)

    @njit(cache=True, parallel=True)
    def _closed_form_lanes(y, v, starts, k, he, crit, want_rss, out):  # pragma: no cover
        """:func:`_closed_form` for groups of one size ``k``, :data:`_LANES` groups side by
        side: each sum runs over the rows of all lanes in one loop, so the lanes' chains of
        additions (each waiting on its previous addition) overlap in the processor. Every group
        gets the operations of :func:`_closed_one` in the same order: bitwise the same values
        (tests/models/test_batch_speed_paths.py); 1.5x faster for k = 10 (measured)."""
        G = starts.shape[0]
        L = _LANES
        chunk = 4096  # groups per task
        for c in prange((G + chunk - 1) // chunk):
            g0 = c * chunk
            g1 = min(G, g0 + chunk)
            S = np.empty(L, dtype=np.int64)
            W = np.empty((k, L))
            zero = np.zeros(L)
            sw = np.empty(L)
            swy = np.empty(L)
            sw2 = np.empty(L)
            sw3 = np.empty(L)
            rss = np.empty(L)
            rss_t = np.zeros(L)
            tau = np.empty(L)
            full = g1 - (g1 - g0) % L
            for h in range(g0, full, L):
                for q in range(L):
                    S[q] = starts[h + q]
                # the loops of _sums at tau^2 = 0 (the second written out: see _newton_lanes)
                _lanes_mean(y, v, S, zero, k, W, sw, swy)  # swy: b
                for q in range(L):
                    sw2[q] = 0.0
                    sw3[q] = 0.0
                    rss[q] = 0.0
                for i in range(k):
                    for q in range(L):
                        w = W[i, q]
                        r = y[S[q] + i] - swy[q]
                        u = w * r
                        w2 = w * w
                        sw2[q] += w2
                        sw3[q] += w2 * w
                        rss[q] += u * r
                for q in range(L):
                    orss = sv = sv2 = 0.0
                    if he:
                        orss, sv, sv2 = _ols_one(y, v, S[q], k)
                    t, se_t, trP = _closed_tau2(he, k, sw[q], sw2[q], sw3[q], rss[q], orss, sv,
                                                sv2)
                    tau[q] = t
                    sw2[q] = se_t  # kept for the row
                    sw3[q] = trP
                # the first loop of _sums at tau^2 (and its RSS when asked)
                _lanes_mean(y, v, S, tau, k, W, sw, swy)
                if want_rss:
                    for q in range(L):
                        rss_t[q] = 0.0
                    for i in range(k):
                        for q in range(L):
                            r = y[S[q] + i] - swy[q]
                            u = W[i, q] * r
                            rss_t[q] += u * r
                for q in range(L):
                    _row_stats(out, h + q, k, tau[q], sw2[q], sw[q], swy[q], rss[q], sw3[q],
                               crit, rss_t[q])
            for g in range(full, g1):
                _closed_one(y, v, starts[g], k, he, crit, want_rss, out, g)

    @njit(cache=True, inline="always")
    def _row_stats(out, g, k, tau2, se_tau2, swt, beta, rss0, trP, crit,
                   rss_t):  # pragma: no cover - compiled
        """One row of :data:`CLOSED_FORM_ROWS` (``engine._fit_core``'s z tests, Q, I^2, H^2 and
        meta_batch's prediction interval, in their order of operations) from tau^2, its SE,
        sum w, beta and the RSS at tau^2, and Q and tr(P) of the fixed-effects fit; ``vb`` =
        1 / sum w (the fit's ``Ainv``) and ``RSS_t`` for the t-based tests."""
        df = float(k) - 1.0
        se = np.sqrt(1.0 / swt)
        ch = crit * se
        pi_half = crit * np.sqrt(se * se + tau2)
        if k > 1:
            QE = _max0(rss0)
            vt = df / trP
            I2 = 100.0 * tau2 / (vt + tau2)
            H2 = tau2 / vt + 1.0
        else:
            QE = 0.0
            vt = 0.0
            I2 = 0.0
            H2 = 1.0
        out[0, g] = tau2
        out[1, g] = se_tau2
        out[2, g] = beta
        out[3, g] = se
        out[4, g] = beta / se
        out[5, g] = beta - ch
        out[6, g] = beta + ch
        out[7, g] = beta - pi_half
        out[8, g] = beta + pi_half
        out[9, g] = np.sqrt(tau2)
        out[10, g] = I2
        out[11, g] = H2
        out[12, g] = QE
        out[13, g] = vt
        out[16, g] = 1.0 / swt
        out[17, g] = rss_t

    @njit(cache=True, parallel=True)
    def _two_sums(y, v, starts, sizes, tau2, logs, out0, out1):  # pragma: no cover - compiled
        """The sums of :func:`_weighted_sums` at tau^2 = 0 (``out0``) and at ``tau2``
        (``out1``), rows sw, beta, sw2, sw3, RSS, slv, in one call (each group's rows read
        once from memory); slv only with ``logs`` and tau^2 > 0 (else 0)."""
        G = starts.shape[0]
        for g in prange(G):
            s = starts[g]
            k = sizes[g]
            # the logs only where the boundary check can use them (tau^2 > 0)
            lg = logs and tau2[g] > 0.0
            sw, b, sw2, sw3, rss, yppy, swu, swuu, slv = _sums(y, v, s, k, 0.0, lg)
            out0[0, g] = sw
            out0[1, g] = b
            out0[2, g] = sw2
            out0[3, g] = sw3
            out0[4, g] = rss
            out0[5, g] = slv
            sw, b, sw2, sw3, rss, yppy, swu, swuu, slv = _sums(y, v, s, k, tau2[g], lg)
            out1[0, g] = sw
            out1[1, g] = b
            out1[2, g] = sw2
            out1[3, g] = sw3
            out1[4, g] = rss
            out1[5, g] = slv

    @njit(cache=True, parallel=True)
    def _two_sums_bound(y, v, starts, sizes, tau2, kmax, out0, out1,
                        swb):  # pragma: no cover - compiled
        """:func:`_two_sums` without logs (slv rows 0), each weight computed once and kept for
        its second loop (the values of :func:`_sums`, bitwise: the same operations in the same
        order), and per group ``swb[g] = sum(w0 w1)``, w0 = 1/v, w1 = 1/(v + tau^2): the
        term of the bound ``sum log(1 + tau^2/v) <= tau^2 sum w1 + tau^2^2/2 sum w0 w1`` that
        spares :func:`evsynth.models.engine._fused_iterative` the logs of most groups."""
        G = starts.shape[0]
        # the loops of _sums_w (code 1 plus RSS) written out: calling _sums_w here doubled the
        # kernel's time (0.44 -> 1.0 ms for 10^4 groups of 10, measured)
        chunk = 512  # groups per task: the weight buffers are allocated once per chunk
        for c0 in prange((G + chunk - 1) // chunk):
            w0 = np.empty(kmax)
            w1 = np.empty(kmax)
            for g in range(c0 * chunk, min(G, (c0 + 1) * chunk)):
                s = starts[g]
                k = sizes[g]
                for j in range(2):
                    t = 0.0 if j == 0 else tau2[g]
                    wb = w0 if j == 0 else w1
                    out = out0 if j == 0 else out1
                    sw = 0.0
                    swy = 0.0
                    for i in range(k):
                        w = 1.0 / (v[s + i] + t)
                        wb[i] = w
                        sw += w
                        swy += w * y[s + i]
                    b = swy / sw
                    sw2 = 0.0
                    sw3 = 0.0
                    rss = 0.0
                    for i in range(k):
                        w = wb[i]
                        r = y[s + i] - b
                        u = w * r
                        w2 = w * w
                        sw2 += w2
                        sw3 += w2 * w
                        rss += u * r
                    out[0, g] = sw
                    out[1, g] = b
                    out[2, g] = sw2
                    out[3, g] = sw3
                    out[4, g] = rss
                    out[5, g] = 0.0
                acc = 0.0
                for i in range(k):
                    acc += w0[i] * w1[i]
                swb[g] = acc

    @njit(cache=True, parallel=True)
    def _group_logs(v, starts, sizes, tau2, idx, out0, out1):  # pragma: no cover - compiled
        """The slv rows of :func:`_two_sums` (sum log(v + t) in row order, as :func:`_sums`)
        of the groups ``idx`` only, at t = 0 (``out0``) and at their tau^2 (``out1``)."""
        for j in prange(idx.shape[0]):
            g = idx[j]
            s = starts[g]
            k = sizes[g]
            t = tau2[g]
            a = 0.0
            b = 0.0
            for i in range(s, s + k):
                a += np.log(v[i] + 0.0)
                b += np.log(v[i] + t)
            out0[5, g] = a
            out1[5, g] = b

    @njit(cache=True, parallel=True)
    def _finish(sizes, tau2, at0, s0, s1, code, crit, out, lo):  # pragma: no cover - compiled
        """The rows of :data:`CLOSED_FORM_ROWS` of ML (code 0), REML (1) or PM/EB/PMM (2)
        fits from the sums of :func:`_two_sums` (written into columns ``lo ..`` of ``out``),
        the final fit's taken at tau^2 = 0 where ``at0`` (boundary kept by the likelihood
        check, k = 1). SE of tau^2 as
        ``kernels.estimate_tau2``."""
        G = sizes.shape[0]
        for g in prange(G):
            k = sizes[g]
            kf = float(k)
            t = tau2[g]
            j = 0 if at0[g] else 1
            if j == 0:
                sw = s0[0, g]
                beta = s0[1, g]
                sw2 = s0[2, g]
                sw3 = s0[3, g]
            else:
                sw = s1[0, g]
                beta = s1[1, g]
                sw2 = s1[2, g]
                sw3 = s1[3, g]
            if code == 0:
                se_tau2 = np.sqrt(2.0 / sw2)
            elif code == 1:
                m2 = sw2 / sw
                se_tau2 = np.sqrt(2.0 / (sw2 - 2.0 * (sw3 / sw) + m2 * m2))
            else:
                se_tau2 = np.sqrt(2.0 * (kf * kf) / (kf - 1.0) / (sw * sw))
            if k == 1:
                t = 0.0
                se_tau2 = np.nan
            fe_sw = s0[0, g]
            _row_stats(out, lo + g, k, t, se_tau2, sw, beta, s0[4, g], fe_sw - s0[2, g] / fe_sw,
                       crit, s0[4, g] if j == 0 else s1[4, g])


def closed_form_fits(y: np.ndarray, v: np.ndarray, starts: np.ndarray, sizes: np.ndarray,
                     method: str, crit: float, want_rss: bool = False) -> np.ndarray:
    """DL or HE fits of intercept-only groups in one fused kernel: per group the
    fixed-effects sums, tau^2 and its SE, the sums at tau^2 and every statistic of a
    :func:`evsynth.meta_batch` row under z tests but the p-values, with the floating-point
    operations of ``kernels.estimate_tau2`` and ``engine._fit_core`` in their order (bitwise
    the same values: tests/models/test_fused_kernel.py). Returns an array
    (len(CLOSED_FORM_ROWS), G); its rows ``pval`` and ``QEp`` are not filled, ``RSS_t`` (the
    weighted RSS at tau^2, for Knapp-Hartung) only with ``want_rss``."""
    out = np.empty((len(CLOSED_FORM_ROWS), starts.size))
    y = np.ascontiguousarray(y, dtype=float)
    v = np.ascontiguousarray(v, dtype=float)
    G = starts.size
    if G and int(sizes.min()) == int(sizes.max()):  # one size: the groups side by side
        kern = _pick(_closed_form_lanes, _closed_form_lanes_serial, G)
        kern(y, v, _i64(starts), int(sizes[0]), method == "HE", float(crit), bool(want_rss),
             out)
    else:
        kern = _pick(_closed_form, _closed_form_serial, G)
        kern(y, v, _i64(starts), _i64(sizes), method == "HE", float(crit), bool(want_rss), out)
    return out


if AVAILABLE:

    @njit(cache=True)
    def _runs(a, starts, firsts):  # pragma: no cover - compiled
        """Write the first index of every run of equal values of ``a`` into ``starts`` and
        its value into ``firsts``; returns the number of runs, or -1 when ``a`` decreases
        somewhere."""
        n = 0
        if a.shape[0]:
            starts[0] = 0
            firsts[0] = a[0]
            n = 1
        for i in range(1, a.shape[0]):
            if a[i] != a[i - 1]:
                if a[i] < a[i - 1]:
                    return -1
                starts[n] = i
                firsts[n] = a[i]
                n += 1
        return n


def run_starts(a: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The first index and the value of every run of equal values of the integer array ``a``
    in one pass (the runs of ``batch._run_starts``; the values without a gather of ``a``), or
    None when ``a`` is not non-decreasing."""
    starts = np.empty(a.size, dtype=np.int64)
    firsts = np.empty(a.size, dtype=a.dtype)
    n = _runs(a, starts, firsts)
    return None if n < 0 else (starts[:n].copy(), firsts[:n].copy())


def two_sums(y: np.ndarray, v: np.ndarray, starts: np.ndarray, sizes: np.ndarray,
             tau2: np.ndarray, logs: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-group sums at tau^2 = 0 and at ``tau2`` (:func:`weighted_sums`' per-group values),
    each an array (6, G) of rows sw, beta, sw2, sw3, RSS, slv (slv 0 unless ``logs`` and
    tau^2 > 0: the boundary check of ML/REML compares only such groups)."""
    G = starts.size
    out0, out1 = np.empty((6, G)), np.empty((6, G))
    kern = _pick(_two_sums, _two_sums_serial, G)
    kern(np.ascontiguousarray(y, dtype=float), np.ascontiguousarray(v, dtype=float),
         _i64(starts), _i64(sizes), np.ascontiguousarray(tau2, dtype=float), bool(logs), out0,
         out1)
    return out0, out1


def two_sums_bound(y: np.ndarray, v: np.ndarray, starts: np.ndarray, sizes: np.ndarray,
                   tau2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`two_sums` without the logs (slv rows 0), and per group ``sum(w0 w1)`` for the
    log bound of the ML/REML boundary check (:func:`_two_sums_bound`)."""
    G = starts.size
    out0, out1, swb = np.empty((6, G)), np.empty((6, G)), np.empty(G)
    sizes = _i64(sizes)
    kern = _pick(_two_sums_bound, _two_sums_bound_serial, G)
    kern(np.ascontiguousarray(y, dtype=float), np.ascontiguousarray(v, dtype=float),
         _i64(starts), sizes, np.ascontiguousarray(tau2, dtype=float),
         int(sizes.max()) if G else 0, out0, out1, swb)
    return out0, out1, swb


def group_logs(v: np.ndarray, starts: np.ndarray, sizes: np.ndarray, tau2: np.ndarray,
               idx: np.ndarray, out0: np.ndarray, out1: np.ndarray) -> None:
    """Fill the slv rows of ``out0``/``out1`` (:func:`two_sums_bound`) for the groups ``idx``
    with the values :func:`two_sums` would give them (:func:`_group_logs`)."""
    kern = _pick(_group_logs, _group_logs_serial, starts.size)
    kern(np.ascontiguousarray(v, dtype=float), _i64(starts), _i64(sizes),
         np.ascontiguousarray(tau2, dtype=float), _i64(idx), out0, out1)


def finish_iterative(sizes: np.ndarray, tau2: np.ndarray, at0: np.ndarray, s0: np.ndarray,
                     s1: np.ndarray, method: str, crit: float, out: np.ndarray | None = None,
                     lo: int = 0) -> np.ndarray:
    """The :data:`CLOSED_FORM_ROWS` of ML/REML/PM-type fits from :func:`two_sums` (rows
    ``pval`` and ``QEp`` not filled), in columns ``lo ..`` of ``out`` when given (a chunk of
    groups written into the table of all of them, no copy to gather the chunks)."""
    G = sizes.size
    if out is None:
        out = np.empty((len(CLOSED_FORM_ROWS), G))
    code = {"ML": 0, "REML": 1}.get(method, 2)
    kern = _pick(_finish, _finish_serial, G)
    kern(_i64(sizes), np.ascontiguousarray(tau2, dtype=float),
         np.ascontiguousarray(at0, dtype=np.bool_), s0, s1, code, float(crit), out, int(lo))
    return out


def ols_sums(y: np.ndarray, v: np.ndarray, starts: np.ndarray,
             sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group: sum (y - mean y)^2, sum v and sum v^2 (the intercept-only OLS quantities of
    ``kernels.ols_quantities``) in one pass."""
    out = np.empty((starts.size, 3))
    kern = _pick(_ols_sums, _ols_sums_serial, starts.size)
    kern(np.ascontiguousarray(y, dtype=float), np.ascontiguousarray(v, dtype=float),
              _i64(starts), _i64(sizes), out)
    return out[:, 0], out[:, 1], out[:, 2]


#: columns of :func:`weighted_sums`
SUM_COLUMNS = ("sw", "beta", "sw2", "sw3", "RSS", "YPPY", "swu", "swuu", "slv")


def weighted_sums(y: np.ndarray, v: np.ndarray, starts: np.ndarray, sizes: np.ndarray,
                  tau2: np.ndarray) -> dict[str, np.ndarray]:
    """Per-group sums of an intercept-only weighted fit at ``tau2`` in one fused pass:
    ``sw = sum w``, ``beta = sum w y / sw``, ``sw2``, ``sw3`` (sums of w^2, w^3), ``RSS = Y'PY``,
    ``YPPY = Y'PPY``, ``swu = sum w u``, ``swuu = sum w u^2`` (u = PY = w r) and
    ``slv = sum log(v + tau2)``; the same quantities as :class:`evsynth.models.kernels.WeightedFit`.
    """
    out = np.empty((starts.size, len(SUM_COLUMNS)))
    kern = _pick(_weighted_sums, _weighted_sums_serial, starts.size)
    kern(np.ascontiguousarray(y, dtype=float), np.ascontiguousarray(v, dtype=float),
                   _i64(starts), _i64(sizes),
                   np.ascontiguousarray(tau2, dtype=float), out)
    return {name: out[:, j] for j, name in enumerate(SUM_COLUMNS)}


def newton_intercept_only(y: np.ndarray, v: np.ndarray, starts: np.ndarray, sizes: np.ndarray,
                          method: str, init: np.ndarray, target: np.ndarray | None, tol: float,
                          maxiter: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the fused iteration; returns (tau2, iterations, converged) per group."""
    G = starts.size
    tau2 = np.empty(G)
    iters = np.empty(G, dtype=np.int64)
    conv = np.empty(G, dtype=np.bool_)
    tgt = np.zeros(G) if target is None else np.asarray(target, dtype=float)
    _newton(y, v, starts, sizes, np.ascontiguousarray(init, dtype=float), tgt, method, tol,
            maxiter, tau2, iters, conv, False)
    return tau2, iters, conv


def _newton(y: np.ndarray, v: np.ndarray, starts: np.ndarray, sizes: np.ndarray,
            init: np.ndarray, target: np.ndarray, method: str, tol: float, maxiter: int,
            tau2: np.ndarray, iters: np.ndarray, conv: np.ndarray, he_start: bool) -> None:
    """Run :func:`_newton_groups` (serial or parallel by the number of groups), or for ML/REML
    groups of one size k >= 2 :func:`_newton_lanes` (the same values), which hands the groups
    whose iterate leaves its range back to :func:`_newton_groups`."""
    G = starts.size
    sizes = _i64(sizes)
    starts = _i64(starts)
    y = np.ascontiguousarray(y, dtype=float)
    v = np.ascontiguousarray(v, dtype=float)
    code = METHOD_CODES[method]
    kmax = int(sizes.max()) if G else 0
    if G and code != 2 and kmax >= 2 and int(sizes.min()) == kmax:
        redo = np.zeros(G, dtype=np.bool_)
        if G >= PARALLEL_MIN_GROUPS:
            _newton_lanes_parallel(y, v, starts, kmax, init, code, float(tol), int(maxiter),
                                   tau2, iters, conv, redo, he_start, _LANE_T_MAX)
        else:
            _newton_lanes(y, v, starts, kmax, init, code, float(tol), int(maxiter), tau2, iters,
                          conv, redo, he_start, 0, G, _LANE_T_MAX)
        idx = np.flatnonzero(redo)
        if idx.size:  # from their start, one group at a time
            sub = [np.empty(idx.size), np.empty(idx.size, dtype=np.int64),
                   np.empty(idx.size, dtype=np.bool_)]
            sub_init = np.ascontiguousarray(init[idx])
            _newton_groups_serial(y, v, starts[idx], sizes[idx], sub_init, target[idx], code,
                                  float(tol), int(maxiter), kmax, *sub, he_start)
            init[idx] = sub_init
            tau2[idx], iters[idx], conv[idx] = sub
        return
    kern = _pick(_newton_groups, _newton_groups_serial, G)
    kern(y, v, starts, sizes, init, target, code, float(tol), int(maxiter), kmax, tau2, iters,
         conv, he_start)


def newton_he_start(y: np.ndarray, v: np.ndarray, starts: np.ndarray, sizes: np.ndarray,
                    method: str, tol: float,
                    maxiter: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`newton_intercept_only` for ML/REML from the HE start of ``estimate_tau2``
    (``max(0, (RSS_OLS - tr(PV)) / (k - 1))``, the operations of ``kernels.ols_quantities``),
    computed in the same pass; returns (start, tau2, iterations, converged)."""
    G = starts.size
    tau2 = np.empty(G)
    iters = np.empty(G, dtype=np.int64)
    conv = np.empty(G, dtype=np.bool_)
    start = np.empty(G)
    _newton(y, v, starts, sizes, start, np.zeros(G), method, tol, maxiter, tau2, iters, conv,
            True)
    return start, tau2, iters, conv


if AVAILABLE:
    _newton_groups_serial = _serial(_newton_groups)
    _weighted_sums_serial = _serial(_weighted_sums)
    _global_maxima_serial = _serial(_global_maxima)
    _ols_sums_serial = _serial(_ols_sums)
    _closed_form_serial = _serial(_closed_form)
    _closed_form_lanes_serial = _serial(_closed_form_lanes)
    _two_sums_serial = _serial(_two_sums)
    _two_sums_bound_serial = _serial(_two_sums_bound)
    _group_logs_serial = _serial(_group_logs)
    _finish_serial = _serial(_finish)
