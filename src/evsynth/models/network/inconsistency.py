"""Inconsistency in a network meta-analysis: the design-based decomposition of Cochran's Q with
the design-by-treatment interaction test, the separation of indirect from direct evidence
(node-splitting by back-calculation or by SIDE refits) and the matrices of the net heat plot.

All functions take a fitted :class:`~evsynth.models.network.fit.NetmetaResult` and read it
through its public attributes (``data``, ``treatments``, ``designs``, ``reference``, ``common``
and ``random`` estimates, ``level``); they are what ``fit.decomp_design()``, ``fit.netsplit()``
and ``fit.netheat()`` call.

Conventions
-----------
A *design* is the set of treatments of a study (label: the treatments joined by ``:``). Within
a design the first treatment ``t0`` is the reference treatment of the fit when the design
contains it, else the design's first treatment in the order of ``fit.treatments``; the design
is represented by its *basic comparisons* ``t0`` versus each other treatment ``tj`` (one for a
two-arm design, ``a - 1`` for an ``a``-arm design), as in netmeta's ``nma_krahn``. Effects are
``t0 - tj`` (evsynth's and netmeta's ``TE[treat1, treat2]`` convention); netmeta's internal
design-level vectors (``residuals.inc.detach``) code the same comparisons the other way round,
``tj - t0`` -- quadratic forms (every Q) do not depend on it.

References
----------
Krahn U, Binder H, König J (2013). A graphical tool for locating inconsistency in network
meta-analyses. BMC Med Res Methodol 13:35. doi:10.1186/1471-2288-13-35
Higgins JPT, Jackson D, Barrett JK, Lu G, Ades AE, White IR (2012). Consistency and
inconsistency in network meta-analysis: concepts and models for multi-arm studies. Res Synth
Methods 3:98-110. doi:10.1002/jrsm.1044
Jackson D, White IR, Riley RD (2012). Quantifying the impact of between-study heterogeneity in
multivariate meta-analyses. Stat Med 31:3805-3820. doi:10.1002/sim.5453
Dias S, Welton NJ, Caldwell DM, Ades AE (2010). Checking consistency in mixed treatment
comparison meta-analysis. Stat Med 29:932-944. doi:10.1002/sim.3767
König J, Krahn U, Binder H (2013). Visualizing the flow of evidence in network meta-analysis
and characterizing mixed treatment comparisons. Stat Med 32:5414-5429. doi:10.1002/sim.5941
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from evsynth.errors import InputError
from evsynth.models.results import FrameResult, ResultMixin, fmt_p
from evsynth.validation import choice

if TYPE_CHECKING:  # pragma: no cover
    from evsynth.models.network.fit import NetmetaResult

__all__ = ["DesignDecomposition", "NetHeat", "NetSplit", "decomp_design", "netheat",
           "netsplit"]

_MODELS = ("common", "random")


# ----------------------------------------------------------------------------------------------
# shared helpers (also used by ranking.py and contribution.py)
# ----------------------------------------------------------------------------------------------
def _model(fit: Any, model: Any) -> str:
    """The model name checked (``"common"`` / ``"random"``) and available in the fit."""
    mod = choice(model, _MODELS, "model", {"fixed": "common", "fe": "common", "re": "random"})
    if getattr(fit, mod, None) is None:
        raise InputError(f"argument 'model' is {model!r}, but the fit has no {mod}-effects "
                         f"model (fit it with {mod}=True)")
    return mod


def _positions(fit: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Per pairwise row: treatment positions of treat1 and treat2, and the 0-based study index
    (order of first appearance in ``fit.data``); and the study labels in that order."""
    data = fit.data
    index = {t: i for i, t in enumerate(fit.treatments)}
    p1 = np.array([index[t] for t in data["treat1"].astype(str)], dtype=np.intp) \
        if not data.empty else np.zeros(0, dtype=np.intp)
    p2 = np.array([index[t] for t in data["treat2"].astype(str)], dtype=np.intp) \
        if not data.empty else np.zeros(0, dtype=np.intp)
    codes, studies = pd.factorize(data["studlab"].astype(str))
    return p1, p2, np.asarray(codes, dtype=np.intp), [str(s) for s in studies]


