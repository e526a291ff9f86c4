"""Assemble the analyses of a review: one per comparison x outcome x time window.

For each study the assessment in the window is chosen by the window's rule, the arms are paired,
and the effect and its variance come from :func:`evsynth.effect_size` (arm-level data) or its
generic inverse-variance measure ``GEN`` (contrast-level data, from the CI or SE). The model is
:func:`evsynth.meta` (metafor ``rma.uni``), with the prediction interval from
:meth:`~evsynth.models.meta.MetaResult.predict` (metafor ``predict.rma``). This module adds no
formulas of its own: it selects, pairs, orients and labels data, and reads fitted results.

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
  the source gives the other orientation; a row whose orientation is unknown is excluded with
  the reason "direction of effect not reported (sign convention unknown)", never guessed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from evsynth.errors import InputError
from evsynth.review.load import Review
from evsynth.review.schema import (
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
    participants: int | None
    lines: list[int] = field(default_factory=list)


def choose_timepoint(times: list[float], window: Window) -> float | None:
    """The assessment time (weeks) a study contributes to ``window`` by its rule, or None."""
    inside = sorted({t for t in times if window.contains(t)})
    if not inside:
        return None
    if window.rule == "latest":
        return inside[-1]
    target = float(window.target_weeks)  # type: ignore[arg-type]  # checked by the schema
    return min(inside, key=lambda t: (abs(t - target), -t))


def _arm(row: OutcomeRow) -> dict[str, Any]:
    if row.value_type == "events":
        return {"events": row.events, "total": row.total}
    out: dict[str, Any] = {"n": row.n, "mean": row.mean, "sd": row.sd}
    if row.value_type == "baseline_followup":
        out |= {"baseline_mean": row.baseline_mean, "baseline_sd": row.baseline_sd}
    return out


def _arm_recipe(measure: str, vt: str, i: OutcomeRow, c: OutcomeRow) -> Recipe:
    """(recipe, effect_size arguments, uses_r) for a pair of arm rows, or the reason why the
    pair cannot enter an analysis of ``measure``."""
    if vt == "events":
        return (measure,), {"ai": i.events, "n1i": i.total, "ci": c.events, "n2i": c.total}, False
    means: dict[str, float | None] = {"m1i": i.mean, "m2i": c.mean, "sd1i": i.sd,
                                      "sd2i": c.sd, "n1i": i.n, "n2i": c.n}
    change: dict[str, float | None] = {
        "m1i_pre": i.baseline_mean, "m1i_post": i.mean, "sd1i_pre": i.baseline_sd,
        "sd1i_post": i.sd, "m2i_pre": c.baseline_mean, "m2i_post": c.mean,
        "sd2i_pre": c.baseline_sd, "sd2i_post": c.sd, "n1i": i.n, "n2i": c.n}
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


def _contrast_recipe(measure: str, row: OutcomeRow) -> Recipe:
    """GEN recipe for a contrast row, oriented as intervention vs control."""
    accepts = {"MD": ("MD",), "MD_CHANGE": ("MD",), "SMD": ("SMD",), "SMD_CHANGE": (),
               "OR": ("OR",), "RR": ("RR",), "RD": ("RD",)}[measure]
    if row.measure not in accepts:
        return (f"contrast reported as {row.measure}; it cannot enter a {measure} analysis "
                "(arm-level data would be needed)")
    if row.direction == "unknown":
        return UNKNOWN_DIRECTION
    est, lb, ub, se = row.estimate, row.ci_lb, row.ci_ub, row.se
    if est is None:  # the schema requires an estimate in a contrast row
        return "contrast row without an estimate"
    ratio = row.measure in RATIO_MEASURES
    if row.direction == "control_minus_intervention":
        est, lb, ub = -est, (None if ub is None else -ub), (None if lb is None else -lb)
    elif row.direction == "control_over_intervention":
        est, lb, ub = 1 / est, (None if ub is None else 1 / ub), (None if lb is None else 1 / lb)
    args: dict[str, float | None] = {"yi": est, "sei": np.nan if se is None else se,
            "ci_lb": np.nan if lb is None else lb, "ci_ub": np.nan if ub is None else ub}
    return ("GEN", ratio, float(row.ci_level or 95.0)), args, False


def _participants(rows: list[OutcomeRow], study: StudyRow | None) -> int | None:
    if rows[0].value_type == "contrast":
        r = rows[0]
        ni = r.n_intervention or (study.n_intervention if study else None)
        nc = r.n_control or (study.n_control if study else None)
        return ni + nc if ni and nc else None
    return sum((r.total if r.value_type == "events" else r.n) or 0 for r in rows)


def select_studies(review: Review, comp: Comparison, outcome: Outcome, window: Window
                   ) -> tuple[list[StudyInput], list[dict[str, Any]], bool]:
    """Studies entering one analysis, those left out (with reasons), and whether any study of
    the comparison and outcome has an assessment in the window."""
    by_study: dict[str, list[tuple[OutcomeRow, int]]] = {}
    for row, line in zip(review.outcomes, review.outcome_lines, strict=True):
        if row.comparison == comp.id and row.outcome == outcome.id:
            by_study.setdefault(row.study_id, []).append((row, line))
    studies = review.study_by_id
    used: list[StudyInput] = []
    excluded: list[dict[str, Any]] = []
    any_in_window = False
    for sid in sorted(by_study):
        rows = by_study[sid]
        t = choose_timepoint([r.timepoint_weeks for r, _ in rows], window)
        if t is None:
            continue
        any_in_window = True
        at_t = [(r, ln) for r, ln in rows if r.timepoint_weeks == t]
        arms = {r.arm: (r, ln) for r, ln in at_t if r.value_type != "contrast"}
        contrasts = [(r, ln) for r, ln in at_t if r.value_type == "contrast"]
        reasons: list[str] = []
        choice = None
        if "intervention" in arms and "control" in arms:
            i, c = arms["intervention"][0], arms["control"][0]
            got = _arm_recipe(outcome.measure, i.value_type, i, c)
            if isinstance(got, str):
                reasons.append(got)
            else:
                choice = (got, [i, c], [arms["intervention"][1], arms["control"][1]], "arm")
        elif arms:
            only = next(iter(arms))
            reasons.append(f"only the {only} arm is reported at {t:g} weeks")
        if choice is None:
            for r, ln in contrasts:
                got = _contrast_recipe(outcome.measure, r)
                if isinstance(got, str):
                    reasons.append(got)
                else:
                    choice = (got, [r], [ln], "contrast")
                    break
        if choice is None:
            excluded.append({"study_id": sid, "timepoint_weeks": t,
                             "reason": "; ".join(dict.fromkeys(reasons)),
                             "lines": [ln for _, ln in at_t]})
            continue
        (recipe, args, uses_r), used_rows, lines, level = choice
        st = studies.get(sid)
        first = used_rows[0]
        entry = {
            "study_id": sid, "label": (st.label if st and st.label else sid),
            "year": st.year if st else None, "timepoint_weeks": t, "data_level": level,
            "value_type": first.value_type,
            "intervention": _arm(used_rows[0]) if level == "arm" else None,
            "control": _arm(used_rows[1]) if level == "arm" else None,
            "risk_of_bias": st.rob_overall if st else None,
            "source": "; ".join(dict.fromkeys(r.source for r in used_rows if r.source)) or None,
        }
        if level == "contrast":
            entry["contrast"] = {"measure": first.measure, "estimate": first.estimate,
                                 "ci_lb": first.ci_lb, "ci_ub": first.ci_ub,
                                 "ci_level": first.ci_level, "se": first.se,
                                 "direction": first.direction,
                                 "n_intervention": first.n_intervention,
                                 "n_control": first.n_control}
        used.append(StudyInput(sid, t, recipe, args, uses_r, entry,
                               _participants(used_rows, st), lines))
    return used, excluded, any_in_window


# ============================================================================ effect sizes
def compute_effects(items: list[StudyInput], r: float) -> tuple[np.ndarray, np.ndarray,
                                                                list[str]]:
    """yi, vi (analysis scale) and notes for each study, one :func:`evsynth.effect_size` call
    per kind of data; ``r`` is the imputed baseline/follow-up correlation."""
    from evsynth.effects.escalc import effect_size

    yi = np.full(len(items), np.nan)
    vi = np.full(len(items), np.nan)
    notes = [""] * len(items)
    groups: dict[tuple, list[int]] = {}
    for j, it in enumerate(items):
        groups.setdefault(it.recipe, []).append(j)
    for recipe, idx in groups.items():
        # Any: the data columns go to effect_size's **columns (mypy would match every keyword)
        cols: dict[str, Any] = {k: np.array([items[j].args[k] for j in idx], dtype=float)
                                for k in items[idx[0]].args}
        slab = [items[j].study_id for j in idx]
        if recipe[0] == "GEN":
            out = effect_size("GEN", slab=slab, ratio=recipe[1], level=recipe[2], **cols)
        elif recipe[0] in ("MD_CHANGE", "SMD_CHANGE"):
            out = effect_size(recipe[0], slab=slab, ri=np.full(len(idx), r), **cols)
        else:
            out = effect_size(recipe[0], slab=slab, **cols)
        yi[idx] = out["yi"].to_numpy()
        vi[idx] = out["vi"].to_numpy()
        for j, note in zip(idx, out["note"], strict=True):
            notes[j] = note
    return yi, vi, notes


# ============================================================================ model fits
def _model_for(review: Review, outcome: Outcome) -> dict[str, Any]:
    m = review.config.model
    return {"method": outcome.method or m.method, "test": outcome.test or m.test,
            "level": m.level, "pi_type": m.pi_type,
            "prediction_interval": (m.prediction_interval if outcome.prediction_interval is None
                                    else outcome.prediction_interval)}


def _fit(yi: np.ndarray, vi: np.ndarray, labels: list[str], model: dict[str, Any],
         subgroup: list[str] | None = None) -> MetaResult:
    """:func:`evsynth.meta` with the analysis model; k = 1 is fitted as a common-effect z model
    (the study's own estimate and Wald CI)."""
    from evsynth.models.meta import meta

    if len(yi) == 1:
        return meta(yi, vi, method="EE", test="z", level=model["level"], slab=labels)
    return meta(yi, vi, method=model["method"], test=model["test"], level=model["level"],
                slab=labels, subgroup=subgroup)


def _f(x: Any) -> float | None:
    """A float for results.json (None for NaN / None)."""
    if x is None:
        return None
    x = float(np.asarray(x).ravel()[0]) if np.ndim(x) else float(x)
    return x if np.isfinite(x) else None


def pooled_summary(fit: MetaResult, model: dict[str, Any]) -> dict[str, Any]:
    """The ``pooled`` dict of an analysis from a fitted :class:`MetaResult`."""
    k = fit.k
    out: dict[str, Any] = {"estimate": _f(fit.beta), "se": _f(fit.se), "ci_lb": _f(fit.ci_lb),
           "ci_ub": _f(fit.ci_ub), "zval": _f(fit.zval), "pval": _f(fit.pval),
           "pi_lb": None, "pi_ub": None, "tau2": _f(fit.tau2), "tau": _f(fit.tau),
           "I2": _f(fit.I2), "H2": _f(fit.H2), "QE": _f(fit.QE), "QE_df": k - 1,
           "QEp": _f(fit.QEp), "df": _f(fit.df), "note": None}
    if k == 1:
        for key in ("tau2", "tau", "I2", "H2", "QE", "QE_df", "QEp"):
            out[key] = None
        out["note"] = ("k = 1: the study's own estimate and Wald CI; heterogeneity and a "
                       "prediction interval cannot be estimated")
    elif model["prediction_interval"] and k >= 3:
        pred = fit.predict(pi_type=model["pi_type"])
        out["pi_lb"], out["pi_ub"] = _f(pred.pi_lb), _f(pred.pi_ub)
    elif model["prediction_interval"]:
        out["note"] = f"k = {k}: no prediction interval (needs k >= 3)"
    return out


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
    """A value on the display scale: exp for ratio measures (OR, RR), as the forest plot."""
    if x is None:
        return None
    return float(np.exp(x)) if ratio else x


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
        why = (f"k = {k}: leave-one-out and influence diagnostics need at least "
               f"{MIN_K_ROBUSTNESS} studies (leaving one out must leave a meta-analysis of 2)")
        return ({"k": k, "scale": None, "rows": None, "changes_conclusion": None, "note": why},
                {"k": k, "rows": None, "flagged": None, "note": why})
    full = _significant(_f(fit.ci_lb), _f(fit.ci_ub))
    loo = fit.leave1out().frame
    rows, changes = [], []
    for r in loo.itertuples(index=False):
        lb, ub = _f(r.ci_lb), _f(r.ci_ub)
        sig = _significant(lb, ub)
        changed = None if sig is None or full is None else sig != full
        if changed:
            changes.append(str(r.slab))
        rows.append({"study_id": str(r.slab), "estimate": _display(_f(r.estimate), ratio),
                     "ci_lb": _display(lb, ratio), "ci_ub": _display(ub, ratio),
                     "pval": _f(r.pval), "tau2": _f(r.tau2), "I2": _f(r.I2),
                     "excludes_null": sig, "changes_conclusion": changed})
    loo_block = {"k": k, "scale": "ratio (exp of the log scale)" if ratio else "analysis",
                 "full_excludes_null": full, "rows": rows, "changes_conclusion": changes,
                 "method": "leave-one-out (metafor leave1out), same model as the main analysis",
                 "note": None}
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
    """The main model of an analysis refitted from its ``studies`` (yi, vi) and ``model``: the
    same :func:`evsynth.meta` call as :func:`build_analysis` (for figures drawn from a fit)."""
    studies = analysis["studies"]
    yi = np.array([s["yi"] for s in studies], dtype=float)
    vi = np.array([s["vi"] for s in studies], dtype=float)
    return _fit(yi, vi, [s["study_id"] for s in studies], analysis["model"])


def _short(fit: MetaResult) -> dict[str, Any]:
    return {"k": int(fit.k), "estimate": _f(fit.beta), "ci_lb": _f(fit.ci_lb),
            "ci_ub": _f(fit.ci_ub), "tau2": _f(fit.tau2) if fit.k > 1 else None,
            "I2": _f(fit.I2) if fit.k > 1 else None}


def _subgroups(review: Review, yi: np.ndarray, vi: np.ndarray, items: list[StudyInput],
               model: dict[str, Any],
               parts: list[int | None]) -> tuple[list[dict[str, Any]], list[str]]:
    """Every pre-specified subgroup analysis that can be fitted (>= 2 levels, k >= 2)."""
    out: list[dict[str, Any]] = []
    notes: list[str] = []
    studies = review.study_by_id
    labels = [it.study_id for it in items]
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
                           "participants": int(sum(known)) if known else None,
                           "estimate": _f(sub.beta), "ci_lb": _f(sub.ci_lb),
                           "ci_ub": _f(sub.ci_ub),
                           "tau2": _f(sub.tau2) if sub.k > 1 else None,
                           "I2": _f(sub.I2) if sub.k > 1 else None,
                           "QE": _f(sub.QE) if sub.k > 1 else None, "QE_df": int(sub.k) - 1,
                           "QEp": _f(sub.QEp) if sub.k > 1 else None, "pval": _f(sub.pval),
                           "study_ids": [labels[j] for j in members]})
        out.append({"id": sg.id, "variable": sg.column, "label": sg.label or sg.column,
                    "levels": levels, "values": values, "Q_between": _f(fit.Q_between),
                    "Q_between_df": int(fit.Q_between_df), "Q_between_p": _f(fit.Q_between_p),
                    "I2_between": _f(fit.Q_between_I2),
                    "method": "separate tau^2 per subgroup (RevMan; Cochrane Handbook 10.11.3.1)"})
    return out, notes


