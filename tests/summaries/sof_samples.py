"""Hand-made analysis and results dicts in the layout of /tmp/spec_review.md (results.json), for
the summaries and reports tests. Numbers are made up but internally consistent."""

from __future__ import annotations

import copy
from typing import Any

from evsynth.summaries import grade, plain_language, sof
from evsynth.summaries.characteristics import summarise

DOMAINS = grade.DOMAINS


def judgements(**downgrades: int) -> dict:
    """A [[grade]] entry with the given downgrades (others 0)."""
    out: dict[str, Any] = {"comparison": "vp_vs_placebo", "outcome": "pain"}
    for d in DOMAINS:
        dg = downgrades.get(d, 0)
        out[d] = {"downgrade": dg, "reason": f"reason for {d}" if dg else ""}
    return out


def continuous(**over: Any) -> dict:
    """The issue's example: MD -0.7 [-1.2, -0.3] on a 0-10 pain scale, control mean 5."""
    a = {
        "id": "vp_vs_placebo.pain.late",
        "comparison": {"id": "vp_vs_placebo", "label": "Vertebroplasty vs placebo",
                       "intervention": "Vertebroplasty", "control": "Placebo"},
        "outcome": {"id": "pain", "label": "Pain", "kind": "continuous",
                    "instrument": "0-10 numerical rating scale", "scale_min": 0.0,
                    "scale_max": 10.0, "direction": "lower_is_better", "mid": 1.5,
                    "measure": "MD", "assumed_control_risk": None},
        "window": {"id": "late", "label": "6 to 12 months", "from_weeks": 26, "to_weeks": 52,
                   "include_upper": True, "target_weeks": 52, "rule": "closest"},
        "measure": "MD", "log_scale": False,
        "model": {"method": "REML", "test": "z", "level": 95, "prediction_interval": True,
                  "pi_type": "default", "method_info": {"estimator": "REML", "test": "z"}},
        "studies": [
            {"study_id": "Comstock 2013", "label": "Comstock 2013 (INVEST)", "year": 2013,
             "timepoint_weeks": 52.0, "data_level": "arm", "value_type": "final",
             "intervention": {"n": 68, "mean": 3.1, "sd": 2.6},
             "control": {"n": 63, "mean": 4.0, "sd": 2.9},
             "yi": -0.9, "vi": 0.21, "sei": 0.458, "ci_lb": -1.8, "ci_ub": 0.0, "weight": 40.0,
             "subgroup": None, "risk_of_bias": "low"},
            {"study_id": "Firanescu 2018", "label": "Firanescu 2018 (VERTOS IV)", "year": 2018,
             "timepoint_weeks": 52.0, "data_level": "arm", "value_type": "final",
             "intervention": {"n": 91, "mean": 4.5, "sd": 2.5},
             "control": {"n": 85, "mean": 5.4, "sd": 2.7},
             "yi": -0.9, "vi": 0.154, "sei": 0.392, "ci_lb": -1.67, "ci_ub": -0.13,
             "weight": 35.0, "subgroup": None, "risk_of_bias": "low"},
            {"study_id": "Clark 2016", "label": "Clark 2016 (VAPOUR)", "year": 2016,
             "timepoint_weeks": 26.0, "data_level": "contrast", "value_type": "contrast",
             "intervention": None, "control": None,
             "yi": -0.3, "vi": 0.25, "sei": 0.5, "ci_lb": -1.28, "ci_ub": 0.68, "weight": 25.0,
             "subgroup": None, "risk_of_bias": "some concerns"}],
        "excluded": [{"study_id": "Kallmes 2009", "timepoint_weeks": 4.3,
                      "reason": "direction of effect not reported (sign convention unknown)"}],
        "k": 3, "participants": 427,
        "pooled": {"estimate": -0.7, "se": 0.23, "ci_lb": -1.2, "ci_ub": -0.3, "zval": -3.04,
                   "pval": 0.0024, "pi_lb": -1.9, "pi_ub": 0.5, "tau2": 0.1, "tau": 0.316,
                   "I2": 35.0, "H2": 1.54, "QE": 3.1, "QE_df": 2, "QEp": 0.21, "df": None},
        "subgroups": None,
        "sensitivity": [
            {"name": "common effect", "k": 3, "estimate": -0.75, "ci_lb": -1.2, "ci_ub": -0.3,
             "tau2": 0.0, "I2": 0.0, "note": ""},
            {"name": "excluding high risk of bias", "k": 3, "estimate": -0.7, "ci_lb": -1.2,
             "ci_ub": -0.3, "tau2": 0.1, "I2": 35.0, "note": "no study at high risk"}],
        "control_summary": {"continuous": {"mean": 5.0, "sd": 2.8, "n_studies": 2},
                            "binary": None},
        "figures": {"forest_svg": "figures/vp_vs_placebo.pain.late.forest.svg",
                    "forest_png": "figures/vp_vs_placebo.pain.late.forest.png"},
    }
    return _merge(a, over)


