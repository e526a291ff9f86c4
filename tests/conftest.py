"""Shared test helpers: paths to reference fixtures and to ../shared data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
