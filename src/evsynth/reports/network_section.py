"""The report's network section: one part per ``[[network]]`` of the review (results.json
``networks``, built by :mod:`evsynth.review.network`).

Returned as blocks of :func:`evsynth.reports.html.build_document` (headings, paragraphs, lists,
tables, figures), so the HTML and Markdown renderers escape every text -- treatment names and
study labels come from the user's files. Each part shows what the data could estimate (studies
used and left out, sub-networks not connected to the reference), the network graph, the forest
plot against the reference, the league table as
:class:`~evsynth.reports.network_plots.LeagueTable` formats it (netmeta's ``netleague``), the
rankings (P-scores, SUCRA, rank probabilities, rankogram), the inconsistency checks (Q by
design with the design-by-treatment test, node-splitting where a comparison has direct and
indirect evidence, the net heat plot where there is a loop between designs), the contribution
matrix and the CINeMA prompts beside the reviewer's judgements; whatever is not available is
said. The same blocks feed the Word report (:mod:`evsynth.reports.docx`).
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


def _league(sec: dict[str, Any], label: dict[str, str]) -> Block | None:
    """The league table as :class:`~evsynth.reports.network_plots.LeagueTable` formatted it
    (results.json ``league``): the diagonal cells are the treatments, shown by their labels."""
    lt = sec.get("league")
    if not lt:
        return None
    names = lt["treatments"]
    rows = [[{"text": label.get(a, a)} if i == j else cell
             for j, cell in enumerate(lt["cells"][i])] for i, a in enumerate(names)]
    return {"type": "table", "caption": lt["caption"], "header": ["" for _ in names],
            "rows": rows}


def _rankings(sec: dict[str, Any], label: dict[str, str]) -> list[Block]:
    rk = sec.get("rankings")
    if not rk:
        return [{"type": "para", "text": "Rankings not computed (see the notes)."}]
    sucra = {r["treatment"]: r for r in rk["sucra"]}
    order = sorted(rk["p_scores"], key=lambda r: (r["rank"], str(r["treatment"])))
    better = ("smaller" if rk["small_values"] == "desirable" else "larger")
    rows = [[label.get(r["treatment"], r["treatment"]), str(r["rank"]), _dec(r["pscore"], 3),
             _dec(sucra[r["treatment"]]["sucra"], 3),
             _dec(sucra[r["treatment"]]["mean_rank"], 2)] for r in order]
    out: list[Block] = [{"type": "table", "caption": f"Ranking ({rk['model']} effects; "
                         f"{better} values are better): P-scores (Rücker & Schwarzer 2015) and "
                         f"SUCRA and mean rank from {rk['nsim']} simulations (seed "
                         f"{rk['seed']})", "header": ["Treatment", "Rank (P-score)", "P-score",
                                                      "SUCRA", "Mean rank"], "rows": rows}]
    pr = rk.get("probabilities") or {}
    if pr.get("values"):
        out.append({"type": "table", "caption": "Rank probabilities (rank 1 = best)",
                    "header": ["Treatment", *[f"Rank {r}" for r in pr["ranks"]]],
                    "rows": [[label.get(t, t), *[_dec(v, 3) for v in row]]
                             for t, row in zip(pr["treatments"], pr["values"], strict=True)]})
    return out


def _comparison(text: str, label: dict[str, str], a: str | None = None,
                b: str | None = None) -> str:
    """"A vs B" in the treatments' display labels, from the two treatments or, without them,
    from a comparison written ``a:b`` (netmeta's separator) when both parts are treatments;
    otherwise the text as it is."""
    if a is None or b is None:
        parts = text.split(":")
        if len(parts) != 2 or not all(p in label for p in parts):
            return text
        a, b = parts
    return f"{label.get(a, a)} vs {label.get(b, b)}"


def _inconsistency(sec: dict[str, Any], label: dict[str, str]) -> list[Block]:
    inc = sec.get("inconsistency") or {}
    ratio = bool(sec["settings"]["log_scale"])
    out: list[Block] = []
    dd = inc.get("decomp_design")
    if dd:
        dbt = dd["design_by_treatment"]
        rows = [[q["term"], _dec(q["Q"], 2), str(q["df"]), _p(q["pval"]) or "-"]
                for q in dd["q"]]
        rows.append(["Design-by-treatment interaction (random effects, tau² within "
                     f"{_dec(dbt['tau2_within'], 4)})", _dec(dbt["Q"], 2), str(dbt["df"]),
                     _p(dbt["pval"]) or "-"])
        out.append({"type": "table", "caption": "Design-based decomposition of Q and the "
                    "design-by-treatment interaction test (Higgins et al. 2012)",
                    "header": ["", "Q", "df", "p"], "rows": rows})
        if dbt["df"] == 0:
            out.append({"type": "para", "cls": "note", "text": "No loop of evidence between "
                        "designs (between-designs df = 0): the design-by-treatment test and "
                        "the node-split are not defined for this network."})
    ns = inc.get("netsplit")
    if ns:
        both = [r for r in ns["rows"] if r["both"]]
        if both:
            def ci(r: dict[str, Any], k: str) -> str:
                return (f"{_num(r[k], ratio)} ({_num(r[k + '_lower'], ratio)} to "
                        f"{_num(r[k + '_upper'], ratio)})")
            out.append({"type": "table", "caption": f"Node-splitting ({ns['method']}, "
                        f"{ns['model']} effects{', ratio scale' if ratio else ''}): direct, "
                        "indirect and network estimates of each comparison with both kinds "
                        "of evidence, and the test of their difference",
                        "header": ["Comparison", "Studies", "Direct proportion", "Network",
                                   "Direct", "Indirect", "Difference (direct - indirect)",
                                   "p"],
                        "rows": [[_comparison(r["comparison"], label, r["treat1"],
                                              r["treat2"]), str(r["k"]), _dec(r["prop"], 2),
                                  ci(r, "nma"), ci(r, "direct"), ci(r, "indirect"),
                                  ci(r, "diff"), _p(r["p"])] for r in both]})
        else:
            out.append({"type": "para", "text": "Node-splitting: no comparison has both "
                        "direct and indirect evidence."})
    return out or [{"type": "para", "text": "Inconsistency checks not computed (see the "
                    "notes)."}]


def _contribution(sec: dict[str, Any], label: dict[str, str]) -> Block | None:
    cm = sec.get("contribution")
    if not cm or not cm.get("values"):
        return None
    return {"type": "table", "caption": f"Contribution matrix ({cm['method']}, {cm['model']} "
            "effects): percentage contribution of each direct comparison (columns) to each "
            "network estimate (rows; Papakonstantinou et al. 2018)",
            "header": ["Network estimate", *[_comparison(c, label) for c in cm["columns"]]],
            "rows": [[_comparison(name, label), *[_dec(v, 1) for v in row]]
                     for name, row in zip(cm["rows"], cm["values"], strict=True)]}


def _dec(x: Any, digits: int) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return ""
    return f"{v:.{digits}f}" if math.isfinite(v) else ""


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
             f"{cin.get('range_note')}. Rules of CINeMA (Nikolakopoulou et al. 2020, PLoS Med "
             "17:e1003082, and the CINeMA documentation): imprecision from the CI against the "
             "range of equivalence, heterogeneity from the prediction interval against the CI, "
             "incoherence from the agreement of the direct and indirect CIs about the range of "
             "equivalence (mixed evidence) or the design-by-treatment test (indirect evidence "
             "only: p <= 0.10 some, p < 0.01 major concerns; direct evidence only: no "
             "concerns), within-study bias from the risk-of-bias contributions (majority "
             "rule); reporting bias and indirectness are the reviewer's."},
            *({"type": "para", "cls": "note", "text": f"CINeMA: {n}"}
              for n in cin.get("notes") or [])]


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
        out += _rankings(sec, label)
        out.append({"type": "heading", "level": 4, "text": "Inconsistency"})
        out += _inconsistency(sec, label)
        contrib = _contribution(sec, label)
        if contrib is not None:
            out.append({"type": "heading", "level": 4, "text": "Contribution matrix"})
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
