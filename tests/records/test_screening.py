"""Tests of screening decisions, agreement, conflicts and CSV export/import."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.errors import InputError
from evsynth.records.model import records_frame
from evsynth.records.screening import (
    CSV_COLUMNS,
    agreement,
    cohen_kappa,
    conflicts,
    eligible_groups,
    export_decisions,
    import_decisions,
    latest_decisions,
    queue,
    record_decision,
    resolve,
    reviewers_required,
    screening_table,
    validate_decision,
)
from evsynth.records.settings import ScreeningSettings
from evsynth.records.store import Store

REFERENCE = Path(__file__).resolve().parents[1] / "reference" / "records"

SETTINGS = ScreeningSettings(
    exclusion_reasons_title_abstract=("not a randomised trial", "not osteoporotic fracture"),
    exclusion_reasons_full_text=("wrong comparator", "wrong outcome", "not retrieved"),
    reviewers=("AB", "CD"),
    highlight_terms=("vertebroplasty",),
)
SINGLE = ScreeningSettings(exclusion_reasons_title_abstract=("off topic",),
                           exclusion_reasons_full_text=("wrong outcome",), reviewers=("AB",))


def make_store(path, n: int = 6) -> Store:
    s = Store(path)
    df = records_frame([dict(record_id=f"m.nbib:{i}", title=f"Vertebroplasty trial {i}",
                             authors=["Kallmes, David"], year=2009) for i in range(1, n + 1)])
    s.add_import(df, "m.nbib", "MEDLINE", sha256="m")
    return s


@pytest.fixture
def store(store_target):  # SQLite and PostgreSQL (tests/postgres_server.py)
    s = make_store(store_target)
    yield s
    s.close()


def test_reviewers_required():
    assert reviewers_required(None) == 1
    assert reviewers_required(SINGLE) == 1
    assert reviewers_required(SETTINGS) == 2
    assert reviewers_required(ScreeningSettings(reviewers=("A", "B"), reviewers_per_record=1)) == 1


def test_validate_decision():
    validate_decision("title-abstract", "exclude", "not a randomised trial", SETTINGS)
    validate_decision("title-abstract", "exclude", None, SETTINGS)  # reason optional at TA
    validate_decision("full-text", "include", None, SETTINGS)
    with pytest.raises(InputError, match="reason.*'bogus'.*configured"):
        validate_decision("title-abstract", "exclude", "bogus", SETTINGS)
    with pytest.raises(InputError, match="full-text exclusion"):
        validate_decision("full-text", "exclude", None, SETTINGS)
    with pytest.raises(InputError, match="only an exclusion"):
        validate_decision("full-text", "include", "wrong outcome", SETTINGS)
    with pytest.raises(InputError, match="stage"):
        validate_decision("abstract", "include", None, SETTINGS)
    with pytest.raises(InputError, match="decision"):
        validate_decision("full-text", "Include", None, SETTINGS)
    # no configured reasons: any reason accepted
    validate_decision("full-text", "exclude", "anything", None)


def test_single_reviewer_flow(store):
    st_ = SINGLE
    record_decision(store, "m.nbib:1", "title-abstract", "include", "AB", settings=st_)
    record_decision(store, "m.nbib:2", "title-abstract", "exclude", "AB", "off topic",
                    settings=st_)
    record_decision(store, "m.nbib:3", "title-abstract", "maybe", "AB", settings=st_)
    tab = screening_table(store, "title-abstract", st_).set_index("group_id")
    assert tab.loc["m.nbib:1", "final"] == "include"
    assert tab.loc["m.nbib:2", "final"] == "exclude"
    assert tab.loc["m.nbib:2", "reason"] == "off topic"
    assert tab.loc["m.nbib:3", "final"] == "maybe"
    assert tab.loc["m.nbib:4", "status"] == "pending"
    # include and maybe go on to full text
    assert eligible_groups(store, "full-text", st_) == ["m.nbib:1", "m.nbib:3"]
    q = queue(store, "title-abstract", "AB", st_)
    assert list(q["record_id"]) == ["m.nbib:4", "m.nbib:5", "m.nbib:6"]
    assert list(queue(store, "full-text", "AB", st_)["record_id"]) == ["m.nbib:1", "m.nbib:3"]
    # a changed mind: the latest decision counts, the history stays
    record_decision(store, "m.nbib:2", "title-abstract", "include", "AB", settings=st_)
    tab = screening_table(store, "title-abstract", st_).set_index("group_id")
    assert tab.loc["m.nbib:2", "final"] == "include"
    assert len(store.decision_history()) == 4


def test_dual_screening_conflicts_and_resolution(store):
    ta = "title-abstract"
    for rid, a, b in [("m.nbib:1", "include", "include"), ("m.nbib:2", "exclude", "include"),
                      ("m.nbib:3", "exclude", "exclude"), ("m.nbib:4", "maybe", "include")]:
        record_decision(store, rid, ta, a, "AB", settings=SETTINGS)
        record_decision(store, rid, ta, b, "CD", settings=SETTINGS)
    record_decision(store, "m.nbib:5", ta, "include", "AB", settings=SETTINGS)
    tab = screening_table(store, ta, SETTINGS).set_index("group_id")
    assert tab.loc["m.nbib:1", "status"] == "decided"
    assert tab.loc["m.nbib:2", "status"] == "conflict" and tab.loc["m.nbib:2", "final"] is None
    assert tab.loc["m.nbib:3", "final"] == "exclude"
    assert tab.loc["m.nbib:4", "conflict"]
    assert tab.loc["m.nbib:5", "status"] == "pending"  # only one of two reviewers
    c = conflicts(store, ta, SETTINGS)
    assert list(c["group_id"]) == ["m.nbib:2", "m.nbib:4"]
    assert c.loc[0, "decisions"] == {"AB": "exclude", "CD": "include"}
    assert c.loc[0, "title"] == "Vertebroplasty trial 2"
    resolve(store, "m.nbib:2", ta, "exclude", "EF", "not a randomised trial",
            settings=SETTINGS)
    tab = screening_table(store, ta, SETTINGS).set_index("group_id")
    assert tab.loc["m.nbib:2", "status"] == "resolved"
    assert tab.loc["m.nbib:2", "final"] == "exclude"
    assert tab.loc["m.nbib:2", "reason"] == "not a randomised trial"
    assert list(conflicts(store, None, SETTINGS)["group_id"]) == ["m.nbib:4"]


def test_full_text_reason_disagreement_is_a_conflict(store):
    st_ = ScreeningSettings(reviewers=("AB", "CD"),
                            exclusion_reasons_full_text=("wrong comparator", "wrong outcome"))
    for r in ("AB", "CD"):
        record_decision(store, "m.nbib:1", "title-abstract", "include", r, settings=st_)
        record_decision(store, "m.nbib:2", "title-abstract", "include", r, settings=st_)
    record_decision(store, "m.nbib:1", "full-text", "exclude", "AB", "wrong comparator",
                    settings=st_)
    record_decision(store, "m.nbib:1", "full-text", "exclude", "CD", "wrong outcome",
                    settings=st_)
    record_decision(store, "m.nbib:2", "full-text", "exclude", "AB", "wrong outcome",
                    settings=st_)
    record_decision(store, "m.nbib:2", "full-text", "exclude", "CD", "wrong outcome",
                    settings=st_)
    tab = screening_table(store, "full-text", st_).set_index("group_id")
    assert tab.loc["m.nbib:1", "conflict"]
    assert tab.loc["m.nbib:2", "final"] == "exclude"
    assert tab.loc["m.nbib:2", "reason"] == "wrong outcome"


def test_decisions_apply_to_duplicate_group(store):
    store.set_duplicate_groups({"m.nbib:1": 0, "m.nbib:4": 0})
    # a decision recorded on the non-representative member counts for the group
    record_decision(store, "m.nbib:4", "title-abstract", "exclude", "AB")
    q = queue(store, "title-abstract", "AB")
    assert "m.nbib:1" not in set(q["record_id"]) and "m.nbib:4" not in set(q["record_id"])
    assert len(q) == 4
    lat = latest_decisions(store, "title-abstract")
    assert lat.loc[0, "group_id"] == "m.nbib:1"
    assert screening_table(store, "title-abstract").set_index("group_id").loc[
        "m.nbib:1", "final"] == "exclude"


def test_queue_bad_input(store):
    with pytest.raises(InputError, match="reviewer"):
        queue(store, "title-abstract", "")
    with pytest.raises(InputError, match="stage"):
        queue(store, "screening", "AB")


# ----------------------------------------------------------------------------- kappa
def test_kappa_against_psych_cohen_kappa():
    ref = json.loads((REFERENCE / "kappa.json").read_text())
    assert len(ref) == 3
    for name, case in ref.items():
        k = cohen_kappa(case["a"], case["b"])
        assert k["n"] == case["n"], name
        np.testing.assert_allclose(k["agreement"], case["agreement"], rtol=1e-6, atol=1e-10)
        np.testing.assert_allclose(k["kappa"], case["kappa"], rtol=1e-6, atol=1e-10)
        np.testing.assert_allclose(k["kappa_se"] ** 2, case["var_kappa"], rtol=1e-6,
                                   atol=1e-10)


def test_kappa_hand_example():
    """Cohen's kappa for 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no: p_o=0.7, p_e=0.5, k=0.4."""
    a = ["include"] * 25 + ["exclude"] * 25
    b = ["include"] * 20 + ["exclude"] * 5 + ["include"] * 10 + ["exclude"] * 15
    k = cohen_kappa(a, b)
    assert k["percent_agreement"] == pytest.approx(70.0)
    assert k["expected_agreement"] == pytest.approx(0.5)
    assert k["kappa"] == pytest.approx(0.4)
    assert k["table"].loc["include", "exclude"] == 5


