"""decomp_design, netsplit, netheat and contribution against netmeta 3.4-0 (Senn 2013).

R calls (R 4.x, netmeta 3.4-0):
    library(netmeta); data(Senn2013)
    net <- netmeta(TE, seTE, treat1.long, treat2.long, studlab, data = Senn2013, sm = "MD",
                   reference.group = "plac")
    decomp.design(net); netsplit(net); netsplit(net, method = "SIDDE")
    netcontrib(net, method = "randomwalk"); netcontrib(net, method = "shortestpath")
"""

from __future__ import annotations

import numpy as np
import pytest

from evsynth.errors import InputError
from evsynth.models.network.contribution import contribution
from evsynth.models.network.inconsistency import decomp_design, netheat, netsplit


def test_decomp_design_senn(senn):
    r = decomp_design(senn)
    # print(decomp.design(net)): 96.99/18, 74.46/11, 22.53/7; random 2.19/7, tau.within 0.3797
    np.testing.assert_allclose(r.q_decomp["Q"], [96.985553, 74.455282, 22.530271], rtol=1e-6)
    assert r.q_decomp["df"].tolist() == [18, 11, 7]
    np.testing.assert_allclose(r.q_decomp.loc["Total", "Q"], senn.Q, rtol=1e-10)
    het = r.q_het_design.set_index("design")
    np.testing.assert_allclose(het.loc["Metformin:Placebo", "Q"], 42.1643141, rtol=1e-6)
    np.testing.assert_allclose(het.loc["Placebo:Rosiglitazone", "Q"], 21.2733619, rtol=1e-6)
    np.testing.assert_allclose(het.loc["Benfluorex:Placebo", "Q"], 4.3813771, rtol=1e-6)
    np.testing.assert_allclose(het.loc["Metformin:Rosiglitazone", "Q"], 0.1869508, rtol=1e-6)
    det = r.q_inc_detach.set_index("design")
    assert len(det) == 11
    np.testing.assert_allclose(det.loc["Rosiglitazone:Sulfonylurea", "Q"], 6.77, atol=0.005)
    np.testing.assert_allclose(det.loc["Acarbose:Metformin:Placebo", "Q"], 22.38, atol=0.005)
    assert det.loc["Acarbose:Metformin:Placebo", "df"] == 5
    # Q.inc.design (3-arm design: the sum of its two rows 0.1431454 - 0.006042848)
    np.testing.assert_allclose(r.q_inc_design["Rosiglitazone:Sulfonylurea"], 9.288705,
                               rtol=1e-6)
    np.testing.assert_allclose(r.q_inc_design["Acarbose:Metformin:Placebo"],
                               0.1431454 - 0.006042848, rtol=1e-5)
    rnd = r.q_inc_random.iloc[0]
    np.testing.assert_allclose([rnd["Q"], rnd["tau_within"]], [2.19, 0.3797], atol=0.005)
    np.testing.assert_allclose(rnd["tau2_within"], 0.1442, atol=5e-5)
    # residuals.inc.detach: netmeta codes them tj - t0, evsynth t0 - tj
    res = r.residuals_detach
    np.testing.assert_allclose(-res.loc["Placebo:Pioglitazone", "Acarbose:Sulfonylurea"],
                               -0.2329, atol=5e-5)
    np.testing.assert_allclose(
        -res.loc["Placebo:Acarbose_Acarbose:Metformin:Placebo", "Metformin:Sulfonylurea"],
        -0.2995, atol=5e-5)
    assert "Between designs" in r.summary()
    import json
    json.dumps(r.to_dict(), allow_nan=False)
    assert list(r.to_frame()["term"])[-1].startswith("Between designs (random")


# print(netsplit(net)): comparison, prop, nma, direct, indir., z (common, random)
SPLIT = {
    "common": {"Metformin:Sulfonylurea": (0.56, -0.6746, -0.3700, -1.0611, 3.88),
               "Rosiglitazone:Placebo": (0.83, -1.2018, -1.1483, -1.4665, 2.50),
               "Acarbose:Metformin": (0.10, 0.2867, 0.2000, 0.2966, -0.26)},
    "random": {"Metformin:Sulfonylurea": (0.45, -0.7102, -0.3700, -0.9896, 1.31),
               "Rosiglitazone:Placebo": (0.76, -1.2335, -1.1797, -1.4004, 0.74),
               "Pioglitazone:Placebo": (0.39, -1.1291, -1.3000, -1.0214, -0.62)},
}