def _matrix(frame: Any, n: int) -> np.ndarray:
    """An n x n DataFrame (or array) as a float array."""
    arr = np.asarray(frame.to_numpy() if hasattr(frame, "to_numpy") else frame, dtype=float)
    if arr.shape != (n, n):  # pragma: no cover - defensive
        raise ValueError(f"expected an {n} x {n} matrix, got {arr.shape}")
    return arr


def _zcrit(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 200.0))


def _fmt(x: float, digits: int = 4) -> str:
    return "NA" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _table(frame: pd.DataFrame) -> str:
    """A DataFrame as right-aligned text without the index (as R prints data frames)."""
    cols = list(frame.columns)
    cells = [[str(c) for c in cols]] + [[str(v) for v in row] for row in frame.itertuples(
        index=False)]
    widths = [max(len(r[j]) for r in cells) for j in range(len(cols))]
    return "\n".join(" " + " ".join(r[j].rjust(widths[j]) for j in range(len(cols)))
                     for r in cells)


def _chi2_p(Q: np.ndarray, df: np.ndarray) -> np.ndarray:
    Q = np.asarray(Q, dtype=float)
    df = np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore"):
        p = stats.chi2.sf(Q, np.where(df > 0, df, 1.0))
    return np.where((df > 0) & np.isfinite(Q), p, np.nan)


# ----------------------------------------------------------------------------------------------
# study- and design-level representation (Krahn et al. 2013)
# ----------------------------------------------------------------------------------------------
@dataclass
class _Designs:
    """Studies and designs in basic-comparison form."""

    n: int
    treatments: list[str]
    labels: list[str]                     # design labels
    arms: list[np.ndarray]                # treatment positions per design, t0 first
    study_design: np.ndarray              # design index per study
    # two-arm studies
    two_design: np.ndarray
    two_y: np.ndarray
    two_v: np.ndarray
    # multi-arm studies: design index, basic effects, covariance (original seTE)
    multi_design: list[int] = field(default_factory=list)
    multi_y: list[np.ndarray] = field(default_factory=list)
    multi_V: list[np.ndarray] = field(default_factory=list)

    @property
    def size(self) -> np.ndarray:
        return np.array([len(a) for a in self.arms])


