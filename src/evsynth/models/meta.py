"""Fixed- and random-effects meta-analysis and meta-regression: :func:`meta`.

The model is metafor's ``rma.uni`` (Viechtbauer 2010, J Stat Softw 36(3)):
``y_i = x_i' beta + u_i + e_i`` with ``u_i ~ N(0, tau^2)`` and ``e_i ~ N(0, v_i)``.
A single fit is a batch of one through :func:`evsynth.models.engine.fit_batch`.

Deliberate difference from metafor 3.8: for models *without* an intercept metafor centres ``yi``
before computing Q_E and the moment estimators of tau^2, which changes those numbers; evsynth
uses the uncentred ``yi`` (the textbook ``y'Py``). Models with an intercept are unaffected.
Also deliberate: with tau^2 fixed (``tau2=``) metafor reports the estimator's SE formula at the
fixed value, evsynth no SE (nothing was estimated); ``anova(other)`` between fits without a
likelihood (DL, PM, EB, ...) is refused where metafor computes an "LRT" with a warning (use
``anova(other, test="Wald")``, which also gives metafor's pseudo-R^2).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from evsynth._lazy import LazyModule, is_instance
from evsynth.errors import InputError, check_finite, first_bad, shown, study_name
from evsynth.models.engine import (
    Control,
    critical_values,
    default_btt,
    fit_batch,
    i2_from_q,
    wald,
)
from evsynth.models.heterogeneity import ConfintResult
from evsynth.models.kernels import FIXED_METHODS, Design, Segments
from evsynth.models.results import FittedModel, ResultMixin, fmt_p, to_jsonable
from evsynth.validation import (
    as_array,
    as_frame,
    column,
    flag,
    level_fraction,
    level_percent,
    meta_method,
    numeric_vector,
    study_labels,
    test_code,
)

if TYPE_CHECKING:
    import pandas as pd

    from evsynth.models.profile import ProfileResult
else:  # imported on first use: a plain fit does not need pandas (start-up time)
    pd = LazyModule("pandas")

PI_TYPES = ("default", "t", "riley", "simple")
_PI_ALIASES = {"k-1": "t", "t(k-1)": "t", "k-2": "riley", "t(k-2)": "riley", "higgins": "riley",
               "metafor": "default", "z": "simple"}


class _LazyStats:
    """``scipy.stats`` loaded on first use (it takes ~0.3 s to import and a plain fit does not
    need it: :func:`meta` uses ``scipy.special``)."""

    def __getattr__(self, name: str) -> Any:
        from scipy import stats as _stats

        return getattr(_stats, name)


stats = _LazyStats()


# --------------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------------
def _column(x: Any, data: pd.DataFrame | None, field: str) -> np.ndarray | None:
    """An argument given as array-like, or as a column name of ``data``
    (:func:`evsynth.validation.column`)."""
    if x is None:
        return None
    arr = np.asarray(column(field, x, data))
    if arr.ndim == 0:
        arr = arr.reshape(1)
    return arr


def prepare_inputs(yi: Any, vi: Any, sei: Any, data: pd.DataFrame | None,
                   slab: Any) -> tuple[np.ndarray, np.ndarray, list | None]:
    """Resolve and validate yi and vi (or sei); returns float arrays and study labels."""
    if is_instance(yi, "pandas", "DataFrame") and vi is None and sei is None:
        frame = yi
        if not {"yi", "vi"} <= set(frame.columns):
            raise InputError("a DataFrame passed as yi must have columns 'yi' and 'vi'")
        if slab is None and "slab" in frame.columns:
            slab = frame["slab"]
        yi, vi = frame["yi"], frame["vi"]
    if yi is None:
        raise InputError("yi is required")
    if vi is None and sei is None:
        raise InputError("give the sampling variances vi (or standard errors sei)")
    field = "vi" if vi is not None else "sei"
    y_raw = column("yi", yi, data)
    v_raw = column(field, vi if vi is not None else sei, data)
    k_y, k_v = (1 if np.ndim(as_array(f, x)) == 0 else len(x)
                for f, x in (("yi", y_raw), (field, v_raw)))
    if k_v != k_y:
        raise InputError(f"yi has {k_y} values but {field} has {k_v}; they must match")
    labels = study_labels(slab, data, k_y)
    y = numeric_vector("yi", y_raw, labels=labels, allow_missing=True)
    v = numeric_vector(field, v_raw, labels=labels, allow_missing=True)
    if y.size == 0:
        raise InputError("no studies: yi is empty")
    check_finite(y, "yi", labels)
    check_finite(v, field, labels)
    bad = first_bad(v <= 0)
    if bad is not None:
        raise InputError(f"{study_name(bad, labels)}: field '{field}' is {shown(v[bad])}; "
                         "expected a positive sampling "
                         + ("variance" if field == "vi" else "standard error"))
    if sei is not None and vi is None:
        v = v**2
    return y, v, labels


def _check_formula_columns(formula: str, data: pd.DataFrame) -> None:
    """Name the first study (row, 1-based) with a missing value in a column the formula uses."""
    import re

    names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", formula))
    for col in data.columns:
        if str(col) in names:
            miss = pd.isna(data[col]).to_numpy()
            if miss.any():
                i = int(np.flatnonzero(miss)[0])
                raise InputError(f"study in row {i + 1}: moderator '{col}' is missing; expected "
                                 "a value for every study")


def _intercept_first(mm: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """A formulaic model matrix with its ``Intercept`` column (if any) moved first and named
    ``intrcpt`` (metafor's name)."""
    names = list(mm.columns)
    X = np.asarray(mm, dtype=float)
    if "Intercept" not in names:
        return X, names
    j = names.index("Intercept")
    X = np.column_stack([X[:, j], np.delete(X, j, axis=1)])
    return X, ["intrcpt"] + [n for i, n in enumerate(names) if i != j]


def _frame_from_dict(values: dict) -> pd.DataFrame:
    """A dict of new moderator values as a DataFrame: single values make one row."""
    if all(np.ndim(v) == 0 for v in values.values()):
        values = {k: [v] for k, v in values.items()}
    try:
        return pd.DataFrame(values)
    except ValueError as exc:
        raise InputError(f"predict: newmods {values!r}: {exc}") from None


@dataclass
class ModelMatrix:
    """Design matrix with column names and, for formulas, the spec to build new rows."""

    X: np.ndarray
    names: list[str]
    intercept: bool
    spec: Any = None  # formulaic ModelSpec for formula moderators
    #: the data columns a formula uses (one row per study), for refits that rebuild X from
    #: permuted data (vif(sim=...), as metafor's ``get_all_vars(formula.mods, data)``)
    frame: pd.DataFrame | None = None


def build_model_matrix(mods: Any, data: pd.DataFrame | None, intercept: bool, k: int,
                       labels: list | None) -> ModelMatrix:
    """Model matrix from an array (k x p, no intercept column) or a formula string."""
    if mods is None:
        if not intercept:
            raise InputError("a model with neither moderators nor an intercept has no parameters")
        return ModelMatrix(np.ones((k, 1)), ["intrcpt"], True)
    if isinstance(mods, str):
        if data is None:
            raise InputError(f"mods is the formula {mods!r} but no data= was given")
        from formulaic import model_matrix

        formula = mods.strip()
        if not formula.startswith("~"):
            formula = "~ " + formula
        _check_formula_columns(formula, data)
        try:
            mm = model_matrix(formula, data, na_action="raise")
        except Exception as exc:  # formulaic raises many types; report which part failed
            raise InputError(f"mods formula {mods!r}: {exc}") from None
        X, names = _intercept_first(mm)
        used = set(mm.model_spec.required_variables)
        frame = data[[c for c in data.columns if c in used]].reset_index(drop=True)
        return ModelMatrix(X, names, names[0] == "intrcpt", mm.model_spec, frame)
    if isinstance(mods, Mapping):  # named columns, as a DataFrame
        mods = pd.DataFrame({str(c): np.asarray(v) if np.ndim(v) else [v]
                             for c, v in mods.items()})
    is_frame = is_instance(mods, "pandas", "DataFrame")
    # the values in the input's own memory order (a fit of an ill-conditioned design moves in
    # its last bits with the layout of X, which the formula path gets from pandas)
    try:
        M = mods.to_numpy(dtype=float) if is_frame else np.asarray(mods, dtype=float)
    except (TypeError, ValueError):
        _non_numeric_moderators(mods, is_frame)
        raise  # pragma: no cover - _non_numeric_moderators raises
    if M.ndim == 1:
        M = M[:, None]
    if M.ndim != 2:
        raise InputError(f"mods has shape {M.shape}; expected a k x p array, a DataFrame, a "
                         "dict of columns or a formula")
    names = ([str(c) for c in mods.columns] if is_frame
             else [f"mod{j + 1}" for j in range(M.shape[1])])
    if M.shape[0] != k:
        raise InputError(f"mods has {M.shape[0]} rows but there are {k} studies")
    bad = np.argwhere(~np.isfinite(M))
    if bad.size:
        i, j = bad[0]
        raise InputError(f"{study_name(int(i), labels)}: moderator '{names[j]}' is {M[i, j]!r}; "
                         "expected a finite number")
    if intercept:
        return ModelMatrix(np.column_stack([np.ones(k), M]), ["intrcpt", *names], True)
    return ModelMatrix(M, names, False)


def _non_numeric_moderators(mods: Any, frame: bool) -> None:
    """InputError for moderators that do not convert to a table of numbers: the first column
    holding something else, or rows of different lengths (only called on failure: the object
    conversion costs a Python object per value)."""
    if frame:
        names, cols = [str(c) for c in mods.columns], [mods.iloc[:, j]
                                                      for j in range(mods.shape[1])]
    else:
        arr = np.asarray(mods, dtype=object)
        arr = arr[:, None] if arr.ndim == 1 else arr
        if arr.ndim != 2 or any(np.ndim(x) for x in arr.ravel()):
            raise InputError(f"mods has shape {arr.shape} or rows of different lengths; "
                             "expected a k x p array, a DataFrame, a dict of columns or a "
                             "formula")
        names = [f"mod{j + 1}" for j in range(arr.shape[1])]
        cols = [arr[:, j] for j in range(arr.shape[1])]
    for name, col in zip(names, cols, strict=True):
        try:
            np.asarray(col, dtype=float)
        except (TypeError, ValueError):
            raise InputError(f"moderator '{name}' is not numeric; expected numbers (a "
                             f"categorical moderator goes into a formula, e.g. mods='~ "
                             f"C({name})' with data=)") from None


# --------------------------------------------------------------------------------------------
# result objects
# --------------------------------------------------------------------------------------------
@dataclass(repr=False)
class Prediction(ResultMixin):
    """Predicted (average) effects with confidence and prediction intervals."""

    pred: Any
    se: Any
    ci_lb: Any
    ci_ub: Any
    pi_lb: Any
    pi_ub: Any
    level: float
    pi_type: str
    transf: str | None = None

    _dict_fields = ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "level", "pi_type",
                    "transf")

    def to_frame(self) -> pd.DataFrame:
        cols = ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub")
        return pd.DataFrame({c: np.atleast_1d(getattr(self, c)) for c in cols})

    def summary_text(self) -> str:
        return self.to_frame().to_string(index=False, float_format=lambda x: f"{x:.4f}")


