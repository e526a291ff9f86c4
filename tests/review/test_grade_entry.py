"""review.toml's [[grade]] entries reach GRADE as given (fuzz round 5)."""

from __future__ import annotations

from review_helpers import REVIEW_TOML, make_review

import evsynth.review


def test_a_grade_entry_without_judgements_is_not_assessed(tmp_path):
    """Fuzz round 5: review.toml's [[grade]] filled every domain left out with downgrade = 0,
    so an entry naming only the comparison and outcome gave High certainty (and the plain
    language 'reduces'); grade.certainty promises 'not assessed' with the missing domains."""
    toml = REVIEW_TOML.replace('''risk_of_bias = { downgrade = 0 }
inconsistency = { downgrade = 0 }
indirectness = { downgrade = 0 }
''', "")
    assert toml != REVIEW_TOML
    d = make_review(tmp_path / "review", toml=toml)
    data = evsynth.review.analyse(evsynth.review.load(d)).to_dict()
    g = next(a["grade"] for a in data["analyses"] if a["outcome"]["id"] == "pain")
    assert g["level"] == "not assessed" and not g["assessed"]
    assert g["note"] == "judgement missing for risk of bias, inconsistency, indirectness"
    full = evsynth.review.analyse(evsynth.review.load(make_review(tmp_path / "full"))).to_dict()
    g = next(a["grade"] for a in full["analyses"] if a["outcome"]["id"] == "pain")
    assert g["level"] == "moderate"


def test_validate_warns_about_a_grade_entry_with_domains_left_out(tmp_path):
    from evsynth.review.load import load_review

    toml = REVIEW_TOML.replace("indirectness = { downgrade = 0 }\n", "")
    assert toml != REVIEW_TOML
    review = load_review(make_review(tmp_path / "review", toml=toml))
    assert any("key 'grade[0]' (comparison 'a_vs_b', outcome 'pain') has no judgement for "
               "indirectness; its certainty is 'not assessed'" in w for w in review.warnings)
    assert not any("grade[" in w for w in load_review(make_review(tmp_path / "ok")).warnings)
