"""Issue 9 for `evsynth run`: output permissions follow the umask (point 10); a run stopped by
SIGTERM/SIGINT removes its temporary folder at once and the next run removes the marked
temporary folders of killed runs, nothing else (11); run() and the PRISMA diagram leave the
caller's matplotlib state alone (12); no user file in an output folder is replaced without
--force (9)."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from review_helpers import make_review

from evsynth.cli import main
from evsynth.errors import InputError
from evsynth.files import atomic_write, atomic_write_text, make_dir
from evsynth.review import pipeline
from evsynth.review.pipeline import MARKER, MARKER_TEXT, remove_stale_temporary, run

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "vertebroplasty"
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions and signals")


def _temporaries(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


# --------------------------------------------------------------------------- point 10
@posix_only
@pytest.mark.parametrize("mask, fmode, dmode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750),
                                                (0o077, 0o600, 0o700), (0o002, 0o664, 0o775)])
def test_atomic_files_and_folders_follow_the_umask(tmp_path, mask, fmode, dmode):
    old = os.umask(mask)
    try:
        p = atomic_write(tmp_path / "sub" / "a.bin", b"x")
        q = atomic_write_text(tmp_path / "b.txt", "y")
        atomic_write_text(q, "replaced")  # replacing keeps the umask's mode
        d = make_dir(tmp_path / "d" / "e")
    finally:
        os.umask(old)
    for f in (p, q):
        assert stat.S_IMODE(f.stat().st_mode) == fmode, oct(f.stat().st_mode)
    for f in (p.parent, d, d.parent):
        assert stat.S_IMODE(f.stat().st_mode) == dmode
    assert sorted(x.name for x in tmp_path.iterdir()) == ["b.txt", "d", "sub"]  # no temp left


@posix_only
@pytest.mark.parametrize("mask, fmode, dmode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_run_output_permissions(tmp_path, mask, fmode, dmode):
    d = make_review(tmp_path / "review")
    out = tmp_path / "out"
    old = os.umask(mask)
    try:
        run(d, out, quiet=True)
    finally:
        os.umask(old)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"results.json", "report.html", "report.md"}
    assert any(p.suffix == ".png" for p in files) and any(p.suffix == ".svg" for p in files)
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == fmode, (p, oct(p.stat().st_mode))
    for p in [out, *[q for q in out.rglob("*") if q.is_dir()]]:
        assert stat.S_IMODE(p.stat().st_mode) == dmode, (p, oct(p.stat().st_mode))
    assert not (out / MARKER).exists()


# --------------------------------------------------------------------------- point 11
SLOW_RUN = r"""
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)   # as in an interactive shell
signal.signal(signal.SIGTERM, signal.SIG_DFL)
import evsynth.review.pipeline as p
orig = p._write_outputs
def slow(results, tmp, mods):
    orig(results, tmp, mods)
    print("READY " + str(tmp), flush=True)
    time.sleep(120)
