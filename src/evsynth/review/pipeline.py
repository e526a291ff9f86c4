"""``evsynth run``: a review folder to results.json, forest plots and the reports.

The whole output folder is built in a temporary folder next to the destination and renamed into
place at the end, so an interrupted or failed run leaves either the previous output or nothing --
never a half-written report. The input files are only read.

Temporary folders (``.NAME.tmp-*``, and ``.NAME.old-*`` holding the previous output while it is
swapped out) carry a marker file, :data:`MARKER`, with the process id and host of the run. A
run stopped by SIGTERM or SIGINT removes its temporary folder at once (a signal handler, active
only while the folder exists, that then hands the signal on to the previous handler); a run
killed outright (SIGKILL, power loss) leaves it behind, and the next run to the same output
folder removes such folders when their marker names a process that is gone -- only the
temporary folders of that output folder's name, and never folders without evsynth's marker.

An existing output folder is replaced only when it is evsynth's (its results.json) and holds
nothing evsynth did not write or that changed since (the folder's :data:`MANIFEST` lists the
files of the run with their SHA-256), unless ``force``. Figures are drawn on
:class:`matplotlib.figure.Figure` objects, never through pyplot: the caller's matplotlib backend
and open figures are left as they were. Files get the permissions of the user's umask. With
four or more figures on a machine with two or more CPUs, and no other thread running, a forked
helper process draws about half of them at the same time (:func:`_draw_figures`: the same files;
it dies with the run: stopped, or killed and waited for when the run fails).

Layers: this module calls the summaries (GRADE, Summary of Findings, plain language, study
characteristics) and the reports (forest plots, HTML, Markdown); none of them calls back.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import shutil
import signal
import socket
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evsynth.errors import InputError
from evsynth.files import atomic_write_text, check_output_folder
from evsynth.review.analysis import build_analyses, refit
from evsynth.review.load import Review, load_review
from evsynth.review.results import SCHEMA, build_results, write_results_json

DEFAULT_OUT = "output"
RESULTS_FILE = "results.json"
#: the Word report ``evsynth run --docx`` writes into the output folder
DOCX_FILE = "report.docx"
FIGURES_DIR = "figures"
#: a progress bar is shown from this many comparison x outcome x window combinations on
PROGRESS_MIN = 12
#: marker file inside evsynth's temporary folders (JSON: pid, host, created)
MARKER = ".evsynth-run.json"
#: what the marker says it is (a folder whose marker says anything else is not evsynth's)
MARKER_TEXT = "temporary folder of 'evsynth run'"
#: list of the files a run wrote, with their SHA-256 (JSON), kept in the output folder
MANIFEST = ".evsynth-output.json"
#: files evsynth writes at the top of an output folder (figures/ holds the plots); used for
#: output folders of versions without a manifest
OUTPUT_FILES = (RESULTS_FILE, "report.html", "report.md", DOCX_FILE, MARKER, MANIFEST)
#: a stale temporary folder from another host is removed after this many seconds
STALE_OTHER_HOST = 2 * 24 * 3600
#: the signals that clean up the temporary folder before ending the run
CLEANUP_SIGNALS = ("SIGTERM", "SIGINT")
#: from this many figures on, a forked helper process draws about half of them
FORK_MIN_FIGURES = 4


def _optional(module: str, missing: list[str]) -> Any:
    """Import a summaries/reports module; if it does not exist yet, note it and return None."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            missing.append(module)
            return None
        raise


def default_out_dir(review_dir: str | Path) -> Path:
    """``REVIEW_DIR/output``: where ``evsynth run`` writes when ``--out`` is not given."""
    return Path(review_dir) / DEFAULT_OUT


def output_os_error(exc: OSError, out: Path) -> InputError:
    """An OSError of a run as an InputError naming the path (the output folder when the
    error concerns it or the folders beside it, e.g. one that cannot be created): what
    :func:`run` raises for an output it cannot write, and the command line for any OSError."""
    why = exc.strerror or str(exc)
    names = [Path(os.path.abspath(f)) for f in (exc.filename, exc.filename2)
             if isinstance(f, (str, os.PathLike))]
    target = Path(os.path.abspath(out))
    if not names or any(n == target or n in target.parents or target in n.parents
                        or (n.parent == target.parent and n.name.startswith(f".{target.name}."))
                        for n in names):   # the folder, its parents, its temporary folders
        return InputError(f"cannot create the output folder {out}: {why}"
                          + (f" ({exc.filename})" if exc.filename else "")
                          + "; expected a folder path you can write to")
    return InputError(f"{exc.filename}: {why}; expected a readable file or folder")


