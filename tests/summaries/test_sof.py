"""Summary of Findings rows: absolute effects from the analysis dict (no new pooling)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sof_samples import binary, continuous, judgements

from evsynth.errors import InputError
from evsynth.summaries.grade import certainty
from evsynth.summaries.sof import format_number, number_needed_to_treat, sof_row


def row(a, j=None):
    return sof_row(a, certainty(j, a))


def test_continuous_issue_example():
    r = row(continuous(), judgements(imprecision=1))
    assert r["outcome"] == "Pain" and r["follow_up"] == "6 to 12 months"
    assert r["outcome_text"].startswith("Pain (0-10 numerical rating scale")
    assert r["control"]["value"] == 5.0
    iv = r["intervention"]
    assert iv["value"] == pytest.approx(4.3) and iv["ci_lb"] == pytest.approx(3.8)
    assert iv["ci_ub"] == pytest.approx(4.7)
    assert r["intervention_text"] == "mean 4.3 points (3.8 to 4.7)"
    assert r["control_text"] == "mean 5 points"
    assert r["difference_text"] == "MD 0.7 points lower (1.2 lower to 0.3 lower)"
    pct = r["percent_of_scale"]
    assert (pct["estimate"], pct["ci_lb"], pct["ci_ub"]) == pytest.approx((-7, -12, -3))
    assert r["percent_text"].startswith("7% lower (12% lower to 3% lower)")
    assert r["participants_text"] == "427 (3 RCTs)"
    assert r["certainty_text"] == "⊕⊕⊕◯ Moderate"
    assert r["comments"][0] == "Downgraded one level for imprecision: reason for imprecision"
    assert "I² 35%" in r["comments"] and "1 study left out" in r["comments_text"]
    assert r["relative"] is None and r["nnt"] is None


def test_percent_uses_scale_range_not_max():
    r = row(continuous(outcome={"scale_min": 10.0, "scale_max": 30.0}))
    assert r["percent_of_scale"]["estimate"] == pytest.approx(-0.7 / 20 * 100)
    assert "10 to 30 scale" in r["percent_text"]


def test_unknown_scale_and_control_mean():
    r = row(continuous(outcome={"scale_min": None, "scale_max": None},
                       control_summary={"continuous": None}))
    assert r["percent_of_scale"] is None and r["intervention"] is None
    assert r["difference_text"].startswith("MD 0.7 points lower")
    assert "control-group mean unknown" in r["comments_text"]


def test_smd_re_expressed_with_control_sd():
    a = continuous(measure="SMD", outcome={"measure": "SMD"},
                   pooled={"estimate": -0.5, "ci_lb": -0.8, "ci_ub": -0.2})
    r = row(a)
    assert r["smd"] == {"estimate": -0.5, "ci_lb": -0.8, "ci_ub": -0.2}
    pts = r["points"]
    assert pts["approximate"]
    assert (pts["estimate"], pts["ci_lb"], pts["ci_ub"]) == pytest.approx((-1.4, -2.24, -0.56))
    assert r["difference_text"].startswith("SMD 0.5 lower (0.8 lower to 0.2 lower); about 1.4")
    assert r["intervention"]["value"] == pytest.approx(3.6)
    assert "approximate" in r["comments_text"] and "15.5.3.1" in r["comments_text"]
    # no control SD: SMD only
    r = row(_nosd(a))
    assert r["points"] is None and "control-group SD unknown" in r["comments_text"]


def _nosd(a):
    a = dict(a)
    a["control_summary"] = {"continuous": {"mean": 5.0, "sd": None}}
    return a


def test_binary_rr_per_1000_and_nnt():
    r = row(binary("RR"))
    acr = 0.23
    assert r["control"]["per_1000"] == 230
    assert r["intervention"]["per_1000"] == round(1000 * acr * 0.8)
    assert r["intervention"]["ci_lb"] == round(1000 * acr * 0.6)
    assert r["intervention"]["ci_ub"] == round(1000 * acr * 1.07)
    assert r["relative_text"] == "RR 0.80 (0.60 to 1.07)"
    assert r["difference_text"] == "46 fewer per 1000 (92 fewer to 16 more)"
    assert r["nnt"]["kind"] == "NNTB" and r["nnt"]["value"] == math.ceil(1 / (acr * 0.2))
    assert r["nnt"]["ci_lb"] is None          # CI of the ARD includes 0 (Altman 1998)
    assert r["nnt"]["ci_text"].startswith("NNTB ") and " to ∞ to NNTH " in r["nnt"]["ci_text"]
    assert "median control-group risk of 3 studies" in r["comments_text"]


def test_binary_or_formula_and_given_acr():
    r = row(binary("OR", outcome={"assumed_control_risk": 0.1}))
    def risk(o):
        return o * 0.1 / (1 - 0.1 + o * 0.1)
    assert r["control"]["per_1000"] == 100
    assert r["intervention"]["per_1000"] == round(1000 * risk(0.75))
    assert r["intervention"]["ci_lb"] == round(1000 * risk(0.5))
    assert r["intervention"]["ci_ub"] == round(1000 * risk(1.12))
    assert r["assumed_control_risk"]["source"] == "assumed control risk given in review.toml"


def test_binary_rd_adds_to_acr():
    r = row(binary("RD"))
    assert r["relative"] is None
    assert r["intervention"]["per_1000"] == round(1000 * (0.23 - 0.04))
    assert r["difference_text"] == "40 fewer per 1000 (90 fewer to 10 more)"


def test_binary_without_control_risk():
    r = row(binary("RR", control_summary={"binary": None}))
    assert r["intervention"] is None and r["nnt"] is None
    assert r["relative_text"] == "RR 0.80 (0.60 to 1.07)"
    assert "Absolute effects not shown" in r["comments_text"]


def test_nnt_ci_when_ard_excludes_zero_and_harm():
    n = number_needed_to_treat(-0.1, -0.2, -0.05, low_better=True)
    assert (n["kind"], n["value"], n["ci_lb"], n["ci_ub"]) == ("NNTB", 10, 5, 20)
    n = number_needed_to_treat(0.1, 0.05, 0.2, low_better=True)
    assert n["kind"] == "NNTH"
    n = number_needed_to_treat(0.1, 0.05, 0.2, low_better=False)
    assert n["kind"] == "NNTB"
    assert number_needed_to_treat(0.0, -0.1, 0.1, True) is None


def test_no_studies_row():
    r = row(continuous(k=0, pooled=None, participants=0))
    assert r["participants_text"] == "0 (0 RCTs)" and r["intervention"] is None
    assert "could be pooled" in r["comments_text"]


def test_bad_input():
    g = certainty(None, continuous())
    with pytest.raises(InputError, match="outcome.kind"):
        sof_row(continuous(outcome={"kind": "ordinal"}), g)
    with pytest.raises(InputError, match="'measure' is 'OR' for a continuous"):
        sof_row(continuous(measure="OR"), g)
    with pytest.raises(InputError, match="'measure' is 'MD' for a binary"):
        sof_row(binary(measure="RR") | {"measure": "MD", "log_scale": False}, g)
    with pytest.raises(InputError, match="scale_max"):
        sof_row(continuous(outcome={"scale_min": 10.0, "scale_max": 0.0}), g)
    with pytest.raises(InputError, match="pooled.estimate"):
        sof_row(continuous(pooled={"estimate": float("inf")}), g)
    with pytest.raises(InputError, match="control_summary.continuous.mean"):
        sof_row(continuous(control_summary={"continuous": {"mean": "five", "sd": 2.0}}), g)
    with pytest.raises(InputError, match="assumed_control_risk"):
        sof_row(binary(outcome={"assumed_control_risk": 1.5}), g)
    with pytest.raises(InputError, match="grade is NoneType"):
        sof_row(continuous(), None)


def test_format_number():
    assert format_number(5.0, 1) == "5" and format_number(4.25, 1) in ("4.2", "4.3")
    assert format_number(-0.01, 1) == "0" and format_number(12.0, 0) == "12"


finite = st.floats(-5, 5, allow_nan=False)


@given(finite, st.floats(0.01, 3), st.floats(0, 10), st.booleans())
def test_intervention_minus_control_is_the_md(md, half, cmean, low_better):
    a = continuous(pooled={"estimate": md, "ci_lb": md - half, "ci_ub": md + half},
                   control_summary={"continuous": {"mean": cmean, "sd": 2.0}},
                   outcome={"direction": "lower_is_better" if low_better else
                            "higher_is_better"})
    r = row(a)
    iv = r["intervention"]
    assert iv["value"] - cmean == pytest.approx(md, abs=1e-9)
    assert iv["ci_ub"] - iv["ci_lb"] == pytest.approx(2 * half)
    assert r["percent_of_scale"]["estimate"] == pytest.approx(md * 10, abs=1e-9)
    b = r["points"]["benefit"]
    assert b["ci_lb"] <= b["ci_ub"]
    assert b["estimate"] == pytest.approx(-md if low_better else md)


@given(st.floats(0.01, 0.99), st.floats(-2, 2), st.floats(0.01, 1), st.sampled_from(["OR", "RR"]))
def test_binary_risks_are_ordered_and_bounded(acr, logest, half, m):
    a = binary(m, outcome={"assumed_control_risk": acr},
               pooled={"estimate": logest, "ci_lb": logest - half, "ci_ub": logest + half})
    r = row(a)
    iv = r["intervention"]
    assert 0 <= iv["ci_lb"] <= iv["per_1000"] <= iv["ci_ub"] <= 1000
    ab = r["absolute"]
    assert ab["ci_lb"] <= ab["difference_per_1000"] <= ab["ci_ub"]


def test_nnt_ci_through_infinity_when_ard_includes_zero():
    """Altman 1998: ARD -0.05 (-0.10 to 0.02), lower is better -> NNTB 20 (NNTB 10 to inf to
    NNTH 50)."""
    n = number_needed_to_treat(-0.05, -0.10, 0.02, True)
    assert (n["kind"], n["value"], n["ci_text"]) == ("NNTB", 20, "NNTB 10 to ∞ to NNTH 50")


def test_participants_name_the_design_the_certainty_started_from():
    """GRADEpro writes '(k RCTs)' or '(k observational studies)'; the SoF always wrote RCTs,
    also for cohort studies rated from start = 'low' (fuzz round 5)."""
    a = continuous()
    j = judgements()
    assert row(a, j)["participants_text"].endswith(" RCTs)")
    j["start"] = "low"
    low = row(a, j)["participants_text"]
    assert low.endswith(f"({a['k']} observational studies)")
