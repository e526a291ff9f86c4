"""Cluster-robust CR2 inference on a three-level model: evsynth.robust vs metafor + clubSandwich
(issue 14, point 4).

    python bench/bench_robust.py [--studies 1000] [--effects 10000] [--repeat 3]
                                 [--r-repeat 1] [--no-r] [--write]

Data: ``--studies`` studies with ``--effects`` effects in all (1 to 19 per study), an
effect-level moderator ``x`` and a study-level moderator ``z``; ``y = 0.2 + 0.1 x - 0.05 z +
u_study + u_effect + e`` with sigma^2 = (0.05, 0.02) and ``vi ~ U(0.01, 0.1)``.

R (Rscript, skipped when missing): ``rma.mv(yi, vi, mods = ~ x + z, random = ~ 1 | study/es,
sparse = TRUE)``, then ``robust(fit, cluster = study, clubSandwich = TRUE)`` (metafor 3.8 calls
clubSandwich's vcovCR(CR2), coef_test(Satterthwaite), conf_int and Wald_test(HTZ)) timed inside
R (``proc.time``: elapsed and user + system CPU, median of ``--r-repeat``), and the CR1
``robust(fit, cluster = study)``.

evsynth: the same model, fitted by ``evsynth.meta_mv`` when it exists, otherwise the marginal
covariance ``M = V + Z G Z'`` is built from metafor's variance components and the GLS estimate
computed cluster by cluster (what ``meta_mv`` returns), and ``evsynth.robust(fit, cluster,
clubsandwich=True)`` (and the CR1 ``robust(fit, cluster)``) timed (median of ``--repeat`` after
a warm-up). The estimates (beta, SE, Satterthwaite df, HTZ F and df) are compared with R's.

``--write`` replaces the section ``robust_cr2`` of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

import evsynth

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import publish  # noqa: E402
from _results import table as results_table  # noqa: E402


def synthetic(studies: int, effects: int, seed: int = 14) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = np.ones(studies, dtype=int)
    extra = rng.multinomial(effects - studies, np.ones(studies) / studies)
    sizes += np.minimum(extra, 18)
    while sizes.sum() < effects:  # cap at 19 per study; spread what the cap removed
        j = rng.integers(studies)
        if sizes[j] < 19:
            sizes[j] += 1
    study = np.repeat(np.arange(1, studies + 1), sizes)
    k = study.size
    es = np.concatenate([np.arange(1, n + 1) for n in sizes])
    x = rng.normal(size=k)
    z = np.repeat(rng.binomial(1, 0.4, studies), sizes).astype(float)
    vi = rng.uniform(0.01, 0.1, k)
    y = (0.2 + 0.1 * x - 0.05 * z + np.repeat(rng.normal(0, np.sqrt(0.05), studies), sizes)
         + rng.normal(0, np.sqrt(0.02), k) + rng.normal(0, np.sqrt(vi)))
    return pd.DataFrame({"study": study, "es": es, "yi": y, "vi": vi, "x": x, "z": z})


R_SCRIPT = r"""
suppressMessages(library(metafor))
suppressMessages(library(clubSandwich))
suppressMessages(library(jsonlite))
args <- commandArgs(trailingOnly = TRUE)
dat <- read.csv(args[1])
reps <- as.integer(args[3])
t0 <- proc.time()[["elapsed"]]
fit <- rma.mv(yi, vi, mods = ~ x + z, random = ~ 1 | study/es, data = dat, sparse = TRUE)
t_fit <- proc.time()[["elapsed"]] - t0
message(sprintf("rma.mv fitted in %.1f s", t_fit))
tm <- function(expr_fun) {
  el <- numeric(0); cpu <- numeric(0)
  for (r in seq_len(reps)) {
    t0 <- proc.time()
    val <- expr_fun()
    d <- proc.time() - t0
    el <- c(el, d[["elapsed"]]); cpu <- c(cpu, d[["user.self"]] + d[["sys.self"]])
  }
  list(val = val, elapsed = median(el), cpu = median(cpu))
}
r2 <- tm(function() robust(fit, cluster = dat$study, clubSandwich = TRUE))
r1 <- tm(function() robust(fit, cluster = dat$study))
message(sprintf("robust(clubSandwich = TRUE): %.1f s", r2$elapsed))
rb <- r2$val
rb1 <- r1$val
times <- r2$elapsed; times1 <- r1$elapsed
out <- list(sigma2 = as.numeric(fit$sigma2), beta = as.numeric(fit$beta), t_fit = t_fit,
            t_cr2 = times, t_cr1 = times1, cpu_cr2 = r2$cpu, cpu_cr1 = r1$cpu,
            se = as.numeric(rb$se),
            df = as.numeric(rb$dfs), QM = rb$QM, QMdf = as.numeric(rb$QMdf),
            se1 = as.numeric(rb1$se), QM1 = rb1$QM,
            metafor = as.character(packageVersion("metafor")),
            clubSandwich = as.character(packageVersion("clubSandwich")))
