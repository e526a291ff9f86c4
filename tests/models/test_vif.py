"""vif() (metafor vif.rma; generalised VIFs of Fox & Monette 1992, J Am Stat Assoc 87:178).

Reference values: tests/reference/diag_extra_fixtures.R (metafor 3.8.1, tight control).
Independent check: for a single coefficient the VIF is 1 / (1 - R_j^2) with R_j^2 from the
regression of column j on the other moderators in the W metric (the textbook definition), and
the generalised VIF of a group of two is the ratio of determinants computed directly.
"""

from __future__ import annotations

import json

import numpy as np
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
