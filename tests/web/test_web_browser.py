"""The web app's main flows in a real browser (issue 16, point 8): headless Debian Chromium
through playwright against a live uvicorn server on a free port.

One review folder, accounts made with ``evsynth users add``; then, in the browser: the owner
logs in with the keyboard, uploads a real PubMed export from ``../shared/data/records`` and a
small RIS file with a near-duplicate of one of its records (per-file counts), runs the
deduplication and merges the uncertain pair; reviewer 1 screens ten records with the keyboard
only (i, e + reason, a reason number, m, n, b); reviewer 2 screens some of them differently;
the owner resolves a conflict and sees the PRISMA counts change. Every page is checked for
console errors, page errors, Content-Security-Policy violations, failed or 4xx/5xx responses,
labelled form controls and a working skip link. Screenshots of every step go to
``$EVSYNTH_TEST_ARTIFACTS/web_browser/`` (default: the test's tmp_path).

Skipped with a reason when /usr/bin/chromium, playwright or the shared data are missing.
"""

from __future__ import annotations

import io
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_helpers import PASSWORD, live_server

from evsynth.records.store import Store
from fixture_data import SHARED

uvicorn = pytest.importorskip("uvicorn")

#: a real PubMed (MEDLINE nbib) export with 20 records (MIT, hash-bang/Reflib-Node)
EXPORT = SHARED / "data" / "records" / "medline" / "reflib_node" / "cancer.nbib"
N_EXPORT = 20
TOML = """
[screening]
exclusion_reasons_title_abstract = ["wrong population", "not a primary study"]
exclusion_reasons_full_text = ["wrong outcome"]
reviewers = ["ann", "bob"]
highlight_terms = ["cancer", "tumo*"]
"""
#: a second export: an exact copy of cancer.nbib record 3 (same DOI: merged automatically) and
#: a reworded title of record 5 by the same first author a year later (an uncertain pair)
NEAR_DUPLICATES = "\n".join([
    "TY  - JOUR",
    "TI  - Dual targeting luminescent gold nanoclusters for tumor imaging and deep tissue "
    "therapy.",
    "AU  - Chen, Dan", "PY  - 2016", "JO  - Biomaterials", "VL  - 100", "SP  - 1", "EP  - 16",
    "DO  - 10.1016/j.biomaterials.2016.05.017", "ER  - ", "",
    "TY  - JOUR",
    "TI  - Factors associated with the quality of life of caregivers of cancer patients in "
    "Mexico",
    "AU  - Doubova, S. V.", "PY  - 2017", "JO  - Quality of Life Research", "ER  - ", ""])
# (JS) every visible form control without a label, every button or link without a name
UNLABELLED_JS = """() => {
  const bad = [];
  const visible = e => !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length);
  for (const e of document.querySelectorAll('input, select, textarea')) {
    if (e.type === 'hidden') continue;
    const named = (e.labels && e.labels.length && [...e.labels].some(l => l.textContent.trim()))
      || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby');
    if (!named) bad.push('control ' + (e.id || e.name));
  }
  for (const e of document.querySelectorAll('button, a[href]')) {
    if (visible(e) && !(e.textContent.trim() || e.getAttribute('aria-label')))
      bad.push(e.tagName.toLowerCase() + ' without text: ' + e.outerHTML.slice(0, 80));
  }
  if (document.querySelectorAll('h1').length !== 1) bad.push('h1 count');
  if (!document.documentElement.lang) bad.push('no lang');
  if (!document.title.trim()) bad.push('no title');
  return bad;
}"""
# (init script) report Content-Security-Policy violations to the test through a binding
CSP_LISTENER = """document.addEventListener('securitypolicyviolation', e =>
  window.__evsynthCsp(e.violatedDirective + ' blocked ' + e.blockedURI));"""


