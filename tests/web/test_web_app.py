"""The web app's main flows through the Starlette test client: log in, upload exports,
deduplicate, screen (both stages), blind dual screening, agreement, conflicts, PDFs, PRISMA."""

from __future__ import annotations

import pytest
from web_helpers import PASSWORD, csrf_of, login, ris, without_tokens

from evsynth.records.screening import latest_decisions, screening_table
from evsynth.records.settings import read_settings
from evsynth.records.store import Store


def _store(app) -> Store:
    return app.state.config.store


def _decide(client, stage, rid, decision, reason=None):
    data = {"csrf_token": csrf_of(client, f"/screen/{stage}"), "record_id": rid,
            "decision": decision}
    if reason:
        data["reason"] = reason
    return client.post(f"/screen/{stage}/decide", data=data)


def test_login_required_and_wrong_password(app):
    from starlette.testclient import TestClient

    with TestClient(app, follow_redirects=False) as c:
        r = c.get("/screen/title-abstract")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        r = c.get("/login")
        assert r.status_code == 200 and 'for="username"' in r.text
        token = r.text.split('name="csrf_token" value="')[1].split('"')[0]
        r = c.post("/login", data={"username": "ann", "password": "wrong password!",
                                   "csrf_token": token})
        assert r.status_code == 401 and "Wrong user name or password" in r.text
        r = c.post("/login", data={"username": "nobody", "password": PASSWORD,
                                   "csrf_token": token})
        assert r.status_code == 401


def test_session_cookie_flags(app):
    from starlette.testclient import TestClient

    for base, secure in (("http://testserver", False), ("https://testserver", True)):
        with TestClient(app, base_url=base, follow_redirects=False) as c:
            r = c.get("/login")
            token = r.text.split('name="csrf_token" value="')[1].split('"')[0]
            r = c.post("/login", data={"username": "ann", "password": PASSWORD,
                                       "csrf_token": token})
            cookie = [v for k, v in r.headers.multi_items() if k == "set-cookie"
                      and v.startswith("evsynth_session")][0].lower()
            assert "httponly" in cookie and "samesite=strict" in cookie
            assert ("secure" in cookie) is secure


def test_login_rate_limit(app):
    from starlette.testclient import TestClient

    with TestClient(app, follow_redirects=False) as c:
        r = c.get("/login")
        token = r.text.split('name="csrf_token" value="')[1].split('"')[0]
        codes = [c.post("/login", data={"username": "bob", "password": "nope-nope",
                                        "csrf_token": token}).status_code for _ in range(6)]
        assert codes[:5] == [401] * 5 and codes[5] == 429
        # even the right password is refused while the user name is locked
        r = c.post("/login", data={"username": "bob", "password": PASSWORD,
                                   "csrf_token": token})
        assert r.status_code == 429


def test_logout_ends_the_session(ann):
    r = ann.post("/logout", data={"csrf_token": csrf_of(ann)})
    assert r.status_code == 303
    assert ann.get("/").status_code == 303


def test_upload_exports_with_counts_and_errors(app, owner, review):
    token = csrf_of(owner, "/records")
    three = ris(["Alpha trial", "Beta trial", "Gamma"], 50)
    files = [("files", ("embase.ris", three, "text/plain")),
             ("files", ("more.ris", ris(["Delta"], 60), "text/plain"))]
    r = owner.post("/records/upload", data={"csrf_token": token, "database": "Embase"},
                   files=files)
    assert r.status_code == 200, r.text
    assert "embase.ris</span>: 3 records read [Embase]" in r.text
    assert "more.ris</span>: 1 records read [Embase]" in r.text
    assert _store(app).n_records() == 6 + 4
    assert (review / "uploads").is_dir()
    # the same bytes again: reported, not added
    r = owner.post("/records/upload", data={"csrf_token": token, "database": "Embase"},
                   files=[files[1]])
    assert "already imported" in r.text and _store(app).n_records() == 10
    # one bad file: nothing of the request is stored, the message names the uploaded file
    bad = [("files", ("good.ris", ris(["Epsilon"], 70), "text/plain")),
           ("files", ("notes.txt", "just some words\nnothing else\n", "text/plain"))]
    r = owner.post("/records/upload", data={"csrf_token": token, "database": "Embase"},
                   files=bad)
    assert r.status_code == 400
    assert "notes.txt: unknown format" in r.text and "Nothing was imported" in r.text
    assert _store(app).n_records() == 10
    r = owner.post("/records/upload", data={"csrf_token": token, "database": "Embase"},
                   files=[("files", ("bin.ris", b"\x00\x01\x02\xff" * 50, "text/plain"))])
    assert r.status_code == 400 and "bin.ris" in r.text
    # an explicit format that does not fit
    r = owner.post("/records/upload", data={"csrf_token": token, "database": "Embase",
                                            "format": "bibtex"},
                   files=[("files", ("x.ris", ris(["Zeta"], 80), "text/plain"))])
    assert r.status_code == 400 and "x.ris" in r.text
    assert _store(app).n_records() == 10


