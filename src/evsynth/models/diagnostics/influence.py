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
from evsynth.models.diagnostics.residuals import hat_matrix
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

    For each study i the model is refitted without it (one batch; with the fit's user
    weights, ``weighted=False`` or fixed tau^2 carried over, as metafor). With x_i its row of
    X, ``hat`` the diagonal of H = X (X'WX)^-1 X'W (hat values of 1 - 10 eps or more set to 1,
    as metafor and ``lm.influence``), and (beta, vb, tau2, s2w)_(-i) the deleted fit:
    rstudent = (y_i - x_i'beta_(-i)) / sqrt(v_i s2w_(-i) + x_i' vb_(-i) x_i
    + tau2_(-i) s2w_(-i)); dffits = x_i'(beta - beta_(-i)) / sqrt(s2w_(-i) hat_i
    (tau2_(-i) + v_i)); cook_d = (beta - beta_(-i))' vb^-1 (beta - beta_(-i));
    cov_r = det vb_(-i) / det vb; dfbetas_j = (beta_j - beta_(-i)j) / sqrt(s2w_(-i)
    [(X'W_(-i)X)^-1]_jj) with W_(-i) = diag(1/(v + tau2_(-i))) over all k studies;
    tau2_del = tau2_(-i), QE_del = Q_E(-i). With user weights A = diag(a) (A = I for
    ``weighted=False``), H = X (X'AX)^-1 X'A and, with M_(-i) = diag(v + tau2_(-i)) over all
    k studies, dffits has denominator sqrt(s2w_(-i) [H M_(-i) H']_ii) and dfbetas uses the
    sandwich (X'AX)^-1 X'A M_(-i) A X (X'AX)^-1 in place of (X'W_(-i)X)^-1 (metafor
    ``influence.rma.uni``). A study is flagged influential (metafor's rules)
    when |dffits| > 3 sqrt(p/(k-p)), P(chi^2_p <= cook_d) > 0.5, hat > 3p/k, or any
    |dfbetas| > 1. Works for meta-regression.

    References
    ----------
    Viechtbauer W, Cheung MW-L (2010). Outlier and influence diagnostics for meta-analysis.
    Res Synth Methods 1:112-125, doi:10.1002/jrsm.11. metafor ``influence.rma.uni`` and
    ``hatvalues.rma.uni`` (weighted / user-weighted / unweighted branches).
    """
    if fit.k == 1:
        raise InputError("influence: the model has k = 1 study; case deletion is undefined")
    k, p = fit.k, fit.p
    X, v = fit.model_matrix, fit.vi
    d, delpred, vdelpred = deletion_fits(fit)
    standard = fit.user_weights is None and fit.weighted
    with np.errstate(divide="ignore", invalid="ignore"):
        H = hat_matrix(fit)
        hat = np.diag(H).copy()
        hat[hat > 1 - 10 * np.finfo(float).eps] = 1.0
        s2w, t2 = d["s2w"], d["tau2"]
        resid, se_del = deleted_residuals(fit, (d, delpred, vdelpred))  # one home: rstudent
        rstudent = resid / se_del
        Mdel = v[None, :] + t2[:, None]  # (deleted fit i, study j): v_j + tau2_(-i)
        if standard:
            dffits = (X @ fit.beta - delpred) / np.sqrt(s2w * hat * (t2 + v))
        else:  # [H M_(-i) H']_ii = sum_j H_ij^2 (v_j + tau2_(-i))
            dffits = (X @ fit.beta - delpred) / np.sqrt(s2w * np.einsum("ij,ij->i", H * H,
                                                                         Mdel))
        dfb = fit.beta[None, :] - d["beta"]
        cook = np.einsum("ij,jk,ik->i", dfb, safe_inv(fit.vb), dfb)
        cov_r = np.linalg.det(d["vb"]) / np.linalg.det(fit.vb)
        fine = np.isfinite(t2)
        diag = np.full((k, p), np.nan)
        if fine.any() and standard:
            Adel = np.einsum("ij,jk,jl->ikl", 1.0 / Mdel, X, X)
            diag[fine] = np.einsum("ijj->ij", np.linalg.inv(Adel[fine]))
        elif fine.any():  # sandwich B X'A M_(-i) A X B, B = (X'AX)^-1 (A = I unweighted)
            a = fit.user_weights if fit.weighted and fit.user_weights is not None else np.ones(k)
            B = np.linalg.inv(np.einsum("j,jk,jl->kl", a, X, X))
            meat = np.einsum("ij,jk,jl->ikl", a * a * Mdel[fine], X, X)
            diag[fine] = np.einsum("ijj->ij", B[None] @ meat @ B[None])
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
