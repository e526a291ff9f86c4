"""Bad review folders: InputError naming the file, the TOML key or CSV line, and the field."""

from __future__ import annotations

import copy

import pytest
from review_helpers import OUTCOMES, REVIEW_TOML, STUDIES, make_review

from evsynth.errors import InputError
from evsynth.review.load import load_review, validate


def _err(tmp_path, toml=REVIEW_TOML, studies=None, outcomes=None) -> str:
    d = make_review(tmp_path / "r", toml, studies, outcomes)
    with pytest.raises(InputError) as exc:
        load_review(d)
    return str(exc.value)


def test_valid_folder_loads_and_validates(review_dir):
    r = load_review(review_dir)
    assert len(r.studies) == 4 and len(r.outcomes) == len(OUTCOMES)
    lines = validate(review_dir)
    assert lines[0].startswith("OK: ")
    assert set(r.hashes) == {"review.toml", "studies.csv", "outcomes.csv"}


@pytest.mark.parametrize("old,new,expect", [
    ('measure = "MD"', 'measure = "OR"', ["review.toml", "outcomes[0]", "does not fit kind"]),
    ("scale = [0, 10]", "scale = [10, 0]", ["outcomes[0]", "min < max"]),
    ('direction = "lower_is_better"\nmid', 'direction = "down"\nmid',
     ["outcomes[0].direction", "lower_is_better"]),
    ("weeks = [26, 52]", "weeks = [10, 52]", ["windows[1].weeks", "overlaps"]),
    ("target_weeks = 4", "target_weeks = 40", ["windows[0]", "outside"]),
    ('method = "REML"', 'method = "BOGUS"',
     ["model.method", "argument 'method' is 'BOGUS'; expected one of"]),
    ('test = "z"', 'test = "q"', ["model.test"]),
    ("downgrade = 1", "downgrade = 3", ["grade[0].imprecision.downgrade"]),
    ('comparison = "a_vs_b"\noutcome = "pain"\nrisk_of_bias',
     'comparison = "zzz"\noutcome = "pain"\nrisk_of_bias', ["grade[0].comparison", "'zzz'"]),
    ('column = "rob_overall"', 'column = "nope"', ["subgroups[0].column", "'nope'"]),
    ("correlation = 0.5", "correlation = 1.5", ["change_scores.correlation"]),
    ('title = "Test review"', 'title = "Test review"\ncolour = "red"', ["colour", "unknown key"]),
    ('id = "early"', 'id = "late"', ["windows[1].id", "duplicate"]),
    ("mid = 1.5", "mid = -1", ["outcomes[0].mid"]),
])
def test_bad_review_toml(tmp_path, old, new, expect):
    assert old in REVIEW_TOML
    msg = _err(tmp_path, REVIEW_TOML.replace(old, new, 1))
    for e in expect:
        assert e in msg, msg


def test_toml_syntax_error(tmp_path):
    msg = _err(tmp_path, REVIEW_TOML + "\n[[broken\n")
    assert "review.toml" in msg and "not valid TOML" in msg


def test_missing_file(review_dir):
    (review_dir / "outcomes.csv").unlink()
    with pytest.raises(InputError, match="outcomes.csv: file not found"):
        load_review(review_dir)


def test_missing_folder(tmp_path):
    with pytest.raises(InputError, match="review folder not found"):
        load_review(tmp_path / "nope")


def _outcomes_with(i: int, **change) -> list[dict]:
    rows = copy.deepcopy(OUTCOMES)
    rows[i].update(change)
    return rows


