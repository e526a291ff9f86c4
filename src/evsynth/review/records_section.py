"""The records stage of a review in its results: searches, PRISMA 2020, screening, study links.

When the review folder holds a records store (``REVIEW_DIR/evsynth.sqlite``, written by
``evsynth records import`` / ``evsynth screen`` / ``evsynth records link-study``),
:func:`records_section` builds the ``"records"`` section of ``results.json``, which the HTML and
Markdown reports render (:mod:`evsynth.reports.records_html`); :func:`check_records` gives the
same checks as errors and warnings for ``evsynth validate``.

Structure of the section (every value JSON-safe)::

    {
      "store": "evsynth.sqlite",
      "n_records": 17,                       # records in the store (all imports)
      "searches": [                          # one row per [[search]] entry of review.toml
        {"search": 1, "database": "MEDLINE", "interface": "PubMed", "kind": "database",
         "date_searched": "2011-07-31", "date_from": null, "date_to": "2011-07-31",
         "date_limits": "to 2011-07-31", "limits": "humans", "query": "...",
         "exports": [{"file": "search/x.ris", "records": 17, "imported": true}],
         "records": 17},                     # records retrieved, counted from the store
      ],
      "imports_not_in_review_toml": [{"file": "...", "database": "...", "kind": "database",
                                      "records": 3}],
      "prisma": {...},                       # evsynth.records.prisma.prisma_counts
      "prisma_svg": "<svg ...>",             # the PRISMA 2020 flow diagram (inline SVG)
      "agreement": [                         # per stage and pair of reviewers (Cohen's kappa)
        {"stage": "title-abstract", "method": "Cohen", "reviewers": "AB and CD", "n": 17,
         "percent_agreement": 88.2, "kappa": 0.76, "ci_lb": 0.45, "ci_ub": 1.0, "level": 95.0}],
      "excluded_studies": [                  # full texts excluded, with reasons
        {"record_id": "...", "study": "Diamond 2006", "citation": "...", "reason": "..."}],
      "reports_not_retrieved": [{"record_id": ..., "study": ..., "citation": ...}],
      "included_studies": [                  # each study of studies.csv with its reports
        {"study_id": "Kallmes 2009", "label": "...", "reports": [
            {"record_id": "...", "citation": "...", "doi": "10...", "included": true}]}],
      "consistency": {
        "ok": true,
        "studies_without_report": [],        # in studies.csv, no included report linked
        "reports_without_study": [],         # included report not linked to any study
        "links_to_unknown_studies": [],      # linked to a study_id not in studies.csv
        "linked_reports_not_included": [],   # linked, but not included at full text
      },
      "errors": [...], "warnings": [...],    # the messages evsynth validate prints
    }

Severity (``evsynth validate``): a link naming a study id that is not in ``studies.csv`` and a
``[[search]]`` export file that does not exist are errors (exit 2); a study of studies.csv
with no included report, an included report linked to no study, a linked report that was not
included, unfinished screening and exports not imported are warnings (screening and linking
are often still in progress while the analysis is set up).

Counting follows PRISMA 2020 (Page MJ et al., BMJ 2021;372:n71, doi:10.1136/bmj.n71) through
:func:`evsynth.records.prisma.prisma_counts`. "Characteristics of excluded studies" lists the
full-text reports excluded with the reason for each (PRISMA 2020 item 16b; the Cochrane table of
that name, Cochrane Handbook v6, chapter 4, Lefebvre C et al., section 4.6).
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evsynth.errors import InputError

if TYPE_CHECKING:
    from evsynth.records.search import SearchStrategy
    from evsynth.records.settings import ScreeningSettings
    from evsynth.records.store import Store
    from evsynth.review.load import Review

#: file name of the records store inside a review folder
STORE_FILE = "evsynth.sqlite"


def has_store(review_dir: str | Path) -> bool:
    """Whether ``review_dir`` holds a records store (``evsynth.sqlite``)."""
    return (Path(review_dir) / STORE_FILE).is_file()


# ----------------------------------------------------------------------------- citations
def _surname(author: str) -> str:
    a = author.strip()
    if "," in a:
        return a.split(",", 1)[0].strip()
    parts = a.split()
    return parts[0] if parts else a


def _initials(author: str) -> str:
    a = author.strip()
    if "," not in a:
        return a
    last, first = (x.strip() for x in a.split(",", 1))
    ini = "".join(p[0] for p in first.replace(".", " ").replace("-", " ").split() if p)
    return f"{last} {ini}".strip()


def _text(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and v != v):
        return None
    s = str(v).strip()
    return s or None


def study_label(rec: dict[str, Any]) -> str:
    """A short label of a record: first author's surname and year.

    Parameters
    ----------
    rec : dict
        A stored record (columns of :data:`evsynth.records.RECORD_COLUMNS`).

    Returns
    -------
    str
        ``"Kallmes 2009"``; the start of the title (or the record id) without authors.

    Examples
    --------
    >>> study_label({"record_id": "r1", "authors": ["Kallmes, D.F."], "year": 2009})
    'Kallmes 2009'
    """
    authors = rec.get("authors") or []
    first = _text(rec.get("first_author")) or (authors[0] if authors else None)
    year = rec.get("year")
    year_s = None if year is None or (isinstance(year, float) and year != year) else str(int(year))
    name = _surname(first) if first else (_text(rec.get("title")) or str(rec["record_id"]))[:40]
    return f"{name} {year_s}" if year_s else name


def citation(rec: dict[str, Any]) -> str:
    """A Vancouver-style reference of a record.

    Up to six authors (surname and initials; "et al." after six, as the ICMJE/NLM Vancouver
    style), title, journal year;volume(issue):pages, and the DOI.

    Parameters
    ----------
    rec : dict
        A stored record (columns of :data:`evsynth.records.RECORD_COLUMNS`).

    Returns
    -------
    str
        The reference text (plain, unescaped).

    References
    ----------
    .. [1] Patrias K (2007). *Citing Medicine: The NLM Style Guide for Authors, Editors, and
           Publishers*, 2nd ed. National Library of Medicine. (NBK7256)

    Examples
    --------
    >>> citation({"record_id": "r1", "authors": ["Farrokhi, M.R.", "Alibai, E."],
    ...           "title": "A trial", "journal": "J Neurosurg Spine", "year": 2011,
    ...           "volume": "14", "issue": "5", "pages": "561-569"})
    'Farrokhi MR, Alibai E. A trial. J Neurosurg Spine 2011;14(5):561-569.'
    """
    authors = [_initials(a) for a in (rec.get("authors") or [])]
    who = ", ".join(authors[:6]) + (", et al" if len(authors) > 6 else "")
    title = (_text(rec.get("title")) or "").rstrip(".")
    journal = _text(rec.get("journal"))
    year = rec.get("year")
    year_s = None if year is None or (isinstance(year, float) and year != year) else str(int(year))
    src = ""
    if journal:
        src = journal + (f" {year_s}" if year_s else "")
        vol, iss, pages = (_text(rec.get(k)) for k in ("volume", "issue", "pages"))
        if vol:
            src += f";{vol}" + (f"({iss})" if iss else "")
        if pages:
            src += f":{pages}"
    elif year_s:
        src = year_s
    parts = [p for p in (who, title, src) if p]
    out = ". ".join(parts) + "."
    doi = _text(rec.get("doi"))
    if doi:
        out += f" doi:{doi}"
    return out


# ----------------------------------------------------------------------------- the pieces
def _num(x: Any) -> Any:
    """A JSON-safe number (None for missing/NaN)."""
    if x is None:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    if f != f or f in (float("inf"), float("-inf")):
        return None
    return int(f) if isinstance(x, int) and not isinstance(x, bool) else f


def _strategies(review: Review) -> tuple[SearchStrategy, ...]:
    return tuple(dataclasses.replace(s, review_dir=review.path)
                 for s in review.config.searches)


def _import_counts(store: Store) -> list[dict[str, Any]]:
    """The store's import batches with the number of records stored from each (SQL count)."""
    import sqlalchemy as sa

    from evsynth.records.store import T

    imp, rec = T["imports"], T["records"]
    q = (sa.select(imp.c.import_id, imp.c.file, imp.c.file_name, imp.c.database, imp.c.kind,
                   imp.c.sha256, sa.func.count(rec.c.id).label("records"))
         .select_from(imp.outerjoin(rec, rec.c.import_id == imp.c.import_id))
         .group_by(imp.c.import_id).order_by(imp.c.import_id))
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def _search_rows(review: Review, store: Store | None
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str], list[str]]:
    """Search table rows, imports matched to no [[search]] entry, errors, warnings."""
    errors: list[str] = []
    warns: list[str] = []
    imports = _import_counts(store) if store is not None else []
    used: set[int] = set()
    rows = []
    toml = review.path / "review.toml"
    for s in _strategies(review):
        where = f"{toml}: [[search]] entry {s.index} ({s.database})"
        exports: list[dict[str, Any]] = []
        for f in s.files:
            try:
                p = s.paths()[s.files.index(f)]
            except InputError as exc:
                errors.append(str(exc))
                continue
            match = None
            if p.is_file():
                if imports:
                    sha = hashlib.sha256(p.read_bytes()).hexdigest()  # as the store keys imports
                    match = next((i for i in imports if i["sha256"] == sha), None)
            else:
                errors.append(f"{where}: key 'files' names {f!r}, which does not exist (looked "
                              f"for {p}); expected an export file inside the review folder")
            if match is None:
                match = next((i for i in imports if i["file_name"] == Path(f).name
                              and i["database"] == s.database
                              and i["import_id"] not in used), None)
            if match is not None:
                used.add(match["import_id"])
            elif store is not None and p.is_file():
                warns.append(f"{where}: export {f!r} is not in the records store; run "
                             f"'evsynth records import {review.path}'")
            n_stored: int | None = None if match is None else int(match["records"])
            exports.append({"file": f, "records": n_stored, "imported": match is not None})
        counted = [int(e["records"]) for e in exports if e["records"] is not None]
        rows.append({
            "search": s.index, "database": s.database, "interface": s.interface,
            "kind": s.kind,
            "date_searched": s.date_searched.isoformat() if s.date_searched else None,
            "date_from": s.date_from.isoformat() if s.date_from else None,
            "date_to": s.date_to.isoformat() if s.date_to else None,
            "date_limits": s.date_limits(), "limits": s.limits, "query": s.query,
            "exports": exports, "records": sum(counted) if counted else None,
        })
    other = [{"file": i["file"], "database": i["database"], "kind": i["kind"],
              "records": int(i["records"])} for i in imports if i["import_id"] not in used]
    for o in other:
        warns.append(f"{STORE_FILE}: import {o['file']!r} ({o['database']}, {o['records']} "
                     f"records) matches no [[search]] entry of {toml}; expected the search "
                     "to be documented there (database, date searched, query)")
    return rows, other, errors, warns


