"""The review report as one self-contained HTML file (inline CSS and SVG, no scripts, no network).

The content is built once as a list of blocks by :func:`build_document` (headings, paragraphs,
lists, tables, figures), which :mod:`evsynth.reports.markdown` renders too, so both reports say
the same. Every text from the input is escaped (:func:`evsynth.textsafe.html_text`: control
characters in caret notation, then ``html.escape``); inlined forest-plot SVGs lose any XML
prolog, script, foreignObject, event attribute or external reference, and their ids are prefixed
per figure so several plots can share one page.
"""

from __future__ import annotations

import re
from typing import Any

from evsynth.errors import InputError
from evsynth.reports.forest import format_effect, format_p
from evsynth.summaries.characteristics import summarise
from evsynth.summaries.grade import DOMAIN_LABELS, DOMAINS, certainty
from evsynth.summaries.plain_language import key_result
from evsynth.summaries.sof import MEASURE_NAMES, format_number, sof_row
from evsynth.textsafe import html_text

ESTIMATORS = {"REML": "restricted maximum likelihood (REML)", "ML": "maximum likelihood (ML)",
              "DL": "DerSimonian-Laird", "PM": "Paule-Mandel", "HE": "Hedges",
              "HS": "Hunter-Schmidt",
              "SJ": "Sidik-Jonkman", "EB": "empirical Bayes", "EE": "common (equal) effect",
              "FE": "common (fixed) effect", "DLIT": "iterated DerSimonian-Laird",
              "SJIT": "iterated Sidik-Jonkman"}
#: Mantel-Haenszel / Peto pooling of the review pipeline (its model "label")
POOLING_TEXT = {
    "M-H, Fixed": "Mantel-Haenszel common effect (metafor rma.mh)",
    "M-H, Random": "Mantel-Haenszel with DerSimonian-Laird random effects, tau² from the "
                   "Mantel-Haenszel Q (RevMan 5; Deeks & Higgins 2010)",
    "Peto, Fixed": "Peto one-step odds ratio, common effect (metafor rma.peto)"}
TESTS = {"z": "z (normal) test and intervals", "t": "t test and intervals",
         "knha": "Hartung-Knapp-Sidik-Jonkman (Knapp-Hartung) adjustment",
         "adhoc": "Knapp-Hartung adjustment with the ad hoc floor of 1"}
GRADE_DEFINITIONS = [
    ("High", "we are very confident that the true effect lies close to that of the estimate."),
    ("Moderate", "we are moderately confident in the effect estimate: the true effect is likely "
                 "to be close to the estimate, but there is a possibility that it is "
                 "substantially different."),
    ("Low", "our confidence in the effect estimate is limited: the true effect may be "
            "substantially different from the estimate."),
    ("Very low", "we have very little confidence in the effect estimate: the true effect is "
                 "likely to be substantially different from the estimate.")]

Block = dict[str, Any]


# --- content ---------------------------------------------------------------------------------

def _s(x: Any) -> str:
    return "" if x is None else str(x)


def _num(x: Any, digits: int = 2, fixed: bool = False) -> str:
    """A number for display: integers as such, else ``digits`` decimals (trailing zeros dropped
    unless ``fixed``, as in RevMan's heterogeneity line)."""
    if x is None:
        return "NA"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return _s(x)
    if v != v:
        return "NA"
    if v.is_integer() and abs(v) < 1e6:
        return str(int(v))
    if fixed:
        text = f"{v:.{digits}f}"
        return text[1:] if text.startswith("-") and not text.strip("-0.") else text  # no -0.00
    return format_number(v, digits)


def _participants(n: Any) -> str:
    """The participants of an analysis: a count, or "not reported" (None: no included study
    gives group sizes, e.g. hazard ratios entered as contrasts; it printed 'None')."""
    return "not reported" if n is None else _num(n)


def _effect(a: dict, d: dict) -> str:
    """Estimate and CI on the natural scale (exp for OR/RR), as in the forest plot."""
    if d.get("estimate") is None or d.get("ci_lb") is None or d.get("ci_ub") is None:
        return "NA"
    return format_effect(float(d["estimate"]), float(d["ci_lb"]), float(d["ci_ub"]),
                         bool(a.get("log_scale")))


def _p(x: Any) -> str:
    return format_p(None if x is None else float(x))


def summaries_of(a: dict) -> tuple[dict, dict, str]:
    """The analysis' grade, SoF row and key result; computed when the pipeline left them out."""
    g = a.get("grade") or certainty(None, a)
    row = a.get("sof") or sof_row(a, g)
    text = a.get("plain_language") or key_result(a, row)
    return g, row, text


def _analysis_title(a: dict) -> str:
    o, w = a.get("outcome") or {}, a.get("window") or {}
    title = _s(o.get("label") or o.get("id"))
    return f"{title}: {w['label']}" if w.get("label") else title


def _anchor(prefix: str, ident: Any) -> str:
    return prefix + "-" + re.sub(r"[^A-Za-z0-9_.-]", "_", _s(ident))


def _comparison_ids(results: dict, comp: dict) -> list[str]:
    if comp.get("study_ids") is not None:
        return list(comp["study_ids"])
    ids: list[str] = []
    for a in results.get("analyses") or []:
        if (a.get("comparison") or {}).get("id") == comp.get("id"):
            ids += [s["study_id"] for s in a.get("studies") or []]
            ids += [s["study_id"] for s in a.get("excluded") or []]
    return list(dict.fromkeys(ids))


def _characteristics(results: dict, comp: dict) -> dict:
    ch = comp.get("characteristics")
    if ch:
        return ch
    base = {k: comp.get(k) for k in ("id", "label", "intervention", "control")}
    return summarise(results.get("studies") or [], base, _comparison_ids(results, comp))


