"""Arm-based review data: treatments, multi-arm trials (combine / split), hazard ratios from
CI / SE / O - E and V / log-rank P, rates, and Mantel-Haenszel / Peto pooling in the pipeline.

The pooled numbers are checked against metafor in test_reference.py (cases ``arm.*``); here: the
data model, what is recorded, the messages, and invariants."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
from arm_helpers import ARM_OUTCOMES, ARM_STUDIES, ARM_TOML, make_arm_review
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import evsynth
from evsynth import convert
from evsynth.errors import InputError
from evsynth.review.analysis import build_analyses
from evsynth.review.load import load_review, validate

TOL = {"rtol": 1e-10, "atol": 1e-12}


@pytest.fixture(scope="module")
def arm_analyses(tmp_path_factory) -> dict[str, dict]:
    d = make_arm_review(tmp_path_factory.mktemp("arms") / "review")
    return {a["id"]: a for a in build_analyses(load_review(d))}


def _study(a: dict, slab: str) -> dict:
    return next(s for s in a["studies"] if s["slab"] == slab)


# ------------------------------------------------------------------------ multi-arm trials
def test_combine_uses_handbook_table_6_5_a(arm_analyses):
    a = arm_analyses["kp_vs_placebo.pain.main"]
    t3 = _study(a, "T3")
    n, m, sd = convert.combine_groups(50, 2.9, 2.1, 50, 2.5, 1.9)
    assert t3["intervention"]["treatments"] == ["kp", "kp_high"]
    assert t3["intervention"]["how"] == "combined"
    assert_allclose([t3["intervention"]["n"], t3["intervention"]["mean"],
                     t3["intervention"]["sd"]], [n, m, sd], **TOL)
    es = evsynth.effect_size("MD", m1i=[m], m2i=[4.2], sd1i=[sd], sd2i=[2.3], n1i=[n], n2i=[50])
    assert_allclose([t3["yi"], t3["vi"]], [es.yi[0], es.vi[0]], **TOL)
    assert t3["participants"] == 150
    assert t3["multiarm"]["option"] == "combine"
    assert [m["study_id"] for m in a["multiarm"]] == ["T3", "T5"]
    assert any("T3: arms combined: kp + kp_high vs placebo" in n for n in a["notes"])


def test_combine_sums_events(arm_analyses):
    t3 = _study(arm_analyses["kp_vs_placebo.fracture.main"], "T3")
    assert t3["intervention"]["events"] == 12 and t3["intervention"]["total"] == 100
    assert isinstance(t3["intervention"]["events"], int)


def test_split_divides_the_shared_group(arm_analyses):
    a = arm_analyses["kp_vs_placebo_split.ae.main"]
    slabs = [s["slab"] for s in a["studies"]]
    assert slabs == ["T1", "T2", "T3 (kp vs placebo)", "T3 (kp_high vs placebo)",
                     "T5 (kp vs placebo)", "T5 (kp_high vs placebo)"]
    one = _study(a, "T3 (kp vs placebo)")
    assert one["control"]["events"] == 2.5 and one["control"]["total"] == 25
    assert one["control"]["share"] == 0.5 and one["intervention"]["total"] == 50
    # no participant counted twice: the split parts add up to the trial's arms
    assert a["participants"] == 80 + 120 + 150 + 150
    assert "placebo divided into 2 parts" in a["multiarm"][0]["text"]


def test_split_and_combine_keep_all_participants(arm_analyses):
    for out in ("pain", "ae"):
        assert arm_analyses[f"kp_vs_placebo.{out}.main"]["participants"] == \
            arm_analyses[f"kp_vs_placebo_split.{out}.main"]["participants"]


def test_contrasts_sharing_a_group_are_warned(arm_analyses):
    a = arm_analyses["kp_vs_placebo.survival.main"]
    assert len(a["warnings"]) == 1
    w = a["warnings"][0]
    assert "T3" in w and "placebo" in w and "counted 2 times" in w
    for slab in ("T3 (kp vs placebo)", "T3 (kp_high vs placebo)"):
        assert _study(a, slab)["multiarm"]["double_counted"] is True


def test_study_without_both_sides_is_not_in_the_comparison(arm_analyses):
    a = arm_analyses["kp_vs_usual.pain.main"]
    assert [s["study_id"] for s in a["studies"]] == ["T4", "T5"]
    assert a["excluded"] == []   # kp-vs-placebo trials are not "left out" of kp vs usual
    assert "kp_vs_usual.fracture.main" not in arm_analyses


# ------------------------------------------------------------------------ time to event
def test_hazard_ratio_orientations(arm_analyses):
    a = arm_analyses["kp_vs_placebo.survival.main"]
    # T2 reported placebo vs kp, HR 1.25 (SE 0.15): turned round to kp vs placebo
    t2 = _study(a, "T2")
    assert_allclose([t2["yi"], t2["vi"]], [-math.log(1.25), 0.15**2], **TOL)
    assert t2["contrast"]["reversed"] is True
    # T3: O - E of the control group (control_over_intervention) -> sign flipped
    t3b = _study(a, "T3 (kp_high vs placebo)")
    assert_allclose([t3b["yi"], t3b["vi"]], [-3.1 / 11.0, 1 / 11.0], **TOL)
    # T5: log-rank P 0.03 with events per arm, lower hazard with kp (Parmar 1998)
    v = 30 * 45 / 75
    t5 = _study(a, "T5")
    assert_allclose(t5["yi"], -math.sqrt(v) * 2.1700903775845606 / v, rtol=1e-12)
    assert "Parmar" in t5["contrast"]["method"]
    assert "Tierney" in _study(a, "T6")["contrast"]["method"]


@given(p=st.floats(1e-6, 1.0), e1=st.integers(1, 500), e2=st.integers(1, 500),
       sign=st.sampled_from([-1, 1]))
@settings(max_examples=60, deadline=None)
def test_logrank_properties(p, e1, e2, sign):
    yi, vi = convert.loghr_from_logrank(p, sign, events1=e1, events2=e2)
    yr, vr = convert.loghr_from_logrank(p, -sign, events1=e2, events2=e1)
    assert_allclose([yi, vi], [-yr, vr], rtol=1e-12, atol=1e-15)   # swapping the groups
    assert math.copysign(1, yi) == sign or yi == 0
    # the z statistic (O - E) / sqrt(V) reproduces the P value
    z = abs(yi) / math.sqrt(vi)
    assert_allclose(math.erfc(z / math.sqrt(2)), p, rtol=1e-8, atol=1e-300)


@given(o=st.integers(2, 1000), extra=st.integers(0, 500), p=st.floats(1e-4, 0.999))
@settings(max_examples=40, deadline=None)
def test_tierney_equals_parmar_for_equal_arms(o, extra, p):
    """With 1:1 allocation and the events split equally, V = O/4 either way (n per arm at
    least half the events: no more events than participants)."""
    n = math.ceil(o / 2) + extra
    a = convert.loghr_from_logrank(p, -1, events=o, n1=n, n2=n)
    b = convert.loghr_from_logrank(p, -1, events1=o / 2, events2=o / 2)
    assert_allclose(a, b, rtol=1e-12)


def test_oe_conversion_and_errors():
    yi, vi = convert.loghr_from_oe([-5.0, 2.0], [20.0, 8.0])
    assert_allclose(yi, [-0.25, 0.25]) and assert_allclose(vi, [0.05, 0.125])
    with pytest.raises(InputError, match="'v'"):
        convert.loghr_from_oe(-5.0, 0.0)
    with pytest.raises(InputError, match="'p'"):
        convert.loghr_from_logrank(0.0, -1, events1=3, events2=4)
    with pytest.raises(InputError, match="events"):
        convert.loghr_from_logrank(0.5, -1, events=3)


# ------------------------------------------------------------------------ pooling labels
def test_pooling_labels_and_methods(arm_analyses):
    labels = {k.split(".")[1]: a["model"]["label"] for k, a in arm_analyses.items()
              if k.startswith("kp_vs_placebo.")}
    assert labels == {"pain": "IV, Random", "fracture": "M-H, Fixed", "ae": "M-H, Random",
                      "serious": "Peto, Fixed", "survival": "IV, Random",
                      "infection": "IV, Random", "falls": "M-H, Fixed"}
    ae = arm_analyses["kp_vs_placebo.ae.main"]
    assert ae["model"]["method"] == "DL" and ae["pooled"]["tau2"] > 0
    assert "RevMan" in ae["model"]["method_info"]["model"]
    fr = arm_analyses["kp_vs_placebo.fracture.main"]
    assert fr["model"]["zero_cells"] == {"add": [0.5, 0.5], "to": ["only0", "only0"],
                                         "drop00": [True, True]}
    assert [e["study_id"] for e in fr["excluded"]] == ["T6"]      # double zero (RevMan)
    assert fr["pooled"]["pi_lb"] is None


def test_mh_robustness_and_sensitivity(arm_analyses):
    ae = arm_analyses["kp_vs_placebo.ae.main"]
    loo = ae["leave_one_out"]
    assert len(loo["rows"]) == 4 and "M-H, Random" in loo["method"]
    assert ae["influence"]["rows"] is None and "inverse-variance" in ae["influence"]["note"]
    ce = next(s for s in ae["sensitivity"] if s["name"] == "common effect")
    mh = evsynth.meta_mh("RR", ai=[4, 20, 20, 47], n1i=[40, 60, 100, 100],
                         ci=[12, 11, 5, 10], n2i=[40, 60, 50, 50])
    assert_allclose(ce["estimate"], mh.beta[0], **TOL)


def test_contrast_rows_cannot_enter_mh(tmp_path):
    rows = copy.deepcopy(ARM_OUTCOMES) + [{
        "study_id": "T4", "outcome": "ae", "timepoint_weeks": 52, "treatment": "kp",
        "comparator": "placebo", "value_type": "contrast", "measure": "RR", "estimate": 1.2,
        "ci_lb": 0.8, "ci_ub": 1.8, "direction": "intervention_over_control"}]
    d = make_arm_review(tmp_path / "r", outcomes=rows)
    a = {x["id"]: x for x in build_analyses(load_review(d))}["kp_vs_placebo.ae.main"]
    ex = {e["study_id"]: e["reason"] for e in a["excluded"]}
    assert "cannot enter a M-H analysis" in ex["T4"] and "pooling 'IV'" in ex["T4"]


@pytest.mark.parametrize("extra, expect", [
    ('pooling = "Peto"\nmeasure_x = 1', "measure_x"),
])
def test_unknown_keys_are_errors(tmp_path, extra, expect):
    toml = ARM_TOML.replace('measure = "MD"', f'measure = "MD"\n{extra}', 1)
    with pytest.raises(InputError, match=expect):
        load_review(make_arm_review(tmp_path / "r", toml=toml))


@pytest.mark.parametrize("old, new, expect", [
    ('measure = "RR"\npooling = "MH"', 'measure = "RR"\npooling = "Peto"',
     "pooling 'PETO' does not apply to measure 'RR'"),
    ('pooling = "Peto"', 'pooling = "Peto"\neffects = "random"', "common-effect method"),
    ('measure = "MD"', 'measure = "MD"\npooling = "MH"', "does not apply to measure 'MD'"),
    ('method = "MH"', 'method = "MH"\npooling = "IV"', "give the pooling method once"),
    ('multiarm = "combine"', 'multiarm = "pool"', "multiarm"),
    ('effects = "random"', 'effects = "random"\nmethod = "REML"', "applies to pooling 'IV'"),
    ('effects = "random"', 'effects = "random"\ntest = "knha"', "M-H and Peto use z"),
    ('intervention = "kp"', 'intervention = ["kp", "usual"]', "named on both sides"),
])
def test_config_errors(tmp_path, old, new, expect):
    toml = ARM_TOML.replace(old, new, 1)
    assert toml != ARM_TOML
    with pytest.raises(InputError) as err:
        load_review(make_arm_review(tmp_path / "r", toml=toml))
    assert expect in str(err.value) and "review.toml" in str(err.value)


# ------------------------------------------------------------------------ validation
@pytest.mark.parametrize("i, change, expect", [
    (0, {"treatment": ""}, ["line 2", "needs 'treatment'"]),
    (0, {"comparator": "placebo"}, ["line 2", "'comparator' is for contrast rows"]),
    (0, {"value_type": "rate", "person_time": "10", "events": "3", "n": "", "mean": "",
         "sd": ""}, ["line 2", "'rate'", "continuous"]),
    (1, {"comparison": "kp_vs_usual"}, ["line 3", "'placebo' is not a treatment of comparison"]),
])
def test_bad_arm_rows(tmp_path, i, change, expect):
    rows = copy.deepcopy(ARM_OUTCOMES)
    rows[i] |= change
    with pytest.raises(InputError) as err:
        load_review(make_arm_review(tmp_path / "r", outcomes=rows))
    for e in expect:
        assert e in str(err.value), str(err.value)


@pytest.mark.parametrize("i, change, expect", [
    (-20, {"comparator": ""}, "needs 'comparator'"),
    (-20, {"direction": "lower_hazard_control"}, "direction 'lower_hazard_control'"),
    (-18, {"variance": ""}, "needs 'variance'"),
    (-16, {"events_control": ""}, "give both 'events_intervention' and 'events_control'"),
    (-16, {"events": "75"}, "not both"),
    (-15, {"events": ""}, "needs the events"),
    (-16, {"direction": "intervention_over_control"}, "for a log-rank P value"),
    (-16, {"p_value": "0"}, "p_value"),
])
def test_bad_time_to_event_rows(tmp_path, i, change, expect):
    rows = copy.deepcopy(ARM_OUTCOMES)
    assert rows[i]["outcome"] == "survival", rows[i]
    rows[i] |= change
    with pytest.raises(InputError) as err:
        load_review(make_arm_review(tmp_path / "r", outcomes=rows))
    assert expect in str(err.value), str(err.value)


def test_mixed_formats_in_one_study_are_an_error(tmp_path):
    rows = copy.deepcopy(ARM_OUTCOMES)
    rows[1] |= {"arm": "control", "comparison": "kp_vs_placebo", "treatment": ""}
    with pytest.raises(InputError, match="mixes the two-arm format"):
        load_review(make_arm_review(tmp_path / "r", outcomes=rows))


def test_duplicate_treatment_row(tmp_path):
    rows = copy.deepcopy(ARM_OUTCOMES)
    rows.insert(1, dict(rows[0]))
    with pytest.raises(InputError, match="duplicate of line 2 .*treatment"):
        load_review(make_arm_review(tmp_path / "r", outcomes=rows))


def test_unknown_treatment_in_comparison_is_a_warning_with_a_hint(tmp_path):
    toml = ARM_TOML.replace('control = "usual"', 'control = "usul"')
    lines = validate(make_arm_review(tmp_path / "r", toml=toml))
    warn = sorted(x for x in lines if x.startswith("warning:"))
    assert len(warn) == 2
    assert "'usual'" in warn[0] and "is in no comparison" in warn[0]
    assert "'usul'" in warn[1] and "did you mean 'usual'" in warn[1]
    assert any(x.startswith("  treatments: kp (6 studies)") for x in lines)


def test_unknown_comparison_in_studies_csv_is_a_warning_with_a_hint(tmp_path):
    from review_helpers import write_csv

    d = make_arm_review(tmp_path / "r")
    studies = [dict(s) for s in ARM_STUDIES]
    studies[2]["comparison"] = "kp_vs_placbo"   # a typo: line 4 of studies.csv
    studies[3]["comparison"] = "kp_vs_placebo"  # known: no warning
    write_csv(d / "studies.csv", studies)
    warn = [x for x in validate(d) if x.startswith("warning:")]
    assert warn == [
        "warning: studies.csv: line 4 (study 'T3'): field 'comparison': 'kp_vs_placbo' is not "
        "a comparison id of review.toml (did you mean 'kp_vs_placebo'?); expected one of "
        "kp_vs_placebo, kp_vs_placebo_split, kp_vs_usual or an empty cell (the column is "
        "descriptive: the study's analyses follow outcomes.csv)"]


def test_run_writes_footnote_and_labels(tmp_path):
    from evsynth.review.pipeline import run

    d = make_arm_review(tmp_path / "r")
    res = run(d, tmp_path / "out", quiet=True)
    svg = (tmp_path / "out" / "figures" / "kp_vs_placebo.pain.main.forest.svg").read_text()
    assert "Multi-arm trial" in svg and "IV, Random" in svg
    svg = (tmp_path / "out" / "figures" / "kp_vs_placebo.ae.main.forest.svg").read_text()
    assert "M-H, Random" in svg
    assert any("counted 2 times" in w for w in res["warnings"])
    sof = {a["id"]: a["sof"] for a in res["analyses"]}
    assert sof["kp_vs_placebo.serious.main"]["method"] == "Peto, Fixed"
    assert sof["kp_vs_placebo.survival.main"]["relative_text"].startswith("HR ")
    grade = {a["id"]: a["grade"] for a in res["analyses"]}
    prompt = grade["kp_vs_placebo.fracture.main"]["prompts"]["imprecision"]
    assert "(M-H, Fixed)" in prompt
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Mantel-Haenszel with DerSimonian-Laird random effects" in html


# ------------------------------------------------------------------------ old format
def test_two_arm_rows_give_identical_results_to_arm_based_rows(tmp_path):
    """The same data in the two-arm format (arm = intervention/control with the comparison's
    id) and in the arm-based format (treatment names) give the same analyses."""
    from review_helpers import OUTCOMES, REVIEW_TOML, make_review

    old = {a["id"]: a for a in build_analyses(load_review(make_review(tmp_path / "old")))}
    rows = []
    for r in copy.deepcopy(OUTCOMES):
        r.pop("comparison")
        if r.get("arm"):
            r["treatment"] = {"intervention": "A", "control": "B"}[r.pop("arm")]
        else:
            r |= {"treatment": "A", "comparator": "B"}
        rows.append(r)
    new = {a["id"]: a for a in build_analyses(load_review(make_review(
        tmp_path / "new", toml=REVIEW_TOML, outcomes=rows)))}
    assert old.keys() == new.keys()
    for k in old:
        a, b = old[k], new[k]
        assert [s["study_id"] for s in a["studies"]] == [s["study_id"] for s in b["studies"]]
        assert a["excluded"] == b["excluded"] or \
            [e["reason"] for e in a["excluded"]] == [e["reason"] for e in b["excluded"]]
        for key in ("yi", "vi", "weight"):
            assert [s[key] for s in a["studies"]] == [s[key] for s in b["studies"]]
        assert a["pooled"] == b["pooled"]


def test_example_in_arm_based_format_equals_its_two_arm_version():
    """examples/vertebroplasty (arm-based: treatments vertebroplasty, placebo, usual_care,
    kyphoplasty, facet_injection) gives exactly the numbers of the same data in the older
    two-arm format (kept in tests/review/data/vertebroplasty_two_arm)."""
    here = Path(__file__).parent
    old = {a["id"]: a for a in build_analyses(load_review(here / "data" /
                                                          "vertebroplasty_two_arm"))}
    new = {a["id"]: a for a in build_analyses(load_review(here.parents[1] / "examples" /
                                                          "vertebroplasty"))}
    assert old.keys() == new.keys() and len(old) == 15
    for k, a in old.items():
        b = new[k]
        for key in ("yi", "vi", "weight", "study_id", "participants"):
            assert [s[key] for s in a["studies"]] == [s[key] for s in b["studies"]], (k, key)
        assert a["pooled"] == b["pooled"], k
        assert a["participants"] == b["participants"]
        assert [e["reason"] for e in a["excluded"]] == [e["reason"] for e in b["excluded"]]
        assert a["comparison"]["intervention"] == b["comparison"]["intervention"]
        assert a["comparison"]["control"] == b["comparison"]["control"]
    assert np.isfinite([a["pooled"]["estimate"] for a in new.values() if a["k"]]).all()


# ------------------------------------------------------------------------ invariants
_arm = st.tuples(st.integers(2, 200), st.floats(-50, 50), st.floats(0.1, 20))


@given(i_arms=st.lists(_arm, min_size=1, max_size=3), c_arms=st.lists(_arm, min_size=1,
                                                                        max_size=3))
@settings(max_examples=60, deadline=None)
def test_split_and_combine_conserve_participants(i_arms, c_arms):
    """Split: every arm's n is shared out completely; combine: n is the sum, and the merged mean
    and SD do not depend on the order of the arms (Handbook Table 6.5.a)."""
    from evsynth.review.arms import Group, pair_arms

    def groups(arms, prefix):
        return [Group([f"{prefix}{j}"], "final", {"n": n, "mean": m, "sd": s,
                                                  "baseline_mean": None, "baseline_sd": None,
                                                  "events": None, "total": None,
                                                  "person_time": None})
                for j, (n, m, s) in enumerate(arms)]

    gi, gc = groups(i_arms, "i"), groups(c_arms, "c")
    total = sum(n for n, _, _ in i_arms + c_arms)
    sp = pair_arms(gi, gc, "split")
    assert_allclose(sum(a.size + b.size for a, b in sp.pairs), total, rtol=1e-12)
    co = pair_arms(gi, gc, "combine")
    (a, b), = co.pairs
    assert_allclose(a.size + b.size, total, rtol=1e-12)
    rev = pair_arms(gi[::-1], gc[::-1], "combine").pairs[0]
    assert_allclose([a.values["mean"], a.values["sd"]], [rev[0].values["mean"],
                                                        rev[0].values["sd"]], rtol=1e-9)


def test_validate_lists_multiarm_studies_and_unused_treatments(tmp_path):
    rows = copy.deepcopy(ARM_OUTCOMES)
    rows[2]["treatment"] = "kpp"   # T2's kp arm, a typo
    lines = validate(make_arm_review(tmp_path / "r", outcomes=rows))
    assert "  kp_vs_placebo: multi-arm T3, T5 (multiarm = 'combine')" in lines
    assert "  kp_vs_placebo_split: multi-arm T3, T5 (multiarm = 'split')" in lines
    warn = [x for x in lines if x.startswith("warning:")]
    assert len(warn) == 1 and "'kpp'" in warn[0] and "did you mean 'kp'" in warn[0]
    toml = ARM_TOML.replace("[model]", '[treatments]\nkpp = "Kyphoplasty (typo)"\n\n[model]')
    lines = validate(make_arm_review(tmp_path / "r2", toml=toml, outcomes=rows))
    assert not [x for x in lines if x.startswith("warning:")]
