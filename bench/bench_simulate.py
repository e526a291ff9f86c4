"""Published simulation grids end to end with evsynth.simulate, against what the same grid
costs with a metafor loop (measured on a sample of it in this script).

    python bench/bench_simulate.py [--replicates N] [--sample N] [--cluster] [--write]
    python bench/bench_simulate.py --study friedrich2008 [--table 3|5|both] [--sample N]
        [--write [--doc-only]]

``--study inthout2014`` (the default):

* evsynth: every scenario of :func:`evsynth.simulate.published.inthout2014` (60 scenarios:
  k = 2..20, I^2 = 0..90%, equal / one large / a quarter large trials) x ``--replicates``
  (10,000) meta-analyses x 2 methods (DL with the z test, HKSJ), seed 2014, in this process;
  with ``--cluster`` also on a ``distributed.LocalCluster`` of the machine's cores (same
  numbers, tested equal in tests/models/test_dask_batch.py).
* metafor: ``rma(yi, vi, method = "DL")`` and ``rma(yi, vi, method = "DL", test = "knha")`` in
  an R loop over ``--sample`` (200) simulated meta-analyses of each k (the "one large" pattern
  at I^2 = 50%, the same data evsynth fits); the time per fit pair for each k, times the
  replicates of the grid's scenarios with that k, estimates the grid's cost in metafor. The
  p-values of the sample are compared with evsynth's.

``--write`` replaces the table section of docs/simulation-inthout2014.md and the ``simulate``
section of bench/RESULTS.md.

``--study friedrich2008``: Table 3 (and, with ``--table 5`` or ``both``, the default, Table 5:
SD 70% of the control mean, ``friedrich2008(table=5)``, every cell with its z, the signs our
bias cells give the sign-less published ones, and the log-normal RoM heterogeneity model for
contrast) of Friedrich, Adhikari & Beyene (2008, BMC Med Res Methodol
8:32; :func:`evsynth.simulate.published.friedrich2008`): 108 scenarios x 10,000
meta-analyses, DL random effects, MD, SMD and RoM (log ratio of means), plus the re-analysis of
the SMD scenarios with Review Manager's SMD variance (the same simulated data); ours beside the
published cells. metafor: ``rma(yi, vi, method = "DL")`` in an R loop over ``--sample``
meta-analyses of each k (MD, SMD and RoM data of the grid), the time per fit times the grid's
fits estimating its cost in metafor, the estimates and p-values compared with evsynth's.
``--write`` replaces the tables of docs/simulation-friedrich2008.md and the
``simulate-friedrich2008`` section of bench/RESULTS.md (``--doc-only``: the document only).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "simulation-inthout2014.md"
SEED = 2014

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_section  # noqa: E402

R_LOOP = r"""
suppressMessages(library(metafor))
args <- commandArgs(TRUE)
d <- read.csv(args[1])
ids <- unique(d$rep)
p <- matrix(NA_real_, length(ids), 2)
t0 <- proc.time()[["elapsed"]]
for (j in seq_along(ids)) {
  s <- d[d$rep == ids[j], ]
  a <- try(rma(s$yi, s$vi, method = "DL"), silent = TRUE)
  b <- try(rma(s$yi, s$vi, method = "DL", test = "knha"), silent = TRUE)
  if (!inherits(a, "try-error")) p[j, 1] <- a$pval
  if (!inherits(b, "try-error")) p[j, 2] <- b$pval
}
el <- proc.time()[["elapsed"]] - t0
write.csv(data.frame(rep = ids, p_dl = p[, 1], p_hksj = p[, 2]), args[2], row.names = FALSE)
cat(el, "\n")
"""


def markdown(table: pd.DataFrame) -> str:
    cols = list(table.columns)
    out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in table.iterrows():
        out.append("| " + " | ".join(str(r[c]) for c in cols) + " |")
    return "\n".join(out)


def metafor_sample(n_sample: int, tmp: Path) -> tuple[dict[int, float], float, int, int] | None:
    """Seconds per (DL, HKSJ) fit pair in metafor for each k, the largest |p difference| from
    evsynth on the sample and the number of differing 5% decisions (of 2 x fits)."""
    if shutil.which("Rscript") is None:
        return None
    from evsynth.simulate import Method, fit_method, generate
    from evsynth.simulate.published import inthout2014

    scs, _ = inthout2014(i2s=(0.5,), patterns=("one large",))
    script = tmp / "loop.R"
    script.write_text(R_LOOP)
    per_fit: dict[int, float] = {}
    worst, flips, total = 0.0, 0, 0
    for sc in scs:
        d = generate(sc, n_sample, rng=np.random.default_rng([SEED, sc.k]))
        rep = np.repeat(np.arange(n_sample), d["sizes"])
        csv = tmp / f"k{sc.k}.csv"
        pd.DataFrame({"rep": rep, "yi": d["yi"], "vi": d["vi"]}).to_csv(csv, index=False)
        out = tmp / f"k{sc.k}_p.csv"
        proc = subprocess.run(["Rscript", str(script), str(csv), str(out)], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            print("Rscript failed:", proc.stderr[-400:], file=sys.stderr)
            return None
        per_fit[sc.k] = float(proc.stdout.split()[-1]) / n_sample
        r = pd.read_csv(out)
        ours = [fit_method(Method("DL", t), d["yi"], d["vi"], d["sizes"])["pval"]
                for t in ("z", "knha")]
        for col, mine in zip(("p_dl", "p_hksj"), ours, strict=True):
            diff = np.abs(r[col].to_numpy() - mine)
            worst = max(worst, float(np.nanmax(diff)))
            flips += int(((r[col].to_numpy() < 0.05) != (mine < 0.05)).sum())
            total += n_sample
    return per_fit, worst, flips, total


R_LOOP_DL = r"""
suppressMessages(library(metafor))
args <- commandArgs(TRUE)
d <- read.csv(args[1])
ids <- unique(d$rep)
out <- matrix(NA_real_, length(ids), 2)
t0 <- proc.time()[["elapsed"]]
for (j in seq_along(ids)) {
  s <- d[d$rep == ids[j], ]
  a <- try(rma(s$yi, s$vi, method = "DL"), silent = TRUE)
  if (!inherits(a, "try-error")) out[j, ] <- c(a$beta[1], a$pval)
}
el <- proc.time()[["elapsed"]] - t0
write.csv(data.frame(rep = ids, est = out[, 1], pval = out[, 2]), args[2], row.names = FALSE)
cat(el, "\n")
"""

FRIEDRICH_DOC = REPO / "docs" / "simulation-friedrich2008.md"
FRIEDRICH_SEED = 2008


def metafor_dl_sample(scs: list, n_sample: int, tmp: Path
                      ) -> tuple[dict[int, float], float, float, int] | None:
    """Seconds per DL fit in metafor for each k (MD and SMD data of the given scenarios,
    ``n_sample`` meta-analyses each), the largest |estimate| and |p-value| differences from
    evsynth, and the number of meta-analyses compared."""
    if shutil.which("Rscript") is None:
        return None
    from evsynth.simulate import Method, fit_method, generate

    script = tmp / "loop_dl.R"
    script.write_text(R_LOOP_DL)
    secs: dict[int, list[float]] = {}
    worst_est, worst_p, total = 0.0, 0.0, 0
    for i, sc in enumerate(scs):
        d = generate(sc, n_sample, rng=np.random.default_rng([FRIEDRICH_SEED, i]))
        rep = np.repeat(np.arange(n_sample), d["sizes"])
        csv = tmp / f"s{i}.csv"
        pd.DataFrame({"rep": rep, "yi": d["yi"], "vi": d["vi"]}).to_csv(csv, index=False,
                                                                       float_format="%.17g")
        out = tmp / f"s{i}_out.csv"
        proc = subprocess.run(["Rscript", str(script), str(csv), str(out)], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            print("Rscript failed:", proc.stderr[-400:], file=sys.stderr)
            return None
        secs.setdefault(sc.k, []).append(float(proc.stdout.split()[-1]) / n_sample)
        r = pd.read_csv(out)
        fit = fit_method(Method("DL", "z"), d["yi"], d["vi"], d["sizes"])
        worst_est = max(worst_est, float(np.nanmax(np.abs(r["est"].to_numpy() - fit["estimate"]))))
        worst_p = max(worst_p, float(np.nanmax(np.abs(r["pval"].to_numpy() - fit["pval"]))))
        total += n_sample
    return {k: float(np.mean(v)) for k, v in secs.items()}, worst_est, worst_p, total



def main_friedrich(args: argparse.Namespace) -> int:
    """Table 3, Table 5 or both (``--table``)."""
    rc = 0
    if args.table in ("3", "both"):
        rc |= friedrich_table3(args)
    if args.table in ("5", "both"):
        rc |= friedrich_table5(args)
    return rc


def _outside(c: pd.DataFrame) -> str:
    return "; ".join(f"{r.measure} SMD={r.SMD:g} n={r.n} k={r.k} {r.quantity}: {r.ours:.1f} "
                     f"vs {r.published:.0f} (z = {r.z:.1f})" for r in c.itertuples()) or "none"


def _rom_lognormal(table: int, replicates: int) -> tuple[int, int, float, float]:
    """RoM cells of Table ``table`` within tolerance when the RoM trials' arm means vary
    log-normally (``rom_arms="lognormal"``) instead: (within, cells, largest z, seconds)."""
    from evsynth.simulate import run
    from evsynth.simulate.published import (
        FRIEDRICH2008_SEED,
        friedrich2008,
        friedrich2008_compare,
    )

    t0 = time.perf_counter()
    scs, ms = friedrich2008(table=table, measures=("ROM",), rom_arms="lognormal")
    res = run(scs, ms, replicates=replicates, seed=FRIEDRICH2008_SEED, block=5000)
    c = friedrich2008_compare(res, "revman", table=table)
    pub = c[c["published"].notna()]
    return (int(pub["within"].sum()), len(pub), float(pub["z"].max()),
            time.perf_counter() - t0)


def friedrich_table5(args: argparse.Namespace) -> int:
    """Table 5 (SD 70% of the control mean): all 18 rows, MD, SMD and RoM, ours beside the
    published cells (bias as magnitudes: the table page lost its minus signs), the signs ours
    give the bias cells, and the log-normal RoM heterogeneity model for contrast."""
    from evsynth.simulate import run
    from evsynth.simulate.published import (
        FRIEDRICH2008_SEED,
        friedrich2008,
        friedrich2008_compare,
        friedrich2008_signs,
        friedrich2008_table,
    )

    load0 = os.getloadavg()[0]
    scs, ms = friedrich2008(table=5)
    t0 = time.perf_counter()
    res = run(scs, ms, replicates=args.replicates, seed=FRIEDRICH2008_SEED, block=5000)
    wall_run = time.perf_counter() - t0
    t1 = time.perf_counter()
    rev = friedrich2008_compare(res, "revman", table=5)
    wall_rev = time.perf_counter() - t1
    load1 = os.getloadavg()[0]
    pub = rev[rev["published"].notna()]
    n_smd = sum(s.measure == "SMD" for s in scs)
    n_fits = (len(scs) + n_smd) * args.replicates

    def per(m: str) -> str:
        x = pub[pub["measure"] == m]
        return f"{m} {int(x['within'].sum())} of {len(x)} (largest z = {x['z'].max():.2f})"

    signs = friedrich2008_signs(rev)
    nz = signs[signs["published"] > 0]
    sure = nz[nz["our_sign"] != "?"]
    smd = sure[sure["measure"] == "SMD"]
    rom = sure[sure["measure"] == "ROM"]
    unsure = nz[nz["our_sign"] == "?"]
    rom_neg = rom[rom["our_sign"] == "-"]
    rom_pos = rom[rom["our_sign"] == "+"]
    ln5 = _rom_lognormal(5, args.replicates)
    ln3 = _rom_lognormal(3, args.replicates)
    summary = [
        f"Cells compared: {len(pub)} (18 rows x 7 quantities x MD, SMD and RoM; the bias "
        f"cells as magnitudes, |ours| against the printed value). With the SMD variance of "
        f"Review Manager 5: **{int(pub['within'].sum())} of {len(pub)}** within 0.5 + 3 sqrt(2) "
        f"MCSE: {per('MD')}, {per('SMD')}, {per('ROM')}; largest z overall "
        f"{pub['z'].max():.2f}; outside: {_outside(pub[~pub['within']])}.",
        f"Signs of the {len(nz)} published bias cells that are not 0 (the page lost them): ours "
        f"is more than 3 MCSE from 0 in {len(sure)}: all {len(smd)} SMD cells negative "
        f"({int((smd['our_sign'] == '-').sum())} of {len(smd)}; towards no effect, as Table 3 "
        f"prints them and the abstract says); RoM negative in {len(rom_neg)} cells (n/arm = "
        f"{', '.join(sorted({str(x) for x in rom_neg['n']}))}) and positive in {len(rom_pos)} "
        f"(n/arm = {', '.join(sorted({str(x) for x in rom_pos['n']}))}, "
        f"{', '.join(sorted(set(rom_pos['quantity'])))}), so the RoM bias read with our signs "
        f"runs from {rom['restored'].min():.0f} to {rom['restored'].max():.0f}% -- the abstract's "
        f"\"bias ranged from -4 to 2% (negative sign denotes bias towards no effect)\". "
        f"Undetermined (|ours| < 3 MCSE): {len(unsure)} cells ("
        + "; ".join(f"{r.measure} SMD={r.SMD:g} n={r.n} k={r.k} {r.quantity}: ours "
                    f"{r.ours:.1f} ({r.mcse:.1f}), published {r.published:.0f}"
                    for r in unsure.itertuples())
        + ").",
        f"The RoM heterogeneity model: with the trials' arm means varying log-normally "
        f"(`rom_arms=\"lognormal\"`, same tau_R^2) instead of normally, {ln5[0]} of {ln5[1]} "
        f"Table 5 RoM cells are within tolerance (largest z = {ln5[2]:.1f}) and {ln3[0]} of "
        f"{ln3[1]} Table 3 RoM cells (largest z = {ln3[2]:.1f}); with the normal model "
        f"(the default) {per('ROM')} here.",
    ]
    lines = [f"evsynth.simulate, Table 5: {len(scs)} scenarios x {args.replicates:,} replicates, "
             f"DL, plus the Review Manager SMD re-analysis of the {n_smd} SMD scenarios = "
             f"{n_fits:,} fits, and Cochran's Q / I^2 of every replicate: "
             f"**{wall_run + wall_rev:.1f} s** in one process ({wall_run:.1f} s run + "
             f"{wall_rev:.1f} s re-analysis; seed {FRIEDRICH2008_SEED}; load average "
             f"{load0:.1f} at the start, {load1:.1f} at the end, on {os.cpu_count()} cores "
             f"shared with other work). The two log-normal contrast runs (36 RoM scenarios "
             f"each): {ln5[3]:.1f} s and {ln3[3]:.1f} s."]
    body = "\n\n".join(summary + lines)
    print(body)
    tables = {name: markdown(friedrich2008_table(rev, m, z=True))
              for name, m in (("friedrich5-md", "MD"), ("friedrich5-smd", "SMD"),
                              ("friedrich5-rom", "ROM"))}
    for t in tables.values():
        print(t)
    if args.write:
        titles = {"friedrich5-md": "Table 5, MD: ours (MCSE) / published z=..",
                  "friedrich5-smd": "Table 5, SMD with Review Manager 5's variance: ours "
                                    "(MCSE) / published z=..",
                  "friedrich5-rom": "Table 5, RoM: ours (MCSE) / published z=.."}
        write_section("friedrich5-summary", "Table 5: agreement, signs and wall time", body,
                      path=FRIEDRICH_DOC)
        for name, t in tables.items():
            write_section(name, titles[name], t, path=FRIEDRICH_DOC)
        if not args.doc_only:
            write_section("simulate-friedrich2008-table5", "Simulation study: Friedrich et al. "
                          "(2008) Table 5 grid (bench/bench_simulate.py --study friedrich2008)",
                          body + "\n\nThe tables: docs/simulation-friedrich2008.md.")
    return 0


def friedrich_table3(args: argparse.Namespace) -> int:
    from evsynth.simulate import run
    from evsynth.simulate.published import (
        FRIEDRICH2008_SEED,
        friedrich2008,
        friedrich2008_compare,
        friedrich2008_table,
    )

    load0 = os.getloadavg()[0]
    scs, ms = friedrich2008()
    t0 = time.perf_counter()
    res = run(scs, ms, replicates=args.replicates, seed=FRIEDRICH2008_SEED, block=5000)
    wall_run = time.perf_counter() - t0
    t1 = time.perf_counter()
    rev = friedrich2008_compare(res, "revman")
    wall_rev = time.perf_counter() - t1
    met = friedrich2008_compare(res, "metafor")
    n_smd = sum(s.measure == "SMD" for s in scs)
    n_fits = len(scs) * args.replicates + n_smd * args.replicates
    wall = wall_run + wall_rev
    print(f"evsynth: run {wall_run:.1f} s + re-analysis and I2 {wall_rev:.1f} s")
    pub = rev[rev["published"].notna()]
    pub_m = met[met["published"].notna()]
    out_m = pub_m[~pub_m["within"]]
    out_r = pub[~pub["within"]]

    def per(c: pd.DataFrame, m: str) -> str:
        x = c[c["measure"] == m]
        return (f"{m} {int(x['within'].sum())} of {len(x)} (largest z = {x['z'].max():.2f})")

    summary = [
        f"Cells compared: {len(pub)} (15 rows x 7 quantities x MD, SMD and RoM). With the SMD "
        f"variance of Review Manager 5: **{int(pub['within'].sum())} of {len(pub)}** within "
        f"0.5 + 3 sqrt(2) MCSE: {per(pub, 'MD')}, {per(pub, 'SMD')}, {per(pub, 'ROM')} (z = "
        "(|ours - published| - 0.5)+ / (sqrt(2) MCSE)); outside: "
        + ("; ".join(f"{r.measure} SMD={r.SMD:g} n={r.n} k={r.k} {r.quantity}: {r.ours:.1f} "
                     f"vs {r.published:.0f} (z = {r.z:.1f})" for r in out_r.itertuples())
           or "none")
        + ". With metafor's SMD variance (evsynth's default, "
        f"`escalc`): {int(pub_m['within'].sum())} of {len(pub_m)}; outside: "
        + "; ".join(f"{r.measure} SMD={r.SMD:g} n={r.n} k={r.k} {r.quantity}: {r.ours:.1f} "
                    f"vs {r.published:.0f} (z = {r.z:.1f})" for r in out_m.itertuples())
        + "."]
    load1 = os.getloadavg()[0]
    lines = [f"evsynth.simulate: {len(scs)} scenarios x {args.replicates:,} replicates, DL, "
             f"plus the Review Manager SMD re-analysis of the {n_smd} SMD scenarios (the same "
             f"simulated data regenerated from their streams) = {n_fits:,} fits, and Cochran's "
             f"Q / I^2 of every replicate: **{wall:.1f} s** in one process ({wall_run:.1f} s "
             f"run + {wall_rev:.1f} s re-analysis; seed {FRIEDRICH2008_SEED}; load average "
             f"{load0:.1f} at the start, {load1:.1f} at the end, on {os.cpu_count()} cores "
             "shared with other work)."]
    with tempfile.TemporaryDirectory() as tmp:
        sample_scs = [s for s in scs if s.label.endswith("tau=0.5s") and " SMD=0.5 " in s.label
                      and " n=10 " in s.label]
        mf = metafor_dl_sample(sample_scs, args.sample, Path(tmp))
    if mf is not None:
        per_fit, worst_est, worst_p, total = mf
        fits_by_k: dict[int, int] = {}
        for s in scs:
            fits_by_k[s.k] = fits_by_k.get(s.k, 0) + args.replicates * (
                2 if s.measure == "SMD" else 1)
        est = sum(per_fit[k] * n for k, n in fits_by_k.items())
        lines.append(
            f"metafor loop (`rma(yi, vi, method = \"DL\")` per meta-analysis, {args.sample} "
            "meta-analyses of each k and measure measured): "
            + ", ".join(f"k = {k}: {1000 * t:.1f} ms" for k, t in sorted(per_fit.items()))
            + f" per fit; the same {n_fits:,} fits would take about **{est / 60:.0f} min** "
            f"({est:.0f} s), {est / wall:.0f}x evsynth's time. On the sample ({total} "
            f"meta-analyses), the largest |estimate difference| from metafor is {worst_est:.1e} "
            f"and the largest |p-value difference| {worst_p:.1e}.")
    body = "\n\n".join(lines)
    print(body)
    print("\n".join(summary))
    tables = {name: markdown(friedrich2008_table(c, m))
              for name, c, m in (("friedrich-md", rev, "MD"), ("friedrich-smd", rev, "SMD"),
                                 ("friedrich-smd-metafor", met, "SMD"),
                                 ("friedrich-rom", rev, "ROM"))}
    for t in tables.values():
        print(t)
    if args.write:
        titles = {"friedrich-md": "MD: ours (MCSE) / published, percent",
                  "friedrich-smd": "SMD with Review Manager 5's variance: ours (MCSE) / "
                                   "published, percent",
                  "friedrich-smd-metafor": "SMD with metafor's variance (same data): ours "
                                           "(MCSE) / published, percent",
                  "friedrich-rom": "RoM (log ratio of means): ours (MCSE) / published, "
                                   "percent"}
        for name, t in tables.items():
            write_section(name, titles[name], t, path=FRIEDRICH_DOC)
        write_section("friedrich-summary", "Agreement and wall time",
                      "\n\n".join(summary) + "\n\n" + body, path=FRIEDRICH_DOC)
        if not args.doc_only:
            write_section("simulate-friedrich2008", "Simulation study: Friedrich et al. (2008) "
                          "Table 3 grid (bench/bench_simulate.py --study friedrich2008)",
                          body + "\n\n" + "\n\n".join(summary)
                          + "\n\nThe tables: docs/simulation-friedrich2008.md.")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", choices=("inthout2014", "friedrich2008"), default="inthout2014")
    ap.add_argument("--replicates", type=int, default=10_000)
    ap.add_argument("--sample", type=int, default=200)
    ap.add_argument("--cluster", action="store_true")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--table", choices=("3", "5", "both"), default="both",
                    help="with --study friedrich2008: which published table (default both)")
    ap.add_argument("--doc-only", action="store_true",
                    help="with --write and --study friedrich2008: the document only, not "
                         "bench/RESULTS.md")
    args = ap.parse_args()
    if args.study == "friedrich2008":
        return main_friedrich(args)
    from evsynth.simulate import run
    from evsynth.simulate.published import inthout2014, inthout2014_table

    load0 = os.getloadavg()[0]
    scs, ms = inthout2014()
    t0 = time.perf_counter()
    res = run(scs, ms, replicates=args.replicates, seed=SEED, block=5000)
    wall = time.perf_counter() - t0
    frame = res.to_frame()
    n_fits = len(scs) * args.replicates * len(ms)
    print(f"evsynth: {len(scs)} scenarios x {args.replicates} x {len(ms)} methods = "
          f"{n_fits:,} fits in {wall:.1f} s (load {load0:.1f})")
    cluster_wall = None
    if args.cluster:
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=os.cpu_count() or 2, threads_per_worker=1,
                          dashboard_address=None) as lc, Client(lc) as client:
            t1 = time.perf_counter()
            res2 = run(scs, ms, replicates=args.replicates, seed=SEED, block=5000,
                       client=client)
            cluster_wall = time.perf_counter() - t1
        pd.testing.assert_frame_equal(frame, res2.to_frame(), check_exact=True)
        print(f"LocalCluster ({os.cpu_count()} workers): {cluster_wall:.1f} s, same numbers")
    table = inthout2014_table(frame)
    with tempfile.TemporaryDirectory() as tmp:
        mf = metafor_sample(args.sample, Path(tmp))
    load1 = os.getloadavg()[0]
    lines = [f"evsynth.simulate: {len(scs)} scenarios x {args.replicates:,} replicates x "
             f"{len(ms)} methods = {n_fits:,} fits (plus the data generation) in "
             f"**{wall:.1f} s** in one process (seed {SEED}; load average {load0:.1f} at the "
             f"start, {load1:.1f} at the end, on {os.cpu_count()} cores shared with other "
             "work)."]
    if cluster_wall is not None:
        lines.append(f"On a distributed.LocalCluster of {os.cpu_count()} worker processes: "
                     f"{cluster_wall:.1f} s, identical numbers.")
    if mf is not None:
        per_fit, worst, flips, total = mf
        reps_by_k: dict[int, int] = {}
        for s in scs:
            reps_by_k[s.k] = reps_by_k.get(s.k, 0) + args.replicates
        est = sum(per_fit[k] * n for k, n in reps_by_k.items())
        lines.append(
            f"metafor loop (rma DL + rma DL knha per meta-analysis, {args.sample} meta-analyses "
            "of each k measured): " + ", ".join(f"k = {k}: {1000 * t:.1f} ms"
                                                for k, t in sorted(per_fit.items()))
            + f" per pair; the whole grid would take about **{est / 60:.0f} min** "
            f"({est:.0f} s), {est / wall:.0f}x evsynth's time. On the sample, the largest "
            f"|p-value difference| from metafor is {worst:.1e} and {flips} of {total} "
            "significance decisions at 5% differ.")
        print(lines[-1])
    body = "\n\n".join(lines)
    print(markdown(table))
    if args.write:
        write_section("inthout-table", "Reproduced table: type I error (%) at the 5% level, "
                      "with Monte-Carlo SE", markdown(table) + "\n\n" + body, path=DOC)
        write_section("simulate", "Simulation study: IntHout et al. (2014) grid "
                      "(bench/bench_simulate.py)", body + "\n\nThe table: "
                      "docs/simulation-inthout2014.md.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
