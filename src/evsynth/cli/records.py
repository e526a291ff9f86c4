"""``evsynth records ...``: import exports into a review folder, deduplicate, report status,
export/import screening decisions, record full-text retrieval and study links, draw PRISMA.

Subcommands::

    evsynth records import REVIEW_DIR [FILE ...] [--database NAME] [--kind database|register]
                                      [--format FMT]
    evsynth records dedup REVIEW_DIR
    evsynth records status REVIEW_DIR
    evsynth records decisions-export REVIEW_DIR OUT.csv [--stage STAGE] [--latest] [--force]
    evsynth records decisions-import REVIEW_DIR IN.csv
    evsynth records conflicts REVIEW_DIR [--stage STAGE]
    evsynth records resolve REVIEW_DIR RECORD_ID --stage STAGE --decision D --reviewer NAME
                            [--reason TEXT]
    evsynth records retrieval REVIEW_DIR RECORD_ID (--retrieved | --not-retrieved) [--by NAME]
    evsynth records link-study REVIEW_DIR RECORD_ID STUDY_ID [--by NAME]
    evsynth records prisma REVIEW_DIR --out DIR [--title TEXT] [--force]

Bad input exits with code 2 and a message naming the file and line; nothing is written to
the store in that case (imports read every file before one transaction writes them all).
Export files named in review.toml must lie inside the review folder; an existing file is
never replaced unless evsynth wrote it as its output or ``--force`` is given. Text from the
records (titles, reasons, names) is printed with control characters made visible.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path
from typing import Any

from evsynth.errors import InputError
from evsynth.files import atomic_write_text, check_overwrite, inside_folder, make_dir
from evsynth.records.settings import STAGES, SearchSpec, read_settings
from evsynth.records.store import STORE_FILE, ImportBatch, RecordSpool, Store, file_sha256
from evsynth.textsafe import echo


def _review_dir(path: str) -> Path:
    p = Path(path)
    if not p.is_dir():
        raise InputError(f"{path}: review folder does not exist; expected a directory")
    return p


def _open_existing(path: str) -> Store:
    """The store of an existing review folder (InputError if nothing was imported yet)."""
    p = _review_dir(path)
    if not (p / STORE_FILE).exists():
        raise InputError(f"{p / STORE_FILE}: no store in this review folder; expected "
                         "'evsynth records import' to have been run")
    return Store(p)


def _find_search(searches: tuple[SearchSpec, ...], database: str | None,
                 file: Path | None) -> SearchSpec | None:
    for s in searches:
        if database is not None and s.database == database:
            return s
    if file is not None:
        for s in searches:
            if any(Path(q).resolve() == file.resolve() for q in s.paths()):
                return s
    return None


# ----------------------------------------------------------------------------------------------
def cmd_import(args: argparse.Namespace) -> int:
    from evsynth.records import read

    review = _review_dir(args.review_dir)
    settings = read_settings(review)
    jobs: list[tuple[Path, str, str]] = []  # (file, database, kind)
    if args.files:
        for f in args.files:
            path = Path(f)
            spec = _find_search(settings.searches, args.database, path)
            database = args.database or (spec.database if spec else None)
            if database is None:
                raise InputError(f"{f}: no --database given and no [[searches]] entry in "
                                 f"{review / 'review.toml'} lists this file; expected "
                                 "--database NAME")
            kind = args.kind or (spec.kind if spec and spec.database == database
                                 else "database")
            jobs.append((path, database, kind))
    else:
        if not settings.searches:
            raise InputError(f"{review / 'review.toml'}: no FILE given and no [[searches]] "
                             "entries; expected files on the command line or [[searches]] "
                             "with files = [...]")
        for spec in settings.searches:
            if args.database and spec.database != args.database:
                continue
            if not spec.files:
                raise InputError(f"{review / 'review.toml'}: [[searches]] entry for "
                                 f"{spec.database!r} lists no files; expected files = [...]")
            for path in spec.paths():
                jobs.append((path, spec.database, args.kind or spec.kind))
        if not jobs:
            raise InputError(f"{review / 'review.toml'}: no [[searches]] entry for database "
                             f"{args.database!r}")
    batches = []
    problems: list[str] = []
    try:
        # read everything first: nothing is stored on error; each file's records wait in a
        # temporary file (RecordSpool), so memory holds one file's records at a time
        for path, database, kind in jobs:
            with warnings.catch_warnings():  # reported below from attrs["problems"]
                warnings.simplefilter("ignore")
                df = read(path, args.format, database=database)
            for p in df.attrs.get("problems", []) or []:
                problems.append(f"{p.get('file')}, line {p.get('line')}: {p.get('message')} "
                                "(record skipped or repaired)" if isinstance(p, dict)
                                else str(p))
            spool = RecordSpool(df, str(path))
            del df
            batches.append(ImportBatch(spool, str(path), database, kind,
                                       sha256=file_sha256(path)))
        with Store(review) as store:
            results = store.add_imports(batches)
    finally:
        for b in batches:
            if isinstance(b.records, RecordSpool):
                b.records.close()
    for r, b in zip(results, batches, strict=True):
        note = "" if r.new else " (already imported; not added again)"
        echo(f"{r.file}: {r.n_records} records read [{b.database}]{note}")
    for p in problems:
        echo(f"warning: {p}", err=True)
    return 0


def cmd_dedup(args: argparse.Namespace) -> int:
    from evsynth.records.dedup import deduplicate_store

    with _open_existing(args.review_dir) as store:
        summary = deduplicate_store(store)
    echo(summary)
    return 0


def _fmt_pct(x: Any) -> str:
    return "-" if x is None else f"{x:.1f}%"


def _fmt_kappa(x: Any) -> str:
    return "undefined" if x is None else f"{x:.3f}"


def dedup_status(n: int, n_undeduplicated: int) -> str:
    """The deduplication status of a store of ``n`` records, ``n_undeduplicated`` of which no
    deduplication has looked at (imported before the first or after the last ``dedup``)."""
    if n_undeduplicated == 0 and n:
        return "deduplicated"
    if n_undeduplicated >= n:
        return "not deduplicated yet"
    return (f"not deduplicated: {n_undeduplicated} records imported since the last "
            "deduplication; run 'evsynth records dedup'")


def cmd_status(args: argparse.Namespace) -> int:
    from evsynth.records.screening import agreement, screening_table

    review = _review_dir(args.review_dir)
    settings = read_settings(review).screening
    with _open_existing(args.review_dir) as store:
        imp = store.imports()
        echo("Records per database:")
        if imp.empty:
            echo("  (none imported)")
        for (db, kind), sub in imp.groupby(["database", "kind"], sort=False):
            label = f"{db} (register)" if kind == "register" else db
            echo(f"  {label}: {int(sub['n_records'].sum())} records from {len(sub)} file(s)")
        groups = store.duplicate_groups()
        n, n_groups = len(groups), len(set(groups.values()))
        dedup = dedup_status(n, len(store.undeduplicated()))
        echo(f"Total: {n} records; {n_groups} unique; {n - n_groups} duplicates ({dedup}); "
             f"{len(store.uncertain_pairs())} uncertain duplicate pairs")
        for stage in STAGES:
            tab = screening_table(store, stage, settings)
            finals = tab["final"].value_counts().to_dict()
            echo(f"Screening, {stage}: {len(tab)} to screen; "
                 f"include {finals.get('include', 0)}, exclude {finals.get('exclude', 0)}, "
                 f"maybe {finals.get('maybe', 0)}, pending "
                 f"{int((tab['status'] == 'pending').sum())}, conflicts "
                 f"{int(tab['conflict'].sum())}")
            lat = store.decision_history(stage)
            if len(lat):
                for reviewer, sub in lat[lat["kind"] == "screen"].groupby("reviewer"):
                    done = len(set(sub["record_id"].map(groups)))
                    echo(f"  {reviewer}: {done} decided")
            ag = agreement(store, stage, settings=settings)
            for r in ag.to_dict("records"):
                if r["n"]:
                    echo(f"  agreement {r['reviewer_a']} vs {r['reviewer_b']}: n = {r['n']}, "
                         f"{_fmt_pct(r['percent_agreement'])}, Cohen's kappa "
                         f"{_fmt_kappa(r['kappa'])}")
    return 0


def cmd_decisions_export(args: argparse.Namespace) -> int:
    from evsynth.records.screening import export_decisions

    with _open_existing(args.review_dir) as store:
        n = export_decisions(store, args.out, stage=args.stage, history=not args.latest,
                             force=args.force)
    echo(f"{args.out}: {n} decisions written")
    return 0


def cmd_decisions_import(args: argparse.Namespace) -> int:
    from evsynth.records.screening import import_decisions

    settings = read_settings(_review_dir(args.review_dir)).screening
    with _open_existing(args.review_dir) as store:
        n = import_decisions(store, args.csv, settings)
    echo(f"{args.csv}: {n} decisions imported")
    return 0


def cmd_conflicts(args: argparse.Namespace) -> int:
    from evsynth.records.screening import conflicts

    settings = read_settings(_review_dir(args.review_dir)).screening
    with _open_existing(args.review_dir) as store:
        c = conflicts(store, args.stage, settings)
    if c.empty:
        echo("No unresolved conflicts.")
    for r in c.to_dict("records"):
        votes = ", ".join(f"{k}: {v}" + (f" ({r['reasons'][k]})" if r["reasons"].get(k) else "")
                          for k, v in r["decisions"].items())
        echo(f"{r['group_id']}\t{r['stage']}\t{votes}\t{r['title'] or ''}")
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    from evsynth.records.screening import resolve

    settings = read_settings(_review_dir(args.review_dir)).screening
    with _open_existing(args.review_dir) as store:
        store.check_record_ids([args.record_id], "resolve: ")
        resolve(store, args.record_id, args.stage, args.decision, args.reviewer, args.reason,
                settings=settings, note=args.note)
    echo(f"{args.record_id}: {args.stage} resolved as {args.decision}")
    return 0


def cmd_retrieval(args: argparse.Namespace) -> int:
    status = "retrieved" if args.retrieved else "not retrieved"
    with _open_existing(args.review_dir) as store:
        store.set_retrieval(args.record_id, status, args.by, args.note)
    echo(f"{args.record_id}: {status}")
    return 0


def known_study_ids(review: Path) -> set[str] | None:
    """Study ids listed in ``REVIEW_DIR/studies.csv`` (column ``study_id``, else ``study``), or
    None when there is no such file or column (then any id is accepted)."""
    import csv

    path = inside_folder(review, "studies.csv", f"{review}: studies.csv")
    if not path.is_file():
        return None
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            col = next((c for c in ("study_id", "study") if c in (reader.fieldnames or [])),
                       None)
            if col is None:
                return None
            return {(row.get(col) or "").strip() for row in reader} - {""}
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: cannot read ({exc}); expected a UTF-8 CSV") from None


def cmd_link_study(args: argparse.Namespace) -> int:
    known = known_study_ids(_review_dir(args.review_dir))
    if known is not None and args.study_id.strip() not in known:
        raise InputError(f"{Path(args.review_dir) / 'studies.csv'}: study id "
                         f"{args.study_id!r} is not listed; expected one of its study ids")
    from evsynth.records.prisma import study_link_conflicts

    with _open_existing(args.review_dir) as store:
        store.link_study(args.record_id, args.study_id, args.by)
        group = store.duplicate_groups().get(args.record_id, args.record_id)
        conflicts = study_link_conflicts(store.group_members(), store.study_links(), [group])
    echo(f"{args.record_id} -> study {args.study_id}")
    for by in conflicts.values():
        others = "; ".join(f"{', '.join(r)} -> study {sid}" for sid, r in by.items()
                           if sid != args.study_id.strip())
        echo(f"warning: {args.record_id} is a duplicate of records linked to another study "
             f"({others}); the report now counts for {len(by)} studies in PRISMA. If it is "
             "one report of one study, link its records to the same study id", err=True)
    return 0


#: the files ``evsynth records prisma`` writes into its output folder
PRISMA_FILES = ("prisma.svg", "prisma.png", "prisma_counts.json")


def _prisma_output(out: Path) -> bool:
    """Whether ``out`` holds a previous ``evsynth records prisma`` output: a
    prisma_counts.json evsynth wrote (then prisma.svg/png beside it are evsynth's too)."""
    from evsynth.records.prisma import check_counts

    try:
        counts = json.loads((out / "prisma_counts.json").read_text(encoding="utf-8"))
        check_counts(counts)
        return True
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return False


def cmd_prisma(args: argparse.Namespace) -> int:
    from evsynth.records.prisma import prisma_counts, prisma_diagram

    settings = read_settings(_review_dir(args.review_dir)).screening
    out = Path(args.out)
    ours = out.is_dir() and _prisma_output(out)
    for name in PRISMA_FILES:
        check_overwrite(out / name, force=args.force, owned=lambda _p: ours)
    with _open_existing(args.review_dir) as store, warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        counts = prisma_counts(store, settings)
    for m in w:
        echo(f"warning: {m.message}", err=True)
    make_dir(out)
    svg, png = out / "prisma.svg", out / "prisma.png"
    prisma_diagram(counts, svg, png, title=args.title)
    atomic_write_text(out / "prisma_counts.json",
                      json.dumps(counts, indent=2, ensure_ascii=False) + "\n")
    echo(f"{svg}\n{png}\n{out / 'prisma_counts.json'}")
    return 0


# ----------------------------------------------------------------------------------------------
def register(subparsers: Any) -> None:
    """Add ``evsynth records ...`` to the CLI."""
    p = subparsers.add_parser("records", help="import, deduplicate and track literature records",
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="records_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])

    q = sub.add_parser("import", help="import export files into the review store")
    q.add_argument("review_dir")
    q.add_argument("files", nargs="*", metavar="FILE",
                   help="export files (default: every [[searches]] file of review.toml)")
    q.add_argument("--database", help="database name used in PRISMA (e.g. MEDLINE)")
    q.add_argument("--kind", choices=["database", "register"],
                   help="PRISMA source kind (default: from review.toml, else database)")
    q.add_argument("--format", help="file format (default: sniffed from the content)")
    q.set_defaults(func=cmd_import)

    q = sub.add_parser("dedup", help="find duplicate records and record the groups")
    q.add_argument("review_dir")
    q.set_defaults(func=cmd_dedup)

    q = sub.add_parser("status", help="counts per database, duplicates, screening progress")
    q.add_argument("review_dir")
    q.set_defaults(func=cmd_status)

    q = sub.add_parser("decisions-export", help="write screening decisions to CSV")
    q.add_argument("review_dir")
    q.add_argument("out", metavar="OUT.csv")
    q.add_argument("--stage", choices=STAGES)
    q.add_argument("--latest", action="store_true",
                   help="only the latest decision per reviewer (default: full history)")
    q.add_argument("--force", action="store_true",
                   help="replace OUT.csv if it exists (default: refuse)")
    q.set_defaults(func=cmd_decisions_export)

    q = sub.add_parser("decisions-import", help="import screening decisions from CSV "
                       "(all or nothing)")
    q.add_argument("review_dir")
    q.add_argument("csv", metavar="IN.csv")
    q.set_defaults(func=cmd_decisions_import)

    q = sub.add_parser("conflicts", help="list records the reviewers disagree on")
    q.add_argument("review_dir")
    q.add_argument("--stage", choices=STAGES)
    q.set_defaults(func=cmd_conflicts)

    q = sub.add_parser("resolve", help="record the decision settling a conflict")
    q.add_argument("review_dir")
    q.add_argument("record_id")
    q.add_argument("--stage", required=True, choices=STAGES)
    q.add_argument("--decision", required=True, choices=["include", "exclude", "maybe"])
    q.add_argument("--reason", help="exclusion reason (one of review.toml's list)")
    q.add_argument("--reviewer", required=True, help="who resolved it")
    q.add_argument("--note")
    q.set_defaults(func=cmd_resolve)

    q = sub.add_parser("retrieval", help="record whether a full text was retrieved")
    q.add_argument("review_dir")
    q.add_argument("record_id")
    g = q.add_mutually_exclusive_group(required=True)
    g.add_argument("--retrieved", action="store_true")
    g.add_argument("--not-retrieved", action="store_true")
    q.add_argument("--by", help="who recorded it")
    q.add_argument("--note")
    q.set_defaults(func=cmd_retrieval)

    q = sub.add_parser("link-study", help="link an included report to a study id")
    q.add_argument("review_dir")
    q.add_argument("record_id")
    q.add_argument("study_id")
    q.add_argument("--by", help="who linked it")
    q.set_defaults(func=cmd_link_study)

    q = sub.add_parser("prisma", help="PRISMA 2020 flow diagram (SVG, PNG) and counts (JSON)")
    q.add_argument("review_dir")
    q.add_argument("--out", required=True, help="output folder")
    q.add_argument("--title", help="title above the diagram")
    q.add_argument("--force", action="store_true",
                   help="replace prisma.svg/.png/_counts.json in the folder even if evsynth did "
                   "not write them (default: refuse)")
    q.set_defaults(func=cmd_prisma)
