"""Prioritised screening in the web app (issue 16, point 5): the order switch, the ranking
moving towards likely-relevant records, blind screening kept through the ranking, the plain
order unchanged, the status panel with the buscar stopping aid."""

from __future__ import annotations

import html
import re
from urllib.parse import quote, unquote

import pytest
from starlette.testclient import TestClient
from web_helpers import csrf_of, login, make_review

from evsynth.records.prioritise import buscar_pvalue_ranked
from evsynth.records.settings import read_settings
from evsynth.web.app import create_app
from evsynth.web.ranking import ranking_cache
from evsynth.web.screenindex import screening_index

pytest.importorskip("sklearn")

HIP = "Hip fracture surgery outcomes in older patients, cohort {i}"
REEF = "Coral reef fish & \"kelp\" survey {i}"
#: plain order: two hip records, two reef records, 16 more reef records, then 10 hip records
TITLES = ([HIP.format(i=i) for i in (1, 2)] + [REEF.format(i=i) for i in range(1, 19)]
          + [HIP.format(i=i) for i in range(3, 13)])
IS_HIP = [t.startswith("Hip") for t in TITLES]
STAGE = "/screen/title-abstract"


@pytest.fixture
def prio_app(tmp_path):
    a = create_app(make_review(tmp_path / "review", titles=TITLES))
    yield a
    a.state.config.store.close()


@pytest.fixture
def ids(prio_app):
    return prio_app.state.config.store.record_ids()


def _client(app, name):
    return login(TestClient(app, follow_redirects=False), name)


def _current(page: str) -> str:
    m = re.search(r'name="record_id" value="([^"]+)"', page)
    assert m, page
    return html.unescape(m.group(1))


def _decide(client, rid: str, decision: str, order: str | None = None):
    data = {"csrf_token": csrf_of(client, STAGE), "record_id": rid, "decision": decision}
    if order:
        data["order"] = order
    return client.post(f"{STAGE}/decide", data=data)


def _train_first_four(client, ids):
    """Decide the first four records in the plain order: include hip, exclude reef."""
    for k in range(4):
        r = _decide(client, ids[k], "include" if IS_HIP[k] else "exclude")
        assert r.status_code == 303


def _settled(app, client, url: str) -> str:
    """The page after the background training its first request started has finished."""
    client.get(url)
    ranking_cache(app.state.config.store).wait()
    return client.get(url).text


def test_order_switch_default_plain_remembered_per_reviewer(prio_app):
    with _client(prio_app, "ann") as ann, _client(prio_app, "bob") as bob:
        page = ann.get(STAGE).text
        assert 'id="order-plain" href="/screen/title-abstract?order=plain" aria-current' in page
        assert "prio-status" not in page
        page = ann.get(f"{STAGE}?order=prioritised").text
        assert 'href="/screen/title-abstract?order=prioritised" aria-current' in page
        assert 'id="prio-status"' in page
        assert 'name="order" value="prioritised"' in page  # kept through a decision
        assert 'id="prio-status"' in ann.get(STAGE).text  # remembered for ann ...
        assert "prio-status" not in bob.get(STAGE).text  # ... not for bob
        assert "prio-status" not in ann.get(f"{STAGE}?order=plain").text
        assert "prio-status" not in ann.get(STAGE).text
        r = ann.get(f"{STAGE}?order=sideways")  # unknown: the remembered order
        assert r.status_code == 200 and "prio-status" not in r.text
    ranking_cache(prio_app.state.config.store).wait()


def test_prioritised_order_moves_to_relevant_records(prio_app, ids):
    with _client(prio_app, "ann") as ann:
        _train_first_four(ann, ids)
        # before a ranking is ready: the plain order, and the panel says so
        page = ann.get(f"{STAGE}?order=prioritised").text
        assert "being trained in the background" in page
        assert _current(page) == ids[4]
        ranking_cache(prio_app.state.config.store).wait()
        page = ann.get(f"{STAGE}?order=prioritised").text
        assert "Records ranked by relevance predicted from your 2 relevant" in page
        first = _current(page)
        assert IS_HIP[ids.index(first)] and ids.index(first) >= 20
        nxt = re.search(r'id="next-link" href="/screen/title-abstract\?rid=([^"&]+)&amp;'
                        r'order=prioritised"', page)
        assert nxt and IS_HIP[ids.index(unquote(nxt.group(1)))]
        # deciding in prioritised order stays in it; the hip records come first
        seen = []
        for _ in range(10):
            page = _settled(prio_app, ann, f"{STAGE}?order=prioritised")
            rid = _current(page)
            seen.append(IS_HIP[ids.index(rid)])
            r = _decide(ann, rid, "include" if seen[-1] else "exclude", "prioritised")
            assert r.status_code == 303 and r.headers["location"].endswith("&order=prioritised")
        assert all(seen), seen  # all ten remaining hip records before any reef record


