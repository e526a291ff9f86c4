"""Designs of published simulation studies, for reproducing their tables with
:func:`evsynth.simulate.run` (docs/simulation-inthout2014.md).

:func:`inthout2014` follows the design of IntHout, Ioannidis & Borm (2014, BMC Med Res Methodol
14:25, doi:10.1186/1471-2288-14-25): type I error of the DerSimonian-Laird (DL, Wald z) and the
Hartung-Knapp-Sidik-Jonkman (HKSJ: DL tau^2, t with k - 1 df and the scaled variance) tests
of the mean effect, at a 5% level, in meta-analyses of 2 to 20 trials of a continuous outcome
with no true effect, heterogeneity given as I^2, and trials of equal or unequal size (one trial,
or a quarter of the trials, 10 times larger than the others). Choices the paper's abstract does
not fix are ours and stated in the docstring; docs/simulation-inthout2014.md compares.

:func:`friedrich2008` follows Table 3 of Friedrich, Adhikari & Beyene (2008, BMC Med Res
Methodol 8:32, doi:10.1186/1471-2288-8-32): bias, coverage, power and I^2 of DerSimonian-Laird
meta-analyses of mean differences, standardised mean differences and log ratios of means; the
published cells are in :data:`FRIEDRICH2008_TABLE3` and :func:`friedrich2008_compare` puts ours
beside them (docs/simulation-friedrich2008.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from evsynth.errors import InputError
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
    ``"k=.. I2=.. pattern"``. Arguments out of range (``ks`` not whole numbers >= 1, ``i2s``
    outside [0, 1), an unknown pattern, ``small`` < 2, ``ratio`` not a whole number >= 1,
    ``measure`` not ``"MD"`` or ``"known"``) are an :class:`~evsynth.errors.InputError`.
    """
    _check_inthout(ks, i2s, patterns, small, ratio, measure)
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


def _whole(x: object, low: int) -> bool:
    return bool(isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))
                and x >= low)


def _real(x: object) -> bool:
    return (isinstance(x, (int, float, np.integer, np.floating))
            and not isinstance(x, (bool, np.bool_)) and math.isfinite(float(x)))


def _check_inthout(ks: Sequence[int], i2s: Sequence[float], patterns: Sequence[str],
                   small: int, ratio: int, measure: str) -> None:
    for name, vals, ok, what in (
            ("ks", ks, lambda x: _whole(x, 1), "whole numbers >= 1"),
            ("i2s", i2s, lambda x: _real(x) and 0 <= x < 1, "numbers 0 <= I^2 < 1"),
            ("patterns", patterns, lambda x: x in PATTERNS, f"any of {', '.join(PATTERNS)}")):
        if isinstance(vals, str) or not isinstance(vals, Sequence) or not vals:
            raise InputError(f"argument '{name}' is {vals!r}; expected a non-empty sequence "
                             f"of {what}")
        bad = [x for x in vals if not ok(x)]
        if bad:
            raise InputError(f"argument '{name}' has {bad[0]!r}; expected {what}")
    if not _whole(small, 2):
        raise InputError(f"argument 'small' is {small!r}; expected a whole number >= 2")
    if not _whole(ratio, 1):
        raise InputError(f"argument 'ratio' is {ratio!r}; expected a whole number >= 1")
    if measure not in ("MD", "known"):
        raise InputError(f"argument 'measure' is {measure!r}; expected 'MD' or 'known' (the "
                         "design is one of mean differences)")


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


# ----------------------------------------------------------------------------- Friedrich 2008
#: Friedrich, Adhikari & Beyene (2008), BMC Med Res Methodol 8:32, Table 3 ("Simulation
#: Results (Normal Distribution, Equal Experimental and Control Groups, Standard Deviation 40%
#: of Control Mean Value)"), the MD, SMD and RoM columns, transcribed from
#: https://bmcmedresmethodol.biomedcentral.com/articles/10.1186/1471-2288-8-32/tables/3 .
#: Key (SMD, n per arm, k); values in the order of :data:`FRIEDRICH2008_COLUMNS`, each a triple
#: (MD, SMD, RoM), all in percent, rounded to whole numbers as published. The table's last three
#: rows (SMD = 0.8, 100/100; k = 5, 10, 30) are cut off in every copy of the table we could
#: retrieve (the article's table page, its PMC and proxy copies) and are not transcribed.
FRIEDRICH2008_COLUMNS = ("bias tau=0", "bias tau=0.5s", "coverage tau=0", "coverage tau=0.5s",
                         "power tau=0", "power tau=0.5s", "I2 tau=0.5s")
