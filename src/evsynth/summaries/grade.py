"""GRADE certainty of the evidence, from the reviewers' judgements, with computed prompts.

The certainty comes only from the judgements recorded in ``review.toml`` (five domains, each
downgraded 0, 1 or 2 levels with a reason). Evidence from randomised trials starts at *high*
(GRADE Handbook 5.1; Guyatt et al. 2011, GRADE guidelines 3, J Clin Epidemiol 64:401) and each
downgrade lowers it one level, floored at *very low* (Guyatt et al. 2011, GRADE guidelines 1,
J Clin Epidemiol 64:383). Computed *prompts* (I^2, prediction interval, the CI against the null and
the minimal important difference, the optimal information size, small-study effects) are shown
beside the judgements to help the reviewers; they never replace them. Without judgements the
certainty is "not assessed": nothing is invented.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any, overload

from evsynth.errors import InputError, finite_number

#: the five GRADE domains for rating down (GRADE Handbook 5.2)
DOMAINS: tuple[str, ...] = ("risk_of_bias", "inconsistency", "indirectness", "imprecision",
                            "publication_bias")
DOMAIN_LABELS: dict[str, str] = {"risk_of_bias": "risk of bias", "inconsistency": "inconsistency",
                                 "indirectness": "indirectness", "imprecision": "imprecision",
                                 "publication_bias": "publication bias"}
#: score -> (level, label, symbols) (GRADE Handbook 5.1, GRADEpro symbols)
LEVELS: dict[int, tuple[str, str, str]] = {
    4: ("high", "High", "⊕⊕⊕⊕"),
    3: ("moderate", "Moderate", "⊕⊕⊕◯"),
    2: ("low", "Low", "⊕⊕◯◯"),
    1: ("very low", "Very low", "⊕◯◯◯"),
}
START_SCORES = {"high": 4, "low": 2}
#: GRADE's rough guide for appreciable benefit or harm on the relative scale: RR < 0.75 or > 1.25
#: (Guyatt et al. 2011, GRADE guidelines 6, J Clin Epidemiol 64:1283)
RELATIVE_THRESHOLDS = (0.75, 1.25)
RATIO_MEASURES = ("OR", "RR", "HR", "IRR")
SMD_MEASURES = ("SMD", "SMD_CHANGE")
MD_MEASURES = ("MD", "MD_CHANGE")


# --- helpers shared by the SoF row and the plain-language text --------------------------------

def analysis_name(analysis: dict) -> str:
    """A short name of the analysis for error messages."""
    return f"analysis {analysis.get('id', '?')!r}"


def number(value: Any, field: str, analysis: dict, *, required: bool = False) -> float | None:
    """``value`` as a finite float, None when missing; an InputError naming the analysis and field
    when it is not a finite number (or missing but required)."""
    return finite_number(value, analysis_name(analysis), field, required=required)


def pooled(analysis: dict) -> dict | None:
    """The pooled-result dict, or None when no study contributed (k = 0)."""
    p = analysis.get("pooled")
    if p is None or int(analysis.get("k") or 0) == 0:
        return None
    if not isinstance(p, dict):
        raise InputError(f"{analysis_name(analysis)}: field 'pooled' is {type(p).__name__}; "
                         "expected a dict or None")
    for f in ("estimate", "ci_lb", "ci_ub"):
        number(p.get(f), f"pooled.{f}", analysis, required=True)
    return p


def measure(analysis: dict) -> str:
    """The effect measure as pooled, upper case (MD, SMD, SMD_CHANGE, MD_CHANGE, OR, RR, RD)."""
    m = analysis.get("measure") or (analysis.get("outcome") or {}).get("measure")
    if not m:
        raise InputError(f"{analysis_name(analysis)}: field 'measure' is missing; expected one "
                         "of MD, SMD, SMD_CHANGE, MD_CHANGE, OR, RR, RD")
    return str(m).upper()


def ci_level(analysis: dict) -> float:
    """The confidence level (percent) of the analysis' intervals (its model's ``level``; 95
    when not recorded)."""
    level = number((analysis.get("model") or {}).get("level"), "model.level", analysis)
    return 95.0 if level is None else level


def lower_is_better(analysis: dict) -> bool:
    """True when lower outcome values are better (the outcome's ``direction``)."""
    direction = (analysis.get("outcome") or {}).get("direction", "lower_is_better")
    if direction not in ("lower_is_better", "higher_is_better"):
        raise InputError(f"{analysis_name(analysis)}: field 'outcome.direction' is "
                         f"{direction!r}; expected 'lower_is_better' or 'higher_is_better'")
    return direction == "lower_is_better"


@overload
def natural(analysis: dict, value: float) -> float: ...
@overload
def natural(analysis: dict, value: None) -> None: ...
@overload
def natural(analysis: dict, value: float | None) -> float | None: ...
def natural(analysis: dict, value: float | None) -> float | None:
    """A value on the analysis scale back on the natural scale (exp for log OR/RR)."""
    if value is None:
        return None
    if not analysis.get("log_scale"):
        return value
    if value > 709.0:  # exp would overflow: a ratio above 1e308 is no result
        raise InputError(f"{analysis_name(analysis)}: a pooled value on the log scale is "
                         f"{value:g}, a ratio above 1e308; expected a finite ratio (check the "
                         "data: a standard error in the hundreds?)")
    return math.exp(value)


#: continuous measures of change from baseline: their control SD is the SD of the change
CHANGE_MEASURES = ("MD_CHANGE", "SMD_CHANGE")


def control_sd_name(analysis: dict) -> str:
    """How :func:`control_sd` is named in prompts and comments."""
    return "control SD of change" if measure(analysis) in CHANGE_MEASURES else "control SD"


def control_sd(analysis: dict) -> float | None:
    """The control-group SD of a continuous outcome from ``control_summary`` (None if unknown):
    for a change-score measure (MD_CHANGE, SMD_CHANGE) the SD of the change, the SD an SMD of
    change is standardised by and a MID of change is compared with (Cochrane Handbook 6.5.2.8,
    15.5.3.1), else the SD of the final values."""
    cont = (analysis.get("control_summary") or {}).get("continuous") or {}
    key = "sd_change" if measure(analysis) in CHANGE_MEASURES else "sd"
    sd = number(cont.get(key), f"control_summary.continuous.{key}", analysis)
    return sd if sd is not None and sd > 0 else None


def control_mean(analysis: dict) -> float | None:
    """The control-group mean of a continuous outcome from ``control_summary`` (None if unknown)."""
    cont = (analysis.get("control_summary") or {}).get("continuous") or {}
    return number(cont.get("mean"), "control_summary.continuous.mean", analysis)


def assumed_control_risk(analysis: dict) -> tuple[float | None, str]:
    """The assumed control risk (a proportion) of a binary outcome, and where it comes from.

    The outcome's ``assumed_control_risk`` when given, else the median control-group risk of the
    included studies (Cochrane Handbook 14.1.5.1: a median or typical control-group risk).
    """
    given = number((analysis.get("outcome") or {}).get("assumed_control_risk"),
                   "outcome.assumed_control_risk", analysis)
    if given is not None:
        if not 0 < given < 1:
            raise InputError(f"{analysis_name(analysis)}: field 'outcome.assumed_control_risk' "
                             f"is {given!r}; expected a proportion between 0 and 1 (exclusive)")
        return given, "assumed control risk given in review.toml"
    binary = (analysis.get("control_summary") or {}).get("binary") or {}
    median = number(binary.get("median_risk"), "control_summary.binary.median_risk", analysis)
    if median is None:
        return None, "control-group risk unknown (no arm-level event data)"
    if not 0 <= median <= 1:
        raise InputError(f"{analysis_name(analysis)}: field 'control_summary.binary.median_risk' "
                         f"is {median!r}; expected a proportion between 0 and 1")
    n = len(binary.get("risks") or [])
    of = f" of {n} {'study' if n == 1 else 'studies'}" if n else ""
    return median, f"median control-group risk{of}"


def thresholds(analysis: dict) -> dict[str, Any] | None:
    """Thresholds of important benefit and harm on the analysis scale, or None when unknown.

    MD: +-MID in outcome units. SMD: +-MID / control SD (approximate). OR/RR: GRADE's rough guide
    RR 0.75 and 1.25 (Guyatt 2011, GRADE 6; applied to the OR too), on the log scale when the
    analysis is. RD: +-MID when the outcome gives one (as a risk difference). ``benefit`` is the
    threshold on the side of benefit given the outcome's direction.
    """
    m = measure(analysis)
    mid = number((analysis.get("outcome") or {}).get("mid"), "outcome.mid", analysis)
    note = ""
    if m in RATIO_MEASURES:
        lo, hi = RELATIVE_THRESHOLDS
        if analysis.get("log_scale"):
            lo, hi = math.log(lo), math.log(hi)
        note = f"{m} 0.75 and 1.25 (GRADE's rough guide for appreciable benefit or harm)"
    elif mid is None or mid <= 0:
        return None
    elif m in SMD_MEASURES:
        sd = control_sd(analysis)
        if sd is None:
            return None
        lo, hi = -mid / sd, mid / sd
        note = (f"MID {mid:g} / {control_sd_name(analysis)} {sd:g} = SMD {mid / sd:.2f} "
                "(approximate)")
    else:
        lo, hi = -mid, mid
        note = f"MID {mid:g}"
    low_better = lower_is_better(analysis)
    return {"benefit": lo if low_better else hi, "harm": hi if low_better else lo, "note": note}


# --- prompts ---------------------------------------------------------------------------------

def i2_guide(i2: float) -> str:
    """The Cochrane Handbook's rough guide to I^2 (section 10.10.2); the bands overlap."""
    bands = [(0, 40, "might not be important"), (30, 60, "may represent moderate heterogeneity"),
             (50, 90, "may represent substantial heterogeneity"),
             (75, 100, "considerable heterogeneity")]
    words = [w for lo, hi, w in bands if lo <= i2 <= hi]
    return " or ".join(words) if words else "outside 0-100%"


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}"


