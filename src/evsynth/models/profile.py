"""Profile of the (restricted) log-likelihood of a :func:`evsynth.meta` fit over tau^2
(metafor 3.8 ``profile.rma.uni``).

At each tau^2 of a grid the model is refitted with tau^2 fixed (metafor ``rma(..., tau2 =
value)``: the coefficients estimated at that tau^2, with the fit's weights and test), and the
log-likelihood of the fit's kind is recorded: REML for REML fits, ML otherwise (metafor's
``logLik.rma``). All grid points are fitted at once as one batch of the engine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from evsynth._lazy import LazyModule
from evsynth.errors import InputError
from evsynth.models.results import FrameResult

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from evsynth.models.meta import MetaResult
else:
    pd = LazyModule("pandas")


class ProfileResult(FrameResult):
    """The profiled log-likelihood over a grid of tau^2 values (metafor ``profile.rma``).

    ``to_frame()``: one row per grid value with ``tau2``, ``ll`` and, per coefficient
    ``name``, its estimate ``beta.name`` and confidence limits ``ci_lb.name``, ``ci_ub.name`` at
    that tau^2. ``tau2_hat`` and ``ll_max`` are the fit's estimate and log-likelihood (the
    reference lines of :meth:`plot`); ``method_info`` records the likelihood (ML or REML), the
    grid and notes.
    """

    _dict_fields = ("tau2_hat", "ll_max", "level", "method_info", "table")

    def __init__(self, frame: pd.DataFrame, tau2_hat: float, ll_max: float, level: float,
                 method_info: dict[str, Any]) -> None:
        self.frame = frame
        self.tau2_hat = tau2_hat
        self.ll_max = ll_max
        self.level = level
        self.method_info = method_info

    def summary_text(self) -> str:
        info = self.method_info
        lines = [f"Profile of the {info['likelihood']} log-likelihood over tau^2 "
                 f"({len(self.frame)} values in [{info['xlim'][0]:.4g}, "
                 f"{info['xlim'][1]:.4g}]); estimate tau^2 = {self.tau2_hat:.4f}, "
                 f"logLik = {self.ll_max:.4f}",
                 self.frame[["tau2", "ll"]].to_string(index=False,
                                                      float_format=lambda x: f"{x:.4f}")]
        lines += [f"Note: {n}" for n in info["notes"]]
        return "\n".join(lines)

    def plot(self, *, cline: bool = False, width: float = 6.0, height: float = 4.5) -> Figure:
        """The profile plot (metafor ``plot.profile.rma``): the log-likelihood against tau^2
        (points joined by lines), dotted reference lines at the fit's log-likelihood and at its
        estimate of tau^2; with ``cline=True`` also the line ``ll_max - chi^2_{1,.95} / 2``
        whose crossings are the profile-likelihood 95% CI. Returns a matplotlib Figure."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(width, height), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.plot(self.frame["tau2"], self.frame["ll"], "-o", color="black", markersize=4)
        ax.axhline(self.ll_max, linestyle=":", color="black")
        ax.axvline(self.tau2_hat, linestyle=":", color="black")
        if cline:
            ax.axhline(self.ll_max - 3.841458820694124 / 2, linestyle="--", color="grey")
        ax.set_xlabel(r"$\tau^2$ value")
        ax.set_ylabel(f"Profile {self.method_info['likelihood']} log-likelihood")
        ax.set_title(r"Profile plot for $\tau^2$")
        return fig


