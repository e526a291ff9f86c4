"""Conditions shared by several diagnostics (see :func:`evsynth.models.diagnostics.register`)."""

from __future__ import annotations

from typing import Any


def int_only(fit: Any) -> bool:
    """Whether ``fit`` has no moderators (metafor's ``int.only``)."""
    return bool(fit.int_only)


#: ``register(..., **INT_ONLY)``: the method is defined for models without moderators only
INT_ONLY: dict[str, Any] = {"when": int_only,
                            "requires": "models without moderators (as in metafor)"}