def null_value(analysis: dict) -> float:
    """The value of no effect on the analysis scale (1 for a ratio measure kept on the ratio
    scale: OR, RR, HR, IRR)."""
    return 1.0 if measure(analysis) in RATIO_MEASURES and not analysis.get("log_scale") else 0.0


def interval_facts(analysis: dict, lb: float, ub: float) -> dict[str, bool | None]:
    """Whether an interval (analysis scale) includes no effect and crosses the thresholds of
    important benefit and harm (None when no threshold is known)."""
    th = thresholds(analysis)
    null = null_value(analysis)
    return {"includes_null": lb <= null <= ub,
            "crosses_benefit": None if th is None else lb <= th["benefit"] <= ub,
            "crosses_harm": None if th is None else lb <= th["harm"] <= ub}


def _interval_vs(analysis: dict, lb: float, ub: float, what: str) -> str:
    """Where an interval (analysis scale) lies against the null and the benefit/harm thresholds."""
    facts = interval_facts(analysis, lb, ub)
    shown = natural(analysis, null_value(analysis))
    parts = [f"{what} {_fmt(natural(analysis, lb))} to {_fmt(natural(analysis, ub))}",
             "includes no effect" if facts["includes_null"] else f"excludes no effect ({shown:g})"]
    th = thresholds(analysis)
    if th is None:
        parts.append("no minimal important difference given, so it cannot be compared with one")
    else:
        for side in ("benefit", "harm"):
            word = "crosses" if facts[f"crosses_{side}"] else "does not cross"
            parts.append(f"{word} the threshold of important {side} "
                         f"({_fmt(natural(analysis, th[side]))})")
        parts[-1] += f"; thresholds: {th['note']}"
    return "; ".join(parts)


