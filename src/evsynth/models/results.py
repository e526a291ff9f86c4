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
from typing import Any

import numpy as np
import pandas as pd


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
    if isinstance(value, pd.DataFrame):
        return to_jsonable(value.to_dict(orient="list"))
    if isinstance(value, pd.Series):
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


def fmt_p(p: float) -> str:
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

    def leave1out(self, *args: Any, **kwargs: Any) -> Any:
        """Leave-one-out analysis: the model refitted without each study in turn (metafor
        ``leave1out``)."""
        return self._diagnostic("leave1out", *args, **kwargs)

    def cumul(self, *args: Any, **kwargs: Any) -> Any:
        """Cumulative meta-analysis: the model refitted as studies are added (metafor
        ``cumul``)."""
        return self._diagnostic("cumul", *args, **kwargs)

    def influence(self, *args: Any, **kwargs: Any) -> Any:
        """Case-deletion influence diagnostics (metafor ``influence``)."""
        return self._diagnostic("influence", *args, **kwargs)

    def baujat(self, *args: Any, **kwargs: Any) -> Any:
        """Baujat et al. (2002) contributions to heterogeneity and to the estimate."""
        return self._diagnostic("baujat", *args, **kwargs)

    def gosh(self, *args: Any, **kwargs: Any) -> Any:
        """GOSH: fits to subsets of the studies (Olkin, Dahabreh & Trikalinos 2012)."""
        return self._diagnostic("gosh", *args, **kwargs)

    def permutest(self, *args: Any, **kwargs: Any) -> Any:
        """Permutation tests of the coefficients (metafor ``permutest``)."""
        return self._diagnostic("permutest", *args, **kwargs)

    def regtest(self, *args: Any, **kwargs: Any) -> Any:
        """Regression test for funnel-plot asymmetry (Egger-type; metafor ``regtest``)."""
        return self._diagnostic("regtest", *args, **kwargs)

    def ranktest(self, *args: Any, **kwargs: Any) -> Any:
        """Begg & Mazumdar's rank correlation test (metafor ``ranktest``)."""
        return self._diagnostic("ranktest", *args, **kwargs)

    def trimfill(self, *args: Any, **kwargs: Any) -> Any:
        """Duval & Tweedie's trim-and-fill (metafor ``trimfill``)."""
        return self._diagnostic("trimfill", *args, **kwargs)

    def pet_peese(self, *args: Any, **kwargs: Any) -> Any:
        """PET-PEESE conditional estimator (Stanley & Doucouliagos 2014)."""
        return self._diagnostic("pet_peese", *args, **kwargs)

    def hc(self, *args: Any, **kwargs: Any) -> Any:
        """Henmi & Copas (2010) confidence interval (metafor ``hc``)."""
        return self._diagnostic("hc", *args, **kwargs)

    def selmodel(self, *args: Any, **kwargs: Any) -> Any:
        """Selection models (metafor ``selmodel``)."""
        return self._diagnostic("selmodel", *args, **kwargs)

    def plot_funnel(self, *args: Any, **kwargs: Any) -> Any:
        """Funnel plot of the fit (metafor ``funnel``); returns a matplotlib Figure."""
        return self._diagnostic("funnel", *args, **kwargs)

    def plot_forest(self, *args: Any, **kwargs: Any) -> Any:
        """Forest plot of the fit in the RevMan layout (metafor ``forest``); returns a
        matplotlib Figure. Same as :func:`evsynth.forest`."""
        return self._diagnostic("forest", *args, **kwargs)