p._write_outputs = slow
from evsynth.cli import main
sys.exit(main(["run", sys.argv[1], "--out", sys.argv[2], "--quiet"]))
"""


def _start_slow_run(review: Path, out: Path) -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen([sys.executable, "-c", SLOW_RUN, str(review), str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    end = time.monotonic() + 120
    line = ""
    while not line.startswith("READY"):
        left = end - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            proc.kill()
            raise AssertionError(f"run did not get ready: {proc.stderr.read()}")
        if select.select([proc.stdout], [], [], left)[0]:
            line = proc.stdout.readline()
    tmp = Path(line.split(" ", 1)[1].strip())
    assert tmp.is_dir() and (tmp / "results.json").is_file()
    marker = json.loads((tmp / MARKER).read_text(encoding="utf-8"))
    assert marker["pid"] == proc.pid and marker["host"] == socket.gethostname()
    return proc, tmp


@posix_only
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGINT, 130)])
def test_stopped_run_cleans_its_temporary_folder_at_once(tmp_path, sig, code):
    d = make_review(tmp_path / "review")
    out = tmp_path / "out"
    assert main(["run", str(d), "--out", str(out), "--quiet"]) == 0  # a previous output
    before = (out / "results.json").read_bytes()
    proc, tmp = _start_slow_run(d, out)
    try:
        os.kill(proc.pid, sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, proc.stderr.read()
    if sig == signal.SIGINT:
        assert "evsynth: interrupted" in proc.stderr.read()
    assert not tmp.exists() and _temporaries(tmp_path) == []
    assert (out / "results.json").read_bytes() == before  # the previous output untouched


@posix_only
def test_killed_run_leftovers_removed_by_the_next_run_and_nothing_else(tmp_path):
    d = make_review(tmp_path / "review")
    out = tmp_path / "out"
    proc, tmp = _start_slow_run(d, out)
    proc.kill()  # SIGKILL: no chance to clean up
    proc.wait(timeout=60)
    assert tmp.is_dir()  # left behind, with evsynth's marker
    # folders that are not evsynth's, or belong to a run still going, must stay
    foreign = tmp_path / ".out.tmp-notmine"
    foreign.mkdir()
    (foreign / "data.txt").write_text("keep")
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        def marked(name: str, pid: int, host: str, age: float, text: str = MARKER_TEXT) -> Path:
            folder = tmp_path / name
            folder.mkdir()
            (folder / MARKER).write_text(json.dumps({"evsynth": text, "pid": pid, "host": host,
                                                     "created": time.time() - age}))
            return folder

        here = socket.gethostname()
        busy = marked(".out.tmp-0123456789ab", alive.pid, here, 0)
        far_old = marked(".out.tmp-00000000000a", 1, "elsewhere.invalid", 3 * 86400)
        far_new = marked(".out.old-00000000000b", 1, "elsewhere.invalid", 3600)
        # a stale marker on folders that are not this output's temporary folders: another
        # output's name, a name evsynth does not make, or a marker of something else
        other_output = marked(".other.tmp-00000000000c", 1, "elsewhere.invalid", 3 * 86400)
        not_a_name = marked(".out.tmp-far-old", 1, "elsewhere.invalid", 3 * 86400)
        not_ours = marked(".out.tmp-00000000000d", 1, "elsewhere.invalid", 3 * 86400,
                          text="something else")
        (other_output / "precious.csv").write_text("keep")
        bad_marker = tmp_path / ".out.old-00000000000e"
        bad_marker.mkdir()
        (bad_marker / MARKER).write_text("not json")
        run(d, out, quiet=True)
        assert not tmp.exists() and not far_old.exists()
        assert (foreign / "data.txt").read_text() == "keep"
        assert busy.is_dir() and far_new.is_dir() and bad_marker.is_dir()
        assert not_a_name.is_dir() and not_ours.is_dir()
        assert (other_output / "precious.csv").read_text() == "keep"
        assert (out / "results.json").is_file()
    finally:
        alive.kill()
        alive.wait()
    assert remove_stale_temporary(tmp_path, "out") == [busy]  # its process has ended now
    assert remove_stale_temporary(tmp_path, "other") == [other_output]  # only when asked


def test_handlers_restored_after_run(tmp_path):
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    run(make_review(tmp_path / "review"), tmp_path / "out", quiet=True)
    assert {s: signal.getsignal(s) for s in before} == before


# --------------------------------------------------------------------------- point 12
MPL_STATE = r"""
import json, sys
import matplotlib
matplotlib.use("pdf")                      # the caller's (non-Agg) backend
import matplotlib.pyplot as plt
fig = plt.figure()                         # the caller's open figures
fig2 = plt.figure()
plt.figure(fig.number)                     # and its current figure
from evsynth.review import run
run(sys.argv[1], sys.argv[2], quiet=True)
from evsynth.records.prisma import prisma_diagram
counts = {"identification": {"databases": {"MEDLINE": 3}, "registers": {}},
          "removed_before_screening": {"duplicates": 0},
          "screening": {"records_screened": 3, "records_excluded": 1, "reports_sought": 2,
                        "reports_not_retrieved": 0, "reports_assessed": 2,
                        "reports_excluded": 1, "reports_excluded_reasons": {}},
          "included": {"studies": 1, "reports": 1}}
prisma_diagram(counts, sys.argv[2] + "/p.svg", sys.argv[2] + "/p.png")
print(json.dumps({"backend": matplotlib.get_backend(), "figs": plt.get_fignums(),
                  "current": plt.gcf() is fig, "alive": [f.number for f in (fig, fig2)]}))
