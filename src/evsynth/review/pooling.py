"""Pooling of one review analysis: inverse variance, Mantel-Haenszel or Peto (RevMan's methods).

``pooling`` (per outcome in review.toml, default ``[model].pooling``):

``IV``
    Inverse-variance weighting of the per-study effects (:func:`evsynth.meta`, metafor
    ``rma.uni``): random effects with every tau^2 estimator and test ``meta()`` has, or a common
    effect (``method = "EE"``/``"FE"``/``"CE"`` or ``effects = "common"``).
``MH``
    Mantel-Haenszel (OR, RR, RD; IRR, IRD from person-time): :func:`evsynth.meta_mh` (metafor
    ``rma.mh``) for the common effect ("M-H, Fixed"). Random effects ("M-H, Random") as RevMan 5
    computes them: the DerSimonian-Laird tau^2 from the heterogeneity statistic Q of the
    per-study effects around the Mantel-Haenszel estimate,
    ``tau^2 = max(0, (Q - (k - 1)) / (sum w_i - sum w_i^2 / sum w_i))`` with ``w_i = 1 / v_i``,
    then inverse-variance weights ``1 / (v_i + tau^2)`` (Deeks & Higgins 2010, *Statistical
    algorithms in Review Manager 5*, sections "Mantel-Haenszel methods" and "DerSimonian and
    Laird random-effects models"; DerSimonian & Laird 1986). I^2 = (Q - df) / Q from the same Q.
``PETO``
    Peto's one-step odds ratio (:func:`evsynth.meta_peto`, metafor ``rma.peto``; "Peto,
    Fixed"); a common-effect method only.

Zero cells (binary and rate data), per outcome (or ``[model]``): ``add``, ``to``, ``drop00`` as
in metafor; one value applies to both the per-study effects and the Mantel-Haenszel/Peto tables,
a pair ``[per-study, pooled]`` sets them separately (metafor ``rma.mh``'s pair). The default is
RevMan 5's (Deeks & Higgins 2010; Cochrane Handbook v6.4 section 10.4.4): 0.5 added to each cell
of a study with a zero cell (also inside the Mantel-Haenszel computation), studies with no events
(or only events) in both groups left out of OR and RR analyses (kept in RD analyses, where their
difference of 0 is informative); Peto's method adds nothing (it needs no correction) and leaves
double-zero studies out.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from evsynth.models.meta import MetaResult
    from evsynth.models.mh import MHResult

#: RevMan's names of the pooling methods, as on forest plots ("M-H, Fixed")
POOLING_NAMES = {"IV": "IV", "MH": "M-H", "PETO": "Peto"}
#: common-effect tau^2 "estimators" of meta()
FIXED = ("EE", "FE", "CE")
REVMAN_REF = ("Deeks JJ, Higgins JPT (2010). Statistical algorithms in Review Manager 5. "
              "The Cochrane Collaboration")


def zero_options(pooling: str, measure: str, add: Any, to: Any, drop00: Any
                 ) -> dict[str, tuple[Any, Any]]:
    """``add``, ``to``, ``drop00`` as pairs (per-study effects, pooled tables), RevMan's
    defaults filled in (see module docs)."""
    def pair(v: Any, default: tuple[Any, Any]) -> tuple[Any, Any]:
        if v is None:
            return default
        if isinstance(v, (tuple, list)):
            return (v[0], v[1])
        return (v, v)

    keep00 = measure in ("RD", "IRD")
    if pooling == "PETO":
        d_add, d_to = (0.0, 0.0), ("none", "none")
    else:
        d_add, d_to = (0.5, 0.5), ("only0", "only0")
    return {"add": pair(add, d_add), "to": pair(to, d_to),
            "drop00": pair(drop00, (not keep00, not keep00))}


def method_label(pooling: str, common: bool) -> str:
    """``"IV, Random"``, ``"M-H, Fixed"``, ``"Peto, Fixed"``: RevMan's label of the method."""
    return f"{POOLING_NAMES[pooling]}, {'Fixed' if common else 'Random'}"


@dataclass
class Pooled:
    """The fitted pooling of one analysis."""

    pooled: dict[str, Any]
    weights: list[float]
    method_info: dict[str, Any]
    #: the model the diagnostics run on (MetaResult for IV and M-H random, MHResult otherwise)
    fit: Any
    common: bool
    notes: list[str] = field(default_factory=list)


def _f(x: Any) -> float | None:
    if x is None:
        return None
    x = float(np.asarray(x, dtype=float).ravel()[0])
    return x if np.isfinite(x) else None


