"""Shared machinery of the small-study and publication-bias diagnostics (a library).

The diagnostics (metafor's ``regtest``, ``ranktest``, ``trimfill``, ``selmodel``, ``hc``; plus
Peters', Harbord's and PET-PEESE) live in :mod:`evsynth.models.diagnostics` (one file per
method) and are called as methods of a fitted model (``fit.regtest()``). This module holds what
they share: the weighted least-squares regression (:func:`weighted_lm`), the result objects,
Kendall's rank correlation test (:func:`kendall_test`), validated per-study vectors and 2x2
counts, and the selection-model likelihood pieces. :func:`fsn` (fail-safe N) works on raw
effects. Every formula cites its source.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from evsynth._lazy import LazyModule
from evsynth.errors import InputError, check_finite, first_bad, shown, study_name
from evsynth.models.kernels import Design, Segments, WeightedFit
from evsynth.models.results import ResultMixin, fmt_p
from evsynth.validation import column, numeric_vector

optimize = LazyModule("scipy.optimize")

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

    def to_frame(self) -> pd.DataFrame:
        """Tidy coefficient table: ``term, estimate, se, statistic`` (t), ``pval, ci_lb,
        ci_ub``."""
        return pd.DataFrame({"term": list(self.coef_names), "estimate": self.beta, "se": self.se,
                             "statistic": self.tval, "pval": self.pval, "ci_lb": self.ci_lb,
                             "ci_ub": self.ci_ub})

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
def _or_nan(x: Any) -> Any:
    """None (not applicable) as NaN for a table cell."""
    return np.nan if x is None else x


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

    def to_frame(self) -> pd.DataFrame:
        """One row: ``method, model, predictor, statistic`` (z, or t on ``dfs`` df), ``dfs,
        pval, est, ci_lb, ci_ub`` (the limit estimate, NaN when not defined)."""
        return pd.DataFrame({"method": [self.method], "model": [self.model],
                             "predictor": [self.predictor], "statistic": [self.zval],
                             "dfs": [np.nan if self.dfs is None else self.dfs],
                             "pval": [self.pval], "est": [_or_nan(self.est)],
                             "ci_lb": [_or_nan(self.ci_lb)], "ci_ub": [_or_nan(self.ci_ub)]})

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

    def to_frame(self) -> pd.DataFrame:
        """One row: ``tau, pval, exact, k``."""
        return pd.DataFrame({"tau": [self.tau], "pval": [self.pval], "exact": [self.exact],
                             "k": [self.k]})

    def summary_text(self) -> str:
        kind = "exact" if self.exact else "normal approximation"
        # tau (and p) are NaN when the effects or the variances are all equal: shown as NA
        tau = "NA" if math.isnan(self.tau) else f"{self.tau:.4f}"
        return (f"Rank correlation test for funnel plot asymmetry (Begg & Mazumdar 1994)\n"
                f"  Kendall's tau = {tau}, p = {fmt_p(self.pval)} ({kind}; k = "
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

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table of the model refitted to the filled data (as broom's
        ``tidy`` of metafor's trimfill object), with ``k0`` and ``side``."""
        out = self.fit.to_frame()
        out["k0"] = self.k0
        out["side"] = self.side
        return out

    def __getattr__(self, name: str) -> Any:
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

    def to_frame(self) -> pd.DataFrame:
        """One row with the fields of :attr:`_dict_fields`."""
        return pd.DataFrame({k: [_or_nan(getattr(self, k))] for k in self._dict_fields})

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

    def to_frame(self) -> pd.DataFrame:
        """Two rows (``PET``, ``PEESE``): ``estimator, estimate, se, pval, ci_lb, ci_ub,
        chosen``."""
        rows = [(name, f) for name, f in (("PET", self.pet), ("PEESE", self.peese))]
        return pd.DataFrame({"estimator": [n for n, _ in rows],
                             "estimate": [float(f.beta[0]) for _, f in rows],
                             "se": [float(f.se[0]) for _, f in rows],
                             "pval": [float(f.pval[0]) for _, f in rows],
                             "ci_lb": [float(f.ci_lb[0]) for _, f in rows],
                             "ci_ub": [float(f.ci_ub[0]) for _, f in rows],
                             "chosen": [n == self.chosen for n, _ in rows]})

    def __getattr__(self, name: str) -> Any:
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

    def to_frame(self) -> pd.DataFrame:
        """Two rows, as metafor prints them: the Henmi-Copas interval (``method`` "HC (DL)")
        and the original fit: ``method, tau2, estimate, se, ci_lb, ci_ub``."""
        return pd.DataFrame({"method": [f"HC ({self.method})", self.method_rma],
                             "tau2": [self.tau2, self.tau2_rma],
                             "estimate": [self.beta, self.beta_rma], "se": [self.se, self.se_rma],
                             "ci_lb": [self.ci_lb, self.ci_lb_rma],
                             "ci_ub": [self.ci_ub, self.ci_ub_rma]})

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

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per coefficient, then one per selection parameter
        (``delta1``, ``delta2``, ...): ``term, estimate, se, statistic, pval, ci_lb, ci_ub``
        (for the deltas the test is of delta = 1, as metafor)."""
        deltas = [f"delta{j + 1}" for j in range(len(self.delta))]
        return pd.DataFrame({
            "term": [*self.coef_names, *deltas],
            "estimate": np.r_[self.beta, self.delta], "se": np.r_[self.se, self.se_delta],
            "statistic": np.r_[self.zval, self.zval_delta],
            "pval": np.r_[self.pval, self.pval_delta],
            "ci_lb": np.r_[self.ci_lb, self.ci_lb_delta],
            "ci_ub": np.r_[self.ci_ub, self.ci_ub_delta]})

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
        steps, ptable = self.steps or [], self.ptable or []
        for j, d in enumerate(self.delta):
            label = (f"delta {j + 1} ({0 if j == 0 else steps[j - 1]:g} < p <= "
                     f"{steps[j]:g}; k = {ptable[j]})" if self.type == "stepfun"
                     else f"delta {j + 1}")
            lines.append(f"  {label}: {d:.4f} (SE {self.se_delta[j]:.4f})")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def study_vector(x: Any, k: int, field_name: str, labels: Sequence[Any] | None,
                 what: str) -> np.ndarray:
    """A per-study numeric vector of length k (:func:`evsynth.validation.numeric_vector`:
    numbers only, NaN/inf refused naming the study), prefixed with the diagnostic ``what``."""
    if isinstance(x, str):
        raise InputError(f"{what}: argument '{field_name}' is the string {x!r}; expected numbers, "
                         "one per study")
    try:
        arr = numeric_vector(field_name, x, labels=labels)
    except InputError as exc:
        raise InputError(f"{what}: {exc}") from None
    if arr.size != k:
        raise InputError(f"{what}: argument '{field_name}' has {arr.size} values but the model has "
                         f"{k} studies")
    return arr


def two_by_two(what: str, k: int, labels: Sequence[Any] | None, ai: Any, bi: Any, ci: Any,
               di: Any, n1i: Any, n2i: Any) -> tuple[np.ndarray, ...]:
    """2x2 counts (ai, bi, ci, di) from ai/bi/ci/di or ai/n1i/ci/n2i, validated."""
    if ai is None or ci is None or (bi is None and n1i is None) or (di is None and n2i is None):
        raise InputError(f"{what}: needs the 2x2 counts of every study: ai, bi, ci, di (or ai, "
                         "n1i, ci, n2i)")
    a = study_vector(ai, k, "ai", labels, what)
    c = study_vector(ci, k, "ci", labels, what)
    b = study_vector(bi, k, "bi", labels, what) if bi is not None else (
        study_vector(n1i, k, "n1i", labels, what) - a)
    d = study_vector(di, k, "di", labels, what) if di is not None else (
        study_vector(n2i, k, "n2i", labels, what) - c)
    for name, arr in (("ai", a), ("bi" if bi is not None else "n1i - ai", b), ("ci", c),
                      ("di" if di is not None else "n2i - ci", d)):
        i = first_bad(arr < 0)
        if i is not None:
            raise InputError(f"{what}: {study_name(i, labels)}: count '{name}' is {shown(arr[i])}; "
                             "expected a number >= 0")
    return a, b, c, d


def _mahonian(n: int) -> np.ndarray:
    """Weights of each number of inversions 0..N = n(n-1)/2 among the permutations of n items:
    the exact null distribution of Kendall's statistic without ties (Kendall 1938; R's
    ``ckendall``), as counts up to n = 170 and as probabilities beyond (the counts pass the
    double range at n = 171, 171! > 1.8e308, where R's ``cor.test`` and so metafor's
    ``ranktest`` give NaN; each step then divides by m). The distribution is symmetric
    (j <-> N - j): the upper half is copied from the lower half, whose windowed sums subtract
    numbers of their own size (the upper tail's subtract numbers near the total and lose its
    relative precision)."""
    probs = np.array([1.0])
    scale = n > 170
    for m in range(2, n + 1):
        # convolve with a block of m ones: counts'[j] = sum_{i=0}^{m-1} counts[j - i]
        c = np.concatenate((probs, np.zeros(m - 1)))
        cs = np.cumsum(c)
        shifted = np.concatenate((np.zeros(m), cs[:-m]))
        probs = cs - shifted
        if scale:
            probs /= m
    N = probs.size - 1
    probs[N - N // 2:] = probs[N // 2::-1]
    return probs


#: largest n for which :func:`kendall_test` computes the exact distribution (O(n^3) work:
#: ~0.1 s at n = 400); beyond it the normal approximation is used, with the tie correction
KENDALL_EXACT_MAX_N = 400


def kendall_test(x: np.ndarray, y: np.ndarray, exact: bool = True) -> tuple[float, float, bool]:
    """Kendall's tau-b with a two-sided p-value as R's ``cor.test(method = "kendall")``:
    exact (Kendall 1938) when ``exact``, there are no ties and n <= :data:`KENDALL_EXACT_MAX_N`
    (R gives NaN from n = 171 on, its counts past the double range), else the normal
    approximation with the tie-corrected variance of S (Kendall 1948, ch. 4; R stats
    ``cor.test``).
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
    if exact and tx.size == 0 and ty.size == 0 and n <= KENDALL_EXACT_MAX_N:
        probs = _mahonian(n)
        cdf = np.cumsum(probs) / probs.sum()
        q = int(round((tau + 1) * n * (n - 1) / 4))  # number of concordant pairs
        N = n * (n - 1) // 2
        # P(T >= q) = P(T <= N - q) by symmetry, without the cancellation of 1 - P(T < q)
        p = cdf[N - q] if 2 * q > N else cdf[q]
        return float(tau), float(min(2 * p, 1.0)), True
    v0 = n * (n - 1) * (2 * n + 5)
    vt = float(np.sum(tx * (tx - 1) * (2 * tx + 5)))
    vu = float(np.sum(ty * (ty - 1) * (2 * ty + 5)))
    v1 = float(np.sum(tx * (tx - 1)) * np.sum(ty * (ty - 1)))
    v2 = float(np.sum(tx * (tx - 1) * (tx - 2)) * np.sum(ty * (ty - 1) * (ty - 2)))
    var_S = (v0 - vt - vu) / 18 + v1 / (2 * n * (n - 1)) + (
        v2 / (9 * n * (n - 1) * (n - 2)) if n > 2 else 0.0)
    # var(S) is 0 exactly when x or y is constant (the tie terms of one variable then cancel
    # the rest; tau is 0/0): the float sum above is rounding noise of either sign there (e.g.
    # 1e-14 from terms ~1e4 with 22 tied values), which gave z = 0 and p = 1. p is NaN, as R's
    # cor.test gives NA (its tau is NA) and so metafor's ranktest.
    if np.isnan(tau) or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float(tau), math.nan, False
    z = S / np.sqrt(var_S)
    return float(tau), float(2 * special.ndtr(-abs(z))), False