def optimal_information_size(analysis: dict, alpha: float = 0.05, power: float = 0.8
                             ) -> dict[str, Any] | None:
    """Total participants of a two-arm trial powered to detect the important effect.

    Continuous (Guyatt 2011, GRADE 6, J Clin Epidemiol 64:1283): n per arm =
    2 (z_{1-alpha/2} + z_{power})^2 SD^2 / MID^2, SD = the control SD. Binary (same paper): a
    relative risk reduction of 25% from the control risk p_c (p_i = 0.75 p_c), n per arm =
    (z_{1-alpha/2} + z_{power})^2 [p_c(1-p_c) + p_i(1-p_i)] / (p_c - p_i)^2. None when the MID, the
    control SD or the control risk is unknown. Returns total (both arms), per_arm and the inputs.
    """
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    kind = (analysis.get("outcome") or {}).get("kind")
    if kind == "binary" or measure(analysis) in ("OR", "RR", "RD"):
        pc, _ = assumed_control_risk(analysis)
        if pc is None or pc <= 0:
            return None
        pi = 0.75 * pc
        per_arm = math.ceil(z * z * (pc * (1 - pc) + pi * (1 - pi)) / (pc - pi) ** 2)
        return {"total": 2 * per_arm, "per_arm": per_arm, "basis":
                f"relative risk reduction 25% from a control risk of {pc:.3g}, alpha 0.05 "
                "two-sided, power 0.8 (GRADE 6)"}
    mid = number((analysis.get("outcome") or {}).get("mid"), "outcome.mid", analysis)
    sd = control_sd(analysis)
    if mid is None or mid <= 0 or sd is None:
        return None
    per_arm = math.ceil(2 * z * z * sd * sd / (mid * mid))
    return {"total": 2 * per_arm, "per_arm": per_arm, "basis":
            f"difference of MID {mid:g} with {control_sd_name(analysis)} {sd:g}, alpha 0.05 "
            "two-sided, power 0.8 (GRADE 6)"}


