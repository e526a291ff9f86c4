"""evsynth against PyMARE, statsmodels and R metafor, side by side (issue 17).

    python bench/bench_kernels.py [--sizes 1000,10000,100000] [--full] [--repeat 3] [--no-r]
                                  [--skip batch,single,regression] [--methods DL,HE,ML,REML]
                                  [--layouts 10,ragged] [--tests z,knha] [--clock cpu|wall]
                                  [--floor] [--gosh]
                                  [--write]

Every workload is timed for evsynth and its peers in the same process, interleaved (evsynth,
peer, evsynth, peer, ...), ``--repeat`` times after one warm-up; the tables give medians. The
batch part measures CPU time by default (``--clock wall`` for wall time): the machine is shared.
``--floor`` times REML on 10^6 x k = 10 against its parts (the fused Newton iteration, the
global-maximum scan, one pass of the sums) and measures its peak memory (section
``kernels_floor``).

1. Batch, intercept-only, k = 10 and ragged k in 2..50, N meta-analyses: ``evsynth.meta_batch``
   (every output column) against PyMARE's batched estimators called once on all N datasets
   ("one call") and in chunks of 10,000 datasets ("chunks"; with ragged k PyMARE needs equal k
   per call, so one call per k value and chunks of 10,000 within it). The ratio column is
   PyMARE's best pattern / evsynth. ``--full`` adds N = 10^6 (k = 10 only; ``--repeat`` // 3
   runs, no warm-up round for PyMARE, one call for evsynth to load its parallel kernels).
   ``--tests`` (default z and knha): one evsynth row per test, timed in the same interleaved
   round against the same PyMARE calls (PyMARE's batched estimators have no t-based tests).
2. Single fits (G = 1, k = 10), every estimator: ``evsynth.meta`` (the full result) against
   PyMARE (``DerSimonianLaird``, ``Hedges``, ``VarianceBasedLikelihoodEstimator``),
   statsmodels (``combine_effects``, DL and PM) and metafor ``rma`` (Rscript, 5 blocks of 200
   calls timed inside R, default control); CPU time (``time.process_time``; R's user + system
   time), since the machine is shared and every tool runs single-threaded here.
3. REML meta-regression, p = 10 (intercept + 9 moderators): evsynth.meta against PyMARE's
   ``VarianceBasedLikelihoodEstimator(method="REML")``; each fit in a fresh child process so
   that peak memory (ru_maxrss after the fit minus after building the data) is its own.

``--write`` replaces the sections ``kernels_single``, ``kernels_batch``, ``kernels_regression``
(and ``kernels_gosh`` with ``--gosh``: GOSH of 14 trials against metafor) of bench/RESULTS.md,
each part its own, so that one part can be re-run with ``--skip``.
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
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import evsynth

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import table as results_table  # noqa: E402
from _results import write_section  # noqa: E402

CHUNK = 10_000
PYMARE_METHODS = {"DL": "DL", "HE": "HE", "ML": "ML", "REML": "REML"}


def synthetic(G: int, k: int | None = 10, seed: int = 2026) -> pd.DataFrame:
    """G meta-analyses: vi ~ U(0.01, 0.2), tau^2 ~ U(0, 0.1), mu = 0.3; k studies each, or
    k ~ U{2..50} when ``k`` is None (ragged)."""
    rng = np.random.default_rng(seed)
    sizes = np.full(G, k) if k is not None else rng.integers(2, 51, G)
    tau2 = np.repeat(rng.uniform(0, 0.1, G), sizes)
    vi = rng.uniform(0.01, 0.2, int(sizes.sum()))
    yi = rng.normal(0.3, np.sqrt(vi + tau2))
    return pd.DataFrame({"g": np.repeat(np.arange(G), sizes), "yi": yi, "vi": vi})


def pymare_estimator(method: str) -> Any:
    from pymare.estimators import (
        DerSimonianLaird,
        Hedges,
        VarianceBasedLikelihoodEstimator,
    )

    if method == "DL":
        return DerSimonianLaird()
    if method == "HE":
        return Hedges()
    return VarianceBasedLikelihoodEstimator(method=method)


def pymare_blocks(df: pd.DataFrame) -> list[tuple[np.ndarray, np.ndarray]]:
    """(y, v) arrays of shape (k, datasets), one per k value (PyMARE needs equal k per call)."""
    sizes = df.groupby("g", sort=False).size().to_numpy()
    y_all, v_all = df["yi"].to_numpy(), df["vi"].to_numpy()
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    blocks = []
    for k in np.unique(sizes):
        rows = (starts[sizes == k][:, None] + np.arange(k)).ravel()
        blocks.append((y_all[rows].reshape(-1, k).T.copy(), v_all[rows].reshape(-1, k).T.copy()))
    return blocks


def pymare_fit(blocks: list[tuple[np.ndarray, np.ndarray]], method: str,
               chunk: int | None) -> None:
    for y, v in blocks:
        k, G = y.shape
        X = np.ones((k, 1))
        step = G if chunk is None else chunk
        for s in range(0, G, step):
            pymare_estimator(method).fit(y=y[:, s:s + step], v=v[:, s:s + step], X=X)


def interleaved(fns: dict[str, Callable[[], Any]], repeat: int,
                warmup: bool = True, clock: Callable[[], float] = time.perf_counter
                ) -> dict[str, float]:
    """Median time (wall, or ``clock``) of each function, the functions run in turn ``repeat``
    times (after one warm-up round unless ``warmup`` is False)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(repeat + warmup):
        for name, fn in fns.items():
            t0 = clock()
            fn()
            if r or not warmup:
                times[name].append(clock() - t0)
    return {name: float(np.median(t)) for name, t in times.items()}


