"""`evsynth validate` checks the records stage (issue 11, point 1): `[screening]` and
`[[search]]` are part of the one review.toml schema; with a records store, every study of
studies.csv must trace to an included report and every included report to a study."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from records_store_helpers import EXAMPLE, build_example_store, copy_example, drop_link

from evsynth.cli import main
from evsynth.records.store import Store
from evsynth.review.load import load_review


def _validate(folder: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(["validate", str(folder)])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def vp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_example_store(tmp_path_factory.mktemp("validate") / "vertebroplasty")


def test_screening_table_no_longer_makes_validate_fail(tmp_path, capsys):
    # the example's review.toml holds [[search]] and [screening] (no store yet)
    assert "[screening]" in (EXAMPLE / "review.toml").read_text(encoding="utf-8")
    rc, out, err = _validate(copy_example(tmp_path / "vp"), capsys)
    assert rc == 0, err
    assert "no records store" in out


def test_both_spellings_of_the_search_table(tmp_path, capsys):
    folder = copy_example(tmp_path / "vp")
    toml = folder / "review.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("[[search]]", "[[searches]]"),
                    encoding="utf-8")
    assert main(["validate", str(folder)]) == 0
    cfg = load_review(folder).config
    assert cfg.searches[0].files == ("records/trial_reports.ris",)
    assert cfg.screening.reviewers == ("R1", "R2")
    toml.write_text(toml.read_text(encoding="utf-8") + '\n[[search]]\ndatabase = "X"\n',
                    encoding="utf-8")
    rc, _out, err = _validate(folder, capsys)
    assert rc == 2 and "both [[search]] and [[searches]]" in err


@pytest.mark.parametrize("old, new, msg", [
    ("reviewers = [", "reviewer = [", "unknown key 'reviewer'"),
    ('files = ["records/trial_reports.ris"]', 'files = ["records/trial_reports.ris"]\n'
     'date_searched = "31/07/2011"', "date_searched"),
    ('database = "Trial reports typed from the publications"', 'database = ""',
     "key 'database'"),
    ('reviewers = ["R1", "R2"]', 'reviewers = ["R1", "R1"]', "lists 'R1' twice"),
])
def test_bad_records_keys_are_errors_naming_the_key(tmp_path, capsys, old, new, msg):
    folder = copy_example(tmp_path / "vp")
    toml = folder / "review.toml"
    text = toml.read_text(encoding="utf-8")
    assert old in text
    toml.write_text(text.replace(old, new), encoding="utf-8")
    rc, _out, err = _validate(folder, capsys)
    assert rc == 2 and msg in err and "review.toml" in err
    assert "Traceback" not in err


def test_missing_export_file_is_an_error(tmp_path, capsys):
    folder = copy_example(tmp_path / "vp")
    (folder / "records" / "trial_reports.ris").unlink()
    rc, _out, err = _validate(folder, capsys)
    assert rc == 2
    assert "records/trial_reports.ris" in err and "does not exist" in err


def test_example_with_its_store_validates(vp, capsys):
    rc, out, err = _validate(vp, capsys)
    assert rc == 0, err
    assert ("records: 19 records in evsynth.sqlite from 1 search(es); 19 screened, 17 full "
            "texts assessed, 2 excluded; 15 reports of 11 studies included") in out
    assert "11 of 11 studies in studies.csv trace to an included report; consistency OK" in out
    assert "Cohen's kappa 0.55" in out and "Cohen's kappa 0.77" in out
    assert "warning" not in out + err


def test_study_without_included_report_is_a_warning(vp, tmp_path, capsys):
    folder = tmp_path / "vp"
    shutil.copytree(vp, folder)
    studies = folder / "studies.csv"
    studies.write_text(studies.read_text(encoding="utf-8") + "Nobody 2021,Nobody 2021,2021,"
                       "vp_vs_placebo,randomised trial" + "," * 13 + "\n", encoding="utf-8")
    rc, out, err = _validate(folder, capsys)
    assert rc == 0, err
    assert ("warning: " + str(folder / "studies.csv") + ": study 'Nobody 2021' has no included "
            "report in evsynth.sqlite") in out
    assert ("11 of 12 studies in studies.csv trace to an included report; consistency "
            "mismatches") in out


def test_included_report_without_study_is_a_warning(tmp_path, capsys):
    folder = build_example_store(tmp_path / "vp", drop_link("Wang 2016"))
    rc, out, err = _validate(folder, capsys)
    assert rc == 0, err
    assert ("warning: evsynth.sqlite: included report 'trial_reports.ris:14' (Wang 2016) is "
            "linked to no study") in out
    assert "study 'Wang 2016' has no included report" in out
    assert "consistency mismatches" in out


def test_link_to_a_study_not_in_studies_csv_is_an_error(vp, tmp_path, capsys):
    folder = tmp_path / "vp"
    shutil.copytree(vp, folder)
    with Store(folder) as store:
        store.link_study("trial_reports.ris:14", "Wang 2017")
    rc, out, err = _validate(folder, capsys)
    assert rc == 2 and out == ""
    assert ("evsynth.sqlite: report 'trial_reports.ris:14' is linked to study 'Wang 2017', "
            "which is not in") in err
    assert "Traceback" not in err


def test_report_lists_the_mismatches(tmp_path):
    from evsynth.reports.records_html import records_html, records_markdown
    from evsynth.review.records_section import records_section

    folder = build_example_store(tmp_path / "vp", drop_link("Wang 2016"))
    sec = records_section(load_review(folder), svg=False)
    assert sec is not None
    c = sec["consistency"]
    assert not c["ok"] and c["studies_without_report"] == ["Wang 2016"]
    assert [r["record_id"] for r in c["reports_without_study"]] == ["trial_reports.ris:14"]
    html = records_html(sec)
    assert "Mismatches between studies.csv and the included reports" in html
    assert "Study Wang 2016 (studies.csv) has no included report linked to it." in html
    assert "Included report Wang 2016 (trial\\_reports.ris:14) is linked to no study" in (
        records_markdown(sec))


def test_damaged_store_is_an_input_error(tmp_path, capsys):
    folder = copy_example(tmp_path / "vp")
    (folder / "evsynth.sqlite").write_bytes(b"not a database " * 100)
    rc, out, err = _validate(folder, capsys)
    assert rc == 2 and out == ""
    assert "evsynth.sqlite: cannot read the records store (file is not a database)" in err
    assert "Traceback" not in err


def test_records_mismatches_reach_the_run_warnings(tmp_path):
    """The records checks' warnings are also run warnings (printed by `evsynth run`, listed in
    results.json's ``warnings``), prefixed "records: "."""
    import evsynth.review as rv

    folder = build_example_store(tmp_path / "vp", drop_link("Wang 2016"))
    warnings = rv.analyse(rv.load(folder)).to_dict()["warnings"]
    records = [w for w in warnings if w.startswith("records: ")]
    assert any("Wang 2016" in w and "no included" in w for w in records), records
