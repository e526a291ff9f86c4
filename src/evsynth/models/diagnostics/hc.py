"""Henmi & Copas (2010, Stat Med 29:2969, doi:10.1002/sim.4029) confidence interval (metafor
``hc.rma.uni``).

Registered for :class:`~evsynth.models.meta.MetaResult` without moderators, as metafor. For fits
with user weights, ``weighted=False`` or a fixed tau^2 it is computed as metafor 3.8.1's
``hc.rma.uni`` does: from ``yi``/``vi`` alone (inverse-variance weights ``1/vi``, DerSimonian-Laird
tau^2), the fit's settings ignored; only the comparison columns (``beta_rma``, ``se_rma``, CI,
``tau2_rma``) are the fit's own.
"""

from __future__ import annotations

import numpy as np
from scipy import integrate, optimize, special, stats

from evsynth.errors import InputError
from evsynth.models.bias import HcResult
from evsynth.models.diagnostics import register
from evsynth.models.diagnostics._common import INT_ONLY
from evsynth.models.meta import MetaResult


@register("hc", MetaResult, **INT_ONLY)
def hc_rma(fit: MetaResult, tol: float = 1e-12) -> HcResult:
    """Henmi & Copas (2010, Stat Med 29:2969) confidence interval (metafor ``hc.rma.uni``).

    The fixed-effect estimate ``beta = sum(w y)/sum(w)`` with its SE under the DL
    random-effects model, ``se^2 = (tau2 W2 + 1)/W1``; the CI is ``beta -/+ u0 se``, where
    ``u0 = sqrt(1 + tau2 W2) t0`` and t0 solves ``int_t0^inf P(Q <= f(r/t0)) phi(r) dr =
    alpha/2`` with Q approximated by a gamma distribution given the standardised estimate
    r (Henmi & Copas 2010, section 3; W_j = sum(w^j)/sum(w)). User weights, ``weighted=False``
    and a fixed tau^2 of the fit are not used (metafor: ``wi <- 1/vi``).

    References
    ----------
    Henmi M, Copas JB (2010). Confidence intervals for random effects meta-analysis and
    robustness to publication bias. Stat Med 29:2969-2983, doi:10.1002/sim.4029. metafor 3.8.1
    ``hc.rma.uni``.
    """
    k = fit.k
    if k < 2:
        raise InputError(f"hc: needs at least 2 studies (k = {k})")
    y, v = fit.yi, fit.vi
    alpha = 1 - fit.level / 100
    w = 1 / v
    W1 = w.sum()
    W2, W3, W4 = (np.sum(w**j) / W1 for j in (2, 3, 4))
    beta = float(np.sum(w * y) / W1)
    Q = float(np.sum(w * (y - beta) ** 2))
    tau2 = max(0.0, (Q - (k - 1)) / (W1 - W2))
    se = float(np.sqrt((tau2 * W2 + 1) / W1))
    VR = 1 + tau2 * W2
    SDR = np.sqrt(VR)
    D = W3 - W2**2

    def EQ(r):
        return (k - 1) + tau2 * (W1 - W2) + tau2**2 * (r**2 / VR**2 - 1 / VR) * D

    def VQ(r):
        a = r**2 / VR**2 - 1 / VR
        return (2 * (k - 1) + 4 * tau2 * (W1 - W2) + 2 * tau2**2 * (W1 * W2 - 2 * W3 + W2**2)
                + 4 * tau2**2 * a * D + 4 * tau2**3 * a * (W4 - 2 * W2 * W3 + W2**3)
                + 2 * tau2**4 * (1 / VR**2 - 2 * r**2 / VR**3) * D**2)

    def integrand(r, x):
        s = SDR * r
        eq, vq = EQ(s), VQ(s)
        shape, scale = eq**2 / vq, vq / eq
        q = (W1 / W2 - 1) * ((r / x) ** 2 - 1) + (k - 1)
        return special.gammainc(shape, max(q, 0.0) / scale) * stats.norm.pdf(r)

    def eqn(x):
        val = integrate.quad(integrand, x, np.inf, args=(x,), epsabs=1e-13, epsrel=1e-12,
                             limit=200)[0]
        return val - alpha / 2

    lo, hi = 1e-12, 2.0
    while eqn(hi) > 0 and hi < 64:
        hi *= 2
    if eqn(lo) * eqn(hi) > 0:
        raise InputError("hc: could not bracket the Henmi-Copas critical value (the equation "
                         "has no root in (0, 64])")
    t0 = optimize.brentq(eqn, lo, hi, xtol=tol, rtol=4 * np.finfo(float).eps, maxiter=1000)
    u0 = SDR * t0
    return HcResult(beta, se, beta - u0 * se, beta + u0 * se, tau2, float(fit.beta[0]),
                    float(fit.se[0]), float(fit.ci_lb[0]), float(fit.ci_ub[0]), fit.tau2,
                    "DL", fit.method, fit.level)
