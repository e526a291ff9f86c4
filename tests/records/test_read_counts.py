"""read() against independent record counts of every export file in ../shared/data/records.

How each count was established (without evsynth), recorded next to the literal:
- RIS: ``sed 's/^\\xef\\xbb\\xbf//; s/\\r$//' FILE | grep -c '^TY  - '`` (equal to the count of
  ``^ER  -`` lines in every file); for the CiteSource export without TY, ``grep -c '^ER  -'``.
  wos_test.ris uses bare CR inside records; its TY/ER counts were taken after ``tr '\\r' '\\n'``.
- MEDLINE: ``grep -c '^PMID-'``; the ERIC fixture (no PMID) has one ``OWN -`` line.
- WoS: ``grep -c '^PT '`` (equal to ``grep -c '^ER$'``).
- Ovid tagged: ``grep -c '^<[0-9]*\\. >'``.
- PubMed XML: ``grep -o '<PubmedArticle>\\|<PubmedBookArticle>' | wc -l``.
- EndNote XML: ``grep -o '<record>' | wc -l``.
- BibTeX: ``grep -c '^@'``.
- CSV: ``len(pandas.read_csv(FILE))`` (cp1252 for the ASySD file).
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
from tests.conftest import SHARED

from evsynth.errors import InputError
from evsynth.records import RECORD_COLUMNS, read

R = SHARED / "data" / "records"

COUNTS = {
    # RIS (TY lines)
    "ris/asreview/baseline_zotero.ris": 100,
    "ris/asreview/embase.ris": 6,
    "ris/asreview/ovid_psycinfo.ris": 6,
    "ris/asreview/proquest.ris": 6,
    "ris/asreview/pubmed_endnote.txt": 6,
    "ris/asreview/ris_issue_992.txt": 19,
    "ris/asreview/web_of_science.txt": 10,
    "ris/asysd/ris_export.txt": 69,
    "ris/asysd/scopus.ris": 10,
    "ris/asysd/wos_test.ris": 50,
    "ris/citesource/AGRIS.ris": 12,
    "ris/citesource/Dimensions_246.ris": 246,
    "ris/citesource/citesource_benchmark_export.ris": 499,  # no TY: ER lines
    "ris/citesource/econlit_3.ris": 3,
    "ris/citesource/medline_84.ris": 84,
    "ris/citesource_gambling/20221207_gambling-harms_crimjust_41.ris": 41,
    "ris/citesource_gambling/20221207_gambling-harms_lens_49.ris": 49,
    "ris/citesource_gambling/20221207_gambling-harms_psycinfo_124.ris": 124,
    "ris/citesource_gambling/20221207_gambling-harms_pubmed_176.ris": 176,
    "ris/citesource_gambling/20221207_gambling-harms_scopus_255.ris": 255,
    "ris/msm_scoping_review/cochrane.ris": 15,
    "ris/msm_scoping_review/medline.ris": 190,
    "ris/msm_scoping_review/proquest.ris": 66,
    "ris/reflib_bluelight/blue-light.ris": 102,
    "ris/revtools_restoration/restoration_scopus.ris": 286,
    "ris/rispy_fixtures/example_extraneous_data.ris": 2,
    "ris/rispy_fixtures/example_multiline.ris": 3,
    "ris/synthesisr/ASP_ris_example.ris": 4,
    "ris/synthesisr/Ovid_ris_example.ris": 4,
    "ris/synthesisr/Scopus_ris_example.ris": 3,
    "ris/synthesisr/citesource_issue_24.ris": 17,
    # Ovid tagged (<N. > headers)
    "ovid/knh11545/Embase_endnote_r3001-3002.cgi": 2,
    "ovid/knh11545/Embase_citavi_r3001-3002.ovd": 2,
    # MEDLINE (PMID- lines; ERIC: OWN - lines)
    "medline/synthesisr/PubMed_example.txt": 3,
    "medline/synthesisr/res_synth_methods.txt": 2,
    "medline/revtools_restoration/restoration_pubmed.nbib": 104,
    "medline/reflib_bluelight/blue-light.nbib": 80,
    "medline/reflib_node/cancer.nbib": 20,
    "medline/biopython/pubmed_result2.txt": 4,
    "medline/colrev_fixture/eric_nbib.nbib": 1,
    # PubMed XML (PubmedArticle + PubmedBookArticle elements)
    "pubmed_xml/asreview/pubmed.xml": 10,
    "pubmed_xml/biopython/pubmed1.xml": 2,
    "pubmed_xml/biopython/pubmed2.xml": 2,
    "pubmed_xml/jabref_fixture/MedlineImporterTestPubmedBook.xml": 1,
    "pubmed_xml/jabref_fixture/MedlineImporterTestArticleItalics.xml": 1,
    # EndNote XML (<record> elements)
    "endnote_xml/sra_respiratory_labelled/Respiratory.xml": 1988,
    "endnote_xml/iebh_copper_labelled/copper.xml": 505,
    "endnote_xml/iebh_tafenoquine_labelled/tafenoquine.xml": 179,
    "endnote_xml/reflib_bluelight/blue-light.xml": 102,
    "endnote_xml/asysd/mendeley_export.xml": 1233,
    "endnote_xml/reflib_node/bold.xml": 3,
    # WoS tagged (PT lines)
    "wos/synthesisr/WoS_ciw_example.ciw": 5,
    "wos/synthesisr/WoS_txt_example.txt": 4,
    "wos/synthesisr/zoorec.txt": 134,
    "wos/revtools_restoration/restoration_WoS.ciw": 247,
    "wos/knh11545/WoS_other_reference_software_r4001-4012.txt": 12,
    "wos/rispy/example_wos.ris": 2,
    # BibTeX (@ lines)
    "bibtex/synthesisr/Scopus_bib_example.bib": 3,
    "bibtex/synthesisr/litsearchr.txt": 1,
    # CSV (pandas.read_csv rows)
    "csv/asreview/embase.csv": 6,
    "csv/asreview/embase_newpage.csv": 6,
    "csv/colrev/pubmed-chatbot.csv": 6,
    "csv/asysd_labelled/labelled_test_set.csv": 1845,
    "csv/bibdedupe_respiratory/records_pre_merged.csv": 1988,
    "csv/bibdedupe_stroke/records_pre_merged.csv": 1292,
    "csv/bibdedupe_haematology/records_pre_merged.csv": 1415,
    "csv/bibdedupe_cytology/records_pre_merged.csv": 1856,
}

FORMAT = {"ris": "ris", "ovid": "ovid", "medline": "medline", "pubmed_xml": "pubmed_xml",
          "endnote_xml": "endnote_xml", "wos": "wos", "bibtex": "bibtex", "csv": "csv"}

pytestmark = pytest.mark.skipif(not R.exists(), reason="../shared/data/records not present")


def test_every_record_file_has_a_count():
    """Every export in the shared folder is covered (the label files are not record files)."""
    files = {str(p.relative_to(R)) for p in R.rglob("*") if p.is_file()}
    files -= {"README.md"}
    files = {f for f in files if not f.endswith("merged_record_ids.csv")}
    assert files == set(COUNTS)


@pytest.mark.parametrize("rel", sorted(COUNTS))
def test_count_and_schema(rel):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = read(R / rel)
    assert len(df) == COUNTS[rel]
    assert list(df.columns) == list(RECORD_COLUMNS)
    assert df["source_format"].eq(FORMAT[rel.split("/")[0]]).all()
    assert df["record_id"].is_unique
    name = rel.rsplit("/", 1)[1]
    assert df["record_id"].iloc[0] == f"{name}:1"
    assert df["record_id"].iloc[-1] == f"{name}:{COUNTS[rel]}"
    assert str(df["year"].dtype) == "Int64"
    assert df["title"].notna().mean() > 0.9 or rel.endswith("example_multiline.ris")
    for c in ("authors", "keywords", "publication_type"):
        assert df[c].map(lambda v: isinstance(v, list)).all()
    assert df["other_ids"].map(lambda v: isinstance(v, dict)).all()
    dois = df["doi"].dropna()
    assert dois.map(lambda d: d == d.lower() and d.startswith("10.")).all()
    assert df["pmid"].dropna().map(str.isdigit).all()
    lines = df["source_line"].dropna()
    assert (lines >= 1).all()
    assert df.attrs["counts"] == {str(R / rel): COUNTS[rel]}
    assert df.attrs["problems"] == []


def test_read_several_files_reports_counts_per_file():
    files = [R / "ris/synthesisr/Scopus_ris_example.ris", R / "wos/synthesisr/WoS_ciw_example.ciw"]
    df = read(files, database="Mixed")
    assert len(df) == 8
    assert df.attrs["counts"] == {str(files[0]): 3, str(files[1]): 5}
    assert df["source_database"].eq("Mixed").all()
    assert df["record_id"].is_unique


def test_same_file_twice_is_an_error():
    f = R / "ris/synthesisr/Scopus_ris_example.ris"
    with pytest.raises(InputError, match="Scopus_ris_example.ris.*more than once"):
        read([f, f])


def test_csv_counts_agree_with_pandas():
    """Independent check of the CSV literals above."""
    for rel, n in COUNTS.items():
        if rel.startswith("csv/"):
            enc = "cp1252" if "asysd" in rel else "utf-8"
            assert len(pd.read_csv(R / rel, encoding=enc)) == n
