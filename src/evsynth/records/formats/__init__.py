"""One parser per export format.

Every module exposes ``parse(text, path, **options) -> (records, problems)``: ``records`` is a
list of dicts keyed by the columns of :data:`evsynth.records.model.RECORD_COLUMNS` (anything
missing is filled in later) with ``source_line`` set to the 1-based line where the record
starts; ``problems`` is a list of ``{"file", "line", "message"}`` dicts for malformed records
that were skipped or repaired. The text is already decoded (see :mod:`evsynth.records.io`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

#: a record's tagged lines: [(tag, value), ...]
Tagged = list[tuple[str, str]]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
#: " and " between author names; tried only at the first space of a run of spaces (a bare
#: ``\s+and\s+`` rescans the run from each of its spaces: quadratic in a long run)
AUTHOR_AND = re.compile(r"(?<!\s)\s+and\s+")


def split_lines(text: str) -> list[str]:
    """Split on CRLF, bare CR or LF (not on the exotic separators of ``str.splitlines``)."""
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def group_tags(tagged: list[tuple[str, str]]) -> dict[str, list[str]]:
    """``[(tag, value), ...]`` -> ``{tag: [values in order]}`` for tagged formats."""
    fields: dict[str, list[str]] = {}
    for tag, value in tagged:
        fields.setdefault(tag, []).append(value)
    return fields


def first_value(fields: dict[str, list[str]], *tags: str) -> str | None:
    """The first non-empty value of the first tag (in the order given) that has one."""
    for t in tags:
        for v in fields.get(t, []):
            if v:
                return v
    return None


def parse_tagged(text: str, path: str,
                 split_records: Callable[[list[str], str],
                                         tuple[list[tuple[int, Tagged]], list[dict[str, Any]]]],
                 to_record: Callable[[Tagged], dict[str, Any]]
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Shared ``parse`` of the line-tagged formats: cut ``text`` into records with the format's
    ``split_records(lines, path)`` and map each with ``to_record(tagged)``, recording the line
    where each record starts."""
    chunks, problems = split_records(split_lines(text), path)
    records = []
    for start, tagged in chunks:
        rec = to_record(tagged)
        rec["source_line"] = start
        records.append(rec)
    return records, problems


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


_XML_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")
_XML_BUILTIN = {"amp", "lt", "gt", "quot", "apos"}


def _html_entities_to_chars(s: str) -> str:
    import html

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in _XML_BUILTIN:
            return m.group(0)
        ch = html.unescape(m.group(0))
        if ch == m.group(0):
            return m.group(0)
        return html.escape(ch, quote=False)

    return _XML_ENTITY.sub(sub, s)


def xml_chunks(text: str, path: str, tags: tuple[str, ...]
               ) -> tuple[list[tuple[int, Any]], list[dict[str, Any]]]:
    """Cut an XML export into record elements, parsed one by one.

    Records do not nest, so each ``<tag ...>`` start (for ``tag`` in ``tags``) begins a record
    that ends at the matching ``</tag>``; each is parsed with :mod:`xml.etree.ElementTree`
    on its own. A record that is not well-formed (or has no end tag) is reported with its
    start line and skipped; the rest of the file is kept. Returns ``[(line, element)]``.
    """
    import xml.etree.ElementTree as ET

    alt = "|".join(re.escape(t) for t in tags)
    start_re = re.compile(rf"<({alt})(?=[\s>/])")
    out: list[tuple[int, Any]] = []
    problems: list[dict[str, Any]] = []
    starts = [(m.start(), m.group(1)) for m in start_re.finditer(text)]
    line = 1
    pos = 0
    for k, (s, tag) in enumerate(starts):
        line += text.count("\n", pos, s) + text.count("\r", pos, s) - text.count("\r\n", pos, s)
        pos = s
        limit = starts[k + 1][0] if k + 1 < len(starts) else len(text)
        end_tag = f"</{tag}>"
        e = text.find(end_tag, s, limit)
        if e < 0:
            problems.append(problem(path, line, f"<{tag}> record has no closing {end_tag} "
                                                "before the next record; skipped"))
            continue
        chunk = text[s:e + len(end_tag)]
        try:
            elem = ET.fromstring(chunk)
        except ET.ParseError:
            try:
                elem = ET.fromstring(_html_entities_to_chars(chunk))
            except ET.ParseError as exc:
                rel = exc.position[0] - 1 if hasattr(exc, "position") else 0
                problems.append(problem(path, line + rel, f"<{tag}> record is not well-formed "
                                                          f"XML ({exc}); skipped"))
                continue
        out.append((line, elem))
    return out, problems


def xml_text(elem: Any) -> str | None:
    """All text inside ``elem`` (markup such as ``<i>``/``<style>`` dropped), or None."""
    if elem is None:
        return None
    s = "".join(elem.itertext())
    s = re.sub(r"\s+", " ", s).strip()
    return s or None
