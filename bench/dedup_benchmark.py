"""Benchmark of evsynth.records.deduplicate on the labelled sets in ../shared/data/records.

Measures (Rathbone et al. 2015, Syst Rev 4:80, count records; pairs are stricter):
- pairs: precision/recall of within-group record pairs against the gold groups
  (SRA Respiratory EndNote XML + bib-dedupe merged_record_ids.csv; bib-dedupe Stroke,
  Haematology and Cytology CSVs with their merged_record_ids.csv);
- records: precision/recall of records flagged as members of a duplicate set (IEBH copper
  and tafenoquine XMLs: caption "Duplicate" on every member of a set);
- ASySD: the CSV marks one record per reference "unique" and the others "duplicate"; a record
  is flagged removable when it is not the kept record of its predicted group (the kept record
  is the group's "unique" record when it has one, else its first record).

Run: ``python bench/dedup_benchmark.py [--write]`` (``--write`` rewrites bench/RESULTS_dedup.md).
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import pandas as pd

from evsynth.records import deduplicate, read
from evsynth.records.dedup import flag_metrics, pair_metrics

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "records"


def gold_groups(n: int, merged_ids: Path) -> list[int | None]:
    """Gold group per record position from a bib-dedupe ``merged_record_ids.csv``
    (ids ``id_0000001`` = first record of the file)."""
    groups: list[int | None] = [None] * n
    for k, row in enumerate(pd.read_csv(merged_ids)["merged_ids"]):
        for rid in str(row).split(";"):
            groups[int(rid.strip().split("_")[1]) - 1] = k
    return groups


PAIR_SETS = [
    ("SRA Respiratory (EndNote XML)", "endnote_xml/sra_respiratory_labelled/Respiratory.xml",
     "csv/bibdedupe_respiratory/merged_record_ids.csv"),
    ("SRA Stroke (bib-dedupe CSV)", "csv/bibdedupe_stroke/records_pre_merged.csv",
     "csv/bibdedupe_stroke/merged_record_ids.csv"),
    ("SRA Haematology (bib-dedupe CSV)", "csv/bibdedupe_haematology/records_pre_merged.csv",
     "csv/bibdedupe_haematology/merged_record_ids.csv"),
    ("SRA Cytology (bib-dedupe CSV)", "csv/bibdedupe_cytology/records_pre_merged.csv",
     "csv/bibdedupe_cytology/merged_record_ids.csv"),
]
CAPTION_SETS = [
    ("IEBH copper (EndNote XML)", "endnote_xml/iebh_copper_labelled/copper.xml"),
    ("IEBH tafenoquine (EndNote XML)", "endnote_xml/iebh_tafenoquine_labelled/tafenoquine.xml"),
]
ASYSD = ("ASySD labelled (CSV)", "csv/asysd_labelled/labelled_test_set.csv")


def asysd_flags(groups: pd.Series, unique: pd.Series) -> pd.Series:
    """Removable flags: all but one record per predicted group, keeping a gold-unique one."""
    keep = pd.Series(False, index=groups.index)
    for _, idx in groups.groupby(groups).groups.items():
        idx = list(idx)
        u = [i for i in idx if unique[i]]
        keep[u[0] if u else idx[0]] = True
    return ~keep


def run() -> list[dict]:
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, rel, gold in PAIR_SETS:
            df = read(DATA / rel)
            t = time.perf_counter()
            res = deduplicate(df)
            sec = time.perf_counter() - t
            g = gold_groups(len(df), DATA / gold)
            pm = pair_metrics(g, res["duplicate_group"])
            fm = flag_metrics([x is not None for x in g],
                              res["duplicate_group"].duplicated(keep=False))
            rows.append({"set": name, "records": len(df), "seconds": sec, "pair_P": pm["precision"],
                         "pair_R": pm["recall"], "pair_fp": pm["fp"], "pair_fn": pm["fn"],
                         "rec_P": fm["precision"], "rec_R": fm["recall"],
                         "uncertain": len(res.attrs["uncertain_pairs"])})
        for name, rel in CAPTION_SETS:
            df = read(DATA / rel)
            t = time.perf_counter()
            res = deduplicate(df)
            sec = time.perf_counter() - t
            fm = flag_metrics(df["label"].eq("Duplicate"),
                              res["duplicate_group"].duplicated(keep=False))
            rows.append({"set": name, "records": len(df), "seconds": sec, "pair_P": None,
                         "pair_R": None, "pair_fp": None, "pair_fn": None,
                         "rec_P": fm["precision"], "rec_R": fm["recall"],
                         "uncertain": len(res.attrs["uncertain_pairs"])})
        name, rel = ASYSD
        df = read(DATA / rel)
        t = time.perf_counter()
        res = deduplicate(df)
        sec = time.perf_counter() - t
        unique = pd.read_csv(DATA / rel, encoding="cp1252")["source"].eq("unique")
        flags = asysd_flags(res["duplicate_group"].reset_index(drop=True), unique)
        fm = flag_metrics(~unique, flags)
        rows.append({"set": name + " (removable records)", "records": len(df), "seconds": sec,
                     "pair_P": None, "pair_R": None, "pair_fp": None, "pair_fn": None,
                     "rec_P": fm["precision"], "rec_R": fm["recall"],
                     "uncertain": len(res.attrs["uncertain_pairs"])})
    return rows


def table(rows: list[dict]) -> str:
    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    out = ["| set | records | pair precision | pair recall | FP pairs | FN pairs | record "
           "precision | record recall | uncertain pairs | seconds |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['set']} | {r['records']} | {f(r['pair_P'])} | {f(r['pair_R'])} | "
                   f"{'-' if r['pair_fp'] is None else r['pair_fp']} | "
                   f"{'-' if r['pair_fn'] is None else r['pair_fn']} | {f(r['rec_P'])} | "
                   f"{f(r['rec_R'])} | {r['uncertain']} | {r['seconds']:.2f} |")
    return "\n".join(out)


def main() -> None:
    rows = run()
    tab = table(rows)
    print(tab)
    if "--write" in sys.argv:
        # the dated notes under "## Changes" are kept across rewrites of the table
        path = HERE / "RESULTS_dedup.md"
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        notes = old[old.index("\n## Changes"):] if "\n## Changes" in old else ""
        path.write_text(
            "## Deduplication (evsynth.records.deduplicate, default thresholds)\n\n"
            "Generated by `python bench/dedup_benchmark.py --write` on the labelled sets in "
            "`../shared/data/records`. Pair measures use the gold groups of bib-dedupe "
            "(`merged_record_ids.csv`); record measures flag members of duplicate sets "
            "(IEBH captions) or, for ASySD, records removable as duplicates (all but one per "
            "group). Uncertain pairs are listed for human review and not merged; they are "
            "not counted as found.\n\n" + tab + "\n" + notes, encoding="utf-8")


if __name__ == "__main__":
    main()
