"""Frequentist network meta-analysis (R's netmeta): :func:`netmeta` and :class:`NetmetaResult`.

The graph-theoretical approach of Rücker (2012): with the m x n edge-vertex incidence matrix
``B`` of the pairwise comparisons, their (multi-arm adjusted) weights ``W`` and observed
effects ``y``, the weighted Laplacian is ``L = B' W B``, its pseudoinverse ``L+`` gives the
treatment "potentials" ``theta = L+ B' W y``, the network estimate of every pair
``theta_a - theta_b`` with variance ``L+_aa + L+_bb - 2 L+_ab``, the fitted comparisons
``B theta = H y`` with the hat matrix ``H = B L+ B' W``, and Cochran's ``Q = (y - H y)' W
(y - H y)`` on ``sum_studies (arms - 1) - (n - 1)`` degrees of freedom. This weighted least
squares solution equals the multivariate GLS (contrast-based) model with the within-study
covariances of multi-arm trials (Rücker & Schwarzer 2014).

References
----------
Rücker G (2012). Network meta-analysis, electrical networks and graph theory. Res Synth Methods
3:312-324. doi:10.1002/jrsm.1058
Rücker G, Schwarzer G (2014). Reduce dimension or reduce weights? Stat Med 33:4353-4369.
doi:10.1002/sim.6236
Jackson D, White IR, Riley RD (2012). Quantifying the impact of between-study heterogeneity in
multivariate meta-analyses. Stat Med 31:3805-3820. doi:10.1002/sim.5453 (the generalised
DerSimonian-Laird estimator)
Higgins JPT, Thompson SG (2002). Quantifying heterogeneity in a meta-analysis. Stat Med
21:1539-1558. doi:10.1002/sim.1186 (I^2 and its confidence interval)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import special

from evsynth._lazy import LazyModule
from evsynth.errors import InputError
from evsynth.models.engine import chi2_upper
from evsynth.models.network._graph import (
    connected_components,
    grounded_inverse,
    incidence,
    multiarm_variances,
    r_sort_key,
    resistance,
)
from evsynth.models.results import FittedModel, FrameResult, ResultMixin, fmt_p
from evsynth.validation import (
    as_frame,
    choice,
    label_vector,
    level_fraction,
    level_percent,
    numeric_vector,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

    from evsynth.models.network.contribution import ContributionMatrix
    from evsynth.models.network.inconsistency import DesignDecomposition, NetHeat, NetSplit
    from evsynth.models.network.ranking import Ranking, RankProbabilities
    from evsynth.reports.network_plots import LeagueTable
else:
    pd = LazyModule("pandas")

#: ratio measures: estimates are on the log scale and are shown exponentiated
RATIO_MEASURES = ("OR", "RR", "HR", "IRR", "ROM")


def i2_higgins_thompson(Q: float, df: int, level: float) -> tuple[float, float, float, float]:
    """``H``, ``I^2`` and the ``level`` (fraction) CI of ``I^2`` from ``Q`` on ``df`` degrees of
    freedom, by the test-based interval for ``log H`` (Higgins & Thompson 2002, appendix; as
    meta's and netmeta's ``isquared``): ``se(log H) = (log Q - log df) / (2 (sqrt(2Q) -
    sqrt(2 df - 1)))`` when ``Q > df + 1``, else ``sqrt(1 / (2 (df - 1)) (1 - 1 / (3 (df -
    1)^2)))``; ``I^2 = (H^2 - 1) / H^2`` with ``H`` and its limits bounded below by 1.
    NaN where undefined (``df < 1``; the CI also for ``df = 1`` with ``Q <= 2``)."""
    if df < 1:
        return (math.nan,) * 4
    k = df + 1
    H = math.sqrt(Q / df)
    if Q > k:
        se = 0.5 * (math.log(Q) - math.log(k - 1)) / (math.sqrt(2 * Q) - math.sqrt(2 * k - 3))
    elif k > 2:
        se = math.sqrt(1 / (2 * (k - 2)) * (1 - 1 / (3 * (k - 2) ** 2)))
    else:
        se = math.nan
    z = z_critical(level)
    logh = math.log(max(H, 1.0))

    def i2(h: float) -> float:
        h = max(h, 1.0)
        return (h * h - 1) / (h * h)

    return H, i2(H), i2(math.exp(logh - z * se)), i2(math.exp(logh + z * se))


@dataclass(repr=False)
class NetworkEstimates(ResultMixin):
    """The estimates of one network model (common or random effects) for every treatment pair.

    The n x n DataFrames are indexed by treatment (rows and columns); ``TE.loc[a, b]`` is the
    effect of ``a`` versus ``b`` (netmeta's ``TE.common[a, b]``), on the analysis scale (log
    scale for ratio measures).
    """

    model: str
    treatments: list[str]
    TE: pd.DataFrame
    seTE: pd.DataFrame
    lower: pd.DataFrame
    upper: pd.DataFrame
    zval: pd.DataFrame
    pval: pd.DataFrame
    #: adjusted weight of each pairwise comparison (1 / seTE_adj^2), in the fit's row order
    W: np.ndarray
    #: pseudoinverse of the weighted Laplacian B' diag(W) B (n x n)
    Lplus: np.ndarray
    #: fitted (network) values of the pairwise comparisons and their standard errors
    TE_nma: np.ndarray
    seTE_nma: np.ndarray
    #: pooled direct evidence per comparison (NaN where there is none)
    TE_direct: pd.DataFrame
    seTE_direct: pd.DataFrame
    tau2: float
    B: np.ndarray = field(repr=False)
    seTE_predict: pd.DataFrame | None = None
    lower_predict: pd.DataFrame | None = None
    upper_predict: pd.DataFrame | None = None
    _dict_fields = ("model", "treatments", "TE", "seTE", "lower", "upper", "zval", "pval",
                    "TE_direct", "seTE_direct", "lower_predict", "upper_predict", "tau2")

    @cached_property
    def H(self) -> np.ndarray:
        """Hat matrix ``B L+ B' diag(W)`` (m x m): fitted comparisons = H @ observed."""
        return (self.B @ self.Lplus @ self.B.T) * self.W[None, :]

    @property
    def leverage(self) -> np.ndarray:
        """Diagonal of the hat matrix, ``W_e (b_e' L+ b_e)``, one value per comparison."""
        return self.W * self.seTE_nma ** 2

    def to_frame(self) -> pd.DataFrame:
        """Every ordered pair of distinct treatments: ``treat1, treat2, TE, seTE, lower,
        upper, zval, pval`` (and the prediction interval for the random-effects model)."""
        rows = [(a, b) for a in self.treatments for b in self.treatments if a != b]
        out = pd.DataFrame({"treat1": [a for a, _ in rows], "treat2": [b for _, b in rows]})
        names = ["TE", "seTE", "lower", "upper", "zval", "pval"]
        if self.lower_predict is not None and self.upper_predict is not None:
            names += ["lower_predict", "upper_predict"]
        for name in names:
            mat = getattr(self, name)
            out[name] = [mat.loc[a, b] for a, b in rows]
        return out

    def summary_text(self) -> str:
        return (f"{self.model.capitalize()} effects network estimates for "
                f"{len(self.treatments)} treatments (tau^2 = {self.tau2:.4f}); "
                "see .TE, .lower, .upper, .pval")


