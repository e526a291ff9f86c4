"""Records layer: import literature-database exports and find duplicate records.

Public names: :func:`read` (any supported export -> normalised DataFrame, see
:data:`RECORD_COLUMNS`), :func:`deduplicate`, :func:`merge_duplicates`; the review store
(:class:`Store`), screening agreement (:func:`cohen_kappa`), the PRISMA 2020 flow diagram
(:func:`prisma_counts`, :func:`prisma_diagram`), search strategies and the PubMed query builder
(:class:`SearchStrategy`, :class:`Concept`, :func:`build_query`) and the E-utilities client.
Heavy submodules are imported lazily.

Functions
---------
read, sniff_format
    Read RIS, MEDLINE, PubMed XML, Web of Science, BibTeX, CSV, EndNote XML and Ovid exports.
deduplicate, merge_duplicates
    Find duplicate records and keep one per group.
cohen_kappa
    Agreement of two screeners.
prisma_counts, prisma_diagram
    The PRISMA 2020 flow diagram from the review store.
build_query, cochrane_rct_filter
    PubMed queries from search concepts.

References
----------
.. [1] Page MJ, McKenzie JE, Bossuyt PM, et al. (2021). The PRISMA 2020 statement: an
       updated guideline for reporting systematic reviews. *BMJ* 372:n71.
       doi:10.1136/bmj.n71
.. [2] Cohen J (1960). A coefficient of agreement for nominal scales. *Educ Psychol Meas*
       20(1):37-46. doi:10.1177/001316446002000104

Examples
--------
>>> import pandas as pd
>>> from evsynth import records
>>> df = pd.DataFrame({"record_id": ["r1", "r2"],
...                    "title": ["BCG vaccination against tuberculosis",
...                              "BCG Vaccination Against Tuberculosis."],
...                    "year": [1948, 1948]})
>>> len(records.merge_duplicates(records.deduplicate(df)))
1
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # The real objects behind the lazy names, for type checkers only (never run);
    # tests/test_typing.py checks that this block and ``_LAZY`` agree.
    from evsynth.records.dedup import deduplicate as deduplicate
    from evsynth.records.dedup import merge_duplicates as merge_duplicates
    from evsynth.records.eutils import EutilsClient as EutilsClient
    from evsynth.records.io import FORMATS as FORMATS
    from evsynth.records.io import read as read
    from evsynth.records.io import sniff_format as sniff_format
    from evsynth.records.model import RECORD_COLUMNS as RECORD_COLUMNS
    from evsynth.records.model import empty_records as empty_records
    from evsynth.records.prisma import prisma_counts as prisma_counts
    from evsynth.records.prisma import prisma_diagram as prisma_diagram
    from evsynth.records.screening import cohen_kappa as cohen_kappa
    from evsynth.records.search import Concept as Concept
    from evsynth.records.search import PubMedQuery as PubMedQuery
    from evsynth.records.search import SearchStrategy as SearchStrategy
    from evsynth.records.search import build_query as build_query
    from evsynth.records.search import cochrane_rct_filter as cochrane_rct_filter
    from evsynth.records.search import load_strategies as load_strategies
    from evsynth.records.store import Store as Store

# lazy too (pandas): reading review.toml's [[search]]/[screening] through
# evsynth.records.settings must not load pandas (`evsynth validate` stays light)
_LAZY: dict[str, tuple[str, str]] = {
    "RECORD_COLUMNS": ("evsynth.records.model", "RECORD_COLUMNS"),
    "empty_records": ("evsynth.records.model", "empty_records"),
    "read": ("evsynth.records.io", "read"),
    "sniff_format": ("evsynth.records.io", "sniff_format"),
    "FORMATS": ("evsynth.records.io", "FORMATS"),
    "deduplicate": ("evsynth.records.dedup", "deduplicate"),
    "merge_duplicates": ("evsynth.records.dedup", "merge_duplicates"),
    "Store": ("evsynth.records.store", "Store"),
    "prisma_counts": ("evsynth.records.prisma", "prisma_counts"),
    "prisma_diagram": ("evsynth.records.prisma", "prisma_diagram"),
    "cohen_kappa": ("evsynth.records.screening", "cohen_kappa"),
    "SearchStrategy": ("evsynth.records.search", "SearchStrategy"),
    "load_strategies": ("evsynth.records.search", "load_strategies"),
    "Concept": ("evsynth.records.search", "Concept"),
    "PubMedQuery": ("evsynth.records.search", "PubMedQuery"),
    "build_query": ("evsynth.records.search", "build_query"),
    "cochrane_rct_filter": ("evsynth.records.search", "cochrane_rct_filter"),
    "EutilsClient": ("evsynth.records.eutils", "EutilsClient"),
}

__all__ = [*_LAZY]


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'evsynth.records' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
