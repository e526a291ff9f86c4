"""The shared input checks in evsynth.errors."""

import math

import pytest

from evsynth.errors import InputError, finite_number


@pytest.mark.parametrize("value, want", [(1, 1.0), ("2.5", 2.5), (None, None), ("", None),
                                         (float("nan"), None), (0, 0.0)])
def test_finite_number_accepts(value, want):
    assert finite_number(value, "studies.csv: row 3", "n") == want


@pytest.mark.parametrize("value, kw, match", [
    (None, {"required": True}, r"row 3: field 'n' is missing"),
    (float("nan"), {"required": True}, r"row 3: field 'n' is nan"),
    ("abc", {}, r"row 3: field 'n' is 'abc'; expected a finite number"),
    (True, {}, r"field 'n' is True"),
    (math.inf, {}, r"field 'n' is inf"),
    (-1, {"minimum": 0}, r"field 'n' is -1; expected a number >= 0"),
])
def test_finite_number_rejects_naming_place_and_field(value, kw, match):
    with pytest.raises(InputError, match=match):
        finite_number(value, "studies.csv: row 3", "n", **kw)
