"""CINeMA prompts: confidence in the results of a network meta-analysis, per comparison.

CINeMA (Confidence In Network Meta-Analysis; Nikolakopoulou et al. 2020, PLoS Med 17:e1003082,
doi:10.1371/journal.pmed.1003082; Papakonstantinou et al. 2020, Campbell Syst Rev 16:e1080,
doi:10.1002/cl2.1080) judges six domains for every relative effect of a network: within-study
bias, reporting bias, indirectness, imprecision, heterogeneity and incoherence, each with
*no concerns*, *some concerns* or *major concerns*. As the GRADE step of the pipeline
(:mod:`evsynth.summaries.grade`), this module only **suggests**: four domains are computed from
the data with CINeMA's rules and shown with their figures; reporting bias and indirectness are
left to the reviewer; the reviewer's judgement (``[[network.cinema]]`` of review.toml) is shown
beside the suggestion and never replaced by it.

The rules, on the analysis scale (log for ratio measures), with the *range of equivalence*
(-MID, +MID) around no effect (for a ratio measure: 1/MID to MID):

imprecision
    The CI of the network estimate against the two boundaries of the range of equivalence: no
    boundary crossed (the CI lies within the range, or wholly beyond one boundary) -> no
    concerns; one crossed -> some concerns; both crossed (the CI includes important effects in
    both directions) -> major concerns (CINeMA's imprecision rule; as in its web application).
heterogeneity
    The prediction interval against the CI: the boundaries are the null and the threshold of an
    important effect in the direction opposite to the estimate (when the CI lies within the
    range of equivalence: the two thresholds). Each boundary the prediction interval crosses
    that the CI does not adds a level: none -> no concerns, one -> some, two -> major concerns
    (CINeMA's heterogeneity rule, comparing where the CI and the prediction interval lead).
incoherence
    The rules of the CINeMA web application's documentation (esm-ispm-unibe-ch/cinema,
    ``docs/documentation.md``, section "Incoherence"; Nikolakopoulou et al. 2020 describe the
    same two tests, the design-by-treatment interaction model globally and SIDE locally):
    a comparison with *only direct* evidence -> no concerns; with *only indirect* evidence ->
    the p-value of the design-by-treatment interaction test (Higgins et al. 2012): p > 0.10
    no concerns, 0.01 <= p <= 0.10 some concerns, p < 0.01 major concerns (not assessable
    without a closed loop, df = 0); with *direct and indirect* evidence -> the agreement of
    the direct and the indirect CI (node-split, SIDE by back-calculation) about the three
    areas "below the range of equivalence", "within it" and "above it": each CI is the set
    of areas it touches, and the number of the three areas on which the two sets agree
    (touched by both or by neither) gives 3 -> no concerns, 2 -> some concerns, 1 or 0 ->
    major concerns. The node-split p-value is shown beside it. Without a range of
    equivalence (no MID) the mixed comparisons get the p-value bands of the global test
    applied to the node-split p-value -- evsynth's reading, not CINeMA's rule, and said so
    in the reason.
within-study bias
    The percentage contribution of each study to the comparison (the contribution matrix,
    Papakonstantinou et al. 2018, F1000Research 7:610; a direct comparison's share divided
    between its studies in proportion to their weights) summed by the studies' overall risk of
    bias (low / some concerns / high; ROBINS-I's moderate as some concerns, serious and critical
    as high): the *majority* rule takes the level with the largest contribution (ties: the
    worse level); low -> no concerns, some -> some concerns, high -> major concerns. When the
    largest share comes from studies without a judgement, no judgement is suggested.

The p-value bands of the incoherence rule (0.10, 0.01) are :data:`P_SOME` and :data:`P_MAJOR`;
:data:`AGREEMENT_LEVELS` maps the agreement of the direct and indirect CIs to the level.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from evsynth.errors import InputError
from evsynth.models.results import ResultMixin

#: the CINeMA domains, in CINeMA's order
DOMAINS: tuple[str, ...] = ("within_study_bias", "reporting_bias", "indirectness",
                            "imprecision", "heterogeneity", "incoherence")
DOMAIN_LABELS: dict[str, str] = {
    "within_study_bias": "Within-study bias", "reporting_bias": "Reporting bias",
    "indirectness": "Indirectness", "imprecision": "Imprecision",
    "heterogeneity": "Heterogeneity", "incoherence": "Incoherence"}
#: the domains this module computes (the others are the reviewer's)
COMPUTED: tuple[str, ...] = ("within_study_bias", "imprecision", "heterogeneity", "incoherence")
#: CINeMA's three levels of concern
LEVELS: tuple[str, ...] = ("no concerns", "some concerns", "major concerns")
#: CINeMA's overall confidence levels (the reviewer's)
CONFIDENCE: tuple[str, ...] = ("high", "moderate", "low", "very low")
#: p-value bands of the incoherence rule (CINeMA documentation): p > P_SOME no concerns,
#: P_MAJOR <= p <= P_SOME some concerns, p < P_MAJOR major concerns
P_SOME = 0.10
P_MAJOR = 0.01
#: areas (of below / within / above the range of equivalence) on which the direct and the
#: indirect CI agree -> CINeMA's incoherence level (CINeMA documentation, "Incoherence")
AGREEMENT_LEVELS: dict[int, str] = {3: "no concerns", 2: "some concerns", 1: "major concerns",
                                    0: "major concerns"}
#: risk-of-bias levels of the within-study-bias rule, best first
ROB_LEVELS: tuple[str, ...] = ("low", "some", "high")
_ROB_TO_LEVEL = {"low": "no concerns", "some": "some concerns", "high": "major concerns"}
REVIEWER_DOMAINS: dict[str, str] = {
    "reporting_bias": "left to the reviewer (CINeMA: suspected or undetected, from the "
                      "search, unpublished results and small-study effects)",
    "indirectness": "left to the reviewer (CINeMA: relevance of each study to the research "
                    "question, combined with the contribution matrix)"}


# --- helpers ------------------------------------------------------------------------------------

def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _fmt(x: float, ratio: bool) -> str:
    v = math.exp(x) if ratio else x
    if v != 0 and abs(v) < 0.1:  # two significant digits for small values (OR 0.045)
        return f"{v:.2g}"
    return f"{v:.2f}"  # two decimals, as the league table and forest plots


def _interval(lb: float, ub: float, ratio: bool) -> str:
    return f"{_fmt(lb, ratio)} to {_fmt(ub, ratio)}"


def crossings(lb: float, ub: float, low: float, high: float) -> int:
    """How many of the two boundaries ``low < high`` the interval ``[lb, ub]`` crosses (0, 1 or
    2); an interval touching a boundary does not cross it."""
    return int(lb < low < ub) + int(lb < high < ub)


def equivalence_range(measure: str, *, mid: float | None = None, log_scale: bool = False,
                      fallback: tuple[float, float] | None = None,
                      fallback_note: str = "") -> tuple[float, float, str] | None:
    """The range of equivalence (lower, upper) on the analysis scale and how it was set.

    ``mid``: the minimal important difference, in outcome units for a difference measure
    (range -mid to mid) or as a ratio for a ratio measure (range 1/mid to mid, on the log scale
    when ``log_scale``). Without it, ``fallback`` (e.g. the GRADE thresholds of
    :func:`evsynth.summaries.grade.thresholds`, already on the analysis scale) with its note;
    None when neither is known.
    """
    if mid is not None:
        m = _finite(mid)
        if m is None or m <= 0:
            raise InputError(f"mid {mid!r}: expected a positive number")
        if log_scale:
            if m == 1:
                raise InputError(f"mid {mid!r} for the ratio measure {measure}: expected a "
                                 "ratio other than 1 (e.g. 1.25 for a range of 0.8 to 1.25)")
            lo, hi = sorted((-abs(math.log(m)), abs(math.log(m))))
            return lo, hi, (f"MID {measure} {math.exp(hi):.3g} (range of equivalence "
                            f"{math.exp(lo):.3g} to {math.exp(hi):.3g})")
        return -m, m, f"MID {m:g} (range of equivalence {-m:g} to {m:g})"
    if fallback is None:
        return None
    lo, hi = sorted(fallback)
    return lo, hi, fallback_note


@dataclass
class Prompt:
    """One domain's suggestion: the level (None: not assessable / the reviewer's) and why."""

    level: str | None
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"suggested": self.level, "reason": self.reason, "figures": self.figures}


# --- the four computed domains --------------------------------------------------------------------

def imprecision(ci_lb: float | None, ci_ub: float | None,
                bounds: tuple[float, float, str] | None, *, ratio: bool = False,
                level: float = 95) -> Prompt:
    """CINeMA's imprecision rule (module docstring): the CI against the range of equivalence."""
    lb, ub = _finite(ci_lb), _finite(ci_ub)
    if lb is None or ub is None:
        return Prompt(None, "no confidence interval")
    ci = f"{level:g}% CI {_interval(lb, ub, ratio)}"
    if bounds is None:
        return Prompt(None, f"{ci}; no minimal important difference given (mid in "
                            "[[network]] or the outcome's mid), so the CI cannot be compared "
                            "with a range of equivalence")
    lo, hi, note = bounds
    n = crossings(lb, ub, lo, hi)
    where = ["crosses neither boundary of the range of equivalence",
             "crosses one boundary of the range of equivalence",
             "crosses both boundaries of the range of equivalence (includes important effects "
             "in both directions)"][n]
    return Prompt(LEVELS[n], f"{ci} {where}; {note}",
                  {"ci_lb": lb, "ci_ub": ub, "bounds": [lo, hi], "crossings": n})


