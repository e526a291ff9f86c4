"""meta_mv (rma.mv) fits whose maximum lies on the boundary of the parameter space.

With ``struct="UN"`` the maximum can lie on the boundary of the positive semi-definite cone
(a rank-deficient G: correlations at +-1, a variance at 0). evsynth, like metafor's default
``cholesky=TRUE``, optimises the unconstrained Cholesky factor of G, where such a maximum is an
ordinary stationary point, so the fit must converge there, leak no numpy warnings, and reach a
(restricted) log-likelihood at least as high as metafor's ``rma.mv``.

The metafor values come from tests/reference/mv_boundary_fixtures.R (metafor's ``rma.mv`` on
the data built below, written to tests/reference/mv_boundary/data_*.csv; each case fitted as
documented at its test, the best converged attempt of the optimisers named there; for UN,
nlminb, the default optimiser, stops with "did not achieve convergence" on all four fits, so
optim's BFGS and Nelder-Mead at reltol 1e-12 are used).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import evsynth
from fixture_data import REFERENCE, load_fixture


def _random_data(seed: int) -> pd.DataFrame:
    """Random multivariate data, the generator of test_meta_mv_examples'
    test_converges_on_random_data: 3 outcomes in 4 to 12 studies, true variance 0, 0.1^2 or
    0.4^2, and ``time`` 0, 1, 3 within each study (for CAR)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 13))
    study = np.repeat(np.arange(n), 3)
    outcome = np.tile([1, 2, 3], n)
    vi = rng.uniform(0.01, 0.2, 3 * n)
    tau = rng.choice([0.0, 0.1, 0.4])
    yi = rng.normal(0, tau, n)[study] + rng.normal(0, np.sqrt(vi))
    return pd.DataFrame({"yi": yi, "vi": vi, "study": study, "outcome": outcome,
                         "time": np.tile([0.0, 1.0, 3.0], n)})


def _hand_built() -> pd.DataFrame:
    """Two outcomes with the second an exact linear function of the first (0.5 a + 0.1) and
    small equal sampling variances: the true G has rank 1 (correlation +1)."""
    a = np.array([-0.6, -0.3, -0.1, 0.0, 0.15, 0.35, 0.5, 0.8])
    n = a.size
    return pd.DataFrame({"study": np.repeat(np.arange(n), 2),
                         "outcome": np.tile(["math", "verbal"], n),
                         "yi": np.column_stack([a, 0.5 * a + 0.1]).ravel(),
                         "vi": np.full(2 * n, 0.01)})


_CASES = load_fixture("mv_boundary/boundary.json")["cases"]


def _metafor(case: str) -> dict:
    """The fixture values of one case: ``ll``, ``tau2``, ``rho`` (metafor's best attempt)."""
    return _CASES[case]


def _fit(d: pd.DataFrame, method: str, struct: str = "UN") -> evsynth.MetaMVResult:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow / invalid-value RuntimeWarning may leak
        return evsynth.meta_mv("yi", "vi", random="~ outcome | study", struct=struct, data=d,
                               method=method)


@pytest.mark.parametrize("method", ["ML", "REML"])
def test_seed_15917_reaches_the_boundary_maximum(method):
    """Seed 15917 of the hypothesis property test (issue 14): G's maximum is singular."""
    ll_metafor = _metafor(f"un_15917_{method}")["ll"]
    fit = _fit(_random_data(15917), method)
    assert fit.method_info["converged"], fit.method_info
    assert fit.ll >= ll_metafor - 1e-8
    assert np.all(np.isfinite(fit.beta)) and np.all(fit.tau2 >= 0)
    assert np.all(np.abs(fit.rho) <= 1)
    eig = np.linalg.eigvalsh(fit.G)
    assert eig[0] > -1e-10 and eig[0] < 1e-8 * eig[-1]  # rank deficient, not indefinite


@pytest.mark.parametrize("method", ["ML", "REML"])
def test_hand_built_rank_one_G(method):
    ref = _metafor(f"un_hand_{method}")
    ll_metafor, tau2_metafor = ref["ll"], ref["tau2"]
    fit = _fit(_hand_built(), method)
    assert fit.method_info["converged"], fit.method_info
    assert fit.ll >= ll_metafor - 1e-8
    assert fit.rho[0] == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(fit.tau2, tau2_metafor, rtol=1e-4)
    # the fixed effects of a rank-one G: finite, with finite standard errors
    assert np.all(np.isfinite(fit.se)) and np.all(fit.se > 0)


