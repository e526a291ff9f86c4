"""Malformed records (reported, rest kept) and whole-file problems (InputError naming the file)."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.errors import InputError
from evsynth.records import read, sniff_format
from evsynth.records.io import RecordsWarning, decode_bytes
from evsynth.records.model import normalise_doi, normalise_pages, normalise_title, parse_year

RIS_OK = "TY  - JOUR\nTI  - First title\nPY  - 2001\nER  - \n"


def write(tmp_path, name: str, data: bytes | str):
    p = tmp_path / name
    if isinstance(data, str):
        data = data.encode("utf-8")
    p.write_bytes(data)
    return p


# ---------------------------------------------------------------- whole-file problems
def test_empty_file(tmp_path):
    p = write(tmp_path, "empty.ris", b"  \n\n")
    with pytest.raises(InputError, match="empty.ris.*empty"):
        read(p)


def test_pdf_named_ris(tmp_path):
    p = write(tmp_path, "paper.ris", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\n")
    with pytest.raises(InputError, match="paper.ris.*PDF"):
        read(p)


def test_binary_file(tmp_path):
    p = write(tmp_path, "blob.txt", bytes(range(256)) * 20)
    with pytest.raises(InputError, match="blob.txt"):
        read(p)


def test_unknown_format(tmp_path):
    p = write(tmp_path, "notes.txt", "Just some prose about a review.\nNothing tagged here.\n")
    with pytest.raises(InputError, match="notes.txt.*unknown format"):
        read(p)


def test_unknown_format_name(tmp_path):
    p = write(tmp_path, "a.ris", RIS_OK)
    with pytest.raises(InputError, match="a.ris.*unknown format 'endnote8'"):
        read(p, format="endnote8")


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="nothere.ris.*no such file"):
        read(tmp_path / "nothere.ris")


def test_no_records(tmp_path):
    p = write(tmp_path, "hdr.csv", "Title,Year\n")
    with pytest.raises(InputError, match="hdr.csv.*no records"):
        read(p, format="csv")


def test_csv_mapping_names_missing_column(tmp_path):
    p = write(tmp_path, "m.csv", "Heading,Yr\nA,2001\n")
    with pytest.raises(InputError, match="m.csv.*'title'.*'Titel'"):
        read(p, format="csv", mapping={"title": "Titel"})


def test_csv_without_title_column(tmp_path):
    p = write(tmp_path, "m.csv", "Heading,Yr\nA,2001\n")
    with pytest.raises(InputError, match="m.csv.*no title column"):
        read(p, format="csv")


def test_bad_utf8_bom_file(tmp_path):
    p = write(tmp_path, "u16.ris", b"\xff\xfe" + b"T\x00Y\x00" + b"\x00\xd8")  # lone surrogate
    with pytest.raises(InputError, match="u16.ris"):
        read(p)


# ---------------------------------------------------------------- encodings, line ends
@pytest.mark.parametrize("enc", ["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"])
@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_encodings_and_line_ends(tmp_path, enc, eol):
    text = ("TY  - JOUR\nAU  - Müller, Jürgen\nTI  - Café study\nPY  - 1999\nER  - \n\n"
            "TY  - JOUR\nAU  - Ørsted, Hans\nTI  - Second\nER  - \n").replace("\n", eol)
    p = write(tmp_path, "x.ris", text.encode(enc))
    df = read(p)
    assert df["authors"].tolist() == [["Müller, Jürgen"], ["Ørsted, Hans"]]
    assert df["title"].tolist() == ["Café study", "Second"]
    assert df["source_line"].tolist() == [1, 7]


def test_decode_fallback_cp1252():
    text, enc = decode_bytes("Caf\u00e9 \u2013 r\u00e9sum\u00e9".encode("cp1252"), "f")
    assert enc == "cp1252" and text == "Café – résumé"


# ---------------------------------------------------------------- malformed records
def test_ris_missing_er_is_reported_and_kept(tmp_path):
    text = RIS_OK + "TY  - JOUR\nTI  - No end tag\nTY  - JOUR\nTI  - Third\nER  - \n"
    p = write(tmp_path, "m.ris", text)
    with pytest.warns(RecordsWarning, match=r"m.ris, line 5"):
        df = read(p)
    assert df["title"].tolist() == ["First title", "No end tag", "Third"]
    assert df.attrs["problems"] == [{"file": str(p), "line": 5, "message":
                                     "record starting at line 5 has no 'ER' end tag before the "
                                     "next 'TY' at line 7; kept"}]


def test_ris_missing_final_er(tmp_path):
    p = write(tmp_path, "m.ris", RIS_OK + "TY  - JOUR\nTI  - Last")
    with pytest.warns(RecordsWarning):
        df = read(p)
    assert df["title"].tolist() == ["First title", "Last"]
    assert df.attrs["problems"][0]["line"] == 5


def test_xml_malformed_record_skipped_rest_kept(tmp_path):
    good = ("<record><titles><title>T{n}</title></titles><dates><year>2001</year></dates>"
            "</record>\n")
    bad = "<record><titles><title>Broken</titel></titles></record>\n"
    text = ('<?xml version="1.0"?>\n<xml><records>\n' + good.format(n=1) + bad
            + good.format(n=3) + "</records></xml>\n")
    p = write(tmp_path, "e.xml", text)
    with pytest.warns(RecordsWarning, match="e.xml, line 4"):
        df = read(p)
    assert df["title"].tolist() == ["T1", "T3"]
    assert df["record_id"].tolist() == ["e.xml:1", "e.xml:2"]
    assert df.attrs["problems"][0]["line"] == 4


def test_pubmed_xml_unclosed_article(tmp_path):
    art = ("<PubmedArticle><MedlineCitation><PMID>{p}</PMID><Article><ArticleTitle>T{p}"
           "</ArticleTitle></Article></MedlineCitation></PubmedArticle>\n")
    text = ("<PubmedArticleSet>\n" + art.format(p=1)
            + "<PubmedArticle><MedlineCitation><PMID>2</PMID>\n" + art.format(p=3)
            + "</PubmedArticleSet>")
    p = write(tmp_path, "p.xml", text)
    with pytest.warns(RecordsWarning, match="p.xml, line 3"):
        df = read(p)
    assert df["pmid"].tolist() == ["1", "3"]


def test_csv_ragged_row(tmp_path):
    p = write(tmp_path, "r.csv", "Title,Year\nA,2001\nB,2002,extra,more\nC,2003\n")
    with pytest.warns(RecordsWarning, match="r.csv, line 3"):
        df = read(p)
    assert df["title"].tolist() == ["A", "C"]
    assert df["source_line"].tolist() == [2, 4]


def test_csv_long_field_is_read(tmp_path):
    """A field above Python's csv default limit (131,072 characters) was skipped, and a file of
    such rows reported only "no records found"."""
    import csv

    before = csv.field_size_limit()
    p = write(tmp_path, "l.csv", "Title,Abstract\nA," + "x" * 200_000 + "\nB,short\n")
    df = read(p)
    assert df["title"].tolist() == ["A", "B"] and len(df["abstract"][0]) == 200_000
    assert csv.field_size_limit() == before  # the module-wide limit is restored


def test_no_records_error_says_why_every_record_was_skipped(tmp_path):
    """An XML export whose records all use an entity the DOCTYPE declares (an XXE attempt:
    entities are never expanded) said only "no records found"."""
    text = ('<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet [<!ENTITY xxe SYSTEM '
            '"file:///etc/passwd">]>\n<PubmedArticleSet>\n<PubmedArticle><MedlineCitation>'
            "<PMID>1</PMID><Article><ArticleTitle>&xxe;</ArticleTitle></Article>"
            "</MedlineCitation></PubmedArticle>\n</PubmedArticleSet>\n")
    p = write(tmp_path, "a.xml", text)
    with pytest.raises(InputError, match=r"no records found in this pubmed_xml file; every "
                                         r"record was skipped, e.g. line 4: .*undefined entity"):
        read(p)


def test_bibtex_broken_entry(tmp_path):
    text = ("@article{a, title={One}, year={2001}}\n\n@article{b, title={Two, year=2002\n\n"
            "@article{c, title={Three}, year={2003}}\n")
    p = write(tmp_path, "b.bib", text)
    with pytest.warns(RecordsWarning, match="b.bib, line 3"):
        df = read(p)
    assert df["title"].tolist() == ["One", "Three"]


def test_bibtex_parser_logs_nothing_past_the_safe_printer(tmp_path, capfd):
    """bibtexparser logs each failed block; with no logging handler set (the command line)
    Python's last-resort handler printed it raw to stderr, text of the file included."""
    import logging

    text = "@article{a, title={One \x1b[2J\x07, year=2002\n\n@article{c, title={Three}}\n"
    p = write(tmp_path, "b.bib", text)
    level = logging.getLogger("bibtexparser").level
    with pytest.warns(RecordsWarning, match="b.bib, line 1"):
        df = read(p)
    assert df["title"].tolist() == ["Three"]
    captured = capfd.readouterr()
    assert "Parsing of" not in captured.err and "\x1b" not in captured.err
    assert logging.getLogger("bibtexparser").level == level  # restored


