"""GRADE certainty from judgements, and the computed prompts (never replacing judgements)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import norm
from sof_samples import DOMAINS, binary, continuous, judgements

from evsynth.errors import InputError
from evsynth.summaries.grade import certainty, i2_guide, optimal_information_size, prompts

LEVELS = {4: ("high", "⊕⊕⊕⊕", "High"), 3: ("moderate", "⊕⊕⊕◯", "Moderate"),
          2: ("low", "⊕⊕◯◯", "Low"), 1: ("very low", "⊕◯◯◯", "Very low")}


@given(st.lists(st.integers(0, 2), min_size=5, max_size=5))
def test_score_is_four_minus_downgrades_floored_at_very_low(dg):
    g = certainty(judgements(**dict(zip(DOMAINS, dg, strict=True))), continuous())
    score = max(1, 4 - sum(dg))
    assert g["assessed"] and g["score"] == score
    assert (g["level"], g["symbols"], g["label"]) == LEVELS[score]
    assert len(g["reasons"]) == sum(1 for d in dg if d)


def test_reasons_are_kept_and_worded():
    g = certainty(judgements(imprecision=1, risk_of_bias=2), continuous())
    assert g["level"] == "very low"
    assert "Downgraded two levels for risk of bias: reason for risk_of_bias" in g["reasons"]
    assert g["downgrades"]["imprecision"] == {"downgrade": 1, "reason": "reason for imprecision"}


def test_start_low_for_observational():
    j = judgements(indirectness=1)
    j["start"] = "low"
    assert certainty(j, continuous())["level"] == "very low"


def test_missing_judgements_are_not_assessed_but_prompts_shown():
    g = certainty(None, continuous())
    assert g["level"] == "not assessed" and g["score"] is None and not g["assessed"]
    assert "I² = 35%" in g["prompts"]["inconsistency"]
    j = judgements()
    del j["indirectness"]
    g = certainty(j, continuous())
    assert g["level"] == "not assessed" and "indirectness" in g["note"]


def test_no_studies_not_assessed():
    g = certainty(judgements(), continuous(k=0, pooled=None, participants=0))
    assert g["level"] == "not assessed"
    assert "no study" in g["prompts"]["imprecision"]


@pytest.mark.parametrize("bad", [3, -1, 1.0, True, "1", None])
def test_bad_downgrade_raises(bad):
    j = judgements()
    j["imprecision"] = {"downgrade": bad, "reason": "x"}
    if bad is None:
        with pytest.raises(InputError, match="imprecision.downgrade"):
            certainty(j, continuous())
        return
    with pytest.raises(InputError, match=r"\[\[grade\]\].*'pain'.*imprecision"):
        certainty(j, continuous())


def test_bad_judgement_types_raise():
    with pytest.raises(InputError, match="expected a table"):
        certainty(["x"], continuous())
    j = judgements()
    j["start"] = "moderate"
    with pytest.raises(InputError, match="'start'"):
        certainty(j, continuous())
    j = judgements()
    j["imprecision"] = {"downgrade": 1, "reason": 5}
    with pytest.raises(InputError, match="imprecision.reason"):
        certainty(j, continuous())


def test_bad_pooled_numbers_raise():
    with pytest.raises(InputError, match="pooled.ci_lb"):
        certainty(None, continuous(pooled={"ci_lb": float("nan")}))
    with pytest.raises(InputError, match="outcome.direction"):
        certainty(None, continuous(outcome={"direction": "up"}))


@pytest.mark.parametrize("i2,words", [
    (10, "might not be important"),
    (35, "might not be important or may represent moderate heterogeneity"),
    (55, "may represent moderate heterogeneity or may represent substantial heterogeneity"),
    (80, "may represent substantial heterogeneity or considerable heterogeneity"),
    (95, "considerable heterogeneity")])
def test_i2_rough_guide(i2, words):
    assert i2_guide(i2) == words


def test_inconsistency_prompt_prediction_interval_against_null_and_mid():
    p = prompts(continuous())["inconsistency"]
    # PI -1.9 to 0.5 includes 0 and crosses the benefit threshold -1.5, not the harm one +1.5
    assert "prediction interval -1.9 to 0.5; includes no effect" in p
    assert "crosses the threshold of important benefit (-1.5)" in p
    assert "does not cross the threshold of important harm (1.5)" in p
    p = prompts(continuous(pooled={"pi_lb": None, "pi_ub": None}))["inconsistency"]
    assert "prediction interval not computed" in p
    p = prompts(continuous(k=1))["inconsistency"]
    assert "one study" in p


def test_imprecision_prompt_and_continuous_ois():
    # GRADE 6: n per arm = 2 (z_.975 + z_.8)^2 sd^2 / mid^2
    z = norm.ppf(0.975) + norm.ppf(0.8)
    per_arm = math.ceil(2 * z * z * 2.8 ** 2 / 1.5 ** 2)
    ois = optimal_information_size(continuous())
    assert ois["per_arm"] == per_arm == 55 and ois["total"] == 110
    p = prompts(continuous(participants=100))["imprecision"]
    assert "95% CI -1.2 to -0.3; excludes no effect (0)" in p
    assert "optimal information size 110 participants" in p and "not met" in p
    assert optimal_information_size(continuous(outcome={"mid": None})) is None
    assert optimal_information_size(continuous(control_summary={"continuous": None})) is None
    assert "MID, control SD or control risk unknown" in prompts(
        continuous(outcome={"mid": None}))["imprecision"]


def test_binary_ois_and_relative_thresholds():
    z = norm.ppf(0.975) + norm.ppf(0.8)
    pc, pi = 0.23, 0.75 * 0.23
    per_arm = math.ceil(z * z * (pc * (1 - pc) + pi * (1 - pi)) / (pc - pi) ** 2)
    assert optimal_information_size(binary())["total"] == 2 * per_arm
    p = prompts(binary())["imprecision"]
    # RR 0.80 (0.60 to 1.07): includes 1, crosses RR 0.75 (benefit), not 1.25 (harm)
    assert "95% CI 0.6 to 1.07; includes no effect" in p
    assert "crosses the threshold of important benefit (0.75)" in p
    assert "does not cross the threshold of important harm (1.25)" in p
    # given ACR overrides the median
    ois = optimal_information_size(binary(outcome={"assumed_control_risk": 0.1}))
    assert "0.1" in ois["basis"]


def test_smd_thresholds_use_mid_over_sd():
    a = continuous(measure="SMD", pooled={"estimate": -0.4, "ci_lb": -0.6, "ci_ub": -0.2})
    p = prompts(a)["imprecision"]
    assert "SMD 0.54 (approximate)" in p       # 1.5 / 2.8


def test_higher_is_better_flips_benefit_side():
    a = continuous(outcome={"direction": "higher_is_better"})
    p = prompts(a)["imprecision"]
    assert "threshold of important benefit (1.5)" in p
    assert "threshold of important harm (-1.5)" in p


def test_publication_bias_prompts():
    assert "too few studies to assess small-study effects (Cochrane Handbook 13.3.5.4)" in \
        prompts(continuous())["publication_bias"]
    assert "not computed" in prompts(continuous(k=12))["publication_bias"]
    p = prompts(continuous(k=12, small_study={"egger_p": 0.03, "begg_p": 0.2,
                                              "trimfill_k0": 2}))["publication_bias"]
    assert "Egger's test p = 0.03 (suggests small-study effects)" in p
    assert "Begg's test p = 0.2" in p and "imputes 2 missing studies" in p