@dataclass(repr=False)
class NetmetaResult(FittedModel):
    """A frequentist network meta-analysis (netmeta's ``netmeta`` object).

    Contract fields (``beta``, ``se``, ``zval``, ``pval``, ``ci_lb``, ``ci_ub``, one value per
    non-reference treatment) are the effects of each treatment versus ``reference`` in the
    random-effects model when it was fitted, else the common-effect model; ``fit.common`` and
    ``fit.random`` hold every pairwise estimate of both models (:class:`NetworkEstimates`).
    """

    k: int
    beta: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    level: float
    method_info: dict[str, Any]
    coef_names: list[str]
    treatments: list[str]
    reference: str
    sm: str
    data: pd.DataFrame
    B: np.ndarray
    common: NetworkEstimates
    random: NetworkEstimates
    Q: float
    df_Q: int
    pval_Q: float
    tau2: float
    tau: float
    I2: float
    I2_lower: float
    I2_upper: float
    H: float
    level_predict: float
    small_values: str
    method_tau: str
    show_common: bool
    show_random: bool
    #: the validated comparisons (for refits such as SIDE node-splitting); not exported
    _network: _Network | None = field(default=None, repr=False)
    model_name = "network meta-analysis"
    _dict_fields = ("k", "m", "n", "treatments", "reference", "sm", "beta", "se", "zval",
                    "pval", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "level", "level_predict",
                    "Q", "df_Q", "pval_Q", "tau2", "tau", "I2", "I2_lower", "I2_upper", "H",
                    "designs", "studies", "common", "random", "method_info")

    @property
    def refittable(self) -> bool:
        return False

    @property
    def refit_obstacle(self) -> str | None:
        return ("the case-deletion diagnostics of a pairwise meta-analysis are not defined "
                "for a network model; use netsplit(), decomp_design() or contribution()")

    @property
    def m(self) -> int:
        """Number of pairwise comparisons (rows of :attr:`data`)."""
        return len(self.data)

    @property
    def n(self) -> int:
        """Number of treatments."""
        return len(self.treatments)

    @property
    def studies(self) -> list[str]:
        """Study labels, in order of first appearance."""
        return list(dict.fromkeys(self.data["studlab"].tolist()))

    @property
    def narms(self) -> dict[str, int]:
        """Number of arms of each study."""
        first = self.data.drop_duplicates("studlab")
        return dict(zip(first["studlab"], first["narms"].astype(int), strict=True))

    @property
    def designs(self) -> list[str]:
        """The distinct designs (sets of treatments compared in a study), sorted."""
        return sorted(set(self.data["design"].tolist()))

    @property
    def main(self) -> NetworkEstimates:
        """The model the contract fields report (random if fitted, else common)."""
        return self.random if self.show_random else self.common

    @property
    def pi_lb(self) -> np.ndarray:
        """Lower prediction limits of each treatment versus the reference (random model)."""
        if self.random.lower_predict is None:
            return np.full(len(self.beta), np.nan)
        return self.random.lower_predict.loc[self.coef_names, self.reference].to_numpy(float)

    @property
    def pi_ub(self) -> np.ndarray:
        """Upper prediction limits of each treatment versus the reference (random model)."""
        if self.random.upper_predict is None:
            return np.full(len(self.beta), np.nan)
        return self.random.upper_predict.loc[self.coef_names, self.reference].to_numpy(float)

    @property
    def is_ratio(self) -> bool:
        """Whether the measure is a ratio (estimates on the log scale)."""
        return self.sm.upper() in RATIO_MEASURES

    def estimates(self, model: str | None = None) -> NetworkEstimates:
        """The estimates of ``model`` ("common" or "random"; default the reported one)."""
        if model is None:
            return self.main
        model = choice(model, ("common", "random"), "model", aliases={"fixed": "common"})
        return self.common if model == "common" else self.random

    def _model(self, model: str | None) -> str:
        return self.estimates(model).model

    # inconsistency (evsynth.models.network.inconsistency) ----------------------------------
    def decomp_design(self) -> DesignDecomposition:
        """Q split into within-design and between-design parts, with the between-design Q
        after detaching each design and under the full design-by-treatment interaction model
        (netmeta's ``decomp.design``; Krahn, Binder & König 2013; Higgins et al. 2012).
        See :func:`evsynth.models.network.inconsistency.decomp_design`."""
        from evsynth.models.network.inconsistency import decomp_design

        return decomp_design(self)

    def netsplit(self, method: str = "back-calculation", tol_direct: float = 0.0005
                 ) -> NetSplit:
        """Direct, indirect and network estimates of every comparison with the test of
        their difference (netmeta's ``netsplit``: ``"back-calculation"`` or ``"SIDE"``).
        See :func:`evsynth.models.network.inconsistency.netsplit`."""
        from evsynth.models.network.inconsistency import netsplit

        return netsplit(self, method=method, tol_direct=tol_direct)

    def netheat(self, model: str | None = None) -> NetHeat:
        """The matrices of the net heat plot (Krahn, Binder & König 2013). See
        :func:`evsynth.models.network.inconsistency.netheat`."""
        from evsynth.models.network.inconsistency import netheat

        return netheat(self, model=self._model(model))

    # ranking and contributions -------------------------------------------------------------
    def p_scores(self, model: str | None = None, small_values: str | None = None) -> Ranking:
        """P-scores (Rücker & Schwarzer 2015); ``small_values`` defaults to the fit's. See
        :func:`evsynth.models.network.ranking.p_scores`."""
        from evsynth.models.network.ranking import p_scores

        return p_scores(self, model=self._model(model), small_values=small_values)

    def rank_probabilities(self, nsim: int = 1000, seed: int | None = None,
                           model: str | None = None, small_values: str | None = None
                           ) -> RankProbabilities:
        """Rank probabilities, SUCRA and mean ranks from ``nsim`` draws of the treatment
        effects (seeded). See :func:`evsynth.models.network.ranking.rank_probabilities`."""
        from evsynth.models.network.ranking import rank_probabilities

        return rank_probabilities(self, nsim=nsim, seed=seed, model=self._model(model),
                                  small_values=small_values)

    def contribution(self, model: str | None = None, method: str = "randomwalk"
                     ) -> ContributionMatrix:
        """Contribution of each direct comparison to each network estimate (Papakonstantinou
        et al. 2018; Davies et al. 2022). See
        :func:`evsynth.models.network.contribution.contribution`."""
        from evsynth.models.network.contribution import contribution

        return contribution(self, model=self._model(model), method=method)

    # presentation (evsynth.reports.network_plots) --------------------------------------------
    def league_table(self, model: str | None = None, digits: int = 2, transf: Any = None,
                     order: Any = None) -> LeagueTable:
        """League table: network estimates in the lower triangle, direct estimates in the
        upper (netmeta's ``netleague``). See :func:`evsynth.reports.network_plots.league_table`."""
        from evsynth.reports.network_plots import league_table

        return league_table(self, model=self._model(model), digits=digits, transf=transf,
                            order=order)

    def plot_network(self, **kwargs: Any) -> Figure:
        """Network graph (nodes sized by participants, edges by studies, multi-arm trials
        shaded). Keywords of :func:`evsynth.reports.network_plots.network_graph`."""
        from evsynth.reports.network_plots import network_graph

        return network_graph(self, **kwargs)

    def plot_rankogram(self, nsim: int = 1000, seed: int | None = None,
                       model: str | None = None, **kwargs: Any) -> Figure:
        """Rankogram of the rank probabilities (``nsim`` draws, ``seed``). Keywords of
        :func:`evsynth.reports.network_plots.rankogram`."""
        from evsynth.reports.network_plots import rankogram

        return rankogram(self.rank_probabilities(nsim=nsim, seed=seed, model=model), **kwargs)

    def plot_netheat(self, model: str | None = None, **kwargs: Any) -> Figure:
        """Net heat plot (Krahn, Binder & König 2013). Keywords of
        :func:`evsynth.reports.network_plots.netheat_plot`."""
        from evsynth.reports.network_plots import netheat_plot

        return netheat_plot(self.netheat(model=model), **kwargs)

    def plot_funnel(self, *, order: Any = None, model: str = "common",
                    level: float | None = None, xlabel: str | None = None,
                    title: str | None = None, width: float = 6.5, height: float = 5.0,
                    **kwargs: Any) -> Figure:
        """Comparison-adjusted funnel plot (Chaimani & Salanti 2012), ``order`` the
        treatments from oldest to newest. See
        :func:`evsynth.reports.network_plots.funnel_comparison_adjusted`."""
        return self._diagnostic("funnel", order=order, model=model, level=level,
                                xlabel=xlabel, title=title, width=width, height=height,
                                **kwargs)

    def plot_forest(self, *args: Any, **kwargs: Any) -> Any:
        """Forest plot of every treatment against the reference. Keywords of
        :func:`evsynth.reports.network_plots.forest_network`."""
        return self._diagnostic("forest", *args, **kwargs)

    def with_reference(self, reference: str) -> NetmetaResult:
        """The same fit reported against another reference treatment (netmeta's
        ``reference.group``); nothing is refitted."""
        if reference not in self.treatments:
            raise InputError(f"argument 'reference' is {reference!r}; expected one of the "
                             f"treatments: {', '.join(self.treatments)}")
        return _assemble(self, reference)

    def predict(self, level: float | None = None) -> NetworkPrediction:
        """Each treatment versus the reference with its confidence interval and (random
        model) prediction interval at ``level`` percent (default the fit's levels; netmeta's
        PI: ``TE +/- t_{df_Q} sqrt(se^2 + tau^2)``, needing ``df_Q >= 2``)."""
        lv = self.level if level is None else level_percent(level)
        lvp = self.level_predict if level is None else lv
        est = self.main
        others = self.coef_names
        te = est.TE.loc[others, self.reference].to_numpy(float)
        se = est.seTE.loc[others, self.reference].to_numpy(float)
        z = z_critical(lv)
        frame = pd.DataFrame({"term": others, "pred": te, "se": se, "ci_lb": te - z * se,
                              "ci_ub": te + z * se})
        if est.model == "random" and self.df_Q >= 2 and math.isfinite(self.tau2):
            t = t_critical(lvp, self.df_Q)
            sp = np.sqrt(se ** 2 + self.tau2)
            frame["pi_lb"], frame["pi_ub"] = te - t * sp, te + t * sp
        else:
            frame["pi_lb"] = frame["pi_ub"] = np.nan
        return NetworkPrediction(frame=frame, level=lv, level_predict=lvp,
                                 reference=self.reference, model=est.model)

    def summary_text(self) -> str:
        ratio = self.is_ratio
        lines = [f"Number of studies: k = {self.k}",
                 f"Number of pairwise comparisons: m = {self.m}",
                 f"Number of treatments: n = {self.n}",
                 f"Number of designs: d = {len(self.designs)}", ""]
        lvl = f"{self.level:g}%"
        shown = "exp " if ratio else ""
        lines.append(f"Treatment estimates ({shown}{self.sm or 'TE'}; comparison: other "
                     f"treatments vs {self.reference!r}):")
        models = ([self.common] if self.show_common else []) + (
            [self.random] if self.show_random else [])
        width = max(len(t) for t in self.treatments)
        for est in models:
            lines.append(f"{est.model.capitalize()} effects model ({lvl} CI; p-value):")
            for t in self.treatments:
                if t == self.reference:
                    lines.append(f"  {t:<{width}}  .")
                    continue
                vals = [est.TE.loc[t, self.reference], est.lower.loc[t, self.reference],
                        est.upper.loc[t, self.reference]]
                if ratio:
                    vals = [math.exp(v) for v in vals]
                p = est.pval.loc[t, self.reference]
                lines.append(f"  {t:<{width}}  {vals[0]:8.4f} [{vals[1]:8.4f}; {vals[2]:8.4f}]"
                             f"  p = {fmt_p(p)}")
        lines += ["", "Quantifying heterogeneity / inconsistency:",
                  f"tau^2 = {self.tau2:.4f}; tau = {self.tau:.4f}; I^2 = "
                  f"{100 * self.I2:.1f}% [{100 * self.I2_lower:.1f}%; "
                  f"{100 * self.I2_upper:.1f}%] (method: {self.method_tau})"
                  if math.isfinite(self.tau2) else "tau^2 not estimable (df = 0)",
                  "",
                  f"Test of heterogeneity / inconsistency: Q = {self.Q:.2f}, df = {self.df_Q}, "
                  f"p = {fmt_p(self.pval_Q)}"]
        for note in self.method_info.get("notes", []):
            lines.append(f"Note: {note}")
        return "\n".join(lines)


