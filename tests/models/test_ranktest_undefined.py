"""ranktest when Kendall's tau is undefined (all variances equal): p is NaN, not 1.

metafor 3.8-1: ranktest(rma(y, rep(0.5, 22), method = "DL")) gives tau = NA, pval = NA (R's
cor.test: the correlation with a constant is NA). The tie-corrected variance of Kendall's S is
exactly 0 then; in floating point it came out as rounding noise > 0, so z = 0 and p = 1.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import evsynth
from evsynth.models.bias import kendall_test
from fixture_data import load_fixture

Y = [1.5, 1.3, 0.7, 0.9, -0.5, 1.1, 1.1, 0.4, 1.9, -0.9, -0.3, 1.9, -0.7, -0.3, 1.3, 1.3, 0, 0,
     -1.3, 0.5, 0.7, 0.1]


def test_ranktest_equal_variances_gives_nan() -> None:
    res = evsynth.meta(Y, [0.5] * 22, method="DL").ranktest()
    assert math.isnan(res.tau)
    assert math.isnan(res.pval)
    text = res.summary_text()
    assert "Kendall's tau = NA, p = NA" in text
    d = res.to_dict()
    assert d["tau"] is None and d["pval"] is None
    json.dumps(d)  # serialisable (NaN -> null)
    frame = res.to_frame()
    assert frame["tau"].isna().all() and frame["pval"].isna().all()


def test_kendall_constant_x_or_y() -> None:
    rng = np.random.default_rng(3)
    y = np.round(rng.normal(size=22), 1)
    for x, yy in ((np.full(22, 0.7), y), (y, np.full(22, -1.0))):
        tau, p, exact = kendall_test(x, yy)
        assert math.isnan(tau) and math.isnan(p) and not exact


def test_kendall_with_ties_unchanged() -> None:
    """Ordinary tied data: the p-value of the normal approximation as before, against R's
    cor.test(x, y, method = "kendall", exact = FALSE) (tests/reference/
    fuzz_findings_fixtures.R)."""
    case = load_fixture("fuzz_findings/kendall_ties.json")["cases"][0]
    tau, p, exact = kendall_test(np.array(case["x"], dtype=float),
                                 np.array(case["y"], dtype=float))
    assert not exact
    assert p == pytest.approx(case["pval"], rel=1e-9)
    assert tau == pytest.approx(case["tau"], rel=1e-9)
