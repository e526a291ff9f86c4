"""RIS (Research Information Systems) tagged format.

Tag lines are ``XX  - value`` (RIS specification, Research Information Systems 2011 /
Wikipedia "RIS (file format)"); a record starts at ``TY`` and ends at ``ER``. Real exports
bend this: Ovid puts ``1.`` numbering lines between records, Rayyan/AGRIS continue keyword
lists on untagged lines, CiteSource writes records without ``TY``, some files end without a
final ``ER``. This line parser (rather than rispy) keeps the start line of each record and
reports records it has to repair.
"""

from __future__ import annotations

import re
from typing import Any

from evsynth.records.formats import (
    doi_in,
    group_tags,
    join_pages,
    parse_tagged,
    pmid_in,
    problem,
)
from evsynth.records.model import parse_year

#: a tag line of the RIS specification: two characters, two spaces, a hyphen (the value
#: usually after one space; "TI  -Title" without it is read too). Other lines, such as an
#: abstract line "CI - 0.5 to 0.9", continue the previous tag.
_TAG = re.compile(r"^([A-Z][A-Z0-9])  -(.*)$")
#: tag lines with one space before the hyphen, read as tags only in a file that has no tag
#: line of the specification's form
_TAG_ONE_SPACE = re.compile(r"^([A-Z][A-Z0-9]) -(?:\s(.*))?$")
#: Lines that frame records in some exports and carry no data ("1.", "Record #1 of 2", ...);
#: inside a record (not followed by the next record's TY) they are text of the field
_NOISE = re.compile(r"^\s*(?:\d+\.\s*|Record #\d+ of \d+|Provider:.*|Content:.*|Database:.*)$")

#: Tags whose continuation lines are separate list items (keywords).
_LIST_TAGS = {"KW"}


def split_records(lines: list[str], path: str) -> tuple[list[tuple[int, list[tuple[str, str]]]],
                                                       list[dict[str, Any]]]:
    """Group tagged lines into records: ``[(start_line, [(tag, value), ...]), ...]``.

    A record starts at ``TY`` (or at the first tag line after ``ER`` when the file has no
    ``TY``) and ends at ``ER``; continuation lines (indented or not) are appended to the
    previous tag. Records without ``ER`` are kept and reported.
    """
    has_ty = any(line.startswith("TY  -") or line.startswith("TY -") for line in lines)
    tag_re = _TAG if any(_TAG.match(line.lstrip("\ufeff")) for line in lines) else _TAG_ONE_SPACE
    records: list[tuple[int, list[tuple[str, str]]]] = []
    problems: list[dict[str, Any]] = []
    current: list[tuple[str, str]] | None = None
    start = 0

    def close(lineno: int, why: str | None) -> None:
        nonlocal current
        if current is not None:
            if why:
                problems.append(problem(path, start, why))
            records.append((start, current))
        current = None

    orphan = False  # current block started with a tag other than TY in a file with TY
    #: framing-like lines ("1.", "Content: ...") inside a record, kept unless the next
    #: record's TY follows them (then they number that record)
    pending: list[str] = []

    def continue_field(text: str) -> None:
        if not current:
            return
        tag, value = current[-1]
        if tag in _LIST_TAGS:
            current.append((tag, text))
        else:
            current[-1] = (tag, f"{value} {text}" if value else text)

    for i, raw in enumerate(lines, start=1):
        line = raw.lstrip("\ufeff")
        m = tag_re.match(line)
        if m:
            tag, value = m.group(1), (m.group(2) or "").strip()
            if pending and current and tag != "TY":
                for text in pending:
                    continue_field(text)
            pending = []
            if tag == "ER":
                if current is None:
                    problems.append(problem(path, i, "'ER' end tag without a record; ignored"))
                elif orphan:
                    close(i, f"record starting at line {start} has no 'TY' tag; kept")
                else:
                    close(i, None)
                orphan = False
                continue
            if tag == "TY" and current is not None:
                if orphan and records:
                    # Ovid writes a few tags (NL) after ER: they belong to the record before
                    records[-1][1].extend(current)
                    current = None
                else:
                    close(i, f"record starting at line {start} has no 'ER' end tag before "
                              f"the next 'TY' at line {i}; kept")
                orphan = False
            if current is None:
                start = i
                current = []
                orphan = has_ty and tag != "TY"
            current.append((tag, value))
            continue
        if current is None:
            continue  # numbering lines, headers, blank lines between records
        stripped = line.strip()
        if not stripped:
            continue
        if _NOISE.match(line) and not line.startswith(" "):
            pending.append(stripped)
            continue
        # continuation of the previous tag
        if current:
            for text in pending:
                continue_field(text)
            pending = []
            continue_field(stripped)
    if current is not None:
        if orphan and records:
            records[-1][1].extend(current)
        else:
            close(len(lines), f"record starting at line {start} has no 'ER' end tag at the end "
                              "of the file; kept")
    return records, problems


