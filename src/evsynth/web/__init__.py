"""``evsynth serve``: the review team's web app for importing, deduplicating and screening
records (needs the ``web`` extra: ``pip install "evsynth[web]"``).

The app works on the same store as the CLI (:class:`evsynth.records.store.Store`: the review
folder's SQLite file by default, or a PostgreSQL URL), so every decision made in the browser is
seen by ``evsynth records status``, the PRISMA diagram and the report. See
:mod:`evsynth.web.app` for the request handling and security rules, and
:mod:`evsynth.web.accounts` for accounts, sessions and login rate limiting.
"""

from __future__ import annotations

from typing import Any


def create_app(*args: Any, **kwargs: Any) -> Any:
    """The Starlette application (see :func:`evsynth.web.app.create_app`)."""
    from evsynth.web.app import create_app as _create

    return _create(*args, **kwargs)


__all__ = ["create_app"]
