"""Fit (mixed-effects) meta-analysis models for a whole batch of groups at once.

This is the one code path behind :func:`evsynth.meta` (a batch of one), :func:`evsynth.meta_batch`,
subgroup analyses and the leave-one-out style diagnostics. Formulas follow metafor's ``rma.uni``
(Viechtbauer 2010, J Stat Softw 36(3)); the Knapp-Hartung adjustment follows Knapp & Hartung
(2003, Stat Med 22:2693) and Sidik & Jonkman (2002); the "adhoc" variant floors the scale factor
at 1 (Knapp & Hartung 2003; Röver, Knapp & Friede 2015).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from evsynth.models.kernels import (
    FIXED_METHODS,
    METHODS,
    Design,
    WeightedFit,
    estimate_tau2,
    loglik,
    weighted_fit,
)
from evsynth.validation import TESTS, control_settings, level_fraction


@dataclass
class Control:
    """Numerical settings of the tau^2 estimation (recorded in every result)."""

    tol: float = 1e-12  # convergence: |change in tau^2| <= tol * max(1, tau^2)
    maxiter: int = 100  # Fisher-scoring / Newton steps before the bracketing fallback
    ll0check: bool = True  # compare the ML/REML root with the boundary tau^2 = 0

    @classmethod
    def from_any(cls, control: dict | Control | None) -> Control:
        """Settings from a ``control=`` dict (metafor's ``threshold`` is an alias of ``tol``),
        checked by :func:`evsynth.validation.control_settings`."""
        if isinstance(control, Control):
            return control
        settings = control_settings(control, {"tol": float, "maxiter": int, "ll0check": bool},
                                    aliases={"threshold": "tol"})
        return cls(**settings)


def normalise_level(level: float) -> float:
    """Confidence level as a fraction (95 or 0.95 -> 0.95; :func:`evsynth.validation.level_percent`
    states the rule and raises InputError outside it)."""
    return level_fraction(level)


def default_btt(p: int, intercept: bool) -> np.ndarray:
    """Coefficients tested by the omnibus test: all but the intercept when there are moderators."""
    if intercept and p > 1:
        return np.arange(1, p)
    return np.arange(p)


def critical_values(test: str, level: float, df: np.ndarray) -> np.ndarray:
    """Two-sided critical values: normal for ``z``, t(df) otherwise."""
    alpha = 1 - level
    if test == "z":
        return np.full(np.shape(df), special.ndtri(1 - alpha / 2))
    return special.stdtrit(df, 1 - alpha / 2)


def chi2_sf(df, x: np.ndarray) -> np.ndarray:
    """Upper tail of the chi-square distribution; with 1 df through ``erfc(sqrt(x / 2))``
    (P(chi^2_1 > x) = P(|Z| > sqrt(x))), which is exact and far faster than the incomplete gamma
    function for millions of values."""
    df = np.asarray(df)
    if df.ndim == 0 and df == 1:
        return special.erfc(np.sqrt(np.asarray(x) / 2))
    return special.chdtrc(df, x)


def i2_from_q(Q, df):
    """I^2 (%) from a Q statistic and its degrees of freedom: ``max(0, 100 (Q - df) / Q)``, 0 when
    Q = 0 (Higgins & Thompson 2002, Stat Med 21:1539; for subgroup differences Cochrane Handbook
    10.11.3.1). Works on scalars and arrays."""
    Q = np.asarray(Q, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(Q > 0, np.maximum(0.0, 100 * (Q - df) / Q), 0.0)
    return float(out) if out.ndim == 0 else out


def wald(beta: np.ndarray, vb: np.ndarray, L: np.ndarray, test: str, df: np.ndarray):
    """Wald test of ``L beta = 0`` per group: (QM, df1, p). F(m, df) under t/knha/adhoc."""
    m = L.shape[0]
    if m == 1 and L.shape[1] == 1:  # one coefficient of an intercept-only model: no linear algebra
        with np.errstate(divide="ignore", invalid="ignore"):
            QM = np.where(vb[:, 0, 0] > 0, beta[:, 0] ** 2 / vb[:, 0, 0], np.nan)
        if test == "z":
            return QM, m, chi2_sf(m, QM)
        return QM, m, special.fdtrc(m, df, QM)
    Lb = np.einsum("ij,gj->gi", L, beta)
    LVL = np.einsum("ij,gjk,lk->gil", L, vb, L)
    # a singular covariance (e.g. a Knapp-Hartung scale factor of 0) leaves the test undefined
    singular = ~(np.abs(np.linalg.det(LVL)) > 0) | ~np.all(np.isfinite(LVL), axis=(1, 2))
    safe = np.where(singular[:, None, None], np.eye(m)[None], LVL)
    QM = np.einsum("gi,gi->g", Lb, np.linalg.solve(safe, Lb[..., None])[..., 0])
    QM = np.where(singular, np.nan, QM)
    if test == "z":
        return QM, m, chi2_sf(m, QM)
    QM = QM / m
    return QM, m, special.fdtrc(m, df, QM)


def fit_batch(*args, **kwargs) -> dict[str, np.ndarray]:
    """Fit the model for every group (see :func:`_fit_batch`); edge cases such as k = 1 or
    Q = 0 divide by zero on the way and are resolved explicitly, so numpy's warnings are muted."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _fit_batch(*args, **kwargs)


def _fit_batch(des: Design, method: str = "REML", test: str = "z", level: float = 95,
              control: Control | None = None, btt: np.ndarray | None = None,
              intercept: bool = True, compute_r2: bool = True,
              row_weights: bool = True) -> dict[str, np.ndarray]:
    """Fit the model for every group of ``des``; returns a dict of per-group arrays.

    Keys: ``k, p, beta (G,p), vb (G,p,p), se, zval, pval, ci_lb, ci_ub, df, tau2, se_tau2, I2,
    H2, vt, QE, QEp, QM, QMdf, QMp, s2w, ll_ML, ll_REML, ll, AIC, BIC, AICc, parms, R2,
    weights (n,), converged, iterations, fallback``.
    """
    control = control or Control()
    level = normalise_level(level)
    method = method.upper() if method.upper() in METHODS else method
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; expected one of {', '.join(TESTS)}")
    k = des.k.astype(float)
    p = des.p
    t2 = estimate_tau2(des, method, tol=control.tol, maxiter=control.maxiter,
                       reml_ll0check=control.ll0check)
    tau2 = t2.tau2
    fit = t2.fit if t2.fit is not None else weighted_fit(des, tau2)
    beta = fit.beta
    vb = fit.Ainv.copy()
    df = k - p
    s2w = np.ones_like(k)
    if test in ("knha", "adhoc"):
        s2w = np.where(fit.RSS <= np.finfo(float).eps, 0.0, fit.RSS / np.where(df > 0, df, 1))
        if test == "adhoc":
            s2w = np.maximum(s2w, 1.0)
        vb = vb * s2w[:, None, None]
    se = np.sqrt(np.einsum("gii->gi", vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = beta / se
    if test == "z":
        pval = 2 * special.ndtr(-np.abs(zval))
    else:
        pval = 2 * special.stdtr(df[:, None], -np.abs(zval))
    crit = critical_values(test, level, df)
    ci_lb = beta - crit[:, None] * se
    ci_ub = beta + crit[:, None] * se

    btt = default_btt(p, intercept) if btt is None else np.asarray(btt)
    L = np.eye(p)[btt]
    QM, QMdf, QMp = wald(beta, vb, L, test, df)

    # heterogeneity: Cochran's Q with fixed-effects weights (uncentred y; see meta() docs)
    fe = t2.fe if t2.fe is not None else weighted_fit(des, np.zeros(des.seg.G))  # w = 1/v
    has_df = k > p
    QE = np.where(has_df, np.maximum(0.0, fe.RSS), 0.0)
    QEp = np.where(has_df, special.chdtrc(np.where(has_df, k - p, 1), QE), 1.0)
    vt = np.where(has_df, (k - p) / fe.trP, 0.0)
    if method in FIXED_METHODS:
        with np.errstate(divide="ignore", invalid="ignore"):
            I2 = np.where(has_df, i2_from_q(QE, k - p), 0.0)
            H2 = np.where(has_df, QE / np.where(has_df, k - p, 1), 1.0)
    else:
        I2 = np.where(has_df, 100 * tau2 / (vt + tau2), 0.0)
        H2 = np.where(has_df, tau2 / np.where(has_df, vt, 1) + 1, 1.0)

    # fit statistics (metafor: ll.ML and ll.REML with REMLf = TRUE)
    ll_ML = loglik(des, tau2, reml=False, fit=fit)
    ll_REML = loglik(des, tau2, reml=True, fit=fit)
    parms = p + (0 if method in FIXED_METHODS else 1)
    if method == "REML":
        ll, n_ic = ll_REML, k - p
    else:
        ll, n_ic = ll_ML, k
    AIC = -2 * ll + 2 * parms
    BIC = -2 * ll + parms * np.log(n_ic)
    m_ = np.maximum(n_ic, parms + 2)
    AICc = -2 * ll + 2 * parms * m_ / (m_ - parms - 1)

    R2 = np.full(des.seg.G, np.nan)
    if compute_r2 and intercept and p > 1:
        R2 = pseudo_r2(des, method, tau2, control)

    return {
        "k": des.k.copy(), "p": np.full(des.seg.G, p), "beta": beta, "vb": vb, "se": se,
        "zval": zval, "pval": pval, "ci_lb": ci_lb, "ci_ub": ci_ub, "df": df, "crit": crit,
        "tau2": tau2, "se_tau2": t2.se_tau2, "I2": I2, "H2": H2, "vt": vt, "QE": QE, "QEp": QEp,
        "QM": QM, "QMdf": np.full(des.seg.G, QMdf), "QMp": QMp, "s2w": s2w,
        "ll_ML": ll_ML, "ll_REML": ll_REML, "ll": ll, "AIC": AIC, "BIC": BIC, "AICc": AICc,
        "parms": np.full(des.seg.G, parms), "R2": R2,
        "weights": fit.w if row_weights else None,
        "converged": t2.converged, "iterations": t2.iterations, "fallback": t2.fallback,
        "notes": t2.notes, "level": level,
    }


def pseudo_r2(des: Design, method: str, tau2: np.ndarray, control: Control) -> np.ndarray:
    """Pseudo R^2 (% of heterogeneity accounted for): (tau2_RE - tau2_ME) / tau2_RE, floored at 0
    (Raudenbush 2009; metafor ``r2def = "1"``). For equal-effects models: the adjusted R^2 of the
    weighted least-squares regression (metafor)."""
    if method in FIXED_METHODS:
        fit = WeightedFit(des, w=1.0 / des.v)
        null = Design(des.y, des.v, np.ones((des.y.size, 1)), des.seg)
        fit0 = WeightedFit(null, w=1.0 / des.v)
        k = des.k.astype(float)
        r2 = 1 - fit.RSS / fit0.RSS
        adj = 1 - (1 - r2) * (k - 1) / (k - des.p)
        return np.maximum(0.0, 100 * adj)
    null = Design(des.y, des.v, np.ones((des.y.size, 1)), des.seg)
    t0 = estimate_tau2(null, method, tol=control.tol, maxiter=control.maxiter,
                       reml_ll0check=control.ll0check).tau2
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(t0 > 0, np.maximum(0.0, 100 * (t0 - tau2) / t0), 0.0)
    return r2
