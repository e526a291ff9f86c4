"""Lazy imports for start-up time (issue 18, point 5): a heavy library (pandas: ~0.25 s) is
imported when first used, not when evsynth's modules are imported.

``pd = LazyModule("pandas")`` behaves as the module on attribute access (the first access
imports it). ``is_instance(obj, "pandas", "DataFrame")`` tests a type without importing its
library: an object of that type cannot exist unless the library is loaded already.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any


class LazyModule:
    """A module imported on first attribute access."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def is_instance(obj: Any, module: str, cls: str) -> bool:
    """``isinstance(obj, module.cls)`` without importing ``module`` when it is not loaded."""
    mod = sys.modules.get(module)
    return mod is not None and isinstance(obj, getattr(mod, cls))
