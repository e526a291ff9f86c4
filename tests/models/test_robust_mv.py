"""evsynth.robust on evsynth.meta_mv fits (rma.mv) against metafor robust() and clubSandwich
(tests/reference/robust_fixtures.R): the three-level model of Konstantopoulos (2011) and the
multilevel model of Assink & Wibbelink (2016) with a vcalc() sampling covariance matrix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evsynth

REF = Path(__file__).resolve().parents[1] / "reference"
ROBUST = {c["name"]: c for c in json.loads((REF / "robust" / "robust.json").read_text())["cases"]}
VCALC = {c["name"]: c for c in json.loads((REF / "robust" / "vcalc.json").read_text())["cases"]}
# metafor's REML (rel.tol 1e-12) and meta_mv's agree to ~1e-9 in sigma^2; the robust results
# inherit that
RTOL = 1e-6


def konst_fit(mods: bool):
    data = pd.read_csv(REF / "mv" / "data_konst.csv")
    data["year90"] = data["year"] - 1990
    fit = evsynth.meta_mv("yi", "vi", random="~ 1 | district/school", data=data,
                          mods="~ year90" if mods else None)
    return fit, data["district"].to_numpy()


def assink_fit():
    a = ROBUST["assink_mv_vcalc_deltype"]
    d = VCALC["assink_obs_rho0.6"]["data"]
    X = np.asarray(a["X"], float)
    data = pd.DataFrame({"yi": a["yi"], "vi": d["vi"], "study": d["cluster"], "esid": d["obs"],
                         "d2": X[:, 1], "d3": X[:, 2]})
    V = evsynth.vcalc("vi", "study", obs="esid", rho=0.6, data=data, sparse=True)
    fit = evsynth.meta_mv("yi", V, random="~ 1 | study/esid", mods="~ d2 + d3", data=data)
    return fit, data["study"].to_numpy()


FITS = {"konst_mv_int": lambda: konst_fit(False), "konst_mv_year": lambda: konst_fit(True),
        "assink_mv_vcalc_deltype": assink_fit}
CASES = [(name, r) for name in FITS for r in ROBUST[name]["robust"]]


@pytest.mark.parametrize("name,ref", CASES, ids=[f"{n}-{r['vbest']}" for n, r in CASES])
def test_robust_meta_mv_matches_metafor(name, ref):
    fit, cluster = FITS[name]()
    np.testing.assert_allclose(fit.sigma2, ROBUST[name]["sigma2"], rtol=1e-6)
    res = fit.robust(cluster, adjust=ref["adjust"], clubsandwich=ref["clubSandwich"])
    p = len(res.beta)
    assert res.vcov_type == ref["vbest"]
    np.testing.assert_allclose(res.se, np.atleast_1d(ref["se"]), rtol=RTOL)
    np.testing.assert_allclose(res.df, np.broadcast_to(np.atleast_1d(ref["df"]), (p,)),
                               rtol=RTOL)
    np.testing.assert_allclose(res.pval, np.atleast_1d(ref["pval"]), rtol=1e-5)
    np.testing.assert_allclose(res.ci_lb, np.atleast_1d(ref["ci_lb"]), rtol=RTOL, atol=1e-9)
    np.testing.assert_allclose(res.QM, ref["QM"], rtol=RTOL)
    np.testing.assert_allclose(res.QMdf, np.atleast_1d(ref["QMdf"]), rtol=RTOL)
    np.testing.assert_allclose(res.QMp, ref["QMp"], rtol=1e-5)
    assert "meta_mv" in res.method_info["model"] or "rma.mv" in res.method_info["model"]
    pr = ref.get("predict")
    if pr and "error" not in pr:  # metafor predict() of the robust object
        out = res.predict(pr["newmods"]) if pr.get("newmods") is not None else res.predict()
        for key in ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
            np.testing.assert_allclose(np.atleast_1d(getattr(out, key)),
                                       np.atleast_1d(pr[key]), rtol=RTOL, atol=1e-9)


def test_cr2_refuses_clusters_that_do_not_nest_the_random_effects():
    fit, _ = konst_fit(False)
    data = pd.read_csv(REF / "mv" / "data_konst.csv")
    with pytest.raises(evsynth.InputError, match="not nested within 'cluster'"):
        fit.robust(data["school"].to_numpy(), clubsandwich=True)


def test_cr2_unbiased_under_the_meta_mv_working_model():
    """E[V_CR2] = (X'M^-1 X)^-1 exactly for the fitted multilevel model (Bell & McCaffrey
    2002): the expectation from the CR2 parts equals the model-based fit.vb. (Not for the
    assink2016 model: study 16 has a direction of full leverage, I - H_jj is singular there and
    its zero eigenvalue is dropped, as in clubSandwich, whose results the fixtures match.)"""
    from evsynth.models.robust import _expected

    fit, cluster = konst_fit(True)
    res = fit.robust(cluster, clubsandwich=True)
    np.testing.assert_allclose(_expected(res._parts.D, res._parts.terms), fit.vb, rtol=1e-8)


def test_cluster_column_is_looked_up_in_the_fits_data():
    """robust(fit, cluster="district") finds the column in the meta_mv fit's data= frame, as
    metafor's robust() evaluates cluster in the model's data; same result as the values."""
    fit, district = konst_fit(mods=True)
    by_name = evsynth.robust(fit, cluster="district", clubsandwich=True)
    by_values = evsynth.robust(fit, cluster=district, clubsandwich=True)
    np.testing.assert_array_equal(by_name.se, by_values.se)
    assert fit.data is not None and "district" in fit.data
    fit.data.loc[0, "district"] = -1  # a copy: the fit's data cannot be changed from outside
    assert fit.data.loc[0, "district"] != -1
