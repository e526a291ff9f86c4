"""Hostile inputs found by fuzzing `evsynth validate` / `evsynth run`: each gives a clear
InputError (exit 2) naming the file or path and what was expected, never the CLI's "internal
error" (exit 1) or a traceback, and `validate` and `run` agree."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from review_helpers import OUTCOMES, make_review

from cli_helpers import assert_clean_error, cli
from evsynth.errors import InputError
from evsynth.review.load import MAX_COUNT, load_review, read_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "antibiotic_prophylaxis"


@pytest.fixture
def example(tmp_path) -> Path:
    """A copy of examples/antibiotic_prophylaxis (the fuzzer's seed)."""
    import shutil

    d = tmp_path / "review"
    shutil.copytree(EXAMPLE, d, ignore=shutil.ignore_patterns("output"))
    return d


# --------------------------------------------------------------- 1: empty risk_of_bias.csv
@pytest.mark.parametrize("content", [b"", b"\n\n", b"\xef\xbb\xbf"])
def test_empty_risk_of_bias_csv_is_named(example, capsys, content):
    rob = example / "risk_of_bias.csv"
    rob.write_bytes(content)
    for command in ("validate", "run"):
        code, _, err = cli(capsys, command, example, *(["--quiet"] if command == "run" else []))
        assert_clean_error(code, err)
        assert f"{rob}: the file is empty; expected a header row with the columns study, " \
               "domain, judgement" in err
    assert not (example / "output").exists()


def test_risk_of_bias_csv_header_only_works_and_missing_columns_are_named(example, capsys):
    rob = example / "risk_of_bias.csv"
    rob.write_text("study,outcome,domain,judgement,support\n", encoding="utf-8")
    code, out, err = cli(capsys, "validate", example)
    assert code == 0, err
    assert "risk of bias" in out
    rob.write_text("study,outcome,domain\nKerver 1988,,D1\n", encoding="utf-8")
    code, _, err = cli(capsys, "validate", example)
    assert_clean_error(code, err)
    assert f"{rob}: line 1 (header): missing column(s) 'judgement'" in err


def test_load_risk_of_bias_empty_studies_csv(tmp_path):
    from evsynth.reports.rob import load_risk_of_bias

    (tmp_path / "studies.csv").write_bytes(b"")
    with pytest.raises(InputError, match=r"studies.csv: the file is empty; expected a header "
                                         r"row with the columns study_id"):
        load_risk_of_bias(tmp_path)


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="symlinks")
def test_risk_of_bias_csv_symlinked_out_is_refused(example, tmp_path, capsys):
    secret = tmp_path / "secret.csv"
    secret.write_text("study,domain,judgement\nKerver 1988,D1,low\n", encoding="utf-8")
    (example / "risk_of_bias.csv").symlink_to(secret)
    code, _, err = cli(capsys, "validate", example)
    assert_clean_error(code, err)
    assert "outside the review folder" in err


# --------------------------------------------------------------- 2: deeply nested TOML
@pytest.mark.parametrize("tail", ["x = " + "[" * 3000, "x = " + "[" * 3000 + "]" * 3000,
                                  "x = " + "{a = " * 3000])
def test_deeply_nested_review_toml(example, capsys, tail):
    toml = example / "review.toml"
    with open(toml, "a", encoding="utf-8") as fh:
        fh.write("\n" + tail + "\n")
    # every command that reads review.toml (one parse: records.settings.parse_toml)
    for command in (("validate",), ("run",), ("search", "list"), ("records", "import")):
        code, _, err = cli(capsys, *command, example)
        assert_clean_error(code, err)
        assert f"{toml}: not valid TOML" in err and "nested too deeply" in err, command
    cfg, errors = read_config(toml, toml.read_bytes())
    assert cfg is None and len(errors) == 1
    assert sys.getrecursionlimit() >= 1000  # the handler did not change the limit


# --------------------------------------------------------------- 3: --out "" and friends
def test_run_out_empty_is_refused(example, tmp_path, capsys, monkeypatch):
    here = tmp_path / "elsewhere"
    here.mkdir()
    monkeypatch.chdir(here)
    code, _, err = cli(capsys, "run", example, "--out", "", "--quiet")
    assert_clean_error(code, err)
    assert "--out '': empty; expected a folder path" in err
    assert here.is_dir() and sorted(tmp_path.iterdir()) == [here, example]
    assert list(here.iterdir()) == []


