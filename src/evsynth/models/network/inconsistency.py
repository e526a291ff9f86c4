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
from scipy import special

from evsynth.errors import InputError
from evsynth.models.engine import chi2_upper
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
    from evsynth.models.network.fit import z_critical

    return z_critical(level)


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
        p = chi2_upper(Q, np.where(df > 0, df, 1.0))
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
            det = det.sort_values("Q", kind="stable")
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
    contrib[np.abs(contrib) < 1e-12 * max(1.0, Q_inc)] = 0.0  # rounding noise of exact fits
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


# ----------------------------------------------------------------------------------------------
# netsplit
# ----------------------------------------------------------------------------------------------
def _comparisons(fit: Any) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """All treatment pairs (i < j in treatment order), the reference treatment second (netmeta's
    ``baseline.reference``); labels ``"a:b"`` meaning a versus b."""
    n = len(fit.treatments)
    i, j = np.triu_indices(n, 1)
    ref = fit.treatments.index(fit.reference) if fit.reference in fit.treatments else -1
    swap = i == ref
    a, b = np.where(swap, j, i), np.where(swap, i, j)
    labels = [f"{fit.treatments[x]}:{fit.treatments[y]}" for x, y in zip(a, b, strict=True)]
    return a, b, labels


def _n_direct(fit: Any) -> np.ndarray:
    """Number of studies with each pair compared directly (n x n; netmeta's ``A.matrix``)."""
    p1, p2, s, _ = _positions(fit)
    n = len(fit.treatments)
    key = np.unique(np.stack([np.minimum(p1, p2), np.maximum(p1, p2), s]), axis=1)
    A = np.zeros((n, n))
    np.add.at(A, (key[0], key[1]), 1.0)
    return A + A.T


