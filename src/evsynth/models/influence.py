"""Sensitivity and influence diagnostics on a fitted model.

Methods of :class:`evsynth.models.meta.MetaResult` (mixed in as :class:`InfluenceMethods`):

- :meth:`~InfluenceMethods.leave1out` and :meth:`~InfluenceMethods.cumul`: the model refitted
  without each study / with the studies added one at a time (metafor ``leave1out.rma.uni``,
  ``cumul.rma.uni``; Lau et al. 1992, N Engl J Med 327:248 for cumulative meta-analysis).
- :meth:`~InfluenceMethods.influence`: case-deletion diagnostics (Viechtbauer & Cheung 2010,
  Res Synth Methods 1:112; metafor ``influence.rma.uni``).
- :meth:`~InfluenceMethods.gosh`: the model on all (or a random sample of) subsets of the studies
  (Olkin, Dahabreh & Trikalinos 2012, Res Synth Methods 3:214; metafor ``gosh.rma``).
- :meth:`~InfluenceMethods.permutest`: permutation tests of the coefficients (Follmann &
  Proschan 1999, Biometrics 55:389; Higgins & Thompson 2004, Stat Med 23:1663; metafor
  ``permutest.rma.uni``).

Speed: every refit is one group of a stacked batch fitted by
:func:`evsynth.models.engine.fit_batch` (the same code path as :func:`evsynth.meta`); subsets and
permutations are built with numpy and fitted in chunks of at most :data:`CHUNK_ROWS` stacked rows,
never by a Python loop over fits. Refits that metafor cannot do (too few studies for the
parameters, a rank-deficient design after deletion) give NaN, as metafor gives NA.
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
from evsynth.models.results import ResultMixin, fmt_p

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

Builder = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


# --------------------------------------------------------------------------------------------
# batch refits
# --------------------------------------------------------------------------------------------
def _full_rank(des: Design, tol: float = 1e-13) -> np.ndarray:
    """Per group: is X of full column rank? (eigenvalues of X'X relative to the largest)."""
    if des.p == 1:
        return np.ones(des.seg.G, dtype=bool)
    XtX = des.xtdx(np.ones_like(des.y))
    scale = np.abs(XtX).max(axis=(1, 2), keepdims=True)
    ev = np.linalg.eigvalsh(XtX / np.where(scale > 0, scale, 1.0))
    return ev[:, 0] > tol * np.maximum(ev[:, -1], 0.0)


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
    stacked ``(y, v, X)`` rows of the given data sets in order. Data sets that metafor's
    ``rma.uni`` refuses (fewer than p studies, or p + 1 with tau^2, except an intercept-only
    k = 1; a rank-deficient X) come back as NaN. Under t/knha/adhoc tests an intercept-only
    k = 1 data set is fitted with the z test, as ``rma.uni`` switches to test = "z" when k = 1.
    Returns per-group arrays for the keys in ``_FIT_KEYS``.
    """
    G = sizes.size
    p = fit.p if p is None else p
    int_only = p == 1 and fit._mm.intercept
    shapes = {"beta": (p,), "se": (p,), "zval": (p,), "pval": (p,), "ci_lb": (p,),
              "ci_ub": (p,), "vb": (p, p)}
    out = {key: np.full((G, *shapes.get(key, ())), np.nan) for key in _FIT_KEYS}
    need = p if fit.method in FIXED_METHODS else p + 1
    ok = (sizes >= need) | (int_only & (sizes == 1))
    budget = max(CHUNK_ROWS // (p * p), 1000)
    for groups in _chunks(sizes, np.flatnonzero(ok), budget):
        y, v, X = build(groups)
        des = Design(y, v, X, Segments(sizes[groups]))
        good = _full_rank(des)
        if not good.all():
            des, groups = des.subset(good), groups[good]
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
            res = fit_batch(sub, fit.method, test, fit.level, fit._control, btt=btt,
                            intercept=fit._mm.intercept, compute_r2=False)
            for key in _FIT_KEYS:
                out[key][groups[mask]] = res[key]
    return out


def _leave_out_rows(k: int, groups: np.ndarray) -> np.ndarray:
    """Stacked study indices of the data sets 'all but study g' for g in ``groups``."""
    full = np.broadcast_to(np.arange(k), (groups.size, k))
    return full[full != groups[:, None]]


# --------------------------------------------------------------------------------------------
# result objects
# --------------------------------------------------------------------------------------------
class _FrameResult(ResultMixin):
    """A result whose main content is a table; its columns are also attributes."""

    frame: pd.DataFrame

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        frame = self.__dict__.get("frame")
        if frame is not None and name in frame.columns:
            return frame[name].to_numpy()
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __getitem__(self, key: str) -> pd.Series:
        return self.frame[key]

    def __len__(self) -> int:
        return len(self.frame)

    def to_frame(self) -> pd.DataFrame:
        """The table as a DataFrame (a copy)."""
        return self.frame.copy()

    @property
    def table(self) -> pd.DataFrame:
        return self.frame


class CaseTable(_FrameResult):
    """Leave-one-out or cumulative results: one row per omitted / added study."""

    _dict_fields = ("kind", "method", "test", "level", "table")

    def __init__(self, frame: pd.DataFrame, kind: str, method: str, test: str, level: float):
        self.frame = frame
        self.kind = kind
        self.method = method
        self.test = test
        self.level = level

    def summary_text(self) -> str:
        title = {"leave1out": "Leave-one-out analysis (row = study omitted)",
                 "cumul": "Cumulative meta-analysis (row = study added)"}[self.kind]
        stat = "zval" if self.test == "z" else "tval"
        show = self.frame.rename(columns={"zval": stat}).copy()
        show["pval"] = [fmt_p(p) for p in show["pval"]]
        show["Qp"] = [fmt_p(p) for p in show["Qp"]]
        return (f"{title}; {self.method}, test = {self.test}\n"
                + show.to_string(index=False, float_format=lambda x: f"{x:.4f}"))


class InfluenceResult(_FrameResult):
    """Case-deletion diagnostics of metafor's ``influence.rma.uni`` (one row per study).

    Columns (metafor's names): ``rstudent, dffits, cook.d, cov.r, tau2.del, QE.del, hat,
    weight`` (weight in percent), ``dfbs.<coefficient>`` and ``inf`` (``"*"`` when influential).
    Also attributes: ``cook_d``, ``cov_r``, ``tau2_del``, ``QE_del`` (arrays), ``dfbetas``
    (DataFrame, one column per coefficient) and ``is_infl`` (bool array).
    """

    _dict_fields = ("k", "p", "coef_names", "table", "tau2", "QE")
    _ALIASES = {"cook_d": "cook.d", "cov_r": "cov.r", "tau2_del": "tau2.del",
                "QE_del": "QE.del"}

    def __init__(self, frame: pd.DataFrame, dfbetas: pd.DataFrame, is_infl: np.ndarray,
                 k: int, p: int, coef_names: list[str], tau2: float, QE: float):
        self.frame = frame
        self.dfbetas = dfbetas
        self.is_infl = is_infl
        self.k, self.p, self.coef_names = k, p, coef_names
        self.tau2, self.QE = tau2, QE

    def __getattr__(self, name: str) -> Any:
        alias = type(self)._ALIASES.get(name)
        if alias is not None:
            return self.__dict__["frame"][alias].to_numpy()
        return super().__getattr__(name)

    def __getitem__(self, key: str) -> pd.Series:
        return self.frame[self._ALIASES.get(key, key)]

    @property
    def dfbs(self) -> pd.DataFrame:
        """metafor's name for :attr:`dfbetas`."""
        return self.dfbetas

    def summary_text(self) -> str:
        show = self.frame.copy()
        return ("Influence diagnostics (Viechtbauer & Cheung 2010; * = influential)\n"
                + show.to_string(index=False, float_format=lambda x: f"{x:.4f}"))


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
    """Permutation p-values of metafor's ``permutest.rma.uni`` (two-sided, test statistics)."""

    _dict_fields = ("coef_names", "beta", "se", "zval", "pval", "ci_lb", "ci_ub", "QM", "QMdf",
                    "QMp", "exact", "iter", "exact_iter", "test", "btt")

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
        return (f"Permutation test ({kind}, {self.iter} permutations; p-values from the "
                f"permutation distribution)\nTest of moderators (coefficients "
                f"{', '.join(str(b + 1) for b in self.btt)}): {stat}(df = {df}) = "
                f"{self.QM:.4f}, p-val* = {fmt_p(self.QMp)}\n"
                + table.to_string(float_format=lambda x: f"{x:.4f}"))


# --------------------------------------------------------------------------------------------
# helpers of the methods
# --------------------------------------------------------------------------------------------
def _labels(fit: MetaResult) -> list:
    return list(fit.slab) if fit.slab is not None else [str(i + 1) for i in range(fit.k)]


def _require_int_only(fit: MetaResult, name: str) -> None:
    if not (fit.p == 1 and fit._mm.intercept):
        raise InputError(f"{name}: only for models without moderators (as metafor); use "
                         "influence() for case-deletion diagnostics of a meta-regression")


def _case_frame(res: dict[str, np.ndarray], labels: list) -> pd.DataFrame:
    return pd.DataFrame({
        "slab": labels, "estimate": res["beta"][:, 0], "se": res["se"][:, 0],
        "zval": res["zval"][:, 0], "pval": res["pval"][:, 0], "ci_lb": res["ci_lb"][:, 0],
        "ci_ub": res["ci_ub"][:, 0], "Q": res["QE"], "Qp": res["QEp"], "tau2": res["tau2"],
        "I2": res["I2"], "H2": res["H2"]})


def _sort_order(order: Any, k: int, decreasing: bool) -> np.ndarray:
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


def _gosh_incl(k: int, p: int, subsets: int | None, rng: np.random.Generator
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


def _multiset_permutations(codes: np.ndarray) -> np.ndarray:
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


def _n_multiset_permutations(counts: np.ndarray) -> float:
    """k! / prod(c_j!) (inf when it overflows a float)."""
    k = int(counts.sum())
    try:
        return float(math.factorial(k) // math.prod(math.factorial(int(c)) for c in counts))
    except OverflowError:
        return math.inf


def _safe_inv(M: np.ndarray) -> np.ndarray:
    """Inverse of a covariance matrix; NaN when it is singular (e.g. a Knapp-Hartung scale
    factor of 0 makes vb = 0), so the statistics built on it are NaN rather than an error."""
    try:
        return np.linalg.inv(M)
    except np.linalg.LinAlgError:
        return np.full_like(M, np.nan)


def _whole_number(value: Any, name: str, minimum: int) -> int:
    """``value`` rounded to an int >= minimum (InputError otherwise)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = np.nan
    if not np.isfinite(x) or round(x) < minimum:
        raise InputError(f"{name} must be a whole number >= {minimum}; got {value!r}")
    return int(round(x))


def _deletion_fits(fit: MetaResult) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The model refitted without each study (one batch), with the deleted fits' prediction
    x_i' beta_(-i) for the left-out study and its variance x_i' vb_(-i) x_i."""
    k = fit.k
    X, y, v = fit._des.X, fit.yi, fit.vi

    def build(groups: np.ndarray):
        idx = _leave_out_rows(k, groups)
        return y[idx], v[idx], X[idx]

    d = fit_groups(fit, np.full(k, k - 1), build)
    delpred = np.einsum("ij,ij->i", X, d["beta"])
    vdelpred = np.einsum("ij,ijk,ik->i", X, d["vb"], X)
    return d, delpred, vdelpred


# --------------------------------------------------------------------------------------------
# the methods
# --------------------------------------------------------------------------------------------
class InfluenceMethods:
    """Methods of :class:`evsynth.models.meta.MetaResult` for influence and sensitivity."""

    def leave1out(self: MetaResult) -> CaseTable:
        """Leave-one-out analysis (metafor ``leave1out.rma.uni``): the model refitted without each
        study in turn, with the fit's method, test and level. One row per omitted study: slab,
        estimate, se, zval (t under t-based tests), pval, ci_lb, ci_ub, Q, Qp, tau2, I2, H2.
        Only for models without moderators, as metafor."""
        _require_int_only(self, "leave1out")
        if self.k == 1:
            raise InputError("leave1out: the model has k = 1 study; there is nothing to leave out")
        k, y, v = self.k, self.yi, self.vi

        def build(groups: np.ndarray):
            idx = _leave_out_rows(k, groups)
            return y[idx], v[idx], np.ones((idx.size, 1))

        res = fit_groups(self, np.full(k, k - 1), build)
        return CaseTable(_case_frame(res, _labels(self)), "leave1out", self.method, self.test,
                         self.level)

    def cumul(self: MetaResult, order: Any = None, decreasing: bool = False) -> CaseTable:
        """Cumulative meta-analysis (metafor ``cumul.rma.uni``): studies added one at a time.

        ``order``: one value per study to sort by (e.g. publication year, precision); studies
        with equal values keep their order (stable, as R's ``order()``). As in metafor >= 3.0 these
        are *values to sort by*, not positions: to add studies in a given sequence of row
        positions ``perm``, pass ``np.argsort(perm)``. Row i of the result is the model with the
        first i + 1 studies; ``slab`` names the study added.
        """
        _require_int_only(self, "cumul")
        k = self.k
        pos = np.arange(k) if order is None else _sort_order(order, k, decreasing)
        y, v = self.yi[pos], self.vi[pos]

        def build(groups: np.ndarray):
            tri = np.arange(k)[None, :] <= groups[:, None]
            idx = np.broadcast_to(np.arange(k), tri.shape)[tri]
            return y[idx], v[idx], np.ones((idx.size, 1))

        res = fit_groups(self, np.arange(1, k + 1), build)
        labels = _labels(self)
        return CaseTable(_case_frame(res, [labels[i] for i in pos]), "cumul", self.method,
                         self.test, self.level)

    def influence(self: MetaResult) -> InfluenceResult:
        """Case-deletion diagnostics (Viechtbauer & Cheung 2010; metafor ``influence.rma.uni``).

        For each study i the model is refitted without it (one batch). With x_i its row of X,
        ``hat`` the diagonal of X (X'WX)^-1 X'W, and (beta, vb, tau2, s2w)_(-i) the deleted fit:
        rstudent = (y_i - x_i'beta_(-i)) / sqrt(v_i s2w_(-i) + x_i' vb_(-i) x_i
        + tau2_(-i) s2w_(-i)); dffits = x_i'(beta - beta_(-i)) / sqrt(s2w_(-i) hat_i
        (tau2_(-i) + v_i)); cook.d = (beta - beta_(-i))' vb^-1 (beta - beta_(-i));
        cov.r = det vb_(-i) / det vb; dfbetas_j = (beta_j - beta_(-i)j) / sqrt(s2w_(-i)
        [(X'W_(-i)X)^-1]_jj) with W_(-i) = diag(1/(v + tau2_(-i))) over all k studies.
        A study is flagged influential (metafor's rules) when |dffits| > 3 sqrt(p/(k-p)),
        P(chi^2_p <= cook.d) > 0.5, hat > 3p/k, or any |dfbetas| > 1. Works for meta-regression.
        """
        if self.k == 1:
            raise InputError("influence: the model has k = 1 study; case deletion is undefined")
        k, p = self.k, self.p
        X, y, v = self._des.X, self.yi, self.vi
        d, delpred, vdelpred = _deletion_fits(self)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = 1.0 / (v + self.tau2)
            A = np.einsum("i,ij,ik->jk", w, X, X)
            hat = w * np.einsum("ij,jk,ik->i", X, np.linalg.inv(A), X)
            s2w, t2 = d["s2w"], d["tau2"]
            resid = y - delpred
            resid = np.where(np.abs(resid) < 100 * np.finfo(float).eps, 0.0, resid)
            rstudent = resid / np.sqrt(v * s2w + vdelpred + t2 * s2w)
            dffits = (X @ self.beta - delpred) / np.sqrt(s2w * hat * (t2 + v))
            dfb = self.beta[None, :] - d["beta"]
            cook = np.einsum("ij,jk,ik->i", dfb, _safe_inv(self.vb), dfb)
            cov_r = np.linalg.det(d["vb"]) / np.linalg.det(self.vb)
            Wdel = 1.0 / (v[None, :] + t2[:, None])  # (deleted fit i, study j)
            Adel = np.einsum("ij,jk,jl->ikl", Wdel, X, X)
            fine = np.isfinite(t2)
            diag = np.full((k, p), np.nan)
            if fine.any():
                diag[fine] = np.einsum("ijj->ij", np.linalg.inv(Adel[fine]))
            dfbs = dfb / np.sqrt(s2w[:, None] * diag)
            # a Knapp-Hartung scale factor of 0 (all deleted-fit residuals 0) leaves the scaled
            # statistics undefined: NaN, not the +-inf of a rounding-level difference over 0
            undefined = s2w == 0
            rstudent = np.where(undefined, np.nan, rstudent)
            dffits = np.where(undefined, np.nan, dffits)
            dfbs = np.where(undefined[:, None], np.nan, dfbs)
            crit_dffits = 3 * np.sqrt(p / (k - p)) if k > p else np.inf
            is_infl = ((np.abs(dffits) > crit_dffits) | (special.chdtr(p, cook) > 0.5)
                       | (hat > 3 * p / k) | np.any(np.abs(dfbs) > 1, axis=1))
        frame = pd.DataFrame({"slab": _labels(self), "rstudent": rstudent, "dffits": dffits,
                              "cook.d": cook, "cov.r": cov_r, "tau2.del": t2,
                              "QE.del": d["QE"], "hat": hat, "weight": self.weights})
        dfbetas = pd.DataFrame(dfbs, columns=list(self.coef_names))
        for j, name in enumerate(self.coef_names):
            frame[f"dfbs.{name}"] = dfbs[:, j]
        frame["inf"] = np.where(is_infl, "*", "")
        return InfluenceResult(frame, dfbetas, is_infl, k, p, list(self.coef_names), self.tau2,
                               self.QE)

    def baujat(self: MetaResult) -> pd.DataFrame:
        """Coordinates of the Baujat plot (Baujat et al. 2002, Stat Med 21:2641; metafor
        ``baujat.rma``): per study, ``x`` = its contribution to the (residual) heterogeneity,
        the squared Pearson residual (y_i - x_i'beta)^2 / (v_i + tau^2) (for an equal-effects
        intercept-only model its term of Cochran's Q), and ``y`` = its influence on the fitted
        value, (x_i'beta_(-i) - x_i'beta)^2 / (x_i' vb_(-i) x_i) from the fit without it."""
        if self.k == 1:
            raise InputError("baujat: the model has k = 1 study; case deletion is undefined")
        _, delpred, vdelpred = _deletion_fits(self)
        pred = self._des.X @ self.beta
        with np.errstate(divide="ignore", invalid="ignore"):
            yhat = (delpred - pred) ** 2 / vdelpred
        xhat = (self.yi - pred) ** 2 / (self.tau2 + self.vi)
        return pd.DataFrame({"slab": _labels(self), "x": xhat, "y": yhat})

    def gosh(self: MetaResult, subsets: int | None = None, seed: int | None = None
             ) -> GoshResult:
        """GOSH (graphical display of study heterogeneity; Olkin, Dahabreh & Trikalinos 2012):
        the model fitted to every subset of the studies with at least p of them (metafor
        ``gosh.rma``), or to ``subsets`` random subsets when there are more than that (default
        cut-off 10^6, as metafor; subset sizes ~ Binomial(k, 1/2) restricted to p..k).

        Returns per subset k, QE, I2, H2, tau2 and the estimate(s), plus the incidence matrix.
        For DL and equal-effects intercept-only models metafor uses closed forms in which
        H2 = QE/(k-1) even when tau2 = 0; that convention is kept so the numbers match.
        k > 30 needs an explicit ``subsets``.
        """
        if self.k == 1:
            raise InputError("gosh: the model has k = 1 study; there are no subsets to compare")
        if subsets is None and self.k > GOSH_MAX_K:
            raise InputError(f"gosh: k = {self.k} studies have 2^{self.k} - 1 subsets; give "
                             "subsets= (the number of random subsets to fit, e.g. 100000)")
        if subsets is not None:
            subsets = _whole_number(subsets, "gosh: subsets", 2)
        k, p = self.k, self.p
        rng = np.random.default_rng(seed)
        incl, exact = _gosh_incl(k, p, subsets, rng)
        X, y, v = self._des.X, self.yi, self.vi

        def build(groups: np.ndarray):
            idx = np.nonzero(incl[groups])[1]
            return y[idx], v[idx], X[idx]

        sizes = incl.sum(axis=1)
        res = fit_groups(self, sizes, build)
        H2 = res["H2"]
        if self.method == "DL" and p == 1 and self._mm.intercept:  # metafor's closed form
            with np.errstate(divide="ignore", invalid="ignore"):
                H2 = np.where(sizes > 1, res["QE"] / (sizes - 1), 1.0)
        frame = pd.DataFrame({"k": sizes, "QE": res["QE"], "I2": res["I2"], "H2": H2,
                              "tau2": res["tau2"]})
        names = ["estimate"] if p == 1 and self._mm.intercept else list(self.coef_names)
        for j, name in enumerate(names):
            frame[name] = res["beta"][:, j]
        fitted = np.isfinite(res["beta"]).all(axis=1)
        return GoshResult(frame, incl, fitted, exact, self.method, names,
                          list(self.slab) if self.slab is not None else None)

    def permutest(self: MetaResult, exact: bool | None = None, iter: int = 1000,
                  seed: int | None = None) -> PermutationTest:
        """Permutation tests (metafor ``permutest.rma.uni``; Follmann & Proschan 1999; Higgins &
        Thompson 2004).

        Intercept-only models: the signs of the effects are flipped (all 2^k sign patterns when
        exact); meta-regressions: the rows of the model matrix are permuted against the effects
        (all k!/prod(c_j!) distinct permutations when exact, c_j = counts of identical rows).
        The test is exact when that number is <= ``iter`` (or ``exact=True``), else ``iter``
        random permutations, the first being the observed data (as metafor; ``exact=False``
        therefore behaves as ``None``, as in metafor). ``seed`` seeds numpy's generator (the
        random draws cannot reproduce R's). Two-sided p-values
        of each coefficient: the share of permutations with |z| >= |z_obs| - sqrt(eps); of the
        omnibus test: QM >= QM_obs - sqrt(eps) (metafor's defaults). Permutations whose model
        cannot be fitted are left out (metafor redraws them in the random case).
        """
        iter_ = _whole_number(iter, "permutest: iter", 2)
        k, p = self.k, self.p
        int_only = p == 1 and self._mm.intercept
        X, y, v = self._des.X, self.yi, self.vi
        if int_only:
            n_exact = 2.0**k
        else:
            _, row_codes = np.unique(X, axis=0, return_inverse=True)
            row_codes = np.asarray(row_codes).ravel()
            n_exact = _n_multiset_permutations(np.bincount(row_codes))
        use_exact = bool(exact) or n_exact <= iter_
        if use_exact and n_exact > PERM_MAX_EXACT:
            raise InputError(f"permutest: an exact test needs {n_exact:.4g} permutations (more "
                             f"than {PERM_MAX_EXACT}); use exact=None with iter= permutations")
        rng = np.random.default_rng(seed)
        if int_only:
            if use_exact:
                codes = np.arange(2**k, dtype=np.int64)
                signs = np.where((codes[:, None] >> np.arange(k)) & 1, -1.0, 1.0)
            else:
                signs = rng.choice(np.array([-1.0, 1.0]), size=(iter_ - 1, k))

            def build(groups: np.ndarray):
                return ((signs[groups] * y[None, :]).ravel(), np.tile(v, groups.size),
                        np.ones((groups.size * k, 1)))

            n = signs.shape[0]
        else:
            if use_exact:
                _, first = np.unique(row_codes, return_index=True)
                perms = first[_multiset_permutations(row_codes)]  # rows of X to use
            else:
                perms = np.argsort(rng.random((iter_ - 1, k)), axis=1)

            def build(groups: np.ndarray):
                return (np.tile(y, groups.size), np.tile(v, groups.size),
                        X[perms[groups].ravel()])

            n = perms.shape[0]
        res = fit_groups(self, np.full(n, k), build, btt=self._btt)
        zp, bp, qp = res["zval"], res["beta"], res["QM"]
        if not use_exact:  # the observed data count as the first permutation (metafor)
            zp = np.vstack([self.zval[None, :], zp])
            bp = np.vstack([self.beta[None, :], bp])
            qp = np.concatenate([[self.QM], qp])
        with np.errstate(invalid="ignore"):
            okz = ~np.isnan(zp)
            pval = (np.sum((np.abs(zp) >= np.abs(self.zval)[None, :] - COMPTOL) & okz, axis=0)
                    / okz.sum(axis=0))
            okq = ~np.isnan(qp)
            QMp = float(np.sum((qp >= self.QM - COMPTOL) & okq) / okq.sum())
        pval = np.minimum(pval, 1.0)
        return PermutationTest(
            coef_names=list(self.coef_names), beta=self.beta.copy(), se=self.se.copy(),
            zval=self.zval.copy(), pval=pval, ci_lb=self.ci_lb.copy(), ci_ub=self.ci_ub.copy(),
            QM=self.QM, QMdf=list(self.QMdf), QMp=QMp, exact=use_exact, iter=int(zp.shape[0]),
            exact_iter=n_exact, test=self.test, btt=[int(b) for b in self._btt],
            zval_perm=zp, beta_perm=bp, QM_perm=qp)
