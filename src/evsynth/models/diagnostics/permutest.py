"""Permutation tests of the coefficients (metafor ``permutest.rma.uni``; Follmann & Proschan
1999, Biometrics 55:389, doi:10.1111/j.0006-341X.1999.00389.x; Higgins & Thompson 2004, Stat Med
23:1663, doi:10.1002/sim.1752).

Registered for :class:`~evsynth.models.meta.MetaResult` (metafor defines it for ``rma.uni``).
"""

from __future__ import annotations

import numpy as np

from evsynth.errors import InputError
from evsynth.models.diagnostics import register
from evsynth.models.influence import (
    COMPTOL,
    PERM_MAX_EXACT,
    PermutationTest,
    fit_groups,
    multiset_permutations,
    n_multiset_permutations,
    whole_number,
)
from evsynth.models.meta import MetaResult


@register("permutest", MetaResult)
def permutest_rma(fit: MetaResult, exact: bool | None = None, iter: int = 1000,
                  seed: int | None = None) -> PermutationTest:
    """Permutation tests (metafor ``permutest.rma.uni``).

    Intercept-only models: the signs of the effects are flipped (all 2^k sign patterns when
    exact); meta-regressions: the rows of the model matrix are permuted against the effects
    (all k!/prod(c_j!) distinct permutations when exact, c_j = counts of identical rows).
    The test is exact when that number is <= ``iter`` (or ``exact=True``), else ``iter``
    random permutations, the first being the observed data (as metafor; ``exact=False``
    therefore behaves as ``None``, as in metafor). ``seed`` seeds numpy's generator (the
    random draws cannot reproduce R's). Two-sided p-values of each coefficient: the share of
    permutations with |z| >= |z_obs| - sqrt(eps); of the omnibus test: QM >= QM_obs - sqrt(eps)
    (metafor's defaults). Permutations whose model cannot be fitted are left out (metafor
    redraws them in the random case). All refits run as stacked batches.
    """
    iter_ = whole_number(iter, "permutest: iter", 2)
    k = fit.k
    X, y, v = fit.model_matrix, fit.yi, fit.vi
    if fit.int_only:
        n_exact = 2.0**k
    else:
        _, row_codes = np.unique(X, axis=0, return_inverse=True)
        row_codes = np.asarray(row_codes).ravel()
        n_exact = n_multiset_permutations(np.bincount(row_codes))
    use_exact = bool(exact) or n_exact <= iter_
    if use_exact and n_exact > PERM_MAX_EXACT:
        raise InputError(f"permutest: an exact test needs {n_exact:.4g} permutations (more "
                         f"than {PERM_MAX_EXACT}); use exact=None with iter= permutations")
    rng = np.random.default_rng(seed)
    if fit.int_only:
        if use_exact:
            codes = np.arange(2**k, dtype=np.int64)
            signs = np.where((codes[:, None] >> np.arange(k)) & 1, -1.0, 1.0)
        else:
            signs = rng.choice(np.array([-1.0, 1.0]), size=(iter_ - 1, k))

        def build(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            return ((signs[groups] * y[None, :]).ravel(), np.tile(v, groups.size),
                    np.ones((groups.size * k, 1)))

        n = signs.shape[0]
    else:
        if use_exact:
            _, first = np.unique(row_codes, return_index=True)
            perms = first[multiset_permutations(row_codes)]  # rows of X to use
        else:
            perms = np.argsort(rng.random((iter_ - 1, k)), axis=1)

        def build(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            return (np.tile(y, groups.size), np.tile(v, groups.size), X[perms[groups].ravel()])

        n = perms.shape[0]
    btt = fit.btt
    res = fit_groups(fit, np.full(n, k), build, btt=btt)
    zp, bp, qp = res["zval"], res["beta"], res["QM"]
    if not use_exact:  # the observed data count as the first permutation (metafor)
        zp = np.vstack([fit.zval[None, :], zp])
        bp = np.vstack([fit.beta[None, :], bp])
        qp = np.concatenate([[fit.QM], qp])
    with np.errstate(invalid="ignore"):
        okz = ~np.isnan(zp)
        pval = (np.sum((np.abs(zp) >= np.abs(fit.zval)[None, :] - COMPTOL) & okz, axis=0)
                / okz.sum(axis=0))
        okq = ~np.isnan(qp)
        QMp = float(np.sum((qp >= fit.QM - COMPTOL) & okq) / okq.sum())
    pval = np.minimum(pval, 1.0)
    return PermutationTest(
        coef_names=list(fit.coef_names), beta=fit.beta.copy(), se=fit.se.copy(),
        zval=fit.zval.copy(), pval=pval, ci_lb=fit.ci_lb.copy(), ci_ub=fit.ci_ub.copy(),
        QM=fit.QM, QMdf=list(fit.QMdf), QMp=QMp, exact=use_exact, iter=int(zp.shape[0]),
        exact_iter=n_exact, test=fit.test, btt=[int(b) for b in btt],
        zval_perm=zp, beta_perm=bp, QM_perm=qp)
