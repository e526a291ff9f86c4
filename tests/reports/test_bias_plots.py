"""Small-study-effect plots: they draw what the fit says, save as SVG/PNG, and refuse bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evsynth
from evsynth.errors import InputError
from evsynth.files import save_figure
from evsynth.reports.bias_plots import funnel_plot, labbe_plot, radial_plot

DATA = Path(__file__).resolve().parents[1] / "reference" / "data"


@pytest.fixture(scope="module")
def hackshaw():
    d = pd.read_csv(DATA / "bias_hackshaw.csv")
    return evsynth.meta(d.yi, d.vi)


@pytest.fixture(scope="module")
def magnesium():
    return pd.read_csv(DATA / "bias_magnesium.csv")


def test_funnel_plot_axes_and_points(hackshaw, tmp_path):
    fig = funnel_plot(hackshaw)
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    assert lo > hi == 0  # inverted: SE 0 at the top
    pts = ax.collections[-1].get_offsets()
    np.testing.assert_allclose(pts[:, 0], hackshaw.yi)
    np.testing.assert_allclose(pts[:, 1], np.sqrt(hackshaw.vi))
    # the estimate line and the two pseudo-CI lines through the estimate at SE = 0
    xs = [line.get_xdata()[0] for line in ax.lines]
    assert np.allclose(sorted(xs)[:3], hackshaw.beta[0])
    for suffix in ("svg", "png"):
        path = save_figure(fig, tmp_path / f"funnel.{suffix}")
        assert path.stat().st_size > 1000


def test_funnel_plot_contours_and_trimfill(hackshaw, tmp_path):
    tf = hackshaw.trimfill()
    assert tf.k0 > 0
    fig = funnel_plot(hackshaw, contours=True, trimfill=tf)
    ax = fig.axes[0]
    open_pts = ax.collections[-1]
    assert len(open_pts.get_offsets()) == tf.k0
    assert np.all(open_pts.get_facecolors()[:, :3] == 1)  # open (white) points
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "filled (trim-and-fill)" in labels and any("0.01" in s for s in labels)
    assert len(ax.collections) >= 4 + 2  # 3 contour regions + outer region + 2 point sets
    save_figure(fig, tmp_path / "funnel_contours.svg")


def test_radial_plot_coordinates(hackshaw):
    fig = radial_plot(hackshaw)
    ax = fig.axes[0]
    pts = ax.collections[-1].get_offsets()
    w = 1 / np.sqrt(hackshaw.vi + hackshaw.tau2)
    np.testing.assert_allclose(pts[:, 0], w)
    np.testing.assert_allclose(pts[:, 1], hackshaw.yi * w)
    slope_line = ax.lines[0]
    x, y = slope_line.get_xdata(), slope_line.get_ydata()
    np.testing.assert_allclose(y[1:] / x[1:], hackshaw.beta[0])


def test_labbe_plot(magnesium, tmp_path):
    d = magnesium
    fit = evsynth.meta(d.yi, d.vi)
    fig = labbe_plot(d.ai, d.ai + d.bi, d.ci, d.ci + d.di, measure="OR", estimate=fit.beta[0])
    ax = fig.axes[0]
    pts = ax.collections[-1].get_offsets()
    np.testing.assert_allclose(pts[:, 0], d.ci / (d.ci + d.di))
    np.testing.assert_allclose(pts[:, 1], d.ai / (d.ai + d.bi))
    curve = ax.lines[-1]
    pc, pt = curve.get_xdata(), curve.get_ydata()
    np.testing.assert_allclose(np.log(pt / (1 - pt)) - np.log(pc / (1 - pc)), fit.beta[0])
    save_figure(fig, tmp_path / "labbe.png")


def test_bias_plot_errors(magnesium):
    d = pd.read_csv(DATA / "bias_bcg.csv")
    reg = evsynth.meta(d.yi, d.vi, mods=d[["ablat"]])
    with pytest.raises(InputError, match="trim-and-fill applies to models without moderators"):
        funnel_plot(reg, trimfill=evsynth.meta(d.yi, d.vi).trimfill())
    with pytest.raises(InputError, match="without moderators"):
        radial_plot(reg)
    fit = evsynth.meta(d.yi, d.vi)
    with pytest.raises(InputError, match="contour"):
        funnel_plot(fit, contours=[0.95, 1.5])
    m = magnesium
    with pytest.raises(InputError, match="row 2.*'ai'"):
        labbe_plot([1, 50], [10, 20], [1, 2], [10, 20])
    with pytest.raises(InputError, match="'n2i'"):
        labbe_plot([1, 2], [10, 20], [1, 2], [10, 0])
    with pytest.raises(InputError, match="has 1 values"):
        labbe_plot(m.ai, m.ai + m.bi, m.ci, [5])
    with pytest.raises(InputError, match="measure"):
        labbe_plot([1], [10], [1], [10], measure="HR")


def test_funnel_svg_is_reproducible():
    """SVG element ids come from a fixed salt (files.figure_bytes), so two runs write identical
    funnel plots, and the caller's rcParams are left as they were."""
    import matplotlib

    from evsynth.files import svg_string

    rng = np.random.default_rng(1)
    fit = evsynth.meta(rng.normal(size=12), rng.uniform(0.01, 0.1, 12))
    before = matplotlib.rcParams["svg.hashsalt"]
    assert svg_string(fit.plot_funnel(contours=True)) == svg_string(
        fit.plot_funnel(contours=True))
    assert matplotlib.rcParams["svg.hashsalt"] == before
