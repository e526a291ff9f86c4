"""Start-up times of the command line and of a first fit, each in a fresh process.

    python bench/bench_startup.py [--repeat N] [--write]

Measured (wall time of the whole child process, N runs, min and median):

* ``evsynth --help`` (the installed console script; target < 0.25 s),
* ``evsynth validate examples/vertebroplasty`` (target < 0.6 s),
* ``python -c "import evsynth"`` (target < 0.3 s),
* ``python -c "import evsynth; evsynth.meta(yi, vi)"``: a first REML fit (target < 0.8 s),
* ``python -c "pass"``: the interpreter alone, for reference.

The machine is shared with other work: the load average is recorded, and the minimum is the
figure least disturbed by it. ``--write`` replaces the ``startup`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import publish  # noqa: E402


def _script() -> list[str]:
    exe = Path(sys.executable).with_name("evsynth")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "evsynth.cli"]


CASES = [
    ("`evsynth --help`", [*_script(), "--help"], 0.25),
    ("`evsynth validate examples/vertebroplasty`",
     [*_script(), "validate", str(REPO / "examples" / "vertebroplasty")], 0.6),
    ("`import evsynth`", [sys.executable, "-c", "import evsynth"], 0.3),
    ("first `evsynth.meta()` (import + REML fit, k = 5)",
     [sys.executable, "-c", "import evsynth; evsynth.meta([0.1, 0.3, 0.2, 0.5, 0.4], "
      "[0.01, 0.02, 0.015, 0.03, 0.02])"], 0.8),
    ("Python interpreter alone (`python -c pass`)", [sys.executable, "-c", "pass"], None),
]


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    rows = []
    for label, cmd, target in CASES:
        timed(cmd)  # warm the file cache (and numba's kernel cache)
        ts = [timed(cmd) for _ in range(args.repeat)]
        best, med = min(ts), statistics.median(ts)
        verdict = "" if target is None else ("meets" if best < target else "misses")
        rows.append((label, best, med, target, verdict))
        print(f"{label}: min {best:.3f} s, median {med:.3f} s"
              + (f" (target {target} s: {verdict})" if target else ""))
    load1 = os.getloadavg()[0]
    lines = [f"Fresh processes, {args.repeat} runs each after one warm-up run; Python "
             f"{sys.version.split()[0]}, {os.cpu_count()} cores shared with other work (load "
             f"average {load0:.1f} at the start, {load1:.1f} at the end).", "",
             "| command | min (s) | median (s) | target (s) | |", "|---|---|---|---|---|"]
    for label, best, med, target, verdict in rows:
        lines.append(f"| {label} | {best:.3f} | {med:.3f} | "
                     f"{'' if target is None else f'< {target}'} | {verdict} |")
    body = "\n".join(lines)
    publish("startup", "Start-up: command line and first fit (bench/bench_startup.py)", body,
            args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
