"""Reading export files: decoding, format sniffing and dispatch to the format parsers.

:func:`read` turns one export file (or several) into the normalised record table of
:mod:`evsynth.records.model`. The format is sniffed from the content, never from the
extension. Malformed records are skipped or repaired, listed in ``df.attrs["problems"]``
(``{"file", "line", "message"}``) and announced with :func:`warnings.warn`; problems with the
whole file (empty, binary, unknown format, undecodable) raise :class:`InputError`.
"""

from __future__ import annotations

import importlib
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from evsynth.errors import InputError
from evsynth.records.model import RECORD_COLUMNS, empty_records, records_frame
from evsynth.textsafe import terminal_text

#: format name -> parser module under ``evsynth.records.formats``
FORMATS: dict[str, str] = {
    "ris": "ris",
    "medline": "medline",
    "pubmed_xml": "pubmed_xml",
    "wos": "wos",
    "bibtex": "bibtex",
    "csv": "csv",
    "endnote_xml": "endnote_xml",
    "ovid": "ovid",
}
_ALIASES = {"nbib": "medline", "pubmed": "medline", "ciw": "wos", "bib": "bibtex",
            "endnote": "endnote_xml", "xml": None, "tsv": "csv", "txt": None}


class RecordsWarning(UserWarning):
    """A malformed record was skipped or repaired while reading an export file."""


# ----------------------------------------------------------------------------------------------
# decoding
# ----------------------------------------------------------------------------------------------
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_BINARY_MAGIC = {
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive (e.g. .docx/.xlsx)",
    b"\xd0\xcf\x11\xe0": "an MS Office binary document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\x1f\x8b": "a gzip archive",
    b"SQLite format 3": "an SQLite database",
}


def decode_bytes(data: bytes, path: str) -> tuple[str, str]:
    """Decode an export file: BOM first, then UTF-8, then cp1252, then Latin-1; line endings
    (CRLF and the bare CR of classic Mac exports) become LF, so that sniffing, parsing and
    line numbers all see one kind of line break.

    Returns ``(text, encoding)``. Raises :class:`InputError` for empty or binary files.
    """
    text, enc = _decode(data, path)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text, enc


