"""CINeMA prompts (evsynth.summaries.cinema): each rule on hand-made intervals, the majority
rule of within-study bias, the reviewer's judgements shown beside the suggestions, the result
object."""

from __future__ import annotations

import math

import pytest

from evsynth.errors import InputError
from evsynth.summaries import cinema

B = (-1.5, 1.5, "MID 1.5")


@pytest.mark.parametrize(("ci", "level"), [
    ((-1.0, 1.0), "no concerns"),      # within the range of equivalence
    ((2.0, 3.0), "no concerns"),       # wholly beyond one threshold
    ((0.5, 2.5), "some concerns"),     # crosses one boundary
    ((-2.0, 0.2), "some concerns"),
    ((-2.0, 2.0), "major concerns"),   # important effects in both directions
])
def test_imprecision_counts_boundaries_crossed(ci: tuple[float, float], level: str) -> None:
    p = cinema.imprecision(*ci, B)
    assert p.level == level
    assert "range of equivalence" in p.reason and "MID 1.5" in p.reason


def test_imprecision_without_mid_suggests_nothing() -> None:
    p = cinema.imprecision(-1.0, 1.0, None)
    assert p.level is None and "no minimal important difference" in p.reason


@pytest.mark.parametrize(("est", "ci", "pi", "level"), [
    (-2.0, (-2.5, -1.6), (-3.0, 0.5), "some concerns"),  # PI crosses no effect, CI does not
    (-2.0, (-2.5, -1.6), (-3.0, -0.2), "no concerns"),   # same conclusion
    (-2.5, (-3.0, -2.0), (-4.0, 2.0), "major concerns"), # PI crosses null and +MID
    (0.2, (-0.5, 0.9), (-1.0, 1.4), "no concerns"),      # CI within the range, PI too
    (0.2, (-0.5, 0.9), (-1.0, 1.8), "some concerns"),    # CI within, PI crosses +MID
])
def test_heterogeneity_rule(est: float, ci: tuple[float, float], pi: tuple[float, float],
                            level: str) -> None:
    assert cinema.heterogeneity(est, *ci, *pi, B).level == level


def test_heterogeneity_without_pi_says_why() -> None:
    p = cinema.heterogeneity(0.1, -1, 1, None, None, B, why_no_pi="df_Q = 0")
    assert p.level is None and p.reason == "df_Q = 0"


@pytest.mark.parametrize(("direct", "indirect", "level"), [
    ((-1.0, 0.5), (-0.8, 1.0), "no concerns"),      # both within the range: agree on 3 areas
    ((-1.0, 0.5), (0.2, 2.0), "some concerns"),     # the indirect CI also above: 2 areas
    ((-3.0, -2.0), (2.0, 3.0), "major concerns"),   # below versus above: 1 area (within)
    ((-3.0, 0.0), (1.0, 3.0), "major concerns"),    # {below, within} vs {within, above}: 1
])
def test_incoherence_mixed_evidence_agreement_of_cis(direct: tuple[float, float],
                                                     indirect: tuple[float, float],
                                                     level: str) -> None:
    # CINeMA documentation: areas below / within / above the range of equivalence on which
    # the direct and indirect CIs agree: 3 no, 2 some, 0 or 1 major concerns
    got = cinema.incoherence(has_direct=True, has_indirect=True, split_p=0.5,
                             direct=direct, indirect=indirect, bounds=B)
    assert got.level == level
    assert "direct CI" in got.reason and "indirect CI" in got.reason
    assert "node-split (SIDE) difference p = 0.5" in got.reason


@pytest.mark.parametrize(("p", "level"), [(0.5, "no concerns"), (0.10, "some concerns"),
                                          (0.05, "some concerns"), (0.01, "some concerns"),
                                          (0.005, "major concerns")])
def test_incoherence_p_value_bands(p: float, level: str) -> None:
    # indirect evidence only: the design-by-treatment test (p > 0.10 no, 0.01 to 0.10 some,
    # < 0.01 major concerns)
    got = cinema.incoherence(has_direct=False, has_indirect=True, global_p=p, global_df=2)
    assert got.level == level and "design-by-treatment" in got.reason
    # mixed evidence without a range of equivalence: the node-split p in the same bands,
    # marked as evsynth's reading
    mixed = cinema.incoherence(has_direct=True, has_indirect=True, split_p=p)
    assert mixed.level == level and "evsynth's reading" in mixed.reason


