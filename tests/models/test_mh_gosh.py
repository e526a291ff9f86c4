"""gosh() on Mantel-Haenszel and Peto fits against metafor's gosh.rma for rma.mh / rma.peto
(fixtures by tests/reference/mh_gosh_fixtures.R: every subset of 8-9 trials, with zero cells,
a double-zero trial and subsets where the estimator is not defined)."""

from __future__ import annotations

import numpy as np
import pytest

import evsynth
from fixture_data import load_fixture

CASES = ["zero_OR", "zero_RR", "zero_RD", "zero_PETO", "bcg_OR"]


def _num(values: list) -> np.ndarray:
    return np.array([np.nan if v is None or v == "NA" else v for v in values], dtype=float)


@pytest.mark.parametrize("case", CASES)
def test_gosh_matches_metafor(case: str) -> None:
    ref = load_fixture(f"mh_gosh/gosh_{case}.json")
    d = ref["data"]
    tables = {key: d[key] for key in ("ai", "bi", "ci", "di")}
    if ref["method"] == "PETO":
        fit = evsynth.meta_peto(**tables, slab=d["study"])
    else:
        fit = evsynth.meta_mh(ref["measure"], **tables, slab=d["study"])
    assert fit.k == ref["k"]
    g = fit.gosh()
    assert g.exact
    np.testing.assert_array_equal(g.incl.astype(int), np.array(ref["incl"]))
    for col in ("k", "QE", "I2", "H2", "tau2", "estimate"):
        want = _num(ref["res"][col])
        got = g.frame[col].to_numpy(dtype=float)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=col)
        ok = ~np.isnan(want)
        np.testing.assert_allclose(got[ok], want[ok], rtol=1e-10, atol=1e-12, err_msg=col)
    np.testing.assert_array_equal(g.fit, np.array(ref["fit"], dtype=bool))


def test_gosh_mh_random_subsets_and_errors() -> None:
    ref = load_fixture("mh_gosh/gosh_bcg_OR.json")["data"]
    fit = evsynth.meta_mh("OR", ai=ref["ai"], bi=ref["bi"], ci=ref["ci"], di=ref["di"])
    g = fit.gosh(subsets=50, seed=1)
    assert not g.exact and len(g.frame) == 50
    assert np.array_equal(g.frame["k"].to_numpy(), g.incl.sum(axis=1))
    from evsynth.reports.influence_plots import gosh_plot

    assert len(gosh_plot(fit.gosh()).axes) >= 1  # the plot draws an MH fit's subsets too
    one = evsynth.meta_mh("OR", ai=[3], bi=[10], ci=[4], di=[9])
    with pytest.raises(evsynth.InputError, match="k = 1"):
        one.gosh()


def _oracle(fit, g):
    """The per-subset refits (one public meta_mh / meta_peto call each) of g's subsets."""
    from evsynth.models.diagnostics import _mh

    rows = _mh.in_model(fit)
    return _mh.refits(fit, [rows[m] for m in g.incl])


_ZERO = dict(ai=[0, 2, 0, 5, 1, 0, 0, 7], bi=[20, 18, 25, 15, 30, 12, 9, 14],
             ci=[0, 4, 3, 9, 0, 1, 0, 12], di=[20, 16, 22, 11, 31, 11, 10, 9])
_RATES = dict(x1i=[3, 5, 0, 7, 0, 2, 11], x2i=[6, 2, 4, 9, 0, 3, 8],
              t1i=[100.0, 150, 80, 120, 60, 90, 300], t2i=[110.0, 140, 90, 130, 70, 95, 280])


@pytest.mark.parametrize("measure", ["OR", "RR", "RD", "PETO", "IRR", "IRD"])
@pytest.mark.parametrize("opts", [{}, {"add": [0.5, 0.5], "to": ["all", "only0"]},
                                  {"drop00": [False, False], "level": 90},
                                  {"add": [0.25, 0.0], "to": ["only0", "none"],
                                   "drop00": [True, True]}])
def test_gosh_pooled_at_once_equals_one_refit_per_subset(measure: str, opts: dict) -> None:
    """Every subset pooled by one matrix product gives the values (to rounding) and the
    failures (NaN rows; Q = 0, I^2 = 0, H^2 = 1 with at most one per-study effect) of the public
    meta_mh / meta_peto call on that subset, for every estimator, zero cells, double-zero
    tables, continuity corrections and levels."""
    rates = measure in ("IRR", "IRD")
    if rates and "to" in opts:
        opts = {**opts, "to": ["all", "only0"]}
    tables = _RATES if rates else _ZERO
    if measure == "PETO":
        fit = evsynth.meta_peto(**tables, **opts)
    else:
        fit = evsynth.meta_mh(measure, **tables, **opts)
    g = fit.gosh()
    ref = _oracle(fit, g)
    for col, key in (("QE", "QE"), ("I2", "I2"), ("H2", "H2"), ("estimate", "beta")):
        got = g.frame[col].to_numpy(dtype=float)
        want = ref[key].copy()
        if col == "estimate" and measure == "RD":  # double-zero only: 0 (gosh_mh, as metafor)
            want = np.where(np.isnan(want) & ~np.isnan(got), 0.0, want)
            assert np.all(got[np.isnan(ref[key]) & ~np.isnan(got)] == 0.0)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=col)
        ok = ~np.isnan(want)
        np.testing.assert_allclose(got[ok], want[ok], rtol=1e-12, atol=1e-13, err_msg=col)


def test_gosh_random_subsets_and_if0all_refit_each_subset(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """Random subsets of a larger k pooled at once equal their refits; with to='if0all' (a
    correction that depends on the subset) every subset is refitted instead."""
    from evsynth.models.diagnostics import _mh

    rng = np.random.default_rng(5)
    k = 24
    n1, n2 = rng.integers(10, 200, k), rng.integers(10, 200, k)
    a = rng.binomial(n1, 0.08)
    c = rng.binomial(n2, 0.12)
    fit = evsynth.meta_mh("OR", ai=a, bi=n1 - a, ci=c, di=n2 - c)
    g = fit.gosh(subsets=3000, seed=2)
    assert not g.exact
    ref = _oracle(fit, g)
    np.testing.assert_allclose(g.frame["estimate"], ref["beta"], rtol=1e-12)
    np.testing.assert_allclose(g.frame["QE"], ref["QE"], rtol=1e-11)
    calls = []
    real = _mh.refits
    monkeypatch.setattr(_mh, "refits", lambda f, s: calls.append(len(s)) or real(f, s))
    evsynth.meta_mh("OR", **_ZERO).gosh()
    assert calls == []  # pooled at once
    odd = evsynth.meta_mh("OR", **_ZERO, add=[0.5, 0.5], to=["if0all", "if0all"])
    g2 = odd.gosh()
    assert calls == [255]
    assert g2.frame["estimate"].notna().any()
