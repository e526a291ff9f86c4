"""The web app on a PostgreSQL store (``evsynth serve --db postgresql://...``).

Runs when ``EVSYNTH_TEST_POSTGRES_URL`` names an empty scratch database (its tables are
dropped first), e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/evsynth_test``; skipped
otherwise. Starting a server in CI is the task of issue 16, point 8.
"""

from __future__ import annotations

import os
import threading

import pytest
from starlette.testclient import TestClient
from test_web_live import _login, live_server
from web_helpers import PASSWORD, TOML, login, ris

URL = os.environ.get("EVSYNTH_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not URL, reason="EVSYNTH_TEST_POSTGRES_URL not set")


@pytest.fixture
def pg_review(tmp_path):
    import sqlalchemy as sa

    from evsynth.records import read
    from evsynth.records.store import Store, metadata
    from evsynth.web import accounts

    assert URL is not None
    engine = sa.create_engine(URL)
    with engine.begin() as conn:
        metadata.drop_all(conn)
    engine.dispose()
    review = tmp_path / "r"
    review.mkdir()
    (review / "review.toml").write_text(TOML, encoding="utf-8")
    f = tmp_path / "pubmed.ris"
    f.write_text(ris([f"Trial {i} of vertebroplasty" for i in range(12)]), encoding="utf-8")
    with Store(URL) as s:
        s.add_import(read(f, database="MEDLINE"), str(f), "MEDLINE")
        for name, role in (("olga", "owner"), ("ann", "reviewer"), ("bob", "reviewer")):
            accounts.add_user(s, name, PASSWORD, role)
    return review


def test_main_flow_on_postgres(pg_review):
    import re

    from evsynth.web.app import create_app

    app = create_app(pg_review, URL)
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
    from evsynth.records.store import Store
    from evsynth.web.app import create_app

    app = create_app(pg_review, URL)
    ids = app.state.config.store.record_ids()
    acked = []
    lock = threading.Lock()
    try:
        with live_server(app) as base:
            clients = {n: _login(base, n) for n in ("ann", "bob")}

            def work(name, part):
                c, csrf = clients[name]
                for rid in part:
                    r = c.post("/screen/title-abstract/decide",
                               data={"csrf_token": csrf, "record_id": rid,
                                     "decision": "include"})
                    if r.status_code == 303:
                        with lock:
                            acked.append((name, rid))

            ts = [threading.Thread(target=work, args=(n, ids[k::2]))
                  for n in ("ann", "bob") for k in range(2)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(120)
            for c, _ in clients.values():
                c.close()
    finally:
        app.state.config.store.close()
    assert len(acked) == 2 * len(ids)
    with Store(URL) as s:
        h = s.decision_history()
    assert set(acked) == set(zip(h["reviewer"], h["record_id"], strict=True))
