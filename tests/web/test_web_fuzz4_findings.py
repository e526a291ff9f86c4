"""Faults found by the fourth security fuzz of the web app (F1-F7 of /tmp/fuzz4_web), each
reproduced and the fixed behaviour asserted; and the states of the progress page's agreement
table that could break its formatting."""

from __future__ import annotations

import logging
import re

import pytest
from starlette.testclient import TestClient
from web_helpers import csrf_of, login, make_review, ris, without_tokens

from evsynth.web.app import create_app

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


# ----------------------------------------------------------------------------- F1
def test_f1_full_text_does_not_tell_a_reviewer_the_others_title_abstract_decisions(
        app, ann, bob, owner):
    """bob and olga include X1 and exclude X2 at title-abstract; ann has decided neither.
    ann got 200 for X1 and 404 for X2 at full text (and X1 in her full-text queue)."""
    x1, x2, x3 = _ids(app)[:3]
    for c in (bob, owner):
        assert _decide(c, x1, "include").status_code == 303
        assert _decide(c, x2, "exclude").status_code == 303
    r1, r2 = ann.get(f"/screen/{FT}?rid={x1}"), ann.get(f"/screen/{FT}?rid={x3}")
    r3 = ann.get(f"/screen/{FT}?rid={x2}")
    assert r1.status_code == r2.status_code == r3.status_code == 404
    assert r1.text == r3.text
    queue = ann.get(f"/screen/{FT}").text
    assert x1 not in queue
    # a decision or a PDF at full text: the same refusal as for a record that did not pass
    d1, d2 = _decide(ann, x1, "include", FT), _decide(ann, x2, "include", FT)
    assert d1.status_code == d2.status_code == 400
    assert d1.text.replace(x1, "X") == d2.text.replace(x2, "X")
    # the counts do not tell either
    row = '<a href="/screen/full-text">full-text</a></th>\n      <td>0</td><td>{}</td>'
    assert row.format(0) in ann.get("/").text
    assert row.format(1) in owner.get("/").text
    # owners see the record at full text; so does ann once she has decided it herself
    assert owner.get(f"/screen/{FT}?rid={x1}").status_code == 200
    assert _decide(ann, x1, "include").status_code == 303
    assert ann.get(f"/screen/{FT}?rid={x1}").status_code == 200
    assert x1 in ann.get(f"/screen/{FT}").text


# ----------------------------------------------------------------------------- F2
def test_f2_decision_final_once_the_record_has_its_decisions(app, ann, bob, owner):
    """Peek-and-revise: ann cast a throwaway vote, read bob's on /conflicts and decided again;
    the conflict vanished and agreement showed 100%."""
    x, y = _ids(app)[:2]
    assert _decide(bob, x, "include").status_code == 303
    assert _decide(ann, x, "exclude").status_code == 303  # the record is now in conflict
    assert "ann: exclude" in ann.get("/conflicts").text  # ann may see bob's vote now ...
    r = _decide(ann, x, "include")  # ... but not change hers
    assert r.status_code == 409 and "final" in r.text and "owner" in r.text
    assert "bob" not in without_tokens(r.text)
    assert "It is final" in ann.get(f"/screen/{TA}?rid={x}").text
    assert x in ann.get("/conflicts").text
    page = owner.get("/progress").text
    assert "ann and bob</th><td>Cohen</td><td>1</td>" in page and "0.0%" in page
    # agreed records are final too
    for c in (ann, bob):
        assert _decide(c, y, "include").status_code == 303
    assert _decide(bob, y, "exclude").status_code == 409
    # a decision the others have not completed can still be changed
    z = _ids(app)[2]
    assert _decide(ann, z, "exclude").status_code == 303
    assert _decide(ann, z, "include").status_code == 303
    assert "Deciding again replaces it" in ann.get(f"/screen/{TA}?rid={z}").text


