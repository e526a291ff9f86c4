"""Plots and the league table of a network meta-analysis (:func:`evsynth.netmeta`).

Drawn after R's netmeta (Balduzzi et al. 2023): the network graph after ``netgraph`` (nodes =
treatments, edges = direct comparisons, multi-arm trials as shaded polygons, ``multiarm =
TRUE``; the spring layout is stress majorization, Gansner, Koren & North 2004), the forest plot
of every treatment against the reference after ``forest.netmeta``, the league table after
``netleague`` (lower triangle: network estimates, column versus row; upper triangle: direct
estimates, row versus column), the rankogram after ``plot.rankogram`` (Salanti, Ades &
Ioannidis 2011), the net heat plot after ``netheat`` (Krahn, Binder & König 2013) and the
comparison-adjusted funnel plot after ``funnel.netmeta`` (Chaimani & Salanti 2012; Chaimani et
al. 2013).

Nothing here computes network statistics: every number comes from the fitted
:class:`~evsynth.models.network.fit.NetmetaResult` (or the result of its ``rank_probabilities()``
/ ``netheat()``). Each plot is a matplotlib :class:`~matplotlib.figure.Figure` built without
pyplot (Agg canvas, no global state) whose SVG keeps text as text. Treatment and study names come
from users: they are drawn as literal text (matplotlib's mathtext is off for every label, so
``$x$`` stays ``$x$``), escaped in HTML and made inert in CSV (:func:`evsynth.textsafe.csv_cell`).

References
----------
.. [1] Balduzzi S, Rücker G, Nikolakopoulou A, Papakonstantinou T, Salanti G, Efthimiou O,
       Schwarzer G (2023). netmeta: an R package for network meta-analysis using frequentist
       methods. *J Stat Softw* 106(2):1-40. doi:10.18637/jss.v106.i02
.. [2] Gansner ER, Koren Y, North S (2004). Graph drawing by stress majorization. In: *Graph
       Drawing 2004*, LNCS 3383:239-250. doi:10.1007/978-3-540-31843-9_25
.. [3] Salanti G, Ades AE, Ioannidis JPA (2011). Graphical methods and numerical summaries for
       presenting results from multiple-treatment meta-analysis: an overview and tutorial.
       *J Clin Epidemiol* 64(2):163-171. doi:10.1016/j.jclinepi.2010.03.016
.. [4] Krahn U, Binder H, König J (2013). A graphical tool for locating inconsistency in network
       meta-analyses. *BMC Med Res Methodol* 13:35. doi:10.1186/1471-2288-13-35
.. [5] Chaimani A, Salanti G (2012). Using network meta-analysis to evaluate the existence of
       small-study effects in a network of interventions. *Res Synth Methods* 3(2):161-176.
       doi:10.1002/jrsm.57
.. [6] Chaimani A, Higgins JPT, Mavridis D, Spyridonos P, Salanti G (2013). Graphical tools for
       network meta-analysis in STATA. *PLoS One* 8(10):e76654.
       doi:10.1371/journal.pone.0076654

Examples
--------
>>> import pandas as pd
>>> import evsynth
>>> from evsynth.reports.network_plots import league_table, network_graph
>>> d = pd.DataFrame({"studlab": ["s1", "s2", "s3", "s4"],
...                   "treat1": ["A", "A", "B", "A"], "treat2": ["B", "C", "C", "B"],
...                   "TE": [0.5, 0.9, 0.3, 0.4], "seTE": [0.2, 0.25, 0.3, 0.2]})
>>> fit = evsynth.netmeta(data=d, sm="MD", random=False)
>>> len(network_graph(fit).axes[0].collections[0].get_offsets())
3
>>> league_table(fit, model="common").to_frame().iloc[0, 0]
'A'
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colors as mcolors
from matplotlib import ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Polygon

from evsynth.errors import InputError
from evsynth.models.results import ResultMixin
from evsynth.reports.forest import RATIO_MEASURES, ForestFigure, font_families, text_width
from evsynth.textsafe import html_text

__all__ = ["LeagueTable", "comparison_adjusted", "forest_network", "funnel_comparison_adjusted",
           "league_table", "netheat_plot", "network_graph", "rankogram"]

INK = "#111111"
GREY = "#555555"
EDGE = "#4d4d4d"
NODE = "#1f4e9c"
PI_COLOUR = "#b03a2e"
#: fill colours of the multi-arm polygons (netmeta: a sequential palette with transparency)
MULTIARM = ("#9467bd", "#2ca02c", "#ff7f0e", "#17becf", "#d62728", "#8c564b", "#e377c2",
            "#bcbd22")
#: comparison colours and markers of the funnel plot
FUNNEL_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                  "#e377c2", "#17becf", "#7f7f7f", "#bcbd22")
FUNNEL_MARKERS = ("o", "s", "^", "D", "v", "P", "X")   # 7 and 10 colours: 70 combinations
SIZE = 8.0          # body text, points
ROW_H = 0.22        # forest row height, inches
PAD = 0.12          # forest column padding, inches


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------
def _figure(width: float, height: float, layout: Any = None) -> Figure:
    """A figure on an Agg canvas whose SVG keeps text as text (no pyplot)."""
    fig = ForestFigure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(fig)
    fig.patch.set_facecolor("white")
    return fig


def _text(ax: Any, x: float, y: float, s: str, **kw: Any) -> Any:
    """Literal text (mathtext off: ``$`` stays a dollar sign), with a font for its characters."""
    kw.setdefault("fontsize", SIZE)
    kw.setdefault("color", INK)
    return ax.text(x, y, s, fontfamily=font_families(s), parse_math=False, **kw)


def _literal(texts: Any) -> None:
    """Turn mathtext off for existing Text artists (legend entries, titles)."""
    for t in texts:
        t.set_parse_math(False)
        t.set_fontfamily(font_families(t.get_text()))


def _check_fit(fit: Any, what: str) -> None:
    for name in ("treatments", "data", "common"):
        if not hasattr(fit, name):
            raise InputError(f"{what}: expected a network meta-analysis (evsynth.netmeta); this "
                             f"{type(fit).__name__} has no {name!r}")


def _estimates(fit: Any, model: str, what: str) -> Any:
    """``fit.common`` or ``fit.random`` (an error if the model was not fitted)."""
    if model not in ("common", "random"):
        raise InputError(f"{what}: model must be 'common' or 'random'; got {model!r}")
    est = getattr(fit, model, None)
    if est is None:
        raise InputError(f"{what}: the fit has no {model} effects model (fit with "
                         f"{model}=True)")
    return est


def _is_ratio(fit: Any) -> bool:
    flag = getattr(fit, "is_ratio", None)
    if isinstance(flag, bool):
        return flag
    return str(getattr(fit, "sm", "") or "").strip().upper() in RATIO_MEASURES


def _transf(fit: Any, transf: Any, what: str) -> tuple[Callable[[Any], np.ndarray], bool, str]:
    """``(function, exponentiated, name)``: the transformation of the numbers shown.

    ``None``: exp for ratio measures (netmeta's ``backtransf = TRUE``), none otherwise;
    ``False``: none; a name or function: through :func:`evsynth.transf.resolve`."""
    if transf is None:
        transf = "exp" if _is_ratio(fit) else False
    if transf is False:
        return (lambda x: np.asarray(x, dtype=float)), False, ""
    from evsynth.transf import resolve

    f, name = resolve(transf, what=what)
    if f is None:
        return (lambda x: np.asarray(x, dtype=float)), False, ""
    exponentiated = name == "exp" or transf is np.exp
    return f, exponentiated, str(name or getattr(transf, "__name__", "transf"))


def _z(level: float) -> float:
    from evsynth.models.network.fit import z_critical

    return z_critical(level)


def _level_pct(level: float) -> str:
    lvl = float(level)
    lvl = lvl * 100 if lvl <= 1 else lvl
    return f"{lvl:g}%"


def _fmt(x: float, digits: int) -> str:
    if x is None or not np.isfinite(x):
        return "."
    s = f"{x:.{digits}f}"
    return s[1:] if s.startswith("-") and float(s) == 0 else s   # no "-0.00"


def _fmt_ci(est: float, lo: float, hi: float, digits: int) -> str:
    """``"est (lo to hi)"``; ``"."`` when the estimate is missing."""
    if est is None or not np.isfinite(est):
        return "."
    return f"{_fmt(est, digits)} ({_fmt(lo, digits)} to {_fmt(hi, digits)})"


def _frame(values: Any, treatments: Sequence[str]) -> pd.DataFrame:
    """An n x n DataFrame indexed by treatments (accepts an array or a DataFrame)."""
    if isinstance(values, pd.DataFrame):
        return values.loc[list(treatments), list(treatments)].astype(float)
    return pd.DataFrame(np.asarray(values, dtype=float), index=list(treatments),
                        columns=list(treatments))


def _measure(fit: Any, exponentiated: bool, tname: str) -> str:
    sm = str(getattr(fit, "sm", "") or "").strip()
    if not sm:
        return "Estimate" if not tname else f"{tname}(Estimate)"
    if _is_ratio(fit) and not exponentiated and not tname:
        return f"log {sm}"
    if tname and not exponentiated:
        return f"{tname}({sm})"
    return sm


def _plain_log_axis(axis: Any) -> None:
    """Log-scale axis labelled with plain numbers (0.2, 0.5, 1, 2)."""
    axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    axis.set_minor_formatter(ticker.NullFormatter())


def _order(treatments: Sequence[str], order: Sequence[str] | None, what: str) -> list[str]:
    """The treatments in ``order`` (all of them, each once)."""
    if order is None:
        return list(treatments)
    order = [str(t) for t in order]
    unknown = [t for t in order if t not in treatments]
    if unknown:
        raise InputError(f"{what}: unknown treatment(s) {unknown!r}; the network has "
                         f"{list(treatments)!r}")
    if len(set(order)) != len(order) or len(order) != len(treatments):
        raise InputError(f"{what}: order must name every treatment once; got {order!r}")
    return order


# --------------------------------------------------------------------------------------------
# network graph
# --------------------------------------------------------------------------------------------
def _edges(fit: Any) -> pd.DataFrame:
    """Direct comparisons: one row per unordered pair with the number of studies."""
    d = fit.data
    pos = {t: i for i, t in enumerate(fit.treatments)}
    a = [str(x) for x in d["treat1"]]
    b = [str(x) for x in d["treat2"]]
    first = [x if pos[x] < pos[y] else y for x, y in zip(a, b, strict=True)]
    second = [y if pos[x] < pos[y] else x for x, y in zip(a, b, strict=True)]
    e = pd.DataFrame({"t1": first, "t2": second, "studlab": [str(s) for s in d["studlab"]]})
    g = e.groupby(["t1", "t2"], sort=False)["studlab"].nunique().reset_index(name="studies")
    g["_o"] = [pos[x] * len(pos) + pos[y] for x, y in zip(g["t1"], g["t2"], strict=True)]
    return g.sort_values("_o").drop(columns="_o").reset_index(drop=True)


def _arms(fit: Any) -> dict[str, list[str]]:
    """Each study's treatments (in the fit's treatment order)."""
    d = fit.data
    pos = {t: i for i, t in enumerate(fit.treatments)}
    arms: dict[str, set[str]] = {}
    for s, a, b in zip(d["studlab"], d["treat1"], d["treat2"], strict=True):
        arms.setdefault(str(s), set()).update((str(a), str(b)))
    return {s: sorted(t, key=pos.__getitem__) for s, t in arms.items()}


def _participants(fit: Any) -> dict[str, float] | None:
    """Participants per treatment (sum of the arm sizes n1/n2 over studies), or None."""
    d = fit.data
    if "n1" not in d.columns or "n2" not in d.columns:
        return None
    arm: dict[tuple[str, str], float] = {}
    for s, t1, t2, n1, n2 in zip(d["studlab"], d["treat1"], d["treat2"], d["n1"], d["n2"],
                                 strict=True):
        for t, n in ((t1, n1), (t2, n2)):
            if n is not None and np.isfinite(float(n)):
                arm.setdefault((str(s), str(t)), float(n))
    if not arm:
        return None
    out = dict.fromkeys(fit.treatments, 0.0)
    for (_, t), n in arm.items():
        out[t] += n
    return out


def _circle(n: int) -> np.ndarray:
    """Treatments on the unit circle, the first at the top, anticlockwise (netgraph)."""
    ang = math.pi / 2 + 2 * math.pi * np.arange(n) / max(n, 1)
    return np.column_stack([np.cos(ang), np.sin(ang)])


def _stress_layout(n: int, pairs: Sequence[tuple[int, int]], seed: int = 1,
                   iterations: int = 500) -> np.ndarray:
    """Stress majorization (Gansner, Koren & North 2004) on the graph distances, started from
    the circle with a seeded small jitter; scaled to the unit disc (deterministic)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import shortest_path

    if n <= 2:
        return _circle(n)
    adj = np.zeros((n, n))
    for i, j in pairs:
        adj[i, j] = adj[j, i] = 1.0
    dist = shortest_path(csr_matrix(adj), unweighted=True, directed=False)
    finite = dist[np.isfinite(dist)]
    dist[~np.isfinite(dist)] = (finite.max() if finite.size else 1.0) + 1.0
    w = np.zeros_like(dist)
    off = ~np.eye(n, dtype=bool)
    w[off] = dist[off] ** -2.0
    lw = np.diag(w.sum(axis=1)) - w
    lw_pinv = np.linalg.pinv(lw)
    rng = np.random.default_rng(seed)
    x = _circle(n) * 1.0 + rng.normal(scale=0.05, size=(n, 2))

    def stress(p: np.ndarray) -> float:
        e = np.linalg.norm(p[:, None, :] - p[None, :, :], axis=2)
        return float((w[off] * (e[off] - dist[off]) ** 2).sum())

    s_old = stress(x)
    for _ in range(iterations):
        e = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=2)
        b = np.zeros_like(e)
        nz = off & (e > 1e-12)
        b[nz] = -w[nz] * dist[nz] / e[nz]
        np.fill_diagonal(b, -b.sum(axis=1))
        x = lw_pinv @ b @ x
        s_new = stress(x)
        if s_old - s_new < 1e-10 * max(s_old, 1e-12):
            break
        s_old = s_new
    x = x - x.mean(axis=0)
    r = float(np.linalg.norm(x, axis=1).max())
    return x / r if r > 0 else x


