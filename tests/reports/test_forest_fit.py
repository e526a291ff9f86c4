"""Forest plots of fitted models: evsynth.forest(fit) and fit.plot_forest() (issue 10, point 4),
and what a forest plot refuses to draw (issue 9, point 4).

The numbers on the plot are read back from the figure's text artists and compared with the fit's
own numbers (which tests/models checks against metafor).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure
from matplotlib.text import Text
from scipy import stats
from test_forest import assert_no_overlap, continuous

import evsynth
from evsynth.errors import InputError
from evsynth.files import save_figure, svg_string
from evsynth.reports.forest import forest_plot, format_p

BCG = Path(__file__).resolve().parents[2] / "examples" / "bcg.csv"


# --------------------------------------------------------------------------------------------
# data and helpers
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bcg() -> pd.DataFrame:
    return pd.read_csv(BCG)


@pytest.fixture(scope="module")
def es(bcg):
    return evsynth.effect_size("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg,
                               slab="study")


@pytest.fixture(scope="module")
def fit(es):
    return evsynth.meta(es)


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text() and t.get_visible()]


def panel(fig):
    return next(ax for ax in fig.axes if ax.get_gid() == "forest-panel")


def table_rows(fig) -> list[list[str]]:
    """The texts of the table, row by row from the top (left to right within a row)."""
    rows: dict[float, list[tuple[float, str]]] = {}
    for t in fig.axes[0].texts:
        if t.get_text():
            x, y = t.get_position()
            rows.setdefault(round(y, 6), []).append((x, t.get_text()))
    return [[s for _, s in sorted(r)] for _, r in sorted(rows.items())]


def row_of(fig, first: str) -> list[str]:
    """The row whose first text is ``first``."""
    found = [r for r in table_rows(fig) if r and r[0] == first]
    assert len(found) == 1, (first, found)
    return found[0]


def f2(x: float) -> str:
    s = f"{x:.2f}"
    return "0.00" if s == "-0.00" else s


def ratio2(x: float) -> str:
    """A ratio as shown: two decimals, two significant digits between 0 and 0.1."""
    return f"{x:.{1 - math.floor(math.log10(x))}f}" if 0 < x < 0.1 else f2(x)


def effect(est: float, lb: float, ub: float, tr=math.exp) -> str:
    lo, hi = sorted((tr(lb), tr(ub)))
    fmt = ratio2 if tr is math.exp else f2
    return f"{fmt(tr(est))} [{fmt(lo)}, {fmt(hi)}]"


def study_cis(yi, vi, level=95.0):
    z = stats.norm.ppf(1 - (1 - level / 100) / 2)
    return yi - z * np.sqrt(vi), yi + z * np.sqrt(vi)


def study_weights(fig, labels) -> list[float]:
    out = []
    for lab in labels:
        w = [s for s in row_of(fig, lab) if s.endswith("%")]
        out.append(float(w[0].rstrip("%")) if w else 0.0)
    return out


def het_line(f, k: int, fixed: bool = False, prefix: str = "Heterogeneity") -> str:
    tau = "" if fixed else f"Tau² = {f2(f.tau2)}; "
    return (f"{prefix}: {tau}Chi² = {f2(f.QE)}, df = {k} ({format_p(f.QEp)}); "
            f"I² = {f.I2:.0f}%")


# --------------------------------------------------------------------------------------------
# meta(), intercept only
# --------------------------------------------------------------------------------------------
def test_meta_numbers_on_the_plot_are_the_fits(fit):
    fig = evsynth.forest(fit, measure="RR")
    assert isinstance(fig, Figure)
    lb, ub = study_cis(fit.yi, fit.vi)
    for j, lab in enumerate(fit.slab):
        row = row_of(fig, lab)
        assert row[1:] == [f"{fit.weights[j]:.1f}%", effect(fit.yi[j], lb[j], ub[j])], lab
    total = row_of(fig, "Total (95% CI)")
    assert total[1:] == ["100.0%", effect(fit.beta[0], fit.ci_lb[0], fit.ci_ub[0])]
    got = texts(fig)
    assert het_line(fit, fit.k - 1) in got
    assert (f"Test for overall effect: Z = {f2(abs(fit.zval[0]))} ({format_p(fit.pval[0])})"
            in got)
    # the prediction interval of the Cochrane Handbook (10.10.4.3): t with k - 2 df
    pi = fit.predict(pi_type="riley", transf=np.exp)
    assert row_of(fig, "Prediction interval")[1:] == [f"[{f2(pi.pi_lb)}, {f2(pi.pi_ub)}]"]
    for s in ["Risk Ratio", "IV, Random, 95% CI", "Study or Subgroup", "Weight"]:
        assert s in got, s
    # squares at the study estimates, the diamond at the pooled estimate and CI (ratio scale)
    pax = panel(fig)
    assert pax.get_xscale() == "log"
    sq = next(c for c in pax.collections if c.get_gid() == "study-squares")
    np.testing.assert_allclose(sq.get_offsets()[:, 0], np.exp(fit.yi), rtol=1e-12)
    diamonds = [p for p in pax.patches if str(p.get_gid()).startswith("diamond")]
    assert len(diamonds) == 1
    xs = diamonds[0].get_xy()[:, 0]
    np.testing.assert_allclose(sorted(set(np.round(xs, 12))),
                               np.exp([fit.ci_lb[0], fit.beta[0], fit.ci_ub[0]]), rtol=1e-9)
    assert_no_overlap(fig)


def test_plot_forest_method_is_evsynth_forest(fit):
    a = texts(fit.plot_forest(measure="RR", title="BCG"))
    assert a == texts(evsynth.forest(fit, measure="RR", title="BCG"))
    assert "BCG" in a and "forest" in fit.supports()


def test_fixed_effect_and_t_test_labels(es):
    fe = evsynth.meta(es, method="EE")
    got = texts(evsynth.forest(fe, measure="RR"))
    assert "IV, Fixed, 95% CI" in got and "Prediction interval" not in got
    assert het_line(fe, fe.k - 1, fixed=True) in got
    kh = evsynth.meta(es, test="knha")
    got = texts(evsynth.forest(kh, measure="RR"))
    assert (f"Test for overall effect: T = {f2(abs(kh.zval[0]))}, df = {kh.k - 1} "
            f"({format_p(kh.pval[0])})") in got


def test_level_changes_study_and_pooled_intervals(fit):
    fig = evsynth.forest(fit, measure="RR", level=90, prediction=False)
    lb, ub = study_cis(fit.yi, fit.vi, 90)
    assert row_of(fig, fit.slab[0])[-1] == effect(fit.yi[0], lb[0], ub[0])
    pr = fit.predict(level=90)
    assert row_of(fig, "Total (90% CI)")[-1] == effect(pr.pred, pr.ci_lb, pr.ci_ub)
    got = texts(fig)
    assert "IV, Random, 90% CI" in got and "Prediction interval" not in got
    with pytest.raises(InputError, match="level"):
        evsynth.forest(fit, level=120)


def test_k1_and_k2(es):
    one = evsynth.meta(es.iloc[:1])
    got = texts(evsynth.forest(one, measure="RR"))
    assert "Heterogeneity: Not applicable" in got and "Prediction interval" not in got
    two = evsynth.meta(es.iloc[:2])
    assert "Prediction interval" not in texts(evsynth.forest(two, measure="RR"))


# --------------------------------------------------------------------------------------------
# subgroups
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tau2", ["separate", "common"])
def test_subgroups_subtotals_and_test_for_differences(es, bcg, tau2):
    f = evsynth.meta(es, subgroup=bcg["alloc"], subgroup_tau2=tau2)
    fig = evsynth.forest(f, measure="RR")
    rows = table_rows(fig)
    firsts = [r[0] for r in rows if r]
    assert firsts.count("Subtotal (95% CI)") == 3
    by_label = dict(zip(f.slab, f.weights, strict=True))
    for lvl, sub in f.subgroups.items():
        start = firsts.index(str(lvl))
        end = firsts.index("Subtotal (95% CI)", start)
        members = firsts[start + 1:end]
        assert sorted(members) == sorted(sub.slab)      # every study under its subgroup
        subtotal = rows[end]
        w = sum(by_label[m] for m in members)            # weights of the overall fit, summed
        assert subtotal[1:] == [f"{w:.1f}%", effect(sub.beta[0], sub.ci_lb[0], sub.ci_ub[0])]
        assert rows[end + 1] == [het_line(sub, sub.k - 1)]
        assert rows[end + 2] == [f"Test for overall effect: Z = {f2(abs(sub.zval[0]))} "
                                 f"({format_p(sub.pval[0])})"]
    label = "Test for subgroup differences" + (" (common Tau²)" if tau2 == "common" else "")
    assert (f"{label}: Chi² = {f2(f.Q_between)}, df = {f.Q_between_df} "
            f"({format_p(f.Q_between_p)}), I² = {f.Q_between_I2:.1f}%") in texts(fig)
    assert row_of(fig, "Total (95% CI)")[1:] == [
        "100.0%", effect(f.beta[0], f.ci_lb[0], f.ci_ub[0])]
    diamonds = [p for p in panel(fig).patches if str(p.get_gid()).startswith("diamond")]
    assert len(diamonds) == 4
    assert_no_overlap(fig)


@pytest.mark.parametrize("tau2", ["separate", "common"])
def test_subgroups_order_and_level(es, bcg, tau2):
    f = evsynth.meta(es, subgroup=bcg["alloc"], subgroup_tau2=tau2)
    fig = evsynth.forest(f, measure="RR", order="obs", level=90)
    firsts = [r[0] for r in table_rows(fig) if r]
    yi = dict(zip(f.slab, f.yi, strict=True))
    for lvl, sub in f.subgroups.items():
        start = firsts.index(str(lvl))
        members = firsts[start + 1:firsts.index("Subtotal (90% CI)", start)]
        assert members == sorted(sub.slab, key=lambda s: yi[s])   # sorted within the subgroup
        pr = sub.predict(level=90)
        assert table_rows(fig)[firsts.index("Subtotal (90% CI)", start)][-1] == effect(
            pr.pred, pr.ci_lb, pr.ci_ub)


def test_subgroups_with_t_test_common_tau2_F(es, bcg):
    f = evsynth.meta(es, subgroup=bcg["alloc"], subgroup_tau2="common", test="t")
    got = texts(evsynth.forest(f, measure="RR"))
    assert any(s.startswith("Test for subgroup differences (common Tau²): F = "
                            f"{f2(f.Q_between)}, df = (2, 10)") for s in got)


# --------------------------------------------------------------------------------------------
# meta-regression: fitted values, no summary diamond
# --------------------------------------------------------------------------------------------
def test_moderators_fitted_values(es, bcg):
    f = evsynth.meta(es, mods="~ ablat", data=bcg)
    fig = evsynth.forest(f, measure="RR", order="fit")
    got = texts(fig)
    assert "Total (95% CI)" not in got and "Prediction interval" not in got
    pax = panel(fig)
    assert not [p for p in pax.patches if str(p.get_gid()).startswith("diamond")]
    fitted = [p for p in pax.patches if str(p.get_gid()).startswith("fitted")]
    assert len(fitted) == f.k
    pr = f.predict()
    xs = sorted(tuple(sorted(set(np.round(p.get_xy()[:, 0], 12)))) for p in fitted)
    want = sorted(tuple(np.exp([lo, est, hi]))
                  for est, lo, hi in zip(pr.pred, pr.ci_lb, pr.ci_ub, strict=True))
    np.testing.assert_allclose(np.array(xs), np.array(want), rtol=1e-9)
    # rows sorted by fitted value (top first)
    order = [lab for lab in (r[0] for r in table_rows(fig) if r) if lab in f.slab]
    assert order == [f.slab[i] for i in np.argsort(pr.pred, kind="stable")]
    assert het_line(f, f.k - 2, prefix="Residual heterogeneity") in got
    assert (f"Test of moderators: Chi² = {f2(f.QM)}, df = 1 ({format_p(f.QMp)})") in got
    assert sum(study_weights(fig, f.slab)) == pytest.approx(100, abs=0.05 * f.k)
    assert_no_overlap(fig)


def test_moderators_knha_F(es, bcg):
    f = evsynth.meta(es, mods="~ ablat + year", data=bcg, test="knha")
    got = texts(evsynth.forest(f))
    assert f"Test of moderators: F = {f2(f.QM)}, df = (2, 10) ({format_p(f.QMp)})" in got
    assert "Estimate" in got and panel(evsynth.forest(f)).get_xscale() == "linear"


# --------------------------------------------------------------------------------------------
# Mantel-Haenszel and Peto
# --------------------------------------------------------------------------------------------
def _tables(bcg):
    d = bcg.copy()
    # a study with no events in either arm: not estimable on its own (RevMan, metafor)
    d.loc[len(d)] = ["Zero 2000", 2000, 0, 50, 0, 48, 30, "random"]
    return d


@pytest.mark.parametrize("measure", ["OR", "RR", "RD"])
def test_mantel_haenszel(bcg, measure):
    d = _tables(bcg)
    f = evsynth.meta_mh(measure, ai="tpos", bi="tneg", ci="cpos", di="cneg", data=d,
                        slab="study")
    n1, n2 = d.tpos + d.tneg, d.cpos + d.cneg
    fig = f.plot_forest(ilab=np.column_stack([d.tpos, n1, d.cpos, n2]),
                        ilab_labels=["Events", "Total", "Events", "Total"],
                        ilab_groups=["Vaccine", "Vaccine", "Control", "Control"])
    ratio = measure != "RD"
    tr = math.exp if ratio else float
    got = texts(fig)
    assert "M-H, Fixed, 95% CI" in got
    assert {"OR": "Odds Ratio", "RR": "Risk Ratio", "RD": "Risk Difference"}[measure] in got
    assert "Vaccine" in got and "Control" in got
    assert panel(fig).get_xscale() == ("log" if ratio else "linear")
    st_ = f.studies
    lb, ub = study_cis(st_["yi"].to_numpy(), st_["vi"].to_numpy())
    for j, lab in enumerate(st_["slab"]):
        row = row_of(fig, lab)
        assert row[1:5] == [str(d.tpos[j]), str(n1[j]), str(d.cpos[j]), str(n2[j])]
        w = st_["weight"][j]
        if np.isfinite(st_["yi"][j]):
            assert row[5:] == [f"{w:.1f}%", effect(st_["yi"][j], lb[j], ub[j], tr)], lab
        else:
            assert row[-1] == "Not estimable"
    assert row_of(fig, "Total (95% CI)")[1:] == [   # arm totals; events on their own row
        str(n1.sum()), str(n2.sum()), "100.0%", effect(f.beta[0], f.ci_lb[0], f.ci_ub[0], tr)]
    assert row_of(fig, "Total events")[1:] == [str(d.tpos.sum()), str(d.cpos.sum())]
    assert het_line(f, f.k_yi - 1, fixed=True) in got
    assert f"Test for overall effect: Z = {f2(abs(f.zval[0]))} ({format_p(f.pval[0])})" in got
    assert "Prediction interval" not in got
    ws = study_weights(fig, st_["slab"])
    assert sum(ws) == pytest.approx(100, abs=0.05 * len(ws))
    assert_no_overlap(fig)


def test_peto(bcg):
    f = evsynth.meta_peto(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg, slab="study")
    fig = evsynth.forest(f, favours=("Favours vaccine", "Favours control"))
    got = texts(fig)
    for s in ["Peto, Fixed, 95% CI", "Peto Odds Ratio", "Favours vaccine", "Favours control"]:
        assert s in got, s
    n1, n2 = bcg.tpos + bcg.tneg, bcg.cpos + bcg.cneg
    assert row_of(fig, "Total (95% CI)")[1:] == [
        str(n1.sum()), str(n2.sum()), "100.0%", effect(f.beta[0], f.ci_lb[0], f.ci_ub[0])]
    lb, ub = study_cis(f.yi, f.vi)
    for j, lab in enumerate(f.slab):
        assert row_of(fig, lab)[-2:] == [f"{f.weights[j]:.1f}%",
                                         effect(f.yi[j], lb[j], ub[j])]
    assert het_line(f, f.k_yi - 1, fixed=True) in got


def test_mh_arm_data_from_the_fit(bcg):
    f = evsynth.meta_mh("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg,
                        slab="study")
    n1, n2 = bcg.tpos + bcg.tneg, bcg.cpos + bcg.cneg
    fig = evsynth.forest(f)   # RevMan's Events/Total per arm, from the fit's tables
    got = texts(fig)
    assert {"Experimental", "Control", "Events", "Total", "Total events"} <= set(got)
    assert row_of(fig, f.slab[0])[1:5] == [str(bcg.tpos[0]), str(n1[0]), str(bcg.cpos[0]),
                                           str(n2[0])]
    assert row_of(fig, "Total (95% CI)")[1:3] == [str(n1.sum()), str(n2.sum())]
    assert row_of(fig, "Total events")[1:] == [str(bcg.tpos.sum()), str(bcg.cpos.sum())]
    named = texts(evsynth.forest(f, arms=("Vaccine", "No vaccine")))
    assert "Vaccine" in named and "No vaccine" in named and "Experimental" not in named
    bare = texts(evsynth.forest(f, arms=False))
    assert "Events" not in bare and "Total events" not in bare
    with pytest.raises(InputError, match="arms"):
        evsynth.forest(f, arms=("one",))
    # person-time: events and person-time per arm, totals as entered
    g = evsynth.meta_mh("IRR", x1i=[4, 6, 12], x2i=[3, 9, 20], t1i=[100, 200.5, 300],
                        t2i=[120, 210, 280])
    fig = evsynth.forest(g)
    assert "Person-time" in texts(fig) and "Rate Ratio" in texts(fig)
    assert row_of(fig, "Study 2")[1:5] == ["6", "200.5", "9", "210"]
    assert row_of(fig, "Total (95% CI)")[1:3] == ["600.5", "610"]
    assert row_of(fig, "Total events")[1:] == ["22", "32"]
    assert_no_overlap(fig)


def test_mh_without_labels_numbers_studies():
    f = evsynth.meta_mh("OR", ai=[4, 6, 3], bi=[119, 300, 228], ci=[11, 29, 11],
                        di=[128, 274, 209])
    got = texts(evsynth.forest(f))
    assert {"Study 1", "Study 2", "Study 3"} <= set(got)


# --------------------------------------------------------------------------------------------
# options
# --------------------------------------------------------------------------------------------
def test_transf_exp_auto_none_and_other(fit):
    auto = texts(evsynth.forest(fit, measure="RR"))
    assert auto == texts(evsynth.forest(fit, measure="RR", transf=np.exp))
    assert auto == texts(evsynth.forest(fit, measure="RR", transf=True))
    log = evsynth.forest(fit, measure="RR", transf=None)
    got = texts(log)
    assert "log[Risk Ratio]" in got and panel(log).get_xscale() == "linear"
    assert row_of(log, "Total (95% CI)")[-1] == effect(fit.beta[0], fit.ci_lb[0],
                                                       fit.ci_ub[0], float)
    # no measure: the estimates as they are
    assert "Estimate" in texts(evsynth.forest(fit))
    # any other function: transformed values on a linear axis (metafor's transf)
    tanh = evsynth.forest(fit, transf=np.tanh)
    assert panel(tanh).get_xscale() == "linear"
    assert row_of(tanh, "Total (95% CI)")[-1] == effect(fit.beta[0], fit.ci_lb[0],
                                                        fit.ci_ub[0], math.tanh)
    # a decreasing transform swaps the bounds
    neg = evsynth.forest(fit, transf=lambda x: -x)
    assert row_of(neg, "Total (95% CI)")[-1] == effect(fit.beta[0], fit.ci_lb[0],
                                                       fit.ci_ub[0], lambda x: -x)
    with pytest.raises(InputError, match="transf=True.*ratio"):
        evsynth.forest(fit, transf=True)
    # a name is a function of evsynth.transf (issue 13); an unknown name is refused
    assert auto == texts(evsynth.forest(fit, measure="RR", transf="exp"))
    with pytest.raises(InputError, match="transf"):
        evsynth.forest(fit, transf="expo")
    with pytest.raises(InputError, match="transf gives"):
        evsynth.forest(fit, transf=np.log)   # NaN for negative log risk ratios


def test_xlim_and_arrows(fit):
    fig = evsynth.forest(fit, measure="RR", xlim=(0.2, 2))
    pax = panel(fig)
    assert pax.get_xlim() == pytest.approx((0.2, 2))
    labels = [t.get_text() for t in pax.get_xticklabels()]
    assert labels[0] == "0.2" and labels[-1] == "2" and "1" in labels
    lb, ub = study_cis(fit.yi, fit.vi)
    arrows = [c for c in pax.collections if str(c.get_gid()).startswith("ci-arrows-left")]
    assert len(arrows[0].get_offsets()) == int(np.sum(np.exp(lb) < 0.2))
    lin = evsynth.forest(fit, transf=None, xlim=(-3, 1.5))
    assert panel(lin).get_xlim() == pytest.approx((-3, 1.5))
    for bad in [(1, 0.5), (0, 2), (np.nan, 1), "ab", (1,), (True, 2)]:
        with pytest.raises(InputError, match="xlim"):
            evsynth.forest(fit, measure="RR", xlim=bad)


def _label_order(fig, labels) -> list[str]:
    return [r[0] for r in table_rows(fig) if r and r[0] in labels]


def test_order(fit):
    labels = list(fit.slab)
    assert _label_order(evsynth.forest(fit), labels) == labels
    assert _label_order(evsynth.forest(fit, order="obs"), labels) == [
        labels[i] for i in np.argsort(fit.yi, kind="stable")]
    assert _label_order(evsynth.forest(fit, order="prec"), labels) == [
        labels[i] for i in np.argsort(fit.vi, kind="stable")]
    assert _label_order(evsynth.forest(fit, order="weight"), labels) == [
        labels[i] for i in np.argsort(-fit.weights, kind="stable")]
    perm = np.arange(fit.k)[::-1]
    assert _label_order(evsynth.forest(fit, order=perm), labels) == labels[::-1]
    for bad in ["year", [0, 1], [0.5] * fit.k, list(range(1, fit.k + 1))]:
        with pytest.raises(InputError, match="order"):
            evsynth.forest(fit, order=bad)


def test_slab_labels_ilab(fit, bcg):
    new = [f"Trial {i}" for i in range(fit.k)]
    got = texts(evsynth.forest(fit, slab=new))
    assert set(new) <= set(got) and fit.slab[0] not in got
    assert texts(evsynth.forest(fit, labels=new)) == got
    with pytest.raises(InputError, match="slab"):
        evsynth.forest(fit, slab=new[:-1])
    with pytest.raises(InputError, match="not both"):
        evsynth.forest(fit, slab=new, labels=new)
    fig = evsynth.forest(fit, ilab=bcg[["year", "ablat", "alloc"]],
                         ilab_labels=["Year", "Latitude", "Allocation"])
    row = row_of(fig, fit.slab[0])
    assert row[1:4] == [str(bcg.year[0]), str(bcg.ablat[0]), bcg.alloc[0]]
    assert {"Year", "Latitude", "Allocation"} <= set(texts(fig))
    assert "Total (95% CI)" in texts(fig)
    assert row_of(fig, "Total (95% CI)")[1] == "100.0%"   # no sums of years
    fig = evsynth.forest(fit, ilab={"Lat.": bcg.ablat.to_numpy()})
    assert "Lat." in texts(fig)
    fig = evsynth.forest(fit, ilab=np.arange(fit.k) + 0.5)
    assert row_of(fig, fit.slab[1])[1] == "1.5"
    for kwargs, match in [({"ilab": np.zeros((fit.k - 1, 2))}, "ilab"),
                          ({"ilab": np.zeros((fit.k, 2)), "ilab_labels": ["a"]},
                           "ilab_labels"),
                          ({"ilab": np.zeros((fit.k, 2)), "ilab_groups": ["a"]},
                           "ilab_groups"),
                          ({"ilab_labels": ["a"]}, "without ilab"),
                          ({"favours": "left"}, "favours"),
                          ({"title": 3}, "title"), ({"prediction": "yes"}, "prediction")]:
        with pytest.raises(InputError, match=match):
            evsynth.forest(fit, **kwargs)


def test_unknown_option_and_positional(fit):
    with pytest.raises(InputError, match="unknown option.*colour"):
        fit.plot_forest(colour="red")
    with pytest.raises(TypeError):
        evsynth.forest(fit, np.exp)


# --------------------------------------------------------------------------------------------
# files, global state
# --------------------------------------------------------------------------------------------
def test_write_svg_and_png(fit, bcg, tmp_path):
    fig = evsynth.forest(fit, measure="RR", title="BCG vaccine and tuberculosis",
                         favours=("Favours vaccine", "Favours control"),
                         ilab=np.column_stack([bcg.tpos, bcg.tpos + bcg.tneg, bcg.cpos,
                                               bcg.cpos + bcg.cneg]),
                         ilab_labels=["Events", "Total", "Events", "Total"],
                         ilab_groups=["Vaccine", "Vaccine", "Control", "Control"])
    rc = dict(mpl.rcParams)
    svg = save_figure(fig, tmp_path / "bcg.svg")
    png = save_figure(fig, tmp_path / "bcg.png", dpi=110)
    assert dict(mpl.rcParams) == rc            # rc settings of the save restored
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = svg.read_text(encoding="utf-8")
    for s in ["Aronson 1948", "Total (95% CI)", "Heterogeneity: Tau² = 0.31", "Favours vaccine"]:
        assert s in text, s
    assert svg_string(fig) == svg_string(fig)   # reproducible


def test_no_pyplot():
    import evsynth.models.diagnostics.forest as diag
    import evsynth.reports.forest as rep

    for mod in (rep, diag):
        src = Path(mod.__file__).read_text(encoding="utf-8")
        assert not re.search(r"matplotlib\.pyplot|import pyplot|\bplt\.", src), mod.__name__


# --------------------------------------------------------------------------------------------
# what cannot be drawn is an InputError, never a blank figure (issue 9, point 4)
# --------------------------------------------------------------------------------------------
def test_fit_dict_is_not_an_analysis(fit):
    with pytest.raises(InputError, match=r"'studies'.*evsynth\.forest\(fit\)"):
        forest_plot(fit.to_dict())
    with pytest.raises(InputError, match=r"expected a dict.*evsynth\.forest\(fit\)"):
        forest_plot(fit)
    with pytest.raises(InputError, match="fitted model"):
        evsynth.forest(fit.to_dict())
    with pytest.raises(InputError, match="fitted model"):
        evsynth.forest([1, 2, 3])


@pytest.mark.parametrize("mutate, match", [
    (lambda a: a.clear(), r"no field\(s\) 'comparison', 'outcome', 'measure', 'log_scale', "
                          r"'model', 'studies', 'pooled'"),
    (lambda a: a.pop("comparison"), r"'comparison'"),
    (lambda a: a["comparison"].pop("intervention"), r"'comparison.intervention' is None"),
    (lambda a: a.update(outcome=None), r"'outcome' is None"),
    (lambda a: a.update(log_scale="yes"), r"'log_scale' is 'yes'"),
    (lambda a: a.update(measure=""), r"'measure' is ''"),
    (lambda a: a.update(model=None), r"'model' is None"),
    (lambda a: a["model"].pop("method"), r"'method' is None"),
    (lambda a: a["model"].pop("level"), r"'level' is missing"),
    (lambda a: a.update(pooled=[1]), r"'pooled' is \[1\]"),
    (lambda a: a.update(studies=[], excluded=[]), r"no studies and no excluded studies"),
    (lambda a: a["studies"][0].update(yi=float("inf")), r"Buchbinder 2009.*'yi'"),
    (lambda a: a["studies"][0].pop("ci_ub"), r"Buchbinder 2009.*'ci_ub' is missing"),
    (lambda a: a["pooled"].update(ci_lb=float("nan")), r"pooled.*'ci_lb'"),
    (lambda a: a["pooled"].update(pi_lb=float("-inf")), r"pooled.*'pi_lb'"),
])
def test_analysis_that_cannot_be_drawn(mutate, match):
    a = continuous()
    mutate(a)
    with pytest.raises(InputError, match=match):
        forest_plot(a)


def test_empty_studies_with_excluded_still_draw_the_notice():
    a = continuous()
    a.update(studies=[], pooled=None)
    got = texts(forest_plot(a))
    assert "No studies could be pooled for this analysis." in got


def test_model_type_without_forest_plot():
    from evsynth.models.results import FittedModel

    class Other(FittedModel):
        model_name = "other model"

    with pytest.raises(InputError, match="forest.*other model"):
        evsynth.forest(Other())


# --------------------------------------------------------------------------------------------
# property: the weights shown sum to 100%
# --------------------------------------------------------------------------------------------
@settings(max_examples=12)
@given(st.data())
def test_weights_shown_sum_to_100(data):
    k = data.draw(st.integers(1, 25))
    kind = data.draw(st.sampled_from(["meta", "mh", "peto"]))
    if kind == "meta":
        yi = data.draw(st.lists(st.floats(-3, 3), min_size=k, max_size=k))
        vi = data.draw(st.lists(st.floats(0.01, 2), min_size=k, max_size=k))
        method = data.draw(st.sampled_from(["REML", "DL", "EE"]))
        f = evsynth.meta(yi, vi, method=method, slab=[f"s{i}" for i in range(k)])
        labels = list(f.slab)
    else:
        n = data.draw(st.lists(st.integers(5, 500), min_size=2 * k, max_size=2 * k))
        ev = [data.draw(st.integers(1, m - 1)) for m in n]
        args = dict(ai=ev[:k], bi=[m - e for m, e in zip(n[:k], ev[:k], strict=True)],
                    ci=ev[k:], di=[m - e for m, e in zip(n[k:], ev[k:], strict=True)],
                    slab=[f"s{i}" for i in range(k)])
        f = (evsynth.meta_mh(data.draw(st.sampled_from(["OR", "RR", "RD"])), **args)
             if kind == "mh" else evsynth.meta_peto(**args))
        labels = [str(s) for s in f.studies["slab"]]
    fig = evsynth.forest(f, order=data.draw(st.sampled_from([None, "obs", "weight"])))
    ws = study_weights(fig, labels)
    assert sum(ws) == pytest.approx(100, abs=0.05 * k + 1e-9)
    assert row_of(fig, "Total (95% CI)")[-2] == "100.0%"
    assert not any(re.search(r"\bnan\b", s) for s in texts(fig))


def test_save_figures_lays_out_once_and_writes_every_format(tmp_path) -> None:
    """files.save_figures: SVG and PNG of a constrained-layout figure, the layout solved by the
    first save and kept (constrained layout off afterwards), the PNG (zlib level 1) the same
    pixels as matplotlib's default PNG of the same figure."""
    import io

    import numpy as np
    from matplotlib.figure import Figure
    from PIL import Image

    from evsynth.files import save_figures

    fig = Figure(figsize=(4, 3), layout="constrained")
    for i in range(4):
        fig.add_subplot(2, 2, i + 1).bar([1, 2, 3], [0.2, 0.5, 0.3])
    svg, png = save_figures(fig, [tmp_path / "f.svg", tmp_path / "f.png"])
    assert not fig.get_constrained_layout()
    assert svg.read_text(encoding="utf-8").lstrip().startswith("<?xml")
    default = io.BytesIO()
    fig.savefig(default, format="png", dpi=150)  # PIL's default compression
    assert np.array_equal(np.asarray(Image.open(png)), np.asarray(Image.open(default)))
