"""A small NCBI E-utilities client for running a PubMed search and saving the records.

Built on :mod:`urllib` only. It follows NCBI's documented usage rules (Sayers E. "A General
Introduction to the E-utilities" and "The E-utilities In-Depth: Parameters, Syntax and More", in
*Entrez Programming Utilities Help*, NCBI Bookshelf NBK25497/NBK25499):

* ``esearch`` with ``usehistory=y`` keeps the result set on the History server (``WebEnv`` and
  ``query_key``) and gives ``count``; ``efetch`` then retrieves it in batches with
  ``retstart``/``retmax`` (``rettype=medline&retmode=text`` for MEDLINE, ``retmode=xml`` for
  PubMed XML).
* At most 3 requests per second without an API key and 10 per second with one (``api_key``);
  every request carries ``tool`` and, if given, ``email``.
* Requests that fail with HTTP 429 or 5xx, or with a network error, are retried with exponential
  backoff (``Retry-After`` is honoured when the server sends it).
* ESearch for PubMed gives access to the first 10,000 records only; larger searches must be split
  (e.g. by date range), so they raise :class:`~evsynth.errors.InputError` unless
  ``max_records`` is raised.

:meth:`EutilsClient.fetch_all` is resumable: a state file next to the output records the search
(WebEnv, count) and each batch saved (file, record count, PMIDs). Running it again continues with
the missing batches; the final file is assembled from the batches with each PMID kept once, and
every file is written atomically (temporary file + rename). The API key is never written to the
state file or shown in messages.

An existing output file is replaced only when it is this client's own earlier download (its
state file records the file's SHA-256 and it is unchanged) or with ``overwrite=True``
(``--force``); a state file or batch folder that is not evsynth's is never replaced or deleted.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import http.client
import json
import math
import os
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evsynth import __version__
from evsynth.errors import InputError
from evsynth.files import atomic_write

#: NCBI's E-utilities base URL
DEFAULT_BASE_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
#: documented request rates (requests per second) without / with an API key
RATE_NO_KEY = 3.0
RATE_WITH_KEY = 10.0
#: PubMed ESearch gives access to the first 10,000 records of a search
PUBMED_MAX_RECORDS = 10_000
#: efetch formats: name -> (rettype, retmode, file suffix)
FORMATS = {"medline": ("medline", "text", ".nbib"), "xml": (None, "xml", ".xml")}
#: HTTP status codes that are retried
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
STATE_VERSION = 1


class EutilsError(RuntimeError):
    """The E-utilities server could not be reached or kept failing, or returned an error that is
    not about the query (those raise :class:`~evsynth.errors.InputError`)."""


class HistoryExpiredError(EutilsError):
    """The WebEnv/query_key of a search is no longer on the History server."""


class _Retryable(Exception):
    """Internal: a response that should be retried (bad status, truncated or empty body)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class SearchResult:
    """What ESearch returned: total ``count``, History-server keys, the ids on this page, the
    query as PubMed translated it, and any warnings (phrases or fields not found...)."""

    count: int
    webenv: str | None = None
    query_key: str | None = None
    ids: tuple[str, ...] = ()
    query_translation: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class FetchResult:
    """Outcome of :meth:`EutilsClient.fetch_all`.

    ``count`` is ESearch's count; ``records`` the records written to ``path`` (each PMID once);
    ``duplicates_dropped`` the repeated PMIDs skipped; ``batches_fetched`` / ``requests`` are for
    this run only; ``resumed`` is True when an earlier state file was continued.
    """

    path: Path
    state_path: Path
    count: int
    records: int
    batches_total: int
    batches_fetched: int
    requests: int
    resumed: bool
    duplicates_dropped: int = 0
    query_translation: str | None = None
    warnings: tuple[str, ...] = ()


