"""Tests of the RevMan-style forest plots (evsynth.reports.forest) on hand-made analysis dicts."""

from __future__ import annotations

import copy
import math
import os
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.text import Text

from evsynth.errors import InputError
from evsynth.files import svg_string
from evsynth.reports.forest import (
    _tick_label,
    axis_ticks,
    favours_labels,
    forest_plot,
    format_effect,
    format_p,
    write_forest,
)


# --------------------------------------------------------------------------------------------
# hand-made analysis dicts (the contract in the review design)
# --------------------------------------------------------------------------------------------
def continuous() -> dict:
    """Three studies: two arm-level, one contrast-level (generic inverse variance)."""
    return {
        "id": "vp_vs_placebo.pain.late",
        "comparison": {"id": "vp_vs_placebo", "label": "Vertebroplasty vs placebo",
                       "intervention": "Vertebroplasty", "control": "Placebo"},
        "outcome": {"id": "pain", "label": "Pain", "kind": "continuous",
                    "instrument": "0-10 numerical rating scale", "scale_min": 0.0,
                    "scale_max": 10.0, "direction": "lower_is_better", "mid": 1.5,
                    "measure": "MD", "assumed_control_risk": None},
        "window": {"id": "late", "label": "6 to 12 months", "from_weeks": 26, "to_weeks": 52,
                   "include_upper": True, "target_weeks": 52, "rule": "closest"},
        "measure": "MD", "log_scale": False,
        "model": {"method": "REML", "test": "z", "level": 95, "prediction_interval": True,
                  "pi_type": "default", "method_info": {}},
        "studies": [
            {"study_id": "Buchbinder 2009", "label": "Buchbinder 2009", "year": 2009,
             "timepoint_weeks": 26.0, "data_level": "arm", "value_type": "final",
             "intervention": {"n": 38, "mean": 3.3, "sd": 2.9},
             "control": {"n": 40, "mean": 3.8, "sd": 2.7},
             "yi": -0.5, "vi": 0.2, "sei": 0.447, "ci_lb": -1.38, "ci_ub": 0.38,
             "weight": 30.2, "subgroup": "Low risk of bias", "risk_of_bias": "low"},
            {"study_id": "Comstock 2013", "label": "Comstock 2013 (INVEST)", "year": 2013,
             "timepoint_weeks": 52.0, "data_level": "arm", "value_type": "final",
             "intervention": {"n": 68, "mean": 3.1, "sd": 2.6},
             "control": {"n": 63, "mean": 4.0, "sd": 2.9},
             "yi": -0.9, "vi": 0.21, "sei": 0.46, "ci_lb": -1.8, "ci_ub": 0.0,
             "weight": 45.5, "subgroup": "Low risk of bias", "risk_of_bias": "low"},
            {"study_id": "Firanescu 2018", "label": "Firanescu 2018 (VERTOS IV)", "year": 2018,
             "timepoint_weeks": 52.0, "data_level": "contrast", "value_type": "contrast",
             "intervention": None, "control": None, "n_intervention": 91, "n_control": 85,
             "yi": 0.2, "vi": 0.5929, "sei": 0.77, "ci_lb": -1.31, "ci_ub": 1.71,
             "weight": 24.3, "subgroup": "High risk of bias", "risk_of_bias": "high"},
        ],
        "excluded": [{"study_id": "Kallmes 2009", "timepoint_weeks": 4.3,
                      "reason": "direction of effect not reported (sign convention unknown)"}],
        "k": 3, "participants": 385,
        "pooled": {"estimate": -0.52, "se": 0.3, "ci_lb": -1.11, "ci_ub": 0.07, "zval": -1.73,
                   "pval": 0.083, "pi_lb": -2.9, "pi_ub": 1.86, "tau2": 0.05, "tau": 0.22,
                   "I2": 38.2, "H2": 1.6, "QE": 3.21, "QE_df": 2, "QEp": 0.2, "df": None},
        "subgroups": None,
    }


