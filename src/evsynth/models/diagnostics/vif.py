"""Variance inflation factors of the moderator coefficients (metafor ``vif.rma``).

Registered for :class:`~evsynth.models.meta.MetaResult` meta-regressions (metafor: "VIFs not
applicable to intercept-only models").

For a set ``b`` of m coefficients, the generalised variance inflation factor of Fox & Monette
(1992, J Am Stat Assoc 87:178, doi:10.1080/01621459.1992.10475190) is computed from the
correlation matrix ``R`` of ``Var(b)`` (without the intercept, unless ``intercept=True``):

    GVIF = det(R_bb) det(R_-b-b) / det(R),

which is the ordinary VIF for a single coefficient; the generalised standard-error inflation
factor is ``GSIF = GVIF^(1/(2m))``. With ``reestimate=True`` the model is refitted with only the
coefficients in ``b`` (and the intercept) and ``GVIF = det(Var(b)_full) / det(Var(b)_reduced)``
(so tau^2 is re-estimated; metafor's ``reestimate``). ``reestimate=True`` with ``sim`` (allowed
by metafor 3.8.1's ``vif.rma``) computes the simulated VIFs the same way on each simulated fit.

``sim=True`` (or a number of simulations, default 1000) adds metafor's simulation-based
reference distribution (``.compvifsim``): the moderators are made independent by permutation,
the model refitted (with the fit's user weights, ``weighted`` and fixed tau^2, as metafor), and
the VIFs recomputed. What is permuted follows metafor: for a formula model the *data columns*
the formula uses (metafor's ``get_all_vars(formula, data)``, each column shuffled on its own,
``lapply(data, sample)``) and the model matrix is rebuilt from them (so a factor's dummies,
an interaction and ``np.log(x)`` move with their variable; ``model.matrix`` of the shuffled
data); for matrix moderators each column of the model matrix (``apply(X, 2, sample)``). A
simulated model matrix without full rank gives, as metafor, ``inf`` for the groups holding a
coefficient R would drop (a column in the span of the columns before it) and NaN for the
others. ``prop`` is the share of simulated VIFs at or below the observed one, ``mean(vifs >=
sim, na.rm = TRUE)``: NaN left out, ``inf`` counted. Seeded through ``seed`` (numpy's
generator: R's draws cannot be reproduced, so only the distribution agrees with metafor).

References
----------
Fox J, Monette G (1992). Generalized collinearity diagnostics. J Am Stat Assoc 87:178-183,
doi:10.1080/01621459.1992.10475190. metafor ``vif.rma`` and ``.compvifsim``
(misc.func.hidden.vif.r).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from evsynth.errors import InputError
from evsynth.models.diagnostics import register
from evsynth.models.diagnostics._common import INT_ONLY
from evsynth.models.influence import fit_groups, whole_number
from evsynth.models.meta import MetaResult
from evsynth.models.results import FrameResult


def _not_int_only(fit: Any) -> bool:
    return not INT_ONLY["when"](fit)


class VifResult(FrameResult):
    """Variance inflation factors, one row per coefficient or group of coefficients:
    ``coefs`` (coefficient names, comma-separated), ``m`` (number of coefficients), ``vif``
    (GVIF), ``sif`` (GSIF = GVIF^(1/(2m))), and with ``sim`` the share ``prop`` of simulated
    VIFs at or below the observed one; ``sim_vifs`` holds the simulated values (rows =
    simulations, columns = rows of the table)."""

    _dict_fields = ("reestimate", "intercept", "n_sim", "seed", "coefs", "m", "vif", "sif",
                    "prop", "sim_vifs")

    def __init__(self, frame: pd.DataFrame, *, reestimate: bool, intercept: bool,
                 sim_vifs: np.ndarray | None, seed: int | None) -> None:
        self.frame = frame
        self.reestimate = reestimate
        self.intercept = intercept
        self.sim_vifs = sim_vifs
        self.n_sim = 0 if sim_vifs is None else int(sim_vifs.shape[0])
        self.seed = seed

    @property
    def vifs(self) -> np.ndarray:
        """The VIFs as an array (metafor ``vifs``)."""
        return self.frame["vif"].to_numpy()

    @property
    def prop(self) -> np.ndarray | None:
        """Share of simulated VIFs <= the observed ones (None without ``sim``)."""
        return self.frame["prop"].to_numpy() if "prop" in self.frame.columns else None

    def summary_text(self) -> str:
        head = "Generalized variance inflation factors (Fox & Monette 1992)"
        if self.reestimate:
            head += "; models re-estimated"
        if self.n_sim:
            head += f"; {self.n_sim} simulations (seed {self.seed})"
        return head + "\n" + self.frame.to_string(index=False,
                                                   float_format=lambda x: f"{x:.4f}")


def _groups(btt: Any, names: list[str]) -> list[np.ndarray]:
    """metafor's ``btt`` for vif: None (each coefficient), one group (an int, a sequence of
    ints, or a string matched against the coefficient names as metafor's ``grep``) or a list of
    such groups. Indices are 0-based as everywhere in evsynth."""
    p = len(names)

    def one(spec: Any) -> np.ndarray:
        if isinstance(spec, str):
            try:
                pat = re.compile(spec)
            except re.error as exc:
                raise InputError(f"vif: btt pattern {spec!r} is not a valid regular expression "
                                 f"({exc})") from None
            found = [j for j, n in enumerate(names) if pat.search(n)]
            if not found:
                raise InputError(f"vif: btt {spec!r} matches no coefficient (coefficients: "
                                 f"{', '.join(names)})")
            return np.array(found)
        arr = np.atleast_1d(np.asarray(spec))
        if arr.size == 0 or arr.dtype.kind not in "iu" and not (
                arr.dtype.kind == "f" and np.all(arr == np.round(arr))):
            raise InputError(f"vif: btt must hold coefficient indices (0-based) or a name "
                             f"pattern; got {spec!r}")
        idx = np.unique(arr.astype(int))
        if idx.min() < 0 or idx.max() >= p:
            raise InputError(f"vif: btt indices must be in 0..{p - 1} (0-based, coefficients "
                             f"{', '.join(names)}); got {list(map(int, arr))}")
        return idx

    if btt is None:
        return [np.array([j]) for j in range(p)]
    if isinstance(btt, str) or np.isscalar(btt):
        return [one(btt)]
    items = list(btt)
    if items and all(isinstance(b, (int, np.integer)) for b in items):
        return [one(items)]
    return [one(b) for b in items]


def _gvif_corr(vb: np.ndarray, idx: np.ndarray) -> float:
    """det(R_bb) det(R_-b-b) / det(R) on the correlation matrix of ``vb``."""
    sd = np.sqrt(np.diag(vb))
    R = vb / np.outer(sd, sd)
    rest = np.setdiff1d(np.arange(R.shape[0]), idx)
    d_b = np.linalg.det(R[np.ix_(idx, idx)])
    d_r = np.linalg.det(R[np.ix_(rest, rest)]) if rest.size else 1.0
    return float(d_b * d_r / np.linalg.det(R))


@register("vif", MetaResult, when=_not_int_only,
          requires="meta-regressions (as in metafor: not for intercept-only models)")
def vif_rma(fit: MetaResult, btt: Any = None, intercept: bool = False,
            reestimate: bool = False, sim: bool | int = False,
            seed: int | None = None) -> VifResult:
    """(Generalised) variance inflation factors (metafor ``vif.rma``; Fox & Monette 1992).

    ``btt``: None (one VIF per coefficient), a group (0-based indices or a name pattern) for
    one generalised VIF, or a list of groups. ``intercept``: include the intercept (metafor's
    ``intercept=TRUE``). ``reestimate``: refit the model for each group instead of using the
    correlation matrix of the full fit. ``sim``: ``True`` (1000) or a number >= 2 of
    simulations of the reference distribution (see the module docstring), seeded by ``seed``.
    """
    names = list(fit.coef_names)
    p = fit.p
    drop_int = fit.intercept and not intercept
    groups = []
    if btt is None:
        groups = [np.array([j]) for j in range(1 if drop_int else 0, p)]
    for g in [] if btt is None else _groups(btt, names):
        kept = g[g > 0] if drop_int else g
        if kept.size == 0:
            raise InputError("vif: a btt group holds only the intercept; its VIF is not defined "
                             "(use intercept=True to include it)")
        groups.append(kept)
    n_sim = 0
    if sim is not False and sim is not None:
        n_sim = 1000 if sim is True else whole_number(sim, "vif: sim", 2)
    if (reestimate or n_sim) and not fit.refittable_with_settings:
        raise InputError("vif: reestimate and sim refit the model, which is not possible for "
                         "this fit (a subgroup of a common-tau^2 model)")
    vb = fit.vb
    keep = np.arange(1, p) if drop_int else np.arange(p)
    vbk = vb[np.ix_(keep, keep)]
    pos = {int(j): i for i, j in enumerate(keep)}
    vifs = np.empty(len(groups))
    for i, g in enumerate(groups):
        if reestimate:
            vifs[i] = _gvif_reestimate(fit, g, drop_int)
        else:
            vifs[i] = _gvif_corr(vbk, np.array([pos[int(j)] for j in g]))
    m = np.array([g.size for g in groups])
    frame = pd.DataFrame({"coefs": [", ".join(names[j] for j in g) for g in groups], "m": m,
                          "vif": vifs, "sif": vifs ** (1 / (2 * m))})
    sims = None
    if n_sim and not np.all(vifs[np.isfinite(vifs)] == 1):
        sims = _simulate(fit, groups, keep, pos, n_sim, seed, bool(reestimate), drop_int)
        with np.errstate(invalid="ignore"):
            ok = ~np.isnan(sims)  # metafor: mean(vifs >= sim, na.rm = TRUE); inf counts
            frame["prop"] = (np.sum((vifs[None, :] >= sims) & ok, axis=0) / ok.sum(axis=0))
    return VifResult(frame, reestimate=bool(reestimate), intercept=bool(intercept),
                     sim_vifs=sims, seed=seed)


def _gvif_reestimate(fit: MetaResult, g: np.ndarray, drop_int: bool) -> float:
    """det(Var(b_g)) of the full fit over that of the model with only the columns g (and the
    intercept): metafor's ``.compvif`` with ``reestimate=TRUE``."""
    X = np.asarray(fit.model_matrix, dtype=float)
    cols = np.r_[0, g] if drop_int else g
    k = fit.k

    def build(gr: np.ndarray) -> tuple[np.ndarray, ...]:
        return fit.yi, fit.vi, X[:, cols], np.arange(k)

    # the fit's weights, weighted and fixed tau^2 carried, as metafor's .compvif
    vb = fit_groups(fit, np.array([k]), build, p=cols.size)["vb"][0]
    if not np.all(np.isfinite(vb)):
        return np.nan
    vr = vb[1:, 1:] if drop_int else vb
    return float(np.linalg.det(fit.vb[np.ix_(g, g)]) / np.linalg.det(vr))


