"""The web app at 200,000 records: import time and memory, screening page and decision latency.

Steps (everything is built under ``--workdir``, default ``/tmp/evsynth-bench-web``; nothing is
written into the repository but this script's section of bench/RESULTS.md):

1. **Exports**: ``--n`` (200,000) synthetic but realistic records in four export files of
   four databases (MEDLINE as PubMed/MEDLINE text, Embase, CENTRAL and PsycINFO as RIS): titles
   and abstracts drawn from the words of the real exports in ``shared/data/records`` (read in
   place, never copied), 1-8 authors, journal, volume/issue/pages, year, DOI, keywords; the
   CENTRAL, Embase and PsycINFO files repeat about 8% of the MEDLINE records (same DOI and title),
   as overlapping database searches do. Abstracts of 120-260 words (about 1.2 kB).
2. **Import**: ``evsynth records import REVIEW_DIR`` (the four files listed under
   ``[[searches]]`` in review.toml) in a child process under ``/usr/bin/time -v``: wall time
   and peak resident set size of that process.
3. **Store state of a review in progress**: the planted duplicates set as duplicate groups
   (what ``evsynth records dedup`` would find; the deduplication itself is not timed here),
   and ``--seed-decided`` (40%) of the unique records already screened by ann and 30% by bob
   at the title-abstract stage (one transaction of ``Store.add_decisions`` per 5,000).
4. **Web**: two reviewer accounts (``evsynth users add --password-stdin``), ``evsynth serve`` on
   a free port, each worker logged in as one of the two reviewers; a local load generator (a
   thread pool of httpx clients, ``--workers`` concurrent) screens: GET
   ``/screen/title-abstract?after=<last>`` (the page after a decision, which the browser follows),
   parse the record, POST ``/screen/title-abstract/decide`` (include/exclude/maybe; CSRF token;
   the 303 is not followed), repeat. A second phase GETs ``/screen/title-abstract?rid=<random
   unique record>`` (jumping around: back/next links). Latencies are measured on the client:
   p50/p95/p99 per kind of request. The first page after the server starts (caches cold) is
   reported apart. Last, one client GETs the overview, records, progress, conflicts and PRISMA
   pages 5 times each (their latency and size).

    python bench/bench_web.py [--n 200000] [--requests 600] [--workers 4] [--no-write]
                              [--reuse]   # keep an existing workdir store (skip steps 1-3)
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_section  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "records"
PASSWORD = "bench password 1"
REVIEWERS = ("ann", "bob")
STAGE = "title-abstract"
TOML = """\
[screening]
exclusion_reasons_title_abstract = ["not a trial", "wrong population", "wrong intervention"]
exclusion_reasons_full_text = ["wrong outcome", "not retrieved"]
reviewers = ["ann", "bob"]
highlight_terms = ["randomi*", "trial", "placebo"]
highlight_exclusion_terms = ["rat", "mice", "cadaver*"]

[[searches]]
database = "MEDLINE"
files = ["exports/medline.nbib"]

[[searches]]
database = "Embase"
files = ["exports/embase.ris"]

[[searches]]
database = "CENTRAL"
files = ["exports/central.ris"]

