"""Text that came from outside (titles, abstracts, reviewer names, reasons, file contents) made
safe for the two places where text can act: spreadsheets and terminals.

CSV cells (formula injection)
    Every CSV evsynth writes goes through :func:`csv_cell` (use :func:`csv_text` or
    :func:`write_csv`). Following the OWASP rule ("CSV Injection", owasp.org/www-community/
    attacks/CSV_Injection), a text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a
    carriage return gets a single quote in front, so Excel, LibreOffice and Google Sheets show
    it as text instead of running it as a formula. A cell that already begins with quotes
    followed by one of those characters gets one more quote, which makes the rule reversible:
    :func:`csv_uncell` removes exactly one quote again, and evsynth's own CSV readers apply it
    to every cell, so an export/import round trip gives back every string unchanged.

    Numbers: values that are numbers in Python (``int``, ``float``, numpy numbers; not
    booleans) are written as numbers, unprefixed, so ``-1.5`` in a numeric column stays the
    number -1.5. A *string* ``"-1.5"`` is text from outside like any other and is prefixed
    (``'-1.5``), as OWASP prescribes for text cells.

Terminal output (escape-sequence injection)
    Everything evsynth prints to a terminal goes through :func:`terminal_text` (or
    :func:`echo`, which prints through it). C0 and C1 control characters (U+0000-U+001F,
    U+007F, U+0080-U+009F) other than newline and tab are replaced by a visible marker in
    caret notation, as ``cat -v`` shows them: ESC as ``^[``, CR as ``^M``, BEL as ``^G``,
    DEL as ``^?`` and a C1 character as ``M-^`` plus its C0 twin (U+009B, the one-byte CSI, as
    ``M-^[``). So ``"\\x1b[2J"`` in a record title is shown as ``^[[2J`` and cannot clear the
    screen or change colours. evsynth's own styling (colours, clearing the screen in the
    screener) is passed as :class:`Style` parts, which are the only escape sequences kept.
    The Unicode bidirectional embeddings, overrides and isolates (U+202A-U+202E,
    U+2066-U+2069), which reorder the text around them on screen ("Trojan Source", CVE-2021-42574),
    are shown as ``[U+202E]``.

Documents (HTML, SVG, XML)
    :func:`document_text` applies the same caret notation to text bound for a report or a
    figure: XML 1.0 forbids the C0 controls other than tab, newline and carriage return (one
    ESC in a label made an SVG figure not well-formed XML, so a browser showed an error
    instead of the plot), HTML 5 calls them parse errors. Surrogates and the noncharacters
    U+FFFE/U+FFFF, which no XML document may hold either, become U+FFFD, and the bidi
    controls are shown as on a terminal. :func:`html_text` is :func:`document_text` then
    ``html.escape`` (quotes too): the escaping of every text in evsynth's HTML.
"""

from __future__ import annotations

import csv
import io
import numbers
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

# ============================================================================ CSV cells
#: first characters that make a spreadsheet read a cell as a formula (OWASP)
CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def csv_cell(value: Any) -> Any:
    """One CSV cell made inert for spreadsheets (see the module docstring).

    Text beginning with ``= + - @``, a tab or a carriage return -- also after leading single
    quotes -- gets a single quote in front. Numbers (not booleans) and None are returned
    unchanged; anything else is turned into text first.
    """
    if value is None or _is_number(value):
        return value
    s = value if isinstance(value, str) else str(value)
    if s.lstrip("'").startswith(CSV_TRIGGERS):
        return "'" + s
    return s


def csv_uncell(value: str) -> str:
    """Undo :func:`csv_cell` on a cell read back from a CSV evsynth wrote (exactly one added
    quote is removed; any other text is returned unchanged)."""
    if isinstance(value, str) and value.startswith("'") and \
            value[1:].lstrip("'").startswith(CSV_TRIGGERS):
        return value[1:]
    return value


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and value != value:
        return True
    try:
        import pandas as pd

        return value is pd.NA or value is pd.NaT
    except ImportError:  # pragma: no cover - pandas is a dependency
        return False


def _cells(values: Iterable[Any]) -> list[Any]:
    return ["" if _missing(v) else csv_cell(v) for v in values]


class _RowWriter:
    """csv.writer with ``\n`` line ends that also quotes cells holding a bare carriage return
    (the csv module quotes only the characters of its line terminator, so ``"a\rb"`` would
    otherwise split the row when read back)."""

    def __init__(self, buf: io.StringIO) -> None:
        self._minimal = csv.writer(buf, lineterminator="\n")
        self._all = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def writerow(self, cells: list[Any]) -> None:
        cr = any(isinstance(c, str) and "\r" in c for c in cells)
        (self._all if cr else self._minimal).writerow(cells)


def csv_text(data: Any, columns: Sequence[str] | None = None) -> str:
    """CSV text (UTF-8 ready, ``\\n`` line ends) of ``data`` with every cell through
    :func:`csv_cell`; missing values (None, NaN, NA) are empty cells.

    ``data`` is a pandas DataFrame (its columns; the index is not written), a sequence of
    mappings (``columns`` or the keys of the first row give the header) or a sequence of
    row sequences (``columns`` is then the header; required).
    """
    buf = io.StringIO()
    w = _RowWriter(buf)
    if hasattr(data, "itertuples") and hasattr(data, "columns"):  # a DataFrame
        cols = list(columns) if columns is not None else [str(c) for c in data.columns]
        w.writerow(_cells(cols))
        frame = data[list(columns)] if columns is not None else data
        for row in frame.itertuples(index=False, name=None):
            w.writerow(_cells(row))
        return buf.getvalue()
    rows = list(data)
    if rows and isinstance(rows[0], Mapping):
        cols = list(columns) if columns is not None else [str(k) for k in rows[0]]
        w.writerow(_cells(cols))
        for r in rows:
            w.writerow(_cells(r.get(c) for c in cols))
        return buf.getvalue()
    if columns is None:
        raise ValueError("csv_text: rows given as sequences need columns= (the header)")
    w.writerow(_cells(columns))
    for r in rows:
        w.writerow(_cells(r))
    return buf.getvalue()


