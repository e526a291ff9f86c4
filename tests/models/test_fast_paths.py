"""Fast paths of single fits (issue 17) give bitwise the same results as the array code.

The single intercept-only ML/REML/PM/EB/PMM iteration runs in Python floats
(:func:`evsynth.models.kernels._newton_one`) with the same floating-point operations in the same
order as the batch code; every field of the result (``to_dict()``) must be identical, on data
that exercise the boundary tau^2 = 0, large scales and the step safeguards.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import evsynth
from evsynth.models import kernels


def _cases(seed: int, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        k = int(rng.integers(2, 40))
        v = rng.uniform(0.001, float(rng.choice([0.05, 0.5, 5.0])), k)
        y = rng.normal(0.0, np.sqrt(v + float(rng.choice([0.0, 0.01, 0.1, 1.0]))))
        if i % 10 == 0:  # another scale
            y, v = y * 1e3, v * 1e6
        out.append((y, v))
    return out


def _fits(cases: list[tuple[np.ndarray, np.ndarray]], method: str, **kw: object) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [repr(evsynth.meta(y, v, method=method, **kw).to_dict()) for y, v in cases]


@pytest.mark.parametrize("method", ["ML", "REML", "PM", "EB", "PMM"])
def test_single_fast_path_bitwise_identical(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cases = _cases(17, 150)
    fast = _fits(cases, method)
    monkeypatch.setattr(kernels, "_SINGLE_FAST", False)
    slow = _fits(cases, method)
    assert fast == slow


@pytest.mark.parametrize("method", ["REML", "PM"])
def test_single_fast_path_with_init_and_test(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cases = _cases(3, 40)
    kw = {"test": "knha", "control": {"tau2_init": 0.5}}
    fast = _fits(cases, method, **kw)
    monkeypatch.setattr(kernels, "_SINGLE_FAST", False)
    assert fast == _fits(cases, method, **kw)


def test_newton_one_matches_iterative_nonconvergence(monkeypatch: pytest.MonkeyPatch) -> None:
    """Too few steps: both paths hand the same unconverged state to the bracketing fallback."""
    y = np.array([0.1, 0.9, -0.4, 1.3, 0.2])
    v = np.array([0.02, 0.05, 0.01, 0.2, 0.03])
    des = kernels.Design(y, v, np.ones((5, 1)), kernels.Segments(np.array([5])))
    for maxiter in (1, 2, 3, 50):
        fast = kernels._iterative(des, "REML", np.array([0.0]), None, 1e-12, maxiter)
        monkeypatch.setattr(kernels, "_SINGLE_FAST", False)
        slow = kernels._iterative(des, "REML", np.array([0.0]), None, 1e-12, maxiter)
        monkeypatch.setattr(kernels, "_SINGLE_FAST", True)
        for a, b in zip(fast, slow, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("method", ["ML", "REML"])
def test_scan_one_equals_stacked_fit(method: str) -> None:
    """The global-maximum scan of one group: bitwise the scores of the stacked fit."""
    for y, v in _cases(5, 60):
        k = y.size
        grid = np.var(y) * 3 * (np.arange(1, 17) / 16) ** 2
        rows = np.tile(np.arange(k), 16)
        stacked = kernels.Design(y[rows], v[rows], np.ones((16 * k, 1)),
                                 kernels.Segments(np.full(16, k)))
        ref = kernels._score(method, kernels.WeightedFit(stacked, grid), None)[0]
        np.testing.assert_array_equal(kernels._scan_one(method, y, v, grid[None, :])[0], ref)


@pytest.mark.parametrize("method", ["ML", "REML"])
def test_scan_equal_k_batch_equals_stacked_fit(method: str) -> None:
    """The scan of a batch of equal-k groups: bitwise the scores of the stacked fit."""
    rng = np.random.default_rng(4)
    for G, k in ((1, 10), (7, 5), (300, 10)):
        v = rng.uniform(0.001, 1.0, G * k)
        y = rng.normal(0, np.sqrt(v + 0.1))
        grid = rng.uniform(0.01, 2.0, (G, 1)) * (np.arange(1, 17) / 16) ** 2
        rows = np.tile(np.arange(G * k), 16)
        stacked = kernels.Design(y[rows], v[rows], np.ones((16 * G * k, 1)),
                                 kernels.Segments(np.tile(np.full(G, k), 16)))
        ref = kernels._score(method, kernels.WeightedFit(stacked, grid.T.ravel()),
                             None)[0].reshape(16, G).T
        np.testing.assert_array_equal(kernels._scan_one(method, y, v, grid), ref)


@pytest.mark.parametrize("method", ["ML", "REML", "PM", "EB", "PMM"])
def test_single_fast_path_edge_cases(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Identical effects, one study, zero effects, a huge spread: the same results (and zero
    divisors give numpy's inf/NaN, not a Python exception)."""
    cases = [(np.array([0.3, 0.3, 0.3]), np.array([0.1, 0.2, 0.3])),
             (np.array([0.5]), np.array([0.1])),
             (np.zeros(4), np.ones(4)),
             (np.array([0.0, 0.0]), np.array([1.0, 1.0])),
             (np.array([-50.0, 50.0, 0.0, 1.0]), np.array([1e-4, 1e-4, 1.0, 2.0]))]
    fast = _fits(cases, method)
    monkeypatch.setattr(kernels, "_SINGLE_FAST", False)
    assert fast == _fits(cases, method)