def test_dedup_and_pairs_side_by_side(app, owner):
    store = _store(app)
    token = csrf_of(owner, "/records")
    near = ris(["Trial number 1 of vertebroplasty", "Trial number 2 of vertebroplasty."], 1)
    owner.post("/records/upload", data={"csrf_token": token, "database": "Embase"},
               files=[("files", ("embase.ris", near, "text/plain"))])
    r = owner.post("/records/dedup", data={"csrf_token": token})
    assert r.status_code == 200 and "unique after deduplication" in r.text
    assert store.deduplicated()
    # make an uncertain pair by hand (the automatic rules decide these two records)
    import pandas as pd

    ids = store.record_ids()
    store.set_duplicate_groups({i: n for n, i in enumerate(ids)}, method="auto",
                               uncertain=pd.DataFrame({"record_id_a": [ids[2], ids[3]],
                                                       "record_id_b": [ids[4], ids[5]],
                                                       "score": [0.9, 0.8],
                                                       "reason": ["similar title", "x"]}))
    r = owner.get("/duplicates")
    assert r.status_code == 200 and "2 to check" in r.text
    assert f"<th scope=\"col\">{ids[2]}</th>" in r.text
    t = csrf_of(owner, "/duplicates")
    r = owner.post("/duplicates/decide", data={"csrf_token": t, "record_id_a": ids[2],
                                               "record_id_b": ids[4], "decision": "merge"})
    assert r.status_code == 303
    r = owner.post("/duplicates/decide", data={"csrf_token": t, "record_id_a": ids[3],
                                               "record_id_b": ids[5], "decision": "keep"})
    assert r.status_code == 303
    g = store.duplicate_groups()
    assert g[ids[2]] == g[ids[4]] and g[ids[3]] != g[ids[5]]
    r = owner.get("/duplicates")
    assert "0 to check; 2 decided" in r.text and "kept apart" in r.text


def test_screening_flow_and_store(app, ann, review):
    store = _store(app)
    ids = store.record_ids()
    r = ann.get("/screen/title-abstract")
    assert r.status_code == 200
    assert '<mark class="include">vertebroplasty</mark>' in r.text
    assert '<mark class="exclude">cadavers</mark>' in r.text
    assert 'value="not a trial"' in r.text and 'aria-keyshortcuts="i"' in r.text
    assert ids[0] in r.text
    r = _decide(ann, "title-abstract", ids[0], "include")
    assert r.status_code == 303 and r.headers["location"].startswith("/screen/title-abstract")
    r = ann.get(r.headers["location"])
    assert ids[1] in r.text and "back-link" in r.text
    r = _decide(ann, "title-abstract", ids[1], "exclude", "not a trial")
    assert r.status_code == 303
    # a reason not in review.toml is refused with the store's message
    r = _decide(ann, "title-abstract", ids[2], "exclude", "I do not like it")
    assert r.status_code == 400 and "configured" in r.text
    # going back shows the own decision
    r = ann.get(f"/screen/title-abstract?rid={ids[1]}")
    assert "Your decision: exclude (not a trial)" in r.text
    h = store.decision_history()
    assert list(h["reviewer"]) == ["ann", "ann"] and set(h["source"]) == {"web"}
    assert list(h["stage"]) == ["title-abstract"] * 2 and h["decided_at"].notna().all()
    lat = latest_decisions(store, "title-abstract")
    assert dict(zip(lat["record_id"], lat["decision"], strict=True)) == {
        ids[0]: "include", ids[1]: "exclude"}
    # the CLI's status reads the same store
    from evsynth.cli import main

    assert main(["records", "status", str(review)]) == 0


