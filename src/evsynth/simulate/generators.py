"""Data generators for simulated meta-analyses (one scenario, many replicates at once).

Every replicate is one meta-analysis of ``k`` studies. The true study effects are
``theta_i ~ N(mu, tau2)``; each study's estimate and sampling variance are computed from
simulated participant-level summaries, as an analyst would compute them from a paper:

``"MD"``
    mean difference: arm means ``N(theta_i, sigma^2 / n)`` and ``N(0, sigma^2 / n)``, arm
    variances ``sigma^2 chi^2_{n-1} / (n - 1)``; ``vi = s1^2 / n1 + s2^2 / n2`` (estimated).
``"SMD"``
    Hedges' g (exact small-sample factor J, metafor ``escalc(measure = "SMD")``) of arms with
    unit SD and true standardised difference ``theta_i``; ``vi = 1/n1 + 1/n2 + g^2 /
    (2 (n1 + n2))``, the usual large-sample variance, which depends on g itself (the
    "biased variance": correlated with the estimate).
``"logOR"``
    log odds ratio from simulated 2x2 tables: control risk ``p0``, treatment risk
    ``expit(logit(p0) + theta_i)``, binomial events per arm. A table with a zero cell gets
    ``cc`` (0.5) added to every cell (metafor ``escalc`` default ``add = 1/2, to = "only0"``);
    tables with no events (or only events) in both arms are kept (``drop00 = False``, the
    escalc default) unless ``drop00=True``. Zero cells do occur with small ``n`` or ``p0``.
``"ROM"``
    log ratio of means (Friedrich, Adhikari & Beyene 2008, BMC Med Res Methodol 8:32,
    doi:10.1186/1471-2288-8-32; metafor ``escalc(measure = "ROM")``): the true log ratio
    ``theta_i = log(E_i / C_i)`` of trial ``i`` is split equally between its arms, ``log C_i =
    log m0 + v_i`` and ``log E_i = log m0 + mu + u_i`` with ``u_i, v_i`` independent ``N(0,
    tau2 / 2)`` (so ``theta_i ~ N(mu, tau2)``; both arm means vary between trials); arm means
    ``N(E_i, sigma^2 / n)`` and ``N(C_i, sigma^2 / n)`` (the same SD ``sigma`` in both arms),
    arm SDs ``sigma sqrt(chi^2_{n-1} / (n - 1))``; ``yi = log(m1 / m2)`` with the delta-method
    variance ``sd1^2 / (n1 m1^2) + sd2^2 / (n2 m2^2)`` (Hedges, Gurevitch & Curtis 1999,
    Ecology 80:1150; :func:`evsynth.effects.escalc.log_ratio_of_means`, ``vtype = "LS"``). A
    trial with a simulated arm mean <= 0 has no log ratio and is left out (as escalc gives NA),
    so the meta-analysis then has fewer than ``k`` studies; with ``m0`` several ``sigma /
    sqrt(n)`` above 0 this does not happen in practice. With ``rom_arms="normal"`` the trials'
    true arm means vary normally on the outcome's own scale instead: ``C_i = m0 + a_i``,
    ``E_i = m0 e^mu + b_i``, ``a_i, b_i`` independent ``N(0, w2)`` with ``w2 = tau2 / (1/m0^2
    + 1/(m0 e^mu)^2)``, so that the delta-method variance of ``log(E_i / C_i)`` is ``tau2``
    (the same draws as the log-normal model, rescaled; equal to it as ``tau2 -> 0``). This is
    our reading of Friedrich et al.'s (2008) design: it reproduces their Tables 3 and 5
    (docs/simulation-friedrich2008.md), the log-normal one does not reproduce Table 5.
``"known"``
    the textbook model with known variances: ``vi = sigma^2 (1/n1 + 1/n2)`` and
    ``yi ~ N(theta_i, vi)``.

Sample sizes (per arm, both arms equal) are given by ``n``: an int (every study), a sequence
of ``k`` ints (study ``i`` gets ``n[i]``: e.g. one large trial), ``("uniform", lo, hi)``
(whole numbers drawn uniformly in ``[lo, hi]``; ``lo`` and ``hi`` must be whole numbers) or
``("lognormal", median, sdlog)`` (rounded, at least 2 and at most :data:`MAX_N`). Every size is
at most :data:`MAX_N` (10^9) per arm.

Small-study selection (publication bias), ``selection``:
``("pvalue", alpha, weight)``
    a study whose one-sided p-value for a positive effect (``yi / sqrt(vi)`` against the
    normal) is above ``alpha`` is published with probability ``weight`` (Hedges 1992 step
    function; 0 = only significant studies are published);
``("effect", threshold, weight)``
    a study with ``yi < threshold`` is published with probability ``weight``.
Studies are drawn until every replicate has ``k`` published studies. With per-study sizes
(``n`` a sequence of ``k`` ints) the published meta-analysis keeps that design: published study
``i`` has ``n[i]`` participants per arm, its candidates are drawn with ``n[i]`` until one is
published (so a large trial that is not published is replaced by another large trial).
A replicate may draw at most :data:`CANDIDATES_PER_STUDY` x ``k`` candidate studies (1,000 per
published study); a selection that publishes fewer is refused with an :class:`InputError`
naming it (it publishes well under 1 in 1,000 studies: no realistic model of publication).
Each round of candidates is limited to :data:`ROUND_CELLS` studies over all replicates still
drawing, so memory stays bounded.

Size limit: one call draws at most :data:`MAX_STUDIES` (10^7) studies ``replicates x k``
(before selection); larger studies are refused (:func:`evsynth.simulate.run` generates and
fits ``block`` replicates at a time, so there the limit is ``block x k``).

Scenario identity: :meth:`Scenario.key` hashes the fields written canonically -- the
real-valued fields (``tau2``, ``mu``, ``sigma``, ``p0``, ``cc``, ``m0`` and the numbers of
``selection``) as floats (``0`` and ``-0.0`` as ``0.0``, the form of the defaults), sizes as
ints, numpy scalars as Python numbers -- so equal scenarios have equal keys and streams.

References: Morris, White & Crowther (2019), Stat Med 38:2074, doi:10.1002/sim.8086 (planning
simulation studies); Hedges (1992), Stat Sci 7:246, doi:10.1214/ss/1177011364 (selection by
p-value).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import special

from evsynth.errors import InputError

MEASURES = ("MD", "SMD", "logOR", "ROM", "known")
ROM_ARMS = ("lognormal", "normal")
#: largest per-arm sample size of a study
MAX_N = 10**9
#: most studies (replicates x k, before selection) one call of :func:`generate` draws
MAX_STUDIES = 10**7
#: most candidate studies a replicate may draw per published study under selection
CANDIDATES_PER_STUDY = 1000
#: most candidate studies (over all replicates) in one round of selection after the first
ROUND_CELLS = 1 << 22
#: fields that are real numbers (written as floats in the key)
REAL_FIELDS = ("tau2", "mu", "sigma", "p0", "cc", "m0")


def _is_real(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(
        x, (bool, np.bool_))


def _is_whole(x: Any) -> bool:
    if isinstance(x, (bool, np.bool_)):
        return False
    if isinstance(x, (int, np.integer)):
        return True
    return isinstance(x, (float, np.floating)) and math.isfinite(x) and float(x).is_integer()


def _finite(x: Any) -> bool:
    """A real number that is finite as a float."""
    try:
        return _is_real(x) and math.isfinite(float(x))
    except OverflowError:
        return False


def _real(x: Any) -> Any:
    """A real number as a Python float, -0.0 as 0.0 (anything else unchanged)."""
    return float(x) + 0.0 if _finite(x) else x


def _whole(x: Any) -> Any:
    """A whole number as a Python int (anything else unchanged)."""
    return int(x) if _is_whole(x) else x


@dataclass(frozen=True)
class Scenario:
    """One data-generating scenario of a simulation study.

    Parameters
    ----------
    k : int
        Studies per meta-analysis (>= 1).
    tau2 : float
        Between-study variance of the true effects (>= 0).
    mu : float
        Mean true effect (the estimand).
    measure : str
        ``"MD"``, ``"SMD"``, ``"logOR"``, ``"ROM"`` or ``"known"`` (see
        :mod:`evsynth.simulate.generators`).
    n : int, sequence of int or tuple
        Per-arm sample sizes: an int, ``k`` ints, ``("uniform", lo, hi)`` or
        ``("lognormal", median, sdlog)``.
    sigma : float
        Within-arm SD (``"MD"``, ``"ROM"``, ``"known"``).
    p0 : float
        Control-arm risk (``"logOR"``).
    cc : float
        Continuity correction added to every cell of a 2x2 table with a zero cell.
    drop00 : bool
        Drop tables with no events (or only events) in both arms (``"logOR"``); the
        meta-analysis then has fewer than ``k`` studies.
    m0 : float or None
        Control-arm mean (median over trials) of ``"ROM"`` (required there, > 0; unused
        otherwise).
    rom_arms : str
        How the true arm means of ``"ROM"`` trials vary between trials: ``"lognormal"``
        (default) or ``"normal"`` (see :mod:`evsynth.simulate.generators`).
    selection : tuple or None
        ``("pvalue", alpha, weight)`` or ``("effect", threshold, weight)``: publication bias.
    label : str
        Free text kept with the results (not part of the scenario's identity).

    Returns
    -------
    Scenario
        A frozen description; :meth:`key` identifies it (random streams depend on it).

    References
    ----------
    Morris TP, White IR, Crowther MJ (2019). Using simulation studies to evaluate statistical
    methods. Stat Med 38:2074-2102. doi:10.1002/sim.8086

    Examples
    --------
    >>> from evsynth.simulate import Scenario
    >>> Scenario(k=5, tau2=0.1, n=50).k
    5
    """

    k: int
    tau2: float = 0.0
    mu: float = 0.0
    measure: str = "MD"
    n: Any = 50
    sigma: float = 1.0
    p0: float = 0.1
    cc: float = 0.5
    drop00: bool = False
    selection: Any = None
    m0: float | None = None
    rom_arms: str = "lognormal"
    label: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.n, list):
            object.__setattr__(self, "n", tuple(self.n))
        if isinstance(self.selection, list):
            object.__setattr__(self, "selection", tuple(self.selection))
        self.check()

    def check(self) -> None:
        """Raise :class:`InputError` naming the field that is out of range."""
        where = f"scenario {self.params()}"
        if isinstance(self.k, bool) or not isinstance(self.k, (int, np.integer)) or self.k < 1:
            raise InputError(f"{where}: field 'k' is {self.k!r}; expected a whole number >= 1")
        for name in ("tau2", "mu", "sigma", "p0", "cc"):
            val = getattr(self, name)
            if not _finite(val):
                raise InputError(f"{where}: field '{name}' is {val!r}; expected a finite number")
        if self.tau2 < 0:
            raise InputError(f"{where}: field 'tau2' is {self.tau2!r}; expected >= 0")
        if self.sigma <= 0:
            raise InputError(f"{where}: field 'sigma' is {self.sigma!r}; expected > 0")
        if not 0 < self.p0 < 1:
            raise InputError(f"{where}: field 'p0' is {self.p0!r}; expected 0 < p0 < 1")
        if self.cc < 0:
            raise InputError(f"{where}: field 'cc' is {self.cc!r}; expected >= 0")
        if self.measure not in MEASURES:
            raise InputError(f"{where}: field 'measure' is {self.measure!r}; expected one of "
                             f"{', '.join(MEASURES)}")
        if not isinstance(self.drop00, (bool, np.bool_)):
            raise InputError(f"{where}: field 'drop00' is {self.drop00!r}; expected True or "
                             "False")
        _size_spec(self.n, int(self.k), where)
        m0 = self.m0
        if m0 is not None and (not _finite(m0) or m0 <= 0):
            raise InputError(f"{where}: field 'm0' is {m0!r}; expected None or a finite number > 0")
        if self.rom_arms not in ROM_ARMS:
            raise InputError(f"{where}: field 'rom_arms' is {self.rom_arms!r}; expected one of "
                             f"{', '.join(ROM_ARMS)}")
        if self.measure == "ROM" and m0 is None:
            raise InputError(f"{where}: field 'm0' is None; measure 'ROM' needs the control-arm "
                             "mean m0 > 0")
        sel = self.selection
        if sel is not None:
            ok = (isinstance(sel, tuple) and len(sel) == 3 and sel[0] in ("pvalue", "effect")
                  and all(_is_real(x) and not math.isnan(x) for x in sel[1:])
                  and 0 <= sel[2] <= 1)
            if not ok or (sel[0] == "pvalue" and not 0 < sel[1] < 1):
                raise InputError(f"{where}: field 'selection' is {sel!r}; expected None, "
                                 "('pvalue', alpha, weight) with 0 < alpha < 1, or ('effect', "
                                 "threshold, weight) with a threshold that is not NaN, with "
                                 "0 <= weight <= 1")

    def params(self) -> dict[str, Any]:
        """The scenario's fields (without ``label``; without ``m0`` when it is None and
        without ``rom_arms`` when it is ``"lognormal"``, so that scenarios keep the keys, hence
        the random streams, they had before these fields existed) as JSON-ready values,
        written canonically: real-valued fields as Python floats (``0`` and ``-0.0`` as
        ``0.0``, the form of the defaults), ``k`` and sample sizes as Python ints (the
        ``"lognormal"`` median as an int when it is whole, its ``sdlog`` as a float), the
        numbers of ``selection`` as floats, numpy scalars as Python values. Equal scenarios
        therefore have equal keys; the scenarios written as the defaults are (floats in the
        real-valued fields) keep the keys they had before the canonical form."""
        d = asdict(self)
        d.pop("label")
        if d["m0"] is None:
            d.pop("m0")
        if d["rom_arms"] == "lognormal":
            d.pop("rom_arms")
        for name in REAL_FIELDS:
            if name in d:
                d[name] = _real(d[name])
        d["k"] = _whole(self.k)
        if isinstance(self.drop00, np.bool_):
            d["drop00"] = bool(self.drop00)
        n = self.n
        if isinstance(n, tuple) and n and isinstance(n[0], str):
            if n[0] == "lognormal" and len(n) == 3:
                d["n"] = [n[0], _whole(n[1]), _real(n[2])]
            else:
                d["n"] = [n[0], *(_whole(x) for x in n[1:])]
        elif isinstance(n, tuple):
            d["n"] = [_whole(x) for x in n]
        else:
            d["n"] = _whole(n)
        sel = self.selection
        d["selection"] = ([_real(x) for x in sel] if isinstance(sel, tuple)
                          else (list(sel) if sel is not None else None))
        return {key: (val.item() if isinstance(val, np.generic) else val)
                for key, val in d.items()}

    def key(self) -> str:
        """A stable identifier (SHA-256 of the canonical JSON of :meth:`params`, 16 hex
        digits): the scenario's random streams and its file on disk are keyed by it."""
        import hashlib
        import json

        text = json.dumps(self.params(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _size_spec(n: Any, k: int, where: str) -> None:
    bad = (f"{where}: field 'n' is {n!r}; expected a whole number 2 <= n <= {MAX_N:.0e}, {k} "
           "such numbers, ('uniform', lo, hi) with whole numbers 2 <= lo <= hi <= "
           f"{MAX_N:.0e}, or ('lognormal', median, sdlog) with a finite median 2 <= median <= "
           f"{MAX_N:.0e} and a finite sdlog >= 0")

    def size(x: Any) -> bool:
        return bool(isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))
                    and 2 <= x <= MAX_N)

    if isinstance(n, (int, np.integer)) and not isinstance(n, bool):
        if not size(n):
            raise InputError(bad)
        return
    if isinstance(n, tuple) and n and isinstance(n[0], str):
        if len(n) == 3 and n[0] == "uniform" and all(_is_whole(x) for x in n[1:]) \
                and 2 <= n[1] <= n[2] <= MAX_N:
            return
        if len(n) == 3 and n[0] == "lognormal" and all(_finite(x) for x in n[1:]) \
                and 2 <= n[1] <= MAX_N and n[2] >= 0:
            return
        raise InputError(bad)
    if isinstance(n, Sequence) and len(n) == k and all(size(x) for x in n):
        return
    raise InputError(bad)


