"""The fused (numba) intercept-only kernel gives the numpy kernel's results."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evsynth
from evsynth.models import kernels

pytest.importorskip("numba")


def _batch(G: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    k = rng.integers(2, 12, G)  # ragged groups, including k = 2
    g = np.repeat(np.arange(G), k)
    vi = rng.uniform(0.005, 0.5, g.size)
    tau2 = rng.choice([0.0, 0.02, 0.3], G)[g]
    yi = rng.normal(0.2, np.sqrt(vi + tau2))
    return pd.DataFrame({"g": g, "yi": yi, "vi": vi})


@pytest.mark.parametrize("method", ["REML", "ML", "PM", "EB", "DL", "DLIT", "HE", "FE"])
@pytest.mark.parametrize("test", ["z", "knha"])
def test_fused_equals_numpy(method, test, monkeypatch):
    df = _batch(3000, seed=5)
    fused = evsynth.meta_batch(df, by="g", method=method, test=test)
    monkeypatch.setattr(kernels, "FUSED_MIN_GROUPS", 10**12)
    plain = evsynth.meta_batch(df, by="g", method=method, test=test)
    # every reported quantity (the fused sums feed beta, se, Q, I^2, the likelihoods, se(tau^2))
    for col in ("tau2", "estimate", "se", "pval", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "I2",
                "H2", "QE", "QEp", "se_tau2"):
        np.testing.assert_allclose(fused[col], plain[col], rtol=1e-9, atol=1e-12, err_msg=col)
    assert fused["converged"].all() and plain["converged"].all()
    assert (fused["tau2"] >= 0).all()


def test_fused_fit_quantities_equal_weighted_fit():
    """FusedInterceptFit gives WeightedFit's per-group quantities (one fused pass vs numpy)."""
    df = _batch(2500, seed=9)
    sizes = df.groupby("g").size().to_numpy()
    des = kernels.Design(df["yi"].to_numpy(), df["vi"].to_numpy(), np.ones((len(df), 1)),
                         kernels.Segments(sizes))
    tau2 = np.random.default_rng(1).uniform(0, 0.4, sizes.size)
    fused, plain = kernels.FusedInterceptFit(des, tau2), kernels.WeightedFit(des, tau2)
    for name in ("RSS", "YPPY", "YPPPY", "sum_w", "sum_w2", "sum_w3", "trP", "trPP",
                 "sum_log_vt"):
        np.testing.assert_allclose(getattr(fused, name), getattr(plain, name), rtol=1e-11,
                                   err_msg=name)
    np.testing.assert_allclose(fused.beta, plain.beta, rtol=1e-11)
    np.testing.assert_allclose(fused.logdet_A(), plain.logdet_A(), rtol=1e-11)
    np.testing.assert_allclose(fused.w, plain.w, rtol=1e-14)
    np.testing.assert_allclose(fused.r, plain.r, rtol=1e-11, atol=1e-14)
    for reml in (True, False):
        np.testing.assert_allclose(kernels.loglik(des, tau2, reml, fit=fused),
                                   kernels.loglik(des, tau2, reml), rtol=1e-11)


@pytest.mark.parametrize("method", ["ML", "REML"])
def test_fused_global_maxima_equal_numpy_scan(method, monkeypatch):
    """The fused search for a higher likelihood maximum gives the numpy scan's answer, including
    groups where the iteration stopped at a local maximum (the benchmark's bimodal case)."""
    df = _batch(2500, seed=8)
    bimodal = pd.read_csv(Path(__file__).parents[1] / "reference" / "data" / "rma_bimodal.csv")
    df = pd.concat([df, bimodal.assign(g=df["g"].max() + 1)[["g", "yi", "vi"]]])
    sizes = df.groupby("g", sort=False).size().to_numpy()
    des = kernels.Design(df["yi"].to_numpy(), df["vi"].to_numpy(), np.ones((len(df), 1)),
                         kernels.Segments(sizes))
    rss0, trPV, _ = kernels.ols_quantities(des)
    init = np.maximum(0.0, (rss0 - trPV) / (des.k - 1))
    rng = np.random.default_rng(3)
    # local maxima found by the iteration are replaced: start from the roots next to 0
    cur = np.where(rng.random(sizes.size) < 0.5, 0.0, init)
    cur[-1] = 0.0019402850834640884  # the lower of the two REML maxima of the bimodal data
    fused = kernels._other_maxima(des, method, init, cur, 1e-12, [])
    monkeypatch.setattr(kernels, "FUSED_MIN_GROUPS", 10**12)
    plain = kernels._other_maxima(des, method, init, cur, 1e-12, [])
    np.testing.assert_allclose(fused, plain, rtol=1e-9, atol=1e-12)
    if method == "REML":
        assert fused[-1] == pytest.approx(0.069223356677, rel=1e-8)


