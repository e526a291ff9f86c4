"""Diagnostics and plots dispatched on the model type.

One file per method (``leave1out.py``, ``cumul.py``, ``influence.py``, ...). Each registers its
implementation for the model types it is defined for (as metafor defines ``leave1out.rma.uni``,
``leave1out.rma.mh``, ``leave1out.rma.peto``, ...)::

    from evsynth.models.diagnostics import register

    @register("leave1out", MHResult)
    def _leave1out_mh(fit, **kwargs): ...

:class:`evsynth.models.results.FittedModel` exposes every method (``fit.leave1out()``), which
calls :func:`dispatch`; asking a model type for a method it has not registered is an
:class:`evsynth.errors.InputError` that lists what it supports. A new model type plugs in by
registering its implementations here; a new method by adding one file and its name to
:data:`METHODS`. An implementation receives the fit and the keyword arguments of the
:class:`~evsynth.models.results.FittedModel` method (all of them, with their defaults).

What is registered, following the classes metafor 3.8 defines each method for (checked against
its source: ``leave1out.rma.mh``, ``baujat.rma``, ``regtest``'s branch for ``rma.mh`` /
``rma.peto``, ...):

=============  ==============================  ========================================
method         ``meta()`` (rma.uni)            ``meta_mh()`` / ``meta_peto()``
=============  ==============================  ========================================
leave1out      without moderators              yes (leave1out.rma.mh / .rma.peto)
cumul          without moderators              yes (cumul.rma.mh / .rma.peto)
influence      yes                             no (metafor: rma.uni only)
baujat         yes                             yes (baujat.rma)
gosh           yes                             not yet (metafor's gosh.rma accepts them)
permutest      yes (permci, stat="coef")       no (rma.uni only)
regtest        yes                             yes (on the fit's yi/vi, equal effects)
ranktest       yes                             yes (on the fit's yi/vi)
trimfill       without moderators              no (rma.uni only)
pet_peese      without moderators              no
hc             without moderators              no (rma.uni only)
selmodel       yes (7 families, prec)          no (rma.uni only)
funnel         yes (residuals with moderators)  yes (funnel.rma)
forest         yes                             yes (forest.rma)
rstandard      yes (marginal, conditional)     yes (rstandard.rma.mh / .rma.peto)
rstudent       yes (refits without study i)    yes (rstudent.rma.mh / .rma.peto)
fitted         yes                             yes (fitted.rma)
residuals      yes (response, rstandard,       yes (response, rstandard, rstudent,
               rstudent, pearson, cholesky)    pearson; no cholesky, as metafor)
blup           yes (standard weights)          no (blup.rma.uni only)
ranef          yes (standard weights)          no (ranef.rma.uni only)
vif            with moderators                 no (no moderators)
=============  ==============================  ========================================

"Without moderators" is a condition of the registration (``when=``): a meta-regression does
not list the method in ``fit.supports()`` and asking for it is an InputError, as in metafor
(``int.only``). ``funnel`` of a meta-regression draws the residuals (``rstandard``) against
their standard errors, as metafor's ``funnel.rma`` does.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from evsynth.errors import InputError

#: every diagnostic/plot method name -> the module (in this package) that implements it
METHODS: dict[str, str] = {
    "leave1out": "leave1out",
    "cumul": "cumul",
    "influence": "influence",
    "baujat": "baujat",
    "gosh": "gosh",
    "permutest": "permutest",
    "regtest": "regtest",
    "ranktest": "ranktest",
    "trimfill": "trimfill",
    "pet_peese": "pet_peese",
    "hc": "hc",
    "selmodel": "selmodel",
    "funnel": "funnel",
    "forest": "forest",
    "rstandard": "residuals",
    "rstudent": "residuals",
    "fitted": "residuals",
    "residuals": "residuals",
    "blup": "blup",
    "ranef": "blup",
    "vif": "vif",
}

#: methods that refit the model to subsets or transformations of its own data; they are not
#: defined for a fit that is a view of a joint model (``fit.refittable`` False, e.g. a subgroup
#: of a common-tau^2 model, whose tau^2 comes from all subgroups)
REFITS = frozenset({"leave1out", "cumul", "influence", "baujat", "gosh", "permutest", "regtest",
                    "trimfill", "pet_peese", "hc", "selmodel", "rstudent"})
#: refitting methods whose refits carry a ``meta()`` fit's user weights, ``weighted=False`` and
#: fixed tau^2 (as metafor's ``leave1out.rma.uni``, ``cumul.rma.uni``, ``influence.rma.uni``,
#: ``baujat.rma``, ``gosh.rma``, ``permutest.rma.uni`` and ``regtest`` pass ``weights``,
#: ``weighted`` and ``tau2=ifelse(x$tau2.fix, x$tau2, NA)`` to ``rma.uni``), or handle such fits
#: as metafor 3.8.1 does: ``trimfill.rma.uni`` carries weights and ``weighted`` but re-estimates
#: a fixed tau^2; ``hc.rma.uni`` ignores them (1/vi weights, DL); ``pet_peese`` is built on
#: ``regtest(model="lm")`` (1/vi weights, as metafor's); ``selmodel.rma.uni`` keeps a fixed
#: tau^2 and refuses user weights and ``weighted=False`` itself (its own InputError, as
#: metafor's stop). Allowed for such fits (``fit.refittable_with_settings``)
CARRY_SETTINGS = frozenset({"leave1out", "cumul", "influence", "baujat", "gosh", "permutest",
                            "rstudent", "regtest", "trimfill", "hc", "pet_peese", "selmodel"})


def _can_refit(name: str, fit: Any) -> bool:
    if getattr(fit, "refittable", True):
        return True
    return name in CARRY_SETTINGS and bool(getattr(fit, "refittable_with_settings", False))


def _refit_requires(fit: Any) -> str:
    why = getattr(fit, "refit_obstacle", None) or "this one cannot be refitted"
    return f"fits that can be refitted on their own ({why})"


class _Entry(NamedTuple):
    func: Callable[..., Any]
    when: Callable[[Any], bool] | None
    requires: str


_REGISTRY: dict[str, dict[type, _Entry]] = {}

F = TypeVar("F", bound=Callable[..., Any])


def register(name: str, *model_types: type, when: Callable[[Any], bool] | None = None,
             requires: str = "") -> Callable[[F], F]:
    """Decorator: ``func`` implements diagnostic ``name`` for ``model_types`` (and subclasses).

    ``when``: an optional test of the fitted model (e.g. "has no moderators", as metafor's
    ``leave1out`` requires ``int.only``); a fit failing it does not support the method, and
    asking for it is an InputError that says ``requires`` ("models without moderators, as
    metafor").
    """
    if name not in METHODS:
        raise ValueError(f"unknown diagnostic {name!r}; add it to METHODS first")

    def deco(func: F) -> F:
        table = _REGISTRY.setdefault(name, {})
        for cls in model_types:
            table[cls] = _Entry(func, when, requires)
        return func

    return deco


#: further modules registering a method for more model types (loaded with the method's own)
EXTRA_MODULES: dict[str, tuple[str, ...]] = {"forest": ("forest_more", "network"),
                                              "funnel": ("network",)}


def _load(name: str) -> None:
    for mod in (METHODS[name], *EXTRA_MODULES.get(name, ())):
        module = f"{__name__}.{mod}"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a module not written yet: no types
            if exc.name != module:
                raise


def _entry(name: str, fit: Any) -> _Entry | None:
    if name not in METHODS:
        return None
    _load(name)
    table = _REGISTRY.get(name, {})
    for cls in type(fit).__mro__:
        if cls in table:
            return table[cls]
    return None


def implementation(name: str, fit: Any) -> Callable[..., Any] | None:
    """The function registered for ``name`` and the type of ``fit`` (nearest in its MRO), or
    None when there is none or ``fit`` does not meet its condition (see :func:`register`)."""
    entry = _entry(name, fit)
    if entry is None or not _allowed(name, entry, fit):
        return None
    return entry.func


def _allowed(name: str, entry: _Entry, fit: Any) -> bool:
    if name in REFITS and not _can_refit(name, fit):
        return False
    return entry.when is None or bool(entry.when(fit))


def supported(fit: Any) -> list[str]:
    """Names of the methods defined for ``fit`` (its type, and the conditions of each)."""
    return [name for name in METHODS if implementation(name, fit) is not None]


def dispatch(name: str, fit: Any, *args: Any, **kwargs: Any) -> Any:
    """Call diagnostic ``name`` on ``fit``; an InputError naming the model and listing what it
    supports when the method is not defined for it."""
    entry = _entry(name, fit)
    if entry is not None and _allowed(name, entry, fit):
        return entry.func(fit, *args, **kwargs)
    model = getattr(fit, "model_name", type(fit).__name__)
    have = ", ".join(supported(fit)) or "no diagnostics"
    if entry is not None:
        requires = (_refit_requires(fit) if name in REFITS and not _can_refit(name, fit)
                    else entry.requires)
        raise InputError(f"{name}() is defined only for {requires}; this {model} is not "
                         f"one (it supports: {have})")
    raise InputError(f"{name}() is not defined for a {model}; this model supports: {have}")