def _agreement(store: Store, settings: ScreeningSettings | None) -> list[dict[str, Any]]:
    from evsynth.records.agreement import screening_agreement

    tab = screening_agreement(store, settings=settings).frame
    out = []
    for r in tab.to_dict("records"):
        if not r["n"]:
            continue
        out.append({"stage": r["stage"], "method": r["method"], "reviewers": r["reviewers"],
                    "n": int(r["n"]), "percent_agreement": _num(r["percent_agreement"]),
                    "expected_agreement": _num(r["expected_agreement"]),
                    "kappa": _num(r["kappa"]), "se": _num(r["se"]), "ci_lb": _num(r["ci_lb"]),
                    "ci_ub": _num(r["ci_ub"]), "level": _num(r["level"])})
    return out


def _collect(review: Review, store: Store) -> dict[str, Any]:
    """Everything of the section except the searches and the SVG."""
    from evsynth.records.prisma import is_not_retrieved, latest_retrieval, prisma_counts
    from evsynth.records.screening import screening_table

    settings = review.config.screening
    counts = prisma_counts(store, settings)
    groups = store.duplicate_groups()
    members = store.group_members()
    retrieval = store.retrieval()
    links = store.study_links()

    ta = screening_table(store, "title-abstract", settings)
    sought = set(ta.loc[ta["final"].isin(["include", "maybe"]), "group_id"])
    ft = screening_table(store, "full-text", settings)
    # the records this section cites: the reports sought and the records linked to studies
    recs = {r["record_id"]: r for r in store.records([*sorted(sought), *sorted(links)])
            .to_dict("records")}
    excluded, not_retrieved, included = [], [], []
    for r in ft.to_dict("records"):
        g = r["group_id"]
        if g not in sought:
            continue
        rec = recs[g]
        entry = {"record_id": g, "study": study_label(rec), "citation": citation(rec)}
        reason = r["reason"]
        if is_not_retrieved(latest_retrieval(retrieval, members, g), r["final"], reason):
            not_retrieved.append(entry)
        elif r["final"] == "exclude":
            excluded.append({**entry, "reason": reason or "reason not given"})
        elif r["final"] == "include":
            included.append(g)
    excluded.sort(key=lambda e: e["study"].lower())

    study_ids = [s.study_id for s in review.studies]
    labels = {s.study_id: s.label or s.study_id for s in review.studies}
    by_study: dict[str, list[dict[str, Any]]] = {sid: [] for sid in study_ids}
    reports_without_study, unknown, not_included = [], [], []
    inc_set = set(included)
    for g in included:
        linked = sorted({links[m] for m in members.get(g, [g]) if m in links})
        rec = recs[g]
        rep = {"record_id": g, "study": study_label(rec), "citation": citation(rec),
               "doi": _text(rec.get("doi")), "included": True}
        if not linked:
            reports_without_study.append({k: rep[k] for k in ("record_id", "study", "citation")})
        for sid in linked:
            if sid in by_study:
                by_study[sid].append(rep)
            else:
                unknown.append({"record_id": g, "study_id": sid, "citation": rep["citation"]})
    for rid, sid in sorted(links.items()):
        if groups.get(rid, rid) not in inc_set:
            rec = recs.get(rid, {"record_id": rid})
            not_included.append({"record_id": rid, "study_id": sid,
                                 "citation": citation(rec) if rid in recs else rid})
    included_studies = [{"study_id": sid, "label": labels[sid], "reports": by_study[sid]}
                        for sid in study_ids]
    without = [sid for sid in study_ids if not by_study[sid]]
    consistency = {
        "ok": not (without or reports_without_study or unknown),
        "studies_without_report": without,
        "reports_without_study": reports_without_study,
        "links_to_unknown_studies": unknown,
        "linked_reports_not_included": not_included,
    }
    return {"prisma": counts, "excluded_studies": excluded,
            "reports_not_retrieved": not_retrieved, "included_studies": included_studies,
            "consistency": consistency}


