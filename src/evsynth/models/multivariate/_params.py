"""Variance-component parameters of :func:`evsynth.meta_mv` and their optimisation.

Free components are optimised on metafor's transformed scale (``rma.mv``, ``.con.E``): variances
on the log scale, correlations through ``tanh`` (``CAR``: the logistic function, rho in (0, 1));
an unstructured (``UN``) matrix with every element free through its Cholesky factor (log
diagonal), as metafor's default ``cholesky = TRUE``. The analytic gradient (see ``_engine``) is
carried to the transformed scale by the chain rule, with the derivatives of the structured ``G``
matrices by complex-step differentiation (Squire & Trapp 1998, SIAM Review 40:110,
doi:10.1137/S003614459631241X), exact to rounding. BFGS from metafor's starting values is
followed by Newton steps with a Hessian from central differences of the analytic gradient.
A variance component that runs to zero is put at the boundary (exactly 0) when the derivative of
the log-likelihood with respect to it is not positive there.
"""

from __future__ import annotations

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
        L = self.term.L
        if self.chol:
            Lm = np.zeros((L, L), dtype=theta.dtype)
            il = np.tril_indices(L)
            Lm[il] = theta
            Lm[np.diag_indices(L)] = np.exp(np.diag(Lm))
            G = Lm @ Lm.T
            v = np.diag(G).copy()
            sd = np.sqrt(v)
            C = G / np.outer(sd, sd)
            r = np.array([C[a, b] for a, b in self.term.cor_pairs()], dtype=theta.dtype)
            return v, r
        nv = int(np.isnan(self.v_fix).sum())
        v = self.v_fix.astype(theta.dtype)
        r = self.r_fix.astype(theta.dtype)
        v[np.isnan(self.v_fix)] = np.exp(theta[:nv])
        r[np.isnan(self.r_fix)] = self._rtrans(theta[nv:])
        return v, r

    def start(self, total: float) -> np.ndarray:
        L = self.term.L
        v0 = np.full(self.term.n_var, total)
        r0 = np.full(self.term.n_cor, 0.5)
        if self.chol:
            G = self.term.G(v0, r0)
            try:
                Lm = np.linalg.cholesky(G)
            except np.linalg.LinAlgError:
                Lm = np.diag(np.sqrt(v0))
            Lm[np.diag_indices(L)] = np.log(np.diag(Lm))
            return Lm[np.tril_indices(L)]
        return np.concatenate([np.log(v0[np.isnan(self.v_fix)]),
                               self._rinv(r0[np.isnan(self.r_fix)])])

    def theta_of(self, v: np.ndarray, r: np.ndarray) -> np.ndarray:
        """Transformed parameters of given values (warm starts)."""
        L = self.term.L
        if self.chol:
            G = self.term.G(v, r)
            Lm = np.linalg.cholesky(G)
            Lm[np.diag_indices(L)] = np.log(np.diag(Lm))
            return Lm[np.tril_indices(L)]
        vv = np.maximum(v[np.isnan(self.v_fix)], 1e-8)
        rr = np.clip(r[np.isnan(self.r_fix)], -0.999, 0.999)
        if self.term.struct == "CAR":
            rr = np.clip(rr, 1e-3, 0.999)
        return np.concatenate([np.log(vv), self._rinv(rr)])

    def G_jacobian(self, theta: np.ndarray) -> np.ndarray:
        """dG/dtheta (L, L, n_free) by complex step."""
        L = self.term.L
        out = np.empty((L, L, theta.size))
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
        try:
            ev = eng.evaluate(ps.values(theta), reml)
        except NotPositiveDefinite:
            return 1e300, np.zeros_like(theta)
        g = ps.gradient(theta, ev, reml)
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
    if f0 >= 1e300:
        raise InputError("cannot compute the likelihood at the starting values (the marginal "
                         "covariance matrix is not positive definite)")
    theta, iters, ok = _ai_newton(ps, reml, theta0, fg, maxiter=min(maxiter, 200), tol=tol)
    message = "average-information Newton converged"
    res_success = ok
    if not ok:  # fall back on BFGS from the best point found
        res = optimize.minimize(fg, theta, jac=True, method="BFGS",
                                options={"gtol": 1e-9, "maxiter": maxiter})
        theta = np.asarray(res.x, dtype=float)
        iters += int(res.nit)
        message = "BFGS after average-information Newton: " + str(res.message)
        res_success = bool(res.success)
    # boundary: variance components that ran off to zero (log scale -> -inf)
    theta, boundary = _boundary(ps, theta, reml, fg)
    # Newton polishing on the interior parameters
    active = np.ones(theta.size, dtype=bool)
    active[[i for i, _ in boundary]] = False
    converged = res_success
    for _ in range(50):
        f, g = fg(theta)
        ga = g[active]
        if ga.size == 0 or np.max(np.abs(ga)) < tol:
            converged = True
            break
        H = _fd_hessian(fg, theta, active)
        try:
            step = -np.linalg.solve(H, ga)
            if not np.all(np.isfinite(step)) or ga @ step >= 0:
                raise np.linalg.LinAlgError
        except np.linalg.LinAlgError:
            step = -ga
        t = 1.0
        while t > 1e-8:
            cand = theta.copy()
            cand[active] += t * step
            fc, _ = fg(cand)
            if fc <= f + 1e-4 * t * (ga @ step) or (fc <= f and t < 1e-3):
                break
            t /= 2
        else:
            converged = converged or np.max(np.abs(ga)) < 1e-6
            break
        theta = cand
        iters += 1
        if np.max(np.abs(t * step)) < 1e-12:
            converged = True
            break
    vals = ps.values(theta)
    ev = eng.evaluate(vals, reml)
    return OptResult(theta, vals, ev, iters, converged, message,
                     [name for _, name in boundary])