def test_kappa_undefined_and_empty():
    k = cohen_kappa(["exclude"] * 5, ["exclude"] * 5)
    assert k["percent_agreement"] == 100.0 and k["kappa"] is None
    k = cohen_kappa([], [])
    assert k["n"] == 0 and k["kappa"] is None and k["percent_agreement"] is None
    with pytest.raises(InputError, match="pairs"):
        cohen_kappa(["include"], [])
    with pytest.raises(InputError, match="rating"):
        cohen_kappa(["yes"], ["include"])


ratings = st.lists(st.tuples(st.sampled_from(["include", "exclude", "maybe"]),
                             st.sampled_from(["include", "exclude", "maybe"])),
                   min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(ratings)
def test_kappa_properties(pairs):
    a = [p[0] for p in pairs]
    b = [p[1] for p in pairs]
    k = cohen_kappa(a, b)
    k2 = cohen_kappa(b, a)
    assert 0 <= k["percent_agreement"] <= 100
    assert k["percent_agreement"] == pytest.approx(100 * np.mean(np.array(a) == np.array(b)))
    if k["kappa"] is None:
        assert k2["kappa"] is None
        return
    assert k["kappa"] == pytest.approx(k2["kappa"])  # symmetric in the raters
    assert -1 - 1e-12 <= k["kappa"] <= 1 + 1e-12
    assert np.isfinite(k["kappa_se"])
    if a == b:
        assert k["kappa"] == pytest.approx(1.0)


def test_agreement_from_store(store):
    ta = "title-abstract"
    pairs = [("include", "include"), ("exclude", "exclude"), ("exclude", "include"),
             ("exclude", "exclude"), ("maybe", "include")]
    for i, (a, b) in enumerate(pairs, start=1):
        record_decision(store, f"m.nbib:{i}", ta, a, "AB")
        record_decision(store, f"m.nbib:{i}", ta, b, "CD")
    record_decision(store, "m.nbib:6", ta, "include", "AB")  # only one reviewer: not paired
    ag = agreement(store, ta)
    assert len(ag) == 1
    row = ag.iloc[0]
    assert (row["reviewer_a"], row["reviewer_b"], row["n"]) == ("AB", "CD", 5)
    k = cohen_kappa([p[0] for p in pairs], [p[1] for p in pairs])
    assert row["percent_agreement"] == pytest.approx(60.0)
    assert row["kappa"] == pytest.approx(k["kappa"])
    assert agreement(store, "full-text").empty
    assert agreement(store, "full-text", ["AB", "CD"]).iloc[0]["n"] == 0


# ----------------------------------------------------------------------------- CSV
def test_csv_round_trip(tmp_path, store):
    record_decision(store, "m.nbib:1", "title-abstract", "exclude", "AB",
                    "not a randomised trial", settings=SETTINGS, note='said "no", twice')
    record_decision(store, "m.nbib:2", "title-abstract", "include", "CD", settings=SETTINGS)
    out = tmp_path / "out" / "decisions.csv"
    assert export_decisions(store, out) == 2
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0]["note"] == 'said "no", twice' and rows[0]["title"] == "Vertebroplasty trial 1"
    # importing into a fresh store with the same records reproduces the decisions
    (tmp_path / "r2").mkdir()
    s2 = make_store(tmp_path / "r2")
    assert import_decisions(s2, out, SETTINGS) == 2
    h1 = store.decision_history().drop(columns=["decision_id", "source"])
    h2 = s2.decision_history().drop(columns=["decision_id", "source"])
    pd.testing.assert_frame_equal(h1, h2)
    # re-importing the same export is harmless
    assert import_decisions(s2, out, SETTINGS) == 0
    assert len(s2.decision_history()) == 2
    s2.close()


