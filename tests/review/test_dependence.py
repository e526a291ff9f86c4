"""Several effects per study in the review pipeline (``dependence`` per outcome;
src/evsynth/review/dependence.py).

The data (tests/reference/dependence_fixtures.R, written into the fixture JSON): seven trials
of drugA and/or drugB against placebo, pain 0-10; S1 and S4 assessed twice in the 8-26 week
window (S1 also at 52 weeks, outside it), S2 a three-arm trial, S6 three arms at two time
points. With ``multiarm = "split"`` and ``dependence = "multilevel"`` the window holds 13
dependent effects from 7 studies. metafor's numbers (rma.mv three-level model with vcalc's V,
robust(clubSandwich = TRUE), rma.uni of one effect per study) are compared to 1e-6.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from review_helpers import write_csv

import evsynth
from evsynth.errors import InputError
from evsynth.review.analysis import build_analyses
from evsynth.review.load import load_review, validate

FIX = json.loads((Path(__file__).parents[1] / "reference" / "dependence" /
                  "dependence.json").read_text())
TOL = {"rtol": 1e-6, "atol": 1e-7}

TOML = """
title = "Dependence test"

[model]
method = "{method}"
test = "{test}"

[[comparisons]]
id = "drug_vs_placebo"
intervention = ["drugA", "drugB"]
control = "placebo"
multiarm = "split"

[[outcomes]]
id = "pain"
kind = "continuous"
direction = "lower_is_better"
measure = "MD"
{extra}

