"""The web app on a PostgreSQL store (``evsynth serve --db postgresql://...``).

The database comes from the ``postgres_url`` fixture (``tests/postgres_server.py``): a
throwaway server started from the installed PostgreSQL binaries (Debian ``postgresql``, installed
by ``.ci/run``), or the scratch database named by ``EVSYNTH_TEST_POSTGRES_URL`` (e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/evsynth_test``; its tables are dropped first);
skipped when neither is available.
"""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from web_helpers import PASSWORD, TOML, concurrent_decisions, decide_then_kill_9, login, ris


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
    try:
        acked, failures = concurrent_decisions(app, ids)
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
    decide_then_kill_9(review, ids[:5], "--db", url)
    with Store(url) as s:
        h = s.decision_history()
    assert sorted(h["record_id"]) == sorted(ids[:5])
    assert set(h["reviewer"]) == {"ann"} and set(h["source"]) == {"web"}