FRIEDRICH2008_MEASURES = ("MD", "SMD", "ROM")
FRIEDRICH2008_TABLE3: dict[tuple[float, int, int], tuple[tuple[int, int, int], ...]] = {
    (0.2, 10, 5): ((0, -4, 0), (0, -5, 1), (95, 97, 95), (90, 92, 90), (15, 11, 14),
                   (15, 13, 14), (59, 48, 55)),
    (0.2, 10, 10): ((0, -5, 0), (1, -5, 0), (95, 97, 95), (92, 93, 92), (27, 22, 26),
                    (19, 18, 19), (60, 48, 56)),
    (0.2, 10, 30): ((0, -5, 0), (1, -6, 0), (94, 96, 95), (94, 94, 94), (66, 61, 64),
                    (39, 38, 38), (60, 48, 56)),
    (0.2, 100, 5): ((0, 0, 0), (0, 0, 1), (96, 97, 96), (88, 88, 87), (82, 82, 82),
                    (21, 21, 21), (93, 92, 92)),
    (0.2, 100, 10): ((0, 0, 0), (0, 0, 0), (96, 96, 96), (92, 92, 91), (99, 99, 99),
                     (27, 27, 28), (93, 92, 92)),
    (0.2, 100, 30): ((0, 0, 0), (0, 0, 0), (96, 96, 96), (94, 94, 94), (100, 100, 100),
                     (56, 58, 59), (93, 92, 92)),
    (0.5, 10, 5): ((0, -4, 0), (0, -5, 0), (95, 97, 95), (90, 92, 90), (64, 57, 62),
                   (43, 40, 42), (59, 48, 56)),
    (0.5, 10, 10): ((0, -5, 0), (0, -5, 0), (95, 97, 95), (92, 93, 92), (91, 89, 90),
                    (66, 64, 65), (60, 48, 56)),
    (0.5, 10, 30): ((0, -5, 0), (0, -6, 0), (94, 96, 94), (94, 93, 93), (100, 100, 100),
                    (98, 97, 97), (60, 47, 57)),
    (0.5, 100, 5): ((0, 0, 0), (0, 0, 1), (96, 97, 96), (88, 88, 88), (100, 100, 100),
                    (61, 61, 61), (93, 92, 92)),
    (0.5, 100, 10): ((0, 0, 0), (0, 0, 0), (96, 96, 96), (92, 92, 91), (100, 100, 100),
                     (85, 86, 86), (93, 92, 92)),
    (0.5, 100, 30): ((0, 0, 0), (0, -1, 0), (96, 96, 96), (94, 94, 93), (100, 100, 100),
                     (100, 100, 100), (93, 92, 92)),
    (0.8, 10, 5): ((0, -4, 0), (0, -5, 0), (95, 97, 95), (90, 92, 90), (95, 94, 95),
                   (75, 72, 73), (59, 47, 56)),
    (0.8, 10, 10): ((0, -5, 0), (0, -5, 0), (95, 96, 95), (92, 92, 92), (100, 100, 100),
                    (95, 95, 95), (60, 47, 57)),
    (0.8, 10, 30): ((0, -5, -1), (0, -6, 0), (94, 94, 94), (94, 92, 93), (100, 100, 100),
                    (100, 100, 100), (60, 46, 57)),
}
#: Friedrich, Adhikari & Beyene (2008), Table 5: the design of Table 3 with the outcome SD
#: 70% of the control mean (its rows read "MD = 14 / RoM = 1.14", "MD = 35 / RoM = 1.35", "MD =
#: 56 / RoM = 1.56": SMD 0.2, 0.5, 0.8 times s = 70; its footnote begins "Results of 10,000
#: simulations per scenario with a standard deviation equal ..."), all 18 rows, MD, SMD and RoM
#: columns, transcribed from
#: https://bmcmedresmethodol.biomedcentral.com/articles/10.1186/1471-2288-8-32/tables/5 ; layout
#: as :data:`FRIEDRICH2008_TABLE3`. That copy has lost every minus sign (its SMD bias reads
#: "4", "5", "6" where Table 3 prints -4, -5, -6), so the two bias columns are the published
#: magnitudes, transcribed as printed (>= 0): :func:`friedrich2008_compare` compares them with
#: our |bias| (:data:`FRIEDRICH2008_UNSIGNED`). Coverage, power and I^2 cannot be negative.
FRIEDRICH2008_TABLE5: dict[tuple[float, int, int], tuple[tuple[int, int, int], ...]] = {
    (0.2, 10, 5): ((0, 4, 0), (1, 5, 0), (95, 97, 96), (90, 92, 91), (15, 11, 12),
                   (15, 13, 12), (59, 48, 45)),
    (0.2, 10, 10): ((0, 5, 1), (0, 5, 1), (95, 97, 96), (92, 93, 93), (27, 22, 23),
                    (19, 18, 16), (60, 48, 45)),
    (0.2, 10, 30): ((0, 5, 1), (0, 6, 1), (94, 96, 95), (94, 94, 93), (66, 61, 60),
                    (38, 38, 34), (60, 47, 46)),
    (0.2, 100, 5): ((0, 0, 0), (0, 1, 2), (96, 97, 96), (88, 88, 87), (82, 82, 82),
                    (21, 21, 22), (93, 92, 91)),
    (0.2, 100, 10): ((0, 0, 0), (0, 0, 1), (96, 96, 96), (92, 92, 90), (99, 99, 99),
                     (27, 27, 31), (93, 92, 91)),
    (0.2, 100, 30): ((0, 0, 0), (0, 0, 1), (96, 96, 96), (94, 94, 92), (100, 100, 100),
                     (56, 58, 62), (93, 92, 91)),
    (0.5, 10, 5): ((0, 4, 1), (0, 5, 1), (95, 97, 95), (90, 92, 91), (64, 57, 58),
                   (43, 40, 38), (59, 48, 47)),
    (0.5, 10, 10): ((0, 5, 2), (0, 5, 2), (95, 97, 95), (92, 93, 92), (91, 89, 88),
                    (66, 64, 61), (60, 47, 47)),
    (0.5, 10, 30): ((0, 5, 2), (0, 6, 3), (94, 96, 92), (94, 93, 91), (100, 100, 100),
                    (98, 97, 97), (60, 47, 48)),
    (0.5, 100, 5): ((0, 0, 0), (0, 0, 2), (96, 97, 96), (88, 88, 87), (100, 100, 100),
                    (61, 61, 63), (93, 92, 91)),
    (0.5, 100, 10): ((0, 0, 0), (0, 0, 1), (96, 96, 96), (92, 92, 90), (100, 100, 100),
                     (85, 86, 88), (93, 92, 91)),
    (0.5, 100, 30): ((0, 0, 0), (0, 1, 1), (96, 96, 95), (94, 94, 92), (100, 100, 100),
                     (100, 100, 100), (93, 92, 91)),
    (0.8, 10, 5): ((0, 4, 1), (0, 5, 2), (95, 97, 95), (90, 92, 90), (95, 94, 93),
                   (74, 72, 71), (59, 47, 48)),
    (0.8, 10, 10): ((0, 5, 2), (0, 5, 3), (95, 96, 94), (92, 92, 91), (100, 100, 100),
                    (95, 95, 94), (60, 46, 48)),
    (0.8, 10, 30): ((0, 5, 3), (0, 6, 4), (94, 94, 90), (94, 92, 89), (100, 100, 100),
                    (100, 100, 100), (60, 46, 49)),
    (0.8, 100, 5): ((0, 0, 0), (0, 0, 2), (96, 96, 96), (88, 88, 87), (100, 100, 100),
                    (91, 91, 92), (93, 92, 91)),
    (0.8, 100, 10): ((0, 0, 0), (0, 0, 2), (96, 96, 96), (92, 92, 90), (100, 100, 100),
                     (100, 100, 100), (93, 91, 91)),
    (0.8, 100, 30): ((0, 0, 0), (0, 1, 1), (96, 96, 95), (94, 94, 92), (100, 100, 100),
                     (100, 100, 100), (93, 91, 91)),
}
#: The published tables by number, the outcome SD of each as a fraction of the control mean,
#: and the columns whose sign the retrieved copy lost (compared as magnitudes).
FRIEDRICH2008_TABLES = {3: FRIEDRICH2008_TABLE3, 5: FRIEDRICH2008_TABLE5}
FRIEDRICH2008_SD_FRACTION = {3: 0.4, 5: 0.7}
FRIEDRICH2008_UNSIGNED: dict[int, tuple[str, ...]] = {3: (), 5: ("bias tau=0",
                                                                 "bias tau=0.5s")}