def write_csv(path: str | os.PathLike[str], data: Any,
              columns: Sequence[str] | None = None) -> Path:
    """Write :func:`csv_text` of ``data`` to ``path`` atomically (UTF-8); returns the path."""
    from evsynth.files import atomic_write_text

    return atomic_write_text(path, csv_text(data, columns))


def read_csv_cells(text: str) -> list[list[str]]:
    """Parse CSV text written by evsynth back into rows of cells, undoing :func:`csv_cell`
    (raises :class:`csv.Error` for malformed CSV)."""
    return [[csv_uncell(c) for c in row] for row in csv.reader(io.StringIO(text, newline=""))]


# ============================================================================ terminal text
#: the character ranges the checks below are built from: DEL and the C1 controls, and the
#: bidi embeddings, overrides and isolates
_C1_BIDI = "\x7f-\x9f\u202a-\u202e\u2066-\u2069"
#: C0 (not tab, newline), DEL and C1 controls, and the bidi controls
_CONTROL = re.compile(f"[\x00-\x08\x0b-\x1f{_C1_BIDI}]")
#: what a document cannot hold or should not show raw: C0 (not tab, newline, carriage return),
#: DEL, C1, the bidi controls, surrogates and U+FFFE/U+FFFF
_DOC_CONTROL = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f{_C1_BIDI}\ud800-\udfff\ufffe\uffff]")
#: the escape sequences :class:`Style` accepts: SGR (colours), cursor movement and home, erase
#: display/line
_STYLE = re.compile(r"(?:\x1b\[[0-9;]*[mABCDHJK])*")


def _caret(m: re.Match[str]) -> str:
    c = ord(m.group(0))
    if 0xD800 <= c <= 0xDFFF or c in (0xFFFE, 0xFFFF):
        return "\ufffd"
    if c > 0x9F:  # a bidi control
        return f"[U+{c:04X}]"
    if c == 0x7F:
        return "^?"
    if c >= 0x80:
        return "M-^" + chr(c - 0x80 + 0x40)
    return "^" + chr(c + 0x40)


class Style(str):
    """evsynth's own terminal styling (an ANSI SGR colour code, cursor movement or home, erase):
    the only escape sequences :func:`terminal_text` keeps. Anything else is refused, so text
    from outside cannot pass as a style."""

    def __new__(cls, code: str) -> Style:
        if not isinstance(code, str) or not _STYLE.fullmatch(code):
            raise ValueError(f"Style: {code!r} is not an ANSI SGR, cursor or erase sequence")
        return super().__new__(cls, code)


def terminal_text(*parts: Any) -> str:
    """The text to print: ``parts`` joined, each control character (C0, DEL, C1; not newline
    or tab) replaced by its caret notation (ESC -> ``^[``). :class:`Style` parts are kept as
    they are; other non-text parts are converted with ``str``."""
    out = []
    for p in parts:
        if isinstance(p, Style):
            out.append(str.__str__(p))
        else:
            out.append(_CONTROL.sub(_caret, p if isinstance(p, str) else str(p)))
    return "".join(out)


def document_text(text: Any) -> str:
    """``text`` (``str`` of it; ``""`` for None) for an HTML, SVG or XML document: controls as
    :func:`terminal_text` shows them (ESC -> ``^[``; tab, newline and carriage return kept),
    the bidi controls as ``[U+202E]``, surrogates and U+FFFE/U+FFFF as U+FFFD. Not escaped:
    see :func:`html_text`."""
    s = "" if text is None else text if isinstance(text, str) else str(text)
    return _DOC_CONTROL.sub(_caret, s)


#: control characters (C0 including tab and newline, DEL, C1) and the bidi controls
_ANY_CONTROL = re.compile(f"[\x00-\x1f{_C1_BIDI}]")


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character (C0 including tab and newline, DEL, C1) or a
    bidi control: what no name or identifier (a reviewer, a study id) should hold."""
    return _ANY_CONTROL.search(text) is not None


def html_text(text: Any) -> str:
    """``text`` for HTML: :func:`document_text`, then ``html.escape`` with quotes."""
    import html

    return html.escape(document_text(text), quote=True)


def echo(*parts: Any, err: bool = False, end: str = "\n", file: IO[str] | None = None) -> None:
    """Print ``parts`` (joined, through :func:`terminal_text`) to stdout, or stderr with
    ``err=True``, or ``file``."""
    stream = file if file is not None else (sys.stderr if err else sys.stdout)
    stream.write(terminal_text(*parts, end))
    stream.flush()


__all__ = ["CSV_TRIGGERS", "Style", "csv_cell", "csv_text", "csv_uncell", "document_text", "echo",
           "has_control", "html_text", "read_csv_cells", "terminal_text", "write_csv"]
