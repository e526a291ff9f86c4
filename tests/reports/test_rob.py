"""Risk of bias (RoB 2, ROBINS-I): reading, validation, tables, robvis plots, forest columns and
the GRADE weight share."""

from __future__ import annotations

import json

import matplotlib
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

from evsynth.errors import InputError
from evsynth.files import figure_bytes
from evsynth.reports.rob import (
    COLOURS,
    ROB2,
    ROBINS_I,
    draw_forest_columns,
    normalise_judgement,
    read_risk_of_bias,
    share_of_weight_high_risk,
    tool_of,
)

matplotlib.use("Agg")


def studies() -> pd.DataFrame:
    return pd.DataFrame({
        "study_id": ["Kallmes 2009", "Buchbinder 2009", "Clark 2016", "Firanescu 2018"],
        "rob_d1": ["low", "Low", "LOW", "some"],
        "rob_d2": ["low", "Some Concerns", "low", "low"],
        "rob_d3": ["high", "low", "low", "low"],
        "rob_d4": ["low", "low", "", "low"],
        "rob_d5": ["low", "low", "low", "unclear"],
        "rob_overall": ["high", "some concerns", "low", "some concerns"],
        "note": ["x", None, None, None]})


def test_synonyms_and_canonical_spelling():
    rob = read_risk_of_bias(studies())
    tab = rob.table()
    assert list(tab.columns) == ["study", "tool", "D1", "D2", "D3", "D4", "D5", "overall"]
    assert tab.loc[1, "D2"] == "some concerns" and tab.loc[3, "D1"] == "some concerns"
    assert tab.loc[3, "D5"] == "some concerns"     # RoB 1's "unclear" accepted for RoB 2
    assert tab.loc[2, "D4"] is None                 # empty: not assessed, never guessed
    assert set(tab["tool"]) == {"RoB 2"}
    assert normalise_judgement("High risk of bias", "rob2") == "high"
    assert normalise_judgement("No Information", "ROBINS-I") == "no information"
    assert tool_of("RoB2") is ROB2 and tool_of("robins_i") is ROBINS_I


def test_named_schema_columns_are_rob2_domains():
    df = pd.DataFrame({"study_id": ["A"], "rob_randomisation": ["low"],
                       "rob_selection": ["high"], "rob_overall": ["high"]})
    tab = read_risk_of_bias(df).table()
    assert tab.loc[0, "D1"] == "low" and tab.loc[0, "D5"] == "high"
    df["rob_d1"] = ["high"]
    with pytest.raises(InputError, match=r"studies.csv line 2 \(study 'A'\).*already 'low'"):
        read_risk_of_bias(df)


@pytest.mark.parametrize("field,value,tool,msg", [
    ("rob_d2", "maybe", None, r"studies.csv line 3 \(study 'Buchbinder 2009'\): field "
                              r"'rob_d2' is 'maybe'; expected one of low, some concerns, high"),
    ("rob_d1", "moderate", None, r"field 'rob_d1' is 'moderate'; expected one of low, some "
                                 r"concerns, high \(RoB 2"),
    ("rob_d1", "unclear", "robins-i", r"field 'rob_d1' is 'unclear'; expected one of low, "
                                      r"moderate, serious, critical, no information \(ROBINS-I"),
    ("rob_d1", "some concerns", "robins-i", r"'some concerns'; expected one of low, moderate"),
])
def test_bad_values_name_file_line_study_field(field, value, tool, msg):
    df = studies()
    if tool:
        df["rob_tool"] = tool
        df["rob_overall"] = None
        df[["rob_d1", "rob_d2", "rob_d3", "rob_d4", "rob_d5"]] = None
    df.loc[1, field] = value
    with pytest.raises(InputError, match=msg):
        read_risk_of_bias(df)


def test_other_bad_inputs():
    with pytest.raises(InputError, match="field 'rob_tool' is 'rob1'"):
        read_risk_of_bias([{"study_id": "A", "rob_tool": "rob1"}])
    with pytest.raises(InputError, match="line 3: field 'study_id' is missing"):
        read_risk_of_bias([{"study_id": "A"}, {"study_id": ""}])
    with pytest.raises(InputError, match="appears twice"):
        read_risk_of_bias([{"study_id": "A"}, {"study_id": "A"}])
    with pytest.raises(InputError, match="RoB 2 has domains D1-D5 only"):
        read_risk_of_bias([{"study_id": "A", "rob_d6": "low"}])
    with pytest.raises(InputError, match="is a RoB 2 domain but the study is assessed with "
                                         "ROBINS-I"):
        read_risk_of_bias([{"study_id": "A", "rob_tool": "ROBINS-I",
                            "rob_randomisation": "low"}])
    with pytest.raises(InputError, match="expected a pandas DataFrame"):
        read_risk_of_bias(42)


