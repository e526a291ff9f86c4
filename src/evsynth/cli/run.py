"""``evsynth run`` and ``evsynth validate``: a review folder to its report.

::

    evsynth run REVIEW_DIR [--out DIR] [--docx] [--quiet] [--json] [--debug]
    evsynth validate REVIEW_DIR

``run`` writes DIR (default ``REVIEW_DIR/output``): results.json, figures/, report.html,
report.md (and report.docx with ``--docx``). Exit codes: 0 success, 2 invalid input (message
naming file, line/key and field; no traceback), 1 internal error (``--debug`` shows the
traceback).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from evsynth.textsafe import echo


def _fmt(x: float | None, log_scale: bool) -> str:
    import math

    if x is None:
        return "NA"
    return f"{math.exp(x):.2f}" if log_scale else f"{x:.2f}"


def cmd_run(args: argparse.Namespace) -> int:
    from evsynth.errors import InputError
    from evsynth.review.pipeline import (
        RESULTS_FILE,
        default_out_dir,
        output_os_error,
        run,
        summary_lines,
    )

    if args.out is not None and args.out.strip() == "":  # Path("") would be "."
        raise InputError(f"--out {args.out!r}: empty; expected a folder path (without --out "
                         "the output goes to REVIEW_DIR/output)")
    try:
        results = run(args.review_dir, args.out, quiet=args.quiet or args.json,
                      force=args.force, docx=args.docx)
    except BrokenPipeError:
        raise
    except OSError as exc:   # e.g. the output folder cannot be created where --out says
        out = Path(args.out) if args.out is not None else default_out_dir(args.review_dir)
        raise output_os_error(exc, out) from None
    out = Path(results["output_dir"])
    lines = summary_lines(results)
    if args.json:
        echo(json.dumps({"results": str(out / RESULTS_FILE)}))
        for rec in lines:
            echo(json.dumps(rec, allow_nan=False))
        return 0
    if not args.quiet:
        for rec in lines:
            est = (f"{_fmt(rec['estimate'], rec['log_scale'])} "
                   f"[{_fmt(rec['ci_lb'], rec['log_scale'])}, "
                   f"{_fmt(rec['ci_ub'], rec['log_scale'])}]" if rec["k"] else "no data")
            extra = f", {rec['excluded']} left out" if rec["excluded"] else ""
            echo(f"  {rec['id']}: {rec['measure']} {est} (k = {rec['k']}{extra})")
        for w in results.get("warnings") or []:
            echo(f"warning: {w}", err=True)
        report = out / "report.html"
        n = len(lines)
        echo(f"Wrote {out} ({n} {'analysis' if n == 1 else 'analyses'})" +
             (f"; report: {report}" if report.exists() else ""))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from evsynth.errors import InputError
    from evsynth.review.load import validate
    from evsynth.review.records_section import check_folder

    lines = validate(args.review_dir)
    # the records stage: [[search]] files, the store, studies.csv <-> included reports
    info, errors, warns = check_folder(args.review_dir)
    if errors:
        n = len(errors)
        raise InputError(f"invalid review folder ({n} records error{'s' if n > 1 else ''}):\n  "
                         + "\n  ".join(errors))
    for line in lines[:1] + info + lines[1:]:
        echo(line)
    for w in warns:
        echo(f"warning: {w}")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("run", help="run a review folder: results.json, forest plots, "
                              "Summary of Findings, report.html and report.md")
    p.add_argument("review_dir", metavar="REVIEW_DIR",
                   help="folder with review.toml, studies.csv and outcomes.csv")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="output folder (default: REVIEW_DIR/output); a previous evsynth output "
                   "there is replaced as a whole")
    p.add_argument("--force", action="store_true",
                   help="replace the output folder even if it holds files evsynth did not "
                   "write (default: refuse)")
    p.add_argument("--docx", action="store_true",
                   help="also write report.docx (Summary of Findings tables in GRADEpro's "
                   "layout, forest plots, key results; needs python-docx)")
    p.add_argument("--quiet", action="store_true", help="no progress display or summary")
    p.add_argument("--json", action="store_true",
                   help="print the results.json path and one JSON line per analysis")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show tracebacks on errors")
    p.set_defaults(func=cmd_run)
    v = subparsers.add_parser("validate", help="check a review folder; print a summary or the "
                              "errors (exit 2)")
    v.add_argument("review_dir", metavar="REVIEW_DIR")
    v.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show tracebacks on errors")
    v.set_defaults(func=cmd_validate)
