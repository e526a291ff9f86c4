"""End-to-end time of ``evsynth run examples/vertebroplasty`` in a fresh process.

Each repetition starts a new Python process (``python -m evsynth.cli run ... --quiet``), so the
time includes interpreter start-up, imports, validation, the analyses, forest plots (SVG + PNG),
results.json and the HTML/Markdown reports. Wall time and the child's CPU time (user + system)
are reported; the CPU time is less sensitive to other load on a shared machine (it counts both
processes when a helper process draws half of the figures). Target: median wall time < 2 s
(issue 17, point 5).

    python bench/bench_run.py [--repeat N] [--write]

``--write`` replaces the section between ``<!-- run:start -->`` and ``<!-- run:end -->`` in
bench/RESULTS.md (appending the markers if absent) and touches nothing else in the file.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "vertebroplasty"
TARGET_S = 2.0

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_section  # noqa: E402


def one_run(out: Path) -> tuple[float, float]:
    """(wall seconds, child CPU seconds) of one fresh-process run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "evsynth.cli", "run", str(EXAMPLE), "--out", str(out),
                    "--quiet"], check=True, capture_output=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def section(walls: list[float], cpus: list[float], n_analyses: int, n_figures: int,
            n_networks: int, n_network_figures: int, load: float, load_end: float) -> str:
    ok = "meets" if statistics.median(walls) < TARGET_S else "misses"
    return "\n".join([
        f"`evsynth run examples/vertebroplasty --quiet` in a fresh process, {len(walls)} runs; "
        f"{n_analyses} analyses and {n_networks} network meta-analyses; {n_figures} figures "
        f"({n_network_figures} of them of the networks), each in SVG and PNG, plus "
        f"results.json, report.html and report.md. Machine: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {load:.1f} at the start and "
        f"{load_end:.1f} at the end.",
        "",
        "| measure | min | median | max |",
        "|---|---|---|---|",
        f"| wall time (s) | {min(walls):.2f} | {statistics.median(walls):.2f} | "
        f"{max(walls):.2f} |",
        f"| CPU time, user + system (s) | {min(cpus):.2f} | {statistics.median(cpus):.2f} | "
        f"{max(cpus):.2f} |",
        "",
        f"Median wall time {ok} the {TARGET_S:g} s target (issue 17, point 5). Wall times on this "
        "shared machine vary with the other sessions' load; the CPU time (both processes when a "
        "helper process draws half of the figures) is the steadier figure.",
    ])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = ap.parse_args()
    load = _load()
    tmp = Path(tempfile.mkdtemp(prefix="evsynth-bench-run-"))
    try:
        walls, cpus = [], []
        for i in range(args.repeat):
            w, c = one_run(tmp / "out")
            walls.append(w)
            cpus.append(c)
            print(f"run {i + 1}: wall {w:.2f} s, cpu {c:.2f} s", flush=True)
        import json

        res = json.loads((tmp / "out" / "results.json").read_text())
        n = len(res["analyses"])
        n_networks = len(res.get("networks") or [])
        n_figures = len(list((tmp / "out" / "figures").glob("*.svg")))
        n_network_figures = len(list((tmp / "out" / "figures").glob("network.*.svg")))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = section(walls, cpus, n, n_figures, n_networks, n_network_figures, load, _load())
    print(text)
    if args.write:
        write_section("run", "End-to-end review run (bench/bench_run.py)", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
