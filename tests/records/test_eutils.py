"""E-utilities client against a local HTTP server serving recorded replies (no internet)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.errors import InputError
from evsynth.records.eutils import (
    EutilsClient,
    EutilsError,
    RateLimiter,
    atomic_write,
    parse_esearch,
    split_medline,
    split_pubmed_xml,
)

DATA = Path(__file__).parent / "data" / "eutils"
MEDLINE_PMIDS = ["29657938", "29152718", "28580338", "28528603", "28403266"]
XML_PMIDS = ["31690499", "30576676", "25371100", "24709432", "17950424"]
QUERY = '("acne vulgaris"[mh] OR acne[tiab]) AND (light[tiab] OR phototherapy[tiab])'


def data(name: str) -> bytes:
    return (DATA / name).read_bytes()


@dataclass
class Failure:
    """Reply ``status``/``body`` to the next ``times`` requests matching endpoint/retstart."""

    endpoint: str
    status: int
    times: int
    retstart: int | None = None
    body: bytes = b""
    headers: dict = field(default_factory=dict)


class FakeNCBI:
    """Serves esearch/efetch from recorded replies; logs every request."""

    def __init__(self, fmt: str = "medline"):
        self.fmt = fmt
        self.webenv = json.loads(self.esearch_body())["esearchresult"]["webenv"]
        self.log: list[dict] = []
        self.failures: list[Failure] = []
        self.count_override: int | None = None
        self.overrides: dict[int, bytes] = {}
        self.lock = threading.Lock()

    def esearch_body(self) -> bytes:
        body = data("esearch_medline.json" if self.fmt == "medline" else "esearch_xml.json")
        if getattr(self, "webenv", None) and getattr(self, "log", None) is not None:
            r = json.loads(body)
            r["esearchresult"]["webenv"] = self.webenv
            if self.count_override is not None:
                r["esearchresult"]["count"] = str(self.count_override)
            body = json.dumps(r).encode()
        return body

    def efetch_body(self, retstart: int, retmax: int) -> bytes:
        if retstart in self.overrides:
            return self.overrides[retstart]
        name = (f"efetch_medline_{retstart}.txt" if self.fmt == "medline"
                else f"efetch_xml_{retstart}.xml")
        if (DATA / name).exists() and retmax == min(2, 5 - retstart):
            return data(name)
        # other batch sizes: cut the same records out of the recorded replies
        if self.fmt == "medline":
            pool = [r.encode() for b in (0, 2, 4)
                    for _, r in split_medline(data(f"efetch_medline_{b}.txt").decode())]
            return b"".join(b"\n" + r for r in pool[retstart:retstart + retmax])
        pool = [r for b in (0, 2, 4) for _, r in split_pubmed_xml(data(f"efetch_xml_{b}.xml"))]
        head = data("efetch_xml_0.xml").split(b"<PubmedArticle>")[0]
        return head + b"\n".join(pool[retstart:retstart + retmax]) + b"\n</PubmedArticleSet>\n"

    def reply(self, method: str, path: str, params: dict) -> tuple[int, bytes, dict]:
        endpoint = path.rsplit("/", 1)[-1]
        with self.lock:
            self.log.append({"method": method, "endpoint": endpoint, **params})
            retstart = int(params.get("retstart", 0))
            for f in self.failures:
                if f.times > 0 and f.endpoint == endpoint and f.retstart in (None, retstart):
                    f.times -= 1
                    return f.status, f.body, f.headers
        if endpoint == "esearch.fcgi":
            return 200, self.esearch_body(), {"Content-Type": "application/json"}
        if endpoint == "efetch.fcgi":
            if params.get("WebEnv") != self.webenv or params.get("query_key") != "1":
                return 200, data("efetch_history_expired.xml"), {}
            return 200, self.efetch_body(retstart, int(params.get("retmax", 20))), {}
        return 404, b"not found", {}


@pytest.fixture
def ncbi() -> Iterator[tuple[FakeNCBI, str]]:
    fake = FakeNCBI()

    class Handler(BaseHTTPRequestHandler):
        def _go(self, method: str) -> None:
            url = urllib.parse.urlsplit(self.path)
            params = dict(urllib.parse.parse_qsl(url.query))
            if method == "POST":
                n = int(self.headers.get("Content-Length", 0))
                params.update(urllib.parse.parse_qsl(self.rfile.read(n).decode()))
            status, body, headers = fake.reply(method, url.path, params)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            self._go("GET")

        def do_POST(self) -> None:  # noqa: N802 - http.server API
            self._go("POST")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}/entrez/eutils/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class FakeClock:
    """Monotonic clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []
        self.starts: list[float] = []

    def clock(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        assert s >= 0
        self.sleeps.append(s)
        self.t += s

    def opener(self, req, timeout=None):
        self.starts.append(self.t)
        return urllib.request.urlopen(req, timeout=timeout)


def client(base: str, fc: FakeClock | None = None, **kw) -> EutilsClient:
    fc = fc or FakeClock()
    return EutilsClient(base, clock=fc.clock, sleep=fc.sleep, opener=fc.opener, **kw)


def efetches(fake: FakeNCBI) -> list[int]:
    return [int(r["retstart"]) for r in fake.log if r["endpoint"] == "efetch.fcgi"]


def medline_pmids(path: Path) -> list[str]:
    return [p for p, _ in split_medline(path.read_text(encoding="utf-8"))]


# --- esearch ---------------------------------------------------------------------------------

def test_esearch_json_and_params(ncbi):
    fake, base = ncbi
    c = client(base, email="reviewer@example.org")
    r = c.esearch(QUERY, mindate="2017/01/01", maxdate="2018/12/31")
    assert r.count == 5 and r.query_key == "1" and r.webenv.startswith("MCID_")
    assert "Title/Abstract" in r.query_translation and r.warnings == ()
    req = fake.log[0]
    assert req["method"] == "GET" and req["term"] == QUERY and req["usehistory"] == "y"
    assert req["db"] == "pubmed" and req["retmode"] == "json"
    assert req["tool"] == "evsynth" and req["email"] == "reviewer@example.org"
    assert (req["datetype"], req["mindate"], req["maxdate"]) == ("pdat", "2017/01/01",
                                                                 "2018/12/31")
    assert "api_key" not in req


def test_parse_esearch_xml_warnings_and_errors():
    r = parse_esearch(data("esearch_medline.xml"))
    assert r.count == 5 and r.webenv == "MCID_6650a1f2e4b0c3d2a1f09b77"
    assert r.ids == tuple(MEDLINE_PMIDS)
    r = parse_esearch(data("esearch_warnings.json"))
    assert r.count == 0
    assert r.warnings == ("PhraseNotFound: vertebroplastyy", "FieldNotFound: tiabx",
                          "OutputMessage: No items found.")
    with pytest.raises(InputError, match="PubMed rejected the query: Invalid query"):
        parse_esearch(data("esearch_error.json"))
    with pytest.raises(InputError, match="Empty term"):
        parse_esearch(data("esearch_error.xml"))
    with pytest.raises(EutilsError, match="neither JSON nor XML"):
        parse_esearch(b"<html")
    with pytest.raises(EutilsError, match="API rate limit"):
        parse_esearch(data("error_429.json"))


def test_long_query_is_posted(ncbi):
    fake, base = ncbi
    long_query = " OR ".join(f"term{i}[tiab]" for i in range(300))
    client(base).esearch(long_query)
    assert fake.log[0]["method"] == "POST" and fake.log[0]["term"] == long_query


# --- batching, formats -----------------------------------------------------------------------

def test_fetch_all_medline_in_batches(ncbi, tmp_path):
    fake, base = ncbi
    out = tmp_path / "review" / "searches" / "pubmed.nbib"
    res = client(base).fetch_all(QUERY, out, batch_size=2)
    assert res.count == 5 and res.records == 5 and res.batches_total == 3
    assert res.batches_fetched == 3 and res.requests == 4 and not res.resumed
    assert efetches(fake) == [0, 2, 4]
    assert [r["retmax"] for r in fake.log[1:]] == ["2", "2", "1"]
    for r in fake.log[1:]:
        assert r["rettype"] == "medline" and r["retmode"] == "text"
        assert r["WebEnv"] == fake.webenv and r["query_key"] == "1"
    assert medline_pmids(out) == MEDLINE_PMIDS
    # the saved file is the raw text received, batch after batch
    raw = b"".join(data(f"efetch_medline_{b}.txt") for b in (0, 2, 4))
    assert out.read_bytes() == raw
    state = json.loads(res.state_path.read_text())
    assert state["complete"] and state["count"] == 5 and state["records"] == 5
    assert not (tmp_path / "review" / "searches" / "pubmed.nbib.parts").exists()
    assert sorted(p.name for p in out.parent.iterdir()) == ["pubmed.nbib",
                                                            "pubmed.nbib.eutils.json"]


def test_fetch_all_xml(ncbi, tmp_path):
    fake, base = ncbi
    fake.fmt = "xml"
    fake.webenv = json.loads(data("esearch_xml.json"))["esearchresult"]["webenv"]
    out = tmp_path / "pubmed.xml"
    res = client(base).fetch_all("odontogenic", out, format="xml", batch_size=2)
    assert res.records == 5
    assert all(r.get("retmode") == "xml" and "rettype" not in r for r in fake.log[1:])
    root = ET.parse(out).getroot()
    assert root.tag == "PubmedArticleSet"
    assert [a.findtext("MedlineCitation/PMID") for a in root] == XML_PMIDS
    assert out.read_bytes().startswith(data("efetch_xml_0.xml")[:200])


def test_saved_medline_reads_with_records_reader(ncbi, tmp_path):
    io = pytest.importorskip("evsynth.records.io")
    fake, base = ncbi
    out = tmp_path / "pubmed.nbib"
    client(base).fetch_all(QUERY, out, batch_size=2)
    df = io.read(out)
    assert list(df["pmid"]) == MEDLINE_PMIDS


@pytest.mark.parametrize("batch_size", [1, 2, 3, 4, 5, 6, 500])
def test_any_batch_size_gives_each_record_once(ncbi, tmp_path, batch_size):
    fake, base = ncbi
    res = client(base).fetch_all(QUERY, tmp_path / "p.nbib", batch_size=batch_size)
    n = -(-5 // batch_size)
    assert efetches(fake) == [batch_size * i for i in range(n)]
    assert res.batches_total == n and res.records == 5 and res.warnings == ()
    assert medline_pmids(tmp_path / "p.nbib") == MEDLINE_PMIDS


# --- rate limiting ---------------------------------------------------------------------------

@pytest.mark.parametrize("api_key, interval", [(None, 1 / 3), ("abc123key", 1 / 10)])
def test_rate_limit_spacing(ncbi, tmp_path, api_key, interval):
    fake, base = ncbi
    fc = FakeClock()
    client(base, fc, api_key=api_key).fetch_all(QUERY, tmp_path / "p.nbib", batch_size=1)
    assert len(fc.starts) == 6
    gaps = [b - a for a, b in zip(fc.starts, fc.starts[1:], strict=False)]
    assert all(g == pytest.approx(interval) for g in gaps)
    assert fc.t - 1000.0 == pytest.approx(5 * interval)  # no more waiting than needed


def test_rate_limiter_only_waits_for_the_remainder():
    fc = FakeClock()
    rl = RateLimiter(3, fc.clock, fc.sleep)
    rl.wait()
    fc.t += 0.25  # time passes doing other work
    rl.wait()
    assert fc.sleeps == [pytest.approx(1 / 3 - 0.25)]
    fc.t += 5
    rl.wait()
    assert len(fc.sleeps) == 1


def test_api_key_passed_and_never_saved(ncbi, tmp_path):
    fake, base = ncbi
    res = client(base, api_key="abc123key", email="me@example.org", tool="myreview").fetch_all(
        QUERY, tmp_path / "p.nbib", batch_size=2)
    assert all(r["api_key"] == "abc123key" for r in fake.log)
    assert all(r["tool"] == "myreview" and r["email"] == "me@example.org" for r in fake.log)
    assert "abc123key" not in res.state_path.read_text()


def test_rate_above_ncbi_limit_refused():
    with pytest.raises(InputError, match="above NCBI's limit of 3/s without"):
        EutilsClient(rate=5)
    with pytest.raises(InputError, match="limit of 10/s with"):
        EutilsClient(api_key="k", rate=11)


# --- retries ---------------------------------------------------------------------------------

def test_retry_on_429_then_success(ncbi, tmp_path):
    fake, base = ncbi
    fake.failures.append(Failure("efetch.fcgi", 429, times=2, retstart=2,
                                 body=data("error_429.json")))
    fc = FakeClock()
    res = client(base, fc).fetch_all(QUERY, tmp_path / "p.nbib", batch_size=2)
    assert efetches(fake) == [0, 2, 2, 2, 4]
    assert res.records == 5 and res.requests == 6
    backoffs = [s for s in fc.sleeps if s >= 0.5]
    assert backoffs == [1.0, 2.0]  # exponential: backoff * 2**attempt


def test_retry_after_header_and_5xx_and_network_error(ncbi, tmp_path):
    fake, base = ncbi
    fake.failures.append(Failure("esearch.fcgi", 503, times=1, headers={"Retry-After": "7"}))
    fake.failures.append(Failure("efetch.fcgi", 502, times=1, retstart=0))
    fc = FakeClock()
    calls = {"n": 0}

    def flaky(req, timeout=None):
        calls["n"] += 1
        if calls["n"] == 3:  # the 3rd connection fails before reaching the server
            raise urllib.error.URLError(ConnectionResetError("connection reset"))
        return fc.opener(req, timeout)

    c = EutilsClient(base, clock=fc.clock, sleep=fc.sleep, opener=flaky)
    res = c.fetch_all(QUERY, tmp_path / "p.nbib", batch_size=5)
    assert res.records == 5
    assert [s for s in fc.sleeps if s >= 0.5] == [7.0, 1.0, 2.0]


def test_truncated_or_empty_reply_is_retried(ncbi, tmp_path):
    fake, base = ncbi
    fake.fmt = "xml"
    fake.webenv = json.loads(data("esearch_xml.json"))["esearchresult"]["webenv"]
    fake.failures.append(Failure("efetch.fcgi", 200, times=1, retstart=2,
                                 body=data("efetch_xml_2.xml")[:5000]))
    fake.failures.append(Failure("efetch.fcgi", 200, times=1, retstart=4, body=b"\n"))
    res = client(base).fetch_all("odontogenic", tmp_path / "p.xml", format="xml", batch_size=2)
    assert efetches(fake) == [0, 2, 2, 4, 4] and res.records == 5


def test_gives_up_after_max_retries(ncbi, tmp_path):
    fake, base = ncbi
    fake.failures.append(Failure("esearch.fcgi", 500, times=10, body=b"Internal error"))
    fc = FakeClock()
    with pytest.raises(EutilsError, match=r"failed after 3 attempts; last error: HTTP 500"):
        client(base, fc, max_retries=2, api_key="secretkey").esearch(QUERY)
    assert len(fake.log) == 3


def test_client_error_not_retried_and_key_hidden(ncbi):
    fake, base = ncbi
    fake.failures.append(Failure("esearch.fcgi", 400, times=1,
                                 body=b'{"error":"Invalid db name specified: pubmd"}'))
    with pytest.raises(EutilsError, match="HTTP 400.*Invalid db name") as info:
        client(base, api_key="secretkey").esearch(QUERY, db="pubmd")
    assert "secretkey" not in str(info.value)
    assert len(fake.log) == 1


def test_network_failure_everywhere(tmp_path):
    fc = FakeClock()

    def down(req, timeout=None):
        raise urllib.error.URLError(OSError("Name or service not known"))

    c = EutilsClient("http://127.0.0.1:9/", clock=fc.clock, sleep=fc.sleep, opener=down,
                     max_retries=3)
    with pytest.raises(EutilsError, match="failed after 4 attempts.*URLError"):
        c.fetch_all(QUERY, tmp_path / "p.nbib")
    assert [s for s in fc.sleeps if s >= 0.5] == [1.0, 2.0, 4.0]
    assert not (tmp_path / "p.nbib").exists()


# --- resume ----------------------------------------------------------------------------------

def test_resume_after_failure_mid_way(ncbi, tmp_path):
    fake, base = ncbi
    fake.failures.append(Failure("efetch.fcgi", 500, times=2, retstart=4))
    out = tmp_path / "pubmed.nbib"
    with pytest.raises(EutilsError, match="retstart=4"):
        client(base, max_retries=1).fetch_all(QUERY, out, batch_size=2)
    assert not out.exists()
    state = json.loads(out.with_name("pubmed.nbib.eutils.json").read_text())
    assert sorted(state["batches"]) == ["0", "1"] and not state["complete"]
    assert efetches(fake) == [0, 2, 4, 4]

    fake.log.clear()
    res = client(base).fetch_all(QUERY, out, batch_size=2)
    assert res.resumed and res.batches_fetched == 1 and res.records == 5
    assert [r["endpoint"] for r in fake.log] == ["efetch.fcgi"]  # no new esearch
    assert efetches(fake) == [4]
    assert medline_pmids(out) == MEDLINE_PMIDS

    fake.log.clear()
    again = client(base).fetch_all(QUERY, out, batch_size=2)
    assert fake.log == [] and again.requests == 0 and again.records == 5
    assert medline_pmids(out) == MEDLINE_PMIDS


def test_resume_refetches_a_damaged_batch(ncbi, tmp_path):
    fake, base = ncbi
    fake.failures.append(Failure("efetch.fcgi", 500, times=1, retstart=4))
    out = tmp_path / "p.nbib"
    with pytest.raises(EutilsError):
        client(base, max_retries=0).fetch_all(QUERY, out, batch_size=2)
    part = tmp_path / "p.nbib.parts" / "batch-00001.nbib"
    part.write_bytes(part.read_bytes()[:100])  # damaged on disk
    fake.log.clear()
    client(base).fetch_all(QUERY, out, batch_size=2)
    assert efetches(fake) == [2, 4] and medline_pmids(out) == MEDLINE_PMIDS


def test_resume_with_expired_history(ncbi, tmp_path):
    fake, base = ncbi
    fake.failures.append(Failure("efetch.fcgi", 500, times=1, retstart=2))
    out = tmp_path / "p.nbib"
    with pytest.raises(EutilsError):
        client(base, max_retries=0).fetch_all(QUERY, out, batch_size=2)
    fake.webenv = "MCID_new_session"  # the old WebEnv is gone
    fake.log.clear()
    res = client(base).fetch_all(QUERY, out, batch_size=2)
    assert [r["endpoint"] for r in fake.log] == ["efetch.fcgi", "esearch.fcgi", "efetch.fcgi",
                                                 "efetch.fcgi"]
    assert res.records == 5 and medline_pmids(out) == MEDLINE_PMIDS
    assert json.loads(res.state_path.read_text())["webenv"] == "MCID_new_session"


def test_expired_history_with_changed_count_refuses(ncbi, tmp_path):
    fake, base = ncbi
    fake.failures.append(Failure("efetch.fcgi", 500, times=1, retstart=2))
    out = tmp_path / "p.nbib"
    with pytest.raises(EutilsError):
        client(base, max_retries=0).fetch_all(QUERY, out, batch_size=2)
    fake.webenv = "MCID_new_session"
    fake.count_override = 6
    with pytest.raises(EutilsError, match="now matches 6 records instead of 5"):
        client(base).fetch_all(QUERY, out, batch_size=2)
    fake.count_override = None
    fake.log.clear()
    res = client(base).fetch_all(QUERY, out, batch_size=2, restart=True)
    assert efetches(fake) == [0, 2, 4] and res.records == 5 and not res.resumed


def test_duplicates_across_batches_are_written_once(ncbi, tmp_path):
    fake, base = ncbi
    # batch 2 overlaps batch 1 (as when records shift between requests)
    fake.overrides[4] = data("efetch_medline_4.txt") + data("efetch_medline_2.txt")[:3000]
    res = client(base).fetch_all(QUERY, tmp_path / "p.nbib", batch_size=2)
    pmids = medline_pmids(tmp_path / "p.nbib")
    assert pmids == MEDLINE_PMIDS and res.duplicates_dropped == 1 and res.records == 5
    assert res.warnings == ("efetch batch 3 (retstart 4): 2 records received, 1 expected",)


def test_short_batch_is_reported(ncbi, tmp_path):
    fake, base = ncbi
    fake.overrides[2] = data("efetch_medline_2.txt")[:3000]  # only the first record
    res = client(base).fetch_all(QUERY, tmp_path / "p.nbib", batch_size=2)
    assert res.count == 5 and res.records == 4
    assert res.warnings == ("efetch batch 2 (retstart 2): 1 records received, 2 expected",)


def test_state_of_another_search_refused(ncbi, tmp_path):
    fake, base = ncbi
    out = tmp_path / "p.nbib"
    client(base).fetch_all(QUERY, out, batch_size=2)
    with pytest.raises(InputError, match=r"p.nbib.eutils.json: belongs to a different search "
                                         r"\(term, batch_size differ\)"):
        client(base).fetch_all("other", out, batch_size=3)
    out.with_name("p.nbib.eutils.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="state file is damaged"):
        client(base).fetch_all(QUERY, out, batch_size=2)
    out.with_name("p.nbib.eutils.json").write_text('{"version": 99}', encoding="utf-8")
    with pytest.raises(InputError, match="not an evsynth E-utilities state file"):
        client(base).fetch_all(QUERY, out, batch_size=2)


def test_completed_but_output_deleted_fetches_again(ncbi, tmp_path):
    fake, base = ncbi
    out = tmp_path / "p.nbib"
    client(base).fetch_all(QUERY, out, batch_size=2)
    out.unlink()
    fake.log.clear()
    res = client(base).fetch_all(QUERY, out, batch_size=2)
    assert len(fake.log) == 4 and res.records == 5


def test_zero_results_and_too_many(ncbi, tmp_path):
    fake, base = ncbi
    fake.count_override = 0
    res = client(base).fetch_all(QUERY, tmp_path / "none.nbib")
    assert res.records == 0 and (tmp_path / "none.nbib").read_bytes() == b""
    fake.count_override = 12000
    with pytest.raises(InputError, match="matches 12000 records.*split it by date range"):
        client(base).fetch_all(QUERY, tmp_path / "many.nbib")


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0}, "batch size"),
    ({"batch_size": 10001}, "batch size"),
    ({"format": "csv"}, "output format"),
])
def test_fetch_all_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(InputError, match=match):
        EutilsClient().fetch_all(QUERY, tmp_path / "x", **kwargs)