def draw_sizes(n: Any, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Per-arm sample sizes of shape ``(replicates, k)`` from a size specification."""
    if isinstance(n, (int, np.integer)):
        return np.full(shape, int(n), dtype=np.int64)
    if isinstance(n, tuple) and n and isinstance(n[0], str):
        if n[0] == "uniform":
            return rng.integers(int(n[1]), int(n[2]) + 1, size=shape)
        med, sdlog = float(n[1]), float(n[2])
        with np.errstate(over="ignore"):
            raw = med * np.exp(sdlog * rng.standard_normal(shape))
        return np.clip(np.rint(np.minimum(raw, MAX_N)), 2, MAX_N).astype(np.int64)
    return np.broadcast_to(np.asarray(n, dtype=np.int64), shape).copy()


def hedges_j(m: np.ndarray) -> np.ndarray:
    """Exact small-sample correction of Cohen's d with ``m`` degrees of freedom (Hedges 1981,
    J Educ Stat 6:107; metafor ``.cmicalc``): ``Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2))``."""
    m = np.asarray(m, dtype=float)
    return np.exp(special.gammaln(m / 2) - 0.5 * np.log(m / 2) - special.gammaln((m - 1) / 2))


def smd_from_summary(m1: np.ndarray, m2: np.ndarray, sp: np.ndarray, n1: np.ndarray,
                     n2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hedges' g and its large-sample variance from arm means, the pooled SD and arm sizes
    (metafor ``escalc(measure = "SMD")``, ``vtype = "LS"``)."""
    g = hedges_j(n1 + n2 - 2) * (m1 - m2) / sp
    return g, 1.0 / n1 + 1.0 / n2 + g**2 / (2 * (n1 + n2))


