"""The screening page's incremental index (evsynth.web.screenindex) answers as the store-wide
computations of evsynth.records.screening do: eligible groups per stage (duplicates excluded,
full text after a passing title-abstract outcome), the reviewer's own decisions only (blind),
the next and previous records, progress counts; across decisions, resolutions, imports,
merges and splits made through the store (also by another Store object, as another process)."""

from __future__ import annotations

import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evsynth.records.agreement import agreement_table, screening_agreement
from evsynth.records.model import records_frame
from evsynth.records.prisma import prisma_counts, prisma_from_outcomes
from evsynth.records.screening import (
    counted_screens,
    decisions_visible,
    eligible_groups,
    latest_decisions,
    screening_table,
)
from evsynth.records.settings import STAGES, ScreeningSettings
from evsynth.records.store import Store
from evsynth.web.screenindex import ScreeningIndex

REVIEWERS = ("ann", "bob", "cy")


def records(n: int, file: str):
    return records_frame([dict(record_id=f"{file}:{i}", title=f"T{i}", source_file=file,
                               source_format="ris") for i in range(1, n + 1)])


def reference(store: Store, cfg: ScreeningSettings, stage: str, reviewer: str,
              rid: str | None, after: str | None):
    """The screening page's navigation computed from the whole store (the definition the
    web app used before the index)."""
    groups = store.duplicate_groups()
    eligible = eligible_groups(store, stage, cfg)
    eligible_set = set(eligible)
    h = store.decision_history(stage)
    mine: dict[str, dict] = {}
    for r in h[(h["reviewer"] == reviewer) & (h["kind"] == "screen")].sort_values(
            "decision_id").to_dict("records"):
        g = groups.get(r["record_id"], r["record_id"])
        mine.pop(g, None)
        mine[g] = dict(decision=r["decision"], reason=r["reason"], note=r["note"])
    done = [g for g in mine if g in eligible_set]
    todo = [g for g in eligible if g not in mine]
    if rid is not None:
        if rid not in eligible_set:
            return None
        current = rid
    elif after is not None and after in eligible_set:
        later = [g for g in eligible[eligible.index(after) + 1:] if g not in mine]
        current = later[0] if later else (todo[0] if todo else None)
    else:
        current = todo[0] if todo else None
    if current is not None and current in mine:
        order = list(mine)
        i = order.index(current)
        back = order[i - 1] if i > 0 else None
    else:
        back = done[-1] if done else None
    nxt = None
    if current is not None:
        rest = [g for g in eligible[eligible.index(current) + 1:] if g not in mine]
        nxt = rest[0] if rest else None
    members = sorted(k for k, g in groups.items() if g == current)
    return dict(current=current, back=back, next=nxt, n_eligible=len(eligible),
                n_done=len(done), n_todo=len(todo), mine=mine.get(current) if current else None,
                members=members)


def check_tables(store: Store, idx: ScreeningIndex, cfg: ScreeningSettings):
    """The progress, conflicts and agreement the web pages show, from the index, equal the
    store-wide tables of evsynth.records.screening and evsynth.records.agreement."""
    groups = store.duplicate_groups()
    assert idx.group_counts() == (len(groups), len(set(groups.values())))
    assert prisma_from_outcomes(store, **idx.prisma_inputs(cfg)) == prisma_counts(store, cfg)
    for stage in STAGES:
        tab = screening_table(store, stage, cfg)
        lat = latest_decisions(store, stage, kind="screen")
        eligible = set(tab["group_id"])
        got = idx.progress(cfg, stage)
        assert got["n"] == len(tab)
        assert got["final"] == {k: int(v) for k, v in tab["final"].value_counts().items()}
        assert got["pending"] == int((tab["status"] == "pending").sum())
        assert got["conflicts"] == int(tab["conflict"].sum())
        assert got["done"] == {str(rv): len(set(sub["group_id"]) & eligible)
                               for rv, sub in lat.groupby("reviewer")}
        want = [dict(r) for r in tab[tab["conflict"]].to_dict("records")]
        assert idx.conflicts(cfg, stage) == want
        by_rev: dict[str, dict[str, str]] = {}
        for r in lat.to_dict("records"):
            by_rev.setdefault(r["reviewer"], {})[r["group_id"]] = r["decision"]
        mine = idx.latest_screens(cfg, stage)
        assert mine == by_rev
        assert all(list(mine[rv]) == list(by_rev[rv]) for rv in by_rev)  # decision order
        # agreement: each decision as it stood when the others' could be seen
        # (records.screening.counted_decisions), the index's and the store-wide alike
        counted = idx.agreement_screens(cfg, stage)
        assert counted == counted_screens(store, stage, cfg)
        a = agreement_table({stage: counted}).frame
        b = screening_agreement(store, stage, settings=cfg).frame
        assert a.astype(str).equals(b.astype(str))


