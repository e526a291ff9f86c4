"""Plain-language key results in the words of the Cochrane summaries, hedged by certainty."""

from __future__ import annotations

import pytest
from sof_samples import binary, continuous, judgements

from evsynth.errors import InputError
from evsynth.summaries.grade import certainty
from evsynth.summaries.plain_language import key_result, lower_first
from evsynth.summaries.sof import sof_row

ISSUE = ("Pain improved by 7% (3% better to 12% better), or 0.7 points (0.3 better to 1.2 "
         "better) on a 0 to 10-point scale. People who had vertebroplasty rated their pain as "
         "4.3 points; people who had placebo, 5 points.")


def text(a, j=None):
    return key_result(a, sof_row(a, certainty(j, a)))


def test_issue_sentence_exact_when_not_assessed():
    assert text(continuous()) == ISSUE + " The certainty of the evidence was not assessed."


@pytest.mark.parametrize("dg,lead", [
    ({}, "Compared with placebo, vertebroplasty results in little or no difference in pain."),
    ({"imprecision": 1}, "Compared with placebo, vertebroplasty probably results in little or "
                         "no difference in pain."),
    ({"imprecision": 2}, "Compared with placebo, vertebroplasty may result in little or no "
                         "difference in pain."),
    ({"imprecision": 2, "risk_of_bias": 1},
     "The evidence is very uncertain about the effect of vertebroplasty on pain compared with "
     "placebo.")])
def test_hedging_by_certainty(dg, lead):
    assert text(continuous(), judgements(**dg)) == f"{lead} {ISSUE}"


def test_important_improvement_and_worsening():
    big = continuous(pooled={"estimate": -2.0, "ci_lb": -2.6, "ci_ub": -1.4})
    t = text(big, judgements())
    assert t.startswith("Compared with placebo, vertebroplasty results in an improvement in pain.")
    assert "Pain improved by 20% (14% better to 26% better), or 2 points (1.4 better to 2.6 " \
           "better)" in t
    worse = continuous(pooled={"estimate": 2.0, "ci_lb": -0.2, "ci_ub": 4.2})
    t = text(worse, judgements())
    assert "a worsening in pain" in t
    assert "Pain worsened by 20% (2% better to 42% worse), or 2 points (0.2 better to 4.2 " \
           "worse)" in t
    assert "rated their pain as 7 points; people who had placebo, 5 points" in t


def test_higher_is_better():
    a = continuous(outcome={"label": "Quality of life", "direction": "higher_is_better"},
                   pooled={"estimate": 0.7, "ci_lb": 0.3, "ci_ub": 1.2})
    t = text(a)
    assert t.startswith("Quality of life improved by 7% (3% better to 12% better)")
    assert "rated their quality of life as 5.7 points" in t


def test_smd_wording():
    a = continuous(measure="SMD", pooled={"estimate": -0.5, "ci_lb": -0.8, "ci_ub": -0.2})
    t = text(a)
    assert t.startswith("Pain improved by 0.5 standard deviations (0.2 better to 0.8 better; "
                        "standardised mean difference).")
    assert "This is about 1.4 points (0.56 better to 2.24 better) on a 0 to 10-point scale" \
        not in t  # points use the scale's decimals
    assert "This is about 1.4 points (0.6 better to 2.2 better) on a 0 to 10-point scale" in t
    assert "rated their pain as about 3.6 points" in t


def test_binary_per_1000():
    t = text(binary("RR"), judgements(imprecision=1))
    assert t == ("Compared with usual care, vertebroplasty probably results in little or no "
                 "difference in new vertebral fractures. 184 per 1000 people who had "
                 "vertebroplasty had new vertebral fractures (138 to 246), compared with 230 per "
                 "1000 people who had usual care (46 fewer per 1000; 92 fewer to 16 more).")
    t = text(binary("RR", control_summary={"binary": None}))
    assert "risk ratio of new vertebral fractures with vertebroplasty compared with usual " \
           "care was 0.80 (0.60 to 1.07)" in t


def test_binary_reduction_lead():
    a = binary("RR", pooled={"estimate": -0.7, "ci_lb": -1.0, "ci_ub": -0.4})
    assert "vertebroplasty results in a reduction in new vertebral fractures" in text(
        a, judgements())


def test_no_trials():
    a = continuous(k=0, pooled=None, participants=0)
    assert text(a, judgements()) == ("No trial reported pain (6 to 12 months) for "
                                     "vertebroplasty compared with placebo in a form we could "
                                     "pool.")


def test_acronyms_keep_case_and_bad_row():
    assert lower_first("OPM") == "OPM" and lower_first("Placebo") == "placebo"
    with pytest.raises(InputError, match="sof_row"):
        key_result(continuous(), {})


def test_small_bounds_get_more_decimals_and_singular_point():
    # INVEST 1 year: MD 1.02 (0.04 to 2.01) lower pain; 0.04 must not show as "0"
    a = continuous(pooled={"estimate": -1.02, "ci_lb": -2.01, "ci_ub": -0.04},
                   control_summary={"continuous": None})
    t = text(a)
    assert t.startswith("Pain improved by 10.2% (0.4% better to 20.1% better), or 1.02 points "
                        "(0.04 better to 2.01 better) on a 0 to 10-point scale.")
    a = continuous(pooled={"estimate": -1.0, "ci_lb": -1.6, "ci_ub": -0.4})
    assert "or 1 point (0.4 better to 1.6 better)" in text(a)