def _simulate(fit: MetaResult, groups: list[np.ndarray], keep: np.ndarray, pos: dict[int, int],
              n_sim: int, seed: int | None, reestimate: bool = False,
              drop_int: bool = True) -> np.ndarray:
    """VIFs of ``n_sim`` refits with independently permuted moderators (one batch): the
    formula's data columns, or the model-matrix columns for matrix moderators (metafor
    ``.compvifsim``; see the module docstring). With ``reestimate`` each simulated fit's VIFs
    are those of ``reestimate=True`` on it (metafor's ``.compvifsim`` hands the refit to
    ``.compvif`` with ``obj = tmp``): ``det(Var(b_g))`` of the simulated fit over that of its
    refit with only the columns g (and the intercept), the fit's weights, ``weighted`` and fixed
    tau^2 carried; a reduced refit that fails is NaN (metafor: ``NA`` from ``try``).

    References
    ----------
    metafor 3.8.1 ``.compvifsim`` and ``.compvif`` (misc.func.hidden.vif.r); Fox J, Monette G
    (1992). J Am Stat Assoc 87:178-183, doi:10.1080/01621459.1992.10475190.
    """
    k, p = fit.k, fit.p
    rng = np.random.default_rng(seed)
    Xs = simulated_model_matrices(fit, n_sim, rng)
    y, v = fit.yi, fit.vi

    def build(gr: np.ndarray) -> tuple[np.ndarray, ...]:
        return (np.tile(y, gr.size), np.tile(v, gr.size), Xs[gr].reshape(-1, p),
                np.tile(np.arange(k), gr.size))

    res = fit_groups(fit, np.full(n_sim, k), build)
    vbs = res["vb"][:, keep][:, :, keep]
    out = np.full((n_sim, len(groups)), np.nan)
    ok = np.all(np.isfinite(vbs.reshape(n_sim, -1)), axis=1)
    dropped = _redundant_columns(Xs)  # (n_sim, p): the coefficients R's lm() would drop
    for i, g in enumerate(groups):
        out[:, i] = np.where(dropped[:, g].any(axis=1), np.inf, np.nan)
    if reestimate:
        idx_ok = np.flatnonzero(ok)
        vb_full = res["vb"][idx_ok]
        for i, g in enumerate(groups if idx_ok.size else []):
            cols = np.r_[0, g] if drop_int else g

            def build_g(gr: np.ndarray, cols: np.ndarray = cols) -> tuple[np.ndarray, ...]:
                return (np.tile(y, gr.size), np.tile(v, gr.size),
                        Xs[idx_ok[gr]][:, :, cols].reshape(-1, cols.size),
                        np.tile(np.arange(k), gr.size))

            vb_r = fit_groups(fit, np.full(idx_ok.size, k), build_g, p=cols.size)["vb"]
            vr = vb_r[:, 1:, 1:] if drop_int else vb_r
            with np.errstate(invalid="ignore", divide="ignore"):
                gv = np.linalg.det(vb_full[:, g][:, :, g]) / np.linalg.det(vr)
            fine = np.all(np.isfinite(vb_r.reshape(idx_ok.size, -1)), axis=1)
            out[idx_ok, i] = np.where(fine, gv, np.nan)
        return out
    sd = np.sqrt(np.einsum("gii->gi", vbs[ok]))
    R = vbs[ok] / (sd[:, :, None] * sd[:, None, :])
    det_all = np.linalg.det(R)
    q = R.shape[1]
    for i, g in enumerate(groups):
        idx = np.array([pos[int(j)] for j in g])
        rest = np.setdiff1d(np.arange(q), idx)
        d_b = np.linalg.det(R[:, idx][:, :, idx])
        d_r = np.linalg.det(R[:, rest][:, :, rest]) if rest.size else 1.0
        out[ok, i] = d_b * d_r / det_all
    return out


