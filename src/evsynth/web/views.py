"""What the web pages show and do, apart from HTTP: plain functions of the store and the
review settings (testable without a server). The screening logic is that of
:mod:`evsynth.records.screening`, so the web app, the terminal screener, the CLI, the PRISMA
diagram and the report read and write the same decisions."""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
import warnings
import weakref
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from evsynth.errors import InputError
from evsynth.files import atomic_write, inside_folder
from evsynth.records.settings import STAGES, ScreeningSettings, check_stage
from evsynth.records.store import ImportBatch, Store, T
from evsynth.web.accounts import User
from evsynth.web.screenindex import screening_index

#: folder (inside the review folder) where uploaded exports are kept
UPLOAD_DIR = "uploads"
#: export formats offered on the upload form (evsynth.records.read's)
FORMATS = ("ris", "medline", "pubmed_xml", "wos", "bibtex", "csv", "endnote_xml", "ovid")


def safe_file_name(name: str) -> str:
    """The last component of an uploaded file's name, reduced to letters, digits and
    ``. _ -`` (no path, no leading dot), at most 100 characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")[:100]
    return base or "upload"


# ----------------------------------------------------------------------------- overview
def overview(store: Store, settings: ScreeningSettings, user: User) -> dict[str, Any]:
    """Counts for the home page (no per-record decisions of other reviewers), from the
    store's screening index (:mod:`evsynth.web.screenindex`: the store-wide computation took
    10 s at 200,000 records)."""
    idx = screening_index(store)
    n, n_groups = idx.group_counts()
    mine = {}
    for stage in STAGES:
        if blind(user):  # the full-text count must not tell what the others passed
            p = idx.reviewer_progress(settings, stage, user.username)
        else:
            p = idx.progress(settings, stage)
        mine[stage] = dict(eligible=p["n"], done=p["done"].get(user.username, 0))
    return dict(n_records=n, n_unique=n_groups, n_imports=len(store.imports()),
                n_uncertain=len(store.uncertain_pairs()), mine=mine)


def records_overview(store: Store, review_dir: Path) -> dict[str, Any]:
    """Import batches and deduplication status for the records page."""
    from evsynth.cli.records import dedup_status
    from evsynth.records.settings import read_searches

    imp = store.imports()
    rows = [dict(file=Path(str(r["file"])).name, database=r["database"], kind=r["kind"],
                 source_format=r["source_format"], n_records=int(r["n_records"]),
                 imported_at=r["imported_at"]) for r in imp.to_dict("records")]
    n, n_unique = screening_index(store).group_counts()
    try:
        databases = sorted({s.database for s in read_searches(review_dir)})
    except InputError:
        databases = []
    return dict(imports=rows, n_records=n, n_unique=n_unique,
                dedup=dedup_status(n, len(store.undeduplicated())),
                n_uncertain=len(store.uncertain_pairs()), formats=FORMATS,
                databases=databases)


# ----------------------------------------------------------------------------- import
def import_uploads(store: Store, review_dir: Path, files: list[tuple[str, IO[bytes]]],
                   database: str, kind: str, fmt: str | None, max_bytes: int
                   ) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Store uploaded export files as ``REVIEW_DIR/uploads/<sha256 prefix>/<name>`` and import
    them all in one transaction, as ``evsynth records import`` does: every file is read first
    and nothing is stored if one fails. Returns ``(results, problems, errors)``: per-file
    counts, malformed-record warnings and error messages naming the uploaded file."""
    from evsynth.records import read

    results: list[dict[str, Any]] = []
    problems: list[str] = []
    errors: list[str] = []
    batches: list[ImportBatch] = []
    created: list[Path] = []
    names: list[str] = []
    for original, fh in files:
        name = safe_file_name(original)
        data = fh.read(max_bytes + 1)
        if len(data) > max_bytes:
            errors.append(f"{original}: larger than {max_bytes} bytes; expected a smaller "
                          "export file")
            continue
        sha = hashlib.sha256(data).hexdigest()
        rel = f"{UPLOAD_DIR}/{sha[:16]}/{name}"
        dest = inside_folder(review_dir, rel, "upload")
        if not dest.exists():
            atomic_write(dest, data)
            created.append(dest)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                df = read(dest, fmt, database=database)
        except InputError as exc:
            errors.append(str(exc).replace(str(dest), original))
            continue
        for p in df.attrs.get("problems", []) or []:
            if isinstance(p, dict):
                problems.append(f"{original}, line {p.get('line')}: {p.get('message')} "
                                "(record skipped or repaired)")
            else:
                problems.append(str(p))
        batches.append(ImportBatch(df, rel, database, kind, sha256=sha))
        names.append(original)
    if errors:
        for d in created:  # nothing stored: remove this request's new files again
            shutil.rmtree(d.parent, ignore_errors=True)
        return results, problems, errors
    try:
        stored = store.add_imports(batches)
    except InputError as exc:
        for d in created:
            shutil.rmtree(d.parent, ignore_errors=True)
        return results, problems, [str(exc)]
    for original, r in zip(names, stored, strict=True):
        results.append(dict(file=original, n_records=r.n_records, database=r.database,
                            new=r.new))
    return results, problems, errors