@pytest.mark.parametrize("i,change,expect", [
    (0, {"sd": "-2"}, ["line 2", "'sd'", "greater than 0"]),
    (0, {"sd": "abc"}, ["line 2", "'sd'"]),
    (0, {"n": ""}, ["line 2", "needs 'n'"]),
    (1, {"arm": "both"}, ["line 3", "'arm'"]),
    (0, {"arm": ""}, ["line 2", "needs 'treatment'"]),
    (0, {"timepoint_weeks": "0"}, ["line 2", "timepoint_weeks", "greater than 0"]),
    (0, {"value_type": "final_value"}, ["line 2", "value_type"]),
    (0, {"study_id": "S9"}, ["line 2", "'S9'", "studies.csv"]),
    (0, {"comparison": "x_vs_y"}, ["line 2", "comparison", "'x_vs_y'"]),
    (0, {"outcome": "mood"}, ["line 2", "outcome", "'mood'"]),
    (10, {"direction": "sideways"}, ["line 12", "direction"]),
    (10, {"direction": "intervention_over_control"}, ["line 12", "direction"]),
    (10, {"ci_lb": "3.0"}, ["line 12", "ci_lb"]),
    (10, {"ci_lb": "", "ci_ub": ""}, ["line 12", "'se' or a confidence interval"]),
    (10, {"ci_ub": ""}, ["line 12", "both 'ci_lb' and 'ci_ub'"]),
    (10, {"measure": "OR"}, ["line 12"]),
    (10, {"arm": "intervention"}, ["line 12", "leave 'arm' empty"]),
    (10, {"n": "5"}, ["line 12", "'n' is for arm rows"]),
    (0, {"estimate": "1"}, ["line 2", "'estimate' is for contrast rows"]),
    (22, {"events": "30"}, ["line 24", "exceed total"]),
    (22, {"value_type": "final", "n": "10", "mean": "1", "sd": "1", "events": "", "total": ""},
     ["line 24", "binary outcome"]),
    (0, {"value_type": "events", "events": "1", "total": "20", "n": "", "mean": "", "sd": ""},
     ["line 2", "continuous outcome"]),
    (28, {"measure": "MD", "direction": "intervention_minus_control"},
     ["line 30", "'MD' for the binary outcome"]),
    (1, {"value_type": "change"}, ["lines 2, 3", "different value_type"]),
    (1, {"arm": "intervention"}, ["line 3", "duplicate of line 2"]),
])
def test_bad_outcome_rows(tmp_path, i, change, expect):
    msg = _err(tmp_path, outcomes=_outcomes_with(i, **change))
    assert "outcomes.csv" in msg
    for e in expect:
        assert e in msg, msg


@pytest.mark.parametrize("change,expect", [
    ({"year": "19"}, ["line 2", "'year'"]),
    ({"rob_overall": "medium"},
     ["line 2", "rob_overall", "'medium'", "some concerns, high (RoB 2"]),
    ({"rob_tool": "ROBINS-I", "rob_overall": "some concerns"},
     ["line 2", "rob_overall", "moderate, serious, critical"]),
    ({"percent_female": "120"}, ["line 2", "percent_female"]),
    ({"study_id": "S2"}, ["line 3", "duplicate"]),
])
def test_bad_study_rows(tmp_path, change, expect):
    studies = copy.deepcopy(STUDIES)
    studies[0].update(change)
    msg = _err(tmp_path, studies=studies)
    assert "studies.csv" in msg
    for e in expect:
        assert e in msg, msg


def test_extra_outcome_column_is_named(tmp_path):
    d = make_review(tmp_path / "r")
    text = (d / "outcomes.csv").read_text().replace("\n", ",\n")
    text = text.replace("note,\n", "note,colour\n", 1)
    (d / "outcomes.csv").write_text(text)
    with pytest.raises(InputError, match="line 1 .*unknown column.*'colour'"):
        load_review(d)


