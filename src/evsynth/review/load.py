"""Read and validate a review folder (``review.toml``, ``studies.csv``, ``outcomes.csv``).

Every problem found is reported, not just the first: :func:`load_review` raises one
:class:`~evsynth.errors.InputError` whose message lists each error on its own line, naming the
file, the TOML key or CSV line (line 1 is the header), the field, and what was expected.

Values on an outcome's declared ``scale = [min, max]`` are checked against it: an arm's mean
(final value, follow-up or baseline) outside [min, max], a mean change outside
[-(max - min), max - min] or an MD contrast estimate beyond max - min is an error; an SD wider
than the scale's range (max - min) is a warning (:attr:`Review.warnings`), shown by
``evsynth validate`` and in the report.

The input files must be regular files inside the review folder (a symlink pointing out of it
is an error); so must the optional ``risk_of_bias.csv`` (not empty: at least its header row)
and every ``files`` entry of ``[[search]]``. Counts and group sizes (the integer columns) above
2^53, which the analysis cannot hold exactly, are errors naming the file, line and column.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from evsynth.errors import InputError
from evsynth.files import inside_folder
from evsynth.review.schema import (
    CONTINUOUS_MEASURES,
    GRADE_DOMAINS,
    OUTCOME_COLUMNS,
    Comparison,
    GradeEntry,
    Outcome,
    OutcomeRow,
    ReviewConfig,
    StudyRow,
    Window,
)
from evsynth.validation import MAX_COUNT

REVIEW_FILE = "review.toml"
STUDIES_FILE = "studies.csv"
OUTCOMES_FILE = "outcomes.csv"
INPUT_FILES = (REVIEW_FILE, STUDIES_FILE, OUTCOMES_FILE)
#: the optional long table of risk-of-bias judgements: :data:`evsynth.reports.rob.LONG_FILE`
#: (named here too so that loading a folder without it does not import that module; a test
#: keeps the two equal)
ROB_FILE = "risk_of_bias.csv"
#: at most this many errors are listed in one message
MAX_ERRORS = 50


@dataclass
class Review:
    """A validated review folder."""

    path: Path
    config: ReviewConfig
    studies: list[StudyRow]
    outcomes: list[OutcomeRow]
    #: CSV line number (header = line 1) of each outcomes.csv row, parallel to ``outcomes``
    outcome_lines: list[int]
    #: sha256 of each input file, by file name
    hashes: dict[str, str] = field(default_factory=dict)
    #: problems that do not stop the analysis but must be seen (file, line, field, why)
    warnings: list[str] = field(default_factory=list)

    #: rows_for results by (comparison id, outcome id) (filled on first use)
    _rows_cache: dict[tuple[str, str], dict[str, list[tuple[OutcomeRow, int]]]] = field(
        default_factory=dict, repr=False, compare=False)
    #: the outcomes.csv rows (with line numbers) by outcome id (filled on first use)
    _by_outcome: dict[str, list[tuple[OutcomeRow, int]]] | None = field(
        default=None, repr=False, compare=False)

    #: the overall risk-of-bias judgement per study, by outcome id (filled on first use)
    _rob_cache: dict[str, dict[str, str | None]] = field(default_factory=dict, repr=False,
                                                          compare=False)
    #: the review's RiskOfBias table, once read (``_rob_read``); None without judgements
    _rob_table: Any = field(default=None, repr=False, compare=False)
    _rob_read: bool = field(default=False, repr=False, compare=False)

    @property
    def study_by_id(self) -> dict[str, StudyRow]:
        return {s.study_id: s for s in self.studies}

    def risk_of_bias(self) -> Any:
        """The review's :class:`~evsynth.reports.rob.RiskOfBias` (studies.csv's ``rob_*``
        columns and risk_of_bias.csv; :func:`evsynth.review.results.review_risk_of_bias`),
        read once; None when no study has a judgement."""
        if not self._rob_read:
            from evsynth.review.results import review_risk_of_bias

            self._rob_table, self._rob_read = review_risk_of_bias(self), True
        return self._rob_table

    def rob_overall(self, outcome: str) -> dict[str, str | None]:
        """Each study's overall risk of bias for ``outcome``: the outcome-specific judgement of
        risk_of_bias.csv where given, else the study-level one (risk_of_bias.csv or
        studies.csv's ``rob_overall``), as the tables, figures and the GRADE prompt read them
        (:func:`evsynth.review.results.review_risk_of_bias`). The "excluding high risk of
        bias" sensitivity analysis leaves out the studies these put at high risk (it read
        studies.csv only, so judgements given in risk_of_bias.csv were ignored; fuzz round
        5)."""
        if outcome not in self._rob_cache:
            rob = self.risk_of_bias()
            if rob is None:
                self._rob_cache[outcome] = {s.study_id: s.rob_overall for s in self.studies}
            else:
                js = rob._judgements(outcome if outcome in rob.outcomes else None)
                self._rob_cache[outcome] = {sid: j.get("overall") for sid, j in js.items()}
        return self._rob_cache[outcome]

    def rows_for(self, comp: Comparison, outcome: str
                 ) -> dict[str, list[tuple[OutcomeRow, int]]]:
        """The outcomes.csv rows (with line numbers) of each study holding data for ``comp``
        and ``outcome`` (:func:`evsynth.review.arms.rows_for`), computed once per pair from
        the rows of that outcome."""
        key = (comp.id, outcome)
        if key not in self._rows_cache:
            from evsynth.review.arms import rows_for

            if self._by_outcome is None:
                self._by_outcome = {}
                for row, line in zip(self.outcomes, self.outcome_lines, strict=True):
                    self._by_outcome.setdefault(row.outcome, []).append((row, line))
            got = self._by_outcome.get(outcome, [])
            self._rows_cache[key] = rows_for([r for r, _ in got], [ln for _, ln in got],
                                             comp, outcome)
        return self._rows_cache[key]

    def comparison(self, cid: str) -> Comparison:
        return next(c for c in self.config.comparisons if c.id == cid)

    def outcome(self, oid: str) -> Outcome:
        return next(o for o in self.config.outcomes if o.id == oid)

    def window(self, wid: str) -> Window:
        return next(w for w in self.config.windows if w.id == wid)

    def grade_for(self, cid: str, oid: str, wid: str) -> GradeEntry | None:
        """The ``[[grade]]`` entry for this analysis: one naming the window, else one for all
        windows of the comparison and outcome, else None."""
        general = None
        for g in self.config.grade:
            if g.comparison == cid and g.outcome == oid:
                if g.window == wid:
                    return g
                if g.window is None:
                    general = g
        return general


# ----------------------------------------------------------------------------- error helpers
def _loc(loc: tuple[Any, ...]) -> str:
    """pydantic location -> TOML key path such as ``outcomes[1].scale``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _msg(err: ErrorDetails) -> str:
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return msg