write_json(out, args[2], digits = NA, auto_unbox = TRUE)
"""


class ThreeLevelFit:
    """The three-level model with known variance components, as ``evsynth.meta_mv`` returns
    it (``yi``, ``model_matrix``, ``beta``, ``marginal_var()``, ``weight_matrix()``): the GLS
    estimate computed cluster by cluster."""

    def __init__(self, data: pd.DataFrame, sigma2: list[float]) -> None:
        self.yi = data["yi"].to_numpy()
        k = self.yi.size
        self.model_matrix = np.column_stack([np.ones(k), data["x"], data["z"]])
        self.coef_names = ["intrcpt", "x", "z"]
        self.btt = np.array([1, 2])
        self.level = 95.0
        study = data["study"].to_numpy()
        s1, s2 = sigma2
        same = study[:, None] == study[None, :] if k <= 2000 else None
        del same
        # M = diag(vi + s2) + s1 * (same study); block-diagonal by study
        order = np.argsort(study, kind="stable")
        sizes = np.bincount(study)[1:]
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        rows, cols, vals = [], [], []
        for n in np.unique(sizes):
            cl = np.flatnonzero(sizes == n)
            idx = order[starts[cl][:, None] + np.arange(n)]
            rows.append(np.repeat(idx, n, axis=1).ravel())
            cols.append(np.tile(idx, (1, n)).ravel())
            vals.append(np.full(idx.shape[0] * n * n, s1))
        r = np.concatenate(rows)
        c = np.concatenate(cols)
        v = np.concatenate(vals)
        v = v + np.where(r == c, data["vi"].to_numpy()[r] + s2, 0.0)
        self._M = sp.csr_matrix((v, (r, c)), shape=(k, k))
        # W = M^-1 block by block and the GLS estimate
        Winv_rows, Winv_cols, Winv_vals = [], [], []
        XtWX = np.zeros((3, 3))
        XtWy = np.zeros(3)
        vi = data["vi"].to_numpy()
        X = self.model_matrix
        for n in np.unique(sizes):
            cl = np.flatnonzero(sizes == n)
            idx = order[starts[cl][:, None] + np.arange(n)]
            Mb = s1 * np.ones((idx.shape[0], n, n)) + np.einsum(
                "jn,nm->jnm", vi[idx] + s2, np.eye(n))
            Wb = np.linalg.inv(Mb)
            Xb = X[idx]
            XtWX += np.einsum("jni,jnm,jmk->ik", Xb, Wb, Xb)
            XtWy += np.einsum("jni,jnm,jm->i", Xb, Wb, self.yi[idx])
            Winv_rows.append(np.repeat(idx, n, axis=1).ravel())
            Winv_cols.append(np.tile(idx, (1, n)).ravel())
            Winv_vals.append(Wb.ravel())
        self._W = sp.csr_matrix((np.concatenate(Winv_vals), (np.concatenate(Winv_rows),
                                                              np.concatenate(Winv_cols))),
                                shape=(k, k))
        self.beta = np.linalg.solve(XtWX, XtWy)
        self.vb = np.linalg.inv(XtWX)

    def marginal_var(self) -> sp.csr_matrix:
        return self._M

    def weight_matrix(self) -> sp.csr_matrix:
        return self._W


def median_time(fn: Any, repeat: int) -> tuple[float, float, Any]:
    """Median elapsed and CPU (process) time of ``repeat`` calls after a warm-up."""
    fn()  # warm-up
    times, cpus = [], []
    out = None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return float(np.median(times)), float(np.median(cpus)), out


def rel(a: Any, b: Any) -> float:
    a = np.atleast_1d(np.asarray(a, float))
    b = np.atleast_1d(np.asarray(b, float))
    return float(np.max(np.abs(a - b) / np.abs(b)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--studies", type=int, default=1000)
    ap.add_argument("--effects", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--r-repeat", type=int, default=1,
                    help="runs of each robust() call in R (median)")
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args()
    data = synthetic(a.studies, a.effects)
    load0 = os.getloadavg()[0]
    r_out: dict[str, Any] | None = None
    rscript = shutil.which("Rscript")
    if rscript and not a.no_r:
        with tempfile.TemporaryDirectory() as tmp:
            csv = Path(tmp) / "dat.csv"
            data.to_csv(csv, index=False)
            script = Path(tmp) / "bench.R"
            script.write_text(textwrap.dedent(R_SCRIPT))
            res_json = Path(tmp) / "out.json"
            print(f"R: rma.mv + robust(clubSandwich=TRUE) on k = {len(data)} ...", flush=True)
            subprocess.run([rscript, str(script), str(csv), str(res_json), str(a.r_repeat)],
                           check=True)
            r_out = json.loads(res_json.read_text())
    elif not rscript:
        print("Rscript not found: timing evsynth only (no comparison)")
    sigma2 = r_out["sigma2"] if r_out else [0.05, 0.02]
    meta_mv = getattr(evsynth, "meta_mv", None) if "meta_mv" in evsynth.__all__ else None
    fit_note = ""
    if meta_mv is not None:
        t0 = time.perf_counter()
        fit = meta_mv("yi", "vi", random="~ 1 | study/es", mods="~ x + z", data=data)
        t_fit = time.perf_counter() - t0
        fit_note = f"model fitted by evsynth.meta_mv in {t_fit:.2f} s"
    else:
        fit = ThreeLevelFit(data, sigma2)
        fit_note = ("evsynth.meta_mv is not available yet: the model is metafor's (its sigma^2), "
                    "M and the GLS estimate built cluster by cluster in the benchmark")
    cluster = data["study"].to_numpy()
    t_cr2, c_cr2, res = median_time(lambda: evsynth.robust(fit, cluster, clubsandwich=True),
                                    a.repeat)
    t_cr1, c_cr1, res1 = median_time(lambda: evsynth.robust(fit, cluster), a.repeat)
    load1 = os.getloadavg()[0]
    nan = float("nan")
    rows = [{"step": "CR2 + Satterthwaite + HTZ", "evsynth_s": t_cr2,
             "R_s": r_out["t_cr2"] if r_out else nan, "evsynth_cpu_s": c_cr2,
             "R_cpu_s": r_out["cpu_cr2"] if r_out else nan},
            {"step": "CR1 (metafor default)", "evsynth_s": t_cr1,
             "R_s": r_out["t_cr1"] if r_out else nan, "evsynth_cpu_s": c_cr1,
             "R_cpu_s": r_out["cpu_cr1"] if r_out else nan}]
    table = pd.DataFrame(rows)
    table["speed-up"] = table["R_s"] / table["evsynth_s"]
    table["speed-up (CPU)"] = table["R_cpu_s"] / table["evsynth_cpu_s"]
    lines = [f"k = {len(data)} effects in {a.studies} studies (three-level model, p = 3); "
             f"evsynth: median of {a.repeat} runs after a warm-up, R: median of {a.r_repeat}; "
             f"elapsed and CPU (process) time; load average {load0:.1f} -> {load1:.1f} "
             "(a shared machine: CPU time is the fairer comparison).", "",
             results_table(table, floatfmt=".4g"), ""]
    if r_out:
        diffs = {"beta": rel(res.beta, r_out["beta"]), "se (CR2)": rel(res.se, r_out["se"]),
                 "Satterthwaite df": rel(res.df, r_out["df"]),
                 "HTZ F": rel(res.QM, r_out["QM"]), "HTZ df": rel(res.QMdf, r_out["QMdf"]),
                 "se (CR1)": rel(res1.se, r_out["se1"]), "F (CR1)": rel(res1.QM, r_out["QM1"])}
        lines.append("Largest relative difference from metafor " + r_out["metafor"]
                     + " / clubSandwich " + r_out["clubSandwich"] + ": "
                     + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()) + ".")
        lines.append(f"metafor's rma.mv fit (sparse = TRUE) took {r_out['t_fit']:.1f} s "
                     "(not part of the timings above).")
    lines.append(f"Notes: {fit_note}. evsynth computes the CR2 adjustment per study, studies "
                 "of equal size in one batched numpy call, and the Satterthwaite/HTZ moments "
                 "from p x p per-cluster terms (no k x k or J x J matrix).")
    body = "\n".join(lines)
    publish("robust_cr2", "Cluster-robust CR2 test, three-level model: evsynth vs "
            "metafor + clubSandwich (bench/bench_robust.py)", body, a.write)


if __name__ == "__main__":
    main()
