"""The records section of the report: searches, PRISMA 2020 flow diagram, screening agreement,
excluded studies, the reports of each included study and the consistency check.

:func:`records_html` and :func:`records_markdown` render the ``"records"`` section of
results.json (:func:`evsynth.review.records_section.records_section`). Every string from the
section (database names, queries, citations, reasons, study ids) is escaped; the PRISMA SVG is
inlined through :func:`evsynth.reports.html.inline_svg` (no prolog, scripts, event attributes
or external links; ids prefixed). The Markdown report cannot show an inline SVG, so it gives the
PRISMA counts as a table.

References
----------
.. [1] Page MJ, McKenzie JE, Bossuyt PM, et al. (2021). The PRISMA 2020 statement: an updated
       guideline for reporting systematic reviews. *BMJ* 372:n71. doi:10.1136/bmj.n71
.. [2] Rethlefsen ML, Kirtley S, Waffenschmidt S, et al. (2021). PRISMA-S: an extension to the
       PRISMA statement for reporting literature searches in systematic reviews. *Syst Rev*
       10:39. doi:10.1186/s13643-020-01542-z
"""

from __future__ import annotations

from typing import Any

from evsynth.errors import InputError
from evsynth.reports.html import e, inline_svg
from evsynth.reports.markdown import md

TITLE = "Search and selection of studies"
STAGE_NAMES = {"title-abstract": "Title and abstract", "full-text": "Full text"}


def _check(section: Any) -> dict[str, Any]:
    if not isinstance(section, dict) or "prisma" not in section:
        raise InputError("records section: expected the dict of "
                         "evsynth.review.records_section.records_section() (with 'prisma')")
    return section


def _n(x: Any) -> str:
    return "not known" if x is None else f"{int(x):,}"


def _kappa(a: dict[str, Any]) -> str:
    k = a.get("kappa")
    if k is None:
        return "not defined (one category only)"
    text = f"{k:.2f}"
    lb, ub = a.get("ci_lb"), a.get("ci_ub")
    if lb is not None and ub is not None:
        # a Wald interval can cross the bounds of kappa; shown truncated to [-1, 1]
        lo, hi = max(lb, -1.0), min(ub, 1.0)
        mark = "*" if (lo, hi) != (lb, ub) else ""
        text += f" ({a.get('level', 95):g}% CI {lo:.2f} to {hi:.2f}{mark})"
    return text


def _search_cells(s: dict[str, Any]) -> list[str]:
    source = s.get("database") or ""
    if s.get("interface") and str(s["interface"]).strip().lower() != source.strip().lower():
        source += f" via {s['interface']}"
    if s.get("kind") == "register":
        source += " (trial register)"
    limits = "; ".join(x for x in (s.get("date_limits"), s.get("limits")) if x) or "none stated"
    exports = "; ".join(f"{x['file']}: {_n(x['records'])}" + ("" if x["imported"]
                                                              else " (not imported)")
                        for x in s.get("exports") or []) or "no export file"
    return [source, s.get("date_searched") or "not stated", limits,
            s.get("query") or "not recorded", exports, _n(s.get("records"))]


SEARCH_HEADER = ["Source", "Date searched", "Limits", "Query", "Records per export",
                 "Records retrieved"]


def _prisma_rows(p: dict[str, Any]) -> list[tuple[str, str]]:
    from evsynth.records.prisma import prisma_rows

    return [(label, _n(v)) for label, v in prisma_rows(p)]


def _consistency_lines(c: dict[str, Any]) -> tuple[bool, list[str]]:
    lines = [f"Study {sid} (studies.csv) has no included report linked to it."
             for sid in c.get("studies_without_report") or []]
    lines += [f"Included report {r['study']} ({r['record_id']}) is linked to no study of "
              "studies.csv." for r in c.get("reports_without_study") or []]
    lines += [f"Report {r['record_id']} is linked to study {r['study_id']}, which is not in "
              "studies.csv." for r in c.get("links_to_unknown_studies") or []]
    notes = [f"Report {r['record_id']} is linked to study {r['study_id']} but was not "
             "included at full text." for r in c.get("linked_reports_not_included") or []]
    return bool(c.get("ok")), lines + notes


def _table(caption: str, header: list[str], rows: list[list[str]], cls: str = "") -> str:
    c = f' class="{e(cls)}"' if cls else ""
    out = [f"<table{c}>", f"<caption>{e(caption)}</caption>", "<thead><tr>"
           + "".join(f'<th scope="col">{e(h)}</th>' for h in header) + "</tr></thead><tbody>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{e(x)}</td>" for x in r) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


