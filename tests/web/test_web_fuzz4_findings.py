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


# ----------------------------------------------------------------------------- F6
def _login_status(app, name: str, password: str, address: str) -> int:
    with TestClient(app, follow_redirects=False, client=(address, 40000)) as c:
        c.get("/login")
        return c.post("/login", data={"username": name, "password": password,
                                      "csrf_token": c.cookies.get("evsynth_login_csrf")}
                      ).status_code


def test_f6_wrong_passwords_elsewhere_do_not_lock_the_owner_out(app):
    """Five wrong passwords for 'olga' from one address locked the account for everyone for
    15 minutes; now only that address is refused for that name."""
    from web_helpers import PASSWORD

    from evsynth.web.accounts import MAX_FAILURES_CLIENT, MAX_FAILURES_USER

    codes = [_login_status(app, "olga", "wrong-guess", "203.0.113.7")
             for _ in range(MAX_FAILURES_USER + 1)]
    assert codes == [401] * MAX_FAILURES_USER + [429]
    # the attacker's address stays locked for that name, even with the right password
    assert _login_status(app, "olga", PASSWORD, "203.0.113.7") == 429
    # the owner, from her own address, logs in
    assert _login_status(app, "olga", PASSWORD, "198.51.100.2") == 303
    # the per-address limit over all names still holds
    for i in range(MAX_FAILURES_CLIENT):
        _login_status(app, f"nobody{i}", "wrong-guess", "203.0.113.8")
    assert _login_status(app, "ann", PASSWORD, "203.0.113.8") == 429
    assert _login_status(app, "ann", PASSWORD, "198.51.100.3") == 303


# ----------------------------------------------------------------------------- F7
def _asgi_post(app, path: str, chunks: int, chunk: bytes, headers: list[tuple[bytes, bytes]]
               ) -> tuple[int, int]:
    """POST ``chunks`` times ``chunk`` (chunked: no Content-Length) straight to the ASGI app;
    returns (status, body bytes the app read)."""
    import asyncio

    read = 0
    sent = 0
    status: list[int] = []

    async def receive():
        nonlocal read, sent
        if sent < chunks:
            sent += 1
            read += len(chunk)
            return {"type": "http.request", "body": chunk, "more_body": sent < chunks}
        await asyncio.sleep(3600)  # the client would wait for the response

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "server": ("testserver", 80),
             "client": ("127.0.0.1", 50000),
             "headers": [(b"host", b"testserver"),
                         (b"content-type", b"multipart/form-data; boundary=B"), *headers]}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 30))
    return status[0], read


def test_f7_body_not_read_before_the_session_is_checked(app, ann):
    """An unauthenticated chunked body was spooled whole (up to ~201 MB) before the 401."""
    head = b'--B\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\n'
    status, read = _asgi_post(app, "/screen/title-abstract/decide", 64, head + b"a" * 65536,
                              [])
    assert status == 401 and read == 0
    # a logged-in user's chunked body is cut at the route's limit (1 MB here, not the
    # server-wide 1 MB + max(max_upload, max_pdf)) while it streams
    cookie = "; ".join(f"{k}={v}" for k, v in ann.cookies.items())
    status, read = _asgi_post(app, "/screen/title-abstract/decide", 10_000,
                              head + b"a" * 65536, [(b"cookie", cookie.encode())])
    assert status == 413
    assert read <= (1 << 20) + 2 * 65536 + 128 * 1024
    # a wrong X-CSRF-Token header or a foreign Origin: refused before the body too
    for extra in ([(b"x-csrf-token", b"wrong")], [(b"origin", b"https://evil.example")]):
        status, read = _asgi_post(app, "/screen/title-abstract/decide", 64,
                                  head + b"a" * 65536, [(b"cookie", cookie.encode()), *extra])
        assert status == 403 and read == 0
    # the login form's body is small
    status, read = _asgi_post(app, "/login", 1000, b"a" * 65536, [])
    assert status == 400 and read <= 2 * 65536
