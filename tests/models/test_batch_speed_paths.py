"""Fast paths of meta_batch (issue 17) give bitwise the same columns as the general path.

The fused DL/HE kernel (:func:`evsynth.models.engine.fused_batch`) computes every column of a
big intercept-only batch in one pass per group; with it switched off the general fit core runs.
Every column must be identical bit for bit (NaN where the other has NaN), on random batches of
equal and ragged k, k = 1 groups, identical effects, several scales and levels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evsynth
from evsynth.models import _fused, batch, engine

pytest.importorskip("numba")


def _same_bits(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    for col in a.columns:
        x, y = a[col].to_numpy(), b[col].to_numpy()
        assert x.dtype == y.dtype, col
        if x.dtype.kind == "f":
            nan = np.isnan(x)
            assert np.array_equal(nan, np.isnan(y)), col
            assert np.array_equal(x[~nan].view(np.int64), y[~nan].view(np.int64)), col
        else:
            assert np.array_equal(x, y), col


def _random_batch(rng: np.random.Generator, G: int, ragged: bool) -> pd.DataFrame:
    sizes = rng.integers(1, 30, G) if ragged else np.full(G, int(rng.integers(2, 15)))
    n = int(sizes.sum())
    hi = float(rng.choice([0.05, 0.5, 5.0]))
    v = rng.uniform(0.001, hi, n)
    tau2 = np.repeat(rng.choice([0.0, 0.01, 0.1, 1.0], G), sizes)
    y = rng.normal(float(rng.normal()), np.sqrt(v + tau2))
    scale = float(rng.choice([1.0, 1e-3, 1e3]))
    df = pd.DataFrame({"g": np.repeat(np.arange(G), sizes), "yi": y * scale, "vi": v * scale**2})
    if ragged:  # identical effects in a few groups
        first = np.flatnonzero(sizes > 1)[:3]
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        for g in first:
            df.loc[starts[g]:starts[g] + sizes[g] - 1, "yi"] = 0.25
    return df


@pytest.mark.parametrize("method", ["DL", "HE", "ML", "REML", "EB", "PM", "PMM"])
@pytest.mark.parametrize("seed", range(6))
def test_fused_batch_bitwise_identical(method: str, seed: int,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(seed)
    df = _random_batch(rng, int(rng.integers(2100, 4000)), ragged=seed % 2 == 1)
    level = [95, 90, 99.5][seed % 3]
    control = [None, {"ll0check": False}, {"tau2_init": 0.2}, {"maxiter": 3}, None,
               {"tol": 1e-8}][seed]
    fast = evsynth.meta_batch(df, by="g", method=method, level=level,
                              control=control).to_frame()
    monkeypatch.setattr(engine, "_FUSED_BATCH", False)
    slow = evsynth.meta_batch(df, by="g", method=method, level=level,
                              control=control).to_frame()
    _same_bits(fast, slow)


@pytest.mark.parametrize("method", ["ML", "REML"])
def test_fused_batch_several_maxima_and_boundary(method: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Groups prone to a second likelihood maximum and to the boundary check (small and large
    variances mixed): the scan and the likelihood comparison as in the general path."""
    rng = np.random.default_rng(9)
    sizes = rng.integers(2, 14, 3000)
    n = int(sizes.sum())
    v = np.where(rng.random(n) < 0.5, rng.uniform(0.001, 0.01, n), rng.uniform(0.5, 2, n))
    y = rng.normal(0, np.sqrt(v + np.repeat(rng.choice([0, 0.05, 0.3], sizes.size), sizes)))
    df = pd.DataFrame({"g": np.repeat(np.arange(sizes.size), sizes), "yi": y, "vi": v})
    fast = evsynth.meta_batch(df, by="g", method=method).to_frame()
    monkeypatch.setattr(engine, "_FINISH_CHUNK", 700)  # the last stage in chunks of groups
    _same_bits(fast, evsynth.meta_batch(df, by="g", method=method).to_frame())
    monkeypatch.setattr(engine, "_FUSED_BATCH", False)
    _same_bits(fast, evsynth.meta_batch(df, by="g", method=method).to_frame())


