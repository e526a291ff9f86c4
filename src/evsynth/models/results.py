"""Common behaviour of fitted-model results: JSON-ready ``to_dict`` and a printed summary."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def to_jsonable(value: Any) -> Any:
    """Convert numpy/pandas values to plain Python (lists, floats, None for NaN) recursively."""
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


class ResultMixin:
    """Mixin for result objects: subclasses implement ``summary_text()`` and ``_dict_fields``."""

    _dict_fields: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """All result fields as plain JSON-ready Python values."""
        return {name: to_jsonable(getattr(self, name)) for name in self._dict_fields}

    def summary_text(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def summary(self) -> str:
        """Print and return a readable summary table."""
        text = self.summary_text()
        print(text)
        return text

    def __repr__(self) -> str:
        return self.summary_text()
