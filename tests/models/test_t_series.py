"""The Student t tail of the fused (numba) kernels, :func:`evsynth.models._fused.t_two_sided_int`
(Abramowitz & Stegun 1964, 26.7.3-26.7.4, and the incomplete-beta continued fraction of DLMF
8.17.22) against scipy's ``stdtr`` and against 40-digit values (mpmath), and its use for the
t, knha and adhoc p-values of big batches."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

import evsynth
from evsynth.models import kernels
from fixture_data import ragged_batch

_fused = pytest.importorskip("evsynth.models._fused")
pytest.importorskip("numba")


def _stdtr2(df: np.ndarray | float, t: np.ndarray | float) -> np.ndarray:
    return 2 * special.stdtr(np.asarray(df, dtype=float), -np.abs(np.asarray(t, dtype=float)))


@settings(max_examples=400, deadline=None)
@given(df=st.integers(1, 1200),
       t=st.floats(-1e6, 1e6, allow_nan=False) | st.floats(-12, 12, allow_nan=False))
def test_agrees_with_stdtr(df: int, t: float) -> None:
    got = float(_fused.t_two_sided_int(np.array([t]), df)[0])
    want = float(_stdtr2(df, t))
    if want < 1e-300:  # both underflow far out in the tail
        assert got < 1e-290
    elif got != pytest.approx(want, rel=1e-13):
        # stdtr is the one off: e.g. df = 1, t = 1e-10 gives exactly 1 (the p-value is
        # 1 - (2/pi) atan(1e-10) = 1 - 6.4e-11)
        exact = _exact(df, t)
        assert abs(got - exact) <= 1e-14 * exact < abs(want - exact)


def test_accuracy_up_to_the_largest_series_df() -> None:
    """Up to T_SERIES_MAX_DF = 100 the series and the continued fraction lose about
    df x 1e-16 (head sums of df/2 terms, the fraction near the switch): within 3e-14 of
    stdtr, which is accurate at these df (measured: 1.2e-14 at df <= 50, 2.3e-14 at 50-100);
    beyond it stdtr answers, bitwise."""
    rng = np.random.default_rng(8)
    for lo, hi, tol in ((2, 50, 1.5e-14), (50, 100, 3e-14)):
        df = rng.integers(lo, hi + 1, 200_000)
        t = rng.normal(0, 3, df.size)
        got, want = _fused.t_two_sided_int(t, df), _stdtr2(df, t)
        np.testing.assert_allclose(got, want, rtol=tol, atol=1e-300)
    df = rng.integers(_fused.T_SERIES_MAX_DF + 1, 5000, 1000)
    t = rng.normal(0, 3, df.size)
    np.testing.assert_array_equal(_fused.t_two_sided_int(t, df), _stdtr2(df, t))


def test_closed_forms() -> None:
    """df = 1 (Cauchy): p = 1 - (2/pi) atan|t|; df = 2: p = 1 - |t| / sqrt(2 + t^2)
    (A&S 26.7.3-26.7.4 with one term); both written in their tail forms here."""
    for t in (1e-8, 0.3, 1.0, 2.5, 40.0, 1e5):
        assert _fused.t_two_sided_int(np.array([t]), 1)[0] == pytest.approx(
            2 / math.pi * math.atan(1 / t), rel=4e-16)
        assert _fused.t_two_sided_int(np.array([-t]), 2)[0] == pytest.approx(
            2 / (math.sqrt(2 + t * t) * (math.sqrt(2 + t * t) + t)), rel=4e-16)


def _exact(df: int, t: float) -> object:
    """I_x(df/2, 1/2), x = df / (df + t^2) (A&S 26.7.1), in 40 digits."""
    import mpmath

    mpmath.mp.dps = 40
    n = mpmath.mpf(df)
    return mpmath.betainc(n / 2, mpmath.mpf(1) / 2, 0, n / (n + mpmath.mpf(t) ** 2),
                          regularized=True)


def _worst(cases: list[tuple[int, float]]) -> tuple[float, float]:
    """Worst relative error of the series and of stdtr on ``cases`` (df, t)."""
    worst_ours = worst_scipy = 0.0
    for df, t in cases:
        exact = _exact(df, t)
        ours = float(_fused.t_two_sided_int(np.array([t]), df)[0])
        scipy = float(_stdtr2(df, t))
        worst_ours = max(worst_ours, float(abs((ours - exact) / exact)))
        worst_scipy = max(worst_scipy, float(abs((scipy - exact) / exact)))
    return worst_ours, worst_scipy


def test_at_least_as_accurate_as_stdtr() -> None:
    """600 random df <= 60 and |t| log-uniform in 1e-3..200: the series within 1e-14 of the
    40-digit value and no worse than stdtr (measured: 5.0e-15 vs 8.0e-15)."""
    pytest.importorskip("mpmath")
    rng = np.random.default_rng(7)
    cases = [(int(df), float(t)) for df, t in zip(
        rng.integers(1, 61, 600), np.exp(rng.uniform(math.log(1e-3), math.log(200), 600)),
        strict=True)]
    worst_ours, worst_scipy = _worst(cases)
    assert worst_ours < 1e-14
    assert worst_ours <= worst_scipy


def test_accurate_at_the_switch_to_the_head() -> None:
    """df 1..60 just either side of the switch between the continued fraction and the head,
    x = (a + 1) / (a + b + 2), where the head's 1 - (1 - p) (p >= 0.083) loses most:
    within 1e-14 of the 40-digit value (measured: 9.0e-15; stdtr 1.5e-15 there)."""
    pytest.importorskip("mpmath")
    cases = [(df, math.sqrt(df * 3 / (df + 2)) * (1 + side))
             for df in range(1, 61) for side in (-1e-9, 1e-9)]
    worst_ours, worst_scipy = _worst(cases)
    assert worst_ours < 1e-14
    assert worst_scipy < 1e-13


def test_edges_and_fallback() -> None:
    """t = 0 gives 1, infinite t 0, NaN t NaN; df < 1, df > T_SERIES_MAX_DF and |t| >= 1e150
    get scipy's value; t of any shape, df one for all or one per value."""
    t = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e200, 2.0])
    got = _fused.t_two_sided_int(t, 5)
    assert got[0] == 1.0 and got[1] == 1.0
    assert got[2] == 0.0 and got[3] == 0.0
    assert np.isnan(got[4])
    assert got[5] == _stdtr2(5, 1e200)
    dfs = np.array([0, 1, 5000, 3])
    t = np.array([2.0, 1e160, 2.0, 2.0])
    got = _fused.t_two_sided_int(t, dfs)
    assert np.isnan(got[0])  # no degrees of freedom: undefined, as stdtr
    assert got[1] == _stdtr2(1, 1e160)
    assert got[2] == _stdtr2(5000, 2.0)
    assert got[3] == pytest.approx(_stdtr2(3, 2.0), rel=1e-14)
    tt = np.array([[0.5, -3.0], [7.0, 1.5]])
    np.testing.assert_allclose(_fused.t_two_sided_int(tt, np.array([[2, 3], [4, 9]])),
                               _stdtr2(np.array([[2, 3], [4, 9]]), tt), rtol=1e-14)


