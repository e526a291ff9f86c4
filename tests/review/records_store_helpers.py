"""Build the vertebroplasty example's records store in a temporary copy of the folder (with the
committed script examples/vertebroplasty/records/build_store.py, i.e. the records CLI)."""

from __future__ import annotations

import csv
import importlib.util
import shutil
from collections.abc import Callable
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vertebroplasty"


def _build_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("vp_build_store",
                                                  EXAMPLE / "records" / "build_store.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def copy_example(dest: Path) -> Path:
    """A copy of the example folder without its output or store."""
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns(
        "output", "evsynth.sqlite*", "__pycache__"))
    return dest


def build_example_store(dest: Path,
                        edit: Callable[[Path], None] | None = None) -> Path:
    """Copy the example to ``dest``, let ``edit(folder)`` change its input files, and build
    the store with the example's script."""
    folder = copy_example(dest)
    if edit is not None:
        edit(folder)
    _build_module().build(folder)
    return folder


def drop_link(study_id: str) -> Callable[[Path], None]:
    """An ``edit`` leaving out the report-to-study links of ``study_id``."""
    def edit(folder: Path) -> None:
        path = folder / "records" / "study_links.csv"
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, list(rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(r for r in rows if r["study_id"] != study_id)
    return edit
