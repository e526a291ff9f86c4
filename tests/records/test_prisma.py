"""Tests of PRISMA 2020 counts from the store and of the flow diagram files."""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evsynth.errors import InputError
from evsynth.records.model import records_frame
from evsynth.records.prisma import prisma_counts, prisma_diagram
from evsynth.records.settings import ScreeningSettings
from evsynth.records.store import Store


def add(store: Store, file: str, n: int, database: str, kind: str = "database") -> list[str]:
    df = records_frame([dict(record_id=f"{file}:{i}", title=f"{file} record {i}")
                        for i in range(1, n + 1)])
    store.add_import(df, file, database, kind=kind, sha256=file)
    return list(df["record_id"])


@pytest.fixture
def scenario(store_target):
    """12 records (MEDLINE 6, Embase 4, register 2), 2 duplicates, a full single-reviewer
    screening with every PRISMA box non-trivial; on SQLite and on PostgreSQL
    (tests/postgres_server.py)."""
    s = Store(store_target)
    med = add(s, "med.nbib", 6, "MEDLINE")
    emb = add(s, "emb.ris", 4, "Embase")
    reg = add(s, "ctgov.ris", 2, "ClinicalTrials.gov", kind="register")
    s.set_duplicate_groups({med[0]: 0, emb[0]: 0, med[1]: 1, emb[1]: 1})
    ta, ft = "title-abstract", "full-text"
    # 10 unique: med1..6, emb3, emb4, reg1, reg2
    for rid in (med[5], emb[2], emb[3], reg[0]):
        s.add_decision(rid, ta, "exclude", "AB", "not a randomised trial")
    s.add_decision(reg[1], ta, "exclude", "AB")  # no reason given
    # sought: med1 (decided via its duplicate emb1), med2, med3, med4 (maybe), med5
    s.add_decision(emb[0], ta, "include", "AB")
    for rid in (med[1], med[2], med[4]):
        s.add_decision(rid, ta, "include", "AB")
    s.add_decision(med[3], ta, "maybe", "AB")
    s.set_retrieval(med[0], "not retrieved")          # 1 not retrieved (retrieval log)
    s.add_decision(med[1], ft, "exclude", "AB", "Not retrieved")  # 2nd, via the reason
    s.add_decision(med[2], ft, "exclude", "AB", "wrong outcome")
    s.add_decision(med[3], ft, "include", "AB")
    s.add_decision(med[4], ft, "include", "AB")
    s.link_study(med[3], "Kallmes 2009")
    s.link_study(med[4], "Kallmes 2009")
    yield s
    s.close()


def test_counts_scenario(scenario):
    c = prisma_counts(scenario)
    assert c["identification"] == {
        "databases": {"MEDLINE": 6, "Embase": 4}, "registers": {"ClinicalTrials.gov": 2},
        "databases_total": 10, "registers_total": 2, "total": 12}
    assert c["removed_before_screening"] == {"duplicates": 2, "automation": 0, "other": 0}
    assert c["screening"] == {
        "records_screened": 10, "records_excluded": 5,
        "records_excluded_reasons": {"not a randomised trial": 4},
        "reports_sought": 5, "reports_not_retrieved": 2, "reports_assessed": 3,
        "reports_excluded": 1, "reports_excluded_reasons": {"wrong outcome": 1}}
    assert c["included"] == {"studies": 1, "reports": 2, "reports_unlinked": 0}
    assert all(v == 0 for v in c["pending"].values())


def test_counts_unlinked_reports_and_pending(scenario):
    scenario.link_study("med.nbib:5", "Other 2010")
    c = prisma_counts(scenario)
    assert c["included"]["studies"] == 2
    # a new unscreened record shows as pending, and dual screening leaves all pending
    add(scenario, "late.ris", 1, "MEDLINE")
    c = prisma_counts(scenario)
    assert c["identification"]["databases"]["MEDLINE"] == 7
    assert c["pending"]["title_abstract_undecided"] == 1
    dual = ScreeningSettings(reviewers=("AB", "CD"))
    c = prisma_counts(scenario, dual)
    assert c["pending"]["title_abstract_undecided"] == 11
    assert c["screening"]["reports_sought"] == 0


def test_empty_store(tmp_path):
    with Store(tmp_path) as s:
        c = prisma_counts(s)
    assert c["identification"]["total"] == 0 and c["screening"]["records_screened"] == 0
    assert c["included"] == {"studies": 0, "reports": 0, "reports_unlinked": 0}


decision = st.sampled_from([None, "include", "exclude", "maybe"])


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(groups=st.lists(st.integers(0, 7), min_size=1, max_size=10),
       ta=st.lists(st.tuples(decision, decision), min_size=10, max_size=10),
       ft=st.lists(st.tuples(decision, decision), min_size=10, max_size=10),
       lost=st.lists(st.booleans(), min_size=10, max_size=10),
       study=st.lists(st.sampled_from(["S1", "S2", None]), min_size=10, max_size=10))