def _decode(data: bytes, path: str) -> tuple[str, str]:
    if not data.strip():
        raise InputError(f"{path}: the file is empty; expected a literature-database export")
    for magic, what in _BINARY_MAGIC.items():
        if data.startswith(magic):
            raise InputError(f"{path}: the file is {what}, not a literature-database export")
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(enc), enc
            except UnicodeDecodeError as exc:
                raise InputError(f"{path}: starts with a {enc} byte-order mark but cannot be "
                                 f"decoded as {enc} ({exc.reason} at byte {exc.start})") from None
    if b"\x00" in data[:4096]:
        # UTF-16 without BOM shows alternate NULs; anything else with NULs is binary
        sample = data[:4096]
        if sample[1::2].count(0) > len(sample) // 4:
            try:
                return data.decode("utf-16-le"), "utf-16-le"
            except UnicodeDecodeError:
                pass
        if sample[0::2].count(0) > len(sample) // 4:
            try:
                return data.decode("utf-16-be"), "utf-16-be"
            except UnicodeDecodeError:
                pass
        raise InputError(f"{path}: the file contains binary data (NUL bytes); expected a "
                         "text export (RIS, MEDLINE, XML, BibTeX, CSV...)")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
        enc = "cp1252"
    except UnicodeDecodeError:
        text = data.decode("latin-1")
        enc = "latin-1"
    # a text export has few control characters; many means a binary file
    ctrl = sum(1 for ch in text[:20000] if ord(ch) < 32 and ch not in "\t\r\n\f")
    if ctrl > max(10, len(text[:20000]) // 100):
        raise InputError(f"{path}: the file is not decodable text (UTF-8, cp1252 or Latin-1); "
                         "expected a literature-database export")
    return text, enc


# ----------------------------------------------------------------------------------------------
# sniffing
# ----------------------------------------------------------------------------------------------
_OVID_HEAD = re.compile(r"^<\d+\.\s*>\s*$", re.MULTILINE)
_RIS_TY = re.compile(r"^TY {1,2}- ", re.MULTILINE)
_RIS_TAG = re.compile(r"^[A-Z][A-Z0-9]  - ", re.MULTILINE)
_RIS_ER = re.compile(r"^ER {1,2}-", re.MULTILINE)
_MEDLINE = re.compile(r"^(?:PMID|OWN |STAT|FAU |DCOM|PMC |AID |JT  )- ", re.MULTILINE)
_WOS_HEAD = re.compile(r"^(?:FN |VR |PT [A-Z]\s*$)", re.MULTILINE)
_WOS_TAG = re.compile(r"^(?:PT|AU|TI|SO|UT|ER)(?: |$)", re.MULTILINE)
_BIBTEX = re.compile(r"^\s*@[A-Za-z]+\s*[{(]", re.MULTILINE)


def sniff_format(text: str) -> str | None:
    """Guess the export format from the content; None when nothing fits.

    Order matters: XML kinds by root element, Ovid tagged by its ``<1. >`` headers, RIS by
    ``TY  -``/``ER  -`` lines, MEDLINE by 4-letter tags (``PMID-``), WoS by ``FN``/``PT``
    lines with 2-letter tags followed by one space, BibTeX by ``@type{``, else CSV.
    """
    head = text.lstrip("\ufeff \t\r\n")[:20000]
    if head.startswith("<?xml") or head.startswith("<!DOCTYPE") or re.match(r"<[A-Za-z]", head):
        if re.search(r"<(?:PubmedArticleSet|PubmedArticle|PubmedBookArticle|MedlineCitation)\b",
                     head):
            return "pubmed_xml"
        if re.search(r"<records?\b", head) and re.search(r"<(?:xml|records)\b", head):
            return "endnote_xml"
        if not _OVID_HEAD.search(head):
            return None
    if _OVID_HEAD.search(head) or re.search(r"^VN  - Ovid Technologies", head, re.MULTILINE):
        return "ovid"
    if _RIS_TY.search(head):
        return "ris"
    if _MEDLINE.search(head):
        return "medline"
    if _WOS_HEAD.search(head) and len(_WOS_TAG.findall(head)) >= 2:
        return "wos"
    if _RIS_ER.search(text) and len(_RIS_TAG.findall(head)) >= 3:
        return "ris"
    if _BIBTEX.search(head):
        return "bibtex"
    first = next((ln for ln in head.splitlines() if ln.strip()), "")
    if any(sep in first for sep in (",", ";", "\t")) and "\n" in head.strip():
        return "csv"
    return None


#: names of the formats in messages
FORMAT_NAMES = {"ris": "RIS", "medline": "MEDLINE/PubMed text", "pubmed_xml": "PubMed XML",
                "wos": "Web of Science plain text", "bibtex": "BibTeX", "csv": "CSV",
                "endnote_xml": "EndNote XML", "ovid": "Ovid tagged text"}
#: what the content of a file in each format has at least (for a format given by the caller)
_SIGNATURES: dict[str, Any] = {
    "ris": lambda head, text: bool(_RIS_TAG.search(head)),
    "medline": lambda head, text: bool(_MEDLINE.search(head)),
    "pubmed_xml": lambda head, text: bool(re.search(
        r"<(?:PubmedArticleSet|PubmedArticle|PubmedBookArticle|MedlineCitation)\b", head)),
    "endnote_xml": lambda head, text: bool(re.search(r"<records?\b", head)),
    "wos": lambda head, text: len(_WOS_TAG.findall(head)) >= 2,
    "bibtex": lambda head, text: bool(_BIBTEX.search(head)),
    "ovid": lambda head, text: bool(_OVID_HEAD.search(head) or re.search(
        r"^[A-Z][A-Za-z0-9]{1,3} {0,2}- ", head, re.MULTILINE)),
    "csv": lambda head, text: True,
}


def check_format(text: str, fmt: str, path: str) -> None:
    """Refuse a format given by the caller (``--format``) that the content does not fit.

    The content must not look like another format (:func:`sniff_format`) and must have the
    marks of ``fmt`` (e.g. RIS tag lines ``XX  - ``); otherwise the parser would read it into
    garbage records. Raises :class:`InputError` naming the file, the format given and the
    format the content looks like.
    """
    sniffed = sniff_format(text)
    head = text.lstrip("\ufeff \t\r\n")[:20000]
    if sniffed is not None and sniffed != fmt:
        raise InputError(f"{path}: the format {fmt!r} was given but the content looks like "
                         f"{FORMAT_NAMES[sniffed]} ({sniffed!r}); expected a {FORMAT_NAMES[fmt]} "
                         f"file, or --format {sniffed} (or no --format: the format is sniffed "
                         "from the content)")
    if sniffed is None and not _SIGNATURES[fmt](head, text):
        raise InputError(f"{path}: the format {fmt!r} was given but the content does not look "
                         f"like {FORMAT_NAMES[fmt]} (nor like any format evsynth reads); "
                         f"expected a {FORMAT_NAMES[fmt]} export")


def _parser(fmt: str) -> Any:
    return importlib.import_module(f"evsynth.records.formats.{FORMATS[fmt]}")


def _resolve_format(fmt: str | None, path: str) -> str | None:
    if fmt is None:
        return None
    key = fmt.lower().replace("-", "_")
    if key in FORMATS:
        return key
    if key in _ALIASES and _ALIASES[key]:
        return _ALIASES[key]
    raise InputError(f"{path}: unknown format {fmt!r}; expected one of {sorted(FORMATS)}")


#: a text longer than this is parsed in pieces of about this many characters, cut between
#: records (RIS, MEDLINE): the parser's line lists and raw records then exist for one piece at
#: a time, which keeps the memory of a 100 MB export well below 1 GB
PIECE_CHARS = 4_000_000
_BR = r"(?:\r\n|\r|\n)"
#: where a text may be cut: right before a record start that follows a finished record, so
#: that parsing the pieces gives what parsing the whole text gives (RIS: after an ``ER`` line
#: and blank lines, before ``TY``; MEDLINE: after a blank line, before ``PMID-``)
_CUTS = {
    "ris": re.compile(rf"(?<![^\r\n])ER {{1,2}}-[^\r\n]*{_BR}(?:[ \t]*{_BR})*(?=TY {{1,2}}- )"),
    "medline": re.compile(rf"{_BR}[ \t]*{_BR}(?=PMID- )"),
}


def _pieces(text: str, fmt: str, size: int) -> Iterator[tuple[int, str]]:
    """``text`` cut into ``(first line number - 1, piece)`` of about ``size`` characters at
    the record boundaries of :data:`_CUTS` (the whole text when it is short or has none)."""
    cut = _CUTS.get(fmt)
    start = 0
    line = 0
    while cut is not None and len(text) - start > size:
        m = cut.search(text, start + size)
        if m is None:
            break
        piece = text[start:m.end()]
        yield line, piece
        line += len(re.findall(_BR, piece))
        start = m.end()
    yield line, text[start:] if start else text


def _parse_pieces(text: str, fmt: str, name: str, options: dict[str, Any],
                  size: int) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]]]:
    """Records (a list per piece, ``source_line`` of the whole text) and problems of ``text``.

    Pieces (:func:`_pieces`) are parsed one at a time; when any piece reports a problem the
    whole text is parsed again in one go, so that problem lines and messages are those of the
    file (malformed files are read exactly as without pieces)."""
    parser = _parser(fmt)
    out: list[list[dict[str, Any]]] = []
    for offset, piece in _pieces(text, fmt, size):
        if offset == 0 and len(piece) == len(text):
            records, problems = parser.parse(text, name, **options)
            return [records], problems
        records, problems = parser.parse(piece, name, **options)
        if problems:
            out.clear()
            records, problems = parser.parse(text, name, **options)
            return [records], problems
        for rec in records:
            if rec.get("source_line") is not None:
                rec["source_line"] += offset
        out.append(records)
    return out, []