[[searches]]
database = "PsycINFO"
files = ["exports/psycinfo.ris"]
"""
#: files and their share of the records
FILES = (("medline.nbib", 0.34), ("embase.ris", 0.30), ("central.ris", 0.18),
         ("psycinfo.ris", 0.18))
DUP_SHARE = 0.08

FALLBACK_WORDS = (
    "randomised controlled trial of early intervention versus usual care in adults with chronic "
    "pain depression anxiety outcomes were measured at baseline six and twelve months primary "
    "outcome secondary outcomes included quality of life adverse events and cost effectiveness "
    "participants were recruited from primary care clinics hospitals and community settings "
    "analysis followed intention to treat principles with mixed models results showed a "
    "significant reduction in symptoms compared with placebo conclusions further research is "
    "needed systematic review meta analysis cohort study prevalence incidence risk factors "
    "children adolescents older people women men patients caregivers nurses physicians").split()


# ----------------------------------------------------------------------------------------------
# 1. synthetic exports
# ----------------------------------------------------------------------------------------------
def vocabulary() -> tuple[list[str], list[str], list[str]]:
    """Words, surnames and journal names from the real exports in shared/data/records (read in
    place), or a small built-in list when they are absent."""
    words: list[str] = []
    surnames: list[str] = []
    journals: list[str] = []
    try:
        import warnings

        from evsynth.records import read

        files = [SHARED / "medline" / "revtools_restoration" / "restoration_pubmed.nbib",
                 SHARED / "medline" / "reflib_bluelight" / "blue-light.nbib",
                 SHARED / "ris" / "asreview" / "embase.ris",
                 SHARED / "ris" / "citesource_gambling" / "20221207_gambling-harms_scopus_255.ris"]
        for f in files:
            if not f.is_file():
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                df = read(f)
            for col in ("title", "abstract"):
                for text in df[col].dropna():
                    words += [w for w in re.findall(r"[A-Za-z][A-Za-z-]{1,20}", str(text))]
            for a in df["authors"]:
                surnames += [str(x).split(",")[0].strip() for x in (a or []) if str(x).strip()]
            journals += [str(j) for j in df["journal"].dropna()]
    except Exception as exc:  # the benchmark still runs without the shared data
        print(f"(vocabulary from the built-in list: {exc})", file=sys.stderr)
    if len(words) < 1000:
        words = list(FALLBACK_WORDS)
    if len(surnames) < 50:
        surnames = ["Smith", "Jones", "Garcia", "Müller", "Rossi", "Nguyen", "Kowalski", "Chen",
                    "Okafor", "Silva", "Andersen", "Dubois", "Tanaka", "Haddad", "O'Brien"]
    if len(journals) < 20:
        journals = ["BMJ", "Lancet", "JAMA", "PLoS One", "Trials", "BMC Medicine"]
    return words, sorted(set(surnames)), sorted(set(journals))


class Synth:
    """Record generator (deterministic for a seed)."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.words, self.surnames, self.journals = vocabulary()

    def sentence(self, lo: int, hi: int) -> str:
        ws = self.rng.choices(self.words, k=self.rng.randint(lo, hi))
        return " ".join(ws).capitalize()

    def record(self, i: int) -> dict[str, object]:
        rng = self.rng
        abstract = ". ".join(self.sentence(12, 26) for _ in range(rng.randint(6, 11))) + "."
        return dict(
            title=self.sentence(7, 18) + f" ({i})",
            authors=[f"{rng.choice(self.surnames)}, {chr(65 + rng.randrange(26))}."
                     for _ in range(rng.randint(1, 8))],
            year=rng.randint(1985, 2024), journal=rng.choice(self.journals),
            volume=str(rng.randint(1, 400)), issue=str(rng.randint(1, 12)),
            start=rng.randint(1, 3000), doi=f"10.{1000 + i % 9000}/bench.{i:07d}",
            pmid=str(10_000_000 + i), abstract=abstract,
            keywords=[" ".join(rng.choices(self.words, k=rng.randint(1, 3)))
                      for _ in range(rng.randint(3, 6))])


def ris_record(r: dict[str, object]) -> str:
    lines = ["TY  - JOUR", f"TI  - {r['title']}"]
    lines += [f"AU  - {a}" for a in r["authors"]]  # type: ignore[attr-defined]
    lines += [f"PY  - {r['year']}", f"JO  - {r['journal']}", f"VL  - {r['volume']}",
              f"IS  - {r['issue']}", f"SP  - {r['start']}", f"EP  - {int(r['start']) + 9}",  # type: ignore[call-overload]
              f"DO  - {r['doi']}", f"AB  - {r['abstract']}"]
    lines += [f"KW  - {k}" for k in r["keywords"]]  # type: ignore[attr-defined]
    lines += ["ER  - ", ""]
    return "\n".join(lines) + "\n"