def profile_tau2(fit: MetaResult, xlim: Sequence[float] | None = None,
                 steps: int = 20) -> ProfileResult:
    """Profile the (restricted) log-likelihood of a fit over tau^2 (metafor
    ``profile.rma.uni``).

    Parameters
    ----------
    fit : MetaResult
        A random- or mixed-effects :func:`evsynth.meta` fit (any tau^2 estimator; the
        likelihood is REML for REML fits and ML otherwise, as metafor).
    xlim : sequence of two floats, optional
        The tau^2 range (>= 0). Default as metafor: from ``min(tau^2, lower CI bound)`` to
        ``max(0.1, tau^2, upper CI bound)`` with the default :meth:`confint` type; if that
        fails, ``tau^2 +/- z_.995 se(tau^2)`` (lower end floored at 0, upper at 0.1).
    steps : int, default 20
        Number of grid values (>= 2), equally spaced.

    Returns
    -------
    ProfileResult
        The grid with ``ll`` and the coefficients at each value; ``plot()`` draws it.

    Raises
    ------
    InputError
        For an equal-effects fit (no tau^2), a view of a joint model, ``steps < 2`` or a bad
        ``xlim``.

    References
    ----------
    .. [1] Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package.
           *J Stat Softw* 36(3):1-48. doi:10.18637/jss.v036.i03
    .. [2] Hardy RJ, Thompson SG (1996). A likelihood approach to meta-analysis with random
           effects. *Stat Med* 15(6):619-629.
           doi:10.1002/(SICI)1097-0258(19960330)15:6<619::AID-SIM188>3.0.CO;2-A

    Examples
    --------
    >>> import evsynth
    >>> fit = evsynth.meta([0.1, 0.3, 0.35, 0.65, 0.45, 0.15], [0.03, 0.03, 0.05, 0.01, 0.05,
    ...                    0.02])
    >>> prof = fit.profile(steps=5)
    >>> len(prof.to_frame()), bool(prof.to_frame()["ll"].max() <= prof.ll_max + 1e-9)
    (5, True)
    """
    from evsynth.models.engine import fit_batch
    from evsynth.models.kernels import FIXED_METHODS, Design, Segments

    if fit.method in FIXED_METHODS:
        raise InputError("profile: an equal-effects model has no tau^2 to profile")
    if getattr(fit, "_common_df", None) is not None:
        raise InputError("profile: this subgroup uses the common tau^2 of the subgroup model; "
                         "profile that model instead")
    if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, (int, np.integer)) \
            or steps < 2:
        raise InputError(f"profile: argument 'steps' is {steps!r}; expected a whole number >= 2")
    notes: list[str] = []
    if xlim is None:
        lo, hi = _default_xlim(fit, notes)
    else:
        try:
            lo, hi = sorted(float(x) for x in xlim)
        except (TypeError, ValueError):
            raise InputError(f"profile: argument 'xlim' is {xlim!r}; expected two numbers "
                             ">= 0") from None
        if len(list(xlim)) != 2 or not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0:
            raise InputError(f"profile: argument 'xlim' is {xlim!r}; expected two finite "
                             "numbers >= 0")
    grid = np.linspace(lo, hi, int(steps))
    des = fit.design
    G, k = grid.size, fit.k
    stacked = Design(np.tile(des.y, G), np.tile(des.v, G), np.tile(des.X, (G, 1)),
                     Segments(np.full(G, k)))
    a = None if fit.user_weights is None else np.tile(fit.user_weights, G)
    out = fit_batch(stacked, fit.method, fit.test, fit.level, fit.control, btt=fit.btt,
                    intercept=fit.intercept, compute_r2=False, row_weights=False,
                    tau2_fixed=grid, weights=a, weighted=fit.weighted)
    reml = fit.method == "REML"
    ll = out["ll_REML"] if reml else out["ll_ML"]
    cols: dict[str, Any] = {"tau2": grid, "ll": ll}
    for j, name in enumerate(fit.coef_names):
        cols[f"beta.{name}"] = out["beta"][:, j]
        cols[f"ci_lb.{name}"] = out["ci_lb"][:, j]
        cols[f"ci_ub.{name}"] = out["ci_ub"][:, j]
    ll_max = fit.fit_stats["ll_REML" if reml else "ll_ML"]
    if fit.method in ("ML", "REML") and np.any(ll >= ll_max + 1e-3):
        notes.append("at least one profiled log-likelihood is larger than that of the fit "
                     "(the estimate may not be the maximum)")
    info = {"likelihood": "REML" if reml else "ML", "xlim": [lo, hi], "steps": int(steps),
            "method": fit.method, "notes": notes,
            "reference": "metafor profile.rma.uni (Viechtbauer 2010)"}
    return ProfileResult(pd.DataFrame(cols), fit.tau2, float(ll_max), fit.level, info)


def _default_xlim(fit: MetaResult, notes: list[str]) -> tuple[float, float]:
    """metafor's default range: the CI of tau^2 widened to include the estimate and 0.1."""
    try:
        ci = fit.confint().frame.loc["tau2"]
        lo, hi = float(ci["ci_lb"]), float(ci["ci_ub"])
        if math.isfinite(lo) and math.isfinite(hi):
            return min(fit.tau2, lo), max(0.1, fit.tau2, hi)
    except InputError as exc:
        notes.append(f"no CI for the range ({exc}); tau^2 +/- 2.58 SE used")
    z = 2.5758293035489004  # qnorm(0.995)
    se = fit.se_tau2
    if math.isfinite(se):
        return max(0.0, fit.tau2 - z * se), max(0.1, fit.tau2 + z * se)
    return max(0.0, fit.tau2 / 4), max(0.1, fit.tau2 * 4)
