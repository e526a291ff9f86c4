"""Parsed fields of a few records per format, checked by eye against the raw export text."""

from __future__ import annotations

import warnings

import pytest
from tests.conftest import SHARED

from evsynth.records import read

R = SHARED / "data" / "records"
pytestmark = pytest.mark.skipif(not R.exists(), reason="../shared/data/records not present")


def rec(rel: str, i: int = 0) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read(R / rel).iloc[i].to_dict()


def test_ris_embase_bom():
    r = rec("ris/asreview/embase.ris")
    assert r["title"].startswith("Duplication cysts: Diagnosis, management")
    assert r["year"] == 2014 and r["doi"] == "10.4103/2303-9027.138783"
    assert r["authors"] == ["Liu R.", "Adler D.G."] and r["first_author"] == "Liu"
    assert r["journal"] == "Endoscopic Ultrasound" and r["pages"] == "152-160"
    assert r["other_ids"]["embase"] == "L373791783" and r["source_database"] == "Embase"
    assert r["source_line"] == 1


def test_ris_ovid_numbering_lines_and_medline_pmid_from_link():
    r = rec("ris/msm_scoping_review/medline.ris")
    assert r["title"].startswith("Syndemic theory, structural violence and HIV")
    assert r["pmid"] == "32487818" and r["source_line"] == 2  # line 1 is "1. "
    assert r["authors"][:2] == ["Godley, Bria A", "Adimora, Adaora A"]


def test_ris_bare_cr_and_wos_accession():
    r = rec("ris/asysd/wos_test.ris")
    assert r["title"].startswith("Microangiography of the humeral condyle")
    assert r["year"] == 1999 and r["pages"] == "134-137" and r["volume"] == "12"
    assert r["other_ids"] == {"wos": "000082252000006"}


def test_ris_without_ty_and_unindented_keyword_continuations():
    r = rec("ris/citesource/citesource_benchmark_export.ris")
    assert r["title"] == "A systematic review of the impact of wildfires on sleep disturbances"
    assert r["doi"] == "10.3390/ijerph181910152" and r["first_author"] == "Isaac"
    r = rec("ris/asreview/ris_issue_992.txt")
    assert r["keywords"][:3] == ["Health Facility Administration", "Joint Commission",
                                 "Standards"]


def test_ris_multiline_fields():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = read(R / "ris/rispy_fixtures/example_multiline.ris")
    expected = "first line, ER then second line and at the end the last line"
    assert df["abstract"].tolist() == [expected] * 3
    assert df["source_line"].tolist() == [1, 8, 17]  # grep -n "^TY"


def test_ris_non_ascii_crlf():
    r = rec("ris/synthesisr/ASP_ris_example.ris")
    assert r["authors"][:2] == ["Rodríguez-Pastor, Ruth", "Luque-Larena, Juan José"]
    assert r["first_author"] == "Rodríguez-Pastor" and r["year"] == 2016
    assert r["title"].startswith("\u201cLiving on the edge\u201d")


def test_medline():
    r = rec("medline/synthesisr/PubMed_example.txt")
    assert r["pmid"] == "28441597" and r["doi"] == "10.1016/j.scitotenv.2017.04.075"
    assert r["title"].startswith("Differences in nitrate and phosphorus export between wooded "
                                 "and grassed riparian zones")  # continuation line joined
    assert r["year"] == 2017 and r["volume"] == "598" and r["pages"] == "188-197"
    assert r["authors"][0] == "Neilen, Amanda D" and r["journal"].startswith("The Science")
    assert "Journal Article" in r["publication_type"]


def test_medline_crlf_and_eric():
    r = rec("medline/reflib_bluelight/blue-light.nbib")
    assert r["pmid"] == "29657938" and r["doi"] == "10.4103/abr.abr_99_17"
    assert r["authors"][0] == "Shahtalebi, Mohammad Ali"
    r = rec("medline/colrev_fixture/eric_nbib.nbib")
    assert r["title"] == "Paper title" and r["doi"] == "10.1000/123456789"
    assert r["other_ids"] == {"eric": "EJ1131633"} and r["source_database"] == "ERIC"


def test_wos_tagged():
    r = rec("wos/synthesisr/WoS_ciw_example.ciw")
    assert r["title"].startswith("Soil fauna diversity at different stages of reed restoration")
    assert r["doi"] == "10.1080/20964129.2020.1722034" and r["year"] == 2020
    assert r["authors"][0] == "Li, Wei" and r["pages"] == "1722034"
    assert r["other_ids"]["wos"] == "000514379300001"
    r = rec("wos/synthesisr/zoorec.txt")
    assert r["source_database"] == "Zoological Record" and r["authors"][0] == "Stillman, Andrew N."