def network_graph(fit: Any, *, node_size: str | None = "participants",
                  edge_width: str = "studies", layout: str = "circle",
                  show_multiarm: bool = True, labels: bool = True, title: str | None = None,
                  seed: int = 1, width: float = 6.0, height: float = 6.0) -> Figure:
    """Network graph: treatments as nodes, direct comparisons as edges (netmeta ``netgraph``).

    Parameters
    ----------
    fit : NetmetaResult
        A fitted network meta-analysis (:func:`evsynth.netmeta`).
    node_size : {"participants", "studies", None}
        Node area proportional to the number of participants randomised to the treatment (the
        arm sizes ``n1``/``n2`` of ``fit.data``, each study's arm counted once; when the data
        have no arm sizes, the number of studies is used instead), to the number of studies
        with the treatment, or all nodes the same size (``None``).
    edge_width : {"studies", "inverse_se"}
        Edge width proportional to the number of studies of the comparison, or to the inverse
        standard error of the direct common effects estimate (netmeta ``thickness =
        "se.common"``). The number of studies is written on every edge.
    layout : {"circle", "spring"}
        Treatments on a circle in the fit's treatment order (first at the top, anticlockwise,
        as netgraph), or a stress-majorization layout of the graph distances (Gansner, Koren &
        North 2004) started from the circle with a jitter seeded by ``seed``.
    show_multiarm : bool
        Shade each design of a multi-arm study as a polygon over its treatments (netgraph
        ``multiarm = TRUE``).
    labels : bool
        Write the treatment names next to the nodes.
    title : str, optional
        Figure title.
    seed : int
        Seed of the spring layout's start (the layout is deterministic for a given seed).
    width, height : float
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: the nodes are its first collection (gid ``"nodes"``), the edges a
        :class:`~matplotlib.collections.LineCollection` (gid ``"edges"``, one segment per
        direct comparison), the multi-arm polygons patches with gid ``"multiarm"``; edge
        labels have gid ``"edge-label"``, node labels ``"node-label"``.

    References
    ----------
    .. [1] Balduzzi S et al. (2023). netmeta. *J Stat Softw* 106(2). doi:10.18637/jss.v106.i02
    .. [2] Gansner ER, Koren Y, North S (2004). Graph drawing by stress majorization. LNCS
           3383:239-250. doi:10.1007/978-3-540-31843-9_25

    Examples
    --------
    >>> import pandas as pd
    >>> import evsynth
    >>> from evsynth.reports.network_plots import network_graph
    >>> d = pd.DataFrame({"studlab": ["s1", "s2", "s3"], "treat1": ["A", "A", "B"],
    ...                   "treat2": ["B", "C", "C"], "TE": [0.5, 0.9, 0.3],
    ...                   "seTE": [0.2, 0.25, 0.3]})
    >>> fig = network_graph(evsynth.netmeta(data=d, random=False))
    >>> len(fig.axes[0].collections[1].get_segments())
    3
    """
    what = "network_graph"
    _check_fit(fit, what)
    if node_size not in ("participants", "studies", None):
        raise InputError(f"{what}: node_size must be 'participants', 'studies' or None; got "
                         f"{node_size!r}")
    if edge_width not in ("studies", "inverse_se"):
        raise InputError(f"{what}: edge_width must be 'studies' or 'inverse_se'; got "
                         f"{edge_width!r}")
    if layout not in ("circle", "spring"):
        raise InputError(f"{what}: layout must be 'circle' or 'spring'; got {layout!r}")
    trts = [str(t) for t in fit.treatments]
    n = len(trts)
    pos_of = {t: i for i, t in enumerate(trts)}
    edges = _edges(fit)
    pairs = [(pos_of[a], pos_of[b]) for a, b in zip(edges["t1"], edges["t2"], strict=True)]
    xy = _circle(n) if layout == "circle" else _stress_layout(n, pairs, seed=seed)
    arms = _arms(fit)

    # node sizes
    size_label = None
    if node_size is None:
        values = np.ones(n)
    else:
        part = _participants(fit) if node_size == "participants" else None
        if part is not None:
            values = np.array([part[t] for t in trts], float)
            size_label = "participants"
        else:
            values = np.array([sum(t in a for a in arms.values()) for t in trts], float)
            size_label = "studies"
    vmax = float(values.max()) if values.size and values.max() > 0 else 1.0
    areas = 60.0 + 640.0 * values / vmax if node_size is not None else np.full(n, 220.0)

    # edge widths
    if edge_width == "studies":
        ew = edges["studies"].to_numpy(float)
    else:
        sed = _frame(fit.common.seTE_direct, trts)
        ew = np.array([1.0 / float(sed.loc[a, b]) for a, b in
                       zip(edges["t1"], edges["t2"], strict=True)])
        ew[~np.isfinite(ew)] = np.nanmin(ew) if np.isfinite(ew).any() else 1.0
    widths = 0.8 + 7.2 * ew / float(ew.max()) if ew.size else ew

    fig = _figure(width, height)
    ax = fig.add_axes((0.08, 0.06, 0.84, 0.84) if title else (0.08, 0.08, 0.84, 0.84))
    ax.set_axis_off()
    ax.set_aspect("equal")
    lo_xy, hi_xy = xy.min(axis=0), xy.max(axis=0)
    half = float(max((hi_xy - lo_xy).max() / 2, 0.5)) + 0.45
    mid = (lo_xy + hi_xy) / 2
    ax.set_xlim(mid[0] - half, mid[0] + half)
    ax.set_ylim(mid[1] - half, mid[1] + half)
    nodes = ax.scatter(xy[:, 0], xy[:, 1], s=areas, c=NODE, zorder=4, linewidths=0.8,
                       edgecolors="white", gid="nodes")
    nodes.set_label(f"node area: {size_label}" if size_label else "nodes")
    segs = [[tuple(xy[i]), tuple(xy[j])] for i, j in pairs]
    lines = LineCollection(segs, linewidths=widths, colors=EDGE, zorder=3, gid="edges",
                           capstyle="round")
    ax.add_collection(lines)
    for (i, j), k in zip(pairs, edges["studies"], strict=True):
        mx, my = (xy[i] + xy[j]) / 2
        _text(ax, mx, my, str(int(k)), ha="center", va="center", fontsize=SIZE - 0.5,
              zorder=5, gid="edge-label",
              bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.9})
    if show_multiarm:
        designs: dict[tuple[str, ...], int] = {}
        for a in arms.values():
            if len(a) > 2:
                designs[tuple(a)] = designs.get(tuple(a), 0) + 1
        for c, (design, _count) in enumerate(designs.items()):
            pts = xy[[pos_of[t] for t in design]]
            centre = pts.mean(axis=0)
            ang = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
            poly = Polygon(pts[np.argsort(ang)], closed=True, fc=MULTIARM[c % len(MULTIARM)],
                           ec="none", alpha=0.25, zorder=2, gid="multiarm")
            poly.set_label(":".join(design))
            ax.add_patch(poly)
    if labels:
        nbrs: dict[int, list[int]] = {i: [] for i in range(n)}
        for i, j in pairs:
            nbrs[i].append(j)
            nbrs[j].append(i)
        centre = xy.mean(axis=0) if layout == "spring" else np.zeros(2)
        for i, (t, (x, y), area) in enumerate(zip(trts, xy, areas, strict=True)):
            dx, dy = x - centre[0], y - centre[1]
            if layout == "spring" and nbrs[i]:
                # away from the node's edges: minus the mean direction to its neighbours
                u = xy[nbrs[i]] - xy[i]
                u = u / np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-12)
                away = -u.mean(axis=0)
                if float(np.linalg.norm(away)) > 0.2:
                    dx, dy = float(away[0]), float(away[1])
            norm = math.hypot(dx, dy) or 1.0
            off = 0.10 + 0.004 * math.sqrt(area)
            lx, ly = x + off * dx / norm, y + off * dy / norm
            ha = "left" if dx / norm > 0.3 else "right" if dx / norm < -0.3 else "center"
            va = "bottom" if dy / norm > 0.3 else "top" if dy / norm < -0.3 else "center"
            _text(ax, lx, ly, t, ha=ha, va=va, fontsize=SIZE + 1, zorder=6, gid="node-label",
                  bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none",
                        "alpha": 0.75})
    if title:
        fig.suptitle(title, parse_math=False, fontfamily=font_families(title))
    return fig


