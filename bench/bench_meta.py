"""Benchmark of the statistical core against PyMARE and R metafor, in one run.

    python bench/bench_meta.py [--quick] [--write]

Workloads (issue "Statistical core", section 8):
1. batch REML of 1e5 and 1e6 synthetic meta-analyses with k = 10 (evsynth.meta_batch) against
   PyMARE's batched VarianceBasedLikelihoodEstimator(method="REML") on the same data, and against
   R metafor (rma(..., method="REML") in a loop via Rscript, run tight: threshold = tol = 1e-12)
   on a subsample, reporting throughput ratios and the largest |tau^2| difference;
2. single-fit latency of evsynth.meta (k = 10) against a metafor rma() call;
3. REML meta-regression with k = 1e5 and p = 5 (intercept + 4 moderators).

Timings are wall-clock seconds on this machine; the ratio columns compare throughput (fits per
second). ``--write`` records the table in bench/RESULTS.md (section "Statistical core").
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


def synthetic(G: int, k: int = 10, seed: int = 2026) -> pd.DataFrame:
    """G meta-analyses of k studies: vi ~ U(0.01, 0.2), true tau^2 ~ U(0, 0.1), mu = 0.3."""
    rng = np.random.default_rng(seed)
    tau2 = rng.uniform(0, 0.1, G)
    vi = rng.uniform(0.01, 0.2, (G, k))
    yi = rng.normal(0.3, np.sqrt(vi + tau2[:, None]))
    return pd.DataFrame({"g": np.repeat(np.arange(G), k), "yi": yi.ravel(), "vi": vi.ravel()})


def timed(fn, repeat: int = 1):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run_pymare(df: pd.DataFrame, k: int):
    try:
        from pymare.estimators import VarianceBasedLikelihoodEstimator
    except ImportError:
        return None
    G = df["g"].nunique()
    y = df["yi"].to_numpy().reshape(G, k).T
    v = df["vi"].to_numpy().reshape(G, k).T
    est = VarianceBasedLikelihoodEstimator(method="REML")
    t, _ = timed(lambda: est.fit(y=y, v=v, X=np.ones((k, 1))), repeat=2)
    return t, np.asarray(est.params_["tau2"]).ravel()


R_LOOP = r"""
suppressMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
ctl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)
groups <- split(d, d$g)
t0 <- proc.time()[["elapsed"]]
tau2 <- vapply(groups, function(x) {
  r <- try(rma(x$yi, x$vi, method = "REML", control = ctl), silent = TRUE)
  if (inherits(r, "try-error")) NA_real_ else r$tau2
}, numeric(1))
elapsed <- proc.time()[["elapsed"]] - t0
single <- groups[[1]]
t1 <- proc.time()[["elapsed"]]
for (i in 1:200) rma(single$yi, single$vi, method = "REML", control = ctl)
single_s <- (proc.time()[["elapsed"]] - t1) / 200
cat(jsonlite::toJSON(list(elapsed = elapsed, single = single_s, failed = sum(is.na(tau2)),
                          tau2 = unname(tau2)), digits = NA, auto_unbox = TRUE))