def test_xtdx_equal_groups_matmul_equals_einsum():
    """The batched-matmul X'DX for equal-size groups equals the general per-row outer products."""
    rng = np.random.default_rng(4)
    G, k, p = 50, 7, 3
    X = np.column_stack([np.ones(G * k), rng.normal(size=(G * k, p - 1))])
    d = rng.uniform(0.1, 2, G * k)
    des = kernels.Design(rng.normal(size=G * k), rng.uniform(0.1, 1, G * k), X,
                         kernels.Segments(np.full(G, k)))
    assert des.seg.equal_k == k
    want = np.add.reduceat(d[:, None, None] * X[:, :, None] * X[:, None, :],
                           des.seg.starts, axis=0)
    np.testing.assert_allclose(des.xtdx(d), want, rtol=1e-13)


def test_fused_ols_quantities_equal_numpy(monkeypatch):
    df = _batch(2500, seed=12)
    sizes = df.groupby("g").size().to_numpy()
    des = kernels.Design(df["yi"].to_numpy(), df["vi"].to_numpy(), np.ones((len(df), 1)),
                         kernels.Segments(sizes))
    fused = kernels.ols_quantities(des)
    monkeypatch.setattr(kernels, "FUSED_MIN_GROUPS", 10**12)
    plain = kernels.ols_quantities(des)
    for a, b in zip(fused, plain, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("method", ["REML", "ML", "PM", "EB", "DL", "HE"])
def test_serial_kernels_equal_parallel(method, monkeypatch):
    """Below PARALLEL_MIN_GROUPS the kernels run as one-thread copies: bitwise the same results
    as the parallel kernels, also for groups with k = 1 and identical effects (divisions by zero
    give IEEE inf/nan as in the parallel kernels, no ZeroDivisionError)."""
    from evsynth.models import _fused

    df = _batch(3000, seed=21)
    one = pd.DataFrame({"g": [-1, -2, -2, -2], "yi": [0.3, 0.1, 0.1, 0.1],
                        "vi": [0.02, 0.05, 0.05, 0.05]})
    df = pd.concat([one, df], ignore_index=True)
    serial = evsynth.meta_batch(df, by="g", method=method).to_frame()
    monkeypatch.setattr(_fused, "PARALLEL_MIN_GROUPS", 1)
    parallel = evsynth.meta_batch(df, by="g", method=method).to_frame()
    pd.testing.assert_frame_equal(serial, parallel, check_exact=True)


def test_serial_kernels_gosh_k14():
    """GOSH on 14 trials (16,383 subsets, one fused batch with k = 1 subsets) runs on the
    one-thread kernels and equals the parallel kernels' results."""
    from evsynth.models import _fused

    egger = pd.read_csv(Path(__file__).parents[1] / "reference" / "data" / "infl_egger.csv")
    fit = evsynth.meta(egger["yi"][:14].to_numpy(), egger["vi"][:14].to_numpy(), method="REML")
    serial = fit.gosh().to_frame()
    old = _fused.PARALLEL_MIN_GROUPS
    try:
        _fused.PARALLEL_MIN_GROUPS = 1
        parallel = fit.gosh().to_frame()
    finally:
        _fused.PARALLEL_MIN_GROUPS = old
    pd.testing.assert_frame_equal(serial, parallel, check_exact=True)


def _equal_k_data(G: int, k: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    v = np.where(rng.random(G * k) < 0.3, rng.uniform(0.001, 0.01, G * k),
                 rng.uniform(0.05, 2.0, G * k))
    tau2 = np.repeat(rng.choice([0.0, 0.01, 0.2, 5.0], G), k)
    y = rng.normal(0.3, np.sqrt(v + tau2))
    starts = np.arange(G, dtype=np.int64) * k
    return y, v, starts, np.full(G, k, dtype=np.int64)


@pytest.mark.parametrize("method", ["ML", "REML"])
@pytest.mark.parametrize("k", [2, 3, 10, 41])
@pytest.mark.parametrize("maxiter", [100, 3, 0])
@pytest.mark.parametrize("he_start", [True, False])
def test_newton_lanes_bitwise_the_group_kernel(method, k, maxiter, he_start):
    """ML/REML groups of one size iterated 8 side by side (_newton_lanes, serial and on
    chunks in parallel) give bitwise the starts, estimates, iteration counts and convergence
    flags of the one-group-at-a-time kernel, also when maxiter stops them."""
    from evsynth.models import _fused

    G = 2 * 4096 + 5
    y, v, starts, sizes = _equal_k_data(G, k, seed=k + maxiter)
    code = _fused.METHOD_CODES[method]
    want = [np.empty(G), np.empty(G, dtype=np.int64), np.empty(G, dtype=np.bool_)]
    given = np.random.default_rng(k).choice([0.0, 0.05, 1.0, np.nan], G)  # starts given
    want_init = given.copy()
    _fused._newton_groups_serial(y, v, starts, sizes, want_init, np.zeros(G), code, 1e-10,
                                 maxiter, k, *want, he_start)
    for parallel in (False, True):
        got = [np.empty(G), np.empty(G, dtype=np.int64), np.empty(G, dtype=np.bool_)]
        init = given.copy()
        redo = np.zeros(G, dtype=np.bool_)
        if parallel:
            _fused._newton_lanes_parallel(y, v, starts, k, init, code, 1e-10, maxiter, *got,
                                          redo, he_start, _fused._LANE_T_MAX)
        else:
            _fused._newton_lanes(y, v, starts, k, init, code, 1e-10, maxiter, *got, redo,
                                 he_start, 0, G, _fused._LANE_T_MAX)
        assert not redo.any()
        assert np.array_equal(init, want_init, equal_nan=True)
        for a, b in zip(got, want, strict=True):
            assert np.array_equal(a.view(np.int64) if a.dtype == float else a,
                                  b.view(np.int64) if b.dtype == float else b)


@pytest.mark.parametrize("method", ["ML", "REML"])
def test_newton_lanes_hand_back_groups_out_of_range(method, monkeypatch):
    """Groups whose iterate leaves the lanes' range (here forced by a small bound) are marked
    and refitted by the group kernel from their start: newton_he_start's values stay bitwise
    those of the group kernel."""
    from evsynth.models import _fused

    G, k = 3000, 6
    y, v, starts, sizes = _equal_k_data(G, k, seed=4)
    code = _fused.METHOD_CODES[method]
    want = [np.empty(G), np.empty(G, dtype=np.int64), np.empty(G, dtype=np.bool_)]
    want_init = np.empty(G)
    _fused._newton_groups_serial(y, v, starts, sizes, want_init, np.zeros(G), code, 1e-10, 100,
                                 k, *want, True)
    got = [np.empty(G), np.empty(G, dtype=np.int64), np.empty(G, dtype=np.bool_)]
    redo = np.zeros(G, dtype=np.bool_)
    _fused._newton_lanes(y, v, starts, k, np.empty(G), code, 1e-10, 100, *got, redo, True, 0, G,
                         0.05)
    assert 0.05 * G < redo.sum() < G  # some groups handed back, the others finished
    ok = ~redo
    assert np.array_equal(got[0][ok], want[0][ok]) and np.array_equal(got[1][ok], want[1][ok])
    monkeypatch.setattr(_fused, "_LANE_T_MAX", 0.05)
    start, tau2, iters, conv = _fused.newton_he_start(y, v, starts, sizes, method, 1e-10, 100)
    assert np.array_equal(start, want_init)
    assert np.array_equal(tau2, want[0]) and np.array_equal(iters, want[1])
    assert np.array_equal(conv, want[2])
