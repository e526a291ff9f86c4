"""Arm-based review data: which rows of outcomes.csv a comparison uses, and multi-arm trials.

A comparison of ``review.toml`` names two treatments, or two groups of treatments lumped together
(``intervention = ["kyphoplasty", "kyphoplasty_highdose"]``). For one study and outcome the rows
it uses are

- arm rows whose ``treatment`` is on either side (arm-based format; a row whose ``comparison``
  is filled in serves that comparison only), and contrast rows (``contrast``, ``o_minus_e``,
  ``logrank``) whose ``treatment`` and ``comparator`` are on opposite sides (a contrast of
  control vs intervention is turned round by the analysis);
- in the two-arm format of older files, the rows with this comparison's id, whose
  ``arm = intervention / control`` gives the side.

A study with more than one arm on a side (Cochrane Handbook v6.4 section 23.3.4) is handled by
the comparison's ``multiarm`` option:

``combine`` (default; the Handbook's recommended approach)
    The arms of each side are merged into one group: sizes, means and SDs by the Handbook's
    Table 6.5.a (:func:`evsynth.convert.combine_groups_many`; baseline and follow-up values each
    combined, so the change SD is then imputed for the merged group), events and totals summed,
    events and person-time summed.
``split``
    Every intervention arm is compared with every control arm, and a group that serves several of
    these comparisons has its size (and events, person-time) divided equally between them, so no
    participant is counted twice (means and SDs unchanged; Handbook 23.3.4). The divided counts
    may be fractional.

Contrast rows cannot be combined or split: when a study has several contrasts for one analysis
(e.g. two doses each vs a shared placebo), each enters and the shared group is counted more than
once; this is recorded as a warning in the analysis and in results.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evsynth.review.schema import Comparison, OutcomeRow

#: the Handbook reference of the multi-arm options
HANDBOOK_MULTIARM = "Cochrane Handbook v6.4, section 23.3.4"


@dataclass
class Group:
    """One side of a pairwise comparison in one study: an arm, or arms combined or split."""

    treatments: list[str]
    value_type: str
    values: dict[str, float | None]
    lines: list[int] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    #: "arm" (one arm as reported), "combined" (several arms merged) or "split" (a share)
    how: str = "arm"
    #: the share of the group's participants used here (split: 1 / number of comparisons)
    share: float = 1.0
    #: whether the treatments were named in outcomes.csv (not only ``arm = intervention``)
    named: bool = True

    def as_entry(self) -> dict[str, Any]:
        """The arm dict of the analysis' study entry (events/total, or n/mean/sd, ...)."""
        v = self.values
        if self.value_type == "events":
            out: dict[str, Any] = {"events": v["events"], "total": v["total"]}
        elif self.value_type == "rate":
            out = {"events": v["events"], "person_time": v["person_time"]}
        else:
            out = {"n": v["n"], "mean": v["mean"], "sd": v["sd"]}
            if self.value_type == "baseline_followup":
                out |= {"baseline_mean": v["baseline_mean"], "baseline_sd": v["baseline_sd"]}
        if self.how != "arm" or len(self.treatments) > 1:
            out["treatments"] = list(self.treatments)
            out["how"] = self.how
            if self.how == "split":
                out["share"] = self.share
        elif self.named:
            out["treatment"] = self.treatments[0]
        return out

    @property
    def size(self) -> float | None:
        """Participants of the group (n, or total for events; None for person-time data)."""
        if self.value_type == "events":
            return self.values["total"]
        if self.value_type == "rate":
            return None
        return self.values["n"]


def side_of(row: OutcomeRow, comp: Comparison, treatment: str | None) -> str | None:
    """``"i"``, ``"c"`` or None: the side of ``comp`` a treatment (or a two-arm row) is on."""
    if row.two_arm_format:
        return {"intervention": "i", "control": "c"}.get(row.arm or "")
    if treatment in comp.intervention_treatments:
        return "i"
    if treatment in comp.control_treatments:
        return "c"
    return None


