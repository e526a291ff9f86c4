"""Review folders: schema and validation, analysis assembly, results.json, the ``run`` pipeline.

``load_review(path)`` reads and validates ``review.toml``, ``studies.csv`` and ``outcomes.csv``;
``validate(path)`` returns a summary or raises :class:`~evsynth.errors.InputError`;
``run(review_dir, out_dir)`` writes results.json, forest plots and the reports.

The folder format (arm-based ``outcomes.csv`` with treatment names, multi-arm trials, hazard
ratios and rates, inverse-variance / Mantel-Haenszel / Peto pooling) is documented in
docs/review-folder.md; :mod:`evsynth.review.arms` selects and pairs the arms of a comparison,
:mod:`evsynth.review.pooling` fits the pooling method.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Review": "evsynth.review.load",
    "load_review": "evsynth.review.load",
    "validate": "evsynth.review.load",
    "build_analyses": "evsynth.review.analysis",
    "build_results": "evsynth.review.results",
    "write_results_json": "evsynth.review.results",
    "run": "evsynth.review.pipeline",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'evsynth.review' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