def heterogeneity(estimate: float | None, ci_lb: float | None, ci_ub: float | None,
                  pi_lb: float | None, pi_ub: float | None,
                  bounds: tuple[float, float, str] | None, *, null: float = 0.0,
                  ratio: bool = False, why_no_pi: str = "no prediction interval") -> Prompt:
    """CINeMA's heterogeneity rule (module docstring): boundaries the prediction interval
    crosses beyond those the CI crosses."""
    est, lb, ub = _finite(estimate), _finite(ci_lb), _finite(ci_ub)
    plb, pub = _finite(pi_lb), _finite(pi_ub)
    if est is None or lb is None or ub is None:
        return Prompt(None, "no estimate")
    if plb is None or pub is None:
        return Prompt(None, why_no_pi)
    pi = f"prediction interval {_interval(plb, pub, ratio)} (CI {_interval(lb, ub, ratio)})"
    if bounds is None:
        return Prompt(None, f"{pi}; no minimal important difference given, so the intervals "
                            "cannot be compared with the thresholds of important effects")
    lo, hi, note = bounds
    if lo < lb and ub < hi:   # the CI within the range of equivalence: the two thresholds
        b_lo, b_hi, which = lo, hi, "the two thresholds of important effects"
        ci_n = 0
    else:
        b_lo, b_hi = (null, hi) if est < null else (lo, null) if est > null else (lo, hi)
        which = ("no effect and the threshold of an important effect in the other direction"
                 if est != null else "the two thresholds of important effects")
        ci_n = crossings(lb, ub, b_lo, b_hi)
    pi_n = crossings(plb, pub, b_lo, b_hi)
    extra = max(0, pi_n - ci_n)
    words = ["crosses no boundary the CI does not", "crosses one boundary the CI does not",
             "crosses two boundaries the CI does not"][extra]
    return Prompt(LEVELS[extra], f"{pi} {words} (boundaries: {which}); {note}",
                  {"pi_lb": plb, "pi_ub": pub, "ci_crossings": ci_n, "pi_crossings": pi_n})