FRIEDRICH2008_SEED = 2008


def friedrich2008(deltas: Sequence[float] = (0.2, 0.5, 0.8), ns: Sequence[int] = (10, 100),
                  ks: Sequence[int] = (5, 10, 30), taus: Sequence[float] = (0.0, 0.5),
                  control_mean: float = 100.0, sd_fraction: float | None = None,
                  measures: Sequence[str] = FRIEDRICH2008_MEASURES, table: int = 3,
                  rom_arms: str = "normal") -> tuple[list[Scenario], list[Method]]:
    """Scenarios and method of Table 3 (``table=3``) or Table 5 (``table=5``) of Friedrich,
    Adhikari & Beyene (2008), MD, SMD, RoM.

    The design, as the table states it: outcomes normally distributed with SD ``s`` = 40% of
    the control-group mean (``control_mean`` = 100, so ``s`` = 40), equal arms of ``n`` = 10
    or 100 participants, ``k`` = 5, 10 or 30 trials, true effects SMD = 0.2, 0.5, 0.8 (MD =
    8, 20, 32), between-trial SD ``tau`` = 0 or 0.5 ``s``, 10,000 meta-analyses per scenario.
    The trial effects are ``theta_i ~ N(Delta, tau^2)``: on the MD scale ``tau = 0.5 s`` (tau^2
    = 400); on the SMD scale (outcome in units of ``s``) ``tau = 0.5`` -- the same data-
    generating model, since the SD is the same in both arms. The control mean does not enter
    the MD or the SMD. MD: arm means and SDs simulated, ``vi = s1^2/n + s2^2/n``
    (``measure="MD"``); SMD: Hedges' g with its large-sample variance (``measure="SMD"``,
    metafor ``escalc``). RoM (``measure="ROM"``): the log ratio of means with its delta-method
    variance (the paper's RoM; :mod:`evsynth.simulate.generators`), control mean ``C`` =
    ``control_mean``, experimental mean ``E = C + Delta s``, the same SD ``s`` in both arms;
    estimand ``log(E / C)`` (log 1.08, 1.2, 1.32). Heterogeneity (``rom_arms="normal"``, the
    default): both arms' true means vary between trials, normally on the outcome's own scale,
    ``C_i = C + a_i``, ``E_i = E + b_i``, ``a_i, b_i ~ N(0, (tau s)^2 / 2)`` independent -- the
    trials' MD-scale heterogeneity ``(tau s)^2`` split equally between the arms; in the
    generator's terms ``tau_R^2 = (tau s)^2 (1/E^2 + 1/C^2) / 2``, the delta-method variance of
    ``log(E_i / C_i)``, so that RoM and MD trials have about the same ratio of between- to
    within-trial variance. ``rom_arms="lognormal"`` varies the arm means log-normally with the
    same ``tau_R^2`` instead. Which one the authors used is our reading of the tables (the
    article's methods text was not available to us): docs/simulation-friedrich2008.md shows
    that the normal model reproduces every RoM cell of Tables 3 and 5, that the log-normal
    one misses Table 5's RoM I^2, power and bias with heterogeneity, and that the simplest
    alternative (only the experimental mean varies, ``E_i = C + theta_i``) misses Table 3.
    Method: DerSimonian-Laird random effects with the Wald z interval and test
    (``Method("DL", "z")``), the standard analysis of the time (RevMan). Table 5 is the same
    design with ``s`` = 70% of the control mean (``s`` = 70: MD = 14, 35, 56, RoM = 1.14,
    1.35, 1.56, as its rows state); ``table=5`` sets ``sd_fraction`` = 0.7, nothing else
    changes.

    Parameters
    ----------
    deltas, ns, ks, taus : sequences
        True SMDs, participants per arm, trials per meta-analysis and between-trial SDs (in
        units of ``s``) of the grid (default: Table 3's).
    control_mean, sd_fraction : float
        Control-group mean and the outcome SD as its fraction (``s = sd_fraction *
        control_mean``; 100 and 0.4 in Table 3, 0.7 in Table 5; None: the table's).
    measures : sequence of str
        Any of ``"MD"``, ``"SMD"``, ``"ROM"``.
    table : int
        3 or 5, the published table whose design (its SD fraction) is wanted.
    rom_arms : str
        ``"normal"`` (default) or ``"lognormal"``: how the RoM trials' true arm means vary
        (:class:`~evsynth.simulate.Scenario` ``rom_arms``).

    Returns
    -------
    tuple
        (list of :class:`~evsynth.simulate.Scenario`, [``Method("DL", "z", name="DL")``]);
        labels ``"<measure> SMD=<d> n=<n> k=<k> tau=<t>s"``.

    References
    ----------
    Friedrich JO, Adhikari NKJ, Beyene J (2008). The ratio of means method as an alternative to
    mean differences for analyzing continuous outcome variables in meta-analysis: a simulation
    study. BMC Med Res Methodol 8:32. doi:10.1186/1471-2288-8-32

    Examples
    --------
    >>> from evsynth.simulate.published import friedrich2008
    >>> scenarios, methods = friedrich2008()
    >>> len(scenarios), scenarios[0].label, (scenarios[0].mu, scenarios[0].sigma)
    (108, 'MD SMD=0.2 n=10 k=5 tau=0s', (8.0, 40.0))
    >>> rom = scenarios[2]
    >>> rom.label, round(rom.mu, 6), rom.m0
    ('ROM SMD=0.2 n=10 k=5 tau=0s', 0.076961, 100.0)
    >>> t5, _ = friedrich2008(table=5)
    >>> t5[0].sigma, t5[0].mu, round(math.exp(t5[2].mu), 12)
    (70.0, 14.0, 1.14)
    """
    bad = [m for m in measures if m not in FRIEDRICH2008_MEASURES]
    if bad:
        raise InputError(f"argument 'measures' has {bad[0]!r}; expected any of "
                         f"{', '.join(FRIEDRICH2008_MEASURES)}")
    _check_table(table)
    for name, vals, ok, what in (
            ("deltas", deltas, _real, "finite numbers"),
            ("ns", ns, lambda x: _whole(x, 2), "whole numbers >= 2"),
            ("ks", ks, lambda x: _whole(x, 1), "whole numbers >= 1"),
            ("taus", taus, lambda x: _real(x) and x >= 0, "finite numbers >= 0")):
        if isinstance(vals, str) or not isinstance(vals, Sequence):
            raise InputError(f"argument '{name}' is {vals!r}; expected a sequence of {what}")
        wrong = [x for x in vals if not ok(x)]
        if wrong:
            raise InputError(f"argument '{name}' has {wrong[0]!r}; expected {what}")
    for name, val in (("control_mean", control_mean), ("sd_fraction", sd_fraction)):
        if val is not None and not (_real(val) and val > 0):
            raise InputError(f"argument '{name}' is {val!r}; expected a finite number > 0")
    s = (FRIEDRICH2008_SD_FRACTION[table] if sd_fraction is None else sd_fraction) * control_mean
    if "ROM" in measures:
        low = [d for d in deltas if not control_mean + d * s > 0]
        if low:
            raise InputError(f"argument 'deltas' has {low[0]!r}; with measure 'ROM' the "
                             f"experimental mean control_mean + delta s = {control_mean:g} + "
                             f"{low[0]!r} x {s:g} must be > 0 (a ratio of means needs "
                             "positive means)")
    scenarios: list[Scenario] = []
    for d in deltas:
        for n in ns:
            for k in ks:
                for tau in taus:
                    for measure in measures:
                        label = f"{measure} SMD={d:g} n={n} k={k} tau={tau:g}s"
                        if measure == "ROM":
                            c, e = control_mean, control_mean + d * s
                            scenarios.append(Scenario(
                                k=k, tau2=round((tau * s) ** 2 * (1 / e**2 + 1 / c**2) / 2, 15),
                                mu=round(math.log(e / c), 15), measure="ROM", n=n, sigma=s,
                                m0=c, rom_arms=rom_arms, label=label))
                            continue
                        scale = s if measure == "MD" else 1.0
                        scenarios.append(Scenario(
                            k=k, tau2=round((tau * scale) ** 2, 12), mu=round(d * scale, 12),
                            measure=measure, n=n, sigma=scale if measure == "MD" else 1.0,
                            label=label))
    return scenarios, [Method("DL", "z", name="DL")]