def fit_iv(yi: np.ndarray, vi: np.ndarray, labels: list[str], model: dict[str, Any],
           subgroup: list[str] | None = None) -> MetaResult:
    """:func:`evsynth.meta` with the analysis model; k = 1 is fitted as a common-effect z model
    (the study's own estimate and Wald CI)."""
    from evsynth.models.meta import meta

    if len(yi) == 1:
        return meta(yi, vi, method="EE", test="z", level=model["level"], slab=labels)
    return meta(yi, vi, method=model["method"], test=model["test"], level=model["level"],
                slab=labels, subgroup=subgroup)


def fit_mh(tables: dict[str, np.ndarray], labels: list[str], model: dict[str, Any],
           measure: str) -> MHResult:
    """:func:`evsynth.meta_mh` / :func:`evsynth.meta_peto` with the analysis' zero-cell
    options (non-integer counts from split groups are accepted without a warning)."""
    from evsynth.models.mh import meta_mh, meta_peto

    z = model["zero_cells"]
    cols: dict[str, Any] = dict(tables)   # the data columns (Any: not the option keywords)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not a whole number.*")
        if model["pooling"] == "PETO":
            return meta_peto(**cols, slab=labels, add=z["add"], to=z["to"],
                             drop00=z["drop00"], level=model["level"])
        return meta_mh(measure, **cols, slab=labels, add=z["add"], to=z["to"],
                       drop00=z["drop00"], level=model["level"])


def revman_dl_tau2(yi: np.ndarray, vi: np.ndarray, q: float) -> float:
    """RevMan 5's DerSimonian-Laird tau^2 from a given Q (the Mantel-Haenszel Q):
    ``max(0, (Q - (k - 1)) / (sum w - sum w^2 / sum w))``, ``w = 1 / v`` (Deeks & Higgins
    2010; DerSimonian & Laird 1986, doi:10.1016/0197-2456(86)90046-2)."""
    w = 1.0 / vi
    k = len(yi)
    denom = w.sum() - (w**2).sum() / w.sum()
    return float(max(0.0, (q - (k - 1)) / denom)) if k > 1 and denom > 0 else 0.0


def _pi(est: float, se: float, tau2: float, level: float) -> tuple[float, float]:
    """Prediction interval est +/- z sqrt(tau^2 + se^2) (metafor predict.rma with test "z")."""
    from scipy import special

    crit = float(-special.ndtri((1 - level / 100) / 2))  # norm.isf, bit for bit
    half = crit * float(np.sqrt(tau2 + se**2))
    return est - half, est + half


def _iv_summary(fit: MetaResult, model: dict[str, Any]) -> dict[str, Any]:
    k = fit.k
    out: dict[str, Any] = {"estimate": _f(fit.beta), "se": _f(fit.se), "ci_lb": _f(fit.ci_lb),
                           "ci_ub": _f(fit.ci_ub), "zval": _f(fit.zval), "pval": _f(fit.pval),
                           "pi_lb": None, "pi_ub": None, "tau2": _f(fit.tau2),
                           "tau": _f(fit.tau), "I2": _f(fit.I2), "H2": _f(fit.H2),
                           "QE": _f(fit.QE), "QE_df": k - 1, "QEp": _f(fit.QEp),
                           "df": _f(fit.df), "note": None}
    # IV: as before 1.3, a prediction interval also for a common-effect fit (metafor's
    # predict.rma: it equals the CI when tau^2 = 0)
    _k1_and_pi(out, k, {**model, "common": False}, lambda: fit.predict(pi_type=model["pi_type"]))
    return out


def _k1_and_pi(out: dict[str, Any], k: int, model: dict[str, Any], predict: Any) -> None:
    if k == 1:
        for key in ("tau2", "tau", "I2", "H2", "QE", "QE_df", "QEp"):
            out[key] = None
        out["note"] = ("k = 1: the study's own estimate and Wald CI; heterogeneity and a "
                       "prediction interval cannot be estimated")
    elif model["prediction_interval"] and k >= 3 and not model["common"]:
        pred = predict()
        out["pi_lb"], out["pi_ub"] = _f(pred.pi_lb), _f(pred.pi_ub)
    elif model["prediction_interval"] and not model["common"]:
        out["note"] = f"k = {k}: no prediction interval (needs k >= 3)"


@dataclass
class _PI:
    pi_lb: float
    pi_ub: float


