"""The web app on a PostgreSQL store (``evsynth serve --db postgresql://...``).

The database comes from the ``postgres_url`` fixture (``tests/postgres_server.py``): a
throwaway server started from the installed PostgreSQL binaries (Debian ``postgresql``, installed
by ``.ci/run``), or the scratch database named by ``EVSYNTH_TEST_POSTGRES_URL`` (e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/evsynth_test``; its tables are dropped first);
skipped when neither is available.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient
from test_web_live import _free_port, _login, live_server
from web_helpers import PASSWORD, TOML, login, ris


@pytest.fixture
def pg_review(tmp_path, postgres_url):
    from evsynth.records import read
    from evsynth.records.store import Store
    from evsynth.web import accounts

    review = tmp_path / "r"
    review.mkdir()
    (review / "review.toml").write_text(TOML, encoding="utf-8")
    f = tmp_path / "pubmed.ris"
    f.write_text(ris([f"Trial {i} of vertebroplasty" for i in range(12)]), encoding="utf-8")
    with Store(postgres_url) as s:
        s.add_import(read(f, database="MEDLINE"), str(f), "MEDLINE")
        for name, role in (("olga", "owner"), ("ann", "reviewer"), ("bob", "reviewer")):
            accounts.add_user(s, name, PASSWORD, role)
    return review, postgres_url


def test_main_flow_on_postgres(pg_review):
    import re

    from evsynth.web.app import create_app

    review, url = pg_review
    app = create_app(review, url)
    store = app.state.config.store
    ids = store.record_ids()
    try:
        with TestClient(app, follow_redirects=False) as ann, \
                TestClient(app, follow_redirects=False) as olga:
            login(ann, "ann")
            login(olga, "olga")
            tok = re.search(r'name="csrf_token" value="([^"]+)"', ann.get("/").text).group(1)
            r = ann.post("/screen/title-abstract/decide",
                         data={"csrf_token": tok, "record_id": ids[0], "decision": "include"})
            assert r.status_code == 303
            t2 = re.search(r'name="csrf_token" value="([^"]+)"', olga.get("/").text).group(1)
            r = olga.post("/records/upload", data={"csrf_token": t2, "database": "Embase"},
                          files=[("files", ("e.ris", ris(["New one"], 90), "text/plain"))])
            assert r.status_code == 200 and "1 records read" in r.text
            assert olga.post("/records/dedup", data={"csrf_token": t2}).status_code == 200
            for url in ("/progress", "/conflicts", "/prisma", "/duplicates"):
                assert olga.get(url).status_code == 200, url
    finally:
        store.close()


def test_concurrent_decisions_on_postgres(pg_review):
    """Issue 16, point 6 on PostgreSQL: two reviewers, three HTTP clients each, deciding at
    once through a live server; every acknowledged decision is stored, once."""
    from evsynth.records.store import Store
    from evsynth.web.app import create_app

    review, url = pg_review
    app = create_app(review, url)
    ids = app.state.config.store.record_ids()
    acked: list[tuple[str, str, str]] = []
    failures: list[str] = []
    lock = threading.Lock()
    try:
        with live_server(app) as base:
            clients = {n: _login(base, n) for n in ("ann", "bob")}

            def work(name, part):
                c, csrf = clients[name]
                for rid in part:
                    decision = "include" if hash((name, rid)) % 2 else "maybe"
                    try:
                        r = c.post("/screen/title-abstract/decide",
                                   data={"csrf_token": csrf, "record_id": rid,
                                         "decision": decision})
                    except httpx.HTTPError as exc:  # not acknowledged: may be lost
                        with lock:
                            failures.append(repr(exc))
                        continue
                    with lock:
                        if r.status_code == 303:
                            acked.append((name, rid, decision))
                        else:
                            failures.append(f"{r.status_code} {r.text[:200]}")

            ts = [threading.Thread(target=work, args=(n, ids[k::3]))
                  for n in ("ann", "bob") for k in range(3)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(120)
            for c, _ in clients.values():
                c.close()
    finally:
        app.state.config.store.close()
    assert not failures, failures[:3]
    assert len(acked) == 2 * len(ids)
    with Store(url) as s:  # a fresh connection: what is committed
        h = s.decision_history("title-abstract")
    assert set(acked) == set(zip(h["reviewer"], h["record_id"], h["decision"], strict=True))
    assert len(h) == 2 * len(ids)


def test_acknowledged_decisions_survive_kill_9_on_postgres(pg_review):
    """``evsynth serve --db postgresql://...`` killed with SIGKILL right after acknowledging
    decisions: every acknowledged decision is in the database."""
    from evsynth.records.store import Store

    review, url = pg_review
    with Store(url) as s:
        ids = s.record_ids()
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, "-m", "evsynth.cli", "serve", str(review),
                             "--port", str(port), "--db", url], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 40
        while True:
            try:
                httpx.get(base + "/login", timeout=1)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "") \
                        from None
                time.sleep(0.1)
        client, csrf = _login(base, "ann")
        for rid in ids[:5]:
            r = client.post("/screen/title-abstract/decide",
                            data={"csrf_token": csrf, "record_id": rid, "decision": "include"})
            assert r.status_code == 303
        client.close()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stderr:
            proc.stderr.close()
    with Store(url) as s:
        h = s.decision_history()
    assert sorted(h["record_id"]) == sorted(ids[:5])
    assert set(h["reviewer"]) == {"ann"} and set(h["source"]) == {"web"}