def test_overall_milder_than_a_domain_is_refused():
    df = studies()
    df.loc[0, "rob_overall"] = "some concerns"     # D3 is high
    with pytest.raises(InputError, match="study 'Kallmes 2009'.*overall judgement 'some "
                                         "concerns' is milder than D3 \\('high'\\)"):
        read_risk_of_bias(df)
    assert read_risk_of_bias(df, check_overall=False).table().loc[0, "overall"] == \
        "some concerns"
    # ROBINS-I: "no information" is not ranked
    ok = [{"study_id": "N", "rob_tool": "robins-i", "rob_d1": "no information",
           "rob_d2": "serious", "rob_overall": "serious"}]
    assert read_risk_of_bias(ok).table().loc[0, "D1"] == "no information"


def test_per_outcome_overrides_and_long_table_errors():
    long = pd.DataFrame({
        "study": ["Kallmes 2009", "Kallmes 2009", "Clark 2016"],
        "outcome": ["pain", "pain", None],
        "domain": ["Bias due to missing outcome data", "overall", "D4"],
        "judgement": ["low", "low", "low"],
        "support": ["complete follow-up for pain", None, "blinded assessors"]})
    rob = read_risk_of_bias(studies(), long)
    assert rob.outcomes == ["pain"]
    assert rob.table().loc[0, "D3"] == "high"
    pain = rob.table("pain")
    assert pain.loc[0, "D3"] == "low" and pain.loc[0, "overall"] == "low"
    assert pain.loc[0, "D1"] == "low"              # not given per outcome: study level
    assert rob.table().loc[2, "D4"] == "low"       # study-level row of the long table
    f = rob.to_frame()
    sup = f[(f["study"] == "Kallmes 2009") & (f["outcome"] == "pain") & (f["domain"] == "D3")]
    assert sup["support"].tolist() == ["complete follow-up for pain"]
    bad = long.copy()
    bad.loc[2, "study"] = "Nobody 2000"
    with pytest.raises(InputError, match=r"risk_of_bias.csv line 4 \(study 'Nobody 2000'\): "
                                         "field 'study' is 'Nobody 2000', which is not in "
                                         "studies.csv"):
        read_risk_of_bias(studies(), bad)
    bad = long.copy()
    bad.loc[0, "domain"] = "D9"
    with pytest.raises(InputError, match="line 2 .*field 'domain' is 'D9'; expected a RoB 2 "
                                         "domain"):
        read_risk_of_bias(studies(), bad)
    bad = long.copy()
    bad.loc[2, "judgement"] = "high"               # studies.csv has D4 empty; fine...
    bad.loc[2, "domain"] = "D1"                    # ...but D1 is 'low' there
    with pytest.raises(InputError, match="study-level D1 is 'high' here but 'low' in "
                                         "studies.csv"):
        read_risk_of_bias(studies(), bad)
    bad = long.copy()
    bad.loc[1, "judgement"] = "some concerns"      # pain: D3 low, overall some: fine
    bad.loc[0, "judgement"] = "high"               # pain: D3 high, overall some: refused
    with pytest.raises(InputError, match="outcome 'pain'.*milder than D3"):
        read_risk_of_bias(studies(), bad)


def test_mixed_tools_and_robins_i_table():
    df = studies()
    extra = pd.DataFrame({"study_id": ["Cohort 2020"], "rob_tool": ["ROBINS-I"],
                          "rob_d1": ["Serious risk"], "rob_d7": ["critical"],
                          "rob_overall": ["critical"]})
    rob = read_risk_of_bias(pd.concat([df, extra], ignore_index=True))
    with pytest.raises(InputError, match="mix tools.*RoB 2: Kallmes 2009.*ROBINS-I: "
                                         "Cohort 2020"):
        rob.table()
    t = rob.table(studies=["Cohort 2020"])
    assert list(t.columns)[2:] == ["D1", "D2", "D3", "D4", "D5", "D6", "D7", "overall"]
    assert t.loc[0, "D1"] == "serious" and t.loc[0, "overall"] == "critical"
    with pytest.raises(InputError, match="study 'Nope' is not in the risk-of-bias table"):
        rob.table(studies=["Nope"])
    assert "ROBINS-I: 1 study; overall 1 critical" in str(rob.summary())


