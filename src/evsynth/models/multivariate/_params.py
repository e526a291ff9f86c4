"""Variance-component parameters of :func:`evsynth.meta_mv` and their optimisation.

Free components are optimised on metafor's transformed scale (``rma.mv``, ``.con.E``): variances
on the log scale, correlations through ``tanh`` (``CAR``: the logistic function, rho in (0, 1));
an unstructured (``UN``) matrix with every element free through its unconstrained Cholesky
factor ``G = L L'`` (the diagonal of ``L`` on the raw scale, any sign), as metafor's default
``cholesky = TRUE`` (``rma.mv`` starts from ``diag(chol(G))`` unlogged; ``.con.vcov.UN.chol``
forms ``tcrossprod(L)``; Pinheiro & Bates 1996, Stat Comput 6:289, doi:10.1007/BF00140873).
Every ``L`` gives a positive semi-definite ``G``, and a maximum on the boundary of the cone
(rank-deficient ``G``, correlations at +/-1, a variance at 0) is a stationary point in ``L``
(at such a maximum the score ``S = dl/dG`` satisfies ``S G = 0``, so ``dl/dL = 2 S L = 0``), so
Newton steps reach it without any boundary handling. The analytic gradient (see ``_engine``) is
carried to the transformed scale by the chain rule, with the derivatives of the structured ``G``
matrices by complex-step differentiation (Squire & Trapp 1998, SIAM Review 40:110,
doi:10.1137/S003614459631241X), exact to rounding. From metafor's starting values, Newton
steps with the average information matrix (Gilmour, Thompson & Cullis 1995, Biometrics
51:1440, doi:10.2307/2533274) and step halving; BFGS as a fallback. A variance component that
runs to zero (a correlation to +/-1) is frozen at the boundary (variance exactly 0 after
metafor's 10-eps rule, correlation +/-1) when the log-likelihood is not lower there; the fit is
reported converged when the score of the free parameters is below ``tol`` (or below 1e-4 where
no step improves the log-likelihood in double precision).

Models with free components of a structured term other than UN with every element free are
optimised differently (``_optimise_natural``): on the natural scale of metafor's parameter
space (variances >= 0: ``sigma^2`` and the ``tau^2`` of CS/AR/CAR/ID/DIAG; standard
deviations ``tau`` >= 0 where ``G_ab = c tau_a tau_b`` with separate variances: HCS, HAR, UN
with some components fixed; correlations in [-1, 1], CAR in [0, 1]; ``G`` not required to be
positive semi-definite, the marginal covariance positive definite), by L-BFGS-B from the
log-scale fit above and from several starting correlations (CS/HCS always, other structures
when the fit is on or near a bound), with the Karush-Kuhn-Tucker conditions checked at the
bounds (see the section below ``_ai_newton``); the fit is converged only at a KKT point. The
log-scale path alone (components frozen at a boundary) remains for models with ``sigma^2``
components and UN Cholesky factors only.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evsynth._lazy import LazyModule
from evsynth.errors import InputError
from evsynth.models.multivariate._engine import Engine, Evaluation, NotPositiveDefinite, Values
from evsynth.models.multivariate._terms import StructTerm

optimize = LazyModule("scipy.optimize")

_H = 1e-20  # complex step


def _spec(value: Any, n: int, name: str) -> np.ndarray:
    """User-fixed values (NaN = estimate), recycled as metafor does."""
    if value is None:
        return np.full(n, np.nan)
    arr = np.array([np.nan if v is None else v for v in np.atleast_1d(np.asarray(value,
                                                                                  dtype=object))],
                   dtype=float)
    if arr.size == 1 and n > 1:
        arr = np.repeat(arr, n)
    if arr.size != n:
        raise InputError(f"argument '{name}' has {arr.size} values but the model has {n} "
                         f"{name} component(s)")
    return arr


def _psd_cholesky(G: np.ndarray) -> np.ndarray:
    """Lower-triangular ``L`` with ``L L' = G`` for a positive semi-definite ``G`` (a zero
    column where a pivot is zero to rounding: the outer-product Cholesky algorithm, Golub & Van
    Loan, Matrix Computations, 4th ed., alg. 4.2.1, without pivoting); raises
    ``np.linalg.LinAlgError`` if ``G`` is not positive semi-definite."""
    A = np.array(G, dtype=float)
    n = A.shape[0]
    Lm = np.zeros((n, n))
    big = float(np.max(np.abs(A))) if n else 0.0
    tol = 1e-12 * big
    for j in range(n):
        d = A[j, j] - Lm[j, :j] @ Lm[j, :j]
        if d < -tol:
            raise np.linalg.LinAlgError("G is not positive semi-definite")
        if d <= tol:
            rest = A[j + 1:, j] - Lm[j + 1:, :j] @ Lm[j, :j]
            if np.any(np.abs(rest) > 1e-8 * big):
                raise np.linalg.LinAlgError("G is not positive semi-definite")
            continue
        Lm[j, j] = math.sqrt(d)
        Lm[j + 1:, j] = (A[j + 1:, j] - Lm[j + 1:, :j] @ Lm[j, :j]) / Lm[j, j]
    return Lm


@dataclass
class StructParams:
    term: StructTerm
    v_fix: np.ndarray
    r_fix: np.ndarray
    chol: bool = False
    n_free: int = 0

    def __post_init__(self) -> None:
        self.chol = (self.term.struct == "UN" and bool(np.all(np.isnan(self.v_fix)))
                     and bool(np.all(np.isnan(self.r_fix))) and self.term.L > 1)
        self.n_free = (self.term.L * (self.term.L + 1) // 2 if self.chol else
                       int(np.isnan(self.v_fix).sum() + np.isnan(self.r_fix).sum()))

    def _rtrans(self, x: Any) -> Any:
        return 1 / (1 + np.exp(-x)) if self.term.struct == "CAR" else np.tanh(x)

    def _rinv(self, r: np.ndarray) -> np.ndarray:
        if self.term.struct == "CAR":
            return np.log(r / (1 - r))
        return np.arctanh(r)

    def values(self, theta: Any) -> tuple[Any, Any]:
        """(v, r) from this term's slice of the transformed parameters."""
        theta = np.asarray(theta)
        if self.chol:
            G = self.chol_G(theta)
            v = np.diag(G).copy()
            # correlations of G; a pair with a zero variance has G[a, b] = 0 and correlation 0
            # (undefined; the marginal covariance does not depend on it)
            den = np.array([np.sqrt(v[a] * v[b]) for a, b in self.term.cor_pairs()],
                           dtype=theta.dtype)
            num = np.array([G[a, b] for a, b in self.term.cor_pairs()], dtype=theta.dtype)
            ok = np.abs(den) > 0
            r = np.zeros(num.shape, dtype=theta.dtype)
            r[ok] = num[ok] / den[ok]
            if not np.iscomplexobj(r):
                r = np.clip(r, -1.0, 1.0)  # rounding of a rank-deficient G
            return v, r
        nv = int(np.isnan(self.v_fix).sum())
        v = self.v_fix.astype(theta.dtype)
        r = self.r_fix.astype(theta.dtype)
        v[np.isnan(self.v_fix)] = np.exp(theta[:nv])
        r[np.isnan(self.r_fix)] = self._rtrans(theta[nv:])
        return v, r

    def chol_G(self, theta: Any) -> Any:
        """``G = L L'`` from the lower triangle of ``L`` (row by row; metafor
        ``.con.vcov.UN.chol``, diagonal unlogged)."""
        L = self.term.L
        Lm = np.zeros((L, L), dtype=np.asarray(theta).dtype)
        Lm[np.tril_indices(L)] = theta
        return Lm @ Lm.T

    def start(self, total: float) -> np.ndarray:
        v0 = np.full(self.term.n_var, total)
        r0 = np.full(self.term.n_cor, 0.5)
        if self.chol:
            return _psd_cholesky(self.term.G(v0, r0))[np.tril_indices(self.term.L)]
        return np.concatenate([np.log(v0[np.isnan(self.v_fix)]),
                               self._rinv(r0[np.isnan(self.r_fix)])])

    def theta_of(self, v: np.ndarray, r: np.ndarray) -> np.ndarray:
        """Transformed parameters of given values (warm starts)."""
        L = self.term.L
        if self.chol:
            return _psd_cholesky(self.term.G(v, r))[np.tril_indices(L)]
        vv = np.maximum(v[np.isnan(self.v_fix)], 1e-8)
        rr = np.clip(r[np.isnan(self.r_fix)], -0.999, 0.999)
        if self.term.struct == "CAR":
            rr = np.clip(rr, 1e-3, 0.999)
        return np.concatenate([np.log(vv), self._rinv(rr)])

    def G_jacobian(self, theta: np.ndarray) -> np.ndarray:
        """dG/dtheta (L, L, n_free) by complex step (UN Cholesky: analytically,
        ``d(L L')/dL_ab = E_ab L' + L E_ba``)."""
        L = self.term.L
        out = np.empty((L, L, theta.size))
        if self.chol:
            Lm = np.zeros((L, L))
            il = np.tril_indices(L)
            Lm[il] = theta
            for j, (a, b) in enumerate(zip(il[0], il[1], strict=True)):
                d = np.zeros((L, L))
                d[a, :] += Lm[:, b]
                d[:, a] += Lm[:, b]
                out[:, :, j] = d
            return out
        for j in range(theta.size):
            t = theta.astype(complex)
            t[j] += 1j * _H
            v, r = self.values(t)
            out[:, :, j] = self.term.G(v, r).imag / _H
        return out


