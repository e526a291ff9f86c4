"""The results contract: what every fitted model and every result object provides.

Every fitted model (:class:`evsynth.models.meta.MetaResult`, the Mantel-Haenszel and Peto
results, batch results, and every model type added later) derives from :class:`FittedModel` and
so has ``k``, ``estimate`` (and ``beta``, always a 1-D array, for models with coefficients),
``se``, ``ci_lb``, ``ci_ub``, ``pval`` (1-D arrays, one value per coefficient), ``level``
(percent, as metafor prints it), ``method_info`` (every choice made), ``summary()`` (a
:class:`Summary` that prints as metafor's print method and renders in Jupyter), ``to_dict()``
(JSON-safe, see :func:`to_jsonable`) and ``to_frame()`` (a tidy DataFrame, one row per
coefficient). Diagnostics (``leave1out``, ``cumul``, ``influence``, ``funnel``, ``forest``,
``regtest``, ...) are dispatched on the model type by :mod:`evsynth.models.diagnostics`; a model
type declares what it supports by registering implementations there. See docs/contract.md.
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from evsynth._lazy import LazyModule, is_instance

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

    from evsynth.models.bias import (
        HcResult,
        PetPeeseResult,
        RanktestResult,
        RegtestResult,
        TrimfillResult,
    )
    from evsynth.models.diagnostics.blup import BlupResult
    from evsynth.models.diagnostics.residuals import CaseResiduals, StudyValues
    from evsynth.models.diagnostics.selmodel import SelectionModel
    from evsynth.models.diagnostics.vif import VifResult
    from evsynth.models.influence import (
        BaujatResult,
        CaseTable,
        GoshResult,
        InfluenceResult,
        PermutationTest,
    )
    from evsynth.models.robust import RobustResult
else:  # imported on first use (start-up time of a plain fit)
    pd = LazyModule("pandas")


def to_jsonable(value: Any) -> Any:
    """Convert numpy/pandas values to plain JSON-safe Python values, recursively.

    Arrays and Series become lists, DataFrames dicts of column lists, numpy scalars Python
    scalars. Non-finite floats, which JSON cannot hold, are written as ``None`` (JSON ``null``)
    for NaN ("not available", R's ``NA``) and as the strings ``"Inf"`` / ``"-Inf"`` for the
    infinities (e.g. the upper bound of an NNT interval), so ``json.dumps`` never sees a NaN.
    """
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if is_instance(value, "pandas", "DataFrame"):
        return to_jsonable(value.to_dict(orient="list"))
    if is_instance(value, "pandas", "Series"):
        return to_jsonable(value.tolist())
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("Inf" if value > 0 else "-Inf")
    if hasattr(value, "to_dict") and not isinstance(value, type):
        return to_jsonable(value.to_dict())
    return value


def fmt_p(p: float | None) -> str:
    """Format a p-value as metafor prints it (``<.0001`` below 1e-4)."""
    if p is None or not np.isfinite(p):
        return "NA"
    return "<.0001" if p < 1e-4 else f"{p:.4f}"


class Summary:
    """A printed summary: shows as text when printed (``print(fit.summary())``, or as the last
    expression of a console session) and as preformatted HTML in Jupyter. Creating it prints
    nothing."""

    def __init__(self, text: str, title: str | None = None) -> None:
        self.text = text
        self.title = title

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Summary):
            return self.text == other.text
        if isinstance(other, str):
            return self.text == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.text)

    def __contains__(self, item: str) -> bool:
        return item in self.text

    def splitlines(self) -> list[str]:
        """The lines of the text."""
        return self.text.splitlines()

    def _repr_html_(self) -> str:
        head = f"<strong>{html.escape(self.title)}</strong>" if self.title else ""
        return f"{head}<pre>{html.escape(self.text)}</pre>"


class ResultMixin:
    """Common behaviour of result objects: subclasses implement ``summary_text()`` and list
    their JSON fields in ``_dict_fields``."""

    _dict_fields: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """All result fields as plain JSON-safe Python values (NaN -> None, +/-inf ->
        "Inf"/"-Inf"; see :func:`to_jsonable`)."""
        return {name: to_jsonable(getattr(self, name)) for name in self._dict_fields}

    def summary_text(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def summary(self) -> Summary:
        """The readable summary (printed as metafor prints the result; nothing is printed until
        the returned object is)."""
        return Summary(self.summary_text())

    def __repr__(self) -> str:
        return self.summary_text()

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


class FittedModel(ResultMixin):
    """Base class of every fitted model: the results contract (see the module docstring).

    A new model type derives from this class, fills the contract fields, implements
    ``summary_text()``, ``to_frame()`` and ``_dict_fields``, sets ``model_name`` (used in
    messages) and registers the diagnostics it supports in :mod:`evsynth.models.diagnostics`.
    """

    #: human name of the model type, used in messages ("Mantel-Haenszel fit")
    model_name: str = "fitted model"

    @property
    def refittable(self) -> bool:
        """Whether the model can be refitted on its own data (leave-one-out, influence, ...);
        False for a view of a joint model such as a subgroup of a common-tau^2 model."""
        return True

    @property
    def refit_obstacle(self) -> str | None:
        """Why the refitting diagnostics are not defined for this fit (None when
        ``refittable``); quoted in the error message."""
        return None if self.refittable else ("this one is a view of a joint model, e.g. a "
                                             "subgroup of a common-tau^2 model: fit meta() to "
                                             "the subgroup's studies")

    k: int
    beta: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    level: float
    method_info: dict[str, Any]
    coef_names: list[str]

    @property
    def estimate(self) -> float:
        """The pooled estimate (the only coefficient of a model without moderators)."""
        if len(self.beta) != 1:
            raise AttributeError(f"estimate is defined for models with one coefficient; this "
                                 f"model has {len(self.beta)} ({', '.join(self.coef_names)}): "
                                 "use beta")
        return float(self.beta[0])

    def to_frame(self) -> pd.DataFrame:
        """Tidy coefficient table: one row per coefficient with ``term``, ``estimate``, ``se``,
        ``statistic`` (z or t), ``pval``, ``ci_lb``, ``ci_ub`` (as broom's ``tidy.rma``)."""
        return pd.DataFrame({"term": list(self.coef_names), "estimate": self.beta,
                             "se": self.se, "statistic": self.zval, "pval": self.pval,
                             "ci_lb": self.ci_lb, "ci_ub": self.ci_ub})

    def supports(self) -> list[str]:
        """Names of the diagnostics and plots defined for this model type."""
        from evsynth.models import diagnostics

        return diagnostics.supported(self)

    # diagnostics, dispatched on the model type (evsynth.models.diagnostics) ------------------
    def _diagnostic(self, name: str, *args: Any, **kwargs: Any) -> Any:
        from evsynth.models import diagnostics

        return diagnostics.dispatch(name, self, *args, **kwargs)

    def leave1out(self, *, transf: Callable[[Any], Any] | bool | None = None) -> CaseTable:
        """Leave-one-out analysis: the model refitted without each study in turn (metafor
        ``leave1out``; models without moderators, and Mantel-Haenszel / Peto fits).

        Parameters
        ----------
        transf : function applied to the estimates and CI bounds (e.g. ``numpy.exp``); ``se``
            is then NaN. ``True`` means ``exp`` for Mantel-Haenszel/Peto ratio measures.

        Returns
        -------
        CaseTable
            One row per omitted study: ``slab, estimate, se, zval, pval, ci_lb, ci_ub, QE, QEp,
            tau2`` (not for Mantel-Haenszel/Peto) ``, I2, H2``.
        """
        return self._diagnostic("leave1out", transf=transf)

    def cumul(self, order: Any = None, decreasing: bool = False, *,
              transf: Callable[[Any], Any] | bool | None = None) -> CaseTable:
        """Cumulative meta-analysis: the model refitted as the studies are added one at a time
        (metafor ``cumul``; Lau et al. 1992, N Engl J Med 327:248).

        Parameters
        ----------
        order : values to sort the studies by, one per study (e.g. the publication year);
            ties keep their order (R's ``order()``). Default: the order of the data.
        decreasing : sort in decreasing order.
        transf : as in :meth:`leave1out`.

        Returns
        -------
        CaseTable
            Row i: the model with the first i + 1 studies; ``slab`` names the study added.
        """
        return self._diagnostic("cumul", order=order, decreasing=decreasing, transf=transf)

    def influence(self) -> InfluenceResult:
        """Case-deletion influence diagnostics (Viechtbauer & Cheung 2010, Res Synth Methods
        1:112; metafor ``influence.rma.uni``): ``rstudent, dffits, cook_d, cov_r, tau2_del,
        QE_del, hat, weight, dfbs_<coef>, inf`` per study."""
        return self._diagnostic("influence")

    def baujat(self) -> BaujatResult:
        """Baujat et al. (2002) coordinates: each study's contribution to the heterogeneity
        (``x``) and its influence on the pooled result (``y``) (metafor ``baujat``)."""
        return self._diagnostic("baujat")

    def gosh(self, subsets: int | None = None, seed: int | None = None) -> GoshResult:
        """GOSH: the model fitted to all (or ``subsets`` random) subsets of the studies (Olkin,
        Dahabreh & Trikalinos 2012; metafor ``gosh``); ``seed`` seeds the random subsets."""
        return self._diagnostic("gosh", subsets=subsets, seed=seed)

    def permutest(self, exact: bool | None = None, iter: int = 1000,
                  seed: int | None = None, *, permci: bool | int | Sequence[int] = False,
                  stat: str = "test", alternative: str = "two.sided",
                  tol: float = 1e-8) -> PermutationTest:
        """Permutation tests of the coefficients (metafor ``permutest``): exact when there
        are at most ``iter`` permutations (or ``exact=True``), else ``iter`` random ones.

        ``stat="coef"`` uses the permutation distribution of the coefficients instead of the
        test statistics; ``alternative`` ``"two.sided"``, ``"greater"`` or ``"less"``;
        ``permci=True`` (or the 0-based indices of some coefficients) adds permutation-based
        confidence intervals (metafor's ``permci``: the values beta_j = c at which the
        permutation p-value equals alpha/2, found by root-finding to ``tol``)."""
        return self._diagnostic("permutest", exact=exact, iter=iter, seed=seed, permci=permci,
                                stat=stat, alternative=alternative, tol=tol)

    def regtest(self, model: str = "rma", predictor: str = "sei", ni: Any = None, *,
                method: str | None = None, ai: Any = None, bi: Any = None, ci: Any = None,
                di: Any = None, n1i: Any = None, n2i: Any = None) -> RegtestResult:
        """Regression test for funnel-plot asymmetry (metafor ``regtest``; Egger et al. 1997).

        Parameters
        ----------
        model : ``"rma"`` (the fit's model with the predictor added) or ``"lm"`` (weighted
            regression with multiplicative dispersion, Egger's classic test).
        predictor : ``"sei"``, ``"vi"``, ``"ni"``, ``"ninv"``, ``"sqrtni"`` or
            ``"sqrtninv"``; the sample-size ones need ``ni``.
        ni : sample size of each study.
        method : ``"egger"``, ``"peters"`` or ``"harbord"`` (named variants; the last two use
            the 2x2 counts ``ai, bi, ci, di`` or ``ai, n1i, ci, n2i``).
        """
        return self._diagnostic("regtest", model=model, predictor=predictor, ni=ni,
                                method=method, ai=ai, bi=bi, ci=ci, di=di, n1i=n1i, n2i=n2i)

    def ranktest(self, exact: bool = True) -> RanktestResult:
        """Begg & Mazumdar's (1994) rank correlation test (metafor ``ranktest``); the exact
        p-value when there are no ties and ``exact``."""
        return self._diagnostic("ranktest", exact=exact)

    def trimfill(self, side: str | None = None, estimator: str = "L0", maxiter: int = 100,
                 ilim: Sequence[float] | None = None) -> TrimfillResult:
        """Duval & Tweedie's (2000) trim-and-fill (metafor ``trimfill``): ``side`` ("left",
        "right", or None to choose it from the data), ``estimator`` (``L0``, ``R0``, ``Q0``),
        ``ilim`` (limits for the imputed effects)."""
        return self._diagnostic("trimfill", side=side, estimator=estimator, maxiter=maxiter,
                                ilim=ilim)

    def pet_peese(self, alpha: float = 0.05, sided: int = 1) -> PetPeeseResult:
        """PET-PEESE conditional estimator (Stanley & Doucouliagos 2014): PEESE when PET's
        intercept is significant at ``alpha`` (``sided`` 1 or 2), else PET."""
        return self._diagnostic("pet_peese", alpha=alpha, sided=sided)

    def hc(self, tol: float = 1e-12) -> HcResult:
        """Henmi & Copas (2010) confidence interval (metafor ``hc``)."""
        return self._diagnostic("hc", tol=tol)

    def selmodel(self, type: str = "stepfun", steps: Sequence[float] | float | None = None,
                 alternative: str = "greater",
                 delta_min: float | Sequence[float] | None = None,
                 delta_max: float | Sequence[float] | None = None, *, prec: str | None = None,
                 ni: Any = None, scaleprec: bool = True,
                 delta: Sequence[float | None] | float | None = None) -> SelectionModel:
        """Selection models (metafor ``selmodel``), fitted by maximum likelihood: the step
        function of Vevea & Hedges (1995; cut-points ``steps``, default ``(0.025, 1)``), the
        beta model of Citkowicz & Vevea (2017), and the ``"halfnorm"``, ``"negexp"``,
        ``"logistic"``, ``"power"`` and ``"negexppow"`` families of Preston et al. (2004) with
        an optional threshold ``steps`` (one p-value) and precision-dependent selection
        ``prec`` (``"sei"``, ``"vi"``, ``"ninv"``, ``"sqrtninv"``; the last two need the sample
        sizes ``ni``; scaled by their maximum unless ``scaleprec=False``). ``delta`` fixes
        selection parameters (None entries are estimated). The result has Hessian SEs
        (``vcov()``), the LRT of no selection and profile-likelihood CIs (``confint()``);
        see :func:`evsynth.models.diagnostics.selmodel.selmodel_rma`."""
        return self._diagnostic("selmodel", type=type, steps=steps, alternative=alternative,
                                delta_min=delta_min, delta_max=delta_max, prec=prec, ni=ni,
                                scaleprec=scaleprec, delta=delta)

    # case diagnostics (metafor rstandard, rstudent, fitted, residuals, blup, ranef, vif) ------
    def rstandard(self, type: str = "marginal") -> CaseResiduals:
        """Standardised residuals (metafor ``rstandard``): ``type="marginal"`` (about the
        fitted values X b) or ``"conditional"`` (about the BLUPs; ``meta()`` fits only).
        Columns ``slab, resid, se, z``."""
        return self._diagnostic("rstandard", type=type)

    def rstudent(self) -> CaseResiduals:
        """Studentised deleted residuals (metafor ``rstudent``): each study against the model
        refitted without it. Columns ``slab, resid, se, z``."""
        return self._diagnostic("rstudent")

    def fitted(self) -> StudyValues:
        """Fitted values X b, one per study (metafor ``fitted``)."""
        return self._diagnostic("fitted")

    def residuals(self, type: str = "response") -> StudyValues:
        """Residuals (metafor ``residuals``): ``"response"``, ``"rstandard"``, ``"rstudent"``,
        ``"pearson"`` or ``"cholesky"`` (not for Mantel-Haenszel / Peto fits)."""
        return self._diagnostic("residuals", type=type)

    def blup(self, level: float | None = None,
             transf: Callable[[Any], Any] | str | None = None,
             targs: dict[str, Any] | None = None) -> BlupResult:
        """Best linear unbiased predictions of the true effects with SEs and prediction
        intervals (metafor ``blup``); ``transf`` a function or a name in
        :mod:`evsynth.transf` (with ``targs``)."""
        extra = {} if targs is None else {"targs": targs}  # implementations without targs
        return self._diagnostic("blup", level=level, transf=transf, **extra)

    def ranef(self, level: float | None = None,
              transf: Callable[[Any], Any] | str | None = None,
              targs: dict[str, Any] | None = None) -> BlupResult:
        """Best linear unbiased predictions of the random effects u_i with SEs and prediction
        intervals (metafor ``ranef``); ``transf``/``targs`` as in :meth:`blup`."""
        extra = {} if targs is None else {"targs": targs}  # implementations without targs
        return self._diagnostic("ranef", level=level, transf=transf, **extra)

    def vif(self, btt: Any = None, intercept: bool = False, reestimate: bool = False,
            sim: bool | int = False, seed: int | None = None) -> VifResult:
        """(Generalised) variance inflation factors of the moderator coefficients (metafor
        ``vif``; Fox & Monette 1992): ``btt`` groups (0-based indices or name patterns),
        ``reestimate``, and ``sim`` (simulated reference distribution, seeded by ``seed``)."""
        return self._diagnostic("vif", btt=btt, intercept=intercept, reestimate=reestimate,
                                sim=sim, seed=seed)

    def plot_funnel(self, *, contours: bool | Sequence[float] = False, trimfill: Any = None,
                    level: float | None = None, xlabel: str = "Effect size",
                    title: str | None = None, width: float = 6.0,
                    height: float = 5.0) -> Figure:
        """Funnel plot of the fit (metafor ``funnel``): the per-study effects against their
        standard errors around the pooled estimate, optionally contour-enhanced
        (``contours``) and with trim-and-fill studies (``trimfill``); returns a matplotlib
        Figure (see :func:`evsynth.reports.bias_plots.funnel_plot`)."""
        return self._diagnostic("funnel", contours=contours, trimfill=trimfill, level=level,
                                xlabel=xlabel, title=title, width=width, height=height)

    def plot_forest(self, *args: Any, **kwargs: Any) -> Any:
        """Forest plot of the fit in the RevMan layout (metafor ``forest``); returns a
        matplotlib Figure. Same as :func:`evsynth.forest`."""
        return self._diagnostic("forest", *args, **kwargs)

    def robust(self, cluster: Any, adjust: bool = True, clubsandwich: bool = False, *,
               data: Any = None) -> RobustResult:
        """Cluster-robust tests and confidence intervals (metafor ``robust``): CR1 with
        ``n - p`` df, or CR2 with Satterthwaite df and the HTZ test (``clubsandwich=True``).
        Same as :func:`evsynth.robust` (``evsynth.meta`` and ``evsynth.meta_mv`` fits)."""
        from evsynth.models.robust import robust

        return robust(self, cluster, adjust=adjust, clubsandwich=clubsandwich, data=data)


class FrameResult(ResultMixin):
    """A result whose main content is one table (:attr:`frame`): leave-one-out and influence
    tables, batch results, confidence intervals of heterogeneity parameters, ...

    ``res["col"]`` is a column and ``res.col`` its values as an array; ``len(res)`` the number of
    rows; ``to_frame()`` a copy of the table. Subclasses may

    * map old column names to new ones (:meth:`_renamed`): the old name still works for one
      release with a DeprecationWarning;
    * name rows reachable as attributes (``_row_attributes``, e.g. ``ci.tau2``);
    * accept the DataFrame's own attributes for one release with a DeprecationWarning
      (``_was_dataframe``: the results that used to be returned as DataFrames).
    """

    frame: pd.DataFrame
    _row_attributes: tuple[str, ...] = ()
    _was_dataframe: str | None = None  # e.g. "meta_batch()" for the deprecation message

    @staticmethod
    def _renamed(key: str) -> str | None:
        """The current name of an old column name, or None."""
        return None

    @staticmethod
    def _warn_renamed(old: str, new: str) -> None:
        warnings.warn(f"column {old!r} is now called {new!r} (Python names; the old name is "
                      "accepted until the next release)", DeprecationWarning, stacklevel=3)

    def __getattr__(self, name: str) -> Any:
        frame = self.__dict__.get("frame")
        if name.startswith("_") or frame is None:
            raise AttributeError(name)
        if name in frame.columns:
            return frame[name].to_numpy()
        if name in self._row_attributes and name in frame.index:
            return frame.loc[name]
        new = self._renamed(name)
        if new is not None and new in frame.columns:
            self._warn_renamed(name, new)
            return frame[new].to_numpy()
        if self._was_dataframe and hasattr(frame, name):
            warnings.warn(f"{self._was_dataframe} returns a {type(self).__name__}; DataFrame "
                          f"attribute {name!r} on it is accepted until the next release: use "
                          ".to_frame()", DeprecationWarning, stacklevel=2)
            return getattr(frame, name)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __getitem__(self, key: Any) -> Any:
        frame = self.frame
        if isinstance(key, str) and key not in frame.columns:
            new = self._renamed(key)
            if new is not None and new in frame.columns:
                self._warn_renamed(key, new)
                return frame[new]
        return frame[key]

    def __len__(self) -> int:
        return len(self.frame)

    def to_frame(self) -> pd.DataFrame:
        """The table as a DataFrame (a copy)."""
        return self.frame.copy()

    @property
    def table(self) -> pd.DataFrame:
        """The table (the DataFrame itself, not a copy)."""
        return self.frame