def test_client_bad_arguments():
    with pytest.raises(InputError, match="base URL"):
        EutilsClient("ftp://example.org/")
    with pytest.raises(InputError, match="max_retries"):
        EutilsClient(max_retries=-1)
    with pytest.raises(InputError, match="tool is 'my tool'; expected a string without"):
        EutilsClient(tool="my tool")
    with pytest.raises(InputError, match="email"):
        EutilsClient(email="")
    with pytest.raises(InputError, match="api_key is empty"):
        EutilsClient(api_key=" ")
    with pytest.raises(InputError, match="non-empty search string"):
        EutilsClient().esearch("  ")
    with pytest.raises(InputError, match="both mindate and maxdate"):
        EutilsClient().esearch("x", mindate="2001")
    with pytest.raises(InputError, match="retmode"):
        EutilsClient().esearch("x", retmode="text")
    with pytest.raises(InputError, match="efetch format"):
        EutilsClient().efetch(webenv="w", query_key="1", retstart=0, retmax=1, format="csv")


# --- helpers ---------------------------------------------------------------------------------

def test_atomic_write_replaces_whole_file(tmp_path):
    p = tmp_path / "a" / "f.txt"
    atomic_write(p, b"one")
    atomic_write(p, b"two")
    assert p.read_bytes() == b"two" and [x.name for x in p.parent.iterdir()] == ["f.txt"]