def _sof_table(comp: dict, analyses: list[dict]) -> tuple[Block, list[str]]:
    """The Summary of Findings table in GRADEpro's layout and its footnotes: the reasons for
    rating down are footnotes of the certainty cell, the computed prompts footnotes of the
    outcome cell (``certainty_footnotes`` and ``footnotes`` of the SoF row), the comment
    column short (``comments_short``); identical footnotes share a letter."""
    ctrl, interv = _s(comp.get("control")), _s(comp.get("intervention"))
    rows = []
    notes: list[str] = []

    def letters(texts: list[str]) -> str:
        out = []
        for t in texts:
            t = _s(t).strip()
            if not t:
                continue
            if t not in notes:
                notes.append(t)
            out.append(_letter(notes.index(t)))
        return ",".join(dict.fromkeys(out))

    for a in analyses:
        _, r, _ = summaries_of(a)
        anticipated = {"lines": [t for t in (r.get("intervention_text"), r.get("difference_text"),
                                             r.get("percent_text")) if t] or ["—"]}
        short = "certainty_footnotes" in r or "comments_short" in r
        cert = {"text": r.get("certainty_text") or "Not assessed",
                "aria": f"{(r.get('certainty') or {}).get('label') or 'Not assessed'} "
                        "certainty", "cls": "certainty"}
        outcome: Any = r.get("outcome_text") or _analysis_title(a)
        if short:
            cert["sup"] = letters(list(r.get("certainty_footnotes") or []))
            outcome = {"text": outcome, "sup": letters(list(r.get("footnotes") or []))}
        comment = r.get("comments_short") if short else r.get("comments_text")
        rows.append([outcome, r.get("control_text") or "—",
                     anticipated, r.get("relative_text") or "—",
                     r.get("participants_text"), cert, comment or ""])
    block = {"type": "table", "cls": "sof",
             "caption": f"Summary of findings: {interv} compared with {ctrl}",
             "group_header": [("Outcomes", 1, 2),
                              ("Anticipated absolute effects* (95% CI)", 2, 1),
                              ("Relative effect (95% CI)", 1, 2),
                              ("№ of participants (studies)", 1, 2),
                              ("Certainty of the evidence (GRADE)", 1, 2), ("Comments", 1, 2)],
             "header": ["Outcomes", f"With {ctrl}", f"With {interv}",
                        "Relative effect (95% CI)", "№ of participants (studies)",
                        "Certainty of the evidence (GRADE)", "Comments"],
             "rows": rows, "row_header": True}
    return block, [f"{_letter(i)}. {t}" for i, t in enumerate(notes)]


def _letter(i: int) -> str:
    """Footnote letters a ... z, then aa, ab, ... (GRADEpro's order)."""
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(ord("a") + r) + out
    return out


def _included_table(comp: dict) -> Block | None:
    """"Characteristics of included studies" (Cochrane Handbook 5.4): one row per study."""
    rows = comp.get("included_studies")
    if not rows:
        return None
    heads = [("methods", "Methods"), ("participants", "Participants"),
             ("interventions", "Interventions"), ("outcomes", "Outcomes"), ("notes", "Notes")]
    body = []
    for r in rows:
        derived = set(r.get("derived") or [])
        cells: list[Any] = [r.get("label") or r.get("study_id")]
        for key, _ in heads:
            text = r.get(key)
            if text is None:
                cells.append({"text": "not reported", "cls": "nr"})
            elif key in derived:
                cells.append({"text": text, "cls": "derived"})
            else:
                cells.append(text)
        body.append(cells)
    return {"type": "table", "cls": "included",
            "caption": f"Characteristics of included studies: {_s(comp.get('label'))}",
            "header": ["Study", *(h for _, h in heads)], "rows": body, "row_header": True}


def rob_from_section(section: dict[str, Any]) -> Any:
    """The :class:`~evsynth.reports.rob.RiskOfBias` of a results.json ``risk_of_bias``
    section (for its tables and figures)."""
    import pandas as pd

    from evsynth.reports.rob import RiskOfBias

    cols = ["study", "outcome", "tool", "domain", "domain_name", "judgement", "support"]
    recs = section["judgements"]
    frame = pd.DataFrame({c: pd.Series([r.get(c) for r in recs], dtype=object) for c in cols})
    return RiskOfBias(frame, section["studies"], section["tool_keys"])


def _rob_blocks(results: dict, comp: dict, n_fig: list[int]) -> list[Block]:
    """Risk of bias of the comparison's studies: the table (per tool, and per outcome with
    outcome-specific judgements), the traffic-light and the summary plots."""
    sec = results.get("risk_of_bias") or {}
    entry = next((c for c in sec.get("comparisons") or []
                  if c.get("comparison") == comp.get("id")), None)
    if not entry or not entry.get("tables"):
        return []
    from evsynth.reports.rob import NOT_ASSESSED, TOOLS

    rob = rob_from_section(sec)
    labels = {r.get("study_id"): r.get("label") for r in comp.get("included_studies") or []}
    out: list[Block] = [{"type": "heading", "level": 3, "text": "Risk of bias"}]
    legends: list[str] = []
    for t in entry["tables"]:
        b = rob.table_block(t.get("outcome"), t["studies"])
        for row in b["rows"]:
            row[0] = labels.get(row[0]) or row[0]
            for c in row[1:]:
                if isinstance(c, dict):
                    c["text"] = (f"{c['text']} {c['aria']}".strip() if c.get("aria")
                                 != NOT_ASSESSED else NOT_ASSESSED)
        what = f", outcome {t['outcome']}" if t.get("outcome") else ""
        out.append({"type": "table", "cls": "rob", "row_header": True,
                    "caption": f"Risk of bias ({t['tool']}{what}): {_s(comp.get('label'))}",
                    "header": b["header"], "rows": b["rows"]})
        legends += b["legend"]
        support = [r for r in sec.get("judgements") or []
                   if r.get("study") in t["studies"] and r.get("outcome") == t.get("outcome")
                   and r.get("support")]
        if support:   # the reviewers' reasons (Cochrane's "Support for judgement")
            out.append({"type": "table", "cls": "rob-support", "row_header": True,
                        "caption": f"Support for the risk-of-bias judgements ({t['tool']}{what})"
                                   f": {_s(comp.get('label'))}",
                        "header": ["Study", "Domain", "Judgement", "Support for judgement"],
                        "rows": [[labels.get(r["study"]) or r["study"],
                                  f"{r['domain']} {_s(r.get('domain_name'))}".strip(),
                                  r.get("judgement") or NOT_ASSESSED, r["support"]]
                                 for r in support]})
    tools = {TOOLS[k].name for k in (sec.get("tool_keys") or {}).values()}
    out.append({"type": "para", "cls": "note", "text": "; ".join(dict.fromkeys(legends))
                + ". " + ("RoB 2: Sterne et al. 2019, doi:10.1136/bmj.l4898. " if "RoB 2" in tools
                          else "")
                + ("ROBINS-I: Sterne et al. 2016, doi:10.1136/bmj.i4919. "
                   if "ROBINS-I" in tools else "")
                + "An empty judgement is shown as not assessed."})
    for f in sec.get("figures") or []:
        if f.get("comparison") == comp.get("id") and f.get("analysis") is None:
            n_fig[0] += 1
            out.append({"type": "figure", "kind": "rob", "key": f["id"],
                        "analysis_id": f["id"], "caption": f"Figure {n_fig[0]}. {f['caption']}"})
    return out


