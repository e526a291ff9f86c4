"""The report's network section: one part per ``[[network]]`` of the review (results.json
``networks``, built by :mod:`evsynth.review.network`).

Returned as blocks of :func:`evsynth.reports.html.build_document` (headings, paragraphs, lists,
tables, figures), so the HTML and Markdown renderers escape every text -- treatment names and
study labels come from the user's files. Each part shows what the data could estimate (studies
used and left out, sub-networks not connected to the reference), the network graph, the forest
plot against the reference, the league table (lower triangle: network estimates, row versus
column; upper triangle: direct estimates, column versus row... as netmeta's ``netleague``),
the rankings, the inconsistency checks and the CINeMA prompts beside the reviewer's
judgements; whatever is not available is said.
"""

from __future__ import annotations

import math
from typing import Any

Block = dict[str, Any]


def _num(x: Any, ratio: bool, digits: int = 2) -> str:
    if x is None:
        return ""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(v):
        return ""
    v = math.exp(v) if ratio else v
    return f"{v:.{digits}f}"


def _p(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(v):
        return ""
    return "< 0.001" if v < 0.001 else f"{v:.3f}"


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return "" if not math.isfinite(v) else f"{v:.4g}"
    return "" if v is None else str(v)


def _generic_table(tab: dict[str, Any] | None, caption: str) -> Block | None:
    if not tab or not tab.get("rows"):
        return None
    return {"type": "table", "caption": caption, "header": list(tab["columns"]),
            "rows": [[_cell(v) for v in row] for row in tab["rows"]]}


def _league(sec: dict[str, Any], label: dict[str, str]) -> Block | None:
    m = sec.get("matrices") or {}
    names = m.get("treatments") or []
    if not names:
        return None
    ratio = bool(sec["settings"]["log_scale"])
    rows = []
    for i, a in enumerate(names):
        row: list[Any] = []
        for j in range(len(names)):
            if i == j:
                row.append({"text": label.get(a, a)})
            elif i > j:   # lower triangle: network estimate of column vs row... netmeta
                te, lo, hi = (m[k][j][i] for k in ("TE", "lower", "upper"))
                row.append(f"{_num(te, ratio)} ({_num(lo, ratio)} to {_num(hi, ratio)})")
            else:         # upper triangle: direct estimate of row vs column
                te = m["TE_direct"][i][j]
                se = m["seTE_direct"][i][j]
                if te is None or se is None:
                    row.append("-")
                else:
                    z = 1.959963984540054 if float(sec["settings"]["level"]) == 95 else \
                        _z(float(sec["settings"]["level"]))
                    row.append(f"{_num(te, ratio)} ({_num(te - z * se, ratio)} to "
                               f"{_num(te + z * se, ratio)})")
        rows.append(row)
    return {"type": "table", "caption": f"League table ({m.get('model')} effects, "
            f"{sec['settings']['measure']}{', ratio scale' if ratio else ''}): lower triangle "
            "network estimates of the column treatment versus the row treatment; upper triangle "
            "direct estimates of the row treatment versus the column treatment (- : no direct "
            "evidence)", "header": ["" for _ in names], "rows": rows}


def _z(level: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(1 - (1 - level / 100) / 2)


def _cinema_table(sec: dict[str, Any], label: dict[str, str]) -> list[Block]:
    from evsynth.summaries.cinema import DOMAIN_LABELS, DOMAINS

    cin = sec.get("cinema")
    if not cin:
        return [{"type": "para", "text": "CINeMA prompts not computed (no fitted network)."}]
    rows = []
    for r in cin["rows"]:
        name = f"{label.get(r['treat1'], r['treat1'])} vs {label.get(r['treat2'], r['treat2'])}"
        for d in DOMAINS:
            dom = r["domains"][d]
            rev = dom.get("reviewer") or "not judged"
            if dom.get("reviewer_reason"):
                rev += f": {dom['reviewer_reason']}"
            rows.append([name if d == DOMAINS[0] else "", DOMAIN_LABELS[d],
                         dom.get("suggested") or "-", dom.get("reason") or "", rev])
        if r.get("confidence"):
            rows.append(["", "Confidence (reviewer)", "", "", r["confidence"]])
    return [{"type": "table", "caption": "CINeMA: suggestions computed from the data (with the "
             "figures behind them) beside the reviewer's judgements from review.toml; the "
             "suggestions are prompts, never judgements",
             "header": ["Comparison", "Domain", "Suggested", "Why", "Reviewer"], "rows": rows},
            {"type": "para", "cls": "note", "text": "Range of equivalence: "
             f"{cin.get('range_note')}. Rules of Nikolakopoulou et al. 2020 (PLoS Med "
             "17:e1003082): imprecision from the CI against the range of equivalence, "
             "heterogeneity from the prediction interval against the CI, incoherence from the "
             "node-split and design-by-treatment tests (p < 0.10 some, p < 0.01 major "
             "concerns), within-study bias from the risk-of-bias contributions (majority "
             "rule); reporting bias and indirectness are the reviewer's."}]


def network_blocks(results: dict[str, Any], n_fig: list[int]) -> list[Block]:
    """The blocks of the network section (``n_fig``: the running figure number, updated)."""
    out: list[Block] = [{"type": "section", "id": "networks"},
                        {"type": "heading", "level": 2, "text": "Network meta-analyses",
                         "id": "h-networks"}]
    for sec in results.get("networks") or []:
        label = sec.get("treatment_labels") or {}
        s = sec["settings"]
        ratio = bool(s["log_scale"])
        out.append({"type": "heading", "level": 3, "text": str(sec.get("label") or sec["id"])})
        names = ", ".join(label.get(t, t) for t in sec["treatments"])
        out.append({"type": "para", "text": f"Outcome {sec['outcome']['label']}, "
                    f"{sec['window']['label']}; treatments: {names}. Measure {s['measure']}, "
                    f"{s['model']} effects (tau² by {s['method_tau']}), reference "
                    f"{label.get(s['reference'], s['reference'])}."})
        if sec.get("message"):
            out.append({"type": "para", "cls": "note", "text": str(sec["message"])})
        used = [f"{u['study_id']} ({u['timepoint_weeks']:g} weeks, {u['data_level']}-level: "
                f"{', '.join(label.get(t, t) for t in u['treatments'])})"
                for u in sec.get("studies") or []]
        out.append({"type": "para", "text": f"Studies in the network: {len(used)}."})
        if used:
            out.append({"type": "list", "items": used})
        if sec.get("excluded"):
            out.append({"type": "para", "text": "Studies left out:"})
            out.append({"type": "list", "items": [
                f"{x['study_id']}"
                + (f" ({x['timepoint_weeks']:g} weeks)" if x.get("timepoint_weeks") is not None
                   else "") + f": {x['reason']}" for x in sec["excluded"]]})
        if sec.get("left_out"):
            out.append({"type": "para", "text": "Treatments not in the fitted network:"})
            out.append({"type": "list", "items": [
                f"{', '.join(label.get(t, t) for t in x['treatments'])}: {x['reason']}"
                + (f" (studies {', '.join(x['studies'])})" if x.get("studies") else "")
                for x in sec["left_out"]]})
        if not sec.get("fitted"):
            out.append({"type": "para", "text": "No network could be fitted."})
            out += _notes(sec)
            continue
        het = sec.get("heterogeneity") or {}
        tau2 = het.get("tau2")
        tau2_text = (f"{tau2:.4g}" if isinstance(tau2, (int, float)) and math.isfinite(tau2)
                     else "not estimable (df = 0)")
        q = het.get("Q")
        q_text = f"{q:.2f}" if isinstance(q, (int, float)) and math.isfinite(q) else "-"
        out.append({"type": "para", "text": f"k = {sec['k']} studies, {sec['m']} pairwise "
                    f"comparisons, {sec['n']} treatments, {len(sec.get('designs') or [])} "
                    f"designs. Heterogeneity/inconsistency: Q = {q_text}, df = "
                    f"{het.get('df')}, p = {_p(het.get('pval')) or 'not defined'}; tau² = "
                    f"{tau2_text}; I² = "
                    + (f"{100 * het['I2']:.0f}%" if isinstance(het.get("I2"), float)
                       and math.isfinite(het["I2"]) else "not defined") + "."})
        for kind, f in (sec.get("figures") or {}).items():
            n_fig[0] += 1
            out.append({"type": "figure", "kind": f"network-{kind}", "analysis_id": f["key"],
                        "caption": f"Figure {n_fig[0]}. {f['caption']}: "
                                   f"{sec.get('label') or sec['id']}"})
        est = sec.get("estimates") or {}
        if est.get("rows"):
            cols = est["columns"]
            rows = []
            for r in est["rows"]:
                rec = dict(zip(cols, r, strict=True))
                rows.append([label.get(str(rec["term"]), str(rec["term"])),
                             _num(rec.get("estimate"), ratio),
                             f"{_num(rec.get('ci_lb'), ratio)} to {_num(rec.get('ci_ub'), ratio)}",
                             (f"{_num(rec.get('pi_lb'), ratio)} to {_num(rec.get('pi_ub'), ratio)}"
                              if rec.get("pi_lb") is not None else "-"), _p(rec.get("pval"))])
            out.append({"type": "table", "caption": f"Each treatment versus "
                        f"{label.get(s['reference'], s['reference'])} ({s['measure']}"
                        f"{', ratio scale' if ratio else ''})",
                        "header": ["Treatment", "Estimate", f"{s['level']:g}% CI",
                                   "Prediction interval", "p"], "rows": rows})
        league = _league(sec, label)
        if league is not None:
            out.append(league)
        out.append({"type": "heading", "level": 4, "text": "Rankings"})
        rk = sec.get("rankings") or {}
        got = [b for b in (_generic_table(rk.get("p_scores"), "P-scores (Rücker & Schwarzer "
                                                               "2015)"),
                           _generic_table(rk.get("rank_probabilities"),
                                          f"Rank probabilities, SUCRA and mean rank "
                                          f"({rk.get('nsim')} simulations, seed "
                                          f"{rk.get('seed')})")) if b is not None]
        out += got or [{"type": "para", "text": "Rankings not available (see the notes)."}]
        out.append({"type": "heading", "level": 4, "text": "Inconsistency"})
        inc = sec.get("inconsistency") or {}
        got = [b for b in (_generic_table(inc.get("decomp_design"), "Design-based "
                                          "decomposition of Q (within and between designs)"),
                           _generic_table(inc.get("netsplit"), "Node-splitting: direct, "
                                          "indirect and their difference per comparison"))
               if b is not None]
        out += got or [{"type": "para", "text": "Inconsistency checks not available (see the "
                        "notes)."}]
        contrib = _generic_table(sec.get("contribution"), "Contribution matrix (percentage "
                                 "contribution of each direct comparison; Papakonstantinou "
                                 "2018)")
        if contrib is not None:
            out.append(contrib)
        out.append({"type": "heading", "level": 4, "text": "Confidence in the results (CINeMA)"})
        out += _cinema_table(sec, label)
        out += _notes(sec)
    out.append({"type": "end"})
    return out


def _notes(sec: dict[str, Any]) -> list[Block]:
    if not sec.get("notes"):
        return []
    return [{"type": "para", "cls": "note", "text": "Notes on this network:"},
            {"type": "list", "items": [str(n) for n in sec["notes"]]}]


__all__ = ["network_blocks"]