def binary() -> dict:
    a = continuous()
    a["id"] = "vp_vs_placebo.fracture.late"
    a["outcome"].update(id="fracture", label="New vertebral fractures", kind="binary",
                        direction="lower_is_better", measure="OR", scale_min=None,
                        scale_max=None, mid=None)
    a["measure"], a["log_scale"] = "OR", True
    ev = [(5, 38, 8, 40, -0.5, 0.6, 40.0), (0, 60, 3, 62, -2.0, 1.58, 10.0),
          (20, 100, 18, 98, 0.1, 0.35, 50.0)]
    a["studies"] = [
        {"study_id": f"Trial {j}", "label": f"Trial {j}", "data_level": "arm",
         "value_type": "events", "intervention": {"events": e1, "total": n1},
         "control": {"events": e2, "total": n2}, "yi": y, "vi": s * s, "sei": s,
         "ci_lb": y - 1.96 * s, "ci_ub": y + 1.96 * s, "weight": w, "subgroup": None}
        for j, (e1, n1, e2, n2, y, s, w) in enumerate(ev, start=1)]
    a["pooled"].update(estimate=-0.2, ci_lb=-0.8, ci_ub=0.4, pi_lb=-1.9, pi_ub=1.5)
    return a


def with_subgroups() -> dict:
    a = continuous()
    a["subgroups"] = {
        "variable": "risk_of_bias",
        "levels": [
            {"label": "Low risk of bias", "k": 2, "participants": 209, "estimate": -0.7,
             "ci_lb": -1.3, "ci_ub": -0.1, "tau2": 0.0, "I2": 0.0, "QE": 0.4, "QE_df": 1,
             "QEp": 0.53, "pval": 0.022},
            {"label": "High risk of bias", "k": 1, "participants": 176, "estimate": 0.2,
             "ci_lb": -1.31, "ci_ub": 1.71, "tau2": 0.0, "I2": 0.0, "QE": 0.0, "QE_df": 0,
             "QEp": 1.0, "pval": 0.8}],
        "Q_between": 1.23, "Q_between_df": 1, "Q_between_p": 0.267}
    return a


def single() -> dict:
    a = continuous()
    a["studies"] = a["studies"][1:2]
    a["studies"][0]["weight"] = 100.0
    a["k"], a["participants"] = 1, 131
    a["pooled"].update(estimate=-0.9, ci_lb=-1.8, ci_ub=0.0, zval=-1.96, pval=0.05,
                       pi_lb=None, pi_ub=None, tau2=0.0, I2=0.0, QE=0.0, QE_df=0, QEp=1.0)
    return a


def empty() -> dict:
    a = continuous()
    a["studies"], a["pooled"], a["k"], a["participants"] = [], None, 0, 0
    a["excluded"].append({"study_id": "Rousing 2009", "timepoint_weeks": 52,
                          "reason": "no standard deviation reported"})
    return a


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def panel(fig):
    return next(ax for ax in fig.axes if ax.get_gid() == "forest-panel")


def assert_no_overlap(fig) -> None:
    """No two texts overlap, and no table text reaches into the plot panel."""
    r = fig.canvas.get_renderer()
    names, boxes = [], []
    for t in fig.findobj(Text):
        if t.get_text() and t.get_visible():
            bb = t.get_window_extent(r)
            if bb.width > 0:
                names.append(t.get_text())
                boxes.append(bb.expanded(0.98, 0.9).extents)
    b = np.array(boxes).reshape(-1, 4)   # x0, y0, x1, y1 in pixels
    hit = ((b[:, None, 0] < b[None, :, 2]) & (b[None, :, 0] < b[:, None, 2])
           & (b[:, None, 1] < b[None, :, 3]) & (b[None, :, 1] < b[:, None, 3]))
    np.fill_diagonal(hit, False)
    pairs = [(names[i], names[j]) for i, j in zip(*np.nonzero(hit), strict=True)]
    assert not pairs, pairs[:3]
    pax = [ax for ax in fig.axes if ax.get_gid() == "forest-panel"]
    if pax:
        pb = pax[0].get_window_extent(r)
        tick_labels = {t.get_text() for t in pax[0].get_xticklabels()}
        for s, (x0, y0, x1, y1) in zip(names, b, strict=True):
            if s in tick_labels or s.startswith("Favours") or s == "Mean Difference":
                continue
            if y0 < pb.y1 and y1 > pb.y0:   # a text on a row of the panel
                assert x1 <= pb.x0 + 1 or x0 >= pb.x1 - 1 or s in _PANEL_HEADERS, s


