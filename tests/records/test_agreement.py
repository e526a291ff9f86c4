"""Screening agreement: Cohen's kappa (SE, CI), Fleiss' kappa, per stage from the store."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.errors import InputError
from evsynth.records import screening
from evsynth.records.agreement import (
    cohen_kappa,
    fleiss_kappa,
    kappa_from_table,
    screening_agreement,
)
from evsynth.records.model import records_frame
from evsynth.records.store import Store

# Fleiss, Levin & Paik (2003), Statistical Methods for Rates and Proportions, 3rd ed., section
# 18.1 (Table 18.1; Fleiss 1981, 2nd ed., Table 13.1): two psychiatrists, 100 patients,
# diagnoses psychotic / neurotic / organic (proportions x 100).
FLEISS_TABLE = [[75, 1, 4], [5, 4, 1], [0, 0, 10]]


def _kappa_of(p: np.ndarray) -> float:
    r, c = p.sum(axis=1), p.sum(axis=0)
    pe = r @ c
    return (np.trace(p) - pe) / (1 - pe)


def _delta_var(p: np.ndarray, n: int) -> float:
    """Multinomial delta-method variance of kappa(p), gradient by central differences: an
    independent derivation of the Fleiss-Cohen-Everitt (1969) large-sample variance."""
    flat = p.ravel()
    g = np.zeros(flat.size)
    h = 1e-6
    for i in range(flat.size):
        up, dn = flat.copy(), flat.copy()
        up[i] += h
        dn[i] -= h
        g[i] = (_kappa_of(up.reshape(p.shape)) - _kappa_of(dn.reshape(p.shape))) / (2 * h)
    cov = np.diag(flat) - np.outer(flat, flat)
    return float(g @ cov @ g) / n


def test_fleiss_levin_paik_table_18_1_hand_computed():
    k = kappa_from_table(FLEISS_TABLE, ["psychotic", "neurotic", "organic"])
    assert k.n == 100
    assert k.agreement == pytest.approx(0.89)                  # 0.75 + 0.04 + 0.10
    assert k.expected_agreement == pytest.approx(0.66)         # .8*.8 + .1*.05 + .1*.15
    assert k.kappa == pytest.approx(0.23 / 0.34)               # 0.676 as printed
    assert round(k.kappa, 2) == 0.68
    # standard errors against the delta method (independent of the closed forms)
    p = np.asarray(FLEISS_TABLE) / 100
    assert k.se == pytest.approx(math.sqrt(_delta_var(p, 100)), rel=1e-6)
    r, c = p.sum(axis=1), p.sum(axis=0)
    assert k.se0 == pytest.approx(math.sqrt(_delta_var(np.outer(r, c), 100)), rel=1e-6)
    assert k.se == pytest.approx(0.08770, abs=5e-5)
    assert k.se0 == pytest.approx(0.07619, abs=5e-5)
    assert k.z == pytest.approx(k.kappa / k.se0)
    assert k.ci_lb == pytest.approx(k.kappa - 1.959963985 * k.se)
    assert k.ci_ub == pytest.approx(k.kappa + 1.959963985 * k.se)
    k90 = kappa_from_table(FLEISS_TABLE, level=0.9)
    assert k90.ci_ub - k90.ci_lb == pytest.approx(2 * 1.644853627 * k.se)
    assert "kappa = 0.676" in str(k.summary())
    json.dumps(k.to_dict(), allow_nan=False)


def test_two_by_two_hand_computed():
    # 50 records: both include 20, A include/B exclude 5, A exclude/B include 10, both exclude 15
    k = kappa_from_table([[20, 5], [10, 15]], ["include", "exclude"])
    # p_o = 35/50 = 0.7; p_e = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = 0.2/0.5 = 0.4
    assert k.agreement == pytest.approx(0.7) and k.expected_agreement == pytest.approx(0.5)
    assert k.kappa == pytest.approx(0.4)
    # null variance: (pe + pe^2 - sum r c (r + c)) / (n (1 - pe)^2)
    #   = (0.5 + 0.25 - (0.5*0.6*1.1 + 0.5*0.4*0.9)) / (50 * 0.25) = 0.24 / 12.5
    assert k.se0 == pytest.approx(math.sqrt(0.24 / 12.5))
    p = np.array([[20, 5], [10, 15]]) / 50
    assert k.se == pytest.approx(math.sqrt(_delta_var(p, 50)), rel=1e-6)


def test_same_as_the_screening_module_kappa():
    a = ["include", "exclude", "exclude", "include", "exclude", "maybe", "include"]
    b = ["include", "exclude", "include", "include", "exclude", "exclude", "maybe"]
    mine = cohen_kappa(a, b, ["include", "exclude", "maybe"])
    old = screening.cohen_kappa(a, b)
    assert mine.kappa == pytest.approx(old["kappa"])
    assert mine.se == pytest.approx(old["kappa_se"])
    assert mine.percent_agreement == pytest.approx(old["percent_agreement"])


def test_undefined_and_bad_input():
    k = cohen_kappa(["include"] * 3, ["include"] * 3, ["include", "exclude"])
    assert k.percent_agreement == 100.0 and k.kappa is None and k.ci_lb is None
    assert cohen_kappa([], [], ["a", "b"]).n == 0
    with pytest.raises(InputError, match="3 ratings of rater A against 2"):
        cohen_kappa(["a"] * 3, ["a"] * 2)
    with pytest.raises(InputError, match="record 2, rater B: rating 'x'"):
        cohen_kappa(["a", "b"], ["a", "x"], ["a", "b"])
    with pytest.raises(InputError, match="expected a square"):
        kappa_from_table([[1, 2, 3]])
    with pytest.raises(InputError, match="whole-number counts"):
        kappa_from_table([[1.5, 0], [0, 1]])
    with pytest.raises(InputError, match="argument 'level'"):
        kappa_from_table(FLEISS_TABLE, level=40)
    with pytest.raises(InputError, match="record 2 has 2 ratings but record 1 has 3"):
        fleiss_kappa([[3, 0], [1, 1]])


def test_fleiss_kappa_worked_example():
    # 10 subjects, 14 raters, 5 categories: the worked example of Fleiss' kappa in the
    # Wikipedia article "Fleiss' kappa" (P = 0.378, P_e = 0.213, kappa = 0.210)
    counts = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
              [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
              [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    fk = fleiss_kappa(counts)
    assert fk.m == 14 and fk.n_records == 10
    assert fk.proportions == pytest.approx([20 / 140, 28 / 140, 39 / 140, 21 / 140, 32 / 140])
    assert round(fk.agreement, 3) == 0.378
    assert round(fk.expected_agreement, 3) == 0.213
    assert round(fk.kappa, 3) == 0.210
    json.dumps(fk.to_dict(), allow_nan=False)


def test_fleiss_with_two_raters_is_scotts_pi():
    a = ["i", "e", "e", "i", "e", "e", "i", "e"]
    b = ["i", "e", "i", "i", "e", "e", "e", "e"]
    counts = [[(x == "i") + (y == "i"), (x == "e") + (y == "e")] for x, y in zip(a, b, strict=True)]
    fk = fleiss_kappa(counts)
    po = np.mean([x == y for x, y in zip(a, b, strict=True)])
    pi_ = (a + b).count("i") / 16
    pe = pi_ ** 2 + (1 - pi_) ** 2
    assert fk.kappa == pytest.approx((po - pe) / (1 - pe))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=2, max_size=40),
       st.permutations([0, 1, 2]))
def test_kappa_invariants(pairs, perm):
    a = [x for x, _ in pairs]
    b = [y for _, y in pairs]
    k = cohen_kappa(a, b, [0, 1, 2])
    swapped = cohen_kappa(b, a, [0, 1, 2])
    relabelled = cohen_kappa([perm[x] for x in a], [perm[y] for y in b], [0, 1, 2])
    if k.kappa is None:
        assert swapped.kappa is None and relabelled.kappa is None
        return
    assert k.kappa <= 1 + 1e-12
    assert swapped.kappa == pytest.approx(k.kappa) and swapped.se == pytest.approx(k.se, abs=1e-7)
    assert relabelled.kappa == pytest.approx(k.kappa)
    assert relabelled.se == pytest.approx(k.se, abs=1e-7)
    if a == b:
        assert k.kappa == pytest.approx(1.0) and k.se == pytest.approx(0.0, abs=1e-7)


# ---------------------------------------------------------------------------- from the store
def make_store(tmp_path, n: int = 8) -> Store:
    s = Store(tmp_path)
    df = records_frame([dict(record_id=f"m.nbib:{i}", title=f"Trial {i}")
                        for i in range(1, n + 1)])
    s.add_import(df, "m.nbib", "MEDLINE", sha256="m")
    return s


def _decide(store, stage, reviewer, decisions):
    for i, d in enumerate(decisions, start=1):
        if d != ".":
            kw = {"reason": "wrong outcome"} if stage == "full-text" and d == "e" else {}
            store.add_decision(f"m.nbib:{i}", stage,
                               {"i": "include", "e": "exclude", "m": "maybe"}[d], reviewer,
                               **kw)


def test_screening_agreement_two_reviewers_per_stage(tmp_path):
    s = make_store(tmp_path)
    try:
        _decide(s, "title-abstract", "AB", "iiieeeem")
        _decide(s, "title-abstract", "CD", "iieeeeii")
        # AB changes her mind after both had decided (she could see CD's decision): her
        # decision as it stood then counts, not the change (peek and revise; fuzz round 4)
        _decide(s, "title-abstract", "AB", "e.......")
        s.add_decision("m.nbib:1", "title-abstract", "include", "EF", kind="resolution")
        _decide(s, "full-text", "AB", "ii......")
        _decide(s, "full-text", "CD", "ie......")
        res = screening_agreement(s)
        f = res.to_frame()
        assert list(f["stage"]) == ["title-abstract", "full-text"]
        ta = f.iloc[0]
        # AB: i i i e e e e m ; CD: i i e e e e i i -> agree on records 1, 2, 4, 5, 6
        expected = cohen_kappa(list("iiieeeem"), list("iieeeeii"), ["i", "e", "m"])
        assert ta["n"] == 8 and ta["percent_agreement"] == pytest.approx(62.5)
        assert ta["kappa"] == pytest.approx(expected.kappa)
        assert ta["ci_lb"] == pytest.approx(expected.ci_lb)
        assert ta["reviewers"] == "AB and CD" and ta["method"] == "Cohen"
        ft = f.iloc[1]
        assert ft["n"] == 2 and ft["percent_agreement"] == 50.0
        merged = screening_agreement(s, "title-abstract", merge_maybe=True).to_frame()
        exp2 = cohen_kappa(list("iiieeeei"), list("iieeeeii"), ["i", "e"])
        assert merged.loc[0, "kappa"] == pytest.approx(exp2.kappa)
        assert "title-abstract: Cohen (AB and CD; n = 8)" in str(res.summary())
        json.dumps(res.to_dict(), allow_nan=False)
    finally:
        s.close()


def test_screening_agreement_three_reviewers_fleiss(tmp_path):
    s = make_store(tmp_path, 6)
    try:
        _decide(s, "title-abstract", "AB", "iieeee")
        _decide(s, "title-abstract", "CD", "ieeeei")
        _decide(s, "title-abstract", "GH", "iiee.e")      # record 5: only two reviewers
        f = screening_agreement(s, "title-abstract").to_frame()
        assert list(f["method"]) == ["Cohen", "Cohen", "Cohen", "Fleiss"]
        fl = f.iloc[3]
        assert fl["n"] == 5 and fl["n_left_out"] == 1
        counts = [[3, 0, 0], [2, 1, 0], [0, 3, 0], [0, 3, 0], [1, 2, 0]]  # record 5 left out
        assert fl["kappa"] == pytest.approx(fleiss_kappa(counts).kappa)
        assert fl["ci_lb"] is None
        assert screening_agreement(s, "full-text").to_frame().empty
    finally:
        s.close()


def test_counted_decisions_peek_and_revise_and_single_screening():
    """The decision agreement counts (records.screening.counted_decisions, shared with the
    web app's index and its decision lock through decisions_visible): as it stood when the
    reviewer could first see another's decision; a lone decision under single screening
    (need = 1) stays the reviewer's own to change until another decision comes."""
    from evsynth.records.screening import counted_decisions, decisions_visible

    ta = "title-abstract"
    # dual screening: ann's change after the conflict does not count; cy's late first
    # decision counts, her revision does not
    seq = [("bob", "include", None), ("ann", "exclude", "x"), ("ann", "include", None),
           ("cy", "exclude", "x"), ("cy", "include", None)]
    assert counted_decisions("g", ta, seq, 2) == {"bob": "include", "ann": "exclude",
                                                 "cy": "exclude"}
    # pending: the latest counts
    assert counted_decisions("g", ta, [("ann", "exclude", "x"), ("ann", "include", None)],
                             2) == {"ann": "include"}
    # single screening: ann alone may change her mind; once bob decides, both are fixed
    seq1 = [("ann", "exclude", "x"), ("ann", "include", None), ("bob", "exclude", "x"),
            ("ann", "exclude", "x"), ("bob", "include", None)]
    assert counted_decisions("g", ta, seq1, 1) == {"ann": "include", "bob": "exclude"}
    row = {"status": "decided", "n_decisions": 1}
    assert not decisions_visible(row)
    assert decisions_visible({"status": "decided", "n_decisions": 2})
    assert decisions_visible({"status": "conflict", "n_decisions": 2})
    assert decisions_visible({"status": "resolved", "n_decisions": 0})
    assert not decisions_visible({"status": "pending", "n_decisions": 1})