def test_plain_order_unchanged(prio_app, ids):
    with _client(prio_app, "ann") as ann:
        _train_first_four(ann, ids)
        _settled(prio_app, ann, f"{STAGE}?order=prioritised")
        page = ann.get(f"{STAGE}?order=plain").text
        assert _current(page) == ids[4] and "prio-status" not in page
        assert 'name="order"' not in page
        r = _decide(ann, ids[4], "exclude")
        assert r.headers["location"] == f"{STAGE}?after={quote(ids[4], safe='')}"
        assert _current(ann.get(r.headers["location"]).text) == ids[5]
        nav = screening_index(prio_app.state.config.store).state(
            read_settings(prio_app.state.config.review_dir).screening, "title-abstract", "ann",
            None, ids[4])
        assert nav is not None and nav["current"] == ids[5] and nav["next"] == ids[6]


def test_blind_screening_not_leaked_through_the_ranking(prio_app, ids):
    store = prio_app.state.config.store
    settings = read_settings(prio_app.state.config.review_dir).screening
    cache = ranking_cache(store)
    with _client(prio_app, "ann") as ann, _client(prio_app, "bob") as bob:
        _train_first_four(ann, ids)
        before = cache.train(settings, "title-abstract", "ann")
        # bob decides the opposite way on many records, ann's too
        for k in range(12):
            assert _decide(bob, ids[k], "exclude" if IS_HIP[k] else "include").status_code == 303
        after = cache.train(settings, "title-abstract", "ann")
        assert after.ranked == before.ranked and after.ranked is not None
        assert (after.n_relevant, after.n_irrelevant, after.p_value, after.remaining) == \
            (before.n_relevant, before.n_irrelevant, before.p_value, before.remaining)
        page = _settled(prio_app, ann, f"{STAGE}?order=prioritised")
        assert IS_HIP[ids.index(_current(page))]
        assert re.search(r'id="prio-found">2 of the 4 records you decided<', page)
        # bob's own ranking learns from bob's decisions only: reef first for him
        page = _settled(prio_app, bob, f"{STAGE}?order=prioritised")
        assert not IS_HIP[ids.index(_current(page))]
        assert re.search(r'id="prio-found">10 of the 12 records you decided<', page)


def test_status_panel(prio_app, ids):
    with _client(prio_app, "ann") as ann:
        page = _settled(prio_app, ann, f"{STAGE}?order=prioritised")
        assert "Plain order for now: decisions of both kinds are needed" in page
        assert 'id="prio-pvalue"' not in page  # nothing found yet: no p-value
        _train_first_four(ann, ids)
        labels = [1, 1, 0, 0]
        for _ in range(12):
            page = _settled(prio_app, ann, f"{STAGE}?order=prioritised")
            rid = _current(page)
            labels.append(int(IS_HIP[ids.index(rid)]))
            _decide(ann, rid, "include" if labels[-1] else "exclude", "prioritised")
        page = _settled(prio_app, ann, f"{STAGE}?order=prioritised")
        assert re.search(r'id="prio-found">12 of the 16 records you decided<', page)
        remaining = re.search(r'id="prio-remaining">about ([0-9.]+) among the 14 ', page)
        assert remaining and float(remaining.group(1)) == pytest.approx(12 / 16 * 14, abs=0.05)
        p = buscar_pvalue_ranked(labels, len(ids), 0.95)
        m = re.search(r'id="prio-pvalue">([^:<]+)', page)
        assert m and float(m.group(1)) == pytest.approx(p, rel=1e-2)
        assert "recall is below 95%" in page
        assert "Syst Rev 9:273" in page and "doi.org/10.1186/s13643-020-01521-4" in page
        # record text in the prioritised page is escaped like everywhere else (test_web_security:
        # XSS payloads)
        page = ann.get(f"{STAGE}?rid={ids[5]}&order=prioritised").text
        assert 'fish &amp; &#34;kelp&#34; survey 4' in page and '"kelp"' not in page


def test_full_text_stage_prioritised(prio_app, ids):
    with _client(prio_app, "ann") as ann, _client(prio_app, "bob") as bob:
        for c in (ann, bob):
            for k in range(6):
                _decide(c, ids[k], "include" if IS_HIP[k] else "exclude")
        page = _settled(prio_app, ann, "/screen/full-text?order=prioritised")
        assert 'id="prio-status"' in page and _current(page) in (ids[0], ids[1])
