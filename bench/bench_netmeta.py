"""Benchmark: evsynth.netmeta against R's netmeta and metafor's rma.mv (issue 15, point 8).

Run from the repository root:  python bench/bench_netmeta.py [--no-r] [--repeat 5]

Two simulated connected networks (evsynth.simulate.network.network_data; mean differences,
tau = 0.2, about 15% of the studies with 3 or 4 arms): 50 treatments and 1,000 studies (seed
1), and 20 treatments and 200 studies (seed 2). Timed on each:

* evsynth: the fit (common + random, generalised DL); the fit with node-splitting
  (back-calculation), the design-by-treatment decomposition, P-scores and rank probabilities
  (1,000 draws) together; and the REML fit (tau^2 through the contrast-based multivariate
  model);
* metafor (R) rma.mv on the contrast-based model (each study's comparisons with its baseline
  arm, block-diagonal V, random = ~ comparison | study, rho = 1/2), REML: the model behind
  netmeta's and evsynth's REML; on both networks;
* evsynth's SIDE node-splitting (one refit per directly compared pair; a single run);
* netmeta (R) netmeta() (DL), and with netsplit(), netrank() and decomp.design(): on the
  medium network only (netmeta 3.4 loops in R over all pairs of comparisons; one fit of the
  large network did not finish within 50 minutes on this machine).

R runs through Rscript in the same script (skipped with a note when R, netmeta or metafor is
missing; netmeta is looked for in R_LIBS, default /work/R-lib). evsynth times are medians of
``--repeat`` runs, R's a single run; the ratio is R time / evsynth time. Results go to
bench/RESULTS.md (section "netmeta").
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

import evsynth
from evsynth.simulate.network import network_data

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import table, write_section  # noqa: E402

R_SCRIPT = r"""
args <- commandArgs(TRUE); d <- read.csv(args[1], stringsAsFactors = FALSE)
out <- list()
have_netmeta <- args[2] == "netmeta" &&
  suppressMessages(requireNamespace("netmeta", quietly = TRUE))
