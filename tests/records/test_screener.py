"""Tests of the interactive terminal screener: piped stdin, a pseudo-terminal, and SIGKILL
in the middle of a session (no recorded decision may be lost)."""

from __future__ import annotations

import io
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evsynth.errors import InputError
from evsynth.records.model import records_frame
from evsynth.records.screener import KeyReader, Screener, highlight, highlight_pattern
from evsynth.records.settings import ScreeningSettings
from evsynth.records.store import Store

SETTINGS = ScreeningSettings(
    exclusion_reasons_title_abstract=("not a randomised trial", "not osteoporotic fracture"),
    exclusion_reasons_full_text=("wrong comparator", "wrong outcome"),
    reviewers=("AB", "CD"), highlight_terms=("vertebroplasty", "randomi*"))

TOML = """
[[searches]]
database = "MEDLINE"
files = []

[screening]
exclusion_reasons_title_abstract = ["not a randomised trial", "not osteoporotic fracture"]
exclusion_reasons_full_text = ["wrong comparator", "wrong outcome"]
reviewers = ["AB", "CD"]
highlight_terms = ["vertebroplasty", "randomi*"]

[meta_analysis]
measure = "SMD"
"""


def make_review(path: Path, n: int = 8) -> Store:
    (path / "review.toml").write_text(TOML, encoding="utf-8")
    s = Store(path)
    recs = [dict(record_id=f"m.nbib:{i}", title=f"A randomised trial of vertebroplasty {i}",
                 abstract="Patients were randomized to vertebroplasty or a sham procedure.",
                 authors=["Kallmes, David F", "Comstock, Bryan A"], year=2009,
                 journal="N Engl J Med") for i in range(1, n + 1)]
    s.add_import(records_frame(recs), "m.nbib", "MEDLINE", sha256="m")
    return s


def run_screener(store, answers: str, stage="title-abstract", reviewer="AB", **kw):
    out = io.StringIO()
    sc = Screener(store, stage, reviewer, SETTINGS, keys=KeyReader(io.StringIO(answers)),
                  out=out, **kw)
    n = sc.run()
    return n, out.getvalue()


def test_highlight_pattern():
    pat = highlight_pattern(["vertebroplasty", "randomi*", " "])
    text = "Randomised, randomized and non-randomised VERTEBROPLASTY; kyphoplasty"
    hits = [m.group(0) for m in pat.finditer(text)]
    assert hits == ["Randomised", "randomized", "randomised", "VERTEBROPLASTY"]
    assert highlight("a vertebroplasty b", pat, False) == "a *vertebroplasty* b"
    colored = highlight("a vertebroplasty b", pat, True)
    assert "\x1b[1;30;43mvertebroplasty\x1b[0m" in colored
    assert highlight_pattern([]) is None
    assert highlight("x", None, True) == "x"
    # no partial-word match without a wildcard
    assert not highlight_pattern(["plasty"]).search("vertebroplasty")


def test_piped_session(tmp_path):
    store = make_review(tmp_path, 5)
    n, out = run_screener(store, "i\ne\n2\nm\nq\n")
    assert n == 3
    assert "[1/5]" in out and "[3/5]" in out and "[4/5]" in out
    assert "*vertebroplasty*" in out and "*randomized*" in out  # highlighted without colour
    assert "Kallmes, David F; Comstock, Bryan A" in out and "N Engl J Med, 2009" in out
    h = store.decision_history()
    assert list(zip(h["record_id"], h["decision"], h["reason"], h["source"], strict=True)) == [
        ("m.nbib:1", "include", None, "screener"),
        ("m.nbib:2", "exclude", "not osteoporotic fracture", "screener"),
        ("m.nbib:3", "maybe", None, "screener")]
    # a new session shows only what AB has not decided yet, progress continues
    n, out = run_screener(store, "i\n")
    assert n == 1 and "[4/5]" in out and "3 of 5 already decided" in out
    # another reviewer starts from the beginning
    n, out = run_screener(store, "q\n", reviewer="CD")
    assert n == 0 and "[1/5]" in out


def test_back_cancel_unknown_and_eof(tmp_path):
    store = make_review(tmp_path, 3)
    # b on the first record: nothing to go back to; x: unknown key; e then c: cancel;
    # i; b: back to record 1 (shows the previous decision); e 1: re-decided as exclude
    n, out = run_screener(store, "b\nx\ne\nc\ni\nb\ne\n1\n")  # then EOF
    assert "Nothing to go back to" in out and "unknown key 'x'" in out
    assert "Your previous decision: include" in out
    assert n == 2
    h = store.decision_history()
    assert list(h["decision"]) == ["include", "exclude"] and set(h["record_id"]) == {"m.nbib:1"}
    assert "1 records left" not in out and "2 records left" in out


def test_reason_validation_and_no_reason(tmp_path):
    store = make_review(tmp_path, 2)
    n, out = run_screener(store, "e\n9\n0\n")
    assert "expected a number 1-2 or 0" in out
    assert n == 1 and store.decision_history().loc[0, "reason"] is None