def batch_rows(sizes: list[int], repeat: int, methods: list[str], layouts: list[str],
               clock: Callable[[], float] = time.perf_counter,
               tests: tuple[str, ...] = ("z",)) -> list[dict[str, Any]]:
    rows = []
    for ragged in (False, True):
        if ("ragged" if ragged else "10") not in layouts:
            continue
        for N in sizes:
            if ragged and N >= 1_000_000:
                continue  # 26 million rows: beyond this machine's memory with PyMARE's copies
            df = synthetic(N, None if ragged else 10)
            blocks = pymare_blocks(df)
            for method in methods:
                # the result holds its frame, every column computed; each test timed against
                # the same PyMARE calls (PyMARE's estimators compute tau^2 and beta only)
                fns: dict[str, Callable[[], Any]] = {
                    f"evsynth:{test}": lambda df=df, m=method, t=test: evsynth.meta_batch(
                        df, by="g", method=m, test=t) for test in tests}
                fns["pymare_one_call"] = lambda b=blocks, m=method: pymare_fit(b, m, None)
                if N > CHUNK:
                    fns["pymare_chunks"] = lambda b=blocks, m=method: pymare_fit(b, m, CHUNK)
                # 10^6: three interleaved runs at least (one run varied by +-0.3 s with the
                # memory state PyMARE left behind)
                reps = repeat if N < 1_000_000 else max(3, repeat // 3)
                if N >= 1_000_000:  # evsynth's parallel kernels loaded (PyMARE: no warm-up)
                    for test in tests:
                        fns[f"evsynth:{test}"]()
                t = interleaved(fns, reps, warmup=N < 1_000_000, clock=clock)
                best = min(v for key, v in t.items() if key.startswith("pymare"))
                for test in tests:
                    mine = t[f"evsynth:{test}"]
                    row = {"k": "2..50" if ragged else "10", "N": f"{N:,}", "method": method,
                           "test": test, "evsynth_s": mine,
                           "pymare_one_call_s": t["pymare_one_call"],
                           "pymare_chunks_s": t.get("pymare_chunks", np.nan),
                           "x_pymare_best": best / mine, "repeats": reps}
                    rows.append(row)
                    print(row, flush=True)
    return rows


R_SINGLE = r"""
suppressMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
n <- as.integer(args[2])
cpu <- function() { t <- proc.time(); t[["user.self"]] + t[["sys.self"]] }
out <- list()
for (m in c("EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")) {
  for (i in 1:20) rma(d$yi, d$vi, method = m)
  blocks <- numeric(5)  # 5 blocks of n / 5 calls, CPU time; the median block
  for (b in 1:5) {
    t0 <- cpu()
    for (i in seq_len(n %/% 5)) rma(d$yi, d$vi, method = m)
    blocks[b] <- (cpu() - t0) / (n %/% 5)
  }
  out[[m]] <- median(blocks)
}
cat(jsonlite::toJSON(out, digits = NA, auto_unbox = TRUE))
"""


def metafor_single(y: np.ndarray, v: np.ndarray, n: int = 1000) -> dict[str, float] | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv, script = Path(tmp) / "d.csv", Path(tmp) / "single.R"
        pd.DataFrame({"yi": y, "vi": v}).to_csv(csv, index=False, float_format="%.17g")
        script.write_text(R_SINGLE)
        proc = subprocess.run(["Rscript", str(script), str(csv), str(n)], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            print("Rscript failed:", proc.stderr[-500:], file=sys.stderr)
            return None
        return {k: float(t) for k, t in json.loads(proc.stdout.strip().splitlines()[-1]).items()}


def single_rows(repeat: int, use_r: bool) -> list[dict[str, Any]]:
    from statsmodels.stats.meta_analysis import combine_effects

    d = synthetic(1, 10, seed=7)
    y, v = d["yi"].to_numpy(), d["vi"].to_numpy()
    yc, vc, X = y[:, None], v[:, None], np.ones((y.size, 1))
    n = 200

    def loop(fn: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            for _ in range(n):
                fn()
        return run

    mf = metafor_single(y, v) if use_r else None
    rows = []
    for method in ("EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"):
        fns: dict[str, Callable[[], Any]] = {
            "evsynth": loop(lambda m=method: evsynth.meta(y, v, method=m))}
        if method in PYMARE_METHODS:
            fns["pymare"] = loop(lambda m=method: pymare_estimator(m).fit(y=yc, v=vc, X=X))
        if method in ("DL", "PM"):
            fns["statsmodels"] = loop(lambda m=method: combine_effects(y, v, method_re=m.lower()))
        t = {key: s / n for key, s in interleaved(fns, repeat, clock=time.process_time).items()}
        row: dict[str, Any] = {"method": method, "evsynth_ms": 1e3 * t["evsynth"],
                               "pymare_ms": 1e3 * t.get("pymare", np.nan),
                               "statsmodels_ms": 1e3 * t.get("statsmodels", np.nan),
                               "metafor_ms": 1e3 * mf[method] if mf else np.nan}
        row["x_metafor"] = row["metafor_ms"] / row["evsynth_ms"]
        peers = [row[c] for c in ("pymare_ms", "statsmodels_ms") if np.isfinite(row[c])]
        row["x_fastest_python_peer"] = min(peers) / row["evsynth_ms"] if peers else np.nan
        rows.append(row)
        print(row, flush=True)
    return rows


REG_CHILD = textwrap.dedent("""
    import sys, time, warnings
    import numpy as np

    def hwm():  # peak RSS of this process in MB (VmHWM; ru_maxrss would count the parent's)
        with open("/proc/self/status") as f:
            return next(int(x.split()[1]) for x in f if x.startswith("VmHWM")) / 1024

    warnings.filterwarnings("ignore")
    tool, k, p = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = np.random.default_rng(11)
    mods = rng.normal(size=(k, p - 1))
    vi = rng.uniform(0.01, 0.2, k)
    beta = np.linspace(-0.2, 0.2, p - 1)
    yi = 0.2 + mods @ beta + rng.normal(0, np.sqrt(vi + 0.05))
    if tool == "evsynth":
        import evsynth
        evsynth.meta(yi[:50], vi[:50], mods=mods[:50])  # imports and kernels loaded
    else:
        from pymare.estimators import VarianceBasedLikelihoodEstimator
        X = np.column_stack([np.ones(k), mods])
    base = hwm()
    t0 = time.perf_counter()
    if tool == "evsynth":
        tau2 = evsynth.meta(yi, vi, mods=mods, method="REML").tau2
    else:
        est = VarianceBasedLikelihoodEstimator(method="REML").fit(y=yi[:, None], v=vi[:, None],
                                                                  X=X)
        tau2 = float(np.ravel(est.params_["tau2"])[0])
    t = time.perf_counter() - t0
    peak = hwm()
    print(t, peak - base, peak, repr(float(tau2)))
""")


def regression_rows(ks: list[int], repeat: int) -> list[dict[str, Any]]:
    rows = []
    p = 10
    for k in ks:
        res: dict[str, list[list[float]]] = {"evsynth": [], "pymare": []}
        reps = repeat if k < 1_000_000 else 1
        for _ in range(reps):
            for tool in res:
                out = subprocess.run([sys.executable, "-c", REG_CHILD, tool, str(k), str(p)],
                                     capture_output=True, text=True, check=True)
                res[tool].append([float(x) for x in out.stdout.split()])
        med = {tool: np.median(np.array(r), axis=0) for tool, r in res.items()}
        row = {"workload": f"REML meta-regression, k = {k:,}, p = {p}",
               "evsynth_s": med["evsynth"][0], "pymare_s": med["pymare"][0],
               "x_pymare": med["pymare"][0] / med["evsynth"][0],
               "evsynth_extra_MB": med["evsynth"][1], "pymare_extra_MB": med["pymare"][1],
               "evsynth_peak_MB": med["evsynth"][2], "pymare_peak_MB": med["pymare"][2],
               "tau2_evsynth": med["evsynth"][3], "tau2_pymare": med["pymare"][3],
               "repeats": reps}
        rows.append(row)
        print(row, flush=True)
    return rows


FLOOR_CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    from bench_kernels import synthetic
    import evsynth
    from evsynth.models import _fused, kernels

    def hwm():
        with open("/proc/self/status") as f:
            return next(int(x.split()[1]) for x in f if x.startswith("VmHWM")) / 1024

    def rss():
        with open("/proc/self/status") as f:
            return next(int(x.split()[1]) for x in f if x.startswith("VmRSS")) / 1024

    N, reps = int(sys.argv[2]), int(sys.argv[3])
    evsynth.meta_batch(synthetic(3000, 10), by="g", method="REML")  # kernels loaded
    df = synthetic(N, 10)
    y, v = df["yi"].to_numpy(), df["vi"].to_numpy()
    sizes = np.full(N, 10)
    starts = np.arange(N) * 10
    des = kernels.Design(y, v, np.broadcast_to(np.ones(1), (y.size, 1)),
                         kernels.Segments(sizes))
    k = des.k.astype(float)
    rss0, trPV, _ = kernels.ols_quantities(des)
    start = np.maximum(0.0, (rss0 - trPV) / (k - 1))
    tau2 = _fused.newton_intercept_only(y, v, starts, sizes, "REML", start, None, 1e-12, 100)[0]
    steps = {
        "one pass (sums at a given tau^2)":
            lambda: _fused.two_sums(y, v, starts, sizes, tau2, False),
        "Newton iteration": lambda: _fused.newton_intercept_only(
            y, v, starts, sizes, "REML", start, None, 1e-12, 100),
        "global-maximum scan": lambda: _fused.global_maxima(
            y, v, starts, sizes, "REML", start, tau2, 1e-12, 16),
        "meta_batch (every column)": lambda: evsynth.meta_batch(df, by="g", method="REML"),
    }
    out = {}
    for name, fn in steps.items():
        t = []
        for _ in range(reps):
            c = time.process_time()
            fn()
            t.append(time.process_time() - c)
        out[name] = float(np.median(t))
    frame = df.memory_usage(deep=True).sum() / 2**20
    open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM)
    base = rss()
    evsynth.meta_batch(df, by="g", method="REML")
    out["peak_extra_MB"] = hwm() - base
    out["frame_MB"] = frame
    print(repr(out))
""")


def floor_text(N: int, repeat: int) -> str:
    """REML on N x k = 10 against its parts, each timed alone (CPU time, fresh process)."""
    here = str(Path(__file__).resolve().parent)
    proc = subprocess.run([sys.executable, "-c", FLOOR_CHILD, here, str(N), str(repeat)],
                          capture_output=True, text=True, check=True)
    r = eval(proc.stdout.strip().splitlines()[-1])  # noqa: S307 - our own child's dict
    full = r["meta_batch (every column)"]
    newton, scan = r["Newton iteration"], r["global-maximum scan"]
    rows = [{"step": name, "cpu_s": r[name], "share_of_meta_batch": r[name] / full}
            for name in ("one pass (sums at a given tau^2)", "Newton iteration",
                         "global-maximum scan", "meta_batch (every column)")]
    return (f"REML, N = {N:,} meta-analyses of k = 10; CPU seconds, medians of {repeat} runs "
            "in one fresh process\n\n" + results_table(pd.DataFrame(rows)) + "\n\n"
            f"meta_batch / Newton iteration alone: {full / newton:.2f}; meta_batch / (Newton + "
            f"scan): {full / (newton + scan):.2f}. Peak memory of the meta_batch call above "
            f"the process before it (VmHWM reset): {r['peak_extra_MB']:.0f} MB = "
            f"{r['peak_extra_MB'] / r['frame_MB']:.2f} x the input frame "
            f"({r['frame_MB']:.0f} MB; the result frame itself is ~146 MB).")


R_GOSH = r"""
suppressMessages(library(metafor))
d <- read.csv(commandArgs(trailingOnly = TRUE)[1])
ctrl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)
g <- gosh(rma(yi, vi, data = d, method = "REML", control = ctrl), progbar = FALSE)
cat(jsonlite::toJSON(list(estimate = g$res$estimate, tau2 = g$res$tau2), digits = NA), "\n")
"""


def gosh_check() -> str:
    """GOSH on the first 14 of Egger's 16 magnesium trials (16,383 subsets, REML), evsynth
    against metafor run tight: the agreement claimed in bench/RESULTS.md, measured again."""
    egger = Path(__file__).resolve().parent.parent / "tests" / "reference" / "data" / \
        "infl_egger.csv"
    d = pd.read_csv(egger).iloc[:14]
    g = evsynth.meta(d["yi"].to_numpy(), d["vi"].to_numpy(), method="REML").gosh()
    with tempfile.TemporaryDirectory() as tmp:
        csv, script = Path(tmp) / "g.csv", Path(tmp) / "g.R"
        d.to_csv(csv, index=False, float_format="%.17g")
        script.write_text(R_GOSH)
        proc = subprocess.run(["Rscript", str(script), str(csv)], capture_output=True, text=True,
                              check=True)
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    mf = {key: np.array([np.nan if x in ("NA", None) else x for x in r[key]], dtype=float)
          for key in ("estimate", "tau2")}
    ev = {"estimate": np.asarray(g["estimate"], dtype=float),
          "tau2": np.asarray(g["tau2"], dtype=float)}
    ok = np.isfinite(mf["tau2"])
    diff = {key: np.abs(ev[key] - mf[key]) for key in ev}
    worst = np.where(ok, np.maximum(diff["estimate"], diff["tau2"]), 0.0)
    apart = np.flatnonzero(worst > 1e-8)
    # where they differ: the REML log-likelihood of the subset at each tau^2
    from evsynth.models import kernels

    gain = []
    for i in apart:
        rows = np.asarray(g.incl[i], dtype=bool)
        k = int(rows.sum())
        des = kernels.Design(d["yi"].to_numpy()[rows], d["vi"].to_numpy()[rows], np.ones((k, 1)),
                             kernels.Segments(np.array([k])))
        ll_ev = kernels.loglik(des, np.array([ev["tau2"][i]]), True)[0]
        ll_mf = kernels.loglik(des, np.array([mf["tau2"][i]]), True)[0]
        gain.append(ll_ev - ll_mf)
    same = worst[ok & (worst <= 1e-8)]
    return (f"GOSH k = 14 (16,383 subsets, REML) vs metafor (threshold = tol = 1e-12): metafor "
            f"failed on {int((~ok).sum())}; of the {int(ok.sum()):,} it fitted, "
            f"{int(ok.sum()) - apart.size:,} agree to {same.max():.2g} (estimate and tau^2) and "
            f"{apart.size} differ (largest |tau^2 difference| {diff['tau2'][apart].max():.3g}): "
            "there the REML log-likelihood at evsynth's tau^2 is higher than at metafor's by "
            + ", ".join(f"{x:.3g}" for x in gain)
            + (" (metafor stopped at a local maximum; evsynth's scan takes the global one)"
               if all(x > 0 for x in gain) else ""))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--full", action="store_true", help="add N = 10^6 and k = 10^6 regression")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--skip", default="", help="comma list of batch,single,regression")
    ap.add_argument("--gosh", action="store_true", help="re-check GOSH k = 14 against metafor")
    ap.add_argument("--floor", action="store_true",
                    help="REML 10^6 x k = 10 against its parts timed alone, and its peak memory")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--methods", default="DL,HE,ML,REML", help="batch part: estimators")
    ap.add_argument("--layouts", default="10,ragged", help="batch part: k = 10 and/or ragged")
    ap.add_argument("--tests", default="z,knha",
                    help="batch part: meta_batch tests timed (z, t, knha, adhoc)")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                    help="batch part: CPU time (time.process_time, all threads) or wall time")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")  # PyMARE / statsmodels runtime warnings
    sizes = [int(s) for s in args.sizes.split(",")] + ([1_000_000] if args.full else [])
    skip = set(args.skip.split(",")) - {""}
    load0 = os.getloadavg()[0]
    import pymare
    import statsmodels

    header = (f"machine: {os.cpu_count()} cores; numpy {np.__version__}; evsynth "
              f"{evsynth.__version__}; PyMARE {pymare.__version__}; statsmodels "
              f"{statsmodels.__version__}")

    def record(part: str, title: str, body: str) -> None:
        """Print one part and (``--write``) replace its own section ``kernels_<part>``, so that
        parts can be re-run one at a time."""
        nonlocal load0
        load1 = os.getloadavg()[0]
        text = (header + f"; load average {load0:.1f} at the start, {load1:.1f} at the end\n\n"
                + body)
        load0 = load1
        print(text, flush=True)
        if args.write:
            write_section(f"kernels_{part}", f"{title} (bench/bench_kernels.py)", text)

    if "single" not in skip:
        rows = single_rows(max(args.repeat, 5), not args.no_r)
        record("single", "Single fits (k = 10): evsynth vs PyMARE, statsmodels, metafor",
               "ms of CPU time per fit (every tool single-threaded here), medians of interleaved "
               "repeats of 200 fits; metafor: the median of 5 blocks of 200 rma() calls timed "
               "inside R (CPU time, default control)\n\n" + results_table(pd.DataFrame(rows)))
    if "batch" not in skip:
        clock = time.process_time if args.clock == "cpu" else time.perf_counter
        rows = batch_rows(sizes, args.repeat, args.methods.split(","), args.layouts.split(","),
                          clock, tuple(args.tests.split(",")))
        what = ("CPU seconds (time.process_time: every thread of the process)"
                if args.clock == "cpu" else "seconds (wall time)")
        record("batch", "Batch, intercept-only: evsynth.meta_batch vs PyMARE",
               f"{what}, medians of interleaved repeats; evsynth = meta_batch(..., test=test) "
               "(its frame built, every column computed); the PyMARE columns are the same "
               "calls for every test (its estimators give tau^2 and beta only); x_pymare_best "
               "= PyMARE's faster call pattern (one call, or chunks of 10,000 datasets) / "
               "evsynth\n\n"
               + results_table(pd.DataFrame(rows)))
    if "regression" not in skip:
        ks = [100_000] + ([1_000_000] if args.full else [])
        rows = regression_rows(ks, args.repeat)
        record("regression", "REML meta-regression: evsynth vs PyMARE",
               "a fresh process per fit; extra_MB = peak RSS (VmHWM) during the fit above the "
               "peak with the data built, peak_MB = the process's peak\n\n"
               + results_table(pd.DataFrame(rows)))
    if args.gosh:
        record("gosh", "GOSH k = 14: evsynth vs metafor", gosh_check())
    if args.floor:
        record("floor", "REML 10^6 x k = 10: the whole batch against its parts",
               floor_text(1_000_000, max(args.repeat, 3)))


if __name__ == "__main__":
    main()