def _read_one(path: str | os.PathLike, fmt: str | None, database: str | None,
              mapping: Mapping[str, str] | None, start_problems: list) -> pd.DataFrame:
    p = Path(path)
    name = str(path)
    if not p.is_file():  # the one check of an export's path (the command line's too)
        what = ("a folder" if p.is_dir() else "not a regular file (a device, pipe or socket)"
                if p.exists() else "no such file")
        raise InputError(f"{name}: {what}; expected an export file")
    data = p.read_bytes()
    text, _enc = decode_bytes(data, name)
    del data
    fmt = _resolve_format(fmt, name)
    if fmt is None:
        fmt = sniff_format(text)
        if fmt is None:
            raise InputError(f"{name}: unknown format: the content is not RIS, MEDLINE/PubMed, "
                             "PubMed XML, Web of Science, Ovid, EndNote XML, BibTeX or CSV")
    else:
        check_format(text, fmt, name)
    options: dict[str, Any] = {}
    if fmt == "csv" and mapping is not None:
        options["mapping"] = dict(mapping)
    pieces, problems = _parse_pieces(text, fmt, name, options, PIECE_CHARS)
    del text
    if not any(pieces):
        why = ""
        if problems:  # every record was skipped: say why (the warnings would never be shown)
            first = problems[0]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            why = (f"; every record was skipped, e.g. line {first.get('line')}: "
                   f"{first.get('message')}{more}")
        raise InputError(f"{name}: no records found in this {fmt} file{why}")
    frames = []
    n = 0
    while pieces:
        records = pieces.pop(0)
        for rec in records:
            n += 1
            rec["record_id"] = f"{p.name}:{n}"
            rec["source_file"] = name
            rec["source_format"] = fmt
            if database is not None:
                rec["source_database"] = database
        frames.append(records_frame(records))
        del records
    df = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    for pr in problems:
        warnings.warn(terminal_text(f"{pr['file']}, line {pr['line']}: {pr['message']}"),
                      RecordsWarning,
                      stacklevel=3)
    start_problems.extend(problems)
    return df


