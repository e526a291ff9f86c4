"""Assemble the analyses of a review: one per comparison x outcome x time window.

For each study the assessment in the window is chosen by the window's rule, the arms of the
comparison are found and paired (:mod:`evsynth.review.arms`: treatment names, multi-arm trials
combined or split, Cochrane Handbook 23.3.4), and the effect and its variance come from
:func:`evsynth.effect_size` (arm-level data), its generic inverse-variance measure ``GEN``
(contrast-level data, from the CI or SE) or :func:`evsynth.convert.loghr_from_oe` /
:func:`~evsynth.convert.loghr_from_logrank` (O - E and V, log-rank P values). The pooling is
:mod:`evsynth.review.pooling`: :func:`evsynth.meta` (metafor ``rma.uni``), with the prediction
interval from :meth:`~evsynth.models.meta.MetaResult.predict` (metafor ``predict.rma``), or
:func:`evsynth.meta_mh` / :func:`evsynth.meta_peto` (RevMan's M-H random effects there). This
module adds no formulas of its own: it selects, pairs, orients and labels data, and reads
fitted results.

Choices (documented in docs/results-schema.md):

- A study's assessment in a window: ``rule = "closest"`` takes the time point closest to
  ``target_weeks`` (a tie goes to the later one), ``"latest"`` the last one. The time point is
  chosen before looking at which data it has, so data availability never drives the choice.
- At that time point arm-level data are used when both arms are there, else a contrast row.
- Which data enter which measure (Cochrane Handbook v6.4 section 10.5.2: mean differences of
  final values and of change scores may be combined; standardised ones may not):
  ``MD`` final, change or (follow-up values of) baseline_followup rows, and MD contrasts;
  ``SMD`` final or follow-up values, and SMD contrasts; ``MD_CHANGE`` change rows,
  baseline_followup rows (change SD imputed with the review's correlation, Handbook 6.5.2.8)
  and MD contrasts; ``SMD_CHANGE`` change and baseline_followup rows; ``OR``, ``RR``, ``RD``
  events and contrasts of the same measure. Anything else is excluded with the reason.
- Contrast rows are turned to intervention minus control (or intervention over control) when
  the source gives the other orientation, or when an arm-based contrast compares the
  comparison's control with its intervention; a row whose orientation is unknown is excluded
  with the reason "direction of effect not reported (sign convention unknown)", never guessed.
- ``HR`` takes HR contrasts, O - E and V rows and log-rank P rows; ``IRR``/``IRD`` take rate
  rows (events, person-time) and contrasts of the same measure. M-H and Peto pooling need
  events per group: contrast rows are excluded from them with the reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from evsynth import transf
from evsynth.errors import InputError
from evsynth.review.arms import (
    Group,
    contrast_reversed,
    group_of,
    pair_arms,
    pair_label,
    side_of,
)
from evsynth.review.load import Review
from evsynth.review.pooling import Pooled, fit_iv, method_label, pool, zero_options
from evsynth.review.schema import (
    HIGH_RISK,
    RATIO_MEASURES,
    Comparison,
    Outcome,
    OutcomeRow,
    StudyRow,
    Window,
)

if TYPE_CHECKING:
    from evsynth.models.meta import MetaResult

#: (effect_size call kind, effect_size arguments (None = not reported), uses_r), or the reason
#: why the data cannot enter the analysis
Recipe = tuple[tuple[Any, ...], dict[str, float | None], bool] | str

UNKNOWN_DIRECTION = "direction of effect not reported (sign convention unknown)"
FIXED = ("EE", "FE", "CE")
#: measures computed from 2x2 tables / person-time (zero-cell options apply)
COUNT_MEASURES = ("OR", "RR", "RD", "IRR", "IRD")


# ============================================================================ data selection
@dataclass
class StudyInput:
    """One study's data at its chosen time point, ready for :func:`evsynth.effect_size`."""

    study_id: str
    t: float
    recipe: tuple[Any, ...]  # effect_size call kind, see _recipe
    args: dict[str, float | None]  # one value per effect_size argument (None: not reported)
    uses_r: bool  # the change-score SD is imputed with the review's correlation
    entry: dict[str, Any]  # the analysis "studies" entry, without yi/vi/weight
    participants: float | None
    lines: list[int] = field(default_factory=list)
    #: unique label of the row in the analysis (the study id, or "id (A vs C)" for a split)
    slab: str = ""

    def __post_init__(self) -> None:
        self.slab = self.slab or self.study_id


def choose_timepoint(times: list[float], window: Window) -> float | None:
    """The assessment time (weeks) a study contributes to ``window`` by its rule, or None."""
    inside = sorted({t for t in times if window.contains(t)})
    if not inside:
        return None
    if window.rule == "latest":
        return inside[-1]
    target = float(window.target_weeks)  # type: ignore[arg-type]  # checked by the schema
    return min(inside, key=lambda t: (abs(t - target), -t))


def _arm_recipe(measure: str, vt: str, i: Group, c: Group) -> Recipe:
    """(recipe, effect_size arguments, uses_r) for a pair of groups, or the reason why the
    pair cannot enter an analysis of ``measure``."""
    a, b = i.values, c.values
    if vt == "events":
        if measure not in ("OR", "RR", "RD"):
            return f"events and totals cannot enter a {measure} analysis"
        return (measure,), {"ai": a["events"], "n1i": a["total"], "ci": b["events"],
                            "n2i": b["total"]}, False
    if vt == "rate":
        if measure not in ("IRR", "IRD"):
            return f"events and person-time cannot enter a {measure} analysis"
        return (measure,), {"x1i": a["events"], "t1i": a["person_time"], "x2i": b["events"],
                            "t2i": b["person_time"]}, False
    if measure not in ("MD", "SMD", "MD_CHANGE", "SMD_CHANGE"):
        return f"means and SDs cannot enter a {measure} analysis"
    means: dict[str, float | None] = {"m1i": a["mean"], "m2i": b["mean"], "sd1i": a["sd"],
                                      "sd2i": b["sd"], "n1i": a["n"], "n2i": b["n"]}
    change: dict[str, float | None] = {
        "m1i_pre": a["baseline_mean"], "m1i_post": a["mean"], "sd1i_pre": a["baseline_sd"],
        "sd1i_post": a["sd"], "m2i_pre": b["baseline_mean"], "m2i_post": b["mean"],
        "sd2i_pre": b["baseline_sd"], "sd2i_post": b["sd"], "n1i": a["n"], "n2i": b["n"]}
    if measure == "MD":
        return ("MD",), means, False  # final, change, or the follow-up values
    if measure == "SMD":
        if vt == "change":
            return ("change scores cannot be combined with final values in an SMD analysis "
                    "(Cochrane Handbook 10.5.2); use measure SMD_CHANGE")
        return ("SMD",), means, False
    base = measure.removesuffix("_CHANGE")  # MD or SMD
    if vt == "change":
        return (base,), means, False
    if vt == "baseline_followup":
        return (measure,), change, True
    return (f"final values only: the change from baseline needs baseline values "
            f"(value_type baseline_followup) or change scores for {measure}")


def _turn(direction: str | None, reverse: bool) -> str | None:
    """The direction of a contrast after swapping its two treatments (when ``reverse``)."""
    if not reverse or direction in (None, "unknown"):
        return direction
    swap = {"intervention_minus_control": "control_minus_intervention",
            "control_minus_intervention": "intervention_minus_control",
            "intervention_over_control": "control_over_intervention",
            "control_over_intervention": "intervention_over_control",
            "lower_hazard_intervention": "lower_hazard_control",
            "lower_hazard_control": "lower_hazard_intervention"}
    return swap[direction]