@pytest.mark.parametrize("test", ["t", "knha", "adhoc"])
def test_batch_t_pvalue_from_series_only_on_fused_kernels(
        test: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A big batch (fused kernels) takes the t-based p-values from the series, a small one
    from stdtr; the two agree to 1e-13 on the same t, and each group's value is that of
    its kernel family (k = 1 groups: NaN either way)."""
    df = ragged_batch(3, 3000, 25, 0.2)
    for method in ("DL", "REML"):
        big = evsynth.meta_batch(df, "g", method=method, test=test).to_frame()
        k = big["k"].to_numpy()
        want = _fused.t_two_sided_int(big["zval"].to_numpy(), k - 1)
        np.testing.assert_array_equal(big["pval"].to_numpy(), want)
        assert np.isnan(big["pval"].to_numpy()[k == 1]).all()
        np.testing.assert_allclose(big["pval"], _stdtr2(k - 1, big["zval"]), rtol=1e-13,
                                   atol=1e-300)
        with monkeypatch.context() as m:
            m.setattr(kernels, "FUSED_MIN_GROUPS", 10**12)
            small = evsynth.meta_batch(df, "g", method=method, test=test).to_frame()
        np.testing.assert_array_equal(small["pval"], _stdtr2(k - 1, small["zval"]))


@pytest.mark.parametrize("kind", ["one", "integers", "fractions", "nan", "2d", "small"])
def test_critical_values_once_per_distinct_df(kind: str) -> None:
    """engine.critical_values computes each distinct df's t quantile once (one df for all; a
    table for integer df, no sort; np.unique otherwise): bitwise scipy's stdtrit of each."""
    from evsynth.models.engine import critical_values

    rng = np.random.default_rng(4)
    df = {"one": np.full(5000, 9.0),
          "integers": rng.integers(0, 60, 5000).astype(float),
          "fractions": rng.uniform(1, 5, 300),
          "nan": np.array([3.0] * 100 + [np.nan]),
          "2d": rng.integers(1, 40, (70, 3)).astype(float),
          "small": np.array([1.0, 4.0, 4.0])}[kind]
    for level in (0.95, 0.9, 0.995):
        got = critical_values("knha", level, df)
        want = special.stdtrit(df, 1 - (1 - level) / 2)
        assert got.shape == df.shape
        np.testing.assert_array_equal(got, want)
