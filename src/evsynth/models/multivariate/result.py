"""The result of :func:`evsynth.meta_mv` (metafor's ``rma.mv`` object and its methods)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy import special

from evsynth._lazy import LazyModule
from evsynth.errors import InputError
from evsynth.models.engine import chi2_upper
from evsynth.models.multivariate._engine import Engine, Evaluation, NotPositiveDefinite, Values
from evsynth.models.multivariate._params import ParamSet, optimise
from evsynth.models.results import FittedModel, FrameResult, ResultMixin, fmt_p, to_jsonable
from evsynth.validation import level_fraction, level_percent

pd = LazyModule("pandas")
optimize = LazyModule("scipy.optimize")
stats = LazyModule("scipy.stats")


def _crit(test: str, level: float, df: Any = None) -> Any:
    """Two-sided critical value(s) at ``level`` (a fraction)."""
    if test == "z":
        return float(special.ndtri(1 - (1 - level) / 2))
    return special.stdtrit(df, 1 - (1 - level) / 2)


class MetaMVResult(FittedModel):
    """A fitted multilevel / multivariate model (metafor's ``rma.mv`` fields).

    Follows the results contract (:class:`evsynth.models.results.FittedModel`). Variance
    components: ``sigma2`` (one per ``~ 1 | f`` term, ``s_names``, ``s_nlevels``), ``tau2``
    and ``rho`` (first ``~ inner | outer`` term), ``gamma2`` and ``phi`` (second). For the
    cluster-robust methods: ``yi``, ``model_matrix``, ``vb``, ``test``, ``dfs``,
    :meth:`marginal_var` and :meth:`weight_matrix` (sparse, block diagonal).
    """

    model_name = "meta_mv() fit (rma.mv)"

    _eng: Engine
    _ps: ParamSet
    _mm: Any
    _settings: dict[str, Any]
    _opt: Any
    _vals: Values
    _ev: Evaluation
    V: sp.csr_matrix
    slab: list[Any] | None
    p: int
    vb: np.ndarray
    ddf: np.ndarray
    btt: np.ndarray
    sigma2: np.ndarray
    tau2: np.ndarray
    rho: np.ndarray
    gamma2: np.ndarray
    phi: np.ndarray
    G: np.ndarray | None
    H: np.ndarray | None
    QM: float
    QMdf: list[Any]
    QMp: float
    QE: float
    QEp: float
    ll: float
    parms: int

    _dict_fields = ("k", "p", "coef_names", "beta", "se", "zval", "pval", "ci_lb", "ci_ub", "vb",
                    "ddf", "sigma2", "s_names", "s_nlevels", "tau2", "rho", "gamma2", "phi",
                    "g_levels", "h_levels", "QE", "QEp", "QM", "QMdf", "QMp", "ll", "AIC", "BIC",
                    "AICc", "parms", "fit_stats", "method", "test", "dfs", "level",
                    "method_info", "yi", "slab")

    # construction -----------------------------------------------------------------------
    @classmethod
    def _fit(cls, eng: Engine, ps: ParamSet, mm: Any, V: sp.csr_matrix, labels: list | None,
             settings: dict[str, Any], theta0: np.ndarray | None = None) -> MetaMVResult:
        self = cls.__new__(cls)
        self._eng, self._ps, self._mm, self._settings = eng, ps, mm, settings
        self.V = V
        self.slab = labels
        con = settings["control"]
        reml = settings["method"] == "REML"
        if theta0 is None:
            theta0 = self._start(con)
        opt = optimise(ps, reml, theta0, maxiter=con.get("maxiter", 1000),
                       tol=con.get("tol", 1e-10))
        self._opt = opt
        self._finish(opt.values, opt.ev)
        return self

    def _start(self, con: dict[str, Any]) -> np.ndarray:
        """metafor's starting values: the variance of the equal-effects residuals minus the
        typical sampling variance, split equally over the variance components; rho = 0.5."""
        eng, ps = self._eng, self._ps
        n_var = len(eng.sigma_terms) + sum(s.n_var for s in eng.struct_terms)
        if n_var == 0:
            return np.empty(0)
        vals0 = Values(np.zeros(len(eng.sigma_terms)),
                       [np.zeros(s.n_var) for s in eng.struct_terms],
                       [np.zeros(s.n_cor) for s in eng.struct_terms])
        ev = eng.evaluate(vals0, False)
        resid = eng.y - eng.X @ ev.beta
        d = eng.V.diagonal()
        total = max(0.001 * n_var, float(np.var(resid, ddof=1)) - 1 / float(np.mean(1 / d))
                    if eng.k > 1 else 0.001 * n_var)
        each = total / n_var
        theta = ps.start(each)
        if "sigma2_init" in con:
            theta[:ps.n_sigma_free] = math.log(con["sigma2_init"])
        if ps.structs and ("tau2_init" in con or "rho_init" in con):
            s0 = ps.structs[0]
            v0 = np.full(s0.term.n_var, con.get("tau2_init", each))
            r0 = np.full(s0.term.n_cor, con.get("rho_init", 0.5))
            th = s0.theta_of(v0, r0) if not s0.chol else s0.theta_of(v0, r0)
            theta[ps.n_sigma_free:ps.n_sigma_free + s0.n_free] = th
        return theta

    def _finish(self, vals: Values, ev: Evaluation) -> None:
        eng, st = self._eng, self._settings
        self._vals, self._ev = vals, ev
        self.method, self.test, self.dfs = st["method"], st["test"], st["dfs"]
        self.level = float(st["level"])
        self.k, self.p = eng.k, eng.p
        self.coef_names = list(self._mm.names)
        self.yi = eng.y.copy()
        self.beta = ev.beta.copy()
        self.vb = ev.vb.copy()
        self.se = np.sqrt(np.diag(self.vb))
        self.zval = self.beta / self.se
        self.sigma2 = vals.sigma2.copy()
        self.s_names = [t.name for t in eng.sigma_terms]
        self.s_nlevels = [t.nlevels for t in eng.sigma_terms]
        g = eng.struct_terms
        self.tau2 = vals.v[0].copy() if g else np.empty(0)
        self.rho = vals.r[0].copy() if g else np.empty(0)
        self.gamma2 = vals.v[1].copy() if len(g) > 1 else np.empty(0)
        self.phi = vals.r[1].copy() if len(g) > 1 else np.empty(0)
        self.G = ev.G[0].copy() if g else None
        self.H = ev.G[1].copy() if len(g) > 1 else None
        self.g_levels = [str(x) for x in g[0].inner_levels] if g else []
        self.h_levels = [str(x) for x in g[1].inner_levels] if len(g) > 1 else []
        self.ddf = self._ddf()
        lvl = self.level / 100
        crit = _crit(self.test, lvl, self.ddf)
        if self.test == "z":
            self.pval = 2 * special.ndtr(-np.abs(self.zval))
        else:
            self.pval = 2 * special.stdtr(self.ddf, -np.abs(self.zval))
        self.ci_lb = self.beta - crit * self.se
        self.ci_ub = self.beta + crit * self.se
        btt = st["btt"]
        self.btt = np.array(btt)
        b = self.beta[btt]
        QM = float(b @ np.linalg.solve(self.vb[np.ix_(btt, btt)], b))
        m = int(btt.size)
        if self.test == "z":
            self.QM, self.QMdf = QM, [m, None]
            self.QMp = float(chi2_upper(QM, m))
        else:
            d2 = float(np.min(self.ddf[btt]))
            self.QM, self.QMdf = QM / m, [m, d2]
            self.QMp = float(special.fdtrc(m, d2, QM / m))
        if self.k > self.p:
            self.QE = eng.qe()
            self.QEp = float(chi2_upper(self.QE, self.k - self.p))
        else:
            self.QE, self.QEp = 0.0, 1.0
        self.ll = float(ev.ll)
        n_free = self._ps.n_free
        self.parms = self.p + n_free
        self.fit_stats = self._fit_stats(ev)
        self.dev = self.fit_stats["deviance"]
        self.AIC, self.BIC, self.AICc = (self.fit_stats["AIC"], self.fit_stats["BIC"],
                                         self.fit_stats["AICc"])
        opt = self._opt
        notes = list(st.get("fixed_notes", []))
        if opt.boundary:
            notes.append("variance component(s) estimated at a bound (variance 0, "
                         "correlation +/-1): "
                         + ", ".join(opt.boundary))
        notes.extend(opt.notes)
        if not opt.converged:
            notes.append("the optimiser did not converge: the (restricted) likelihood may have "
                         "no maximum inside the parameter space (e.g. a correlation at -1 with "
                         "the marginal covariance nearly singular; G is not constrained to be "
                         "positive semi-definite, as in metafor); do not use these estimates")
        if self.dfs == "contain" and st.get("test_given") == "z":
            notes.append("dfs='contain' implies t tests (as metafor)")
        self.method_info = {
            "estimator": self.method,
            "test": self.test,
            "dfs": self.dfs,
            "ddf": [float(x) for x in self.ddf] if self.test == "t" else None,
            "level": self.level,
            "random": st["random"] if isinstance(st["random"], (str, type(None)))
            else list(st["random"]),
            "struct": [t.struct for t in eng.struct_terms],
            "R": sorted(st["R"]) if st["R"] else [],
            "fixed_components": {key: to_jsonable(np.atleast_1d(np.asarray(
                [np.nan if x is None else x for x in np.atleast_1d(np.asarray(val,
                                                                               dtype=object))],
                dtype=float))) for key, val in st["fixed"].items() if val is not None},
            "parametrisation": "log variances, tanh correlations (CAR: logistic), UN via "
                               "unconstrained Cholesky (metafor's transformations); other "
                               "structured terms on the natural scale (tau^2 or tau >= 0, "
                               "rho in [-1, 1], CAR [0, 1]) with a KKT check at the bounds",
            "optimizer": "BFGS with analytic gradient, then Newton (Hessian by central "
                         "differences of the gradient)",
            "tolerance": self._settings["control"].get("tol", 1e-10),
            "max_iterations": self._settings["control"].get("maxiter", 1000),
            "iterations": opt.iterations,
            "converged": bool(opt.converged),
            "boundary": list(opt.boundary),
            "n_blocks": eng.n_blocks,
            "largest_block": int(max(g_.idx.shape[1] for g_ in eng.groups)),
            "btt": [int(x) for x in btt],
            "REMLf": True,
            "notes": notes,
            "reference": "metafor rma.mv (Viechtbauer 2010, doi:10.18637/jss.v036.i03)",
        }

    def _fit_stats(self, ev: Evaluation) -> dict[str, float]:
        """logLik, deviance, AIC, BIC, AICc as metafor's ``fitstats`` (REML: k - p
        observations)."""
        ll = ev.ll
        n = self.k - self.p if self.method == "REML" else self.k
        parms = self.parms
        aicc_den = max(n, parms + 2) - parms - 1
        return {"logLik": ll, "deviance": -2 * ll, "AIC": -2 * ll + 2 * parms,
                "BIC": -2 * ll + parms * math.log(n),
                "AICc": -2 * ll + 2 * parms * max(n, parms + 2) / aicc_den,
                "ll_ML": ev.ll_ml, "ll_REML": ev.ll_reml}

    def _row_ddf(self, Lm: np.ndarray) -> np.ndarray:
        """The t/F denominator df of each linear combination (row of ``Lm``): the smallest
        df of the coefficients it involves (metafor's ``predict.rma`` and ``anova.rma`` with
        ``dfs = "contain"``; the omnibus F of several rows takes the smallest); ``k - p`` for
        every row with residual df."""
        out = np.empty(Lm.shape[0])
        for i, row in enumerate(Lm):
            used = row != 0
            out[i] = np.min(self.ddf[used]) if used.any() else np.min(self.ddf)
        return out

    def _ddf(self) -> np.ndarray:
        """Degrees of freedom of the t tests (metafor ``.ddf.calc``): ``k - p``, or the
        "containment" rule: for each coefficient the smallest number of levels among the
        random-effects factors within whose levels its predictor is constant, minus p."""
        k, p = self.k, self.p
        if self.dfs == "residual" or self.test == "z":
            return np.full(p, float(k - p))
        eng = self._eng
        X = self._mm.X
        factors: list[list[np.ndarray]] = []
        factors.append([t.lev for t in eng.sigma_terms])
        for st in eng.struct_terms:
            combo = np.unique(np.column_stack([st.inn, st.out]), axis=0, return_inverse=True)[1]
            factors.append([np.asarray(combo).ravel(), st.out])
        ddf = np.full(p, float(k))
        for j in range(p):
            for fl in factors:
                best = float(k)
                for f in fl:
                    nlev = int(f.max()) + 1 if f.size else 0
                    # X[:, j] constant within every level of f?
                    pairs = np.unique(np.column_stack([f, X[:, j]]), axis=0)
                    if pairs.shape[0] == nlev:
                        best = min(best, float(nlev))
                ddf[j] = min(ddf[j], best)
        ddf = ddf - p
        ddf[ddf < 1] = 1
        return ddf

    # contract / helpers -----------------------------------------------------------------
    @property
    def model_matrix(self) -> np.ndarray:
        """The k x p model matrix (read-only copy)."""
        return np.array(self._mm.X)

    @property
    def int_only(self) -> bool:
        """True for a model with an intercept only."""
        return self.p == 1 and bool(self._mm.intercept)

    @property
    def converged(self) -> bool:
        return bool(self.method_info["converged"])

    def marginal_var(self) -> sp.csr_matrix:
        """The model-implied marginal covariance ``M = V + Z G Z'`` (sparse CSR, k x k)."""
        eng = self._eng
        blocks = [eng.block_M(g, self._vals, self._ev.G) for g in eng.groups]
        return eng.scatter(blocks)

    def weight_matrix(self) -> sp.csr_matrix:
        """``W = M^-1`` (sparse CSR, block diagonal by independent cluster)."""
        return self._eng.scatter(self._ev.W)

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["G"] = to_jsonable(self.G)
        d["H"] = to_jsonable(self.H)
        return d

    def refit(self, rows: np.ndarray | None = None, *, theta0: np.ndarray | None = None,
              **fixed: Any) -> MetaMVResult:
        """This model refitted to a subset of the effect sizes (``rows``, 0-based) and/or with
        variance components fixed (``sigma2=``, ``tau2=``, ... as in :func:`meta_mv`)."""
        from evsynth.models.multivariate.fit import meta_mv

        st = self._settings
        keep = np.arange(self.k) if rows is None else np.asarray(rows)
        data = self._data_frame().iloc[keep].reset_index(drop=True)
        Vs = self.V[keep][:, keep]
        fx = dict(st["fixed"])
        fx.update(fixed)
        X = self._mm.X[keep]
        mods = X[:, 1:] if self._mm.intercept else X
        return meta_mv(self.yi[keep], Vs, random=st["random"], struct=st["struct"],
                       mods=mods if mods.shape[1] else None, intercept=bool(self._mm.intercept),
                       data=data, method=self.method, test=self.test, dfs=self.dfs, R=st["R"],
                       level=self.level, control=st["control"],
                       btt=list(st["btt"]), **fx)._named(self.coef_names)

    def _named(self, names: list[str]) -> MetaMVResult:
        if len(names) == self.p:
            self.coef_names = list(names)
            self._mm.names = list(names)
        return self

    @property
    def data(self) -> Any:
        """A copy of the ``data=`` frame the model was fitted with (None without one); e.g.
        ``robust(fit, cluster="study")`` looks the column up here, as metafor does."""
        frame = self._settings.get("_data")
        return None if frame is None else frame.reset_index(drop=True).copy()

    def _data_frame(self) -> Any:
        """The data frame the model was fitted with (for refits)."""
        frame = self._settings.get("_data")
        if frame is None:
            return pd.DataFrame(index=range(self.k))
        return frame.reset_index(drop=True)

    # inference --------------------------------------------------------------------------
    def predict(self, newmods: Any = None, transf: Callable[[Any], Any] | None = None,
                level: float | None = None, intercept: bool | None = None,
                tau2_levels: Any = None, gamma2_levels: Any = None) -> MVPrediction:
        """Predicted average effects with confidence and prediction intervals (metafor
        ``predict.rma``): ``pred = x'b``, ``se = sqrt(x' Var(b) x)``; the PI adds the sum of
        the ``sigma^2`` components and, for ``~ inner | outer`` terms, ``tau^2`` (and
        ``gamma^2``) of the inner level given by ``tau2_levels`` / ``gamma2_levels`` (needed
        when the structure has one variance per level: HCS, UN, DIAG, HAR; otherwise the PI is
        not given, as in metafor). ``newmods``: rows of moderator values (without the intercept
        column when the model has one; a dict of columns for formula moderators)."""
        lvl = level_fraction(self.level if level is None else level)
        Xn = self._new_rows(newmods, intercept)
        m = Xn.shape[0]
        pred = Xn @ self.beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", Xn, self.vb, Xn))
        crit = _crit(self.test, lvl, self._row_ddf(Xn))
        extra = np.full(m, float(np.sum(self.sigma2)))
        notes = []
        for j, st_ in enumerate(self._eng.struct_terms):
            v = self.tau2 if j == 0 else self.gamma2
            lv_arg = tau2_levels if j == 0 else gamma2_levels
            if lv_arg is None and newmods is None and m == self.k:
                # the fitted rows: each at its own inner level (as metafor)
                lv_arg = [str(st_.inner_levels[i]) for i in st_.inn]
            argname = "tau2_levels" if j == 0 else "gamma2_levels"
            if st_.n_var == 1:
                extra = extra + v[0]
            elif lv_arg is None:
                extra = extra + np.nan
                notes.append(f"no prediction interval: give {argname} (the inner level of "
                             f"each prediction) for struct {st_.struct!r}")
            else:
                labs = [str(x) for x in np.atleast_1d(lv_arg)]
                if len(labs) == 1 and m > 1:
                    labs = labs * m
                names = [str(x) for x in st_.inner_levels]
                idx = []
                for lab in labs:
                    if lab in names:
                        idx.append(names.index(lab))
                    elif lab.isdigit() and 1 <= int(lab) <= len(names):
                        idx.append(int(lab) - 1)
                    else:
                        raise InputError(f"argument '{argname}': {lab!r} is not a level of "
                                         f"{st_.inner_name!r} ({', '.join(names)})")
                if len(idx) != m:
                    raise InputError(f"argument '{argname}' has {len(idx)} values for {m} "
                                     "predictions")
                extra = extra + v[np.array(idx)]
        pse = np.sqrt(se**2 + extra)
        out = {"pred": pred, "se": se, "ci_lb": pred - crit * se, "ci_ub": pred + crit * se,
               "pi_lb": pred - crit * pse, "pi_ub": pred + crit * pse}
        name = None
        if transf is not None:
            for key in ("pred", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
                out[key] = np.asarray(transf(out[key]), dtype=float)
            out["se"] = np.full(m, np.nan)
            name = getattr(transf, "__name__", "transf")
        frame = pd.DataFrame(out)
        return MVPrediction(frame, level_percent(lvl), name, notes)

    def _new_rows(self, newmods: Any, intercept: bool | None) -> np.ndarray:
        p, mm = self.p, self._mm
        if newmods is None:
            if self.int_only:
                return np.ones((1, 1))
            return np.array(mm.X)
        if isinstance(newmods, dict) and mm.spec is not None:
            frame = pd.DataFrame({k: np.atleast_1d(v) for k, v in newmods.items()})
            try:
                new = mm.spec.get_model_matrix(frame)
            except Exception as exc:  # formulaic raises many types
                raise InputError(f"predict: newmods {newmods!r}: {exc}") from None
            from evsynth.models.meta import _intercept_first

            X, _ = _intercept_first(new)
            return np.asarray(X, dtype=float)
        M = np.atleast_2d(np.asarray(newmods, dtype=float))
        add = mm.intercept if intercept is None else intercept
        if M.shape[1] == p - 1 and mm.intercept and add:
            M = np.column_stack([np.ones(M.shape[0]), M])
        elif M.shape[1] == 1 and p > 2 and M.shape[0] == p - int(bool(mm.intercept)):
            M = M.T
            if mm.intercept:
                M = np.column_stack([np.ones(1), M])
        if M.shape[1] != p:
            raise InputError(f"predict: newmods has {M.shape[1]} columns; expected "
                             f"{p - int(bool(mm.intercept))} (the moderators, without the "
                             "intercept)")
        return M

    def anova(self, other: MetaMVResult | None = None, *, btt: Sequence[int] | None = None,
              L: Any = None) -> MVAnova:
        """Likelihood-ratio test against a nested fit ``other`` (same data; for REML the same
        fixed effects), or a Wald test of coefficients ``btt`` (0-based) or of the linear
        combinations ``L @ b = 0`` (rows of ``L``), as metafor's ``anova.rma``."""
        if other is not None:
            if not isinstance(other, MetaMVResult):
                raise InputError("anova(): the other model must be a meta_mv() fit")
            if other.k != self.k or not np.array_equal(other.yi, self.yi):
                raise InputError("anova(): the two models were not fitted to the same data")
            if other.method != self.method:
                raise InputError("anova(): the two models use different estimators")
            if self.method == "REML" and (self.p != other.p or not np.allclose(
                    self.model_matrix, other.model_matrix)):
                raise InputError("anova(): REML fits with different fixed effects cannot be "
                                 "compared by a likelihood-ratio test; refit with method='ML'")
            full, red = (self, other) if self.parms >= other.parms else (other, self)
            if full.parms == red.parms:
                raise InputError("anova(): the models have the same number of parameters; "
                                 "they are not nested")
            lrt = max(2 * (full.ll - red.ll), 0.0)
            df = full.parms - red.parms
            return MVAnova("LRT", lrt, float(df), float(chi2_upper(lrt, df)), full.ll,
                           red.ll, None, None)
        if L is not None:
            Lm = np.atleast_2d(np.asarray(L, dtype=float))
            if Lm.shape[1] != self.p:
                raise InputError(f"anova(): L has {Lm.shape[1]} columns; expected {self.p}")
        else:
            idx = self.btt if btt is None else np.atleast_1d(np.asarray(btt, dtype=int))
            Lm = np.eye(self.p)[idx]
        Lb = Lm @ self.beta
        LvL = Lm @ self.vb @ Lm.T
        m = int(np.linalg.matrix_rank(LvL))
        QM = float(Lb @ np.linalg.pinv(LvL) @ Lb)
        if self.test == "z":
            pval = float(chi2_upper(QM, m))
            df2 = None
        else:
            QM = QM / m
            df2 = float(np.min(self._row_ddf(Lm)))
            pval = float(stats.f.sf(QM, m, df2))
        se = np.sqrt(np.diag(LvL))
        return MVAnova("Wald", QM, float(m), pval, None, None, (Lb, se), df2)

    # profile likelihood ------------------------------------------------------------------
    def _components(self) -> list[tuple[str, str, int, int]]:
        """(label, argument, term index, position) of every estimated component."""
        out = []
        fixed = self._ps.sigma2_fix
        for j in range(len(self.sigma2)):
            if np.isnan(fixed[j]):
                out.append((f"sigma2.{j + 1}" if len(self.sigma2) > 1 else "sigma2", "sigma2",
                            -1, j))
        for t, sp_ in enumerate(self._ps.structs):
            vname, rname = ("tau2", "rho") if t == 0 else ("gamma2", "phi")
            for i in range(sp_.term.n_var):
                if np.isnan(sp_.v_fix[i]):
                    out.append((f"{vname}.{i + 1}" if sp_.term.n_var > 1 else vname, vname,
                                t, i))
            for i in range(sp_.term.n_cor):
                if np.isnan(sp_.r_fix[i]):
                    out.append((f"{rname}.{i + 1}" if sp_.term.n_cor > 1 else rname, rname,
                                t, i))
        return out

    def _value_of(self, comp: tuple[str, str, int, int]) -> float:
        _, arg, t, i = comp
        if arg == "sigma2":
            return float(self.sigma2[i])
        src = {"tau2": self.tau2, "rho": self.rho, "gamma2": self.gamma2, "phi": self.phi}[arg]
        return float(src[i])

    def _profile_ll(self, comp: tuple[str, str, int, int], value: float) -> float:
        """The (restricted) log-likelihood maximised over the other components with ``comp``
        fixed at ``value``."""
        _, arg, t, i = comp
        ps = self._ps
        s2 = ps.sigma2_fix.copy()
        structs = [(sp_.v_fix.copy(), sp_.r_fix.copy()) for sp_ in ps.structs]
        if arg == "sigma2":
            s2[i] = value
        elif arg in ("tau2", "gamma2"):
            structs[t][0][i] = value
        else:
            structs[t][1][i] = value
        from evsynth.models.multivariate._params import ParamSet, StructParams

        new = ParamSet(self._eng, s2, [StructParams(sp_.term, v, r)
                                       for sp_, (v, r) in zip(ps.structs, structs, strict=True)])
        scale = max(float(np.mean(self.sigma2)) if self.sigma2.size else 0.1, 1e-4)
        # from the fit's other components, then (where the marginal covariance is not positive
        # definite there, e.g. a correlation moved towards -1) from the default start: a
        # failed start is not a profile of -inf (brentq then took the jump for a root)
        for start in ("fit", "default"):
            try:
                th0 = new.theta_of(self._vals) if start == "fit" else new.start(scale)
                res = optimise(new, self.method == "REML", th0, maxiter=500, tol=1e-8)
            except (InputError, NotPositiveDefinite, np.linalg.LinAlgError):
                continue
            return float(res.ev.ll)
        return -np.inf

    def profile(self, component: str | None = None, values: Any = None,
                steps: int = 20) -> MVProfile:
        """Profile (restricted) log-likelihood over a variance component (metafor
        ``profile.rma.mv``): ``component`` as printed (``"sigma2.1"``, ``"tau2"``, ``"rho"``,
        ...; default the first); ``values`` the grid (default ``steps`` points from 0 (or -1
        for correlations) to about four times the estimate). ``.plot()`` draws it."""
        comps = self._components()
        if not comps:
            raise InputError("profile(): the model has no estimated variance components")
        comp = self._find(component, comps)
        est = self._value_of(comp)
        if values is None:
            if comp[1] in ("rho", "phi"):
                lo = 0.0 if self._is_car(comp) else -0.99
                values = np.linspace(lo, 0.99, steps)
            else:
                values = np.linspace(0, max(4 * est, 1e-3), steps)
        grid = np.asarray(values, dtype=float)
        ll = np.array([self._profile_ll(comp, float(v)) for v in grid])
        return MVProfile(comp[0], grid, ll, est, self.ll, self.method)

    def _find(self, component: str | None, comps: list) -> tuple[str, str, int, int]:
        if component is None:
            return comps[0]
        for c in comps:
            if component in (c[0], c[0].replace(".", "")) or (component == c[1] and
                                                              c[0] == c[1]):
                return c
        raise InputError(f"component {component!r} is not an estimated variance component; "
                         f"expected one of {', '.join(c[0] for c in comps)}")

    def _is_car(self, comp: tuple[str, str, int, int]) -> bool:
        return comp[2] >= 0 and self._eng.struct_terms[comp[2]].struct == "CAR"

    def confint(self, level: float | None = None, component: str | None = None) -> FrameResult:
        """Profile-likelihood confidence intervals of the variance components (metafor
        ``confint.rma.mv``): the values where the profile log-likelihood drops by
        ``qchisq(level, 1) / 2`` below its maximum, searched within [0, inf) for variances and
        [-1, 1] ([0, 1] for CAR) for correlations; a bound where the drop is not reached is the
        end of that range (flagged in ``note``). Also gives the square roots (sigma, tau)."""
        lvl = level_fraction(self.level if level is None else level)
        target = self.ll - stats.chi2.ppf(lvl, 1) / 2
        comps = self._components()
        if component is not None:
            comps = [self._find(component, comps)]
        rows = []
        for comp in comps:
            est = self._value_of(comp)
            is_cor = comp[1] in ("rho", "phi")
            lo_b = (0.0 if self._is_car(comp) else -1.0) if is_cor else 0.0

            seen = [-np.inf]  # the highest profile value met

            def f(x: float, comp: tuple = comp, seen: list[float] = seen) -> float:
                val = self._profile_ll(comp, x)
                seen[0] = max(seen[0], val)
                return val - target

            notes: list[str] = []

            def root(a: float, b: float, xtol: float, side: str, f: Any = f,
                     notes: list[str] = notes) -> float:
                # a bound must be a root of the profile: a jump (a profile that cannot be
                # evaluated on part of the range) is reported, not returned as a bound
                x = optimize.brentq(f, a, b, xtol=xtol)
                if abs(f(x)) <= 1e-4:
                    return x
                notes.append(f"{side} bound not found: the profile jumps across the target "
                             "there (not computable on part of the range)")
                return math.nan

            if f(lo_b) >= 0 or est <= lo_b:
                lb = lo_b
                notes.append("lower bound at the limit")
            else:
                lb = root(lo_b, est, 1e-10, "lower")
            if is_cor:
                hi = 1.0
                if f(hi) >= 0:
                    ub = hi
                    notes.append("upper bound at the limit")
                else:
                    ub = root(est, hi, 1e-10, "upper")
            else:
                hi = max(est, 1e-4) * 2
                ok = True
                while f(hi) > 0:
                    hi *= 2
                    if hi > 1e6 * max(est, 1e-4):
                        ok = False
                        break
                if ok:
                    ub = root(est, hi, 1e-10 * max(1.0, est), "upper")
                else:
                    ub = np.inf
                    notes.append("no upper bound found")
            if seen[0] > self.ll + 1e-6 * max(1.0, abs(self.ll)):
                notes.append(f"the profile reaches {seen[0]:.6g}, above the fit's "
                             f"log-likelihood {self.ll:.6g}: the fit is not the maximum (the "
                             "likelihood may be unbounded near a singular marginal covariance)")
            rows.append({"parameter": comp[0], "estimate": est, "ci_lb": lb, "ci_ub": ub,
                         "note": "; ".join(notes)})
            if not is_cor:
                rows.append({"parameter": comp[0].replace("sigma2", "sigma")
                             .replace("tau2", "tau").replace("gamma2", "gamma"),
                             "estimate": math.sqrt(est), "ci_lb": math.sqrt(lb),
                             "ci_ub": math.sqrt(ub), "note": "; ".join(notes)})
        return MVConfint(pd.DataFrame(rows).set_index("parameter"), level_percent(lvl))

    def i2(self) -> FrameResult:
        """I^2 for a multilevel model (Nakagawa & Santos 2012, Evol Ecol 26:1253,
        doi:10.1007/s10682-012-9555-5; metafor FAQ "I^2 for multilevel and multivariate
        models"): with ``W = V^-1`` and ``P = W - W X (X'WX)^-1 X'W`` the typical sampling
        variance is ``(k - p) / tr(P)``; ``I^2_j = 100 sigma^2_j / (sum sigma^2 + typical)``
        and the total is their sum. For ``~ inner | outer`` terms each variance (tau^2 per
        level) is shown as ``100 tau^2_l / (sum sigma^2 + tau^2_l + typical)`` (the share of
        an effect's total variance for that level)."""
        typ = (self.k - self.p) / self._eng.trace_P_V()
        s = float(np.sum(self.sigma2))
        rows = [{"component": "typical sampling variance", "variance": typ, "I2": np.nan}]
        tot = s + typ
        for j, name in enumerate(self.s_names):
            rows.append({"component": f"sigma2.{j + 1} ({name})", "variance": self.sigma2[j],
                         "I2": 100 * self.sigma2[j] / tot})
        if self.sigma2.size:
            rows.append({"component": "total (sigma2)", "variance": s, "I2": 100 * s / tot})
        for j, st_ in enumerate(self._eng.struct_terms):
            v = self.tau2 if j == 0 else self.gamma2
            sym = "tau2" if j == 0 else "gamma2"
            labels = ([str(x) for x in st_.inner_levels] if st_.n_var > 1 else ["all"])
            for i, val in enumerate(v):
                rows.append({"component": f"{sym}.{i + 1} ({labels[i]})", "variance": val,
                             "I2": 100 * (s + val) / (s + val + typ)})
        return MVI2(pd.DataFrame(rows).set_index("component"), typ)

    # case diagnostics -------------------------------------------------------------------
    def hatvalues(self) -> np.ndarray:
        """Leverages: the diagonal of ``H = X (X'WX)^-1 X'W`` (metafor ``hatvalues.rma.mv``)."""
        return _diagnostics.hatvalues_mv(self)

    def rstudent(self, cluster: Any = None, reestimate: bool = True) -> Any:
        """Studentised deleted residuals (metafor ``rstudent.rma.mv``), deleting each effect
        size or, with ``cluster`` (values or a column of ``data``), each cluster: then a
        :class:`~evsynth.models.multivariate.influence.ClusterRStudent` with the per-cluster
        ``X2``. ``reestimate=False`` holds the variance components at the full-data values."""
        return self._diagnostic("rstudent", cluster=cluster, reestimate=reestimate)

    def cooks_distance(self, cluster: Any = None) -> Any:
        """Cook's distances (metafor ``cooks.distance.rma.mv``): the model refitted without
        each effect size, or each level of ``cluster`` (values or a column of ``data``);
        a pandas Series indexed by label."""
        return _diagnostics.cooks_distance_mv(self, cluster)

    def dfbetas(self, cluster: Any = None) -> Any:
        """DFBETAS (metafor ``dfbetas.rma.mv``): ``(b - b_(-i)) / SE(b_(-i))`` per effect size
        or cluster; a DataFrame with one column per coefficient."""
        return _diagnostics.dfbetas_mv(self, cluster)

    # printing ---------------------------------------------------------------------------
    def summary_text(self) -> str:
        eng = self._eng
        lines = [f"Multivariate Meta-Analysis Model (k = {self.k}; method: {self.method})", ""]
        if eng.sigma_terms or eng.struct_terms:
            lines.append("Variance Components:")
            lines.append("")
        s2fix = np.isfinite(self._ps.sigma2_fix)
        if eng.sigma_terms:
            rows = []
            for j, t in enumerate(eng.sigma_terms):
                nm = f"sigma^2.{j + 1}" if len(eng.sigma_terms) > 1 else "sigma^2"
                rows.append([nm, f"{self.sigma2[j]:.4f}", f"{math.sqrt(self.sigma2[j]):.4f}",
                             str(t.nlevels), "yes" if s2fix[j] else "no",
                             t.name + (" (R)" if t.R is not None else "")])
            lines += _table(["", "estim", "sqrt", "nlvls", "fixed", "factor"], rows)
            lines.append("")
        for j, (st_, sp_) in enumerate(zip(eng.struct_terms, self._ps.structs, strict=True)):
            vsym, rsym = ("tau^2", "rho") if j == 0 else ("gamma^2", "phi")
            v = self.tau2 if j == 0 else self.gamma2
            r = self.rho if j == 0 else self.phi
            lines.append(f"outer factor: {st_.outer_name} (nlvls = {len(st_.outer_levels)})")
            lines.append(f"inner factor: {st_.inner_name} (nlvls = {st_.L})")
            lines.append("")
            vfix = np.isfinite(sp_.v_fix)
            rfix = np.isfinite(sp_.r_fix)
            rows = []
            if st_.n_var == 1:
                rows.append([vsym, f"{v[0]:.4f}", f"{math.sqrt(v[0]):.4f}",
                             "yes" if vfix[0] else "no"])
                if st_.n_cor == 1:
                    rows.append([rsym, f"{r[0]:.4f}", "", "yes" if rfix[0] else "no"])
                lines += _table(["", "estim", "sqrt", "fixed"], rows)
            else:
                counts = np.bincount(st_.inn, minlength=st_.L)
                for i in range(st_.n_var):
                    rows.append([f"{vsym}.{i + 1}", f"{v[i]:.4f}", f"{math.sqrt(v[i]):.4f}",
                                 str(counts[i]), "yes" if vfix[i] else "no",
                                 str(st_.inner_levels[i])])
                lines += _table(["", "estim", "sqrt", "k.lvl", "fixed", "level"], rows)
                if st_.n_cor == 1 and st_.struct != "UN":
                    lines.append("")
                    lines += _table(["", "estim", "fixed"],
                                    [[rsym, f"{r[0]:.4f}", "yes" if rfix[0] else "no"]])
                elif st_.n_cor >= 1:
                    lines.append("")
                    C = np.eye(st_.L)
                    for (a, b), val in zip(st_.cor_pairs(), r, strict=True):
                        C[a, b] = C[b, a] = val
                    names = [str(x) for x in st_.inner_levels]
                    rows = [[names[a]] + [f"{C[a, b]:.4f}" if b <= a else ""
                                          for b in range(st_.L)] for a in range(st_.L)]
                    lines += _table([""] + [f"{rsym}.{n}" for n in names], rows)
            lines.append("")
        het = "Test for Residual Heterogeneity:" if self.p > 1 else "Test for Heterogeneity:"
        lines.append(het)
        q = "QE" if self.p > 1 else "Q"
        lines.append(f"{q}(df = {self.k - self.p}) = {self.QE:.4f}, p-val "
                     f"{_pv(self.QEp)}")
        lines.append("")
        if self.p > 1 or (not self._mm.intercept):
            bt = self.btt + 1
            which = (f"{bt[0]}:{bt[-1]}" if bt.size > 1 and np.all(np.diff(bt) == 1)
                     else ",".join(map(str, bt)))
            lines.append(f"Test of Moderators (coefficient{'s' if bt.size > 1 else ''} "
                         f"{which}):")
            if self.test == "z":
                lines.append(f"QM(df = {self.QMdf[0]}) = {self.QM:.4f}, p-val {_pv(self.QMp)}")
            else:
                lines.append(f"F(df1 = {self.QMdf[0]}, df2 = {self.QMdf[1]:g}) = "
                             f"{self.QM:.4f}, p-val {_pv(self.QMp)}")
            lines.append("")
        lines.append("Model Results:")
        lines.append("")
        stat = "zval" if self.test == "z" else "tval"
        head = ["", "estimate", "se", stat] + (["df"] if self.test == "t" else []) + \
            ["pval", "ci.lb", "ci.ub"]
        rows = []
        for j in range(self.p):
            row = [self.coef_names[j] if self.p > 1 else "", f"{self.beta[j]:.4f}",
                   f"{self.se[j]:.4f}", f"{self.zval[j]:.4f}"]
            if self.test == "t":
                row.append(f"{self.ddf[j]:g}")
            row += [fmt_p(self.pval[j]), f"{self.ci_lb[j]:.4f}", f"{self.ci_ub[j]:.4f}"]
            rows.append(row)
        lines += _table(head, rows)
        lines.append("")
        lines.append(f"logLik = {self.ll:.4f}, AIC = {self.AIC:.4f}, BIC = {self.BIC:.4f}, "
                     f"AICc = {self.AICc:.4f}")
        return "\n".join(lines)


class MVPrediction(FrameResult):
    """Predictions of a ``meta_mv`` fit: ``pred, se, ci_lb, ci_ub, pi_lb, pi_ub`` per row."""

    _dict_fields = ("level", "transf", "notes", "pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub")

    def __init__(self, frame: Any, level: float, transf: str | None, notes: list[str]) -> None:
        self.frame, self.level, self.transf, self.notes = frame, level, transf, notes

    def summary_text(self) -> str:
        text = self.frame.to_string(index=False, float_format=lambda x: f"{x:.4f}")
        return text + ("".join(f"\nNote: {n}" for n in self.notes))


class MVConfint(FrameResult):
    """Profile-likelihood CIs of the variance components (``estimate, ci_lb, ci_ub, note``)."""

    _dict_fields = ("level", "table")

    def __init__(self, frame: Any, level: float) -> None:
        self.frame, self.level = frame, level

    @property
    def table(self) -> Any:
        return self.frame.reset_index()

    def summary_text(self) -> str:
        return (f"{self.level:g}% profile-likelihood confidence intervals\n"
                + self.frame.to_string(float_format=lambda x: f"{x:.4f}"))


class MVI2(FrameResult):
    """The multilevel I^2 decomposition (``variance, I2`` per component)."""

    _dict_fields = ("typical", "table")

    def __init__(self, frame: Any, typical: float) -> None:
        self.frame, self.typical = frame, typical

    @property
    def table(self) -> Any:
        return self.frame.reset_index()

    def summary_text(self) -> str:
        return "I^2 (multilevel decomposition)\n" + self.frame.to_string(
            float_format=lambda x: f"{x:.4f}")


@dataclass(repr=False)
class MVAnova(ResultMixin):
    """Likelihood-ratio or Wald test of a ``meta_mv`` fit (metafor ``anova.rma``)."""

    kind: str
    stat: float
    df: float
    pval: float
    ll_full: float | None
    ll_reduced: float | None
    contrasts: tuple[np.ndarray, np.ndarray] | None
    df2: float | None

    _dict_fields = ("kind", "stat", "df", "pval", "ll_full", "ll_reduced", "df2", "estimates",
                    "se")

    @property
    def estimates(self) -> Any:
        return None if self.contrasts is None else self.contrasts[0]

    @property
    def se(self) -> Any:
        return None if self.contrasts is None else self.contrasts[1]

    def summary_text(self) -> str:
        if self.kind == "LRT":
            return (f"Likelihood-ratio test: full ll = {self.ll_full:.4f}, reduced ll = "
                    f"{self.ll_reduced:.4f}, LRT = {self.stat:.4f}, df = {self.df:g}, "
                    f"p-val {_pv(self.pval)}")
        if self.df2 is None:
            return f"Wald test: QM(df = {self.df:g}) = {self.stat:.4f}, p-val {_pv(self.pval)}"
        return (f"Wald test: F(df1 = {self.df:g}, df2 = {self.df2:g}) = {self.stat:.4f}, "
                f"p-val {_pv(self.pval)}")


class MVProfile(ResultMixin):
    """Profile log-likelihood of one variance component (``values``, ``ll``); ``plot()``."""

    _dict_fields = ("component", "values", "ll", "estimate", "ll_max", "method")

    def __init__(self, component: str, values: np.ndarray, ll: np.ndarray, estimate: float,
                 ll_max: float, method: str) -> None:
        self.component, self.values, self.ll = component, values, ll
        self.estimate, self.ll_max, self.method = estimate, ll_max, method

    def to_frame(self) -> Any:
        return pd.DataFrame({self.component: self.values, "ll": self.ll})

    def summary_text(self) -> str:
        return (f"Profile {'restricted ' if self.method == 'REML' else ''}log-likelihood over "
                f"{self.component} (estimate {self.estimate:.4f})\n"
                + self.to_frame().to_string(index=False, float_format=lambda x: f"{x:.4f}"))

    def plot(self) -> Any:
        """The profile as a matplotlib Figure (dashed: the estimate and the maximum)."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 4.5))
        ax = fig.add_subplot()
        ax.plot(self.values, self.ll, "o-", color="black", ms=3)
        ax.axvline(self.estimate, ls="--", color="grey")
        ax.axhline(self.ll_max, ls="--", color="grey")
        ax.set_xlabel(self.component)
        ax.set_ylabel("Restricted log-likelihood" if self.method == "REML" else "Log-likelihood")
        return fig


def _pv(p: float) -> str:
    s = fmt_p(p)
    return "< .0001" if s.startswith("<") else f"= {s}"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    cols = list(zip(head, *rows, strict=True))
    widths = [max(len(c) for c in col) for col in cols]
    out = []
    for r in [head, *rows]:
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:],
                                                                         strict=True)]
        out.append("  ".join(cells).rstrip())
    return out


from evsynth.models.multivariate import diagnostics as _diagnostics  # noqa: E402,F401  (registers)
