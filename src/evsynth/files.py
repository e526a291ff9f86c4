"""Atomic output: every file evsynth writes goes through here.

A file is written to a temporary file in the destination folder and renamed into place
(``os.replace`` is atomic on POSIX and Windows), so an interrupted run never leaves a half-written
file and a reader sees either the old or the new content. The file gets the permissions the
user's umask gives a new file (0644 under the usual umask 022), not the 0600 of the temporary
file, so co-authors on a shared drive can read the outputs.

Also here: the two rules about where evsynth may write and read.

* :func:`inside_folder`: a path read from a review folder's files (``review.toml``) must resolve,
  symlinks resolved, inside that folder; otherwise it is an :class:`~evsynth.errors.InputError`.
* :func:`check_overwrite`: an existing file that evsynth did not create as its own output is
  never replaced unless the user asked for it (``--force``).
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from evsynth.errors import InputError
from evsynth.textsafe import document_text


def current_umask() -> int:
    """The process umask (read without changing it where the OS allows)."""
    try:  # Linux: no race with other threads
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Permissions of a new file under the current umask (``0o666 & ~umask``)."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """Permissions of a new folder under the current umask (``0o777 & ~umask``)."""
    return 0o777 & ~current_umask()


def atomic_write(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename) with the
    permissions the umask gives a new file. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            if hasattr(os, "fchmod"):  # mkstemp creates 0600; give the umask's mode
                os.fchmod(fh.fileno(), file_mode())
            else:  # pragma: no cover - Windows before Python 3.13
                os.chmod(tmp, file_mode())
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


def make_dir(path: str | os.PathLike[str]) -> Path:
    """Create a folder (and its parents) with the umask's permissions; an existing folder is
    kept as it is."""
    path = Path(path)
    path.mkdir(mode=0o777, parents=True, exist_ok=True)
    return path


# ----------------------------------------------------------------------------- path rules
def inside_folder(folder: str | os.PathLike[str], name: str | os.PathLike[str],
                  where: str) -> Path:
    """``name`` (relative to ``folder`` unless absolute) as a path inside ``folder``.

    Both are resolved (symlinks followed, ``..`` collapsed) before the check, so neither
    ``../x``, an absolute path elsewhere, nor a symlink pointing out of the folder passes.
    Returns the path as ``folder / name`` (not resolved, for messages); raises
    :class:`InputError` naming ``where`` (e.g. ``review.toml: [[searches]] entry 1, key
    'files'``) otherwise.
    """
    base = Path(folder).resolve()
    p = Path(name)
    full = p if p.is_absolute() else Path(folder) / p
    try:
        real = full.resolve()
    except (OSError, RuntimeError) as exc:  # symlink loop
        raise InputError(f"{where}: {str(name)!r} cannot be resolved ({exc}); expected a path "
                         f"inside the review folder {folder}") from None
    if real != base and base not in real.parents:
        how = "resolves to" if real != full.absolute() else "is"
        raise InputError(f"{where}: {str(name)!r} {how} {real}, outside the review folder "
                         f"{base}; expected a path inside the review folder (no '..', no "
                         "absolute path elsewhere, no symlink pointing out)")
    return full


def check_output_folder(out: str | os.PathLike[str], label: str) -> Path:
    """Refuse a path that cannot be an output folder written as a whole, before anything is
    written; returns it resolved. ``label`` starts each message (e.g. ``--out OUT``). Refused:
    a path ending in ``.``/``..`` (or empty), one that cannot be resolved (a symlink loop),
    the current folder or a folder holding it (it would be replaced), a path whose parents run
    through a file, and one whose deepest existing parent is not writable. The output checks
    of ``evsynth run`` (:func:`evsynth.review.pipeline.run`) and ``evsynth batch``
    (:mod:`evsynth.models.dask_batch`)."""
    path = Path(out)
    if path.name in ("", ".."):   # ".", "..", "/", "x/..": pathlib drops a trailing "."
        raise InputError(f"{label}: expected a path ending in a folder name (the output "
                         "folder is replaced as a whole), e.g. --out output")
    try:
        dst = path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise InputError(f"{label}: cannot be resolved ({exc}); expected a folder path") \
            from None
    try:
        cwd: Path | None = Path.cwd().resolve()
    except OSError:  # the current folder was removed: nothing there to replace
        cwd = None
    if cwd is not None and (dst == cwd or dst in cwd.parents):
        what = "is the current folder" if dst == cwd else "holds the current folder"
        raise InputError(f"{label}: {what} ({dst}), which the output would replace as a "
                         "whole; expected a separate folder, e.g. --out output")
    deepest = None
    for q in reversed(dst.parents):   # from the root down to the output's parent
        if not os.path.lexists(q):
            break
        if not q.is_dir():
            what = "a file" if q.is_file() else "not a folder"
            raise InputError(f"{label}: {q} is {what}, not a folder; expected a path whose "
                             "parent folders are folders")
        deepest = q
    if deepest is not None and not os.access(deepest, os.W_OK | os.X_OK):
        raise InputError(f"{label}: cannot create the output folder: no permission to "
                         f"write in {deepest}; expected a folder you can write to")
    return dst


def check_overwrite(path: str | os.PathLike[str], *, force: bool = False,
                    owned: Callable[[Path], bool] | None = None, option: str = "--force",
                    what: str = "file") -> None:
    """Refuse to replace an existing ``path`` that evsynth did not write as its own output.

    Allowed: ``path`` does not exist, ``force`` is true, or ``owned(path)`` says the existing
    file is evsynth's own output (e.g. a previous run's). A folder in the way is refused even
    with ``force`` (a symlink is replaced itself, never its target). Raises
    :class:`InputError`.
    """
    p = Path(path)
    if not os.path.lexists(p):
        return
    st = os.lstat(p)
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{p}: exists and is a folder; expected a {what} path")
    if force or (stat.S_ISREG(st.st_mode) and owned is not None and owned(p)):
        return
    raise InputError(f"{p}: exists and was not written by evsynth as its output; expected a new "
                     f"{what} path, or {option} to replace it")


def figure_bytes(fig: Any, fmt: str, dpi: int = 150) -> bytes:
    """Render a matplotlib figure to SVG or PNG bytes (SVG without a date, so output is
    reproducible)."""
    from matplotlib import rc_context

    _show_controls(fig)
    buf = io.BytesIO()
    # a fixed hash salt makes SVG element ids reproducible (matplotlib salts them randomly);
    # rc_context restores the caller's settings (a figure class may set its own salt inside)
    with rc_context({"svg.hashsalt": "evsynth"}):
        if fmt == "png":
            # zlib level 1 instead of PIL's 6: the same pixels, the encoder 1.7x faster (6.3
            # -> 3.8 ms for a forest plot at 150 dpi, a third of its PNG time) and the file
            # smaller (39 vs 46 kB): plots compress better with less effort
            fig.savefig(buf, format=fmt, dpi=dpi, pil_kwargs={"compress_level": 1})
        else:
            fig.savefig(buf, format=fmt, dpi=dpi, metadata={"Date": None})
            # matplotlib writes a label's control characters into the SVG as they are, which
            # makes it not well-formed XML (a browser shows an error instead of the figure)
            text = buf.getvalue().decode("utf-8")
            return document_text(text).encode("utf-8")
    return buf.getvalue()


def _show_controls(fig: Any) -> None:
    """Every text of ``fig`` with its control and bidi characters shown as the reports show
    them (:func:`evsynth.textsafe.document_text`), before any format is drawn: a PNG drawn from
    the raw text let a U+202E in a label reverse it on screen ('Drug \\u202eA sv B' read
    'Drug B vs A'), and controls drew as boxes."""
    from matplotlib.text import Text

    for artist in fig.findobj(Text):
        text = artist.get_text()
        if text:
            shown = document_text(text)
            if shown != text:
                artist.set_text(shown)
    for ax in fig.get_axes():  # tick labels are formatted again at every draw: fix them
        for axis in (ax.xaxis, ax.yaxis):
            for minor in (False, True):
                locs = axis.get_minorticklocs() if minor else axis.get_majorticklocs()
                formatter = axis.get_minor_formatter() if minor else axis.get_major_formatter()
                labels = [str(t) for t in formatter.format_ticks(locs)]
                safe = [document_text(t) for t in labels]
                if safe != labels:
                    axis.set_ticks(locs, labels=safe, minor=minor)


def save_figure(fig: Any, path: str | os.PathLike[str], dpi: int = 150) -> Path:
    """Save a matplotlib figure atomically; the format (``svg`` or ``png``) comes from the
    suffix."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ("svg", "png"):
        raise ValueError(f"{path}: figures are written as .svg or .png, not {path.suffix!r}")
    return atomic_write(path, figure_bytes(fig, fmt, dpi))


def save_figures(fig: Any, paths: Iterable[str | os.PathLike[str]], dpi: int = 150
                 ) -> list[Path]:
    """Save one figure in several formats (:func:`save_figure` each). A layout engine
    (constrained or tight) positions the axes during the first save only; the later formats
    keep those positions, so every format shows the same layout and the solver runs once
    (it was ~40% of a multi-panel figure's PNG time). Afterwards the figure's layout is fixed
    (matplotlib's placeholder engine)."""
    out = []
    for i, path in enumerate(paths):
        out.append(save_figure(fig, path, dpi))
        if i == 0 and fig.get_layout_engine() is not None:
            fig.set_layout_engine("none")
    return out


def svg_string(fig: Any) -> str:
    """The figure as an SVG document (for inlining into HTML)."""
    return figure_bytes(fig, "svg").decode("utf-8")
