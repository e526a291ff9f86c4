"""Faults found by fuzz round 5 of evsynth.simulate, each reproduced and mended.

1. a replicate left with no study crashed run() (numpy 'argmin of an empty sequence');
2. selection with per-study sizes crashed (broadcast error) when candidates were redrawn;
3. a scenario's key (its random stream) depended on how its numbers were written;
4. a selection that (almost) never publishes ran away (MemoryError) instead of an InputError;
5. validation gaps (raw TypeError / ZeroDivisionError / KeyError / MemoryError ...);
6. measures: EmpSE of constant estimates was 5.6e-17, and the replicates each measure used
   were not reported.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict

import numpy as np
import pytest

from evsynth.errors import InputError
from evsynth.simulate import Method, Scenario, fit_method, generate, grid, performance, run
from evsynth.simulate import generators as gen_mod
from evsynth.simulate.published import friedrich2008, heterogeneity, inthout2014

M = Method("DL", "z")


# ----------------------------------------------------------------------------- 1: no study
def test_replicate_with_no_study_is_a_failure_not_a_crash() -> None:
    # rare events, drop00: about 0.7% of the replicates have no table left
    sc = Scenario(k=5, tau2=0.0, measure="logOR", n=50, p0=0.01, drop00=True)
    res = run(sc, [M, Method("DL", "knha")], replicates=2000, seed=1)
    f = res.to_frame()
    sizes = res.raw[sc.key()]["sizes"]
    empty = int((sizes == 0).sum())
    assert empty > 0
    assert (f["empty"] == empty).all()
    assert (f["failures"] >= empty).all()
    assert (f["n_used"] == f["n_rep"] - f["failures"]).all()
    assert (f["bias_n"] <= f["n_used"]).all()
    fits = res.fits(sc, M)
    assert not fits["converged"][sizes == 0].any()
    assert np.isnan(fits["estimate"][sizes == 0]).all()
    assert np.isfinite(f["bias"]).all()
    # ROM with arm means that are often <= 0
    rom = Scenario(k=3, mu=0.0, measure="ROM", n=3, sigma=10, m0=1.0)
    g = run(rom, M, replicates=200, seed=1).to_frame()
    assert g["empty"].iloc[0] > 0 and g["failures"].iloc[0] >= g["empty"].iloc[0]


@pytest.mark.parametrize("method", [Method("REML", "knha"), Method("REML", "z", pi="hts"),
                                    Method("REML", "z", correction="trimfill"),
                                    Method("FE", "z", correction="petpeese")])
def test_fit_method_leaves_empty_replicates_out(method: Method) -> None:
    rng = np.random.default_rng(3)
    sizes = np.array([0, 4, 0, 5, 3])
    y, v = rng.normal(size=12), rng.uniform(0.05, 0.3, 12)
    out = fit_method(method, y, v, sizes)
    ref = fit_method(method, y, v, sizes[sizes > 0])
    for f in out:
        assert out[f].shape == (5,)
        np.testing.assert_array_equal(out[f][sizes > 0], ref[f])
    assert not out["converged"][[0, 2]].any() and np.isnan(out["estimate"][[0, 2]]).all()
    every = fit_method(method, np.empty(0), np.empty(0), np.zeros(3, dtype=int))
    assert not every["converged"].any()


def test_heterogeneity_ignores_replicates_with_no_study() -> None:
    y, v = np.array([0.0, 3.0, 0.0, 0.1]), np.ones(4)
    assert heterogeneity(y, v, np.array([0, 2, 0, 2])) == heterogeneity(y, v, np.array([2, 2]))


# ----------------------------------------------------------------------------- 2: per-study n
def test_selection_with_per_study_sizes_keeps_the_design() -> None:
    sc = Scenario(k=3, tau2=0.0, mu=0.0, measure="known", n=(250, 25, 25),
                  selection=("pvalue", 0.05, 0.0))
    d = generate(sc, 300, rng=2)
    assert (d["sizes"] == 3).all() and (d["drawn"] > 3).all()
    # published study i has n[i] per arm (known variances: vi = 2 / n)
    np.testing.assert_allclose(d["vi"].reshape(300, 3), np.broadcast_to(2 / np.array(
        [250, 25, 25]), (300, 3)))
    assert (d["yi"] / np.sqrt(d["vi"]) >= 1.6448).all()  # only significant ones published
    assert 30 < d["drawn"].mean() < 90  # about 20 candidates per published study
    # the fuzzer's case: MD, weight 0.2
    r = run(Scenario(k=3, tau2=0.05, mu=0.0, measure="MD", n=(250, 25, 25),
                     selection=("pvalue", 0.05, 0.2)), M, replicates=100, seed=1).to_frame()
    assert r["failures"].iloc[0] == 0 and r["bias"].iloc[0] > 0  # publication bias
    # and the same with the logOR measure and per-study sizes (zero cells)
    lo = generate(Scenario(k=4, measure="logOR", n=(20, 20, 200, 20), p0=0.05,
                           selection=("effect", 0.0, 0.3)), 50, rng=1)
    assert lo["yi"].size == lo["sizes"].sum()


# ----------------------------------------------------------------------------- 3: keys
def _old_key(sc: Scenario) -> str:
    """Scenario.key() before the canonical form (commit 3a893ab), for comparison."""
    import json

    d = asdict(sc)
    d.pop("label")
    if d["m0"] is None:
        d.pop("m0")
    if d["rom_arms"] == "lognormal":
        d.pop("rom_arms")
    d["n"] = list(sc.n) if isinstance(sc.n, tuple) else sc.n
    d["selection"] = list(sc.selection) if sc.selection is not None else None
    d = {key: (val.item() if isinstance(val, np.generic) else val) for key, val in d.items()}
    text = json.dumps(d, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _published() -> list[Scenario]:
    scs = inthout2014()[0] + inthout2014(measure="known")[0]
    for table in (3, 5):
        for arms in ("normal", "lognormal"):
            scs += friedrich2008(table=table, rom_arms=arms)[0]
    return scs


def _documented() -> list[Scenario]:
    return (grid(k=[3, 5, 10, 20], tau2=[0.0, 0.05, 0.2], measure="logOR",
                 n=("uniform", 20, 200), p0=0.1, selection=[None, ("pvalue", 0.05, 0.2)])
            + grid(k=5, tau2=[0.0, 0.2], measure="known", n=40)
            + grid(k=[3, 10], tau2=0.1, measure="known", n=50)
            + grid(k=[2, 5, 10], tau2=[0.0, 0.1], measure="MD", n=("uniform", 20, 200))
            + [Scenario(k=5, tau2=0.1, n=50), Scenario(k=3, n=(250, 25, 25), tau2=0.05)])


def test_published_and_documented_keys_are_unchanged() -> None:
    for scs, digest in ((_published(), "3c9858f3a586d672"), (_documented(), "e1d5121c4b9d71e2")):
        keys = [s.key() for s in scs]
        assert keys == [_old_key(s) for s in scs]
        # the keys as they were before the canonical form (computed at commit 3a893ab)
        assert hashlib.sha256(",".join(keys).encode()).hexdigest()[:16] == digest
    assert len(_published()) == 552


def test_equal_scenarios_have_equal_keys() -> None:
    ref = Scenario(k=5, tau2=0.0, mu=0.0)
    for same in (Scenario(k=5, tau2=0, mu=0), Scenario(k=5, tau2=0.0, mu=-0.0),
                 Scenario(k=np.int64(5), tau2=np.float64(0.0), mu=np.float32(0.0)),
                 Scenario(k=5, tau2=0.0, mu=0.0, sigma=1, p0=np.float64(0.1), cc=0.5)):
        assert same == ref and same.key() == ref.key()
    assert ref.key() == _old_key(ref)  # the defaults' form keeps its key
    a = Scenario(k=3, n=tuple(np.array([20, 20, 200])), selection=("pvalue", 0.05, 0))
    b = Scenario(k=3, n=(20, 20, 200), selection=("pvalue", np.float64(0.05), 0.0))
    assert a.key() == b.key() == _old_key(b)
    u = Scenario(k=3, n=("uniform", np.int64(20), 60.0))
    assert u.key() == Scenario(k=3, n=("uniform", 20, 60)).key()
    assert Scenario(k=3, drop00=np.bool_(True)).key() == Scenario(k=3, drop00=True).key()
    assert Scenario(k=3, measure="ROM", m0=100).key() == Scenario(k=3, measure="ROM",
                                                                  m0=100.0).key()
    # the same numbers from the same seed, however the number is written
    r0 = run(Scenario(k=5, tau2=0, mu=0), M, 200, seed=1).to_frame()["bias"].iloc[0]
    r1 = run(Scenario(k=5, tau2=0.0, mu=0.0), M, 200, seed=1).to_frame()["bias"].iloc[0]
    assert r0 == r1
    assert run(a, M, 50, seed=1).to_frame()["n_rep"].iloc[0] == 50


def _digest(d: dict) -> str:
    h = hashlib.sha256()
    for f in ("yi", "vi", "sizes", "drawn", "zero_cells"):
        h.update(np.ascontiguousarray(d[f]).tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize("spec,digest", [
    (dict(k=8, measure="known", n=30, selection=("pvalue", 0.05, 0.0)), "cc41481605a1c43a"),
    (dict(k=20, tau2=0.2, measure="logOR", n=("uniform", 20, 200), p0=0.1,
          selection=("pvalue", 0.05, 0.2)), "900a8715be0e4a39"),
    (dict(k=3, measure="MD", n=("lognormal", 50, 0.5), tau2=0.1,
          selection=("pvalue", 0.01, 0.05)), "52ad03f8d759a018")])
def test_selection_streams_are_unchanged(spec: dict, digest: str) -> None:
    # the bounded candidate rounds draw what the unbounded ones drew (digests of commit 3a893ab)
    assert _digest(generate(Scenario(**spec), 1000, rng=7)) == digest


# ----------------------------------------------------------------------------- 4: runaway
def test_selection_that_never_publishes_is_an_input_error_soon() -> None:
    sc = Scenario(k=10, tau2=0.0, mu=-0.5, measure="MD", n=50, selection=("pvalue", 0.05, 0.0))
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=r"selection.*\('pvalue', 0.05, 0.0\).*10,000 "
                                         r"candidate"):
        run(sc, M, replicates=200, seed=1)
    assert time.perf_counter() - t0 < 30
    with pytest.raises(InputError, match="selection"):
        generate(Scenario(k=2, mu=-0.5, n=(50, 60), selection=("pvalue", 0.05, 0.0)), 20, rng=1)


def test_rounds_are_bounded_in_memory(monkeypatch) -> None:
    # with a small round budget the candidates are drawn in narrower rounds: same design
    monkeypatch.setattr(gen_mod, "ROUND_CELLS", 64)
    sc = Scenario(k=6, measure="known", n=30, selection=("pvalue", 0.05, 0.0))
    d = generate(sc, 40, rng=5)
    assert (d["sizes"] == 6).all() and (d["yi"] / np.sqrt(d["vi"]) >= 1.6448).all()
    p = generate(Scenario(k=2, measure="known", n=(30, 300), selection=("pvalue", 0.05, 0.0)),
                 40, rng=5)
    assert (p["sizes"] == 2).all()


# ----------------------------------------------------------------------------- 5: validation
@pytest.mark.parametrize("call,where", [
    (lambda: run(Scenario(k=3), M, 100, seed=1, alpha="x"), "'alpha'"),
    (lambda: run(Scenario(k=3), M, 100, seed=1, alpha=True), "'alpha'"),
    (lambda: Scenario(k=3, n=("uniform", "a", "b")), "'n'"),
    (lambda: Scenario(k=3, n=("uniform", 20.5, 30.2)), "'n'"),
    (lambda: Scenario(k=3, n=("lognormal", math.inf, 1)), "'n'"),
    (lambda: Scenario(k=3, n=("lognormal", 50, math.nan)), "'n'"),
    (lambda: Scenario(k=3, n=10**19, measure="logOR"), "'n'"),
    (lambda: Scenario(k=3, n=(10, 10, 10**10)), "'n'"),
    (lambda: Scenario(k=3, tau2=10**400), "'tau2'"),
    (lambda: Scenario(k=3, selection=("effect", float("nan"), 0.5)), "'selection'"),
    (lambda: Scenario(k=3, selection=("pvalue", 0.05, np.nan)), "'selection'"),
    (lambda: Scenario(k=3, drop00="yes"), "'drop00'"),
    (lambda: run(Scenario(k=10**7), M, 1000, seed=1), "'block'"),
    (lambda: generate(Scenario(k=10**4), 10**4, rng=1), "'replicates'"),
    (lambda: run(Scenario(k=2), M, 10**8, seed=1), "'replicates'"),
    (lambda: inthout2014(i2s=[1.0]), "'i2s'"),
    (lambda: inthout2014(ks=[0]), "'ks'"),
    (lambda: inthout2014(patterns=["huge"]), "'patterns'"),
    (lambda: inthout2014(ratio=0), "'ratio'"),
    (lambda: inthout2014(small=1), "'small'"),
    (lambda: inthout2014(measure="logOR"), "'measure'"),
    (lambda: friedrich2008(deltas=[-3.0], measures=["ROM"]), "'deltas'"),
    (lambda: friedrich2008(ns=[1]), "'ns'"),
    (lambda: friedrich2008(control_mean=0), "'control_mean'"),
    (lambda: performance({f: np.ones(3) for f in ("estimate", "ci_lb", "ci_ub", "pval", "tau2",
                                                  "pi_lb", "pi_ub")}
                         | {"se": np.ones(2), "converged": np.ones(3, bool)}, 0.0), "'se'"),
])
def test_bad_arguments_are_input_errors_naming_them(call, where: str) -> None:
    with pytest.raises(InputError, match=where):
        call()


def test_whole_float_uniform_bounds_and_wide_lognormal_sizes() -> None:
    d = generate(Scenario(k=3, n=("uniform", 20.0, 30.0), measure="known"), 200, rng=1)
    n = 2 / d["vi"]
    assert np.allclose(n, np.rint(n)) and 20 <= n.min() and n.max() <= 30
    # a very wide log-normal: sizes are clipped to [2, MAX_N], never garbage
    w = generate(Scenario(k=3, n=("lognormal", 50, 50), measure="known"), 200, rng=1)
    n = 2 / w["vi"]
    assert np.isfinite(w["yi"]).all()
    assert n.min() >= 2 - 1e-9 and n.max() <= gen_mod.MAX_N * (1 + 1e-9)


# ----------------------------------------------------------------------------- 6: measures
def _fits(est: np.ndarray, se: float = 0.2) -> dict[str, np.ndarray]:
    n = est.size
    return dict(estimate=est, se=np.full(n, se), ci_lb=est - 0.4, ci_ub=est + 0.4,
                pval=np.full(n, 0.1), tau2=np.zeros(n), pi_lb=est - 1, pi_ub=est + 1,
                converged=np.ones(n, bool))


def test_constant_estimates_have_empirical_se_zero() -> None:
    r = performance(_fits(np.full(4752, 0.3)), theta=0.3)
    assert r["empse"] == 0.0 and r["empse_mcse"] == 0.0 and r["bias_mcse"] == 0.0
    assert math.isnan(r["relerr_modse"]) and math.isnan(r["relerr_modse_mcse"])
    assert r["modse"] == pytest.approx(0.2)  # the model SE is still defined
    assert r["tau2_empse"] == 0.0
    # centring on the first value: same EmpSE as the textbook formula otherwise
    x = np.random.default_rng(1).normal(5.0, 0.1, 1000)
    assert performance(_fits(x), 5.0)["empse"] == pytest.approx(float(x.std(ddof=1)),
                                                                rel=1e-12)


def test_each_measure_reports_the_replicates_it_used() -> None:
    f = run(Scenario(k=1, tau2=0.1, measure="known"), Method("REML", "knha"), 200,
            seed=1).to_frame().iloc[0]
    assert f["n_used"] == 200 and f["bias_n"] == 200
    # HKSJ with k = 1 has no CI or p-value: those measures used no replicate
    assert f["coverage_n"] == 0 and f["rejection_n"] == 0 and math.isnan(f["coverage"])
    est = np.array([0.1, 0.2, np.nan, 0.3])
    fits = _fits(est)
    fits["pval"] = np.array([0.01, np.nan, 0.5, 0.2])
    r = performance(fits, 0.0)
    assert (r["bias_n"], r["rejection_n"], r["coverage_n"], r["n_used"]) == (3, 3, 3, 4)
    assert r["rejection"] == pytest.approx(1 / 3)
