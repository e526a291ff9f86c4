"""Tests of evsynth.meta_mh / evsynth.meta_peto against metafor's rma.mh / rma.peto.

Fixtures: tests/reference/mh_fixtures.R -> tests/reference/mh/*.json and
tests/reference/data/mh_*.csv (metafor 3.8-1). The tests never need R.
"""

from __future__ import annotations

import importlib.util
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import evsynth
from evsynth.errors import InputError
from evsynth.models import mh
from fixture_data import REFERENCE, fit_mh_fixture, load_fixture

CASES = sorted(p.stem for p in (REFERENCE / "mh").glob("*.json")
               if not p.stem.startswith("diag_"))  # diag_*: test_diagnostics_mh.py
RTOL, ATOL = 1e-6, 1e-10
POOLED = ("beta", "se", "zval", "pval", "ci_lb", "ci_ub", "QE", "QEp", "I2", "H2", "k", "k_yi",
          "k_pos", "CO", "COp", "MH", "MHp", "BD", "BDp", "TA", "TAp", "weights", "tau2")
HAVE_ESCALC = importlib.util.find_spec("evsynth.effects.escalc") is not None


def _close(got, exp, what: str) -> None:
    if exp is None:
        assert got is None, f"{what}: expected NA/None, got {got!r}"
        return
    assert got is not None, f"{what}: expected {exp!r}, got None"
    np.testing.assert_allclose(np.atleast_1d(np.asarray(got, dtype=float)),
                               np.atleast_1d(np.asarray(exp, dtype=float)),
                               rtol=RTOL, atol=ATOL, err_msg=what)


def _fit_case(case: str):
    fx = load_fixture(f"mh/{case}.json")
    res = fit_mh_fixture(fx["dataset"], fx["fun"], fx["args"])
    return fx, res


def _check_all(fx, res, fields) -> None:
    r = fx["result"]
    for key in fields:
        if key in r:
            _close(getattr(res, key), r[key], f"{fx['case']}: {key}")
    if fx["fun"] == "meta_mh" and fx["args"]["measure"] != "OR":
        for key in ("BD", "TA", "CO"):
            assert getattr(res, key) is None


# ---- pooled estimator: metafor's own per-study yi/vi injected ---------------------------------


@pytest.mark.parametrize("case", CASES)
def test_pooled_matches_metafor(case, monkeypatch):
    """All pooled statistics, with the per-study yi/vi taken from metafor (isolates mh.py)."""
    fx = load_fixture(f"mh/{case}.json")

    def metafor_effects(measure, tables, add, to, drop00, labels):
        yi = np.array(np.atleast_1d(fx["result"]["yi_f"]), dtype=float)
        vi = np.array(np.atleast_1d(fx["result"]["vi_f"]), dtype=float)
        return yi, vi

    monkeypatch.setattr(mh, "_study_effects", metafor_effects)
    fx, res = _fit_case(case)
    _check_all(fx, res, POOLED)


# ---- full pipeline: per-study yi/vi from evsynth.effect_size ---------------------------------


@pytest.mark.skipif(not HAVE_ESCALC, reason="evsynth.effects.escalc not written yet")
@pytest.mark.parametrize("case", CASES)
def test_full_matches_metafor(case):
    fx, res = _fit_case(case)
    _check_all(fx, res, POOLED + ("yi", "vi"))
    pr = fx["result"]["pred"]
    p = res.predict()
    for key in ("pred", "se", "ci_lb", "ci_ub"):
        _close(getattr(p, key), pr[key], f"{case}: predict {key}")
    if "pred_exp" in fx["result"]:
        pe = fx["result"]["pred_exp"]
        p = res.predict(transf=np.exp)
        assert p.se is None
        for key in ("pred", "ci_lb", "ci_ub"):
            _close(getattr(p, key), pe[key], f"{case}: predict(exp) {key}")
        _close(res.estimate_exp, pe["pred"], "estimate_exp")
        _close(res.ci_lb_exp, pe["ci_lb"], "ci_lb_exp")
        _close(res.ci_ub_exp, pe["ci_ub"], "ci_ub_exp")
    else:
        assert res.estimate_exp is None


