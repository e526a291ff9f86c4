"""Reading the records-layer settings from ``REVIEW_DIR/review.toml``.

Only the keys of this layer are read (``[[searches]]``, also spelled ``[[search]]``, and
``[screening]``); every other section of ``review.toml`` belongs to other parts of the pipeline
and is ignored here. :mod:`evsynth.review.schema` validates the whole file with these same
functions (one definition of each key).

Every path in ``files`` must resolve, symlinks resolved, inside the review folder: ``..``, an
absolute path elsewhere or a symlink pointing out is an :class:`~evsynth.errors.InputError`
(a review folder someone else made must not make evsynth read or write other files).

Example::

    [[searches]]
    database = "MEDLINE"
    interface = "PubMed"
    date_searched = 2011-07-31
    date_from = 1980-01-01
    date_to = 2011-07-31
    query = '("vertebroplasty"[MeSH Terms] OR vertebroplasty[tiab]) AND ...'
    limits = "humans; randomised controlled trial filter"   # other limits, free text
    files = ["searches/pubmed_2011-07-31.nbib"]   # inside REVIEW_DIR (relative to it)
    kind = "database"                             # or "register"

    [screening]
    exclusion_reasons_title_abstract = ["not a randomised trial", "not osteoporotic fracture"]
    exclusion_reasons_full_text = ["wrong comparator", "wrong outcome", "not retrieved"]
    reviewers = ["AB", "CD"]
    highlight_terms = ["vertebroplasty", "randomi*"]
    highlight_exclusion_terms = ["cadaver*", "case report"]   # shown apart (web screener)
    reviewers_per_record = 2      # optional; default 2 if two or more reviewers, else 1
"""

from __future__ import annotations

import datetime as _dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

from evsynth.errors import InputError
from evsynth.files import inside_folder
from evsynth.textsafe import has_control

#: file name of the review settings inside a review folder
REVIEW_TOML = "review.toml"

#: allowed values of ``[[searches]].kind`` (PRISMA 2020 counts registers apart from databases)
SEARCH_KINDS = ("database", "register")

#: screening stages, in order
STAGES = ("title-abstract", "full-text")


@dataclass(frozen=True)
class SearchSpec:
    """One ``[[searches]]`` entry of review.toml.

    ``files`` are as written in review.toml (relative to the review folder); :meth:`paths`
    resolves them and checks that they lie inside it. Dates are :class:`datetime.date` or
    None.
    """

    database: str
    files: tuple[str, ...] = ()
    interface: str | None = None
    date_searched: _dt.date | None = None
    date_from: _dt.date | None = None
    date_to: _dt.date | None = None
    query: str | None = None
    kind: str = "database"
    #: limits other than the dates (language, publication type, filters), free text
    limits: str | None = None
    #: review folder the relative ``files`` are resolved against (None: current directory)
    review_dir: Path | None = None

    def paths(self) -> list[Path]:
        """Paths of this search's export files: ``review_dir / file``, each checked to resolve
        inside the review folder (InputError otherwise). Without a review folder, the files
        as written (relative to the current directory)."""
        return search_paths(self.files, self.review_dir, f"[[searches]] {self.database!r}")


@dataclass(frozen=True)
class ScreeningSettings:
    """The ``[screening]`` table of review.toml (all keys optional)."""

    exclusion_reasons_title_abstract: tuple[str, ...] = ()
    exclusion_reasons_full_text: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    highlight_terms: tuple[str, ...] = ()
    #: terms suggesting exclusion, highlighted differently from ``highlight_terms`` by the web
    #: screener (evsynth serve)
    highlight_exclusion_terms: tuple[str, ...] = ()
    #: reviewers whose agreeing decisions make a record's outcome final (None: 2 when two or
    #: more reviewers are listed, else 1); optional key of this layer
    reviewers_per_record: int | None = None

    def reasons(self, stage: str) -> tuple[str, ...]:
        """Configured exclusion reasons for ``stage`` ("title-abstract" or "full-text")."""
        check_stage(stage)
        if stage == "title-abstract":
            return self.exclusion_reasons_title_abstract
        return self.exclusion_reasons_full_text


