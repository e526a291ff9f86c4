"""Wording helpers: digit grouping, differences between groups, GRADE 26 statements."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.errors import InputError
from evsynth.summaries.wording import (
    certainty_statement,
    difference_words,
    format_count,
    group_digits,
)


def test_group_digits():
    assert group_digits(1234567.891, 2) == "1,234,567.89"
    assert group_digits(999.96, 1) == "1,000"
    assert group_digits(-0.004, 2) == "0" and group_digits(-1500) == "-1,500"
    assert format_count(1, "study", "studies") == "1 study"
    assert format_count(12000, "participant") == "12,000 participants"
    assert format_count(None, "participant") == "participants not reported"


@pytest.mark.parametrize("args,want", [
    ((-0.7, -1.2, -0.3, 1, "points"), "0.7 points lower (0.3 to 1.2 lower)"),
    ((0.7, 0.3, 1.2, 1, "points"), "0.7 points higher (0.3 to 1.2 higher)"),
    ((0.2, -0.4, 0.8, 1, "points"), "0.2 points higher (0.4 lower to 0.8 higher)"),
    ((-1.0, -1.6, -0.4, 1, "points"), "1 point lower (0.4 to 1.6 lower)"),
    ((0.0, -0.4, 0.4, 1, "points"), "0 points (0.4 lower to 0.4 higher)"),
    ((-7.0, -12.0, -3.0, 0, "%"), "7% lower (3 to 12 lower)"),
    ((1500, 200, 2800, 0, "per 1,000", "more", "fewer"), "1,500 more per 1,000 (200 to 2,800 "
                                                          "more)"),
    ((-0.5, -0.8, -0.2, 2, "standard deviations"),
     "0.5 standard deviations lower (0.2 to 0.8 lower)"),
])
def test_difference_words(args, want):
    assert difference_words(*args) == want


@pytest.mark.parametrize("level,effect,want", [
    ("high", "reduction", "Vertebroplasty reduces pain compared with placebo."),
    ("moderate", "increase", "Vertebroplasty probably increases pain compared with placebo."),
    ("low", "reduction", "Vertebroplasty may reduce pain compared with placebo."),
    ("low", "none", "Vertebroplasty may result in little to no difference in pain compared "
                    "with placebo."),
    ("very low", "reduction", "We are very uncertain whether vertebroplasty reduces pain "
                              "compared with placebo."),
    ("not assessed", "reduction", ""),
    (None, "none", "")])
def test_certainty_statement(level, effect, want):
    assert certainty_statement(level, "vertebroplasty", "placebo", "pain", effect) == want


def test_bad_effect():
    with pytest.raises(InputError, match="argument 'effect' is 'down'"):
        certainty_statement("high", "a", "b", "c", "down")


@settings(max_examples=200, deadline=None)
@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.integers(0, 3))
def test_difference_words_have_no_signs_and_name_the_direction(est, a, b, dec):
    text = difference_words(est, a, b, dec, "points")
    assert "-" not in text
    shown = group_digits(abs(est), dec)
    head = text.split(" (")[0]
    if shown != "0":
        assert head.endswith("higher" if est > 0 else "lower")
    else:
        assert not head.endswith(("higher", "lower"))
