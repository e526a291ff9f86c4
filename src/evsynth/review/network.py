"""The network-meta-analysis step of the review pipeline: ``[[network]]`` of review.toml.

Each ``[[network]]`` table names an outcome, a time window (``time``, a window id) and the
treatments of the network (default: every treatment with arm-based data for the outcome). For
every study the assessment in the window is chosen by the window's rule
(:func:`evsynth.review.analysis.choose_timepoint`, over the study's rows of the outcome that
involve the network's treatments); at that time point

- two or more arms of the network's treatments (arm rows): every pair of arms is one comparison,
  by :func:`evsynth.models.network.pairwise.pairwise` (netmeta's ``pairwise()``; multi-arm
  trials give all k(k-1)/2 pairs, their correlation handled by the network fit). Arms of one
  treatment are combined first (Cochrane Handbook Table 6.5.a). For ``MD_CHANGE`` /
  ``SMD_CHANGE`` a baseline/follow-up arm becomes its change (follow-up minus baseline, SD by
  :func:`evsynth.effects.conversions.sd_change` with the review's change-score correlation), so
  the comparison is the MD / SMD of change scores, as in the pairwise analyses;
- otherwise contrast rows between two of the network's treatments, oriented as
  ``treatment`` versus ``comparator`` (a contrast whose sign convention is unknown is left out
  with the reason, never guessed); a study with contrasts for some but not all pairs of three
  or more treatments is left out (their covariance is unknown).

The data-selection rules are the pairwise analyses' (:mod:`evsynth.review.analysis`); a study
whose data cannot enter is listed with the reason. The comparisons are fitted with
:func:`evsynth.models.network.fit.netmeta`. A network that is not connected is split into its
sub-networks (netmeta's ``netconnection``): the one holding the reference treatment is fitted
and the others are listed as left out, with their treatments and studies.

The section of results.json (``networks``, one entry per ``[[network]]``) holds the fit
(estimates of every treatment against the reference with CI and prediction interval,
heterogeneity), the estimate matrices, the league table (``LeagueTable``), the rankings
(``Ranking``: P-scores; ``RankProbabilities``: SUCRA, mean rank, rank probabilities), the
inconsistency checks (``NetSplit``: direct, indirect and their difference per comparison;
``DesignDecomposition``: Q by design and the design-by-treatment interaction test), the
contribution matrix (``ContributionMatrix``, per comparison and per study) and the CINeMA
prompts (:mod:`evsynth.summaries.cinema`; within-study bias from the review's risk-of-bias
judgements and the per-study contributions). A check the data do not allow (an InputError,
e.g. no decomposition for two treatments) is recorded with the reason in the section's
``notes`` and shown in the report; any other failure surfaces.
"""

from __future__ import annotations

import difflib
import json
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from evsynth.errors import InputError
from evsynth.review.schema import (
    MEASURES_BY_KIND,
    RATIO_MEASURES,
    NetworkEntry,
    OutcomeRow,
    ReviewConfig,
)

if TYPE_CHECKING:
    from evsynth.models.network.contribution import ContributionMatrix
    from evsynth.models.network.inconsistency import DesignDecomposition, NetSplit
    from evsynth.models.network.ranking import Ranking, RankProbabilities
    from evsynth.reports.network_plots import LeagueTable
    from evsynth.review.load import Review

T = TypeVar("T")

#: seed of the simulated rank probabilities (SUCRA), fixed so that a rerun gives the same report
RANK_SEED = 20_200_401
#: simulations for the rank probabilities
RANK_NSIM = 1000
FIGURES_DIR = "figures"
#: the network figures (evsynth.reports.network_plots): kind -> (function, caption)
FIGURE_KINDS: dict[str, tuple[str, str]] = {
    "graph": ("network_graph", "Network graph (node size: participants; edge width: studies)"),
    "forest": ("forest_network", "Forest plot of every treatment against the reference"),
    "rankogram": ("rankogram", "Rankogram (rank probabilities)"),
    "netheat": ("netheat_plot", "Net heat plot"),
}


# ============================================================================ validation
def _where(path: Path | str, i: int, entry: NetworkEntry, fld: str) -> str:
    return f"{path}: key 'network[{i}].{fld}' (id {entry.id!r})"


def _near(name: str, names: list[str]) -> str:
    got = difflib.get_close_matches(name, names, n=1)
    return f" (did you mean {got[0]!r}?)" if got else ""


def outcome_treatments(rows: list[OutcomeRow], outcome: str) -> list[str]:
    """The treatment names of the arm-based rows of an outcome (arms and contrasts), sorted."""
    out: set[str] = set()
    for r in rows:
        if r.outcome == outcome and not r.two_arm_format:
            out.update(t for t in (r.treatment, r.comparator) if t)
    return sorted(out)


def network_treatments(entry: NetworkEntry, rows: list[OutcomeRow]) -> list[str]:
    """The treatments of a network: those listed, else all of the outcome's."""
    return list(entry.treatments) if entry.treatments else outcome_treatments(rows, entry.outcome)