def binary(measure: str = "RR", **over: Any) -> dict:
    """New vertebral fractures (lower is better), pooled on the log scale for OR/RR."""
    import math
    est = {"RR": (0.8, 0.6, 1.07), "OR": (0.75, 0.5, 1.12), "RD": (-0.04, -0.09, 0.01)}[measure]
    log = measure in ("OR", "RR")
    vals = [math.log(v) for v in est] if log else list(est)
    a = continuous()
    a.update({
        "id": "vp_vs_usual.fracture.late",
        "comparison": {"id": "vp_vs_usual", "label": "Vertebroplasty vs usual care",
                       "intervention": "Vertebroplasty", "control": "Usual care"},
        "outcome": {"id": "fracture", "label": "New vertebral fractures", "kind": "binary",
                    "instrument": None, "scale_min": None, "scale_max": None,
                    "direction": "lower_is_better", "mid": None, "measure": measure,
                    "assumed_control_risk": None},
        "measure": measure, "log_scale": log, "k": 3, "participants": 600,
        "studies": [
            {"study_id": s, "label": s, "year": y, "timepoint_weeks": 52.0, "data_level": "arm",
             "value_type": "events", "intervention": {"events": ei, "total": 100},
             "control": {"events": ec, "total": 100}, "yi": vals[0], "vi": 0.1, "sei": 0.316,
             "ci_lb": vals[1], "ci_ub": vals[2], "weight": 33.3, "subgroup": None,
             "risk_of_bias": "high"}
            for s, y, ei, ec in (("Klazen 2010", 2010, 15, 20), ("Dohm 2014", 2014, 18, 23),
                                 ("Blasco 2012", 2012, 25, 30))],
        "pooled": {"estimate": vals[0], "se": 0.15, "ci_lb": vals[1], "ci_ub": vals[2],
                   "zval": -1.5, "pval": 0.13, "pi_lb": None, "pi_ub": None, "tau2": 0.0,
                   "tau": 0.0, "I2": 0.0, "H2": 1.0, "QE": 0.5, "QE_df": 2, "QEp": 0.78,
                   "df": None},
        "control_summary": {"continuous": None,
                            "binary": {"median_risk": 0.23, "risks": [0.2, 0.23, 0.3]}},
        "excluded": [],
    })
    return _merge(a, over)


def _merge(a: dict, over: dict) -> dict:
    out = copy.deepcopy(a)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def fill(a: dict, j: dict | None) -> dict:
    """Fill grade, sof and plain_language as the pipeline does."""
    a["grade"] = grade.certainty(j, a)
    a["sof"] = sof.sof_row(a, a["grade"])
    a["plain_language"] = plain_language.key_result(a, a["sof"])
    return a