def make_prediction(pred: np.ndarray, se: np.ndarray, ci: tuple[np.ndarray, np.ndarray],
                    pi: tuple[np.ndarray, np.ndarray], lvl: float, pi_type: str,
                    func: Callable[[Any], Any] | None, name: str | None) -> Prediction:
    """A :class:`Prediction` from per-row arrays (``lvl`` a fraction): with ``func`` the
    estimates and bounds are transformed (bounds re-sorted, SEs NaN, as metafor's
    ``predict(..., transf=)``); a single row gives floats."""
    ci_lb, ci_ub = ci
    pi_lb, pi_ub = pi
    if func is not None:
        pred, ci_lb, ci_ub, pi_lb, pi_ub = (np.asarray(func(a), dtype=float)
                                            for a in (pred, ci_lb, ci_ub, pi_lb, pi_ub))
        ci_lb, ci_ub = np.minimum(ci_lb, ci_ub), np.maximum(ci_lb, ci_ub)
        pi_lb, pi_ub = np.minimum(pi_lb, pi_ub), np.maximum(pi_lb, pi_ub)
        se = np.full_like(pred, np.nan)

    def out(a: np.ndarray) -> Any:
        return float(a[0]) if len(a) == 1 else np.asarray(a)

    return Prediction(out(pred), out(se), out(ci_lb), out(ci_ub), out(pi_lb), out(pi_ub),
                      round(100 * lvl, 10), pi_type, name)



@dataclass(repr=False)
class AnovaResult(ResultMixin):
    """Likelihood-ratio test of nested models, or Wald test of coefficients / linear
    combinations (metafor ``anova.rma``).

    ``kind``: ``"LRT"`` (two fits), ``"Wald"`` (``btt``, or a comparison of two fits with
    ``test="Wald"``) or ``"Wald.L"`` (linear combinations ``L beta``). For ``"Wald.L"`` each
    combination's ``estimate`` (``L beta - rhs``), ``se``, ``zval`` (z or t), ``pvals`` and CI are
    given (``to_frame()``), with the joint test ``QM`` when ``L`` has full row rank. A comparison
    of two fits carries the pseudo-R^2 ``R2`` (% of the reduced model's tau^2 accounted for by
    the full model) and both tau^2 and QE values.
    """

    kind: str  # "LRT", "Wald" or "Wald.L"
    LRT: float = np.nan
    df: float = np.nan
    pval: float = np.nan
    R2: float = np.nan
    ll_full: float = np.nan
    ll_reduced: float = np.nan
    tau2_full: float = np.nan
    tau2_reduced: float = np.nan
    QM: float = np.nan
    QMdf: Any = None
    QMp: float = np.nan
    test: str = "z"
    hypotheses: list[str] | None = None
    estimate: Any = None
    se: Any = None
    zval: Any = None
    pvals: Any = None
    ci_lb: Any = None
    ci_ub: Any = None
    ddf: float | None = None
    level: float = 95.0
    QE_full: float = np.nan
    QE_reduced: float = np.nan
    parms_full: int | None = None
    parms_reduced: int | None = None
    notes: list[str] | None = None

    _dict_fields = ("kind", "LRT", "df", "pval", "R2", "ll_full", "ll_reduced", "tau2_full",
                    "tau2_reduced", "QM", "QMdf", "QMp", "test", "hypotheses", "estimate", "se",
                    "zval", "pvals", "ci_lb", "ci_ub", "ddf", "level", "QE_full", "QE_reduced",
                    "parms_full", "parms_reduced", "notes")

    def to_frame(self) -> pd.DataFrame:
        """``Wald.L``: one row per linear combination (hypothesis, estimate, se, statistic,
        pval, ci_lb, ci_ub); otherwise one row with the test."""
        if self.kind == "Wald.L":
            return pd.DataFrame({"hypothesis": self.hypotheses, "estimate": self.estimate,
                                 "se": self.se, "statistic": self.zval, "pval": self.pvals,
                                 "ci_lb": self.ci_lb, "ci_ub": self.ci_ub})
        if self.kind == "LRT":
            return pd.DataFrame({"model": ["full", "reduced"],
                                 "parms": [self.parms_full, self.parms_reduced],
                                 "logLik": [self.ll_full, self.ll_reduced],
                                 "LRT": [self.LRT, np.nan], "pval": [self.pval, np.nan],
                                 "QE": [self.QE_full, self.QE_reduced],
                                 "tau2": [self.tau2_full, self.tau2_reduced],
                                 "R2": [self.R2, np.nan]})
        return pd.DataFrame({"QM": [self.QM], "QMdf": [self.QMdf], "QMp": [self.QMp],
                             "R2": [self.R2], "tau2_full": [self.tau2_full],
                             "tau2_reduced": [self.tau2_reduced]})

    def _qm_line(self) -> str:
        df = self.QMdf if np.ndim(self.QMdf) == 0 else ", ".join(
            "NA" if d is None else f"{d:g}" for d in self.QMdf)
        stat = "QM" if self.test == "z" else "F"
        return f"Omnibus test: {stat}(df = {df}) = {self.QM:.4f}, p = {fmt_p(self.QMp)}"

    def summary_text(self) -> str:
        notes = [f"Note: {n}" for n in (self.notes or [])]
        if self.kind == "LRT":
            return "\n".join([
                f"Likelihood-ratio test of nested models\n  full ll = {self.ll_full:.4f}, "
                f"reduced ll = {self.ll_reduced:.4f}\n  LRT = {self.LRT:.4f}, df = "
                f"{self.df:g}, p = {fmt_p(self.pval)}; tau^2 full = {self.tau2_full:.4f}, "
                f"reduced = {self.tau2_reduced:.4f}, pseudo-R^2 = {self.R2:.2f}%", *notes])
        if self.kind == "Wald.L":
            frame = self.to_frame()
            frame["pval"] = [fmt_p(p) for p in frame["pval"]]
            lines = ["Hypotheses:"]
            lines += [f"  {i + 1}: {h}" for i, h in enumerate(self.hypotheses or [])]
            lines += ["", frame.to_string(index=False, float_format=lambda x: f"{x:.4f}")]
            if np.isfinite(self.QM):
                lines += ["", self._qm_line()]
            return "\n".join(lines + notes)
        df = self.QMdf if np.ndim(self.QMdf) == 0 else ", ".join(
            "NA" if d is None else f"{d:g}" for d in self.QMdf)
        stat = "QM" if self.test == "z" else "F"
        lines = [f"Wald test ({stat}(df = {df}) = {self.QM:.4f}, p = {fmt_p(self.QMp)})"]
        if self.hypotheses:
            lines += [f"  H{i + 1}: {h} = 0" for i, h in enumerate(self.hypotheses)]
        if np.isfinite(self.tau2_full):
            lines.append(f"  tau^2 full = {self.tau2_full:.4f}, reduced = "
                         f"{self.tau2_reduced:.4f}, pseudo-R^2 = {self.R2:.2f}%")
        return "\n".join(lines + notes)