@dataclass(frozen=True)
class ReviewSettings:
    """The records-layer part of review.toml."""

    searches: tuple[SearchSpec, ...] = ()
    screening: ScreeningSettings = field(default_factory=ScreeningSettings)
    path: Path | None = None


def search_paths(files: tuple[str, ...], review_dir: Path | None, where: str) -> list[Path]:
    """The export files of a ``[[searches]]`` entry as paths inside ``review_dir`` (see
    :func:`evsynth.files.inside_folder`); ``where`` names the entry in messages."""
    if review_dir is None:
        return [Path(f) for f in files]
    return [inside_folder(review_dir, f, f"{Path(review_dir) / REVIEW_TOML}: {where}, key 'files'")
            for f in files]


def check_stage(stage: str) -> str:
    """Return ``stage`` if it is a known screening stage, else raise InputError."""
    if stage not in STAGES:
        raise InputError(f"screening stage {stage!r} is unknown; expected one of {list(STAGES)}")
    return stage


def load_toml(review_dir: str | Path) -> tuple[dict[str, Any], Path]:
    """Parse ``REVIEW_DIR/review.toml`` (an empty dict if the file does not exist)."""
    path = Path(review_dir) / REVIEW_TOML
    if not path.exists():
        return {}, path
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        text = raw.decode("utf-8-sig")  # a byte-order mark, as review.load accepts it
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not valid UTF-8 ({exc.reason}); expected a TOML file") from None
    return parse_toml(text, path), path


