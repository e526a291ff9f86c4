"""Plain-language key results, written from a Summary of Findings row.

A between-group result is reported as a difference *between the groups*, never as a change over
time: "Pain was 0.7 points lower (0.3 to 1.2 lower) with vertebroplasty than with placebo, 7% of
the 0 to 10 scale." Binary outcomes: "With vertebroplasty, 184 per 1,000 people (138 to 246) had
new vertebral fractures, versus 230 per 1,000 with usual care: 46 fewer per 1,000 (92 fewer to
16 more); risk ratio 0.80 (0.60 to 1.07)." The lead sentence carries the certainty of the
evidence in the words of GRADE guidelines 26 (Santesso et al. 2020): high "reduces", moderate
"probably reduces", low "may reduce", very low "We are very uncertain whether ...", and
"results in little to no difference in" when the effect is trivial (see
:mod:`evsynth.summaries.wording`). Numbers of 1,000 and more have digit grouping.

References
----------
.. [1] Santesso N, Glenton C, Dahm P, et al. (2020). GRADE guidelines 26: informative
       statements to communicate the findings of systematic reviews of interventions. *J Clin
       Epidemiol* 119:126-135. doi:10.1016/j.jclinepi.2019.10.014
.. [2] Cochrane Handbook for Systematic Reviews of Interventions v6.4, chapter 14 (Summary of
       findings) and chapter 15.6 (plain language: differences between groups).

Examples
--------
>>> from evsynth.summaries.plain_language import difference_sentence
>>> row = {"kind": "continuous", "measure": "MD",
...        "points": {"estimate": -0.7, "ci_lb": -1.2, "ci_ub": -0.3, "decimals": 1},
...        "percent_of_scale": {"estimate": -7.0, "decimals": 0, "scale_min": 0,
...                             "scale_max": 10}}
>>> a = {"comparison": {"intervention": "Vertebroplasty", "control": "Placebo"},
...      "outcome": {"label": "Pain"}}
>>> import textwrap
>>> print(textwrap.fill(difference_sentence(a, row), 80))
Pain was 0.7 points lower (0.3 to 1.2 lower) with vertebroplasty than with
placebo, 7% of the 0 to 10 scale.
"""

from __future__ import annotations

import math

from evsynth.errors import InputError
from evsynth.summaries.grade import (
    LEVELS,
    analysis_name,
    interval_facts,
    null_value,
    pooled,
    thresholds,
)
from evsynth.summaries.wording import (
    certainty_statement,
    difference_words,
    format_ratio,
    group_digits,
)

__all__ = ["certainty_lead", "difference_sentence", "effect_kind", "key_result", "lower_first",
           "upper_first"]


def lower_first(text: str) -> str:
    """Lower-case the first letter unless the first word looks like an acronym (``OPM``)."""
    if len(text) > 1 and text[0].isupper() and not (text[1].isupper() or text[1].isdigit()):
        return text[0].lower() + text[1:]
    return text


def upper_first(text: str) -> str:
    """Upper-case the first letter."""
    return text[:1].upper() + text[1:]


def _names(analysis: dict) -> tuple[str, str, str]:
    c = analysis.get("comparison") or {}
    o = analysis.get("outcome") or {}
    return (lower_first(str(c.get("intervention") or "the intervention")),
            lower_first(str(c.get("control") or "the control")),
            str(o.get("label") or o.get("id") or "the outcome"))


def _assessed(level: object) -> bool:
    """Whether ``level`` is a GRADE certainty level (else certainty was not assessed)."""
    return level in {lv for lv, _, _ in LEVELS.values()}


def effect_kind(analysis: dict) -> str:
    """``"reduction"``, ``"increase"`` (of the outcome) or ``"none"`` (little to no difference).

    With a threshold of importance (the MID, or GRADE's RR 0.75/1.25 for ratios) an estimate
    inside it is "none" (GRADE 26); without one, an interval that includes no effect is.

    Parameters
    ----------
    analysis : dict
        An analysis of results.json (with ``pooled``).

    Returns
    -------
    str

    Examples
    --------
    >>> a = {"id": "x", "k": 2, "measure": "MD", "outcome": {"mid": 1.5},
    ...      "pooled": {"estimate": -2.0, "ci_lb": -2.6, "ci_ub": -1.4}}
    >>> effect_kind(a)
    'reduction'
    """
    p = pooled(analysis)
    if p is None:
        raise InputError(f"{analysis_name(analysis)}: no pooled result; expected k >= 1")
    est = float(p["estimate"])
    th = thresholds(analysis)
    if th is not None:
        lo, hi = sorted((th["benefit"], th["harm"]))
        small = lo < est < hi
    else:
        small = bool(interval_facts(analysis, float(p["ci_lb"]),
                                    float(p["ci_ub"]))["includes_null"])
    if small:
        return "none"
    return "reduction" if est < null_value(analysis) else "increase"