def medline_record(r: dict[str, object]) -> str:
    def wrap(tag: str, text: str) -> list[str]:
        out, line = [], ""
        for w in text.split(" "):
            if line and len(line) + len(w) > 80:
                out.append(line)
                line = w
            else:
                line = f"{line} {w}" if line else w
        out.append(line)
        return [f"{tag:<4}- {out[0]}"] + [f"      {x}" for x in out[1:]]

    lines = [f"PMID- {r['pmid']}", "OWN - NLM", "STAT- MEDLINE"]
    lines += wrap("TI", str(r["title"]))
    lines += [f"PG  - {r['start']}-{int(r['start']) + 9}"]  # type: ignore[call-overload]
    lines += [f"LID - {r['doi']} [doi]"]
    lines += wrap("AB", str(r["abstract"]))
    for a in r["authors"]:  # type: ignore[attr-defined]
        lines += [f"FAU - {a}", f"AU  - {str(a).replace(',', '').replace('.', '')}"]
    lines += [f"JT  - {r['journal']}", f"VI  - {r['volume']}", f"IP  - {r['issue']}",
              f"DP  - {r['year']} Mar"]
    lines += [f"OT  - {k}" for k in r["keywords"]]  # type: ignore[attr-defined]
    lines += ["", ""]
    return "\n".join(lines)


def write_exports(review: Path, n: int, seed: int = 1) -> dict[str, list[int]]:
    """The four export files; returns, per file, the MEDLINE record index each record repeats
    (-1: an original record)."""
    syn = Synth(seed)
    (review / "exports").mkdir(parents=True, exist_ok=True)
    sizes = [int(n * share) for _, share in FILES]
    sizes[0] += n - sum(sizes)
    repeats: dict[str, list[int]] = {}
    medline: list[dict[str, object]] = []
    k = 0
    for (name, _), size in zip(FILES, sizes, strict=True):
        fmt = medline_record if name.endswith(".nbib") else ris_record
        rep: list[int] = []
        with open(review / "exports" / name, "w", encoding="utf-8") as fh:
            for _ in range(size):
                if medline and syn.rng.random() < DUP_SHARE:
                    j = syn.rng.randrange(len(medline))
                    rec = dict(medline[j])
                    rec["title"] = str(rec["title"]).upper() if syn.rng.random() < .3 \
                        else rec["title"]
                    rep.append(j)
                else:
                    rec = syn.record(k)
                    k += 1
                    rep.append(-1)
                    if name.endswith(".nbib"):
                        medline.append(rec)
                fh.write(fmt(rec))
        repeats[name] = rep
        if not name.endswith(".nbib"):
            continue
        # MEDLINE records are kept only for the repeats in the later files (titles etc.)
    return repeats