def parse_toml(text: str, path: Path | str) -> dict[str, Any]:
    """``text`` of the TOML file ``path`` as a dict; an :class:`InputError` naming ``path``
    when it is not valid TOML (the one parse of review.toml, for every command)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise InputError(f"{path}: not valid TOML: arrays or inline tables nested too deeply "
                         "for the parser; expected a review.toml as documented (a few levels "
                         "of nesting)") from None


@overload
def _str(value: Any, where: str, key: str, optional: Literal[False]) -> str: ...
@overload
def _str(value: Any, where: str, key: str, optional: bool = True) -> str | None: ...
def _str(value: Any, where: str, key: str, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: key '{key}' is {value!r}; expected a non-empty string")
    return value


def _date(value: Any, where: str, key: str) -> _dt.date | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InputError(f"{where}: key '{key}' is {value!r}; expected a date such as 2011-07-31")


def _str_list(value: Any, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InputError(f"{where}: key '{key}' is {value!r}; expected a list of non-empty strings")
    return tuple(value)


#: the two spellings of the search array in review.toml (``[[search]]`` as in the issue
#: tracker and docs, ``[[searches]]`` as the records layer first wrote it)
SEARCH_TABLES = ("searches", "search")


def searches_raw(data: Mapping[str, Any], path: Path | str | None = REVIEW_TOML
                 ) -> tuple[str, Any]:
    """The search array of parsed review.toml ``data``: ``(table name, raw value)``; the name
    is ``"searches"`` or ``"search"`` (both spellings are accepted, not both at once:
    InputError). ``([]`` when neither is present)."""
    given = [k for k in SEARCH_TABLES if k in data]
    if len(given) > 1:
        pre = f"{path}: " if path else ""
        raise InputError(f"{pre}both [[search]] and [[searches]] are given; expected one "
                         "spelling for all search entries")
    key = given[0] if given else "searches"
    return key, data.get(key, [])


def parse_searches(data: Mapping[str, Any], path: Path | str | None = REVIEW_TOML,
                   review_dir: Path | None = None) -> tuple[SearchSpec, ...]:
    """Build :class:`SearchSpec` objects from the parsed ``[[searches]]`` (or ``[[search]]``)
    array. ``path`` prefixes messages (None: no prefix)."""
    key, raw = searches_raw(data, path)
    pre = f"{path}: " if path else ""
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise InputError(f"{pre}'{key}' must be an array of tables ([[{key}]])")
    out = []
    for i, entry in enumerate(raw, start=1):
        where = f"{pre}[[{key}]] entry {i}"
        if not isinstance(entry, dict):
            raise InputError(f"{where}: expected a table")
        database = _str(entry.get("database"), where, "database", optional=False)
        kind = entry.get("kind", "database")
        if kind not in SEARCH_KINDS:
            raise InputError(f"{where}: key 'kind' is {kind!r}; "
                             f"expected one of {list(SEARCH_KINDS)}")
        files = _str_list(entry.get("files"), where, "files")
        if review_dir is not None:
            for f in files:
                inside_folder(review_dir, f, f"{where}: key 'files'")
        out.append(SearchSpec(
            database=database,
            files=files,
            interface=_str(entry.get("interface"), where, "interface"),
            date_searched=_date(entry.get("date_searched"), where, "date_searched"),
            date_from=_date(entry.get("date_from"), where, "date_from"),
            date_to=_date(entry.get("date_to"), where, "date_to"),
            query=_str(entry.get("query"), where, "query"),
            kind=kind,
            limits=_str(entry.get("limits"), where, "limits"),
            review_dir=review_dir,
        ))
    return tuple(out)


def parse_screening(data: Mapping[str, Any], path: Path | str | None = REVIEW_TOML
                    ) -> ScreeningSettings:
    """Build :class:`ScreeningSettings` from the parsed ``[screening]`` table (``path``
    prefixes messages; None: no prefix). Unknown keys are errors."""
    raw = data.get("screening", {})
    where = f"{path}: [screening]" if path else "[screening]"
    if not isinstance(raw, dict):
        raise InputError(f"{where}: expected a table")
    keys = ("exclusion_reasons_title_abstract", "exclusion_reasons_full_text", "reviewers",
            "highlight_terms", "highlight_exclusion_terms")
    unknown = [k for k in raw if k not in (*keys, "reviewers_per_record")]
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r}; expected one of "
                         f"{[*keys, 'reviewers_per_record']}")
    values = {k: _str_list(raw.get(k), where, k) for k in keys}
    for k in ("exclusion_reasons_title_abstract", "exclusion_reasons_full_text", "reviewers"):
        seen: set[str] = set()
        for v in values[k]:
            if v in seen:
                raise InputError(f"{where}: key '{k}' lists {v!r} twice; expected unique values")
            seen.add(v)
    rpr = raw.get("reviewers_per_record")
    if rpr is not None and (isinstance(rpr, bool) or not isinstance(rpr, int) or rpr < 1):
        raise InputError(f"{where}: key 'reviewers_per_record' is {rpr!r}; expected an integer "
                         ">= 1")
    if rpr is not None and values["reviewers"] and rpr > len(values["reviewers"]):
        # no record could ever be decided: every one would stay pending
        raise InputError(f"{where}: key 'reviewers_per_record' is {rpr}, more than the "
                         f"{len(values['reviewers'])} reviewer(s) listed in 'reviewers'; expected "
                         f"at most {len(values['reviewers'])}")
    for name in values["reviewers"]:
        if has_control(name):
            raise InputError(f"{where}: key 'reviewers' lists {name!r}; expected names without "
                             "control characters")
    return ScreeningSettings(**values, reviewers_per_record=rpr)


def read_searches(review_dir: str | Path) -> tuple[SearchSpec, ...]:
    """The ``[[searches]]`` entries of ``REVIEW_DIR/review.toml`` (empty if none)."""
    data, path = load_toml(review_dir)
    return parse_searches(data, path, Path(review_dir))


def read_screening(review_dir: str | Path) -> ScreeningSettings:
    """The ``[screening]`` table of ``REVIEW_DIR/review.toml`` (defaults if absent)."""
    data, path = load_toml(review_dir)
    return parse_screening(data, path)


def read_settings(review_dir: str | Path) -> ReviewSettings:
    """Both the searches and the screening settings of a review folder."""
    data, path = load_toml(review_dir)
    return ReviewSettings(searches=parse_searches(data, path, Path(review_dir)),
                          screening=parse_screening(data, path), path=path)
