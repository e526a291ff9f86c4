"""PubMed/MEDLINE tagged format (``.nbib``, PubMed "Save -> PubMed format").

Lines are ``TAG - value`` with the tag left-justified in 4 columns; continuation lines are
indented by 6 spaces; records are separated by blank lines and usually begin with ``PMID-``
(field list: NLM, "MEDLINE/PubMed Data Element (Field) Descriptions",
https://www.nlm.nih.gov/bsd/mms/medlineelements.html). ERIC uses the same layout without PMID.
"""

from __future__ import annotations

import re
from typing import Any

from evsynth.records.formats import first_value, group_tags, parse_tagged, problem

_TAG = re.compile(r"^([A-Z][A-Z0-9 ]{1,3})- ?(.*)$")


def split_records(lines: list[str], path: str
                  ) -> tuple[list[tuple[int, list[tuple[str, str]]]], list[dict[str, Any]]]:
    """Group lines into records ``[(start_line, [(tag, value), ...])]``.

    A record ends at a blank line; a ``PMID-`` line also starts a new record when the blank
    separator is missing (reported).
    """
    records: list[tuple[int, list[tuple[str, str]]]] = []
    problems: list[dict[str, Any]] = []
    current: list[tuple[str, str]] | None = None
    start = 0
    for i, raw in enumerate(lines, start=1):
        line = raw.lstrip("\ufeff")
        if not line.strip():
            if current:
                records.append((start, current))
            current = None
            continue
        m = _TAG.match(line)
        if m and not line.startswith(" "):
            tag, value = m.group(1).strip(), m.group(2).strip()
            if tag == "PMID" and current and any(t == "PMID" for t, _ in current):
                problems.append(problem(path, i, f"record starting at line {start} is not "
                                                 "followed by a blank line; a new record "
                                                 f"starts at line {i}"))
                records.append((start, current))
                current = None
            if current is None:
                current, start = [], i
            current.append((tag, value))
        elif current:
            tag, value = current[-1]
            current[-1] = (tag, f"{value} {line.strip()}" if value else line.strip())
        else:
            problems.append(problem(path, i, "text outside a record (no 'TAG - ' at the start "
                                             "of the line); ignored"))
    if current:
        records.append((start, current))
    return records, problems


_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}


def to_record(tagged: list[tuple[str, str]]) -> dict[str, Any]:
    """Map MEDLINE tags to the record model (NLM element descriptions)."""
    f = group_tags(tagged)

    def first(*tags: str) -> str | None:
        return first_value(f, *tags)

    doi = None
    other_ids: dict[str, str] = {}
    for v in f.get("AID", []) + f.get("LID", []):
        if v.endswith("[doi]") and doi is None:
            doi = v[:-5].strip()
        elif v.endswith("[pmc]"):
            other_ids.setdefault("pmcid", v[:-5].strip())
        elif "doi.org/" in v and doi is None:
            doi = v
    if first("PMC"):
        other_ids["pmcid"] = first("PMC") or ""
    if first("OID"):
        other_ids["eric"] = first("OID") or ""
    owner = first("OWN")
    # Full author names (FAU, "Surname, Given") when present, else AU ("Surname IN")
    # and group (corporate) authors, CN, in their place in the list, as PubMed shows them
    name_tag = "FAU" if f.get("FAU") else "AU"
    authors = [v for t, v in tagged if (t == name_tag or t == "CN") and v]
    keywords = [re.sub(r"^\*", "", k) for k in f.get("MH", []) + f.get("OT", [])]
    return {
        "title": first("TI", "BTI"),
        "abstract": first("AB"),
        "authors": authors,
        "year": first("DP", "DEP", "DA"),
        "journal": first("JT", "TA"),
        "volume": first("VI"),
        "issue": first("IP"),
        "pages": first("PG"),
        "doi": doi,
        "pmid": first("PMID"),
        "other_ids": other_ids,
        "keywords": keywords,
        "language": first("LA"),
        "publication_type": f.get("PT", []),
        "source_database": "ERIC" if owner == "ERIC" else "PubMed",
        "label": None,
    }


def parse(text: str, path: str, **_: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Parse MEDLINE/PubMed tagged text into record dicts."""
    return parse_tagged(text, path, split_records, to_record)
