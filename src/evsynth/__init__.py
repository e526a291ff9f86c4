"""evsynth: evidence synthesis in Python.

Layers (each imports only from the ones before it):
records -> effects (effect sizes, conversions) -> models -> summaries -> reports/CLI.
"""

from __future__ import annotations

__version__ = "0.1.0"

from evsynth.errors import InputError

__all__ = ["InputError", "__version__"]