# ---- result object -----------------------------------------------------------------------------


@pytest.fixture
def injected(monkeypatch):
    """Fit a fixture case with metafor's per-study yi/vi (no dependency on effect_size)."""

    def fit(case):
        fx = load_fixture(f"mh/{case}.json")
        monkeypatch.setattr(
            mh, "_study_effects",
            lambda *a, **k: (np.array(np.atleast_1d(fx["result"]["yi_f"]), dtype=float),
                             np.array(np.atleast_1d(fx["result"]["vi_f"]), dtype=float)))
        return _fit_case(case)

    return fit


def test_result_fields_and_dict(injected, capsys):
    fx, res = injected("collins_OR")
    d = res.to_dict()
    json.dumps(d)  # JSON-ready
    for key in ("k", "beta", "se", "zval", "pval", "ci_lb", "ci_ub", "QE", "QEp", "I2", "H2",
                "tau2", "weights", "yi", "vi", "MH", "MHp", "BD", "BDp", "TA", "TAp",
                "estimate_exp", "ci_lb_exp", "ci_ub_exp", "method_info"):
        assert key in d
    assert d["tau2"] == 0
    info = res.method_info
    assert info["variance_estimator"].startswith("Robins-Breslow-Greenland")
    assert info["add"] == [0.5, 0.0] and info["to"] == ["only0", "none"]
    assert info["drop00"] == [True, False] and info["correct"] is True
    # the double-zero trials stay in k (weight 0) but have no yi
    assert res.k == res.k_all == 24 and res.k_yi == 22
    assert info["excluded_from_q"] == ["Stiel 1984", "Foco 1984"]
    assert info["n_dropped_from_model"] == 0
    assert math.isclose(res.weights.sum(), 100)
    assert len(res.weights) == res.k and len(res.yi) == res.k_yi == len(res.slab_yi)
    assert res.studies.shape[0] == res.k_all
    text = res.summary()
    assert "Mantel-Haenszel" in text and "Tarone" in text and "CMH" in text
    assert "no prediction interval" in text
    assert capsys.readouterr().out == ""  # summary() prints nothing until it is printed
    print(text)
    assert capsys.readouterr().out.strip() == str(text).strip()
    assert repr(res) == str(text) == repr(text)
    assert "<pre>" in text._repr_html_()


def test_method_info_rr_rd_peto(injected):
    _, rr = injected("edge_RR_drop2")
    assert rr.method_info["variance_estimator"].startswith("Greenland-Robins")
    assert rr.method_info["dropped_from_model"] == ["C"] and rr.k == 5
    assert rr.MH is None and rr.BD is None and rr.estimate_exp is not None
    _, rd = injected("edge_RD")
    assert "Sato" in rd.method_info["variance_estimator"]
    assert rd.estimate_exp is None and rd.ci_lb_exp is None
    _, pe = injected("yusuf6_PETO")
    assert pe.measure == "PETO" and pe.method_info["method"] == "Peto"
    assert "PETO" in pe.summary_text() or "Peto" in pe.summary_text()


def test_predict_level_and_transf(injected):
    fx90 = load_fixture("mh/bcg_OR_level90.json")["result"]
    _, res = injected("bcg_OR")
    p = res.predict(level=90)
    _close(p.ci_lb, fx90["ci_lb"], "ci_lb at 90%")
    _close(p.ci_ub, fx90["ci_ub"], "ci_ub at 90%")
    assert p.level == pytest.approx(90)
    pe = res.predict(transf=np.exp)
    assert pe.pred == pytest.approx(res.estimate_exp) and pe.se is None
    assert res.predict(level=0.9).ci_lb == pytest.approx(p.ci_lb)
    json.dumps(pe.to_dict())
    assert res.predict(transf="exp").pred == pytest.approx(pe.pred)  # a name of evsynth.transf
    with pytest.raises(InputError, match="transf"):
        res.predict(transf="not_a_transformation")
    with pytest.raises(InputError, match="level"):
        res.predict(level=150)


