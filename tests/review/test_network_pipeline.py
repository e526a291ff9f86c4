"""[[network]] in review.toml (evsynth.review.network): validation errors naming the file, table
and field; the vertebroplasty example's network section (what its partial data can estimate,
disconnected treatments listed) checked against the fit objects (league table, P-scores, SUCRA,
design-by-treatment test, node-split, contribution matrix, CINeMA prompts); a network with a
loop (node-split table, net heat plot, CINeMA incoherence and within-study bias computed);
escaping of hostile treatment names in HTML, Markdown and Word."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evsynth.errors import InputError
from evsynth.review.load import load_review
from evsynth.review.network import network_sections, refit

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vertebroplasty"

TOML = """title = "t"
[[comparisons]]
id = "a_vs_b"
intervention = "a"
control = "b"
[[outcomes]]
id = "pain"
kind = "continuous"
direction = "lower_is_better"
measure = "MD"
mid = 1
[[windows]]
id = "w"
weeks = [0, 10]
rule = "latest"
"""
STUDIES = "study_id\ns1\ns2\ns3\n"
STUDIES_ROB = "study_id,rob_overall\ns1,low\ns2,high\ns3,some concerns\n"


def _folder(tmp_path: Path, network: str, rows: list[str] | None = None,
            names: tuple[str, str, str] = ("a", "b", "c"), studies: str = STUDIES) -> Path:
    a, b, c = names
    (tmp_path / "review.toml").write_text(TOML + network, encoding="utf-8")
    (tmp_path / "studies.csv").write_text(studies, encoding="utf-8")
    head = "study_id,outcome,timepoint_weeks,treatment,value_type,n,mean,sd\n"
    rows = rows or [f"s1,pain,4,{a},final,50,3.0,2", f"s1,pain,4,{b},final,50,4.0,2",
                    f"s1,pain,4,{c},final,50,3.5,2", f"s2,pain,4,{a},final,40,2.8,2",
                    f"s2,pain,4,{b},final,40,4.1,2", f"s3,pain,4,{b},final,30,4.0,2",
                    f"s3,pain,4,{c},final,30,3.2,2"]
    (tmp_path / "outcomes.csv").write_text(head + "\n".join(rows) + "\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(("network", "match"), [
    ('[[network]]\nid = "n"\noutcome = "pian"\ntime = "w"\n',
     r"network\[0\]\.outcome' \(id 'n'\): 'pian' is not an outcome id \(did you mean 'pain'\?\)"),
    ('[[network]]\nid = "n"\noutcome = "pain"\ntime = "x"\n',
     r"network\[0\]\.time' \(id 'n'\): 'x' is not a window id"),
    ('[[network]]\nid = "n"\noutcome = "pain"\ntime = "w"\ntreatments = ["a", "bb"]\n',
     r"network\[0\]\.treatments' \(id 'n'\): treatment 'bb' has no row"),
    ('[[network]]\nid = "n"\noutcome = "pain"\ntime = "w"\nreference = "z"\n',
     r"network\[0\]\.reference' \(id 'n'\): 'z' is not a treatment of the network"),
    ('[[network]]\nid = "n"\noutcome = "pain"\ntime = "w"\nmeasure = "OR"\n',
     r"network\[0\]\.measure' \(id 'n'\): 'OR' does not fit the continuous outcome"),
    ('[[network]]\nid = "n"\noutcome = "pain"\ntime = "w"\nsmall_values = "undesirable"\n',
     r"network\[0\]\.small_values' \(id 'n'\): 'undesirable' contradicts the direction"),
    ('[[network]]\nid = "n"\noutcome = "pain"\ntime = "w"\n[[network.cinema]]\n'
     'treatments = ["a", "b"]\nimprecision = { judgement = "awful" }\n',
     r"network\[0\]' \(id 'n'\) cinema\[0\]: field 'imprecision.judgement'"),
    ('[[network]]\nid = "n"\noutcome = "pain"\ntime = "w"\ncolour = "red"\n',
     r"review.toml: key 'network\[0\]\.colour' \(id 'n'\): unknown key"),
])
def test_network_validation_errors(tmp_path: Path, network: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        load_review(_folder(tmp_path, network))


def test_network_fit_and_cinema_judgement(tmp_path: Path) -> None:
    net = ('[[network]]\nid = "n"\noutcome = "pain"\ntime = "w"\nreference = "b"\n'
           'model = "common"\n[[network.cinema]]\ntreatments = ["a", "b"]\n'
           'imprecision = { judgement = "some concerns", reason = "small trials" }\n')
    sec = network_sections(load_review(_folder(tmp_path, net)))[0]
    assert sec["fitted"] and sec["fitted_treatments"] == ["a", "b", "c"]
    assert sec["k"] == 3 and sec["m"] == 5   # the three-arm trial gives three pairs
    row = next(r for r in sec["cinema"]["rows"] if {r["treat1"], r["treat2"]} == {"a", "b"})
    imp = row["domains"]["imprecision"]
    assert imp["reviewer"] == "some concerns" and imp["suggested"] in ("no concerns",
                                                                      "some concerns",
                                                                      "major concerns")
    assert row["evidence"] == "direct and indirect"


def test_disconnected_network_fits_the_reference_component(tmp_path: Path) -> None:
    rows = ["s1,pain,4,a,final,50,3.0,2", "s1,pain,4,b,final,50,4.0,2",
            "s2,pain,4,c,final,40,2.8,2", "s2,pain,4,d,final,40,4.1,2"]
    net = '[[network]]\nid = "n"\noutcome = "pain"\ntime = "w"\nreference = "c"\n'
    sec = network_sections(load_review(_folder(tmp_path, net, rows)))[0]
    assert sec["fitted"] and sec["fitted_treatments"] == ["c", "d"]
    assert "not connected" in sec["message"]
    assert sec["left_out"] == [{"treatments": ["a", "b"], "studies": ["s1"],
                                "reason": "not connected to 'c' (a separate sub-network)"}]


def test_loop_gives_node_split_global_test_netheat_and_within_study_bias(tmp_path: Path
                                                                        ) -> None:
    # designs a:b:c, a:b and b:c: a loop between designs (between-designs df = 2)
    net = '[[network]]\nid = "n"\noutcome = "pain"\ntime = "w"\nreference = "b"\n'
    sec = network_sections(load_review(_folder(tmp_path, net, studies=STUDIES_ROB)))[0]
    fit = refit(sec)
    model = sec["settings"]["model"]
    dbt = sec["inconsistency"]["decomp_design"]["design_by_treatment"]
    r = fit.decomp_design().q_inc_random.iloc[0]
    assert dbt["df"] == 2 and dbt["Q"] == pytest.approx(float(r["Q"]))
    split = getattr(fit.netsplit(), model)
    rows = {x["comparison"]: x for x in sec["inconsistency"]["netsplit"]["rows"]}
    for rec in split.to_dict("records"):
        got = rows[rec["comparison"]]
        assert got["p"] == pytest.approx(rec["pval"]) and got["both"]
    assert sec["netheat_available"]
    ps = fit.p_scores(model=model).frame
    assert [x["pscore"] for x in sec["rankings"]["p_scores"]] == pytest.approx(
        list(ps["pscore"]))
    study = fit.contribution(model=model).study
    assert np.allclose(sec["contribution"]["study_values"], 100 * study.to_numpy())
    for row in sec["cinema"]["rows"]:
        dom = row["domains"]
        assert row["evidence"] == "direct and indirect"
        assert dom["within_study_bias"]["suggested"] in ("no concerns", "some concerns",
                                                          "major concerns")
        assert dom["incoherence"]["suggested"] is not None
        assert "agree on" in dom["incoherence"]["reason"]
    ab = next(r for r in sec["cinema"]["rows"] if {r["treat1"], r["treat2"]} == {"a", "b"})
    # a vs b: s1 (three-arm, low) and s2 (high) carry the direct evidence
    pct = ab["domains"]["within_study_bias"]["figures"]["percent"]
    assert pct["low"] + pct["high"] + pct["some"] == pytest.approx(100, abs=0.2)
    assert pct["low"] > 0 and pct["high"] > 0


def test_loop_report_has_node_split_and_netheat(tmp_path: Path) -> None:
    from evsynth.review.pipeline import run

    (tmp_path / "rev").mkdir()
    folder = _folder(tmp_path / "rev", '[[network]]\nid = "n"\noutcome = "pain"\n'
                     'time = "w"\n', studies=STUDIES_ROB)
    run(folder, tmp_path / "out", quiet=True)
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "Node-splitting (back-calculation" in md and "Net heat plot" in md
    assert "Design-by-treatment interaction" in md and "Contribution matrix" in md
    assert (tmp_path / "out" / "figures" / "network.n.netheat.svg").exists()


def test_example_builds_network_section(tmp_path: Path) -> None:
    from evsynth.review.pipeline import run

    out = tmp_path / "out"
    results = run(EXAMPLE, out, quiet=True)
    nets = {s["id"]: s for s in results["networks"]}
    assert set(nets) == {"pain_late", "pain_early", "fracture_late"}
    late = nets["pain_late"]
    assert late["fitted"] and set(late["fitted_treatments"]) == {"vertebroplasty", "placebo",
                                                                 "kyphoplasty"}
    assert {x["treatments"][0] for x in late["left_out"]} == {"usual_care", "facet_injection"}
    assert any(x["study_id"] == "Firanescu 2018" and "sign convention" in x["reason"]
               for x in late["excluded"])
    frac = nets["fracture_late"]
    assert frac["settings"]["reference"] == "usual_care" and frac["k"] == 3
    # every number against the fit objects
    fit = refit(late)
    assert late["league"]["cells"] == fit.league_table(model="random").table.to_numpy().tolist()
    ps = fit.p_scores(model="random").frame
    assert [x["pscore"] for x in late["rankings"]["p_scores"]] == pytest.approx(
        list(ps["pscore"]))
    assert late["rankings"]["p_scores"][0] == {"treatment": "vertebroplasty",
                                               "pscore": pytest.approx(0.94383, abs=1e-5),
                                               "rank": 1}
    rp = fit.rank_probabilities(nsim=1000, seed=late["rankings"]["seed"], model="random")
    assert [x["sucra"] for x in late["rankings"]["sucra"]] == pytest.approx(
        list(rp.frame["sucra"]))
    assert late["inconsistency"]["decomp_design"]["design_by_treatment"]["df"] == 0
    assert not any(x["both"] for x in late["inconsistency"]["netsplit"]["rows"])
    assert not late["netheat_available"]   # no loop: no net heat plot
    cm = fit.contribution(model="random")
    assert np.allclose(late["contribution"]["values"], 100 * cm.frame.to_numpy())
    rows = {(r["treat1"], r["treat2"]): r for r in late["cinema"]["rows"]}
    assert rows[("vertebroplasty", "placebo")]["domains"]["incoherence"]["suggested"] == \
        "no concerns"   # direct evidence only
    assert rows[("placebo", "kyphoplasty")]["domains"]["incoherence"]["suggested"] is None
    wsb = rows[("vertebroplasty", "placebo")]["domains"]["within_study_bias"]
    assert wsb["suggested"] is None and "not assessed" in wsb["reason"]  # no RoB in the data
    html = (out / "report.html").read_text(encoding="utf-8")
    md = (out / "report.md").read_text(encoding="utf-8")
    for text in (html, md):
        assert "Network meta-analyses" in text and "CINeMA" in text
        assert "P-score" in text and "SUCRA" in text and "Rank probabilities" in text
        assert "Design-by-treatment interaction" in text and "Contribution matrix" in text
        assert "Node-splitting: no comparison has both direct and indirect evidence" in text
        # the contribution matrix names comparisons by the treatments' display labels
        assert "Vertebroplasty vs Placebo (sham procedure)" in text
        assert "vertebroplasty:placebo" not in text
    assert "League table, random effects model" in html
    assert "network.pain_late.graph" not in html  # inlined SVG
    for kind in ("graph", "forest", "rankogram"):
        assert (out / "figures" / f"network.pain_late.{kind}.svg").exists()
    assert not (out / "figures" / "network.pain_late.netheat.svg").exists()


def test_hostile_treatment_names_are_escaped(tmp_path: Path) -> None:
    from evsynth.review.pipeline import run

    names = ("<script>alert(1)</script>", "b&amp;\"x\"", "<img src=x onerror=y>")
    (tmp_path / "rev").mkdir()
    folder = _folder(tmp_path / "rev", '[[network]]\nid = "n"\noutcome = "pain"\ntime = "w"\n',
                     names=names)
    results = run(folder, tmp_path / "out", quiet=True)
    assert results["networks"][0]["fitted"]
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "<script>" not in md and "<img src=x" not in md


def test_hostile_treatment_names_in_docx(tmp_path: Path) -> None:
    import zipfile

    pytest.importorskip("docx")
    from evsynth.review.pipeline import run

    names = ("<script>alert(1)</script>", "b&amp;\"x\"", "<img src=x onerror=y>")
    (tmp_path / "rev").mkdir()
    folder = _folder(tmp_path / "rev", '[[network]]\nid = "n"\noutcome = "pain"\ntime = "w"\n',
                     names=names)
    run(folder, tmp_path / "out", quiet=True, docx=True)
    with zipfile.ZipFile(tmp_path / "out" / "report.docx") as z:
        xml = z.read("word/document.xml").decode("utf-8")
    assert "Network meta-analyses" in xml and "P-score" in xml and "Node-splitting" in xml
    assert "<script>" not in xml and "<img src=x" not in xml
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in xml
