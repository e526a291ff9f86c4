"""Faults found by fuzzing round 4 of the records layer: each test reproduces one fault and
asserts the right behaviour."""

from __future__ import annotations

import pandas as pd
import pytest
from tests.conftest import SHARED

from evsynth.records import deduplicate, read
from evsynth.records.io import decode_bytes
from evsynth.records.model import records_frame

R = SHARED / "data" / "records"


def _dedup(*rows: dict) -> pd.DataFrame:
    return deduplicate(records_frame([dict(r, record_id=f"r{n}")
                                      for n, r in enumerate(rows, start=1)]))


def _merged(out: pd.DataFrame) -> bool:
    return out["duplicate_group"].nunique() == 1


# ---------------------------------------------------------------------------------------------
# 1. titles differing only in a short token are not merged automatically
# ---------------------------------------------------------------------------------------------
_T1 = ("Efficacy of intensive insulin therapy in patients with type 1 diabetes mellitus: a "
       "randomised controlled trial")
SHORT_TOKEN_PAIRS = [
    (_T1, _T1.replace("type 1", "type 2")),
    ("Guidelines for the management of acute ischaemic stroke in adults. Part 1: prehospital "
     "care", "Guidelines for the management of acute ischaemic stroke in adults. Part 2: "
     "prehospital care"),
    ("A phase II trial of drug X in metastatic breast cancer",
     "A phase III trial of drug X in metastatic breast cancer"),
    ("Vitamin D supplementation and the risk of fractures in older adults: a cohort study",
     "Vitamin E supplementation and the risk of fractures in older adults: a cohort study"),
    ("Serum IL-6 levels predict mortality in patients with sepsis admitted to intensive care",
     "Serum IL-8 levels predict mortality in patients with sepsis admitted to intensive care"),
    ("Vitamin D supplementation for preventing fractures in men",
     "Vitamin D supplementation for preventing fractures in women"),
    ("Outcomes of pre-operative chemotherapy for gastric cancer in a population cohort",
     "Outcomes of post-operative chemotherapy for gastric cancer in a population cohort"),
]


@pytest.mark.parametrize(("a", "b"), SHORT_TOKEN_PAIRS)
def test_short_token_difference_is_not_merged(a, b):
    out = _dedup(dict(title=a, authors=["Smith, J"], year=2019),
                 dict(title=b, authors=["Smith, J"], year=2019))
    assert not _merged(out)
    unc = out.attrs["uncertain_pairs"]
    assert len(unc) == 1 and "content word" in unc["reason"].iloc[0]


@pytest.mark.parametrize(("a", "b"), [
    ("A phase II trial of drug X in breast cancer", "A phase 2 trial of drug X in breast cancer"),
    ("Serum IL-6 levels predict mortality in sepsis",
     "Serum IL6 levels predict mortality in sepsis"),
    ("Outcomes of pre-operative chemotherapy for gastric cancer",
     "Outcomes of preoperative chemotherapy for gastric cancer."),
    ("Drug A vs placebo for chronic low back pain in adults",
     "Drug A versus placebo for chronic low back pain in adults"),
    ("Is p16INK4A expression useful in atypical squamous cells of undetermined significance",
     "Is p16(INK4A) expression useful in atypical squamous cells of undetermined significance"),
])
def test_spelling_variants_of_short_tokens_still_merge(a, b):
    assert _merged(_dedup(dict(title=a, authors=["Smith, J"], year=2019),
                          dict(title=b, authors=["Smith, J"], year=2019)))


