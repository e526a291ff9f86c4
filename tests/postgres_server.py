"""A throwaway PostgreSQL server for the store and web tests (issue 16, point 8).

Loaded from ``tests/conftest.py`` (``pytest_plugins``). Fixtures:

``postgres_server`` (session)
    SQLAlchemy URL of a PostgreSQL database for the tests:

    * ``EVSYNTH_TEST_POSTGRES_URL`` when set (an existing scratch database: its tables are dropped
      before each test that uses it);
    * otherwise a cluster made with the installed binaries (Debian ``postgresql``:
      ``/usr/lib/postgresql/<version>/bin/initdb`` and ``pg_ctl``, or ``initdb`` on ``PATH``):
      ``initdb`` in a temporary folder (trust authentication, superuser ``postgres``), started
      with its unix socket in that folder on a free port and no TCP listener, stopped and
      removed at the end of the session. PostgreSQL refuses to run as root, so when the tests run
      as root (CI containers) the cluster is made and run as the ``postgres`` system user that
      the Debian package creates (or ``nobody``), through ``runuser``/``setpriv``;
    * otherwise the PostgreSQL tests are skipped, saying why; with
      ``EVSYNTH_TEST_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) they fail instead, so CI cannot
      pass without having run them.

``postgres_url`` (function)
    The same URL, with every table of the database dropped first (an empty database).

``store_target`` (function, parametrised ``sqlite``/``postgresql``)
    Where a test's store lives: the test's ``tmp_path`` (a review folder, SQLite) or
    ``postgres_url``; a test taking it (or a fixture built on it) runs on both.

:func:`reset_database` empties a database (for tests that need several empty stores, e.g.
hypothesis examples).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ENV_URL = "EVSYNTH_TEST_POSTGRES_URL"
ENV_REQUIRE = "EVSYNTH_TEST_REQUIRE_POSTGRES"
DATABASE = "evsynth_test"
_SKIP_HINT = (f"set {ENV_URL} to a scratch database, or install PostgreSQL "
              "(Debian: apt-get install postgresql) so the tests can start their own server")


def _find_bindir() -> Path | None:
    """Directory with initdb and pg_ctl: the newest /usr/lib/postgresql/*/bin, else PATH."""
    def version(p: str) -> tuple[int, ...]:
        m = re.search(r"postgresql/([\d.]+)/bin", p)
        return tuple(int(x) for x in m.group(1).split(".")) if m else (0,)

    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if os.access(os.path.join(d, "initdb"), os.X_OK) \
                and os.access(os.path.join(d, "pg_ctl"), os.X_OK):
            return Path(d)
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(os.path.realpath(initdb)).parent
    return None


def _unavailable(reason: str) -> None:
    """Skip (or, when PostgreSQL is required, fail) the PostgreSQL tests."""
    if os.environ.get(ENV_REQUIRE, "") not in ("", "0"):
        pytest.fail(f"{ENV_REQUIRE} is set but PostgreSQL is unavailable: {reason}",
                    pytrace=False)
    pytest.skip(reason)


def _need_driver() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("the psycopg driver is not installed (pip install 'psycopg[binary]', "
                     "part of the test extra)")


def _base_dir(uid: int | None) -> str | None:
    """Folder for the cluster: the usual temporary folder, unless the server's user could not
    reach it or the unix-socket path would be too long (107 bytes), then /tmp."""
    base = tempfile.gettempdir()
    if len(base) > 60:
        return "/tmp"
    if uid is not None:
        p = Path(base).resolve()
        for d in (p, *p.parents):
            if not os.stat(d).st_mode & 0o001:
                return "/tmp"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as() -> tuple[list[str], int | None, int | None]:
    """Command prefix, uid and gid for running the server (unprivileged when we are root)."""
    if os.geteuid() != 0:
        return [], None, None
    import pwd

    for name in ("postgres", "nobody"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        if shutil.which("runuser"):
            return ["runuser", "-u", name, "--"], pw.pw_uid, pw.pw_gid
        if shutil.which("setpriv"):
            return (["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
                     "--init-groups", "--"], pw.pw_uid, pw.pw_gid)
    _unavailable("PostgreSQL cannot run as root and neither a 'postgres' nor a 'nobody' user "
                 "with runuser/setpriv is available; " + _SKIP_HINT)
    raise AssertionError("unreachable")


def _check(cmd: list[str], what: str, cwd: Path, log: Path | None = None) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=cwd)
    if res.returncode != 0:
        extra = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
        raise RuntimeError(f"{what} failed ({res.returncode}): {res.stdout}\n{res.stderr}\n"
                           f"{extra}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    url = os.environ.get(ENV_URL)
    if url:
        _need_driver()
        yield url
        return
    bindir = _find_bindir()
    if bindir is None:
        _unavailable("no PostgreSQL server binaries (initdb, pg_ctl) found; " + _SKIP_HINT)
        return
    _need_driver()
    prefix, uid, gid = _run_as()
    root = Path(tempfile.mkdtemp(prefix="evsynth-pg-", dir=_base_dir(uid)))
    data, log = root / "data", root / "server.log"
    port = _free_port()
    started = False
    try:
        if uid is not None and gid is not None:
            os.chown(root, uid, gid)
        _check([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"], "initdb", root)
        opts = (f"-k {root} -p {port} -c listen_addresses='' -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        _check([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w",
                "-t", "60", "-o", opts, "start"], "pg_ctl start", root, log)
        started = True
        import psycopg

        with psycopg.connect(host=str(root), port=port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        yield f"postgresql+psycopg://postgres@/{DATABASE}?host={root}&port={port}"
    finally:
        if started:
            subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m",
                            "immediate", "-w", "stop"], capture_output=True, timeout=60,
                           cwd=root)
        shutil.rmtree(root, ignore_errors=True)


def reset_database(url: str) -> None:
    """Drop every table of the current schema of the database at ``url`` (with their
    sequences, indexes and constraints), in one statement."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            names = conn.execute(sa.text(
                "SELECT quote_ident(tablename) FROM pg_tables "
                "WHERE schemaname = current_schema()")).scalars().all()
            if names:
                conn.execute(sa.text(f"DROP TABLE {', '.join(names)} CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """URL of an empty PostgreSQL database (tables of earlier tests dropped)."""
    reset_database(postgres_server)
    return postgres_server


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """A review folder (SQLite store) or the URL of an empty PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path
    return str(request.getfixturevalue("postgres_url"))
