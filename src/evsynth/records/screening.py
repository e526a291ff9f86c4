"""Screening: decisions, dual-screening agreement, conflicts, resolutions, CSV export/import.

Decisions are stored per record in :class:`evsynth.records.store.Store` and apply to the
record's duplicate group (screening happens after duplicate removal: one reference per group).
The history is kept; the latest decision of each reviewer per group and stage counts.

Outcome of a group at a stage (:func:`screening_table`):

* a *resolution* (decision of kind "resolution", e.g. by a third reviewer after discussion)
  settles the group whatever the reviewers said;
* otherwise, when at least ``reviewers_per_record`` reviewers decided and all agree (at the
  full-text stage also on the exclusion reason) that decision is final;
* reviewers who disagree make a *conflict* (listed by :func:`conflicts`), settled by
  :func:`resolve`;
* fewer decisions than required: the group is still pending.

Dual independent screening with conflicts settled by discussion or a third reviewer follows
the Cochrane Handbook (Lefebvre C et al., Cochrane Handbook for Systematic Reviews of
Interventions v6, chapter 4 "Searching for and selecting studies", section 4.6; MECIR standard
C39: at least two people working independently decide inclusion). At the title-abstract stage a
final "include" or "maybe" sends the reference on to full-text assessment (when in doubt, the
full text is retrieved); at the full-text stage a final "maybe" means "awaiting
classification".
"""

from __future__ import annotations

import csv
import io
import os
import weakref
from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evsynth.errors import InputError
from evsynth.files import check_overwrite
from evsynth.records.settings import STAGES, ScreeningSettings, check_stage
from evsynth.records.store import DECISION_KINDS, DECISIONS, Store
from evsynth.textsafe import csv_uncell, write_csv

#: columns of an exported decisions CSV (``title`` is for the reader and ignored on import)
CSV_COLUMNS = ("record_id", "stage", "reviewer", "decision", "reason", "kind", "note",
               "decided_at", "title")
#: columns an imported decisions CSV must have
CSV_REQUIRED = ("record_id", "stage", "reviewer", "decision")


def _frame(rows: list[dict[str, Any]], cols: Sequence[str]) -> pd.DataFrame:
    """DataFrame keeping None as None (object columns), not NaN."""
    return pd.DataFrame({c: pd.Series([r.get(c) for r in rows], dtype=object) for c in cols})


def reviewers_required(settings: ScreeningSettings | None) -> int:
    """Reviewers needed per record: ``reviewers_per_record`` if set, else 2 when two or more
    reviewers are configured (dual screening), else 1."""
    if settings is None:
        return 1
    if settings.reviewers_per_record is not None:
        return settings.reviewers_per_record
    return 2 if len(settings.reviewers) >= 2 else 1


def check_reviewer(reviewer: str, settings: ScreeningSettings | None, where: str = "",
                   field: str = "field 'reviewer'") -> None:
    """A reviewer must be one of the reviewers configured in review.toml ``[screening]`` when
    any are (the screener and imported screening decisions alike: a name outside the team
    would count in the agreement statistics as one more screener). Resolutions are not
    checked: a third author may arbitrate (see :func:`resolve`)."""
    if settings is not None and settings.reviewers and reviewer not in settings.reviewers:
        raise InputError(f"{where}{field} is {reviewer!r}, not one of the reviewers in "
                         f"review.toml [screening] {list(settings.reviewers)}")


def validate_decision(stage: str, decision: str, reason: str | None,
                      settings: ScreeningSettings | None, where: str = "",
                      reviewer: str | None = None) -> None:
    """Check stage, decision and reason against the allowed values and configured reasons,
    and ``reviewer`` (when given) with :func:`check_reviewer`.

    A reason, when given, must be one of the stage's configured exclusion reasons (if any are
    configured), and only an exclusion has a reason. At the full-text stage an exclusion needs
    a reason when reasons are configured (PRISMA 2020 item 16a reports them).
    """
    if reviewer is not None:
        check_reviewer(reviewer, settings, where)
    if stage not in STAGES:
        raise InputError(f"{where}field 'stage' is {stage!r}; expected one of {list(STAGES)}")
    if decision not in DECISIONS:
        raise InputError(f"{where}field 'decision' is {decision!r}; expected one of "
                         f"{list(DECISIONS)}")
    reasons = settings.reasons(stage) if settings is not None else ()
    if reason is not None:
        if decision != "exclude":
            raise InputError(f"{where}field 'reason' is {reason!r} for decision {decision!r}; "
                             "expected no reason (only an exclusion has one)")
        if reasons and reason not in reasons:
            raise InputError(f"{where}field 'reason' is {reason!r}; expected one of the "
                             f"configured {stage} exclusion reasons {list(reasons)}")
    elif decision == "exclude" and stage == "full-text" and reasons:
        raise InputError(f"{where}field 'reason' is missing for a full-text exclusion; expected "
                         f"one of {list(reasons)}")


