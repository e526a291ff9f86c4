"""Methods compared in a simulation study, fitted to every replicate of a scenario at once on
the batch kernels (:func:`evsynth.models.engine.fit_batch`, the code path of
:func:`evsynth.meta` and :func:`evsynth.meta_batch`).

A :class:`Method` is a tau^2 estimator x a test (which fixes the confidence interval: ``z``
Wald, ``t``, ``knha`` Hartung-Knapp-Sidik-Jonkman, ``adhoc`` HKSJ with the scale factor
floored at 1) x a prediction-interval type, optionally after a small-study correction:

``correction="trimfill"``
    trim-and-fill (Duval & Tweedie 2000; metafor ``trimfill``): L0 estimator, side from the
    sign of the slope of the meta-regression on sqrt(vi) unless given, trimming and refitting
    with the method's estimator until k0 is stable, then the filled data fitted with the
    method's estimator, test and level. Tested equal to ``evsynth``'s one-fit trim-and-fill.
``correction="petpeese"``
    PET-PEESE (Stanley & Doucouliagos 2014): weighted least squares of yi on sei (PET) and on
    vi (PEESE), weights 1/vi with multiplicative dispersion (t with k - 2 df); PEESE's
    intercept is used when PET's is significant one-sided at 5% (p_two / 2 < 0.05), else
    PET's. No tau^2 and no prediction interval.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import special

from evsynth.errors import InputError
from evsynth.models.engine import Control, fit_batch, prediction_half
from evsynth.models.kernels import FIXED_METHODS, Design, Segments
from evsynth.validation import level_percent, meta_method, test_code

PI_TYPES = ("metafor", "hts")
CORRECTIONS = (None, "trimfill", "petpeese")
#: per-replicate fields every method returns
FIELDS = ("estimate", "se", "ci_lb", "ci_ub", "pval", "tau2", "pi_lb", "pi_ub", "converged",
          "k0")


@dataclass(frozen=True)
class Method:
    """One analysis method of a simulation study.

    Parameters
    ----------
    estimator : str
        tau^2 estimator (``"REML"``, ``"DL"``, ``"PM"``, ``"FE"``, ...; as :func:`evsynth.meta`).
    test : str
        ``"z"``, ``"t"``, ``"knha"`` (HKSJ; alias ``"hksj"``) or ``"adhoc"``: the test and
        confidence interval of the mean effect.
    pi : str
        Prediction interval: ``"metafor"`` (estimate +/- crit * sqrt(se^2 + tau^2), crit of
        the test, metafor's ``predict``) or ``"hts"`` (t with k - 2 df; Higgins, Thompson &
        Spiegelhalter 2009).
    correction : str or None
        ``None``, ``"trimfill"`` or ``"petpeese"`` (see :mod:`evsynth.simulate.methods`).
    side : str or None
        Trim-and-fill: side of the missing studies (``"left"``, ``"right"``; None: estimated
        per replicate, as metafor).
    level : float
        Confidence level (95 or 0.95).
    name : str
        Label in the results (default built from the other fields).

    Returns
    -------
    Method
        A frozen description.

    References
    ----------
    IntHout J, Ioannidis JPA, Borm GF (2014). The Hartung-Knapp-Sidik-Jonkman method for
    random effects meta-analysis is straightforward and considerably outperforms the standard
    DerSimonian-Laird method. BMC Med Res Methodol 14:25. doi:10.1186/1471-2288-14-25

    Examples
    --------
    >>> from evsynth.simulate import Method
    >>> Method("DL", "hksj").name
    'DL+knha'
    """

    estimator: str = "REML"
    test: str = "z"
    pi: str = "metafor"
    correction: str | None = None
    side: str | None = None
    level: float = 95
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "estimator", meta_method(self.estimator))
        object.__setattr__(self, "test", test_code(self.test))
        object.__setattr__(self, "level", level_percent(self.level))
        if self.pi not in PI_TYPES:
            raise InputError(f"Method: field 'pi' is {self.pi!r}; expected one of "
                             f"{', '.join(PI_TYPES)}")
        if self.correction not in CORRECTIONS:
            raise InputError(f"Method: field 'correction' is {self.correction!r}; expected "
                             "None, 'trimfill' or 'petpeese'")
        if self.side not in (None, "left", "right"):
            raise InputError(f"Method: field 'side' is {self.side!r}; expected None, 'left' "
                             "or 'right'")
        if not self.name:
            parts = [self.estimator, self.test]
            if self.pi != "metafor":
                parts.append(f"pi={self.pi}")
            if self.correction:
                parts.insert(0, self.correction)
            object.__setattr__(self, "name", "+".join(parts))

    def params(self) -> dict[str, Any]:
        """The fields as JSON-ready values."""
        return asdict(self)


def _design(y: np.ndarray, v: np.ndarray, sizes: np.ndarray,
            X: np.ndarray | None = None) -> Design:
    return Design(y, v, np.ones((y.size, 1)) if X is None else X, Segments(sizes))


def _fit(y: np.ndarray, v: np.ndarray, sizes: np.ndarray, method: str, test: str,
         level: float, control: Control, X: np.ndarray | None = None) -> dict[str, np.ndarray]:
    return fit_batch(_design(y, v, sizes, X), method, test, level / 100, control,
                     compute_r2=False, row_weights=False)


def _pi(method: Method, est: np.ndarray, se: np.ndarray, tau2: np.ndarray, crit: np.ndarray,
        k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if method.estimator in FIXED_METHODS:
        tau2 = np.zeros_like(est)
    if method.pi == "hts":
        alpha = 1 - method.level / 100
        with np.errstate(invalid="ignore"):
            crit = np.where(k > 2, special.stdtrit(np.maximum(k - 2, 1), 1 - alpha / 2), np.nan)
    half = prediction_half(crit, se, tau2)
    return est - half, est + half


def fit_method(method: Method, yi: np.ndarray, vi: np.ndarray, sizes: np.ndarray,
               control: Control | None = None) -> dict[str, np.ndarray]:
    """Fit ``method`` to every meta-analysis of a stacked batch (``sizes`` studies each).

    Returns the per-replicate arrays of :data:`FIELDS` (``k0``: studies filled by
    trim-and-fill, 1 when PET-PEESE chose PEESE, else 0). A replicate with no study (every
    2x2 table dropped by ``drop00``, every ROM trial without a log ratio) has nothing to fit:
    it is a failure (``converged`` False, NaN results; Morris, White & Crowther 2019, section
    5.3), as are the replicates the method cannot fit.
    """
    con = control or Control()
    sizes = np.asarray(sizes, dtype=np.int64)
    empty = sizes == 0
    if empty.any():
        out = {f: np.full(sizes.size, np.nan) for f in FIELDS}
        out["converged"] = np.zeros(sizes.size, dtype=bool)
        out["k0"] = np.zeros(sizes.size, dtype=np.int64)
        if not empty.all():
            sub = fit_method(method, yi, vi, sizes[~empty], control)
            for f in FIELDS:
                out[f][~empty] = sub[f]
        return out
    if method.correction == "petpeese":
        return _petpeese(method, yi, vi, sizes, con)
    if method.correction == "trimfill":
        return _trimfill(method, yi, vi, sizes, con)
    out = _fit(yi, vi, sizes, method.estimator, method.test, method.level, con)
    return _fields(method, out, sizes, np.zeros(sizes.size, dtype=np.int64))


def _fields(method: Method, out: dict[str, np.ndarray], k: np.ndarray,
            k0: np.ndarray) -> dict[str, np.ndarray]:
    est, se = out["beta"][:, 0], out["se"][:, 0]
    pi_lb, pi_ub = _pi(method, est, se, out["tau2"], out["crit"], k)
    return {"estimate": est, "se": se, "ci_lb": out["ci_lb"][:, 0], "ci_ub": out["ci_ub"][:, 0],
            "pval": out["pval"][:, 0], "tau2": out["tau2"], "pi_lb": pi_lb, "pi_ub": pi_ub,
            "converged": np.asarray(out["converged"], dtype=bool), "k0": k0}


def _estimable(x: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Groups where a regression on ``x`` can be fitted with residual df: k >= 3 and ``x``
    not constant."""
    if not sizes.size:
        return np.zeros(0, dtype=bool)
    st = _starts(sizes)
    return (sizes >= 3) & (np.maximum.reduceat(x, st) > np.minimum.reduceat(x, st))


