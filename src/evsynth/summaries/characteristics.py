"""Study characteristics per comparison, from the rows of studies.csv.

The summary a review gives of its included trials (Cochrane Handbook 9.3 and MECIR R101: number of
trials and participants, setting, participants, funding sources and declarations): trials,
participants randomised, countries, % female (range and participant-weighted mean), mean age range,
symptom duration, industry funding and the funder's role. A fact no row reports is said to be
missing, with the count of trials reporting it; nothing is estimated.
"""

from __future__ import annotations

import math
import re
from typing import Any

from evsynth.errors import InputError, finite_number
from evsynth.summaries.sof import format_number

MISSING = "not reported in studies.csv"
#: free-text columns of studies.csv shown in "Characteristics of included studies" (Cochrane
#: Handbook 5.4 / MECIR R101 table headings), in their order
FREE_TEXT = ("methods", "participants", "interventions", "outcomes", "notes")


def _value(row: dict, key: str) -> Any:
    """A cell, None when empty, NaN or 'NR'."""
    v = row.get(key)
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, str) and v.strip().lower() in ("", "nr", "na", "n/a", "not reported"):
        return None
    return v


def _num(row: dict, key: str) -> float | None:
    return finite_number(_value(row, key), f"studies.csv: study {row.get('study_id')!r}", key,
                         expected="a finite number or empty")


def _of(n: int, k: int) -> str:
    return f"{n} of {k} {'trial' if k == 1 else 'trials'} report it"


def _missing(k: int) -> str:
    return f"{MISSING} (0 of {k} {'trial' if k == 1 else 'trials'})"


def _range(lo: float, hi: float, unit: str) -> str:
    """``62.6 to 81 years``, or one value when all trials agree."""
    if format_number(lo, 1) == format_number(hi, 1):
        return f"{format_number(lo, 1)}{unit}"
    return f"{format_number(lo, 1)}{'%' if unit == '%' else ''} to {format_number(hi, 1)}{unit}"


def _n(row: dict) -> float | None:
    """Participants randomised: n_randomised, else n_intervention + n_control."""
    n = _num(row, "n_randomised")
    if n is None:
        ni, nc = _num(row, "n_intervention"), _num(row, "n_control")
        if ni is not None and nc is not None:
            n = ni + nc
    return n