def record_decision(store: Store, record_id: str, stage: str, decision: str, reviewer: str,
                    reason: str | None = None, *, settings: ScreeningSettings | None = None,
                    note: str | None = None, source: str = "api") -> None:
    """Record a reviewer's screening decision (committed before returning)."""
    validate_decision(stage, decision, reason, settings, reviewer=reviewer)
    store.add_decision(record_id, stage, decision, reviewer, reason, note=note, source=source)


def resolve(store: Store, record_id: str, stage: str, decision: str, reviewer: str,
            reason: str | None = None, *, settings: ScreeningSettings | None = None,
            note: str | None = None) -> None:
    """Record the decision settling a conflict (kind "resolution"); it overrides reviewers.
    ``reviewer`` may be someone outside ``[screening] reviewers`` (a third author who
    arbitrates); a resolution does not count in the agreement between screeners."""
    validate_decision(stage, decision, reason, settings)
    store.add_decision(record_id, stage, decision, reviewer, reason, kind="resolution",
                       note=note, source="resolution")


def latest_decisions(store: Store, stage: str | None = None,
                     kind: str | None = None) -> pd.DataFrame:
    """The decision that counts per (group, stage, reviewer, kind): the latest one.

    Columns: group_id (representative record_id), record_id, stage, reviewer, kind, decision,
    reason, note, decided_at, decision_id.
    """
    if stage is not None:
        check_stage(stage)
    h = store.decision_history(stage)
    if kind is not None:
        h = h[h["kind"] == kind]
    groups = store.duplicate_groups()
    cols = ["group_id", "record_id", "stage", "reviewer", "kind", "decision", "reason", "note",
            "decided_at", "decision_id"]
    if h.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    h = h.copy()
    h["group_id"] = h["record_id"].map(groups)
    h = h.sort_values("decision_id")
    last = h.groupby(["group_id", "stage", "reviewer", "kind"], sort=False).tail(1)
    return last[cols].sort_values("decision_id").reset_index(drop=True)


def screening_table(store: Store, stage: str,
                    settings: ScreeningSettings | None = None,
                    required: int | None = None) -> pd.DataFrame:
    """One row per duplicate group eligible for ``stage``, with its screening outcome.

    Columns: group_id, n_decisions, decisions (``{reviewer: decision}``), reasons
    (``{reviewer: reason}``), resolution, final (include/exclude/maybe or None), reason
    (of the final exclusion), conflict (bool), status ("pending", "conflict", "decided",
    "resolved"). Eligible: every group for title-abstract; for full-text, the groups whose
    title-abstract outcome is include or maybe.
    """
    check_stage(stage)
    need = required if required is not None else reviewers_required(settings)
    # kept per store while the groups and the decisions it depends on stay the same (a
    # command computed the title-abstract table two or three times: 2-3 s at 200,000 records)
    key = (stage, need, store.groups_version(), store.decisions_version("title-abstract"),
           store.decisions_version(stage))
    kept = _TABLES.get(store)
    if kept is not None and kept.get(stage, (None,))[0] == key:
        return kept[stage][1].copy()
    table = _screening_table(store, stage, settings, required, need)
    _TABLES.setdefault(store, {})[stage] = (key, table)
    return table.copy()


#: screening_table's last table per store and stage, with what it depends on
_TABLES: weakref.WeakKeyDictionary[Store, dict[str, tuple[tuple[Any, ...], pd.DataFrame]]] = \
    weakref.WeakKeyDictionary()