def _pooled_table(a: dict) -> Block:
    p = a["pooled"]
    m = _s(a.get("measure"))
    model = a.get("model") or {}
    stat = "t" if model.get("test") in ("t", "knha", "adhoc") else "z"
    df = f", df = {_num(p.get('df'))}" if p.get("df") is not None else ""
    level = _num(model.get("level", 95))
    participants = _participants(a.get("participants"))
    rows = [["Studies (participants)", f"{a.get('k')} ({participants})"],
            ["Effect measure", f"{m} ({MEASURE_NAMES.get(m, m)})"],
            ["Model", _model_text(model)],
            [f"Pooled {m} ({level}% CI)", _effect(a, p)],
            ["Test for overall effect",
             f"{stat} = {_num(p.get('zval'), 2, True)}{df} ({_p(p.get('pval'))})"]]
    vc = a.get("variance_components")
    if vc:   # several effects per study (evsynth.review.dependence)
        rows[0] = ["Studies (effects; participants)",
                   f"{a.get('k_studies')} ({a.get('k')} effects; {participants})"]
        rows.insert(3, ["Variance components",
                        f"{_s(vc.get('text'))} (within-study correlation rho = "
                        f"{_num(vc.get('rho'))})"])
    if p.get("pi_lb") is not None and p.get("pi_ub") is not None:
        pi = {"estimate": p["estimate"], "ci_lb": p["pi_lb"], "ci_ub": p["pi_ub"]}
        rows.append([f"{level}% prediction interval", _effect(a, pi).split(" ", 1)[1]])
    else:
        rows.append([f"{level}% prediction interval", "not computed (k < 3 or switched off)"])
    if (a.get("k") or 0) < 2:
        rows.append(["Heterogeneity", "not applicable (one study)"])
    else:
        tau2, chi2 = _num(p.get("tau2"), 4, True), _num(p.get("QE"), 2, True)
        rows.append(["Heterogeneity",
                     f"Tau² = {tau2}; Chi² = {chi2}, df = {_num(p.get('QE_df'))} "
                     f"({_p(p.get('QEp'))}); I² = {_num(p.get('I2'), 0)}%"])
    return {"type": "table", "caption": f"Pooled result: {_analysis_title(a)}",
            "header": ["Quantity", "Value"], "rows": rows, "row_header": True}


def _model_text(model: dict) -> str:
    method = _s(model.get("method") or (model.get("method_info") or {}).get("estimator"))
    test = _s(model.get("test"))
    text = f"{ESTIMATORS.get(method, method)}; {TESTS.get(test, test)}"
    if model.get("pooling") in ("MH", "PETO"):   # Mantel-Haenszel / Peto (review pipeline)
        text = f"{model.get('label')}: {POOLING_TEXT.get(_s(model.get('label')), '')}".rstrip(": ")
    elif isinstance(model.get("label"), str):
        text = f"{model['label']}: {text}"
    if model.get("dependence") in ("multilevel", "robust"):   # evsynth.review.dependence
        text += (f"; several effects per study, random effects {model.get('random') or 'none'}"
                 " (metafor rma.mv)"
                 + ("; CR2 cluster-robust SEs by study, Satterthwaite df (clubSandwich)"
                    if model.get("dependence") == "robust" else ""))
    if model.get("change_score_correlation") is not None:
        text += (f"; change-score SDs imputed with correlation "
                 f"{_num(model['change_score_correlation'])}")
    return text


def _grade_table(a: dict, g: dict) -> Block:
    rows = []
    prompts = g.get("prompts") or {}
    for d in DOMAINS:
        j = (g.get("downgrades") or {}).get(d)
        if j is None:
            judged = "not assessed"
        else:
            judged = ("not downgraded" if not j["downgrade"] else
                      f"downgraded {j['downgrade']}: {j['reason'] or 'no reason given'}")
        rows.append([DOMAIN_LABELS[d].capitalize(), judged, prompts.get(d, "—")])
    cap = (f"GRADE: {g.get('symbols', '')} {g.get('label', '')}".strip()
           + " (judgements from review.toml; computed prompts beside them)")
    return {"type": "table", "caption": cap, "cls": "grade",
            "header": ["Domain", "Judgement", "Computed prompt"], "rows": rows,
            "row_header": True}