_PANEL_HEADERS = {"IV, Random, 95% CI", "IV, Fixed, 95% CI"}


# --------------------------------------------------------------------------------------------
# formatting
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p, text", [
    (0.2, "P = 0.20"), (0.05, "P = 0.05"), (0.0496, "P = 0.05"), (0.01, "P = 0.01"),
    (0.0032, "P = 0.003"), (0.0097, "P = 0.01"), (0.00095, "P = 0.0009"),
    (0.00021, "P = 0.0002"), (0.00001, "P = 0.00001"),
    (0.000009, "P < 0.00001"), (1.0, "P = 1.00"), (None, "P = NA")])
def test_format_p_revman(p, text):
    assert format_p(p) == text


def test_format_effect():
    assert format_effect(-0.9, -1.8, 0.0, False) == "-0.90 [-1.80, 0.00]"
    assert format_effect(-0.001, -0.002, 0.0, False) == "0.00 [0.00, 0.00]"
    assert format_effect(math.log(0.5), math.log(0.25), 0.0, True) == "0.50 [0.25, 1.00]"
    assert format_effect(1000.0, 0.0, 2000.0, True) == "∞ [1.00, ∞]"


def test_axis_ticks_linear_symmetric():
    lim, ticks = axis_ticks(1.8, False)
    assert lim == 2 and ticks == [-2, -1, 0, 1, 2]
    assert axis_ticks(3.3, False)[0] == 5
    assert axis_ticks(0.0, False)[0] == 1
    assert axis_ticks(120, False)[0] == 200
    lim, ticks = axis_ticks(0.013, False)
    assert lim == pytest.approx(0.02)


def test_axis_ticks_log_revman_scales():
    lim, ticks = axis_ticks(math.log(1.5), True)
    assert np.exp(ticks) == pytest.approx([0.5, 0.7, 1, 1.5, 2])
    lim, ticks = axis_ticks(math.log(7), True)
    assert np.exp(ticks) == pytest.approx([0.1, 0.2, 0.5, 1, 2, 5, 10])
    assert math.exp(axis_ticks(math.log(80), True)[0]) == pytest.approx(100)
    lim, ticks = axis_ticks(math.log(300), True)
    assert [_tick_label(t, True) for t in ticks] == ["0.001", "0.1", "1", "10", "1000"]
    lim, ticks = axis_ticks(math.log(5e4), True)   # beyond 1000: powers of ten
    assert [_tick_label(t, True) for t in ticks] == ["1e-5", "0.01", "1", "100", "1e5"]
    assert math.exp(lim) == pytest.approx(1e5) and 0.0 in ticks


# --------------------------------------------------------------------------------------------
# favours labels
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("measure, log_scale", [("MD", False), ("SMD", False), ("OR", True),
                                                ("RR", True), ("RD", False)])
def test_favours_labels_by_direction(measure, log_scale):
    a = continuous()
    a["measure"], a["log_scale"] = measure, log_scale
    a["outcome"]["direction"] = "lower_is_better"   # pain, or new fractures (a harm)
    assert favours_labels(a) == ("Favours Vertebroplasty", "Favours Placebo")
    a["outcome"]["direction"] = "higher_is_better"  # function, responders
    assert favours_labels(a) == ("Favours Placebo", "Favours Vertebroplasty")


def test_favours_labels_bad_direction():
    a = continuous()
    a["outcome"]["direction"] = "up"
    with pytest.raises(InputError, match="outcome.direction.*lower_is_better"):
        favours_labels(a)
    del a["outcome"]["direction"]
    with pytest.raises(InputError, match="vp_vs_placebo.pain.late"):
        forest_plot(a)