def _designs(fit: Any) -> _Designs:
    p1, p2, sidx, studies = _positions(fit)
    n = len(fit.treatments)
    order = {t: i for i, t in enumerate(fit.treatments)}
    ref = order.get(str(fit.reference), -1) if getattr(fit, "reference", None) else -1
    data = fit.data
    TE = data["TE"].to_numpy(dtype=float)
    v = data["seTE"].to_numpy(dtype=float) ** 2
    k = len(studies)
    # arms of each study
    arms_of: list[set[int]] = [set() for _ in range(k)]
    for a, b, s in zip(p1.tolist(), p2.tolist(), sidx.tolist(), strict=True):
        arms_of[s].update((a, b))
    design_key: dict[tuple[int, ...], int] = {}
    labels: list[str] = []
    arms: list[np.ndarray] = []
    study_design = np.empty(k, dtype=np.intp)
    for s in range(k):
        key = tuple(sorted(arms_of[s]))
        d = design_key.get(key)
        if d is None:
            d = design_key[key] = len(labels)
            labels.append(":".join(fit.treatments[t] for t in key))
            rest = [t for t in key if t != ref]
            arms.append(np.array(([ref] + rest) if ref in key else list(key), dtype=np.intp))
        study_design[s] = d
    narms = np.array([len(a) for a in arms_of])
    # two-arm studies: one row each (t0 - t1)
    two_rows = np.flatnonzero(narms[sidx] == 2)
    two_s = sidx[two_rows]
    two_d = study_design[two_s]
    t0 = np.array([arms[d][0] for d in two_d.tolist()], dtype=np.intp)
    sign = np.where(p1[two_rows] == t0, 1.0, -1.0)
    out = _Designs(n=n, treatments=list(fit.treatments), labels=labels, arms=arms,
                   study_design=study_design, two_design=two_d, two_y=sign * TE[two_rows],
                   two_v=v[two_rows])
    # multi-arm studies: basic comparisons t0 - tj with the covariance implied by the pairwise
    # variances, cov(t0 - ti, t0 - tj) = (v_0i + v_0j - v_ij) / 2
    multi = np.flatnonzero(narms > 2)
    if len(multi):
        rows_of = pd.Series(np.arange(len(sidx))).groupby(sidx).indices
        for s in multi.tolist():
            d = int(study_design[s])
            a = arms[d]
            pos = {t: i for i, t in enumerate(a.tolist())}
            na = len(a)
            Vp = np.full((na, na), np.nan)
            E = np.full((na, na), np.nan)
            for r in rows_of[s]:
                i, j = pos[int(p1[r])], pos[int(p2[r])]
                Vp[i, j] = Vp[j, i] = v[r]
                E[i, j], E[j, i] = TE[r], -TE[r]
            if np.isnan(Vp[np.triu_indices(na, 1)]).any():
                raise InputError(f"study {studies[s]!r} is a {na}-arm study without all its "
                                 f"{na * (na - 1) // 2} pairwise comparisons")
            y = E[0, 1:]
            V = 0.5 * (Vp[0, 1:, None] + Vp[0, None, 1:] - Vp[1:, 1:])
            np.fill_diagonal(V, Vp[0, 1:])
            out.multi_design.append(d)
            out.multi_y.append(y)
            out.multi_V.append(V)
    return out


def _v0(m: int) -> np.ndarray:
    """The structure of tau^2 on the basic comparisons of a study: 1 on the diagonal, 1/2 off
    it (a common tau^2 on every comparison; Higgins et al. 2012)."""
    return 0.5 * (np.eye(m) + 1.0)


@dataclass
class _DesignFit:
    """Design-level direct estimates and the network fitted to them at a given tau^2."""

    rows_design: np.ndarray          # design index per design row
    rows_t0: np.ndarray
    rows_tj: np.ndarray
    y: np.ndarray                    # design-level direct estimates (t0 - tj)
    blocks: list[np.ndarray]         # row indices per design
    Vd: list[np.ndarray]             # design covariance blocks
    Vinv: list[np.ndarray]
    Q_het: np.ndarray                # within-design Q per design
    df_het: np.ndarray
    n_studies: np.ndarray
    Mplus: np.ndarray                # pseudoinverse of the design-level Laplacian
    theta: np.ndarray
    resid: np.ndarray
    Vinv_resid: np.ndarray

    def vinv_apply(self, X: np.ndarray) -> np.ndarray:
        """V^-1 X (V block-diagonal by design) for a (rows x c) array."""
        out = np.empty_like(X)
        for b, Wi in zip(self.blocks, self.Vinv, strict=True):
            out[b] = Wi @ X[b]
        return out


