"""Web of Science / Zoological Record plain-text (tagged) format (``.ciw``, ``.txt``).

File header ``FN``/``VR``, two-letter field tags followed by one space, continuation lines
indented by 3 spaces, ``ER`` ends a record and ``EF`` the file (Clarivate, "Web of Science
Core Collection field tags", https://webofscience.help.clarivate.com/en-us/Content/export-records.htm).
"""

from __future__ import annotations

import re
from typing import Any

from evsynth.records.formats import (
    first_value,
    group_tags,
    join_pages,
    parse_tagged,
    problem,
)

_TAG = re.compile(r"^([A-Z][A-Z0-9])(?: (.*))?$")
#: fields whose continuation lines are separate list items
_LIST_TAGS = {"AU", "AF", "CR", "C1", "BE", "CA"}


def split_records(lines: list[str], path: str
                  ) -> tuple[list[tuple[int, list[tuple[str, str]]]], list[dict[str, Any]]]:
    """Group lines into records ``[(start_line, [(tag, value), ...])]`` (``PT`` ... ``ER``)."""
    records: list[tuple[int, list[tuple[str, str]]]] = []
    problems: list[dict[str, Any]] = []
    current: list[tuple[str, str]] | None = None
    start = 0
    for i, raw in enumerate(lines, start=1):
        line = raw.lstrip("\ufeff").rstrip()
        if not line:
            continue
        m = _TAG.match(line) if not line.startswith(" ") else None
        if m:
            tag, value = m.group(1), (m.group(2) or "").strip()
            if tag in ("FN", "VR", "EF") and current is None:
                continue
            if tag == "ER":
                if current is None:
                    problems.append(problem(path, i, "'ER' without a record; ignored"))
                else:
                    records.append((start, current))
                current = None
                continue
            if tag == "PT" and current is not None:
                problems.append(problem(path, start, f"record starting at line {start} has no "
                                                     f"'ER' before the next 'PT' at line {i}; "
                                                     "kept"))
                records.append((start, current))
                current = None
            if current is None:
                current, start = [], i
                if tag != "PT":
                    problems.append(problem(path, i, f"record does not start with 'PT' (starts "
                                                     f"with '{tag}'); kept"))
            current.append((tag, value))
        elif current:
            tag, value = current[-1]
            if tag in _LIST_TAGS:
                current.append((tag, line.strip()))
            else:
                current[-1] = (tag, f"{value} {line.strip()}")
        else:
            problems.append(problem(path, i, "text outside a record; ignored"))
    if current:
        problems.append(problem(path, start, f"record starting at line {start} has no 'ER' at "
                                             "the end of the file; kept"))
        records.append((start, current))
    return records, problems


_DATABASES = {"WOS": "Web of Science", "ZOOREC": "Zoological Record", "MEDLINE": "MEDLINE",
              "BIOSIS": "BIOSIS Previews", "CABI": "CAB Abstracts", "KJD": "KCI",
              "SCIELO": "SciELO", "CSCD": "Chinese Science Citation Database"}


#: "(name@host)": neither part may hold "(", so each "(" is tried in time up to the next one
#: (the former pattern, with [^)]* and \s* around it, was quadratic in "(((...")
_EMAIL_NOTE = re.compile(r"\([^()@]*@[^()]*\)")


def _strip_email(author: str) -> str:
    """An author name without its "(e-mail)" note; the spaces around the note collapse."""
    if "@" not in author:
        return author.strip()
    out = _EMAIL_NOTE.sub(" ", author)
    return re.sub(r"\s{2,}", " ", out).strip()


def to_record(tagged: list[tuple[str, str]]) -> dict[str, Any]:
    """Map WoS field tags to the record model."""
    f = group_tags(tagged)

    def first(*tags: str) -> str | None:
        return first_value(f, *tags)

    other_ids: dict[str, str] = {}
    ut = first("UT")
    if ut:
        if ut.upper().startswith("WOS:"):
            other_ids["wos"] = ut[4:]
        elif ":" in ut:
            k, v = ut.split(":", 1)
            other_ids[k.lower()] = v
        else:
            other_ids["wos"] = ut
    an = first("AN")
    if an:
        other_ids.setdefault("accession", an)
    # Zoological Record writes "Surname, Given (email)"; drop the e-mail
    authors = [_strip_email(a) for a in (f.get("AF") or f.get("AU") or [])]
    keywords: list[str] = []
    for k in f.get("DE", []) + f.get("ID", []):
        keywords.extend(x.strip() for x in k.split(";") if x.strip())
    year = first("PY", "EA", "PD")
    article_no = re.sub(r"^UNSP\s+", "", first("AR") or "") or None
    pages = join_pages(first("BP"), first("EP")) or article_no
    pt = first("PT")
    return {
        "title": first("TI"),
        "abstract": first("AB"),
        "authors": authors,
        "year": year,
        "journal": first("SO", "SE"),
        "volume": first("VL"),
        "issue": first("IS"),
        "pages": pages,
        "doi": first("DI", "D2"),
        "pmid": first("PM"),
        "other_ids": other_ids,
        "keywords": keywords,
        "language": first("LA"),
        "publication_type": [x.strip() for x in (first("DT") or "").split(";") if x.strip()]
        or ([pt] if pt else []),
        "source_database": _DATABASES.get((ut or "WOS:").split(":", 1)[0].upper(),
                                          "Web of Science"),
        "label": None,
    }


def parse(text: str, path: str, **_: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Parse WoS tagged text into record dicts."""
    return parse_tagged(text, path, split_records, to_record)
