"""report.html / report.md: the "Small-study effects and robustness" section of each analysis
(issue 4, "In the review pipeline"): funnel plot and tests when k >= 10, the Cochrane Handbook's
caution otherwise, leave-one-out and influence tables, all text escaped. The browser check of
the k >= 10 report lives in test_report_browser.py."""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "review"))

from small_study_helpers import make_small_study_review  # noqa: E402

from evsynth.errors import InputError  # noqa: E402
from evsynth.reports.html import render_html  # noqa: E402
from evsynth.reports.markdown import render_markdown  # noqa: E402
from evsynth.review.pipeline import run  # noqa: E402

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("ss_report")
    results = run(make_small_study_review(root / "review"), root / "out", quiet=True)
    return results, root / "out"


def test_html_has_funnel_tests_and_tables(finished):
    results, out = finished
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count("Small-study effects and robustness") == len(results["analyses"]) == 2
    funnels = re.findall(r'<figure class="funnel" data-analysis="([^"]+)"><svg role="img"', html)
    assert funnels == [a["id"] for a in results["analyses"]]
    assert html.count('<figure class="forest"') == 2
    for a in results["analyses"]:
        assert f"Leave-one-out analysis: {a['outcome']['label']}" in html
        assert f"Influence diagnostics: {a['outcome']['label']}" in html
        assert f"Tests for small-study effects: {a['outcome']['label']}" in html
        eg = a["small_study"]["egger"]
        assert f"t (df = {eg['df']}) = {eg['statistic']:.2f}" in html
        assert f"Kendall&#x27;s tau = {a['small_study']['begg']['tau']:.3f}" in html
        k0 = a["small_study"]["trimfill_k0"]
        assert f"{k0} {'study' if k0 == 1 else 'studies'} imputed on the right" in html
    # one leave-one-out and one influence row per study in each analysis
    # T01 heads a row of the leave-one-out and of the influence table of both analyses
    # (after the comparison's per-study tables: Characteristics of included studies, RoB)
    robustness = html[html.index("Small-study effects and robustness"):]
    assert robustness.count('<th scope="row">T01</th>') == 4
    # the inlined funnel SVG went through the sanitiser (ids prefixed per figure, no prolog)
    assert "<?xml" not in html and "<script" not in html.lower().replace("&lt;script", "")
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_markdown_links_funnel_and_has_tables(finished):
    results, out = finished
    text = (out / "report.md").read_text(encoding="utf-8")
    for a in results["analyses"]:
        assert f"](figures/{a['id']}.funnel.svg)" in text
        assert f"](figures/{a['id']}.forest.svg)" in text
    assert text.count("**Leave-one-out analysis:") == 2
    assert text.count("**Influence diagnostics:") == 2
    assert text.count("#### Small-study effects and robustness") == 2


def test_ratio_leave_one_out_shown_as_ratio(finished):
    results, out = finished
    a = next(a for a in results["analyses"] if a["measure"] == "OR")
    r = a["leave_one_out"]["rows"][0]
    html = (out / "report.html").read_text(encoding="utf-8")
    shown = f"{r['estimate']:.2f} [{r['ci_lb']:.2f}, {r['ci_ub']:.2f}]"
    assert shown in html and 0 < r["estimate"] < 1


def test_small_k_shows_the_caution_and_why_no_tables(finished):
    results, _ = finished
    small = copy.deepcopy(results)
    a = small["analyses"][0]
    a["k"] = 2
    a["small_study"] = {"k": 2, "assessed": False, "text": "k = 2: no funnel plot or test for "
                        "small-study effects. Tests for funnel plot asymmetry should be used only "
                        "when there are at least 10 studies (Cochrane Handbook 13.3.5.4).",
                        "egger_p": None, "begg_p": None, "trimfill_k0": None}
    note = "k = 2: leave-one-out and influence diagnostics need at least 3 studies"
    a["leave_one_out"] = {"rows": None, "note": note}
    a["influence"] = {"rows": None, "note": note}
    small["analyses"] = [a]
    html = render_html(small, {}, funnel_svg={a["id"]: "<svg></svg>"})
    assert "13.3.5.4" in html and html.count(note) == 1
    assert 'class="funnel"' not in html and "Leave-one-out analysis" not in html
    md = render_markdown(small, {}, funnel_paths={a["id"]: "figures/x.svg"})
    assert "13.3.5.4" in md and "x.svg" not in md


def test_missing_funnel_svg_says_so(finished):
    results, _ = finished
    html = render_html(results, {})
    assert 'class="funnel"' not in html
    assert html.count("funnel plot not available.") == 2


def test_hostile_text_in_tables_is_escaped(finished):
    results, _ = finished
    r = copy.deepcopy(results)
    a = r["analyses"][0]
    a["leave_one_out"]["rows"][0]["study_id"] = HOSTILE
    a["influence"]["rows"][0]["study_id"] = HOSTILE
    a["small_study"]["notes"] = [HOSTILE]
    html = render_html(r, {})
    assert HOSTILE not in html and html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3
    md = render_markdown(r, {})
    assert HOSTILE not in md


def test_bad_figure_dicts(finished):
    results, _ = finished
    with pytest.raises(InputError, match="funnel_svg is list"):
        render_html(results, {}, funnel_svg=["<svg/>"])
    with pytest.raises(InputError, match="funnel_paths is str"):
        render_markdown(results, {}, funnel_paths="figures/x.svg")
    with pytest.raises(InputError, match="not an SVG document"):
        render_html(results, {}, funnel_svg={results["analyses"][0]["id"]: "not svg"})
