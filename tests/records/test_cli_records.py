"""Tests of ``evsynth records ...`` and ``evsynth screen`` (in-process through cli.main)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evsynth.cli import main
from evsynth.records.store import Store

SHARED_RECORDS = Path(__file__).resolve().parents[3] / "shared" / "data" / "records"
PUBMED = SHARED_RECORDS / "medline" / "revtools_restoration" / "restoration_pubmed.nbib"
SCOPUS = SHARED_RECORDS / "ris" / "revtools_restoration" / "restoration_scopus.ris"
# independent counts of the real files: PMID- lines in the .nbib, "TY  - " lines in the .ris
N_PUBMED, N_SCOPUS = 104, 286

TOML = """
[[searches]]
database = "MEDLINE"
interface = "PubMed"
date_searched = 2019-02-01
files = ["searches/restoration_pubmed.nbib"]

[[searches]]
database = "Scopus"
files = ["searches/restoration_scopus.ris"]

[[searches]]
database = "ClinicalTrials.gov"
kind = "register"
files = ["searches/ctgov.ris"]

[screening]
exclusion_reasons_title_abstract = ["not a randomised trial", "off topic"]
exclusion_reasons_full_text = ["wrong comparator", "wrong outcome", "not retrieved"]
reviewers = ["AB", "CD"]
highlight_terms = ["restoration"]

