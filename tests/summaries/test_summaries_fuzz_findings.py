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