@dataclass(repr=False)
class NetworkPrediction(FrameResult):
    """Treatments versus the reference with CI and PI (:meth:`NetmetaResult.predict`)."""

    frame: pd.DataFrame
    level: float
    level_predict: float
    reference: str
    model: str
    _dict_fields = ("frame", "level", "level_predict", "reference", "model")

    def summary_text(self) -> str:
        lines = [f"{self.model.capitalize()} effects model, versus {self.reference!r} "
                 f"({self.level:g}% CI, {self.level_predict:g}% PI):"]
        for row in self.frame.itertuples(index=False):
            lines.append(f"  {row.term}: {row.pred:.4f} [{row.ci_lb:.4f}; {row.ci_ub:.4f}] "
                         f"PI [{row.pi_lb:.4f}; {row.pi_ub:.4f}]")
        return "\n".join(lines)


def z_critical(level: float) -> float:
    """Two-sided normal critical value at ``level`` (a fraction or percent), through the
    project's one home :func:`evsynth.models.engine.critical_values`."""
    from evsynth.models.engine import critical_values

    return float(critical_values("z", level_fraction(level), np.zeros(())))


def t_critical(level: float, df: int) -> float:
    """Two-sided t critical value on ``df`` degrees of freedom (prediction intervals: netmeta's
    ``t_{df_Q}``), through :func:`evsynth.models.engine.critical_values`."""
    from evsynth.models.engine import critical_values

    return float(critical_values("t", level_fraction(level), np.asarray(float(df))))


def _matrix(values: np.ndarray, treatments: list[str]) -> pd.DataFrame:
    return pd.DataFrame(values, index=list(treatments), columns=list(treatments))


