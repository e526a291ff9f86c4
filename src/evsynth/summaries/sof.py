"""Summary of Findings rows (GRADEpro layout) from an analysis dict of results.json.

Every number comes from the analysis dict (the pooled evsynth.meta output and the control-group
summary); nothing is pooled here. Sources: Cochrane Handbook chapter 14 (Summary of Findings
tables, 14.1.5 absolute effects) and chapter 15 (15.4.4 absolute effects from relative ones,
15.5.3.1 re-expressing an SMD with a control-group SD); Altman 1998 BMJ 317:1309 (NNT confidence
intervals).
"""

from __future__ import annotations

import math
from typing import Any

from evsynth.errors import InputError
from evsynth.summaries.grade import (
    CHANGE_MEASURES,
    MD_MEASURES,
    RATIO_MEASURES,
    SMD_MEASURES,
    analysis_name,
    assumed_control_risk,
    ci_level,
    control_mean,
    control_sd,
    control_sd_name,
    lower_is_better,
    measure,
    natural,
    number,
    pooled,
)
from evsynth.summaries.wording import format_ratio

MEASURE_NAMES = {"MD": "mean difference", "MD_CHANGE": "mean difference in change from baseline",
                 "SMD": "standardised mean difference",
                 "SMD_CHANGE": "standardised mean difference in change from baseline",
                 "OR": "odds ratio", "RR": "risk ratio", "RD": "risk difference",
                 "HR": "hazard ratio", "IRR": "rate ratio", "IRD": "rate difference"}


# --- number formatting (one home for the summaries and reports) ------------------------------

def format_number(x: float, decimals: int) -> str:
    """``x`` rounded to ``decimals`` places, without trailing zeros and without ``-0``."""
    text = f"{x:.{max(decimals, 0)}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def scale_decimals(scale_min: float | None, scale_max: float | None,
                   values: list[float] | None = None) -> int:
    """Decimal places for points: 1 on a 0-10 scale, 0 on 0-100, 2 on 0-1; from the values'
    magnitude when the scale is unknown."""
    if scale_min is not None and scale_max is not None and scale_max > scale_min:
        return max(0, 1 - math.floor(math.log10((scale_max - scale_min) / 10)))
    big = max((abs(v) for v in values or [] if v), default=1.0)
    return min(3, max(0, 2 - math.floor(math.log10(big))))


def enough_decimals(decimals: int, values: list[float], extra: int = 2) -> int:
    """``decimals`` raised (by at most ``extra``) until no non-zero value shows as 0."""
    out = decimals
    while out < decimals + extra and any(v and format_number(abs(v), out) == "0"
                                         for v in values):
        out += 1
    return out


def points_word(text: str) -> str:
    """``point`` after ``1``, else ``points``."""
    return "point" if text == "1" else "points"


def percent_decimals(values: list[float]) -> int:
    """Whole percentages unless every value is below 10% in size (then one decimal)."""
    return 0 if max(abs(v) for v in values) >= 10 else 1


def signed_words(value: float, decimals: int, pos: str, neg: str, unit: str = "") -> str:
    """``|value|`` with its unit and the word for its sign: ``0.7 points lower``, ``7% lower``;
    a value rounding to 0 has no word (``0 points``)."""
    text = format_number(abs(value), decimals)
    if unit == "points":
        unit = points_word(text)
    if unit:
        text += unit if unit == "%" else f" {unit}"
    if format_number(abs(value), decimals) == "0":
        return text
    return f"{text} {pos if value > 0 else neg}"


def benefit_interval(est: float, lb: float, ub: float, low_better: bool
                     ) -> tuple[float, float, float]:
    """An effect (intervention minus control) turned into benefit (positive = better), CI sorted."""
    s = -1.0 if low_better else 1.0
    a, b = sorted((s * lb, s * ub))
    return s * est, a, b