def _toml_errors(path: Path, exc: ValidationError, data: dict[str, Any]) -> list[str]:
    out = []
    for err in exc.errors():
        loc = _loc(err["loc"])
        where = f"key '{loc}'" if loc else "top level"
        ident = ""
        if err["loc"] and isinstance(err["loc"][0], str) and len(err["loc"]) > 1 \
                and isinstance(err["loc"][1], int):
            try:
                item = data[err["loc"][0]][err["loc"][1]]
                if isinstance(item, dict) and "id" in item:
                    ident = f" (id {item['id']!r})"
            except (KeyError, IndexError, TypeError):
                pass
        got = ""
        if err["type"] not in ("missing",) and "input" in err and not isinstance(
                err["input"], (dict, list)):
            got = f" (got {err['input']!r})"
        if err["type"] == "extra_forbidden":
            out.append(f"{path}: {where}{ident}: unknown key; expected one of the documented "
                       "keys (see docs/review-folder.md / the example review.toml)")
        else:
            out.append(f"{path}: {where}{ident}: {_msg(err)}{got}")
    return out


def _row_errors(path: Path, line: int, row: dict[str, Any], exc: ValidationError) -> list[str]:
    out = []
    who = f" (study {row['study_id']!r})" if row.get("study_id") else ""
    for err in exc.errors():
        fld = _loc(err["loc"])
        got = ""
        if err["type"] != "missing" and "input" in err and not isinstance(err["input"], dict):
            got = f" (got {err['input']!r})"
        if err["type"] == "extra_forbidden":
            out.append(f"{path}: line {line}{who}: column '{fld}' is not a known column; "
                       f"expected columns: {', '.join(OUTCOME_COLUMNS)}")
        elif fld:
            out.append(f"{path}: line {line}{who}: field '{fld}': {_msg(err)}{got}")
        else:
            out.append(f"{path}: line {line}{who}: {_msg(err)}")
    return out


def _raise(errors: list[str]) -> None:
    if errors:
        shown = errors[:MAX_ERRORS]
        more = f"\n... and {len(errors) - MAX_ERRORS} more" if len(errors) > MAX_ERRORS else ""
        head = "invalid review folder" if len(errors) > 1 else ""
        text = "\n  ".join(shown)
        raise InputError((f"{head} ({len(errors)} errors):\n  " + text + more) if head else text)