def test_boundary_fit_is_a_maximum():
    """Moving G off the boundary (fixing the components elsewhere) lowers the likelihood."""
    d = _hand_built()
    fit = _fit(d, "REML")
    for rho in (0.9, 0.99):
        alt = evsynth.meta_mv("yi", "vi", random="~ outcome | study", struct="UN", data=d,
                              rho=rho)
        assert alt.ll < fit.ll


@pytest.mark.parametrize(("seed", "struct", "method"), [
    (102, "CS", "REML"),   # a rho = -1 local maximum below the interior one
    (86, "HCS", "REML"),   # all variances near 0 against one at 0, rho = -1
    (49, "HCS", "ML"),     # a variance frozen at 0 too early
])
def test_cs_hcs_leave_a_worse_boundary(seed, struct, method):
    """CS/HCS likelihoods are not concave: a fit first reaching a boundary restarts off it and
    keeps the best maximum (metafor: the best of nlminb, optim BFGS and Nelder-Mead)."""
    ll_metafor = _metafor(f"{struct.lower()}_{seed}_{method}")["ll"]
    fit = _fit(_random_data(seed), method, struct)
    assert fit.method_info["converged"], fit.method_info
    assert fit.ll >= ll_metafor - 1e-6


# CS/HCS: metafor's parameter space (variances >= 0, rho in [-1, 1], G not required to be
# positive semi-definite, the marginal covariance positive definite). The metafor values (fixture
# cases hcs_121_ML, hcs_121_REML, hcs_6_ML) on the data of _random_data(seed):
#   seed 121: rma.mv(yi, vi, random = ~ outcome | study, struct = "HCS", data = d,
#             method = "ML" / "REML")   (nlminb, converged; rho = -1, G indefinite)
#   seed 6:   the same with method = "ML"; nlminb stops with "did not achieve convergence",
#             control = list(optimizer = "optim", optmethod = "Nelder-Mead") gives
#             -2.3420186366 (tau2 0, 0.000932, 2.27e-05; rho 1), optmethod = "BFGS"
#             -2.3423437188. evsynth's maximum is higher (-2.3388724746, rho = -1): metafor's
#             log-likelihood at evsynth's estimates (tau2 = c(0.00021954772901043967,
#             0.0039465776430967475, 0), rho = -1) is -2.3388724746, and Nelder-Mead started
#             there (tau2.init = c(0.0002, 0.004, 0.00001), rho.init = -0.99) stays there.
# Before the KKT check, evsynth reported converged = True at tau2 = (0, tau2_2, 0), rho = -1
# (log-likelihoods -1.487600, -1.809422, -2.342184): on the log(tau^2) scale the derivative of
# a variance at 0 vanishes although the likelihood rises like tau into the interior.

@pytest.mark.parametrize(("seed", "method"), [(121, "ML"), (121, "REML"), (6, "ML")])
def test_hcs_kkt_at_rho_minus_one(seed, method):
    ref = _metafor(f"hcs_{seed}_{method}")
    ll_metafor = ref["ll"]
    tau2_metafor = ref["tau2"] if seed == 121 else None
    d = _random_data(seed)
    fit = _fit(d, method, "HCS")
    assert fit.method_info["converged"], fit.method_info
    assert fit.ll >= ll_metafor - 1e-7
    assert fit.rho[0] == -1.0 and np.all(fit.tau2 >= 0)
    if tau2_metafor is not None:
        np.testing.assert_allclose(fit.tau2, tau2_metafor, rtol=2e-3)
        assert np.linalg.eigvalsh(fit.G)[0] < -1e-3  # G indefinite, as metafor's
    else:
        # higher than metafor's best attempt; metafor's own log-likelihood at these estimates
        assert fit.ll == pytest.approx(ref["ll_at_evsynth"], abs=1e-7)
        assert fit.ll > ll_metafor + 1e-3
    # a maximum: moving any variance into the interior (rho fixed) lowers the likelihood
    for i in range(3):
        t2 = fit.tau2.copy()
        t2[i] += 1e-6
        alt = evsynth.meta_mv("yi", "vi", random="~ outcome | study", struct="HCS", data=d,
                              method=method, tau2=t2, rho=-1)
        assert alt.ll <= fit.ll + 1e-10