def check_networks(path: Path | str, cfg: ReviewConfig, rows: list[OutcomeRow] | None
                   ) -> list[str]:
    """Cross-checks of the ``[[network]]`` tables against the rest of the folder: ids that must
    exist (outcome, window), the treatments (known in outcomes.csv or [treatments]), the
    reference, the measure against the outcome's kind, ``small_values`` against the outcome's
    direction, the MID of a ratio measure and the reviewer's CINeMA judgements. Each error names
    the file, the table and field, and what was expected."""
    from evsynth.summaries.cinema import reviewer_judgements

    errors: list[str] = []
    outs = {o.id: o for o in cfg.outcomes}
    wins = {w.id for w in cfg.windows}
    seen: set[str] = set()
    for i, n in enumerate(cfg.network):
        if n.id in seen:
            errors.append(f"{_where(path, i, n, 'id')}: duplicate id; expected each network id "
                          "once")
        seen.add(n.id)
        o = outs.get(n.outcome)
        if o is None:
            errors.append(f"{_where(path, i, n, 'outcome')}: {n.outcome!r} is not an outcome id"
                          f"{_near(n.outcome, list(outs))}; expected one of "
                          f"{', '.join(sorted(outs))}")
            continue
        if n.time not in wins:
            errors.append(f"{_where(path, i, n, 'time')}: {n.time!r} is not a window id"
                          f"{_near(n.time, sorted(wins))}; expected one of "
                          f"{', '.join(sorted(wins))}")
        measure = n.measure or o.measure
        if measure not in MEASURES_BY_KIND[o.kind]:
            errors.append(f"{_where(path, i, n, 'measure')}: {measure!r} does not fit the "
                          f"{o.kind.replace('_', '-')} outcome {o.id!r}; expected one of "
                          f"{', '.join(MEASURES_BY_KIND[o.kind])}")
        if n.mid is not None and measure in RATIO_MEASURES and n.mid == 1:
            errors.append(f"{_where(path, i, n, 'mid')}: 1 for the ratio measure {measure}; "
                          "expected a ratio other than 1 (e.g. 1.25: range of equivalence 0.8 "
                          "to 1.25)")
        want = "desirable" if o.direction == "lower_is_better" else "undesirable"
        if n.small_values is not None and n.small_values != want:
            errors.append(f"{_where(path, i, n, 'small_values')}: {n.small_values!r} "
                          f"contradicts the direction {o.direction!r} of outcome {o.id!r}; "
                          f"expected {want!r} (or leave it out: it follows the outcome)")
        known = outcome_treatments(rows or [], n.outcome)
        listed = network_treatments(n, rows or [])
        if rows is not None:
            for t in listed:
                if t not in known and t not in cfg.treatments:
                    errors.append(f"{_where(path, i, n, 'treatments')}: treatment {t!r} has no "
                                  f"row of outcome {n.outcome!r} in outcomes.csv"
                                  f"{_near(t, known)}; expected a 'treatment' value of "
                                  "outcomes.csv, or a name listed in [treatments]")
            if len(listed) < 2:
                errors.append(f"{_where(path, i, n, 'treatments')}: {len(listed)} treatment(s) "
                              f"({', '.join(listed) or 'none'}); a network needs at least two")
        if n.reference is not None and listed and n.reference not in listed:
            errors.append(f"{_where(path, i, n, 'reference')}: {n.reference!r} is not a "
                          f"treatment of the network{_near(n.reference, listed)}; expected one "
                          f"of {', '.join(listed)}")
        try:
            judged = reviewer_judgements(n.cinema, where=f"{path}: key 'network[{i}]' "
                                                        f"(id {n.id!r})")
        except InputError as exc:
            errors.append(str(exc))
            continue
        for a, b in judged:
            bad = [t for t in (a, b) if listed and t not in listed]
            if bad:
                errors.append(f"{_where(path, i, n, 'cinema')}: treatment(s) "
                              f"{', '.join(map(repr, bad))} of a CINeMA judgement are not in "
                              f"the network; expected two of {', '.join(listed)}")
    return errors


# ============================================================================ data
@dataclass
class NetworkData:
    """The comparisons of one network and what happened to each study."""

    frame: Any                                   # pandas DataFrame: studlab, treat1, treat2,
    #                                              TE, seTE, timepoint_weeks, data_level
    used: list[dict[str, Any]] = field(default_factory=list)
    excluded: list[dict[str, Any]] = field(default_factory=list)
    participants: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _arm_values(measure: str, rows: list[tuple[OutcomeRow, int]], r: float
                ) -> tuple[dict[str, float], str | None]:
    """The pairwise() fields of one treatment's arm (arms of one treatment combined), or the
    reason it cannot enter."""
    from evsynth.effects.conversions import sd_change
    from evsynth.review.arms import combine, group_of

    g = combine([group_of(row, ln) for row, ln in rows])
    v = g.values
    vt = g.value_type
    if vt == "events":
        return {"event": float(v["events"] or 0), "n": float(v["total"] or 0)}, None
    if vt == "rate":
        return {"event": float(v["events"] or 0), "time": float(v["person_time"] or 0)}, None
    n, mean, sd = float(v["n"] or 0), v["mean"], v["sd"]
    if measure in ("MD_CHANGE", "SMD_CHANGE") and vt == "baseline_followup":
        mean = float(v["mean"] or 0) - float(v["baseline_mean"] or 0)
        sd = float(sd_change(float(v["baseline_sd"] or 0), float(v["sd"] or 0), r))
    return {"n": n, "mean": float(mean or 0), "sd": float(sd or 0)}, None