def test_favours_labels_drawn_left_and_right_of_null():
    a = continuous()
    a["outcome"]["direction"] = "higher_is_better"
    fig = forest_plot(a)
    r = fig.canvas.get_renderer()
    null_x = panel(fig).transData.transform((0.0, 0.0))[0]
    left = [t for t in fig.findobj(Text) if str(t.get_gid()).startswith("favours-left")]
    right = [t for t in fig.findobj(Text) if str(t.get_gid()).startswith("favours-right")]
    assert " ".join(t.get_text() for t in left) == "Favours Placebo"
    assert " ".join(t.get_text() for t in right) == "Favours Vertebroplasty"
    assert all(t.get_window_extent(r).x1 < null_x for t in left)
    assert all(t.get_window_extent(r).x0 > null_x for t in right)


# --------------------------------------------------------------------------------------------
# contents of the plot
# --------------------------------------------------------------------------------------------
def test_continuous_plot_texts():
    fig = forest_plot(continuous())
    got = texts(fig)
    for s in ["Vertebroplasty vs placebo · Pain · 6 to 12 months", "Study or Subgroup",
              "Vertebroplasty", "Placebo", "Mean", "SD", "Total", "Weight", "Mean Difference",
              "IV, Random, 95% CI", "Buchbinder 2009", "Comstock 2013 (INVEST)",
              "3.3", "2.9", "38", "68", "63", "45.5%", "-0.90 [-1.80, 0.00]",
              "0.2000", "0.7700", "91", "85",                # generic inverse variance row
              "Total (95% CI)", "197", "188", "100.0%", "-0.52 [-1.11, 0.07]",
              "Prediction interval", "[-2.90, 1.86]",
              "Heterogeneity: Tau² = 0.05; Chi² = 3.21, df = 2 (P = 0.20); I² = 38%",
              "Test for overall effect: Z = 1.73 (P = 0.08)",
              "Favours Vertebroplasty", "Favours Placebo", "SE"]:
        assert s in got, s
    assert any("Kallmes 2009 (4.3 weeks): direction of effect not reported" in s for s in got)
    assert panel(fig).get_xscale() == "linear"
    lo, hi = panel(fig).get_xlim()
    assert lo == -hi
    assert_no_overlap(fig)


def test_binary_plot_log_axis_and_events():
    fig = forest_plot(binary())
    got = texts(fig)
    for s in ["Events", "Total", "Odds Ratio", "IV, Random, 95% CI", "Total events", "25", "29",
              "198", "200", "0.61 [0.19, 1.97]", "0.82 [0.45, 1.49]", "[0.15, 4.48]"]:
        assert s in got, s
    pax = panel(fig)
    assert pax.get_xscale() == "log"
    lo, hi = pax.get_xlim()
    assert lo * hi == pytest.approx(1.0)   # symmetric on the log scale
    labels = [t.get_text() for t in pax.get_xticklabels()]
    assert labels == ["0.1", "0.2", "0.5", "1", "2", "5", "10"]
    # Trial 2's lower limit (0.006) is beyond 0.1: an arrow at the left end
    arrows = [c for c in pax.collections if str(c.get_gid()).startswith("ci-arrows")]
    assert len(arrows) == 1 and len(arrows[0].get_offsets()) == 1
    assert arrows[0].get_offsets()[0][0] == pytest.approx(0.1)
    assert_no_overlap(fig)