def _p_level(p: float) -> str:
    return LEVELS[2] if p < P_MAJOR else LEVELS[1] if p <= P_SOME else LEVELS[0]


def areas(ci: tuple[float, float], lo: float, hi: float) -> tuple[bool, bool, bool]:
    """Which of the areas below, within and above the range of equivalence ``(lo, hi)`` the
    interval ``ci`` touches (CINeMA's boolean vector {a, b, c})."""
    lb, ub = ci
    return lb < lo, lb <= hi and ub >= lo, ub > hi


def agreement(direct: tuple[float, float], indirect: tuple[float, float], lo: float,
              hi: float) -> int:
    """On how many of the three areas (:func:`areas`) the direct and the indirect CI agree
    (0 to 3)."""
    return sum(a == b for a, b in zip(areas(direct, lo, hi), areas(indirect, lo, hi),
                                      strict=True))


def incoherence(*, has_direct: bool, has_indirect: bool, split_p: float | None = None,
                direct: tuple[float, float] | None = None,
                indirect: tuple[float, float] | None = None,
                global_p: float | None = None, global_df: int | None = None,
                bounds: tuple[float, float, str] | None = None, ratio: bool = False,
                split_note: str = "", global_note: str = "") -> Prompt:
    """CINeMA's incoherence rule (module docstring). ``split_p``: p-value of the node-split
    difference of this comparison; ``direct``/``indirect``: their CIs (lb, ub); ``global_p``,
    ``global_df``: the design-by-treatment interaction test."""
    glob = None
    gp_ = _finite(global_p)
    if global_df is not None and global_df > 0 and gp_ is not None:
        glob = f"design-by-treatment interaction test p = {gp_:.3g} (df {global_df})"
    if has_direct and has_indirect:
        p = _finite(split_p)
        bits = [] if p is None else [f"node-split (SIDE) difference p = {p:.3g}"]
        if glob:
            bits.append(glob)
        if direct is not None and indirect is not None and bounds is not None:
            lo, hi, note = bounds
            n = agreement(direct, indirect, lo, hi)
            zones = [_zone(ci, lo, hi) for ci in (direct, indirect)]
            text = (f"direct CI {_interval(*direct, ratio)} ({zones[0]}), indirect CI "
                    f"{_interval(*indirect, ratio)} ({zones[1]}): they agree on {n} of the 3 "
                    "areas (below, within, above the range of equivalence)")
            return Prompt(AGREEMENT_LEVELS[n], "; ".join([text, *bits, note]),
                          {"agreement": n, "split_p": p, "global_p": gp_})
        if p is None:
            return Prompt(None, "direct and indirect evidence, but the node-split test is not "
                                f"available{': ' + split_note if split_note else ''}"
                                + (f"; {glob}" if glob else ""))
        return Prompt(_p_level(p), "; ".join(bits) + "; no range of equivalence (no MID), so "
                      "the CIs cannot be compared with it: the node-split p-value in the "
                      "global test's bands (evsynth's reading, not CINeMA's rule)",
                      {"split_p": p, "global_p": gp_})
    if has_direct:
        return Prompt(LEVELS[0], "only direct evidence (CINeMA: no concerns)"
                      + (f"; {glob}" if glob else ""), {"global_p": gp_})
    if not has_indirect:
        return Prompt(None, "no evidence")
    if glob is None:
        reason = ("only indirect evidence and no closed loop in the network: incoherence "
                  "cannot be assessed")
        if global_note:
            reason += f" ({global_note})"
        return Prompt(None, reason)
    assert gp_ is not None   # glob is set
    return Prompt(_p_level(gp_), f"only indirect evidence: {glob} (the global test)",
                  {"global_p": gp_, "global_df": global_df})