def test_cs_unbounded_likelihood_is_not_converged():
    """Seed 35, CS, ML: with rho = -1 the log-likelihood rises without bound as a block of the
    marginal covariance V + G becomes singular; no maximum exists. metafor's nlminb stops there
    (logLik 10.702433, rho -0.959, smallest eigenvalue ratio of a block of M 1.8e-15) and
    reports convergence; its optim BFGS / Nelder-Mead fail. evsynth follows the gradient to the
    wall and reports converged = False with a note."""
    fit = _fit(_random_data(35), "ML", "CS")
    assert not fit.method_info["converged"]
    assert any("no maximum exists" in n for n in fit.method_info["notes"])
    assert fit.ll > 10.0


# The other structures (HAR, AR, CAR, ID, DIAG, and UN/CS/HCS with components fixed by the
# user) on metafor's natural parameter space with the same KKT check. Before, they were
# optimised on the log(tau^2) / atanh(rho) / logit(rho) scale and a component running to a
# bound was frozen there: at tau^2 -> 0 the log-scale derivative tau^2 dl/dtau^2 vanishes
# whatever the sign of dl/dtau^2 (and with G_ab = c tau_a tau_b the likelihood rises like
# tau_a), so fits were reported converged below metafor's maximum. metafor 3.8.1 (R 4.2) on
# the data of _random_data(seed) (CAR: with time = 0, 1, 3 within each study):

def _fit_fixed(d: pd.DataFrame, method: str, struct: str, random: str = "~ outcome | study",
               **fixed) -> evsynth.MetaMVResult:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return evsynth.meta_mv("yi", "vi", random=random, struct=struct, data=d,
                               method=method, **fixed)


#   rma.mv(yi, vi, random = ~ time | study, struct = "CAR", data = d, method = "ML" / "REML")
#   (nlminb, converged; d$time <- rep(c(0, 1, 3), n)). Before: converged = True at tau2 =
#   6.7e-06, rho = 0.0067 (ML -1.717763, REML -2.063887), a restart point never left.
@pytest.mark.parametrize("method", ["ML", "REML"])
def test_car_seed_142_reaches_metafor(method):
    ref = _metafor(f"car_142_{method}")
    ll_metafor, tau2_metafor = ref["ll"], ref["tau2"]
    d = _random_data(142)
    fit = _fit_fixed(d, method, "CAR", "~ time | study")
    assert fit.method_info["converged"], fit.method_info
    assert fit.ll >= ll_metafor - 1e-8
    np.testing.assert_allclose(fit.tau2, [tau2_metafor], rtol=2e-3)
    assert 0 <= fit.rho[0] < 1e-3  # metafor: rho 1.6e-08 (ML), 1.6e-07 (REML): at the bound 0


#   rma.mv(yi, vi, random = ~ outcome | study, struct = "UN", rho = 0.5, data = d,
#          method = "REML", control = list(optimizer = "optim", optmethod = "BFGS",
#          reltol = 1e-12, maxit = 10000))
#   gives -8.4302302878 (tau2 0.00026625, 2.9e-29, 0.0097784); Nelder-Mead -8.4302307127;
#   nlminb stops with "did not achieve convergence" (with cholesky = FALSE: -8.446139).
#   Before: converged = True at tau2 = (7.4e-10, 0, 2.8e-05), -8.446101: the first standard
#   deviation frozen at 0 where the likelihood rises like tau_1 into the interior.
def test_un_fixed_rho_seed_3_standard_deviation_released():
    d = _random_data(3)
    fit = _fit_fixed(d, "REML", "UN", rho=0.5)
    assert fit.method_info["converged"], fit.method_info
    ref = _metafor("un_rho_3_REML")
    assert fit.ll >= ref["ll"] - 1e-8
    np.testing.assert_allclose(fit.tau2[[0, 2]], np.array(ref["tau2"])[[0, 2]], rtol=2e-3)
    assert fit.tau2[1] == 0.0
    # KKT at the bound: moving the zero variance into the interior lowers the likelihood
    alt = _fit_fixed(d, "REML", "UN", rho=0.5, tau2=fit.tau2 + np.array([0, 1e-6, 0]))
    assert alt.ll < fit.ll


