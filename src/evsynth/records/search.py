"""Search strategies and a PubMed query builder.

Two parts:

* :class:`SearchStrategy` -- one ``[[searches]]`` entry of ``REVIEW_DIR/review.toml`` as it is
  reported in a review's methods section (PRISMA 2020 item 7, "present the full search strategies
  for all databases ... including any filters and limits used"; PRISMA-S items 1-8 and 13:
  database, interface, date searched, date limits, the query as run, records retrieved). Read with
  :func:`load_strategies`, rendered with :meth:`SearchStrategy.methods_line` and
  :meth:`SearchStrategy.table_row`.
* A PubMed query builder: :class:`Concept` (terms combined with OR), combined with AND across
  concepts by :class:`PubMedQuery`, with date limits, publication types, languages, exclusions and
  the Cochrane Highly Sensitive Search Strategies for randomised trials
  (:func:`cochrane_rct_filter`). Syntax follows the PubMed Help (NLM, "Search field descriptions
  and tags"; "Searching by date": ``"2011/07/31"[Date - Publication]`` ranges joined by ``:``;
  truncation with ``*`` at the end of a word or phrase; phrase searching with double quotes;
  Boolean operators in upper case, processed left to right, nested with parentheses).

PubMed has no escape character: a double quote or a square bracket cannot appear inside a term,
so such terms raise :class:`~evsynth.errors.InputError` instead of producing a query that would
silently search for something else.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from evsynth.errors import InputError

# ---------------------------------------------------------------------------------------------
# Search strategy records (review.toml [[searches]])
# ---------------------------------------------------------------------------------------------

#: keys allowed in a ``[[searches]]`` entry of review.toml
SEARCH_KEYS = ("database", "interface", "date_searched", "date_from", "date_to", "query", "files",
               "kind", "limits")
_DATE_KEYS = ("date_searched", "date_from", "date_to")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class SearchStrategy:
    """One database or register search as run, for the methods section and PRISMA.

    ``files`` are as written in review.toml (relative to ``review_dir``, inside which they must
    resolve); ``index`` is the 1-based number of the ``[[searches]]`` entry. Dates are
    :class:`datetime.date`. ``counts`` optionally maps each file (as written) to the number of
    records read from it.
    """

    database: str
    query: str | None = None
    files: tuple[str, ...] = ()
    interface: str | None = None
    date_searched: _dt.date | None = None
    date_from: _dt.date | None = None
    date_to: _dt.date | None = None
    kind: str = "database"
    index: int | None = None
    #: limits other than the dates (language, publication type, filters), free text
    limits: str | None = None
    review_dir: Path | None = None
    counts: Mapping[str, int] | None = None

    @classmethod
    def from_spec(cls, spec: Any, index: int | None = None) -> SearchStrategy:
        """Build from a :class:`evsynth.records.settings.SearchSpec` (or any object with the same
        attributes)."""
        return cls(database=spec.database, query=spec.query, files=tuple(spec.files),
                   interface=spec.interface, date_searched=spec.date_searched,
                   date_from=spec.date_from, date_to=spec.date_to, kind=spec.kind, index=index,
                   review_dir=getattr(spec, "review_dir", None),
                   limits=getattr(spec, "limits", None))

    def paths(self) -> list[Path]:
        """Paths of the export files: ``review_dir / file``, each checked to resolve inside the
        review folder (InputError otherwise; see :func:`evsynth.records.settings.search_paths`).
        """
        from evsynth.records.settings import search_paths

        n = f" entry {self.index}" if self.index is not None else ""
        return search_paths(self.files, self.review_dir, f"[[searches]]{n} ({self.database})")

    def with_counts(self, counts: Mapping[str, int]) -> SearchStrategy:
        """A copy with the number of records per export file (keys: files as written)."""
        unknown = [k for k in counts if k not in self.files]
        if unknown:
            raise InputError(f"{self._where()}: counts given for {unknown!r}, which are not in "
                             f"'files' {list(self.files)!r}")
        for k, n in counts.items():
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise InputError(f"{self._where()}: count for {k!r} is {n!r}; expected an "
                                 "integer >= 0")
        return replace(self, counts=dict(counts))

    def count_records(self) -> SearchStrategy:
        """A copy with ``counts`` filled by reading each export file with
        :func:`evsynth.records.read`."""
        from evsynth import records

        counts = {f: int(len(records.read(p, database=self.database)))
                  for f, p in zip(self.files, self.paths(), strict=True)}
        return self.with_counts(counts)

    @property
    def total(self) -> int | None:
        """Records retrieved over all export files (None when counts are not known)."""
        if self.counts is None:
            return None
        return sum(self.counts.get(f, 0) for f in self.files)

    def _where(self) -> str:
        n = f" entry {self.index}" if self.index is not None else ""
        return f"review.toml: [[searches]]{n} ({self.database})"

    def source_label(self) -> str:
        """``"MEDLINE via PubMed"`` (or just the database when no interface is given)."""
        if self.interface and self.interface.strip().lower() != self.database.strip().lower():
            return f"{self.database} via {self.interface}"
        return self.database

    def date_limits(self) -> str | None:
        """``"1980-01-01 to 2011-07-31"``, ``"from 1980-01-01"``, ``"to 2011-07-31"`` or None."""
        a = self.date_from.isoformat() if self.date_from else None
        b = self.date_to.isoformat() if self.date_to else None
        if a and b:
            return f"{a} to {b}"
        if a:
            return f"from {a}"
        if b:
            return f"to {b}"
        return None

    def _records_text(self) -> str:
        names = [Path(f).name for f in self.files]
        if not names:
            return "no export file"
        if self.counts is None:
            return ", ".join(names)
        if len(names) == 1:
            n = self.counts.get(self.files[0], 0)
            return f"{n} record{'s' if n != 1 else ''} in {names[0]}"
        parts = ", ".join(f"{nm} ({self.counts.get(f, 0)})"
                          for nm, f in zip(names, self.files, strict=True))
        total = self.total
        return f"{total} record{'s' if total != 1 else ''} in {parts}"

    def methods_line(self) -> str:
        """One line for the methods section or a search appendix, e.g.
        ``MEDLINE via PubMed, searched 2011-07-31, 1980-01-01 to 2011-07-31: <query> -> 212
        records in pubmed.nbib`` (record counts appear once known, see :meth:`with_counts`)."""
        head = [self.source_label()]
        if self.kind == "register":
            head[0] += " (trial register)"
        if self.date_searched:
            head.append(f"searched {self.date_searched.isoformat()}")
        limits = self.date_limits()
        if limits:
            head.append(limits)
        if self.limits:
            head.append(self.limits)
        query = self.query if self.query else "(query not recorded)"
        query = " ".join(query.split())
        return f"{', '.join(head)}: {query} -> {self._records_text()}"

    def table_row(self) -> dict[str, Any]:
        """One row of a search table (PRISMA-S): plain values, ISO dates, None when unknown."""
        return {
            "search": self.index,
            "database": self.database,
            "interface": self.interface,
            "kind": self.kind,
            "date_searched": self.date_searched.isoformat() if self.date_searched else None,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
            "query": self.query,
            "files": "; ".join(self.files),
            "records": self.total,
        }


def _check_entry(entry: Any, where: str) -> None:
    """Checks :mod:`evsynth.records.settings` does not make: unknown keys, non-ISO dates."""
    if not isinstance(entry, dict):
        raise InputError(f"{where}: expected a table with keys {list(SEARCH_KEYS)}")
    for key in entry:
        if key not in SEARCH_KEYS:
            raise InputError(f"{where}: unknown key {key!r}; expected one of {list(SEARCH_KEYS)}")
    for key in _DATE_KEYS:
        value = entry.get(key)
        if value is None or isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
            continue
        if isinstance(value, str) and _ISO_DATE.match(value.strip()):
            try:
                _dt.date.fromisoformat(value.strip())
                continue
            except ValueError:
                pass
        if isinstance(value, _dt.datetime):
            continue  # a TOML date-time: its date part is used
        raise InputError(f"{where}: key {key!r} is {value!r}; expected an ISO date "
                         "YYYY-MM-DD such as 2011-07-31")


def _check_strategy(s: SearchStrategy, where: str, check_files: bool) -> None:
    if s.date_from and s.date_to and s.date_from > s.date_to:
        raise InputError(f"{where}: key 'date_from' ({s.date_from}) is after 'date_to' "
                         f"({s.date_to}); expected date_from <= date_to")
    if s.date_from and s.date_searched and s.date_from > s.date_searched:
        raise InputError(f"{where}: key 'date_from' ({s.date_from}) is after 'date_searched' "
                         f"({s.date_searched}); expected a limit before the search date")
    if check_files:
        for f, p in zip(s.files, s.paths(), strict=True):
            if not p.is_file():
                raise InputError(f"{where}: key 'files' names {f!r}, which does not exist "
                                 f"(looked for {p}); expected an export file relative to the "
                                 "review folder")


def parse_strategies(data: Mapping[str, Any], path: str | Path | None = "review.toml",
                     review_dir: str | Path | None = None,
                     check_files: bool = True) -> tuple[SearchStrategy, ...]:
    """Validate the parsed ``[[searches]]`` array of review.toml and build strategies.

    On top of :func:`evsynth.records.settings.parse_searches` (required ``database``, ``kind``,
    value types) this rejects unknown keys, dates not written as ISO ``YYYY-MM-DD``, date limits
    in the wrong order, and (``check_files``) export files that do not exist. The array may be
    spelled ``[[searches]]`` or ``[[search]]``; ``path`` prefixes messages (None: no prefix).
    """
    from evsynth.records.settings import parse_searches, searches_raw

    key, raw = searches_raw(data, path)
    pre = f"{path}: " if path else ""
    entries = [raw] if isinstance(raw, dict) else raw
    if isinstance(entries, list):
        for i, entry in enumerate(entries, start=1):
            _check_entry(entry, f"{pre}[[{key}]] entry {i}")
    rdir = Path(review_dir) if review_dir is not None else None
    specs = parse_searches(dict(data), path, rdir)
    out = []
    for i, spec in enumerate(specs, start=1):
        s = SearchStrategy.from_spec(spec, index=i)
        _check_strategy(s, f"{pre}[[{key}]] entry {i} ({s.database})", check_files)
        out.append(s)
    return tuple(out)


def load_strategies(review_dir: str | Path, check_files: bool = True,
                    count: bool = False) -> tuple[SearchStrategy, ...]:
    """The validated ``[[searches]]`` of ``REVIEW_DIR/review.toml`` (empty if none).

    ``count=True`` also reads every export file to fill the record counts.
    """
    from evsynth.records.settings import load_toml

    data, path = load_toml(review_dir)
    out = parse_strategies(data, path, review_dir, check_files=check_files)
    if count:
        out = tuple(s.count_records() for s in out)
    return out


def methods_text(strategies: Iterable[SearchStrategy]) -> str:
    """The methods lines of several searches, one per line."""
    return "\n".join(s.methods_line() for s in strategies)


# ---------------------------------------------------------------------------------------------
# PubMed query builder
# ---------------------------------------------------------------------------------------------

#: PubMed search field tags accepted by the builder (short tags, lower case), from the PubMed Help
#: "Search Field Descriptions and Tags". Proximity tags such as ``tiab:~3`` are also accepted.
PUBMED_TAGS = frozenset({
    "ad", "all", "au", "auid", "book", "cois", "cn", "crdt", "dcom", "dp", "ec", "ed", "edat",
    "filter", "sb", "fau", "fir", "gr", "ir", "isbn", "ip", "ta", "la", "lastau", "1au", "lid",
    "aid", "mhda", "majr", "majr:noexp", "mh", "mesh", "mh:noexp", "mesh:noexp", "sh",
    "sh:noexp", "lr", "nm", "ot", "pg", "ps", "pa", "pl", "pmid", "uid", "pt", "pdat", "rn",
    "si", "tiab", "ti", "tt", "tw", "vi",
})
#: long PubMed field names accepted as tags (as shown in "Search details")
PUBMED_LONG_TAGS = frozenset({
    "all fields", "author", "mesh terms", "mesh major topic", "mesh subheading",
    "publication type", "title", "title/abstract", "text word", "language", "journal",
    "date - publication", "date - entry", "date - create", "date - mesh", "date - completion",
    "date - modification", "affiliation", "supplementary concept", "pharmacological action",
    "other term", "filter", "mesh terms:noexp", "mesh major topic:noexp",
})
_PROXIMITY = re.compile(r"^(ti|tiab|ad):~\d+$")

#: date field tags -> the long field name PubMed uses for date ranges
DATE_FIELDS = {
    "dp": "Date - Publication", "pdat": "Date - Publication",
    "edat": "Date - Entry", "crdt": "Date - Create", "mhda": "Date - MeSH",
    "dcom": "Date - Completion", "lr": "Date - Modification",
}
_OPERATORS = {"AND", "OR", "NOT"}
_BARE = re.compile(r"^\w[\w'\-]*\*?$")
_BAD_CHARS = '"[]'


def _check_text(text: Any, what: str, truncation: bool = True) -> str:
    """Validate one term's text; return it stripped with inner white space collapsed."""
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{what}: is {text!r}; expected a non-empty string")
    t = " ".join(text.split())
    for ch in _BAD_CHARS:
        if ch in t:
            raise InputError(f"{what}: contains {ch!r}, which PubMed cannot "
                             "search for (it has no escape character); expected a term without "
                             'double quotes or square brackets')
    if "*" in t:
        if not truncation:
            raise InputError(f"{what}: contains '*'; truncation is not allowed "
                             "here (MeSH headings are searched as whole headings)")
        if t.count("*") > 1 or not t.endswith("*") or len(t) < 2 or not re.match(r"\w", t[-2]):
            raise InputError(f"{what}: uses '*' inside the term; PubMed truncation "
                             "is only at the end of a word or phrase (e.g. randomi* or "
                             '"type 1 diabet*")')
    return t