def _design_fit(D: _Designs, tau2: float) -> _DesignFit:
    nd = len(D.labels)
    size = D.size
    n_studies = np.bincount(D.study_design, minlength=nd)
    # pooled direct estimate per design (inverse-variance / GLS over its studies)
    W_sum = [np.zeros((m - 1, m - 1)) for m in size]
    Wy_sum = [np.zeros(m - 1) for m in size]
    w2 = 1.0 / (D.two_v + tau2)
    sw = np.bincount(D.two_design, w2, minlength=nd)
    swy = np.bincount(D.two_design, w2 * D.two_y, minlength=nd)
    for d in np.unique(D.two_design).tolist():
        W_sum[d][0, 0] += sw[d]
        Wy_sum[d][0] += swy[d]
    multi_inv = []
    for d, y, V in zip(D.multi_design, D.multi_y, D.multi_V, strict=True):
        Wi = np.linalg.inv(V + tau2 * _v0(len(y)))
        multi_inv.append(Wi)
        W_sum[d] += Wi
        Wy_sum[d] += Wi @ y
    Vd = [np.linalg.inv(W) for W in W_sum]
    ybar = [Vd[d] @ Wy_sum[d] for d in range(nd)]
    # within-design Q
    Q_het = np.zeros(nd)
    ybar2 = np.array([ybar[d][0] for d in D.two_design.tolist()]) if len(D.two_design) \
        else np.zeros(0)
    Q_het += np.bincount(D.two_design, w2 * (D.two_y - ybar2) ** 2, minlength=nd)
    for d, y, Wi in zip(D.multi_design, D.multi_y, multi_inv, strict=True):
        r = y - ybar[d]
        Q_het[d] += float(r @ Wi @ r)
    df_het = (n_studies - 1) * (size - 1)
    # design rows
    starts = np.concatenate([[0], np.cumsum(size - 1)])
    blocks = [np.arange(starts[d], starts[d + 1]) for d in range(nd)]
    rows_design = np.repeat(np.arange(nd), size - 1)
    rows_t0 = np.concatenate([np.repeat(a[0], len(a) - 1) for a in D.arms])
    rows_tj = np.concatenate([a[1:] for a in D.arms])
    y_all = np.concatenate(ybar)
    Vinv = [np.linalg.inv(V) for V in Vd]
    # design-level Laplacian M = X' V^-1 X and X' V^-1 y
    n = D.n
    M = np.zeros((n, n))
    rhs = np.zeros(n)
    for d in range(nd):
        a = D.arms[d]
        Wi = Vinv[d]
        wy = Wi @ ybar[d]
        # X_d rows e_t0 - e_tj: X' W X in the arm coordinates
        tot = Wi.sum()
        colsum = Wi.sum(axis=0)
        sub = np.empty((len(a), len(a)))
        sub[0, 0] = tot
        sub[0, 1:] = -colsum
        sub[1:, 0] = -colsum
        sub[1:, 1:] = Wi
        M[np.ix_(a, a)] += sub
        rhs[a[0]] += wy.sum()
        rhs[a[1:]] -= wy
    J = np.full((n, n), 1.0 / n)
    Mplus = np.linalg.inv(M + J) - J
    theta = Mplus @ rhs
    fitted = theta[rows_t0] - theta[rows_tj]
    resid = y_all - fitted
    Vinv_resid = np.concatenate([Vinv[d] @ resid[blocks[d]] for d in range(nd)])
    return _DesignFit(rows_design=rows_design, rows_t0=rows_t0, rows_tj=rows_tj, y=y_all,
                      blocks=blocks, Vd=Vd, Vinv=Vinv, Q_het=Q_het, df_het=df_het,
                      n_studies=n_studies, Mplus=Mplus, theta=theta, resid=resid,
                      Vinv_resid=Vinv_resid)


def _gram(F: _DesignFit) -> np.ndarray:
    """G = X M^+ X' over the design rows (covariance of the fitted design-row values)."""
    P = F.Mplus
    a, b = F.rows_t0, F.rows_tj
    return P[np.ix_(a, a)] - P[np.ix_(a, b)] - P[np.ix_(b, a)] + P[np.ix_(b, b)]