def _contrast_recipe(measure: str, row: OutcomeRow, reverse: bool,
                     n_i: float | None, n_c: float | None) -> Recipe:
    """GEN recipe for a contrast row, oriented as intervention vs control (``reverse``: the
    row's ``treatment`` is the comparison's control)."""
    accepts = {"MD": ("MD",), "MD_CHANGE": ("MD",), "SMD": ("SMD",), "SMD_CHANGE": (),
               "OR": ("OR",), "RR": ("RR",), "RD": ("RD",), "HR": ("HR",), "IRR": ("IRR",),
               "IRD": ("IRD",)}[measure]
    if row.measure not in accepts:
        return (f"contrast reported as {row.measure}; it cannot enter a {measure} analysis"
                + (" (arm-level data would be needed)" if measure not in ("HR",) else ""))
    direction = _turn(row.direction, reverse)
    if direction == "unknown":
        return UNKNOWN_DIRECTION
    if row.value_type == "o_minus_e":
        from evsynth.effects.conversions import loghr_from_oe

        yi, vi = loghr_from_oe(float(row.o_minus_e or 0.0), float(row.variance or 0.0))
        if direction == "control_over_intervention":
            yi = -float(yi)
        return ("GENV",), {"yi": float(yi), "vi": float(vi)}, False
    if row.value_type == "logrank":
        from evsynth.effects.conversions import loghr_from_logrank

        sign = -1.0 if direction == "lower_hazard_intervention" else 1.0
        e_i, e_c = row.events_intervention, row.events_control
        if reverse:
            e_i, e_c = e_c, e_i
        if e_i is not None and e_c is not None:
            yi, vi = loghr_from_logrank(float(row.p_value or 1.0), sign, events1=e_i,
                                        events2=e_c)
        elif n_i is None or n_c is None:
            return ("log-rank P value with the total events: the numbers randomised "
                    "(n_intervention, n_control) are needed for the variance (Tierney 2007)")
        elif row.events is not None and row.events > n_i + n_c:
            return (f"log-rank row: {row.events:g} events exceed the {n_i + n_c:g} "
                    "participants randomised (n_intervention + n_control); check the counts")
        else:
            yi, vi = loghr_from_logrank(float(row.p_value or 1.0), sign, events=row.events,
                                        n1=n_i, n2=n_c)
        return ("GENV",), {"yi": float(yi), "vi": float(vi)}, False
    est, lb, ub, se = row.estimate, row.ci_lb, row.ci_ub, row.se
    if est is None:  # the schema requires an estimate in a contrast row
        return "contrast row without an estimate"
    ratio = row.measure in RATIO_MEASURES
    if direction == "control_minus_intervention":
        est, lb, ub = -est, (None if ub is None else -ub), (None if lb is None else -lb)
    elif direction == "control_over_intervention":
        est, lb, ub = 1 / est, (None if ub is None else 1 / ub), (None if lb is None else 1 / lb)
    args: dict[str, float | None] = {"yi": est, "sei": np.nan if se is None else se,
            "ci_lb": np.nan if lb is None else lb, "ci_ub": np.nan if ub is None else ub}
    return ("GEN", ratio, float(row.ci_level or 95.0)), args, False


def _contrast_sizes(r: OutcomeRow, reverse: bool, study: StudyRow | None
                    ) -> tuple[float | None, float | None]:
    """The contrast's group sizes as (intervention, control) of the comparison."""
    ni: float | None = r.n_intervention
    nc: float | None = r.n_control
    if r.two_arm_format:  # studies.csv's sizes are those of the two-arm comparison
        ni = ni or (study.n_intervention if study else None)
        nc = nc or (study.n_control if study else None)
    return (nc, ni) if reverse else (ni, nc)


def _participants_of(groups: tuple[Group, Group]) -> float | None:
    sizes = [g.size for g in groups]
    if any(s is None for s in sizes):
        return None
    total = float(sum(s for s in sizes if s is not None))
    return int(total) if total.is_integer() else total


@dataclass
class _Found:
    """The studies of one analysis and what was done with them."""

    used: list[StudyInput] = field(default_factory=list)
    excluded: list[dict[str, Any]] = field(default_factory=list)
    any_in_window: bool = False
    warnings: list[str] = field(default_factory=list)


def select_studies(review: Review, comp: Comparison, outcome: Outcome, window: Window
                   ) -> tuple[list[StudyInput], list[dict[str, Any]], bool]:
    """Studies entering one analysis, those left out (with reasons), and whether any study of
    the comparison and outcome has an assessment in the window."""
    f = _select(review, comp, outcome, window)
    return f.used, f.excluded, f.any_in_window


def _select(review: Review, comp: Comparison, outcome: Outcome, window: Window,
            pair: Callable[..., Any] | None = None) -> _Found:
    # pair: how arms are paired (default pair_arms with the comparison's multiarm option;
    # evsynth.review.dependence keeps shared groups whole, their covariance in V)
    by_study = review.rows_for(comp, outcome.id)
    studies = review.study_by_id
    rob = review.rob_overall(outcome.id)
    found = _Found()
    pooling = _model_for(review, outcome)["pooling"]
    for sid in sorted(by_study):
        rows = by_study[sid]
        t = choose_timepoint([r.timepoint_weeks for r, _ in rows], window)
        if t is None:
            continue
        found.any_in_window = True
        at_t = [(r, ln) for r, ln in rows if r.timepoint_weeks == t]
        sides: dict[str, list[Group]] = {"i": [], "c": []}
        for r, ln in at_t:
            side = side_of(r, comp, r.treatment)
            if not r.is_contrast and side is not None:  # row_serves: always on a side
                sides[side].append(group_of(r, ln))
        contrasts = [(r, ln) for r, ln in at_t if r.is_contrast]
        st = studies.get(sid)
        reasons: list[str] = []
        chosen: list[StudyInput] = []
        if sides["i"] and sides["c"]:
            pairing = (pair or pair_arms)(sides["i"], sides["c"], comp.multiarm)
            vt = sides["i"][0].value_type
            for gi, gc in pairing.pairs:
                got = _arm_recipe(outcome.measure, vt, gi, gc)
                if isinstance(got, str):
                    reasons.append(got)
                    break
                recipe, args, uses_r = got
                slab = sid if len(pairing.pairs) == 1 else f"{sid} ({pair_label(gi, gc)})"
                entry = _entry(sid, slab, st, t, "arm", vt, gi, gc, pairing.multiarm,
                               rob.get(sid))
                chosen.append(StudyInput(sid, t, recipe, args, uses_r, entry,
                                         _participants_of((gi, gc)), gi.lines + gc.lines,
                                         slab))
            if reasons:
                chosen = []
        elif sides["i"] or sides["c"]:
            only = "intervention" if sides["i"] else "control"
            names = ", ".join(t_ for g in sides["i"] + sides["c"] for t_ in g.treatments)
            reasons.append(f"only the {only} arm is reported at {t:g} weeks"
                           + (f" ({names})" if names not in ("intervention", "control") else ""))
        if not chosen:
            usable: list[tuple[OutcomeRow, int, Any, bool, tuple]] = []
            for r, ln in contrasts:
                rev = contrast_reversed(r, comp)
                ni, nc = _contrast_sizes(r, rev, st)
                got = _contrast_recipe(outcome.measure, r, rev, ni, nc)
                if isinstance(got, str):
                    reasons.append(got)
                else:
                    usable.append((r, ln, got, rev, (ni, nc)))
            if pooling != "IV" and usable:
                reasons.append(f"contrast-level data cannot enter a "
                               f"{method_label(pooling, True).split(',')[0]} analysis (it "
                               "needs events per group); use pooling 'IV' to include them")
                usable = []
            for r, ln, got, rev, (ni, nc) in usable:
                recipe, args, uses_r = got
                slab = sid if len(usable) == 1 else f"{sid} ({r.treatment} vs {r.comparator})"
                entry = _entry(sid, slab, st, t, "contrast", r.value_type, None, None, None,
                               rob.get(sid))
                entry["source"] = r.source
                entry["contrast"] = _contrast_entry(r, rev)
                parts = ni + nc if ni and nc else None
                chosen.append(StudyInput(sid, t, recipe, args, uses_r, entry,
                                         int(parts) if parts and float(parts).is_integer()
                                         else parts, [ln], slab))
            if len(usable) > 1:
                shared = _shared_groups(usable, comp)
                info = {"option": "contrasts", "reference": "Cochrane Handbook v6.4, section "
                        "23.3.4", "text": (f"{len(usable)} contrasts of this study enter the "
                                           f"analysis; the shared group ({shared}) is counted "
                                           f"{len(usable)} times (contrast-level data cannot be "
                                           "combined or split)"),
                        "double_counted": True}
                for it in chosen:
                    it.entry["multiarm"] = info
                found.warnings.append(f"{sid}: {info['text']}")
        if not chosen:
            found.excluded.append({"study_id": sid, "timepoint_weeks": t,
                                   "reason": "; ".join(dict.fromkeys(reasons)),
                                   "lines": [ln for _, ln in at_t]})
            continue
        found.used.extend(chosen)
    return found


