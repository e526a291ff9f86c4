"""Confidence intervals for the amount of heterogeneity (tau^2, tau, I^2, H^2) of a
:func:`evsynth.meta` fit: the one home of these formulas (metafor 3.8 ``confint.rma.uni``).

``type`` (metafor's codes, matched case-insensitively):

``"QP"`` (default)
    Q-profile (Viechtbauer 2007): the bounds solve ``Q(tau^2) = chi^2_{k-p}`` quantiles, with
    ``Q(tau^2) = sum (y_i - x_i'b)^2 / (v_i + tau^2)`` the generalised Q statistic at the GLS fit.
``"GENQ"`` (default for GENQ/GENQM fits)
    Generalised Q with the fit's user weights ``a_i`` (Biggerstaff & Jackson 2008; Jackson
    2013): ``Q_a = sum a_i (y_i - x_i'b_a)^2`` is distributed as ``sum lambda_j chi^2_1`` with
    ``lambda`` the k - p positive eigenvalues of ``S P_a S``, ``S = diag(sqrt(v_i + tau^2))``; the
    bounds solve ``P(Q_a(tau^2) > Q_obs) = alpha/2`` and ``1 - alpha/2`` (:func:`qf_sf`).
``"PL"``
    Profile likelihood (ML and REML fits; Hardy & Thompson 1996): the bounds solve
    ``2 (ll(tau2_hat) - ll(tau^2)) = chi^2_{1, 1-alpha}``, ``ll`` the (restricted)
    log-likelihood at tau^2 with the coefficients estimated there.
``"Wald"``, ``"Wald.log"``, ``"Wald.sqrt"``
    Wald-type intervals from the estimate and its standard error ``se`` (for ML
    ``sqrt(2 / sum w_i^2)``, for REML ``sqrt(2 / tr(PP))``: the inverse (restricted) Fisher
    information; other estimators their own SE, as metafor): ``tau^2 +/- z se`` floored at 0;
    on the log scale ``exp(log(tau^2) +/- z se / tau^2)`` (delta method: ``se(log tau^2) =
    se / tau^2``; undefined at tau^2 = 0); on the square-root scale
    ``(max(0, tau -/+ z se / (2 tau)))^2``.

I^2 and H^2 bounds are the tau^2 bounds transformed with the typical within-study variance
``vt = (k - p) / tr(P_FE)``: ``I^2 = 100 tau^2 / (vt + tau^2)``, ``H^2 = tau^2 / vt + 1``
(metafor; Higgins & Thompson 2002).

Where metafor's search stops at its default ``tau2.max = max(100, 10 tau^2)`` and reports
``> tau2.max``, evsynth widens the search until the bound is found (a finite answer, not a
truncated one).
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from evsynth._lazy import LazyModule
from evsynth.errors import InputError
from evsynth.models.results import FrameResult
from evsynth.validation import choice, level_fraction

if TYPE_CHECKING:
    import pandas as pd

    from evsynth.models.meta import MetaResult
else:
    pd = LazyModule("pandas")

#: interval types of :func:`tau2_confint` (metafor ``confint.rma.uni``'s ``type``)
CI_TYPES = ("QP", "GENQ", "PL", "Wald", "Wald.log", "Wald.sqrt")
_CI_ALIASES = {"Q-profile": "QP", "qprofile": "QP", "profile": "PL", "wald_log": "Wald.log",
               "wald-log": "Wald.log", "log": "Wald.log", "wald_sqrt": "Wald.sqrt",
               "generalised-q": "GENQ", "generalized-q": "GENQ"}
_TYPE_NAMES = {"QP": "Q-profile", "GENQ": "generalised Q", "PL": "profile likelihood",
               "Wald": "Wald", "Wald.log": "Wald (log scale)", "Wald.sqrt": "Wald (sqrt scale)"}
_REFERENCES = {
    "QP": "Viechtbauer 2007, Stat Med 26:37, doi:10.1002/sim.2514",
    "GENQ": "Jackson 2013, Res Synth Methods 4:220, doi:10.1002/jrsm.1081; Biggerstaff & "
            "Jackson 2008, Stat Med 27:6093, doi:10.1002/sim.3428",
    "PL": "Hardy & Thompson 1996, Stat Med 15:619, doi:10.1002/(SICI)1097-0258(19960330)15:6"
          "<619::AID-SIM188>3.0.CO;2-A",
    "Wald": "metafor confint.rma.uni type='Wald' (Viechtbauer 2007, Stat Med 26:37)",
    "Wald.log": "delta method on log(tau^2); metafor confint.rma.uni type='Wald.log'",
    "Wald.sqrt": "delta method on tau; metafor confint.rma.uni type='Wald.sqrt'",
}


class ConfintResult(FrameResult):
    """Confidence intervals for the heterogeneity parameters (metafor ``confint.rma.uni``).

    ``to_frame()``: one row per parameter (``tau2``, ``tau``, ``I2``, ``H2``) with ``estimate``,
    ``ci_lb``, ``ci_ub``; a row is also an attribute (``ci.tau2`` is a Series with those three);
    ``level`` in percent; ``method_info`` (``type`` code, its name, ``df`` where a chi-square or
    quadratic-form reference distribution is used, ``ci_null``, notes). Other DataFrame
    attributes (``ci.loc``) still work for one release with a DeprecationWarning.
    """

    _dict_fields = ("level", "method_info", "table")
    _row_attributes = ("tau2", "tau", "I2", "H2")
    _was_dataframe = "confint()"

    def __init__(self, frame: pd.DataFrame, level: float, method_info: dict[str, Any]) -> None:
        self.frame = frame
        self.level = level
        self.method_info = method_info

    @property
    def table(self) -> pd.DataFrame:
        """The intervals with the parameter as a column."""
        return self.frame.reset_index(names="parameter")

    def summary_text(self) -> str:
        df = self.method_info.get("df")
        head = (f"{self.level:g}% confidence intervals ({self.method_info['name']}"
                + (f", df = {df}" if df is not None else "") + ")")
        lines = [head, self.frame.to_string(float_format=lambda x: f"{x:.4f}")]
        lines += [f"Note: {n}" for n in self.method_info.get("notes", [])]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# distribution of a positive quadratic form in normal variables
# --------------------------------------------------------------------------------------------
def qf_sf(x: float, lam: np.ndarray) -> float:
    """``P(sum_j lambda_j chi^2_1 > x)`` for weights ``lambda_j >= 0`` (independent chi^2_1).

    Imhof's (1961) inversion of the characteristic function,
    ``P(Q > x) = 1/2 + (1/pi) int_0^inf sin(theta(u)) / (u rho(u)) du`` with
    ``theta(u) = sum arctan(lambda_j u) / 2 - x u / 2`` and
    ``rho(u) = prod (1 + lambda_j^2 u^2)^(1/4)``, on the weights scaled to a maximum of 1.
    Equal weights give the
    scaled chi-square distribution exactly. Where the integrand decays fast (many weights) the
    integral is truncated where a bound on the tail falls below 1e-14 and integrated by
    24-point Gauss-Legendre on half-period panels; otherwise the oscillating tail beyond one
    period is integrated as Fourier integrals. Accuracy about 1e-10 (metafor's ``.GENQ.func``
    uses ``CompQuadForm::farebrother`` with accuracy 1e-6).

    Parameters
    ----------
    x : float
        The observed value of the quadratic form.
    lam : numpy.ndarray
        The weights lambda_j (non-negative; zeros are dropped).

    Returns
    -------
    float
        The upper-tail probability.

    References
    ----------
    .. [1] Imhof JP (1961). Computing the distribution of quadratic forms in normal variables.
           *Biometrika* 48(3/4):419-426. doi:10.1093/biomet/48.3-4.419

    Examples
    --------
    >>> from scipy import stats
    >>> bool(abs(qf_sf(5.0, np.array([2.0, 2.0])) - stats.chi2.sf(2.5, 2)) < 1e-12)
    True
    >>> round(qf_sf(5.0, np.array([0.1, 2.0, 5.0])), 6)
    0.475222
    """
    from scipy import special

    lam = np.asarray(lam, dtype=float)
    lam = lam[lam > 0]
    if lam.size == 0:
        return 0.0 if x >= 0 else 1.0
    if x <= 0:
        return 1.0
    top = float(lam.max())
    lam = np.sort(lam / top)[::-1]
    x = x / top
    m = lam.size
    if float(lam.min()) >= 1.0 - 1e-15:  # equal weights: lambda chi^2_m
        return float(special.chdtrc(m, x / float(lam.mean())))
    # where |integrand| <= 1 / (u rho(u)) <= 1 / (u prod_{j<=J} sqrt(lambda_j u)) integrates
    # to below _QF_EPS beyond U (the J largest weights, the best J)
    J = np.arange(1, m + 1)
    log_prod = np.cumsum(0.5 * np.log(lam))
    logU = (2.0 / J) * (np.log(2.0 / (J * _QF_EPS)) - log_prod)
    U = float(np.exp(min(float(logU.min()), 700.0)))
    h = min(math.pi / x, 0.25)  # panel width: half a period of the oscillation, at most 1/4
    if U / h <= _QF_PANELS:
        total = _imhof_panels(lam, x, U, h)
    else:
        total = _imhof_fourier(lam, x)
        if not math.isfinite(total):
            total = _imhof_panels(lam, x, U if U / h <= 20 * _QF_PANELS else
                                  20 * _QF_PANELS * h, h)
    return float(min(1.0, max(0.0, 0.5 + total / math.pi)))


#: target absolute error of the truncated Imhof integral, and the most Gauss-Legendre panels
#: used before the Fourier-integral route
_QF_EPS = 1e-14
_QF_PANELS = 2000
_GL_X, _GL_W = np.polynomial.legendre.leggauss(24)


def _imhof_integrand(lam: np.ndarray, x: float, u: np.ndarray) -> np.ndarray:
    """``sin(theta(u)) / (u rho(u))`` of Imhof's formula, vectorised over u (> 0)."""
    lu = np.multiply.outer(u, lam)
    theta = 0.5 * np.arctan(lu).sum(axis=-1) - 0.5 * x * u
    log_rho = 0.25 * np.log1p(lu * lu).sum(axis=-1)
    return np.sin(theta) * np.exp(-log_rho) / u


