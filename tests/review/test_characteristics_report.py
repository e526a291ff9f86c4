"""'Characteristics of included studies' per comparison: the free-text columns of studies.csv
(methods, participants, interventions, outcomes, notes), the facts filled in from other columns
where they are empty (marked), escaping in HTML and Markdown."""

from __future__ import annotations

from pathlib import Path

from review_helpers import STUDIES, make_review

import evsynth.review
from evsynth.summaries.characteristics import FREE_TEXT, included_studies

HOSTILE = "<script>alert(1)</script> | *bold* [x](http://e.invalid)"


def test_free_text_columns_are_used() -> None:
    studies = [{"study_id": "A", "label": "Alpha 2001", "methods": "RCT, parallel",
                "participants": "120 adults", "interventions": "Drug vs placebo",
                "outcomes": "Pain at 4 weeks", "notes": "Funded by a charity",
                "design": "ignored", "n_randomised": 120},
               {"study_id": "B", "design": "randomised trial", "country": "Norway",
                "n_intervention": 20, "n_control": 21, "mean_age": 70.25,
                "percent_female": 80, "note": "data from the registry"}]
    rows = included_studies(studies, {"id": "c", "intervention": "Drug", "control": "Placebo"},
                            ["A", "B", "C"], {"B": ["Pain", "Pain", "Function"]})
    assert FREE_TEXT == ("methods", "participants", "interventions", "outcomes", "notes")
    a, b, c = rows
    assert a["label"] == "Alpha 2001" and a["derived"] == []
    assert [a[k] for k in FREE_TEXT] == ["RCT, parallel", "120 adults", "Drug vs placebo",
                                         "Pain at 4 weeks", "Funded by a charity"]
    assert b["methods"] == "randomised trial; country: Norway"
    assert b["participants"] == "20 intervention, 21 control; mean age 70.2 years; 80% female"
    assert b["interventions"] == "Drug versus Placebo"
    assert b["outcomes"] == "with data in outcomes.csv: Pain; Function"
    assert b["notes"] == "data from the registry"
    assert b["derived"] == ["methods", "participants", "interventions", "outcomes"]
    # a study not in studies.csv: nothing invented beyond the comparison's arms
    assert c["methods"] is None and c["participants"] is None and c["notes"] is None


def test_report_table_per_comparison(tmp_path: Path) -> None:
    studies = [dict(s) for s in STUDIES]
    studies[0].update(methods=HOSTILE, participants="40  adults   with pain",
                      interventions="A 10 mg", outcomes="pain (0-10)", notes="n/a")
    d = make_review(tmp_path / "review", studies=studies)
    res = evsynth.review.analyse(evsynth.review.load(d))
    r = res.to_dict()
    comp = r["comparisons"][0]
    rows = {x["study_id"]: x for x in comp["included_studies"]}
    assert list(rows) == comp["study_ids"]
    assert rows["S1"]["methods"] == HOSTILE and rows["S1"]["participants"] == "40 adults with pain"
    assert rows["S2"]["participants"] == "60 randomised" and "participants" in rows["S2"]["derived"]
    html = res.report_html()
    assert "Characteristics of included studies: " in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<td class="derived">60 randomised</td>' in html
    md = res.report_markdown()
    assert "| Study | Methods | Participants | Interventions | Outcomes | Notes |" in md
    line = next(x for x in md.splitlines() if x.startswith("| **S1** |"))
    assert "&lt;script&gt;" in line and "\\|" in line and "\\*bold\\*" in line
    assert line.count(" | ") == 5     # the pipe in the text does not add a cell


def test_example_tables(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2] / "examples" / "antibiotic_prophylaxis"
    r = evsynth.review.analyse(evsynth.review.load(root)).to_dict()
    rows = r["comparisons"][0]["included_studies"]
    assert len(rows) == 16
    kerver = next(x for x in rows if x["study_id"] == "Kerver 1988")
    assert kerver["participants"] == "49 intervention, 47 control"
    assert kerver["notes"].startswith("allocation concealment not adequate")
