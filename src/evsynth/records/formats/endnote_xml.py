"""EndNote XML (``<xml><records><record>``), incl. the Mendeley/Zotero export dialect.

Element names follow EndNote's RSXML DTD (``xml/records/record``: ``contributors/authors``,
``titles/title``, ``titles/secondary-title``, ``periodical/full-title``, ``dates/year``,
``electronic-resource-num`` = DOI, ``accession-num``, ``caption``, ``label``, ``notes``);
text is often wrapped in ``<style>`` elements, which are dropped.
"""

from __future__ import annotations

import re
from typing import Any

from evsynth.records.formats import doi_in, pmid_in, xml_chunks, xml_text


def _t(rec: Any, path: str) -> str | None:
    return xml_text(rec.find(path))


def _accession(acc: str | None, db: str) -> tuple[str | None, dict[str, str]]:
    """Interpret ``accession-num``: a PMID, WoS UT, Embase id, ... (by form and database)."""
    ids: dict[str, str] = {}
    if not acc:
        return None, ids
    a = acc.strip()
    if a.upper().startswith("WOS:"):
        ids["wos"] = a[4:]
        return None, ids
    if re.fullmatch(r"L?\d{9,12}", a) or "embase" in db:
        ids["embase"] = a
        return None, ids
    if re.fullmatch(r"\d{1,8}", a) and (not db or any(k in db for k in ("pubmed", "medline",
                                                                          "nlm"))):
        return a, ids
    ids["accession"] = a
    return None, ids


def _record(rec: Any) -> dict[str, Any]:
    authors = [xml_text(a) for a in rec.findall("contributors/authors/author")]
    db = " ".join(filter(None, [_t(rec, "remote-database-name"),
                                _t(rec, "remote-database-provider")])).lower()
    pmid, other = _accession(_t(rec, "accession-num"), db)
    urls = [xml_text(u) for u in rec.iter("url")]
    doi = _t(rec, "electronic-resource-num")
    if not doi or "10." not in doi:
        doi = doi_in(*urls) or doi
    if pmid is None:
        pmid = pmid_in(*[u for u in urls if u])
    ref_type = rec.find("ref-type")
    ptype = ref_type.get("name") if ref_type is not None else None
    journal = (_t(rec, "periodical/full-title") or _t(rec, "titles/secondary-title")
               or _t(rec, "periodical/abbr-1") or _t(rec, "titles/alt-title"))
    year = _t(rec, "dates/year") or _t(rec, "dates/pub-dates/date")
    label = _t(rec, "caption") or _t(rec, "label") or _t(rec, "notes")
    return {
        "title": _t(rec, "titles/title"),
        "abstract": _t(rec, "abstract"),
        "authors": [a for a in authors if a],
        "year": year,
        "journal": journal,
        "volume": _t(rec, "volume"),
        "issue": _t(rec, "number") or _t(rec, "issue"),
        "pages": _t(rec, "pages"),
        "doi": doi,
        "pmid": pmid,
        "other_ids": other,
        "keywords": [xml_text(k) for k in rec.findall("keywords/keyword")],
        "language": _t(rec, "language"),
        "publication_type": [x for x in (ptype, _t(rec, "work-type")) if x],
        "source_database": _t(rec, "remote-database-name") or _t(rec,
                                                                   "remote-database-provider"),
        "label": label,
    }


def parse(text: str, path: str, **_: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Parse EndNote XML into record dicts (one per ``<record>``)."""
    chunks, problems = xml_chunks(text, path, ("record",))
    records = []
    for line, elem in chunks:
        rec = _record(elem)
        rec["source_line"] = line
        records.append(rec)
    return records, problems