def _add_user(review: Path, name: str, role: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``evsynth users add REVIEW NAME --role ROLE --password-stdin``, in process."""
    from evsynth.cli import main

    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["users", "add", str(review), name, "--role", role, "--password-stdin"]) == 0


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    base = os.environ.get("EVSYNTH_TEST_ARTIFACTS")
    d = (Path(base) if base else tmp_path) / "web_browser"
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture
def review(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if not EXPORT.exists():
        pytest.skip(f"{EXPORT} is missing (the shared ../shared/data/records folder)")
    r = tmp_path / "review"
    r.mkdir()
    (r / "review.toml").write_text(TOML, encoding="utf-8")
    for name, role in (("olga", "owner"), ("ann", "reviewer"), ("bob", "reviewer")):
        _add_user(r, name, role, monkeypatch)
    return r


@pytest.fixture
def server(review: Path) -> Iterator[str]:
    """The app over ``review`` served by uvicorn in a thread on a free port."""
    from evsynth.web.app import create_app

    app = create_app(review, max_upload=5 << 20, max_pdf=1 << 20)
    try:
        with live_server(app) as base:
            yield base
    finally:
        app.state.config.store.close()




class Session:
    """One user's browser context, with its problems (console errors, CSP violations, failed
    requests, error responses) collected and screenshots numbered in the artifact folder."""

    shots = 0

    def __init__(self, browser: Any, base: str, artifacts: Path, name: str) -> None:
        self.base, self.artifacts, self.name = base, artifacts, name
        self.context = browser.new_context(viewport={"width": 1200, "height": 900})
        self.problems: list[str] = []
        p = self.problems
        self.context.expose_binding("__evsynthCsp", lambda _src, v: p.append(f"CSP: {v}"))
        self.context.add_init_script(CSP_LISTENER)
        self.page = page = self.context.new_page()
        page.on("console", lambda m: p.append(f"console {m.type}: {m.text} "
                                              f"({m.location.get('url')})")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda exc: p.append(f"page error: {exc}"))
        # (a load cut short by the next navigation, e.g. the favicon, is "net::ERR_ABORTED")
        page.on("requestfailed", lambda r: p.append(f"request failed: {r.url} {r.failure}")
                if r.failure != "net::ERR_ABORTED" else None)
        page.on("response", lambda r: p.append(f"HTTP {r.status}: {r.url}")
                if r.status >= 400 else None)

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path, wait_until="load")

    def key(self, key: str) -> None:
        """Press a key that submits a form or follows a link; wait for the new page."""
        with self.page.expect_navigation(wait_until="load"):
            self.page.keyboard.press(key)

    def shot(self, label: str) -> Path:
        Session.shots += 1
        path = self.artifacts / f"{Session.shots:02d}-{self.name}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def check(self, label: str) -> None:
        """Screenshot, labelled controls, no problem so far."""
        self.shot(label)
        assert self.page.evaluate(UNLABELLED_JS) == [], label
        assert self.problems == [], (label, self.problems)

    def main_text(self) -> str:
        return str(self.page.inner_text("main"))

    def login(self) -> None:
        """Log in with the keyboard only (the user name field has autofocus)."""
        self.goto("/login")
        page = self.page
        page.bring_to_front()
        # autofocus is applied at the next rendering update after load
        page.wait_for_function("document.activeElement.id === 'username'", timeout=5000)
        page.keyboard.type(self.name)
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "password"
        page.keyboard.type(PASSWORD)
        self.key("Enter")
        assert page.url == self.base + "/", page.url
        assert f"{self.name} (" in page.inner_text("header")

    def skip_link_works(self) -> None:
        """The first Tab reaches the visible 'Skip to content' link, which moves focus to
        the main content."""
        page = self.page
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip"
        box = page.locator("a.skip").bounding_box()
        assert box is not None and box["x"] >= 0 and box["y"] >= 0
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("", "none"), outline
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"

    def close(self) -> None:
        self.context.close()


def current_record(page: Any) -> str:
    return str(page.input_value('#decide input[name="record_id"]'))


def progress_line(page: Any) -> str:
    return str(page.inner_text("main p[role=status]"))


def prisma_svg(s: Session) -> str:
    """The lines of text of the diagram as the browser session gets it (matplotlib draws
    text as paths and keeps each line in a comment)."""
    r = s.context.request.get(s.base + "/prisma.svg")
    assert r.status == 200 and r.headers["content-type"].startswith("image/svg+xml")
    return "\n".join(re.findall(r"<!-- (.*?) -->", r.text()))


def prisma_table(s: Session) -> dict[str, str]:
    s.goto("/prisma")
    rows = s.page.eval_on_selector_all(
        "main table tbody tr", "rs => rs.map(r => [r.querySelector('th').textContent, "
        "r.querySelector('td').textContent])")
    img_ok = s.page.eval_on_selector("img.prisma", "i => i.complete && i.naturalWidth > 0")
    assert img_ok, "the PRISMA SVG did not load"
    return {k: v for k, v in rows}


def latest_decisions_of(review: Path, reviewer: str) -> dict[str, tuple[str, str | None]]:
    with Store(review) as s:
        h = s.decision_history("title-abstract")
    h = h[(h["reviewer"] == reviewer) & (h["kind"] == "screen")]
    out: dict[str, tuple[str, str | None]] = {}
    for r in h.to_dict("records"):
        out[r["record_id"]] = (r["decision"], r["reason"] or None)
    return out


def test_main_flows_in_chromium(browser, server, review, artifacts, tmp_path):
    t0 = time.monotonic()
    Session.shots = 0
    base = server

    # 1. the owner logs in (keyboard only); the login page's controls are labelled
    olga = Session(browser, base, artifacts, "olga")
    olga.goto("/")  # not logged in: redirected to the login form
    assert olga.page.url.startswith(base + "/login")
    olga.check("login-page")
    olga.login()
    olga.check("overview-empty")
    olga.skip_link_works()

    # 2. upload a real PubMed export, then a small RIS file; per-file counts
    olga.goto("/records")
    olga.check("records-empty")
    olga.page.set_input_files("#files", str(EXPORT))
    olga.page.fill("#database", "MEDLINE")
    with olga.page.expect_navigation():
        olga.page.click("button:has-text('Upload and import')")
    result = olga.page.inner_text("main div[role=status]")
    assert f"cancer.nbib: {N_EXPORT} records read [MEDLINE]" in result, result
    olga.check("uploaded-pubmed")
    near = tmp_path / "embase_export.ris"
    near.write_text(NEAR_DUPLICATES, encoding="utf-8")
    olga.page.set_input_files("#files", str(near))
    olga.page.fill("#database", "Embase")
    olga.page.select_option("#format", "ris")
    with olga.page.expect_navigation():
        olga.page.click("button:has-text('Upload and import')")
    result = olga.page.inner_text("main div[role=status]")
    assert "embase_export.ris: 2 records read [Embase]" in result, result
    rows = olga.page.inner_text("table")
    assert "cancer.nbib" in rows and "embase_export.ris" in rows
    olga.check("uploaded-ris")

    # 3. deduplicate; the uncertain pair shown side by side; merge it
    with olga.page.expect_navigation():
        olga.page.click("button:has-text('Find duplicates')")
    msg = olga.page.inner_text("main p.ok")
    assert msg.startswith(f"{N_EXPORT + 2} records; {N_EXPORT + 1} unique"), msg
    assert "1 uncertain pairs" in msg, msg
    olga.check("deduplicated")
    olga.goto("/duplicates")
    assert "1 to check; 0 decided" in olga.main_text()
    pair = olga.page.locator("section.pair")
    assert pair.count() == 1
    heads = pair.locator("thead th").all_inner_texts()
    assert set(heads[1:]) == {"cancer.nbib:5", "embase_export.ris:2"}, heads
    assert pair.locator("tr.differs").count() >= 1  # differing fields are marked
    olga.check("duplicate-pair")
    with olga.page.expect_navigation():
        pair.locator("button:has-text('Merge')").click()
    assert "0 to check; 1 decided" in olga.main_text()
    assert "merged" in olga.main_text()
    olga.check("duplicate-merged")
    olga.goto("/")
    assert f"{N_EXPORT} unique after deduplication" in olga.main_text()
    prisma_before = prisma_table(olga)
    svg_before = prisma_svg(olga)
    assert re.search(r"Records excluded\s*\(n = 0\)", svg_before)
    olga.check("prisma-before")

    # 4. reviewer 1 screens ten records with the keyboard only
    ann = Session(browser, base, artifacts, "ann")
    ann.login()
    ann.goto("/screen/title-abstract")
    page = ann.page
    assert f"decided 0 of {N_EXPORT} records" in progress_line(page)
    assert page.locator("mark.include").count() >= 1  # highlighted inclusion terms
    ann.check("screen-first")
    ann.skip_link_works()
    expected: dict[str, tuple[str, str | None]] = {}
    order: list[str] = []

    def decide(keys: list[str], decision: str, reason: str | None = None) -> None:
        rid = current_record(page)
        for k in keys[:-1]:
            page.keyboard.press(k)
        ann.key(keys[-1])
        expected[rid] = (decision, reason)
        order.append(rid)

    decide(["i"], "include")
    # e with no reason chosen moves focus to the reason list; arrow down, Enter excludes
    rid = current_record(page)
    page.keyboard.press("e")
    assert page.evaluate("document.activeElement.id") == "reason"
    ann.shot("reason-focused")
    page.keyboard.press("ArrowDown")
    ann.key("Enter")
    expected[rid] = ("exclude", "wrong population")
    order.append(rid)
    decide(["2"], "exclude", "not a primary study")  # a reason number alone excludes
    decide(["m"], "maybe")
    skipped = current_record(page)
    ann.key("n")  # next: skip this one
    assert current_record(page) != skipped
    decide(["i"], "include")
    changed = order[-1]
    ann.key("b")  # back to the last decision, shown as the reviewer's own
    assert current_record(page) == changed
    assert "Your decision: include" in ann.main_text()
    ann.check("back")
    ann.key("m")  # deciding again replaces it
    expected[changed] = ("maybe", None)
    decide(["i"], "include")
    decide(["i"], "include")
    decide(["1"], "exclude", "wrong population")
    decide(["i"], "include")
    decide(["m"], "maybe")
    assert len(expected) == 10 and skipped not in expected
    assert f"decided 10 of {N_EXPORT} records" in progress_line(page)
    ann.check("screened-ten")
    assert latest_decisions_of(review, "ann") == expected

    # 5. reviewer 2 screens the first four records: two differently, one alike, one differently
    bob = Session(browser, base, artifacts, "bob")
    bob.login()
    bob.goto("/screen/title-abstract")
    first = order[:4]
    assert current_record(bob.page) == first[0]
    # blind screening: nothing of ann's decisions is shown to bob
    assert "Your decision" not in bob.main_text()
    assert not re.search(r"\bann\b", bob.main_text())
    bob.check("screen-blind")
    plan = [("1", ("exclude", "wrong population")), ("i", ("include", None)),
            ("2", ("exclude", "not a primary study")), ("i", ("include", None))]
    for rid, (k, _) in zip(first, plan, strict=True):
        assert current_record(bob.page) == rid
        bob.key(k)
    bob.check("screened-four")
    assert latest_decisions_of(review, "bob") == {
        rid: d for rid, (_, d) in zip(first, plan, strict=True)}
    assert expected[first[2]] == ("exclude", "not a primary study")  # the one they agree on

    # 6. the owner sees the conflicts and resolves one
    olga.goto("/conflicts")
    conflicts = olga.page.locator("section.conflict")
    n_conflicts = conflicts.count()
    assert n_conflicts == 3, olga.main_text()
    first_conflict = conflicts.filter(has_text=f"Record {first[0]} ")
    assert first_conflict.count() == 1
    votes = first_conflict.locator("li").all_inner_texts()
    assert sorted(votes) == ["ann: include", "bob: exclude (wrong population)"], votes
    olga.check("conflicts")
    with olga.page.expect_navigation():
        first_conflict.locator("button:has-text('Resolve: include')").click()
    assert olga.page.locator("section.conflict").count() == n_conflicts - 1
    assert f"Record {first[0]} " not in olga.main_text()
    olga.check("conflict-resolved")
    olga.goto("/progress")
    assert "conflicts 2" in olga.main_text()
    olga.check("progress")

    # 7. the PRISMA diagram reflects the screening
    prisma_after = prisma_table(olga)
    olga.check("prisma-after")
    # bob and ann agree on excluding one record; the resolved conflict is included; the
    # counts table under the diagram has the diagram's labels
    assert prisma_before["Records excluded"] == "0", prisma_before
    assert prisma_after["Records excluded"] == "1", prisma_after
    assert prisma_after["Reports sought for retrieval"] == "1", prisma_after
    svg_after = prisma_svg(olga)
    assert svg_after != svg_before
    assert re.search(r"Records excluded\s*\(n = 1\)", svg_after)
    assert re.search(r"Reports sought for retrieval\s*\(n = 1\)", svg_after)

    for s in (olga, ann, bob):
        assert s.problems == [], (s.name, s.problems)
        s.close()
    assert Session.shots >= 19
    assert all(p.stat().st_size > 5_000 for p in artifacts.glob("*.png"))
    assert time.monotonic() - t0 < 60