# ---------------------------------------------------------------------------------------------
# 2. a shared DOI does not override conflicting year / volume / pages
# ---------------------------------------------------------------------------------------------
def test_same_doi_with_conflicting_details_goes_to_review():
    supp = "10.1200/JCO.2019.37.15_suppl"
    a = dict(title="A phase II trial of nivolumab in advanced melanoma", authors=["Smith, J"],
             year=2019, journal="J Clin Oncol", volume="37", pages="9510", doi=supp)
    b = dict(title="A phase II trial of dasatinib in advanced melanoma", authors=["Lee, K"],
             year=2019, journal="J Clin Oncol", volume="37", pages="9521", doi=supp)
    out = _dedup(a, b)
    assert not _merged(out)
    assert out.attrs["uncertain_pairs"]["reason"].iloc[0].startswith("same DOI but")
    c = dict(title="Prospective randomized trial of silver nitrate vs talc slurry in pleurodesis",
             year=2005, volume="128", pages="684-689", doi="10.9999/x")
    d = dict(title="Prospective randomized trial of talc slurry vs bleomycin in pleurodesis",
             year=1997, volume="112", pages="430-434", doi="10.9999/x")
    out = _dedup(c, d)
    assert not _merged(out)
    assert "years 2005 vs 1997" in out.attrs["uncertain_pairs"]["reason"].iloc[0]


def test_same_doi_with_minor_differences_still_merges():
    a = dict(title="Linagliptin and renal outcomes", year=2019, volume="37", pages="e1234",
             doi="10.1016/j.abc.2019.01.002")
    b = dict(title="Linagliptin and renal outcomes.", year=2020, volume="37", pages="567",
             doi="10.1016/j.abc.2019.01.002")  # online year and electronic article number vs print
    assert _merged(_dedup(a, b))


# ---------------------------------------------------------------------------------------------
# 7. generic titles from different journals; 'Withdrawal:' notices
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("a", "b"), [
    (dict(title="Editorial", year=2019, journal="Lancet"),
     dict(title="Editorial", year=2019, journal="BMJ")),
    (dict(title="Introduction", year=2019, journal="Lancet"),
     dict(title="Introduction", year=2019, journal="Nature")),
    (dict(title="Cutaneous drug reaction case reports: from the world literature.", year=2002,
          journal="Am J Clin Dermatol"),
     dict(title="Cutaneous drug reaction case reports: from the world literature.", year=2002,
          journal="Drug Saf")),
    (dict(title=_T1, authors=["Smith, J"], year=2019),
     dict(title="Withdrawal: " + _T1, authors=["Smith, J"], year=2020)),
    (dict(title="Editorial", year=2019, journal="Lancet"),
     dict(title="Editorial", year=2019, journal="The Lancet")),  # no author/page: review
])
def test_generic_titles_and_notices_are_not_merged(a, b):
    assert not _merged(_dedup(a, b))


def test_journal_abbreviations_do_not_conflict():
    t = "Cutaneous drug reaction case reports: from the world literature."
    for ja, jb in (("Am J Clin Dermatol", "American Journal of Clinical Dermatology"),
                   ("JAMA", "Journal of the American Medical Association"),
                   ("N Engl J Med", "The New England journal of medicine")):
        assert _merged(_dedup(dict(title=t, year=2002, journal=ja),
                              dict(title=t, year=2002, journal=jb))), (ja, jb)
    # an ordinary title starting with the word is no notice
    assert _merged(_dedup(dict(title="Withdrawal of antidepressants in primary care", year=2019),
                          dict(title="Withdrawal of antidepressants in primary care.", year=2019)))


# ---------------------------------------------------------------------------------------------
# 3. bare-CR and CRLF line endings are read like LF
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("rel", "fmt"), [
    ("wos/synthesisr/WoS_ciw_example.ciw", "wos"),
    ("ovid/knh11545/Embase_citavi_r3001-3002.ovd", "ovid"),
    ("ris/msm_scoping_review/medline.ris", "ris"),
    ("csv/colrev/pubmed-chatbot.csv", "csv"),
    ("bibtex/synthesisr/Scopus_bib_example.bib", "bibtex"),
])
@pytest.mark.parametrize("eol", ["\r", "\r\n"])
def test_line_endings_do_not_change_what_is_read(tmp_path, rel, fmt, eol):
    src = R / rel
    text = src.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    p = tmp_path / src.name
    p.write_bytes(text.replace("\n", eol).encode("utf-8"))
    ref = read(src)
    cols = ["title", "year", "doi", "source_line", "abstract"]
    for f in (None, fmt):
        got = read(p, format=f)
        pd.testing.assert_frame_equal(got[cols], ref[cols])


def test_decode_bytes_normalises_line_endings():
    text, _ = decode_bytes(b"TY  - JOUR\rTI  - A\r\nER  - \r", "f")
    assert text == "TY  - JOUR\nTI  - A\nER  - \n"