# --------------------------------------------------------------------------------------------
# forest plot against the reference
# --------------------------------------------------------------------------------------------
def forest_network(fit: Any, *, model: str = "random", reference: str | None = None,
                   transf: Any = None, xlabel: str | None = None,
                   sort_by: str | Sequence[str] | None = None, show_pi: bool = True,
                   width: float | None = None) -> Figure:
    """Forest plot of every treatment against the reference (netmeta ``forest.netmeta``).

    Parameters
    ----------
    fit : NetmetaResult
        A fitted network meta-analysis (:func:`evsynth.netmeta`).
    model : {"random", "common"}
        Which model's network estimates to draw.
    reference : str, optional
        The comparator (default: the fit's reference treatment). Every other treatment is a
        row: its effect versus the reference, ``TE.loc[treatment, reference]``.
    transf : None, False, str or callable
        Transformation of the numbers shown. ``None``: exponentiated for ratio measures (``sm``
        OR, RR, HR, IRR, ROM; netmeta's ``backtransf = TRUE``; on a log axis), as they are
        otherwise; ``False``: the analysis scale; a name of :mod:`evsynth.transf` or a function
        (``"exp"`` also gives a log axis). The null line is drawn at the transformed 0.
    xlabel : str, optional
        Axis label (default: the measure).
    sort_by : None, "estimate", "-estimate", "name" or a sequence of treatments
        Row order: the fit's treatment order, by estimate (ascending or descending), by name,
        or as listed (the listed treatments other than the reference).
    show_pi : bool
        For the random effects model, draw and print the prediction interval where it is
        defined (``lower_predict`` / ``upper_predict``).
    width : float, optional
        Figure width in inches (default: from the text columns).

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: the text (first) and the plot panel (second; its first line collection has
        one CI segment per treatment, gid ``"ci"``; the squares have gid ``"estimates"``; the
        prediction intervals gid ``"pi"``). Row labels have gid ``"treatment"``, the effect
        columns gid ``"effect"`` and ``"pi-text"``.

    References
    ----------
    .. [1] Balduzzi S et al. (2023). netmeta. *J Stat Softw* 106(2). doi:10.18637/jss.v106.i02
    .. [2] Higgins JPT, Thompson SG, Spiegelhalter DJ (2009). A re-evaluation of random-effects
           meta-analysis. *J R Stat Soc A* 172(1):137-159. doi:10.1111/j.1467-985X.2008.00552.x

    Examples
    --------
    >>> import pandas as pd
    >>> import evsynth
    >>> from evsynth.reports.network_plots import forest_network
    >>> d = pd.DataFrame({"studlab": ["s1", "s2", "s3"], "treat1": ["A", "A", "B"],
    ...                   "treat2": ["B", "C", "C"], "TE": [0.5, 0.9, 0.3],
    ...                   "seTE": [0.2, 0.25, 0.3]})
    >>> fig = forest_network(evsynth.netmeta(data=d, reference="A"), model="common")
    >>> [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "treatment"]
    ['B', 'C']
    """
    what = "forest_network"
    _check_fit(fit, what)
    est = _estimates(fit, model, what)
    trts = [str(t) for t in fit.treatments]
    ref = str(reference if reference is not None else getattr(fit, "reference", trts[0]))
    if ref not in trts:
        raise InputError(f"{what}: reference {ref!r} is not a treatment of the network "
                         f"({trts!r})")
    f, expd, tname = _transf(fit, transf, what)
    te = _frame(est.TE, trts)
    lo = _frame(est.lower, trts)
    hi = _frame(est.upper, trts)
    rows = [t for t in trts if t != ref]
    if sort_by is None:
        pass
    elif isinstance(sort_by, str) and sort_by in ("estimate", "-estimate"):
        rows = sorted(rows, key=lambda t: float(te.loc[t, ref]),
                      reverse=sort_by == "-estimate")
    elif isinstance(sort_by, str) and sort_by == "name":
        rows = sorted(rows, key=str.casefold)
    elif not isinstance(sort_by, str):
        listed = [str(t) for t in sort_by if str(t) != ref]
        unknown = [t for t in listed if t not in rows]
        if unknown or sorted(listed) != sorted(rows):
            raise InputError(f"{what}: sort_by must list every treatment but the reference "
                             f"once; got {list(sort_by)!r}")
        rows = listed
    else:
        raise InputError(f"{what}: sort_by must be None, 'estimate', '-estimate', 'name' or a "
                         f"list of treatments; got {sort_by!r}")
    y = f(np.array([te.loc[t, ref] for t in rows], float))
    yl = f(np.array([lo.loc[t, ref] for t in rows], float))
    yu = f(np.array([hi.loc[t, ref] for t in rows], float))
    yl, yu = np.minimum(yl, yu), np.maximum(yl, yu)
    pi = model == "random" and show_pi and \
        getattr(est, "lower_predict", None) is not None and \
        getattr(est, "upper_predict", None) is not None
    if pi:
        pl = f(np.array([_frame(est.lower_predict, trts).loc[t, ref] for t in rows], float))
        pu = f(np.array([_frame(est.upper_predict, trts).loc[t, ref] for t in rows], float))
        pl, pu = np.minimum(pl, pu), np.maximum(pl, pu)
        pi = bool(np.isfinite(pl).any())
    null = float(np.asarray(f(np.array([0.0])), float).ravel()[0])
    digits = 2
    level = getattr(fit, "level", 95)
    eff_txt = [_fmt_ci(a, b, c, digits) for a, b, c in zip(y, yl, yu, strict=True)]
    pi_txt = [(f"{_fmt(a, digits)} to {_fmt(b, digits)}" if np.isfinite(a) else "")
              for a, b in zip(pl, pu, strict=True)] if pi else []
    measure = _measure(fit, expd, tname)
    head_trt = "Treatment"
    head_eff = f"{measure} ({_level_pct(level)} CI)"
    lvl_pred = getattr(fit, "level_predict", None) or level
    head_pi = f"{_level_pct(lvl_pred)} PI"

    # layout in inches
    w_lab = max([text_width(t, SIZE) for t in rows] + [text_width(head_trt, SIZE, True)])
    w_eff = max([text_width(s, SIZE) for s in eff_txt] + [text_width(head_eff, SIZE, True)])
    w_pi = (max([text_width(s, SIZE) for s in pi_txt] + [text_width(head_pi, SIZE, True)])
            if pi else 0.0)
    panel = 2.8
    margin = 0.15
    total_w = margin + w_lab + PAD * 2 + panel + PAD * 2 + w_eff + \
        (PAD * 2 + w_pi if pi else 0.0) + margin
    fig_w = float(width) if width is not None else total_w
    if fig_w < total_w:
        panel = max(1.0, panel - (total_w - fig_w))
    title_h = ROW_H * 1.6
    head_h = ROW_H * 1.3
    n_rows = len(rows)
    bottom = 0.65
    fig_h = margin + title_h + head_h + n_rows * ROW_H + ROW_H * 0.4 + bottom
    fig = _figure(fig_w, fig_h)
    tax = fig.add_axes((0, 0, 1, 1))
    tax.set_xlim(0, fig_w)
    tax.set_ylim(fig_h, 0)
    tax.set_axis_off()
    x_lab = margin
    x_panel = margin + w_lab + PAD * 2
    x_eff = x_panel + panel + PAD * 2
    x_pi = x_eff + w_eff + PAD * 2
    y0 = margin + title_h + head_h          # top of the first row
    model_name = "Random effects model" if model == "random" else "Common effects model"
    _text(tax, x_lab, margin + ROW_H * 0.5, f"Comparison: other vs '{ref}' ({model_name})",
          va="center", fontweight="bold", gid="title")
    hy = margin + title_h + head_h * 0.5
    _text(tax, x_lab, hy, head_trt, va="center", fontweight="bold", gid="header")
    _text(tax, x_eff + w_eff, hy, head_eff, va="center", ha="right", fontweight="bold",
          gid="header")
    if pi:
        _text(tax, x_pi + w_pi, hy, head_pi, va="center", ha="right", fontweight="bold",
              gid="header")
    for i, t in enumerate(rows):
        yc = y0 + (i + 0.5) * ROW_H
        _text(tax, x_lab, yc, t, va="center", gid="treatment")
        _text(tax, x_eff + w_eff, yc, eff_txt[i], va="center", ha="right", gid="effect")
        if pi:
            _text(tax, x_pi + w_pi, yc, pi_txt[i], va="center", ha="right", gid="pi-text")
    # plot panel: rows at y = 0.5, 1.5, ... (downwards)
    pax = fig.add_axes((x_panel / fig_w, (fig_h - y0 - n_rows * ROW_H) / fig_h, panel / fig_w,
                        n_rows * ROW_H / fig_h))
    pax.set_ylim(n_rows, 0)
    pax.patch.set_alpha(0)
    for side in ("left", "right", "top"):
        pax.spines[side].set_visible(False)
    pax.yaxis.set_visible(False)
    ys = np.arange(n_rows) + 0.5
    vals = [yl, yu, y, np.array([null])]
    if pi:
        vals += [pl, pu]
    allv = np.concatenate([np.asarray(v, float) for v in vals])
    allv = allv[np.isfinite(allv)]
    if expd:
        allv = allv[allv > 0]
        pax.set_xscale("log")
        lo_x, hi_x = float(allv.min()), float(allv.max())
        span = math.log(hi_x / lo_x) if hi_x > lo_x else 1.0
        pax.set_xlim(lo_x * math.exp(-0.06 * span), hi_x * math.exp(0.06 * span))
        _plain_log_axis(pax.xaxis)
    else:
        lo_x, hi_x = float(allv.min()), float(allv.max())
        span = hi_x - lo_x if hi_x > lo_x else 1.0
        pax.set_xlim(lo_x - 0.06 * span, hi_x + 0.06 * span)
    pax.axvline(null, color=GREY, lw=0.8, zorder=1, gid="null-line")
    if pi:
        ok = np.isfinite(pl) & np.isfinite(pu)
        pis = LineCollection([[(a, yy), (b, yy)] for a, b, yy in
                              zip(pl[ok], pu[ok], ys[ok], strict=True)],
                             colors=PI_COLOUR, linewidths=3.0, alpha=0.45, zorder=2, gid="pi")
        pax.add_collection(pis)
    cis = LineCollection([[(a, yy), (b, yy)] for a, b, yy in zip(yl, yu, ys, strict=True)],
                         colors=INK, linewidths=1.1, zorder=3, gid="ci")
    pax.add_collection(cis)
    pax.scatter(y, ys, marker="s", s=28, c=NODE, zorder=4, gid="estimates")
    pax.tick_params(axis="x", labelsize=SIZE - 0.5)
    label = xlabel if xlabel is not None else measure
    pax.set_xlabel(label, fontsize=SIZE, parse_math=False)
    return fig