def _side_indirect(fit: Any, A: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Indirect estimates by SIDE: the network refitted without the studies that compare the
    pair directly (all comparisons of such multi-arm studies dropped), tau^2 re-estimated with
    the fit's method (netmeta's ``sidde``), through
    :func:`evsynth.models.network.fit.indirect_without` (no re-validation of the data)."""
    from evsynth.models.network.fit import indirect_without

    n = len(fit.treatments)
    p1, p2, s, _ = _positions(fit)
    lo, hi = np.minimum(p1, p2), np.maximum(p1, p2)
    out = {m: (np.full((n, n), np.nan), np.full((n, n), np.nan)) for m in _MODELS}
    for i, j in zip(*np.nonzero(np.triu(A > 0)), strict=True):
        studies = np.unique(s[(lo == i) & (hi == j)])
        ti, tj = fit.treatments[i], fit.treatments[j]
        got = indirect_without(fit, np.isin(s, studies), ti, tj)
        if got is None:
            continue
        for m in _MODELS:
            TE, se = out[m]
            TE[i, j], se[i, j] = got[m]
            TE[j, i] = -TE[i, j]
            se[j, i] = se[i, j]
    return out


@dataclass(repr=False)
class NetSplit(FrameResult):
    r"""Direct, indirect and network estimates of every comparison (netmeta ``netsplit``).

    ``frame`` has one row per comparison and model (``model`` "common" / "random") with
    ``comparison, treat1, treat2, k, prop`` (proportion of direct evidence), the network
    (``TE_nma, seTE_nma, lower_nma, upper_nma``), direct (``*_direct``) and indirect
    (``*_indirect``) estimates of treat1 versus treat2, and their difference direct - indirect
    (``diff, seTE_diff, lower_diff, upper_diff, zval, pval``). ``common`` and ``random`` are
    the two models' rows.
    """

    frame: pd.DataFrame
    method: str
    level: float
    sm: str
    method_info: dict[str, Any]
    show_common: bool = True
    show_random: bool = True
    _dict_fields = ("frame", "method", "level", "sm", "method_info")

    @property
    def common(self) -> pd.DataFrame:
        """The common-effects rows."""
        return self.frame[self.frame["model"] == "common"].reset_index(drop=True)

    @property
    def random(self) -> pd.DataFrame:
        """The random-effects rows."""
        return self.frame[self.frame["model"] == "random"].reset_index(drop=True)

    def summary_text(self) -> str:
        title = ("Separate indirect from direct evidence (SIDE) using back-calculation "
                 "method" if self.method == "back-calculation" else
                 "Separate indirect from direct design evidence (SIDDE)")
        lines = [title]
        for m, show in (("common", self.show_common), ("random", self.show_random)):
            if not show:
                continue
            f = getattr(self, m)
            f = f[np.isfinite(f["TE_direct"]) & np.isfinite(f["TE_indirect"])]
            t = pd.DataFrame({
                "comparison": f["comparison"], "k": f["k"].astype(int),
                "prop": [_fmt(x, 2) for x in f["prop"]],
                "nma": [_fmt(x) for x in f["TE_nma"]],
                "direct": [_fmt(x) for x in f["TE_direct"]],
                "indir.": [_fmt(x) for x in f["TE_indirect"]],
                "Diff": [_fmt(x) for x in f["diff"]],
                "z": [_fmt(x, 2) for x in f["zval"]],
                "p-value": [fmt_p(x) for x in f["pval"]]})
            lines += ["", f"{'Common' if m == 'common' else 'Random'} effects model: ", "",
                      _table(t) if len(t) else " (no comparison with direct and indirect "
                      "evidence)"]
        sm = self.sm or "TE"
        lines += ["", "Legend:",
                  " comparison - Treatment comparison",
                  " k          - Number of studies providing direct evidence",
                  " prop       - Direct evidence proportion",
                  f" nma        - Estimated treatment effect ({sm}) in network meta-analysis",
                  f" direct     - Estimated treatment effect ({sm}) derived from direct "
                  "evidence",
                  f" indir.     - Estimated treatment effect ({sm}) derived from indirect "
                  "evidence",
                  " Diff       - Difference between direct and indirect treatment estimates",
                  " z          - z-value of test for disagreement (direct versus indirect)",
                  " p-value    - p-value of test for disagreement (direct versus indirect)"]
        return "\n".join(lines)


def netsplit(fit: NetmetaResult, method: str = "back-calculation",
             tol_direct: float = 0.0005) -> NetSplit:
    r"""Split every network estimate into its direct and indirect evidence (netmeta
    ``netsplit``; Dias et al. 2010; König, Krahn & Binder 2013).

    *Back-calculation* (default; König et al. 2013): with the direct estimate
    :math:`\hat\theta_D` (inverse-variance pooling of the studies comparing the pair, with
    the network's tau^2 in the random-effects model), the network estimate
    :math:`\hat\theta_N` and the proportion of direct evidence
    :math:`p = \mathrm{se}_N^2 / \mathrm{se}_D^2`, the network estimate is the
    inverse-variance combination of direct and indirect evidence, so

    .. math::

        \hat\theta_I = \frac{\hat\theta_N - p\,\hat\theta_D}{1 - p}, \qquad
        \mathrm{se}_I = \frac{\mathrm{se}_N}{\sqrt{1 - p}}.

    *SIDE* (``method="SIDE"``; Dias et al. 2010, netmeta's ``"SIDDE"``): the indirect estimate
    is the network estimate of the pair after removing every study that compares it directly
    (a multi-arm study with all its comparisons), tau^2 re-estimated; NaN where the remaining
    network does not connect the pair. One refit per directly compared pair.

    The test of disagreement is :math:`z = (\hat\theta_D - \hat\theta_I) /
    \sqrt{\mathrm{se}_D^2 + \mathrm{se}_I^2}`. As in netmeta, the direct estimate is NaN when
    :math:`p <` ``tol_direct``, the indirect one when :math:`|p - 1| <` ``tol_direct`` (or
    :math:`p > 1`), and the indirect estimate of a pair without direct evidence is the
    network estimate.

    Parameters
    ----------
    fit : NetmetaResult
    method : {"back-calculation", "SIDE"}
        ``"SIDDE"`` is accepted for SIDE (netmeta's name).
    tol_direct : float
        Tolerance on the proportion of direct evidence (netmeta's ``tol.direct``).

    Returns
    -------
    NetSplit

    References
    ----------
    Dias S, Welton NJ, Caldwell DM, Ades AE (2010). Stat Med 29:932-944. doi:10.1002/sim.3767
    König J, Krahn U, Binder H (2013). Stat Med 32:5414-5429. doi:10.1002/sim.5941
    """
    method = choice(method, ("back-calculation", "SIDE"), "method",
                    {"SIDDE": "SIDE", "backcalculation": "back-calculation",
                     "back calculation": "back-calculation"})
    if isinstance(tol_direct, bool) or not isinstance(tol_direct, (int, float)) \
            or not (0 <= tol_direct < 1):
        raise InputError(f"argument 'tol_direct' is {tol_direct!r}; expected a number in "
                         "[0, 1)")
    n = len(fit.treatments)
    A = _n_direct(fit)
    a, b, labels = _comparisons(fit)
    z = _zcrit(fit.level)
    side = _side_indirect(fit, A) if method == "SIDE" else None
    frames = []
    for m in _MODELS:
        est = getattr(fit, m)
        TE = _matrix(est.TE, n)
        se = _matrix(est.seTE, n)
        TEd = _matrix(est.TE_direct, n)
        sed = _matrix(est.seTE_direct, n)
        with np.errstate(divide="ignore", invalid="ignore"):
            P = np.where(A > 0, se ** 2 / sed ** 2, 0.0)
            if side is None:
                Pi = np.where((np.abs(P - 1) < tol_direct) | (P > 1), np.nan, P)
                TEi = (TE - Pi * np.nan_to_num(TEd)) / (1 - Pi)
                sei = se / np.sqrt(1 - Pi)
            else:
                TEi, sei = side[m]
                TEi, sei = TEi.copy(), sei.copy()
        TEi = np.where(A == 0, TE, TEi)
        sei = np.where(A == 0, se, sei)
        direct_na = np.abs(P) < tol_direct
        TEd = np.where(direct_na, np.nan, TEd)
        sed = np.where(direct_na, np.nan, sed)
        d = TEd[a, b] - TEi[a, b]
        sd = np.sqrt(sed[a, b] ** 2 + sei[a, b] ** 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            zv = d / sd
        f = pd.DataFrame({
            "model": m, "comparison": labels,
            "treat1": [fit.treatments[x] for x in a], "treat2": [fit.treatments[x] for x in b],
            "k": A[a, b].astype(int), "prop": P[a, b],
            "TE_nma": TE[a, b], "seTE_nma": se[a, b],
            "lower_nma": TE[a, b] - z * se[a, b], "upper_nma": TE[a, b] + z * se[a, b],
            "TE_direct": TEd[a, b], "seTE_direct": sed[a, b],
            "lower_direct": TEd[a, b] - z * sed[a, b], "upper_direct": TEd[a, b] + z * sed[a, b],
            "TE_indirect": TEi[a, b], "seTE_indirect": sei[a, b],
            "lower_indirect": TEi[a, b] - z * sei[a, b],
            "upper_indirect": TEi[a, b] + z * sei[a, b],
            "diff": d, "seTE_diff": sd, "lower_diff": d - z * sd, "upper_diff": d + z * sd,
            "zval": zv, "pval": 2 * special.ndtr(-np.abs(zv))})
        frames.append(f)
    info = {"method": method, "tol_direct": float(tol_direct), "level": fit.level,
            "reference": fit.reference,
            "direct": "inverse-variance pooling of the direct comparisons (network tau^2 in "
                      "the random-effects model)",
            "tau2": "re-estimated in every refit" if method == "SIDE" else "the fit's"}
    return NetSplit(frame=pd.concat(frames, ignore_index=True), method=method,
                    level=fit.level, sm=fit.sm, method_info=info,
                    show_common=bool(getattr(fit, "show_common", True)),
                    show_random=bool(getattr(fit, "show_random", True)))


# ----------------------------------------------------------------------------------------------
# netheat
# ----------------------------------------------------------------------------------------------
@dataclass(repr=False)
class NetHeat(ResultMixin):
    r"""The matrices of Krahn et al.'s (2013) net heat plot.

    Rows and columns are the design rows (the basic comparisons of each design: ``"a:b"`` for
    a two-arm design, ``"a:b_design"`` for a multi-arm one) that the plot shows: designs whose
    detaching leaves their comparisons estimable.

    Attributes
    ----------
    hat : DataFrame
        The design-level hat matrix :math:`H = X (X'V^{-1}X)^+ X' V^{-1}`: the contribution of
        the direct estimate of column ``j`` to the network estimate of row ``i`` (netmeta draws
        grey squares of area proportional to ``|H|``).
    q_diff : DataFrame
        :math:`Q^{inc}_i - Q^{inc}_{i,(-j)}`: how much the inconsistency contribution of row
        ``i`` decreases when design ``j`` is detached (netmeta's ``diff``; the plot colours
        ``-q_diff``: red where detaching ``j`` reduces the inconsistency at ``i``).
    q_inc : Series
        Contribution of each design row to the between-designs Q.
    order : list[int]
        Row order from complete-linkage clustering of ``-q_diff`` (Manhattan distance of rows
        plus columns, as netmeta); leaf orientation may differ from R's ``hclust``.
    tau2 : float
        tau^2 used (0 for ``model="common"``; the full design-by-treatment interaction
        estimate ``tau2_within`` for ``"random"``, as netmeta).
    """

    hat: pd.DataFrame
    q_diff: pd.DataFrame
    q_inc: pd.Series
    order: list[int]
    model: str
    tau2: float
    method_info: dict[str, Any]
    _dict_fields = ("hat", "q_diff", "q_inc", "order", "model", "tau2", "method_info")

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["rows"] = list(self.hat.index)
        out["q_inc"] = dict(zip(self.q_inc.index.astype(str), out["q_inc"], strict=True))
        return out

    def to_frame(self) -> pd.DataFrame:
        """Long table: ``row, column, hat, q_diff``."""
        h = self.hat.stack(future_stack=True).rename("hat")
        q = self.q_diff.stack(future_stack=True).rename("q_diff")
        out = pd.concat([h, q], axis=1).reset_index()
        out.columns = ["row", "column", "hat", "q_diff"]
        return out

    def summary_text(self) -> str:
        labels = [self.q_diff.index[i] for i in self.order]
        lines = [f"Net heat plot matrices ({self.model} effects model, tau^2 = "
                 f"{self.tau2:.4f}): {len(labels)} design rows", "",
                 "Q-difference matrix (row's inconsistency contribution minus its "
                 "contribution after detaching the column's design):", ""]
        with pd.option_context("display.width", 200, "display.max_columns", 50):
            lines.append(self.q_diff.loc[labels, labels].round(2).to_string())
        return "\n".join(lines)


def netheat(fit: NetmetaResult, model: str = "common") -> NetHeat:
    r"""The matrices underlying the net heat plot (netmeta ``netheat``; Krahn, Binder & König
    2013).

    For each pair of design rows ``(i, j)``: the hat-matrix element :math:`H_{ij}` (how much
    the direct evidence of ``j`` contributes to the network estimate of ``i``) and the change
    of ``i``'s contribution :math:`r_i (V^{-1} r)_i` to the between-designs Q when design ``j``
    is detached, :math:`Q_i - Q_{i,(-j)}` (see :func:`decomp_design`).

    Parameters
    ----------
    fit : NetmetaResult
    model : {"common", "random"}
        ``"random"`` inflates every study covariance by the full design-by-treatment
        interaction tau^2 (``tau2_within`` of :func:`decomp_design`), as netmeta's
        ``netheat(random = TRUE)``.

    Returns
    -------
    NetHeat

    References
    ----------
    Krahn U, Binder H, König J (2013). BMC Med Res Methodol 13:35. doi:10.1186/1471-2288-13-35
    """
    mod = choice(model, _MODELS, "model", {"fixed": "common"})
    D = _designs(fit)
    if len(D.labels) <= 2:
        raise InputError(f"netheat: the net heat plot needs more than two designs; this "
                         f"network has {len(D.labels)}")
    tau2 = 0.0
    if mod == "random":
        tau2 = _tau2_within(D, _design_fit(D, 0.0))
    F = _design_fit(D, tau2)
    if int((D.size - 1).sum() - (D.n - 1)) == 0:
        raise InputError("netheat: the network has no loop of evidence between designs "
                         "(between-designs df = 0)")
    G = _gram(F)
    R, _ = _detach(F, G)
    labels = _row_labels(D, F)
    # hat matrix X M^+ X' V^-1 over design rows
    H = np.empty_like(G)
    for b, Wi in zip(F.blocks, F.Vinv, strict=True):
        H[:, b] = G[:, b] @ Wi
    inc = F.resid * F.Vinv_resid
    VR = F.vinv_apply(np.nan_to_num(R))
    typ = np.where(np.isnan(R), np.nan, np.nan_to_num(R) * VR)
    # columns per design row (netmeta repeats a multi-arm design's column per row)
    typ_rows = typ[:, F.rows_design]
    diff = inc[:, None] - typ_rows
    keep = ~np.all(np.isnan(diff), axis=0)
    idx = np.flatnonzero(keep)
    lab = [labels[i] for i in idx]
    diff_k = diff[np.ix_(idx, idx)]
    hat_k = H[np.ix_(idx, idx)]
    order = list(range(len(idx)))
    if len(idx) > 2:
        from scipy.cluster.hierarchy import leaves_list, linkage
        from scipy.spatial.distance import pdist

        t1 = np.nan_to_num(-diff_k)
        dist = pdist(t1, "cityblock") + pdist(t1.T, "cityblock")
        order = [int(i) for i in leaves_list(linkage(dist, "complete"))]
    return NetHeat(hat=pd.DataFrame(hat_k, index=lab, columns=lab),
                   q_diff=pd.DataFrame(diff_k, index=lab, columns=lab),
                   q_inc=pd.Series(inc[idx], index=lab), order=order, model=mod, tau2=tau2,
                   method_info={"model": mod, "tau2": tau2,
                                "tau2_source": "none" if mod == "common" else
                                "tau.within (full design-by-treatment interaction model)"})
