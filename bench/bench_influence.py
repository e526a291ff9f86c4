"""Benchmark of the influence and sensitivity methods against R metafor, in one run.

    python bench/bench_influence.py [--quick] [--write]

Workloads (issue 4, "Speed"):
1. GOSH on all 65,535 subsets of k = 16 (Egger et al. 2001 magnesium trials, log odds ratios,
   REML) -- target < 2 s;
2. permutation test with 10,000 random sign flips for k = 50 (synthetic, REML) -- target < 1 s;
   and the same with one moderator (10,000 random row permutations, p = 2);
3. leave-one-out for k = 50;
4. the same in R metafor when Rscript is installed (run tight: threshold = tol = 1e-12): gosh on
   the first 14 of the 16 trials (16,383 subsets; metafor fits them one by one), permutest with
   ``--r-perm-iter`` permutations (default 10,000) and leave1out, with throughput ratios and the
   largest differences from evsynth on the same data.

Timings are wall-clock seconds on this machine: evsynth's are the best of 3 runs after a warm-up
call (the first call in a fresh process, which loads the compiled numba kernels, is reported
separately); metafor's are one run. ``--write`` records the table in bench/RESULTS.md between
``<!-- influence:start -->`` and ``<!-- influence:end -->`` (the rest of the file is untouched).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import table as results_table  # noqa: E402
from _results import write_section  # noqa: E402

HERE = Path(__file__).resolve().parent
EGGER = HERE.parent / "tests" / "reference" / "data" / "infl_egger.csv"

R_SCRIPT = r"""
suppressMessages(library(metafor))
library(jsonlite)
args <- commandArgs(trailingOnly = TRUE)
gd <- read.csv(args[1]); pd <- read.csv(args[2]); perm_iter <- as.integer(args[3])
ctrl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)
out <- list()
rg <- rma(yi, vi, data = gd, method = "REML", control = ctrl)
t0 <- proc.time()[[3]]
g <- gosh(rg, progbar = FALSE)
out$gosh_s <- proc.time()[[3]] - t0
out$gosh_n <- nrow(g$res)
out$gosh_estimate <- g$res$estimate
out$gosh_tau2 <- g$res$tau2
rp <- rma(yi, vi, data = pd, method = "REML", control = ctrl)
t0 <- proc.time()[[3]]
pt <- permutest(rp, iter = perm_iter, progbar = FALSE, seed = 1)
out$perm_s <- proc.time()[[3]] - t0
out$perm_p <- as.numeric(pt$pval)
t0 <- proc.time()[[3]]
l <- leave1out(rp)
out$l1o_s <- proc.time()[[3]] - t0
out$l1o_estimate <- as.numeric(l$estimate)
out$l1o_tau2 <- as.numeric(l$tau2)
cat(toJSON(out, digits = NA, auto_unbox = TRUE), "\n")
"""


def timed(fn, repeat: int = 3):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def synthetic(k: int = 50, seed: int = 2026) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k studies: vi ~ U(0.01, 0.2), tau^2 = 0.05, mu = 0.1, one moderator x ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.2, k)
    x = rng.normal(size=k)
    yi = rng.normal(0.1 + 0.05 * x, np.sqrt(vi + 0.05))
    return yi, vi, x


def _num(x) -> np.ndarray:
    """metafor's JSON numbers with NA (failed fits) as NaN."""
    return np.array([np.nan if v in ("NA", None) else v for v in x], dtype=float)


