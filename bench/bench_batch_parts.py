"""The parts of a fused meta_batch against the code they replaced, side by side (issue 17).

    python bench/bench_batch_parts.py [--repeat 7] [--sizes 10000,100000] [--write]

Every pair runs in one process, interleaved, on the same data (k = 10); CPU time
(``time.process_time``), medians. Both sides of each pair are current code, so the figures can
be re-measured at any commit:

1. the p-value of Q: scipy's ``chdtrc`` against the finite series
   ``evsynth.models._fused.chi2_upper_int`` (df = 9, one value per group);
   and the two-sided p-value of the t-based tests: scipy's ``2 * stdtr(df, -|t|)`` against
   ``evsynth.models._fused.t_two_sided_int`` (df = 9);
2. DL and HE: the one-group-at-a-time kernel ``_closed_form_serial`` against the 8-lane kernel
   ``_closed_form_lanes_serial`` (bitwise the same rows);
3. ML and REML: the Newton iteration one group at a time (``_newton_groups_serial``) against
   ``newton_he_start`` (the 8-lane kernel for groups of one size; bitwise the same);
4. ``meta_batch`` under test t and knha: the general path (``engine._FUSED_BATCH = False``, as
   every t-based batch ran before this change) against the fused path (bitwise the same frame).

``--write`` replaces the section ``batch_parts`` of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import evsynth
from evsynth.models import _fused, engine

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import publish  # noqa: E402
from _results import table as results_table  # noqa: E402

K = 10


def data(G: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.01, 0.2, G * K)
    y = rng.normal(0.3, np.sqrt(v + np.repeat(rng.choice([0.0, 0.02, 0.1], G), K)))
    return y, v, np.arange(G, dtype=np.int64) * K, np.full(G, K, dtype=np.int64)


def pair(old: Callable[[], Any], new: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median CPU seconds of ``old`` and ``new``, run in turn after one warm-up each."""
    old()
    new()
    t_old, t_new = [], []
    for _ in range(repeat):
        for fn, acc in ((old, t_old), (new, t_new)):
            c = time.process_time()
            fn()
            acc.append(time.process_time() - c)
    return float(np.median(t_old)), float(np.median(t_new))


def general_path(fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        engine._FUSED_BATCH = False
        try:
            return fn()
        finally:
            engine._FUSED_BATCH = True
    return run


def rows(sizes: list[int], repeat: int) -> list[dict[str, Any]]:
    from scipy import special

    out = []

    def add(part: str, G: int, old_name: str, new_name: str, t: tuple[float, float]) -> None:
        row = {"part": part, "groups": f"{G:,}", "before": old_name, "before_ms": 1e3 * t[0],
               "now": new_name, "now_ms": 1e3 * t[1], "speedup": t[0] / t[1]}
        out.append(row)
        print(row, flush=True)

    for G in sizes:
        y, v, starts, sizes_g = data(G)
        q = np.random.default_rng(2).chisquare(K - 1, G) * 1.3
        add("p-value of Q (df = 9)", G, "scipy chdtrc", "chi2_upper_int series",
            pair(partial(special.chdtrc, K - 1.0, q), partial(_fused.chi2_upper_int, q, K - 1),
                 repeat))
        tval = np.random.default_rng(3).normal(2.5, 1.0, G)
        add("t p-value (df = 9)", G, "scipy 2 stdtr", "t_two_sided_int",
            pair(lambda tval=tval: 2 * special.stdtr(K - 1.0, -np.abs(tval)),
                 partial(_fused.t_two_sided_int, tval, K - 1), repeat))
        for he in (False, True):
            o = np.empty((len(_fused.CLOSED_FORM_ROWS), G))
            add("HE kernel" if he else "DL kernel", G, "one group at a time", "8 lanes",
                pair(partial(_fused._closed_form_serial, y, v, starts, sizes_g, he, 1.96, False,
                             o),
                     partial(_fused._closed_form_lanes_serial, y, v, starts, K, he, 1.96, False,
                             o), repeat))
        for method in ("ML", "REML"):
            res = [np.empty(G), np.empty(G, dtype=np.int64), np.empty(G, dtype=np.bool_)]
            add(f"{method} Newton iteration", G, "one group at a time", "8 lanes",
                pair(partial(_fused._newton_groups_serial, y, v, starts, sizes_g, np.empty(G),
                             np.zeros(G), _fused.METHOD_CODES[method], 1e-10, 100, K, *res,
                             True),
                     partial(_fused.newton_he_start, y, v, starts, sizes_g, method, 1e-10, 100),
                     repeat))
        df = pd.DataFrame({"g": np.repeat(np.arange(G), K), "yi": y, "vi": v})
        for method in ("DL", "REML"):
            for test in ("t", "knha"):
                fit = partial(evsynth.meta_batch, df, by="g", method=method, test=test)
                add(f"meta_batch {method}, test {test}", G, "general path", "fused path",
                    pair(general_path(fit), fit, repeat))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    found = rows([int(s) for s in args.sizes.split(",")], args.repeat)
    body = (f"machine: {os.cpu_count()} cores; numpy {np.__version__}; load average {load0:.1f} "
            f"at the start, {os.getloadavg()[0]:.1f} at the end\n\n"
            "CPU milliseconds, medians of interleaved runs, k = 10; both sides are current "
            "code on the same data (the module docstring says what each pair is)\n\n"
            + results_table(pd.DataFrame(found)))
    publish("batch_parts", "Parts of a fused batch against what they replaced "
            "(bench/bench_batch_parts.py)", body, args.write)


if __name__ == "__main__":
    main()