def _sensitivity(review: Review, items: list[StudyInput], yi: np.ndarray, vi: np.ndarray,
                 model: dict[str, Any], fit: MetaResult) -> list[dict[str, Any]]:
    sens = review.config.sensitivity
    out: list[dict[str, Any]] = []
    labels = [it.study_id for it in items]
    k = len(items)
    if sens.common_effect and k >= 2 and model["method"] not in FIXED:
        ce = _fit(yi, vi, labels, {**model, "method": "EE", "test": "z"})
        out.append({"name": "common effect", **_short(ce),
                    "note": f"common-effect (inverse-variance) model instead of random effects "
                            f"({model['method']})"})
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
        keep = [j for j, it in enumerate(items) if it.entry["risk_of_bias"] != "high"]
        dropped = [labels[j] for j in range(k) if j not in keep]
        if not dropped:
            pass  # nothing to leave out: the main analysis is the sensitivity analysis
        elif not keep:
            out.append({"name": "excluding high risk of bias", "k": 0, "estimate": None,
                        "ci_lb": None, "ci_ub": None, "tau2": None, "I2": None,
                        "note": "every study is at high risk of bias"})
        else:
            f3 = _fit(yi[keep], vi[keep], [labels[j] for j in keep], model)
            out.append({"name": "excluding high risk of bias", **_short(f3),
                        "note": f"left out: {', '.join(dropped)}"})
    return out


