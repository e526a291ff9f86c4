"""Test configuration: the hypothesis profile and the ../shared fixture (paths and fixture
loading live in fixture_data.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from fixture_data import SHARED

# postgres_server / postgres_url fixtures: a throwaway PostgreSQL server for the store tests
pytest_plugins = ["postgres_server"]

# CI machines are small and shared: no per-example deadline, and no failure for slow data generation
settings.register_profile("evsynth", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("evsynth")

@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.exists():
        pytest.skip("../shared is not present")
    return SHARED