def _imhof_panels(lam: np.ndarray, x: float, U: float, h: float) -> float:
    """Imhof's integral over (0, U] by 24-point Gauss-Legendre on panels of width ``h``
    (the integrand is smooth: ``(sum lambda - x) / 2`` at 0)."""
    n = max(1, math.ceil(U / h))
    total = 0.0
    for start in range(0, n, 2000):  # chunks of panels: bounded memory
        left = h * np.arange(start, min(n, start + 2000))
        u = (left[:, None] + 0.5 * h * (_GL_X[None, :] + 1.0)).ravel()
        total += float(np.sum(_imhof_integrand(lam, x, u).reshape(-1, _GL_X.size)
                              * _GL_W[None, :]) * 0.5 * h)
    return total


def _imhof_fourier(lam: np.ndarray, x: float) -> float:
    """Imhof's integral for slowly decaying integrands (few weights): one period by adaptive
    quadrature, the rest as Fourier integrals (QUADPACK QAWF) of
    ``sin(phi) cos(x u/2) - cos(phi) sin(x u/2)``, ``phi = sum arctan(lambda u) / 2``."""
    from scipy import integrate

    def rho(u: float) -> float:
        return math.exp(0.25 * float(np.sum(np.log1p((lam * u) ** 2))))

    def phi(u: float) -> float:
        return 0.5 * float(np.sum(np.arctan(lam * u)))

    def head(u: float) -> float:
        if u == 0.0:
            return 0.5 * (float(lam.sum()) - x)
        return math.sin(phi(u) - 0.5 * x * u) / (u * rho(u))

    A = 2 * math.pi / x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        v0 = integrate.quad(head, 0.0, A, epsabs=1e-14, epsrel=1e-12, limit=500)[0]
        v1 = integrate.quad(lambda u: math.sin(phi(u)) / (u * rho(u)), A, np.inf,
                            weight="cos", wvar=0.5 * x, epsabs=1e-14, limlst=200, limit=500)[0]
        v2 = integrate.quad(lambda u: math.cos(phi(u)) / (u * rho(u)), A, np.inf,
                            weight="sin", wvar=0.5 * x, epsabs=1e-14, limlst=200, limit=500)[0]
    out = v0 + v1 - v2
    return out if math.isfinite(out) and abs(out) < 10 else math.nan