def magnitude_words(est: float, lb: float, ub: float, decimals: int, better: str = "better",
                    worse: str = "worse", suffix: str = "") -> tuple[str, str]:
    """Plain-language magnitude of a benefit (positive = better) and its interval, smallest
    magnitude first in the direction of the estimate: ``("0.7", "0.3 better to 1.2 better")``.
    """
    s = -1.0 if est < 0 else 1.0
    lo, hi = sorted((s * lb, s * ub))
    same, other = (better, worse) if s > 0 else (worse, better)

    def word(v: float) -> str:
        text = format_number(abs(v), decimals)
        return f"{text}{suffix}" if text == "0" else f"{text}{suffix} {same if v > 0 else other}"

    return format_number(abs(est), decimals) + suffix, f"{word(lo)} to {word(hi)}"


def per_1000(risk: float) -> int:
    """A risk as a whole number per 1000."""
    return int(round(1000 * risk))


# --- the row ---------------------------------------------------------------------------------

def _ci_text(lb: str, ub: str) -> str:
    return f"({lb} to {ub})"


def _outcome_text(analysis: dict) -> str:
    o = analysis.get("outcome") or {}
    bits = []
    if o.get("instrument"):
        bits.append(str(o["instrument"]))
    if o.get("scale_min") is not None and o.get("scale_max") is not None:
        bits.append(f"scale {format_number(float(o['scale_min']), 3)} to "
                    f"{format_number(float(o['scale_max']), 3)}")
    if o.get("kind") == "continuous":
        bits.append("lower is better" if lower_is_better(analysis) else "higher is better")
    text = str(o.get("label") or o.get("id") or "outcome")
    if bits:
        text += f" ({'; '.join(bits)})"
    window = (analysis.get("window") or {}).get("label")
    if window:
        text += f"; follow-up: {window}"
    return text


