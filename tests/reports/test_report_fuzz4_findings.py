"""Report-layer findings of fuzz round 4 (review folders run end to end; here the formatting
functions that produced them)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "summaries"))

import sof_samples  # noqa: E402

from evsynth.reports import html  # noqa: E402
from evsynth.reports.forest import format_effect  # noqa: E402
from evsynth.summaries.wording import format_ratio  # noqa: E402


def test_tiny_ratios_show_as_in_the_summary_of_findings():
    """The forest plot and the pooled table showed OR '0.00 [0.00, 0.00]' (a zero-width CI
    around an impossible OR of 0) where the SoF showed 'OR 0.00023 (0.000046 to 0.0012)'."""
    est, lb, ub = math.log(0.00023), math.log(0.000046), math.log(0.0012)
    assert format_effect(est, lb, ub, True) == (
        f"{format_ratio(0.00023)} [{format_ratio(0.000046)}, {format_ratio(0.0012)}]")
    assert format_effect(est, lb, ub, True) == "0.00023 [0.000046, 0.0012]"
    # RevMan's two decimals where they hold the value; the linear scale is unchanged
    assert format_effect(math.log(0.61), math.log(0.37), math.log(1.11), True) == (
        "0.61 [0.37, 1.11]")
    assert format_effect(-0.0004, -0.001, 0.0002, False) == "0.00 [0.00, 0.00]"
    assert format_effect(math.log(3e5), math.log(2e5), math.log(4e5), True) == (
        "3.00e+05 [2.00e+05, 4.00e+05]")


def test_participants_not_reported_instead_of_none():
    """Hazard ratios entered as contrasts without group sizes: 'Studies (participants) | 3
    (None)' in report.html and report.md."""
    r = sof_samples.results()
    a = r["analyses"][0]
    a["participants"] = None
    rows = html._pooled_table(a)["rows"]
    assert rows[0][1] == f"{a['k']} (not reported)"
    a["participants"] = 1234
    assert html._pooled_table(a)["rows"][0][1] == f"{a['k']} (1234)"


@pytest.mark.parametrize("value, digits, shown", [
    (-0.001, 2, "0.00"), (-0.004999, 2, "0.00"), (-0.005001, 2, "-0.01"), (-1e-12, 3, "0.000"),
    (-0.0, 2, "0"), (0.004, 2, "0.00"), (-1.5, 2, "-1.50")])
def test_fixed_numbers_never_show_minus_zero(value, digits, shown):
    """The influence table showed '-0.00' (studentised residual, DFFITS)."""
    assert html._num(value, digits, fixed=True) == shown


def test_leave_one_out_and_influence_tables_name_studies_by_label():
    """They used the data files' study ids where the forest plot and the study tables use the
    labels ('Kallmes 2009' beside 'Kallmes 2009 (INVEST)')."""
    a = sof_samples.results()["analyses"][0]
    a["studies"] = [{"study_id": "S1", "label": "Smith 2001 (TRIAL)"},
                    {"study_id": "S2", "label": None}]
    a["leave_one_out"] = {"rows": [
        {"study_id": sid, "estimate": 0.1, "ci_lb": -0.1, "ci_ub": 0.3, "tau2": 0.0, "I2": 0.0,
         "excludes_null": False, "changes_conclusion": False} for sid in ("S1", "S2", "S3")]}
    a["influence"] = {"rows": [
        {"study_id": sid, "rstudent": 0.5, "dffits": 0.1, "cook_d": 0.01, "hat": 0.3,
         "weight": 50.0, "flagged": False} for sid in ("S1", "S2")]}
    blocks = html._robustness_blocks(a, [0], {})
    tables = {b["caption"].split(":")[0]: b for b in blocks if b.get("type") == "table"}
    assert [r[0] for r in tables["Leave-one-out analysis"]["rows"]] == [
        "Smith 2001 (TRIAL)", "S2", "S3"]
    assert [r[0] for r in tables["Influence diagnostics"]["rows"]] == ["Smith 2001 (TRIAL)", "S2"]


def test_a_window_without_target_weeks_shows_a_dash():
    """The 'latest' rule needs no target: the methods table printed 'NA' as if a value were
    missing."""
    r = sof_samples.results()
    r.setdefault("review", {})["windows"] = [
        {"id": "w1", "label": "Latest", "from_weeks": 0, "to_weeks": 12, "include_upper": True,
         "target_weeks": None, "rule": "latest"},
        {"id": "w2", "label": "Closest to 26", "from_weeks": 12, "to_weeks": 52,
         "include_upper": True, "target_weeks": 26, "rule": "closest"}]
    table = next(b for b in html._methods(r) if b.get("caption") == "Time windows")
    assert [row[2] for row in table["rows"]] == ["—", "26"]
