"""Findings of fuzz round 4 against metafor's escalc (45,600 data sets over 61 measures), with
reference values computed independently (mpmath at 40 digits)."""

from __future__ import annotations

import functools
import warnings

import mpmath as mp
import numpy as np
import pytest

import evsynth
from evsynth.errors import InputError

mp.mp.dps = 40


def f21(a: float, b: float, c: mp.mpf, x: mp.mpf) -> mp.mpf:
    """Gauss's series at 40 digits (A&S 15.1.1; c >= 200 here: a few hundred terms)."""
    total = term = mp.mpf(1)
    k = 0
    while abs(term) > mp.mpf(10) ** -45 * abs(total):
        term *= (a + k) * (b + k) / ((c + k) * (k + 1)) * x
        total += term
        k += 1
    return total


@functools.cache
def ucor_exact(r: float, n: float) -> tuple[float, float]:
    """Olkin & Pratt (1958, eq. 2.3) r 2F1(1/2, 1/2; (n-2)/2; 1 - r^2) and Hedges' (1989)
    unbiased variance u^2 - [1 - (n-3)/(n-2) (1 - r^2) 2F1(1, 1; n/2; 1 - r^2)]."""
    r, n = mp.mpf(r), mp.mpf(n)
    x = 1 - r**2
    u = r * f21(0.5, 0.5, (n - 2) / 2, x)
    v = u**2 - (1 - (n - 3) / (n - 2) * x * f21(1, 1, n / 2, x))
    return float(u), float(v)


R = [0.02, 0.1, 0.3, -0.06, 0.001, 0.25, -0.5]
N = [1e4, 3000, 1e6, 1e7, 5000, 400, 2000]


def test_ucor_of_large_studies_is_finite_and_exact():
    """2F1(1/2, 1/2; c; x) with c of a few hundred or more and x near 1: scipy gives NaN and the
    quadrature fallback failed too, so UCOR was NaN ('undefined for these data') for
    ordinary studies of n >~ 3,000 (metafor: finite)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no IntegrationWarning reaches the caller
        ls = evsynth.effect_size("UCOR", ri=R, ni=N)
        ub = evsynth.effect_size("UCOR", ri=R, ni=N, vtype="UB")
    assert (ls["note"] == "").all()
    for i, (r, n) in enumerate(zip(R, N, strict=True)):
        u, v = ucor_exact(r, n)
        assert ls["yi"][i] == pytest.approx(u, rel=1e-14, abs=1e-300)
        assert ls["vi"][i] == pytest.approx((1 - u * u) ** 2 / (n - 1), rel=1e-13)
        # Hedges' unbiased variance cancels (u^2 against 1 - ...): both R and evsynth lose
        # about n x 1e-16 relative
        assert ub["vi"][i] == pytest.approx(v, rel=1e-15 * n + 1e-12)


def test_ucor_av_variance_uses_every_study():
    """A NaN study left the n-weighted mean of vtype='AV': vi of the other study 17% low."""
    r, n = np.array([0.3, -0.06]), np.array([100, 1e7])
    av = evsynth.effect_size("UCOR", ri=r, ni=n, vtype="AV")
    u = np.array([ucor_exact(a, b)[0] for a, b in zip(r, n, strict=True)])
    ubar = np.sum(n * u) / np.sum(n)
    np.testing.assert_allclose(av["vi"], (1 - ubar**2) ** 2 / (n - 1), rtol=1e-13)


@pytest.mark.parametrize("option, value", [
    ("drop00", "no"), ("drop00", None), ("drop00", 0), ("correct", None), ("correct", "no"),
    ("correct", "FALSE"), ("correct", 1), ("ratio", "yes")])
def test_yes_no_options_must_be_true_or_false(option, value):
    """drop00='no' was read as true (the double-zero study dropped), correct=None as false
    (Cohen's d instead of Hedges' g), correct='no' as true (PHI accepted it silently)."""
    args = {"OR": dict(ai=[0, 5], bi=[10, 12], ci=[0, 4], di=[11, 9]),
            "SMD1": dict(m1i=[5.0], m2i=[3.0], sd2i=[2.0], n1i=[10], n2i=[10])}
    measure = "SMD1" if option == "correct" else "OR"
    if option == "ratio":
        measure = "OR"
    with pytest.raises(InputError, match=rf"argument '{option}' is .*expected True or False"):
        evsynth.effect_size(measure, **{option: value}, **args[measure])


def test_yes_no_options_accept_numpy_booleans():
    es = evsynth.effect_size("OR", ai=[0, 5], bi=[10, 12], ci=[0, 4], di=[11, 9],
                             drop00=np.True_)
    assert np.isnan(es["yi"][0]) and np.isfinite(es["yi"][1])


def test_values_that_are_not_one_number_per_study_are_named():
    """A nested list raised numpy's 'setting an array element with a sequence' (the only raw
    error of the hostile sweep); a complex number was blamed on row 1 with another value."""
    base = dict(ai=[1, 2], bi=[3, 4], ci=[5, 6], di=[7, 8])
    with pytest.raises(InputError, match=r"study in row 2: field 'ai' is \[1, 2\]; expected one "
                                         "number per study"):
        evsynth.effect_size("OR", **{**base, "ai": [5, [1, 2]]})
    with pytest.raises(InputError, match=r"study in row 2: field 'ai' is \(3\+0j\); expected a "
                                         "real number"):
        evsynth.effect_size("OR", **{**base, "ai": [5, 3 + 0j]})
    with pytest.raises(InputError, match=r"study in row 2: field 'yi' is \[2, 3\]"):
        evsynth.meta([1, [2, 3]], [1, 1])


def test_a_missing_d_is_named_as_given():
    """RPB from Cohen's d with a missing d noted "missing value for 'm1i'", a field the user
    never gave (d is put in as m1i internally)."""
    res = evsynth.effect_size("RPB", di=[0.5, np.nan], n1i=[10, 10], n2i=[12, 12])
    assert res["note"].tolist() == ["", "missing value for 'di'"]
    res = evsynth.effect_size("SMD", di=[0.5, np.nan], ti=[1, np.nan], n1i=[10, 10],
                              n2i=[12, 12])
    assert res["note"].tolist() == ["", "missing value for 'di' and 'ti'"]
