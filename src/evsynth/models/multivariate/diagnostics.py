"""Case diagnostics of :func:`evsynth.meta_mv` fits, as metafor 3.8 defines them for
``rma.mv`` (source of ``fitted.rma``, ``residuals.rma``, ``rstandard.rma.mv``,
``hatvalues.rma.mv``, ``cooks.distance.rma.mv``, ``dfbetas.rma.mv``, ``ranef.rma.mv``).

With ``M`` the marginal covariance, ``W = M^-1``, ``H = X (X'WX)^-1 X'W`` and
``P = W (I - H) = W - W X (X'WX)^-1 X'W``:

* fitted values ``X b``; residuals ``e = y - X b``;
* standardised residuals ``e_i / sqrt(M_ii - x_i' Var(b) x_i)`` (``Var(e) = (I-H) M (I-H)'``);
* hat values ``h_ii = x_i' (X'WX)^-1 (W X)_i'``;
* Cook's distances ``(b - b_(-i))' Var(b)^-1 (b - b_(-i))`` and DFBETAS
  ``(b - b_(-i)) / sqrt(diag Var(b_(-i)))`` with the model refitted (variance components
  re-estimated) without observation or cluster i (Viechtbauer & Cheung 2010, Res Synth Methods
  1:112, doi:10.1002/jrsm.11; Christensen, Pearson & Johnson 1992);
* random effects (BLUPs) ``D Z' W e`` with prediction variances ``D - D Z' P Z D``
  (Robinson 1991, Stat Sci 6:15, doi:10.1214/ss/1177011926), per level of each ``~ 1 | f``
  term and per observation for ``~ inner | outer`` terms (metafor's ``ranef.rma.mv``);
* BLUPs of the true effects ``X b + Z u = y - V W e`` with prediction variances
  ``C - C P C`` (``C = M - V``, the random-effects part of ``M``).

Everything is computed block by block (``_engine``), without a k x k matrix.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evsynth._lazy import LazyModule
from evsynth.errors import InputError
from evsynth.models.diagnostics import register
from evsynth.models.diagnostics.blup import BlupResult
from evsynth.models.diagnostics.residuals import (
    CaseResiduals,
    StudyValues,
    _case_table,
    _zero_small,
)
from evsynth.models.multivariate.result import MetaMVResult
from evsynth.models.results import ResultMixin
from evsynth.validation import level_percent

stats = LazyModule("scipy.stats")


def _slab(fit: MetaMVResult) -> list[Any]:
    return list(fit.slab) if fit.slab is not None else [str(i + 1) for i in range(fit.k)]


def _pieces(fit: MetaMVResult) -> tuple[list, list, list, list]:
    """Per size group: W, WX, residuals e and the random-effects part C of M."""
    eng, ev = fit._eng, fit._ev
    es, Cs = [], []
    for g in eng.groups:
        es.append(g.y - g.X @ fit.beta)
        Cs.append(eng.block_M(g, fit._vals, ev.G) - g.V)
    return ev.W, ev.WX, es, Cs


@register("fitted", MetaMVResult)
def fitted_mv(fit: MetaMVResult) -> StudyValues:
    import pandas as pd

    return StudyValues(pd.DataFrame({"slab": _slab(fit), "value": fit.model_matrix @ fit.beta}),
                       "fitted values", fit.model_name)


@register("residuals", MetaMVResult)
def residuals_mv(fit: MetaMVResult, type: str = "response") -> StudyValues:
    import pandas as pd

    t = str(type).lower()
    if t == "response":
        val = fit.yi - fit.model_matrix @ fit.beta
    elif t == "rstandard":
        val = rstandard_mv(fit).z
    elif t == "pearson":
        val = (fit.yi - fit.model_matrix @ fit.beta) / np.sqrt(fit.marginal_var().diagonal())
    else:
        raise InputError(f"argument 'type' is {type!r}; expected 'response', 'rstandard' or "
                         "'pearson' for meta_mv fits")
    val = _zero_small(val)
    return StudyValues(pd.DataFrame({"slab": _slab(fit), "value": val}), f"{t} residuals",
                       fit.model_name)


@register("rstandard", MetaMVResult)
def rstandard_mv(fit: MetaMVResult, type: str = "marginal") -> CaseResiduals:

    if str(type).lower() != "marginal":
        raise InputError("rstandard(): meta_mv fits have marginal standardised residuals only "
                         "(as metafor's rstandard.rma.mv without cluster)")
    X = fit.model_matrix
    e = fit.yi - X @ fit.beta
    e = _zero_small(e)
    var = fit.marginal_var().diagonal() - np.einsum("ij,jk,ik->i", X, fit.vb, X)
    se = np.sqrt(np.maximum(var, 0))
    return _case_table(_slab(fit), e, se, "marginal standardized", fit.model_name)


def _refit_on(fit: MetaMVResult, keep: np.ndarray) -> MetaMVResult | None:
    """The fit refitted to the rows ``keep``; None when it fails, does not converge (e.g. its
    likelihood keeps rising towards a singular marginal covariance: its estimates say nothing)
    or loses a coefficient (the deletion diagnostics are then NA for it, as metafor's when a
    refit fails)."""
    try:
        sub = fit.refit(keep)
    except (InputError, np.linalg.LinAlgError, ArithmeticError):
        return None
    return sub if sub.p == fit.p and sub.converged else None


def _same_shape(fit: MetaMVResult, sub: MetaMVResult) -> bool:
    """Whether the refit's variance components apply to the full data as they are: the same
    number of variances and correlations in every ``inner | outer`` term (a deletion that
    removes an inner level's last effect drops its variance and correlations from HCS, UN,
    DIAG, HAR fits; CS, ID, AR keep one variance and correlation)."""
    return all(len(a) == len(b) for a, b in zip(sub._vals.v + sub._vals.r,
                                                 fit._vals.v + fit._vals.r, strict=True))


@register("rstudent", MetaMVResult)
def rstudent_mv(fit: MetaMVResult, cluster: Any = None, reestimate: bool = True) -> Any:
    """Studentised deleted residuals (metafor ``rstudent.rma.mv``): ``y_i - x_i' b_(-i)``
    over ``sqrt(M_ii + x_i' Var(b_(-i)) x_i)`` with ``M`` at the variance components
    re-estimated without effect i. With ``cluster`` (or ``reestimate=False``): clusters
    deleted, with their multivariate X^2 (:mod:`evsynth.models.multivariate.influence`)."""
    if cluster is not None or reestimate is not True:
        from evsynth.models.multivariate.influence import rstudent_cluster

        return rstudent_cluster(fit, cluster, reestimate)

    eng = fit._eng
    X = fit.model_matrix
    resid = np.full(fit.k, np.nan)
    se = np.full(fit.k, np.nan)
    vdiag = eng.V.diagonal()
    for i in range(fit.k):
        keep = np.delete(np.arange(fit.k), i)
        sub = _refit_on(fit, keep)
        if sub is None:
            continue
        m_ii = vdiag[i]
        for j, t in enumerate(eng.sigma_terms):
            m_ii += sub.sigma2[j] * (1.0 if t.R is None else t.R[t.lev[i], t.lev[i]])
        if not _same_shape(fit, sub):  # an inner level's variance not estimated (metafor NA)
            continue
        for j, st_ in enumerate(eng.struct_terms):
            sub_levels = list(sub._eng.struct_terms[j].inner_levels)
            if st_.inner_levels[st_.inn[i]] in sub_levels:
                lev = sub_levels.index(st_.inner_levels[st_.inn[i]])
                m_ii += sub._ev.G[j][lev, lev]
            else:  # the effect's inner level left with it: one common variance (CS, ID, AR)
                m_ii += sub._vals.v[j][0]
        resid[i] = fit.yi[i] - X[i] @ sub.beta
        se[i] = np.sqrt(m_ii + X[i] @ sub.vb @ X[i])
    return _case_table(_slab(fit), _zero_small(resid), se, "studentized deleted",
                       fit.model_name)


def hatvalues_mv(fit: MetaMVResult) -> np.ndarray:
    """Diagonal of ``H = X (X'WX)^-1 X'W``."""
    eng = fit._eng
    out = np.empty(fit.k)
    for g, WX in zip(eng.groups, fit._ev.WX, strict=True):
        h = np.einsum("nsp,pq,nsq->ns", g.X, fit.vb, WX)
        out[g.idx.ravel()] = h.ravel()
    return out


def _clusters(fit: MetaMVResult, cluster: Any) -> tuple[np.ndarray, list[Any]]:
    import pandas as pd

    if cluster is None:
        return np.arange(fit.k), _slab(fit)
    vals = cluster
    if isinstance(cluster, str):
        frame = fit._data_frame()
        if cluster not in frame.columns:
            raise InputError(f"argument 'cluster': column {cluster!r} is not in the data of the "
                             "fit")
        vals = frame[cluster]
    vals = pd.Series(np.asarray(vals)).reset_index(drop=True)
    if len(vals) != fit.k:
        raise InputError(f"argument 'cluster' has {len(vals)} values but the fit has {fit.k} "
                         "effect sizes")
    codes, uniq = pd.factorize(vals, sort=True)
    return np.asarray(codes), list(uniq)


def _deletions(fit: MetaMVResult, cluster: Any) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """b_(-i) for every observation / cluster, and the diagonal of Var(b) of the FULL data at
    the variance components re-estimated without it (metafor's ``.dfbetas.rma.mv``)."""
    codes, labels = _clusters(fit, cluster)
    n = len(labels)
    B = np.full((n, fit.p), np.nan)
    VB = np.full((n, fit.p), np.nan)
    for c in range(n):
        keep = np.flatnonzero(codes != c)
        sub = _refit_on(fit, keep)
        if sub is None:
            continue
        if not _same_shape(fit, sub):  # variances of a vanished inner level: NA (as metafor)
            continue
        B[c] = sub.beta
        try:
            VB[c] = np.diag(fit._eng.evaluate(sub._vals, fit.method == "REML").vb)
        except ArithmeticError:
            continue
    return labels, B, VB


def cooks_distance_mv(fit: MetaMVResult, cluster: Any = None) -> Any:
    import pandas as pd

    labels, B, _ = _deletions(fit, cluster)
    btt = np.arange(fit.p)
    d = fit.beta[None, :] - B
    S = np.linalg.inv(fit.vb[np.ix_(btt, btt)])
    cook = np.einsum("ij,jk,ik->i", d[:, btt], S, d[:, btt])
    return pd.Series(cook, index=labels, name="cooks.distance")


def dfbetas_mv(fit: MetaMVResult, cluster: Any = None) -> Any:
    """DFBETAS: ``(b - b_(-i)) / sqrt(diag Var(b))`` with ``Var(b)`` from all the data at the
    variance components estimated without i (metafor 3.8 ``dfbetas.rma.mv``)."""
    import pandas as pd

    labels, B, VB = _deletions(fit, cluster)
    return pd.DataFrame((fit.beta[None, :] - B) / np.sqrt(VB), index=labels,
                        columns=fit.coef_names)


class RanefResult(ResultMixin):
    """Predicted random effects of a ``meta_mv`` fit, one table per random term (metafor's
    ``ranef.rma.mv``): ``tables[name]`` has ``level, intrcpt, se, pi_lb, pi_ub``."""

    _dict_fields = ("level", "tables")

    def __init__(self, tables: dict[str, Any], level: float) -> None:
        self.tables = tables
        self.level = level

    def __getitem__(self, key: str) -> Any:
        return self.tables[key]

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.concat([t.assign(term=name) for name, t in self.tables.items()],
                         ignore_index=True)

    def summary_text(self) -> str:
        parts = []
        for name, t in self.tables.items():
            parts.append(f"{name}:\n" + t.to_string(index=False,
                                                    float_format=lambda x: f"{x:.4f}"))
        return f"Random effects ({self.level:g}% prediction intervals)\n\n" + "\n\n".join(parts)


def _ranef_crit(fit: MetaMVResult, level: float, nlevels: int) -> float:
    lvl = level / 100
    if fit.test == "z":
        return float(stats.norm.ppf(1 - (1 - lvl) / 2))
    df = fit.k - fit.p if fit.dfs == "residual" else max(nlevels - fit.p, 1)
    return float(stats.t.ppf(1 - (1 - lvl) / 2, df))


@register("ranef", MetaMVResult)
def ranef_mv(fit: MetaMVResult, level: float | None = None, transf: Any = None) -> RanefResult:
    import pandas as pd

    if transf not in (None, False):
        raise InputError("ranef(): transf is not available for meta_mv fits")
    lv = fit.level if level is None else level_percent(level)
    eng = fit._eng
    W, WX, es, _ = _pieces(fit)
    vb = fit.vb
    We = [np.einsum("nij,nj->ni", w, e) for w, e in zip(W, es, strict=True)]
    tables: dict[str, Any] = {}
    for j, t in enumerate(eng.sigma_terms):
        L = t.nlevels
        s2 = fit.sigma2[j]
        zwe = np.zeros(L)
        zwx = np.zeros((L, fit.p))
        ZWZ = np.zeros((L, L)) if t.R is not None else np.zeros(L)
        for g, w, wx, we in zip(eng.groups, W, WX, We, strict=True):
            li = t.lev[g.idx]
            zwe += np.bincount(li.ravel(), weights=we.ravel(), minlength=L)
            for c in range(fit.p):
                zwx[:, c] += np.bincount(li.ravel(), weights=wx[:, :, c].ravel(), minlength=L)
            if t.R is None:
                same = li[:, :, None] == li[:, None, :]
                ZWZ += np.bincount(li.ravel(), weights=(w * same).sum(axis=2).ravel(),
                                   minlength=L)
            else:
                flat = (li[:, :, None] * L + li[:, None, :]).ravel()
                ZWZ += np.bincount(flat, weights=w.ravel(), minlength=L * L).reshape(L, L)
        if t.R is None:
            pred = s2 * zwe
            zpz = ZWZ - np.einsum("lp,pq,lq->l", zwx, vb, zwx)
            var = s2 - s2**2 * zpz
        else:
            D = s2 * t.R
            pred = D @ zwe
            ZPZ = ZWZ - zwx @ vb @ zwx.T
            var = np.diag(D) - np.einsum("la,ab,lb->l", D, ZPZ, D)
        pred = _zero_small(pred)
        se = np.sqrt(np.maximum(var, 0))
        crit = _ranef_crit(fit, lv, L)
        tables[t.name] = pd.DataFrame({"level": [str(x) for x in t.levels], "intrcpt": pred,
                                       "se": se, "pi_lb": pred - crit * se,
                                       "pi_ub": pred + crit * se})
    for j, st in enumerate(eng.struct_terms):
        pred_o = np.empty(fit.k)
        var_o = np.empty(fit.k)
        Gm = fit._ev.G[j]
        for g, w, wx, we in zip(eng.groups, W, WX, We, strict=True):
            ii = g.inn[j]
            Gb = Gm[ii[:, :, None], ii[:, None, :]] * g.same[j]
            pred = np.einsum("nij,nj->ni", Gb, we)
            GW = Gb @ w
            gwg = np.einsum("nij,nji->ni", GW, Gb)
            gwx = Gb @ wx
            var = np.diagonal(Gb, axis1=1, axis2=2) - gwg + np.einsum("nip,pq,niq->ni", gwx, vb,
                                                                      gwx)
            pred_o[g.idx.ravel()] = pred.ravel()
            var_o[g.idx.ravel()] = var.ravel()
        pred_o = _zero_small(pred_o)
        se = np.sqrt(np.maximum(var_o, 0))
        crit = _ranef_crit(fit, lv, len(st.outer_levels))
        names = [f"{st.inner_levels[a]} | {st.outer_levels[o]}" for a, o in zip(st.inn, st.out,
                                                                               strict=True)]
        tables[f"{st.inner_name} | {st.outer_name}"] = pd.DataFrame(
            {"level": names, "intrcpt": pred_o, "se": se, "pi_lb": pred_o - crit * se,
             "pi_ub": pred_o + crit * se})
    return RanefResult(tables, lv)


@register("blup", MetaMVResult)
def blup_mv(fit: MetaMVResult, level: float | None = None, transf: Any = None) -> BlupResult:
    """BLUPs of the true effects ``X b + Z u`` with prediction intervals."""
    import pandas as pd

    lv = fit.level if level is None else level_percent(level)
    eng = fit._eng
    W, WX, es, Cs = _pieces(fit)
    pred_o = np.empty(fit.k)
    var_o = np.empty(fit.k)
    for g, w, wx, e, C in zip(eng.groups, W, WX, es, Cs, strict=True):
        we = np.einsum("nij,nj->ni", w, e)
        pred = g.y - np.einsum("nij,nj->ni", g.V, we)
        CW = C @ w
        cwc = np.einsum("nij,nji->ni", CW, C)
        cwx = C @ wx
        var = np.diagonal(C, axis1=1, axis2=2) - cwc + np.einsum("nip,pq,niq->ni", cwx,
                                                                 fit.vb, cwx)
        pred_o[g.idx.ravel()] = pred.ravel()
        var_o[g.idx.ravel()] = var.ravel()
    se = np.sqrt(np.maximum(var_o, 0))
    lvl = lv / 100
    crit = (float(stats.norm.ppf(1 - (1 - lvl) / 2)) if fit.test == "z"
            else float(stats.t.ppf(1 - (1 - lvl) / 2, fit.k - fit.p)))
    lb, ub = pred_o - crit * se, pred_o + crit * se
    name = None
    if callable(transf):
        pred_o, lb, ub = transf(pred_o), transf(lb), transf(ub)
        se = np.full(fit.k, np.nan)
        name = getattr(transf, "__name__", "transf")
    frame = pd.DataFrame({"slab": _slab(fit), "pred": pred_o, "se": se, "pi_lb": lb,
                          "pi_ub": ub})
    return BlupResult(frame, "blup", lv, name)
