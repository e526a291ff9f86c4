"""Plain-language key results, written from a Summary of Findings row.

The wording follows the Cochrane plain language summaries (e.g. CD006349, 2018: "Pain improved by
7% (3% better to 12% better), or 0.7 points (0.3 better to 1.2 better) on a 0 to 10-point scale.
People who had vertebroplasty rated their pain as 4.3 points; people who had placebo, 5 points.")
and the certainty-dependent statements of GRADE (Santesso et al. 2020, GRADE guidelines 26,
J Clin Epidemiol 119:126; Cochrane "How to write a plain language summary"): high certainty
"results in", moderate "probably results in", low "may result in", very low "the evidence is very
uncertain about the effect".
"""

from __future__ import annotations

from typing import Any

from evsynth.errors import InputError
from evsynth.summaries.grade import analysis_name, interval_facts, pooled, thresholds
from evsynth.summaries.sof import benefit_interval, format_number, magnitude_words, points_word

HEDGES = {"high": "results in", "moderate": "probably results in", "low": "may result in"}


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


def _effect_phrase(analysis: dict, row: dict, outcome: str) -> str:
    """"little or no difference in pain", "an improvement in pain", "a reduction in fractures".

    With a threshold of importance (MID, or RR 0.75/1.25 for ratios) an estimate inside it is
    "little or no difference" (GRADE 26); without one, a CI including no effect is.
    """
    p = pooled(analysis)
    assert p is not None
    est = float(p["estimate"])
    th = thresholds(analysis)
    if th is not None:
        lo, hi = sorted((th["benefit"], th["harm"]))
        small = lo < est < hi
    else:
        small = interval_facts(analysis, float(p["ci_lb"]), float(p["ci_ub"]))["includes_null"]
    if small:
        return f"little or no difference in {outcome}"
    if row["kind"] == "binary":
        null = 1.0 if row["measure"] in ("OR", "RR") and not analysis.get("log_scale") else 0.0
        return f"{'a reduction' if est < null else 'an increase'} in {outcome}"
    low_better = (analysis.get("outcome") or {}).get("direction") != "higher_is_better"
    better = (est < 0) == low_better
    return f"{'an improvement' if better else 'a worsening'} in {outcome}"


def _lead(analysis: dict, row: dict, grade_level: str | None) -> str:
    intervention, control, label = _names(analysis)
    outcome = lower_first(label)
    if grade_level == "very low":
        return (f"The evidence is very uncertain about the effect of {intervention} on "
                f"{outcome} compared with {control}.")
    if grade_level in HEDGES:
        return (f"Compared with {control}, {intervention} {HEDGES[grade_level]} "
                f"{_effect_phrase(analysis, row, outcome)}.")
    return ""


def _continuous(analysis: dict, row: dict) -> list[str]:
    intervention, control, label = _names(analysis)
    out = []
    pts, pct = row.get("points"), row.get("percent_of_scale")
    if row.get("smd"):
        s = row["smd"]
        low_better = (analysis.get("outcome") or {}).get("direction") != "higher_is_better"
        b = benefit_interval(s["estimate"], s["ci_lb"], s["ci_ub"], low_better)
        mag, ci = magnitude_words(*b, 2)
        verb = "improved" if b[0] > 0 else "worsened" if b[0] < 0 else "changed"
        out.append(f"{upper_first(label)} {verb} by {mag} standard deviations ({ci}; "
                   "standardised mean difference).")
    if pts:
        b = pts["benefit"]
        est, lb, ub = b["estimate"], b["ci_lb"], b["ci_ub"]
        mag, ci = magnitude_words(est, lb, ub, pts["decimals"])
        verb = "improved" if est > 0 else "worsened" if est < 0 else "changed"
        if format_number(abs(est), pts["decimals"]) == "0":
            verb = "changed"
        scale = ""
        if pct:
            smin, smax = (format_number(pct[k], 3) for k in ("scale_min", "scale_max"))
            scale = f" on a {smin} to {smax}-point scale"
        if row.get("smd"):
            out.append(f"This is about {mag} {points_word(mag)} ({ci}){scale}, using the control "
                       "group's "
                       "standard deviation.")
        elif pct:
            pb = pct["benefit"]
            pmag, pci = magnitude_words(pb["estimate"], pb["ci_lb"], pb["ci_ub"],
                                        pct["decimals"], suffix="%")
            out.append(f"{upper_first(label)} {verb} by {pmag} ({pci}), or {mag} "
                       f"{points_word(mag)} ({ci}){scale}.")
        else:
            out.append(f"{upper_first(label)} {verb} by {mag} {points_word(mag)} ({ci}).")
    iv, cv = row.get("intervention"), row.get("control")
    if iv and cv and "value" in iv:
        dec = iv["decimals"]
        about = "about " if iv.get("approximate") else ""
        ivt, cvt = format_number(iv["value"], dec), format_number(cv["value"], dec)
        out.append(f"People who had {intervention} rated their {lower_first(label)} as {about}"
                   f"{ivt} {points_word(ivt)}; people who had {control}, {cvt} "
                   f"{points_word(cvt)}.")
    return out


def _binary(analysis: dict, row: dict) -> list[str]:
    intervention, control, label = _names(analysis)
    outcome = lower_first(label)
    iv, cv, ab = row.get("intervention"), row.get("control"), row.get("absolute")
    if iv and cv and ab:
        diff = row["difference_text"].replace(" per 1000 (", " per 1000; ", 1).rstrip(")")
        return [f"{iv['per_1000']} per 1000 people who had {intervention} had {outcome} "
                f"({iv['ci_lb']} to {iv['ci_ub']}), compared with {cv['per_1000']} per 1000 "
                f"people who had {control} ({diff})."]
    if row.get("relative"):
        r = row["relative"]
        return [f"The {row['measure_name']} of {outcome} with {intervention} compared with "
                f"{control} was {r['estimate']:.2f} ({r['ci_lb']:.2f} to {r['ci_ub']:.2f}); "
                "the control-group risk is unknown, so it is not shown per 1000 people."]
    if row.get("difference_text"):
        return [f"With {intervention} compared with {control}, {outcome} changed by "
                f"{row['difference_text']} people."]
    return []


def key_result(analysis: dict, sof_row: dict) -> str:
    """The plain-language key result of one analysis, written from its SoF row.

    A certainty-hedged statement (GRADE 26; omitted when certainty was not assessed, which is then
    said at the end), then the numbers in the words of the Cochrane plain language summaries:
    continuous outcomes as % of the scale and points with the mean in each group; binary outcomes
    as "x per 1000 people who had ... compared with y per 1000". k = 0: "No trial reported ... in
    a form we could pool".
    """
    if not isinstance(sof_row, dict) or "kind" not in sof_row:
        raise InputError(f"{analysis_name(analysis)}: sof_row is not a row of "
                         "evsynth.summaries.sof.sof_row")
    intervention, control, label = _names(analysis)
    if pooled(analysis) is None:
        window = (analysis.get("window") or {}).get("label")
        when = ("" if not window else f" ({window})" if "(" not in window
                else f", {lower_first(window)},")
        return (f"No trial reported {lower_first(label)}{when} for {intervention} compared with "
                f"{control} in a form we could pool.")
    level = (sof_row.get("certainty") or {}).get("level")
    parts: list[Any] = [_lead(analysis, sof_row, level)]
    if sof_row["kind"] == "continuous":
        parts += _continuous(analysis, sof_row)
    else:
        parts += _binary(analysis, sof_row)
    if level not in ("high", "moderate", "low", "very low"):
        parts.append("The certainty of the evidence was not assessed.")
    return " ".join(p for p in parts if p)
