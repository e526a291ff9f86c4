"""evsynth.simulate: generators, methods, performance measures with Monte-Carlo SEs,
reproducible streams independent of how the work is split, resuming from disk."""

from __future__ import annotations

import doctest
import json
import math

import numpy as np
import pandas as pd
import pytest

import evsynth
from evsynth.errors import InputError
from evsynth.simulate import Method, Scenario, fit_method, generate, grid, performance, run, runner
from evsynth.simulate import generators as gen_mod


# ----------------------------------------------------------------------------- generators
def test_smd_and_log_or_match_effect_size() -> None:
    rng = np.random.default_rng(5)
    n1, n2 = rng.integers(5, 60, 20).astype(float), rng.integers(5, 60, 20).astype(float)
    m1, m2, sd1, sd2 = rng.normal(size=20), rng.normal(size=20), rng.uniform(.5, 2, 20), \
        rng.uniform(.5, 2, 20)
    sp = np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / (n1 + n2 - 2))
    g, v = gen_mod.smd_from_summary(m1, m2, sp, n1, n2)
    ref = evsynth.effect_size("SMD", m1i=m1, m2i=m2, sd1i=sd1, sd2i=sd2, n1i=n1, n2i=n2)
    np.testing.assert_allclose(g, ref["yi"], rtol=1e-12)
    np.testing.assert_allclose(v, ref["vi"], rtol=1e-12)
    a = np.array([0, 3, 10, 0, 20, 5])
    c = np.array([2, 0, 4, 0, 20, 5])
    n = np.full(6, 20.0)
    y, vv, keep = gen_mod.log_or_from_counts(a, c, n, n)
    ref = evsynth.effect_size("OR", ai=a, n1i=n, ci=c, n2i=n)
    np.testing.assert_allclose(y, ref["yi"], rtol=1e-12)
    np.testing.assert_allclose(vv, ref["vi"], rtol=1e-12)
    assert keep.all()
    _, _, keep = gen_mod.log_or_from_counts(a, c, n, n, drop00=True)
    assert list(keep) == [True, True, True, False, False, True]


def test_log_or_tables_have_zero_cells_and_drop00() -> None:
    sc = Scenario(k=10, measure="logOR", n=15, p0=0.03, tau2=0.2)
    d = generate(sc, 200, rng=3)
    assert d["zero_cells"].sum() > 500  # rare events: zero cells are common
    assert np.isfinite(d["yi"]).all() and (d["vi"] > 0).all()
    assert (d["sizes"] == 10).all()
    d2 = generate(Scenario(k=10, measure="logOR", n=15, p0=0.03, drop00=True), 200, rng=3)
    assert (d2["sizes"] < 10).any() and d2["yi"].size == d2["sizes"].sum()


def test_moments_of_generated_effects() -> None:
    # known variances: y ~ N(mu, v + tau2) exactly
    sc = Scenario(k=1, tau2=0.3, mu=0.5, measure="known", n=50)
    d = generate(sc, 40_000, rng=1)
    z = (d["yi"] - 0.5) / np.sqrt(d["vi"] + 0.3)
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02
    # MD: the variance estimate is unbiased for the true sampling variance
    md = generate(Scenario(k=1, measure="MD", n=20, sigma=2.0), 40_000, rng=2)
    assert abs(md["vi"].mean() / (2 * 4 / 20) - 1) < 0.01
    assert abs(md["yi"].var() / (2 * 4 / 20) - 1) < 0.03


def test_selection_by_p_value_and_effect() -> None:
    sc = Scenario(k=8, tau2=0.0, mu=0.0, measure="known", n=30, selection=("pvalue", 0.05, 0.0))
    d = generate(sc, 50, rng=4)
    z = d["yi"] / np.sqrt(d["vi"])
    assert (z >= 1.6448).all()  # only significant positive studies are published
    assert (d["sizes"] == 8).all() and (d["drawn"] > 8).all()
    # about 1 in 20 null studies is significant: ~160 drawn per 8 published
    assert 100 < d["drawn"].mean() < 230
    e = generate(Scenario(k=5, measure="known", selection=("effect", 0.0, 0.0)), 30, rng=4)
    assert (e["yi"] >= 0).all()