def _regression(yi: np.ndarray, vi: np.ndarray, sizes: np.ndarray, x: np.ndarray, method: str,
                test: str, level: float, con: Control) -> tuple[dict[str, np.ndarray],
                                                                np.ndarray]:
    """Meta-regression of yi on x in the groups where it is estimable (:func:`_estimable`);
    per-group arrays of the other groups are NaN. Returns (fit, estimable)."""
    ok = _estimable(x, sizes)
    G = sizes.size
    full = {key: np.full((G, 2), np.nan) for key in ("beta", "se", "ci_lb", "ci_ub", "pval")}
    if ok.any():
        rows = np.repeat(ok, sizes)
        out = _fit(yi[rows], vi[rows], sizes[ok], method, test, level, con,
                   np.column_stack([np.ones(int(rows.sum())), x[rows]]))
        for key in full:
            full[key][ok] = out[key]
    return full, ok


def _petpeese(method: Method, yi: np.ndarray, vi: np.ndarray, sizes: np.ndarray,
              con: Control) -> dict[str, np.ndarray]:
    """PET-PEESE per group; groups with k < 3 or equal variances (no regression possible)
    are failures (``converged`` False, NaN results)."""
    pet, ok = _regression(yi, vi, sizes, np.sqrt(vi), "FE", "knha", method.level, con)
    peese, _ = _regression(yi, vi, sizes, vi, "FE", "knha", method.level, con)
    use = pet["pval"][:, 0] / 2 < 0.05
    nan = np.full(sizes.size, np.nan)
    pick = {key: np.where(use, peese[key][:, 0], pet[key][:, 0])
            for key in ("beta", "se", "ci_lb", "ci_ub", "pval")}
    return {"estimate": pick["beta"], "se": pick["se"], "ci_lb": pick["ci_lb"],
            "ci_ub": pick["ci_ub"], "pval": pick["pval"], "tau2": nan, "pi_lb": nan,
            "pi_ub": nan, "converged": ok, "k0": use.astype(np.int64)}


