"""Study characteristics per comparison: counts and ranges, missing facts never invented."""

from __future__ import annotations

import pytest
from sof_samples import STUDIES

from evsynth.errors import InputError
from evsynth.summaries.characteristics import summarise

COMP = {"id": "vp_vs_placebo", "label": "Vertebroplasty vs placebo"}


def test_full_summary():
    s = summarise(STUDIES, COMP, ["Comstock 2013", "Firanescu 2018", "Clark 2016"])
    assert s["trials"] == 3 and s["participants"]["total"] == 431
    assert s["participants"]["text"] == "431"
    assert s["countries"]["values"] == ["Australia", "Netherlands", "UK", "USA"]
    f = s["percent_female"]
    assert (f["min"], f["max"]) == (74.0, 78.0) and f["weighted"]
    assert f["mean"] == pytest.approx((131 * 78 + 180 * 75 + 120 * 74) / 431)
    assert s["age"]["text"] == "mean age 74 to 80 years"
    assert s["industry_funding"]["yes"] == 1 and s["industry_funding"]["no_role"] == 1
    assert "Comstock 2013: no role in the trial" in s["industry_funding"]["text"]
    assert [r[0] for r in s["rows"]][:3] == ["Trials", "Participants (randomised)", "Countries"]


def test_partial_and_missing_reported_not_invented():
    s = summarise(STUDIES, COMP, ["Dohm 2014", "Blasco 2012", "Klazen 2010"])
    assert s["age"]["text"] == "mean age 75.2 years (1 of 3 trials report it)"
    assert s["percent_female"]["text"].startswith("69%; participant-weighted mean 69%")
    assert s["symptom_duration"]["text"] == "not reported in studies.csv (0 of 3 trials)"
    assert s["percent_female"]["n_reporting"] == 1
    assert "2 of 2 trials reporting funding had industry funding" in \
        s["industry_funding"]["text"]
    assert "funder had no role in 0 of them" in s["industry_funding"]["text"]
    assert "(2 of 3 trials report it)" in s["industry_funding"]["text"]


def test_unweighted_mean_when_n_missing_and_arm_sizes():
    rows = [{"study_id": "A", "percent_female": 60, "n_intervention": 10, "n_control": 10},
            {"study_id": "B", "percent_female": 80}]
    s = summarise(rows, COMP, ["A", "B"])
    assert not s["percent_female"]["weighted"] and s["percent_female"]["mean"] == 70
    assert s["participants"]["total"] == 20
    assert s["participants"]["text"] == "20 (1 of 2 trials report it)"


def test_study_not_in_studies_csv_is_listed():
    s = summarise(STUDIES, COMP, ["Nobody 2020"])
    assert s["undescribed"] == ["Nobody 2020"]
    assert s["rows"][-1] == ["Not in studies.csv", "Nobody 2020"]


def test_bad_values():
    with pytest.raises(InputError, match="study 'A'.*'mean_age'.*'old'"):
        summarise([{"study_id": "A", "mean_age": "old"}], COMP, ["A"])
    with pytest.raises(InputError, match="'industry_funding' is 'maybe'"):
        summarise([{"study_id": "A", "industry_funding": "maybe"}], COMP, ["A"])
    with pytest.raises(InputError, match="row 1: field 'study_id'"):
        summarise([{"year": 2000}], COMP, [])
    with pytest.raises(InputError, match="comparison"):
        summarise([], None, [])


def test_age_ranges_listed():
    rows = [{"study_id": "A", "mean_age": 70, "age_range": "60-85"}, {"study_id": "B"}]
    s = summarise(rows, COMP, ["A", "B"])
    assert s["age"]["text"] == "mean age 70 years (1 of 2 trials report it); ranges: A: 60-85"
