"""Funnel plot of a meta-regression: residuals against their standard errors around 0, as
metafor's funnel.rma draws it (rstandard.rma.uni). Fixtures: tests/reference/funnel_fixtures.R
(metafor 3.8.1) -> tests/reference/rma/funnel_residuals.json."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import evsynth
from evsynth.models.influence import standardized_residuals
from fixture_data import REFERENCE

DATA = REFERENCE / "data"
FIXTURE = REFERENCE / "rma" / "funnel_residuals.json"
CASES = json.loads(FIXTURE.read_text(encoding="utf-8"))["cases"]


def _fit(case):
    d = pd.read_csv(DATA / case["dataset"])
    return evsynth.meta("yi", "vi", data=d, mods=case["mods"], method=case["method"],
                        test=case["test"], control={"tol": 1e-12})


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_residuals_and_their_se_match_metafor(case):
    fit = _fit(case)
    resid, se = standardized_residuals(fit)
    np.testing.assert_allclose(resid, case["rstandard"]["resid"], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(se, case["rstandard"]["se"], rtol=1e-8)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_funnel_points_are_metafors(case):
    fit = _fit(case)
    fig = fit.plot_funnel()
    ax = fig.axes[0]
    points = ax.collections[-1].get_offsets()
    np.testing.assert_allclose(points[:, 0], case["funnel"]["x"], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(points[:, 1], case["funnel"]["y"], rtol=1e-8)
    assert ax.get_xlabel() == "Residual value"
    assert "funnel" in fit.supports()
