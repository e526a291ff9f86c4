"""PRISMA 2020 flow diagram: counts from the review store and the drawing.

Follows the PRISMA 2020 flow diagram template for new systematic reviews which included
searches of databases and registers only (Page MJ, McKenzie JE, Bossuyt PM, et al. The PRISMA
2020 statement: an updated guideline for reporting systematic reviews. BMJ 2021;372:n71,
Figure 1; template at https://www.prisma-statement.org/prisma-2020-flow-diagram).

Structure of :func:`prisma_counts` (all counts are int)::

    {
      "identification": {
        "databases": {"MEDLINE": 120, "Embase": 98},   # records read per database name
        "registers": {"ClinicalTrials.gov": 12},        # [[searches]] kind = "register"
        "databases_total": 218, "registers_total": 12, "total": 230,
      },
      "removed_before_screening": {
        "duplicates": 61,               # records minus duplicate groups
        "automation": 0,                # marked ineligible by automation tools (not used)
        "other": 0,                     # removed for other reasons (not used)
      },
      "screening": {
        "records_screened": 169,        # one per duplicate group
        "records_excluded": 140,        # final title-abstract outcome "exclude"
        "records_excluded_reasons": {"not a randomised trial": 90, ...},  # where given
        "reports_sought": 29,           # final title-abstract outcome include or maybe
        "reports_not_retrieved": 2,     # retrieval "not retrieved" (or full-text exclusion
                                        #  with the reason "not retrieved")
        "reports_assessed": 27,         # sought minus not retrieved
        "reports_excluded": 18,         # final full-text outcome "exclude"
        "reports_excluded_reasons": {"wrong comparator": 10, "wrong outcome": 8},
      },
      "included": {
        "studies": 6,                   # distinct study ids of included reports (a report
                                        #  not linked to a study counts as its own study;
                                        #  one linked to several counts for each, with a
                                        #  RecordsWarning: see study_link_conflicts)
        "reports": 9,                   # reports with final full-text outcome "include"
        "reports_unlinked": 0,          # included reports with no study link
      },
      "pending": {                      # work not finished: the flow does not balance yet
        "title_abstract_undecided": 0, "title_abstract_conflicts": 0,
        "full_text_undecided": 0, "full_text_conflicts": 0, "full_text_awaiting": 0,
      },
    }

Counting rules: "reports sought for retrieval" are the references that passed title-abstract
screening; a report "not retrieved" is one whose latest retrieval status is "not retrieved" or
whose full-text exclusion reason is "not retrieved" (case-insensitive), and it is not counted
among the reports excluded with reasons. Full-text outcomes "maybe" are counted as
``full_text_awaiting`` (PRISMA's "studies awaiting classification").
"""

from __future__ import annotations

import os
import textwrap
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from evsynth.files import save_figures
from evsynth.records.io import RecordsWarning
from evsynth.records.screening import screening_table
from evsynth.records.settings import ScreeningSettings
from evsynth.records.store import Store
from evsynth.textsafe import terminal_text

NOT_RETRIEVED = "not retrieved"


def prisma_rows(p: dict[str, Any]) -> list[tuple[str, int]]:
    """The counts of :func:`prisma_counts` as labelled rows in the order of the flow diagram
    (one home for the table under the diagram in the report and the web app)."""
    ident, rem, scr, inc = (p["identification"], p["removed_before_screening"],
                            p["screening"], p["included"])
    rows = [(f"Records identified from {name}", v) for name, v in ident["databases"].items()]
    rows += [(f"Records identified from {name} (register)", v)
             for name, v in ident["registers"].items()]
    rows += [("Duplicate records removed", rem["duplicates"]),
             ("Records screened", scr["records_screened"]),
             ("Records excluded", scr["records_excluded"]),
             ("Reports sought for retrieval", scr["reports_sought"]),
             ("Reports not retrieved", scr["reports_not_retrieved"]),
             ("Reports assessed for eligibility", scr["reports_assessed"])]
    rows += [(f"Reports excluded: {reason}", v)
             for reason, v in (scr.get("reports_excluded_reasons") or {}).items()]
    rows += [("Studies included in review", inc["studies"]),
             ("Reports of included studies", inc["reports"])]
    return rows