def pool(yi: np.ndarray, vi: np.ndarray, labels: list[str], model: dict[str, Any],
         measure: str, tables: dict[str, np.ndarray] | None) -> Pooled:
    """Fit the analysis' pooling (see module docs); ``tables`` are the 2x2 (``ai, n1i, ci,
    n2i``) or person-time (``x1i, t1i, x2i, t2i``) data of the studies (MH and Peto)."""
    pooling, common = model["pooling"], model["common"]
    label = method_label(pooling, common)
    if pooling == "IV":
        fit = fit_iv(yi, vi, labels, model)
        info = dict(fit.method_info or {})
        info["pooling"] = label
        return Pooled(_iv_summary(fit, model), [float(w) for w in fit.weights], info, fit,
                      common)
    assert tables is not None
    mh = fit_mh(tables, labels, model, measure)
    info = dict(mh.method_info)
    info["pooling"] = label
    k = len(yi)
    q, q_df = float(mh.QE), mh.k_yi - 1
    if common or k == 1:
        out = {"estimate": _f(mh.beta), "se": _f(mh.se), "ci_lb": _f(mh.ci_lb),
               "ci_ub": _f(mh.ci_ub), "zval": _f(mh.zval), "pval": _f(mh.pval),
               "pi_lb": None, "pi_ub": None, "tau2": 0.0 if k > 1 else None,
               "tau": 0.0 if k > 1 else None, "I2": _f(mh.I2), "H2": _f(mh.H2),
               "QE": _f(q), "QE_df": q_df, "QEp": _f(mh.QEp), "df": None, "note": None}
        if pooling == "MH" and mh.measure == "OR":
            out |= {"CMH": _f(mh.MH), "CMH_p": _f(mh.MHp), "BD": _f(mh.BD), "BDp": _f(mh.BDp)}
        _k1_and_pi(out, k, {**model, "common": True}, None)
        weights = np.full(k, np.nan)
        mask = np.asarray(mh.studies["in_model"], dtype=bool)
        weights[mask] = mh.weights
        return Pooled(out, [float(w) for w in weights], info, mh, True)
    # M-H random effects as RevMan 5: DL tau^2 from the M-H Q, then IV weights 1/(v + tau^2)
    from evsynth.models.meta import meta

    yq, vq = np.asarray(mh.yi, dtype=float), np.asarray(mh.vi, dtype=float)
    tau2 = revman_dl_tau2(yq, vq, q)
    re = meta(yi, vi + tau2, method="EE", test="z", level=model["level"], slab=labels)
    est, se = float(re.beta[0]), float(re.se[0])
    i2 = max(0.0, (q - q_df) / q) * 100 if q > 0 and q_df > 0 else 0.0
    out = {"estimate": est, "se": se, "ci_lb": _f(re.ci_lb), "ci_ub": _f(re.ci_ub),
           "zval": _f(re.zval), "pval": _f(re.pval), "pi_lb": None, "pi_ub": None,
           "tau2": tau2, "tau": float(np.sqrt(tau2)), "I2": i2,
           "H2": q / q_df if q_df > 0 and q > 0 else None, "QE": q, "QE_df": q_df,
           "QEp": _f(mh.QEp), "df": None, "note": None}
    _k1_and_pi(out, k, model, lambda: _PI(*_pi(est, se, tau2, model["level"])))
    info |= {"model": "random effects: DerSimonian-Laird tau^2 from the Mantel-Haenszel Q, "
                      "inverse-variance weights 1/(v_i + tau^2) (RevMan 5)",
             "tau2_estimator": "DL from the M-H Q (RevMan 5)", "reference": REVMAN_REF,
             "prediction_interval": "estimate +/- z sqrt(tau^2 + SE^2)"}
    return Pooled(out, [float(w) for w in re.weights], info, mh, False)


def refit_subset(yi: np.ndarray, vi: np.ndarray, labels: list[str], model: dict[str, Any],
                 measure: str, tables: dict[str, np.ndarray] | None,
                 rows: np.ndarray | list[int]) -> Pooled:
    """:func:`pool` on a subset of the studies (sensitivity analyses, subgroups)."""
    idx = np.asarray(rows, dtype=int)
    sub = None if tables is None else {k: np.asarray(v)[idx] for k, v in tables.items()}
    return pool(yi[idx], vi[idx], [labels[j] for j in idx], model, measure, sub)


__all__ = ["POOLING_NAMES", "Pooled", "fit_iv", "fit_mh", "method_label", "pool",
           "refit_subset", "revman_dl_tau2", "zero_options"]