@dataclass
class ParamSet:
    """All variance components: fixed values, the free ones' transformed parameters."""

    engine: Engine
    sigma2_fix: np.ndarray
    structs: list[StructParams] = field(default_factory=list)

    @property
    def n_sigma_free(self) -> int:
        return int(np.isnan(self.sigma2_fix).sum())

    @property
    def n_free(self) -> int:
        return self.n_sigma_free + sum(s.n_free for s in self.structs)

    def split(self, theta: np.ndarray) -> list[np.ndarray]:
        out = [theta[:self.n_sigma_free]]
        pos = self.n_sigma_free
        for s in self.structs:
            out.append(theta[pos:pos + s.n_free])
            pos += s.n_free
        return out

    def values(self, theta: np.ndarray) -> Values:
        parts = self.split(theta)
        s2 = self.sigma2_fix.copy()
        s2[np.isnan(self.sigma2_fix)] = np.exp(parts[0])
        s2[s2 <= np.finfo(float).eps * 10] = 0.0
        vs, rs = [], []
        for sp_, th in zip(self.structs, parts[1:], strict=True):
            v, r = sp_.values(th)
            v = np.where(np.asarray(v) <= np.finfo(float).eps * 10, 0.0, v)
            vs.append(np.asarray(v, dtype=float))
            rs.append(np.asarray(r, dtype=float))
        return Values(s2, vs, rs)

    def start(self, total: float) -> np.ndarray:
        parts = [np.log(np.full(self.n_sigma_free, total))]
        parts += [s.start(total) for s in self.structs]
        return np.concatenate(parts) if parts else np.empty(0)

    def theta_of(self, vals: Values) -> np.ndarray:
        parts = [np.log(np.maximum(vals.sigma2[np.isnan(self.sigma2_fix)], 1e-8))]
        parts += [s.theta_of(vals.v[j], vals.r[j]) for j, s in enumerate(self.structs)]
        return np.concatenate(parts)

    def gradient(self, theta: np.ndarray, ev: Evaluation, reml: bool) -> np.ndarray:
        gs, gG = self.engine.raw_gradient(ev, reml)
        parts = self.split(theta)
        free = np.isnan(self.sigma2_fix)
        s2 = np.exp(parts[0])
        out = [gs[free] * s2]
        for j, (sp_, th) in enumerate(zip(self.structs, parts[1:], strict=True)):
            if th.size:
                J = sp_.G_jacobian(th)
                out.append(np.einsum("ab,abj->j", gG[j], J))
        return np.concatenate(out)


    def dM_blocks(self, theta: np.ndarray) -> list[list[np.ndarray]]:
        """dM/dtheta_j (transformed scale) per size group and free parameter."""
        parts = self.split(theta)
        free = np.flatnonzero(np.isnan(self.sigma2_fix))
        s2 = np.exp(parts[0])
        jac = [sp_.G_jacobian(th) if th.size else None
               for sp_, th in zip(self.structs, parts[1:], strict=True)]
        out = []
        for g in self.engine.groups:
            blocks = [s2[a] * g.K[j] for a, j in enumerate(free)]
            for t, J in enumerate(jac):
                if J is None:
                    continue
                ii = g.inn[t]
                for q in range(J.shape[2]):
                    blocks.append(J[:, :, q][ii[:, :, None], ii[:, None, :]] * g.same[t])
            out.append(blocks)
        return out


@dataclass
class OptResult:
    theta: np.ndarray
    values: Values
    ev: Evaluation
    iterations: int
    converged: bool
    message: str
    boundary: list[str]
    notes: list[str] = field(default_factory=list)


