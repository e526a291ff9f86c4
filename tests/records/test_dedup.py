"""deduplicate / merge_duplicates: rules, invariants, bad input, and floors on labelled sets."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import SHARED

from evsynth.errors import InputError
from evsynth.records import deduplicate, merge_duplicates, read
from evsynth.records.dedup import flag_metrics, pair_metrics, pairs_of
from evsynth.records.model import records_frame

R = SHARED / "data" / "records"


def frame(rows: list[dict]) -> pd.DataFrame:
    for n, r in enumerate(rows, start=1):
        r.setdefault("record_id", f"t:{n}")
    return records_frame(rows)


BASE = {"title": "Vertebroplasty versus sham procedure for painful osteoporotic fractures",
        "authors": ["Buchbinder, Rachelle"], "year": 2009, "journal": "N Engl J Med",
        "volume": "361", "pages": "557-68"}


def groups(df: pd.DataFrame) -> list[int]:
    return deduplicate(df)["duplicate_group"].tolist()


def test_same_record_from_two_databases():
    a = dict(BASE, source_database="MEDLINE", doi="10.1056/NEJMoa0900429")
    b = dict(BASE, title=BASE["title"].upper() + ".", journal="New England Journal of Medicine",
             pages="557-568", source_database="Embase")
    out = deduplicate(frame([a, b]))
    assert out["duplicate_group"].tolist() == [0, 0]
    assert out.attrs["uncertain_pairs"].empty
    merged = merge_duplicates(out)
    assert len(merged) == 1 and merged.loc[0, "source_databases"] == ["MEDLINE", "Embase"]
    assert merged.loc[0, "doi"] == "10.1056/nejmoa0900429"


def test_exact_ids():
    a = dict(BASE, pmid="19657123")
    b = {"title": "Totally different wording", "pmid": "19657123"}
    c = {"title": "Another", "doi": "https://doi.org/10.1000/X"}
    d = {"doi": "10.1000/x"}  # no title: DOI alone decides
    assert groups(frame([a, b, c, d])) == [0, 0, 1, 1]


def test_erratum_and_reply_are_not_merged():
    a = dict(BASE)
    b = dict(BASE, title="Erratum: " + BASE["title"], pages="1024")
    c = dict(BASE, title="Re: " + BASE["title"], pages="2000")
    assert groups(frame([a, b, c])) == [0, 1, 2]


def test_different_years_are_not_merged():
    a = dict(BASE, pages=None, volume=None)
    b = dict(BASE, pages=None, volume=None, year=2015)  # same title, an update
    assert groups(frame([a, b])) == [0, 1]


def test_conference_abstract_vs_article():
    a = dict(BASE, pages=None, volume=None, year=2008,
             journal="Osteoporosis International Conference: World Congress")
    b = dict(BASE)
    out = deduplicate(frame([a, b]))
    assert out["duplicate_group"].tolist() == [0, 1]


def test_supplement_doi_shared_by_different_abstracts():
    a = {"title": "Glucose-lowering medication use in heart failure", "doi": "10.1007/s1",
         "pages": "S299", "year": 2017}
    b = {"title": "Linagliptin prevents heart failure in ZSF1 rats", "doi": "10.1007/s1",
         "pages": "S259", "year": 2017}
    assert groups(frame([a, b])) == [0, 1]


def test_grey_zone_goes_to_uncertain_pairs():
    a = dict(BASE)
    b = dict(BASE, title="Vertebroplasty versus sham procedure for painful osteoporotic "
                         "vertebral fractures in older women", pages=None, volume=None)
    out = deduplicate(frame([a, b]), title_threshold=0.99, uncertain_threshold=0.7)
    unc = out.attrs["uncertain_pairs"]
    assert list(unc.columns) == ["record_id_a", "record_id_b", "score", "reason"]
    assert out["duplicate_group"].tolist() == [0, 1]
    assert unc[["record_id_a", "record_id_b"]].values.tolist() == [["t:1", "t:2"]]
    assert 0.7 <= unc["score"].iloc[0] < 0.99


def test_translated_title_in_brackets():
    a = dict(BASE, title="[" + BASE["title"] + "]", language="ger")
    b = dict(BASE)
    assert groups(frame([a, b])) == [0, 0]


def test_empty_and_singletons():
    out = deduplicate(frame([]))
    assert len(out) == 0 and "duplicate_group" in out
    out = deduplicate(frame([dict(BASE), {"title": "Something else", "year": 2001}]))
    assert out["duplicate_group"].tolist() == [0, 1]
    assert out["duplicate_group"].dtype == np.int64


@pytest.mark.parametrize("kwargs,match", [
    ({"title_threshold": 1.5}, "title_threshold"),
    ({"uncertain_threshold": 0}, "uncertain_threshold"),
    ({"title_threshold": 0.8, "uncertain_threshold": 0.9}, "uncertain_threshold"),
    ({"year_tolerance": -1}, "year_tolerance"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(InputError, match=match):
        deduplicate(frame([dict(BASE)]), **kwargs)


def test_bad_input_table():
    with pytest.raises(InputError, match="DataFrame"):
        deduplicate([{"title": "x"}])
    with pytest.raises(InputError, match="lacks column"):
        deduplicate(pd.DataFrame({"name": ["x"]}))
    with pytest.raises(InputError, match="duplicate_group"):
        merge_duplicates(frame([dict(BASE)]))


def test_metrics_helpers():
    assert pairs_of([0, 0, 1, None, 1]) == {(0, 1), (2, 4)}
    m = pair_metrics([0, 0, 1, 1], [0, 0, 0, 1])
    assert (m["tp"], m["fp"], m["fn"]) == (1, 2, 1)
    f = flag_metrics([True, True, False], [True, False, True])
    assert f["precision"] == 0.5 and f["recall"] == 0.5


titles = st.sampled_from([
    "Vertebroplasty for osteoporotic fractures", "Kyphoplasty versus conservative care",
    "Aspirin for primary prevention", "Exercise and falls in older people",
    "Re: Aspirin for primary prevention", "Vitamin D and fracture risk"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(titles, st.integers(2000, 2003), st.sampled_from(["Smith", "Jones"])),
                min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_partition_invariants(items, rnd):
    rows = [{"title": t, "year": y, "authors": [f"{a}, J"]} for t, y, a in items]
    df = frame(rows)
    out = deduplicate(df)
    g = out["duplicate_group"].to_numpy()
    # groups numbered 0.. in order of first appearance
    firsts = pd.unique(g)
    assert list(firsts) == list(range(len(firsts)))
    # identical records always share a group
    key = [(t, y, a) for t, y, a in items]
    for i in range(len(key)):
        for j in range(i + 1, len(key)):
            if key[i] == key[j]:
                assert g[i] == g[j]
    # the partition does not depend on row order
    perm = list(range(len(rows)))
    rnd.shuffle(perm)
    out2 = deduplicate(df.iloc[perm].reset_index(drop=True))
    assert pairs_of(out2["duplicate_group"]) == {tuple(sorted((perm.index(i), perm.index(j))))
                                                  for i, j in pairs_of(g)}
    # merging gives one row per group
    assert len(merge_duplicates(out)) == len(firsts)


# ------------------------------------------------------------------ labelled sets (floors)
def _gold(n: int, path) -> list:
    g: list = [None] * n
    for k, row in enumerate(pd.read_csv(path)["merged_ids"]):
        for rid in row.split(";"):
            g[int(rid.split("_")[1]) - 1] = k
    return g


@pytest.mark.skipif(not R.exists(), reason="../shared/data/records not present")
def test_floor_sra_stroke_pairs():
    """bench/RESULTS_dedup.md: pair precision 1.000, recall 0.992 (n = 1292)."""
    df = read(R / "csv/bibdedupe_stroke/records_pre_merged.csv")
    res = deduplicate(df)
    m = pair_metrics(_gold(len(df), R / "csv/bibdedupe_stroke/merged_record_ids.csv"),
                     res["duplicate_group"])
    assert m["precision"] >= 0.99 and m["recall"] >= 0.97


@pytest.mark.skipif(not R.exists(), reason="../shared/data/records not present")
def test_floor_sra_respiratory_pairs():
    """bench/RESULTS_dedup.md: pair precision 1.000, recall 0.939 (n = 1988)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = read(R / "endnote_xml/sra_respiratory_labelled/Respiratory.xml")
    res = deduplicate(df)
    g = _gold(len(df), R / "csv/bibdedupe_respiratory/merged_record_ids.csv")
    m = pair_metrics(g, res["duplicate_group"])
    assert m["precision"] >= 0.98 and m["recall"] >= 0.90
    f = flag_metrics(df["label"].eq("Duplicate"), res["duplicate_group"].duplicated(keep=False))
    assert f["precision"] >= 0.98 and f["recall"] >= 0.93


@pytest.mark.skipif(not R.exists(), reason="../shared/data/records not present")
def test_floor_iebh_tafenoquine_records():
    """bench/RESULTS_dedup.md: record precision 1.000, recall 1.000 (n = 179)."""
    df = read(R / "endnote_xml/iebh_tafenoquine_labelled/tafenoquine.xml")
    res = deduplicate(df)
    f = flag_metrics(df["label"].eq("Duplicate"), res["duplicate_group"].duplicated(keep=False))
    assert f["precision"] >= 0.97 and f["recall"] >= 0.95