def _arm_reason(measure: str, arms: dict[str, list[tuple[OutcomeRow, int]]]) -> str | None:
    """Why the arms cannot enter a ``measure`` analysis (the pairwise analyses' rules), or
    None."""
    from evsynth.review.analysis import _arm_recipe
    from evsynth.review.arms import group_of

    first = [group_of(*rows[0]) for rows in list(arms.values())[:2]]
    got = _arm_recipe(measure, first[0].value_type, first[0], first[1])
    return got if isinstance(got, str) else None


def select(review: Review, entry: NetworkEntry) -> NetworkData:
    """The comparisons of a network from outcomes.csv (module docstring)."""
    import pandas as pd

    from evsynth.models.network.pairwise import pairwise
    from evsynth.review.analysis import (
        UNKNOWN_DIRECTION,
        StudyInput,
        _contrast_recipe,
        choose_timepoint,
        compute_effects,
    )

    cfg = review.config
    outcome = review.outcome(entry.outcome)
    window = review.window(entry.time)
    measure = entry.measure or outcome.measure
    treatments = network_treatments(entry, review.outcomes)
    tset = set(treatments)
    r = cfg.change_scores.correlation
    by_study: dict[str, list[tuple[OutcomeRow, int]]] = {}
    skipped_two_arm: set[str] = set()
    for row, line in zip(review.outcomes, review.outcome_lines, strict=True):
        if row.outcome != entry.outcome:
            continue
        if row.two_arm_format:
            skipped_two_arm.add(row.study_id)
            continue
        names = [t for t in (row.treatment, row.comparator) if t]
        if all(t in tset for t in names):
            by_study.setdefault(row.study_id, []).append((row, line))
    data = NetworkData(frame=None)
    if skipped_two_arm:
        data.notes.append("rows in the two-arm format (arm = intervention/control) name no "
                          "treatment and are not used in the network: studies "
                          + ", ".join(sorted(skipped_two_arm)))
    arm_long: list[dict[str, Any]] = []
    contrast_items: list[tuple[Any, dict[str, Any]]] = []
    for sid in sorted(by_study):
        rows = by_study[sid]
        t = choose_timepoint([x.timepoint_weeks for x, _ in rows], window)
        if t is None:
            continue
        at_t = [(x, ln) for x, ln in rows if x.timepoint_weeks == t]
        arms: dict[str, list[tuple[OutcomeRow, int]]] = {}
        for x, ln in at_t:
            if not x.is_contrast and x.treatment:
                arms.setdefault(x.treatment, []).append((x, ln))
        lines = [ln for _, ln in at_t]
        if len(arms) >= 2:
            why = _arm_reason(measure, arms)
            if why is not None:
                data.excluded.append({"study_id": sid, "timepoint_weeks": t, "reason": why,
                                      "lines": lines})
                continue
            for trt, trows in arms.items():
                vals, _ = _arm_values(measure, trows, r)
                arm_long.append({"studlab": sid, "treat": trt, **vals})
                size = vals.get("n")
                if size is not None:
                    data.participants[trt] = data.participants.get(trt, 0.0) + size
            data.used.append({"study_id": sid, "timepoint_weeks": t, "data_level": "arm",
                              "treatments": sorted(arms), "lines": lines})
            ignored = [x for x, _ in at_t if x.is_contrast]
            if ignored:
                data.notes.append(f"{sid}: arm-level data used at {t:g} weeks; its contrast "
                                  "rows at that time point are not used")
            continue
        contrasts = [(x, ln) for x, ln in at_t if x.is_contrast]
        if not contrasts:
            only = ", ".join(sorted(arms)) or "none"
            data.excluded.append({"study_id": sid, "timepoint_weeks": t, "lines": lines,
                                  "reason": f"only one arm of the network's treatments is "
                                            f"reported at {t:g} weeks ({only})"})
            continue
        usable, reasons = [], []
        for x, ln in contrasts:
            got = _contrast_recipe(measure, x, False, x.n_intervention, x.n_control)
            if isinstance(got, str):
                reasons.append(got)
            else:
                usable.append((x, ln, got))
        cnames = {str(tt) for x, _, _ in usable for tt in (x.treatment, x.comparator)}
        pairs = {frozenset((x.treatment, x.comparator)) for x, _, _ in usable}
        k_all = len(cnames) * (len(cnames) - 1) // 2
        if usable and len(cnames) > 2 and len(pairs) != k_all:
            reasons.append(f"contrasts for {len(pairs)} of the {k_all} pairs of its "
                           f"{len(cnames)} treatments: a multi-arm study needs "
                           "every pair (or arm-level data), since the covariance of its "
                           "contrasts is unknown")
            usable = []
        if not usable:
            data.excluded.append({"study_id": sid, "timepoint_weeks": t, "lines": lines,
                                  "reason": "; ".join(dict.fromkeys(reasons))
                                  or UNKNOWN_DIRECTION})
            continue
        for x, ln, (recipe, args, uses_r) in usable:
            item = StudyInput(sid, t, recipe, args, uses_r, {}, None, [ln],
                              f"{sid} ({x.treatment} vs {x.comparator})")
            contrast_items.append((item, {"studlab": sid, "treat1": x.treatment,
                                          "treat2": x.comparator, "timepoint_weeks": t,
                                          "data_level": "contrast"}))
            for tname, size in ((x.treatment, x.n_intervention), (x.comparator, x.n_control)):
                if size is not None and tname is not None:
                    data.participants[tname] = data.participants.get(tname, 0.0) + float(size)
        data.used.append({"study_id": sid, "timepoint_weeks": t, "data_level": "contrast",
                          "treatments": sorted(cnames), "lines": lines})
    frames = []
    if arm_long:
        arm = pd.DataFrame(arm_long)
        code = measure.removesuffix("_CHANGE")
        kw: dict[str, Any] = {k: k for k in ("event", "n", "mean", "sd", "time")
                              if k in arm.columns}
        pw = pairwise(code, treat="treat", studlab="studlab", data=arm, **kw)
        times = {u["study_id"]: u["timepoint_weeks"] for u in data.used}
        pw["timepoint_weeks"] = [times[s] for s in pw["studlab"]]
        pw["data_level"] = "arm"
        for why in pw.attrs.get("dropped") or []:
            sid = str(why).split(" (")[0]
            data.used = [u for u in data.used if u["study_id"] != sid]
            data.excluded.append({"study_id": sid, "timepoint_weeks": times.get(sid),
                                  "reason": f"left out by pairwise(): {why}", "lines": []})
        frames.append(pw[["studlab", "treat1", "treat2", "TE", "seTE", "timepoint_weeks",
                          "data_level"]])
    if contrast_items:
        yi, vi, _ = compute_effects([it for it, _ in contrast_items], r)
        recs = [{**meta, "TE": float(y), "seTE": float(math.sqrt(v))}
                for (_, meta), y, v in zip(contrast_items, yi, vi, strict=True)]
        frames.append(pd.DataFrame(recs)[["studlab", "treat1", "treat2", "TE", "seTE",
                                          "timepoint_weeks", "data_level"]])
    data.frame = (pd.concat(frames, ignore_index=True) if frames else
                  pd.DataFrame(columns=["studlab", "treat1", "treat2", "TE", "seTE",
                                        "timepoint_weeks", "data_level"]))
    return data


