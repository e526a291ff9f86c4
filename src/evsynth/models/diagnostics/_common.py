"""Conditions shared by several diagnostics (see :func:`evsynth.models.diagnostics.register`)."""

from __future__ import annotations

from typing import Any


def int_only(fit: Any) -> bool:
    """Whether ``fit`` has no moderators (metafor's ``int.only``)."""
    return bool(fit.int_only)


#: ``register(..., **INT_ONLY)``: the method is defined for models without moderators only
INT_ONLY: dict[str, Any] = {"when": int_only,
                            "requires": "models without moderators (as in metafor)"}


def refit_carrying(fit: Any, yi: Any, vi: Any, weights: Any, *, tau2: float | None = None,
                   mods: Any = None, intercept: bool = True, slab: Any = None,
                   test: str | None = None) -> Any:
    """``fit``'s model (tau^2 estimator, test unless ``test`` is given, level, control) fitted
    to other data with :func:`evsynth.meta`, carrying the user ``weights`` given (the rows'
    own, or None), the fit's ``weighted`` and the fixed ``tau2`` given (None: estimated), as
    metafor's refits pass ``weights``, ``weighted = x$weighted`` and ``tau2`` to ``rma.uni``
    (e.g. ``trimfill.rma.uni``, ``regtest``).

    References
    ----------
    metafor 3.8.1 ``trimfill.rma.uni`` and ``regtest`` (their ``rma.uni`` calls); Viechtbauer W
    (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw 36(3),
    doi:10.18637/jss.v036.i03.
    """
    from evsynth.models.meta import meta

    return meta(yi, vi, mods=mods, intercept=intercept, method=fit.method,
                test=test or fit.test, level=fit.level, control=fit.control, slab=slab,
                weights=weights, weighted=bool(getattr(fit, "weighted", True)), tau2=tau2)
