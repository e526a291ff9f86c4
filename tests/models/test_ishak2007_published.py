"""Ishak et al. (2007) longitudinal meta-analysis, Table 1, reproduced with ``meta_mv``.

Source: Ishak KJ, Platt RW, Joseph L, Hanley JA, Caro JJ (2007). Meta-analysis of longitudinal
studies. *Clinical Trials* 4(5):525-539, doi:10.1177/1740774507083567, **Table 1** (the page
could not be checked here: the paper was not available; its Table 1 values are those quoted,
with the four places where the table differs, in metafor's
tests/testthat/test_analysis_example_ishak2007.r). Data: metadat ``dat.ishak2007`` (46 studies of
deep-brain stimulation, mean change in UPDRS at 3, 6, 12 months and long-term follow-up), long
format with the AR(1) sampling correlation of 0.97 that Ishak et al. estimated
(tests/reference/mv/data_ishak.csv, V_ishak.json; written by tests/reference/mv_fixtures.R).

Two checks per column of Table 1:
* the published values at the table's precision (one decimal): ``round(ours, 1)`` equals the
  table, except where the table itself is inconsistent with its own model (marked below; metafor
  reproduces the same numbers as evsynth there, so the table, not the fit, differs);
* metafor's values to four decimals (rel. 1e-4, metafor's own test tolerance).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evsynth.models.multivariate import meta_mv

REF = Path(__file__).parents[1] / "reference" / "mv"


def _data() -> tuple[pd.DataFrame, np.ndarray]:
    d = pd.read_csv(REF / "data_ishak.csv")
    return d, np.array(json.loads((REF / "V_ishak.json").read_text()))


# column of Table 1 -> (V used, random-effects specification, published coefficients (3, 6, 12
# months, long term), published variance components, published rho, metafor's 4-decimal values)
COLUMNS = {
    "time-specific (independence)": dict(
        V="diag", random="~ C(time) | study", struct="DIAG",
        table_beta=[-24.9, -27.5, -28.5, -24.1], table_var=[23.1, 27.8, 27.7, 29.9],
        metafor_beta=[-24.8686, -27.4728, -28.5239, -24.1415],
        metafor_var=[23.0537, 27.8113, 27.6767, 29.9405]),
    "random study effects": dict(
        V="diag", random="~ 1 | study", struct=None,
        table_beta=[-26.2, -27.2, -28.5, -25.6], table_var=[26.7],
        metafor_beta=[-26.2127, -27.1916, -28.5464, -25.6339], metafor_var=[26.6829]),
    "correlated random time effects": dict(
        V="diag", random="~ time | study", struct="HAR",
        # Table 1 prints -27.5 for 6 months and 20.4 for the 3-month variance; the model gives
        # -27.31 and 20.32 (metafor and evsynth alike)
        table_beta=[-26.0, -27.5, -28.6, -25.8], table_var=[20.4, 36.0, 26.4, 30.1],
        table_rho=1.0, mismatched_beta=[1], mismatched_var=[0],
        metafor_beta=[-25.9578, -27.3100, -28.5543, -25.7923],
        metafor_var=[20.3185, 35.9720, 26.4233, 30.1298], metafor_rho=1.0),
    "multivariate model": dict(
        V="full", random="~ time | study", struct="HAR",
        # Table 1 prints 22.6 and 31.1 for the 3-month and long-term variances; the model gives
        # 22.73 and 31.18 (metafor and evsynth alike)
        table_beta=[-25.9, -27.5, -28.7, -26.5], table_var=[22.6, 33.7, 26.1, 31.1],
        table_rho=0.88, mismatched_var=[0, 3],
        metafor_beta=[-25.9047, -27.4608, -28.6559, -26.4934],
        metafor_var=[22.7258, 33.7295, 26.1426, 31.1803], metafor_rho=0.8832),
}


def _fit(col: dict):
    d, V = _data()
    VV = np.diag(np.diag(V)) if col["V"] == "diag" else V
    kw = {"struct": col["struct"]} if col["struct"] else {}
    return meta_mv(d["yi"].to_numpy(), VV, data=d, mods="~ 0 + C(time)", random=col["random"],
                   method="REML", **kw)


def _variances(fit) -> np.ndarray:
    return np.asarray(fit.tau2 if fit.tau2.size else fit.sigma2, dtype=float)


@pytest.mark.parametrize("name", list(COLUMNS))
def test_table1_published_values(name: str) -> None:
    col = COLUMNS[name]
    fit = _fit(col)
    assert fit.converged
    for what, ours, table, bad in (
            ("beta", np.asarray(fit.beta, float), col["table_beta"],
             col.get("mismatched_beta", [])),
            ("variance", _variances(fit), col["table_var"], col.get("mismatched_var", []))):
        for i, (o, t) in enumerate(zip(ours, table, strict=True)):
            if i in bad:  # the table's misprint: off by at most 0.2 at one decimal
                assert abs(round(o, 1) - t) <= 0.21, (name, what, i, o, t)
            else:
                assert round(o, 1) == pytest.approx(t, abs=1e-9), (name, what, i, o, t)
    if "table_rho" in col:
        assert round(float(fit.rho[0]), 2) == pytest.approx(col["table_rho"], abs=1e-9)


@pytest.mark.parametrize("name", list(COLUMNS))
def test_table1_metafor_four_decimals(name: str) -> None:
    col = COLUMNS[name]
    fit = _fit(col)
    np.testing.assert_allclose(fit.beta, col["metafor_beta"], rtol=1e-4)
    np.testing.assert_allclose(_variances(fit), col["metafor_var"], rtol=1e-4)
    if "metafor_rho" in col:
        np.testing.assert_allclose(fit.rho, [col["metafor_rho"]], rtol=1e-4)