def row_serves(row: OutcomeRow, comp: Comparison) -> bool:
    """Whether an outcomes.csv row holds data for comparison ``comp`` (see module docs)."""
    if row.two_arm_format:
        return row.comparison == comp.id
    if row.comparison is not None and row.comparison != comp.id:
        return False
    if row.is_contrast:
        a, b = side_of(row, comp, row.treatment), side_of(row, comp, row.comparator)
        return a is not None and b is not None and a != b
    return side_of(row, comp, row.treatment) is not None


def rows_for(rows: list[OutcomeRow], lines: list[int], comp: Comparison, outcome: str
             ) -> dict[str, list[tuple[OutcomeRow, int]]]:
    """The rows of each study that hold data for ``comp`` and ``outcome`` (:func:`row_serves`).

    In the arm-based format a study is in the comparison only if it has an arm on each side
    (at any time point) or a contrast of the two sides: a trial of kyphoplasty vs placebo is
    not part of kyphoplasty vs usual care. Two-arm rows keep the older rule (any row with the
    comparison's id), so a study with only one arm reported is listed as left out."""
    by_study: dict[str, list[tuple[OutcomeRow, int]]] = {}
    for row, line in zip(rows, lines, strict=True):
        if row.outcome == outcome and row_serves(row, comp):
            by_study.setdefault(row.study_id, []).append((row, line))
    out = {}
    for sid, got in by_study.items():
        if any(r.two_arm_format or r.is_contrast for r, _ in got) or \
                len({side_of(r, comp, r.treatment) for r, _ in got}) == 2:
            out[sid] = got
    return out


def contrast_reversed(row: OutcomeRow, comp: Comparison) -> bool:
    """Whether an arm-based contrast row compares the comparison's control with its
    intervention (``treatment`` on the control side): the analysis then turns it round."""
    return not row.two_arm_format and side_of(row, comp, row.treatment) == "c"


def group_of(row: OutcomeRow, line: int) -> Group:
    """One arm row as a :class:`Group`."""
    vals: dict[str, float | None] = {
        "n": row.n, "mean": row.mean, "sd": row.sd, "baseline_mean": row.baseline_mean,
        "baseline_sd": row.baseline_sd, "events": row.events, "total": row.total,
        "person_time": row.person_time}
    name = row.treatment or (row.arm or "")
    return Group([name], row.value_type, vals, [line], [row.source] if row.source else [],
                 named=row.treatment is not None)


