"""Issue 9, point 9 for `evsynth search pubmed`: the E-utilities download replaces only its own
earlier, unchanged output (or with --force), and never deletes or replaces a state file or batch
folder that is not evsynth's. Uses the recorded NCBI replies of test_eutils."""

from __future__ import annotations

import json

import pytest
from test_eutils import MEDLINE_PMIDS, QUERY, client, medline_pmids, ncbi  # noqa: F401

from evsynth.cli import main
from evsynth.errors import InputError


def test_own_download_is_replaced_on_restart(ncbi, tmp_path):  # noqa: F811
    fake, base = ncbi
    out = tmp_path / "p.nbib"
    client(base).fetch_all(QUERY, out, batch_size=2)
    state = json.loads(out.with_name("p.nbib.eutils.json").read_text())
    assert state["out_sha256"] and state["complete"]
    fake.log.clear()
    res = client(base).fetch_all(QUERY, out, batch_size=2, restart=True)  # ours, unchanged
    assert res.records == 5 and len(fake.log) == 4
    assert medline_pmids(out) == MEDLINE_PMIDS


def test_edited_download_needs_overwrite(ncbi, tmp_path):  # noqa: F811
    fake, base = ncbi
    out = tmp_path / "p.nbib"
    client(base).fetch_all(QUERY, out, batch_size=2)
    out.write_text(out.read_text() + "\nmy notes\n", encoding="utf-8")
    fake.log.clear()
    with pytest.raises(InputError, match="p.nbib: exists and is not an earlier download.*--force"):
        client(base).fetch_all(QUERY, out, batch_size=2, restart=True)
    assert fake.log == [] and out.read_text().endswith("my notes\n")
    client(base).fetch_all(QUERY, out, batch_size=2, restart=True, overwrite=True)
    assert medline_pmids(out) == MEDLINE_PMIDS and "my notes" not in out.read_text()


def test_user_file_is_never_replaced_silently(ncbi, tmp_path):  # noqa: F811
    fake, base = ncbi
    out = tmp_path / "thesis.nbib"
    out.write_text("my thesis\n", encoding="utf-8")
    for restart in (False, True):
        with pytest.raises(InputError, match="thesis.nbib: exists"):
            client(base).fetch_all(QUERY, out, batch_size=2, restart=restart)
    assert fake.log == [] and out.read_text() == "my thesis\n"


def test_foreign_state_file_and_batch_folder_are_kept(ncbi, tmp_path):  # noqa: F811
    fake, base = ncbi
    out = tmp_path / "p.nbib"
    state = tmp_path / "p.nbib.eutils.json"
    state.write_text('{"my": "data"}', encoding="utf-8")
    with pytest.raises(InputError, match="not an evsynth E-utilities state file"):
        client(base).fetch_all(QUERY, out, batch_size=2, restart=True)
    assert state.read_text() == '{"my": "data"}'
    state.unlink()
    parts = tmp_path / "p.nbib.parts"
    parts.mkdir()
    (parts / "holiday.jpg").write_bytes(b"\xff\xd8\xff")
    for restart in (False, True):
        with pytest.raises(InputError, match=r"p.nbib.parts: holds files evsynth did not write "
                                             r"\(holiday.jpg\)"):
            client(base).fetch_all(QUERY, out, batch_size=2, restart=restart)
    assert (parts / "holiday.jpg").exists() and fake.log == []


def test_cli_force_and_rerun(ncbi, tmp_path, capsys):  # noqa: F811
    fake, base = ncbi
    argv = ["search", "pubmed", str(tmp_path), "--query", QUERY, "--out", "p.nbib",
            "--base-url", base, "--batch-size", "2", "--quiet"]
    (tmp_path / "p.nbib").write_text("mine\n", encoding="utf-8")
    assert main(argv) == 2 and "--force" in capsys.readouterr().err
    assert main([*argv, "--force"]) == 0
    assert medline_pmids(tmp_path / "p.nbib") == MEDLINE_PMIDS
    assert main(argv) == 0  # the same search again: evsynth's own, complete download
    assert main([*argv, "--restart"]) == 0  # and downloaded afresh without --force
    capsys.readouterr()
