"""Selection models for publication bias (metafor ``selmodel.rma.uni``).

Families (metafor 3.8 names; ``p`` is the one-sided p-value of a study, or two-sided with
``alternative="two.sided"``; ``s`` the optional threshold ``steps``, default 0, below which the
weight is 1; ``r_i`` the precision measure of ``prec``, else 1):

==========  ==================================================  ============  ==========
type        relative likelihood of selection w(p) for p > s      delta bounds  no select.
==========  ==================================================  ============  ==========
stepfun     delta_j for p in (steps[j-1], steps[j]], delta_1 = 1  [0, 100]      all 1
beta        p^(d1 - 1) (1 - p)^(d2 - 1), p in [1e-5, 1 - 1e-5]    [1e-5, 100]   (1, 1)
halfnorm    exp(-delta r (p^2 - s^2))                             [0, 100]      0
negexp      exp(-delta r (p - s))                                 [0, 100]      0
logistic    [2 e^(-delta r p) / (1 + e^(-delta r p))] / (same at s)  [0, 100]   0
power       ((1 - p) / (1 - s))^(delta r), p <= 1 - 1e-5          [0, 100]      0
negexppow   exp(-d1 r (p^(1/d2) - s^(1/d2)))                      [0, 100]^2    (0, 0)
==========  ==================================================  ============  ==========

References: Vevea & Hedges (1995, Psychometrika 60:419, doi:10.1007/BF02294384, step
function); Citkowicz & Vevea (2017, Psychol Methods 22:28, doi:10.1037/met0000092, beta);
Preston, Ashby & Smyth (2004, Stat Med 23:1843, doi:10.1002/sim.1755, the half-normal,
negative-exponential, logistic and power families and precision-dependent selection);
Vevea & Woods (2005, Psychol Methods 10:428, doi:10.1037/1082-989X.10.4.428, a priori weights).

The log-likelihood (metafor ``.selmodel.ll.cont`` / ``.selmodel.ll.stepfun``) is
``sum_i log w(p_i) + log phi(y_i; x_i'b, v_i + tau^2) - log A_i`` with
``A_i = E[w(p(Y_i))]``, ``Y_i ~ N(x_i'b, v_i + tau^2)``: closed form for the step function,
otherwise an integral over the density that evsynth computes by Gauss-Legendre quadrature on
+-9 SD of each study's density, split at the kinks of w(p(y)) (metafor: ``integrate`` with
relative tolerance eps^0.25, so its log-likelihoods carry errors up to ~1e-6 that ours do not).
Precision measures (``prec``): ``"sei"`` sqrt(v_i), ``"vi"`` v_i, ``"ninv"`` 1/n_i,
``"sqrtninv"`` 1/sqrt(n_i), divided by their maximum unless ``scaleprec=False`` (metafor).

Fitting follows metafor: a non-ML random-effects fit is first refitted by ML; tau^2 is
optimised on the log scale, each delta on the logit scale of (delta_min, delta_max); SEs come
from the numerical Hessian on the natural scale (Richardson extrapolation as numDeriv); the LRT
of no selection compares with the unadjusted ML model (df = number of estimated deltas; metafor's
``H0`` in the table above); the LRT of tau^2 = 0 refits the selection model with tau^2 = 0.
``confint()`` of the result gives profile-likelihood CIs of tau^2 and of each estimated delta
(metafor ``confint.rma.uni.selmodel``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special

from evsynth.errors import InputError
from evsynth.models.bias import (
    SelmodelResult,
    central_grad,
    p_below,
    richardson_hessian,
    selmodel_pval,
)
from evsynth.models.diagnostics import register
from evsynth.models.engine import fit_batch
from evsynth.models.kernels import FIXED_METHODS
from evsynth.models.meta import MetaResult
from evsynth.models.results import FrameResult, fmt_p
from evsynth.validation import choice, level_percent, numeric_vector

TYPES = ("stepfun", "beta", "halfnorm", "negexp", "logistic", "power", "negexppow")
PRECS = ("sei", "vi", "ninv", "sqrtninv")
ALTERNATIVES = ("greater", "less", "two.sided")
_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)

#: per type: (number of deltas, default delta_min, delta under no selection, p-value floor,
#: start value of each delta)
_FAMILY: dict[str, tuple[int, float, float, float, float]] = {
    "beta": (2, 1e-5, 1.0, 1e-5, 1.0),
    "halfnorm": (1, 0.0, 0.0, 0.0, 1.0),
    "negexp": (1, 0.0, 0.0, 0.0, 1.0),
    "logistic": (1, 0.0, 0.0, 0.0, 1.0),
    "power": (1, 0.0, 0.0, 1e-5, 1.0),
    "negexppow": (2, 0.0, 0.0, 0.0, 1.0),
}
_NAMES = {"stepfun": "Step-function selection model (Vevea & Hedges 1995)",
          "beta": "Beta selection model (Citkowicz & Vevea 2017)",
          "halfnorm": "Half-normal selection model (Preston et al. 2004)",
          "negexp": "Negative-exponential selection model (Preston et al. 2004)",
          "logistic": "Logistic selection model (Preston et al. 2004)",
          "power": "Power selection model (Preston et al. 2004)",
          "negexppow": "Negative-exponential-power selection model"}

# Gauss-Legendre rule for the continuous families: 10 nodes on each of 24 pieces of every
# smooth segment of the integrand (between its kinks) within +-_T SD of the study's density
_T = 9.0
_GL_X, _GL_W = np.polynomial.legendre.leggauss(10)
_PIECES = 24


# --------------------------------------------------------------------------------------------
# the model specification and its likelihood
# --------------------------------------------------------------------------------------------
@dataclass
class _Spec:
    """Everything the likelihood of one selection model needs (data and settings)."""

    type: str
    y: np.ndarray
    v: np.ndarray
    X: np.ndarray
    preci: np.ndarray
    pvals: np.ndarray  # clamped observed p-values
    steps: np.ndarray  # stepfun: cut-points ending in 1; others: [s] (threshold, default 0)
    pgrp: np.ndarray | None
    alternative: str
    pval_min: float
    n_delta: int
    delta_min: np.ndarray
    delta_max: np.ndarray
    h0: np.ndarray
    fixed_tau2: float | None  # EE model (0) or a fixed tau^2
    delta_init: np.ndarray

    @property
    def sei(self) -> np.ndarray:
        return np.sqrt(self.v)

    def log_w(self, p: np.ndarray, delta: np.ndarray, r: np.ndarray) -> np.ndarray:
        """log w(p) (p already clamped), broadcasting ``r`` (precision) against ``p``."""
        t = self.type
        s = float(self.steps[0])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if t == "beta":
                return (delta[0] - 1) * np.log(p) + (delta[1] - 1) * np.log1p(-p)
            d = delta[0] * r
            if t == "halfnorm":
                lw = -d * (p**2 - s**2)
            elif t == "negexp":
                lw = -d * (p - s)
            elif t == "logistic":
                lw = (-d * p - np.log1p(np.exp(-d * p))) - (-d * s - np.log1p(np.exp(-d * s)))
            elif t == "power":
                lw = d * (np.log1p(-p) - np.log1p(-s))
            else:  # negexppow
                e = 1.0 / delta[1]
                lw = -d * (p**e - s**e)
            return np.where(p <= s, 0.0, lw)

    def kinks(self) -> np.ndarray:
        """z = y / sei values where w(p(z)) is not smooth (clamps, threshold, z = 0)."""
        pts: list[float] = []
        cuts = [self.pval_min, 1 - self.pval_min] if self.pval_min > 0 else []
        s = float(self.steps[0])
        if 0 < s < 1:
            cuts.append(s)
        for c in cuts:
            if self.alternative == "greater":
                pts.append(float(special.ndtri(1 - c)))
            elif self.alternative == "less":
                pts.append(float(special.ndtri(c)))
            else:
                q = float(special.ndtri(1 - c / 2))
                pts += [q, -q]
        if self.alternative == "two.sided":
            pts.append(0.0)
            if self.type in ("beta", "power") and self.pval_min > 0:
                # (1 - p)^a with p = 2 Phi(-|z|) behaves as |z|^a near z = 0: geometric
                # breakpoints from the clamp point outwards resolve that power law
                c = float(special.ndtri(0.5 + self.pval_min / 2))
                grade = c * 2.0 ** np.arange(1, 40)
                grade = grade[grade < 3.0]
                pts += [*grade, *(-grade)]
        return np.unique(np.asarray(pts, dtype=float))

    def pval_z(self, z: np.ndarray) -> np.ndarray:
        p = selmodel_pval(z, np.ones_like(z), self.alternative)
        return np.clip(p, self.pval_min, 1 - self.pval_min)

    def norm_const(self, yhat: np.ndarray, sd: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """A_i = E[w(p(Y_i))] for the continuous families (quadrature, module docstring)."""
        sei = self.sei
        mu, sz = yhat / sei, sd / sei  # Y / sei ~ N(mu, sz^2)
        kin = self.kinks()
        tk = (kin[None, :] - mu[:, None]) / sz[:, None]
        edges = np.sort(np.concatenate([np.full((mu.size, 1), -_T), np.clip(tk, -_T, _T),
                                        np.full((mu.size, 1), _T)], axis=1), axis=1)
        a, b = edges[:, :-1], edges[:, 1:]  # (k, segments)
        pieces = _PIECES if a.shape[1] <= 8 else 6  # graded breakpoints: short segments
        width = (b - a) / pieces
        u = (np.arange(pieces)[:, None] + (_GL_X[None, :] + 1) / 2).ravel()  # (P*10,)
        t = a[:, :, None] + width[:, :, None] * u[None, None, :]
        wq = width[:, :, None] * np.tile(_GL_W / 2, pieces)[None, None, :]
        z = mu[:, None, None] + sz[:, None, None] * t
        lw = self.log_w(self.pval_z(z), delta, self.preci[:, None, None])
        dens = np.exp(-0.5 * t**2 - _LOG_SQRT_2PI)
        A = np.sum(np.exp(lw) * dens * wq, axis=(1, 2))
        # the range +-_T SD holds the integral only where the weight does not outgrow the
        # density's tail: the integrand at both ends must be negligible (< 1e-10 of A, for
        # ordinary weights it is ~1e-18 of it). Otherwise (e.g. a beta weight p^64 with every
        # density far in the tail: A underflowed to 2e-323 and the log-likelihood read +23630)
        # the integral is unknown here and the likelihood is refused (NaN)
        ends = np.stack([np.full(mu.size, -_T), np.full(mu.size, _T)], axis=1)
        lw_end = self.log_w(self.pval_z(mu[:, None] + sz[:, None] * ends), delta,
                            self.preci[:, None])
        with np.errstate(over="ignore", invalid="ignore"):
            tail = np.max(np.exp(lw_end - 0.5 * _T**2 - _LOG_SQRT_2PI), axis=1)
            return np.where(tail <= 1e-10 * A, A, np.nan)

    def loglik(self, beta: np.ndarray, tau2: float, delta: np.ndarray) -> float:
        """The log-likelihood of the selection model (module docstring)."""
        yhat = self.X @ beta
        sd = np.sqrt(self.v + tau2)
        base = -0.5 * ((self.y - yhat) / sd) ** 2 - np.log(sd) - _LOG_SQRT_2PI
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.type == "stepfun":
                sei = self.sei
                F = np.array([p_below(s_, sei, yhat, sd, self.alternative)
                              for s_ in self.steps])
                P = np.diff(np.vstack([np.zeros(self.y.size), F]), axis=0)
                A = delta @ P
                val = np.sum(np.log(delta[self.pgrp]) + base - np.log(A))
            else:
                A = self.norm_const(yhat, sd, delta)
                lw = self.log_w(self.pvals, delta, self.preci)
                val = np.sum(lw + base - np.log(A))
        return float(val) if np.isfinite(val) else -np.inf


@dataclass
class _Opt:
    beta: np.ndarray
    tau2: float
    delta: np.ndarray
    ll: float
    converged: bool


def _optimise(spec: _Spec, beta0: np.ndarray, tau20: float, *,
              delta_fixed: np.ndarray, tau2_fixed: float | None, polish: bool = True,
              delta_start: np.ndarray | None = None) -> _Opt:
    """Maximise the likelihood over beta, log tau^2 (unless fixed) and the free deltas on the
    logit scale of (delta_min, delta_max) (metafor's ``.mapfun``), by BFGS with central
    differences, then a Nelder-Mead polish that is kept only if it raises the likelihood
    (converged: either optimiser reports convergence, or the gradient is below 1e-6)."""
    p = spec.X.shape[1]
    free = np.isnan(delta_fixed)
    lo, hi = spec.delta_min[free], spec.delta_max[free]
    est_tau2 = tau2_fixed is None

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        beta = theta[:p]
        if est_tau2:
            tau2 = float(np.exp(theta[p]))
            tau2 = 0.0 if tau2 < 10 * np.finfo(float).eps else tau2
        else:
            tau2 = float(tau2_fixed)  # type: ignore[arg-type]
        x = theta[p + (1 if est_tau2 else 0):]
        delta = delta_fixed.copy()
        with np.errstate(over="ignore"):  # exp(-x) = inf: delta at its lower limit
            delta[free] = lo + (hi - lo) / (1 + np.exp(-x))
        return beta, tau2, delta

    def negll(theta: np.ndarray) -> float:
        val = -spec.loglik(*unpack(theta))
        return val if np.isfinite(val) else 1e300

    start = spec.delta_init if delta_start is None else np.asarray(delta_start, dtype=float)
    init = np.clip(start[free], lo + 1e-8 * (hi - lo), hi - 1e-8 * (hi - lo))
    theta0 = np.r_[beta0, [np.log(tau20 + 0.001)] if est_tau2 else [],
                   np.log((init - lo) / (hi - init))]
    with np.errstate(over="ignore", invalid="ignore"):  # refused points: 1e300
        return _search(spec, negll, unpack, theta0, polish)


def _search(spec: _Spec, negll: Callable[[np.ndarray], float],
            unpack: Callable[[np.ndarray], tuple[np.ndarray, float, np.ndarray]],
            theta0: np.ndarray, polish: bool) -> _Opt:
    """BFGS, then the Nelder-Mead polish of :func:`_optimise`."""
    opt = optimize.minimize(negll, theta0, method="BFGS",
                            jac=lambda t: central_grad(negll, t),
                            options={"gtol": 1e-9, "maxiter": 10000})
    theta = opt.x
    nm_ok = False
    if polish:
        nm = optimize.minimize(negll, theta, method="Nelder-Mead",
                               options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 20000})
        nm_ok = bool(nm.success)
        if nm.fun < negll(theta) - 1e-12:
            theta = nm.x
            opt2 = optimize.minimize(negll, theta, method="BFGS",
                                     jac=lambda t: central_grad(negll, t),
                                     options={"gtol": 1e-9, "maxiter": 10000})
            if opt2.fun <= nm.fun:
                theta = opt2.x
    gnorm = float(np.max(np.abs(central_grad(negll, theta)))) if theta.size else 0.0
    beta, tau2, delta = unpack(theta)
    return _Opt(beta, tau2, delta, spec.loglik(beta, tau2, delta),
                bool(opt.success or nm_ok or gnorm < 1e-6))


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------
class SelmodelConfint(FrameResult):
    """Profile-likelihood CIs of the variance and selection parameters of a selection model
    (metafor ``confint.rma.uni.selmodel``): rows ``tau2``, ``tau`` and ``delta1``, ``delta2``,
    ...; columns ``estimate, ci_lb, ci_ub`` and ``lb_sign`` / ``ub_sign`` ("<" / ">" where the
    bound is the end of the searched range, as metafor marks it)."""

    _row_attributes = ("tau2", "tau", "delta", "delta1", "delta2", "delta3", "delta4")
    _dict_fields = ("level", "rows", "estimate", "ci_lb", "ci_ub")

    def __init__(self, frame: pd.DataFrame, level: float) -> None:
        self.frame = frame
        self.level = level

    @property
    def rows(self) -> list[str]:
        """Row names."""
        return [str(i) for i in self.frame.index]

    def summary_text(self) -> str:
        return (f"Profile-likelihood {self.level:g}% CIs of the selection model\n"
                + self.frame.to_string(float_format=lambda x: f"{x:.4f}"))


@dataclass(repr=False)
class SelectionModel(SelmodelResult):
    """A fitted selection model (metafor ``rma.uni.selmodel``): the fields of
    :class:`~evsynth.models.bias.SelmodelResult` plus the precision measure (``prec``), which
    deltas were fixed, the LRT of tau^2 = 0 (``LRT_tau2``, ``LRTp_tau2``), Wald CIs of tau^2,
    the omnibus test of the moderators (``QM``, ``QMp``), and the covariance of all estimated
    parameters (``vcov()``). ``confint()`` gives profile-likelihood CIs of tau^2 and the
    deltas."""

    prec: str | None = None
    scaleprec: bool = True
    delta_fixed: list = field(default_factory=list)
    h0_delta: np.ndarray = field(default_factory=lambda: np.empty(0))
    LRT_tau2: float = np.nan
    LRTp_tau2: float = np.nan
    ci_lb_tau2: float = np.nan
    ci_ub_tau2: float = np.nan
    QM: float = np.nan
    QMp: float = np.nan
    vd: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    cov_all: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    cov_names: list = field(default_factory=list)
    _spec: Any = None
    _fixed_tau2: float | None = None

    _dict_fields: tuple[str, ...] = SelmodelResult._dict_fields + (  # type: ignore[assignment]
        "prec", "scaleprec", "delta_fixed", "h0_delta", "LRT_tau2", "LRTp_tau2", "ci_lb_tau2",
        "ci_ub_tau2", "QM", "QMp", "vd")

    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the estimated parameters (beta, tau^2 when estimated and not
        at 0, free deltas), the inverse of the numerical Hessian of -logLik (metafor's
        ``vb`` and ``vd`` are its blocks)."""
        return pd.DataFrame(self.cov_all, index=self.cov_names, columns=self.cov_names)

    def summary_text(self) -> str:
        lines = super().summary_text().splitlines()
        lines[0] = f"{_NAMES[self.type]}; k = {self.k}, alternative = {self.alternative}"
        if self.prec:
            lines.insert(1, f"  precision measure: {self.prec}"
                         f"{' (scaled by its maximum)' if self.scaleprec else ''}")
        if np.isfinite(self.LRT_tau2):
            at = next(i for i, line in enumerate(lines) if line.startswith("  LRT against"))
            lines.insert(at + 1, f"  LRT of tau^2 = 0: {self.LRT_tau2:.4f} (df = 1), p = "
                         f"{fmt_p(self.LRTp_tau2)}")
        return "\n".join(lines)

    def confint(self, level: float | None = None, tol: float = 1e-10) -> SelmodelConfint:
        """Profile-likelihood CIs of tau^2 and of every estimated delta (metafor
        ``confint.rma.uni.selmodel``): the values where ``2 (ll_max - ll_profile)`` equals the
        chi^2_1 quantile, searched (as metafor) in [0, tau^2] / [tau^2, max(10, 100 tau^2)]
        and [delta_min, delta] / [delta, min(max(10, 10 delta), delta_max)]; a bound that is
        not reached in its range is the range's end, marked ``<`` / ``>`` (metafor's signs).
        Roots by Brent's method to ``tol`` (metafor: ``uniroot``, tol eps^0.25)."""
        lev = self.level if level is None else level_percent(level)
        spec: _Spec = self._spec
        crit = float(special.chdtri(1, 1 - lev / 100))
        rows: dict[str, list[Any]] = {}
        fixed = np.array([d if f else np.nan for d, f in zip(self.delta, self.delta_fixed,
                                                             strict=True)], dtype=float)

        def profile(comp: str, j: int, val: float, start: _Opt) -> tuple[float, _Opt]:
            """The criterion 2 (ll_max - ll_profile) - chi^2 quantile at ``val``, warm-started
            from a neighbouring profile point (continuation keeps to the mode of the MLE)."""
            if comp == "tau2":
                o = _optimise(spec, start.beta, max(val, 0.0), delta_fixed=fixed,
                              tau2_fixed=max(val, 0.0), polish=False, delta_start=start.delta)
            else:
                df = fixed.copy()
                df[j] = val
                o = _optimise(spec, start.beta, start.tau2, delta_fixed=df,
                              tau2_fixed=self._fixed_tau2, polish=False,
                              delta_start=start.delta)
            return -2 * (o.ll - self.ll) - crit, o

        comps: list[tuple[str, int, float, float, float]] = []
        if self._fixed_tau2 is None:
            vc = self.tau2
            comps.append(("tau2", -1, vc, 0.0,
                          10.0 if vc <= np.sqrt(np.finfo(float).eps) else max(10.0, 100 * vc)))
        for j in range(len(self.delta)):
            if not self.delta_fixed[j]:
                vc = float(self.delta[j])
                hi = (10.0 if vc <= np.sqrt(np.finfo(float).eps) else max(10.0, 10 * vc))
                comps.append(("delta", j, vc, max(0.0, float(spec.delta_min[j])),
                              min(hi, float(spec.delta_max[j]))))
        if not comps:
            raise InputError("confint: the selection model has no estimated tau^2 or delta")
        mle = _Opt(self.beta, self.tau2, np.asarray(self.delta, dtype=float), self.ll, True)
        for comp, j, vc, vmin, vmax in comps:
            def prof(x: float, st: _Opt, c: str = comp, jj: int = j) -> tuple[float, _Opt]:
                return profile(c, jj, x, st)

            lb, lsign = _bound(prof, mle, vmin, vc, tol)
            ub, usign = _bound(prof, mle, vmax, vc, tol)
            name = "tau2" if comp == "tau2" else (
                "delta" if len(self.delta) == 1 else f"delta{j + 1}")
            rows[name] = [vc, lb, ub, lsign, usign]
            if comp == "tau2":
                rows["tau"] = [np.sqrt(vc), np.sqrt(lb), np.sqrt(ub), rows[name][3], usign]
        frame = pd.DataFrame.from_dict(rows, orient="index",
                                       columns=["estimate", "ci_lb", "ci_ub", "lb_sign",
                                                "ub_sign"])
        return SelmodelConfint(frame, lev)


def _halve(f: Callable[[float, _Opt], tuple[float, _Opt]], a: float, b: float, o_a: _Opt
           ) -> tuple[float, float, _Opt]:
    """One bisection step of :func:`_bound`: the midpoint replaces ``a`` (its fit the next
    warm start) where the criterion is finite and below 0, otherwise ``b``."""
    m = 0.5 * (a + b)
    fm, om = f(m, o_a)
    if np.isfinite(fm) and fm < 0:
        return m, b, om
    return a, m, o_a


def _bound(f: Callable[[float, _Opt], tuple[float, _Opt]], mle: _Opt, end: float, est: float,
           tol: float, steps: int = 20) -> tuple[float, str]:
    """The profile-likelihood bound between the estimate and ``end``: the first crossing of
    the criterion found by stepping from the estimate towards ``end`` in ``steps`` equal
    steps, each fit warm-started from the previous one (so the profile follows the mode of the
    MLE, not a distant spurious mode), then Brent's method in the bracketing step. The end
    itself (with metafor's sign "<" / ">") when the criterion stays below 0; points where the
    likelihood is -inf (e.g. a step-function delta of 0) count as beyond the bound."""
    if end == est:
        return end, ""
    grid = est + (end - est) * np.arange(1, steps + 1) / steps
    prev_x, prev_o = est, mle
    for x in grid:
        fx, ox = f(float(x), prev_o)
        if not np.isfinite(fx) or fx >= 0:
            a, b, o_a = prev_x, float(x), prev_o
            for _ in range(200):  # bisection with warm starts, then Brent to tol
                if abs(b - a) <= tol * max(1.0, abs(a)):
                    break
                a, b, o_a = _halve(f, a, b, o_a)
                if abs(b - a) < 1e-3 * abs(end - est):
                    break
            fa, fb = f(a, o_a)[0], f(b, o_a)[0]
            if np.isfinite(fb) and fa < 0 <= fb:
                def crit_at(t: float, start: _Opt = o_a) -> float:
                    return f(t, start)[0]

                try:
                    root = optimize.brentq(crit_at, min(a, b), max(a, b),
                                           xtol=tol, rtol=4 * np.finfo(float).eps)
                    return float(root), ""
                except (ValueError, RuntimeError):
                    pass
            while abs(b - a) > tol * max(1.0, abs(a)):
                a, b, o_a = _halve(f, a, b, o_a)
            return 0.5 * (a + b), ""
        prev_x, prev_o = float(x), ox
    return end, (("<" if end > 0 else "") if end < est else ">")


# --------------------------------------------------------------------------------------------
# the method
# --------------------------------------------------------------------------------------------
def _vector(x: Any, n: int, name: str, default: float) -> np.ndarray:
    """A per-delta setting: None (the type's default), one number, or one per delta."""
    if x is None:
        return np.full(n, default)
    arr = np.atleast_1d(np.asarray(x, dtype=float))
    if arr.size == 1:
        arr = np.full(n, float(arr[0]))
    if arr.size != n or np.any(np.isnan(arr)):
        raise InputError(f"selmodel: {name} must be one number or {n} numbers for this model; "
                         f"got {x!r}")
    return arr


def _standard_weights(fit: Any) -> bool:
    """No user weights and not ``weighted=False`` (metafor's ``selmodel.rma.uni`` stops
    otherwise); a fixed tau^2 is allowed (it stays fixed)."""
    return getattr(fit, "user_weights", None) is None and bool(getattr(fit, "weighted", True))


@register("selmodel", MetaResult, when=_standard_weights,
          requires="fits without user weights (weights=) and without weighted=False (as in "
                   "metafor: 'Cannot fit selection model for unweighted models or models with "
                   "custom weights'; refit without them)")
def selmodel_rma(fit: MetaResult, type: str = "stepfun",
                 steps: Sequence[float] | float | None = None, alternative: str = "greater",
                 delta_min: float | Sequence[float] | None = None,
                 delta_max: float | Sequence[float] | None = None, prec: str | None = None,
                 ni: Any = None, scaleprec: bool = True,
                 delta: Sequence[float | None] | float | None = None) -> SelectionModel:
    """Selection model fitted by maximum likelihood (metafor ``selmodel.rma.uni``); see the
    module docstring for the families, likelihood and fitting.

    Parameters
    ----------
    type : one of ``"stepfun"`` (default), ``"beta"``, ``"halfnorm"``, ``"negexp"``,
        ``"logistic"``, ``"power"``, ``"negexppow"``.
    steps : stepfun: p-value cut-points (default ``(0.025, 1)``; 1 is added if missing);
        continuous families: one threshold s (weight 1 for p <= s; default 0).
    alternative : ``"greater"`` (default), ``"less"`` or ``"two.sided"``: the direction of
        the p-values that drive selection.
    delta_min, delta_max : bounds of the selection parameters (defaults in the module table).
    prec : precision measure for precision-dependent selection (continuous families except
        beta): ``"sei"``, ``"vi"``, ``"ninv"``, ``"sqrtninv"`` (the last two need ``ni``).
    ni : sample sizes, one per study.
    scaleprec : divide the precision measure by its maximum (metafor's default).
    delta : fixed values of the selection parameters (None or NaN entries are estimated; a
        fully given ``delta`` applies a priori weights as Vevea & Woods 2005).
    """
    what = "selmodel"
    typ = choice(type, TYPES, "type")
    alternative = choice(alternative, ALTERNATIVES, "alternative")
    if getattr(fit, "user_weights", None) is not None or not getattr(fit, "weighted", True):
        used = " and ".join(n for n, u in (("user weights (weights=)",
                                            getattr(fit, "user_weights", None) is not None),
                                           ("weighted=False", not getattr(fit, "weighted", True)))
                            if u)
        raise InputError(f"{what}: not available for fits with user weights or weighted=False; "
                         f"this fit uses {used} (as in metafor: 'Cannot fit selection model for "
                         "unweighted models or models with custom weights'); refit without it")
    des = fit.design
    y, v, X = des.y, des.v, des.X
    k, p = X.shape
    if np.any(v <= 0):
        raise InputError(f"{what}: every sampling variance must be positive")
    fixed_model = fit.method in FIXED_METHODS
    tau2_fix = bool(getattr(fit, "tau2_fix", False))
    fixed_tau2 = 0.0 if fixed_model else (fit.tau2 if tau2_fix else None)
    ml_method = fit.method if fixed_model or tau2_fix else "ML"
    out = fit_batch(des, ml_method, "z", fit.level, fit.control, compute_r2=False,
                    intercept=fit.intercept) if not tau2_fix else None
    if out is not None:
        beta0, tau20, ll0 = out["beta"][0], float(out["tau2"][0]), float(out["ll_ML"][0])
    else:
        beta0, tau20 = fit.beta.copy(), fit.tau2
        ll0 = float(fit.fit_stats["ll_ML"])
    notes: list[str] = []
    # precision measure ----------------------------------------------------------------------
    preci = np.ones(k)
    prec_code: str | None = None
    if prec is not None:
        prec_code = choice(prec, PRECS, "prec")
        if typ in ("stepfun", "beta"):
            raise InputError(f"{what}: prec is defined for the halfnorm, negexp, logistic, "
                             f"power and negexppow models (metafor ignores it for beta and "
                             f"calls it experimental for stepfun); got type={typ!r}")
        if prec_code in ("ninv", "sqrtninv"):
            if ni is None:
                raise InputError(f"{what}: prec={prec_code!r} needs the sample sizes ni= "
                                 "(one per study)")
            n_arr = np.asarray(numeric_vector("ni", ni), dtype=float)
            if n_arr.size != k or np.any(n_arr <= 0):
                raise InputError(f"{what}: ni must hold {k} positive sample sizes (one per "
                                 f"study in the model); got {n_arr.size} values")
            preci = 1 / n_arr if prec_code == "ninv" else 1 / np.sqrt(n_arr)
        else:
            preci = np.sqrt(v) if prec_code == "sei" else v.copy()
        if scaleprec:
            preci = preci / preci.max()
    pv_raw = selmodel_pval(y, v, alternative)
    # family settings ------------------------------------------------------------------------
    pgrp = None
    ptable: list | None = None
    if typ == "stepfun":
        st = (0.025, 1.0) if steps is None else steps
        st_arr = np.unique(np.atleast_1d(np.asarray(st, dtype=float)))
        if st_arr.size == 0 or np.any(~np.isfinite(st_arr)) or st_arr[0] < 0 or \
                st_arr[-1] > 1:
            raise InputError(f"{what}: steps must be numbers in [0, 1]; got {st!r}")
        if st_arr[-1] != 1:
            st_arr = np.r_[st_arr, 1.0]
        if st_arr.size < 2:
            raise InputError(f"{what}: steps must include at least one cut-point below 1")
        n_delta, dmin_def, h0, pval_min, init = st_arr.size, 0.0, 1.0, 0.0, 1.0
    else:
        n_delta, dmin_def, h0, pval_min, init = _FAMILY[typ]
        if typ == "beta" or steps is None:
            if typ == "beta" and steps is not None:
                notes.append("steps is not used by the beta model (ignored, as metafor)")
            st_arr = np.array([0.0])
        else:
            s_arr = np.atleast_1d(np.asarray(steps, dtype=float))
            s_arr = s_arr[s_arr != 1] if s_arr.size == 2 else s_arr
            if s_arr.size != 1 or not 0 <= s_arr[0] < 1:
                raise InputError(f"{what}: the {typ} model takes one threshold steps= in "
                                 f"[0, 1) (weight 1 for p-values up to it); got {steps!r}")
            st_arr = np.array([float(s_arr[0])])
    pvals = np.clip(pv_raw, pval_min, 1 - pval_min)
    if typ == "stepfun":
        pgrp = np.searchsorted(st_arr, pvals, side="left")
        ptable = np.bincount(pgrp, minlength=st_arr.size).tolist()
    elif steps is not None and typ != "beta":
        counts = [int(np.sum(pvals <= st_arr[0])), int(np.sum(pvals > st_arr[0]))]
        if 0 in counts:
            raise InputError(f"{what}: no study has a p-value "
                             f"{'<=' if counts[0] == 0 else '>'} {st_arr[0]:g}; choose another "
                             "threshold steps=")
        ptable = counts
    dmin = _vector(delta_min, n_delta, "delta_min", dmin_def)
    dmax = _vector(delta_max, n_delta, "delta_max", 100.0)
    if np.any(dmin < 0) or np.any(dmax <= dmin) or (typ == "beta" and np.any(dmin <= 0)):
        raise InputError(f"{what}: need 0 <= delta_min < delta_max (beta: delta_min > 0); got "
                         f"{list(dmin)}, {list(dmax)}")
    if not np.all(np.isfinite(dmax)):
        raise InputError(f"{what}: delta_max must be finite (evsynth maps deltas to "
                         "(delta_min, delta_max))")
    dfix = np.full(n_delta, np.nan)
    if delta is not None:
        arr = np.atleast_1d(np.asarray([np.nan if d is None else d for d in np.atleast_1d(
            np.asarray(delta, dtype=object))], dtype=float))
        if arr.size == 1:
            arr = np.full(n_delta, arr[0])
        if arr.size != n_delta:
            raise InputError(f"{what}: delta must have {n_delta} values for this model; got "
                             f"{arr.size}")
        if np.any(arr[~np.isnan(arr)] < 0) or (typ == "beta" and np.any(arr[~np.isnan(arr)]
                                                                        <= 0)):
            raise InputError(f"{what}: fixed delta values must be >= 0 (> 0 for beta)")
        dfix = arr
        fixed = ~np.isnan(dfix)
        dmin = np.where(fixed & (dmin > dfix), dfix - np.finfo(float).eps ** 0.2, dmin)
        dmax = np.where(fixed & (dmax < dfix), dfix + np.finfo(float).eps ** 0.2, dmax)
    if typ == "stepfun" and np.isnan(dfix[0]):
        dfix[0] = 1.0
    if typ == "stepfun" and ptable is not None:
        empty = [j for j in range(n_delta) if ptable[j] == 0 and np.isnan(dfix[j])]
        if empty:
            j = empty[0]
            left = 0 if j == 0 else st_arr[j - 1]
            raise InputError(f"{what}: no study has a p-value in the interval ({left:g}, "
                             f"{st_arr[j]:g}]; its selection weight cannot be estimated "
                             "(choose other steps)")
    n_free = int(np.sum(np.isnan(dfix)))
    n_par = p + (0 if fixed_tau2 is not None else 1) + n_free
    if k < n_par:
        raise InputError(f"{what}: too few studies (k = {k}) to estimate {n_par} parameters")
    spec = _Spec(typ, y, v, np.asarray(X, dtype=float), preci, pvals, st_arr, pgrp, alternative,
                 pval_min, n_delta, dmin, dmax, np.full(n_delta, h0), fixed_tau2,
                 np.full(n_delta, init))
    # fit --------------------------------------------------------------------------------------
    o = _optimise(spec, beta0, tau20, delta_fixed=dfix, tau2_fixed=fixed_tau2)
    if typ == "negexppow" and n_delta > 1 and np.isnan(dfix[1]):
        # with delta1 near 0 the likelihood hardly depends on delta2: from (1, 1) the search
        # can stall on that ridge (ll -1.8406 where delta2 = 100 reaches -1.497); larger
        # delta2 starts, the best kept
        for d2 in (10.0, 100.0):
            start = np.array([1.0, min(d2, float(dmax[1]))])
            other = _optimise(spec, beta0, tau20, delta_fixed=dfix, tau2_fixed=fixed_tau2,
                              delta_start=start)
            if other.ll > o.ll + 1e-9:
                o = other
    if not o.converged:
        notes.append("the optimiser did not report convergence")
    beta, tau2, dlt, ll = o.beta, o.tau2, o.delta, o.ll
    free = np.isnan(dfix)
    # Hessian of -ll on the natural scale (beta, tau2 when estimated and interior, free deltas)
    tau2_in = fixed_tau2 is None and tau2 > 1e-8
    if fixed_tau2 is None and not tau2_in:
        notes.append("tau^2 is at the boundary 0: its SE is not available")

    def negll_nat(zz: np.ndarray) -> float:
        b = zz[:p]
        t2 = float(zz[p]) if tau2_in else tau2
        d = dlt.copy()
        d[free] = zz[p + (1 if tau2_in else 0):]
        return -spec.loglik(b, max(t2, 0.0), d)

    z0 = np.r_[beta, [tau2] if tau2_in else [], dlt[free]]
    with np.errstate(invalid="ignore", over="ignore"):  # a refused step: a NaN Hessian, below
        H = richardson_hessian(negll_nat, z0)
    try:
        cov = np.linalg.inv(H)
        if not np.all(np.isfinite(cov)) or np.any(np.diag(cov) <= 0):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        cov = np.full_like(H, np.nan)
        notes.append("the Hessian is not invertible: SEs are not available (metafor: 'Error "
                     "when trying to invert Hessian')")
    names = [*fit.coef_names, *(["tau2"] if tau2_in else []),
             *[f"delta{j + 1}" for j in np.flatnonzero(free)]]
    vb = cov[:p, :p]
    se = np.sqrt(np.diag(vb))
    se_tau2 = float(np.sqrt(cov[p, p])) if tau2_in else np.nan
    off = p + (1 if tau2_in else 0)
    vd = np.full((n_delta, n_delta), np.nan)
    vd[np.ix_(free, free)] = cov[off:, off:]
    se_delta = np.sqrt(np.diag(vd))
    crit = float(special.ndtri(1 - (1 - fit.level / 100) / 2))
    zval = beta / se
    pval = 2 * special.ndtr(-np.abs(zval))
    h0v = np.full(n_delta, h0)
    with np.errstate(invalid="ignore", divide="ignore"):
        zd = (dlt - h0v) / se_delta
    pd_ = 2 * special.ndtr(-np.abs(zd))
    lbd = np.maximum(dlt - crit * se_delta, 0.0)
    ubd = dlt + crit * se_delta
    eps4 = np.finfo(float).eps ** 0.25
    if np.any(free & ((dlt <= dmin + eps4) | (dlt >= dmax - 100 * eps4))):
        notes.append("one or more delta estimates are (almost) at their bound "
                     f"({', '.join(f'{a:g}' for a in dmin)}; "
                     f"{', '.join(f'{b:g}' for b in dmax)}); treat the results with caution")
    btt = fit.btt
    try:
        QM = float(beta[btt] @ np.linalg.solve(vb[np.ix_(btt, btt)], beta[btt]))
    except np.linalg.LinAlgError:
        QM = np.nan
    QMp = float(special.chdtrc(len(btt), QM)) if np.isfinite(QM) else np.nan
    LRT_tau2 = LRTp_tau2 = np.nan
    if fixed_tau2 is None:
        o0 = _optimise(spec, beta0, tau20, delta_fixed=dfix, tau2_fixed=0.0)
        LRT_tau2 = max(0.0, 2 * (ll - o0.ll))
        LRTp_tau2 = float(special.chdtrc(1, LRT_tau2))
    LRT = max(0.0, 2 * (ll - ll0))
    LRTdf = n_free
    LRTp = float(special.chdtrc(LRTdf, LRT)) if LRTdf > 0 else np.nan
    ci_t2 = (max(tau2 - crit * se_tau2, 0.0), tau2 + crit * se_tau2) if tau2_in else \
        (np.nan, np.nan)
    res = SelectionModel(
        typ, alternative, st_arr.tolist() if typ == "stepfun" else (
            None if typ == "beta" else st_arr.tolist()),
        list(fit.coef_names), beta, se, zval, pval, beta - crit * se, beta + crit * se, vb,
        tau2, se_tau2, dlt, se_delta, zd, pd_, lbd, ubd, LRT, LRTdf, LRTp, ll, ll0, k, ptable,
        fit.level, o.converged, notes, prec=prec_code, scaleprec=bool(scaleprec),
        delta_fixed=[bool(f) for f in ~free], h0_delta=h0v, LRT_tau2=LRT_tau2,
        LRTp_tau2=LRTp_tau2, ci_lb_tau2=ci_t2[0], ci_ub_tau2=ci_t2[1], QM=QM, QMp=QMp, vd=vd,
        cov_all=cov, cov_names=names)
    res._spec = spec
    res._fixed_tau2 = fixed_tau2
    return res