#   rma.mv(yi, vi, random = ~ outcome | study, struct = "UN", tau2 = c(NA, 0.01, NA),
#          data = d, method = "ML", control = list(cholesky = FALSE))
#   gives -2.3098980544 (tau2 0.00058831, 0.01, 0.015923; rho 0.12488, -1, -0.78902);
#   the default cholesky = TRUE and optim BFGS/Nelder-Mead -2.3111099034 (rho 0.770,
#   -0.9987, -0.802). Before: converged = True at -2.311935 (two correlations frozen at -1).
def test_un_fixed_variance_seed_7_correlation_released():
    fit = _fit_fixed(_random_data(7), "ML", "UN", tau2=[np.nan, 0.01, np.nan])
    assert fit.method_info["converged"], fit.method_info
    ref = _metafor("un_tau2_7_ML")
    assert fit.ll >= ref["ll"] - 1e-8
    np.testing.assert_allclose(fit.rho, ref["rho"], atol=2e-4)


#   rma.mv(yi, vi, random = ~ outcome | study, struct = "HAR", data = d, method = "ML",
#          control = list(optimizer = "optim", optmethod = ...))   (reltol 1e-12, maxit 1e4)
#   seed 69: Nelder-Mead -1.2014261722 (tau2 0, 0.00470871, 0.00177048; rho -1); BFGS
#            -1.2092570068 (every tau2 ~ 0); nlminb "did not achieve convergence".
#   seed 185: BFGS 2.5599111645 (tau2 3.28e-05, 0.00571473, 4.75e-05; rho -1); nlminb
#            2.5565335471 (tau2 0, 0.0051641, 0; rho -1), Nelder-Mead 2.5574628589.
# Before: converged = True at every tau2 = 0 (seed 69, -1.209257) and at tau2 = (0, 0.00516,
# 0), rho = 1 (seed 185, 2.556534). With one positive variance rho is not identified, and
# the first derivative in tau_1 (2 rho tau_2 dl/dG_12) is positive for rho = -1 only: the
# KKT conditions must hold for every rho.
@pytest.mark.parametrize("seed", [69, 185])
def test_har_zero_variances_released(seed):
    ref = _metafor(f"har_{seed}_ML")
    ll_metafor, tau2_metafor = ref["ll"], ref["tau2"]
    d = _random_data(seed)
    fit = _fit_fixed(d, "ML", "HAR")
    assert fit.method_info["converged"], fit.method_info
    assert fit.ll >= ll_metafor - 1e-8
    assert fit.rho[0] == -1.0
    np.testing.assert_allclose(fit.tau2, tau2_metafor, rtol=5e-3, atol=2e-7)
    for i in range(3):  # a maximum: no variance gains by moving into the interior
        t2 = fit.tau2.copy()
        t2[i] += 1e-6
        alt = _fit_fixed(d, "ML", "HAR", tau2=t2, rho=-1)
        assert alt.ll <= fit.ll + 1e-10


#: the data sets of the fixture script tests/reference/mv_boundary_fixtures.R
FIXTURE_SEEDS = (15917, 102, 86, 49, 121, 6, 142, 3, 7, 69, 185)


def _fixture_frames() -> dict[str, pd.DataFrame]:
    out = {f"seed{s}": _random_data(s) for s in FIXTURE_SEEDS}
    out["hand_built"] = _hand_built()
    return out


def test_fixture_data_are_the_generators() -> None:
    """The CSV files the R script read hold exactly the data these tests fit."""
    for name, frame in _fixture_frames().items():
        saved = pd.read_csv(REFERENCE / "mv_boundary" / f"data_{name}.csv")
        pd.testing.assert_frame_equal(saved, frame, check_exact=True, check_dtype=False)


if __name__ == "__main__":  # python tests/models/test_meta_mv_boundary.py --write-data
    import sys

    if sys.argv[1:] != ["--write-data"]:
        raise SystemExit("usage: python tests/models/test_meta_mv_boundary.py --write-data")
    for name, frame in _fixture_frames().items():
        frame.to_csv(REFERENCE / "mv_boundary" / f"data_{name}.csv", index=False,
                     float_format="%.17g")
