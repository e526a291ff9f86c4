"""10^7 REML meta-analyses (k = 10) read from Parquet and fitted on a distributed.LocalCluster
of the machine's cores, against the in-memory pandas path.

    python bench/bench_dask.py [--groups N] [--per-file N] [--keep DIR] [--write]

1. Writes ``--groups`` (10,000,000) simulated meta-analyses of k = 10 studies (columns g, yi,
   vi; 10^8 rows) as Parquet files of ``--per-file`` (100,000) whole groups each.
2. In-memory path: ``evsynth.meta_batch(df, by="g")`` on 1,000,000 of those groups read into
   this process (best of 3): groups per second of wall time and per CPU second.
3. Dask: ``evsynth.meta_batch_parquet(IN, by="g", out=OUT, client=...)`` on a LocalCluster of
   one worker process per core (1 thread each, numba threads 1 per worker), end to end:
   the partition check, reading, fitting and writing the results as Parquet. Peak memory
   (VmHWM, the peak resident set size) of each worker process is read at the end.

Targets (issue 18): peak memory per worker < 2 GB, throughput >= 70% of the in-memory path.
The machine is shared: wall-time throughput moves with the other sessions' load, so the CPU
time (of the worker processes and the client; of this process for the in-memory path) is
reported too -- meta-analyses per CPU second is the figure the load does not change.
``--write`` replaces the ``dask`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_section  # noqa: E402

K = 10


def make_data(folder: Path, groups: int, per_file: int, seed: int = 18) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    rng = np.random.default_rng(seed)
    for i, start in enumerate(range(0, groups, per_file)):
        g = min(per_file, groups - start)
        tau = np.sqrt(rng.uniform(0, 0.2, g))
        vi = rng.uniform(0.01, 0.3, (g, K))
        yi = 0.2 + tau[:, None] * rng.standard_normal((g, K)) + np.sqrt(vi) * \
            rng.standard_normal((g, K))
        df = pd.DataFrame({"g": np.repeat(np.arange(start, start + g, dtype=np.int64), K),
                           "yi": yi.ravel(), "vi": vi.ravel()})
        path = folder / f"part-{i:04d}.parquet"
        df.to_parquet(path, index=False)
        files.append(path)
    return files


def _peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM; unlike getrusage's ru_maxrss it is not
    inherited from the parent that started the worker process)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=10_000_000)
    ap.add_argument("--per-file", type=int, default=100_000)
    ap.add_argument("--keep", type=Path, default=None, help="keep/reuse the data in DIR")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    import evsynth

    load0 = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="evsynth-dask-bench-"))
    data = args.keep or (tmp / "in")
    try:
        t0 = time.perf_counter()
        files = sorted(data.glob("part-*.parquet")) if data.exists() else []
        if len(files) * args.per_file < args.groups:
            shutil.rmtree(data, ignore_errors=True)
            files = make_data(data, args.groups, args.per_file)
        gen_s = time.perf_counter() - t0
        print(f"data: {len(files)} files, {args.groups:,} groups x k = {K} "
              f"({sum(f.stat().st_size for f in files) / 1e9:.2f} GB) in {gen_s:.0f} s")
        # in-memory path on 1e6 groups (or all, if fewer)
        n_mem_files = max(1, min(len(files), 1_000_000 // args.per_file))
        mem = pd.concat([pd.read_parquet(f) for f in files[:n_mem_files]], ignore_index=True)
        n_mem = mem["g"].nunique()
        best, cpu_mem = float("inf"), float("inf")
        for _ in range(3):
            t1, c1 = time.perf_counter(), time.process_time()
            evsynth.meta_batch(mem, by="g", method="REML")
            best = min(best, time.perf_counter() - t1)
            cpu_mem = min(cpu_mem, time.process_time() - c1)
        rate_mem = n_mem / best
        cpu_rate_mem = n_mem / cpu_mem  # groups per CPU second (all threads)
        del mem
        # the same job without Dask in one process: read the files, fit, write the results
        t1 = time.perf_counter()
        part = pd.concat([pd.read_parquet(f) for f in files[:n_mem_files]], ignore_index=True)
        evsynth.meta_batch(part, by="g", method="REML").to_frame().to_parquet(
            tmp / "mem.parquet", index=False)
        rate_e2e = n_mem / (time.perf_counter() - t1)
        del part
        print(f"in-memory: {n_mem:,} groups in {best:.2f} s = {rate_mem:,.0f} groups/s")
        # Dask on a LocalCluster: one single-threaded worker process per core
        from distributed import Client, LocalCluster

        os.environ["NUMBA_NUM_THREADS"] = os.environ.get("BENCH_NUMBA_THREADS", "1")
        n_workers = os.cpu_count() or 2
        with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                          dashboard_address=":0", memory_limit="4GB") as lc, \
                Client(lc) as client:
            # load the compiled kernels in every worker (the fused ones serve >= 2,048 groups)
            warm = pd.DataFrame({"g": np.repeat(np.arange(4096), 2), "yi": np.tile([.1, .3],
                                 4096), "vi": np.full(8192, 0.02)})
            client.run(lambda: __import__("evsynth").meta_batch(warm, by="g"))
            cpu0 = sum(client.run(time.process_time).values()) + time.process_time()
            t2 = time.perf_counter()
            info = evsynth.meta_batch_parquet(str(data), by="g", out=tmp / "out.parquet",
                                              method="REML", client=client)
            wall = time.perf_counter() - t2
            cpu_dask = sum(client.run(time.process_time).values()) + time.process_time() - cpu0
            peaks = client.run(_peak_rss_mb)
        rate = info["groups"] / wall
        cpu_rate = info["groups"] / cpu_dask
        worst_mb = max(peaks.values())
        load1 = os.getloadavg()[0]
        ratio = rate / rate_mem
        print(f"dask: {info['groups']:,} groups in {wall:.1f} s = {rate:,.0f} groups/s "
              f"({100 * ratio:.0f}% of in-memory); not converged {info['not_converged']}; "
              f"peak RSS per worker {', '.join(f'{v:.0f}' for v in peaks.values())} MB; "
              f"load {load0:.1f} -> {load1:.1f}")
        body = "\n".join([
            f"{info['groups']:,} REML meta-analyses (k = {K}; {info['groups'] * K:,} rows) in "
            f"{len(files)} Parquet files of {args.per_file:,} whole groups, fitted by "
            "`evsynth.meta_batch_parquet(..., client=...)` on a distributed.LocalCluster of "
            f"{n_workers} single-threaded worker processes (this machine's cores), end to end "
            "(reading, fitting, writing the results as Parquet, the partition check from "
            "the written key ranges). Load "
            f"average {load0:.1f} at the start and {load1:.1f} at the end (other sessions' "
            "work on the same 2 cores).",
            "",
            "| measure | value | target |",
            "|---|---|---|",
            f"| Dask wall time | {wall:.1f} s | |",
            f"| Dask throughput | {rate:,.0f} meta-analyses/s | |",
            f"| in-memory `meta_batch` throughput (1,000,000 groups, best of 3) | "
            f"{rate_mem:,.0f} meta-analyses/s | |",
            f"| Dask / in-memory (wall-time throughput) | {100 * ratio:.0f}% | >= 70% |",
            f"| in one process without Dask: read Parquet + fit + write Parquet | "
            f"{rate_e2e:,.0f} meta-analyses/s | |",
            f"| Dask / the same job in one process | {100 * rate / rate_e2e:.0f}% | |",
            f"| CPU time: Dask workers + client | {cpu_dask:.1f} s = {cpu_rate:,.0f} "
            "meta-analyses per CPU second | |",
            f"| CPU time: in-memory (best of 3) | {cpu_mem:.2f} s = {cpu_rate_mem:,.0f} "
            "meta-analyses per CPU second | |",
            f"| Dask / in-memory (throughput per CPU second) | "
            f"{100 * cpu_rate / cpu_rate_mem:.0f}% | |",
            f"| peak memory (VmHWM) per worker | {worst_mb:,.0f} MB | < 2,048 MB |",
            f"| not converged | {info['not_converged']} | |",
        ])
        if args.write:
            write_section("dask", "Dask: 10^7 meta-analyses from Parquet on a LocalCluster "
                          "(bench/bench_dask.py)", body)
        print(body)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