def _analysis_blocks(a: dict, n_fig: list[int], figures: dict[str, str],
                     funnels: dict[str, str], results_rob: dict | None = None) -> list[Block]:
    """The blocks of one analysis; ``n_fig`` is the running figure number (updated)."""
    aid = _s(a.get("id"))
    g, _, text = summaries_of(a)
    out: list[Block] = [
        {"type": "section", "id": _anchor("analysis", aid)},
        {"type": "heading", "level": 3, "text": _analysis_title(a),
         "id": _anchor("h-analysis", aid)},
        {"type": "para", "text": f"Analysis {aid}. {text}"}]
    n_fig[0] += 1
    cap = (f"Figure {n_fig[0]}. Forest plot: {_analysis_title(a)}, "
           f"{(a.get('comparison') or {}).get('label') or ''}".rstrip(", "))
    out.append({"type": "figure", "kind": "forest", "analysis_id": aid, "caption": cap,
                "available": aid in figures})
    for f in (results_rob or {}).get("figures") or []:
        if f.get("analysis") == aid:
            n_fig[0] += 1
            out.append({"type": "figure", "kind": "rob", "key": f["id"], "analysis_id": f["id"],
                        "caption": f"Figure {n_fig[0]}. {f['caption']}"})
    if a.get("pooled") is None or not a.get("k"):
        out.append({"type": "para", "text": "No study contributed data to this analysis."})
    else:
        out.append(_pooled_table(a))
        out.append(_grade_table(a, g))
    excluded = a.get("excluded") or []
    if excluded:
        out.append({"type": "heading", "level": 4, "text": "Studies left out"})
        out.append({"type": "list", "items": [
            f"{e.get('study_id')}" + (f" ({format_number(float(e['timepoint_weeks']), 2)} weeks)"
                                      if e.get("timepoint_weeks") is not None else "")
            + f": {e.get('reason')}" for e in excluded]})
    sens = a.get("sensitivity") or []
    if sens:
        out.append({"type": "table", "caption": f"Sensitivity analyses: {_analysis_title(a)}",
                    "header": ["Analysis", "k", "Estimate (95% CI)", "Tau²", "I²", "Note"],
                    "row_header": True,
                    "rows": [[s.get("name"), _num(s.get("k")), _effect(a, s),
                              _num(s.get("tau2"), 4),
                              "NA" if s.get("I2") is None else f"{_num(s.get('I2'), 0)}%",
                              s.get("note") or ""] for s in sens]})
    sgs = a.get("subgroup_analyses") or ([a["subgroups"]] if a.get("subgroups") else [])
    for sg in sgs:
        out.append({"type": "table", "caption": f"Subgroups by {sg.get('variable')}: "
                                                f"{_analysis_title(a)}",
                    "header": ["Subgroup", "k", "Participants", "Estimate (95% CI)", "I²"],
                    "row_header": True,
                    "rows": [[lv.get("label"), _num(lv.get("k")),
                              _participants(lv.get("participants")), _effect(a, lv),
                              "NA" if lv.get("I2") is None else f"{_num(lv.get('I2'), 0)}%"]
                             for lv in sg.get("levels") or []]})
        out.append({"type": "para", "text":
                    f"Test for subgroup differences: Chi² = {_num(sg.get('Q_between'))}, df = "
                    f"{_num(sg.get('Q_between_df'))} ({_p(sg.get('Q_between_p'))})."})
    if a.get("pooled") is not None and a.get("k"):
        out += _robustness_blocks(a, n_fig, funnels)
    notes = a.get("notes") or []
    notes = notes + list(((a.get("model") or {}).get("method_info") or {}).get("notes") or [])
    if notes:
        out.append({"type": "heading", "level": 4, "text": "Notes"})
        out.append({"type": "list", "items": list(dict.fromkeys(notes))})
    out.append({"type": "end"})
    return out


def _stat(x: Any, digits: int = 2) -> str:
    """A diagnostic statistic with fixed decimals (NA when undefined)."""
    return _num(x, digits, True) if x is not None else "NA"