def _zone(ci: tuple[float, float], lo: float, hi: float) -> str:
    lb, ub = ci
    if lo <= lb and ub <= hi:
        return "within the range of equivalence"
    if ub < lo or lb > hi:
        return "beyond the range of equivalence"
    return "crossing the range of equivalence"


def rob_level(judgement: Any) -> str | None:
    """A study's overall risk of bias as low / some / high (RoB 2; RoB 1's unclear and
    ROBINS-I's moderate as some, serious and critical as high); None when not judged."""
    if judgement is None:
        return None
    j = str(judgement).strip().lower()
    if not j:
        return None
    if j in ("low", "low risk"):
        return "low"
    if j in ("high", "high risk", "serious", "critical"):
        return "high"
    if j in ("some concerns", "some", "unclear", "moderate", "unclear risk"):
        return "some"
    if j in ("no information", "not assessed", "na"):
        return None
    raise InputError(f"risk-of-bias judgement {judgement!r}: expected low, some concerns or "
                     "high (RoB 2), or low, moderate, serious or critical (ROBINS-I)")


def within_study_bias(contributions: Mapping[str, float], rob: Mapping[str, Any]) -> Prompt:
    """CINeMA's majority rule (module docstring) from the percentage contribution of each study
    to one comparison and each study's overall risk-of-bias judgement."""
    total = sum(max(0.0, float(v)) for v in contributions.values())
    if total <= 0:
        return Prompt(None, "no study contributions")
    shares = {lvl: 0.0 for lvl in (*ROB_LEVELS, None)}
    for study, c in contributions.items():
        shares[rob_level(rob.get(study))] += max(0.0, float(c)) / total * 100
    pct = {("not assessed" if k is None else k): round(v, 1) for k, v in shares.items()}
    text = (f"contributions: {pct['low']:.0f}% low, {pct['some']:.0f}% some concerns, "
            f"{pct['high']:.0f}% high risk of bias"
            + (f", {pct['not assessed']:.0f}% not assessed" if pct["not assessed"] else ""))
    best = max((*reversed(ROB_LEVELS), None), key=lambda k: shares[k])  # ties: worse level
    if best is None or shares[best] <= 0:
        return Prompt(None, f"{text}: the largest share comes from studies without a "
                            "risk-of-bias judgement", {"percent": pct})
    return Prompt(_ROB_TO_LEVEL[best], f"{text}; majority rule: {best} risk of bias "
                  f"({pct[best]:.0f}%)", {"percent": pct, "majority": best})