def _check_out_dir(review_path: Path | None, out: Path, force: bool = False) -> None:
    """Refuse an output folder that would replace the inputs (the review folder
    ``review_path``), a folder evsynth did not write, or (without ``force``) an evsynth output
    folder holding files evsynth did not write; and a path that cannot be an output folder
    (:func:`evsynth.files.check_output_folder`: ending in ``.``/``..``, the current folder or
    one holding it, under a file, an unwritable parent)."""
    check_output_folder(out, f"--out {out}")
    dst = out.resolve()
    if review_path is not None:
        src = review_path.resolve()
        if dst == src or dst in src.parents:
            raise InputError(f"--out {out}: the output folder would replace the review folder "
                             f"{review_path}; expected a separate folder (default "
                             f"{default_out_dir(review_path)})")
    if out.is_symlink():
        raise InputError(f"--out {out}: is a symlink (to {dst}); expected a folder path")
    if dst.exists():
        if not dst.is_dir():
            raise InputError(f"--out {out}: exists and is not a folder; expected a folder path")
        if any(dst.iterdir()) and not _is_evsynth_output(dst):
            raise InputError(f"--out {out}: exists, is not empty and holds no evsynth "
                             f"{RESULTS_FILE}; expected a new folder or a previous evsynth output "
                             "(it would be replaced)")
        foreign = _foreign_files(dst)
        if foreign and not force:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more"
                                              if len(foreign) > 5 else "")
            raise InputError(f"--out {out}: the previous evsynth output holds files evsynth did "
                             f"not write, or changed since ({shown}); expected them moved "
                             "elsewhere, or --force to replace the folder as a whole")


def _sha256_file(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_manifest(folder: Path) -> None:
    """Record every file of the finished output ``folder`` with its SHA-256 (:data:`MANIFEST`),
    so a later run knows which files are its own and unchanged."""
    files = {p.relative_to(folder).as_posix(): _sha256_file(p)
             for p in sorted(folder.rglob("*"))
             if p.is_file() and p.name not in (MARKER, MANIFEST)}
    atomic_write_text(folder / MANIFEST, json.dumps({"files": files}, indent=1) + "\n")


def _foreign_files(path: Path) -> list[str]:
    """Entries of an evsynth output folder that evsynth did not write, or that changed since it
    wrote them (relative names). Uses the folder's :data:`MANIFEST`; without one (older
    versions), the names evsynth writes."""
    try:
        listed = json.loads((path / MANIFEST).read_text(encoding="utf-8"))["files"]
        if not isinstance(listed, dict):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError):
        listed = None
    out = []
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path).as_posix()
        if p.is_symlink() or not (p.is_file() or p.is_dir()):
            out.append(rel)
        elif p.is_dir():
            if listed is None and rel != FIGURES_DIR:
                out.append(rel)
        elif rel in (MARKER, MANIFEST):
            continue
        elif listed is not None:
            if listed.get(rel) != _sha256_file(p):
                out.append(rel)
        elif not (rel in OUTPUT_FILES or (rel.startswith(f"{FIGURES_DIR}/") and rel.count("/") == 1
                                          and p.suffix.lower() in (".svg", ".png"))):
            out.append(rel)
    return [r for r in out if not any(r.startswith(f"{o}/") for o in out)]


def _is_evsynth_output(path: Path) -> bool:
    try:
        with open(path / RESULTS_FILE, encoding="utf-8") as fh:
            return json.load(fh).get("schema") == SCHEMA
    except (OSError, ValueError, AttributeError):
        return False


def _new_dir(parent: Path, prefix: str) -> Path:
    """A new, uniquely named folder in ``parent`` (mode from the umask, unlike mkdtemp's
    0700, so the finished output has ordinary permissions)."""
    for _ in range(100):
        path = parent / f"{prefix}{uuid.uuid4().hex[:12]}"
        try:
            path.mkdir(mode=0o777)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary folder in {parent}")