@pytest.mark.parametrize("bad", [
    {"k": 0}, {"k": 3, "tau2": -1}, {"k": 3, "measure": "RR"}, {"k": 3, "n": 1},
    {"k": 3, "n": [10, 20]}, {"k": 3, "p0": 1.5}, {"k": 3, "selection": ("pvalue", 2, 0.5)},
    {"k": 3, "n": ("uniform", 30, 10)}, {"k": True},
])
def test_scenario_errors_name_the_field(bad: dict) -> None:
    with pytest.raises(InputError) as exc:
        Scenario(**bad)
    field = [key for key in bad if key != "k"] or ["k"]
    assert f"field '{field[-1]}'" in str(exc.value)


def test_grid_is_a_full_factorial() -> None:
    g = grid(k=2, tau2=[0.0, 0.1, 0.2], n=[[10, 100], [50, 50]], measure="known")
    assert len(g) == 6 and g[1].n == (50, 50) and g[2].n == (10, 100) and g[2].tau2 == 0.1
    # per-study sizes must match k
    with pytest.raises(InputError, match="field 'n'"):
        grid(k=[2, 3], n=[[10, 100]])
    g = grid(k=[2, 5], tau2=[0.0, 0.1], measure=["MD", "SMD"])
    assert len(g) == 8 and len({s.key() for s in g}) == 8
    assert Scenario(k=2, label="a").key() == Scenario(k=2, label="b").key()


# ----------------------------------------------------------------------------- methods
def _batch(k: int = 8, reps: int = 25, seed: int = 7, **kw: object) -> dict:
    return generate(Scenario(k=k, tau2=0.1, mu=0.2, measure="MD", n=("uniform", 10, 120),
                             **kw), reps, rng=seed)


@pytest.mark.parametrize("method", [Method("DL", "z"), Method("REML", "knha"),
                                    Method("PM", "adhoc", pi="hts"), Method("FE", "t")])
def test_plain_methods_equal_meta(method: Method) -> None:
    d = _batch()
    out = fit_method(method, d["yi"], d["vi"], d["sizes"])
    for g in (0, 7, 24):
        y, v = d["yi"][8 * g:8 * g + 8], d["vi"][8 * g:8 * g + 8]
        f = evsynth.meta(y, v, method=method.estimator, test=method.test)
        assert out["estimate"][g] == pytest.approx(float(f.beta[0]), rel=1e-9, abs=1e-12)
        assert out["ci_lb"][g] == pytest.approx(float(f.ci_lb[0]), rel=1e-9, abs=1e-12)
        assert out["tau2"][g] == pytest.approx(float(f.tau2), rel=1e-7, abs=1e-12)
        if method.pi == "metafor":
            pr = f.predict()
            assert out["pi_lb"][g] == pytest.approx(float(np.ravel(pr.pi_lb)[0]), rel=1e-8)


def test_trimfill_batch_equals_single_fit_trimfill() -> None:
    d = generate(Scenario(k=9, tau2=0.05, mu=0.3, measure="known", n=("uniform", 10, 200),
                          selection=("pvalue", 0.05, 0.3)), 30, rng=11)
    m = Method("REML", "z", correction="trimfill")
    out = fit_method(m, d["yi"], d["vi"], d["sizes"])
    assert (out["k0"] > 0).any()
    for g in range(30):
        y, v = d["yi"][9 * g:9 * g + 9], d["vi"][9 * g:9 * g + 9]
        tf = evsynth.meta(y, v, method="REML").trimfill()
        assert out["k0"][g] == tf.k0, g
        assert out["estimate"][g] == pytest.approx(float(tf.fit.beta[0]), rel=1e-7, abs=1e-10)
        assert out["ci_ub"][g] == pytest.approx(float(tf.fit.ci_ub[0]), rel=1e-7, abs=1e-10)


@pytest.mark.parametrize("side", ["left", "right"])
def test_trimfill_batch_equal_effects_nothing_to_fill(side: str) -> None:
    """Replicates of equal effects (whose pooled estimate is an ulp off) give k0 = 0, as
    evsynth.trimfill: residuals within the rounding error count as 0."""
    vals = [3.383380438992901e-279, 0.3, -0.3, 1.0]
    y = np.repeat(vals, 4)
    v = np.tile([1.0, 1.0, 0.75, 1.0], len(vals))
    sizes = np.full(len(vals), 4)
    m = Method("FE", "z", correction="trimfill", side=side)
    out = fit_method(m, y, v, sizes)
    assert (out["k0"] == 0).all()
    for g, val in enumerate(vals):
        assert evsynth.meta(y[4 * g:4 * g + 4], v[4 * g:4 * g + 4], method="FE").trimfill(
            side=side).k0 == out["k0"][g] == 0, val