def control_summary(items: list[StudyInput], outcome: Outcome) -> dict[str, Any]:
    """Control-group values of the included arm-level studies (for the SoF table).

    Continuous: the n-weighted mean of the control arms' final or follow-up means and the median
    control SD (outcome units). Binary: each study's control-group risk (effect_size ``PR``,
    metafor's raw proportion) and their median.
    """
    from evsynth.effects.escalc import effect_size

    arms = [(it.study_id, it.entry["control"]) for it in items
            if it.entry["data_level"] == "arm"]
    if outcome.kind == "binary":
        if not arms:
            return {"continuous": None, "binary": None}
        pr = effect_size("PR", xi=[a["events"] for _, a in arms],
                         ni=[a["total"] for _, a in arms])["yi"].to_numpy()
        return {"continuous": None,
                "binary": {"median_risk": float(np.median(pr)), "risks": [float(p) for p in pr],
                           "study_ids": [s for s, _ in arms], "n_studies": len(arms)}}
    vals = [(s, a) for s, a in arms if a is not None and
            items[[it.study_id for it in items].index(s)].entry["value_type"] in
            ("final", "baseline_followup")]
    if not vals:
        return {"continuous": None, "binary": None}
    means = np.array([a["mean"] for _, a in vals], dtype=float)
    n = np.array([a["n"] for _, a in vals], dtype=float)
    sds = np.array([a["sd"] for _, a in vals], dtype=float)
    return {"continuous": {"mean": float(np.average(means, weights=n)),
                           "sd": float(np.median(sds)), "n_studies": len(vals),
                           "study_ids": [s for s, _ in vals]},
            "binary": None}


