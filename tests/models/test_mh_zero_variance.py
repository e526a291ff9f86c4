"""meta_mh with a per-study effect of sampling variance 0 (add = 0, drop00 = False).

A risk difference of a double-zero (or double-all) study without continuity correction is
yi = 0, vi = 0; so is an incidence rate difference with no events in either group, and a log
risk ratio of a study with only events in both groups. Cochran's (inverse-variance) Q is then
undefined, but the Mantel-Haenszel estimate and its variance do not use it: they are returned,
with QE, QEp, I2, H2 = NaN (metafor reports QE = Inf, QEp = 0, I2 = NaN, H2 = Inf).

Reference values: metafor 3.8-1, R 4 (the calls are given with each case).
"""

from __future__ import annotations

import json
import math

import matplotlib
import pytest

import evsynth

matplotlib.use("Agg")

CASES = [
    # rma.mh(measure="RD", ai=c(1,0,5), bi=c(49,33,42), ci=c(1,0,0), di=c(23,33,19),
    #        add=0, drop00=FALSE)
    ("RD", dict(ai=[1, 0, 5], bi=[49, 33, 42], ci=[1, 0, 0], di=[23, 33, 19]),
     0.0235270157791276, 0.0223688628685899),
    # rma.mh(measure="RD", ai=c(1,0,5), bi=c(49,10,42), ci=c(1,10,0), di=c(23,0,19), add=0,
    #        drop00=FALSE): study 2 has no events in one group and only events in the other
    ("RD", dict(ai=[1, 0, 5], bi=[49, 10, 42], ci=[1, 10, 0], di=[23, 0, 19]),
     -0.1125855912128319, 0.0581016552162832),
    # rma.mh(measure="RR", ai=c(1,5,5), bi=c(49,0,42), ci=c(1,7,2), di=c(23,0,19), add=0,
    #        drop00=FALSE): study 2 has only events in both groups
    ("RR", dict(ai=[1, 5, 5], bi=[49, 0, 42], ci=[1, 7, 2], di=[23, 0, 19]),
     -0.0388553906669213, 0.2728262364306815),
    # rma.mh(measure="IRD", x1i=c(1,0,5), t1i=c(100,50,80), x2i=c(3,0,2), t2i=c(90,60,70),
    #        add=0, drop00=FALSE)
    ("IRD", dict(x1i=[1, 0, 5], t1i=[100, 50, 80], x2i=[3, 0, 2], t2i=[90, 60, 70]),
     0.00144143117593436, 0.01471025488946276),
]


@pytest.mark.parametrize(("measure", "data", "beta", "se"), CASES)
def test_zero_variance_study_estimate_matches_metafor(measure, data, beta, se) -> None:
    fit = evsynth.meta_mh(measure, **data, add=0, drop00=False)
    assert fit.beta[0] == pytest.approx(beta, rel=1e-7, abs=1e-12)
    assert fit.se[0] == pytest.approx(se, rel=1e-7)
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
    assert frame["estimate"].iloc[0] == pytest.approx(0.0235270157791276, rel=1e-7)
    fig = evsynth.forest(fit)
    assert fig is not None


def test_continuity_correction_keeps_q() -> None:
    """With the default add = 1/2 (to = "only0") the study has vi > 0 and Q is defined."""
    fit = evsynth.meta_mh("RD", ai=[1, 0, 5], bi=[49, 33, 42], ci=[1, 0, 0], di=[23, 33, 19],
                          drop00=False)
    assert math.isfinite(fit.QE) and fit.method_info["zero_variance_studies"] == []
    assert fit.method_info["notes"] == []