def test_petpeese_batch_equals_single_fit() -> None:
    d = generate(Scenario(k=12, tau2=0.02, mu=0.1, measure="known", n=("uniform", 10, 300),
                          selection=("pvalue", 0.05, 0.2)), 20, rng=12)
    out = fit_method(Method("FE", "z", correction="petpeese"), d["yi"], d["vi"], d["sizes"])
    for g in range(20):
        y, v = d["yi"][12 * g:12 * g + 12], d["vi"][12 * g:12 * g + 12]
        pp = evsynth.meta(y, v, method="FE").pet_peese()
        assert out["estimate"][g] == pytest.approx(pp.estimate, rel=1e-8, abs=1e-12)
        assert out["ci_lb"][g] == pytest.approx(pp.ci_lb, rel=1e-8, abs=1e-12)
        assert bool(out["k0"][g]) == (pp.chosen == "PEESE")


def test_method_validation() -> None:
    assert Method("dl", "HKSJ").name == "DL+knha"
    with pytest.raises(InputError, match="'method'"):
        Method("XX")
    with pytest.raises(InputError, match="'pi'"):
        Method(pi="exact")
    with pytest.raises(InputError, match="'correction'"):
        Method(correction="selmodel")


# ----------------------------------------------------------------------------- measures
def test_performance_formulas_morris_table_6() -> None:
    rng = np.random.default_rng(3)
    n = 400
    est = 0.1 + rng.normal(size=n) * 0.3
    se = 0.3 * rng.uniform(0.8, 1.2, n)
    lb, ub = est - 1.96 * se, est + 1.96 * se
    p = rng.uniform(size=n)
    fits = {"estimate": est, "se": se, "ci_lb": lb, "ci_ub": ub, "pval": p,
            "tau2": np.abs(rng.normal(size=n)) * 0.1, "pi_lb": lb - 0.1, "pi_ub": ub + 0.1,
            "converged": np.ones(n, bool)}
    m = performance(fits, theta=0.0, tau2=0.05)
    assert m["bias"] == pytest.approx(est.mean())
    assert m["bias_mcse"] == pytest.approx(est.std(ddof=1) / math.sqrt(n))
    assert m["empse"] == pytest.approx(est.std(ddof=1))
    assert m["empse_mcse"] == pytest.approx(est.std(ddof=1) / math.sqrt(2 * (n - 1)))
    assert m["mse"] == pytest.approx(np.mean(est**2))
    e2 = est**2
    assert m["mse_mcse"] == pytest.approx(math.sqrt(((e2 - e2.mean())**2).sum() / (n * (n - 1))))
    cov = np.mean((lb <= 0) & (ub >= 0))
    assert m["coverage"] == pytest.approx(cov)
    assert m["coverage_mcse"] == pytest.approx(math.sqrt(cov * (1 - cov) / n))
    assert m["rejection"] == pytest.approx(np.mean(p < 0.05))
    assert m["ci_width"] == pytest.approx(np.mean(ub - lb))
    assert m["modse"] == pytest.approx(math.sqrt(np.mean(se**2)))
    assert m["relerr_modse"] == pytest.approx(100 * (m["modse"] / m["empse"] - 1))
    # non-converged replicates are counted and left out
    fits["converged"] = np.arange(n) >= 10
    m2 = performance(fits, 0.0, 0.05)
    assert m2["failures"] == 10 and m2["n_used"] == n - 10
    assert m2["bias"] == pytest.approx(est[10:].mean())