# ----------------------------------------------------------------------------------------------
# 2. import under /usr/bin/time -v
# ----------------------------------------------------------------------------------------------
def timed_import(review: Path) -> dict[str, float]:
    cmd = [sys.executable, "-m", "evsynth.cli", "records", "import", str(review)]
    t0 = time.perf_counter()
    if Path("/usr/bin/time").exists():
        p = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            raise SystemExit(f"import failed:\n{p.stdout}\n{p.stderr}")
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
        rss_kb = float(m.group(1)) if m else float("nan")
    else:  # peak RSS of the child from getrusage (Linux: kilobytes)
        import resource

        p = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            raise SystemExit(f"import failed:\n{p.stdout}\n{p.stderr}")
        rss_kb = float(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print(p.stdout.strip())
    return dict(wall_s=wall, peak_rss_mb=rss_kb / 1024)


# ----------------------------------------------------------------------------------------------
# 3. duplicates and decisions already made
# ----------------------------------------------------------------------------------------------
def seed_state(review: Path, repeats: dict[str, list[int]], share: tuple[float, ...],
               seed: int = 2) -> dict[str, float]:
    from evsynth.records.store import Store

    rng = random.Random(seed)
    with Store(review) as store:
        ids = store.record_ids()
        by_file: dict[str, list[str]] = {}
        for rid in ids:
            by_file.setdefault(rid.rsplit(":", 1)[0].split("/")[-1], []).append(rid)
        medline_ids = by_file["medline.nbib"]
        groups: dict[str, str] = {}
        for name, rep in repeats.items():
            for rid, j in zip(by_file[name], rep, strict=True):
                groups[rid] = medline_ids[j] if j >= 0 else rid
        t0 = time.perf_counter()
        store.set_duplicate_groups(groups, method="auto")
        t_dup = time.perf_counter() - t0
        reps = [r for r, g in store.duplicate_groups().items() if r == g]
        n_dec = 0
        for who, frac in zip(REVIEWERS, share, strict=True):
            chosen = reps[: int(len(reps) * frac)]
            for i in range(0, len(chosen), 5000):
                rows = []
                for rid in chosen[i:i + 5000]:
                    d = rng.choices(("include", "exclude", "maybe"), (1, 8, 1))[0]
                    rows.append(dict(record_id=rid, stage=STAGE, decision=d, reviewer=who,
                                     reason="not a trial" if d == "exclude" else None,
                                     source="bench"))
                n_dec += store.add_decisions(rows)
    return dict(n_records=len(ids), n_unique=len(reps), n_decisions=n_dec,
                dedup_write_s=round(t_dup, 1))


# ----------------------------------------------------------------------------------------------
# 4. the server and the load generator
# ----------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def add_users(review: Path) -> None:
    for name in REVIEWERS:
        p = subprocess.run([sys.executable, "-m", "evsynth.cli", "users", "add", str(review),
                            name, "--role", "reviewer", "--password-stdin"],
                           input=PASSWORD + "\n", text=True, capture_output=True)
        if p.returncode != 0 and "exists" not in p.stderr:  # --reuse: the accounts are there
            raise SystemExit(f"evsynth users add {name} failed: {p.stderr}")


def start_server(review: Path, port: int) -> subprocess.Popen[bytes]:
    log = open(review.parent / "serve.log", "wb")  # noqa: SIM115 (kept open with the server)
    p = subprocess.Popen([sys.executable, "-m", "evsynth.cli", "serve", str(review), "--port",
                          str(port)], stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True)
    import httpx

    deadline = time.time() + 120
    while time.time() < deadline:
        if p.poll() is not None:
            raise SystemExit(f"evsynth serve exited ({p.returncode}); see {log.name}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
            return p
        except httpx.HTTPError:
            time.sleep(0.3)
    p.kill()
    raise SystemExit("evsynth serve did not answer within 120 s")


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_RID = re.compile(r'<input type="hidden" name="record_id" value="([^"]+)">')


def login(base: str, name: str):  # type: ignore[no-untyped-def]
    import httpx

    c = httpx.Client(base_url=base, timeout=120, follow_redirects=False)
    r = c.get("/login")
    token = _CSRF.search(r.text)
    assert token, r.text[:500]
    r = c.post("/login", data={"username": name, "password": PASSWORD,
                               "csrf_token": token.group(1), "next": "/"})
    assert r.status_code == 303, (r.status_code, r.text[:500])
    return c


def _unescape(s: str) -> str:
    import html

    return html.unescape(s)


def screen_worker(client, n: int, start_after: str | None, seed: int,  # type: ignore[no-untyped-def]
                  get_ms: list[float], post_ms: list[float], lock: threading.Lock) -> int:
    rng = random.Random(seed)
    after = start_after
    csrf = None
    made = 0
    for _ in range(n):
        url = f"/screen/{STAGE}" + (f"?after={after}" if after else "")
        t0 = time.perf_counter()
        r = client.get(url)
        dt = (time.perf_counter() - t0) * 1000
        assert r.status_code == 200, (r.status_code, r.text[:300])
        m = _RID.search(r.text)
        if m is None:
            break  # nothing left
        rid = _unescape(m.group(1))
        csrf = csrf or _unescape(_CSRF.search(r.text).group(1))  # type: ignore[union-attr]
        d = rng.choices(("include", "exclude", "maybe"), (1, 8, 1))[0]
        data = {"csrf_token": csrf, "record_id": rid, "decision": d}
        if d == "exclude":
            data["reason"] = "not a trial"
        t1 = time.perf_counter()
        r = client.post(f"/screen/{STAGE}/decide", data=data,
                        headers={"origin": str(client.base_url).rstrip("/")})
        dp = (time.perf_counter() - t1) * 1000
        assert r.status_code == 303, (r.status_code, r.text[:300])
        with lock:
            get_ms.append(dt)
            post_ms.append(dp)
        after = rid
        made += 1
    return made


def jump_worker(client, rids: list[str], seed: int, out: list[float],  # type: ignore[no-untyped-def]
                lock: threading.Lock) -> int:
    from urllib.parse import quote

    rng = random.Random(seed)
    for _ in range(len(rids)):
        rid = rng.choice(rids)
        t0 = time.perf_counter()
        r = client.get(f"/screen/{STAGE}?rid={quote(rid, safe='')}")
        dt = (time.perf_counter() - t0) * 1000
        assert r.status_code == 200, (r.status_code, r.text[:300])
        with lock:
            out.append(dt)
    return len(rids)


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * len(s) + 0.5)) - 1))]