class MetaResult(FittedModel):
    """A fitted meta-analysis / meta-regression model (metafor's ``rma.uni`` fields).

    Follows the results contract (:class:`evsynth.models.results.FittedModel`): ``level`` is in
    percent; ``beta``, ``se``, ``zval``, ``pval``, ``ci_lb``, ``ci_ub`` are arrays with one
    value per coefficient; ``to_frame()`` is the coefficient table and :attr:`studies` the
    per-study data with weights.
    """

    model_name = "meta() fit (rma.uni)"

    @property
    def refittable(self) -> bool:
        """False for a subgroup of a common-tau^2 model (its tau^2 comes from all subgroups, so
        leave-one-out and other refits of the subgroup alone would not be that model), and for
        fits with user weights, ``weighted=False`` or a fixed tau^2 (only the refits in
        :data:`evsynth.models.diagnostics.CARRY_SETTINGS` carry these settings, see
        :attr:`refittable_with_settings`; the others would fit another model)."""
        return (self._common_df is None and self.user_weights is None and self.weighted
                and not self.tau2_fix)

    @property
    def refittable_with_settings(self) -> bool:
        """True unless the fit is a view of a joint model: refits that carry the user weights,
        ``weighted=False`` and a fixed tau^2 as metafor's refits of ``rma.uni`` do (every
        refitting diagnostic; see ``CARRY_SETTINGS`` in :mod:`evsynth.models.diagnostics`) are
        defined."""
        return self._common_df is None

    @property
    def refit_obstacle(self) -> str | None:
        """Why the refitting diagnostics are refused for this fit (None when they work)."""
        if self._common_df is not None:
            return ("this one is a view of a joint model, a subgroup of a common-tau^2 model: "
                    "fit meta() to the subgroup's studies")
        settings = [name for name, used in (("user weights (weights=)", self.user_weights
                                             is not None),
                                            ("weighted=False", not self.weighted),
                                            ("a fixed tau^2 (tau2=)", self.tau2_fix)) if used]
        if settings:
            return ("this fit uses " + " and ".join(settings) + "; the refitting diagnostics "
                    "carry them as metafor's do, except a selection model (refused for user "
                    "weights and weighted=False, as metafor); refit without them for that")
        return None

    #: user weights a_i of the fit (metafor ``weights=``), None for inverse-variance weights
    user_weights: np.ndarray | None = None
    #: False for an unweighted fit (metafor ``weighted=FALSE``)
    weighted: bool = True
    #: True when tau^2 was fixed by the user (metafor ``tau2=value``), not estimated
    tau2_fix: bool = False

    #: (residual df, number of variance parameters) of a subgroup of a common-tau^2 model: its
    #: t quantiles and prediction intervals use the common model's (see :meth:`_t_df`)
    _common_df: tuple[float, int] | None = None

    _dict_fields = ("k", "p", "coef_names", "beta", "se", "zval", "pval", "ci_lb", "ci_ub", "vb",
                    "tau2", "se_tau2", "tau", "I2", "H2", "R2", "QE", "QEp", "QM", "QMp", "QMdf",
                    "weights", "ll", "AIC", "BIC", "AICc", "fit_stats", "method", "test", "level",
                    "method_info", "yi", "vi", "slab", "user_weights", "weighted", "tau2_fix")

    def __init__(self, out: dict, g: int, *, des: Design, mm: ModelMatrix, method: str,
                 test: str, control: Control, labels: list | None, rows: np.ndarray,
                 btt: np.ndarray, user_weights: np.ndarray | None = None,
                 weighted: bool = True, tau2_fix: bool = False) -> None:
        self.user_weights = None if user_weights is None else np.array(user_weights, dtype=float)
        self.weighted = bool(weighted)
        self.tau2_fix = bool(tau2_fix)
        self._des = des.subset(np.arange(des.seg.G) == g) if des.seg.G > 1 else des
        self._mm = mm
        self._control = control
        self._btt = btt
        self.method = method
        self.test = test
        self.level = round(100 * float(out["level"]), 10)
        self.k = int(out["k"][g])
        self.p = int(out["p"][g])
        self.coef_names = list(mm.names)
        self.beta = out["beta"][g].copy()
        self.vb = out["vb"][g].copy()
        self.se = out["se"][g].copy()
        self.zval = out["zval"][g].copy()
        self.pval = out["pval"][g].copy()
        self.ci_lb = out["ci_lb"][g].copy()
        self.ci_ub = out["ci_ub"][g].copy()
        self.df = float(out["df"][g]) if test != "z" else None
        self.tau2 = float(out["tau2"][g])
        self.se_tau2 = float(out["se_tau2"][g])
        self.tau = float(np.sqrt(self.tau2))
        self.I2 = float(out["I2"][g])
        self.H2 = float(out["H2"][g])
        self.vt = float(out["vt"][g])
        self.R2 = float(out["R2"][g])
        self.QE = float(out["QE"][g])
        self.QEp = float(out["QEp"][g])
        self.QM = float(out["QM"][g])
        self.QMp = float(out["QMp"][g])
        self.QMdf = [int(out["QMdf"][g]), None if test == "z" else int(self.k - self.p)]
        self.s2w = float(out["s2w"][g])
        w = out["weights"] if des.seg.G == 1 else out["weights"][rows]  # one group: all rows
        self.weights = 100 * w / w.sum()
        self.ll = float(out["ll"][g])
        self.AIC = float(out["AIC"][g])
        self.BIC = float(out["BIC"][g])
        self.AICc = float(out["AICc"][g])
        self.parms = int(out["parms"][g])
        self.fit_stats = {"ll_ML": float(out["ll_ML"][g]), "ll_REML": float(out["ll_REML"][g]),
                          "AIC": self.AIC, "BIC": self.BIC, "AICc": self.AICc}
        self.yi = self._des.y.copy()
        self.vi = self._des.v.copy()
        self.slab = labels
        converged = bool(out["converged"][g])
        self.method_info = {
            "estimator": method,
            "test": test,
            "level": self.level,
            "tolerance": control.tol,
            "max_iterations": control.maxiter,
            "iterations": int(out["iterations"][g]),
            "converged": converged,
            "algorithm": (f"tau^2 fixed at {self.tau2!r} (not estimated)" if tau2_fix else
                          _algorithm(method, bool(out["fallback"][g]))),
            "tau2_fixed": bool(tau2_fix),
            "tau2_init": control.tau2_init,
            "weights": ("user" if user_weights is not None else
                        "inverse-variance" if weighted else "none"),
            "weighted": bool(weighted),
            "boundary": bool(self.tau2 == 0 and method not in FIXED_METHODS),
            "ll0check": control.ll0check,
            "knha_scale": self.s2w if test in ("knha", "adhoc") else None,
            "df": self.df,
            "btt": [int(b) for b in btt],
            "notes": list(out.get("notes", [])),
            "reference": "metafor rma.uni (Viechtbauer 2010)",
        }
        if method in FIXED_METHODS and test in ("knha", "adhoc"):
            self.method_info["notes"].append(
                "Knapp-Hartung adjustment is not meant for equal-effects models (as metafor warns)")
        if test in ("knha", "adhoc") and self.s2w == 0:
            self.method_info["notes"].append(
                "Knapp-Hartung scale factor is 0 (all weighted residuals are 0): standard errors "
                "are 0 and the omnibus test is undefined (QM = NaN); test='adhoc' floors it at 1")
        if self.k == 1 and not tau2_fix:
            self.method_info["notes"].append("k = 1: tau^2 set to 0; heterogeneity not estimable")
        if user_weights is not None or not weighted:
            self.method_info["notes"].append(
                ("user weights" if weighted and user_weights is not None else "unweighted "
                 "least squares") + ": beta = (X'AX)^-1 X'Ay with the sandwich variance "
                "(X'AX)^-1 X'A M A X (X'AX)^-1, M = diag(vi + tau^2) (metafor rma.uni)"
                + ("; the Knapp-Hartung factor from the inverse-variance fit, as metafor"
                   if test in ("knha", "adhoc") else ""))
        self.subgroups: dict[Any, MetaResult] | None = None
        self.Q_between: float | None = None
        self.Q_between_df: int | None = None
        self.Q_between_p: float | None = None
        self.Q_between_I2: float | None = None
        self.subgroup_tau2: str | None = None

    # convenience ------------------------------------------------------------------------------
    @property
    def coefficients(self) -> pd.DataFrame:
        """Coefficient table (estimate, se, zval, pval, ci_lb, ci_ub) indexed by name."""
        return pd.DataFrame({"estimate": self.beta, "se": self.se,
                             ("tval" if self.test != "z" else "zval"): self.zval,
                             "pval": self.pval, "ci_lb": self.ci_lb, "ci_ub": self.ci_ub},
                            index=self.coef_names)

    @property
    def studies(self) -> pd.DataFrame:
        """Per-study data: label, yi, vi, sei and weight (percent)."""
        return pd.DataFrame({"slab": self.slab if self.slab is not None
                             else [f"Study {i + 1}" for i in range(self.k)],
                             "yi": self.yi, "vi": self.vi, "sei": np.sqrt(self.vi),
                             "weight": self.weights})

    # read-only views used by the diagnostics (evsynth.models.diagnostics) ---------------------
    @property
    def design(self) -> Design:
        """The fitted data as the kernels' :class:`~evsynth.models.kernels.Design` (y, v, X of
        the k studies in one segment); do not modify it."""
        return self._des

    @property
    def model_matrix(self) -> np.ndarray:
        """The model matrix X (k x p, intercept column first when there is one; read-only)."""
        X = self._des.X.view()
        X.flags.writeable = False
        return X

    @property
    def intercept(self) -> bool:
        """Whether the model has an intercept."""
        return bool(self._mm.intercept)

    @property
    def int_only(self) -> bool:
        """Whether the model is intercept-only, without moderators (metafor's ``int.only``)."""
        return self.p == 1 and bool(self._mm.intercept)

    @property
    def control(self) -> Control:
        """The numerical settings of the tau^2 estimation (tol, maxiter, ll0check)."""
        return self._control

    @property
    def btt(self) -> np.ndarray:
        """0-based indices of the coefficients in the omnibus test (read-only copy)."""
        return np.array(self._btt)

    def refit(self, yi: Any, vi: Any, *, mods: Any = None, intercept: bool = True,
              slab: Any = None, test: str | None = None) -> MetaResult:
        """This model (tau^2 estimator, test unless ``test`` is given, level, control) fitted
        to other data with :func:`meta` (e.g. trim-and-fill's filled data, a regression test's
        extra predictor)."""
        return meta(yi, vi, mods=mods, intercept=intercept, method=self.method,
                    test=test or self.test, level=self.level, control=self._control, slab=slab)

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        if self.subgroups is not None:
            d["subgroups"] = {str(k): v.to_dict() for k, v in self.subgroups.items()}
            d["Q_between"] = self.Q_between
            d["Q_between_df"] = self.Q_between_df
            d["Q_between_p"] = to_jsonable(self.Q_between_p)
            d["Q_between_I2"] = self.Q_between_I2
            d["subgroup_tau2"] = self.subgroup_tau2
        return d

    # inference --------------------------------------------------------------------------------
    def _t_df(self) -> tuple[float, int]:
        """Degrees of freedom of the t-based tests and intervals, and the number of variance
        parameters (metafor ``predict.rma``: ``ddf = k - p``; ``pi.type = "riley"`` uses
        ``ddf - parms + p``). A subgroup of a common-tau^2 model uses the common model's."""
        if self._common_df is not None:
            return self._common_df
        return self.k - self.p, self.parms - self.p

    def _crit(self, level: float, df: float | None = None) -> float:
        if self.test == "z" and df is None:
            return float(stats.norm.ppf(1 - (1 - level) / 2))
        return float(critical_values("t", level, np.array(self._t_df()[0] if df is None else df)))

    def predict(self, newmods: Any = None, transf: Callable | str | None = None,
                level: float | None = None, pi_type: str = "default",
                intercept: bool | None = None, targs: dict[str, Any] | None = None
                ) -> Prediction:
        """Predicted average effect(s) with CI and prediction interval (metafor ``predict.rma``).

        ``pi_type``: ``"default"`` (metafor: z, or t(k-p) under t/knha/adhoc tests),
        ``"t"`` (t with k-p df; k-1 for an intercept-only model), ``"riley"`` (t with k-p-1 df;
        k-2 for an intercept-only model; Higgins, Thompson & Spiegelhalter 2009; Riley 2011), or
        ``"simple"`` (z, ignoring the uncertainty of the estimate). The PI is
        ``pred +/- crit * sqrt(se^2 + tau^2)``. ``transf`` (a function such as ``np.exp``, or
        the name of one in :mod:`evsynth.transf`: ``"exp"``, ``"ilogit"``, ``"ipft_hm"``,
        ``"exp_int"``...) is applied to pred and the bounds (the SE is then not reported);
        ``targs`` (a dict, metafor's ``targs``) is passed to it, e.g.
        ``predict(transf="ipft_hm", targs={"ni": ni})`` or ``predict(transf="exp_int",
        targs={"tau2": fit.tau2})``. ``level`` (percent, default the fit's) sets the CI and PI.
        """
        from evsynth import transf as _transf

        func, name = _transf.resolve(transf, targs, "predict")
        lvl = level_fraction(self.level if level is None else level)
        pi_type = _PI_ALIASES.get(str(pi_type).lower(), str(pi_type).lower())
        if pi_type not in PI_TYPES:
            raise InputError(f"pi_type must be one of {PI_TYPES}; got {pi_type!r}")
        Xn = self._new_rows(newmods, intercept)
        pred = Xn @ self.beta
        vpred = np.einsum("ij,jk,ik->i", Xn, self.vb, Xn)
        se = np.sqrt(vpred)
        crit = self._crit(lvl)
        ci_lb, ci_ub = pred - crit * se, pred + crit * se
        if pi_type == "simple":
            pcrit, pvar = float(stats.norm.ppf(1 - (1 - lvl) / 2)), 0 * vpred
        elif pi_type == "default":
            pcrit, pvar = crit, vpred
        else:
            ddf, n_var = self._t_df()
            ddf -= n_var if pi_type == "riley" else 0
            pcrit, pvar = self._crit(lvl, max(ddf, 1)), vpred
        pi_lb = pred - pcrit * np.sqrt(pvar + self.tau2)
        pi_ub = pred + pcrit * np.sqrt(pvar + self.tau2)
        return make_prediction(pred, se, (ci_lb, ci_ub), (pi_lb, pi_ub), lvl, pi_type, func,
                               name)

    def _new_rows(self, newmods: Any, intercept: bool | None) -> np.ndarray:
        """Rows of the model matrix to predict at, by metafor's ``predict.rma`` rule (3.8-1).

        The intercept column is never part of ``newmods``: predict adds 1 (or 0 with
        ``intercept=False``) for a model with an intercept. With ``m`` moderators:

        * ``m = 1``: a number, or a vector (or an n x 1 column) of n values, is n predictions;
        * ``m > 1``: a vector of length ``m`` (or a 1 x m matrix) is one prediction, an n x m
          matrix n predictions, one row each (so an m x m matrix is read as rows, as metafor);
        * a DataFrame or dict: for a formula model, new data for the formula (one row per
          prediction; a dict of single values is one row); otherwise columns named as the
          moderators, matched by name as metafor matches the column names of a matrix.

        Refused with an :class:`InputError` saying what is expected: any other shape; for one
        moderator a matrix with more than one column (metafor flattens it, but an n x 2 matrix
        could also be meant as rows of [intercept, moderator]); for m > 1 a matrix whose rows are
        moderators (``m x n``, transposed); a column for the intercept; newmods for a model with
        no moderators; ``intercept=True`` for a model without an intercept; ``intercept=False``
        without newmods (metafor ignores it there); non-finite values; for formulas, missing
        columns or categories that were not in the fitted data.
        """
        mm = self._mm
        mods = mm.names[1:] if mm.intercept else list(mm.names)
        m = len(mods)
        if intercept is not None and not isinstance(intercept, (bool, np.bool_)):
            raise InputError(f"predict: argument 'intercept' is {intercept!r}; expected True or "
                             "False")
        if intercept is not None and intercept and not mm.intercept:
            raise InputError("predict: intercept=True but the model has no intercept")
        if newmods is None:
            if intercept is not None and not intercept and mm.intercept:
                raise InputError("predict: intercept=False needs newmods (the moderator values "
                                 "to predict at); without newmods predict gives the fitted "
                                 "values")
            if self.p == 1 and mm.intercept:
                return np.ones((1, 1))
            return self._des.X.copy()  # fitted values for each study, as metafor
        if m == 0:
            raise InputError("predict: the model has no moderators, so newmods cannot be given; "
                             "expected predict() without newmods (the pooled estimate)")
        expected = (f"one value per prediction for the moderator '{mods[0]}' (a number or a "
                    "vector)" if m == 1 else
                    f"{m} values per prediction for the moderators {', '.join(mods)} (a vector "
                    f"of length {m} for one prediction, an n x {m} matrix for n, or a DataFrame "
                    "with these columns)")
        if isinstance(newmods, (pd.DataFrame, dict)) and mm.spec is not None:
            X = self._formula_rows(newmods)
        else:
            if isinstance(newmods, (pd.DataFrame, dict)):
                M = self._named_columns(newmods, mods)
            else:
                try:
                    M = np.asarray(newmods, dtype=float)
                except (TypeError, ValueError):
                    raise InputError(f"predict: newmods is {newmods!r}; expected {expected}; "
                                     "numbers only") from None
            M = self._newmods_matrix(M, m, mods, expected)
            X = M if not mm.intercept else np.column_stack([np.ones(M.shape[0]), M])
        if mm.intercept and intercept is not None and not intercept:
            X[:, 0] = 0.0
        bad = np.argwhere(~np.isfinite(X))
        if bad.size:
            i, j = bad[0]
            raise InputError(f"predict: newmods row {i + 1}, '{mm.names[j]}' is "
                             f"{float(X[i, j])!r}; expected a finite number")
        return X

    def _newmods_matrix(self, M: np.ndarray, m: int, mods: list[str], expected: str) -> np.ndarray:
        """``newmods`` as an n x m matrix of moderator values (see :meth:`_new_rows`)."""
        if M.size == 0:
            raise InputError(f"predict: newmods is empty; expected {expected}")
        if m == 1:
            if M.ndim == 0 or M.ndim == 1:
                return M.reshape(-1, 1)
            if M.ndim == 2 and M.shape[1] == 1:
                return M
            hint = (" (the intercept is added by predict: intercept=False leaves it out)"
                    if M.ndim == 2 and M.shape[1] == 2 and self._mm.intercept else "")
            raise InputError(f"predict: newmods has shape {M.shape}; expected {expected}: a "
                             "matrix with more than one column could be read as several "
                             f"moderators per row{hint}")
        if M.ndim == 1 and M.size == m:
            return M.reshape(1, m)
        if M.ndim == 2 and M.shape[1] == m:
            return M
        if M.ndim == 2 and M.shape[1] == m + 1 and self._mm.intercept:
            hint = ("; newmods holds moderator values only: the intercept column is added by "
                    "predict (intercept=False leaves it out)")
        elif M.ndim == 2 and M.shape[0] == m:
            hint = (f"; it looks transposed: give one row per prediction and one column per "
                    f"moderator ({M.shape[1]} x {m})")
        else:
            hint = ""
        shape = "a single number" if M.ndim == 0 else (
            f"a vector of length {M.size}" if M.ndim == 1 else f"shape {M.shape}")
        raise InputError(f"predict: newmods is {shape}; expected {expected}{hint}")

    @staticmethod
    def _named_columns(newmods: Any, mods: list[str]) -> np.ndarray:
        """A DataFrame or dict of moderator columns, put in the model's order by name (as
        metafor matches the column names of a newmods matrix)."""
        if isinstance(newmods, dict):
            newmods = _frame_from_dict(newmods)
        given = [str(c) for c in newmods.columns]
        missing = [n for n in mods if n not in given]
        extra = [c for c in given if c not in mods]
        if missing or extra:
            raise InputError(f"predict: newmods has the columns {', '.join(given)}; expected the "
                             f"moderators {', '.join(mods)} (the intercept is added by predict)")
        try:
            return newmods.rename(columns=str)[mods].to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise InputError(f"predict: newmods columns {', '.join(mods)} must hold numbers; "
                             f"got {newmods.to_dict(orient='list')!r}") from None

    def _formula_rows(self, newmods: Any) -> np.ndarray:
        """Model-matrix rows for new data of a formula model (formulaic's model spec of the fit;
        a category not seen in the fitted data, or a missing value, is an error: formulaic would
        turn it silently into the reference level or drop the row)."""
        import warnings

        frame = _frame_from_dict(newmods) if isinstance(newmods, dict) else newmods
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                mm_new = self._mm.spec.get_model_matrix(frame, na_action="raise")
        except Exception as exc:  # formulaic raises many types; report which part failed
            raise InputError(f"predict: newmods {frame.to_dict(orient='list')!r} does not fit "
                             f"the formula's variables: {exc}") from None
        X, names = _intercept_first(mm_new)
        if names != self._mm.names or X.shape[0] != len(frame):
            raise InputError(f"predict: newmods gives the model columns {', '.join(names)}; "
                             f"expected {', '.join(self._mm.names)}")
        return X

    def confint(self, level: float | None = None, type: str | None = None) -> ConfintResult:
        """Confidence intervals for tau^2, tau, I^2 and H^2 (metafor ``confint.rma.uni``).

        ``type``: ``"QP"`` Q-profile (Viechtbauer 2007; the default), ``"GENQ"`` generalised Q
        (the default for GENQ/GENQM fits), ``"PL"`` profile likelihood (ML/REML fits),
        ``"Wald"``, ``"Wald.log"`` (``exp(log tau^2 +/- z se / tau^2)``), ``"Wald.sqrt"``;
        I^2 and H^2 are transformed through the typical within-study variance. Formulas and
        references: :func:`evsynth.models.heterogeneity.tau2_confint`.
        """
        from evsynth.models.heterogeneity import tau2_confint

        return tau2_confint(self, type=type, level=level)

    def profile(self, xlim: Sequence[float] | None = None, steps: int = 20,
                coef: str | int | None = None) -> ProfileResult:
        """Profile of the (restricted) log-likelihood over tau^2 (metafor ``profile.rma.uni``;
        :func:`evsynth.models.profile.profile_tau2`), or with ``coef`` (a coefficient's name or
        index) of the ML log-likelihood over that coefficient (ML and equal-effects fits;
        :func:`evsynth.models.profile.profile_coef`). ``.plot()`` draws it."""
        from evsynth.models.profile import profile_coef, profile_tau2

        if coef is not None:
            return profile_coef(self, coef, xlim=xlim, steps=steps)
        return profile_tau2(self, xlim=xlim, steps=steps)

    def anova(self, other: MetaResult | None = None, *, btt: Sequence[int] | None = None,
              L: Any = None, X: Any = None, rhs: Any = None,
              test: str | None = None) -> AnovaResult:
        """Compare nested models, or Wald-test coefficients / linear combinations (metafor
        ``anova.rma``).

        ``anova(other)``: likelihood-ratio test of nested fits of the same data with a
        likelihood: both ML, both REML (same moderators; otherwise the REML comparison is not
        meaningful, as metafor warns, and ``notes`` says so), or an equal-effects (EE/FE/CE)
        reduced model. ``R2`` is the pseudo-R^2 (% of the reduced model's tau^2 accounted for
        by the full model; for two equal-effects fits from the residual variances of the
        weighted regressions, as metafor). Fits without a likelihood (DL, HE, SJ, PM, EB, ...)
        are refused for the LRT; ``anova(other, test="Wald")`` compares them by the Wald test
        of the full model's extra coefficients (metafor's ``test = "Wald"``), with the pseudo-R^2
        and both tau^2.
        ``anova(btt=[...])`` tests ``beta[btt] = 0`` (0-based indices) jointly.
        ``anova(L=matrix)`` (metafor's ``X``/``L``; ``rhs`` the right-hand sides): each linear
        combination ``L_j beta - rhs_j`` with its SE, z (or t with k - p df), p-value and CI,
        and the joint Wald test when ``L`` has full row rank (F(m, k-p) under t/knha/adhoc).
        A row of ``L`` with p - 1 entries gets the intercept's 1 in front, as metafor.
        """
        if L is not None and X is not None:
            raise InputError("anova: give L or its alias X, not both")
        L = X if L is None else L
        if other is not None:
            code = "LRT" if test is None else str(test).upper()
            if code not in ("LRT", "WALD"):
                raise InputError(f"anova: argument 'test' is {test!r}; expected 'LRT' or 'Wald'")
            if code == "WALD":
                return self._wald_compare(other)
            return self._lrt(other)
        if test is not None:
            raise InputError("anova: argument 'test' ('LRT' or 'Wald') applies to the comparison "
                             "of two fits, anova(other, test=...)")
        if L is not None:
            return self._wald_L(L, rhs)
        idx = np.atleast_1d(np.asarray(self._btt if btt is None else btt, dtype=int))
        if np.any((idx < 0) | (idx >= self.p)):
            raise InputError(f"btt indices must be in 0..{self.p - 1}; got {list(idx)}")
        Lm = np.eye(self.p)[idx]
        hyp = [self.coef_names[i] for i in idx]
        rhs_v = self._rhs(rhs, len(idx))
        beta = self.beta.copy()
        beta[idx] = beta[idx] - rhs_v
        df = np.array([self._t_df()[0]], dtype=float)
        QM, m, QMp = wald(beta[None, :], self.vb[None, :, :], Lm, self.test, df)
        QMdf = m if self.test == "z" else [m, int(df[0])]
        return AnovaResult("Wald", QM=float(QM[0]), QMdf=QMdf, QMp=float(QMp[0]), test=self.test,
                           hypotheses=hyp, level=self.level)

    @staticmethod
    def _rhs(rhs: Any, m: int) -> np.ndarray:
        if rhs is None:
            return np.zeros(m)
        r = np.atleast_1d(np.asarray(rhs, dtype=float))
        if r.size == 1:
            r = np.repeat(r, m)
        if r.size != m or not np.all(np.isfinite(r)):
            raise InputError(f"anova: argument 'rhs' has {r.size} values; expected one finite "
                             f"number or {m} (one per hypothesis)")
        return r

    def _wald_L(self, L: Any, rhs: Any) -> AnovaResult:
        """Linear combinations ``L beta`` (metafor ``anova.rma`` with ``X``)."""
        try:
            Lm = np.atleast_2d(np.asarray(L, dtype=float))
        except (TypeError, ValueError):
            raise InputError(f"L must be a numeric vector or matrix; got {L!r}") from None
        if Lm.ndim != 2:
            raise InputError(f"L must be a vector or a matrix; got shape {Lm.shape}")
        if self.intercept and Lm.shape[1] == self.p - 1 and self.p > 1:
            Lm = np.column_stack([np.ones(Lm.shape[0]), Lm])
        if Lm.shape[1] != self.p:
            raise InputError(f"L must have {self.p} columns (one per coefficient); got "
                             f"{Lm.shape[1]}")
        if not np.all(np.isfinite(Lm)):
            raise InputError("L must hold finite numbers")
        m = Lm.shape[0]
        r = self._rhs(rhs, m)
        est = Lm @ self.beta - r
        V = Lm @ self.vb @ Lm.T
        se = np.sqrt(np.diag(V))
        with np.errstate(divide="ignore", invalid="ignore"):
            zval = est / se
        ddf, _ = self._t_df()
        lvl = level_fraction(self.level)
        crit = self._crit(lvl)
        if self.test == "z":
            pvals = 2 * stats.norm.sf(np.abs(zval))
        else:
            pvals = 2 * stats.t.sf(np.abs(zval), ddf) if ddf > 0 else np.full(m, np.nan)
        notes: list[str] = []
        QM = QMp = np.nan
        QMdf: Any = None
        if np.linalg.matrix_rank(Lm) == m:
            Vi = np.linalg.solve(V, est)
            QM = float(est @ Vi)
            if self.test == "z":
                QMdf, QMp = m, float(stats.chi2.sf(QM, m))
            else:
                QM = QM / m
                QMdf = [m, int(ddf)]
                QMp = float(stats.f.sf(QM, m, ddf)) if ddf > 0 else np.nan
        else:
            notes.append("L is not of full row rank: the hypotheses are tested one by one; no "
                         "joint test (as metafor)")
        hyp = []
        for row, rj in zip(Lm, r, strict=True):
            terms = [(f"{c:g}*" if c != 1 else "") + n
                     for c, n in zip(row, self.coef_names, strict=True) if c != 0]
            hyp.append(" + ".join(terms).replace("+ -", "- ") + f" = {rj:g}")
        return AnovaResult("Wald.L", QM=QM, QMdf=QMdf, QMp=QMp, test=self.test,
                           hypotheses=hyp, estimate=est, se=se, zval=zval, pvals=pvals,
                           ci_lb=est - crit * se, ci_ub=est + crit * se,
                           ddf=None if self.test == "z" else float(ddf), level=self.level,
                           notes=notes)

    def _pair(self, other: MetaResult) -> tuple[MetaResult, MetaResult]:
        """(full, reduced) of two fits of the same data, checked as metafor ``anova.rma``."""
        if not isinstance(other, MetaResult):
            raise InputError(f"anova: the other model is a {type(other).__name__}; expected a "
                             "meta() fit of the same data")
        if self.k != other.k or not (np.array_equal(self.yi, other.yi)
                                     and np.array_equal(self.vi, other.vi)):
            raise InputError("the two models were not fitted to the same data (yi and vi must "
                             "be equal)")
        full, red = (self, other) if self.parms >= other.parms else (other, self)
        if full.parms == red.parms:
            raise InputError("the models have the same number of parameters; they are not nested")
        return full, red

    @staticmethod
    def _pseudo_r2(full: MetaResult, red: MetaResult) -> float:
        """metafor ``anova.rma``'s R^2: (tau2_r - tau2_f) / tau2_r (0 if tau2_r = 0); for an
        equal-effects full model the relative drop of the residual variance of the weighted
        regression (sigma^2 of ``lm(yi ~ X, weights)``), floored at 0, in percent."""
        if full.method in FIXED_METHODS:
            def sigma2(fit: MetaResult) -> float:
                a = (np.ones(fit.k) if not fit.weighted else 1 / fit.vi
                     if fit.user_weights is None else fit.user_weights)
                Xm = fit.model_matrix
                sw = np.sqrt(a)
                coef = np.linalg.lstsq(Xm * sw[:, None], fit.yi * sw, rcond=None)[0]
                res = fit.yi - Xm @ coef
                return float(np.sum(a * res**2) / (fit.k - fit.p))

            s2f, s2r = sigma2(full), sigma2(red)
            return 100 * max(0.0, (s2r - s2f) / s2r) if s2r > 0 else 0.0
        if red.tau2 == 0:
            return 0.0
        return 100 * max(0.0, (red.tau2 - full.tau2) / red.tau2)

    def _lrt(self, other: MetaResult) -> AnovaResult:
        likelihood = ("ML", "REML", *FIXED_METHODS)
        if isinstance(other, MetaResult) and (self.method not in likelihood
                                              or other.method not in likelihood):
            bad = sorted({m for m in (self.method, other.method) if m not in likelihood})
            raise InputError(
                f"a likelihood-ratio test needs two fits with a likelihood; {' and '.join(bad)} "
                f"{'is' if len(bad) == 1 else 'are'} not likelihood estimator(s) (got "
                f"{self.method} and {other.method}). Comparable: two ML fits, two REML fits "
                "(same moderators), or an ML/REML full model against an equal-effects "
                "(EE/FE/CE) reduced model, all of the same data. For these fits use "
                "anova(other, test='Wald') (Wald test of the extra coefficients, with the "
                "pseudo-R^2 and both tau^2), or refit both with method='ML'")
        full, red = self._pair(other)
        if full.method in FIXED_METHODS and red.method not in FIXED_METHODS:
            raise InputError("anova: the full model is an equal-effects model and the reduced "
                             "model a random-effects model; they are not nested")
        if {full.method, red.method} == {"ML", "REML"}:
            raise InputError("likelihood-ratio tests need two fits with the same method, ML or "
                             f"REML (got {full.method} and {red.method})")
        reml = full.method == "REML"
        key = "ll_REML" if reml else "ll_ML"
        ll_f, ll_r = full.fit_stats[key], red.fit_stats[key]
        notes = []
        if reml and not np.array_equal(full.model_matrix, red.model_matrix):
            notes.append("REML comparisons are not meaningful for models with different fixed "
                         "effects (as metafor warns); refit both with method='ML'")
        LRT = max(0.0, 2 * (ll_f - ll_r))
        df = full.parms - red.parms
        return AnovaResult("LRT", LRT=LRT, df=float(df), pval=float(stats.chi2.sf(LRT, df)),
                           R2=self._pseudo_r2(full, red), ll_full=ll_f, ll_reduced=ll_r,
                           tau2_full=full.tau2, tau2_reduced=red.tau2, test=self.test,
                           level=self.level, QE_full=full.QE, QE_reduced=red.QE,
                           parms_full=full.parms, parms_reduced=red.parms, notes=notes)

    def _wald_compare(self, other: MetaResult) -> AnovaResult:
        """metafor ``anova(full, reduced, test = "Wald")``: the Wald test of the full model's
        coefficients that the reduced model does not have (matched by name), with the
        pseudo-R^2 and both tau^2 (any estimator, same method for both, as metafor)."""
        full, red = self._pair(other)
        if full.method != red.method:
            raise InputError("anova(test='Wald'): the full and the reduced model must use the "
                             f"same method (got {full.method} and {red.method})")
        extra = [i for i, n in enumerate(full.coef_names) if n not in red.coef_names]
        missing = [n for n in red.coef_names if n not in full.coef_names]
        if missing:
            raise InputError(f"anova(test='Wald'): the reduced model has coefficients that the "
                             f"full model does not have: {', '.join(missing)}")
        if not extra:
            raise InputError("anova(test='Wald'): the full and the reduced model appear to "
                             "contain the same moderators")
        # matched by name (as metafor): the names must stand for the same columns; unnamed
        # moderators are mod1, mod2, ... in both fits, whatever they hold
        Xf, Xr = full.model_matrix, red.model_matrix
        for j, name in enumerate(red.coef_names):
            if not np.allclose(Xf[:, full.coef_names.index(name)], Xr[:, j], rtol=1e-12,
                               atol=0.0):
                raise InputError(f"anova(test='Wald'): coefficient {name!r} holds different "
                                 "values in the two models; the coefficients are matched by "
                                 "name, so give the moderators names (a DataFrame, a dict or a "
                                 "formula) that identify them in both fits")
        res = full.anova(btt=extra)
        res.R2 = self._pseudo_r2(full, red)
        res.tau2_full, res.tau2_reduced = full.tau2, red.tau2
        res.QE_full, res.QE_reduced = full.QE, red.QE
        res.parms_full, res.parms_reduced = full.parms, red.parms
        return res

    # printing ---------------------------------------------------------------------------------
    def summary_text(self) -> str:
        fixed = self.method in FIXED_METHODS
        kind = "Equal-effects" if fixed else "Random-effects"
        if self.p > 1:
            kind = "Mixed-effects" if not fixed else "Equal-effects with moderators"
        lines = [f"{kind} model (k = {self.k}; tau^2 estimator: {self.method}; test: {self.test})",
                 ""]
        if not fixed:
            what = ("common to all subgroups" if self._common_df is not None else
                    f"{'specified' if self.tau2_fix else 'estimated'} amount of "
                    f"{'residual ' if self.p > 1 else ''}heterogeneity")
            lines.append(f"tau^2 ({what}): {self.tau2:.4f} (SE = {self.se_tau2:.4f})")
            lines.append(f"tau (square root of estimated tau^2 value): {self.tau:.4f}")
        lines.append(f"I^2: {self.I2:.2f}%   H^2: {self.H2:.2f}"
                     + (f"   R^2: {self.R2:.2f}%" if np.isfinite(self.R2) else ""))
        lines.append(f"Test for {'residual ' if self.p > 1 else ''}heterogeneity: "
                     f"Q(df = {self.k - self.p}) = {self.QE:.4f}, p-val = {fmt_p(self.QEp)}")
        if self.p > 1:
            stat = "QM" if self.test == "z" else "F"
            df = self.QMdf[0] if self.test == "z" else f"{self.QMdf[0]}, {self.QMdf[1]}"
            lines.append(f"Test of moderators: {stat}(df = {df}) = {self.QM:.4f}, "
                         f"p-val = {fmt_p(self.QMp)}")
        lines.append("")
        table = self.coefficients.copy()
        table["pval"] = [fmt_p(p) for p in table["pval"]]
        lines.append(table.to_string(float_format=lambda x: f"{x:.4f}"))
        lines.append("")
        lines.append(f"logLik = {self.ll:.4f}, AIC = {self.AIC:.4f}, BIC = {self.BIC:.4f}, "
                     f"AICc = {self.AICc:.4f}")
        if self.subgroups is not None:
            lines.append("")
            lines.append("Subgroups:")
            for lvl, sub in self.subgroups.items():
                lines.append(f"  {lvl}: k = {sub.k}, estimate = {sub.beta[0]:.4f} "
                             f"[{sub.ci_lb[0]:.4f}, {sub.ci_ub[0]:.4f}], tau^2 = {sub.tau2:.4f}, "
                             f"I^2 = {sub.I2:.1f}%")
            lines.append(f"Test for subgroup differences: Chi^2 = {self.Q_between:.2f}, "
                         f"df = {self.Q_between_df}, p = {fmt_p(self.Q_between_p)}")
        return "\n".join(lines)


