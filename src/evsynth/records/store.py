"""The review-folder store: imported records, duplicate groups, screening decisions, retrieval.

The store is a relational database reached through SQLAlchemy Core. By default it is the SQLite
file ``REVIEW_DIR/evsynth.sqlite``; any SQLAlchemy URL may be given instead (``postgresql://...``)
so that a server database can be used by a team.

Tables (schema version 1)
-------------------------
``schema_version``
    One row per applied migration: ``version``, ``description``, ``applied_at``.
``imports``
    One row per imported file (an *import batch*): ``import_id``, ``file`` (path as given),
    ``file_name``, ``database``, ``kind`` ("database" or "register", as in PRISMA 2020),
    ``source_format``, ``sha256`` (of the file's bytes; unique, which makes re-imports
    idempotent), ``n_records`` (records read), ``imported_at`` (UTC, ISO 8601).
``records``
    One row per imported record: the normalised columns of
    :data:`evsynth.records.model.RECORD_COLUMNS` (lists and dicts stored as JSON text),
    ``import_id`` and an integer ``id`` giving the import order. ``record_id`` is unique in the
    store: it is the ``record_id`` from :func:`evsynth.records.read` (``"<file name>:<n>"``),
    prefixed ``"<import_id>/"`` only when another stored file of the same name already used it.
``duplicates``
    Duplicate-group membership, one row per record that has been through deduplication:
    ``record_id``, ``group_id`` (an opaque label shared by the members; the group's
    representative is its first-imported member), ``method`` ("auto" or "manual"),
    ``decided_by``, ``decided_at``. A record without a row is its own group and has not been
    deduplicated yet (:meth:`Store.undeduplicated`). Manual rows survive a new automatic run.
``duplicate_uncertain``
    Pairs the automatic deduplication could not decide (``record_id_a``, ``record_id_b``,
    ``score``, ``reason``); replaced at each automatic run.
``screening_decisions``
    Append-only history: ``decision_id``, ``record_id`` (any member of a duplicate group; the
    decision applies to the group), ``stage`` ("title-abstract" or "full-text"), ``decision``
    ("include", "exclude", "maybe"), ``reason``, ``reviewer``, ``kind`` ("screen" for a
    reviewer's own decision, "resolution" for the decision settling a conflict), ``note``,
    ``source`` (e.g. "screener", "csv", "api") and ``decided_at``. The latest row per
    (group, stage, reviewer, kind) counts; nothing is ever updated or deleted.
``retrieval``
    Append-only full-text retrieval log: ``record_id``, ``status`` ("retrieved" or
    "not retrieved"), ``note``, ``recorded_by``, ``recorded_at``; the latest row counts.
``study_links``
    Links from (included) reports to study ids of ``studies.csv``: ``record_id`` (unique: a
    report belongs to one study), ``study_id`` (a study may have several reports),
    ``linked_by``, ``linked_at``.

Version 2 adds the web app's tables (:mod:`evsynth.web`): ``users`` (``username``,
``password_hash`` (argon2), ``role`` in this review: owner, reviewer or viewer), ``web_sessions``
(SHA-256 of the session token, CSRF token, expiry), ``login_attempts`` (for rate limiting) and
``fulltexts`` (PDFs attached to records: ``record_id``, ``file`` relative to the review folder,
``sha256``, ``size``, ``uploaded_by``, ``uploaded_at``; append-only, the latest row counts).

Version 3 adds ``change_counters`` (``name``, ``counter``): the row "groups" is incremented in
the transaction of every import and every change of duplicate groups, so that readers (the web
app's screening pages) can cache what depends only on the records and their groups
(:meth:`Store.groups_version`); and an index of ``screening_decisions`` by ``(stage,
decision_id)``, so that a reader fetches only the decisions added since it last looked.

Schema versioning
-----------------
:data:`MIGRATIONS` is the ordered list of ``(version, description, function)``; each function
receives an open connection and brings the schema from ``version - 1`` to ``version``. Opening a
store applies, each in its own transaction together with its ``schema_version`` row, every
migration above the recorded version. A store whose version is newer than this code knows is
refused (InputError) rather than misread. To change the schema: append a migration function
(never edit an applied one) and update the module-level table definitions to match.

Durability
----------
Every write runs in one transaction (``engine.begin()``). SQLite is opened in WAL mode with
``synchronous=FULL`` so a committed decision survives the process being killed at any moment
(SQLite documentation, "Write-Ahead Logging", https://www.sqlite.org/wal.html).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import pickle
import tempfile
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from evsynth.errors import InputError
from evsynth.records.model import DICT_COLUMNS, LIST_COLUMNS, RECORD_COLUMNS, TEXT_COLUMNS
from evsynth.records.settings import SEARCH_KINDS, STAGES
from evsynth.textsafe import has_control

#: file name of the default SQLite store inside a review folder
STORE_FILE = "evsynth.sqlite"
#: allowed screening decisions
DECISIONS = ("include", "exclude", "maybe")
#: kinds of screening decision rows
DECISION_KINDS = ("screen", "resolution")
#: duplicate-decision methods
DEDUP_METHODS = ("auto", "manual")
#: full-text retrieval statuses
RETRIEVAL_STATUSES = ("retrieved", "not retrieved")


def now() -> str:
    """Current UTC time as ISO 8601 text with microseconds (sortable)."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")


def _in(col: str, values: Sequence[str]) -> str:
    return f"{col} IN ({', '.join(repr(v) for v in values)})"


