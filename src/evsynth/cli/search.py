"""``evsynth search ...``: run PubMed searches, build queries, list the review's searches.

* ``evsynth search pubmed REVIEW_DIR --query Q [--out FILE] [--force]`` or ``--search N`` /
  ``--database NAME`` (a ``[[searches]]`` entry of review.toml) -- saves every record through the
  NCBI E-utilities (resumable; ``--out`` is relative to REVIEW_DIR). The entry's file must lie
  inside the review folder; an existing file that is not evsynth's earlier download of the same
  search is replaced only with ``--force``.
* ``evsynth search build CONCEPTS.toml|json`` -- prints the PubMed query built from concepts.
* ``evsynth search list REVIEW_DIR [--count]`` -- prints each search's methods line.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from evsynth.errors import InputError
from evsynth.textsafe import echo

if TYPE_CHECKING:
    from evsynth.records.search import SearchStrategy


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``search`` and its subcommands to the main parser."""
    p = subparsers.add_parser("search", help="run and document literature searches",
                              description="Run PubMed searches, build queries, list searches.")
    sub = p.add_subparsers(dest="search_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    pm = sub.add_parser("pubmed", help="run a PubMed search through the E-utilities and save "
                        "the records (resumable)")
    pm.add_argument("review_dir", metavar="REVIEW_DIR")
    which = pm.add_mutually_exclusive_group(required=True)
    which.add_argument("--query", help="PubMed query string")
    which.add_argument("--search", type=int, metavar="N",
                       help="run the N-th [[searches]] entry of review.toml (1-based)")
    which.add_argument("--database", metavar="NAME",
                       help="run the [[searches]] entry with this database name")
    pm.add_argument("--out", help="output file, relative to REVIEW_DIR (default: the entry's "
                    "file, or searches/pubmed_<date>.nbib|.xml)")
    pm.add_argument("--format", choices=("medline", "xml"), default="medline",
                    help="MEDLINE text (default) or PubMed XML")
    pm.add_argument("--date-from", help="publication date limit, YYYY[-MM[-DD]]")
    pm.add_argument("--date-to", help="publication date limit, YYYY[-MM[-DD]]")
    pm.add_argument("--batch-size", type=int, default=500, help="records per efetch request")
    pm.add_argument("--api-key", help="NCBI API key (default: $NCBI_API_KEY); allows 10 "
                    "requests/s instead of 3")
    pm.add_argument("--email", help="contact e-mail sent to NCBI (default: $NCBI_EMAIL)")
    pm.add_argument("--tool", default="evsynth", help="tool name sent to NCBI")
    pm.add_argument("--base-url", default=None, help="E-utilities base URL")
    pm.add_argument("--max-retries", type=int, default=5)
    pm.add_argument("--restart", action="store_true",
                    help="discard an earlier unfinished download of the same file")
    pm.add_argument("--force", action="store_true",
                    help="replace an existing output file that is not evsynth's earlier "
                    "download of this search (default: refuse)")
    pm.add_argument("--quiet", action="store_true", help="no progress messages")
    pm.set_defaults(func=cmd_pubmed)

    b = sub.add_parser("build", help="print a PubMed query built from a concept file")
    b.add_argument("concepts", metavar="CONCEPTS", help="TOML or JSON concept file")
    b.add_argument("--json", action="store_true", help="print {query: ...} as JSON")
    b.set_defaults(func=cmd_build)

    ls = sub.add_parser("list", help="print the [[searches]] of review.toml as methods lines")
    ls.add_argument("review_dir", metavar="REVIEW_DIR")
    ls.add_argument("--count", action="store_true",
                    help="read the export files and report the records in each")
    ls.set_defaults(func=cmd_list)


def _pick_entry(args: argparse.Namespace) -> tuple[SearchStrategy, str]:
    from evsynth.records.search import load_strategies

    strategies = load_strategies(args.review_dir, check_files=False)
    if args.search is not None:
        if not 1 <= args.search <= len(strategies):
            raise InputError(f"{Path(args.review_dir) / 'review.toml'}: --search {args.search} "
                             f"but there are {len(strategies)} [[searches]] entries; expected a "
                             f"number from 1 to {len(strategies)}")
        s = strategies[args.search - 1]
    else:
        hits = [s for s in strategies if s.database.lower() == args.database.lower()]
        if len(hits) != 1:
            names = [s.database for s in strategies]
            raise InputError(f"{Path(args.review_dir) / 'review.toml'}: --database "
                             f"{args.database!r} matches {len(hits)} [[searches]] entries "
                             f"(databases: {names}); expected exactly one, or use --search N")
        s = hits[0]
    where = f"review.toml: [[searches]] entry {s.index} ({s.database})"
    text = f"{s.database} {s.interface or ''}".lower()
    if "pubmed" not in text and not (s.database.lower() == "medline" and not s.interface):
        raise InputError(f"{where}: is searched via {s.interface or s.database}; expected a "
                         "PubMed search (database or interface 'PubMed')")
    if not s.query:
        raise InputError(f"{where}: has no 'query'; expected the PubMed query to run")
    return s, where


