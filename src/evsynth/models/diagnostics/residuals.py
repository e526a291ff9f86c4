"""Residuals and fitted values (metafor ``rstandard``, ``rstudent``, ``residuals``, ``fitted``).

Registered for :class:`~evsynth.models.meta.MetaResult` (metafor ``rstandard.rma.uni``,
``rstudent.rma.uni``, ``residuals.rma``, ``fitted.rma``) and for Mantel-Haenszel and Peto fits,
:class:`~evsynth.models.mh.MHResult` (``rstandard.rma.mh`` / ``.rma.peto``, ``rstudent.rma.mh``
/ ``.rma.peto``, ``residuals.rma``, ``fitted.rma``).

Formulas (Viechtbauer & Cheung 2010, Res Synth Methods 1:112, doi:10.1002/jrsm.11; metafor 3.8
source). With ``M = diag(v_i + tau^2)``, weights ``W`` (``M^-1``; the user's weights; or the
identity for an unweighted fit) and the hat matrix ``H = X (X'WX)^-1 X'W``:

* marginal standardised residuals: ``e = y - X b``, ``Var(e) = (I - H) M (I - H)'``;
* conditional standardised residuals: ``e_i = y_i - [l_i y_i + (1 - l_i) x_i'b]`` with
  ``l_i = tau^2 / (tau^2 + v_i)``, ``SE = sqrt(v_i^2 / (v_i + tau^2) (1 - h_ii))``;
* studentised deleted residuals: ``e_i = y_i - x_i'b_(-i)``,
  ``SE = sqrt(v_i s2w_(-i) + x_i' Var(b_(-i)) x_i + tau^2_(-i) s2w_(-i))`` from the fit without
  study i (``s2w`` the Knapp-Hartung factor, 1 for other tests);
* Pearson residuals ``e_i / sqrt(M_ii)``; Cholesky residuals ``L e`` with ``L'L = M^-1``.

For a Mantel-Haenszel or Peto fit the model is ``y_i = beta + e_i``: standardised residuals
``(y_i - b) / sqrt(v_i)``, studentised deleted ``(y_i - b_(-i)) / sqrt(v_i + Var(b_(-i)))`` with
the estimator refitted without study i; Pearson residuals are the standardised ones (as
metafor); Cholesky residuals are not defined (metafor refuses them).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evsynth.errors import InputError
from evsynth.models.diagnostics import register
from evsynth.models.influence import deleted_residuals, labels_of
from evsynth.models.meta import MetaResult
from evsynth.models.mh import MHResult
from evsynth.models.results import FrameResult

#: residual types of metafor's ``residuals.rma``
RESIDUAL_TYPES = ("response", "rstandard", "rstudent", "pearson", "cholesky")
_EPS100 = 100 * np.finfo(float).eps


class _PerStudy(FrameResult):
    """A table with one row per study (column ``slab``), what it holds (``kind``) and the model
    it came from; printed as a titled table to 4 decimals."""

    _title_suffix = ""

    def __init__(self, frame: pd.DataFrame, kind: str, model: str) -> None:
        self.frame = frame
        self.kind = kind
        self.model = model

    def summary_text(self) -> str:
        table = self.frame.set_index("slab")
        return (f"{self.kind.capitalize()}{self._title_suffix} ({self.model}; "
                f"k = {len(table)})\n" + table.to_string(float_format=lambda x: f"{x:.4f}"))


class CaseResiduals(_PerStudy):
    """Residuals with standard errors, one row per study (metafor's ``list.rma`` of
    ``rstandard`` / ``rstudent``): columns ``slab, resid, se, z``.

    ``kind`` names the residuals ("marginal standardized", "conditional standardized",
    "studentized deleted"); ``to_frame()`` the table, ``to_dict()`` JSON-safe values.
    """

    _dict_fields = ("kind", "model", "slab", "resid", "se", "z")
    _title_suffix = " residuals"


class StudyValues(_PerStudy):
    """One value per study (metafor's named vectors of ``residuals`` and ``fitted``): columns
    ``slab`` and ``value``; ``kind`` says what they are ("response residuals", "fitted values",
    ...). ``res.value`` is the array."""

    _dict_fields = ("kind", "model", "slab", "value")


#: 1 - h_ii at or below this: the study is fitted exactly up to rounding (h_ii = 1)
_EXACT_FIT = 1e-10


def _zero_small(e: np.ndarray) -> np.ndarray:
    """metafor sets residuals below 100 machine epsilons (in absolute value) to 0."""
    return np.where(np.abs(e) < _EPS100, 0.0, e)


def _case_table(slab: list, resid: np.ndarray, se: np.ndarray, kind: str,
                model: str) -> CaseResiduals:
    with np.errstate(divide="ignore", invalid="ignore"):
        z = resid / se
    frame = pd.DataFrame({"slab": slab, "resid": resid, "se": se, "z": z})
    return CaseResiduals(frame, kind, model)


# --------------------------------------------------------------------------------------------
# meta() fits (rma.uni)
# --------------------------------------------------------------------------------------------
def hat_matrix(fit: MetaResult) -> np.ndarray:
    """The hat matrix ``H = X (X'WX)^-1 X'W`` of a :func:`evsynth.meta` fit (metafor
    ``hatvalues.rma.uni(type="matrix")``): ``W = diag(1 / (v_i + tau^2))``, the user's weights,
    or the identity for an unweighted fit (also when it has user weights: ``weighted=FALSE``
    ignores them in the estimation, as metafor)."""
    X = np.asarray(fit.model_matrix, dtype=float)
    user = getattr(fit, "user_weights", None)
    if not getattr(fit, "weighted", True):
        w = np.ones(fit.k)
    elif user is not None:
        w = np.asarray(user, dtype=float)
    else:
        w = 1.0 / (fit.vi + fit.tau2)
    XtW = (X * w[:, None]).T
    return X @ np.linalg.solve(XtW @ X, XtW)


def standardized(fit: MetaResult, type: str = "marginal") -> tuple[np.ndarray, np.ndarray]:
    """Residuals and their standard errors: marginal ``y - Xb`` with ``Var = (I - H) M
    (I - H)'``, or conditional on the BLUPs (see the module docstring; metafor
    ``rstandard.rma.uni``). The one home of these formulas (the residual funnel plot uses it)."""
    H = hat_matrix(fit)
    y, v, X = fit.yi, fit.vi, np.asarray(fit.model_matrix, dtype=float)
    # a study the model fits exactly (h_ii = 1, e.g. alone in its moderator level): its
    # residual and their variance are 0, what remains is rounding (a residual of 1e-13 on
    # y ~ 90 over an SE of 1e-15 read as z = 107; metafor prints such noise too): 0 and 0,
    # so z = 0/0 is undefined (NaN)
    exact = 1 - np.diag(H) <= _EXACT_FIT
    if type == "marginal":
        ImH = np.eye(fit.k) - H
        ve = (ImH * (v + fit.tau2)[None, :]) @ ImH.T
        resid = np.where(exact, 0.0, _zero_small(y - X @ fit.beta))
        return resid, np.where(exact, 0.0, np.sqrt(np.clip(np.diag(ve), 0.0, None)))
    li = fit.tau2 / (fit.tau2 + v)
    pred = li * y + (1 - li) * (X @ fit.beta)
    se = np.sqrt(np.clip(v**2 / (v + fit.tau2) * (1 - np.diag(H)), 0.0, None))
    return np.where(exact, 0.0, y - pred), np.where(exact, 0.0, se)


def _standard_weights(fit: Any) -> bool:
    return getattr(fit, "user_weights", None) is None and getattr(fit, "weighted", True)


@register("rstandard", MetaResult)
def rstandard_rma(fit: MetaResult, type: str = "marginal") -> CaseResiduals:
    """Standardised residuals of a :func:`evsynth.meta` fit (metafor ``rstandard.rma.uni``).

    ``type="marginal"`` (default): ``e = y - Xb`` over its SE from ``(I - H) M (I - H)'``;
    ``type="conditional"``: the residuals about the BLUPs of the true effects, with SE
    ``sqrt(v_i^2 / (v_i + tau^2) (1 - h_ii))`` (standard weights only, as metafor).
    """
    kind = str(type).lower() if isinstance(type, str) else type
    if kind not in ("marginal", "conditional"):
        raise InputError(f"rstandard: type must be 'marginal' or 'conditional'; got {type!r}")
    if kind == "conditional" and not _standard_weights(fit):
        raise InputError("rstandard: conditional residuals are not available for fits with user "
                         "weights or weighted=False (as in metafor)")
    resid, se = standardized(fit, kind)
    return _case_table(labels_of(fit), resid, se, f"{kind} standardized", fit.model_name)


@register("rstudent", MetaResult)
def rstudent_rma(fit: MetaResult) -> CaseResiduals:
    """Studentised deleted residuals (metafor ``rstudent.rma.uni``, the ``rstudent`` column of
    ``influence``): each study against the model fitted without it (one batch of refits)."""
    if fit.k == 1:
        raise InputError("rstudent: the model has k = 1 study; case deletion is undefined")
    resid, se = deleted_residuals(fit)
    return _case_table(labels_of(fit), resid, se, "studentized deleted", fit.model_name)


@register("fitted", MetaResult)
def fitted_rma(fit: MetaResult) -> StudyValues:
    """Fitted values ``X b`` (metafor ``fitted.rma``)."""
    value = np.asarray(fit.model_matrix, dtype=float) @ fit.beta
    return StudyValues(pd.DataFrame({"slab": labels_of(fit), "value": value}), "fitted values",
                       fit.model_name)


def _residual_type(type: Any) -> str:
    kind = type.lower() if isinstance(type, str) else type
    if kind not in RESIDUAL_TYPES:
        raise InputError(f"residuals: type must be one of {', '.join(RESIDUAL_TYPES)}; got "
                         f"{type!r}")
    return str(kind)


@register("residuals", MetaResult)
def residuals_rma(fit: MetaResult, type: str = "response") -> StudyValues:
    """Residuals of a :func:`evsynth.meta` fit (metafor ``residuals.rma``): ``"response"``
    (``y - Xb``), ``"rstandard"`` / ``"rstudent"`` (the z values of :func:`rstandard_rma` /
    :func:`rstudent_rma`), ``"pearson"`` (``(y - Xb) / sqrt(v + tau^2)``) or ``"cholesky"``
    (``L (y - Xb)`` with ``L'L = M^-1``; equal to the Pearson residuals for the diagonal ``M``
    of this model)."""
    kind = _residual_type(type)
    if kind == "rstandard":
        value = rstandard_rma(fit).z
    elif kind == "rstudent":
        value = rstudent_rma(fit).z
    else:
        e = _zero_small(fit.yi - np.asarray(fit.model_matrix, dtype=float) @ fit.beta)
        M = fit.vi + fit.tau2
        if kind == "response":
            value = e
        elif kind == "pearson":
            value = e / np.sqrt(M)
        else:
            L = np.linalg.cholesky(np.diag(1.0 / M)).T  # upper R with R'R = M^-1, as chol()
            value = L @ e
    return StudyValues(pd.DataFrame({"slab": labels_of(fit), "value": value}),
                       f"{kind} residuals", fit.model_name)


# --------------------------------------------------------------------------------------------
# Mantel-Haenszel and Peto fits (rma.mh, rma.peto)
# --------------------------------------------------------------------------------------------
def _mh_rows(fit: MHResult) -> tuple[np.ndarray, np.ndarray, list]:
    """Per supplied study: yi, vi (NaN where not computable) and labels."""
    studies = fit.studies
    return (np.asarray(studies["yi"], dtype=float), np.asarray(studies["vi"], dtype=float),
            list(studies["slab"]))


@register("rstandard", MHResult)
def rstandard_mh(fit: MHResult, type: str = "marginal") -> CaseResiduals:
    """Standardised residuals ``(y_i - b) / sqrt(v_i)`` of a Mantel-Haenszel or Peto fit
    (metafor ``rstandard.rma.mh`` / ``.rma.peto``), for the studies with an effect size. Only
    ``type="marginal"`` exists for these fits (no random effects)."""
    if type != "marginal":
        raise InputError(f"rstandard: a {fit.model_name} has marginal residuals only (no random "
                         f"effects to condition on); got type={type!r}")
    yi, vi, slab = _mh_rows(fit)
    ok = np.isfinite(yi) & np.isfinite(vi)
    resid = _zero_small(yi[ok] - fit.beta[0])
    return _case_table([s for s, o in zip(slab, ok, strict=True) if o], resid, np.sqrt(vi[ok]),
                       "standardized", fit.model_name)


@register("rstudent", MHResult)
def rstudent_mh(fit: MHResult) -> CaseResiduals:
    """Studentised deleted residuals of a Mantel-Haenszel or Peto fit (metafor
    ``rstudent.rma.mh`` / ``.rma.peto``): ``(y_i - b_(-i)) / sqrt(v_i + Var(b_(-i)))`` with the
    estimator refitted on the other supplied tables (NaN where that refit fails)."""
    from evsynth.models.diagnostics._mh import in_model, refits

    yi, vi, slab = _mh_rows(fit)
    n = len(slab)
    used = in_model(fit)
    subsets = [np.delete(np.arange(n), i) for i in used]
    d = refits(fit, subsets)
    delpred = np.full(n, np.nan)
    vdel = np.full(n, np.nan)
    delpred[used], vdel[used] = d["beta"], d["vb"]
    ok = np.isfinite(yi) & np.isfinite(vi)
    resid = _zero_small(yi - delpred)
    se = np.sqrt(vi + vdel)
    return _case_table([s for s, o in zip(slab, ok, strict=True) if o], resid[ok], se[ok],
                       "studentized deleted", fit.model_name)


@register("fitted", MHResult)
def fitted_mh(fit: MHResult) -> StudyValues:
    """Fitted values of a Mantel-Haenszel or Peto fit: the pooled estimate for every study in
    the model (metafor ``fitted.rma``)."""
    from evsynth.models.diagnostics._mh import in_model

    slab = list(fit.studies["slab"])
    used = in_model(fit)
    return StudyValues(pd.DataFrame({"slab": [slab[i] for i in used],
                                     "value": np.full(used.size, float(fit.beta[0]))}),
                       "fitted values", fit.model_name)


@register("residuals", MHResult)
def residuals_mh(fit: MHResult, type: str = "response") -> StudyValues:
    """Residuals of a Mantel-Haenszel or Peto fit (metafor ``residuals.rma``): ``"response"``
    (``y_i - b`` for the studies in the model), ``"rstandard"``, ``"rstudent"``; ``"pearson"``
    is ``"rstandard"`` (as metafor); ``"cholesky"`` is not defined (as metafor)."""
    from evsynth.models.diagnostics._mh import in_model

    kind = _residual_type(type)
    if kind == "cholesky":
        raise InputError(f"residuals: Cholesky residuals are not defined for a {fit.model_name} "
                         "(as in metafor); use 'response', 'rstandard', 'rstudent' or 'pearson'")
    if kind == "pearson":
        kind = "rstandard"
    if kind in ("rstandard", "rstudent"):
        res = rstandard_mh(fit) if kind == "rstandard" else rstudent_mh(fit)
        frame = pd.DataFrame({"slab": res.frame["slab"], "value": res.frame["z"]})
    else:
        yi, _, slab = _mh_rows(fit)
        used = in_model(fit)
        frame = pd.DataFrame({"slab": [slab[i] for i in used],
                              "value": _zero_small(yi[used] - fit.beta[0])})
    return StudyValues(frame, f"{kind} residuals", fit.model_name)
