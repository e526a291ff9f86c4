"""Benchmark: evsynth.meta_mv against metafor rma.mv (issue 14, point 4).

Run from the repository root:  python bench/bench_mv.py [--quick] [--no-r]

Two models on simulated data (seeded):

1. three-level model, ``random = ~ 1 | study/es``: 1,000 studies, 10,000 effect sizes
   (5 to 15 per study), REML;
2. multivariate model, ``random = ~ outcome | study``, struct CS, three outcomes per study with
   correlated sampling errors (r = 0.5) and outcome-specific intercepts, 600 studies
   (1,800 effects), REML.

metafor runs in the same script through Rscript (skipped, with a note, when R or metafor is
missing), with ``sparse = TRUE`` (its fastest setting for these block-diagonal models; the dense
default is also timed for the smaller model). Prints the time of each, the ratio and the maximum
relative difference of the estimates (coefficients, SEs, variance components).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

import evsynth

R_SCRIPT = r"""
suppressMessages(library(metafor)); library(jsonlite)
args <- commandArgs(TRUE); d <- read.csv(args[1]); model <- args[2]; sparse <- args[3] == "TRUE"
# tight: nlminb rel.tol 1e-12 (1e-11, 1e-10 when nlminb reports false convergence)
tols <- if (args[4] == "TRUE") c(1e-12, 1e-11, 1e-10) else NA
if (model != "three")
  V <- vcalc(vi, cluster = study, obs = outcome, rho = 0.5, data = d, sparse = sparse)
for (rt in tols) {
  ctrl <- if (is.na(rt)) list() else list(rel.tol = rt, eval.max = 10000, iter.max = 10000)
  t <- system.time(res <- try(if (model == "three") {
    rma.mv(yi, vi, random = ~ 1 | study/es, data = d, sparse = sparse, control = ctrl)
  } else {
    rma.mv(yi, V, mods = ~ 0 + outcome, random = ~ outcome | study, struct = "CS", data = d,
           sparse = sparse, control = ctrl)
  }, silent = TRUE))
  if (!inherits(res, "try-error")) break
}
out <- list(time = unname(t[3]), beta = as.numeric(res$beta), se = as.numeric(res$se),
            sigma2 = as.numeric(res$sigma2), tau2 = as.numeric(res$tau2),
            rho = as.numeric(res$rho), ll = as.numeric(logLik(res)), rel_tol = rt)