def optimise(ps: ParamSet, reml: bool, theta0: np.ndarray, *, maxiter: int = 1000,
             tol: float = 1e-10) -> OptResult:
    """Maximise the (restricted) log-likelihood over the free components."""
    eng = ps.engine
    cache: dict[bytes, tuple[float, np.ndarray]] = {}

    def fg(theta: np.ndarray) -> tuple[float, np.ndarray]:
        key = theta.tobytes()
        if key in cache:
            return cache[key]
        # trial points far out (a step of the optimiser) may overflow: they are rejected as
        # infeasible instead of leaking numpy warnings
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            try:
                ev = eng.evaluate(ps.values(theta), reml)
                g = ps.gradient(theta, ev, reml)
            except NotPositiveDefinite:
                return _INFEASIBLE, np.zeros_like(theta)
        if not (math.isfinite(ev.ll) and np.all(np.isfinite(g))):
            return _INFEASIBLE, np.zeros_like(theta)
        out = (-ev.ll, -g)
        if len(cache) > 50:
            cache.clear()
        cache[key] = out
        return out

    if ps.n_free == 0:
        vals = ps.values(theta0)
        try:
            ev = eng.evaluate(vals, reml)
        except NotPositiveDefinite:
            raise InputError("the marginal variance-covariance matrix is not positive definite "
                             "at the given variance components") from None
        return OptResult(theta0, vals, ev, 0, True, "no free variance components", [])
    f0, _ = fg(theta0)
    if f0 >= _INFEASIBLE:
        raise InputError("cannot compute the likelihood at the starting values (the marginal "
                         "covariance matrix is not positive definite)")
    kinds = _kinds(ps)
    scale = float(np.mean(eng.V.diagonal()))
    nk = _nat_kinds(ps)
    # CS, HCS: G may be indefinite, local maxima at rho = +/-1 compete with interior ones;
    # every fit also starts from several correlations
    multi = nk is not None and any(s.n_free and s.term.struct in ("CS", "HCS")
                                   for s in ps.structs)
    if multi:
        # a short log-scale Newton stage (at most 30 steps) first: cheap, and its point (with
        # metafor's start if it did not converge) starts the natural-scale stage
        theta, iters, ok = _ai_newton(ps, reml, theta0, fg, np.ones(theta0.size, dtype=bool),
                                      kinds, scale, maxiter=30, tol=tol)
    else:
        theta, active, iters, ok, message = _log_scale_fit(ps, reml, theta0, fg, kinds, scale,
                                                           maxiter, tol)
        if nk is None:
            theta, active, iters, ok, message = _un_sign_restarts(
                ps, reml, theta, active, iters, ok, message, fg, kinds, scale, maxiter, tol)
    if nk is not None:  # metafor's parameter space on the natural scale, KKT check
        # AR, HAR, CAR, ID, DIAG, UN with fixed components: the log-scale fit (with its
        # restarts off the boundary) is the first stage; it may have frozen a component at
        # a bound where the KKT conditions do not hold (or stopped short of the maximum): the
        # natural-scale stage starts from its point
        warm = theta if ok else np.stack([theta, theta0])
        res = _optimise_natural(ps, reml, theta0, kinds, nk, scale, maxiter, warm, multi)
        res.iterations += iters
        return res
    boundary = [kinds[i][1] for i in np.flatnonzero(~active)]
    vals = ps.values(theta)
    ev = eng.evaluate(vals, reml)
    return OptResult(theta, vals, ev, iters, ok, message, boundary)


def _log_scale_fit(ps: ParamSet, reml: bool, theta0: np.ndarray, fg: Any,
                   kinds: list[tuple[str, str]], scale: float, maxiter: int, tol: float
                   ) -> tuple[np.ndarray, np.ndarray, int, bool, str]:
    """The fit on metafor's transformed scale (``_run``), restarted off the boundary;
    (theta, active, iterations, converged, message)."""
    theta, active, iters, ok, message = _run(ps, reml, theta0, fg, kinds, scale, maxiter, tol)
    if not ok or _near_boundary(theta, active, kinds, scale):
        # A component frozen at (or running to) a boundary (variance 0, correlation +/-1) may
        # be a local maximum only: HCS/CS likelihoods are not concave and the first boundary
        # reached need not be the best (e.g. HCS with one variance at 0 and rho = -1 against
        # rho = +1). Restart with each frozen component released into the interior and with
        # each correlation started elsewhere; keep the highest converged likelihood.
        best_f = fg(theta)[0]
        for cand in _restarts(theta, active, kinds, scale, theta0):
            if fg(cand)[0] >= _INFEASIBLE:
                continue
            th2, act2, it2, ok2, _ = _run(ps, reml, cand, fg, kinds, scale, maxiter, tol)
            iters += it2
            f2 = fg(th2)[0]
            # a higher likelihood, or the same one now converged (a converged point with a
            # lower likelihood than an unconverged one is not the maximum)
            if (f2 < best_f - 1e-9 and (ok2 or not ok)) or (ok2 and not ok
                                                            and f2 <= best_f + 1e-9):
                theta, active, ok, best_f = th2, act2, ok2, f2
                message += "; restarted off the boundary"
    return theta, active, iters, ok, message


#: the objective at points where the marginal covariance is not positive definite
_INFEASIBLE = 1e300


def _run(ps: ParamSet, reml: bool, theta0: np.ndarray, fg: Any, kinds: list[tuple[str, str]],
         scale: float, maxiter: int, tol: float
         ) -> tuple[np.ndarray, np.ndarray, int, bool, str]:
    """Average-information Newton from ``theta0``; BFGS then Newton again if it stalls.
    Returns (theta, active, iterations, converged, message); ``theta`` is always feasible."""
    active = np.ones(theta0.size, dtype=bool)
    theta, iters, ok = _ai_newton(ps, reml, theta0, fg, active, kinds, scale,
                                  maxiter=min(maxiter, 300), tol=tol)
    message = "average-information Newton"
    if not ok:  # fall back on BFGS (active parameters) from the best point found
        def fa(x: np.ndarray) -> tuple[float, np.ndarray]:
            full = theta.copy()
            full[active] = x
            f, g = fg(full)
            return f, g[active]

        res = optimize.minimize(fa, theta[active], jac=True, method="BFGS",
                                options={"gtol": 1e-9, "maxiter": maxiter})
        iters += int(res.nit)
        if fa(res.x)[0] <= fg(theta)[0]:  # BFGS may stop at a rejected (infeasible) point
            theta = theta.copy()
            theta[active] = res.x
        theta, it2, ok = _ai_newton(ps, reml, theta, fg, active, kinds, scale, maxiter=50,
                                    tol=tol)
        iters += it2
        message = "average-information Newton, BFGS, average-information Newton"
        if not ok:
            g = fg(theta)[1][active]
            ok = bool(g.size == 0 or np.max(np.abs(g)) < 1e-4)
    return theta, active, iters, ok, message


def _un_sign_restarts(ps: ParamSet, reml: bool, theta: np.ndarray, active: np.ndarray,
                      iters: int, ok: bool, message: str, fg: Any,
                      kinds: list[tuple[str, str]], scale: float, maxiter: int, tol: float
                      ) -> tuple[np.ndarray, np.ndarray, int, bool, str]:
    """UN (Cholesky parameters) whose fitted G has a correlation at +/-1: G is then of lower
    rank, and the rank-deficient G of one sign pattern of the levels is a local maximum that
    the Cholesky path cannot leave for another pattern's (a fuzz case stopped at rho = (1, -1,
    -1), ll -3.1377, where rho = (1, 1, 1) reaches -2.7923, metafor's point). The fit is
    restarted from each pattern ``rho_ab = 0.9 s_a s_b`` (s_1 = +1; every pattern up to 4
    inner levels, else each level's sign flipped alone), the variances as fitted (at least
    1e-2 times the mean sampling variance); the highest converged likelihood is kept."""
    slices = []
    pos = ps.n_sigma_free
    for sp_ in ps.structs:
        if sp_.chol:
            slices.append((sp_, slice(pos, pos + sp_.n_free)))
        pos += sp_.n_free
    best_f = fg(theta)[0]
    for sp_, sl in slices:
        v, r = sp_.values(theta[sl])
        if not np.any(np.abs(np.asarray(r, dtype=float)) > 0.999):
            continue
        L = sp_.term.L
        if L <= 4:
            signs = [np.array((1.0, *t)) for t in itertools.product((1.0, -1.0), repeat=L - 1)]
        else:
            signs = [np.ones(L)] + [np.where(np.arange(L) == a, -1.0, 1.0) for a in range(1, L)]
        v0 = np.maximum(np.asarray(v, dtype=float), 1e-2 * scale)
        for sg in signs:
            r0 = np.array([0.9 * sg[a] * sg[b] for a, b in sp_.term.cor_pairs()])
            cand = theta.copy()
            cand[sl] = sp_.theta_of(v0, r0)
            if fg(cand)[0] >= _INFEASIBLE:
                continue
            th2, act2, it2, ok2, _ = _run(ps, reml, cand, fg, kinds, scale, maxiter, tol)
            iters += it2
            f2 = fg(th2)[0]
            if ok2 and f2 < best_f - 1e-9:
                theta, active, ok, best_f = th2, act2, ok2, f2
                message += "; restarted from the sign patterns of a correlation at +/-1"
    return theta, active, iters, ok, message


