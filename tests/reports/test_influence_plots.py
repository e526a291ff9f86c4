"""Plots of the influence and sensitivity analyses: they draw the computed numbers, save as SVG
and PNG, and reject wrong input with InputError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from numpy.testing import assert_allclose

from evsynth.errors import InputError
from evsynth.files import save_figure, svg_string
from evsynth.models.meta import meta
from evsynth.reports.influence_plots import (
    baujat_plot,
    cumul_forest_plot,
    gosh_plot,
    influence_plot,
)

DATA = Path(__file__).resolve().parents[1] / "reference" / "data"


@pytest.fixture(scope="module")
def bcg():
    d = pd.read_csv(DATA / "rma_bcg.csv")
    return d, meta(d["yi"], d["vi"], slab=d["study"])


def test_baujat_plot_draws_the_coordinates(bcg, tmp_path):
    _, f = bcg
    fig = baujat_plot(f)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    texts = {t.get_text(): t.xy for t in ax.texts}
    coords = f.baujat()
    assert set(texts) == {str(i) for i in range(1, f.k + 1)}
    assert_allclose(texts["4"], (coords["x"][3], coords["y"][3]))
    assert ax.get_xlabel() == "Squared Pearson Residual"
    slab_fig = baujat_plot(f, symbol="slab")
    assert "Hart & Sutherland 1977" in {t.get_text() for t in slab_fig.axes[0].texts}
    assert svg_string(slab_fig).startswith("<?xml")
    for suffix in ("svg", "png"):
        path = save_figure(baujat_plot(coords, symbol="dot"), tmp_path / f"baujat.{suffix}")
        assert path.stat().st_size > 1000
    ee = meta(f.yi, f.vi, method="EE")
    assert baujat_plot(ee).axes[0].get_xlabel() == "Contribution to Overall Heterogeneity"


def test_gosh_plot(bcg, tmp_path):
    d, _ = bcg
    f = meta(d["yi"][:10], d["vi"][:10])
    g = f.gosh()
    fig = gosh_plot(g)
    ax = fig.axes[0]
    offsets = ax.collections[0].get_offsets()
    assert len(offsets) == len(g)
    assert_allclose(np.asarray(offsets)[:, 0], g.frame["estimate"])
    assert_allclose(np.asarray(offsets)[:, 1], g.frame["I2"])
    assert "all 1,023 subsets of k = 10" in fig._suptitle.get_text()
    save_figure(gosh_plot(g, het="tau2"), tmp_path / "gosh.svg")
    d = pd.read_csv(DATA / "rma_bcg.csv").iloc[:7]
    reg = meta(d["yi"], d["vi"], mods="ablat", data=d).gosh()
    fig = gosh_plot(reg)  # default: the moderator's coefficient; unfittable subsets dropped
    assert fig.axes[0].get_xlabel() == "Estimate (ablat)"
    assert len(fig.axes[0].collections[0].get_offsets()) == int(reg.fit.sum())


def test_influence_plot(bcg, tmp_path):
    d, _ = bcg
    f = meta(d["yi"], d["vi"], slab=d["study"], mods="ablat", data=d)
    inf = f.influence()
    fig = influence_plot(inf)
    assert [ax.get_title() for ax in fig.axes[:8]] == ["rstudent", "dffits", "cook_d", "cov_r",
                                                       "tau2_del", "QE_del", "hat", "weight"]
    # the weight panel's reference line is 100/k and its points are the weights
    weight_ax = fig.axes[7]
    assert_allclose(weight_ax.lines[0].get_ydata()[0], 100 / f.k)
    assert_allclose(weight_ax.lines[-1].get_ydata(), inf.weight)
    save_figure(fig, tmp_path / "influence.png")
    # a flagged study is drawn in red
    flagged = inf.is_infl
    if flagged.any():
        red = fig.axes[0].collections[1].get_offsets()
        assert len(red) == int(flagged.sum())


def test_cumul_forest_plot(bcg, tmp_path):
    d, f = bcg
    cm = f.cumul(order=d["year"])
    fig = cumul_forest_plot(cm, transf=np.exp)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "+ Aronson 1948" and len(labels) == f.k
    right = [t.get_text() for t in fig.axes[1].get_yticklabels()]
    last = cm.frame.iloc[-1]
    assert right[-1] == (f"{np.exp(last['estimate']):.2f} [{np.exp(last['ci_lb']):.2f}, "
                         f"{np.exp(last['ci_ub']):.2f}]")
    save_figure(fig, tmp_path / "cumul.svg")
    fig = cumul_forest_plot(f.leave1out())
    assert fig.axes[0].get_title() == "Leave-one-out analysis"


def test_plots_reject_wrong_input(bcg):
    _, f = bcg
    with pytest.raises(InputError, match="fit.gosh"):
        gosh_plot(f)
    with pytest.raises(InputError, match="het must be"):
        gosh_plot(f.gosh(subsets=100, seed=1), het="x")
    with pytest.raises(InputError, match="coef must be"):
        gosh_plot(f.gosh(subsets=100, seed=1), coef="ablat")
    with pytest.raises(InputError, match="fit.influence"):
        influence_plot(f.leave1out())
    with pytest.raises(InputError, match="fit.cumul"):
        cumul_forest_plot(f)
    with pytest.raises(InputError, match="fitted model"):
        baujat_plot([1, 2, 3])
    with pytest.raises(InputError, match="symbol must be"):
        baujat_plot(f, symbol="x")
