"""Delimited text (CSV/TSV) with a column mapping.

``mapping`` maps record columns to CSV headers (``{"title": "Title", "authors": "Author
Names"}``); without it, built-in mappings recognise the Embase.com, PubMed ("Save -> CSV"),
ASySD and bib-dedupe exports by their headers, and common header names otherwise. The
delimiter (``,``, ``;`` or tab) is sniffed from the header line.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from typing import Any

from evsynth.errors import InputError
from evsynth.records.formats import AUTHOR_AND, doi_in, join_pages, pmid_in, problem

#: record column -> header names tried in order (compared case-insensitively)
BUILTIN: dict[str, tuple[str, ...]] = {
    "title": ("title", "article title", "document title", "ti", "primary title"),
    "abstract": ("abstract", "ab", "abstract note", "notes abstract"),
    "authors": ("authors", "author", "author names", "author full names", "au", "creators"),
    "year": ("year", "publication year", "py", "pubyear", "date", "publication date"),
    "journal": ("journal", "journal/book", "source title", "source", "journal title",
                "publication title", "journal name", "secondary title", "so", "jt"),
    "volume": ("volume", "vl", "vol"),
    "issue": ("issue", "number", "is", "no"),
    "pages": ("pages", "page", "pg", "page range"),
    "start_page": ("start page", "first page", "sp", "page start"),
    "end_page": ("end page", "last page", "ep", "page end"),
    "doi": ("doi", "di", "digital object identifier"),
    "pmid": ("pmid", "pubmed id", "medline pmid", "pm"),
    "keywords": ("keywords", "author keywords", "kw", "mesh terms", "manual tags",
                 "emtree medical index terms"),
    "language": ("language", "la", "language of original document"),
    "publication_type": ("publication type", "document type", "item type", "entrytype",
                         "type", "pt"),
    "label": ("label", "notes", "caption"),
    "source_database": ("source database", "database", "db"),
    "embase": ("embase accession id", "embase id"),
    "pmcid": ("pmcid", "pmc id"),
    "wos": ("ut (unique wos id)", "unique wos id", "ut"),
    "scopus": ("eid",),
    "url": ("open url link", "url", "link"),
    "citation": ("citation",),
    "record_key": ("record_id", "id", "key"),
}

#: "Journal (2019) 12:3 (45-67)"; one "\s" before "(year)" (the journal's trailing spaces are
#: stripped after), since ".+?\s+\(" rescans a run of spaces from each of its positions
_EMBASE_SOURCE = re.compile(
    r"^(?P<journal>.+?)\s\((?P<year>\d{4})\)\s*(?P<volume>[^:\s(]+)?(?::(?P<issue>[^\s(]+))?"
    r"\s*(?:\((?P<pages>[^)]*)\))?")
#: "Lancet. 2019;393(10170):1-10." -- volume and issue bounded and free of "(" so that each
#: ";" is tried in constant time (";(" repeated was quadratic)
_PUBMED_CITATION = re.compile(
    r";(?P<volume>[^(:;]{1,40})?(?:\((?P<issue>[^()]{1,40})\))?:(?P<pages>[^.\s]+)")


def _split_keywords(kw: str) -> list[str]:
    """Split a keyword cell on ";" and on "," outside parentheses (a "," whose next
    parenthesis is ")"), in one pass (the look-ahead regex was quadratic)."""
    out: list[str] = []
    closing_next = [False] * len(kw)
    nxt = False
    for i in range(len(kw) - 1, -1, -1):
        closing_next[i] = nxt
        if kw[i] in "()":
            nxt = kw[i] == ")"
    start = 0
    for i, ch in enumerate(kw):
        if ch == ";" or (ch == "," and not closing_next[i]):
            out.append(kw[start:i])
            start = i + 1
    out.append(kw[start:])
    return [k.strip() for k in out if k.strip()]


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: counts[d])


def _split_authors(s: str | None) -> list[str]:
    """Split an author cell: ``;``, `` and ``, PubMed ``Smith JA, Doe J`` lists or ASySD's
    ``Adeli K.Lewis G. F.`` (initials glued to the next surname)."""
    if not s:
        return []
    s = s.strip()
    if ";" in s:
        return [a.strip() for a in s.split(";") if a.strip()]
    if AUTHOR_AND.search(s):
        return [a.strip() for a in AUTHOR_AND.split(s) if a.strip()]
    if "," in s:
        parts = [p.strip() for p in s.rstrip(".").split(",") if p.strip()]
        # "Surname Initials" items (PubMed, Embase) vs a single "Surname, Given"
        if len(parts) > 2 or all(re.search(r"\s[A-Z][A-Z.\-]*\.?$", p) for p in parts):
            return parts
        return [s]
    glued = re.split(r"(?<=\.)(?=[A-Z][a-z'\u00C0-\u024F])", s)
    return [a.strip() for a in glued if a.strip()]


def _resolve(headers: list[str], mapping: Mapping[str, str] | None, path: str
             ) -> dict[str, int]:
    lower = {h.strip().lower().lstrip("\ufeff"): i for i, h in enumerate(headers)}
    cols: dict[str, int] = {}
    if mapping:
        for field, header in mapping.items():
            key = str(header).strip().lower()
            if key not in lower:
                raise InputError(f"{path}: mapping for '{field}' names column {header!r}, "
                                 f"which is not in the header (columns: {headers})")
            cols[field] = lower[key]
    for field, names in BUILTIN.items():
        if field in cols:
            continue
        for n in names:
            if n in lower and lower[n] not in cols.values():
                cols[field] = lower[n]
                break
    if "title" not in cols:
        raise InputError(f"{path}: no title column found in the header {headers}; pass "
                         "mapping={'title': '<column name>', ...}")
    return cols


#: the largest field read (characters): Python's csv default, 131,072, is less than some
#: exports' author lists or abstracts with markup; a larger field is reported as a problem
FIELD_SIZE_LIMIT = 1 << 24


def parse(text: str, path: str, mapping: Mapping[str, str] | None = None, **_: Any
          ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Parse a delimited export into record dicts, one per data row (fields of up to
    :data:`FIELD_SIZE_LIMIT` characters)."""
    limit = csv.field_size_limit(FIELD_SIZE_LIMIT)  # the csv module's limit is global
    try:
        return _parse(text, path, mapping)
    finally:
        csv.field_size_limit(limit)


