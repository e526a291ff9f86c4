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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize

from evsynth.errors import InputError
from evsynth.models.multivariate._engine import Engine, Evaluation, NotPositiveDefinite, Values
from evsynth.models.multivariate._terms import StructTerm

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
    boundary = [kinds[i][1] for i in np.flatnonzero(~active)]
    vals = ps.values(theta)
    ev = eng.evaluate(vals, reml)
    return OptResult(theta, vals, ev, iters, ok, message, boundary)


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
