"""Permutation tests of the coefficients (metafor ``permutest.rma.uni``; Follmann & Proschan
1999, Biometrics 55:389, doi:10.1111/j.0006-341X.1999.00389.x; Higgins & Thompson 2004, Stat Med
23:1663, doi:10.1002/sim.1752).

Registered for :class:`~evsynth.models.meta.MetaResult` (metafor defines it for ``rma.uni``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from evsynth.errors import InputError
from evsynth.models.diagnostics import register
from evsynth.models.influence import (
    COMPTOL,
    PERM_MAX_EXACT,
    Builder,
    PermutationTest,
    fit_groups,
    multiset_permutations,
    n_multiset_permutations,
    whole_number,
)
from evsynth.models.meta import MetaResult
from evsynth.validation import choice

ALTERNATIVES = ("two.sided", "greater", "less")
STATS = ("test", "coef")


@register("permutest", MetaResult)
def permutest_rma(fit: MetaResult, exact: bool | None = None, iter: int = 1000,
                  seed: int | None = None, permci: bool | int | Sequence[int] = False,
                  stat: str = "test", alternative: str = "two.sided",
                  tol: float = 1e-8) -> PermutationTest:
    """Permutation tests (metafor ``permutest.rma.uni``).

    Intercept-only models: the signs of the effects are flipped (all 2^k sign patterns when
    exact); meta-regressions: the rows of the model matrix are permuted against the effects
    (all k!/prod(c_j!) distinct permutations when exact, c_j = counts of identical rows).
    The test is exact when that number is <= ``iter`` (or ``exact=True``), else ``iter``
    random permutations, the first being the observed data (as metafor; ``exact=False``
    therefore behaves as ``None``, as in metafor). ``seed`` seeds numpy's generator (the
    random draws cannot reproduce R's). Two-sided p-values of each coefficient: the share of
    permutations with |s| >= |s_obs| - sqrt(eps), where s is the test statistic
    (``stat="test"``) or the coefficient itself (``stat="coef"``); ``alternative="greater"``
    counts s >= s_obs - sqrt(eps), ``"less"`` s <= s_obs + sqrt(eps); the omnibus test:
    QM >= QM_obs - sqrt(eps) (metafor's defaults). Permutations whose model cannot be fitted
    are left out (metafor redraws them in the random case). All refits run as stacked batches.

    ``permci`` (metafor's ``permci``; True for all coefficients, or 0-based indices): the
    permutation-based CI of beta_j collects the values c for which H0: beta_j = c is not
    rejected. For each c the model is refitted to ``y - c x_j`` and the permutation test of
    that fit is run (same permutations); the lower bound is where the one-sided ("greater")
    p-value crosses alpha/2, the upper where the "less" p-value does, searched (as metafor) in
    ``[ci_lb - (b - ci_lb), b]`` and ``[b, ci_ub + (ci_ub - b)]``. metafor's ``uniroot`` stops
    within eps^0.25 of that jump; evsynth bisects to ``tol``. A bound with no crossing in its
    interval is NaN (metafor's NA), and so are the bounds of coefficients not listed. Random
    permutations are drawn once and reused for every c (common random numbers; metafor draws
    new ones, so its bounds move between calls).
    References: Follmann & Proschan (1999); Higgins & Thompson (2004); Viechtbauer (2010,
    J Stat Softw 36(3), doi:10.18637/jss.v036.i03).
    """
    iter_ = whole_number(iter, "permutest: iter", 2)
    stat = choice(stat, STATS, "stat")
    alternative = choice(alternative, ALTERNATIVES, "alternative")
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
        signs = np.vstack([signs, np.ones((1, k))])  # last: the observed data

        def make_build(yy: np.ndarray) -> Builder:
            def build(groups: np.ndarray) -> tuple[np.ndarray, ...]:
                return ((signs[groups] * yy[None, :]).ravel(), np.tile(v, groups.size),
                        np.ones((groups.size * k, 1)), np.tile(np.arange(k), groups.size))
            return build

        n = signs.shape[0]
    else:
        if use_exact:
            _, first = np.unique(row_codes, return_index=True)
            perms = first[multiset_permutations(row_codes)]  # rows of X to use
        else:
            perms = np.argsort(rng.random((iter_ - 1, k)), axis=1)
        perms = np.vstack([perms, np.arange(k)[None, :]])  # last: the observed data

        def make_build(yy: np.ndarray) -> Builder:
            def build(groups: np.ndarray) -> tuple[np.ndarray, ...]:
                # y, v and the weights stay with the studies, the rows of X move (metafor)
                return (np.tile(yy, groups.size), np.tile(v, groups.size),
                        X[perms[groups].ravel()], np.tile(np.arange(k), groups.size))
            return build

        n = perms.shape[0]
    btt = fit.btt

    def distribution(yy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
        """Permutation statistics (z, b, QM) of the model fitted to ``yy``, and its observed
        ones. Exact: all permutations; random: the observed data first (as metafor), then the
        ``iter - 1`` draws."""
        res = fit_groups(fit, np.full(n, k), make_build(yy), btt=btt)
        zp, bp, qp = res["zval"], res["beta"], res["QM"]
        obs = (zp[-1], bp[-1], qp[-1])
        if use_exact:  # the identity is one of the permutations: drop the appended copy
            return zp[:-1], bp[:-1], qp[:-1], obs
        return np.roll(zp, 1, axis=0), np.roll(bp, 1, axis=0), np.roll(qp, 1), obs

    zp, bp, qp, _ = distribution(y)
    if not use_exact:  # the observed statistics exactly as the fit reports them
        zp[0], bp[0], qp[0] = fit.zval, fit.beta, fit.QM
    dist = zp if stat == "test" else bp
    obs = fit.zval if stat == "test" else fit.beta
    pval = _pvalues(dist, obs, alternative)
    with np.errstate(invalid="ignore"):
        okq = ~np.isnan(qp)
        QMp = float(np.sum((qp >= fit.QM - _tie(fit.QM)) & okq) / okq.sum())
    ci_lb, ci_ub = fit.ci_lb.copy(), fit.ci_ub.copy()
    coefs = _permci_coefs(permci, fit.p)
    if coefs:
        alpha = 1 - fit.level / 100
        n_perm = zp.shape[0]
        if 1 / n_perm > alpha / 2:
            raise InputError(f"permutest: {n_perm} permutations are too few for a "
                             f"{fit.level:g}% permutation-based CI (need at least "
                             f"{int(np.ceil(2 / alpha))}); raise iter or lower the level")
        Xf = np.asarray(X, dtype=float)
        ci_lb, ci_ub = np.full(fit.p, np.nan), np.full(fit.p, np.nan)  # metafor: NA if not asked

        def pfun(val: float, j: int, alt: str) -> float:
            zz, bb, _, (zo, bo, _) = distribution(y - val * Xf[:, j])
            d, o = (zz, zo) if stat == "test" else (bb, bo)
            return float(_pvalues(d, o, alt)[j]) - alpha / 2

        for j in coefs:
            b, lb, ub = float(fit.beta[j]), float(fit.ci_lb[j]), float(fit.ci_ub[j])

            def lower(c: float, j: int = j) -> float:
                return pfun(c, j, "greater")

            def upper(c: float, j: int = j) -> float:
                return pfun(c, j, "less")

            ci_lb[j] = _jump(lower, lb - (b - lb), b, tol)
            ci_ub[j] = _jump(upper, b, ub + (ub - b), tol)
    return PermutationTest(
        coef_names=list(fit.coef_names), beta=fit.beta.copy(), se=fit.se.copy(),
        zval=fit.zval.copy(), pval=pval, ci_lb=ci_lb, ci_ub=ci_ub,
        QM=fit.QM, QMdf=list(fit.QMdf), QMp=QMp, exact=use_exact, iter=int(zp.shape[0]),
        exact_iter=n_exact, test=fit.test, btt=[int(b) for b in btt],
        zval_perm=zp, beta_perm=bp, QM_perm=qp, stat=stat, alternative=alternative,
        permci=[int(j) for j in coefs], level=fit.level)


def _tie(stat: Any) -> Any:
    """The tolerance within which a permuted statistic ties with the observed one: metafor's
    sqrt(eps), relative to the statistic above 1 (a QM of 6e4 computed by two fits differs
    in its last ~1e-12 relative, more than an absolute 1.5e-8: an exact tie could fall either
    way; session 13 fuzz)."""
    return COMPTOL * np.maximum(1.0, np.abs(stat))


def _pvalues(dist: np.ndarray, obs: np.ndarray, alternative: str) -> np.ndarray:
    """Permutation p-values of each coefficient (metafor's definitions, tolerance :func:`_tie`;
    permutations that could not be fitted are left out)."""
    with np.errstate(invalid="ignore"):
        ok = ~np.isnan(dist)
        tol = _tie(obs)[None, :]
        if alternative == "two.sided":
            hit = np.abs(dist) >= np.abs(obs)[None, :] - tol
        elif alternative == "greater":
            hit = dist >= obs[None, :] - tol
        else:
            hit = dist <= obs[None, :] + tol
        return np.minimum(np.sum(hit & ok, axis=0) / ok.sum(axis=0), 1.0)


def _permci_coefs(permci: Any, p: int) -> list[int]:
    """metafor's ``permci``: False, True (all coefficients) or 0-based coefficient indices."""
    if permci is None or permci is False:
        return []
    if permci is True:
        return list(range(p))
    arr = np.atleast_1d(np.asarray(permci))
    if arr.dtype.kind not in "iu" or arr.size == 0 or arr.min() < 0 or arr.max() >= p:
        raise InputError(f"permutest: permci must be True/False or coefficient indices in "
                         f"0..{p - 1} (0-based); got {permci!r}")
    return sorted({int(j) for j in arr})


def _jump(f: Callable[[float], float], a: float, b: float, tol: float) -> float:
    """Where the step function ``f`` changes sign in [a, b], by bisection to ``tol`` (NaN
    when f has the same sign at both ends, as metafor's ``uniroot`` fails)."""
    fa, fb = f(a), f(b)
    if np.isnan(fa) or np.isnan(fb) or (fa < 0) == (fb < 0):
        return np.nan
    while b - a > tol * max(1.0, abs(a), abs(b)):
        m = 0.5 * (a + b)
        fm = f(m)
        if np.isnan(fm):
            return np.nan
        if (fm < 0) == (fa < 0):
            a, fa = m, fm
        else:
            b = m
    return 0.5 * (a + b)
