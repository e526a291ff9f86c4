"""evsynth.effect_size against metafor's escalc (fixtures from tests/reference/escalc_fixtures.R).

Each JSON fixture holds the inputs, the options and metafor's yi/vi (metafor 3.8-1), or, for the
measures and options metafor 3.8-1 lacks (RevMan 5 SMD variance, correct=False, SMD of change
scores, generic inverse variance from a CI or P), values computed in R from the cited formula.
The tests never need R.
"""

from __future__ import annotations

import numpy as np
import pytest

import evsynth
from fixture_data import REFERENCE, load_fixture

CASES = sorted(p.stem for p in (REFERENCE / "escalc").glob("*.json"))
RTOL, ATOL = 1e-6, 1e-10


def _column(v):
    if isinstance(v, list):
        return [np.nan if x is None else x for x in v]
    return v


def _expected(v) -> np.ndarray:
    if not isinstance(v, list):
        v = [v]
    return np.array([np.nan if x is None else x for x in v], dtype=float)


def test_fixtures_present():
    assert len(CASES) >= 100


@pytest.mark.parametrize("case", CASES)
def test_against_reference(case):
    fx = load_fixture(f"escalc/{case}.json")
    inputs = {k: _column(v) for k, v in fx["inputs"].items()}
    res = evsynth.effect_size(fx["measure"], **inputs, **fx["options"])
    yi, vi = _expected(fx["yi"]), _expected(fx["vi"])
    assert len(res) == len(yi)
    # NaN exactly where metafor gives NA, and every NaN explained in `note`
    np.testing.assert_array_equal(np.isnan(res["yi"].to_numpy()), np.isnan(yi), err_msg="yi NA")
    np.testing.assert_array_equal(np.isnan(res["vi"].to_numpy()), np.isnan(vi), err_msg="vi NA")
    np.testing.assert_allclose(res["yi"].to_numpy(), yi, rtol=RTOL, atol=ATOL, equal_nan=True)
    np.testing.assert_allclose(res["vi"].to_numpy(), vi, rtol=RTOL, atol=ATOL, equal_nan=True)
    np.testing.assert_allclose(res["sei"].to_numpy() ** 2, res["vi"].to_numpy(), rtol=1e-12,
                               equal_nan=True)
    nan_rows = res["yi"].isna() | res["vi"].isna()
    assert (res.loc[nan_rows, "note"] != "").all(), res[nan_rows]
    assert (res.loc[~nan_rows, "note"] == "").all(), res[~nan_rows]
