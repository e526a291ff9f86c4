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


def fit_mh_fixture(dataset: str, fun: str, args: dict, *, warnings_as: str = "error"):
    """The Mantel-Haenszel or Peto fit of an mh fixture case (mh_fixtures.R, mh_diag_fixtures.R):
    ``dataset`` under tests/reference/data, ``fun`` "meta_mh" or "meta_peto", ``args`` the
    fixture's Python keyword arguments; the table columns are found from the data (x1i/x2i/t1i/
    t2i, ai/bi/ci/di or ai/n1i/ci/n2i). Warnings are raised (``"error"``) or ignored."""
    import warnings

    import pandas as pd

    import evsynth

    d = pd.read_csv(REFERENCE / "data" / dataset)
    kw = dict(data=d, slab="study", add=args["add"], to=args["to"], drop00=args["drop00"],
              level=args["level"])
    if "x1i" in d:
        kw.update(x1i="x1i", x2i="x2i", t1i="t1i", t2i="t2i")
    elif "bi" in d:
        kw.update(ai="ai", bi="bi", ci="ci", di="di")
    else:
        kw.update(ai="ai", n1i="n1i", ci="ci", n2i="n2i")
    with warnings.catch_warnings():
        warnings.simplefilter(warnings_as)
        if fun == "meta_mh":
            return evsynth.meta_mh(args["measure"], correct=args["correct"], **kw)
        return evsynth.meta_peto(**kw)


_R_SPECIAL = {"NaN": float("nan"), "Inf": float("inf"), "-Inf": float("-inf")}


def decode_r(x, na=None):
    """R values in fixtures written with jsonlite's ``na = "string"``: "NA" becomes ``na``
    (None: metafor reports no value), "NaN"/"Inf"/"-Inf" floats; dicts and lists recursively."""
    if isinstance(x, dict):
        return {k: decode_r(v, na) for k, v in x.items()}
    if isinstance(x, list):
        return [decode_r(v, na) for v in x]
    if isinstance(x, str):
        if x == "NA":
            return na
        if x in _R_SPECIAL:
            return _R_SPECIAL[x]
    return x


def load_r_group(folder: Path, name: str, na=None) -> dict:
    """One JSON group written by a fixture script (``folder/name.json``), R values decoded."""
    with open(folder / f"{name}.json", encoding="utf-8") as fh:
        return decode_r(json.load(fh), na)


def ragged_batch(seed: int, groups: int, k_max: int, mu: float):
    """A frame of ``groups`` meta-analyses (columns g, yi, vi) of k ~ U{1..k_max-1} studies each:
    vi ~ U(0.01, 0.3), yi ~ N(mu, vi + 0.05)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, k_max, groups)
    v = rng.uniform(0.01, 0.3, int(sizes.sum()))
    y = rng.normal(mu, np.sqrt(v + 0.05))
    return pd.DataFrame({"g": np.repeat(np.arange(groups), sizes), "yi": y, "vi": v})