def _near_boundary(theta: np.ndarray, active: np.ndarray, kinds: list[tuple[str, str]],
                   scale: float) -> bool:
    """A component frozen at a boundary, a variance below 1e-2 times the mean sampling
    variance or a correlation beyond +/-0.999."""
    if not np.all(active):
        return True
    lo = math.log(1e-2 * scale)
    return any((kind == "var" and theta[i] < lo) or (kind == "cor" and abs(theta[i]) > 3.8)
               for i, (kind, _) in enumerate(kinds))


def _restarts(theta: np.ndarray, active: np.ndarray, kinds: list[tuple[str, str]],
              scale: float, theta0: np.ndarray) -> list[np.ndarray]:
    """Starting points near a fit with frozen (boundary) components: each frozen component
    moved into the interior (variance 1e-2 times the mean sampling variance, correlation
    +/-0.9), and each correlation set to -1, -0.9, 0, 0.9 and 1, the others as fitted
    (variances below 1e-2 times the mean sampling variance raised to it) or as at the first
    start ``theta0``."""
    inner_var = math.log(1e-2 * scale)
    out = []
    for i in np.flatnonzero(~active).tolist():
        c = theta.copy()
        kind = kinds[i][0]
        if kind == "var":
            c[i] = inner_var
        elif kind == "cor":
            c[i] = math.copysign(math.atanh(0.9), theta[i])
        elif kind == "car":
            c[i] = math.copysign(math.log(9.0), theta[i])
        out.append(c)
    released = theta.copy()
    for i, (kind, _) in enumerate(kinds):
        if kind == "var" and released[i] < inner_var:  # frozen at 0 or running there
            released[i] = inner_var
    for i, (kind, _) in enumerate(kinds):
        if kind != "cor":
            continue
        for base in (released, theta0):
            for t0 in (-_AT_ONE, math.atanh(-0.9), 0.0, math.atanh(0.9), _AT_ONE):
                c = base.copy()
                c[i] = t0
                out.append(c)
    return out


#: transformed values at which a component is put at its boundary: a variance at
#: exp(-40) ~ 4e-18 (0 after metafor's 10 eps rule), a correlation
#: at tanh(+/-20) = +/-1 in double precision (logistic(+/-40) for CAR)
_AT_ZERO = -40.0
_AT_ONE = 20.0


def _kinds(ps: ParamSet) -> list[tuple[str, str]]:
    """("var" | "cor" | "car" | "off", name) of every free transformed parameter."""
    out = [("var", f"sigma2[{i}]") for i in range(ps.n_sigma_free)]
    for s in ps.structs:
        L = s.term.L
        if s.chol:
            il = np.tril_indices(L)
            # unconstrained (raw) Cholesky elements: no boundary to freeze them at
            out += [("off", f"{s.term.which}-cholesky[{a},{b}]")
                    for a, b in zip(il[0], il[1], strict=True)]
            continue
        nv = int(np.isnan(s.v_fix).sum())
        nr = int(np.isnan(s.r_fix).sum())
        out += [("var", f"{s.term.which}-variance[{i}]") for i in range(nv)]
        kind = "car" if s.term.struct == "CAR" else "cor"
        out += [(kind, f"{s.term.which}-correlation[{i}]") for i in range(nr)]
    return out


def _snap(theta: np.ndarray, active: np.ndarray, kinds: list[tuple[str, str]], scale: float,
          fg: Any) -> bool:
    """Freeze components that are running to a boundary (variance -> 0, correlation -> +/-1)
    at the boundary when the log-likelihood is not lower there; True if any was frozen."""
    changed = False
    f = fg(theta)[0]
    lo = math.log(1e-7 * scale)
    for i in np.flatnonzero(active):
        kind = kinds[i][0]
        if kind == "var" and theta[i] < lo:
            target = _AT_ZERO
        elif kind == "cor" and abs(theta[i]) > 3.8:  # |rho| > 0.999
            target = math.copysign(_AT_ONE, theta[i])
        elif kind == "car" and abs(theta[i]) > 14:
            target = math.copysign(2 * _AT_ONE, theta[i])
        else:
            continue
        trial = theta.copy()
        trial[i] = target
        if fg(trial)[0] <= f + 1e-10:
            theta[i] = target
            active[i] = False
            f = fg(theta)[0]
            changed = True
    return changed


def _ai_newton(ps: ParamSet, reml: bool, theta: np.ndarray, fg: Any, active: np.ndarray,
               kinds: list[tuple[str, str]], scale: float, *, maxiter: int,
               tol: float) -> tuple[np.ndarray, int, bool]:
    """Newton steps with the average information matrix on the active parameters (a ridge
    when it is singular), step halving on the log-likelihood, and components that run to a
    boundary frozen there (``active`` is updated in place)."""
    eng = ps.engine
    theta = theta.copy()
    f, g = fg(theta)
    if f >= _INFEASIBLE:
        return theta, 0, False
    for it in range(1, maxiter + 1):
        if it % 5 == 0 and _snap(theta, active, kinds, scale, fg):
            f, g = fg(theta)
        ga = g[active]
        if ga.size == 0 or np.max(np.abs(ga)) < tol:
            return theta, it - 1, True
        try:
            ev = eng.evaluate(ps.values(theta), reml)
        except NotPositiveDefinite:
            return theta, it, False
        AI = eng.average_information(ev, ps.dM_blocks(theta), reml)[np.ix_(active, active)]
        score = -ga
        lam = 0.0
        step = None
        for _ in range(8):
            try:
                A = AI + lam * np.diag(np.maximum(np.diag(AI), 1e-12))
                cand_step = np.linalg.solve(A, score)
                if np.all(np.isfinite(cand_step)) and score @ cand_step > 0:
                    step = cand_step
                    break
            except np.linalg.LinAlgError:
                pass
            lam = 1e-3 if lam == 0 else lam * 10
        if step is None:
            step = score
        step = np.clip(step, -5, 5)  # at most a factor e^5 per step on the log scale
        t = 1.0
        while t > 1e-6:
            cand = theta.copy()
            cand[active] += t * step
            fc, gc = fg(cand)
            if fc <= f + 1e-12 * max(1.0, abs(f)):
                break
            t /= 2
        else:
            if _snap(theta, active, kinds, scale, fg):
                f, g = fg(theta)
                continue
            return theta, it, bool(np.max(np.abs(ga)) < 1e-4)
        small = np.max(np.abs(t * step)) < 1e-10
        theta, f, g = cand, fc, gc
        if small:
            _snap(theta, active, kinds, scale, fg)
            g = fg(theta)[1]
            return theta, it, bool(g[active].size == 0 or np.max(np.abs(g[active])) < 1e-4)
    return theta, maxiter, False


