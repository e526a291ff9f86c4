"""Selection models for publication bias (metafor ``selmodel``): the step function of Vevea &
Hedges (1995, Psychometrika 60:419, doi:10.1007/BF02294384) and the beta model of Citkowicz &
Vevea (2017, Psychol Methods 22:28, doi:10.1037/met0000092).

Registered for :class:`~evsynth.models.meta.MetaResult` (metafor defines ``selmodel.rma.uni``;
not for ``rma.mh`` / ``rma.peto``). The likelihood pieces are in :mod:`evsynth.models.bias`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import optimize, special, stats

from evsynth.errors import InputError
from evsynth.models.bias import (
    SelmodelResult,
    beta_norm_const,
    beta_weight,
    central_grad,
    p_below,
    richardson_hessian,
    selmodel_pval,
)
from evsynth.models.diagnostics import register
from evsynth.models.engine import fit_batch
from evsynth.models.kernels import FIXED_METHODS
from evsynth.models.meta import MetaResult


@register("selmodel", MetaResult)
def selmodel_rma(fit: MetaResult, type: str = "stepfun",
                 steps: Sequence[float] | None = (0.025, 1), alternative: str = "greater",
                 delta_min: float | None = None, delta_max: float = 100.0) -> SelmodelResult:
    """Selection model fitted by maximum likelihood (metafor ``selmodel``).

    ``type="stepfun"``: Vevea & Hedges (1995, Psychometrika 60:419) step function; the
    relative likelihood of selection is ``delta_j`` for a one-sided (``alternative=
    "greater"``, the default; or ``"less"``, ``"two.sided"``) p-value in ``(steps[j-1],
    steps[j]]``, ``delta_1 = 1``. ``type="beta"``: Citkowicz & Vevea (2017, Psychol Methods
    22:28), weight ``p^(d1-1) (1-p)^(d2-1)`` with p kept in ``[1e-5, 1 - 1e-5]``.

    The log-likelihood (metafor ``.selmodel.ll.stepfun`` / ``.selmodel.ll.cont``) is
    ``sum log w(p_i) + log phi(y_i; x_i'b, v_i + tau2) - log A_i`` with ``A_i`` the
    expected weight under the model (closed form for the step function, numerical
    integration for the beta model). As metafor, a REML/DL/... fit is first refitted by ML,
    tau^2 is optimised on the log scale and each delta on the logit scale of
    ``(delta_min, delta_max)`` (defaults (0, 100); beta: (1e-5, 100)); SEs come from the
    numerical Hessian on the natural scale (Richardson extrapolation, as numDeriv), and the
    LRT compares with the unadjusted ML model (df = number of estimated deltas).
    """
    what = "selmodel"
    if type not in ("stepfun", "beta"):
        raise InputError(f"{what}: type must be 'stepfun' or 'beta'; got {type!r}")
    if alternative not in ("greater", "less", "two.sided"):
        raise InputError(f"{what}: alternative must be 'greater', 'less' or 'two.sided'; "
                         f"got {alternative!r}")
    des = fit.design
    y, v, X = des.y, des.v, des.X
    k, p = X.shape
    fixed = fit.method in FIXED_METHODS
    ml_method = fit.method if fixed else "ML"
    out = fit_batch(des, ml_method, "z", fit.level, fit.control, compute_r2=False,
                    intercept=fit.intercept)
    beta0, tau20, ll0 = out["beta"][0], float(out["tau2"][0]), float(out["ll_ML"][0])
    pv = selmodel_pval(y, v, alternative)
    notes: list[str] = []
    if type == "stepfun":
        if steps is None:
            raise InputError(f"{what}: the step function needs steps= (p-value cut-points)")
        st_arr = np.unique(np.asarray(steps, dtype=float))
        if st_arr.size == 0 or np.any(~np.isfinite(st_arr)) or st_arr[0] < 0 or \
                st_arr[-1] > 1:
            raise InputError(f"{what}: steps must be numbers in [0, 1]; got {list(steps)}")
        if st_arr[-1] != 1:
            st_arr = np.r_[st_arr, 1.0]
        if st_arr.size < 2:
            raise InputError(f"{what}: steps must include at least one cut-point below 1")
        n_delta = st_arr.size - 1
        lo = 0.0 if delta_min is None else float(delta_min)
        pgrp = np.searchsorted(st_arr, pv, side="left")
        ptable = np.bincount(pgrp, minlength=st_arr.size).tolist()
        # the first delta is fixed at 1: only intervals with an estimated delta must be used
        empty = [j for j in range(1, st_arr.size) if ptable[j] == 0]
        if empty:
            j = empty[0]
            left = 0 if j == 0 else st_arr[j - 1]
            raise InputError(f"{what}: no study has a p-value in the interval ({left:g}, "
                             f"{st_arr[j]:g}]; its selection weight cannot be estimated "
                             "(choose other steps)")
        steps_out: list | None = st_arr.tolist()
    else:
        st_arr = np.empty(0)  # no cut-points
        n_delta = 2
        lo = 1e-5 if delta_min is None else float(delta_min)
        pgrp, ptable, steps_out = None, None, None
    hi = float(delta_max)
    if not 0 <= lo < 1 < hi:
        raise InputError(f"{what}: need delta_min < 1 < delta_max (got {lo}, {hi})")
    n_par = p + (0 if fixed else 1) + n_delta
    if k < n_par:
        raise InputError(f"{what}: too few studies (k = {k}) to estimate {n_par} parameters")
    sei = np.sqrt(v)

    def loglik(beta, tau2, dfree):
        delta = np.r_[1.0, dfree] if type == "stepfun" else np.asarray(dfree)
        yhat = X @ beta
        sd = np.sqrt(v + tau2)
        base = stats.norm.logpdf(y, yhat, sd)
        if type == "stepfun":
            F = np.array([p_below(s_, sei, yhat, sd, alternative) for s_ in st_arr])
            P = np.diff(np.vstack([np.zeros(k), F]), axis=0)
            A = delta @ P
            with np.errstate(divide="ignore"):
                return float(np.sum(np.log(delta[pgrp]) + base - np.log(A)))
        A = beta_norm_const(delta, sei, yhat, sd, alternative)
        w = beta_weight(np.clip(pv, 1e-5, 1 - 1e-5), delta)
        return float(np.sum(np.log(w) + base - np.log(A)))

    def unpack(theta):
        beta = theta[:p]
        tau2 = 0.0 if fixed else float(np.exp(theta[p]))
        if tau2 < 10 * np.finfo(float).eps:
            tau2 = 0.0
        x = theta[p + (0 if fixed else 1):]
        return beta, tau2, lo + (hi - lo) / (1 + np.exp(-x))

    def negll(theta):
        val = -loglik(*unpack(theta))
        return val if np.isfinite(val) else 1e300

    theta0 = np.r_[beta0, [] if fixed else [np.log(tau20 + 0.001)],
                   np.full(n_delta, np.log((1 - lo) / (hi - 1)))]
    opt = optimize.minimize(negll, theta0, method="BFGS",
                            jac=lambda t: central_grad(negll, t),
                            options={"gtol": 1e-9, "maxiter": 10000})
    theta = opt.x
    gnorm = float(np.max(np.abs(central_grad(negll, theta))))
    converged = bool(opt.success or gnorm < 1e-6)
    if not converged:
        notes.append("the optimiser did not report convergence")
    beta, tau2, dfree = unpack(theta)
    ll = loglik(beta, tau2, dfree)
    # Hessian of -ll on the natural scale (beta, tau2, free deltas)
    tau2_in = not fixed and tau2 > 1e-8
    if not fixed and not tau2_in:
        notes.append("tau^2 is at the boundary 0: its SE is not available")

    def negll_nat(z):
        b = z[:p]
        t2 = float(z[p]) if tau2_in else tau2
        return -loglik(b, max(t2, 0.0), z[p + (1 if tau2_in else 0):])

    z0 = np.r_[beta, [tau2] if tau2_in else [], dfree]
    H = richardson_hessian(negll_nat, z0)
    try:
        cov = np.linalg.inv(H)
        if not np.all(np.isfinite(cov)) or np.any(np.diag(cov) <= 0):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        cov = np.full_like(H, np.nan)
        notes.append("the Hessian is not invertible: SEs are not available")
    vb = cov[:p, :p]
    se = np.sqrt(np.diag(vb))
    se_tau2 = float(np.sqrt(cov[p, p])) if tau2_in else np.nan
    vd = cov[p + (1 if tau2_in else 0):, p + (1 if tau2_in else 0):]
    se_dfree = np.sqrt(np.diag(vd))
    crit = float(special.ndtri(1 - (1 - fit.level / 100) / 2))
    zval = beta / se
    pval = 2 * special.ndtr(-np.abs(zval))
    if type == "stepfun":
        delta = np.r_[1.0, dfree]
        se_delta = np.r_[np.nan, se_dfree]
    else:
        delta, se_delta = np.asarray(dfree), se_dfree
    zd = (delta - 1) / se_delta
    pd_ = 2 * special.ndtr(-np.abs(zd))
    lbd = np.maximum(delta - crit * se_delta, 0.0)
    ubd = delta + crit * se_delta
    if np.any(dfree <= lo + 1e-4) or np.any(dfree >= hi - 1e-2):
        notes.append("one or more delta estimates are (almost) at their bound "
                     f"({lo:g}, {hi:g}); treat the results with caution")
    LRT = max(0.0, 2 * (ll - ll0))
    LRTdf = n_delta
    LRTp = float(special.chdtrc(LRTdf, LRT))
    return SelmodelResult(type, alternative, steps_out, list(fit.coef_names), beta, se,
                          zval, pval, beta - crit * se, beta + crit * se, vb, tau2, se_tau2,
                          delta, se_delta, zd, pd_, lbd, ubd, LRT, LRTdf, LRTp, ll, ll0, k,
                          ptable, fit.level, converged, notes)