def run_dedup(store: Store) -> str:
    """Automatic deduplication of the whole store, as ``evsynth records dedup``."""
    from evsynth.records.dedup import deduplicate_store

    if store.n_records() == 0:
        raise InputError("the store holds no records; expected an upload first")
    return deduplicate_store(store)


# ----------------------------------------------------------------------------- duplicates
RECORD_FIELDS = ("title", "authors", "year", "journal", "volume", "issue", "pages", "doi",
                 "pmid", "source_database", "abstract")


def _display(rec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in RECORD_FIELDS:
        v = rec.get(k)
        if isinstance(v, list):
            v = "; ".join(str(x) for x in v)
        if v is None or (isinstance(v, float) and v != v):
            v = ""
        out[k] = str(v)
    out["record_id"] = rec["record_id"]
    return out


def _manual_ids(store: Store) -> set[str]:
    d = T["duplicates"]
    with store.engine.connect() as conn:
        return set(conn.execute(sa.select(d.c.record_id).where(d.c.method == "manual"))
                   .scalars())


def duplicate_pairs(store: Store) -> dict[str, Any]:
    """Uncertain pairs with both records side by side; a pair is decided once both records
    carry a manual duplicate decision (merged: same group; kept apart: different groups)."""
    pairs = store.uncertain_pairs()
    ids = [*pairs["record_id_a"], *pairs["record_id_b"]] if len(pairs) else []
    recs = {r["record_id"]: r for r in store.records(ids).to_dict("records")} if ids else {}
    groups = store.duplicate_groups()
    manual = _manual_ids(store)
    pending: list[dict[str, Any]] = []
    decided: list[dict[str, Any]] = []
    for p in pairs.to_dict("records"):
        a, b = p["record_id_a"], p["record_id_b"]
        if a not in recs or b not in recs:
            continue
        item = dict(a=_display(recs[a]), b=_display(recs[b]),
                    score=None if p["score"] is None else float(p["score"]), reason=p["reason"],
                    same=groups[a] == groups[b])
        (decided if a in manual and b in manual else pending).append(item)
    return dict(pending=pending, decided=decided, fields=RECORD_FIELDS)


def keep_apart(store: Store, a: str, b: str, by: str) -> None:
    """Declare the records ``a`` and ``b`` (with their current groups) different references:
    two manual groups, which later automatic runs keep."""
    store.check_record_ids([a, b], "keep apart: ")
    groups = store.duplicate_groups()
    if groups[a] == groups[b]:
        ga = {r: 0 for r, g in groups.items() if g == groups[a] and r != b}
        gb = {b: 1}
    else:
        ga = {r: 0 for r, g in groups.items() if g == groups[a]}
        gb = {r: 1 for r, g in groups.items() if g == groups[b]}
    store.set_duplicate_groups({**ga, **gb}, method="manual", decided_by=by)


# ----------------------------------------------------------------------------- screening
def highlight_segments(text: str, include: re.Pattern[str] | None,
                       exclude: re.Pattern[str] | None) -> list[tuple[str, str]]:
    """``text`` cut into ``(kind, piece)`` with kind "" (plain), "include" or "exclude" (a
    match of the inclusion or exclusion terms); the template escapes every piece."""
    spans: list[tuple[int, int, str]] = []
    for pat, kind in ((include, "include"), (exclude, "exclude")):
        if pat is None:
            continue
        spans += [(m.start(), m.end(), kind) for m in pat.finditer(text) if m.end() > m.start()]
    spans.sort()
    out: list[tuple[str, str]] = []
    pos = 0
    for s, e, kind in spans:
        if s < pos:
            continue
        if s > pos:
            out.append(("", text[pos:s]))
        out.append((kind, text[s:e]))
        pos = e
    if pos < len(text):
        out.append(("", text[pos:]))
    return out


def blind(user: User) -> bool:
    """Does ``user`` screen blind (role reviewer: sees others' decisions only on records they
    decided themselves; owners and viewers see everything)?"""
    return user.role == "reviewer"


class DecisionLocked(InputError):
    """A reviewer's decision on a record that has all its required decisions (HTTP 409)."""


def _check_reviewer(settings: ScreeningSettings, user: User) -> None:
    if settings.reviewers and user.username not in settings.reviewers:
        raise InputError(f"user {user.username!r} is not one of the reviewers in review.toml "
                         f"[screening] {list(settings.reviewers)}; expected the owner to add "
                         "the name there")


def screen_context(store: Store, settings: ScreeningSettings, stage: str, user: User,
                   rid: str | None, after: str | None, review_dir: Path,
                   order: str = "plain") -> dict[str, Any] | None:
    """Everything the screening page shows: the record (``rid``, else the first record of
    the user's queue after ``after``, else the first), the user's own decision on it, the
    neighbours for back/next, progress and the stage's exclusion reasons. None: ``rid`` is
    not a record to screen at this stage.

    ``order="prioritised"``: the next record comes from the user's ranking by predicted
    relevance (:mod:`evsynth.web.ranking`, trained in the background on the user's own
    decisions only; the plain order until it is ready), and ``prio`` holds the status panel's
    numbers."""
    from evsynth.records.screener import highlight_pattern
    from evsynth.web import ranking

    check_stage(stage)
    if order not in ranking.ORDERS:
        raise InputError(f"order {order!r}; expected one of {list(ranking.ORDERS)}")
    prio: dict[str, Any] | None = None
    if order == "prioritised":
        cache = ranking.ranking_cache(store)
        rk = cache.get(stage, user.username)
        nav = screening_index(store).state(
            settings, stage, user.username, rid, after,
            ranked=None if rk is None else rk.ranked, ranked_pos=None if rk is None else rk.pos,
            blind=blind(user))
        if nav is None:
            return None
        cache.refresh(settings, stage, user.username, nav["version"], blind=blind(user))
        prio = ranking.status(rk, nav["version"])
    else:
        nav = screening_index(store).state(settings, stage, user.username, rid, after,
                                           blind=blind(user))
    if nav is None:
        return None
    current: str | None = nav["current"]
    record = None
    fulltexts: list[dict[str, Any]] = []
    if current is not None:
        r = T["records"]
        with store.engine.connect() as conn:
            row = conn.execute(sa.select(r).where(r.c.record_id == current)).mappings().first()
        assert row is not None
        from evsynth.records.store import _from_db

        rec = {k: _from_db(k, v) if k in ("authors", "keywords") else v for k, v in row.items()}
        record = _display(rec)
        record["keywords"] = "; ".join(rec.get("keywords") or [])
        inc = highlight_pattern(settings.highlight_terms)
        exc = highlight_pattern(settings.highlight_exclusion_terms)
        record["title_parts"] = highlight_segments(record["title"], inc, exc)
        record["abstract_parts"] = highlight_segments(record["abstract"], inc, exc)
        members = nav["members"]
        record["n_duplicates"] = len(members) - 1
        f = T["fulltexts"]
        with store.engine.connect() as conn:
            frows = conn.execute(sa.select(f).where(f.c.record_id.in_(members))
                                 .order_by(f.c.id.desc())).mappings().all()
        fulltexts = [dict(name=Path(x["file"]).name, size=x["size"],
                          uploaded_by=x["uploaded_by"], uploaded_at=x["uploaded_at"])
                     for x in frows]
    return dict(stage=stage, record=record, mine=nav["mine"], locked=nav["locked"],
                order=order, prio=prio,
                reasons=settings.reasons(stage), back=nav["back"], next=nav["next"],
                n_eligible=nav["n_eligible"], n_done=nav["n_done"], n_todo=nav["n_todo"],
                fulltexts=fulltexts,
                can_screen=user.can_screen and (not settings.reviewers
                                                or user.username in settings.reviewers),
                in_reviewers=not settings.reviewers or user.username in settings.reviewers)


_DECIDE_LOCKS: weakref.WeakKeyDictionary[Store, threading.Lock] = weakref.WeakKeyDictionary()


def _decide_lock(store: Store) -> threading.Lock:
    from evsynth.web.screenindex import one_per_store

    return one_per_store(_DECIDE_LOCKS, store, lambda _s: threading.Lock())


def check_screenable(store: Store, settings: ScreeningSettings, stage: str, user: User,
                     rid: str) -> None:
    """InputError unless ``user`` is one of review.toml's reviewers and ``rid`` is a record
    ``user`` may screen at ``stage`` (blind: at full text only records the user decided at
    title-abstract; a record that did not pass and one the user may not know about get the
    same answer)."""
    check_stage(stage)
    _check_reviewer(settings, user)
    if not screening_index(store).is_eligible(settings, stage, rid, user.username,
                                              blind(user)):
        raise InputError(f"record {rid!r} is not to be screened at the {stage} stage"
                         + (" by you" if stage == "full-text" and blind(user) else ""))


def decide(store: Store, settings: ScreeningSettings, stage: str, user: User, rid: str,
           decision: str, reason: str | None, note: str | None) -> None:
    """Record ``user``'s decision (committed before returning): checked against the stage's
    eligible records (:func:`check_screenable`) and review.toml's reasons and reviewers.

    A decision can be changed while the record waits for other reviewers' decisions; once it
    has all its required decisions (agreed by two or more reviewers, or in conflict) or a
    resolution, the reviewer's decision is final (:class:`DecisionLocked`; a change goes
    through the owner's conflict resolution): the reviewer may now see the others' decisions,
    so a change would no longer be independent
    (:func:`evsynth.records.screening.decisions_visible`). Under single screening the one
    decision that settles a record stays the reviewer's to change."""
    from evsynth.records.screening import decisions_visible, record_decision

    if decision != "exclude":
        reason = None
    with _decide_lock(store):  # the check and the decision, one at a time (this process)
        check_screenable(store, settings, stage, user, rid)
        row = screening_index(store).outcome(settings, stage, rid, user.username)
        if row is not None and decisions_visible(row):
            raise DecisionLocked(
                f"your {stage} decision on record {rid!r} is final: the record has all the "
                "decisions it needs (agreed, in conflict or resolved), so it can no longer be "
                "changed here; ask the review owner to settle it on the conflicts page")
        record_decision(store, rid, stage, decision, user.username, reason,
                        settings=settings, note=note, source="web")


#: outcome statuses of a record that the owner may resolve
RESOLVABLE = ("conflict", "decided", "resolved")


def check_resolvable(store: Store, settings: ScreeningSettings, stage: str, rid: str) -> None:
    """InputError unless ``rid`` is eligible at ``stage`` and has all its required decisions
    there (in conflict; or agreed, or resolved before, when the owner overrides the outcome,
    e.g. for a reviewer whose decision is final): a resolution of a record still waiting for
    its screeners (or not at the stage at all) would settle it before anyone screened it."""
    check_stage(stage)
    status = screening_index(store).status(settings, stage, rid)
    if status is None:
        raise InputError(f"record {rid!r} is not at the {stage} stage; expected a record in "
                         "conflict there")
    if status not in RESOLVABLE:
        raise InputError(f"record {rid!r} is still waiting for its reviewers' {stage} "
                         "decisions; expected a record in conflict (a resolution settles a "
                         "conflict, it does not replace screening)")


def _number(x: Any) -> float | None:
    """A finite float, else None (the template prints None as "-" or "undefined")."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if v == v and v not in (float("inf"), float("-inf")) else None


def progress(store: Store, settings: ScreeningSettings, user: User | None = None
             ) -> dict[str, Any]:
    """Per stage: outcome counts, records decided per reviewer, agreement (percent and Cohen's
    kappa of each pair of reviewers, :func:`evsynth.records.agreement.agreement_table`, on the
    decisions of :meth:`~evsynth.web.screenindex.ScreeningIndex.agreement_screens`).

    A ``user`` screening blind (:func:`blind`) sees only what concerns their own decisions:
    the records they may screen, the outcomes of the records they decided, their own count
    and their agreement with each other reviewer (on records both decided); not the other
    reviewers' counts or agreement, nor outcomes of records they have not decided."""
    from evsynth.records.agreement import agreement_table

    idx = screening_index(store)  # the store-wide tables took 18 s at 200,000 records
    me = user.username if user is not None and blind(user) else None
    stages = []
    for stage in STAGES:
        if me is not None:
            p = idx.reviewer_progress(settings, stage, me)
        else:
            p = idx.progress(settings, stage)
        n_eligible, finals = p["n"], p["final"]
        per = [dict(reviewer=str(reviewer), done=n, eligible=n_eligible,
                    percent=100.0 * n / n_eligible if n_eligible else 0.0)
               for reviewer, n in p["done"].items()]
        screens = idx.agreement_screens(settings, stage)
        if me is None:
            frames = [agreement_table({stage: screens}).frame]
        else:
            frames = [agreement_table({stage: screens}, reviewers=[me, other]).frame
                      for other in sorted(screens) if other != me and me in screens]
        agreement = [dict(method=r["method"], reviewers=r["reviewers"], n=int(r["n"] or 0),
                          percent=_number(r["percent_agreement"]), kappa=_number(r["kappa"]),
                          ci_lb=_number(r["ci_lb"]), ci_ub=_number(r["ci_ub"]))
                     for f in frames for r in f.to_dict("records")]
        stages.append(dict(stage=stage, n=n_eligible, include=finals.get("include", 0),
                           exclude=finals.get("exclude", 0), maybe=finals.get("maybe", 0),
                           pending=p["pending"], conflicts=p["conflicts"], reviewers=per,
                           agreement=agreement))
    return dict(progress=stages, blind=me is not None)


def prisma(store: Store, settings: ScreeningSettings) -> dict[str, Any]:
    """:func:`evsynth.records.prisma.prisma_counts` from the screening index (the store-wide
    tables took 11 s at 200,000 records)."""
    from evsynth.records.prisma import prisma_from_outcomes

    return prisma_from_outcomes(store, **screening_index(store).prisma_inputs(settings))


#: conflicts shown per page of the conflicts page
CONFLICTS_PER_PAGE = 50


def conflict_list(store: Store, settings: ScreeningSettings, user: User,
                  page: int = 1, per_page: int | None = None) -> dict[str, Any]:
    """Unresolved conflicts visible to ``user``, ``per_page`` (default
    :data:`CONFLICTS_PER_PAGE`) at a time (page ``page``,
    1-based, clamped to the pages there are): owners and viewers see all; a reviewer sees only
    records they have decided themselves (blind screening). Also ``total`` (visible),
    ``blind`` (conflicts of records the reviewer has not decided are left out, and not counted),
    ``page``, ``pages`` and ``first`` (the number of the page's first conflict).
    A ``per_page`` below 1 is a ValueError."""
    if per_page is None:
        per_page = CONFLICTS_PER_PAGE
    if per_page < 1:
        raise ValueError(f"conflict_list: per_page must be at least 1, not {per_page}")
    idx = screening_index(store)  # the store-wide tables took 18 s at 200,000 records
    found = [(stage, r) for stage in STAGES for r in idx.conflicts(settings, stage)]
    visible = [(stage, r) for stage, r in found
               if not (blind(user) and user.username not in r["decisions"])]
    pages = max(1, -(-len(visible) // per_page))
    page = min(max(1, page), pages)
    shown = visible[(page - 1) * per_page:page * per_page]
    titles = store.titles([r["group_id"] for _, r in shown])
    rows = [dict(group_id=r["group_id"], stage=stage, title=titles.get(r["group_id"]) or "",
                 votes=[dict(reviewer=k, decision=v, reason=r["reasons"].get(k) or "")
                        for k, v in r["decisions"].items()],
                 reasons=settings.reasons(stage))
            for stage, r in shown]
    # the number of hidden conflicts is not given: it would tell a reviewer about the others'
    # decisions on records they have not decided (the page says that such conflicts exist
    # only in general, :func:`blind`)
    return dict(conflicts=rows, blind=blind(user), total=len(visible),
                page=page, pages=pages, first=(page - 1) * per_page + 1)

