"""P-scores and rank probabilities against netmeta 3.4-0 (Senn 2013) and their invariants.

R calls (netmeta 3.4-0):
    net <- netmeta(TE, seTE, treat1.long, treat2.long, studlab, data = Senn2013, sm = "MD",
                   reference.group = "plac")
    netrank(net); netrank(net, small.values = "undesirable")
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.errors import InputError
from evsynth.models.network.contribution import contribution
from evsynth.models.network.fit import netmeta
from evsynth.models.network.inconsistency import netsplit
from evsynth.models.network.ranking import p_scores, rank_probabilities

# print(netrank(net)): P-score (common), P-score (random)
PSCORE = {"Rosiglitazone": (0.9789, 0.8934), "Metformin": (0.8513, 0.7818),
          "Pioglitazone": (0.7686, 0.7746), "Miglitol": (0.6200, 0.6137),
          "Acarbose": (0.4792, 0.5203), "Benfluorex": (0.5727, 0.4358),
          "Vildagliptin": (0.3512, 0.4232), "Sitagliptin": (0.2386, 0.3331),
          "Sulfonylurea": (0.1395, 0.2103), "Placebo": (0.0000, 0.0139)}


@pytest.mark.parametrize("model,col", [("common", 0), ("random", 1)])
def test_pscores_senn(senn, model, col):
    p = p_scores(senn, model=model).pscore
    want = pd.Series({t: v[col] for t, v in PSCORE.items()})
    np.testing.assert_allclose(p[want.index], want, atol=5e-5)
    # netrank(net, small.values = "undesirable"): Placebo 1.0000 / 0.9861
    u = p_scores(senn, model=model, small_values="undesirable").pscore
    np.testing.assert_allclose(u["Placebo"], [1.0, 0.9861][col], atol=5e-5)


def test_rank_probabilities_senn(senn):
    r = rank_probabilities(senn, nsim=20000, seed=7)
    prob = r.probabilities.to_numpy()
    np.testing.assert_allclose(prob.sum(axis=0), 1.0)
    np.testing.assert_allclose(prob.sum(axis=1), 1.0)
    # SUCRA converges to the P-score
    np.testing.assert_allclose(r.sucra, p_scores(senn).pscore, atol=0.01)
    np.testing.assert_allclose(r.frame["mean_rank"],
                               1 + (len(prob) - 1) * (1 - r.frame["sucra"]), rtol=1e-10)
    again = rank_probabilities(senn, nsim=20000, seed=7)
    assert again.probabilities.equals(r.probabilities)
    import json
    json.dumps(r.to_dict(), allow_nan=False)
    assert "SUCRA" in r.summary()


def test_rank_errors(senn):
    with pytest.raises(InputError, match="nsim"):
        rank_probabilities(senn, nsim=0)
    with pytest.raises(InputError, match="small_values"):
        p_scores(senn, small_values="smaller")


@st.composite
def networks(draw):
    n = draw(st.integers(3, 6))
    trts = [f"T{i}" for i in range(n)]
    rows = []
    k = draw(st.integers(n, 2 * n + 3))
    rng = np.random.default_rng(draw(st.integers(0, 10**6)))
    for s in range(k):
        if s < n - 1:
            arms = [trts[s], trts[s + 1]]  # a spanning path keeps the network connected
        else:
            na = 3 if rng.random() < 0.25 else 2
            arms = list(rng.choice(trts, size=na, replace=False))
        # arm effects with study-level noise: a multi-arm study's effects stay consistent
        mu = {t: rng.normal() + rng.normal(scale=0.3) for t in arms}
        se_arm = {t: rng.uniform(0.1, 0.5) for t in arms}
        for i in range(len(arms)):
            for j in range(i + 1, len(arms)):
                a, b = arms[i], arms[j]
                rows.append({"studlab": f"s{s}", "treat1": a, "treat2": b,
                             "TE": mu[a] - mu[b],
                             "seTE": float(np.hypot(se_arm[a], se_arm[b]))})
    return pd.DataFrame(rows)


@settings(max_examples=25, deadline=None)
@given(networks())
def test_ranking_and_split_invariants(data):
    fit = netmeta(data=data)
    for model in ("common", "random"):
        p = p_scores(fit, model=model)
        s = p.frame["pscore"].to_numpy()
        assert np.all((s >= 0) & (s <= 1))
        assert s.mean() == pytest.approx(0.5, abs=1e-12)
        u = p_scores(fit, model=model, small_values="undesirable").frame["pscore"].to_numpy()
        np.testing.assert_allclose(u, 1 - s, atol=1e-12)
        r = rank_probabilities(fit, nsim=200, seed=1, model=model)
        prob = r.probabilities.to_numpy()
        np.testing.assert_allclose(prob.sum(axis=0), 1.0)
        np.testing.assert_allclose(prob.sum(axis=1), 1.0)
        for method in ("randomwalk", "shortestpath"):
            c = contribution(fit, model=model, method=method)
            np.testing.assert_allclose(c.frame.sum(axis=1), 1.0, atol=1e-8)
        f = getattr(netsplit(fit), model)
        f = f[np.isfinite(f["TE_direct"]) & np.isfinite(f["TE_indirect"])]
        wd, wi = 1 / f["seTE_direct"] ** 2, 1 / f["seTE_indirect"] ** 2
        np.testing.assert_allclose((wd * f["TE_direct"] + wi * f["TE_indirect"]) / (wd + wi),
                                   f["TE_nma"], rtol=1e-7, atol=1e-9)
