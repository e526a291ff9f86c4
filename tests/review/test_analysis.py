"""Analysis assembly: window rules, arm pairing, sign orientation, exclusions, and numbers equal to
direct evsynth.effect_size / evsynth.meta calls (the pipeline adds no formulas)."""

from __future__ import annotations

import copy

import numpy as np
from numpy.testing import assert_allclose
from review_helpers import OUTCOMES, REVIEW_TOML, make_review

import evsynth
from evsynth.review.analysis import UNKNOWN_DIRECTION, build_analyses, choose_timepoint
from evsynth.review.load import load_review
from evsynth.review.schema import Window

TOL = {"rtol": 1e-10, "atol": 1e-12}


def _analyses(d) -> dict[str, dict]:
    return {a["id"]: a for a in build_analyses(load_review(d))}


def _study(a: dict, sid: str) -> dict:
    return next(s for s in a["studies"] if s["study_id"] == sid)


# --------------------------------------------------------------------------- window selection
def test_closest_rule_and_tie_goes_later():
    w = Window(id="w", weeks=(0, 12), include_upper=False, target_weeks=4, rule="closest")
    assert choose_timepoint([2, 4.3, 11], w) == 4.3
    assert choose_timepoint([3, 5], w) == 5  # tie: the later assessment
    assert choose_timepoint([12, 20], w) is None  # upper bound excluded
    assert choose_timepoint([0.5], w) == 0.5


def test_latest_rule_and_inclusive_upper():
    w = Window(id="w", weeks=(26, 52), include_upper=True, target_weeks=52, rule="latest")
    assert choose_timepoint([26, 40, 52, 104], w) == 52
    assert choose_timepoint([25.9, 52.1], w) is None


def test_chosen_timepoints(review_dir):
    an = _analyses(review_dir)
    early = an["a_vs_b.pain.early"]
    assert _study(early, "S1")["timepoint_weeks"] == 4  # closest to target 4 (not 2)
    assert _study(early, "S2")["timepoint_weeks"] == 6
    late = an["a_vs_b.pain.late"]  # rule latest
    assert _study(late, "S1")["timepoint_weeks"] == 52
    assert _study(late, "S3")["timepoint_weeks"] == 26


# --------------------------------------------------------------------------- numbers
def test_md_arm_level_equals_effect_size_and_meta(review_dir):
    a = _analyses(review_dir)["a_vs_b.pain.early"]
    s1 = _study(a, "S1")
    es = evsynth.effect_size("MD", m1i=[2.5], m2i=[4.1], sd1i=[2.1], sd2i=[2.3], n1i=[20],
                             n2i=[20])
    assert_allclose([s1["yi"], s1["vi"]], [es.yi[0], es.vi[0]], **TOL)
    assert s1["intervention"] == {"n": 20, "mean": 2.5, "sd": 2.1}
    # contrast S3: control minus intervention 1.2 (0.2, 2.2) -> -1.2 (-2.2, -0.2)
    s3 = _study(a, "S3")
    gen = evsynth.effect_size("GEN", yi=[-1.2], ci_lb=[-2.2], ci_ub=[-0.2])
    assert_allclose([s3["yi"], s3["vi"]], [gen.yi[0], gen.vi[0]], **TOL)
    # pooled = evsynth.meta on the same yi/vi, study order by year (S1 2001, S3 2003, S2 2005)
    assert [s["study_id"] for s in a["studies"]] == ["S1", "S3", "S2"]
    yi = [s["yi"] for s in a["studies"]]
    vi = [s["vi"] for s in a["studies"]]
    fit = evsynth.meta(yi, vi, method="REML")
    p = a["pooled"]
    assert_allclose([p["estimate"], p["se"], p["ci_lb"], p["ci_ub"], p["tau2"], p["I2"],
                     p["QE"], p["QEp"], p["pval"]],
                    [fit.estimate, fit.se[0], fit.ci_lb[0], fit.ci_ub[0], fit.tau2, fit.I2,
                     fit.QE, fit.QEp, fit.pval[0]], **TOL)
    pred = fit.predict()
    assert_allclose([p["pi_lb"], p["pi_ub"]], [pred.pi_lb, pred.pi_ub], **TOL)
    assert_allclose([s["weight"] for s in a["studies"]], fit.weights, **TOL)
    assert p["QE_df"] == 2 and p["df"] is None
    assert a["k"] == 3 and a["participants"] == 40 + 60 + 60