def test_medline_missing_blank_line(tmp_path):
    text = "PMID- 1\nTI  - One\nPMID- 2\nTI  - Two\n"
    p = write(tmp_path, "m.nbib", text)
    with pytest.warns(RecordsWarning, match="m.nbib, line 3"):
        df = read(p)
    assert df["pmid"].tolist() == ["1", "2"]


def test_clean_file_emits_no_warning(tmp_path):
    p = write(tmp_path, "ok.ris", RIS_OK)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = read(p)
    assert df.attrs["problems"] == []


# ---------------------------------------------------------------- sniffing and helpers
@pytest.mark.parametrize("text,fmt", [
    (RIS_OK, "ris"),
    ("PMID- 123\nTI  - x\n", "medline"),
    ("FN Clarivate\nVR 1.0\nPT J\nTI x\nER\n", "wos"),
    ("<1. >\nTI  - x\n", "ovid"),
    ("<?xml version='1.0'?><PubmedArticleSet><PubmedArticle/></PubmedArticleSet>", "pubmed_xml"),
    ("<?xml version='1.0'?><xml><records><record/></records></xml>", "endnote_xml"),
    ("@article{k, title={x}}", "bibtex"),
    ("Title,Year\nx,2001\n", "csv"),
    ("hello world", None),
])
def test_sniff(text, fmt):
    assert sniff_format(text) == fmt


