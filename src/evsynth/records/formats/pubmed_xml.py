"""PubMed XML (EFetch ``retmode=xml`` / PubMed "Save -> XML"): ``PubmedArticle`` and
``PubmedBookArticle`` elements (NLM, "PubMed XML DTD" pubmed_250101.dtd; element meanings in
https://www.nlm.nih.gov/bsd/licensee/elements_descriptions.html)."""

from __future__ import annotations

from typing import Any

from evsynth.records.formats import xml_chunks, xml_text

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def _authors(parent: Any) -> list[str]:
    out: list[str] = []
    if parent is None:
        return out
    for au in parent.iter("Author"):
        last = xml_text(au.find("LastName"))
        fore = xml_text(au.find("ForeName")) or xml_text(au.find("Initials"))
        coll = xml_text(au.find("CollectiveName"))
        if last:
            out.append(f"{last}, {fore}" if fore else last)
        elif coll:
            out.append(coll)
    return out


def _year(date: Any) -> str | None:
    if date is None:
        return None
    return xml_text(date.find("Year")) or xml_text(date.find("MedlineDate"))


_ID_NAMES = {"pmc": "pmcid", "pubmed": "pubmed", "doi": "doi", "pii": "pii", "mid": "nihms",
             "bookaccession": "bookaccession"}


def _ids(root: Any) -> dict[str, str]:
    """Ids of the record itself (not of its cited references)."""
    ids: dict[str, str] = {}
    lists = [root.find("PubmedData/ArticleIdList"), root.find("ArticleIdList")]
    for lst in lists:
        if lst is None:
            continue
        for aid in lst.findall("ArticleId"):
            t = _ID_NAMES.get((aid.get("IdType") or "").lower())
            v = xml_text(aid)
            if t and v and t not in ids:
                ids[t] = v
    for eid in root.findall("MedlineCitation/Article/ELocationID") + root.findall(
            "ELocationID"):
        if (eid.get("EIdType") or "").lower() == "doi" and "doi" not in ids and xml_text(eid):
            ids["doi"] = xml_text(eid) or ""
    return ids


def _article(elem: Any) -> dict[str, Any]:
    mc = elem.find("MedlineCitation")
    art = mc.find("Article") if mc is not None else None
    journal = art.find("Journal") if art is not None else None
    ji = journal.find("JournalIssue") if journal is not None else None
    ids = _ids(elem)
    pages = None
    if art is not None:
        pages = xml_text(art.find("Pagination/MedlinePgn"))
        if not pages:
            sp = xml_text(art.find("Pagination/StartPage"))
            ep = xml_text(art.find("Pagination/EndPage"))
            pages = f"{sp}-{ep}" if sp and ep else sp
    abstract = None
    if art is not None and art.find("Abstract") is not None:
        parts = []
        for at in art.find("Abstract").findall("AbstractText"):
            label = at.get("Label")
            txt = xml_text(at)
            if txt:
                parts.append(f"{label}: {txt}" if label else txt)
        abstract = " ".join(parts) or None
    keywords = [xml_text(d) for d in elem.iter("DescriptorName")]
    keywords += [xml_text(k) for k in elem.iter("Keyword")]
    year = _year(ji.find("PubDate")) if ji is not None else None
    if not year and art is not None:
        year = _year(art.find("ArticleDate"))
    other = {k: v for k, v in ids.items() if k not in ("doi", "pubmed")}
    return {
        "title": xml_text(art.find("ArticleTitle")) if art is not None else None,
        "abstract": abstract,
        "authors": _authors(art.find("AuthorList") if art is not None else None),
        "year": year,
        "journal": xml_text(journal.find("Title")) if journal is not None else None,
        "volume": xml_text(ji.find("Volume")) if ji is not None else None,
        "issue": xml_text(ji.find("Issue")) if ji is not None else None,
        "pages": pages,
        "doi": ids.get("doi"),
        "pmid": xml_text(mc.find("PMID")) if mc is not None else ids.get("pubmed"),
        "other_ids": other,
        "keywords": [k for k in keywords if k],
        "language": xml_text(art.find("Language")) if art is not None else None,
        "publication_type": [xml_text(p) for p in elem.iter("PublicationType")
                             if xml_text(p)],
    }


def _book(elem: Any) -> dict[str, Any]:
    bd = elem.find("BookDocument")
    bd = bd if bd is not None else elem
    book = bd.find("Book")
    ids = _ids(bd)
    title = xml_text(bd.find("ArticleTitle")) or (xml_text(book.find("BookTitle"))
                                                   if book is not None else None)
    authors = _authors(bd.find("AuthorList")) or _authors(
        book.find("AuthorList") if book is not None else None)
    abstract = None
    if bd.find("Abstract") is not None:
        abstract = " ".join(filter(None, (xml_text(a) for a in
                                          bd.find("Abstract").findall("AbstractText")))) or None
    other = {k: v for k, v in ids.items() if k not in ("doi", "pubmed")}
    return {
        "title": title,
        "abstract": abstract,
        "authors": authors,
        "year": _year(book.find("PubDate")) if book is not None else None,
        "journal": None,
        "volume": xml_text(book.find("Volume")) if book is not None else None,
        "issue": None,
        "pages": None,
        "doi": ids.get("doi"),
        "pmid": xml_text(bd.find("PMID")),
        "other_ids": other,
        "keywords": [k for k in (xml_text(x) for x in bd.iter("Keyword")) if k],
        "language": xml_text(bd.find("Language")),
        "publication_type": [xml_text(p) for p in bd.iter("PublicationType") if xml_text(p)]
        or ["Book"],
    }


def parse(text: str, path: str, **_: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Parse PubMed XML into record dicts (one per PubmedArticle / PubmedBookArticle)."""
    chunks, problems = xml_chunks(text, path, ("PubmedArticle", "PubmedBookArticle"))
    records = []
    for line, elem in chunks:
        rec = _book(elem) if elem.tag == "PubmedBookArticle" else _article(elem)
        rec["source_line"] = line
        rec["source_database"] = "PubMed"
        rec["label"] = None
        records.append(rec)
    return records, problems