def _screening_table(store: Store, stage: str, settings: ScreeningSettings | None,
                     required: int | None, need: int) -> pd.DataFrame:
    groups = eligible_groups(store, stage, settings, required)
    lat = latest_decisions(store, stage)
    by_group: dict[str, list[dict[str, Any]]] = {}
    for r in lat.to_dict("records"):
        by_group.setdefault(r["group_id"], []).append(r)
    rows = []
    for g in groups:
        rs = by_group.get(g, [])
        screens = {r["reviewer"]: r for r in rs if r["kind"] == "screen"}
        res = [r for r in rs if r["kind"] == "resolution"]
        latest = max(res, key=lambda r: r["decision_id"]) if res else None
        rows.append(group_outcome(g, stage, {k: v["decision"] for k, v in screens.items()},
                                  {k: v["reason"] for k, v in screens.items()},
                                  None if latest is None else (latest["decision"],
                                                               latest["reason"]), need))
    cols = ["group_id", "n_decisions", "decisions", "reasons", "resolution", "final", "reason",
            "conflict", "status"]
    out = _frame(rows, cols)
    out["conflict"] = out["conflict"].astype(bool)
    out["n_decisions"] = out["n_decisions"].astype(int)
    return out


def counted_decisions(group_id: str, stage: str,
                      sequence: Iterable[tuple[str, str, str | None]],
                      need: int) -> dict[str, str]:
    """The decision of each reviewer on one group that agreement statistics count, from the
    group's screening decisions in the order made (``(reviewer, decision, reason)``): the
    decision that stood when the reviewer could first see the others' (the group had all its
    required decisions, agreeing or in conflict, and the reviewer had decided it); a decision
    changed after that (peek and revise) does not count. While the group is pending, every
    reviewer's latest decision counts. The web app's agreement and
    :func:`evsynth.records.agreement.screening_agreement` both count these."""
    dec: dict[str, str] = {}
    reasons: dict[str, str | None] = {}
    frozen: set[str] = set()
    complete = False
    for reviewer, decision, reason in sequence:
        if reviewer in frozen:
            continue  # changed after seeing the others': not counted
        dec.pop(reviewer, None)
        dec[reviewer], reasons[reviewer] = decision, reason
        if complete:
            frozen.add(reviewer)
        elif decisions_visible(group_outcome(group_id, stage, dec, reasons, None, need)):
            complete = True
            frozen.update(dec)
    return dec


def decisions_visible(outcome: Mapping[str, Any]) -> bool:
    """Whether the reviewers of a group (a row of :func:`screening_table`,
    :func:`group_outcome`) may now see one another's decisions, so that a change of their own
    would no longer be independent: the group is in conflict or resolved, or decided by two or
    more reviewers. A single reviewer's decision that settles a group under single screening
    stays theirs to change until another decision or a resolution comes."""
    status = outcome["status"]
    return status in ("conflict", "resolved") or (
        status == "decided" and int(outcome["n_decisions"]) >= 2)


def counted_screens(store: Store, stage: str, settings: ScreeningSettings | None = None
                    ) -> dict[str, dict[str, str]]:
    """Per reviewer, the decision on each duplicate group at ``stage`` that agreement counts
    (:func:`counted_decisions`, from the store's screening decisions in the order made; the
    groups eligible for the stage, as :func:`screening_table`)."""
    check_stage(stage)
    need = reviewers_required(settings)
    groups = store.duplicate_groups()
    h = store.decision_history(stage)
    h = h[h["kind"] == "screen"].sort_values("decision_id")
    eligible = (set(screening_table(store, stage, settings)["group_id"])
                if stage == "full-text" else None)
    seqs: dict[str, list[tuple[str, str, str | None]]] = {}
    for rec, rev, dec, why in zip(h["record_id"], h["reviewer"], h["decision"], h["reason"],
                                  strict=True):
        g = str(groups.get(rec, rec))
        if eligible is None or g in eligible:
            seqs.setdefault(g, []).append(
                (str(rev), str(dec), None if why is None or why != why else str(why)))
    out: dict[str, dict[str, str]] = {}
    for g, seq in seqs.items():
        for rev, dec in counted_decisions(g, stage, seq, need).items():
            out.setdefault(rev, {})[g] = dec
    return out


