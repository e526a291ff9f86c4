"""``fit.profile()``: the (restricted) log-likelihood profiled over tau^2, against metafor 3.8.1
``profile.rma.uni`` (fixtures: tests/reference/uni_extra_fixtures.R, profile.json: the grid, the
log-likelihood and the coefficients with their CIs at each value; default range from the
Q-profile CI, user range, ML, REML, DL (ML likelihood), user weights); ``fit.profile(coef=)``,
the ML log-likelihood profiled over a coefficient (an evsynth extension; metafor profiles
variance components only), against plain R algebra with optimize() (profile_coef.json)."""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from numpy.testing import assert_allclose

import evsynth
from evsynth.errors import InputError
from evsynth.models.profile import ProfileResult, profile_tau2

REF = Path(__file__).resolve().parents[1] / "reference"
UNI = REF / "uni_extra"
DATA = REF / "data"


@cache
def _group(name: str) -> dict:
    with open(UNI / f"{name}.json", encoding="utf-8") as fh:
        return json.load(fh)


def _col(values, n: int, j: int) -> np.ndarray:
    """Column j of a fixture matrix (jsonlite writes one-column rows as scalars)."""
    return np.asarray(values, dtype=float).reshape(n, -1)[:, j]


def _fit(case: dict):
    d = pd.read_csv(DATA / case["dataset"])
    a = case["args"]
    kw = {"mods": a["mods"], "data": d} if a.get("mods") else {}
    if a.get("weights") == "iv01":
        kw["weights"] = 1 / (d["vi"].to_numpy() + 0.1)
    return evsynth.meta(d["yi"].to_numpy(), d["vi"].to_numpy(), method=a["method"],
                        control={"tol": 1e-12}, **kw)


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"])
                                  for c in _group("profile")["cases"]])
def test_profile_matches_metafor(case):
    fit = _fit(case)
    a = case["args"]
    r = case["result"]
    if a["xlim"] is None:
        # the default range is the Q-profile CI: metafor's profile() computes it with confint's
        # default uniroot tolerance (eps^0.25 = 1.2e-4), evsynth exactly; the grid is then
        # compared on metafor's range
        default = fit.profile(steps=a["steps"]).method_info["xlim"]
        assert_allclose(default, r["xlim"], rtol=0, atol=2e-4)
    prof = fit.profile(xlim=r["xlim"], steps=a["steps"])
    f = prof.to_frame()
    assert_allclose(prof.method_info["xlim"], r["xlim"], rtol=1e-12)
    assert_allclose(f["tau2"], r["tau2"], rtol=1e-6, atol=1e-10)
    assert_allclose(f["ll"], r["ll"], rtol=1e-8, atol=1e-8)
    for j, name in enumerate(fit.coef_names):
        assert_allclose(f[f"beta.{name}"], _col(r["beta"], len(f), j), rtol=1e-7, atol=1e-10)
        assert_allclose(f[f"ci_lb.{name}"], _col(r["ci_lb"], len(f), j), rtol=1e-7, atol=1e-10)
        assert_allclose(f[f"ci_ub.{name}"], _col(r["ci_ub"], len(f), j), rtol=1e-7, atol=1e-10)
    assert_allclose(prof.tau2_hat, r["vc"], rtol=1e-6, atol=1e-10)
    assert_allclose(prof.ll_max, r["maxll"], rtol=1e-8)


def test_profile_maximum_at_the_reml_estimate():
    d = pd.read_csv(DATA / "rma_bcg.csv")
    fit = evsynth.meta(d["yi"], d["vi"])
    prof = fit.profile(xlim=(fit.tau2 * 0.5, fit.tau2 * 1.5), steps=41)
    f = prof.to_frame()
    assert f["ll"].max() <= prof.ll_max + 1e-12
    assert abs(f.loc[f["ll"].idxmax(), "tau2"] - fit.tau2) <= fit.tau2 / 40 + 1e-12
    assert prof.method_info["likelihood"] == "REML" and not prof.method_info["notes"]


def test_plot_and_contract():
    d = pd.read_csv(DATA / "rma_bcg.csv")
    prof = profile_tau2(evsynth.meta(d["yi"], d["vi"], method="ML"), steps=6)
    assert isinstance(prof, ProfileResult)
    fig = prof.plot(cline=True)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.lines) == 4  # profile, two reference lines, CI line
    assert "ML" in ax.get_ylabel()
    json.dumps(prof.to_dict(), allow_nan=False)
    assert "Profile of the ML log-likelihood" in str(prof.summary())
    assert len(prof) == 6


@pytest.mark.parametrize("kw, match", [({"steps": 1}, "steps"), ({"steps": 2.5}, "steps"),
                                       ({"xlim": (-1, 1)}, "xlim"), ({"xlim": (0, "a")}, "xlim"),
                                       ({"xlim": (0, 1, 2)}, "xlim"),
                                       ({"xlim": (0, math.inf)}, "xlim")])
def test_bad_arguments(kw, match):
    fit = evsynth.meta([0.1, 0.5, 0.3, 0.2], [0.01, 0.02, 0.03, 0.02])
    with pytest.raises(InputError, match=match):
        fit.profile(**kw)


def test_equal_effects_refused():
    with pytest.raises(InputError, match="equal-effects"):
        evsynth.meta([0.1, 0.5, 0.3], [0.01, 0.02, 0.03], method="FE").profile()


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"])
                                  for c in _group("profile_coef")["cases"]])
def test_coefficient_profile_matches_r_algebra(case):
    d = pd.read_csv(DATA / case["dataset"])
    a = case["args"]
    kw = {"mods": a["mods"]} if a["mods"] else {}
    fit = evsynth.meta("yi", "vi", data=d, method=a["method"], control={"tol": 1e-12}, **kw)
    r = case["result"]
    default = fit.profile(coef=a["coef"], steps=a["steps"])
    assert_allclose(default.method_info["xlim"], r["xlim"], rtol=1e-7)
    f = default.to_frame()
    assert list(f.columns) == [a["coef"], "ll", "tau2"]
    assert_allclose(f[a["coef"]], r["grid"], rtol=1e-7, atol=1e-12)
    assert_allclose(f["ll"], r["ll"], rtol=1e-9, atol=1e-9)
    assert_allclose(f["tau2"], r["tau2"], rtol=1e-5, atol=1e-8)  # optimize() tol
    assert_allclose(default.estimate, r["beta"], rtol=1e-7)
    assert_allclose(default.ll_max, r["ll_ML"], rtol=1e-9)
    assert f["ll"].max() <= default.ll_max + 1e-9
    assert isinstance(default.plot(), Figure)
    with pytest.raises(InputError, match="use estimate"):
        _ = default.tau2_hat


def test_coefficient_profile_refusals():
    d = pd.read_csv(DATA / "rma_bcg.csv")
    reml = evsynth.meta("yi", "vi", data=d, mods="~ ablat")
    with pytest.raises(InputError, match="REML likelihood does not contain"):
        reml.profile(coef="ablat")
    ml = evsynth.meta("yi", "vi", data=d, mods="~ ablat", method="ML")
    for bad in ("year", 2, -1, True):
        with pytest.raises(InputError, match="coef"):
            ml.profile(coef=bad)
    with pytest.raises(InputError, match="xlim"):
        ml.profile(coef="ablat", xlim=(0, math.nan))
    w = evsynth.meta("yi", "vi", data=d, method="ML", weights=1 / d["vi"])
    with pytest.raises(InputError, match="inverse-variance"):
        w.profile(coef=0)