def prompts(analysis: dict) -> dict[str, str]:
    """Computed prompts for inconsistency, imprecision and publication bias (never judgements)."""
    p = pooled(analysis)
    k = int(analysis.get("k_studies") or analysis.get("k") or 0)  # studies, not effects
    if p is None:
        none = "no study contributed data: nothing to assess"
        return {"inconsistency": none, "imprecision": none, "publication_bias": none}
    out: dict[str, str] = {}
    # inconsistency: I^2 (Cochrane Handbook 10.10.2) and the prediction interval
    if k < 2:
        out["inconsistency"] = "one study: inconsistency cannot be assessed"
    else:
        i2 = number(p.get("I2"), "pooled.I2", analysis)
        bits = []
        if i2 is not None:
            bits.append(f"I² = {i2:.0f}% ({i2_guide(i2)}; Cochrane Handbook 10.10.2)")
        qp = number(p.get("QEp"), "pooled.QEp", analysis)
        if qp is not None:
            bits.append(f"Q test p = {qp:.3g}")
        lb, ub = (number(p.get(f), f"pooled.{f}", analysis) for f in ("pi_lb", "pi_ub"))
        model = analysis.get("model") or {}
        if (lb is None or ub is None) and model.get("common"):
            bits.append(f"no prediction interval (common-effect model, "
                        f"{model.get('label') or model.get('method')})")
        elif lb is None or ub is None:
            bits.append("prediction interval not computed (k < 3 or switched off)")
        else:
            bits.append(_interval_vs(analysis, lb, ub, "prediction interval"))
        out["inconsistency"] = "; ".join(bits)
    # imprecision: CI against the null and MID, optimal information size
    level = ci_level(analysis)
    label = (analysis.get("model") or {}).get("label")
    ci_name = f"{level:g}% CI" + (f" ({label})" if isinstance(label, str) and label else "")
    bits = [_interval_vs(analysis, float(p["ci_lb"]), float(p["ci_ub"]), ci_name)]
    ois = optimal_information_size(analysis)
    n = analysis.get("participants")
    if ois is None:
        bits.append("optimal information size not computed (MID, control SD or control risk "
                    "unknown)")
    else:
        if n is None:
            bits.append(f"optimal information size {ois['total']} participants "
                        f"({ois['basis']}); participants randomised not reported: not checked")
        else:
            met = "met" if n >= ois["total"] else "not met"
            bits.append(f"optimal information size {ois['total']} participants "
                        f"({ois['basis']}); {n} randomised in the analysis: {met}")
    out["imprecision"] = "; ".join(bits)
    rob = _risk_of_bias_prompt(analysis)
    if rob is not None:
        out["risk_of_bias"] = rob
    _robustness_prompts(analysis, out)
    # publication bias: small-study effects need >= 10 studies (Cochrane Handbook 13.3.5.4)
    if k < 10:
        out["publication_bias"] = (f"k = {k}: too few studies to assess small-study effects "
                                   "(Cochrane Handbook 13.3.5.4)")
    else:
        ss = analysis.get("small_study")
        if not ss:
            out["publication_bias"] = (f"k = {k}: a funnel plot and a test for small-study "
                                       "effects can be examined; not computed in this run")
        else:
            bits = [f"k = {k}"]
            for key, name in (("egger_p", "Egger's test p"), ("begg_p", "Begg's test p")):
                v = number(ss.get(key), f"small_study.{key}", analysis)
                if v is not None:
                    bits.append(f"{name} = {v:.3g}" + (" (suggests small-study effects)"
                                                       if v < 0.1 else ""))
            k0 = ss.get("trimfill_k0")
            if k0 is not None:
                bits.append(f"trim-and-fill imputes {int(k0)} missing "
                            f"{'study' if int(k0) == 1 else 'studies'}")
            out["publication_bias"] = "; ".join(bits) + (
                " (asymmetry tests have low power and other causes than publication bias; "
                "Cochrane Handbook 13.3.5)")
    return out