def _starts(sizes: np.ndarray) -> np.ndarray:
    return np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)


def _padded(x: np.ndarray, sizes: np.ndarray, fill: float) -> np.ndarray:
    kmax = int(sizes.max()) if sizes.size else 0
    out = np.full((sizes.size, kmax), fill)
    mask = np.arange(kmax)[None, :] < sizes[:, None]
    out[mask] = x
    return out


def _trimfill(method: Method, yi: np.ndarray, vi: np.ndarray, sizes: np.ndarray,
              con: Control) -> dict[str, np.ndarray]:
    """Trim-and-fill (L0) for every group; metafor's algorithm (see the module docstring)."""
    from evsynth.models.diagnostics.trimfill import rounding_noise

    G = sizes.size
    if method.side is None:
        # metafor: the sign of the slope of rma(yi, vi, mods = sqrt(vi)) with the method's
        # estimator; where that regression cannot be fitted (k < 3, or all vi equal) the
        # side is "left" (studies missing on the left, the usual publication bias)
        fit, ok = _regression(yi, vi, sizes, np.sqrt(vi), method.estimator, "z", 95, con)
        slope = fit["beta"][:, 1]
        sgn = np.ones(G)
        sgn[ok] = np.where(slope[ok] < 0, -1.0, 1.0)
    else:
        sgn = np.full(G, -1.0 if method.side == "right" else 1.0)
    Y = _padded(yi, sizes, np.inf) * sgn[:, None]
    V = _padded(vi, sizes, 1.0)
    kmax = Y.shape[1]
    valid = np.arange(kmax)[None, :] < sizes[:, None]
    Y = np.where(valid, Y, np.inf)
    order = np.argsort(Y, axis=1, kind="stable")
    Ys = np.take_along_axis(Y, order, axis=1)
    Vs = np.take_along_axis(V, order, axis=1)
    k = sizes.astype(float)
    k0 = np.zeros(G, dtype=np.int64)
    beta = np.zeros(G)
    active = np.ones(G, dtype=bool)
    # residuals within the rounding error of the trimmed estimate are 0 (as evsynth.trimfill)
    noise = np.asarray(rounding_noise(sizes, np.where(valid, np.abs(Ys), 0.0).max(axis=1)))
    for _ in range(con.maxiter):
        idx = np.flatnonzero(active)
        if not idx.size:
            break
        m = sizes[idx] - k0[idx]
        keep = np.arange(kmax)[None, :] < m[:, None]
        b = _fit(Ys[idx][keep], Vs[idx][keep], m, method.estimator, "z", 95,
                 con)["beta"][:, 0]
        beta[idx] = b
        c = Ys[idx] - b[:, None]
        c[np.abs(c) <= noise[idx, None]] = 0.0
        a = np.where(valid[idx], np.abs(c), np.inf)
        ranks = np.empty_like(a)
        np.put_along_axis(ranks, np.argsort(a, axis=1, kind="stable"),
                          np.arange(1, kmax + 1, dtype=float)[None, :].repeat(idx.size, 0),
                          axis=1)
        Sr = np.where(valid[idx] & (c > 0), ranks, 0.0).sum(axis=1)
        kk = k[idx]
        new = np.maximum(0, np.round((4 * Sr - kk * (kk + 1)) / (2 * kk - 1))).astype(np.int64)
        # at least one study is kept (k0 = k only through rounding in a one-study refit)
        new = np.minimum(new, sizes[idx] - 1)
        done = new == k0[idx]
        k0[idx] = new
        active[idx[done]] = False
    else:
        if active.any():
            g = int(np.flatnonzero(active)[0])
            raise InputError(f"trimfill: replicate {g + 1}: the trim-and-fill algorithm did "
                             f"not converge in {con.maxiter} iterations")
    # fill: mirror the k0 largest (on the working side) about the last trimmed estimate
    total = sizes + k0
    fy = np.full((G, kmax * 2), np.nan)
    fv = np.full((G, kmax * 2), np.nan)
    fy[:, :kmax] = np.where(valid, _padded(yi, sizes, np.nan), np.nan)
    fv[:, :kmax] = np.where(valid, V, np.nan)
    j = np.arange(kmax)[None, :]
    src = sizes[:, None] - k0[:, None] + j  # sorted positions of the k0 most extreme
    has = j < k0[:, None]
    srcc = np.clip(src, 0, kmax - 1)
    ext_y = np.take_along_axis(Ys, srcc, axis=1) * sgn[:, None]  # back on the original scale
    ext_v = np.take_along_axis(Vs, srcc, axis=1)
    b_orig = sgn * beta
    fill_y = 2 * b_orig[:, None] - ext_y
    cols = sizes[:, None] + j
    rows = np.broadcast_to(np.arange(G)[:, None], cols.shape)
    fy[rows[has], cols[has]] = fill_y[has]
    fv[rows[has], cols[has]] = ext_v[has]
    mask = np.arange(kmax * 2)[None, :] < total[:, None]
    out = _fit(fy[mask], fv[mask], total, method.estimator, method.test, method.level, con)
    return _fields(method, out, total, k0)
