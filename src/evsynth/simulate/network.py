"""Simulated networks of trials for network meta-analysis (benchmarks and property tests).

Treatment ``t`` has true effect ``d_t ~ N(0, 0.5^2)`` versus treatment 0 (``d_0 = 0``). Each
trial compares 2 arms, or ``3 .. max_arms`` arms with probability ``p_multiarm``; its
treatments are drawn at random, except that the first ``n_treatments - 1`` trials link each
treatment to one already in the network (a random spanning tree), so the network is
connected. Trial ``i`` has a random effect per arm ``delta_ia ~ N(d_a, tau^2 / 2)``
(homogeneous variance: every contrast has heterogeneity variance ``tau^2`` and contrasts with
a shared arm correlate ``1/2``; Higgins & Whitehead 1996, Stat Med 15:2733,
doi:10.1002/(SICI)1097-0258(19961230)15:24<2733::AID-SIM562>3.0.CO;2-0); arm ``a`` of trial
``i`` has ``n_ia`` participants (uniform 20..200) and an observed mean ``N(delta_ia, sigma^2 /
n_ia)`` with ``sigma = 1``. The comparisons are the mean differences of every pair of arms
(:func:`evsynth.pairwise` with ``measure="GEN"``), so multi-arm trials carry the correct
within-trial covariance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def network_data(n_treatments: int, n_studies: int, *, p_multiarm: float = 0.15,
                 max_arms: int = 4, tau: float = 0.2, seed: int = 0) -> pd.DataFrame:
    """Comparisons of a simulated connected network (columns ``studlab, treat1, treat2, TE,
    seTE, n1, n2``; treatments ``T01, T02, ...``), reproducible from ``seed``."""
    if n_treatments < 2 or n_studies < n_treatments - 1:
        raise ValueError("need at least 2 treatments and n_treatments - 1 studies to connect "
                         "them")
    rng = np.random.default_rng(seed)
    d = np.concatenate([[0.0], rng.normal(0.0, 0.5, n_treatments - 1)])
    order = rng.permutation(n_treatments)
    studies: list[list[int]] = []
    for j in range(1, n_treatments):  # spanning tree: connect order[j] to an earlier node
        studies.append([int(order[j]), int(order[rng.integers(0, j)])])
    for _ in range(n_studies - len(studies)):
        k = 2
        if rng.random() < p_multiarm:
            k = int(rng.integers(3, max(3, max_arms) + 1))
        studies.append(rng.choice(n_treatments, size=min(k, n_treatments),
                                  replace=False).tolist())
    names = [f"T{t + 1:0{len(str(n_treatments))}d}" for t in range(n_treatments)]
    rows_study: list[str] = []
    rows_treat: list[str] = []
    rows_mean: list[float] = []
    rows_se: list[float] = []
    rows_n: list[int] = []
    for i, arms in enumerate(studies):
        delta = rng.normal(d[arms], tau / np.sqrt(2))
        n = rng.integers(20, 201, size=len(arms))
        mean = rng.normal(delta, 1.0 / np.sqrt(n))
        for a, t in enumerate(arms):
            rows_study.append(f"study{i + 1:04d}")
            rows_treat.append(names[t])
            rows_mean.append(float(mean[a]))
            rows_se.append(float(1.0 / np.sqrt(n[a])))
            rows_n.append(int(n[a]))
    from evsynth.models.network.pairwise import pairwise

    arms_frame = pd.DataFrame({"study": rows_study, "treat": rows_treat, "mean": rows_mean,
                               "se": rows_se, "n": rows_n})
    return pairwise("GEN", treat="treat", studlab="study", TE="mean", seTE="se", n="n",
                    data=arms_frame)
