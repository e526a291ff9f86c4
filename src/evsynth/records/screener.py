"""Interactive terminal screener (``evsynth screen REVIEW_DIR --stage ... --reviewer ...``).

Shows one record at a time (title, authors, year, journal, abstract) with the review's
``highlight_terms`` highlighted, and takes single keys:

``i`` include, ``e`` exclude (then the reason by number), ``m`` maybe, ``b`` back (re-decide
the previous record of this session), ``q`` quit. Progress is shown as ``12/340``.

Only records this reviewer has not decided at this stage are shown, one per duplicate group,
and at the full-text stage only those that passed title-abstract screening
(:func:`evsynth.records.screening.queue`). Each decision is committed to the store before the
next record is shown, so quitting or killing the process never loses a recorded decision.

Keys are read raw from the terminal (termios cbreak mode) when stdin is a TTY; otherwise one
line per answer is read (its first character is the key), which lets scripts and tests drive
the screener through a pipe.

Everything is written through :func:`evsynth.textsafe.terminal_text` (one place:
:meth:`Screener._out`): control characters in a record's title, abstract, authors or any other
text are shown in caret notation (ESC as ``^[``), so a record cannot clear the screen or change
colours; the screener's own colours are :class:`~evsynth.textsafe.Style` parts.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from evsynth.errors import InputError
from evsynth.records.screening import eligible_groups, latest_decisions, queue, record_decision
from evsynth.records.settings import ScreeningSettings, check_stage
from evsynth.records.store import Store
from evsynth.textsafe import Style, terminal_text

#: ANSI styles
BOLD, DIM, RESET = Style("\x1b[1m"), Style("\x1b[2m"), Style("\x1b[0m")
HIGHLIGHT = Style("\x1b[1;30;43m")  # bold black on yellow
GREEN, RED, YELLOW, CYAN = (Style("\x1b[32m"), Style("\x1b[31m"), Style("\x1b[33m"),
                            Style("\x1b[36m"))
CLEAR = Style("\x1b[2J\x1b[H")  # clear the screen, cursor home
NO_STYLE = Style("")

#: a line to print: text (made safe when written) and evsynth's own styles
Parts = list[Any]


def _visible(value: Any) -> str | None:
    """A record field as printable text (control characters in caret notation, so wrapping
    counts what is shown), None when missing."""
    if value is None:
        return None
    return terminal_text(value)


def highlight_pattern(terms: Sequence[str]) -> re.Pattern[str] | None:
    """Regex matching any of ``terms`` (case-insensitive, at a word start; ``*`` is a
    truncation wildcard as in database searching: ``randomi*`` matches randomised/-ized)."""
    parts = []
    for t in terms:
        t = t.strip()
        if not t:
            continue
        body = r"\w*".join(re.escape(p) for p in t.split("*"))
        end = "" if t.endswith("*") else r"\b"
        parts.append(body + end)
    if not parts:
        return None
    parts.sort(key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(parts) + ")", re.IGNORECASE)


def highlight_parts(text: str, pattern: re.Pattern[str] | None, color: bool,
                    after: Style = NO_STYLE) -> Parts:
    """``text`` as parts for :func:`~evsynth.textsafe.terminal_text`, matches of ``pattern``
    wrapped in the highlight style (when ``color``); ``after`` is the style to restore after each
    match. Without colour, matches are wrapped in ``*...*`` so they still stand out."""
    if pattern is None:
        return [text]
    parts: Parts = []
    pos = 0
    for m in pattern.finditer(text):
        parts.append(text[pos:m.start()])
        if color:
            parts += [HIGHLIGHT, m.group(0), RESET, after]
        else:
            parts.append(f"*{m.group(0)}*")
        pos = m.end()
    parts.append(text[pos:])
    return parts


def highlight(text: str, pattern: re.Pattern[str] | None, color: bool,
              after: str = "") -> str:
    """``text`` ready to print, with matches of ``pattern`` highlighted (see
    :func:`highlight_parts`); control characters in ``text`` are made visible."""
    return terminal_text(*highlight_parts(text, pattern, color, Style(after)))


class KeyReader:
    """Single keys from a TTY (cbreak mode) or, for a pipe/file, one line per answer."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdin
        try:
            self.fd: int | None = self.stream.fileno()
        except (AttributeError, OSError, ValueError):
            self.fd = None
        self.tty = self.fd is not None and os.isatty(self.fd)

    def key(self) -> str | None:
        """Next key (lower-case character), "" for Enter; None at end of input."""
        if self.tty:
            return self._raw_key()
        line = self.stream.readline()
        if not line:
            return None
        s = line.strip()
        return s[0].lower() if s else ""

    def line(self) -> str | None:
        """A full answer (digits for a reason number); None at end of input."""
        if self.tty:
            return self._raw_key()
        line = self.stream.readline()
        if not line:
            return None
        return line.strip()

    @contextmanager
    def session(self) -> Iterator[None]:
        """Keep the terminal in cbreak mode (keys unbuffered, not echoed) for the block; the
        previous mode is restored however the block ends."""
        if not self.tty:
            yield
            return
        import termios
        import tty

        assert self.fd is not None
        old = termios.tcgetattr(self.fd)
        try:
            tty.setcbreak(self.fd, termios.TCSANOW)
            yield
        finally:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, old)

    def _raw_key(self) -> str | None:
        assert self.fd is not None
        data = os.read(self.fd, 1)
        if data == b"\x1b":  # swallow the rest of an escape sequence (arrow keys)
            import select

            while select.select([self.fd], [], [], 0.02)[0]:
                os.read(self.fd, 8)
            return "\x1b"
        if not data or data == b"\x04":  # EOF or Ctrl-D
            return None
        ch = data.decode("utf-8", "replace")
        return "" if ch in "\r\n" else ch.lower()