_AGREEMENT_HEADER = ["Stage", "Reviewers", "Records", "Agreement", "Kappa"]
_CONSISTENT = ("Every study in studies.csv traces to at least one included report, and every "
              "included report to a study.")


def _consistency_head(ok: bool) -> str:
    return ("Every study traces to an included report and every included report to a study; "
            "notes:" if ok else "Mismatches between studies.csv and the included reports:")


def _agreement_rows(agreement: list[dict[str, Any]]) -> list[list[Any]]:
    """One row per screening stage: stage, reviewers, records, percent agreement, kappa
    (Cohen's with its CI, or Fleiss')."""
    return [[STAGE_NAMES.get(a["stage"], a["stage"]), a["reviewers"], _n(a["n"]),
             "NA" if a.get("percent_agreement") is None else f"{a['percent_agreement']:.1f}%",
             _kappa(a) if a.get("method") == "Cohen" else
             ("NA" if a.get("kappa") is None else f"Fleiss' kappa {a['kappa']:.2f}")]
            for a in agreement]


def records_html(section: dict[str, Any]) -> str:
    """The records section as an HTML fragment (every string escaped, PRISMA SVG inline).

    Parameters
    ----------
    section : dict
        The ``"records"`` section of results.json
        (:func:`evsynth.review.records_section.records_section`).

    Returns
    -------
    str
        ``<h2>`` "Search and selection of studies" with the search table (PRISMA-S items:
        database, interface, date, limits, query, records per export), the PRISMA 2020 flow
        diagram (inline SVG when the section holds ``prisma_svg``, else the counts as a
        table), screening agreement per stage, "Characteristics of excluded studies", the
        reports of each included study and the consistency of studies.csv with the records.

    References
    ----------
    .. [1] Page MJ, McKenzie JE, Bossuyt PM, et al. (2021). *BMJ* 372:n71.
           doi:10.1136/bmj.n71

    Examples
    --------
    >>> sec = {"prisma": {"identification": {"databases": {"<MEDLINE>": 3}, "registers": {}},
    ...        "removed_before_screening": {"duplicates": 0},
    ...        "screening": {"records_screened": 3, "records_excluded": 1,
    ...                      "reports_sought": 2, "reports_not_retrieved": 0,
    ...                      "reports_assessed": 2, "reports_excluded": 1,
    ...                      "reports_excluded_reasons": {"not randomised": 1}},
    ...        "included": {"studies": 1, "reports": 1}}}
    >>> html = records_html(sec)
    >>> "&lt;MEDLINE&gt;" in html and "<MEDLINE>" not in html
    True
    """
    sec = _check(section)
    out = [f"<h2>{e(TITLE)}</h2>"]
    searches = sec.get("searches") or []
    if searches:
        out.append("<h3>Searches</h3>")
        out.append(_table("Searches (records retrieved are counted from the records store)",
                          SEARCH_HEADER, [_search_cells(s) for s in searches], "searches"))
    other = sec.get("imports_not_in_review_toml") or []
    if other:
        out.append("<p class=\"note\">Imported files not documented as a [[search]] in "
                   "review.toml: " + "; ".join(
                       e(f"{o['file']} ({o['database']}, {_n(o['records'])} records)")
                       for o in other) + ".</p>")
    out.append("<h3>PRISMA 2020 flow diagram</h3>")
    svg = sec.get("prisma_svg")
    if svg:
        out.append('<figure class="prisma">' + inline_svg(svg, "prisma-", "PRISMA 2020 flow "
                                                          "diagram")
                   + "<figcaption>PRISMA 2020 flow diagram (Page et al., BMJ 2021;372:n71); "
                   "every count from the records store.</figcaption></figure>")
    else:
        out.append(_table("PRISMA 2020 flow (counts from the records store)",
                          ["Step", "Number"], [list(r) for r in _prisma_rows(sec["prisma"])]))
    agreement = sec.get("agreement") or []
    if agreement:
        out.append("<h3>Screening agreement</h3>")
        rows = _agreement_rows(agreement)
        out.append(_table("Agreement between reviewers screening independently (Cohen's "
                          "kappa; Fleiss' kappa for more than two reviewers)",
                          _AGREEMENT_HEADER, rows, "agreement"))
        if any("*" in r[-1] for r in rows):
            out.append('<p class="note">* Wald confidence interval truncated to the range of '
                       "kappa (-1 to 1).</p>")
    excluded = sec.get("excluded_studies") or []
    out.append("<h3>Characteristics of excluded studies</h3>")
    if excluded:
        out.append(_table("Full-text reports excluded, with the reason for each",
                          ["Study", "Reason for exclusion", "Reference"],
                          [[x["study"], x["reason"], x["citation"]] for x in excluded],
                          "excluded"))
    else:
        out.append("<p>No full-text report was excluded.</p>")
    nr = sec.get("reports_not_retrieved") or []
    if nr:
        out.append("<p>Reports not retrieved: " + "; ".join(e(x["citation"]) for x in nr)
                   + "</p>")
    studies = sec.get("included_studies") or []
    if studies:
        out.append("<h3>Reports of the included studies</h3>")
        out.append('<dl class="study-reports">')
        for s in studies:
            out.append(f"<dt>{e(s['label'])}</dt>")
            if s["reports"]:
                out += [f"<dd>{e(r['citation'])}</dd>" for r in s["reports"]]
            else:
                out.append("<dd><em>no included report linked to this study</em></dd>")
        out.append("</dl>")
    c = sec.get("consistency")
    if c is not None:
        ok, lines = _consistency_lines(c)
        out.append("<h3>Studies and included reports</h3>")
        if ok and not lines:
            out.append(f"<p>{e(_CONSISTENT)}</p>")
        else:
            out.append(f"<p>{e(_consistency_head(ok))}</p><ul>"
                       + "".join(f"<li>{e(x)}</li>" for x in lines) + "</ul>")
    return "\n".join(out)


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(md(h) for h in header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(md(x) for x in r) + " |" for r in rows]
    return out + [""]