"""


def test_run_and_prisma_leave_matplotlib_state_alone(tmp_path):
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-c", MPL_STATE, str(EXAMPLE), str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    state = json.loads(r.stdout.strip().splitlines()[-1])
    assert state == {"backend": "pdf", "figs": [1, 2], "current": True, "alive": [1, 2]}
    assert (out / "report.html").is_file() and (out / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_pipeline_and_prisma_do_not_use_pyplot():
    import ast

    import evsynth.records.prisma as prisma

    for mod in (pipeline, prisma):
        tree = ast.parse(Path(mod.__file__).read_text(encoding="utf-8"))
        names = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                 for a in n.names} | {n.module for n in ast.walk(tree)
                                      if isinstance(n, ast.ImportFrom)}
        assert "matplotlib.pyplot" not in names and "pyplot" not in names, mod.__name__
        calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        assert "matplotlib.use" not in calls, mod.__name__


# --------------------------------------------------------------------------- point 9 (run)
def test_cli_run_out_with_user_files_needs_force(tmp_path, capsys):
    d = make_review(tmp_path / "review")
    assert main(["run", str(d), "--quiet"]) == 0
    out = d / "output"
    (out / "figures" / "my-notes.txt").write_text("mine")
    assert main(["run", str(d), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "figures/my-notes.txt" in err and "--force" in err
    assert (out / "figures" / "my-notes.txt").read_text() == "mine"
    assert main(["run", str(d), "--quiet", "--force"]) == 0
    assert not (out / "figures" / "my-notes.txt").exists()


def test_changed_outputs_need_force_and_older_outputs_are_recognised(tmp_path):
    d = make_review(tmp_path / "review")
    out = tmp_path / "out"
    run(d, out, quiet=True)
    manifest = json.loads((out / pipeline.MANIFEST).read_text(encoding="utf-8"))["files"]
    assert {"results.json", "report.html", "report.md"} <= set(manifest)
    assert any(k.startswith("figures/") for k in manifest)
    with open(out / "report.md", "a", encoding="utf-8") as fh:
        fh.write("\nmy edits\n")
    with pytest.raises(InputError, match=r"or changed since \(report.md\).*--force"):
        run(d, out, quiet=True)
    assert (out / "report.md").read_text(encoding="utf-8").endswith("my edits\n")
    run(d, out, quiet=True, force=True)
    # an output folder of an older evsynth (no manifest): judged by the names evsynth writes
    (out / pipeline.MANIFEST).unlink()
    run(d, out, quiet=True)
    (out / pipeline.MANIFEST).unlink()
    (out / "figures" / "notes.docx").write_bytes(b"x")
    with pytest.raises(InputError, match=r"figures/notes.docx"):
        run(d, out, quiet=True)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="symlinks not available")
def test_run_out_symlink_is_refused(tmp_path):
    d = make_review(tmp_path / "review")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (d / "output").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(InputError, match="is a symlink"):
        run(d, quiet=True)
    assert list(elsewhere.iterdir()) == []


@posix_only
def test_output_moved_aside_by_a_killed_swap_is_restored(tmp_path):
    """Fuzz round 4: a run killed between _swap_into_place's two renames left the previous
    output only as '.out.old-*'; the next run deleted it as stale, and if that run was
    interrupted too, the last complete output was gone. The moved-aside folder of a run that is
    gone is now put back when the output folder is missing (the latest one if several)."""
    d = make_review(tmp_path / "review")
    out = tmp_path / "out"
    run(d, out, quiet=True)
    before = (out / "results.json").read_bytes()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    here = socket.gethostname()

    def move_aside(folder: Path, name: str, age: float) -> Path:
        (folder / MARKER).write_text(json.dumps({"evsynth": MARKER_TEXT, "pid": dead.pid,
                                                 "host": here, "created": time.time() - age}))
        aside = tmp_path / name
        os.replace(folder, aside)
        return aside

    older = tmp_path / "older"
    older.mkdir()
    (older / "results.json").write_text("older output")
    move_aside(older, ".out.old-0000000000aa", 60)
    move_aside(out, ".out.old-0000000000bb", 1)  # the killed swap's: the latest
    assert not out.exists()
    removed = remove_stale_temporary(tmp_path, "out")
    assert (out / "results.json").read_bytes() == before  # restored, not removed
    assert not (out / MARKER).exists()
    assert [p.name for p in removed] == [".out.old-0000000000aa"]
    assert _temporaries(tmp_path) == []
    # with the output in place, a moved-aside folder is stale and removed as before
    extra = tmp_path / "extra"
    extra.mkdir()
    move_aside(extra, ".out.old-0000000000cc", 1)
    assert remove_stale_temporary(tmp_path, "out") == [tmp_path / ".out.old-0000000000cc"]
    assert (out / "results.json").read_bytes() == before
