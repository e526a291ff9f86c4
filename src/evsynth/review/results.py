"""results.json: the versioned, documented output of ``evsynth run`` (docs/results-schema.md).

Besides the top-level assembly (:func:`build_results`), the sections added from a loaded review
(schema 1.4): the per-study "Characteristics of included studies" of each comparison
(:func:`included_studies_section`), the risk-of-bias section with its tables, figures, forest
columns and the GRADE prompt's share of weight at high risk (:func:`risk_of_bias_section`,
built on :mod:`evsynth.reports.rob`), the records section of the folder's records store
(:func:`records_section_of`) and the names of the figures the output folder holds
(:func:`plan_figures`).
"""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evsynth.errors import InputError
from evsynth.files import atomic_write_text
from evsynth.models.results import to_jsonable
from evsynth.review.analysis import outcome_dict, window_dict
from evsynth.review.load import Review

SCHEMA = "evsynth.results"
#: major.minor: the minor part grows when keys are added, the major part when keys change
SCHEMA_VERSION = "1.5"


def study_dicts(review: Review) -> list[dict[str, Any]]:
    """studies.csv rows as plain dicts (documented columns, then any extra columns)."""
    return [s.model_dump() for s in review.studies]


def comparison_summary(review: Review, cid: str) -> dict[str, Any]:
    """Trials and participants of one comparison: the studies with any row for it in
    outcomes.csv; participants = sum of studies.csv ``n_randomised`` (else n_intervention +
    n_control) over the studies where it is known."""
    c = review.comparison(cid)
    ids = sorted({sid for o in review.config.outcomes for sid in review.rows_for(c, o.id)})
    by_id = review.study_by_id
    total, unknown = 0, []
    for sid in ids:
        s = by_id.get(sid)
        n = None
        if s is not None:
            n = s.n_randomised or ((s.n_intervention + s.n_control)
                                   if s.n_intervention and s.n_control else None)
        if n is None:
            unknown.append(sid)
        else:
            total += n
    return {"id": c.id, "label": c.label,
            "intervention": review.config.side_label(c, "intervention"),
            "control": review.config.side_label(c, "control"),
            "intervention_treatments": c.intervention_treatments,
            "control_treatments": c.control_treatments, "multiarm": c.multiarm,
            "k_trials": len(ids), "participants": total, "participants_unknown": unknown,
            "study_ids": ids, "characteristics": None}