def test_hksj_with_equal_known_variances_is_exact() -> None:
    """Equal sampling variances: y_i ~ N(mu, v + tau^2) iid and the HKSJ interval is the
    one-sample t interval, exact for every k and tau^2 (coverage 95% within MC error); the
    fixed-effect interval is exact when tau^2 = 0."""
    res = run(grid(k=[2, 4, 10], tau2=[0.0, 0.5], measure="known", n=40),
              [Method("DL", "knha"), Method("FE", "z")], replicates=4000, seed=99, block=2000)
    t = res.to_frame()
    hk = t[t.method == "DL+knha"]
    assert (np.abs(hk.coverage - 0.95) < 3.5 * hk.coverage_mcse).all(), hk
    fe = t[(t.method == "FE+z") & (t.tau2 == 0)]
    assert (np.abs(fe.coverage - 0.95) < 3.5 * fe.coverage_mcse).all(), fe


# ----------------------------------------------------------------------------- running
SCS = grid(k=[3, 6], tau2=[0.0, 0.2], measure="MD", n=("uniform", 10, 60))
MS = [Method("DL", "z"), Method("REML", "knha")]


def _same(a: runner.SimulationResult, b: runner.SimulationResult) -> None:
    for s in SCS:
        for m in MS:
            fa, fb = a.fits(s, m), b.fits(s, m)
            for key in fa:
                np.testing.assert_array_equal(fa[key], fb[key])
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())


def test_results_do_not_depend_on_the_split() -> None:
    whole = run(SCS, MS, replicates=250, seed=8, block=100)
    # one scenario at a time, in another order, and block by block
    parts = {}
    for s in reversed(SCS):
        pieces = [runner.run_scenario(s, MS, 250, 8, 100, [b]) for b in (2, 0, 1)]
        pieces = [pieces[1], pieces[2], pieces[0]]
        parts[s.key()] = runner._merge(pieces)
    for s in SCS:
        for m in MS:
            for key, arr in whole.fits(s, m).items():
                np.testing.assert_array_equal(arr, parts[s.key()]["fits"][m.name][key])
    # a scenario's numbers do not depend on the rest of the grid
    alone = run(SCS[2], MS, replicates=250, seed=8, block=100)
    np.testing.assert_array_equal(alone.fits(SCS[2], MS[0])["estimate"],
                                  whole.fits(SCS[2], MS[0])["estimate"])
    other = run(SCS[2], MS, replicates=250, seed=9, block=100)
    assert not np.array_equal(other.fits(SCS[2], MS[0])["estimate"],
                              whole.fits(SCS[2], MS[0])["estimate"])


def test_resume_from_disk(tmp_path) -> None:
    out = tmp_path / "study"
    seen: list[int] = []
    first = run(SCS, MS, replicates=120, seed=3, block=50, out=out,
                progress=lambda done, total, s: seen.append(done))
    assert seen == [1, 2, 3, 4]
    files = sorted(out.glob("scenario-*.npz"))
    assert len(files) == 4 and (out / "study.json").exists()
    # interrupted run: two scenarios lost
    files[0].unlink()
    files[3].unlink()
    again = run(SCS, MS, replicates=120, seed=3, block=50, out=out)
    assert again.resumed == 2
    _same(first, again)
    # another study in the same folder is refused
    with pytest.raises(InputError, match="another simulation study"):
        run(SCS, MS, replicates=121, seed=3, block=50, out=out)
    study = json.loads((out / "study.json").read_text())
    assert study["seed"] == 3 and study["replicates"] == 120


def test_run_argument_errors() -> None:
    with pytest.raises(InputError, match="'replicates'"):
        run(SCS, MS, replicates=1, seed=1)
    with pytest.raises(InputError, match="'seed'"):
        run(SCS, MS, replicates=10, seed=-1)
    with pytest.raises(InputError, match="more than once"):
        run(SCS, [Method("DL"), Method("DL")], replicates=10, seed=1)
    with pytest.raises(InputError, match="'scenarios'"):
        run([], MS, replicates=10, seed=1)


def test_doctests_of_the_simulate_module() -> None:
    import evsynth.simulate as sim

    finder = doctest.DocTestFinder()
    runner_ = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    objs = [sim] + [getattr(sim, n) for n in sim.__all__ if callable(getattr(sim, n))]
    ran = 0
    for obj in objs:
        for t in finder.find(obj, getattr(obj, "__name__", "x"), module=False, globs={}):
            if t.examples:
                runner_.run(t)
                ran += 1
    res = runner_.summarize(verbose=False)
    assert ran >= 6 and res.failed == 0
