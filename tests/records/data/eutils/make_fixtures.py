"""Regenerate the recorded E-utilities replies in this folder (run once; tests never run it).

The efetch replies are excerpts of real records from ../shared/data/records (MIT/Apache-2.0, see
that folder's README): the first 5 MEDLINE records of reflib_bluelight/blue-light.nbib (line
endings made LF as efetch sends them) and the first 5 PubmedArticle elements of
asreview/pubmed.xml, split into batches of 2 (retstart 0, 2, 4) in NCBI's reply layout. The
esearch replies are written by hand in NCBI's JSON/XML layout; they were not captured from NCBI.
"""

from __future__ import annotations

import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[3].parent / "shared" / "data" / "records"


def medline() -> None:
    text = (SHARED / "medline/reflib_bluelight/blue-light.nbib").read_bytes().decode("utf-8")
    text = text.replace("\r\n", "\n")
    starts = [m.start() for m in re.finditer(r"^PMID- ", text, re.M)]
    recs = [text[s:starts[i + 1]].rstrip() + "\n" for i, s in enumerate(starts[:5])]
    for b in range(0, 5, 2):
        body = "".join("\n" + r for r in recs[b:b + 2])
        (HERE / f"efetch_medline_{b}.txt").write_text(body, encoding="utf-8", newline="\n")
    print([re.match(r"PMID- (\d+)", r).group(1) for r in recs])


def pubmed_xml() -> None:
    data = (SHARED / "pubmed_xml/asreview/pubmed.xml").read_text(encoding="utf-8")
    arts = re.findall(r"<PubmedArticle>.*?</PubmedArticle>", data, re.S)[:5]
    head = ('<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle,'
            ' 1st January 2019//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_190101.dtd">'
            '\n<PubmedArticleSet>\n')
    for b in range(0, 5, 2):
        body = head + "\n".join(arts[b:b + 2]) + "\n\n</PubmedArticleSet>\n"
        (HERE / f"efetch_xml_{b}.xml").write_text(body, encoding="utf-8", newline="\n")
    print([re.search(r"<PMID[^>]*>(\d+)", a).group(1) for a in arts])


if __name__ == "__main__":
    medline()
    pubmed_xml()