def not_analysed(review: Review, analyses: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Comparison x outcome x window combinations with no assessment in the window."""
    done = {a["id"] for a in analyses}
    have = {(c.id, o.id) for c in review.config.comparisons for o in review.config.outcomes
            if review.rows_for(c, o.id)}
    out = []
    for c in review.config.comparisons:
        for o in review.config.outcomes:
            for w in review.config.windows:
                aid = f"{c.id}.{o.id}.{w.id}"
                if aid not in done:
                    why = ("no study has an assessment in this window" if (c.id, o.id) in have
                           else "no data for this comparison and outcome")
                    out.append({"id": aid, "reason": why})
    return out


def provenance(review: Review, started: datetime) -> dict[str, Any]:
    from evsynth import __version__

    return {"evsynth_version": __version__,
            "created_utc": started.astimezone(UTC).isoformat(timespec="seconds"),
            "python": sys.version.split()[0], "platform": platform.platform(),
            "review_dir": str(review.path),
            "input_files": {name: {"sha256": h} for name, h in review.hashes.items()},
            "reference": "effects: evsynth.effect_size (metafor escalc); models: evsynth.meta "
                         "(metafor rma.uni)"}


def build_results(review: Review, analyses: list[dict[str, Any]],
                  started: datetime | None = None) -> dict[str, Any]:
    """The results.json content (without sof/grade/figures filled in: the pipeline adds them)."""
    cfg = review.config
    started = started or datetime.now(UTC)
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "review": {"title": cfg.title, "question": cfg.question,
                   "model": cfg.model.model_dump(),
                   "change_scores": cfg.change_scores.model_dump(),
                   "sensitivity": cfg.sensitivity.model_dump(),
                   "outcomes": [outcome_dict(o) for o in cfg.outcomes],
                   "windows": [window_dict(w) for w in cfg.windows],
                   "subgroups": [s.model_dump() for s in cfg.subgroups],
                   "treatments": dict(cfg.treatments)},
        "comparisons": [comparison_summary(review, c.id) for c in cfg.comparisons],
        "studies": study_dicts(review),
        "analyses": analyses,
        "not_analysed": not_analysed(review, analyses),
        "provenance": provenance(review, started),
    }


def results_json(results: dict[str, Any]) -> str:
    """Serialise results (NaN never written: to_jsonable maps it to null)."""
    return json.dumps(to_jsonable(results), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_results_json(results: dict[str, Any], path: str | Path) -> Path:
    """Write results.json atomically; returns the path."""
    return atomic_write_text(path, results_json(results))


# ============================================================================== schema 1.4
FIGURES_DIR = "figures"


def plan_figures(results: dict[str, Any], *, forest: bool = True) -> None:
    """Name the figure files of every analysis (``figures``: ``forest_svg``/``forest_png``
    when forest plots are drawn, ``funnel_svg``/``funnel_png`` when small-study effects were
    assessed), relative to the output folder. The risk-of-bias figures are named by
    :func:`risk_of_bias_section`."""
    for a in results["analyses"]:
        if forest:
            stem = f"{a['id']}.forest"
            a["figures"] = {"forest_svg": f"{FIGURES_DIR}/{stem}.svg",
                            "forest_png": f"{FIGURES_DIR}/{stem}.png"}
        if (a.get("small_study") or {}).get("assessed"):
            stem = f"{a['id']}.funnel"
            a["figures"] = {**(a.get("figures") or {}),
                            "funnel_svg": f"{FIGURES_DIR}/{stem}.svg",
                            "funnel_png": f"{FIGURES_DIR}/{stem}.png"}


def records_section_of(review: Review) -> dict[str, Any] | None:
    """The ``records`` section (search table, PRISMA counts, screening agreement, excluded
    studies, reports per study, consistency) from :mod:`evsynth.review.records_section`;
    None when the folder has no records store."""
    from evsynth.review.records_section import records_section

    section: dict[str, Any] | None = records_section(review)
    return section


def _outcomes_by_study(review: Review, cid: str) -> dict[str, list[str]]:
    c = review.comparison(cid)
    out: dict[str, list[str]] = {}
    for o in review.config.outcomes:
        for sid in review.rows_for(c, o.id):
            out.setdefault(sid, []).append(o.label or o.id)
    return out


def included_studies_section(review: Review, results: dict[str, Any]) -> None:
    """Fill ``included_studies`` of every comparison: one row per study with the free-text
    columns of studies.csv (methods, participants, interventions, outcomes, notes; see
    :func:`evsynth.summaries.characteristics.included_studies`)."""
    from evsynth.summaries.characteristics import included_studies

    for c in results["comparisons"]:
        c["included_studies"] = included_studies(
            results["studies"], {k: c[k] for k in ("id", "label", "intervention", "control")},
            c["study_ids"], _outcomes_by_study(review, c["id"]))


def review_risk_of_bias(review: Review) -> Any:
    """The review's :class:`~evsynth.reports.rob.RiskOfBias` from the studies.csv columns
    (``rob_*``) and, when present, the folder's ``risk_of_bias.csv``; None when no study has
    a judgement."""
    import pandas as pd

    from evsynth.reports.rob import LONG_COLUMNS, long_table_path, read_risk_of_bias, read_table

    studies = pd.DataFrame([{k: ("" if v is None else str(v)) for k, v in s.model_dump().items()}
                            for s in review.studies])
    long_path = long_table_path(review.path)  # checked as load_review and validate check it
    long = read_table(long_path, LONG_COLUMNS, "judgement") if long_path is not None else None
    rob_cols = [c for c in studies.columns if str(c).lower().startswith("rob_")
                and str(c).lower() != "rob_tool"]
    if long is None and not any((studies[c].str.strip() != "").any() for c in rob_cols):
        return None
    rob = read_risk_of_bias(studies, long)
    check_rob_outcomes(rob, [o.id for o in review.config.outcomes])
    return rob


def check_rob_outcomes(rob: Any, outcome_ids: list[str]) -> None:
    """Every outcome of an outcome-specific judgement in risk_of_bias.csv is an outcome id of
    review.toml (docs/risk-of-bias.md): an unknown one ('RTI' for 'rti', a typo) was dropped
    silently and its judgements never applied (fuzz round 5)."""
    from evsynth.reports.rob import LONG_FILE

    unknown = [o for o in rob.outcomes if o not in outcome_ids]
    if unknown:
        frame = rob.frame
        study = frame.loc[frame["outcome"] == unknown[0], "study"].iloc[0]
        raise InputError(f"{LONG_FILE}: study {study!r}: field 'outcome' is {unknown[0]!r}; "
                         f"expected an outcome id of review.toml ({', '.join(outcome_ids)}) or "
                         "empty (a judgement for every outcome)")


def _slug(x: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]", "_", x)


def _assessed(rob: Any, ids: list[str], outcome: str | None) -> bool:
    js = rob._judgements(outcome)
    return any(v is not None for s in ids for v in js.get(s, {}).values())


def _by_tool(rob: Any, ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for s in dict.fromkeys(ids):
        out.setdefault(rob.tools[s], []).append(s)
    return out


def _title(a: dict[str, Any]) -> str:
    o, w = a.get("outcome") or {}, a.get("window") or {}
    title = str(o.get("label") or o.get("id"))
    return f"{title}: {w['label']}" if w.get("label") else title


def _rob_figure(fid: str, kind: str, tool: str, studies: list[str], caption: str, *,
                comparison: str | None, analysis: str | None = None, outcome: str | None = None,
                weights: dict[str, float] | None = None) -> dict[str, Any]:
    return {"id": fid, "kind": kind, "tool": tool, "comparison": comparison,
            "analysis": analysis, "outcome": outcome, "studies": studies, "weights": weights,
            "caption": caption, "svg": f"{FIGURES_DIR}/{fid}.svg",
            "png": f"{FIGURES_DIR}/{fid}.png"}


def risk_of_bias_section(review: Review, results: dict[str, Any]) -> dict[str, Any] | None:
    """The ``risk_of_bias`` section of results.json (None when no study has a judgement).

    Holds the tidy judgements (study x outcome x domain, with the reviewers' support), the
    tools and their domains, per comparison the tables to show (one per tool, and one per
    outcome with outcome-specific judgements), and the figures: per comparison and tool the
    robvis traffic-light plot and the summary plot (share of studies), per analysis with two
    or more studies the summary plot weighted by the analysis weights (robvis
    ``weighted = TRUE``; McGuinness & Higgins 2021, doi:10.1002/jrsm.1411). Each analysis
    gets ``risk_of_bias_weight`` (the share of its weight from studies at high risk of bias,
    the GRADE risk-of-bias prompt: Guyatt et al. 2011, GRADE guidelines 4,
    doi:10.1016/j.jclinepi.2010.07.017) and ``risk_of_bias_columns`` (the RevMan-style columns
    beside its forest plot)."""
    from evsynth.reports.rob import TOOLS, analysis_high_risk_share

    rob = review.risk_of_bias()
    if rob is None:
        return None
    figures: list[dict[str, Any]] = []
    comps: list[dict[str, Any]] = []
    for c in results["comparisons"]:
        ids = [s for s in c["study_ids"] if s in rob.tools]
        entry: dict[str, Any] = {"comparison": c["id"], "tables": []}
        if ids and _assessed(rob, ids, None):
            for key, group in _by_tool(rob, ids).items():
                tool = TOOLS[key]
                entry["tables"].append({"tool": tool.name, "outcome": None, "studies": group})
                base = f"rob.{_slug(c['id'])}.{key}"
                figures.append(_rob_figure(
                    f"{base}.traffic_light", "traffic_light", tool.name, group,
                    f"Risk of bias ({tool.name}) of each study: {c['label']}",
                    comparison=c["id"]))
                figures.append(_rob_figure(
                    f"{base}.summary", "summary", tool.name, group,
                    f"Risk of bias ({tool.name}) across studies (percentage of studies): "
                    f"{c['label']}", comparison=c["id"]))
            for oid in rob.outcomes:
                mine = {a["outcome"]["id"] for a in results["analyses"]
                        if a["comparison"]["id"] == c["id"] and a.get("k")}
                if oid in mine:
                    for key, group in _by_tool(rob, ids).items():
                        entry["tables"].append({"tool": TOOLS[key].name, "outcome": oid,
                                                "studies": group})
        comps.append(entry)
    for a in results["analyses"]:
        rows = [s for s in a.get("studies") or [] if s.get("study_id") in rob.tools]
        if not rows:
            continue
        ids = [str(s["study_id"]) for s in rows]
        oid = a["outcome"]["id"]
        outcome = oid if oid in rob.outcomes else None
        if all(s.get("weight") is not None for s in rows):
            a["risk_of_bias_weight"] = analysis_high_risk_share(a, rob)
        by_tool = _by_tool(rob, ids)
        if len(by_tool) == 1:
            a["risk_of_bias_columns"] = rob.forest_columns(ids, outcome).to_dict()
        if len(set(ids)) >= 2 and _assessed(rob, ids, outcome):
            weights: dict[str, float] = {}
            for s in rows:
                weights[str(s["study_id"])] = weights.get(str(s["study_id"]), 0.0) + float(
                    s.get("weight") or 0.0)
            for key, group in by_tool.items():
                w = {s: weights[s] for s in group}
                if len(group) < 2 or sum(w.values()) <= 0:
                    continue
                tool = TOOLS[key]
                figures.append(_rob_figure(
                    f"rob.{_slug(a['id'])}.{key}.weighted", "summary", tool.name, group,
                    f"Risk of bias ({tool.name}) weighted by the meta-analysis weights "
                    f"(percentage of the weight): {_title(a)}", comparison=a["comparison"]["id"],
                    analysis=a["id"], outcome=outcome, weights=w))
    return {"tools": {s: TOOLS[k].name for s, k in rob.tools.items()},
            "tool_keys": dict(rob.tools),
            "domains": {t.name: [{"code": code, "name": name} for code, name in zip(
                t.codes, (*t.domains, "Overall risk of bias"), strict=True)]
                for t in (TOOLS[k] for k in sorted(set(rob.tools.values())))},
            "studies": list(rob.studies), "outcomes": rob.outcomes,
            "judgements": [{k: (None if v is None or v != v else v) for k, v in r.items()}
                           for r in rob.frame.to_dict("records")],
            "comparisons": comps, "figures": figures}


def rob_figure(section: dict[str, Any], figure: dict[str, Any]) -> Any:
    """The matplotlib Figure of one entry of the section's ``figures`` (traffic-light or
    summary plot, weighted when the entry has ``weights``)."""
    from evsynth.reports.html import rob_from_section

    rob = rob_from_section(section)
    if figure["kind"] == "traffic_light":
        return rob.traffic_light(figure.get("outcome"), figure["studies"])
    return rob.summary_plot(figure.get("outcome"), figure["studies"],
                            weights=figure.get("weights"))