def test_split_helpers_on_recorded_replies():
    recs = split_medline(data("efetch_medline_0.txt").decode())
    assert [p for p, _ in recs] == MEDLINE_PMIDS[:2]
    assert all(r.startswith("PMID- ") and r.endswith("\n") for _, r in recs)
    arts = split_pubmed_xml(data("efetch_xml_0.xml"))
    assert [p for p, _ in arts] == XML_PMIDS[:2]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 99_999_999), max_size=8))
def test_split_medline_property(ids):
    text = "".join(f"\nPMID- {i}\nTI  - title {i}\n      continued\nAU  - X Y\n" for i in ids)
    assert [p for p, _ in split_medline(text)] == [str(i) for i in ids]


# --- CLI: evsynth search pubmed ------------------------------------------------------------

@pytest.fixture
def fast(monkeypatch):
    """No real waiting in CLI runs: raise the per-second limits the client enforces."""
    import evsynth.records.eutils as eu

    monkeypatch.setattr(eu, "RATE_NO_KEY", 1000.0)
    monkeypatch.setattr(eu, "RATE_WITH_KEY", 1000.0)
    monkeypatch.delenv("NCBI_API_KEY", raising=False)
    monkeypatch.delenv("NCBI_EMAIL", raising=False)


REVIEW = '''
[[searches]]
database = "MEDLINE"
interface = "PubMed"
date_searched = 2018-12-31
date_from = 2017-01-01
date_to = 2018-12-31
query = '("acne vulgaris"[mh] OR acne[tiab]) AND (light[tiab] OR phototherapy[tiab])'
files = ["searches/pubmed.nbib"]

[[searches]]
database = "Embase"
interface = "Ovid"
query = "acne.mp."
files = ["searches/embase.ris"]
'''