def _check_tag(tag: str, what: str) -> str:
    t = " ".join(str(tag).split()).lower()
    if t.startswith("[") and t.endswith("]"):
        t = t[1:-1].strip()
    t = t.replace(": ", ":")
    if t in PUBMED_TAGS or t in PUBMED_LONG_TAGS or _PROXIMITY.match(t):
        return t
    raise InputError(f"{what}: field tag {tag!r} is not a PubMed search field tag; expected e.g. "
                     "tiab, ti, mh, mh:noexp, majr, sh, pt, tw, la, dp")


def quote_term(text: str) -> str:
    """``text`` as written in a PubMed query: bare when it is one word (optionally truncated),
    else in double quotes (phrase searching). Operator words AND/OR/NOT are quoted."""
    if _BARE.match(text) and text.rstrip("*") not in _OPERATORS:
        return text
    return f'"{text}"'


class Expr:
    """A node of a PubMed query: :meth:`render` gives the query text."""

    def render(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _compound(self) -> bool:
        return False

    def _nested(self) -> str:
        s = self.render()
        return f"({s})" if self._compound() else s

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True)
class Term(Expr):
    """A word or phrase, optionally with a field tag: ``randomi*[tiab]``,
    ``"randomized controlled trial"[pt]``, ``"drug therapy"[sh]``. ``tag=None`` searches all
    fields (with PubMed's automatic term mapping)."""

    text: str
    tag: str | None = None

    def render(self) -> str:
        what = f"term {self.text!r}"
        t = _check_text(self.text, what)
        q = quote_term(t)
        if self.tag is None:
            return q
        tag = _check_tag(self.tag, what)
        if tag.startswith(("mh", "mesh", "majr")) and not q.startswith('"'):
            q = f'"{t}"'
        return f"{q}[{tag}]"