def prisma_counts(store: Store, settings: ScreeningSettings | None = None) -> dict[str, Any]:
    """PRISMA 2020 counts from the store (structure in the module docstring).

    ``settings`` decides how many reviewers make a decision final (see
    :func:`evsynth.records.screening.reviewers_required`); None means one.
    """
    members = store.group_members()
    ta = screening_table(store, "title-abstract", settings)
    ft = screening_table(store, "full-text", settings)
    return prisma_from_outcomes(
        store, len(members), members, len(ta),
        {r["group_id"]: r for r in ta.to_dict("records") if r["status"] != "pending"},
        list(ta.loc[ta["final"].isin(["include", "maybe"]), "group_id"]),
        {r["group_id"]: r for r in ft.to_dict("records")})


def latest_retrieval(retrieval: Mapping[str, str], members: Mapping[str, list[str]],
                     group_id: str) -> str | None:
    """The retrieval status of a report (duplicate group): "retrieved" when any of its
    records was retrieved, else the first status recorded for one of them, else None."""
    st = [retrieval[m] for m in members.get(group_id, [group_id]) if m in retrieval]
    if "retrieved" in st:
        return "retrieved"
    return st[0] if st else None


def is_not_retrieved(status: str | None, final: str | None, reason: str | None) -> bool:
    """A sought report counted as not retrieved: its retrieval status says so and it was not
    included anyway, or it was excluded at full text with the reason "not retrieved"."""
    return (status == NOT_RETRIEVED and final != "include") or bool(
        final == "exclude" and reason and reason.strip().lower() == NOT_RETRIEVED)


def study_link_conflicts(members: Mapping[str, list[str]], links: Mapping[str, str],
                         groups: Iterable[str] | None = None) -> dict[str, dict[str, list[str]]]:
    """Reports (duplicate groups; all of them, or those of ``groups``) whose records are
    linked to more than one study: ``{group_id: {study_id: [record ids]}}``.

    One report may describe several studies (PRISMA 2020 counts the distinct studies of the
    included reports, so they count for each), but two copies of one paper linked to
    different studies are more often a mistake: :func:`prisma_counts` and ``evsynth records
    link-study`` warn about them."""
    out: dict[str, dict[str, list[str]]] = {}
    for g in (members if groups is None else groups):
        by: dict[str, list[str]] = {}
        for m in members.get(g, [g]):
            if m in links:
                by.setdefault(links[m], []).append(m)
        if len(by) > 1:
            out[g] = by
    return out


def _describe_links(by: Mapping[str, list[str]]) -> str:
    return "; ".join(f"{', '.join(recs)} -> {sid}" for sid, recs in by.items())