def group_outcome(group_id: str, stage: str, decisions: dict[str, str],
                  reasons: dict[str, str | None], resolution: tuple[str, str | None] | None,
                  need: int) -> dict[str, Any]:
    """The screening outcome of one duplicate group (a row of :func:`screening_table`) from its
    reviewers' latest decisions and reasons (in the order of those decisions), its latest
    resolution ``(decision, reason)`` and the number of reviewers required: a resolution
    settles; else reviewers who disagree (at full text also excluding for different reasons)
    are a conflict; else ``need`` agreeing reviewers decide; else it is pending."""
    final: str | None = None
    reason: str | None = None
    conflict = False
    if resolution is not None:
        final, reason, status = resolution[0], resolution[1], "resolved"
    else:
        vals: set[Any] = set(decisions.values())
        if stage == "full-text" and vals == {"exclude"}:
            vals = {("exclude", r) for r in reasons.values()}
        if len(vals) > 1:
            conflict, status = True, "conflict"
        elif len(decisions) >= need and decisions:
            final = next(iter(decisions.values()))
            reason = next((r for r in reasons.values() if r), None) \
                if final == "exclude" else None
            status = "decided"
        else:
            status = "pending"
    return dict(group_id=group_id, n_decisions=len(decisions), decisions=decisions,
                reasons=reasons, resolution=None if resolution is None else resolution[0],
                final=final, reason=reason, conflict=conflict, status=status)


def eligible_groups(store: Store, stage: str, settings: ScreeningSettings | None = None,
                    required: int | None = None) -> list[str]:
    """Representative record ids of the groups to screen at ``stage``, in import order."""
    check_stage(stage)
    groups = store.duplicate_groups()
    reps = [r for r, g in groups.items() if r == g]
    if stage == "title-abstract":
        return reps
    ta = screening_table(store, "title-abstract", settings, required)
    passed = set(ta.loc[ta["final"].isin(["include", "maybe"]), "group_id"])
    return [r for r in reps if r in passed]


def queue(store: Store, stage: str, reviewer: str,
          settings: ScreeningSettings | None = None) -> pd.DataFrame:
    """Records ``reviewer`` still has to screen at ``stage``: one per duplicate group (its
    representative), eligible for the stage, with no decision by this reviewer yet; import
    order. Columns: those of :meth:`Store.unique_records`."""
    check_stage(stage)
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise InputError(f"reviewer {reviewer!r}; expected a non-empty name")
    eligible = set(eligible_groups(store, stage, settings))
    lat = latest_decisions(store, stage, kind="screen")
    done = set(lat.loc[lat["reviewer"] == reviewer, "group_id"])
    uniq = store.unique_records()
    keep = uniq["record_id"].map(lambda r: r in eligible and r not in done)
    return uniq[keep].reset_index(drop=True)


def conflicts(store: Store, stage: str | None = None,
              settings: ScreeningSettings | None = None) -> pd.DataFrame:
    """Unresolved conflicts: groups whose reviewers disagree. Columns: group_id, stage,
    title, decisions ``{reviewer: decision}``, reasons ``{reviewer: reason}``."""
    stages = [check_stage(stage)] if stage is not None else list(STAGES)
    found = []
    for st in stages:
        tab = screening_table(store, st, settings)
        found += [(st, r) for r in tab[tab["conflict"]].to_dict("records")]
    titles = store.titles([r["group_id"] for _, r in found])  # not every record's text
    rows = [dict(group_id=r["group_id"], stage=st, title=titles.get(r["group_id"]),
                 decisions=r["decisions"], reasons=r["reasons"]) for st, r in found]
    return _frame(rows, ["group_id", "stage", "title", "decisions", "reasons"])