@pytest.mark.parametrize("name", [".", "..", "/", "sub/..", "{cwd}", "{cwd}/..", "./"])
def test_run_out_current_folder_or_above_is_refused(example, tmp_path, capsys, monkeypatch,
                                                    name):
    here = tmp_path / "elsewhere"
    (here / "sub").mkdir(parents=True)
    monkeypatch.chdir(here)
    code, _, err = cli(capsys, "run", example, "--out", name.format(cwd=here), "--quiet")
    assert_clean_error(code, err)
    assert "--out " in err
    assert ("expected a path ending in a folder name" in err
            or "current folder" in err), err
    assert sorted(p.name for p in here.iterdir()) == ["sub"]
    assert not list(tmp_path.glob(".*"))  # no temporary or .old- folder anywhere


def test_run_out_review_folder_ancestor_still_refused(example, capsys):
    code, _, err = cli(capsys, "run", example, "--out", example.parent, "--quiet")
    assert_clean_error(code, err)
    assert "would replace the review folder" in err


# --------------------------------------------------------------- 4: --out under a file
@pytest.mark.parametrize("sub", ["studies.csv/out", "studies.csv/a/b"])
def test_run_out_under_a_file(example, capsys, sub):
    code, _, err = cli(capsys, "run", example, "--out", example / sub, "--quiet")
    assert_clean_error(code, err)
    assert f"--out {example / sub}: {example / 'studies.csv'} is a file, not a folder" in err
    assert (example / "studies.csv").is_file()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_run_out_that_cannot_be_created(review_dir, capsys):
    code, _, err = cli(capsys, "run", review_dir, "--out", "/proc/x", "--quiet")
    assert_clean_error(code, err)
    assert "cannot create the output folder /proc/x" in err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="POSIX permissions (root writes anywhere)")
def test_run_out_in_a_read_only_folder(review_dir, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code, _, err = cli(capsys, "run", review_dir, "--out", ro / "a" / "out", "--quiet")
    finally:
        ro.chmod(0o755)
    assert_clean_error(code, err)
    assert f"no permission to write in {ro}" in err


def test_run_os_error_while_writing_names_the_output(review_dir, tmp_path, capsys,
                                                     monkeypatch):
    from evsynth.review import pipeline

    out = tmp_path / "out"

    def fail(results, out_dir, **kw):
        raise OSError(28, "No space left on device", str(out.parent / ".out.tmp-0123"))

    monkeypatch.setattr(pipeline, "write_output", fail)
    code, _, err = cli(capsys, "run", review_dir, "--out", out, "--quiet")
    assert_clean_error(code, err)
    assert f"cannot create the output folder {out}: No space left on device" in err

    def fail_elsewhere(results, out_dir, **kw):
        raise PermissionError(13, "Permission denied", "/some/input.csv")

    monkeypatch.setattr(pipeline, "write_output", fail_elsewhere)
    code, _, err = cli(capsys, "run", review_dir, "--out", out, "--quiet")
    assert_clean_error(code, err)
    assert "/some/input.csv: Permission denied" in err


# --------------------------------------------------------------- 7: counts above 2^53
def test_count_above_2_53_fails_validate_naming_file_line_and_column(example, capsys):
    path = example / "outcomes.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[1].startswith('"Kerver 1988"') and ",5,49," in lines[1]
    lines[1] = lines[1].replace(",5,49,", ",5,999999999999999999999999999999,")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for command in ("validate", "run"):
        code, _, err = cli(capsys, command, example)
        assert_clean_error(code, err)
        assert f"{path}: line 2 (study 'Kerver 1988'): field 'total' is " \
               "999999999999999999999999999999; expected a whole number <= 2^53" in err
        assert "n1i" not in err


@pytest.mark.parametrize("field", ["n", "total", "n_intervention"])
def test_count_limit_is_2_53(tmp_path, field):
    rows = [dict(r) for r in OUTCOMES]
    i = next(j for j, r in enumerate(rows) if field in r)
    rows[i][field] = MAX_COUNT
    load_review(make_review(tmp_path / "ok", outcomes=rows))  # 2^53 itself is exact
    rows[i][field] = MAX_COUNT + 1
    d = make_review(tmp_path / "r", outcomes=rows)
    with pytest.raises(InputError, match=rf"outcomes.csv: line {i + 2} \(study '\w+'\): field "
                                         rf"'{field}' is {MAX_COUNT + 1}; expected a whole "
                                         r"number <= 2\^53"):
        load_review(d)


def test_study_sizes_above_2_53_are_named(tmp_path):
    from review_helpers import STUDIES

    studies = [dict(s) for s in STUDIES]
    studies[2]["n_randomised"] = str(10**30)
    d = make_review(tmp_path / "r", studies=studies)
    with pytest.raises(InputError, match=r"studies.csv: line 4 \(study 'S3'\): field "
                                         r"'n_randomised' is 10{30}"):
        load_review(d)


# --------------------------------------------------------------- 8: [[search]] files
SEARCH = '\n[[search]]\ndatabase = "MEDLINE"\ninterface = "PubMed"\nquery = "x"\nfiles = [{}]\n'


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "searches/../../x.ris"])
def test_run_refuses_search_files_outside_like_validate(example, capsys, name):
    with open(example / "review.toml", "a", encoding="utf-8") as fh:
        fh.write(SEARCH.format(f'"{name}"'))
    messages = []
    for command in ("validate", "run"):
        code, _, err = cli(capsys, command, example)
        assert_clean_error(code, err)
        assert "review.toml" in err and f"'{name}'" in err and "'files'" in err
        assert "outside the review folder" in err
        messages.append(err)
    assert messages[0] == messages[1]  # one check, one message
    assert not (example / "output").exists()
    with pytest.raises(InputError, match="outside the review folder"):
        load_review(example)