def test_contrast_only_layout_generic_inverse_variance():
    a = binary()
    for s in a["studies"]:
        s.update(data_level="contrast", intervention=None, control=None, n_intervention=50,
                 n_control=52)
    got = texts(forest_plot(a))
    assert "log[Odds Ratio]" in got and "SE" in got
    assert f"{-0.5:.4f}" in got and "1.5800" in got
    assert "Events" not in got and "Total events" not in got
    assert "150" in got and "156" in got      # per-arm totals from n_intervention/n_control
    # n per arm nested in the contrast record (as the pipeline writes it) is read too
    a["studies"][0].update(n_intervention=None, n_control=None,
                           contrast={"estimate": 0.61, "n_intervention": 7, "n_control": 9})
    got = texts(forest_plot(a))
    assert "7" in got and "9" in got and "107" in got and "113" in got
    # no per-arm n at all: the empty Total columns are left out
    for s in a["studies"]:
        s.update(n_intervention=None, n_control=None, contrast=None)
    got = texts(forest_plot(a))
    assert "Total" not in got and "Vertebroplasty" not in got and "log[Odds Ratio]" in got


def test_change_measure_with_baseline_and_follow_up_rows():
    a = continuous()
    a["measure"] = a["outcome"]["measure"] = "MD_CHANGE"
    a["model"]["change_score_correlation"] = 0.5
    b = a["studies"][0]
    b["value_type"] = "baseline_followup"
    b["intervention"].update(baseline_mean=7.9, baseline_sd=2.0)
    b["control"].update(baseline_mean=7.4, baseline_sd=1.9)
    c = a["studies"][1]
    c["value_type"] = "baseline_followup"
    c["intervention"].update(change_mean=-4.5, change_sd=2.4)
    c["control"].update(change_mean=-3.2, change_sd=2.6)
    fig = forest_plot(a)
    got = texts(fig)
    assert "Mean change" in got
    assert "-4.5" in got and "2.4" in got and "-3.2" in got   # the change, when given
    assert "3.3" not in got and "3.1" not in got               # never the follow-up values
    note = " ".join(s for s in got if s.startswith("Note") or "imputed" in s or "shown" in s)
    assert "Buchbinder 2009: the change from baseline was computed" in note
    assert "correlation 0.5" in note and "Comstock" not in note
    assert_no_overlap(fig)


def test_square_areas_proportional_to_weights():
    a = continuous()
    fig = forest_plot(a)
    squares = [c for c in panel(fig).collections if c.get_gid() == "study-squares"]
    assert len(squares) == 1
    sizes = squares[0].get_sizes()
    weights = np.array([s["weight"] for s in a["studies"]])
    np.testing.assert_allclose(sizes / weights, sizes[0] / weights[0], rtol=1e-12)
    # square centres at the study estimates
    np.testing.assert_allclose(squares[0].get_offsets()[:, 0], [s["yi"] for s in a["studies"]])


def test_knha_test_statistic_T_and_fixed_effect_header():
    a = binary()
    a["model"]["test"] = "knha"
    a["pooled"].update(zval=2.5, df=2, pval=0.0000001)
    assert "Test for overall effect: T = 2.50, df = 2 (P < 0.00001)" in texts(forest_plot(a))
    a["model"].update(method="FE", test="z")
    a["pooled"].update(tau2=0.0, pi_lb=None, pi_ub=None)
    got = texts(forest_plot(a))
    assert "IV, Fixed, 95% CI" in got
    assert "Heterogeneity: Chi² = 3.21, df = 2 (P = 0.20); I² = 38%" in got
    assert "Prediction interval" not in got


def test_not_pooled_rows_drawn_without_total():
    a = continuous()
    a["pooled"] = None
    got = texts(forest_plot(a))
    assert "Not estimable" in got and "Heterogeneity: Not applicable" in got
    assert "Test for overall effect: Not applicable" in got


def test_svg_ids_unique_within_a_plot():
    svg = svg_string(forest_plot(with_subgroups()))
    ids = re.findall(r'\bid="([^"]+)"', svg)
    assert len(ids) == len(set(ids))


def test_k1_heterogeneity_not_applicable():
    fig = forest_plot(single())
    got = texts(fig)
    assert "Heterogeneity: Not applicable" in got
    assert "Test for overall effect: Z = 1.96 (P = 0.05)" in got
    assert "Prediction interval" not in got
    assert_no_overlap(fig)