def check_all(store: Store, idx: ScreeningIndex, cfg: ScreeningSettings, probes: list[str]):
    check_tables(store, idx, cfg)
    for stage in STAGES:
        for who in REVIEWERS:
            for rid, after in [(None, None)] + [(p, None) for p in probes] \
                    + [(None, p) for p in probes]:
                want = reference(store, cfg, stage, who, rid, after)
                got = idx.state(cfg, stage, who, rid, after)
                if got is not None:
                    got["members"] = sorted(got["members"]) if got["current"] else []
                    del got["version"]  # what a ranking depends on (test_web_prioritised)
                    # locked: the reviewer decided the record and the reviewers may see one
                    # another's decisions (records.screening.decisions_visible)
                    locked = got.pop("locked")
                    tab = screening_table(store, stage, cfg).set_index("group_id")
                    assert locked == (got["mine"] is not None and decisions_visible(
                        tab.loc[got["current"]].to_dict()))
                assert got == want, (stage, who, rid, after)
                if rid is not None:
                    assert idx.is_eligible(cfg, stage, rid) == (want is not None)


op = st.one_of(
    st.tuples(st.just("decide"), st.sampled_from(STAGES), st.sampled_from(REVIEWERS),
              st.integers(0, 30), st.sampled_from(["include", "exclude", "maybe"]),
              st.sampled_from(["screen", "screen", "screen", "resolution"]),
              st.sampled_from([None, "wrong population", "wrong design"])),
    st.tuples(st.just("merge"), st.integers(0, 30), st.integers(0, 30)),
    st.tuples(st.just("split"), st.integers(0, 30)),
    st.tuples(st.just("import"), st.integers(1, 3)),
    st.tuples(st.just("need"), st.sampled_from([None, 1, 2, 3])),
)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(n=st.integers(3, 8), ops=st.lists(op, min_size=1, max_size=14), seed=st.integers(0, 99))
def test_index_matches_store_wide_screening(n, ops, seed):
    import random

    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as d:
        store = Store(d)
        other = Store(d)  # another writer (another process, the CLI)
        store.add_import(records(n, "a.ris"), "a.ris", "MEDLINE", sha256="a")
        idx = ScreeningIndex(store)
        cfg = ScreeningSettings(reviewers=("ann", "bob"))
        k = 0
        for o in ops:
            ids = store.record_ids()
            pick = lambda i, ids=ids: ids[i % len(ids)]  # noqa: E731
            w = rng.choice([store, other])
            if o[0] == "decide":
                _, stage, who, i, dec, kind, why = o
                w.add_decision(pick(i), stage, dec, who, reason=why if dec == "exclude" else None,
                               kind=kind, note=f"n{k}")
            elif o[0] == "merge" and pick(o[1]) != pick(o[2]):
                w.merge_records([pick(o[1]), pick(o[2])])
            elif o[0] == "split":
                w.split_record(pick(o[1]))
            elif o[0] == "import":
                w.add_import(records(o[1], f"b{k}.ris"), f"b{k}.ris", "Embase", sha256=f"b{k}")
            elif o[0] == "need":
                cfg = ScreeningSettings(reviewers=("ann", "bob"), reviewers_per_record=o[1])
            k += 1
            ids = store.record_ids()
            check_all(store, idx, cfg, rng.sample(ids, min(3, len(ids))))
        store.close()
        other.close()