[[windows]]
id = "short"
weeks = [8, 26]
target_weeks = 12
"""


def make(root: Path, extra: str = "", method: str = "REML", test: str = "z",
         more: list[dict] | None = None, instrument: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "review.toml").write_text(TOML.format(extra=extra, method=method, test=test))
    arms = FIX["arms"]
    years = {a["study"]: a["year"] for a in arms}
    write_csv(root / "studies.csv", [{"study_id": s, "year": y} for s, y in years.items()])
    rows = [{"study_id": a["study"], "outcome": "pain", "timepoint_weeks": a["week"],
             "treatment": a["treatment"], "value_type": "final", "n": a["n"],
             "mean": a["mean"], "sd": a["sd"], "instrument": instrument or ""} for a in arms]
    write_csv(root / "outcomes.csv", rows + (more or []))
    return root


#: a second instrument (NRS) in S3 and S7 at their time point (the others measured with VAS)
NRS = [{"study_id": "S3", "outcome": "pain", "timepoint_weeks": 12, "treatment": "drugA",
        "value_type": "final", "n": 125, "mean": 4.1, "sd": 2.4, "instrument": "NRS"},
       {"study_id": "S3", "outcome": "pain", "timepoint_weeks": 12, "treatment": "placebo",
        "value_type": "final", "n": 124, "mean": 4.7, "sd": 2.3, "instrument": "NRS"},
       {"study_id": "S7", "outcome": "pain", "timepoint_weeks": 16, "treatment": "drugA",
        "value_type": "final", "n": 55, "mean": 3.2, "sd": 2.1, "instrument": "NRS"},
       {"study_id": "S7", "outcome": "pain", "timepoint_weeks": 16, "treatment": "placebo",
        "value_type": "final", "n": 54, "mean": 4.4, "sd": 2.2, "instrument": "NRS"}]


def analysis(tmp_path: Path, extra: str = "", **kw: str) -> dict:
    out = build_analyses(load_review(make(tmp_path / "review", extra, **kw)))
    assert len(out) == 1
    return out[0]


def _v(x):
    """A number of the fixture (jsonlite writes length-1 vectors unboxed)."""
    return x[0] if isinstance(x, list) else x


def _key(study: str, week: float, grp1: str) -> tuple[str, float, str]:
    return (study, float(week), grp1)


def _effects_by_key(a: dict) -> dict[tuple, dict]:
    out = {}
    for s in a["studies"]:
        grp1 = s["intervention"].get("treatment") or "+".join(s["intervention"]["treatments"])
        out[_key(s["study_id"], s["timepoint_weeks"], grp1)] = s
    return out


# ------------------------------------------------------------------------ one_per_study
def test_one_per_study_is_todays_analysis(tmp_path):
    """Default: one effect per study and split pair (closest time point, shared placebo
    divided), pooled by rma.uni REML as metafor; no dependence fields; an explicit
    one_per_study gives the identical dict."""
    a = analysis(tmp_path)
    one = FIX["one_per_study"]
    got = _effects_by_key(a)
    assert len(got) == a["k"] == len(one["yi"]) == 9
    for s, w, g, y, v in zip(one["study"], one["week"], one["grp1"], one["yi"], one["vi"],
                             strict=True):
        e = got[_key(s, w, g)]
        assert_allclose([e["yi"], e["vi"]], [y, v], rtol=1e-12)
    p = a["pooled"]
    assert_allclose([p["estimate"], p["se"], p["ci_lb"], p["ci_ub"], p["tau2"], p["I2"]],
                    [_v(one["beta"]), _v(one["se"]), _v(one["ci_lb"]), _v(one["ci_ub"]),
                     one["tau2"], one["I2"]], **TOL)
    assert "dependence" not in a and "variance_components" not in a
    assert a["model"]["label"] == "IV, Random"
    b = build_analyses(load_review(make(tmp_path / "explicit", 'dependence = "one_per_study"')))
    assert json.dumps(b[0], default=str) == json.dumps(a, default=str).replace(
        str(tmp_path / "review"), str(tmp_path / "explicit"))


# ------------------------------------------------------------------------ multilevel
def test_multilevel_effects_and_V_match_metafor(tmp_path):
    a = analysis(tmp_path, 'dependence = "multilevel"')
    eff = FIX["effects"]
    got = _effects_by_key(a)
    assert a["k"] == len(eff["yi"]) == 13 and a["k_studies"] == 7
    for s, w, g, y, v in zip(eff["study"], eff["week"], eff["grp1"], eff["yi"], eff["vi"],
                             strict=True):
        e = got[_key(s, w, g)]
        assert_allclose([e["yi"], e["vi"]], [y, v], rtol=1e-12)
        assert e["study_label"] == s
    # V as metafor's vcalc: rebuild from the analysis rows in R's order
    from evsynth.review.analysis import StudyInput
    from evsynth.review.dependence import sampling_covariance

    order = [a["studies"].index(got[_key(s, w, g)]) for s, w, g in
             zip(eff["study"], eff["week"], eff["grp1"], strict=True)]
    items = [StudyInput(a["studies"][j]["study_id"], a["studies"][j]["timepoint_weeks"], (),
                        {}, False, a["studies"][j], None) for j in order]
    V, info = sampling_covariance(items, np.array(eff["vi"]), 0.6)
    assert_allclose(V.toarray(), np.array(FIX["cases"]["reml_z"]["V"]), rtol=1e-12, atol=1e-15)
    assert info["equal_sizes"] is False


@pytest.mark.parametrize(("case", "method", "test"), [("reml_z", "REML", "z"),
                                                       ("ml_z", "ML", "z"),
                                                       ("reml_t", "REML", "t")])
def test_multilevel_matches_rma_mv(tmp_path, case, method, test):
    """The pooled result and variance components equal metafor rma.mv(yi, V, random =
    ~ 1 | study/es) (tight control) and evsynth.meta_mv on the same data."""
    a = analysis(tmp_path, 'dependence = "multilevel"', method=method, test=test)
    r = FIX["cases"][case]
    p, vc = a["pooled"], a["variance_components"]
    assert a["dependence"] == "multilevel" and a["model"]["random"] == "~ 1 | study/es"
    assert a["model"]["label"] == "IV, Random, three-level"
    assert_allclose([p["estimate"], p["se"], p["zval"], p["pval"], p["ci_lb"], p["ci_ub"]],
                    [_v(r["beta"]), _v(r["se"]), _v(r["zval"]), _v(r["pval"]), _v(r["ci_lb"]),
                     _v(r["ci_ub"])], **TOL)
    assert_allclose([c["variance"] for c in vc["components"]], r["sigma2"], **TOL)
    assert [c["n_levels"] for c in vc["components"]] == [7, 13]
    assert [c["label"] for c in vc["components"]] == ["between studies",
                                                      "between effects within studies"]
    assert_allclose([c["I2"] for c in vc["components"]], r["i2"]["I2"], **TOL)
    assert_allclose([vc["I2_total"], vc["typical_sampling_variance"]],
                    [r["i2"]["I2_total"], r["i2"]["typical"]], **TOL)
    assert_allclose([p["QE"], p["pi_lb"], p["pi_ub"]], [r["QE"], _v(r["pi_lb"]), _v(r["pi_ub"])],
                    **TOL)
    assert p["QE_df"] == 12
    if test == "t":
        assert_allclose(p["df"], _v(r["ddf"]))
    # the same as evsynth.meta_mv called directly on the analysis' rows
    eff = _effects_by_key(a)
    rows = list(eff.values())
    from evsynth.review.analysis import StudyInput
    from evsynth.review.dependence import sampling_covariance

    items = [StudyInput(s["study_id"], s["timepoint_weeks"], (), {}, False, s, None)
             for s in rows]
    V, _ = sampling_covariance(items, np.array([s["vi"] for s in rows]), 0.6)
    fit = evsynth.meta_mv([s["yi"] for s in rows], V, random="~ 1 | study/es",
                          data={"study": [s["study_id"] for s in rows],
                                "es": list(range(len(rows)))}, method=method, test=test)
    assert_allclose([float(fit.beta[0]), *fit.sigma2], [p["estimate"], *r["sigma2"]], **TOL)
    # weights as metafor weights.rma.mv, per effect in percent
    w = {(s["study_id"], s["timepoint_weeks"], s["slab"]): s["weight"] for s in a["studies"]}
    assert_allclose(sum(w.values()), 100.0)
    got = [eff[_key(s, wk, g)]["weight"] for s, wk, g in
           zip(FIX["effects"]["study"], FIX["effects"]["week"], FIX["effects"]["grp1"],
               strict=True)]
    assert_allclose(got, r["weights"], **TOL)


def test_robust_matches_metafor_clubsandwich(tmp_path):
    a = analysis(tmp_path, 'dependence = "robust"')
    r = FIX["cases"]["reml_z"]["robust"]
    p = a["pooled"]
    assert a["dependence"] == "robust" and a["model"]["vcov"] == "CR2"
    assert a["model"]["label"] == "IV, Random, three-level, CR2"
    assert_allclose([p["estimate"], p["se"], p["zval"], p["df"], p["pval"], p["ci_lb"],
                     p["ci_ub"], p["pi_lb"], p["pi_ub"]],
                    [_v(r["beta"]), _v(r["se"]), _v(r["tval"]), _v(r["df"]), _v(r["pval"]),
                     _v(r["ci_lb"]), _v(r["ci_ub"]), _v(r["pi_lb"]), _v(r["pi_ub"])], **TOL)
    assert a["model"]["method_info"]["robust"]["vcov"] == "CR2"


def test_rho_sensitivity_and_one_per_study_sensitivity(tmp_path):
    a = analysis(tmp_path, 'dependence = "multilevel"')
    sens = {s["name"]: s for s in a["sensitivity"]}
    for rho, case in ((0.3, "reml_z_rho03"), (0.9, "reml_z_rho09")):
        s = sens[f"within-study correlation {rho:g}"]
        r = FIX["cases"][case]
        assert_allclose([s["estimate"], s["ci_lb"], s["ci_ub"], s["tau2"], s["I2"]],
                        [_v(r["beta"]), _v(r["ci_lb"]), _v(r["ci_ub"]), sum(r["sigma2"]),
                         r["i2"]["I2_total"]], **TOL)
    one = sens["one effect per study"]
    assert one["k"] == 9
    assert_allclose(one["estimate"], _v(FIX["one_per_study"]["beta"]), **TOL)


def test_rho_key_changes_V(tmp_path):
    a = analysis(tmp_path, 'dependence = "multilevel"\nrho = 0.3\nrho_sensitivity = []')
    r = FIX["cases"]["reml_z_rho03"]
    assert_allclose(a["pooled"]["estimate"], _v(r["beta"]), **TOL)
    assert a["variance_components"]["rho"] == 0.3
    assert [s["name"] for s in a["sensitivity"]] == ["one effect per study"]


def test_effect_labels_group_by_study(tmp_path):
    a = analysis(tmp_path, 'dependence = "multilevel"')
    labels = [(s["study_label"], s["effect"]) for s in a["studies"]]
    assert labels[:4] == [("S1", "12 weeks"), ("S1", "24 weeks"),
                          ("S2", "drugA vs placebo"), ("S2", "drugB vs placebo")]
    assert ("S3", None) in labels
    assert ("S6", "drugB vs placebo, 24 weeks") in labels
    # rows of a study are adjacent (the forest plot groups them under the study)
    seen: list[str] = []
    for s in a["studies"]:
        if not seen or seen[-1] != s["study_id"]:
            assert s["study_id"] not in seen
            seen.append(s["study_id"])
    # participants counted once per group: a placebo group in several effects counts once
    want = sum(x["n"] for x in FIX["arms"] if 8 <= x["week"] <= 26 and x["week"] == max(
        y["week"] for y in FIX["arms"] if y["study"] == x["study"] and 8 <= y["week"] <= 26
        and y["treatment"] == x["treatment"]))
    assert a["participants"] <= want + 2000   # sanity bound
    assert a["participants"] == sum(
        max(x["n"] for x in FIX["arms"] if x["study"] == s and x["treatment"] == t
            and 8 <= x["week"] <= 26)
        for s, t in {(x["study"], x["treatment"]) for x in FIX["arms"] if 8 <= x["week"] <= 26})


# ------------------------------------------------------------------------ instruments
def test_several_instruments_are_dependent_effects(tmp_path):
    """Two instruments in one study and time point: two effects correlated by rho (same
    groups), pooled as evsynth.meta_mv on V from evsynth.vcalc built here independently."""
    d = make(tmp_path / "review", 'dependence = "multilevel"', more=NRS, instrument="VAS")
    a = build_analyses(load_review(d))[0]
    assert a["k"] == 15 and a["k_studies"] == 7
    s3 = [s for s in a["studies"] if s["study_id"] == "S3"]
    assert [(s["effect"], s["instrument"]) for s in s3] == [("NRS", "NRS"), ("VAS", "VAS")]
    yi = np.array([s["yi"] for s in a["studies"]])
    vi = np.array([s["vi"] for s in a["studies"]])
    es = evsynth.effect_size("MD", m1i=[4.1], m2i=[4.7], sd1i=[2.4], sd2i=[2.3], n1i=[125],
                             n2i=[124])
    assert_allclose([s3[0]["yi"], s3[0]["vi"]], [es.yi[0], es.vi[0]], rtol=1e-12)
    st = [s["study_id"] for s in a["studies"]]
    V = evsynth.vcalc(vi, cluster=st,
                      obs=[f"{s['timepoint_weeks']}-{s['instrument']}" for s in a["studies"]],
                      rho=0.6, grp1=[s["intervention"]["treatment"] for s in a["studies"]],
                      grp2=["placebo"] * len(st),
                      w1=[s["intervention"]["n"] for s in a["studies"]],
                      w2=[s["control"]["n"] for s in a["studies"]])
    j = st.index("S3")
    assert_allclose(V[j, j + 1], 0.6 * np.sqrt(vi[j] * vi[j + 1]), rtol=1e-12)
    fit = evsynth.meta_mv(yi, V, random="~ 1 | study/es",
                          data={"study": st, "es": list(range(len(st)))})
    assert_allclose([a["pooled"]["estimate"], a["pooled"]["se"]],
                    [float(fit.beta[0]), float(fit.se[0])], **TOL)
    assert_allclose([c["variance"] for c in a["variance_components"]["components"]],
                    fit.sigma2, **TOL)


def test_several_instruments_need_a_dependence_model(tmp_path):
    d = make(tmp_path / "review", more=NRS, instrument="VAS")
    with pytest.raises(InputError, match=r"'instrument'.*'NRS'.*outcome 'pain'.*multilevel"):
        validate(d)
    # one instrument per study: one_per_study unchanged by the column
    a = analysis(tmp_path / "one")
    b = build_analyses(load_review(make(tmp_path / "vas", instrument="VAS")))[0]
    assert_allclose(b["pooled"]["estimate"], a["pooled"]["estimate"], rtol=1e-14)


# ------------------------------------------------------------------------ validation
def test_bad_dependence_value_names_the_outcome(tmp_path):
    d = make(tmp_path / "review", 'dependence = "three_level"')
    with pytest.raises(InputError) as exc:
        validate(d)
    msg = str(exc.value)
    assert "outcomes[0].dependence" in msg and "'pain'" in msg and "three_level" in msg
    assert "one_per_study" in msg and "multilevel" in msg and "robust" in msg


def test_bad_rho_and_pooling_name_the_outcome(tmp_path):
    d = make(tmp_path / "review", 'dependence = "robust"\nrho = 1.2')
    with pytest.raises(InputError, match=r"outcomes\[0\]\.rho.*'pain'"):
        validate(d)
    d = make(tmp_path / "mh", 'dependence = "multilevel"\npooling = "MH"')
    d.joinpath("review.toml").write_text(d.joinpath("review.toml").read_text().replace(
        'measure = "MD"', 'measure = "MD"').replace('kind = "continuous"', 'kind = "binary"')
        .replace('measure = "MD"', 'measure = "OR"'))
    with pytest.raises(InputError, match=r"'pain'.*dependence 'multilevel'.*pooling 'IV'"):
        validate(d)


# ------------------------------------------------------------------------ report and json
def test_report_and_results_json_state_the_model(tmp_path):
    from evsynth.review.pipeline import run

    d = make(tmp_path / "review", 'dependence = "robust"')
    out = tmp_path / "out"
    run(d, out)
    res = json.loads((out / "results.json").read_text())
    a = _v(res["analyses"])
    assert a["dependence"] == "robust"
    assert [c["factor"] for c in a["variance_components"]["components"]] == ["study",
                                                                             "study/es"]
    html = next(out.glob("*.html")).read_text()
    assert "three-level" in html and "CR2" in html
    assert "between studies" in html and "between effects within studies" in html
    md = next(out.glob("*.md")).read_text()
    assert "Variance components" in md and "between studies" in md
    assert "(7 RCTs)" in md and "7 (13 effects; " in md   # studies, not effects, in the SoF


# ------------------------------------------------------------------------ invariants
def test_one_effect_per_study_multilevel_is_rma_uni(tmp_path):
    """When every study has one effect the model is two-level (~ 1 | study) and equals
    rma.uni REML (metafor: sigma^2 = tau^2), whatever rho."""
    arms = [a for a in FIX["arms"] if a["treatment"] in ("drugA", "placebo")
            and a["week"] in (12, 10, 16)]
    keep = {a["study"] for a in arms if a["treatment"] == "drugA"}
    rows = [{"study_id": a["study"], "outcome": "pain", "timepoint_weeks": a["week"],
             "treatment": a["treatment"], "value_type": "final", "n": a["n"],
             "mean": a["mean"], "sd": a["sd"]} for a in arms if a["study"] in keep]
    out = {}
    for dep in ("one_per_study", "multilevel"):
        d = make(tmp_path / dep, f'dependence = "{dep}"\nrho = 0.2')
        write_csv(d / "outcomes.csv", rows)
        out[dep] = build_analyses(load_review(d))[0]
    a, b = out["one_per_study"], out["multilevel"]
    assert b["model"]["random"] == "~ 1 | study" and b["k"] == a["k"] == b["k_studies"]
    assert_allclose([b["pooled"]["estimate"], b["pooled"]["se"], b["pooled"]["tau2"]],
                    [a["pooled"]["estimate"], a["pooled"]["se"], a["pooled"]["tau2"]],
                    rtol=1e-6)
    assert_allclose([s["weight"] for s in b["studies"]], [s["weight"] for s in a["studies"]],
                    rtol=1e-6)


@settings(max_examples=5, deadline=None)
@given(st.permutations(range(len(FIX["arms"]))))
def test_row_order_does_not_matter(perm):
    """Shuffling outcomes.csv changes nothing (effects sorted by study, V block-diagonal)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        d = make(Path(tmp) / "review", 'dependence = "robust"')
        rows = (d / "outcomes.csv").read_text().splitlines()
        head, body = rows[0], rows[1:]
        (d / "outcomes.csv").write_text("\n".join([head, *[body[j] for j in perm]]) + "\n")
        a = build_analyses(load_review(d))[0]
    r = FIX["cases"]["reml_z"]["robust"]
    assert_allclose([a["pooled"]["estimate"], a["pooled"]["se"], a["pooled"]["df"]],
                    [_v(r["beta"]), _v(r["se"]), _v(r["df"])], **TOL)
