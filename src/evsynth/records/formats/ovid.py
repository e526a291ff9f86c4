"""Ovid tagged export (Embase, MEDLINE, PsycINFO via Ovid; "Citavi"/"EndNote" export options).

Each record starts with a ``<N. >`` header line; fields are ``XX  - value`` with continuation
lines either indented or, in Ovid's EndNote option, starting at column 1 (structured abstract
sections). Field names per Ovid's "Embase Field Guide" / "MEDLINE Field Guide"
(https://tools.ovid.com/ovidtools/pdf/). ``SO`` ("Journal. Vol (Issue) (pages), Year.") is
split into journal, volume, issue and pages when the separate fields are absent.
"""

from __future__ import annotations

import re
from typing import Any

from evsynth.records.formats import first_value, group_tags, parse_tagged, problem

_HEAD = re.compile(r"^<(\d+)\.\s*>\s*$")
_TAG = re.compile(r"^([A-Z][A-Z0-9])  - ?(.*)$")
_SO = re.compile(
    r"^(?P<journal>.+?)\.\s+(?P<volume>[\w-]+)\s*(?:\((?P<issue>[^)]*)\))?\s*"
    r"(?:\((?P<pages1>[^)]*)\)|(?P<pages2>[A-Za-z]?\d[\w-]*))?\s*,\s*(?P<year>\d{4})"
)
_LIST_TAGS = {"MH", "OD", "KW", "AU", "PT"}


def split_records(lines: list[str], path: str
                  ) -> tuple[list[tuple[int, list[tuple[str, str]]]], list[dict[str, Any]]]:
    """Group lines into records ``[(start_line, [(tag, value), ...])]`` (``<N. >`` headers)."""
    records: list[tuple[int, list[tuple[str, str]]]] = []
    problems: list[dict[str, Any]] = []
    current: list[tuple[str, str]] | None = None
    start = 0
    for i, raw in enumerate(lines, start=1):
        line = raw.lstrip("\ufeff")
        if _HEAD.match(line.strip()):
            if current is not None:
                records.append((start, current))
            current, start = [], i
            continue
        if not line.strip():
            continue
        m = _TAG.match(line)
        if current is None:
            if m:
                current, start = [], i
                problems.append(problem(path, i, "record without a '<N. >' header line; kept"))
            else:
                continue
        if m:
            current.append((m.group(1), m.group(2).strip()))
        elif current:
            tag, value = current[-1]
            sep = " " if tag not in _LIST_TAGS else " "
            current[-1] = (tag, f"{value}{sep}{line.strip()}")
    if current is not None:
        records.append((start, current))
    return records, problems


def to_record(tagged: list[tuple[str, str]]) -> dict[str, Any]:
    """Map Ovid field tags to the record model."""
    f = group_tags(tagged)

    def first(*tags: str) -> str | None:
        return first_value(f, *tags)

    db = first("DB")
    db_l = (db or "").lower()
    so = first("SO") or ""
    m = _SO.match(so)
    journal = first("JN", "JT", "JA") or (m.group("journal") if m else (so or None))
    volume = first("VO", "VI") or (m.group("volume") if m else None)
    issue = first("IP") or (m.group("issue") if m else None)
    pages = first("PG") or (m and (m.group("pages1") or m.group("pages2")))
    if pages and "no pagination" in pages.lower():
        pages = None
    ui = first("UI", "AN")
    other_ids: dict[str, str] = {}
    pmid = first("PM")
    if ui:
        if "medline" in db_l or "pubmed" in db_l:
            pmid = pmid or ui
        elif "embase" in db_l:
            other_ids["embase"] = ui
        elif "psyc" in db_l:
            other_ids["psycinfo"] = ui
        else:
            other_ids["accession"] = ui
    keywords = [re.sub(r"^\*", "", k).strip() for k in f.get("MH", []) + f.get("KW", [])]
    return {
        "title": first("TI", "T1"),
        "abstract": first("AB"),
        "authors": f.get("AU", []) or f.get("AF", []),
        "year": first("YR", "PY", "DP") or (m.group("year") if m else None),
        "journal": journal,
        "volume": volume,
        "issue": issue,
        "pages": pages or None,
        "doi": first("DO", "DI"),
        "pmid": pmid,
        "other_ids": other_ids,
        "keywords": keywords,
        "language": first("LG", "LA"),
        "publication_type": f.get("PT", []),
        "source_database": db,
        "label": None,
    }


def parse(text: str, path: str, **_: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Parse Ovid tagged text into record dicts."""
    return parse_tagged(text, path, split_records, to_record)