# ----------------------------------------------------------------------------- readers
def _read_bytes(root: Path, name: str) -> bytes:
    path = inside_folder(root, name, f"{root / name}")
    if not path.is_file():
        raise InputError(f"{path}: file not found; a review folder needs {', '.join(INPUT_FILES)}")
    return path.read_bytes()


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: byte {exc.start} is not UTF-8; expected a UTF-8 text "
                         "file") from None


def read_config(path: Path, raw: bytes) -> tuple[ReviewConfig | None, list[str]]:
    """Parse and validate ``review.toml``; returns the config (None on error) and the errors."""
    from evsynth.records.settings import parse_toml

    try:
        data = parse_toml(_decode(path, raw), path)
    except InputError as exc:
        return None, [str(exc)]
    try:
        return ReviewConfig.model_validate(data), []
    except ValidationError as exc:
        return None, _toml_errors(path, exc, data)
    except RecursionError:
        return None, [f"{path}: values nested too deeply to be checked; expected a review.toml "
                      "as documented (a few levels of nesting)"]


def read_csv_rows(path: Path, raw: bytes, model: type[BaseModel],
                  required: tuple[str, ...], failed_ids: set[str] | None = None
                  ) -> tuple[list[Any], list[int], list[str]]:
    """Validate each CSV row with ``model``; returns rows, their line numbers and the errors.
    ``failed_ids`` collects the ``study_id`` of the rows that failed validation (the study
    exists; it is its other fields that are wrong)."""
    text = _decode(path, raw)
    # newline="" keeps line breaks inside quoted cells (csv module docs); splitting the text
    # into lines first would join "40 adults\nwith pain" into "40 adultswith pain"
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [c for c in required if c not in header]
    if missing:
        return [], [], [f"{path}: line 1 (header): missing column(s) "
                         f"{', '.join(repr(m) for m in missing)}; found {', '.join(header)}"]
    if model.model_config.get("extra") == "forbid":
        unknown = [h for h in header if h not in model.model_fields]
        if unknown:
            return [], [], [f"{path}: line 1 (header): unknown column(s) "
                             f"{', '.join(repr(u) for u in unknown)}; expected columns: "
                             f"{', '.join(model.model_fields)}"]
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        return [], [], [f"{path}: line 1 (header): duplicate column(s) {', '.join(dup)}"]
    rows, lines, errors = [], [], []
    for row in reader:
        line = reader.line_num
        if None in row:
            errors.append(f"{path}: line {line}: more cells than header columns "
                          f"({len(header)}); expected one value per column")
            continue
        if all((v or "").strip() == "" for v in row.values()):
            continue  # blank line
        if any(v is None for v in row.values()):  # csv gives None for cells after the last
            n = sum(v is not None for v in row.values())
            errors.append(f"{path}: line {line}: {n} cells for the {len(header)} header "
                          "columns; expected one value per column (an empty value as an empty "
                          "cell: a missing separator shifts the values into other columns)")
            continue
        clean = {k: v for k, v in row.items() if k is not None}
        try:
            rows.append(model.model_validate(clean))
            lines.append(line)
        except ValidationError as exc:
            errors.extend(_row_errors(path, line, clean, exc))
            if failed_ids is not None and (clean.get("study_id") or "").strip():
                failed_ids.add(clean["study_id"].strip())
    if not rows and not errors:
        errors.append(f"{path}: no data rows; expected at least one row after the header")
    return rows, lines, errors


