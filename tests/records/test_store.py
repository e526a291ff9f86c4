"""Tests of the review-folder store (evsynth.records.store).

The tests taking the ``target`` fixture (directly or through ``store``) run twice: on a SQLite
file in a review folder and on a PostgreSQL database (``tests/postgres_server.py``: a throwaway
server from the installed binaries, or ``EVSYNTH_TEST_POSTGRES_URL``; skipped when neither).
"""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evsynth.errors import InputError
from evsynth.records.model import RECORD_COLUMNS, records_frame
from evsynth.records.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    ImportBatch,
    Store,
    file_sha256,
    make_engine,
    migrate,
    schema_version,
    store_url,
)
from postgres_server import reset_database


def make_records(n: int, file: str = "a.ris", **extra) -> pd.DataFrame:
    return records_frame([dict(record_id=f"{file}:{i}", title=f"Title {i} of {file}",
                               authors=["Smith, John", "Müller, Jörg"], year=2000 + i,
                               doi=f"10.1000/{file}.{i}", keywords=["a", "b"],
                               other_ids={"embase": str(i)}, source_line=3 * i - 2,
                               source_file=file, source_format="ris", **extra)
                          for i in range(1, n + 1)])


def write_file(tmp_path, name: str, content: str):
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(content, encoding="utf-8")
    return p


@pytest.fixture
def target(store_target):
    """Where the store lives: a review folder (SQLite) or an empty PostgreSQL database URL
    (``store_target`` in tests/postgres_server.py)."""
    return store_target


@pytest.fixture
def store(target):
    s = Store(target)
    yield s
    s.close()


def test_new_store_has_schema(store):
    assert store.version == SCHEMA_VERSION == MIGRATIONS[-1][0]
    insp = sa.inspect(store.engine)
    for t in ("imports", "records", "duplicates", "duplicate_uncertain", "screening_decisions",
              "retrieval", "study_links", "schema_version", "users", "web_sessions",
              "login_attempts", "fulltexts"):
        assert insp.has_table(t), t
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT version FROM schema_version ORDER BY version"))
        assert [r[0] for r in rows] == [m[0] for m in MIGRATIONS]


def test_sqlite_store_is_wal(tmp_path):
    store = Store(tmp_path)
    assert (tmp_path / "evsynth.sqlite").exists()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.close()
    con = sqlite3.connect(tmp_path / "evsynth.sqlite")
    rows = con.execute("SELECT version, description FROM schema_version").fetchall()
    con.close()
    assert [r[0] for r in rows] == [m[0] for m in MIGRATIONS]


def test_store_url_forms(tmp_path):
    assert store_url(tmp_path) == f"sqlite:///{tmp_path}/evsynth.sqlite"
    assert store_url(tmp_path / "x.sqlite") == f"sqlite:///{tmp_path}/x.sqlite"
    assert store_url("postgresql://u@h/db") == "postgresql://u@h/db"
    s = Store(f"sqlite:///{tmp_path}/other.db")
    assert s.n_records() == 0
    s.close()
    assert (tmp_path / "other.db").exists()


def test_plain_postgresql_url_uses_psycopg(postgres_url):
    """``--db postgresql://...`` (no driver named) reaches the server through psycopg."""
    pytest.importorskip("psycopg")
    plain = sa.engine.make_url(postgres_url).set(drivername="postgresql")
    with Store(plain.render_as_string(hide_password=False)) as s:
        assert s.engine.dialect.driver == "psycopg"
        assert s.n_records() == 0 and s.version == SCHEMA_VERSION