def _write_marker(folder: Path) -> None:
    """Mark ``folder`` as a temporary folder of this evsynth process."""
    info = {"evsynth": MARKER_TEXT, "pid": os.getpid(),
            "host": socket.gethostname(), "created": time.time()}
    (folder / MARKER).write_text(json.dumps(info) + "\n", encoding="utf-8")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def _is_stale(folder: Path, now: float | None = None) -> bool:
    """Whether ``folder`` is an evsynth temporary folder (valid marker) left by a run that is
    gone: same host and its process no longer exists, or another host and older than
    :data:`STALE_OTHER_HOST`."""
    try:
        if folder.is_symlink() or not folder.is_dir():
            return False
        info = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        pid, host, created = int(info["pid"]), str(info["host"]), float(info["created"])
        if info.get("evsynth") != MARKER_TEXT:
            return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if host == socket.gethostname():
        return pid != os.getpid() and not _pid_alive(pid)
    return (now if now is not None else time.time()) - created > STALE_OTHER_HOST


def remove_stale_temporary(parent: str | Path, name: str) -> list[Path]:
    """Remove the temporary folders of the output folder ``parent / name``
    (``.NAME.tmp-*`` and ``.NAME.old-*`` as :func:`_new_dir` names them: twelve hexadecimal
    digits) that killed evsynth runs left behind (see :func:`_is_stale`); returns those
    removed. Nothing else in ``parent`` is looked at, since ``parent`` is the user's folder
    (the review folder for the default output): a folder of another name, without evsynth's
    marker, or of a run still going is left alone."""
    parent = Path(parent)
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    _restore_moved_aside(parent, name)
    own = re.compile(rf"\.{re.escape(name)}\.(?:tmp|old)-[0-9a-f]{{12}}")
    for p in sorted(parent.iterdir()):
        if own.fullmatch(p.name) and _is_stale(p):
            shutil.rmtree(p, ignore_errors=True)
            if not p.exists():
                removed.append(p)
    return removed