def _int_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The integer columns (counts, group sizes, year) of a CSV row model."""
    return tuple(name for name, f in model.model_fields.items()
                 if f.annotation in (int, int | None))


def _count_checks(path: Path, rows: list[BaseModel], lines: list[int]) -> list[str]:
    """Whole numbers above 2^53 (:data:`MAX_COUNT`): the analysis holds counts and group sizes
    as floating-point numbers, which cannot store such a number exactly."""
    errors = []
    fields = _int_fields(type(rows[0])) if rows else ()
    for r, line in zip(rows, lines, strict=True):
        for fld in fields:
            v = getattr(r, fld)
            if v is not None and abs(v) > MAX_COUNT:
                errors.append(f"{path}: line {line} (study {getattr(r, 'study_id', '')!r}): "
                              f"field '{fld}' is {v}; expected a whole number <= 2^53 "
                              f"({MAX_COUNT}), the largest stored exactly")
    return errors


def file_sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


# ----------------------------------------------------------------------------- cross-checks
def _config_checks(path: Path, cfg: ReviewConfig) -> list[str]:
    errors = []
    # the four lists hold different models, each with an ``id``
    id_lists: list[tuple[str, list[Any]]] = [
        ("comparisons", cfg.comparisons), ("outcomes", cfg.outcomes),
        ("windows", cfg.windows), ("subgroups", cfg.subgroups)]
    for key, items in id_lists:
        seen: set[str] = set()
        for i, it in enumerate(items):
            if it.id in seen:
                errors.append(f"{path}: key '{key}[{i}].id': duplicate id {it.id!r}; expected "
                              "each id once")
            seen.add(it.id)
    ws = sorted(enumerate(cfg.windows), key=lambda p: p[1].weeks)
    for (_i, a), (j, b) in zip(ws, ws[1:], strict=False):
        a_hi, b_lo = a.weeks[1], b.weeks[0]
        if b_lo < a_hi or (b_lo == a_hi and a.include_upper):
            errors.append(f"{path}: key 'windows[{j}].weeks': window {b.id!r} "
                          f"{list(b.weeks)} overlaps window {a.id!r} {list(a.weeks)}"
                          f"{' (include_upper = true)' if b_lo == a_hi else ''}; expected "
                          "disjoint windows so that an assessment belongs to one window")
    comp_ids = {c.id for c in cfg.comparisons}
    out_ids = {o.id for o in cfg.outcomes}
    win_ids = {w.id for w in cfg.windows}
    seen_g: set[tuple[str, str, str | None]] = set()
    for i, g in enumerate(cfg.grade):
        for fld, val, ids in (("comparison", g.comparison, comp_ids),
                              ("outcome", g.outcome, out_ids), ("window", g.window, win_ids)):
            if val is not None and val not in ids:
                errors.append(f"{path}: key 'grade[{i}].{fld}': {val!r} is not a defined "
                              f"{fld} id; expected one of {', '.join(sorted(ids))}")
        gkey = (g.comparison, g.outcome, g.window)
        if gkey in seen_g:
            errors.append(f"{path}: key 'grade[{i}]': a second entry for {gkey}; expected one")
        seen_g.add(gkey)
    cs = cfg.change_scores
    if cs.correlation in cs.sensitivity:
        errors.append(f"{path}: key 'change_scores.sensitivity': contains the main correlation "
                      f"{cs.correlation}; expected other values")
    return errors


def search_file_checks(root: Path, cfg: ReviewConfig) -> list[str]:
    """Each ``files`` entry of ``[[search]]`` resolves inside the review folder ``root`` (no
    '..', no absolute path elsewhere, no symlink pointing out): the records layer's own check
    (:meth:`evsynth.records.search.SearchStrategy.paths`), made here so that every command
    loading the folder (``validate``, ``run``, the web app) refuses such a path alike. Whether
    the files exist is checked by the records stage
    (:func:`evsynth.review.records_section.check_records`)."""
    import dataclasses

    errors = []
    for s in cfg.searches:
        try:
            dataclasses.replace(s, review_dir=root).paths()
        except InputError as exc:
            errors.append(str(exc))
    return errors


def _study_checks(path: Path, studies: list[StudyRow], lines: list[int],
                  cfg: ReviewConfig | None) -> list[str]:
    errors = []
    seen: dict[str, int] = {}
    for s, line in zip(studies, lines, strict=True):
        if s.study_id in seen:
            errors.append(f"{path}: line {line}: field 'study_id': duplicate {s.study_id!r} "
                          f"(first on line {seen[s.study_id]}); expected one row per study")
        seen.setdefault(s.study_id, line)
        if s.n_intervention and s.n_control and s.n_randomised and \
                s.n_intervention + s.n_control > s.n_randomised:
            errors.append(f"{path}: line {line} (study {s.study_id!r}): n_intervention + "
                          f"n_control exceed n_randomised ({s.n_randomised})")
    if cfg is not None:
        cols = set(StudyRow.model_fields)
        if studies:
            cols |= set(studies[0].model_extra or {})
        for i, sg in enumerate(cfg.subgroups):
            if sg.column not in cols:
                errors.append(f"{REVIEW_FILE}: key 'subgroups[{i}].column': {sg.column!r} is not "
                              f"a column of {path}")
    return errors


#: value types each outcome kind accepts (contrast rows: measures checked separately)
KIND_VALUE_TYPES = {"continuous": ("final", "change", "baseline_followup", "contrast"),
                    "binary": ("events", "contrast"),
                    "time_to_event": ("contrast", "o_minus_e", "logrank"),
                    "rate": ("rate", "contrast")}


def _outcome_checks(path: Path, rows: list[OutcomeRow], lines: list[int],
                    cfg: ReviewConfig | None, study_ids: set[str] | None) -> list[str]:
    errors = []
    comps = {c.id: c for c in cfg.comparisons} if cfg else None
    outs = {o.id: o for o in cfg.outcomes} if cfg else None
    seen: dict[tuple, int] = {}
    instruments: dict[tuple[str, str, float], tuple[str | None, int]] = {}
    fmt: dict[str, tuple[bool, int]] = {}
    for r, line in zip(rows, lines, strict=True):
        where = f"{path}: line {line} (study {r.study_id!r})"
        if study_ids is not None and r.study_id not in study_ids:
            errors.append(f"{where}: field 'study_id': {r.study_id!r} is not in "
                          f"{STUDIES_FILE}; expected a study_id listed there")
        if comps is not None and r.comparison is not None and r.comparison not in comps:
            errors.append(f"{where}: field 'comparison': {r.comparison!r} is not a comparison "
                          f"id of {REVIEW_FILE}; expected one of {', '.join(sorted(comps))}")
        elif comps is not None and r.comparison is not None and not r.two_arm_format:
            c = comps[r.comparison]
            names = [t for t in (r.treatment, r.comparator) if t]
            known = c.intervention_treatments + c.control_treatments
            bad = [t for t in names if t not in known]
            if bad:
                errors.append(f"{where}: field 'treatment': {', '.join(map(repr, bad))} is not "
                              f"a treatment of comparison {c.id!r} (named in 'comparison'); "
                              f"expected one of {', '.join(known)}, or leave 'comparison' "
                              "empty")
        first = fmt.setdefault(r.study_id, (r.two_arm_format, line))
        if first[0] != r.two_arm_format:
            errors.append(f"{where}: mixes the two-arm format (arm = intervention/control, or "
                          f"a contrast without treatments; line "
                          f"{line if r.two_arm_format else first[1]}) with treatment-named rows "
                          f"(line {first[1] if r.two_arm_format else line}); expected one "
                          "format per study")
        if outs is not None:
            o = outs.get(r.outcome)
            if o is None:
                errors.append(f"{where}: field 'outcome': {r.outcome!r} is not an outcome id of "
                              f"{REVIEW_FILE}; expected one of {', '.join(sorted(outs))}")
            else:
                ok_vt = KIND_VALUE_TYPES[o.kind]
                if r.value_type not in ok_vt:
                    errors.append(f"{where}: field 'value_type': {r.value_type!r} for the "
                                  f"{o.kind.replace('_', '-')} outcome {o.id!r}; expected "
                                  f"{', '.join(ok_vt)}")
                elif r.value_type == "contrast":
                    ok = {"continuous": ("MD", "SMD"), "binary": ("OR", "RR", "RD"),
                          "time_to_event": ("HR",), "rate": ("IRR", "IRD")}[o.kind]
                    if r.measure not in ok:
                        errors.append(f"{where}: field 'measure': {r.measure!r} for the "
                                      f"{o.kind.replace('_', '-')} outcome {o.id!r}; expected "
                                      f"one of {', '.join(ok)}")
        who: str
        if r.two_arm_format:
            who = r.arm or "contrast"
        elif r.is_contrast:
            who = "contrast " + " vs ".join(sorted((r.treatment or "", r.comparator or "")))
        else:
            who = r.treatment or ""
        key = (r.study_id, r.comparison if r.two_arm_format else None, r.outcome,
               r.timepoint_weeks, who, "contrast" if r.is_contrast else "arm", r.instrument)
        if key in seen:
            what = ("arm" if r.two_arm_format else "treatment") if not r.is_contrast \
                else "pair of treatments"
            errors.append(f"{where}: duplicate of line {seen[key]} (same study, "
                          f"{'comparison, ' if r.two_arm_format else ''}outcome, "
                          f"timepoint_weeks{', instrument' if r.instrument else ''} and "
                          f"{what}); expected one row")
        seen.setdefault(key, line)
        if outs is not None and r.outcome in outs:   # several instruments: dependence models
            o_ = outs[r.outcome]
            first_i = instruments.setdefault((r.study_id, r.outcome, r.timepoint_weeks),
                                             (r.instrument, line))
            if first_i[0] != r.instrument and o_.dependence == "one_per_study":
                errors.append(f"{where}: field 'instrument': {r.instrument!r} and "
                              f"{first_i[0]!r} (line {first_i[1]}) for outcome {o_.id!r}, "
                              "which takes one effect per study; expected one instrument per "
                              "study and time point, or dependence = \"multilevel\" or "
                              f"\"robust\" for outcome {o_.id!r}")
    # arms of one assessment must agree on the kind of value
    arms: dict[tuple, list[tuple[OutcomeRow, int]]] = {}
    for r, line in zip(rows, lines, strict=True):
        if not r.is_contrast:
            arms.setdefault((r.study_id, r.comparison if r.two_arm_format else None, r.outcome,
                             r.timepoint_weeks), []).append((r, line))
    for (sid, _c, oid, t), group in arms.items():
        kinds = {r.value_type for r, _ in group}
        if len(kinds) > 1:
            errors.append(f"{path}: lines {', '.join(str(ln) for _, ln in group)} (study "
                          f"{sid!r}, outcome {oid!r}, {t:g} weeks): arms have different "
                          f"value_type ({', '.join(sorted(kinds))}); expected the same in all "
                          "arms")
    return errors


def _did_you_mean(name: str, candidates: list[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest candidate (difflib), or ""."""
    import difflib

    near = difflib.get_close_matches(name, candidates, n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


def _grade_warnings(cfg: ReviewConfig | None) -> list[str]:
    """``[[grade]]`` entries that leave a domain out: their certainty is "not assessed"
    (:func:`evsynth.summaries.grade.certainty`), said before the run."""
    if cfg is None:
        return []
    out = []
    for i, g in enumerate(cfg.grade):
        missing = [d for d in GRADE_DOMAINS if getattr(g, d) is None]
        if missing:
            out.append(f"{REVIEW_FILE}: key 'grade[{i}]' (comparison {g.comparison!r}, outcome "
                       f"{g.outcome!r}) has no judgement for {', '.join(missing)}; its "
                       "certainty is 'not assessed' until all five domains are judged")
    return out


def _treatment_warnings(rows: list[OutcomeRow], cfg: ReviewConfig | None) -> list[str]:
    """Comparisons naming a treatment no arm-based row has (a typo, or no data yet)."""
    from evsynth.review.arms import treatments_in

    if cfg is None:
        return []
    known = treatments_in(rows)
    two_arm = {r.comparison for r in rows if r.two_arm_format}
    out = []
    named = {t for c in cfg.comparisons for t in c.intervention_treatments + c.control_treatments}
    for t, studies in sorted(known.items()):
        if t not in named and t not in cfg.treatments:
            hint = _did_you_mean(t, sorted(named))
            out.append(f"{OUTCOMES_FILE}: field 'treatment': {t!r} (studies "
                       f"{', '.join(sorted(studies))}) is in no comparison of {REVIEW_FILE}"
                       f"{hint}; its rows are not analysed (list it in [treatments] if that is "
                       "intended)")
    for i, c in enumerate(cfg.comparisons):
        if c.id in two_arm:
            continue
        for side in ("intervention", "control"):
            for t in getattr(c, f"{side}_treatments"):
                if t not in known and t not in cfg.treatments:  # [treatments]: no data yet
                    hint = _did_you_mean(t, list(known))
                    out.append(f"{REVIEW_FILE}: key 'comparisons[{i}].{side}': treatment "
                               f"{t!r} of comparison {c.id!r} has no rows in {OUTCOMES_FILE}"
                               f"{hint}; expected a 'treatment' value of {OUTCOMES_FILE}, "
                               "or a name listed in [treatments] (a treatment without data)")
    return out


def _study_comparison_warnings(path: Path, studies: list[StudyRow], lines: list[int],
                               cfg: ReviewConfig | None) -> list[str]:
    """studies.csv ``comparison`` values that are no comparison id of review.toml (a typo: the
    column is descriptive, the analyses follow outcomes.csv, so nothing else would show it)."""
    if cfg is None or not studies:
        return []
    ids = [c.id for c in cfg.comparisons]
    return [f"{path.name}: line {line} (study {s.study_id!r}): field 'comparison': "
            f"{s.comparison!r} is not a comparison id of {REVIEW_FILE}"
            f"{_did_you_mean(s.comparison, ids)}; expected one of {', '.join(ids)} or an "
            "empty cell (the column is descriptive: the study's analyses follow "
            f"{OUTCOMES_FILE})"
            for s, line in zip(studies, lines, strict=True)
            if s.comparison is not None and s.comparison not in ids]


def _scale_checks(path: Path, rows: list[OutcomeRow], lines: list[int],
                  cfg: ReviewConfig | None) -> tuple[list[str], list[str]]:
    """Values against the outcome's declared scale: (errors, warnings)."""
    errors: list[str] = []
    warns: list[str] = []
    if cfg is None:
        return errors, warns
    outs = {o.id: o for o in cfg.outcomes}
    for r, line in zip(rows, lines, strict=True):
        o = outs.get(r.outcome)
        if o is None or o.scale is None or o.kind != "continuous":
            continue
        lo, hi = o.scale
        rng = hi - lo
        scale = f"[{lo:g}, {hi:g}]"
        where = f"{path}: line {line} (study {r.study_id!r})"
        limits: list[tuple[str, float | None, float, float, str]] = []
        if r.value_type in ("final", "baseline_followup"):
            limits.append(("mean", r.mean, lo, hi, f"the scale {scale} of outcome {o.id!r}"))
        if r.value_type == "baseline_followup":
            limits.append(("baseline_mean", r.baseline_mean, lo, hi,
                           f"the scale {scale} of outcome {o.id!r}"))
        if r.value_type == "change":
            limits.append(("mean", r.mean, -rng, rng,
                           f"[{-rng:g}, {rng:g}], the largest change possible on the scale "
                           f"{scale} of outcome {o.id!r}"))
        if r.value_type == "contrast" and r.measure == "MD":
            limits.append(("estimate", r.estimate, -rng, rng,
                           f"[{-rng:g}, {rng:g}], the largest difference possible on the scale "
                           f"{scale} of outcome {o.id!r}"))
        for fld, v, a, b, what in limits:
            if v is not None and not a <= v <= b:
                errors.append(f"{where}: field '{fld}': {v:g} is outside {what}; expected a "
                              f"value from {a:g} to {b:g} (or correct the outcome's scale in "
                              f"{REVIEW_FILE})")
        for fld in ("sd", "baseline_sd"):
            v = getattr(r, fld)
            if v is not None and v > rng:
                warns.append(f"{where}: field '{fld}': {v:g} is wider than the range {rng:g} of "
                             f"the scale {scale} of outcome {o.id!r}; check the value (an SE or "
                             "a variance given as an SD?)")
    return errors, warns


# ----------------------------------------------------------------------------- public
def load_review(path: str | Path) -> Review:
    """Read and validate a review folder; InputError listing every problem found."""
    root = Path(path)
    if not root.is_dir():
        raise InputError(f"{root}: review folder not found; expected a directory with "
                         f"{', '.join(INPUT_FILES)}")
    raws = {name: _read_bytes(root, name) for name in INPUT_FILES}
    errors: list[str] = []
    cfg, errs = read_config(root / REVIEW_FILE, raws[REVIEW_FILE])
    errors += errs
    if cfg is not None:
        errors += _config_checks(root / REVIEW_FILE, cfg)
        errors += search_file_checks(root, cfg)
    failed_studies: set[str] = set()
    studies, s_lines, errs = read_csv_rows(root / STUDIES_FILE, raws[STUDIES_FILE], StudyRow,
                                           ("study_id",), failed_studies)
    errors += errs
    errors += _count_checks(root / STUDIES_FILE, studies, s_lines)
    errors += _study_checks(root / STUDIES_FILE, studies, s_lines, cfg)
    outcomes, o_lines, errs = read_csv_rows(
        root / OUTCOMES_FILE, raws[OUTCOMES_FILE], OutcomeRow,
        ("study_id", "outcome", "timepoint_weeks", "value_type"))
    errors += errs
    errors += _count_checks(root / OUTCOMES_FILE, outcomes, o_lines)
    # a study whose studies.csv row has errors of its own is still listed there
    study_ids = ({s.study_id for s in studies} | failed_studies
                 if studies or failed_studies else None)
    errors += _outcome_checks(root / OUTCOMES_FILE, outcomes, o_lines, cfg, study_ids)
    if cfg is not None and cfg.network:   # [[network]] tables (evsynth.review.network)
        from evsynth.review.network import check_networks

        errors += check_networks(root / REVIEW_FILE, cfg, outcomes if outcomes else None)
    errs, warns = _scale_checks(root / OUTCOMES_FILE, outcomes, o_lines, cfg)
    errors += errs
    errors += _rob_file_checks(root)
    warns += _treatment_warnings(outcomes, cfg)
    warns += _study_comparison_warnings(root / STUDIES_FILE, studies, s_lines, cfg)
    warns += _grade_warnings(cfg)
    _raise(errors)
    assert cfg is not None
    return Review(path=root, config=cfg, studies=studies, outcomes=outcomes,
                  outcome_lines=o_lines,
                  hashes={name: file_sha256(raw) for name, raw in raws.items()},
                  warnings=warns)


def validate(path: str | Path) -> list[str]:
    """Validate a review folder: a short summary (lines of text, then one ``warning: ...``
    line per :attr:`Review.warnings` entry) if it is valid, else an InputError listing every
    problem."""
    r = load_review(path)
    cfg = r.config
    n_analyses = len(cfg.comparisons) * len(cfg.outcomes) * len(cfg.windows)
    lines = [f"OK: {r.path}: {len(r.studies)} studies, {len(r.outcomes)} outcome rows, "
             f"{len(cfg.comparisons)} comparisons, {len(cfg.outcomes)} outcomes, "
             f"{len(cfg.windows)} windows ({n_analyses} comparison x outcome x window "
             "combinations)"]
    from evsynth.review.arms import treatments_in

    per_pair: dict[tuple[str, str], set[str]] = {}
    for c in cfg.comparisons:
        for o in cfg.outcomes:
            got = r.rows_for(c, o.id)
            if got:
                per_pair[c.id, o.id] = set(got)
    for c in cfg.comparisons:
        for o in cfg.outcomes:
            if (c.id, o.id) in per_pair:
                pooling = (o.pooling or cfg.model.pooling)
                k = len(per_pair[c.id, o.id])
                lines.append(f"  {c.id}.{o.id}: {k} stud{'y' if k == 1 else 'ies'} with data "
                             f"({o.measure}{'' if pooling == 'IV' else ', ' + pooling})")
    from evsynth.review.arms import side_of

    for c in cfg.comparisons:   # studies with several arms on one side (Handbook 23.3.4)
        multi: set[str] = set()
        for o in cfg.outcomes:
            for sid, study_rows in r.rows_for(c, o.id).items():
                per_side: dict[str, set[str]] = {}
                for x, _ in study_rows:
                    if not x.is_contrast and not x.two_arm_format and x.treatment:
                        per_side.setdefault(side_of(x, c, x.treatment) or "", set()).add(
                            x.treatment)
                if any(len(v) > 1 for v in per_side.values()):
                    multi.add(sid)
        if multi:
            lines.append(f"  {c.id}: multi-arm {', '.join(sorted(multi))} "
                         f"(multiarm = {c.multiarm!r})")
    treatments = treatments_in(r.outcomes)
    if treatments:
        lines.append("  treatments: " + ", ".join(f"{t} ({len(s)} stud"
                                                  f"{'y' if len(s) == 1 else 'ies'})"
                                                  for t, s in sorted(treatments.items())))
    needs_r = [o.id for o in cfg.outcomes if o.measure in CONTINUOUS_MEASURES
               and o.measure.endswith("_CHANGE")]
    if needs_r:
        lines.append(f"  change-score correlation {cfg.change_scores.correlation} "
                     f"(sensitivity: {cfg.change_scores.sensitivity or 'none'}) for "
                     f"{', '.join(needs_r)}")
    lines += _rob_lines(r)
    lines += [f"warning: {w}" for w in r.warnings]
    return lines


def _rob_file_checks(root: Path) -> list[str]:
    """The optional ``risk_of_bias.csv`` as a file (inside the folder, not empty:
    :func:`evsynth.reports.rob.long_table_path`), checked on loading so that ``run`` refuses
    it as ``validate`` does; its rows are checked by :func:`_rob_lines`."""
    if not os.path.lexists(root / ROB_FILE):
        return []   # the usual case, without importing the risk-of-bias module
    from evsynth.reports.rob import long_table_path

    try:
        long_table_path(root)
    except InputError as exc:
        return [str(exc)]
    return []


def _rob_lines(r: Review) -> list[str]:
    """Check the risk-of-bias judgements as `evsynth run` reads them (``risk_of_bias.csv`` and
    the ``rob_d1``... columns, against each study's tool: an InputError naming file, line,
    study and field), so that a bad judgement fails in ``validate``, not first in ``run``.
    pandas is loaded only when the folder has such judgements."""
    import re

    long_table = (r.path / ROB_FILE).exists()
    domain_cols = any(re.fullmatch(r"rob_d\d+", str(k).lower())
                      for s in r.studies for k in (s.model_extra or {}))
    if not (long_table or domain_cols or any(s.rob_overall for s in r.studies)):
        return []
    from evsynth.reports.rob import load_risk_of_bias

    rob = load_risk_of_bias(r.path)
    if rob is None:
        return []
    from evsynth.review.results import check_rob_outcomes

    check_rob_outcomes(rob, [o.id for o in r.config.outcomes])
    judged = rob.table()["study"].nunique()
    return [f"  risk of bias: {judged} studies judged"
            + (" (with risk_of_bias.csv)" if long_table else "")]


__all__ = ["GRADE_DOMAINS", "INPUT_FILES", "Review", "load_review", "validate"]
