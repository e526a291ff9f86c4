"""Prioritised screening: rank unscreened records by predicted relevance, and know when to stop.

Ranking (active learning, "certainty-based" or *max* query)
------------------------------------------------------------
Every record's text (title twice, abstract and keywords, joined by spaces) becomes a TF-IDF
vector of word unigrams and bigrams with sublinear term frequency,

.. math::

    x_{dt} = (1 + \\log \\mathrm{tf}_{dt}) \\cdot \\mathrm{idf}_t, \\qquad
    \\mathrm{idf}_t = 1 + \\log\\frac{1 + N}{1 + \\mathrm{df}_t},

each row scaled to unit Euclidean length (scikit-learn's ``TfidfVectorizer`` with
``sublinear_tf=True``, ``ngram_range=(1, 2)``; terms in more than 95% of the records dropped).
The vocabulary and the idf weights are learnt from *all* records of the store, labelled or not
(they use no decision), and cached per store (:func:`prioritiser_for`).

A linear classifier is fitted to the decisions made so far (include or maybe = relevant, 1;
exclude = 0): an L2-regularised linear support vector machine with squared hinge loss,

.. math::

    \\min_{w, b} \\; \\tfrac12 \\lVert w \\rVert^2 + C \\sum_i s_i
        \\max(0, 1 - y_i (w^\\top x_i + b))^2, \\qquad y_i \\in \\{-1, +1\\},

with sample weights :math:`s_i` that give the relevant class ``ratio`` times the total weight of
the irrelevant class (:math:`s_i = 1` for a relevant record, :math:`s_i = n_1 / (\\rho\\,n_0)`
for an irrelevant one, then rescaled to mean 1; :math:`\\rho` = ``ratio``). The unscreened
records are shown in decreasing order of the score :math:`w^\\top x + b`. Retraining is cheap
(the features stay fixed; only the classifier is refitted, in milliseconds for thousands of
decisions), so it can follow every decision. The defaults were chosen on the labelled sets of
``bench/bench_screening.py`` (see ``bench/RESULTS.md``): the classifier and its settings are
those of ASReview LAB's default model ("ELAS u4": TF-IDF uni+bigrams, linear SVM, C = 0.11,
ratio 9.8, tuned on the SYNERGY datasets) [1]_; counting the title twice was better on the small
Cohen sets (ADHD, antihistamines, estrogens, NSAIDs: mean WSS@95 0.396 against 0.388).

With decisions of only one class (or none), no classifier can be fitted: the records keep the
plain (import) order and :attr:`Prioritiser.fallback` says why.

Stopping: the buscar method
---------------------------
Callaghan & Müller-Hansen [2]_ turn "when may we stop screening?" into a hypothesis test. After
the ranked phase, in which :math:`r_{AL}` relevant records were found, draw a simple random
sample of :math:`n` of the :math:`N` records not yet screened (the *urn*) and screen it; it holds
:math:`k` relevant ones, so :math:`r_{seen} = r_{AL} + k` relevant records have been seen. The
null hypothesis is "recall is below the target :math:`\\tau`", i.e. the urn held at least

.. math::

    K_{tar} = \\left\\lfloor \\frac{r_{seen}}{\\tau} - r_{AL} + 1 \\right\\rfloor

relevant records. Under :math:`H_0` with :math:`K = K_{tar}` (the least extreme case: a larger
:math:`K` makes a small :math:`k` less likely), :math:`k` is hypergeometric, and the p-value is

.. math::

    p = P(X \\le k), \\qquad X \\sim \\mathrm{Hypergeometric}(N, K_{tar}, n)

(population :math:`N`, :math:`K_{tar}` successes, :math:`n` draws). When :math:`p < \\alpha`
(e.g. 0.05) one may stop, with recall at least :math:`\\tau` at confidence :math:`1 - \\alpha`.
:func:`buscar_pvalue` computes it; :func:`estimate_remaining` estimates the relevant records still
unseen from the same sample. :func:`buscar_pvalue_ranked` is the variant of the authors' own
package, which treats the last :math:`n` records screened in ranked order as the sample and takes
the smallest p over :math:`n`; it is conservative only while the ranking finds relevant records at
least as often as random sampling would.

References
----------
.. [1] van de Schoot R et al. (2021). An open source machine learning framework for efficient and
       transparent systematic reviews. *Nat Mach Intell* 3:125-133.
       doi:10.1038/s42256-020-00287-7 (ASReview LAB; default model of version 2, "ELAS u4").
.. [2] Callaghan MW, Müller-Hansen F (2020). Statistical stopping criteria for automated
       screening in systematic reviews. *Syst Rev* 9:273. doi:10.1186/s13643-020-01521-4
.. [3] Cohen AM, Hersh WR, Peterson K, Yen PY (2006). Reducing workload in systematic review
       preparation using automated citation classification. *J Am Med Inform Assoc*
       13(2):206-219. doi:10.1197/jamia.M1929 (work saved over sampling, WSS).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evsynth.errors import InputError
from evsynth.records.settings import ScreeningSettings, check_stage

#: decisions counted as relevant when training (at title-abstract, "maybe" goes on to full text)
RELEVANT = ("include", "maybe")

#: default classifier settings (chosen by bench/bench_screening.py)
DEFAULT_C = 0.11
DEFAULT_RATIO = 9.8
#: the title counts this many times in a record's text (titles are short and dense)
DEFAULT_TITLE_WEIGHT = 2


def record_texts(records: pd.DataFrame, title_weight: int = DEFAULT_TITLE_WEIGHT) -> list[str]:
    """Title, abstract and keywords of each record joined into one text (missing parts empty);
    the title repeated ``title_weight`` times."""
    out = []
    cols = [c for c in ("title", "abstract", "keywords") if c in records.columns]
    for row in records[cols].itertuples(index=False, name=None):
        parts: list[str] = []
        if cols and cols[0] == "title" and title_weight > 1:
            row = (row[0],) * title_weight + tuple(row[1:])
        for v in row:
            if v is None or (isinstance(v, float) and v != v):
                continue
            if isinstance(v, (list, tuple)):
                parts.extend(str(x) for x in v if x)
            else:
                parts.append(str(v))
        out.append(" ".join(parts))
    return out


def _vectoriser(n: int) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]

    # with many records, a term seen once cannot be learnt from: keep the vocabulary in check
    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_df=0.95,
                           min_df=1 if n <= 20_000 else 2, dtype=np.float32)


def balanced_weights(y: np.ndarray, ratio: float = DEFAULT_RATIO) -> np.ndarray:
    """Sample weights giving the relevant class ``ratio`` times the irrelevant class's total
    weight: 1 for y = 1, :math:`n_1/(\\rho n_0)` for y = 0, rescaled to mean 1 (as ASReview's
    "balanced" balancer)."""
    y = np.asarray(y)
    n1, n0 = int((y == 1).sum()), int((y == 0).sum())
    w = np.where(y == 1, 1.0, n1 / (ratio * n0) if n0 else 1.0)
    return w * (len(y) / w.sum())


class Prioritiser:
    """Rank records by predicted relevance from the screening decisions made so far.

    Parameters
    ----------
    records : DataFrame or sequence of str
        The records (columns ``title``, ``abstract`` and optionally ``keywords``; a
        ``record_id`` column names them) or their texts. The TF-IDF features are computed once,
        here, from all of them.
    C : float, default 0.11
        Inverse regularisation strength of the linear SVM.
    ratio : float, default 9.8
        Total weight of the relevant class relative to the irrelevant class
        (:func:`balanced_weights`).
    seed : int, default 0
        Seed of the classifier's solver (the result is deterministic given the seed).
    title_weight : int, default 2
        The title is repeated this many times in the text (its terms count more).

    Attributes
    ----------
    ids : list of str
        Record ids (``record_id`` column, else ``"0"``, ``"1"``, ...), in input order.
    fallback : str or None
        After :meth:`fit`: None when a classifier ranked the records, else why the plain order
        was kept (no decisions, or decisions of one class only).

    Examples
    --------
    >>> from evsynth.records.prioritise import Prioritiser
    >>> p = Prioritiser(["hip fracture surgery trial", "wetland birds", "hip fracture rehab",
    ...                  "coral reef fish", "fracture fixation trial", "forest soils"])
    >>> s = p.fit({"0": 1, "1": 0})
    >>> p.fallback is None and s[2] > s[3] and s[4] > s[5]
    True
    """

    def __init__(self, records: pd.DataFrame | Sequence[str], *, C: float = DEFAULT_C,
                 ratio: float = DEFAULT_RATIO, seed: int = 0,
                 title_weight: int = DEFAULT_TITLE_WEIGHT) -> None:
        if isinstance(records, pd.DataFrame):
            texts = record_texts(records, title_weight)
            self.ids = [str(x) for x in records["record_id"]] if "record_id" in records \
                else [str(i) for i in range(len(records))]
        else:
            texts = [str(t) if t is not None else "" for t in records]
            self.ids = [str(i) for i in range(len(texts))]
        if C <= 0 or ratio <= 0:
            raise InputError(f"prioritise: C={C}, ratio={ratio}; expected positive numbers")
        self.C, self.ratio, self.seed = float(C), float(ratio), int(seed)
        self.n = len(texts)
        self.index = {r: i for i, r in enumerate(self.ids)}
        self.fallback: str | None = "not fitted"
        self.coef_: np.ndarray | None = None
        if self.n and any(t.strip() for t in texts):
            self.vectoriser = _vectoriser(self.n)
            try:
                self.X = self.vectoriser.fit_transform(texts).tocsr()
            except ValueError:  # only stop-word-like terms (every term in > 95% of records)
                self.X = None
        else:
            self.vectoriser, self.X = None, None

    def _label_vector(self, labels: Mapping[str, int] | Sequence[float] | np.ndarray
                      ) -> np.ndarray:
        """Labels as an array aligned with the records: 1, 0, or -1 for unlabelled."""
        y = np.full(self.n, -1, dtype=np.int8)
        if isinstance(labels, Mapping):
            for rid, v in labels.items():
                i = self.index.get(str(rid))
                if i is None:
                    raise InputError(f"prioritise: label for record {rid!r}, which is not among "
                                     "the records; expected one of the records' ids")
                y[i] = 1 if int(v) else 0
            return y
        arr = np.asarray(labels, dtype=float)
        if arr.shape != (self.n,):
            raise InputError(f"prioritise: {arr.shape[0] if arr.ndim else 0} labels for "
                             f"{self.n} records; expected one per record (NaN or -1 unlabelled)")
        known = np.isfinite(arr) & (arr >= 0)
        y[known] = (arr[known] > 0).astype(np.int8)
        return y

    def fit(self, labels: Mapping[str, int] | Sequence[float] | np.ndarray) -> np.ndarray:
        """Fit the classifier to ``labels`` and return a relevance score for every record.

        Parameters
        ----------
        labels : mapping or array
            ``{record_id: 1 or 0}`` (relevant / irrelevant), or an array with one entry per
            record: 1, 0, or NaN / -1 for an unlabelled record.

        Returns
        -------
        ndarray of float
            One score per record (input order); higher means more likely relevant. Without
            decisions of both classes (or without any text) the scores are
            :math:`-i/n` for record :math:`i` (the plain order) and :attr:`fallback` says why.
        """
        y = self._label_vector(labels)
        lab = np.flatnonzero(y >= 0)
        n1 = int((y[lab] == 1).sum())
        n0 = len(lab) - n1
        plain = -np.arange(self.n, dtype=float) / max(self.n, 1)
        self.coef_ = None
        if self.X is None:
            self.fallback = "plain order: the records have no text to learn from"
            return plain
        if n1 == 0 or n0 == 0:
            self.fallback = (f"plain order: decisions of both kinds are needed to rank "
                             f"({n1} relevant, {n0} irrelevant so far)")
            return plain
        from sklearn.svm import LinearSVC  # type: ignore[import-untyped]

        clf = LinearSVC(C=self.C, loss="squared_hinge", random_state=self.seed)
        Xl, yl = self.X[lab], y[lab]
        clf.fit(Xl, yl, sample_weight=balanced_weights(yl, self.ratio))
        self.coef_ = np.asarray(clf.coef_, dtype=float).ravel()
        self.intercept_ = float(np.ravel(clf.intercept_)[0])
        self.fallback = None
        return np.asarray(self.X @ self.coef_, dtype=float) + self.intercept_

    def order(self, scores: np.ndarray, candidates: Sequence[int] | np.ndarray | None = None
              ) -> np.ndarray:
        """Indices of ``candidates`` (default all records) by decreasing score; ties keep the
        input order (a stable sort: deterministic)."""
        idx = np.arange(self.n) if candidates is None else np.asarray(candidates, dtype=int)
        return idx[np.argsort(-scores[idx], kind="stable")]


# ----------------------------------------------------------------------------------------------
# Simulation on a labelled set (benchmarks, tests)
# ----------------------------------------------------------------------------------------------
def simulate(records: pd.DataFrame | Sequence[str], labels: Sequence[int] | np.ndarray,
             prior: Sequence[int], *, retrain_every: int = 1, stop_when_all_found: bool = True,
             C: float = DEFAULT_C, ratio: float = DEFAULT_RATIO, seed: int = 0,
             prioritiser: Prioritiser | None = None) -> np.ndarray:
    """Replay a screened set: the order in which prioritised screening would show the records.

    The ``prior`` records (indices) are screened first; then, repeatedly, the classifier is
    refitted on every label seen so far and the ``retrain_every`` top-scored unscreened records
    are screened (their labels revealed). With labels of one class only, the plain order is
    used (as ASReview does). Stops when every relevant record has been found (if
    ``stop_when_all_found``), else when all are screened.

    Returns
    -------
    ndarray of int
        Record indices in screening order, priors first.
    """
    y_true = np.asarray(labels, dtype=int)
    p = prioritiser if prioritiser is not None else Prioritiser(records, C=C, ratio=ratio,
                                                                  seed=seed)
    if len(y_true) != p.n:
        raise InputError(f"simulate: {len(y_true)} labels for {p.n} records; expected one each")
    y = np.full(p.n, np.nan)
    order = [int(i) for i in prior]
    y[order] = y_true[order]
    seen = np.zeros(p.n, dtype=bool)
    seen[order] = True
    total = int(y_true.sum())
    found = int(y_true[order].sum())
    step = max(1, int(retrain_every))
    while not seen.all() and not (stop_when_all_found and found >= total):
        scores = p.fit(y)
        pool = np.flatnonzero(~seen)
        nxt = p.order(scores, pool)[:step]
        for i in nxt:
            order.append(int(i))
            seen[i] = True
            y[i] = y_true[i]
            found += int(y_true[i])
            if stop_when_all_found and found >= total:
                break
    return np.asarray(order, dtype=int)


def screening_metrics(order: Sequence[int] | np.ndarray, labels: Sequence[int] | np.ndarray
                      ) -> dict[str, float]:
    """WSS@95, WSS@100 and recall after screening 10% and 20% of the records.

    ``order``: record indices in screening order (it may stop once all relevant records are
    found; the rest count as screened afterwards). With :math:`N` records, :math:`R` relevant and
    :math:`n_r` the number screened when :math:`\\lceil rR \\rceil` relevant records have been
    found, work saved over sampling is

    .. math::  \\mathrm{WSS@}r = \\frac{N - n_r}{N} - (1 - r)

    (Cohen et al. 2006 [3]_: (TN + FN)/N - (1 - recall)). Every screened record counts,
    prior ones too. Recall after :math:`q` of the records: relevant among the first
    :math:`\\lceil qN \\rceil` screened, over :math:`R`.
    """
    y = np.asarray(labels, dtype=int)
    n, r = len(y), int(y.sum())
    o = np.asarray(order, dtype=int)
    hits = np.cumsum(y[o])
    if r == 0 or not len(o) or hits[-1] < r:
        raise InputError(f"screening_metrics: the order finds {int(hits[-1]) if len(o) else 0} "
                         f"of {r} relevant records; expected an order that finds them all")
    out: dict[str, float] = {}
    for name, q in (("wss95", 0.95), ("wss100", 1.0)):
        need = math.ceil(q * r - 1e-9)
        pos = int(np.searchsorted(hits, need) + 1)  # records screened to reach `need`
        out[name] = (n - pos) / n - (1 - q)
    for name, q in (("recall10", 0.10), ("recall20", 0.20)):
        m = math.ceil(q * n - 1e-9)
        out[name] = float(hits[min(m, len(hits)) - 1]) / r if m else 0.0
    return out


# ----------------------------------------------------------------------------------------------
# buscar stopping criterion
# ----------------------------------------------------------------------------------------------
def buscar_k_tar(r_al: int, r_seen: int, target: float = 0.95) -> int:
    """Smallest number of relevant records the urn must have held for recall < ``target``:
    :math:`K_{tar} = \\lfloor r_{seen}/\\tau - r_{AL} + 1 \\rfloor` (Callaghan & Müller-Hansen
    2020 [2]_)."""
    return int(math.floor(r_seen / target - r_al + 1 + 1e-12))


def _check_target(target: float) -> None:
    if not 0 < target < 1:
        raise InputError(f"buscar: recall target {target}; expected a number in (0, 1)")


def buscar_pvalue(n_urn: int, n_sample: int, k_sample: int, r_ranked: int,
                  target: float = 0.95) -> float:
    """p-value for H0 "recall is below ``target``" from a random sample (buscar [2]_).

    Parameters
    ----------
    n_urn : int
        :math:`N`, the records not yet screened when random sampling began.
    n_sample : int
        :math:`n`, records drawn from them at random (without replacement) and screened.
    k_sample : int
        :math:`k`, relevant records among the sample.
    r_ranked : int
        :math:`r_{AL}`, relevant records found before sampling (ranked phase).
    target : float, default 0.95
        :math:`\\tau`, the recall target.

    Returns
    -------
    float
        :math:`p = P(X \\le k)`, :math:`X \\sim \\mathrm{Hypergeometric}(N, K_{tar}, n)`,
        :math:`K_{tar} = \\lfloor (r_{AL} + k)/\\tau - r_{AL} + 1 \\rfloor`; 0 when
        :math:`K_{tar}` relevant records cannot fit in the urn (H0 impossible).

    Examples
    --------
    20 relevant found in ranked order; 100 of the 1,000 remaining sampled, none relevant:
    :math:`K_{tar} = \\lfloor 20/0.95 - 20 + 1 \\rfloor = 2` and
    :math:`p = \\binom{998}{100} / \\binom{1000}{100} = (900 \\cdot 899)/(1000 \\cdot 999)`.

    >>> round(buscar_pvalue(1000, 100, 0, 20), 6)
    0.80991
    """
    from scipy.stats import hypergeom

    _check_target(target)
    if not (0 <= k_sample <= n_sample <= n_urn) or r_ranked < 0:
        raise InputError(f"buscar: urn {n_urn}, sample {n_sample}, relevant in sample "
                         f"{k_sample}, relevant before {r_ranked}; expected 0 <= k <= n <= N "
                         "and r >= 0")
    k_tar = buscar_k_tar(r_ranked, r_ranked + k_sample, target)
    if k_tar > n_urn:
        return 0.0
    return float(min(1.0, hypergeom.cdf(k_sample, n_urn, k_tar, n_sample)))


def buscar_pvalue_ranked(labels_in_order: Sequence[int] | np.ndarray, n_total: int,
                         target: float = 0.95) -> float | None:
    """buscar p-value treating the last screened records as the sample (the authors' package).

    For every :math:`n = 1, \\dots, n_{seen}`, the last :math:`n` records screened are taken as
    the sample from an urn of :math:`N_{total} - n_{seen} + n` records, with :math:`r_{AL}` the
    relevant records screened before them; the smallest :func:`buscar_pvalue` over :math:`n` is
    returned (None before any record is screened). Valid (conservative) when records screened
    in ranked order were at least as likely relevant as a random draw from the rest.
    """
    from scipy.stats import hypergeom

    _check_target(target)
    lab = np.asarray(labels_in_order, dtype=int)
    n_seen = len(lab)
    if n_seen == 0:
        return None
    if n_seen > n_total:
        raise InputError(f"buscar: {n_seen} screened of {n_total}; expected at most all")
    rev = lab[::-1]
    n_vec = np.arange(1, n_seen + 1)
    k_vec = np.cumsum(rev)
    r_seen = int(lab.sum())
    r_al = r_seen - k_vec
    urn = n_total - n_seen + n_vec
    k_tar = np.floor(r_seen / target - r_al + 1 + 1e-12).astype(int)
    p = np.where(k_tar > urn, 0.0, hypergeom.cdf(k_vec, urn, np.minimum(k_tar, urn), n_vec))
    return float(np.clip(p.min(), 0.0, 1.0))


def estimate_remaining(n_urn: int, n_sample: int, k_sample: int,
                       confidence: float = 0.95) -> tuple[float, int]:
    """Relevant records still unseen after a random sample of the urn: estimate and upper bound.

    Estimate :math:`\\hat K_{rest} = (k/n)(N - n)`; upper bound: the largest :math:`K` with
    :math:`P(X \\le k \\mid N, K, n) > 1 - c` (a one-sided exact hypergeometric bound at
    confidence :math:`c`) minus the :math:`k` already seen. With :math:`n = 0` the estimate is
    NaN and the bound is :math:`N`.
    """
    from scipy.stats import hypergeom

    if not (0 <= k_sample <= n_sample <= n_urn):
        raise InputError(f"estimate: urn {n_urn}, sample {n_sample}, relevant {k_sample}; "
                         "expected 0 <= k <= n <= N")
    if n_sample == 0:
        return float("nan"), int(n_urn)
    est = k_sample / n_sample * (n_urn - n_sample)
    ks = np.arange(k_sample, n_urn - (n_sample - k_sample) + 1)
    ok = ks[hypergeom.cdf(k_sample, n_urn, ks, n_sample) > 1 - confidence]
    upper = int(ok.max()) - k_sample if len(ok) else 0
    return float(est), upper


# ----------------------------------------------------------------------------------------------
# On a store
# ----------------------------------------------------------------------------------------------
@dataclass
class Ranking:
    """Unscreened records of a store in predicted-relevance order (:func:`rank`).

    ``records``: the queue's rows (columns of :meth:`Store.unique_records`) in the order to show,
    with a ``score`` column (higher = more likely relevant). ``method`` is "model" or "plain
    order"; ``note`` says why the plain order was kept. ``n_relevant``/``n_irrelevant``: the
    groups with decisions used for training. ``p_value``: :func:`buscar_pvalue_ranked` over the
    decisions at this stage in the order made (None before any); ``remaining``: estimated
    relevant records among those nobody has decided, at the rate of relevant records in the last
    ``window`` decisions (pessimistic while the ranking still finds relevant records faster than
    random order would).
    """

    records: pd.DataFrame
    method: str
    note: str | None
    n_relevant: int
    n_irrelevant: int
    p_value: float | None = None
    remaining: float | None = None
    target: float = 0.95
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def record_ids(self) -> list[str]:
        """Record ids in the order to show."""
        return [str(x) for x in self.records["record_id"]]


_CACHE: dict[tuple[str, str], Prioritiser] = {}
_CACHE_LOCK = threading.Lock()
_FIT_LOCK = threading.Lock()


def prioritiser_for(store: Any, records: pd.DataFrame | None = None, *, seed: int = 0
                    ) -> Prioritiser:
    """The :class:`Prioritiser` of ``store``'s unique records, cached per store.

    The TF-IDF features depend only on the records' texts; the cache key is the store's target
    and a hash of the representative record ids (a store only grows, records never change), so a
    new import or a merge of duplicates builds them again, and new decisions do not.
    """
    recs = store.unique_records() if records is None else records
    h = hashlib.sha256("\x1f".join(map(str, recs["record_id"])).encode()).hexdigest()
    key = (str(store.target), h)
    with _CACHE_LOCK:
        p = _CACHE.get(key)
        if p is not None and p.seed == seed:
            return p
    p = Prioritiser(recs, seed=seed)
    with _CACHE_LOCK:
        for k in [k for k in _CACHE if k[0] == key[0]]:
            del _CACHE[k]
        _CACHE[key] = p
    return p


def stage_labels(store: Any, stage: str) -> tuple[dict[str, int], list[str]]:
    """Training labels from the decisions at ``stage`` and the order they were made in.

    Per duplicate group: a resolution decides; otherwise relevant (1) when any reviewer's latest
    decision is include or maybe, else 0. Also returns the decided groups in the order of their
    first decision (their labels in that order feed :func:`buscar_pvalue_ranked`).
    """
    from evsynth.records.screening import latest_decisions

    lat = latest_decisions(store, stage)
    labels: dict[str, int] = {}
    first: dict[str, int] = {}
    if len(lat):
        res = lat[lat["kind"] == "resolution"]
        scr = lat[lat["kind"] == "screen"]
        for g, d in scr.groupby("group_id", sort=False):
            labels[str(g)] = int(d["decision"].isin(RELEVANT).any())
        for g, d in res.groupby("group_id", sort=False):
            labels[str(g)] = int(d.sort_values("decision_id")["decision"].iloc[-1] in RELEVANT)
        for g, did in zip(lat["group_id"], lat["decision_id"], strict=True):
            first[str(g)] = min(first.get(str(g), int(did)), int(did))
    return labels, sorted(first, key=first.__getitem__)


def rank(store: Any, stage: str = "title-abstract", reviewer: str | None = None,
         settings: ScreeningSettings | None = None, *, seed: int = 0, target: float = 0.95,
         window: int = 50) -> Ranking:
    """Rank the records still to screen at ``stage`` by predicted relevance.

    Parameters
    ----------
    store : Store
        The review's store.
    stage : {"title-abstract", "full-text"}
        Screening stage; training uses this stage's decisions (all reviewers).
    reviewer : str, optional
        Rank the records this reviewer has not decided
        (:func:`evsynth.records.screening.queue`); default: the eligible records nobody has
        decided yet.
    settings : ScreeningSettings, optional
        Screening settings (reviewers per record, for full-text eligibility).
    seed : int, default 0
        Classifier seed.
    target : float, default 0.95
        Recall target of the buscar p-value.
    window : int, default 50
        Decisions behind the estimate of relevant records remaining.

    Returns
    -------
    Ranking
    """
    from evsynth.records.screening import eligible_groups, queue

    check_stage(stage)
    _check_target(target)
    uniq = store.unique_records()
    labels, decided = stage_labels(store, stage)
    if reviewer is not None:
        todo = queue(store, stage, reviewer, settings)
    else:
        eligible = set(eligible_groups(store, stage, settings))
        todo = uniq[uniq["record_id"].map(lambda r: r in eligible and r not in labels)]
        todo = todo.reset_index(drop=True)
    seq = [labels[g] for g in decided]
    n1 = sum(labels.values())
    n0 = len(labels) - n1
    if stage == "full-text":  # learn from the records that reached full text
        eligible = set(eligible_groups(store, stage, settings))
        uniq = uniq[uniq["record_id"].isin(eligible)].reset_index(drop=True)
    p = prioritiser_for(store, uniq, seed=seed)
    with _FIT_LOCK:  # one shared Prioritiser per store: fit and read its fallback together
        scores = p.fit({g: v for g, v in labels.items() if g in p.index})
        fallback = p.fallback
    idx = np.asarray([p.index[r] for r in todo["record_id"]], dtype=int)
    out = todo.copy()
    out["score"] = scores[idx] if len(idx) else np.array([], dtype=float)
    out = out.iloc[np.argsort(-out["score"].to_numpy(), kind="stable")].reset_index(drop=True)
    n_total = max(len(uniq), len(seq))  # records eligible for the stage
    pval = buscar_pvalue_ranked(seq, n_total, target) if seq else None
    remaining = None
    if seq:  # at the rate of the last `window` decisions, over the records nobody decided
        last = seq[-window:]
        remaining = float(np.mean(last)) * max(n_total - len(seq), 0)
    return Ranking(records=out, method="model" if fallback is None else "plain order",
                   note=fallback, n_relevant=n1, n_irrelevant=n0, p_value=pval,
                   remaining=remaining, target=target)


# ----------------------------------------------------------------------------------------------
# The terminal screener in predicted-relevance order (``evsynth screen --prioritised``)
# ----------------------------------------------------------------------------------------------
def _screener_class() -> type:
    from evsynth.records.screener import DIM, Screener

    class PrioritisedScreener(Screener):
        """:class:`~evsynth.records.screener.Screener` showing the records most likely
        relevant first, refitting the ranking every ``retrain_every`` decisions of the session
        (the features are computed once). After each refit it prints how the order was made,
        the estimated relevant records remaining among the unscreened and the buscar p-value
        for "recall is below ``target``" (:func:`buscar_pvalue_ranked` over this stage's
        decisions in the order made)."""

        def __init__(self, *args: Any, retrain_every: int = 1, seed: int = 0,
                     target: float = 0.95, window: int = 50, **kw: Any) -> None:
            super().__init__(*args, **kw)
            if retrain_every < 1:
                raise InputError(f"--retrain-every {retrain_every}; expected 1 or more")
            _check_target(target)
            self.retrain_every, self.seed = int(retrain_every), int(seed)
            self.target, self.window = float(target), int(window)
            self.since = 0
            self.status = ""

        def arrange(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
            from evsynth.records.screening import eligible_groups

            uniq = self.store.unique_records()
            if self.stage == "full-text":
                eligible = set(eligible_groups(self.store, self.stage, self.settings))
                uniq = uniq[uniq["record_id"].isin(eligible)].reset_index(drop=True)
            self.prio = prioritiser_for(self.store, uniq, seed=self.seed)
            self.labels, self.decided_ids = stage_labels(self.store, self.stage)
            self.base = dict(self.labels)
            self.n_total = len(uniq)
            records = list(records)
            self._reorder(records, 0)
            return records

        def _reorder(self, records: list[dict[str, Any]], i: int) -> None:
            scores = self.prio.fit({g: v for g, v in self.labels.items()
                                    if g in self.prio.index})
            rest = records[i:]
            s = np.asarray([scores[self.prio.index[r["record_id"]]] for r in rest])
            records[i:] = [rest[j] for j in np.argsort(-s, kind="stable")]
            self.status = self._status(len(rest))

        def show(self, rec: dict[str, Any], position: int, total: int,
                 previous: Any = None) -> None:
            """The record, then the ranking's status line (below it: the screen may be
            cleared before each record)."""
            super().show(rec, position, total, previous)
            self._w(self._s(DIM, self.status))

        def _status(self, n_left: int) -> str:
            n1 = sum(self.labels.values())
            n0 = len(self.labels) - n1
            if self.prio.fallback is not None:
                head = f"prioritised: {self.prio.fallback}"
            else:
                head = (f"prioritised: ranked by relevance predicted from {n1} relevant and "
                        f"{n0} irrelevant decisions")
            parts = [head]
            seq = [self.labels[g] for g in self.decided_ids]
            n_found = int(np.sum(seq)) if seq else 0
            if seq:
                last = seq[-self.window:]
                est = float(np.mean(last)) * n_left
                parts.append(f"{n_found} relevant found; about {est:.1f} relevant remaining "
                             f"(at the rate of the last {len(last)} decisions; fewer while the "
                             "ranking works)")
                p = buscar_pvalue_ranked(seq, max(self.n_total, len(seq)), self.target)
                if p is not None and n_found:
                    parts.append(f"buscar p-value for recall < {self.target:.0%}: {p:.3g}"
                                 + (" (below 0.05: stopping is supported at 95% confidence)"
                                    if p < 0.05 else ""))
            return "; ".join(parts)

        def decided(self, records: list[dict[str, Any]], i: int, rec: dict[str, Any],
                    decision: str) -> None:
            rid = rec["record_id"]
            if rid not in self.labels:
                self.decided_ids.append(rid)
            self.labels[rid] = int(decision in RELEVANT) | self.base.get(rid, 0)
            self.since += 1
            if self.since >= self.retrain_every and i < len(records):
                self.since = 0
                self._reorder(records, i)

    return PrioritisedScreener


def prioritised_screener(*args: Any, **kw: Any) -> Any:
    """A screener in predicted-relevance order: ``Screener`` arguments plus
    ``retrain_every``, ``seed``, ``target``, ``window`` (see the class docstring)."""
    return _screener_class()(*args, **kw)