def _robustness_blocks(a: dict, n_fig: list[int], funnels: dict[str, str]) -> list[Block]:
    """"Small-study effects and robustness": the funnel plot and tests (k >= 10) or the Cochrane
    Handbook's caution (13.3.5.4), the leave-one-out and influence tables (k >= 3) or why not."""
    aid = _s(a.get("id"))
    title = _analysis_title(a)
    level = _num((a.get("model") or {}).get("level", 95))
    out: list[Block] = [{"type": "heading", "level": 4,
                         "text": "Small-study effects and robustness"}]
    ss = a.get("small_study") or {}
    if ss.get("assessed"):
        n_fig[0] += 1
        out.append({"type": "figure", "kind": "funnel", "analysis_id": aid,
                    "caption": f"Figure {n_fig[0]}. Contour-enhanced funnel plot: {title} "
                               "(shaded: p < 0.10, 0.05, 0.01; open points: studies imputed by "
                               "trim-and-fill)", "available": aid in funnels})
        rows = []
        eg, bg, tf = ss.get("egger"), ss.get("begg"), ss.get("trimfill")
        if eg:
            df = f" (df = {_num(eg.get('df'))})" if eg.get("df") is not None else ""
            rows.append(["Egger's regression test (weighted regression on the SE)",
                         f"{eg.get('statistic_name', 't')}{df} = {_stat(eg.get('statistic'))}",
                         _p(eg.get("p"))])
        if bg:
            rows.append(["Begg's rank correlation test", f"Kendall's tau = "
                         f"{_stat(bg.get('tau'), 3)}", _p(bg.get("p"))])
        if tf:
            k0 = int(tf.get("k0") or 0)
            rows.append(["Trim-and-fill (L0)",
                         f"{k0} {'study' if k0 == 1 else 'studies'} imputed on the "
                         f"{_s(tf.get('side'))}; adjusted {_s(a.get('measure'))} "
                         f"{_effect(a, tf)}", "—"])
        if rows:
            out.append({"type": "table", "caption": f"Tests for small-study effects: {title}",
                        "header": ["Method", "Result", "P"], "rows": rows,
                        "row_header": True})
        for n in ss.get("notes") or []:
            out.append({"type": "para", "cls": "note", "text": n})
        out.append({"type": "para", "cls": "note", "text": _s(ss.get("text"))})
    elif ss.get("text"):
        out.append({"type": "para", "text": _s(ss.get("text"))})
    # the studies by their labels, as in the forest plot and the study tables (the ids of the
    # data files read differently: 'Kallmes 2009' beside 'Kallmes 2009 (INVEST)')
    names = {st.get("study_id"): st.get("label") or st.get("study_id")
             for st in a.get("studies") or []}
    loo = a.get("leave_one_out") or {}
    if loo.get("rows"):
        out.append({"type": "table", "caption": f"Leave-one-out analysis: {title}",
                    "header": ["Study omitted", f"{_s(a.get('measure'))} ({level}% CI)",
                               "Tau²", "I²", "Conclusion"], "row_header": True,
                    "rows": [[names.get(r.get("study_id"), r.get("study_id")),
                              _effect({"log_scale": False}, r),
                              _stat(r.get("tau2"), 4),
                              "NA" if r.get("I2") is None else f"{_num(r.get('I2'), 0)}%",
                              ("changes" if r.get("changes_conclusion") else "same")
                              + (" (CI excludes the null)" if r.get("excludes_null")
                                 else " (CI includes the null)")]
                             for r in loo["rows"]]})
    elif loo.get("note"):
        out.append({"type": "para", "text": _s(loo.get("note"))})
    inf = a.get("influence") or {}
    if inf.get("rows"):
        out.append({"type": "table", "caption": f"Influence diagnostics: {title}",
                    "header": ["Study", "Studentised residual", "DFFITS", "Cook's distance",
                               "Hat", "Weight (%)", "Influential"], "row_header": True,
                    "rows": [[names.get(r.get("study_id"), r.get("study_id")),
                              _stat(r.get("rstudent")),
                              _stat(r.get("dffits")), _stat(r.get("cook_d")),
                              _stat(r.get("hat"), 3), _stat(r.get("weight"), 1),
                              "yes" if r.get("flagged") else "no"] for r in inf["rows"]]})
        out.append({"type": "para", "cls": "note", "text":
                    "Influential (metafor influence(), Viechtbauer & Cheung 2010): |DFFITS| > "
                    "3√(p/(k−p)), Cook's distance beyond the median of χ²(p), hat > 3p/k or "
                    "any |DFBETAS| > 1."})
    elif inf.get("note") and inf.get("note") != loo.get("note"):
        out.append({"type": "para", "text": _s(inf.get("note"))})
    return out


def _methods(results: dict) -> list[Block]:
    rv = results.get("review") or {}
    analyses = results.get("analyses") or []
    out: list[Block] = [{"type": "section", "id": "methods"},
                        {"type": "heading", "level": 2, "text": "Methods", "id": "h-methods"}]
    models: dict[tuple[Any, ...], list[str]] = {}
    for a in analyses:
        m = a.get("model") or {}
        key = (m.get("method"), m.get("test"), m.get("level"), m.get("prediction_interval"),
               m.get("label"))
        models.setdefault(key, []).append(_s(a.get("id")))
    items = []
    for (method, test, level, pi, label), ids in models.items():
        what = f"{ESTIMATORS.get(_s(method), _s(method))}; {TESTS.get(_s(test), _s(test))}"
        if label in POOLING_TEXT:
            what = f"{label}: {POOLING_TEXT[label]}"
        elif label:
            what = f"{label}: {what}"
        items.append(f"{what}; "
                     f"{_num(level)}% confidence intervals; prediction interval "
                     f"{'on' if pi else 'off'} ({len(ids)} "
                     f"{'analysis' if len(ids) == 1 else 'analyses'}).")
    out.append({"type": "para", "text": "Meta-analysis models as recorded in results.json "
                "(evsynth.meta, numerically checked against R metafor rma.uni):"})
    out.append({"type": "list", "items": items or ["no analyses"]})
    outcomes = rv.get("outcomes") or list({(a.get("outcome") or {}).get("id"): a.get("outcome")
                                           for a in analyses}.values())
    if outcomes:
        out.append({"type": "table", "caption": "Outcomes as specified in review.toml",
                    "header": ["Outcome", "Kind", "Instrument", "Scale", "Direction", "MID",
                               "Measure"], "row_header": True,
                    "rows": [[o.get("label") or o.get("id"), o.get("kind"),
                              o.get("instrument") or "—",
                              "—" if o.get("scale_min") is None else
                              f"{_num(o.get('scale_min'))} to {_num(o.get('scale_max'))}",
                              _s(o.get("direction")).replace("_", " "),
                              "—" if o.get("mid") is None else _num(o.get("mid")),
                              o.get("measure")] for o in outcomes if o]})
    windows = rv.get("windows") or []
    if windows:
        out.append({"type": "table", "caption": "Time windows",
                    "header": ["Window", "Weeks", "Target (weeks)", "Rule"], "row_header": True,
                    "rows": [[w.get("label") or w.get("id"),
                              f"{_num(w.get('from_weeks'))} to {_num(w.get('to_weeks'))} "
                              "(upper bound " + ("included" if w.get("include_upper")
                                                 else "excluded") + ")",
                              "—" if w.get("target_weeks") is None else _num(w["target_weeks"]),
                              w.get("rule")] for w in windows]})
    cs = rv.get("change_scores") or {}
    text = []
    if cs:
        sens = ", ".join(_num(r) for r in cs.get("sensitivity") or []) or "none"
        text.append(f"Change-score SDs, where needed, were imputed with a baseline/follow-up "
                    f"correlation of {_num(cs.get('correlation'))} (Cochrane Handbook 6.5.2.8); "
                    f"sensitivity values: {sens}.")
    sc = rv.get("sensitivity") or {}
    if sc:
        on = [name for key, name in (("common_effect", "common-effect model"),
                                     ("exclude_high_risk_of_bias",
                                      "leaving out studies at high risk of bias"),
                                     ("change_score_correlations",
                                      "other change-score correlations")) if sc.get(key)]
        text.append("Sensitivity analyses: " + (", ".join(on) if on else "none") + ".")
    text.append("Certainty of the evidence: GRADE, starting at high for randomised trials (at "
                "low for observational studies, [[grade]] start = \"low\") and rated down by the "
                "reviewers' judgements in review.toml (GRADE Handbook 5; rating up is not "
                "supported); the "
                "I², prediction interval, confidence interval against the minimal important "
                "difference and the optimal information size are computed prompts shown beside "
                "the judgements, not judgements (Guyatt 2011, GRADE guidelines 6 and 7).")
    text.append("Summary of findings: continuous outcomes show the control group's mean (mean "
                "of the control-arm means weighted by n), the intervention group's value as the "
                "control mean plus the mean difference, and the difference as a percentage of "
                "the scale range; binary outcomes show risks per 1000 from the assumed control "
                "risk (median control-group risk unless given) and the relative effect "
                "(Cochrane Handbook 14.1.5, 15.4.4); an SMD is re-expressed in points with the "
                "control-group SD (Cochrane Handbook 15.5.3.1).")
    out += [{"type": "para", "text": t} for t in text]
    out.append({"type": "heading", "level": 3, "text": "GRADE certainty levels"})
    out.append({"type": "list", "items": [f"{w}: {d}" for w, d in GRADE_DEFINITIONS]})
    out.append({"type": "end"})
    return out


