"""Published worked example: Stijnen T, Hamza TH, Ozdemir P (2010). Random effects
meta-analysis of event outcome in the framework of the generalized linear mixed model with
applications in sparse data. Stat Med 29:3046-3067, doi:10.1002/sim.4040.

The values below are the paper's, in the four-decimal form metafor's own analysis example
quotes them (metafor's tests/testthat/test_analysis_example_stijnen2010.r, with the page and
table of each; where the paper prints fewer digits that file notes the printed value). Checked
to the fourth decimal (+-1 unit: estimates, SEs and tau/tau^2 within 1.5e-4), back-transformed
estimates and limits to 0.3%.

Data: dat.nielweise2007 (catheter-related bloodstream infection, 2x2 tables) and
dat.nielweise2008 (person-time per 1,000 days), as written by tests/reference/glmm_fixtures.R.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evsynth

DATA = Path(__file__).parents[1] / "reference" / "data"
D07 = pd.read_csv(DATA / "glmm_nielweise2007.csv")
D08 = pd.read_csv(DATA / "glmm_nielweise2008.csv").assign(
    t1i=lambda d: d["t1i"] / 1000, t2i=lambda d: d["t2i"] / 1000)


def _check(fit, coef, se, tau2, pred, lb, ub, *, tau=False, se_rel=0.0, transf="exp"):
    assert fit.beta[0] == pytest.approx(coef, rel=0, abs=1.5e-4)   # 4 decimals, +-1 unit
    assert fit.se[0] == pytest.approx(se, rel=se_rel, abs=1.5e-4)
    t2 = float(fit.tau2)
    assert (np.sqrt(t2) if tau else t2) == pytest.approx(tau2, rel=0, abs=1.5e-4)
    p = fit.predict(transf=transf)
    got = [float(np.ravel(getattr(p, name))[0]) for name in ("pred", "ci_lb", "ci_ub")]
    assert got == pytest.approx([pred, lb, ub], rel=3e-3, abs=6e-4)


# ---------------------------------------------------------------- Table II, p. 3050 (PLO)
def test_table2_plo_normal_normal():
    _check(evsynth.meta(evsynth.effect_size("PLO", xi=D07["ci"], ni=D07["n2i"])),
           -3.3018, 0.2378, 0.6629, 0.0355, 0.0226, 0.0554, transf="ilogit")
    _check(evsynth.meta(evsynth.effect_size("PLO", xi=D07["ai"], ni=D07["n1i"])),
           -4.2604, 0.2589, 0.3928, 0.0139, 0.0084, 0.0229, transf="ilogit")


def test_table2_plo_binomial_normal():
    _check(evsynth.meta_glmm("PLO", xi=D07["ci"], ni=D07["n2i"]),
           -3.4964, 0.2570, 0.8124, 0.0294, 0.0180, 0.0478, se_rel=0.0, transf="ilogit")
    _check(evsynth.meta_glmm("PLO", xi=D07["ai"], ni=D07["n1i"]),
           -4.8121, 0.3555, 0.8265, 0.0081, 0.0040, 0.0161, se_rel=0.0, transf="ilogit")


# ----------------------------------------------------------------- Table III, p. 3052 (OR)
def test_table3_or_conditional_exact_and_approximate():
    with pytest.warns(UserWarning):
        el = evsynth.meta_glmm("OR", ai=D07["ai"], n1i=D07["n1i"], ci=D07["ci"],
                               n2i=D07["n2i"], model="CM.EL")
    _check(el, -1.3532, 0.3511, 0.8327, 0.2584, 0.1299, 0.5142, tau=True, se_rel=0.0)
    with pytest.warns(UserWarning):
        al = evsynth.meta_glmm("OR", ai=D07["ai"], n1i=D07["n1i"], ci=D07["ci"],
                               n2i=D07["n2i"], model="CM.AL")
    _check(al, -1.3027, 0.3386, 0.7750, 0.2718, 0.1400, 0.5279, tau=True, se_rel=0.0)


# ------------------------------------------------------- Tables VII and VIII, pp. 3054-3055
def test_table7_irln_poisson_normal():
    _check(evsynth.meta_glmm("IRLN", xi=D08["x2i"], ti=D08["t2i"]),
           1.4007, 0.2310, 0.3165, 4.0580, 2.5803, 6.3819, se_rel=0.0)
    _check(evsynth.meta_glmm("IRLN", xi=D08["x1i"], ti=D08["t1i"]),
           0.8494, 0.3303, 0.6543, 2.3383, 1.2240, 4.4670, se_rel=0.0)


def test_table8_irr_conditional():
    _check(evsynth.meta_glmm("IRR", x1i=D08["x1i"], t1i=D08["t1i"], x2i=D08["x2i"],
                             t2i=D08["t2i"], model="CM.EL"),
           -0.4762, 0.2377, 0.3501, 0.6211, 0.3898, 0.9897, tau=True, se_rel=0.0)


def test_normal_normal_or_irln_irr_tables_3_7_8():
    """The normal-normal (rma) rows of Tables III, VII and VIII (pp. 3052-3055)."""
    es = evsynth.effect_size("OR", ai=D07["ai"], n1i=D07["n1i"], ci=D07["ci"], n2i=D07["n2i"],
                             drop00=True)
    es = es[np.isfinite(es["yi"])]
    _check(evsynth.meta(es), -0.9804, 0.2435, 0.1886, 0.3752, 0.2328, 0.6046, tau=True)
    _check(evsynth.meta(evsynth.effect_size("IRLN", xi=D08["x2i"], ti=D08["t2i"])),
           1.4676, 0.2425, 0.3699, 4.3389, 2.6973, 6.9795)
    _check(evsynth.meta(evsynth.effect_size("IRLN", xi=D08["x1i"], ti=D08["t1i"])),
           0.9808, 0.3259, 0.6393, 2.6667, 1.4078, 5.0513)
    _check(evsynth.meta(evsynth.effect_size("IRR", x1i=D08["x1i"], t1i=D08["t1i"],
                                            x2i=D08["x2i"], t2i=D08["t2i"])),
           -0.3963, 0.2268, 0.3060, 0.6728, 0.4314, 1.0494, tau=True)