@dataclass
class _Network:
    """The validated comparisons, oriented with ``pos1 < pos2``, in the caller's row order."""

    studlab: np.ndarray
    pos1: np.ndarray
    pos2: np.ndarray
    te: np.ndarray
    se: np.ndarray
    treatments: list[str]
    study_index: np.ndarray  # study number of each row
    narms: np.ndarray  # arms of the row's study
    multiarm: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]  # rows, arm i, arm j, k

    @property
    def n(self) -> int:
        return len(self.treatments)

    def adjusted_variances(self, tau2: float) -> np.ndarray:
        """Variances of the comparisons with ``tau2`` added and the multi-arm reduction
        (Rücker 2012) applied."""
        v = self.se ** 2 + tau2
        for rows, ai, aj, k in self._multiarm_groups:  # all k-arm studies at once
            v[rows] = multiarm_variances(v[rows], ai, aj, k)
        return v

    @cached_property
    def _multiarm_groups(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
        """The multi-arm studies grouped by their number of arms (:func:`_by_arms`), for
        :func:`multiarm_variances` in one call per k."""
        return [(rows, ai, aj, k) for rows, ai, aj, k, _ in _by_arms(self.multiarm)]


def _by_arms(multiarm: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]
             ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, int, list[int]]]:
    """Multi-arm studies ``(rows, arm i, arm j, k)`` grouped by their number of arms: ``(g,
    m)`` arrays of rows and arm indices, k, and the studies' positions in ``multiarm``."""
    by_k: dict[int, list[int]] = {}
    for j, (_, _, _, k) in enumerate(multiarm):
        by_k.setdefault(k, []).append(j)
    return [(np.stack([multiarm[j][0] for j in js]), np.stack([multiarm[j][1] for j in js]),
             np.stack([multiarm[j][2] for j in js]), k, js) for k, js in sorted(by_k.items())]


def _check_multiarm(multiarm: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]],
                    te: np.ndarray, se: np.ndarray, tol: float, studies: np.ndarray,
                    arm_labels: Callable[[int], list[str]]) -> None:
    """The comparisons of every multi-arm study must come from its arms (netmeta's
    ``chkmultiarm``): effects consistent, ``TE_ab = theta_a - theta_b`` up to ``tol`` (least
    squares residuals; netmeta's ``tol.multiarm = 0.001``), and variances ``seTE_ab^2 = s_a +
    s_b`` with arm variances ``s >= 0`` (least squares on ``|B|``; a negative arm variance
    makes the within-study covariance indefinite: Rücker & Schwarzer 2014, sec. 2). The first
    study that fails raises an InputError naming it (``studies``: the study of each row;
    ``arm_labels(j)``: the arms of multi-arm study j).

    Both least-squares fits on the complete graph of k arms have closed forms (netmeta solves
    them with ``ginv``): ``theta_a = sum_b TE_ab / k`` (centred), and with ``r_a = sum_b
    v_ab``, ``(|B|'|B|)^-1 = (I - J / (2k - 2)) / (k - 2)``, so ``s_a = (r_a - sum(r) /
    (2k - 2)) / (k - 2)`` (k = 3: ``(v_ab + v_ac - v_bc) / 2``); computed for all studies with
    k arms at once."""
    failed: list[tuple[int, np.ndarray, np.ndarray]] = []
    for rows, ai, aj, k, js in _by_arms(multiarm):
        g = np.arange(len(js))[:, None]
        t, v = te[rows], se[rows] ** 2
        T = np.zeros((len(js), k, k))
        T[g, ai, aj] = t
        T[g, aj, ai] = -t
        theta = T.sum(axis=2) / k
        resid = t - (np.take_along_axis(theta, ai, 1) - np.take_along_axis(theta, aj, 1))
        Vm = np.zeros((len(js), k, k))
        Vm[g, ai, aj] = v
        Vm[g, aj, ai] = v
        r = Vm.sum(axis=2)
        s2 = (r - r.sum(axis=1, keepdims=True) / (2 * k - 2)) / (k - 2)
        fail = (np.max(np.abs(resid), axis=1) > tol) | np.any(
            s2 < -1e-12 * v.max(axis=1, keepdims=True), axis=1)
        failed += [(js[i], resid[i], s2[i]) for i in np.flatnonzero(fail)]
    if not failed:
        return
    j, resid_j, s2_j = min(failed, key=lambda f: f[0])
    rows, ai, aj, k = multiarm[j]
    arms = arm_labels(j)
    what = f"study {str(studies[rows[0]])!r} ({k} arms: {', '.join(arms)})"
    pairs = [f"{arms[a]} vs {arms[b]}" for a, b in zip(ai.tolist(), aj.tolist(), strict=True)]
    if np.max(np.abs(resid_j)) > tol:
        shown_r = ", ".join(f"{pr}: {x:+.4g}" for pr, x in zip(pairs, resid_j.tolist(),
                                                                  strict=True))
        raise InputError(f"{what}: its effects are not consistent: the effects of a multi-arm "
                         "study must satisfy TE(a vs c) = TE(a vs b) + TE(b vs c); "
                         f"least-squares residuals {shown_r} exceed tol_multiarm = {tol:g} "
                         "(netmeta's chkmultiarm). Check the signs and the direction (treat1 "
                         "vs treat2) of its effects")
    neg = int(np.argmin(s2_j))
    shown_v = ", ".join(f"{arms[a]}: {s2_j[a]:.4g}" for a in range(k))
    raise InputError(f"{what}: its standard errors imply a negative variance for arm "
                     f"{arms[neg]} (arm variances {shown_v}); the comparisons of a multi-arm "
                     "study must have seTE(a vs b)^2 = s_a + s_b with arm variances s >= 0 "
                     "(netmeta's chkmultiarm). Check the standard errors of "
                     + ", ".join(f"{pr} ({x:.4g})" for pr, x in zip(pairs, se[rows].tolist(),
                                                                   strict=True)))