# --------------------------------------------------------------------------------------------
# selection-model likelihood (metafor selmodel; used by evsynth.models.diagnostics.selmodel)
# --------------------------------------------------------------------------------------------
def selmodel_pval(y: np.ndarray, v: np.ndarray, alternative: str) -> np.ndarray:
    """p-values of the studies as metafor's ``.selmodel.pval`` (one-sided by default)."""
    z = y / np.sqrt(v)
    if alternative == "two.sided":
        return 2 * special.ndtr(-np.abs(z))
    return special.ndtr(-z) if alternative == "greater" else special.ndtr(z)


def p_below(s: float, sei: np.ndarray, yhat: np.ndarray, sd: np.ndarray,
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


def central_grad(f: Callable[[np.ndarray], float], x: np.ndarray) -> np.ndarray:
    """Central-difference gradient (step 1e-6 relative)."""
    g = np.empty_like(x)
    for i in range(x.size):
        h = 1e-6 * max(1.0, abs(x[i]))
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def richardson_hessian(f: Callable[[np.ndarray], float], x: np.ndarray,
                       levels: int = 4) -> np.ndarray:
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


def round_half_even(x: float) -> float:
    """R's ``round`` (IEC 60559: halves to even), as metafor rounds k0."""
    return float(np.round(x))


# --------------------------------------------------------------------------------------------
# fail-safe N
# --------------------------------------------------------------------------------------------
FSN_TYPES = ("Rosenthal", "Orwin", "Rosenberg")


def fsn(yi: Any, vi: Any = None, *, sei: Any = None, type: str = "Rosenthal",
        target: float | None = None,
        alpha: float = 0.05, data: pd.DataFrame | None = None, weighted: bool = False,
        test: str = "Stouffer") -> FsnResult:
    """Fail-safe N (metafor ``fsn``).

    * ``Rosenthal`` (1979): studies with zero effect needed to make the Stouffer combined z
      one-sided non-significant at ``alpha``: ``max(0, k (z_avg / z_alpha)^2 - k)`` with
      ``z_avg = |sum z_i| / sqrt(k)``; ``test="Fisher"`` uses Fisher's combined p (added studies
      have p = 0.5; Becker 2005): the smallest whole number of added studies with combined
      p >= alpha. (Deliberate difference: metafor 3.8.1 solves a mix of ``rep(0.5, n)``, which
      truncates a non-integer n, and continuous chi^2 df, so its answer can be 1-2 studies lower.)
    * ``Orwin`` (1983): studies with zero effect needed to reduce the (unweighted, or
      ``weighted`` by 1/vi) mean effect to ``target`` (default: half of it):
      ``k (mean - target) / target``; vi is only needed when ``weighted``.
    * ``Rosenberg`` (2005): zero-effect studies (with the mean weight) needed to make the
      fixed-effect estimate two-sided non-significant at ``alpha``.

    Non-integer results are rounded up (as metafor).

    Parameters
    ----------
    yi : array_like or str
        Effect sizes (or a column name with ``data=``).
    vi : array_like or str, optional
        Sampling variances (or a column name); not needed for unweighted Orwin.
    sei : array_like or str, optional
        Standard errors instead of ``vi``.
    type : {"Rosenthal", "Orwin", "Rosenberg"}, default "Rosenthal"
        The fail-safe N approach (case-insensitive).
    target : float, optional
        Orwin: the effect to reduce the mean to (default: half the mean effect).
    alpha : float, default 0.05
        Significance level (Rosenthal, Rosenberg).
    data : pandas.DataFrame, optional
        Data frame whose columns the string arguments name.
    weighted : bool, default False
        Orwin: weight the mean effect by 1/vi.
    test : {"Stouffer", "Fisher"}, default "Stouffer"
        Rosenthal: how the p-values are combined.

    Returns
    -------
    FsnResult
        ``fsnum`` (the fail-safe N), ``type``, ``alpha``, ``pval`` (observed combined p-value),
        ``meanes`` (mean effect, Orwin and Rosenberg), ``target``; ``summary()`` prints as metafor.

    Raises
    ------
    InputError
        For an unknown type or test, or invalid data (naming the study and the field).

    References
    ----------
    .. [1] Rosenthal R (1979). The file drawer problem and tolerance for null results.
           *Psychol Bull* 86(3):638-641. doi:10.1037/0033-2909.86.3.638
    .. [2] Orwin RG (1983). A fail-safe N for effect size in meta-analysis. *J Educ Stat*
           8(2):157-159. doi:10.3102/10769986008002157
    .. [3] Rosenberg MS (2005). The file-drawer problem revisited: a general weighted method for
           calculating fail-safe numbers in meta-analysis. *Evolution* 59(2):464-468.
           doi:10.1111/j.0014-3820.2005.tb01004.x
    .. [4] Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package.
           *J Stat Softw* 36(3):1-48. doi:10.18637/jss.v036.i03

    Examples
    --------
    The BCG vaccine trials (metafor's ``dat.bcg``), log risk ratios:

    >>> import evsynth
    >>> tpos = [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27]
    >>> tneg = [119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886]
    >>> cpos = [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29]
    >>> cneg = [128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825]
    >>> es = evsynth.effect_size("RR", ai=tpos, bi=tneg, ci=cpos, di=cneg)
    >>> evsynth.fsn(es["yi"], es["vi"]).fsnum
    598.0
    >>> evsynth.fsn(es["yi"], es["vi"], type="Rosenberg").fsnum
    370.0
    >>> evsynth.fsn(es["yi"], type="Orwin").fsnum
    13.0
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
            raise InputError(f"fsn: {study_name(i)}: field '{field_name}' is {shown(v[i])}; "
                             "expected a positive number")
        if sei is not None and vi is None:
            v = v**2
    if need_v and v is None:
        raise InputError(f"fsn: type '{type}'" + (" (weighted)" if type == "Orwin" else "")
                         + " needs the sampling variances vi (or sei)")
    v_: np.ndarray = v if v is not None else np.ones_like(y)  # unused when not needed
    pval = meanes = tgt = None
    if type == "Rosenthal":
        z = y / np.sqrt(v_)
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
            w = 1 / v_
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
        w = 1 / v_
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
    x = column(field_name, x, data)
    try:
        return np.asarray(x, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise InputError(f"fsn: argument '{field_name}' must be numbers") from None