@dataclass
class _Done:
    record_id: str
    decision: str
    reason: str | None


class Screener:
    """Screen the records of ``store`` at ``stage`` as ``reviewer`` (see module docstring)."""

    def __init__(self, store: Store, stage: str, reviewer: str,
                 settings: ScreeningSettings | None = None, *,
                 keys: KeyReader | None = None, out: IO[str] | None = None,
                 color: bool | None = None) -> None:
        self.store = store
        self.stage = check_stage(stage)
        if not reviewer or not reviewer.strip():
            raise InputError("screen: --reviewer is empty; expected the reviewer's name")
        self.reviewer = reviewer.strip()
        self.settings = settings or ScreeningSettings()
        self.keys = keys or KeyReader()
        self.out = out or sys.stdout
        if color is None:
            color = hasattr(self.out, "isatty") and self.out.isatty() \
                and os.environ.get("NO_COLOR") is None
        self.color = color
        self.reasons = self.settings.reasons(stage)
        self.pattern = highlight_pattern(self.settings.highlight_terms)
        self.recorded = 0

    # ------------------------------------------------------------------ output
    def _s(self, style: Style, *text: Any) -> Parts:
        return [style, *text, RESET] if self.color else list(text)

    def _out(self, *parts: Any) -> None:
        """The one place the screener writes: every text part through
        :func:`~evsynth.textsafe.terminal_text` (control characters made visible)."""
        self.out.write(terminal_text(*parts))
        self.out.flush()

    def _w(self, *parts: Any) -> None:
        """Write one line made of ``parts`` (text and :class:`Style` parts, or lists of them)."""
        flat: Parts = []
        for p in parts:
            flat += p if isinstance(p, list) else [p]
        self._out(*flat, "\n")

    def _width(self) -> int:
        return max(40, min(100, shutil.get_terminal_size((88, 24)).columns) - 2)

    def show(self, rec: dict[str, Any], position: int, total: int,
             previous: _Done | None = None) -> None:
        """Print one record with its progress ``position/total``."""
        width = self._width()
        if self.color and self.keys.tty:
            self._out(CLEAR)
        head = f"[{position}/{total}] {self.stage} screening - reviewer {self.reviewer}"
        self._w(self._s(DIM, "-" * width))
        self._w(self._s(CYAN, head))
        self._w(self._s(DIM, "-" * width))
        title = _visible(rec.get("title")) or "(no title)"
        lines = textwrap.wrap(title, width) or [title]
        for ln in lines:
            self._w(self._s(BOLD, *highlight_parts(ln, self.pattern, self.color, BOLD)))
        authors = [_visible(x) or "" for x in rec.get("authors") or []]
        a = "; ".join(authors[:6]) + ("; et al." if len(authors) > 6 else "")
        meta = [a or "(no authors)"]
        year = rec.get("year")
        src = ", ".join(str(x) for x in (rec.get("journal"), None if year is None or
                                         str(year) == "<NA>" else year) if x)
        if src:
            meta.append(src)
        ids = [f"doi:{rec['doi']}" if rec.get("doi") else "",
               f"PMID:{rec['pmid']}" if rec.get("pmid") else "", rec.get("record_id") or ""]
        meta.append("  ".join(x for x in ids if x))
        for m in meta:
            for ln in textwrap.wrap(_visible(m) or "", width) or [""]:
                self._w(ln)
        if rec.get("group_size", 1) and int(rec.get("group_size", 1)) > 1:
            self._w(self._s(DIM, f"({rec['group_size']} duplicate records merged)"))
        self._w()
        abstract = _visible(rec.get("abstract")) or "(no abstract)"
        for ln in textwrap.wrap(abstract, width):
            self._w(highlight_parts(ln, self.pattern, self.color))
        kw = [_visible(k) or "" for k in rec.get("keywords") or []]
        if kw:
            self._w()
            self._w(self._s(DIM, "Keywords: "),
                    highlight_parts("; ".join(kw), self.pattern, self.color))
        self._w()
        if previous is not None:
            why = f" ({previous.reason})" if previous.reason else ""
            self._w(self._s(YELLOW, f"Your previous decision: {previous.decision}{why}"))

    def prompt(self) -> None:
        """The key legend."""
        legend = "[i] include  [e] exclude  [m] maybe  [b] back  [q] quit > "
        self._out(*self._s(BOLD, legend))

    # ------------------------------------------------------------------ flow
    def _ask_reason(self) -> tuple[bool, str | None]:
        """(chosen, reason). Not chosen = cancelled (back to the record)."""
        required = self.stage == "full-text" and bool(self.reasons)
        self._w()
        if not self.reasons:
            return True, None
        for i, r in enumerate(self.reasons, start=1):
            self._w(f"  {i}) {r}")
        if not required:
            self._w("  0) no reason")
        self._w("  c) cancel")
        while True:
            self._out("reason > ")
            ans = self._read_digits() if self.keys.tty and len(self.reasons) > 9 \
                else self.keys.line()
            if ans is None:
                return False, None
            ans = ans.strip().lower()
            if self.keys.tty and len(self.reasons) <= 9:
                self._w(ans)
            if ans in ("c", "\x1b", "q"):
                return False, None
            if ans == "0" and not required:
                return True, None
            if ans.isdigit() and 1 <= int(ans) <= len(self.reasons):
                return True, self.reasons[int(ans) - 1]
            self._w(f"expected a number 1-{len(self.reasons)}" + ("" if required else " or 0")
                    + ", or c to cancel")

    def _read_digits(self) -> str | None:
        """Keys up to Enter (for more than nine reasons on a TTY), echoed."""
        buf = ""
        while True:
            k = self.keys.key()
            if k is None:
                return None
            if k == "":
                self._w()
                return buf
            if k in ("\x7f", "\b"):
                if buf:
                    buf = buf[:-1]
                    self._out(Style("\x1b[D"), " ", Style("\x1b[D"))  # cursor back, erase
            elif k in ("c", "\x1b", "q"):
                self._w(k)
                return k
            else:
                buf += k
                self._out(k)

    def arrange(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The order to show the records in (hook; here the queue's import order)."""
        return records

    def decided(self, records: list[dict[str, Any]], i: int, rec: dict[str, Any],
                decision: str) -> None:
        """Called after each recorded decision on ``rec``; ``records[i:]`` are still to show
        and may be reordered in place (hook; here nothing)."""

    def run(self) -> int:
        """Screen until the queue is empty, ``q`` or end of input; returns decisions made."""
        with self.keys.session():
            return self._run()

    def _run(self) -> int:
        todo = queue(self.store, self.stage, self.reviewer, self.settings)
        records = self.arrange(todo.to_dict("records"))
        total = len(eligible_groups(self.store, self.stage, self.settings))
        lat = latest_decisions(self.store, self.stage, kind="screen")
        done_before = int((lat["reviewer"] == self.reviewer).sum()) if len(lat) else 0
        if not records:
            self._w(f"Nothing to screen: {done_before}/{total} records at the {self.stage} "
                    f"stage already decided by {self.reviewer}.")
            return 0
        self._w(f"{len(records)} records to screen at the {self.stage} stage "
                f"({done_before} of {total} already decided by {self.reviewer}).")
        history: list[_Done] = []
        i = 0
        previous: _Done | None = None
        while i < len(records):
            rec = records[i]
            self.show(rec, done_before + i + 1, total, previous)
            self.prompt()
            key = self.keys.key()
            if self.keys.tty and key is not None:
                self._w(key)
            elif not self.keys.tty:
                self._w()
            if key is None or key == "q":
                break
            decision = {"i": "include", "e": "exclude", "m": "maybe"}.get(key)
            if key == "b":
                if i == 0:
                    self._w(self._s(YELLOW, "Nothing to go back to in this session."))
                    continue
                i -= 1
                previous = history.pop()
                continue
            if decision is None:
                self._w(self._s(YELLOW, f"unknown key {key!r}; expected i, e, m, b or q"))
                continue
            reason = None
            if decision == "exclude":
                chosen, reason = self._ask_reason()
                if not chosen:
                    continue
            record_decision(self.store, rec["record_id"], self.stage, decision, self.reviewer,
                            reason, settings=self.settings, source="screener")
            self.recorded += 1
            style = {"include": GREEN, "exclude": RED, "maybe": YELLOW}[decision]
            why = f" ({reason})" if reason else ""
            self._w(self._s(style, f"recorded: {decision}{why}"), f" [{rec['record_id']}]")
            history.append(_Done(rec["record_id"], decision, reason))
            previous = None
            i += 1
            self.decided(records, i, rec, decision)
        remaining = len(records) - i
        self._w()
        self._w(f"{self.recorded} decisions recorded in this session; {remaining} records left "
                f"to screen at the {self.stage} stage.")
        return self.recorded
