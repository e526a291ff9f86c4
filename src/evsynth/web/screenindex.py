"""What the screening page needs, kept in memory and brought up to date incrementally.

The screening page and a decision need, for a stage and a reviewer: the eligible duplicate
groups in import order, the reviewer's own latest decisions (in decision order), the next
record to screen, the record before. Computing them from the store per request
(:func:`evsynth.records.screening.eligible_groups`, the whole decision history) takes seconds
at 200,000 records. :class:`ScreeningIndex` instead keeps

* the duplicate groups (representatives in import order, members of each group): invariant
  while the store's :meth:`~evsynth.records.store.Store.groups_version` stays the same,
  rebuilt when it changes (an import, a deduplication, a merge or split);
* per stage, the decisions seen so far, folded into what counts (the latest decision of each
  reviewer per group and kind, as :func:`evsynth.records.screening.latest_decisions`); each
  request fetches only the decisions with a larger ``decision_id`` (decisions are append-only;
  index ``(stage, decision_id)``). On SQLite writers are serialised, so ids become visible in
  order; elsewhere (PostgreSQL) a transaction may commit a smaller id after a larger one was
  seen, so the number of decisions up to the largest id seen is compared with the number seen
  and the stage is read again when they differ;
* the title-abstract outcome of each group with decisions (for the full-text stage's
  eligibility), as :func:`evsynth.records.screening.screening_table` decides it: a resolution
  settles, otherwise agreeing decisions of at least ``reviewers_required`` reviewers, a
  disagreement is a conflict.

The results are those of :func:`evsynth.web.views.screen_context`'s definitions (tests compare
them with the store-wide computations of :mod:`evsynth.records.screening`).

Blind screening (``blind=True``, a reviewer's view): at the full-text stage a reviewer reaches
only the groups that passed title-abstract *and* that the reviewer decided there; whether a
group the reviewer has not decided passed depends on the others' decisions, which the reviewer
must not learn. Such a group is answered exactly as one that did not pass.

Agreement (:meth:`ScreeningIndex.agreement_screens`) counts, per reviewer and group, the
decision that stood when the reviewer could first see the others' (the group had all its
required decisions, agreeing or in conflict, and the reviewer had decided it): a decision
changed afterwards (possible in the terminal screener, or in the web app before decisions
were locked) does not count; groups still pending count with the latest decisions.
"""

from __future__ import annotations

import bisect
import copy
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa

from evsynth.records.screening import decisions_visible
from evsynth.records.settings import STAGES, ScreeningSettings, check_stage
from evsynth.records.store import Store, T

V = TypeVar("V")

#: title-abstract outcomes that send a group on to the full-text stage
PASSING = ("include", "maybe")


@dataclass
class _Groups:
    version: int
    rep_of: dict[str, str]
    reps: list[str]
    pos: dict[str, int]
    members: dict[str, list[str]]  # only groups of two or more records


@dataclass
class _History:
    """One reviewer's latest own ("screen") decision per group at one stage."""

    latest: dict[str, tuple[int, str, str | None, str | None]] = field(default_factory=dict)
    ids: list[int] = field(default_factory=list)  # the latest decisions' ids, ascending
    group_of: dict[int, str] = field(default_factory=dict)
    hint: int = 0  # title-abstract: every representative before this index is decided

    def add(self, g: str, did: int, decision: str, reason: str | None, note: str | None) -> None:
        old = self.latest.get(g)
        if old is not None:
            i = bisect.bisect_left(self.ids, old[0])
            del self.ids[i]
            del self.group_of[old[0]]
        self.latest[g] = (did, decision, reason, note)
        self.ids.append(did)  # ids arrive in ascending order
        self.group_of[did] = g

    def before(self, g: str) -> str | None:
        """The group decided (latest) just before ``g``'s latest decision."""
        i = bisect.bisect_left(self.ids, self.latest[g][0])
        return self.group_of[self.ids[i - 1]] if i > 0 else None


@dataclass
class _StageLog:
    last_id: int = 0
    n_seen: int = 0
    mine: dict[str, _History] = field(default_factory=dict)
    # outcome inputs: group -> {reviewer: latest decision} (in the order of those decisions);
    # group -> latest resolution (decision, reason)
    screens: dict[str, dict[str, str]] = field(default_factory=dict)
    resolution: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    # group -> every screen decision (reviewer, decision, reason), in decision order
    seq: dict[str, list[tuple[str, str, str | None]]] = field(default_factory=dict)


