"""Several effects per study in one analysis: multilevel models and cluster-robust inference.

An outcome of ``review.toml`` chooses how a study that has more than one effect for a
comparison x outcome x time window enters the analysis (``dependence``):

``one_per_study`` (default)
    One effect per study (per pairwise comparison of a split multi-arm trial): the window's rule
    picks one time point, the comparison's ``multiarm`` option combines or splits the arms
    (:mod:`evsynth.review.analysis`; nothing in this module is used).
``multilevel``
    Every assessment in the window enters (each time point of a study, and each instrument
    when outcomes.csv names several in its ``instrument`` column, is one effect), and with
    ``multiarm = "split"`` every intervention arm is compared with every control arm with the
    shared group kept whole (not divided): the effects of a study are dependent. Their sampling
    covariance matrix ``V`` is :func:`evsynth.vcalc` (metafor ``vcalc``) with the study as
    cluster, the time point x instrument as observation and the outcome's ``rho`` as the
    correlation of two effects of the same participants measured at different times or with
    different instruments (one value for both, as the CHE model), and the two groups of each
    effect (``grp1``/``grp2`` with their sizes ``w1``/``w2``), so effects sharing a group are
    correlated as Gleser & Olkin (2009) derive. The model is the three-level model of
    Konstantopoulos (2011) and Van den Noortgate et al. (2013), random intercepts for studies
    and for effects within studies, ``evsynth.meta_mv(yi, V, random="~ 1 | study/es")``
    (metafor ``rma.mv``), i.e. the "correlated and hierarchical effects" (CHE) working model of
    Pustejovsky & Tipton (2022). REML (or ML); z tests, or t tests (``test = "t"``; metafor
    ``test = "t"``; ``knha``/``adhoc`` are rma.uni's and become t tests with metafor's
    containment degrees of freedom). The variance components (sigma^2 between studies and
    between effects within studies) and the multilevel I^2 decomposition (Nakagawa & Santos
    2012; metafor FAQ) are reported.
``robust``
    The same CHE working model with cluster-robust (sandwich) standard errors by study: the
    bias-reduced CR2 estimator with Satterthwaite degrees of freedom
    (:func:`evsynth.robust` with ``clubsandwich=True``; metafor ``robust(fit, cluster = study,
    clubSandwich = TRUE)``; Tipton 2015; Pustejovsky & Tipton 2018, 2022), valid even when
    ``rho`` and the working model are wrong. Needs at least two studies; Satterthwaite degrees
    of freedom below 4 make the test unreliable (Tipton 2015), which is noted.

``rho`` (default 0.6, in [0, 1)) is the assumed correlation between the sampling errors of two
effects of one study that share participants (different time points or instruments). It is
rarely reported;
0.6 follows the worked examples of Pustejovsky & Tipton (2022) and metafor's ``vcalc``
documentation. The analysis is refitted with each value of ``rho_sensitivity`` (default 0.3
and 0.9; Pustejovsky & Tipton 2022 recommend this check) and with one effect per study (the
``one_per_study`` analysis), listed under ``sensitivity``.

The correlation from a shared group is vcalc's, which uses the group sizes only (metafor's
approximation for any measure). For raw mean differences the exact covariance of two effects
sharing a control group is that group's SD^2 / n (Gleser & Olkin 2009); vcalc's value equals
it when the arms' SDs are equal and differs otherwise (e.g. 7% lower for study S2 of
tests/review/test_dependence.py). evsynth follows metafor here.

Funnel-plot tests, trim-and-fill, leave-one-out, influence diagnostics and subgroup analyses
assume independent effects (metafor ``rma.uni``); they are not computed for these analyses
(each block says why).

References
----------
Konstantopoulos S (2011). Fixed effects and variance components estimation in three-level
meta-analysis. *Res Synth Methods* 2(1):61-76. doi:10.1002/jrsm.35

Van den Noortgate W, Lopez-Lopez JA, Marin-Martinez F, Sanchez-Meca J (2013). Three-level
meta-analysis of dependent effect sizes. *Behav Res Methods* 45:576-594.
doi:10.3758/s13428-012-0261-6

Gleser LJ, Olkin I (2009). Stochastically dependent effect sizes. In Cooper H, Hedges LV,
Valentine JC (eds), *The Handbook of Research Synthesis and Meta-Analysis*, 2nd ed, 357-376.

Nakagawa S, Santos ESA (2012). Methodological issues and advances in biological meta-analysis.
*Evol Ecol* 26:1253-1274. doi:10.1007/s10682-012-9555-5

Tipton E (2015). Small sample adjustments for robust variance estimation with
meta-regression. *Psychol Methods* 20(3):375-393. doi:10.1037/met0000011

Pustejovsky JE, Tipton E (2018). Small-sample methods for cluster-robust variance estimation
and hypothesis testing in fixed effects models. *J Bus Econ Stat* 36(4):672-683.
doi:10.1080/07350015.2016.1247004

Pustejovsky JE, Tipton E (2022). Meta-analysis with robust variance estimation: expanding the
range of working models. *Prev Sci* 23:425-438. doi:10.1007/s11121-021-01246-3

Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. *J Stat Softw*
36(3):1-48. doi:10.18637/jss.v036.i03
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from evsynth.errors import InputError
from evsynth.review.arms import Group, Pairing, multiarm_info, pair_combined, pair_label

if TYPE_CHECKING:
    import pandas as pd

    from evsynth.review.analysis import StudyInput
    from evsynth.review.load import Review
    from evsynth.review.schema import Comparison, Outcome, OutcomeRow, StudyRow, Window

#: the values of ``dependence`` (review.toml, per outcome)
DEPENDENCE_OPTIONS = ("one_per_study", "multilevel", "robust")
#: random-effects formula of the three-level model (metafor's syntax)
THREE_LEVEL = "~ 1 | study/es"
#: fewest Satterthwaite degrees of freedom for a trustworthy CR2 t test (Tipton 2015)
MIN_SATTERTHWAITE_DF = 4.0


# ============================================================================ effect rows
class _AtTime:
    """A view of a review whose rows are those at one time point and of one instrument (so
    the window's rule picks exactly that time point for every study that has it)."""

    def __init__(self, review: Review, t: float, instrument: str | None = None) -> None:
        self._review, self._t, self._instrument = review, t, instrument
        self.config = review.config

    @property
    def study_by_id(self) -> dict[str, StudyRow]:
        return self._review.study_by_id

    def rob_overall(self, outcome: str) -> dict[str, str | None]:
        return self._review.rob_overall(outcome)

    def rows_for(self, comp: Comparison, outcome: str
                 ) -> dict[str, list[tuple[OutcomeRow, int]]]:
        out = {}
        for sid, rows in self._review.rows_for(comp, outcome).items():
            at = [(r, ln) for r, ln in rows if r.timepoint_weeks == self._t
                  and r.instrument == self._instrument]
            if at:
                out[sid] = at
        return out


def pair_separately(arms_i: list[Group], arms_c: list[Group], option: str) -> Pairing:
    """Pair the arms of one study for a dependence model: ``combine`` as
    :func:`evsynth.review.arms.pair_arms`; ``split``: every intervention arm against every
    control arm with the groups whole (not divided: the correlation of effects sharing a group
    is in ``V``, Gleser & Olkin 2009)."""
    if option == "combine" or (len(arms_i) == 1 and len(arms_c) == 1):
        return pair_combined(arms_i, arms_c, option)
    info = multiarm_info(arms_i, arms_c, option)
    pairs = [(gi, gc) for gi in arms_i for gc in arms_c]
    info["pairs"] = len(pairs)
    info["shared_group_whole"] = True
    info["text"] = (f"{len(pairs)} comparisons ("
                    + "; ".join(pair_label(gi, gc) for gi, gc in pairs)
                    + ") enter as dependent effects; the shared group is kept whole and the "
                    "correlation it induces is in the sampling covariance matrix (Gleser & "
                    "Olkin 2009; metafor vcalc grp1/grp2)")
    return Pairing(pairs, info)


@dataclass
class Effects:
    """The effects of one dependence analysis (one row per effect)."""

    items: list[StudyInput]
    yi: np.ndarray
    vi: np.ndarray
    excluded: list[dict[str, Any]]
    notes: list[str]
    warnings: list[str]
    any_in_window: bool


def _group_name(arm: dict[str, Any] | None, side: str) -> str:
    if not arm:
        return side
    if arm.get("treatments"):
        return "+".join(arm["treatments"])
    return str(arm.get("treatment") or side)


def _group_size(arm: dict[str, Any] | None) -> float | None:
    if not arm:
        return None
    for key in ("n", "total", "person_time"):
        if arm.get(key) is not None:
            return float(arm[key])
    return None


def effect_groups(it: StudyInput) -> tuple[str, str, float | None, float | None]:
    """The (intervention group, control group, their sizes) of one effect: the arms of an
    arm-level effect, or the two treatments of a contrast (turned round when reversed)."""
    e = it.entry
    if e["data_level"] == "arm":
        gi, gc = e["intervention"], e["control"]
        return (_group_name(gi, "intervention"), _group_name(gc, "control"), _group_size(gi),
                _group_size(gc))
    c = e.get("contrast") or {}
    ti = str(c.get("treatment") or "intervention")
    tc = str(c.get("comparator") or "control")
    ni, nc = c.get("n_intervention"), c.get("n_control")
    if c.get("reversed"):
        ti, tc, ni, nc = tc, ti, nc, ni
    return ti, tc, (None if ni is None else float(ni)), (None if nc is None else float(nc))


def collect_effects(review: Review, comp: Comparison, outcome: Outcome, window: Window,
                    model: dict[str, Any]) -> Effects:
    """Every effect of the window: each study's assessments at every time point in the window
    (:func:`evsynth.review.analysis._select` at each time point, arms paired by
    :func:`pair_separately`), effect sizes by :func:`evsynth.review.analysis.compute_effects`.
    A study none of whose assessments gives an effect is excluded (reasons joined); an
    assessment left out of a study that has other effects is listed in the notes."""
    from evsynth.review.analysis import (
        _select,
        _sort_key,
        choose_timepoint,
        compute_effects,
        unestimable_reason,
    )

    by_study = review.rows_for(comp, outcome.id)
    times = sorted({(r.timepoint_weeks, r.instrument or "") for rows in by_study.values()
                    for r, _ in rows if window.contains(r.timepoint_weeks)})
    items: list[StudyInput] = []
    excluded: dict[str, list[dict[str, Any]]] = {}
    warnings: list[str] = []
    for t, instrument in times:
        view = cast("Review", _AtTime(review, t, instrument or None))
        found = _select(view, comp, outcome, window, pair=pair_separately)
        for it in found.used:
            it.entry["instrument"] = instrument or None
        items += found.used
        for e in found.excluded:
            excluded.setdefault(e["study_id"], []).append(e)
        # contrast rows sharing a group: no longer double counted (their covariance is in V)
        warnings += [w for w in found.warnings if "counted" not in w]
    r = review.config.change_scores.correlation
    zero = ({k: tuple(v) for k, v in model["zero_cells"].items()}
            if model["zero_cells"] else None)
    yi, vi, notes_e = compute_effects(items, r, zero)
    bad = ~(np.isfinite(yi) & np.isfinite(vi) & (vi > 0))
    for j in map(int, np.flatnonzero(bad)):
        it = items[j]
        excluded.setdefault(it.study_id, []).append(
            {"study_id": it.study_id, "timepoint_weeks": it.t,
             "reason": unestimable_reason(notes_e[j], yi[j], vi[j]), "lines": it.lines})
    keep = [j for j in range(len(items)) if not bad[j]]
    items, yi, vi = [items[j] for j in keep], yi[keep], vi[keep]
    order = sorted(range(len(items)), key=lambda j: (*_sort_key(items[j]), items[j].t,
                                                     items[j].entry["instrument"] or ""))
    items, yi, vi = [items[j] for j in order], yi[order], vi[order]
    used = {it.study_id for it in items}
    out_ex: list[dict[str, Any]] = []
    notes: list[str] = []
    for sid in sorted(excluded):
        rows = excluded[sid]
        if sid in used:
            for e in rows:
                notes.append(f"{sid}, {e['timepoint_weeks']:g} weeks: left out ({e['reason']})")
            continue
        ts = sorted({e["timepoint_weeks"] for e in rows})
        first = choose_timepoint(ts, window) if window.rule == "latest" or \
            window.target_weeks is not None else ts[0]
        out_ex.append({"study_id": sid, "timepoint_weeks": first,
                       "reason": "; ".join(dict.fromkeys(
                           (f"{e['timepoint_weeks']:g} weeks: " if len(ts) > 1 else "")
                           + e["reason"] for e in rows)),
                       "lines": sorted({ln for e in rows for ln in e["lines"]})})
    _label_effects(items)
    return Effects(items, yi, vi, out_ex, notes, warnings, bool(times))


def _label_effects(items: list[StudyInput]) -> None:
    """Unique labels for the effects of a study: ``"<study> (12 weeks)"``,
    ``"<study> (A vs C, 12 weeks)"``; ``entry["effect"]`` is the part in brackets (the forest
    plot's row under the study's heading) and ``entry["study_label"]`` the study's label."""
    by_study: dict[str, list[StudyInput]] = {}
    for it in items:
        by_study.setdefault(it.study_id, []).append(it)
    for group in by_study.values():
        several_t = len({it.t for it in group}) > 1
        several_m = len({it.entry.get("instrument") for it in group}) > 1
        for it in group:
            e = it.entry
            study_label = e["label"][: len(e["label"]) - (len(it.slab) - len(it.study_id))] \
                if it.slab != it.study_id else e["label"]
            parts = []
            if it.slab != it.study_id:
                parts.append(it.slab[len(it.study_id):].strip().strip("()"))
            if several_m:
                parts.append(str(it.entry.get("instrument") or "instrument not named"))
            if several_t:
                parts.append(f"{it.t:g} weeks")
            what = ", ".join(parts)
            it.slab = f"{it.study_id} ({what})" if what else it.study_id
            e["slab"] = it.slab
            e["label"] = f"{study_label} ({what})" if what else study_label
            e["study_label"] = study_label
            e["effect"] = what or None


# ============================================================================ V and the fits
def sampling_covariance(items: list[StudyInput], vi: np.ndarray, rho: float
                        ) -> tuple[Any, dict[str, Any]]:
    """The sampling covariance matrix of the effects (:func:`evsynth.vcalc`, metafor
    ``vcalc``): cluster = study, ``obs`` = time point x instrument with correlation ``rho``
    between different observations, and the two
    groups of each effect (``grp1``/``grp2``) with their sizes (``w1``/``w2``; equal sizes
    when a size is not known, with a note). Returns the sparse matrix and what was used."""
    from scipy import sparse

    from evsynth.effects.vcalc import vcalc

    k = len(items)
    info: dict[str, Any] = {"function": "evsynth.vcalc (metafor vcalc)", "cluster": "study",
                            "obs": "time point x instrument", "rho": rho,
                            "groups": "grp1/grp2 (intervention and control group of each "
                                      "effect), w1/w2 their sizes", "equal_sizes": False}
    if k < 2:
        return sparse.csr_matrix(np.diag(vi)), info
    g = [effect_groups(it) for it in items]
    sizes = [x for gi in g for x in gi[2:]]
    known = all(s is not None and s > 0 for s in sizes)
    w1 = [gi[2] if known else 1.0 for gi in g]
    w2 = [gi[3] if known else 1.0 for gi in g]
    info["equal_sizes"] = not known
    obs = [f"{it.t:g}|{it.entry.get('instrument') or ''}" for it in items]
    V = vcalc(vi, cluster=[it.study_id for it in items], obs=obs,
              rho=rho, grp1=[gi[0] for gi in g], grp2=[gi[1] for gi in g], w1=w1, w2=w2,
              sparse=True)
    return V, info


def _fit_spec(model: dict[str, Any], outcome: Outcome) -> tuple[str, str, str, list[str]]:
    """(method, test, dfs, notes) of the multilevel fit from the analysis model."""
    notes = []
    method = str(model["method"]).upper()
    if method not in ("REML", "ML"):
        if method not in ("EE", "FE", "CE"):
            notes.append(f"variance components estimated by REML (method {method!r} is an "
                         "estimator of rma.uni's tau^2; rma.mv has ML and REML)")
        method = "REML"
    test = str(model["test"]).lower()
    if test == "z":
        return method, "z", "residual", notes
    if test == "t":
        return method, "t", "residual", notes
    notes.append(f"test {test!r} (rma.uni) replaced by t tests with metafor's containment "
                 "degrees of freedom (rma.mv dfs = 'contain')")
    return method, "t", "contain", notes


def _frame(items: list[StudyInput], yi: np.ndarray) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({"yi": yi, "study": [it.study_id for it in items],
                         "es": [f"{j + 1}" for j in range(len(items))]})


@dataclass
class DependentFit:
    """The fitted dependence model of one analysis."""

    fit: Any            # MetaMVResult
    robust: Any | None  # RobustResult (dependence = "robust")
    random: str | None
    notes: list[str]


def fit_dependent(items: list[StudyInput], yi: np.ndarray, V: Any, model: dict[str, Any],
                  outcome: Outcome, dependence: str) -> DependentFit:
    """The three-level model ``meta_mv(yi, V, random="~ 1 | study/es")`` (``~ 1 | study`` when
    every study has one effect; no random effects for a common-effect outcome or a single
    study), and for ``robust`` its CR2 cluster-robust tests by study
    (``robust(fit, cluster=study, clubsandwich=True)``)."""
    from evsynth.models.multivariate import meta_mv
    from evsynth.models.robust import robust

    method, test, dfs, notes = _fit_spec(model, outcome)
    df = _frame(items, yi)
    n_studies = df["study"].nunique()
    several = n_studies < len(items)
    random: str | None = THREE_LEVEL if several else "~ 1 | study"
    if model["common"]:
        random = None
        notes.append("common-effect model: the effects pooled by generalised least squares "
                     "with their sampling covariance matrix (no random effects)")
    elif n_studies < 2:
        random = "~ 1 | es" if several else None
        notes.append("one study: the between-study variance cannot be estimated"
                     + ("; random effects for effects within the study only" if several
                        else ""))
    elif not several:
        notes.append("every study contributes one effect: two-level model (~ 1 | study)")
    if random is None and dfs == "contain":
        dfs = "residual"
    if random is None and len(items) == 1:
        # one effect and no variance component: the estimate is that effect (GLS); REML has
        # no residual degrees of freedom (meta_mv refuses k = p) and a t test none either,
        # so the one effect is reported by ML with a z test, as meta() reports k = 1 (the
        # whole run stopped here; fuzz round 5)
        if method == "REML" or test != "z":
            notes.append("one effect: reported as it is (ML, z test; REML and t-based tests "
                         "have no residual degrees of freedom)")
        method, test = "ML", "z"
    fit = meta_mv("yi", V, random=random, data=df, method=method, test=test, dfs=dfs,
                  level=model["level"], slab=[it.slab for it in items])
    rob = None
    if dependence == "robust":
        if n_studies < 2:
            notes.append("cluster-robust inference needs at least two studies: model-based "
                         "standard errors reported")
        else:
            rob = robust(fit, cluster=df["study"].to_numpy(), clubsandwich=True)
            dfr = float(rob.df[0])
            if dfr < MIN_SATTERTHWAITE_DF:
                notes.append(f"Satterthwaite degrees of freedom {dfr:.2f} < 4: the CR2 test "
                             "and CI may be unreliable (Tipton 2015)")
    return DependentFit(fit, rob, random, notes)


def _f(x: Any) -> float | None:
    if x is None:
        return None
    v = float(np.asarray(x, dtype=float).ravel()[0])
    return v if np.isfinite(v) else None


def variance_components(df: DependentFit, n_studies: int, k: int) -> dict[str, Any]:
    """The variance components of the fit (sigma^2 per level, with names), the multilevel
    I^2 decomposition (:meth:`MetaMVResult.i2`: Nakagawa & Santos 2012) and a text line."""
    fit = df.fit
    names = {"study": "between studies", "study/es": "between effects within studies",
             "es": "between effects within studies"}
    comps: list[dict[str, Any]] = []
    i2_total = None
    typical = None
    if fit.sigma2.size:
        i2 = fit.i2().frame
        typical = _f(i2["variance"].iloc[0])
        i2_total = _f(i2.loc["total (sigma2)", "I2"])
        for j, name in enumerate(fit.s_names):
            comps.append({"name": f"sigma2.{j + 1}", "factor": name,
                          "label": names.get(name, name), "variance": _f(fit.sigma2[j]),
                          "sd": _f(np.sqrt(fit.sigma2[j])), "n_levels": int(fit.s_nlevels[j]),
                          "I2": _f(i2["I2"].iloc[j + 1])})
    parts = [f"sigma² {c['label']} = {c['variance']:.4g} (I² = {c['I2']:.1f}%)" for c in comps]
    text = "; ".join(parts) if parts else "no random effects"
    if i2_total is not None and len(comps) > 1:
        text += f"; total I² = {i2_total:.1f}%"
    return {"formula": df.random, "components": comps, "total_variance":
            _f(np.sum(fit.sigma2)) if fit.sigma2.size else None,
            "I2_total": i2_total, "typical_sampling_variance": typical,
            "n_studies": n_studies, "n_effects": k,
            "method": "I² per level: 100 sigma²_l / (sum sigma² + typical sampling variance), "
                      "typical = (k - p) / tr(P) (Nakagawa & Santos 2012; metafor FAQ)",
            "text": text}


def model_label(dependence: str, common: bool, random: str | None) -> str:
    """The method label (forest plots, SoF): ``"IV, Random, three-level"``,
    ``"IV, Random, three-level, CR2"``, ``"IV, Fixed"`` (common effect, GLS)."""
    if common or random is None:
        base = "IV, Fixed"
    else:
        base = "IV, Random, " + ("three-level" if random == THREE_LEVEL else "multilevel")
    return base + (", CR2" if dependence == "robust" else "")


def pooled_of(df: DependentFit, model: dict[str, Any], vc: dict[str, Any]) -> dict[str, Any]:
    """The ``pooled`` dict (the keys of an inverse-variance analysis): the model-based
    estimate and tests (multilevel) or the CR2 ones (robust); ``tau2`` is the total variance
    of the random effects (the sum of the sigma^2; per level in ``variance_components``),
    ``I2`` the total multilevel I^2, ``QE`` the test of residual heterogeneity on V."""
    fit, rob = df.fit, df.robust
    src = rob if rob is not None else fit
    k = int(fit.k)
    tau2 = vc["total_variance"]
    out: dict[str, Any] = {
        "estimate": _f(fit.beta), "se": _f(src.se), "ci_lb": _f(src.ci_lb),
        "ci_ub": _f(src.ci_ub), "zval": _f(src.zval), "pval": _f(src.pval),
        "pi_lb": None, "pi_ub": None, "tau2": tau2,
        "tau": None if tau2 is None else float(np.sqrt(tau2)), "I2": vc["I2_total"],
        "H2": None, "QE": _f(fit.QE) if k > 1 else None, "QE_df": k - int(fit.p),
        "QEp": _f(fit.QEp) if k > 1 else None,
        "df": (_f(rob.df) if rob is not None else
               (_f(fit.ddf) if fit.test == "t" else None)), "note": None}
    if model["prediction_interval"] and not model["common"] and df.random is not None:
        if k >= 3:
            if rob is not None:   # robust() prediction (metafor predict of robust.rma)
                rp = rob.predict()
                out["pi_lb"], out["pi_ub"] = _f(rp.pi_lb), _f(rp.pi_ub)
            else:
                pr = fit.predict().frame
                out["pi_lb"], out["pi_ub"] = _f(pr["pi_lb"].iloc[0]), _f(pr["pi_ub"].iloc[0])
        else:
            out["note"] = f"k = {k}: no prediction interval (needs k >= 3)"
    return out


def effect_weights(fit: Any) -> list[float]:
    """Weights in percent as metafor ``weights.rma.mv`` (``type = "diagonal"``): the diagonal
    of W = M^-1, scaled to 100."""
    w = np.asarray(fit.weight_matrix().diagonal(), dtype=float)
    return [float(x) for x in 100 * w / w.sum()]


# ============================================================================ the analysis
def _short(df: DependentFit, vc: dict[str, Any]) -> dict[str, Any]:
    src = df.robust if df.robust is not None else df.fit
    return {"k": int(df.fit.k), "estimate": _f(df.fit.beta), "ci_lb": _f(src.ci_lb),
            "ci_ub": _f(src.ci_ub), "tau2": vc["total_variance"], "I2": vc["I2_total"]}


def _participants(items: list[StudyInput]) -> float | int:
    """Participants counted once per study: the sizes of its distinct groups (a group in
    several effects, at several time points or against several arms, counts once)."""
    groups: dict[tuple[str, str], float | None] = {}
    for it in items:
        e = it.entry
        gi, gc, ni, nc = effect_groups(it)
        if e["data_level"] == "arm":
            ni, nc = (_n(e["intervention"]), _n(e["control"]))
        for name, n in ((gi, ni), (gc, nc)):
            key = (it.study_id, name)
            old = groups.get(key, 0.0)
            groups[key] = None if n is None or old is None else max(old, n)
    total = float(sum(v for v in groups.values() if v is not None))
    return int(round(total)) if abs(total - round(total)) < 1e-9 else total


def _n(arm: dict[str, Any] | None) -> float | None:
    if not arm:
        return None
    v = arm.get("n", arm.get("total"))
    return None if v is None else float(v)


def build_dependent_analysis(review: Review, comp: Comparison, outcome: Outcome,
                             window: Window) -> dict[str, Any] | None:
    """The analysis dict of one comparison x outcome x window for ``dependence =
    "multilevel"`` or ``"robust"`` (see the module docs): the keys of
    :func:`evsynth.review.analysis.build_analysis` plus ``dependence``, ``k_studies``,
    ``variance_components`` and per-effect ``study_label``/``effect`` in ``studies``; None
    when no study has an assessment in the window."""
    from evsynth.review import analysis as an

    dependence = outcome.dependence
    if dependence not in DEPENDENCE_OPTIONS[1:]:
        raise InputError(f"outcome {outcome.id!r}: dependence {dependence!r}; expected one of "
                         f"{', '.join(DEPENDENCE_OPTIONS)}")
    model = an._model_for(review, outcome)
    eff = collect_effects(review, comp, outcome, window, model)
    if not eff.any_in_window:
        return None
    items, yi, vi = eff.items, eff.yi, eff.vi
    k = len(items)
    n_studies = len({it.study_id for it in items})
    rho = float(outcome.rho)
    notes = list(eff.notes)
    pooled = method_info = vc = None
    weights: list[float | None] = [None] * k
    sensitivity: list[dict[str, Any]] = []
    random = THREE_LEVEL
    if k:
        V, vinfo = sampling_covariance(items, vi, rho)
        if vinfo["equal_sizes"]:
            notes.append("group sizes not known for every effect: groups shared between "
                         "effects correlated as if of equal size (vcalc w1 = w2 = 1)")
        dfit = fit_dependent(items, yi, V, model, outcome, dependence)
        random = dfit.random or "none"
        notes += dfit.notes
        vc = variance_components(dfit, n_studies, k)
        vc["rho"] = rho
        vc["sampling_covariance"] = vinfo
        pooled = pooled_of(dfit, model, vc)
        weights = list(effect_weights(dfit.fit))
        method_info = dict(dfit.fit.method_info)
        if dfit.robust is not None:
            method_info["robust"] = dict(dfit.robust.method_info)
        sensitivity = _sensitivity(review, comp, outcome, window, items, yi, vi, model,
                                   dependence)
    label = model_label(dependence, model["common"], None if random == "none" else random)
    method, test, dfs, _ = _fit_spec(model, outcome)
    why = ("not computed: the effects of a study are dependent; the funnel-plot tests, "
           "trim-and-fill, leave-one-out, influence diagnostics and subgroup analyses of "
           "this pipeline assume independent effects (metafor rma.uni)")
    small = {"k": k, "assessed": False, "min_k": an.MIN_K_SMALL_STUDY, "text":
             f"k = {k} effects from {n_studies} studies: small-study effects {why}.",
             "egger": None, "begg": None, "trimfill": None, "egger_p": None, "begg_p": None,
             "trimfill_k0": None, "notes": []}
    loo = {"k": k, "scale": None, "rows": None, "changes_conclusion": None, "note": why}
    infl = {"k": k, "rows": None, "flagged": None, "note": why}
    if review.config.subgroups and k:
        notes.append("subgroup analyses " + why.split(": ", 1)[0] + " for this analysis "
                     "(a multilevel meta-regression is not part of the pipeline yet)")
    multiarm = an._multiarm_summary(items)
    notes += [m["text"] for m in multiarm]
    if any(it.uses_r for it in items):
        notes.append(f"change-score SDs imputed with a baseline/follow-up correlation of "
                     f"{review.config.change_scores.correlation:g} (Cochrane Handbook 6.5.2.8)")
    studies = []
    for j, it in enumerate(items):
        studies.append({**it.entry, "yi": float(yi[j]), "vi": float(vi[j]),
                        "sei": float(np.sqrt(vi[j])), "ci_lb": None, "ci_ub": None,
                        "weight": weights[j], "subgroup": None,
                        "participants": it.participants, "lines": it.lines})
    an._study_cis(studies, model["level"])
    r_cs = review.config.change_scores.correlation
    return {
        "id": f"{comp.id}.{outcome.id}.{window.id}",
        "comparison": an._comparison_dict(comp, review),
        "outcome": an.outcome_dict(outcome),
        "window": an.window_dict(window),
        "measure": outcome.measure,
        "log_scale": outcome.measure in ("OR", "RR", "HR", "IRR"),
        "dependence": dependence,
        # robust: t tests on Satterthwaite df (the working model's own tests in method_info)
        "model": {**model, "method": method, "test": "t" if dependence == "robust" else test,
                  "dfs": "Satterthwaite" if dependence == "robust" else dfs, "label": label,
                  "dependence": dependence, "random": None if random == "none" else random,
                  "rho": rho, "vcov": "CR2" if dependence == "robust" else "model-based",
                  "method_info": method_info,
                  "change_score_correlation": r_cs if any(it.uses_r for it in items)
                  else None},
        "variance_components": vc,
        "studies": studies,
        "excluded": eff.excluded,
        "k": k,
        "k_studies": n_studies,
        "participants": _participants(items) if k else 0,
        "pooled": pooled,
        "subgroups": None,
        "subgroup_analyses": [],
        "sensitivity": sensitivity,
        "small_study": small,
        "leave_one_out": loo,
        "influence": infl,
        "control_summary": an.control_summary(items, outcome),
        "multiarm": multiarm,
        "notes": notes,
        "warnings": eff.warnings,
        "sof": None, "grade": None, "plain_language": None, "figures": None,
    }


def _sensitivity(review: Review, comp: Comparison, outcome: Outcome, window: Window,
                 items: list[StudyInput], yi: np.ndarray, vi: np.ndarray,
                 model: dict[str, Any], dependence: str) -> list[dict[str, Any]]:
    """Refits with each ``rho_sensitivity`` value, and the one-effect-per-study analysis."""
    from evsynth.review.analysis import build_analysis

    out: list[dict[str, Any]] = []
    several = len({it.study_id for it in items}) < len(items)
    for r in outcome.rho_sensitivity if several else []:
        if r == outcome.rho:
            continue
        try:
            V, _ = sampling_covariance(items, vi, float(r))
            d = fit_dependent(items, yi, V, model, outcome, dependence)
            vc = variance_components(d, len({it.study_id for it in items}), len(items))
            out.append({"name": f"within-study correlation {r:g}", **_short(d, vc),
                        "note": f"rho = {r:g} instead of {outcome.rho:g} in V (vcalc)"})
        except InputError as exc:
            out.append({"name": f"within-study correlation {r:g}", "k": len(items),
                        "estimate": None, "ci_lb": None, "ci_ub": None, "tau2": None,
                        "I2": None, "note": f"not estimable: {exc}"})
    one = build_analysis(review, comp, outcome.model_copy(update={"dependence":
                                                                  "one_per_study"}), window)
    if one is not None and one["pooled"] is not None:
        p = one["pooled"]
        out.append({"name": "one effect per study", "k": one["k"], "estimate": p["estimate"],
                    "ci_lb": p["ci_lb"], "ci_ub": p["ci_ub"],
                    "tau2": p["tau2"] if one["k"] > 1 else None,
                    "I2": p["I2"] if one["k"] > 1 else None,
                    "note": f"window rule {window.rule!r}, multi-arm option "
                            f"{comp.multiarm!r}, {one['model']['label']} (dependence "
                            "'one_per_study')"})
    return out


__all__ = ["DEPENDENCE_OPTIONS", "THREE_LEVEL", "DependentFit", "Effects",
           "build_dependent_analysis", "collect_effects", "effect_groups", "effect_weights",
           "fit_dependent", "model_label", "pair_separately", "pooled_of",
           "sampling_covariance", "variance_components"]