def _continuous(analysis: dict, p: dict, row: dict) -> None:
    """Anticipated absolute effects of a continuous outcome (MD in points, % of scale, SMD)."""
    o = analysis.get("outcome") or {}
    m = row["measure"]
    est, lb, ub = (float(p[f]) for f in ("estimate", "ci_lb", "ci_ub"))
    low_better = lower_is_better(analysis)
    smin = number(o.get("scale_min"), "outcome.scale_min", analysis)
    smax = number(o.get("scale_max"), "outcome.scale_max", analysis)
    if smin is not None and smax is not None and smax <= smin:
        raise InputError(f"{analysis_name(analysis)}: field 'outcome.scale_max' is {smax!r}; "
                         f"expected more than scale_min {smin!r}")
    cmean, csd = control_mean(analysis), control_sd(analysis)
    approximate = False
    if m in SMD_MEASURES:
        row["smd"] = {"estimate": est, "ci_lb": lb, "ci_ub": ub}
        w = [signed_words(v, 2, "higher", "lower") for v in (est, lb, ub)]
        row["difference_text"] = f"SMD {w[0]} {_ci_text(w[1], w[2])}"
        if csd is None:
            row["comments"].append("SMD not re-expressed in points: control-group SD unknown")
            return
        # Cochrane Handbook 15.5.3.1: multiply the SMD by a typical control-group SD
        est, lb, ub = est * csd, lb * csd, ub * csd
        approximate = True
        row["comments"].append(f"Points re-expressed as SMD x {control_sd_name(analysis)} "
                               f"{csd:g} (approximate; Cochrane Handbook 15.5.3.1)")
    elif m not in MD_MEASURES:
        raise InputError(f"{analysis_name(analysis)}: field 'measure' is {m!r} for a continuous "
                         "outcome; expected MD, MD_CHANGE, SMD or SMD_CHANGE")
    dec = enough_decimals(scale_decimals(smin, smax, [est, lb, ub]), [est, lb, ub])
    pts = {"estimate": est, "ci_lb": lb, "ci_ub": ub, "unit": "points", "decimals": dec,
           "approximate": approximate}
    pts["benefit"] = dict(zip(("estimate", "ci_lb", "ci_ub"),
                              benefit_interval(est, lb, ub, low_better), strict=True))
    row["points"] = pts
    approx = "about " if approximate else ""
    words = [signed_words(v, dec, "higher", "lower") for v in (est, lb, ub)]
    words[0] = signed_words(est, dec, "higher", "lower", "points")
    diff = f"{approx}{words[0]} {_ci_text(words[1], words[2])}"
    if m in MD_MEASURES:
        row["difference_text"] = f"MD {diff}"
    else:
        row["difference_text"] += f"; {diff}"
    if smin is not None and smax is not None:
        rng = smax - smin
        pct = [100 * v / rng for v in (est, lb, ub)]
        pdec = enough_decimals(percent_decimals(pct), pct)
        row["percent_of_scale"] = {"estimate": pct[0], "ci_lb": pct[1], "ci_ub": pct[2],
                                   "decimals": pdec, "scale_min": smin, "scale_max": smax,
                                   "benefit": dict(zip(("estimate", "ci_lb", "ci_ub"),
                                                       benefit_interval(pct[0], pct[1], pct[2],
                                                                        low_better),
                                                       strict=True))}
        pw = [signed_words(v, pdec, "higher", "lower", "%") for v in pct]
        row["percent_text"] = (f"{approx}{pw[0]} {_ci_text(pw[1], pw[2])} as a percentage of "
                               f"the {format_number(smin, 3)} to {format_number(smax, 3)} scale")
    if cmean is not None:
        row["control"] = {"value": cmean, "decimals": dec,
                          "n_studies": ((analysis.get("control_summary") or {})
                                        .get("continuous") or {}).get("n_studies")}
        row["control_text"] = f"mean {format_number(cmean, dec)} points"
        iv = {"value": cmean + est, "ci_lb": cmean + lb, "ci_ub": cmean + ub, "decimals": dec,
              "approximate": approximate}
        row["intervention"] = iv
        ci = _ci_text(format_number(iv["ci_lb"], dec), format_number(iv["ci_ub"], dec))
        row["intervention_text"] = f"{approx}mean {format_number(iv['value'], dec)} points {ci}"
        if m in CHANGE_MEASURES:
            row["comments"].append("Intervention value: difference in change added to the "
                                   "control group's follow-up mean")
    else:
        row["control_text"] = "control mean not available"
        row["comments"].append("Absolute values not shown: control-group mean unknown")


def _relative_only(analysis: dict, p: dict, row: dict) -> None:
    """Time-to-event (HR) and rate (IRR, IRD) outcomes: the relative effect (or the rate
    difference) only. Absolute effects would need a control-group risk at a stated time (HR;
    Cochrane Handbook 15.4.4 / Skoetz 2020) or a control rate; none is derived here."""
    m = row["measure"]
    vals = [natural(analysis, float(p[f])) for f in ("estimate", "ci_lb", "ci_ub")]
    if m in RATIO_MEASURES:
        row["relative"] = {"measure": m, "estimate": vals[0], "ci_lb": vals[1], "ci_ub": vals[2]}
        row["relative_text"] = (f"{m} {format_ratio(vals[0])} "
                                f"{_ci_text(format_ratio(vals[1]), format_ratio(vals[2]))}")
        row["comments"].append("Absolute effects not shown: no control-group risk at a stated "
                               "time (HR) or control rate (IRR) is derived by evsynth")
    else:
        row["difference_text"] = (f"{vals[0]:.3g} events per unit of person-time "
                                  f"{_ci_text(f'{vals[1]:.3g}', f'{vals[2]:.3g}')}")
        row["comments"].append("Rate difference per unit of person-time as entered in "
                               "outcomes.csv")
    row["control_text"] = "not derived"


