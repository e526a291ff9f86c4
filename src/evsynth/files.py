"""Atomic output: every file evsynth writes goes through here.

A file is written to a temporary file in the destination folder and renamed into place
(``os.replace`` is atomic on POSIX and Windows), so an interrupted run never leaves a half-written
file and a reader sees either the old or the new content.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename). Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (newlines written as given)."""
    return atomic_write(path, text.encode("utf-8"))


def figure_bytes(fig: Any, fmt: str, dpi: int = 150) -> bytes:
    """Render a matplotlib figure to SVG or PNG bytes (SVG without a date, so output is
    reproducible)."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, metadata={"Date": None} if fmt == "svg" else None)
    return buf.getvalue()


def save_figure(fig: Any, path: str | os.PathLike[str], dpi: int = 150) -> Path:
    """Save a matplotlib figure atomically; the format (``svg`` or ``png``) comes from the
    suffix."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ("svg", "png"):
        raise ValueError(f"{path}: figures are written as .svg or .png, not {path.suffix!r}")
    return atomic_write(path, figure_bytes(fig, fmt, dpi))


def svg_string(fig: Any) -> str:
    """The figure as an SVG document (for inlining into HTML)."""
    return figure_bytes(fig, "svg").decode("utf-8")
