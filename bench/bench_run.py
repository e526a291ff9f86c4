"""End-to-end time of ``evsynth run`` on the example reviews, each run in a fresh process.

Each repetition starts a new Python process (``python -m evsynth.cli run ... --quiet``), so the
time includes interpreter start-up, imports, validation, the analyses (and the network
meta-analyses of the vertebroplasty example), the figures (SVG + PNG), results.json and the
HTML/Markdown reports. The examples run interleaved. Wall time and the child's CPU time (user
+ system) are reported; the CPU time is less sensitive to other load on a shared machine (it
counts both processes when a helper process draws half of the figures). Target: median wall
time < 2 s (issue 17, point 5).

    python bench/bench_run.py [--repeat N] [--examples a,b] [--readme-venv DIR] [--write]

The runs read their modules' bytecode from a cache, as after ``pip install`` (which compiles
it): the children get ``PYTHONPYCACHEPREFIX`` (a temporary folder, so nothing is written into
the repository) without ``PYTHONDONTWRITEBYTECODE``, and one unrecorded run per example and
environment fills the cache first. Without it, in an editable install under
``PYTHONDONTWRITEBYTECODE=1`` (as on this machine), every run compiles evsynth's ~50 modules
again: 0.22 s of a ~2 s run (measured, cProfile: ``builtins.compile`` from the importer).

``--readme-venv DIR`` also times the runs in a virtual environment made as the README's first
command makes it (``python -m venv DIR`` and ``pip install ".[docx]"``; created when DIR does
not exist yet): no optional extras, so no pyarrow for pandas to import (~70 ms), unlike a
development environment with ``.[test,dask]``.

``--write`` replaces the section between ``<!-- run:start -->`` and ``<!-- run:end -->`` in
bench/RESULTS.md (appending the markers if absent) and touches nothing else in the file.
"""

from __future__ import annotations

import argparse
import json
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
EXAMPLES = ("antibiotic_prophylaxis", "vertebroplasty")
TARGET_S = 2.0

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import publish  # noqa: E402


def child_env(pycache: Path) -> dict[str, str]:
    """The environment of the timed runs: bytecode cached under ``pycache`` (see the module
    docstring)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def one_run(example: str, out: Path, python: str = sys.executable,
            env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, child CPU seconds) of one fresh-process run."""
    shutil.rmtree(out, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([python, "-m", "evsynth.cli", "run", str(REPO / "examples" / example),
                    "--out", str(out), "--quiet"], check=True, capture_output=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def contents(out: Path) -> str:
    """What a run computed and drew, from its results.json and figures folder."""
    res = json.loads((out / "results.json").read_text(encoding="utf-8"))
    figs = list((out / "figures").glob("*.svg"))
    nets = len(res.get("networks") or [])
    net_figs = sum(1 for f in figs if f.name.startswith("network."))
    n = len(res["analyses"])
    text = f"{n} {'analysis' if n == 1 else 'analyses'}"
    if nets:
        text += f", {nets} network meta-analyses"
    text += f"; {len(figs)} figures"
    if net_figs:
        text += f" ({net_figs} of the networks)"
    return text


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def readme_venv(path: Path) -> str:
    """The interpreter of a venv made as the README's first command makes it (created if
    ``path`` does not exist)."""
    python = path / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"{REPO}[docx]"], check=True)
    return str(python)


def section(rows: dict[tuple[str, str], tuple[list[float], list[float], str]], load: float,
            load_end: float) -> str:
    n = len(next(iter(rows.values()))[0])
    lines = [
        f"`evsynth run examples/<name> --quiet`, each run in a fresh process, {n} runs per "
        "example and environment, interleaved; every figure in SVG and PNG, plus results.json, "
        "report.html and report.md; bytecode cached as after `pip install` (one unrecorded "
        "run per example and environment first). "
        f"Machine: {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {load:.1f} at the start and "
        f"{load_end:.1f} at the end.",
        "",
        "| environment | example | what it computes | wall s (min / median / max) | CPU s, "
        "user + system (median) | median wall < 2 s |",
        "|---|---|---|---|---|---|",
    ]
    for (env, ex), (walls, cpus, what) in rows.items():
        med = statistics.median(walls)
        lines.append(f"| {env} | {ex} | {what} | {min(walls):.2f} / {med:.2f} / "
                     f"{max(walls):.2f} | {statistics.median(cpus):.2f} | "
                     f"{'yes' if med < TARGET_S else 'no'} |")
    lines += ["", "Issue 17, point 5 (the example review end to end in under 2 s). Wall times "
              "on this shared machine vary with the other sessions' load; the CPU time (both "
              "processes when a helper process draws half of the figures) is the steadier "
              "figure."]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--examples", default=",".join(EXAMPLES))
    ap.add_argument("--readme-venv", type=Path, default=None,
                    help="also run in this venv with `pip install .[docx]` (made if missing)")
    ap.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = ap.parse_args()
    examples = [e for e in args.examples.split(",") if e]
    envs = {"this environment (.[test,bench,dask,...])": sys.executable}
    if args.readme_venv is not None:
        envs["venv, pip install .[docx] (README)"] = readme_venv(args.readme_venv)
    load = _load()
    tmp = Path(tempfile.mkdtemp(prefix="evsynth-bench-run-"))
    try:
        keys = [(env, ex) for env in envs for ex in examples]
        run_env = child_env(tmp / "pycache")
        for env, ex in keys:  # fills the bytecode cache; not recorded
            one_run(ex, tmp / ex, envs[env], run_env)
        walls: dict[tuple[str, str], list[float]] = {key: [] for key in keys}
        cpus: dict[tuple[str, str], list[float]] = {key: [] for key in keys}
        for i in range(args.repeat):
            for env, ex in keys:
                w, c = one_run(ex, tmp / ex, envs[env], run_env)
                walls[env, ex].append(w)
                cpus[env, ex].append(c)
                print(f"{env} {ex} run {i + 1}: wall {w:.2f} s, cpu {c:.2f} s", flush=True)
        rows = {key: (walls[key], cpus[key], contents(tmp / key[1])) for key in keys}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = section(rows, load, _load())
    publish("run", "End-to-end review runs (bench/bench_run.py)", text, args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