@dataclass(frozen=True)
class MeshTerm(Expr):
    """A MeSH heading: ``"Vertebroplasty"[mh]`` (exploded: includes narrower headings such as
    Kyphoplasty), ``"Fractures, Compression"[mh:noexp]`` (this heading only), ``[majr]`` (major
    topic), or with a subheading ``"Vertebroplasty/adverse effects"[mh]``.
    Source: PubMed Help, "MeSH Terms [MH]" and "MeSH Major Topic [MAJR]"."""

    heading: str
    explode: bool = True
    major: bool = False
    subheading: str | None = None

    def render(self) -> str:
        what = f"MeSH heading {self.heading!r}"
        h = _check_text(self.heading, what, truncation=False)
        if "/" in h:
            raise InputError(f"{what}: contains '/'; expected the heading alone, with the "
                             "subheading given separately (subheading=...)")
        if self.subheading is not None:
            h = f"{h}/{_check_text(self.subheading, what + ' subheading', truncation=False)}"
        tag = "majr" if self.major else "mh"
        if not self.explode:
            tag += ":noexp"
        return f'"{h}"[{tag}]'


@dataclass(frozen=True)
class Group(Expr):
    """Items joined by one Boolean operator (``"AND"`` or ``"OR"``)."""

    op: str
    items: tuple[Expr, ...]

    def render(self) -> str:
        if self.op not in ("AND", "OR"):
            raise InputError(f"Boolean operator {self.op!r} is unknown; expected AND or OR")
        if not self.items:
            raise InputError(f"an {self.op} group has no terms; expected at least one")
        if len(self.items) == 1:
            return self.items[0].render()
        return f" {self.op} ".join(i._nested() for i in self.items)

    def _compound(self) -> bool:
        return len(self.items) > 1 or (len(self.items) == 1 and self.items[0]._compound())