# --------------------------------------------------------------------------------------------
# the bounds
# --------------------------------------------------------------------------------------------
def _increasing_root(f: Any, lo: float, start: float) -> float:
    """Root of an increasing function with ``f(lo) < 0``: the upper end is widened from
    ``start`` by factors of 10 until ``f > 0`` (inf if it never is), then Brent's method."""
    from scipy.optimize import brentq

    hi = max(start, lo + 1e-8)
    while f(hi) <= 0:
        hi *= 10
        if hi > 1e300:
            return math.inf
    return float(brentq(f, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=1000))


def q_profile_bound(fit: MetaResult, target: float) -> float:
    """tau^2 solving the generalised Q statistic ``Q(tau^2) = target`` (0 if ``Q(0) <=
    target``; Viechtbauer 2007): ``Q(tau^2)`` is the GLS residual sum of squares with weights
    ``1 / (v_i + tau^2)``, decreasing in tau^2."""
    from evsynth.models.kernels import WeightedFit

    des = fit.design

    def q(t: float) -> float:
        return target - float(WeightedFit(des, np.array([t])).RSS[0])

    if q(0.0) >= 0:
        return 0.0
    start = max(100.0, 10 * fit.tau2, 10 * float(np.var(des.y)) + 1)
    return _increasing_root(q, 0.0, start)