def summarise(studies: list[dict], comparison: dict, study_ids: list[str]) -> dict[str, Any]:
    """Characteristics of the trials ``study_ids`` of one comparison.

    ``studies``: studies.csv rows as dicts (``study_id``, ``country``, ``n_randomised`` or
    ``n_intervention`` + ``n_control``, ``mean_age``, ``percent_female``, ``symptom_duration``,
    ``industry_funding`` yes/no/unclear, ``funding``, ``funder_role``). Returns counts, ranges
    and texts, plus ``rows``: (label, text) pairs for a report table. Participant-weighted mean
    % female = sum(n_i x female_i) / sum(n_i) over trials reporting both.
    """
    if not isinstance(comparison, dict):
        raise InputError(f"comparison is {type(comparison).__name__}; expected a dict")
    by_id: dict[str, dict] = {}
    for i, row in enumerate(studies):
        if not isinstance(row, dict) or not row.get("study_id"):
            raise InputError(f"studies.csv row {i + 1}: field 'study_id' is missing; expected "
                             "the study's id")
        by_id[str(row["study_id"])] = row
    ids = list(dict.fromkeys(str(s) for s in study_ids))
    rows = [by_id.get(s, {"study_id": s}) for s in ids]
    undescribed = [s for s in ids if s not in by_id]
    k = len(ids)
    out: dict[str, Any] = {"comparison": comparison.get("id"), "label": comparison.get("label"),
                           "trials": k, "study_ids": ids, "undescribed": undescribed}
    # participants randomised
    ns = {r["study_id"]: _n(r) for r in rows}
    known = [v for v in ns.values() if v is not None]
    total = int(sum(known)) if known else None
    out["participants"] = {"total": total, "n_reporting": len(known),
                           "text": (_missing(k) if not known else f"{total}" + (
                               "" if len(known) == k else f" ({_of(len(known), k)})"))}
    # countries (a multinational trial lists several, separated by ; or ,)
    countries: list[str] = []
    n_c = 0
    for r in rows:
        v = _value(r, "country")
        if v is not None:
            n_c += 1
            countries += [c.strip() for c in re.split(r"[;,]", str(v)) if c.strip()]
    distinct = sorted(set(countries))
    out["countries"] = {"values": distinct, "n": len(distinct), "n_reporting": n_c,
                        "text": _missing(k) if not n_c else (
                            f"{len(distinct)}: {', '.join(distinct)}"
                            + ("" if n_c == k else f" ({_of(n_c, k)})"))}
    # % female
    fem: list[tuple[float, float | None]] = []  # (% female, participants) of reporting trials
    for r in rows:
        pct = _num(r, "percent_female")
        if pct is not None:
            fem.append((pct, ns[r["study_id"]]))
    if fem:
        vals = [pct for pct, _ in fem]
        sizes = [n for _, n in fem if n is not None]
        weighted = len(sizes) == len(fem)
        mean = (sum(pct * n for pct, n in zip(vals, sizes, strict=True)) / sum(sizes)
                if weighted else sum(vals) / len(vals))
        text = (_range(min(vals), max(vals), "%") + "; "
                f"{'participant-weighted' if weighted else 'unweighted'} mean "
                f"{format_number(mean, 1)}%" + ("" if len(fem) == k else f" ({_of(len(fem), k)})"))
        out["percent_female"] = {"min": min(vals), "max": max(vals), "mean": mean,
                                 "weighted": weighted, "n_reporting": len(fem), "text": text}
    else:
        out["percent_female"] = {"min": None, "max": None, "mean": None, "weighted": False,
                                 "n_reporting": 0, "text": _missing(k)}
    # mean age
    ages = [a for a in (_num(r, "mean_age") for r in rows) if a is not None]
    out["age"] = {"min": min(ages) if ages else None, "max": max(ages) if ages else None,
                  "n_reporting": len(ages),
                  "text": _missing(k) if not ages else (
                      f"mean age {_range(min(ages), max(ages), ' years')}"
                      + ("" if len(ages) == k else f" ({_of(len(ages), k)})"))}
    ranges = {r["study_id"]: str(_value(r, "age_range")) for r in rows
              if _value(r, "age_range") is not None}
    if ranges:
        out["age"]["ranges"] = ranges
        listed = "; ".join(f"{s}: {v}" for s, v in ranges.items())
        out["age"]["text"] = (listed if not ages else out["age"]["text"] + "; ranges: " + listed)
    # symptom duration (free text per trial)
    dur = {r["study_id"]: str(_value(r, "symptom_duration")) for r in rows
           if _value(r, "symptom_duration") is not None}
    out["symptom_duration"] = {"values": dur, "n_reporting": len(dur),
                               "text": _missing(k) if not dur else (
                                   "; ".join(f"{s}: {v}" for s, v in dur.items())
                                   + ("" if len(dur) == k else f" ({_of(len(dur), k)})"))}
    # industry funding and the funder's role
    flags = {r["study_id"]: str(_value(r, "industry_funding")).lower() for r in rows
             if _value(r, "industry_funding") is not None}
    for s, v in flags.items():
        if v not in ("yes", "no", "unclear"):
            raise InputError(f"studies.csv: study {s!r}: field 'industry_funding' is {v!r}; "
                             "expected yes, no or unclear")
    yes = [s for s, v in flags.items() if v == "yes"]
    roles = {s: str(_value(by_id.get(s, {}), "funder_role") or "not reported") for s in yes}
    no_role = sum(1 for r in roles.values() if re.search(r"\bno role\b", r, re.I))
    if flags:
        text = (f"{len(yes)} of {len(flags)} trials reporting funding had industry funding"
                + (f" ({', '.join(yes)})" if yes else ""))
        if yes:
            text += (f"; funder had no role in {no_role} of them; funder's role: "
                     + "; ".join(f"{s}: {r}" for s, r in roles.items()))
        unclear = sum(1 for v in flags.values() if v == "unclear")
        if unclear:
            text += f"; unclear in {unclear}"
        if len(flags) < k:
            text += f" ({_of(len(flags), k)})"
    else:
        text = _missing(k)
    out["industry_funding"] = {"yes": len(yes), "no": sum(v == "no" for v in flags.values()),
                               "unclear": sum(v == "unclear" for v in flags.values()),
                               "n_reporting": len(flags), "funder_roles": roles,
                               "no_role": no_role, "text": text}
    out["rows"] = [
        ["Trials", str(k)],
        ["Participants (randomised)", out["participants"]["text"]],
        ["Countries", out["countries"]["text"]],
        ["Female", out["percent_female"]["text"]],
        ["Age", out["age"]["text"]],
        ["Symptom duration", out["symptom_duration"]["text"]],
        ["Industry funding", out["industry_funding"]["text"]],
    ]
    if undescribed:
        out["rows"].append(["Not in studies.csv", ", ".join(undescribed)])
    return out


