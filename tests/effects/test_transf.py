"""evsynth.transf against metafor 3.8-1's transf.* functions (fixtures written by
tests/reference/escalc_more_fixtures.R into tests/reference/escalc_more/transf/), their
boundaries, closed forms that do not rely on metafor, round trips, and the name lookup."""

from __future__ import annotations

import doctest
import inspect
import math
import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import evsynth
from evsynth import transf as T
from evsynth.errors import InputError
from fixture_data import load_fixture

FIX = load_fixture("escalc_more/transf/transf_functions.json")["cases"]
INTEGRAL = ("exp.int", "ilogit.int", "ztor.int")


def _nan(v):
    return np.array([np.nan if x is None else x for x in v], dtype=float)


def _call(case):
    fn = getattr(T, case["fun"].replace(".", "_"))
    x = _nan(case["x"])
    if case["targs"] is not None:
        targs = {k: (_nan(v) if isinstance(v, list) else v) for k, v in case["targs"].items()}
        return fn(x, targs=targs)
    return fn(x, **(case["args"] or {}))


@pytest.mark.parametrize("i", range(len(FIX)),
                         ids=[f"{c['fun']}-{i}" for i, c in enumerate(FIX)])
def test_against_metafor(i):
    case = FIX[i]
    got, want = _call(case), _nan(case["value"])
    inf = np.array(case["inf"], dtype=float)
    want[inf != 0] = inf[inf != 0] * np.inf
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    # R's integrate() works to a relative tolerance of 1.2e-4 (its result is usually far
    # better); evsynth integrates to 1e-11
    rtol = 1e-7 if case["fun"] in INTEGRAL else 1e-12
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-13)


def test_every_metafor_38_function_is_covered():
    metafor_38 = {"abt", "ahw", "arcsin", "dtobesd", "dtocles", "dtomd", "dtorpb", "dtou1",
                  "dtou2", "dtou3", "exp.int", "iabt", "iahw", "iarcsin", "iirft", "ilogit",
                  "ilogit.int", "ipft", "ipft.hm", "irft", "isqrt", "logit", "logortord",
                  "logortorr", "pft", "rtoz", "ztor", "ztor.int"}
    assert {c["fun"] for c in FIX} == metafor_38
    assert {f.replace(".", "_") for f in metafor_38} <= set(T.names())


# ------------------------------------------------------------------ boundaries


def test_ipft_boundaries():
    for n in (1, 5, 20, 1000):
        lo, hi = float(T.pft(0.0, n)), float(T.pft(1.0, n))
        assert T.ipft(lo, n) == 0.0 and T.ipft(hi, n) == 1.0
        assert T.ipft(lo - 1e-3, n) == 0.0 and T.ipft(hi + 1e-3, n) == 1.0
        assert T.ipft(np.nan, n)[()] != T.ipft(np.nan, n)[()]  # NaN stays NaN
    # ipft_hm uses the harmonic mean of the sample sizes (missing ones ignored)
    ni = [12, 40, np.nan, 150]
    nh = 1 / np.mean([1 / 12, 1 / 40, 1 / 150])
    x = np.array([0.2, 0.6, 1.1])
    np.testing.assert_allclose(T.ipft_hm(x, targs={"ni": ni}), T.ipft(x, nh), rtol=1e-15)


def test_ztor_of_large_values_and_rtoz_of_one():
    assert T.ztor([20.0, 400.0, -1e300]).tolist() == [1.0, 1.0, -1.0]
    assert T.rtoz([1.0, -1.0]).tolist() == [math.inf, -math.inf]
    assert np.isnan(T.rtoz(1.5))
    assert T.ilogit([-800.0, 800.0]).tolist() == [0.0, 1.0]
    assert T.logit([0.0, 1.0]).tolist() == [-math.inf, math.inf]


def test_iirft_and_alpha_boundaries():
    t = 500.0
    assert T.iirft(float(T.irft(0.0, t)), t) == 0.0
    assert T.iirft(0.0, t) == 0.0
    assert T.iahw([-1.0, 2.0]).tolist() == [0.0, 1.0]
    assert T.iabt(-3.0) == 0.0
    assert np.isnan(T.ahw(1.5))


# ------------------------------------------------------------------ closed forms (not metafor)


@pytest.mark.parametrize("mu", [-1.3, 0.0, 0.7])
@pytest.mark.parametrize("tau2", [0.01, 0.2, 0.8])
def test_exp_int_is_the_lognormal_mean(mu, tau2):
    # E[exp(Z)], Z ~ N(mu, tau2), is exp(mu + tau2/2); metafor integrates over mu +- 10 tau
    np.testing.assert_allclose(T.exp_int(mu, targs={"tau2": tau2}), math.exp(mu + tau2 / 2),
                               rtol=1e-10)