@pytest.mark.parametrize("method", ["DL", "HE", "REML", "PM"])
def test_fused_batch_parallel_identical(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    df = _random_batch(np.random.default_rng(99), 2500, ragged=True)
    serial = evsynth.meta_batch(df, by="g", method=method).to_frame()
    monkeypatch.setattr(_fused, "PARALLEL_MIN_GROUPS", 1)
    parallel = evsynth.meta_batch(df, by="g", method=method).to_frame()
    monkeypatch.setattr(engine, "_FUSED_BATCH", False)
    slow = evsynth.meta_batch(df, by="g", method=method).to_frame()
    _same_bits(serial, parallel)
    _same_bits(serial, slow)


def test_fused_batch_falls_back_for_extreme_data() -> None:
    """Data needing a rescaling (tiny variances) or a location shift take the general path:
    the same frame as with the fused path switched off."""
    df = _random_batch(np.random.default_rng(5), 2200, ragged=False)
    tiny = df.assign(yi=df.yi * 1e-8, vi=df.vi * 1e-16)
    far = df.assign(yi=df.yi + 1e12)
    for d in (tiny, far):
        a = evsynth.meta_batch(d, by="g", method="DL").to_frame()
        engine._FUSED_BATCH = False
        try:
            b = evsynth.meta_batch(d, by="g", method="DL").to_frame()
        finally:
            engine._FUSED_BATCH = True
        _same_bits(a, b)


@pytest.mark.parametrize("method", ["REML", "DL", "PM", "FE"])
def test_run_grouping_identical_to_codes(method: str) -> None:
    """Integer keys in runs (group starts, no code per row, a broadcast intercept column) give
    the frame of the general grouping (by as a list: codes per row)."""
    df = _random_batch(np.random.default_rng(3), 2300, ragged=True)
    small = df[df.g < 40].reset_index(drop=True)
    for d in (df, small):
        _same_bits(evsynth.meta_batch(d, by="g", method=method).to_frame(),
                   evsynth.meta_batch(d, by=["g"], method=method).to_frame())


def test_run_grouping_names_the_bad_row() -> None:
    df = pd.DataFrame({"g": [1, 1, 2, 2, 2], "yi": [0.1, 0.2, 0.3, np.nan, 0.1],
                       "vi": [0.1, 0.1, 0.1, 0.1, 0.1]})
    with pytest.raises(evsynth.InputError, match=r"row 4 \(group \{'g': 2\}\): field 'yi'"):
        evsynth.meta_batch(df, by="g")
    df.loc[3, "yi"] = 0.2
    df.loc[1, "vi"] = 0.0
    with pytest.raises(evsynth.InputError, match=r"row 2 \(group \{'g': 1\}\): field 'vi'"):
        evsynth.meta_batch(df, by="g")


def _old_global_maxima(y, v, starts, sizes, init, tau2, reml, tol, n_grid, out):
    """The global-maximum scan before the grid scores were vectorised (reference, serial)."""
    for g in range(starts.shape[0]):
        s, k, cur = starts[g], sizes[g], tau2[g]
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
        best_ll = _fused._loglik_at(y, v, s, k, cur, reml)
        t0 = upper / (n_grid * n_grid)
        sc0 = _fused._score_at(y, v, s, k, t0, ybar, reml)
        for j in range(2, n_grid + 1):
            t1 = upper * (j / n_grid) ** 2
            sc1 = _fused._score_at(y, v, s, k, t1, ybar, reml)
            if sc0 > 0.0 and sc1 <= 0.0 and not (t0 <= cur and cur <= t1):
                lo, hi = t0, t1
                for _ in range(200):
                    if hi - lo <= tol * max(1.0, hi):
                        break
                    mid = 0.5 * (lo + hi)
                    if _fused._score_at(y, v, s, k, mid, ybar, reml) > 0.0:
                        lo = mid
                    else:
                        hi = mid
                root = 0.5 * (lo + hi)
                ll = _fused._loglik_at(y, v, s, k, root, reml)
                if ll > best_ll + 1e-10 * max(1.0, abs(ll)):
                    best_t, best_ll = root, ll
            t0, sc0 = t1, sc1
        out[g] = best_t


@pytest.mark.parametrize("reml", [True, False])
def test_vectorised_grid_scan_identical_to_previous_kernel(reml: bool) -> None:
    """The scan with the grid scores computed for all points at once gives bitwise the
    previous kernel's tau^2 (groups of equal and ragged size, many with two maxima)."""
    import numba

    old = numba.njit(error_model="numpy")(_old_global_maxima)
    rng = np.random.default_rng(31)
    for sizes in (np.full(1500, 10), rng.integers(1, 25, 2500)):
        n = int(sizes.sum())
        v = np.where(rng.random(n) < 0.5, rng.uniform(0.001, 0.01, n), rng.uniform(0.5, 2, n))
        y = rng.normal(0, np.sqrt(v + np.repeat(rng.choice([0, 0.05, 0.3], sizes.size), sizes)))
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
        init = rng.uniform(0, 0.5, sizes.size)
        tau2 = np.where(rng.random(sizes.size) < 0.3, 0.0, rng.uniform(0, 0.5, sizes.size))
        ref = np.empty(sizes.size)
        old(y, v, starts, sizes.astype(np.int64), init, tau2, reml, 1e-12, 16, ref)
        for kern in (_fused._global_maxima, _fused._global_maxima_serial):
            new = np.empty(sizes.size)
            kern(y, v, starts, sizes.astype(np.int64), init, tau2, reml, 1e-12, 16, new)
            assert np.array_equal(new.view(np.int64), ref.view(np.int64))
            assert (new != tau2).sum() > 10  # other maxima were found and taken


def _old_newton_groups(y, v, starts, sizes, init, target, code, tol, maxiter, tau2_out,
                        iters_out, conv_out):
    # the fused Newton iteration before it kept the weights of its first pass (reference)
    G = starts.shape[0]
    for g in range(G):
        s = starts[g]
        k = sizes[g]
        t = init[g] if init[g] > 0.0 else 0.0
        lo = 0.0
        hi = np.inf
        tried0 = False
        conv = False
        it = 0
        while it < maxiter:
            sw, b, sw2, sw3, rss, yppy, swu, swuu, _ = _fused._sums(y, v, s, k, t, False)
            if code == 2:
                score = rss - target[g]
                info = yppy
            else:
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
            step = score / info
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
            t = new
            it += 1
            if small or at0 or narrow:
                conv = True
                break
        tau2_out[g] = t
        iters_out[g] = it
        conv_out[g] = conv



@pytest.mark.parametrize("code", [0, 1, 2])
def test_newton_weight_buffer_identical_to_previous_kernel(code: int) -> None:
    """The Newton kernel keeping the first pass's weights gives bitwise the previous kernel's
    iterates (tau^2, iterations, convergence), also with too few steps to converge."""
    import numba

    old = numba.njit(error_model="numpy")(_old_newton_groups)
    rng = np.random.default_rng(32)
    for sizes, maxiter in ((np.full(1500, 10), 100), (rng.integers(1, 40, 2500), 100),
                           (rng.integers(2, 12, 800), 3)):
        n = int(sizes.sum())
        v = rng.uniform(0.001, 2.0, n)
        y = rng.normal(0, np.sqrt(v + np.repeat(rng.choice([0, 0.05, 0.3], sizes.size), sizes)))
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
        sz = sizes.astype(np.int64)
        init = np.where(rng.random(sizes.size) < 0.3, 0.0, rng.uniform(0, 0.5, sizes.size))
        target = (sizes - 1).astype(float)
        ref = (np.empty(sizes.size), np.empty(sizes.size, np.int64), np.empty(sizes.size, bool))
        old(y, v, starts, sz, init, target, code, 1e-12, maxiter, *ref)
        for kern in (_fused._newton_groups, _fused._newton_groups_serial):
            new = (np.empty(sizes.size), np.empty(sizes.size, np.int64),
                   np.empty(sizes.size, bool))
            kern(y, v, starts, sz, init, target, code, 1e-12, maxiter, int(sz.max()), *new,
                 False)
            assert np.array_equal(new[0].view(np.int64), ref[0].view(np.int64))
            assert np.array_equal(new[1], ref[1]) and np.array_equal(new[2], ref[2])
        if code == 2:
            continue
        # the HE start computed in the kernel: the start of estimate_tau2, the same iterates
        rss0, sv, _ = _fused.ols_sums(y, v, starts, sz)  # kernels.ols_quantities, fused
        kf = sizes.astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            he = np.maximum(0.0, (rss0 - (sv - sv / kf)) / (kf - 1))
        old(y, v, starts, sz, he, target, code, 1e-12, maxiter, *ref)
        method = "ML" if code == 0 else "REML"
        got = _fused.newton_he_start(y, v, starts, sz, method, 1e-12, maxiter)
        assert np.array_equal(got[0].view(np.int64), he.view(np.int64))
        assert np.array_equal(got[1].view(np.int64), ref[0].view(np.int64))
        assert np.array_equal(got[2], ref[1]) and np.array_equal(got[3], ref[2])


@pytest.mark.parametrize("method", ["DL", "REML"])
def test_one_pass_grouping_and_checks_identical(method: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The one-pass (numba) run starts and extremes of big inputs: the same frames and the same
    errors as the numpy steps (switched on here for small data)."""
    df = _random_batch(np.random.default_rng(8), 2600, ragged=True)
    small = df[df.g < 30].reset_index(drop=True)
    shuffled = df.sample(frac=1.0, random_state=1).reset_index(drop=True)
    plain = [evsynth.meta_batch(d, by="g", method=method).to_frame()
             for d in (df, small, shuffled)]
    monkeypatch.setattr(batch, "_FUSED_MIN_ROWS", 1)
    for d, ref in zip((df, small, shuffled), plain, strict=True):
        _same_bits(evsynth.meta_batch(d, by="g", method=method).to_frame(), ref)
    bad = pd.DataFrame({"g": [1, 1, 2, 2, 2], "yi": [0.1, 0.2, 0.3, np.inf, 0.1],
                        "vi": [0.1, 0.1, 0.1, 0.1, 0.1]})
    with pytest.raises(evsynth.InputError, match=r"row 4 \(group \{'g': 2\}\): field 'yi'"):
        evsynth.meta_batch(bad, by="g")
    bad.loc[3, "yi"] = 0.2
    bad.loc[0, "vi"] = -1.0
    with pytest.raises(evsynth.InputError, match=r"row 1 \(group \{'g': 1\}\): field 'vi'"):
        evsynth.meta_batch(bad, by="g")
    bad.loc[0, "vi"] = 0.1
    bad.loc[2, "g"] = 0  # not in runs: the general grouping
    assert len(evsynth.meta_batch(bad, by="g").to_frame()) == 3
