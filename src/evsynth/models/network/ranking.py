"""Ranking treatments in a network meta-analysis: P-scores (Rücker & Schwarzer 2015) and rank
probabilities, SUCRA and mean ranks from draws of the estimated treatment effects (Salanti,
Ades & Ioannidis 2011).

References
----------
Rücker G, Schwarzer G (2015). Ranking treatments in frequentist network meta-analysis works
without resampling methods. BMC Med Res Methodol 15:58. doi:10.1186/s12874-015-0060-8
Salanti G, Ades AE, Ioannidis JPA (2011). Graphical methods and numerical summaries for
presenting results from multiple-treatment meta-analysis: an overview and tutorial. J Clin
Epidemiol 64:163-171. doi:10.1016/j.jclinepi.2010.03.016
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import special

from evsynth.errors import InputError
from evsynth.models.network.inconsistency import _matrix, _model
from evsynth.models.results import FrameResult
from evsynth.validation import choice

if TYPE_CHECKING:  # pragma: no cover
    from evsynth.models.network.fit import NetmetaResult

__all__ = ["RankProbabilities", "Ranking", "p_scores", "rank_probabilities"]

_SMALL = ("desirable", "undesirable")


def _small_values(fit: Any, small_values: Any) -> str:
    if small_values is None:
        small_values = getattr(fit, "small_values", "desirable") or "desirable"
    return choice(small_values, _SMALL, "small_values",
                  {"good": "desirable", "bad": "undesirable", "small": "desirable",
                   "large": "undesirable"})


@dataclass(repr=False)
class Ranking(FrameResult):
    """P-scores of the treatments (netmeta ``netrank``).

    ``frame``: one row per treatment, in the fit's treatment order: ``treatment, pscore,
    rank`` (1 = best). ``pmatrix``: P[i, j], the probability-like certainty that treatment i
    is better than j (0.5 on the diagonal is not used).
    """

    frame: pd.DataFrame
    pmatrix: pd.DataFrame
    model: str
    small_values: str
    method_info: dict[str, Any]
    _dict_fields = ("frame", "pmatrix", "model", "small_values", "method_info")

    @property
    def pscore(self) -> pd.Series:
        """P-scores indexed by treatment."""
        return pd.Series(self.frame["pscore"].to_numpy(), index=self.frame["treatment"])

    def summary_text(self) -> str:
        f = self.frame.sort_values("pscore", ascending=False, kind="stable")
        width = max(len(str(t)) for t in f["treatment"])
        head = f"P-score ({self.model})"
        lines = [" " * (width + 1) + head]
        for t, p in zip(f["treatment"], f["pscore"], strict=True):
            lines.append(f"{str(t):<{width}} {p:>{len(head)}.4f}")
        lines.append("")
        lines.append(f"(small values are {self.small_values})")
        return "\n".join(lines)


def p_scores(fit: NetmetaResult, model: str = "random",
             small_values: str | None = None) -> Ranking:
    r"""P-scores (Rücker & Schwarzer 2015; netmeta ``netrank``).

    With :math:`\hat\theta_{ij}` the network estimate of treatment i versus j and
    :math:`s_{ij}` its standard error, the certainty that i is better than j is

    .. math::

        P_{ij} = \Phi\left(\mp \hat\theta_{ij} / s_{ij}\right)

    (minus when small values are desirable), i.e. one minus the one-sided p-value; the
    P-score of i is the mean :math:`\bar P_i = \frac{1}{n-1} \sum_{j \ne i} P_{ij}`. P-scores
    average 0.5 and are the frequentist analogue of SUCRA: the expected SUCRA under the
    normal approximation of the estimates.

    Parameters
    ----------
    fit : NetmetaResult
    model : {"random", "common"}
    small_values : {"desirable", "undesirable"}, optional
        Whether small effects are good (default: the fit's ``small_values``).

    Returns
    -------
    Ranking

    References
    ----------
    Rücker G, Schwarzer G (2015). BMC Med Res Methodol 15:58. doi:10.1186/s12874-015-0060-8
    """
    mod = _model(fit, model)
    sv = _small_values(fit, small_values)
    est = getattr(fit, mod)
    n = len(fit.treatments)
    if n < 2:  # pragma: no cover - a network has two treatments at least
        raise InputError("p_scores: the network needs two treatments at least")
    TE = _matrix(est.TE, n)
    se = _matrix(est.seTE, n)
    sign = -1.0 if sv == "desirable" else 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = sign * TE / se
    P = special.ndtr(z)
    P = np.where(se > 0, P, np.where(sign * TE > 0, 1.0, np.where(sign * TE < 0, 0.0, 0.5)))
    np.fill_diagonal(P, np.nan)
    score = np.nanmean(P, axis=1)
    rank = pd.Series(-score).rank(method="min").to_numpy().astype(int)
    frame = pd.DataFrame({"treatment": list(fit.treatments), "pscore": score, "rank": rank})
    return Ranking(frame=frame,
                   pmatrix=pd.DataFrame(P, index=fit.treatments, columns=fit.treatments),
                   model=mod, small_values=sv,
                   method_info={"method": "P-score (Rücker & Schwarzer 2015)", "model": mod,
                                "small_values": sv})


@dataclass(repr=False)
class RankProbabilities(FrameResult):
    """Rank probabilities, SUCRA and mean ranks from ``nsim`` draws (netmeta ``rankogram``).

    ``frame``: one row per treatment (fit's order): ``treatment, sucra, mean_rank,
    median_rank``. ``probabilities``: treatments x ranks (1 = best), each row and column
    summing to 1; ``cumulative``: their cumulative sums over ranks.
    """

    frame: pd.DataFrame
    probabilities: pd.DataFrame
    cumulative: pd.DataFrame
    nsim: int
    seed: int | None
    model: str
    small_values: str
    method_info: dict[str, Any]
    _dict_fields = ("frame", "probabilities", "nsim", "seed", "model", "small_values",
                    "method_info")

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["probabilities"] = {"treatments": list(self.probabilities.index),
                                "values": self.probabilities.to_numpy().tolist()}
        return out

    @property
    def sucra(self) -> pd.Series:
        """SUCRA indexed by treatment."""
        return pd.Series(self.frame["sucra"].to_numpy(), index=self.frame["treatment"])

    def summary_text(self) -> str:
        lines = [f"Rankogram ({self.model} effects model, {self.nsim} simulations, small "
                 f"values {self.small_values})", "", "Rank probabilities:", ""]
        with pd.option_context("display.width", 200, "display.max_columns", 60):
            lines.append(self.probabilities.round(4).to_string())
            lines += ["", "SUCRA and mean rank:", ""]
            f = self.frame.sort_values("sucra", ascending=False, kind="stable")
            lines.append(f.set_index("treatment")[["sucra", "mean_rank"]].round(4).to_string())
        return "\n".join(lines)


def rank_probabilities(fit: NetmetaResult, nsim: int = 1000, seed: int | None = None,
                       model: str = "random",
                       small_values: str | None = None) -> RankProbabilities:
    r"""Rank probabilities, SUCRA and mean ranks from draws of the treatment effects.

    ``nsim`` vectors of treatment effects versus the reference are drawn from their
    estimated multivariate normal distribution (mean the network estimates, covariance
    :math:`L^+` of the model's weighted Laplacian projected on the contrasts with the
    reference) with a numpy ``Generator`` seeded by ``seed``; in each draw the treatments are
    ranked (1 = best: the smallest effect when small values are desirable). With
    :math:`p_{ir}` the proportion of draws in which treatment i has rank r,

    .. math::

        \mathrm{SUCRA}_i = \frac{1}{n-1} \sum_{r=1}^{n-1} \sum_{s \le r} p_{is}, \qquad
        \bar r_i = \sum_r r\, p_{ir} = 1 + (n - 1)(1 - \mathrm{SUCRA}_i)

    (Salanti, Ades & Ioannidis 2011). As ``nsim`` grows SUCRA converges to the P-score
    (:func:`p_scores`). netmeta's ``rankogram`` draws independent per-treatment effects with
    variances fitted to the comparison variances; here the draws keep the full covariance,
    so results agree with netmeta's only up to simulation error and that approximation.

    Parameters
    ----------
    fit : NetmetaResult
    nsim : int
        Number of draws (>= 1).
    seed : int, optional
        Seed of ``numpy.random.default_rng``.
    model : {"random", "common"}
    small_values : {"desirable", "undesirable"}, optional
        Default: the fit's.

    Returns
    -------
    RankProbabilities

    References
    ----------
    Salanti G, Ades AE, Ioannidis JPA (2011). J Clin Epidemiol 64:163-171.
    doi:10.1016/j.jclinepi.2010.03.016
    Rücker G, Schwarzer G (2015). BMC Med Res Methodol 15:58. doi:10.1186/s12874-015-0060-8
    """
    mod = _model(fit, model)
    sv = _small_values(fit, small_values)
    if isinstance(nsim, bool) or not isinstance(nsim, (int, np.integer)) or nsim < 1:
        raise InputError(f"argument 'nsim' is {nsim!r}; expected a whole number >= 1")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise InputError(f"argument 'seed' is {seed!r}; expected a whole number or None")
    nsim = int(nsim)
    est = getattr(fit, mod)
    n = len(fit.treatments)
    ref = 0
    TE = _matrix(est.TE, n)
    Lp = np.asarray(est.Lplus, dtype=float)
    mean = TE[:, ref]
    # covariance of theta_i - theta_ref
    C = Lp - Lp[:, [ref]] - Lp[[ref], :] + Lp[ref, ref]
    others = np.arange(1, n)
    Cs = C[np.ix_(others, others)]
    Cs = 0.5 * (Cs + Cs.T)
    w, U = np.linalg.eigh(Cs)
    root = U * np.sqrt(np.clip(w, 0.0, None))
    rng = np.random.default_rng(seed)
    draws = np.zeros((nsim, n))
    draws[:, others] = mean[others] + rng.standard_normal((nsim, n - 1)) @ root.T
    if sv == "undesirable":
        draws = -draws
    order = np.argsort(draws, axis=1, kind="stable")
    ranks = np.empty_like(order)
    ranks[np.arange(nsim)[:, None], order] = np.arange(n)
    counts = np.zeros((n, n))
    np.add.at(counts, (np.broadcast_to(np.arange(n), (nsim, n)), ranks), 1.0)
    prob = counts / nsim
    cum = np.cumsum(prob, axis=1)
    sucra = cum[:, :-1].sum(axis=1) / (n - 1) if n > 1 else np.ones(n)
    mean_rank = prob @ np.arange(1, n + 1)
    median_rank = np.argmax(cum >= 0.5 - 1e-12, axis=1) + 1
    cols = [str(r) for r in range(1, n + 1)]
    frame = pd.DataFrame({"treatment": list(fit.treatments), "sucra": sucra,
                          "mean_rank": mean_rank, "median_rank": median_rank})
    return RankProbabilities(
        frame=frame, probabilities=pd.DataFrame(prob, index=fit.treatments, columns=cols),
        cumulative=pd.DataFrame(cum, index=fit.treatments, columns=cols), nsim=nsim,
        seed=None if seed is None else int(seed), model=mod, small_values=sv,
        method_info={"method": "multivariate normal draws of the treatment effects",
                     "model": mod, "small_values": sv, "nsim": nsim,
                     "seed": None if seed is None else int(seed),
                     "generator": "numpy.random.default_rng"})
