"""predict(transf=..., targs=..., level=...) and forest(transf=...) with evsynth.transf, against
metafor 3.8-1's predict.rma (fixtures from tests/reference/escalc_more_fixtures.R in
tests/reference/escalc_more/transf/predict_transf.json)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

import evsynth
from evsynth.errors import InputError
from fixture_data import load_fixture

matplotlib.use("Agg")

CASES = load_fixture("escalc_more/transf/predict_transf.json")["cases"]
CTRL = {"threshold": 1e-12, "tol": 1e-12, "maxiter": 1000}


def _fit(case):
    return evsynth.meta(np.array(case["yi"]), np.array(case["vi"]), method=case["method"],
                        test=case["test"], control=CTRL)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_predict_against_metafor(case):
    fit = _fit(case)
    assert fit.tau2 == pytest.approx(case["tau2"], rel=1e-7, abs=1e-12)
    targs = case["targs"]
    if targs is not None and case["transf"] != "ipft.hm" and "tau2" in targs:
        targs = {**targs, "tau2": fit.tau2}  # evsynth's own tau^2, as a user would pass it
    transf = None if case["transf"] is None else case["transf"].replace(".", "_")
    pr = fit.predict(transf=transf, targs=targs, level=case["level"])
    for f in ("pred", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
        assert getattr(pr, f) == pytest.approx(case[f], rel=2e-7, abs=1e-10), f
    if transf is None:
        assert pr.se == pytest.approx(case["se"], rel=1e-7)
    else:
        assert np.isnan(pr.se) and pr.transf == transf.replace("transf_", "")
    assert pr.level == case["level"]


def test_names_functions_and_metafor_spellings_agree():
    case = next(c for c in CASES if c["name"] == "pritz_pft_ipft_hm")
    fit = _fit(case)
    ni = case["targs"]["ni"]
    a = fit.predict(transf="ipft_hm", targs={"ni": ni})
    b = fit.predict(transf=evsynth.transf.ipft_hm, targs={"ni": ni})
    c = fit.predict(transf="transf.ipft.hm", targs={"ni": ni})
    assert a.to_dict() == b.to_dict() == c.to_dict()
    bcg = next(c for c in CASES if c["name"] == "bcg_rr_exp_l90")
    fit = _fit(bcg)
    assert (fit.predict(transf="exp", level=90).to_dict()["ci_lb"]
            == pytest.approx(fit.predict(transf=np.exp, level=90).ci_lb, rel=1e-15))


def test_level_changes_only_the_intervals():
    case = next(c for c in CASES if c["name"] == "bcg_rr_l99")
    fit = _fit(case)
    p95, p99 = fit.predict(), fit.predict(level=99)
    assert p99.pred == p95.pred and p99.se == p95.se
    assert p99.ci_lb < p95.ci_lb and p99.pi_ub > p95.pi_ub
    assert p99.level == 99 and fit.predict(level=0.99).level == 99  # a fraction is accepted
    with pytest.raises(InputError, match="level"):
        fit.predict(level=120)


def test_predict_transf_errors():
    fit = _fit(CASES[0])
    with pytest.raises(InputError, match="unknown transformation transf='ilogitt'"):
        fit.predict(transf="ilogitt")
    with pytest.raises(InputError, match="targs given without transf"):
        fit.predict(targs={"tau2": 0.1})
    with pytest.raises(InputError, match="ni"):
        fit.predict(transf="ipft_hm")


def test_forest_accepts_transf_names():
    case = next(c for c in CASES if c["name"] == "pritz_plo_ilogit")
    fit = _fit(case)
    by_name = evsynth.forest(fit, transf="ilogit")
    by_func = evsynth.forest(fit, transf=evsynth.transf.ilogit)
    assert type(by_name) is type(by_func)
    log_axis = evsynth.forest(_fit(next(c for c in CASES if c["name"] == "bcg_rr_exp_l90")),
                              transf="exp")
    assert log_axis is not None
    with pytest.raises(InputError, match="unknown transformation"):
        evsynth.forest(fit, transf="nope")