def _algorithm(method: str, fallback: bool) -> str:
    if method in FIXED_METHODS:
        return "closed form (tau^2 = 0)"
    if method in ("ML", "REML"):
        base = "Fisher scoring from the HE estimate, projected onto tau^2 >= 0"
    elif method in ("PM", "EB", "PMM"):
        base = "Newton on the generalised Q estimating equation from tau^2 = 0"
    elif method in ("DLIT", "SJIT"):
        base = "fixed-point iteration"
    else:
        base = "closed form"
    if fallback:
        base += "; bracketing root finder (Illinois/bisection) used after non-convergence"
    return base


# --------------------------------------------------------------------------------------------
# public entry point
# --------------------------------------------------------------------------------------------
def meta(yi: Any, vi: Any = None, *, sei: Any = None, method: str = "REML", test: str = "z",
         mods: Any = None, intercept: bool = True, data: pd.DataFrame | None = None,
         level: float = 95, control: dict[str, Any] | Control | None = None, slab: Any = None,
         subgroup: Any = None, subgroup_tau2: str = "separate",
         btt: Sequence[int] | None = None, weights: Any = None, weighted: bool = True,
         tau2: float | None = None) -> MetaResult:
    """Fit an equal-, random- or mixed-effects meta-analysis model (metafor ``rma.uni``).

    The model is ``yi = x_i' beta + u_i + e_i`` with ``e_i ~ N(0, vi)`` and ``u_i ~ N(0, tau^2)``
    (``u_i = 0`` for equal effects). ``beta`` is estimated by weighted least squares with weights
    ``1 / (vi + tau^2)``; tau^2 by the chosen estimator (DerSimonian & Laird 1986; ML and REML by
    Fisher scoring, Viechtbauer 2005; Paule & Mandel 1982; ...). Heterogeneity: ``QE``, ``I2``
    and ``H2`` (Higgins & Thompson 2002). Results match metafor (Viechtbauer 2010) to 1e-6.

    Parameters
    ----------
    yi : array_like, str or pandas.DataFrame
        Effect sizes (or a column name with ``data=``); may also be a DataFrame from
        :func:`evsynth.effect_size` (its columns ``yi`` and ``vi`` are used).
    vi : array_like or str, optional
        Sampling variances (or a column name).
    sei : array_like or str, optional
        Standard errors instead of ``vi``.
    method : str, default "REML"
        tau^2 estimator: ``EE``/``FE``/``CE`` (equal/common effect), ``DL``, ``DLIT``, ``REML``,
        ``ML``, ``PM``, ``PMM``, ``EB``, ``HE``, ``SJ``, ``SJIT``, ``HS``, ``HSk``, ``GENQ``,
        ``GENQM`` (generalised Q with ``weights``: DerSimonian & Kacker 2007; median-unbiased)
        (case-insensitive).
    test : str, default "z"
        ``"z"``, ``"t"``, ``"knha"`` (Hartung-Knapp-Sidik-Jonkman) or ``"adhoc"`` (HKSJ with the
        scale factor floored at 1).
    mods : array_like or str, optional
        Moderators: an array (k x p, no intercept column) or, with ``data=``, a formula such as
        ``"~ ablat + C(alloc)"`` (formulaic; treatment coding like R).
    intercept : bool, default True
        Add an intercept to the moderators.
    data : pandas.DataFrame, optional
        Data frame whose columns the string arguments name.
    level : float, default 95
        Confidence level in percent (95) or as a fraction (0.95).
    control : dict, optional
        ``{"tol": 1e-12, "maxiter": 100, "ll0check": True, "tau2_init": None}``
        (``threshold`` = ``tol``; ``tau2_init``, alias ``"tau2.init"``, the start value of the
        iterative estimators, as metafor's ``tau2.init``).
    slab : array_like or str, optional
        Study labels (used in study tables, diagnostics and error messages).
    subgroup : array_like or str, optional
        Subgroup labels: fits each level separately and adds the test for subgroup differences.
    subgroup_tau2 : {"separate", "common"}, default "separate"
        ``"separate"``: tau^2 per subgroup (RevMan); ``"common"``: a mixed-effects model with a
        common tau^2 (the test is QM of the subgroup factor). Either way ``subgroups`` holds one
        complete intercept-only fit per level (``predict()``, ``summary()``, ``to_dict()``); with
        ``"common"`` it carries the common tau^2 and the level's coefficient from the common
        model (metafor ``rma(yi, vi, mods = ~ 0 + factor(subgroup))``), and QE, I^2, weights
        and logLik of the level's studies at that tau^2.
    btt : sequence of int, optional
        0-based indices of the coefficients in the omnibus test (default: all but the intercept).
    weights : array_like or str, optional
        User weights ``a_i >= 0`` (metafor ``weights=``; a column name with ``data=``):
        ``beta = (X'AX)^-1 X'Ay`` with the sandwich variance
        ``(X'AX)^-1 X'A M A X (X'AX)^-1``, ``M = diag(vi + tau^2)``. tau^2 is estimated as
        without weights (as metafor), except by ``GENQ``/``GENQM``, which use them as the
        weights of the generalised Q statistic (and need them).
    weighted : bool, default True
        False: unweighted (ordinary least squares) estimation of the coefficients, with the
        variance ``(X'X)^-1 X'MX (X'X)^-1`` (metafor ``weighted=FALSE``; tau^2 estimation is
        unchanged).
    tau2 : float, optional
        Fix tau^2 at this value (>= 0) instead of estimating it (metafor ``tau2=``); not for
        equal-effects methods. ``method_info["tau2_fixed"]`` records it; ``parms = p``.

    Returns
    -------
    MetaResult
        The fit: ``k``, ``estimate`` (and ``beta``, an array), ``se``, ``ci_lb``, ``ci_ub``,
        ``pval``, ``tau2``, ``I2``, ``H2``, ``QE``, ``QEp``, ``QM``, ``level`` (percent) and
        ``method_info``; ``summary()`` prints as metafor's ``print.rma``, ``predict()`` gives the
        pooled estimate with its prediction interval, ``confint()`` the CIs of tau^2 and I^2;
        diagnostics (``leave1out()``, ``influence()``, ``regtest()``, ``trimfill()``, ...) and
        ``evsynth.forest(fit)`` work on it.

    Raises
    ------
    InputError
        For invalid data (naming the study and the field), an unknown method or test code, or a
        model that cannot be estimated (e.g. collinear moderators).

    See Also
    --------
    effect_size : per-study effect sizes and sampling variances.
    meta_mh, meta_peto : Mantel-Haenszel and Peto pooling of 2x2 tables.
    meta_batch : one model per group, for many meta-analyses at once.

    References
    ----------
    .. [1] Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package.
           *J Stat Softw* 36(3):1-48. doi:10.18637/jss.v036.i03
    .. [2] DerSimonian R, Laird N (1986). Meta-analysis in clinical trials. *Control Clin
           Trials* 7(3):177-188. doi:10.1016/0197-2456(86)90046-2
    .. [3] Viechtbauer W (2005). Bias and efficiency of meta-analytic variance estimators in the
           random-effects model. *J Educ Behav Stat* 30(3):261-293.
           doi:10.3102/10769986030003261
    .. [4] Hartung J, Knapp G (2001). A refined method for the meta-analysis of controlled
           clinical trials with binary outcome. *Stat Med* 20(24):3875-3889. doi:10.1002/sim.1009
    .. [5] Higgins JPT, Thompson SG (2002). Quantifying heterogeneity in a meta-analysis.
           *Stat Med* 21(11):1539-1558. doi:10.1002/sim.1186
    .. [6] DerSimonian R, Kacker R (2007). Random-effects model for meta-analysis of clinical
           trials: an update. *Contemp Clin Trials* 28(2):105-114.
           doi:10.1016/j.cct.2006.04.004
    .. [7] Jackson D (2013). Confidence intervals for the between-study variance in random
           effects meta-analysis using generalised Cochran heterogeneity statistics. *Res Synth
           Methods* 4(3):220-229. doi:10.1002/jrsm.1081

    Examples
    --------
    Log risk ratios of the BCG vaccine trials (metafor's ``dat.bcg``) and a random-effects
    model (REML):

    >>> import numpy as np
    >>> import evsynth
    >>> tpos = [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27]
    >>> tneg = [119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886]
    >>> cpos = [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29]
    >>> cneg = [128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825]
    >>> es = evsynth.effect_size("RR", ai=tpos, bi=tneg, ci=cpos, di=cneg)
    >>> res = evsynth.meta(es)
    >>> round(res.estimate, 4), round(res.tau2, 4), round(res.I2, 2)
    (-0.7145, 0.3132, 92.22)

    The pooled risk ratio with its 95% CI and prediction interval:

    >>> pred = res.predict(transf=np.exp)
    >>> round(pred.pred, 4), round(pred.ci_lb, 4), round(pred.ci_ub, 4)
    (0.4894, 0.3441, 0.6962)
    >>> round(pred.pi_lb, 4), round(pred.pi_ub, 4)
    (0.1546, 1.549)

    A meta-regression on absolute latitude:

    >>> ablat = [44, 55, 42, 52, 13, 44, 19, 13, 27, 42, 18, 33, 33]
    >>> reg = evsynth.meta(es, mods=np.array(ablat, dtype=float))
    >>> reg.beta.round(4)
    array([ 0.2515, -0.0291])

    User weights (here 1 / vi, the inverse-variance weights at tau^2 = 0) with the DL
    estimate of tau^2, and the generalised Q estimator with the same weights:

    >>> w = 1 / es["vi"]
    >>> round(evsynth.meta(es, method="DL", weights=w).estimate, 4)
    -0.4303
    >>> round(evsynth.meta(es, method="GENQ", weights=w).tau2, 4)
    0.3088
    """
    method_u = meta_method(method)
    test = test_code(test)
    if subgroup_tau2 not in ("separate", "common"):
        raise InputError(f"argument 'subgroup_tau2' is {subgroup_tau2!r}; expected 'separate' "
                         "or 'common'")
    level = level_percent(level)
    con = Control.from_any(control)
    data = as_frame(data)
    y, v, labels = prepare_inputs(yi, vi, sei, data, slab)
    k = y.size
    mm = build_model_matrix(mods, data, intercept, k, labels)
    X = mm.X
    p = X.shape[1]
    a, weighted, tau2_val = _weight_options(weights, weighted, tau2, data, labels, k, X,
                                            method_u)
    _check_estimable(k, p, "FE" if tau2_val is not None else method_u, test, mm)
    des = Design(y, v, X, Segments(np.array([k])))
    btt_arr = default_btt(p, mm.intercept) if btt is None else np.atleast_1d(np.asarray(btt))
    out = fit_batch(des, method_u, test, level, con, btt=btt_arr, intercept=mm.intercept,
                    where=lambda i: study_name(i, labels), weights=a, weighted=weighted,
                    tau2_fixed=None if tau2_val is None else np.array([tau2_val]))
    res = MetaResult(out, 0, des=des, mm=mm, method=method_u, test=test, control=con,
                     labels=labels, rows=np.arange(k), btt=btt_arr, user_weights=a,
                     weighted=weighted, tau2_fix=tau2_val is not None)
    if subgroup is not None and (a is not None or not weighted or tau2_val is not None):
        raise InputError("subgroup= cannot be combined with weights=, weighted=False or tau2= "
                         "(not supported yet): fit each subgroup with meta(..., subset) instead")
    if subgroup is not None:
        _add_subgroups(res, y, v, labels, _column(subgroup, data, "subgroup"), method_u, test,
                       level, con, subgroup_tau2)
    return res


