"""R^2 of an equal-effects meta-regression (metafor: the adjusted R^2 of the weighted least-squares
regression, floored at 0; 0 when the effects are identical)."""

from __future__ import annotations

import numpy as np
import pytest

import evsynth
from fixture_data import load_fixture

V = [0.1, 0.2, 0.3, 0.1, 0.5]
X = np.array([1.0, 2, 3, 4, 5])


@pytest.mark.parametrize("case", load_fixture("fuzz_findings/r2_equal_effects.json")["cases"],
                         ids=lambda c: c["id"])
def test_r2_matches_metafor(case):
    """metafor 3.8.1 (tests/reference/fuzz_findings_fixtures.R): 97.80 for ordinary effects, 0
    for identical ones (0.1 + 0.2, where the RSS ratio is rounding noise)."""
    fit = evsynth.meta(case["yi"], case["vi"], mods=np.array(case["mods"], dtype=float),
                       method="EE")
    assert fit.R2 == pytest.approx(case["R2"], rel=1e-11, abs=1e-12)


@pytest.mark.parametrize("y", [0.3, 0.1 + 0.2, 1 / 3, -7.25])
def test_identical_effects_have_r2_zero(y):
    """metafor sets R^2 = 0 when var(yi) is 0 (rma(rep(0.1 + 0.2, 5), ..., method = "EE")$R2 is
    0); evsynth's RSS ratio was 0/0 or rounding noise there (NaN, or 100 in a fuzz case)."""
    fit = evsynth.meta([y] * 5, V, mods=X, method="EE")
    assert fit.R2 == 0.0