cat(toJSON(out, digits = NA, auto_unbox = TRUE, na = "string"))
"""


def three_level(n_studies: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(5, 16, n_studies)
    sizes = np.round(sizes * (10 * n_studies / sizes.sum())).astype(int).clip(1)
    study = np.repeat(np.arange(1, n_studies + 1), sizes)
    es = np.concatenate([np.arange(1, s + 1) for s in sizes])
    k = study.size
    vi = rng.uniform(0.01, 0.1, k)
    u = rng.normal(0, np.sqrt(0.05), n_studies)[study - 1]
    yi = 0.2 + u + rng.normal(0, np.sqrt(0.03), k) + rng.normal(0, np.sqrt(vi))
    return pd.DataFrame({"study": study, "es": es, "yi": yi, "vi": vi})


def multivariate(n_studies: int, seed: int = 2) -> tuple[pd.DataFrame, sp.csr_matrix]:
    rng = np.random.default_rng(seed)
    study = np.repeat(np.arange(1, n_studies + 1), 3)
    outcome = np.tile(["a", "b", "c"], n_studies)
    vi = rng.uniform(0.01, 0.1, study.size)
    blocks = []
    y = []
    for s in range(n_studies):
        v = vi[3 * s:3 * s + 3]
        S = 0.5 * np.sqrt(np.outer(v, v))
        np.fill_diagonal(S, v)
        blocks.append(S)
        G = 0.04 * (0.6 + 0.4 * np.eye(3))
        y.append(np.array([0.1, 0.3, 0.5]) + rng.multivariate_normal(np.zeros(3), G + S))
    d = pd.DataFrame({"study": study, "outcome": outcome, "yi": np.concatenate(y), "vi": vi})
    return d, sp.block_diag(blocks, format="csr")


def run_r(d: pd.DataFrame, model: str, sparse: bool, tight: bool = False) -> dict | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "d.csv"
        script = Path(tmp) / "b.R"
        d.to_csv(csv, index=False)
        script.write_text(R_SCRIPT)
        try:
            out = subprocess.run(["Rscript", str(script), str(csv), model, str(sparse).upper(),
                                  str(tight).upper()],
                                 capture_output=True, text=True, timeout=3600, check=True)
        except (subprocess.SubprocessError, OSError) as exc:
            print(f"  metafor run failed: {exc} {getattr(exc, 'stderr', '')}")
            return None
    return json.loads(out.stdout)


def rel_diff(fit, ref: dict) -> float:
    pairs = [(fit.beta, ref["beta"]), (fit.se, ref["se"])]
    for name in ("sigma2", "tau2", "rho"):
        mine = getattr(fit, name)
        if mine.size:
            pairs.append((mine, ref[name]))
    return max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)) / np.abs(np.asarray(b))))
               for a, b in pairs)


def bench(label: str, d: pd.DataFrame, model: str, fit_fn, r_sparse: tuple[bool, ...],
          no_r: bool, tight: bool = False) -> list[str]:
    t0 = time.perf_counter()
    fit = fit_fn()
    t_py = time.perf_counter() - t0
    lines = [f"{label}: k = {fit.k}, blocks = {fit.method_info['n_blocks']}; evsynth "
             f"{t_py:.2f} s (converged: {fit.method_info['converged']}, logLik "
             f"{fit.ll:.6f})"]
    print(lines[-1], flush=True)
    for sparse in r_sparse:
        ref = None if no_r else run_r(d, model, sparse, tight)
        if ref is None:
            lines.append("  metafor: skipped (R/metafor not available or --no-r)")
            print(lines[-1])
            continue
        tol = f", rel.tol = {ref['rel_tol']}" if tight else ""
        lines.append(f"  metafor rma.mv (sparse = {sparse}{tol}): "
                     f"{ref['time']:.2f} s -> ratio "
                     f"{ref['time'] / t_py:.1f}x; max relative difference of the estimates "
                     f"{rel_diff(fit, ref):.2e}; logLik metafor {ref['ll']:.6f} "
                     f"(evsynth - metafor = {fit.ll - ref['ll']:.2e})")
        print(lines[-1], flush=True)
        # which maximum is higher: evsynth's log-likelihood at metafor's estimates
        fixed = {k: ref[k] for k in ("sigma2", "tau2", "rho")
                 if getattr(fit, k).size and isinstance(ref.get(k), (list, float))}
        at_ref = fit.refit(None, **fixed)
        lines.append(f"    evsynth's logLik at metafor's variance components: {at_ref.ll:.9f} "
                     f"(metafor {ref['ll']:.9f}; at evsynth's own estimates {fit.ll:.9f}); "
                     f"components evsynth {_vc(fit)} vs metafor {_vc_ref(ref)}")
        print(lines[-1], flush=True)
    return lines


def _vc(fit) -> str:
    return ", ".join(f"{x:.10g}" for k in ("sigma2", "tau2", "rho") for x in getattr(fit, k))


def _vc_ref(ref: dict) -> str:
    return ", ".join(f"{x:.10g}" for k in ("sigma2", "tau2", "rho")
                     for x in np.atleast_1d(ref.get(k, [])) if isinstance(x, float))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="10x smaller data")
    ap.add_argument("--no-r", action="store_true", help="skip metafor")
    ap.add_argument("--only", choices=("three", "mv"), help="run one of the two models")
    ap.add_argument("--r-tight", action="store_true",
                    help="metafor with nlminb rel.tol = 1e-12 (its default stops earlier)")
    ap.add_argument("--r-sparse-only", action="store_true",
                    help="time metafor with sparse = TRUE only")
    a = ap.parse_args()
    n3, nm = (100, 60) if a.quick else (1000, 600)
    # warm-up: imports (scipy.stats, pandas, formulaic) are not part of the fit's time
    warm = three_level(5)
    evsynth.meta_mv("yi", "vi", random="~ 1 | study/es", data=warm, mods="~ 0 + C(study)")
    out: list[str] = []
    if a.only in (None, "three"):
        d3 = three_level(n3)
        out += bench("three-level ~ 1 | study/es", d3, "three",
                     lambda: evsynth.meta_mv("yi", "vi", random="~ 1 | study/es", data=d3),
                     (True,), a.no_r, a.r_tight)
    if a.only in (None, "mv"):
        dm, Vm = multivariate(nm)
        out += bench("multivariate ~ outcome | study (CS)", dm, "mv",
                     lambda: evsynth.meta_mv("yi", Vm, mods="~ 0 + outcome",
                                             random="~ outcome | study", struct="CS", data=dm),
                     (True,) if a.r_sparse_only else (True, False), a.no_r, a.r_tight)
    print("\n".join(["", "Summary:", *out]))


if __name__ == "__main__":
    main()