def Or(*items: Expr) -> Group:  # noqa: N802 - reads like the operator
    """Items joined with OR (parenthesised when nested)."""
    return Group("OR", tuple(items))


def And(*items: Expr) -> Group:  # noqa: N802 - reads like the operator
    """Items joined with AND (parenthesised when nested)."""
    return Group("AND", tuple(items))


@dataclass(frozen=True)
class Not(Expr):
    """``include NOT exclude`` (PubMed processes operators left to right, so the parts are
    parenthesised when compound)."""

    include: Expr
    exclude: Expr

    def render(self) -> str:
        return f"{self.include._nested()} NOT {self.exclude._nested()}"

    def _compound(self) -> bool:
        return True


def pubmed_date(value: Any, what: str = "date") -> str:
    """A date as PubMed writes it: ``YYYY``, ``YYYY/MM`` or ``YYYY/MM/DD``.

    Accepts :class:`datetime.date` and strings ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD`` (or with
    slashes)."""
    if isinstance(value, _dt.datetime):
        value = value.date()
    if isinstance(value, _dt.date):
        return value.strftime("%Y/%m/%d")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        s = value.strip()
        m = re.fullmatch(r"(\d{4})(?:([-/])(\d{2})(?:\2(\d{2}))?)?", s)
        if m:
            y, _, mo, d = m.groups()
            try:
                _dt.date(int(y), int(mo or 1), int(d or 1))
            except ValueError:
                pass
            else:
                return "/".join(p for p in (y, mo, d) if p)
    raise InputError(f"{what} is {value!r}; expected a date YYYY, YYYY-MM or YYYY-MM-DD "
                     "(e.g. 2011-07-31)")


