"""Review folders a differential fuzz of the review pipeline against metafor found to stop
the whole run (session 13): one study's (or one subgroup's) problem is now that study's
exclusion reason or that subgroup analysis' note, and the rest of the review is computed."""

from __future__ import annotations

import json
from pathlib import Path

from evsynth.review.pipeline import run

WINDOW = '[[windows]]\nid = "w1"\nweeks = [0, 52]\nrule = "latest"\n'
COMPARISON = '[[comparisons]]\nid = "c1"\nintervention = "A"\ncontrol = "B"\n'


def _folder(root: Path, toml: str, studies: str, outcomes: str) -> Path:
    root.mkdir(parents=True)
    (root / "review.toml").write_text(toml, encoding="utf-8")
    (root / "studies.csv").write_text(studies, encoding="utf-8")
    (root / "outcomes.csv").write_text(outcomes, encoding="utf-8")
    return root


def _analysis(tmp_path: Path, folder: Path) -> dict:
    res = run(folder, tmp_path / "out", quiet=True)
    on_disk = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert on_disk["analyses"][0]["id"] == res["analyses"][0]["id"]
    return res["analyses"][0]


def test_common_effect_t_test_with_a_one_study_subgroup(tmp_path):
    # EE with a t test: the subgroup of one study has no df; the report needed a finite CI
    # and the run stopped ("field 'ci_lb' is missing")
    toml = ('title = "t"\n[model]\nmethod = "EE"\ntest = "t"\n' + COMPARISON
            + '[[outcomes]]\nid = "pain"\nkind = "continuous"\nmeasure = "MD"\n'
            'direction = "lower_is_better"\n' + WINDOW
            + '[[subgroups]]\nid = "region"\ncolumn = "region"\n')
    rows = "".join(f"{s},pain,4,{t},final,{n},{m},2\n" for s, n, ma, mb in
                   (("S1", 20, 5, 6), ("S2", 30, 5, 5.5), ("S3", 25, 4, 6))
                   for t, m in (("A", ma), ("B", mb)))
    folder = _folder(tmp_path / "r", toml, "study_id,region\nS1,north\nS2,north\nS3,south\n",
                     "study_id,outcome,timepoint_weeks,treatment,value_type,n,mean,sd\n" + rows)
    a = _analysis(tmp_path, folder)
    assert a["k"] == 3
    assert any("subgroup analysis by region not estimable: subgroup 'south' has k = 1: test "
               "'t' cannot be used" in n for n in a["notes"])


def test_arms_of_one_participant_exclude_the_study_not_the_run(tmp_path):
    toml = ('title = "p"\n' + COMPARISON + '[[outcomes]]\nid = "o"\nkind = "continuous"\n'
            'measure = "MD"\ndirection = "lower_is_better"\n' + WINDOW)
    folder = _folder(tmp_path / "r", toml, "study_id\nS1\nS2\n",
                     "study_id,outcome,timepoint_weeks,treatment,value_type,n,mean,sd\n"
                     "S1,o,4,A,final,1,5,2\nS1,o,4,B,final,1,5,2\n"
                     "S2,o,4,A,final,20,5,2\nS2,o,4,B,final,20,6,2\n")
    a = _analysis(tmp_path, folder)
    assert a["k"] == 1
    (ex,) = [e for e in a["excluded"] if e["study_id"] == "S1"]
    assert ex["reason"] == ("effect not estimable: its data give no MD: field 'n1i' is 1.0; "
                            "expected a sample size >= 2")


def test_logrank_events_above_the_participants_exclude_the_study(tmp_path):
    toml = ('title = "t"\n' + COMPARISON + '[[outcomes]]\nid = "os"\nkind = "time_to_event"\n'
            'measure = "HR"\ndirection = "lower_is_better"\n' + WINDOW)
    folder = _folder(
        tmp_path / "r", toml, "study_id\nS1\nS2\n",
        "study_id,outcome,timepoint_weeks,treatment,comparator,value_type,events,p_value,"
        "direction,n_intervention,n_control\n"
        "S1,os,26,A,B,logrank,47,0.36,lower_hazard_intervention,13,33\n"
        "S2,os,26,A,B,logrank,30,0.2,lower_hazard_intervention,50,50\n")
    a = _analysis(tmp_path, folder)
    assert a["k"] == 1
    (ex,) = [e for e in a["excluded"] if e["study_id"] == "S1"]
    assert ex["reason"] == ("log-rank row: 47 events exceed the 46 participants randomised "
                            "(n_intervention + n_control); check the counts")


def test_a_bad_studies_row_does_not_orphan_its_outcome_rows(tmp_path):
    import pytest

    from evsynth.errors import InputError
    from evsynth.review.load import validate

    toml = ('title = "p"\n' + COMPARISON + '[[outcomes]]\nid = "o"\nkind = "continuous"\n'
            'measure = "MD"\ndirection = "lower_is_better"\n' + WINDOW)
    folder = _folder(tmp_path / "r", toml, "study_id,rob_overall\nS1,medium\nS2,low\n",
                     "study_id,outcome,timepoint_weeks,treatment,value_type,n,mean,sd\n"
                     "S1,o,4,A,final,20,5,2\nS1,o,4,B,final,20,6,2\n"
                     "S2,o,4,A,final,20,5,2\nS2,o,4,B,final,20,6,2\n")
    with pytest.raises(InputError) as err:
        validate(folder)
    msg = str(err.value)
    assert "field 'rob_overall' is 'medium'" in msg
    assert "not in studies.csv" not in msg  # S1 is listed; only its rob_overall is wrong


def test_a_zero_change_sd_is_named_as_the_reason(tmp_path):
    # correlation 1 with equal baseline and follow-up SDs imputes a change SD of 0: the study
    # has a sampling variance of 0 (the reason read "effect not estimable: undefined")
    toml = ('title = "p"\n' + COMPARISON + '[[outcomes]]\nid = "o"\nkind = "continuous"\n'
            'measure = "MD_CHANGE"\ndirection = "lower_is_better"\n' + WINDOW
            + "[change_scores]\ncorrelation = 1\n")
    folder = _folder(
        tmp_path / "r", toml, "study_id\nS1\nS2\n",
        "study_id,outcome,timepoint_weeks,treatment,value_type,n,mean,sd,baseline_mean,"
        "baseline_sd\n"
        "S1,o,4,A,baseline_followup,20,5,2,6,2\nS1,o,4,B,baseline_followup,20,6,2,6,2\n"
        "S2,o,4,A,baseline_followup,20,5,2,6,3\nS2,o,4,B,baseline_followup,20,6,2,6,3\n")
    a = _analysis(tmp_path, folder)
    (ex,) = [e for e in a["excluded"] if e["study_id"] == "S1"]
    assert ex["reason"].startswith("effect not estimable: its sampling variance is 0 (no "
                                   "spread in its data")
    assert a["k"] == 1
