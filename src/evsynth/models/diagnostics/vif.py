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
(so tau^2 is re-estimated; metafor's ``reestimate``).

``sim=True`` (or a number of simulations, default 1000) adds metafor's simulation-based
reference distribution: each column of the model matrix is permuted independently (breaking
the correlation between moderators), the model refitted, and the VIFs recomputed; ``prop`` is
the share of simulated VIFs at or below the observed one (metafor's ``prop``; ``na.rm``).
Seeded through ``seed`` (numpy's generator: R's draws cannot be reproduced). metafor permutes
the columns of the data (not of the model matrix) when the model was specified by a formula;
evsynth always permutes the model matrix (metafor's choice for matrix moderators).
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
    if (reestimate or n_sim) and not fit.refittable:
        raise InputError("vif: reestimate and sim refit the model, which is not possible for "
                         "this fit (user weights, weighted=False, fixed tau^2 or a subgroup of a "
                         "common-tau^2 model)")
    if reestimate and n_sim:
        raise InputError("vif: sim is available with reestimate=False only")
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
        sims = _simulate(fit, groups, keep, pos, n_sim, seed)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(sims)
            frame["prop"] = (np.sum((vifs[None, :] >= sims) & ok, axis=0) / ok.sum(axis=0))
    return VifResult(frame, reestimate=bool(reestimate), intercept=bool(intercept),
                     sim_vifs=sims, seed=seed)


def _gvif_reestimate(fit: MetaResult, g: np.ndarray, drop_int: bool) -> float:
    """det(Var(b_g)) of the full fit over that of the model with only the columns g (and the
    intercept): metafor's ``.compvif`` with ``reestimate=TRUE``."""
    X = np.asarray(fit.model_matrix, dtype=float)
    cols = np.r_[0, g] if drop_int else g
    try:
        red = fit.refit(fit.yi, fit.vi, mods=X[:, cols], intercept=False)
    except InputError:
        return np.nan
    vr = red.vb[1:, 1:] if drop_int else red.vb
    return float(np.linalg.det(fit.vb[np.ix_(g, g)]) / np.linalg.det(vr))


def _simulate(fit: MetaResult, groups: list[np.ndarray], keep: np.ndarray, pos: dict[int, int],
              n_sim: int, seed: int | None) -> np.ndarray:
    """VIFs of ``n_sim`` refits with independently permuted model-matrix columns (one batch)."""
    k, p = fit.k, fit.p
    X = np.asarray(fit.model_matrix, dtype=float)
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((n_sim, k, p)), axis=1)  # per simulation and column
    Xs = np.take_along_axis(np.broadcast_to(X, (n_sim, k, p)), order, axis=1)
    y, v = fit.yi, fit.vi

    def build(gr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.tile(y, gr.size), np.tile(v, gr.size), Xs[gr].reshape(-1, p)

    res = fit_groups(fit, np.full(n_sim, k), build)
    vbs = res["vb"][:, keep][:, :, keep]
    out = np.full((n_sim, len(groups)), np.nan)
    ok = np.all(np.isfinite(vbs.reshape(n_sim, -1)), axis=1)
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