# ============================================================================ fit
def settings(review: Review, entry: NetworkEntry) -> dict[str, Any]:
    """The model of a network: measure, effects model, tau^2 method, level, small values,
    reference and MID (each from ``[[network]]``, else the outcome, else ``[model]``)."""
    cfg = review.config
    o = review.outcome(entry.outcome)
    measure = entry.measure or o.measure
    method = o.method or cfg.model.method
    model = entry.model or o.effects or cfg.model.effects or (
        "common" if method in ("EE", "FE", "CE") else "random")
    tau = entry.method_tau or (method if method in ("DL", "REML", "ML") else "DL")
    return {"measure": measure, "log_scale": measure in RATIO_MEASURES, "model": model,
            "method_tau": tau, "level": cfg.model.level,
            "small_values": entry.small_values or ("desirable" if o.direction ==
                                                   "lower_is_better" else "undesirable"),
            "reference": entry.reference, "mid": entry.mid if entry.mid is not None else (
                None if measure in RATIO_MEASURES else o.mid),
            "direction": o.direction}


def fit_network(frame: Any, s: dict[str, Any], treatments: list[str]) -> Any:
    """:func:`evsynth.models.network.fit.netmeta` on the comparisons with the settings."""
    from evsynth.models.network.fit import netmeta

    seq = [t for t in treatments if t in set(frame["treat1"]) | set(frame["treat2"])]
    return netmeta(data=frame[["studlab", "treat1", "treat2", "TE", "seTE"]],
                   sm=s["measure"].removesuffix("_CHANGE"), reference=s["reference"],
                   common=s["model"] == "common", random=s["model"] == "random",
                   method_tau=s["method_tau"], level=s["level"],
                   small_values=s["small_values"], seq=seq)


#: The fits of the last few sections (key: :func:`_fit_key`), so that the figures of a section
#: do not refit the network its analysis has just fitted (a REML fit takes ~0.1 s; a forked
#: figure process inherits them). Bounded: old entries are dropped first.
_FITS: OrderedDict[str, Any] = OrderedDict()
_FITS_MAX = 16


def _fit_key(section: dict[str, Any]) -> str:
    """What a section's fit depends on: its comparisons, settings and fitted treatments."""
    return json.dumps([section["comparisons"], section["settings"],
                       section["fitted_treatments"]], sort_keys=True, default=repr)


