"""Timings of evsynth.meta_glmm against metafor's rma.glmm (the times metafor took when the
fixtures were made, tests/reference/glmm/*.json; run from the repository root).

    python bench/bench_glmm.py
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "models"))


def main() -> None:
    import test_glmm as t  # the fixture loader of the tests (same arguments)

    rows = []
    for group in ("glmm_or", "glmm_rate", "glmm_plo"):
        cases = json.loads((ROOT / "tests" / "reference" / "glmm" / f"{group}.json")
                           .read_text(encoding="utf-8"))["cases"]
        for case in cases:
            if case.get("fit") is None:
                continue
            times = []
            for _ in range(3):
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t._fit(case)
                times.append(time.perf_counter() - start)
            rows.append((case["name"], float(np.median(times)), float(case["fit"]["time"])))
    print(f"{'case':36s} {'evsynth s':>10s} {'metafor s':>10s}")
    for name, ev, mf in rows:
        print(f"{name:36s} {ev:10.3f} {mf:10.3f}")
    ev_total = sum(r[1] for r in rows)
    mf_total = sum(r[2] for r in rows)
    print(f"{'total':36s} {ev_total:10.2f} {mf_total:10.2f}")


if __name__ == "__main__":
    main()
