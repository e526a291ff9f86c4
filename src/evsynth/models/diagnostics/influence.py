"""Case-deletion influence diagnostics (metafor ``influence.rma.uni``).

Registered for :class:`~evsynth.models.meta.MetaResult` (with or without moderators). metafor
defines ``influence`` for ``rma.uni`` models only (not for ``rma.mh`` / ``rma.peto``), and so does
evsynth. Reference: Viechtbauer & Cheung (2010, Res Synth Methods 1:112, doi:10.1002/jrsm.11);
Belsley, Kuh & Welsch (1980, Regression Diagnostics, Wiley, doi:10.1002/0471725153).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from evsynth.errors import InputError
from evsynth.models.diagnostics import register
from evsynth.models.influence import (
    InfluenceResult,
    deleted_residuals,
    deletion_fits,
    labels_of,
    safe_inv,
)
from evsynth.models.meta import MetaResult


@register("influence", MetaResult)
def influence_rma(fit: MetaResult) -> InfluenceResult:
    """Case-deletion diagnostics (Viechtbauer & Cheung 2010; metafor ``influence.rma.uni``).

    For each study i the model is refitted without it (one batch). With x_i its row of X,
    ``hat`` the diagonal of X (X'WX)^-1 X'W, and (beta, vb, tau2, s2w)_(-i) the deleted fit:
    rstudent = (y_i - x_i'beta_(-i)) / sqrt(v_i s2w_(-i) + x_i' vb_(-i) x_i
    + tau2_(-i) s2w_(-i)); dffits = x_i'(beta - beta_(-i)) / sqrt(s2w_(-i) hat_i
    (tau2_(-i) + v_i)); cook_d = (beta - beta_(-i))' vb^-1 (beta - beta_(-i));
    cov_r = det vb_(-i) / det vb; dfbetas_j = (beta_j - beta_(-i)j) / sqrt(s2w_(-i)
    [(X'W_(-i)X)^-1]_jj) with W_(-i) = diag(1/(v + tau2_(-i))) over all k studies;
    tau2_del = tau2_(-i), QE_del = Q_E(-i). A study is flagged influential (metafor's rules)
    when |dffits| > 3 sqrt(p/(k-p)), P(chi^2_p <= cook_d) > 0.5, hat > 3p/k, or any
    |dfbetas| > 1. Works for meta-regression.
    """
    if fit.k == 1:
        raise InputError("influence: the model has k = 1 study; case deletion is undefined")
    k, p = fit.k, fit.p
    X, v = fit.model_matrix, fit.vi
    d, delpred, vdelpred = deletion_fits(fit)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = 1.0 / (v + fit.tau2)
        A = np.einsum("i,ij,ik->jk", w, X, X)
        hat = w * np.einsum("ij,jk,ik->i", X, np.linalg.inv(A), X)
        s2w, t2 = d["s2w"], d["tau2"]
        resid, se_del = deleted_residuals(fit, (d, delpred, vdelpred))  # one home: rstudent
        rstudent = resid / se_del
        dffits = (X @ fit.beta - delpred) / np.sqrt(s2w * hat * (t2 + v))
        dfb = fit.beta[None, :] - d["beta"]
        cook = np.einsum("ij,jk,ik->i", dfb, safe_inv(fit.vb), dfb)
        cov_r = np.linalg.det(d["vb"]) / np.linalg.det(fit.vb)
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
    frame = pd.DataFrame({"slab": labels_of(fit), "rstudent": rstudent, "dffits": dffits,
                          "cook_d": cook, "cov_r": cov_r, "tau2_del": t2, "QE_del": d["QE"],
                          "hat": hat, "weight": fit.weights})
    dfbetas = pd.DataFrame(dfbs, columns=list(fit.coef_names))
    for j, name in enumerate(fit.coef_names):
        frame[f"dfbs_{name}"] = dfbs[:, j]
    frame["inf"] = np.where(is_infl, "*", "")
    return InfluenceResult(frame, dfbetas, is_infl, k, p, list(fit.coef_names), fit.tau2, fit.QE)