def test_cli_pubmed_query(ncbi, tmp_path, capsys, fast):
    from evsynth.cli import main

    fake, base = ncbi
    rc = main(["search", "pubmed", str(tmp_path), "--query", QUERY, "--out", "s/pm.nbib",
               "--base-url", base, "--batch-size", "2", "--api-key", "k123",
               "--email", "a@b.org"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "PubMed: 5 records saved to s/pm.nbib (search count 5)" in out
    assert "add to review.toml:" in out and 'files = ["s/pm.nbib"]' in out
    assert "efetch: batch 3/3 (1 records)" in err
    assert medline_pmids(tmp_path / "s" / "pm.nbib") == MEDLINE_PMIDS
    assert all(r["api_key"] == "k123" and r["email"] == "a@b.org" for r in fake.log)


def test_cli_pubmed_from_searches_entry(ncbi, tmp_path, capsys, fast, monkeypatch):
    from evsynth.cli import main
    from evsynth.records.search import load_strategies

    fake, base = ncbi
    monkeypatch.setenv("NCBI_API_KEY", "envkey")
    (tmp_path / "review.toml").write_text(REVIEW, encoding="utf-8")
    rc = main(["search", "pubmed", str(tmp_path), "--database", "medline", "--base-url", base,
               "--quiet"])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    assert "saved to searches/pubmed.nbib" in out and "add to review.toml" not in out
    req = fake.log[0]
    assert req["term"] == QUERY and req["api_key"] == "envkey"
    assert (req["mindate"], req["maxdate"], req["datetype"]) == ("2017/01/01", "2018/12/31",
                                                                 "pdat")
    # the saved file is where review.toml says, and the entry now validates and counts
    s = load_strategies(tmp_path, check_files=False)[0]
    assert s.paths()[0].is_file()
    assert main(["search", "pubmed", str(tmp_path), "--search", "1", "--base-url", base]) == 0
    assert "already complete" in capsys.readouterr().err


@pytest.mark.parametrize("argv, match", [
    (["--search", "3"], "--search 3 but there are 2"),
    (["--database", "CINAHL"], "matches 0"),
    (["--database", "Embase"], "is searched via Ovid; expected a PubMed search"),
    (["--query", "x", "--date-from", "July 2011"], "--date-from"),
    (["--query", "x", "--batch-size", "0"], "batch size"),
])
def test_cli_pubmed_bad_input(tmp_path, capsys, fast, argv, match):
    from evsynth.cli import main

    (tmp_path / "review.toml").write_text(REVIEW, encoding="utf-8")
    rc = main(["search", "pubmed", str(tmp_path), *argv, "--base-url", "http://127.0.0.1:9/"])
    err = capsys.readouterr().err
    assert rc == 2 and match in err and "Traceback" not in err


def test_cli_pubmed_missing_review_dir(tmp_path, capsys):
    from evsynth.cli import main

    assert main(["search", "pubmed", str(tmp_path / "nope"), "--query", "x"]) == 2
    assert "review folder does not exist" in capsys.readouterr().err


def test_cli_pubmed_server_failure_exit_1(ncbi, tmp_path, capsys, fast):
    from evsynth.cli import main

    fake, base = ncbi
    fake.failures.append(Failure("efetch.fcgi", 503, times=5, retstart=2))
    argv = ["search", "pubmed", str(tmp_path), "--query", QUERY, "--out", "p.nbib",
            "--base-url", base, "--batch-size", "2", "--max-retries", "0", "--quiet"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "HTTP 503" in err and "run the same command again" in err
    fake.failures.clear()
    fake.log.clear()
    assert main(argv) == 0
    assert efetches(fake) == [2, 4]
    assert medline_pmids(tmp_path / "p.nbib") == MEDLINE_PMIDS