def test_missing_review_folder(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        Store(tmp_path / "nope")


def test_reopen_does_not_reapply_migrations(target, store):
    store.add_import(make_records(2), "a.ris", "MEDLINE", sha256="s1")
    store.close()
    s2 = Store(target)
    assert s2.n_records() == 2
    with s2.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM schema_version").scalar() \
            == len(MIGRATIONS)
    s2.close()


def test_added_migration_is_applied_once(target, store):
    store.close()
    calls = []

    def m2(conn):
        calls.append(1)
        conn.exec_driver_sql("ALTER TABLE records ADD COLUMN extra TEXT")

    nxt = SCHEMA_VERSION + 1
    migs = [*MIGRATIONS, (nxt, "add records.extra", m2)]
    engine = make_engine(target)
    assert migrate(engine, migs) == nxt
    assert migrate(engine, migs) == nxt
    assert calls == [1]
    assert "extra" in [c["name"] for c in sa.inspect(engine).get_columns("records")]
    engine.dispose()
    # this code only knows up to SCHEMA_VERSION: a newer store is refused, not misread
    with pytest.raises(InputError, match="newer"):
        Store(target)


def test_failed_migration_rolls_back(target, store):
    store.close()

    def bad(conn):
        conn.exec_driver_sql("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("boom")

    engine = make_engine(target)
    with pytest.raises(RuntimeError):
        migrate(engine, [*MIGRATIONS, (SCHEMA_VERSION + 1, "bad", bad)])
    assert schema_version(engine) == SCHEMA_VERSION
    assert not sa.inspect(engine).has_table("half_done")
    engine.dispose()


def test_migrations_must_be_ordered(tmp_path):
    engine = make_engine(tmp_path)
    with pytest.raises(ValueError):
        migrate(engine, [MIGRATIONS[0], MIGRATIONS[0]])
    engine.dispose()


def test_records_round_trip(store):
    df = make_records(3)
    df.loc[1, "title"] = None
    df.at[2, "authors"] = []
    df.loc[2, "year"] = pd.NA
    store.add_import(df, "a.ris", "Embase", sha256="abc")
    out = store.records()
    assert list(out.columns) == [*RECORD_COLUMNS, "import_id"]
    assert list(out["record_id"]) == ["a.ris:1", "a.ris:2", "a.ris:3"]
    assert out.loc[0, "authors"] == ["Smith, John", "Müller, Jörg"]
    assert out.loc[2, "authors"] == []
    assert out.loc[0, "other_ids"] == {"embase": "1"}
    assert out.loc[0, "keywords"] == ["a", "b"]
    assert str(out["year"].dtype) == "Int64"
    assert out.loc[0, "year"] == 2001 and pd.isna(out.loc[2, "year"])
    assert out.loc[1, "title"] is None
    assert out.loc[0, "source_line"] == 1
    imp = store.imports()
    assert imp.loc[0, "database"] == "Embase" and imp.loc[0, "n_records"] == 3
    assert imp.loc[0, "source_format"] == "ris" and imp.loc[0, "kind"] == "database"


def test_source_database_filled_from_import(store):
    df = make_records(1)
    store.add_import(df, "a.ris", "CENTRAL", kind="register", sha256="z")
    assert store.records().loc[0, "source_database"] == "CENTRAL"
    assert store.imports().loc[0, "kind"] == "register"


def test_reimport_same_bytes_is_idempotent(tmp_path, store):
    p = write_file(tmp_path, "s/a.ris", "TY  - JOUR\nTI  - x\nER  - \n")
    r1 = store.add_import(make_records(2), str(p), "MEDLINE")
    r2 = store.add_import(make_records(2), str(p), "MEDLINE")
    assert r1.new and not r2.new and r2.import_id == r1.import_id and r2.n_records == 2
    assert store.n_records() == 2 and len(store.imports()) == 1
    assert store.imports().loc[0, "sha256"] == file_sha256(p)
    # same bytes under another name: still the same export
    q = write_file(tmp_path, "copy.ris", p.read_text())
    assert not store.add_import(make_records(2), str(q), "MEDLINE").new
    # the same file listed twice in one call
    res = store.add_imports([ImportBatch(make_records(1, "b.ris"), "b.ris", "X", sha256="b"),
                             ImportBatch(make_records(1, "b.ris"), "b.ris", "X", sha256="b")])
    assert res[0].new and res[1] == res[0]
    assert store.n_records() == 3


def test_same_file_name_other_folder_gets_prefixed_ids(store):
    store.add_import(make_records(2), "x/a.ris", "MEDLINE", sha256="1")
    r = store.add_import(make_records(2), "y/a.ris", "Embase", sha256="2")
    ids = store.record_ids()
    assert ids == ["a.ris:1", "a.ris:2", f"{r.import_id}/a.ris:1", f"{r.import_id}/a.ris:2"]


def test_add_imports_all_or_nothing(store):
    good = ImportBatch(make_records(2), "a.ris", "MEDLINE", sha256="g")
    bad = ImportBatch(make_records(2).drop(columns=["doi"]), "b.ris", "MEDLINE", sha256="b")
    with pytest.raises(InputError, match="b.ris.*doi"):
        store.add_imports([good, bad])
    assert store.n_records() == 0 and store.imports().empty


def test_bad_kind_and_duplicate_ids(store):
    with pytest.raises(InputError, match="kind"):
        store.add_import(make_records(1), "a.ris", "X", kind="grey", sha256="k")
    df = pd.concat([make_records(1), make_records(1)], ignore_index=True)
    with pytest.raises(InputError, match="twice"):
        store.add_import(df, "a.ris", "X", sha256="d")
    assert store.n_records() == 0


def test_empty_file_import_is_recorded(store):
    r = store.add_import(make_records(0), "empty.ris", "X", sha256="e")
    assert r.n_records == 0 and len(store.imports()) == 1


def test_duplicate_groups_auto_manual(store):
    store.add_import(make_records(4), "a.ris", "MEDLINE", sha256="1")
    store.add_import(make_records(2, "b.ris"), "b.ris", "Embase", sha256="2")
    assert not store.deduplicated()
    groups = store.duplicate_groups()
    assert all(k == v for k, v in groups.items())
    uncertain = pd.DataFrame([dict(record_id_a="a.ris:3", record_id_b="a.ris:4", score=0.8,
                                   reason="similar title")])
    store.set_duplicate_groups({"a.ris:1": 0, "b.ris:1": 0, "a.ris:2": 1, "b.ris:2": 1,
                                "a.ris:3": 2, "a.ris:4": 3}, uncertain=uncertain)
    g = store.duplicate_groups()
    assert g["b.ris:1"] == "a.ris:1" and g["b.ris:2"] == "a.ris:2" and g["a.ris:4"] == "a.ris:4"
    assert store.deduplicated()
    assert store.uncertain_pairs().to_dict("records") == [
        dict(record_id_a="a.ris:3", record_id_b="a.ris:4", score=0.8, reason="similar title")]
    # manual merge of the uncertain pair, manual split of an automatic pair
    assert store.merge_records(["a.ris:3", "a.ris:4"], "AB") == "a.ris:3"
    store.split_record("b.ris:2", "AB")
    # a new automatic run that groups everything separately keeps the manual decisions
    store.set_duplicate_groups({r: i for i, r in enumerate(store.record_ids())})
    g = store.duplicate_groups()
    assert g["a.ris:4"] == "a.ris:3" and g["b.ris:2"] == "b.ris:2"
    assert g["b.ris:1"] == "b.ris:1"
    u = store.unique_records()
    assert list(u["record_id"]) == ["a.ris:1", "a.ris:2", "a.ris:3", "b.ris:1", "b.ris:2"]
    assert list(u["group_size"]) == [1, 1, 2, 1, 1]
    assert store.group_members() == {"a.ris:1": ["a.ris:1"], "a.ris:2": ["a.ris:2"],
                                     "a.ris:3": ["a.ris:3", "a.ris:4"], "b.ris:1": ["b.ris:1"],
                                     "b.ris:2": ["b.ris:2"]}


def test_duplicate_groups_bad_input(store):
    store.add_import(make_records(2), "a.ris", "MEDLINE", sha256="1")
    with pytest.raises(InputError, match="nope"):
        store.set_duplicate_groups({"nope": 1})
    with pytest.raises(InputError, match="at least two"):
        store.merge_records(["a.ris:1"])
    with pytest.raises(InputError, match="method"):
        store.set_duplicate_groups({"a.ris:1": 1}, method="fuzzy")


def test_decisions_history_and_validation(store):
    store.add_import(make_records(2), "a.ris", "MEDLINE", sha256="1")
    store.add_decision("a.ris:1", "title-abstract", "exclude", "AB", "wrong design")
    store.add_decision("a.ris:1", "title-abstract", "include", "AB")
    h = store.decision_history()
    assert list(h["decision"]) == ["exclude", "include"]
    assert h.loc[0, "reason"] == "wrong design" and h.loc[1, "kind"] == "screen"
    for bad, msg in [(dict(stage="abstract"), "stage"), (dict(decision="yes"), "decision"),
                     (dict(reviewer=" "), "reviewer"), (dict(record_id="zzz"), "zzz"),
                     (dict(kind="vote"), "kind")]:
        row = dict(record_id="a.ris:2", stage="title-abstract", decision="include",
                   reviewer="AB") | bad
        with pytest.raises(InputError, match=msg):
            store.add_decisions([row])
    # one bad row: nothing from the batch is written
    rows = [dict(record_id="a.ris:2", stage="full-text", decision="include", reviewer="CD"),
            dict(record_id="missing", stage="full-text", decision="include", reviewer="CD")]
    with pytest.raises(InputError):
        store.add_decisions(rows)
    assert len(store.decision_history()) == 2


def test_retrieval_and_study_links(store):
    store.add_import(make_records(3), "a.ris", "MEDLINE", sha256="1")
    store.set_retrieval("a.ris:1", "not retrieved", "AB")
    store.set_retrieval("a.ris:1", "retrieved", "AB", note="via ILL")
    store.set_retrieval("a.ris:2", "not retrieved")
    assert store.retrieval() == {"a.ris:1": "retrieved", "a.ris:2": "not retrieved"}
    store.link_study("a.ris:1", "Kallmes 2009")
    store.link_study("a.ris:2", "Kallmes 2009")
    store.link_study("a.ris:3", "Buchbinder 2009")
    store.link_study("a.ris:3", "Buchbinder 2009 ")
    assert store.study_links() == {"a.ris:1": "Kallmes 2009", "a.ris:2": "Kallmes 2009",
                                   "a.ris:3": "Buchbinder 2009"}
    with pytest.raises(InputError, match="status"):
        store.set_retrieval("a.ris:1", "lost")
    with pytest.raises(InputError, match="study_id"):
        store.link_study("a.ris:1", "")
    with pytest.raises(InputError, match="nope"):
        store.link_study("nope", "S")


text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=40)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(titles=st.lists(text, min_size=1, max_size=5),
       authors=st.lists(st.lists(text.filter(lambda s: s.strip()), max_size=3), min_size=5,
                        max_size=5))
def test_round_trip_property(target, tmp_path_factory, titles, authors):
    """Whatever text a record holds comes back unchanged (after the model's normalisation)."""
    if isinstance(target, str):  # PostgreSQL: one database, emptied for each example
        reset_database(target)
        d = target
    else:
        d = tmp_path_factory.mktemp("rt")
    df = records_frame([dict(record_id=f"f:{i}", title=t, authors=authors[i])
                        for i, t in enumerate(titles)])
    with Store(d) as s:
        s.add_import(df, "f", "DB", sha256="h")
        out = s.records()
    assert list(out["title"]) == list(df["title"])
    assert list(out["authors"]) == list(df["authors"])


WRITER = """
import sys
from evsynth.records.store import Store
s = Store(sys.argv[1])
for i in range(1, 41):
    s.add_decision(f"a.ris:{i}", "title-abstract", "include", sys.argv[2])
    s.retrieval()
s.close()
"""


def test_concurrent_writers(target, store):
    """Two processes recording decisions at the same time (two reviewers): none is lost."""
    import subprocess
    import sys

    store.add_import(make_records(40), "a.ris", "MEDLINE", sha256="1")
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(target), name],
                              stderr=subprocess.PIPE) for name in ("AB", "CD")]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    h = store.decision_history()
    assert len(h) == 80
    assert h.groupby("reviewer").size().to_dict() == {"AB": 40, "CD": 40}


