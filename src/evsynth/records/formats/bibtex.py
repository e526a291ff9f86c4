"""BibTeX (``@article{key, field = {value}, ...}``), parsed with bibtexparser v2.

Field meanings follow the BibTeX documentation (Patashnik 1988, "BibTeXing"); Scopus and
Google Scholar add ``doi``, ``abstract``, ``keywords``, ``pmid``/``note``. LaTeX accents are
decoded to Unicode; authors are split on `` and ``.
"""

from __future__ import annotations

import re
from typing import Any

from evsynth.records.formats import AUTHOR_AND, doi_in, pmid_in, problem


def _decode_latex(s: str) -> str:
    try:
        from pylatexenc.latex2text import LatexNodes2Text  # bibtexparser's own dependency
    except ImportError:  # pragma: no cover - pylatexenc ships with bibtexparser v2
        return s.replace("{", "").replace("}", "")
    if "\\" not in s and "{" not in s:
        return s
    try:
        return LatexNodes2Text().latex_to_text(s)
    except Exception:  # noqa: BLE001 - malformed LaTeX: keep the raw text
        return s.replace("{", "").replace("}", "")


def _fields(entry: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in entry.fields:
        key = f.key.lower()
        val = f.value if isinstance(f.value, str) else str(f.value)
        if key not in out:  # repeated field: keep the first
            out[key] = _decode_latex(val).strip()
    return out


def _record(entry: Any) -> dict[str, Any]:
    f = _fields(entry)
    authors = [a.strip() for a in AUTHOR_AND.split(f.get("author", "")) if a.strip()]
    kw = f.get("keywords") or f.get("author_keywords") or ""
    keywords = [k.strip() for k in re.split(r"[;,]", kw) if k.strip()]
    other: dict[str, str] = {}
    for k in ("pmcid", "eprint", "isbn", "issn"):
        if f.get(k):
            other[k] = f[k]
    m = re.search(r"eid=(2-s2\.0-\d+)", f.get("url", ""))
    if m:
        other["scopus"] = m.group(1)
    source = f.get("source")
    return {
        "title": f.get("title"),
        "abstract": f.get("abstract"),
        "authors": authors,
        "year": f.get("year") or f.get("date"),
        "journal": f.get("journal") or f.get("journaltitle") or f.get("booktitle"),
        "volume": f.get("volume"),
        "issue": f.get("number") or f.get("issue"),
        "pages": (f.get("pages") or "").replace("--", "-") or f.get("art_number"),
        "doi": f.get("doi") or doi_in(f.get("url"), f.get("note")),
        "pmid": f.get("pmid") or pmid_in(f.get("note"), f.get("url")),
        "other_ids": other,
        "keywords": keywords,
        "language": f.get("language"),
        "publication_type": [entry.entry_type.lower()] + ([f["document_type"]]
                                                          if f.get("document_type") else []),
        "source_database": source,
        "label": f.get("note") if f.get("note") and not f["note"].startswith("cited By")
        else None,
    }


def parse(text: str, path: str, **_: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Parse BibTeX into record dicts (``@string``/``@comment``/``@preamble`` skipped)."""
    import logging

    import bibtexparser
    from bibtexparser.model import DuplicateFieldKeyBlock, Entry

    # bibtexparser also logs each failed block (to stderr through logging's last-resort
    # handler when the program set none): raw text of the file, past the terminal-safe printer,
    # and numbered from 0. The failures are reported below as problems instead.
    log = logging.getLogger("bibtexparser")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        lib = bibtexparser.parse_string(text.lstrip("\ufeff"))
    finally:
        log.setLevel(level)
    problems: list[dict[str, Any]] = []
    # bibtexparser types start_line as Optional; its parser always sets it
    blocks: list[tuple[int, Any]] = [(e.start_line or 0, e) for e in lib.entries]
    for b in lib.failed_blocks:
        if isinstance(b, DuplicateFieldKeyBlock) and isinstance(b.ignore_error_block, Entry):
            blocks.append((b.start_line or 0, b.ignore_error_block))  # repeated field: keep
        else:
            err = getattr(b, "error", None)
            lines = str(err).strip().splitlines() if err else []
            msg = lines[0] if lines else "syntax error, e.g. an unclosed brace"
            problems.append(problem(path, (b.start_line or 0) + 1,
                                    f"BibTeX entry could not be parsed ({msg}); skipped"))
    blocks.sort(key=lambda x: x[0])
    records = []
    for start, entry in blocks:
        rec = _record(entry)
        rec["source_line"] = start + 1
        records.append(rec)
    return records, problems