def log_or_from_counts(a: np.ndarray, c: np.ndarray, n1: np.ndarray, n2: np.ndarray,
                       cc: float = 0.5, drop00: bool = False
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log odds ratio and variance of 2x2 tables (events ``a`` of ``n1``, ``c`` of ``n2``):
    ``cc`` added to every cell of tables with a zero cell (metafor ``escalc`` ``add``,
    ``to = "only0"``). Returns (yi, vi, keep); ``keep`` is False for double-zero (or
    double-full) tables under ``drop00`` and for tables left undefined (``cc = 0``)."""
    a, c = np.asarray(a, dtype=float), np.asarray(c, dtype=float)
    b, d = n1 - a, n2 - c
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    keep = np.ones(a.shape, dtype=bool)
    if drop00:
        keep = ~(((a == 0) & (c == 0)) | ((b == 0) & (d == 0)))
    add = np.where(zero, cc, 0.0)
    a, b, c, d = a + add, b + add, c + add, d + add
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = np.log(a * d / (b * c))
        vi = 1 / a + 1 / b + 1 / c + 1 / d
    keep &= np.isfinite(yi) & np.isfinite(vi)
    return yi, vi, keep


def _studies(sc: Scenario, shape: tuple[int, int],
             rng: np.random.Generator, sizes: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``shape`` = (replicates, studies) studies: (yi, vi, keep, zero) where ``keep``
    marks the studies that exist (False only for double-zero tables under ``drop00``) and
    ``zero`` the 2x2 tables with a zero cell. ``sizes`` (of ``shape``) gives the per-arm
    sizes instead of drawing them from ``sc.n``."""
    nn = (draw_sizes(sc.n, shape, rng) if sizes is None else sizes).astype(float)
    theta = sc.mu + math.sqrt(sc.tau2) * rng.standard_normal(shape)
    keep = np.ones(shape, dtype=bool)
    zero = np.zeros(shape, dtype=bool)
    if sc.measure == "known":
        vi = sc.sigma**2 * 2.0 / nn
        yi = theta + np.sqrt(vi) * rng.standard_normal(shape)
    elif sc.measure == "MD":
        s = sc.sigma
        m1 = theta + s / np.sqrt(nn) * rng.standard_normal(shape)
        m2 = s / np.sqrt(nn) * rng.standard_normal(shape)
        v1 = s**2 * rng.chisquare(nn - 1) / (nn - 1)
        v2 = s**2 * rng.chisquare(nn - 1) / (nn - 1)
        yi = m1 - m2
        vi = v1 / nn + v2 / nn
    elif sc.measure == "SMD":
        m1 = theta + rng.standard_normal(shape) / np.sqrt(nn)
        m2 = rng.standard_normal(shape) / np.sqrt(nn)
        df = 2 * nn - 2
        sp = np.sqrt(rng.chisquare(df) / df)
        yi, vi = smd_from_summary(m1, m2, sp, nn, nn)
    elif sc.measure == "ROM":
        from evsynth.effects.escalc import log_ratio_of_means

        s, m0 = sc.sigma, float(sc.m0 if sc.m0 is not None else 1.0)
        # theta - mu = u - v with u, v iid N(0, tau2 / 2): u = dev / 2 + e, v = -dev / 2 + e,
        # e ~ N(0, tau2 / 4) independent of dev (jointly normal, Cov(u, v) = 0)
        dev = theta - sc.mu
        e = math.sqrt(sc.tau2 / 4) * rng.standard_normal(shape)
        if sc.rom_arms == "normal":
            # a_i, b_i = (e - dev/2, dev/2 + e) / sqrt(tau2 / 2) * sqrt(w2): iid N(0, w2)
            e0 = m0 * math.exp(sc.mu)
            scale = math.sqrt(2 / (1 / m0**2 + 1 / e0**2))
            c_mean = m0 + scale * (e - dev / 2)
            e_mean = e0 + scale * (dev / 2 + e)
        else:
            c_mean = m0 * np.exp(e - dev / 2)
            e_mean = m0 * np.exp(sc.mu + dev / 2 + e)
        m1 = e_mean + s / np.sqrt(nn) * rng.standard_normal(shape)
        m2 = c_mean + s / np.sqrt(nn) * rng.standard_normal(shape)
        sd1 = s * np.sqrt(rng.chisquare(nn - 1) / (nn - 1))
        sd2 = s * np.sqrt(rng.chisquare(nn - 1) / (nn - 1))
        keep = (m1 > 0) & (m2 > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            yi, vi = log_ratio_of_means(m1, m2, sd1, sd2, nn, nn)
        yi, vi = np.where(keep, yi, 0.0), np.where(keep, vi, 1.0)
    else:  # logOR
        lp0 = math.log(sc.p0 / (1 - sc.p0))
        p1 = special.expit(lp0 + theta)
        ni = nn.astype(np.int64)
        a = rng.binomial(ni, p1).astype(float)
        c = rng.binomial(ni, sc.p0).astype(float)
        yi, vi, keep = log_or_from_counts(a, c, nn, nn, sc.cc, sc.drop00)
        zero = (a == 0) | (a == nn) | (c == 0) | (c == nn)
    return yi, vi, keep, zero


def _published(sc: Scenario, yi: np.ndarray, vi: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
    kind, cut, weight = sc.selection
    if kind == "pvalue":
        with np.errstate(divide="ignore", invalid="ignore"):
            p = special.ndtr(-yi / np.sqrt(vi))
        small = ~(p <= cut)
    else:
        small = yi < cut
    return ~small | (rng.random(yi.shape) < weight)


def generate(scenario: Scenario, replicates: int,
             rng: np.random.Generator | int | None = None) -> dict[str, np.ndarray]:
    """Simulate ``replicates`` meta-analyses of one scenario.

    Parameters
    ----------
    scenario : Scenario
        What to simulate.
    replicates : int
        Number of meta-analyses.
    rng : numpy.random.Generator, int or None
        Random generator (or a seed for one).

    Returns
    -------
    dict
        ``yi``, ``vi`` (flat arrays, replicate after replicate), ``sizes`` (studies per
        replicate: ``k`` unless ``drop00`` dropped tables), ``drawn`` (studies drawn per
        replicate before selection) and ``zero_cells`` (2x2 tables with a zero cell per
        replicate; 0 for other measures).

    References
    ----------
    Morris TP, White IR, Crowther MJ (2019). Using simulation studies to evaluate statistical
    methods. Stat Med 38:2074-2102. doi:10.1002/sim.8086

    Examples
    --------
    >>> from evsynth.simulate import Scenario, generate
    >>> d = generate(Scenario(k=4, tau2=0.1, measure="logOR", n=20, p0=0.05), 3, rng=1)
    >>> d["yi"].shape, d["sizes"].tolist()
    ((12,), [4, 4, 4])
    """
    if isinstance(replicates, bool) or not isinstance(replicates, (int, np.integer)) \
            or replicates < 1:
        raise InputError(f"argument 'replicates' is {replicates!r}; expected a whole number "
                         ">= 1")
    if not isinstance(scenario, Scenario):
        raise InputError(f"argument 'scenario' is {scenario!r}; expected a Scenario")
    k, R = int(scenario.k), int(replicates)
    if R * k > MAX_STUDIES:
        raise InputError(f"argument 'replicates' is {R} with k = {k} studies per replicate: "
                         f"{R * k:,} studies; expected replicates x k <= {MAX_STUDIES:,} per "
                         "call (draw fewer replicates at a time: run() does so in blocks of "
                         "'block' replicates)")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    if scenario.selection is None:
        yi, vi, keep, zero = _studies(scenario, (R, k), gen)
        drawn = np.full(R, k, dtype=np.int64)
        sizes = keep.sum(axis=1)
        return {"yi": yi[keep], "vi": vi[keep], "sizes": sizes, "drawn": drawn,
                "zero_cells": (zero & keep).sum(axis=1)}
    if isinstance(scenario.n, tuple) and not isinstance(scenario.n[0], str):
        return _select_per_study(scenario, R, gen)
    # selection: draw rounds of candidate studies until each replicate has k published ones
    ys = np.empty((R, k))
    vs = np.empty((R, k))
    ks = np.ones((R, k), dtype=bool)
    zs = np.zeros((R, k), dtype=bool)
    have = np.zeros(R, dtype=np.int64)
    drawn = np.zeros(R, dtype=np.int64)
    need = np.arange(R)
    cap = CANDIDATES_PER_STUDY * k
    total = 0  # candidates drawn so far by each replicate still drawing
    base = k
    first = True
    while need.size:
        if total >= cap:
            _too_few(scenario, cap)
        width = min(base, cap - total)
        if not first and need.size * width > ROUND_CELLS:
            width = max(1, ROUND_CELLS // need.size)
        first = False
        y, v, kp, z0 = _studies(scenario, (need.size, width), gen)
        pub = _published(scenario, y, v, gen)
        # take published studies in draw order until each replicate has k
        rank = np.cumsum(pub, axis=1) + have[need, None]
        take = pub & (rank <= k)
        # studies drawn: up to and including the one that completed the meta-analysis
        done = rank[:, -1] >= k
        last = np.where(done, np.argmax(rank >= k, axis=1) + 1, width)
        drawn[need] += last
        rows, cols = np.nonzero(take)
        slot = rank[rows, cols] - 1
        ys[need[rows], slot] = y[rows, cols]
        vs[need[rows], slot] = v[rows, cols]
        ks[need[rows], slot] = kp[rows, cols]
        zs[need[rows], slot] = z0[rows, cols]
        have[need] = np.minimum(rank[:, -1], k)
        need = need[have[need] < k]
        total += width
        base = min(4 * base, 1 << 16)
    return {"yi": ys[ks], "vi": vs[ks], "sizes": ks.sum(axis=1), "drawn": drawn,
            "zero_cells": (zs & ks).sum(axis=1)}


def _too_few(scenario: Scenario, cap: int) -> None:
    raise InputError(f"scenario {scenario.params()}: field 'selection' is "
                     f"{scenario.selection!r}: a replicate drew {cap:,} candidate studies "
                     f"({CANDIDATES_PER_STUDY:,} per published study) without publishing "
                     f"k = {scenario.k}; expected a selection that publishes well over 1 in "
                     f"{CANDIDATES_PER_STUDY:,} studies (raise the weight or alpha, or "
                     "change mu)")


def _select_per_study(scenario: Scenario, R: int,
                      gen: np.random.Generator) -> dict[str, np.ndarray]:
    """Selection with per-study sizes: slot ``i`` of every replicate is filled by the first
    published candidate of size ``n[i]`` (see the module docstring)."""
    k = int(scenario.k)
    n_slot = np.asarray(scenario.n, dtype=np.int64)
    ys = np.empty(R * k)
    vs = np.empty(R * k)
    ks = np.ones(R * k, dtype=bool)
    zs = np.zeros(R * k, dtype=bool)
    drawn = np.zeros(R * k, dtype=np.int64)
    need = np.arange(R * k)  # (replicate, slot) pairs, replicate-major
    cap = CANDIDATES_PER_STUDY
    total = 0
    base = 1
    first = True
    while need.size:
        if total >= cap:
            _too_few(scenario, cap * k)
        width = min(base, cap - total)
        if not first and need.size * width > ROUND_CELLS:
            width = max(1, ROUND_CELLS // need.size)
        first = False
        nn = np.broadcast_to(n_slot[need % k][:, None], (need.size, width))
        y, v, kp, z0 = _studies(scenario, (need.size, width), gen, nn)
        pub = _published(scenario, y, v, gen)
        done = pub.any(axis=1)
        col = np.argmax(pub, axis=1)
        drawn[need] += np.where(done, col + 1, width)
        rows = np.flatnonzero(done)
        at = need[rows]
        ys[at] = y[rows, col[rows]]
        vs[at] = v[rows, col[rows]]
        ks[at] = kp[rows, col[rows]]
        zs[at] = z0[rows, col[rows]]
        need = need[~done]
        total += width
        base = min(4 * base, 1 << 16)
    ks2, zs2 = ks.reshape(R, k), zs.reshape(R, k)
    keep = ks2.ravel()
    return {"yi": ys[keep], "vi": vs[keep], "sizes": ks2.sum(axis=1),
            "drawn": drawn.reshape(R, k).sum(axis=1), "zero_cells": (zs2 & ks2).sum(axis=1)}
