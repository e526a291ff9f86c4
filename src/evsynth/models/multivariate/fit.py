"""``meta_mv``: multilevel and multivariate meta-analysis (metafor's ``rma.mv``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from evsynth.errors import InputError, shown, study_name
from evsynth.validation import (
    as_frame,
    choice,
    column,
    control_settings,
    level_percent,
    numeric_vector,
    study_labels,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from evsynth.models.multivariate.result import MetaMVResult

#: estimators of meta_mv
MV_METHODS = ("ML", "REML")
#: control= settings of meta_mv
CONTROL_KEYS: dict[str, type] = {"maxiter": int, "tol": float, "sigma2_init": float,
                                 "tau2_init": float, "rho_init": float, "REMLf": bool}


def _as_V(V: Any, data: pd.DataFrame | None, k: int, labels: list | None) -> sp.csr_matrix:
    """The sampling (co)variances as a sparse k x k matrix (a vector of variances, a dense or
    sparse matrix, or a list of per-cluster blocks in data order)."""
    if isinstance(V, (list, tuple)) and V and all(np.ndim(b) == 2 for b in V):
        try:
            M = sp.block_diag([np.asarray(b, dtype=float) for b in V], format="csr")
        except (TypeError, ValueError) as exc:
            raise InputError(f"argument 'V': cannot use the list of blocks ({exc})") from None
    elif sp.issparse(V):
        M = sp.csr_matrix(V, dtype=float)
    else:
        raw = column("V", V, data)
        arr = np.asarray(raw)
        if arr.ndim <= 1:
            v = numeric_vector("V", raw, labels=labels)
            if v.size != k:
                raise InputError(f"argument 'V' has {v.size} variances but there are {k} "
                                 "effect sizes")
            bad = np.flatnonzero(v <= 0)
            if bad.size:
                i = int(bad[0])
                raise InputError(f"{study_name(i, labels)}: field 'V' is {shown(v[i])}; "
                                 "expected a positive sampling variance")
            return sp.diags(v, format="csr")
        try:
            M = sp.csr_matrix(np.asarray(arr, dtype=float))
        except (TypeError, ValueError):
            raise InputError("argument 'V': expected a numeric matrix") from None
    if M.shape != (k, k):
        raise InputError(f"argument 'V' is {M.shape[0]} x {M.shape[1]}; expected {k} x {k} "
                         "(one row and column per effect size)")
    if not np.all(np.isfinite(M.data)):
        raise InputError("argument 'V' has missing or infinite entries")
    if abs(M - M.T).max() > 1e-10 * max(1.0, abs(M).max()):
        raise InputError("argument 'V' is not symmetric")
    d = M.diagonal()
    bad = np.flatnonzero(d <= 0)
    if bad.size:
        i = int(bad[0])
        raise InputError(f"{study_name(i, labels)}: the sampling variance (diagonal of V) is "
                         f"{shown(d[i])}; expected a positive number")
    M.eliminate_zeros()
    return M


def meta_mv(yi: Any, V: Any, *, random: str | Sequence[str] | None = None,
            struct: str | Sequence[str] = "CS", mods: Any = None, intercept: bool = True,
            data: Any = None, method: str = "REML", test: str = "z", dfs: str = "residual",
            R: dict[str, Any] | None = None, sigma2: Any = None, tau2: Any = None,
            rho: Any = None, gamma2: Any = None, phi: Any = None, level: float = 95,
            slab: Any = None, control: dict[str, Any] | None = None,
            btt: Sequence[int] | None = None) -> MetaMVResult:
    """Fit a multilevel / multivariate meta-analysis model (metafor ``rma.mv``).

    The model is ``y = X b + sum_t Z_t u_t + e`` with ``e ~ N(0, V)`` (known sampling
    covariances) and random effects ``u_t`` given by metafor's formulas: ``"~ 1 | study"``
    (variance ``sigma^2`` per term), nested ``"~ 1 | study/es"`` (one ``sigma^2`` per level of
    nesting), several terms in a list, ``"~ inner | outer"`` with a structured covariance matrix
    over the levels of ``inner`` within each ``outer`` level (``struct``: CS, HCS, UN, ID, DIAG,
    AR, HAR, CAR; ``tau^2``/``rho`` for the first such term, ``gamma^2``/``phi`` for a second),
    and known correlation matrices for ``"~ 1 | f"`` terms through ``R={"f": matrix}`` (e.g.
    phylogenetic). Variance components are estimated by ML or REML (Viechtbauer 2010; Harville
    1977) or fixed at given values; the fixed effects by generalised least squares. The model is
    fitted block by block over independent clusters, never forming a k x k inverse.

    Parameters
    ----------
    yi : array_like or str
        Effect sizes (or a column of ``data``).
    V : array_like, scipy.sparse matrix, list of arrays or str
        Sampling variances (a vector or column name) or the k x k sampling covariance matrix
        (dense, sparse, or a list of per-cluster blocks in data order).
    random : str or list of str, optional
        Random-effects formulas (metafor's syntax), e.g. ``"~ 1 | study/es"`` or
        ``["~ 1 | study", "~ outcome | study"]``. None: no random effects.
    struct : str or pair of str, default "CS"
        Variance structure of the ``"~ inner | outer"`` term(s): ``CS``, ``HCS``, ``UN``,
        ``ID``, ``DIAG``, ``AR``, ``HAR`` or ``CAR`` (CAR: ``inner`` is a numeric time).
    mods : array_like or str, optional
        Moderators: an array (k x p, no intercept column) or a formula with ``data=``.
    intercept : bool, default True
        Add an intercept to array moderators.
    data : pandas.DataFrame, optional
        Data frame whose columns the string arguments and formulas name.
    method : {"REML", "ML"}, default "REML"
        Estimator of the variance components (case-insensitive).
    test : {"z", "t"}, default "z"
        Tests and intervals of the fixed effects.
    dfs : {"residual", "contain"}, default "residual"
        Degrees of freedom of t tests (metafor's ``dfs``; ``"contain"`` implies ``test="t"``).
    R : dict, optional
        Known correlation matrices ``{factor name: matrix}`` (a DataFrame indexed by level, or
        an array in sorted level order), scaled to correlations as metafor's ``Rscale="cor"``.
    sigma2, tau2, rho, gamma2, phi : float or sequence, optional
        Fixed values of the variance components (None/NaN entries are estimated).
    level : float, default 95
        Confidence level in percent (or a fraction).
    slab : array_like or str, optional
        Labels of the effect sizes.
    control : dict, optional
        ``maxiter``, ``tol`` (gradient tolerance on the transformed scale), ``sigma2_init``,
        ``tau2_init``, ``rho_init``, ``REMLf`` (include ``log|X'X|`` in the REML likelihood).
    btt : sequence of int, optional
        0-based coefficients of the omnibus test (default: all but the intercept).

    Returns
    -------
    MetaMVResult
        The fit (results contract): ``beta``, ``se``, ``zval``, ``pval``, ``ci_lb``, ``ci_ub``,
        variance components ``sigma2``, ``tau2``, ``rho``, ``gamma2``, ``phi``, ``QE``, ``QM``,
        ``ll``, ``AIC``, ``BIC``, ``AICc``; methods ``predict``, ``anova``, ``profile``,
        ``confint``, ``i2``, ``ranef``, ``blup``, ``fitted``, ``residuals``, ``rstandard``,
        ``hatvalues``, ``cooks_distance``, ``dfbetas``, ``marginal_var``, ``weight_matrix``.

    Raises
    ------
    InputError
        Invalid data, an unknown formula variable or structure, a model with more variance
        parameters than levels to estimate them from, or collinear moderators.

    Notes
    -----
    Parameter space. As in metafor's ``rma.mv``, the variance components range over
    variances ``>= 0`` and correlations in ``[-1, 1]`` (CAR: ``[0, 1]``); the only joint
    constraint is that the marginal covariance matrix ``V + Z G Z'`` be positive definite
    (metafor's ``.ll.rma.mv`` sets the log-likelihood to ``-Inf`` where its Cholesky
    decomposition fails). In particular a CS or HCS matrix ``G`` need not be positive
    semi-definite: for three inner levels ``rho`` may lie below ``-1/2``, and maxima with
    ``rho = -1`` and an indefinite ``G`` occur. UN (all components free) is the exception,
    optimised through the Cholesky factor of ``G`` (metafor's ``cholesky=TRUE``), so
    positive semi-definite.

    For every structured term except UN with all components free (CS, HCS, AR, HAR, CAR,
    ID, DIAG, and UN, CS or HCS with components fixed by the user, e.g. ``tau2=[nan, 0.1,
    nan]`` or ``rho=0.5``) the fit ends with a check of the Karush-Kuhn-Tucker conditions on
    the natural scale (variances ``tau^2``, ``sigma^2`` for CS, AR, CAR, ID, DIAG; standard
    deviations ``tau`` for HCS, HAR and UN with fixed components; ``rho``; Nocedal & Wright
    [5]_, thm. 12.1): a component at a bound (``tau^2 = 0``, ``rho = +/-1``, CAR ``rho = 0``
    or ``1``) must have no ascent direction into the parameter space, else it is released
    and the likelihood maximised again (bound-constrained quasi-Newton, Byrd et al. [6]_).
    The check is needed because metafor's transformed scale hides such directions: with
    ``G_ab = c tau_a tau_b`` (HCS, HAR, UN) the log-likelihood changes like ``tau_a =
    sqrt(tau_a^2)`` near ``tau_a^2 = 0``, and for any variance the derivative on the
    ``log(tau^2)`` scale, ``tau^2 dl/dtau^2``, vanishes at 0 whatever the sign of
    ``dl/dtau^2``, so a component that ran to 0 was once reported converged where the
    likelihood still rose into the interior. Where a correlation is not identified (HCS or
    HAR with fewer than two positive variances, CS, AR or CAR with ``tau^2 = 0``, a UN
    correlation of a variance at 0) the conditions must hold for every value of it; they
    are checked on a grid of its range (the first-order terms are polynomials in ``rho``). A
    standard deviation at 0 with a vanishing first derivative is also released when the
    second-order term is positive. ``method_info["converged"]`` is True only at a point
    satisfying these conditions. CS, HCS and UN with fixed components, whose ``G`` may be
    indefinite, are maximised from several starting correlations; AR, HAR, CAR, ID and DIAG
    from the fit on metafor's transformed scale (with restarts off the boundary), and from
    several starting correlations when that fit lies on or near a bound. Models with
    ``sigma^2`` components only, and UN with all components free, keep metafor's
    transformed scale.

    UN with some components fixed ranges over variances ``>= 0`` and each free correlation
    in ``[-1, 1]`` (metafor's ``control = list(cholesky = FALSE)``), so ``G`` may be
    indefinite and, as for CS/HCS below, the likelihood may have no maximum. metafor's
    default ``cholesky = TRUE`` draws the free components from a positive semi-definite
    ``G`` before putting in the fixed ones, a smaller space with fixed variances (its
    maximum can then be lower than evsynth's).

    Where the (restricted) log-likelihood increases without bound (or towards its supremum)
    as the marginal covariance matrix becomes singular - possible when ``G`` may be
    indefinite, e.g. ``rho = -1`` with variances growing until a block of ``V + G`` is
    singular - no maximum exists. metafor then either reports its optimiser's stopping point
    or stops with a convergence error; evsynth returns its last point with
    ``converged = False`` and a note naming the singular marginal covariance. Such estimates
    should not be used.

    References
    ----------
    .. [1] Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package.
           *J Stat Softw* 36(3):1-48. doi:10.18637/jss.v036.i03
    .. [2] Konstantopoulos S (2011). Fixed effects and variance components estimation in
           three-level meta-analysis. *Res Synth Methods* 2(1):61-76. doi:10.1002/jrsm.35
    .. [3] Berkey CS, Hoaglin DC, Antczak-Bouckoms A, Mosteller F, Colditz GA (1998).
           Meta-analysis of multiple outcomes by regression with random effects. *Stat Med*
           17(22):2537-2550. doi:10.1002/(SICI)1097-0258(19981130)17:22<2537::AID-SIM953>3.0.CO;2-C
    .. [4] Harville DA (1977). Maximum likelihood approaches to variance component estimation
           and to related problems. *J Am Stat Assoc* 72(358):320-338.
           doi:10.1080/01621459.1977.10480998
    .. [5] Nocedal J, Wright SJ (2006). *Numerical Optimization*, 2nd ed. Springer, New York.
           doi:10.1007/978-0-387-40065-5
    .. [6] Byrd RH, Lu P, Nocedal J, Zhu C (1995). A limited memory algorithm for bound
           constrained optimization. *SIAM J Sci Comput* 16(5):1190-1208. doi:10.1137/0916069

    Examples
    --------
    Three-level model of Konstantopoulos (2011): schools within districts.

    >>> import evsynth
    >>> yi = [-0.18, -0.22, 0.23, -0.3, 0.13, -0.26, 0.19, 0.32]
    >>> vi = [0.118, 0.118, 0.144, 0.144, 0.014, 0.014, 0.015, 0.024]
    >>> district = [1, 1, 2, 2, 3, 3, 4, 4]
    >>> school = [1, 2, 1, 2, 1, 2, 1, 2]
    >>> fit = evsynth.meta_mv(yi, vi, random="~ 1 | district/school",
    ...                       data={"district": district, "school": school})
    >>> fit.sigma2.round(4)  # metafor rma.mv: 0.0132, 0.0228
    array([0.0132, 0.0228])
    >>> round(fit.estimate, 4), round(float(fit.se[0]), 4)
    (0.0295, 0.1096)
    """
    from evsynth.models.meta import build_model_matrix
    from evsynth.models.multivariate._engine import Engine
    from evsynth.models.multivariate._params import ParamSet, StructParams, _spec
    from evsynth.models.multivariate._terms import parse_random

    method_u = choice(method, MV_METHODS, "method")
    test_u = choice(test, ("z", "t"), "test")   # metafor rma.mv: no knha/adhoc
    dfs_u = choice(dfs, ("residual", "contain"), "dfs")
    if dfs_u == "contain":
        test_u = "t"
    level_p = level_percent(level)
    con = control_settings(control, CONTROL_KEYS)
    frame = as_frame(data)
    y_raw = column("yi", yi, frame)
    k0 = int(np.size(np.asarray(y_raw)))
    labels = study_labels(slab, frame, k0)
    y = numeric_vector("yi", y_raw, labels=labels)
    k = y.size
    if k < 1:
        raise InputError("no effect sizes: yi is empty")
    Vm = _as_V(V, frame, k, labels)
    mm = build_model_matrix(mods, frame, intercept, k, labels)
    X = mm.X
    p = X.shape[1]
    if np.linalg.matrix_rank(X) < p:
        raise InputError(f"the moderators are collinear (model matrix of rank "
                         f"{np.linalg.matrix_rank(X)} < {p} columns: {', '.join(mm.names)}); "
                         "remove redundant moderators")
    if method_u == "REML" and k <= p:
        raise InputError(f"REML needs more effect sizes than coefficients (k = {k}, p = {p})")
    if isinstance(struct, str):
        struct_list: list[str] = [struct, struct]
    else:
        struct_list = list(struct)
    sig_terms, st_terms = parse_random(random, struct_list, frame, k, R)
    s2_fix = _spec(sigma2, len(sig_terms), "sigma2")
    if np.any(s2_fix < 0):
        raise InputError("argument 'sigma2': fixed values must be >= 0")
    structs = []
    fixed_notes: list[str] = []
    for j, st in enumerate(st_terms):
        vname, rname = ("tau2", "rho") if j == 0 else ("gamma2", "phi")
        vfix = _spec(tau2 if j == 0 else gamma2, st.n_var, vname)
        rfix = _spec(rho if j == 0 else phi, st.n_cor, rname)
        if np.any(vfix < 0):
            raise InputError(f"argument '{vname}': fixed values must be >= 0")
        lo = 0.0 if st.struct == "CAR" else -1.0
        if np.any((rfix < lo) | (rfix > 1)):
            raise InputError(f"argument '{rname}': fixed correlations must be in [{lo:g}, 1]")
        if st.struct == "UN" and st.L > 1:
            # metafor (.process.G.afterrmna): a correlation between inner levels that never
            # occur in one cluster does not enter the likelihood; it is fixed to 0, not estimated
            never = _never_together(st) & np.isnan(rfix)
            if never.any():
                rfix = np.where(never, 0.0, rfix)
                pairs = [f"{st.inner_levels[b]!r}-{st.inner_levels[a]!r}"
                         for (a, b), n in zip(st.cor_pairs(), never, strict=True) if n]
                shown_pairs = ", ".join(pairs[:5]) + (f" and {len(pairs) - 5} more pairs"
                                                     if len(pairs) > 5 else "")
                fixed_notes.append(
                    f"'~ {st.inner_name} | {st.outer_name}': levels {shown_pairs} never "
                    f"occur in one {st.outer_name}: their {rname} fixed to 0 (not identifiable; "
                    "as metafor)")
        structs.append(StructParams(st, vfix, rfix))
    for name, val in (("tau2", tau2), ("rho", rho)):
        if val is not None and not st_terms:
            raise InputError(f"argument '{name}' is given but random= has no '~ inner | outer' "
                             "term")
    for name, val in (("gamma2", gamma2), ("phi", phi)):
        if val is not None and len(st_terms) < 2:
            raise InputError(f"argument '{name}' is given but random= has no second "
                             "'~ inner | outer' term")
    _check_identifiable(sig_terms, st_terms, s2_fix, structs, k)
    eng = Engine(y, X, Vm, sig_terms, st_terms)
    ps = ParamSet(eng, s2_fix, structs)
    from evsynth.models.multivariate.result import MetaMVResult

    btt_arr = (np.arange(1 if mm.intercept and p > 1 else 0, p) if btt is None
               else np.atleast_1d(np.asarray(btt, dtype=int)))
    if btt_arr.size == 0 or np.any(btt_arr < 0) or np.any(btt_arr >= p):
        raise InputError(f"argument 'btt' must hold 0-based coefficient indices in 0..{p - 1}")
    settings = {"method": method_u, "test": test_u, "dfs": dfs_u, "level": level_p,
                "control": con, "btt": btt_arr, "random": random, "struct": struct_list,
                "R": R, "fixed": {"sigma2": sigma2, "tau2": tau2, "rho": rho,
                                  "gamma2": gamma2, "phi": phi},
                "_data": frame, "test_given": test, "fixed_notes": fixed_notes}
    return MetaMVResult._fit(eng, ps, mm, Vm, labels, settings)


def _never_together(st: Any) -> np.ndarray:
    """Per correlation of a UN term (metafor's order, ``cor_pairs``): whether its two inner
    levels never occur within one level of the outer factor."""
    present = np.zeros((len(st.outer_levels), st.L), dtype=np.int64)
    present[st.out, st.inn] = 1
    together = present.T @ present
    return np.array([together[a, b] == 0 for a, b in st.cor_pairs()], dtype=bool)


def _check_identifiable(sig_terms: list, st_terms: list, s2_fix: np.ndarray,
                        structs: list, k: int) -> None:
    """Clear errors for models whose variance components cannot be estimated."""
    for t, f in zip(sig_terms, s2_fix, strict=True):
        if math.isnan(f) and t.nlevels == 1 and t.R is None:
            raise InputError(f"random term '~ 1 | {t.name}': the factor has a single level, so "
                             "its variance is not identifiable (fix sigma2 or drop the term)")
    n_free = int(np.isnan(s2_fix).sum()) + sum(s.n_free for s in structs)
    if n_free > k:
        raise InputError(f"the model has {n_free} variance parameters but only {k} effect "
                         "sizes: it is not identifiable")
    for sp_ in structs:
        st = sp_.term
        if st.struct in ("HCS", "UN", "DIAG", "HAR", "CS", "AR", "CAR") and st.L == 1 and \
                np.isnan(sp_.r_fix).any():
            raise InputError(f"random term '~ {st.inner_name} | {st.outer_name}' with struct "
                             f"{st.struct!r}: the inner variable has a single level, so the "
                             "correlation is not identifiable (use struct='ID', fix rho, or "
                             "use '~ 1 | outer')")
