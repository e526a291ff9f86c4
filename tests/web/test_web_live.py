"""Durability and concurrency against a live server (issue 16, point 6): reviewers screening
at once through HTTP lose no acknowledged decision, and an acknowledged decision survives
``kill -9`` of the server (SQLite store)."""

from __future__ import annotations

import pytest
from web_helpers import concurrent_decisions, decide_then_kill_9, make_review

from evsynth.records.store import Store

uvicorn = pytest.importorskip("uvicorn")


def test_concurrent_reviewers_lose_no_decision(tmp_path):
    from evsynth.web.app import create_app

    n = 24
    review = make_review(tmp_path / "r", n=n)
    with Store(review) as s:
        ids = s.record_ids()
    app = create_app(review)
    try:
        acked, failures = concurrent_decisions(app, ids)
    finally:
        app.state.config.store.close()
    assert not failures, failures[:3]
    assert len(acked) == 2 * n
    with Store(review) as s:  # a fresh connection: what is committed
        h = s.decision_history("title-abstract")
    stored = set(zip(h["reviewer"], h["record_id"], h["decision"], strict=True))
    assert set(acked) <= stored and len(h) == 2 * n


def test_acknowledged_decisions_survive_kill_9(tmp_path):
    review = make_review(tmp_path / "r", n=8)
    with Store(review) as s:
        ids = s.record_ids()
    decide_then_kill_9(review, ids[:5])
    with Store(review) as s:
        h = s.decision_history()
    assert sorted(h["record_id"]) == sorted(ids[:5])
    assert set(h["reviewer"]) == {"ann"} and set(h["source"]) == {"web"}