def test_flow_balances(tmp_path_factory, groups, ta, ft, lost, study):
    """Every record ends in exactly one PRISMA box (or a pending count), for any decisions."""
    d = tmp_path_factory.mktemp("p")
    reasons = ScreeningSettings(reviewers=("AB", "CD"),
                                exclusion_reasons_full_text=("wrong outcome", "not retrieved"))
    with Store(d) as s:
        ids = add(s, "f.ris", len(groups), "DB")
        s.set_duplicate_groups(dict(zip(ids, groups, strict=True)))
        for i, rid in enumerate(ids):
            for reviewer, dec in zip(("AB", "CD"), ta[i], strict=True):
                if dec:
                    s.add_decision(rid, "title-abstract", dec, reviewer)
            for reviewer, dec in zip(("AB", "CD"), ft[i], strict=True):
                if dec:
                    s.add_decision(rid, "full-text", dec, reviewer,
                                   "wrong outcome" if dec == "exclude" else None)
            if lost[i]:
                s.set_retrieval(rid, "not retrieved")
            if study[i]:
                s.link_study(rid, study[i])
        c = prisma_counts(s, reasons)
    ident, scr, inc, pend = (c["identification"], c["screening"], c["included"],
                             c["pending"])
    assert ident["total"] == len(ids)
    assert scr["records_screened"] == ident["total"] - c["removed_before_screening"][
        "duplicates"] == len(set(groups))
    assert scr["records_screened"] == (scr["records_excluded"] + scr["reports_sought"]
                                       + pend["title_abstract_undecided"]
                                       + pend["title_abstract_conflicts"])
    assert scr["reports_sought"] == scr["reports_not_retrieved"] + scr["reports_assessed"]
    assert scr["reports_assessed"] == (scr["reports_excluded"] + inc["reports"]
                                       + pend["full_text_undecided"]
                                       + pend["full_text_conflicts"]
                                       + pend["full_text_awaiting"])
    assert sum(scr["reports_excluded_reasons"].values()) == scr["reports_excluded"]
    # one report may describe two studies, so studies can exceed reports only by links
    assert inc["studies"] <= inc["reports"] + len({x for x in study if x})
    assert (inc["studies"] >= 1) == (inc["reports"] >= 1)
    assert all(v >= 0 for sec in (scr, inc, pend) for v in sec.values() if isinstance(v, int))


# ----------------------------------------------------------------------------- diagram
def test_diagram_files(tmp_path, scenario):
    c = prisma_counts(scenario)
    svg, png = tmp_path / "out" / "prisma.svg", tmp_path / "out" / "prisma.png"
    prisma_diagram(c, svg, png, title="Test review")
    text = svg.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "</svg>" in text
    for phrase in ("Identification of studies via databases and registers",
                   "Records screened", "Records excluded", "Reports sought for retrieval",
                   "Reports not retrieved", "Reports assessed for eligibility",
                   "Studies included in review", "Reports of included studies",
                   "Duplicate records removed (n = 2)", "MEDLINE (n = 6)",
                   "ClinicalTrials.gov (n = 2)", "wrong outcome (n = 1)", "Identification",
                   "Screening", "Included", "Test review"):
        assert phrase in text, phrase
    assert "(n = 10)" in text and "(n = 5)" in text
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000
    w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert 1000 < w < 2500 and 1000 < h < 3000
    assert not [f for f in os.listdir(tmp_path / "out") if f.startswith(".")]


def test_diagram_svg_only_and_deterministic(tmp_path, scenario):
    c = prisma_counts(scenario)
    prisma_diagram(c, tmp_path / "a.svg")
    prisma_diagram(c, tmp_path / "b.svg")
    assert not (tmp_path / "a.png").exists()
    strip = re.compile(r'id="[^"]*"|xlink:href="[^"]*"|clip-path="[^"]*"')
    a = strip.sub("", (tmp_path / "a.svg").read_text())
    b = strip.sub("", (tmp_path / "b.svg").read_text())
    assert a == b


def test_diagram_write_is_atomic(tmp_path, scenario, monkeypatch):
    c = prisma_counts(scenario)
    (tmp_path / "out").mkdir()
    svg = tmp_path / "out" / "prisma.svg"
    svg.write_text("OLD", encoding="utf-8")
    import matplotlib.figure

    def boom(self, *a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", boom)
    with pytest.raises(OSError):
        prisma_diagram(c, svg)
    assert svg.read_text() == "OLD"
    assert os.listdir(tmp_path / "out") == ["prisma.svg"]


def test_diagram_bad_counts(tmp_path):
    with pytest.raises(InputError, match="screening"):
        prisma_diagram({"identification": {"databases": {}, "registers": {}},
                        "removed_before_screening": {"duplicates": 0}}, tmp_path / "x.svg")
    with pytest.raises(InputError, match="reports_sought"):
        prisma_diagram({"identification": {"databases": {}, "registers": {}},
                        "removed_before_screening": {"duplicates": 0},
                        "screening": {"records_screened": 1, "records_excluded": 0},
                        "included": {}}, tmp_path / "x.svg")
    c = {"identification": {"databases": {"MEDLINE": 3}, "registers": {}},
         "removed_before_screening": {"duplicates": 0},
         "screening": {"records_screened": 3, "records_excluded": 1, "reports_sought": 2,
                       "reports_not_retrieved": 0, "reports_assessed": 2,
                       "reports_excluded": 1, "reports_excluded_reasons": {"x": 1}},
         "included": {"studies": 1, "reports": 1}}
    prisma_diagram(c, tmp_path / "ok.svg")
    for sec, key, bad in [("screening", "records_excluded", -1),
                          ("included", "studies", 1.5),
                          ("identification", "databases", {"MEDLINE": None})]:
        broken = {k: dict(v) for k, v in c.items()}
        broken[sec][key] = bad
        with pytest.raises(InputError, match="non-negative integer"):
            prisma_diagram(broken, tmp_path / "x.svg")
    assert not (tmp_path / "x.svg").exists()


def test_diagram_notes_unfinished_work(tmp_path, scenario):
    add(scenario, "late.ris", 3, "MEDLINE")
    c = prisma_counts(scenario)
    prisma_diagram(c, tmp_path / "p.svg")
    text = (tmp_path / "p.svg").read_text()
    assert "Title-abstract screening unfinished: 3 undecided" in text
    c["pending"] = {k: 0 for k in c["pending"]}
    prisma_diagram(c, tmp_path / "r.svg")
    assert "unfinished" not in (tmp_path / "r.svg").read_text()
