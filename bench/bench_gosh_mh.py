"""GOSH of a Mantel-Haenszel fit: evsynth against metafor's ``gosh.rma`` for ``rma.mh``.

The BCG trials (metadat ``dat.bcg``, k = 13, the 2x2 tables of tests/reference/data/
mh_bcg.csv), odds ratio: every one of the 8,191 subsets refitted by the Mantel-Haenszel
estimator (evsynth pools all subsets at once by a matrix product of per-study terms;
metafor refits each). metafor runs in the same script through Rscript when it is installed;
its estimates are compared with evsynth's subset by subset. evsynth's time is the median of
21 runs, metafor's one run.

    python bench/bench_gosh_mh.py [--write]

``--write`` replaces the ``gosh_mh`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import evsynth

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "reference" / "data" / "mh_bcg.csv"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import publish  # noqa: E402

R_SCRIPT = """
suppressMessages(library(metafor)); library(jsonlite)
args <- commandArgs(TRUE)
d <- read.csv(args[1])
fit <- rma.mh(ai = ai, bi = bi, ci = ci, di = di, data = d, measure = "OR")
t0 <- proc.time()
g <- gosh(fit, progbar = FALSE)
el <- proc.time() - t0
write_json(list(cpu = unname(el[1] + el[2]), elapsed = unname(el[3]),
                estimate = g$res$estimate), args[2], digits = NA, auto_unbox = TRUE,
           na = "null")
"""


def metafor(tmp: Path) -> dict | None:
    if shutil.which("Rscript") is None:
        return None
    script, out = tmp / "gosh.R", tmp / "gosh.json"
    script.write_text(R_SCRIPT, encoding="utf-8")
    proc = subprocess.run(["Rscript", str(script), str(DATA), str(out)], capture_output=True,
                          text=True, env=os.environ)
    if proc.returncode != 0:
        print("Rscript failed:", proc.stderr[-500:], file=sys.stderr)
        return None
    return json.loads(out.read_text(encoding="utf-8"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = ap.parse_args()
    d = pd.read_csv(DATA)
    fit = evsynth.meta_mh("OR", ai=d["ai"], bi=d["bi"], ci=d["ci"], di=d["di"])
    fit.gosh(subsets=20, seed=1)  # warm-up (imports)
    cpus, walls = [], []
    for _ in range(21):
        c0, w0 = time.process_time(), time.perf_counter()
        g = fit.gosh()
        cpus.append(time.process_time() - c0)
        walls.append(time.perf_counter() - w0)
    cpu, wall = float(np.median(cpus)), float(np.median(walls))
    ours = g.frame["estimate"].to_numpy()
    with tempfile.TemporaryDirectory() as tmp:
        mf = metafor(Path(tmp))
    lines = [f"Mantel-Haenszel odds ratio, BCG trials (k = {fit.k}): all {len(g.frame):,} "
             "subsets pooled (evsynth: one matrix product of per-study terms; metafor: one "
             "rma.mh refit each); CPU seconds (metafor: user + system inside R, one run; "
             "evsynth: median of 21 runs).",
             "", "| tool | CPU s | wall s | largest abs. difference of the estimates |",
             "|---|---|---|---|",
             f"| evsynth `fit.gosh()` | {cpu:.4f} | {wall:.4f} | |"]
    if mf is not None:
        theirs = np.array([np.nan if v is None else v for v in mf["estimate"]], dtype=float)
        diff = float(np.nanmax(np.abs(ours - theirs)))
        lines.append(f"| metafor `gosh(rma.mh(...))` | {mf['cpu']:.2f} | {mf['elapsed']:.2f} | "
                     f"{diff:.2g} |")
        lines += ["", f"evsynth / metafor CPU: {mf['cpu'] / cpu:.1f}x faster."]
    else:
        lines += ["", "metafor not run (Rscript or metafor not installed)."]
    text = "\n".join(lines)
    publish("gosh_mh", "GOSH of a Mantel-Haenszel fit (bench/bench_gosh_mh.py)", text,
            args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
