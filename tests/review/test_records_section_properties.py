"""Property tests of the records section: for any set of two reviewers' decisions and report
links, the PRISMA 2020 flow balances, the excluded-studies table has one row per report
excluded at full text, and the consistency lists are exactly the set differences between
studies.csv and the studies linked to included reports."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from records_store_helpers import copy_example

from evsynth import records
from evsynth.records.store import Store
from evsynth.review.load import load_review
from evsynth.review.records_section import records_section

N = 19  # records in examples/vertebroplasty/records/trial_reports.ris
DECISION = st.sampled_from(["include", "exclude", "maybe", None])
STUDIES = ["Kallmes 2009", "Clark 2016", "Wang 2016", "Unknown 2020", None]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ta=st.lists(st.tuples(DECISION, DECISION), min_size=N, max_size=N),
       ft=st.lists(st.tuples(DECISION, DECISION), min_size=N, max_size=N),
       links=st.lists(st.sampled_from(STUDIES), min_size=N, max_size=N))
def test_flow_balances_and_consistency_is_the_set_difference(ta, ft, links):
    with tempfile.TemporaryDirectory() as tmp:
        folder = copy_example(Path(tmp) / "vp")
        review = load_review(folder)
        ids = []
        with Store(folder) as store:
            df = records.read(folder / "records" / "trial_reports.ris", database="Typed")
            store.add_import(df, str(folder / "records" / "trial_reports.ris"), "Typed")
            ids = store.record_ids()
            rows = []
            for stage, pairs in (("title-abstract", ta), ("full-text", ft)):
                for rid, pair in zip(ids, pairs, strict=True):
                    for rev, dec in zip(("R1", "R2"), pair, strict=True):
                        if dec is None:
                            continue
                        reason = None
                        if dec == "exclude":
                            reason = ("not a randomised trial" if stage == "title-abstract"
                                      else "not randomised")
                        rows.append(dict(record_id=rid, stage=stage, decision=dec,
                                         reviewer=rev, reason=reason))
            store.add_decisions(rows)
            for rid, sid in zip(ids, links, strict=True):
                if sid is not None:
                    store.link_study(rid, sid)
        sec = records_section(review, svg=False)
    assert sec is not None
    p = sec["prisma"]
    s, pend = p["screening"], p["pending"]
    assert s["records_screened"] == N
    assert (s["records_excluded"] + s["reports_sought"] + pend["title_abstract_undecided"]
            + pend["title_abstract_conflicts"]) == N
    assert s["reports_assessed"] == s["reports_sought"] - s["reports_not_retrieved"]
    assert (s["reports_excluded"] + p["included"]["reports"] + pend["full_text_undecided"]
            + pend["full_text_conflicts"] + pend["full_text_awaiting"]) == s["reports_assessed"]
    assert len(sec["excluded_studies"]) == s["reports_excluded"]
    assert sum(s["reports_excluded_reasons"].values()) == s["reports_excluded"]
    # consistency = set differences
    study_ids = [x.study_id for x in review.studies]
    included = {r["record_id"] for st_ in sec["included_studies"] for r in st_["reports"]}
    included |= {r["record_id"] for r in sec["consistency"]["reports_without_study"]}
    included |= {u["record_id"] for u in sec["consistency"]["links_to_unknown_studies"]}
    assert len(included) == p["included"]["reports"]
    link = dict(zip(ids, links, strict=True))
    linked_studies = {link[r] for r in included if link[r] is not None}
    c = sec["consistency"]
    assert c["studies_without_report"] == [x for x in study_ids if x not in linked_studies]
    assert {r["record_id"] for r in c["reports_without_study"]} == {
        r for r in included if link[r] is None}
    assert {(u["record_id"], u["study_id"]) for u in c["links_to_unknown_studies"]} == {
        (r, link[r]) for r in included if link[r] is not None and link[r] not in study_ids}
    assert c["ok"] == (not c["studies_without_report"] and not c["reports_without_study"]
                       and not c["links_to_unknown_studies"])
