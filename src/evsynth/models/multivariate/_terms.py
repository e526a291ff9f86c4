"""Random-effects terms of :func:`evsynth.meta_mv`: metafor's formula conventions.

``"~ 1 | study"`` is one random intercept per level of ``study`` (a ``sigma^2`` component);
``"~ 1 | study/es"`` expands to ``~ 1 | study`` and ``~ 1 | study:es`` (two ``sigma^2``);
``"~ inner | outer"`` is a term with a structured covariance matrix ``G`` over the levels of
``inner`` within each level of ``outer`` (``tau^2``/``rho`` for the first such term,
``gamma^2``/``phi`` for the second), as in metafor's ``rma.mv`` (Viechtbauer 2010, J Stat Softw
36(3), doi:10.18637/jss.v036.i03; metafor documentation of ``rma.mv``, argument ``random``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evsynth.errors import InputError

#: the variance structures of "~ inner | outer" terms
STRUCTS = ("CS", "HCS", "UN", "ID", "DIAG", "AR", "HAR", "CAR")

_NAME = r"[A-Za-z_.][A-Za-z0-9_.]*"


@dataclass
class SigmaTerm:
    """A random intercept over the levels of one (possibly nested) factor: covariance
    ``sigma2 * R[level_i, level_j]`` (``R`` the identity unless a known correlation matrix is
    given through ``R=``)."""

    name: str                      # "study" or "study/es"
    lev: np.ndarray                # level index per observation
    levels: list[Any]              # level labels (sorted as R's factor())
    R: np.ndarray | None = None    # correlation matrix over ``levels`` (None: identity)
    # original (un-nested) variables, for the "contain" degrees of freedom
    groups: np.ndarray = field(default_factory=lambda: np.empty(0))

    @property
    def nlevels(self) -> int:
        return len(self.levels)


@dataclass
class StructTerm:
    """An ``~ inner | outer`` term: covariance ``G[inner_i, inner_j]`` when ``outer_i ==
    outer_j`` (metafor's ``struct``)."""

    inner_name: str
    outer_name: str
    struct: str
    inn: np.ndarray                # inner level index per observation
    out: np.ndarray                # outer level index per observation
    inner_levels: list[Any]
    outer_levels: list[Any]
    values: np.ndarray | None = None   # CAR: the time values of the inner levels
    which: str = "G"               # "G" (tau2/rho) or "H" (gamma2/phi)

    @property
    def L(self) -> int:
        return len(self.inner_levels)

    @property
    def n_var(self) -> int:
        return self.L if self.struct in ("HCS", "UN", "DIAG", "HAR") else 1

    @property
    def n_cor(self) -> int:
        if self.struct in ("ID", "DIAG"):
            return 0
        if self.struct == "UN":
            return self.L * (self.L - 1) // 2
        return 1

    def G(self, v: np.ndarray, r: np.ndarray) -> np.ndarray:
        """The covariance matrix over the inner levels (metafor ``.con.E``); works on complex
        arrays (complex-step derivatives)."""
        L, s = self.L, self.struct
        dtype = np.result_type(v, r, float)
        vv = np.broadcast_to(v, (L,)).astype(dtype) if s not in ("HCS", "UN", "DIAG", "HAR") \
            else np.asarray(v, dtype=dtype)
        sd = np.sqrt(vv)
        if s in ("ID", "DIAG"):
            return np.diag(vv)
        if s in ("CS", "HCS"):
            C = np.full((L, L), r[0], dtype=dtype)
        elif s == "UN":
            C = np.zeros((L, L), dtype=dtype)
            il = np.tril_indices(L, -1)
            # metafor's order: G[lower.tri(G)], column by column
            order = np.lexsort((il[0], il[1]))
            rows, cols = il[0][order], il[1][order]
            C[rows, cols] = r
            C[cols, rows] = r
        elif s in ("AR", "HAR"):
            lag = np.abs(np.subtract.outer(np.arange(L), np.arange(L)))
            C = r[0] ** lag
        else:  # CAR
            assert self.values is not None
            lag = np.abs(np.subtract.outer(self.values, self.values))
            C = r[0] ** lag
        out = sd[:, None] * C * sd[None, :]
        out[np.diag_indices(L)] = vv
        return out

    def cor_pairs(self) -> list[tuple[int, int]]:
        """(row, column) of each UN correlation in metafor's order."""
        il = np.tril_indices(self.L, -1)
        order = np.lexsort((il[0], il[1]))
        return list(zip(il[0][order].tolist(), il[1][order].tolist(), strict=True))


def _factor(values: Any, name: str) -> tuple[np.ndarray, list[Any]]:
    """Level index and sorted level labels of a grouping variable (R's ``factor()`` order)."""
    import pandas as pd

    ser = pd.Series(np.asarray(values, dtype=object) if not hasattr(values, "dtype")
                    else values).reset_index(drop=True)
    miss = ser.isna().to_numpy()
    if miss.any():
        i = int(np.flatnonzero(miss)[0])
        raise InputError(f"study in row {i + 1}: random-effects variable '{name}' is missing; "
                         "expected a value for every effect size")
    try:
        codes, uniques = pd.factorize(ser, sort=True)
    except TypeError:
        codes, uniques = pd.factorize(ser.astype(str), sort=True)
    return np.asarray(codes, dtype=np.intp), list(uniques)


def _lookup(name: str, data: Any, k: int) -> Any:
    if data is None:
        raise InputError(f"argument 'random': variable {name!r} needs data= (a DataFrame with "
                         f"a column {name!r})")
    if name not in data.columns:
        raise InputError(f"argument 'random': column {name!r} is not in data (columns: "
                         f"{', '.join(map(str, data.columns))})")
    col = data[name]
    if len(col) != k:
        raise InputError(f"argument 'random': column {name!r} has {len(col)} values but there "
                         f"are {k} effect sizes")
    return col.reset_index(drop=True)


def parse_random(random: Any, struct: Any, data: Any, k: int,
                 R: Any = None) -> tuple[list[SigmaTerm], list[StructTerm]]:
    """Parse metafor-style random-effects formulas into term objects."""
    import pandas as pd

    if random is None:
        return [], []
    forms = [random] if isinstance(random, str) else list(random)
    if not forms or not all(isinstance(f, str) for f in forms):
        raise InputError(f"argument 'random' is {random!r}; expected a formula such as "
                         "'~ 1 | study' or a list of them")
    structs: list[str]
    if struct is None:
        structs = ["CS", "CS"]
    elif isinstance(struct, str):
        structs = [struct, struct]
    else:
        structs = list(struct) + ["CS"] * (2 - len(list(struct)))
    structs = [_struct_code(s) for s in structs[:2]]
    Rd = _R_dict(R)
    sigma_terms: list[SigmaTerm] = []
    struct_terms: list[StructTerm] = []
    for form in forms:
        m = re.fullmatch(r"\s*~\s*(.+?)\s*\|\s*(.+?)\s*", form)
        if not m:
            raise InputError(f"argument 'random': {form!r} is not a random-effects formula; "
                             "expected '~ 1 | study', '~ 1 | study/es' or '~ inner | outer'")
        inner, outer = m.group(1), m.group(2)
        wrapped = re.fullmatch(rf"(?:factor|as\.factor|C)\(\s*({_NAME})\s*\)", inner)
        if wrapped:  # metafor users write factor(x); levels are factors here anyway
            inner = wrapped.group(1)
        if inner == "1":
            parts = [p.strip() for p in outer.split("/")]
            if not all(re.fullmatch(_NAME, p) for p in parts):
                raise InputError(f"argument 'random': {form!r}: expected variable names "
                                 "separated by '/' after '|'")
            cols = [_lookup(p, data, k) for p in parts]
            for depth in range(1, len(parts) + 1):
                name = "/".join(parts[:depth])
                if depth == 1:
                    key = cols[0]
                    lev, levels = _factor(key, name)
                else:  # levels of the nesting: unique combinations (vectorised)
                    coded = [_factor(c, p) for c, p in zip(cols[:depth], parts, strict=True)]
                    mat = np.column_stack([c for c, _ in coded])
                    uniq, inv = np.unique(mat, axis=0, return_inverse=True)
                    lev = np.asarray(inv, dtype=np.intp).ravel()
                    levels = ["/".join(str(coded[j][1][u]) for j, u in enumerate(row))
                              for row in uniq]
                    key = pd.Series(np.asarray(levels, dtype=object)[lev])
                Rm = None
                if name in Rd:
                    lev, levels, Rm = _with_R(name, key, Rd.pop(name))
                sigma_terms.append(SigmaTerm(name, lev, levels, Rm))
            continue
        if not re.fullmatch(_NAME, inner) or not re.fullmatch(_NAME, outer):
            raise InputError(f"argument 'random': {form!r}: expected '~ inner | outer' with "
                             "one variable on each side")
        if len(struct_terms) == 2:
            raise InputError("argument 'random': at most two '~ inner | outer' terms are "
                             "supported (as in metafor)")
        s = structs[len(struct_terms)]
        icol, ocol = _lookup(inner, data, k), _lookup(outer, data, k)
        values = None
        if s == "CAR":
            try:
                tv = np.asarray(icol, dtype=float)
            except (TypeError, ValueError):
                raise InputError(f"argument 'random': struct 'CAR' needs a numeric time "
                                 f"variable as inner variable; {inner!r} is not numeric") from None
            inn, ilev = _factor(pd.Series(tv), inner)
            values = np.asarray(ilev, dtype=float)
        else:
            inn, ilev = _factor(icol, inner)
        out, olev = _factor(ocol, outer)
        struct_terms.append(StructTerm(inner, outer, s, inn, out, ilev, olev, values,
                                       "G" if not struct_terms else "H"))
    if Rd:
        raise InputError(f"argument 'R': {', '.join(map(repr, Rd))} is not a '~ 1 | factor' "
                         "variable of random=")
    return sigma_terms, struct_terms


def _struct_code(s: Any) -> str:
    if isinstance(s, str) and s.upper() in STRUCTS:
        return s.upper()
    raise InputError(f"argument 'struct' is {s!r}; expected one of {', '.join(STRUCTS)} "
                     "(case-insensitive)")


def _R_dict(R: Any) -> dict[str, Any]:
    if R is None:
        return {}
    if not isinstance(R, dict) or not all(isinstance(key, str) for key in R):
        raise InputError("argument 'R' must be a dict {factor name: correlation matrix}")
    return dict(R)


def _with_R(name: str, key: Any, Rm: Any) -> tuple[np.ndarray, list[Any], np.ndarray]:
    """Levels and the known correlation matrix restricted to the levels present (metafor's
    Rscale = "cor": the matrix is scaled to a correlation matrix, cov2cor)."""
    import pandas as pd

    if isinstance(Rm, pd.DataFrame):
        labels = [str(x) for x in Rm.index]
        mat = Rm.to_numpy(dtype=float)
    else:
        mat = np.asarray(Rm, dtype=float)
        labels = None
    if mat.ndim != 2 or mat.shape[0] != mat.shape[1]:
        raise InputError(f"argument 'R': the matrix for {name!r} has shape {mat.shape}; "
                         "expected a square matrix")
    if not np.all(np.isfinite(mat)) or not np.allclose(mat, mat.T):
        raise InputError(f"argument 'R': the matrix for {name!r} must be finite and symmetric")
    keys = pd.Series(key).astype(str)
    if labels is None:
        lev, levels = _factor(keys, name)
        if mat.shape[0] != len(levels):
            raise InputError(f"argument 'R': the matrix for {name!r} is {mat.shape[0]} x "
                             f"{mat.shape[0]} but {name!r} has {len(levels)} levels; give a "
                             "DataFrame with the levels as index and columns")
        sub = mat
    else:
        pos = {lab: i for i, lab in enumerate(labels)}
        missing = sorted(set(keys) - set(pos))
        if missing:
            raise InputError(f"argument 'R': level(s) {', '.join(map(repr, missing[:5]))} of "
                             f"{name!r} are not in the rows of its matrix")
        lev, levels = _factor(keys, name)
        idx = np.array([pos[str(lv)] for lv in levels])
        sub = mat[np.ix_(idx, idx)]
        mat = mat[np.ix_(idx, idx)]
    d = np.sqrt(np.diag(sub))
    if np.any(d <= 0):
        raise InputError(f"argument 'R': the matrix for {name!r} has a non-positive diagonal")
    return lev, levels, sub / np.outer(d, d)
