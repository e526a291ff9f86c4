"""Begg's rank test with many studies (fuzz round 4): the exact Kendall distribution was built
from permutation counts, which pass the double range at n = 171 (171! > 1.8e308): p was NaN
for k >= 171 with numpy's overflow warnings (R's cor.test and metafor's ranktest give NaN
too). The distribution is now built as probabilities; checked here against the exact
distribution in integers (Kendall 1938: the Mahonian numbers)."""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest

import evsynth
from evsynth.models.bias import KENDALL_EXACT_MAX_N, _mahonian, kendall_test


def mahonian_int(n: int) -> list[int]:
    """Permutations of n items by number of inversions, in integers (no rounding)."""
    counts = [1]
    for m in range(2, n + 1):
        new = [0] * (len(counts) + m - 1)
        run = 0
        for j in range(len(new)):
            run += counts[j] if j < len(counts) else 0
            if j - m >= 0:
                run -= counts[j - m]
            new[j] = run
        counts = new
    return counts


def exact_two_sided(x: np.ndarray, y: np.ndarray) -> float:
    """R's exact two-sided p: 2 min(P(T <= q), P(T >= q)) with q the concordant pairs, capped
    at 1, from the integer distribution."""
    n = x.size
    iu = np.triu_indices(n, 1)
    s = int(np.sum(np.sign(x[:, None] - x[None, :])[iu] * np.sign(y[:, None] - y[None, :])[iu]))
    q = (s + n * (n - 1) // 2) // 2  # concordant pairs
    counts = mahonian_int(n)
    total = sum(counts)
    if 2 * q > n * (n - 1) // 2:
        p = Fraction(sum(counts[q:]), total)
    else:
        p = Fraction(sum(counts[:q + 1]), total)
    return float(min(2 * p, Fraction(1)))


@pytest.mark.parametrize("n", [12, 60, 171, 175])
def test_exact_distribution_matches_integers(n):
    weights = _mahonian(n)
    probs = weights / weights.sum()  # counts up to n = 170, probabilities beyond
    counts = mahonian_int(n)
    total = sum(counts)
    ref = np.array([float(Fraction(c, total)) for c in counts])
    big = ref > 1e-300
    # every entry to near machine precision, the far tails included (mirrored)
    np.testing.assert_allclose(probs[big], ref[big], rtol=1e-12 * n)


@pytest.mark.parametrize("n, seed", [(171, 1), (175, 2), (200, 3)])
def test_kendall_p_finite_and_exact_beyond_170(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = 0.15 * x + rng.normal(size=n)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or invalid-value warnings
        tau, p, used = kendall_test(x, y)
    assert used
    assert p == pytest.approx(exact_two_sided(x, y), rel=1e-9)
    # the normal approximation is close at this size (a sanity check of the exact value)
    assert p == pytest.approx(kendall_test(x, y, exact=False)[1], rel=0.05)


def test_ranktest_with_200_studies_gives_a_p_value():
    rng = np.random.default_rng(4)
    vi = rng.uniform(0.01, 0.2, 200)
    yi = rng.normal(0, np.sqrt(vi))
    res = evsynth.meta(yi, vi).ranktest()
    assert np.isfinite(res.pval) and 0 < res.pval <= 1


def test_beyond_the_exact_limit_the_normal_approximation_is_used():
    rng = np.random.default_rng(5)
    n = KENDALL_EXACT_MAX_N + 1
    x, y = rng.normal(size=n), rng.normal(size=n)
    tau, p, used = kendall_test(x, y)
    assert not used
    assert (tau, p) == kendall_test(x, y, exact=False)[:2]