# ----------------------------------------------------------------------------------------------
# Agreement
# ----------------------------------------------------------------------------------------------
def cohen_kappa(a: Sequence[str], b: Sequence[str],
                categories: Sequence[str] = DECISIONS) -> dict[str, Any]:
    """Percent agreement and Cohen's kappa of two raters' paired categorical ratings.

    kappa = (p_o - p_e) / (1 - p_e), p_o the observed proportion of agreement and
    p_e = sum_k p_{1k} p_{2k} the agreement expected from the marginals (Cohen 1960, Educ
    Psychol Meas 20:37-46; as ``psych::cohen.kappa`` unweighted). The large-sample variance
    is that of Fleiss, Cohen & Everitt (1969, Psychol Bull 72:323-327), as in
    ``psych::cohen.kappa``. kappa is None when p_e = 1 (both raters used one and the same
    category throughout: kappa is undefined).

    Parameters
    ----------
    a, b : sequence of str
        The two raters' decisions on the same records, in the same order.
    categories : sequence of str, default ("include", "exclude", "maybe")
        The possible decisions (the rows and columns of ``table``).

    Returns
    -------
    dict
        ``n``, ``agreement`` (proportion), ``percent_agreement``, ``expected_agreement``,
        ``kappa``, ``kappa_se`` and ``table`` (a DataFrame: rows rater a, columns rater b, in
        ``categories`` order).

    References
    ----------
    .. [1] Cohen J (1960). A coefficient of agreement for nominal scales. *Educ Psychol Meas*
           20(1):37-46. doi:10.1177/001316446002000104
    .. [2] Fleiss JL, Cohen J, Everitt BS (1969). Large sample standard errors of kappa and
           weighted kappa. *Psychol Bull* 72(5):323-327. doi:10.1037/h0028106

    Examples
    --------
    >>> from evsynth import records
    >>> a = ["include", "exclude", "exclude", "include", "exclude"]
    >>> b = ["include", "exclude", "include", "include", "exclude"]
    >>> k = records.cohen_kappa(a, b)
    >>> k["percent_agreement"], round(k["kappa"], 4)
    (80.0, 0.6154)
    """
    if len(a) != len(b):
        raise InputError(f"agreement: {len(a)} ratings against {len(b)}; expected pairs")
    cats = list(categories)
    idx = {c: i for i, c in enumerate(cats)}
    for x in (*a, *b):
        if x not in idx:
            raise InputError(f"agreement: rating {x!r}; expected one of {cats}")
    n = len(a)
    k = len(cats)
    table = np.zeros((k, k), dtype=int)
    for x, y in zip(a, b, strict=True):
        table[idx[x], idx[y]] += 1
    out: dict[str, Any] = dict(n=n, table=pd.DataFrame(table, index=cats, columns=cats))
    if n == 0:
        out.update(agreement=None, percent_agreement=None, expected_agreement=None,
                   kappa=None, kappa_se=None)
        return out
    p = table / n
    po = float(np.trace(p))
    r, c = p.sum(axis=1), p.sum(axis=0)
    pe = float(r @ c)
    out.update(agreement=po, percent_agreement=100.0 * po, expected_agreement=pe)
    if np.isclose(pe, 1.0, rtol=0, atol=1e-12):
        out.update(kappa=None, kappa_se=None)
        return out
    kappa = (po - pe) / (1 - pe)
    # Fleiss, Cohen & Everitt (1969) large-sample variance of unweighted kappa
    diag = np.diag(p)
    term1 = float(np.sum(diag * (1 - (r + c) * (1 - kappa)) ** 2))
    off = np.outer(np.ones(k), np.ones(k)) - np.eye(k)
    term2 = float((1 - kappa) ** 2 * np.sum(off * p * (c[:, None] + r[None, :]) ** 2))
    term3 = float((kappa - pe * (1 - kappa)) ** 2)
    var = (term1 + term2 - term3) / (n * (1 - pe) ** 2)
    out.update(kappa=float(kappa), kappa_se=float(np.sqrt(max(var, 0.0))))
    return out


def agreement(store: Store, stage: str, reviewers: Sequence[str] | None = None,
              settings: ScreeningSettings | None = None) -> pd.DataFrame:
    """Inter-rater agreement per pair of reviewers at ``stage``.

    Uses each reviewer's own ("screen") decision per duplicate group as it stood when the
    others' could be seen (:func:`counted_screens`; ``settings`` give the reviewers each
    record needs); only groups both reviewers decided count. Columns: reviewer_a, reviewer_b,
    n, percent_agreement, expected_agreement, kappa, kappa_se (see :func:`cohen_kappa`; kappa
    None if undefined).
    """
    by_rev = counted_screens(store, stage, settings)
    names = list(reviewers) if reviewers is not None else sorted(by_rev)
    rows = []
    for ra, rb in combinations(names, 2):
        da, db = by_rev.get(ra, {}), by_rev.get(rb, {})
        common = [g for g in da if g in db]
        k = cohen_kappa([da[g] for g in common], [db[g] for g in common])
        rows.append(dict(stage=stage, reviewer_a=ra, reviewer_b=rb, n=k["n"],
                         percent_agreement=k["percent_agreement"],
                         expected_agreement=k["expected_agreement"], kappa=k["kappa"],
                         kappa_se=k["kappa_se"]))
    return _frame(rows, ["stage", "reviewer_a", "reviewer_b", "n", "percent_agreement",
                         "expected_agreement", "kappa", "kappa_se"])