def _genq_bounds(fit: MetaResult, alpha: float) -> tuple[float, float, bool]:
    """(lower, upper, ci_null) of the generalised-Q interval (Jackson 2013)."""
    from evsynth.models.kernels import WeightedFit, genq_lambdas

    des = fit.design
    a = fit.user_weights
    assert a is not None
    Q = float(WeightedFit(des, w=a).RSS[0])

    def F(t: float) -> float:
        return qf_sf(Q, genq_lambdas(des, a, t))

    start = max(100.0, 10 * fit.tau2, 10 * float(np.var(des.y)) + 1)
    f0 = F(0.0)
    if f0 >= 1 - alpha / 2:
        return 0.0, 0.0, True
    lb = 0.0 if f0 >= alpha / 2 else _increasing_root(lambda t: F(t) - alpha / 2, 0.0, start)
    ub = _increasing_root(lambda t: F(t) - (1 - alpha / 2), 0.0, start)
    return lb, ub, False


def _pl_bounds(fit: MetaResult, alpha: float) -> tuple[float, float]:
    """(lower, upper) of the profile-likelihood interval: where the likelihood-ratio statistic
    against the estimate reaches ``chi^2_{1, 1-alpha}``."""
    from scipy.optimize import brentq
    from scipy.special import chdtri

    from evsynth.models.engine import loglik_at

    des = fit.design
    reml = fit.method == "REML"
    crit = float(chdtri(1, alpha))
    ll_hat = fit.ll

    def f(t: float) -> float:
        ll = float(loglik_at(des, np.array([t]), reml, fit.user_weights, fit.weighted)[0])
        return -2 * (ll - ll_hat) - crit

    t_hat = fit.tau2
    if f(0.0) <= 0:
        lb = 0.0
    else:
        lb = float(brentq(f, 0.0, t_hat, xtol=1e-15, rtol=4 * np.finfo(float).eps,
                          maxiter=1000))
    start = max(100.0, 10 * t_hat)
    ub = _increasing_root(f, t_hat, start)
    return lb, ub