def test_input_forms_agree(injected):
    """ai/bi/ci/di versus ai/n1i/ci/n2i, lists versus data columns, a dict as data."""
    fx, res = injected("egger_OR")
    d = pd.read_csv(REFERENCE / "data" / fx["dataset"])
    r2 = evsynth.meta_mh("or", ai=d.ai.tolist(), bi=(d.n1i - d.ai).tolist(), ci=d.ci.to_numpy(),
                         di=list(d.n2i - d.ci), slab=list(d.study))
    r3 = evsynth.meta_mh("OR", "ai", None, "ci", None, "n1i", "n2i", data=d.to_dict("list"))
    for r in (r2, r3):
        assert r.beta == pytest.approx(res.beta, rel=1e-12)
        assert r.MH == pytest.approx(res.MH, rel=1e-12)
        assert r.BD == pytest.approx(res.BD, rel=1e-12)
    assert r2.slab == res.slab
    assert r3.slab == list(range(1, 17))


# ---- hypothesis properties of the pooled estimators -------------------------------------------


@st.composite
def tables(draw, min_k=1, max_k=8):
    k = draw(st.integers(min_k, max_k))
    n1 = np.array(draw(st.lists(st.integers(1, 60), min_size=k, max_size=k)), dtype=float)
    n2 = np.array(draw(st.lists(st.integers(1, 60), min_size=k, max_size=k)), dtype=float)
    fa = draw(st.lists(st.floats(0, 1), min_size=k, max_size=k))
    fc = draw(st.lists(st.floats(0, 1), min_size=k, max_size=k))
    a = np.floor(np.array(fa) * n1)
    c = np.floor(np.array(fc) * n2)
    return a, n1 - a, c, n2 - c


def _pool(kind, a, b, c, d):
    fn = {"OR": lambda *x: mh._mh_or(*x, correct=True), "RR": mh._mh_rr, "RD": mh._mh_rd,
          "PETO": mh._peto}[kind]
    try:
        out = fn(a, b, c, d)
    except InputError:
        assume(False)
    assume(math.isfinite(out["se"]) and out["se"] > 0)
    return out