def _binary(analysis: dict, p: dict, row: dict) -> None:
    """Anticipated absolute effects of a binary outcome per 1000 (Cochrane Handbook 14.1.5,
    15.4.4): intervention risk = ACR x RR; OR x ACR / (1 - ACR + OR x ACR); ACR + RD."""
    m = row["measure"]
    if m not in ("OR", "RR", "RD"):
        raise InputError(f"{analysis_name(analysis)}: field 'measure' is {m!r} for a binary "
                         "outcome; expected OR, RR or RD")
    vals = [natural(analysis, float(p[f])) for f in ("estimate", "ci_lb", "ci_ub")]
    acr, source = assumed_control_risk(analysis)
    row["assumed_control_risk"] = {"risk": acr, "source": source}
    if m in RATIO_MEASURES:
        row["relative"] = {"measure": m, "estimate": vals[0], "ci_lb": vals[1], "ci_ub": vals[2]}
        row["relative_text"] = (f"{m} {format_ratio(vals[0])} "
                                f"{_ci_text(format_ratio(vals[1]), format_ratio(vals[2]))}")
    if acr is None:
        row["control_text"] = "control risk unknown"
        row["comments"].append("Absolute effects not shown: no control-group risk (contrast-level "
                               "data only) and no assumed control risk in review.toml")
        if m == "RD":
            d = [v * 1000 for v in vals]
            w = [signed_words(v, 0, "more", "fewer") for v in d]
            row["difference_text"] = f"{w[0]} per 1000 {_ci_text(w[1], w[2])}"
        return

    def risk(v: float) -> float:
        if m == "RR":
            return acr * v
        if m == "OR":
            return v * acr / (1 - acr + v * acr)
        return acr + v

    raw = [risk(v) for v in vals]
    risks = [min(1.0, max(0.0, r)) for r in raw]
    if risks != raw:
        row["comments"].append("Intervention risk truncated to 0-1000 per 1000")
    row["control"] = {"per_1000": per_1000(acr), "risk": acr}
    row["control_text"] = f"{per_1000(acr)} per 1000"
    row["intervention"] = {"per_1000": per_1000(risks[0]), "ci_lb": per_1000(min(risks[1:])),
                           "ci_ub": per_1000(max(risks[1:])), "risk": risks[0]}
    iv = row["intervention"]
    ci = _ci_text(str(iv["ci_lb"]), str(iv["ci_ub"]))
    row["intervention_text"] = f"{iv['per_1000']} per 1000 {ci}"
    ard = [r - acr for r in risks]
    d_lo, d_hi = sorted(ard[1:])
    row["absolute"] = {"difference_per_1000": 1000 * ard[0], "ci_lb": 1000 * d_lo,
                       "ci_ub": 1000 * d_hi}
    w = [signed_words(1000 * v, 0, "more", "fewer") for v in (ard[0], d_lo, d_hi)]
    row["difference_text"] = f"{w[0]} per 1000 {_ci_text(w[1], w[2])}"
    if acr not in (0.0, 1.0):
        row["nnt"] = number_needed_to_treat(ard[0], d_lo, d_hi, lower_is_better(analysis),
                                            ci_level(analysis))
    if row.get("nnt"):
        row["comments"].append(row["nnt"]["text"])
    row["comments"].append(f"Assumed control risk: {source}")