def _messages(review: Review, body: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Errors and warnings of the consistency check and of unfinished screening."""
    studies = review.path / "studies.csv"
    c = body["consistency"]
    errors = [f"{STORE_FILE}: report {u['record_id']!r} is linked to study {u['study_id']!r}, "
              f"which is not in {studies}; expected a study_id of studies.csv (fix the link "
              f"with 'evsynth records link-study' or add the study)"
              for u in c["links_to_unknown_studies"]]
    warns = [f"{studies}: study {sid!r} has no included report in {STORE_FILE}; expected "
             "at least one report included at full text and linked to it ('evsynth records "
             "link-study')" for sid in c["studies_without_report"]]
    warns += [f"{STORE_FILE}: included report {r['record_id']!r} ({r['study']}) is linked to "
              "no study; expected a link to a study_id of studies.csv ('evsynth records "
              "link-study')" for r in c["reports_without_study"]]
    warns += [f"{STORE_FILE}: report {r['record_id']!r} is linked to study {r['study_id']!r} "
              "but was not included at full text" for r in c["linked_reports_not_included"]]
    pend = body["prisma"]["pending"]
    names = {"title_abstract_undecided": "title-abstract records undecided",
             "title_abstract_conflicts": "title-abstract conflicts unresolved",
             "full_text_undecided": "full-text reports undecided",
             "full_text_conflicts": "full-text conflicts unresolved",
             "full_text_awaiting": "full-text reports awaiting classification (maybe)"}
    todo = [f"{n} {names[k]}" for k, n in pend.items() if n]
    if todo:
        warns.append(f"{STORE_FILE}: screening is not finished: {', '.join(todo)}; the PRISMA "
                     "counts do not balance yet")
    return errors, warns


def _open(review: Review) -> Store:
    from evsynth.records.store import Store

    try:
        return Store(review.path)
    except InputError:
        raise
    except Exception as exc:  # a damaged file: say which and why, no traceback
        why = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise InputError(f"{review.path / STORE_FILE}: cannot read the records store "
                         f"({why}); expected a SQLite store written by 'evsynth records'"
                         ) from None


def records_section(review: Review, *, svg: bool = True) -> dict[str, Any] | None:
    """The ``"records"`` section of results.json, or None when the folder has no records store.

    Parameters
    ----------
    review : evsynth.review.load.Review
        A loaded review folder (:func:`evsynth.review.load.load_review`); its
        ``config.searches`` and ``config.screening`` are the ``[[search]]`` and
        ``[screening]`` tables of review.toml.
    svg : bool
        Include the PRISMA 2020 flow diagram as an SVG document (``"prisma_svg"``).

    Returns
    -------
    dict or None
        The structure in the module docstring: search table (records per export counted from
        the store), PRISMA 2020 counts and diagram, screening agreement per stage (two or more
        reviewers), excluded full texts with reasons, the reports of each included study, the
        consistency check between studies.csv and the included reports, and the validate
        messages.

    References
    ----------
    .. [1] Page MJ, McKenzie JE, Bossuyt PM, et al. (2021). The PRISMA 2020 statement: an
           updated guideline for reporting systematic reviews. *BMJ* 372:n71.
           doi:10.1136/bmj.n71
    .. [2] Cohen J (1960). A coefficient of agreement for nominal scales. *Educ Psychol Meas*
           20(1):37-46. doi:10.1177/001316446002000104

    Examples
    --------
    >>> from pathlib import Path
    >>> from evsynth.review.load import load_review
    >>> folder = Path("examples/vertebroplasty")
    >>> records_section(load_review(folder)) is None or has_store(folder)
    True
    """
    if not has_store(review.path):
        return None
    with _open(review) as store:
        rows, other, s_errors, s_warns = _search_rows(review, store)
        body = _collect(review, store)
        agreement = _agreement(store, review.config.screening)
        n_records = store.n_records()
    errors, warns = _messages(review, body)
    out: dict[str, Any] = {
        "store": STORE_FILE, "n_records": n_records, "searches": rows,
        "imports_not_in_review_toml": other, "prisma": body["prisma"],
    }
    if svg:
        from evsynth.records.prisma import prisma_svg

        out["prisma_svg"] = prisma_svg(body["prisma"])
    out.update({"agreement": agreement,
                "excluded_studies": body["excluded_studies"],
                "reports_not_retrieved": body["reports_not_retrieved"],
                "included_studies": body["included_studies"],
                "consistency": body["consistency"],
                "errors": s_errors + errors, "warnings": s_warns + warns})
    return out


def check_records(review: Review) -> tuple[list[str], list[str], list[str]]:
    """The records checks of ``evsynth validate``.

    Without a store only the ``[[search]]`` export files are checked. See the module
    docstring for which problems are errors and which are warnings.

    Parameters
    ----------
    review : evsynth.review.load.Review
        A loaded review folder.

    Returns
    -------
    tuple of list of str
        ``(summary lines, errors, warnings)``: the lines ``evsynth validate`` prints, the
        problems that make it exit with code 2, and the warnings it prints.
    """
    if not has_store(review.path):
        rows, _other, errors, warns = _search_rows(review, None)
        lines = []
        if rows or review.config.screening.reviewers:
            lines.append(f"  records: {len(rows)} search(es) in review.toml; no records store "
                         f"({STORE_FILE}) yet: 'evsynth records import {review.path}' "
                         "creates it")
        return lines, errors, warns
    sec = records_section(review, svg=False)
    assert sec is not None
    p = sec["prisma"]
    inc = p["included"]
    scr = p["screening"]
    c = sec["consistency"]
    n_linked = sum(1 for s in sec["included_studies"] if s["reports"])
    lines = [f"  records: {sec['n_records']} records in {STORE_FILE} from "
             f"{len(sec['searches'])} search(es); {scr['records_screened']} screened, "
             f"{scr['reports_assessed']} full texts assessed, {scr['reports_excluded']} "
             f"excluded; {inc['reports']} reports of {inc['studies']} studies included",
             f"  records: {n_linked} of {len(sec['included_studies'])} studies in studies.csv "
             f"trace to an included report; consistency {'OK' if c['ok'] else 'mismatches'}"]
    for a in sec["agreement"]:
        k = "NA" if a["kappa"] is None else f"{a['kappa']:.2f}"
        lines.append(f"  records: {a['stage']} agreement ({a['reviewers']}, n = {a['n']}): "
                     f"{a['percent_agreement']:.1f}%, Cohen's kappa {k}")
    return lines, sec["errors"], sec["warnings"]


def check_folder(path: str | Path) -> tuple[list[str], list[str], list[str]]:
    """:func:`check_records` for a review folder (``evsynth validate``).

    With a store the folder is loaded (:func:`evsynth.review.load.load_review`); without one
    only review.toml is read (its ``[[search]]`` export files are checked), so that a folder
    without records is not read twice and nothing heavy (pandas, SQLAlchemy) is imported.

    Parameters
    ----------
    path : str or Path
        The review folder.

    Returns
    -------
    tuple of list of str
        ``(summary lines, errors, warnings)`` as :func:`check_records`.
    """
    from types import SimpleNamespace

    from evsynth.review.load import REVIEW_FILE, load_review, read_config

    root = Path(path)
    if has_store(root):
        return check_records(load_review(root))
    cfg, errs = read_config(root / REVIEW_FILE, (root / REVIEW_FILE).read_bytes())
    if cfg is None:  # load_review (run before by validate) reports these
        raise InputError("\n".join(errs))
    review: Any = SimpleNamespace(path=root, config=cfg, studies=[])
    return check_records(review)


__all__ = ["STORE_FILE", "check_folder", "check_records", "citation", "has_store",
           "records_section", "study_label"]
