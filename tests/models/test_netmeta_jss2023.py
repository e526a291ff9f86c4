"""Published worked examples: the three network meta-analyses of the netmeta article, every
value it prints that evsynth computes, at the printed precision, with the page.

Balduzzi S, Rücker G, Nikolakopoulou A, Papakonstantinou T, Salanti G, Efthimiou O,
Schwarzer G (2023). netmeta: An R Package for Network Meta-Analysis Using Frequentist Methods.
*Journal of Statistical Software* 106(2):1-40. doi:10.18637/jss.v106.i02 (netmeta's vignette
``netmeta.pdf``; page numbers are the journal's).

Section 5.1 (pp. 15-26): Stowe et al. (2010), adjuvant treatments in Parkinson's disease, mean
difference of off-time, random effects, a three-arm study. Section 5.2 (pp. 26-29): Dogliotti
et al. (2014), antithrombotics to prevent strokes, odds ratio, common effects, a study with no
events. Section 5.3 (pp. 28-33): Baker et al. (2009), COPD exacerbations, odds ratio, random
effects, a study with events in every participant. The data are netmeta's ``Stowe2010``,
``Dogliotti2014`` and ``Baker2009`` (written by tests/reference/network_jss2023_data.R); the
article's R calls are quoted at each test. Rank probabilities are drawn at random (the
article's with ``set.seed(1909)`` and 1,000 draws), so they are compared within Monte-Carlo
error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import evsynth
from fixture_data import REFERENCE


def _printed(value: float, printed: float, digits: int) -> None:
    """``value`` rounds to the printed number (half a unit in the last printed digit)."""
    assert abs(value - printed) <= 0.5 * 10.0 ** -digits + 1e-12, (value, printed)


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "data" / f"netmeta_{name}.csv")


def _against_reference(est: Any, ref: str, printed: dict[str, tuple[Any, ...]],
                       scale: Callable[[float], float]) -> None:
    """The printout's table of each treatment against ``ref``: estimate and CI on the printed
    scale (2 dp), z (2 dp) and p (4 dp; None where "< 0.0001" is printed)."""
    for t, (value, lo, hi, z, p) in printed.items():
        _printed(scale(est.TE.loc[t, ref]), value, 2)
        _printed(scale(est.lower.loc[t, ref]), lo, 2)
        _printed(scale(est.upper.loc[t, ref]), hi, 2)
        _printed(est.zval.loc[t, ref], z, 2)
        if p is None:
            assert est.pval.loc[t, ref] < 0.0001
        else:
            _printed(est.pval.loc[t, ref], p, 4)


def _heterogeneity(fit: evsynth.NetmetaResult, printed: tuple[float, ...],
                   q_table: dict[str, tuple[float, int, float]]) -> None:
    """The printout's "tau^2 = ...; tau = ...; I^2 = ...% [lower; upper]" line and its Q table
    (Q to 2 dp, df, p to 4 dp)."""
    tau2, tau, i2, i2_lo, i2_hi = printed
    _printed(fit.tau2, tau2, 4)
    _printed(fit.tau, tau, 4)
    _printed(100 * fit.I2, i2, 1)  # I^2 as a proportion, as netmeta stores it
    _printed(100 * fit.I2_lower, i2_lo, 1)
    _printed(100 * fit.I2_upper, i2_hi, 1)
    q = fit.decomp_design().q_decomp
    for row, (Q, df, p) in q_table.items():
        _printed(q.loc[row, "Q"], Q, 2)
        assert q.loc[row, "df"] == df
        _printed(q.loc[row, "pval"], p, 4)


@pytest.fixture(scope="module")
def stowe() -> tuple[pd.DataFrame, evsynth.NetmetaResult]:
    # R> pw1 <- pairwise(treat = list(t1, t2, t3), n = list(n1, n2, n3),
    # +   mean = list(y1, y2, y3), sd = list(sd1, sd2, sd3), studlab = study, data = Stowe2010)
    # R> net1 <- netmeta(pw1, common = FALSE, ref = "plac")
    pw = evsynth.pairwise("MD", treat="treatment", studlab="study", data=_data("stowe2010"),
                          mean="mean", sd="sd", n="n")
    return pw, evsynth.netmeta(data=pw, sm="MD", reference="Placebo", common=False)


def test_stowe_pairwise_p16(stowe) -> None:
    """p. 16: the rows of the three studies selected in the article (the three-arm LARGO
    contributes three)."""
    pw, _ = stowe
    assert len(pw) == 31 and _data("stowe2010")["n"].sum() == 5331  # p. 16 and p. 19 (o)
    printed = [("COMTI(E) INT-OZ", "COMTI", "Placebo", -0.32, 0.4903630),
               ("LARGO", "COMTI", "Placebo", -0.80, 0.2116796),
               ("LARGO", "COMTI", "MAOBI", -0.02, 0.2116709),
               ("LARGO", "Placebo", "MAOBI", 0.78, 0.2116709),
               ("COMTI(E) Nomecomt", "COMTI", "Placebo", -1.20, 0.3560024)]
    for study, t1, t2, te, se in printed:
        row = pw[(pw["studlab"] == study) & (pw["treat1"] == t1) & (pw["treat2"] == t2)]
        assert len(row) == 1
        _printed(float(row["TE"].iloc[0]), te, 2)
        _printed(float(row["seTE"].iloc[0]), se, 7)


def test_stowe_network_estimates_p19(stowe) -> None:
    """p. 19, ``net1``: the network, the random-effects estimates against placebo and the
    heterogeneity / inconsistency statistics."""
    _, fit = stowe
    assert (fit.k, fit.m, fit.n, len(fit.designs)) == (29, 31, 4, 4)
    est = fit.estimates("random")
    printed = {"COMTI": (-0.95, -1.27, -0.63, -5.79, None),
               "Dopamine Agonist": (-1.49, -1.86, -1.12, -7.88, None),
               "MAOBI": (-1.03, -1.56, -0.50, -3.81, 0.0001)}
    _against_reference(est, "Placebo", printed, lambda x: x)
    _heterogeneity(fit, (0.1518, 0.3896, 43.9, 12.3, 64.2), {
        "Total": (48.15, 27, 0.0074), "Within designs": (46.91, 25, 0.0050),
        "Between designs": (1.24, 2, 0.5376)})


def test_stowe_adjusted_standard_errors_p20(stowe) -> None:
    """p. 20, ``summary(net1)``: seTE.adj of the random-effects model (inflated for the
    three-arm study)."""
    _, fit = stowe
    d = fit.data
    for study, t1, t2, adj in [("COMTI(E) INT-OZ", "COMTI", "Placebo", 0.626),
                               ("LARGO", "COMTI", "Placebo", 0.543),
                               ("LARGO", "COMTI", "MAOBI", 0.543),
                               ("LARGO", "MAOBI", "Placebo", 0.543),
                               ("COMTI(E) Nomecomt", "COMTI", "Placebo", 0.528)]:
        row = d[(d["studlab"] == study) & ({t1, t2} == d[["treat1", "treat2"]].apply(
            set, axis=1))]
        assert len(row) == 1
        _printed(float(row["seTE_adj_random"].iloc[0]), adj, 3)


def test_stowe_all_comparisons_p22(stowe) -> None:
    """p. 22, Figure 5: every active treatment against the others."""
    _, fit = stowe
    est = fit.estimates("random")
    printed = [("COMTI", "Dopamine Agonist", 0.55, 0.06, 1.04),
               ("COMTI", "MAOBI", 0.09, -0.49, 0.67),
               ("COMTI", "Placebo", -0.95, -1.27, -0.63),
               ("Dopamine Agonist", "COMTI", -0.55, -1.04, -0.06),
               ("Dopamine Agonist", "MAOBI", -0.46, -1.11, 0.19),
               ("Dopamine Agonist", "Placebo", -1.49, -1.86, -1.12),
               ("MAOBI", "COMTI", -0.09, -0.67, 0.49),
               ("MAOBI", "Dopamine Agonist", 0.46, -0.19, 1.11),
               ("MAOBI", "Placebo", -1.03, -1.56, -0.50)]
    for a, b, md, lo, hi in printed:
        _printed(est.TE.loc[a, b], md, 2)
        _printed(est.lower.loc[a, b], lo, 2)
        _printed(est.upper.loc[a, b], hi, 2)


def test_stowe_p_scores_p22(stowe) -> None:
    """p. 22, ``netrank(net1)``: small values are desirable (a reduction of off-time)."""
    _, fit = stowe
    ps = fit.p_scores(model="random").to_frame().set_index("treatment")["pscore"]
    for t, p in {"Dopamine Agonist": 0.9677, "MAOBI": 0.5664, "COMTI": 0.4659,
                 "Placebo": 0.0000}.items():
        _printed(float(ps.loc[t]), p, 4)


def test_stowe_rankogram_p23(stowe) -> None:
    """p. 23, ``rankogram(net1)`` after ``set.seed(1909)`` (1,000 draws) and its SUCRAs: our
    probabilities (200,000 draws) agree within 4 standard errors of 1,000 binomial draws."""
    _, fit = stowe
    r = fit.rank_probabilities(nsim=200_000, seed=1909, model="random")
    printed = {"COMTI": [0.0060, 0.3520, 0.6420, 0.0000],
               "Dopamine Agonist": [0.9170, 0.0800, 0.0030, 0.0000],
               "MAOBI": [0.0770, 0.5680, 0.3550, 0.0000],
               "Placebo": [0.0000, 0.0000, 0.0000, 1.0000]}
    for t, probs in printed.items():
        for rank, p in enumerate(probs, start=1):
            ours = float(r.probabilities.loc[t, str(rank)])
            se = math.sqrt(max(ours * (1 - ours), 1e-4) / 1000)
            assert abs(ours - p) <= 4 * se, (t, rank, ours, p)
    for t, s in {"Dopamine Agonist": 0.9713, "MAOBI": 0.5740, "COMTI": 0.4547,
                 "Placebo": 0.0000}.items():
        # a SUCRA of 4 treatments is a mean of 3 cumulative proportions: SE <= 0.5/sqrt(1000)
        assert abs(float(r.sucra.loc[t]) - s) <= 4 * 0.5 / math.sqrt(1000)


def test_stowe_league_table_p24(stowe) -> None:
    """p. 24, ``netleague(net1, seq = netrank(net1), ci = FALSE)``: lower triangle the network
    estimate of the column versus the row, upper triangle the direct estimate of the row versus
    the column."""
    _, fit = stowe
    est = fit.estimates("random")
    lower = {("MAOBI", "Dopamine Agonist"): -0.46, ("COMTI", "Dopamine Agonist"): -0.55,
             ("COMTI", "MAOBI"): -0.09, ("Placebo", "Dopamine Agonist"): -1.49,
             ("Placebo", "MAOBI"): -1.03, ("Placebo", "COMTI"): -0.95}
    for (row, col), v in lower.items():
        _printed(est.TE.loc[col, row], v, 2)
    upper = {("Dopamine Agonist", "Placebo"): -1.49, ("MAOBI", "COMTI"): 0.02,
             ("MAOBI", "Placebo"): -1.03, ("COMTI", "Placebo"): -0.93}
    for (row, col), v in upper.items():
        _printed(est.TE_direct.loc[row, col], v, 2)
    for row, col in [("Dopamine Agonist", "MAOBI"), ("Dopamine Agonist", "COMTI")]:
        assert np.isnan(est.TE_direct.loc[row, col])  # printed "."
    table = fit.league_table(model="random", order=["Dopamine Agonist", "MAOBI", "COMTI",
                                                    "Placebo"]).table
    assert list(table.index) == ["Dopamine Agonist", "MAOBI", "COMTI", "Placebo"]
    assert table.loc["MAOBI", "Dopamine Agonist"].startswith("-0.46 ")
    assert table.loc["COMTI", "Placebo"].startswith("-0.93 ")


def test_stowe_decomp_design_p24_p25(stowe) -> None:
    """pp. 24-25, ``decomp.design(net1)``: the within-design Q per design, the between-design
    Q after detaching each design, and the design-by-treatment interaction model."""
    _, fit = stowe
    d = fit.decomp_design()
    het = d.q_het_design.set_index("design")
    for design, (Q, df, p) in {"COMTI:Placebo": (23.65, 10, 0.0086),
                               "Dopamine Agonist:Placebo": (21.70, 14, 0.0850),
                               "MAOBI:Placebo": (1.56, 1, 0.2114)}.items():
        _printed(het.loc[design, "Q"], Q, 2)
        assert het.loc[design, "df"] == df
        _printed(het.loc[design, "pval"], p, 4)
    det = d.q_inc_detach.set_index("design")
    for design, (Q, df, p) in {"COMTI:Placebo": (1.21, 1, 0.2709),
                               "MAOBI:Placebo": (0.02, 1, 0.8793),
                               "COMTI:MAOBI:Placebo": (0.00, 0, None)}.items():
        _printed(det.loc[design, "Q"], Q, 2)
        assert det.loc[design, "df"] == df
        if p is None:  # printed "--"
            assert np.isnan(det.loc[design, "pval"])
        else:
            _printed(det.loc[design, "pval"], p, 4)
    rnd = d.q_inc_random.loc["Between designs"]
    _printed(rnd["Q"], 0.45, 2)
    assert rnd["df"] == 2
    _printed(rnd["pval"], 0.7968, 4)
    _printed(rnd["tau_within"], 0.4547, 4)
    _printed(rnd["tau2_within"], 0.2067, 4)


def test_stowe_netsplit_p25(stowe) -> None:
    """p. 25, ``netsplit(net1)`` (back-calculation, random effects)."""
    _, fit = stowe
    f = fit.netsplit().to_frame()
    f = f[f["model"] == "random"].set_index("comparison")
    printed = {  # k, prop, nma, direct, indirect, diff, z, p
        "COMTI:Dopamine Agonist": (0, 0, 0.55, None, 0.55, None, None, None),
        "COMTI:MAOBI": (1, 0.44, 0.09, -0.02, 0.17, -0.19, -0.33, 0.7450),
        "COMTI:Placebo": (12, 0.98, -0.95, -0.93, -1.65, 0.72, 0.66, 0.5071),
        "Dopamine Agonist:MAOBI": (0, 0, -0.46, None, -0.46, None, None, None),
        "Dopamine Agonist:Placebo": (15, 1.00, -1.49, -1.49, None, None, None, None),
        "MAOBI:Placebo": (3, 0.90, -1.03, -1.03, -1.08, 0.05, 0.06, 0.9544)}
    for comp, (k, prop, nma, direct, indirect, diff, z, p) in printed.items():
        row = f.loc[comp]
        assert row["k"] == k
        _printed(row["prop"], prop, 2)
        _printed(row["TE_nma"], nma, 2)
        for col, v, digits in [("TE_direct", direct, 2), ("TE_indirect", indirect, 2),
                               ("diff", diff, 2), ("zval", z, 2), ("pval", p, 4)]:
            if v is None:  # printed "."
                assert np.isnan(row[col]), (comp, col)
            else:
                _printed(row[col], v, digits)


def test_dogliotti_pairwise_and_common_effects_p26_p29() -> None:
    """pp. 26-29: ``pairwise(..., sm = "OR")`` (the first five rows, p. 26), WASPO (no events in
    either arm) left out (p. 27), and the common-effects (inverse variance) odds ratios against
    placebo/control of Figure 9 (p. 29)."""
    # R> pw2 <- pairwise(treat = treatment, n = total, event = stroke, studlab = study,
    # +   data = Dogliotti2014, sm = "OR"); net2 <- netmeta(pw2, ref = "plac")
    pw = evsynth.pairwise("OR", treat="treatment", studlab="study", data=_data("dogliotti2014"),
                          event="stroke", n="total")
    printed = [("AFASAK-I 1989", "VKAs", "Aspirin", -0.5939405, 0.4240325),
               ("AFASAK-I 1989", "VKAs", "Placebo/Control", -0.7752100, 0.4122678),
               ("AFASAK-I 1989", "Aspirin", "Placebo/Control", -0.1812695, 0.3484410),
               ("BAATAF 1990", "VKAs", "Placebo/Control", -1.5356718, 0.6482047),
               ("CAFA 1991", "VKAs", "Placebo/Control", -0.3999555, 0.5373985)]
    for i, (study, t1, t2, te, se) in enumerate(printed):
        row = pw.iloc[i]
        assert (row["studlab"], row["treat1"], row["treat2"]) == (study, t1, t2)
        _printed(float(row["TE"]), te, 7)
        _printed(float(row["seTE"]), se, 7)
    assert not (pw["studlab"] == "WASPO, 2007").any()
    assert any("WASPO, 2007" in s for s in pw.attrs["dropped"])
    fit = evsynth.netmeta(data=pw, sm="OR", reference="Placebo/Control")
    est = fit.estimates("common")
    for t, (o, lo, hi) in {"Apixaban": (0.33, 0.25, 0.44), "Aspirin": (0.78, 0.63, 0.96),
                           "Aspirin+Clopidogtrel": (0.58, 0.45, 0.74),
                           "Dabigatran 110mg": (0.38, 0.28, 0.52),
                           "Dabigatran 150mg": (0.27, 0.19, 0.37),
                           "Rivaroxaban": (0.32, 0.24, 0.44),
                           "VKAs": (0.41, 0.32, 0.52)}.items():
        _printed(math.exp(est.TE.loc[t, "Placebo/Control"]), o, 2)
        _printed(math.exp(est.lower.loc[t, "Placebo/Control"]), lo, 2)
        _printed(math.exp(est.upper.loc[t, "Placebo/Control"]), hi, 2)


@pytest.fixture(scope="module")
def baker() -> evsynth.NetmetaResult:
    # R> pw3 <- pairwise(treat = treatment, n = total, event = exac,
    # +   studlab = paste(study, year), data = Baker2009, sm = "OR")
    # R> net3 <- netmeta(pw3, common = FALSE, ref = "plac")
    pw = evsynth.pairwise("OR", treat="treatment", studlab="studlab", data=_data("baker2009"),
                          event="exac", n="total")
    assert any("DalNegro 2003 2008" in s for s in pw.attrs["dropped"])  # p. 28
    return evsynth.netmeta(data=pw, sm="OR", reference="Placebo", common=False)


def test_baker_network_p30_p31(baker) -> None:
    """pp. 30-31, ``net3``: the network, odds ratios against placebo, heterogeneity and the Q
    decomposition."""
    fit = baker
    assert (fit.k, fit.m, fit.n, len(fit.designs)) == (38, 74, 8, 13)
    arms = _data("baker2009")
    assert arms.loc[arms["studlab"] != "DalNegro 2003 2008", "total"].sum() == 28217  # o
    est = fit.estimates("random")
    printed = {"Budesonide": (0.80, 0.59, 1.10, -1.37, 0.1702),
               "Budesonide+Formoterol": (0.67, 0.49, 0.90, -2.63, 0.0086),
               "Fluticasone": (0.86, 0.75, 0.99, -2.05, 0.0406),
               "Fluticasone+Salmeterol": (0.75, 0.66, 0.86, -4.17, None),
               "Formoterol": (1.00, 0.80, 1.25, -0.00, 1.0000),
               "Salmeterol": (0.80, 0.72, 0.89, -4.06, None),
               "Tiotropium": (0.69, 0.61, 0.77, -6.39, None)}
    _against_reference(est, "Placebo", printed, math.exp)
    _heterogeneity(fit, (0.0111, 0.1055, 24.4, 0.0, 47.7), {
        "Total": (60.86, 46, 0.0700), "Within designs": (43.20, 34, 0.1340),
        "Between designs": (17.66, 12, 0.1264)})


def test_baker_p_scores_p33(baker) -> None:
    """p. 33, ``netrank(net3)`` (standard network meta-analysis; exacerbations: small values
    are desirable)."""
    ps = baker.p_scores(model="random").to_frame().set_index("treatment")["pscore"]
    for t, p in {"Tiotropium": 0.8719, "Budesonide+Formoterol": 0.8539,
                 "Fluticasone+Salmeterol": 0.6856, "Budesonide": 0.5199, "Salmeterol": 0.5162,
                 "Fluticasone": 0.3523, "Formoterol": 0.1132, "Placebo": 0.0871}.items():
        _printed(float(ps.loc[t]), p, 4)
