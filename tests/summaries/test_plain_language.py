"""Plain-language key results: differences between groups (never changes over time), GRADE 26
certainty statements, digit grouping."""

from __future__ import annotations

import re

import pytest
from sof_samples import binary, continuous, judgements

from evsynth.errors import InputError
from evsynth.summaries.grade import certainty
from evsynth.summaries.plain_language import (
    certainty_lead,
    difference_sentence,
    effect_kind,
    key_result,
    lower_first,
)
from evsynth.summaries.sof import sof_row

# the issue's sentence (issue 11, point 4)
ISSUE = ("Pain was 0.7 points lower (0.3 to 1.2 lower) with vertebroplasty than with placebo, "
         "7% of the 0 to 10 scale.")
MEANS = "The mean pain score was 5 points with placebo and 4.3 points (3.8 to 4.7) with " \
        "vertebroplasty."
#: words that describe a change over time; a between-group result must never use them
CHANGE_WORDS = re.compile(r"\b(improved|worsened|changed|decreased|increased) by\b", re.I)


def text(a, j=None):
    return key_result(a, sof_row(a, certainty(j, a)))


def test_issue_sentence_exact_when_not_assessed():
    assert text(continuous()) == f"{ISSUE} {MEANS} The certainty of the evidence was not " \
                                 "assessed."


@pytest.mark.parametrize("dg,lead", [
    # GRADE 26 (Santesso 2020, Table 2): trivial effect (inside the MID of 1.5 points)
    ({}, "Vertebroplasty results in little to no difference in pain compared with placebo."),
    ({"imprecision": 1}, "Vertebroplasty probably results in little to no difference in pain "
                         "compared with placebo."),
    ({"imprecision": 2}, "Vertebroplasty may result in little to no difference in pain "
                         "compared with placebo."),
    ({"imprecision": 2, "risk_of_bias": 1},
     "We are very uncertain whether vertebroplasty affects pain compared with placebo.")])
def test_certainty_statements(dg, lead):
    assert text(continuous(), judgements(**dg)) == f"{lead} {ISSUE} {MEANS}"


@pytest.mark.parametrize("dg,verb", [({}, "reduces"), ({"imprecision": 1}, "probably reduces"),
                                     ({"imprecision": 2}, "may reduce")])
def test_important_reduction_by_certainty(dg, verb):
    big = continuous(pooled={"estimate": -2.0, "ci_lb": -2.6, "ci_ub": -1.4})
    t = text(big, judgements(**dg))
    assert t.startswith(f"Vertebroplasty {verb} pain compared with placebo.")
    assert "Pain was 2 points lower (1.4 to 2.6 lower) with vertebroplasty than with placebo, " \
           "20% of the 0 to 10 scale." in t
    very_low = text(big, judgements(imprecision=2, risk_of_bias=2))
    assert very_low.startswith("We are very uncertain whether vertebroplasty reduces pain")


def test_interval_through_zero_and_increase():
    worse = continuous(pooled={"estimate": 2.0, "ci_lb": -0.2, "ci_ub": 4.2})
    t = text(worse, judgements())
    assert t.startswith("Vertebroplasty increases pain compared with placebo.")
    assert "Pain was 2 points higher (0.2 lower to 4.2 higher) with vertebroplasty than with " \
           "placebo, 20% of the 0 to 10 scale." in t
    assert "5 points with placebo and 7 points (4.8 to 9.2) with vertebroplasty" in t


def test_never_a_change_over_time():
    cases = [continuous(), continuous(pooled={"estimate": 2.0, "ci_lb": -0.2, "ci_ub": 4.2}),
             continuous(measure="SMD", pooled={"estimate": -0.5, "ci_lb": -0.8, "ci_ub": -0.2}),
             continuous(measure="MD_CHANGE"), binary("RR"), binary("OR"), binary("RD"),
             binary("RR", control_summary={"binary": None})]
    for a in cases:
        for j in (None, judgements(), judgements(imprecision=2, risk_of_bias=1)):
            t = text(a, j)
            assert not CHANGE_WORDS.search(t), t
            assert "better" not in t and "worse" not in t, t


def test_higher_is_better():
    a = continuous(outcome={"label": "Quality of life", "direction": "higher_is_better"},
                   pooled={"estimate": 0.7, "ci_lb": 0.3, "ci_ub": 1.2})
    t = text(a)
    assert t.startswith("Quality of life was 0.7 points higher (0.3 to 1.2 higher) with "
                        "vertebroplasty than with placebo, 7% of the 0 to 10 scale.")
    assert "The mean quality of life score was 5 points with placebo and 5.7 points" in t


