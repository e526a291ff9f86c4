"""Simulation studies of meta-analysis methods on the batch kernels.

A study is a grid of data-generating :class:`Scenario` objects (k, tau^2, sample sizes,
effect measure -- MD, SMD, log OR from 2x2 tables with zero cells, known variances -- and
publication bias), a list of :class:`Method` objects (tau^2 estimator x test/CI x prediction
interval, optionally trim-and-fill or PET-PEESE) and a number of replicates. :func:`run`
simulates every scenario in blocks with reproducible random streams (numpy ``SeedSequence``
children keyed by scenario and block, so results do not depend on how the work is split),
fits every method to all replicates of a block at once, optionally on a Dask cluster, keeps
completed scenarios on disk to resume after an interruption, and reports the performance
measures of Morris, White & Crowther (2019) with their Monte-Carlo SEs (:func:`performance`).
See docs/simulation-studies.md.

References
----------
Morris TP, White IR, Crowther MJ (2019). Using simulation studies to evaluate statistical
methods. Stat Med 38:2074-2102. doi:10.1002/sim.8086

Examples
--------
>>> from evsynth import simulate
>>> res = simulate.run(simulate.grid(k=5, tau2=[0.0, 0.2], measure="known", n=40),
...                    [simulate.Method("DL", "z"), simulate.Method("DL", "knha")],
...                    replicates=500, seed=2024)
>>> table = res.to_frame()
>>> list(table["method"])
['DL+z', 'DL+knha', 'DL+z', 'DL+knha']
>>> bool((table["coverage"] > 0.8).all())
True
"""

from __future__ import annotations

from evsynth.simulate.generators import MEASURES, Scenario, generate
from evsynth.simulate.measures import performance
from evsynth.simulate.methods import Method, fit_method
from evsynth.simulate.runner import SimulationResult, block_rng, grid, run, run_scenario

__all__ = ["MEASURES", "Method", "Scenario", "SimulationResult", "block_rng", "fit_method",
           "generate", "grid", "performance", "run", "run_scenario"]