def _check_table(table: object) -> None:
    if isinstance(table, bool) or table not in FRIEDRICH2008_TABLES:
        raise InputError(f"argument 'table' is {table!r}; expected one of "
                         f"{', '.join(map(str, FRIEDRICH2008_TABLES))}")


def _blocks(scenario: Scenario, replicates: int, seed: int, block: int) -> Any:
    """The data of every block of a scenario, drawn exactly as :func:`evsynth.simulate.run`
    draws them (same seed, block size and streams)."""
    from evsynth.simulate.generators import generate
    from evsynth.simulate.runner import block_rng

    for b in range(-(-replicates // block)):
        reps = min(block, replicates - b * block)
        yield generate(scenario, reps, block_rng(seed, scenario, b))


def revman_smd(yi: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hedges' g and its variance as Review Manager 5 computes them, from evsynth's g of two
    arms of ``n``: ``g = d (1 - 3 / (4N - 9))`` and ``SE^2 = N / n^2 + g^2 / (2 (N - 3.94))``,
    ``N = 2n`` (Deeks JJ, Higgins JPT (2010). Statistical algorithms in Review Manager 5, section
    on standardised mean differences; the Cochrane Collaboration), where evsynth (as metafor
    ``escalc``) uses the exact correction J and ``g^2 / (2N)`` (Hedges & Olkin 1985).

    Parameters
    ----------
    yi : numpy.ndarray
        Hedges' g with the exact correction (``measure="SMD"`` of the generators).
    n : int
        Participants per arm (both arms).

    Returns
    -------
    tuple of numpy.ndarray
        (g, variance) as Review Manager 5 computes them.

    References
    ----------
    Hedges LV (1981). Distribution theory for Glass's estimator of effect size and related
    estimators. J Educ Stat 6:107-128. doi:10.3102/10769986006002107

    Examples
    --------
    >>> import numpy as np
    >>> from evsynth.simulate.published import revman_smd
    >>> g, v = revman_smd(np.array([0.0]), 10)
    >>> float(v[0])
    0.2
    """
    from evsynth.simulate.generators import hedges_j

    N = 2.0 * n
    g = yi / hedges_j(np.asarray(N - 2.0)) * (1 - 3 / (4 * N - 9))
    return g, N / (n * n) + g**2 / (2 * (N - 3.94))


def heterogeneity(yi: np.ndarray, vi: np.ndarray, sizes: np.ndarray) -> dict[str, float]:
    """Heterogeneity over the replicates of a stacked batch, with Monte-Carlo SEs.

    Cochran's Q with inverse-variance weights per replicate (vectorised), then (percent)
    ``I2_mean``, the mean of Higgins & Thompson's per-replicate ``I^2 = max(0, (Q - (k - 1)) /
    Q)``, and ``I2_of_mean_Q`` = ``max(0, (Qbar - (k - 1)) / Qbar)``, the I^2 of the average Q,
    each with its ``_mcse`` (the second by the delta method). References: Higgins JPT,
    Thompson SG (2002). Quantifying heterogeneity in a meta-analysis. Stat Med 21:1539-1558.
    doi:10.1002/sim.1186; Morris, White & Crowther (2019), doi:10.1002/sim.8086.

    Parameters
    ----------
    yi, vi : numpy.ndarray
        Stacked estimates and sampling variances, replicate after replicate.
    sizes : numpy.ndarray
        Studies per replicate.

    Returns
    -------
    dict
        ``I2_mean``, ``I2_mean_mcse``, ``I2_of_mean_Q``, ``I2_of_mean_Q_mcse`` (percent).

    Examples
    --------
    >>> import numpy as np
    >>> from evsynth.simulate.published import heterogeneity
    >>> h = heterogeneity(np.array([0.0, 3.0, 0.0, 0.1]), np.ones(4), np.array([2, 2]))
    >>> round(h["I2_mean"], 1), round(h["I2_of_mean_Q"], 1)
    (38.9, 55.6)
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    sizes = sizes[sizes > 0]  # a replicate with no study has no Q (it has no rows either)
    if not sizes.size:
        nan = float("nan")
        return {"I2_mean": nan, "I2_mean_mcse": nan, "I2_of_mean_Q": nan,
                "I2_of_mean_Q_mcse": nan}
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    w = 1.0 / vi
    mu = np.add.reduceat(w * yi, starts) / np.add.reduceat(w, starts)
    q = np.add.reduceat(w * (yi - np.repeat(mu, sizes)) ** 2, starts)
    df = (sizes - 1).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        i2 = 100 * np.where(q > 0, np.maximum(0.0, (q - df) / q), 0.0)
    n = q.size
    qbar, dfbar = float(q.mean()), float(df.mean())
    q_se = float(q.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    i2_se = float(i2.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return {"I2_mean": float(i2.mean()), "I2_mean_mcse": i2_se,
            "I2_of_mean_Q": 100 * max(0.0, (qbar - dfbar) / qbar),
            "I2_of_mean_Q_mcse": 100 * dfbar / qbar**2 * q_se}


def reanalyse(scenario: Scenario, method: Method, replicates: int, seed: int, block: int,
              smd_variance: str = "metafor") -> tuple[dict[str, Any], dict[str, float]]:
    """Fit ``method`` again to the data :func:`evsynth.simulate.run` simulated for one
    scenario (regenerated from the same streams), optionally with the SMD and its variance
    recomputed as Review Manager 5 does (``smd_variance="revman"``, :func:`revman_smd`; SMD
    scenarios only). Returns (performance measures as :func:`evsynth.simulate.performance`,
    :func:`heterogeneity`). With ``"metafor"`` the fits are those of ``run`` itself."""
    from evsynth.simulate.measures import performance
    from evsynth.simulate.methods import FIELDS, fit_method

    parts: dict[str, list[np.ndarray]] = {f: [] for f in FIELDS}
    ys, vs, ss = [], [], []
    for d in _blocks(scenario, replicates, seed, block):
        yi, vi = d["yi"], d["vi"]
        if smd_variance == "revman" and scenario.measure == "SMD":
            yi, vi = revman_smd(yi, int(scenario.n))
        fit = fit_method(method, yi, vi, d["sizes"])
        for f in FIELDS:
            parts[f].append(fit[f])
        ys.append(yi)
        vs.append(vi)
        ss.append(d["sizes"])
    fits = {f: np.concatenate(a) for f, a in parts.items()}
    perf = performance(fits, scenario.mu, scenario.tau2)
    if scenario.measure == "ROM":
        perf.update(rom_bias(fits["estimate"][fits["converged"].astype(bool)], scenario.mu))
    return (perf,
            heterogeneity(np.concatenate(ys), np.concatenate(vs), np.concatenate(ss)))


def rom_bias(estimates: np.ndarray, mu: float) -> dict[str, float]:
    """Bias of pooled ratios of means as a percentage of the true ratio, the way we read
    Friedrich et al.'s (2008) RoM "% bias": ``100 (mean(exp(t)) - R) / R`` over the pooled log
    ratios ``t``, ``R = exp(mu)``, with its Monte-Carlo SE ``100 sd(exp(t)) / (sqrt(n) R)``
    (Morris, White & Crowther 2019, doi:10.1002/sim.8086, Table 6). ``rom_bias_log`` is the
    bias of ``t`` itself as a percentage of ``mu`` (the effect on the log scale), with MCSE.

    Examples
    --------
    >>> import numpy as np
    >>> from evsynth.simulate.published import rom_bias
    >>> b = rom_bias(np.log(np.array([1.1, 1.1])), float(np.log(1.1)))
    >>> round(b["rom_bias"], 12), round(b["rom_bias_log"], 12)
    (0.0, 0.0)
    """
    t = estimates[np.isfinite(estimates)]
    r = math.exp(mu)
    n = t.size
    root = math.sqrt(n) if n else math.nan
    return {"rom_bias": 100 * (float(np.exp(t).mean()) - r) / r,
            "rom_bias_mcse": 100 * float(np.exp(t).std(ddof=1)) / root / r if n > 1 else math.nan,
            "rom_bias_log": 100 * (float(t.mean()) - mu) / mu,
            "rom_bias_log_mcse": 100 * float(t.std(ddof=1)) / root / abs(mu) if n > 1
            else math.nan}


def friedrich2008_compare(result: Any, smd_variance: str = "revman", table: int = 3) -> Any:
    """Ours beside Table 3 (``table=3``) or Table 5 (``table=5``) of Friedrich et al. (2008),
    one row per cell.

    ``result`` is the :class:`~evsynth.simulate.SimulationResult` of :func:`friedrich2008`
    scenarios of the same ``table`` (checked on the RoM scenarios' SD / control mean). MD
    cells are ``result``'s own measures; SMD cells are those of ``result``
    (``smd_variance="metafor"``) or of the same simulated data analysed with Review Manager
    5's SMD variance (``"revman"``, :func:`reanalyse`). I^2 is compared as the I^2 of the
    average Q over replicates (``mean I2`` is the mean of the per-replicate I^2, shown, not
    compared). RoM cells (``measure="ROM"``) are ``result``'s own fits; their bias is
    :func:`rom_bias`, a percentage of the true ratio of means (``log bias``, the bias of the
    pooled log ratio as a percentage of the true log ratio, is shown, not compared). Columns:
    ``SMD, n, k, measure, quantity``, ``ours`` and ``mcse`` (percent; MD and SMD bias relative
    to the true effect, ``100 bias / Delta``), ``published`` (NaN where not
    transcribed), ``diff``, ``tolerance`` = 0.5 (the published rounding) + 3 sqrt(2) MCSE
    (ours, and the paper's own Monte-Carlo error with the same 10,000 replicates), ``z`` =
    (|diff| - 0.5)+ / (sqrt(2) MCSE) and ``within``. ``signed`` is False for the cells whose
    published sign was lost (:data:`FRIEDRICH2008_UNSIGNED`: Table 5's bias): there
    ``compared`` = |ours| and ``diff`` = |ours| - published (``ours`` keeps our sign);
    elsewhere ``compared`` = ``ours``.
    """
    import pandas as pd

    if smd_variance not in ("metafor", "revman"):
        raise InputError(f"argument 'smd_variance' is {smd_variance!r}; expected 'metafor' or "
                         "'revman'")
    _check_table(table)
    published, unsigned = FRIEDRICH2008_TABLES[table], FRIEDRICH2008_UNSIGNED[table]
    for sc in result.scenarios:
        if sc.measure == "ROM" and sc.m0 is not None and not math.isclose(
                sc.sigma / sc.m0, FRIEDRICH2008_SD_FRACTION[table], rel_tol=1e-9):
            raise InputError(f"argument 'table' is {table!r}, but scenario {sc.label!r} has SD "
                             f"{sc.sigma:g} / control mean {sc.m0:g}; Table {table} has "
                             f"{FRIEDRICH2008_SD_FRACTION[table]:g}")
    frame = result.to_frame()
    method = result.methods[0]
    rows = []
    for sc, (_, r) in zip(result.scenarios, frame.iterrows(), strict=True):
        measure, d, n, k, tau = _parse_label(sc.label)
        perf, het = reanalyse(sc, method, result.replicates, result.seed, result.block,
                              smd_variance if measure == "SMD" else "metafor")
        if measure == "MD" or (measure == "SMD" and smd_variance == "metafor"):
            perf = r
        if measure == "ROM":
            bias = (perf["rom_bias"], perf["rom_bias_mcse"])
        else:
            bias = (100 * perf["bias"] / sc.mu, 100 * perf["bias_mcse"] / abs(sc.mu))
        cells = {"bias": bias,
                 "coverage": (100 * perf["coverage"], 100 * perf["coverage_mcse"]),
                 "power": (100 * perf["rejection"], 100 * perf["rejection_mcse"])}
        if measure == "ROM":
            cells["log bias"] = (perf["rom_bias_log"], perf["rom_bias_log_mcse"])
        if tau > 0:
            cells["I2"] = (het["I2_of_mean_Q"], het["I2_of_mean_Q_mcse"])
            cells["mean I2"] = (het["I2_mean"], het["I2_mean_mcse"])
        for what, (val, se) in cells.items():
            q = f"{what} tau={'0' if tau == 0 else f'{tau:g}s'}"
            pub = published.get((d, n, k)) if q in FRIEDRICH2008_COLUMNS else None
            p = (float(pub[FRIEDRICH2008_COLUMNS.index(q)][FRIEDRICH2008_MEASURES.index(measure)])
                 if pub is not None else float("nan"))
            rows.append({"SMD": d, "n": n, "k": k, "measure": measure, "quantity": q,
                         "ours": val, "mcse": se, "published": p, "signed": q not in unsigned})
    out = pd.DataFrame(rows)
    out["compared"] = out["ours"].where(out["signed"], out["ours"].abs())
    out["diff"] = out["compared"] - out["published"]
    out["tolerance"] = 0.5 + 3 * np.sqrt(2) * out["mcse"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["z"] = np.maximum(0.0, out["diff"].abs() - 0.5) / (np.sqrt(2) * out["mcse"])
    out.loc[out["z"].isna() & out["published"].notna(), "z"] = 0.0
    out["within"] = (out["diff"].abs() <= out["tolerance"]) | out["published"].isna()
    return out


def friedrich2008_signs(compare: Any, nsigma: float = 3.0) -> Any:
    """The published bias cells whose sign was lost (``signed`` False in
    :func:`friedrich2008_compare`), with the sign ours gives them: ``our_sign`` is ``"-"`` or
    ``"+"`` where our bias is more than ``nsigma`` MCSE from 0, else ``"?"``; ``restored`` =
    our sign times the published magnitude (NaN where ``"?"`` and the magnitude is not 0).
    The abstract's convention: a negative bias is towards no effect (all effects here are
    positive)."""
    c = compare[~compare["signed"] & compare["published"].notna()].copy()
    sure = c["ours"].abs() > nsigma * c["mcse"]
    c["our_sign"] = np.where(sure, np.where(c["ours"] < 0, "-", "+"), "?")
    sign = np.where(sure, np.sign(c["ours"]), np.nan)
    c["restored"] = np.where(c["published"] == 0, 0.0, sign * c["published"])
    return c[["SMD", "n", "k", "measure", "quantity", "ours", "mcse", "published", "our_sign",
              "restored"]]


def _parse_label(label: str) -> tuple[str, float, int, int, float]:
    measure, d, n, k, tau = label.split(" ")
    return (measure, float(d.split("=")[1]), int(n.split("=")[1]), int(k.split("=")[1]),
            float(tau.split("=")[1].rstrip("s")))


def friedrich2008_table(compare: Any, measure: str, z: bool = False) -> Any:
    """The layout of Table 3 (or 5) for one measure from :func:`friedrich2008_compare`: one
    row per (SMD, n, k), one column per quantity, cells ``"ours (MCSE) / published"`` (one
    decimal; ``-`` where the published value was not transcribed; ``±`` before a published
    value whose sign was lost, compared with |ours|; ``*`` marks a cell outside the
    tolerance; with ``z``, `` z=..`` after each compared cell)."""
    import pandas as pd

    c = compare[compare["measure"] == measure]
    rows = []
    for (d, n, k), g in c.groupby(["SMD", "n", "k"], sort=True):
        row: dict[str, object] = {"SMD": f"{d:g}", "n/arm": int(n), "k": int(k)}
        for q in (*FRIEDRICH2008_COLUMNS, "mean I2 tau=0.5s", "log bias tau=0",
                  "log bias tau=0.5s"):
            x = g[g["quantity"] == q]
            if x.empty:
                continue
            r = x.iloc[0]
            pub = "-" if np.isnan(r["published"]) else f"{r['published']:.0f}"
            if not r["signed"] and pub not in ("-", "0"):
                pub = "±" + pub
            flag = "" if r["within"] else " *"
            zs = f" z={r['z']:.1f}" if z and not np.isnan(r["published"]) else ""
            row[q] = f"{r['ours']:.1f} ({r['mcse']:.1f}) / {pub}{zs}{flag}"
        rows.append(row)
    return pd.DataFrame(rows)
