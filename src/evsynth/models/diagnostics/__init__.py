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
:data:`METHODS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

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
}

_REGISTRY: dict[str, dict[type, Callable[..., Any]]] = {}

F = TypeVar("F", bound=Callable[..., Any])


def register(name: str, *model_types: type) -> Callable[[F], F]:
    """Decorator: ``func`` implements diagnostic ``name`` for ``model_types`` (and subclasses)."""
    if name not in METHODS:
        raise ValueError(f"unknown diagnostic {name!r}; add it to METHODS first")

    def deco(func: F) -> F:
        table = _REGISTRY.setdefault(name, {})
        for cls in model_types:
            table[cls] = func
        return func

    return deco


def _load(name: str) -> None:
    importlib.import_module(f"{__name__}.{METHODS[name]}")


def implementation(name: str, fit: Any) -> Callable[..., Any] | None:
    """The function registered for ``name`` and the type of ``fit`` (nearest in its MRO)."""
    if name not in METHODS:
        return None
    _load(name)
    table = _REGISTRY.get(name, {})
    for cls in type(fit).__mro__:
        if cls in table:
            return table[cls]
    return None


def supported(fit: Any) -> list[str]:
    """Names of the methods defined for the type of ``fit``."""
    return [name for name in METHODS if implementation(name, fit) is not None]


def dispatch(name: str, fit: Any, *args: Any, **kwargs: Any) -> Any:
    """Call diagnostic ``name`` on ``fit``; an InputError when it is not defined for the type."""
    func = implementation(name, fit)
    if func is None:
        model = getattr(fit, "model_name", type(fit).__name__)
        raise InputError(f"{name}() is not defined for a {model}; this model supports: "
                         f"{', '.join(supported(fit)) or 'no diagnostics'}")
    return func(fit, *args, **kwargs)