def test_html_and_markdown_escape_input():
    df = studies()
    df.loc[0, "study_id"] = "<script>alert(1)</script> | *x*"
    rob = read_risk_of_bias(df)
    h = rob.to_html()
    assert "<script>" not in h and "&lt;script&gt;" in h
    assert COLOURS["high"] in h and 'title="not assessed"' in h
    m = rob.to_markdown()
    assert "<script>" not in m and r"\| \*x\*" in m
    assert m.count("\n|") == 5                     # header rule + 4 studies
    block = rob.table_block()
    assert block["rows"][0][0] == df.loc[0, "study_id"]   # raw: the renderer escapes
    assert block["rows"][0][3] == {"text": "X", "cls": "rob-high", "aria": "high"}


def test_json_safe_dict():
    d = read_risk_of_bias(studies()).to_dict()
    text = json.dumps(d, allow_nan=False)
    assert "Kallmes 2009" in text and d["tools"]["Kallmes 2009"] == "rob2"


def test_traffic_light_circles_symbols_and_colours():
    rob = read_risk_of_bias(studies())
    fig = rob.traffic_light(labels={"Kallmes 2009": "Kallmes 2009 (INVEST)"})
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert "Kallmes 2009 (INVEST)" in texts and "Overall" in texts
    # 4 studies x 6 columns, one circle not assessed (Clark D4) -> 23 symbols
    assert sum(t in ("+", "-", "X") for t in texts) == 23
    coll = [c for c in ax.collections if c.get_gid() == "rob-circles"][0]
    faces = [matplotlib.colors.to_hex(c).upper() for c in coll.get_facecolors()]
    assert len(faces) == 24
    assert faces[2] == COLOURS["high"] and faces[0] == COLOURS["low"]   # Kallmes D3, D1
    assert faces[6 + 1] == COLOURS["concerns"]                          # Buchbinder D2
    assert faces[12 + 3] == "#FFFFFF"                                   # Clark D4 empty
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["Low risk", "Some concerns", "High risk", "Not assessed"]


def test_robins_i_colours_and_symbols():
    rob = read_risk_of_bias([{"study_id": "C", "rob_tool": "robins-i", "rob_d1": "low",
                              "rob_d2": "moderate", "rob_d3": "serious", "rob_d4": "critical",
                              "rob_d5": "ni", "rob_overall": "critical"}])
    ax = rob.traffic_light().axes[0]
    texts = [t.get_text() for t in ax.texts]
    for sym in ("+", "-", "X", "!", "?"):
        assert sym in texts
    coll = [c for c in ax.collections if c.get_gid() == "rob-circles"][0]
    faces = [matplotlib.colors.to_hex(c).upper() for c in coll.get_facecolors()]
    assert faces[:5] == [COLOURS[k] for k in ("low", "concerns", "high", "critical", "ni")]


def test_svg_is_reproducible():
    rob = read_risk_of_bias(studies())
    a = figure_bytes(rob.traffic_light(), "svg")
    b = figure_bytes(rob.traffic_light(), "svg")
    assert a == b
    a = figure_bytes(rob.summary_plot(weights=[1, 2, 3, 4]), "svg")
    assert a == figure_bytes(rob.summary_plot(weights=[1, 2, 3, 4]), "svg")


def test_summary_plot_shares_weighted_and_unweighted():
    rob = read_risk_of_bias(studies())
    sh = rob.shares()
    assert sh.loc["D1", "low"] == 75.0 and sh.loc["D1", "some concerns"] == 25.0
    assert sh.loc["D4", "not assessed"] == 25.0
    assert (sh.sum(axis=1).round(10) == 100).all()
    w = {"Kallmes 2009": 40, "Buchbinder 2009": 30, "Clark 2016": 20, "Firanescu 2018": 10}
    sh = rob.shares(weights=w)
    assert sh.loc["overall", "high"] == pytest.approx(40.0)
    assert sh.loc["overall", "some concerns"] == pytest.approx(40.0)
    fig = rob.summary_plot(weights=w)
    ax = fig.axes[0]
    bars = [p for p in ax.patches]
    widths = {(round(p.get_y(), 2), round(p.get_x(), 6)): p.get_width() for p in bars}
    assert pytest.approx(sum(widths.values())) == 600.0     # 6 bars x 100%
    assert ax.get_xlabel() == "Percentage of the weight"
    assert "Percentage of studies" == rob.summary_plot().axes[0].get_xlabel()
    with pytest.raises(InputError, match="weights' has 2 values for 4 studies"):
        rob.summary_plot(weights=[1, 2])
    with pytest.raises(InputError, match="study 'Kallmes 2009': field 'weight' is -1"):
        rob.summary_plot(weights=[-1, 2, 3, 4])


