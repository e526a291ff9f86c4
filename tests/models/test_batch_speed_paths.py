"""Fast paths of meta_batch (issue 17) give bitwise the same columns as the general path.

The fused DL/HE kernel (:func:`evsynth.models.engine.fused_batch`) computes every column of a
big intercept-only batch in one pass per group; with it switched off the general fit core runs.
Every column must be identical bit for bit (NaN where the other has NaN), on random batches of
equal and ragged k, k = 1 groups, identical effects, several scales and levels.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

import evsynth
from evsynth.models import _fused, batch, engine, kernels

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
@pytest.mark.parametrize("test", ["z", "t", "knha", "adhoc"])
def test_fused_batch_bitwise_identical(method: str, seed: int, test: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Every column of the fused path bitwise the general path's, under every test (t, knha
    and adhoc: the t-based SE, p-value, CI and prediction interval from the fit's vb and RSS
    at tau^2; k = 1 groups with their undefined t-based values)."""
    rng = np.random.default_rng(seed)
    df = _random_batch(rng, int(rng.integers(2100, 4000)), ragged=seed % 2 == 1)
    level = [95, 90, 99.5][seed % 3]
    control = [None, {"ll0check": False}, {"tau2_init": 0.2}, {"maxiter": 3}, None,
               {"tol": 1e-8}][seed]
    called: list[bool] = []
    real = engine._t_based

    def spy(*args: object) -> bool:
        called.append(True)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "_t_based", spy)
    fast = evsynth.meta_batch(df, by="g", method=method, level=level, test=test,
                              control=control).to_frame()
    assert bool(called) == (test != "z")  # the fused path ran
    monkeypatch.setattr(engine, "_FUSED_BATCH", False)
    slow = evsynth.meta_batch(df, by="g", method=method, level=level, test=test,
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


@pytest.mark.parametrize("method", ["ML", "REML"])
@pytest.mark.parametrize("near_zero", [False, True])
def test_boundary_check_bound_identical(method: str, near_zero: bool,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The boundary check of fused ML/REML batches takes logs only for the groups the bound of
    engine._ll0_undecided leaves open: the same columns as with the logs of every group, on
    data where the check keeps tau^2 = 0 for some groups (counted), serial and parallel."""
    rng = np.random.default_rng(9)
    sizes = rng.integers(2, 14, 3000)
    n = int(sizes.sum())
    v = np.where(rng.random(n) < 0.5, rng.uniform(0.001, 0.01, n), rng.uniform(0.5, 2, n))
    tau2 = 0.0 if near_zero else np.repeat(rng.choice([0, 0.05, 0.3], sizes.size), sizes)
    y = rng.normal(0, np.sqrt(v + tau2))
    df = pd.DataFrame({"g": np.repeat(np.arange(sizes.size), sizes), "yi": y, "vi": v})
    undecided: list[np.ndarray] = []
    real = engine._ll0_undecided

    def counted(*args: object) -> np.ndarray:
        out = real(*args)  # type: ignore[arg-type]
        undecided.append(out)
        return out

    monkeypatch.setattr(engine, "_ll0_undecided", counted)
    fast = evsynth.meta_batch(df, by="g", method=method).to_frame()
    monkeypatch.setattr(_fused, "PARALLEL_MIN_GROUPS", 1)
    _same_bits(fast, evsynth.meta_batch(df, by="g", method=method).to_frame())
    open_groups = int(undecided[0].sum())
    assert 0 < open_groups < 0.5 * sizes.size
    monkeypatch.setattr(engine, "_LL0_BOUND", False)
    every = evsynth.meta_batch(df, by="g", method=method).to_frame()
    _same_bits(fast, every)
    if not near_zero:  # the check kept tau^2 = 0 for some groups it had to decide exactly
        fe = evsynth.meta_batch(df, by="g", method=method, control={"ll0check": False})
        assert int((fe.to_frame()["tau2"].to_numpy() != every["tau2"].to_numpy()).sum()) > 0


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


@pytest.mark.parametrize("method", ["DL", "REML"])
def test_one_pass_grouping_and_checks_identical(method: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The one-pass (numba) run starts and extremes of big inputs: the same frames and the same
    errors as the numpy steps (switched on here for small data)."""
    df = _random_batch(np.random.default_rng(8), 2600, ragged=True)
    small = df[df.g < 30].reset_index(drop=True)
    shuffled = df.sample(frac=1.0, random_state=1).reset_index(drop=True)
    with monkeypatch.context() as m:  # numpy's steps, numba loaded or not
        m.setattr(batch, "_FUSED_MIN_ROWS", 1 << 62)
        m.setattr(batch, "_FUSED_MIN_ROWS_LOADED", 1 << 62)
        plain = [evsynth.meta_batch(d, by="g", method=method).to_frame()
                 for d in (df, small, shuffled)]
    monkeypatch.setattr(batch, "_FUSED_MIN_ROWS", 1)
    for d, ref in zip((df, small, shuffled), plain, strict=True):
        _same_bits(evsynth.meta_batch(d, by="g", method=method).to_frame(), ref)
    narrow = df.assign(g=df.g.astype(np.uint16))  # the keys keep their dtype in the one pass
    got = evsynth.meta_batch(narrow, by="g", method=method).to_frame()
    assert got["g"].dtype == np.uint16
    _same_bits(got.assign(g=got.g.astype(np.int64)), plain[0])
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


def test_one_pass_run_starts_once_numba_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Below 2^20 rows the one-pass run starts are used only once numba is loaded (from
    2^14 rows): small data never load it for them."""
    monkeypatch.setattr(batch, "_FUSED_MIN_ROWS_LOADED", 100)
    monkeypatch.delitem(sys.modules, "evsynth.models._fused", raising=False)
    assert batch._fused_module(5_000) is None
    from evsynth.models import _fused

    monkeypatch.setitem(sys.modules, "evsynth.models._fused", _fused)
    assert batch._fused_module(99) is None
    assert batch._fused_module(100) is (_fused if _fused.AVAILABLE else None)


def test_segments_subset_rows_by_index_or_mask() -> None:
    """Segments.subset gives the rows of the selected groups in order, as indices when few
    groups are selected and as a mask otherwise: the same rows either way."""
    from evsynth.models.kernels import Segments

    rng = np.random.default_rng(0)
    for _ in range(300):
        sizes = rng.integers(1, 6, int(rng.integers(1, 80)))
        seg = Segments(sizes)
        mask = rng.random(sizes.size) < rng.choice([0.0, 0.01, 0.1, 0.5, 1.0])
        sub, rows = seg.subset(mask)
        got = np.flatnonzero(rows) if rows.dtype == bool else rows
        assert np.array_equal(got, np.flatnonzero(np.repeat(mask, sizes)))
        assert np.array_equal(sub.sizes, sizes[mask])


@pytest.mark.parametrize("method", ["ML", "REML"])
def test_other_maxima_refined_in_one_call(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The down-crossings of the global-maximum scan (numpy path) are refined in one call of
    the root finder: the same tau^2 as one call per grid column (the previous code, kept here
    as the oracle), on data prone to several maxima, ragged and equal k."""
    from evsynth.models import kernels

    def per_column(sub, method, grid, downs, cur, tol, reml):
        best_t = cur.copy()
        best_ll = kernels.loglik(sub, best_t, reml)
        for j in np.flatnonzero(downs.any(axis=0)):
            down = downs[:, j]
            sub2 = sub.subset(down)
            root, _ = kernels._bracket_root(sub2, method, None, grid[down, j],
                                            grid[down, j + 1], tol)
            ll = kernels.loglik(sub2, root, reml)
            better = ll > best_ll[down] + 1e-10 * np.maximum(1.0, np.abs(ll))
            idx = np.flatnonzero(down)[better]
            best_t[idx], best_ll[idx] = root[better], ll[better]
        return best_t

    rng = np.random.default_rng(21)
    checked = 0
    for ragged in (False, True):
        sizes = rng.integers(2, 14, 1500) if ragged else np.full(1500, 6)
        n = int(sizes.sum())
        v = np.where(rng.random(n) < 0.5, rng.uniform(0.001, 0.01, n), rng.uniform(0.5, 2, n))
        y = rng.normal(0, np.sqrt(v + np.repeat(rng.choice([0, 0.05, 0.3], sizes.size), sizes)))
        des = kernels.Design(y, v, np.ones((n, 1)), kernels.Segments(sizes))
        with kernels.pinned_kernels(1):  # the numpy path
            tau2, *_ = kernels._iterative(des, method, np.zeros(sizes.size), None, 1e-10, 100)
            got = kernels._other_maxima(des, method, np.zeros(sizes.size), tau2, 1e-10, [])
        # the oracle, from the same scan
        k = des.k.astype(float)
        seg = des.seg
        ybar = seg.sum(des.y) / k
        s2 = seg.sum(seg.add(des.y, ybar, -1.0) ** 2) / np.maximum(k - 1, 1)
        upper = np.maximum(np.maximum(2 * tau2, 0.0), s2)
        grid = upper[:, None] * (np.arange(1, 17) / 16)[None, :] ** 2
        scores = np.column_stack([kernels._score(method, kernels.WeightedFit(
            des, grid[:, j]), None)[0] for j in range(16)])
        downs = (scores[:, :-1] > 0) & (scores[:, 1:] <= 0)
        downs &= ~((grid[:, :-1] <= tau2[:, None]) & (tau2[:, None] <= grid[:, 1:]))
        want = per_column(des, method, grid, downs, tau2, 1e-10, method == "REML")
        assert np.array_equal(got, want)
        checked += int(np.sum(downs.any(axis=1)))
    assert checked > 10  # groups with another down-crossing were refined


@pytest.mark.parametrize("k", [1, 2, 10, 37])
@pytest.mark.parametrize("he", [False, True])
@pytest.mark.parametrize("want_rss", [False, True])
def test_closed_form_lanes_bitwise_the_group_kernel(k: int, he: bool, want_rss: bool) -> None:
    """Groups of one size run side by side (_closed_form_lanes, serial and parallel, chunks of
    4,096 groups and a remainder that is not a multiple of the lanes): every output row
    bitwise that of the one-group-at-a-time kernel, the RSS at tau^2 too when asked."""
    rng = np.random.default_rng(k)
    G = 2 * 4096 + 13
    v = rng.uniform(0.001, 2.0, G * k)
    y = rng.normal(0.1, np.sqrt(v + np.repeat(rng.choice([0.0, 0.05, 1.0], G), k)))
    starts = np.arange(G, dtype=np.int64) * k
    sizes = np.full(G, k, dtype=np.int64)
    want = np.empty((len(_fused.CLOSED_FORM_ROWS), G))
    _fused._closed_form_serial(y, v, starts, sizes, he, 1.959963984540054, want_rss, want)
    rows = [r for r in range(want.shape[0]) if _fused.CLOSED_FORM_ROWS[r] not in
            ("pval", "QEp")]  # the rows the kernels fill (the p-values are the caller's)
    if want_rss:  # the RSS at tau^2 of the weighted fit (kernels.FusedInterceptFit's)
        fit = kernels.FusedInterceptFit(kernels.Design(y, v, np.ones((y.size, 1)),
                                                       kernels.Segments(sizes)), want[0])
        assert np.array_equal(want[_fused.CLOSED_FORM_ROWS.index("RSS_t")], fit.RSS)
        assert np.array_equal(want[_fused.CLOSED_FORM_ROWS.index("vb")], fit.Ainv[:, 0, 0])
    else:
        rows.remove(_fused.CLOSED_FORM_ROWS.index("RSS_t"))
    for kern in (_fused._closed_form_lanes_serial, _fused._closed_form_lanes):
        got = np.empty_like(want)
        kern(y, v, starts, k, he, 1.959963984540054, want_rss, got)
        assert np.array_equal(np.isnan(got[rows]), np.isnan(want[rows]))
        ok = ~np.isnan(want[rows])
        assert np.array_equal(got[rows][ok].view(np.int64), want[rows][ok].view(np.int64))
