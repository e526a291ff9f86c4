"""vif() (metafor vif.rma; generalised VIFs of Fox & Monette 1992, J Am Stat Assoc 87:178).

Reference values: tests/reference/diag_extra_fixtures.R (metafor 3.8.1, tight control).
Independent check: for a single coefficient the VIF is 1 / (1 - R_j^2) with R_j^2 from the
regression of column j on the other moderators in the W metric (the textbook definition), and
the generalised VIF of a group of two is the ratio of determinants computed directly.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from test_residuals import dataset, fit_case, load_cases

import evsynth
from evsynth.errors import InputError

CASES = load_cases("vif")


def _btt(case):
    if case["btt"] is None:
        return None
    return [[int(j) - 1 for j in g] for g in case["btt"]]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['data']}-{c['mods']}-{c['btt']}-"
                         f"{c['intercept']}-{c['reestimate']}")
def test_vif_matches_metafor(case):
    fit = fit_case(case)
    res = fit.vif(btt=_btt(case), intercept=case["intercept"], reestimate=case["reestimate"])
    ref = case["result"]
    rtol = 1e-6 if case["reestimate"] or case["intercept"] else 1e-9
    assert_allclose(res.vif, ref["vif"], rtol=rtol)
    assert_allclose(res.sif, ref["sif"], rtol=rtol)
    assert list(res.m) == ref["m"]


def test_single_vif_is_one_over_one_minus_r2():
    d = dataset("bcg")
    fit = evsynth.meta("yi", "vi", mods="~ ablat + year", data=d)
    w = 1 / (fit.vi + fit.tau2)
    X = fit.model_matrix
    for j in (1, 2):
        other = [c for c in range(3) if c != j]
        Xo = X[:, other]
        coef = np.linalg.solve(Xo.T @ (w[:, None] * Xo), Xo.T @ (w * X[:, j]))
        r = X[:, j] - Xo @ coef
        xbar = np.sum(w * X[:, j]) / w.sum()
        r2 = 1 - np.sum(w * r**2) / np.sum(w * (X[:, j] - xbar) ** 2)
        assert_allclose(fit.vif().vif[j - 1], 1 / (1 - r2), rtol=1e-9)


def test_sim_is_seeded_and_reports_prop():
    d = dataset("bcg")
    fit = evsynth.meta("yi", "vi", mods="~ ablat + year", data=d)
    a = fit.vif(sim=200, seed=3)
    b = fit.vif(sim=200, seed=3)
    assert_allclose(a.sim_vifs, b.sim_vifs)
    assert a.sim_vifs.shape == (200, 2)
    assert np.all((a.prop >= 0) & (a.prop <= 1))
    # the observed VIF of these strongly correlated moderators is far in the upper tail
    assert np.all(a.prop > 0.9)
    assert np.nanmin(a.sim_vifs) >= 1 - 1e-9
    json.dumps(a.to_dict(), allow_nan=False)
    assert "200 simulations" in str(a.summary())


def test_errors():
    d = dataset("bcg")
    fit = evsynth.meta("yi", "vi", mods="~ ablat + year", data=d)
    with pytest.raises(InputError, match="only the intercept"):
        fit.vif(btt=[[0]])
    with pytest.raises(InputError, match="0..2"):
        fit.vif(btt=[5])
    with pytest.raises(InputError, match="matches no coefficient"):
        fit.vif(btt="alloc")
    assert_allclose(fit.vif(btt="ablat").vif, fit.vif().vif[0])
    with pytest.raises(InputError, match="sim must be"):
        fit.vif(sim=1)
    with pytest.raises(InputError, match="meta-regressions"):
        evsynth.meta("yi", "vi", data=d).vif()


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10**6), st.floats(0.01, 100), st.floats(-50, 50))
def test_property_vif_invariant_to_rescaling_a_moderator(seed, scale, shift):
    """A VIF depends on the column space only: rescaling or shifting a moderator (with an
    intercept in the model) leaves every VIF and GVIF unchanged, and VIFs are >= 1."""
    rng = np.random.default_rng(seed)
    k = 12
    x1 = rng.normal(size=k)
    x2 = 0.6 * x1 + rng.normal(size=k)
    y = rng.normal(size=k) * 0.3
    v = rng.uniform(0.02, 0.2, size=k)
    a = evsynth.meta(y, v, mods=np.column_stack([x1, x2]), method="DL")
    b = evsynth.meta(y, v, mods=np.column_stack([x1 * scale + shift, x2]), method="DL")
    assert_allclose(a.vif().vif, b.vif().vif, rtol=1e-7)
    assert np.all(a.vif().vif >= 1 - 1e-12)
    assert_allclose(a.vif(btt=[[1, 2]]).vif, 1.0, atol=1e-9)  # all moderators: GVIF 1


# ---- sim: metafor's permutation distribution (tests/reference/refit_weights_fixtures.R) --------
def _vif_sim_cases() -> list[dict]:
    from fixture_data import REFERENCE, load_r_group

    return load_r_group(REFERENCE / "refit_weights", "vif_sim", na=None)["cases"]


def _vif_sim_fit(case: dict):
    from fixture_data import REFERENCE

    d = pd.read_csv(REFERENCE / "data" / "rma_bcg.csv")
    if case["data"] == "bcg8":
        d = d.iloc[:8].reset_index(drop=True)
        d["x1"] = [1, 1, 1, 0, 0, 0, 1, 0]
        d["x2"] = [1, 1, 0, 0, 0, 1, 0, 0]
    w = 1 / np.sqrt(d["vi"].to_numpy()) if case["weights"] == "isd" else None
    formula = case["mods"].replace("alloc", "C(alloc)")
    if case["matrix_mods"]:
        from formulaic import model_matrix

        mm = model_matrix(formula, d).drop(columns="Intercept")
        return evsynth.meta("yi", "vi", data=d, mods=mm, weights=w, control={"tol": 1e-12})
    return evsynth.meta("yi", "vi", data=d, mods=formula, weights=w, control={"tol": 1e-12})


@pytest.mark.parametrize("case", _vif_sim_cases(), ids=lambda c: c["id"])
def test_sim_distribution_matches_metafor(case):
    """The non-random parts (observed VIFs) agree to rtol 1e-6; the simulated distribution of
    4000 evsynth draws against metafor's 4000 (R's draws cannot be reproduced): at each of
    metafor's quantiles q_p the evsynth ECDF is within 5 standard errors of p, and ``prop``
    and the share of refits without a VIF within 5 SE (+ 0.005 for metafor's Fisher-scoring
    failures, 0.2% in the first case, which evsynth's tau^2 algorithm fits).

    metafor 3.8.1 (the fixture) returns NA for a shuffled model matrix without full rank and
    leaves it out of ``prop``; metafor's current source (``.compvifsim``) and evsynth return inf
    for the groups holding the dropped coefficient (NaN for the others) and count them in
    ``prop``: the comparison recomputes the 3.8.1 convention from evsynth's draws."""
    fit = _vif_sim_fit(case)
    btt = None if case["btt"] is None else [np.atleast_1d(b) - 1 for b in case["btt"]]
    n = 4000
    res = fit.vif(btt=btt, sim=n, seed=11)
    assert_allclose(res.vif, case["vif"], rtol=1e-6)
    sims = res.sim_vifs
    assert sims.shape == (n, len(case["vif"]))
    n_r = case["nsim"]
    bad = ~np.isfinite(sims)
    for j in range(sims.shape[1]):
        na_r = case["share_na"][j] + case["share_inf"][j]
        se = np.sqrt(max(na_r * (1 - na_r), 1e-4) * (1 / n + 1 / n_r))
        assert abs(bad[:, j].mean() - na_r) <= 5 * se + 0.005
        fin = sims[~bad[:, j], j]
        for p, q in zip(case["probs"], case["quantiles"][j], strict=True):
            se = np.sqrt(p * (1 - p) * (1 / fin.size + 1 / (n_r * (1 - na_r))))
            assert abs(np.mean(fin <= q) - p) <= 5 * se + 1e-9, (j, p)
        prop_38 = np.mean(res.vif[j] >= fin)  # NA and inf left out, as metafor 3.8.1
        pr = case["prop"][j]
        se = np.sqrt(max(pr * (1 - pr), 1e-4) * (1 / fin.size + 1 / n_r))
        assert abs(prop_38 - pr) <= 5 * se


def test_sim_shuffles_data_columns_not_model_matrix_columns():
    """As metafor's .compvifsim for a formula model: each variable is shuffled and the model
    matrix rebuilt, so a factor's dummies stay one valid coding per row and an interaction
    column is the product of its shuffled variables (shuffling model-matrix columns would break
    both); every variable keeps its values (a permutation)."""
    from evsynth.models.diagnostics.vif import simulated_model_matrices

    d = dataset("bcg")
    fit = evsynth.meta("yi", "vi", mods="~ ablat * year + C(alloc)", data=d)
    names = fit.coef_names
    Xs = simulated_model_matrices(fit, 500, np.random.default_rng(1))
    ia, iy, ix = names.index("ablat"), names.index("year"), names.index("ablat:year")
    dummies = [j for j, nm in enumerate(names) if nm.startswith("C(alloc)")]
    assert_allclose(Xs[:, :, ix], Xs[:, :, ia] * Xs[:, :, iy])
    assert np.all(Xs[:, :, dummies].sum(axis=2) <= 1)
    assert np.all(np.sort(Xs[:, :, ia], axis=1) == np.sort(d["ablat"].to_numpy()))
    counts = Xs[:, :, dummies].sum(axis=1)  # each level keeps its number of studies
    assert np.all(counts == fit.model_matrix[:, dummies].sum(axis=0))
    # the variables are shuffled independently: ablat and year are no longer correlated
    r = [np.corrcoef(x[:, ia], x[:, iy])[0, 1] for x in Xs]
    assert abs(np.mean(r)) < 0.05
    # matrix moderators: each column of the model matrix shuffled (apply(X, 2, sample))
    mat = evsynth.meta("yi", "vi", data=d, mods=fit.model_matrix[:, 1:])
    Xm = simulated_model_matrices(mat, 200, np.random.default_rng(2))
    assert not np.allclose(Xm[:, :, ix], Xm[:, :, ia] * Xm[:, :, iy])


def test_sim_rank_deficient_draws_are_inf_for_the_dropped_coefficient():
    """A shuffled design without full rank: inf for the coefficient R would drop (here the
    interaction, in the span of the columns before it), counted in prop (metafor's source)."""
    d = dataset("bcg").iloc[:8].reset_index(drop=True)
    d["x1"] = [1, 1, 1, 0, 0, 0, 1, 0]
    d["x2"] = [1, 1, 0, 0, 0, 1, 0, 0]
    fit = evsynth.meta("yi", "vi", mods="~ x1 * x2", data=d)
    res = fit.vif(sim=300, seed=4)
    inf = np.isinf(res.sim_vifs)
    assert inf[:, 2].any() and not inf[:, :2].any()
    nan = np.isnan(res.sim_vifs)
    assert np.array_equal(nan[:, 0], inf[:, 2]) and np.array_equal(nan[:, 1], inf[:, 2])
    ok = ~np.isnan(res.sim_vifs[:, 2])
    assert_allclose(res.prop[2], np.mean(res.vif[2] >= res.sim_vifs[ok, 2]))


def test_sim_and_reestimate_carry_user_weights():
    """vif(sim=, reestimate=) refit with the fit's weights (metafor passes weights=x$weights):
    reestimate with all moderators kept reproduces the fit's own covariance (GVIF 1)."""
    d = dataset("bcg")
    w = 1 / np.sqrt(d["vi"].to_numpy())
    fit = evsynth.meta("yi", "vi", mods="~ ablat + year", data=d, weights=w, tau2=0.1)
    assert_allclose(fit.vif(btt=[[1, 2]], reestimate=True).vif, 1.0, rtol=1e-10)
    plain = evsynth.meta("yi", "vi", mods="~ ablat + year", data=d)
    assert not np.allclose(fit.vif(sim=50, seed=1).sim_vifs, plain.vif(sim=50, seed=1).sim_vifs)


# ---- reestimate=True with user weights / weighted=False / fixed tau^2, and with sim= ----------
def _reest_cases() -> list[dict]:
    from fixture_data import REFERENCE, load_r_group

    return load_r_group(REFERENCE / "bias_weights", "vif_reestimate", na=float("nan"))["cases"]


def _reest_fit(case: dict):
    from fixture_data import REFERENCE

    a = case["args"]
    d = pd.read_csv(REFERENCE / "data" / case["dataset"])
    w = None if a["weights"] is None else 1 / np.sqrt(d["vi"].to_numpy())
    return evsynth.meta("yi", "vi", data=d, mods=a["mods"].replace("alloc", "C(alloc)"),
                        method=a["method"], weights=w, weighted=a["weighted"], tau2=a["tau2"],
                        control={"tol": 1e-12})


@pytest.mark.parametrize("case", _reest_cases(), ids=lambda c: c["id"])
def test_reestimate_with_settings_matches_metafor(case):
    """vif(reestimate=TRUE) of fits with user weights, weighted=FALSE or a fixed tau^2: the
    reduced refits carry all three (metafor's .compvif passes weights, weighted, tau2)
    (tests/reference/bias_weights_fixtures.R). rtol 1e-8: observed <= 1.3e-9, the largest on the
    ablat * year VIFs of ~2e5 (a ratio of near-singular determinants amplifies the 1e-12
    convergence of tau^2)."""
    res = _reest_fit(case).vif(reestimate=True)
    assert_allclose(res.vif, case["result"]["vif"], rtol=1e-8)


@pytest.mark.parametrize("case", [c for c in _reest_cases() if "sim" in c["result"]],
                         ids=lambda c: c["id"])
def test_sim_with_reestimate_matches_metafor_distribution(case):
    """vif(reestimate=TRUE, sim=n), which metafor 3.8.1 allows: each simulated fit's VIFs are
    its reestimate=TRUE VIFs (.compvifsim hands the refit to .compvif). R's draws cannot be
    reproduced: the share of NA (failed REML refits: 0.25% in R) and the quantiles of the
    finite draws agree within sampling error of the two runs (2000 draws each), as
    test_sim_matches_metafor_distribution."""
    fit = _reest_fit(case)
    sim = case["result"]["sim"]
    n, n_r = 2000, sim["nsim"]
    res = fit.vif(reestimate=True, sim=n, seed=5)
    assert_allclose(res.vif, case["result"]["vif"], rtol=1e-8)
    sims = res.sim_vifs
    bad = ~np.isfinite(sims)
    for j in range(sims.shape[1]):
        na_r = sim["share_na"][j] + sim["share_inf"][j]
        se = np.sqrt(max(na_r * (1 - na_r), 1e-4) * (1 / n + 1 / n_r))
        assert abs(bad[:, j].mean() - na_r) <= 5 * se + 0.005
        fin = sims[~bad[:, j], j]
        for p, q in zip(sim["probs"], sim["quantiles"][j], strict=True):
            se = np.sqrt(p * (1 - p) * (1 / fin.size + 1 / (n_r * (1 - na_r))))
            assert abs(np.mean(fin <= q) - p) <= 5 * se + 1e-9, (j, p)
        pr = sim["prop"][j]
        se = np.sqrt(max(pr * (1 - pr), 1e-4) * (1 / fin.size + 1 / n_r))
        assert abs(np.mean(res.vif[j] >= fin) - pr) <= 5 * se


def test_sim_with_reestimate_is_reestimate_of_each_draw():
    """Each simulated VIF is vif(reestimate=True) of the model refitted to that draw's model
    matrix (checked on a few draws against single fits with the same weights and tau^2)."""
    from evsynth.models.diagnostics.vif import simulated_model_matrices

    d = dataset("bcg")
    w = 1 / np.sqrt(d["vi"].to_numpy())
    fit = evsynth.meta("yi", "vi", mods="~ ablat + year", data=d, weights=w, tau2=0.05,
                       control={"tol": 1e-12})
    res = fit.vif(reestimate=True, sim=5, seed=3)
    Xs = simulated_model_matrices(fit, 5, np.random.default_rng(3))
    for i in range(5):
        one = evsynth.meta(d["yi"], d["vi"], mods=Xs[i][:, 1:], weights=w, tau2=0.05,
                           control={"tol": 1e-12})
        assert_allclose(res.sim_vifs[i], one.vif(reestimate=True).vif, rtol=1e-10)