@pytest.mark.parametrize("model", ["common", "random"])
def test_netsplit_back_calculation_senn(senn, model):
    s = netsplit(senn)
    f = getattr(s, model).set_index("comparison")
    for comp, (prop, nma, direct, indirect, z) in SPLIT[model].items():
        row = f.loc[comp]
        np.testing.assert_allclose(row["prop"], prop, atol=0.005)
        np.testing.assert_allclose([row["TE_nma"], row["TE_direct"], row["TE_indirect"]],
                                   [nma, direct, indirect], atol=5e-5)
        np.testing.assert_allclose(row["zval"], z, atol=0.005)
    # comparisons shown by netmeta: 11 with direct and indirect evidence
    both = f[np.isfinite(f["TE_direct"]) & np.isfinite(f["TE_indirect"])]
    assert len(both) == 11
    assert len(f) == 45


def test_netsplit_side_senn(senn):
    # netsplit(net, method = "SIDDE")$indirect.random$TE
    s = netsplit(senn, method="SIDDE").random.set_index("comparison")
    np.testing.assert_allclose(s.loc[["Acarbose:Placebo", "Metformin:Placebo",
                                      "Rosiglitazone:Placebo", "Metformin:Pioglitazone"],
                                     "TE_indirect"], [-0.7994, -1.0646, -1.3873, 0.1299],
                               atol=5e-5)
    c = netsplit(senn, method="SIDE").common.set_index("comparison")
    np.testing.assert_allclose(c.loc["Metformin:Placebo", "TE_indirect"], -1.0637, atol=5e-5)


def test_netsplit_back_calculation_recombines(senn):
    """The network estimate is the inverse-variance combination of direct and indirect."""
    for model in ("common", "random"):
        f = getattr(netsplit(senn), model)
        f = f[np.isfinite(f["TE_direct"]) & np.isfinite(f["TE_indirect"])]
        wd, wi = 1 / f["seTE_direct"] ** 2, 1 / f["seTE_indirect"] ** 2
        np.testing.assert_allclose((wd * f["TE_direct"] + wi * f["TE_indirect"]) / (wd + wi),
                                   f["TE_nma"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(1 / (wd + wi), f["seTE_nma"] ** 2, rtol=1e-9)


def test_netheat_senn(senn):
    h = netheat(senn)
    assert h.hat.shape == h.q_diff.shape == (12, 12)
    # diagonal of the Q-difference: the row's own contribution (detached -> 0)
    np.testing.assert_allclose(h.q_diff.loc["Rosiglitazone:Sulfonylurea",
                                            "Rosiglitazone:Sulfonylurea"], 9.288705, rtol=1e-6)
    hr = netheat(senn, model="random")
    assert hr.tau2 == pytest.approx(0.1442, abs=5e-5)
    assert sorted(h.order) == list(range(12))


@pytest.mark.parametrize("method", ["randomwalk", "shortestpath"])
def test_contribution_senn(senn, method):
    c = contribution(senn, method=method)
    np.testing.assert_allclose(c.frame.sum(axis=1), 1.0, atol=1e-10)
    np.testing.assert_allclose(c.study.sum(axis=1), 1.0, atol=1e-10)
    # netcontrib(net, method)$random["Acarbose:Placebo", ]
    want = {"randomwalk": [0.0743, 0.5592, 0.0883, 0.0110, 0.0852, 0.0666, 0.0503],
            "shortestpath": [0.0831, 0.5592, 0.0839, 0.0092, 0.0939, 0.0640, 0.0503]}[method]
    cols = ["Acarbose:Metformin", "Acarbose:Placebo", "Acarbose:Sulfonylurea",
            "Metformin:Pioglitazone", "Metformin:Placebo", "Placebo:Rosiglitazone",
            "Rosiglitazone:Sulfonylurea"]
    np.testing.assert_allclose(c.frame.loc["Acarbose:Placebo", cols], want, atol=5e-5)
    assert c.frame.shape == (45, 15)


def test_argument_errors(senn):
    with pytest.raises(InputError, match="method"):
        netsplit(senn, method="nodesplit")
    with pytest.raises(InputError, match="model"):
        netheat(senn, model="bayes")
    with pytest.raises(InputError, match="method"):
        contribution(senn, method="cccp")
