"""Errors raised for bad input.

Every layer raises :class:`InputError` (a ``ValueError``) for bad input, with a message naming
where the problem is (file, row or study, field) and what was expected. The CLI turns it into
exit code 2 with no traceback.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported where used, so that `evsynth --help` does not load it
    import numpy as np


class InputError(ValueError):
    """Bad input: the message names the file/row/study, the field, and what was expected.

    Every public function raises it (a :class:`ValueError`, so existing ``except ValueError``
    handlers keep working) for data or arguments it cannot use; the command-line interface
    turns it into exit code 2 without a traceback.

    Parameters
    ----------
    message : str
        What is wrong and where: the file, row or study label, the field, and what was
        expected.

    See Also
    --------
    evsynth.validation : the checks shared by every entry point.

    Examples
    --------
    >>> import evsynth
    >>> try:
    ...     evsynth.effect_size("RR", ai=[4, "six"], bi=[119, 300], ci=[11, 29], di=[128, 274])
    ... except evsynth.InputError as exc:
    ...     print(exc)
    study in row 2: field 'ai' is 'six'; expected a number
    >>> issubclass(evsynth.InputError, ValueError)
    True
    """


def study_name(i: int, labels: Sequence | None = None) -> str:
    """Human name of study ``i`` (0-based): its label if given, else ``row i+1``."""
    if labels is not None:
        return f"study {shown(labels[i])} (row {i + 1})"
    return f"study in row {i + 1}"


def shown(value: Any) -> str:
    """``repr`` of a value as the user wrote it: numpy scalars as Python numbers (numpy 2 would
    show ``np.float64(-0.02)``), so messages read ``field 'vi' is -0.02``."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):  # a numpy scalar
        value = value.item()
    return repr(value)


def first_bad(mask: np.ndarray) -> int | None:
    """Index of the first True in ``mask`` or None."""
    import numpy as np

    mask = np.asarray(mask)
    if not mask.any():  # the usual case, without an index array
        return None
    return int(np.flatnonzero(mask)[0])


def check_finite(x: np.ndarray, field: str, labels: Sequence | None = None) -> None:
    """Raise InputError naming the first study whose ``field`` is NaN or infinite."""
    import numpy as np

    i = first_bad(~np.isfinite(x))
    if i is not None:
        raise InputError(f"{study_name(i, labels)}: field '{field}' is {shown(x[i])}; expected a "
                         "finite number")


def nonnegative_number(field: str, value: Any) -> float:
    """``value`` as a finite float >= 0 (e.g. a continuity correction), else an InputError."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InputError(f"argument '{field}' is {value!r}; expected a number >= 0") from None
    if not math.isfinite(out) or out < 0:
        raise InputError(f"argument '{field}' is {value!r}; expected a number >= 0")
    return out


def finite_number(value: Any, where: str, field: str, *, required: bool = False,
                  minimum: float | None = None, expected: str = "a finite number") -> float | None:
    """``value`` as a finite float, or None when it is missing (None, "" or NaN) and not
    ``required``; otherwise an InputError naming ``where`` (file, row, study or analysis) and the
    field. ``minimum`` adds a lower bound. Booleans are not numbers here."""
    missing = value is None or (isinstance(value, str) and value.strip() == "")
    if not missing and isinstance(value, float) and value != value:  # NaN
        missing = not required
    if missing:
        if required:
            raise InputError(f"{where}: field {field!r} is missing; expected {expected}")
        return None
    try:
        if isinstance(value, bool):
            raise TypeError
        out = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: field {field!r} is {value!r}; expected {expected}") from None
    if not math.isfinite(out):
        raise InputError(f"{where}: field {field!r} is {value!r}; expected {expected}")
    if minimum is not None and out < minimum:
        raise InputError(f"{where}: field {field!r} is {value!r}; expected a number >= "
                         f"{minimum:g}")
    return out