def test_ovid_tagged_both_options_agree():
    a = rec("ovid/knh11545/Embase_endnote_r3001-3002.cgi")
    b = rec("ovid/knh11545/Embase_citavi_r3001-3002.ovd")
    for k in ("title", "year", "doi", "authors", "journal", "volume", "other_ids", "abstract"):
        assert a[k] == b[k], k
    assert a["other_ids"] == {"embase": "621381829"} and a["year"] == 2018
    assert a["doi"] == "10.1186/s12919-018-0099-8" and a["first_author"] == "Behan"
    assert "Method(s): We searched MEDLINE" in a["abstract"]  # unindented continuation


def test_pubmed_xml_article_and_book():
    r = rec("pubmed_xml/biopython/pubmed2.xml")
    assert r["pmid"] == "11748933" and r["doi"] == "10.1006/cryo.2001.2328"
    assert r["journal"] == "Cryobiology" and r["volume"] == "42" and r["issue"] == "4"
    assert r["pages"] == "244-55" and r["year"] == 2001 and r["first_author"] == "Taddei"
    r = rec("pubmed_xml/jabref_fixture/MedlineImporterTestPubmedBook.xml")
    assert r["pmid"] == "21413195" and r["year"] == 2009
    assert r["title"].startswith("Rheumatoid Arthritis: National Clinical Guideline")
    r = rec("pubmed_xml/jabref_fixture/MedlineImporterTestArticleItalics.xml")
    assert r["other_ids"]["pmcid"] == "PMC5973862" and r["authors"][1] == "Hernández, Isabel"


def test_endnote_xml_and_mendeley():
    r = rec("endnote_xml/sra_respiratory_labelled/Respiratory.xml")
    assert r["title"] == ("Perioperative nutritional support in patients undergoing hepatectomy "
                          "for hepatocellular carcinoma")
    assert r["label"] == "Duplicate" and r["year"] == 1996 and r["pages"] == "91-92"
    r = rec("endnote_xml/asysd/mendeley_export.xml")
    assert r["title"] == "Myoclonus in older Cavalier King Charles Spaniels."
    assert r["doi"] == "10.1111/jvim.16404" and r["pmid"] == "35319117"
    assert r["authors"] == ["Rotter, Carina", "Whittaker, Danielle", "Rusbridge, Clare"]


def test_bibtex():
    r = rec("bibtex/synthesisr/litsearchr.txt")
    assert r["authors"][0] == "Grames, Eliza M" and r["pages"] == "1645-1654"
    assert r["year"] == 2019 and r["journal"] == "Methods in Ecology and Evolution"
    r = rec("bibtex/synthesisr/Scopus_bib_example.bib")
    assert r["doi"] == "10.1080/20964129.2020.1722034" and r["source_line"] == 2
    assert r["other_ids"]["scopus"] == "2-s2.0-85079532227"


def test_csv_builtin_mappings():
    r = rec("csv/asreview/embase.csv")
    assert r["journal"] == "Endoscopic Ultrasound" and r["volume"] == "3" and r["issue"] == "3"
    assert r["pages"] == "152-160" and r["year"] == 2014
    assert r["doi"] == "10.4103/2303-9027.138783"
    r = rec("csv/colrev/pubmed-chatbot.csv", 1)
    assert r["pmid"] == "34847056" and r["authors"] == ["Xu L", "Sanders L", "Li K", "Chow JCL"]
    assert r["pages"] == "e27850" and r["other_ids"]["pmcid"] == "PMC8669585"
    r = rec("csv/asysd_labelled/labelled_test_set.csv")  # cp1252
    assert r["authors"] == ["Adeli K.", "Lewis G. F."] and r["pages"] == "221-8"
    r = rec("csv/bibdedupe_stroke/records_pre_merged.csv")
    assert r["other_ids"]["source_id"] == "id_0000001"
    assert r["authors"][:2] == ["Zhai, Q. J.", "Yue, X. Y."]


def test_csv_explicit_mapping(tmp_path):
    p = tmp_path / "mine.csv"
    p.write_text("Heading;Yr;Who\nA trial of x;2001;Smith, J\n", encoding="utf-8")
    df = read(p, format="csv", mapping={"title": "Heading", "year": "Yr", "authors": "Who"})
    assert df["title"].tolist() == ["A trial of x"] and df["year"].tolist() == [2001]
    assert df["first_author"].tolist() == ["Smith"]


def test_format_is_sniffed_not_taken_from_extension():
    r = rec("wos/rispy/example_wos.ris")  # WoS tagged saved as .ris
    assert r["source_format"] == "wos"
    r = rec("ris/asysd/ris_export.txt")
    assert r["source_format"] == "ris"


def test_ris_ovid_medline_pmid_from_versioned_database_codes():
    """Ovid links use D=med20, D=pmnm8, D=medp...: every record of medline_84 has a PMID
    (84 L2 lines, ``grep '^L2' | grep -c 'AN=[0-9]*$'``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = read(R / "ris/citesource/medline_84.ris")
    assert df["pmid"].notna().all() and df["pmid"].iloc[0] == "39012781"
    assert rec("ris/asreview/ovid_psycinfo.ris")["other_ids"] == {"psycinfo": "2019-65183-001"}
