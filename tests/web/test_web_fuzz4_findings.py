"""Faults found by the fourth security fuzz of the web app (F1-F7 of /tmp/fuzz4_web), each
reproduced and the fixed behaviour asserted; and the states of the progress page's agreement
table that could break its formatting."""

from __future__ import annotations

import logging

from starlette.testclient import TestClient
from web_helpers import csrf_of, ris

TA = "title-abstract"
FT = "full-text"


def _ids(app) -> list[str]:
    return list(app.state.config.store.record_ids())


def _decide(c: TestClient, rid: str, decision: str, stage: str = TA, reason: str | None = None):
    if decision == "exclude" and reason is None:
        reason = "not a trial" if stage == TA else "wrong outcome"
    data = {"csrf_token": csrf_of(c), "record_id": rid, "decision": decision}
    if reason:
        data["reason"] = reason
    return c.post(f"/screen/{stage}/decide", data=data)


# ----------------------------------------------------------------------------- F3
def test_f3_unique_records_tolerates_an_import_between_its_reads(app, ann):
    """An import landing between the duplicate groups' read and the records' read made
    ``Store.unique_records`` raise KeyError in the ranking thread (with a traceback)."""
    from evsynth.records import read

    store = app.state.config.store
    review = app.state.config.review_dir
    ids = _ids(app)
    assert _decide(ann, ids[0], "include").status_code == 303
    assert _decide(ann, ids[1], "exclude").status_code == 303
    orig = store.duplicate_groups
    done: list[bool] = []

    def groups_then_import() -> dict[str, str]:
        g = orig()
        if not done:
            done.append(True)
            f = review / "late.ris"
            f.write_text(ris(["A record uploaded meanwhile"], 500), encoding="utf-8")
            store.add_import(read(f, database="Embase"), str(f), "Embase")
        return g

    store.duplicate_groups = groups_then_import
    try:
        uniq = store.unique_records()
    finally:
        store.duplicate_groups = orig
    assert "late.ris:1" in set(uniq["record_id"])
    assert int(uniq.set_index("record_id").loc["late.ris:1", "group_size"]) == 1


def test_f3_failed_ranking_run_logs_one_line(app, ann, caplog, monkeypatch):
    """Any exception of a training run: one warning line, no traceback."""
    from evsynth.web import ranking

    cache = ranking.ranking_cache(app.state.config.store)

    def boom(*a, **k):
        raise KeyError("late.ris:1")

    monkeypatch.setattr(cache, "train", boom)
    with caplog.at_level(logging.WARNING, logger="evsynth.web.ranking"):
        ann.get(f"/screen/{TA}?order=prioritised")
        cache.wait()
    recs = [r for r in caplog.records if r.name == "evsynth.web.ranking"]
    assert len(recs) == 1 and recs[0].levelno == logging.WARNING
    assert recs[0].exc_info is None
    msg = recs[0].getMessage()
    assert "KeyError" in msg and "\n" not in msg
