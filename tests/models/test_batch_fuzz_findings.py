"""Faults a differential fuzz of the batch paths found (session 13): one-study groups in
``meta_batch`` under Knapp-Hartung tests and under the iterative estimators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evsynth


def _frame(n_extra: int) -> pd.DataFrame:
    """Group 0 has one study; ``n_extra`` groups of 3 follow (n_extra >= 2,048 puts the batch
    on the compiled kernels)."""
    rng = np.random.default_rng(5)
    g = np.concatenate([[0], np.repeat(np.arange(1, n_extra + 1), 3)])
    yi = np.concatenate([[0.3], rng.normal(0.2, 0.3, 3 * n_extra)])
    vi = np.concatenate([[0.04], rng.uniform(0.01, 0.1, 3 * n_extra)])
    return pd.DataFrame({"g": g, "yi": yi, "vi": vi})


@pytest.mark.parametrize("n_extra", [2, 2100])
@pytest.mark.parametrize("method", ["REML", "ML", "PM", "EB", "DL", "SJ"])
@pytest.mark.parametrize("test", ["z", "t", "knha", "adhoc"])
def test_one_study_group(n_extra, method, test):
    """k = 1: tau^2 = 0, the SE of its effect sqrt(vi) = 0.2 under every test (knha gave SE 0
    and z = inf: s^2 = RSS / (k - p) had no df), no iterations and the k = 1 note (ML/REML on
    the numpy path ran 100 steps and the bracketing fallback, whose note replaced it)."""
    row = evsynth.meta_batch(_frame(n_extra), "g", method=method, test=test).to_frame().iloc[0]
    assert row["tau2"] == 0.0
    assert row["se"] == pytest.approx(0.2, rel=1e-15)
    assert row["zval"] == pytest.approx(1.5, rel=1e-15)
    assert row["iterations"] == 0
    assert row["note"] == ("k = 1: tau^2 set to 0" if test == "z" else
                           "k = 1: no degrees of freedom for the t distribution")
    assert np.isnan(row["pval"]) == (test != "z")


def test_single_fit_of_one_study_does_not_iterate():
    fit = evsynth.meta([0.3], [0.04], method="REML")
    assert fit.tau2 == 0.0 and fit.se == pytest.approx(0.2, rel=1e-15)
    assert fit.method_info["iterations"] == 0 and fit.method_info["converged"]


DATA = pd.DataFrame({"g": [1, 1, 2, 2], "h": ["a", None, "b", "b"], "yi": [0.3, 0.1, 0.5, 0.2],
                     "vi": [0.04, 0.01, 0.02, 0.03]})


@pytest.mark.parametrize("kw, message", [
    ({"by": []}, r"argument 'by' is \[\]; expected a column name or a list"),
    ({"by": "yi"}, r"column 'yi' is named in both by= and yi="),
    ({"by": ["g", "g"]}, r"column 'g' is named twice in by="),
    ({"by": ["g", "h"]}, r"meta_batch: row 2: group column 'h' is missing"),
    ({"by": "g", "method": "GENQ"}, r"method 'GENQ' needs the study weights.*evsynth\.meta\("),
])
def test_meta_batch_input_errors(kw, message):
    """Inputs the pandas path took silently or answered with a raw ValueError (by=[]); the
    Dask path already refused a column in two roles: one check now (batch.check_columns)."""
    with pytest.raises(evsynth.InputError, match=message):
        evsynth.meta_batch(DATA, **kw)


def test_meta_batch_refuses_duplicate_column_names():
    d = pd.concat([DATA[["g", "yi"]], DATA[["yi", "vi"]]], axis=1)
    with pytest.raises(evsynth.InputError, match="two columns named 'yi'"):
        evsynth.meta_batch(d, "g")


def test_meta_batch_names_rows_once():
    d = DATA.assign(vi=[0.04, 1e-300, 0.02, 1e300])
    with pytest.raises(evsynth.InputError) as err:
        evsynth.meta_batch(d, "g")
    msg = str(err.value)
    assert msg.startswith("meta_batch: row 2 (group {'g': 1}): its sampling variance")
    assert msg.count("meta_batch") == 1 and "than that of row 1 (group {'g': 1})" in msg
