"""Build the records store of this example (``evsynth.sqlite`` in the review folder).

Runs the records commands of the evsynth CLI, exactly as a reviewer would type them::

    cd examples/vertebroplasty
    evsynth records import .            # the [[search]] files of review.toml
    evsynth records dedup .
    evsynth records decisions-import . records/decisions.csv
    evsynth records link-study . trial_reports.ris:1 "Kallmes 2009" --by R1
    ...                                 # one per row of records/study_links.csv

Usage (from the repository root)::

    python examples/vertebroplasty/records/build_store.py [REVIEW_DIR]

REVIEW_DIR defaults to the folder above this script. An existing store is refused (delete
``evsynth.sqlite`` first to rebuild it): imports are idempotent, decisions are append-only.
"""

from __future__ import annotations

import csv
import shlex
import sys
from pathlib import Path

from evsynth.cli import main


def run(argv: list[str]) -> None:
    """Run one evsynth command; stop on failure."""
    print("evsynth " + " ".join(shlex.quote(a) for a in argv))
    code = main(argv)
    if code != 0:
        raise SystemExit(code)


def build(review_dir: Path) -> None:
    """Import, deduplicate, import both reviewers' decisions, link the reports to studies."""
    if (review_dir / "evsynth.sqlite").exists():
        raise SystemExit(f"{review_dir / 'evsynth.sqlite'} exists; delete it to rebuild")
    here = review_dir / "records"
    run(["records", "import", str(review_dir)])
    run(["records", "dedup", str(review_dir)])
    run(["records", "decisions-import", str(review_dir), str(here / "decisions.csv")])
    with open(here / "study_links.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            run(["records", "link-study", str(review_dir), row["record_id"], row["study_id"],
                 "--by", "R1"])
    run(["records", "status", str(review_dir)])


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
