"""Running a simulation study: scenarios x replicates x methods, in-process or on Dask,
reproducible and resumable.

Random streams
    Block ``b`` (replicates ``b * block`` to ``(b + 1) * block - 1``) of scenario ``s`` draws
    from ``numpy.random.SeedSequence(seed, spawn_key=(*words(s.key()), b))``: the child that
    ``SeedSequence(seed)`` spawns for that scenario and block. A scenario's numbers depend only
    on the seed, the scenario itself (not its position in the grid) and the block size, never
    on how the work is split (in-process, over Dask workers, or resumed after an
    interruption), and adding scenarios to a grid leaves the others' results unchanged.
Resuming
    With ``out=FOLDER`` every completed scenario is written to ``FOLDER/scenario-<key>.npz``
    (atomically, as it completes) beside ``FOLDER/study.json`` (seed, replicates, block size,
    methods); a rerun with the same study skips the scenarios already on disk. A folder that
    holds a different study is refused (:class:`~evsynth.errors.InputError`).
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evsynth.errors import InputError
from evsynth.models.results import ResultMixin
from evsynth.simulate.generators import MAX_STUDIES, Scenario, generate
from evsynth.simulate.measures import performance
from evsynth.simulate.methods import FIELDS, Method, fit_method

STUDY_FILE = "study.json"
FORMAT = 1
#: most replicates x methods per scenario of one run (their results are kept in memory:
#: about 80 bytes per replicate and method)
MAX_FITS = 20_000_000


def _words(key: str) -> tuple[int, int]:
    return int(key[:8], 16), int(key[8:16], 16)


def block_rng(seed: int, scenario: Scenario, block: int) -> np.random.Generator:
    """The random generator of one block of one scenario (see the module docstring)."""
    ss = np.random.SeedSequence(seed, spawn_key=(*_words(scenario.key()), int(block)))
    return np.random.default_rng(ss)


def run_scenario(scenario: Scenario, methods: Sequence[Method], replicates: int, seed: int,
                 block: int = 1000, blocks: Iterable[int] | None = None) -> dict[str, Any]:
    """Simulate one scenario and fit every method: the raw per-replicate results.

    ``blocks`` restricts the work to some blocks (for splitting a scenario over tasks; the
    concatenation over all blocks in order is what a whole run gives). Returns ``{"fits":
    {method name: {field: array}}, "sizes", "drawn", "zero_cells", "seconds"}``.
    """
    t0 = time.perf_counter()
    nblocks = -(-replicates // block)
    todo = range(nblocks) if blocks is None else blocks
    parts: dict[str, dict[str, list[np.ndarray]]] = {m.name: {f: [] for f in FIELDS}
                                                     for m in methods}
    sizes, drawn, zeros = [], [], []
    for b in todo:
        reps = min(block, replicates - b * block)
        data = generate(scenario, reps, block_rng(seed, scenario, b))
        sizes.append(data["sizes"])
        drawn.append(data["drawn"])
        zeros.append(data["zero_cells"])
        for m in methods:
            fit = fit_method(m, data["yi"], data["vi"], data["sizes"])
            for f in FIELDS:
                parts[m.name][f].append(fit[f])
    fits = {name: {f: np.concatenate(a) if a else np.empty(0) for f, a in d.items()}
            for name, d in parts.items()}
    return {"fits": fits, "sizes": np.concatenate(sizes) if sizes else np.empty(0, int),
            "drawn": np.concatenate(drawn) if drawn else np.empty(0, int),
            "zero_cells": np.concatenate(zeros) if zeros else np.empty(0, int),
            "seconds": time.perf_counter() - t0}


def _merge(pieces: list[dict[str, Any]]) -> dict[str, Any]:
    names = list(pieces[0]["fits"])
    return {"fits": {n: {f: np.concatenate([p["fits"][n][f] for p in pieces]) for f in FIELDS}
                     for n in names},
            "sizes": np.concatenate([p["sizes"] for p in pieces]),
            "drawn": np.concatenate([p["drawn"] for p in pieces]),
            "zero_cells": np.concatenate([p["zero_cells"] for p in pieces]),
            "seconds": float(sum(p["seconds"] for p in pieces))}


# ----------------------------------------------------------------------------- files
def _study(methods: Sequence[Method], replicates: int, seed: int, block: int) -> dict[str, Any]:
    return {"format": FORMAT, "seed": int(seed), "replicates": int(replicates),
            "block": int(block), "methods": [m.params() for m in methods]}


def _scenario_file(out: Path, sc: Scenario) -> Path:
    return out / f"scenario-{sc.key()}.npz"


def _save(path: Path, sc: Scenario, raw: dict[str, Any]) -> None:
    from evsynth.files import atomic_write

    arrays: dict[str, np.ndarray] = {"sizes": raw["sizes"], "drawn": raw["drawn"],
                                     "zero_cells": raw["zero_cells"]}
    for j, (_name, d) in enumerate(raw["fits"].items()):
        for f, a in d.items():
            arrays[f"m{j}__{f}"] = a
    meta = {"scenario": sc.params(), "methods": list(raw["fits"]), "seconds": raw["seconds"]}
    arrays["meta"] = np.array(json.dumps(meta))
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
    atomic_write(path, buf.getvalue())


def _load(path: Path) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        fits = {name: {f: z[f"m{j}__{f}"] for f in FIELDS}
                for j, name in enumerate(meta["methods"])}
        return {"fits": fits, "sizes": z["sizes"], "drawn": z["drawn"],
                "zero_cells": z["zero_cells"], "seconds": float(meta["seconds"])}


def _open_folder(out: Path, study: dict[str, Any]) -> None:
    from evsynth.files import atomic_write_text, make_dir

    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder; expected a folder for the "
                         "simulation results")
    make_dir(out)
    f = out / STUDY_FILE
    if f.exists():
        try:
            old = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{f}: cannot be read ({exc}); expected the study.json written by "
                             "evsynth.simulate.run") from None
        if old != study:
            diff = sorted(k for k in set(old) | set(study) if old.get(k) != study.get(k))
            raise InputError(f"{f}: this folder holds another simulation study (different "
                             f"{', '.join(diff)}); expected the same seed, replicates, block "
                             "and methods to resume, or a new folder")
    else:
        atomic_write_text(f, json.dumps(study, indent=2) + "\n")


# ----------------------------------------------------------------------------- result
class SimulationResult(ResultMixin):
    """Results of :func:`run`: raw per-replicate fits per scenario and method, and the
    performance measures (:meth:`to_frame`). Follows the results contract for result objects:
    ``summary()``, ``to_dict()`` (JSON-safe: the settings and the performance table),
    ``to_frame()``, HTML in Jupyter.

    Attributes: ``scenarios``, ``methods``, ``replicates``, ``seed``, ``block``, ``alpha``,
    ``seconds`` (wall time of this call) and ``raw`` (scenario key -> raw results).
    """

    def __init__(self, scenarios: list[Scenario], methods: list[Method], replicates: int,
                 seed: int, block: int, alpha: float, raw: dict[str, dict[str, Any]],
                 seconds: float, resumed: int) -> None:
        self.scenarios = scenarios
        self.methods = methods
        self.replicates = replicates
        self.seed = seed
        self.block = block
        self.alpha = alpha
        self.raw = raw
        self.seconds = seconds
        self.resumed = resumed

    def fits(self, scenario: Scenario, method: Method | str) -> dict[str, np.ndarray]:
        """Per-replicate results of one method in one scenario."""
        name = method.name if isinstance(method, Method) else method
        return self.raw[scenario.key()]["fits"][name]

    def to_frame(self) -> Any:
        """Performance measures: one row per scenario x method (scenario fields, ``method``,
        ``n_rep``, ``failures``, ``n_used``, each measure, its ``_mcse`` and its ``_n`` (the
        replicates it used), ``empty`` (replicates left with no study, e.g. every 2x2 table
        dropped by ``drop00``: counted in ``failures`` and left out of the measures), the mean
        number of studies drawn per meta-analysis before selection, ``mean_drawn``, and of 2x2
        tables with a zero cell, ``mean_zero_cells``)."""
        import pandas as pd

        rows = []
        for sc in self.scenarios:
            raw = self.raw[sc.key()]
            base = sc.params()
            base["n"] = json.dumps(base["n"]) if not isinstance(base["n"], int) else base["n"]
            base["selection"] = (json.dumps(base["selection"]) if base["selection"] is not None
                                 else "")
            base["label"] = sc.label
            for m in self.methods:
                row = dict(base)
                row["method"] = m.name
                row.update(performance(raw["fits"][m.name], sc.mu, sc.tau2, self.alpha))
                row["empty"] = int((np.asarray(raw["sizes"]) == 0).sum())
                row["mean_drawn"] = float(np.mean(raw["drawn"])) if raw["drawn"].size else 0.0
                row["mean_zero_cells"] = (float(np.mean(raw["zero_cells"]))
                                          if raw["zero_cells"].size else 0.0)
                rows.append(row)
        return pd.DataFrame(rows)

    _dict_fields = ("replicates", "seed", "block", "alpha", "seconds", "resumed", "table")

    @property
    def table(self) -> Any:
        """The performance measures (as :meth:`to_frame`)."""
        return self.to_frame()

    def summary_text(self) -> str:
        return (f"Simulation study: {len(self.scenarios)} scenarios x {len(self.methods)} "
                f"methods x {self.replicates} replicates, seed {self.seed}; "
                f"{self.seconds:.1f} s, {self.resumed} scenarios read back from disk")


def _client(client: Any) -> Any:
    if client is None or not isinstance(client, str):
        return client
    from distributed import Client

    return Client(client)


def run(scenarios: Scenario | Sequence[Scenario], methods: Method | Sequence[Method],
        replicates: int, seed: int, *, block: int = 1000, out: str | os.PathLike[str] | None = None,
        client: Any = None, alpha: float = 0.05,
        progress: Callable[[int, int, Scenario], None] | None = None) -> SimulationResult:
    """Run a simulation study: every scenario x ``replicates`` meta-analyses x every method.

    Parameters
    ----------
    scenarios : Scenario or sequence of Scenario
        The data-generating scenarios (e.g. from :func:`evsynth.simulate.grid`).
    methods : Method or sequence of Method
        The analysis methods (names must be distinct).
    replicates : int
        Simulated meta-analyses per scenario.
    seed : int
        Root seed of :class:`numpy.random.SeedSequence` (see the module docstring).
    block : int
        Replicates per random stream and per fitted batch (part of the study's definition:
        the same seed and block give the same numbers however the work is split).
    out : path or None
        Folder that keeps completed scenarios on disk; a rerun resumes from it.
    client : distributed.Client, str or None
        Run the scenarios as tasks on this Dask cluster (a client, or a scheduler address);
        None runs in this process.
    alpha : float
        Significance level of the rejection rates.
    progress : callable or None
        Called as ``progress(done, total, scenario)`` after each scenario completes.

    Returns
    -------
    SimulationResult
        Raw per-replicate fits and the performance measures (``to_frame()``).

    References
    ----------
    Morris TP, White IR, Crowther MJ (2019). Using simulation studies to evaluate statistical
    methods. Stat Med 38:2074-2102. doi:10.1002/sim.8086

    Examples
    --------
    >>> from evsynth.simulate import Method, grid, run
    >>> res = run(grid(k=[3, 10], tau2=0.1, measure="known", n=50),
    ...           [Method("DL", "z"), Method("DL", "knha")], replicates=200, seed=1)
    >>> res.to_frame()[["k", "method", "coverage"]].shape
    (4, 3)
    """
    scs = [scenarios] if isinstance(scenarios, Scenario) else list(scenarios)
    ms = [methods] if isinstance(methods, Method) else list(methods)
    if not scs or not all(isinstance(s, Scenario) for s in scs):
        raise InputError("argument 'scenarios': expected a Scenario or a non-empty sequence of "
                         "Scenario objects")
    if not ms or not all(isinstance(m, Method) for m in ms):
        raise InputError("argument 'methods': expected a Method or a non-empty sequence of "
                         "Method objects")
    names = [m.name for m in ms]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"argument 'methods': method names {dup} occur more than once; give "
                         "each a distinct name=")
    for name, val, low in (("replicates", replicates, 2), ("block", block, 1)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < low:
            raise InputError(f"argument '{name}' is {val!r}; expected a whole number >= {low}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"argument 'seed' is {seed!r}; expected a whole number >= 0")
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(
            alpha, (int, float, np.integer, np.floating)) or not 0 < alpha < 1:
        raise InputError(f"argument 'alpha' is {alpha!r}; expected a number 0 < alpha < 1")
    if int(replicates) * len(ms) > MAX_FITS:
        raise InputError(f"argument 'replicates' is {replicates} with {len(ms)} methods: "
                         f"{int(replicates) * len(ms):,} fits per scenario; expected "
                         f"replicates x methods <= {MAX_FITS:,} (the per-replicate results "
                         "are kept in memory: split the study into several runs)")
    for s in scs:
        per_block = min(int(block), int(replicates)) * int(s.k)
        if per_block > MAX_STUDIES:
            raise InputError(f"argument 'block' is {block} with k = {s.k} studies per "
                             f"replicate (scenario {s.params()}): {per_block:,} studies per "
                             f"block; expected min(block, replicates) x k <= {MAX_STUDIES:,} "
                             "(use a smaller block)")
    keys = [s.key() for s in scs]
    if len(set(keys)) != len(keys):
        raise InputError("argument 'scenarios': the same scenario occurs more than once")
    t0 = time.perf_counter()
    folder = Path(out) if out is not None else None
    raw: dict[str, dict[str, Any]] = {}
    resumed = 0
    if folder is not None:
        _open_folder(folder, _study(ms, replicates, seed, block))
        for s in scs:
            f = _scenario_file(folder, s)
            if f.exists():
                raw[s.key()] = _load(f)
                resumed += 1
    todo = [s for s in scs if s.key() not in raw]
    total = len(scs)

    def finish(s: Scenario, r: dict[str, Any]) -> None:
        raw[s.key()] = r
        if folder is not None:
            _save(_scenario_file(folder, s), s, r)
        if progress is not None:
            progress(len(raw), total, s)

    cl = _client(client)
    try:
        _execute(cl, todo, ms, int(replicates), int(seed), int(block), finish)
    finally:
        if cl is not None and isinstance(client, str):
            cl.close()
    return SimulationResult(scs, ms, int(replicates), int(seed), int(block), float(alpha), raw,
                            time.perf_counter() - t0, resumed)


def _execute(cl: Any, todo: list[Scenario], ms: list[Method], replicates: int, seed: int,
             block: int, finish: Callable[[Scenario, dict[str, Any]], None]) -> None:
    """Run the scenarios still to do, in this process (``cl`` None) or on a Dask client."""
    if cl is None:
        for s in todo:
            finish(s, run_scenario(s, ms, int(replicates), int(seed), int(block)))
    else:
        from distributed import as_completed

        nblocks = -(-int(replicates) // int(block))
        futs = []
        where: dict[Any, tuple[Scenario, int]] = {}
        pending: dict[str, list[Any]] = {}
        for s in todo:
            pending[s.key()] = [None] * nblocks
            for b in range(nblocks):
                fut = cl.submit(run_scenario, s, ms, int(replicates), int(seed), int(block),
                                [b], pure=False)
                futs.append(fut)
                where[fut.key] = (s, b)
        for fut in as_completed(futs):
            s, b = where[fut.key]
            slot = pending[s.key()]
            slot[b] = fut.result()
            fut.release()
            if all(p is not None for p in slot):
                finish(s, _merge(slot))
                del pending[s.key()]


def grid(**axes: Any) -> list[Scenario]:
    """All combinations of the scenario fields given as lists (a full factorial design).

    Parameters
    ----------
    **axes
        :class:`Scenario` fields; a list gives one level per element (use a list of
        sequences for per-study sample sizes: ``n=[[20, 20, 200]]``), anything else is
        fixed.

    Returns
    -------
    list of Scenario
        One scenario per combination, the last axis varying fastest.

    References
    ----------
    Morris TP, White IR, Crowther MJ (2019). Using simulation studies to evaluate statistical
    methods. Stat Med 38:2074-2102. doi:10.1002/sim.8086

    Examples
    --------
    >>> from evsynth.simulate import grid
    >>> g = grid(k=[2, 5, 10], tau2=[0.0, 0.1], measure="MD", n=("uniform", 20, 200))
    >>> len(g), g[1].k, g[1].tau2
    (6, 2, 0.1)
    """
    import itertools

    names = list(axes)
    levels = [v if isinstance(v, list) else [v] for v in axes.values()]
    return [Scenario(**dict(zip(names, combo, strict=True)))
            for combo in itertools.product(*levels)]