def run_metafor(gosh_df: pd.DataFrame, perm_df: pd.DataFrame, perm_iter: int) -> dict | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        g_csv, p_csv, script = Path(tmp) / "g.csv", Path(tmp) / "p.csv", Path(tmp) / "b.R"
        gosh_df.to_csv(g_csv, index=False, float_format="%.17g")
        perm_df.to_csv(p_csv, index=False, float_format="%.17g")
        script.write_text(R_SCRIPT)
        proc = subprocess.run(["Rscript", str(script), str(g_csv), str(p_csv), str(perm_iter)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print("Rscript failed:", proc.stderr[-800:], file=sys.stderr)
            return None
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true",
                    help="metafor on 12 trials (4,095 subsets) and 1,000 permutations")
    ap.add_argument("--write", action="store_true", help="record results in bench/RESULTS.md")
    ap.add_argument("--r-perm-iter", type=int, default=None,
                    help="permutations for metafor's permutest (default 10,000; 1,000 --quick)")
    ap.add_argument("--no-r", action="store_true", help="skip R metafor")
    args = ap.parse_args()
    r_k = 12 if args.quick else 14
    r_iter = args.r_perm_iter or (1000 if args.quick else 10_000)

    egger = pd.read_csv(EGGER)
    y16, v16 = egger["yi"].to_numpy(), egger["vi"].to_numpy()
    yp, vp, xp = synthetic()
    lines = [f"machine: {os.cpu_count()} cores; numpy {np.__version__}; evsynth "
             f"{evsynth.__version__}"]

    t_cold, _ = timed(lambda: evsynth.meta(y16, v16).gosh(), repeat=1)
    lines.append(f"first GOSH call in a fresh process (imports, loading the compiled kernels): "
                 f"{t_cold:.2f} s; evsynth timings below are the best of 3 runs after it")
    fit16 = evsynth.meta(y16, v16, method="REML")
    fitp = evsynth.meta(yp, vp, method="REML")
    fitm = evsynth.meta(yp, vp, mods=xp, method="REML")
    rows = []

    t, g = timed(lambda: fit16.gosh())
    rows.append({"workload": f"GOSH, all {len(g):,} subsets of k = 16 (REML)", "evsynth_s": t,
                 "target_s": 2.0})
    fit_r = evsynth.meta(y16[:r_k], v16[:r_k], method="REML")
    t_gr, g_r = timed(lambda: fit_r.gosh())
    row_gr = {"workload": f"GOSH, all {len(g_r):,} subsets of k = {r_k} (REML) vs metafor",
              "evsynth_s": t_gr}
    rows.append(row_gr)
    t, pt = timed(lambda: fitp.permutest(iter=10_000, seed=1))
    row_p = {"workload": "permutest, 10,000 sign flips, k = 50 (REML)", "evsynth_s": t,
             "target_s": 1.0, "p_evsynth": float(pt.pval[0])}
    rows.append(row_p)
    t, ptm = timed(lambda: fitm.permutest(iter=10_000, seed=1))
    rows.append({"workload": "permutest, 10,000 row permutations, k = 50, p = 2 (REML)",
                 "evsynth_s": t, "p_evsynth": float(ptm.pval[1])})
    t_l, l1o = timed(lambda: fitp.leave1out())
    row_l = {"workload": "leave1out, k = 50 (REML)", "evsynth_s": t_l}
    rows.append(row_l)
    for r in rows:
        print(r, flush=True)

    mf = None if args.no_r else run_metafor(
        pd.DataFrame({"yi": y16[:r_k], "vi": v16[:r_k]}), pd.DataFrame({"yi": yp, "vi": vp}),
        r_iter)
    if mf is not None:
        row_gr["metafor_s"] = mf["gosh_s"]
        row_gr["speedup_vs_metafor"] = mf["gosh_s"] / t_gr
        est, tau2 = _num(mf["gosh_estimate"]), _num(mf["gosh_tau2"])
        ok = np.isfinite(est) & np.isfinite(tau2)
        row_gr["metafor_failed_fits"] = int((~ok).sum())
        row_gr["max_abs_diff"] = float(max(np.max(np.abs(est - g_r.frame["estimate"])[ok]),
                                           np.max(np.abs(tau2 - g_r.frame["tau2"])[ok])))
        # per-permutation throughput when metafor ran a different number of permutations
        row_p["metafor_s"] = mf["perm_s"]
        row_p["speedup_vs_metafor"] = (mf["perm_s"] / r_iter) / (row_p["evsynth_s"] / 10_000)
        row_p["p_metafor"] = float(mf["perm_p"])
        row_p["note"] = f"metafor ran {r_iter:,} permutations (different random draws)"
        row_l["metafor_s"] = mf["l1o_s"]
        row_l["speedup_vs_metafor"] = mf["l1o_s"] / t_l
        row_l["max_abs_diff"] = float(max(
            np.max(np.abs(np.asarray(mf["l1o_estimate"]) - l1o.frame["estimate"])),
            np.max(np.abs(np.asarray(mf["l1o_tau2"]) - l1o.frame["tau2"]))))
        if r_k == 14:
            # metafor fits subsets one by one: its time for 65,535 subsets extrapolated linearly
            rows[0]["metafor_s_extrapolated"] = mf["gosh_s"] * len(g) / len(g_r)
            rows[0]["speedup_vs_metafor"] = rows[0]["metafor_s_extrapolated"] / rows[0][
                "evsynth_s"]
    table = pd.DataFrame(rows)
    table = table.astype(object).where(table.notna(), None)  # empty cells, not "nan"
    text = results_table(table)
    print("\n".join(lines))
    print(text)
    if args.write:
        write_section("influence", "Influence and sensitivity (bench/bench_influence.py)",
                      "\n".join(lines) + "\n\n" + text)


if __name__ == "__main__":
    main()