[synthesis]
measure = "SMD"   # another layer's section: ignored here
"""

CTGOV = (
    "TY  - JOUR\n"
    "TI  - A randomised trial of wetland restoration\n"
    "AU  - Doe, Jane\n"
    "PY  - 2018\n"
    "ER  - \n"
    "\n"
    "TY  - JOUR\n"
    "TI  - Grassland restoration: protocol of a randomised trial\n"
    "AU  - Roe, Richard\n"
    "PY  - 2017\n"
    "ER  - \n"
)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def review(tmp_path):
    if not PUBMED.exists() or not SCOPUS.exists():
        pytest.skip("../shared/data/records is not present")
    d = tmp_path / "review"
    (d / "searches").mkdir(parents=True)
    shutil.copy(PUBMED, d / "searches")
    shutil.copy(SCOPUS, d / "searches")
    (d / "searches" / "ctgov.ris").write_text(CTGOV, encoding="utf-8")
    (d / "review.toml").write_text(TOML, encoding="utf-8")
    return d


def test_independent_counts():
    if not PUBMED.exists():
        pytest.skip("../shared/data/records is not present")
    assert PUBMED.read_text(encoding="utf-8").count("\nPMID-") + \
        PUBMED.read_text(encoding="utf-8").startswith("PMID-") == N_PUBMED
    assert SCOPUS.read_text(encoding="utf-8-sig").count("TY  - ") == N_SCOPUS


def test_import_from_review_toml_and_idempotent(capsys, review):
    code, out, err = run(capsys, "records", "import", review)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].endswith(f"restoration_pubmed.nbib: {N_PUBMED} records read [MEDLINE]")
    assert lines[1].endswith(f"restoration_scopus.ris: {N_SCOPUS} records read [Scopus]")
    assert lines[2].endswith("ctgov.ris: 2 records read [ClinicalTrials.gov]")
    with Store(review) as s:
        assert s.n_records() == N_PUBMED + N_SCOPUS + 2
        imp = s.imports()
        assert dict(zip(imp["database"], imp["kind"], strict=True))["ClinicalTrials.gov"] == \
            "register"
        rec = s.records().set_index("record_id")
        assert rec.loc["restoration_pubmed.nbib:1", "source_database"] == "MEDLINE"
    code, out, _ = run(capsys, "records", "import", review)
    assert code == 0 and out.count("already imported") == 3
    with Store(review) as s:
        assert s.n_records() == N_PUBMED + N_SCOPUS + 2 and len(s.imports()) == 3


def test_import_explicit_files(capsys, review, tmp_path):
    f = review / "searches" / "restoration_pubmed.nbib"
    code, out, _ = run(capsys, "records", "import", review, f, "--database", "PubMed")
    assert code == 0 and out.strip() == f"{f}: {N_PUBMED} records read [PubMed]"
    # without --database, the [[searches]] entry listing the file names the database
    g = review / "searches" / "restoration_scopus.ris"
    code, out, _ = run(capsys, "records", "import", review, g)
    assert code == 0 and "[Scopus]" in out
    # a file no search lists and no --database: exit 2, nothing stored
    other = tmp_path / "other.ris"
    other.write_text(CTGOV.replace("wetland", "forest"), encoding="utf-8")
    code, _, err = run(capsys, "records", "import", review, other)
    assert code == 2 and "other.ris" in err and "--database" in err
    code, _, err = run(capsys, "records", "import", review, other, "--database", "X",
                       "--kind", "register")
    assert code == 0
    with Store(review) as s:
        assert s.imports()["kind"].tolist() == ["database", "database", "register"]


def test_import_bad_file_writes_nothing(capsys, review):
    pdf = review / "searches" / "fake.ris"
    pdf.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")
    good = review / "searches" / "restoration_pubmed.nbib"
    code, out, err = run(capsys, "records", "import", review, good, pdf, "--database", "M")
    assert code == 2 and "fake.ris" in err and "Traceback" not in err
    assert out == ""
    assert not (review / "evsynth.sqlite").exists()
    code, _, err = run(capsys, "records", "import", review, review / "missing.ris",
                       "--database", "M")
    assert code == 2 and "missing.ris" in err
    empty = review / "searches" / "empty.ris"
    empty.write_text("", encoding="utf-8")
    code, _, err = run(capsys, "records", "import", review, empty, "--database", "M")
    assert code == 2 and "empty.ris" in err
    code, _, err = run(capsys, "records", "import", review / "nope")
    assert code == 2 and "does not exist" in err


def test_import_bad_review_toml(capsys, tmp_path):
    (tmp_path / "review.toml").write_text("[[searches]]\nkind = 'database'\n", "utf-8")
    code, _, err = run(capsys, "records", "import", tmp_path)
    assert code == 2 and "database" in err and "review.toml" in err
    (tmp_path / "review.toml").write_text("[[searches\n", "utf-8")
    code, _, err = run(capsys, "records", "import", tmp_path)
    assert code == 2 and "not valid TOML" in err
    (tmp_path / "review.toml").write_text("[screening]\nreviewers = 'AB'\n", "utf-8")
    code, _, err = run(capsys, "records", "import", tmp_path)
    assert code == 2 and "no FILE given" in err


def test_dedup_status_screen_prisma(capsys, review, tmp_path):
    assert run(capsys, "records", "import", review)[0] == 0
    code, out, _ = run(capsys, "records", "status", review)
    assert code == 0
    assert f"MEDLINE: {N_PUBMED} records from 1 file(s)" in out
    assert "ClinicalTrials.gov (register): 2 records" in out
    assert "not deduplicated yet" in out
    code, out, err = run(capsys, "records", "dedup", review)
    assert code == 0, err
    n_total = N_PUBMED + N_SCOPUS + 2
    m = out.split(";")
    assert m[0] == f"{n_total} records"
    with Store(review) as s:
        groups = s.duplicate_groups()
        n_unique = len(set(groups.values()))
    assert f"{n_unique} unique after deduplication" in out
    assert n_unique < n_total  # the PubMed and Scopus exports overlap
    # screen three records as AB and CD through piped stdin
    for reviewer, keys in (("AB", "i\ne\n1\nm\nq\n"), ("CD", "i\ni\nm\nq\n")):
        proc = subprocess.run([sys.executable, "-m", "evsynth.cli", "screen", str(review),
                               "--stage", "title-abstract", "--reviewer", reviewer],
                              input=keys, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert f"[1/{n_unique}]" in proc.stdout and "3 decisions recorded" in proc.stdout
    code, out, _ = run(capsys, "records", "status", review)
    assert "(deduplicated)" in out
    assert "include 1, exclude 0, maybe 1" in out and "conflicts 1" in out
    assert "AB: 3 decided" in out and "CD: 3 decided" in out
    assert "agreement AB vs CD: n = 3, 66.7%" in out
    code, out, _ = run(capsys, "records", "conflicts", review)
    lines = out.strip().splitlines()
    assert len(lines) == 1 and "title-abstract" in lines[0]
    assert "AB: exclude (not a randomised trial), CD: include" in lines[0]
    rid = lines[0].split("\t")[0]
    code, _, err = run(capsys, "records", "resolve", review, rid, "--stage", "title-abstract",
                       "--decision", "exclude", "--reason", "too old", "--reviewer", "EF")
    assert code == 2 and "reason" in err
    code, out, _ = run(capsys, "records", "resolve", review, rid, "--stage", "title-abstract",
                       "--decision", "exclude", "--reason", "off topic", "--reviewer", "EF")
    assert code == 0
    code, out, _ = run(capsys, "records", "conflicts", review)
    assert out.strip() == "No unresolved conflicts."
    code, out, _ = run(capsys, "records", "status", review)
    assert "include 1, exclude 1, maybe 1" in out and "conflicts 0" in out
    # decisions round trip through CSV
    csv_path = tmp_path / "dec.csv"
    code, out, _ = run(capsys, "records", "decisions-export", review, csv_path)
    assert code == 0 and "7 decisions written" in out
    # PRISMA from the store
    out_dir = tmp_path / "prisma"
    code, out, err = run(capsys, "records", "prisma", review, "--out", out_dir, "--title", "T")
    assert code == 0, err
    counts = json.loads((out_dir / "prisma_counts.json").read_text())
    assert counts["identification"]["databases"] == {"MEDLINE": N_PUBMED, "Scopus": N_SCOPUS}
    assert counts["identification"]["registers"] == {"ClinicalTrials.gov": 2}
    assert counts["removed_before_screening"]["duplicates"] == n_total - n_unique
    assert counts["screening"]["records_screened"] == n_unique
    assert counts["screening"]["reports_sought"] == 2  # include + maybe agreed
    assert counts["pending"]["title_abstract_conflicts"] == 0
    assert counts["screening"]["records_excluded"] == 1
    assert (out_dir / "prisma.svg").stat().st_size > 0
    assert (out_dir / "prisma.png").read_bytes()[:4] == b"\x89PNG"


def test_decisions_import_cli(capsys, review, tmp_path):
    run(capsys, "records", "import", review)
    good = tmp_path / "good.csv"
    good.write_text("record_id,stage,reviewer,decision,reason\n"
                    "restoration_pubmed.nbib:1,title-abstract,AB,exclude,off topic\n"
                    "restoration_pubmed.nbib:2,title-abstract,AB,include,\n", encoding="utf-8")
    code, out, _ = run(capsys, "records", "decisions-import", review, good)
    assert code == 0 and "2 decisions imported" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("record_id,stage,reviewer,decision,reason\n"
                   "restoration_pubmed.nbib:3,title-abstract,AB,include,\n"
                   "restoration_pubmed.nbib:4,title-abstract,AB,exclude,too old\n",
                   encoding="utf-8")
    code, _, err = run(capsys, "records", "decisions-import", review, bad)
    assert code == 2 and "bad.csv, line 3" in err and "reason" in err
    bad.write_text("record_id,stage,reviewer,decision\nnot-a-record,title-abstract,AB,include\n",
                   encoding="utf-8")
    code, _, err = run(capsys, "records", "decisions-import", review, bad)
    assert code == 2 and "line 2" in err and "not-a-record" in err
    with Store(review) as s:
        assert len(s.decision_history()) == 2


def test_retrieval_and_link_study_cli(capsys, review):
    run(capsys, "records", "import", review)
    rid = "restoration_pubmed.nbib:5"
    code, out, _ = run(capsys, "records", "retrieval", review, rid, "--not-retrieved",
                       "--by", "AB")
    assert code == 0 and "not retrieved" in out
    code, out, _ = run(capsys, "records", "link-study", review, rid, "Smith 2019")
    assert code == 0
    with Store(review) as s:
        assert s.retrieval() == {rid: "not retrieved"}
        assert s.study_links() == {rid: "Smith 2019"}
    code, _, err = run(capsys, "records", "link-study", review, "nope:1", "S")
    assert code == 2 and "nope:1" in err
    # with a studies.csv, ids must be listed there
    (review / "studies.csv").write_text("study_id,year\nSmith 2019,2019\nJones 2020,2020\n",
                                        encoding="utf-8")
    code, _, err = run(capsys, "records", "link-study", review, rid, "Brown 2018")
    assert code == 2 and "studies.csv" in err and "Brown 2018" in err
    assert run(capsys, "records", "link-study", review, rid, "Jones 2020")[0] == 0
    with Store(review) as s:
        assert s.study_links() == {rid: "Jones 2020"}


def test_commands_need_a_store(capsys, tmp_path):
    for argv in (("records", "status", tmp_path), ("records", "dedup", tmp_path),
                 ("records", "prisma", tmp_path, "--out", tmp_path / "o"),
                 ("screen", tmp_path, "--stage", "title-abstract", "--reviewer", "AB")):
        code, _, err = run(capsys, *argv)
        assert code == 2 and "evsynth.sqlite" in err, argv
    assert not (tmp_path / "evsynth.sqlite").exists()


def test_screen_unknown_reviewer(capsys, review):
    run(capsys, "records", "import", review)
    code, _, err = run(capsys, "screen", review, "--stage", "title-abstract", "--reviewer", "ZZ")
    assert code == 2 and "'ZZ'" in err and "reviewers" in err