def _parse(text: str, path: str, mapping: Mapping[str, str] | None
           ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    text = text.lstrip("\ufeff")
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(first))
    try:
        headers = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise InputError(f"{path}: cannot read a CSV header line ({exc})") from None
    cols = _resolve(headers, mapping, path)
    records: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    last_line = reader.line_num
    while True:
        start = last_line + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(problem(path, start, f"CSV row could not be read ({exc}); skipped"))
            last_line = reader.line_num
            continue
        last_line = reader.line_num
        if not any(c.strip() for c in row):
            continue
        if len(row) > len(headers) and any(c.strip() for c in row[len(headers):]):
            problems.append(problem(path, start, f"row has {len(row)} fields but the header has "
                                                 f"{len(headers)}; skipped"))
            continue
        if len(row) < len(headers):
            problems.append(problem(path, start, f"row has {len(row)} fields but the header has "
                                                 f"{len(headers)}; missing fields left empty"))
            row = row + [""] * (len(headers) - len(row))
        rec = _record(row, cols)
        rec["source_line"] = start
        records.append(rec)
    return records, problems


def _record(row: list[str], cols: dict[str, int]) -> dict[str, Any]:
    def get(field: str) -> str | None:
        i = cols.get(field)
        if i is None:
            return None
        v = row[i].strip()
        return v or None

    journal, year, volume, issue, pages = (get("journal"), get("year"), get("volume"),
                                           get("issue"), get("pages"))
    if journal:
        m = _EMBASE_SOURCE.match(journal)
        if m and "Date of Publication" in journal or (m and m.group("volume")):
            journal = m.group("journal").rstrip()
            year = year or m.group("year")
            volume = volume or m.group("volume")
            issue = issue or m.group("issue")
            pages = pages or m.group("pages")
    citation = get("citation")
    if citation:
        m = _PUBMED_CITATION.search(citation)
        if m:
            volume = volume or (m.group("volume") or "").strip() or None
            issue = issue or m.group("issue")
            pages = pages or m.group("pages")
    pages = pages or join_pages(get("start_page"), get("end_page"))
    other: dict[str, str] = {}
    for k in ("embase", "pmcid", "wos", "scopus"):
        if get(k):
            other[k] = get(k) or ""
    if get("record_key"):
        other["source_id"] = get("record_key") or ""
    url = get("url")
    kw = get("keywords") or ""
    keywords = _split_keywords(kw)
    ptype = get("publication_type")
    return {
        "title": get("title"),
        "abstract": get("abstract"),
        "authors": _split_authors(get("authors")),
        "year": year,
        "journal": journal,
        "volume": volume,
        "issue": issue,
        "pages": pages,
        "doi": get("doi") or doi_in(url, citation) or (
            m.group(1) if url and (m := re.search(r"doi:(10\.[^&\s]+)", url)) else None),
        "pmid": get("pmid") or pmid_in(url),
        "other_ids": other,
        "keywords": keywords,
        "language": get("language"),
        "publication_type": [ptype] if ptype else [],
        "source_database": get("source_database"),
        "label": get("label"),
    }