@pytest.mark.parametrize("name, x, tau2, lower, upper", [
    ("ilogit_int", 1.0, 1e-4, -5.0, 5.0),   # gave 1.4e-18 (session 13 fuzz; R alike)
    ("exp_int", 0.0, 1e-6, -5.0, 5.0),      # gave 5.9e-25
    ("ztor_int", 0.5, 1e-8, -5.0, 5.0),
    ("exp_int", 0.3, 0.5, -3.0, 2.0),       # bounds inside the default window
    ("ilogit_int", -2.0, 0.01, -40.0, 3.0),
])
def test_integral_transforms_find_a_narrow_peak_within_wide_bounds(name, x, tau2, lower, upper):
    """E[f(Z)] over [lower, upper] against 30-digit mpmath quadrature split at the peak."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 30
    f = {"ilogit_int": lambda z: 1 / (1 + mpmath.exp(-z)), "exp_int": mpmath.exp,
         "ztor_int": mpmath.tanh}[name]
    sd = mpmath.sqrt(tau2)
    pts = sorted({lower, upper} | {p for p in (x - 10 * sd, x, x + 10 * sd) if lower < p < upper})
    ref = mpmath.quad(lambda z: f(z) * mpmath.npdf(z, x, sd), pts)
    got = getattr(T, name)(x, targs={"tau2": tau2, "lower": lower, "upper": upper})
    np.testing.assert_allclose(got, float(ref), rtol=1e-10)


def test_integral_transforms_at_infinity():
    # without bounds: the limit f(+-inf); with finite bounds the density's mass lies beyond
    # them (metafor's unnormalised integral): 0
    t = {"tau2": 0.1}
    assert T.exp_int([np.inf, -np.inf], targs=t).tolist() == [np.inf, 0.0]
    assert T.ilogit_int([np.inf, -np.inf], targs=t).tolist() == [1.0, 0.0]
    assert T.ztor_int([np.inf, -np.inf], targs=t).tolist() == [1.0, -1.0]
    assert T.exp_int(np.inf, targs={"tau2": 0.1, "lower": -5, "upper": 5}).tolist() == 0.0


def test_ilogit_int_and_ztor_int_symmetry():
    # the logistic and tanh functions are odd about (0, 1/2) and (0, 0)
    np.testing.assert_allclose(T.ilogit_int(0.0, targs={"tau2": 2.0}), 0.5, atol=1e-13)
    np.testing.assert_allclose(T.ztor_int(0.0, targs={"tau2": 2.0}), 0.0, atol=1e-13)
    a = T.ilogit_int([-1.0, 1.0], targs={"tau2": 0.7})
    np.testing.assert_allclose(a[0] + a[1], 1.0, atol=1e-12)
    # tau2 = 0: the plain transformation; targs as metafor's unnamed vector (tau2, lower, upper)
    assert T.exp_int(0.3).tolist() == T.exp(0.3).tolist()
    np.testing.assert_allclose(T.exp_int(0.0, targs=[0.5, -2, 2]),
                               T.exp_int(0.0, targs={"tau2": 0.5, "lower": -2, "upper": 2}))


def test_conversions_by_definition():
    d = np.array([-1.0, 0.2, 0.8])
    np.testing.assert_allclose(T.dtocles(d), [0.5 * math.erfc(-x / 2) for x in d], rtol=1e-14)
    np.testing.assert_allclose(T.rpbtod(T.dtorpb(d)), d, rtol=1e-13)
    np.testing.assert_allclose(T.lnortod_logis(T.dtolnor_logis(d)), d, rtol=1e-15)
    np.testing.assert_allclose(T.lnortod_norm(T.dtolnor_norm(d)), d, rtol=1e-15)
    # odds ratio 2 at control risk 0.2: treated risk 1/3 (odds 0.25 * 2 = 0.5)
    np.testing.assert_allclose(T.logortord(math.log(2), pc=0.2), 1 / 3 - 0.2, rtol=1e-14)
    np.testing.assert_allclose(T.logortorr(math.log(2), pc=0.2), (1 / 3) / 0.2, rtol=1e-14)


# ------------------------------------------------------------------ round trips


@settings(max_examples=200, deadline=None)
@given(p=st.floats(1e-9, 1 - 1e-9), n=st.integers(1, 10_000))
def test_ipft_inverts_pft(p, n):
    assert abs(float(T.ipft(T.pft(p, n), n)) - p) < 1e-7


@settings(max_examples=200, deadline=None)
@given(r=st.floats(0, 1e4), t=st.floats(0.5, 1e5))
def test_iirft_inverts_irft(r, t):
    assert math.isclose(float(T.iirft(T.irft(r, t), t)), r, rel_tol=1e-6, abs_tol=1e-9)


@settings(max_examples=200, deadline=None)
@given(x=st.floats(-0.999999, 0.999999))
def test_simple_pairs_invert(x):
    assert math.isclose(float(T.ztor(T.rtoz(x))), x, rel_tol=1e-12, abs_tol=1e-15)
    p = (x + 1) / 2
    assert math.isclose(float(T.ilogit(T.logit(p))), p, rel_tol=1e-9, abs_tol=1e-15)
    assert math.isclose(float(T.iarcsin(T.arcsin(p))), p, rel_tol=1e-9, abs_tol=1e-15)
    a = abs(x)  # negative alpha is mapped to 0 by iahw / iabt (metafor)
    assert math.isclose(float(T.iahw(T.ahw(a))), a, rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(float(T.iabt(T.abt(max(x, 0.0)))), max(x, 0.0), rel_tol=1e-9,
                        abs_tol=1e-15)


# ------------------------------------------------------------------ lookup and errors


def test_resolve_names_and_spellings():
    for name in ("exp", "transf.ilogit", "ILOGIT", "transf.ipft.hm", "ipft_hm", "plogis"):
        fn, label = T.resolve(name, {"ni": [10, 20]} if "hm" in name else None)
        assert callable(fn) and label in T.names()
    fn, label = T.resolve(np.exp)
    assert label == "exp" and fn([0.0]).tolist() == [1.0]
    assert T.resolve(None) == (None, None)
    fn, _ = T.resolve("ipft", {"ni": 20})  # keyword arguments through targs
    assert float(fn(T.pft(0.3, 20))) == pytest.approx(0.3, abs=1e-12)


@pytest.mark.parametrize(("args", "msg"), [
    (("expo",), "unknown transformation transf='expo'"),
    ((3.0,), "expected a function"),
    ((None, {"tau2": 1}), "targs given without transf"),
    (("ilogit", {"tau2": 1}), "does not take 'tau2'"),
    (("exp_int", [1, 2]), "targs must be a dict"),
])
def test_resolve_errors(args, msg):
    with pytest.raises(InputError, match=re.escape(msg)):
        T.resolve(*args, what="predict")


def test_function_errors():
    with pytest.raises(InputError, match="ni"):
        T.ipft_hm(0.5)
    with pytest.raises(InputError, match="tau2"):
        T.exp_int(0.5, targs={"tau2": -1})
    with pytest.raises(InputError, match="lower"):
        T.exp_int(0.5, targs={"lower": [1, 2]})
    with pytest.raises(InputError, match="between 0 and 1"):
        T.logortorr(0.5, pc=1.2)
    with pytest.raises(InputError, match="sd"):
        T.dtomd(0.5)
    with pytest.raises(InputError, match="both n1i and n2i"):
        T.dtorpb(0.5, n1i=[10])
    with pytest.raises(InputError, match="expected numbers"):
        T.exp("a")


def test_public_module():
    assert evsynth.transf is T
    assert "transf" in evsynth.__all__


# ------------------------------------------------------------------ documentation


@pytest.mark.parametrize("name", T.__all__)
def test_numpydoc_and_doctest(name):
    fn = getattr(T, name)
    doc = inspect.getdoc(fn) or ""
    for sec in ("Parameters", "Returns", "References", "Examples"):
        if name == "names" and sec == "Parameters":  # takes no argument
            continue
        assert re.search(rf"^{sec}\n-{{3,}}", doc, flags=re.M), (name, sec)
    assert "doi:" in doc.split("References")[1]
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(fn, name, globs={}):
        runner.run(test)
    assert runner.failures == 0


def test_module_doctest():
    res = doctest.testmod(T, optionflags=doctest.ELLIPSIS)
    assert res.failed == 0


def test_resolve_names_a_missing_extra_argument():
    # ipft needs the sample size: a named error, not Python's TypeError when first applied
    with pytest.raises(InputError, match=r"predict: transf 'ipft' needs 'ni'; give it in targs"):
        T.resolve("ipft", what="predict")
    fn, _ = T.resolve("ipft", targs={"ni": 50})
    assert fn is not None and np.isfinite(fn(0.5)).all()


@pytest.mark.parametrize("tau2", ["a", [1.0, 2.0], True, object()])
def test_integral_targs_must_be_numbers(tau2):
    with pytest.raises(InputError, match=r"targs\['tau2'\] is .*; expected a single number"):
        T.exp_int(0.0, targs={"tau2": tau2})


def test_iabt_of_large_negative_values_is_quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert T.iabt([-800.0, -1.0]).tolist() == [0.0, 0.0]
