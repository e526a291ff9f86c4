"""The records store feeds results.json and the report (issue 11, point 2): search table,
PRISMA 2020 counts and diagram, screening agreement, excluded studies, reports per study.

The PRISMA counts are checked against counts computed here directly from the SQLite store with
SQL (independently of evsynth.records.prisma), and against the numbers of the example's input
files (19 records typed from the publications, 2 excluded on title and abstract, 2 full texts
excluded, 15 reports of 11 studies included)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from records_store_helpers import build_example_store, copy_example

from evsynth.cli import main
from evsynth.errors import InputError
from evsynth.reports.records_html import records_html, records_markdown
from evsynth.review.load import load_review
from evsynth.review.records_section import citation, records_section, study_label


@pytest.fixture(scope="module")
def vp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_example_store(tmp_path_factory.mktemp("records") / "vertebroplasty")


@pytest.fixture(scope="module")
def section(vp: Path) -> dict:
    sec = records_section(load_review(vp))
    assert sec is not None
    return sec


@pytest.fixture(scope="module")
def results(vp: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("run") / "out"
    assert main(["run", str(vp), "--out", str(out), "--quiet"]) == 0
    return json.loads((out / "results.json").read_text(encoding="utf-8")) | {
        "_out": str(out)}


# ------------------------------------------------------------------ counts straight from SQL
def _sql_counts(db: Path) -> dict:
    """PRISMA counts by SQL on the store file (latest decision per record, stage, reviewer and
    kind; a resolution settles a record; otherwise both reviewers must agree)."""
    con = sqlite3.connect(db)
    q = con.execute
    n_records = q("SELECT COUNT(*) FROM records").fetchone()[0]
    per_db = dict(q("SELECT i.database, COUNT(r.id) FROM imports i JOIN records r "
                    "ON r.import_id = i.import_id GROUP BY i.database").fetchall())
    # duplicate groups: a record without a duplicates row is its own group
    n_groups = q("SELECT COUNT(DISTINCT COALESCE(d.group_id, 'self:' || r.record_id)) "
                 "FROM records r LEFT JOIN duplicates d ON d.record_id = r.record_id"
                 ).fetchone()[0]
    latest = q("""
        SELECT s.record_id, s.stage, s.reviewer, s.kind, s.decision, s.reason
        FROM screening_decisions s
        WHERE s.decision_id = (SELECT MAX(t.decision_id) FROM screening_decisions t
                               WHERE t.record_id = s.record_id AND t.stage = s.stage
                               AND t.reviewer = s.reviewer AND t.kind = s.kind)""").fetchall()
    final: dict[tuple[str, str], tuple[str, str | None]] = {}
    by: dict[tuple[str, str], list[tuple[str, str | None]]] = {}
    for rid, stage, _rev, kind, dec, reason in latest:
        if kind == "resolution":
            final[rid, stage] = (dec, reason)
        else:
            by.setdefault((rid, stage), []).append((dec, reason))
    for key, ds in by.items():
        if key not in final and len(ds) == 2 and len({d for d, _ in ds}) == 1:
            final[key] = ds[0]
    ta = {rid: v for (rid, st), v in final.items() if st == "title-abstract"}
    ft = {rid: v for (rid, st), v in final.items() if st == "full-text"}
    sought = [r for r, (d, _) in ta.items() if d in ("include", "maybe")]
    ft_excluded = [r for r in sought if r in ft and ft[r][0] == "exclude"]
    included = [r for r in sought if r in ft and ft[r][0] == "include"]
    reasons: dict[str, int] = {}
    for r in ft_excluded:
        reasons[ft[r][1]] = reasons.get(ft[r][1], 0) + 1
    links = dict(q("SELECT record_id, study_id FROM study_links").fetchall())
    con.close()
    return {"total": n_records, "per_db": per_db, "duplicates": n_records - n_groups,
            "screened": n_groups,
            "records_excluded": sum(1 for d, _ in ta.values() if d == "exclude"),
            "sought": len(sought), "reports_excluded": len(ft_excluded),
            "reasons": reasons, "reports": len(included),
            "studies": len({links[r] for r in included if r in links})}


def _check_prisma(p: dict, sql: dict) -> None:
    assert p["identification"]["total"] == sql["total"]
    assert p["identification"]["databases"] == sql["per_db"]
    assert p["removed_before_screening"]["duplicates"] == sql["duplicates"]
    s = p["screening"]
    assert s["records_screened"] == sql["screened"]
    assert s["records_excluded"] == sql["records_excluded"]
    assert s["reports_sought"] == sql["sought"]
    assert s["reports_not_retrieved"] == 0
    assert s["reports_assessed"] == sql["sought"]
    assert s["reports_excluded"] == sql["reports_excluded"]
    assert s["reports_excluded_reasons"] == sql["reasons"]
    assert p["included"]["reports"] == sql["reports"]
    assert p["included"]["studies"] == sql["studies"]


def test_results_json_prisma_counts_equal_sql_counts_of_the_store(vp, results):
    assert "records" in results, "analyse() did not store the records section"
    sql = _sql_counts(vp / "evsynth.sqlite")
    _check_prisma(results["records"]["prisma"], sql)
    # the example's own numbers (review.toml, records/*.csv)
    assert (sql["total"], sql["records_excluded"], sql["sought"], sql["reports_excluded"],
            sql["reports"], sql["studies"]) == (19, 2, 17, 2, 15, 11)


def test_section_prisma_counts_equal_sql_counts(vp, section):
    _check_prisma(section["prisma"], _sql_counts(vp / "evsynth.sqlite"))
    assert all(v == 0 for v in section["prisma"]["pending"].values())


def test_search_table_counts_records_per_export_from_the_store(vp, section):
    (row,) = section["searches"]
    assert row["database"] == "Trial reports typed from the publications"
    assert row["exports"] == [{"file": "records/trial_reports.ris", "records": 19,
                               "imported": True}]
    assert row["records"] == 19 and row["query"] is None
    assert row["limits"].startswith("not a database search")
    assert section["imports_not_in_review_toml"] == []


def test_agreement_per_stage_is_cohens_kappa_of_the_two_reviewers(section):
    ta, ft = section["agreement"]
    # title-abstract, 19 records: R1 include 16 / maybe 1 / exclude 2; R2 include 14 /
    # maybe 1 / exclude 4; 16 agree. Cohen (1960): (po - pe) / (1 - pe)
    po, pe = 16 / 19, (16 * 14 + 1 * 1 + 2 * 4) / 19 ** 2
    assert ta["stage"] == "title-abstract" and ta["reviewers"] == "R1 and R2" and ta["n"] == 19
    assert ta["percent_agreement"] == pytest.approx(100 * po)
    assert ta["kappa"] == pytest.approx((po - pe) / (1 - pe), abs=1e-12)
    # full text, 17 reports: R1 include 15 / exclude 2; R2 include 14 / exclude 3
    po, pe = 16 / 17, (15 * 14 + 2 * 3) / 17 ** 2
    assert ft["stage"] == "full-text" and ft["n"] == 17
    assert ft["kappa"] == pytest.approx((po - pe) / (1 - pe), abs=1e-12)


def test_excluded_studies_with_reasons(section):
    ex = {x["study"]: x["reason"] for x in section["excluded_studies"]}
    assert ex == {"Diamond 2003": "not randomised",
                  "Staples 2011": "pooled analysis of included trials (no new participants)"}
    assert section["reports_not_retrieved"] == []


def test_reports_linked_per_included_study(vp, section):
    studies = {s["study_id"]: s for s in section["included_studies"]}
    assert list(studies) == [s.study_id for s in load_review(vp).studies]
    n = {sid: len(s["reports"]) for sid, s in studies.items()}
    assert n["Kallmes 2009"] == n["Klazen 2010"] == n["Wardlaw 2009"] == 2
    assert n["Firanescu 2018"] == 2 and sum(n.values()) == 15
    assert all(v >= 1 for v in n.values())
    kallmes = [r["study"] for r in studies["Kallmes 2009"]["reports"]]
    assert kallmes == ["Kallmes 2009", "Comstock 2013"]
    assert section["consistency"] == {
        "ok": True, "studies_without_report": [], "reports_without_study": [],
        "links_to_unknown_studies": [], "linked_reports_not_included": []}
    assert section["errors"] == [] and section["warnings"] == []


def test_section_is_json_safe(section):
    json.dumps(section, allow_nan=False)
    assert section["prisma_svg"].lstrip().startswith("<?xml") or "<svg" in section["prisma_svg"]


def test_report_html_and_md_show_the_records(results):
    out = Path(results["_out"])
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Search and selection of studies" in html
    assert 'aria-label="PRISMA 2020 flow diagram"' in html
    assert "Characteristics of excluded studies" in html and "Diamond 2003" in html
    assert "Comstock BA, Sitlani CM" in html
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "| Reports of included studies | 15 |" in text
    assert "Staples 2011" in text


def test_no_store_no_section(tmp_path):
    folder = copy_example(tmp_path / "vp")
    assert records_section(load_review(folder)) is None


def test_citation_and_label():
    rec = {"record_id": "x:1", "authors": [f"Author{i}, A.B." for i in range(8)], "year": 2001,
           "title": "A trial.", "journal": "J Test", "volume": "3", "issue": "2",
           "pages": "10-19", "doi": "10.1/x"}
    assert citation(rec) == ("Author0 AB, Author1 AB, Author2 AB, Author3 AB, Author4 AB, "
                             "Author5 AB, et al. A trial. J Test 2001;3(2):10-19. doi:10.1/x")
    assert study_label(rec) == "Author0 2001"
    assert study_label({"record_id": "x:2", "title": "Untitled"}) == "Untitled"


HOSTILE = '<script>alert(1)</script>"&|*_[x](javascript:y)'


def _hostile_section(section: dict) -> dict:
    sec = json.loads(json.dumps(section))
    sec["searches"][0]["database"] = HOSTILE
    sec["searches"][0]["query"] = HOSTILE
    sec["excluded_studies"][0]["reason"] = HOSTILE
    sec["included_studies"][0]["label"] = HOSTILE
    sec["included_studies"][0]["reports"][0]["citation"] = HOSTILE
    sec["prisma"]["identification"]["databases"] = {HOSTILE: 18}
    sec["prisma_svg"] = sec["prisma_svg"].replace(
        "</svg>", '<script>alert(2)</script><a href="https://x.org" onclick="y()">x</a></svg>')
    return sec


def test_html_escapes_every_string(section):
    html = records_html(_hostile_section(section))
    assert "<script" not in html and "onclick" not in html and "https://x.org" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;" in html
    assert html.count("<svg") == 1


def test_markdown_escapes_every_string(section):
    text = records_markdown(_hostile_section(section))
    assert "<script>" not in text
    assert "&lt;script&gt;" in text and "\\|" in text and "\\[x\\]" in text
    # table rows keep their number of cells
    row = next(ln for ln in text.splitlines() if ln.startswith("| Trial") or "alert(1)" in ln
               and ln.startswith("|"))
    assert row.replace("\\|", "").count("|") == 7


def test_bad_section_is_an_input_error():
    with pytest.raises(InputError, match="records section"):
        records_html({"searches": []})