def test_csv_import_without_timestamps_and_bom(tmp_path, store):
    p = tmp_path / "d.csv"
    p.write_bytes("\ufeffrecord_id,stage,reviewer,decision,reason\r\n"
                  "m.nbib:1,title-abstract,AB,include,\r\n"
                  "\r\n"
                  "m.nbib:2,title-abstract,AB,exclude,not osteoporotic fracture\r\n"
                  .encode())
    assert import_decisions(store, p, SETTINGS) == 2
    h = store.decision_history()
    assert list(h["source"]) == ["csv", "csv"]
    assert h.loc[1, "reason"] == "not osteoporotic fracture"


@pytest.mark.parametrize("body, line, field", [
    ("m.nbib:1,title-abstract,AB,include,,\nnope:9,title-abstract,AB,include,,\n", 3,
     "record_id"),
    ("m.nbib:1,title-abstract,AB,include,,\nm.nbib:2,title-abstract,AB,exclude,too old,\n", 3,
     "reason"),
    ('m.nbib:1,title-abstract,AB,include,,"multi\nline note"\nm.nbib:2,full-text,AB,yes,,\n',
     4, "decision"),
    ("m.nbib:1,title-abstract,AB,include,,\nm.nbib:2,abstracts,AB,include,,\n", 3, "stage"),
    ("m.nbib:1,title-abstract,,include,,\n", 2, "reviewer"),
    ("m.nbib:1,title-abstract,AB,include\n", 2, "fields"),
])
def test_csv_import_bad_rows_all_or_nothing(tmp_path, store, body, line, field):
    p = tmp_path / "bad.csv"
    p.write_text("record_id,stage,reviewer,decision,reason,note\n" + body, encoding="utf-8")
    with pytest.raises(InputError) as e:
        import_decisions(store, p, SETTINGS)
    msg = str(e.value)
    assert str(p) in msg and f"line {line}" in msg and field in msg
    assert store.decision_history().empty