def test_incoherence_direct_only_and_no_loop() -> None:
    got = cinema.incoherence(has_direct=True, has_indirect=False, global_p=0.003, global_df=2)
    assert got.level == "no concerns" and "only direct evidence" in got.reason
    none = cinema.incoherence(has_direct=False, has_indirect=True, global_p=None, global_df=0)
    assert none.level is None and "no closed loop" in none.reason
    missing = cinema.incoherence(has_direct=True, has_indirect=True, split_note="x")
    assert missing.level is None and "not available" in missing.reason


def test_agreement_areas() -> None:
    assert cinema.areas((-2.0, 0.0), -1.5, 1.5) == (True, True, False)
    assert cinema.agreement((-1.0, 1.0), (-0.5, 0.5), -1.5, 1.5) == 3
    assert cinema.agreement((-2.0, 2.0), (-0.5, 0.5), -1.5, 1.5) == 1


def test_within_study_bias_majority_rule() -> None:
    rob = {"a": "low", "b": "high", "c": "some concerns", "d": None}
    p = cinema.within_study_bias({"a": 50, "b": 30, "c": 20}, rob)
    assert p.level == "no concerns" and "50% low" in p.reason
    assert cinema.within_study_bias({"a": 40, "b": 40, "c": 20}, rob).level == \
        "major concerns"  # a tie goes to the worse level
    unj = cinema.within_study_bias({"d": 70, "a": 30}, rob)
    assert unj.level is None and "not assessed" in unj.reason
    # ROBINS-I's levels
    assert cinema.rob_level("serious") == "high" and cinema.rob_level("moderate") == "some"
    with pytest.raises(InputError, match="risk-of-bias judgement"):
        cinema.rob_level("maybe")


def test_equivalence_range_ratio_and_difference() -> None:
    got = cinema.equivalence_range("OR", mid=1.25, log_scale=True)
    assert got is not None
    lo, hi, note = got
    assert math.isclose(lo, -math.log(1.25)) and math.isclose(hi, math.log(1.25))
    assert "0.8 to 1.25" in note
    md = cinema.equivalence_range("MD", mid=2)
    assert md is not None and md[:2] == (-2, 2)
    assert cinema.equivalence_range("MD") is None
    with pytest.raises(InputError, match="ratio other than 1"):
        cinema.equivalence_range("OR", mid=1, log_scale=True)


def _comp(**kw: object) -> dict[str, object]:
    base = {"treat1": "A", "treat2": "B", "estimate": -0.5, "ci_lb": -1.0, "ci_ub": 0.0,
            "pi_lb": -1.2, "pi_ub": 0.2, "has_direct": True, "has_indirect": False,
            "contributions": {"s1": 60.0, "s2": 40.0}}
    return {**base, **kw}


def test_build_shows_reviewer_beside_suggestion() -> None:
    judged = cinema.reviewer_judgements([{"treatments": ["B", "A"], "imprecision": {
        "judgement": "major concerns", "reason": "few events"}, "confidence": "low"}])
    res = cinema.build([_comp()], measure="MD", log_scale=False, reference="B", model="random",
                       bounds=B, global_test=(0.4, 1, ""), rob={"s1": "low", "s2": "high"},
                       judgements=judged)
    row = res.rows[0]
    imp = row["domains"]["imprecision"]
    assert imp["suggested"] == "no concerns" and imp["reviewer"] == "major concerns"
    assert imp["reviewer_reason"] == "few events" and row["confidence"] == "low"
    assert row["domains"]["indirectness"]["suggested"] is None
    assert row["domains"]["incoherence"]["suggested"] == "no concerns"  # direct only
    frame = res.to_frame()
    assert list(frame["imprecision_reviewer"]) == ["major concerns"]
    assert "Imprecision" in res.summary_text() and "reviewer: major concerns" in str(res)
    d = res.to_dict()
    assert d["rows"][0]["domains"]["within_study_bias"]["suggested"] == "no concerns"


def test_reviewer_judgements_errors_name_the_field() -> None:
    with pytest.raises(InputError, match=r"cinema\[0\]: field 'imprecision.judgement'"):
        cinema.reviewer_judgements([{"treatments": ["A", "B"], "imprecision": "bad"}])
    with pytest.raises(InputError, match="two different treatment names"):
        cinema.reviewer_judgements([{"treatments": ["A"]}])
    with pytest.raises(InputError, match="confidence"):
        cinema.reviewer_judgements([{"treatments": ["A", "B"], "confidence": "great"}])
