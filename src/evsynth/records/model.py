"""The normalised record model: column schema and normalisation helpers.

One row per bibliographic record. The columns in :data:`RECORD_COLUMNS` are always present,
in that order; missing values are ``None`` (list columns hold an empty list, ``other_ids`` an
empty dict). ``year`` is a nullable pandas ``Int64``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

#: Columns of the normalised record table, exactly and in this order.
RECORD_COLUMNS: tuple[str, ...] = (
    "record_id",
    "title",
    "abstract",
    "authors",
    "first_author",
    "year",
    "journal",
    "volume",
    "issue",
    "pages",
    "doi",
    "pmid",
    "other_ids",
    "keywords",
    "language",
    "publication_type",
    "source_database",
    "source_file",
    "source_format",
    "source_line",
    "label",
)

#: Columns holding a list of str (empty list when missing).
LIST_COLUMNS: tuple[str, ...] = ("authors", "keywords", "publication_type")
#: Columns holding a dict (empty dict when missing).
DICT_COLUMNS: tuple[str, ...] = ("other_ids",)
#: Plain text columns (None when missing).
TEXT_COLUMNS: tuple[str, ...] = tuple(
    c for c in RECORD_COLUMNS
    if c not in LIST_COLUMNS + DICT_COLUMNS + ("year", "source_line")
)


def empty_records() -> pd.DataFrame:
    """An empty record table with every column of :data:`RECORD_COLUMNS` and proper dtypes."""
    df = pd.DataFrame({c: pd.Series([], dtype=object) for c in RECORD_COLUMNS})
    df["year"] = df["year"].astype("Int64")
    return df


# ----------------------------------------------------------------------------------------------
# DOI
# ----------------------------------------------------------------------------------------------
_DOI_PREFIX = re.compile(
    r"^\s*(?:doi\s*:?\s*|https?://(?:dx\.)?doi\.org/|(?:dx\.)?doi\.org/|urn:doi:)+",
    re.IGNORECASE,
)
_DOI_FIND = re.compile(r"10\.\d{4,9}/\S+", re.IGNORECASE)


def normalise_doi(value: Any) -> str | None:
    """DOI in lower case without ``https://doi.org/`` / ``doi:`` prefix, or None.

    Takes the first thing that looks like a DOI (``10.NNNN/...``, per the DOI Handbook
    section 2.2) in ``value``; trailing punctuation and ``[doi]`` markers are dropped.
    URL-encoded characters (``%2F``) are decoded.
    """
    if value is None:
        return None
    s = str(value).strip()
    if not s:
        return None
    if "%" in s:
        from urllib.parse import unquote

        s = unquote(s)
    s = _DOI_PREFIX.sub("", s)
    m = _DOI_FIND.search(s)
    if not m:
        return None
    doi = m.group(0)
    doi = re.sub(r"\[doi\]$", "", doi, flags=re.IGNORECASE)
    doi = doi.rstrip(".,;)]}>\"'")
    return doi.lower() or None


# ----------------------------------------------------------------------------------------------
# Text, title, author normalisation
# ----------------------------------------------------------------------------------------------
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")
_WS = re.compile(r"\s+")


def clean_text(value: Any) -> str | None:
    """Strip, collapse white space, drop HTML/XML inline markup; None for empty."""
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN
        return None
    s = str(value)
    if "<" in s:
        s = _TAG.sub("", s)
    # str.split() splits at the characters re's \s matches (str.isspace); faster than _WS.sub
    s = " ".join(s.split())
    return s or None


def strip_accents(s: str) -> str:
    """ASCII-fold: remove combining marks after NFKD decomposition (``Müller`` -> ``Muller``)."""
    decomposed = unicodedata.normalize("NFKD", s)
    out = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return out.replace("ß", "ss").replace("ø", "o").replace("Ø", "O").replace("æ", "ae")


_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def normalise_title(value: Any) -> str:
    """Title key for matching: lower case, ASCII-folded, markup and punctuation removed.

    Square brackets around translated titles (MEDLINE convention, e.g. ``[Vertebroplasty].``)
    are removed; "&" becomes "and". Returns "" for a missing title.
    """
    s = clean_text(value)
    if not s:
        return ""
    s = strip_accents(s).lower().replace("&", " and ")
    s = _NON_ALNUM.sub(" ", s)
    return _WS.sub(" ", s).strip()


def normalise_text(value: Any) -> str:
    """Generic matching key (journal, pages...): like :func:`normalise_title`."""
    return normalise_title(value)


_INITIALS = re.compile(r"(?:[A-Z]\.?-?){1,4}")


def first_author_surname(authors: Iterable[str] | None) -> str | None:
    """Surname of the first author (text before the first comma, or last word), or None."""
    if not authors:
        return None
    for raw in authors:
        a = clean_text(raw)
        if not a:
            continue
        if "," in a:
            sur = a.split(",", 1)[0].strip()
        else:
            parts = a.split()
            # MEDLINE "Smith JA" / Embase "Smith J.A." style: surname first, initials last
            if len(parts) > 1 and _INITIALS.fullmatch(parts[-1]):
                sur = " ".join(p for p in parts[:-1] if not _INITIALS.fullmatch(p)) or parts[0]
            elif len(parts) <= 3:
                sur = parts[-1]  # "Given Surname"
            else:
                sur = a  # a group author ("National Collaborating Centre ... (UK)")
        return sur or None
    return None


def normalise_author(value: Any) -> str:
    """Surname key for matching: ASCII-folded lower-case letters only."""
    s = clean_text(value)
    if not s:
        return ""
    return re.sub(r"[^a-z]", "", strip_accents(s).lower())


_PAGES = re.compile(
    r"^\s*([A-Za-z]*\d+[A-Za-z]*)\s*(?:[-\u2010-\u2015]+\s*([A-Za-z]*\d+[A-Za-z]*))?"
)


def normalise_pages(value: Any) -> str:
    """Page key: the first page, and the last page expanded (``123-9`` -> ``123-129``).

    Returns "" when there is no usable page.
    """
    s = clean_text(value)
    if not s:
        return ""
    m = _PAGES.match(s)
    if not m:
        return normalise_text(s)
    first, last = m.group(1).lower(), m.group(2)
    if not last:
        return first
    last = last.lower()
    if first.isdigit() and last.isdigit() and len(last) < len(first):
        last = first[: len(first) - len(last)] + last
    return f"{first}-{last}"


_YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|20\d\d|21\d\d)(?!\d)")


def parse_year(value: Any) -> int | None:
    """First plausible 4-digit year (1500-2199) in ``value``, or None."""
    if value is None:
        return None
    if isinstance(value, int):
        return value if 1500 <= value <= 2199 else None
    m = _YEAR.search(str(value))
    return int(m.group(1)) if m else None


_PMID = re.compile(r"\d+")


def normalise_pmid(value: Any) -> str | None:
    """PubMed ID as a string of digits (``"PMID: 123 [Indexed]"`` -> ``"123"``), or None."""
    if value is None:
        return None
    s = str(value).strip()
    if not s:
        return None
    m = _PMID.search(s)
    if not m:
        return None
    digits = m.group(0).lstrip("0")
    return digits or None


# ----------------------------------------------------------------------------------------------
# Building a table
# ----------------------------------------------------------------------------------------------
def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    out: list[str] = []
    seen: set[str] = set()
    for v in value:
        c = clean_text(v)
        if c and c not in seen:
            out.append(c)
            seen.add(c)
    return out


def normalise_record(rec: Mapping[str, Any]) -> dict[str, Any]:
    """One record dict with every column of :data:`RECORD_COLUMNS`, values cleaned.

    Text is whitespace-collapsed, DOI/PMID/year normalised, lists de-duplicated in order,
    ``first_author`` derived from ``authors`` when not given.
    """
    out: dict[str, Any] = {}
    for c in RECORD_COLUMNS:
        v = rec.get(c)
        if c in LIST_COLUMNS:
            out[c] = _as_list(v)
        elif c == "other_ids":
            out[c] = {str(k): str(x).strip() for k, x in (v or {}).items()
                      if x is not None and str(x).strip()}
        elif c == "year":
            out[c] = parse_year(v)
        elif c == "source_line":
            out[c] = int(v) if v is not None else None
        elif c == "doi":
            out[c] = normalise_doi(v)
        elif c == "pmid":
            out[c] = normalise_pmid(v)
        elif c in ("source_file", "record_id"):
            out[c] = None if v is None else str(v)
        elif c in ("abstract", "label"):
            out[c] = clean_text(v)
        else:
            out[c] = clean_text(v)
    if not out["first_author"]:
        out["first_author"] = first_author_surname(out["authors"])
    elif "," in out["first_author"]:
        out["first_author"] = first_author_surname([out["first_author"]])
    return out


def records_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A record table (columns :data:`RECORD_COLUMNS`) from record dicts, normalised."""
    rows = [normalise_record(r) for r in records]
    if not rows:
        return empty_records()
    df = pd.DataFrame(rows, columns=list(RECORD_COLUMNS))
    df["year"] = pd.array([r["year"] for r in rows], dtype="Int64")
    df["source_line"] = pd.Series([r["source_line"] for r in rows], dtype=object)
    for c in TEXT_COLUMNS:
        df[c] = df[c].astype(object).where(df[c].notna(), None)
    return df