def number_needed_to_treat(ard: float, lb: float, ub: float, low_better: bool,
                           level: float = 95) -> dict[str, Any] | None:
    """NNTB or NNTH from the absolute risk difference at the assumed control risk.

    NNT = 1 / |ARD| rounded up (Cochrane Handbook 15.4.4); benefit when the risk falls for an
    outcome where lower is better (adverse events) or rises where higher is better. The CI is the
    reciprocal of the ARD's limits when the ARD's CI excludes 0; otherwise it runs from NNTB
    through infinity to NNTH (``ci_text``; Altman 1998 BMJ 317:1309). ``level`` (percent) is
    that of the ARD's CI, for the text. None when the ARD is 0.
    """
    if ard == 0:
        return None
    benefit = (ard < 0) == low_better
    kind = "NNTB" if benefit else "NNTH"
    value = math.ceil(round(1 / abs(ard), 9))
    out: dict[str, Any] = {"kind": kind, "value": value, "ci_lb": None, "ci_ub": None}
    if lb > 0 or ub < 0:
        a, b = sorted((math.ceil(round(1 / abs(lb), 9)), math.ceil(round(1 / abs(ub), 9))))
        out.update(ci_lb=a, ci_ub=b)
        out["text"] = f"{kind} {value} ({level:g}% CI {a} to {b})"
    else:  # the CI of the ARD includes 0: NNTB x to infinity to NNTH y (Altman 1998)
        ends = {}
        for d in (lb, ub):
            if d != 0:
                ends["NNTB" if (d < 0) == low_better else "NNTH"] = math.ceil(round(1 / abs(d), 9))
        parts = [f"NNTB {ends['NNTB']}" if "NNTB" in ends else None, "∞",
                 f"NNTH {ends['NNTH']}" if "NNTH" in ends else None]
        out["ci_text"] = " to ".join(p for p in parts if p)
        out["text"] = (f"{kind} {value} ({level:g}% CI {out['ci_text']}: the CI of the risk "
                       "difference includes no difference)")
    return out


def _comment_from_facts(grade: dict, analysis: dict) -> list[str]:
    """Short comments from the computed prompts (GRADE 6 imprecision, Handbook 10.10.2)."""
    f = grade.get("facts") or {}
    out = []
    if f.get("I2") is not None and f.get("k", 0) >= 2:
        out.append(f"I² {f['I2']:.0f}%")
    if f.get("pi"):
        out.append("prediction interval " + ("includes" if f["pi"]["includes_null"]
                                             else "excludes") + " no effect")
    ci = f.get("ci")
    if ci:
        bits = ["CI " + ("includes" if ci["includes_null"] else "excludes") + " no effect"]
        if ci.get("crosses_benefit") is not None:
            crossed = [s for s in ("benefit", "harm") if ci[f"crosses_{s}"]]
            bits.append("crosses the threshold of important " + " and ".join(crossed)
                        if crossed else "crosses no important-effect threshold")
        out.append(", ".join(bits))
    if f.get("ois") is not None:
        out.append(f"optimal information size {f['ois']:,} "
                   f"({'met' if f['ois_met'] else 'not met'})")
    return out


