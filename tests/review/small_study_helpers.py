"""A synthetic review folder with k = 12 trials for one continuous (MD) and one binary (OR)
outcome, so that the small-study (k >= 10) path of the pipeline runs end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from review_helpers import make_review

K = 12

TOML = """
title = "Synthetic review with twelve trials"
question = "Does A beat B? <script>alert(1)</script>"

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
mid = 1.0
measure = "MD"

[[outcomes]]
id = "event"
label = "Adverse event"
kind = "binary"
direction = "lower_is_better"
measure = "OR"

[[windows]]
id = "early"
weeks = [0, 12]
include_upper = false
target_weeks = 4
rule = "closest"
"""


def study_id(i: int) -> str:
    return f"T{i + 1:02d}"


def rows(seed: int = 7) -> tuple[list[dict], list[dict]]:
    """studies.csv and outcomes.csv rows: arm sizes from 10 to 200; the smaller the trial the
    larger its benefit (a built-in small-study effect), so the tests have something to find."""
    rng = np.random.default_rng(seed)
    sizes = np.linspace(10, 200, K).round().astype(int)
    studies, out = [], []
    for i, n in enumerate(sizes):
        sid = study_id(i)
        studies.append({"study_id": sid, "year": str(2000 + i), "n_randomised": str(2 * n),
                        "rob_overall": "low" if i % 3 else "some concerns"})
        effect = -0.5 - 6.0 / np.sqrt(n) + rng.normal(0, 0.3)
        ctrl = 5.0 + rng.normal(0, 0.2)
        for arm, mean in (("intervention", ctrl + effect), ("control", ctrl)):
            out.append({"study_id": sid, "comparison": "a_vs_b", "outcome": "pain",
                        "timepoint_weeks": 4, "arm": arm, "value_type": "final", "n": int(n),
                        "mean": round(float(mean), 3), "sd": round(2.0 + 0.3 * (i % 4), 2)})
        pc = 0.3
        pi = pc * float(np.exp(-0.2 - 3.0 / np.sqrt(n)))
        for arm, p in (("intervention", pi), ("control", pc)):
            ev = int(max(1, min(n - 1, round(p * n + rng.normal(0, 1)))))
            out.append({"study_id": sid, "comparison": "a_vs_b", "outcome": "event",
                        "timepoint_weeks": 4, "arm": arm, "value_type": "events", "events": ev,
                        "total": int(n)})
    return studies, out


def make_small_study_review(root: Path, seed: int = 7) -> Path:
    studies, outcomes = rows(seed)
    return make_review(root, TOML, studies, outcomes)