def test_search_files_inside_still_load(example, capsys):
    (example / "searches").mkdir()
    (example / "searches" / "medline.ris").write_text("TY  - JOUR\nTI  - A\nER  - \n",
                                                       encoding="utf-8")
    with open(example / "review.toml", "a", encoding="utf-8") as fh:
        fh.write(SEARCH.format('"searches/medline.ris"'))
    assert load_review(example).config.searches[0].files == ("searches/medline.ris",)
    code, _, err = cli(capsys, "validate", example)
    assert code == 0, err


def test_api_run_refuses_the_same_output_paths_as_the_cli(example, tmp_path, monkeypatch):
    """evsynth.review.run(out_dir=...) gets the --out checks too (files.check_output_folder)."""
    from evsynth.review.pipeline import run

    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    for out, msg in ((".", "expected a path ending in a folder name"),
                     ("", "expected a path ending in a folder name"),
                     (str(here), "is the current folder"),
                     (str(tmp_path), "holds the current folder"),
                     (str(example / "studies.csv" / "out"), "is a file, not a folder")):
        with pytest.raises(InputError, match=msg):
            run(example, out, quiet=True)
    assert list(here.iterdir()) == []
    if Path("/proc/self").is_dir():  # a folder no one can create anything in
        with pytest.raises(InputError, match=r"cannot create the output folder /proc/x"):
            run(example, "/proc/x", quiet=True)
    run(example, here / "out", quiet=True)
    assert (here / "out" / "results.json").is_file()


def test_a_short_row_is_refused_like_a_long_one(tmp_path, capsys):
    """A studies.csv or outcomes.csv row with fewer cells than the header was padded silently
    (a missing separator shifts the values into other columns); a longer row was refused."""
    d = make_review(tmp_path / "review")
    lines = (d / "studies.csv").read_text(encoding="utf-8").splitlines()
    n_cols = len(lines[0].split(","))
    lines[1] = ",".join(lines[1].split(",")[:2])
    (d / "studies.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = cli(capsys, "validate", d)
    assert_clean_error(code, err)
    assert f"studies.csv: line 2: 2 cells for the {n_cols} header columns" in err


def test_the_risk_of_bias_file_name_has_one_value():
    from evsynth.reports.rob import LONG_FILE
    from evsynth.review.load import ROB_FILE

    assert ROB_FILE == LONG_FILE


def test_review_toml_with_a_byte_order_mark_reads_alike_in_every_command(example, capsys):
    """validate accepted a review.toml starting with a UTF-8 byte-order mark, while the records
    and search commands called it not valid TOML."""
    toml = example / "review.toml"
    toml.write_bytes(b"\xef\xbb\xbf" + toml.read_bytes())
    for command in (("validate",), ("search", "list")):
        code, _, err = cli(capsys, *command, example)
        assert code == 0, (command, err)
