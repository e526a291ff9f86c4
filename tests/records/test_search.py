"""Search strategy records and the PubMed query builder.

Expected query strings are written by hand from the PubMed Help syntax and the Cochrane Handbook
(Technical Supplement to chapter 4, 4.S1, section 3.6.1), not produced by the code under test.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.errors import InputError
from evsynth.records.search import (
    Concept,
    DateRange,
    MeshTerm,
    Not,
    Or,
    PubMedQuery,
    SearchStrategy,
    Term,
    build_query,
    cochrane_rct_filter,
    load_query,
    load_strategies,
    methods_text,
    pubmed_date,
    query_from_mapping,
    quote_term,
)

# --- hand-written expected strings ------------------------------------------------------------

# Cochrane HSSS, sensitivity-maximizing version (2008 revision), PubMed format:
# #1 randomized controlled trial [pt] ... #8 groups [tiab]; #9 = #1 OR ... OR #8;
# #10 animals [mh] NOT humans [mh]; #11 = #9 NOT #10
HSSS_SENSITIVE = (
    '("randomized controlled trial"[pt] OR "controlled clinical trial"[pt] OR randomized[tiab] '
    'OR placebo[tiab] OR "drug therapy"[sh] OR randomly[tiab] OR trial[tiab] OR groups[tiab]) '
    'NOT ("animals"[mh] NOT "humans"[mh])'
)
# sensitivity- and precision-maximizing version (2008 revision), PubMed format:
# #5 clinical trials as topic [mesh: noexp]; #7 trial [ti]
HSSS_PRECISE = (
    '("randomized controlled trial"[pt] OR "controlled clinical trial"[pt] OR randomized[tiab] '
    'OR placebo[tiab] OR "clinical trials as topic"[mh:noexp] OR randomly[tiab] OR trial[ti]) '
    'NOT ("animals"[mh] NOT "humans"[mh])'
)
# JBMR 2013 vertebroplasty meta-analysis: MeSH "Vertebroplasty" and "Fractures, Compression",
# January 1980 to July 2011.
JBMR_MESH = (
    '"Vertebroplasty"[mh] AND "Fractures, Compression"[mh] AND '
    '("1980/01/01"[Date - Publication] : "2011/07/31"[Date - Publication])'
)
# The same with free-text synonyms and the Cochrane RCT filter.
JBMR_FULL = (
    '("Vertebroplasty"[mh] OR vertebroplast*[tiab] OR kyphoplast*[tiab]) AND '
    '("Fractures, Compression"[mh] OR "compression fracture*"[tiab] OR '
    '"vertebral fracture*"[tiab]) AND '
    '(("randomized controlled trial"[pt] OR "controlled clinical trial"[pt] OR '
    'randomized[tiab] OR placebo[tiab] OR "drug therapy"[sh] OR randomly[tiab] OR trial[tiab] '
    'OR groups[tiab]) NOT ("animals"[mh] NOT "humans"[mh])) AND '
    '("1980/01/01"[Date - Publication] : "2011/07/31"[Date - Publication])'
)

VERTEBRO = Concept("vertebral augmentation", mesh=["Vertebroplasty"],
                   text_words=["vertebroplast*", "kyphoplast*"])
FRACTURE = Concept("compression fracture", mesh=["Fractures, Compression"],
                   text_words=["compression fracture*", "vertebral fracture*"])


def test_cochrane_hsss_sensitivity_maximizing():
    assert cochrane_rct_filter().render() == HSSS_SENSITIVE
    assert str(cochrane_rct_filter("sensitivity-maximizing")) == HSSS_SENSITIVE


def test_cochrane_hsss_precision():
    assert cochrane_rct_filter("sensitivity-precision").render() == HSSS_PRECISE


def test_cochrane_hsss_built_from_concepts():
    # the same filter assembled by hand from a Concept and an exclusion
    rct = Concept("RCT", terms=[
        Term("randomized controlled trial", "pt"), Term("controlled clinical trial", "pt"),
        {"text": "randomized", "field": "tiab"}, Term("placebo", "tiab"),
        Term("drug therapy", "sh"), Term("randomly", "tiab"), Term("trial", "tiab"),
        Term("groups", "tiab")])
    q = PubMedQuery([rct], exclude=Not(MeshTerm("animals"), MeshTerm("humans")))
    assert q.render() == HSSS_SENSITIVE


def test_jbmr_mesh_search():
    q = PubMedQuery([Concept("vertebroplasty", mesh=["Vertebroplasty"]),
                     Concept("fracture", mesh=["Fractures, Compression"])],
                    date_from=dt.date(1980, 1, 1), date_to=dt.date(2011, 7, 31))
    assert q.render() == JBMR_MESH
    assert build_query(q.concepts, date_from="1980-01-01", date_to="2011/07/31") == JBMR_MESH


def test_jbmr_full_search():
    q = PubMedQuery([VERTEBRO, FRACTURE], date_from="1980-01-01", date_to="2011-07-31",
                    filters=[cochrane_rct_filter()])
    assert str(q) == JBMR_FULL


def test_jbmr_from_toml_and_json(tmp_path: Path):
    toml = tmp_path / "concepts.toml"
    toml.write_text('''
date_from = 1980-01-01
date_to = "2011-07-31"
filters = ["cochrane-rct-sensitivity"]

[[concepts]]
name = "vertebral augmentation"
mesh = ["Vertebroplasty"]
text_words = ["vertebroplast*", "kyphoplast*"]

[[concepts]]
name = "compression fracture"
mesh = [{term = "Fractures, Compression", explode = true}]
text_words = ["compression fracture*", "vertebral fracture*"]
fields = ["tiab"]
''', encoding="utf-8")
    assert load_query(toml).render() == JBMR_FULL
    js = tmp_path / "concepts.json"
    js.write_text(json.dumps({
        "date_from": "1980-01-01", "date_to": "2011-07-31",
        "concepts": [{"name": "v", "mesh": ["Vertebroplasty"]},
                     {"name": "f", "mesh": ["Fractures, Compression"]}]}), encoding="utf-8")
    assert load_query(js).render() == JBMR_MESH


def test_mesh_variants():
    assert MeshTerm("Vertebroplasty").render() == '"Vertebroplasty"[mh]'
    assert MeshTerm("Vertebroplasty", explode=False).render() == '"Vertebroplasty"[mh:noexp]'
    assert MeshTerm("Osteoporosis", major=True).render() == '"Osteoporosis"[majr]'
    assert (MeshTerm("Osteoporosis", major=True, explode=False).render()
            == '"Osteoporosis"[majr:noexp]')
    assert (MeshTerm("Vertebroplasty", subheading="adverse effects").render()
            == '"Vertebroplasty/adverse effects"[mh]')
    c = Concept("x", mesh=["Spinal Fractures", {"term": "Fractures, Compression",
                                                "explode": False}], explode=True)
    assert c.render() == '"Spinal Fractures"[mh] OR "Fractures, Compression"[mh:noexp]'
    c = Concept("x", mesh=["Spinal Fractures", MeshTerm("Osteoporosis")], explode=False)
    assert c.render() == '"Spinal Fractures"[mh:noexp] OR "Osteoporosis"[mh]'


def test_text_words_fields_and_quoting():
    c = Concept("pain", text_words=["back pain", "randomi*"], fields=["ti", "tiab"])
    assert c.render() == ('"back pain"[ti] OR "back pain"[tiab] OR randomi*[ti] OR '
                          'randomi*[tiab]')
    assert Term("type 1 diabet*", "tiab").render() == '"type 1 diabet*"[tiab]'
    assert Term("double-blind", "tiab").render() == "double-blind[tiab]"
    assert Term("Alzheimer's", "tiab").render() == "Alzheimer's[tiab]"
    assert Term("Müller", "au").render() == "Müller[au]"
    assert Term("  back \n pain ", "tiab").render() == '"back pain"[tiab]'
    assert Term("covid-19 (disease)", "tiab").render() == '"covid-19 (disease)"[tiab]'
    assert Term("NOT", "tiab").render() == '"NOT"[tiab]'   # an operator word is quoted
    assert Term("vertebroplasty").render() == "vertebroplasty"
    assert Term("fracture", "[TIAB]").render() == "fracture[tiab]"
    assert Term("fracture", "Title/Abstract").render() == "fracture[title/abstract]"
    assert Term("spine surgery", "tiab:~3").render() == '"spine surgery"[tiab:~3]'
    assert quote_term("a:b") == '"a:b"'


def test_publication_types_languages_exclude_and_open_dates():
    q = PubMedQuery([Concept("v", mesh=["Vertebroplasty"])],
                    publication_types=["randomized controlled trial"], languages=["english"],
                    date_from="1980", exclude=Or(Term("comment", "pt"), Term("editorial", "pt")))
    assert q.render() == (
        '("Vertebroplasty"[mh] AND "randomized controlled trial"[pt] AND english[la] AND '
        '("1980"[Date - Publication] : "3000"[Date - Publication])) NOT '
        '(comment[pt] OR editorial[pt])')
    assert (DateRange(None, "2011-07", field="edat").render()
            == '"1000"[Date - Entry] : "2011/07"[Date - Entry]')


def test_pubmed_date_forms():
    assert pubmed_date(dt.date(2011, 7, 31)) == "2011/07/31"
    assert pubmed_date(dt.datetime(2011, 7, 31, 10, 0)) == "2011/07/31"
    assert pubmed_date("2011-07-31") == "2011/07/31"
    assert pubmed_date("2011/07") == "2011/07"
    assert pubmed_date(1980) == "1980"


@pytest.mark.parametrize("make, match", [
    (lambda: Term('say "hi"', "tiab").render(), "double quotes"),
    (lambda: Term("a[b]", "tiab").render(), "square brackets"),
    (lambda: Term("rand*omized", "tiab").render(), "only at the end"),
    (lambda: Term("*", "tiab").render(), "only at the end"),
    (lambda: Term("", "tiab").render(), "non-empty"),
    (lambda: Term("x-*", "tiab").render(), "only at the end"),
    (lambda: Term("x", "abstract-only").render(), "not a PubMed search field tag"),
    (lambda: Term("x", "ab").render(), "not a PubMed search field tag"),
    (lambda: MeshTerm("Vertebroplast*").render(), "truncation is not allowed"),
    (lambda: MeshTerm("Vertebroplasty/therapy").render(), "subheading"),
    (lambda: Concept("empty").render(), "has no terms"),
    (lambda: Concept("c", text_words="fracture").render(), "must be lists"),
    (lambda: Concept("c", text_words=["x"], fields=[]).render(), "'fields' is empty"),
    (lambda: Concept("c", text_words=['a"b']).render(), "concept 'c'"),
    (lambda: Concept("c", mesh=[3]).render(), "expected a heading"),
    (lambda: Concept("c", mesh=[{"term": "X", "explode": "no"}]).render(), "true or false"),
    (lambda: Concept("c", mesh=[{"term": "X", "exp": True}]).render(), "unknown key"),
    (lambda: PubMedQuery([]).render(), "no concepts"),
    (lambda: PubMedQuery([Concept("a", mesh=["X"]), Concept("a", mesh=["Y"])]).render(),
     "used twice"),
    (lambda: PubMedQuery([VERTEBRO], date_from="31/07/2011").render(), "date_from"),
    (lambda: PubMedQuery([VERTEBRO], date_to="2011-02-30").render(), "date_to"),
    (lambda: PubMedQuery([VERTEBRO], date_from="2012", date_to="2011").render(),
     "is after date_to"),
    (lambda: PubMedQuery([VERTEBRO], date_from="2011", date_field="pubdate").render(),
     "date field"),
    (lambda: DateRange().render(), "neither start nor end"),
    (lambda: cochrane_rct_filter("specific"), "unknown"),
])
def test_builder_bad_input(make, match):
    with pytest.raises(InputError, match=match):
        make()


@pytest.mark.parametrize("data, match", [
    ([], "top level"),
    ({"concept": []}, "unknown key"),
    ({"concepts": {"name": "x"}}, "must be a list"),
    ({"concepts": ["x"]}, "concept 1: expected a table"),
    ({"concepts": [{"name": "x", "words": ["a"]}]}, "concept 1: unknown key"),
    ({"concepts": [{"name": "", "mesh": ["X"]}]}, "key 'name'"),
    ({"concepts": [{"name": "x", "mesh": "X"}]}, "key 'mesh'"),
    ({"concepts": [{"name": "x", "explode": "yes", "mesh": ["X"]}]}, "key 'explode'"),
    ({"concepts": [{"name": "x", "text_words": [1]}]}, "text_words"),
    ({"concepts": [{"name": "x", "text_words": ["a*b"]}]}, "concept 'x'"),
    ({"concepts": [{"name": "x", "mesh": ["X"]}], "filters": ["hsss"]}, "filter 'hsss'"),
    ({"concepts": [{"name": "x", "mesh": ["X"]}], "date_from": "July 2011"}, "date_from"),
])
def test_concept_file_bad_input(data, match):
    with pytest.raises(InputError, match=match) as info:
        query_from_mapping(data, "concepts.toml")
    assert "concepts.toml" in str(info.value)


def test_concept_file_errors(tmp_path: Path):
    with pytest.raises(InputError, match="cannot read"):
        load_query(tmp_path / "missing.toml")
    bad = tmp_path / "bad.json"
    bad.write_text('{"concepts": [', encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.json: line 1: not valid JSON"):
        load_query(bad)
    bad = tmp_path / "bad.toml"
    bad.write_text("concepts = [", encoding="utf-8")
    with pytest.raises(InputError, match="bad.toml: not valid TOML"):
        load_query(bad)
    bad.write_bytes(b"date_from = '\xff'")
    with pytest.raises(InputError, match="not UTF-8"):
        load_query(bad)


# --- property-based invariants --------------------------------------------------------------

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8).filter(
    lambda w: w[0].isalnum())
PHRASE = st.lists(WORD, min_size=1, max_size=3).map(" ".join)
TEXT = st.tuples(PHRASE, st.booleans()).map(
    lambda t: t[0] + ("*" if t[1] and t[0][-1].isalnum() else ""))


def _balanced(s: str) -> bool:
    depth = 0
    inside = False
    for ch in s:
        if ch == '"':
            inside = not inside
        elif not inside and ch == "(":
            depth += 1
        elif not inside and ch == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and not inside


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.lists(PHRASE, max_size=3), st.lists(TEXT, max_size=3)),
                min_size=1, max_size=4),
       st.booleans())
def test_query_structure_invariants(spec, with_filter):
    concepts = [Concept(f"c{i}", mesh=mesh, text_words=words)
                for i, (mesh, words) in enumerate(spec) if mesh or words]
    if not concepts:
        return
    q = PubMedQuery(concepts, filters=[cochrane_rct_filter()] if with_filter else [])
    s = q.render()
    assert _balanced(s)
    assert s == q.render()  # deterministic
    # outside quotes, the number of top-level ANDs is (number of AND-ed parts - 1)
    unquoted = re.sub(r'"[^"]*"', '""', s)
    assert unquoted.count(" AND ") == len(concepts) + with_filter - 1
    # every term appears with its tag; OR count matches the number of terms
    n_terms = sum(len(c.mesh) + len(c.text_words) for c in concepts)
    n_or = unquoted.count(" OR ") - (7 if with_filter else 0)
    assert n_or == n_terms - len(concepts)
    for c in concepts:
        for m in c.mesh:
            assert f'"{m}"[mh]' in s
        for w in c.text_words:
            assert f"{quote_term(w)}[tiab]" in s


@settings(max_examples=60, deadline=None)
@given(TEXT)
def test_quote_term_roundtrip(text):
    q = quote_term(text)
    assert q.strip('"') == text
    assert (q.startswith('"')) == (" " in text)


# --- search strategy records ---------------------------------------------------------------

REVIEW_TOML = '''
title = "other sections are ignored"

[[searches]]
database = "MEDLINE"
interface = "PubMed"
date_searched = 2011-07-31
date_from = 1980-01-01
date_to = 2011-07-31
query = '"Vertebroplasty"[mh] AND "Fractures, Compression"[mh]'
files = ["searches/pubmed.nbib"]
kind = "database"

[[searches]]
database = "CENTRAL"
interface = "Cochrane Library"
date_searched = "2011-08-01"
query = "vertebroplasty"
files = ["searches/central_1.ris", "searches/central_2.ris"]

[[searches]]
database = "ClinicalTrials.gov"
query = "vertebroplasty"
kind = "register"
files = []

[analysis]
anything = 1
'''


def _review(tmp_path: Path, text: str = REVIEW_TOML, files=("pubmed.nbib", "central_1.ris",
                                                              "central_2.ris")) -> Path:
    (tmp_path / "review.toml").write_text(text, encoding="utf-8")
    (tmp_path / "searches").mkdir(exist_ok=True)
    for f in files:
        (tmp_path / "searches" / f).write_text("x", encoding="utf-8")
    return tmp_path


def test_load_strategies_and_render(tmp_path: Path):
    s1, s2, s3 = load_strategies(_review(tmp_path))
    assert s1.index == 1 and s1.database == "MEDLINE" and s1.date_searched == dt.date(2011, 7, 31)
    assert s2.date_searched == dt.date(2011, 8, 1) and s3.kind == "register"
    assert s1.methods_line() == (
        'MEDLINE via PubMed, searched 2011-07-31, 1980-01-01 to 2011-07-31: '
        '"Vertebroplasty"[mh] AND "Fractures, Compression"[mh] -> pubmed.nbib')
    s1 = s1.with_counts({"searches/pubmed.nbib": 212})
    assert s1.methods_line() == (
        'MEDLINE via PubMed, searched 2011-07-31, 1980-01-01 to 2011-07-31: '
        '"Vertebroplasty"[mh] AND "Fractures, Compression"[mh] -> 212 records in pubmed.nbib')
    s2 = s2.with_counts({"searches/central_1.ris": 30, "searches/central_2.ris": 1})
    assert s2.methods_line() == ("CENTRAL via Cochrane Library, searched 2011-08-01: "
                                 "vertebroplasty -> 31 records in central_1.ris (30), "
                                 "central_2.ris (1)")
    assert s3.methods_line() == ("ClinicalTrials.gov (trial register): vertebroplasty -> "
                                 "no export file")
    assert s1.with_counts({"searches/pubmed.nbib": 1}).methods_line().endswith(
        "-> 1 record in pubmed.nbib")
    assert s1.table_row() == {
        "search": 1, "database": "MEDLINE", "interface": "PubMed", "kind": "database",
        "date_searched": "2011-07-31", "date_from": "1980-01-01", "date_to": "2011-07-31",
        "query": '"Vertebroplasty"[mh] AND "Fractures, Compression"[mh]',
        "files": "searches/pubmed.nbib", "records": 212}
    assert s3.table_row()["records"] is None
    assert methods_text([s1, s2]).count("\n") == 1
    assert s1.paths() == [tmp_path / "searches" / "pubmed.nbib"]


def test_strategy_without_interface_or_dates():
    s = SearchStrategy(database="Embase", query="x", files=("e.ris",),
                       date_to=dt.date(2011, 7, 31))
    assert s.methods_line() == "Embase, to 2011-07-31: x -> e.ris"
    s = SearchStrategy(database="Embase", interface="embase", date_from=dt.date(1980, 1, 1))
    assert s.methods_line() == "Embase, from 1980-01-01: (query not recorded) -> no export file"


def test_with_counts_bad(tmp_path: Path):
    s1 = load_strategies(_review(tmp_path))[0]
    with pytest.raises(InputError, match=r"entry 1 \(MEDLINE\): counts given for"):
        s1.with_counts({"other.nbib": 3})
    with pytest.raises(InputError, match="expected an integer >= 0"):
        s1.with_counts({"searches/pubmed.nbib": -1})


@pytest.mark.parametrize("edit, match", [
    (("kind = \"database\"", "knd = \"database\""), r"entry 1: unknown key 'knd'"),
    (("date_searched = \"2011-08-01\"", "date_searched = \"01/08/2011\""),
     r"entry 2: key 'date_searched' is '01/08/2011'; expected an ISO date"),
    (("date_searched = \"2011-08-01\"", "date_searched = \"2011-8-1\""),
     r"entry 2: key 'date_searched'"),
    (("date_searched = \"2011-08-01\"", "date_searched = \"2011-02-30\""),
     r"entry 2: key 'date_searched'"),
    (("date_from = 1980-01-01", "date_from = 2012-01-01"),
     r"entry 1 \(MEDLINE\): key 'date_from' \(2012-01-01\) is after 'date_to'"),
    (("kind = \"register\"", "kind = \"registry\""), r"entry 3: key 'kind'"),
    (('database = "CENTRAL"', 'source = "CENTRAL"'), r"entry 2: unknown key 'source'"),
    (('files = ["searches/pubmed.nbib"]', 'files = ["searches/pubmed2.nbib"]'),
     r"entry 1 \(MEDLINE\): key 'files' names 'searches/pubmed2.nbib', which does not exist"),
])
def test_strategy_validation(tmp_path: Path, edit, match):
    old, new = edit
    assert old in REVIEW_TOML
    review = _review(tmp_path, REVIEW_TOML.replace(old, new, 1))
    with pytest.raises(InputError, match=match) as info:
        load_strategies(review)
    assert "review.toml" in str(info.value)


def test_missing_files_allowed_when_not_checked(tmp_path: Path):
    review = _review(tmp_path, files=())
    with pytest.raises(InputError, match="does not exist"):
        load_strategies(review)
    assert len(load_strategies(review, check_files=False)) == 3


def test_no_review_toml(tmp_path: Path):
    assert load_strategies(tmp_path) == ()


# --- CLI: evsynth search build / list ---------------------------------------------------------

def test_cli_build(tmp_path: Path, capsys):
    from evsynth.cli import main

    f = tmp_path / "c.json"
    f.write_text(json.dumps({"date_from": "1980-01-01", "date_to": "2011-07-31",
                             "concepts": [{"name": "v", "mesh": ["Vertebroplasty"]},
                                          {"name": "f", "mesh": ["Fractures, Compression"]}]}),
                 encoding="utf-8")
    assert main(["search", "build", str(f)]) == 0
    assert capsys.readouterr().out == JBMR_MESH + "\n"
    assert main(["search", "build", str(f), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"query": JBMR_MESH}
    f.write_text('{"concepts": [{"name": "v", "text_words": ["a\\"b"]}]}', encoding="utf-8")
    assert main(["search", "build", str(f)]) == 2
    err = capsys.readouterr().err
    assert "c.json: concept 'v'" in err and "Traceback" not in err


def test_cli_list(tmp_path: Path, capsys):
    from evsynth.cli import main

    review = _review(tmp_path)
    assert main(["search", "list", str(review)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("1. MEDLINE via PubMed, searched 2011-07-31, 1980-01-01 to ")
    assert len(out) == 3
    (review / "searches" / "pubmed.nbib").unlink()
    assert main(["search", "list", str(review)]) == 2
    assert "entry 1 (MEDLINE): key 'files'" in capsys.readouterr().err
    assert main(["search", "list", str(tmp_path / "empty")]) == 0
    assert "no [[searches]] entries" in capsys.readouterr().out


def test_cli_list_counts(tmp_path: Path, capsys, shared_dir):
    pytest.importorskip("evsynth.records.io")
    from evsynth.cli import main

    src = shared_dir / "data" / "records" / "medline" / "synthesisr" / "PubMed_example.txt"
    (tmp_path / "searches").mkdir()
    (tmp_path / "searches" / "pubmed.txt").write_bytes(src.read_bytes())
    (tmp_path / "review.toml").write_text(
        '[[searches]]\ndatabase = "MEDLINE"\ninterface = "PubMed"\nquery = "x"\n'
        'files = ["searches/pubmed.txt"]\n', encoding="utf-8")
    assert main(["search", "list", str(tmp_path), "--count"]) == 0
    assert capsys.readouterr().out == "1. MEDLINE via PubMed: x -> 3 records in pubmed.txt\n"