def prisma_from_outcomes(store: Store, n_groups: int, members: Mapping[str, list[str]],
                         n_screened: int, ta_rows: Mapping[str, Mapping[str, Any]],
                         sought_ids: list[str],
                         ft_rows: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """:func:`prisma_counts` from the screening outcomes: ``n_groups`` duplicate groups
    (``members``: the records of each group, at least of those with two or more);
    ``n_screened`` groups eligible at title-abstract and ``ta_rows`` the rows of
    :func:`~evsynth.records.screening.screening_table` of those not pending, in import order;
    ``sought_ids`` the groups passed to full text (import order); ``ft_rows`` the full-text
    rows (those of the groups without one are pending). The web app passes its screening
    index's outcomes (:mod:`evsynth.web.screenindex`)."""
    imp = store.imports()
    dbs: dict[str, int] = {}
    regs: dict[str, int] = {}
    for r in imp.to_dict("records"):
        target = regs if r["kind"] == "register" else dbs
        target[r["database"]] = target.get(r["database"], 0) + int(r["n_records"])
    n_records = store.n_records()

    excluded = [r for r in ta_rows.values() if r["final"] == "exclude"]
    ta_reasons: dict[str, int] = {}
    for r in excluded:
        if r["reason"]:
            ta_reasons[r["reason"]] = ta_reasons.get(r["reason"], 0) + 1
    retrieval = store.retrieval()
    not_retrieved = 0
    ft_excluded = 0
    ft_reasons: dict[str, int] = {}
    included: list[str] = []
    ft_undecided = ft_conflicts = ft_awaiting = 0
    for g in sought_ids:
        r = ft_rows.get(g)
        final = r["final"] if r else None
        reason = r["reason"] if r else None
        if is_not_retrieved(latest_retrieval(retrieval, members, g), final, reason):
            not_retrieved += 1
            continue
        if final == "exclude":
            ft_excluded += 1
            key = reason or "reason not given"
            ft_reasons[key] = ft_reasons.get(key, 0) + 1
        elif final == "include":
            included.append(g)
        elif final == "maybe":
            ft_awaiting += 1
        elif r is not None and r["conflict"]:
            ft_conflicts += 1
        else:
            ft_undecided += 1

    links = store.study_links()
    for g, by in study_link_conflicts(members, links, included).items():
        warnings.warn(terminal_text(
            f"included report {g}: its duplicate records are linked to {len(by)} different "
            f"studies ({_describe_links(by)}); each counts as a study of the review. If they "
            "are copies of one report of one study, link them to the same study id"),
            RecordsWarning, stacklevel=3)
    studies: set[str] = set()
    unlinked = 0
    for g in included:
        linked = {links[m] for m in members.get(g, [g]) if m in links}
        if linked:
            studies |= linked
        else:
            unlinked += 1
            studies.add(f"report:{g}")

    return {
        "identification": {
            "databases": dbs, "registers": regs,
            "databases_total": sum(dbs.values()), "registers_total": sum(regs.values()),
            "total": sum(dbs.values()) + sum(regs.values()),
        },
        "removed_before_screening": {
            "duplicates": n_records - n_groups, "automation": 0, "other": 0,
        },
        "screening": {
            "records_screened": n_groups,
            "records_excluded": len(excluded),
            "records_excluded_reasons": ta_reasons,
            "reports_sought": len(sought_ids),
            "reports_not_retrieved": not_retrieved,
            "reports_assessed": len(sought_ids) - not_retrieved,
            "reports_excluded": ft_excluded,
            "reports_excluded_reasons": ft_reasons,
        },
        "included": {
            "studies": len(studies), "reports": len(included), "reports_unlinked": unlinked,
        },
        "pending": {
            "title_abstract_undecided": n_screened - len(ta_rows),
            "title_abstract_conflicts": sum(1 for r in ta_rows.values() if r["conflict"]),
            "full_text_undecided": ft_undecided,
            "full_text_conflicts": ft_conflicts,
            "full_text_awaiting": ft_awaiting,
        },
    }


# ----------------------------------------------------------------------------------------------
# Drawing
# ----------------------------------------------------------------------------------------------
def _n(x: int) -> str:
    return f"{x:,}"


def check_counts(counts: dict[str, Any]) -> None:
    """Check that ``counts`` has the structure of :func:`prisma_counts` with non-negative
    integer counts; InputError naming the first bad entry otherwise."""
    from evsynth.errors import InputError

    need = {"identification": ("databases", "registers"),
            "removed_before_screening": ("duplicates",),
            "screening": ("records_screened", "records_excluded", "reports_sought",
                          "reports_not_retrieved", "reports_assessed", "reports_excluded",
                          "reports_excluded_reasons"),
            "included": ("studies", "reports")}
    for sec, keys in need.items():
        if not isinstance(counts.get(sec), dict):
            raise InputError(f"prisma_diagram: counts lack section {sec!r}; expected the "
                             "structure of prisma_counts()")
        for k in keys:
            if k not in counts[sec]:
                raise InputError(f"prisma_diagram: counts[{sec!r}] lacks {k!r}; expected the "
                                 "structure of prisma_counts()")
            v = counts[sec][k]
            items = v.items() if isinstance(v, dict) else [(None, v)]
            for name, x in items:
                if isinstance(x, bool) or not isinstance(x, int) or x < 0:
                    where = f"counts[{sec!r}][{k!r}]" + (f"[{name!r}]" if name else "")
                    raise InputError(f"prisma_diagram: {where} is {x!r}; expected a "
                                     "non-negative integer")


def prisma_diagram(counts: dict[str, Any], path_svg: str | os.PathLike[str],
                   path_png: str | os.PathLike[str] | None = None, *, dpi: int = 200,
                   title: str | None = None) -> None:
    """Draw the PRISMA 2020 flow diagram (databases and registers only) from ``counts``.

    Layout as in Page et al. 2021 (BMJ 372:n71, Figure 1): phase bands Identification,
    Screening, Included on the left; the main column of boxes; exclusion boxes on the right;
    arrows down the main column and across to the exclusions. Writes SVG (and PNG at ``dpi``)
    atomically: to a temporary file in the same folder, then ``os.replace``.

    The figure is a :class:`matplotlib.figure.Figure` drawn without pyplot: the caller's
    backend, current figure and open figures are left as they were.
    """
    fig = prisma_figure(counts, title=title)
    save_figures(fig, [Path(path_svg)] + ([] if path_png is None else [Path(path_png)]), dpi)


def prisma_svg(counts: dict[str, Any], title: str | None = None) -> str:
    """The PRISMA 2020 flow diagram of ``counts`` as an SVG document (text), for inlining
    into HTML (same drawing as :func:`prisma_diagram`; reproducible: fixed SVG ids, no
    date)."""
    from evsynth.files import svg_string

    return svg_string(prisma_figure(counts, title=title))


def prisma_figure(counts: dict[str, Any], title: str | None = None) -> Any:
    """The PRISMA 2020 flow diagram of ``counts`` as a :class:`matplotlib.figure.Figure`
    (drawn without pyplot); see :func:`prisma_diagram`."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    check_counts(counts)
    ident = counts["identification"]
    rem = counts["removed_before_screening"]
    scr = counts["screening"]
    inc = counts["included"]

    def listing(d: dict[str, int], indent: str = "  ", width: int = 44) -> list[str]:
        # long names (databases, exclusion reasons) wrap inside the box (about 44 characters
        # of 9.2 pt text fit in a 3.3 inch box), continuation lines indented
        out = []
        for k, v in d.items():
            out += textwrap.wrap(f"{k} (n = {_n(v)})", width, initial_indent=indent,
                                 subsequent_indent=indent + "  ", break_long_words=True)
        return out

    id_lines = ["Records identified from:"]
    id_lines += [f"  Databases (n = {_n(sum(ident['databases'].values()))})"]
    id_lines += listing(ident["databases"], "    ")
    id_lines += [f"  Registers (n = {_n(sum(ident['registers'].values()))})"]
    id_lines += listing(ident["registers"], "    ")
    removed_lines = ["Records removed before screening:",
                     f"  Duplicate records removed (n = {_n(rem['duplicates'])})",
                     "  Records marked as ineligible by automation",
                     f"  tools (n = {_n(rem.get('automation', 0))})",
                     f"  Records removed for other reasons (n = {_n(rem.get('other', 0))})"]
    ft_reasons = scr["reports_excluded_reasons"] or {}
    if ft_reasons:
        excl_lines = [f"Reports excluded (n = {_n(scr['reports_excluded'])}):"]
        excl_lines += listing(ft_reasons)
    else:
        excl_lines = [f"Reports excluded\n(n = {_n(scr['reports_excluded'])})"]

    rows = [  # (phase, left lines, right lines)
        ("Identification", id_lines, removed_lines),
        ("Screening", [f"Records screened\n(n = {_n(scr['records_screened'])})"],
         [f"Records excluded\n(n = {_n(scr['records_excluded'])})"]),
        ("Screening", [f"Reports sought for retrieval\n(n = {_n(scr['reports_sought'])})"],
         [f"Reports not retrieved\n(n = {_n(scr['reports_not_retrieved'])})"]),
        ("Screening", [f"Reports assessed for eligibility\n(n = {_n(scr['reports_assessed'])})"],
         excl_lines),
        ("Included", [f"Studies included in review (n = {_n(inc['studies'])})",
                      f"Reports of included studies (n = {_n(inc['reports'])})"], None),
    ]

    pend = counts.get("pending") or {}
    notes = []
    if pend.get("title_abstract_undecided") or pend.get("title_abstract_conflicts"):
        notes.append(f"Title-abstract screening unfinished: "
                     f"{pend.get('title_abstract_undecided', 0)} undecided, "
                     f"{pend.get('title_abstract_conflicts', 0)} conflicts.")
    if pend.get("full_text_undecided") or pend.get("full_text_conflicts") \
            or pend.get("full_text_awaiting"):
        notes.append(f"Full-text assessment unfinished: {pend.get('full_text_undecided', 0)} "
                     f"undecided, {pend.get('full_text_conflicts', 0)} conflicts, "
                     f"{pend.get('full_text_awaiting', 0)} awaiting classification.")
    note_lines = textwrap.wrap("Note: " + " ".join(notes), 120) if notes else []

    # geometry in inches (figure units = inches via a data coordinate system)
    line_h = 0.178  # 9.2 pt text at line spacing 1.35, in inches
    pad = 0.16
    gap = 0.42
    band_w, left_x, box_w, mid_gap, right_w = 0.42, 0.75, 3.25, 0.55, 3.35
    right_x = left_x + box_w + mid_gap
    width = right_x + right_w + 0.25

    def text_lines(lines: list[str]) -> int:
        return sum(len(s.split("\n")) for s in lines)

    heights = []
    for _phase, left, right in rows:
        hl = text_lines(left) * line_h + 2 * pad
        hr = text_lines(right) * line_h + 2 * pad if right else 0
        heights.append(max(hl, hr, 0.95 if _phase == "Included" else 0.62))
    top_margin = 0.3 + (0.4 if title else 0)
    header_h = 0.42
    total_h = (top_margin + header_h + 0.2 + sum(heights) + gap * (len(rows) - 1) + 0.45
               + 0.19 * len(note_lines))
    fig = Figure(figsize=(width, total_h))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(total_h, 0)  # y grows downwards
    ax.axis("off")

    edge = "#1f2d3d"
    fill_main = "#ffffff"
    fill_side = "#f5f7fa"
    band_fill = "#aecbe8"
    header_fill = "#f2c14e"
    font: dict[str, Any] = dict(family="DejaVu Sans", color="#111111")

    def box(x: float, y: float, w: float, h: float, fc: str, lines: list[str],
            align: str = "left", size: float = 9.2, bold_first: bool = False) -> None:
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=0.06",
                                    linewidth=1.1, edgecolor=edge, facecolor=fc, zorder=2))
        text = "\n".join(lines)
        if align == "center":
            ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size,
                    linespacing=1.35, zorder=3, **font)
        else:
            ax.text(x + pad, y + h / 2, text, ha="left", va="center", fontsize=size,
                    linespacing=1.35, zorder=3, **font)

    def arrow(x0: float, y0: float, x1: float, y1: float) -> None:
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=13,
                                     linewidth=1.2, color=edge, zorder=1,
                                     shrinkA=0, shrinkB=0))

    y = top_margin
    if title:
        ax.text(width / 2, 0.38, title, ha="center", va="center", fontsize=12.5,
                fontweight="bold", **font)
    # header bar
    ax.add_patch(FancyBboxPatch((left_x, y), right_x + right_w - left_x, header_h,
                                boxstyle="round,pad=0,rounding_size=0.08", linewidth=1.1,
                                edgecolor=edge, facecolor=header_fill, zorder=2))
    ax.text((left_x + right_x + right_w) / 2, y + header_h / 2,
            "Identification of studies via databases and registers", ha="center",
            va="center", fontsize=10.5, fontweight="bold", **font)
    y += header_h + 0.2
    tops = []
    for h in heights:
        tops.append(y)
        y += h + gap

    # phase bands (merged across consecutive rows of the same phase)
    spans: list[tuple[str, float, float]] = []
    for (phase, _l, _r), top, h in zip(rows, tops, heights, strict=True):
        if spans and spans[-1][0] == phase:
            spans[-1] = (phase, spans[-1][1], top + h)
        else:
            spans.append((phase, top, top + h))
    for phase, t0, t1 in spans:
        bx = left_x - band_w - 0.12
        ax.add_patch(FancyBboxPatch((bx, t0), band_w, t1 - t0,
                                    boxstyle="round,pad=0,rounding_size=0.08", linewidth=1.1,
                                    edgecolor=edge, facecolor=band_fill, zorder=2))
        ax.text(bx + band_w / 2, (t0 + t1) / 2, phase, rotation=90, ha="center",
                va="center", fontsize=10.5, fontweight="bold", **font)

    for i, ((_phase, left, right), top, h) in enumerate(zip(rows, tops, heights,
                                                            strict=True)):
        box(left_x, top, box_w, h, fill_main, left, align="left" if i == 0 else "center")
        if right:
            rh = h
            box(right_x, top, right_w, rh, fill_side, right,
                align="left" if len(right) > 1 else "center")
            arrow(left_x + box_w, top + h / 2, right_x, top + h / 2)
        if i + 1 < len(rows):
            arrow(left_x + box_w / 2, top + h, left_x + box_w / 2, tops[i + 1])

    if note_lines:
        ax.text(left_x - band_w - 0.12, total_h - 0.2 - 0.19 * len(note_lines),
                "\n".join(note_lines), ha="left", va="top", fontsize=8, color="#a33",
                style="italic", linespacing=1.3)

    return fig
