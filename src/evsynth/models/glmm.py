"""Generalised linear (mixed-effects) models for binary and count data (metafor ``rma.glmm``).

:func:`meta_glmm` fits the models of Stijnen, Hamza & Ozdemir (2010) as metafor 3.8 does,
directly from the counts (no continuity corrections, studies with a zero cell kept):

* odds ratios (``measure="OR"``): the unconditional model with fixed study effects
  (``"UM.FS"``: logistic regression with a dummy per study and the treatment effect with a
  random effect, random-effect coefficient +1/2 / -1/2 in the two arms), the conditional model
  with the exact likelihood (``"CM.EL"``: the non-central hypergeometric distribution of the
  events of the treatment arm given the totals, the random effect integrated out) and its
  binomial approximation (``"CM.AL"``), and the unconditional model with random study effects
  (``"UM.RS"``: a random study effect and an independent random treatment effect, Laplace);
* incidence rate ratios (``"IRR"``): ``"UM.FS"`` (Poisson with study dummies and log
  person-time offsets), ``"UM.RS"`` and the conditional model (``"CM.EL"``, which is exact
  for rates: the events of arm 1 given the total are binomial with offset log(t1i/t2i);
  ``"CM.AL"`` means the same, as in metafor);
* logit proportions (``"PLO"``: binomial with a random intercept) and log incidence rates
  (``"IRLN"``: Poisson with a random intercept and offset log(ti)).

Likelihood approximations as in metafor. The GLMMs that metafor fits with ``lme4::glmer``
(UM.FS, CM.AL, the conditional IRR model, PLO, IRLN) use adaptive Gauss-Hermite quadrature with
``nAGQ`` nodes per study at the conditional mode of the random effect (``nAGQ=1`` is the
Laplace approximation; Pinheiro & Bates 1995, J Comput Graph Stat 4:12; Bates et al. 2015,
J Stat Softw 67(1), section 5); the exact conditional model (CM.EL) integrates the
non-central hypergeometric likelihood (Fisher's, as BiasedUrn's ``dFNCHypergeo``) against the
normal density of the log odds ratio, here by adaptive Gauss-Hermite quadrature with enough
nodes (``control["nodes"]``, default 24) to be exact to machine precision where metafor calls
R's ``integrate()``. Estimates are the maximisers of these likelihoods (damped Newton on all
parameters, gradients and Hessians in each study's linear predictors, chain rule to the
parameters); standard errors come from the inverse Hessian of the log-likelihood in
(fixed effects, variance parameter), as ``lme4``'s ``vcov`` and metafor's numerical Hessian.

Heterogeneity (metafor's definitions): the Wald and likelihood-ratio tests of the model
against the saturated model (one parameter per study; fitted by IRLS as R's ``glm``, whose
non-convergence for studies with a zero cell is reproduced; the conditional saturated model by
each study's conditional MLE), ``I^2`` and ``H^2`` from tau^2 and the typical within-study
variance of the ``escalc`` sampling variances (Higgins & Thompson 2002). metafor reports as
the log-likelihood of the lme4-based models ``ll_QE - deviance/2`` with lme4's conditional
deviance (the sum of squared deviance residuals at the modes of the random effects); that is
``ll`` here (and ``dev``, ``AIC``, ``BIC``, ``AICc`` from it), and ``ll_marginal`` is the
approximated marginal log-likelihood that is maximised.

References
----------
Stijnen T, Hamza TH, Ozdemir P (2010). Random effects meta-analysis of event outcome in the
framework of the generalized linear mixed model with applications in sparse data. Stat Med
29:3046-3067. doi:10.1002/sim.4040

Jackson D, Law M, Stijnen T, Viechtbauer W, White IR (2018). A comparison of seven random-effects
models for meta-analyses that estimate the summary odds ratio. Stat Med 37:1059-1085.
doi:10.1002/sim.7588

Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw
36(3). doi:10.18637/jss.v036.i03
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from evsynth.errors import InputError, study_name
from evsynth.models.results import FittedModel, fmt_p
from evsynth.validation import (
    as_frame,
    choice,
    column,
    control_settings,
    flag,
    level_percent,
    numeric_vector,
    study_labels,
    test_code,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

GLMM_MEASURES = ("OR", "IRR", "PLO", "IRLN")
GLMM_MODELS = ("UM.FS", "UM.RS", "CM.EL", "CM.AL")
GLMM_METHODS = ("ML", "EE", "FE", "CE")
MODEL_LABELS = {"UM.FS": "Unconditional Model with Fixed Study Effects",
                "UM.RS": "Unconditional Model with Random Study Effects",
                "CM.AL": "Conditional Model with Approximate Likelihood",
                "CM.EL": "Conditional Model with Exact Likelihood"}
_CONTROL = {"tol": float, "maxiter": int, "nodes": int, "glm_epsilon": float, "glm_maxit": int,
            "tau_start": float}

_EPS = float(np.finfo(float).eps)


# ============================================================================================
# families: log densities, derivatives in the linear predictor, deviance residuals
# ============================================================================================
def _gammaln(x: np.ndarray) -> np.ndarray:
    from scipy.special import gammaln

    return gammaln(x)


def _log_const(family: str, y: np.ndarray, n: np.ndarray) -> np.ndarray:
    """log C(n, y) (binomial) or -log y! (Poisson): the data constants of the densities."""
    if family == "binomial":
        return _gammaln(n + 1) - _gammaln(y + 1) - _gammaln(n - y + 1)
    return -_gammaln(y + 1)


def _cell_ll(family: str, y: np.ndarray, n: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Log density of each cell without the constant (binomial logit / Poisson log)."""
    if family == "binomial":
        return y * eta - n * np.logaddexp(0.0, eta)
    return y * eta - np.exp(eta)


