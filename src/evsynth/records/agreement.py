"""Screening agreement: percent agreement, Cohen's kappa with its standard errors and confidence
interval, and Fleiss' kappa for more than two reviewers, per screening stage.

Formulas
--------
Cohen's kappa (Cohen 1960) from the k x k table of two raters' decisions, cell proportions
p_ij, row and column margins p_i. and p_.j:

    p_o = sum_i p_ii,   p_e = sum_i p_i. p_.i,   kappa = (p_o - p_e) / (1 - p_e).

Its large-sample standard error (Fleiss, Cohen & Everitt 1969, eq. 13; the non-null variance
used for the confidence interval):

    var(kappa) = [ sum_i p_ii (1 - (p_i. + p_.i)(1 - kappa))^2
                   + (1 - kappa)^2 sum_{i != j} p_ij (p_.i + p_j.)^2
                   - (kappa - p_e (1 - kappa))^2 ] / (n (1 - p_e)^2),

and under the null hypothesis kappa = 0 (same paper, eq. 14; used for the z test):

    var_0(kappa) = [ p_e + p_e^2 - sum_i p_i. p_.i (p_i. + p_.i) ] / (n (1 - p_e)^2).

The confidence interval is kappa +- z_{1-alpha/2} se(kappa) (Fleiss, Levin & Paik 2003,
section 18.1). kappa is undefined (None) when p_e = 1 (both reviewers used one category only).

Fleiss' kappa (Fleiss 1971) for N records each rated by the same number m >= 2 of reviewers,
n_ij reviewers putting record i in category j, p_j = sum_i n_ij / (N m):

    P_i = (sum_j n_ij^2 - m) / (m (m - 1)),   P = mean(P_i),   P_e = sum_j p_j^2,
    kappa = (P - P_e) / (1 - P_e),

with the standard error under the null hypothesis of Fleiss, Nee & Landis (1979):

    var_0 = 2 / (N m (m - 1)) [ (sum_j p_j q_j)^2 - sum_j p_j q_j (q_j - p_j) ]
            / (sum_j p_j q_j)^2,   q_j = 1 - p_j,

as ``irr::kappam.fleiss``. No confidence interval is given for Fleiss' kappa (its non-null
variance has no closed form; the z test is what the literature reports).

Screening data
--------------
:func:`screening_agreement` reads each reviewer's own decision ("screen" kind, not a
resolution) per duplicate group and stage from a :class:`evsynth.records.store.Store` as it
stood when the reviewer could first see the others' (:func:`evsynth.records.screening.
counted_screens`: a decision changed after the record had all its required decisions does not
count). Two reviewers: Cohen's kappa on the groups
both decided. More than two: Cohen's kappa for each pair, and Fleiss' kappa on the groups
decided by the most common number m >= 2 of reviewers (groups with another number of
decisions are counted in ``n_left_out``). ``merge_maybe=True`` counts "maybe" as "include"
(at the title-abstract stage both send the record on to full text).

References
----------
.. [1] Cohen J (1960). A coefficient of agreement for nominal scales. *Educ Psychol Meas*
       20(1):37-46. doi:10.1177/001316446002000104
.. [2] Fleiss JL, Cohen J, Everitt BS (1969). Large sample standard errors of kappa and
       weighted kappa. *Psychol Bull* 72(5):323-327. doi:10.1037/h0028106
.. [3] Fleiss JL (1971). Measuring nominal scale agreement among many raters. *Psychol Bull*
       76(5):378-382. doi:10.1037/h0031619
.. [4] Fleiss JL, Nee JCM, Landis JR (1979). Large sample variance of kappa in the case of
       different sets of raters. *Psychol Bull* 86(5):974-977. doi:10.1037/0033-2909.86.5.974
.. [5] Fleiss JL, Levin B, Paik MC (2003). *Statistical Methods for Rates and Proportions*,
       3rd ed. Wiley, chapter 18. doi:10.1002/0471445428

Examples
--------
>>> from evsynth.records.agreement import kappa_from_table
>>> k = kappa_from_table([[75, 1, 4], [5, 4, 1], [0, 0, 10]])   # Fleiss et al. 2003, 18.1
>>> round(k.kappa, 3), round(k.percent_agreement, 1)
(0.676, 89.0)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import combinations
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np

from evsynth.errors import InputError
from evsynth.models.results import FrameResult, ResultMixin
from evsynth.validation import level_percent

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from evsynth.records.settings import ScreeningSettings
    from evsynth.records.store import Store

__all__ = ["AgreementTable", "FleissKappa", "KappaResult", "cohen_kappa", "fleiss_kappa",
           "kappa_from_table", "screening_agreement"]


def _f(x: float | None, digits: int = 3) -> str:
    return "NA" if x is None else f"{x:.{digits}f}"


class KappaResult(ResultMixin):
    """Cohen's kappa of two raters: agreement, kappa, standard errors, CI and z test.

    Attributes: ``n``, ``categories``, ``table`` (counts, rows rater A, columns rater B),
    ``agreement`` (p_o), ``percent_agreement``, ``expected_agreement`` (p_e), ``kappa``,
    ``se`` (non-null, Fleiss-Cohen-Everitt 1969), ``se0`` (null), ``z`` (kappa / se0),
    ``pval`` (two-sided), ``ci_lb``, ``ci_ub``, ``level`` (percent). Undefined values are None.
    """

    _dict_fields = ("n", "categories", "table", "agreement", "percent_agreement",
                    "expected_agreement", "kappa", "se", "se0", "z", "pval", "ci_lb", "ci_ub",
                    "level")

    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)

    n: int
    categories: list[str]
    table: np.ndarray
    agreement: float | None
    percent_agreement: float | None
    expected_agreement: float | None
    kappa: float | None
    se: float | None
    se0: float | None
    z: float | None
    pval: float | None
    ci_lb: float | None
    ci_ub: float | None
    level: float

    def summary_text(self) -> str:
        if self.n == 0:
            return "Cohen's kappa: no records rated by both raters"
        return (f"Cohen's kappa (n = {self.n}): agreement {self.percent_agreement:.1f}%, "
                f"expected {100 * (self.expected_agreement or 0):.1f}%; kappa = "
                f"{_f(self.kappa)} (SE {_f(self.se)}; {self.level:g}% CI {_f(self.ci_lb)} to "
                f"{_f(self.ci_ub)}); z = {_f(self.z, 2)}, p = {_f(self.pval, 4)}")

    def to_frame(self) -> pd.DataFrame:
        """The agreement table (counts) with the categories as index and columns."""
        import pandas as pd

        return pd.DataFrame(self.table, index=self.categories, columns=self.categories)


def kappa_from_table(table: Any, categories: Sequence[str] | None = None,
                     level: float = 95) -> KappaResult:
    """Cohen's kappa from a square table of counts (rows rater A, columns rater B).

    Parameters
    ----------
    table : array-like, k x k
        Counts of records by (rater A's category, rater B's category); whole numbers >= 0.
    categories : sequence of str, optional
        Category names (default "1", "2", ...).
    level : float
        Confidence level in percent (95) or as a proportion (0.95).

    Returns
    -------
    KappaResult

    References
    ----------
    .. [1] Cohen J (1960). *Educ Psychol Meas* 20:37-46. doi:10.1177/001316446002000104
    .. [2] Fleiss JL, Cohen J, Everitt BS (1969). *Psychol Bull* 72:323-327.
           doi:10.1037/h0028106

    Examples
    --------
    >>> k = kappa_from_table([[20, 5], [10, 15]], ["include", "exclude"])
    >>> round(k.kappa, 2), k.percent_agreement
    (0.4, 70.0)
    """
    lv = level_percent(level)
    t = np.asarray(table, dtype=float)
    if t.ndim != 2 or t.shape[0] != t.shape[1] or t.shape[0] < 1:
        raise InputError(f"argument 'table' has shape {t.shape}; expected a square k x k table "
                         "of counts")
    if not np.all(np.isfinite(t)) or np.any(t < 0) or np.any(t != np.round(t)):
        raise InputError("argument 'table': expected whole-number counts >= 0")
    k = t.shape[0]
    cats = [str(c) for c in categories] if categories is not None else \
        [str(i + 1) for i in range(k)]
    if len(cats) != k:
        raise InputError(f"argument 'categories' has {len(cats)} names for a {k} x {k} table")
    n = int(t.sum())
    none = dict(agreement=None, percent_agreement=None, expected_agreement=None, kappa=None,
                se=None, se0=None, z=None, pval=None, ci_lb=None, ci_ub=None)
    base = dict(n=n, categories=cats, table=t.astype(int), level=lv)
    if n == 0:
        return KappaResult(**base, **none)
    p = t / n
    po = float(np.trace(p))
    r, c = p.sum(axis=1), p.sum(axis=0)
    pe = float(r @ c)
    out = {**none, "agreement": po, "percent_agreement": 100 * po, "expected_agreement": pe}
    if math.isclose(pe, 1.0, rel_tol=0, abs_tol=1e-12):
        return KappaResult(**base, **out)
    kappa = (po - pe) / (1 - pe)
    # Fleiss, Cohen & Everitt (1969): non-null variance (eq. 13)
    term1 = float(np.sum(np.diag(p) * (1 - (r + c) * (1 - kappa)) ** 2))
    off = 1.0 - np.eye(k)
    term2 = (1 - kappa) ** 2 * float(np.sum(off * p * (c[:, None] + r[None, :]) ** 2))
    term3 = (kappa - pe * (1 - kappa)) ** 2
    var = (term1 + term2 - term3) / (n * (1 - pe) ** 2)
    # null variance (eq. 14)
    var0 = (pe + pe ** 2 - float(np.sum(r * c * (r + c)))) / (n * (1 - pe) ** 2)
    se = math.sqrt(max(var, 0.0))
    se0 = math.sqrt(max(var0, 0.0))
    zc = NormalDist().inv_cdf(0.5 + lv / 200)
    z = kappa / se0 if se0 > 0 else None
    pval = None if z is None else 2 * NormalDist().cdf(-abs(z))
    out.update(kappa=kappa, se=se, se0=se0, z=z, pval=pval, ci_lb=kappa - zc * se,
               ci_ub=kappa + zc * se)
    return KappaResult(**base, **out)


def cohen_kappa(a: Sequence[Any], b: Sequence[Any], categories: Sequence[Any] | None = None,
                level: float = 95) -> KappaResult:
    """Cohen's kappa of two raters' paired ratings (see :func:`kappa_from_table`).

    Parameters
    ----------
    a, b : sequence
        The two raters' categories for the same records, in the same order.
    categories : sequence, optional
        The possible categories (default: those seen, sorted); a rating outside them is an
        InputError.
    level : float
        Confidence level.

    Returns
    -------
    KappaResult

    References
    ----------
    .. [1] Cohen J (1960). *Educ Psychol Meas* 20:37-46. doi:10.1177/001316446002000104

    Examples
    --------
    >>> k = cohen_kappa(["in", "out", "out", "in", "out"], ["in", "out", "in", "in", "out"])
    >>> k.percent_agreement, round(k.kappa, 4)
    (80.0, 0.6154)
    """
    a, b = list(a), list(b)
    if len(a) != len(b):
        raise InputError(f"agreement: {len(a)} ratings of rater A against {len(b)} of rater B; "
                         "expected one pair per record")
    cats = list(categories) if categories is not None else sorted({*a, *b}, key=str)
    idx = {c: i for i, c in enumerate(cats)}
    for i, x in enumerate((*a, *b)):
        if x not in idx:
            who = "A" if i < len(a) else "B"
            raise InputError(f"agreement: record {i % max(len(a), 1) + 1}, rater {who}: rating "
                             f"{x!r}; expected one of {cats}")
    t = np.zeros((len(cats), len(cats)), dtype=int)
    if a:
        np.add.at(t, ([idx[x] for x in a], [idx[y] for y in b]), 1)
    return kappa_from_table(t, [str(c) for c in cats], level)


class FleissKappa(ResultMixin):
    """Fleiss' kappa of m raters per record: ``n_records``, ``m``, ``categories``,
    ``proportions`` (p_j), ``agreement`` (mean P_i), ``percent_agreement``,
    ``expected_agreement`` (P_e), ``kappa``, ``se0``, ``z``, ``pval``."""

    _dict_fields = ("n_records", "m", "categories", "proportions", "agreement",
                    "percent_agreement", "expected_agreement", "kappa", "se0", "z", "pval")

    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)

    n_records: int
    m: int
    categories: list[str]
    proportions: list[float]
    agreement: float | None
    percent_agreement: float | None
    expected_agreement: float | None
    kappa: float | None
    se0: float | None
    z: float | None
    pval: float | None

    def summary_text(self) -> str:
        return (f"Fleiss' kappa ({self.n_records} records, {self.m} raters each): agreement "
                f"{_f(self.percent_agreement, 1)}%; kappa = {_f(self.kappa)} (null SE "
                f"{_f(self.se0)}); z = {_f(self.z, 2)}, p = {_f(self.pval, 4)}")


def fleiss_kappa(counts: Any, categories: Sequence[str] | None = None) -> FleissKappa:
    """Fleiss' kappa from a records x categories table of rating counts.

    Parameters
    ----------
    counts : array-like, N x k
        ``counts[i, j]``: how many raters put record i in category j; every row must sum to
        the same number m >= 2 of raters.
    categories : sequence of str, optional
        Category names.

    Returns
    -------
    FleissKappa

    References
    ----------
    .. [1] Fleiss JL (1971). Measuring nominal scale agreement among many raters. *Psychol
           Bull* 76(5):378-382. doi:10.1037/h0031619
    .. [2] Fleiss JL, Nee JCM, Landis JR (1979). *Psychol Bull* 86(5):974-977.
           doi:10.1037/0033-2909.86.5.974

    Examples
    --------
    >>> fk = fleiss_kappa([[3, 0], [0, 3], [2, 1], [3, 0]])
    >>> round(fk.kappa, 4)
    0.625
    """
    x = np.asarray(counts, dtype=float)
    if x.ndim != 2 or x.shape[1] < 1:
        raise InputError(f"argument 'counts' has shape {x.shape}; expected records x "
                         "categories counts")
    if not np.all(np.isfinite(x)) or np.any(x < 0) or np.any(x != np.round(x)):
        raise InputError("argument 'counts': expected whole-number counts >= 0")
    cats = [str(c) for c in categories] if categories is not None else \
        [str(j + 1) for j in range(x.shape[1])]
    if len(cats) != x.shape[1]:
        raise InputError(f"argument 'categories' has {len(cats)} names for {x.shape[1]} "
                         "columns")
    n_rec = x.shape[0]
    none = dict(agreement=None, percent_agreement=None, expected_agreement=None, kappa=None,
                se0=None, z=None, pval=None)
    if n_rec == 0:
        return FleissKappa(n_records=0, m=0, categories=cats, proportions=[0.0] * len(cats),
                           **none)
    m_i = x.sum(axis=1)
    if np.any(m_i != m_i[0]) or m_i[0] < 2:
        i = int(np.flatnonzero(m_i != m_i[0])[0]) if np.any(m_i != m_i[0]) else 0
        raise InputError(f"argument 'counts': record {i + 1} has {int(m_i[i])} ratings but "
                         f"record 1 has {int(m_i[0])}; expected the same number m >= 2 of "
                         "ratings for every record")
    m = int(m_i[0])
    pj = x.sum(axis=0) / (n_rec * m)
    pi = (np.sum(x * x, axis=1) - m) / (m * (m - 1))
    pbar = float(pi.mean())
    pe = float(np.sum(pj ** 2))
    out: dict[str, Any] = {**none, "agreement": pbar, "percent_agreement": 100 * pbar,
                           "expected_agreement": pe}
    if not math.isclose(pe, 1.0, rel_tol=0, abs_tol=1e-12):
        kappa = (pbar - pe) / (1 - pe)
        pq = pj * (1 - pj)
        s = float(pq.sum())
        var0 = 2 / (n_rec * m * (m - 1)) * (s ** 2 - float(np.sum(pq * (1 - 2 * pj)))) / s ** 2
        se0 = math.sqrt(max(var0, 0.0))
        z = kappa / se0 if se0 > 0 else None
        out.update(kappa=kappa, se0=se0, z=z,
                   pval=None if z is None else 2 * NormalDist().cdf(-abs(z)))
    return FleissKappa(n_records=n_rec, m=m, categories=cats,
                       proportions=[float(v) for v in pj], **out)


class AgreementTable(FrameResult):
    """Screening agreement per stage (one row per stage and reviewer pair, plus a Fleiss row
    per stage with more than two reviewers): ``stage``, ``method`` ("Cohen" / "Fleiss"),
    ``reviewers``, ``n`` (records), ``n_left_out`` (Fleiss only), ``percent_agreement``,
    ``expected_agreement`` (percent), ``kappa``, ``se``, ``ci_lb``, ``ci_ub``, ``se0``, ``z``,
    ``pval``, ``level``."""

    _dict_fields = ("frame",)

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def summary_text(self) -> str:
        if self.frame.empty:
            return "Screening agreement: no stage with two or more reviewers"
        lines = ["Screening agreement"]
        for r in self.frame.to_dict("records"):
            ci = "" if r["ci_lb"] is None else \
                f", {r['level']:g}% CI {_f(r['ci_lb'])} to {_f(r['ci_ub'])}"
            lines.append(f"  {r['stage']}: {r['method']} ({r['reviewers']}; n = {r['n']}): "
                         f"agreement {_f(r['percent_agreement'], 1)}%, kappa "
                         f"{_f(r['kappa'])}{ci}")
        return "\n".join(lines)


def screening_agreement(store: Store, stage: str | None = None, *,
                        reviewers: Sequence[str] | None = None, merge_maybe: bool = False,
                        level: float = 95,
                        settings: ScreeningSettings | None = None) -> AgreementTable:
    """Agreement between reviewers at each screening stage, from the store's decisions.

    Each reviewer's decision on a record counts as it stood when the reviewer could first see
    the others' (:func:`evsynth.records.screening.counted_decisions`: a decision changed after
    the record had all its required decisions does not count; pending records count with the
    latest decisions), as in the web app. Full-text agreement covers the records eligible for
    full text (title-abstract outcome include or maybe).

    Parameters
    ----------
    store : evsynth.records.Store
        The review's records store.
    stage : str, optional
        ``"title-abstract"`` or ``"full-text"``; default both.
    reviewers : sequence of str, optional
        The reviewers to compare (default: everyone with a screening decision at the stage).
    merge_maybe : bool
        Count "maybe" as "include".
    level : float
        Confidence level of the kappa CI.
    settings : ScreeningSettings, optional
        The review's ``[screening]`` settings: the number of reviewers each record needs
        (:func:`evsynth.records.screening.reviewers_required`; 1 without settings).

    Returns
    -------
    AgreementTable
        One row per stage and reviewer pair (Cohen), and one Fleiss row per stage with three
        or more reviewers; stages with fewer than two reviewers have no row.

    References
    ----------
    .. [1] Cohen J (1960). *Educ Psychol Meas* 20:37-46. doi:10.1177/001316446002000104
    .. [2] Fleiss JL (1971). *Psychol Bull* 76:378-382. doi:10.1037/h0031619

    Examples
    --------
    >>> from evsynth.records import Store
    >>> from evsynth.records.model import records_frame
    >>> store = Store("sqlite://")
    >>> recs = records_frame([{"record_id": f"r{i}", "title": f"Trial {i}"} for i in range(4)])
    >>> _ = store.add_import(recs, "x.ris", "PubMed", sha256="x")
    >>> for rev, ds in (("ann", "iiee"), ("bob", "ieee")):
    ...     for i, d in enumerate(ds):
    ...         store.add_decision(f"r{i}", "title-abstract",
    ...                            "include" if d == "i" else "exclude", rev)
    >>> res = screening_agreement(store)
    >>> res.frame.loc[0, ["n", "percent_agreement", "kappa"]].tolist()
    [4, 75.0, 0.5]
    """
    from evsynth.records.screening import counted_screens
    from evsynth.records.settings import STAGES, check_stage

    stages = [check_stage(stage)] if stage is not None else list(STAGES)
    counted = {st: counted_screens(store, st, settings) for st in stages}
    return agreement_table(counted, reviewers=reviewers, merge_maybe=merge_maybe, level=level)


def agreement_table(latest: Mapping[str, Mapping[str, Mapping[str, str]]], *,
                    reviewers: Sequence[str] | None = None, merge_maybe: bool = False,
                    level: float = 95) -> AgreementTable:
    """:func:`screening_agreement` from the reviewers' decisions: per stage,
    ``{reviewer: {group_id: decision}}`` (as :func:`evsynth.records.screening.counted_screens`
    gives them; the web app's screening index keeps them up to date)."""
    import pandas as pd

    lv = level_percent(level)
    cats = ["include", "exclude"] if merge_maybe else ["include", "exclude", "maybe"]
    rows: list[dict[str, Any]] = []
    for st, given in latest.items():
        by_rev = {rv: {g: "include" if merge_maybe and d == "maybe" else d
                       for g, d in ds.items()} for rv, ds in given.items()}
        names = list(reviewers) if reviewers is not None else sorted(by_rev)
        for ra, rb in combinations(names, 2):
            da, db = by_rev.get(ra, {}), by_rev.get(rb, {})
            common = [g for g in da if g in db]
            k = cohen_kappa([da[g] for g in common], [db[g] for g in common], cats, lv)
            rows.append(dict(stage=st, method="Cohen", reviewers=f"{ra} and {rb}", n=k.n,
                             n_left_out=None, percent_agreement=k.percent_agreement,
                             expected_agreement=None if k.expected_agreement is None
                             else 100 * k.expected_agreement,
                             kappa=k.kappa, se=k.se, ci_lb=k.ci_lb, ci_ub=k.ci_ub, se0=k.se0,
                             z=k.z, pval=k.pval, level=lv))
        if len(names) > 2:
            per_group: dict[str, list[str]] = {}
            for rv in names:
                for g, d in by_rev.get(rv, {}).items():
                    per_group.setdefault(g, []).append(d)
            sizes = Counter(len(v) for v in per_group.values() if len(v) >= 2)
            if sizes:
                m = max(sizes, key=lambda s: (sizes[s], s))
                keep = [g for g, v in per_group.items() if len(v) == m]
                counts = np.array([[per_group[g].count(c) for c in cats] for g in keep])
                fk = fleiss_kappa(counts, cats)
                rows.append(dict(stage=st, method="Fleiss",
                                 reviewers=f"{len(names)} reviewers, {m} per record",
                                 n=fk.n_records, n_left_out=len(per_group) - len(keep),
                                 percent_agreement=fk.percent_agreement,
                                 expected_agreement=None if fk.expected_agreement is None
                                 else 100 * fk.expected_agreement, kappa=fk.kappa, se=None,
                                 ci_lb=None, ci_ub=None, se0=fk.se0, z=fk.z, pval=fk.pval,
                                 level=lv))
    cols = ["stage", "method", "reviewers", "n", "n_left_out", "percent_agreement",
            "expected_agreement", "kappa", "se", "ci_lb", "ci_ub", "se0", "z", "pval", "level"]
    frame = pd.DataFrame({c: pd.Series([r[c] for r in rows], dtype=object) for c in cols})
    return AgreementTable(frame)
