"""Test configuration: the hypothesis profile and the ../shared fixture (paths and fixture
loading live in fixture_data.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from fixture_data import SHARED

# postgres_server / postgres_url fixtures: a throwaway PostgreSQL server for the store tests
pytest_plugins = ["postgres_server"]

# CI machines are small and shared: no per-example deadline, and no failure for slow data generation
settings.register_profile("evsynth", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
# .ci/run: the same examples on every run (seeded by each test's name; no example database), so
# CI's verdict is the rehearsal's; local runs keep exploring new random examples
settings.register_profile("ci", parent=settings.get_profile("evsynth"), derandomize=True,
                          database=None)
settings.load_profile(os.environ.get("EVSYNTH_HYPOTHESIS_PROFILE", "evsynth"))


#: Debian's Chromium, driven by Playwright in the browser tests (.ci/run installs it)
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Debian Chromium (Playwright); skipped with the reason when either is
    missing."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing (Debian package 'chromium'; .ci/run installs "
                    "it)")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is missing (pip install playwright)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.exists():
        pytest.skip("../shared is not present")
    return SHARED