# --------------------------------------------------------------------------------------------
# league table
# --------------------------------------------------------------------------------------------
class LeagueTable(ResultMixin):
    """League table of a network meta-analysis (netmeta ``netleague``).

    Treatments on the diagonal; the lower triangle holds the network estimates of the
    treatment in the *column* versus the treatment in the *row*; the upper triangle holds the
    direct estimates (pooled direct evidence) of the treatment in the *row* versus the
    treatment in the *column*, ``"."`` where there is no direct evidence. So the cells
    ``[i, j]`` and ``[j, i]`` (i < j) both compare treatment i with treatment j (netleague's
    convention). Cells read ``"est (lower to upper)"``.

    Attributes
    ----------
    table : pandas.DataFrame
        The league table as text (index and columns = treatments).
    network, network_lower, network_upper : pandas.DataFrame
        Network estimates on the scale shown: ``network.loc[a, b]`` is a versus b.
    direct, direct_lower, direct_upper : pandas.DataFrame
        Direct estimates (NaN without direct evidence), ``direct.loc[a, b]`` is a versus b.
    treatments : list of str
    model : str
    digits : int
    sm : str
    transf : str
        The transformation applied (``"exp"`` for a ratio measure shown as ratios; ``""``).
    level : float

    References
    ----------
    .. [1] Balduzzi S et al. (2023). netmeta. *J Stat Softw* 106(2). doi:10.18637/jss.v106.i02
    """

    _dict_fields = ("treatments", "model", "digits", "sm", "transf", "level", "table",
                    "long")

    def __init__(self, *, treatments: list[str], model: str, digits: int, sm: str,
                 transf: str, level: float, network: pd.DataFrame,
                 network_lower: pd.DataFrame, network_upper: pd.DataFrame,
                 direct: pd.DataFrame, direct_lower: pd.DataFrame,
                 direct_upper: pd.DataFrame) -> None:
        self.treatments = treatments
        self.model = model
        self.digits = digits
        self.sm = sm
        self.transf = transf
        self.level = level
        self.network, self.network_lower, self.network_upper = (network, network_lower,
                                                                network_upper)
        self.direct, self.direct_lower, self.direct_upper = direct, direct_lower, direct_upper
        n = len(treatments)
        cells = [["" for _ in range(n)] for _ in range(n)]
        for i, ti in enumerate(treatments):
            for j, tj in enumerate(treatments):
                if i == j:
                    cells[i][j] = ti
                elif i > j:    # lower: column versus row, network
                    cells[i][j] = _fmt_ci(network.loc[tj, ti], network_lower.loc[tj, ti],
                                          network_upper.loc[tj, ti], digits)
                else:          # upper: row versus column, direct
                    cells[i][j] = _fmt_ci(direct.loc[ti, tj], direct_lower.loc[ti, tj],
                                          direct_upper.loc[ti, tj], digits)
        self.table = pd.DataFrame(cells, index=list(treatments), columns=list(treatments))

    @property
    def long(self) -> pd.DataFrame:
        """Tidy numbers: one row per ordered pair (treat1 versus treat2) with the network and
        direct estimates and their confidence limits (scale shown)."""
        rows = []
        for a in self.treatments:
            for b in self.treatments:
                if a == b:
                    continue
                rows.append({"treat1": a, "treat2": b,
                             "network": float(self.network.loc[a, b]),
                             "network_lower": float(self.network_lower.loc[a, b]),
                             "network_upper": float(self.network_upper.loc[a, b]),
                             "direct": float(self.direct.loc[a, b]),
                             "direct_lower": float(self.direct_lower.loc[a, b]),
                             "direct_upper": float(self.direct_upper.loc[a, b])})
        return pd.DataFrame(rows)

    @property
    def caption(self) -> str:
        """What the triangles hold."""
        model = "random effects" if self.model == "random" else "common effects"
        scale = " (exponentiated)" if self.transf == "exp" else \
            (f" ({self.transf})" if self.transf else "")
        sm = f"{self.sm}{scale}" if self.sm else f"Estimate{scale}"
        return (f"League table, {model} model, {sm} with {_level_pct(self.level)} CI. "
                "Lower triangle: network estimates, column versus row. Upper triangle: direct "
                "estimates, row versus column ('.' = no direct evidence).")

    def to_frame(self) -> pd.DataFrame:
        """The league table as a DataFrame of text (a copy).

        Returns
        -------
        pandas.DataFrame
        """
        return self.table.copy()

    def summary_text(self) -> str:
        """The table as aligned plain text with the caption."""
        cols = [list(self.table.iloc[:, j]) for j in range(self.table.shape[1])]
        widths = [max(len(c) for c in col) for col in cols]
        lines = [self.caption, ""]
        for i in range(self.table.shape[0]):
            lines.append("  ".join(str(self.table.iat[i, j]).ljust(widths[j])
                                   for j in range(self.table.shape[1])).rstrip())
        return "\n".join(lines)

    def to_html(self) -> str:
        """The table as an HTML ``<table>`` (every text escaped; the diagonal as row headers).

        Returns
        -------
        str
        """
        e = html_text
        out = ['<table class="league">', f"<caption>{e(self.caption)}</caption>", "<tbody>"]
        n = len(self.treatments)
        for i in range(n):
            cells = []
            for j in range(n):
                v = e(str(self.table.iat[i, j]))
                if i == j:
                    cells.append(f'<th scope="row" class="league-trt">{v}</th>')
                else:
                    cls = "league-network" if i > j else "league-direct"
                    cells.append(f'<td class="{cls}">{v}</td>')
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</tbody></table>")
        return "\n".join(out)

    def to_csv(self, path: str | os.PathLike[str] | None = None) -> str:
        """The table as CSV, every cell made inert for spreadsheets
        (:func:`evsynth.textsafe.csv_cell`: a cell beginning with ``=``, ``+``, ``-`` or ``@``
        gets a leading quote, removed again by :func:`evsynth.textsafe.read_csv_cells`).

        Parameters
        ----------
        path : path-like, optional
            Where to write the CSV (atomically, UTF-8); without it only the text is returned.

        Returns
        -------
        str
            The CSV text (header row = the treatments, then one row per treatment).
        """
        from evsynth.textsafe import csv_text, write_csv

        frame = self.table.reset_index(drop=True)
        if path is not None:
            write_csv(Path(path), frame)
        return csv_text(frame)