class RateLimiter:
    """Spaces request starts at least ``1/rate`` seconds apart using an injectable clock."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if not rate > 0:
            raise InputError(f"request rate is {rate!r}; expected a positive number per second")
        self.interval = 1.0 / rate
        self.clock = clock
        self.sleep = sleep
        self._last: float | None = None

    def wait(self) -> None:
        """Sleep until a request may start, then mark it as started."""
        if self._last is not None:
            delay = self._last + self.interval - self.clock()
            if delay > 0:
                self.sleep(delay)
        self._last = self.clock()


# --- record splitting (for counting and de-duplicating batches) --------------------------------

_MEDLINE_START = re.compile(r"^PMID- *(\d+)", re.M)
_XML_ARTICLE = re.compile(rb"<(PubmedArticle|PubmedBookArticle)\b.*?</\1>", re.S)
_XML_PMID = re.compile(rb"<PMID\b[^>]*>\s*(\d+)\s*</PMID>")


def split_medline(text: str) -> list[tuple[str, str]]:
    """Split MEDLINE text into ``(pmid, record text)`` pairs (record text ends with a newline)."""
    starts = [m.start() for m in _MEDLINE_START.finditer(text)]
    out = []
    for i, s in enumerate(starts):
        chunk = text[s:starts[i + 1] if i + 1 < len(starts) else len(text)].rstrip() + "\n"
        m = _MEDLINE_START.match(chunk)
        assert m is not None  # the chunk starts where the pattern matched
        out.append((m.group(1), chunk))
    return out


def split_pubmed_xml(data: bytes) -> list[tuple[str, bytes]]:
    """Split a PubmedArticleSet into ``(pmid, article element bytes)`` pairs."""
    out = []
    for m in _XML_ARTICLE.finditer(data):
        block = m.group(0)
        pm = _XML_PMID.search(block)
        out.append((pm.group(1).decode() if pm else "", block))
    return out


def _xml_prolog(data: bytes) -> bytes:
    m = re.search(rb"<PubmedArticleSet\b[^>]*>", data)
    return data[:m.end()] if m else b'<?xml version="1.0" ?>\n<PubmedArticleSet>'


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _safe_params(params: Mapping[str, Any]) -> str:
    """Parameters for messages, without the API key and with long values shortened."""
    shown = []
    for k, v in params.items():
        if k == "api_key":
            continue
        s = str(v)
        shown.append(f"{k}={s if len(s) <= 60 else s[:57] + '...'}")
    return "&".join(shown)


class EutilsClient:
    """E-utilities client with rate limiting, retries and resumable batch downloads.

    ``clock``/``sleep`` are injectable (tests use a fake clock, no real waiting); ``opener`` is a
    callable like :func:`urllib.request.urlopen` taking ``(request, timeout=...)``.
    """

    def __init__(self, base_url: str = DEFAULT_BASE_URL, api_key: str | None = None,
                 tool: str = "evsynth", email: str | None = None, *, max_retries: int = 5,
                 backoff: float = 1.0, max_backoff: float = 60.0, timeout: float = 60.0,
                 rate: float | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 opener: Callable[..., Any] | None = None,
                 now: Callable[[], _dt.datetime] | None = None):
        if not isinstance(base_url, str) or not re.match(r"^https?://", base_url):
            raise InputError(f"E-utilities base URL is {base_url!r}; expected an http(s) URL")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InputError(f"max_retries is {max_retries!r}; expected an integer >= 0")
        if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
            raise InputError("api_key is empty; expected the NCBI API key or None")
        for name, value in (("tool", tool), ("email", email)):
            if value is not None and (not isinstance(value, str) or not re.fullmatch(r"\S+",
                                                                                      value)):
                raise InputError(f"{name} is {value!r}; expected a string without spaces "
                                 "(NCBI's E-utilities usage rules)")
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.api_key = api_key.strip() if api_key else None
        self.tool = tool
        self.email = email
        self.max_retries = max_retries
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.timeout = timeout
        if rate is None:
            rate = RATE_WITH_KEY if self.api_key else RATE_NO_KEY
        limit = RATE_WITH_KEY if self.api_key else RATE_NO_KEY
        if rate > limit:
            raise InputError(f"request rate {rate}/s is above NCBI's limit of {limit:g}/s "
                             f"{'with' if self.api_key else 'without'} an API key")
        self.limiter = RateLimiter(rate, clock, sleep)
        self.sleep = sleep
        self.opener = opener or urllib.request.urlopen
        self.now = now or (lambda: _dt.datetime.now(_dt.UTC))
        #: number of HTTP requests sent (including retries)
        self.requests = 0

    # --- low level -------------------------------------------------------------------------

    def _params(self, params: Mapping[str, Any]) -> dict[str, str]:
        out = {k: str(v) for k, v in params.items() if v is not None}
        out["tool"] = self.tool
        if self.email:
            out["email"] = self.email
        if self.api_key:
            out["api_key"] = self.api_key
        return out

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        delay = self.backoff * (2 ** attempt)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.max_backoff)

    def request(self, endpoint: str, params: Mapping[str, Any],
                check: Callable[[bytes], None] | None = None) -> bytes:
        """GET (POST when long) ``base_url + endpoint`` and return the body.

        Retries HTTP 429/5xx, network errors and bodies that ``check`` rejects with
        :class:`_Retryable`, waiting ``backoff * 2**attempt`` seconds (or Retry-After).
        """
        full = self._params(params)
        encoded = urllib.parse.urlencode(full)
        url = self.base_url + endpoint
        last = ""
        for attempt in range(self.max_retries + 1):
            self.limiter.wait()
            self.requests += 1
            if len(url) + len(encoded) > 2000:
                req = urllib.request.Request(url, data=encoded.encode("ascii"), method="POST")
                req.add_header("Content-Type", "application/x-www-form-urlencoded")
            else:
                req = urllib.request.Request(f"{url}?{encoded}", method="GET")
            req.add_header("User-Agent", f"evsynth/{__version__} ({self.tool})")
            retry_after: float | None = None
            try:
                with self.opener(req, timeout=self.timeout) as resp:
                    body = resp.read()
                if check is not None:
                    check(body)
                return body
            except urllib.error.HTTPError as exc:
                detail = _error_text(exc)
                if exc.code not in RETRY_STATUS:
                    raise EutilsError(f"{endpoint} ({_safe_params(full)}): HTTP {exc.code} "
                                      f"{exc.reason}{': ' + detail if detail else ''}") from None
                last = f"HTTP {exc.code} {exc.reason}{': ' + detail if detail else ''}"
                retry_after = _retry_after(exc)
            except _Retryable as exc:
                last = str(exc)
                retry_after = exc.retry_after
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError,
                    TimeoutError, OSError) as exc:
                last = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            if attempt < self.max_retries:
                self.sleep(self._backoff(attempt, retry_after))
        raise EutilsError(f"{endpoint} ({_safe_params(full)}) failed after "
                          f"{self.max_retries + 1} attempts; last error: {last}")

    # --- ESearch / EFetch ------------------------------------------------------------------

    def esearch(self, term: str, db: str = "pubmed", *, usehistory: bool = True,
                retmax: int = 0, retstart: int = 0, retmode: str = "json",
                datetype: str | None = None, mindate: str | None = None,
                maxdate: str | None = None) -> SearchResult:
        """Run ESearch; with ``usehistory`` the result set stays on the History server.

        ``mindate``/``maxdate`` (``YYYY``, ``YYYY/MM`` or ``YYYY/MM/DD``) limit by ``datetype``
        (``pdat`` publication, ``edat`` entry, ``mdat`` modification); both must be given.
        """
        if not isinstance(term, str) or not term.strip():
            raise InputError(f"PubMed query is {term!r}; expected a non-empty search string")
        if retmode not in ("json", "xml"):
            raise InputError(f"esearch retmode {retmode!r}; expected 'json' or 'xml'")
        if (mindate is None) != (maxdate is None):
            raise InputError("esearch date limits need both mindate and maxdate (NCBI ignores "
                             "one alone)")
        params = {"db": db, "term": term, "retmode": retmode, "retmax": retmax,
                  "retstart": retstart, "usehistory": "y" if usehistory else None,
                  "datetype": (datetype or "pdat") if mindate else None,
                  "mindate": mindate, "maxdate": maxdate}
        body = self.request("esearch.fcgi", params, check=_check_not_empty)
        result = parse_esearch(body)
        if usehistory and (not result.webenv or not result.query_key):
            raise EutilsError("esearch did not return WebEnv/query_key although usehistory=y")
        return result

    def efetch(self, *, webenv: str, query_key: str, retstart: int, retmax: int,
               db: str = "pubmed", format: str = "medline", expected: int | None = None) -> bytes:
        """Fetch one batch of the History-server result set (raw bytes as received).

        ``expected`` (records in this batch) lets an empty or truncated reply be retried.
        """
        if format not in FORMATS:
            raise InputError(f"efetch format {format!r}; expected one of {sorted(FORMATS)}")
        rettype, retmode, _ = FORMATS[format]
        params = {"db": db, "WebEnv": webenv, "query_key": query_key, "retstart": retstart,
                  "retmax": retmax, "rettype": rettype, "retmode": retmode}

        def check(body: bytes) -> None:
            _check_efetch(body, format, expected)

        return self.request("efetch.fcgi", params, check=check)

    # --- resumable download ----------------------------------------------------------------

    def fetch_all(self, term: str, out: str | Path, *, db: str = "pubmed",
                  format: str = "medline", batch_size: int = 500,
                  mindate: str | None = None, maxdate: str | None = None,
                  datetype: str | None = None, restart: bool = False,
                  max_records: int = PUBMED_MAX_RECORDS,
                  progress: Callable[[str], None] | None = None,
                  overwrite: bool = False) -> FetchResult:
        """Search and save every record to ``out`` (MEDLINE text or PubMed XML), resumably.

        State: ``<out>.eutils.json``; batches: ``<out>.parts/``. A second call with the same
        arguments continues a stopped download (or returns at once when it is complete);
        ``restart=True`` discards earlier state. An existing ``out`` that is not this client's
        unchanged earlier download is an InputError unless ``overwrite``; nothing is sent to
        NCBI in that case.
        """
        out = Path(out)
        if format not in FORMATS:
            raise InputError(f"output format {format!r}; expected one of {sorted(FORMATS)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not (
                1 <= batch_size <= 10_000):
            raise InputError(f"batch size is {batch_size!r}; expected an integer from 1 to "
                             "10000 (NCBI's efetch maximum)")
        say = progress or (lambda _msg: None)
        state_path = out.with_name(out.name + ".eutils.json")
        parts_dir = out.with_name(out.name + ".parts")
        requests_before = self.requests
        ident = {"db": db, "term": term, "format": format, "batch_size": batch_size,
                 "mindate": mindate, "maxdate": maxdate,
                 "datetype": (datetype or "pdat") if mindate else None}

        _check_parts_dir(parts_dir)
        state = None if restart else _load_state(state_path)
        resumed = state is not None
        if state is not None:
            diff = [k for k, v in ident.items() if state.get(k) != v]
            if diff:
                raise InputError(
                    f"{state_path}: belongs to a different search ({', '.join(diff)} differ); "
                    "expected the same query and settings, or restart=True (--restart) to "
                    "discard it")
            if state.get("complete") and out.is_file():
                say(f"{out}: already complete ({state['records']} records)")
                return self._result(out, state_path, state, 0, requests_before, True)
            if state.get("complete"):
                state = None  # output removed since: fetch again
                resumed = False
        if restart and state_path.exists():
            try:
                _load_state(state_path)
            except InputError:
                if not overwrite:
                    raise
        if os.path.lexists(out) and not overwrite and not _own_download(out, state_path):
            raise InputError(f"{out}: exists and is not an earlier download of this search by "
                             "evsynth; expected a new output file, or overwrite=True (--force) "
                             "to replace it")
        if restart and parts_dir.exists():
            shutil.rmtree(parts_dir)

        if state is None:
            sr = self.esearch(term, db, datetype=datetype, mindate=mindate, maxdate=maxdate)
            if sr.count > max_records:
                raise InputError(
                    f"PubMed query matches {sr.count} records; E-utilities give access to the "
                    f"first {max_records} only. Expected a narrower search: split it by date "
                    "range (several [[searches]] entries or --date-from/--date-to)")
            state = {**ident, "version": STATE_VERSION, "count": sr.count,
                     "webenv": sr.webenv, "query_key": sr.query_key,
                     "query_translation": sr.query_translation, "warnings": list(sr.warnings),
                     "searched_at": self.now().isoformat(timespec="seconds"),
                     "out": out.name, "parts": parts_dir.name, "batches": {},
                     "complete": False}
            _save_state(state_path, state)
            say(f"esearch: {sr.count} records")

        count = int(state["count"])
        n_batches = math.ceil(count / batch_size)
        fetched = 0
        for b in range(n_batches):
            key = str(b)
            part = parts_dir / f"batch-{b:05d}{FORMATS[format][2]}"
            done = state["batches"].get(key)
            if done and part.is_file() and _sha256(part.read_bytes()) == done["sha256"]:
                continue
            retstart = b * batch_size
            retmax = min(batch_size, count - retstart)
            try:
                body = self.efetch(webenv=state["webenv"], query_key=state["query_key"],
                                   retstart=retstart, retmax=retmax, db=db, format=format,
                                   expected=retmax)
            except HistoryExpiredError:
                body = self._refresh_history(state, state_path, term, db, retstart, retmax,
                                             format, datetype, mindate, maxdate)
            pmids = _pmids(body, format)
            atomic_write(part, body)
            state["batches"][key] = {"file": part.name, "retstart": retstart,
                                     "records": len(pmids), "pmids": pmids,
                                     "sha256": _sha256(body)}
            short = state.setdefault("batch_warnings", {})
            short.pop(key, None)
            if len(pmids) != retmax:
                short[key] = (f"efetch batch {b + 1} (retstart {retstart}): {len(pmids)} "
                              f"records received, {retmax} expected")
            _save_state(state_path, state)
            fetched += 1
            say(f"efetch: batch {b + 1}/{n_batches} ({len(pmids)} records)")

        records, dropped, digest = _assemble(out, parts_dir, state, n_batches, format)
        state.update(complete=True, records=records, duplicates_dropped=dropped,
                     out_sha256=digest, completed_at=self.now().isoformat(timespec="seconds"))
        _save_state(state_path, state)
        shutil.rmtree(parts_dir, ignore_errors=True)
        return self._result(out, state_path, state, fetched, requests_before, resumed)

    def _refresh_history(self, state: dict, state_path: Path, term: str, db: str,
                         retstart: int, retmax: int, format: str, datetype: str | None,
                         mindate: str | None, maxdate: str | None) -> bytes:
        """Re-run ESearch when the WebEnv expired; refuse if the result set has changed."""
        sr = self.esearch(term, db, datetype=datetype, mindate=mindate, maxdate=maxdate)
        if sr.count != int(state["count"]):
            raise EutilsError(
                f"the search's History-server session expired and the query now matches "
                f"{sr.count} records instead of {state['count']}; the saved batches cannot be "
                "continued without gaps or duplicates. Start again with restart=True "
                "(--restart)")
        assert sr.webenv and sr.query_key  # esearch(usehistory=True) raises without them
        state.update(webenv=sr.webenv, query_key=sr.query_key)
        _save_state(state_path, state)
        return self.efetch(webenv=sr.webenv, query_key=sr.query_key, retstart=retstart,
                           retmax=retmax, db=db, format=format, expected=retmax)

    def _result(self, out: Path, state_path: Path, state: dict, fetched: int,
                requests_before: int, resumed: bool) -> FetchResult:
        count = int(state["count"])
        return FetchResult(path=out, state_path=state_path, count=count,
                           records=int(state.get("records", 0)),
                           batches_total=math.ceil(count / int(state["batch_size"])),
                           batches_fetched=fetched, requests=self.requests - requests_before,
                           resumed=resumed,
                           duplicates_dropped=int(state.get("duplicates_dropped", 0)),
                           query_translation=state.get("query_translation"),
                           warnings=tuple(state.get("warnings", ()))
                           + tuple(state.get("batch_warnings", {}).values()))


# --- helpers --------------------------------------------------------------------------------

def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        body = exc.read()[:500].decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - the body is only used for the message
        return ""
    try:
        data = json.loads(body)
        if isinstance(data, dict) and "error" in data:
            return str(data["error"])
    except ValueError:
        pass
    return " ".join(body.split())[:200]


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    value = exc.headers.get("Retry-After") if exc.headers else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _check_not_empty(body: bytes) -> None:
    if not body.strip():
        raise _Retryable("empty reply")


def _check_efetch(body: bytes, format: str, expected: int | None) -> None:
    head = body.lstrip()[:2000]
    if b"<ERROR>" in head or (head.startswith(b"{") and b'"error"' in head):
        m = re.search(rb"<ERROR>(.*?)</ERROR>", head, re.S)
        msg = (m.group(1) if m else head[:200]).decode("utf-8", "replace").strip()
        if re.search(r"query|webenv|history", msg, re.I):
            raise HistoryExpiredError(f"efetch: {msg}")
        raise _Retryable(f"efetch returned an error: {msg}")
    if format == "medline":
        if head.startswith(b"<"):
            raise _Retryable("efetch returned markup instead of MEDLINE text")
        n = len(_MEDLINE_START.findall(body.decode("utf-8", "replace")))
    else:
        if not body.rstrip().endswith(b"</PubmedArticleSet>"):
            raise _Retryable("efetch XML reply is truncated (no closing </PubmedArticleSet>)")
        n = len(split_pubmed_xml(body))
    if expected and n == 0:
        raise _Retryable(f"efetch returned no records where {expected} were expected")


def _pmids(body: bytes, format: str) -> list[str]:
    if format == "medline":
        return [p for p, _ in split_medline(body.decode("utf-8", "replace"))]
    return [p for p, _ in split_pubmed_xml(body)]


def parse_esearch(body: bytes) -> SearchResult:
    """Parse an ESearch reply (JSON or XML). An error about the query raises InputError."""
    text = body.decode("utf-8", "replace").lstrip("\ufeff").strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise EutilsError(f"esearch: reply is not valid JSON ({exc})") from None
        if "error" in data:
            raise EutilsError(f"esearch: {data['error']}")
        r = data.get("esearchresult", {})
        if "ERROR" in r:
            raise InputError(f"PubMed rejected the query: {r['ERROR']}")
        warnings = _warnings_json(r.get("errorlist", {}), r.get("warninglist", {}))
        try:
            count = int(r["count"])
        except (KeyError, ValueError):
            raise EutilsError("esearch: reply has no count") from None
        return SearchResult(count=count, webenv=r.get("webenv"), query_key=r.get("querykey"),
                            ids=tuple(r.get("idlist", ())),
                            query_translation=r.get("querytranslation"),
                            warnings=tuple(warnings))
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise EutilsError(f"esearch: reply is neither JSON nor XML ({exc})") from None
    err = root.find("ERROR")
    if err is not None and root.find("Count") is None:
        raise InputError(f"PubMed rejected the query: {(err.text or '').strip()}")
    count_el = root.find("Count")
    if count_el is None or not (count_el.text or "").strip().isdigit():
        raise EutilsError("esearch: reply has no count")
    warnings = []
    for parent in ("ErrorList", "WarningList"):
        node = root.find(parent)
        if node is not None:
            warnings.extend(f"{child.tag}: {(child.text or '').strip()}" for child in node)
    return SearchResult(count=int((count_el.text or "").strip()), webenv=_text(root, "WebEnv"),
                        query_key=_text(root, "QueryKey"),
                        ids=tuple(e.text.strip() for e in root.findall("IdList/Id") if e.text),
                        query_translation=_text(root, "QueryTranslation"),
                        warnings=tuple(warnings))


def _text(root: ET.Element, path: str) -> str | None:
    el = root.find(path)
    return el.text.strip() if el is not None and el.text else None


_WARNING_NAMES = {"phrasesnotfound": "PhraseNotFound", "fieldsnotfound": "FieldNotFound",
                  "phrasesignored": "PhraseIgnored",
                  "quotedphrasesnotfound": "QuotedPhraseNotFound",
                  "outputmessages": "OutputMessage"}


def _warnings_json(*blocks: Mapping[str, Any]) -> list[str]:
    out = []
    for block in blocks:
        for key, values in (block or {}).items():
            for v in values if isinstance(values, list) else [values]:
                out.append(f"{_WARNING_NAMES.get(key.lower(), key)}: {v}")
    return out


def _load_state(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: the download state file is damaged ({exc}); expected JSON "
                         "written by evsynth; delete it or use restart=True (--restart)") from None
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise InputError(f"{path}: not an evsynth E-utilities state file (version "
                         f"{STATE_VERSION}); delete it or use restart=True (--restart)")
    return state


_PART_NAME = re.compile(r"^(?:batch-\d{5}(?:\.nbib|\.xml)|\.batch-\d{5}(?:\.nbib|\.xml)\..*\.tmp)$")


def _check_parts_dir(parts_dir: Path) -> None:
    """Refuse a ``<out>.parts`` path that is not a folder of evsynth's batch files (it would be
    written into and deleted)."""
    if not os.path.lexists(parts_dir):
        return
    if parts_dir.is_symlink() or not parts_dir.is_dir():
        raise InputError(f"{parts_dir}: exists and is not evsynth's batch folder; expected it "
                         "moved away (evsynth keeps the download's batches there)")
    foreign = sorted(p.name for p in parts_dir.iterdir()
                     if not _PART_NAME.match(p.name) or not p.is_file() or p.is_symlink())
    if foreign:
        raise InputError(f"{parts_dir}: holds files evsynth did not write ({', '.join(foreign[:5])}"
                         "); expected only evsynth's batch files (move the others away)")


def _own_download(out: Path, state_path: Path) -> bool:
    """Whether ``out`` is an unchanged complete download recorded in ``state_path``."""
    try:
        state = _load_state(state_path)
    except InputError:
        return False
    if not state or not state.get("complete") or state.get("out") != out.name:
        return False
    try:
        return not out.is_symlink() and out.is_file() and \
            _sha256(out.read_bytes()) == state.get("out_sha256")
    except OSError:
        return False


def _save_state(path: Path, state: dict) -> None:
    atomic_write(path, (json.dumps(state, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))


def _assemble(out: Path, parts_dir: Path, state: dict, n_batches: int,
              format: str) -> tuple[int, int, str]:
    """Join the batches into ``out`` keeping each PMID once; return (records, dropped, sha256
    of the file written)."""
    seen: set[str] = set()
    dropped = 0
    chunks: list[bytes] = []
    prolog = None
    for b in range(n_batches):
        body = (parts_dir / state["batches"][str(b)]["file"]).read_bytes()
        if format == "medline":
            items = [(p, r.encode("utf-8"))
                     for p, r in split_medline(body.decode("utf-8", "replace"))]
        else:
            prolog = prolog or _xml_prolog(body)
            items = split_pubmed_xml(body)
        for pmid, rec in items:
            if pmid and pmid in seen:
                dropped += 1
                continue
            seen.add(pmid)
            chunks.append(rec)
    if format == "medline":
        data = b"".join(b"\n" + c for c in chunks)
    else:
        prolog = prolog or b'<?xml version="1.0" ?>\n<PubmedArticleSet>'
        data = prolog + b"\n" + b"\n".join(chunks) + b"\n</PubmedArticleSet>\n"
    atomic_write(out, data)
    return len(chunks), dropped, _sha256(data)


__all__ = ["EutilsClient", "EutilsError", "HistoryExpiredError", "SearchResult", "FetchResult",
           "RateLimiter", "parse_esearch", "split_medline", "split_pubmed_xml", "atomic_write",
           "DEFAULT_BASE_URL", "FORMATS", "PUBMED_MAX_RECORDS", "RATE_NO_KEY", "RATE_WITH_KEY"]