def test_forest_columns_and_drawing():
    rob = read_risk_of_bias(studies())
    cols = rob.forest_columns(["Clark 2016", "Kallmes 2009"])
    assert cols.letters == ["A", "B", "C", "D", "E", "F"]
    assert cols.legend[0] == "(A) Bias arising from the randomization process"
    assert cols.legend[-1] == "(F) Overall risk of bias"
    assert cols.rows[0][3] == (None, "", COLOURS["na"])          # Clark D4 not assessed
    assert cols.rows[1][2] == ("high", "X", COLOURS["high"])     # Kallmes D3
    json.dumps(cols.to_dict(), allow_nan=False)
    fig = Figure()
    ax = fig.add_subplot()
    draw_forest_columns(ax, [1.0, 2.0], cols, x0=5.0, dx=0.25, header_y=0.0)
    assert [t.get_text() for t in ax.texts if t.get_gid() and "head" in t.get_gid()] == \
        cols.letters
    assert len(ax.collections) == 6
    with pytest.raises(InputError, match="3 row positions for 2 studies"):
        draw_forest_columns(ax, [1, 2, 3], cols, x0=0)


def test_share_of_weight_high_risk_grade_prompt():
    # the example of the weight rule: two small high-risk trials, one large low-risk trial
    r = share_of_weight_high_risk([5.0, 7.5, 87.5], ["high", "high", "low"])
    assert r["percent"] == pytest.approx(12.5) and r["k_high"] == 2
    assert not r["most_weight_high"]
    assert r["text"] == ("12.5% of the weight (2 of 3 studies) comes from studies at high risk "
                         "of bias")
    r = share_of_weight_high_risk([60, 40], ["Serious", "low"])       # ROBINS-I vocabulary
    assert r["most_weight_high"] and r["share"] == pytest.approx(0.6)
    r = share_of_weight_high_risk([60, 40], ["critical", None], tool="robins-i")
    assert r["shares"] == {"critical": 60.0, "not assessed": 40.0}
    with pytest.raises(InputError, match="'unclear'; expected one of low, moderate"):
        share_of_weight_high_risk([1, 1], ["unclear", "low"], tool="robins-i")
    with pytest.raises(InputError, match="study in row 2: field 'judgement' is 'bad'"):
        share_of_weight_high_risk([1, 1], ["low", "bad"])
    with pytest.raises(InputError, match="no weight for study 'B'"):
        share_of_weight_high_risk({"A": 1}, {"A": "low", "B": "high"})


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 100), st.sampled_from(["low", "some concerns", "high",
                                                               None])),
                min_size=1, max_size=12))
def test_shares_sum_to_100_and_high_share_bounds(items):
    w = [x for x, _ in items]
    j = [y for _, y in items]
    if sum(w) <= 0:
        with pytest.raises(InputError):
            share_of_weight_high_risk(w, j)
        return
    r = share_of_weight_high_risk(w, j)
    assert 0 <= r["share"] <= 1
    assert sum(r["shares"].values()) == pytest.approx(100.0)
    assert r["percent"] == pytest.approx(r["shares"].get("high", 0.0))