def _weight_options(weights: Any, weighted: Any, tau2: Any, data: pd.DataFrame | None,
                    labels: list | None, k: int, X: np.ndarray,
                    method: str) -> tuple[np.ndarray | None, bool, float | None]:
    """Check ``weights`` (one number >= 0 per study, or one for all, as metafor; not all 0;
    ``X'AX`` of full rank), ``weighted`` (a bool) and ``tau2`` (a number >= 0, not with an
    equal-effects method). Returns (weights or None, weighted, tau2 or None)."""
    weighted = flag("weighted", weighted)
    tau2_val = None
    if tau2 is not None:
        if method in FIXED_METHODS:
            raise InputError(f"argument 'tau2' is {tau2!r} but method {method!r} is an "
                             "equal-effects model (no tau^2); expected a random-effects method "
                             "such as 'REML' or 'DL' with tau2=")
        from evsynth.errors import nonnegative_number

        if isinstance(tau2, (bool, np.bool_)):
            raise InputError(f"argument 'tau2' is {tau2!r}; expected a number >= 0")
        tau2_val = nonnegative_number("tau2", tau2)
    if weights is None:
        return None, bool(weighted), tau2_val
    if np.ndim(weights) == 0 and not isinstance(weights, str):
        weights = [weights] * k
    a = numeric_vector("weights", weights, data, labels=labels)
    if a.size != k:
        raise InputError(f"argument 'weights' has {a.size} values but there are {k} studies")
    bad = first_bad(a < 0)
    if bad is not None:
        raise InputError(f"{study_name(bad, labels)}: field 'weights' is {shown(a[bad])}; "
                         "expected a weight >= 0")
    if not np.any(a > 0):
        raise InputError("argument 'weights' is 0 for every study; expected at least one "
                         "positive weight")
    if np.linalg.matrix_rank(X[a > 0]) < X.shape[1]:
        raise InputError("the studies with positive weights do not identify every coefficient "
                         "(X'AX is singular); expected positive weights for enough studies")
    return a, bool(weighted), tau2_val