def tau2_confint(fit: MetaResult, type: str | None = None,
                 level: float | None = None) -> ConfintResult:
    """Confidence intervals for tau^2, tau, I^2 and H^2 of a :func:`evsynth.meta` fit (metafor
    ``confint.rma.uni``; the formulas of every ``type`` are in the module docstring).

    Parameters
    ----------
    fit : MetaResult
        A random- or mixed-effects fit with an estimated tau^2.
    type : str, optional
        ``"QP"`` (Q-profile; the default), ``"GENQ"`` (generalised Q; the default for
        GENQ/GENQM fits, and only for them, as metafor), ``"PL"`` (profile likelihood; ML and
        REML fits), ``"Wald"``, ``"Wald.log"``, ``"Wald.sqrt"``; case-insensitive.
    level : float, optional
        Confidence level in percent (95) or as a proportion; default the fit's.

    Returns
    -------
    ConfintResult
        Rows ``tau2``, ``tau``, ``I2``, ``H2`` with ``estimate``, ``ci_lb``, ``ci_ub``.

    Raises
    ------
    InputError
        For an equal-effects fit, a fixed tau^2, k - p < 1, a ``type`` that does not apply to
        the fit (``GENQ`` without user weights, ``PL`` of a non-likelihood estimator).

    References
    ----------
    .. [1] Viechtbauer W (2007). Confidence intervals for the amount of heterogeneity in
           meta-analysis. *Stat Med* 26(1):37-52. doi:10.1002/sim.2514
    .. [2] Jackson D (2013). Confidence intervals for the between-study variance in random
           effects meta-analysis using generalised Cochran heterogeneity statistics. *Res Synth
           Methods* 4(3):220-229. doi:10.1002/jrsm.1081
    .. [3] Hardy RJ, Thompson SG (1996). A likelihood approach to meta-analysis with random
           effects. *Stat Med* 15(6):619-629.
           doi:10.1002/(SICI)1097-0258(19960330)15:6<619::AID-SIM188>3.0.CO;2-A

    Examples
    --------
    >>> import evsynth
    >>> from evsynth.models.heterogeneity import tau2_confint
    >>> fit = evsynth.meta([0.1, 0.3, 0.35, 0.65, 0.45, 0.15], [0.03, 0.03, 0.05, 0.01, 0.05,
    ...                    0.02])
    >>> ci = tau2_confint(fit, type="PL")
    >>> ci.method_info["type"], round(float(ci.tau2["ci_lb"]), 4)
    ('PL', 0.0016)
    """
    from evsynth.models.kernels import FIXED_METHODS, WEIGHTED_METHODS

    if fit.method in FIXED_METHODS:
        raise InputError("confint: an equal-effects model has no tau^2 to bound")
    if fit.tau2_fix:
        raise InputError("confint: tau^2 was fixed (tau2=), not estimated; there is nothing to "
                         "bound")
    if not fit.refittable and fit.user_weights is None and fit.weighted:
        raise InputError("confint: this subgroup uses the common tau^2 of the subgroup "
                         "model; expected confint() of that model, meta(..., mods='~ 0 + "
                         "C(subgroup)', data=...)")
    if fit.k - fit.p < 1:
        raise InputError(f"confint: needs k > p (k = {fit.k}, p = {fit.p})")
    genq_fit = fit.method in WEIGHTED_METHODS
    code = ("GENQ" if genq_fit else "QP") if type is None else choice(type, CI_TYPES, "type",
                                                                        _CI_ALIASES)
    lvl = level_fraction(fit.level if level is None else level)
    alpha = 1 - lvl
    dfree = fit.k - fit.p
    notes: list[str] = []
    ci_null = False
    tau2 = fit.tau2
    if code == "QP":
        from scipy.special import chdtri

        lb = q_profile_bound(fit, float(chdtri(dfree, alpha / 2)))
        ub = q_profile_bound(fit, float(chdtri(dfree, 1 - alpha / 2)))
        ci_null = ub == 0.0
    elif code == "GENQ":
        if not genq_fit:
            raise InputError(f"confint: type 'GENQ' needs a fit with method 'GENQ' or 'GENQM' "
                             f"(this one is {fit.method!r}), as metafor")
        lb, ub, ci_null = _genq_bounds(fit, alpha)
    elif code == "PL":
        if fit.method not in ("ML", "REML"):
            raise InputError(f"confint: type 'PL' (profile likelihood) needs an ML or REML fit; "
                             f"this one is {fit.method!r}, whose estimate is not the maximum "
                             "of a likelihood (use type 'QP', or refit with method='REML')")
        lb, ub = _pl_bounds(fit, alpha)
    else:
        from scipy.special import ndtri

        z = float(ndtri(1 - alpha / 2))
        se = fit.se_tau2
        if not np.isfinite(se):
            raise InputError(f"confint: type {code!r} needs the standard error of tau^2, which "
                             "this fit does not have")
        if code == "Wald":
            lb, ub = max(0.0, tau2 - z * se), tau2 + z * se
        elif tau2 <= 0:
            lb = ub = math.nan
            notes.append(f"tau^2 = 0: the {_TYPE_NAMES[code]} interval is undefined at the "
                         "boundary (the transformation has no derivative there)")
        elif code == "Wald.log":
            # exp of log(tau^2) -+ z se / tau^2: beyond the double range for a tiny tau^2 with a
            # large SE (0 and +inf, as metafor; math.exp raised OverflowError, fuzz round 5)
            half = z * se / tau2
            lb = float(np.exp(math.log(tau2) - half))
            with np.errstate(over="ignore"):
                ub = max(tau2, float(np.exp(math.log(tau2) + half)))
        else:
            tau = math.sqrt(tau2)
            lb = max(0.0, tau - z * se / (2 * tau)) ** 2
            ub = (tau + z * se / (2 * tau)) ** 2
    vt = fit.vt
    with np.errstate(divide="ignore", invalid="ignore"):
        rows = {
            "tau2": (tau2, lb, ub),
            "tau": (fit.tau, math.sqrt(lb) if lb >= 0 else math.nan,
                    math.sqrt(ub) if ub >= 0 else math.nan),
            "I2": (fit.I2, 100 * lb / (vt + lb), 100.0 if ub == math.inf
                   else 100 * ub / (vt + ub)),
            "H2": (fit.H2, lb / vt + 1, ub / vt + 1),
        }
    if ci_null:
        notes.append("the interval is the null set {0} at this level (tau^2 = 0 is below "
                     "the lower end of the plausible range); shown as [0, 0], as metafor")
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["estimate", "ci_lb", "ci_ub"])
    pct = round(100 * lvl, 10)
    info = {"type": code, "name": _TYPE_NAMES[code], "level": pct,
            "df": dfree if code in ("QP", "GENQ") else None, "ci_null": ci_null,
            "notes": notes, "reference": _REFERENCES[code]}
    return ConfintResult(frame, pct, info)