def sof_row(analysis: dict, grade: dict) -> dict[str, Any]:
    """One Summary of Findings row (GRADEpro layout) for one analysis.

    Columns: outcome (label, instrument, follow-up); anticipated absolute effects (control value,
    intervention value with CI); relative effect (binary OR/RR); participants (studies); certainty
    (symbols and words, from :func:`evsynth.summaries.grade.certainty`); comments. Continuous: MD
    in points and as % of the scale range (MD / (max - min) x 100, same CI); intervention value =
    control mean + MD. SMD: re-expressed in points as SMD x control SD (approximate; Cochrane
    Handbook 15.5.3.1). Binary: per 1000 from the assumed control risk (Cochrane Handbook 14.1.5,
    15.4.4) and NNT (Altman 1998). Numbers only from ``analysis``; no pooling here.

    As GRADEpro lays the table out, ``certainty_footnotes`` holds the reasons for rating down
    (footnotes of the certainty cell), ``footnotes`` the computed prompts and notes (I², CI
    against the thresholds, optimal information size, NNT with its interval, assumed control
    risk, re-expression), and ``comments_short`` the short comment column (the reviewers'
    comment, "Certainty not assessed", studies left out); ``comments`` / ``comments_text`` keep
    all of them in one list, as before.
    """
    if not isinstance(analysis, dict):
        raise InputError(f"analysis is {type(analysis).__name__}; expected a dict")
    if not isinstance(grade, dict):
        raise InputError(f"{analysis_name(analysis)}: grade is {type(grade).__name__}; expected "
                         "the dict of evsynth.summaries.grade.certainty")
    o = analysis.get("outcome") or {}
    kind = o.get("kind")
    if kind not in ("continuous", "binary", "time_to_event", "rate"):
        raise InputError(f"{analysis_name(analysis)}: field 'outcome.kind' is {kind!r}; expected "
                         "'continuous', 'binary', 'time_to_event' or 'rate'")
    k = int(analysis.get("k_studies") or analysis.get("k") or 0)  # studies, not effects
    n = analysis.get("participants")
    m = measure(analysis)
    # GRADEpro's "(k RCTs)" / "(k observational studies)": the design the certainty started
    # from (GRADE start 'low' = observational studies; it always read RCTs)
    if grade.get("start") == "low":
        trials = f"{k} observational stud" + ("y" if k == 1 else "ies")
    else:
        trials = f"{k} RCT" + ("" if k == 1 else "s")
    row: dict[str, Any] = {
        "analysis_id": analysis.get("id"),
        "comparison_id": (analysis.get("comparison") or {}).get("id"),
        "outcome_id": o.get("id"), "outcome": o.get("label") or o.get("id"),
        "instrument": o.get("instrument"),
        "follow_up": (analysis.get("window") or {}).get("label"),
        "outcome_text": _outcome_text(analysis), "kind": kind, "measure": m,
        "measure_name": MEASURE_NAMES.get(m, m),
        "direction": o.get("direction"), "k": k, "participants": n,
        "participants_text": f"{n if n is not None else 'not reported'} ({trials})",
        "control": None, "intervention": None, "control_text": "", "intervention_text": "",
        "difference_text": "", "percent_text": "", "relative": None, "relative_text": "",
        "points": None, "percent_of_scale": None, "smd": None, "absolute": None, "nnt": None,
        "certainty": {key: grade.get(key) for key in ("level", "score", "symbols", "label",
                                                        "assessed")},
        "certainty_text": (f"{grade.get('symbols', '')} {grade.get('label', '')}".strip()
                           or "Not assessed"),
        "comments": [],
    }
    p = pooled(analysis)
    if p is None:
        row["comments"].append("No study reported this outcome in a form that could be pooled")
    elif kind == "continuous":
        _continuous(analysis, p, row)
    elif kind == "binary":
        _binary(analysis, p, row)
    else:
        _relative_only(analysis, p, row)
    row["method"] = (analysis.get("model") or {}).get("label")
    # GRADEpro layout: the reasons for rating down are footnotes of the certainty cell, the
    # computed prompts (I², CI, optimal information size, NNT, assumed risk) footnotes of the
    # outcome; the comment column stays short. ``comments`` keeps everything (as before).
    row["certainty_footnotes"] = list(grade.get("reasons") or []) if p is not None else []
    row["footnotes"] = (_comment_from_facts(grade, analysis) + row["comments"]
                        if p is not None else [])
    short: list[str] = [] if p is not None else list(row["comments"])
    if p is not None:
        row["comments"] = list(grade.get("reasons") or []) + _comment_from_facts(
            grade, analysis) + row["comments"]
    if grade.get("comment"):
        row["comments"].append(str(grade["comment"]))
        short.append(str(grade["comment"]))
    if not grade.get("assessed"):
        row["comments"].append("Certainty not assessed" + (f" ({grade['note']})"
                                                           if grade.get("note") else ""))
        short.append("Certainty not assessed")
    excluded = analysis.get("excluded") or []
    if excluded:
        row["comments"].append(f"{len(excluded)} {'study' if len(excluded) == 1 else 'studies'} "
                               "left out (reasons listed with the analysis)")
        short.append(row["comments"][-1])
    row["comments_text"] = "; ".join(c.strip().rstrip(".;") for c in row["comments"] if c)
    row["comments_short"] = "; ".join(c.strip().rstrip(".;") for c in short if c)
    return row