# ---------------------------------------------------------------------------------------------
# 8. MEDLINE group authors (CN) are kept as authors
# ---------------------------------------------------------------------------------------------
def test_medline_group_author_is_kept(tmp_path):
    p = tmp_path / "x.nbib"
    p.write_text("PMID- 123\nOWN - NLM\nDP  - 2019 Mar-Apr\nTI  - A group-authored trial.\n"
                 "CN  - Stroke Trialists' Collaboration\nJT  - Lancet\n", encoding="utf-8")
    assert read(p).authors[0] == ["Stroke Trialists' Collaboration"]
    real = read(R / "medline/revtools_restoration/restoration_pubmed.nbib")
    assert real[real.pmid == "30269335"].authors.iloc[0] == [
        "Olsson, Sara R", "Pigg, Maria", "Isberg, Per-Erik", "EndoReCo", "Fransson, Helena"]


# ---------------------------------------------------------------------------------------------
# 5. no quadratic regex time on one long crafted field
# ---------------------------------------------------------------------------------------------
# A guard against a quadratic blow-up, not a speed claim: a 100 KB field took 7-30 s before
# (time x4 per doubling) and takes ~0.01 s now; the bound leaves a margin of ~100x.
_N = 100_000
_LONG_FIELDS = {
    "csv citation ';('": ("x.csv", 'title,citation\n"A title","' + ";(" * (_N // 2) + '"\n'),
    "csv keywords ','": ("x.csv", 'title,keywords\n"A title","' + "," * _N + '"\n'),
    "csv authors spaces": ("x.csv", 'title,authors\n"A title","a' + " " * _N + 'b"\n'),
    "csv source spaces": ("x.csv", 'title,source\n"A title","J' + " " * _N + '(2019) 1"\n'),
    "wos AU '('": ("x.txt", "FN Clarivate Analytics Web of Science\nVR 1.0\nPT J\nAU "
                   + "(" * _N + "\nTI x\nER\nEF\n"),
    "wos AU '(@'": ("x.txt", "FN Clarivate Analytics Web of Science\nVR 1.0\nPT J\nAU "
                    + "(@" * (_N // 2) + "\nTI x\nER\nEF\n"),
    "bibtex author spaces": ("x.bib", "@article{k, title={x}, author={a" + " " * _N + "b}}\n"),
}


@pytest.mark.parametrize("case", sorted(_LONG_FIELDS))
def test_long_crafted_field_parses_in_linear_time(tmp_path, case):
    import time
    import warnings

    name, text = _LONG_FIELDS[case]
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.process_time()
        read(p)
        assert time.process_time() - t < 2.0, case


# ---------------------------------------------------------------------------------------------
# 4. RIS: no field text lost silently
# ---------------------------------------------------------------------------------------------
def _read_ris(tmp_path, text: str) -> tuple[pd.DataFrame, int]:
    import warnings

    p = tmp_path / "x.ris"
    p.write_text(text, encoding="utf-8")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        df = read(p)
    return df, len(w)


def test_ris_tag_like_continuation_line_stays_in_the_field(tmp_path):
    df, nw = _read_ris(tmp_path, "TY  - JOUR\nTI  - A trial\nAB  - Results were significant.\n"
                                 "CI - 0.5 to 0.9 was the interval.\nER  - \n")
    assert df.abstract[0] == "Results were significant. CI - 0.5 to 0.9 was the interval."
    assert nw == 0


def test_ris_framing_like_lines_inside_a_field_are_kept(tmp_path):
    df, _ = _read_ris(tmp_path, "TY  - JOUR\nTI  - A trial\nAB  - We list two aims:\n1.\n"
                                "improve care\nContent: five sessions were given\nER  - \n")
    assert df.abstract[0] == "We list two aims: 1. improve care Content: five sessions were given"
    # between records (before the next TY) they are numbering, not text
    df, _ = _read_ris(tmp_path, "1.\nTY  - JOUR\nTI  - A\nER  - \n\n2.\nTY  - JOUR\nTI  - B\n"
                                "AB  - text\n3.\nTY  - JOUR\nTI  - C\nER  - \n")
    assert df.title.tolist() == ["A", "B", "C"] and df.abstract[1] == "text"


def test_ris_tag_without_space_after_hyphen(tmp_path):
    df, _ = _read_ris(tmp_path, "TY  - JOUR\nTI  -A trial without space\nAU  - Smith, J\n"
                                "ER  - \n")
    assert df.title[0] == "A trial without space"
    assert df.publication_type[0] == ["JOUR"]


def test_ris_one_space_tags_in_a_file_written_that_way(tmp_path):
    df, _ = _read_ris(tmp_path, "TY - JOUR\nTI - A one-space file\nPY - 2001\nER -\n")
    assert df.title[0] == "A one-space file" and df.year[0] == 2001


def test_ris_year_taken_from_the_first_date_that_has_one(tmp_path):
    df, _ = _read_ris(tmp_path, "TY  - JOUR\nTI  - B\nPY  - [Epub ahead of print]\n"
                                "Y1  - 2018///\nER  - \nTY  - JOUR\nTI  - C\nPY  - ///\n"
                                "DA  - 2017/05/01\nER  - \n")
    assert df.year.tolist() == [2018, 2017]


# ---------------------------------------------------------------------------------------------
# 6. a report (duplicate group) whose records are linked to different studies
# ---------------------------------------------------------------------------------------------
_PRISMA_TOML = """title = "x"
[[search]]
database = "MEDLINE"
files = ["searches/a.ris"]
[[search]]
database = "Embase"
files = ["searches/b.ris"]
[screening]
reviewers = ["AB"]
"""
_NEJM = ("TY  - JOUR\nTI  - Vertebroplasty for painful osteoporotic fractures{dot}\n"
         "AU  - Buchbinder, R\nPY  - 2009\nDO  - 10.1056/NEJMoa0900429\nER  - \n")


def test_duplicate_records_linked_to_different_studies_warn(tmp_path, capsys):
    """PRISMA 2020 counts the distinct studies of the included reports; a report linked to
    two studies counts for both (a paper may report two trials), so studies may exceed
    reports. Two copies of one paper linked to different studies are usually a mistake:
    link-study and prisma say so on stderr, and the counts follow the links."""
    import json

    from evsynth.cli import main

    d = tmp_path / "review"
    (d / "searches").mkdir(parents=True)
    (d / "review.toml").write_text(_PRISMA_TOML, encoding="utf-8")
    (d / "searches" / "a.ris").write_text(_NEJM.format(dot=""), encoding="utf-8")
    (d / "searches" / "b.ris").write_text(_NEJM.format(dot="."), encoding="utf-8")

    def run(*argv: str) -> tuple[int, str]:
        code = main(["records", *argv])
        return code, capsys.readouterr().err

    assert run("import", str(d))[0] == 0
    assert run("dedup", str(d))[0] == 0
    for stage in ("title-abstract", "full-text"):
        assert run("resolve", str(d), "a.ris:1", "--stage", stage, "--decision", "include",
                   "--reviewer", "AB")[0] == 0
    code, err = run("link-study", str(d), "a.ris:1", "S1")
    assert code == 0 and "warning" not in err
    code, err = run("link-study", str(d), "b.ris:1", "S2")
    assert code == 0 and "warning: b.ris:1 is a duplicate" in err and "a.ris:1 -> study S1" in err
    code, err = run("prisma", str(d), "--out", str(tmp_path / "out"))
    assert code == 0 and "included report a.ris:1" in err and "b.ris:1 -> S2" in err
    inc = json.loads((tmp_path / "out" / "prisma_counts.json").read_text())["included"]
    assert inc == {"studies": 2, "reports": 1, "reports_unlinked": 0}
    # linked to one study: no warning, one study
    code, err = run("link-study", str(d), "b.ris:1", "S1")
    assert code == 0 and "warning" not in err
    code, err = run("prisma", str(d), "--out", str(tmp_path / "out"))
    assert code == 0 and "warning" not in err
    inc = json.loads((tmp_path / "out" / "prisma_counts.json").read_text())["included"]
    assert inc == {"studies": 1, "reports": 1, "reports_unlinked": 0}