def test_csv_import_bad_files(tmp_path, store):
    p = tmp_path / "x.csv"
    p.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="empty"):
        import_decisions(store, p)
    p.write_text("id,decision\n1,include\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 1.*record_id"):
        import_decisions(store, p)
    p.write_bytes(b"record_id,stage,reviewer,decision\n\xff\xfe,\x00\n")
    with pytest.raises(InputError, match="UTF-8"):
        import_decisions(store, p)
    with pytest.raises(InputError, match="cannot read"):
        import_decisions(store, tmp_path / "missing.csv")
    assert store.decision_history().empty


def test_screening_table_kept_until_the_store_changes(tmp_path):
    """screening_table is kept per store and computed again after a decision (also one made
    through another Store object), a merge or another number of reviewers; each call returns a
    new frame."""
    recs = records_frame([dict(record_id=f"r{i}", title=f"T{i}") for i in range(4)])
    with Store(tmp_path) as a, Store(tmp_path) as b:
        a.add_import(recs, "x.ris", "MEDLINE", sha256="x")
        t1 = screening_table(a, "title-abstract")
        assert (t1["status"] == "pending").all()
        t1.loc[0, "status"] = "changed"  # a copy
        assert screening_table(a, "title-abstract").loc[0, "status"] == "pending"
        b.add_decision("r0", "title-abstract", "include", "ann")
        assert screening_table(a, "title-abstract").set_index("group_id").loc[
            "r0", "status"] == "decided"
        two = ScreeningSettings(reviewers_per_record=2)
        assert screening_table(a, "title-abstract", two).set_index("group_id").loc[
            "r0", "status"] == "pending"
        assert len(screening_table(a, "full-text")) == 1
        b.merge_records(["r0", "r1"])
        assert len(screening_table(a, "title-abstract")) == 3
        b.add_decision("r0", "full-text", "exclude", "ann", "wrong design")
        assert screening_table(a, "full-text").loc[0, "final"] == "exclude"