def certainty_lead(analysis: dict, sof_row: dict) -> str:
    """The GRADE 26 statement for the analysis ("Vertebroplasty probably reduces pain compared
    with placebo."); "" when the certainty was not assessed or no study contributed.

    Parameters
    ----------
    analysis : dict
        The analysis (results.json).
    sof_row : dict
        Its row from :func:`evsynth.summaries.sof.sof_row`.

    Returns
    -------
    str

    Examples
    --------
    >>> a = {"id": "x", "k": 2, "measure": "MD", "outcome": {"label": "Pain", "mid": 1.5},
    ...      "comparison": {"intervention": "Vertebroplasty", "control": "Placebo"},
    ...      "pooled": {"estimate": -0.7, "ci_lb": -1.2, "ci_ub": -0.3}}
    >>> certainty_lead(a, {"kind": "continuous", "certainty": {"level": "low"}})
    'Vertebroplasty may result in little to no difference in pain compared with placebo.'
    """
    level = (sof_row.get("certainty") or {}).get("level")
    if pooled(analysis) is None or not _assessed(level):
        return ""
    intervention, control, label = _names(analysis)
    outcome = lower_first(label)
    if sof_row.get("kind") == "binary":
        outcome = f"the risk of {outcome}"
    return certainty_statement(level, intervention, control, outcome, effect_kind(analysis))


def _scale_text(pct: dict) -> str:
    smin, smax = (group_digits(float(pct[k]), 3) for k in ("scale_min", "scale_max"))
    return f"the {smin} to {smax} scale"


def _continuous(analysis: dict, row: dict) -> list[str]:
    intervention, control, label = _names(analysis)
    out: list[str] = []
    pts, pct, smd = row.get("points"), row.get("percent_of_scale"), row.get("smd")
    between = f"with {intervention} than with {control}"
    change = " (difference in change from baseline)" if row.get("measure") in (
        "MD_CHANGE", "SMD_CHANGE") else ""
    if smd:
        w = difference_words(smd["estimate"], smd["ci_lb"], smd["ci_ub"], 2,
                             "standard deviations")
        out.append(f"{upper_first(label)} was {w} {between}{change} (standardised mean "
                   "difference).")
    if pts:
        w = difference_words(pts["estimate"], pts["ci_lb"], pts["ci_ub"], pts["decimals"],
                             "points")
        if smd:
            scale = f" on {_scale_text(pct)}" if pct else ""
            out.append(f"This is about {w}{scale}, using the control group's standard "
                       "deviation.")
        else:
            tail = ""
            if pct:
                share = group_digits(abs(pct["estimate"]), pct["decimals"])
                tail = f", {share}% of {_scale_text(pct)}"
            out.append(f"{upper_first(label)} was {w} {between}{change}{tail}.")
    iv, cv = row.get("intervention"), row.get("control")
    if iv and cv and "value" in iv and "value" in cv:
        dec = iv["decimals"]
        about = "about " if iv.get("approximate") else ""
        ivt = group_digits(iv["value"], dec)
        ci = ""
        if iv.get("ci_lb") is not None and iv.get("ci_ub") is not None:
            ci = f" ({group_digits(iv['ci_lb'], dec)} to {group_digits(iv['ci_ub'], dec)})"
        cvt = group_digits(cv["value"], dec)
        unit_c = "point" if cvt == "1" else "points"
        unit_i = "point" if ivt == "1" else "points"
        out.append(f"The mean {lower_first(label)} score was {cvt} {unit_c} with {control} and "
                   f"{about}{ivt} {unit_i}{ci} with {intervention}.")
    return out


def _ratio_text(row: dict) -> str:
    r = row.get("relative")
    if not r:
        return ""
    return (f"{row['measure_name']} {format_ratio(r['estimate'])} ({format_ratio(r['ci_lb'])} "
            f"to {format_ratio(r['ci_ub'])})")


def _binary(analysis: dict, row: dict) -> list[str]:
    intervention, control, label = _names(analysis)
    outcome = lower_first(label)
    iv, cv, ab = row.get("intervention"), row.get("control"), row.get("absolute")
    ratio = _ratio_text(row)
    if iv and cv and ab:
        diff = difference_words(ab["difference_per_1000"], ab["ci_lb"], ab["ci_ub"], 0,
                                "per 1,000", "more", "fewer")
        ivt = group_digits(iv["per_1000"])
        ci = f"({group_digits(iv['ci_lb'])} to {group_digits(iv['ci_ub'])})"
        return [f"With {intervention}, {ivt} per 1,000 people {ci} had {outcome}, versus "
                f"{group_digits(cv['per_1000'])} per 1,000 with {control}: {diff}"
                + (f"; {ratio}." if ratio else ".")]
    if ratio:
        return [f"{upper_first(ratio)} for {outcome} with {intervention} versus {control}; "
                "the risk without the intervention is unknown, so the effect is not shown per "
                "1,000 people."]
    if row.get("measure") == "IRD":  # a rate difference, per unit of person-time as entered
        p = pooled(analysis)
        if p is None:
            return []
        v = [float(p[k]) for k in ("estimate", "ci_lb", "ci_ub")]
        top = max(abs(x) for x in v)
        dec = 2 if top == 0 else max(0, 2 - math.floor(math.log10(top)))  # 3 significant
        diff = difference_words(v[0], v[1], v[2], dec, "per unit of person-time",
                                "more", "fewer")
        return [f"With {intervention}, the rate of {outcome} was {diff} than with {control} "
                "(events per unit of person-time as entered)."]
    r = row.get("rd_per_1000")
    if r is None and row.get("measure") == "RD":
        p = pooled(analysis)
        if p is not None:
            r = [1000 * float(p[k]) for k in ("estimate", "ci_lb", "ci_ub")]
    if r:
        diff = difference_words(r[0], r[1], r[2], 0, "per 1,000 people", "more", "fewer")
        return [f"With {intervention}, {diff} had {outcome} than with {control}."]
    return []