def _risk_of_bias_prompt(analysis: dict) -> str | None:
    """The risk-of-bias prompt: the share of the analysis weight from studies at high risk of
    bias (``risk_of_bias_weight``, computed by the review pipeline with
    :func:`evsynth.reports.rob.analysis_high_risk_share`). GRADE rates down for study
    limitations when most of the information comes from studies at high risk, looking at the
    studies that carry the weight rather than counting studies (Guyatt et al. 2011, GRADE
    guidelines 4, J Clin Epidemiol 64:407, doi:10.1016/j.jclinepi.2010.07.017). None when no
    study has a risk-of-bias judgement."""
    share = analysis.get("risk_of_bias_weight")
    if not isinstance(share, dict) or not share.get("text"):
        return None
    pct = number(share.get("percent"), "risk_of_bias_weight.percent", analysis)
    text = str(share["text"])
    if pct is not None and pct > 50:
        text += ("; most of the weight is at high risk of bias: consider rating down "
                 "(GRADE guidelines 4)")
    elif pct is not None and pct > 0:
        text += ("; check whether the estimate changes without these studies (sensitivity "
                 "analysis) before rating down (GRADE guidelines 4)")
    else:
        text += " (GRADE guidelines 4)"
    return text


def _names(ids: list) -> str:
    ids = [str(i) for i in ids]
    return ids[0] if len(ids) == 1 else ", ".join(ids[:-1]) + " and " + ids[-1]


def _robustness_prompts(analysis: dict, out: dict[str, str]) -> None:
    """Add the influence and leave-one-out sentences (k >= 3) to the prompts: a study flagged
    influential by metafor's ``influence()`` rules (Viechtbauer & Cheung 2010) to
    *inconsistency* (an outlying study; GRADE guidelines 7, Guyatt et al. 2011, J Clin Epidemiol
    64:1294), a leave-one-out fit whose CI moves across the null to *imprecision* (the conclusion
    rests on one study; GRADE guidelines 6)."""
    inf = analysis.get("influence") or {}
    flagged = inf.get("flagged") or []
    if flagged:
        verb = "is" if len(flagged) == 1 else "are"
        out["inconsistency"] += (f"; {_names(flagged)} {verb} flagged as influential (case-"
                                 "deletion diagnostics): check whether it explains the "
                                 "heterogeneity")
    loo = analysis.get("leave_one_out") or {}
    changes = loo.get("changes_conclusion") or []
    if changes and loo.get("full_excludes_null") is not None:
        now = ("excludes" if loo["full_excludes_null"] else "includes")
        then = ("includes" if loo["full_excludes_null"] else "excludes")
        out["imprecision"] += (f"; leaving out {_names(changes)} changes the conclusion: the CI "
                               f"{now} the null with all studies and {then} it without "
                               f"{'that study' if len(changes) == 1 else 'one of them'}")


def prompt_facts(analysis: dict) -> dict[str, Any]:
    """The prompts' facts in structured form (for short comments): I^2, the prediction interval and
    CI against the null and thresholds, and the optimal information size; {} when k = 0."""
    p = pooled(analysis)
    if p is None:
        return {}
    lb, ub = (number(p.get(f), f"pooled.{f}", analysis) for f in ("pi_lb", "pi_ub"))
    ois = optimal_information_size(analysis)
    n = analysis.get("participants")
    # studies, not effects (a multilevel analysis counts effects in k), as the prompts do
    return {"k": int(analysis.get("k_studies") or analysis.get("k") or 0),
            "I2": number(p.get("I2"), "pooled.I2", analysis),
            "pi": None if lb is None or ub is None else interval_facts(analysis, lb, ub),
            "ci": interval_facts(analysis, float(p["ci_lb"]), float(p["ci_ub"])),
            "ois": None if ois is None else ois["total"],
            "ois_met": None if ois is None or n is None else n >= ois["total"]}


