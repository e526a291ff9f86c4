"""``evsynth run``: a review folder to results.json, forest plots and the reports.

The whole output folder is built in a temporary folder next to the destination and renamed into
place at the end, so an interrupted or failed run leaves either the previous output or nothing --
never a half-written report. The input files are only read.

Layers: this module calls the summaries (GRADE, Summary of Findings, plain language, study
characteristics) and the reports (forest plots, HTML, Markdown); none of them calls back.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evsynth.errors import InputError
from evsynth.files import atomic_write_text
from evsynth.review.analysis import build_analyses, refit
from evsynth.review.load import Review, load_review
from evsynth.review.results import SCHEMA, build_results, write_results_json

DEFAULT_OUT = "output"
RESULTS_FILE = "results.json"
FIGURES_DIR = "figures"
#: a progress bar is shown from this many comparison x outcome x window combinations on
PROGRESS_MIN = 12


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


def _check_out_dir(review: Review, out: Path) -> None:
    """Refuse an output folder that would replace the inputs or a folder evsynth did not write."""
    src = review.path.resolve()
    dst = out.resolve()
    if dst == src or dst in src.parents:
        raise InputError(f"--out {out}: the output folder would replace the review folder "
                         f"{review.path}; expected a separate folder (default "
                         f"{default_out_dir(review.path)})")
    if dst.exists():
        if not dst.is_dir():
            raise InputError(f"--out {out}: exists and is not a folder; expected a folder path")
        if any(dst.iterdir()) and not _is_evsynth_output(dst):
            raise InputError(f"--out {out}: exists, is not empty and holds no evsynth "
                             f"{RESULTS_FILE}; expected a new folder or a previous evsynth output "
                             "(it would be replaced)")


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
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary folder in {parent}")


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished ``tmp`` folder to ``out``; an existing ``out`` is moved aside first
    and deleted only once the new folder is in place (restored if the rename fails)."""
    old = None
    if out.exists():
        old = _new_dir(out.parent, f".{out.name}.old-")
        old.rmdir()
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)
        raise
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

    bar = tqdm(total=total, desc="analyses", unit="analysis", file=sys.stderr, leave=False)
    return bar.update, bar


def run(review_dir: str | Path, out_dir: str | Path | None = None, *, quiet: bool = False
        ) -> dict[str, Any]:
    """Run a review folder: write ``out_dir`` (default ``REVIEW_DIR/output``) with
    ``results.json``, ``figures/`` (forest plots, SVG and PNG), ``report.html`` and
    ``report.md``. Returns the results (the content of results.json).

    Raises :class:`~evsynth.errors.InputError` for an invalid review folder (nothing is
    written). Any failure leaves no temporary folder and the previous output untouched.
    """
    started = datetime.now(UTC)
    review = load_review(review_dir)
    out = Path(out_dir) if out_dir is not None else default_out_dir(review.path)
    _check_out_dir(review, out)
    cfg = review.config
    total = len(cfg.comparisons) * len(cfg.outcomes) * len(cfg.windows)
    update, bar = _progress(total, quiet)
    try:
        analyses = build_analyses(review, progress=update)
    finally:
        if bar is not None:
            bar.close()
    results = build_results(review, analyses, started)
    missing: list[str] = []
    mods = {"grade": _optional("evsynth.summaries.grade", missing),
            "sof": _optional("evsynth.summaries.sof", missing),
            "plain": _optional("evsynth.summaries.plain_language", missing),
            "characteristics": _optional("evsynth.summaries.characteristics", missing),
            "forest": _optional("evsynth.reports.forest", missing),
            "html": _optional("evsynth.reports.html", missing),
            "markdown": _optional("evsynth.reports.markdown", missing)}
    for a in analyses:
        g = review.grade_for(a["comparison"]["id"], a["outcome"]["id"], a["window"]["id"])
        _summarise(a, g.model_dump() if g is not None else None, mods)
    if mods["characteristics"] is not None:
        for c in results["comparisons"]:
            c["characteristics"] = mods["characteristics"].summarise(
                results["studies"], {k: c[k] for k in ("id", "label", "intervention", "control")},
                c["study_ids"])
    results["provenance"]["missing_components"] = missing
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_dir(out.parent, f".{out.name}.tmp-")
    try:
        _write_outputs(results, tmp, mods)
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    results["output_dir"] = str(out)
    return results


def _write_outputs(results: dict[str, Any], tmp: Path, mods: dict[str, Any]) -> None:
    """Figures, results.json and the reports, all inside the temporary folder ``tmp``."""
    svgs: dict[str, str] = {}
    paths: dict[str, str] = {}
    funnel_svgs: dict[str, str] = {}
    funnel_paths: dict[str, str] = {}
    if mods["forest"] is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        for a in results["analyses"]:
            stem = f"{a['id']}.forest"
            written = mods["forest"].write_forest(a, tmp / FIGURES_DIR, stem)
            a["figures"] = {"forest_svg": f"{FIGURES_DIR}/{stem}.svg",
                            "forest_png": f"{FIGURES_DIR}/{stem}.png"}
            svgs[a["id"]] = Path(written["svg"]).read_text(encoding="utf-8")
            paths[a["id"]] = a["figures"]["forest_svg"]
            plt.close("all")
    for a in results["analyses"]:
        if (a.get("small_study") or {}).get("assessed"):
            stem = f"{a['id']}.funnel"
            svg = write_funnel(a, tmp / FIGURES_DIR, stem)
            a["figures"] = {**(a.get("figures") or {}),
                            "funnel_svg": f"{FIGURES_DIR}/{stem}.svg",
                            "funnel_png": f"{FIGURES_DIR}/{stem}.png"}
            funnel_svgs[a["id"]] = svg
            funnel_paths[a["id"]] = a["figures"]["funnel_svg"]
    write_results_json(results, tmp / RESULTS_FILE)
    if mods["html"] is not None:
        atomic_write_text(tmp / "report.html",
                          mods["html"].render_html(results, svgs, funnel_svg=funnel_svgs))
    if mods["markdown"] is not None:
        atomic_write_text(tmp / "report.md", mods["markdown"].render_markdown(
            results, paths, funnel_paths=funnel_paths))


def write_funnel(analysis: dict[str, Any], fig_dir: Path, stem: str) -> str:
    """Write the contour-enhanced funnel plot of an analysis with k >= 10 (trim-and-fill studies
    as open points; :func:`evsynth.reports.bias_plots.funnel_plot`, after metafor ``funnel``) as
    ``stem.svg`` and ``stem.png`` in ``fig_dir``; returns the SVG text.

    The model is refitted from the analysis' yi/vi (:func:`evsynth.review.analysis.refit`) and
    trim-and-fill rerun on the side recorded in ``small_study``, so the figure shows the numbers
    of results.json; the x axis is on the analysis scale (log for OR/RR)."""
    from evsynth.files import save_figure, svg_string
    from evsynth.reports.bias_plots import funnel_plot

    fit = refit(analysis)
    tf_block = (analysis.get("small_study") or {}).get("trimfill")
    tf = fit.trimfill(side=tf_block["side"]) if tf_block else None
    m = analysis.get("measure") or "Effect"
    xlabel = f"log {m}" if analysis.get("log_scale") else m
    fig = funnel_plot(fit, contours=True, trimfill=tf if tf is not None and tf.k0 else None,
                      xlabel=xlabel)
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