# --- structured terms: metafor's parameter space on the natural scale, with a KKT check ----
#
# metafor optimises log(tau^2) and atanh(rho) (``rma.mv``, ``.ll.rma.mv``); the boundary
# values (tau^2 = 0, rho = +/-1) are approached only in the limit, and a point there need not
# be a maximum: with G_ab = rho tau_a tau_b the log-likelihood behaves like
# ``c sqrt(tau_a^2)`` near tau_a^2 = 0, so its derivative in log(tau_a^2) vanishes at 0 even
# when c > 0 (the likelihood rises steeply into the interior; HCS, HAR and UN with fixed
# components). Even where G is linear in tau^2 (CS, AR, CAR, ID, DIAG) the log-scale
# derivative tau^2 dl/dtau^2 vanishes at 0 whatever the sign of dl/dtau^2, so a variance
# frozen there is not checked. The stage below works on the natural scale of metafor's
# parameter space - variances (CS, AR, CAR, ID, DIAG, sigma^2) or standard deviations (HCS,
# HAR, UN with fixed components) >= 0, rho in [-1, 1] (CAR [0, 1]), G not required to be
# positive semi-definite, the marginal covariance positive definite - where the
# log-likelihood is smooth up to the bounds, checks the Karush-Kuhn-Tucker conditions
# (Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, thm. 12.1; a component at a
# bound must have no ascent direction into the feasible region) and releases components that
# violate them.

#: natural-scale (scaled) gradient below which a component at a bound satisfies the KKT
#: conditions
_KKT_TOL = 1e-6
_TINY = float(np.finfo(float).eps) * 10  # metafor's 10-eps rule for variances


def _nat_kinds(ps: ParamSet) -> list[str] | None:
    """Natural coordinate of every free parameter: "v" (a variance >= 0: sigma2, the tau^2
    of CS/AR/CAR/ID and each DIAG tau^2, on which G depends linearly), "sd" (a standard
    deviation >= 0 where off-diagonal entries of G are ``c tau_a tau_b``: HCS, HAR and UN
    with some components fixed), "rho" (a correlation in [-1, 1]), "car" (a CAR
    correlation in [0, 1]), "raw" (a UN Cholesky element, unbounded); None without free
    components of a structured term outside the UN Cholesky parametrisation."""
    out = ["v"] * ps.n_sigma_free
    found = False
    for s in ps.structs:
        if s.chol:
            out += ["raw"] * s.n_free
            continue
        nv = int(np.isnan(s.v_fix).sum())
        out += ["sd" if s.term.struct in _SD_STRUCTS else "v"] * nv
        out += ["car" if s.term.struct == "CAR" else "rho"] * (s.n_free - nv)
        found = found or s.n_free > 0
    return out if found else None


#: structures whose off-diagonal entries are ``c tau_a tau_b`` with separate variances: their
#: natural coordinates are the standard deviations (the likelihood changes like tau_a, not
#: tau_a^2, near 0)
_SD_STRUCTS = ("HCS", "HAR", "UN")


def _to_nat(theta: np.ndarray, nk: list[str]) -> np.ndarray:
    x = theta.astype(float).copy()
    for i, k in enumerate(nk):
        if k in ("v", "sd"):
            v = math.exp(min(theta[i], 700.0))
            v = 0.0 if v <= _TINY else v
            x[i] = v if k == "v" else math.sqrt(v)
        elif k == "rho":
            x[i] = math.tanh(theta[i])
        elif k == "car":  # logistic(+/-40) as the bounds 1 and 0 (frozen components)
            x[i] = (1.0 if theta[i] >= 2 * _AT_ONE else 0.0 if theta[i] <= -2 * _AT_ONE
                    else 1.0 / (1.0 + math.exp(-theta[i])))
    return x


def _to_theta(x: np.ndarray, nk: list[str]) -> np.ndarray:
    t = x.astype(float).copy()
    for i, k in enumerate(nk):
        if k in ("v", "sd"):
            v = x[i] if k == "v" else x[i] * x[i]
            t[i] = math.log(v) if v > _TINY else _AT_ZERO
        elif k == "rho":
            t[i] = (math.copysign(_AT_ONE, x[i]) if abs(x[i]) >= 1.0
                    else max(-_AT_ONE, min(_AT_ONE, math.atanh(x[i]))))
        elif k == "car":  # logistic(+/-40): 1 in double precision, 4e-18
            t[i] = (2 * _AT_ONE if x[i] >= 1.0 else -2 * _AT_ONE if x[i] <= 0.0
                    else max(-2 * _AT_ONE, min(2 * _AT_ONE, math.log(x[i] / (1 - x[i])))))
    return t


def _bounds(nk: list[str]) -> list[tuple[float | None, float | None]]:
    return [(0.0, None) if k in ("v", "sd") else (-1.0, 1.0) if k == "rho"
            else (0.0, 1.0) if k == "car" else (None, None) for k in nk]


@dataclass
class _NatPoint:
    x: np.ndarray
    ll: float
    g: np.ndarray          # natural-scale gradient of the log-likelihood
    gG: list[np.ndarray]   # dl/dG per struct term
    vals: Values


def _nat_eval(ps: ParamSet, reml: bool, x: np.ndarray, nk: list[str]) -> _NatPoint | None:
    """Log-likelihood and natural-scale gradient at ``x``; None where the marginal covariance
    is not positive definite (metafor: log-likelihood -Inf)."""
    eng = ps.engine
    theta = _to_theta(x, nk)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            vals = ps.values(theta)
            ev = eng.evaluate(vals, reml)
        except NotPositiveDefinite:
            return None
        gs, gG = eng.raw_gradient(ev, reml)
        parts = ps.split(theta)
        g = [gs[np.isnan(ps.sigma2_fix)]]
        pos = ps.n_sigma_free
        for j, (s, th) in enumerate(zip(ps.structs, parts[1:], strict=True)):
            if th.size == 0:
                continue
            if nk[pos] == "raw":
                g.append(np.einsum("ab,abj->j", gG[j], s.G_jacobian(th)))
            else:
                g.append(np.array([float(np.sum(gG[j] * d))
                                   for d in _nat_dG(s, vals.v[j], vals.r[j])]))
            pos += th.size
        grad = np.concatenate(g)
    if not (math.isfinite(ev.ll) and np.all(np.isfinite(grad))):
        return None
    return _NatPoint(x.copy(), float(ev.ll), grad, gG, vals)


