"""One validation module for every entry point.

:func:`evsynth.effect_size`, :func:`evsynth.meta`, :func:`evsynth.meta_mh`,
:func:`evsynth.meta_peto`, :func:`evsynth.meta_batch`, the diagnostics and the review pipeline
check their arguments here, so that they accept and reject the same things with the same
message (``tests/test_validation_contract.py`` proves it, in the spirit of scikit-learn's common
estimator checks). Every failure is an :class:`evsynth.errors.InputError` that names the
argument (and the study, row or group where one is at fault) and says what was expected.

Rules
-----
level
    metafor's rule: a number above 1 is a percentage, one below 1 a proportion, so ``95`` and
    ``0.95`` both mean 95%. Accepted: 50 <= level < 100 (or 0.5 <= level < 1); results store and
    print the level in percent. ``level=0.4`` (a 40% interval, or a mistyped alpha) and
    ``level=1`` (1% or 100%?) are errors: both are far more often a slip than intended.
method and test codes
    case-insensitive, with the aliases of :data:`METHOD_ALIASES` / :data:`TEST_ALIASES`;
    results store the canonical spelling (``"reml"`` -> ``"REML"``, ``"hksj"`` -> ``"knha"``).
control
    a dict of known keys only; an unknown key or a value of the wrong type is an error naming it.
study vectors
    numbers only (booleans are not effect sizes, variances or counts); a column name is looked up
    in ``data=``; messages name the study label (or row) and the field.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from evsynth.errors import InputError, shown, study_name

if TYPE_CHECKING:  # pandas is imported where used: the CLI's validate needs none of it
    import pandas as pd

# --------------------------------------------------------------------------------------------
# confidence level
# --------------------------------------------------------------------------------------------
LEVEL_EXPECTED = ("a confidence level in percent, 50 <= level < 100 (e.g. 95), or as a "
                  "proportion, 0.5 <= level < 1 (e.g. 0.95)")


def level_percent(level: Any, field: str = "level") -> float:
    """The confidence level in percent (``95`` and ``0.95`` both give ``95.0``).

    Raises :class:`InputError` for anything outside 50 <= level < 100 / 0.5 <= level < 1,
    booleans, strings and non-finite numbers.

    Examples
    --------
    >>> level_percent(0.95), level_percent(90)
    (95.0, 90.0)
    """
    if isinstance(level, (bool, np.bool_)) or not isinstance(level, (int, float, np.number)):
        raise InputError(f"argument '{field}' is {level!r}; expected {LEVEL_EXPECTED}")
    lv = float(level)
    if math.isfinite(lv):
        if 0.5 <= lv < 1:
            return round(100 * lv, 12)
        if 50 <= lv < 100:
            return lv
    raise InputError(f"argument '{field}' is {level!r}; expected {LEVEL_EXPECTED}")


def level_fraction(level: Any, field: str = "level") -> float:
    """The confidence level as a proportion (``95`` -> ``0.95``), checked as
    :func:`level_percent`."""
    return level_percent(level, field) / 100


# --------------------------------------------------------------------------------------------
# yes/no options
# --------------------------------------------------------------------------------------------
def flag(field: str, value: Any) -> bool:
    """A yes/no argument: ``True`` or ``False`` (numpy's too), anything else an
    :class:`InputError` (``"no"``, ``None`` or ``0`` would otherwise be read by truth value:
    ``drop00="no"`` dropped studies).

    Examples
    --------
    >>> flag("drop00", False), flag("correct", np.True_)
    (False, True)
    """
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"argument '{field}' is {value!r}; expected True or False")
    return bool(value)


# --------------------------------------------------------------------------------------------
# method and test codes
# --------------------------------------------------------------------------------------------
#: tau^2 estimators of :func:`evsynth.meta` / :func:`evsynth.meta_batch` (metafor's spellings)
META_METHODS = ("EE", "FE", "CE", "DL", "DLIT", "HE", "HS", "HSk", "SJ", "SJIT", "ML", "REML",
                "EB", "PM", "PMM", "GENQ", "GENQM")
#: extra spellings accepted for the estimators (all matched case-insensitively)
METHOD_ALIASES = {"FIXED": "FE", "COMMON": "CE", "EQUAL": "EE", "DERSIMONIAN-LAIRD": "DL",
                  "PAULE-MANDEL": "PM", "HEDGES": "HE", "SIDIK-JONKMAN": "SJ",
                  "HUNTER-SCHMIDT": "HS", "EMPIRICAL-BAYES": "EB"}
#: test statistics of the fixed effects
TESTS = ("z", "t", "knha", "adhoc")
TEST_ALIASES = {"hksj": "knha", "hk": "knha", "hartung-knapp": "knha", "knapp-hartung": "knha"}
#: pooled-effect measures of :func:`evsynth.meta_mh`
MH_MEASURES = ("OR", "RR", "RD", "IRR", "IRD")


def choice(value: Any, choices: Sequence[str], field: str,
           aliases: Mapping[str, str] | None = None) -> str:
    """``value`` matched case-insensitively against ``choices`` (and ``aliases``); the canonical
    spelling, or an :class:`InputError` listing what is accepted."""
    if isinstance(value, str):
        found = _choice_table(tuple(choices), tuple(aliases.items()) if aliases else ()
                              ).get(value.upper())
        if found is not None:
            return found
    raise InputError(f"argument '{field}' is {value!r}; expected one of {', '.join(choices)} "
                     "(case-insensitive)")


@functools.lru_cache(maxsize=64)
def _choice_table(choices: tuple[str, ...],
                  aliases: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Upper-case spelling -> canonical value for :func:`choice` (built once per set of
    choices: the methods and tests are matched on every fit)."""
    table = {alias.upper(): target for alias, target in reversed(aliases)}
    table.update({c.upper(): c for c in choices})
    return table


def meta_method(method: Any) -> str:
    """A tau^2 estimator code (``"reml"`` -> ``"REML"``; GENQ/GENQM need user weights, which
    the fitting function checks)."""
    return choice(method, META_METHODS, "method", METHOD_ALIASES)


def test_code(test: Any) -> str:
    """A test code (``"Z"`` -> ``"z"``, ``"hksj"`` -> ``"knha"``)."""
    return choice(test, TESTS, "test", TEST_ALIASES)


def mh_measure(measure: Any, field: str = "measure") -> str:
    """A Mantel-Haenszel measure code (``"or"`` -> ``"OR"``)."""
    return choice(measure, MH_MEASURES, field)


# --------------------------------------------------------------------------------------------
# control settings
# --------------------------------------------------------------------------------------------
def control_settings(control: Any, allowed: Mapping[str, type],
                     aliases: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A ``control=`` dict checked against ``allowed`` (key -> type); returns the settings given
    under their canonical names. Unknown keys, non-dicts and values of the wrong type are an
    :class:`InputError` naming the key."""
    if control is None:
        return {}
    if not isinstance(control, Mapping):
        raise InputError(f"argument 'control' is {control!r}; expected a dict of settings "
                         f"({', '.join(sorted(allowed))})")
    aliases = dict(aliases or {})
    out: dict[str, Any] = {}
    for key, value in control.items():
        name = aliases[key] if key in aliases else key
        if name not in allowed:
            known = sorted(set(allowed) | set(aliases))
            raise InputError(f"control: unknown setting {key!r}; expected one of "
                             f"{', '.join(known)}")
        kind = allowed[name]
        if kind is bool:
            if not isinstance(value, (bool, np.bool_)):
                raise InputError(f"control: setting {key!r} is {value!r}; expected True or False")
            out[name] = bool(value)
        elif kind is int:
            if (isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer))
                    or value < 1):
                raise InputError(f"control: setting {key!r} is {value!r}; expected a whole "
                                 "number >= 1")
            out[name] = int(value)
        else:
            if (isinstance(value, (bool, np.bool_))
                    or not isinstance(value, (int, float, np.number))
                    or not math.isfinite(float(value)) or float(value) <= 0):
                raise InputError(f"control: setting {key!r} is {value!r}; expected a positive "
                                 "number")
            out[name] = float(value)
    return out


# --------------------------------------------------------------------------------------------
# data columns, labels and study vectors
# --------------------------------------------------------------------------------------------
def as_frame(data: Any) -> pd.DataFrame | None:
    """``data=`` as a DataFrame (a dict of columns is accepted), or None."""
    if data is None:
        return None
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        try:
            return pd.DataFrame(data)
        except ValueError as exc:
            raise InputError(f"argument 'data': {exc}") from None
    raise InputError(f"argument 'data' is a {type(data).__name__}; expected a pandas DataFrame "
                     "(or a dict of columns)")


def column(field: str, value: Any, data: pd.DataFrame | None) -> Any:
    """An argument given as values, or as the name of a column of the DataFrame ``data``.

    The one home of the ``data=`` convention: a name with no ``data`` or not in it is an
    :class:`InputError` naming the argument and the column.
    """
    if not isinstance(value, str):
        return value
    if data is None:
        raise InputError(f"argument '{field}' is the column name {value!r} but no data= "
                         f"DataFrame was given; pass an array, or data= with a column {value!r}")
    if value not in data.columns:
        raise InputError(f"argument '{field}': column {value!r} is not in data (columns: "
                         f"{', '.join(map(str, data.columns))})")
    return data[value]


def label_vector(field: str, value: Any, data: pd.DataFrame | None) -> np.ndarray:
    """A per-row label argument (values, or a column of ``data``) as a 1-D object array.

    A single value (or string that is not a column) is an :class:`InputError`: one value per
    row is expected. Tuples in a list stay whole labels.
    """
    raw = column(field, value, data)
    if isinstance(raw, (str, bytes)) or np.ndim(raw) == 0:
        raise InputError(f"argument '{field}' is {raw!r}; expected one value per row (or a "
                         "column name with data=)")
    if isinstance(raw, np.ndarray):
        return raw.ravel()
    if isinstance(raw, (list, tuple)):  # element by element: tuples are labels too
        return np.fromiter(raw, dtype=object, count=len(raw))
    return np.asarray(raw, dtype=object).ravel()  # Series, Categorical, ...


def study_labels(slab: Any, data: pd.DataFrame | None, k: int) -> list[Any] | None:
    """Study labels from ``slab`` (a sequence, or a column name of ``data``), or None.

    The one label helper: the number of labels must be ``k`` and none may be missing.
    """
    if slab is None:
        return None
    values = column("slab", slab, data)
    if isinstance(values, (str, bytes)) or np.ndim(values) == 0:
        values = [values]
    labels = list(values)
    if len(labels) != k:
        raise InputError(f"argument 'slab' has {len(labels)} labels but there are {k} studies")
    for i, lab in enumerate(labels):
        if lab is None or (isinstance(lab, float) and math.isnan(lab)):
            raise InputError(f"study in row {i + 1}: field 'slab' is missing; expected a study "
                             "label")
    return [lab.item() if isinstance(lab, np.generic) else lab for lab in labels]


#: the largest whole number a double holds exactly (2^53): no count or group size may be
#: larger, since the analyses hold them as floating-point numbers
MAX_COUNT = 2**53


def _is_na(val: Any) -> bool:
    """``pd.NA`` or ``pd.NaT`` (pandas only consulted when it is loaded: no pandas value can
    exist otherwise)."""
    import sys

    pd_mod = sys.modules.get("pandas")
    return pd_mod is not None and (val is pd_mod.NA or val is pd_mod.NaT)


def as_array(field: str, values: Any, labels: Sequence[Any] | None = None) -> np.ndarray:
    """``np.asarray(values)``, with values that do not form an array (a list among numbers)
    an :class:`InputError` naming the study and the field instead of numpy's ValueError."""
    try:
        return np.asarray(values)
    except (ValueError, TypeError):
        if isinstance(values, (list, tuple)):
            i = next((j for j, x in enumerate(values) if isinstance(x, (list, tuple, dict, set))
                      or np.ndim(x) != 0), 0)
            raise InputError(f"{study_name(i, labels)}: field '{field}' is {shown(values[i])}; "
                             "expected one number per study") from None
        raise InputError(f"argument '{field}' is {shown(values)}; expected one number per "
                         "study (a 1-D sequence)") from None


def numeric_vector(field: str, value: Any, data: pd.DataFrame | None = None, *,
                   labels: Sequence[Any] | None = None, allow_missing: bool = False
                   ) -> np.ndarray:
    """A per-study argument (values, or a column of ``data``) as a 1-D float array.

    Booleans, strings that are not numbers and (unless ``allow_missing``) NaN or infinite
    values are an :class:`InputError` naming the first study at fault and the field.
    """
    raw = column(field, value, data)
    if isinstance(raw, (list, tuple)) and any(isinstance(x, (bool, np.bool_)) for x in raw):
        i = next(j for j, x in enumerate(raw) if isinstance(x, (bool, np.bool_)))
        raise InputError(f"{study_name(i, labels)}: field '{field}' is {shown(raw[i])}; expected a "
                         "number (booleans are not numbers here)")
    arr = as_array(field, raw, labels)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise InputError(f"argument '{field}' has shape {arr.shape}; expected one value per "
                         "study (a 1-D sequence)")
    if arr.dtype.kind == "c":  # complex numbers: name the first one the user gave as complex
        given = list(raw) if isinstance(raw, (list, tuple)) else list(arr)
        i = next((j for j, x in enumerate(given)
                  if isinstance(x, (complex, np.complexfloating))), 0)
        raise InputError(f"{study_name(i, labels)}: field '{field}' is {shown(given[i])}; "
                         "expected a real number")
    if arr.dtype == bool:
        raise InputError(f"{study_name(0, labels)}: field '{field}' is {bool(arr[0])!r}; "
                         "expected a number (booleans are not numbers here)")
    if arr.dtype.kind in "iuf":
        out = arr.astype(float)
    else:
        out = np.empty(arr.size)
        for i, val in enumerate(arr):
            if isinstance(val, np.generic):
                val = val.item()
            if isinstance(val, bool):
                raise InputError(f"{study_name(i, labels)}: field '{field}' is {val!r}; "
                                 "expected a number (booleans are not numbers here)")
            if val is None or _is_na(val):
                out[i] = np.nan
                continue
            try:
                if isinstance(val, str) and "_" in val:
                    # float() reads "1_0" as 10: a digit separator no spreadsheet or
                    # statistics package accepts in a number, so a typing slip, not a value
                    raise ValueError(val)
                out[i] = float(val)
            except (TypeError, ValueError):
                raise InputError(f"{study_name(i, labels)}: field '{field}' is {val!r}; "
                                 "expected a number") from None
    if not allow_missing:
        bad = np.flatnonzero(~np.isfinite(out))
        if bad.size:
            i = int(bad[0])
            raise InputError(f"{study_name(i, labels)}: field '{field}' is {shown(out[i])}; "
                             "expected a finite number")
    return out