def _as_num(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def combine(groups: list[Group]) -> Group:
    """Merge the arms of one side into one group (Handbook Table 6.5.a; counts summed)."""
    if len(groups) == 1:
        return groups[0]
    from evsynth.effects.conversions import combine_groups_many

    vt = groups[0].value_type
    vals: dict[str, float | None] = dict.fromkeys(groups[0].values)
    if vt == "events":
        vals["events"] = sum(_as_num(g.values["events"]) for g in groups)
        vals["total"] = sum(_as_num(g.values["total"]) for g in groups)
    elif vt == "rate":
        vals["events"] = sum(_as_num(g.values["events"]) for g in groups)
        vals["person_time"] = sum(_as_num(g.values["person_time"]) for g in groups)
    else:
        ns = [_as_num(g.values["n"]) for g in groups]
        labels = ["/".join(g.treatments) for g in groups]
        c = combine_groups_many(ns, [_as_num(g.values["mean"]) for g in groups],
                                [_as_num(g.values["sd"]) for g in groups], labels=labels)
        vals["n"], vals["mean"], vals["sd"] = float(c.n), float(c.mean), float(c.sd)
        if vt == "baseline_followup":
            b = combine_groups_many(ns, [_as_num(g.values["baseline_mean"]) for g in groups],
                                    [_as_num(g.values["baseline_sd"]) for g in groups],
                                    labels=labels)
            vals["baseline_mean"], vals["baseline_sd"] = float(b.mean), float(b.sd)
        if all(float(n).is_integer() for n in ns):
            vals["n"] = int(round(float(vals["n"] or 0)))
    if vt in ("events",) and all(float(_as_num(g.values[k])).is_integer() for g in groups
                                 for k in ("events", "total")):
        vals["events"], vals["total"] = int(vals["events"] or 0), int(vals["total"] or 0)
    return Group([t for g in groups for t in g.treatments], vt, vals,
                 [ln for g in groups for ln in g.lines],
                 list(dict.fromkeys(s for g in groups for s in g.sources)), how="combined")


def split(group: Group, parts: int) -> Group:
    """A ``1 / parts`` share of a group that serves ``parts`` pairwise comparisons (Handbook
    23.3.4): its size, events and person-time divided; means and SDs unchanged."""
    if parts == 1:
        return group
    vals = dict(group.values)
    for k in ("n", "events", "total", "person_time"):
        if vals.get(k) is not None:
            vals[k] = float(vals[k] or 0) / parts
    return Group(list(group.treatments), group.value_type, vals, list(group.lines),
                 list(group.sources), how="split", share=group.share / parts,
                 named=group.named)


@dataclass
class Pairing:
    """The intervention and control groups of one study's pairwise comparison(s)."""

    pairs: list[tuple[Group, Group]]
    #: None for a plain two-arm study, else what was done (results.json ``multiarm``)
    multiarm: dict[str, Any] | None


def multiarm_info(arms_i: list[Group], arms_c: list[Group], option: str) -> dict[str, Any]:
    """The note on how a multi-arm study's arms were paired: the option, the arms on each side
    and the Cochrane Handbook reference (its ``"text"`` is added by the caller)."""
    return {
        "option": option,
        "intervention_arms": [t for g in arms_i for t in g.treatments],
        "control_arms": [t for g in arms_c for t in g.treatments],
        "reference": HANDBOOK_MULTIARM}


def pair_combined(arms_i: list[Group], arms_c: list[Group], option: str) -> Pairing:
    """One arm against one (no note), or the arms of each side combined (Cochrane Handbook
    Table 6.5.a: events and totals summed)."""
    if len(arms_i) == 1 and len(arms_c) == 1:
        return Pairing([(arms_i[0], arms_c[0])], None)
    info = multiarm_info(arms_i, arms_c, option)
    info["text"] = (f"arms combined: {' + '.join(info['intervention_arms'])} vs "
                    f"{' + '.join(info['control_arms'])} (Cochrane Handbook Table 6.5.a; "
                    "events and totals summed)")
    return Pairing([(combine(arms_i), combine(arms_c))], info)


def pair_arms(arms_i: list[Group], arms_c: list[Group], option: str) -> Pairing:
    """Pair the arms of one study (both sides non-empty) by the comparison's ``multiarm``."""
    if option == "combine" or (len(arms_i) == 1 and len(arms_c) == 1):
        return pair_combined(arms_i, arms_c, option)
    info = multiarm_info(arms_i, arms_c, option)
    pairs = [(split(gi, len(arms_c)), split(gc, len(arms_i))) for gi in arms_i for gc in arms_c]
    shared = [("/".join(g.treatments), len(arms_c)) for g in arms_i if len(arms_c) > 1] + \
             [("/".join(g.treatments), len(arms_i)) for g in arms_c if len(arms_i) > 1]
    info["text"] = ("shared group split: " + "; ".join(
        f"{name} divided into {k} parts" for name, k in shared)
        + f" ({len(pairs)} comparisons; sizes and events divided, means and SDs unchanged)")
    info["pairs"] = len(pairs)
    return Pairing(pairs, info)


def pair_label(gi: Group, gc: Group) -> str:
    """``"A vs C"`` for a split comparison's study label."""
    return f"{'+'.join(gi.treatments)} vs {'+'.join(gc.treatments)}"


def treatments_in(rows: list[OutcomeRow]) -> dict[str, set[str]]:
    """Treatment names of the arm-based rows, with the studies that have them."""
    out: dict[str, set[str]] = {}
    for r in rows:
        if r.two_arm_format:
            continue
        for t in (r.treatment, r.comparator):
            if t:
                out.setdefault(t, set()).add(r.study_id)
    return out


__all__ = ["Group", "Pairing", "combine", "contrast_reversed", "group_of", "pair_arms",
           "pair_label", "row_serves", "rows_for", "side_of", "split", "treatments_in"]