def summary(name: str, xs: list[float]) -> dict[str, object]:
    return {"request": name, "n": len(xs), "p50 ms": pct(xs, 50), "p95 ms": pct(xs, 95),
            "p99 ms": pct(xs, 99), "mean ms": statistics.fmean(xs) if xs else float("nan"),
            "max ms": max(xs) if xs else float("nan")}


#: the pages timed after the screening phase (path: what it shows)
PAGES = {"/": "overview", "/records": "imports and deduplication", "/progress":
         "progress and agreement", "/conflicts": "unresolved conflicts, first page",
         "/prisma": "PRISMA flow"}


def load(review: Path, requests: int, workers: int) -> tuple[list[dict[str, object]], float]:
    from evsynth.records.store import Store

    with Store(review) as store:
        reps = [r for r, g in store.duplicate_groups().items() if r == g]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    add_users(review)
    server = start_server(review, port)
    try:
        clients = [login(base, REVIEWERS[i % len(REVIEWERS)]) for i in range(workers)]
        t0 = time.perf_counter()
        r = clients[0].get(f"/screen/{STAGE}")
        cold = (time.perf_counter() - t0) * 1000
        assert r.status_code == 200, r.text[:300]
        clients[1 % workers].get(f"/screen/{STAGE}")
        get_ms: list[float] = []
        page_ms: dict[str, list[float]] = {}
        page_kb: dict[str, float] = {}
        post_ms: list[float] = []
        jump_ms: list[float] = []
        lock = threading.Lock()
        rng = random.Random(3)
        # each worker starts at its own place in the queue (people screen different parts)
        starts = [None] + [rng.choice(reps[len(reps) // 2:]) for _ in range(workers - 1)]
        per = max(1, requests // workers)
        with cf.ThreadPoolExecutor(workers) as ex:
            futs = [ex.submit(screen_worker, clients[i], per, starts[i], 10 + i, get_ms, post_ms,
                              lock) for i in range(workers)]
            made = sum(f.result() for f in futs)
        print(f"{made} decisions made through the web app")
        sample = rng.sample(reps, min(len(reps), per))
        with cf.ThreadPoolExecutor(workers) as ex:
            futs = [ex.submit(jump_worker, clients[i], sample, 20 + i, jump_ms, lock)
                    for i in range(workers)]
            for f in futs:
                f.result()
        # the other pages (overview, records, progress, conflicts, PRISMA), one client
        # after the other, each page 5 times
        for path in PAGES:
            for _ in range(5):
                t0 = time.perf_counter()
                r = clients[0].get(path)
                page_ms.setdefault(path, []).append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, (path, r.status_code, r.text[:300])
                page_kb[path] = len(r.content) / 1024
        for c in clients:
            c.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    rows = [summary(f"GET /screen/{STAGE}?after=... (next record)", get_ms),
            summary(f"POST /screen/{STAGE}/decide", post_ms),
            summary(f"GET /screen/{STAGE}?rid=... (jump to a record)", jump_ms),
            summary("all screening page GETs", get_ms + jump_ms)]
    rows += [summary(f"GET {path} ({PAGES[path]}, {page_kb[path]:,.0f} kB)", page_ms[path])
             for path in PAGES]
    return rows, cold


# ----------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--requests", type=int, default=600,
                    help="decisions (GET + POST pairs) made in the screening phase")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--seed-decided", default="0.4,0.3",
                    help="shares of the unique records already screened by ann and bob")
    ap.add_argument("--workdir", default="/tmp/evsynth-bench-web")
    ap.add_argument("--reuse", action="store_true",
                    help="keep the store of an earlier run (no exports, import, seeding)")
    ap.add_argument("--import-only", action="store_true")
    ap.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    ap.add_argument("--note", default="", help="a paragraph added to the RESULTS.md section "
                    "(e.g. the numbers before a change)")
    a = ap.parse_args(argv)
    work = Path(a.workdir)
    review = work / "review"
    share = tuple(float(x) for x in a.seed_decided.split(","))
    imp: dict[str, float] | None = None
    state: dict[str, float] | None = None
    if not a.reuse:
        if work.exists():
            shutil.rmtree(work)
        review.mkdir(parents=True)
        (review / "review.toml").write_text(TOML, encoding="utf-8")
        t0 = time.perf_counter()
        repeats = write_exports(review, a.n)
        size = sum(f.stat().st_size for f in (review / "exports").iterdir())
        print(f"exports: {a.n} records, {size / 1e6:.0f} MB ({time.perf_counter() - t0:.0f} s)")
        imp = timed_import(review)
        imp["export_mb"] = size / 1e6
        print(f"import: {imp['wall_s']:.1f} s, peak RSS {imp['peak_rss_mb']:.0f} MB")
        if a.import_only:
            return 0
        state = seed_state(review, repeats, share)
        print(f"state: {state}")
    rows, cold = load(review, a.requests, a.workers)
    import pandas as pd
    from _results import table

    res = pd.DataFrame(rows)
    text = table(res, floatfmt=".1f")
    print(text)
    print(f"first page after start (cold caches): {cold:.0f} ms")
    if not a.no_write and imp is not None and state is not None:
        body = (
            f"`python bench/bench_web.py --n {a.n} --requests {a.requests} --workers "
            f"{a.workers}` on the shared 2-core machine (server, load generator and SQLite store "
            "on the same machine).\n\n"
            f"**Import**: {a.n:,} synthetic records in four export files (MEDLINE text + 3 RIS, "
            f"{imp['export_mb']:.0f} MB, ~8% cross-database repeats) with `evsynth records "
            f"import` in one child process: **{imp['wall_s']:.1f} s wall, peak RSS "
            f"{imp['peak_rss_mb']:.0f} MB** (`/usr/bin/time -v`). Target: < 60 s, < 1 GB.\n\n"
            f"**Screening** (title-abstract) over that store after the repeats were grouped as "
            f"duplicates ({state['n_unique']:,} unique records) and {state['n_decisions']:,} "
            f"decisions already made ({share[0]:.0%} of the unique records by ann, "
            f"{share[1]:.0%} by bob): `evsynth serve` (uvicorn, one process), {a.workers} "
            "concurrent httpx clients logged in as the two reviewers, each screening "
            "(GET the next page, POST a decision, 303 not followed), then jumping to random "
            "records (GET `?rid=`); then the other pages, 5 times each, one after the other; "
            "client-side latencies. Target: screening page p95 < 100 ms."
            "\n\n" + text + f"\n\nFirst page after the server starts (caches built): "
            f"{cold:.0f} ms.\n" + (f"\n{a.note}\n" if a.note else ""))
        write_section("web", "Web app at 200,000 records (bench/bench_web.py)", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
