"""One parser per export format.

Every module exposes ``parse(text, path, **options) -> (records, problems)``: ``records`` is a
list of dicts keyed by the columns of :data:`evsynth.records.model.RECORD_COLUMNS` (anything
missing is filled in later) with ``source_line`` set to the 1-based line where the record
starts; ``problems`` is a list of ``{"file", "line", "message"}`` dicts for malformed records
that were skipped or repaired. The text is already decoded (see :mod:`evsynth.records.io`).
"""

from __future__ import annotations

import re
from typing import Any

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """Split on CRLF, bare CR or LF (not on the exotic separators of ``str.splitlines``)."""
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def problem(path: str, line: int | None, message: str) -> dict[str, Any]:
    """A problem report: ``{"file": path, "line": line, "message": message}``."""
    return {"file": str(path), "line": line, "message": message}


_DOI_URL = re.compile(r"(?:doi\.org/|doi:\s*|\bdoi\s+)(10\.\d{4,9}/[^\s\"<>]+)", re.IGNORECASE)
_PMID_URL = re.compile(r"(?:ncbi\.nlm\.nih\.gov/pubmed/|pubmed\.ncbi\.nlm\.nih\.gov/|"
                       r"\bPMID:?\s*)(\d{1,9})\b", re.IGNORECASE)


def doi_in(*values: Any) -> str | None:
    """A DOI found inside free text or URLs (``https://doi.org/10...``, ``doi: 10...``)."""
    for v in values:
        if not v:
            continue
        for s in v if isinstance(v, list) else [v]:
            m = _DOI_URL.search(str(s))
            if m:
                return m.group(1)
    return None


def pmid_in(*values: Any) -> str | None:
    """A PubMed ID found in a PubMed URL or a ``PMID: 123`` note."""
    for v in values:
        if not v:
            continue
        for s in v if isinstance(v, list) else [v]:
            m = _PMID_URL.search(str(s))
            if m:
                return m.group(1)
    return None


def join_pages(start: str | None, end: str | None) -> str | None:
    """``"123"``, ``"129"`` -> ``"123-129"``; either alone is returned as is."""
    start = (start or "").strip() or None
    end = (end or "").strip() or None
    if start and end and "-" not in start and start != end:
        return f"{start}-{end}"
    return start or end