def test_row_with_too_many_cells(tmp_path):
    d = make_review(tmp_path / "r")
    lines = (d / "outcomes.csv").read_text().splitlines()
    lines[3] += ",extra"
    (d / "outcomes.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="line 4: more cells than header"):
        load_review(d)


def test_missing_header_column(tmp_path):
    d = make_review(tmp_path / "r")
    text = (d / "outcomes.csv").read_text().replace("value_type", "kind", 1)
    (d / "outcomes.csv").write_text(text)
    with pytest.raises(InputError, match="line 1 .*missing column.*'value_type'"):
        load_review(d)


def test_empty_studies_csv_values_allowed(tmp_path):
    """Unknown facts stay empty: only study_id is required."""
    studies = [{"study_id": s["study_id"], "country": "", "mean_age": ""} for s in STUDIES]
    toml = REVIEW_TOML.replace('column = "rob_overall"', 'column = "country"')
    d = make_review(tmp_path / "r", toml, studies)
    r = load_review(d)
    assert r.studies[0].mean_age is None and r.studies[0].country is None


def test_all_errors_listed(tmp_path):
    rows = _outcomes_with(0, sd="-1")
    rows[2]["n"] = "0"
    msg = _err(tmp_path, outcomes=rows)
    assert "2 errors" in msg and "line 2" in msg and "line 4" in msg


@pytest.mark.parametrize("key, value, call", [
    ("level", "0.4", lambda: __import__("evsynth").meta([0.1, 0.2], [0.1, 0.1], level=0.4)),
    ("level", "100", lambda: __import__("evsynth").meta([0.1, 0.2], [0.1, 0.1], level=100)),
    ("method", '"reml2"', lambda: __import__("evsynth").meta([0.1, 0.2], [0.1, 0.1],
                                                            method="reml2")),
    ("test", '"wald"', lambda: __import__("evsynth").meta([0.1, 0.2], [0.1, 0.1], test="wald")),
])
def test_model_settings_checked_as_meta_checks_them(tmp_path, key, value, call):
    """review.toml's [model] goes through evsynth.validation: the message is meta()'s, with the
    file and key in front (one rule for every entry point, issue 10)."""
    toml = REVIEW_TOML.replace("[model]\n", f"[model]\n{key} = {value}\n", 1)
    toml = toml.replace('method = "REML"\n', "", 1) if key == "method" else toml
    toml = toml.replace('test = "z"\n', "", 1) if key == "test" else toml
    msg = _err(tmp_path, toml)
    with pytest.raises(InputError) as direct:
        call()
    assert f"model.{key}" in msg and str(direct.value) in msg, msg


@pytest.mark.parametrize("key, value, stored", [("level", "0.9", 90.0), ("method", '"dl"', "DL"),
                                                ("test", '"HKSJ"', "knha")])
def test_model_settings_aliases_as_meta(tmp_path, key, value, stored):
    toml = REVIEW_TOML.replace("[model]\n", f"[model]\n{key} = {value}\n", 1)
    toml = toml.replace('method = "REML"\n', "", 1) if key == "method" else toml
    toml = toml.replace('test = "z"\n', "", 1) if key == "test" else toml
    review = load_review(make_review(tmp_path / "r", toml))
    assert getattr(review.config.model, key) == stored


def test_robins_i_judgements_and_multiline_cells(tmp_path):
    """ROBINS-I words are read for a study whose rob_tool says so (RoB 2 words are refused
    there), and a quoted studies.csv cell keeps its line break (csv read with newline='')."""
    studies = copy.deepcopy(STUDIES)
    studies[1].update({"rob_tool": "ROBINS-I", "rob_overall": "Serious",
                       "participants": "40 adults\nwith pain"})
    for s in studies[:1] + studies[2:]:
        s.update({"rob_tool": "", "participants": ""})
    review = load_review(make_review(tmp_path / "r", studies=studies))
    s2 = review.study_by_id["S2"]
    assert s2.rob_overall == "serious"
    assert s2.participants == "40 adults\nwith pain"
    assert review.study_by_id["S1"].rob_overall == "low"


def test_serious_and_critical_count_as_high_risk_in_the_sensitivity_analysis(tmp_path):
    """ROBINS-I 'serious'/'critical' are left out by "excluding high risk of bias" as RoB 2's
    'high' is (schema.HIGH_RISK)."""
    import evsynth.review as rv

    def dropped(studies):
        res = rv.analyse(rv.load(make_review(tmp_path / str(len(list(tmp_path.iterdir()))),
                                             studies=studies))).to_dict()
        notes = [s.get("note") or "" for a in res["analyses"]
                 for s in a.get("sensitivity", []) if s["name"] == "excluding high risk of bias"]
        return notes

    base = dropped(copy.deepcopy(STUDIES))
    studies = copy.deepcopy(STUDIES)
    studies[1].update({"rob_tool": "ROBINS-I", "rob_overall": "serious"})
    studies[3].update({"rob_tool": "ROBINS-I", "rob_overall": "critical"})
    for s in (studies[0], studies[2]):
        s["rob_tool"] = ""
    assert base and dropped(studies) == base


def test_validate_checks_risk_of_bias_csv(tmp_path):
    """A bad judgement in risk_of_bias.csv fails `validate` (not first `run`), naming the file
    and the value."""
    d = make_review(tmp_path / "r")
    (d / "risk_of_bias.csv").write_text("study,outcome,domain,judgement\nS1,pain,D1,dreadful\n",
                                        encoding="utf-8")
    with pytest.raises(InputError, match="risk_of_bias.csv.*'dreadful'"):
        validate(d)
    (d / "risk_of_bias.csv").write_text("study,outcome,domain,judgement\nS1,pain,D1,low\n",
                                        encoding="utf-8")
    assert any("risk of bias: " in line for line in validate(d))
