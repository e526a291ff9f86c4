"""results.json: the versioned, documented output of ``evsynth run`` (docs/results-schema.md)."""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evsynth.files import atomic_write_text
from evsynth.models.results import to_jsonable
from evsynth.review.analysis import outcome_dict, window_dict
from evsynth.review.load import Review

SCHEMA = "evsynth.results"
#: major.minor: the minor part grows when keys are added, the major part when keys change
SCHEMA_VERSION = "1.3"


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
