"""Paths to the reference fixtures and to ../shared data (importable by test modules; conftest
modules are not, as several folders have one)."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "tests" / "reference"
SHARED = REPO.parent / "shared"


def load_fixture(relpath: str):
    """Load a JSON fixture written by an R script under tests/reference/."""
    with open(REFERENCE / relpath, encoding="utf-8") as fh:
        return json.load(fh)
