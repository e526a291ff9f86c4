"""Security of the web app (issue 16, point 7): XSS payloads shown as text, roles, one review's
users and sessions unknown to another, CSRF, Content-Security-Policy, upload types and sizes,
downloads confined to the review folder."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient
from web_helpers import PASSWORD, csrf_of, login, make_review, ris

from evsynth.records.store import Store
from evsynth.web.app import CSP, create_app

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
#: terminal and bidi controls in record text: shown inert on the pages, as in the reports
CONTROLS = "\x1b[2J\x07\u202eevil"
TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "evsynth" / "web" / "templates"


def _post_routes(app) -> list[str]:
    return [r.path for r in app.routes if isinstance(r, Route) and "POST" in (r.methods or ())]


def test_xss_titles_and_abstracts_are_text(tmp_path):
    review = make_review(tmp_path / "r", n=1)
    import sqlalchemy as sa

    from evsynth.records.store import T

    # straight into the store: the readers already drop markup from titles, the pages must
    # not rely on that
    with Store(review) as s:
        with s.transaction() as conn:
            conn.execute(T["records"].update().values(
                title=XSS + CONTROLS, abstract=XSS + " trial", journal=XSS,
                authors='["<b>Mallory</b>"]'))
        f = tmp_path / "two.ris"
        f.write_text(ris(["Second"]), encoding="utf-8")
        from evsynth.records import read

        s.add_import(read(f, database="X"), str(f), "X")
        with s.transaction() as conn:
            conn.execute(T["records"].update().values(title=XSS)
                         .where(T["records"].c.record_id == sa.literal("two.ris:1")))
        ids = s.record_ids()
        s.add_decision(ids[1], "title-abstract", "include", "ann")
        s.add_decision(ids[1], "title-abstract", "exclude", "bob", "not a trial")
    app = create_app(review)
    with TestClient(app, follow_redirects=False) as c:
        login(c, "olga")
        pages = [c.get(f"/screen/title-abstract?rid={ids[1]}").text, c.get("/conflicts").text]
        for html in pages:
            assert "<script>alert" not in html and "<img src=x" not in html
            assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
        first = c.get(f"/screen/title-abstract?rid={ids[0]}").text
        assert "&lt;b&gt;Mallory&lt;/b&gt;" in first and "<b>Mallory" not in first
        assert "^[[2J^G[U+202E]evil" in first
        assert not any(ch in first for ch in "\x1b\x07\u202e")
    app.state.config.store.close()


def test_templates_have_no_inline_script_or_handlers():
    for t in TEMPLATES.glob("*.html"):
        text = t.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), t.name
        assert not re.search(r"\son[a-z]+\s*=", text), t.name
        assert "|safe" not in text and "autoescape false" not in text, t.name


def test_csp_and_security_headers(ann, app):
    for url in ("/", "/login", "/screen/title-abstract", "/static/app.js", "/nope"):
        r = ann.get(url)
        assert r.headers["content-security-policy"] == CSP, url
        assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"


def test_viewer_cannot_write(app, viewer):
    store = app.state.config.store
    rid = store.record_ids()[0]
    token = csrf_of(viewer)
    n = len(store.decision_history())
    r = viewer.post("/screen/title-abstract/decide",
                    data={"csrf_token": token, "record_id": rid, "decision": "include"})
    assert r.status_code == 403
    r = viewer.post("/records/upload", data={"csrf_token": token, "database": "X"},
                    files=[("files", ("a.ris", ris(["A"]), "text/plain"))])
    assert r.status_code == 403
    for url, data in (("/records/dedup", {}),
                      ("/conflicts/resolve", {"record_id": rid, "stage": "title-abstract",
                                              "decision": "include"}),
                      ("/duplicates/decide", {"record_id_a": rid, "record_id_b": rid,
                                              "decision": "merge"})):
        assert viewer.post(url, data={"csrf_token": token, **data}).status_code == 403, url
    r = viewer.post("/fulltext/upload", data={"csrf_token": token, "record_id": rid},
                    files={"pdf": ("a.pdf", b"%PDF-1.4\n", "application/pdf")})
    assert r.status_code == 403
    assert len(store.decision_history()) == n and store.n_records() == 6
    # the screening page offers no decision form to a viewer, but can be read
    page = viewer.get("/screen/title-abstract")
    assert page.status_code == 200 and 'id="decide"' not in page.text


def test_reviewer_cannot_do_owner_work(app, ann):
    token = csrf_of(ann)
    assert ann.post("/records/dedup", data={"csrf_token": token}).status_code == 403
    r = ann.post("/records/upload", data={"csrf_token": token, "database": "X"},
                 files=[("files", ("a.ris", ris(["A"]), "text/plain"))])
    assert r.status_code == 403


def test_user_of_one_review_cannot_read_another(tmp_path):
    a = make_review(tmp_path / "a", users={"alice": "owner"})
    b = make_review(tmp_path / "b", users={"bert": "owner"})
    app_a, app_b = create_app(a), create_app(b)
    try:
        with TestClient(app_a, follow_redirects=False) as ca, \
                TestClient(app_b, follow_redirects=False) as cb:
            login(ca, "alice")
            assert ca.get("/records").status_code == 200
            # alice's session cookie (same host, as two servers on one machine share
            # cookies) means nothing to review b
            for k, v in ca.cookies.items():
                cb.cookies.set(k, v)
            cookie = app_a.state.config.cookie_name
            cb.cookies.set(app_b.state.config.cookie_name, ca.cookies[cookie])
            for url in ("/", "/records", "/screen/title-abstract", "/conflicts", "/prisma",
                        "/progress", "/duplicates"):
                r = cb.get(url)
                assert r.status_code == 303 and r.headers["location"].startswith("/login"), url
            r = cb.post("/records/dedup", data={"csrf_token": csrf_of(ca)})
            assert r.status_code == 401
            # and her password does not open review b
            r = cb.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', r.text).group(1)
            r = cb.post("/login", data={"username": "alice", "password": PASSWORD,
                                        "csrf_token": token})
            assert r.status_code == 401
    finally:
        app_a.state.config.store.close()
        app_b.state.config.store.close()


def test_csrf_enforced_on_every_post(app, owner):
    store = app.state.config.store
    rid = store.record_ids()[0]
    routes = _post_routes(app)
    assert set(routes) >= {"/logout", "/records/upload", "/records/dedup", "/duplicates/decide",
                           "/screen/{stage}/decide", "/conflicts/resolve", "/fulltext/upload",
                           "/login"}
    good = csrf_of(owner)
    for path in routes:
        url = path.replace("{stage}", "title-abstract")
        for token in (None, "", "wrong" + good[5:]):
            data = {"record_id": rid, "decision": "include", "stage": "title-abstract",
                    "database": "X", "username": "olga", "password": PASSWORD}
            if token is not None:
                data["csrf_token"] = token
            r = owner.post(url, data=data)
            assert r.status_code == 403, (url, token)
    # the right token but a foreign Origin is refused too
    r = owner.post("/screen/title-abstract/decide",
                   data={"csrf_token": good, "record_id": rid, "decision": "include"},
                   headers={"origin": "https://evil.example"})
    assert r.status_code == 403
    assert store.decision_history().empty and owner.get("/").status_code == 200
    # the header form of the token works for scripts
    r = owner.post("/screen/title-abstract/decide",
                   data={"record_id": rid, "decision": "include"},
                   headers={"x-csrf-token": good, "accept": "application/json"})
    assert r.status_code == 200 and r.json()["ok"]


def test_upload_types_and_sizes_refused(app, ann, owner, review):
    store = app.state.config.store
    rid = store.record_ids()[0]
    for who in ("ann", "bob"):  # a full text belongs to a record at the full-text stage
        store.add_decision(rid, "title-abstract", "include", who)
    token = csrf_of(ann)
    # not a PDF (HTML named .pdf, served with a PDF type)
    r = ann.post("/fulltext/upload", data={"csrf_token": token, "record_id": rid},
                 files={"pdf": ("paper.pdf", b"<html><script>x</script></html>",
                                "application/pdf")})
    assert r.status_code == 415
    # too large (limit 50,000 bytes in the fixture)
    big = b"%PDF-1.4\n" + b"0" * 60_000
    r = ann.post("/fulltext/upload", data={"csrf_token": token, "record_id": rid},
                 files={"pdf": ("big.pdf", big, "application/pdf")})
    assert r.status_code == 413
    assert not (review / "fulltext").exists() or not any((review / "fulltext").iterdir())
    # an export upload past the limit (200,000 bytes)
    t = csrf_of(owner)
    r = owner.post("/records/upload", data={"csrf_token": t, "database": "X"},
                   files=[("files", ("huge.ris", "x" * 300_000, "text/plain"))])
    assert r.status_code == 413
    # a binary file is refused with a clear message
    r = owner.post("/records/upload", data={"csrf_token": t, "database": "X"},
                   files=[("files", ("pic.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
                                     "image/png"))])
    assert r.status_code == 400 and "pic.png" in r.text
    assert store.n_records() == 6
    # an upload's name cannot place it outside uploads/
    r = owner.post("/records/upload", data={"csrf_token": t, "database": "X"},
                   files=[("files", ("../../escape.ris", ris(["Q"]), "text/plain"))])
    assert r.status_code == 200
    assert not (review.parent / "escape.ris").exists()
    assert list((review / "uploads").rglob("escape.ris"))


def test_downloads_cannot_escape_the_review_folder(app, ann, review, tmp_path):
    secret = tmp_path / "secret.pdf"
    secret.write_bytes(b"%PDF-1.4 secret")
    ft = review / "fulltext"
    ft.mkdir(exist_ok=True)
    link = ft / ("a" * 64 + ".pdf")
    os.symlink(secret, link)
    assert ann.get(f"/fulltext/{link.name}").status_code == 404
    for url in ("/fulltext/..%2freview.toml", "/fulltext/../review.toml",
                "/fulltext/%2e%2e%2f%2e%2e%2fsecret.pdf", "/static/..%2f..%2fapp.py",
                "/static/../app.py", "/fulltext/" + "b" * 64 + ".pdf",
                "/fulltext/%2fetc%2fpasswd"):
        r = ann.get(url)
        assert r.status_code == 404, url
        assert b"secret" not in r.content and b"[screening]" not in r.content


@pytest.mark.parametrize("url", ["/", "/records", "/duplicates", "/progress", "/conflicts",
                                 "/prisma", "/screen/title-abstract", "/screen/full-text"])
def test_pages_need_login(app, url):
    with TestClient(app, follow_redirects=False) as c:
        assert c.get(url).status_code == 303