def test_study_ci_is_wald(review_dir):
    a = _analyses(review_dir)["a_vs_b.pain.early"]
    s = a["studies"][0]
    z = 1.959963984540054
    assert_allclose([s["ci_lb"], s["ci_ub"]],
                    [s["yi"] - z * s["sei"], s["yi"] + z * s["sei"]], rtol=1e-9)


def test_smd_change_from_baseline_followup_and_change_rows(review_dir):
    a = _analyses(review_dir)["a_vs_b.func.early"]
    s1 = _study(a, "S1")
    es = evsynth.effect_size("SMD_CHANGE", m1i_pre=[12.0], m1i_post=[8.0], sd1i_pre=[4.5],
                             sd1i_post=[4.0], m2i_pre=[12.5], m2i_post=[10.0], sd2i_pre=[4.4],
                             sd2i_post=[4.2], n1i=[20], n2i=[20], ri=[0.5])
    assert_allclose([s1["yi"], s1["vi"]], [es.yi[0], es.vi[0]], **TOL)
    s4 = _study(a, "S4")  # change rows: SMD of the change scores
    es4 = evsynth.effect_size("SMD", m1i=[-3.0], m2i=[-2.0], sd1i=[3.5], sd2i=[3.6], n1i=[50],
                              n2i=[50])
    assert_allclose([s4["yi"], s4["vi"]], [es4.yi[0], es4.vi[0]], **TOL)
    # final values only cannot enter an SMD of change
    ex = {e["study_id"]: e["reason"] for e in a["excluded"]}
    assert "final values only" in ex["S3"]
    # correlation sensitivity: r = 0.2 refits with the baseline_followup studies recomputed
    sens = {s["name"]: s for s in a["sensitivity"]}
    s02 = sens["change-score correlation 0.2"]
    ys, vs = [], []
    for s in a["studies"]:
        if s["value_type"] == "baseline_followup":
            i, c = s["intervention"], s["control"]
            e = evsynth.effect_size("SMD_CHANGE", m1i_pre=[i["baseline_mean"]],
                                    m1i_post=[i["mean"]], sd1i_pre=[i["baseline_sd"]],
                                    sd1i_post=[i["sd"]], m2i_pre=[c["baseline_mean"]],
                                    m2i_post=[c["mean"]], sd2i_pre=[c["baseline_sd"]],
                                    sd2i_post=[c["sd"]], n1i=[i["n"]], n2i=[c["n"]], ri=[0.2])
            ys.append(e.yi[0])
            vs.append(e.vi[0])
        else:
            ys.append(s["yi"])
            vs.append(s["vi"])
    fit = evsynth.meta(ys, vs, method="REML")
    assert_allclose([s02["estimate"], s02["ci_lb"], s02["ci_ub"]],
                    [fit.estimate, fit.ci_lb[0], fit.ci_ub[0]], **TOL)
    assert a["model"]["change_score_correlation"] == 0.5


def test_binary_events_and_ratio_contrast(review_dir):
    a = _analyses(review_dir)["a_vs_b.fracture.late"]
    assert a["log_scale"] is True and a["measure"] == "OR"
    s1 = _study(a, "S1")
    es = evsynth.effect_size("OR", ai=[5], n1i=[20], ci=[8], n2i=[20])
    assert_allclose([s1["yi"], s1["vi"]], [es.yi[0], es.vi[0]], **TOL)
    assert s1["control"] == {"events": 8, "total": 20}
    # OR 1.5 (0.8, 2.8) reported as control over intervention -> 1/1.5 (1/2.8, 1/0.8)
    s4 = _study(a, "S4")
    gen = evsynth.effect_size("GEN", yi=[1 / 1.5], ci_lb=[1 / 2.8], ci_ub=[1 / 0.8], ratio=True)
    assert_allclose([s4["yi"], s4["vi"]], [gen.yi[0], gen.vi[0]], **TOL)
    assert s4["data_level"] == "contrast" and s4["intervention"] is None
    cs = a["control_summary"]["binary"]
    assert_allclose(cs["risks"], [8 / 20, 9 / 40, 12 / 30], **TOL)
    assert_allclose(cs["median_risk"], 0.4, **TOL)


