"""Small-study effects and publication bias on a fitted model (issue 4; being written)."""

from __future__ import annotations


class SmallStudyMethods:
    """Methods of :class:`evsynth.models.meta.MetaResult` for small-study effects."""