def test_full_text_requires_reason_and_queue(tmp_path):
    store = make_review(tmp_path, 3)
    for r in ("AB", "CD"):
        store.add_decision("m.nbib:2", "title-abstract", "include", r)
        store.add_decision("m.nbib:3", "title-abstract", "exclude", r)
    n, out = run_screener(store, "e\n0\n2\n", stage="full-text")
    assert "[1/1]" in out and "0) no reason" not in out and "expected a number 1-2," in out
    assert n == 1
    h = store.decision_history("full-text")
    assert list(h["record_id"]) == ["m.nbib:2"] and h.loc[0, "reason"] == "wrong outcome"
    n, out = run_screener(store, "", stage="full-text")
    assert n == 0 and "Nothing to screen" in out


def test_one_record_per_duplicate_group(tmp_path):
    store = make_review(tmp_path, 4)
    store.set_duplicate_groups({"m.nbib:1": 0, "m.nbib:3": 0, "m.nbib:2": 1, "m.nbib:4": 2})
    n, out = run_screener(store, "i\ni\ni\ni\n")
    assert n == 3 and "[3/3]" in out and "(2 duplicate records merged)" in out
    assert list(store.decision_history()["record_id"]) == ["m.nbib:1", "m.nbib:2", "m.nbib:4"]


def test_colour_output(tmp_path):
    store = make_review(tmp_path, 1)
    _, out = run_screener(store, "q\n", color=True)
    assert "\x1b[1;30;43mvertebroplasty\x1b[0m" in out


def test_bad_reviewer(tmp_path):
    store = make_review(tmp_path, 1)
    with pytest.raises(InputError, match="reviewer"):
        Screener(store, "title-abstract", " ", SETTINGS)
    with pytest.raises(InputError, match="stage"):
        Screener(store, "abstract", "AB", SETTINGS)


# ----------------------------------------------------------------------------- subprocesses
def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "evsynth.cli", *args]


def _read_until(fd: int, buf: bytearray, pred, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not pred(bytes(buf)):
        left = end - time.monotonic()
        if left <= 0:
            text = bytes(buf).decode(errors="replace")
            raise AssertionError(f"timed out; output so far:\n{text}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # pty closed
                chunk = b""
            if not chunk:
                if pred(bytes(buf)):
                    return
                raise AssertionError(f"EOF; output:\n{bytes(buf).decode(errors='replace')}")
            buf.extend(chunk)


def test_sigkill_mid_session_loses_no_decision(tmp_path):
    """Run the screener in a subprocess, SIGKILL it after N acknowledged decisions: all N are
    in the store (each decision is committed before the next record is shown)."""
    make_review(tmp_path, 40).close()
    proc = subprocess.Popen(_cli("screen", str(tmp_path), "--stage", "title-abstract",
                                 "--reviewer", "AB"),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    buf = bytearray()
    fd = proc.stdout.fileno()
    answers = ["i\n", "e\n1\n", "m\n", "e\n2\n", "i\n"] * 3  # 15 decisions
    try:
        for k, ans in enumerate(answers, start=1):
            proc.stdin.write(ans.encode())
            proc.stdin.flush()
            _read_until(fd, buf, lambda b, k=k: b.count(b"recorded: ") >= k)
        # the next record is on screen; kill without any chance to clean up
        _read_until(fd, buf, lambda b: b.count(b"[16/40]") >= 1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with Store(tmp_path) as s:
        h = s.decision_history()
    assert len(h) == 15
    assert list(h["record_id"]) == [f"m.nbib:{i}" for i in range(1, 16)]
    assert list(h["decision"][:5]) == ["include", "exclude", "maybe", "exclude", "include"]
    assert list(h["reason"][1:4]) == ["not a randomised trial", None, "not osteoporotic fracture"]


def test_screener_under_a_pseudo_terminal(tmp_path):
    """Raw single keys (no Enter) through a pty; ANSI highlighting is on for a terminal."""
    pty = pytest.importorskip("pty")
    make_review(tmp_path, 3).close()
    master, slave = pty.openpty()
    env = dict(os.environ, COLUMNS="90", LINES="40")
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(_cli("screen", str(tmp_path), "--stage", "title-abstract",
                                 "--reviewer", "CD"),
                            stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True)
    os.close(slave)
    buf = bytearray()
    try:
        _read_until(master, buf, lambda b: b"quit >" in b)
        assert b"\x1b[1;30;43m" in buf  # highlighted terms
        assert b"[1/3]" in buf
        os.write(master, b"i")  # a single key, no Enter
        _read_until(master, buf, lambda b: b"recorded: " in b and b"[2/3]" in b)
        os.write(master, b"e")
        _read_until(master, buf, lambda b: b"reason >" in b)
        os.write(master, b"2")
        _read_until(master, buf, lambda b: b"[3/3]" in b)
        os.write(master, b"q")
        _read_until(master, buf, lambda b: b"decisions recorded in this session" in b)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert proc.returncode == 0, bytes(buf).decode(errors="replace")
    with Store(tmp_path) as s:
        h = s.decision_history()
    assert list(h["decision"]) == ["include", "exclude"]
    assert h.loc[1, "reason"] == "not osteoporotic fracture" and set(h["reviewer"]) == {"CD"}
