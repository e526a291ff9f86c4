"""[[network]] in review.toml (evsynth.review.network): validation errors naming the file, table
and field; the vertebroplasty example's network section (what its partial data can estimate,
disconnected treatments listed); HTML escaping of hostile treatment names."""

from __future__ import annotations

from pathlib import Path

import pytest

from evsynth.errors import InputError
from evsynth.review.load import load_review
from evsynth.review.network import network_sections

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


def _folder(tmp_path: Path, network: str, rows: list[str] | None = None,
            names: tuple[str, str, str] = ("a", "b", "c")) -> Path:
    a, b, c = names
    (tmp_path / "review.toml").write_text(TOML + network, encoding="utf-8")
    (tmp_path / "studies.csv").write_text(STUDIES, encoding="utf-8")
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
    html = (out / "report.html").read_text(encoding="utf-8")
    md = (out / "report.md").read_text(encoding="utf-8")
    for text in (html, md):
        assert "Network meta-analyses" in text and "CINeMA" in text
    assert "League table" in html and "network.pain_late.graph" not in html  # inlined SVG
    assert (out / "figures" / "network.pain_late.graph.svg").exists()


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