class ScreeningIndex:
    """The screening state of one store (see the module docstring); thread-safe."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.lock = threading.Lock()
        self.groups: _Groups | None = None
        self.logs: dict[str, _StageLog] = {}
        self.passed: set[str] = set()  # groups whose title-abstract outcome passes
        self.passed_pos: list[int] = []  # their positions, ascending
        self.need: int | None = None  # reviewers_required the outcomes were computed with
        # the answers of _kept: (what, stage) -> (what they depend on, answer)
        self._answers: dict[tuple[str, str], tuple[tuple[Any, ...], Any]] = {}
        self.sqlite = store.engine.dialect.name == "sqlite"

    # ------------------------------------------------------------------ keeping up to date
    def _sync_groups(self) -> _Groups:
        v = self.store.groups_version()  # read before the groups: a change in between only
        if self.groups is not None and self.groups.version == v:  # makes a later rebuild
            return self.groups
        rep_of = self.store.duplicate_groups()
        reps = [r for r, g in rep_of.items() if r == g]
        members: dict[str, list[str]] = {}
        for r, g in rep_of.items():
            if r != g:
                members.setdefault(g, [g]).append(r)
        self.groups = _Groups(v, rep_of, reps, {r: i for i, r in enumerate(reps)}, members)
        self.logs = {}
        self.passed, self.passed_pos, self.need = set(), [], None
        return self.groups

    def _sync_stage(self, stage: str, need: int) -> _StageLog:
        assert self.groups is not None
        log = self.logs.get(stage)
        d = T["screening_decisions"]
        with self.store.engine.connect() as conn:
            if log is not None and not self.sqlite and log.last_id:
                n = conn.execute(sa.select(sa.func.count()).select_from(d).where(
                    d.c.stage == stage, d.c.decision_id <= log.last_id)).scalar()
                if n != log.n_seen:  # a smaller id committed late: read the stage again
                    log = None
            if log is None:
                log = self.logs[stage] = _StageLog()
                if stage == "title-abstract":
                    self.passed, self.passed_pos, self.need = set(), [], None
            rows = conn.execute(
                sa.select(d.c.decision_id, d.c.record_id, d.c.reviewer, d.c.kind, d.c.decision,
                          d.c.reason, d.c.note)
                .where(d.c.stage == stage, d.c.decision_id > log.last_id)
                .order_by(d.c.decision_id)).all()
        rep_of = self.groups.rep_of
        touched: set[str] = set()
        for did, rid, reviewer, kind, decision, reason, note in rows:
            g = rep_of.get(rid, rid)
            if kind == "screen":
                h = log.mine.get(reviewer)
                if h is None:
                    h = log.mine[reviewer] = _History()
                h.add(g, did, decision, reason, note)
                screens = log.screens.setdefault(g, {})
                screens.pop(reviewer, None)  # ordered by each reviewer's latest decision
                screens[reviewer] = decision
                log.seq.setdefault(g, []).append((reviewer, decision, reason))
            else:
                log.resolution[g] = (decision, reason)
            touched.add(g)
            log.last_id = did
        log.n_seen += len(rows)
        if stage == "title-abstract":
            if self.need != need:
                touched = set(log.screens) | set(log.resolution)
                self.passed, self.passed_pos, self.need = set(), [], need
            self._update_passed(log, touched, need)
        return log

    def _update_passed(self, log: _StageLog, groups: set[str], need: int) -> None:
        assert self.groups is not None
        pos = self.groups.pos
        for g in groups:
            ok = self._outcome(log, g, need) in PASSING and g in pos
            if ok and g not in self.passed:
                self.passed.add(g)
                bisect.insort(self.passed_pos, pos[g])
            elif not ok and g in self.passed:
                self.passed.discard(g)
                del self.passed_pos[bisect.bisect_left(self.passed_pos, pos[g])]

    @staticmethod
    def _row(log: _StageLog, stage: str, g: str, need: int) -> dict[str, Any]:
        """Group ``g``'s row of :func:`evsynth.records.screening.screening_table` (its
        :func:`~evsynth.records.screening.group_outcome`) from the decisions seen."""
        from evsynth.records.screening import group_outcome

        decisions = dict(log.screens.get(g, {}))
        reasons = {rv: log.mine[rv].latest[g][2] for rv in decisions}
        return group_outcome(g, stage, decisions, reasons, log.resolution.get(g), need)

    @staticmethod
    def _outcome(log: _StageLog, g: str, need: int) -> str | None:
        """The final title-abstract decision of group ``g`` (None: pending or conflict); the
        reasons do not change it at this stage."""
        from evsynth.records.screening import group_outcome

        row = group_outcome(g, "title-abstract", log.screens.get(g, {}), {},
                            log.resolution.get(g), need)
        final: str | None = row["final"]
        return final

    def _sync(self, stage: str, settings: ScreeningSettings) -> _StageLog:
        from evsynth.records.screening import reviewers_required

        check_stage(stage)
        need = reviewers_required(settings)
        self._sync_groups()
        if stage == "full-text":
            self._sync_stage("title-abstract", need)
        return self._sync_stage(stage, need)

    # ------------------------------------------------------------------ questions
    def _only(self, stage: str, reviewer: str, blind: bool) -> Mapping[str, Any] | None:
        """Blind full-text screening: the groups ``reviewer`` decided at title-abstract (only
        those of them that passed are the reviewer's to screen); None: no such restriction."""
        if stage == "title-abstract" or not blind:
            return None
        h = self.logs["title-abstract"].mine.get(reviewer)
        return {} if h is None else h.latest

    def _eligible(self, stage: str, g: str, only: Mapping[str, Any] | None = None) -> bool:
        assert self.groups is not None
        if stage == "title-abstract":
            return g in self.groups.pos
        return g in self.passed and (only is None or g in only)

    def _positions(self, stage: str, only: Mapping[str, Any] | None = None
                   ) -> range | list[int]:
        assert self.groups is not None
        if stage == "title-abstract":
            return range(len(self.groups.reps))
        if only is None:
            return self.passed_pos
        reps = self.groups.reps
        return [p for p in self.passed_pos if reps[p] in only]

    def _first_todo(self, stage: str, h: _History, after: int,
                    only: Mapping[str, Any] | None = None) -> str | None:
        """The first eligible representative at a position > ``after`` not decided in ``h``
        (title-abstract: starting at ``h.hint`` when that is later, and moving it on)."""
        assert self.groups is not None
        reps, seq = self.groups.reps, self._positions(stage, only)
        start = bisect.bisect_right(seq, after)
        from_hint = stage == "title-abstract" and start <= h.hint
        if from_hint:
            start = h.hint
        for k in range(start, len(seq)):
            g = reps[seq[k]]
            if g not in h.latest:
                if from_hint:
                    h.hint = k
                return g
        if from_hint:
            h.hint = len(seq)
        return None

    def is_eligible(self, settings: ScreeningSettings, stage: str, rid: str,
                    reviewer: str | None = None, blind: bool = False) -> bool:
        """Is ``rid`` a group (its representative) to screen at ``stage`` (by ``reviewer``,
        screening blind: module docstring)?"""
        with self.lock:
            self._sync(stage, settings)
            return self._eligible(stage, rid, self._only(stage, reviewer or "", blind))

    def outcome(self, settings: ScreeningSettings, stage: str, rid: str,
                reviewer: str | None = None) -> dict[str, Any] | None:
        """The outcome row of group ``rid`` at ``stage`` (:func:`~evsynth.records.screening.
        group_outcome`: ``status`` "pending", "conflict", "decided" or "resolved",
        ``n_decisions``, ...); None: ``rid`` is not eligible at ``stage``, or ``reviewer``
        (when given) has no decision on it there."""
        from evsynth.records.screening import reviewers_required

        need = reviewers_required(settings)
        with self.lock:
            log = self._sync(stage, settings)
            if not self._eligible(stage, rid):
                return None
            if reviewer is not None:
                h = log.mine.get(reviewer)
                if h is None or rid not in h.latest:
                    return None
            return self._row(log, stage, rid, need)

    def status(self, settings: ScreeningSettings, stage: str, rid: str,
               reviewer: str | None = None) -> str | None:
        """The outcome status of group ``rid`` at ``stage`` (:meth:`outcome`'s ``status``)."""
        row = self.outcome(settings, stage, rid, reviewer)
        return None if row is None else str(row["status"])

    def _first_ranked(self, stage: str, h: _History, ranked: Sequence[str], start: int,
                      skip: str | None, only: Mapping[str, Any] | None = None) -> str | None:
        """The first record of ``ranked`` from index ``start`` on that is eligible, not decided
        in ``h`` and not ``skip``."""
        for k in range(max(start, 0), len(ranked)):
            g = ranked[k]
            if g != skip and g not in h.latest and self._eligible(stage, g, only):
                return g
        return None

    @staticmethod
    def _version(groups: _Groups, h: _History, n_eligible: int) -> tuple[int, int, int, int]:
        """What a ranking trained on ``h`` depends on: the groups, the reviewer's latest
        decision id and count, the number of eligible records."""
        return (groups.version, h.ids[-1] if h.ids else 0, len(h.ids), n_eligible)

    def reviewer_snapshot(self, settings: ScreeningSettings, stage: str, reviewer: str,
                          blind: bool = False) -> dict[str, Any]:
        """What prioritised screening trains on for ``reviewer`` (:mod:`evsynth.web.ranking`):
        ``eligible`` (the stage's representatives, import order), ``labels`` (the reviewer's
        *own* latest decision per eligible group: 1 include or maybe, 0 exclude), ``order`` (those
        groups in the order of their latest decision) and ``version`` (as in :meth:`state`)."""
        from evsynth.records.prioritise import RELEVANT

        with self.lock:
            log = self._sync(stage, settings)
            groups = self.groups
            assert groups is not None
            h = log.mine.get(reviewer) or _History()
            only = self._only(stage, reviewer, blind)
            eligible = [groups.reps[i] for i in self._positions(stage, only)]
            order = [g for g in (h.group_of[d] for d in h.ids) if self._eligible(stage, g, only)]
            labels = {g: int(h.latest[g][1] in RELEVANT) for g in order}
            return dict(eligible=eligible, labels=labels, order=order,
                        version=self._version(groups, h, len(eligible)))

    def group_counts(self) -> tuple[int, int]:
        """(records, duplicate groups) of the store."""
        with self.lock:
            groups = self._sync_groups()
            return len(groups.rep_of), len(groups.reps)

    def _key(self, stage: str, need: int) -> tuple[Any, ...]:
        """What the answers about ``stage`` depend on: the groups, the number of reviewers
        required and the decisions seen at that stage (and at title-abstract, which decides
        the full-text stage's groups)."""
        assert self.groups is not None
        stages = ("title-abstract",) if stage == "title-abstract" else STAGES
        return (self.groups.version, need,
                tuple((self.logs[st].last_id, self.logs[st].n_seen) for st in stages))

    def _kept(self, what: str, settings: ScreeningSettings, stage: str,
              compute: Callable[[_StageLog, int], V]) -> V:
        """``compute(log, need)`` for ``stage`` (brought up to date first), under the lock;
        its answer is kept and given again while no decision, import or regrouping comes
        (:meth:`_key`)."""
        from evsynth.records.screening import reviewers_required

        need = reviewers_required(settings)
        with self.lock:
            log = self._sync(stage, settings)
            key = self._key(stage, need)
            hit = self._answers.get((what, stage))
            if hit is not None and hit[0] == key:  # nothing new since
                return hit[1]
            out = compute(log, need)
            self._answers[(what, stage)] = (key, out)
            return out

    def progress(self, settings: ScreeningSettings, stage: str) -> dict[str, Any]:
        """The progress of ``stage``: ``n`` (eligible groups), ``final`` (counts of the final
        decisions), ``pending``, ``conflicts`` and ``done`` (per reviewer with a decision at the
        stage: eligible groups decided), as :func:`evsynth.records.screening.screening_table`
        and :func:`~evsynth.records.screening.latest_decisions` give them; only the groups with
        decisions are looked at."""
        def compute(log: _StageLog, need: int) -> dict[str, Any]:
            n = len(self._positions(stage))
            final: dict[str, int] = {}
            settled = conflicts = 0
            for g in set(log.screens) | set(log.resolution):
                if not self._eligible(stage, g):
                    continue
                row = self._row(log, stage, g, need)
                if row["final"] is not None:
                    final[row["final"]] = final.get(row["final"], 0) + 1
                if row["status"] != "pending":
                    settled += 1
                conflicts += row["conflict"]
            done = {rv: sum(1 for g in h.latest if self._eligible(stage, g))
                    for rv, h in sorted(log.mine.items())}
            return dict(n=n, final=final, pending=n - settled, conflicts=conflicts, done=done)

        return copy.deepcopy(self._kept("progress", settings, stage, compute))

    def conflicts(self, settings: ScreeningSettings, stage: str) -> list[dict[str, Any]]:
        """The conflict rows of :func:`~evsynth.records.screening.screening_table` for
        ``stage`` (eligible groups whose reviewers disagree, unresolved), in import order. The
        rows are kept for the next call while no decision comes: read them, do not modify
        them."""
        def compute(log: _StageLog, need: int) -> list[dict[str, Any]]:
            assert self.groups is not None
            pos = self.groups.pos
            # a conflict needs two reviewers who differ (in the decision, or at full text in
            # the reason of an exclusion) and no resolution: the other groups are passed over
            found = [g for g, sc in log.screens.items() if len(sc) > 1
                     and (stage == "full-text" or len(set(sc.values())) > 1)
                     and g not in log.resolution and self._eligible(stage, g)]
            rows = [self._row(log, stage, g, need) for g in sorted(found, key=pos.__getitem__)]
            return [r for r in rows if r["conflict"]]

        return list(self._kept("conflicts", settings, stage, compute))

    def prisma_inputs(self, settings: ScreeningSettings) -> dict[str, Any]:
        """The arguments of :func:`evsynth.records.prisma.prisma_from_outcomes` but the store:
        the groups, and the outcome rows of the groups with decisions at each stage (import
        order), as :func:`~evsynth.records.screening.screening_table` gives them. The rows
        are kept for the next call while no decision comes: read them, do not modify them."""
        def compute(_: _StageLog, need: int) -> dict[str, Any]:  # both stages are in sync
            groups = self.groups
            assert groups is not None
            rows: dict[str, dict[str, dict[str, Any]]] = {}
            for stage in STAGES:
                log = self.logs[stage]
                seen = [g for g in set(log.screens) | set(log.resolution)
                        if self._eligible(stage, g)]
                rows[stage] = {g: self._row(log, stage, g, need)
                               for g in sorted(seen, key=groups.pos.__getitem__)}
            ta = rows["title-abstract"]
            return dict(n_groups=len(groups.reps),
                        members={g: list(m) for g, m in groups.members.items()},
                        n_screened=len(groups.reps),
                        ta_rows={g: r for g, r in ta.items() if r["status"] != "pending"},
                        sought_ids=[groups.reps[i] for i in self.passed_pos],
                        ft_rows=rows["full-text"])

        return dict(self._kept("prisma", settings, "full-text", compute))

    def reviewer_progress(self, settings: ScreeningSettings, stage: str, reviewer: str,
                          blind: bool = True) -> dict[str, Any]:
        """:meth:`progress` as ``reviewer`` may see it screening blind: ``n`` (the groups the
        reviewer may screen at ``stage``), and ``final``, ``pending``, ``conflicts`` and
        ``done`` over the groups the reviewer has decided there (nothing about the others)."""
        from evsynth.records.screening import reviewers_required

        need = reviewers_required(settings)
        with self.lock:
            log = self._sync(stage, settings)
            only = self._only(stage, reviewer, blind)
            h = log.mine.get(reviewer) or _History()
            mine = [g for g in h.latest if self._eligible(stage, g, only)]
            final: dict[str, int] = {}
            pending = conflicts = 0
            for g in mine:
                row = self._row(log, stage, g, need)
                if row["final"] is not None:
                    final[row["final"]] = final.get(row["final"], 0) + 1
                pending += row["status"] == "pending"
                conflicts += row["conflict"]
            return dict(n=len(self._positions(stage, only)), final=final, pending=pending,
                        conflicts=conflicts, done={reviewer: len(mine)} if mine else {})

    def agreement_screens(self, settings: ScreeningSettings, stage: str
                          ) -> dict[str, dict[str, str]]:
        """Per reviewer, the decision on each eligible group at ``stage`` that agreement
        counts (:func:`evsynth.records.agreement.agreement_table`'s input): the decision that
        stood when the reviewer could first see the others' (when the group first had all its
        required decisions or a conflict, or the reviewer's first decision after that); the
        latest one while the group is pending. Kept like :meth:`progress`."""
        from evsynth.records.screening import counted_decisions

        def compute(log: _StageLog, need: int) -> dict[str, dict[str, str]]:
            out: dict[str, dict[str, str]] = {}
            for g, seq in log.seq.items():
                if not self._eligible(stage, g):
                    continue
                for rv, d in counted_decisions(g, stage, seq, need).items():
                    out.setdefault(rv, {})[g] = d
            return out

        return copy.deepcopy(self._kept("agreement", settings, stage, compute))

    def latest_screens(self, settings: ScreeningSettings, stage: str
                       ) -> dict[str, dict[str, str]]:
        """Per reviewer, their latest own decision on every group at ``stage`` (in the order
        of those decisions), as :func:`~evsynth.records.screening.latest_decisions` with
        ``kind="screen"``: what :func:`evsynth.records.agreement.agreement_table` compares."""
        with self.lock:
            log = self._sync(stage, settings)
            return {rv: {h.group_of[d]: h.latest[h.group_of[d]][1] for d in h.ids}
                    for rv, h in log.mine.items()}

    def state(self, settings: ScreeningSettings, stage: str, reviewer: str, rid: str | None,
              after: str | None, ranked: Sequence[str] | None = None,
              ranked_pos: Mapping[str, int] | None = None, blind: bool = False
              ) -> dict[str, Any] | None:
        """The screening page's navigation for ``reviewer``: ``current`` (``rid``, else the
        first undecided eligible record after ``after``, else the first undecided one),
        ``mine`` (the reviewer's decision on it), ``back``, ``next``, ``n_eligible``,
        ``n_done``, ``n_todo``, ``members`` (of the current group) and ``version`` (of the
        reviewer's decisions, for :mod:`evsynth.web.ranking`). None: ``rid`` is not eligible at
        ``stage``.

        With ``ranked`` (record ids, most likely relevant first; ``ranked_pos`` their
        positions), the current record (without ``rid``) is the first undecided eligible one of
        ``ranked`` and ``next`` the first after the current one there; the plain order serves
        when ``ranked`` has none left (e.g. records added since it was computed).

        ``blind``: the reviewer screens blind (module docstring); ``locked``: the reviewer's
        decision on the current record is final (the record has all its required decisions, or
        a conflict, or a resolution)."""
        from evsynth.records.screening import reviewers_required

        need = reviewers_required(settings)
        with self.lock:
            log = self._sync(stage, settings)
            groups = self.groups
            assert groups is not None
            h = log.mine.get(reviewer) or _History()
            only = self._only(stage, reviewer, blind)
            if stage == "title-abstract":
                n_eligible, n_done = len(groups.reps), len(h.latest)
            else:
                n_eligible = len(self.passed) if only is None else \
                    sum(1 for g in self.passed if g in only)
                n_done = sum(1 for g in h.latest if self._eligible(stage, g, only))
            current: str | None = None
            if rid is not None:
                if not self._eligible(stage, rid, only):
                    return None
                current = rid
            else:
                if ranked is not None:
                    current = self._first_ranked(stage, h, ranked, 0, None, only)
                if current is None and after is not None and self._eligible(stage, after,
                                                                            only):
                    current = self._first_todo(stage, h, groups.pos[after], only)
                if current is None:
                    current = self._first_todo(stage, h, -1, only)
            back: str | None = None
            if current is not None and current in h.latest:
                back = h.before(current)
                if back is not None and only is not None and not self._eligible(stage, back,
                                                                                 only):
                    back = None
            else:
                for did in reversed(h.ids):
                    g = h.group_of[did]
                    if self._eligible(stage, g, only):
                        back = g
                        break
            nxt = None
            if current is not None and ranked is not None:
                start = (ranked_pos or {}).get(current, -1) + 1
                nxt = self._first_ranked(stage, h, ranked, start, current, only)
            if nxt is None and current is not None:
                nxt = self._first_todo(stage, h, groups.pos[current], only)
            m = h.latest.get(current) if current is not None else None
            locked = m is not None and current is not None and \
                decisions_visible(self._row(log, stage, current, need))
            return dict(current=current, back=back, next=nxt, n_eligible=n_eligible,
                        n_done=n_done, n_todo=n_eligible - n_done, locked=locked,
                        mine=None if m is None else dict(decision=m[1], reason=m[2], note=m[3]),
                        members=[] if current is None else groups.members.get(current,
                                                                              [current]),
                        version=self._version(groups, h, n_eligible))


_INDEXES: weakref.WeakKeyDictionary[Store, ScreeningIndex] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def one_per_store(registry: weakref.WeakKeyDictionary[Store, V], store: Store,
                  make: Callable[[Store], V]) -> V:
    """``registry``'s object for ``store``, made by ``make(store)`` the first time (thread-safe;
    forgotten with the Store object)."""
    with _LOCK:
        obj = registry.get(store)
        if obj is None:
            obj = registry[store] = make(store)
        return obj


def screening_index(store: Store) -> ScreeningIndex:
    """The :class:`ScreeningIndex` of ``store`` (one per Store object)."""
    return one_per_store(_INDEXES, store, ScreeningIndex)
