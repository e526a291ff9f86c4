"""The Markdown report: same content as the HTML report, escaped, with image links."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "summaries"))

import sof_samples  # noqa: E402

from evsynth.errors import InputError  # noqa: E402
from evsynth.reports.markdown import md, render_markdown  # noqa: E402

ISSUE = ("Pain was 0.7 points lower (0.3 to 1.2 lower) with vertebroplasty than with placebo, "
         "7% of the 0 to 10 scale. The mean pain score was 5 points with placebo and 4.3 points "
         "(3.8 to 4.7) with vertebroplasty.")


def paths(r):
    return {a["id"]: f"figures/{a['id']}.forest.svg" for a in r["analyses"]}


def test_sections_tables_and_images():
    r = sof_samples.results()
    text = render_markdown(r, paths(r))
    assert text.startswith("# Vertebroplasty for osteoporotic")
    for want in ("## Vertebroplasty vs placebo", "### Study characteristics",
                 "### Summary of findings", "### Key results", "## Methods", "## Provenance",
                 "#### Studies left out", ISSUE, "| **Trials** | 3 |",
                 "![Figure 1. Forest plot: Pain: 6 to 12 months, Vertebroplasty vs placebo]"
                 "(figures/vp\\_vs\\_placebo.pain.late.forest.svg)".replace("\\_", "_"),
                 "| Outcomes | Anticipated absolute effects\\* (95% CI): With Placebo |",
                 "mean 4.3 points (3.8 to 4.7)<br>MD 0.7 points lower",
                 "230 per 1000", "RR 0.80 (0.60 to 1.07)"):
        assert want in text, want
    # every table row has the header's number of cells
    for block in text.split("\n\n"):
        lines = [ln for ln in block.splitlines() if ln.startswith("|")]
        if lines:
            n = lines[0].count(" | ")
            assert all(ln.replace("\\|", "").count(" | ") == n for ln in lines[2:]), block


def test_hostile_text_is_escaped():
    r = sof_samples.results(hostile=True)
    text = render_markdown(r, paths(r))
    assert "<script" not in text and "<img" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "# Review &lt;script&gt;alert('t')&lt;/script&gt; &amp; friends" in text
    assert "sign &lt;b&gt;unknown&lt;/b&gt; &amp; unclear" in text


@pytest.mark.parametrize("raw,want", [
    ("a | b", "a \\| b"), ("*x* _y_ [z](u)", "\\*x\\* \\_y\\_ \\[z\\](u)"),
    ("# title", "\\# title"), ("- item", "\\- item"), ("1. one", "1\\. one"),
    ("-0.70", "-0.70"), ("line\nbreak", "line break"), ("<b>&", "&lt;b&gt;&amp;")])
def test_md_escape(raw, want):
    assert md(raw) == want


def test_missing_figures_and_bad_input():
    r = sof_samples.results()
    text = render_markdown(r, {})
    assert text.count("forest plot not available") == len(r["analyses"])
    with pytest.raises(InputError, match="figure_paths"):
        render_markdown(r, ["x"])
    with pytest.raises(InputError, match="analyses"):
        render_markdown({}, {})


def test_link_targets_are_encoded():
    r = sof_samples.results()
    aid = r["analyses"][0]["id"]
    text = render_markdown(r, {aid: "figures/a b (1).svg"})
    assert "(figures/a%20b%20%281%29.svg)" in text