def _check_estimable(k: int, p: int, method: str, test: str, mm: ModelMatrix) -> None:
    # an intercept-only model (one column of ones, k >= 1) has full rank: no SVD needed
    if not (p == 1 and mm.intercept) and np.linalg.matrix_rank(mm.X) < p:
        raise InputError(f"the model matrix ({', '.join(mm.names)}) is not of full rank: some "
                         "moderators are constant or collinear")
    intercept_only = p == 1 and mm.intercept
    if not (intercept_only and k == 1):
        need = p if method in FIXED_METHODS else p + 1
        if k < need:
            raise InputError(f"too few studies for the model: k = {k}, but {need} are needed for "
                             f"{p} coefficient(s)" + ("" if method in FIXED_METHODS else
                                                      " and tau^2"))
    if test != "z" and k - p < 1:
        raise InputError(f"test '{test}' needs k > p (k = {k}, p = {p}): the t distribution has "
                         "no degrees of freedom")


def _add_subgroups(res: MetaResult, y: np.ndarray, v: np.ndarray, labels: list | None,
                   groups: Any, method: str, test: str, level: float, con: Control,
                   subgroup_tau2: str) -> None:
    """Subgroup analysis: per-level fits and the test for subgroup differences.

    ``separate`` (RevMan 5, Cochrane Handbook 10.11.3.1): each level is fitted on its own (one
    batch); Q_between is Cochran's Q of the subgroup estimates with weights 1/se^2, on
    levels - 1 df. ``common``: a mixed-effects meta-regression on the subgroup factor with one
    tau^2 (Borenstein et al. 2009, ch. 19); Q_between is its omnibus QM test.
    """
    if len(groups) != y.size:
        raise InputError(f"subgroup has {len(groups)} labels but there are {y.size} studies")
    codes, levels = pd.factorize(pd.Series(groups), sort=True)
    if (codes < 0).any():
        i = int(np.flatnonzero(codes < 0)[0])
        raise InputError(f"{study_name(i, labels)}: field 'subgroup' is missing")
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes, minlength=len(levels))
    res.subgroup_tau2 = subgroup_tau2
    G = len(levels)
    if subgroup_tau2 == "separate":
        des = Design(y[order], v[order], np.ones((y.size, 1)), Segments(sizes))
        for g in range(G):
            if test != "z" and sizes[g] < 2:  # t, knha, adhoc: no df (common effect too)
                raise InputError(f"subgroup {levels[g]!r} has k = 1: test '{test}' cannot be used")
        out = fit_batch(des, method, test, level, con, compute_r2=False,
                        where=lambda i: study_name(int(order[i]), labels))
        subs = {}
        for g, lvl in enumerate(levels):
            rows = np.flatnonzero(des.seg.index == g)
            sub_labels = [labels[i] for i in order[rows]] if labels is not None else None
            subs[lvl] = MetaResult(out, g, des=des, mm=ModelMatrix(np.ones((sizes[g], 1)),
                                                                    ["intrcpt"], True),
                                   method=method, test=test, control=con, labels=sub_labels,
                                   rows=rows, btt=np.array([0]))
        est = np.array([s.beta[0] for s in subs.values()])
        w = 1 / np.array([s.se[0] for s in subs.values()]) ** 2
        Q = float(np.sum(w * (est - np.sum(w * est) / np.sum(w)) ** 2)) if G > 1 else 0.0
        res.subgroups = subs
        res.Q_between = Q
        res.Q_between_df = G - 1
        res.Q_between_p = float(stats.chi2.sf(Q, G - 1)) if G > 1 else np.nan
        res.Q_between_I2 = i2_from_q(Q, G - 1)
        return
    # common tau^2: mixed-effects model with the subgroup factor
    Xf = np.zeros((y.size, G))
    Xf[np.arange(y.size), codes] = 1.0
    mmf = ModelMatrix(Xf, [f"subgroup[{lv}]" for lv in levels], False)
    _check_estimable(y.size, G, method, test, mmf)
    des = Design(y, v, Xf, Segments(np.array([y.size])))
    out = fit_batch(des, method, test, level, con, btt=np.arange(G), intercept=False,
                    compute_r2=False, where=lambda i: study_name(i, labels))
    # contrasts of every level against the first: beta_j - beta_1 = 0 for j = 2..G
    L = np.eye(G)[1:] - np.eye(G)[0][None, :]
    fitted = MetaResult(out, 0, des=des, mm=mmf, method=method, test=test, control=con,
                        labels=labels, rows=np.arange(y.size), btt=np.arange(G))
    if G > 1:
        QM, m, QMp = wald(out["beta"], out["vb"], L, test, out["df"])
        res.Q_between, res.Q_between_p = float(QM[0]), float(QMp[0])
    else:
        res.Q_between, res.Q_between_p = 0.0, np.nan
    res.Q_between_df = G - 1
    res.Q_between_I2 = i2_from_q(res.Q_between, G - 1)
    res.subgroups = _common_tau2_subgroups(fitted, y, v, labels, levels, order, sizes, method,
                                           test, level, con)


