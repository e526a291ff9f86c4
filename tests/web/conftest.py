"""Fixtures of the web-app tests: a review folder with records and accounts, and logged-in
Starlette test clients (no server; the live-server test starts its own uvicorn)."""

from __future__ import annotations

import pytest

pytest.importorskip("starlette")
pytest.importorskip("argon2")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402
from web_helpers import login, make_review  # noqa: E402

from evsynth.web import accounts  # noqa: E402
from evsynth.web.app import create_app  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _fast_argon2():
    """Cheap argon2 parameters in tests (the defaults cost ~50 ms per hash)."""
    import argon2

    orig = accounts._hasher
    accounts._hasher = lambda: argon2.PasswordHasher(time_cost=1, memory_cost=1024,
                                                     parallelism=1)
    yield
    accounts._hasher = orig


@pytest.fixture
def review(tmp_path):
    return make_review(tmp_path / "review")


@pytest.fixture
def app(review):
    a = create_app(review, max_upload=200_000, max_pdf=50_000)
    yield a
    a.state.config.store.close()


def _logged_in(name: str):
    """A fixture: a TestClient of ``app`` logged in as ``name``."""

    @pytest.fixture
    def client(app):
        with login(TestClient(app, follow_redirects=False), name) as c:
            yield c

    return client


owner = _logged_in("olga")
ann = _logged_in("ann")
bob = _logged_in("bob")
viewer = _logged_in("vic")