def test_missing_file_import(tmp_path, store):
    with pytest.raises(InputError, match="nope.ris"):
        store.add_import(make_records(1), str(tmp_path / "nope.ris"), "MEDLINE")


def test_groups_and_history_read_again_only_after_a_change(tmp_path):
    """duplicate_groups() and decision_history() are kept between calls and read again when
    the store changed, also through another Store object (another process); each call returns
    a new object."""
    recs = records_frame([dict(record_id=f"r{i}", title=f"T{i}") for i in range(4)])
    with Store(tmp_path) as a, Store(tmp_path) as b:
        a.add_import(recs, "x.ris", "MEDLINE", sha256="x")
        g1 = a.duplicate_groups()
        g1["r0"] = "changed"  # a copy: the next call is not affected
        assert a.duplicate_groups() == {f"r{i}": f"r{i}" for i in range(4)}
        b.merge_records(["r1", "r2"])  # another writer
        assert a.duplicate_groups()["r2"] == "r1"
        assert a.decision_history().empty
        b.add_decision("r0", "title-abstract", "include", "ann")
        h = a.decision_history("title-abstract")
        assert list(h["record_id"]) == ["r0"]
        h.loc[0, "decision"] = "exclude"  # a copy
        assert list(a.decision_history("title-abstract")["decision"]) == ["include"]
        assert a.decision_history("full-text").empty
        b.add_decision("r3", "title-abstract", "exclude", "bob", "not a trial")
        assert list(a.decision_history()["record_id"]) == ["r0", "r3"]
        assert list(a.decision_history("title-abstract")["reviewer"]) == ["ann", "bob"]