def _cell_d12(family: str, y: np.ndarray, n: np.ndarray,
              eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and (negated) second derivative of the cell log density in eta."""
    if family == "binomial":
        mu = _expit(eta)
        return y - n * mu, n * mu * (1 - mu)
    mu = np.exp(eta)
    return y - mu, mu


def _expit(x: np.ndarray) -> np.ndarray:
    from scipy.special import expit

    return expit(x)


def _dev_resid(family: str, y: np.ndarray, n: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Deviance residuals squared (R's ``family$dev.resids``); ``mu`` is the mean of the
    proportion (binomial) or of the count (Poisson)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if family == "binomial":
            p = np.divide(y, n, out=np.zeros_like(y, dtype=float), where=n > 0)
            t1 = np.where(p > 0, p * np.log(np.where(p > 0, p, 1) / mu), 0.0)
            t2 = np.where(p < 1, (1 - p) * np.log(np.where(p < 1, 1 - p, 1) / (1 - mu)), 0.0)
            return 2 * n * (t1 + t2)
        r = np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / mu) - (y - mu), mu)
        return 2 * r


# ============================================================================================
# R's glm.fit (IRLS), reproduced: start values, link clamps, convergence rule, vcov weights
# ============================================================================================
_THRESH = 30.0


def _linkinv(family: str, eta: np.ndarray) -> np.ndarray:
    """R's ``binomial()$linkinv`` (C ``logit_linkinv``, clamped at |eta| > 30) and
    ``poisson()$linkinv`` (``pmax(exp(eta), .Machine$double.eps)``)."""
    if family == "binomial":
        t = np.where(eta < -_THRESH, _EPS,
                     np.where(eta > _THRESH, 1 / _EPS, np.exp(np.clip(eta, -_THRESH, _THRESH))))
        return t / (1 + t)
    return np.maximum(np.exp(eta), _EPS)


def _mu_eta(family: str, eta: np.ndarray) -> np.ndarray:
    if family == "binomial":
        e = np.exp(np.clip(eta, -_THRESH, _THRESH))
        return np.where(np.abs(eta) > _THRESH, _EPS, e / (1 + e) ** 2)
    return np.maximum(np.exp(eta), _EPS)


@dataclass
class _GlmFit:
    coef: np.ndarray
    vcov: np.ndarray
    eta: np.ndarray       # linear predictor without offset
    mu: np.ndarray        # mean (proportion for binomial)
    ll: float
    converged: bool
    iterations: int
    weights: np.ndarray   # IRLS weights of the last iteration (w^2 in glm.fit)


def _glm_fit(family: str, y: np.ndarray, n: np.ndarray, X: np.ndarray | None,
             offset: np.ndarray, epsilon: float = 1e-8, maxit: int = 25) -> _GlmFit:
    """IRLS exactly as R's ``glm.fit`` (binomial with prior weights ``n``; Poisson).

    ``X=None`` is the saturated model (one parameter per cell: the weighted least-squares step
    fits the working response exactly). The covariance is ``(X' W X)^-1`` with the weights of
    the last iteration, as ``summary.glm`` takes it from the last QR decomposition; the
    log-likelihood includes the constants (``logLik.glm``).
    """
    wts = n if family == "binomial" else np.ones_like(y)
    yy = np.divide(y, n, out=np.zeros_like(y), where=n > 0) if family == "binomial" else y
    mustart = (wts * yy + 0.5) / (wts + 1) if family == "binomial" else y + 0.1
    eta = (np.log(mustart / (1 - mustart)) if family == "binomial" else np.log(mustart))
    mu = _linkinv(family, eta)
    devold = float(np.sum(_dev_resid(family, y, n, mu)))
    coef = np.zeros(0 if X is None else X.shape[1])
    converged = False
    it = 0
    w2 = np.ones_like(y)
    for it in range(1, maxit + 1):  # noqa: B007 - the count is reported
        mev = _mu_eta(family, eta)
        var = mu * (1 - mu) if family == "binomial" else mu
        z = eta - offset + (yy - mu) / mev
        w2 = wts * mev ** 2 / var
        if X is None:
            lin = z
        else:
            w = np.sqrt(w2)
            coef = np.linalg.lstsq(X * w[:, None], z * w, rcond=None)[0]
            lin = X @ coef
        eta = lin + offset
        mu = _linkinv(family, eta)
        dev = float(np.sum(_dev_resid(family, y, n, mu)))
        if abs(dev - devold) / (abs(dev) + 0.1) < epsilon:
            converged = True
            break
        devold = dev
    if X is None:
        coef = eta - offset
        with np.errstate(divide="ignore"):  # a cell without trials: infinite variance
            vcov = np.diag(1 / w2)
    else:
        vcov = np.linalg.inv(X.T @ (X * w2[:, None]))
    if family == "binomial":
        with np.errstate(divide="ignore"):
            ll_cells = (_log_const(family, y, n) + np.where(y > 0, y * np.log(mu), 0.0)
                        + np.where(n - y > 0, (n - y) * np.log1p(-mu), 0.0))
    else:
        ll_cells = _log_const(family, y, n) + np.where(y > 0, y * np.log(mu), 0.0) - mu
    return _GlmFit(coef, vcov, eta - offset, mu, float(np.sum(ll_cells)), converged, it, w2)


# ============================================================================================
# adaptive Gauss-Hermite quadrature for one scalar random effect per study
# ============================================================================================
def _gh_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Hermite nodes and log weights for the weight function exp(-t^2)."""
    t, w = np.polynomial.hermite.hermgauss(n)
    return t, np.log(w)


@dataclass
class _AGQ:
    """Marginal log-likelihood of a GLMM with one random effect ``b_i ~ N(0, tau^2)`` per
    study: cells ``(k, c)`` with linear predictor ``F + z * b_i`` (``F`` includes offsets)."""

    family: str
    y: np.ndarray            # (k, c)
    n: np.ndarray            # (k, c)
    z: np.ndarray            # (k, c) random-effect coefficients
    nagq: int
    const: np.ndarray = field(init=False)
    _last: np.ndarray | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.const = np.sum(_log_const(self.family, self.y, self.n), axis=1)
        self.t, self.logw = _gh_rule(self.nagq)

    def _h(self, F: np.ndarray, b: np.ndarray, tau2: float) -> np.ndarray:
        eta = F[..., None] + self.z[..., None] * b[:, None, :]
        ll = np.sum(_cell_ll(self.family, self.y[..., None], self.n[..., None], eta), axis=1)
        return ll - b ** 2 / (2 * tau2)

    def mode(self, F: np.ndarray, tau2: float) -> tuple[np.ndarray, np.ndarray]:
        """Conditional modes of the random effects and the curvature there: vectorised Newton
        on the strictly concave log integrand, steps limited to 1 on the linear-predictor
        scale, warm-started at the previous modes."""
        k = F.shape[0]
        zmax = np.max(np.abs(self.z), axis=1)
        b = self._last if self._last is not None and self._last.shape == (k,) else np.zeros(k)
        extra = 0
        for _ in range(200):
            eta = F + self.z * b[:, None]
            d1, d2 = _cell_d12(self.family, self.y, self.n, eta)
            g = np.sum(self.z * d1, axis=1) - b / tau2
            H = np.sum(self.z ** 2 * d2, axis=1) + 1 / tau2
            step = np.clip(g / H, -1 / zmax, 1 / zmax)
            b = b + step
            if np.all(np.abs(step) <= 1e-11 * (1 + np.abs(b))):
                extra += 1  # quadratic convergence: two more steps reach machine precision
                if extra > 2:
                    break
        self._last = b
        eta = F + self.z * b[:, None]
        _, d2 = _cell_d12(self.family, self.y, self.n, eta)
        H = np.sum(self.z ** 2 * d2, axis=1) + 1 / tau2
        return b, H

    def loglik(self, F: np.ndarray, tau: float) -> np.ndarray:
        """Per-study log-likelihood (with the data constants) by AGQ; ``tau = 0`` exact."""
        if tau <= 0:
            return self.const + np.sum(_cell_ll(self.family, self.y, self.n, F), axis=1)
        tau2 = tau * tau
        b, H = self.mode(F, tau2)
        s = np.sqrt(2 / H)
        nodes = b[:, None] + s[:, None] * self.t[None, :]
        h = self._h(F, nodes, tau2)
        from scipy.special import logsumexp

        val = logsumexp(h + self.logw[None, :] + self.t[None, :] ** 2, axis=1)
        return self.const + val + np.log(s) - 0.5 * np.log(2 * np.pi * tau2)

    def cond_deviance(self, F: np.ndarray, tau: float) -> float:
        """lme4's ``deviance()`` of a GLMM: sum of squared deviance residuals at the modes."""
        b = self.mode(F, tau * tau)[0] if tau > 0 else np.zeros(F.shape[0])
        eta = F + self.z * b[:, None]
        mu = _expit(eta) if self.family == "binomial" else np.exp(eta)
        return float(np.sum(_dev_resid(self.family, self.y, self.n, mu)))


# ============================================================================================
# the exact conditional likelihood (Fisher's non-central hypergeometric distribution)
# ============================================================================================
@dataclass
class _NCHG:
    """Events ``ai`` of arm 1 given the margins: P(ai | psi) = C(n1,ai) C(n2,m-ai) psi^ai /
    sum_u C(n1,u) C(n2,m-u) psi^u (Fisher's non-central hypergeometric; BiasedUrn
    ``dFNCHypergeo``), vectorised over studies with a padded support."""

    ai: np.ndarray
    n1: np.ndarray
    n2: np.ndarray
    m: np.ndarray
    nodes: int = 24

    def __post_init__(self) -> None:
        lo = np.maximum(0, self.m - self.n2)
        hi = np.minimum(self.n1, self.m)
        size = (hi - lo + 1).astype(int)
        S = int(size.max())
        u = lo[:, None] + np.arange(S)[None, :]
        valid = np.arange(S)[None, :] < size[:, None]
        uu = np.where(valid, u, lo[:, None])
        lc = (_gammaln(self.n1 + 1)[:, None] - _gammaln(uu + 1)
              - _gammaln(self.n1[:, None] - uu + 1) + _gammaln(self.n2 + 1)[:, None]
              - _gammaln(self.m[:, None] - uu + 1)
              - _gammaln(self.n2[:, None] - self.m[:, None] + uu + 1))
        self.u = uu.astype(float)
        self.logc = np.where(valid, lc, -np.inf)
        self.logc_x = (_gammaln(self.n1 + 1) - _gammaln(self.ai + 1)
                       - _gammaln(self.n1 - self.ai + 1) + _gammaln(self.n2 + 1)
                       - _gammaln(self.m - self.ai + 1) - _gammaln(self.n2 - self.m + self.ai + 1))
        self.lo, self.hi = lo, hi
        self.t, self.logw = _gh_rule(self.nodes)

    def _moments(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """log normaliser, mean and variance of U at log odds ratios ``theta`` (k, ...)."""
        from scipy.special import logsumexp

        a = self.logc[:, None, :] + theta[..., None] * self.u[:, None, :]
        lz = logsumexp(a, axis=-1)
        p = np.exp(a - lz[..., None])
        mean = np.sum(p * self.u[:, None, :], axis=-1)
        var = np.sum(p * (self.u[:, None, :] - mean[..., None]) ** 2, axis=-1)
        return lz, mean, var

    def logp(self, theta: np.ndarray) -> np.ndarray:
        """log P(ai | theta), theta of shape (k,) or (k, q)."""
        th = theta if theta.ndim == 2 else theta[:, None]
        lz = self._moments(th)[0]
        out = self.logc_x[:, None] + self.ai[:, None] * th - lz
        return out if theta.ndim == 2 else out[:, 0]

    def loglik(self, mu: np.ndarray, tau2: float) -> np.ndarray:
        """log of the integral of P(ai | theta) N(theta; mu, tau2) dtheta per study, by
        adaptive Gauss-Hermite quadrature at the mode of the integrand."""
        return self.loglik_derivs(mu, tau2, derivs=False)[0]

    def loglik_derivs(self, mu: np.ndarray, tau2: float, derivs: bool = True
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The per-study log-likelihood and its analytic gradient and Hessian in the local
        coordinates (mu_i, log tau^2): derivatives of the integral under the integral sign,
        i.e. posterior moments of d log N(theta; mu, tau2) computed with the same quadrature
        nodes (exact to the quadrature's ~1e-13). Without tau^2: d/dmu log P = ai - E[U],
        d2 = -Var(U) (the conditional score and information)."""
        k = mu.size
        if tau2 <= 0:
            lz, mean, var = self._moments(mu[:, None])
            val = self.logc_x + self.ai * mu - lz[:, 0]
            g = (self.ai - mean[:, 0])[:, None]
            return val, g, -var[:, 0][:, None, None]
        # the mode of the log integrand (strictly concave in theta) by Newton steps kept inside
        # the bracket of the sign changes of its derivative seen so far (bisection otherwise):
        # with a large tau^2, Var(U) ~ 0 in the tails makes the plain step ~ tau^2 g, which
        # cycled (theta 152 <-> -248) and centred the quadrature far from the mode
        th = mu.copy()
        lo = np.full(k, -np.inf)
        hi = np.full(k, np.inf)
        extra = 0
        for _ in range(200):
            _, mean, var = self._moments(th[:, None])
            g = self.ai - mean[:, 0] - (th - mu) / tau2
            H = var[:, 0] + 1 / tau2
            lo = np.where(g > 0, th, lo)
            hi = np.where(g < 0, th, hi)
            new = th + g / H
            # a step past a bound already seen (both bounds known: it can only overshoot
            # towards a bound on the far side) is replaced by the bracket's midpoint
            outside = ((new <= lo) | (new >= hi)) & (new != th) & np.isfinite(lo + hi)
            new = np.where(outside, 0.5 * lo + 0.5 * hi, new)
            step = new - th
            th = new
            if np.all(np.abs(step) <= 1e-11 * (1 + np.abs(th))):
                extra += 1
                if extra > 2:
                    break
        _, _, var = self._moments(th[:, None])
        s = np.sqrt(2 / (var[:, 0] + 1 / tau2))
        nodes = th[:, None] + s[:, None] * self.t[None, :]
        from scipy.special import logsumexp

        h = self.logp(nodes) - (nodes - mu[:, None]) ** 2 / (2 * tau2)
        lw = h + self.logw[None, :] + self.t[None, :] ** 2
        val = logsumexp(lw, axis=1)
        out = val + np.log(s) - 0.5 * np.log(2 * np.pi * tau2)
        if not derivs:
            return out, np.zeros((k, 0)), np.zeros((k, 0, 0))
        w = np.exp(lw - val[:, None])                 # posterior weights at the nodes
        dev = nodes - mu[:, None]
        a = dev / tau2                                 # d log N / d mu
        b = -0.5 + dev ** 2 / (2 * tau2)               # d log N / d log tau2
        Ea, Eb = np.sum(w * a, axis=1), np.sum(w * b, axis=1)
        g = np.column_stack([Ea, Eb])
        H = np.empty((k, 2, 2))
        H[:, 0, 0] = np.sum(w * (a * a), axis=1) - 1 / tau2 - Ea ** 2
        H[:, 0, 1] = H[:, 1, 0] = np.sum(w * (a * b - a), axis=1) - Ea * Eb
        H[:, 1, 1] = np.sum(w * (b * b - dev ** 2 / (2 * tau2)), axis=1) - Eb ** 2
        return out, g, H

    def cmle(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each study's conditional MLE of the log odds ratio, its information and maximised
        log-likelihood; studies with ai at an end of the support have an infinite MLE (their
        supremum is log 1 = 0 and their information 0)."""
        interior = (self.ai > self.lo) & (self.ai < self.hi)
        th = np.zeros(self.ai.size)
        for _ in range(200):
            _, mean, var = self._moments(th[:, None])
            step = np.where(interior, (self.ai - mean[:, 0]) / np.maximum(var[:, 0], 1e-300), 0)
            step = np.clip(step, -2, 2)
            th = th + step
            if np.all(np.abs(step) <= 1e-13 * (1 + np.abs(th))):
                break
        _, _, var = self._moments(th[:, None])
        ll = np.where(interior, self.logp(th), 0.0)
        return np.where(interior, th, np.nan), np.where(interior, var[:, 0], 0.0), ll


# ============================================================================================
# maximisation: damped Newton with derivatives in each study's local coordinates
# ============================================================================================
LocalFun = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class _Problem:
    """A likelihood that is a sum over studies of ``f(F_i, rho)`` with ``F = off + A @ gamma``
    (``F`` of shape (k, c), ``A`` (k, c, d)) and ``nvar`` variance parameters ``rho`` (log
    scale) shared by the studies."""

    f: LocalFun
    A: np.ndarray
    off: np.ndarray
    nvar: int
    curv: Callable[[np.ndarray, np.ndarray], np.ndarray]  # rough curvature per cell
    h: float = 2e-3
    #: analytic value, gradient (k, q) and Hessian (k, q, q) in the local coordinates
    local: Callable[[np.ndarray, np.ndarray],
                    tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None

    def F(self, gamma: np.ndarray) -> np.ndarray:
        return self.off + np.einsum("icd,d->ic", self.A, gamma)

    def value(self, par: np.ndarray) -> float:
        d = self.A.shape[2]
        return float(np.sum(self.f(self.F(par[:d]), np.asarray(par[d:], float))))

    def derivs(self, par: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Log-likelihood, gradient and Hessian in ``par``: central differences in the local
        coordinates (the cells' linear predictors and rho) with steps scaled to each cell's
        curvature and Richardson extrapolation (error O(h^4)), then the chain rule."""
        d = self.A.shape[2]
        k, c = self.off.shape
        r = self.nvar
        F0 = self.F(par[:d])
        rho0 = np.asarray(par[d:], float)
        q = c + r
        if self.local is not None:
            f0, g, H = self.local(F0, rho0)
            return self._chain(f0, g, H, d, c, r)
        steps = np.empty((k, q))
        steps[:, :c] = self.h / np.sqrt(1.0 + self.curv(F0, rho0))
        steps[:, c:] = self.h
        f0 = self.f(F0, rho0)

        def ev(coef: dict[int, float], scale: float) -> np.ndarray:
            dF = np.zeros((k, c))
            drho = np.zeros(r)
            for a, sgn in coef.items():
                if a < c:
                    dF[:, a] += sgn * scale * steps[:, a]
                else:
                    drho[a - c] += sgn * scale * self.h
            return self.f(F0 + dF, rho0 + drho)

        def first(a: int, scale: float) -> np.ndarray:
            return (ev({a: 1}, scale) - ev({a: -1}, scale)) / (2 * scale * steps[:, a])

        def second(a: int, b: int, scale: float) -> np.ndarray:
            if a == b:
                return ((ev({a: 1}, scale) - 2 * f0 + ev({a: -1}, scale))
                        / (scale * steps[:, a]) ** 2)
            v = (ev({a: 1, b: 1}, scale) - ev({a: 1, b: -1}, scale)
                 - ev({a: -1, b: 1}, scale) + ev({a: -1, b: -1}, scale))
            return v / (4 * scale * scale * steps[:, a] * steps[:, b])

        g = np.zeros((k, q))
        H = np.zeros((k, q, q))
        for a in range(q):
            g[:, a] = (4 * first(a, 1.0) - first(a, 2.0)) / 3
            for b in range(a + 1):
                H[:, a, b] = H[:, b, a] = (4 * second(a, b, 1.0) - second(a, b, 2.0)) / 3
        return self._chain(f0, g, H, d, c, r)

    def _chain(self, f0: np.ndarray, g: np.ndarray, H: np.ndarray, d: int, c: int,
               r: int) -> tuple[float, np.ndarray, np.ndarray]:
        """Gradient and Hessian in the parameters from those in the local coordinates."""
        A = self.A
        grad = np.zeros(d + r)
        hess = np.zeros((d + r, d + r))
        grad[:d] = np.einsum("icd,ic->d", A, g[:, :c])
        hess[:d, :d] = np.einsum("icd,ice,ief->df", A, H[:, :c, :c], A)
        grad[d:] = g[:, c:].sum(axis=0)
        hess[:d, d:] = np.einsum("icd,ice->de", A, H[:, :c, c:])
        hess[d:, :d] = hess[:d, d:].T
        hess[d:, d:] = H[:, c:, c:].sum(axis=0)
        return float(f0.sum()), grad, hess


def _newton(prob: _Problem, par0: np.ndarray, tol: float = 1e-10, maxiter: int = 200,
            stop: Callable[[np.ndarray], bool] | None = None
            ) -> tuple[np.ndarray, float, np.ndarray, int, bool]:
    """Maximise by Newton steps (Levenberg damping where the Hessian is not negative definite,
    step halving until the log-likelihood increases). Returns the maximiser, the maximum, the
    Hessian of the log-likelihood there, the iterations and convergence."""
    par = par0.astype(float).copy()
    ll, g, H = prob.derivs(par)
    lam = 0.0
    noise = 1e-13 * (1 + abs(ll))
    for it in range(1, maxiter + 1):
        negH = -H
        step = None
        lam_try = lam
        for _ in range(60):
            try:
                M = negH + lam_try * np.diag(np.maximum(np.abs(np.diag(negH)), 1e-8))
                L = np.linalg.cholesky(M)
                step = np.linalg.solve(L.T, np.linalg.solve(L, g))
                break
            except np.linalg.LinAlgError:
                lam_try = max(1e-4, lam_try * 10)
        if step is None:
            return par, ll, H, it, False
        # Newton decrement: the predicted gain in log-likelihood; at the noise level of the
        # numerical derivatives (with an undamped, positive definite Hessian) we are done
        dec = float(g @ step)
        if lam_try == 0 and dec < 10 * noise:
            return par, ll, H, it, True
        t = 1.0
        for _ in range(60):
            cand = par + t * step
            new_ll = prob.value(cand)
            if np.isfinite(new_ll) and new_ll >= ll - noise:
                break
            t /= 2
        else:  # no step improves: at the numerical maximum if the predicted gain is tiny
            return par, ll, H, it, bool(dec < 1e5 * noise)
        par = cand
        if stop is not None and stop(par):  # e.g. heading for the boundary tau = 0
            ll = new_ll
            return par, ll, H, it, True
        small = np.max(np.abs(t * step)) < tol
        ll, g, H = prob.derivs(par)
        lam = lam_try / 10 if lam_try > 0 else 0.0
        if small:
            try:
                dec = float(g @ np.linalg.solve(-H, g))
            except np.linalg.LinAlgError:
                dec = np.inf
            return par, ll, H, it, bool(0 <= dec < 1e5 * noise)
    try:  # out of iterations: converged if the predicted gain is at the noise level
        dec = float(g @ np.linalg.solve(-H, g))
    except np.linalg.LinAlgError:
        dec = np.inf
    return par, ll, H, maxiter, bool(0 <= dec < 1e5 * noise)


# ============================================================================================
# results
# ============================================================================================
@dataclass(repr=False)
class GLMMResult(FittedModel):
    """A fitted GLMM meta-analysis (metafor ``rma.glmm`` fields; see :func:`meta_glmm`).

    Follows the results contract: ``beta``, ``se``, ``zval``, ``pval``, ``ci_lb``, ``ci_ub``
    (one value per coefficient, model scale: log odds ratio, log rate ratio, logit or log
    rate), ``level`` in percent, ``method_info``; plus ``tau2``, ``tau``, ``se_tau2`` (CM.EL),
    ``I2``, ``H2``, ``vt`` (typical within-study variance), the heterogeneity tests
    ``QE_Wld``/``QEp_Wld`` and ``QE_LRT``/``QEp_LRT`` (df ``QE_df``), the omnibus test ``QM``,
    the fit statistics ``ll``, ``dev``, ``AIC``, ``BIC``, ``AICc`` as metafor reports them,
    and ``ll_marginal`` (the maximised approximate marginal log-likelihood).
    """

    k: int
    beta: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    vb: np.ndarray
    level: float
    method_info: dict[str, Any]
    coef_names: list[str]
    measure: str
    model: str
    method: str
    test: str
    tau2: float
    se_tau2: float
    I2: float
    H2: float
    vt: float
    QE_Wld: float
    QEp_Wld: float
    QE_LRT: float
    QEp_LRT: float
    QE_df: int
    QM: float
    QMp: float
    QMdf: tuple[int, float]
    btt: list[int]
    ll: float
    dev: float
    AIC: float
    BIC: float
    AICc: float
    ll_marginal: float
    ll_FE: float
    ll_QE: float
    parms: int
    k_eff: int
    p: int
    int_only: bool
    slab: list[Any]
    yi: np.ndarray
    vi: np.ndarray
    X: np.ndarray = field(default_factory=lambda: np.ones((0, 1)))
    intercept: bool = True
    sigma2: float = float("nan")
    rho: float = float("nan")
    dropped: list[Any] = field(default_factory=list)

    model_name = "meta_glmm() fit (rma.glmm)"
    _dict_fields = ("k", "measure", "model", "method", "test", "coef_names", "beta", "se",
                    "zval", "pval", "ci_lb", "ci_ub", "vb", "level", "tau2", "tau", "se_tau2",
                    "sigma2", "rho", "I2", "H2", "vt", "QE_Wld", "QEp_Wld", "QE_LRT",
                    "QEp_LRT", "QE_df", "QM", "QMp", "QMdf", "btt", "ll", "dev", "AIC", "BIC",
                    "AICc", "ll_marginal", "ll_FE", "ll_QE", "parms", "k_eff", "p",
                    "int_only", "slab", "yi", "vi", "dropped", "method_info")

    @property
    def tau(self) -> float:
        """Square root of tau^2."""
        return math.sqrt(self.tau2) if self.tau2 >= 0 else float("nan")

    @property
    def fit_stats(self) -> dict[str, float]:
        """metafor's ``fitstats``: logLik, deviance, AIC, BIC, AICc (ML column)."""
        return {"ll": self.ll, "dev": self.dev, "AIC": self.AIC, "BIC": self.BIC,
                "AICc": self.AICc}

    @property
    def model_matrix(self) -> np.ndarray:
        """The model matrix X (k x p, intercept column first when there is one; read-only)."""
        X = self.X.view()
        X.flags.writeable = False
        return X

    def predict(self, newmods: Any = None, transf: Callable[..., Any] | str | None = None,
                level: float | None = None, targs: dict[str, Any] | None = None) -> Any:
        """Predicted average effect(s) with CI and prediction interval (metafor
        ``predict.rma`` on an ``rma.glmm`` fit).

        ``pred = x' beta`` with ``se = sqrt(x' vb x)``; CI ``pred +/- crit * se`` and PI ``pred
        +/- crit * sqrt(se^2 + tau^2)``, ``crit`` from the normal (or, with ``test="t"``, the t
        distribution with k - p df). Without ``newmods``: the pooled estimate (no moderators)
        or the fitted value of each study. ``newmods``: moderator values (one per prediction
        for one moderator, or rows of m values), the intercept added as in the model.
        ``transf`` (a function or a name in :mod:`evsynth.transf`, e.g. ``"exp"``,
        ``"ilogit"``) is applied to pred and the bounds (the SE is then NaN); ``level`` in
        percent (default the fit's).
        """
        from scipy.stats import norm
        from scipy.stats import t as tdist

        from evsynth import transf as _transf
        from evsynth.models.meta import make_prediction
        from evsynth.validation import level_fraction

        func, name = _transf.resolve(transf, targs, "predict")
        lvl = level_fraction(self.level if level is None else level)
        p = self.p
        m = p - (1 if self.intercept else 0)
        if newmods is None:
            Xn = np.ones((1, 1)) if self.int_only else np.asarray(self.X, float)
        else:
            if m == 0:
                raise InputError("predict: the model has no moderators, so newmods cannot be "
                                 "given; expected predict() without newmods")
            M = np.asarray(newmods, dtype=float)
            M = M.reshape(-1, 1) if (M.ndim <= 1 and m == 1) else np.atleast_2d(M)
            if M.shape[1] != m or not np.all(np.isfinite(M)):
                raise InputError(f"predict: newmods has shape {M.shape}; expected finite rows "
                                 f"of {m} moderator value(s)")
            Xn = np.column_stack([np.ones(M.shape[0]), M]) if self.intercept else M
        pred = Xn @ self.beta
        vpred = np.einsum("ij,jk,ik->i", Xn, self.vb, Xn)
        se = np.sqrt(vpred)
        if self.test == "t":
            crit = float(tdist.isf((1 - lvl) / 2, self.k - p))
        else:
            crit = float(norm.isf((1 - lvl) / 2))
        ci_lb, ci_ub = pred - crit * se, pred + crit * se
        pi_lb = pred - crit * np.sqrt(vpred + self.tau2)
        pi_ub = pred + crit * np.sqrt(vpred + self.tau2)
        return make_prediction(pred, se, (ci_lb, ci_ub), (pi_lb, pi_ub), lvl, "default", func,
                               name)

    def summary_text(self) -> str:
        return _print_glmm(self)


def _fcf(x: float, digits: int = 4) -> str:
    if x is None or not np.isfinite(x):
        return "NA"
    return f"{x:.{digits}f}"


def _pval_eq(p: float) -> str:
    if not np.isfinite(p):
        return "= NA"
    return "< .0001" if p < 1e-4 else f"= {p:.4f}"


def _stars(p: float) -> str:
    if not np.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "." if p < 0.1 \
        else ""


def _print_glmm(fit: GLMMResult) -> str:
    """The text of metafor's ``print.rma.glmm`` (digits 4, significance stars)."""
    out: list[str] = [""]
    ee = fit.method in ("FE", "EE", "CE")
    if ee:
        head = ({"FE": "Fixed-Effects Model", "EE": "Equal-Effects Model",
                 "CE": "Common-Effects Model"}[fit.method] if fit.int_only
                else "Fixed-Effects with Moderators Model")
        head += f" (k = {fit.k})"
    else:
        head = ("Random-Effects Model" if fit.int_only else "Mixed-Effects Model")
        head += f" (k = {fit.k}; tau^2 estimator: {fit.method})"
    out.append(head)
    if fit.measure in ("OR", "IRR"):
        out.append(f"Model Type: {MODEL_LABELS[fit.model]}")
    out.append("")
    if not ee:
        tau2 = fit.tau2
        dig = 0 if abs(tau2) <= _EPS * 10 else 4
        se = "" if not np.isfinite(fit.se_tau2) else f" (SE = {fit.se_tau2:.4f})"
        if fit.int_only:
            labels = ("tau^2 (estimated amount of total heterogeneity): ",
                      "tau (square root of estimated tau^2 value):      ",
                      "I^2 (total heterogeneity / total variability):   ",
                      "H^2 (total variability / sampling variability):  ")
        else:
            labels = ("tau^2 (estimated amount of residual heterogeneity):     ",
                      "tau (square root of estimated tau^2 value):             ",
                      "I^2 (residual heterogeneity / unaccounted variability): ",
                      "H^2 (unaccounted variability / sampling variability):   ")
        out.append(labels[0] + f"{tau2:.{dig}f}" + se)
        out.append(labels[1] + f"{math.sqrt(max(tau2, 0)):.{dig}f}")
        out.append(labels[2] + _fcf(fit.I2) + "%")
        out.append(labels[3] + _fcf(fit.H2))
        out.append("")
    if np.isfinite(fit.sigma2):
        dig = 0 if abs(fit.sigma2) <= _EPS * 10 else 4
        out.append("sigma^2 (estimated amount of study level variability): "
                   f"{fit.sigma2:.{dig}f}")
        out.append("sigma (square root of estimated sigma^2 value):        "
                   f"{math.sqrt(max(fit.sigma2, 0)):.{dig}f}")
        if np.isfinite(fit.rho):  # cor=True (metafor stores rho but does not print it)
            out.append("rho (correlation of the random study and treatment effects): "
                       f"{fit.rho:.4f}")
        out.append("")
    if np.isfinite(fit.QE_Wld) or np.isfinite(fit.QE_LRT):
        w, lr = _fcf(fit.QE_Wld), _fcf(fit.QE_LRT)
        width = max(len(w), len(lr))
        out.append("Tests for Heterogeneity:" if fit.int_only
                   else "Tests for Residual Heterogeneity:")
        out.append(f"Wld(df = {fit.QE_df}) = {w.rjust(width)}, p-val {_pval_eq(fit.QEp_Wld)}")
        out.append(f"LRT(df = {fit.QE_df}) = {lr.rjust(width)}, p-val {_pval_eq(fit.QEp_LRT)}")
        out.append("")
    m = len(fit.btt)
    if fit.p > 1 and np.isfinite(fit.QM):
        btt = _format_btt([b + 1 for b in fit.btt])
        out.append(f"Test of Moderators (coefficient{' ' if m == 1 else 's '}{btt}):")
        if fit.test == "t":
            out.append(f"F(df1 = {fit.QMdf[0]}, df2 = {fit.QMdf[1]:g}) = {fit.QM:.4f}, "
                       f"p-val {_pval_eq(fit.QMp)}")
        else:
            out.append(f"QM(df = {m}) = {fit.QM:.4f}, p-val {_pval_eq(fit.QMp)}")
        out.append("")
    out.append("Model Results:")
    out.append("")
    stat = "tval" if fit.test == "t" else "zval"
    cols: list[list[str]] = [["estimate"] + [_fcf(v) for v in fit.beta],
                             ["se"] + [_fcf(v) for v in fit.se],
                             [stat] + [_fcf(v) for v in fit.zval]]
    if fit.test == "t":
        cols.append(["df"] + [f"{fit.k - fit.p}"] * fit.p)
    cols += [["pval"] + [fmt_p(v) for v in fit.pval],
             ["ci.lb"] + [_fcf(v) for v in fit.ci_lb],
             ["ci.ub"] + [_fcf(v) for v in fit.ci_ub]]
    stars = [""] + [_stars(v) for v in fit.pval]
    widths = [max(len(s) for s in c) for c in cols]
    swidth = max(len(s) for s in stars)
    names = [""] + (list(fit.coef_names) if not fit.int_only else [""])
    nwidth = max(len(s) for s in names)
    for r in range(len(names)):
        cells = [c[r].rjust(wd) for c, wd in zip(cols, widths, strict=True)]
        line = "  ".join(cells) + "  " + stars[r].rjust(swidth) + " "
        out.append((names[r].ljust(nwidth) + "  " + line) if nwidth else line)
    out.append("")
    out.append("---")
    out.append("Signif. codes:  0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 0.05 "
               "\u2018.\u2019 0.1 \u2018 \u2019 1")
    out.append("")
    return "\n".join(out)


def _format_btt(idx: list[int]) -> str:
    """metafor's ``.format.btt``: runs of consecutive indices as ``a:b``."""
    if len(idx) > 1 and all(b - a == 1 for a, b in zip(idx, idx[1:], strict=False)):
        return f"{idx[0]}:{idx[-1]}"
    return ",".join(str(i) for i in idx)


# ============================================================================================
# input
# ============================================================================================
def _counts(field_name: str, value: Any, data: pd.DataFrame | None, labels: list | None,
            *, positive: bool = False) -> np.ndarray:
    """A per-study count (or person-time with ``positive``), checked: finite, >= 0 (or > 0),
    whole numbers for counts; messages name the study and field."""
    x = numeric_vector(field_name, value, data, labels=labels)
    for i, v in enumerate(x):
        if positive:
            if not v > 0:
                raise InputError(f"{study_name(i, labels)}: field '{field_name}' is {v:g}; "
                                 "expected a positive person-time")
        elif v < 0:
            raise InputError(f"{study_name(i, labels)}: field '{field_name}' is {v:g}; expected "
                             "a count >= 0")
        elif v != math.floor(v):
            raise InputError(f"{study_name(i, labels)}: field '{field_name}' is {v:g}; expected "
                             "a whole number (a count)")
    return x


def _check_le(a: np.ndarray, b: np.ndarray, fa: str, fb: str, labels: list | None) -> None:
    for i in np.flatnonzero(a > b):
        raise InputError(f"{study_name(int(i), labels)}: field '{fa}' is {a[i]:g} but '{fb}' is "
                         f"{b[i]:g}; expected {fa} <= {fb} (events cannot exceed the total)")


def _non_events(events: np.ndarray, fields: tuple[str, str, str], non: Any, total: Any,
                data: pd.DataFrame | None, labels: list | None, missing: str) -> np.ndarray:
    """Non-events given directly (``fields[1]``) or as total (``fields[2]``) minus events
    (``fields[0]``, checked not to exceed the total); ``missing`` is the message when neither
    is given."""
    fe, fn, ft = fields
    if non is not None:
        return _counts(fn, non, data, labels)
    if total is not None:
        n = _counts(ft, total, data, labels)
        _check_le(events, n, fe, ft, labels)
        return n - events
    raise InputError(missing)


def _given(**kw: Any) -> list[str]:
    return [k for k, v in kw.items() if v is not None]


# ============================================================================================
# the entry point
# ============================================================================================
def meta_glmm(measure: str, *, ai: Any = None, bi: Any = None, ci: Any = None, di: Any = None,
              n1i: Any = None, n2i: Any = None, x1i: Any = None, x2i: Any = None,
              t1i: Any = None, t2i: Any = None, xi: Any = None, mi: Any = None,
              ti: Any = None, ni: Any = None, mods: Any = None, intercept: bool = True,
              data: Any = None, slab: Any = None, model: str = "UM.FS", method: str = "ML",
              test: str = "z", level: float = 95, nAGQ: int = 7, drop00: bool = True,
              cor: bool = False, control: dict[str, Any] | None = None) -> GLMMResult:
    """Meta-analysis of counts by a generalised linear (mixed-effects) model (metafor
    ``rma.glmm``; Stijnen, Hamza & Ozdemir 2010).

    Parameters
    ----------
    measure : {"OR", "IRR", "PLO", "IRLN"}
        Log odds ratio (2x2 tables ``ai, bi, ci, di`` or ``ai, n1i, ci, n2i``), log incidence
        rate ratio (``x1i, t1i, x2i, t2i``), logit proportion (``xi`` with ``mi`` non-events
        or ``ni`` totals), log incidence rate (``xi, ti``).
    ai, bi, ci, di, n1i, n2i, x1i, x2i, t1i, t2i, xi, mi, ti, ni : array_like or str
        Counts and person-times per study (or column names of ``data``), metafor's names.
    mods : array_like or str, optional
        Moderators (k x m array, or a formula such as ``"~ ablat"`` with ``data=``). For OR and
        IRR they modify the treatment effect (the interaction with the group indicator).
    intercept : bool, default True
        Include an intercept.
    data : pandas.DataFrame, optional
        Data frame whose columns the string arguments name.
    slab : array_like or str, optional
        Study labels.
    model : {"UM.FS", "UM.RS", "CM.EL", "CM.AL"}, default "UM.FS"
        Model for OR and IRR (see the module description); ignored, with a warning, for PLO and
        IRLN. ``"UM.RS"``: random study effects (variance ``sigma2``) and an independent
        random treatment effect (metafor's default ``cor=FALSE``), Laplace approximation.
    method : {"ML", "EE"}, default "ML"
        ``"ML"``: random/mixed effects, tau^2 by maximum likelihood; ``"EE"`` (``"FE"``,
        ``"CE"``): tau^2 = 0.
    test : {"z", "t"}, default "z"
        Wald tests and CIs from the normal or from the t distribution with k - p df.
    level : float, default 95
        Confidence level in percent (or as a fraction).
    nAGQ : int, default 7
        Quadrature nodes per study for the lme4-type GLMMs (1: Laplace approximation).
    drop00 : bool, default True
        Drop studies without events in both arms (OR; and for IRR no events in either arm), as
        metafor; they carry no information on the (conditional) treatment effect.
    cor : bool, default False
        ``model="UM.RS"``: let the random study effect and the random treatment effect be
        correlated (metafor's ``cor``; lme4's ``(group | study)`` instead of ``(group ||
        study)``). The estimated correlation is ``rho`` (with ``sigma2`` and ``tau2``; in
        ``to_dict()`` and ``summary()``); ``parms`` does not count it, as metafor's. Ignored for
        ``method="EE"`` (as metafor, whose equal-effects UM.RS fit has no treatment effect
        variance); an InputError for other models (metafor ignores it there silently).
    control : dict, optional
        ``tol`` (Newton step tolerance, 1e-10), ``maxiter`` (200), ``nodes`` (quadrature nodes
        of the CM.EL integral, 24), ``glm_epsilon`` / ``glm_maxit`` (R's glm settings for the
        fixed-effects and saturated models, 1e-8 / 25), ``tau_start`` (start value of tau, 0.3;
        UM.FS, CM.AL, PLO, IRLN and CM.EL for IRR: a fit that ends at tau^2 = 0 is repeated
        from glmer's tau = 1, and the higher maximum is kept, with a note).

    Returns
    -------
    GLMMResult
        ``beta``, ``se``, ``zval``, ``pval``, ``ci_lb``, ``ci_ub``, ``tau2``, ``I2``, ``H2``,
        ``QE_Wld``, ``QE_LRT`` (and p-values), ``QM``, fit statistics; ``summary()`` prints as
        metafor's ``print.rma.glmm``.

    References
    ----------
    Stijnen T, Hamza TH, Ozdemir P (2010). Stat Med 29:3046-3067. doi:10.1002/sim.4040

    Turner RM, Omar RZ, Yang M, Goldstein H, Thompson SG (2000). A multilevel model framework
    for meta-analysis of clinical trials with binary outcomes. Stat Med 19:3417-3432.
    doi:10.1002/1097-0258(20001230)19:24<3417::AID-SIM614>3.0.CO;2-L

    Viechtbauer W (2010). J Stat Softw 36(3). doi:10.18637/jss.v036.i03

    Examples
    --------
    >>> import evsynth
    >>> fit = evsynth.meta_glmm("PLO", xi=[16, 10, 4, 43, 10], ni=[17, 12, 8, 58, 10])
    >>> round(fit.estimate, 4), round(fit.tau2, 4), fit.k   # metafor: 1.5988, 0.6268
    (1.5988, 0.6268, 5)
    """
    t_start = time.perf_counter()
    measure = choice(measure, GLMM_MEASURES, "measure")
    model = choice(model, GLMM_MODELS, "model")
    method = choice(method, GLMM_METHODS, "method")
    test = test_code(test)
    if test not in ("z", "t"):
        raise InputError(f"argument 'test' is {test!r}; expected 'z' or 't' (rma.glmm offers "
                         "no Knapp-Hartung adjustment)")
    level = level_percent(level)
    if isinstance(nAGQ, (bool, np.bool_)) or not isinstance(nAGQ, (int, np.integer)) \
            or nAGQ < 1:
        raise InputError(f"argument 'nAGQ' is {nAGQ!r}; expected a whole number >= 1")
    nAGQ = int(nAGQ)
    ctrl = control_settings(control, _CONTROL)
    frame = as_frame(data)
    notes: list[str] = []
    if measure in ("PLO", "IRLN") and model != "UM.FS":
        warnings.warn("argument 'model' is not relevant for this measure (as in metafor)",
                      stacklevel=2)
        model = "UM.FS"
    if measure == "IRR" and model == "CM.AL":
        model = "CM.EL"
        notes.append("model CM.AL for IRR is the conditional binomial model CM.EL (metafor)")
    cor = flag("cor", cor)
    if cor and model != "UM.RS":
        raise InputError(f"argument 'cor' is True but model is {model!r}; correlated random "
                         "study and treatment effects exist only in model='UM.RS' (metafor "
                         "ignores cor for the other models)")
    if model == "UM.RS" and method == "ML" and nAGQ > 1:
        msg = ("model 'UM.RS' with two random effects per study uses the Laplace "
               "approximation: nAGQ set to 1 (as metafor, whose glmer() allows nAGQ > 1 only "
               "for one scalar random effect)")
        warnings.warn(msg, stacklevel=2)
        notes.append(msg)
        nAGQ = 1

    # ---- data ---------------------------------------------------------------------------
    given = _given(ai=ai, bi=bi, ci=ci, di=di, n1i=n1i, n2i=n2i, x1i=x1i, x2i=x2i, t1i=t1i,
                   t2i=t2i, xi=xi, mi=mi, ti=ti, ni=ni)
    need = {"OR": ("ai", "ci"), "IRR": ("x1i", "x2i", "t1i", "t2i"), "PLO": ("xi",),
            "IRLN": ("xi", "ti")}[measure]
    missing = [f for f in need if f not in given]
    if missing:
        raise InputError(f"measure {measure!r} needs {', '.join(missing)}; got "
                         f"{', '.join(given) or 'no data'}")
    first = {"OR": ai, "IRR": x1i, "PLO": xi, "IRLN": xi}[measure]
    # the number of studies from the raw column (validated below with the study labels)
    k_all = int(np.size(np.asarray(column(need[0], first, frame), dtype=object)))
    labels = study_labels(slab, frame, k_all)
    if measure == "OR":
        a = _counts("ai", ai, frame, labels)
        c = _counts("ci", ci, frame, labels)
        b = _non_events(a, ("ai", "bi", "n1i"), bi, n1i, frame, labels,
                        "measure 'OR' needs bi (non-events of group 1) or n1i (its total)")
        d = _non_events(c, ("ci", "di", "n2i"), di, n2i, frame, labels,
                        "measure 'OR' needs di (non-events of group 2) or n2i (its total)")
        for arr, f1, f2 in ((a + b, "ai", "bi"), (c + d, "ci", "di")):
            for i in np.flatnonzero(arr <= 0):
                raise InputError(f"{study_name(int(i), labels)}: fields '{f1}' and '{f2}' are "
                                 "both 0; expected a group with at least one participant")
        sizes = {a.size, b.size, c.size, d.size}
        if len(sizes) > 1:
            raise InputError(f"ai, bi/n1i, ci, di/n2i have different lengths {sorted(sizes)}")
        drop = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0)) if drop00 else np.zeros(a.size, bool)
        counts = {"ai": a, "bi": b, "ci": c, "di": d}
    elif measure == "IRR":
        x1 = _counts("x1i", x1i, frame, labels)
        x2 = _counts("x2i", x2i, frame, labels)
        t1 = _counts("t1i", t1i, frame, labels, positive=True)
        t2 = _counts("t2i", t2i, frame, labels, positive=True)
        if len({x1.size, x2.size, t1.size, t2.size}) > 1:
            raise InputError("x1i, x2i, t1i, t2i have different lengths")
        drop = ((x1 == 0) & (x2 == 0)) if drop00 else np.zeros(x1.size, bool)
        counts = {"x1i": x1, "x2i": x2, "t1i": t1, "t2i": t2}
    elif measure == "PLO":
        x = _counts("xi", xi, frame, labels)
        mm = _non_events(x, ("xi", "mi", "ni"), mi, ni, frame, labels,
                         "measure 'PLO' needs mi (non-events) or ni (totals)")
        if x.size != mm.size:
            raise InputError("xi and mi/ni have different lengths")
        for i in np.flatnonzero(x + mm <= 0):
            raise InputError(f"{study_name(int(i), labels)}: the total (xi + mi) is 0; expected "
                             "a study with at least one participant")
        drop = np.zeros(x.size, bool)
        counts = {"xi": x, "mi": mm}
    else:
        x = _counts("xi", xi, frame, labels)
        tt = _counts("ti", ti, frame, labels, positive=True)
        if x.size != tt.size:
            raise InputError("xi and ti have different lengths")
        drop = np.zeros(x.size, bool)
        counts = {"xi": x, "ti": tt}

    from evsynth.models.meta import build_model_matrix

    mm_all = build_model_matrix(mods, frame, intercept, k_all, labels)
    X_all, coef_names = mm_all.X, list(mm_all.names)
    keep = ~drop
    slab_all = labels if labels is not None else list(range(1, k_all + 1))
    dropped = [slab_all[i] for i in np.flatnonzero(drop)]
    if dropped:
        msg = (f"{len(dropped)} stud{'y' if len(dropped) == 1 else 'ies'} without events in "
               f"both groups omitted from model fitting (drop00, as metafor): "
               f"{', '.join(map(str, dropped))}")
        warnings.warn(msg, stacklevel=2)
        notes.append(msg)
    cnt = {key: v[keep] for key, v in counts.items()}
    X = X_all[keep]
    k = int(keep.sum())
    slab_used = [slab_all[i] for i in np.flatnonzero(keep)]
    p = X.shape[1]
    if k < 1:
        raise InputError("no studies left to fit (all have no events in both groups)")
    if np.linalg.matrix_rank(X) < p:
        raise InputError("the model matrix is not of full rank (redundant moderators); "
                         "cannot fit the model")
    ee = method in ("FE", "EE", "CE")
    if (ee and p > k) or (not ee and p + 1 > k):
        raise InputError(f"the model has more parameters ({p + (0 if ee else 1)}) than studies "
                         f"(k = {k})")
    int_only = p == 1 and mm_all.intercept
    int_incl = mm_all.intercept

    # ---- escalc sampling variances (add 1/2 to studies with a zero, as metafor) -----------
    yi, vi = _escalc(measure, cnt)

    settings = {"tol": ctrl.get("tol", 1e-10), "maxiter": ctrl.get("maxiter", 200),
                "nodes": ctrl.get("nodes", 24), "eps": ctrl.get("glm_epsilon", 1e-8),
                "maxit": ctrl.get("glm_maxit", 25), "tau0": ctrl.get("tau_start", 0.3)}
    if model == "CM.EL" and measure == "OR":
        core = _fit_cmel(cnt, X, ee, settings)
    elif model == "UM.RS":
        core = _fit_umrs(measure, cnt, X, ee, nAGQ, settings, cor=bool(cor) and not ee)
    else:
        core = _fit_glmm(measure, model, cnt, X, ee, nAGQ, settings)

    beta, vb = core["beta"], core["vb"]
    tau2 = core["tau2"]
    notes += core.get("notes", [])
    if np.any(np.abs(beta) > 15):
        msg = ("meta_glmm: a coefficient is beyond +/-15 on the model scale: its maximum "
               "likelihood estimate is probably infinite (e.g. no events in one group of every "
               "study); the numbers are where the iterations stopped, as in metafor")
        warnings.warn(msg, stacklevel=2)
        notes.append(msg)
    if not core["converged"]:
        msg = (f"meta_glmm: the maximisation did not converge ({core['iterations']} Newton "
               "iterations); the likelihood may have no finite maximum (e.g. tau^2 growing "
               "without bound with studies whose odds ratio is 0 or infinite)")
        warnings.warn(msg, stacklevel=2)
        notes.append(msg)
    # ---- heterogeneity tests ---------------------------------------------------------------
    from scipy.stats import chi2

    QE_df = k - p
    QE_Wld, QE_LRT = core["QE_Wld"], core["QE_LRT"]
    if k > 1:
        QE_Wld = max(QE_Wld, 0.0) if np.isfinite(QE_Wld) else QE_Wld
        QE_LRT = max(QE_LRT, 0.0) if np.isfinite(QE_LRT) else QE_LRT
        QEp_Wld = float(chi2.sf(QE_Wld, QE_df)) if QE_df > 0 else 1.0
        QEp_LRT = float(chi2.sf(QE_LRT, QE_df)) if QE_df > 0 else 1.0
    else:
        QE_Wld = QE_LRT = QEp_Wld = QEp_LRT = float("nan")
    # ---- I^2, H^2 with the typical within-study variance (metafor's i2def 1) --------------
    ok = np.isfinite(yi) & np.isfinite(vi)
    Xy = X[ok]
    wi = 1 / vi[ok]
    XtW = Xy.T * wi
    P = np.diag(wi) - XtW.T @ np.linalg.solve(XtW @ Xy, XtW)
    vt = float((ok.sum() - p) / np.trace(P)) if ok.sum() > p else float("nan")
    I2 = 100 * tau2 / (vt + tau2)
    H2 = tau2 / vt + 1
    # ---- Wald tests -------------------------------------------------------------------------
    from scipy.stats import f as fdist
    from scipy.stats import norm
    from scipy.stats import t as tdist

    btt = list(range(1, p)) if (int_incl and p > 1) else list(range(p))
    m = len(btt)
    bb = beta[btt]
    try:
        QM = float(bb @ np.linalg.solve(vb[np.ix_(btt, btt)], bb))
    except np.linalg.LinAlgError:
        QM = float("nan")
    se = np.sqrt(np.where(np.diag(vb) >= 0, np.diag(vb), np.nan))
    zval = beta / se
    alpha = 1 - level / 100
    if test == "t":
        ddf = k - p
        QM = QM / m
        QMdf: tuple[int, float] = (m, float(ddf))
        QMp = float(fdist.sf(QM, m, ddf)) if ddf > 0 else float("nan")
        pval = 2 * tdist.sf(np.abs(zval), ddf) if ddf > 0 else np.full(p, np.nan)
        crit = float(tdist.isf(alpha / 2, ddf)) if ddf > 0 else float("nan")
    else:
        QMdf = (m, float("nan"))
        QMp = float(chi2.sf(QM, m))
        pval = 2 * norm.sf(np.abs(zval))
        crit = float(norm.isf(alpha / 2))
    ci_lb, ci_ub = beta - crit * se, beta + crit * se
    # ---- fit statistics (metafor's definitions) ---------------------------------------------
    ll = core["ll"]
    parms, k_eff = core["parms"], core["k_eff"]
    dev = -2 * (ll - core["ll_QE"])
    AIC = -2 * ll + 2 * parms
    BIC = -2 * ll + parms * math.log(k_eff)
    kk = max(k_eff, parms + 2)
    AICc = -2 * ll + 2 * parms * kk / (kk - parms - 1)
    info = {"measure": measure, "model": model, "method": method, "test": test,
            "level": level, "nAGQ": core.get("nAGQ"), "optimizer": core["optimizer"],
            "cor": bool(cor) and model == "UM.RS",
            "converged": core["converged"], "iterations": core["iterations"],
            "tol": settings["tol"], "drop00": drop00, "k_all": k_all, "notes": notes,
            "likelihood": core["likelihood"],
            "time_seconds": round(time.perf_counter() - t_start, 4),
            "reference": "metafor rma.glmm (Viechtbauer 2010); Stijnen, Hamza & Ozdemir 2010, "
                         "doi:10.1002/sim.4040"}
    return GLMMResult(
        k=k, beta=beta, se=se, zval=zval, pval=pval, ci_lb=ci_lb, ci_ub=ci_ub, vb=vb,
        level=level, method_info=info, coef_names=coef_names, measure=measure, model=model,
        method=method, test=test, tau2=float(tau2), se_tau2=float(core.get("se_tau2", np.nan)),
        I2=float(I2), H2=float(H2), vt=vt, QE_Wld=float(QE_Wld), QEp_Wld=float(QEp_Wld),
        QE_LRT=float(QE_LRT), QEp_LRT=float(QEp_LRT), QE_df=int(QE_df), QM=QM, QMp=QMp,
        QMdf=QMdf, btt=btt, ll=float(ll), dev=float(dev), AIC=float(AIC), BIC=float(BIC),
        AICc=float(AICc), ll_marginal=float(core["ll_marginal"]), ll_FE=float(core["ll_FE"]),
        ll_QE=float(core["ll_QE"]), parms=int(parms), k_eff=int(k_eff), p=p,
        int_only=bool(int_only), slab=slab_used, yi=yi, vi=vi, X=X, intercept=bool(int_incl),
        sigma2=float(core.get("sigma2", np.nan)), rho=float(core.get("rho", np.nan)),
        dropped=dropped)


def _escalc(measure: str, cnt: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """metafor ``escalc`` with add = 1/2 to the studies with a zero (to = "only0")."""
    if measure == "OR":
        tab = np.column_stack([cnt["ai"], cnt["bi"], cnt["ci"], cnt["di"]])
        tab = tab + 0.5 * np.any(tab == 0, axis=1)[:, None]
        a, b, c, d = tab.T
        return np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d
    if measure == "IRR":
        x = np.column_stack([cnt["x1i"], cnt["x2i"]])
        x = x + 0.5 * np.any(x == 0, axis=1)[:, None]
        return (np.log(x[:, 0] / cnt["t1i"]) - np.log(x[:, 1] / cnt["t2i"]),
                1 / x[:, 0] + 1 / x[:, 1])
    if measure == "PLO":
        x = np.column_stack([cnt["xi"], cnt["mi"]])
        x = x + 0.5 * np.any(x == 0, axis=1)[:, None]
        return np.log(x[:, 0] / x[:, 1]), 1 / x[:, 0] + 1 / x[:, 1]
    x = cnt["xi"] + 0.5 * (cnt["xi"] == 0)
    return np.log(x / cnt["ti"]), 1 / x


def _inv_neg(H: np.ndarray) -> np.ndarray:
    """(-H)^-1, or NaN where the Hessian is singular (a parameter at infinity or not
    identified; metafor: "Cannot invert Hessian")."""
    try:
        return np.linalg.inv(-H)
    except np.linalg.LinAlgError:
        return np.full(H.shape, np.nan)


def _wrss(theta: np.ndarray, var: np.ndarray, X: np.ndarray) -> float:
    """Weighted residual sum of squares of ``theta`` on ``X`` with weights ``1/var``: the Wald
    statistic of the saturated model against the model (invariant to how the saturated model
    is parameterised, so equal to metafor's test of the saturated model's extra coefficients)."""
    w = 1 / var
    XtW = X.T * w
    bhat = np.linalg.solve(XtW @ X, XtW @ theta)
    r = theta - X @ bhat
    return float(np.sum(w * r * r))


# ============================================================================================
# lme4-type models: UM.FS (OR, IRR), CM.AL (OR), the conditional IRR model, PLO, IRLN
# ============================================================================================
def _fit_glmm(measure: str, model: str, cnt: dict[str, np.ndarray], X: np.ndarray, ee: bool,
              nagq: int, st: dict[str, Any]) -> dict[str, Any]:
    k, p = X.shape
    fam = "poisson" if measure in ("IRR", "IRLN") and model == "UM.FS" else "binomial"
    if measure == "OR" and model == "UM.FS":
        y = np.column_stack([cnt["ai"], cnt["ci"]])
        n = np.column_stack([cnt["ai"] + cnt["bi"], cnt["ci"] + cnt["di"]])
        off = np.zeros((k, 2))
    elif measure == "IRR" and model == "UM.FS":
        y = np.column_stack([cnt["x1i"], cnt["x2i"]])
        n = np.ones((k, 2))
        off = np.log(np.column_stack([cnt["t1i"], cnt["t2i"]]))
    elif measure == "OR":  # CM.AL
        y = cnt["ai"][:, None]
        n = (cnt["ai"] + cnt["ci"])[:, None]
        off = np.log((cnt["ai"] + cnt["bi"]) / (cnt["ci"] + cnt["di"]))[:, None]
    elif measure == "IRR":  # conditional binomial model
        y = cnt["x1i"][:, None]
        n = (cnt["x1i"] + cnt["x2i"])[:, None]
        off = np.log(cnt["t1i"] / cnt["t2i"])[:, None]
    elif measure == "PLO":
        y = cnt["xi"][:, None]
        n = (cnt["xi"] + cnt["mi"])[:, None]
        off = np.zeros((k, 1))
    else:  # IRLN
        y = cnt["xi"][:, None]
        n = np.ones((k, 1))
        off = np.log(cnt["ti"])[:, None]
    unconditional = model == "UM.FS" and measure in ("OR", "IRR")
    c = y.shape[1]
    # fixed-effects design in cells: (k, c, d)
    if unconditional:
        d = p + k
        A = np.zeros((k, 2, d))
        A[:, 0, :p] = X                     # X.fit = group1 * X
        A[np.arange(k), :, p + np.arange(k)] = 1.0   # study dummies
        z = np.tile([0.5, -0.5], (k, 1))   # metafor's coding = 1/2
    else:
        d = p
        A = X[:, None, :].copy()
        z = np.ones((k, 1))
    yv, nv, offv = y.ravel(), n.ravel(), off.ravel()
    Av = A.reshape(k * c, d)
    # equal-effects model (glm)
    fe = _glm_fit(fam, yv, nv, Av, offv, st["eps"], st["maxit"])
    # saturated model (glm with one parameter per cell)
    sat = _glm_fit(fam, yv, nv, None, offv, st["eps"], st["maxit"])
    theta = sat.coef.reshape(k, c)
    cellvar = np.diag(sat.vcov).reshape(k, c)
    if unconditional:
        th, vth = theta[:, 0] - theta[:, 1], cellvar.sum(axis=1)
    else:
        th, vth = theta[:, 0], cellvar[:, 0]
    QE_Wld = _wrss(th, vth, X) if k > p else 0.0
    QE_LRT = -2 * (fe.ll - sat.ll)
    agq = _AGQ(fam, y, n, z, nagq)
    out: dict[str, Any] = {"ll_FE": fe.ll, "ll_QE": sat.ll, "QE_Wld": QE_Wld, "QE_LRT": QE_LRT,
                           "nAGQ": nagq,
                           "likelihood": ("binomial" if fam == "binomial" else "Poisson")
                           + " GLMM" + ("" if ee else (", Laplace approximation" if nagq == 1
                                        else f", adaptive Gauss-Hermite quadrature "
                                             f"({nagq} nodes)"))}
    if ee:
        out.update(beta=fe.coef[:p], vb=fe.vcov[:p, :p], tau2=0.0, ll=fe.ll,
                   ll_marginal=fe.ll, parms=p + (k if unconditional else 0),
                   k_eff=2 * k if unconditional else k, optimizer="IRLS (R glm.fit)",
                   converged=fe.converged, iterations=fe.iterations)
        return out

    def log_tau(rho: np.ndarray) -> float:
        # a trial step may take log tau to -600: tau^2 would underflow to 0 (and 1 / tau^2
        # fail); below e^-30 the likelihood is the equal-effects one to machine precision
        return min(max(float(rho[0]), -30.0), 20.0)

    def f(F: np.ndarray, rho: np.ndarray) -> np.ndarray:
        return agq.loglik(F, math.exp(log_tau(rho)))

    def curv(F: np.ndarray, rho: np.ndarray) -> np.ndarray:
        w = _cell_d12(fam, y, n, F)[1]
        return w / (1 + w * z ** 2 * math.exp(2 * log_tau(rho)))

    prob = _Problem(f, A, off, 1, curv)

    def fit_from(tau0: float) -> tuple[np.ndarray, float, np.ndarray, int, bool]:
        # tau below 1e-4 (tau^2 < 1e-8): the maximum is at the boundary tau = 0 (lme4 stops
        # there with tau^2 ~ 1e-14), where the model is the equal-effects glm
        return _newton(prob, np.concatenate([fe.coef, [math.log(tau0)]]), st["tol"],
                       st["maxiter"], stop=lambda q: bool(q[d] < math.log(1e-4)))

    par, llm, H, it, conv = fit_from(st["tau0"])
    if (par[d] < math.log(1e-4) or not llm > fe.ll) and st["tau0"] != 1.0:
        # the profile likelihood of tau can have a second, higher maximum inside: try glmer's
        # start (theta = 1) before settling for the boundary
        second = fit_from(1.0)
        if second[0][d] >= math.log(1e-4) and second[1] > fe.ll:
            par, llm, H, it, conv = second
            out["notes"] = [f"the fit from tau = {st['tau0']:g} ended at tau^2 = 0, a local "
                            "maximum of the likelihood; a second start at tau = 1 (glmer's) "
                            "found the higher maximum reported"]
    tau = math.exp(min(float(par[d]), 30.0))
    boundary = tau < 1e-4
    if boundary or not llm > fe.ll:
        gamma, tau, llm = fe.coef, 0.0, fe.ll
        vfull = fe.vcov
    else:
        gamma = par[:d]
        try:
            vfull = np.linalg.inv(-H)[:d, :d]
        except np.linalg.LinAlgError:
            vfull = np.full((d, d), np.nan)
    Fhat = prob.F(gamma)
    cdev = agq.cond_deviance(Fhat, tau)
    out.update(beta=gamma[:p], vb=vfull[:p, :p], tau2=tau * tau, ll=sat.ll - cdev / 2,
               ll_marginal=llm, parms=p + 1 + (k if unconditional else 0),
               k_eff=2 * k if unconditional else k,
               optimizer="Newton (damped; derivatives in the linear predictors)",
               converged=bool(conv or boundary), iterations=it)
    return out


# ============================================================================================
# CM.EL for odds ratios
# ============================================================================================
def _fit_cmel(cnt: dict[str, np.ndarray], X: np.ndarray, ee: bool,
              st: dict[str, Any]) -> dict[str, Any]:
    k, p = X.shape
    a, b, c, d = cnt["ai"], cnt["bi"], cnt["ci"], cnt["di"]
    nch = _NCHG(a, a + b, c + d, a + c, nodes=st["nodes"])
    # start: the binomial approximation (glm of CM.AL), as metafor
    off1 = np.log((a + b) / (c + d))
    start = _glm_fit("binomial", a, a + c, X, off1, st["eps"], st["maxit"]).coef
    A = X[:, None, :]
    zero = np.zeros((k, 1))
    def curv(F: np.ndarray, rho: np.ndarray) -> np.ndarray:
        w = nch._moments(F)[2]
        return w / (1 + w * math.exp(min(float(rho[0]), 30.0))) if rho.size else w

    def local_fe(F: np.ndarray, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return nch.loglik_derivs(F[:, 0], 0.0)

    prob_fe = _Problem(lambda F, rho: nch.logp(F[:, 0]), A, zero, 0, curv, local=local_fe)
    gam, ll_fe, H_fe, it_fe, conv_fe = _newton(prob_fe, start, st["tol"], st["maxiter"])
    th, info, llq = nch.cmle()
    fin = np.isfinite(th)
    ll_qe = float(np.sum(llq))
    QE_Wld = _wrss(th[fin], 1 / info[fin], X[fin]) if fin.sum() > p else 0.0
    out: dict[str, Any] = {"ll_FE": ll_fe, "ll_QE": ll_qe, "QE_Wld": QE_Wld,
                           "QE_LRT": -2 * (ll_fe - ll_qe), "nAGQ": None,
                           "likelihood": "non-central hypergeometric (exact conditional)"
                           + ("" if ee else f", integrated by adaptive Gauss-Hermite "
                              f"quadrature ({st['nodes']} nodes)")}
    if ee:
        out.update(beta=gam, vb=_inv_neg(H_fe), tau2=0.0, ll=ll_fe, ll_marginal=ll_fe,
                   parms=p, k_eff=k, optimizer="Newton", converged=conv_fe, iterations=it_fe)
        return out

    def f(F: np.ndarray, rho: np.ndarray) -> np.ndarray:
        return nch.loglik(F[:, 0], math.exp(min(float(rho[0]), 30.0)))

    def local(F: np.ndarray, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return nch.loglik_derivs(F[:, 0], math.exp(min(float(rho[0]), 30.0)))

    prob = _Problem(f, A, zero, 1, curv, local=local)
    par0 = np.concatenate([gam, [math.log(st["tau0"] ** 2)]])
    par, llm, H, it, conv = _newton(prob, par0, st["tol"], st["maxiter"],
                                    stop=lambda q: bool(q[p] < math.log(1e-8)))
    tau2 = math.exp(min(float(par[p]), 60.0))
    if tau2 < 1e-8 or not llm > ll_fe:  # the boundary tau^2 = 0: the equal-effects model
        conv = conv or tau2 < 1e-8
        out.update(beta=gam, vb=_inv_neg(H_fe), tau2=0.0, se_tau2=float("nan"),
                   ll=ll_fe, ll_marginal=ll_fe)
    else:
        V = _inv_neg(H)
        se_tau2 = math.sqrt(V[p, p]) * tau2 if V[p, p] >= 0 else float("nan")
        out.update(beta=par[:p], vb=V[:p, :p], tau2=tau2, se_tau2=se_tau2, ll=llm,
                   ll_marginal=llm)
    out.update(parms=p + 1, k_eff=k, optimizer="Newton", converged=conv, iterations=it)
    return out


# the diagnostics metafor defines for rma.glmm (registered on import of this module)
from evsynth.models.diagnostics import glmm_diag as _glmm_diag  # noqa: E402,F401


# ============================================================================================
# UM.RS: random study effects (lme4 formula ~ X.fit + const + (group || study))
# ============================================================================================
@dataclass
class _Laplace2:
    """Laplace approximation of a study's likelihood with two random effects: an intercept
    ``u ~ N(0, sigma^2)`` (coefficient 1 in both arms) and a treatment effect ``v ~ N(0,
    tau^2)`` (coefficient +1/2 / -1/2), independent as ``glmer`` with ``(group || study)``, or
    with covariance ``cov = rho sigma tau`` as ``(group | study)`` (metafor's ``cor=TRUE``).

    With ``G`` the 2x2 covariance and ``b`` the conditional mode, the approximation is
    ``log p(y | b) - b'G^-1 b / 2 - log det(G (Z'WZ + G^-1)) / 2`` (Bates et al. 2015, J Stat
    Softw 67(1), doi:10.18637/jss.v067.i01, section 5: lme4's Laplace deviance)."""

    family: str
    y: np.ndarray
    n: np.ndarray
    const: np.ndarray = field(init=False)
    _last: np.ndarray | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.const = np.sum(_log_const(self.family, self.y, self.n), axis=1)
        self.z2 = np.array([0.5, -0.5])

    def loglik(self, F: np.ndarray, sigma2: float, tau2: float,
               cov: float = 0.0) -> np.ndarray:
        k = F.shape[0]
        b = self._last if self._last is not None and self._last.shape == (k, 2) \
            else np.zeros((k, 2))
        z2 = self.z2[None, :]
        detG = sigma2 * tau2 - cov * cov
        p11, p22, p12 = tau2 / detG, sigma2 / detG, -cov / detG  # G^-1
        extra = 0
        for _ in range(200):
            eta = F + b[:, :1] + z2 * b[:, 1:]
            d1, w = _cell_d12(self.family, self.y, self.n, eta)
            g1 = d1.sum(axis=1) - p11 * b[:, 0] - p12 * b[:, 1]
            g2 = (z2 * d1).sum(axis=1) - p12 * b[:, 0] - p22 * b[:, 1]
            h11 = w.sum(axis=1) + p11
            h12 = (z2 * w).sum(axis=1) + p12
            h22 = (z2 ** 2 * w).sum(axis=1) + p22
            det = h11 * h22 - h12 ** 2
            s1 = (h22 * g1 - h12 * g2) / det
            s2 = (h11 * g2 - h12 * g1) / det
            move = np.maximum(np.abs(s1 + 0.5 * s2), np.abs(s1 - 0.5 * s2))
            scale = np.minimum(1.0, 1.0 / np.maximum(move, 1e-300))
            b = b + np.column_stack([s1, s2]) * scale[:, None]
            if np.all(move <= 1e-11 * (1 + np.abs(b).max(axis=1))):
                extra += 1
                if extra > 2:
                    break
        self._last = b
        eta = F + b[:, :1] + z2 * b[:, 1:]
        _, w = _cell_d12(self.family, self.y, self.n, eta)
        h11 = w.sum(axis=1) + p11
        h12 = (z2 * w).sum(axis=1) + p12
        h22 = (z2 ** 2 * w).sum(axis=1) + p22
        ll = np.sum(_cell_ll(self.family, self.y, self.n, eta), axis=1)
        quad = p11 * b[:, 0] ** 2 + 2 * p12 * b[:, 0] * b[:, 1] + p22 * b[:, 1] ** 2
        return (self.const + ll - quad / 2 - 0.5 * np.log(detG * (h11 * h22 - h12 ** 2)))


def _sat_cells_ll(fam: str, y: np.ndarray, n: np.ndarray) -> float:
    """Log-likelihood of the saturated model of the cells (with constants): lme4 reports the
    log-likelihood of a GLMM fitted by AGQ with nAGQ > 1 relative to it."""
    mu = np.divide(y, n, out=np.zeros_like(y), where=n > 0) if fam == "binomial" else y
    with np.errstate(divide="ignore", invalid="ignore"):
        if fam == "binomial":
            ll = (np.where(y > 0, y * np.log(np.where(mu > 0, mu, 1)), 0.0)
                  + np.where(n - y > 0, (n - y) * np.log(np.where(mu < 1, 1 - mu, 1)), 0.0))
        else:
            ll = np.where(y > 0, y * np.log(np.where(y > 0, y, 1)), 0.0) - y
    return float(np.sum(ll + _log_const(fam, y, n)))


def _fit_umrs(measure: str, cnt: dict[str, np.ndarray], X: np.ndarray, ee: bool, nagq: int,
              st: dict[str, Any], cor: bool = False) -> dict[str, Any]:
    """UM.RS (metafor ``rma.glmm(model="UM.RS")``): ``glmer(y ~ 0 + X.fit + const + (group ||
    study))``, or with ``cor`` the correlated ``(group | study)``: a random study intercept
    (variance sigma^2) and a random treatment effect (tau^2, coefficient +1/2 / -1/2) with
    correlation rho (Turner et al. 2000, Stat Med 19:3417; Jackson et al. 2018, Stat Med
    37:1059, model 6/7), Laplace approximation (:class:`_Laplace2`)."""
    k, p = X.shape
    if measure == "OR":
        fam = "binomial"
        y = np.column_stack([cnt["ai"], cnt["ci"]])
        n = np.column_stack([cnt["ai"] + cnt["bi"], cnt["ci"] + cnt["di"]])
        off = np.zeros((k, 2))
    else:
        fam = "poisson"
        y = np.column_stack([cnt["x1i"], cnt["x2i"]])
        n = np.ones((k, 2))
        off = np.log(np.column_stack([cnt["t1i"], cnt["t2i"]]))
    sat_ll = _sat_cells_ll(fam, y, n)

    def lme4_ll(ll_marg: float) -> float:
        return ll_marg - (sat_ll if nagq > 1 else 0.0)

    z1 = np.ones((k, 2))
    # equal-effects model: X.fit + const + (1 | study)
    A = np.zeros((k, 2, p + 1))
    A[:, 0, :p] = X
    A[:, :, p] = 1.0
    agq = _AGQ(fam, y, n, z1, nagq)

    def curv1(F: np.ndarray, rho: np.ndarray) -> np.ndarray:
        w = _cell_d12(fam, y, n, F)[1]
        return w / (1 + w * math.exp(2 * min(float(rho[0]), 20.0)))

    def f1(F: np.ndarray, rho: np.ndarray) -> np.ndarray:
        return agq.loglik(F, math.exp(min(float(rho[0]), 20.0)))

    glm0 = _glm_fit(fam, y.ravel(), n.ravel(), A.reshape(2 * k, p + 1), off.ravel(),
                    st["eps"], st["maxit"])
    prob1 = _Problem(f1, A, off, 1, curv1)
    par1, ll1, H1, it1, conv1 = _newton(prob1, np.concatenate([glm0.coef, [math.log(0.5)]]),
                                        st["tol"], st["maxiter"],
                                        stop=lambda q: bool(q[p + 1] < math.log(1e-4)))
    if par1[p + 1] < math.log(1e-4):  # sigma^2 at the boundary 0: the glm
        par1 = np.concatenate([glm0.coef, [-20.0]])
        ll1, _, H1 = prob1.derivs(par1)
        conv1 = glm0.converged
    V1 = _inv_neg(H1)
    if par1[p + 1] < -19:  # sigma^2 = 0: the glm's covariance
        V1 = np.full((p + 2, p + 2), np.nan)
        V1[:p + 1, :p + 1] = glm0.vcov
    ll_fe = lme4_ll(ll1)
    # saturated model: X.fit + const + study:group1 (the last p aliased, as R's QR) + (1 | study)
    d2 = k + 1
    A2 = np.zeros((k, 2, d2))
    A2[:, :, :p + 1] = A
    free = np.arange(k - p)
    A2[free, 0, p + 1 + free] = 1.0
    glm2 = _glm_fit(fam, y.ravel(), n.ravel(), A2.reshape(2 * k, d2), off.ravel(), st["eps"],
                    st["maxit"])
    prob2 = _Problem(f1, A2, off, 1, curv1)
    # with a zero cell a study's log odds ratio in the saturated model has no finite maximum:
    # its estimate drifts (as in lme4) while the log-likelihood gains nothing after ~30 steps
    par2, ll2, H2, it2, conv2 = _newton(prob2, np.concatenate(
        [glm2.coef, [max(par1[p + 1], math.log(0.3))]]), st["tol"], min(st["maxiter"], 40),
        stop=lambda q: bool(q[d2] < math.log(1e-4)))
    if par2[d2] < math.log(1e-4):  # sigma^2 = 0 in the saturated model: its glm
        par2 = np.concatenate([glm2.coef, [-20.0]])
        ll2 = prob2.value(par2)
        V2 = np.full((d2 + 1, d2 + 1), np.nan)
        V2[:d2, :d2] = glm2.vcov
        drifted = np.zeros(0, dtype=np.int64)
    else:
        # a study dummy whose log odds ratio drifted to +-infinity (a zero cell) has lost all
        # curvature (its Hessian row underflows to 0): in the limit its contribution b^2 /
        # Var(b) to the Wald statistic is 0, so it is left out, and the others' covariance is
        # the inverse of the remaining block
        dummies = np.arange(p + 1, d2)
        dH = np.abs(np.diag(H2))
        drifted = dummies[dH[dummies] <= 1e-10 * dH.max()]
        keep = np.setdiff1d(np.arange(d2 + 1), drifted)
        V2 = np.full((d2 + 1, d2 + 1), np.nan)
        V2[np.ix_(keep, keep)] = _inv_neg(H2[np.ix_(keep, keep)])
    ll_qe = lme4_ll(ll2)
    inner = np.setdiff1d(np.arange(p + 1, d2), drifted)
    try:
        b2 = par2[inner]
        QE_Wld = float(b2 @ np.linalg.solve(V2[np.ix_(inner, inner)], b2)) if k > p else 0.0
    except np.linalg.LinAlgError:
        QE_Wld = float("nan")
    notes = [] if not drifted.size else [
        f"QE_Wld leaves out {drifted.size} stud{'y' if drifted.size == 1 else 'ies'} whose "
        f"log {'odds' if measure == 'OR' else 'rate'} ratio in the saturated model has no "
        "finite estimate (a zero cell; its "
        "contribution b^2 / Var(b) tends to 0; metafor's value depends on where glmer stopped)"]
    out: dict[str, Any] = {"ll_FE": ll_fe, "ll_QE": ll_qe, "QE_Wld": QE_Wld,
                           "QE_LRT": -2 * (ll_fe - ll_qe), "nAGQ": nagq, "notes": notes,
                           "likelihood": ("binomial" if fam == "binomial" else "Poisson")
                           + " GLMM with random study effects"
                           + (", two random effects, Laplace approximation" if not ee else
                              f", {'Laplace' if nagq == 1 else f'AGQ ({nagq} nodes)'}")}
    if ee:
        out.update(beta=par1[:p], vb=V1[:p, :p], tau2=0.0,
                   sigma2=math.exp(2 * min(par1[p + 1], 20.0)) if par1[p + 1] > -19 else 0.0,
                   ll=ll_fe, ll_marginal=ll1, parms=p + 2, k_eff=2 * k,
                   optimizer="Newton", converged=conv1, iterations=it1)
        return out
    lap = _Laplace2(fam, y, n)

    def f(F: np.ndarray, rho: np.ndarray) -> np.ndarray:
        r = np.clip(rho, -20.0, 20.0)
        return lap.loglik(F, math.exp(2 * r[0]), math.exp(2 * r[1]))

    def curv(F: np.ndarray, rho: np.ndarray) -> np.ndarray:
        w = _cell_d12(fam, y, n, F)[1]
        r = np.clip(rho, -20.0, 20.0)
        return w / (1 + w * (math.exp(2 * r[0]) + 0.25 * math.exp(2 * r[1])))

    prob = _Problem(f, A, off, 2, curv)
    start = np.concatenate([par1[:p + 1], [max(par1[p + 1], math.log(0.1)),
                                           math.log(st["tau0"])]])
    par, llm, H, it, conv = _newton(prob, start, st["tol"], st["maxiter"],
                                    stop=lambda q: bool(q[p + 2] < math.log(1e-4)))
    if par[p + 2] < math.log(1e-4) or not llm > ll1:
        # the boundary tau^2 = 0: the model with the random study effects only (Laplace)
        out.update(beta=par1[:p], vb=V1[:p, :p], tau2=0.0,
                   sigma2=math.exp(2 * min(par1[p + 1], 20.0)) if par1[p + 1] > -19 else 0.0,
                   ll=ll1, ll_marginal=ll1, parms=p + 3, k_eff=2 * k, optimizer="Newton",
                   converged=conv1, iterations=it)
        return out
    V = _inv_neg(H)
    sig = float(np.clip(par[p + 1], -20, 20))
    out.update(beta=par[:p], vb=V[:p, :p], tau2=math.exp(2 * min(par[p + 2], 20.0)),
               sigma2=math.exp(2 * sig) if sig > math.log(1e-4) else 0.0, ll=llm,
               ll_marginal=llm, parms=p + 3, k_eff=2 * k, optimizer="Newton", converged=conv,
               iterations=it)
    if cor:
        _fit_umrs_cor(out, lap, A, off, curv, np.concatenate([par, [0.0]]), p, st)
    return out


def _fit_umrs_cor(out: dict[str, Any], lap: _Laplace2, A: np.ndarray, off: np.ndarray,
                  curv: Callable[[np.ndarray, np.ndarray], np.ndarray], start: np.ndarray,
                  p: int, st: dict[str, Any]) -> None:
    """The UM.RS model with correlated random effects (metafor ``cor=TRUE``, lme4's ``(group |
    study)``), started at the independent fit: parameters (fixed effects, log sigma, log tau,
    atanh rho); fills ``out`` with beta, vb (the fixed-effects block of the inverse negative
    Hessian, as lme4's ``vcov``), tau^2, sigma^2, rho and the log-likelihood. metafor reports
    ``rho = VarCorr[1, 2] / sqrt(tau^2 sigma^2)`` and counts ``parms = p + 3`` (rho not
    counted, so AIC/BIC/AICc as metafor's); a fit at tau^2 = 0 has no defined rho (NaN)."""

    def f(F: np.ndarray, rho: np.ndarray) -> np.ndarray:
        r = np.clip(rho[:2], -20.0, 20.0)
        s2, t2 = math.exp(2 * r[0]), math.exp(2 * r[1])
        c = math.tanh(float(np.clip(rho[2], -12.0, 12.0))) * math.sqrt(s2 * t2)
        return lap.loglik(F, s2, t2, c)

    def curv3(F: np.ndarray, rho: np.ndarray) -> np.ndarray:
        return curv(F, rho[:2])

    prob = _Problem(f, A, off, 3, curv3)
    q = p + 1
    par, llm, H, it, conv = _newton(prob, start, st["tol"], st["maxiter"],
                                    stop=lambda x: bool(x[q + 1] < math.log(1e-4)))
    if par[q + 1] < math.log(1e-4) or not llm >= out["ll"]:
        out.update(rho=float("nan"), converged=bool(out["converged"] and conv),
                   iterations=out["iterations"] + it)
        return
    V = _inv_neg(H)
    sig = float(np.clip(par[q], -20, 20))
    out.update(beta=par[:p], vb=V[:p, :p], tau2=math.exp(2 * min(par[q + 1], 20.0)),
               sigma2=math.exp(2 * sig) if sig > math.log(1e-4) else 0.0,
               rho=math.tanh(float(np.clip(par[q + 2], -12.0, 12.0))), ll=llm,
               ll_marginal=llm, converged=conv, iterations=out["iterations"] + it)
