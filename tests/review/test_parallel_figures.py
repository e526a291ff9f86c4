"""Figures drawn by a forked helper process (evsynth.review.pipeline._draw_figures): the same
files as drawn in one process, helper failures raised, no helper left behind, no fork when the
process has other threads."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest
from review_helpers import make_review
from small_study_helpers import make_small_study_review

from evsynth.errors import InputError
from evsynth.review import pipeline
from evsynth.review.pipeline import run

posix_only = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork (POSIX)")
TIMESTAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00")
#: the funnel plots' SVG ids (marker and clip path) are random in every run
SVG_ID = re.compile(rb"\b([mp])[0-9a-f]{10}\b")


def _digests(out: Path) -> dict[str, str]:
    """SHA-256 of every output file (timestamps blanked in the JSON/HTML/Markdown, random SVG
    ids blanked in the funnel plots and the HTML report)."""
    res = {}
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.name != pipeline.MANIFEST:
            data = p.read_bytes()
            if p.suffix in (".json", ".html", ".md"):
                data = TIMESTAMP.sub(b"T", data)
            if p.suffix == ".html" or p.name.endswith(".funnel.svg"):
                data = SVG_ID.sub(rb"\1-id", data)
            res[p.relative_to(out).as_posix()] = hashlib.sha256(data).hexdigest()
    return res


def _temporaries(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


def _no_helper_left(forks: list[int]) -> None:
    for pid in forks:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


@pytest.fixture
def forks(monkeypatch) -> list[int]:
    """The helper processes forked during the test."""
    pids: list[int] = []
    real = os.fork

    def fork() -> int:
        pid = real()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(pipeline.os, "fork", fork)
    monkeypatch.setattr(pipeline, "_can_fork", lambda: True)
    return pids


@posix_only
@pytest.mark.parametrize("maker", [make_review, make_small_study_review])
def test_helper_and_one_process_write_the_same_files(tmp_path, monkeypatch, forks, maker):
    d = maker(tmp_path / "review")
    run(d, tmp_path / "parallel", quiet=True)
    assert len(forks) == 1
    _no_helper_left(forks)
    monkeypatch.setattr(pipeline, "FORK_MIN_FIGURES", 10**9)
    run(d, tmp_path / "serial", quiet=True)
    assert len(forks) == 1
    one, two = _digests(tmp_path / "serial"), _digests(tmp_path / "parallel")
    assert one == two
    assert sum(name.endswith(".png") for name in one) >= 4


@posix_only
def test_helper_failure_is_raised_and_leaves_nothing(tmp_path, monkeypatch, forks):
    import evsynth.reports.forest as forest

    d = make_review(tmp_path / "review")
    parent = os.getpid()
    real = forest.write_forest

    def write(analysis, out_dir, stem, **kw):
        if os.getpid() != parent:
            raise InputError(f"analysis {analysis['id']!r}: cannot be drawn")
        return real(analysis, out_dir, stem, **kw)

    monkeypatch.setattr(forest, "write_forest", write)
    with pytest.raises(InputError, match="cannot be drawn"):
        run(d, tmp_path / "out", quiet=True)
    _no_helper_left(forks)
    assert not (tmp_path / "out").exists() and _temporaries(tmp_path) == []


@posix_only
def test_killed_helper_is_an_error(tmp_path, monkeypatch, forks):
    import evsynth.reports.forest as forest

    d = make_review(tmp_path / "review")
    parent = os.getpid()
    real = forest.write_forest

    def write(analysis, out_dir, stem, **kw):
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(analysis, out_dir, stem, **kw)

    monkeypatch.setattr(forest, "write_forest", write)
    with pytest.raises(RuntimeError, match="figure helper process"):
        run(d, tmp_path / "out", quiet=True)
    _no_helper_left(forks)
    assert not (tmp_path / "out").exists() and _temporaries(tmp_path) == []


@posix_only
def test_failing_parent_kills_the_helper_first(tmp_path, monkeypatch, forks):
    import evsynth.reports.forest as forest

    d = make_review(tmp_path / "review")
    parent = os.getpid()

    def write(analysis, out_dir, stem, **kw):
        if os.getpid() != parent:
            time.sleep(60)   # still drawing when the parent fails
            os._exit(0)
        raise KeyboardInterrupt

    monkeypatch.setattr(forest, "write_forest", write)
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run(d, tmp_path / "out", quiet=True)
    assert time.monotonic() - t0 < 30
    _no_helper_left(forks)
    assert not (tmp_path / "out").exists() and _temporaries(tmp_path) == []


def test_no_helper_while_other_threads_run(tmp_path, monkeypatch):
    def no_fork() -> int:
        raise AssertionError("forked with another thread running")

    monkeypatch.setattr(pipeline.os, "fork", no_fork)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    try:
        assert not pipeline._can_fork()
        run(make_review(tmp_path / "review"), tmp_path / "out", quiet=True)
    finally:
        stop.set()
        t.join()
    assert len(list((tmp_path / "out" / "figures").glob("*.forest.svg"))) == 4


def test_progress_bar_starts_no_thread(monkeypatch):
    """tqdm's monitor thread outlives the bar; the run's bar has none, so the figures can
    still be shared with a helper process after an interactive run's progress bar."""

    class Tty:
        def isatty(self):
            return True

        def write(self, s):
            return len(s)

        def flush(self):
            pass

    before = threading.active_count()
    monkeypatch.setattr(pipeline.sys, "stderr", Tty())
    update, bar = pipeline._progress(100, quiet=False)
    assert update is not None
    update(1)
    assert threading.active_count() == before
    bar.close()
    assert threading.active_count() == before


def test_job_costs_share_the_example_evenly():
    """The costs follow the measured drawing times (pipeline._job_cost): on the antibiotic
    example (one forest plot and one funnel plot of 16 studies, a traffic-light plot and two
    risk-of-bias summaries) the greedy split puts the forest plot with one summary and the
    funnel plot with the other two (about 0.46 vs 0.49 s warm); the funnel plot used to cost
    as much as the forest plot, which left 0.84 vs 0.40 s."""
    studies = [{"study": f"S{i}"} for i in range(16)]
    analysis = {"studies": studies, "excluded": []}
    forest = pipeline._job_cost(("forest", analysis))
    funnel = pipeline._job_cost(("funnel", analysis))
    traffic = pipeline._job_cost(("rob", {"figure": {"kind": "traffic_light",
                                                     "studies": [s["study"] for s in studies]},
                                          "section": {}}))
    summary = pipeline._job_cost(("rob", {"figure": {"kind": "summary", "studies": []},
                                          "section": {}}))
    assert forest > funnel >= traffic > summary > 0
    # measured warm (ms): forest 331, funnel 202, traffic light 162, summary 124
    loads = [0, 0]
    for cost in sorted([forest, funnel, traffic, summary, summary], reverse=True):
        loads[loads.index(min(loads))] += cost
    assert max(loads) / sum(loads) < 0.55