def _remember(section: dict[str, Any], fit: Any) -> None:
    key = _fit_key(section)
    _FITS[key] = fit
    _FITS.move_to_end(key)
    while len(_FITS) > _FITS_MAX:
        _FITS.popitem(last=False)


def refit(section: dict[str, Any]) -> Any:
    """The fitted network of a results.json ``networks`` entry: the fit its analysis made in
    this process when remembered, else refitted from its comparisons (for the figures; the same
    numbers as the section)."""
    import pandas as pd

    fit = _FITS.get(_fit_key(section))
    if fit is not None:
        return fit
    frame = pd.DataFrame(section["comparisons"])
    fit = fit_network(frame, section["settings"], section["fitted_treatments"])
    _remember(section, fit)
    return fit


def _noted(notes: list[str], what: str, fn: Callable[[], T]) -> T | None:
    """``fn()``, or None with a note saying why when the data do not allow it (an
    :class:`~evsynth.errors.InputError`); any other failure is a bug and surfaces."""
    try:
        return fn()
    except InputError as exc:
        notes.append(f"{what}: not computed: {exc}")
    return None


def _num(x: Any) -> float | None:
    """A finite float, else None (JSON has no NaN)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _table(frame: Any) -> dict[str, Any]:
    """A DataFrame as {"columns", "rows"} for results.json and the report."""
    from evsynth.models.results import to_jsonable

    return {"columns": [str(c) for c in frame.columns],
            "rows": to_jsonable(frame.to_numpy().tolist())}


def _matrix(df: Any) -> list[list[float | None]] | None:
    if df is None:
        return None
    return [[_num(v) for v in row] for row in df.to_numpy(dtype=float).tolist()]


# ============================================================================ result sections
def _records(frame: Any, cols: dict[str, str]) -> list[dict[str, Any]]:
    """Rows of ``frame`` as dicts of the named columns (``cols``: output key -> column), NaN as
    None."""
    return [{k: (rec[c] if isinstance(rec[c], str) else _num(rec[c])) for k, c in cols.items()}
            for rec in frame.to_dict("records")]


def netsplit_section(split: NetSplit, model: str) -> dict[str, Any]:
    """The node-split of every comparison (``NetSplit`` rows of ``model``): direct, indirect
    and network estimates with CIs (analysis scale), the difference and its test."""
    rows = _records(getattr(split, model), {
        "comparison": "comparison", "treat1": "treat1", "treat2": "treat2", "k": "k",
        "prop": "prop", "nma": "TE_nma", "nma_lower": "lower_nma", "nma_upper": "upper_nma",
        "direct": "TE_direct", "direct_lower": "lower_direct", "direct_upper": "upper_direct",
        "indirect": "TE_indirect", "indirect_lower": "lower_indirect",
        "indirect_upper": "upper_indirect", "diff": "diff", "diff_lower": "lower_diff",
        "diff_upper": "upper_diff", "z": "zval", "p": "pval"})
    for r in rows:
        r["k"] = int(r["k"] or 0)
        r["both"] = r["direct"] is not None and r["indirect"] is not None and r["k"] > 0
    return {"method": split.method, "model": model, "rows": rows}


def decomp_section(dd: DesignDecomposition) -> dict[str, Any]:
    """Q split by design (``DesignDecomposition``) and the design-by-treatment interaction
    test under the full interaction random-effects model (netmeta's ``Q.inc.random``)."""
    dec = dd.q_decomp
    r = dd.q_inc_random.iloc[0]
    return {
        "q": [{"term": str(t), "Q": _num(dec.loc[t, "Q"]), "df": int(dec.loc[t, "df"]),
               "pval": _num(dec.loc[t, "pval"])} for t in dec.index],
        "design_by_treatment": {"Q": _num(r["Q"]), "df": int(r["df"]), "pval": _num(r["pval"]),
                                "tau2_within": _num(r["tau2_within"]),
                                "tau_within": _num(r["tau_within"])},
        "within_design": _records(dd.q_het_design[dd.q_het_design["df"] > 0],
                                  {"design": "design", "Q": "Q", "df": "df", "pval": "pval"}),
        "detached": _records(dd.q_inc_detach, {"design": "design", "Q": "Q", "df": "df",
                                               "pval": "pval"})}


def ranking_section(ps: Ranking, rp: RankProbabilities) -> dict[str, Any]:
    """P-scores (``Ranking``) and SUCRA, mean and median rank and the rank probabilities
    (``RankProbabilities``), treatments in the fit's order."""
    prob = rp.probabilities
    return {"model": ps.model, "small_values": ps.small_values, "nsim": rp.nsim,
            "seed": rp.seed,
            "p_scores": [{**r, "rank": int(r["rank"])} for r in _records(
                ps.frame, {"treatment": "treatment", "pscore": "pscore", "rank": "rank"})],
            "sucra": _records(rp.frame, {"treatment": "treatment", "sucra": "sucra",
                                         "mean_rank": "mean_rank",
                                         "median_rank": "median_rank"}),
            "probabilities": {"treatments": [str(t) for t in prob.index],
                              "ranks": [str(c) for c in prob.columns],
                              "values": _matrix(prob)}}


def contribution_section(cm: ContributionMatrix) -> dict[str, Any]:
    """The contribution matrix in percent: rows every network comparison ("a:b"), columns the
    direct comparisons; and per study (``ContributionMatrix.study``)."""
    return {"model": cm.model, "method": cm.method,
            "rows": [str(i) for i in cm.frame.index],
            "columns": [str(c) for c in cm.frame.columns],
            "values": _matrix(100 * cm.frame),
            "studies": [str(c) for c in cm.study.columns],
            "study_values": _matrix(100 * cm.study)}


def league_section(lt: LeagueTable) -> dict[str, Any]:
    """The league table's cells as :class:`~evsynth.reports.network_plots.LeagueTable`
    formats them (one home for the formatting), with its caption."""
    return {"model": lt.model, "digits": lt.digits, "transf": lt.transf,
            "caption": lt.caption, "treatments": list(lt.treatments),
            "cells": [[str(v) for v in row] for row in lt.table.to_numpy().tolist()]}


def rob_judgements(review: Review, outcome: str) -> dict[str, Any]:
    """Study -> overall risk-of-bias judgement for ``outcome`` (outcome-specific where given)
    from the review's risk-of-bias table (studies.csv ``rob_*`` columns, risk_of_bias.csv);
    empty when the review has none."""

    rob = review.risk_of_bias()
    if rob is None:
        return {}
    js = rob._judgements(outcome if outcome in rob.outcomes else None)
    return {s: v.get("overall") for s, v in js.items()}


# ============================================================================ CINeMA
def cinema_prompts(fit: Any, s: dict[str, Any], *, split: NetSplit | None,
                   decomp: DesignDecomposition | None, contrib: ContributionMatrix | None,
                   rob: dict[str, Any], judgements: Any) -> Any:
    """The CINeMA prompts of every comparison of the fitted network
    (:func:`evsynth.summaries.cinema.build`) from the node-split (``NetSplit``), the
    design-by-treatment test (``DesignDecomposition.q_inc_random``) and the per-study
    contributions (``ContributionMatrix.study``); what is missing is said in the reasons."""
    from evsynth.summaries import cinema, grade

    model = s["model"]
    est = fit.estimates(model)
    treatments = list(fit.treatments)
    pseudo = {"id": "network", "measure": s["measure"], "log_scale": s["log_scale"],
              "outcome": {"mid": s["mid"] if not s["log_scale"] else None,
                          "direction": s["direction"]}}
    th = grade.thresholds(pseudo)
    bounds = cinema.equivalence_range(
        s["measure"], mid=s["mid"], log_scale=s["log_scale"],
        fallback=None if th is None else (th["benefit"], th["harm"]),
        fallback_note="" if th is None else f"thresholds {th['note']}")
    splits: dict[tuple[str, str], dict[str, Any]] = {}
    if split is not None:
        for rec in getattr(split, model).to_dict("records"):
            splits[(str(rec["treat1"]), str(rec["treat2"]))] = rec
    gtest: tuple[float | None, int | None, str]
    if decomp is None:
        gtest = (None, None, "design-by-treatment test not computed (see the notes)")
    else:
        r = decomp.q_inc_random.iloc[0]
        gtest = (_num(r["pval"]), int(r["df"]),
                 "no loop of evidence between designs (df 0)" if int(r["df"]) == 0 else "")
    contribs: dict[str, Any] = {}
    if contrib is not None:
        contribs = {str(i): {str(st): 100 * float(v) for st, v in row.items() if v > 0}
                    for i, row in contrib.study.iterrows()}
    comps = []
    pi_ok = model == "random" and est.lower_predict is not None
    for ia, a in enumerate(treatments):
        for b in treatments[ia + 1:]:
            rec, flip = splits.get((a, b)), False
            if rec is None and (b, a) in splits:
                rec, flip = splits[(b, a)], True
            sp: dict[str, Any] | str
            if rec is None:
                sp = "node-split not computed (see the notes)"
                has_direct = bool(np.isfinite(est.TE_direct.loc[a, b]))
                has_indirect = not has_direct
            else:
                d = (_num(rec["lower_direct"]), _num(rec["upper_direct"]))
                i = (_num(rec["lower_indirect"]), _num(rec["upper_indirect"]))
                has_direct = int(rec["k"]) > 0 and None not in d
                has_indirect = None not in i
                sp = {"p": _num(rec["pval"])}
                for kind, (lo, hi) in (("direct", d), ("indirect", i)):
                    if lo is not None and hi is not None:
                        sp[kind] = (-hi, -lo) if flip else (lo, hi)
            c: Any = (contribs.get(f"{a}:{b}") or "no contributions for this comparison"
                      ) if contrib is not None else "contribution matrix not computed (see " \
                                                     "the notes)"
            comps.append({
                "treat1": a, "treat2": b, "estimate": est.TE.loc[a, b],
                "ci_lb": est.lower.loc[a, b], "ci_ub": est.upper.loc[a, b],
                "pi_lb": est.lower_predict.loc[a, b] if pi_ok else None,
                "pi_ub": est.upper_predict.loc[a, b] if pi_ok else None,
                "no_pi": ("common-effect model: no prediction interval" if model == "common"
                          else f"no prediction interval (needs df_Q >= 2; df_Q = {fit.df_Q})"),
                "has_direct": has_direct, "has_indirect": has_indirect, "split": sp,
                "contributions": c})
    notes = [] if rob else ["within-study bias: the review has no risk-of-bias judgements "
                            "(studies.csv rob_* columns or risk_of_bias.csv), so every "
                            "contribution is 'not assessed'"]
    return cinema.build(comps, measure=s["measure"], log_scale=s["log_scale"],
                        reference=fit.reference, model=model, bounds=bounds,
                        global_test=gtest, rob=rob, judgements=judgements, level=s["level"],
                        notes=notes)


# ============================================================================ the section
def analyse_network(review: Review, entry: NetworkEntry) -> dict[str, Any]:
    """One ``networks`` entry of results.json (module docstring)."""
    from evsynth.models.network.fit import subnetworks
    from evsynth.summaries.cinema import reviewer_judgements

    cfg = review.config
    s = settings(review, entry)
    treatments = network_treatments(entry, review.outcomes)
    data = select(review, entry)
    frame = data.frame
    o, w = review.outcome(entry.outcome), review.window(entry.time)
    section: dict[str, Any] = {
        "id": entry.id, "label": entry.label or f"{o.label}: {w.label}",
        "outcome": {"id": o.id, "label": o.label, "direction": o.direction},
        "window": {"id": w.id, "label": w.label}, "settings": s,
        "treatments": treatments,
        "treatment_labels": {t: cfg.treatments.get(t, t) for t in treatments},
        "studies": data.used, "excluded": data.excluded, "notes": list(data.notes),
        "participants": data.participants, "fitted": False, "left_out": [],
        "comparisons": [], "fitted_treatments": [], "figures": {}}
    notes: list[str] = section["notes"]
    present = sorted(set(frame["treat1"]) | set(frame["treat2"])) if len(frame) else []
    for t in treatments:
        if t not in present:
            section["left_out"].append({"treatments": [t], "studies": [],
                                        "reason": "no data in this time window"})
    if not present:
        section["message"] = ("no study has data for two of the network's treatments in this "
                              "time window: nothing to fit")
        return section
    groups = subnetworks(frame)
    ref = s["reference"]
    if ref is None or ref not in present:
        if ref is not None:
            notes.append(f"the reference {ref!r} has no data in this time window; the network "
                         "is reported against the first listed treatment of the fitted "
                         "sub-network")
        ref = None
    chosen = next((g for g in groups if ref in g), groups[0])
    if ref is None:
        ref = next(t for t in treatments if t in chosen)
    s["reference"] = ref
    for g in groups:
        if g is chosen:
            continue
        studies = sorted(set(frame.loc[frame["treat1"].isin(g), "studlab"]))
        section["left_out"].append({
            "treatments": g, "studies": studies,
            "reason": f"not connected to {ref!r} (a separate sub-network)"})
    if len(groups) > 1:
        section["message"] = (f"the network is not connected: {len(groups)} sub-networks "
                              f"({'; '.join('{' + ', '.join(g) + '}' for g in groups)}); the "
                              f"one holding {ref!r} is fitted")
    frame = frame[frame["treat1"].isin(chosen)].reset_index(drop=True)
    section["comparisons"] = frame.to_dict("records")
    section["fitted_treatments"] = [t for t in treatments if t in chosen]
    if len(chosen) < 2:
        return section
    fit = fit_network(frame, s, section["fitted_treatments"])
    _remember(section, fit)
    model = s["model"]
    est = fit.estimates(model)
    section["fitted"] = True
    section["k"], section["m"], section["n"] = fit.k, fit.m, fit.n
    section["designs"] = fit.designs
    section["heterogeneity"] = {"Q": fit.Q, "df": fit.df_Q, "pval": fit.pval_Q,
                                "tau2": fit.tau2, "tau": fit.tau, "I2": fit.I2,
                                "I2_lower": fit.I2_lower, "I2_upper": fit.I2_upper,
                                "method_tau": fit.method_tau}
    section["estimates"] = _table(fit.to_frame())
    names = list(fit.treatments)
    section["matrices"] = {
        "treatments": names, "model": model,
        "TE": _matrix(est.TE), "lower": _matrix(est.lower), "upper": _matrix(est.upper),
        "lower_predict": _matrix(est.lower_predict), "upper_predict": _matrix(est.upper_predict),
        "TE_direct": _matrix(est.TE_direct), "seTE_direct": _matrix(est.seTE_direct)}
    section["method_info"] = fit.method_info
    section["league"] = league_section(fit.league_table(model=model))
    split = fit.netsplit()
    decomp = _noted(notes, "design-based decomposition of Q (decomp_design)",
                    fit.decomp_design)
    contrib = fit.contribution(model=model)
    pscores = fit.p_scores(model=model)
    ranks = fit.rank_probabilities(nsim=RANK_NSIM, seed=RANK_SEED, model=model)
    section["inconsistency"] = {
        "netsplit": netsplit_section(split, model),
        "decomp_design": None if decomp is None else decomp_section(decomp)}
    section["rankings"] = ranking_section(pscores, ranks)
    section["contribution"] = contribution_section(contrib)
    loops = decomp is not None and int(decomp.q_decomp.loc["Between designs", "df"]) > 0
    if loops:
        section["netheat_available"] = _noted(
            notes, "net heat plot (netheat)", lambda: fit.netheat(model=model)) is not None
    else:
        section["netheat_available"] = False
        notes.append("net heat plot: not needed (no loop of evidence between designs: "
                     "between-designs df = 0)")
    judged = reviewer_judgements(entry.cinema)
    cin = cinema_prompts(fit, s, split=split, decomp=decomp, contrib=contrib,
                         rob=rob_judgements(review, entry.outcome), judgements=judged)
    section["cinema"] = cin.to_dict()
    return section


def network_sections(review: Review) -> list[dict[str, Any]]:
    """The ``networks`` section of results.json: one entry per ``[[network]]``."""
    return [analyse_network(review, n) for n in review.config.network]


# ============================================================================ figures
def plan_network_figures(results: dict[str, Any]) -> None:
    """Name the figure files of each fitted network (``figures``: kind -> {key, caption, svg,
    png}): the graph, the forest plot, the rankogram and, where the network has a loop of
    evidence between designs, the net heat plot."""
    for sec in results.get("networks") or []:
        if not sec.get("fitted"):
            continue
        figs = {}
        for kind, (_, caption) in FIGURE_KINDS.items():
            if kind == "netheat" and not sec.get("netheat_available"):
                continue
            stem = f"network.{sec['id']}.{kind}"
            figs[kind] = {"key": f"network:{sec['id']}:{kind}", "caption": caption,
                          "svg": f"{FIGURES_DIR}/{stem}.svg", "png": f"{FIGURES_DIR}/{stem}.png"}
        sec["figures"] = figs


def figure_paths(results: dict[str, Any], fmt: str = "svg") -> dict[str, str]:
    """Network figure key -> file (relative to the output folder)."""
    return {f["key"]: f[fmt] for sec in results.get("networks") or []
            for f in (sec.get("figures") or {}).values()}


def figure_jobs(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``("network", {"section", "kind", "figure"})`` jobs for the pipeline's figure step."""
    return [("network", {"id": f["key"], "section": sec, "kind": kind, "figure": f})
            for sec in results.get("networks") or []
            for kind, f in (sec.get("figures") or {}).items()]


def figure_cost(item: dict[str, Any]) -> int:
    """Rough drawing cost of one network figure job, in the units of the pipeline's forest-plot
    cost (about one forest row each, ~9 ms for SVG + PNG): measured on the vertebroplasty
    example, a rankogram (one panel per treatment) costs about two forest plots, so that the
    figures are shared evenly between processes."""
    n = len(item["section"].get("fitted_treatments") or [])
    kind = item["kind"]
    if kind == "rankogram":
        return 6 + 6 * n
    if kind == "forest":
        return 8 + n
    if kind == "graph":
        return 4 + n
    return 8 + 2 * len(item["section"].get("designs") or [])


def figure_of(item: dict[str, Any]) -> Any:
    """The matplotlib Figure of one network figure job (the network refitted from its
    comparisons, :func:`refit`); a figure the data do not allow (an InputError) is replaced
    by one saying why; any other failure surfaces."""
    from evsynth.reports import network_plots as plots

    sec, kind = item["section"], item["kind"]
    s = sec["settings"]
    try:
        fit = refit(sec)
        if kind == "graph":
            return plots.network_graph(fit)
        if kind == "forest":
            return plots.forest_network(fit, model=s["model"], reference=s["reference"])
        if kind == "rankogram":
            return plots.rankogram(fit.rank_probabilities(nsim=RANK_NSIM, seed=RANK_SEED,
                                                          model=s["model"]))
        return plots.netheat_plot(fit.netheat(model=s["model"]))
    except InputError as exc:  # the data do not allow it: shown in the figure and section
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 1.2))
        fig.text(0.02, 0.5, f"{FIGURE_KINDS[kind][1]} could not be drawn: "
                 f"{type(exc).__name__}: {exc}"[:300], va="center", wrap=True)
        sec["notes"].append(f"{FIGURE_KINDS[kind][1]}: drawing failed ({exc})")
        return fig


def draw(item: dict[str, Any], fig_dir: Path) -> None:
    """Write one network figure as SVG and PNG into ``fig_dir``."""
    from evsynth.files import save_figures

    fig = figure_of(item)
    fig_dir.mkdir(parents=True, exist_ok=True)
    save_figures(fig, [fig_dir / Path(item["figure"][fmt]).name for fmt in ("svg", "png")])


__all__ = ["analyse_network", "check_networks", "network_sections", "plan_network_figures",
           "select", "settings"]
