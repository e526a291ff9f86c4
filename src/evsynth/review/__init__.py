"""Review folders: schema and validation, analysis assembly, results.json, the ``run`` pipeline.

The in-memory API (:mod:`evsynth.review.api`): ``load(path) -> Review`` reads and validates
``review.toml``, ``studies.csv`` and ``outcomes.csv``; ``analyse(review, progress=None) ->
ReviewResults`` runs every analysis with GRADE, Summary of Findings, study characteristics and
risk of bias without writing anything; ``ReviewResults.to_dict()`` (results.json),
``.write(out_dir)``, ``.report_html()``, ``.write_docx(path)``. ``validate(path)`` returns a
summary or raises :class:`~evsynth.errors.InputError`; ``run(review_dir, out_dir)`` (``evsynth
run``) is load + analyse + write.

The folder format (arm-based ``outcomes.csv`` with treatment names, multi-arm trials, hazard
ratios and rates, inverse-variance / Mantel-Haenszel / Peto pooling) is documented in
docs/review-folder.md; :mod:`evsynth.review.arms` selects and pairs the arms of a comparison,
:mod:`evsynth.review.pooling` fits the pooling method.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

# The submodule evsynth.review.load is imported first, so that the package attribute ``load``
# below (the function of the in-memory API) is not replaced by the submodule when it is
# imported later (``from evsynth.review.load import ...`` keeps working).
importlib.import_module("evsynth.review.load")

if TYPE_CHECKING:  # pragma: no cover
    from evsynth.review.api import ReviewResults as ReviewResults
    from evsynth.review.load import Review

_LAZY = {
    "Review": "evsynth.review.load",
    "load_review": "evsynth.review.load",
    "validate": "evsynth.review.load",
    "build_analyses": "evsynth.review.analysis",
    "build_results": "evsynth.review.results",
    "write_results_json": "evsynth.review.results",
    "run": "evsynth.review.pipeline",
    "analyse": "evsynth.review.api",
    "ReviewResults": "evsynth.review.api",
}

__all__ = sorted([*_LAZY, "load"])


def load(path: str | Path) -> Review:
    """Read and validate a review folder; see :func:`evsynth.review.api.load`."""
    from evsynth.review.api import load as _load

    return _load(path)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'evsynth.review' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
