"""One home for recording benchmark results in bench/RESULTS.md.

Each script owns one section between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``;
``write_section`` replaces that section (or appends it) and leaves the rest of the file as it is,
written atomically.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from evsynth.files import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def table(frame: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """A Markdown table (pipe table when ``tabulate`` is installed, plain text otherwise)."""
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return frame.to_string(index=False, na_rep="")
    return frame.to_markdown(index=False, floatfmt=floatfmt, missingval="")


def write_section(name: str, title: str, body: str, path: Path = RESULTS) -> None:
    """Replace the section ``name`` of bench/RESULTS.md with a heading ``title`` (dated) and
    ``body``; append it when the markers are absent."""
    start, end = markers(name)
    section = f"{start}\n## {title} ({time.strftime('%Y-%m-%d')})\n\n{body.rstrip()}\n{end}"
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    if start in old and end in old:
        new = old[: old.index(start)] + section + old[old.index(end) + len(end):]
    else:
        new = old.rstrip() + "\n\n" + section + "\n"
    atomic_write_text(path, new)


def publish(name: str, title: str, body: str, write: bool) -> None:
    """Print ``body``; with ``write`` also make it the section ``name`` of bench/RESULTS.md
    (:func:`write_section`)."""
    print(body)
    if write:
        write_section(name, title, body)
