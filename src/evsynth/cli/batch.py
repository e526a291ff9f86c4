"""``evsynth batch``: one meta-analysis per group of a partitioned Parquet dataset, on Dask.

::

    evsynth batch IN --by COLS --yi COL --vi COL [--method M] [--test T] [--level L]
                  --out OUT.parquet [--scheduler ADDRESS] [--force] [--quiet]

``IN`` is a Parquet file or dataset folder whose files (Dask partitions) each hold whole groups
(:mod:`evsynth.models.dask_batch`: checked, with a clear error otherwise). ``--by``, ``--yi``
and ``--vi`` name different columns. ``OUT`` is written as a Parquet dataset folder (one file
per input partition) with the columns of ``meta_batch(...).to_frame()``; it must lie outside
``IN`` (and not hold it); an existing OUT is replaced only with ``--force`` and only if it
holds nothing but Parquet files. Without ``--scheduler`` the work runs on Dask's threads in
this process; with it, on the Dask cluster at ADDRESS (e.g. ``tcp://10.0.0.5:8786``).
Progress (partitions written) is shown on stderr unless ``--quiet``. Needs the optional extra
``evsynth[dask]``. Exit codes: 0 success, 2 invalid input, 1 internal error.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from evsynth.textsafe import echo


def cmd_batch(args: argparse.Namespace) -> int:
    from evsynth.errors import InputError

    try:
        import dask  # noqa: F401
    except ImportError:
        from evsynth.models.dask_batch import DASK_MISSING

        raise InputError(DASK_MISSING) from None
    from evsynth.models.batch import check_columns
    from evsynth.models.dask_batch import meta_batch_parquet

    by = [c.strip() for c in args.by.split(",") if c.strip()]
    if not by:
        raise InputError(f"--by {args.by!r}: expected one or more column names separated by "
                         "commas")
    check_columns(by, args.yi, args.vi, ("--by", "--yi", "--vi"))
    if args.out.strip() == "":
        raise InputError(f"--out {args.out!r}: empty; expected the path of the output folder")
    level: float
    try:
        level = float(args.level)
    except ValueError:
        raise InputError(f"--level {args.level!r}: expected a number (95 or 0.95)") from None
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=0, desc="partitions", unit="partition", file=sys.stderr, leave=False)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.refresh()

    try:
        info = meta_batch_parquet(args.input, by, args.out, yi=args.yi, vi=args.vi,
                                  method=args.method, test=args.test, level=level,
                                  client=args.scheduler, force=args.force, progress=progress)
    except BrokenPipeError:
        raise
    except OSError as exc:   # e.g. the output cannot be written: a message, not a traceback
        raise InputError(f"{exc.filename or args.out}: {exc.strerror or exc}; expected a "
                         f"readable input {args.input} and an output folder --out "
                         f"{args.out} you can write to") from None
    finally:
        if bar is not None:
            bar.close()
    if not args.quiet:
        extra = (f"; {info['not_converged']} not converged" if info["not_converged"] else "")
        echo(f"Wrote {info['out']} ({info['groups']:,} meta-analyses in "
             f"{info['partitions']} partitions, {info['seconds']:.1f} s{extra})")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("batch", help="fit one meta-analysis per group of a partitioned "
                              "Parquet dataset on Dask (needs evsynth[dask])")
    p.add_argument("input", metavar="IN", help="Parquet file or dataset folder; each file must "
                   "hold whole groups")
    p.add_argument("--by", required=True, metavar="COLS",
                   help="group key column(s), comma-separated")
    p.add_argument("--yi", required=True, metavar="COL",
                   help="column of the effect sizes (not a --by column)")
    p.add_argument("--vi", required=True, metavar="COL",
                   help="column of the sampling variances (not --yi or a --by column)")
    p.add_argument("--method", default="REML", help="tau^2 estimator (default REML)")
    p.add_argument("--test", default="z", help="z, t, knha (HKSJ) or adhoc (default z)")
    p.add_argument("--level", default="95", help="confidence level (default 95)")
    p.add_argument("--out", required=True, metavar="OUT.parquet",
                   help="output Parquet dataset folder (outside IN)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="Dask scheduler address (default: threads in this process)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing output (a folder of Parquet files only)")
    p.add_argument("--quiet", action="store_true", help="no progress display or summary")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show tracebacks on errors")
    p.set_defaults(func=cmd_batch)