def test_unknown_direction_excluded_never_guessed(review_dir):
    for aid in ("a_vs_b.pain.early", "a_vs_b.pain.late"):
        a = _analyses(review_dir)[aid]
        assert "S4" not in [s["study_id"] for s in a["studies"]]
        ex = [e for e in a["excluded"] if e["study_id"] == "S4"]
        assert ex and ex[0]["reason"] == UNKNOWN_DIRECTION


def test_contrast_md_cannot_enter_smd(tmp_path):
    toml = REVIEW_TOML.replace('measure = "MD"', 'measure = "SMD"', 1)
    rows = [r for r in OUTCOMES if r["outcome"] == "pain"]
    d = make_review(tmp_path / "r", toml, outcomes=rows)
    a = _analyses(d)["a_vs_b.pain.early"]
    ex = {e["study_id"]: e["reason"] for e in a["excluded"]}
    assert "contrast reported as MD" in ex["S3"] and "SMD" in ex["S3"]
    assert sorted(s["study_id"] for s in a["studies"]) == ["S1", "S2"]


def test_k0_kept_with_exclusions(tmp_path):
    rows = [r for r in OUTCOMES if r["study_id"] == "S4" and r["outcome"] == "pain"]
    d = make_review(tmp_path / "r", outcomes=rows)
    a = _analyses(d)["a_vs_b.pain.early"]
    assert a["k"] == 0 and a["pooled"] is None and a["participants"] == 0
    assert a["excluded"][0]["reason"] == UNKNOWN_DIRECTION
    assert a["sensitivity"] == [] and a["subgroups"] is None


def test_k1_is_the_study_estimate(tmp_path):
    rows = [r for r in OUTCOMES if r["study_id"] == "S1" and r["outcome"] == "pain"]
    d = make_review(tmp_path / "r", outcomes=rows)
    a = _analyses(d)["a_vs_b.pain.early"]
    s = a["studies"][0]
    p = a["pooled"]
    assert a["k"] == 1 and s["weight"] == 100
    assert_allclose([p["estimate"], p["ci_lb"], p["ci_ub"]], [s["yi"], s["ci_lb"], s["ci_ub"]],
                    **TOL)
    assert p["tau2"] is None and p["I2"] is None and p["pi_lb"] is None
    assert "k = 1" in p["note"]


def test_only_one_arm_reported(tmp_path):
    rows = copy.deepcopy([r for r in OUTCOMES if r["outcome"] == "pain"])
    rows = [r for r in rows if not (r["study_id"] == "S2" and r.get("arm") == "control")]
    d = make_review(tmp_path / "r", outcomes=rows)
    a = _analyses(d)["a_vs_b.pain.early"]
    ex = {e["study_id"]: e["reason"] for e in a["excluded"]}
    assert ex["S2"] == "only the intervention arm is reported at 6 weeks"


def test_double_zero_study_excluded_as_revman_and_kept_with_drop00_false(tmp_path):
    """RevMan 5's default (Deeks & Higgins 2010; Handbook 10.4.4): a study with no events in
    either arm is left out of an OR analysis; with drop00 = false (metafor's escalc default) it
    stays, with 1/2 added to every cell."""
    rows = [r for r in OUTCOMES if r["outcome"] == "fracture" and r["study_id"] != "S4"]
    rows = copy.deepcopy(rows)
    for r in rows:
        if r["study_id"] == "S1":
            r["events"] = 0
    d = make_review(tmp_path / "r", outcomes=rows)
    a = _analyses(d)["a_vs_b.fracture.late"]
    assert "S1" not in [s["study_id"] for s in a["studies"]]
    ex = {e["study_id"]: e["reason"] for e in a["excluded"]}
    assert "no events" in ex["S1"] and "both groups" in ex["S1"]
    toml = REVIEW_TOML.replace('measure = "OR"', 'measure = "OR"\ndrop00 = false')
    d2 = make_review(tmp_path / "r2", toml=toml, outcomes=rows)
    a2 = _analyses(d2)["a_vs_b.fracture.late"]
    s1 = _study(a2, "S1")
    es = evsynth.effect_size("OR", ai=[0], n1i=[20], ci=[0], n2i=[20])
    assert_allclose([s1["yi"], s1["vi"]], [es.yi[0], es.vi[0]], **TOL)