def _provenance(results: dict) -> list[Block]:
    pv = results.get("provenance") or {}
    rows = [[k.replace("_", " ").capitalize(), _s(v)] for k, v in pv.items()
            if not isinstance(v, (dict, list))]
    files = pv.get("input_files") or pv.get("inputs") or {}
    for name, h in files.items():
        rows.append([f"Input file {name}", _s(h.get("sha256") if isinstance(h, dict) else h)])
    if pv.get("missing_components"):
        rows.append(["Missing components", ", ".join(map(str, pv["missing_components"]))])
    rows.append(["results.json schema",
                 f"{_s(results.get('schema'))} {_s(results.get('schema_version'))}"])
    return [{"type": "section", "id": "provenance"},
            {"type": "heading", "level": 2, "text": "Provenance", "id": "h-provenance"},
            {"type": "table", "caption": "Provenance of this report", "header": ["Item", "Value"],
             "rows": rows, "row_header": True, "cls": "provenance"},
            {"type": "end"}]


def _records_blocks(records: dict) -> list[Block]:
    """The records section (search table, PRISMA 2020 flow diagram, screening agreement,
    excluded studies, reports per study, consistency) as rendered by
    :mod:`evsynth.reports.records_html`: a raw block with its HTML and Markdown."""
    try:
        from evsynth.reports import records_html as rh  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return []
    return [{"type": "section", "id": "records"},
            {"type": "raw", "html": rh.records_html(records),
             "markdown": rh.records_markdown(records)},
            {"type": "end"}]


def build_document(results: dict, figures: dict[str, str],
                   funnels: dict[str, str] | None = None) -> list[Block]:
    """The report's content as blocks (shared by the HTML and Markdown renderers).

    ``figures`` (forest plots) and ``funnels`` (funnel plots): analysis id -> figure (SVG text or
    path); only their keys are used here.
    """
    funnels = funnels or {}
    if not isinstance(results, dict):
        raise InputError(f"results is {type(results).__name__}; expected the results.json dict")
    analyses = results.get("analyses")
    if not isinstance(analyses, list):
        raise InputError("results: field 'analyses' is missing; expected a list of analyses")
    rv = results.get("review") or {}
    doc: list[Block] = [{"type": "title", "text": _s(rv.get("title")) or "Review report"}]
    if rv.get("question"):
        doc.append({"type": "para", "text": f"Question: {rv['question']}", "cls": "question"})
    warns = results.get("warnings") or []
    if warns:  # e.g. an SD wider than the outcome's scale (evsynth.review.load)
        doc.append({"type": "heading", "level": 2, "text": "Data warnings", "id": "warnings"})
        doc.append({"type": "para", "cls": "note", "text": "The input data passed validation "
                    "but these values look implausible; check them before relying on the "
                    "results."})
        doc.append({"type": "list", "items": [_s(w) for w in warns]})
    comps = results.get("comparisons") or []
    toc = [(c.get("label") or c.get("id"), _anchor("comparison", c.get("id"))) for c in comps]
    records = results.get("records")
    if records:
        toc.insert(0, ("Search and selection of studies", "records"))
    if results.get("networks"):
        toc.append(("Network meta-analyses", "networks"))
    doc.append({"type": "toc", "items": toc + [("Methods", "methods"),
                                               ("Provenance", "provenance")]})
    n_fig = [0]
    if records:
        doc += _records_blocks(records)
    for c in comps:
        mine = [a for a in analyses if (a.get("comparison") or {}).get("id") == c.get("id")]
        doc.append({"type": "section", "id": _anchor("comparison", c.get("id"))})
        doc.append({"type": "heading", "level": 2, "text": _s(c.get("label") or c.get("id")),
                    "id": _anchor("h-comparison", c.get("id"))})
        ch = _characteristics(results, c)
        doc.append({"type": "para", "text": f"{c.get('intervention')} compared with "
                    f"{c.get('control')}: {ch['trials']} trials, "
                    f"{ch['participants']['text']} participants randomised."})
        doc.append({"type": "heading", "level": 3, "text": "Study characteristics"})
        doc.append({"type": "table", "caption": f"Characteristics of the trials: {c.get('label')}",
                    "header": ["Characteristic", "Summary"], "rows": ch["rows"],
                    "row_header": True})
        included = _included_table(c)
        if included is not None:
            doc.append({"type": "heading", "level": 3,
                        "text": "Characteristics of included studies"})
            doc.append(included)
            if any(r.get("derived") for r in c.get("included_studies") or []):
                doc.append({"type": "para", "cls": "note", "text": "Entries in italics are "
                            "filled from other columns of studies.csv and outcomes.csv (design, "
                            "country, numbers randomised, the comparison, the outcomes with "
                            "data) where the free-text column is empty."})
        doc += _rob_blocks(results, c, n_fig)
        doc.append({"type": "heading", "level": 3, "text": "Summary of findings"})
        if mine:
            table, footnotes = _sof_table(c, mine)
            doc.append(table)
            if footnotes:
                doc.append({"type": "list", "cls": "footnotes", "items": footnotes})
            doc.append({"type": "para", "cls": "note", "text":
                        "*The value in the intervention group (and its 95% CI) is based on the "
                        "assumed value in the control group and the relative effect (and its 95% "
                        "CI). CI: confidence interval; MD: mean difference; SMD: standardised "
                        "mean difference; RR: risk ratio; OR: odds ratio; MID: minimal important "
                        "difference. GRADE certainty: ⊕⊕⊕⊕ high, ⊕⊕⊕◯ moderate, ⊕⊕◯◯ low, "
                        "⊕◯◯◯ very low."})
            doc.append({"type": "heading", "level": 3, "text": "Key results"})
            doc.append({"type": "list", "items": [
                f"{_analysis_title(a)}: {summaries_of(a)[2]}" for a in mine]})
        else:
            doc.append({"type": "para", "text": "No analysis for this comparison."})
        for a in mine:
            doc += _analysis_blocks(a, n_fig, figures, funnels, results.get("risk_of_bias"))
        doc.append({"type": "end"})
    if results.get("networks"):   # [[network]] (evsynth.reports.network_section)
        from evsynth.reports.network_section import network_blocks

        doc += network_blocks(results, n_fig)
    missing = results.get("not_analysed") or []
    if missing:
        doc.append({"type": "heading", "level": 2, "text": "Not analysed"})
        doc.append({"type": "list", "items": [f"{m.get('id')}: {m.get('reason')}"
                                              for m in missing]})
    doc += _methods(results)
    doc += _provenance(results)
    return doc