def _nat_dG(s: StructParams, v: np.ndarray, r: np.ndarray) -> list[np.ndarray]:
    """dG/dx for the free natural coordinates of a term (``G = D C D``, ``D`` the standard
    deviations, ``C`` the correlation matrix): a single tau^2 (CS, AR, CAR, ID) ``C``; a DIAG
    tau_i^2 ``e_i e_i'``; a standard deviation ("sd": HCS, HAR, UN) ``e_i tau' o C + tau
    e_i' o C``; a correlation ``D (dC/drho) D``, ``dC/drho`` by complex step (CS/HCS: 1 off
    the diagonal, AR/HAR: ``lag rho^(lag - 1)``)."""
    L = s.term.L
    sd = np.sqrt(np.broadcast_to(np.asarray(v, dtype=float), (L,)))
    r = np.asarray(r, dtype=float)
    ones = np.ones(s.term.n_var)
    C = s.term.G(ones, r)
    out = []
    for i in np.flatnonzero(np.isnan(s.v_fix)).tolist():
        if s.term.struct not in _SD_STRUCTS:
            if s.term.struct == "DIAG":
                d = np.zeros((L, L))
                d[i, i] = 1.0
                out.append(d)
            else:
                out.append(C)
        else:
            d = np.zeros((L, L))
            d[i, :] += sd * C[i, :]
            d[:, i] += sd * C[:, i]
            out.append(d)
    for k in np.flatnonzero(np.isnan(s.r_fix)).tolist():
        rc = r.astype(complex)
        rc[k] += 1j * _H
        dC = s.term.G(ones, rc).imag / _H
        d = sd[:, None] * dC * sd[None, :]
        d[np.diag_indices(L)] = 0.0
        out.append(d)
    return out


def _scaled(g: np.ndarray, nk: list[str], scale: float) -> np.ndarray:
    """The gradient per unit of the sampling-variance scale (variances by ``scale``,
    standard deviations by its root)."""
    f = np.array([scale if k == "v" else math.sqrt(scale) if k == "sd" else 1.0 for k in nk])
    return g * f


def _struct_slices(ps: ParamSet, nk: list[str]) -> list[tuple[int, StructParams, int, int]]:
    """(struct index, term, start, n variances) of the CS/HCS terms with free components."""
    out = []
    pos = ps.n_sigma_free
    for j, s in enumerate(ps.structs):
        if s.n_free and nk[pos] != "raw":
            out.append((j, s, pos, int(np.isnan(s.v_fix).sum())))
        pos += s.n_free
    return out


