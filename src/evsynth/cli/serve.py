"""``evsynth serve`` and ``evsynth users``: registered from :mod:`evsynth.web.cli`."""

from __future__ import annotations

from evsynth.web.cli import register

__all__ = ["register"]