def _validate(TE: Any, seTE: Any, treat1: Any, treat2: Any, studlab: Any, data: Any,
              seq: Any, tol_multiarm: float = 0.001) -> tuple[_Network, pd.DataFrame]:
    frame = as_frame(data)
    s = label_vector("studlab", studlab, frame)
    t1 = label_vector("treat1", treat1, frame)
    t2 = label_vector("treat2", treat2, frame)
    labels = [f"{a} ({b} vs {c})" for a, b, c in zip(s, t1, t2, strict=False)]
    te = numeric_vector("TE", TE, frame, labels=labels).astype(float)
    se = numeric_vector("seTE", seTE, frame, labels=labels).astype(float)
    m = len(te)
    for name, arr in (("seTE", se), ("treat1", t1), ("treat2", t2), ("studlab", s)):
        if len(arr) != m:
            raise InputError(f"argument {name!r} has {len(arr)} values; expected one per "
                             f"comparison ({m}, as 'TE')")
    if m == 0:
        raise InputError("netmeta() needs at least one comparison; the data are empty")
    for idx in range(m):
        for name, value in (("treat1", t1[idx]), ("treat2", t2[idx]), ("studlab", s[idx])):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                raise InputError(f"comparison {idx + 1} (study {s[idx]!r}): field {name!r} is "
                                 "missing; expected a label")
    t1 = np.array([str(x) for x in t1], dtype=object)
    t2 = np.array([str(x) for x in t2], dtype=object)
    s = np.array([str(x) for x in s], dtype=object)
    bad = np.flatnonzero(se <= 0)
    if bad.size:
        i = int(bad[0])
        raise InputError(f"study {s[i]!r} ({t1[i]} vs {t2[i]}): field 'seTE' is {float(se[i])!r}; "
                         "expected a standard error > 0")
    same = np.flatnonzero(t1 == t2)
    if same.size:
        i = int(same[0])
        raise InputError(f"study {s[i]!r}: treat1 and treat2 are both {t1[i]!r}; a comparison "
                         "needs two different treatments")
    # netmeta's order: R's sort() (ICU collation in a UTF-8 locale: case-insensitive first)
    found = sorted(set(t1.tolist()) | set(t2.tolist()), key=r_sort_key)
    if seq is None:
        treatments = found
    else:
        treatments = [str(x) for x in seq]
        if set(treatments) != set(found) or len(set(treatments)) != len(treatments):
            raise InputError(f"argument 'seq' must list every treatment exactly once; the data "
                             f"have {', '.join(found)}")
    pos = {t: i for i, t in enumerate(treatments)}
    p1 = np.fromiter((pos[x] for x in t1), dtype=np.int64, count=m)
    p2 = np.fromiter((pos[x] for x in t2), dtype=np.int64, count=m)
    flip = p1 > p2
    te = np.where(flip, -te, te)
    p1, p2 = np.where(flip, p2, p1), np.where(flip, p1, p2)

    # studies: every pair of the study's treatments exactly once
    study_names, study_index = np.unique(s, return_inverse=True)
    counts = np.bincount(study_index)
    narms_study = np.zeros(len(study_names), dtype=np.int64)
    multiarm = []
    order = np.argsort(study_index, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    for j in range(len(study_names)):
        rows = order[starts[j]:starts[j + 1]]
        c = len(rows)
        k = (1 + math.isqrt(8 * c + 1)) // 2
        if c == 1:
            narms_study[j] = 2
            continue
        arms = sorted(set(p1[rows].tolist()) | set(p2[rows].tolist()))
        pairs = set(zip(p1[rows].tolist(), p2[rows].tolist(), strict=True))
        if k * (k - 1) // 2 != c or len(arms) != k or len(pairs) != c:
            names = [treatments[a] for a in arms]
            missing = [f"{treatments[a]} vs {treatments[b]}" for ia, a in enumerate(arms)
                       for b in arms[ia + 1:] if (a, b) not in pairs]
            detail = (f"missing: {', '.join(missing)}" if missing
                      else "a comparison is given twice")
            raise InputError(f"study {study_names[j]!r} has {c} comparisons of the "
                             f"{len(arms)} treatments {', '.join(names)}; a study with k arms "
                             f"needs each of its k(k-1)/2 pairs exactly once ({detail}). "
                             "evsynth.pairwise() builds them from arm-level data")
        narms_study[j] = k
        local = {a: i for i, a in enumerate(arms)}
        ai = np.array([local[a] for a in p1[rows]])
        aj = np.array([local[b] for b in p2[rows]])
        multiarm.append((rows, ai, aj, k))
    _check_multiarm(multiarm, te, se, tol_multiarm, s, lambda j: [
        treatments[a] for a in sorted(set(p1[multiarm[j][0]].tolist())
                                      | set(p2[multiarm[j][0]].tolist()))])

    comp = connected_components(p1, p2, len(treatments))
    if comp.max() > 0:
        groups = [", ".join(treatments[i] for i in np.flatnonzero(comp == c))
                  for c in range(comp.max() + 1)]
        raise InputError("the network is not connected: it has "
                         f"{len(groups)} sub-networks ({'; '.join('{' + g + '}' for g in groups)})."
                         " Fit each sub-network separately (evsynth.models.network."
                         "subnetworks() splits the comparisons)")
    net = _Network(studlab=s, pos1=p1, pos2=p2, te=te, se=se, treatments=treatments,
                   study_index=study_index, narms=narms_study[study_index], multiarm=multiarm)
    rows = pd.DataFrame({"studlab": s, "treat1": [treatments[i] for i in p1],
                         "treat2": [treatments[i] for i in p2], "TE": te, "seTE": se})
    if frame is not None:  # arm data carried along (turned round with the comparison)
        for a, b in (("n1", "n2"), ("event1", "event2"), ("mean1", "mean2"), ("sd1", "sd2"),
                     ("time1", "time2")):
            if a in frame.columns and b in frame.columns and len(frame) == m:
                va = frame[a].to_numpy()
                vb = frame[b].to_numpy()
                rows[a] = np.where(flip, vb, va)
                rows[b] = np.where(flip, va, vb)
    return net, rows


def subnetworks(data: Any, treat1: str = "treat1", treat2: str = "treat2") -> list[list[str]]:
    """The connected sub-networks of a set of comparisons (netmeta's ``netconnection``):
    lists of treatments, the largest first. ``data`` is a DataFrame of comparisons (e.g. from
    :func:`evsynth.pairwise`)."""
    frame = as_frame(data)
    t1 = [str(x) for x in label_vector("treat1", treat1, frame)]
    t2 = [str(x) for x in label_vector("treat2", treat2, frame)]
    treatments = sorted(set(t1) | set(t2), key=r_sort_key)
    pos = {t: i for i, t in enumerate(treatments)}
    comp = connected_components(np.array([pos[x] for x in t1], dtype=np.int64),
                                np.array([pos[x] for x in t2], dtype=np.int64), len(treatments))
    groups = [[treatments[i] for i in np.flatnonzero(comp == c)] for c in range(comp.max() + 1)]
    return sorted(groups, key=lambda g: (-len(g), g))


@dataclass
class _Solution:
    W: np.ndarray
    Lplus: np.ndarray
    theta: np.ndarray
    fitted: np.ndarray
    R: np.ndarray
    #: the grounded inverse of the Laplacian (_graph.grounded_inverse): contrasts and traces
    #: against matrices with zero row sums are read from it without the centring's rounding
    G: np.ndarray


def _solve(net: _Network, v_adj: np.ndarray) -> _Solution:
    """Weighted least squares on the graph (Rücker 2012, eqs. 5-9)."""
    n = net.n
    with np.errstate(divide="ignore"):
        W = np.where(np.isinf(v_adj), 0.0, 1.0 / v_adj)
    L = np.zeros((n, n))
    np.add.at(L, (net.pos1, net.pos1), W)
    np.add.at(L, (net.pos2, net.pos2), W)
    np.add.at(L, (net.pos1, net.pos2), -W)
    np.add.at(L, (net.pos2, net.pos1), -W)
    G = grounded_inverse(L)
    P = np.eye(n) - 1.0 / n
    rhs = np.zeros(n)
    np.add.at(rhs, net.pos1, W * net.te)
    np.add.at(rhs, net.pos2, -W * net.te)
    theta = G @ rhs
    theta = theta - theta.mean()  # L+ rhs: the potentials centred at 0 (Rücker 2012, eq. 7)
    fitted = theta[net.pos1] - theta[net.pos2]
    return _Solution(W=W, Lplus=P @ G @ P, theta=theta, fitted=fitted, R=resistance(G), G=G)


def _dl_tau2(net: _Network, sol: _Solution, Q: float, df: int) -> float:
    """Generalised DerSimonian-Laird estimator for networks (Jackson et al. 2012; Rücker &
    Schwarzer, netmeta): ``tau^2 = max(0, (Q - df) / tr((I - H) K W))`` with ``K = (B B' o E)
    / 2``, ``E`` the same-study indicator, so that ``tr(K W) = sum W`` and ``tr(H K W) =
    tr(L+ B' W K W B)``."""
    W, n = sol.W, net.n
    M = np.zeros((n, n))
    # two-arm studies and the diagonal of multi-arm blocks: K_ee = 1
    w2 = W * W
    np.add.at(M, (net.pos1, net.pos1), w2)
    np.add.at(M, (net.pos2, net.pos2), w2)
    np.add.at(M, (net.pos1, net.pos2), -w2)
    np.add.at(M, (net.pos2, net.pos1), -w2)
    for rows, _, _, _ in net.multiarm:  # off-diagonal K_ef of multi-arm studies
        e, f = np.meshgrid(rows, rows, indexing="ij")
        off = e != f
        e, f = e[off], f[off]
        p1e, p2e, p1f, p2f = net.pos1[e], net.pos2[e], net.pos1[f], net.pos2[f]
        kef = 0.5 * ((p1e == p1f).astype(float) - (p1e == p2f) - (p2e == p1f) + (p2e == p2f))
        c = W[e] * W[f] * kef
        np.add.at(M, (p1e, p1f), c)
        np.add.at(M, (p1e, p2f), -c)
        np.add.at(M, (p2e, p1f), -c)
        np.add.at(M, (p2e, p2f), c)
    if Q <= df:  # the denominator tr((I - H) K W) is > 0: tau^2 = 0 exactly
        return 0.0
    # tr(L+ M) = tr(G M): M has zero row sums, like L
    denom = W.sum() - float(np.sum(sol.G * M))
    if not denom > 0:
        lo, hi = int(np.argmin(net.se)), int(np.argmax(net.se))
        raise InputError(f"study {net.studlab[lo]!r}: its standard error {net.se[lo]:.3g} is "
                         f"{net.se[hi] / net.se[lo]:.3g} times smaller than that of study "
                         f"{net.studlab[hi]!r} ({net.se[hi]:.3g}); with weights this unequal the "
                         "DerSimonian-Laird denominator tr((I - H) K W) is lost in rounding: "
                         "check the standard errors (units, variance given as SE?), or use "
                         "method_tau='REML'")
    return (Q - df) / denom


def _likelihood_tau2(net: _Network, reference: str, method: str,
                     control: dict[str, Any] | None) -> tuple[float, dict[str, Any]]:
    """tau^2 by (RE)ML through the contrast-based multivariate model (metafor ``rma.mv``, as
    netmeta does): each study's comparisons with its baseline arm (the reference treatment
    if the study has it, else its last treatment), the within-study covariance of multi-arm
    studies ``cov(y_ab, y_ac) = (v_ab + v_ac - v_bc) / 2`` (the variance of the shared arm),
    random effects ``~ comparison | study`` with compound symmetry and ``rho = 1/2``
    (homogeneous variance, Higgins & Whitehead 1996)."""
    from evsynth.models.multivariate.fit import meta_mv

    ref = net.treatments.index(reference)
    yi: list[float] = []
    study: list[str] = []
    comp: list[str] = []
    xrows: list[np.ndarray] = []
    blocks: list[np.ndarray] = []
    rows_by_study: dict[int, list[int]] = {}
    for r, j in enumerate(net.study_index.tolist()):
        rows_by_study.setdefault(j, []).append(r)
    for rows in rows_by_study.values():
        arms = sorted(set(net.pos1[rows].tolist()) | set(net.pos2[rows].tolist()))
        base = ref if ref in arms else arms[-1]
        var: dict[tuple[int, int], float] = {}
        te: dict[tuple[int, int], float] = {}
        for r in rows:
            a, b = int(net.pos1[r]), int(net.pos2[r])
            var[(a, b)] = var[(b, a)] = float(net.se[r] ** 2)
            te[(a, b)] = float(net.te[r])
            te[(b, a)] = -float(net.te[r])
        others = [a for a in arms if a != base]
        for a in others:
            yi.append(te[(a, base)])
            study.append(str(net.studlab[rows[0]]))
            comp.append(f"{net.treatments[a]} vs {net.treatments[base]}")
            x = np.zeros(net.n)
            x[a] += 1.0
            x[base] -= 1.0
            xrows.append(x)
        V = np.empty((len(others), len(others)))
        for i, a in enumerate(others):
            for j, b in enumerate(others):
                V[i, j] = var[(a, base)] if a == b else 0.5 * (
                    var[(a, base)] + var[(b, base)] - var[(a, b)])
        blocks.append(V)
    X = np.delete(np.vstack(xrows), ref, axis=1)
    frame = pd.DataFrame({"yi": yi, "study": study, "comparison": comp})
    if len(yi) == 1:  # pragma: no cover - a single comparison has no tau^2 (df = 0)
        return math.nan, {}
    fit = meta_mv("yi", blocks, random="~ comparison | study", struct="CS", rho=0.5,
                  mods=X, intercept=False, data=frame, method=method, control=control)
    info = {"ll": fit.ll, "converged": fit.method_info.get("converged"),
            "model": "rma.mv(yi, V, mods = treatment contrasts, random = ~ comparison | "
                     "study, struct = 'CS', rho = 1/2)"}
    return float(fit.tau2[0]), info


def _direct(net: _Network, tau2: float) -> tuple[np.ndarray, np.ndarray]:
    """Inverse-variance pooled direct evidence of each comparison, from the comparisons'
    original standard errors with ``tau2`` added (netmeta's ``TE.direct.*``)."""
    n = net.n
    pair = net.pos1 * n + net.pos2
    w = 1.0 / (net.se ** 2 + tau2)
    sw = np.bincount(pair, weights=w, minlength=n * n)
    swy = np.bincount(pair, weights=w * net.te, minlength=n * n)
    te = np.full(n * n, np.nan)
    se = np.full(n * n, np.nan)
    has = sw > 0
    te[has] = swy[has] / sw[has]
    se[has] = 1.0 / np.sqrt(sw[has])
    te_m, se_m = te.reshape(n, n), se.reshape(n, n)
    upper = ~np.isnan(te_m)  # pos1 < pos2: the upper triangle; mirror it
    te_m.T[upper] = -te_m[upper]
    se_m.T[upper] = se_m[upper]
    return te_m, se_m


def _estimates(model: str, net: _Network, sol: _Solution, tau2: float, level: float,
               level_predict: float | None, df_Q: int, B: np.ndarray) -> NetworkEstimates:
    tr = net.treatments
    diff = sol.theta[:, None] - sol.theta[None, :]
    se = np.sqrt(sol.R)
    z = z_critical(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = diff / se
    pval = 2 * special.ndtr(-np.abs(zval))
    te_d, se_d = _direct(net, tau2 if model == "random" else 0.0)
    est = NetworkEstimates(
        model=model, treatments=list(tr), TE=_matrix(diff, tr), seTE=_matrix(se, tr),
        lower=_matrix(diff - z * se, tr), upper=_matrix(diff + z * se, tr),
        zval=_matrix(zval, tr), pval=_matrix(pval, tr), W=sol.W, Lplus=sol.Lplus,
        TE_nma=sol.fitted, seTE_nma=np.sqrt(sol.R[net.pos1, net.pos2]),
        TE_direct=_matrix(te_d, tr), seTE_direct=_matrix(se_d, tr), tau2=tau2, B=B)
    if model == "random" and level_predict is not None:
        sp = np.sqrt(sol.R + (tau2 if math.isfinite(tau2) else 0.0))
        if df_Q >= 2:
            t = t_critical(level_predict, df_Q)
            lo, hi = diff - t * sp, diff + t * sp
            np.fill_diagonal(lo, 0.0)
            np.fill_diagonal(hi, 0.0)
        else:
            lo = np.full_like(diff, np.nan)
            hi = np.full_like(diff, np.nan)
            sp = np.full_like(diff, np.nan)
        est.seTE_predict = _matrix(sp, tr)
        est.lower_predict = _matrix(lo, tr)
        est.upper_predict = _matrix(hi, tr)
    return est


@dataclass
class _Core:
    """Both models of one network (shared by :func:`netmeta` and the SIDE refits)."""

    common: _Solution
    random: _Solution
    v_common: np.ndarray
    v_random: np.ndarray
    Q: float
    df_Q: int
    tau2: float  # NaN when not estimable
    tau2_used: float  # 0 in place of NaN
    tau_source: str
    tau_info: dict[str, Any]
    notes: list[str]


def _fit_network(net: _Network, method_tau: str, tau2: float | None, reference: str,
                 control: dict[str, Any] | None) -> _Core:
    """Common-effect solution, Q on ``sum(arms - 1) - (n - 1)`` df, tau^2 (preset, DL, or
    (RE)ML) and the random-effects solution of a validated network."""
    v_common = net.adjusted_variances(0.0)
    sol_c = _solve(net, v_common)
    resid = net.te - sol_c.fitted
    Q = float(np.sum(sol_c.W * resid ** 2))
    first = np.unique(net.study_index, return_index=True)[1]
    df_Q = int(np.sum(net.narms[first] - 1) - (net.n - 1))
    notes: list[str] = []
    tau_info: dict[str, Any] = {}
    if tau2 is not None:
        tau2_hat = float(tau2)
        tau_source = "preset"
    elif df_Q == 0:
        tau2_hat = math.nan
        tau_source = "not estimable (df = 0)"
        notes.append("df_Q = 0: tau^2 cannot be estimated; the random-effects model equals "
                     "the common-effect model")
    elif method_tau == "DL":
        tau2_hat = _dl_tau2(net, sol_c, Q, df_Q)
        tau_source = "generalised DerSimonian-Laird (Jackson et al. 2012)"
    else:
        tau2_hat, tau_info = _likelihood_tau2(net, reference, method_tau, control)
        tau_source = f"{method_tau} (contrast-based multivariate model)"
    tau2_used = tau2_hat if math.isfinite(tau2_hat) else 0.0
    v_random = net.adjusted_variances(tau2_used)
    sol_r = _solve(net, v_random)
    return _Core(common=sol_c, random=sol_r, v_common=v_common, v_random=v_random, Q=Q,
                 df_Q=df_Q, tau2=tau2_hat, tau2_used=tau2_used, tau_source=tau_source,
                 tau_info=tau_info, notes=notes)


def _subnetwork(net: _Network, keep: np.ndarray, anchor: int) -> tuple[_Network, np.ndarray]:
    """The rows ``keep`` (whole studies) restricted to the connected component holding
    treatment ``anchor``, treatments renumbered in their order; and the old positions of the
    treatments kept."""
    comp = connected_components(net.pos1[keep], net.pos2[keep], net.n)
    in_comp = comp == comp[anchor]
    rows = np.flatnonzero(keep & in_comp[net.pos1])
    old = np.flatnonzero(in_comp)
    newpos = np.full(net.n, -1, dtype=np.int64)
    newpos[old] = np.arange(len(old))
    rowmap = np.full(len(net.te), -1, dtype=np.int64)
    rowmap[rows] = np.arange(len(rows))
    multiarm = [(rowmap[r], ai, aj, k) for r, ai, aj, k in net.multiarm if rowmap[r[0]] >= 0]
    _, study_index = np.unique(net.study_index[rows], return_inverse=True)
    sub = _Network(studlab=net.studlab[rows], pos1=newpos[net.pos1[rows]],
                   pos2=newpos[net.pos2[rows]], te=net.te[rows], se=net.se[rows],
                   treatments=[net.treatments[i] for i in old], study_index=study_index,
                   narms=net.narms[rows], multiarm=multiarm)
    return sub, old


def indirect_without(fit: NetmetaResult, drop: np.ndarray, a: str, b: str
                     ) -> dict[str, tuple[float, float]] | None:
    """The estimate of ``a`` versus ``b`` (and its SE) in each model when the comparisons
    ``drop`` (a boolean mask over ``fit.data``, whole studies) are left out: the network
    refitted on the rest, restricted to the sub-network holding ``a``, with tau^2
    re-estimated by the fit's method (a preset tau^2 too, as netmeta's SIDE). None when ``a``
    and ``b`` are no longer connected. Used by SIDE node-splitting
    (:func:`evsynth.models.network.inconsistency.netsplit`)."""
    net = fit._network
    if net is None:  # pragma: no cover - every fit made by netmeta() has it
        raise InputError("this network fit has no data to refit")
    ia, ib = net.treatments.index(a), net.treatments.index(b)
    keep = ~np.asarray(drop, dtype=bool)
    if not keep.any():
        return None
    sub, old = _subnetwork(net, keep, ia)
    if ib not in old or len(sub.te) == 0:
        return None
    ref = fit.reference if fit.reference in sub.treatments else a
    core = _fit_network(sub, fit.method_tau, None, ref, None)
    pa, pb = int(np.searchsorted(old, ia)), int(np.searchsorted(old, ib))
    out = {}
    for name, sol in (("common", core.common), ("random", core.random)):
        out[name] = (float(sol.theta[pa] - sol.theta[pb]), float(math.sqrt(sol.R[pa, pb])))
    return out


def netmeta(TE: Any = "TE", seTE: Any = "seTE", treat1: Any = "treat1", treat2: Any = "treat2",
            studlab: Any = "studlab", data: Any = None, *, sm: str = "",
            reference: str | None = None, common: bool = True, random: bool = True,
            method_tau: str = "DL", tau2: float | None = None, level: float = 95,
            level_predict: float | None = None, small_values: str = "desirable",
            seq: Any = None, control: dict[str, Any] | None = None,
            tol_multiarm: float = 0.001) -> NetmetaResult:
    """Frequentist network meta-analysis (R's netmeta; Rücker 2012).

    Parameters
    ----------
    TE, seTE : effect of ``treat1`` versus ``treat2`` in each comparison and its standard
        error (values or columns of ``data``; netmeta's names are the defaults), on the
        analysis scale (log scale for ratio measures).
    treat1, treat2, studlab : the two treatments and the study of each comparison. A study
        with k arms contributes all k(k-1)/2 pairwise comparisons (as built from arm-level
        data by :func:`evsynth.pairwise`); their correlation is handled by Rücker's reduced
        weights, which give the multivariate GLS solution.
    data : DataFrame of comparisons (e.g. the result of :func:`evsynth.pairwise`).
    sm : effect measure label (``"OR"``, ``"MD"``, ...); ratio measures are printed
        exponentiated.
    reference : reference treatment of the contract fields and printed tables (default: the
        first treatment in ``seq`` / sorted order, as netmeta).
    common, random : which models to report; both are always computed.
    method_tau : ``"DL"`` (generalised DerSimonian-Laird, netmeta's default), ``"REML"`` or
        ``"ML"`` (through the contrast-based multivariate model of :func:`evsynth.meta_mv`
        with ``rho = 1/2``).
    tau2 : a fixed between-study variance (netmeta's ``tau.preset`` squared).
    level, level_predict : confidence and prediction levels in percent (prediction
        intervals use the t distribution with ``df_Q`` degrees of freedom, netmeta's
        default, and need ``df_Q >= 2``).
    small_values : ``"desirable"`` (smaller values are better, e.g. an adverse outcome on
        a ratio scale) or ``"undesirable"``; used by the rankings.
    seq : order of the treatments in matrices and tables (default: sorted as R's ``sort()``
        sorts them in a UTF-8 locale, i.e. netmeta's order: case-insensitive, ``"NaSSa"``
        before ``"NRI"``; :func:`evsynth.models.network._graph.r_sort_key`).
    control : settings of the (RE)ML fit (see :func:`evsynth.meta_mv`).
    tol_multiarm : largest least-squares residual allowed when checking that the effects of a
        multi-arm study are consistent (``TE_ac = TE_ab + TE_bc``; netmeta's ``tol.multiarm``,
        on the analysis scale). Its standard errors must also come from arm variances >= 0.
        Either failure is an :class:`~evsynth.InputError` naming the study, as netmeta stops.

    Returns
    -------
    NetmetaResult
        Contract fields for each treatment versus ``reference``; ``common`` / ``random``
        (:class:`NetworkEstimates`: every pair with CI, p-value and, for random, PI), ``Q``,
        ``df_Q``, ``pval_Q``, ``tau2``, ``I2`` with its CI, and the methods for inconsistency,
        ranking, contributions, league tables and plots.

    References
    ----------
    Rücker G (2012). Res Synth Methods 3:312-324. doi:10.1002/jrsm.1058
    Jackson D, White IR, Riley RD (2012). Stat Med 31:3805-3820. doi:10.1002/sim.5453

    Examples
    --------
    >>> import evsynth
    >>> d = {"studlab": ["s1", "s2", "s3", "s4"], "treat1": ["A", "A", "B", "A"],
    ...      "treat2": ["B", "C", "C", "B"], "TE": [-0.5, -0.3, 0.1, -0.4],
    ...      "seTE": [0.2, 0.25, 0.3, 0.2]}
    >>> fit = evsynth.netmeta(data=d, reference="A")
    >>> round(float(fit.common.TE.loc["B", "A"]), 4)
    0.4442
    """
    level_pct = level_percent(level)
    lvl = level_fraction(level_pct)
    lvl_pred_pct = level_pct if level_predict is None else level_percent(level_predict,
                                                                          "level_predict")
    method_tau = choice(method_tau, ("DL", "REML", "ML"), "method_tau")
    small_values = choice(small_values, ("desirable", "undesirable"), "small_values",
                          aliases={"good": "desirable", "bad": "undesirable"})
    if not isinstance(sm, str):
        raise InputError(f"argument 'sm' is {sm!r}; expected a measure label such as 'OR'")
    if not (common or random):
        raise InputError("arguments 'common' and 'random' are both False; report at least one "
                         "model")
    if isinstance(tol_multiarm, bool) or not isinstance(tol_multiarm, (int, float)) or not (
            math.isfinite(tol_multiarm) and tol_multiarm > 0):
        raise InputError(f"argument 'tol_multiarm' is {tol_multiarm!r}; expected a number > 0")
    net, rows = _validate(TE, seTE, treat1, treat2, studlab, data, seq, float(tol_multiarm))
    tr = net.treatments
    if reference is None:
        reference = tr[0]
    reference = str(reference)
    if reference not in tr:
        raise InputError(f"argument 'reference' is {reference!r}; expected one of the "
                         f"treatments: {', '.join(tr)}")
    if tau2 is not None and (not isinstance(tau2, (int, float)) or isinstance(tau2, bool)
                             or not math.isfinite(tau2) or tau2 < 0):
        raise InputError(f"argument 'tau2' is {tau2!r}; expected a number >= 0")

    B = incidence(net.pos1, net.pos2, net.n)
    core = _fit_network(net, method_tau, tau2, reference, control)
    sol_c, sol_r, Q, df_Q = core.common, core.random, core.Q, core.df_Q
    tau2_hat, tau2_used, notes = core.tau2, core.tau2_used, core.notes
    tau_source, tau_info = core.tau_source, core.tau_info
    v_common, v_random = core.v_common, core.v_random
    pval_Q = float(chi2_upper(Q, df_Q)) if df_Q > 0 else math.nan
    H, I2, I2_lo, I2_hi = i2_higgins_thompson(Q, df_Q, lvl)

    est_c = _estimates("common", net, sol_c, 0.0, lvl, None, df_Q, B)
    est_r = _estimates("random", net, sol_r, tau2_used, lvl, level_fraction(lvl_pred_pct),
                       df_Q, B)
    rows["narms"] = net.narms
    rows["design"] = _design_labels(net)
    with np.errstate(invalid="ignore"):  # a negative reduced weight: no adjusted SE (NaN)
        rows["seTE_adj_common"] = np.sqrt(v_common)
        rows["seTE_adj_random"] = np.sqrt(v_random)
    rows["TE_nma_common"] = sol_c.fitted
    rows["TE_nma_random"] = sol_r.fitted
    rows["leverage_common"] = est_c.leverage
    k = int(len(np.unique(net.study_index)))
    method_info = {
        "model": "network meta-analysis, graph-theoretical (Rücker 2012)",
        "multiarm": "reduced weights (Rücker 2012; Rücker & Schwarzer 2014)",
        "method_tau": method_tau, "tau2_source": tau_source, "tau2_preset": tau2,
        "level": level_pct, "level_predict": lvl_pred_pct,
        "prediction": f"t distribution with df_Q = {df_Q} (needs df_Q >= 2)",
        "reference": reference, "sm": sm, "small_values": small_values,
        "reported_model": "random" if random else "common", "treatments": list(tr),
        "test": "z", "notes": notes, **({"tau2_fit": tau_info} if tau_info else {}),
    }
    res = NetmetaResult(
        k=k, beta=np.empty(0), se=np.empty(0), zval=np.empty(0), pval=np.empty(0),
        ci_lb=np.empty(0), ci_ub=np.empty(0), level=level_pct, method_info=method_info,
        coef_names=[], treatments=list(tr), reference=reference, sm=sm, data=rows, B=B,
        common=est_c, random=est_r, Q=Q, df_Q=df_Q, pval_Q=pval_Q, tau2=tau2_hat,
        tau=math.sqrt(tau2_hat) if math.isfinite(tau2_hat) else math.nan, I2=I2,
        I2_lower=I2_lo, I2_upper=I2_hi, H=H, level_predict=lvl_pred_pct,
        small_values=small_values, method_tau=method_tau, show_common=common,
        show_random=random, _network=net)
    return _assemble(res, reference)


def _design_labels(net: _Network) -> list[str]:
    """Design of each row: the study's treatments in treatment order joined by ':'."""
    arms: dict[int, set[int]] = {}
    for j, a, b in zip(net.study_index.tolist(), net.pos1.tolist(), net.pos2.tolist(),
                       strict=True):
        arms.setdefault(j, set()).update((a, b))
    label = {j: ":".join(net.treatments[a] for a in sorted(s)) for j, s in arms.items()}
    return [label[j] for j in net.study_index.tolist()]


def _assemble(res: NetmetaResult, reference: str) -> NetmetaResult:
    """Fill the contract fields for ``reference`` (a copy when it changes)."""
    import copy

    out = res if reference == res.reference and res.coef_names else copy.copy(res)
    out.reference = reference
    out.method_info = {**res.method_info, "reference": reference}
    others = [t for t in res.treatments if t != reference]
    est = out.main
    out.coef_names = others
    out.beta = est.TE.loc[others, reference].to_numpy(float)
    out.se = est.seTE.loc[others, reference].to_numpy(float)
    out.zval = est.zval.loc[others, reference].to_numpy(float)
    out.pval = est.pval.loc[others, reference].to_numpy(float)
    out.ci_lb = est.lower.loc[others, reference].to_numpy(float)
    out.ci_ub = est.upper.loc[others, reference].to_numpy(float)
    return out