def _first(fields: dict[str, list[str]], *tags: str) -> str | None:
    for t in tags:
        for v in fields.get(t, []):
            if v and v.strip() and v.strip().upper() != "NA":
                return v.strip()
    return None


def _all(fields: dict[str, list[str]], *tags: str) -> list[str]:
    out: list[str] = []
    for t in tags:
        out.extend(v for v in fields.get(t, []) if v and v.strip() and v.strip() != "NA")
    return out


_WOS_UT = re.compile(r"^(?:WOS:)?(\d{15})$")
_EMBASE_ID = re.compile(r"^L?\d{8,12}$")


def to_record(tagged: list[tuple[str, str]]) -> dict[str, Any]:
    """Map RIS tags to the record model (tag meanings per the RIS spec and vendor usage)."""
    f = group_tags(tagged)
    ty = _first(f, "TY")
    title = _first(f, "TI", "T1", "CT", "ST")
    if title is None and ty in ("BOOK", "EBOOK"):
        title = _first(f, "BT", "T2")
    journal = _first(f, "JF", "T2", "JO", "JA", "J2", "J1", "BT") if ty not in (
        "BOOK", "EBOOK") else None
    db = _first(f, "DB", "DP")
    db_l = (db or "").lower()
    other_ids: dict[str, str] = {}
    pmid = None
    for acc in _all(f, "AN", "ID", "U2", "M1"):
        a = acc.strip()
        wos = _WOS_UT.match(a)
        if a.upper().startswith("WOS:") and wos:
            other_ids.setdefault("wos", wos.group(1))
        elif a.lower().startswith("rayyan-"):
            other_ids.setdefault("rayyan", a[7:])
        elif a.startswith("pub.") and "dimensions" not in other_ids:
            other_ids["dimensions"] = a
        elif ("embase" in db_l and _EMBASE_ID.match(a)):
            other_ids.setdefault("embase", a)
        elif a.isdigit() and any(k in db_l for k in ("nlm", "pubmed", "medline")):
            pmid = pmid or a
    urls = _all(f, "UR", "L1", "L2", "L3", "L4", "LK")
    for u in urls:
        m = re.search(r"ovidweb\.cgi\?.*\bD=([a-z]+)\d*\b.*\bAN=([\w-]+)", u)
        if m:
            ovid_db, an = m.group(1), m.group(2)
            if ovid_db.startswith(("med", "prem", "mesz", "pmnm")) and an.isdigit():
                pmid = pmid or an
            elif ovid_db.startswith(("emed", "emez", "oemez", "embase")):
                other_ids.setdefault("embase", an)
            elif ovid_db.startswith("psyc"):
                other_ids.setdefault("psycinfo", an)
            elif ovid_db.startswith(("coch", "cctr")):
                other_ids.setdefault("cochrane", an)
        m = re.search(r"eid=(2-s2\.0-\d+)", u)
        if m:
            other_ids.setdefault("scopus", m.group(1))
        m = re.search(r"[?&]id=(L\d+)", u)
        if m and "embase" in u:
            other_ids.setdefault("embase", m.group(1))
    pmcid = next((v for v in _all(f, "C2", "PMCID") if v.upper().startswith("PMC")), None)
    if pmcid:
        other_ids["pmcid"] = pmcid.split()[0]
    if pmid is None:
        pmid = pmid_in(*urls, *_all(f, "N1", "C1", "M1", "AN"))
    doi = _first(f, "DO", "DI")
    if doi is None or "10." not in doi:
        doi = doi_in(*urls, *_all(f, "N1", "M3")) or doi
    sp, ep = _first(f, "SP"), _first(f, "EP")
    keywords: list[str] = []
    for kw in _all(f, "KW"):
        # some exports put all keywords on one line separated by ';'
        keywords.extend(k.strip() for k in kw.split(";") if k.strip())
    return {
        "title": title,
        "abstract": _first(f, "AB", "N2"),
        "authors": _all(f, "AU", "A1"),
        # the first date that holds a year: "PY  - [Epub ahead of print]" or "PY  - ///"
        # must not hide "Y1  - 2018///"
        "year": next((v for v in _all(f, "PY", "Y1", "DA", "Y2") if parse_year(v)),
                     _first(f, "PY", "Y1", "DA", "Y2")),
        "journal": journal,
        "volume": _first(f, "VL"),
        "issue": _first(f, "IS", "CP"),
        "pages": join_pages(sp, ep),
        "doi": doi,
        "pmid": pmid,
        "other_ids": other_ids,
        "keywords": keywords,
        "language": _first(f, "LA"),
        "publication_type": [ty] + _all(f, "M3") if ty else _all(f, "M3"),
        "source_database": db,
        "label": _first(f, "LB", "CA"),
    }


def parse(text: str, path: str, **_: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Parse RIS text into record dicts (see :mod:`evsynth.records.formats`)."""
    return parse_tagged(text, path, split_records, to_record)