def _shared_groups(usable: list[tuple[OutcomeRow, int, Any, bool, tuple]],
                   comp: Comparison) -> str:
    names: dict[str, int] = {}
    for r, *_ in usable:
        for t in (r.treatment, r.comparator):
            if t:
                names[t] = names.get(t, 0) + 1
    shared = [t for t, k in names.items() if k > 1]
    return ", ".join(shared) or comp.control_name


def _contrast_entry(r: OutcomeRow, reverse: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"measure": r.measure, "value_type": r.value_type,
                           "direction": r.direction, "n_intervention": r.n_intervention,
                           "n_control": r.n_control}
    if r.value_type == "contrast":
        out |= {"estimate": r.estimate, "ci_lb": r.ci_lb, "ci_ub": r.ci_ub,
                "ci_level": r.ci_level, "se": r.se}
    elif r.value_type == "o_minus_e":
        out |= {"o_minus_e": r.o_minus_e, "variance": r.variance,
                "method": "log HR = (O - E) / V, var = 1 / V (Cochrane Handbook 6.8.2; "
                          "Tierney 2007)"}
    else:
        per_arm = r.events_intervention is not None
        out |= {"p_value": r.p_value, "events": r.events,
                "events_intervention": r.events_intervention,
                "events_control": r.events_control,
                "method": ("V = O1 O2 / (O1 + O2) (Parmar 1998)" if per_arm else
                           "V = O n1 n2 / (n1 + n2)^2 (Tierney 2007)")
                + "; O - E = sign sqrt(V) z(p/2); log HR = (O - E) / V, var = 1 / V"}
    if not r.two_arm_format:
        out |= {"treatment": r.treatment, "comparator": r.comparator, "reversed": reverse}
    return out


def _entry(sid: str, slab: str, st: StudyRow | None, t: float, level: str, vt: str,
           gi: Group | None, gc: Group | None, multiarm: dict[str, Any] | None,
           rob_overall: str | None = None) -> dict[str, Any]:
    label = st.label if st and st.label else sid
    if slab != sid:
        label = f"{label}{slab[len(sid):]}"
    sources = [*(gi.sources if gi else []), *(gc.sources if gc else [])]
    return {"study_id": sid, "slab": slab, "label": label, "year": st.year if st else None,
            "timepoint_weeks": t, "data_level": level, "value_type": vt,
            "intervention": gi.as_entry() if gi else None,
            "control": gc.as_entry() if gc else None,
            "risk_of_bias": rob_overall,
            "source": "; ".join(dict.fromkeys(sources)) or None, "multiarm": multiarm}


# ============================================================================ effect sizes
#: "MD: study 'S1 (A vs B)' (row 1): " at the start of an effect_size error about one study
_STUDY_PREFIX = re.compile(r"^(?:[A-Z_0-9]+: )?study .*?\(row \d+\): ")


def unestimable_reason(note: str, yi: float, vi: float) -> str:
    """The exclusion reason of a study whose effect size cannot enter the analysis (a value
    of :func:`compute_effects` that is not finite, or a sampling variance of 0)."""
    if note:
        return f"effect not estimable: {note}"
    if math.isfinite(yi) and vi == 0:
        return ("effect not estimable: its sampling variance is 0 (no spread in its data: SDs "
                "of 0, or a change-score SD imputed as 0 from a correlation of 1 with equal "
                "baseline and follow-up SDs)")
    return "effect not estimable: undefined"