# --- certainty -------------------------------------------------------------------------------

def _where(judgements: dict, analysis: dict) -> str:
    keys = [f"{k} {judgements[k]!r}" for k in ("comparison", "outcome", "window")
            if judgements.get(k)]
    return "review.toml [[grade]] " + (", ".join(keys) if keys else analysis_name(analysis))


def _domain(judgements: dict, name: str, analysis: dict) -> dict | None:
    """One domain's judgement as {"downgrade": 0/1/2, "reason": str}; None when missing."""
    raw = judgements.get(name)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (dict, int)):
        raise InputError(f"{_where(judgements, analysis)}: field {name!r} is {raw!r}; expected "
                         "{downgrade = 0, 1 or 2, reason = \"...\"}")
    d = raw if isinstance(raw, dict) else {"downgrade": raw}
    dg = d.get("downgrade")
    if isinstance(dg, bool) or not isinstance(dg, int) or dg not in (0, 1, 2):
        raise InputError(f"{_where(judgements, analysis)}: field '{name}.downgrade' is {dg!r}; "
                         "expected 0, 1 or 2")
    reason = d.get("reason") or ""
    if not isinstance(reason, str):
        raise InputError(f"{_where(judgements, analysis)}: field '{name}.reason' is {reason!r}; "
                         "expected text")
    return {"downgrade": dg, "reason": reason.strip()}


def certainty(judgements: dict | None, analysis: dict) -> dict[str, Any]:
    """GRADE certainty of one analysis from the review's judgements, with computed prompts.

    ``judgements``: the matching ``[[grade]]`` entry of review.toml as a dict (domains
    risk_of_bias, inconsistency, indirectness, imprecision, publication_bias, each
    ``{"downgrade": 0|1|2, "reason": str}``; optional ``start`` "high" (randomised trials, the
    default) or "low"), or None. Score = start (high = 4) minus the downgrades, floored at 1 (very
    low) (GRADE Handbook 5.1; Guyatt 2011 J Clin Epidemiol 64:383). When judgements are missing (or
    any domain is), or no study contributed, the certainty is "not assessed".
    """
    base: dict[str, Any] = {"start": "high", "downgrades": {}, "assessed": False,
                            "level": "not assessed", "score": None, "symbols": "",
                            "label": "Not assessed", "prompts": prompts(analysis),
                            "facts": prompt_facts(analysis), "reasons": []}
    if judgements is None:
        base["note"] = "no GRADE judgements in review.toml for this outcome"
        return base
    if not isinstance(judgements, dict):
        raise InputError(f"{analysis_name(analysis)}: GRADE judgements are "
                         f"{type(judgements).__name__}; expected a table (dict) or None")
    start = judgements.get("start") or "high"
    if start not in START_SCORES:
        raise InputError(f"{_where(judgements, analysis)}: field 'start' is {start!r}; expected "
                         "'high' (randomised trials) or 'low' (observational studies)")
    base["start"] = start
    if judgements.get("comment"):
        base["comment"] = str(judgements["comment"])
    domains = {name: _domain(judgements, name, analysis) for name in DOMAINS}
    base["downgrades"] = {k: v for k, v in domains.items() if v is not None}
    missing = [DOMAIN_LABELS[k] for k, v in domains.items() if v is None]
    if missing:
        base["note"] = "judgement missing for " + ", ".join(missing)
        return base
    if pooled(analysis) is None:
        base["note"] = "no study contributed data"
        return base
    judged = {k: v for k, v in domains.items() if v is not None}  # all of them (none missing)
    total = sum(v["downgrade"] for v in judged.values())
    score = max(1, START_SCORES[start] - total)
    level, label, symbols = LEVELS[score]
    reasons = []
    for name, v in judged.items():
        if v["downgrade"]:
            levels = "one level" if v["downgrade"] == 1 else "two levels"
            reasons.append(f"Downgraded {levels} for {DOMAIN_LABELS[name]}: "
                           f"{v['reason'] or 'no reason given'}")
    base.update(assessed=True, level=level, score=score, symbols=symbols, label=label,
                total_downgrade=total, reasons=reasons)
    return base
