"""Multilevel and multivariate meta-analysis (metafor's ``rma.mv``): :func:`meta_mv`."""

from evsynth.models.multivariate.fit import meta_mv
from evsynth.models.multivariate.result import MetaMVResult

__all__ = ["MetaMVResult", "meta_mv"]
