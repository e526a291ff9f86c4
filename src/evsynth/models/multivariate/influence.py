"""Cluster-level studentised deleted residuals of :func:`evsynth.meta_mv` fits (metafor 3.8
``rstudent.rma.mv(model, cluster=, reestimate=)``).

metafor 3.8 defines ``rstudent``, ``cooks.distance``, ``dfbetas`` and ``hatvalues`` for
``rma.mv`` objects but no ``influence.rma.mv`` (``methods(class = "rma.mv")``), so evsynth has
no ``influence()`` for meta_mv fits either; Cook's distances and DFBETAS per cluster are
:meth:`MetaMVResult.cooks_distance` / :meth:`MetaMVResult.dfbetas`.

For each cluster ``j`` (rows ``I_j``) the model is refitted without it (variance components
re-estimated, or held at the full-data values with ``reestimate=False``), giving ``b_(-j)``,
``Var(b_(-j))`` and the variance components ``theta_(-j)``. With ``M(theta_(-j))`` the marginal
covariance of the full data at those components (Viechtbauer & Cheung 2010; metafor's
``.rstudent.rma.mv``)::

    e_(-j)  = y_Ij - X_Ij b_(-j)                             deleted residuals
    S_j     = M(theta_(-j))[I_j, I_j] + X_Ij Var(b_(-j)) X_Ij'
    z_i     = e_(-j),i / sqrt(S_j,ii)                        per observation
    X^2_j   = e_(-j)' S_j^-1 e_(-j)                          per cluster (k_j df)

``X^2_j`` is the multivariate standardised deleted residual of the cluster: approximately
chi-square with ``k_j`` degrees of freedom when the cluster fits the model (metafor reports
``X2`` and ``k``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evsynth.errors import InputError
from evsynth.models.diagnostics.residuals import CaseResiduals, _zero_small
from evsynth.models.multivariate.result import MetaMVResult
from evsynth.models.results import ResultMixin
from evsynth.validation import flag


class ClusterRStudent(ResultMixin):
    """Studentised deleted residuals with clusters deleted (metafor's ``rstudent.rma.mv`` with
    ``cluster``): ``obs`` has one row per effect size (``slab, cluster, resid, se, z``), the
    ``cluster`` table one row per cluster (``slab, X2, k``; clusters sorted as metafor sorts
    them). ``to_frame()`` is the cluster table."""

    _dict_fields = ("reestimate", "obs", "cluster")

    def __init__(self, obs: Any, cluster: Any, reestimate: bool, model: str) -> None:
        self.obs = obs
        self.cluster = cluster
        self.reestimate = reestimate
        self.model = model

    @property
    def X2(self) -> np.ndarray:
        """The multivariate standardised deleted residual of each cluster."""
        return np.asarray(self.cluster["X2"], dtype=float)

    def to_frame(self) -> Any:
        """The cluster table (``slab, X2, k``)."""
        return self.cluster.copy()

    def summary_text(self) -> str:
        fmt = {"float_format": lambda x: f"{x:.4f}"}
        how = "re-estimated" if self.reestimate else "held at the full-data values"
        return (f"Studentized deleted residuals, clusters deleted ({self.model}; variance "
                f"components {how})\n\nObservations:\n"
                + self.obs.set_index("slab").to_string(**fmt)
                + "\n\nClusters:\n" + self.cluster.set_index("slab").to_string(**fmt))


def _fixed_at_fit(fit: MetaMVResult) -> dict[str, Any]:
    """The full-data variance components, to hold them fixed in a refit."""
    out: dict[str, Any] = {}
    for name in ("sigma2", "tau2", "rho", "gamma2", "phi"):
        val = np.asarray(getattr(fit, name), dtype=float)
        if val.size:
            out[name] = val.tolist()
    return out


def _marginal_full(fit: MetaMVResult, sub: MetaMVResult) -> Any:
    """``M`` of the full data at the variance components of ``sub`` (sparse)."""
    eng = fit._eng
    vals = sub._vals
    G = [st.G(vals.v[j], vals.r[j]) for j, st in enumerate(eng.struct_terms)]
    return eng.scatter([eng.block_M(g, vals, G) for g in eng.groups])


def rstudent_cluster(fit: MetaMVResult, cluster: Any = None,
                     reestimate: bool = True) -> CaseResiduals | ClusterRStudent:
    """Studentised deleted residuals of a ``meta_mv`` fit, deleting each level of ``cluster``
    (each effect size when ``cluster`` is None) in turn.

    Parameters
    ----------
    fit : MetaMVResult
        The fit.
    cluster : array_like or str, optional
        One value per effect size, or a column of the fit's ``data``.
    reestimate : bool, default True
        Re-estimate the variance components without each cluster (metafor's default); False
        holds them at the full-data values.

    Returns
    -------
    CaseResiduals or ClusterRStudent
        Without ``cluster``: one row per effect size (``slab, resid, se, z``); with it, also
        the cluster table with ``X2`` and ``k``.

    References
    ----------
    .. [1] Viechtbauer W, Cheung MW-L (2010). Outlier and influence diagnostics for
           meta-analysis. Res Synth Methods 1:112-125. doi:10.1002/jrsm.11
    .. [2] Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package.
           J Stat Softw 36(3):1-48. doi:10.18637/jss.v036.i03
    """
    import pandas as pd

    from evsynth.models.multivariate.diagnostics import _clusters, _slab

    reestimate = flag("reestimate", reestimate)
    codes, labels = _clusters(fit, cluster)
    X, y = fit.model_matrix, fit.yi
    n = len(labels)
    resid = np.full(fit.k, np.nan)
    se = np.full(fit.k, np.nan)
    X2 = np.full(n, np.nan)
    kk = np.bincount(codes, minlength=n).astype(float)
    fixed = {} if reestimate else _fixed_at_fit(fit)
    for c in range(n):
        incl = np.flatnonzero(codes == c)
        keep = np.flatnonzero(codes != c)
        try:
            sub = fit.refit(keep, **fixed)
        except (InputError, np.linalg.LinAlgError, ArithmeticError):
            kk[c] = np.nan
            continue
        if sub.p != fit.p or not np.all(np.isfinite(sub.beta)):
            kk[c] = np.nan
            continue
        Xi = X[incl]
        e = y[incl] - Xi @ sub.beta
        try:
            Mi = _marginal_full(fit, sub)[incl][:, incl].toarray()
        except (ValueError, IndexError):  # a level of an inner factor left the data
            continue
        S = Mi + Xi @ sub.vb @ Xi.T
        resid[incl] = e
        se[incl] = np.sqrt(np.diagonal(S))
        try:
            L = np.linalg.cholesky(S)
        except np.linalg.LinAlgError:
            continue
        u = np.linalg.solve(L, e)
        X2[c] = float(u @ u)
    resid = _zero_small(resid)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = resid / se
    obs = pd.DataFrame({"slab": _slab(fit), "resid": resid, "se": se, "z": z})
    if cluster is None:
        return CaseResiduals(obs, "studentized deleted", fit.model_name)
    obs.insert(1, "cluster", [labels[i] for i in codes])
    table = pd.DataFrame({"slab": labels, "X2": X2,
                          "k": kk.astype(int) if np.all(np.isfinite(kk)) else kk})
    return ClusterRStudent(obs, table, bool(reestimate), fit.model_name)
