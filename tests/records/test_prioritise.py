"""Prioritised screening (evsynth.records.prioritise) and ``evsynth screen --prioritised``."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evsynth.errors import InputError
from evsynth.records.model import records_frame
from evsynth.records.prioritise import (
    Prioritiser,
    buscar_k_tar,
    buscar_pvalue,
    buscar_pvalue_ranked,
    estimate_remaining,
    rank,
    screening_metrics,
    simulate,
)
from evsynth.records.store import Store

SCREENING = Path(__file__).resolve().parents[3] / "shared" / "data" / "screening"
NSAIDS = SCREENING / "cohen2006_NSAIDS.csv"

A = ["Randomised trial of vertebroplasty for osteoporotic vertebral fracture pain",
     "Vertebroplasty versus sham procedure in osteoporotic spinal fracture: a randomised trial",
     "Kyphoplasty and vertebroplasty for vertebral compression fracture in osteoporosis",
     "Percutaneous vertebroplasty for painful osteoporotic vertebral fractures"]
B = ["Wetland restoration and bird diversity in river floodplains",
     "Grassland restoration: plant species richness after grazing",
     "Coral reef fish communities after marine protected area designation",
     "Soil carbon in restored temperate forests",
     "River floodplain restoration and amphibian breeding sites"]


def _texts() -> tuple[list[str], np.ndarray]:
    # import order: A0, B0, B1, B2, A1, B3, A2, B4, A3
    texts = [A[0], B[0], B[1], B[2], A[1], B[3], A[2], B[4], A[3]]
    y = np.array([1, 0, 0, 0, 1, 0, 1, 0, 1])
    return texts, y


# ------------------------------------------------------------------------------ ranking
@pytest.mark.skipif(not NSAIDS.exists(), reason=f"labelled screening set {NSAIDS} is missing "
                    "(../shared/data/screening is not present)")
def test_ranking_beats_random_order_on_a_real_set():
    d = pd.read_csv(NSAIDS)
    y = d["label_included"].to_numpy()
    rng = np.random.default_rng(0)
    prior = [int(rng.choice(np.flatnonzero(y == 1))), int(rng.choice(np.flatnonzero(y == 0)))]
    order = simulate(d[["title", "abstract"]], y, prior, retrain_every=5, seed=0)
    m = screening_metrics(order, y)
    # random order: expected WSS 0 and recall after 20% of the records 0.2
    rand = screening_metrics(np.random.default_rng(1).permutation(len(y)), y)
    assert m["wss95"] > 0.4 and m["recall20"] > 0.6
    assert m["wss95"] > rand["wss95"] + 0.3 and m["recall10"] > rand["recall10"] + 0.2


def test_retraining_changes_the_ranking():
    texts, _ = _texts()
    p = Prioritiser(texts, seed=0)
    s0 = p.fit({})
    assert p.fallback is not None and "plain order" in p.fallback
    assert list(p.order(s0)) == list(range(9))  # plain order without labels
    s1 = p.fit({"0": 1, "1": 0})
    assert p.fallback is None
    o1 = list(p.order(s1, [2, 3, 4, 5, 6, 7, 8]))
    assert set(o1[:3]) == {4, 6, 8}  # the vertebroplasty records first
    # the reviewer now says the restoration records are the relevant ones: the ranking flips
    s2 = p.fit({"0": 0, "1": 1, "2": 1, "4": 0})
    o2 = list(p.order(s2, [3, 5, 6, 7, 8]))
    assert o2 != list(p.order(s1, [3, 5, 6, 7, 8]))
    assert set(o2[:3]) == {3, 5, 7}


def test_one_class_and_no_text_fall_back_to_plain_order():
    texts, _ = _texts()
    p = Prioritiser(texts)
    s = p.fit({"0": 1, "4": 1})
    assert "plain order" in p.fallback and "2 relevant, 0 irrelevant" in p.fallback
    assert list(p.order(s)) == list(range(9))
    s = p.fit(np.array([0, np.nan, 0, -1, np.nan, 0, 0, 0, 0]))
    assert "0 relevant" in p.fallback
    q = Prioritiser(["", " ", ""])
    assert list(q.order(q.fit({"0": 1, "1": 0}))) == [0, 1, 2] and "no text" in q.fallback
    with pytest.raises(InputError, match="not among the records"):
        p.fit({"zz": 1})
    with pytest.raises(InputError, match="one per record"):
        p.fit(np.zeros(3))


def test_deterministic_given_a_seed():
    texts, y = _texts()
    o1 = simulate(texts, y, [0, 1], seed=3, stop_when_all_found=False)
    o2 = simulate(texts, y, [0, 1], seed=3, stop_when_all_found=False)
    assert list(o1) == list(o2) and sorted(o1) == list(range(9))
    s1 = Prioritiser(texts, seed=7).fit(y.astype(float))
    s2 = Prioritiser(texts, seed=7).fit(y.astype(float))
    np.testing.assert_array_equal(s1, s2)


def test_screening_metrics_by_hand():
    y = np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 0])  # N = 10, R = 2
    m = screening_metrics([0, 3], y)  # both relevant found after 2 records
    assert m["wss100"] == pytest.approx(0.8) and m["wss95"] == pytest.approx(0.75)
    assert m["recall10"] == 0.5 and m["recall20"] == 1.0
    m = screening_metrics(list(range(10)), y)  # import order: last relevant at record 4
    assert m["wss100"] == pytest.approx(0.6)
    with pytest.raises(InputError, match="finds 1 of 2"):
        screening_metrics([0, 1, 2], y)


# ------------------------------------------------------------------------------ buscar
def test_buscar_pvalue_against_hand_computed_hypergeometric():
    """Callaghan & Muller-Hansen (2020), Syst Rev 9:273, doi:10.1186/s13643-020-01521-4: with r_AL
    relevant records found in ranked order, a random sample of n from the N unseen holding k
    relevant, K_tar = floor((r_AL + k)/tau - r_AL + 1) and p = P(X <= k),
    X ~ Hypergeometric(N, K_tar, n). Here by hand with binomial coefficients."""
    # r_AL = 20, N = 1000, n = 100, k = 0: K_tar = floor(20/0.95 - 19) = floor(2.05) = 2,
    # p = C(998, 100) / C(1000, 100) = (900 * 899) / (1000 * 999) = 0.80991
    assert buscar_k_tar(20, 20, 0.95) == 2
    assert buscar_pvalue(1000, 100, 0, 20) == pytest.approx(900 * 899 / (1000 * 999), rel=1e-12)
    # k = 1: r_seen = 21, K_tar = floor(21/0.95 - 19) = floor(3.105) = 3,
    # p = [C(997, 100) + C(3, 1) C(997, 99)] / C(1000, 100)
    assert buscar_k_tar(20, 21) == 3
    hand = (math.comb(997, 100) + 3 * math.comb(997, 99)) / math.comb(1000, 100)
    assert buscar_pvalue(1000, 100, 1, 20) == pytest.approx(hand, rel=1e-12)
    # a large sample with nothing relevant: H0 rejected; K_tar = floor(100/0.9 - 99) = 12
    k_tar = buscar_k_tar(100, 100, 0.9)
    assert k_tar == 12
    hand = math.comb(500 - 12, 300) / math.comb(500, 300)
    assert buscar_pvalue(500, 300, 0, 100, target=0.9) == pytest.approx(hand, rel=1e-10)
    assert hand < 1e-4
    # H0 impossible: more relevant records needed than the urn holds
    assert buscar_pvalue(5, 0, 0, 200) == 0.0
    with pytest.raises(InputError):
        buscar_pvalue(10, 20, 0, 1)
    with pytest.raises(InputError):
        buscar_pvalue(10, 2, 0, 1, target=1.0)


def test_buscar_ranked_is_the_smallest_window_pvalue():
    lab = [1, 1, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    n_total = 60
    brute = []
    for n in range(1, len(lab) + 1):
        sample = lab[len(lab) - n:]
        r_al = sum(lab[: len(lab) - n])
        brute.append(buscar_pvalue(n_total - len(lab) + n, n, sum(sample), r_al))
    assert buscar_pvalue_ranked(lab, n_total) == pytest.approx(min(brute), rel=1e-12)
    assert buscar_pvalue_ranked([], 10) is None


def test_estimate_remaining():
    est, upper = estimate_remaining(1000, 100, 2)
    assert est == pytest.approx(18.0)
    from scipy.stats import hypergeom

    # the bound is the largest K still compatible with so few hits, minus the 2 seen
    assert hypergeom.cdf(2, 1000, upper + 2, 100) > 0.05
    assert hypergeom.cdf(2, 1000, upper + 3, 100) <= 0.05
    assert math.isnan(estimate_remaining(50, 0, 0)[0])


# ------------------------------------------------------------------------------ store, CLI
TOML = """
[screening]
reviewers = ["AB"]
"""


def _review(path: Path) -> Store:
    (path / "review.toml").write_text(TOML, encoding="utf-8")
    s = Store(path)
    texts, _ = _texts()
    recs = [dict(record_id=f"r.ris:{i}", title=t, abstract=None, year=2010)
            for i, t in enumerate(texts, start=1)]
    s.add_import(records_frame(recs), "r.ris", "MEDLINE", sha256="r")
    return s


def test_rank_on_a_store(tmp_path):
    store = _review(tmp_path)
    r = rank(store)
    assert r.method == "plain order" and r.record_ids == [f"r.ris:{i}" for i in range(1, 10)]
    store.add_decision("r.ris:1", "title-abstract", "include", "AB")
    store.add_decision("r.ris:2", "title-abstract", "exclude", "AB")
    r = rank(store, reviewer="AB")
    assert r.method == "model" and r.note is None and (r.n_relevant, r.n_irrelevant) == (1, 1)
    assert set(r.record_ids[:3]) == {"r.ris:5", "r.ris:7", "r.ris:9"}
    assert len(r.records) == 7 and r.p_value is not None and r.remaining is not None
    store.close()


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "evsynth.cli", *args]


@pytest.mark.parametrize("prioritised", [False, True])
def test_cli_screen_prioritised(tmp_path, prioritised):
    _review(tmp_path).close()
    flag = ["--prioritised"] if prioritised else []
    proc = subprocess.run(_cli("screen", str(tmp_path), "--stage", "title-abstract",
                               "--reviewer", "AB", *flag),
                          input="i\ne\ni\nq\n", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with Store(tmp_path) as s:
        h = s.decision_history()
    assert list(h["record_id"][:2]) == ["r.ris:1", "r.ris:2"]  # plain order before 2 classes
    if prioritised:
        # after one include and one exclude, the model puts a vertebroplasty record next
        assert h["record_id"][2] in {"r.ris:5", "r.ris:7", "r.ris:9"}
        assert "prioritised: plain order" in proc.stdout
        assert "ranked by relevance predicted from 1 relevant and 1 irrelevant" in proc.stdout
        assert "buscar p-value for recall < 95%" in proc.stdout
    else:
        assert h["record_id"][2] == "r.ris:3" and "prioritised" not in proc.stdout


def test_cli_retrain_every_must_be_positive(tmp_path):
    _review(tmp_path).close()
    proc = subprocess.run(_cli("screen", str(tmp_path), "--stage", "title-abstract",
                               "--reviewer", "AB", "--prioritised", "--retrain-every", "0"),
                          input="q\n", capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "--retrain-every 0" in proc.stderr
