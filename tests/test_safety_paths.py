"""Issue 9, point 9: every path read from review.toml resolves (symlinks resolved) inside the
review folder, or it is an InputError (exit 2); no command replaces an existing user file
without --force; outputs go only to evsynth's own folders or a path named on the command line.
One test per rule, with '..', absolute paths and symlinks that point out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evsynth.cli import main
from evsynth.errors import InputError
from evsynth.files import check_overwrite, inside_folder
from evsynth.records.search import load_strategies
from evsynth.records.settings import read_settings
from evsynth.records.store import Store

RIS = "TY  - JOUR\nTI  - A trial\nPY  - 2001\nER  - \n"
DEAD_URL = "http://127.0.0.1:9/"  # nothing listens: a request would fail with exit 1

needs_symlinks = pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt",
                                    reason="symlinks not available")


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def layout(tmp_path):
    """tmp/outside/victim.txt (and victim.ris), tmp/review/searches/ok.ris."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("precious\n", encoding="utf-8")
    (outside / "victim.ris").write_text(RIS, encoding="utf-8")
    review = tmp_path / "review"
    (review / "searches").mkdir(parents=True)
    (review / "searches" / "ok.ris").write_text(RIS, encoding="utf-8")
    return review, outside


def _toml(review: Path, files: list[str], database: str = "MEDLINE") -> None:
    listed = ", ".join(f'"{f}"' for f in files)
    (review / "review.toml").write_text(
        f'[[searches]]\ndatabase = "{database}"\ninterface = "PubMed"\nquery = "acne[tiab]"\n'
        f"files = [{listed}]\n", encoding="utf-8")


def _escapes(review: Path, outside: Path) -> dict[str, str]:
    """review.toml 'files' values that point out of the review folder, by kind."""
    if hasattr(os, "symlink") and os.name != "nt":
        (review / "searches" / "link.ris").symlink_to(outside / "victim.ris")
        (review / "linkdir").symlink_to(outside, target_is_directory=True)
    return {"dotdot": "../outside/victim.ris",
            "dotdot_deep": "searches/../../outside/victim.ris",
            "absolute": str(outside / "victim.ris"),
            "symlink_file": "searches/link.ris",
            "symlink_dir": "linkdir/victim.ris"}


KINDS = ["dotdot", "dotdot_deep", "absolute",
         pytest.param("symlink_file", marks=needs_symlinks),
         pytest.param("symlink_dir", marks=needs_symlinks)]


# ------------------------------------------------------------------ rule 1: confined paths
@pytest.mark.parametrize("kind", KINDS)
def test_settings_refuse_paths_out_of_the_review(layout, kind):
    review, outside = layout
    name = _escapes(review, outside)[kind]
    _toml(review, [name])
    with pytest.raises(InputError) as exc:
        read_settings(review)
    msg = str(exc.value)
    assert "review.toml" in msg and "[[searches]] entry 1" in msg and "'files'" in msg
    assert "outside the review folder" in msg and repr(name) in msg
    with pytest.raises(InputError, match="outside the review folder"):
        load_strategies(review, check_files=False)


@pytest.mark.parametrize("kind", KINDS)
def test_records_import_refuses_paths_out_of_the_review(layout, capsys, kind):
    review, outside = layout
    _toml(review, [_escapes(review, outside)[kind]])
    code, out, err = run(capsys, "records", "import", review)
    assert code == 2 and "outside the review folder" in err and out == ""
    assert not (review / "evsynth.sqlite").exists()
    code, _, err = run(capsys, "search", "list", review, "--count")
    assert code == 2 and "outside the review folder" in err


@pytest.mark.parametrize("kind", KINDS)
def test_search_pubmed_never_writes_out_of_the_review(layout, capsys, kind):
    """The issue's case: files = ["../../victim.txt"] was replaced by `search pubmed`."""
    review, outside = layout
    names = _escapes(review, outside)
    names["dotdot"] = "../outside/victim.txt"
    _toml(review, [names[kind]])
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    code, _, err = run(capsys, "search", "pubmed", review, "--database", "MEDLINE",
                       "--base-url", DEAD_URL, "--max-retries", "0", "--force")
    assert code == 2 and "outside the review folder" in err
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == before


def test_issue_case_two_levels_up(tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    review = tmp_path / "a" / "review"
    review.mkdir(parents=True)
    _toml(review, ["../../victim.txt"])
    code, _, err = run(capsys, "search", "pubmed", review, "--search", "1",
                       "--base-url", DEAD_URL)
    assert code == 2 and "'../../victim.txt'" in err and "outside the review folder" in err
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "victim.txt"]


@needs_symlinks
def test_paths_that_stay_inside_are_accepted(layout, capsys):
    review, _ = layout
    (review / "searches" / "inner.ris").symlink_to(review / "searches" / "ok.ris")
    _toml(review, ["searches/ok.ris", "searches/../searches/inner.ris"])
    assert run(capsys, "records", "import", review)[0] == 0  # same bytes: imported once
    _toml(review, [str(review / "searches" / "ok.ris")])  # absolute, but inside
    assert read_settings(review).searches[0].paths() == [review / "searches" / "ok.ris"]


def test_command_line_files_may_be_anywhere(layout, capsys):
    """A file the user names on the command line is theirs to choose (read only)."""
    review, outside = layout
    code, out, _ = run(capsys, "records", "import", review, outside / "victim.ris",
                       "--database", "X")
    assert code == 0 and "1 records read" in out