def test_subgroups_equal_meta_subgroup(review_dir):
    a = _analyses(review_dir)["a_vs_b.pain.early"]
    sg = a["subgroups"]
    assert sg is not None and sg["variable"] == "rob_overall"
    labels = [s["subgroup"] for s in a["studies"]]
    assert labels == ["low", "low", "high"]
    fit = evsynth.meta([s["yi"] for s in a["studies"]], [s["vi"] for s in a["studies"]],
                       subgroup=labels)
    assert_allclose(sg["Q_between"], fit.Q_between, **TOL)
    assert_allclose(sg["Q_between_p"], fit.Q_between_p, **TOL)
    lv = {x["label"]: x for x in sg["levels"]}
    assert_allclose(lv["low"]["estimate"], fit.subgroups["low"].estimate, **TOL)
    assert lv["low"]["k"] == 2 and lv["high"]["k"] == 1


def test_sensitivity_high_rob_and_common_effect(review_dir):
    a = _analyses(review_dir)["a_vs_b.pain.early"]
    sens = {s["name"]: s for s in a["sensitivity"]}
    keep = [s for s in a["studies"] if s["risk_of_bias"] != "high"]
    fit = evsynth.meta([s["yi"] for s in keep], [s["vi"] for s in keep], method="REML")
    assert sens["excluding high risk of bias"]["k"] == 2
    assert_allclose(sens["excluding high risk of bias"]["estimate"], fit.estimate, **TOL)
    assert "S2" in sens["excluding high risk of bias"]["note"]
    ce = evsynth.meta([s["yi"] for s in a["studies"]], [s["vi"] for s in a["studies"]],
                      method="EE")
    assert_allclose(sens["common effect"]["estimate"], ce.estimate, **TOL)


def test_control_summary_continuous(review_dir):
    a = _analyses(review_dir)["a_vs_b.pain.early"]
    cs = a["control_summary"]["continuous"]
    # control arms of the arm-level studies: S1 (n 20, mean 4.1, sd 2.3), S2 (30, 4.5, 2.4)
    assert_allclose(cs["mean"], (20 * 4.1 + 30 * 4.5) / 50, **TOL)
    assert_allclose(cs["sd"], np.median([2.3, 2.4]), **TOL)
    assert cs["n_studies"] == 2


def test_outcome_model_override_and_knha(tmp_path):
    toml = REVIEW_TOML.replace('measure = "MD"', 'measure = "MD"\nmethod = "DL"\ntest = "knha"', 1)
    d = make_review(tmp_path / "r", toml)
    a = _analyses(d)["a_vs_b.pain.early"]
    fit = evsynth.meta([s["yi"] for s in a["studies"]], [s["vi"] for s in a["studies"]],
                       method="DL", test="knha")
    assert a["model"]["method"] == "DL" and a["model"]["test"] == "knha"
    assert_allclose([a["pooled"]["estimate"], a["pooled"]["ci_lb"], a["pooled"]["df"]],
                    [fit.estimate, fit.ci_lb[0], 2], **TOL)
    pred = fit.predict()
    assert_allclose(a["pooled"]["pi_lb"], pred.pi_lb, **TOL)


def test_no_assessment_in_window_is_not_an_analysis(review_dir):
    an = _analyses(review_dir)
    assert "a_vs_b.func.late" not in an  # no function data at 26-52 weeks
