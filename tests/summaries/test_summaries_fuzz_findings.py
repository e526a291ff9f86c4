"""Summary of Findings / GRADE faults a fuzz against the published formulas found (session
13). Expected values are computed here from the formulas the docstrings cite."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from evsynth.review.pipeline import run

HEAD = '''title = "t"
[treatments]
drug = "Drug"
placebo = "Placebo"
[[comparisons]]
id = "d_vs_p"
intervention = "drug"
control = "placebo"
[[windows]]
id = "w"
label = "12 weeks"
weeks = [0, 12]
rule = "latest"
'''
GRADE_NONE = ('[[grade]]\ncomparison = "d_vs_p"\noutcome = "p"\nrisk_of_bias = {downgrade = 0}\n'
              'inconsistency = {downgrade = 0}\nindirectness = {downgrade = 0}\n'
              'imprecision = {downgrade = 0}\npublication_bias = {downgrade = 0}\n')


def _analyses(tmp_path: Path, toml: str, outcomes: str,
              studies: str = "study_id,label,year\nA,A,2001\nB,B,2002\n") -> list[dict]:
    d = tmp_path / "r"
    d.mkdir()
    (d / "review.toml").write_text(toml, encoding="utf-8")
    (d / "outcomes.csv").write_text(outcomes, encoding="utf-8")
    (d / "studies.csv").write_text(studies, encoding="utf-8")
    run(d, tmp_path / "out", quiet=True)
    return json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))["analyses"]


def test_smd_of_change_uses_the_sd_of_change(tmp_path):
    """An SMD of change is in units of the SD of change (Cochrane Handbook 6.5.2.8, 15.5.3.1):
    sqrt(20^2 + 20^2 - 2 0.8 20 20) = 12.65 here. The follow-up SD (20) re-expressed it as 14
    points, set the MID threshold at 0.50 instead of 0.79 and led with 'reduces' where the CI
    crosses the threshold ('little to no difference')."""
    toml = (HEAD.replace('title = "t"', 'title = "t"\n[change_scores]\ncorrelation = 0.8')
            + '[[outcomes]]\nid = "p"\nlabel = "Pain"\nkind = "continuous"\n'
            'measure = "SMD_CHANGE"\ndirection = "lower_is_better"\nscale = [0, 100]\nmid = 10\n'
            + GRADE_NONE)
    rows = ("study_id,outcome,timepoint_weeks,treatment,value_type,n,mean,sd,baseline_mean,"
            "baseline_sd\n"
            "A,p,12,drug,baseline_followup,100,40,20,60,20\n"
            "A,p,12,placebo,baseline_followup,100,50,20,60,20\n"
            "B,p,12,drug,baseline_followup,100,42,20,60,20\n"
            "B,p,12,placebo,baseline_followup,100,50,20,60,20\n")
    (a,) = _analyses(tmp_path, toml, rows)
    sd_change = math.sqrt(20**2 + 20**2 - 2 * 0.8 * 20 * 20)
    assert a["control_summary"]["continuous"]["sd_change"] == pytest.approx(sd_change, rel=1e-12)
    pts = a["sof"]["points"]
    assert pts["estimate"] == pytest.approx(a["pooled"]["estimate"] * sd_change, rel=1e-12)
    prompt = a["grade"]["prompts"]["imprecision"]
    assert f"control SD of change {sd_change:g} = SMD {10 / sd_change:.2f}" in prompt
    assert "crosses the threshold of important benefit" in prompt
    assert a["plain_language"].startswith("Drug results in little to no difference in pain")


def test_nnt_interval_has_the_analysis_level(tmp_path):
    # the NNT's interval is the risk difference's, at the analysis' level (it read "95% CI"
    # at level 90)
    from evsynth.summaries.sof import number_needed_to_treat

    nnt = number_needed_to_treat(-0.25, -0.3, -0.2, True, 90)
    assert nnt is not None and nnt["text"] == "NNTB 4 (90% CI 4 to 5)"
    wide = number_needed_to_treat(-0.1, -0.3, 0.1, True, 99)
    assert wide is not None and wide["text"].startswith("NNTB 10 (99% CI NNTB 4 to ∞ to NNTH 10")


def test_rate_difference_and_unknown_participants(tmp_path):
    toml = (HEAD + '[[outcomes]]\nid = "ex"\nlabel = "Exacerbations"\nkind = "rate"\n'
            'measure = "IRD"\ndirection = "lower_is_better"\n')
    rows = ("study_id,outcome,timepoint_weeks,treatment,value_type,events,person_time\n"
            "A,ex,10,drug,rate,10,100\nA,ex,10,placebo,rate,20,100\n"
            "B,ex,10,drug,rate,12,120\nB,ex,10,placebo,rate,25,110\n")
    (a,) = _analyses(tmp_path, toml, rows)
    # person-time data give no participants: not reported, not 0
    assert a["participants"] is None
    assert a["sof"]["participants_text"] == "not reported (2 RCTs)"
    p = a["pooled"]
    assert a["plain_language"].startswith(
        f"With drug, the rate of exacerbations was {abs(p['estimate']):.3f} fewer per unit of "
        "person-time (")


def test_one_study_with_two_effects_has_no_i2_comment(tmp_path):
    # a multilevel analysis of one study (two time points): k counts effects; I^2 of a single
    # study is no statement about inconsistency between studies
    toml = (HEAD + '[[outcomes]]\nid = "f"\nlabel = "Function"\nkind = "continuous"\n'
            'measure = "MD"\ndirection = "higher_is_better"\ndependence = "multilevel"\n')
    rows = ("study_id,outcome,timepoint_weeks,treatment,value_type,n,mean,sd\n"
            "A,f,4,drug,final,50,15,4\nA,f,4,placebo,final,50,12,4\n"
            "A,f,8,drug,final,50,12.5,4\nA,f,8,placebo,final,50,12,4\n")
    (a,) = _analyses(tmp_path, toml, rows)
    assert a["k"] == 2 and a["k_studies"] == 1
    assert not any("I²" in c for c in a["sof"]["comments"] + a["sof"].get("footnotes", []))


def test_ratio_measures_on_the_ratio_scale_and_tiny_ratios():
    from evsynth.errors import InputError
    from evsynth.summaries import grade
    from evsynth.summaries.plain_language import effect_kind
    from evsynth.summaries.wording import format_ratio

    a = {"id": "x", "k": 2, "measure": "HR", "log_scale": False,
         "comparison": {"intervention": "Drug", "control": "Placebo"},
         "outcome": {"label": "Death", "kind": "time_to_event", "direction": "lower_is_better"},
         "pooled": {"estimate": 0.5, "ci_lb": 0.4, "ci_ub": 0.6}}
    assert grade.null_value(a) == 1.0 and effect_kind(a) == "reduction"  # was "increase"
    assert format_ratio(0.004) == "0.0040" and format_ratio(0.0123) == "0.012"
    assert format_ratio(0.8) == "0.80" and format_ratio(12.345) == "12.35"
    with pytest.raises(InputError, match="a pooled value on the log scale is 710"):
        grade.natural({"id": "x", "log_scale": True}, 710.0)