def _date_key(s: str) -> tuple[int, int, int]:
    parts = [int(p) for p in s.split("/")]
    return (parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)


@dataclass(frozen=True)
class DateRange(Expr):
    """A date limit: ``("1980/01/01"[Date - Publication] : "2011/07/31"[Date - Publication])``.

    Source: PubMed Help, "Searching by date" (ranges joined with a colon; ``3000`` as the end
    date searches to the present). ``field`` is a date tag: dp (publication), edat (entry),
    crdt (create), mhda (MeSH), dcom (completion), lr (modification). An open start uses 1000."""

    start: Any = None
    end: Any = None
    field: str = "dp"

    def render(self) -> str:
        f = str(self.field).strip().lower()
        if f not in DATE_FIELDS:
            raise InputError(f"date field {self.field!r} is unknown; expected one of "
                             f"{sorted(DATE_FIELDS)}")
        if self.start is None and self.end is None:
            raise InputError("date range has neither start nor end; expected at least one")
        a = pubmed_date(self.start, "date_from") if self.start is not None else "1000"
        b = pubmed_date(self.end, "date_to") if self.end is not None else "3000"
        if _date_key(a) > _date_key(b):
            raise InputError(f"date range: date_from {a} is after date_to {b}; expected "
                             "date_from <= date_to")
        name = DATE_FIELDS[f]
        return f'"{a}"[{name}] : "{b}"[{name}]'

    def _compound(self) -> bool:
        return True


def _as_mesh(item: Any, explode: bool, what: str) -> MeshTerm:
    if isinstance(item, MeshTerm):
        return item
    if isinstance(item, str):
        return MeshTerm(item, explode=explode)
    if isinstance(item, Mapping):
        keys = {"term", "heading", "explode", "major", "subheading"}
        bad = set(item) - keys
        if bad:
            raise InputError(f"{what}: unknown key(s) {sorted(bad)} in a MeSH term; expected "
                             f"{sorted(keys)}")
        heading = item.get("heading", item.get("term"))
        ex = item.get("explode", explode)
        major = item.get("major", False)
        if not isinstance(ex, bool) or not isinstance(major, bool):
            raise InputError(f"{what}: MeSH term {heading!r}: 'explode' and 'major' must be "
                             "true or false")
        return MeshTerm(heading, explode=ex, major=major, subheading=item.get("subheading"))
    raise InputError(f"{what}: MeSH term {item!r}; expected a heading string or a table "
                     "{term = ..., explode = true/false}")


