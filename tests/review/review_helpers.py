"""Helpers for the review-pipeline tests: build a small review folder in a temp dir."""

from __future__ import annotations

import csv
import io
from pathlib import Path

REVIEW_TOML = """
title = "Test review"
question = "Does A beat B?"

[model]
method = "REML"
test = "z"
prediction_interval = true

[[comparisons]]
id = "a_vs_b"
intervention = "A"
control = "B"

[[outcomes]]
id = "pain"
label = "Pain"
kind = "continuous"
instrument = "0-10 NRS"
scale = [0, 10]
direction = "lower_is_better"
mid = 1.5
measure = "MD"

[[outcomes]]
id = "func"
label = "Function"
kind = "continuous"
scale = [0, 23]
direction = "lower_is_better"
measure = "SMD_CHANGE"

[[outcomes]]
id = "fracture"
label = "Fracture"
kind = "binary"
direction = "lower_is_better"
measure = "OR"

[[windows]]
id = "early"
weeks = [0, 12]
include_upper = false
target_weeks = 4
rule = "closest"

[[windows]]
id = "late"
weeks = [26, 52]
target_weeks = 52
rule = "latest"

[change_scores]
correlation = 0.5
sensitivity = [0.2, 0.8]

[[subgroups]]
id = "rob"
column = "rob_overall"
label = "Risk of bias"

[[grade]]
comparison = "a_vs_b"
outcome = "pain"
risk_of_bias = { downgrade = 0 }
inconsistency = { downgrade = 0 }
indirectness = { downgrade = 0 }
imprecision = { downgrade = 1, reason = "wide CI" }
publication_bias = { downgrade = 0 }
"""

STUDIES = [
    {"study_id": "S1", "year": "2001", "n_randomised": "40", "rob_overall": "low"},
    {"study_id": "S2", "year": "2005", "n_randomised": "60", "rob_overall": "high"},
    {"study_id": "S3", "year": "2003", "n_randomised": "80", "rob_overall": "low"},
    {"study_id": "S4", "year": "2010", "n_randomised": "100", "rob_overall": "high"},
]


def arm(sid, t, arm_, vt, n, mean, sd, outcome="pain", **kw):
    return {"study_id": sid, "comparison": "a_vs_b", "outcome": outcome,
            "timepoint_weeks": t, "arm": arm_, "value_type": vt, "n": n, "mean": mean, "sd": sd,
            **kw}


def contrast(sid, t, measure, est, lb, ub, direction, outcome="pain", **kw):
    return {"study_id": sid, "comparison": "a_vs_b", "outcome": outcome,
            "timepoint_weeks": t, "value_type": "contrast", "measure": measure,
            "estimate": est, "ci_lb": lb, "ci_ub": ub, "direction": direction,
            "n_intervention": 30, "n_control": 30, **kw}


OUTCOMES = [
    # pain: S1 arm-level at 2 and 4 weeks (closest to 4 -> 4) and 52; S2 arm at 6 weeks
    arm("S1", 2, "intervention", "final", 20, 3.0, 2.0),
    arm("S1", 2, "control", "final", 20, 4.0, 2.2),
    arm("S1", 4, "intervention", "final", 20, 2.5, 2.1),
    arm("S1", 4, "control", "final", 20, 4.1, 2.3),
    arm("S1", 52, "intervention", "final", 18, 2.0, 2.0),
    arm("S1", 52, "control", "final", 19, 3.0, 2.5),
    arm("S2", 6, "intervention", "final", 30, 4.0, 2.5),
    arm("S2", 6, "control", "final", 30, 4.5, 2.4),
    arm("S2", 40, "intervention", "final", 30, 3.0, 2.5),
    arm("S2", 40, "control", "final", 30, 3.2, 2.4),
    # S3: contrast reported as control minus intervention (sign flipped by the pipeline)
    contrast("S3", 4, "MD", 1.2, 0.2, 2.2, "control_minus_intervention"),
    contrast("S3", 26, "MD", 0.5, -0.5, 1.5, "intervention_minus_control"),
    # S4: unknown direction -> excluded
    contrast("S4", 4, "MD", 0.7, -0.3, 1.7, "unknown"),
    contrast("S4", 52, "MD", 0.3, -0.6, 1.2, "unknown"),
    # function: baseline_followup (SMD of change) for S1, S2; S3 final values only -> excluded
    arm("S1", 4, "intervention", "baseline_followup", 20, 8.0, 4.0, "func",
        baseline_mean=12.0, baseline_sd=4.5),
    arm("S1", 4, "control", "baseline_followup", 20, 10.0, 4.2, "func",
        baseline_mean=12.5, baseline_sd=4.4),
    arm("S2", 8, "intervention", "baseline_followup", 30, 9.0, 5.0, "func",
        baseline_mean=13.0, baseline_sd=4.0),
    arm("S2", 8, "control", "baseline_followup", 30, 9.5, 4.8, "func",
        baseline_mean=12.0, baseline_sd=4.1),
    arm("S4", 4, "intervention", "change", 50, -3.0, 3.5, "func"),
    arm("S4", 4, "control", "change", 50, -2.0, 3.6, "func"),
    arm("S3", 4, "intervention", "final", 40, 9.0, 5.0, "func"),
    arm("S3", 4, "control", "final", 40, 9.5, 4.8, "func"),
    # fracture: events for S1, S2, S3; an OR contrast (control over intervention) for S4
    {"study_id": "S1", "comparison": "a_vs_b", "outcome": "fracture", "timepoint_weeks": 52,
     "arm": "intervention", "value_type": "events", "events": 5, "total": 20},
    {"study_id": "S1", "comparison": "a_vs_b", "outcome": "fracture", "timepoint_weeks": 52,
     "arm": "control", "value_type": "events", "events": 8, "total": 20},
    {"study_id": "S2", "comparison": "a_vs_b", "outcome": "fracture", "timepoint_weeks": 52,
     "arm": "intervention", "value_type": "events", "events": 7, "total": 30},
    {"study_id": "S2", "comparison": "a_vs_b", "outcome": "fracture", "timepoint_weeks": 52,
     "arm": "control", "value_type": "events", "events": 12, "total": 30},
    {"study_id": "S3", "comparison": "a_vs_b", "outcome": "fracture", "timepoint_weeks": 52,
     "arm": "intervention", "value_type": "events", "events": 10, "total": 40},
    {"study_id": "S3", "comparison": "a_vs_b", "outcome": "fracture", "timepoint_weeks": 52,
     "arm": "control", "value_type": "events", "events": 9, "total": 40},
    contrast("S4", 52, "OR", 1.5, 0.8, 2.8, "control_over_intervention", "fracture"),
]


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> None:
    cols = columns or list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k, "") for k in cols})
    path.write_text(buf.getvalue(), encoding="utf-8")


def make_review(root: Path, toml: str = REVIEW_TOML, studies: list[dict] | None = None,
                outcomes: list[dict] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "review.toml").write_text(toml, encoding="utf-8")
    write_csv(root / "studies.csv", STUDIES if studies is None else studies)
    from evsynth.review.schema import OUTCOME_COLUMNS

    write_csv(root / "outcomes.csv", OUTCOMES if outcomes is None else outcomes,
              list(OUTCOME_COLUMNS))
    return root
