"""Arm-level data to the pairwise comparisons of a network meta-analysis (netmeta's
``pairwise()``): every pair of arms within a study becomes one comparison, with its effect size
computed by :func:`evsynth.effect_size`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evsynth.errors import InputError, nonnegative_number, shown
from evsynth.validation import as_frame, choice, label_vector, numeric_vector

#: measure -> (arm fields it needs, effect_size keywords for arm 1 and arm 2)
_ARM_FIELDS: dict[str, tuple[tuple[str, ...], dict[str, str], dict[str, str]]] = {
    "OR": (("event", "n"), {"ai": "event", "n1i": "n"}, {"ci": "event", "n2i": "n"}),
    "RR": (("event", "n"), {"ai": "event", "n1i": "n"}, {"ci": "event", "n2i": "n"}),
    "RD": (("event", "n"), {"ai": "event", "n1i": "n"}, {"ci": "event", "n2i": "n"}),
    "MD": (("mean", "sd", "n"), {"m1i": "mean", "sd1i": "sd", "n1i": "n"},
           {"m2i": "mean", "sd2i": "sd", "n2i": "n"}),
    "SMD": (("mean", "sd", "n"), {"m1i": "mean", "sd1i": "sd", "n1i": "n"},
            {"m2i": "mean", "sd2i": "sd", "n2i": "n"}),
    "ROM": (("mean", "sd", "n"), {"m1i": "mean", "sd1i": "sd", "n1i": "n"},
            {"m2i": "mean", "sd2i": "sd", "n2i": "n"}),
    "IRR": (("event", "time"), {"x1i": "event", "t1i": "time"}, {"x2i": "event", "t2i": "time"}),
    "IRD": (("event", "time"), {"x1i": "event", "t1i": "time"}, {"x2i": "event", "t2i": "time"}),
    "GEN": (("TE", "seTE"), {}, {}),
}

#: measures for which a zero cell in any arm adds ``incr`` to every arm of the study
_ZERO_CORRECTED = ("OR", "RR", "IRR")
#: measures whose estimate comes from the data as they are and whose standard error from the
#: corrected cells of such a study (meta's metabin/metainc, which netmeta's pairwise calls:
#: Cooper & Hedges 1994 for RD)
_SE_CORRECTED = ("RD", "IRD")


def pairwise(measure: str, *, treat: Any, studlab: Any, data: Any = None, event: Any = None,
             n: Any = None, mean: Any = None, sd: Any = None, time: Any = None, TE: Any = None,
             seTE: Any = None, incr: float = 0.5) -> pd.DataFrame:
    """Every pair of arms within each study as one comparison (netmeta ``pairwise``).

    Parameters
    ----------
    measure : {"OR", "RR", "RD", "MD", "SMD", "ROM", "IRR", "IRD", "GEN"}
        Effect measure. ``GEN`` takes an arm-level estimate ``TE`` with its standard error
        ``seTE`` (e.g. a log odds per arm); the comparison is ``TE1 - TE2`` with
        ``seTE = sqrt(seTE1^2 + seTE2^2)``.
    treat, studlab : treatment and study of each arm (values or columns of ``data``); one row
        per arm (long format).
    data : DataFrame (or dict of columns) that the string arguments name.
    event, n, mean, sd, time, TE, seTE : arm-level data as the measure needs: events and
        participants (OR, RR, RD), means, SDs and participants (MD, SMD, ROM), events and
        person-time (IRR, IRD).
    incr : continuity correction (>= 0): where any arm of a study has zero events (or, for
        OR, RR and RD, only events), ``incr`` is added to the events (and non-events) of
        **every** arm of the study, so that the study's comparisons stay consistent (netmeta's
        default). OR, RR and IRR are computed from the corrected cells; RD and IRD take their
        estimate from the data as they are and only their standard error from the corrected
        cells (meta's ``metabin``/``metainc``, which netmeta calls; a double-zero study has
        RD = 0 with a positive SE). Studies with zero events (or only events) in all arms carry
        no information on the ratio measures and are left out, as netmeta does; the result's
        ``attrs["dropped"]`` names them.

    Returns
    -------
    pandas.DataFrame
        One row per comparison: ``studlab, treat1, treat2, TE, seTE`` (TE = treat1 versus
        treat2, arms in data order within a study) and the arm data (``event1, n1, event2,
        n2``, ``mean1, sd1, ...``), ready for :func:`evsynth.netmeta`.

    References
    ----------
    Balduzzi S, Rücker G, Nikolakopoulou A, et al. (2023). netmeta: an R package for network
    meta-analysis using frequentist methods. J Stat Softw 106(2):1-40.
    doi:10.18637/jss.v106.i02 (function ``pairwise``)
    Higgins JPT, et al. (eds). Cochrane Handbook for Systematic Reviews of Interventions v6.4,
    sections 6.4.1 and 10.4.4.2 (continuity corrections for zero cells).

    Examples
    --------
    >>> import evsynth
    >>> arms = {"study": ["s1", "s1", "s1", "s2", "s2"], "treat": ["A", "B", "C", "A", "B"],
    ...         "r": [10, 15, 12, 8, 11], "n": [50, 50, 50, 40, 40]}
    >>> pw = evsynth.pairwise("OR", treat="treat", event="r", n="n", studlab="study",
    ...                       data=arms)
    >>> pw[["studlab", "treat1", "treat2"]].values.tolist()
    [['s1', 'A', 'B'], ['s1', 'A', 'C'], ['s1', 'B', 'C'], ['s2', 'A', 'B']]
    """
    from evsynth.effects.escalc import effect_size

    measure = choice(measure, tuple(_ARM_FIELDS), "measure")
    frame = as_frame(data) if data is not None else None
    if frame is None and isinstance(data, dict):  # pragma: no cover - as_frame handles dicts
        frame = pd.DataFrame(data)
    treats = label_vector("treat", treat, frame)
    studies = label_vector("studlab", studlab, frame)
    if len(treats) != len(studies):
        raise InputError(f"arguments 'treat' ({len(treats)} values) and 'studlab' "
                         f"({len(studies)}) must have one value per arm")
    for field, values in (("studlab", studies), ("treat", treats)):
        for i, val in enumerate(values):
            if val is None or (isinstance(val, float) and val != val) or pd.isna(val) is True:
                raise InputError(f"arm in row {i + 1}: field '{field}' is missing; expected "
                                 f"a {'study label' if field == 'studlab' else 'treatment'}")
    incr_f = nonnegative_number("incr", incr)
    given = {"event": event, "n": n, "mean": mean, "sd": sd, "time": time, "TE": TE,
             "seTE": seTE}
    needed, _, _ = _ARM_FIELDS[measure]
    arm: dict[str, np.ndarray] = {}
    labels = [f"{s} ({t})" for s, t in zip(studies, treats, strict=True)]
    for field in needed:
        if given[field] is None:
            raise InputError(f"pairwise(measure={measure!r}) needs the arm-level field "
                             f"'{field}' (arm data: {', '.join(needed)})")
        arm[field] = numeric_vector(field, given[field], frame, labels=labels)
        if len(arm[field]) != len(treats):
            raise InputError(f"argument '{field}' has {len(arm[field])} values; expected one "
                             f"per arm ({len(treats)})")
    for field, value in given.items():  # extra arm data that is given is carried along
        if value is not None and field not in arm:
            arm[field] = numeric_vector(field, value, frame, labels=labels, allow_missing=True)
    _check_arms(measure, arm, studies, treats)

    # the pairs of arms within each study, in data order
    order: dict[Any, list[int]] = {}
    for idx, s in enumerate(studies):
        order.setdefault(s, []).append(idx)
    first: list[int] = []
    second: list[int] = []
    dropped: list[str] = []
    for s, rows in order.items():
        if len(rows) < 2:
            dropped.append(f"{s} (one arm)")
            continue
        seen = [str(treats[r]) for r in rows]  # 1 and "1" name one treatment in the output
        if len(set(seen)) != len(seen):
            raise InputError(f"study {s!r}: treatment {_first_repeat(seen)!r} appears in two "
                             "arms; merge the arms or give them distinct treatment names")
        if measure in _ZERO_CORRECTED + ("RD",):
            ev = arm["event"][rows]
            tot = arm["n" if measure != "IRR" else "time"][rows]
            all_zero = np.all(ev == 0) or (measure != "IRR" and np.all(ev == tot))
            if all_zero and measure != "RD":
                dropped.append(f"{s} (no events{'' if measure == 'IRR' else ' or only events'}"
                               " in every arm)")
                continue
        for a in range(len(rows)):
            for b in range(a + 1, len(rows)):
                first.append(rows[a])
                second.append(rows[b])
    i1 = np.asarray(first, dtype=int)
    i2 = np.asarray(second, dtype=int)
    out = pd.DataFrame({"studlab": studies[i1], "treat1": treats[i1], "treat2": treats[i2]})
    if measure == "GEN":
        te = arm["TE"][i1] - arm["TE"][i2]
        se = np.sqrt(arm["seTE"][i1] ** 2 + arm["seTE"][i2] ** 2)
    else:
        _, kw1, kw2 = _ARM_FIELDS[measure]

        def sizes(cols: dict[str, np.ndarray]) -> pd.DataFrame:
            kwargs: dict[str, Any] = {key: cols[f][i1] for key, f in kw1.items()}
            kwargs.update({key: cols[f][i2] for key, f in kw2.items()})
            if measure in _ZERO_CORRECTED + _SE_CORRECTED:  # zeros are corrected here
                kwargs["to"] = "none"
            return effect_size(measure, **kwargs)

        cols = {k: v.astype(float).copy() for k, v in arm.items()}
        if measure in _ZERO_CORRECTED + _SE_CORRECTED:
            corrected = {k: v.copy() for k, v in cols.items()}
            _add_increment(corrected, studies, measure, incr_f)
            es = sizes(corrected)
            te = (sizes(cols) if measure in _SE_CORRECTED else es)["yi"].to_numpy()
        else:
            es = sizes(cols)
            te = es["yi"].to_numpy()
        se = np.sqrt(es["vi"].to_numpy())
    out["TE"] = te
    out["seTE"] = se
    for field, values in arm.items():
        if field in ("TE", "seTE"):
            continue
        out[f"{field}1"] = values[i1]
        out[f"{field}2"] = values[i2]
    bad = ~(np.isfinite(out["TE"]) & np.isfinite(out["seTE"]) & (out["seTE"] > 0))
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise InputError(f"study {out['studlab'].iat[r]!r}: the comparison "
                         f"{out['treat1'].iat[r]!r} vs {out['treat2'].iat[r]!r} has no finite "
                         f"{measure} with a positive standard error; check its arm data")
    out.attrs["measure"] = measure
    out.attrs["dropped"] = dropped
    return out


def _first_repeat(values: list[Any]) -> Any:
    seen: set[Any] = set()
    for v in values:
        if v in seen:
            return v
        seen.add(v)
    return None  # pragma: no cover


def _add_increment(cols: dict[str, np.ndarray], studies: np.ndarray, measure: str,
                   incr: float) -> None:
    """Add ``incr`` to every arm of a study with a zero cell in any arm (in place; the
    arrays are copies of the user's data)."""
    ev = cols["event"]
    rates = measure in ("IRR", "IRD")  # events over person-time: no non-events
    if rates:
        zero = ev == 0
    else:
        zero = (ev == 0) | (ev == cols["n"])
    flagged = set(studies[zero].tolist())
    if not flagged:
        return
    rows = np.fromiter((s in flagged for s in studies), dtype=bool, count=len(studies))
    ev[rows] += incr
    if not rates:
        cols["n"][rows] += 2 * incr


def _check_arms(measure: str, arm: dict[str, np.ndarray], studies: np.ndarray,
                treats: np.ndarray) -> None:
    """The arm data a measure needs, checked arm by arm before any pair is formed: an
    InputError names the study, treatment and row of the arm, the field as the user gave it
    and what was expected (not a comparison row with effect_size's field names and corrected
    values)."""
    def fail(i: int, field: str, what: str) -> None:
        raise InputError(f"study {studies[i]!r}, treatment {treats[i]!r} (arm in row {i + 1}): "
                         f"field '{field}' is {shown(arm[field][i])}; expected {what}")

    # counts need not be whole (an effective sample size, Cochrane Handbook 23.1.4)
    checks: list[tuple[str, Any, str]] = []
    if "n" in arm and measure in ("OR", "RR", "RD", "MD", "SMD", "ROM"):
        checks.append(("n", ~(arm["n"] > 0), "a number of participants > 0"))
    if "event" in arm and measure in ("OR", "RR", "RD", "IRR", "IRD"):
        ev = arm["event"]
        checks.append(("event", ev < 0, "a number of events >= 0"))
        if "n" in arm and measure in ("OR", "RR", "RD"):
            checks.append(("event", ev > arm["n"], "at most n events (one per participant)"))
    if "sd" in arm and measure in ("MD", "SMD", "ROM"):
        checks.append(("sd", ~(arm["sd"] > 0), "a standard deviation > 0"))
    if "mean" in arm and measure == "ROM":
        checks.append(("mean", ~(arm["mean"] > 0), "a mean > 0 (ratio of means)"))
    if "time" in arm and measure in ("IRR", "IRD"):
        checks.append(("time", ~(arm["time"] > 0), "a person-time > 0"))
    if "seTE" in arm and measure == "GEN":
        checks.append(("seTE", ~(arm["seTE"] > 0), "a standard error > 0"))
    bad = [(int(np.flatnonzero(mask)[0]), field, what) for field, mask, what in checks
           if np.any(mask)]
    if bad:
        i, field, what = min(bad, key=lambda b: b[0])
        fail(i, field, what)
