"""evsynth: evidence synthesis in Python.

Layers (each imports only from the ones before it):
records -> effects (effect sizes, conversions) -> models -> summaries -> reports/CLI.

Public names are imported lazily so that ``import evsynth`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from evsynth.errors import InputError

if TYPE_CHECKING:
    # What type checkers see: the real objects behind the lazy names below, so that
    # ``evsynth.meta(...)`` is a ``MetaResult`` and not ``Any``. Nothing here runs at import
    # time. tests/test_typing.py checks that this block and ``_LAZY`` name the same objects.
    from evsynth import convert as convert
    from evsynth import records as records
    from evsynth import simulate as simulate
    from evsynth import transf as transf
    from evsynth.effects.escalc import effect_size as effect_size
    from evsynth.effects.vcalc import impute_covariance as impute_covariance
    from evsynth.effects.vcalc import vcalc as vcalc
    from evsynth.models.batch import meta_batch as meta_batch
    from evsynth.models.bias import fsn as fsn
    from evsynth.models.dask_batch import meta_batch_parquet as meta_batch_parquet
    from evsynth.models.diagnostics.forest import forest as forest
    from evsynth.models.glmm import meta_glmm as meta_glmm
    from evsynth.models.meta import meta as meta
    from evsynth.models.mh import meta_mh as meta_mh
    from evsynth.models.mh import meta_peto as meta_peto
    from evsynth.models.multivariate.fit import meta_mv as meta_mv
    from evsynth.models.network.fit import netmeta as netmeta
    from evsynth.models.network.pairwise import pairwise as pairwise
    from evsynth.models.robust import robu as robu
    from evsynth.models.robust import robust as robust

#: public name -> "module:attribute" (attribute None means the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "effect_size": ("evsynth.effects.escalc", "effect_size"),
    "convert": ("evsynth.convert", None),
    "meta": ("evsynth.models.meta", "meta"),
    "meta_mh": ("evsynth.models.mh", "meta_mh"),
    "meta_glmm": ("evsynth.models.glmm", "meta_glmm"),
    "meta_peto": ("evsynth.models.mh", "meta_peto"),
    "meta_mv": ("evsynth.models.multivariate.fit", "meta_mv"),
    "meta_batch": ("evsynth.models.batch", "meta_batch"),
    "netmeta": ("evsynth.models.network.fit", "netmeta"),
    "pairwise": ("evsynth.models.network.pairwise", "pairwise"),
    "meta_batch_parquet": ("evsynth.models.dask_batch", "meta_batch_parquet"),
    "fsn": ("evsynth.models.bias", "fsn"),
    "vcalc": ("evsynth.effects.vcalc", "vcalc"),
    "impute_covariance": ("evsynth.effects.vcalc", "impute_covariance"),
    "robust": ("evsynth.models.robust", "robust"),
    "robu": ("evsynth.models.robust", "robu"),
    "forest": ("evsynth.models.diagnostics.forest", "forest"),
    "records": ("evsynth.records", None),
    "simulate": ("evsynth.simulate", None),
    "transf": ("evsynth.transf", None),
}

__all__ = ["InputError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'evsynth' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