def league_table(fit: Any, *, model: str = "random", digits: int = 2, transf: Any = None,
                 order: Sequence[str] | None = None) -> LeagueTable:
    """League table: every pairwise comparison, network estimates below the diagonal and direct
    estimates above it (netmeta ``netleague``).

    Parameters
    ----------
    fit : NetmetaResult
        A fitted network meta-analysis (:func:`evsynth.netmeta`).
    model : {"random", "common"}
        Which model's estimates (network: ``fit.<model>.TE``, ``lower``, ``upper``; direct:
        ``TE_direct`` with ``seTE_direct``, CI with the normal quantile at ``fit.level``, as
        netmeta's ``lower.direct``).
    digits : int
        Decimals shown.
    transf : None, False, str or callable
        ``None``: exponentiated for ratio measures (netmeta ``backtransf = TRUE``), as they are
        otherwise; ``False``: the analysis scale; a name of :mod:`evsynth.transf` or a function.
    order : sequence of str, optional
        Order of the rows and columns (netleague's ``seq``; default the fit's treatment order).

    Returns
    -------
    LeagueTable
        Lower triangle ``[i, j]`` (i > j): network estimate of column treatment j versus row
        treatment i; upper triangle ``[i, j]`` (i < j): direct estimate of row treatment i
        versus column treatment j.

    References
    ----------
    .. [1] Balduzzi S et al. (2023). netmeta. *J Stat Softw* 106(2). doi:10.18637/jss.v106.i02
    .. [2] Rücker G, Schwarzer G (2015). Ranking treatments in frequentist network
           meta-analysis works without resampling methods. *BMC Med Res Methodol* 15:58.
           doi:10.1186/s12874-015-0060-8

    Examples
    --------
    >>> import pandas as pd
    >>> import evsynth
    >>> from evsynth.reports.network_plots import league_table
    >>> d = pd.DataFrame({"studlab": ["s1", "s2", "s3"], "treat1": ["A", "A", "B"],
    ...                   "treat2": ["B", "C", "C"], "TE": [0.5, 0.9, 0.3],
    ...                   "seTE": [0.2, 0.25, 0.3]})
    >>> lt = league_table(evsynth.netmeta(data=d, random=False), model="common", digits=1)
    >>> list(lt.to_frame().columns)
    ['A', 'B', 'C']
    """
    what = "league_table"
    _check_fit(fit, what)
    est = _estimates(fit, model, what)
    if not isinstance(digits, (int, np.integer)) or isinstance(digits, bool) or digits < 0:
        raise InputError(f"{what}: digits must be a non-negative integer; got {digits!r}")
    trts = [str(t) for t in fit.treatments]
    seq = _order(trts, order, what)
    f, expd, tname = _transf(fit, transf, what)
    level = float(getattr(fit, "level", 95))
    z = _z(level)

    def shown(a: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(np.asarray(f(a.to_numpy(float)), float), index=a.index,
                            columns=a.columns).loc[seq, seq]

    te, lo, hi = (_frame(est.TE, trts), _frame(est.lower, trts), _frame(est.upper, trts))
    dte = _frame(est.TE_direct, trts)
    dse = _frame(est.seTE_direct, trts)
    net, nlo, nhi = shown(te), shown(lo), shown(hi)
    dir_, dlo, dhi = shown(dte), shown(dte - z * dse), shown(dte + z * dse)
    nlo, nhi = nlo.where(nlo <= nhi, nhi), nhi.where(nlo <= nhi, nlo)
    dlo, dhi = dlo.where(dlo <= dhi, dhi), dhi.where(dlo <= dhi, dlo)
    return LeagueTable(treatments=seq, model=model, digits=int(digits),
                       sm=str(getattr(fit, "sm", "") or ""), transf="exp" if expd else tname,
                       level=level, network=net, network_lower=nlo, network_upper=nhi,
                       direct=dir_, direct_lower=dlo, direct_upper=dhi)


# --------------------------------------------------------------------------------------------
# rankogram
# --------------------------------------------------------------------------------------------
def _rank_matrix(ranks: Any, what: str) -> pd.DataFrame:
    if isinstance(ranks, pd.DataFrame):
        m = ranks
    else:
        m = None
        # RankProbabilities.probabilities (treatments x ranks); a .frame that is such a matrix
        for name in ("probabilities", "rank_probabilities", "matrix", "frame"):
            cand = getattr(ranks, name, None)
            if isinstance(cand, pd.DataFrame) and all(
                    pd.api.types.is_numeric_dtype(t) for t in cand.dtypes):
                m = cand
                break
        if m is None:
            raise InputError(f"{what}: expected rank probabilities (fit.rank_probabilities() "
                             f"or a DataFrame: treatments x ranks); got {type(ranks).__name__}")
    m = m.copy()
    m.index = [str(i) for i in m.index]
    try:
        vals = m.to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what}: the rank probabilities must be numbers") from exc
    if vals.ndim != 2 or vals.shape[0] == 0:
        raise InputError(f"{what}: the rank probabilities must be a treatments x ranks table")
    if not np.isfinite(vals).all() or (vals < -1e-12).any() or (vals > 1 + 1e-12).any():
        raise InputError(f"{what}: rank probabilities must be finite numbers in [0, 1]")
    return m.astype(float)