# --- reviewer's judgements -----------------------------------------------------------------------

def comparison_key(a: str, b: str) -> tuple[str, str]:
    """An order-free key of a comparison."""
    return (a, b) if a <= b else (b, a)


def reviewer_judgements(entries: Iterable[Mapping[str, Any]] | None, where: str = "[[network]]"
                        ) -> dict[tuple[str, str], dict[str, Any]]:
    """The reviewer's CINeMA judgements by comparison: each entry names ``treatments`` (two
    treatment names) and any of the domains as ``{judgement = "no concerns" | "some concerns" |
    "major concerns", reason = "..."}``, and optionally ``confidence`` (high, moderate, low,
    very low) and ``comment``."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for i, e in enumerate(entries or []):
        loc = f"{where} cinema[{i}]"
        pair = list(e.get("treatments") or [])
        if len(pair) != 2 or pair[0] == pair[1]:
            raise InputError(f"{loc}: field 'treatments' is {pair!r}; expected two different "
                             "treatment names")
        key = comparison_key(str(pair[0]), str(pair[1]))
        if key in out:
            raise InputError(f"{loc}: a second entry for {key[0]} vs {key[1]}; expected one")
        got: dict[str, Any] = {}
        for d in DOMAINS:
            v = e.get(d)
            if v is None:
                continue
            j = v.get("judgement") if isinstance(v, Mapping) else v
            if j not in LEVELS:
                raise InputError(f"{loc}: field '{d}.judgement' is {j!r}; expected one of "
                                 f"{', '.join(LEVELS)}")
            reason = v.get("reason", "") if isinstance(v, Mapping) else ""
            got[d] = {"judgement": j, "reason": str(reason or "").strip()}
        conf = e.get("confidence")
        if conf is not None and conf not in CONFIDENCE:
            raise InputError(f"{loc}: field 'confidence' is {conf!r}; expected one of "
                             f"{', '.join(CONFIDENCE)}")
        out[key] = {"domains": got, "confidence": conf, "comment": e.get("comment")}
    return out


# --- the result --------------------------------------------------------------------------------

@dataclass(repr=False)
class CinemaResult(ResultMixin):
    """CINeMA prompts of a network: one row per comparison (``rows``), each domain with the
    suggested level, its reason and the reviewer's judgement where given."""

    rows: list[dict[str, Any]]
    measure: str
    log_scale: bool
    reference: str
    model: str
    range_of_equivalence: list[float] | None
    range_note: str
    notes: list[str] = field(default_factory=list)

    _dict_fields = ("rows", "measure", "log_scale", "reference", "model",
                    "range_of_equivalence", "range_note", "notes")

    def to_frame(self) -> Any:
        """One row per comparison: estimate, CI, and per domain ``<domain>_suggested``,
        ``<domain>_reason``, ``<domain>_reviewer`` and ``<domain>_reviewer_reason``."""
        import pandas as pd

        recs = []
        for r in self.rows:
            rec = {k: r[k] for k in ("comparison", "treat1", "treat2", "estimate", "ci_lb",
                                     "ci_ub", "evidence")}
            for d in DOMAINS:
                dom = r["domains"][d]
                rec[f"{d}_suggested"] = dom["suggested"]
                rec[f"{d}_reason"] = dom["reason"]
                rec[f"{d}_reviewer"] = dom.get("reviewer")
                rec[f"{d}_reviewer_reason"] = dom.get("reviewer_reason")
            rec["confidence"] = r.get("confidence")
            recs.append(rec)
        return pd.DataFrame(recs)

    def summary_text(self) -> str:
        lines = [f"CINeMA prompts ({self.model} effects model, {self.measure}; suggestions "
                 "from the data, never judgements)", f"Range of equivalence: {self.range_note}"]
        for r in self.rows:
            lines.append(f"\n{r['comparison']}: {r['estimate_text']} ({r['evidence']})")
            for d in DOMAINS:
                dom = r["domains"][d]
                sug = dom["suggested"] or "-"
                rev = f"; reviewer: {dom['reviewer']}" if dom.get("reviewer") else ""
                lines.append(f"  {DOMAIN_LABELS[d]:<18} {sug:<15} {dom['reason']}{rev}")
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)


