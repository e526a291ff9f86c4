"""blup() and ranef() (metafor blup.rma.uni, ranef.rma.uni).

Reference values: tests/reference/diag_extra_fixtures.R (metafor 3.8.1, tight control).
Independent check: for the BCG vaccine trials (dat.bcg, log risk ratios, REML) the BLUP of
each trial equals the mean of the normal posterior of theta_i given y_i and the estimated
mu and tau^2 (Raudenbush & Bryk 1985, J Educ Stat 10:75, eq. 7: shrinkage
tau^2 / (tau^2 + v_i)), and blup = fitted + ranef (Viechtbauer 2010, J Stat Softw 36(3)).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose
from test_residuals import dataset, fit_case, load_cases, num

import evsynth
from evsynth.errors import InputError

UNI = load_cases("residuals_uni")


@pytest.mark.parametrize("case", UNI, ids=lambda c: f"{c['data']}-{c['method']}-{c['test']}-"
                         f"{c['mods']}")
def test_blup_ranef_match_metafor(case):
    fit = fit_case(case)
    for name, res in (("blup", fit.blup()), ("ranef", fit.ranef()),
                      ("blup90", fit.blup(level=90))):
        ref = case[name]
        for col in ("pred", "se", "pi_lb", "pi_ub"):
            assert_allclose(getattr(res, col), num(ref[col]), rtol=1e-6, atol=1e-10,
                            err_msg=f"{name} {col}")


def test_blup_is_the_posterior_mean_and_fitted_plus_ranef():
    d = dataset("bcg")
    fit = evsynth.meta("yi", "vi", data=d, slab="study")
    b = fit.blup()
    shrink = fit.tau2 / (fit.tau2 + d.vi.to_numpy())
    assert_allclose(b.pred, shrink * d.yi + (1 - shrink) * fit.estimate, rtol=1e-12)
    assert_allclose(b.pred, fit.fitted().value + fit.ranef().pred, rtol=1e-12)
    # equal effects: no random effects, the BLUP is the pooled estimate
    ee = evsynth.meta("yi", "vi", data=d, method="EE")
    assert np.all(ee.ranef().pred == 0) and np.all(ee.ranef().se == 0)
    assert_allclose(ee.blup().pred, ee.estimate)


def test_transf_contract_and_errors():
    d = dataset("bcg")
    fit = evsynth.meta("yi", "vi", data=d, slab="study")
    t = fit.blup(transf=np.exp)
    b = fit.blup()
    assert_allclose(t.pred, np.exp(b.pred))
    assert np.all(np.isnan(t.se)) and t.transf == "exp"
    assert list(b.to_frame().columns) == ["slab", "pred", "se", "pi_lb", "pi_ub"]
    json.dumps(t.to_dict(), allow_nan=False)
    assert "BLUPs of the true effects" in str(b.summary())
    assert b.level == 95 and fit.blup(level=0.9).level == 90
    with pytest.raises(InputError, match="level"):
        fit.blup(level=120)
    assert_allclose(fit.blup(transf="exp").pred, t.pred)
    assert_allclose(fit.blup(transf="exp_int", targs={"tau2": fit.tau2}).pred,
                    np.exp(b.pred + fit.tau2 / 2), rtol=1e-6)
    with pytest.raises(InputError, match="transf"):
        fit.ranef(transf="no_such_function")
    assert "blup" not in evsynth.meta_mh("OR", ai=d.tpos, bi=d.tneg, ci=d.cpos,
                                         di=d.cneg).supports()