def test_blind_dual_screening_conflicts_and_agreement(app, ann, bob, owner):
    store = _store(app)
    ids = store.record_ids()
    assert _decide(ann, "title-abstract", ids[0], "include").status_code == 303
    # bob sees no trace of ann's decision on the record
    r = bob.get(f"/screen/title-abstract?rid={ids[0]}")
    assert "Your decision" not in r.text and "ann" not in without_tokens(r.text).replace(
        "Screening", "")
    # a conflict on a record bob has not decided stays hidden from him
    store.add_decision(ids[1], "title-abstract", "exclude", "olga", "not a trial")
    _decide(ann, "title-abstract", ids[1], "include")
    r = bob.get("/conflicts")  # not even counted (fuzz round 4, F2)
    assert "other conflict" not in r.text and ids[1] not in r.text
    assert "Blind screening" in r.text
    assert ids[1] in owner.get("/conflicts").text
    # bob decides against ann: now he sees the conflict with both votes
    _decide(bob, "title-abstract", ids[0], "exclude", "wrong population")
    r = bob.get("/conflicts")
    assert ids[0] in r.text and "ann: include" in r.text and "bob: exclude" in r.text
    assert "Resolve: include" not in r.text  # only owners resolve
    for i in range(2, 6):
        _decide(ann, "title-abstract", ids[i], "include" if i % 2 else "exclude",
                None if i % 2 else "not a trial")
        _decide(bob, "title-abstract", ids[i], "include" if i % 2 else "exclude",
                None if i % 2 else "not a trial")
    r = owner.get("/progress")
    assert "ann and bob" in r.text and "Cohen" in r.text
    assert "80.0%" in r.text  # 4 of 5 common records agree
    # owner resolves
    t = csrf_of(owner, "/conflicts")
    r = owner.post("/conflicts/resolve", data={"csrf_token": t, "record_id": ids[0],
                                               "stage": "title-abstract",
                                               "decision": "include"})
    assert r.status_code == 303
    settings = read_settings(app.state.config.review_dir).screening
    tab = screening_table(store, "title-abstract", settings).set_index("group_id")
    assert tab.loc[ids[0], "status"] == "resolved" and tab.loc[ids[0], "final"] == "include"


def test_full_text_stage_with_pdf(app, ann, bob, review):
    store = _store(app)
    ids = store.record_ids()
    for c in (ann, bob):
        _decide(c, "title-abstract", ids[0], "include")
    r = ann.get("/screen/full-text")
    assert ids[0] in r.text and "No PDF attached" in r.text
    token = csrf_of(ann, "/screen/full-text")
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    r = ann.post("/fulltext/upload", data={"csrf_token": token, "record_id": ids[0]},
                 files={"pdf": ("paper.pdf", pdf, "application/pdf")})
    assert r.status_code == 303
    r = ann.get("/screen/full-text")
    name = r.text.split('href="/fulltext/')[1].split('"')[0]
    assert (review / "fulltext" / name).read_bytes() == pdf
    d = bob.get(f"/fulltext/{name}")
    assert d.status_code == 200 and d.content == pdf
    assert d.headers["content-type"] == "application/pdf"
    assert _decide(ann, "full-text", ids[0], "exclude", "wrong outcome").status_code == 303
    r = _decide(bob, "full-text", ids[0], "exclude")
    assert r.status_code == 400 and "reason" in r.text  # full-text exclusions need one
    # a record not through title-abstract is not to be screened at full text
    assert _decide(ann, "full-text", ids[3], "include").status_code == 400


