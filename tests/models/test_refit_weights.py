"""Refitting diagnostics of meta() fits with user weights, weighted=False or a fixed tau^2.

Fixtures: tests/reference/refit_weights_fixtures.R (metafor 3.8.1): ``leave1out``, ``cumul``
(in publication-year order), ``rstudent``, ``influence`` (every column and the dfbetas) and
``baujat`` of ``rma(yi, vi, weights = w)``, ``rma(..., weighted = FALSE)`` and ``rma(...,
tau2 = value)``: metafor's refits pass ``weights`` (the studies' subset), ``weighted`` and
``tau2 = ifelse(x$tau2.fix, x$tau2, NA)`` to ``rma.uni``, and so do evsynth's. Agreement: rtol
1e-9, atol 1e-10 (I^2 in percent: atol 1e-7); observed: relative differences <= 3e-11.
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import evsynth
from evsynth.errors import InputError
from fixture_data import REFERENCE, load_r_group

FOLDER = REFERENCE / "refit_weights"
GROUPS = ("weights", "unweighted", "tau2_fixed")
RTOL, ATOL = 1e-9, 1e-10


@cache
def _cases(group: str) -> list[dict]:
    return load_r_group(FOLDER, group, na=float("nan"))["cases"]


def _weights(spec: str | None, d: pd.DataFrame) -> np.ndarray | None:
    v = d["vi"].to_numpy()
    if spec is None:
        return None
    if spec == "zero1":
        w = 1 / np.sqrt(v)
        w[0] = 0.0
        return w
    return {"iv01": 1 / (v + 0.1), "isd": 1 / np.sqrt(v)}[spec]


def _fit(case: dict):
    a = case["args"]
    d = pd.read_csv(REFERENCE / "data" / case["dataset"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # knha with FE: metafor warns as well
        f = evsynth.meta("yi", "vi", data=d, method=a["method"], test=a["test"], mods=a["mods"],
                         weights=_weights(a["weights"], d), weighted=a["weighted"],
                         tau2=a["tau2"], slab="study", control={"tol": 1e-12})
    return f, d


def _params() -> list:
    return [pytest.param(g, c, id=c["id"]) for g in GROUPS for c in _cases(g)
            if c["status"] == "ok"]


def _close(x, y, what: str, atol: float = ATOL) -> None:
    assert_allclose(np.asarray(x, dtype=float), np.asarray(y, dtype=float), rtol=RTOL,
                    atol=atol, equal_nan=True, err_msg=what)


@pytest.mark.parametrize(("group", "case"), _params())
def test_refits_match_metafor(group, case):
    fit, d = _fit(case)
    r = case["result"]
    _close(fit.beta, r["beta"], "beta")
    _close(fit.tau2, r["tau2"], "tau2")
    inf = fit.influence()
    names = {"rstudent": "rstudent", "dffits": "dffits", "cook.d": "cook_d", "cov.r": "cov_r",
             "tau2.del": "tau2_del", "QE.del": "QE_del", "hat": "hat", "weight": "weight"}
    for rname, col in names.items():
        _close(inf.frame[col], r["influence"][rname], f"influence {col}")
    _close(inf.dfbetas.to_numpy(), np.column_stack(list(r["dfbs"].values())), "dfbetas")
    assert list(inf.is_infl) == [bool(x) for x in r["is_infl"]]
    rs = fit.rstudent()
    _close(rs.frame["resid"], r["rstudent"]["resid"], "rstudent resid")
    _close(rs.frame["se"], r["rstudent"]["se"], "rstudent se")
    _close(rs.frame["z"], r["rstudent"]["z"], "rstudent z")
    b = fit.baujat()
    _close(b.frame["x"], r["baujat"]["x"], "baujat x")
    _close(b.frame["y"], r["baujat"]["y"], "baujat y")
    if not fit.int_only:
        return
    cols = {"estimate": "estimate", "se": "se", "zval": "zval", "pval": "pval",
            "ci.lb": "ci_lb", "ci.ub": "ci_ub", "Q": "QE", "Qp": "QEp", "tau2": "tau2",
            "I2": "I2", "H2": "H2"}
    order = case["args"]["order"]
    tables = {"leave1out": fit.leave1out(),
              "cumul": fit.cumul(d[order]) if order else fit.cumul()}
    for kind, table in tables.items():
        for rname, col in cols.items():
            if rname not in r[kind]:
                continue  # FE: no tau^2 column in metafor
            _close(table.frame[col], r[kind][rname], f"{kind} {col}",
                   atol=1e-7 if col == "I2" else ATOL)


def test_fixture_covers_each_setting():
    """Each of the three settings has intercept-only and meta-regression cases under z and knha,
    and at least one refit metafor cannot do (zero weight of study 1 left out) is in."""
    ids = [c["id"] for g in GROUPS for c in _cases(g) if c["status"] == "ok"]
    assert len(ids) == 57
    for g in GROUPS:
        kinds = {(c["args"]["mods"] is None, c["args"]["test"]) for c in _cases(g)}
        assert kinds == {(True, "z"), (True, "knha"), (False, "z"), (False, "knha")}


def test_fixed_tau2_stays_fixed_in_every_refit():
    d = pd.read_csv(REFERENCE / "data" / "rma_bcg.csv")
    fit = evsynth.meta("yi", "vi", data=d, tau2=0.1)
    assert np.all(fit.leave1out().frame["tau2"] == 0.1)
    assert np.all(fit.cumul().frame["tau2"] == 0.1)
    assert np.all(fit.influence().frame["tau2_del"] == 0.1)
    # only p studies are needed with tau^2 fixed (rma.uni): the first cumulative row is fitted
    reg = evsynth.meta("yi", "vi", data=d, tau2=0.1, mods="~ ablat")
    assert np.isfinite(reg.influence().frame["cook_d"]).all()


def test_weights_are_carried_with_their_studies():
    """Leaving study i out of a weighted fit equals the weighted fit of the other studies."""
    d = pd.read_csv(REFERENCE / "data" / "rma_bcg.csv")
    w = 1 / (d["vi"].to_numpy() + 0.1)
    fit = evsynth.meta("yi", "vi", data=d, weights=w, test="knha")
    table = fit.leave1out().frame
    for i in (0, 5, 12):
        keep = np.arange(len(d)) != i
        sub = evsynth.meta(d["yi"][keep].to_numpy(), d["vi"][keep].to_numpy(), weights=w[keep],
                           test="knha")
        _close(table["estimate"][i], sub.beta[0], "estimate")
        _close(table["se"][i], sub.se[0], "se")
    order = d["year"].to_numpy()
    cu = fit.cumul(order).frame
    pos = np.argsort(order, kind="stable")[:5]
    sub = evsynth.meta(d["yi"].to_numpy()[pos], d["vi"].to_numpy()[pos], weights=w[pos],
                       test="knha")
    _close(cu["estimate"][4], sub.beta[0], "cumul estimate")


def test_other_refits_still_refuse_custom_settings():
    """Every refit carries weighted=False as metafor's does, except a selection model, which
    metafor refuses for unweighted fits: refused too, naming the setting."""
    d = pd.read_csv(REFERENCE / "data" / "rma_bcg.csv")
    fit = evsynth.meta("yi", "vi", data=d, weighted=False)
    assert {"leave1out", "cumul", "influence", "rstudent", "baujat", "gosh", "permutest",
            "trimfill", "regtest", "hc"} <= set(fit.supports())
    assert "selmodel" not in fit.supports()
    with pytest.raises(InputError, match="weighted=False"):
        fit.selmodel("beta")


def test_permutest_and_gosh_carry_weights():
    """The exact permutation test and GOSH of a weighted fit: the observed permutation / the
    full subset reproduce the fit (weights stay with the studies)."""
    d = pd.read_csv(REFERENCE / "data" / "rma_bcg.csv").iloc[:8].reset_index(drop=True)
    w = 1 / np.sqrt(d["vi"].to_numpy())
    fit = evsynth.meta("yi", "vi", data=d, weights=w, tau2=0.05)
    g = fit.gosh()
    full = g.frame[g.frame["k"] == 8]
    _close(full["estimate"], fit.beta, "gosh full subset")
    pt = fit.permutest(exact=True)
    _close(pt.beta_perm[-1] if pt.beta_perm.ndim == 1 else pt.beta_perm[:, 0].max(),
           np.max(pt.beta_perm), "permutation distribution")
    assert 0 < pt.pval[0] <= 1
