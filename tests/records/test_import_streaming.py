"""The import path at scale keeps its semantics: exports parsed in pieces read exactly as in one
go, spooled records store exactly as a record table, the faster text cleaning equals the
regular-expression one, and the store's groups counter moves with every records/groups write."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.errors import InputError
from evsynth.records import io as rio
from evsynth.records import read
from evsynth.records.model import clean_text
from evsynth.records.store import ImportBatch, RecordSpool, Store


def ris_text(n: int, nl: str = "\n", orphan_at: int | None = None) -> str:
    out = []
    for i in range(1, n + 1):
        out += ["TY  - JOUR", f"TI  - Title {i} of a trial",
                f"AU  - Smith, {chr(65 + i % 26)}.", "AU  - Jones, B.", f"PY  - {1990 + i % 30}",
                f"AB  - Abstract {i} first line", "  continued on a second line", f"KW  - kw{i}",
                "more keywords", f"DO  - 10.1/x.{i}", "ER  - "]
        if orphan_at == i:
            out += ["NL  - an Ovid tag after ER"]
        out += ["", "" if i % 3 else "   "]
    return nl.join(out) + nl


def medline_text(n: int, nl: str = "\n") -> str:
    out = []
    for i in range(1, n + 1):
        out += [f"PMID- {1000 + i}", f"TI  - Title {i} of a cohort study", "      continued",
                f"AB  - Abstract {i}", f"FAU - Doe, Jane {i}", "AU  - Doe J",
                f"DP  - {2000 + i % 20}",
                f"DP  - {2000 + i % 20}", f"LID - 10.2/y.{i} [doi]", "", ""]
    return nl.join(out) + nl


@pytest.mark.parametrize("nl", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("kind", ["ris", "medline"])
def test_pieces_read_as_whole(tmp_path, monkeypatch, nl, kind):
    text = ris_text(60, nl) if kind == "ris" else medline_text(60, nl)
    f = tmp_path / f"x.{'ris' if kind == 'ris' else 'nbib'}"
    f.write_bytes(text.encode())
    whole = read(f)
    monkeypatch.setattr(rio, "PIECE_CHARS", 500)
    assert len(list(rio._pieces(text, kind, 500))) > 5
    pieces = read(f)
    pd.testing.assert_frame_equal(pieces, whole)
    assert pieces.attrs["problems"] == whole.attrs["problems"] == []
    # source lines point at the record starts of the whole file
    lines = re.split(r"\r\n|\r|\n", text)
    first = "TY  - JOUR" if kind == "ris" else "PMID-"
    assert all(lines[int(s) - 1].startswith(first) for s in pieces["source_line"])


def test_problem_in_a_piece_reads_whole_file(tmp_path, monkeypatch):
    text = ris_text(40, orphan_at=25)  # a tag after ER belongs to the record before
    text = text.replace("ER  - \n\n   \nTY  - JOUR\nTI  - Title 31", "\nTY  - JOUR\nTI  - Title 31")
    f = tmp_path / "x.ris"
    f.write_text(text)
    with pytest.warns(UserWarning):
        whole = read(f)
    monkeypatch.setattr(rio, "PIECE_CHARS", 300)
    with pytest.warns(UserWarning):
        pieces = read(f)
    assert whole.attrs["problems"], "the edit above should make a malformed record"
    pd.testing.assert_frame_equal(pieces, whole)
    assert pieces.attrs["problems"] == whole.attrs["problems"]


_WS = re.compile(r"\s+")
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")


def _clean_text_re(value):
    if value is None or (isinstance(value, float) and value != value):
        return None
    s = str(value)
    if "<" in s:
        s = _TAG.sub("", s)
    return _WS.sub(" ", s).strip() or None


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(" \t\r\n\x0b\x0c\x1c\x1f\x85\xa0\u2000\u2028\u3000"
                                             "ab<>/ié")), max_size=40) | st.text(max_size=40))
def test_clean_text_same_as_regex(s):
    assert clean_text(s) == _clean_text_re(s)


def _stored(store: Store) -> pd.DataFrame:
    with store.engine.connect() as conn:
        return pd.read_sql(sa.text("SELECT * FROM records ORDER BY id"), conn)


def test_spool_stores_as_frame(tmp_path, monkeypatch):
    f = tmp_path / "a.ris"
    f.write_text(ris_text(23))
    df = read(f, database="MEDLINE")
    df.loc[3, "source_database"] = None  # the batch's database fills it
    df.loc[4, "source_file"] = None
    monkeypatch.setattr("evsynth.records.store.INSERT_CHUNK", 5)
    (tmp_path / "one").mkdir()
    with Store(tmp_path / "one") as s1:
        s1.add_import(df, str(f), "MEDLINE", sha256="a")
        a = _stored(s1)
    (tmp_path / "two").mkdir()
    spool = RecordSpool(df, str(f))
    assert len(spool) == 23 and spool.source_format == "ris"
    with Store(tmp_path / "two") as s2:
        res = s2.add_imports([ImportBatch(spool, str(f), "MEDLINE", sha256="a")])
        b = _stored(s2)
        assert res[0].n_records == 23 and res[0].new
        # the same file name again from elsewhere: prefixed ids, as for a record table
        g = tmp_path / "sub"
        g.mkdir()
        r2 = s2.add_imports([ImportBatch(RecordSpool(df, str(g / "a.ris")), str(g / "a.ris"),
                                         "Embase", sha256="b")])[0]
        assert s2.record_ids()[23:25] == [f"{r2.import_id}/a.ris:1", f"{r2.import_id}/a.ris:2"]
    spool.close()
    pd.testing.assert_frame_equal(a.drop(columns=["import_id"]), b.drop(columns=["import_id"]))
    assert a.loc[3, "source_database"] == "MEDLINE" and a.loc[4, "source_file"] == str(f)


def test_spooled_import_all_or_nothing_and_checks(tmp_path):
    f = tmp_path / "a.ris"
    f.write_text(ris_text(4))
    df = read(f)
    with pytest.raises(InputError, match="b.ris.*doi"):
        RecordSpool(df.drop(columns=["doi"]), "b.ris")
    twice = pd.concat([df, df.iloc[[1]]], ignore_index=True)
    with Store(tmp_path) as s:
        with pytest.raises(InputError, match="'a.ris:2' occurs twice"):
            s.add_imports([ImportBatch(RecordSpool(df, "ok.ris"), "ok.ris", "X", sha256="1"),
                           ImportBatch(RecordSpool(twice, "b.ris"), "b.ris", "X", sha256="2")])
        assert s.n_records() == 0 and s.imports().empty


def test_groups_version_moves_with_records_and_groups(tmp_path):
    f = tmp_path / "a.ris"
    f.write_text(ris_text(3))
    with Store(tmp_path) as s:
        assert s.version >= 3
        v0 = s.groups_version()
        s.add_import(read(f), str(f), "X")
        v1 = s.groups_version()
        assert v1 > v0
        s.add_import(read(f), str(f), "X")  # same bytes: nothing stored, nothing changed
        assert s.groups_version() == v1
        s.add_decision("a.ris:1", "title-abstract", "include", "ann")
        assert s.groups_version() == v1
        s.merge_records(["a.ris:1", "a.ris:2"])
        v2 = s.groups_version()
        assert v2 > v1
        s.split_record("a.ris:2")
        assert s.groups_version() > v2
        insp = sa.inspect(s.engine)
        assert "ix_screening_decisions_stage_id" in {
            i["name"] for i in insp.get_indexes("screening_decisions")}