def test_f2_agreement_counts_the_decision_that_stood_when_the_others_could_be_seen(app):
    """A decision changed after the record had its decisions (the terminal screener, or the
    web app before decisions were locked) does not count in the agreement; a reviewer who
    first decides later counts with that first decision."""
    from evsynth.records.settings import read_settings
    from evsynth.web.screenindex import screening_index

    store = app.state.config.store
    settings = read_settings(app.state.config.review_dir).screening
    x, y, z = _ids(app)[:3]
    store.add_decision(x, TA, "include", "bob")
    store.add_decision(x, TA, "exclude", "ann", "not a trial")  # conflict: complete
    store.add_decision(x, TA, "include", "ann")  # peek-and-revise
    store.add_decision(x, TA, "exclude", "olga", "not a trial")  # late, first decision
    store.add_decision(x, TA, "include", "olga")  # revised after seeing
    store.add_decision(y, TA, "exclude", "ann", "not a trial")  # pending: may change
    store.add_decision(y, TA, "include", "ann")
    store.add_decision(z, TA, "maybe", "bob")
    got = screening_index(store).agreement_screens(settings, TA)
    assert got == {"ann": {x: "exclude", y: "include"}, "bob": {x: "include", z: "maybe"},
                   "olga": {x: "exclude"}}


def test_f2_reviewers_see_no_counts_of_the_others_undecided_records(app, ann, bob, owner):
    """/progress showed a reviewer the outcome counts of every record and every pair's
    agreement; /conflicts counted the conflicts hidden from them."""
    x1, x2, x3 = _ids(app)[:3]
    for c in (bob, owner):
        _decide(c, x1, "include")
    _decide(bob, x2, "include")
    _decide(owner, x2, "exclude")
    before = ann.get("/conflicts").text
    assert "other conflict" not in before and x2 not in before
    prog = ann.get("/progress").text
    assert "bob and olga" not in prog and "Fleiss" not in prog
    assert "Of the records you decided: include 0, exclude 0, maybe 0" in prog
    assert "0 for you to screen" in prog.split('id="h-full-text"')[1]
    full = owner.get("/progress").text
    assert "bob and olga" in full and "include 1" in full
    # once ann has decided x1 it counts for her, with her agreement with the others
    _decide(ann, x1, "include")
    prog = ann.get("/progress").text
    assert "Of the records you decided: include 1" in prog
    assert "ann and bob" in prog and "ann and olga" in prog and "bob and olga" not in prog
    assert "1 for you to screen" in prog.split('id="h-full-text"')[1]


# ----------------------------------------------------------------------------- F4
def test_f4_full_text_upload_needs_a_reviewer_and_a_full_text_record(tmp_path):
    import sqlalchemy as sa

    from evsynth.records.store import T

    review = make_review(tmp_path / "r", n=3, users={"olga": "owner", "ann": "reviewer",
                                                       "bob": "reviewer", "zed": "reviewer"})
    app = create_app(review, max_upload=200_000, max_pdf=50_000)
    pdf = b"%PDF-1.4 a paper"
    try:
        x, y = _ids(app)[:2]
        with TestClient(app, follow_redirects=False) as zed, \
                TestClient(app, follow_redirects=False) as ann, \
                TestClient(app, follow_redirects=False) as bob:
            login(zed, "zed"), login(ann, "ann"), login(bob, "bob")
            for c in (ann, bob):
                _decide(c, x, "include")

            def upload(c: TestClient, rid: str):
                return c.post("/fulltext/upload", data={"csrf_token": csrf_of(c),
                                                        "record_id": rid},
                              files={"pdf": ("a.pdf", pdf)})

            r = upload(zed, x)  # not in review.toml's reviewers, as for /decide
            assert r.status_code == 400 and "not one of the reviewers" in r.text
            r = upload(ann, y)  # not at the full-text stage
            assert r.status_code == 400 and "not to be screened at the full-text" in r.text
            with app.state.config.store.engine.connect() as conn:
                assert conn.execute(sa.select(T["fulltexts"])).all() == []
            assert upload(ann, x).status_code == 303
    finally:
        app.state.config.store.close()