def _ai_newton(ps: ParamSet, reml: bool, theta: np.ndarray, fg: Any, *, maxiter: int,
               tol: float) -> tuple[np.ndarray, int, bool]:
    """Newton steps with the average information matrix (a Levenberg-type ridge when it is
    singular) and step halving on the log-likelihood."""
    eng = ps.engine
    theta = theta.copy()
    f, g = fg(theta)
    for it in range(1, maxiter + 1):
        if np.max(np.abs(g)) < tol:
            return theta, it - 1, True
        try:
            ev = eng.evaluate(ps.values(theta), reml)
        except NotPositiveDefinite:
            return theta, it, False
        AI = eng.average_information(ev, ps.dM_blocks(theta), reml)
        score = -g
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
            cand = theta + t * step
            fc, gc = fg(cand)
            if fc <= f + 1e-12 * max(1.0, abs(f)):
                break
            t /= 2
        else:
            return theta, it, bool(np.max(np.abs(g)) < 1e-6)
        small = np.max(np.abs(t * step)) < 1e-10
        theta, f, g = cand, fc, gc
        if small:
            return theta, it, bool(np.max(np.abs(g)) < 1e-6)
    return theta, maxiter, False


def _fd_hessian(fg: Any, theta: np.ndarray, active: np.ndarray) -> np.ndarray:
    idx = np.flatnonzero(active)
    n = idx.size
    H = np.empty((n, n))
    for a, i in enumerate(idx):
        h = 1e-5 * max(1.0, abs(theta[i]))
        tp, tm = theta.copy(), theta.copy()
        tp[i] += h
        tm[i] -= h
        H[:, a] = (fg(tp)[1][idx] - fg(tm)[1][idx]) / (2 * h)
    return (H + H.T) / 2


def _boundary(ps: ParamSet, theta: np.ndarray, reml: bool,
              fg: Any) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Put variance components that ran to zero at exactly zero (-inf on the log scale) when the
    log-likelihood does not increase away from zero."""
    out: list[tuple[int, str]] = []
    theta = theta.copy()
    cand: list[tuple[int, str]] = [(i, f"sigma2[{i}]") for i in range(ps.n_sigma_free)]
    pos = ps.n_sigma_free
    for s in ps.structs:
        if not s.chol:
            nv = int(np.isnan(s.v_fix).sum())
            cand += [(pos + i, f"{s.term.which}-variance[{i}]") for i in range(nv)]
        pos += s.n_free
    for i, name in cand:
        if theta[i] < np.log(1e-7):
            trial = theta.copy()
            trial[i] = -np.inf
            f_b, _ = fg(trial)
            f_c, _ = fg(theta)
            if f_b <= f_c + 1e-10:
                theta = trial
                out.append((i, name))
    return theta, out