def test_k0_no_studies_pooled_lists_excluded():
    fig = forest_plot(empty())
    got = texts(fig)
    assert "No studies could be pooled for this analysis." in got
    assert any(s.startswith("• Kallmes 2009 (4.3 weeks): direction of effect") for s in got)
    assert "• Rousing 2009 (52 weeks): no standard deviation reported" in got
    assert not [ax for ax in fig.axes if ax.get_gid() == "forest-panel"]


def test_many_studies_height_scales_and_labels_truncated():
    a = continuous()
    base = a["studies"][0]
    a["studies"] = []
    for j in range(30):
        s = copy.deepcopy(base)
        s["label"] = f"Study {j} " + "with a very long acronym and registration number " * 2
        s["weight"] = 100 / 30
        a["studies"].append(s)
    fig = forest_plot(a)
    h30 = fig.get_size_inches()[1]
    assert h30 > forest_plot(continuous()).get_size_inches()[1] + 26 * 0.18
    labels = [s for s in texts(fig) if re.match(r"Study \d", s)]
    assert len(labels) == 30 and all(s.endswith("…") for s in labels)
    assert_no_overlap(fig)


def test_subgroups_subtotals_diamonds_and_test_for_differences():
    fig = forest_plot(with_subgroups())
    got = texts(fig)
    for s in ["Low risk of bias", "High risk of bias", "Subtotal (95% CI)", "106", "103",
              "75.7%", "-0.70 [-1.30, -0.10]",
              "Heterogeneity: Tau² = 0.00; Chi² = 0.40, df = 1 (P = 0.53); I² = 0%",
              "Test for overall effect: P = 0.02",
              "Test for subgroup differences: Chi² = 1.23, df = 1 (P = 0.27), I² = 18.7%",
              "Total (95% CI)"]:
        assert s in got, s
    assert got.count("Subtotal (95% CI)") == 2
    assert got.count("Heterogeneity: Not applicable") == 1   # the one-study subgroup
    diamonds = [p for p in panel(fig).patches if str(p.get_gid()).startswith("diamond")]
    assert len(diamonds) == 3
    assert_no_overlap(fig)


def test_unicode_and_dollar_labels_are_plain_text():
    a = continuous()
    a["studies"][0]["label"] = "Ödegaard $x$ 2011 – Łódź"
    a["comparison"]["intervention"] = "Vertébroplastie"
    got = texts(forest_plot(a))
    assert "Ödegaard $x$ 2011 – Łódź" in got and "Vertébroplastie" in got
    svg = svg_string(forest_plot(a))
    assert "Ödegaard $x$ 2011 – Łódź" in svg


# --------------------------------------------------------------------------------------------
# SVG and files
# --------------------------------------------------------------------------------------------
def test_svg_keeps_text_and_is_reproducible():
    a = continuous()
    svg = svg_string(forest_plot(a))
    assert "<text" in svg
    for s in ["Comstock 2013 (INVEST)", "-0.90 [-1.80, 0.00]", "Favours Vertebroplasty",
              "Heterogeneity: Tau² = 0.05"]:
        assert s in svg, s
    assert "<dc:date>" not in svg
    assert svg == svg_string(forest_plot(a))