def test_prisma_page(app, owner):
    r = owner.get("/prisma")
    assert r.status_code == 200 and '<img src="/prisma.svg"' in r.text
    s = owner.get("/prisma.svg")
    assert s.status_code == 200 and s.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in s.content


def test_keyboard_script_and_labels(ann):
    r = ann.get("/screen/title-abstract")
    assert '<script src="/static/app.js" defer></script>' in r.text
    js = ann.get("/static/app.js")
    assert js.status_code == 200 and "keydown" in js.text
    # every form control has a label
    import re

    for m in re.finditer(r'<(input|select)\b([^>]*)>', r.text):
        attrs = m.group(2)
        if 'type="hidden"' in attrs:
            continue
        cid = re.search(r'id="([^"]+)"', attrs).group(1)
        assert f'for="{cid}"' in r.text, cid


def test_home_shows_own_progress_only(app, ann, bob):
    ids = _store(app).record_ids()
    _decide(ann, "title-abstract", ids[0], "include")
    r = bob.get("/")
    assert r.status_code == 200 and "<td>0</td><td>6</td>" in r.text
    assert "<td>1</td><td>6</td>" in ann.get("/").text


def test_second_login_gives_new_session(app):
    from starlette.testclient import TestClient

    with TestClient(app, follow_redirects=False) as c1, \
            TestClient(app, follow_redirects=False) as c2:
        login(c1, "ann")
        login(c2, "ann")
        assert csrf_of(c1) != csrf_of(c2)


def test_conflicts_page_in_pages(app, ann, bob, owner, monkeypatch):
    """Conflicts are listed a page at a time (the view's CONFLICTS_PER_PAGE) with previous and
    next links; a page number out of range is clamped, one that is not a number means page 1;
    resolving a conflict returns to its page."""
    from evsynth.web import views

    monkeypatch.setattr(views, "CONFLICTS_PER_PAGE", 2)
    store = _store(app)
    ids = store.record_ids()[:5]
    for rid in ids:
        store.add_decision(rid, "title-abstract", "include", "ann")
        store.add_decision(rid, "title-abstract", "exclude", "bob", "not a trial")
    r = owner.get("/conflicts")
    assert "Conflicts 1&ndash;2 of 5 (page 1 of 3)" in r.text
    assert 'href="/conflicts?page=2"' in r.text and "Previous page" not in r.text
    assert ids[0] in r.text and ids[1] in r.text and ids[2] not in r.text
    r = owner.get("/conflicts?page=3")
    assert "Conflicts 5&ndash;5 of 5 (page 3 of 3)" in r.text and ids[4] in r.text
    assert "Next page" not in r.text and 'href="/conflicts?page=2"' in r.text
    assert "page 3 of 3" in owner.get("/conflicts?page=99").text
    for bad in ("abc", "-1", "0", "%C2%B2", "%D9%A2", "1e3", "99999999999999999999"):
        r = owner.get(f"/conflicts?page={bad}")  # "²" passes str.isdigit but not int()
        assert r.status_code == 200 and "page 1 of 3" in r.text, bad
    t = csrf_of(owner, "/conflicts?page=2")
    r = owner.post("/conflicts/resolve", data={"csrf_token": t, "record_id": ids[2],
                                               "stage": "title-abstract", "decision": "include",
                                               "page": "2"})
    assert r.status_code == 303 and r.headers["location"].endswith("/conflicts?page=2")
    assert "of 4 (page 2 of 2)" in owner.get("/conflicts?page=2").text


@pytest.mark.parametrize("bad", [0, -3])
def test_conflict_list_refuses_a_page_size_below_one(bad):
    """views.conflict_list takes ``per_page`` from its callers only (the app passes none): 0
    or a negative size is a programming error, named, not a page of odd slices."""
    from evsynth.web import views

    with pytest.raises(ValueError, match="per_page must be at least 1"):
        views.conflict_list(None, None, None, 1, bad)  # type: ignore[arg-type]
