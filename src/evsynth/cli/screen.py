"""``evsynth screen REVIEW_DIR --stage title-abstract --reviewer NAME``: the terminal screener.

See :mod:`evsynth.records.screener` for the keys (i include, e exclude + reason number,
m maybe, b back, q quit). Every decision is committed to ``REVIEW_DIR/evsynth.sqlite`` at once.

``--prioritised`` shows the records most likely relevant first (a classifier retrained every
``--retrain-every`` decisions; :mod:`evsynth.records.prioritise`) with the estimated relevant
records remaining and the buscar stopping p-value; the plain (import) order is the default.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from evsynth.errors import InputError
from evsynth.records.settings import STAGES, read_settings
from evsynth.textsafe import echo


def cmd_screen(args: argparse.Namespace) -> int:
    from evsynth.cli.records import _open_existing
    from evsynth.records.screener import Screener
    from evsynth.records.screening import check_reviewer

    settings = read_settings(args.review_dir).screening if os.path.isdir(args.review_dir) \
        else None
    store = _open_existing(args.review_dir)
    try:
        check_reviewer(args.reviewer, settings, field="--reviewer")
        if store.n_records() == 0:
            raise InputError(f"{args.review_dir}: the store holds no records; expected "
                             "'evsynth records import' first")
        unchecked = len(store.undeduplicated())
        if unchecked == store.n_records():
            echo("evsynth: note: duplicates have not been looked for yet (run 'evsynth records "
                 "dedup'); every imported record is shown", err=True)
        elif unchecked:
            echo(f"evsynth: note: {unchecked} records imported since the last deduplication "
                 "have not been checked for duplicates (run 'evsynth records dedup'); they are "
                 "shown as they are", err=True)
        color = {"always": True, "never": False, "auto": None}[args.color]
        if args.prioritised:
            from evsynth.records.prioritise import prioritised_screener

            screener = prioritised_screener(store, args.stage, args.reviewer, settings,
                                            color=color, out=sys.stdout,
                                            retrain_every=args.retrain_every)
        else:
            screener = Screener(store, args.stage, args.reviewer, settings, color=color,
                                out=sys.stdout)
        screener.run()
    finally:
        store.close()
    return 0


def register(subparsers: Any) -> None:
    """Add ``evsynth screen`` to the CLI."""
    p = subparsers.add_parser("screen", help="screen records interactively in the terminal",
                              description=__doc__)
    p.add_argument("review_dir")
    p.add_argument("--stage", required=True, choices=STAGES)
    p.add_argument("--reviewer", required=True, help="your name or initials (as in review.toml)")
    p.add_argument("--color", choices=["auto", "always", "never"], default="auto",
                   help="ANSI colours and highlighting (default: when writing to a terminal)")
    p.add_argument("--prioritised", action="store_true",
                   help="show the records most likely relevant first (retrained as you screen)")
    p.add_argument("--retrain-every", type=int, default=1, metavar="N",
                   help="with --prioritised: refit the ranking every N decisions (default 1)")
    p.set_defaults(func=cmd_screen)
