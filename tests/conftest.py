"""Shared test helpers: paths to reference fixtures and to ../shared data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# CI machines are small and shared: no per-example deadline, and no failure for slow data generation
settings.register_profile("evsynth", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("evsynth")

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "tests" / "reference"
SHARED = REPO.parent / "shared"


def load_fixture(relpath: str):
    """Load a JSON fixture written by an R script under tests/reference/."""
    with open(REFERENCE / relpath, encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.exists():
        pytest.skip("../shared is not present")
    return SHARED