def _violations(ps: ParamSet, reml: bool, pt: _NatPoint, nk: list[str],
                scale: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Feasible ascent directions at components on a bound (KKT conditions violated), as
    (start point, direction) pairs on the natural scale; empty at a KKT point.

    Beyond the first-order conditions: a standard deviation (HCS, HAR, UN with fixed
    components) at 0 whose first derivative vanishes is released when the second-order term
    ``dl/dG_ii`` (a pair of them when the quadratic form ``sum C_ab dl/dG_ab tau_a tau_b``
    has an ascent direction) is positive; and a correlation on which G does not depend (its
    entries of G multiply a variance at 0: HCS/HAR with fewer than two positive variances,
    CS/AR/CAR with tau^2 = 0) is not identified, so the conditions must hold for every value
    of it: they are checked on a grid over its range (the first-order terms are polynomials
    in rho: linear for CS/HCS/UN, of degree max lag for AR/HAR/CAR) and, for several such
    correlations, at the corners of their range."""
    lo = [b[0] for b in _bounds(nk)]
    hi = [b[1] for b in _bounds(nk)]
    gs = _scaled(pt.g, nk, scale)
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for i in range(len(nk)):
        e = np.zeros(pt.x.size)
        if lo[i] is not None and pt.x[i] <= lo[i] and gs[i] > _KKT_TOL:
            e[i] = 1.0
        elif hi[i] is not None and pt.x[i] >= hi[i] and gs[i] < -_KKT_TOL:
            e[i] = -1.0
        else:
            continue
        out.append((pt.x, e))
    for j, s, pos, nv in _struct_slices(ps, nk):
        free_v = np.flatnonzero(np.isnan(s.v_fix))
        nr = s.n_free - nv
        dG = _nat_dG(s, pt.vals.v[j], pt.vals.r[j])[nv:]
        unid = [pos + nv + c for c in range(nr) if not np.any(dG[c])]
        cands: list[np.ndarray | None] = [None]
        if unid:
            r_lo = lo[unid[0]]
            assert r_lo is not None
            cands = []
            for val in np.linspace(r_lo, 1.0, 9):
                x = pt.x.copy()
                x[unid] = val
                cands.append(x)
            if 1 < len(unid) <= 3:
                for corner in itertools.product((r_lo, 1.0), repeat=len(unid)):
                    x = pt.x.copy()
                    x[unid] = corner
                    cands.append(x)
        for cand in cands:
            if cand is None:
                x, g, gG, rr = pt.x, gs, pt.gG[j], pt.vals.r[j]
            else:
                q = _nat_eval(ps, reml, cand, nk)
                if q is None:
                    continue
                x, g, gG, rr = cand, _scaled(q.g, nk, scale), q.gG[j], q.vals.r[j]
                for a in range(nv):
                    if x[pos + a] <= 0 and g[pos + a] > _KKT_TOL:
                        e = np.zeros(x.size)
                        e[pos + a] = 1.0
                        out.append((x, e))
            if nv == 0 or nk[pos] != "sd":
                continue
            C = s.term.G(np.ones(s.term.n_var), np.asarray(rr, dtype=float))
            zero = [a for a in range(nv) if x[pos + a] <= 0 and abs(g[pos + a]) <= _KKT_TOL]
            for a in zero:  # second order: ll ~ dl/dG_ii tau_i^2
                ia = int(free_v[a])
                if gG[ia, ia] * scale > _KKT_TOL:
                    e = np.zeros(x.size)
                    e[pos + a] = 1.0
                    out.append((x, e))
            for a in zero:  # pairs: dl/dG_ii a^2 + dl/dG_kk b^2 + 2 C_ik dl/dG_ik a b
                for b in zero:
                    if b <= a:
                        continue
                    ia, ib = int(free_v[a]), int(free_v[b])
                    gii, gkk, gik = gG[ia, ia], gG[ib, ib], C[ia, ib] * gG[ia, ib]
                    if gii > 0 or gkk > 0 or gik <= 0 or gik * gik <= gii * gkk * (1 + 1e-9):
                        continue
                    e = np.zeros(x.size)
                    e[pos + a], e[pos + b] = math.sqrt(-gkk) + 1e-300, math.sqrt(-gii) + 1e-300
                    out.append((x, e / np.linalg.norm(e)))
    return out


def _nat_local(ps: ParamSet, reml: bool, x0: np.ndarray, nk: list[str], scale: float,
               maxiter: int) -> tuple[_NatPoint | None, int]:
    """Bound-constrained quasi-Newton (L-BFGS-B, Byrd, Lu, Nocedal & Zhu 1995, SIAM J Sci
    Comput 16:1190, doi:10.1137/0916069) on the natural scale (scaled coordinates); points
    where the marginal covariance is not positive definite are rejected (a high objective)."""
    f_scale = np.array([scale if k == "v" else math.sqrt(scale) if k == "sd" else 1.0
                        for k in nk])
    start = _nat_eval(ps, reml, x0, nk)
    if start is None:
        return None, 0
    best = [start]
    big = abs(start.ll) + 1e8

    def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        x = z * f_scale
        b = _bounds(nk)
        x = np.array([min(max(xi, lo if lo is not None else -np.inf),
                          hi if hi is not None else np.inf)
                      for xi, (lo, hi) in zip(x, b, strict=True)])
        pt = _nat_eval(ps, reml, x, nk)
        if pt is None:
            return big, np.zeros_like(z)
        if pt.ll > best[0].ll:
            best[0] = pt
        return -pt.ll, -pt.g * f_scale

    bz = [(None if lo is None else lo / f, None if hi is None else hi / f)
          for (lo, hi), f in zip(_bounds(nk), f_scale, strict=True)]
    res = optimize.minimize(fun, x0 / f_scale, jac=True, method="L-BFGS-B", bounds=bz,
                            options={"maxiter": maxiter, "ftol": 1e-15, "gtol": 1e-11})
    return best[0], int(res.nit)


def _release(ps: ParamSet, reml: bool, x: np.ndarray, e: np.ndarray, nk: list[str],
             scale: float, ll0: float) -> np.ndarray | None:
    """The best feasible point of a few steps from ``x`` along the ascent direction ``e``
    (standard deviations and variances by fractions of the sampling-variance scale,
    correlations by up to 1), if it improves on ``ll0``."""
    f_scale = np.array([scale if k == "v" else math.sqrt(scale) if k == "sd" else 1.0
                        for k in nk])
    best, best_ll = None, ll0
    b = _bounds(nk)
    for c in (1e-4, 1e-3, 1e-2, 0.03, 0.1, 0.3, 1.0):
        cand = x + c * e * f_scale
        cand = np.array([min(max(xi, lo if lo is not None else -np.inf),
                             hi if hi is not None else np.inf)
                         for xi, (lo, hi) in zip(cand, b, strict=True)])
        pt = _nat_eval(ps, reml, cand, nk)
        if pt is not None and pt.ll > best_ll:
            best, best_ll = cand, pt.ll
    return best


def _optimise_natural(ps: ParamSet, reml: bool, theta0: np.ndarray,
                      kinds: list[tuple[str, str]], nk: list[str], scale: float,
                      maxiter: int, warm: np.ndarray, multi: bool) -> OptResult:
    """Maximise over metafor's parameter space on the natural scale (every structure but UN
    with all elements free): L-BFGS-B from the rows of ``warm`` (the point of the fit on
    metafor's transformed scale - a short Newton stage where ``multi``, else ``_run`` with
    its restarts off the boundary, taken as it is when it converged inside the space - and
    metafor's start if that did not converge) and, where G may be indefinite (``multi``:
    CS, HCS; local maxima at rho = +/-1 compete with interior ones), from metafor's start
    with each free correlation set to -1, -1/2, 0, 1/2 and 1 (two or three correlations:
    also at each corner of their box); for AR, HAR, CAR, ID, DIAG and UN with fixed
    components those correlation starts (CAR: 0, 1/2, 0.9, 1) are added only if the best
    point has a component on or near a bound; from the
    best point, components on a bound that violate the KKT conditions are released and the
    likelihood maximised again, until none does; Newton steps finish. The fit is converged
    only at a KKT point (interior gradient below 1e-6 per unit of the
    sampling-variance scale)."""
    eng = ps.engine
    x0 = _to_nat(theta0, nk)
    rho_starts = [x0]
    for i, k in enumerate(nk):
        if k in ("rho", "car"):
            for r0 in ((-1.0, -0.5, 0.0, 0.5, 1.0) if k == "rho" else (0.0, 0.5, 0.9, 1.0)):
                c = x0.copy()
                c[i] = r0
                rho_starts.append(c)
    cors = [i for i, k in enumerate(nk) if k == "rho"]
    if 1 < len(cors) <= 3:  # e.g. UN with fixed components: the corners as well
        for corner in itertools.product((-1.0, 1.0), repeat=len(cors)):
            c = x0.copy()
            c[cors] = corner
            rho_starts.append(c)
    starts = [_to_nat(w, nk) for w in np.atleast_2d(warm)] + (rho_starts if multi else [])
    pt: _NatPoint | None = None
    iters = 0
    for j, s0 in enumerate(starts):
        if j == 0 and np.ndim(warm) == 1 and not _near_bound(s0, nk, scale):
            # a converged log-scale fit inside the space: Newton steps and the KKT check below
            q, it = _nat_eval(ps, reml, s0, nk), 0
        else:
            q, it = _nat_local(ps, reml, s0, nk, scale, maxiter)
        iters += it
        if q is not None and (pt is None or q.ll > pt.ll + 1e-12):
            pt = q
    if not multi and pt is not None and _near_bound(pt.x, nk, scale):
        # a component on a bound may mark a local maximum only (e.g. CAR with rho = 0 against
        # an interior rho): the correlation starts as for CS/HCS
        for s0 in rho_starts[1:]:
            q, it = _nat_local(ps, reml, s0, nk, scale, maxiter)
            iters += it
            if q is not None and q.ll > pt.ll + 1e-12:
                pt = q
    if pt is None:
        raise InputError("cannot compute the likelihood at the starting values (the marginal "
                         "covariance matrix is not positive definite)")
    pt = _nat_newton(ps, reml, pt, nk, scale)
    message = "L-BFGS-B on the natural scale (metafor's parameter space), Newton"
    for _ in range(8):
        viol = _violations(ps, reml, pt, nk, scale)
        if not viol:
            break
        rel = [r for r in (_release(ps, reml, x, e, nk, scale, pt.ll) for x, e in viol)
               if r is not None]
        new = None
        for r in rel[:6]:
            q, it = _nat_local(ps, reml, r, nk, scale, maxiter)
            iters += it
            if q is not None and (new is None or q.ll > new.ll):
                new = q
        if new is None or new.ll <= pt.ll:
            break
        pt = _nat_newton(ps, reml, new, nk, scale)
        message += "; KKT conditions violated at a bound: components released"
    ok = (not _violations(ps, reml, pt, nk, scale)
          and _interior_gradient(pt, nk, scale) < _KKT_TOL)
    notes: list[str] = []
    if not ok:
        # stopped short of a maximum, typically at the wall where the marginal covariance
        # becomes singular (rho -> -1 with growing variances): follow the gradient up to
        # that wall; if the likelihood keeps rising there, no maximum exists
        for _ in range(5):
            q = _march(ps, reml, pt, nk, scale)
            if q is None:
                break
            pt = q
            q, it = _nat_local(ps, reml, pt.x, nk, scale, maxiter)
            iters += it
            if q is not None and q.ll > pt.ll:
                pt = q
        ok = (not _violations(ps, reml, pt, nk, scale)
              and _interior_gradient(pt, nk, scale) < _KKT_TOL)
        notes = [] if ok else _singular_note(ps, pt)
    theta = _to_theta(pt.x, nk)
    active = ~_at_bound(pt.x, nk)
    boundary = [kinds[i][1] for i in np.flatnonzero(~active)]
    vals = ps.values(theta)
    ev = eng.evaluate(vals, reml)
    return OptResult(theta, vals, ev, iters, ok, message, boundary, notes)


def _near_bound(x: np.ndarray, nk: list[str], scale: float) -> bool:
    """A component on or near a bound: a variance below 1e-4 times the sampling-variance
    scale (a standard deviation below 1e-2 times its root), a correlation within 1e-3 of a
    bound."""
    for xi, k, (lo, hi) in zip(x, nk, _bounds(nk), strict=True):
        tol = 1e-4 * scale if k == "v" else 1e-2 * math.sqrt(scale) if k == "sd" else 1e-3
        if k != "raw" and ((lo is not None and xi - lo < tol)
                           or (hi is not None and hi - xi < tol)):
            return True
    return False


def _at_bound(x: np.ndarray, nk: list[str]) -> np.ndarray:
    return np.array([(lo is not None and xi <= lo) or (hi is not None and xi >= hi)
                     for xi, (lo, hi) in zip(x, _bounds(nk), strict=True)], dtype=bool)


def _nat_newton(ps: ParamSet, reml: bool, pt: _NatPoint, nk: list[str], scale: float,
                maxiter: int = 30) -> _NatPoint:
    """Newton steps on the components off their bounds (scaled natural coordinates, the
    Hessian by central differences of the analytic gradient), with step halving; a
    component that comes within rounding of a bound with its gradient pointing out is put
    on the bound (if the log-likelihood is not lower there). Stops where the Hessian is not
    negative definite (L-BFGS-B's point is kept)."""
    f = np.array([scale if k == "v" else math.sqrt(scale) if k == "sd" else 1.0 for k in nk])
    b = _bounds(nk)
    lo = np.array([-np.inf if lb is None else lb for lb, _ in b]) / f
    hi = np.array([np.inf if ub is None else ub for _, ub in b]) / f
    for _ in range(maxiter):
        z = pt.x / f
        gz = pt.g * f
        # snap components within rounding of a bound whose gradient points out of the space
        near = ((z - lo < 1e-7) & (gz < 0)) | ((hi - z < 1e-9) & (gz > 0))
        near &= ~_at_bound(pt.x, nk)
        if np.any(near):
            zs = np.where(near & (gz < 0), lo, np.where(near, hi, z))
            q = _nat_eval(ps, reml, zs * f, nk)
            if q is not None and q.ll >= pt.ll - 1e-12:
                pt = q
                continue
        act = np.flatnonzero(~_at_bound(pt.x, nk))
        if act.size == 0 or np.max(np.abs(gz[act])) < 1e-12:
            break
        H = np.empty((act.size, act.size))
        ok = True
        for c, i in enumerate(act):
            h = 1e-5 * max(1.0, abs(z[i]))
            up, dn = z.copy(), z.copy()
            up[i] = min(z[i] + h, hi[i])
            dn[i] = max(z[i] - h, lo[i])
            qu, qd = _nat_eval(ps, reml, up * f, nk), _nat_eval(ps, reml, dn * f, nk)
            if qu is None or qd is None or up[i] == dn[i]:
                ok = False
                break
            H[:, c] = ((qu.g - qd.g) * f)[act] / (up[i] - dn[i])
        if not ok:
            break
        H = (H + H.T) / 2
        if not np.all(np.isfinite(H)) or np.max(np.linalg.eigvalsh(H)) >= 0:
            break
        step = -np.linalg.solve(H, gz[act])
        t, moved = 1.0, False
        while t > 1e-4:
            zc = z.copy()
            zc[act] = np.clip(z[act] + t * step, lo[act], hi[act])
            q = _nat_eval(ps, reml, zc * f, nk)
            if q is not None and q.ll >= pt.ll:
                moved = q.ll > pt.ll or not np.array_equal(zc, z)
                pt = q
                break
            t /= 2
        if not moved or np.max(np.abs(t * step)) < 1e-13:
            break
    return pt


def _interior_gradient(pt: _NatPoint, nk: list[str], scale: float) -> float:
    """Largest scaled natural-scale gradient of the components off their bounds."""
    g = [gi for gi, xi, (lo, hi) in zip(_scaled(pt.g, nk, scale), pt.x, _bounds(nk), strict=True)
         if not ((lo is not None and xi <= lo) or (hi is not None and xi >= hi))]
    return float(np.max(np.abs(g))) if g else 0.0


def _march(ps: ParamSet, reml: bool, pt: _NatPoint, nk: list[str],
           scale: float) -> _NatPoint | None:
    """Along the projected gradient (scaled natural coordinates), the best point before the
    marginal covariance matrix stops being positive definite (or a bound is reached); None
    if it does not improve on ``pt``."""
    f = np.array([scale if k == "v" else math.sqrt(scale) if k == "sd" else 1.0 for k in nk])
    b = _bounds(nk)
    lo = np.array([-np.inf if lb is None else lb for lb, _ in b]) / f
    hi = np.array([np.inf if ub is None else ub for _, ub in b]) / f
    z = pt.x / f
    d = pt.g * f
    d[((z <= lo) & (d < 0)) | ((z >= hi) & (d > 0))] = 0.0
    if not np.any(d):
        return None
    d = d / np.max(np.abs(d))

    def at(t: float) -> _NatPoint | None:
        return _nat_eval(ps, reml, np.clip(z + t * d, lo, hi) * f, nk)

    good, bad = 0.0, 1.0
    while at(bad) is not None and bad < 1e6:
        good, bad = bad, bad * 2
    for _ in range(60):  # the feasibility wall to rounding
        mid = (good + bad) / 2
        if at(mid) is not None:
            good = mid
        else:
            bad = mid
    best = pt
    for k in range(1, 16):
        q = at(good * (1 - 10.0 ** -k)) if k < 15 else at(good)
        if q is not None and q.ll > best.ll:
            best = q
    return best if best.ll > pt.ll + 1e-12 else None


def _singular_note(ps: ParamSet, pt: _NatPoint) -> list[str]:
    """A note when the fit stopped next to a singular marginal covariance matrix."""
    eng = ps.engine
    G = [st.G(pt.vals.v[j], pt.vals.r[j]) for j, st in enumerate(eng.struct_terms)]
    worst = np.inf
    for g in eng.groups:
        M = eng.block_M(g, pt.vals, G)
        ev = np.linalg.eigvalsh(M)
        worst = min(worst, float(np.min(ev[:, 0] / ev[:, -1])))
    if worst < 1e-6:
        return [f"the (restricted) log-likelihood increases towards a singular marginal "
                f"covariance matrix (smallest eigenvalue ratio {worst:.1e}): no maximum exists "
                f"in metafor's parameter space (variances >= 0, correlations in [-1, 1], G not "
                f"required to be positive semi-definite)"]
    return []