def _as_term(item: Any, what: str) -> Expr:
    if isinstance(item, Expr):
        return item
    if isinstance(item, Mapping):
        keys = {"text", "term", "field", "tag"}
        bad = set(item) - keys
        if bad:
            raise InputError(f"{what}: unknown key(s) {sorted(bad)} in a term; expected "
                             f"{sorted(keys)}")
        return Term(item.get("text", item.get("term")), item.get("field", item.get("tag")))
    if isinstance(item, str):
        return Term(item)
    raise InputError(f"{what}: term {item!r}; expected a string or a table "
                     "{text = ..., field = ...}")


def _str_seq(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InputError(f"{what} is {value!r}; expected a list of strings")


@dataclass(frozen=True)
class Concept:
    """One concept of a search: MeSH headings and free-text words combined with OR.

    ``mesh`` items are headings (exploded unless ``explode=False``) or :class:`MeshTerm` /
    ``{term=..., explode=false}`` for a per-term choice; each of ``text_words`` is searched in
    each of ``fields`` (default title/abstract); ``terms`` adds any other tagged terms
    (e.g. ``Term("drug therapy", "sh")``) after them, in order. Rendered order: MeSH, text words,
    terms. Source: Cochrane Handbook v6.4 chapter 4.4.4 (concepts combined with OR, concepts
    AND-ed; controlled vocabulary plus free text).
    """

    name: str
    mesh: Sequence[Any] = ()
    text_words: Sequence[str] = ()
    fields: Sequence[str] = ("tiab",)
    explode: bool = True
    terms: Sequence[Any] = ()

    def expression(self) -> Group:
        """The concept as an OR group."""
        what = f"concept {self.name!r}"
        if isinstance(self.mesh, str) or isinstance(self.text_words, str):
            raise InputError(f"{what}: 'mesh' and 'text_words' must be lists, not one string")
        fields = _str_seq(self.fields, f"{what}: fields")
        if self.text_words and not fields:
            raise InputError(f"{what}: 'fields' is empty; expected at least one field tag for "
                             "the text words (e.g. tiab)")
        items: list[Expr] = [_as_mesh(m, self.explode, what) for m in self.mesh]
        for w in self.text_words:
            for f in fields:
                items.append(Term(w, f))
        items.extend(_as_term(t, what) for t in self.terms)
        if not items:
            raise InputError(f"{what}: has no terms; expected mesh, text_words or terms")
        group = Or(*items)
        for item in items:  # validate each term here so the message names the concept
            try:
                item.render()
            except InputError as exc:
                raise InputError(f"{what}: {exc}") from None
        return group

    def render(self) -> str:
        """The concept's OR group as query text."""
        return self.expression().render()


def cochrane_rct_filter(version: str = "sensitivity-maximizing") -> Not:
    """Cochrane Highly Sensitive Search Strategy for randomised trials in MEDLINE, PubMed format,
    2008 revision.

    Source: Lefebvre C et al., Technical Supplement to Chapter 4 (4.S1) of the Cochrane Handbook
    for Systematic Reviews of Interventions v6 (2019), section 3.6.1 (PubMed-format versions);
    Cochrane Handbook v5.1 (2011) section 6.4.11.1, Box 6.4.a (sensitivity-maximizing) and
    Box 6.4.b (sensitivity- and precision-maximizing), PubMed format.
    Terms are kept in the Handbook's order: lines #1-#8 OR-ed, NOT (animals [mh] NOT humans [mh]).
    """
    terms: list[Term | MeshTerm]
    if version in ("sensitivity-maximizing", "sensitivity", "hsss"):
        terms = [Term("randomized controlled trial", "pt"), Term("controlled clinical trial", "pt"),
                 Term("randomized", "tiab"), Term("placebo", "tiab"), Term("drug therapy", "sh"),
                 Term("randomly", "tiab"), Term("trial", "tiab"), Term("groups", "tiab")]
    elif version in ("sensitivity-precision", "precision", "sensitivity-and-precision"):
        terms = [Term("randomized controlled trial", "pt"), Term("controlled clinical trial", "pt"),
                 Term("randomized", "tiab"), Term("placebo", "tiab"),
                 MeshTerm("clinical trials as topic", explode=False),
                 Term("randomly", "tiab"), Term("trial", "ti")]
    else:
        raise InputError(f"Cochrane RCT filter version {version!r} is unknown; expected "
                         "'sensitivity-maximizing' or 'sensitivity-precision'")
    return Not(Or(*terms), Not(MeshTerm("animals"), MeshTerm("humans")))


#: named filters usable from a concept file (``filters = ["cochrane-rct-sensitivity"]``)
NAMED_FILTERS = {
    "cochrane-rct-sensitivity": lambda: cochrane_rct_filter("sensitivity-maximizing"),
    "cochrane-rct-precision": lambda: cochrane_rct_filter("sensitivity-precision"),
}


@dataclass(frozen=True)
class PubMedQuery:
    """A PubMed search: concepts AND-ed, then filters, publication types (OR-ed), languages
    (OR-ed) and the date range, all AND-ed, then ``NOT exclude``.

    ``str(query)`` / :meth:`render` gives the exact query text.
    """

    concepts: Sequence[Concept] = ()
    date_from: Any = None
    date_to: Any = None
    date_field: str = "dp"
    publication_types: Sequence[str] = ()
    languages: Sequence[str] = ()
    filters: Sequence[Expr] = ()
    exclude: Expr | None = None

    def expression(self) -> Expr:
        """The whole query as an expression tree."""
        parts: list[Expr] = []
        names = [c.name for c in self.concepts]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise InputError(f"concept name(s) {sorted(dup)} used twice; expected unique names")
        parts.extend(c.expression() for c in self.concepts)
        parts.extend(self.filters)
        pts = _str_seq(self.publication_types, "publication_types")
        if pts:
            parts.append(Or(*[Term(p, "pt") for p in pts]))
        langs = _str_seq(self.languages, "languages")
        if langs:
            parts.append(Or(*[Term(la, "la") for la in langs]))
        if self.date_from is not None or self.date_to is not None:
            parts.append(DateRange(self.date_from, self.date_to, self.date_field))
        if not parts:
            raise InputError("the query has no concepts, filters or limits; expected at least "
                             "one concept")
        expr: Expr = And(*parts) if len(parts) > 1 else parts[0]
        if self.exclude is not None:
            expr = Not(expr, self.exclude)
        return expr

    def render(self) -> str:
        """The exact PubMed query string."""
        return self.expression().render()

    def __str__(self) -> str:
        return self.render()


def build_query(concepts: Sequence[Concept], **limits: Any) -> str:
    """A PubMed query from concepts: ``PubMedQuery(concepts, **limits).render()``.

    Within a concept the MeSH terms and text words are combined with OR; concepts with AND.

    Parameters
    ----------
    concepts : sequence of Concept
        The search concepts (:class:`Concept`: name, MeSH terms, text words, fields).
    **limits
        Further :class:`PubMedQuery` settings: ``date_from``, ``date_to``, ``date_field``,
        ``publication_types``, ``languages``, ``filters``, ``exclude``.

    Returns
    -------
    str
        The query, ready for PubMed's search box or :class:`EutilsClient`.

    Examples
    --------
    >>> from evsynth import records
    >>> bcg = records.Concept("BCG", mesh=["BCG Vaccine"], text_words=["BCG"])
    >>> tb = records.Concept("Tuberculosis", mesh=["Tuberculosis"], text_words=["tuberculosis"])
    >>> records.build_query([bcg, tb])
    '("BCG Vaccine"[mh] OR BCG[tiab]) AND ("Tuberculosis"[mh] OR tuberculosis[tiab])'
    """
    return PubMedQuery(tuple(concepts), **limits).render()


_QUERY_KEYS = {"concepts", "date_from", "date_to", "date_field", "publication_types",
               "languages", "filters", "exclude"}
_CONCEPT_KEYS = {"name", "mesh", "text_words", "fields", "explode", "terms"}


def query_from_mapping(data: Mapping[str, Any], source: str = "concept file") -> PubMedQuery:
    """Build a :class:`PubMedQuery` from a parsed TOML/JSON concept file::

        date_from = "1980-01-01"
        date_to = "2011-07-31"
        publication_types = ["randomized controlled trial"]
        filters = ["cochrane-rct-sensitivity"]     # optional named filters
        exclude = [{text = "comment", field = "pt"}]   # OR-ed, then NOT-ed
        [[concepts]]
        name = "vertebral augmentation"
        mesh = ["Vertebroplasty", {term = "Kyphoplasty", explode = false}]
        text_words = ["vertebroplast*", "kyphoplast*"]
        fields = ["tiab"]
    """
    if not isinstance(data, Mapping):
        raise InputError(f"{source}: expected a table/object at the top level")
    bad = set(data) - _QUERY_KEYS
    if bad:
        raise InputError(f"{source}: unknown key(s) {sorted(bad)}; expected {sorted(_QUERY_KEYS)}")
    raw = data.get("concepts", [])
    if not isinstance(raw, list):
        raise InputError(f"{source}: 'concepts' must be a list ([[concepts]] in TOML)")
    concepts = []
    for i, c in enumerate(raw, start=1):
        where = f"{source}: concept {i}"
        if not isinstance(c, Mapping):
            raise InputError(f"{where}: expected a table with keys {sorted(_CONCEPT_KEYS)}")
        bad = set(c) - _CONCEPT_KEYS
        if bad:
            raise InputError(f"{where}: unknown key(s) {sorted(bad)}; expected "
                             f"{sorted(_CONCEPT_KEYS)}")
        name = c.get("name", f"concept {i}")
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{where}: key 'name' is {name!r}; expected a non-empty string")
        explode = c.get("explode", True)
        if not isinstance(explode, bool):
            raise InputError(f"{where}: key 'explode' is {explode!r}; expected true or false")
        for key in ("mesh", "text_words", "terms"):
            if key in c and not isinstance(c[key], list):
                raise InputError(f"{where}: key {key!r} is {c[key]!r}; expected a list")
        concept = Concept(name=name, mesh=tuple(c.get("mesh", ())),
                          text_words=_str_seq(c.get("text_words"), f"{where}: text_words"),
                          fields=_str_seq(c.get("fields", ["tiab"]), f"{where}: fields"),
                          explode=explode, terms=tuple(c.get("terms", ())))
        try:
            concept.expression()
        except InputError as exc:
            raise InputError(f"{source}: {exc}") from None
        concepts.append(concept)
    filters = []
    for name in _str_seq(data.get("filters"), f"{source}: filters"):
        if name not in NAMED_FILTERS:
            raise InputError(f"{source}: filter {name!r} is unknown; expected one of "
                             f"{sorted(NAMED_FILTERS)}")
        filters.append(NAMED_FILTERS[name]())
    exclude = None
    if data.get("exclude") is not None:
        ex = data["exclude"]
        ex = ex if isinstance(ex, list) else [ex]
        exclude = Or(*[_as_term(t, f"{source}: exclude") for t in ex])
    q = PubMedQuery(concepts=tuple(concepts), date_from=data.get("date_from"),
                    date_to=data.get("date_to"), date_field=data.get("date_field", "dp"),
                    publication_types=_str_seq(data.get("publication_types"),
                                               f"{source}: publication_types"),
                    languages=_str_seq(data.get("languages"), f"{source}: languages"),
                    filters=tuple(filters), exclude=exclude)
    try:
        q.render()
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None
    return q


def load_query(path: str | Path) -> PubMedQuery:
    """Read a concept file (``.toml`` or ``.json``) into a :class:`PubMedQuery`."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError(f"{p}: cannot read the concept file ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: not UTF-8 ({exc.reason}); expected a TOML or JSON file") from None
    if p.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{p}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"{p}: not valid TOML ({exc})") from None
    return query_from_mapping(data, str(p))


__all__ = [
    "SearchStrategy", "parse_strategies", "load_strategies", "methods_text", "SEARCH_KEYS",
    "Expr", "Term", "MeshTerm", "Group", "Or", "And", "Not", "DateRange", "Concept",
    "PubMedQuery", "build_query", "cochrane_rct_filter", "query_from_mapping", "load_query",
    "quote_term", "pubmed_date", "PUBMED_TAGS", "DATE_FIELDS", "NAMED_FILTERS",
]