def test_index_full_text_follows_title_abstract_outcomes(tmp_path):
    with Store(tmp_path) as store:
        store.add_import(records(5, "a.ris"), "a.ris", "MEDLINE", sha256="a")
        idx = ScreeningIndex(store)
        cfg = ScreeningSettings(reviewers=("ann", "bob"))
        ft = "full-text"
        assert idx.state(cfg, ft, "ann", None, None)["n_eligible"] == 0
        store.add_decision("a.ris:2", "title-abstract", "include", "ann")
        assert idx.state(cfg, ft, "ann", None, None)["n_eligible"] == 0  # one of two
        store.add_decision("a.ris:2", "title-abstract", "maybe", "bob")  # conflict
        assert idx.state(cfg, ft, "ann", None, None)["current"] is None
        store.add_decision("a.ris:2", "title-abstract", "include", "bob")  # agree now
        s = idx.state(cfg, ft, "ann", None, None)
        assert s["current"] == "a.ris:2" and s["n_eligible"] == 1
        store.add_decision("a.ris:2", "title-abstract", "exclude", "olga", kind="resolution")
        assert idx.state(cfg, ft, "ann", "a.ris:2", None) is None
        # one reviewer is enough when review.toml says so
        one = ScreeningSettings(reviewers=("ann", "bob"), reviewers_per_record=1)
        store.add_decision("a.ris:4", "title-abstract", "maybe", "bob")
        assert idx.state(one, ft, "ann", None, None)["current"] == "a.ris:4"
        assert idx.state(cfg, ft, "ann", None, None)["current"] is None
        # a duplicate of the passed record is not screened again
        store.merge_records(["a.ris:4", "a.ris:5"])
        s = idx.state(one, ft, "bob", None, None)
        assert s["current"] == "a.ris:4" and sorted(s["members"]) == ["a.ris:4", "a.ris:5"]
        assert idx.state(one, "title-abstract", "bob", "a.ris:5", None) is None


def test_index_tables_conflicts_reasons_and_resolutions(tmp_path):
    """Conflicts in decisions and (full text) in exclusion reasons, a resolution that settles
    one, a reviewer changing their mind (the order of the reviewers follows their latest
    decisions): the index's tables equal the store-wide ones, with the expected content."""
    with Store(tmp_path) as store:
        store.add_import(records(6, "a.ris"), "a.ris", "MEDLINE", sha256="a")
        idx = ScreeningIndex(store)
        cfg = ScreeningSettings(reviewers=("ann", "bob"))
        ta, ft = "title-abstract", "full-text"
        for rid in ("a.ris:1", "a.ris:2", "a.ris:3"):
            store.add_decision(rid, ta, "include", "ann")
            store.add_decision(rid, ta, "include", "bob")
        store.add_decision("a.ris:4", ta, "include", "ann")
        store.add_decision("a.ris:4", ta, "exclude", "bob", reason="wrong population")
        store.add_decision("a.ris:5", ta, "exclude", "bob", reason="wrong design")
        store.add_decision("a.ris:5", ta, "include", "ann")  # bob first, then ann
        store.add_decision("a.ris:5", ta, "exclude", "bob", reason="wrong design")  # bob again
        store.add_decision("a.ris:1", ft, "exclude", "ann", reason="wrong population")
        store.add_decision("a.ris:1", ft, "exclude", "bob", reason="wrong design")
        store.add_decision("a.ris:2", ft, "include", "ann")
        store.add_decision("a.ris:2", ft, "exclude", "bob", reason="wrong design")
        store.add_decision("a.ris:2", ft, "include", "olga", kind="resolution")
        store.set_retrieval("a.ris:3", "not retrieved")
        store.link_study("a.ris:2", "S1")
        check_tables(store, idx, cfg)
        counts = prisma_from_outcomes(store, **idx.prisma_inputs(cfg))
        assert counts["screening"]["reports_sought"] == 3
        assert counts["screening"]["reports_not_retrieved"] == 1
        assert counts["included"] == {"studies": 1, "reports": 1, "reports_unlinked": 0}
        assert counts["pending"]["full_text_conflicts"] == 1
        c_ta = idx.conflicts(cfg, ta)
        assert [r["group_id"] for r in c_ta] == ["a.ris:4", "a.ris:5"]
        assert list(c_ta[1]["decisions"]) == ["ann", "bob"]  # by their latest decisions
        assert c_ta[1]["reasons"] == {"ann": None, "bob": "wrong design"}
        c_ft = idx.conflicts(cfg, ft)
        assert [r["group_id"] for r in c_ft] == ["a.ris:1"]  # excluded for different reasons
        p = idx.progress(cfg, ft)
        assert p == dict(n=3, final={"include": 1}, pending=1, conflicts=1,
                         done={"ann": 2, "bob": 2})
        assert idx.progress(cfg, ft) == p  # cached: the same until a decision comes
        store.add_decision("a.ris:1", ft, "exclude", "ann", reason="wrong design")
        check_tables(store, idx, cfg)
        assert idx.conflicts(cfg, ft) == []
        assert idx.progress(cfg, ft)["final"] == {"include": 1, "exclude": 1}