do_rma <- args[3] == "rma"
suppressMessages(library(metafor)); library(jsonlite)
if (have_netmeta) {
  suppressMessages(library(netmeta))
  # one run of each step (netmeta's R loops over all m x m comparison pairs make a single
  # fit of this network take minutes)
  t0 <- proc.time()[3]
  nm <- netmeta(TE, seTE, treat1, treat2, studlab, data = d, sm = "MD")
  t1 <- proc.time()[3]
  ns <- netsplit(nm); t2 <- proc.time()[3]
  rk <- netrank(nm); t3 <- proc.time()[3]
  dd <- decomp.design(nm); t4 <- proc.time()[3]
  out$netmeta_fit <- unname(t1 - t0); out$netmeta_all <- unname(t4 - t0)
  out$netmeta_steps <- c(netsplit = unname(t2 - t1), netrank = unname(t3 - t2),
                         decomp = unname(t4 - t3))
  out$netmeta_tau2 <- nm$tau2; out$netmeta_Q <- nm$Q
  out$netmeta_TE <- as.numeric(nm$TE.random[, "T01"])
  message("netmeta done: ", round(t4 - t0, 1), " s")
}
# contrast-based model: each study's comparisons with its baseline arm (its last treatment)
rows <- list(); V <- list(); i <- 0
for (s in if (do_rma) unique(d$studlab) else character(0)) {
  ds <- d[d$studlab == s, ]
  trts <- sort(unique(c(ds$treat1, ds$treat2)))
  base <- if ("T01" %in% trts) "T01" else rev(trts)[1]
  oth <- setdiff(trts, base)
  v <- function(a, b) {
    r <- ds[(ds$treat1 == a & ds$treat2 == b) | (ds$treat1 == b & ds$treat2 == a), ]
    r$seTE^2
  }
  te <- function(a, b) {
    r <- ds[ds$treat1 == a & ds$treat2 == b, ]
    if (nrow(r)) r$TE else -ds[ds$treat1 == b & ds$treat2 == a, "TE"]
  }
  M <- matrix(0, length(oth), length(oth))
  for (x in seq_along(oth)) for (y in seq_along(oth))
    M[x, y] <- if (x == y) v(oth[x], base) else
      (v(oth[x], base) + v(oth[y], base) - v(oth[x], oth[y])) / 2
  i <- i + 1; V[[i]] <- M
  rows[[i]] <- data.frame(study = s, t = oth, base = base, yi = sapply(oth, te, b = base))
}
if (do_rma) {
  cb <- do.call(rbind, rows); lv <- sort(unique(c(d$treat1, d$treat2)))
  X <- outer(cb$t, lv, "==") * 1 - outer(cb$base, lv, "==") * 1; X <- X[, -1]
  cb$comparison <- paste(cb$t, cb$base)
}
if (do_rma) {
  t0 <- proc.time()[3]
  fit <- rma.mv(yi, bldiag(V), mods = X, intercept = FALSE, random = ~ comparison | study,
                rho = 0.5, data = cb, sparse = TRUE)
  out$rma_mv <- unname(proc.time()[3] - t0); out$rma_mv_tau2 <- fit$tau2
  out$rma_mv_beta <- as.numeric(fit$beta)
}
cat(toJSON(out, digits = NA, auto_unbox = TRUE))
"""


def _median_time(fn, repeat: int) -> tuple[float, object]:
    times = []
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def _run_r(data, what: str, timeout: float) -> dict | str:
    """R's side: ``what`` is "netmeta" (netmeta + netsplit + netrank + decomp.design) or
    "rma" (rma.mv, REML). The parsed JSON, or a string saying why there is none."""
    if not shutil.which("Rscript"):
        return "Rscript not found"
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "net.csv"
        data[["studlab", "treat1", "treat2", "TE", "seTE"]].to_csv(csv, index=False)
        script = Path(tmp) / "bench.R"
        script.write_text(R_SCRIPT, encoding="utf-8")
        env = {**os.environ, "R_LIBS": os.environ.get("R_LIBS", "/work/R-lib")}
        args = [str(csv), "netmeta" if what == "netmeta" else "-",
                "rma" if what == "rma" else "-"]
        try:
            proc = subprocess.run(["Rscript", str(script), *args], capture_output=True,
                                  text=True, env=env, check=False, timeout=timeout)
        except subprocess.TimeoutExpired:
            return f"R did not finish within {timeout:.0f} s"
    if proc.returncode != 0:
        return f"R failed: {proc.stderr.strip()[-300:]}"
    out = json.loads(proc.stdout)
    if what == "netmeta" and "netmeta_fit" not in out:
        return "netmeta not installed in R_LIBS"
    return out


def fit_split_rank(data):
    fit = evsynth.netmeta(data=data, sm="MD", reference="T01")
    fit.netsplit()
    fit.decomp_design()
    fit.p_scores()
    fit.rank_probabilities(nsim=1000, seed=1)
    return fit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--r-timeout", type=float, default=1800.0)
    args = ap.parse_args()
    big = network_data(50, 1000, seed=1)
    medium = network_data(20, 200, seed=2)
    evsynth.netmeta(data=medium, sm="MD")  # warm-up (imports)
    rows = []
    notes = []
    for name, data in (("50 treatments, 1,000 studies", big),
                       ("20 treatments, 200 studies", medium)):
        k = data["studlab"].nunique()
        multi = int((data.groupby("studlab").size() > 1).sum())
        notes.append(f"{name}: {len(data)} comparisons, {multi} of {k} studies with 3-4 arms")
        t_fit, fit = _median_time(lambda d=data: evsynth.netmeta(data=d, sm="MD",
                                                                 reference="T01"), args.repeat)
        t_all, _ = _median_time(lambda d=data: fit_split_rank(d), args.repeat)
        t_reml, reml = _median_time(lambda d=data: evsynth.netmeta(
            data=d, sm="MD", reference="T01", method_tau="REML"), max(1, args.repeat // 2))
        r_fit = {"network": name, "task": "fit (common + random, DL)", "evsynth_s": t_fit}
        r_all = {"network": name, "task": "fit + netsplit + decomp_design + P-scores + "
                 "1,000-draw ranks", "evsynth_s": t_all}
        r_reml = {"network": name, "task": "REML fit", "evsynth_s": t_reml}
        t_side, _ = _median_time(lambda f=fit: f.netsplit(method="SIDE"), 1)
        r_side = {"network": name, "task": "netsplit(method='SIDE') (one refit per compared "
                  "pair)", "evsynth_s": t_side}
        rows += [r_fit, r_all, r_reml, r_side]
        if args.no_r:
            continue
        # rma.mv (the model of the REML fit) on both networks; netmeta on the medium one
        # (netmeta 3.4 loops over all pairs of comparisons in R: a single fit of the large
        # network did not finish within 50 minutes here)
        r = _run_r(data, "rma", args.r_timeout)
        if isinstance(r, str):
            notes.append(f"{name}: rma.mv: {r}")
        else:
            r_reml["R_s"], r_reml["R"] = r["rma_mv"], "metafor rma.mv (sparse = TRUE)"
            ours = reml.random.TE.loc[reml.coef_names, "T01"].to_numpy()
            diff = float(np.max(np.abs(ours - np.array(r["rma_mv_beta"]))))
            notes.append(f"{name}: tau^2 REML evsynth {reml.tau2:.6f}, rma.mv "
                         f"{r['rma_mv_tau2']:.6f}; max |beta difference| {diff:.1e}")
        if data is medium:
            r = _run_r(data, "netmeta", args.r_timeout)
            if isinstance(r, str):
                notes.append(f"{name}: netmeta: {r}")
            else:
                r_fit["R_s"], r_fit["R"] = r["netmeta_fit"], "netmeta"
                r_all["R_s"] = r["netmeta_all"]
                r_all["R"] = "netmeta + netsplit + netrank + decomp.design"
                te = fit.random.TE["T01"].to_numpy()
                diff = float(np.max(np.abs(te - np.array(r["netmeta_TE"]))))
                notes.append(f"{name}: tau^2 DL evsynth {fit.tau2:.6f}, netmeta "
                             f"{r['netmeta_tau2']:.6f}; max |TE.random difference| {diff:.1e}")
        else:
            notes.append(f"{name}: netmeta not run (a single netmeta() fit of this network "
                         "did not finish within 50 minutes on this machine)")
    import pandas as pd

    frame = pd.DataFrame(rows)
    if "R_s" in frame:
        frame["ratio_R_over_evsynth"] = frame["R_s"] / frame["evsynth_s"]
    frame = frame.astype(object).where(frame.notna(), "")  # no R run: blank, not "nan"
    text = table(frame) + "\n\n" + "\n".join(f"- {n}" for n in notes)
    print(text)
    write_section("netmeta", "Network meta-analysis against netmeta and rma.mv "
                  "(bench/bench_netmeta.py)", text)


if __name__ == "__main__":
    main()