def build(comparisons: list[dict[str, Any]], *, measure: str, log_scale: bool, reference: str,
          model: str, bounds: tuple[float, float, str] | None,
          global_test: tuple[float | None, int | None, str] = (None, None, ""),
          rob: Mapping[str, Any] | None = None,
          judgements: Mapping[tuple[str, str], dict[str, Any]] | None = None,
          level: float = 95, notes: list[str] | None = None) -> CinemaResult:
    """The prompts of every comparison.

    Each entry of ``comparisons`` is a dict with ``treat1``, ``treat2``, ``estimate``,
    ``ci_lb``, ``ci_ub``, ``pi_lb``, ``pi_ub`` (analysis scale; treat1 vs treat2), ``has_direct``,
    ``has_indirect``, optional ``split`` ({"p", "direct": (lb, ub), "indirect": (lb, ub)} or a
    str saying why it is missing), ``no_pi`` (why there is no prediction interval) and
    ``contributions`` (study -> percent, or a str saying why they are missing).
    ``global_test``: (p, df, note) of the design-by-treatment interaction test. ``rob``: study ->
    overall risk-of-bias judgement. ``judgements``: :func:`reviewer_judgements`.
    """
    rob = rob or {}
    judgements = judgements or {}
    rows = []
    gp, gdf, gnote = global_test
    for c in comparisons:
        t1, t2 = str(c["treat1"]), str(c["treat2"])
        est = _finite(c.get("estimate"))
        split = c.get("split")
        contrib = c.get("contributions")
        prompts: dict[str, Prompt] = {}
        if isinstance(contrib, Mapping) and contrib:
            prompts["within_study_bias"] = within_study_bias(contrib, rob)
        else:
            prompts["within_study_bias"] = Prompt(None, str(contrib or "no contributions"))
        for d, why in REVIEWER_DOMAINS.items():
            prompts[d] = Prompt(None, why)
        prompts["imprecision"] = imprecision(c.get("ci_lb"), c.get("ci_ub"), bounds,
                                             ratio=log_scale, level=level)
        prompts["heterogeneity"] = heterogeneity(
            est, c.get("ci_lb"), c.get("ci_ub"), c.get("pi_lb"), c.get("pi_ub"), bounds,
            ratio=log_scale, why_no_pi=str(c.get("no_pi") or "no prediction interval"))
        prompts["incoherence"] = incoherence(
            has_direct=bool(c.get("has_direct")), has_indirect=bool(c.get("has_indirect")),
            split_p=split.get("p") if isinstance(split, Mapping) else None,
            direct=split.get("direct") if isinstance(split, Mapping) else None,
            indirect=split.get("indirect") if isinstance(split, Mapping) else None,
            global_p=gp, global_df=gdf, bounds=bounds, ratio=log_scale,
            split_note=split if isinstance(split, str) else "", global_note=gnote)
        mine = judgements.get(comparison_key(t1, t2), {})
        domains = {}
        for d in DOMAINS:
            entry = prompts[d].as_dict()
            rev = (mine.get("domains") or {}).get(d)
            entry["reviewer"] = rev["judgement"] if rev else None
            entry["reviewer_reason"] = rev["reason"] if rev else None
            domains[d] = entry
        evidence = ("direct and indirect" if c.get("has_direct") and c.get("has_indirect")
                    else "direct only" if c.get("has_direct") else "indirect only")
        lb, ub = _finite(c.get("ci_lb")), _finite(c.get("ci_ub"))
        text = "no estimate" if est is None or lb is None or ub is None else (
            f"{_fmt(est, log_scale)} ({level:g}% CI "
            f"{_interval(lb, ub, log_scale)})")
        rows.append({"comparison": f"{t1} vs {t2}", "treat1": t1, "treat2": t2,
                     "estimate": est, "ci_lb": lb, "ci_ub": ub,
                     "pi_lb": _finite(c.get("pi_lb")), "pi_ub": _finite(c.get("pi_ub")),
                     "estimate_text": text, "evidence": evidence, "domains": domains,
                     "confidence": mine.get("confidence"), "comment": mine.get("comment")})
    return CinemaResult(rows=rows, measure=measure, log_scale=log_scale, reference=reference,
                        model=model,
                        range_of_equivalence=None if bounds is None else [bounds[0], bounds[1]],
                        range_note=("not set (no MID)" if bounds is None else bounds[2]),
                        notes=list(notes or []))


__all__ = ["AGREEMENT_LEVELS", "COMPUTED", "DOMAINS", "LEVELS", "CinemaResult", "Prompt",
           "agreement", "areas", "build", "crossings",
           "equivalence_range", "heterogeneity", "imprecision", "incoherence",
           "reviewer_judgements", "rob_level", "within_study_bias"]
