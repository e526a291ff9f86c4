"""report.html of the vertebroplasty example with its records store, in a real browser
(headless Debian Chromium through playwright): the records section, the PRISMA 2020 SVG, the
search, agreement and excluded-studies tables are visible; no console errors, no network.
Skipped with a reason when /usr/bin/chromium or playwright is missing."""

from __future__ import annotations

from records_store_helpers import build_example_store

from evsynth.cli import main


def test_records_section_visible_in_the_browser(browser, tmp_path):  # type: ignore[no-untyped-def]
    folder = build_example_store(tmp_path / "vp")
    out = tmp_path / "out"
    assert main(["run", str(folder), "--out", str(out), "--quiet"]) == 0
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("request", lambda r: requests.append(r.url))
    page.goto((out / "report.html").resolve().as_uri(), wait_until="load")
    sec = page.locator("section#records")
    assert sec.count() == 1
    svg = page.locator("section#records figure.prisma svg")
    assert svg.count() == 1
    svg.scroll_into_view_if_needed()
    assert svg.is_visible()
    box = svg.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 300, box
    assert page.evaluate("e => e.querySelectorAll('path, use, text').length",
                         svg.element_handle()) > 50
    for table in ("table.searches", "table.agreement", "table.excluded"):
        t = page.locator(f"section#records {table}")
        assert t.count() == 1, table
        t.scroll_into_view_if_needed()
        assert t.is_visible(), table
    assert page.locator("section#records dl.study-reports dt").count() == 11
    text = sec.inner_text()
    assert "Characteristics of excluded studies" in text and "Diamond 2003" in text
    page.screenshot(path=str(tmp_path / "records.png"), full_page=True)
    page.close()
    assert not problems, problems
    assert all(u.startswith(("file://", "data:")) for u in requests), requests