# ----------------------------------------------------------------------------------------------
# Schema
# ----------------------------------------------------------------------------------------------
def _schema_v1(md: sa.MetaData) -> dict[str, sa.Table]:
    """Table definitions of schema version 1 (frozen: migration 1 creates exactly these)."""
    t: dict[str, sa.Table] = {}
    t["imports"] = sa.Table(
        "imports", md,
        sa.Column("import_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("file", sa.Text, nullable=False),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("database", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source_format", sa.Text),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("n_records", sa.Integer, nullable=False),
        sa.Column("imported_at", sa.String(40), nullable=False),
        sa.CheckConstraint(_in("kind", SEARCH_KINDS), name="ck_imports_kind"),
    )
    rec_cols: list[sa.Column] = [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("record_id", sa.String(255), nullable=False, unique=True),
        sa.Column("import_id", sa.Integer, sa.ForeignKey("imports.import_id"), nullable=False,
                  index=True),
    ]
    for c in RECORD_COLUMNS:
        if c == "record_id":
            continue
        typ = sa.Integer if c in ("year", "source_line") else sa.Text
        rec_cols.append(sa.Column(c, typ))
    t["records"] = sa.Table("records", md, *rec_cols)
    fk = "records.record_id"
    t["duplicates"] = sa.Table(
        "duplicates", md,
        sa.Column("record_id", sa.String(255), sa.ForeignKey(fk), primary_key=True),
        sa.Column("group_id", sa.String(255), nullable=False, index=True),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.Text),
        sa.Column("decided_at", sa.String(40), nullable=False),
        sa.CheckConstraint(_in("method", DEDUP_METHODS), name="ck_duplicates_method"),
    )
    t["duplicate_uncertain"] = sa.Table(
        "duplicate_uncertain", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("record_id_a", sa.String(255), sa.ForeignKey(fk), nullable=False),
        sa.Column("record_id_b", sa.String(255), sa.ForeignKey(fk), nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("reason", sa.Text),
        sa.Column("found_at", sa.String(40), nullable=False),
    )
    t["screening_decisions"] = sa.Table(
        "screening_decisions", md,
        sa.Column("decision_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("record_id", sa.String(255), sa.ForeignKey(fk), nullable=False, index=True),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("reviewer", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("source", sa.String(32)),
        sa.Column("decided_at", sa.String(40), nullable=False),
        sa.CheckConstraint(_in("stage", STAGES), name="ck_decisions_stage"),
        sa.CheckConstraint(_in("decision", DECISIONS), name="ck_decisions_decision"),
        sa.CheckConstraint(_in("kind", DECISION_KINDS), name="ck_decisions_kind"),
    )
    t["retrieval"] = sa.Table(
        "retrieval", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("record_id", sa.String(255), sa.ForeignKey(fk), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("recorded_by", sa.Text),
        sa.Column("recorded_at", sa.String(40), nullable=False),
        sa.CheckConstraint(_in("status", RETRIEVAL_STATUSES), name="ck_retrieval_status"),
    )
    t["study_links"] = sa.Table(
        "study_links", md,
        sa.Column("record_id", sa.String(255), sa.ForeignKey(fk), primary_key=True),
        sa.Column("study_id", sa.Text, nullable=False, index=True),
        sa.Column("linked_by", sa.Text),
        sa.Column("linked_at", sa.String(40), nullable=False),
    )
    return t


#: account roles of the web app (``evsynth serve``), per review
ROLES = ("owner", "reviewer", "viewer")


def _schema_v2(md: sa.MetaData) -> dict[str, sa.Table]:
    """Tables added by schema version 2 (frozen) for the web app (:mod:`evsynth.web`):
    accounts, their role in this review, login sessions, login attempts (rate limiting) and
    full-text PDFs attached to records. ``md`` must already hold the version-1 tables."""
    t: dict[str, sa.Table] = {}
    t["users"] = sa.Table(
        "users", md,
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.CheckConstraint(_in("role", ROLES), name="ck_users_role"),
    )
    t["web_sessions"] = sa.Table(
        "web_sessions", md,
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(64), sa.ForeignKey("users.username", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("expires_at", sa.String(40), nullable=False),
    )
    t["login_attempts"] = sa.Table(
        "login_attempts", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(255), nullable=False, index=True),
        sa.Column("client", sa.String(64), nullable=False, index=True),
        sa.Column("succeeded", sa.Boolean, nullable=False),
        sa.Column("attempted_at", sa.String(40), nullable=False),
    )
    t["fulltexts"] = sa.Table(
        "fulltexts", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("record_id", sa.String(255), sa.ForeignKey("records.record_id"),
                  nullable=False, index=True),
        sa.Column("file", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("uploaded_by", sa.Text),
        sa.Column("uploaded_at", sa.String(40), nullable=False),
    )
    return t


def _schema_v3(md: sa.MetaData, t: Mapping[str, sa.Table]
               ) -> tuple[dict[str, sa.Table], list[sa.Index]]:
    """Objects added by schema version 3 (frozen) for fast screening pages: the table
    ``change_counters`` (``name``, ``counter``; the row "groups" counts the writes that change
    the records or their duplicate groups, so a reader can cache what depends on them) and an
    index of the decisions by stage and id (a reader fetches only the decisions added since
    it last looked). ``t`` holds the version-1 and -2 tables of ``md``."""
    new: dict[str, sa.Table] = {}
    new["change_counters"] = sa.Table(
        "change_counters", md,
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("counter", sa.Integer, nullable=False),
    )
    d = t["screening_decisions"]
    indexes = [sa.Index("ix_screening_decisions_stage_id", d.c.stage, d.c.decision_id)]
    return new, indexes


def _version_table(md: sa.MetaData) -> sa.Table:
    return sa.Table(
        "schema_version", md,
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("applied_at", sa.String(40), nullable=False),
    )


#: the current schema (module-level Table objects used by the queries below)
metadata = sa.MetaData()
T = _schema_v1(metadata)
T.update(_schema_v2(metadata))
T.update(_schema_v3(metadata, T)[0])
VERSION_TABLE = _version_table(metadata)
#: the change counter of the records and their duplicate groups (see :meth:`Store.groups_version`)
GROUPS_COUNTER = "groups"


def _migration_1(conn: Connection) -> None:
    """Create the version-1 tables."""
    md = sa.MetaData()
    _schema_v1(md)
    md.create_all(conn)


def _migration_2(conn: Connection) -> None:
    """Create the version-2 tables (web app: users, sessions, login attempts, full texts)."""
    md = sa.MetaData()
    _schema_v1(md)
    for table in _schema_v2(md).values():
        table.create(conn)


def _migration_3(conn: Connection) -> None:
    """Create the version-3 objects (change counter, index of decisions by stage and id)."""
    md = sa.MetaData()
    t = _schema_v1(md)
    t.update(_schema_v2(md))
    tables, indexes = _schema_v3(md, t)
    for table in tables.values():
        table.create(conn)
    for index in indexes:
        index.create(conn)
    conn.execute(tables["change_counters"].insert().values(name=GROUPS_COUNTER, counter=0))


#: ordered migrations: (version, description, function(connection))
Migration = tuple[int, str, Callable[[Connection], None]]
MIGRATIONS: list[Migration] = [
    (1, "initial schema: imports, records, duplicates, screening, retrieval, study links",
     _migration_1),
    (2, "web app: users and roles, sessions, login attempts, full-text files", _migration_2),
    (3, "change counter of records and duplicate groups; decisions indexed by stage and id",
     _migration_3),
]
#: schema version written by this code
SCHEMA_VERSION = MIGRATIONS[-1][0]


def schema_version(engine: Engine) -> int:
    """Recorded schema version of the database (0 for an empty database)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("schema_version"):
            return 0
        v = conn.execute(sa.select(sa.func.max(VERSION_TABLE.c.version))).scalar()
    return int(v or 0)


#: record ids per ``IN (...)`` query of :meth:`Store.records` and :meth:`Store.titles`
ID_CHUNK = 500


def _id_list(record_ids: Sequence[str], what: str) -> list[str]:
    """``record_ids`` once each, in order; an InputError for a single string (a sequence of
    record ids is expected, not one id)."""
    if isinstance(record_ids, (str, bytes)):
        raise InputError(f"Store.{what}: record_ids is the string {record_ids!r}; expected a "
                         "list of record ids")
    return list(dict.fromkeys(str(r) for r in record_ids))


def migrate(engine: Engine, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply the pending ``migrations`` in order; returns the resulting version.

    Each migration runs in its own transaction together with the insertion of its
    ``schema_version`` row, so a crash leaves the database at a well-defined version.
    """
    versions = [m[0] for m in migrations]
    if versions != sorted(versions) or len(set(versions)) != len(versions):
        raise ValueError("migrations must have increasing, unique versions")
    with engine.begin() as conn:
        VERSION_TABLE.create(conn, checkfirst=True)
    current = schema_version(engine)
    latest = versions[-1] if versions else 0
    if current > latest:
        raise InputError(f"{engine.url.render_as_string(hide_password=True)}: store schema "
                         f"version {current} is newer than this evsynth knows ({latest}); "
                         "expected an older store or a newer evsynth")
    for version, description, fn in migrations:
        if version <= current:
            continue
        with engine.begin() as conn:
            fn(conn)
            conn.execute(VERSION_TABLE.insert().values(
                version=version, description=description, applied_at=now()))
        current = version
    return current


# ----------------------------------------------------------------------------------------------
# Engine
# ----------------------------------------------------------------------------------------------
def store_url(target: str | os.PathLike[str]) -> str:
    """SQLAlchemy URL for ``target``: a URL as is, a review folder -> its SQLite file,
    a path ending in ``.sqlite``/``.db`` -> that SQLite file."""
    s = os.fspath(target)
    if "://" in s:
        return s
    p = Path(s)
    if p.suffix.lower() in (".sqlite", ".sqlite3", ".db"):
        return f"sqlite:///{p}"
    return f"sqlite:///{p / STORE_FILE}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # let SQLAlchemy, not the sqlite3 module, open transactions (so DDL is transactional too;
    # SQLAlchemy documentation, "Serializable isolation / Savepoints / Transactional DDL")
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(target: str | os.PathLike[str]) -> Engine:
    """Engine for a review folder, SQLite file or SQLAlchemy URL (SQLite: WAL, FULL sync)."""
    url = store_url(target)
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            parent = Path(path).parent
            if not parent.is_dir():
                raise InputError(f"{parent}: review folder does not exist; expected a directory")
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        # IMMEDIATE takes the write lock at the start, so two processes writing at once
        # (two reviewers screening) wait for each other (busy_timeout) instead of failing
        # with SQLITE_BUSY when a read transaction would have to be upgraded to a write
        sa.event.listen(engine, "begin",
                        lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    parsed = sa.engine.make_url(url)
    if parsed.drivername == "postgresql" and _has_module("psycopg"):
        # a plain postgresql:// URL means psycopg2 under SQLAlchemy 2.0 and psycopg (3) under
        # 2.1; use psycopg when it is installed, whichever SQLAlchemy version is
        parsed = parsed.set(drivername="postgresql+psycopg")
    return sa.create_engine(parsed)


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


# ----------------------------------------------------------------------------------------------
# Values
# ----------------------------------------------------------------------------------------------
def _to_db(col: str, value: Any) -> Any:
    if col in LIST_COLUMNS:
        return json.dumps(list(value) if value is not None else [], ensure_ascii=False)
    if col in DICT_COLUMNS:
        return json.dumps(dict(value) if value is not None else {}, ensure_ascii=False)
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and value != value:
        return None
    if col in ("year", "source_line"):
        return int(value)
    return str(value)


def _from_db(col: str, value: Any) -> Any:
    if col in LIST_COLUMNS:
        return json.loads(value) if value else []
    if col in DICT_COLUMNS:
        return json.loads(value) if value else {}
    return value


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


#: columns of an imported record row besides ``record_id`` and ``import_id``, in this order
ROW_COLUMNS: tuple[str, ...] = tuple(c for c in RECORD_COLUMNS if c != "record_id")
#: records converted and inserted at a time by an import
INSERT_CHUNK = 5000


def _check_columns(df: pd.DataFrame, file: str) -> None:
    missing = [c for c in RECORD_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"{file}: record table lacks column(s) {missing}; expected the "
                         "columns of evsynth.records.RECORD_COLUMNS")


def _first_format(df: pd.DataFrame) -> str | None:
    if len(df) and df["source_format"].notna().any():
        return str(df["source_format"].dropna().iloc[0])
    return None


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)


def _db_column(col: str, values: list[Any]) -> list[Any]:
    """:func:`_to_db` of every value of one column (without its per-value dispatch)."""
    if col in LIST_COLUMNS:
        return [json.dumps(list(v) if v is not None else [], ensure_ascii=False)
                for v in values]
    if col in DICT_COLUMNS:
        return [json.dumps(dict(v) if v is not None else {}, ensure_ascii=False)
                for v in values]
    if col in ("year", "source_line"):
        return [None if _missing(v) else int(v) for v in values]
    return [v if type(v) is str else None if _missing(v) else str(v) for v in values]


def _frame_rows(df: pd.DataFrame, size: int = INSERT_CHUNK) -> Iterator[list[tuple[Any, ...]]]:
    """The database values of ``df``'s records (:data:`ROW_COLUMNS` order), ``size`` rows at a
    time."""
    for start in range(0, len(df), size):
        part = df.iloc[start:start + size]
        cols = [_db_column(c, part[c].tolist()) for c in ROW_COLUMNS]
        yield list(zip(*cols, strict=True))


class RecordSpool:
    """One file's records converted to database rows and kept in an anonymous temporary file
    (pickled chunks of :data:`INSERT_CHUNK` rows), so that ``evsynth records import`` can read
    every file before one transaction stores them all without keeping every record in memory.
    Use as ``ImportBatch(RecordSpool(df, file), ...)`` and :meth:`close` afterwards."""

    def __init__(self, records: pd.DataFrame, file: str) -> None:
        _check_columns(records, file)
        self.file = file
        self.record_ids = [str(r) for r in records["record_id"]]
        self.source_format = _first_format(records)
        self._fh = tempfile.TemporaryFile()
        self._n_chunks = 0
        for rows in _frame_rows(records):
            pickle.dump(rows, self._fh, protocol=pickle.HIGHEST_PROTOCOL)
            self._n_chunks += 1

    def __len__(self) -> int:
        return len(self.record_ids)

    def rows(self) -> Iterator[list[tuple[Any, ...]]]:
        """The chunks of rows (:data:`ROW_COLUMNS` order), in record order."""
        self._fh.seek(0)
        for _ in range(self._n_chunks):
            yield pickle.load(self._fh)  # noqa: S301 (our own temporary file)

    def close(self) -> None:
        self._fh.close()


@dataclass(frozen=True)
class ImportBatch:
    """One file's records ready to be stored (see :meth:`Store.add_imports`): a record table
    or a :class:`RecordSpool` of one."""

    records: pd.DataFrame | RecordSpool
    file: str
    database: str
    kind: str = "database"
    source_format: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class ImportResult:
    """Outcome of importing one file: ``new`` is False when the same bytes were stored before."""

    file: str
    database: str
    import_id: int
    n_records: int
    new: bool


def _insert_records(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """INSERT record rows ``(record_id, import_id, *ROW_COLUMNS)`` with one executemany of
    the driver when its parameters are positional (SQLite), else through SQLAlchemy."""
    if not rows:
        return
    cols = ["record_id", "import_id", *ROW_COLUMNS]
    ins = T["records"].insert()
    compiled = ins.compile(dialect=conn.dialect, column_keys=cols)
    if compiled.positional and compiled.positiontup is not None \
            and sorted(compiled.positiontup) == sorted(cols):
        order = [cols.index(k) for k in compiled.positiontup]
        if order != list(range(len(cols))):
            rows = [tuple(r[j] for j in order) for r in rows]
        conn.exec_driver_sql(compiled.string, rows)
    else:
        conn.execute(ins, [dict(zip(cols, r, strict=True)) for r in rows])


def _bump_groups(conn: Connection) -> None:
    """Count a change of the records or duplicate groups (in the writer's transaction)."""
    cc = T["change_counters"]
    conn.execute(cc.update().where(cc.c.name == GROUPS_COUNTER)
                 .values(counter=cc.c.counter + 1))


# ----------------------------------------------------------------------------------------------
# The store
# ----------------------------------------------------------------------------------------------
class Store:
    """A review's store (records, duplicates, screening decisions, retrieval, study links).

    ``target`` is a review folder (store in ``REVIEW_DIR/evsynth.sqlite``), a ``.sqlite`` file
    or a SQLAlchemy URL. Opening applies pending schema migrations.
    """

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self.target = os.fspath(target)
        self.engine = make_engine(target)
        self.version = migrate(self.engine)
        # duplicate_groups() and decision_history() read again only when the store changed
        # (every screening command used to read them several times: 0.9 s and 1.2 s each at
        # 200,000 records and 130,000 decisions)
        self._cache_lock = threading.Lock()
        self._groups_cache: tuple[int, dict[str, str]] | None = None
        self._history_cache: dict[str | None, tuple[tuple[int, int], pd.DataFrame]] = {}

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        with self.engine.begin() as conn:
            yield conn

    def _read_sql(self, query: Any) -> pd.DataFrame:
        with self.engine.connect() as conn:
            res = conn.execute(query)
            df = pd.DataFrame(res.fetchall(), columns=list(res.keys()))
        for c in df.columns:  # SQL NULL stays None (not NaN) in text columns
            if df[c].dtype == object or pd.api.types.is_string_dtype(df[c].dtype):
                df[c] = pd.Series([None if isinstance(v, float) and v != v else v
                                   for v in df[c]], dtype=object, index=df.index)
        return df

    # ------------------------------------------------------------------ imports and records
    def add_imports(self, batches: Iterable[ImportBatch]) -> list[ImportResult]:
        """Store several files' records in ONE transaction (all or nothing).

        A batch whose ``sha256`` is already stored is skipped (idempotent re-import) and
        reported with ``new=False``.
        """
        results: list[ImportResult] = []
        ts = now()
        with self.transaction() as conn:
            seen: dict[str, ImportResult] = {}
            for b in batches:
                if b.kind not in SEARCH_KINDS:
                    raise InputError(f"{b.file}: kind {b.kind!r} is unknown; expected one of "
                                     f"{list(SEARCH_KINDS)}")
                try:
                    sha = b.sha256 or file_sha256(b.file)
                except OSError as exc:
                    raise InputError(f"{b.file}: cannot read ({exc.strerror}); expected an "
                                     "export file") from None
                if sha in seen:
                    results.append(seen[sha])
                    continue
                row = conn.execute(sa.select(T["imports"]).where(
                    T["imports"].c.sha256 == sha)).mappings().first()
                if row is not None:
                    res = ImportResult(b.file, row["database"], row["import_id"],
                                       row["n_records"], new=False)
                else:
                    res = self._insert_batch(conn, b, sha, ts)
                    _bump_groups(conn)
                seen[sha] = res
                results.append(res)
        return results

    def add_import(self, records: pd.DataFrame, file: str, database: str,
                   kind: str = "database", source_format: str | None = None,
                   sha256: str | None = None) -> ImportResult:
        """Store one file's records (see :meth:`add_imports`)."""
        return self.add_imports([ImportBatch(records, file, database, kind, source_format,
                                             sha256)])[0]

    def _insert_batch(self, conn: Connection, b: ImportBatch, sha: str, ts: str) -> ImportResult:
        src = b.records
        if isinstance(src, RecordSpool):
            ids = list(src.record_ids)
            fmt = b.source_format if b.source_format is not None else src.source_format
            chunks = src.rows()
        else:
            _check_columns(src, b.file)
            ids = [str(r) for r in src["record_id"]]
            fmt = b.source_format if b.source_format is not None else _first_format(src)
            chunks = _frame_rows(src)
        inserted = conn.execute(T["imports"].insert().values(
            file=str(b.file), file_name=Path(str(b.file)).name, database=b.database,
            kind=b.kind, source_format=fmt, sha256=sha, n_records=len(ids),
            imported_at=ts)).inserted_primary_key
        assert inserted is not None  # a single-row INSERT returns its key
        import_id = inserted[0]
        if len(set(ids)) != len(ids):
            counts = Counter(ids)
            dup = next(i for i in ids if counts[i] > 1)
            raise InputError(f"{b.file}: record_id {dup!r} occurs twice; expected unique ids")
        rc = T["records"].c.record_id
        for i in range(0, len(ids), INSERT_CHUNK):
            if conn.execute(sa.select(rc).where(rc.in_(ids[i:i + INSERT_CHUNK]))).first():
                ids = [f"{import_id}/{x}" for x in ids]
                break
        i_db = ROW_COLUMNS.index("source_database")
        i_file = ROW_COLUMNS.index("source_file")
        n = 0
        for rows in chunks:
            out = []
            for row in rows:
                if row[i_db] is None or row[i_file] is None:
                    fixed = list(row)
                    if fixed[i_db] is None:
                        fixed[i_db] = b.database
                    if fixed[i_file] is None:
                        fixed[i_file] = str(b.file)
                    row = tuple(fixed)
                out.append((ids[n], import_id, *row))
                n += 1
            _insert_records(conn, out)
        return ImportResult(str(b.file), b.database, int(import_id), n, new=True)

    def imports(self) -> pd.DataFrame:
        """The import batches, in import order."""
        return self._read_sql(sa.select(T["imports"]).order_by(T["imports"].c.import_id))

    def records(self, record_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """All stored records (columns RECORD_COLUMNS + ``import_id``), in import order; with
        ``record_ids``, only those of them that are stored (read :data:`ID_CHUNK` ids at a
        time)."""
        r = T["records"]
        cols = [r.c[c] for c in RECORD_COLUMNS] + [r.c.import_id]
        if record_ids is None:
            df = self._read_sql(sa.select(*cols).order_by(r.c.id))
        else:
            ids = _id_list(record_ids, "records")
            parts = [self._read_sql(sa.select(r.c.id.label("_order"), *cols)
                                    .where(r.c.record_id.in_(ids[i:i + ID_CHUNK])))
                     for i in range(0, len(ids), ID_CHUNK)]
            parts = [p for p in parts if not p.empty]
            df = (pd.concat(parts, ignore_index=True).sort_values("_order")
                  .drop(columns="_order").reset_index(drop=True) if parts else pd.DataFrame())
        if df.empty:
            df = pd.DataFrame({c: pd.Series([], dtype=object)
                               for c in [*RECORD_COLUMNS, "import_id"]})
        for c in LIST_COLUMNS + DICT_COLUMNS:
            df[c] = [_from_db(c, v) for v in df[c]]
        for c in TEXT_COLUMNS:
            df[c] = pd.Series([None if v is None or (isinstance(v, float) and v != v) else v
                               for v in df[c]], dtype=object)
        df["year"] = pd.array([None if pd.isna(v) else int(v) for v in df["year"]],
                              dtype="Int64")
        df["source_line"] = pd.Series([None if pd.isna(v) else int(v)
                                       for v in df["source_line"]], dtype=object)
        return df.reset_index(drop=True)

    def record_ids(self) -> list[str]:
        """All record ids, in import order."""
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(T["records"].c.record_id)
                                     .order_by(T["records"].c.id)).scalars())

    def titles(self, record_ids: Sequence[str]) -> dict[str, str | None]:
        """The titles of the records ``record_ids`` (those stored), read :data:`ID_CHUNK` ids at
        a time (without loading every record)."""
        r = T["records"]
        ids = _id_list(record_ids, "titles")
        out: dict[str, str | None] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), ID_CHUNK):
                for rid, title in conn.execute(sa.select(r.c.record_id, r.c.title).where(
                        r.c.record_id.in_(ids[i:i + ID_CHUNK]))).all():
                    out[rid] = title
        return out

    def n_records(self) -> int:
        """Number of stored records."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(T["records"]))
                       .scalar() or 0)

    def check_record_ids(self, ids: Iterable[str], where: str = "") -> None:
        """Raise InputError naming the first id that is not a stored record."""
        known = set(self.record_ids())
        for rid in ids:
            if rid not in known:
                raise InputError(f"{where}record_id {rid!r} is not in the store; expected an "
                                 "imported record id")

    # ------------------------------------------------------------------ duplicates
    def set_duplicate_groups(self, groups: Mapping[str, Any], *, method: str = "auto",
                             decided_by: str | None = None,
                             uncertain: pd.DataFrame | None = None) -> None:
        """Record duplicate groups from ``{record_id: group label}`` (labels of any type).

        With ``method="auto"`` (a deduplication run) every automatic row is replaced; records
        with a manual row keep it and are left out of the automatic groups. The stored
        ``group_id`` is an opaque label ("auto:<first member>" or "manual:<uuid>"); see
        :meth:`duplicate_groups` for the representative. ``uncertain`` (record_id_a,
        record_id_b, score, reason) replaces the stored uncertain pairs.
        """
        if method not in DEDUP_METHODS:
            raise InputError(f"duplicate method {method!r}; expected one of {DEDUP_METHODS}")
        order = {rid: i for i, rid in enumerate(self.record_ids())}
        self.check_record_ids(groups.keys(), "duplicate groups: ")
        urows: list[dict[str, Any]] | None = None
        ts = now()
        if uncertain is not None:
            urows = [dict(record_id_a=str(r["record_id_a"]), record_id_b=str(r["record_id_b"]),
                          score=None if pd.isna(r.get("score")) else float(r["score"]),
                          reason=None if pd.isna(r.get("reason")) else str(r["reason"]),
                          found_at=ts) for r in uncertain.to_dict("records")]
            self.check_record_ids([u["record_id_a"] for u in urows]
                                  + [u["record_id_b"] for u in urows], "uncertain pairs: ")
        with self.transaction() as conn:
            manual = set(conn.execute(sa.select(T["duplicates"].c.record_id).where(
                T["duplicates"].c.method == "manual")).scalars())
            if method == "auto":
                conn.execute(T["duplicates"].delete().where(T["duplicates"].c.method == "auto"))
                members = {rid: lab for rid, lab in groups.items() if rid not in manual}
            else:
                members = dict(groups)
                conn.execute(T["duplicates"].delete().where(
                    T["duplicates"].c.record_id.in_(list(members))))
            by_label: dict[Any, list[str]] = {}
            for rid, lab in members.items():
                by_label.setdefault(lab, []).append(rid)
            rows = []
            for ids in by_label.values():
                if method == "auto":
                    gid = "auto:" + min(ids, key=order.__getitem__)
                else:
                    gid = "manual:" + uuid.uuid4().hex
                rows += [dict(record_id=r, group_id=gid, method=method, decided_by=decided_by,
                              decided_at=ts) for r in ids]
            if rows:
                conn.execute(T["duplicates"].insert(), rows)
            _bump_groups(conn)
            if urows is not None:
                conn.execute(T["duplicate_uncertain"].delete())
                if urows:
                    conn.execute(T["duplicate_uncertain"].insert(), urows)

    def merge_records(self, record_ids: Sequence[str], decided_by: str | None = None) -> str:
        """Manually declare ``record_ids`` (and their current groups) one reference.

        Returns the group id. Recorded with method "manual", so later automatic runs keep it.
        """
        if len(record_ids) < 2:
            raise InputError("merge: expected at least two record ids")
        self.check_record_ids(record_ids, "merge: ")
        groups = self.duplicate_groups()
        target = {groups[r] for r in record_ids}
        members = [r for r, g in groups.items() if g in target]
        self.set_duplicate_groups({r: 0 for r in members}, method="manual",
                                  decided_by=decided_by)
        return self.duplicate_groups()[record_ids[0]]

    def split_record(self, record_id: str, decided_by: str | None = None) -> None:
        """Manually declare ``record_id`` not a duplicate of anything (its own group)."""
        self.check_record_ids([record_id], "split: ")
        self.set_duplicate_groups({record_id: 0}, method="manual",
                                  decided_by=decided_by)

    def duplicate_groups(self) -> dict[str, str]:
        """``{record_id: representative record_id}`` for every record, in import order.

        The representative of a duplicate group is its first-imported member; a record in no
        group represents itself. Read again only when :meth:`groups_version` changed since the
        last call (a new dict each time)."""
        version = self.groups_version()  # before the groups: a write in between only makes
        with self._cache_lock:           # the next call read them again
            hit = self._groups_cache
        if hit is not None and hit[0] == version:
            return dict(hit[1])
        groups = self._read_duplicate_groups()
        with self._cache_lock:
            self._groups_cache = (version, groups)
        return dict(groups)

    def group_members(self) -> dict[str, list[str]]:
        """``{representative record_id: [its records]}`` for every duplicate group (a report in
        PRISMA's terms), records and groups in import order; from :meth:`duplicate_groups`."""
        members: dict[str, list[str]] = {}
        for rid, g in self.duplicate_groups().items():
            members.setdefault(g, []).append(rid)
        return members

    def _read_duplicate_groups(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            ids = list(conn.execute(sa.select(T["records"].c.record_id)
                                    .order_by(T["records"].c.id)).scalars())
            rows = dict(conn.execute(sa.select(T["duplicates"].c.record_id,
                                               T["duplicates"].c.group_id)).all())
        raw = {rid: rows.get(rid, "self:" + rid) for rid in ids}
        rep: dict[str, str] = {}
        for rid in ids:  # first member in import order represents its group
            rep.setdefault(raw[rid], rid)
        return {rid: rep[raw[rid]] for rid in ids}

    def groups_version(self) -> int:
        """A number that changes with every write changing the records or their duplicate
        groups (imports, deduplication, merges and splits): what depends only on them (e.g.
        :meth:`duplicate_groups`) may be cached as long as it stays the same."""
        cc = T["change_counters"]
        with self.engine.connect() as conn:
            v = conn.execute(sa.select(cc.c.counter).where(cc.c.name == GROUPS_COUNTER)).scalar()
        return int(v or 0)

    def uncertain_pairs(self) -> pd.DataFrame:
        """Stored uncertain duplicate pairs (record_id_a, record_id_b, score, reason)."""
        u = T["duplicate_uncertain"]
        return self._read_sql(sa.select(u.c.record_id_a, u.c.record_id_b, u.c.score,
                                        u.c.reason).order_by(u.c.id))

    def undeduplicated(self) -> list[str]:
        """Records no deduplication has looked at (no automatic or manual duplicate decision):
        everything before the first ``dedup``, and afterwards the records imported since the
        last run. In import order."""
        r, d = T["records"], T["duplicates"]
        q = (sa.select(r.c.record_id)
             .where(~sa.exists().where(d.c.record_id == r.c.record_id))
             .order_by(r.c.id))
        with self.engine.connect() as conn:
            return list(conn.execute(q).scalars())

    def deduplicated(self) -> bool:
        """True when the store holds records and deduplication has looked at every one of them
        (a record imported after the last ``dedup`` run makes it False again: the status
        belongs to the records it was run on)."""
        return self.n_records() > 0 and not self.undeduplicated()

    def unique_records(self) -> pd.DataFrame:
        """One record per duplicate group (its representative), in import order, with a
        ``group_size`` column."""
        groups = self.duplicate_groups()
        df = self.records()
        # two reads: a record imported in between is in ``df`` but not in ``groups``; it has
        # no duplicate decision yet, so it is a group of its own (as _read_duplicate_groups)
        sizes = pd.Series(list(groups.values())).value_counts()
        keep = df["record_id"].map(lambda r: groups.get(r, r) == r)
        out = df[keep].reset_index(drop=True)
        out["group_size"] = [int(sizes.get(r, 1)) for r in out["record_id"]]
        return out

    # ------------------------------------------------------------------ screening decisions
    def add_decisions(self, rows: Iterable[Mapping[str, Any]], *,
                      conn: Connection | None = None) -> int:
        """Append screening decisions in one transaction; returns the number written.

        Each row: record_id, stage, decision, reviewer; optional reason, kind ("screen"),
        note, source, decided_at (now). Values are checked first; nothing is written if one
        row is bad. A row identical to a stored one (same decided_at too) is skipped.
        """
        prepared = []
        for i, r in enumerate(rows, start=1):
            prepared.append(_check_decision(r, f"decision {i}: "))
        if not prepared:
            return 0
        if conn is None:
            with self.transaction() as c:
                return self._insert_decisions(c, prepared)
        return self._insert_decisions(conn, prepared)

    def _insert_decisions(self, conn: Connection, rows: list[dict[str, Any]]) -> int:
        d = T["screening_decisions"]
        ids = {r["record_id"] for r in rows}
        known = set(conn.execute(sa.select(T["records"].c.record_id).where(
            T["records"].c.record_id.in_(list(ids)))).scalars())
        for r in rows:
            if r["record_id"] not in known:
                raise InputError(f"record_id {r['record_id']!r} is not in the store; expected "
                                 "an imported record id")
        key_cols = ("record_id", "stage", "decision", "reason", "reviewer", "kind",
                    "decided_at")
        existing = set(conn.execute(sa.select(*[d.c[k] for k in key_cols]).where(
            d.c.record_id.in_(list(ids)))).all())
        new = [r for r in rows if tuple(r[k] for k in key_cols) not in existing]
        if new:
            conn.execute(d.insert(), new)
        return len(new)

    def add_decision(self, record_id: str, stage: str, decision: str, reviewer: str,
                     reason: str | None = None, *, kind: str = "screen",
                     note: str | None = None, source: str = "api") -> None:
        """Append one screening decision (committed before returning)."""
        self.add_decisions([dict(record_id=record_id, stage=stage, decision=decision,
                                 reviewer=reviewer, reason=reason, kind=kind, note=note,
                                 source=source)])

    def decisions_version(self, stage: str | None = None) -> tuple[int, int]:
        """(number, largest id) of the screening decisions (of one stage): decisions are only
        ever appended, so what depends only on them may be kept while this stays the same."""
        d = T["screening_decisions"]
        counted = sa.select(sa.func.count(), sa.func.max(d.c.decision_id)).select_from(d)
        if stage is not None:
            counted = counted.where(d.c.stage == stage)
        with self.engine.connect() as conn:
            n, top = conn.execute(counted).one()
        return int(n or 0), int(top or 0)

    def decision_history(self, stage: str | None = None) -> pd.DataFrame:
        """Every screening decision row, oldest first (optionally one stage). Decisions are
        only ever appended: the rows are read again only when their number or largest id
        changed since the last call (a new DataFrame each time)."""
        d = T["screening_decisions"]
        key = self.decisions_version(stage)
        with self._cache_lock:
            hit = self._history_cache.get(stage)
        if hit is not None and hit[0] == key:
            return hit[1].copy()
        q = sa.select(d).order_by(d.c.decision_id)
        if stage is not None:
            q = q.where(d.c.stage == stage)
        df = self._read_sql(q)
        if df.empty:
            df = pd.DataFrame({c.name: pd.Series([], dtype=object) for c in d.columns})
        # the rows read may include decisions committed after the count: keyed by what was
        # read, so that those are not taken for the counted state
        key = (len(df), int(df["decision_id"].max()) if len(df) else 0)
        with self._cache_lock:
            self._history_cache[stage] = (key, df)
        return df.copy()

    # ------------------------------------------------------------------ retrieval, studies
    def set_retrieval(self, record_id: str, status: str, recorded_by: str | None = None,
                      note: str | None = None) -> None:
        """Record the full-text retrieval status of a report ("retrieved"/"not retrieved")."""
        if status not in RETRIEVAL_STATUSES:
            raise InputError(f"retrieval status {status!r}; expected one of "
                             f"{list(RETRIEVAL_STATUSES)}")
        self.check_record_ids([record_id], "retrieval: ")
        with self.transaction() as conn:
            conn.execute(T["retrieval"].insert().values(
                record_id=record_id, status=status, note=note, recorded_by=recorded_by,
                recorded_at=now()))

    def retrieval(self) -> dict[str, str]:
        """``{record_id: latest retrieval status}``."""
        r = T["retrieval"]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(r.c.record_id, r.c.status).order_by(r.c.id)).all()
        return {rid: st for rid, st in rows}

    def link_study(self, record_id: str, study_id: str, linked_by: str | None = None) -> None:
        """Link a report (record) to a study id (replaces an earlier link of that record)."""
        if not isinstance(study_id, str) or not study_id.strip():
            raise InputError(f"study link for {record_id!r}: study_id {study_id!r}; expected "
                             "a non-empty string")
        self.check_record_ids([record_id], "study link: ")
        s = T["study_links"]
        with self.transaction() as conn:
            conn.execute(s.delete().where(s.c.record_id == record_id))
            conn.execute(s.insert().values(record_id=record_id, study_id=study_id.strip(),
                                           linked_by=linked_by, linked_at=now()))

    def study_links(self) -> dict[str, str]:
        """``{record_id: study_id}``."""
        s = T["study_links"]
        with self.engine.connect() as conn:
            return dict(conn.execute(sa.select(s.c.record_id, s.c.study_id)).all())


def _check_decision(r: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Validate one decision row and fill defaults."""
    out: dict[str, Any] = {}
    for key in ("record_id", "stage", "decision", "reviewer"):
        v = r.get(key)
        if v is None or (isinstance(v, float) and v != v) or not str(v).strip():
            raise InputError(f"{where}field '{key}' is missing; expected a value")
        out[key] = str(v).strip()
    if out["stage"] not in STAGES:
        raise InputError(f"{where}field 'stage' is {out['stage']!r}; expected one of "
                         f"{list(STAGES)}")
    if out["decision"] not in DECISIONS:
        raise InputError(f"{where}field 'decision' is {out['decision']!r}; expected one of "
                         f"{list(DECISIONS)}")
    kind = r.get("kind") or "screen"
    if kind not in DECISION_KINDS:
        raise InputError(f"{where}field 'kind' is {kind!r}; expected one of "
                         f"{list(DECISION_KINDS)}")
    out["kind"] = kind
    reason = r.get("reason")
    out["reason"] = None if reason is None or (isinstance(reason, float) and reason != reason) \
        or not str(reason).strip() else str(reason).strip()
    note = r.get("note")
    out["note"] = None if note is None or (isinstance(note, float) and note != note) \
        or not str(note).strip() else str(note)
    if has_control(out["reviewer"]):
        raise InputError(f"{where}field 'reviewer' is {out['reviewer']!r}; expected a name "
                         "without control characters")
    out["source"] = r.get("source") or "api"
    at = r.get("decided_at")
    if at is not None and str(at).strip():
        try:  # the form now() writes and exports carry; also dates and other offsets
            _dt.datetime.fromisoformat(str(at).strip())
        except ValueError:
            raise InputError(f"{where}field 'decided_at' is {str(at)!r}; expected an ISO 8601 "
                             "date and time such as 2026-12-04T10:30:00+00:00") from None
        out["decided_at"] = str(at).strip()
    else:
        out["decided_at"] = now()
    return out
