"""Fixtures of the review-pipeline tests (helpers live in review_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from review_helpers import make_review


@pytest.fixture
def review_dir(tmp_path: Path) -> Path:
    return make_review(tmp_path / "review")