def _old_traces(fit: kernels.WeightedFit, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """tr(PVPV), tr(PVP) by the general matrix formulas (the code before the intercept-only
    shortcut)."""
    des, w, ein = fit.des, fit.w, np.einsum
    D1 = ein("gij,gjk->gik", fit.Ainv, des.xtdx(w**2 * v))
    pvpv = (des.seg.sum((w * v) ** 2) - 2.0 * kernels._tr(ein(
        "gij,gjk->gik", fit.Ainv, des.xtdx(w**3 * v**2))) + kernels._tr_prod(D1, D1))
    M2 = fit._AinvB(2)
    pvp = (des.seg.sum(w**2 * v) - 2.0 * kernels._tr(ein(
        "gij,gjk->gik", fit.Ainv, des.xtdx(w**3 * v))) + kernels._tr_prod(M2, D1))
    return pvpv, pvp


@pytest.mark.parametrize("sizes", [[10], [2, 7, 30], [5, 5, 5, 5]])
def test_intercept_only_traces_equal_general_formulas(sizes: list[int]) -> None:
    """tr(PVPV) and tr(PVP) of intercept-only fits (SJ, GENQ standard errors) without einsum:
    bitwise the general matrix formulas."""
    rng = np.random.default_rng(len(sizes))
    n = sum(sizes)
    for _ in range(50):
        y, v = rng.normal(size=n), rng.uniform(0.001, 2.0, n)
        des = kernels.Design(y, v, np.ones((n, 1)), kernels.Segments(np.array(sizes)))
        for fit in (kernels.WeightedFit(des, rng.uniform(0, 1, len(sizes))),
                    kernels.WeightedFit(des, w=rng.uniform(0.1, 3.0, n))):
            pvpv, pvp = _old_traces(fit, v)
            np.testing.assert_array_equal(fit.tr_PVPV(v), pvpv)
            np.testing.assert_array_equal(fit.tr_PVP(v), pvp)


def _bimodal_prone(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Half very precise, half very imprecise studies: the ML/REML likelihood often has two
    maxima (about 1 in 80 of these data sets), so the global-maximum scan refines a
    down-crossing."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        k = int(rng.integers(3, 12))
        v = np.where(rng.random(k) < 0.5, rng.uniform(0.001, 0.01, k), rng.uniform(0.5, 2, k))
        out.append((rng.normal(0, np.sqrt(v + float(rng.choice([0, 0.05, 0.3])))), v))
    return out


@pytest.mark.parametrize("method", ["ML", "REML"])
def test_single_fast_path_with_several_maxima(method: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    cases = _bimodal_prone(1500)
    hits = []
    scan = kernels._one_has_other_maxima
    monkeypatch.setattr(kernels, "_one_has_other_maxima",
                        lambda *a: hits.append(scan(*a)) or hits[-1])
    fast = _fits(cases, method)
    assert sum(hits) >= 5  # the general refinement was reached from the fast check
    monkeypatch.setattr(kernels, "_SINGLE_FAST", False)
    assert fast == _fits(cases, method)


def test_ols_quantities_single_group(monkeypatch: pytest.MonkeyPatch) -> None:
    """HE estimator and the ML/REML start: bitwise the array code for one group."""
    for y, v in _cases(8, 200):
        des = kernels.Design(y, v, np.ones((y.size, 1)), kernels.Segments(np.array([y.size])))
        fast = kernels.ols_quantities(des)
        monkeypatch.setattr(kernels, "_SINGLE_FAST", False)
        slow = kernels.ols_quantities(des)
        monkeypatch.setattr(kernels, "_SINGLE_FAST", True)
        for a, b in zip(fast, slow, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kw", [{}, {"test": "knha"}, {"control": {"tau2_init": 0.3}}])
def test_single_sj_bitwise_identical(kw: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    cases = _cases(21, 200) + [(np.array([0.3, 0.3, 0.3]), np.array([0.1, 0.2, 0.3])),
                               (np.zeros(4), np.ones(4))]
    if not kw:
        cases.append((np.array([0.5]), np.array([0.1])))  # k = 1 (no t-based test)
    fast = _fits(cases, "SJ", **kw)
    monkeypatch.setattr(kernels, "_SINGLE_FAST", False)
    assert fast == _fits(cases, "SJ", **kw)


@pytest.mark.parametrize("method", ["ML", "REML"])
def test_batch_scan_fast_path_identical(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """meta_batch below the fused-kernel size (equal k, and ragged k for the general code):
    every column identical with the array scan."""
    rng = np.random.default_rng(9)
    frames = []
    for sizes in (np.full(600, 10), rng.integers(2, 12, 300)):
        G = sizes.size
        v = np.where(rng.random(sizes.sum()) < 0.5, rng.uniform(0.001, 0.01, sizes.sum()),
                     rng.uniform(0.5, 2, sizes.sum()))
        y = rng.normal(0, np.sqrt(v + np.repeat(rng.choice([0, 0.05, 0.3], G), sizes)))
        frames.append(pd.DataFrame({"g": np.repeat(np.arange(G), sizes), "yi": y, "vi": v}))
    for d in frames:
        fast = evsynth.meta_batch(d, by="g", method=method)
        monkeypatch.setattr(kernels, "_SINGLE_FAST", False)
        slow = evsynth.meta_batch(d, by="g", method=method)
        monkeypatch.setattr(kernels, "_SINGLE_FAST", True)
        pd.testing.assert_frame_equal(fast.to_frame(), slow.to_frame(), check_exact=True)
