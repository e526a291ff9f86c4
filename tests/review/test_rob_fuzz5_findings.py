"""Risk-of-bias findings of fuzz round 5, on a copy of examples/antibiotic_prophylaxis."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

import evsynth.review
from evsynth.errors import InputError
from evsynth.reports.rob import analysis_high_risk_share, read_risk_of_bias

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "antibiotic_prophylaxis"


@pytest.fixture
def example(tmp_path) -> Path:
    d = tmp_path / "review"
    shutil.copytree(EXAMPLE, d, ignore=shutil.ignore_patterns("output"))
    return d


def _clear_overall(folder: Path) -> None:
    """studies.csv without its rob_* judgements (they then come from risk_of_bias.csv only)."""
    path = folder / "studies.csv"
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["rob_randomisation"] = r["rob_overall"] = ""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_weight_at_high_risk_adds_a_studys_effects():
    """One row per effect (multilevel and robust analyses): a study kept only its last row's
    weight, so 60% at high risk read as 20% (the weighted figure showed 60%)."""
    a = {"outcome": {"id": "pain"}, "studies": [
        {"study_id": "A", "weight": 20.0, "risk_of_bias": "high"},
        {"study_id": "A", "weight": 20.0, "risk_of_bias": "high"},
        {"study_id": "A", "weight": 20.0, "risk_of_bias": "high"},
        {"study_id": "B", "weight": 40.0, "risk_of_bias": "low"}]}
    for rob in (None, read_risk_of_bias([{"study_id": "A", "rob_overall": "high"},
                                         {"study_id": "B", "rob_overall": "low"}])):
        share = analysis_high_risk_share(a, rob)
        assert share["percent"] == pytest.approx(60.0) and share["most_weight_high"]


def test_robins_overall_no_information_cannot_hide_a_critical_domain():
    """Sterne 2016, Table 3: overall 'no information' only without a clear indication of
    serious or critical risk; a critical D1 under it counted as not at high risk."""
    with pytest.raises(InputError, match=r"overall judgement 'no information' but D1 is "
                                         r"'critical'.*at least 'critical'"):
        read_risk_of_bias([{"study_id": "A", "rob_tool": "robins-i", "rob_d1": "critical",
                            "rob_overall": "no information"}])
    ok = read_risk_of_bias([{"study_id": "A", "rob_tool": "robins-i", "rob_d1": "moderate",
                             "rob_overall": "no information"}])
    assert ok.table().loc[0, "overall"] == "no information"


def test_overall_judgements_of_risk_of_bias_csv_reach_the_sensitivity_analysis(example):
    """Overall judgements given only in risk_of_bias.csv (as review-folder.md suggests for
    ROBINS-I) were ignored by 'excluding high risk of bias': it read studies.csv only."""
    _clear_overall(example)
    (example / "risk_of_bias.csv").write_text(
        "study,outcome,domain,judgement,support\n"
        "Stoutenbeek 2007,,D1,high,not concealed\n"
        "Stoutenbeek 2007,,overall,high,\n"
        "Krueger 2002,rti,D3,high,missing outcome data\n"
        "Krueger 2002,rti,overall,high,\n", encoding="utf-8")
    data = evsynth.review.analyse(evsynth.review.load(example)).to_dict()
    a = data["analyses"][0]
    rob = {s["study_id"]: s["risk_of_bias"] for s in a["studies"]}
    assert rob["Stoutenbeek 2007"] == "high" and rob["Krueger 2002"] == "high"
    sens = {s["name"]: s for s in a["sensitivity"]}
    excl = sens["excluding high risk of bias"]
    assert excl["k"] == a["k"] - 2
    assert excl["note"] == "left out: Krueger 2002, Stoutenbeek 2007"


@pytest.mark.parametrize("outcome", ["RTI", "mortality"])
def test_an_unknown_outcome_in_risk_of_bias_csv_is_refused(example, outcome):
    """A typo ('RTI' for 'rti') or another outcome was dropped silently, and the judgement
    never applied."""
    (example / "risk_of_bias.csv").write_text(
        "study,outcome,domain,judgement,support\n"
        f"Stoutenbeek 2007,{outcome},overall,high,\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"risk_of_bias.csv: study 'Stoutenbeek 2007': field "
                                         rf"'outcome' is '{outcome}'; expected an outcome id "
                                         r"of review.toml \(rti\)"):
        evsynth.review.analyse(evsynth.review.load(example))
    from evsynth.review.load import validate
    with pytest.raises(InputError, match="field 'outcome' is"):
        validate(example)


def test_a_multilevel_outcome_with_one_effect_does_not_stop_the_run(tmp_path):
    """Fuzz round 5: an outcome with dependence = "multilevel" and an analysis of one effect
    stopped the whole run ('REML needs more effect sizes than coefficients (k = 1, p = 1)');
    the one effect is now reported as it is (ML, z test), with a note, as meta() reports k = 1."""
    src = Path(__file__).resolve().parents[2] / "examples" / "vertebroplasty"
    d = tmp_path / "vp"
    shutil.copytree(src, d, ignore=shutil.ignore_patterns("output", "*.sqlite"))
    toml = (d / "review.toml").read_text(encoding="utf-8")
    head, sep, rest = toml.partition('id = "pain"\n')
    assert sep
    toml = head + sep + 'dependence = "multilevel"\n' + rest
    (d / "review.toml").write_text(toml, encoding="utf-8")
    data = evsynth.review.analyse(evsynth.review.load(d)).to_dict()
    one = [a for a in data["analyses"] if a["outcome"]["id"] == "pain" and a["k"] == 1]
    assert one
    for a in one:
        assert a["pooled"]["estimate"] == pytest.approx(a["studies"][0]["yi"], rel=1e-12)
        assert any(n.startswith("one effect: reported as it is") for n in a["notes"])