def rankogram(ranks: Any, *, treatments: Sequence[str] | None = None, cumulative: bool = False,
              ncols: int | None = None, title: str | None = None) -> Figure:
    """Rankogram: for each treatment the probability of each rank (1 = best), as bars; with
    ``cumulative=True`` the cumulative ranking curve whose area is the SUCRA (Salanti, Ades &
    Ioannidis 2011; netmeta ``plot.rankogram``).

    Parameters
    ----------
    ranks : RankProbabilities or pandas.DataFrame
        ``fit.rank_probabilities()`` (its ``probabilities``: index = treatments, columns =
        ranks 1..n) or such a DataFrame.
    treatments : sequence of str, optional
        The treatments drawn and their order (default: all, in the table's order).
    cumulative : bool
        Draw the cumulative probabilities (the SUCRA curve) over the bars, with the SUCRA in
        each panel's title.
    ncols : int, optional
        Panels per row (default: about the square root of the number of treatments).
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per treatment (title = the treatment name), one bar per rank.

    References
    ----------
    .. [1] Salanti G, Ades AE, Ioannidis JPA (2011). Graphical methods and numerical summaries
           for presenting results from multiple-treatment meta-analysis. *J Clin Epidemiol*
           64(2):163-171. doi:10.1016/j.jclinepi.2010.03.016

    Examples
    --------
    >>> import pandas as pd
    >>> from evsynth.reports.network_plots import rankogram
    >>> p = pd.DataFrame([[0.7, 0.3], [0.3, 0.7]], index=["A", "B"], columns=[1, 2])
    >>> [ax.get_title() for ax in rankogram(p).axes]
    ['A', 'B']
    """
    what = "rankogram"
    m = _rank_matrix(ranks, what)
    if treatments is not None:
        listed = [str(t) for t in treatments]
        unknown = [t for t in listed if t not in m.index]
        if unknown:
            raise InputError(f"{what}: unknown treatment(s) {unknown!r}")
        m = m.loc[listed]
    n_t, n_r = m.shape
    cols = int(ncols) if ncols else max(1, math.ceil(math.sqrt(n_t)))
    nrows = math.ceil(n_t / cols)
    fig = _figure(2.2 * cols + 0.4, 1.9 * nrows + (0.4 if title else 0.1), layout="constrained")
    rank_labels = [str(c) for c in m.columns]
    x = np.arange(1, n_r + 1)
    axes = [fig.add_subplot(nrows, cols, i + 1) for i in range(n_t)]
    for ax, (t, row) in zip(axes, m.iterrows(), strict=True):
        p = row.to_numpy(float)
        ax.bar(x, p, color=NODE, width=0.75, gid="rank-probabilities")
        head = str(t)
        if cumulative:
            cum = np.cumsum(p)
            ax.plot(x, cum, color=PI_COLOUR, lw=1.2, marker="o", ms=2.5, gid="cumulative")
            sucra = float(cum[:-1].sum() / (n_r - 1)) if n_r > 1 else 1.0
            ax.set_title(f"{head} (SUCRA {sucra:.2f})", fontsize=SIZE + 1, parse_math=False,
                         fontfamily=font_families(head))
        else:
            ax.set_title(head, fontsize=SIZE + 1, parse_math=False,
                         fontfamily=font_families(head))
        ax.set_ylim(0, 1.02)
        ax.set_xticks(x)
        ax.set_xticklabels(rank_labels, fontsize=SIZE - 1)
        ax.tick_params(axis="y", labelsize=SIZE - 1)
        ax.set_xlabel("Rank", fontsize=SIZE)
        ax.set_ylabel("Probability", fontsize=SIZE)
    if title:
        fig.suptitle(title, parse_math=False, fontfamily=font_families(title))
    return fig


# --------------------------------------------------------------------------------------------
# net heat plot
# --------------------------------------------------------------------------------------------
def _heat_colours() -> mcolors.LinearSegmentedColormap:
    """netheat's colours: warm (red through yellow) for negative values (inconsistency
    decreases on detaching the column design), white at 0, blue for positive (increases)."""
    return mcolors.LinearSegmentedColormap.from_list(
        "evsynth_netheat", [(0.0, "#d7191c"), (0.25, "#fd8d3c"), (0.45, "#fee08b"),
                            (0.5, "#ffffff"), (1.0, "#2c4fd6")])


def _heat_parts(heat: Any, what: str
                ) -> tuple[pd.DataFrame, pd.DataFrame | None, list[int] | None]:
    """(heat values, contributions or None, clustering order or None) from a NetHeat result
    (:func:`evsynth.models.network.inconsistency.netheat`: ``-q_diff``, ``hat``, ``order``) or
    a DataFrame."""
    if isinstance(heat, pd.DataFrame):
        return heat, None, None
    q_diff = getattr(heat, "q_diff", None)
    if isinstance(q_diff, pd.DataFrame):
        hat = getattr(heat, "hat", None)
        order = getattr(heat, "order", None)
        return (-q_diff, hat if isinstance(hat, pd.DataFrame) else None,
                [int(i) for i in order] if order is not None else None)
    values = None
    for name in ("heat", "frame", "matrix", "values"):
        cand = getattr(heat, name, None)
        if isinstance(cand, pd.DataFrame):
            values = cand
            break
    if values is None:
        raise InputError(f"{what}: expected fit.netheat() or a square DataFrame of designs; got "
                         f"{type(heat).__name__}")
    contrib = None
    for name in ("contribution", "contributions", "H", "hat"):
        cand = getattr(heat, name, None)
        if isinstance(cand, pd.DataFrame):
            contrib = cand
            break
    return values, contrib, None


