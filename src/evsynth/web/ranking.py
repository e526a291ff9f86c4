"""Prioritised screening in the web app: per reviewer and stage, the records still to screen in
order of predicted relevance, trained in the background, and the stopping aid.

Training data (blind dual screening)
------------------------------------
A reviewer's ranking is trained on **that reviewer's own decisions only**: their latest own
("screen") decision per duplicate group at the stage (include or maybe = relevant, exclude =
irrelevant). No other reviewer's decision is used, resolved or not, and no conflict resolution
either, so neither the order of the records nor the status panel can tell a reviewer anything
about another reviewer's decisions. (The terminal screener, :func:`evsynth.records.prioritise.rank`,
pools the decisions of all reviewers; in the web app reviewers screen blind, so it does not.)

Model and features are those of :class:`evsynth.records.prioritise.Prioritiser` (TF-IDF of the
records' texts, computed once per set of duplicate groups from all records and no decision; a
linear SVM refitted to the reviewer's decisions).

Keeping the screening page fast
-------------------------------
Nothing is trained while a page is served. :class:`RankingCache` (one per store) keeps, per
``(stage, reviewer)``, the last ranking with the *version* of the reviewer's decisions it was
trained on (:meth:`evsynth.web.screenindex.ScreeningIndex.state`: the groups' version, the
reviewer's latest decision id and count, the number of eligible records). A page whose version
differs starts a training run in a background thread (at most one per reviewer and stage at a
time; one at a time per store) and is served from the ranking it has: the ranking follows the
decisions with a lag of a request or two. Until the first ranking of a reviewer is ready, and
while the reviewer's decisions are all of one kind (nothing to learn from), the records come in
the plain order and the status panel says so.

Stopping aid
------------
``remaining``: the rate of relevant records among the reviewer's last ``WINDOW`` decisions times
the records the reviewer has still to screen (an overestimate while the ranking still finds
relevant records faster than a random order would). ``p_value``: the buscar p-value for
"recall is below 95%" (:func:`evsynth.records.prioritise.buscar_pvalue_ranked`: the last records
the reviewer screened taken as a sample of the records not yet seen; conservative when they were
screened in ranked or random order) [1]_; shown once the reviewer has found a relevant record.

.. [1] Callaghan MW, Müller-Hansen F (2020). Statistical stopping criteria for automated
       screening in systematic reviews. *Syst Rev* 9:273. doi:10.1186/s13643-020-01521-4
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evsynth.records.settings import ScreeningSettings
from evsynth.records.store import Store

#: decisions behind the estimate of relevant records remaining
WINDOW = 50
#: recall target of the buscar p-value
TARGET = 0.95
#: the orders of the screening page (the first is the default)
ORDERS = ("plain", "prioritised")
REFERENCE = ("Callaghan MW, Müller-Hansen F (2020). Statistical stopping criteria for automated "
             "screening in systematic reviews. Syst Rev 9:273.")
DOI = "10.1186/s13643-020-01521-4"

log = logging.getLogger(__name__)


@dataclass
class Ranking:
    """One reviewer's ranking at one stage, and the status panel's numbers."""

    version: tuple[int, ...]
    #: undecided eligible records, most likely relevant first; None: the plain order
    ranked: list[str] | None
    note: str | None  # why the plain order (None: ranked by the model)
    n_relevant: int
    n_irrelevant: int
    n_todo: int
    remaining: float | None
    p_value: float | None
    window: int
    target: float = TARGET
    pos: dict[str, int] = field(default_factory=dict)


class RankingCache:
    """Rankings of one store's reviewers, trained in background threads (module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.lock = threading.Lock()
        self.train_lock = threading.Lock()
        self.rankings: dict[tuple[str, str], Ranking] = {}
        self.running: dict[tuple[str, str], threading.Thread] = {}
        self._prio: tuple[int, Any] | None = None

    def get(self, stage: str, reviewer: str) -> Ranking | None:
        """The last ranking of ``reviewer`` at ``stage`` (None: none trained yet)."""
        with self.lock:
            return self.rankings.get((stage, reviewer))

    def refresh(self, settings: ScreeningSettings, stage: str, reviewer: str,
                version: tuple[int, ...], blind: bool = False) -> bool:
        """Start a background training run unless the ranking is of ``version`` or a run is
        under way. True: a run was started. ``blind``: the reviewer screens blind (at full
        text only the records they passed themselves, :mod:`evsynth.web.screenindex`)."""
        key = (stage, reviewer)
        with self.lock:
            r = self.rankings.get(key)
            if (r is not None and r.version == version) or key in self.running:
                return False
            t = threading.Thread(target=self._run, args=(settings, stage, reviewer, blind),
                                 name=f"evsynth-ranking-{stage}-{reviewer}", daemon=True)
            self.running[key] = t
        t.start()
        return True

    def wait(self, timeout: float = 60.0) -> None:
        """Wait for the training runs under way (tests, benchmarks)."""
        with self.lock:
            threads = list(self.running.values())
        for t in threads:
            t.join(timeout)

    # ------------------------------------------------------------------ training
    def _run(self, settings: ScreeningSettings, stage: str, reviewer: str,
             blind: bool = False) -> None:
        key = (stage, reviewer)
        try:
            with self.train_lock:
                r = self.train(settings, stage, reviewer, blind)
            with self.lock:
                self.rankings[key] = r
        except Exception as exc:  # the page keeps the plain order; the next page tries again
            # one line, no traceback: a failed run (e.g. the store changing under it) is
            # harmless, and the server log is no place for a stack per page view
            log.warning("prioritised screening: training failed for %s at %s (%s: %s); "
                        "the plain order serves until the next run", reviewer, stage,
                        type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")
        finally:
            with self.lock:
                self.running.pop(key, None)

    def _prioritiser(self, groups_version: int) -> Any:
        """The TF-IDF features of the store's unique records (rebuilt when the groups change)."""
        from evsynth.records.prioritise import Prioritiser

        if self._prio is None or self._prio[0] != groups_version:
            self._prio = None  # free the old features first
            self._prio = (groups_version, Prioritiser(self.store.unique_records()))
        return self._prio[1]

    def train(self, settings: ScreeningSettings, stage: str, reviewer: str,
              blind: bool = False) -> Ranking:
        """Train ``reviewer``'s ranking at ``stage`` now (in the calling thread) on the
        reviewer's own decisions (module docstring)."""
        from evsynth.records.prioritise import buscar_pvalue_ranked
        from evsynth.web.screenindex import screening_index

        snap = screening_index(self.store).reviewer_snapshot(settings, stage, reviewer, blind)
        labels: dict[str, int] = snap["labels"]
        eligible: list[str] = snap["eligible"]
        p = self._prioritiser(snap["version"][0])
        scores = p.fit({g: v for g, v in labels.items() if g in p.index})
        todo = [g for g in eligible if g not in labels]
        ranked: list[str] | None = None
        if p.fallback is None:
            known = [g for g in todo if g in p.index]
            idx = np.asarray([p.index[g] for g in known], dtype=int)
            order = np.argsort(-scores[idx], kind="stable") if len(idx) else idx
            ranked = [known[i] for i in order]
        seq = [labels[g] for g in snap["order"]]
        n1 = int(sum(seq))
        last = seq[-WINDOW:]
        remaining = float(np.mean(last)) * len(todo) if last else None
        pval = (buscar_pvalue_ranked(seq, max(len(eligible), len(seq)), TARGET)
                if n1 else None)
        return Ranking(version=snap["version"], ranked=ranked, note=p.fallback,
                       n_relevant=n1, n_irrelevant=len(seq) - n1, n_todo=len(todo),
                       remaining=remaining, p_value=pval, window=len(last),
                       pos={} if ranked is None else {g: i for i, g in enumerate(ranked)})


_CACHES: weakref.WeakKeyDictionary[Store, RankingCache] = weakref.WeakKeyDictionary()


def ranking_cache(store: Store) -> RankingCache:
    """The :class:`RankingCache` of ``store`` (one per Store object)."""
    from evsynth.web.screenindex import one_per_store

    return one_per_store(_CACHES, store, RankingCache)


def status(r: Ranking | None, version: tuple[int, ...]) -> dict[str, Any]:
    """The status panel's content (plain values; the template escapes them)."""
    if r is None:
        return dict(ready=False, current=False)
    p = r.p_value
    return dict(ready=True, current=r.version == version, ranked=r.ranked is not None,
                note=None if r.note is None else r.note.removeprefix("plain order: "),
                n_relevant=r.n_relevant, n_irrelevant=r.n_irrelevant,
                n_decided=r.n_relevant + r.n_irrelevant, n_todo=r.n_todo,
                remaining=None if r.remaining is None else f"{r.remaining:.1f}",
                window=r.window, target=f"{r.target:.0%}",
                p_value=None if p is None else f"{p:.3g}",
                stop=p is not None and p < 0.05, reference=REFERENCE, doi=DOI)