def difference_sentence(analysis: dict, sof_row: dict) -> str:
    """The numbers of the key result as a difference between the groups.

    Continuous: the mean difference in points with its CI and as a percentage of the scale
    range, then the mean in each group; SMD with its re-expression in points. Binary: risks
    per 1,000 in each group, the difference per 1,000 and the risk or odds ratio.

    Parameters
    ----------
    analysis : dict
        The analysis (results.json).
    sof_row : dict
        Its row from :func:`evsynth.summaries.sof.sof_row`.

    Returns
    -------
    str

    Examples
    --------
    >>> row = {"kind": "binary", "measure": "RR", "measure_name": "risk ratio",
    ...        "relative": {"estimate": 0.8, "ci_lb": 0.6, "ci_ub": 1.07},
    ...        "intervention": {"per_1000": 184, "ci_lb": 138, "ci_ub": 246},
    ...        "control": {"per_1000": 230},
    ...        "absolute": {"difference_per_1000": -46, "ci_lb": -92, "ci_ub": 16}}
    >>> a = {"comparison": {"intervention": "Vertebroplasty", "control": "Usual care"},
    ...      "outcome": {"label": "New vertebral fractures"}}
    >>> import textwrap
    >>> print(textwrap.fill(difference_sentence(a, row), 80))
    With vertebroplasty, 184 per 1,000 people (138 to 246) had new vertebral
    fractures, versus 230 per 1,000 with usual care: 46 fewer per 1,000 (92 fewer to
    16 more); risk ratio 0.80 (0.60 to 1.07).
    """
    parts = (_continuous(analysis, sof_row) if sof_row.get("kind") == "continuous"
             else _binary(analysis, sof_row))
    return " ".join(parts)


def key_result(analysis: dict, sof_row: dict) -> str:
    """The plain-language key result of one analysis, written from its SoF row.

    The certainty statement of GRADE 26 (:func:`certainty_lead`; omitted when certainty was
    not assessed, which is then said at the end), then the numbers as a difference between
    the groups (:func:`difference_sentence`). k = 0: "No trial reported ... in a form we could
    pool".

    Parameters
    ----------
    analysis : dict
        The analysis (results.json).
    sof_row : dict
        Its row from :func:`evsynth.summaries.sof.sof_row`.

    Returns
    -------
    str
    """
    if not isinstance(sof_row, dict) or "kind" not in sof_row:
        raise InputError(f"{analysis_name(analysis)}: sof_row is not a row of "
                         "evsynth.summaries.sof.sof_row")
    intervention, control, label = _names(analysis)
    if pooled(analysis) is None:
        window = (analysis.get("window") or {}).get("label")
        when = ("" if not window else f" ({window})" if "(" not in window
                else f", {lower_first(window)},")
        excluded = [e for e in analysis.get("excluded") or [] if isinstance(e, dict)]
        trials = len({e.get("study_id") for e in excluded})
        if not trials:
            return (f"No trial reported {lower_first(label)}{when} for {intervention} compared "
                    f"with {control} in a form we could pool.")
        which = ("The trial that reported" if trials == 1
                 else f"The {trials} trials that reported")
        if all("no events" in str(e.get("reason")) for e in excluded):
            # double-zero trials: reported, but no estimate of a ratio (Handbook 10.4.4.2)
            return (f"{which} {lower_first(label)}{when} for {intervention} compared with "
                    f"{control} had no events in either group; such trials give no estimate of "
                    "a relative effect, so none was pooled.")
        return (f"{which} {lower_first(label)}{when} for {intervention} compared with "
                f"{control} did not report it in a form we could pool.")
    level = (sof_row.get("certainty") or {}).get("level")
    parts = [certainty_lead(analysis, sof_row), difference_sentence(analysis, sof_row)]
    if not _assessed(level):
        parts.append("The certainty of the evidence was not assessed.")
    return " ".join(p for p in parts if p)
