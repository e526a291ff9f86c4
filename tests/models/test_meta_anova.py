"""``fit.anova(...)``: linear combinations ``L beta`` with each one's estimate, SE, z/t and
p-value and the joint test (metafor 3.8.1 ``anova.rma`` with ``X``/``L`` and ``rhs``), and the
comparison of two fits: the likelihood-ratio test for fits with a likelihood, refused for DL, EB,
PM, HE, SJ, ... fits, which are compared by ``test="Wald"`` with the pseudo-R^2 and both tau^2
that metafor reports (fixtures: tests/reference/uni_extra_fixtures.R, anova_L.json and
anova_compare.json).

Deliberate difference: metafor computes an "LRT" between two DL (or EB, PM, ...) fits from their
ML log-likelihoods at tau^2 values that do not maximise them, with a warning ("LRTs should be
based on ML/REML estimation"); evsynth refuses it and names the fits that can be compared.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import evsynth
from evsynth.errors import InputError
from fixture_data import load_r_group

REF = Path(__file__).resolve().parents[1] / "reference"
UNI = REF / "uni_extra"
DATA = REF / "data"
@cache
def _group(name: str) -> dict:
    return load_r_group(UNI, name, na=None)


@cache
def _bcg() -> pd.DataFrame:
    return pd.read_csv(DATA / "rma_bcg.csv")


def _meta(mods, method, test="z"):
    d = _bcg()
    kw = {"mods": mods, "data": d} if mods else {}
    return evsynth.meta("yi", "vi", data=d, method=method, test=test, control={"tol": 1e-12},
                        **{k: v for k, v in kw.items() if k != "data"})


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"])
                                  for c in _group("anova_L")["cases"]])
def test_linear_combinations_match_metafor(case):
    a = case["args"]
    fit = _meta(a["mods"], a["method"], a["test"])
    L = np.asarray(a["L"], dtype=float).reshape(np.size(case["result"]["se"]), -1)
    res = fit.anova(L=L, rhs=a["rhs"])
    r = case["result"]
    assert res.kind == "Wald.L"
    assert_allclose(res.estimate, r["Xb"], rtol=1e-6, atol=1e-10)
    assert_allclose(res.se, r["se"], rtol=1e-6)
    assert_allclose(res.zval, r["zval"], rtol=1e-6)
    assert_allclose(res.pvals, r["pval"], rtol=1e-6, atol=1e-14)
    if r["QM"] is None:  # L not of full row rank: no joint test, as metafor
        assert math.isnan(res.QM) and res.notes
    else:
        assert_allclose(res.QM, r["QM"], rtol=1e-6)
        assert_allclose(res.QMp, r["QMp"], rtol=1e-6, atol=1e-14)
        expect_df = r["QMdf"][0] if a["test"] == "z" else [r["QMdf"][0], int(r["QMdf"][1])]
        assert res.QMdf == expect_df
    frame = res.to_frame()
    assert list(frame.columns) == ["hypothesis", "estimate", "se", "statistic", "pval", "ci_lb",
                                   "ci_ub"]
    crit = fit._crit(fit.level / 100)
    assert_allclose(frame["ci_lb"], res.estimate - crit * res.se)
    json.dumps(res.to_dict(), allow_nan=False)
    assert "Hypotheses" in str(res.summary())


def test_L_without_intercept_column_gets_one():
    fit = _meta("~ ablat", "REML")
    a = fit.anova(L=[[20.0], [40.0]])
    b = fit.anova(L=[[1.0, 20.0], [1.0, 40.0]])
    assert_allclose(a.estimate, b.estimate)
    assert_allclose(a.estimate, fit.predict(newmods=[20.0, 40.0]).pred)
    assert_allclose(a.se, fit.predict(newmods=[20.0, 40.0]).se)


def test_X_alias_and_bad_L():
    fit = _meta("~ ablat + year", "REML")
    assert_allclose(fit.anova(X=[0, 1, 0]).estimate, fit.beta[1:2])
    with pytest.raises(InputError, match="not both"):
        fit.anova(L=[0, 1, 0], X=[0, 1, 0])
    with pytest.raises(InputError, match="3 columns"):
        fit.anova(L=[[1, 2, 3, 4]])
    with pytest.raises(InputError, match="rhs"):
        fit.anova(L=[[0, 1, 0], [0, 0, 1]], rhs=[1, 2, 3])
    with pytest.raises(InputError, match="numeric"):
        fit.anova(L=[["a", "b", "c"]])


def test_btt_with_rhs():
    fit = _meta("~ ablat", "REML")
    res = fit.anova(btt=[1], rhs=-0.03)
    assert_allclose(res.QM, ((fit.beta[1] + 0.03) / fit.se[1]) ** 2, rtol=1e-12)


CMP = [pytest.param(c, id=c["id"]) for c in _group("anova_compare")["cases"]]


def _pair(case):
    a = case["args"]
    full = _meta(a["full"], a["method"])
    red = _meta(a.get("reduced"), a.get("reduced_method", a["method"]))
    return full, red


@pytest.mark.parametrize("case", CMP)
def test_model_comparison_matches_metafor(case):
    full, red = _pair(case)
    r = case["result"]
    likelihood = full.method in ("ML", "REML", "FE") and red.method in ("ML", "REML", "FE")
    if likelihood:
        for one, other in ((full, red), (red, full)):
            res = one.anova(other)
            assert_allclose(res.LRT, r["LRT"], rtol=1e-6, atol=1e-8)
            assert_allclose(res.R2, r["R2"], rtol=1e-6, atol=1e-8)
            assert_allclose([res.QE_full, res.QE_reduced], [r["QE_full"], r["QE_reduced"]],
                            rtol=1e-8)
            assert_allclose([res.tau2_full, res.tau2_reduced],
                            [r["tau2_full"], r["tau2_reduced"]], rtol=1e-6, atol=1e-10)
            if r.get("pval") is not None:
                assert_allclose(res.pval, r["pval"], rtol=1e-6)
    else:  # no likelihood: the LRT is refused with a message saying what can be compared
        assert any("ML/REML" in w for w in case["warnings"])  # metafor only warns
        with pytest.raises(InputError, match=r"needs two fits with a likelihood.*ML.*"
                                             r"test='Wald'"):
            full.anova(red)
    if "QM" not in r:
        return
    res = red.anova(full, test="wald")  # metafor anova(full, reduced, test = "Wald")
    assert res.kind == "Wald"
    assert_allclose(res.QM, r["QM"], rtol=1e-6)
    assert_allclose(res.QMp, r["QMp"], rtol=1e-6, atol=1e-14)
    assert_allclose(res.R2, r["R2"], rtol=1e-6, atol=1e-8)
    assert_allclose([res.tau2_full, res.tau2_reduced], [r["tau2_full"], r["tau2_reduced"]],
                    rtol=1e-6, atol=1e-10)
    assert "pseudo-R^2" in str(res.summary())
    json.dumps(res.to_dict(), allow_nan=False)


def test_lrt_refusal_names_the_fits():
    a, b = _meta("~ ablat", "DL"), _meta(None, "DL")
    with pytest.raises(InputError) as exc:
        a.anova(b)
    msg = str(exc.value)
    assert "DL is not" in msg and "two ML fits, two REML fits" in msg


def test_lrt_rules():
    with pytest.raises(InputError, match="not nested"):
        _meta("~ ablat + year", "FE").anova(_meta(None, "REML"))  # FE full, RE reduced
    with pytest.raises(InputError, match="same method"):
        _meta("~ ablat", "ML").anova(_meta(None, "REML"))
    with pytest.raises(InputError, match="same number of parameters"):
        _meta("~ ablat", "ML").anova(_meta("~ year", "ML"))
    res = _meta("~ ablat", "REML").anova(_meta(None, "REML"))
    assert res.notes and "ML" in res.notes[0]  # metafor's warning, kept as a note
    with pytest.raises(InputError, match="'LRT' or 'Wald'"):
        _meta("~ ablat", "ML").anova(_meta(None, "ML"), test="F")
    with pytest.raises(InputError, match="comparison of two fits"):
        _meta("~ ablat", "ML").anova(test="Wald")


def test_wald_comparison_refuses_names_that_hold_different_moderators():
    """Unnamed moderators are mod1, mod2, ... in every fit: a reduced model whose mod1 is the
    full model's second column was matched to the wrong coefficient and gave a wrong test
    without a word (session 13 fuzz). The columns behind each matched name must agree."""
    rng = np.random.default_rng(2)
    x1, x2 = rng.normal(size=12), rng.normal(size=12)
    yi, vi = 0.2 + 0.3 * x1 + rng.normal(0, 0.2, 12), rng.uniform(0.01, 0.05, 12)
    full = evsynth.meta(yi, vi, mods=np.column_stack([x1, x2]), method="DL")
    with pytest.raises(InputError, match="coefficient 'mod1' holds different values"):
        full.anova(evsynth.meta(yi, vi, mods=x2, method="DL"), test="Wald")
    same = full.anova(evsynth.meta(yi, vi, mods=x1, method="DL"), test="Wald")
    assert same.QM == pytest.approx(full.anova(btt=[2]).QM, rel=1e-15)


def test_wald_comparison_rules():
    with pytest.raises(InputError, match="same method"):
        _meta("~ ablat", "DL").anova(_meta(None, "PM"), test="Wald")
    with pytest.raises(InputError, match="not have"):
        _meta("~ C(alloc) + ablat", "DL").anova(_meta("~ year", "DL"), test="Wald")
