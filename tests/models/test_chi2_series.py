"""The chi-square tail of the fused (numba) kernels, :func:`evsynth.models._fused.chi2_upper_int`:
the finite series of Abramowitz & Stegun (1964) 26.4.4-26.4.5 against scipy's ``chdtrc`` and
against 40-digit values (mpmath), and its use for the p-value of Q in big batches."""

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


@settings(max_examples=300, deadline=None)
@given(df=st.integers(1, 1500), x=st.floats(0, 3000, allow_nan=False))
def test_series_agrees_with_chdtrc(df: int, x: float) -> None:
    got = float(_fused.chi2_upper_int(np.array([x]), df)[0])
    want = float(special.chdtrc(df, x))
    if want < 1e-300:  # both underflow far out in the tail
        assert got < 1e-290
    else:
        assert got == pytest.approx(want, rel=2e-13)


def test_series_edges() -> None:
    x = np.array([np.nan, -1.0, 0.0, np.inf, 1e-300, 1500.0, 2.0])
    got = _fused.chi2_upper_int(x, 3)
    assert np.isnan(got[0])
    assert got[1] == 1.0 and got[2] == 1.0
    assert got[3] == 0.0
    assert got[4] == pytest.approx(1.0)
    assert got[5] == special.chdtrc(3.0, 1500.0)  # beyond the series: scipy's value
    assert got[6] == pytest.approx(special.chdtrc(3.0, 2.0), rel=1e-14)
    # df one per value, beyond the series' df (scipy's value)
    dfs = np.array([1, 2, 2000])
    got = _fused.chi2_upper_int(np.array([3.0, 3.0, 2100.0]), dfs)
    np.testing.assert_allclose(got, special.chdtrc(dfs.astype(float), [3.0, 3.0, 2100.0]),
                               rtol=1e-14)
    assert got[2] == special.chdtrc(2000.0, 2100.0)


def test_series_closed_forms() -> None:
    """Exact small cases: df = 2 is e^(-x/2); df = 1 is erfc(sqrt(x/2)) (A&S 26.4.4-5)."""
    for x in (0.1, 1.0, 7.5, 60.0, 700.0):
        assert _fused.chi2_upper_int(np.array([x]), 2)[0] == math.exp(-x / 2)
        assert _fused.chi2_upper_int(np.array([x]), 1)[0] == math.erfc(math.sqrt(x / 2))


def test_series_at_least_as_accurate_as_chdtrc() -> None:
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    rng = np.random.default_rng(5)
    worst_series = worst_scipy = 0.0
    for _ in range(400):
        df = int(rng.integers(1, 60))
        x = float(rng.chisquare(df) * rng.uniform(0.1, 3))
        exact = mpmath.gammainc(mpmath.mpf(df) / 2, mpmath.mpf(x) / 2, mpmath.inf,
                                regularized=True)
        series = float(_fused.chi2_upper_int(np.array([x]), df)[0])
        scipy = float(special.chdtrc(df, x))
        worst_series = max(worst_series, float(abs((series - exact) / exact)))
        worst_scipy = max(worst_scipy, float(abs((scipy - exact) / exact)))
    assert worst_series < 5e-15
    assert worst_series <= worst_scipy


def test_batch_q_pvalue_from_series_only_on_fused_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """A big batch (fused kernels) takes QEp from the series, a small one from chdtrc; both
    agree to ~1e-14, and each group's value is that of its kernel family."""
    df = ragged_batch(2, 3000, 20, 0)
    for method in ("DL", "REML"):
        big = evsynth.meta_batch(df, "g", method=method).to_frame()
        k = big["k"].to_numpy()
        want = np.where(k > 1, _fused.chi2_upper_int(big["QE"].to_numpy(),
                                                     np.maximum(k - 1, 1)), 1.0)
        assert np.array_equal(big["QEp"].to_numpy(), want)
        with monkeypatch.context() as m:
            m.setattr(kernels, "FUSED_MIN_GROUPS", 10**12)
            small = evsynth.meta_batch(df, "g", method=method).to_frame()
        np.testing.assert_allclose(big["QEp"], small["QEp"], rtol=1e-12, atol=1e-300)


def test_series_into_out_and_in_place() -> None:
    """Written into ``out``, also when ``out`` is x itself (values beyond the series still
    from scipy), with df one for all or one per value, x of any shape."""
    x = np.array([[1.0, 1500.0], [2.0, 3000.0]])
    want = special.chdtrc(3.0, x)
    out = np.empty_like(x)
    assert _fused.chi2_upper_int(x, 3, out=out) is out
    np.testing.assert_allclose(out, want, rtol=1e-14)
    same = x.copy()
    _fused.chi2_upper_int(same, 3, out=same)
    np.testing.assert_allclose(same, want, rtol=1e-14)
    dfs = np.array([[1, 2], [3, 2000]])
    np.testing.assert_allclose(_fused.chi2_upper_int(x, dfs),
                               special.chdtrc(dfs.astype(float), x), rtol=1e-14, atol=1e-300)
