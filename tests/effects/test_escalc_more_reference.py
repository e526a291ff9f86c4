"""The further escalc measures (issue 13) against metafor 3.8-1 (fixtures written by
tests/reference/escalc_more_fixtures.R; the tests never need R).

Every fixture case holds the inputs, the options and metafor's yi/vi, or, for inputs metafor
3.8-1 does not take for a measure (RPB, RBIS, D2ORN, D2ORL from Cohen's d or t, as metafor >= 4.0),
values computed in R with escalc after metafor's own substitution for SMD. RTET is compared at
a looser tolerance: metafor maximises the likelihood with ``optimize`` (tolerance 1.2e-4) and
Nelder-Mead, evsynth to 1e-12 (see test_rtet_is_the_exact_maximiser).
"""

from __future__ import annotations

import numpy as np
import pytest

import evsynth
from fixture_data import REFERENCE, load_fixture

CASES = sorted(p.stem for p in (REFERENCE / "escalc_more").glob("*.json"))
RTOL, ATOL = 1e-6, 1e-10


def _column(v):
    if isinstance(v, list):
        return [np.nan if x is None else x for x in v]
    return v


def _expected(v) -> np.ndarray:
    if not isinstance(v, list):
        v = [v]
    return np.array([np.nan if x is None else x for x in v], dtype=float)


def _run(case):
    fx = load_fixture(f"escalc_more/{case}.json")
    inputs = {k: _column(v) for k, v in fx["inputs"].items()}
    return fx, evsynth.effect_size(fx["measure"], **inputs, **fx["options"])


def test_fixtures_present():
    assert len(CASES) >= 150
    measures = {load_fixture(f"escalc_more/{c}.json")["measure"] for c in CASES}
    wanted = {"CVR", "VR", "D2ORL", "D2ORN", "RPB", "RBIS", "SMCRH", "ROMC", "MNLN", "CVLN",
              "SDLN", "PHI", "YUQ", "YUY", "PBIT", "OR2DN", "OR2DL", "PLN", "PCOR", "ZPCOR",
              "SPCOR", "IRSD", "IR", "IRS", "IRFT", "UCOR", "RTET"}
    assert wanted <= measures


@pytest.mark.parametrize("case", CASES)
def test_against_reference(case):
    fx, res = _run(case)
    yi, vi = _expected(fx["yi"]), _expected(fx["vi"])
    # deliberate difference: metafor keeps the variance of an IRSD study dropped by drop00 (it
    # does not depend on the counts) while its estimate is NA; evsynth gives NaN for both
    vi[np.isnan(yi)] = np.nan
    assert len(res) == len(yi)
    np.testing.assert_array_equal(np.isnan(res["yi"].to_numpy()), np.isnan(yi), err_msg="yi NA")
    np.testing.assert_array_equal(np.isnan(res["vi"].to_numpy()), np.isnan(vi), err_msg="vi NA")
    rtol, atol = (2e-3, 2e-4) if fx["measure"] == "RTET" else (RTOL, ATOL)
    np.testing.assert_allclose(res["yi"].to_numpy(), yi, rtol=rtol, atol=atol, equal_nan=True)
    np.testing.assert_allclose(res["vi"].to_numpy(), vi, rtol=rtol, atol=atol, equal_nan=True)
    nan_rows = res["yi"].isna() | res["vi"].isna()
    assert (res.loc[nan_rows, "note"] != "").all(), res[nan_rows]
    assert (res.loc[~nan_rows, "note"] == "").all(), res[~nan_rows]