def _restore_moved_aside(parent: Path, name: str) -> Path | None:
    """Put back the previous output that :func:`_swap_into_place` had moved aside
    (``.NAME.old-*``) when a run was killed between its two renames: the output folder is then
    missing, and removing the stale folder would lose the last complete output (fuzz round 4).
    The most recently moved-aside folder of a run that is gone is renamed back to ``NAME`` and
    its marker removed; returns it, or None when ``NAME`` exists or nothing was moved aside."""
    out = parent / name
    if out.exists() or out.is_symlink():
        return None
    own = re.compile(rf"\.{re.escape(name)}\.old-[0-9a-f]{{12}}")
    best: tuple[float, Path] | None = None
    for p in parent.iterdir():
        if own.fullmatch(p.name) and _is_stale(p):
            try:
                created = float(json.loads((p / MARKER).read_text(encoding="utf-8"))["created"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if best is None or created > best[0]:
                best = (created, p)
    if best is None:
        return None
    try:
        os.replace(best[1], out)
    except OSError:
        return None
    (out / MARKER).unlink(missing_ok=True)
    return out


class _Stopped(BaseException):
    """Raised by the cleanup signal handler to unwind ``run`` (then the signal is handed on)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _cleanup_on_signals() -> Iterator[None]:
    """While the block runs, SIGTERM/SIGINT unwind it (so its ``except``/``finally`` clauses
    remove the temporary folder at once); afterwards the previous handlers are restored and the
    signal is handed on to them (SIG_DFL: the signal is raised again, so the process ends as it
    would have; Python's SIGINT handler: KeyboardInterrupt). Signals that were ignored stay
    ignored; outside the main thread nothing is installed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}

    def handler(signum: int, _frame: Any) -> None:
        raise _Stopped(signum)

    for name in CLEANUP_SIGNALS:
        signum = getattr(signal, name, None)
        if signum is None:
            continue
        old = signal.getsignal(signum)
        if old == signal.SIG_IGN or old is None:
            continue
        previous[signum] = old
        signal.signal(signum, handler)
    try:
        yield
    except _Stopped as stop:
        for signum, old in previous.items():
            signal.signal(signum, old)
        previous.clear()
        old = signal.getsignal(stop.signum)
        if callable(old):
            old(stop.signum, None)
        else:
            signal.raise_signal(stop.signum)
        raise  # the previous handler did not end the process or raise: stop the run anyway
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """Hold back SIGTERM/SIGINT for the block (delivered when it ends; POSIX only)."""
    sigs = {getattr(signal, n) for n in CLEANUP_SIGNALS if hasattr(signal, n)}
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - Windows
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished ``tmp`` folder to ``out``; an existing ``out`` is moved aside first
    (marked as evsynth's temporary folder) and deleted only once the new folder is in place
    (restored if the rename fails)."""
    old = None
    if out.exists():
        old = _new_dir(out.parent, f".{out.name}.old-")
        old.rmdir()
        _write_marker(out)
        try:
            os.replace(out, old)
        except BaseException:
            (out / MARKER).unlink(missing_ok=True)
            raise
    try:
        os.replace(tmp, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)
            (out / MARKER).unlink(missing_ok=True)
        raise
    (out / MARKER).unlink(missing_ok=True)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _summarise(analysis: dict[str, Any], judgements: dict[str, Any] | None,
               mods: dict[str, Any]) -> None:
    """Fill ``grade``, ``sof`` and ``plain_language`` of one analysis (SOF helper's modules)."""
    if mods["grade"] is not None:
        analysis["grade"] = mods["grade"].certainty(judgements, analysis)
    if mods["sof"] is not None and analysis["grade"] is not None:
        analysis["sof"] = mods["sof"].sof_row(analysis, analysis["grade"])
    if mods["plain"] is not None and analysis["sof"] is not None:
        analysis["plain_language"] = mods["plain"].key_result(analysis, analysis["sof"])


def _progress(total: int, quiet: bool) -> tuple[Callable[[int], None] | None, Any]:
    if quiet or total < PROGRESS_MIN or not sys.stderr.isatty():
        return None, None
    from tqdm import tqdm

    class Bar(tqdm):
        monitor_interval = 0   # no monitor thread: it would outlive the bar and stop the fork

    bar = Bar(total=total, desc="analyses", unit="analysis", file=sys.stderr, leave=False)
    return bar.update, bar


def modules() -> tuple[dict[str, Any], list[str]]:
    """The summaries and reports modules the pipeline uses (None for one that does not exist
    yet) and the names of the missing ones."""
    missing: list[str] = []
    mods = {"grade": _optional("evsynth.summaries.grade", missing),
            "sof": _optional("evsynth.summaries.sof", missing),
            "plain": _optional("evsynth.summaries.plain_language", missing),
            "characteristics": _optional("evsynth.summaries.characteristics", missing),
            "forest": _optional("evsynth.reports.forest", missing),
            "html": _optional("evsynth.reports.html", missing),
            "markdown": _optional("evsynth.reports.markdown", missing)}
    return mods, missing


def summarise_analyses(review: Review, analyses: list[dict[str, Any]],
                       mods: dict[str, Any] | None = None) -> None:
    """The GRADE / Summary of Findings / plain-language step: fill ``grade``, ``sof`` and
    ``plain_language`` of every analysis (in place) from the review's ``[[grade]]``
    judgements (:func:`evsynth.summaries.grade.certainty`, :func:`evsynth.summaries.sof.sof_row`,
    :func:`evsynth.summaries.plain_language.key_result`)."""
    if mods is None:
        mods, _ = modules()
    for a in analyses:
        g = review.grade_for(a["comparison"]["id"], a["outcome"]["id"], a["window"]["id"])
        _summarise(a, g.model_dump() if g is not None else None, mods)


def analysis_results(review: Review, progress: Callable[[int], None] | None = None, *,
                     started: datetime | None = None) -> dict[str, Any]:
    """The results.json content of a loaded review, in memory: the analyses, their GRADE /
    SoF / plain-language summaries, study characteristics, risk of bias, the records section
    and the names of the figures :func:`write_output` draws. Writes nothing.

    ``progress`` is called with 1 after each comparison x outcome x window combination."""
    from evsynth.review.results import (
        included_studies_section,
        plan_figures,
        records_section_of,
        risk_of_bias_section,
    )

    started = started or datetime.now(UTC)
    analyses = build_analyses(review, progress=progress)
    results = build_results(review, analyses, started)
    mods, missing = modules()
    rob = risk_of_bias_section(review, results)    # also fills the RoB prompt's weights
    summarise_analyses(review, analyses, mods)
    if mods["characteristics"] is not None:
        for c in results["comparisons"]:
            c["characteristics"] = mods["characteristics"].summarise(
                results["studies"], {k: c[k] for k in ("id", "label", "intervention", "control")},
                c["study_ids"])
    included_studies_section(review, results)
    results["risk_of_bias"] = rob
    records = records_section_of(review)
    if records is not None:
        results["records"] = records
    results["provenance"]["missing_components"] = missing
    results["warnings"] = list(review.warnings) + [
        f"{a['id']}: {w}" for a in analyses for w in a.get("warnings") or []] + [
        f"records: {w}" for w in ((records or {}).get("errors") or [])
        + ((records or {}).get("warnings") or [])]
    plan_figures(results, forest=mods["forest"] is not None)
    if review.config.network:   # [[network]]: network meta-analyses (evsynth.review.network)
        from evsynth.review.network import network_sections, plan_network_figures

        results["networks"] = network_sections(review)
        plan_network_figures(results)
    return results


def write_output(results: dict[str, Any], out_dir: str | Path, *, force: bool = False,
                 review_path: str | Path | None = None, docx: bool = False) -> Path:
    """Write the output folder of ``results`` (from :func:`analysis_results`): figures,
    results.json, report.html and report.md (and report.docx when ``docx``), built in a
    temporary folder and swapped into place atomically (see the module docstring).
    ``review_path`` (the review folder) must not be replaced by the output. Returns the output
    folder."""
    out = Path(out_dir)
    _check_out_dir(Path(review_path) if review_path is not None else None, out, force)
    mods, _ = modules()
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporary(out.parent, out.name)
    with _cleanup_on_signals():
        tmp: Path | None = None
        try:
            with _signals_blocked():  # the folder never exists without its marker
                tmp = _new_dir(out.parent, f".{out.name}.tmp-")
                _write_marker(tmp)
            _write_outputs(results, tmp, mods)
            if docx:
                _write_docx(results, tmp)
            _write_manifest(tmp)
            with _signals_blocked():
                _swap_into_place(tmp, out)
        except BaseException:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise
    return out


def run(review_dir: str | Path, out_dir: str | Path | None = None, *, quiet: bool = False,
        force: bool = False, docx: bool = False) -> dict[str, Any]:
    """Run a review folder: write ``out_dir`` (default ``REVIEW_DIR/output``) with
    ``results.json``, ``figures/`` (forest plots, SVG and PNG), ``report.html`` and
    ``report.md``. Returns the results (the content of results.json).

    The same as ``evsynth.review.analyse(evsynth.review.load(review_dir)).write(out_dir)``
    (:mod:`evsynth.review.api`). ``docx``: write ``report.docx`` into the output folder too
    (the Summary of Findings tables in GRADEpro's layout, forest plots and key results;
    :func:`evsynth.reports.docx.write_docx`).

    Raises :class:`~evsynth.errors.InputError` for an invalid review folder (nothing is
    written), and for an ``out_dir`` that is not evsynth's output or (unless ``force``) holds
    files evsynth did not write. Any failure, SIGTERM or SIGINT leaves no temporary folder and
    the previous output untouched; temporary folders of killed runs are removed.
    """
    started = datetime.now(UTC)
    review = load_review(review_dir)
    out = Path(out_dir) if out_dir is not None else default_out_dir(review.path)
    _check_out_dir(review.path, out, force)
    cfg = review.config
    total = len(cfg.comparisons) * len(cfg.outcomes) * len(cfg.windows)
    update, bar = _progress(total, quiet)
    try:
        results = analysis_results(review, progress=update, started=started)
    finally:
        if bar is not None:
            bar.close()
    try:
        write_output(results, out, force=force, review_path=review.path, docx=docx)
    except BrokenPipeError:
        raise
    except OSError as exc:  # e.g. the output folder cannot be created where out_dir says
        raise output_os_error(exc, out) from None
    results["output_dir"] = str(out)
    return results


def _write_outputs(results: dict[str, Any], tmp: Path, mods: dict[str, Any]) -> None:
    """Figures, results.json and the reports, all inside the temporary folder ``tmp``."""
    fig_dir = tmp / FIGURES_DIR
    jobs = figure_jobs(results, mods)
    _draw_figures(jobs, fig_dir, mods)
    svgs = {kind: {key: _read_svg(tmp / path) for key, path in paths.items()}
            for kind, paths in figure_paths(results, "svg").items()}
    paths = figure_paths(results, "svg")
    write_results_json(results, tmp / RESULTS_FILE)
    if mods["html"] is not None:
        atomic_write_text(tmp / "report.html", mods["html"].render_html(
            results, svgs["forest"], funnel_svg=svgs["funnel"], rob_svg=svgs["rob"]))
    if mods["markdown"] is not None:
        atomic_write_text(tmp / "report.md", mods["markdown"].render_markdown(
            results, paths["forest"], funnel_paths=paths["funnel"], rob_paths=paths["rob"]))


def _write_docx(results: dict[str, Any], tmp: Path) -> None:
    """report.docx in the temporary folder ``tmp``, with the forest plots drawn there (PNG)."""
    from evsynth.reports.docx import write_docx

    pngs = {aid: (tmp / path).read_bytes()
            for aid, path in figure_paths(results, "png")["forest"].items()}
    write_docx(results, tmp / DOCX_FILE, figures=pngs)


def _read_svg(path: Path) -> str:
    with open(path, encoding="utf-8", newline="") as fh:
        return fh.read()   # as written, like svg_string's value


def figure_paths(results: dict[str, Any], fmt: str = "svg") -> dict[str, dict[str, str]]:
    """The figure files named in ``results`` (relative to the output folder), by kind:
    ``forest`` and ``funnel`` (analysis id -> path), ``rob`` (figure id -> path)."""
    out: dict[str, dict[str, str]] = {"forest": {}, "funnel": {}, "rob": {}}
    for a in results["analyses"]:
        figs = a.get("figures") or {}
        for kind in ("forest", "funnel"):
            if figs.get(f"{kind}_{fmt}"):
                out[kind][a["id"]] = figs[f"{kind}_{fmt}"]
    for f in (results.get("risk_of_bias") or {}).get("figures") or []:
        out["rob"][f["id"]] = f[fmt]
    if results.get("networks"):  # keys "network:<id>:<kind>" never clash with analysis ids
        from evsynth.review.network import figure_paths as network_paths

        out["forest"].update(network_paths(results, fmt))
    return out


def figure_jobs(results: dict[str, Any], mods: dict[str, Any]
                ) -> list[tuple[str, dict[str, Any]]]:
    """The figures of ``results`` as ``(kind, item)`` jobs: ``forest`` and ``funnel`` (the
    analysis), ``rob`` (a figure entry of the ``risk_of_bias`` section with the section)."""
    jobs = [("forest", a) for a in results["analyses"]
            if mods["forest"] is not None and (a.get("figures") or {}).get("forest_svg")]
    jobs += [("funnel", a) for a in results["analyses"]
             if (a.get("figures") or {}).get("funnel_svg")]
    rob = results.get("risk_of_bias") or {}
    jobs += [("rob", {"figure": f, "section": rob}) for f in rob.get("figures") or []]
    if results.get("networks"):
        from evsynth.review.network import figure_jobs as network_jobs

        jobs += network_jobs(results)
    return jobs


def figure_of(job: tuple[str, dict[str, Any]], mods: dict[str, Any]) -> Any:
    """The matplotlib Figure of one job of :func:`figure_jobs` (nothing written)."""
    kind, item = job
    if kind == "forest":
        return mods["forest"].forest_plot(item)
    if kind == "funnel":
        return funnel_figure(item)
    if kind == "network":
        from evsynth.review.network import figure_of as network_figure

        return network_figure(item)
    from evsynth.review.results import rob_figure

    return rob_figure(item["section"], item["figure"])


def _draw_figure(job: tuple[str, dict[str, Any]], fig_dir: Path, mods: dict[str, Any]) -> None:
    from evsynth.files import save_figures

    kind, a = job
    if kind == "forest":
        mods["forest"].write_forest(a, fig_dir, f"{a['id']}.forest")
    elif kind == "funnel":
        write_funnel(a, fig_dir, f"{a['id']}.funnel")
    elif kind == "network":
        from evsynth.review.network import draw as draw_network

        draw_network(a, fig_dir)
    else:
        fig = figure_of(job, mods)
        stem = Path(a["figure"]["svg"]).stem
        fig_dir.mkdir(parents=True, exist_ok=True)
        save_figures(fig, [fig_dir / f"{stem}.{fmt}" for fmt in ("svg", "png")])


def _job_cost(job: tuple[str, dict[str, Any]]) -> int:
    """Rough drawing cost of a figure, to share the figures between processes. Unit: about
    one forest-plot row, ~10 ms for SVG + PNG. Measured warm on the two examples (this
    machine, 2026-12-04): a forest plot of 16 studies 331 ms and of 9 studies 83-93 ms, a
    funnel plot of 16 studies 202 ms, a risk-of-bias traffic-light plot of 16 studies 162 ms,
    a risk-of-bias summary (bars per domain, however many studies) 124 ms."""
    a = job[1]
    if job[0] == "network":
        from evsynth.review.network import figure_cost

        return figure_cost(a)
    if job[0] == "rob":
        if a["figure"].get("kind") == "summary":
            return 12
        return 4 + len(a["figure"].get("studies") or [])
    studies, excluded = a.get("studies"), a.get("excluded")
    if job[0] == "funnel":  # one point per study: mostly the axes and labels
        return 12 + (len(studies) if isinstance(studies, list) else 0) // 2
    sg = a.get("subgroups")
    levels = sg.get("levels") if isinstance(sg, dict) else None
    if not studies:   # the short "no studies could be pooled" plot
        return 3 + (len(excluded) if isinstance(excluded, list) else 0)
    return 8 + sum(len(r) for r in (studies, excluded) if isinstance(r, list)) \
        + (4 * len(levels) if isinstance(levels, list) else 0)


def _can_fork() -> bool:
    """Whether figures may be drawn in a forked helper process: POSIX, at least two CPUs for
    this process, and no other thread (a fork copies only the calling thread, so a lock held
    by another thread would stay locked in the helper)."""
    if not hasattr(os, "fork") or not hasattr(signal, "pthread_sigmask"):
        return False
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return (cpus >= 2 and threading.active_count() == 1
            and threading.current_thread() is threading.main_thread())


def _draw_figures(jobs: list[tuple[str, dict[str, Any]]], fig_dir: Path,
                  mods: dict[str, Any]) -> None:
    """Draw the figures (``(kind, analysis)`` jobs) into ``fig_dir``. From
    :data:`FORK_MIN_FIGURES` figures on, and when :func:`_can_fork`, about half of them are
    drawn by a forked helper process at the same time (each figure's files are written
    atomically by whichever process draws it, so the files are the same either way). The
    helper restores the default SIGTERM/SIGINT handling and ends with ``os._exit`` (none of
    this process' cleanup runs in it); a failure in it is raised here; when this process fails
    or is stopped, the helper is killed and waited for before the exception propagates, so
    nothing writes into the temporary folder once it is being removed."""
    if len(jobs) < FORK_MIN_FIGURES or not _can_fork():
        for job in jobs:
            _draw_figure(job, fig_dir, mods)
        return
    # longest first, each to the process with less work so far (this process: its own share)
    mine: list[int] = []
    theirs: list[int] = []
    load = [0, 0]
    for i in sorted(range(len(jobs)), key=lambda i: -_job_cost(jobs[i])):
        side = 0 if load[0] <= load[1] else 1
        (mine if side == 0 else theirs).append(i)
        load[side] += _job_cost(jobs[i])
    fig_dir.mkdir(parents=True, exist_ok=True)
    read_end, write_end = os.pipe()
    # SIGTERM/SIGINT held back over the fork: the helper installs the default handlers first
    sigs = {getattr(signal, n) for n in CLEANUP_SIGNALS if hasattr(signal, n)}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        with warnings.catch_warnings():
            # Python >= 3.12 warns about any OS thread: here only BLAS pools (numpy/scipy's
            # OpenBLAS, which handle fork); Python threads were ruled out by _can_fork
            warnings.filterwarnings("ignore", r"This process .* is multi-threaded",
                                    DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover - the helper process (coverage does not follow forks)
            _figure_helper(read_end, write_end, mask, [jobs[i] for i in sorted(theirs)],
                           fig_dir, mods)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(write_end)
    done = False
    status = 0
    try:
        for i in sorted(mine):
            _draw_figure(jobs[i], fig_dir, mods)
        with os.fdopen(read_end, "rb") as fh:
            read_end = -1
            report = fh.read()
        status = os.waitpid(pid, 0)[1]
        done = True
    finally:
        if read_end != -1:
            os.close(read_end)
        if not done:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)
    if report != b"ok":
        import pickle

        try:
            exc = pickle.loads(report)
        except Exception:  # noqa: BLE001 - an unreadable report is itself the error
            exc = None
        if isinstance(exc, BaseException):
            raise exc
        raise RuntimeError("the figure helper process ended without finishing its figures "
                           f"(wait status {status})")


def _figure_helper(read_end: int, write_end: int, mask: Any,
                   jobs: list[tuple[str, dict[str, Any]]], fig_dir: Path,
                   mods: dict[str, Any]) -> None:  # pragma: no cover - forked
    """The forked helper of :func:`_draw_figures`: draw ``jobs``, report ``ok`` or the pickled
    exception on ``write_end``, and end the process (never returns)."""
    code = 1
    report = b""
    try:
        for name in CLEANUP_SIGNALS:
            signum = getattr(signal, name, None)
            if signum is not None and signal.getsignal(signum) not in (signal.SIG_IGN, None):
                signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(read_end)
        for job in jobs:
            _draw_figure(job, fig_dir, mods)
        report, code = b"ok", 0
    except BaseException as exc:  # noqa: BLE001 - reported to the parent process
        import pickle
        import traceback

        try:
            report = pickle.dumps(exc)
        except Exception:  # noqa: BLE001
            report = pickle.dumps(RuntimeError("figure helper process: " + "".join(
                traceback.format_exception(exc))))
    finally:
        try:
            view = memoryview(report)
            while view:
                view = view[os.write(write_end, view):]
        finally:
            os._exit(code)


def funnel_figure(analysis: dict[str, Any]) -> Any:
    """The contour-enhanced funnel plot of an analysis with k >= 10 (trim-and-fill studies as
    open points; :func:`evsynth.reports.bias_plots.funnel_plot`, after metafor ``funnel``).

    The model is refitted from the analysis' yi/vi (:func:`evsynth.review.analysis.refit`) and
    trim-and-fill rerun on the side recorded in ``small_study``, so the figure shows the numbers
    of results.json; the x axis is on the analysis scale (log for OR/RR)."""
    from evsynth.reports.bias_plots import funnel_plot

    fit = refit(analysis)
    tf_block = (analysis.get("small_study") or {}).get("trimfill")
    tf = fit.trimfill(side=tf_block["side"]) if tf_block else None
    m = analysis.get("measure") or "Effect"
    xlabel = f"log {m}" if analysis.get("log_scale") else m
    return funnel_plot(fit, contours=True, trimfill=tf if tf is not None and tf.k0 else None,
                       xlabel=xlabel)


def write_funnel(analysis: dict[str, Any], fig_dir: Path, stem: str) -> str:
    """Write the funnel plot of :func:`funnel_figure` as ``stem.svg`` and ``stem.png`` in
    ``fig_dir``; returns the SVG text."""
    from evsynth.files import save_figure, svg_string

    fig = funnel_figure(analysis)
    fig_dir.mkdir(parents=True, exist_ok=True)
    save_figure(fig, fig_dir / f"{stem}.png")
    svg = svg_string(fig)
    atomic_write_text(fig_dir / f"{stem}.svg", svg)
    return svg


def summary_lines(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One short record per analysis (for ``--json`` and the console)."""
    out = []
    for a in results["analyses"]:
        p = a["pooled"] or {}
        out.append({"id": a["id"], "measure": a["measure"], "log_scale": a["log_scale"],
                    "k": a["k"], "participants": a["participants"],
                    "estimate": p.get("estimate"), "ci_lb": p.get("ci_lb"),
                    "ci_ub": p.get("ci_ub"), "I2": p.get("I2"),
                    "excluded": len(a["excluded"]),
                    "certainty": (a.get("grade") or {}).get("level")})
    return out
