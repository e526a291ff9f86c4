"""Profile of the (restricted) log-likelihood of a :func:`evsynth.meta` fit over tau^2
(metafor 3.8 ``profile.rma.uni``), and of the ML log-likelihood over one coefficient.

tau^2: at each value of a grid the model is refitted with tau^2 fixed (metafor ``rma(...,
tau2 = value)``: the coefficients estimated at that tau^2, with the fit's weights and test), and
the log-likelihood of the fit's kind is recorded: REML for REML fits, ML otherwise (metafor's
``logLik.rma``). All grid points are fitted at once as one batch of the engine.

A coefficient ``beta_j`` (an evsynth extension; metafor profiles only variance components):
at each value ``b`` the model ``y - b x_j = X_{-j} beta_{-j} + u + e`` is fitted by ML (tau^2
and the other coefficients maximised; tau^2 = 0 for equal-effects fits) and its ML
log-likelihood recorded (Hardy & Thompson 1996). The REML likelihood does not contain the
coefficients, so REML fits (and fits without a likelihood) are refused.
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
    """The profiled log-likelihood over a grid of values of one parameter (metafor
    ``profile.rma``).

    ``method_info["parameter"]`` names it (``"tau2"``, or a coefficient). ``to_frame()``: one
    row per grid value; for tau^2 the columns ``tau2``, ``ll`` and, per coefficient ``name``, its
    estimate ``beta.name`` and confidence limits ``ci_lb.name``, ``ci_ub.name`` at that tau^2;
    for a coefficient the columns ``<name>``, ``ll`` and the profiled ``tau2``. ``estimate``
    (``tau2_hat`` for tau^2) and ``ll_max`` are the fit's estimate and log-likelihood (the
    reference lines of :meth:`plot`); ``method_info`` records the likelihood (ML or REML), the
    grid and notes.
    """

    _dict_fields = ("estimate", "ll_max", "level", "method_info", "table")

    def __init__(self, frame: pd.DataFrame, estimate: float, ll_max: float, level: float,
                 method_info: dict[str, Any]) -> None:
        self.frame = frame
        self.estimate = estimate
        self.ll_max = ll_max
        self.level = level
        self.method_info = method_info

    @property
    def tau2_hat(self) -> float:
        """The fit's estimate of tau^2 (a profile over tau^2)."""
        if self.method_info["parameter"] != "tau2":
            raise InputError(f"tau2_hat: this is a profile over "
                             f"{self.method_info['parameter']!r}; use estimate")
        return self.estimate

    def summary_text(self) -> str:
        info = self.method_info
        par = info["parameter"]
        lines = [f"Profile of the {info['likelihood']} log-likelihood over {par} "
                 f"({len(self.frame)} values in [{info['xlim'][0]:.4g}, "
                 f"{info['xlim'][1]:.4g}]); estimate {par} = {self.estimate:.4f}, "
                 f"logLik = {self.ll_max:.4f}",
                 self.frame[[par, "ll"]].to_string(index=False,
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
        par = self.method_info["parameter"]
        ax.plot(self.frame[par], self.frame["ll"], "-o", color="black", markersize=4)
        ax.axhline(self.ll_max, linestyle=":", color="black")
        ax.axvline(self.estimate, linestyle=":", color="black")
        if cline:
            ax.axhline(self.ll_max - 3.841458820694124 / 2, linestyle="--", color="grey")
        label = r"$\tau^2$" if par == "tau2" else par
        ax.set_xlabel(f"{label} value")
        ax.set_ylabel(f"Profile {self.method_info['likelihood']} log-likelihood")
        ax.set_title(f"Profile plot for {label}")
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
    _check_steps(steps)
    notes: list[str] = []
    if xlim is None:
        lo, hi = _default_xlim(fit, notes)
    else:
        lo, hi = _check_xlim(xlim, nonnegative=True)
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
    info = {"parameter": "tau2", "likelihood": "REML" if reml else "ML", "xlim": [lo, hi],
            "steps": int(steps), "method": fit.method, "notes": notes,
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


def _check_steps(steps: Any) -> None:
    if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, (int, np.integer)) \
            or steps < 2:
        raise InputError(f"profile: argument 'steps' is {steps!r}; expected a whole number >= 2")


def _check_xlim(xlim: Any, nonnegative: bool) -> tuple[float, float]:
    what = "two finite numbers" + (" >= 0" if nonnegative else "")
    try:
        vals = [float(x) for x in xlim]
    except (TypeError, ValueError):
        raise InputError(f"profile: argument 'xlim' is {xlim!r}; expected {what}") from None
    if len(vals) != 2 or not all(math.isfinite(x) for x in vals) or (
            nonnegative and min(vals) < 0):
        raise InputError(f"profile: argument 'xlim' is {xlim!r}; expected {what}")
    lo, hi = sorted(vals)
    return lo, hi


def profile_coef(fit: MetaResult, coef: str | int, xlim: Sequence[float] | None = None,
                 steps: int = 20) -> ProfileResult:
    """Profile the ML log-likelihood of an ML or equal-effects fit over one coefficient.

    At each value ``b`` of the grid, ``y - b x_j`` is fitted on the other columns of the model
    matrix by ML (tau^2 >= 0 and the other coefficients maximised; tau^2 = 0 for equal-effects
    fits), all values at once as one batch of the engine. The profile's maximum is the fit's
    log-likelihood at ``b = beta_j`` (Hardy & Thompson 1996, section 2.2).

    Parameters
    ----------
    fit : MetaResult
        A :func:`evsynth.meta` fit with ``method`` ML, EE, FE or CE (the REML likelihood does not
        contain the coefficients; DL, PM, ... have no likelihood), inverse-variance weighted,
        tau^2 estimated.
    coef : str or int
        The coefficient: its name (``"intrcpt"``, ``"ablat"``) or 0-based index.
    xlim : sequence of two floats, optional
        The range; default ``beta_j +/- z_.995 se_j``.
    steps : int, default 20
        Number of grid values (>= 2).

    Returns
    -------
    ProfileResult
        Columns ``<name>``, ``ll`` and the profiled ``tau2``; ``plot()`` draws it.

    Raises
    ------
    InputError
        For a fit whose likelihood does not contain the coefficient, an unknown coefficient,
        or bad ``xlim``/``steps``.

    References
    ----------
    .. [1] Hardy RJ, Thompson SG (1996). A likelihood approach to meta-analysis with random
           effects. *Stat Med* 15(6):619-629.
           doi:10.1002/(SICI)1097-0258(19960330)15:6<619::AID-SIM188>3.0.CO;2-A

    Examples
    --------
    >>> import evsynth
    >>> fit = evsynth.meta([0.1, 0.3, 0.35, 0.65, 0.45, 0.15], [0.03, 0.03, 0.05, 0.01, 0.05,
    ...                    0.02], method="ML")
    >>> prof = fit.profile(coef="intrcpt", steps=5)
    >>> bool(abs(prof.to_frame()["ll"].max() - prof.ll_max) < 1e-9)
    True
    """
    from evsynth.models.engine import Control, fit_batch
    from evsynth.models.kernels import FIXED_METHODS, Design, Segments

    likelihood = ("ML", *FIXED_METHODS)
    if fit.method not in likelihood:
        raise InputError(f"profile(coef=...): needs an ML or equal-effects fit; this one is "
                         f"{fit.method!r} (the REML likelihood does not contain the "
                         "coefficients; refit with method='ML')")
    if fit.user_weights is not None or not fit.weighted or fit.tau2_fix \
            or getattr(fit, "_common_df", None) is not None:
        raise InputError("profile(coef=...): needs an inverse-variance weighted fit with "
                         "tau^2 estimated (user weights, weighted=False, a fixed tau^2 or a "
                         "common-tau^2 subgroup have no such likelihood profile)")
    names = list(fit.coef_names)
    if isinstance(coef, (int, np.integer)) and not isinstance(coef, (bool, np.bool_)):
        j = int(coef)
        if not 0 <= j < len(names):
            raise InputError(f"profile: argument 'coef' is {coef!r}; expected an index in "
                             f"0..{len(names) - 1} or a name ({', '.join(names)})")
    elif isinstance(coef, str) and coef in names:
        j = names.index(coef)
    else:
        raise InputError(f"profile: argument 'coef' is {coef!r}; expected one of "
                         f"{', '.join(names)} (or a 0-based index)")
    name = names[j]
    _check_steps(steps)
    if xlim is None:
        z = 2.5758293035489004  # qnorm(0.995)
        lo, hi = fit.beta[j] - z * fit.se[j], fit.beta[j] + z * fit.se[j]
    else:
        lo, hi = _check_xlim(xlim, nonnegative=False)
    grid = np.linspace(lo, hi, int(steps))
    des = fit.design
    G, k = grid.size, fit.k
    y = (des.y[None, :] - grid[:, None] * des.X[None, :, j]).ravel()
    v = np.tile(des.v, G)
    fixed = fit.method in FIXED_METHODS
    if fit.p == 1:
        ll, tau2 = _ll_fixed_mean(y.reshape(G, k), des.v, fixed, fit.control)
    else:
        Xr = np.tile(np.delete(des.X, j, axis=1), (G, 1))
        stacked = Design(y, v, Xr, Segments(np.full(G, k)))
        with_int = fit.intercept and j != 0
        out = fit_batch(stacked, "FE" if fixed else "ML", "z", fit.level,
                        Control(tol=fit.control.tol, maxiter=fit.control.maxiter,
                                ll0check=fit.control.ll0check),
                        intercept=with_int, compute_r2=False, row_weights=False)
        ll, tau2 = out["ll_ML"], out["tau2"]
    frame = pd.DataFrame({name: grid, "ll": ll, "tau2": tau2})
    ll_max = float(fit.fit_stats["ll_ML"])
    notes = []
    if np.any(ll >= ll_max + 1e-3):
        notes.append("at least one profiled log-likelihood is larger than that of the fit "
                     "(the estimate may not be the maximum)")
    info = {"parameter": name, "likelihood": "ML", "xlim": [float(lo), float(hi)],
            "steps": int(steps), "method": fit.method, "notes": notes,
            "reference": "Hardy & Thompson 1996, Stat Med 15:619 (profile likelihood of a "
                         "coefficient)"}
    return ProfileResult(frame, float(fit.beta[j]), ll_max, fit.level, info)


def _ll_fixed_mean(r: np.ndarray, v: np.ndarray, fixed: bool,
                   control: Any) -> tuple[np.ndarray, np.ndarray]:
    """ML log-likelihood of ``r_i ~ N(0, v_i + tau^2)`` (rows: grid values), maximised over
    tau^2 >= 0 unless ``fixed``: the root of the ML score ``sum w^2 r^2 - sum w`` (Hardy &
    Thompson 1996), 0 when the score is <= 0 there; the root is bracketed and found by Brent's
    method (the score changes sign once above any root of ``sum r^2 / (v + t)^2`` scale)."""
    from scipy.optimize import brentq

    def ll(t: float, row: np.ndarray) -> float:
        s = v + t
        return float(-0.5 * np.sum(np.log(2 * np.pi * s)) - 0.5 * np.sum(row**2 / s))

    G = r.shape[0]
    out_ll, out_t = np.empty(G), np.zeros(G)
    for g in range(G):
        row = r[g]
        t_best = 0.0
        if not fixed:
            def score(t: float, row: np.ndarray = row) -> float:
                w = 1 / (v + t)
                return float(np.sum(w * w * row * row) - np.sum(w))

            if score(0.0) > 0:
                hi = max(float(np.mean(row**2)), float(np.max(v))) + 1.0
                while score(hi) > 0:
                    hi *= 4
                # the score may have several roots: take the best of the roots found on a grid
                pts = np.concatenate(([0.0], hi * np.linspace(0, 1, 65)[1:] ** 2))
                vals = np.array([score(t) for t in pts])
                cands = [0.0]
                for a_, b_, fa, fb in zip(pts[:-1], pts[1:], vals[:-1], vals[1:], strict=True):
                    if fa > 0 >= fb:
                        cands.append(brentq(score, a_, b_, xtol=control.tol * 1e-3,
                                            rtol=4 * np.finfo(float).eps, maxiter=500))
                t_best = max(cands, key=lambda t: ll(t, row))
        out_t[g] = t_best
        out_ll[g] = ll(t_best, row)
    return out_ll, out_t
