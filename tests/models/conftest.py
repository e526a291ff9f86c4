"""Fixtures shared by the model tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

#: netmeta's Senn2013 (diabetes, HbA1c mean differences), written by
#: tests/reference/network_fixtures.R; full treatment names as netmeta's treat1.long
SENN_CSV = Path(__file__).parents[1] / "reference" / "network" / "senn2013_pairwise.csv"
SENN_NAMES = {"acar": "Acarbose", "benf": "Benfluorex", "metf": "Metformin",
              "migl": "Miglitol", "piog": "Pioglitazone", "plac": "Placebo",
              "rosi": "Rosiglitazone", "sita": "Sitagliptin", "sulf": "Sulfonylurea",
              "vild": "Vildagliptin"}


@pytest.fixture(scope="session")
def senn():
    """netmeta(TE, seTE, treat1.long, treat2.long, studlab, data = Senn2013, sm = "MD",
    reference.group = "plac") in evsynth."""
    from evsynth.models.network.fit import netmeta

    d = pd.read_csv(SENN_CSV)
    d["treat1"] = d["treat1"].map(SENN_NAMES)
    d["treat2"] = d["treat2"].map(SENN_NAMES)
    return netmeta(data=d, sm="MD", reference="Placebo")
