"""A review folder in the arm-based format (tests/review/test_arms.py and
tests/reference/review_fixtures.R, which recomputes every pooled result with metafor).

Treatments: ``kp`` and ``kp_high`` (two doses, lumped in comparison ``kp_vs_placebo``),
``placebo``, ``usual``. Study T3 is a three-arm trial (kp, kp_high, placebo); T5 a four-arm
trial. Outcomes cover MD (IV), OR (M-H fixed), RR (M-H random), OR (Peto), HR (IV from CI, SE,
O - E and V, log-rank P), IRR (IV) and IRD (M-H fixed).
"""

from __future__ import annotations

from pathlib import Path

from review_helpers import write_csv

ARM_TOML = """
title = "Arm-based test review"

[model]
method = "REML"
test = "z"

[[comparisons]]
id = "kp_vs_placebo"
intervention = ["kp", "kp_high"]
control = "placebo"
multiarm = "combine"

[[comparisons]]
id = "kp_vs_placebo_split"
intervention = ["kp", "kp_high"]
control = "placebo"
multiarm = "split"

[[comparisons]]
id = "kp_vs_usual"
intervention = "kp"
control = "usual"

[[outcomes]]
id = "pain"
kind = "continuous"
scale = [0, 10]
direction = "lower_is_better"
measure = "MD"

[[outcomes]]
id = "fracture"
kind = "binary"
direction = "lower_is_better"
measure = "OR"
method = "MH"

[[outcomes]]
id = "ae"
kind = "binary"
direction = "lower_is_better"
measure = "RR"
pooling = "MH"
effects = "random"

[[outcomes]]
id = "serious"
kind = "binary"
direction = "lower_is_better"
measure = "OR"
pooling = "Peto"

[[outcomes]]
id = "survival"
kind = "time_to_event"
direction = "lower_is_better"
measure = "HR"
method = "DL"

[[outcomes]]
id = "infection"
kind = "rate"
direction = "lower_is_better"
measure = "IRR"

[[outcomes]]
id = "falls"
kind = "rate"
direction = "lower_is_better"
measure = "IRD"
pooling = "MH"

[[windows]]
id = "main"
weeks = [0, 60]
target_weeks = 52
rule = "closest"
"""

ARM_STUDIES = [{"study_id": f"T{i}", "year": str(2000 + i), "n_randomised": str(n)}
               for i, n in ((1, 80), (2, 120), (3, 150), (4, 60), (5, 200), (6, 90))]


def _m(sid, treat, n, mean, sd, outcome="pain", t=52):
    return {"study_id": sid, "outcome": outcome, "timepoint_weeks": t, "treatment": treat,
            "value_type": "final", "n": n, "mean": mean, "sd": sd}


def _e(sid, treat, events, total, outcome):
    return {"study_id": sid, "outcome": outcome, "timepoint_weeks": 52, "treatment": treat,
            "value_type": "events", "events": events, "total": total}


def _r(sid, treat, events, pt, outcome):
    return {"study_id": sid, "outcome": outcome, "timepoint_weeks": 52, "treatment": treat,
            "value_type": "rate", "events": events, "person_time": pt}


def _c(sid, treat, comp, outcome="survival", **kw):
    return {"study_id": sid, "outcome": outcome, "timepoint_weeks": 52, "treatment": treat,
            "comparator": comp, **kw}