STUDIES = [
    {"study_id": "Comstock 2013", "year": 2013, "country": "USA; UK; Australia",
     "n_randomised": 131, "mean_age": 74.0, "percent_female": 78.0, "symptom_duration":
     "up to 1 year", "industry_funding": "yes", "funder_role": "no role in the trial",
     "rob_overall": "low"},
    {"study_id": "Firanescu 2018", "year": 2018, "country": "Netherlands", "n_randomised": 180,
     "mean_age": 76.0, "percent_female": 75.0, "symptom_duration": "< 9 weeks",
     "industry_funding": "no", "rob_overall": "low"},
    {"study_id": "Clark 2016", "year": 2016, "country": "Australia", "n_randomised": 120,
     "mean_age": 80.0, "percent_female": 74.0, "symptom_duration": "< 6 weeks",
     "industry_funding": "no", "rob_overall": "some concerns"},
    {"study_id": "Klazen 2010", "year": 2010, "country": "Netherlands; Belgium",
     "n_randomised": 202, "mean_age": 75.2, "percent_female": 69.0, "industry_funding": "yes",
     "funder_role": "not reported", "rob_overall": "high"},
    {"study_id": "Dohm 2014", "year": 2014, "country": "USA", "n_randomised": 404,
     "mean_age": None, "percent_female": None, "industry_funding": "yes",
     "funder_role": "sponsor designed the trial", "rob_overall": "high"},
    {"study_id": "Blasco 2012", "year": 2012, "country": "Spain", "n_randomised": 125,
     "rob_overall": "high"},
]


def results(hostile: bool = False) -> dict:
    """A realistic results.json dict: two comparisons, continuous + binary + an empty analysis.

    ``hostile``: a study and a title carrying HTML/Markdown that must be escaped.
    """
    studies = copy.deepcopy(STUDIES)
    a1 = continuous()
    a2 = continuous(id="vp_vs_placebo.pain.early",
                    window={"id": "early", "label": "Early (< 12 weeks)", "from_weeks": 0,
                            "to_weeks": 12, "include_upper": False, "target_weeks": 4},
                    k=0, participants=0, pooled=None, studies=[], sensitivity=[],
                    figures={})
    a3 = binary("RR")
    a3["subgroups"] = {"variable": "risk_of_bias", "levels": [
        {"label": "high", "k": 3, "participants": 600, "estimate": a3["pooled"]["estimate"],
         "ci_lb": a3["pooled"]["ci_lb"], "ci_ub": a3["pooled"]["ci_ub"], "tau2": 0.0, "I2": 0.0,
         "QE": 0.5, "QE_df": 2, "QEp": 0.78, "pval": 0.13}],
        "Q_between": 0.0, "Q_between_df": 0, "Q_between_p": None}
    a3["figures"] = {"forest_svg": "figures/vp_vs_usual.fracture.late.forest.svg",
                     "forest_png": "figures/vp_vs_usual.fracture.late.forest.png"}
    title = "Vertebroplasty for osteoporotic vertebral compression fractures (worked example)"
    if hostile:
        a1["studies"][0]["label"] = "<script>alert(1)</script> & Co | *x*"
        a1["studies"][0]["study_id"] = "<script>alert(1)</script>"
        a1["excluded"][0]["reason"] = "sign <b>unknown</b> & unclear"
        studies[0]["study_id"] = "<script>alert(1)</script>"
        studies[0]["country"] = "<img src=x onerror=alert(1)>"
        title = "Review <script>alert('t')</script> & friends"
    fill(a1, judgements(imprecision=1))
    fill(a2, judgements())
    fill(a3, None)
    comparisons = []
    for cid, label, interv, ctrl, ids in (
            ("vp_vs_placebo", "Vertebroplasty vs placebo", "Vertebroplasty", "Placebo",
             [s["study_id"] for s in a1["studies"]]),
            ("vp_vs_usual", "Vertebroplasty vs usual care", "Vertebroplasty", "Usual care",
             [s["study_id"] for s in a3["studies"]])):
        comp = {"id": cid, "label": label, "intervention": interv, "control": ctrl}
        ch = summarise(studies, comp, ids)
        comparisons.append({**comp, "k_trials": ch["trials"],
                            "participants": ch["participants"]["total"],
                            "characteristics": ch})
    return {
        "schema": "evsynth.results", "schema_version": "1.0",
        "review": {"title": title,
                   "question": "Does vertebroplasty relieve pain compared with placebo or usual "
                               "care?"},
        "comparisons": comparisons, "studies": studies, "analyses": [a1, a2, a3],
        "provenance": {"evsynth_version": "0.1.0", "time": "2024-01-01T00:00:00Z",
                       "python": "3.11.7",
                       "inputs": {"review.toml": "ab" * 32, "studies.csv": "cd" * 32}},
    }
