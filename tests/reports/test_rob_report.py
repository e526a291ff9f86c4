"""Risk of bias in the review report: results.json ``risk_of_bias`` section, the RoB table,
traffic-light and (weighted) summary plots in report.html / report.md / figures/, the RevMan
columns beside the forest plot, and the GRADE risk-of-bias prompt from the share of the
meta-analysis weight at high risk (Guyatt et al. 2011, GRADE guidelines 4)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "review"))

from review_helpers import STUDIES, make_review, write_csv  # noqa: E402

import evsynth.review  # noqa: E402
from evsynth.errors import InputError  # noqa: E402
from evsynth.reports.forest import analysis_data, forest_plot  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "antibiotic_prophylaxis"


@pytest.fixture(scope="module")
def example():
    return evsynth.review.analyse(evsynth.review.load(EXAMPLE))


def test_section_and_weight_share(example) -> None:
    """D'Amico 2009 (CD000022) as coded in metadat: the 7 trials without adequate allocation
    concealment are at high risk (D1 and overall); their share of the M-H random-effects
    weight is the 'not adequate' subtotal of the forest plot (34.0%)."""
    d = example.to_dict()
    sec = d["risk_of_bias"]
    assert sec["tools"]["Kerver 1988"] == "RoB 2"
    a = d["analyses"][0]
    high = [s for s in a["studies"] if s["risk_of_bias"] == "high"]
    assert len(high) == 7
    expected = sum(s["weight"] for s in high) / sum(s["weight"] for s in a["studies"])
    share = a["risk_of_bias_weight"]
    assert share["share"] == pytest.approx(expected, abs=1e-12)
    assert share["k_high"] == 7 and share["k"] == 16
    assert round(100 * share["share"], 1) == 34.0        # the forest plot's subtotal weight
    prompt = a["grade"]["prompts"]["risk_of_bias"]
    assert prompt.startswith("34% of the weight (7 of 16 studies) comes from studies at high "
                             "risk of bias")
    assert "GRADE guidelines 4" in prompt
    # the judgements: D1 high and overall high for Kerver, D1 low / overall empty for Ulrich
    js = {(r["study"], r["domain"]): r["judgement"] for r in sec["judgements"]
          if r["outcome"] is None}
    assert js["Kerver 1988", "D1"] == "high" and js["Kerver 1988", "overall"] == "high"
    assert js["Ulrich 1989", "D1"] == "low" and js["Ulrich 1989", "overall"] is None


def test_forest_columns(example) -> None:
    d = example.to_dict()
    a = d["analyses"][0]
    cols = a["risk_of_bias_columns"]
    assert cols["letters"] == ["A", "B", "C", "D", "E", "F"]
    rows = {s["study_id"]: r for s, r in zip(a["studies"], cols["rows"], strict=True)}
    assert rows["Kerver 1988"][0]["judgement"] == "high"
    assert rows["Kerver 1988"][5]["judgement"] == "high"
    assert rows["Ulrich 1989"][0]["judgement"] == "low"
    data = analysis_data(a)
    assert data is not None and data.rob is not None and data.rob.letters == cols["letters"]
    by_label = {s.label: s.rob for s in data.studies}
    assert by_label["Kerver 1988"][0][0] == "high"
    svg = forest_plot(a)
    texts = [t.get_text() for t in svg.axes[0].texts]
    assert "Risk of Bias" in texts and any(t.startswith("Risk of bias (RoB 2): (A)")
                                           for t in texts)
    gids = {c.get_gid() for ax in svg.axes for c in ax.collections}
    assert {"rob-col-A", "rob-col-F"} <= gids
    bad = dict(a, risk_of_bias_columns=dict(cols, rows=cols["rows"][:-1]))
    with pytest.raises(InputError, match="risk_of_bias_columns"):
        analysis_data(bad)


def test_report_shows_rob(example, tmp_path: Path) -> None:
    out = example.write(tmp_path / "out")
    d = example.to_dict()
    for f in d["risk_of_bias"]["figures"]:
        assert (out / f["svg"]).stat().st_size > 1000 and (out / f["png"]).is_file()
    kinds = sorted((f["kind"], f["weights"] is not None) for f in d["risk_of_bias"]["figures"])
    assert kinds == [("summary", False), ("summary", True), ("traffic_light", False)]
    weighted = next(f for f in d["risk_of_bias"]["figures"] if f["weights"])
    assert weighted["weights"] == {s["study_id"]: s["weight"] for s in d["analyses"][0]["studies"]}
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count('<figure class="rob"') == 3
    assert '<table class="rob">' in html and "Risk of bias (RoB 2)" in html
    assert re.search(r'<td class="rob-high"><span aria-label="high" role="img">X high', html)
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "rob.tps_vs_none.rob2.traffic_light.svg" in md
    assert "| **Kerver 1988** | X high |" in md


def test_weighted_summary_shares(example) -> None:
    """The weighted summary plot's numbers: the overall bar's high share is the analysis'
    share of weight at high risk (robvis weighted = TRUE)."""
    from evsynth.reports.html import rob_from_section

    d = example.to_dict()
    rob = rob_from_section(d["risk_of_bias"])
    f = next(f for f in d["risk_of_bias"]["figures"] if f["weights"])
    shares = rob.shares(None, f["studies"], weights=f["weights"])
    assert shares.loc["overall", "high"] == pytest.approx(
        d["analyses"][0]["risk_of_bias_weight"]["percent"])


def test_no_rob_no_section(tmp_path: Path) -> None:
    studies = [{k: v for k, v in s.items() if k != "rob_overall"} for s in STUDIES]
    toml = (make_review.__globals__["REVIEW_TOML"].split("[[subgroups]]")[0]
            + "[[grade]]" + make_review.__globals__["REVIEW_TOML"].split("[[grade]]")[1])
    d = make_review(tmp_path / "review", toml=toml, studies=studies)
    res = evsynth.review.analyse(evsynth.review.load(d)).to_dict()
    assert res["risk_of_bias"] is None
    for a in res["analyses"]:
        assert "risk_of_bias_columns" not in a and "risk_of_bias_weight" not in a
        assert "risk_of_bias" not in (a.get("grade") or {}).get("prompts", {})
    html = evsynth.review.analyse(evsynth.review.load(d)).report_html()
    assert '<table class="rob">' not in html and "Risk of Bias" not in html


def test_outcome_specific_and_robins_i(tmp_path: Path) -> None:
    """risk_of_bias.csv per outcome overrides the study level in that outcome's table,
    columns and weight share; a ROBINS-I study gets its own table."""
    d = make_review(tmp_path / "review")
    write_csv(d / "risk_of_bias.csv", [
        {"study": "S1", "outcome": "pain", "domain": "D3", "judgement": "high",
         "support": "<b>30% lost</b>"},
        {"study": "S1", "outcome": "pain", "domain": "overall", "judgement": "high",
         "support": ""}])
    res = evsynth.review.analyse(evsynth.review.load(d))
    r = res.to_dict()
    pain = next(a for a in r["analyses"] if a["outcome"]["id"] == "pain" and a["k"] >= 2)
    ids = [s["study_id"] for s in pain["studies"]]
    col = dict(zip(ids, pain["risk_of_bias_columns"]["rows"], strict=True))
    assert col["S1"][2]["judgement"] == "high" and col["S1"][5]["judgement"] == "high"
    assert pain["risk_of_bias_weight"]["k_high"] == sum(
        1 for s in pain["studies"] if s["study_id"] in ("S1", "S2", "S4"))
    tables = r["risk_of_bias"]["comparisons"][0]["tables"]
    assert [t["outcome"] for t in tables] == [None, "pain"]
    html = res.report_html()
    assert "Risk of bias (RoB 2, outcome pain)" in html
    assert "<b>30% lost</b>" not in html
    assert "Support for the risk-of-bias judgements (RoB 2, outcome pain)" in html
    assert "&lt;b&gt;30% lost&lt;/b&gt;" in html


def test_mixed_tools_one_table_per_tool(tmp_path: Path) -> None:
    """A ROBINS-I study beside RoB 2 studies: one table and plot pair per tool, no forest
    columns for an analysis that mixes tools (one legend per column set), and the weight share
    counts ROBINS-I 'serious' as high risk."""
    studies = [dict(s) for s in STUDIES]
    studies[1].update(rob_tool="ROBINS-I", rob_overall="", rob_d1="serious")
    d = make_review(tmp_path / "review", studies=studies)
    write_csv(d / "risk_of_bias.csv", [
        {"study": "S2", "outcome": "", "domain": "overall", "judgement": "Serious risk"}])
    res = evsynth.review.analyse(evsynth.review.load(d))
    r = res.to_dict()
    tables = r["risk_of_bias"]["comparisons"][0]["tables"]
    assert [(t["tool"], t["studies"]) for t in tables] == [("RoB 2", ["S1", "S3", "S4"]),
                                                           ("ROBINS-I", ["S2"])]
    ids = [f["id"] for f in r["risk_of_bias"]["figures"] if f["analysis"] is None]
    assert ids == ["rob.a_vs_b.rob2.traffic_light", "rob.a_vs_b.rob2.summary",
                   "rob.a_vs_b.robins-i.traffic_light", "rob.a_vs_b.robins-i.summary"]
    for a in r["analyses"]:
        sids = {s["study_id"] for s in a["studies"]}
        if "S2" in sids and len(sids) > 1:
            assert "risk_of_bias_columns" not in a
            high = [s for s in a["studies"] if s["study_id"] in ("S2", "S4")]
            assert a["risk_of_bias_weight"]["percent"] == pytest.approx(
                sum(s["weight"] for s in high) / sum(s["weight"] for s in a["studies"]) * 100)
    html = res.report_html()
    assert html.count('<table class="rob">') == 2 and "ROBINS-I: Sterne et al. 2016" in html
