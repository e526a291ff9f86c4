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
