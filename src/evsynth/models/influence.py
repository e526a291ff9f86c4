"""Shared machinery of the influence and sensitivity diagnostics (a library, no methods).

The diagnostics themselves live in :mod:`evsynth.models.diagnostics` (one file per method:
``leave1out``, ``cumul``, ``influence``, ``baujat``, ``gosh``, ``permutest``) and are called as
methods of a fitted model (``fit.leave1out()``). This module holds what they share:

- :func:`fit_groups`: many refits of a :class:`~evsynth.models.meta.MetaResult`'s model in one
  stacked batch by :func:`evsynth.models.engine.fit_batch` (the same code path as
  :func:`evsynth.meta`); subsets and permutations are built with numpy and fitted in chunks of at
  most :data:`CHUNK_ROWS` stacked rows, never by a Python loop over fits. Refits that metafor
  cannot do (too few studies for the parameters, a rank-deficient design after deletion) give
  NaN, as metafor gives NA.
- the result objects :class:`CaseTable` (leave-one-out and cumulative tables),
  :class:`InfluenceResult`, :class:`BaujatResult`, :class:`GoshResult` and
  :class:`PermutationTest`; their frames use Python names (``cook_d``, ``QE``, ``QEp``; see
  :data:`RENAMED`), the metafor names still work for one release with a DeprecationWarning.
- helpers: GOSH subsets, multiset permutations, study sort orders, deletion fits.

References: Viechtbauer & Cheung (2010, Res Synth Methods 1:112, doi:10.1002/jrsm.11);
Olkin, Dahabreh & Trikalinos (2012, Res Synth Methods 3:214, doi:10.1002/jrsm.1053);
Follmann & Proschan (1999, Biometrics 55:389); Higgins & Thompson (2004, Stat Med 23:1663);
Lau et al. (1992, N Engl J Med 327:248); Viechtbauer (2010, J Stat Softw 36(3),
doi:10.18637/jss.v036.i03).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import special

from evsynth.errors import InputError
from evsynth.models.engine import fit_batch
from evsynth.models.kernels import FIXED_METHODS, Design, Segments
from evsynth.models.results import FrameResult, ResultMixin, fmt_p

if TYPE_CHECKING:  # pragma: no cover
    from evsynth.models.meta import MetaResult

#: stacked rows (times p^2 for meta-regressions) per batch chunk: bounds the memory of a batch
CHUNK_ROWS = 1_500_000
#: metafor's default cut-off for GOSH: all subsets when there are at most this many
GOSH_MAX_EXACT = 10**6
#: largest k for which gosh() enumerates or samples without an explicit ``subsets``
GOSH_MAX_K = 30
#: largest number of permutations an exact permutation test may enumerate
PERM_MAX_EXACT = 5 * 10**6
#: metafor permutest's tolerance when comparing permuted with observed statistics
COMPTOL = float(np.sqrt(np.finfo(float).eps))

_FIT_KEYS = ("beta", "se", "zval", "pval", "ci_lb", "ci_ub", "vb", "tau2", "I2", "H2", "QE",
             "QEp", "QM", "QMp", "s2w")

#: ``build(groups)`` -> stacked ``(y, v, X)`` of the data sets, or ``(y, v, X, idx)`` with
#: ``idx`` the fit's study behind each stacked row (needed to carry user weights, see
#: :func:`fit_groups`)
Builder = Callable[[np.ndarray], tuple[np.ndarray, ...]]


# --------------------------------------------------------------------------------------------
# batch refits
# --------------------------------------------------------------------------------------------
def _full_rank(des: Design, tol: float = 1e-13, d: np.ndarray | None = None) -> np.ndarray:
    """Per group: is X of full column rank? (eigenvalues of X'X relative to the largest; of
    X'DX with ``d`` the diagonal of D, e.g. 0/1 for the rows with positive user weights).
    The columns are first scaled to unit length, so that the check does not depend on the
    units of the moderators (as R's QR in ``lm``, which metafor uses to find redundant ones,
    compares each column with its own norm)."""
    if des.p == 1 and d is None:
        return np.ones(des.seg.G, dtype=bool)
    XtX = des.xtdx(np.ones_like(des.y) if d is None else d)
    if des.p == 1:
        return XtX[:, 0, 0] > 0
    diag = np.einsum("gii->gi", XtX)
    if np.any(diag <= 0):  # a column of zeros (in the rows with weight): rank deficient
        bad = np.any(diag <= 0, axis=1)
        diag = np.where(diag > 0, diag, 1.0)
    else:
        bad = np.zeros(des.seg.G, dtype=bool)
    sd = np.sqrt(diag)
    ev = np.linalg.eigvalsh(XtX / (sd[:, :, None] * sd[:, None, :]))
    return ~bad & (ev[:, 0] > tol * np.maximum(ev[:, -1], 0.0))


def _chunks(sizes: np.ndarray, groups: np.ndarray, budget: int) -> list[np.ndarray]:
    """Split ``groups`` (indices into ``sizes``) into runs of at most ``budget`` stacked rows."""
    if groups.size == 0:
        return []
    csum = np.cumsum(sizes[groups])
    cut = np.searchsorted(csum, np.arange(budget, int(csum[-1]), budget), side="right")
    return [c for c in np.split(groups, np.unique(cut)) if c.size]


def fit_groups(fit: MetaResult, sizes: np.ndarray, build: Builder, *, p: int | None = None,
               btt: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Refit ``fit``'s model (method, test, level, control) on many data sets in one batch.

    ``sizes[g]`` is the number of studies of data set ``g``; ``build(groups)`` returns the
    stacked ``(y, v, X)`` rows of the given data sets in order, or ``(y, v, X, idx)`` with
    ``idx`` the fit's study (0-based) behind each row. Data sets that metafor's ``rma.uni``
    refuses (fewer than p studies, or p + 1 with an estimated tau^2, except an intercept-only
    k = 1; a rank-deficient X, or X'AX with user weights A) come back as NaN. Under
    t/knha/adhoc tests an intercept-only k = 1 data set is fitted with the z test, as
    ``rma.uni`` switches to test = "z" when k = 1. Returns per-group arrays for the keys in
    ``_FIT_KEYS``.

    The refits carry the fit's settings as metafor's refitting functions do (``leave1out``,
    ``cumul``, ``influence.rma.uni``, ``gosh``, ``permutest`` pass ``weights=x$weights``
    (subset with the studies), ``weighted=x$weighted`` and ``tau2=ifelse(x$tau2.fix, x$tau2,
    NA)`` to ``rma.uni``): the user weights of the rows (``idx`` required), unweighted
    estimation, and a fixed tau^2 that stays fixed (then only p studies are needed, as in
    ``rma.uni``). References: Viechtbauer (2010, J Stat Softw 36(3),
    doi:10.18637/jss.v036.i03); metafor ``leave1out.rma.uni``, ``influence.rma.uni``.
    """
    G = sizes.size
    p = fit.p if p is None else p
    int_only = p == 1 and fit.intercept
    shapes = {"beta": (p,), "se": (p,), "zval": (p,), "pval": (p,), "ci_lb": (p,),
              "ci_ub": (p,), "vb": (p, p)}
    out = {key: np.full((G, *shapes.get(key, ())), np.nan) for key in _FIT_KEYS}
    user = getattr(fit, "user_weights", None)
    weighted = bool(getattr(fit, "weighted", True))
    tau2_fix = bool(getattr(fit, "tau2_fix", False))
    need = p if fit.method in FIXED_METHODS or tau2_fix else p + 1
    ok = (sizes >= need) | (int_only & (sizes == 1))
    budget = max(CHUNK_ROWS // (p * p), 1000)
    for groups in _chunks(sizes, np.flatnonzero(ok), budget):
        built = build(groups)
        y, v, X = built[:3]
        a = None
        if user is not None:
            if len(built) < 4:
                raise RuntimeError("fit_groups: a fit with user weights needs the builder to "
                                   "return the study index of each row")
            a = np.asarray(user, dtype=float)[np.asarray(built[3])]
        des = Design(y, v, X, Segments(sizes[groups]))
        good = _full_rank(des)
        if a is not None:  # rma.uni also needs X'AX invertible (and some weight > 0)
            pos = des.seg.sum((a > 0).astype(float)) > 0
            good &= pos & _full_rank(des, d=(a > 0).astype(float))
        if not good.all():
            keep = des.seg.expand(good).astype(bool)
            des, groups = des.subset(good), groups[good]
            a = None if a is None else a[keep]
            if groups.size == 0:
                continue
        parts = [(np.ones(groups.size, dtype=bool), fit.test)]
        if fit.test != "z" and int_only:
            one = des.k == 1
            if one.any():
                parts = [(~one, fit.test), (one, "z")]
        for mask, test in parts:
            if not mask.any():
                continue
            sub = des if mask.all() else des.subset(mask)
            sub_a = a if a is None or mask.all() else a[des.seg.expand(mask).astype(bool)]
            res = fit_batch(sub, fit.method, test, fit.level, fit.control, btt=btt,
                            intercept=fit.intercept, compute_r2=False, weights=sub_a,
                            weighted=weighted,
                            tau2_fixed=np.full(sub.seg.G, fit.tau2) if tau2_fix else None)
            for key in _FIT_KEYS:
                out[key][groups[mask]] = res[key]
    return out


def leave_out_rows(k: int, groups: np.ndarray) -> np.ndarray:
    """Stacked study indices of the data sets 'all but study g' for g in ``groups``."""
    full = np.broadcast_to(np.arange(k), (groups.size, k))
    return full[full != groups[:, None]]


# --------------------------------------------------------------------------------------------
# result objects
# --------------------------------------------------------------------------------------------
#: old (metafor) column name -> Python name, kept working for one release with a warning
RENAMED: dict[str, str] = {"Q": "QE", "Qp": "QEp", "cook.d": "cook_d", "cov.r": "cov_r",
                           "tau2.del": "tau2_del", "QE.del": "QE_del"}


def _renamed(key: str) -> str | None:
    """The Python name of an old metafor column name (``dfbs.<coef>`` -> ``dfbs_<coef>``)."""
    if key in RENAMED:
        return RENAMED[key]
    if key.startswith("dfbs."):
        return "dfbs_" + key[len("dfbs."):]
    return None


class _FrameResult(FrameResult):
    """A diagnostics table: old metafor column names (``res["cook.d"]``, ``res.Q``) still work
    for one release with a DeprecationWarning (``res.frame["Q"]``, a plain DataFrame, cannot
    warn: it fails)."""

    _renamed = staticmethod(_renamed)


class CaseTable(_FrameResult):
    """Leave-one-out or cumulative results: one row per omitted / added study.

    Columns: ``slab``, ``estimate``, ``se``, ``zval`` (a t statistic under t-based tests),
    ``pval``, ``ci_lb``, ``ci_ub``, ``QE``, ``QEp``, ``tau2`` (not for Mantel-Haenszel / Peto
    fits, which have none), ``I2``, ``H2`` (metafor's ``estimate, se, zval, pval, ci.lb, ci.ub,
    Q, Qp, tau2, I2, H2``). With ``transf`` the estimate and bounds are transformed and ``se``
    is NaN (as metafor's ``NA``); ``transf`` then names the function.
    """

    _dict_fields = ("kind", "method", "test", "level", "transf", "table")

    def __init__(self, frame: pd.DataFrame, kind: str, method: str, test: str, level: float,
                 transf: str | None = None):
        self.frame = frame
        self.kind = kind
        self.method = method
        self.test = test
        self.level = level
        self.transf = transf

    def summary_text(self) -> str:
        title = {"leave1out": "Leave-one-out analysis (row = study omitted)",
                 "cumul": "Cumulative meta-analysis (row = study added)"}[self.kind]
        stat = "zval" if self.test == "z" else "tval"
        show = self.frame.rename(columns={"zval": stat}).copy()
        show["pval"] = [fmt_p(p) for p in show["pval"]]
        show["QEp"] = [fmt_p(p) for p in show["QEp"]]
        if self.transf is not None:
            show = show.drop(columns="se")
        note = f"; estimates and CIs transformed by {self.transf}" if self.transf else ""
        return (f"{title}; {self.method}, test = {self.test}, level = {self.level:g}%{note}\n"
                + show.to_string(index=False, float_format=lambda x: f"{x:.4f}"))


class InfluenceResult(_FrameResult):
    """Case-deletion diagnostics of metafor's ``influence.rma.uni`` (one row per study).

    Columns: ``slab, rstudent, dffits, cook_d, cov_r, tau2_del, QE_del, hat, weight`` (weight in
    percent), ``dfbs_<coefficient>`` and ``inf`` (``"*"`` when influential); metafor's names are
    ``cook.d``, ``cov.r``, ``tau2.del``, ``QE.del``, ``dfbs.<coefficient>`` (still accepted by
    ``res[...]`` for one release, with a DeprecationWarning). Also attributes: every column as an
    array, ``dfbetas`` (DataFrame, one column per coefficient) and ``is_infl`` (bool array).
    """

    _dict_fields = ("k", "p", "coef_names", "table", "tau2", "QE")

    def __init__(self, frame: pd.DataFrame, dfbetas: pd.DataFrame, is_infl: np.ndarray,
                 k: int, p: int, coef_names: list[str], tau2: float, QE: float):
        self.frame = frame
        self.dfbetas = dfbetas
        self.is_infl = is_infl
        self.k, self.p, self.coef_names = k, p, coef_names
        self.tau2, self.QE = tau2, QE

    @property
    def dfbs(self) -> pd.DataFrame:
        """metafor's name for :attr:`dfbetas`."""
        return self.dfbetas

    def summary_text(self) -> str:
        show = self.frame.copy()
        return ("Influence diagnostics (Viechtbauer & Cheung 2010; * = influential)\n"
                + show.to_string(index=False, float_format=lambda x: f"{x:.4f}"))


class BaujatResult(_FrameResult):
    """Coordinates of the Baujat plot (Baujat et al. 2002; metafor ``baujat``): one row per
    study with ``slab``, ``x`` (contribution to the (residual) heterogeneity) and ``y``
    (influence on the pooled result / fitted value). Draw it with
    :func:`evsynth.reports.influence_plots.baujat_plot`.

    Up to evsynth 0.1.0 ``baujat()`` returned the DataFrame itself; DataFrame attributes used on
    this object (``res.columns``, ``res.iloc``) still work for one release with a
    DeprecationWarning (use :attr:`frame` or :meth:`to_frame`).
    """

    _dict_fields = ("model", "int_only", "fixed", "table")
    _was_dataframe = "baujat()"

    def __init__(self, frame: pd.DataFrame, model: str, int_only: bool, fixed: bool):
        self.frame = frame
        self.model = model
        self.int_only = int_only
        self.fixed = fixed

    def summary_text(self) -> str:
        xlab = ("contribution to the overall heterogeneity" if self.fixed
                else "squared Pearson residual")
        return (f"Baujat plot coordinates (Baujat et al. 2002; {self.model}): x = {xlab}, "
                "y = influence on the overall result\n"
                + self.frame.to_string(index=False, float_format=lambda x: f"{x:.4f}"))


class GoshResult(_FrameResult):
    """Fits of the model to subsets of the studies (GOSH; metafor ``gosh.rma``).

    ``frame``: one row per subset with ``k, QE, I2, H2, tau2`` and the estimate (``estimate``
    for an intercept-only model, else one column per coefficient), sorted by k as metafor.
    ``incl``: (subsets x studies) bool incidence matrix; ``fit``: rows whose model could be fitted;
    ``exact``: all subsets (True) or a random sample (False).
    """

    _dict_fields = ("k_total", "exact", "method", "coef_names", "table", "incl", "fit")

    def __init__(self, frame: pd.DataFrame, incl: np.ndarray, fit: np.ndarray, exact: bool,
                 method: str, coef_names: list[str], slab: list | None):
        self.frame = frame
        self.incl = incl
        self.fit = fit
        self.exact = exact
        self.method = method
        self.coef_names = coef_names
        self.k_total = int(incl.shape[1])
        self.slab = slab

    @property
    def res(self) -> pd.DataFrame:
        """metafor's name for the table of per-subset results."""
        return self.frame

    def summary_text(self) -> str:
        kind = "all" if self.exact else "a random sample of"
        desc = self.frame.describe().T[["mean", "min", "25%", "50%", "75%", "max"]]
        return (f"GOSH: model fitted to {kind} {len(self.frame)} subsets of k = {self.k_total} "
                f"studies ({int(self.fit.sum())} fitted; {self.method})\n"
                + desc.to_string(float_format=lambda x: f"{x:.4f}"))


class PermutationTest(ResultMixin):
    """Permutation p-values of metafor's ``permutest.rma.uni`` (from the permutation
    distribution of the test statistics, ``stat="test"``, or of the coefficients,
    ``stat="coef"``), with permutation-based confidence intervals for the coefficients listed
    in ``permci`` (0-based; the others keep the model's CIs)."""

    _dict_fields = ("coef_names", "beta", "se", "zval", "pval", "ci_lb", "ci_ub", "QM", "QMdf",
                    "QMp", "exact", "iter", "exact_iter", "test", "btt", "stat", "alternative",
                    "permci", "level")

    coef_names: list[str]
    beta: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray  # permutation p-values
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    QM: float
    QMdf: list[int | None]
    QMp: float  # permutation p-value of the omnibus test
    exact: bool
    iter: int
    exact_iter: float
    test: str
    btt: list[int]
    zval_perm: np.ndarray
    beta_perm: np.ndarray
    QM_perm: np.ndarray
    stat: str = "test"
    alternative: str = "two.sided"
    permci: list[int] = []  # noqa: RUF012 - replaced per instance
    level: float = 95.0

    def __init__(self, **fields: Any):
        self.__dict__.update(fields)

    def to_frame(self) -> pd.DataFrame:
        """Coefficient table with the permutation p-values."""
        stat = "zval" if self.test == "z" else "tval"
        return pd.DataFrame({"estimate": self.beta, "se": self.se, stat: self.zval,
                             "pval": self.pval, "ci_lb": self.ci_lb, "ci_ub": self.ci_ub},
                            index=self.coef_names)

    def summary_text(self) -> str:
        kind = "exact" if self.exact else "approximate"
        table = self.to_frame()
        table["pval"] = [fmt_p(p) for p in table["pval"]]
        stat = "QM" if self.test == "z" else "F"
        df = self.QMdf[0] if self.test == "z" else f"{self.QMdf[0]}, {self.QMdf[1]}"
        dist = "test statistics" if self.stat == "test" else "coefficients"
        lines = [f"Permutation test ({kind}, {self.iter} permutations; p-values "
                 f"({self.alternative}) from the permutation distribution of the {dist})",
                 f"Test of moderators (coefficients {', '.join(str(b + 1) for b in self.btt)}):"
                 f" {stat}(df = {df}) = {self.QM:.4f}, p-val* = {fmt_p(self.QMp)}"]
        if self.permci:
            names = ", ".join(self.coef_names[j] for j in self.permci)
            lines.append(f"{self.level:g}% CIs of {names}: permutation-based")
        return "\n".join(lines) + "\n" + table.to_string(float_format=lambda x: f"{x:.4f}")


# --------------------------------------------------------------------------------------------
# helpers of the methods
# --------------------------------------------------------------------------------------------
def standardized_residuals(fit: MetaResult) -> tuple[np.ndarray, np.ndarray]:
    """Marginal residuals ``e = y - X beta`` and their standard errors (metafor
    ``rstandard.rma.uni``; used by the residual funnel plot of a meta-regression). The formula
    lives in :func:`evsynth.models.diagnostics.residuals.standardized`."""
    from evsynth.models.diagnostics.residuals import standardized

    return standardized(fit, "marginal")


def deleted_residuals(fit: MetaResult, fits: tuple[dict[str, np.ndarray], np.ndarray,
                                                  np.ndarray] | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Studentised deleted residuals' numerator and SE (metafor ``rstudent.rma.uni``, which is
    ``influence.rma.uni``'s ``rstudent``): ``e_i = y_i - x_i' beta_(-i)`` and
    ``SE_i = sqrt(v_i s2w_(-i) + x_i' vb_(-i) x_i + tau2_(-i) s2w_(-i))`` from the model refitted
    without study i (Viechtbauer & Cheung 2010, Res Synth Methods 1:112, doi:10.1002/jrsm.11).
    A deleted fit with Knapp-Hartung factor 0 gives SE NaN (undefined), as in ``influence``.
    ``fits`` takes :func:`deletion_fits`' result when the caller has it already."""
    d, delpred, vdelpred = deletion_fits(fit) if fits is None else fits
    s2w, t2 = d["s2w"], d["tau2"]
    resid = fit.yi - delpred
    resid = np.where(np.abs(resid) < 100 * np.finfo(float).eps, 0.0, resid)
    with np.errstate(invalid="ignore"):
        se = np.sqrt(fit.vi * s2w + vdelpred + t2 * s2w)
    return resid, np.where(s2w == 0, np.nan, se)


def labels_of(fit: Any) -> list:
    """Study labels of a fit (its ``slab``, else "1", "2", ...) as metafor's ``slab``."""
    return list(fit.slab) if fit.slab is not None else [str(i + 1) for i in range(fit.k)]


def case_frame(res: dict[str, np.ndarray], labels: list, *, tau2: bool = True,
               transf: Callable[[np.ndarray], np.ndarray] | None = None) -> pd.DataFrame:
    """The table of a leave-one-out or cumulative analysis from per-row fit results (arrays
    ``beta``, ``se``, ... of shape (rows,) or (rows, 1)): metafor's columns in Python names.
    ``transf`` is applied to the estimate and bounds (sorted afterwards, as metafor's
    ``.psort``) and ``se`` becomes NaN (metafor ``leave1out``/``cumul``, argument ``transf``)."""
    def col(key: str) -> np.ndarray:
        a = np.asarray(res[key], dtype=float)
        return a[:, 0] if a.ndim == 2 else a

    est, lb, ub, se = col("beta"), col("ci_lb"), col("ci_ub"), col("se")
    if transf is not None:
        est, lb, ub = (apply_transf(transf, a) for a in (est, lb, ub))
        with np.errstate(invalid="ignore"):
            lb, ub = np.fmin(lb, ub), np.fmax(lb, ub)
        se = np.full_like(se, np.nan)
    frame = pd.DataFrame({"slab": labels, "estimate": est, "se": se, "zval": col("zval"),
                          "pval": col("pval"), "ci_lb": lb, "ci_ub": ub, "QE": col("QE"),
                          "QEp": col("QEp")})
    if tau2:
        frame["tau2"] = col("tau2")
    frame["I2"] = col("I2")
    frame["H2"] = col("H2")
    return frame


def apply_transf(transf: Callable[[Any], Any], values: np.ndarray) -> np.ndarray:
    """``transf`` applied to each value (NaN stays NaN), as metafor's ``sapply(x, transf)``."""
    out = np.full(values.shape, np.nan)
    for i, x in enumerate(values):
        if not np.isnan(x):
            out[i] = float(transf(x))
    return out


def transf_function(transf: Any, what: str, ratio: bool | None = None
                    ) -> tuple[Callable[[Any], Any] | None, str | None]:
    """metafor's ``transf`` argument: None/False (no transformation), a function, or True for
    ``exp`` where the fit knows its measure is a ratio (``ratio`` True; Mantel-Haenszel OR, RR,
    IRR and Peto fits, as ``leave1out.rma.mh``). Returns the function and its name."""
    if transf is None or transf is False:
        return None, None
    if transf is True:
        if ratio:
            return np.exp, "exp"
        why = ("the measure is not a ratio" if ratio is False
               else "this model does not know its measure")
        raise InputError(f"{what}: transf=True means exp for ratio measures, but {why}; pass "
                         "a function such as numpy.exp")
    if isinstance(transf, str):  # a name of evsynth.transf ("exp", "ilogit", ...)
        from evsynth.transf import resolve

        return resolve(transf, None, what=what)
    if not callable(transf):
        raise InputError(f"{what}: transf must be a function such as numpy.exp, a name of "
                         f"evsynth.transf such as 'exp' (or True for exp on a ratio measure); "
                         f"got {transf!r}")
    return transf, getattr(transf, "__name__", repr(transf))


def sort_order(order: Any, k: int, decreasing: bool) -> np.ndarray:
    """Positions of the studies sorted by the values ``order`` (stable, as R's ``order()``)."""
    if isinstance(order, str):
        raise InputError(f"cumul: order is the string {order!r}; give the values to sort by, one "
                         "per study (e.g. data['year']), not a column name")
    keys = pd.Series(np.asarray(order).ravel() if not isinstance(order, pd.Series)
                     else order.to_numpy())
    if len(keys) != k:
        raise InputError(f"cumul: order has {len(keys)} values but the model has k = {k} "
                         "studies; give one value per study (e.g. the publication year)")
    miss = keys.isna().to_numpy()
    if miss.any():
        i = int(np.flatnonzero(miss)[0])
        raise InputError(f"cumul: order value for the study in row {i + 1} is missing; expected "
                         "a sortable value for every study")
    try:
        return keys.sort_values(ascending=not decreasing, kind="stable").index.to_numpy()
    except TypeError as exc:
        raise InputError(f"cumul: order values cannot be sorted ({exc}); give numbers or "
                         "strings of one type") from None


def gosh_subsets(k: int, p: int, subsets: int | None, rng: np.random.Generator
               ) -> tuple[np.ndarray, bool]:
    """Incidence matrix of the GOSH subsets (metafor ``gosh.rma``): all subsets with at least p
    studies when there are at most ``subsets`` (default 10^6) of them, else a random sample whose
    sizes m are drawn from Binomial(k, 1/2) restricted to p..k and whose members are a uniform
    random m-subset. Rows are sorted by subset size (stable), as metafor."""
    sizes = np.arange(p, k + 1)
    n_tot = sum(math.comb(k, int(m)) for m in sizes)
    cap = GOSH_MAX_EXACT if subsets is None else subsets
    if n_tot <= cap:
        codes = np.arange(1, 2**k, dtype=np.int64)
        incl = ((codes[:, None] >> np.arange(k)) & 1).astype(bool)  # study 1 = lowest bit
        incl = incl[incl.sum(axis=1) >= p]
        exact = True
    else:
        prob = special.binom(k, sizes) * 0.5**k
        m = rng.choice(sizes, size=cap, p=prob / prob.sum())
        ranks = np.argsort(np.argsort(rng.random((cap, k)), axis=1), axis=1)
        incl = ranks < m[:, None]
        exact = False
    order = np.argsort(incl.sum(axis=1), kind="stable")
    return incl[order], exact


def multiset_permutations(codes: np.ndarray) -> np.ndarray:
    """All distinct orderings of the multiset ``codes`` (ints 0..m-1), built position by position
    (lexicographic order); shape (k!/prod(c_j!), k)."""
    counts = np.bincount(codes)
    m = counts.size
    perms = np.zeros((1, 0), dtype=np.int16)
    left = counts[None, :].copy()
    for _ in range(codes.size):
        new_p, new_left = [], []
        for c in range(m):
            sel = left[:, c] > 0
            if not sel.any():
                continue
            new_p.append(np.column_stack([perms[sel], np.full(int(sel.sum()), c, np.int16)]))
            nl = left[sel].copy()
            nl[:, c] -= 1
            new_left.append(nl)
        perms, left = np.concatenate(new_p), np.concatenate(new_left)
        order = np.lexsort(perms.T[::-1])
        perms, left = perms[order], left[order]
    return perms


def n_multiset_permutations(counts: np.ndarray) -> float:
    """k! / prod(c_j!) (inf when it overflows a float)."""
    k = int(counts.sum())
    try:
        return float(math.factorial(k) // math.prod(math.factorial(int(c)) for c in counts))
    except OverflowError:
        return math.inf


def safe_inv(M: np.ndarray) -> np.ndarray:
    """Inverse of a covariance matrix; NaN when it is singular (e.g. a Knapp-Hartung scale
    factor of 0 makes vb = 0), so the statistics built on it are NaN rather than an error."""
    try:
        return np.linalg.inv(M)
    except np.linalg.LinAlgError:
        return np.full_like(M, np.nan)


def whole_number(value: Any, name: str, minimum: int) -> int:
    """``value`` rounded to an int >= minimum (InputError otherwise)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = np.nan
    if not np.isfinite(x) or round(x) < minimum:
        raise InputError(f"{name} must be a whole number >= {minimum}; got {value!r}")
    return int(round(x))


def deletion_fits(fit: MetaResult) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The model refitted without each study (one batch), with the deleted fits' prediction
    x_i' beta_(-i) for the left-out study and its variance x_i' vb_(-i) x_i."""
    k = fit.k
    X, y, v = fit.model_matrix, fit.yi, fit.vi

    def build(groups: np.ndarray) -> tuple[np.ndarray, ...]:
        idx = leave_out_rows(k, groups)
        return y[idx], v[idx], X[idx], idx

    d = fit_groups(fit, np.full(k, k - 1), build)
    delpred = np.einsum("ij,ij->i", X, d["beta"])
    vdelpred = np.einsum("ij,ijk,ik->i", X, d["vb"], X)
    return d, delpred, vdelpred


