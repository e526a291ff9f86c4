"""Each subgroup's pooled effect carries its test statistic (results.json 1.5: levels[].zval
and df), and the forest plot prints RevMan's "Test for overall effect: Z = ... (P = ...)" for
it (fuzz round 4: the subgroup lines gave only P, the total line Z and P)."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.text import Text
from scipy import stats

import evsynth.review
from evsynth.reports.forest import forest_plot

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "antibiotic_prophylaxis"


def test_subgroup_levels_carry_z_and_the_forest_prints_it():
    res = evsynth.review.analyse(evsynth.review.load(EXAMPLE))
    data = res.to_dict()
    a = next(a for a in data["analyses"] if a.get("subgroups"))
    levels = a["subgroups"]["levels"]
    assert len(levels) >= 2
    for lv in levels:
        assert lv["df"] is None  # z test in this example
        assert (lv["zval"] < 0) == (lv["estimate"] < 0)
        assert 2 * stats.norm.sf(abs(lv["zval"])) == pytest.approx(lv["pval"], rel=1e-9)
    fig = forest_plot(a)
    texts = [t.get_text() for t in fig.findobj(Text)]
    for lv in levels:
        assert any(t.startswith(f"Test for overall effect: Z = {abs(lv['zval']):.2f} (")
                   for t in texts), lv["label"]