def records_markdown(section: dict[str, Any]) -> str:
    """The records section as Markdown (every string escaped; PRISMA counts as a table).

    Parameters
    ----------
    section : dict
        The ``"records"`` section of results.json
        (:func:`evsynth.review.records_section.records_section`).

    Returns
    -------
    str
        The same content as :func:`records_html`, the PRISMA 2020 flow as a table of counts
        (the diagram itself is in report.html).

    Examples
    --------
    >>> sec = {"prisma": {"identification": {"databases": {"MEDLINE|x": 3}, "registers": {}},
    ...        "removed_before_screening": {"duplicates": 0},
    ...        "screening": {"records_screened": 3, "records_excluded": 1,
    ...                      "reports_sought": 2, "reports_not_retrieved": 0,
    ...                      "reports_assessed": 2, "reports_excluded": 1,
    ...                      "reports_excluded_reasons": {"not randomised": 1}},
    ...        "included": {"studies": 1, "reports": 1}}}
    >>> "MEDLINE\\\\|x" in records_markdown(sec)
    True
    """
    sec = _check(section)
    out = [f"## {md(TITLE)}", ""]
    searches = sec.get("searches") or []
    if searches:
        out += ["### Searches", ""]
        out += _md_table(SEARCH_HEADER, [_search_cells(s) for s in searches])
    other = sec.get("imports_not_in_review_toml") or []
    if other:
        out += ["Imported files not documented as a \\[\\[search\\]\\] in review.toml: "
                + "; ".join(md(f"{o['file']} ({o['database']}, {_n(o['records'])} records)")
                            for o in other) + ".", ""]
    out += ["### PRISMA 2020 flow", "",
            "*Counts from the records store; the flow diagram is in report.html.*", ""]
    out += _md_table(["Step", "Number"], [list(r) for r in _prisma_rows(sec["prisma"])])
    agreement = sec.get("agreement") or []
    if agreement:
        out += ["### Screening agreement", ""]
        out += _md_table(_AGREEMENT_HEADER, _agreement_rows(agreement))
    out += ["### Characteristics of excluded studies", ""]
    excluded = sec.get("excluded_studies") or []
    if excluded:
        out += _md_table(["Study", "Reason for exclusion", "Reference"],
                         [[x["study"], x["reason"], x["citation"]] for x in excluded])
    else:
        out += ["No full-text report was excluded.", ""]
    nr = sec.get("reports_not_retrieved") or []
    if nr:
        out += ["Reports not retrieved: " + "; ".join(md(x["citation"]) for x in nr), ""]
    studies = sec.get("included_studies") or []
    if studies:
        out += ["### Reports of the included studies", ""]
        for s in studies:
            out.append(f"- **{md(s['label'])}**")
            if s["reports"]:
                out += [f"  - {md(r['citation'])}" for r in s["reports"]]
            else:
                out.append("  - *no included report linked to this study*")
        out.append("")
    c = sec.get("consistency")
    if c is not None:
        ok, lines = _consistency_lines(c)
        out += ["### Studies and included reports", ""]
        if ok and not lines:
            out += [_CONSISTENT, ""]
        else:
            out += [md(_consistency_head(ok)), ""]
            out += [f"- {md(x)}" for x in lines] + [""]
    return "\n".join(out)


__all__ = ["records_html", "records_markdown"]