# --- HTML rendering --------------------------------------------------------------------------

CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
       max-width: 72rem; padding: 1rem 1.5rem 3rem; color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 1.7rem; margin-bottom: .3rem; }
h2 { border-bottom: 2px solid #2f5d8a; padding-bottom: .2rem; margin-top: 2.2rem; }
h3 { margin-top: 1.6rem; }
.question { font-style: italic; }
nav ul { columns: 2; }
table { border-collapse: collapse; margin: .8rem 0 1.2rem; width: 100%; font-size: .92rem; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; }
th, td { border: 1px solid #b8c4d0; padding: .35rem .5rem; vertical-align: top; text-align: left; }
thead th { background: #e7eef6; }
tbody th { background: #f6f8fa; font-weight: 600; }
.certainty { white-space: nowrap; }
.sof td:nth-child(7) { font-size: .85rem; }
.grade td { font-size: .85rem; }
figure { margin: 1rem 0; overflow-x: auto; }
figure svg { display: block; max-width: 100%; height: auto; background: #fff; }
figcaption { font-size: .9rem; color: #333; margin-top: .3rem; }
.note { font-size: .85rem; color: #333; }
.missing-figure { border: 1px dashed #999; padding: .5rem; }
td.derived { font-style: italic; color: #333; }
td.nr { color: #666; }
table.included td { font-size: .88rem; }
table.rob td { text-align: center; white-space: nowrap; font-size: .85rem; }
td.rob-low { background: #02C100; color: #000; }
td.rob-some-concerns, td.rob-moderate { background: #E2DF07; color: #000; }
td.rob-high, td.rob-serious { background: #BF0000; color: #fff; }
td.rob-critical { background: #820000; color: #fff; }
td.rob-no-information { background: #4EA1F7; color: #000; }
td.rob-na { background: #eeeeee; color: #444; }
ul.footnotes { font-size: .85rem; list-style: none; padding-left: .5rem; }
@media print { nav { display: none; } h2 { break-before: page; } figure { break-inside: avoid; } }
"""


def e(x: Any) -> str:
    """HTML-escaped text (quotes too; control characters in caret notation:
    :func:`evsynth.textsafe.html_text`)."""
    return html_text(_s(x))


_PROLOG = re.compile(r"<\?xml[^>]*\?>|<!DOCTYPE[^>]*>|<!--.*?-->", re.S | re.I)
_UNSAFE = re.compile(r"<(script|foreignObject)\b.*?</\1\s*>|<(script|foreignObject)\b[^>]*/>",
                     re.S | re.I)
_EVENT = re.compile(r"\s+on[a-z]+\s*=\s*(\"[^\"]*\"|'[^']*')", re.I)
_EXTERNAL = re.compile(r"\s+(?:xlink:)?href\s*=\s*(\"(?!#|data:)[^\"]*\"|'(?!#|data:)[^']*')",
                       re.I)


def inline_svg(svg: str, prefix: str, label: str) -> str:
    """An SVG document made safe to inline: no prolog/comments, scripts, foreignObject, event
    attributes or external links; ids (and their references) prefixed with ``prefix``; the root
    gets ``role="img"`` and an ``aria-label``."""
    if not isinstance(svg, str) or "<svg" not in svg:
        raise InputError(f"figure for {label!r} is not an SVG document")
    s = _PROLOG.sub("", svg)
    s = _UNSAFE.sub("", s)
    s = _EVENT.sub("", s)
    s = _EXTERNAL.sub("", s)
    s = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', s)
    s = re.sub(r'(href=")#([^"]+)"', lambda m: f'{m.group(1)}#{prefix}{m.group(2)}"', s)
    s = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", s)
    s = s.strip()
    start = s.index("<svg")
    s = s[start:]
    return s.replace("<svg", f'<svg role="img" aria-label="{e(label)}"', 1)


def _cell(c: Any, tag: str, scope: str | None = None) -> str:
    if isinstance(c, dict):
        attrs = ""
        if c.get("cls"):
            attrs += f' class="{e(c["cls"])}"'
        inner = "<br>".join(e(t) for t in c["lines"]) if "lines" in c else e(c.get("text"))
        if c.get("aria"):
            inner = f'<span aria-label="{e(c["aria"])}" role="img">{inner}</span>'
        if c.get("sup"):
            inner += f"<sup>{e(c['sup'])}</sup>"
        text = inner
    else:
        attrs, text = "", e(c)
    if scope:
        attrs += f' scope="{scope}"'
    return f"<{tag}{attrs}>{text}</{tag}>"


def _table_html(b: Block) -> str:
    cls = f' class="{e(b["cls"])}"' if b.get("cls") else ""
    out = [f"<table{cls}>", f"<caption>{e(b.get('caption'))}</caption>", "<thead>"]
    if b.get("group_header"):
        first = "".join(
            f'<th scope="{"colgroup" if cs > 1 else "col"}"'
            + (f' colspan="{cs}"' if cs > 1 else "") + (f' rowspan="{rs}"' if rs > 1 else "")
            + f">{e(t)}</th>" for t, cs, rs in b["group_header"])
        second = "".join(_cell(h, "th", "col") for h, rs in zip(
            b["header"], [rs for _, cs, rs in b["group_header"] for _ in range(cs)],
            strict=True) if rs == 1)
        out += [f"<tr>{first}</tr>", f"<tr>{second}</tr>"]
    else:
        out.append("<tr>" + "".join(_cell(h, "th", "col") for h in b["header"]) + "</tr>")
    out.append("</thead><tbody>")
    for row in b["rows"]:
        cells = [_cell(c, "th", "row") if i == 0 and b.get("row_header") else _cell(c, "td")
                 for i, c in enumerate(row)]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def render_html(results: dict, figures_svg: dict[str, str],
                funnel_svg: dict[str, str] | None = None,
                rob_svg: dict[str, str] | None = None) -> str:
    """The whole report as one self-contained HTML document.

    ``figures_svg``: analysis id -> SVG text of its forest plot; ``funnel_svg``: analysis id ->
    SVG text of its funnel plot (k >= 10); ``rob_svg``: risk-of-bias figure id (results.json
    ``risk_of_bias.figures``) -> SVG text. All inlined through :func:`inline_svg`. The records
    section (PRISMA diagram) is rendered by :mod:`evsynth.reports.records_html`. No script,
    no external resource; every input text escaped.
    """
    if figures_svg is None:
        figures_svg = {}
    if funnel_svg is None:
        funnel_svg = {}
    if rob_svg is None:
        rob_svg = {}
    for name, d in (("figures_svg", figures_svg), ("funnel_svg", funnel_svg),
                    ("rob_svg", rob_svg)):
        if not isinstance(d, dict):
            raise InputError(f"{name} is {type(d).__name__}; expected a dict of analysis id -> "
                             "SVG text")
    doc = build_document(results, figures_svg, funnel_svg)
    title = doc[0]["text"]
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             '<meta name="generator" content="evsynth">',
             f"<title>{e(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
             f'<header><h1 id="top">{e(title)}</h1>']
    body: list[str] = []
    header_open = True
    n_svg = 0
    for b in doc[1:]:
        t = b["type"]
        if t == "toc":
            body.append("</header>")
            header_open = False
            body.append('<nav aria-label="Contents"><h2>Contents</h2><ul>' + "".join(
                f'<li><a href="#{e(anchor)}">{e(text)}</a></li>' for text, anchor in b["items"])
                + "</ul></nav>\n<main>")
        elif t == "section":
            body.append(f'<section id="{e(b["id"])}">')
        elif t == "end":
            body.append("</section>")
        elif t == "heading":
            hid = f' id="{e(b["id"])}"' if b.get("id") else ""
            body.append(f"<h{b['level']}{hid}>{e(b['text'])}</h{b['level']}>")
        elif t == "para":
            cls = f' class="{e(b["cls"])}"' if b.get("cls") else ""
            body.append(f"<p{cls}>{e(b['text'])}</p>")
        elif t == "list":
            cls = f' class="{e(b["cls"])}"' if b.get("cls") else ""
            body.append(f"<ul{cls}>" + "".join(f"<li>{e(i)}</li>" for i in b["items"])
                        + "</ul>")
        elif t == "raw":   # an HTML fragment built (and escaped) by a report module
            body.append(b["html"])
        elif t == "table":
            body.append(_table_html(b))
        elif t == "figure":
            aid = b["analysis_id"]
            kind = b.get("kind", "forest")
            source = {"funnel": funnel_svg, "rob": rob_svg}.get(kind, figures_svg)
            if aid in source and source[aid]:
                n_svg += 1
                svg = inline_svg(source[aid], f"f{n_svg}-", b["caption"])
                body.append(f'<figure class="{e(kind)}" data-analysis="{e(aid)}">{svg}'
                            f"<figcaption>{e(b['caption'])}</figcaption></figure>")
            else:
                body.append(f'<p class="missing-figure">{e(b["caption"])}: {e(kind)} plot not '
                            "available.</p>")
    if header_open:
        body.insert(0, "</header><main>")
    parts += body
    parts += ["</main>", "</body>", "</html>", ""]
    return "\n".join(parts)