def netheat_plot(heat: Any, *, contributions: pd.DataFrame | None = None, cluster: bool = True,
                 limit: float = 8.0, title: str | None = None, size: float | None = None
                 ) -> Figure:
    """Net heat plot (Krahn, Binder & König 2013; netmeta ``netheat``).

    Each cell is coloured by the change in the inconsistency of the row design's network
    estimate when the consistency assumption is relaxed for the column design: blue where the
    inconsistency increases (the column design supports the row's evidence), red/yellow where
    it decreases, white for no change; the diagonal shows each design's contribution to the
    inconsistency. Values are capped at +/- ``limit`` (netmeta: 8). Grey squares whose area is
    the contribution of the column design's direct estimate to the row's network estimate are
    drawn when the contributions are known.

    Parameters
    ----------
    heat : NetHeat or pandas.DataFrame
        ``fit.netheat()`` (the colours are its ``-q_diff``, the grey squares its ``hat``, the
        order its clustering ``order``) or a square DataFrame of design rows (index = rows,
        columns = detached designs) with positive values for an increase of inconsistency
        (netmeta's plotted ``-diff``).
    contributions : pandas.DataFrame, optional
        Absolute contributions (hat matrix entries) of the column designs to the row designs,
        drawn as grey squares (overrides those of ``heat``).
    cluster : bool
        Reorder the designs by complete-linkage hierarchical clustering of the Manhattan
        distances of rows plus columns (netheat's ``hclust``), to bring hot spots together.
    limit : float
        Colour scale limit (values beyond are drawn at the limit colour).
    title : str, optional
        Figure title.
    size : float, optional
        Figure width and height in inches (default from the number of designs).

    Returns
    -------
    matplotlib.figure.Figure
        Main axes (first) with an image of the capped values and the design labels as text
        (gids ``"row-label"``, ``"col-label"``), and a colour bar axes.

    References
    ----------
    .. [1] Krahn U, Binder H, König J (2013). A graphical tool for locating inconsistency in
           network meta-analyses. *BMC Med Res Methodol* 13:35. doi:10.1186/1471-2288-13-35

    Examples
    --------
    >>> import pandas as pd
    >>> from evsynth.reports.network_plots import netheat_plot
    >>> h = pd.DataFrame([[1.0, -0.5], [-0.5, 2.0]], index=["A:B", "B:C"],
    ...                  columns=["A:B", "B:C"])
    >>> fig = netheat_plot(h)
    >>> sorted(t.get_text() for t in fig.axes[0].texts if t.get_gid() == "row-label")
    ['A:B', 'B:C']
    """
    what = "netheat_plot"
    values, contrib, given_order = _heat_parts(heat, what)
    if contributions is not None:
        contrib = contributions
    values = values.copy()
    values.index = [str(i) for i in values.index]
    values.columns = [str(c) for c in values.columns]
    if values.shape[0] != values.shape[1] or list(values.index) != list(values.columns):
        raise InputError(f"{what}: the heat matrix must be square with the same designs in "
                         "rows and columns")
    try:
        v = values.to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what}: the heat matrix must hold numbers") from exc
    if v.shape[0] == 0:
        raise InputError(f"{what}: the heat matrix is empty")
    if not limit > 0:
        raise InputError(f"{what}: limit must be positive; got {limit!r}")
    labels = list(values.index)
    order = np.arange(len(labels))
    if cluster and given_order is not None and sorted(given_order) == list(order):
        order = np.asarray(given_order, dtype=int)
    elif cluster and len(labels) > 2:
        from scipy.cluster.hierarchy import leaves_list, linkage
        from scipy.spatial.distance import pdist

        filled = np.nan_to_num(v)
        d = pdist(filled, "cityblock") + pdist(filled.T, "cityblock")
        if np.isfinite(d).all() and d.max() > 0:
            order = leaves_list(linkage(d, method="complete"))
    v = v[np.ix_(order, order)]
    labels = [labels[i] for i in order]
    capped = np.clip(v, -limit, limit)
    n = len(labels)
    lab_w = max(text_width(s, SIZE) for s in labels)
    side = float(size) if size is not None else max(3.0, 0.42 * n + lab_w + 1.6)
    fig = _figure(side + 0.6, side)
    frac = lab_w / side + 0.06
    cell_w = (1 - frac - 0.04)
    ax = fig.add_axes((frac, 0.04, cell_w * side / (side + 0.6), cell_w * 0.98 - 0.02))
    cax = fig.add_axes((frac + cell_w * side / (side + 0.6) + 0.02, 0.15, 0.025, 0.6))
    vmax = float(min(max(np.nanmax(np.abs(capped)) if np.isfinite(capped).any() else 0.0,
                         1e-9), limit))
    norm = mcolors.TwoSlopeNorm(vmin=-vmax, vcenter=0.0, vmax=vmax)
    img = ax.imshow(np.ma.masked_invalid(capped), cmap=_heat_colours(), norm=norm,
                    aspect="equal", interpolation="nearest", gid="heat")
    ax.set_xticks([])
    ax.set_yticks([])
    for i, lab in enumerate(labels):
        _text(ax, -0.6, i, lab, ha="right", va="center", fontsize=SIZE - 0.5,
              gid="row-label", clip_on=False)
        _text(ax, i, -0.6, lab, ha="left", va="bottom", rotation=60, fontsize=SIZE - 0.5,
              gid="col-label", clip_on=False, rotation_mode="anchor")
    if contrib is not None:
        cm = contrib.copy()
        cm.index = [str(i) for i in cm.index]
        cm.columns = [str(c) for c in cm.columns]
        common = [lab for lab in labels if lab in cm.index and lab in cm.columns]
        if common:
            h = np.abs(cm.loc[common, common].to_numpy(float))
            hmax = float(np.nanmax(h)) if np.isfinite(h).any() and np.nanmax(h) > 0 else 1.0
            pos = {lab: i for i, lab in enumerate(labels)}
            for a in common:
                for b in common:
                    val = float(np.abs(cm.loc[a, b]))
                    if np.isfinite(val) and val > 1e-10 * hmax:   # not rounding noise
                        s = 0.9 * math.sqrt(val / hmax)
                        ax.add_patch(_square(pos[b], pos[a], s))
    for k in range(n + 1):
        ax.axhline(k - 0.5, color="white", lw=0.6)
        ax.axvline(k - 0.5, color="white", lw=0.6)
    cb = fig.colorbar(img, cax=cax)
    cb.ax.tick_params(labelsize=SIZE - 1)
    if title:
        fig.suptitle(title, parse_math=False, fontfamily=font_families(title))
    return fig


def _square(x: float, y: float, s: float) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x - s / 2, y - s / 2), s, s, fc="#808080", ec="none", alpha=0.6,
                     zorder=3, gid="contribution")


