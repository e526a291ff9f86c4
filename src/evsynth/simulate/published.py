"""Designs of published simulation studies, for reproducing their tables with
:func:`evsynth.simulate.run` (docs/simulation-inthout2014.md).

:func:`inthout2014` follows the design of IntHout, Ioannidis & Borm (2014, BMC Med Res Methodol
14:25, doi:10.1186/1471-2288-14-25): type I error of the DerSimonian-Laird (DL, Wald z) and the
Hartung-Knapp-Sidik-Jonkman (HKSJ: DL tau^2, t with k - 1 df and the scaled variance) tests
of the mean effect, at a 5% level, in meta-analyses of 2 to 20 trials of a continuous outcome
with no true effect, heterogeneity given as I^2, and trials of equal or unequal size (one trial,
or a quarter of the trials, 10 times larger than the others). Choices the paper's abstract does
not fix are ours and stated in the docstring; docs/simulation-inthout2014.md compares.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evsynth.simulate.generators import Scenario
from evsynth.simulate.methods import Method

PATTERNS = ("equal", "one large", "quarter large")


def sizes(k: int, pattern: str, small: int = 25, ratio: int = 10) -> tuple[int, ...]:
    """Per-arm sample sizes of the ``k`` trials: all ``small`` (``"equal"``), the first trial
    ``ratio`` times larger (``"one large"``), or the first ``max(1, k // 4)`` trials larger
    (``"quarter large"``, 25% of the trials)."""
    n_large = {"equal": 0, "one large": 1, "quarter large": max(1, k // 4)}[pattern]
    return tuple([small * ratio] * n_large + [small] * (k - n_large))


def typical_variance(n: Sequence[int], sigma: float = 1.0) -> float:
    """Higgins & Thompson's (2002, Stat Med 21:1539, doi:10.1002/sim.1186) typical within-study
    variance ``(k - 1) sum w / ((sum w)^2 - sum w^2)`` of trials with per-arm sizes ``n``
    (mean-difference variance ``2 sigma^2 / n``); for equal trials the common variance."""
    v = [2 * sigma**2 / x for x in n]
    w = [1 / x for x in v]
    k = len(n)
    if k == 1 or len(set(v)) == 1:
        return v[0]
    sw = sum(w)
    return (k - 1) * sw / (sw**2 - sum(x * x for x in w))


def inthout2014(ks: Sequence[int] = (2, 3, 5, 10, 20),
                i2s: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 0.9),
                patterns: Sequence[str] = PATTERNS, small: int = 25, ratio: int = 10,
                measure: str = "MD") -> tuple[list[Scenario], list[Method]]:
    """Scenarios and methods of the IntHout et al. (2014) comparison (see the module docstring).

    Our choices where the abstract does not fix them: a mean difference with SD 1 in both
    arms and variances estimated from the simulated data (``measure="MD"``; ``"known"`` for
    known variances), ``small`` = 25 participants per arm, large trials ``ratio`` = 10 times
    larger, and tau^2 = I^2 / (1 - I^2) times the typical within-study variance of the
    design (:func:`typical_variance`). A (k, pattern) with the same sizes as an earlier
    pattern (k = 2, 3: one large = a quarter large) is listed once.

    Returns (scenarios, [DL with the z test, DL with HKSJ]); each scenario's ``label`` is
    ``"k=.. I2=.. pattern"``.
    """
    scenarios: list[Scenario] = []
    seen: set[tuple[int, tuple[int, ...], float]] = set()
    for k in ks:
        for pattern in patterns:
            n = sizes(k, pattern, small, ratio)
            for i2 in i2s:
                if (k, n, i2) in seen:
                    continue
                seen.add((k, n, i2))
                tau2 = i2 / (1 - i2) * typical_variance(n)
                scenarios.append(Scenario(k=k, tau2=round(tau2, 12), mu=0.0, measure=measure,
                                          n=n if len(set(n)) > 1 else n[0],
                                          label=f"k={k} I2={i2:g} {pattern}"))
    methods = [Method("DL", "z", name="DL"), Method("DL", "knha", name="HKSJ")]
    return scenarios, methods


def inthout2014_table(frame: Any) -> Any:
    """The reproduced table from ``run(...).to_frame()`` of :func:`inthout2014` scenarios:
    one row per size pattern and k, one column per method and I^2, cells
    ``"rejection% (MCSE%)"`` with one decimal (as in docs/simulation-inthout2014.md)."""
    import pandas as pd

    f = frame.copy()
    f["pattern"] = f["label"].str.split(" ", n=2).str[2]
    f["I2"] = f["label"].str.extract(r"I2=([\d.]+)")[0].astype(float)
    f["order"] = f["pattern"].map({p: i for i, p in enumerate(PATTERNS)})
    rows = []
    for (_, pattern, k), g in f.groupby(["order", "pattern", "k"], sort=True):
        row: dict[str, object] = {"trials": pattern, "k": int(k)}
        for method in ("DL", "HKSJ"):
            for _, r in g[g["method"] == method].sort_values("I2").iterrows():
                row[f"{method} I2={int(round(100 * r['I2']))}%"] = (
                    f"{100 * r['rejection']:.1f} ({100 * r['rejection_mcse']:.1f})")
        rows.append(row)
    return pd.DataFrame(rows)
