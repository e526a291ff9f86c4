"""The float fast path of single fits (issue 17) gives bitwise the results of the array code.

:func:`evsynth.models.engine._fit_core_one` computes the statistics of one intercept-only fit
(coefficient tests, Q, I^2, H^2, likelihoods, information criteria) in Python floats; with the
fast paths switched off (``kernels._SINGLE_FAST``) the array code runs. Every field of
``to_dict()`` and every array of the engine's fit must be identical bit for bit.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import evsynth
from evsynth.models import engine, kernels

METHODS = ["EE", "DL", "DLIT", "HE", "HS", "HSk", "SJ", "SJIT", "ML", "REML", "EB", "PM",
           "PMM"]


def _cases(seed: int, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = [(np.array([0.3, 0.3, 0.3]), np.array([0.1, 0.2, 0.3])),
           (np.zeros(4), np.ones(4)), (np.array([0.0, 0.0]), np.array([1.0, 1.0])),
           (np.array([-50.0, 50.0, 0.0, 1.0]), np.array([1e-4, 1e-4, 1.0, 2.0])),
           (np.array([1e-9, 2e-9, -1e-9]), np.array([1e-18, 2e-18, 3e-18])),
           (np.array([1e13, 1e13 + 1, 1e13 - 2]), np.array([1.0, 2.0, 0.5]))]
    for i in range(n):
        k = int(rng.integers(2, 40))
        v = rng.uniform(0.001, float(rng.choice([0.05, 0.5, 5.0])), k)
        y = rng.normal(float(rng.normal()), np.sqrt(v + float(rng.choice([0.0, 0.01, 0.1, 1]))))
        if i % 7 == 0:
            y, v = y * 1e3, v * 1e6
        out.append((y, v))
    return out


def _dicts(cases: list[tuple[np.ndarray, np.ndarray]], method: str, **kw: object) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [repr(evsynth.meta(y, v, method=method, **kw).to_dict()) for y, v in cases]


def _bits(x: object) -> object:
    if isinstance(x, np.ndarray):
        return (x.dtype.str, x.shape, x.tobytes())
    return repr(x)


def _engine(cases: list[tuple[np.ndarray, np.ndarray]], method: str, test: str,
            level: float) -> list[dict[str, object]]:
    out = []
    for y, v in cases:
        des = kernels.Design(y, v, np.ones((y.size, 1)), kernels.Segments(np.array([y.size])))
        fit = engine.fit_batch(des, method, test, level)
        out.append({key: _bits(val) for key, val in fit.items()})
    return out


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("test", ["z", "t", "knha", "adhoc"])
def test_single_float_path_bitwise_identical(method: str, test: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    cases = _cases(hash((method, test)) % 1000, 60)
    level = {"z": 95, "t": 90, "knha": 99, "adhoc": 95}[test]
    fast = _engine(cases, method, test, level / 100)
    fast_dicts = _dicts(cases, method, test=test, level=level)
    monkeypatch.setattr(kernels, "_SINGLE_FAST", False)
    assert fast == _engine(cases, method, test, level / 100)
    assert fast_dicts == _dicts(cases, method, test=test, level=level)


@pytest.mark.parametrize("method", ["EE", "DL", "HE", "REML", "PM"])
def test_single_float_path_one_study(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cases = [(np.array([0.5]), np.array([0.1])), (np.array([-2.0]), np.array([3.0]))]
    fast = _engine(cases, method, "z", 0.95)
    fast_dicts = _dicts(cases, method)
    monkeypatch.setattr(kernels, "_SINGLE_FAST", False)
    assert fast == _engine(cases, method, "z", 0.95)
    assert fast_dicts == _dicts(cases, method)
