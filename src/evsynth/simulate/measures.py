"""Performance measures of a simulation study with their Monte-Carlo standard errors.

Definitions and Monte-Carlo SEs follow Morris, White & Crowther (2019, Stat Med 38:2074,
doi:10.1002/sim.8086, Table 6), for ``n`` replicates with estimates ``t_i`` of the estimand
``theta``:

- bias = mean(t) - theta; MCSE = sqrt(sum (t - mean t)^2 / (n (n - 1)))
- empirical SE (``empse``) = sqrt(sum (t - mean t)^2 / (n - 1)); MCSE = EmpSE / sqrt(2 (n - 1))
- MSE = mean((t - theta)^2); MCSE = sqrt(sum ((t - theta)^2 - MSE)^2 / (n (n - 1)))
- model SE (``modse``) = sqrt(mean(se^2)); MCSE = sqrt(var(se^2) / (4 n ModSE^2))
- relative error in the model SE (``relerr_modse``, %) = 100 (ModSE / EmpSE - 1);
  MCSE = 100 (ModSE / EmpSE) sqrt(var(se^2) / (4 n ModSE^4) + 1 / (2 (n - 1)))
- coverage = mean(lb <= theta <= ub); MCSE = sqrt(cov (1 - cov) / n)
- rejection = mean(p < alpha): power, or the type I error rate when theta = 0;
  MCSE = sqrt(rej (1 - rej) / n)
- CI and PI width = mean(ub - lb); MCSE = sd(ub - lb) / sqrt(n)
- PI coverage = mean over replicates of P(lb <= theta_new <= ub) for a new study's true effect
  theta_new ~ N(theta, tau^2), computed exactly per replicate; MCSE = sd / sqrt(n)

The same for tau^2 (``tau2_bias``, ``tau2_empse``, ``tau2_mse``). Replicates whose fit did not
converge (and replicates left with no study) are counted (``failures``) and left out of every
measure (``n_used``), as Morris et al. recommend reporting; a replicate with a missing value of
a measure (e.g. a t-based CI with no degrees of freedom, k = 1) is left out of that measure
only, and each measure reports the replicates it used in ``<name>_n``.

Sums of squares are taken about the first value (``t - t[0]``, then about their mean), so that
constant estimates have an empirical SE of exactly 0; the relative error of the model SE is
then undefined (NaN), as it is when fewer than two replicates are left.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special

from evsynth.errors import InputError

#: (measure, Monte-Carlo SE column) in the order of the results table
MEASURES = ("bias", "empse", "mse", "modse", "relerr_modse", "coverage", "rejection",
            "ci_width", "pi_coverage", "pi_width", "tau2_bias", "tau2_empse", "tau2_mse")


def _mean_se(x: np.ndarray) -> tuple[float, float, int]:
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return math.nan, math.nan, 0
    m = float(x.mean())
    se = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return m, se, n


def _prop(x: np.ndarray) -> tuple[float, float, int]:
    n = x.size
    if n == 0:
        return math.nan, math.nan, 0
    p = float(x.mean())
    return p, math.sqrt(p * (1 - p) / n), n


def _location(t: np.ndarray, theta: float) -> dict[str, float]:
    t = t[np.isfinite(t)]
    n = t.size
    out: dict[str, float] = {"bias_n": n, "empse_n": n, "mse_n": n}
    if n < 2:
        out.update({key: math.nan for key in ("bias", "bias_mcse", "empse", "empse_mcse",
                                              "mse", "mse_mcse")})
        return out
    m = float(t.mean())
    d = t - t[0]  # about the first value: exactly 0 for constant estimates
    ss = float(((d - d.mean()) ** 2).sum())
    out["bias"] = m - theta
    out["bias_mcse"] = math.sqrt(ss / (n * (n - 1)))
    out["empse"] = math.sqrt(ss / (n - 1))
    out["empse_mcse"] = out["empse"] / math.sqrt(2 * (n - 1))
    e2 = (t - theta) ** 2
    mse = float(e2.mean())
    out["mse"] = mse
    out["mse_mcse"] = math.sqrt(float(((e2 - mse) ** 2).sum()) / (n * (n - 1)))
    return out


def performance(fits: dict[str, np.ndarray], theta: float, tau2: float = 0.0,
                alpha: float = 0.05) -> dict[str, Any]:
    """Performance measures of one method in one scenario, with Monte-Carlo SEs.

    Parameters
    ----------
    fits : dict of arrays
        Per-replicate ``estimate``, ``se``, ``ci_lb``, ``ci_ub``, ``pval``, ``tau2``,
        ``pi_lb``, ``pi_ub`` and ``converged`` (as returned by
        :func:`evsynth.simulate.methods.fit_method`).
    theta : float
        The true mean effect (estimand).
    tau2 : float
        The true between-study variance (for tau^2 measures and the prediction interval's
        coverage of a new study's true effect).
    alpha : float
        Significance level of the rejection rate (power / type I error).

    Returns
    -------
    dict
        ``n_rep``, ``failures``, ``n_used`` and, for each name in :data:`MEASURES`, the value,
        ``<name>_mcse`` and ``<name>_n`` (the replicates the measure used: converged ones
        with a finite value). Arrays of different lengths are an :class:`InputError`.

    References
    ----------
    Morris TP, White IR, Crowther MJ (2019). Using simulation studies to evaluate statistical
    methods. Stat Med 38:2074-2102. doi:10.1002/sim.8086

    Examples
    --------
    >>> import numpy as np
    >>> from evsynth.simulate import performance
    >>> est = np.array([0.1, -0.2, 0.05, 0.0])
    >>> fits = {"estimate": est, "se": np.full(4, 0.1), "ci_lb": est - 0.2,
    ...         "ci_ub": est + 0.2, "pval": np.array([0.3, 0.04, 0.6, 1.0]),
    ...         "tau2": np.zeros(4), "pi_lb": est - 0.3, "pi_ub": est + 0.3,
    ...         "converged": np.ones(4, bool)}
    >>> m = performance(fits, theta=0.0)
    >>> round(m["bias"], 4), m["coverage"], m["rejection"]
    (-0.0125, 1.0, 0.25)
    """
    conv = np.asarray(fits["converged"], dtype=bool).ravel()
    n_rep = int(conv.size)
    for name in ("estimate", "se", "ci_lb", "ci_ub", "pval", "tau2", "pi_lb", "pi_ub"):
        if name not in fits:
            raise InputError(f"argument 'fits' has no {name!r}; expected the per-replicate "
                             "arrays of fit_method")
        size = np.asarray(fits[name]).size
        if size != n_rep:
            raise InputError(f"argument 'fits': {name!r} has {size} values and 'converged' "
                             f"{n_rep}; expected one value per replicate in every array")
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(
            alpha, (int, float, np.integer, np.floating)) or not 0 < alpha < 1:
        raise InputError(f"argument 'alpha' is {alpha!r}; expected a number 0 < alpha < 1")
    ok = conv
    est = np.asarray(fits["estimate"], dtype=float).ravel()[ok]
    res: dict[str, Any] = {"n_rep": n_rep, "failures": int((~conv).sum()),
                           "n_used": int(ok.sum())}

    def col(name: str) -> np.ndarray:
        return np.asarray(fits[name], dtype=float).ravel()[ok]

    loc = _location(est, theta)
    res.update(loc)
    se2 = col("se")
    se2 = se2[np.isfinite(se2)] ** 2
    n_se = int(se2.size)
    res["modse_n"] = n_se
    res["relerr_modse_n"] = min(n_se, int(loc["empse_n"]))
    res["modse"] = res["modse_mcse"] = res["relerr_modse"] = res["relerr_modse_mcse"] = math.nan
    if n_se >= 1:
        modse = math.sqrt(float(se2.mean()))
        res["modse"] = modse
        if n_se > 1 and modse > 0:
            v = float(se2.var(ddof=1))
            res["modse_mcse"] = math.sqrt(v / (4 * n_se * modse**2))
            empse = res["empse"]
            if empse > 0:  # False for NaN and for an empirical SE of 0 (ratio undefined)
                ratio = modse / empse
                res["relerr_modse"] = 100 * (ratio - 1)
                res["relerr_modse_mcse"] = 100 * ratio * math.sqrt(
                    v / (4 * n_se * modse**4) + 1 / (2 * (int(loc["empse_n"]) - 1)))
    lb, ub = col("ci_lb"), col("ci_ub")
    fin = np.isfinite(lb) & np.isfinite(ub)
    res["coverage"], res["coverage_mcse"], res["coverage_n"] = _prop(
        ((lb <= theta) & (theta <= ub))[fin])
    res["ci_width"], res["ci_width_mcse"], res["ci_width_n"] = _mean_se((ub - lb)[fin])
    p = col("pval")
    res["rejection"], res["rejection_mcse"], res["rejection_n"] = _prop(
        (p < alpha)[np.isfinite(p)])
    plb, pub = col("pi_lb"), col("pi_ub")
    pfin = np.isfinite(plb) & np.isfinite(pub)
    if tau2 > 0:
        sd = math.sqrt(tau2)
        pc = special.ndtr((pub - theta) / sd) - special.ndtr((plb - theta) / sd)
    else:
        pc = ((plb <= theta) & (theta <= pub)).astype(float)
    res["pi_coverage"], res["pi_coverage_mcse"], res["pi_coverage_n"] = _mean_se(
        np.where(pfin, pc, np.nan))
    res["pi_width"], res["pi_width_mcse"], res["pi_width_n"] = _mean_se(
        np.where(pfin, pub - plb, np.nan))
    t2 = _location(col("tau2"), tau2)
    for key in ("bias", "empse", "mse"):
        res[f"tau2_{key}"] = t2[key]
        res[f"tau2_{key}_mcse"] = t2[f"{key}_mcse"]
        res[f"tau2_{key}_n"] = t2[f"{key}_n"]
    return res