@needs_symlinks
@pytest.mark.parametrize("name", ["review.toml", "studies.csv", "outcomes.csv"])
def test_review_input_files_symlinked_out_are_refused(tmp_path, capsys, name):
    import shutil

    example = Path(__file__).resolve().parents[1] / "examples" / "vertebroplasty"
    review = tmp_path / "review"
    shutil.copytree(example, review, ignore=shutil.ignore_patterns("output", "README.md"))
    outside = tmp_path / "secret"
    outside.mkdir()
    (review / name).rename(outside / name)
    (review / name).symlink_to(outside / name)
    code, _, err = run(capsys, "validate", review)
    assert code == 2 and f"'{name}' resolves to" in err and "outside the review folder" in err
    assert run(capsys, "run", review, "--quiet")[0] == 2
    assert not (review / "output").exists()


def test_inside_folder_unit(tmp_path):
    (tmp_path / "r" / "a").mkdir(parents=True)
    assert inside_folder(tmp_path / "r", "a/b.txt", "w") == tmp_path / "r" / "a" / "b.txt"
    assert inside_folder(tmp_path / "r", ".", "w") == tmp_path / "r"
    for bad in ("../x", "a/../../x", "/etc/passwd", str(tmp_path / "x")):
        with pytest.raises(InputError, match="w: .*outside the review folder"):
            inside_folder(tmp_path / "r", bad, "w")


# ------------------------------------------------------------------ rule 2: no overwrite
def test_check_overwrite_unit(tmp_path):
    p = tmp_path / "f.txt"
    check_overwrite(p)  # does not exist
    p.write_text("x")
    with pytest.raises(InputError, match="f.txt: exists and was not written by evsynth.*--force"):
        check_overwrite(p)
    check_overwrite(p, force=True)
    check_overwrite(p, owned=lambda q: q == p)
    with pytest.raises(InputError, match="is a folder"):
        check_overwrite(tmp_path, force=True)


def test_search_pubmed_out_refuses_existing_user_file(layout, capsys):
    review, outside = layout
    for out in (review / "searches" / "ok.ris", outside / "victim.txt"):
        before = out.read_bytes()
        code, _, err = run(capsys, "search", "pubmed", review, "--query", "acne", "--out", out,
                           "--base-url", DEAD_URL, "--max-retries", "0")
        assert code == 2 and "exists and is not an earlier download" in err and "--force" in err
        assert out.read_bytes() == before
    # the entry's own file, existing but not downloaded by evsynth: refused as well
    _toml(review, ["searches/ok.ris"])
    code, _, err = run(capsys, "search", "pubmed", review, "--search", "1",
                       "--base-url", DEAD_URL, "--max-retries", "0")
    assert code == 2 and "ok.ris: exists" in err


def _prisma_review(tmp_path: Path) -> Path:
    from evsynth.records.model import records_frame

    review = tmp_path / "review"
    review.mkdir()
    with Store(review) as s:
        s.add_import(records_frame([dict(record_id="a.ris:1", title="t", year=2001)]),
                     "a.ris", "MEDLINE", sha256="a")
    return review


def test_prisma_out_refuses_user_files_but_replaces_its_own(tmp_path, capsys):
    review = _prisma_review(tmp_path)
    out = tmp_path / "figs"
    out.mkdir()
    (out / "prisma.svg").write_text("<svg>my own drawing</svg>", encoding="utf-8")
    code, _, err = run(capsys, "records", "prisma", review, "--out", out)
    assert code == 2 and "prisma.svg: exists" in err and "--force" in err
    assert (out / "prisma.svg").read_text(encoding="utf-8") == "<svg>my own drawing</svg>"
    assert not (out / "prisma_counts.json").exists()
    assert run(capsys, "records", "prisma", review, "--out", out, "--force")[0] == 0
    assert "my own drawing" not in (out / "prisma.svg").read_text(encoding="utf-8")
    # evsynth's own output in the folder now: a rerun replaces it without --force
    assert run(capsys, "records", "prisma", review, "--out", out)[0] == 0
    # a user file of the same name in a fresh folder that also has other files
    other = tmp_path / "other"
    other.mkdir()
    (other / "prisma_counts.json").write_text('{"mine": 1}', encoding="utf-8")
    assert run(capsys, "records", "prisma", review, "--out", other)[0] == 2
    assert (other / "prisma_counts.json").read_text(encoding="utf-8") == '{"mine": 1}'


def test_outputs_go_to_evsynth_folders_or_named_paths(layout, capsys, monkeypatch):
    """search pubmed without --out writes into REVIEW_DIR/searches (its own folder); the error
    before any request leaves no file anywhere else."""
    review, outside = layout
    monkeypatch.chdir(outside)
    before = sorted(p.name for p in outside.iterdir())
    code, _, err = run(capsys, "search", "pubmed", review, "--query", "acne",
                       "--base-url", DEAD_URL, "--max-retries", "0", "--quiet")
    assert code == 1  # the server cannot be reached
    assert sorted(p.name for p in outside.iterdir()) == before
    written = sorted(p.relative_to(review).as_posix() for p in review.rglob("*")
                     if p.is_file())
    assert all(w.startswith("searches/") for w in written), written
