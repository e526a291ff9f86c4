"""meta_mh with a per-study effect of sampling variance 0 (add = 0, drop00 = False).

A risk difference of a double-zero (or double-all) study without continuity correction is
yi = 0, vi = 0; so is an incidence rate difference with no events in either group, and a log
risk ratio of a study with only events in both groups. Cochran's (inverse-variance) Q is then
undefined, but the Mantel-Haenszel estimate and its variance do not use it: they are returned,
with QE, QEp, I2, H2 = NaN (metafor reports QE = Inf, QEp = 0, I2 = NaN, H2 = Inf).

Reference values: metafor 3.8.1 (tests/reference/fuzz_findings_fixtures.R).
"""

from __future__ import annotations

import json
import math

import matplotlib
import pytest

import evsynth
from fixture_data import load_fixture

matplotlib.use("Agg")

#: metafor's fits of the cases (tests/reference/fuzz_findings_fixtures.R)
CASES = load_fixture("fuzz_findings/mh_zero_variance.json")["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_zero_variance_study_estimate_matches_metafor(case) -> None:
    fit = evsynth.meta_mh(case["measure"], **case["data"], add=0, drop00=False)
    assert fit.beta[0] == pytest.approx(case["beta"], rel=1e-7, abs=1e-12)
    assert fit.se[0] == pytest.approx(case["se"], rel=1e-7)
    assert case["QE"] == "Inf"  # metafor's Q there; evsynth's is undefined (NaN)
    assert fit.k == 3 and fit.k_yi == 3
    assert all(math.isnan(x) for x in (fit.QE, fit.QEp, fit.I2, fit.H2))
    assert fit.method_info["zero_variance_studies"] == [2]
    assert any("sampling variance 0" in n and ": 2;" in n for n in fit.method_info["notes"])
    assert "undefined" in fit.method_info["heterogeneity"]


def test_zero_variance_fit_reports_and_plots() -> None:
    fit = evsynth.meta_mh("RD", ai=[1, 0, 5], bi=[49, 33, 42], ci=[1, 0, 0], di=[23, 33, 19],
                          add=0, drop00=False, slab=["A", "B", "C"])
    text = fit.summary_text()
    assert "Q(df = 2) = NA, p-val NA" in text
    assert "I^2 (total heterogeneity / total variability):  NA" in text
    assert "nan%" not in text and "= nan" not in text
    assert "sampling variance 0" in text and ": B;" in text
    d = fit.to_dict()
    assert d["QE"] is None and d["QEp"] is None and d["I2"] is None and d["H2"] is None
    json.dumps(d, default=str)
    frame = fit.to_frame()
    assert frame["estimate"].iloc[0] == pytest.approx(CASES[0]["beta"], rel=1e-7)
    fig = evsynth.forest(fit)
    assert fig is not None


def test_continuity_correction_keeps_q() -> None:
    """With the default add = 1/2 (to = "only0") the study has vi > 0 and Q is defined."""
    fit = evsynth.meta_mh("RD", ai=[1, 0, 5], bi=[49, 33, 42], ci=[1, 0, 0], di=[23, 33, 19],
                          drop00=False)
    assert math.isfinite(fit.QE) and fit.method_info["zero_variance_studies"] == []
    assert fit.method_info["notes"] == []
