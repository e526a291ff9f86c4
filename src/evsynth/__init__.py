"""evsynth: evidence synthesis in Python.

Layers (each imports only from the ones before it):
records -> effects (effect sizes, conversions) -> models -> summaries -> reports/CLI.

Public names are imported lazily so that ``import evsynth`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

from evsynth.errors import InputError

#: public name -> "module:attribute" (attribute None means the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "effect_size": ("evsynth.effects.escalc", "effect_size"),
    "convert": ("evsynth.convert", None),
    "meta": ("evsynth.models.meta", "meta"),
    "meta_mh": ("evsynth.models.mh", "meta_mh"),
    "meta_peto": ("evsynth.models.mh", "meta_peto"),
    "meta_batch": ("evsynth.models.batch", "meta_batch"),
    "fsn": ("evsynth.models.bias", "fsn"),
    "records": ("evsynth.records", None),
}

__all__ = ["InputError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'evsynth' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