KINDS = st.sampled_from(["OR", "RR", "RD", "PETO"])
PROP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROP
@given(tables(min_k=2), KINDS, st.randoms(use_true_random=False))
def test_permutation_invariance(tab, kind, rnd):
    perm = list(range(len(tab[0])))
    rnd.shuffle(perm)
    x = _pool(kind, *tab)
    y = _pool(kind, *(t[perm] for t in tab))
    for key in ("beta", "se", "MH", "BD", "TA", "QE_peto"):
        if key in x:
            assert y[key] == pytest.approx(x[key], rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(y["weights_raw"], x["weights_raw"][perm], rtol=1e-12)


@PROP
@given(tables(), KINDS)
def test_swapping_arms_negates(tab, kind):
    a, b, c, d = tab
    x = _pool(kind, a, b, c, d)
    y = _pool(kind, c, d, a, b)
    assert y["beta"] == pytest.approx(-x["beta"], rel=1e-9, abs=1e-12)
    assert y["se"] == pytest.approx(x["se"], rel=1e-9)
    if kind == "OR":  # CMH test is symmetric in the arms
        assert y["MH"] == pytest.approx(x["MH"], rel=1e-9, abs=1e-12)


@PROP
@given(tables(), st.integers(2, 5), st.sampled_from(["OR", "RR", "RD"]))
def test_scaling_counts_keeps_estimate(tab, m, kind):
    x = _pool(kind, *tab)
    y = _pool(kind, *(m * t for t in tab))
    assert y["beta"] == pytest.approx(x["beta"], rel=1e-9, abs=1e-12)
    # RBG, Greenland-Robins and Sato variances are all exactly proportional to 1/m here
    assert y["se"] == pytest.approx(x["se"] / math.sqrt(m), rel=1e-9)


@PROP
@given(tables())
def test_or_matches_explicit_ratio(tab):
    a, b, c, d = tab
    x = _pool("OR", a, b, c, d)
    n = a + b + c + d
    assert math.exp(x["beta"]) == pytest.approx(np.sum(a * d / n) / np.sum(b * c / n), rel=1e-12)
    assert x["MH"] >= 0 and x["BD"] >= 0 and x["TA"] >= 0


# ---- bad input ---------------------------------------------------------------------------------

GOOD = dict(ai=[4, 6, 3], n1i=[50, 60, 40], ci=[8, 9, 7], n2i=[52, 58, 41])


def _kw(**over):
    kw = dict(GOOD)
    kw.update(over)
    return {k: v for k, v in kw.items() if v is not None}


@pytest.mark.parametrize("over, pattern", [
    (dict(ai=[4, -1, 3]), r"row 2.*'ai'.*>= 0"),
    (dict(ai=[4, 61, 3]), r"row 2.*'ai' is 61.*'n1i' is 60"),
    (dict(ci=[8, 9, 50]), r"row 3.*'ci' is 50.*'n2i' is 41"),
    (dict(ai=[4, 6]), r"mismatched lengths.*ai has 2"),
    (dict(ai=[4, float("nan"), 3]), r"row 2.*'ai' is missing"),
    (dict(n1i=[50, float("inf"), 40]), r"row 2.*'n1i'"),
    (dict(ai=["4", "x", "3"]), r"row 2: field 'ai' is 'x'; expected a number"),
    (dict(ai=[0, 0, 0], n1i=[0, 60, 40]), r"row 1.*'n1i' \(group size\) is 0"),
    (dict(n1i=None), r"'bi' or 'n1i'"),
    (dict(ci=None), r"'ci' is required"),
    (dict(ai=[], ci=[], n1i=[], n2i=[]), r"no studies"),
])
@pytest.mark.parametrize("fun", ["mh", "peto"])
def test_bad_counts(over, pattern, fun):
    with pytest.raises(InputError, match=pattern):
        if fun == "mh":
            evsynth.meta_mh("OR", **_kw(**over))
        else:
            evsynth.meta_peto(**_kw(**over))


def test_bad_counts_with_labels():
    with pytest.raises(InputError, match=r"study 'B' \(row 2\): field 'ai'"):
        evsynth.meta_mh("RR", **_kw(ai=[4, -2, 3]), slab=["A", "B", "C"])
    with pytest.raises(InputError, match=r"'n1i' is 50 but ai \+ bi = 51"):
        evsynth.meta_mh("OR", ai=[4, 6], bi=[47, 54], ci=[8, 9], di=[44, 49], n1i=[50, 60])
    with pytest.raises(InputError, match="slab"):
        evsynth.meta_mh("OR", **_kw(), slab=["A", "B"])
    with pytest.raises(InputError, match="slab"):
        evsynth.meta_mh("OR", **_kw(), slab=["A", None, "C"])


@pytest.mark.skipif(not HAVE_ESCALC, reason="evsynth.effects.escalc not written yet")
def test_non_integer_counts_warn():
    with pytest.warns(UserWarning, match=r"row 1.*'ai' is 4.5.*whole number") as rec:
        res = evsynth.meta_mh("OR", **_kw(ai=[4.5, 6, 3]))
    assert sum("whole number" in str(w.message) for w in rec) == 1
    assert math.isfinite(res.estimate)


@pytest.mark.parametrize("measure, over, pattern", [
    ("OR", dict(ai=[0, 0, 0]), r"uninformative.*ai = 0 or di = 0"),
    ("OR", dict(ci=[0, 0, 0]), r"uninformative.*bi = 0 or ci = 0"),
    ("RR", dict(ai=[0, 0, 0]), r"uninformative: field 'ai' is 0 in every study"),
    ("RR", dict(ci=[0, 0, 0]), r"uninformative: field 'ci' is 0 in every study"),
    ("RD", dict(ai=[0, 0, 0], ci=[0, 0, 0]), r"standard error"),
    ("RR", dict(ai=[50, 60, 40], ci=[52, 58, 41]), r"standard error"),
])
def test_all_uninformative(measure, over, pattern):
    with pytest.raises(InputError, match=pattern):
        evsynth.meta_mh(measure, **_kw(**over))


def test_peto_uninformative_and_k0():
    with pytest.raises(InputError, match="Peto's method cannot be used"):
        evsynth.meta_peto(**_kw(ai=[0, 0, 0], ci=[0, 0, 0]))
    with pytest.raises(InputError, match=r"k = 0"):
        evsynth.meta_mh("OR", **_kw(ai=[0, 0, 0], ci=[0, 0, 0]), drop00=[True, True])


@pytest.mark.parametrize("kw, pattern", [
    (dict(measure="SMD"), "measure"),
    (dict(measure="OR", add=-1), "add"),
    (dict(measure="OR", add=[0.5, 0.5, 0.5]), "add"),
    (dict(measure="OR", to="sometimes"), "'to'"),
    (dict(measure="OR", drop00="yes"), "drop00"),
    (dict(measure="OR", level=0), "level"),
    (dict(measure="OR", level=100), "level"),
    (dict(measure="OR", level="high"), "level"),
    (dict(measure="OR", correct="yes"), "correct"),
])
def test_bad_options(kw, pattern):
    with pytest.raises(InputError, match=pattern):
        evsynth.meta_mh(**kw, **GOOD)


def test_bad_data_columns_and_person_time():
    d = pd.DataFrame(GOOD)
    with pytest.raises(InputError, match="column 'events' is not in data"):
        evsynth.meta_mh("OR", ai="events", n1i="n1i", ci="ci", n2i="n2i", data=d)
    with pytest.raises(InputError, match="no data= DataFrame"):
        evsynth.meta_mh("OR", ai="ai", n1i="n1i", ci="ci", n2i="n2i")
    with pytest.raises(InputError, match="person-time measures take x1i"):
        evsynth.meta_mh("IRR", **GOOD)
    with pytest.raises(InputError, match="2x2-table measures take"):
        evsynth.meta_mh("OR", **GOOD, x1i=[1, 2, 3])
    pt = dict(x1i=[3, 4], x2i=[5, 6], t1i=[100.0, 0.0], t2i=[90.0, 80.0])
    with pytest.raises(InputError, match=r"row 2.*'t1i' is 0.*positive person-time"):
        evsynth.meta_mh("IRR", **pt)
    with pytest.raises(InputError, match=r"'x2i' is required"):
        evsynth.meta_mh("IRD", x1i=[1], t1i=[1], t2i=[2])
    with pytest.raises(InputError, match=r"uninformative.*'x1i'"):
        evsynth.meta_mh("IRR", x1i=[0, 0], x2i=[5, 6], t1i=[100, 50], t2i=[90, 80])


@pytest.mark.skipif(not HAVE_ESCALC, reason="evsynth.effects.escalc not written yet")
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(min_k=2), st.sampled_from(["OR", "RR", "RD", "PETO"]),
       st.randoms(use_true_random=False))
def test_public_api_permutation_and_arm_swap(tab, kind, rnd):
    """Whole result (incl. Q from effect_size) is permutation invariant; swapping arms negates."""
    a, b, c, d = tab

    def fit(a, b, c, d):
        try:
            if kind == "PETO":
                return evsynth.meta_peto(ai=a, bi=b, ci=c, di=d)
            return evsynth.meta_mh(kind, ai=a, bi=b, ci=c, di=d)
        except InputError:
            assume(False)

    perm = list(range(len(a)))
    rnd.shuffle(perm)
    x = fit(a, b, c, d)
    y = fit(a[perm], b[perm], c[perm], d[perm])
    z = fit(c, d, a, b)
    for key in ("beta", "se", "QE", "I2", "pval"):
        assert getattr(y, key) == pytest.approx(getattr(x, key), rel=1e-9, abs=1e-12)
    assert z.beta == pytest.approx(-x.beta, rel=1e-9, abs=1e-12)
    assert z.QE == pytest.approx(x.QE, rel=1e-9, abs=1e-9)
    assert sorted(y.yi) == pytest.approx(sorted(x.yi), rel=1e-12, abs=1e-12)
    assert x.k == len(a) and 0 <= x.I2 < 100 and 0 <= x.QEp <= 1