def read(path: str | os.PathLike | Iterable[str | os.PathLike], format: str | None = None,
         *, database: str | None = None, mapping: Mapping[str, str] | None = None
         ) -> pd.DataFrame:
    """Read a literature-database export into the normalised record table.

    Parameters
    ----------
    path : str, os.PathLike or an iterable of them
        A file path, or a list of paths (their tables are concatenated).
    format : str, optional
        ``"ris"``, ``"medline"``, ``"pubmed_xml"``, ``"wos"``, ``"bibtex"``, ``"csv"``,
        ``"endnote_xml"`` or ``"ovid"``; sniffed from the content when None. A format given
        that the content does not fit (it looks like another format) is an InputError naming
        the format the content looks like (:func:`check_format`).
    database : str, optional
        Fills ``source_database`` (e.g. ``"MEDLINE"``), overriding what the file says.
    mapping : mapping of str to str, optional
        For CSV, record column -> CSV header (e.g. ``{"title": "Title"}``); built-in
        mappings for Embase.com, PubMed, ASySD and bib-dedupe CSVs are used when None.

    Returns
    -------
    pandas.DataFrame
        Exactly the columns of :data:`RECORD_COLUMNS`, one row per record;
        ``attrs["problems"]`` lists malformed records and ``attrs["counts"]`` the records read
        per file.

    Raises
    ------
    InputError
        Naming the file, for empty, binary, undecodable or unrecognised files.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from evsynth import records
    >>> lines = ["TY  - JOUR", "TI  - BCG vaccination against tuberculosis", "AU  - Aronson, J. D.",
    ...          "PY  - 1948", "DO  - 10.1000/bcg.1", "ER  - ", "",
    ...          "TY  - JOUR", "TI  - Isoniazid preventive therapy in contacts",
    ...          "AU  - Ferebee, S. H.", "PY  - 1962", "ER  - "]
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "export.ris"
    >>> _ = path.write_text("\\n".join(lines) + "\\n")
    >>> df = records.read(path)
    >>> for row in df[["title", "year", "doi"]].values.tolist():
    ...     print(row)
    ['BCG vaccination against tuberculosis', 1948, '10.1000/bcg.1']
    ['Isoniazid preventive therapy in contacts', 1962, None]
    >>> df["source_format"].unique().tolist()
    ['ris']
    """
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    if not paths:
        raise InputError("read(): no file given; expected a path to an export file")
    seen = [str(Path(p).resolve()) for p in paths]
    if len(set(seen)) != len(seen):
        dup = next(str(p) for p, r in zip(paths, seen, strict=True) if seen.count(r) > 1)
        raise InputError(f"{dup}: the same file is given more than once; expected each export "
                         "once")
    problems: list[dict[str, Any]] = []
    frames = []
    counts: dict[str, int] = {}
    for pth in paths:
        df = _read_one(pth, format, database, mapping, problems)
        counts[str(pth)] = len(df)
        frames.append(df)
    if len(frames) == 1:
        out = frames[0]
    else:
        out = pd.concat(frames, ignore_index=True) if frames else empty_records()
        out["year"] = out["year"].astype("Int64")
        if out["record_id"].duplicated().any():
            # two files with the same base name: qualify the ids with the path as given
            out["record_id"] = [f"{sf}:{rid.rsplit(':', 1)[1]}" for sf, rid in
                                zip(out["source_file"], out["record_id"], strict=True)]
    out = out[list(RECORD_COLUMNS)]
    out.attrs["problems"] = problems
    out.attrs["counts"] = counts
    return out
