"""Tests of reading [[searches]] and [screening] from review.toml (evsynth.records.settings)."""

from __future__ import annotations

import datetime as dt

import pytest

from evsynth.errors import InputError
from evsynth.records.settings import (
    ScreeningSettings,
    SearchSpec,
    check_stage,
    read_screening,
    read_searches,
    read_settings,
)

FULL = """
title = "Vertebroplasty review"   # top-level keys of other layers are ignored

[[searches]]
database = "MEDLINE"
interface = "PubMed"
date_searched = 2011-07-31
date_from = 1980-01-01
date_to = "2011-07-31"
query = '("vertebroplasty"[MeSH Terms] OR vertebroplasty[tiab]) AND random*'
files = ["searches/pubmed_2011-07-31.nbib", "searches/other.nbib"]
kind = "database"

[[searches]]
database = "ClinicalTrials.gov"
files = ["searches/ctgov.ris"]
kind = "register"

[screening]
exclusion_reasons_title_abstract = ["not a randomised trial", "not osteoporotic fracture"]
exclusion_reasons_full_text = ["wrong comparator", "wrong outcome", "not retrieved"]
reviewers = ["AB", "CD"]
highlight_terms = ["vertebroplasty", "randomi*"]

[effects]
measure = "SMD"
"""


def write(tmp_path, text: str):
    (tmp_path / "review.toml").write_text(text, encoding="utf-8")
    return tmp_path


def test_full_settings(tmp_path):
    d = write(tmp_path, FULL)
    s = read_settings(d)
    assert s.path == d / "review.toml"
    med, reg = s.searches
    assert med == SearchSpec(
        database="MEDLINE", interface="PubMed", date_searched=dt.date(2011, 7, 31),
        date_from=dt.date(1980, 1, 1), date_to=dt.date(2011, 7, 31),
        query='("vertebroplasty"[MeSH Terms] OR vertebroplasty[tiab]) AND random*',
        files=("searches/pubmed_2011-07-31.nbib", "searches/other.nbib"), kind="database",
        review_dir=d)
    assert med.paths() == [d / "searches/pubmed_2011-07-31.nbib", d / "searches/other.nbib"]
    assert reg.kind == "register" and reg.interface is None and reg.date_searched is None
    sc = s.screening
    assert sc.reviewers == ("AB", "CD") and sc.highlight_terms == ("vertebroplasty", "randomi*")
    assert sc.reasons("full-text")[-1] == "not retrieved"
    assert sc.reasons("title-abstract")[0] == "not a randomised trial"
    assert sc.reviewers_per_record is None
    assert read_searches(d) == s.searches and read_screening(d) == sc


def test_missing_file_and_sections(tmp_path):
    assert read_searches(tmp_path) == ()
    assert read_screening(tmp_path) == ScreeningSettings()
    write(tmp_path, "[other]\nx = 1\n")
    assert read_settings(tmp_path).searches == ()


@pytest.mark.parametrize("text, match", [
    ("[[searches]]\nfiles = ['a']\n", "database"),
    ("[[searches]]\ndatabase = 'X'\nkind = 'grey'\n", "kind"),
    ("[[searches]]\ndatabase = 'X'\ndate_searched = 'last year'\n", "date_searched"),
    ("[[searches]]\ndatabase = 'X'\nfiles = [1]\n", "files"),
    ("searches = 3\n", "searches"),
    ("[screening]\nreviewers = ['AB', 'AB']\n", "twice"),
    ("[screening]\nexclusion_reasons_full_text = 'wrong'\nhighlight_terms = [2]\n",
     "highlight_terms"),
    ("[screening]\nreviewers_per_record = 0\n", "reviewers_per_record"),
    ("screening = 1\n", "screening"),
    ("[[searches]\n", "not valid TOML"),
])
def test_bad_settings(tmp_path, text, match):
    write(tmp_path, text)
    with pytest.raises(InputError, match=match) as e:
        read_settings(tmp_path)
    assert "review.toml" in str(e.value)


def test_not_utf8(tmp_path):
    (tmp_path / "review.toml").write_bytes(b"[screening]\nreviewers = ['J\xf6rg']\n")
    with pytest.raises(InputError, match="review.toml"):
        read_settings(tmp_path)


def test_single_string_is_a_list(tmp_path):
    write(tmp_path, "[screening]\nreviewers = 'AB'\nreviewers_per_record = 1\n")
    s = read_screening(tmp_path)
    assert s.reviewers == ("AB",) and s.reviewers_per_record == 1


def test_check_stage():
    assert check_stage("full-text") == "full-text"
    with pytest.raises(InputError, match="stage"):
        check_stage("fulltext")
    with pytest.raises(InputError, match="stage"):
        ScreeningSettings().reasons("abstract")