def test_smd_wording():
    a = continuous(measure="SMD", pooled={"estimate": -0.5, "ci_lb": -0.8, "ci_ub": -0.2})
    t = text(a)
    assert t.startswith("Pain was 0.5 standard deviations lower (0.2 to 0.8 lower) with "
                        "vertebroplasty than with placebo (standardised mean difference).")
    # points use the scale's decimals: SMD x control SD 2.8 = 1.4 (0.56 -> 0.6, 2.24 -> 2.2)
    assert "This is about 1.4 points lower (0.6 to 2.2 lower) on the 0 to 10 scale, using the " \
           "control group's standard deviation." in t
    assert "about 3.6 points (2.8 to 4.4) with vertebroplasty" in t


def test_change_scores_say_so():
    t = text(continuous(measure="MD_CHANGE"))
    assert "with vertebroplasty than with placebo (difference in change from baseline), 7% " \
           "of the 0 to 10 scale" in t


def test_binary_per_1000_with_digit_grouping_and_ratio():
    t = text(binary("RR"), judgements(imprecision=1))
    assert t == ("Vertebroplasty probably results in little to no difference in the risk of new "
                 "vertebral fractures compared with usual care. With vertebroplasty, 184 per "
                 "1,000 people (138 to 246) had new vertebral fractures, versus 230 per 1,000 "
                 "with usual care: 46 fewer per 1,000 (92 fewer to 16 more); risk ratio 0.80 "
                 "(0.60 to 1.07).")
    t = text(binary("RR", control_summary={"binary": None}))
    assert t.startswith("Risk ratio 0.80 (0.60 to 1.07) for new vertebral fractures with "
                        "vertebroplasty versus usual care")


def test_binary_reduction_lead_and_odds_ratio():
    a = binary("OR", pooled={"estimate": -0.7, "ci_lb": -1.0, "ci_ub": -0.4})
    t = text(a, judgements())
    assert t.startswith("Vertebroplasty reduces the risk of new vertebral fractures compared "
                        "with usual care.")
    assert "101 fewer per 1,000 (63 to 131 fewer); odds ratio 0.50 (0.37 to 0.67)." in t


def test_risk_difference_without_control_risk():
    t = text(binary("RD", control_summary={"binary": None}))
    assert t.startswith("With vertebroplasty, 40 fewer per 1,000 people (90 fewer to 10 more) "
                        "had new vertebral fractures than with usual care.")


def test_no_trials():
    a = continuous(k=0, pooled=None, participants=0, excluded=[])
    assert text(a, judgements()) == ("No trial reported pain (6 to 12 months) for "
                                     "vertebroplasty compared with placebo in a form we could "
                                     "pool.")
    # trials that reported the outcome but could not be pooled are not "no trial reported"
    b = continuous(k=0, pooled=None, participants=0)
    assert text(b, judgements()) == ("The trial that reported pain (6 to 12 months) for "
                                     "vertebroplasty compared with placebo did not report it in "
                                     "a form we could pool.")
    zero = [{"study_id": s, "reason": "effect not estimable: dropped: no events"}
            for s in ("A", "B")]
    c = continuous(k=0, pooled=None, participants=0, excluded=zero)
    assert text(c, judgements()) == ("The 2 trials that reported pain (6 to 12 months) for "
                                     "vertebroplasty compared with placebo had no events in "
                                     "either group; such trials give no estimate of a relative "
                                     "effect, so none was pooled.")
    assert certainty_lead(a, {"kind": "continuous", "certainty": {"level": "high"}}) == ""
    with pytest.raises(InputError, match="no pooled result"):
        effect_kind(a)


def test_acronyms_keep_case_and_bad_row():
    assert lower_first("OPM") == "OPM" and lower_first("Placebo") == "placebo"
    with pytest.raises(InputError, match="sof_row"):
        key_result(continuous(), {})


def test_small_bounds_get_more_decimals_and_singular_point():
    # INVEST 1 year: MD 1.02 (0.04 to 2.01) lower pain; 0.04 must not show as "0"
    a = continuous(pooled={"estimate": -1.02, "ci_lb": -2.01, "ci_ub": -0.04},
                   control_summary={"continuous": None})
    assert text(a).startswith("Pain was 1.02 points lower (0.04 to 2.01 lower) with "
                              "vertebroplasty than with placebo, 10.2% of the 0 to 10 scale.")
    a = continuous(pooled={"estimate": -1.0, "ci_lb": -1.6, "ci_ub": -0.4})
    assert "Pain was 1 point lower (0.4 to 1.6 lower)" in text(a)


def test_difference_sentence_large_numbers_grouped():
    row = {"kind": "continuous", "measure": "MD",
           "points": {"estimate": -1250.0, "ci_lb": -2400.0, "ci_ub": -100.0, "decimals": 0},
           "percent_of_scale": None}
    a = {"comparison": {"intervention": "Drug", "control": "placebo"},
         "outcome": {"label": "Steps"}}
    assert difference_sentence(a, row) == ("Steps was 1,250 points lower (100 to 2,400 lower) "
                                           "with drug than with placebo.")