def _text(row: dict, key: str) -> str | None:
    v = row.get(key)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    t = " ".join(str(v).split())
    return t or None


def included_studies(studies: list[dict], comparison: dict, study_ids: list[str],
                     outcomes_by_study: dict[str, list[str]] | None = None
                     ) -> list[dict[str, Any]]:
    """"Characteristics of included studies" of one comparison: one row per study, with the
    table headings of a Cochrane review (Cochrane Handbook v6.4 section 5.4 and MECIR R101):
    Methods, Participants, Interventions, Outcomes, Notes.

    Each heading is the study's free-text column of the same name in studies.csv
    (``methods``, ``participants``, ``interventions``, ``outcomes``, ``notes``; ``note`` is
    read for ``notes``). Where a column is empty, the facts studies.csv and outcomes.csv hold
    are shown instead and marked as such in ``derived``: Methods from ``design`` and
    ``country``; Participants from ``n_randomised`` (else n_intervention and n_control),
    ``mean_age`` and ``percent_female``; Interventions from the comparison's two sides;
    Outcomes from the outcomes with data for the study (``outcomes_by_study``). Nothing else is
    filled in.

    Returns a list of dicts: ``study_id``, ``label``, the five headings (text or None) and
    ``derived`` (the headings filled from other columns).
    """
    by_id = {str(r.get("study_id")): r for r in studies if isinstance(r, dict)}
    out = []
    for sid in dict.fromkeys(str(s) for s in study_ids):
        row = by_id.get(sid, {"study_id": sid})
        entry: dict[str, Any] = {"study_id": sid, "label": _text(row, "label") or sid}
        derived: list[str] = []
        for key in FREE_TEXT:
            entry[key] = _text(row, key)
        if entry["notes"] is None:
            entry["notes"] = _text(row, "note")
        if entry["methods"] is None:
            bits = [b for b in (_text(row, "design"),
                                f"country: {_text(row, 'country')}" if _text(row, "country")
                                else None) if b]
            if bits:
                entry["methods"] = "; ".join(bits)
                derived.append("methods")
        if entry["participants"] is None:
            bits = []
            n = _num(row, "n_randomised")
            ni, nc = _num(row, "n_intervention"), _num(row, "n_control")
            if n is not None:
                bits.append(f"{format_number(n, 0)} randomised")
            elif ni is not None and nc is not None:
                bits.append(f"{format_number(ni, 0)} intervention, {format_number(nc, 0)} "
                            "control")
            age = _num(row, "mean_age")
            if age is not None:
                bits.append(f"mean age {format_number(age, 1)} years")
            fem = _num(row, "percent_female")
            if fem is not None:
                bits.append(f"{format_number(fem, 1)}% female")
            if bits:
                entry["participants"] = "; ".join(bits)
                derived.append("participants")
        if entry["interventions"] is None and comparison.get("intervention"):
            entry["interventions"] = (f"{comparison.get('intervention')} versus "
                                      f"{comparison.get('control')}")
            derived.append("interventions")
        if entry["outcomes"] is None and outcomes_by_study and outcomes_by_study.get(sid):
            entry["outcomes"] = ("with data in outcomes.csv: "
                                 + "; ".join(dict.fromkeys(outcomes_by_study[sid])))
            derived.append("outcomes")
        entry["derived"] = derived
        out.append(entry)
    return out
