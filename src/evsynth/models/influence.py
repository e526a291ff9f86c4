"""Sensitivity and influence diagnostics on a fitted model (issue 4; being written)."""

from __future__ import annotations


class InfluenceMethods:
    """Methods of :class:`evsynth.models.meta.MetaResult` for influence and sensitivity."""