"""


def run_metafor(df: pd.DataFrame):
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "d.csv"
        script = Path(tmp) / "loop.R"
        df.to_csv(csv, index=False, float_format="%.17g")
        script.write_text(R_LOOP)
        proc = subprocess.run(["Rscript", str(script), str(csv)], capture_output=True, text=True)
        if proc.returncode != 0:
            print("Rscript failed:", proc.stderr[-500:], file=sys.stderr)
            return None
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["tau2"] = np.array([np.nan if t in (None, "NA") else t for t in out["tau2"]], dtype=float)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="1e4 and 1e5 instead of 1e5 and 1e6")
    ap.add_argument("--write", action="store_true", help="record results in bench/RESULTS.md")
    ap.add_argument("--r-groups", type=int, default=2000, help="meta-analyses fitted by metafor")
    args = ap.parse_args()
    k = 10
    sizes = (10_000, 100_000) if args.quick else (100_000, 1_000_000)
    rows = []
    lines = [f"machine: {os.cpu_count()} cores; numpy {np.__version__}; evsynth "
             f"{evsynth.__version__}"]
    # warm-up: imports, and loading the numba kernels (compiled once, then cached on disk); a
    # batch above FUSED_MIN_GROUPS so that the fused path is loaded too
    t_warm, _ = timed(lambda: evsynth.meta_batch(synthetic(5000, k), by="g"))
    lines.append(f"first call in a fresh process (imports + loading the compiled kernels): "
                 f"{t_warm:.2f} s; timings below are best of 2 runs after it")
    for G in sizes:
        df = synthetic(G, k)
        t_ev, res = timed(lambda df=df: evsynth.meta_batch(df, by="g", method="REML"), repeat=2)
        row = {"workload": f"batch REML, {G:,} meta-analyses (k = {k})", "evsynth_s": t_ev,
               "converged": f"{int(res['converged'].sum()):,}/{G:,}",
               "max_iterations": int(res["iterations"].max())}
        pm = run_pymare(df, k)
        if pm is not None:
            t_pm, tau2_pm = pm
            row["pymare_s"] = t_pm
            row["speedup_vs_pymare"] = t_pm / t_ev
            row["max_abs_dtau2_pymare"] = float(np.nanmax(np.abs(tau2_pm - res["tau2"])))
        rows.append(row)
        print(row, flush=True)
    # metafor on a subsample of the largest batch's data
    G_r = args.r_groups
    df_r = synthetic(G_r, k, seed=7)
    res_r = evsynth.meta_batch(df_r, by="g", method="REML")
    mf = run_metafor(df_r)
    t_ev_r, _ = timed(lambda: evsynth.meta_batch(df_r, by="g", method="REML"), repeat=3)
    row = {"workload": f"batch REML, {G_r:,} meta-analyses (k = {k}) vs metafor loop",
           "evsynth_s": t_ev_r}
    if mf is not None:
        row["metafor_s"] = mf["elapsed"]
        row["speedup_vs_metafor"] = mf["elapsed"] / t_ev_r
        row["metafor_failures"] = mf["failed"]
        ok = np.isfinite(mf["tau2"])
        row["max_abs_dtau2_metafor"] = float(np.max(np.abs(mf["tau2"][ok] - res_r["tau2"][ok])))
    rows.append(row)
    print(row, flush=True)
    # single-fit latency
    one = df_r[df_r["g"] == 0]
    y1, v1 = one["yi"].to_numpy(), one["vi"].to_numpy()
    n_rep = 300
    t_single, _ = timed(lambda: [evsynth.meta(y1, v1) for _ in range(n_rep)])
    row = {"workload": "single fit latency, REML, k = 10", "evsynth_s": t_single / n_rep}
    if mf is not None:
        row["metafor_s"] = mf["single"]
        row["speedup_vs_metafor"] = mf["single"] / (t_single / n_rep)
    rows.append(row)
    print(row, flush=True)
    # meta-regression k = 1e5, p = 5
    rng = np.random.default_rng(11)
    n = 100_000
    mods = rng.normal(size=(n, 4))
    vi = rng.uniform(0.01, 0.2, n)
    yi = 0.2 + mods @ np.array([0.1, -0.2, 0.05, 0.0]) + rng.normal(0, np.sqrt(vi + 0.05))
    t_reg, fit = timed(lambda: evsynth.meta(yi, vi, mods=mods, method="REML"), repeat=3)
    rows.append({"workload": "REML meta-regression, k = 100,000, p = 5", "evsynth_s": t_reg,
                 "converged": str(fit.method_info["converged"]),
                 "max_iterations": fit.method_info["iterations"]})
    print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    text = results_table(table)
    print(text)
    if args.write:
        write_section("core", "Statistical core (bench/bench_meta.py)",
                      "\n".join(lines) + "\n\n" + text)


if __name__ == "__main__":
    main()
