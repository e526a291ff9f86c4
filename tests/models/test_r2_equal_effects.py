"""R^2 of an equal-effects meta-regression (metafor: the adjusted R^2 of the weighted least-squares
regression, floored at 0; 0 when the effects are identical)."""

from __future__ import annotations

import numpy as np
import pytest

import evsynth

V = [0.1, 0.2, 0.3, 0.1, 0.5]
X = np.array([1.0, 2, 3, 4, 5])


def test_r2_matches_metafor():
    # R 4, metafor 3.8.1: rma(c(0.1,0.25,0.3,0.45,0.62), c(0.1,0.2,0.3,0.1,0.5), mods = 1:5,
    # method = "EE")$R2
    fit = evsynth.meta([0.1, 0.25, 0.3, 0.45, 0.62], V, mods=X, method="EE")
    assert fit.R2 == pytest.approx(97.799901109629, rel=1e-11)


@pytest.mark.parametrize("y", [0.3, 0.1 + 0.2, 1 / 3, -7.25])
def test_identical_effects_have_r2_zero(y):
    """metafor sets R^2 = 0 when var(yi) is 0 (rma(rep(0.1 + 0.2, 5), ..., method = "EE")$R2 is
    0); evsynth's RSS ratio was 0/0 or rounding noise there (NaN, or 100 in a fuzz case)."""
    fit = evsynth.meta([y] * 5, V, mods=X, method="EE")
    assert fit.R2 == 0.0