def test_analysis_high_risk_share_from_results_json():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "summaries"))
    import sof_samples

    from evsynth.reports.rob import analysis_high_risk_share

    a = sof_samples.binary("RR")                     # three trials at high risk, 33.3% each
    r = analysis_high_risk_share(a)
    assert r["percent"] == pytest.approx(100.0) and r["most_weight_high"]
    a = sof_samples.continuous()                     # weights 40/35/25: low, low, some concerns
    assert analysis_high_risk_share(a)["percent"] == 0.0
    # with a RiskOfBias table: outcome-specific overall judgements win
    rob = read_risk_of_bias(
        [{"study_id": "Comstock 2013", "rob_overall": "low"},
         {"study_id": "Firanescu 2018", "rob_overall": "low"},
         {"study_id": "Clark 2016", "rob_tool": "robins-i", "rob_overall": "moderate"}],
        [{"study": "Comstock 2013", "outcome": "pain", "domain": "overall",
          "judgement": "high"}])
    r = analysis_high_risk_share(a, rob)
    assert r["percent"] == pytest.approx(40.0)
    assert r["shares"] == {"high": 40.0, "low": 35.0, "moderate": 25.0}
    assert analysis_high_risk_share({"studies": []}) is None


def test_columns_drawn_on_a_forest_plot_axes():
    """The helper draws on the forest plot's own Axes (inches, y downwards) and survives the
    forest figure's SVG export."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "summaries"))
    import sof_samples

    from evsynth.files import svg_string
    from evsynth.reports.forest import forest_plot

    a = sof_samples.continuous()
    fig = forest_plot(a)
    ax = fig.axes[0]
    ids = [s["study_id"] for s in a["studies"]]
    rob = read_risk_of_bias([{"study_id": i, "rob_overall": j, "rob_d1": j}
                             for i, j in zip(ids, ["low", "low", "some concerns"], strict=True)])
    cols = rob.forest_columns(ids)
    x0 = ax.get_xlim()[1] - 1.3
    draw_forest_columns(ax, [1.0, 1.2, 1.4], cols, x0=x0, dx=0.2, header_y=0.8)
    svg = svg_string(fig)
    assert 'id="rob-col-A"' in svg and 'id="rob-head-F"' in svg
    assert svg == svg_string(fig)                    # reproducible


def test_examples_of_docs_risk_of_bias_md_read():
    import io
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "risk-of-bias.md").read_text()
    blocks = re.findall(r"```csv\n(.*?)```", text, re.S)
    assert len(blocks) == 2
    rob = read_risk_of_bias(pd.read_csv(io.StringIO(blocks[0]), dtype=str),
                            pd.read_csv(io.StringIO(blocks[1]), dtype=str))
    assert rob.tools == {"Kallmes 2009": "rob2", "Buchbinder 2009": "rob2",
                         "Cohort 2020": "robins-i"}
    assert rob.table("pain", ["Kallmes 2009"]).loc[0, "overall"] == "low"
    assert rob.table("new_fracture", ["Kallmes 2009"]).loc[0, "D4"] == "high"
    assert rob.table(studies=["Cohort 2020"]).loc[0, "D5"] == "no information"


def test_reads_the_studies_of_results_json_and_long_labels():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "summaries"))
    import sof_samples

    res = sof_samples.results()
    rob = read_risk_of_bias(res["studies"])        # only rob_overall given: domains empty
    tab = rob.table()
    assert tab.set_index("study").loc["Clark 2016", "overall"] == "some concerns"
    assert tab["D1"].isna().all()
    long = "A very long study label that would not fit beside the circles (2020)"
    texts = [t.get_text() for t in rob.traffic_light(labels={"Clark 2016": long}).axes[0].texts]
    assert long[:39].rstrip() + "…" in texts


def test_load_from_a_review_folder(tmp_path):
    from evsynth.reports.rob import load_risk_of_bias

    (tmp_path / "studies.csv").write_text("study_id,year,rob_d1,rob_overall\nA,2001,,\n")
    assert load_risk_of_bias(tmp_path) is None       # no judgement anywhere
    (tmp_path / "risk_of_bias.csv").write_text(
        "study,outcome,domain,judgement,support\nA,pain,D1,high,\"sealed envelopes, opened\"\n"
        "A,pain,overall,high,\n")
    rob = load_risk_of_bias(tmp_path)
    assert rob.table("pain").loc[0, "D1"] == "high"
    (tmp_path / "risk_of_bias.csv").write_text(
        "study,outcome,domain,judgement\nA,pain,D1,high\nA,pain,D2,terrible\n")
    with pytest.raises(InputError, match=r"risk_of_bias.csv line 3 \(study 'A'\): field "
                                         "'judgement' is 'terrible'"):
        load_risk_of_bias(tmp_path)
    (tmp_path / "studies.csv").write_bytes(b"study_id\n\xff\xfe\n")
    with pytest.raises(InputError, match="cannot read"):
        load_risk_of_bias(tmp_path)