# ============================================================================ one analysis
def _sort_key(it: StudyInput) -> tuple:
    y = it.entry["year"]
    return (y is None, y or 0, it.study_id)


def build_analysis(review: Review, comp: Comparison, outcome: Outcome,
                   window: Window) -> dict[str, Any] | None:
    """The analysis dict (see docs/results-schema.md) of one comparison x outcome x window, or
    None when no study has an assessment of the outcome in the window."""
    items, excluded, any_in_window = select_studies(review, comp, outcome, window)
    if not any_in_window:
        return None
    items.sort(key=_sort_key)
    r = review.config.change_scores.correlation
    yi, vi, notes = compute_effects(items, r)
    bad = ~(np.isfinite(yi) & np.isfinite(vi) & (vi > 0))
    for j in map(int, np.flatnonzero(bad)):
        it = items[j]
        excluded.append({"study_id": it.study_id, "timepoint_weeks": it.t,
                         "reason": f"effect not estimable: {notes[j] or 'undefined'}",
                         "lines": it.lines})
    keep = np.flatnonzero(~bad)
    items = [items[j] for j in keep]
    yi, vi = yi[keep], vi[keep]
    excluded.sort(key=lambda e: e["study_id"])
    model = _model_for(review, outcome)
    labels = [it.study_id for it in items]
    parts = [it.participants for it in items]
    k = len(items)
    analysis_notes: list[str] = []
    pooled: dict[str, Any] | None = None
    method_info: dict[str, Any] | None = None
    subgroups: list[dict[str, Any]] = []
    sensitivity: list[dict[str, Any]] = []
    small = loo = infl = None
    weights: list[float | None] = [None] * k
    fit = None
    if k:
        fit = _fit(yi, vi, labels, model)
        pooled = pooled_summary(fit, model)
        method_info = fit.method_info
        weights = [float(w) for w in fit.weights]
        subgroups, notes_sg = _subgroups(review, yi, vi, items, model, parts)
        analysis_notes += notes_sg
        sensitivity = _sensitivity(review, items, yi, vi, model, fit)
        small = small_study(fit, k)
        loo, infl = robustness(fit, k, outcome.measure in RATIO_MEASURES)
    if k == 1:
        analysis_notes.append("k = 1: pooled values are the single study's estimate")
    if any(it.uses_r for it in items):
        analysis_notes.append(f"change-score SDs imputed with a baseline/follow-up correlation "
                              f"of {r:g} (Cochrane Handbook 6.5.2.8)")
    missing_n = [it.study_id for it in items if it.participants is None]
    if missing_n:
        analysis_notes.append(f"participants not known for {', '.join(missing_n)} (not counted)")
    first_sg = subgroups[0] if subgroups else None
    studies = []
    for j, it in enumerate(items):
        sei = float(np.sqrt(vi[j]))
        studies.append({**it.entry, "yi": float(yi[j]), "vi": float(vi[j]), "sei": sei,
                        "ci_lb": None, "ci_ub": None, "weight": weights[j],
                        "subgroup": first_sg["values"][j] if first_sg else None,
                        "participants": it.participants, "lines": it.lines})
    _study_cis(studies, model["level"])
    ratio = outcome.measure in RATIO_MEASURES
    return {
        "id": f"{comp.id}.{outcome.id}.{window.id}",
        "comparison": _comparison_dict(comp),
        "outcome": outcome_dict(outcome),
        "window": window_dict(window),
        "measure": outcome.measure,
        "log_scale": ratio,
        "model": {**model, "method_info": method_info,
                  "change_score_correlation": r if any(it.uses_r for it in items) else None},
        "studies": studies,
        "excluded": excluded,
        "k": k,
        "participants": int(sum(p for p in parts if p is not None)),
        "pooled": pooled,
        "subgroups": ({kk: v for kk, v in first_sg.items() if kk != "values"}
                      if first_sg else None),
        "subgroup_analyses": [{kk: v for kk, v in s.items() if kk != "values"}
                              for s in subgroups],
        "sensitivity": sensitivity,
        "small_study": small,
        "leave_one_out": loo,
        "influence": infl,
        "control_summary": control_summary(items, outcome),
        "notes": analysis_notes,
        "sof": None, "grade": None, "plain_language": None, "figures": None,
    }


def _study_cis(studies: list[dict[str, Any]], level: float) -> None:
    """Per-study Wald CIs yi +/- z sei, from :func:`evsynth.meta` of each study alone (k = 1:
    metafor's Wald interval), so no interval formula lives here."""
    from evsynth.models.meta import meta

    for s in studies:
        one = meta([s["yi"]], [s["vi"]], method="EE", level=level)
        s["ci_lb"], s["ci_ub"] = _f(one.ci_lb), _f(one.ci_ub)


def _comparison_dict(c: Comparison) -> dict[str, Any]:
    return {"id": c.id, "label": c.label, "intervention": c.intervention, "control": c.control}


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