# --------------------------------------------------------------------------------------------
# comparison-adjusted funnel plot
# --------------------------------------------------------------------------------------------
def comparison_adjusted(fit: Any, *, order: Sequence[str] | None = None,
                        model: str = "common", centre: str = "direct") -> pd.DataFrame:
    """The data of the comparison-adjusted funnel plot (netmeta ``funnel.netmeta``'s value).

    Each row of ``fit.data`` is oriented so that ``treat1`` comes before ``treat2`` in
    ``order`` (its effect negated where the row is flipped), then centred at the
    comparison-specific pooled estimate: ``TE_adj = TE - TE_direct[treat1, treat2]`` (the pooled
    direct estimate, Chaimani & Salanti 2012, as netmeta) or with ``centre="network"`` the
    network estimate.

    Parameters
    ----------
    fit : NetmetaResult
        A fitted network meta-analysis.
    order : sequence of str, optional
        All treatments in a meaningful order (e.g. oldest to newest, so that every comparison
        is "older versus newer"), or a few comparators: then only the comparisons with these
        treatments are kept, the comparator second (netmeta). Default: the fit's order.
    model : {"common", "random"}
        The model whose pooled estimates centre the effects.
    centre : {"direct", "network"}
        Centre at the pooled direct estimate (netmeta, Chaimani & Salanti 2012) or at the
        network estimate of the comparison.

    Returns
    -------
    pandas.DataFrame
        Columns ``studlab, treat1, treat2, comparison, TE, TE_centre, TE_adj, seTE``, sorted by
        comparison.

    References
    ----------
    .. [1] Chaimani A, Salanti G (2012). *Res Synth Methods* 3(2):161-176. doi:10.1002/jrsm.57
    .. [2] Chaimani A et al. (2013). *PLoS One* 8(10):e76654.
           doi:10.1371/journal.pone.0076654

    Examples
    --------
    >>> import pandas as pd
    >>> import evsynth
    >>> from evsynth.reports.network_plots import comparison_adjusted
    >>> d = pd.DataFrame({"studlab": ["s1", "s2", "s3"], "treat1": ["A", "A", "B"],
    ...                   "treat2": ["B", "C", "C"], "TE": [0.5, 0.9, 0.3],
    ...                   "seTE": [0.2, 0.25, 0.3]})
    >>> bool(comparison_adjusted(evsynth.netmeta(data=d)).TE_adj.abs().max() < 1e-12)
    True
    """
    what = "funnel_comparison_adjusted"
    _check_fit(fit, what)
    est = _estimates(fit, model, what)
    if centre not in ("direct", "network"):
        raise InputError(f"{what}: centre must be 'direct' or 'network'; got {centre!r}")
    trts = [str(t) for t in fit.treatments]
    if order is None:
        order_all, keep = trts, None
    else:
        listed = [str(t) for t in order]
        unknown = [t for t in listed if t not in trts]
        if unknown or len(set(listed)) != len(listed) or not listed:
            raise InputError(f"{what}: order must list treatments of the network, each once; "
                             f"got {list(order)!r} (treatments {trts!r})")
        if len(listed) == len(trts):
            order_all, keep = listed, None
        else:   # comparators: go last (netmeta), only their comparisons kept
            order_all, keep = [t for t in trts if t not in listed] + listed, set(listed)
    pos = {t: i for i, t in enumerate(order_all)}
    d = fit.data
    t1 = [str(x) for x in d["treat1"]]
    t2 = [str(x) for x in d["treat2"]]
    te = d["TE"].to_numpy(float).copy()
    se = d["seTE"].to_numpy(float)
    flip = np.array([pos[a] > pos[b] for a, b in zip(t1, t2, strict=True)])
    a1 = [b if f else a for a, b, f in zip(t1, t2, flip, strict=True)]
    a2 = [a if f else b for a, b, f in zip(t1, t2, flip, strict=True)]
    te[flip] = -te[flip]
    ref = _frame(est.TE_direct if centre == "direct" else est.TE, trts)
    centre_v = np.array([float(ref.loc[a, b]) for a, b in zip(a1, a2, strict=True)])
    out = pd.DataFrame({"studlab": [str(s) for s in d["studlab"]], "treat1": a1, "treat2": a2,
                        "comparison": [f"{a} vs {b}" for a, b in zip(a1, a2, strict=True)],
                        "TE": te, "TE_centre": centre_v, "TE_adj": te - centre_v,
                        "seTE": se})
    out["_p1"] = [pos[a] for a in a1]
    out["_p2"] = [pos[b] for b in a2]
    if keep is not None:
        out = out[[a in keep or b in keep for a, b in zip(out.treat1, out.treat2, strict=True)]]
    out = out.sort_values(["_p1", "_p2"], kind="stable").drop(columns=["_p1", "_p2"])
    return out.reset_index(drop=True)


def funnel_comparison_adjusted(fit: Any, *, order: Sequence[str] | None = None,
                               model: str = "common", level: float | None = None,
                               centre: str = "direct", xlabel: str | None = None,
                               legend: bool = True, title: str | None = None,
                               width: float = 6.5, height: float = 5.0) -> Figure:
    """Comparison-adjusted funnel plot (Chaimani & Salanti 2012; Chaimani et al. 2013; netmeta
    ``funnel.netmeta``).

    Each study's comparison effect (oriented by ``order``: every comparison as the earlier
    versus the later treatment of the list) minus the comparison's pooled estimate, against its
    standard error (axis inverted), with the pseudo confidence region ``0 +/- z * SE``.
    Asymmetry suggests that small studies favour one end of ``order`` (e.g. newer
    treatments). Colours and markers identify the comparisons (legend).

    Parameters
    ----------
    fit : NetmetaResult
        A fitted network meta-analysis.
    order : sequence of str, optional
        Treatments in a meaningful order, or a few comparators (see
        :func:`comparison_adjusted`); default: the fit's treatment order (choose a meaningful
        order: with an arbitrary one the plot says little; Chaimani et al. 2013).
    model : {"common", "random"}
        The model whose pooled estimates centre the effects.
    level : float, optional
        Level of the pseudo confidence region in percent (default: the fit's ``level``).
    centre : {"direct", "network"}
        Centre at the pooled direct estimate of each comparison (netmeta) or at its network
        estimate.
    xlabel : str, optional
        Axis label (default: the measure, "centred at comparison-specific effect"; the
        analysis scale, log for ratio measures).
    legend : bool
        Draw the legend of comparisons.
    title : str, optional
        Figure title.
    width, height : float
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure
        One axes; one scatter collection per comparison (label = the comparison, gid
        ``"comparison"``), the pseudo confidence lines (gid ``"pseudo-ci"``).

    References
    ----------
    .. [1] Chaimani A, Salanti G (2012). Using network meta-analysis to evaluate the existence
           of small-study effects in a network of interventions. *Res Synth Methods*
           3(2):161-176. doi:10.1002/jrsm.57
    .. [2] Chaimani A, Higgins JPT, Mavridis D, Spyridonos P, Salanti G (2013). Graphical tools
           for network meta-analysis in STATA. *PLoS One* 8(10):e76654.
           doi:10.1371/journal.pone.0076654
    .. [3] Sterne JAC, Egger M (2001). Funnel plots for detecting bias in meta-analysis:
           guidelines on choice of axis. *J Clin Epidemiol* 54(10):1046-1055.
           doi:10.1016/S0895-4356(01)00377-8

    Examples
    --------
    >>> import pandas as pd
    >>> import evsynth
    >>> from evsynth.reports.network_plots import funnel_comparison_adjusted
    >>> d = pd.DataFrame({"studlab": ["s1", "s2", "s3", "s4"],
    ...                   "treat1": ["A", "A", "B", "A"], "treat2": ["B", "C", "C", "B"],
    ...                   "TE": [0.5, 0.9, 0.3, 0.4], "seTE": [0.2, 0.25, 0.3, 0.2]})
    >>> fig = funnel_comparison_adjusted(evsynth.netmeta(data=d), order=["C", "B", "A"])
    >>> sorted(t.get_text() for t in fig.axes[0].get_legend().get_texts())
    ['B vs A', 'C vs A', 'C vs B']
    """
    what = "funnel_comparison_adjusted"
    res = comparison_adjusted(fit, order=order, model=model, centre=centre)
    if res.empty:
        raise InputError(f"{what}: no comparison to draw (order {order!r})")
    lvl = float(getattr(fit, "level", 95) if level is None else level)
    z = _z(lvl)
    se_max = float(res["seTE"].max()) * 1.08
    fig = _figure(width, height, layout="constrained")
    ax = fig.add_subplot()
    grid = np.linspace(0, se_max, 100)
    ax.plot(-z * grid, grid, color=INK, lw=0.8, ls="--", gid="pseudo-ci")
    ax.plot(z * grid, grid, color=INK, lw=0.8, ls="--", gid="pseudo-ci")
    ax.axvline(0, color=INK, lw=0.8, gid="centre-line")
    for c, (comp, g) in enumerate(res.groupby("comparison", sort=False)):
        ax.scatter(g["TE_adj"], g["seTE"], s=26, color=FUNNEL_COLOURS[c % len(FUNNEL_COLOURS)],
                   marker=FUNNEL_MARKERS[c % len(FUNNEL_MARKERS)], zorder=3, label=str(comp),
                   gid="comparison", edgecolors="none")
    ax.set_ylim(se_max, 0)
    span = max(float(np.abs(res["TE_adj"]).max()), z * se_max) * 1.08
    ax.set_xlim(-span, span)
    ax.set_ylabel("Standard error")
    if xlabel is None:
        f, expd, tname = _transf(fit, False, what)
        sm = _measure(fit, expd, tname) if getattr(fit, "sm", "") else "Effect"
        xlabel = f"{sm} centred at comparison-specific effect"
    ax.set_xlabel(xlabel, parse_math=False)
    if legend:
        leg = ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=SIZE - 0.5,
                        frameon=False, borderaxespad=0.0)
        _literal(leg.get_texts())
    if title:
        ax.set_title(title, parse_math=False, fontfamily=font_families(title))
    return fig