# ----------------------------------------------------------------------------- F5
def test_f5_resolve_only_records_with_their_decisions(app, ann, bob, owner):
    """A full-text 'exclude' resolution filed for a record nobody screened waited and
    excluded it once it passed title-abstract."""
    x, y = _ids(app)[:2]

    def resolve(rid: str, stage: str, decision: str, reason: str | None = None):
        data = {"csrf_token": csrf_of(owner), "record_id": rid, "stage": stage,
                "decision": decision}
        if reason:
            data["reason"] = reason
        return owner.post("/conflicts/resolve", data=data)

    r = resolve(x, FT, "exclude", "wrong outcome")
    assert r.status_code == 400 and "not at the full-text stage" in r.text
    r = resolve(x, TA, "include")  # nobody screened it
    assert r.status_code == 400 and "still waiting" in r.text
    _decide(ann, x, "include")
    assert resolve(x, TA, "include").status_code == 400  # one of two decisions
    _decide(bob, x, "exclude")
    assert resolve(x, TA, "include").status_code == 303  # the conflict
    assert resolve(x, FT, "exclude", "wrong outcome").status_code == 400  # not screened
    for c in (ann, bob):
        _decide(c, y, "include")
    assert resolve(y, TA, "exclude", "not a trial").status_code == 303  # owner overrides
    prisma = owner.get("/prisma").text
    assert "Reports excluded: wrong outcome" not in prisma


# ----------------------------------------------------------------------------- /progress
@pytest.mark.parametrize("state", ["nothing", "one reviewer", "no shared record",
                                   "one category", "perfect", "three reviewers"])
def test_progress_page_renders_every_agreement_state(app, ann, bob, owner, viewer, state):
    """/progress once answered 500 (not reproduced): every state of the agreement table
    renders, for every role (kappa undefined, no shared record, a single reviewer)."""
    x, y, z = _ids(app)[:3]
    plan = {"nothing": [],
            "one reviewer": [(ann, x, "include")],
            "no shared record": [(ann, x, "include"), (bob, y, "exclude")],
            "one category": [(ann, x, "include"), (bob, x, "include"), (ann, y, "include"),
                             (bob, y, "include")],
            "perfect": [(ann, x, "include"), (bob, x, "include"), (ann, y, "exclude"),
                        (bob, y, "exclude")],
            "three reviewers": [(ann, x, "include"), (bob, x, "exclude"),
                                (owner, x, "maybe"), (owner, z, "include")]}[state]
    for c, rid, d in plan:
        assert _decide(c, rid, d).status_code == 303
    for c in (ann, bob, owner, viewer):
        r = c.get("/progress")
        assert r.status_code == 200, (state, r.text[-500:])
        # no cell shows a non-finite number (the page's random CSRF token may hold 'nan')
        assert not re.search(r">\s*-?(?:nan|inf)\s*%?\s*<", r.text, re.IGNORECASE), state
    full = owner.get("/progress").text
    if state == "no shared record":
        assert "ann and bob</th><td>Cohen</td><td>0</td>" in full and "undefined" in full
    if state == "one category":
        assert "100.0%" in full and "undefined" in full


def test_progress_numbers_that_are_not_finite_are_shown_as_undefined(app, owner, monkeypatch):
    import pandas as pd

    from evsynth.records import agreement

    def odd(latest, **kw):
        frame = pd.DataFrame({"stage": [TA], "method": ["Cohen"], "reviewers": ["ann and bob"],
                              "n": [None], "percent_agreement": [float("nan")],
                              "kappa": [float("inf")], "ci_lb": [None],
                              "ci_ub": [float("nan")]}, dtype=object)
        return agreement.AgreementTable(frame)

    monkeypatch.setattr(agreement, "agreement_table", odd)
    r = owner.get("/progress")
    assert r.status_code == 200 and "undefined" in r.text
    assert "ann and bob</th><td>Cohen</td><td>0</td>" in r.text