# ----------------------------------------------------------------------------------------------
# CSV export / import
# ----------------------------------------------------------------------------------------------
def export_decisions(store: Store, path: str | os.PathLike[str], stage: str | None = None,
                     history: bool = True, *, force: bool = False) -> int:
    """Write screening decisions to a UTF-8 CSV (columns :data:`CSV_COLUMNS`); returns rows.

    ``history=True`` writes every decision ever made (the audit trail, oldest first);
    ``False`` only the latest per reviewer. Written atomically (temp file + rename) through
    :func:`evsynth.textsafe.write_csv`: a cell beginning with ``= + - @``, a tab or a carriage
    return gets a leading single quote, so no title, name or reason runs as a spreadsheet
    formula (:func:`read_decisions_csv` removes it again). An existing file at ``path`` is an
    InputError unless ``force``.
    """
    if stage is not None:
        check_stage(stage)
    check_overwrite(path, force=force, what="CSV")
    df = store.decision_history(stage) if history else latest_decisions(store, stage)
    titles = store.titles(list(df["record_id"]))  # not every record's text
    rows = [[r.get(c) for c in CSV_COLUMNS[:-1]] + [titles.get(r["record_id"])]
            for r in df.sort_values("decision_id").to_dict("records")]
    write_csv(Path(path), rows, CSV_COLUMNS)
    return len(df)


def read_decisions_csv(path: str | os.PathLike[str], store: Store,
                       settings: ScreeningSettings | None = None) -> list[dict[str, Any]]:
    """Parse and validate a decisions CSV; InputError names the file, line and field.

    Needs columns record_id, stage, reviewer, decision; optional reason, kind, note,
    decided_at (others such as title are ignored). Record ids must be in the store; reasons
    must be configured ones (see :func:`validate_decision`). The single quote
    :func:`export_decisions` puts before a cell beginning with ``= + - @``, tab or carriage
    return is removed (:func:`evsynth.textsafe.csv_uncell`), so an export imports unchanged.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror}); expected a CSV file") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{p}: not UTF-8 text; expected a UTF-8 CSV of decisions") from None
    if not text.strip():
        raise InputError(f"{p}: file is empty; expected a CSV with a header line")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [csv_uncell(h).strip() for h in next(reader)]
    except csv.Error as exc:
        raise InputError(f"{p}, line 1: not valid CSV ({exc})") from None
    missing = [c for c in CSV_REQUIRED if c not in header]
    if missing:
        raise InputError(f"{p}, line 1: header lacks column(s) {missing}; expected at least "
                         f"{list(CSV_REQUIRED)}")
    known = set(store.record_ids())
    rows: list[dict[str, Any]] = []
    line = reader.line_num
    while True:
        start = line + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InputError(f"{p}, line {start}: not valid CSV ({exc})") from None
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            raise InputError(f"{p}, line {start}: {len(values)} fields; expected {len(header)} "
                             "as in the header")
        rec = {h: (csv_uncell(v).strip() or None) for h, v in zip(header, values, strict=True)}
        where = f"{p}, line {start}: "
        for c in CSV_REQUIRED:
            if rec.get(c) is None:
                raise InputError(f"{where}field '{c}' is empty; expected a value")
        if rec["record_id"] not in known:
            raise InputError(f"{where}field 'record_id' is {rec['record_id']!r}, which is not "
                             "in the store; expected an imported record id")
        kind = rec.get("kind") or "screen"
        if kind not in DECISION_KINDS:
            raise InputError(f"{where}field 'kind' is {kind!r}; expected one of "
                             f"{list(DECISION_KINDS)}")
        stage, decision = rec["stage"], rec["decision"]
        assert stage is not None and decision is not None  # CSV_REQUIRED, checked above
        validate_decision(stage, decision, rec.get("reason"), settings, where,
                          reviewer=rec["reviewer"] if kind == "screen" else None)
        rows.append(dict(record_id=rec["record_id"], stage=rec["stage"],
                         decision=rec["decision"], reviewer=rec["reviewer"],
                         reason=rec.get("reason"), kind=kind, note=rec.get("note"),
                         decided_at=rec.get("decided_at"), source="csv"))
    return rows


def import_decisions(store: Store, path: str | os.PathLike[str],
                     settings: ScreeningSettings | None = None) -> int:
    """Import a decisions CSV all-or-nothing: every row is validated before one transaction
    writes them. Rows identical to stored ones (same decided_at) are skipped, so re-importing
    an export is harmless. Returns the number of decisions written."""
    rows = read_decisions_csv(path, store, settings)
    return store.add_decisions(rows)
