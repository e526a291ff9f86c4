"""The HTML report: self-contained, escaped, accessible, with every section of the issue."""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "summaries"))

import sof_samples  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from evsynth.errors import InputError  # noqa: E402
from evsynth.files import svg_string  # noqa: E402
from evsynth.reports.html import inline_svg, render_html  # noqa: E402

ISSUE = ("Pain was 0.7 points lower (0.3 to 1.2 lower) with vertebroplasty than with placebo, "
         "7% of the 0 to 10 scale. The mean pain score was 5 points with placebo and 4.3 points "
         "(3.8 to 4.7) with vertebroplasty.")


def simple_svg(label: str) -> str:
    fig = Figure(figsize=(4, 2))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1])
    ax.set_title(label)
    return svg_string(fig)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(doc: str) -> Tags:
    p = Tags()
    p.feed(doc)
    return p


@pytest.fixture(scope="module")
def hostile():
    r = sof_samples.results(hostile=True)
    svgs = {a["id"]: simple_svg(a["id"]) for a in r["analyses"]}
    return r, svgs, render_html(r, svgs)


def test_structure_and_sections(hostile):
    r, svgs, doc = hostile
    assert doc.startswith("<!DOCTYPE html>") and '<html lang="en">' in doc
    p = parse(doc)
    text = " ".join(" ".join(p.text).split())
    for want in ("Study characteristics", "Summary of findings", "Key results", "Methods",
                 "Provenance", "Sensitivity analyses", "Studies left out", "Subgroups by",
                 "Test for subgroup differences", "GRADE certainty levels", ISSUE,
                 "No study contributed data to this analysis", "⊕⊕⊕◯ Moderate",
                 "Vertebroplasty compared with Placebo: 3 trials", "restricted maximum likelihood",
                 "Tau² = 0.1000; Chi² = 3.10, df = 2 (P = 0.21); I² = 35%"):
        assert want in text, want
    figures = [a for t, a in p.tags if t == "figure"]
    assert len(figures) == len(svgs)
    assert sum(1 for t, _ in p.tags if t == "figcaption") == len(svgs)
    assert sum(1 for t, _ in p.tags if t == "svg") == len(svgs)
    assert all(a.get("role") == "img" and a.get("aria-label") for t, a in p.tags if t == "svg")
    scopes = [a.get("scope") for t, a in p.tags if t == "th"]
    assert "col" in scopes and "row" in scopes and "colgroup" in scopes
    assert sum(1 for t, _ in p.tags if t == "caption") >= 6


def test_everything_escaped_and_nothing_loaded(hostile):
    _, _, doc = hostile
    p = parse(doc)
    tags = {t for t, _ in p.tags}
    assert "script" not in tags and "img" not in tags and "link" not in tags
    assert "iframe" not in tags and "object" not in tags
    low = doc.lower()
    assert "<script" not in low and "<img" not in low
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in doc
    assert "&lt;img src=x onerror=alert(1)&gt;" in doc
    assert "Review &lt;script&gt;alert(&#x27;t&#x27;)&lt;/script&gt; &amp; friends" in doc
    assert "sign &lt;b&gt;unknown&lt;/b&gt; &amp; unclear" in doc
    assert not any("src" in a for _, a in p.tags)
    hrefs = [a["href"] for t, a in p.tags if "href" in a]
    assert hrefs and all(h.startswith("#") for h in hrefs)
    assert "@import" not in low and "url(http" not in low


def test_inline_svg_is_sanitised_and_ids_prefixed():
    bad = ('<?xml version="1.0"?><!DOCTYPE svg><!-- c --><svg xmlns="http://www.w3.org/2000/svg"'
           ' onload="alert(1)"><script>alert(2)</script><foreignObject><p>x</p></foreignObject>'
           '<defs><clipPath id="p1"><rect/></clipPath></defs>'
           '<a href="https://example.org/x"><use xlink:href="#p1"/></a>'
           '<g clip-path="url(#p1)"/></svg>')
    out = inline_svg(bad, "f7-", 'a "label" <x>')
    assert "<?xml" not in out and "DOCTYPE" not in out and "<!--" not in out
    assert "script" not in out and "foreignObject" not in out and "onload" not in out
    assert "example.org" not in out
    assert 'id="f7-p1"' in out and 'href="#f7-p1"' in out and "url(#f7-p1)" in out
    assert out.startswith('<svg role="img" aria-label="a &quot;label&quot; &lt;x&gt;"')
    with pytest.raises(InputError, match="not an SVG"):
        inline_svg("<html></html>", "f1-", "x")


def test_two_figures_do_not_share_ids():
    r = sof_samples.results()
    svg = simple_svg("same")
    doc = render_html(r, {a["id"]: svg for a in r["analyses"]})
    ids = [a["id"] for _, a in parse(doc).tags if "id" in a]
    assert len(ids) == len(set(ids))


def test_missing_figures_and_missing_summaries_are_handled():
    r = sof_samples.results()
    for a in r["analyses"]:
        a["sof"] = a["grade"] = a["plain_language"] = None
    for c in r["comparisons"]:
        c["characteristics"] = None
    doc = render_html(r, {})
    assert doc.count("forest plot not available") == len(r["analyses"])
    assert ISSUE in " ".join(" ".join(parse(doc).text).split())
    assert "Certainty not assessed" in doc


def test_bad_input():
    with pytest.raises(InputError, match="results"):
        render_html(None, {})
    with pytest.raises(InputError, match="analyses"):
        render_html({"review": {}}, {})
    with pytest.raises(InputError, match="figures_svg"):
        render_html(sof_samples.results(), ["x"])
    r = sof_samples.results()
    with pytest.raises(InputError, match="not an SVG"):
        render_html(r, {r["analyses"][0]["id"]: "not svg"})


def test_real_forest_plots_inline():
    forest = pytest.importorskip("evsynth.reports.forest")
    r = sof_samples.results(hostile=True)
    svgs = {a["id"]: svg_string(forest.forest_plot(a)) for a in r["analyses"]}
    doc = render_html(r, svgs)
    p = parse(doc)
    assert sum(1 for t, _ in p.tags if t == "svg") == len(svgs)
    assert "script" not in {t for t, _ in p.tags}