def simulated_model_matrices(fit: MetaResult, n_sim: int, rng: np.random.Generator
                             ) -> np.ndarray:
    """``n_sim`` model matrices (n_sim, k, p) with the moderators made independent by
    permutation, as metafor's ``.compvifsim``: for a formula model each data column the formula
    uses is shuffled on its own (``lapply(get_all_vars(formula, data), sample)``) and the
    model matrix rebuilt by the fit's formula spec (``model.matrix(formula, shuffled)``); for
    matrix moderators each model-matrix column is shuffled (``apply(X, 2, sample)``).

    The rebuilt rows are the fit's encoding of the shuffled values (same factor levels and
    stateful transforms), which for R's row-wise terms (and permutation-equivariant ones such
    as ``scale()``) is what ``model.matrix`` gives on the shuffled data.

    References
    ----------
    metafor ``.compvifsim`` (misc.func.hidden.vif.r); Viechtbauer W (2010), J Stat Softw
    36(3), doi:10.18637/jss.v036.i03.
    """
    k, p = fit.k, fit.p
    mm = fit._mm
    frame = getattr(mm, "frame", None)
    if mm.spec is None or frame is None or frame.shape[1] == 0:
        X = np.asarray(fit.model_matrix, dtype=float)
        order = np.argsort(rng.random((n_sim, k, p)), axis=1)  # per simulation and column
        return np.take_along_axis(np.broadcast_to(X, (n_sim, k, p)), order, axis=1)
    from evsynth.models.meta import _intercept_first

    cols = {}
    for name in frame.columns:  # each variable shuffled on its own, per simulation
        order = np.argsort(rng.random((n_sim, k)), axis=1)
        cols[name] = frame[name].to_numpy()[order.ravel()]
    shuffled = pd.DataFrame(cols)
    X, names = _intercept_first(mm.spec.get_model_matrix(shuffled, na_action="raise"))
    if names != list(fit.coef_names):
        raise InputError(f"vif: the shuffled data give the model columns {', '.join(names)}; "
                         f"expected {', '.join(fit.coef_names)}")
    return np.asarray(X, dtype=float).reshape(n_sim, k, p)


def _redundant_columns(Xs: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Per matrix of ``Xs`` (n, k, p): which columns lie in the span of the columns before them
    (the coefficients R's ``lm()`` reports as NA and metafor's ``rma.uni`` drops as
    ``coef.na``; ``tol`` as ``lm``'s QR tolerance, relative to the column norm)."""
    n, _, p = Xs.shape
    out = np.zeros((n, p), dtype=bool)
    norms = np.linalg.norm(Xs, axis=1)  # (n, p)
    Q = np.zeros_like(Xs)
    for j in range(p):  # Gram-Schmidt twice over the kept columns, vectorised over matrices
        r = Xs[:, :, j].copy()
        for _ in range(2):
            r -= np.einsum("nkj,nj->nk", Q, np.einsum("nkj,nk->nj", Q, r))
        rn = np.linalg.norm(r, axis=1)
        red = rn <= tol * np.where(norms[:, j] > 0, norms[:, j], 1.0)
        out[:, j] = red
        Q[:, :, j] = np.where(red[:, None], 0.0, r / np.where(red, 1.0, rn)[:, None])
    return out
