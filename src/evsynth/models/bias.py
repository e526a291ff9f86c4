"""Small-study effects and publication bias on a fitted model (metafor's ``regtest``,
``ranktest``, ``trimfill``, ``fsn``, ``selmodel``, ``hc``; plus Peters', Harbord's and PET-PEESE).

The methods live on :class:`SmallStudyMethods`, a mixin of :class:`evsynth.models.meta.MetaResult`
(``self`` is a fitted model). :func:`fsn` works on raw effects. Every formula cites its source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import integrate, optimize, special, stats

from evsynth.errors import InputError, check_finite, first_bad, resolve_column, study_name
from evsynth.models.kernels import FIXED_METHODS, Design, Segments, WeightedFit
from evsynth.models.results import ResultMixin, fmt_p

PREDICTORS = ("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv")
REGTEST_METHODS = ("egger", "peters", "harbord")


# --------------------------------------------------------------------------------------------
# weighted least squares (R's lm with weights): the one home for the "lm" regressions
# --------------------------------------------------------------------------------------------
@dataclass(repr=False)
class LinearFit(ResultMixin):
    """Weighted least-squares regression with t(k - p) inference, as R's ``lm(y ~ X - 1,
    weights = w)``: ``beta = (X'WX)^-1 X'Wy``, ``Var(beta) = s^2 (X'WX)^-1`` with the residual
    variance ``s^2 = sum(w r^2) / (k - p)`` (the multiplicative-error model of Egger et al. 1997,
    BMJ 315:629; Thompson & Sharp 1999, Stat Med 18:2693)."""

    coef_names: list[str]
    beta: np.ndarray
    se: np.ndarray
    tval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    df: int
    sigma2: float
    level: float

    _dict_fields = ("coef_names", "beta", "se", "tval", "pval", "ci_lb", "ci_ub", "df", "sigma2",
                    "level")

    @property
    def coefficients(self) -> pd.DataFrame:
        """Coefficient table indexed by name."""
        return pd.DataFrame({"estimate": self.beta, "se": self.se, "tval": self.tval,
                             "pval": self.pval, "ci_lb": self.ci_lb, "ci_ub": self.ci_ub},
                            index=self.coef_names)

    def summary_text(self) -> str:
        table = self.coefficients.copy()
        table["pval"] = [fmt_p(p) for p in table["pval"]]
        return (f"Weighted regression (t with df = {self.df}; residual variance "
                f"{self.sigma2:.4f})\n" + table.to_string(float_format=lambda x: f"{x:.4f}"))


def weighted_lm(y: np.ndarray, X: np.ndarray, w: np.ndarray, names: Sequence[str],
                level: float = 0.95) -> LinearFit:
    """Fit :class:`LinearFit` (``level`` as a fraction; the result stores percent) through the
    core WLS kernel."""
    k, p = X.shape
    if k - p < 1:
        raise InputError(f"the weighted regression needs more studies than coefficients "
                         f"(k = {k}, p = {p})")
    fit = WeightedFit(Design(y, 1.0 / w, X, Segments(np.array([k]))), w=w)
    df = k - p
    sigma2 = float(fit.RSS[0]) / df
    if float(fit.RSS[0]) <= 1e-24 * max(float(np.sum(w * y * y)), np.finfo(float).tiny):
        raise InputError(f"the weighted regression on {', '.join(names)} fits the {k} studies "
                         "exactly (residual variance 0): its t test is undefined")
    beta = fit.beta[0].copy()
    se = np.sqrt(np.diag(fit.Ainv[0]) * sigma2)
    with np.errstate(divide="ignore", invalid="ignore"):
        tval = beta / se
    pval = 2 * special.stdtr(df, -np.abs(tval))
    crit = special.stdtrit(df, 1 - (1 - level) / 2)
    return LinearFit(list(names), beta, se, tval, pval, beta - crit * se, beta + crit * se, df,
                     sigma2, round(100 * level, 10))


# --------------------------------------------------------------------------------------------
# result objects
# --------------------------------------------------------------------------------------------
@dataclass(repr=False)
class RegtestResult(ResultMixin):
    """Regression test for funnel-plot asymmetry (metafor ``regtest`` field names).

    ``zval`` is the test statistic (a t statistic when ``dfs`` is not None), ``est``/``ci_lb``/
    ``ci_ub`` the limit estimate (the intercept: the effect of a study with SE, variance or 1/n
    of 0) when defined, ``fit`` the fitted regression (a MetaResult for ``model="rma"``, a
    :class:`LinearFit` for ``model="lm"``).
    """

    method: str
    model: str
    predictor: str
    zval: float
    pval: float
    dfs: int | None
    est: float | None
    ci_lb: float | None
    ci_ub: float | None
    fit: Any
    tested: str

    _dict_fields = ("method", "model", "predictor", "zval", "pval", "dfs", "est", "ci_lb",
                    "ci_ub", "tested")

    def summary_text(self) -> str:
        names = {"egger": "Egger's regression test (weighted regression, Egger et al. 1997)",
                 "peters": "Peters' test (Peters et al. 2006)",
                 "harbord": "Harbord's modified test (Harbord et al. 2006)"}
        head = names.get(self.method, "Regression test for funnel plot asymmetry")
        model = ("mixed-effects meta-regression model" if self.model == "rma"
                 else "weighted regression with multiplicative dispersion")
        stat = "z" if self.dfs is None else f"t(df = {self.dfs})"
        lines = [head, f"  model: {model}; predictor: {self.predictor}; tested: {self.tested}",
                 f"  test for funnel plot asymmetry: {stat} = {self.zval:.4f}, "
                 f"p = {fmt_p(self.pval)}"]
        if self.est is not None:
            lines.append(f"  limit estimate (as sei -> 0): {self.est:.4f} "
                         f"(CI: {self.ci_lb:.4f}, {self.ci_ub:.4f})")
        return "\n".join(lines)


@dataclass(repr=False)
class RanktestResult(ResultMixin):
    """Begg & Mazumdar rank correlation test (metafor ``ranktest``): Kendall's tau and p."""

    tau: float
    pval: float
    exact: bool
    k: int

    _dict_fields = ("tau", "pval", "exact", "k")

    def summary_text(self) -> str:
        kind = "exact" if self.exact else "normal approximation"
        return (f"Rank correlation test for funnel plot asymmetry (Begg & Mazumdar 1994)\n"
                f"  Kendall's tau = {self.tau:.4f}, p = {fmt_p(self.pval)} ({kind}; k = "
                f"{self.k})")


@dataclass(repr=False)
class TrimfillResult(ResultMixin):
    """Trim-and-fill (metafor ``trimfill``): the number of imputed studies ``k0`` on ``side``,
    its SE (``se_k0``), the R0 p-value ``p_k0``, the filled data (``yi``, ``vi``, ``fill`` marks
    the imputed rows, ``slab``) and the model refitted to them (``fit``)."""

    k0: int
    side: str
    estimator: str
    se_k0: float
    p_k0: float | None
    yi: np.ndarray
    vi: np.ndarray
    fill: np.ndarray
    slab: list
    fit: Any
    iterations: int
    notes: list = field(default_factory=list)

    _dict_fields = ("k0", "side", "estimator", "se_k0", "p_k0", "yi", "vi", "fill", "slab",
                    "beta", "se", "zval", "pval", "ci_lb", "ci_ub", "tau2", "k", "iterations",
                    "notes")

    @property
    def filled(self) -> pd.DataFrame:
        """The imputed studies only (slab, yi, vi)."""
        return pd.DataFrame({"slab": [s for s, f in zip(self.slab, self.fill, strict=True) if f],
                             "yi": self.yi[self.fill], "vi": self.vi[self.fill]})

    def __getattr__(self, name: str):
        # estimate fields of the refitted model: beta, se, zval, pval, ci_lb, ci_ub, tau2, k, ...
        if name.startswith("_") or name in ("fit",):
            raise AttributeError(name)
        return getattr(self.fit, name)

    def summary_text(self) -> str:
        se = f" (SE = {self.se_k0:.4f})" if np.isfinite(self.se_k0) else " (SE undefined)"
        p = f", p = {fmt_p(self.p_k0)}" if self.p_k0 is not None else ""
        return (f"Trim-and-fill ({self.estimator}): estimated number of missing studies on the "
                f"{self.side} side: {self.k0}{se}{p}\n\n" + self.fit.summary_text())


@dataclass(repr=False)
class FsnResult(ResultMixin):
    """Fail-safe N (metafor ``fsn``): ``fsnum`` studies averaging a null (or ``target``) effect
    would bring the result to ``alpha`` (Rosenthal/Rosenberg) or to ``target`` (Orwin)."""

    type: str
    fsnum: float
    alpha: float
    pval: float | None
    meanes: float | None
    target: float | None
    test: str | None = None

    _dict_fields = ("type", "fsnum", "alpha", "pval", "meanes", "target", "test")

    def summary_text(self) -> str:
        lines = [f"Fail-safe N calculation using the {self.type} approach"]
        if self.pval is not None:
            lines.append(f"  observed significance level: {fmt_p(self.pval)}")
        if self.meanes is not None:
            lines.append(f"  average effect size: {self.meanes:.4f}")
        if self.target is not None:
            lines.append(f"  target effect size: {self.target:.4f}")
        else:
            lines.append(f"  target significance level: {self.alpha:g}")
        lines.append(f"  fail-safe N: {self.fsnum:g}")
        return "\n".join(lines)


@dataclass(repr=False)
class PetPeeseResult(ResultMixin):
    """PET and PEESE (Stanley & Doucouliagos 2014, Res Synth Methods 5:60): weighted regressions
    of the effects on their SE (PET) and variance (PEESE); the intercepts are the corrected
    estimates. ``chosen`` is "PEESE" when PET's intercept is significant by the conditional
    rule, else "PET"; ``estimate``/``se``/``ci_lb``/``ci_ub``/``pval`` are the chosen one's."""

    pet: LinearFit
    peese: LinearFit
    chosen: str
    alpha: float
    sided: int
    pet_pval_rule: float
    estimate: float = field(init=False)
    se: float = field(init=False)
    ci_lb: float = field(init=False)
    ci_ub: float = field(init=False)
    pval: float = field(init=False)

    _dict_fields = ("pet_estimate", "pet_se", "pet_pval", "pet_ci_lb", "pet_ci_ub",
                    "peese_estimate", "peese_se", "peese_pval", "peese_ci_lb", "peese_ci_ub",
                    "chosen", "alpha", "sided", "pet_pval_rule", "estimate", "se", "ci_lb",
                    "ci_ub", "pval")

    def __post_init__(self) -> None:
        src = self.peese if self.chosen == "PEESE" else self.pet
        self.estimate, self.se = float(src.beta[0]), float(src.se[0])
        self.ci_lb, self.ci_ub = float(src.ci_lb[0]), float(src.ci_ub[0])
        self.pval = float(src.pval[0])

    def __getattr__(self, name: str):
        for prefix, src in (("pet_", "pet"), ("peese_", "peese")):
            if name.startswith(prefix):
                fit = self.__dict__[src]
                key = name[len(prefix):]
                key = "beta" if key == "estimate" else key
                return float(getattr(fit, key)[0])
        raise AttributeError(name)

    def summary_text(self) -> str:
        rows = []
        for label, f in (("PET", self.pet), ("PEESE", self.peese)):
            rows.append(f"  {label:<6} {f.beta[0]:8.4f} {f.se[0]:8.4f} {fmt_p(f.pval[0]):>8} "
                        f"[{f.ci_lb[0]:.4f}, {f.ci_ub[0]:.4f}]")
        rule = ("one-sided" if self.sided == 1 else "two-sided") + f" alpha = {self.alpha:g}"
        return ("PET-PEESE (Stanley & Doucouliagos 2014)\n         estimate       se     pval  CI\n"
                + "\n".join(rows) + f"\n  PET intercept p ({rule}) = {fmt_p(self.pet_pval_rule)}"
                f": {self.chosen} chosen, estimate {self.estimate:.4f}")


@dataclass(repr=False)
class HcResult(ResultMixin):
    """Henmi & Copas (2010, Stat Med 29:2969) interval (metafor ``hc.rma.uni``): the
    fixed-effect estimate ``beta`` with SE under the DL random-effects model and a CI from the
    exact distribution of the standardised estimate given Q; ``*_rma`` are the original fit's."""

    beta: float
    se: float
    ci_lb: float
    ci_ub: float
    tau2: float
    beta_rma: float
    se_rma: float
    ci_lb_rma: float
    ci_ub_rma: float
    tau2_rma: float
    method: str
    method_rma: str
    level: float

    _dict_fields = ("beta", "se", "ci_lb", "ci_ub", "tau2", "beta_rma", "se_rma", "ci_lb_rma",
                    "ci_ub_rma", "tau2_rma", "method", "method_rma", "level")

    def summary_text(self) -> str:
        return (f"Henmi & Copas interval (level {self.level:g}%)\n"
                f"  {'method':<10}{'tau^2':>9}{'estimate':>10}{'se':>9}{'ci_lb':>9}{'ci_ub':>9}\n"
                f"  {'HC (DL)':<10}{self.tau2:9.4f}{self.beta:10.4f}{self.se:9.4f}"
                f"{self.ci_lb:9.4f}{self.ci_ub:9.4f}\n"
                f"  {self.method_rma:<10}{self.tau2_rma:9.4f}{self.beta_rma:10.4f}"
                f"{self.se_rma:9.4f}{self.ci_lb_rma:9.4f}{self.ci_ub_rma:9.4f}")


@dataclass(repr=False)
class SelmodelResult(ResultMixin):
    """Selection model (metafor ``selmodel``): coefficients adjusted for selection, tau^2,
    the selection parameters ``delta`` (step function: relative likelihood of selection per
    p-value interval, the first fixed at 1; beta: the two shape parameters), SEs from the
    Hessian of the log-likelihood, and the likelihood-ratio test against the unadjusted ML model
    (``LRT`` on ``LRTdf`` df, ``LRTp``). ``ptable``: studies per p-value interval."""

    type: str
    alternative: str
    steps: list | None
    coef_names: list[str]
    beta: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    vb: np.ndarray
    tau2: float
    se_tau2: float
    delta: np.ndarray
    se_delta: np.ndarray
    zval_delta: np.ndarray
    pval_delta: np.ndarray
    ci_lb_delta: np.ndarray
    ci_ub_delta: np.ndarray
    LRT: float
    LRTdf: int
    LRTp: float
    ll: float
    ll0: float
    k: int
    ptable: list | None
    level: float
    converged: bool
    notes: list = field(default_factory=list)

    _dict_fields = ("type", "alternative", "steps", "coef_names", "beta", "se", "zval", "pval",
                    "ci_lb", "ci_ub", "vb", "tau2", "se_tau2", "delta", "se_delta", "zval_delta",
                    "pval_delta", "ci_lb_delta", "ci_ub_delta", "LRT", "LRTdf", "LRTp", "ll",
                    "ll0", "k", "ptable", "level", "converged", "notes")

    @property
    def estimate(self) -> float:
        """The adjusted pooled estimate of an intercept-only model."""
        if len(self.beta) != 1:
            raise AttributeError("estimate is defined for intercept-only models; use beta")
        return float(self.beta[0])

    def summary_text(self) -> str:
        head = ("Step-function selection model (Vevea & Hedges 1995)" if self.type == "stepfun"
                else "Beta selection model (Citkowicz & Vevea 2017)")
        lines = [f"{head}; k = {self.k}, alternative = {self.alternative}",
                 f"  tau^2 = {self.tau2:.4f} (SE = {self.se_tau2:.4f}); logLik = {self.ll:.4f}",
                 f"  LRT against the unadjusted model: {self.LRT:.4f} (df = {self.LRTdf}), "
                 f"p = {fmt_p(self.LRTp)}"]
        for i, n in enumerate(self.coef_names):
            lines.append(f"  {n}: {self.beta[i]:.4f} (SE {self.se[i]:.4f}), p = "
                         f"{fmt_p(self.pval[i])}, CI [{self.ci_lb[i]:.4f}, {self.ci_ub[i]:.4f}]")
        for j, d in enumerate(self.delta):
            label = (f"delta {j + 1} ({0 if j == 0 else self.steps[j - 1]:g} < p <= "
                     f"{self.steps[j]:g}; k = {self.ptable[j]})" if self.type == "stepfun"
                     else f"delta {j + 1}")
            lines.append(f"  {label}: {d:.4f} (SE {self.se_delta[j]:.4f})")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _vector(x: Any, k: int, field_name: str, labels, what: str) -> np.ndarray:
    """A per-study numeric vector of length k (NaN/inf refused, naming the study)."""
    try:
        arr = np.asarray(x, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise InputError(f"{what}: argument '{field_name}' must be numbers, one per "
                         "study") from None
    if arr.size != k:
        raise InputError(f"{what}: argument '{field_name}' has {arr.size} values but the model has "
                         f"{k} studies")
    check_finite(arr, field_name, labels)
    return arr


def _counts(what: str, k: int, labels, ai, bi, ci, di, n1i, n2i) -> tuple[np.ndarray, ...]:
    """2x2 counts (ai, bi, ci, di) from ai/bi/ci/di or ai/n1i/ci/n2i, validated."""
    if ai is None or ci is None or (bi is None and n1i is None) or (di is None and n2i is None):
        raise InputError(f"{what}: needs the 2x2 counts of every study: ai, bi, ci, di (or ai, "
                         "n1i, ci, n2i)")
    a = _vector(ai, k, "ai", labels, what)
    c = _vector(ci, k, "ci", labels, what)
    b = _vector(bi, k, "bi", labels, what) if bi is not None else (
        _vector(n1i, k, "n1i", labels, what) - a)
    d = _vector(di, k, "di", labels, what) if di is not None else (
        _vector(n2i, k, "n2i", labels, what) - c)
    for name, arr in (("ai", a), ("bi" if bi is not None else "n1i - ai", b), ("ci", c),
                      ("di" if di is not None else "n2i - ci", d)):
        i = first_bad(arr < 0)
        if i is not None:
            raise InputError(f"{what}: {study_name(i, labels)}: count '{name}' is {arr[i]!r}; "
                             "expected a number >= 0")
    return a, b, c, d


def _intercept_only(self, what: str) -> None:
    if not (self.p == 1 and self._mm.intercept):
        raise InputError(f"{what} applies to models without moderators (this model has "
                         f"{', '.join(self.coef_names)})")


def _refit(self, yi: np.ndarray, vi: np.ndarray, *, mods=None, intercept: bool = True,
           slab=None, test: str | None = None):
    """Refit with this fit's estimator, test (unless given), level and control (evsynth.meta)."""
    from evsynth.models.meta import meta

    return meta(yi, vi, mods=mods, intercept=intercept, method=self.method,
                test=test or self.test, level=self.level, control=self._control, slab=slab)


def _mahonian(n: int) -> np.ndarray:
    """Number of permutations of n items with each number of inversions 0..n(n-1)/2: the exact
    null distribution of Kendall's statistic without ties (Kendall 1938; as R's ``ckendall``)."""
    counts = np.array([1.0])
    for m in range(2, n + 1):
        # convolve with a block of m ones: counts'[j] = sum_{i=0}^{m-1} counts[j - i]
        c = np.concatenate((counts, np.zeros(m - 1)))
        cs = np.cumsum(c)
        shifted = np.concatenate((np.zeros(m), cs[:-m]))
        counts = cs - shifted
    return counts


def kendall_test(x: np.ndarray, y: np.ndarray, exact: bool = True) -> tuple[float, float, bool]:
    """Kendall's tau-b with a two-sided p-value as R's ``cor.test(method = "kendall")``:
    exact (Kendall 1938) when ``exact`` and there are no ties, else the normal approximation
    with the tie-corrected variance of S (Kendall 1948, ch. 4; R stats ``cor.test``).
    Returns (tau, p, exact_used)."""
    n = x.size
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    iu = np.triu_indices(n, 1)
    S = float(np.sum(dx[iu] * dy[iu]))
    T0 = n * (n - 1) / 2

    def ties(a: np.ndarray) -> np.ndarray:
        _, c = np.unique(a, return_counts=True)
        return c[c > 1].astype(float)

    tx, ty = ties(x), ties(y)
    T1 = float(np.sum(tx * (tx - 1)) / 2)
    T2 = float(np.sum(ty * (ty - 1)) / 2)
    denom = np.sqrt((T0 - T1) * (T0 - T2))
    tau = S / denom if denom > 0 else np.nan
    if exact and tx.size == 0 and ty.size == 0:
        counts = _mahonian(n)
        cdf = np.cumsum(counts) / counts.sum()
        q = int(round((tau + 1) * n * (n - 1) / 4))  # number of concordant pairs
        if q > n * (n - 1) / 4:
            p = 1 - (cdf[q - 1] if q >= 1 else 0.0)
        else:
            p = cdf[q]
        return float(tau), float(min(2 * p, 1.0)), True
    v0 = n * (n - 1) * (2 * n + 5)
    vt = float(np.sum(tx * (tx - 1) * (2 * tx + 5)))
    vu = float(np.sum(ty * (ty - 1) * (2 * ty + 5)))
    v1 = float(np.sum(tx * (tx - 1)) * np.sum(ty * (ty - 1)))
    v2 = float(np.sum(tx * (tx - 1) * (tx - 2)) * np.sum(ty * (ty - 1) * (ty - 2)))
    var_S = (v0 - vt - vu) / 18 + v1 / (2 * n * (n - 1)) + (
        v2 / (9 * n * (n - 1) * (n - 2)) if n > 2 else 0.0)
    z = S / np.sqrt(var_S) if var_S > 0 else np.nan
    return float(tau), float(2 * special.ndtr(-abs(z))), False


# --------------------------------------------------------------------------------------------
# the mixin
# --------------------------------------------------------------------------------------------
class SmallStudyMethods:
    """Methods of :class:`evsynth.models.meta.MetaResult` for small-study effects."""

    # regression tests -------------------------------------------------------------------------
    def regtest(self, model: str = "rma", predictor: str = "sei", ni=None, *,
                method: str | None = None, ai=None, bi=None, ci=None, di=None, n1i=None,
                n2i=None) -> RegtestResult:
        """Regression test for funnel-plot asymmetry (metafor ``regtest``; Egger et al. 1997,
        BMJ 315:629; Sterne & Egger 2005).

        ``model="rma"`` (default): the fit's model (same tau^2 estimator, test, level, control)
        with the ``predictor`` added as a moderator; the test is the predictor's z (or t under
        t/knha/adhoc). ``model="lm"``: weighted regression ``lm(yi ~ X + predictor, weights =
        1/vi)`` with t(k - p - 1) (Egger's classic test). Predictors: ``sei``, ``vi``, ``ni``,
        ``ninv`` (1/n), ``sqrtni``, ``sqrtninv`` (1/sqrt n); the sample-size ones need ``ni``.
        Moderators of the fit stay in the model (as metafor). The limit estimate ``est`` (the
        intercept) is given for intercept-only fits with predictors sei, vi, ninv, sqrtninv.

        Named variants (``method=``, overriding model/predictor):

        * ``"egger"``: ``model="lm", predictor="sei"`` (Egger et al. 1997).
        * ``"peters"``: lnOR on 1/n (Peters et al. 2006, JAMA 295:676) weighted by
          ``1/(1/(ai+ci) + 1/(bi+di))`` (events and non-events) when the 2x2 counts are given;
          with only ``ni`` it is metafor's variant (``model="lm", predictor="ninv"``, weights
          1/vi). The fit's yi should be log odds ratios.
        * ``"harbord"``: Harbord, Egger & Sterne (2006, Stat Med 25:3443) modified test for
          binary outcomes, from the counts (``ai, bi, ci, di`` or ``ai, n1i, ci, n2i``): the
          efficient score ``Z = ai - n1 m1 / N`` and its variance ``V = n1 n2 m1 m2 /
          (N^2 (N - 1))`` under OR = 1; ``Z/sqrt(V)`` is regressed on ``sqrt(V)`` (unweighted)
          and the intercept is tested with t(k - 2). The fit's yi are not used.
        """
        what = "regtest"
        k, labels = self.k, self.slab
        if method is not None:
            method = str(method).lower()
            if method not in REGTEST_METHODS:
                raise InputError(f"{what}: unknown method {method!r}; expected one of "
                                 f"{', '.join(REGTEST_METHODS)} (or None for model/predictor)")
            if method == "egger":
                model, predictor = "lm", "sei"
            elif method == "peters":
                model, predictor = "lm", "ninv"
            elif method == "harbord":
                return self._harbord(ai, bi, ci, di, n1i, n2i)
        if model not in ("rma", "lm"):
            raise InputError(f"{what}: model must be 'rma' or 'lm'; got {model!r}")
        if predictor not in PREDICTORS:
            raise InputError(f"{what}: predictor must be one of {', '.join(PREDICTORS)}; got "
                             f"{predictor!r}")
        X0 = self._des.X
        p = X0.shape[1]
        y, v = self.yi, self.vi
        if predictor in ("ni", "ninv", "sqrtni", "sqrtninv") or method == "peters":
            if ni is None:
                ni = getattr(self, "ni", None)
            if ni is None and method == "peters" and ai is not None:
                a, b, c, d = _counts(what, k, labels, ai, bi, ci, di, n1i, n2i)
                ni = a + b + c + d
            if ni is None:
                raise InputError(f"{what}: predictor '{predictor}' needs the sample sizes: pass "
                                 "ni= (total sample size of each study)")
            n = _vector(ni, k, "ni", labels, what)
            i = first_bad(n <= 0)
            if i is not None:
                raise InputError(f"{what}: {study_name(i, labels)}: field 'ni' is {n[i]!r}; "
                                 "expected a positive sample size")
            x = {"ni": n, "ninv": 1 / n, "sqrtni": np.sqrt(n), "sqrtninv": 1 / np.sqrt(n)}[
                predictor]
        else:
            x = np.sqrt(v) if predictor == "sei" else v.copy()
        X = np.column_stack([X0, x])
        if np.linalg.matrix_rank(X) < p + 1:
            raise InputError(f"{what}: the model matrix is no longer of full rank after adding "
                             f"the predictor '{predictor}' (e.g. all studies have the same "
                             f"{predictor})")
        need = p + 2 if (model == "lm" or self.method not in FIXED_METHODS) else p + 1
        if k < need:
            raise InputError(f"{what}: too few studies (k = {k}); the {model} regression with "
                             f"{p + 1} coefficient(s) needs at least {need}")
        names = [*self.coef_names, predictor]
        intercept_only = p == 1 and self._mm.intercept
        has_limit = intercept_only and predictor in ("sei", "vi", "ninv", "sqrtninv")
        if model == "rma":
            frame = pd.DataFrame(X[:, 1:] if self._mm.intercept else X, columns=names[1:]
                                 if self._mm.intercept else names)
            fit = _refit(self, y, v, mods=frame, intercept=self._mm.intercept, slab=labels)
            zval, pval = float(fit.zval[p]), float(fit.pval[p])
            dfs = None if self.test == "z" else int(self.k - p - 1)
            est = lb = ub = None
            if has_limit:
                est, lb, ub = float(fit.beta[0]), float(fit.ci_lb[0]), float(fit.ci_ub[0])
        else:
            w = 1 / v
            if method == "peters" and ai is not None:
                a, b, c, d = _counts(what, k, labels, ai, bi, ci, di, n1i, n2i)
                ev, ne = a + c, b + d
                i = first_bad((ev <= 0) | (ne <= 0))
                if i is not None:
                    raise InputError(f"{what}: {study_name(i, labels)} has no events or no "
                                     "non-events; Peters' weights 1/(1/events + 1/non-events) "
                                     "are undefined")
                w = 1 / (1 / ev + 1 / ne)
            fit = weighted_lm(y, X, w, names, self.level / 100)
            zval, pval = float(fit.tval[p]), float(fit.pval[p])
            dfs = int(fit.df)
            est = lb = ub = None
            if has_limit:
                est, lb, ub = float(fit.beta[0]), float(fit.ci_lb[0]), float(fit.ci_ub[0])
        return RegtestResult(method or ("egger" if (model, predictor) == ("lm", "sei")
                                        else "metafor"),
                             model, predictor, zval, pval, dfs, est, lb, ub, fit,
                             tested=f"coefficient of {predictor} = 0")

    def _harbord(self, ai, bi, ci, di, n1i, n2i) -> RegtestResult:
        """Harbord et al. (2006) score-based test (see :meth:`regtest`)."""
        what = "regtest(method='harbord')"
        k, labels = self.k, self.slab
        a, b, c, d = _counts(what, k, labels, ai, bi, ci, di, n1i, n2i)
        n1, n2, m1, m2 = a + b, c + d, a + c, b + d
        N = n1 + n2
        i = first_bad((n1 <= 0) | (n2 <= 0) | (m1 <= 0) | (m2 <= 0) | (N < 2))
        if i is not None:
            raise InputError(f"{what}: {study_name(i, labels)} has an empty arm, no events or no "
                             "non-events: its score variance V is 0; Harbord's test cannot use "
                             "it (leave it out)")
        if k < 3:
            raise InputError(f"{what}: too few studies (k = {k}); needs at least 3")
        Z = a - n1 * m1 / N
        V = n1 * n2 * m1 * m2 / (N**2 * (N - 1))
        X = np.column_stack([np.ones(k), np.sqrt(V)])
        fit = weighted_lm(Z / np.sqrt(V), X, np.ones(k), ["intrcpt", "sqrtV"], self.level / 100)
        return RegtestResult("harbord", "lm", "sqrtV", float(fit.tval[0]), float(fit.pval[0]),
                             int(fit.df), None, None, None, fit, tested="intercept = 0")

    # rank correlation ---------------------------------------------------------------------------
    def ranktest(self, exact: bool = True) -> RanktestResult:
        """Begg & Mazumdar (1994, Biometrics 50:1088) rank correlation test (metafor
        ``ranktest``): Kendall's tau between the standardised deviates ``(yi - theta_FE) /
        sqrt(vi - 1/sum(wi))`` and ``vi``. The p-value is exact when there are no ties (as
        metafor, which asks ``cor.test`` for the exact test), else the normal approximation.
        """
        k = self.k
        if k < 3:
            raise InputError(f"ranktest: needs at least 3 studies (k = {k})")
        y, v = self.yi, self.vi
        w = 1 / v
        theta = np.sum(w * y) / np.sum(w)
        vstar = v - 1 / np.sum(w)
        ystar = (y - theta) / np.sqrt(vstar)
        tau, p, used = kendall_test(ystar, v, exact=exact)
        return RanktestResult(tau, p, used, k)

    # trim and fill ------------------------------------------------------------------------------
    def trimfill(self, side: str | None = None, estimator: str = "L0", maxiter: int = 100,
                 ilim: Sequence[float] | None = None) -> TrimfillResult:
        """Trim-and-fill (Duval & Tweedie 2000, Biometrics 56:455 and JASA 95:89; metafor
        ``trimfill.rma.uni``).

        ``side``: where studies are missing; by default from the sign of the slope of the
        fit's model with ``sqrt(vi)`` as moderator (negative slope: "right"). ``estimator``:
        ``L0``, ``R0`` or ``Q0`` (Duval & Tweedie 2000); studies are trimmed and the estimate
        refitted (same tau^2 estimator) until k0 is stable. The imputed studies mirror the k0
        most extreme ones about the last trimmed estimate; the model is refitted to the filled
        data with this fit's estimator, test and level (metafor refits with test "z" and level
        95). ``p_k0`` (R0 only) = ``0.5^(k0+1)``. With R0 and all ranks positive, k0 = k - 1.
        """
        what = "trimfill"
        _intercept_only(self, what)
        if estimator not in ("L0", "R0", "Q0"):
            raise InputError(f"{what}: estimator must be 'L0', 'R0' or 'Q0'; got {estimator!r}")
        k = self.k
        if k < 2:
            raise InputError(f"{what}: needs at least 2 studies (k = {k})")
        y0, v0 = self.yi, self.vi
        if side is None:
            try:
                slope = _refit(self, y0, v0, mods=np.sqrt(v0)[:, None], test="z").beta[1]
            except InputError as exc:
                raise InputError(f"{what}: cannot choose the side from the regression on "
                                 f"sqrt(vi) ({exc}); give side='left' or 'right'") from None
            side = "right" if slope < 0 else "left"
        elif side not in ("left", "right"):
            raise InputError(f"{what}: side must be 'left', 'right' or None; got {side!r}")
        sgn = -1.0 if side == "right" else 1.0
        ys = sgn * y0
        order = np.argsort(ys, kind="stable")
        ys, vs = ys[order], v0[order]
        k0, k0_prev, it = 0, -1, 0
        beta, se_k0 = 0.0, 0.0
        while k0 != k0_prev:
            k0_prev = k0
            it += 1
            if it > maxiter:
                raise InputError(f"{what}: the trim-and-fill algorithm did not converge in "
                                 f"{maxiter} iterations (maxiter)")
            m = k - k0
            beta = float(_refit(self, ys[:m], vs[:m], test="z").beta[0])
            c = ys - beta
            ranks = stats.rankdata(np.abs(c), method="ordinal")
            srank = np.sign(c) * ranks
            if estimator == "R0":
                neg = -srank[srank < 0]
                k0f = (k - (neg.max() if neg.size else 0)) - 1
                se_k0 = np.sqrt(2 * max(0.0, k0f) + 2)
            else:
                Sr = float(np.sum(srank[srank > 0]))
                if estimator == "L0":
                    k0f = (4 * Sr - k * (k + 1)) / (2 * k - 1)
                else:
                    disc = 2 * k**2 - 4 * Sr + 0.25
                    if disc < 0:
                        raise InputError(f"{what}: the Q0 estimator is undefined for these data "
                                         f"(2k^2 - 4 S_rank + 1/4 = {disc:.4g} < 0); use L0 or "
                                         "R0")
                    k0f = k - 0.5 - np.sqrt(disc)
                varSr = (k * (k + 1) * (2 * k + 1) + 10 * k0f**3 + 27 * k0f**2 + 17 * k0f
                         - 18 * k * k0f**2 - 18 * k * k0f + 6 * k**2 * k0f) / 24
                sq = np.sqrt(varSr) if varSr >= 0 else np.nan
                if estimator == "L0":
                    se_k0 = 4 * sq / (2 * k - 1)
                else:
                    den = (k - 0.5) ** 2 - k0f * (2 * k - k0f - 1)
                    se_k0 = 2 * sq / np.sqrt(den) if den > 0 else np.nan
            k0 = int(max(0, _round_half_even(k0f)))
            se_k0 = float(max(0.0, se_k0)) if np.isfinite(se_k0) else np.nan
        labels = self.slab if self.slab is not None else [f"Study {i + 1}" for i in range(k)]
        if k0 > 0:
            idx = order[k - k0:]
            b_orig = sgn * beta
            y_fill = 2 * b_orig - y0[idx]
            if ilim is not None:
                lo, hi = sorted(float(x) for x in ilim)
                y_fill = np.clip(y_fill, lo, hi)
            yi = np.concatenate([y0, y_fill])
            vi = np.concatenate([v0, v0[idx]])
            slab = [*labels, *[f"Filled {j + 1}" for j in range(k0)]]
            fit = _refit(self, yi, vi, slab=slab)
        else:
            yi, vi, slab, fit = y0.copy(), v0.copy(), list(labels), self
        fill = np.r_[np.zeros(k, bool), np.ones(k0, bool)]
        p_k0 = float(0.5 ** (k0 + 1)) if estimator == "R0" else None
        notes = []
        if not np.isfinite(se_k0):
            notes.append("se_k0 is undefined (NaN, as metafor): the variance formula of S_rank "
                         "(Duval & Tweedie 2000) is negative at this k0")
        return TrimfillResult(k0, side, estimator, se_k0, p_k0, yi, vi, fill, slab, fit, it,
                              notes)

    # PET-PEESE ----------------------------------------------------------------------------------
    def pet_peese(self, alpha: float = 0.05, sided: int = 1) -> PetPeeseResult:
        """PET-PEESE (Stanley & Doucouliagos 2014, Res Synth Methods 5:60; Stanley 2017).

        PET: ``lm(yi ~ sei, weights = 1/vi)``; PEESE: ``lm(yi ~ vi, weights = 1/vi)`` (the
        fixed-effects weighted regressions with multiplicative dispersion, = ``regtest(model=
        "lm")`` with predictor sei / vi). Conditional rule: when PET's intercept differs from 0
        (``sided=1``: one-sided in the direction of the PET estimate, p_two/2 < alpha, the
        original rule; ``sided=2``: p_two < alpha), use PEESE, else PET.
        """
        _intercept_only(self, "pet_peese")
        if sided not in (1, 2):
            raise InputError(f"pet_peese: sided must be 1 or 2; got {sided!r}")
        if not 0 < float(alpha) < 1:
            raise InputError(f"pet_peese: alpha must be in (0, 1); got {alpha!r}")
        pet = self.regtest(model="lm", predictor="sei").fit
        peese = self.regtest(model="lm", predictor="vi").fit
        p_rule = float(pet.pval[0]) / (2 if sided == 1 else 1)
        chosen = "PEESE" if p_rule < alpha else "PET"
        return PetPeeseResult(pet, peese, chosen, float(alpha), sided, p_rule)

    # Henmi-Copas ----------------------------------------------------------------------------------
    def hc(self, tol: float = 1e-12) -> HcResult:
        """Henmi & Copas (2010, Stat Med 29:2969) confidence interval (metafor ``hc.rma.uni``).

        The fixed-effect estimate ``beta = sum(w y)/sum(w)`` with its SE under the DL
        random-effects model, ``se^2 = (tau2 W2 + 1)/W1``; the CI is ``beta -/+ u0 se``, where
        ``u0 = sqrt(1 + tau2 W2) t0`` and t0 solves ``int_t0^inf P(Q <= f(r/t0)) phi(r) dr =
        alpha/2`` with Q approximated by a gamma distribution given the standardised estimate
        r (Henmi & Copas 2010, section 3; W_j = sum(w^j)/sum(w)).
        """
        _intercept_only(self, "hc")
        k = self.k
        if k < 2:
            raise InputError(f"hc: needs at least 2 studies (k = {k})")
        y, v = self.yi, self.vi
        alpha = 1 - self.level / 100
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
        return HcResult(beta, se, beta - u0 * se, beta + u0 * se, tau2, float(self.beta[0]),
                        float(self.se[0]), float(self.ci_lb[0]), float(self.ci_ub[0]), self.tau2,
                        "DL", self.method, self.level)


    # selection models ------------------------------------------------------------------------
    def selmodel(self, type: str = "stepfun", steps: Sequence[float] | None = (0.025, 1),
                 alternative: str = "greater", delta_min: float | None = None,
                 delta_max: float = 100.0) -> SelmodelResult:
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
        from evsynth.models.engine import fit_batch

        des = self._des
        y, v, X = des.y, des.v, des.X
        k, p = X.shape
        fixed = self.method in FIXED_METHODS
        ml_method = self.method if fixed else "ML"
        out = fit_batch(des, ml_method, "z", self.level, self._control, compute_r2=False,
                        intercept=self._mm.intercept)
        beta0, tau20, ll0 = out["beta"][0], float(out["tau2"][0]), float(out["ll_ML"][0])
        pv = _selmodel_pval(y, v, alternative)
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
            st_arr = None
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
                F = np.array([_p_below(s_, sei, yhat, sd, alternative) for s_ in st_arr])
                P = np.diff(np.vstack([np.zeros(k), F]), axis=0)
                A = delta @ P
                with np.errstate(divide="ignore"):
                    return float(np.sum(np.log(delta[pgrp]) + base - np.log(A)))
            A = _beta_norm_const(delta, sei, yhat, sd, alternative)
            w = _beta_weight(np.clip(pv, 1e-5, 1 - 1e-5), delta)
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
                                jac=lambda t: _central_grad(negll, t),
                                options={"gtol": 1e-9, "maxiter": 10000})
        theta = opt.x
        gnorm = float(np.max(np.abs(_central_grad(negll, theta))))
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
        H = _richardson_hessian(negll_nat, z0)
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
        crit = float(special.ndtri(1 - (1 - self.level / 100) / 2))
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
        return SelmodelResult(type, alternative, steps_out, list(self.coef_names), beta, se,
                              zval, pval, beta - crit * se, beta + crit * se, vb, tau2, se_tau2,
                              delta, se_delta, zd, pd_, lbd, ubd, LRT, LRTdf, LRTp, ll, ll0, k,
                              ptable, self.level, converged, notes)


def _selmodel_pval(y: np.ndarray, v: np.ndarray, alternative: str) -> np.ndarray:
    """p-values of the studies as metafor's ``.selmodel.pval`` (one-sided by default)."""
    z = y / np.sqrt(v)
    if alternative == "two.sided":
        return 2 * special.ndtr(-np.abs(z))
    return special.ndtr(-z) if alternative == "greater" else special.ndtr(z)


def _p_below(s: float, sei: np.ndarray, yhat: np.ndarray, sd: np.ndarray,
             alternative: str) -> np.ndarray:
    """P(p_i <= s) when y_i ~ N(yhat_i, sd_i^2) and p_i is the p-value of y_i / sei_i (the
    interval probabilities of Vevea & Hedges 1995)."""
    if s <= 0:
        return np.zeros_like(yhat)
    if s >= 1:
        return np.ones_like(yhat)
    if alternative == "greater":
        return special.ndtr((yhat - sei * special.ndtri(1 - s)) / sd)
    if alternative == "less":
        return special.ndtr((sei * special.ndtri(s) - yhat) / sd)
    c = sei * special.ndtri(1 - s / 2)
    return special.ndtr((yhat - c) / sd) + special.ndtr((-c - yhat) / sd)


def _beta_weight(pv: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Citkowicz & Vevea (2017) weight p^(d1-1) (1-p)^(d2-1)."""
    return pv ** (delta[0] - 1) * (1 - pv) ** (delta[1] - 1)


def _beta_norm_const(delta: np.ndarray, sei: np.ndarray, yhat: np.ndarray, sd: np.ndarray,
                     alternative: str) -> np.ndarray:
    """A_i = E[w(p_i)] under y_i ~ N(yhat_i, sd_i^2), p clamped to [1e-5, 1 - 1e-5] (metafor):
    integrated on the z = y / sei scale, where p depends on z only, by 24-point Gauss-Legendre
    rules on 160 pieces of [-U, U] split at the kinks of the clamped p; beyond |z| = U the
    weight is constant and the tails are normal probabilities."""
    U = float(special.ndtri(1 - 0.25e-5))
    pmin = 1e-5

    def pz(z):
        return np.clip(_selmodel_pval(z, np.ones_like(z), alternative), pmin, 1 - pmin)

    z, wq = _beta_nodes(alternative)
    dens = stats.norm.pdf((sei[:, None] * z[None, :] - yhat[:, None]) / sd[:, None])
    mid = (dens * (sei / sd)[:, None]) @ (wq * _beta_weight(pz(z), delta))
    w_hi = _beta_weight(pz(np.array([U + 1.0])), delta)[0]
    w_lo = _beta_weight(pz(np.array([-U - 1.0])), delta)[0]
    upper = special.ndtr((yhat - sei * U) / sd)  # P(z > U)
    lower = special.ndtr((-sei * U - yhat) / sd)  # P(z < -U)
    return mid + w_hi * upper + w_lo * lower


_NODES: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _beta_nodes(alternative: str) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes and weights on [-U, U] for :func:`_beta_norm_const` (cached)."""
    if alternative not in _NODES:
        pmin = 1e-5
        U = float(special.ndtri(1 - 0.25e-5))
        kinks = [special.ndtri(1 - pmin), special.ndtri(1 - pmin / 2),
                 special.ndtri(0.5 + pmin / 2), 0.0]
        edges = np.unique(np.r_[np.linspace(-U, U, 161), kinks, -np.asarray(kinks)])
        x, w = np.polynomial.legendre.leggauss(24)
        a, b = edges[:-1, None], edges[1:, None]
        z = ((b - a) / 2 * x[None, :] + (a + b) / 2).ravel()
        wq = ((b - a) / 2 * w[None, :]).ravel()
        _NODES[alternative] = (z, wq)
    return _NODES[alternative]


def _central_grad(f, x: np.ndarray) -> np.ndarray:
    """Central-difference gradient (step 1e-6 relative)."""
    g = np.empty_like(x)
    for i in range(x.size):
        h = 1e-6 * max(1.0, abs(x[i]))
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def _richardson_hessian(f, x: np.ndarray, levels: int = 4) -> np.ndarray:
    """Hessian by central second differences with Richardson extrapolation (as numDeriv's
    ``hessian``, Gilbert & Varadhan; steps 1e-3 |x| + 1e-5, halved at each level)."""
    n = x.size
    f0 = f(x)
    h0 = 1e-3 * np.abs(x) + 1e-5

    def second(h):
        H = np.empty((n, n))
        for i in range(n):
            ei = np.zeros(n)
            ei[i] = h[i]
            H[i, i] = (f(x + 2 * ei) - 2 * f0 + f(x - 2 * ei)) / (4 * h[i] ** 2)
            for j in range(i):
                ej = np.zeros(n)
                ej[j] = h[j]
                H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej)
                                     + f(x - ei - ej)) / (4 * h[i] * h[j])
        return H

    table = [second(h0 / 2**m) for m in range(levels)]
    for order in range(1, levels):
        fac = 4.0**order
        table = [(fac * table[m + 1] - table[m]) / (fac - 1) for m in range(len(table) - 1)]
    return table[0]


def _round_half_even(x: float) -> float:
    """R's ``round`` (IEC 60559: halves to even), as metafor rounds k0."""
    return float(np.round(x))


# --------------------------------------------------------------------------------------------
# fail-safe N
# --------------------------------------------------------------------------------------------
FSN_TYPES = ("Rosenthal", "Orwin", "Rosenberg")


def fsn(yi, vi=None, *, sei=None, type: str = "Rosenthal", target: float | None = None,
        alpha: float = 0.05, data: pd.DataFrame | None = None, weighted: bool = False,
        test: str = "Stouffer") -> FsnResult:
    """Fail-safe N (metafor ``fsn``).

    * ``Rosenthal`` (1979, Psychol Bull 86:638): studies with zero effect needed to make the
      Stouffer combined z one-sided non-significant at ``alpha``:
      ``max(0, k (z_avg / z_alpha)^2 - k)`` with ``z_avg = |sum z_i| / sqrt(k)``;
      ``test="Fisher"`` uses Fisher's combined p (added studies have p = 0.5; Becker 2005):
      the smallest whole number of added studies with combined p >= alpha. (Deliberate
      difference: metafor 3.8.1 solves a mix of ``rep(0.5, n)``, which truncates a non-integer
      n, and continuous chi^2 df, so its answer can be 1-2 studies lower.)
    * ``Orwin`` (1983, J Educ Stat 8:157): studies with zero effect needed to reduce the
      (unweighted, or ``weighted`` by 1/vi) mean effect to ``target`` (default: half of it):
      ``k (mean - target) / target``; vi is only needed when ``weighted``.
    * ``Rosenberg`` (2005, Evolution 59:464): zero-effect studies (with the mean weight) needed
      to make the fixed-effect estimate two-sided non-significant at ``alpha``.

    Non-integer results are rounded up (as metafor). ``yi``/``vi``/``sei`` may be column names
    with ``data=``.
    """
    types = {t.lower(): t for t in FSN_TYPES}
    if str(type).lower() not in types:
        raise InputError(f"fsn: unknown type {type!r}; expected one of {', '.join(FSN_TYPES)}"
                         + (" (the random-effects 'REM' type is not available)"
                            if str(type).upper() == "REM" else ""))
    type = types[str(type).lower()]
    if test not in ("Stouffer", "Fisher"):
        raise InputError(f"fsn: test must be 'Stouffer' or 'Fisher'; got {test!r}")
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise InputError(f"fsn: alpha must be a number in (0, 1); got {alpha!r}") from None
    if not 0 < alpha < 1:
        raise InputError(f"fsn: alpha must be in (0, 1); got {alpha!r}")
    y = _fsn_column(yi, data, "yi")
    k = y.size
    if k == 0:
        raise InputError("fsn: no studies (yi is empty)")
    check_finite(y, "yi")
    need_v = type != "Orwin" or weighted
    v = None
    if vi is not None or sei is not None:
        field_name = "vi" if vi is not None else "sei"
        v = _fsn_column(vi if vi is not None else sei, data, field_name)
        if v.size != k:
            raise InputError(f"fsn: yi has {k} values but {field_name} has {v.size}")
        check_finite(v, field_name)
        i = first_bad(v <= 0)
        if i is not None:
            raise InputError(f"fsn: {study_name(i)}: field '{field_name}' is {v[i]!r}; expected a "
                             "positive number")
        if sei is not None and vi is None:
            v = v**2
    if need_v and v is None:
        raise InputError(f"fsn: type '{type}'" + (" (weighted)" if type == "Orwin" else "")
                         + " needs the sampling variances vi (or sei)")
    pval = meanes = tgt = None
    if type == "Rosenthal":
        z = y / np.sqrt(v)
        if test == "Stouffer":
            z_avg = abs(z.sum() / np.sqrt(k))
            pval = float(special.ndtr(-z_avg))
            num = max(0.0, k * (z_avg / special.ndtri(1 - alpha)) ** 2 - k)
        else:
            pi = special.ndtr(-np.abs(z))
            log_sum = float(np.sum(np.log(pi)))

            def fisher_p(n: float) -> float:
                return float(special.chdtrc(2 * (k + n), -2 * (log_sum + n * np.log(0.5))))

            pval = fisher_p(0.0)
            if pval >= alpha:
                num = 0.0
            else:
                hi = 1000.0
                while fisher_p(hi) < alpha:
                    hi *= 2
                    if hi > 1e12:
                        raise InputError("fsn: could not find the fail-safe N with Fisher's method")
                root = optimize.brentq(lambda n: fisher_p(n) - alpha, 0.0, hi, xtol=1e-10)
                num = float(np.ceil(root))
                while fisher_p(num) < alpha:  # the smallest whole number of added studies
                    num += 1
                while num > 0 and fisher_p(num - 1) >= alpha:
                    num -= 1
    elif type == "Orwin":
        if weighted:
            w = 1 / v
            meanes = float(np.sum(w * y) / np.sum(w))
        else:
            meanes = float(np.mean(y))
        tgt = meanes / 2 if target is None else float(target)
        if not np.isfinite(tgt):
            raise InputError(f"fsn: target must be a finite number; got {target!r}")
        if tgt == 0:
            num = np.inf
        else:
            if np.sign(tgt) != np.sign(meanes):
                tgt = -tgt
            num = max(0.0, k * (meanes - tgt) / tgt)
    else:
        w = 1 / v
        meanes = float(np.sum(w * y) / np.sum(w))
        zval = meanes / np.sqrt(1 / np.sum(w))
        wp = (np.sum(w * y) / special.ndtri(1 - alpha / 2)) ** 2 - np.sum(w)
        pval = float(2 * special.ndtr(-abs(zval)))
        num = max(0.0, k * wp / np.sum(w))
    if np.isfinite(num) and abs(num - round(num)) >= np.sqrt(np.finfo(float).eps):
        num = float(np.ceil(num))
    else:
        num = float(np.round(num)) if np.isfinite(num) else num
    return FsnResult(type, num, alpha, pval, meanes, tgt,
                     test if type == "Rosenthal" else None)


def _fsn_column(x: Any, data: pd.DataFrame | None, field_name: str) -> np.ndarray:
    x = resolve_column(field_name, x, data)
    try:
        return np.asarray(x, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise InputError(f"fsn: argument '{field_name}' must be numbers") from None