def _detach(F: _DesignFit, G: np.ndarray, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Residuals (design rows x designs) after detaching each design (its own parameters),
    NaN columns where the rest of the network cannot estimate the design's comparisons; and
    the between-designs Q of each detached model.

    Case deletion in GLS: theta_(-d) = theta - M^+ X_d' S_d^-1 r_d with S_d = V_d - X_d M^+
    X_d' (the covariance of the design's residuals), so the residuals of all design rows are
    r + G[:, d] S_d^-1 r_d."""
    nd = len(F.blocks)
    R = np.empty((len(F.y), nd))
    for d, b in enumerate(F.blocks):
        S = F.Vd[d] - G[np.ix_(b, b)]
        # singular when the design is the only evidence on one of its comparisons
        scale = np.sqrt(np.outer(np.diag(F.Vd[d]), np.diag(F.Vd[d])))
        ev = np.linalg.eigvalsh(S / scale)
        if ev.min() <= tol:
            R[:, d] = np.nan
            continue
        coef = np.linalg.solve(S, F.resid[b])
        R[:, d] = F.resid + G[:, b] @ coef
        R[b, d] = 0.0
    VR = F.vinv_apply(np.nan_to_num(R))
    Q = np.where(np.isnan(R).any(axis=0), np.nan, np.einsum("ij,ij->j", np.nan_to_num(R), VR))
    return R, Q


def _tau2_within(D: _Designs, F0: _DesignFit) -> float:
    """Method-of-moments tau^2 of the full design-by-treatment interaction model (netmeta's
    ``tau.within``; Jackson, White & Riley 2012): ``max(0, (Q_w - df_w) / (tr(W V0) - tr(C X'
    W V0 W X)))`` with Q_w the within-design Q, W the inverse study covariances, V0 the tau^2
    structure and C = (X' W X)^-1 per design."""
    nd = len(D.labels)
    w = 1.0 / D.two_v
    trace1 = float(w.sum())
    sw = np.bincount(D.two_design, w, minlength=nd)
    sw2 = np.bincount(D.two_design, w * w, minlength=nd)
    acc = [np.zeros((m - 1, m - 1)) for m in D.size]
    for d in np.unique(D.two_design).tolist():
        acc[d][0, 0] += sw2[d]
    Wsum = [np.zeros((m - 1, m - 1)) for m in D.size]
    for d in np.unique(D.two_design).tolist():
        Wsum[d][0, 0] += sw[d]
    for d, V in zip(D.multi_design, D.multi_V, strict=True):
        Wi = np.linalg.inv(V)
        V0 = _v0(len(V))
        trace1 += float(np.trace(Wi @ V0))
        acc[d] += Wi @ V0 @ Wi
        Wsum[d] += Wi
    trace2 = float(sum(np.trace(np.linalg.solve(Wsum[d], acc[d])) for d in range(nd)))
    Q = float(F0.Q_het.sum())
    df = float(F0.df_het.sum())
    if trace1 == trace2:
        return 0.0
    return max(0.0, (Q - df) / (trace1 - trace2))


# ----------------------------------------------------------------------------------------------
# decomp_design
# ----------------------------------------------------------------------------------------------
@dataclass(repr=False)
class DesignDecomposition(ResultMixin):
    """Design-based decomposition of Cochran's Q (netmeta ``decomp.design``).

    Attributes
    ----------
    q_decomp : DataFrame
        Index ``Total``, ``Within designs``, ``Between designs``; columns ``Q``, ``df``,
        ``pval`` (common-effects model).
    q_het_design : DataFrame
        Within-design Q per design: ``design, Q, df, pval`` (df = (k_d - 1)(a_d - 1)).
    q_inc_detach : DataFrame
        Between-designs Q after detaching each design: ``design, Q, df, pval``; designs whose
        comparisons the rest of the network cannot estimate are left out (as in netmeta).
    q_inc_design : Series
        Each design's contribution to the between-designs Q.
    q_inc_random : DataFrame
        One row: the between-designs Q under the full design-by-treatment interaction
        random-effects model, ``Q, df, pval, tau_within, tau2_within``.
    residuals_detach : DataFrame
        Design rows x detached designs: direct minus network estimate of each design row's
        basic comparison after detaching the column's design (0 on the detached design's own
        rows; NaN columns as above).
    """

    q_decomp: pd.DataFrame
    q_het_design: pd.DataFrame
    q_inc_detach: pd.DataFrame
    q_inc_design: pd.Series
    q_inc_random: pd.DataFrame
    residuals_detach: pd.DataFrame
    method_info: dict[str, Any]
    _dict_fields = ("q_decomp", "q_het_design", "q_inc_detach", "q_inc_design",
                    "q_inc_random", "residuals_detach", "method_info")

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["q_decomp"] = {"term": list(self.q_decomp.index),
                           **out["q_decomp"]}
        out["q_inc_design"] = dict(zip(self.q_inc_design.index.astype(str),
                                       out["q_inc_design"], strict=True))
        out["residuals_detach"] = {"row": list(self.residuals_detach.index),
                                   **out["residuals_detach"]}
        return out

    def to_frame(self) -> pd.DataFrame:
        """The Q statistics: total, within designs, between designs (common effects) and
        between designs under the design-by-treatment interaction random-effects model."""
        f = self.q_decomp.reset_index(names="term")
        r = self.q_inc_random.iloc[0]
        extra = pd.DataFrame({"term": ["Between designs (random, tau.within)"],
                              "Q": [r["Q"]], "df": [r["df"]], "pval": [r["pval"]]})
        return pd.concat([f, extra], ignore_index=True)

    def summary_text(self) -> str:
        def qtab(frame: pd.DataFrame, first: str) -> pd.DataFrame:
            return pd.DataFrame({first: frame.index if first == "" else frame[first],
                                 "Q": [_fmt(q, 2) for q in frame["Q"]],
                                 "df": [str(int(d)) if np.isfinite(d) else "NA"
                                        for d in frame["df"]],
                                 "p-value": [fmt_p(p) for p in frame["pval"]]})

        dec = self.q_decomp
        lines = ["Q statistics to assess homogeneity / consistency", ""]
        t = pd.DataFrame({"": list(dec.index), "Q": [_fmt(q, 2) for q in dec["Q"]],
                          "df": [str(int(d)) for d in dec["df"]],
                          "p-value": [fmt_p(p) for p in dec["pval"]]})
        lines += [_table(t), ""]
        het = self.q_het_design[self.q_het_design["df"] > 0]
        if len(het):
            lines += ["Design-specific decomposition of within-designs Q statistic", "",
                      _table(qtab(het, "design")), ""]
        if len(self.q_inc_detach):
            p_inc = dec.loc["Between designs", "pval"]
            lines += ["Between-designs Q statistic after detaching of single designs",
                      f"(influential designs have p-value markedly different from "
                      f"{fmt_p(p_inc)})", ""]
            det = self.q_inc_detach.rename(columns={"design": "Detached design"})
            lines += [_table(qtab(det, "Detached design")), ""]
        r = self.q_inc_random.iloc[0]
        lines += ["Q statistic to assess consistency under the assumption of",
                  "a full design-by-treatment interaction random effects model", ""]
        t = pd.DataFrame({"": ["Between designs"], "Q": [_fmt(r["Q"], 2)],
                          "df": [str(int(r["df"]))], "p-value": [fmt_p(r["pval"])],
                          "tau.within": [_fmt(r["tau_within"])],
                          "tau2.within": [_fmt(r["tau2_within"])]})
        lines.append(_table(t))
        return "\n".join(lines)


def _row_labels(D: _Designs, F: _DesignFit) -> list[str]:
    out = []
    for d, a, b in zip(F.rows_design.tolist(), F.rows_t0.tolist(), F.rows_tj.tolist(),
                       strict=True):
        comp = f"{D.treatments[a]}:{D.treatments[b]}"
        out.append(comp if D.size[d] == 2 else f"{comp}_{D.labels[d]}")
    return out


def decomp_design(fit: NetmetaResult) -> DesignDecomposition:
    r"""Design-based decomposition of Cochran's Q (netmeta ``decomp.design``; Krahn, Binder &
    König 2013; Higgins et al. 2012).

    With the studies of each design ``d`` pooled into design-level direct estimates
    :math:`\hat y_d` (GLS over the basic comparisons, the multi-arm covariance implied by the
    pairwise variances),

    .. math::

        Q_{total} = \underbrace{\sum_d \sum_{s \in d} (y_s - \hat y_d)' V_s^{-1}
        (y_s - \hat y_d)}_{Q_{within}} + \underbrace{\sum_d (\hat y_d - X_d \hat\theta)'
        V_d^{-1} (\hat y_d - X_d \hat\theta)}_{Q_{between}}

    with df :math:`\sum_d (k_d - 1)(a_d - 1)` within and :math:`\sum_d (a_d - 1) - (n - 1)`
    between designs (:math:`Q_{total}` is the fit's common-effects Q). The between-designs Q is
    recomputed after *detaching* each design (giving it its own parameters) to locate the
    inconsistency. The design-by-treatment interaction test (Higgins et al. 2012) is the
    between-designs Q with every study covariance inflated by :math:`\tau^2_w V_0`
    (:math:`V_0` = 1 on the diagonal, 1/2 off it), :math:`\tau^2_w` the method-of-moments
    estimate of the full interaction model (netmeta's ``tau.within``; Jackson, White & Riley
    2012): :math:`\max\{0, (Q_{within} - df_{within}) / (\mathrm{tr}(W V_0) -
    \mathrm{tr}(C X' W V_0 W X))\}`.

    Parameters
    ----------
    fit : NetmetaResult
        A network meta-analysis (``evsynth.netmeta``).

    Returns
    -------
    DesignDecomposition

    References
    ----------
    Krahn U, Binder H, König J (2013). BMC Med Res Methodol 13:35. doi:10.1186/1471-2288-13-35
    Higgins JPT et al. (2012). Res Synth Methods 3:98-110. doi:10.1002/jrsm.1044
    Jackson D, White IR, Riley RD (2012). Stat Med 31:3805-3820. doi:10.1002/sim.5453
    """
    D = _designs(fit)
    if D.n < 3:
        raise InputError("decomp_design: no decomposition is possible for a network of two "
                         "treatments (as in netmeta)")
    F = _design_fit(D, 0.0)
    G = _gram(F)
    R, Q_det = _detach(F, G)
    nd = len(D.labels)
    Q_het = float(F.Q_het.sum())
    df_het = int(F.df_het.sum())
    Q_inc = float(F.resid @ F.Vinv_resid)
    df_inc = int((D.size - 1).sum() - (D.n - 1))
    Q_tot, df_tot = Q_het + Q_inc, df_het + df_inc
    dec = pd.DataFrame({"Q": [Q_tot, Q_het, Q_inc], "df": [df_tot, df_het, df_inc]},
                       index=["Total", "Within designs", "Between designs"])
    dec["pval"] = _chi2_p(dec["Q"].to_numpy(), dec["df"].to_numpy())
    het = pd.DataFrame({"design": D.labels, "Q": F.Q_het, "df": F.df_het,
                        "pval": _chi2_p(F.Q_het, F.df_het)})
    df_det = df_inc - (D.size - 1)
    det = pd.DataFrame({"design": D.labels, "Q": Q_det, "df": df_det,
                        "pval": _chi2_p(Q_det, df_det)})
    det = det[np.isfinite(det["Q"])].reset_index(drop=True)
    contrib = F.resid * F.Vinv_resid
    q_design = pd.Series(np.bincount(F.rows_design, contrib, minlength=nd), index=D.labels)
    # design-by-treatment interaction random-effects model
    tau2w = _tau2_within(D, F)
    Fr = _design_fit(D, tau2w)
    Q_r = float(Fr.resid @ Fr.Vinv_resid)
    rnd = pd.DataFrame({"Q": [Q_r], "df": [df_inc], "pval": _chi2_p(np.array([Q_r]),
                                                                       np.array([df_inc])),
                        "tau_within": [np.sqrt(tau2w)], "tau2_within": [tau2w]},
                       index=["Between designs"])
    res = pd.DataFrame(R, index=_row_labels(D, F), columns=D.labels)
    info = {"n_designs": nd, "reference": str(fit.reference),
            "tau2_within": tau2w, "basic_comparisons": "t0 - tj, t0 the design's first "
            "treatment (the reference treatment when in the design)"}
    return DesignDecomposition(q_decomp=dec, q_het_design=het, q_inc_detach=det,
                               q_inc_design=q_design, q_inc_random=rnd, residuals_detach=res,
                               method_info=info)