ARM_OUTCOMES = [
    # pain (MD): T1, T2 two-arm kp vs placebo; T3 three-arm (kp, kp_high, placebo);
    # T4 kp vs usual; T5 four-arm (kp, kp_high, placebo, usual)
    _m("T1", "kp", 40, 3.1, 2.0), _m("T1", "placebo", 40, 4.0, 2.2),
    _m("T2", "kp", 60, 3.5, 2.4), _m("T2", "placebo", 60, 3.9, 2.5),
    _m("T3", "kp", 50, 2.9, 2.1), _m("T3", "kp_high", 50, 2.5, 1.9),
    _m("T3", "placebo", 50, 4.2, 2.3),
    _m("T4", "kp", 30, 3.0, 2.2), _m("T4", "usual", 30, 4.6, 2.6),
    _m("T5", "kp", 50, 3.3, 2.0), _m("T5", "kp_high", 50, 3.0, 2.2),
    _m("T5", "placebo", 50, 3.8, 2.1), _m("T5", "usual", 50, 4.4, 2.4),
    # fracture (OR, M-H fixed): T4 has a single zero, T6 a double zero (left out, RevMan)
    _e("T1", "kp", 8, 40, "fracture"), _e("T1", "placebo", 12, 40, "fracture"),
    _e("T2", "kp", 10, 60, "fracture"), _e("T2", "placebo", 15, 60, "fracture"),
    _e("T3", "kp", 5, 50, "fracture"), _e("T3", "kp_high", 7, 50, "fracture"),
    _e("T3", "placebo", 11, 50, "fracture"),
    _e("T4", "kp", 0, 30, "fracture"), _e("T4", "placebo", 4, 30, "fracture"),
    _e("T6", "kp", 0, 45, "fracture"), _e("T6", "placebo", 0, 45, "fracture"),
    # ae (RR, M-H random)
    _e("T1", "kp", 4, 40, "ae"), _e("T1", "placebo", 12, 40, "ae"),
    _e("T2", "kp", 20, 60, "ae"), _e("T2", "placebo", 11, 60, "ae"),
    _e("T3", "kp", 6, 50, "ae"), _e("T3", "kp_high", 14, 50, "ae"),
    _e("T3", "placebo", 5, 50, "ae"),
    _e("T5", "kp", 25, 50, "ae"), _e("T5", "kp_high", 22, 50, "ae"),
    _e("T5", "placebo", 10, 50, "ae"),
    # serious (Peto OR): rare events
    _e("T1", "kp", 1, 40, "serious"), _e("T1", "placebo", 3, 40, "serious"),
    _e("T2", "kp", 0, 60, "serious"), _e("T2", "placebo", 2, 60, "serious"),
    _e("T3", "kp", 1, 50, "serious"), _e("T3", "kp_high", 0, 50, "serious"),
    _e("T3", "placebo", 2, 50, "serious"),
    _e("T5", "kp", 2, 50, "serious"), _e("T5", "kp_high", 1, 50, "serious"),
    _e("T5", "placebo", 4, 50, "serious"),
    # survival (HR): T1 HR with CI (kp over placebo); T2 reported placebo vs kp (turned round);
    # T3 O - E and V of kp_high vs placebo and of kp vs placebo (two contrasts sharing placebo);
    # T5 log-rank P with events per arm; T6 log-rank P with total events (Tierney)
    _c("T1", "kp", "placebo", value_type="contrast", measure="HR", estimate=0.75, ci_lb=0.55,
       ci_ub=1.02, direction="intervention_over_control"),
    _c("T2", "placebo", "kp", value_type="contrast", measure="HR", estimate=1.25, se=0.15,
       direction="intervention_over_control"),
    _c("T3", "kp", "placebo", value_type="o_minus_e", o_minus_e=-4.2, variance=12.5,
       direction="intervention_over_control"),
    _c("T3", "kp_high", "placebo", value_type="o_minus_e", o_minus_e=3.1, variance=11.0,
       direction="control_over_intervention"),
    _c("T5", "kp", "placebo", value_type="logrank", p_value=0.03, events_intervention=30,
       events_control=45, direction="lower_hazard_intervention"),
    _c("T6", "kp", "placebo", value_type="logrank", p_value=0.20, events=60,
       n_intervention=45, n_control=45, direction="lower_hazard_control"),
    # infection (IRR) and falls (IRD): events / person-years
    _r("T1", "kp", 12, 35.5, "infection"), _r("T1", "placebo", 20, 34.0, "infection"),
    _r("T2", "kp", 18, 55.0, "infection"), _r("T2", "placebo", 22, 52.5, "infection"),
    _r("T3", "kp", 9, 45.0, "infection"), _r("T3", "kp_high", 7, 44.0, "infection"),
    _r("T3", "placebo", 15, 43.5, "infection"),
    _r("T1", "kp", 30, 35.5, "falls"), _r("T1", "placebo", 41, 34.0, "falls"),
    _r("T2", "kp", 44, 55.0, "falls"), _r("T2", "placebo", 40, 52.5, "falls"),
    _r("T3", "kp", 21, 45.0, "falls"), _r("T3", "kp_high", 19, 44.0, "falls"),
    _r("T3", "placebo", 33, 43.5, "falls"),
]


def make_arm_review(root: Path, toml: str = ARM_TOML, outcomes: list[dict] | None = None
                    ) -> Path:
    """Write the arm-based test review to ``root``."""
    from evsynth.review.schema import OUTCOME_COLUMNS

    root.mkdir(parents=True, exist_ok=True)
    (root / "review.toml").write_text(toml, encoding="utf-8")
    write_csv(root / "studies.csv", ARM_STUDIES)
    write_csv(root / "outcomes.csv", ARM_OUTCOMES if outcomes is None else outcomes,
              list(OUTCOME_COLUMNS))
    return root