def test_records_of_some_ids_equal_the_rows_of_all(tmp_path):
    """records(ids) gives the rows of records() for those ids (stored ones, import order, each
    once, every column converted the same), also across chunks of 500 ids; titles(ids) their
    titles."""
    recs = records_frame([dict(record_id=f"r{i}", title=f"T{i}", year=2000 + i % 20,
                               authors=[f"A{i}"], source_line=i + 1) for i in range(1200)])
    with Store(tmp_path) as store:
        store.add_import(recs, "x.ris", "MEDLINE", sha256="x")
        every = store.records()
        ids = ["r1100", "r3", "nope", "r3", "r700", "r0", *[f"r{i}" for i in range(600, 40, -1)]]
        got = store.records(ids)
        want = every[every["record_id"].isin(ids)].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want)
        assert list(got["record_id"][:3]) == ["r0", "r3", "r41"]
        assert store.records([]).empty and list(store.records([]).columns) == list(every.columns)
        assert store.titles(["r5", "nope", "r5"]) == {"r5": "T5"}
        import evsynth.records.store as store_module  # both read ID_CHUNK ids per query

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(store_module, "ID_CHUNK", 7)
            pd.testing.assert_frame_equal(store.records(ids), want)
            assert store.titles(ids[:20]) == {r: f"T{r[1:]}" for r in ids[:20] if r != "nope"}
        for fn in (store.records, store.titles):
            with pytest.raises(InputError, match="record_ids is the string 'r5'; expected a list"):
                fn("r5")