def _common_tau2_subgroups(fitted: MetaResult, y: np.ndarray, v: np.ndarray,
                           labels: list | None, levels: Any, order: np.ndarray,
                           sizes: np.ndarray, method: str, test: str, level: float,
                           con: Control) -> dict:
    """The subgroups of a common-tau^2 model (``fitted``, ``~ 0 + subgroup`` with one tau^2) as
    complete intercept-only fits, one per level (p = 1, model matrix a column of ones over that
    level's studies):

    * tau^2 is the common estimate, fixed (``se_tau2`` is the common estimate's SE);
    * the coefficient, its SE, z/t, p-value, CI and Wald test are those of the level's
      coefficient in the common model (metafor: ``rma(yi, vi, mods = ~ 0 + factor(g))``), with
      the common model's residual df (k - G) for t quantiles and prediction intervals, so
      ``predict()`` gives metafor's ``predict(res, newmods = diag(G))`` row for the level;
    * k, QE (Cochran's Q of the level's studies around their equal-effects estimate, on
      k_g - 1 df; the levels' QE add up to the common model's QE), QEp, I^2, H^2 (from the common
      tau^2 and the level's typical within-study variance), weights, the log-likelihood and
      AIC/BIC/AICc are those of the intercept-only fit to the level's studies with tau^2 fixed
      at the common value (metafor ``rma(yi, vi, tau2 = tau2_common, subset = level)``; the
      levels' log-likelihoods add up to the common model's).

    Refitting diagnostics (leave-one-out, influence, funnel-plot tests) on such a result
    re-estimate tau^2 from the level's studies alone.
    """
    G = len(levels)
    des = Design(y[order], v[order], np.ones((y.size, 1)), Segments(sizes))
    out = fit_batch(des, method, test, level, con, compute_r2=False,
                    tau2_fixed=np.full(G, fitted.tau2),
                    where=lambda i: study_name(int(order[i]), labels))
    info = fitted.method_info
    ddf, n_var = fitted.k - fitted.p, fitted.parms - fitted.p
    subs = {}
    for g, lvl in enumerate(levels):
        rows = np.flatnonzero(des.seg.index == g)
        sub_labels = [labels[i] for i in order[rows]] if labels is not None else None
        sub = MetaResult(out, g, des=des, mm=ModelMatrix(np.ones((sizes[g], 1)), ["intrcpt"],
                                                         True),
                         method=method, test=test, control=con, labels=sub_labels, rows=rows,
                         btt=np.array([0]))
        sl = slice(g, g + 1)
        sub.beta, sub.vb = fitted.beta[sl].copy(), fitted.vb[sl, sl].copy()
        sub.se, sub.zval, sub.pval = fitted.se[sl].copy(), fitted.zval[sl].copy(), \
            fitted.pval[sl].copy()
        sub.ci_lb, sub.ci_ub = fitted.ci_lb[sl].copy(), fitted.ci_ub[sl].copy()
        sub.df, sub.s2w, sub.se_tau2 = fitted.df, fitted.s2w, fitted.se_tau2
        sub.QM, sub.QMp = float(fitted.zval[g] ** 2), float(fitted.pval[g])
        sub.QMdf = [1, None if test == "z" else int(ddf)]
        sub._common_df = (ddf, n_var)
        sub.method_info = {
            **sub.method_info,
            "iterations": info["iterations"], "converged": info["converged"],
            "algorithm": f"tau^2 fixed at the common estimate ({info['algorithm']})",
            "boundary": info["boundary"], "knha_scale": info["knha_scale"], "df": fitted.df,
            "notes": list(info["notes"]) + [
                f"subgroup {lvl!r} of a model with a common tau^2 (~ 0 + subgroup, k = "
                f"{fitted.k}): coefficient, SE, CI and tests from that model (df = {ddf}); "
                "QE, I^2, H^2, weights and logLik of this subgroup's studies at the common "
                "tau^2"],
            "reference": "metafor rma(yi, vi, mods = ~ 0 + factor(subgroup)); "
                         "rma(yi, vi, tau2 = tau2_common, subset = subgroup)",
        }
        subs[lvl] = sub
    return subs
