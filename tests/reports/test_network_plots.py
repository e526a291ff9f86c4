"""Network meta-analysis plots and league table (evsynth.reports.network_plots): they draw the
fitted numbers of evsynth.netmeta (Senn 2013 diabetes network, netmeta's Senn2013 data), keep
users' treatment names as literal text, escape them in HTML and make them inert in CSV."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from numpy.testing import assert_allclose

import evsynth
from evsynth.errors import InputError
from evsynth.files import save_figure, svg_string
from evsynth.models.network.pairwise import pairwise
from evsynth.reports.network_plots import (
    LeagueTable,
    comparison_adjusted,
    forest_network,
    funnel_comparison_adjusted,
    league_table,
    netheat_plot,
    network_graph,
    rankogram,
)
from evsynth.textsafe import read_csv_cells

SENN = Path(__file__).resolve().parents[1] / "reference" / "network" / "senn2013_pairwise.csv"
HOSTILE = {"metf": "<script>alert(1)</script>", "plac": "$x$", "rosi": "=cmd()"}


@pytest.fixture(scope="module")
def senn() -> pd.DataFrame:
    return pd.read_csv(SENN)


@pytest.fixture(scope="module")
def fit(senn):
    return evsynth.netmeta(data=senn, sm="MD", reference="plac")


@pytest.fixture(scope="module")
def hostile(senn):
    d = senn.copy()
    for col in ("treat1", "treat2"):
        d[col] = d[col].replace(HOSTILE)
    return evsynth.netmeta(data=d, sm="MD", reference="$x$")


def _texts(ax, gid):
    return [t for t in ax.texts if t.get_gid() == gid]


def _pairs(data):
    return {frozenset((a, b)) for a, b in zip(data["treat1"], data["treat2"], strict=True)}


# ------------------------------------------------------------------------------ network graph
def test_network_graph_nodes_edges_and_multiarm(fit, tmp_path):
    fig = network_graph(fit)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    nodes = [c for c in ax.collections if c.get_gid() == "nodes"][0]
    edges = [c for c in ax.collections if c.get_gid() == "edges"][0]
    assert len(nodes.get_offsets()) == fit.n == 10
    pairs = _pairs(fit.data)
    assert len(edges.get_segments()) == len(pairs)
    # the number of studies written on each edge, in the order of the segments
    labels = [int(t.get_text()) for t in _texts(ax, "edge-label")]
    assert sum(labels) == sum(len(set(g["studlab"])) for _, g in fit.data.assign(
        pair=[frozenset(p) for p in zip(fit.data.treat1, fit.data.treat2, strict=True)]
    ).groupby("pair"))
    xy = {tuple(np.round(p, 9)) for p in np.asarray(nodes.get_offsets())}
    pos = dict(zip(fit.treatments, np.asarray(nodes.get_offsets()), strict=True))
    for seg, k in zip(edges.get_segments(), labels, strict=True):
        a, b = (tuple(np.round(p, 9)) for p in seg)
        assert a in xy and b in xy
        (ta,) = [t for t, p in pos.items() if tuple(np.round(p, 9)) == a]
        (tb,) = [t for t, p in pos.items() if tuple(np.round(p, 9)) == b]
        studies = fit.data[((fit.data.treat1 == ta) & (fit.data.treat2 == tb))
                           | ((fit.data.treat1 == tb) & (fit.data.treat2 == ta))]["studlab"]
        assert k == studies.nunique()
    # width grows with the number of studies (plac-rosi: 6 studies, the widest)
    widths = np.asarray(edges.get_linewidths())
    assert labels[int(np.argmax(widths))] == max(labels) == 6
    # one three-arm design (Willms1999: acar, metf, plac) -> one shaded polygon
    polys = [p for p in ax.patches if p.get_gid() == "multiarm"]
    assert len(polys) == 1 and polys[0].get_label() == "acar:metf:plac"
    assert len(polys[0].get_xy()) == 4          # closed triangle
    assert len(network_graph(fit, show_multiarm=False).axes[0].patches) == 0
    # node labels are the treatments; no participants in Senn's data -> area by studies
    assert [t.get_text() for t in _texts(ax, "node-label")] == fit.treatments
    areas = dict(zip(fit.treatments, nodes.get_sizes(), strict=True))
    assert max(areas, key=areas.get) == "plac"
    assert nodes.get_label() == "node area: studies"
    assert _texts(network_graph(fit, labels=False).axes[0], "node-label") == []
    # circle: first treatment at the top, anticlockwise
    assert_allclose(pos["acar"], [0, 1], atol=1e-12)
    assert pos["benf"][0] < 0
    for suffix in ("svg", "png"):
        assert save_figure(fig, tmp_path / f"g.{suffix}").stat().st_size > 1000


def test_network_graph_spring_layout_is_deterministic(fit):
    a = network_graph(fit, layout="spring", edge_width="inverse_se", node_size=None)
    b = network_graph(fit, layout="spring", edge_width="inverse_se", node_size=None)
    pa = np.asarray(a.axes[0].collections[0].get_offsets())
    pb = np.asarray(b.axes[0].collections[0].get_offsets())
    assert_allclose(pa, pb)
    assert np.linalg.norm(pa, axis=1).max() == pytest.approx(1.0)
    assert not np.allclose(pa, np.asarray(network_graph(fit).axes[0].collections[0]
                                          .get_offsets()))
    assert len(set(np.round(a.axes[0].collections[0].get_sizes(), 9))) == 1
    # inverse-SE widths: the most precise direct comparison is the widest edge
    edges = [c for c in a.axes[0].collections if c.get_gid() == "edges"][0]
    assert len(np.unique(np.round(edges.get_linewidths(), 9))) > 1


def test_network_graph_node_size_by_participants():
    arms = pd.DataFrame({"studlab": ["s1", "s1", "s2", "s2", "s3", "s3", "s3"],
                         "treatment": ["A", "B", "A", "C", "A", "B", "C"],
                         "event": [3, 5, 4, 6, 5, 8, 9], "n": [10, 12, 14, 16, 20, 22, 24]})
    pw = pairwise("OR", treat="treatment", studlab="studlab", event="event", n="n",
                  data=arms)
    f = evsynth.netmeta(data=pw, sm="OR")
    nodes = network_graph(f).axes[0].collections[0]
    assert nodes.get_label() == "node area: participants"
    sizes = np.asarray(nodes.get_sizes())
    part = np.array([10 + 14 + 20, 12 + 22, 16 + 24], float)     # A, B, C (s3 counted once)
    assert_allclose((sizes - 60) / 640, part / part.max())
    studies = network_graph(f, node_size="studies").axes[0].collections[0]
    assert studies.get_label() == "node area: studies"


# ------------------------------------------------------------------------------- forest plot
def test_forest_network_numbers_and_text(fit):
    fig = forest_network(fit)
    tax, pax = fig.axes
    rows = [t for t in fit.treatments if t != "plac"]
    assert [t.get_text() for t in _texts(tax, "treatment")] == rows
    te, lo, hi = (fit.random.TE["plac"], fit.random.lower["plac"], fit.random.upper["plac"])
    expected = [f"{te[t]:.2f} ({lo[t]:.2f} to {hi[t]:.2f})" for t in rows]
    assert [t.get_text() for t in _texts(tax, "effect")] == expected
    ci = [c for c in pax.collections if c.get_gid() == "ci"][0]
    segs = np.asarray(ci.get_segments())
    assert_allclose(segs[:, 0, 0], lo[rows].to_numpy())
    assert_allclose(segs[:, 1, 0], hi[rows].to_numpy())
    est = [c for c in pax.collections if c.get_gid() == "estimates"][0]
    assert_allclose(np.asarray(est.get_offsets())[:, 0], te[rows].to_numpy())
    pi = [c for c in pax.collections if c.get_gid() == "pi"][0]
    assert_allclose(np.asarray(pi.get_segments())[:, 0, 0],
                    fit.random.lower_predict.loc[rows, "plac"].to_numpy())
    assert len(_texts(tax, "pi-text")) == len(rows)
    assert [ln.get_xdata()[0] for ln in pax.lines if ln.get_gid() == "null-line"] == [0.0]
    assert pax.get_xscale() == "linear"
    assert "other vs 'plac' (Random effects model)" in _texts(tax, "title")[0].get_text()
    # common model: no prediction interval; another reference; sorted by estimate
    com = forest_network(fit, model="common", reference="metf", sort_by="estimate")
    tax, pax = com.axes
    names = [t.get_text() for t in _texts(tax, "treatment")]
    vals = fit.common.TE.loc[names, "metf"].to_numpy()
    assert "metf" not in names and np.all(np.diff(vals) >= 0)
    assert not [c for c in pax.collections if c.get_gid() == "pi"]
    assert _texts(tax, "pi-text") == []
    order = ["vild", "sita", "sulf", "rosi", "piog", "migl", "metf", "benf", "acar"]
    assert [t.get_text() for t in _texts(forest_network(fit, sort_by=order).axes[0],
                                         "treatment")] == order


def test_forest_network_ratio_measure_is_exponentiated_on_a_log_axis(senn):
    f = evsynth.netmeta(data=senn, sm="OR", reference="plac")   # numbers read as log ORs
    fig = forest_network(f, model="common")
    tax, pax = fig.axes
    assert pax.get_xscale() == "log"
    assert [ln.get_xdata()[0] for ln in pax.lines if ln.get_gid() == "null-line"] == [1.0]
    rows = [t for t in f.treatments if t != "plac"]
    est = [c for c in pax.collections if c.get_gid() == "estimates"][0]
    assert_allclose(np.asarray(est.get_offsets())[:, 0], np.exp(f.common.TE.loc[rows, "plac"]))
    first = _texts(tax, "effect")[0].get_text()
    assert first.startswith(f"{math.exp(f.common.TE.loc[rows[0], 'plac']):.2f} (")
    assert pax.get_xlabel() == "OR"
    # transf=False: the analysis scale (log OR), linear axis, null line at 0
    lin = forest_network(f, model="common", transf=False)
    assert lin.axes[1].get_xscale() == "linear"
    assert lin.axes[1].get_xlabel() == "log OR"


# ------------------------------------------------------------------------------ league table
def test_league_table_follows_netleague(fit, tmp_path):
    lt = league_table(fit)
    assert isinstance(lt, LeagueTable)
    tab = lt.to_frame()
    trts = fit.treatments
    assert list(tab.index) == list(tab.columns) == trts
    est = fit.random
    z = 1.959963984540054
    for i, ti in enumerate(trts):
        assert tab.iat[i, i] == ti
        for j, tj in enumerate(trts):
            if i > j:    # lower: network, column versus row
                assert tab.iat[i, j] == (f"{est.TE.loc[tj, ti]:.2f} ({est.lower.loc[tj, ti]:.2f}"
                                         f" to {est.upper.loc[tj, ti]:.2f})").replace("-0.00",
                                                                                     "0.00")
            elif i < j:  # upper: direct, row versus column
                d, s = est.TE_direct.loc[ti, tj], est.seTE_direct.loc[ti, tj]
                if np.isnan(d):
                    assert tab.iat[i, j] == "."
                else:
                    assert tab.iat[i, j] == f"{d:.2f} ({d - z * s:.2f} to {d + z * s:.2f})"
    # numeric parts: network.loc[a, b] is a versus b, equal to the fit's estimates
    assert_allclose(lt.network.loc[trts, trts].to_numpy(), est.TE.loc[trts, trts].to_numpy())
    assert_allclose(lt.direct_lower.to_numpy(),
                    (est.TE_direct - z * est.seTE_direct).to_numpy(), rtol=1e-7)
    long = lt.long
    assert len(long) == fit.n * (fit.n - 1)
    row = long[(long.treat1 == "metf") & (long.treat2 == "plac")].iloc[0]
    assert row.network == pytest.approx(est.TE.loc["metf", "plac"])
    # Senn: metf vs plac, 4 direct studies (DeFronzo, Lewin, Gonzalez-Ortiz, Willms)
    assert row.direct == pytest.approx(est.TE_direct.loc["metf", "plac"])
    # common model, digits and order
    lc = league_table(fit, model="common", digits=3, order=list(reversed(trts)))
    assert list(lc.table.columns) == list(reversed(trts))
    assert lc.table.loc["acar", "plac"] == \
        f"{fit.common.TE.loc['plac', 'acar']:.3f} ({fit.common.lower.loc['plac', 'acar']:.3f}" \
        f" to {fit.common.upper.loc['plac', 'acar']:.3f})"
    # outputs
    assert "column versus row" in lt.summary() and "acar" in str(lt.summary())
    d = lt.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["treatments"] == trts and d["model"] == "random"
    text = lt.to_csv(tmp_path / "league.csv")
    assert (tmp_path / "league.csv").read_text(encoding="utf-8") == text
    cells = read_csv_cells(text)
    assert cells[0] == trts
    assert cells[1:] == [list(r) for r in tab.itertuples(index=False)]
    assert "'-" in text    # negative estimates are text cells: quoted as OWASP prescribes
    h = lt.to_html()
    assert h.startswith('<table class="league">') and h.count("<tr>") == fit.n


def test_league_table_ratio_measure(senn):
    f = evsynth.netmeta(data=senn, sm="RR", reference="plac")
    lt = league_table(f, model="common")
    assert lt.transf == "exp"
    assert lt.table.loc["plac", "metf"] == \
        f"{math.exp(f.common.TE.loc['metf', 'plac']):.2f} " \
        f"({math.exp(f.common.lower.loc['metf', 'plac']):.2f} to " \
        f"{math.exp(f.common.upper.loc['metf', 'plac']):.2f})"
    raw = league_table(f, model="common", transf=False)
    assert raw.transf == "" and raw.network.loc["metf", "plac"] < 0


# ---------------------------------------------------------------------- users' treatment names
def test_hostile_treatment_names_stay_text(hostile, tmp_path):
    names = set(HOSTILE.values())
    assert names <= set(hostile.treatments)
    figs = [network_graph(hostile, title="$x$ network"), forest_network(hostile),
            funnel_comparison_adjusted(hostile)]
    for fig in figs:
        texts = [t for ax in fig.axes for t in ax.texts]
        if fig.axes[0].get_legend() is not None:
            texts += list(fig.axes[0].get_legend().get_texts())
        if fig._suptitle is not None:
            texts.append(fig._suptitle)
        shown = [t for t in texts if any(n in t.get_text() for n in names)]
        assert shown, "the hostile names are drawn"
        assert all(not t.get_parse_math() for t in shown)
        svg = svg_string(fig)
        assert "<script>" not in svg
        fig.canvas.draw()     # mathtext would fail or eat the dollars; drawing works as text
    graph_svg = svg_string(figs[0])
    assert "$x$" in graph_svg and "&lt;script&gt;alert(1)&lt;/script&gt;" in graph_svg
    assert "=cmd()" in graph_svg
    assert {t.get_text() for t in _texts(figs[0].axes[0], "node-label")} >= names
    assert "other vs '$x$'" in _texts(figs[1].axes[0], "title")[0].get_text()
    legend = {t.get_text() for t in figs[2].axes[0].get_legend().get_texts()}
    # the comparison reads earlier vs later in the fit's order (R's collation: "<" before "$")
    assert "<script>alert(1)</script> vs $x$" in legend
    lt = league_table(hostile)
    h = lt.to_html()
    assert "<script>" not in h and "&lt;script&gt;alert(1)&lt;/script&gt;" in h
    assert "$x$" in h
    text = lt.to_csv(tmp_path / "h.csv")
    assert "'=cmd()" in text and "\n=cmd()" not in text and ",=cmd()" not in text
    back = read_csv_cells(text)
    assert "=cmd()" in back[0]
    assert lt.table.loc["=cmd()", "=cmd()"] == "=cmd()"
    ranks = pd.DataFrame(np.full((3, 3), 1 / 3), index=["$x$", "<b>", "=1+1"],
                         columns=[1, 2, 3])
    fig = rankogram(ranks)
    assert [a.get_title() for a in fig.axes] == ["$x$", "<b>", "=1+1"]
    assert all(not a.title.get_parse_math() for a in fig.axes)
    fig.canvas.draw()


# --------------------------------------------------------------------------------- rankogram
def test_rankogram_bars_are_the_probabilities():
    p = pd.DataFrame([[0.6, 0.3, 0.1], [0.3, 0.5, 0.2], [0.1, 0.2, 0.7]],
                     index=["A", "B", "C"], columns=[1, 2, 3])
    fig = rankogram(p)
    assert len(fig.axes) == 3
    for ax, (_, row) in zip(fig.axes, p.iterrows(), strict=True):
        heights = [r.get_height() for r in ax.patches]
        assert_allclose(heights, row.to_numpy())
        assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "3"]
    cum = rankogram(p, treatments=["C", "A"], cumulative=True)
    assert [a.get_title() for a in cum.axes] == ["C (SUCRA 0.20)", "A (SUCRA 0.75)"]
    line = [ln for ln in cum.axes[0].lines if ln.get_gid() == "cumulative"][0]
    assert_allclose(line.get_ydata(), [0.1, 0.3, 1.0])

    class Ranks:          # a result object with a .frame, as fit.rank_probabilities()
        frame = p
    assert len(rankogram(Ranks()).axes) == 3
    with pytest.raises(InputError):
        rankogram(p * 2)
    with pytest.raises(InputError):
        rankogram(p, treatments=["Z"])
    with pytest.raises(InputError):
        rankogram(object())


def test_rankogram_of_the_fit(fit):
    ranking = pytest.importorskip("evsynth.models.network.ranking")
    rp = ranking.rank_probabilities(fit, nsim=400, seed=1)
    fig = rankogram(rp)
    assert [a.get_title() for a in fig.axes] == fit.treatments
    for ax, t in zip(fig.axes, fit.treatments, strict=True):
        assert_allclose([r.get_height() for r in ax.patches],
                        rp.probabilities.loc[t].to_numpy())
    cum = rankogram(rp, cumulative=True)
    sucra = rp.sucra
    assert [a.get_title() for a in cum.axes] == \
        [f"{t} (SUCRA {sucra[t]:.2f})" for t in fit.treatments]


# ------------------------------------------------------------------------------- net heat plot
def test_netheat_plot_from_a_matrix():
    d = ["A:B", "A:C", "B:C", "A:B:D"]
    vals = np.array([[1.0, -2.0, 0.5, 0.0], [-2.0, 3.0, 9.0, -1.0], [0.5, 9.0, 0.2, 0.0],
                     [0.0, -1.0, 0.0, 0.4]])
    heat = pd.DataFrame(vals, index=d, columns=d)
    fig = netheat_plot(heat, cluster=False, contributions=heat.abs())
    ax = fig.axes[0]
    img = ax.images[0]
    assert_allclose(np.asarray(img.get_array()), np.clip(vals, -8, 8))
    assert [t.get_text() for t in _texts(ax, "row-label")] == d
    assert [t.get_text() for t in _texts(ax, "col-label")] == d
    # colours: positive (inconsistency increases) blue, negative red, 0 white
    cmap, norm = img.get_cmap(), img.norm
    blue, red, white = cmap(norm(5.0)), cmap(norm(-5.0)), cmap(norm(0.0))
    assert blue[2] > blue[0] and red[0] > red[2] and white[:3] == pytest.approx((1, 1, 1), abs=0.01)
    squares = [p for p in ax.patches if p.get_gid() == "contribution"]
    assert len(squares) == int((vals != 0).sum())
    clustered = netheat_plot(heat)
    assert sorted(t.get_text() for t in _texts(clustered.axes[0], "row-label")) == sorted(d)
    with pytest.raises(InputError):
        netheat_plot(heat.iloc[:, :3])
    with pytest.raises(InputError):
        netheat_plot(object())


def test_netheat_plot_of_the_fit(fit):
    inconsistency = pytest.importorskip("evsynth.models.network.inconsistency")
    if not hasattr(inconsistency, "netheat"):
        pytest.skip("netheat() is not implemented yet")
    nh = inconsistency.netheat(fit)
    fig = netheat_plot(nh)
    ax = fig.axes[0]
    labels = [nh.q_diff.index[i] for i in nh.order]
    assert [t.get_text() for t in _texts(ax, "row-label")] == labels
    # colours: netmeta's -diff (positive = the column design supports the row: blue)
    assert_allclose(np.asarray(ax.images[0].get_array()),
                    np.clip(-nh.q_diff.loc[labels, labels].to_numpy(), -8, 8))
    squares = [p for p in ax.patches if p.get_gid() == "contribution"]
    h = np.abs(nh.hat.to_numpy())
    assert len(squares) == int((h > 1e-10 * h.max()).sum())


# ---------------------------------------------------------------- comparison-adjusted funnel
def test_comparison_adjusted_funnel(fit):
    res = comparison_adjusted(fit)
    assert len(res) == fit.m
    pos = {t: i for i, t in enumerate(fit.treatments)}
    assert all(pos[a] < pos[b] for a, b in zip(res.treat1, res.treat2, strict=True))
    # TE_adj = oriented TE minus the pooled direct (common) estimate of the comparison
    for r in res.itertuples():
        assert r.TE_adj == pytest.approx(r.TE - fit.common.TE_direct.loc[r.treat1, r.treat2])
        orig = fit.data[(fit.data.studlab == r.studlab)
                        & (((fit.data.treat1 == r.treat1) & (fit.data.treat2 == r.treat2))
                           | ((fit.data.treat1 == r.treat2) & (fit.data.treat2 == r.treat1)))]
        sign = 1 if orig.treat1.iloc[0] == r.treat1 else -1
        assert r.TE == pytest.approx(sign * orig.TE.iloc[0])
    # a comparison with one study is centred at itself
    single = res[res.comparison == "acar vs metf"]
    assert len(single) == 1 and single.TE_adj.iloc[0] == pytest.approx(0, abs=1e-12)
    # reversing the order negates every centred effect
    rev = comparison_adjusted(fit, order=list(reversed(fit.treatments)))
    key = ["studlab", "treat1", "treat2"]
    m = res.merge(rev.rename(columns={"treat1": "treat2", "treat2": "treat1"}), on=key)
    assert len(m) == fit.m
    assert_allclose(m.TE_adj_x, -m.TE_adj_y, atol=1e-12)
    # comparators: only their comparisons, the comparator second
    plac = comparison_adjusted(fit, order=["plac"], model="random", centre="network")
    assert set(plac.treat2) == {"plac"}
    assert len(plac) == int(((fit.data.treat1 == "plac") | (fit.data.treat2 == "plac")).sum())
    r0 = plac.iloc[0]
    assert r0.TE_adj == pytest.approx(r0.TE - fit.random.TE.loc[r0.treat1, "plac"])

    fig = funnel_comparison_adjusted(fit)
    ax = fig.axes[0]
    groups = [c for c in ax.collections if c.get_gid() == "comparison"]
    assert len(groups) == res.comparison.nunique() == len(_pairs(fit.data))
    assert sum(len(g.get_offsets()) for g in groups) == fit.m
    pts = np.concatenate([np.asarray(g.get_offsets()) for g in groups])
    assert_allclose(np.sort(pts[:, 0]), np.sort(res.TE_adj))
    assert_allclose(np.sort(pts[:, 1]), np.sort(res.seTE))
    assert ax.get_ylim()[0] > ax.get_ylim()[1] == 0        # SE axis inverted, 0 at the top
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == list(dict.fromkeys(res.comparison))
    styles = {(tuple(np.round(g.get_facecolor()[0], 6)), g.get_paths()[0].vertices.tobytes())
              for g in groups}
    assert len(styles) == len(groups)                       # colour/marker pairs distinct
    ci = [ln for ln in ax.lines if ln.get_gid() == "pseudo-ci"]
    assert len(ci) == 2
    se, x = ci[1].get_ydata(), ci[1].get_xdata()
    assert_allclose(x[1:] / se[1:], 1.959963984540054)
    x90 = [ln for ln in funnel_comparison_adjusted(fit, level=90).axes[0].lines
           if ln.get_gid() == "pseudo-ci"][1]
    assert_allclose(x90.get_xdata()[1:] / x90.get_ydata()[1:], 1.6448536269514722)
    assert ax.get_xlabel() == "MD centred at comparison-specific effect"


# ------------------------------------------------------------------------------------ errors
def test_wrong_input_is_an_input_error(fit):
    with pytest.raises(InputError):
        network_graph(object())
    with pytest.raises(InputError):
        network_graph(fit, node_size="area")
    with pytest.raises(InputError):
        network_graph(fit, layout="grid")
    with pytest.raises(InputError):
        network_graph(fit, edge_width="weight")
    with pytest.raises(InputError):
        forest_network(fit, model="fixed-ish")
    with pytest.raises(InputError):
        forest_network(fit, reference="nope")
    with pytest.raises(InputError):
        forest_network(fit, sort_by=["metf"])
    with pytest.raises(InputError):
        league_table(fit, digits=-1)
    with pytest.raises(InputError):
        league_table(fit, order=["plac"])
    with pytest.raises(InputError):
        comparison_adjusted(fit, order=["nope"])
    with pytest.raises(InputError):
        comparison_adjusted(fit, centre="mean")
