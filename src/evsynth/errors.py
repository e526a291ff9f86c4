"""Errors raised for bad input.

Every layer raises :class:`InputError` (a ``ValueError``) for bad input, with a message naming
where the problem is (file, row or study, field) and what was expected. The CLI turns it into
exit code 2 with no traceback.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class InputError(ValueError):
    """Bad input: the message names the file/row/study, the field, and what was expected."""


def study_name(i: int, labels: Sequence | None = None) -> str:
    """Human name of study ``i`` (0-based): its label if given, else ``row i+1``."""
    if labels is not None:
        return f"study {labels[i]!r} (row {i + 1})"
    return f"study in row {i + 1}"


def first_bad(mask: np.ndarray) -> int | None:
    """Index of the first True in ``mask`` or None."""
    idx = np.flatnonzero(np.asarray(mask))
    return int(idx[0]) if idx.size else None


def check_finite(x: np.ndarray, field: str, labels: Sequence | None = None) -> None:
    """Raise InputError naming the first study whose ``field`` is NaN or infinite."""
    i = first_bad(~np.isfinite(x))
    if i is not None:
        raise InputError(f"{study_name(i, labels)}: field '{field}' is {x[i]!r}; expected a "
                         "finite number")


def check_positive(x: np.ndarray, field: str, labels: Sequence | None = None,
                   allow_zero: bool = False) -> None:
    """Raise InputError naming the first study whose ``field`` is not > 0 (or >= 0)."""
    check_finite(x, field, labels)
    bad = x < 0 if allow_zero else x <= 0
    i = first_bad(bad)
    if i is not None:
        want = "a number >= 0" if allow_zero else "a positive number"
        raise InputError(f"{study_name(i, labels)}: field '{field}' is {x[i]!r}; expected {want}")