def test_normalisers():
    assert normalise_doi("https://doi.org/10.1000/ABC.1") == "10.1000/abc.1"
    assert normalise_doi("doi:10.1000/x [doi]") == "10.1000/x"
    assert normalise_doi("http://dx.doi.org/10.4103%2F2303-9027.138783") == \
        "10.4103/2303-9027.138783"
    assert normalise_doi("no doi") is None
    assert normalise_pages("1223-9") == "1223-1229"
    assert normalise_title("[Vertébroplastie: étude]. ") == "vertebroplastie etude"
    assert parse_year("2019//") == 2019 and parse_year("n.d.") is None


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_normalise_title_idempotent(s):
    t = normalise_title(s)
    assert normalise_title(t) == t
    assert t == t.lower() and "  " not in t


@settings(max_examples=60, deadline=None)
@given(st.from_regex(r"10\.[0-9]{4,6}/[A-Za-z0-9._-]{1,20}", fullmatch=True))
def test_normalise_doi_prefixes(doi):
    expected = normalise_doi(doi)
    assert expected == doi.lower().rstrip(".")
    for form in (f"https://doi.org/{doi}", f"doi: {doi}", f"http://dx.doi.org/{doi}", doi.upper()):
        assert normalise_doi(form) == expected


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.text(alphabet="abcdefghij XYZ", min_size=1, max_size=30),
                          st.integers(1900, 2030)), min_size=1, max_size=8))
def test_ris_roundtrip_count(tmp_path_factory, items):
    lines = []
    for title, year in items:
        lines += ["TY  - JOUR", f"TI  - {title}", f"PY  - {year}", "ER  - ", ""]
    p = tmp_path_factory.mktemp("h") / "h.ris"
    p.write_text("\n".join(lines), encoding="utf-8")
    df = read(p)
    assert len(df) == len(items)
    assert df["year"].tolist() == [y for _, y in items]
    assert df["source_line"].tolist() == [1 + 5 * i for i in range(len(items))]
