"""The fused (numba) intercept-only kernel gives the numpy kernel's results."""

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


@pytest.mark.parametrize("method", ["REML", "ML", "PM", "EB"])
def test_fused_equals_numpy(method, monkeypatch):
    df = _batch(3000, seed=5)
    fused = evsynth.meta_batch(df, by="g", method=method)
    monkeypatch.setattr(kernels, "FUSED_MIN_GROUPS", 10**12)
    plain = evsynth.meta_batch(df, by="g", method=method)
    np.testing.assert_allclose(fused["tau2"], plain["tau2"], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(fused["estimate"], plain["estimate"], rtol=1e-10, atol=1e-13)
    assert fused["converged"].all() and plain["converged"].all()
    assert (fused["tau2"] >= 0).all()