def cmd_pubmed(args: argparse.Namespace) -> int:
    """Run a PubMed search and save the records into the review folder."""
    from evsynth.records.eutils import DEFAULT_BASE_URL, FORMATS, EutilsClient, EutilsError
    from evsynth.records.search import pubmed_date

    review = Path(args.review_dir)
    if not review.is_dir():
        raise InputError(f"{review}: review folder does not exist; expected a directory")
    date_from, date_to, out = args.date_from, args.date_to, args.out
    entry = None
    out_path: Path | None = None
    if args.query is not None:
        query = args.query
    else:
        entry, where = _pick_entry(args)
        query = entry.query
        date_from = date_from or entry.date_from
        date_to = date_to or entry.date_to
        if out is None:
            if len(entry.files) != 1:
                raise InputError(f"{where}: key 'files' lists {len(entry.files)} files; "
                                 "expected one, or give --out")
            out = entry.files[0]
            out_path = entry.paths()[0]  # checked to lie inside the review folder
    suffix = FORMATS[args.format][2]
    if out is None:
        out = f"searches/pubmed_{_dt.date.today().isoformat()}{suffix}"
    if out_path is None:  # --out (named by the user) or evsynth's default
        out_path = Path(out) if Path(out).is_absolute() else review / out
    mindate = pubmed_date(date_from, "--date-from") if date_from else None
    maxdate = pubmed_date(date_to, "--date-to") if date_to else None
    if mindate or maxdate:  # NCBI needs both
        mindate, maxdate = mindate or "1000", maxdate or "3000"

    client = EutilsClient(args.base_url or DEFAULT_BASE_URL,
                          api_key=args.api_key or os.environ.get("NCBI_API_KEY") or None,
                          tool=args.tool, email=args.email or os.environ.get("NCBI_EMAIL"),
                          max_retries=args.max_retries)
    say = None if args.quiet else (lambda msg: echo(msg, err=True))
    try:
        res = client.fetch_all(query, out_path, format=args.format, batch_size=args.batch_size,
                               mindate=mindate, maxdate=maxdate, restart=args.restart,
                               progress=say, overwrite=args.force)
    except EutilsError as exc:
        echo(f"evsynth: error: {exc}", err=True)
        echo(f"evsynth: run the same command again to continue where it stopped "
             f"({out_path.name}.eutils.json)", err=True)
        return 1
    for w in res.warnings:
        echo(f"evsynth: warning: {w}", err=True)
    shown = out if not Path(out).is_absolute() else out_path
    echo(f"PubMed: {res.records} records saved to {shown} (search count {res.count})")
    if res.query_translation:
        echo(f"query as translated by PubMed: {res.query_translation}")
    if entry is None:
        try:
            rel = out_path.resolve().relative_to(review.resolve()).as_posix()
            echo("\nadd to review.toml:\n" + _toml_entry(query, rel, date_from, date_to))
        except ValueError:
            echo(f"\nto list it in review.toml, move {out_path} into the review folder "
                 "(files named there must lie inside it)")
    return 0


def _toml_entry(query: str, out: str, date_from: object, date_to: object) -> str:
    def lit(s: str) -> str:
        return json.dumps(s, ensure_ascii=False)  # a JSON string is a valid TOML basic string

    lines = ["[[searches]]", 'database = "MEDLINE"', 'interface = "PubMed"',
             f"date_searched = {_dt.date.today().isoformat()}"]
    for key, value in (("date_from", date_from), ("date_to", date_to)):
        if not value:
            continue
        try:
            lines.append(f"{key} = {_dt.date.fromisoformat(str(value)).isoformat()}")
        except ValueError:
            lines.append(f"# {key}: {value} (review.toml needs a full date YYYY-MM-DD)")
    lines += [f"query = {lit(query)}", f"files = [{lit(out)}]", 'kind = "database"']
    return "\n".join(lines)


def cmd_build(args: argparse.Namespace) -> int:
    """Print the PubMed query built from a concept file."""
    from evsynth.records.search import load_query

    query = load_query(args.concepts).render()
    echo(json.dumps({"query": query}, ensure_ascii=False) if args.json else query)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """Print one methods line per [[searches]] entry."""
    from evsynth.records.search import load_strategies

    strategies = load_strategies(args.review_dir, check_files=True, count=args.count)
    if not strategies:
        echo(f"{Path(args.review_dir) / 'review.toml'}: no [[searches]] entries")
        return 0
    for s in strategies:
        echo(f"{s.index}. {s.methods_line()}")
    return 0