def test_write_forest_svg_and_png(tmp_path):
    paths = write_forest(continuous(), tmp_path / "figures", "vp.pain.late.forest")
    assert paths == {"svg": str(tmp_path / "figures" / "vp.pain.late.forest.svg"),
                     "png": str(tmp_path / "figures" / "vp.pain.late.forest.png")}
    assert open(paths["png"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert "Comstock 2013 (INVEST)" in open(paths["svg"], encoding="utf-8").read()
    assert sorted(os.listdir(tmp_path / "figures")) == ["vp.pain.late.forest.png",
                                                         "vp.pain.late.forest.svg"]
    from PIL import Image

    w150 = Image.open(paths["png"]).size[0]
    small = write_forest(continuous(), tmp_path, "small", dpi=75)
    assert Image.open(small["png"]).size[0] == pytest.approx(w150 / 2, abs=2)


def test_write_forest_atomic_no_partial_file(tmp_path, monkeypatch):
    out = tmp_path / "figures"
    out.mkdir()
    (out / "f.svg").write_text("old", encoding="utf-8")

    def fail(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        write_forest(continuous(), out, "f")
    assert sorted(os.listdir(out)) == ["f.svg"]          # no temporary or partial file left
    assert (out / "f.svg").read_text(encoding="utf-8") == "old"


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mutate, match", [
    (lambda a: a["studies"][1].update(yi=float("nan")),
     r"'Comstock 2013 \(INVEST\)'.*'yi'.*finite"),
    (lambda a: a["studies"][1].update(ci_lb=None), r"Comstock.*'ci_lb' is missing"),
    (lambda a: a["studies"][1].update(ci_ub=-1.0), r"Comstock.*not inside"),
    (lambda a: a["studies"][1].update(weight=-3), r"Comstock.*'weight'.*>= 0"),
    (lambda a: a["studies"][1].update(yi="big"), r"Comstock.*'yi' is 'big'"),
    (lambda a: a["studies"][0]["intervention"].update(n=-1), r"Buchbinder.*intervention.*'n'"),
    (lambda a: a["studies"][0].update(control=[1, 2]), r"Buchbinder.*'control'.*dict"),
    (lambda a: a.update(studies="x"), r"'studies'.*list"),
    (lambda a: a["studies"].append(3), r"studies\[3\]"),
    (lambda a: a["pooled"].update(estimate=float("inf")), r"pooled.*'estimate'"),
    (lambda a: a["pooled"].update(QEp=-0.1), r"pooled.*'QEp'"),
    (lambda a: a.update(excluded=[None]), r"excluded\[0\]"),
    (lambda a: a["model"].update(level=120), r"model: field 'level' is 120"),
    (lambda a: a["model"].update(level="x"), r"model: field 'level' is 'x'"),
])
def test_bad_input_names_study_and_field(mutate, match):
    a = continuous()
    mutate(a)
    with pytest.raises(InputError, match=match):
        forest_plot(a)


def test_bad_input_not_a_dict():
    with pytest.raises(InputError, match="expected a dict"):
        forest_plot([1, 2])


def test_bad_subgroup_level():
    a = with_subgroups()
    a["subgroups"]["levels"][0]["ci_lb"] = None
    with pytest.raises(InputError, match="'Low risk of bias'.*'ci_lb'"):
        forest_plot(a)


# --------------------------------------------------------------------------------------------
# property: any valid analysis dict draws
# --------------------------------------------------------------------------------------------
finite = st.floats(-8, 8, allow_nan=False)
names = st.text(st.one_of(st.characters(max_codepoint=0x24F, exclude_categories=("Cs", "Cc")),
                          st.sampled_from("中文試験ÅΩ–$…\U0001F600")), min_size=1, max_size=60
                ).filter(str.strip)  # a blank arm or outcome name is refused (as review load does)


@st.composite
def analyses(draw) -> dict:
    kind = draw(st.sampled_from(["continuous", "binary"]))
    measure = draw(st.sampled_from(["MD", "SMD", "SMD_CHANGE"] if kind == "continuous"
                                   else ["OR", "RR", "RD"]))
    log_scale = measure in ("OR", "RR")
    k = draw(st.integers(0, 30))
    sub_labels = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    use_sub = k > 0 and draw(st.booleans())
    studies = []
    for j in range(k):
        yi = draw(finite)
        se = draw(st.floats(0.001, 5))
        contrast = draw(st.booleans())
        if contrast:
            arms = {"intervention": None, "control": None,
                    "n_intervention": draw(st.one_of(st.none(), st.integers(1, 5000))),
                    "n_control": draw(st.one_of(st.none(), st.integers(1, 5000)))}
        elif kind == "binary":
            n1, n2 = draw(st.integers(1, 5000)), draw(st.integers(1, 5000))
            arms = {"intervention": {"events": draw(st.integers(0, n1)), "total": n1},
                    "control": {"events": draw(st.integers(0, n2)), "total": n2}}
        else:
            arms = {"intervention": {"n": draw(st.integers(2, 5000)), "mean": draw(finite) * 50,
                                     "sd": draw(st.floats(0.01, 300))},
                    "control": {"n": draw(st.integers(2, 5000)), "mean": draw(finite) * 50,
                                "sd": draw(st.floats(0.01, 300))}}
        studies.append({"study_id": f"s{j}", "label": draw(names),
                        "data_level": "contrast" if contrast else "arm",
                        "yi": yi, "vi": se * se, "sei": se, "ci_lb": yi - 1.96 * se,
                        "ci_ub": yi + 1.96 * se, "weight": draw(st.floats(0, 100)),
                        "subgroup": draw(st.sampled_from(sub_labels)) if use_sub else None,
                        **arms})
    est = draw(finite)
    se = draw(st.floats(0.001, 3))
    pi = draw(st.booleans()) and k >= 3
    pooled = None if k == 0 else {
        "estimate": est, "se": se, "ci_lb": est - 2 * se, "ci_ub": est + 2 * se,
        "zval": est / se, "pval": draw(st.floats(0, 1)),
        "pi_lb": est - 5 * se if pi else None, "pi_ub": est + 5 * se if pi else None,
        "tau2": draw(st.floats(0, 50)), "I2": draw(st.floats(0, 100)), "H2": 1.0,
        "QE": draw(st.floats(0, 500)), "QE_df": max(k - 1, 0), "QEp": draw(st.floats(0, 1)),
        "df": None}
    subgroups = None
    if use_sub:
        levels = []
        for lab in sub_labels:
            e = draw(finite)
            levels.append({"label": lab, "k": 1, "participants": 10, "estimate": e,
                           "ci_lb": e - 1, "ci_ub": e + 1, "tau2": 0.0, "I2": 0.0, "QE": 0.0,
                           "QE_df": 0, "QEp": 1.0, "pval": draw(st.floats(0, 1))})
        subgroups = {"variable": "x", "levels": levels, "Q_between": draw(st.floats(0, 50)),
                     "Q_between_df": len(levels) - 1, "Q_between_p": draw(st.floats(0, 1))}
    return {
        "id": "c.o.w",
        "comparison": {"id": "c", "label": draw(names), "intervention": draw(names),
                       "control": draw(names)},
        "outcome": {"id": "o", "label": draw(names), "kind": kind,
                    "direction": draw(st.sampled_from(["lower_is_better", "higher_is_better"])),
                    "measure": measure},
        "window": {"id": "w", "label": draw(names)},
        "measure": measure, "log_scale": log_scale,
        "model": {"method": draw(st.sampled_from(["REML", "DL", "FE"])),
                  "test": draw(st.sampled_from(["z", "knha", "t"])), "level": 95},
        "studies": studies,
        "excluded": [{"study_id": draw(names), "timepoint_weeks": 4.0, "reason": draw(names)}
                     # k = 0 draws the excluded studies; with none it is an InputError
                     for _ in range(draw(st.integers(0 if k else 1, 3)))],
        "k": k, "participants": 0, "pooled": pooled, "subgroups": subgroups,
    }


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")
@settings(max_examples=15)
@given(analyses())
def test_any_valid_analysis_draws(a):
    fig = forest_plot(a)
    svg = svg_string(fig)
    assert svg.startswith("<?xml")
    if a["k"]:
        squares = [c for c in panel(fig).collections if c.get_gid() == "study-squares"]
        assert len(squares[0].get_offsets()) == a["k"]
        lo, hi = panel(fig).get_xlim()
        for s in a["studies"]:   # every point estimate inside the axis
            x = math.exp(s["yi"]) if a["log_scale"] else s["yi"]
            assert lo <= x <= hi
    got = texts(fig)
    assert not any(re.search(r"\bnan\b", s) for s in got)
    assert_no_overlap(fig)