def compute_effects(items: list[StudyInput], r: float,
                    zero: dict[str, tuple[Any, Any]] | None = None, peto: bool = False
                    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """yi, vi (analysis scale) and notes for each study, one :func:`evsynth.effect_size` call
    per kind of data; ``r`` is the imputed baseline/follow-up correlation, ``zero`` the
    zero-cell options (:func:`evsynth.review.pooling.zero_options`; first elements used) and
    ``peto`` whether the per-study odds ratios are Peto's (Peto pooling, metafor rma.peto)."""
    from evsynth.effects.escalc import effect_size

    yi = np.full(len(items), np.nan)
    vi = np.full(len(items), np.nan)
    notes = [""] * len(items)
    groups: dict[tuple, list[int]] = {}
    for j, it in enumerate(items):
        groups.setdefault(it.recipe, []).append(j)
    def sizes(recipe: tuple, idx: list[int]) -> Any:
        # Any: the data columns go to effect_size's **columns (mypy would match every keyword)
        cols: dict[str, Any] = {k: np.array([items[j].args[k] for j in idx], dtype=float)
                                for k in items[idx[0]].args}
        slab = [items[j].slab for j in idx]
        if recipe[0] == "GEN":
            return effect_size("GEN", slab=slab, ratio=recipe[1], level=recipe[2], **cols)
        if recipe[0] == "GENV":
            return effect_size("GEN", slab=slab, **cols)
        if recipe[0] in ("MD_CHANGE", "SMD_CHANGE"):
            return effect_size(recipe[0], slab=slab, ri=np.full(len(idx), r), **cols)
        if recipe[0] in COUNT_MEASURES and zero is not None:
            code = "PETO" if peto and recipe[0] == "OR" else recipe[0]
            return effect_size(code, slab=slab, add=zero["add"][0], to=zero["to"][0],
                               drop00=zero["drop00"][0], **cols)
        return effect_size(recipe[0], slab=slab, **cols)

    for recipe, idx in groups.items():
        try:
            parts = [(idx, sizes(recipe, idx))]
        except InputError:
            # one study's data the measure cannot use (arms of one participant, a split
            # shared group below escalc's minimum, ...): that study is left out with the
            # reason, the others are computed; one study no longer stops the whole run
            parts = []
            for j in idx:
                try:
                    parts.append(([j], sizes(recipe, [j])))
                except InputError as exc:
                    # the study is named by the caller: its label and row in this call go
                    reason = _STUDY_PREFIX.sub("", str(exc), count=1)
                    notes[j] = f"its data give no {recipe[0]}: {reason}"
        for ids, out in parts:
            yi[ids] = out["yi"].to_numpy()
            vi[ids] = out["vi"].to_numpy()
            for j, note in zip(ids, out["note"], strict=True):
                notes[j] = note
    return yi, vi, notes


# ============================================================================ model fits
def _model_for(review: Review, outcome: Outcome) -> dict[str, Any]:
    """The analysis model of an outcome: [model] with the outcome's overrides, the pooling
    method (IV, MH, PETO), common or random effects, RevMan's label and the zero-cell
    options."""
    m = review.config.model
    pooling = outcome.pooling or m.pooling
    method = outcome.method or m.method
    effects = outcome.effects or m.effects
    if pooling not in ("IV",) and outcome.measure not in (
            ("OR",) if pooling == "PETO" else ("OR", "RR", "RD", "IRR", "IRD")):
        pooling = "IV"  # [model].pooling does not apply to this measure (e.g. MD)
    if effects is None:
        effects = "common" if (pooling != "IV" or method in FIXED) else "random"
    if pooling == "PETO":
        effects = "common"
    common = effects == "common"
    if pooling == "IV" and common and method not in FIXED:
        method = "EE"
    if pooling == "IV" and not common and method in FIXED:
        method = "REML" if m.method in FIXED else m.method
    if pooling == "MH":
        method = "MH" if common else "DL"
    elif pooling == "PETO":
        method = "PETO"
    zero = zero_options(pooling, outcome.measure,
                        outcome.add if outcome.add is not None else m.add,
                        outcome.to if outcome.to is not None else m.to,
                        outcome.drop00 if outcome.drop00 is not None else m.drop00)
    return {"method": method, "test": (outcome.test or m.test) if pooling == "IV" else "z",
            "level": m.level, "pi_type": m.pi_type,
            "prediction_interval": (m.prediction_interval if outcome.prediction_interval is None
                                    else outcome.prediction_interval),
            "pooling": pooling, "effects": effects, "common": common,
            "label": method_label(pooling, common),
            "zero_cells": ({k: list(v) for k, v in zero.items()}
                           if outcome.measure in COUNT_MEASURES else None)}


def _fit(yi: np.ndarray, vi: np.ndarray, labels: list[str], model: dict[str, Any],
         subgroup: list[str] | None = None) -> MetaResult:
    """:func:`evsynth.meta` with the analysis model (inverse variance); k = 1 is fitted as a
    common-effect z model (the study's own estimate and Wald CI)."""
    return fit_iv(yi, vi, labels, {**model, "method": model["method"]
                                   if model.get("pooling", "IV") == "IV" else "EE"}, subgroup)


def pooled_summary(fit: MetaResult, model: dict[str, Any]) -> dict[str, Any]:
    """The ``pooled`` dict of an inverse-variance analysis from a fitted :class:`MetaResult`."""
    from evsynth.review.pooling import _iv_summary

    return _iv_summary(fit, {"common": model.get("common", False), **model})


def _tables(items: list[StudyInput]) -> dict[str, np.ndarray] | None:
    """The 2x2 / person-time data of the studies (Mantel-Haenszel and Peto pooling)."""
    if not items:
        return None
    keys = {"ai": "ai", "n1i": "n1i", "ci": "ci", "n2i": "n2i", "x1i": "x1i", "t1i": "t1i",
            "x2i": "x2i", "t2i": "t2i"}
    first = items[0].args
    if not all(k in first for k in ("ai", "n1i")) and "x1i" not in first:
        return None
    return {keys[k]: np.array([float(it.args[k] or 0) for it in items])
            for k in first if k in keys}


def _f(x: Any) -> float | None:
    """A float for results.json (None for NaN / None)."""
    if x is None:
        return None
    x = float(np.asarray(x).ravel()[0]) if np.ndim(x) else float(x)
    return x if np.isfinite(x) else None


# ============================================================================ small-study effects
#: fewest studies for funnel-plot asymmetry tests (Cochrane Handbook v6.4, 13.3.5.4)
MIN_K_SMALL_STUDY = 10
#: fewest studies for leave-one-out and influence diagnostics (each deletion fit keeps k - 1 >= 2)
MIN_K_ROBUSTNESS = 3
SMALL_STUDY_CAUTION = ("Tests for funnel plot asymmetry should be used only when there are at "
                       "least 10 studies included in the meta-analysis, because when there are "
                       "fewer studies the power of the tests is too low to distinguish chance "
                       "from real asymmetry (Cochrane Handbook 13.3.5.4)")


def small_study(fit: MetaResult, k: int) -> dict[str, Any]:
    """The ``small_study`` block of an analysis from its fitted model (k >= 1).

    k >= 10: Egger's classic regression test (:meth:`MetaResult.regtest` with ``model="lm",
    predictor="sei"``: weighted regression of yi on sei, t(k - 2); Egger et al. 1997, BMJ
    315:629; metafor ``regtest(model="lm")``), Begg and Mazumdar's rank correlation
    (:meth:`~MetaResult.ranktest`, metafor ``ranktest``) and trim-and-fill (L0 estimator, side
    from the data; :meth:`~MetaResult.trimfill`, metafor ``trimfill``; Duval & Tweedie 2000).
    k < 10: no tests, the Cochrane Handbook's caution (13.3.5.4) with k. A test that cannot be
    computed (e.g. an exact regression fit) is None with the reason in ``notes``. Estimates and
    CIs are on the analysis scale (log for OR/RR), as ``pooled``.
    """
    out: dict[str, Any] = {"k": k, "assessed": k >= MIN_K_SMALL_STUDY, "min_k": MIN_K_SMALL_STUDY,
                           "text": None, "egger": None, "begg": None, "trimfill": None,
                           "egger_p": None, "begg_p": None, "trimfill_k0": None, "notes": []}
    if k < MIN_K_SMALL_STUDY:
        out["text"] = (f"k = {k}: no funnel plot or test for small-study effects. "
                       f"{SMALL_STUDY_CAUTION}.")
        return out
    try:
        eg = fit.regtest(model="lm", predictor="sei")
        out["egger"] = {"test": "Egger's regression test (classic weighted regression of yi on "
                                "sei, Egger et al. 1997; metafor regtest(model = \"lm\", "
                                "predictor = \"sei\"))",
                        "model": eg.model, "predictor": eg.predictor, "statistic": _f(eg.zval),
                        "statistic_name": "t" if eg.dfs is not None else "z", "df": eg.dfs,
                        "p": _f(eg.pval), "limit_estimate": _f(eg.est),
                        "limit_ci_lb": _f(eg.ci_lb), "limit_ci_ub": _f(eg.ci_ub)}
        out["egger_p"] = out["egger"]["p"]
    except InputError as exc:
        out["notes"].append(f"Egger's test not computed: {exc}")
    try:
        rt = fit.ranktest()
        out["begg"] = {"test": "Begg and Mazumdar rank correlation (Kendall's tau; metafor "
                               "ranktest)", "tau": _f(rt.tau), "p": _f(rt.pval),
                       "exact": bool(rt.exact)}
        out["begg_p"] = out["begg"]["p"]
    except InputError as exc:
        out["notes"].append(f"Begg's test not computed: {exc}")
    try:
        tf = fit.trimfill()
        out["trimfill"] = {"method": "trim-and-fill, L0 estimator (Duval & Tweedie 2000; metafor "
                                     "trimfill)", "estimator": tf.estimator, "k0": int(tf.k0),
                           "side": tf.side, "se_k0": _f(tf.se_k0), "k": int(tf.fit.k),
                           "estimate": _f(tf.fit.beta), "ci_lb": _f(tf.fit.ci_lb),
                           "ci_ub": _f(tf.fit.ci_ub), "tau2": _f(tf.fit.tau2),
                           "filled": [{"yi": float(y), "vi": float(v)} for y, v in
                                      zip(tf.yi[tf.fill], tf.vi[tf.fill], strict=True)]}
        out["trimfill_k0"] = int(tf.k0)
    except InputError as exc:
        out["notes"].append(f"trim-and-fill not computed: {exc}")
    out["text"] = (f"k = {k}: funnel plot (contour-enhanced) with Egger's and Begg's tests and "
                   "trim-and-fill. Asymmetry tests have low power and asymmetry has other causes "
                   "than publication bias (Cochrane Handbook 13.3.5).")
    return out


def _significant(lb: float | None, ub: float | None) -> bool | None:
    """Whether a CI on the analysis scale excludes the null (0: differences and log ratios)."""
    if lb is None or ub is None:
        return None
    return bool(lb > 0 or ub < 0)


def _display(x: float | None, ratio: bool) -> float | None:
    """A value on the display scale: :func:`evsynth.transf.exp` for ratio measures (OR, RR), as
    the forest plot."""
    if x is None:
        return None
    return float(transf.exp(x)) if ratio else x


def _too_few_for_robustness(k: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The leave-one-out and influence blocks when k < :data:`MIN_K_ROBUSTNESS`."""
    why = (f"k = {k}: leave-one-out and influence diagnostics need at least "
           f"{MIN_K_ROBUSTNESS} studies (leaving one out must leave a meta-analysis of 2)")
    return ({"k": k, "scale": None, "rows": None, "changes_conclusion": None, "note": why},
            {"k": k, "rows": None, "flagged": None, "note": why})


def _loo_row(study_id: str, ci: tuple[Any, Any, Any], het: tuple[Any, Any, Any], ratio: bool,
             full: bool | None, changes: list[str]) -> dict[str, Any]:
    """One leave-one-out row: ``ci`` is (estimate, ci_lb, ci_ub) on the analysis scale, ``het``
    (pval, tau2, I2); the study is added to ``changes`` when omitting it moves the CI across
    the null compared with the full analysis (``full``)."""
    est, lb, ub = ci
    pval, tau2, i2 = het
    sig = _significant(lb, ub)
    changed = None if sig is None or full is None else sig != full
    if changed:
        changes.append(study_id)
    return {"study_id": study_id, "estimate": _display(est, ratio),
            "ci_lb": _display(lb, ratio), "ci_ub": _display(ub, ratio),
            "pval": pval, "tau2": tau2, "I2": i2,
            "excludes_null": sig, "changes_conclusion": changed}


def _loo_block(k: int, ratio: bool, full: bool | None, rows: list[dict[str, Any]],
               changes: list[str], method: str) -> dict[str, Any]:
    return {"k": k, "scale": "ratio (exp of the log scale)" if ratio else "analysis",
            "full_excludes_null": full, "rows": rows, "changes_conclusion": changes,
            "method": method, "note": None}


def robustness(fit: MetaResult, k: int, ratio: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``leave_one_out`` and ``influence`` blocks of an analysis (k >= 1).

    Leave-one-out: :meth:`MetaResult.leave1out` (metafor ``leave1out``), one row per omitted
    study with the estimate and CI on the display scale (exp for OR/RR), tau^2 and I^2 (%), and
    whether the CI's position against the null differs from the full analysis (on the analysis
    scale: 0). Influence: :meth:`MetaResult.influence` (Viechtbauer & Cheung 2010; metafor
    ``influence.rma.uni``): rstudent, DFFITS, Cook's distance, covariance ratio, hat, weight (%)
    and metafor's influential flag. Both need k >= 3; below that ``rows`` is None and ``note``
    says why.
    """
    if k < MIN_K_ROBUSTNESS:
        return _too_few_for_robustness(k)
    full = _significant(_f(fit.ci_lb), _f(fit.ci_ub))
    loo = fit.leave1out().frame
    rows: list[dict[str, Any]] = []
    changes: list[str] = []
    for r in loo.itertuples(index=False):
        rows.append(_loo_row(str(r.slab), (_f(r.estimate), _f(r.ci_lb), _f(r.ci_ub)),
                             (_f(r.pval), _f(r.tau2), _f(r.I2)), ratio, full, changes))
    loo_block = _loo_block(k, ratio, full, rows, changes,
                           "leave-one-out (metafor leave1out), same model as the main analysis")
    inf = fit.influence()
    fr = inf.frame
    irows = []
    for j in range(k):
        irows.append({"study_id": str(fr["slab"].iloc[j]), "rstudent": _f(fr["rstudent"].iloc[j]),
                      "dffits": _f(fr["dffits"].iloc[j]), "cook_d": _f(fr["cook_d"].iloc[j]),
                      "cov_r": _f(fr["cov_r"].iloc[j]), "tau2_del": _f(fr["tau2_del"].iloc[j]),
                      "hat": _f(fr["hat"].iloc[j]), "weight": _f(fr["weight"].iloc[j]),
                      "flagged": bool(inf.is_infl[j])})
    inf_block = {"k": k, "rows": irows,
                 "flagged": [r["study_id"] for r in irows if r["flagged"]],
                 "method": "case-deletion diagnostics (Viechtbauer & Cheung 2010; metafor "
                           "influence.rma.uni); flagged when |DFFITS| > 3 sqrt(p/(k-p)), "
                           "P(chi2_p <= Cook's d) > 0.5, hat > 3p/k or any |DFBETAS| > 1",
                 "note": None}
    return loo_block, inf_block


def refit(analysis: dict[str, Any]) -> MetaResult:
    """The inverse-variance model of an analysis refitted from its ``studies`` (yi, vi) and
    ``model``: the same :func:`evsynth.meta` call as :func:`build_analysis` for IV pooling (for
    figures drawn from a fit); for Mantel-Haenszel / Peto pooling the inverse-variance fit of
    the same effects (common effect, or DerSimonian-Laird for M-H random effects), on which
    the funnel plot and trim-and-fill are drawn."""
    studies = analysis["studies"]
    yi = np.array([s["yi"] for s in studies], dtype=float)
    vi = np.array([s["vi"] for s in studies], dtype=float)
    return _fit(yi, vi, [s.get("slab") or s["study_id"] for s in studies],
                _iv_analogue(analysis["model"]))


def _iv_analogue(model: dict[str, Any]) -> dict[str, Any]:
    """The inverse-variance model closest to an MH/Peto model (for diagnostics that need
    metafor's rma.uni: trim-and-fill, influence, funnel plot)."""
    if model.get("pooling", "IV") == "IV":
        return model
    return {**model, "pooling": "IV", "method": "EE" if model.get("common", True) else "DL",
            "test": "z"}


def _short(fit: MetaResult) -> dict[str, Any]:
    return {"k": int(fit.k), "estimate": _f(fit.beta), "ci_lb": _f(fit.ci_lb),
            "ci_ub": _f(fit.ci_ub), "tau2": _f(fit.tau2) if fit.k > 1 else None,
            "I2": _f(fit.I2) if fit.k > 1 else None}


def _short_pooled(p: Pooled, k: int) -> dict[str, Any]:
    d = p.pooled
    return {"k": k, "estimate": d["estimate"], "ci_lb": d["ci_lb"], "ci_ub": d["ci_ub"],
            "tau2": d["tau2"] if k > 1 else None, "I2": d["I2"] if k > 1 else None}


@dataclass
class _Data:
    """The per-study data of one analysis, for refits on subsets."""

    yi: np.ndarray
    vi: np.ndarray
    labels: list[str]
    tables: dict[str, np.ndarray] | None
    model: dict[str, Any]
    measure: str

    def fit(self, rows: list[int] | np.ndarray, model: dict[str, Any] | None = None) -> Pooled:
        from evsynth.review.pooling import refit_subset

        return refit_subset(self.yi, self.vi, self.labels, model or self.model, self.measure,
                            self.tables, rows)


def _subgroups(review: Review, yi: np.ndarray, vi: np.ndarray, items: list[StudyInput],
               model: dict[str, Any], parts: list[float | None],
               data: _Data | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Every pre-specified subgroup analysis that can be fitted (>= 2 levels, k >= 2)."""
    out: list[dict[str, Any]] = []
    notes: list[str] = []
    studies = review.study_by_id
    labels = [it.slab for it in items]
    for sg in review.config.subgroups:
        values = []
        for it in items:
            st = studies.get(it.study_id)
            v = getattr(st, sg.column, None) if st else None
            if v is None and st is not None and st.model_extra:
                v = st.model_extra.get(sg.column)
            values.append("not reported" if v in (None, "") else str(v))
        if len(items) < 2 or len(set(values)) < 2:
            continue
        if data is not None and model["pooling"] != "IV":
            try:
                out.append(_subgroups_mh(sg, values, data, parts))
            except InputError as exc:
                notes.append(f"subgroup analysis by {sg.label or sg.id} not estimable: {exc}")
            continue
        try:
            fit = _fit(yi, vi, labels, model, subgroup=values)
        except InputError as exc:
            notes.append(f"subgroup analysis by {sg.label or sg.id} not estimable: {exc}")
            continue
        # meta(subgroup=...) sets the subgroup fits and the test for subgroup differences
        assert fit.subgroups is not None and fit.Q_between_df is not None
        levels = []
        for lvl, sub in fit.subgroups.items():
            members = [j for j, v in enumerate(values) if v == lvl]
            known = [n for n in (parts[j] for j in members) if n is not None]
            levels.append({"label": str(lvl), "k": int(sub.k),
                           "participants": _count(sum(known)) if known else None,
                           "estimate": _f(sub.beta), "ci_lb": _f(sub.ci_lb),
                           "ci_ub": _f(sub.ci_ub),
                           "tau2": _f(sub.tau2) if sub.k > 1 else None,
                           "I2": _f(sub.I2) if sub.k > 1 else None,
                           "QE": _f(sub.QE) if sub.k > 1 else None, "QE_df": int(sub.k) - 1,
                           "QEp": _f(sub.QEp) if sub.k > 1 else None, "zval": _f(sub.zval),
                           "df": None if sub.df is None else _f(sub.df), "pval": _f(sub.pval),
                           "study_ids": [labels[j] for j in members]})
        out.append({"id": sg.id, "variable": sg.column, "label": sg.label or sg.column,
                    "levels": levels, "values": values, "Q_between": _f(fit.Q_between),
                    "Q_between_df": int(fit.Q_between_df), "Q_between_p": _f(fit.Q_between_p),
                    "I2_between": _f(fit.Q_between_I2),
                    "method": "separate tau^2 per subgroup (RevMan; Cochrane Handbook 10.11.3.1)"})
    return out, notes


def _subgroups_mh(sg: Any, values: list[str], data: _Data,
                  parts: list[float | None]) -> dict[str, Any]:
    """Subgroups of an M-H / Peto analysis: the same pooling within each subgroup, and RevMan's
    test for subgroup differences, ``Q = sum w_g (theta_g - theta_w)^2`` with ``w_g = 1/SE_g^2``
    and G - 1 degrees of freedom (Deeks & Higgins 2010; Cochrane Handbook 10.11.3.1)."""
    from evsynth.models.engine import chi2_upper

    levels = []
    est, wts = [], []
    for lvl in dict.fromkeys(values):
        members = [j for j, v in enumerate(values) if v == lvl]
        sub = data.fit(members)
        d = sub.pooled
        known = [n for n in (parts[j] for j in members) if n is not None]
        levels.append({"label": lvl, "k": len(members),
                       "participants": _count(sum(known)) if known else None,
                       "estimate": d["estimate"], "ci_lb": d["ci_lb"], "ci_ub": d["ci_ub"],
                       "tau2": d["tau2"] if len(members) > 1 else None,
                       "I2": d["I2"] if len(members) > 1 else None,
                       "QE": d["QE"] if len(members) > 1 else None, "QE_df": len(members) - 1,
                       "QEp": d["QEp"] if len(members) > 1 else None,
                       "zval": d.get("zval"), "df": d.get("df"), "pval": d["pval"],
                       "study_ids": [data.labels[j] for j in members]})
        est.append(d["estimate"])
        wts.append(1.0 / d["se"] ** 2)
    e, w = np.array(est, dtype=float), np.array(wts, dtype=float)
    q = float(np.sum(w * (e - np.sum(w * e) / np.sum(w)) ** 2))
    df = len(levels) - 1
    return {"id": sg.id, "variable": sg.column, "label": sg.label or sg.column,
            "levels": levels, "values": values, "Q_between": q, "Q_between_df": df,
            "Q_between_p": float(chi2_upper(q, df)),
            "I2_between": max(0.0, (q - df) / q) * 100 if q > 0 else 0.0,
            "method": f"{data.model['label']} within subgroups; test for subgroup differences "
                      "from the subgroup estimates and SEs (RevMan 5; Cochrane Handbook "
                      "10.11.3.1)"}


def _count(x: float) -> float | int:
    return int(round(x)) if abs(x - round(x)) < 1e-9 else float(x)


def _sensitivity(review: Review, items: list[StudyInput], yi: np.ndarray, vi: np.ndarray,
                 model: dict[str, Any], fit: Any, data: _Data | None = None
                 ) -> list[dict[str, Any]]:
    sens = review.config.sensitivity
    out: list[dict[str, Any]] = []
    labels = [it.slab for it in items]
    k = len(items)
    mh = data is not None and model["pooling"] != "IV"
    if sens.common_effect and k >= 2 and not model.get("common", model["method"] in FIXED):
        if mh and data is not None:
            ce_p = data.fit(list(range(k)), {**model, "common": True,
                                             "label": method_label(model["pooling"], True)})
            out.append({"name": "common effect", **_short_pooled(ce_p, k),
                        "note": f"{ce_p.method_info['pooling']} instead of {model['label']}"})
        else:
            ce = _fit(yi, vi, labels, {**model, "method": "EE", "test": "z"})
            out.append({"name": "common effect", **_short(ce),
                        "note": f"common-effect (inverse-variance) model instead of random "
                                f"effects ({model['method']})"})
    if sens.change_score_correlations and any(it.uses_r for it in items):
        for r in review.config.change_scores.sensitivity:
            y2, v2, _ = compute_effects(items, r)
            ok = np.isfinite(y2) & np.isfinite(v2)
            if not ok.any():
                continue
            f2 = _fit(y2[ok], v2[ok], [labels[j] for j in np.flatnonzero(ok)], model)
            out.append({"name": f"change-score correlation {r:g}", **_short(f2),
                        "note": f"change-score SDs imputed with r = {r:g} instead of "
                                f"{review.config.change_scores.correlation:g}"})
    if sens.exclude_high_risk_of_bias and k >= 1:
        keep = [j for j, it in enumerate(items) if it.entry["risk_of_bias"] not in HIGH_RISK]
        dropped = [labels[j] for j in range(k) if j not in keep]
        if not dropped:
            pass  # nothing to leave out: the main analysis is the sensitivity analysis
        elif not keep:
            out.append({"name": "excluding high risk of bias", "k": 0, "estimate": None,
                        "ci_lb": None, "ci_ub": None, "tau2": None, "I2": None,
                        "note": "every study is at high risk of bias"})
        elif mh and data is not None:
            p3 = data.fit(keep)
            out.append({"name": "excluding high risk of bias", **_short_pooled(p3, len(keep)),
                        "note": f"left out: {', '.join(dropped)}"})
        else:
            f3 = _fit(yi[keep], vi[keep], [labels[j] for j in keep], model)
            out.append({"name": "excluding high risk of bias", **_short(f3),
                        "note": f"left out: {', '.join(dropped)}"})
    return out


def _robustness_mh(data: _Data, k: int, ratio: bool, full: dict[str, Any]
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Leave-one-out of an M-H / Peto analysis (the same pooling refitted without each study,
    as metafor leave1out.rma.mh / .rma.peto for the common effect); influence diagnostics
    are rma.uni's only (not computed)."""
    why_inf = ("influence diagnostics (metafor influence.rma.uni) are defined for "
               "inverse-variance models only; not computed for " + data.model["label"])
    if k < MIN_K_ROBUSTNESS:
        return _too_few_for_robustness(k)
    sig_full = _significant(full["ci_lb"], full["ci_ub"])
    rows: list[dict[str, Any]] = []
    changes: list[str] = []
    for j in range(k):
        keep = [i for i in range(k) if i != j]
        try:
            d = data.fit(keep).pooled
        except InputError:
            rows.append({"study_id": data.labels[j], "estimate": None, "ci_lb": None,
                         "ci_ub": None, "pval": None, "tau2": None, "I2": None,
                         "excludes_null": None, "changes_conclusion": None})
            continue
        rows.append(_loo_row(data.labels[j], (d["estimate"], d["ci_lb"], d["ci_ub"]),
                             (d["pval"], d["tau2"], d["I2"]), ratio, sig_full, changes))
    loo = _loo_block(k, ratio, sig_full, rows, changes,
                     f"leave-one-out, same pooling as the main analysis ({data.model['label']})")
    return loo, {"k": k, "rows": None, "flagged": None, "note": why_inf}


def control_summary(items: list[StudyInput], outcome: Outcome,
                    r: float | None = None) -> dict[str, Any]:
    """Control-group values of the included arm-level studies (for the SoF table).

    Continuous: the n-weighted mean of the control arms' final or follow-up means and the median
    control SD (outcome units); for a change-score measure (MD_CHANGE, SMD_CHANGE) also the
    median SD of the control arms' change, ``sd_change`` (reported, or from baseline and
    follow-up SDs with the review's correlation ``r`` by :func:`evsynth.convert.sd_change`,
    Cochrane Handbook 6.5.2.8), the SD an SMD of change is in units of. Binary: each study's
    control-group risk (effect_size ``PR``, metafor's raw proportion) and their median (a study
    split into several comparisons counts once). Rates and time-to-event outcomes: none (no
    assumed control risk is derived).
    """
    from evsynth.effects.escalc import effect_size

    arms: list[tuple[str, dict[str, Any], str]] = []
    seen: set[str] = set()
    for it in items:
        if it.entry["data_level"] != "arm" or it.study_id in seen:
            continue
        seen.add(it.study_id)
        arms.append((it.study_id, it.entry["control"], it.entry["value_type"]))
    if outcome.kind == "binary":
        arms = [a for a in arms if a[2] == "events"]
        if not arms:
            return {"continuous": None, "binary": None}
        pr = effect_size("PR", xi=[a["events"] for _, a, _ in arms],
                         ni=[a["total"] for _, a, _ in arms])["yi"].to_numpy()
        return {"continuous": None,
                "binary": {"median_risk": float(np.median(pr)), "risks": [float(p) for p in pr],
                           "study_ids": [s for s, _, _ in arms], "n_studies": len(arms)}}
    if outcome.kind != "continuous":
        return {"continuous": None, "binary": None}
    sd_change: float | None = None
    if outcome.measure in ("MD_CHANGE", "SMD_CHANGE"):
        from evsynth.effects.conversions import sd_change as change_sd

        change_sds = [float(a["sd"]) for _, a, vt in arms if vt == "change"]
        bf = [a for _, a, vt in arms if vt == "baseline_followup"]
        if r is not None and bf:
            change_sds += np.atleast_1d(change_sd([a["baseline_sd"] for a in bf],
                                                  [a["sd"] for a in bf], r)).tolist()
        change_sds = [x for x in change_sds if x > 0]
        sd_change = float(np.median(change_sds)) if change_sds else None
    vals = [(s, a) for s, a, vt in arms if vt in ("final", "baseline_followup")]
    if not vals:
        if sd_change is None:
            return {"continuous": None, "binary": None}
        return {"continuous": {"mean": None, "sd": None, "sd_change": sd_change,
                               "n_studies": 0, "study_ids": []}, "binary": None}
    means = np.array([a["mean"] for _, a in vals], dtype=float)
    n = np.array([a["n"] for _, a in vals], dtype=float)
    sds = np.array([a["sd"] for _, a in vals], dtype=float)
    return {"continuous": {"mean": float(np.average(means, weights=n)),
                           "sd": float(np.median(sds)), "sd_change": sd_change,
                           "n_studies": len(vals), "study_ids": [s for s, _ in vals]},
            "binary": None}


# ============================================================================ one analysis
def _sort_key(it: StudyInput) -> tuple:
    y = it.entry["year"]
    return (y is None, y or 0, it.study_id, it.slab)


def build_analysis(review: Review, comp: Comparison, outcome: Outcome,
                   window: Window) -> dict[str, Any] | None:
    """The analysis dict (see docs/results-schema.md) of one comparison x outcome x window, or
    None when no study has an assessment of the outcome in the window."""
    if outcome.dependence != "one_per_study":  # several effects per study
        from evsynth.review.dependence import build_dependent_analysis

        return build_dependent_analysis(review, comp, outcome, window)
    found = _select(review, comp, outcome, window)
    items, excluded = found.used, found.excluded
    if not found.any_in_window:
        return None
    items.sort(key=_sort_key)
    model = _model_for(review, outcome)
    r = review.config.change_scores.correlation
    zero = ({k: tuple(v) for k, v in model["zero_cells"].items()}
            if model["zero_cells"] else None)
    yi, vi, notes = compute_effects(items, r, zero, peto=model["pooling"] == "PETO")
    bad = ~(np.isfinite(yi) & np.isfinite(vi) & (vi > 0))
    for j in map(int, np.flatnonzero(bad)):
        it = items[j]
        excluded.append({"study_id": it.study_id, "timepoint_weeks": it.t,
                         "reason": unestimable_reason(notes[j], yi[j], vi[j]),
                         "lines": it.lines})
    keep = np.flatnonzero(~bad)
    items = [items[j] for j in keep]
    yi, vi = yi[keep], vi[keep]
    excluded.sort(key=lambda e: e["study_id"])
    labels = [it.slab for it in items]
    parts = [it.participants for it in items]
    k = len(items)
    analysis_notes: list[str] = []
    pooled: dict[str, Any] | None = None
    method_info: dict[str, Any] | None = None
    subgroups: list[dict[str, Any]] = []
    sensitivity: list[dict[str, Any]] = []
    small = loo = infl = None
    weights: list[float | None] = [None] * k
    ratio = outcome.measure in RATIO_MEASURES
    tables = _tables(items) if model["pooling"] != "IV" else None
    data = _Data(yi, vi, labels, tables, model, outcome.measure)
    if k:
        p = pool(yi, vi, labels, model, outcome.measure, tables)
        pooled, method_info = p.pooled, p.method_info
        weights = [float(w) if np.isfinite(w) else 0.0 for w in p.weights]
        subgroups, notes_sg = _subgroups(review, yi, vi, items, model, parts, data)
        analysis_notes += notes_sg
        sensitivity = _sensitivity(review, items, yi, vi, model, p.fit, data)
        if model["pooling"] == "IV":
            small = small_study(p.fit, k)
            loo, infl = robustness(p.fit, k, ratio)
        else:
            small = small_study(_fit(yi, vi, labels, _iv_analogue(model)), k)
            if small["assessed"]:
                small["notes"].append("tests and trim-and-fill on the inverse-variance fit of "
                                      "the same per-study effects (metafor: rma.uni only)")
            loo, infl = _robustness_mh(data, k, ratio, p.pooled)
    if k == 1:
        analysis_notes.append("k = 1: pooled values are the single study's estimate")
    if any(it.uses_r for it in items):
        analysis_notes.append(f"change-score SDs imputed with a baseline/follow-up correlation "
                              f"of {r:g} (Cochrane Handbook 6.5.2.8)")
    missing_n = [it.slab for it in items if it.participants is None]
    if missing_n:
        analysis_notes.append(f"participants not known for {', '.join(missing_n)} (not counted)")
    multiarm = _multiarm_summary(items)
    analysis_notes += [m["text"] for m in multiarm]
    warnings_ = list(found.warnings)
    first_sg = subgroups[0] if subgroups else None
    studies = []
    for j, it in enumerate(items):
        sei = float(np.sqrt(vi[j]))
        studies.append({**it.entry, "yi": float(yi[j]), "vi": float(vi[j]), "sei": sei,
                        "ci_lb": None, "ci_ub": None, "weight": weights[j],
                        "subgroup": first_sg["values"][j] if first_sg else None,
                        "participants": it.participants, "lines": it.lines})
    _study_cis(studies, model["level"])
    return {
        "id": f"{comp.id}.{outcome.id}.{window.id}",
        "comparison": _comparison_dict(comp, review),
        "outcome": outcome_dict(outcome),
        "window": window_dict(window),
        "measure": outcome.measure,
        "log_scale": ratio,
        "model": {**model, "method_info": method_info,
                  "change_score_correlation": r if any(it.uses_r for it in items) else None},
        "studies": studies,
        "excluded": excluded,
        "k": k,
        # None when studies are included but none gives its group sizes (reports print "not
        # reported", not 0); 0 when no study is included
        "participants": (_count(float(sum(p for p in parts if p is not None)))
                         if not parts or any(p is not None for p in parts) else None),
        "pooled": pooled,
        "subgroups": ({kk: v for kk, v in first_sg.items() if kk != "values"}
                      if first_sg else None),
        "subgroup_analyses": [{kk: v for kk, v in s.items() if kk != "values"}
                              for s in subgroups],
        "sensitivity": sensitivity,
        "small_study": small,
        "leave_one_out": loo,
        "influence": infl,
        "control_summary": control_summary(items, outcome,
                                           review.config.change_scores.correlation),
        "multiarm": multiarm,
        "notes": analysis_notes,
        "warnings": warnings_,
        "sof": None, "grade": None, "plain_language": None, "figures": None,
    }


def _multiarm_summary(items: list[StudyInput]) -> list[dict[str, Any]]:
    """One record per multi-arm study of the analysis: what was done (results.json
    ``multiarm``; the forest plot's footnote is its ``text``)."""
    out: dict[str, dict[str, Any]] = {}
    for it in items:
        info = it.entry.get("multiarm")
        if info and it.study_id not in out:
            label = it.entry["label"].split(" (")[0] if it.slab != it.study_id \
                else it.entry["label"]
            out[it.study_id] = {"study_id": it.study_id, **info,
                                "text": f"{label}: {info['text']}"}
    return list(out.values())


def _study_cis(studies: list[dict[str, Any]], level: float) -> None:
    """Per-study Wald CIs yi +/- z sei, from :func:`evsynth.meta` of each study alone (k = 1:
    metafor's Wald interval), so no interval formula lives here."""
    from evsynth.models.meta import meta

    for s in studies:
        one = meta([s["yi"]], [s["vi"]], method="EE", level=level)
        s["ci_lb"], s["ci_ub"] = _f(one.ci_lb), _f(one.ci_ub)


def _comparison_dict(c: Comparison, review: Review | None = None) -> dict[str, Any]:
    """The comparison of an analysis: display names (``[treatments]`` labels), the treatment
    names of each side and the multi-arm option."""
    i, k = c.intervention_name, c.control_name
    if review is not None:
        i = review.config.side_label(c, "intervention")
        k = review.config.side_label(c, "control")
    return {"id": c.id, "label": c.label, "intervention": i, "control": k,
            "intervention_treatments": c.intervention_treatments,
            "control_treatments": c.control_treatments, "multiarm": c.multiarm}


def outcome_dict(o: Outcome) -> dict[str, Any]:
    """The normalised outcome config of the analysis dict."""
    return {"id": o.id, "label": o.label, "kind": o.kind, "instrument": o.instrument,
            "scale_min": o.scale[0] if o.scale else None,
            "scale_max": o.scale[1] if o.scale else None,
            "direction": o.direction, "mid": o.mid, "measure": o.measure,
            "assumed_control_risk": o.assumed_control_risk}


def window_dict(w: Window) -> dict[str, Any]:
    return {"id": w.id, "label": w.label, "from_weeks": w.weeks[0], "to_weeks": w.weeks[1],
            "include_upper": w.include_upper, "target_weeks": w.target_weeks, "rule": w.rule}


def build_analyses(review: Review, progress: Callable[[int], None] | None = None
                   ) -> list[dict[str, Any]]:
    """Every analysis of the review, ordered comparison, outcome, window (as in review.toml).

    A comparison x outcome x window with no assessment of any study in the window is skipped
    (listed by :func:`evsynth.review.results.build_results` under ``not_analysed``).
    """
    cfg = review.config
    out = []
    for c in cfg.comparisons:
        for o in cfg.outcomes:
            for w in cfg.windows:
                a = build_analysis(review, c, o, w)
                if a is not None:
                    out.append(a)
                if progress is not None:
                    progress(1)
    return out
