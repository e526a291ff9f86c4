"""Helpers of the web-app tests: a review folder with records and accounts, logging in."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("starlette")
pytest.importorskip("argon2")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

from evsynth.records.store import Store  # noqa: E402
from evsynth.web import accounts  # noqa: E402

PASSWORD = "correct horse battery"
TOML = """
[screening]
exclusion_reasons_title_abstract = ["not a trial", "wrong population"]
exclusion_reasons_full_text = ["wrong outcome", "not retrieved"]
reviewers = ["ann", "bob", "olga"]
highlight_terms = ["vertebroplasty", "randomi*"]
highlight_exclusion_terms = ["cadaver*"]
"""


def ris(titles: list[str], start: int = 1) -> str:
    """An RIS export with one journal article per title."""
    out = []
    for i, t in enumerate(titles, start=start):
        out += ["TY  - JOUR", f"TI  - {t}", f"AU  - Author{i}, A.", f"PY  - {2000 + i % 20}",
                f"JO  - Journal {i}", f"AB  - Abstract {i}: a randomised trial of "
                "vertebroplasty in cadavers.", f"DO  - 10.1000/x.{i}", "ER  - ", ""]
    return "\n".join(out)


def make_review(path: Path, n: int = 6, users: dict[str, str] | None = None,
                titles: list[str] | None = None) -> Path:
    """A review folder: review.toml, an RIS import of ``titles`` (default ``n`` numbered
    vertebroplasty trials) and the accounts ``users`` (name: role)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "review.toml").write_text(TOML, encoding="utf-8")
    from evsynth.records import read

    f = path / "pubmed.ris"
    if titles is None:
        titles = [f"Trial number {i} of vertebroplasty" for i in range(1, n + 1)]
    f.write_text(ris(titles), encoding="utf-8")
    with Store(path) as store:
        store.add_import(read(f, database="MEDLINE"), str(f), "MEDLINE")
        for name, role in (users or {"olga": "owner", "ann": "reviewer", "bob": "reviewer",
                                     "vic": "viewer"}).items():
            accounts.add_user(store, name, PASSWORD, role)
    return path


def login(client: TestClient, name: str, password: str = PASSWORD) -> TestClient:
    r = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', r.text).group(1)
    r = client.post("/login", data={"username": name, "password": password,
                                    "csrf_token": token, "next": "/"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


def without_tokens(text: str) -> str:
    """A page without its CSRF token values (random letters and digits that may spell a
    reviewer's name), for checks that a name or word does not appear."""
    return re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token"', text)


def csrf_of(client: TestClient, url: str = "/") -> str:
    r = client.get(url)
    m = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
    assert m, r.text
    return m.group(1)




# ----------------------------------------------------------------------------- live servers
def free_port() -> int:
    """A TCP port free on 127.0.0.1 (for a live server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on a free port; yields the base URL."""
    uvicorn = pytest.importorskip("uvicorn")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        assert not thread.is_alive()


def http_login(base: str, name: str) -> tuple[httpx.Client, str]:
    """An httpx client logged in as ``name`` on a live server, and its CSRF token."""
    c = httpx.Client(base_url=base, follow_redirects=False, timeout=60)
    r = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', r.text).group(1)
    r = c.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303, r.text
    page = c.get("/").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return c, csrf


def concurrent_decisions(app: Any, ids: list[str], reviewers: tuple[str, ...] = ("ann", "bob"),
                         clients_each: int = 3) -> tuple[list[tuple[str, str, str]], list[str]]:
    """Reviewers deciding every record at once through a live server over ``app``, with
    ``clients_each`` HTTP clients (threads) per reviewer. Returns the acknowledged decisions
    ``(reviewer, record_id, decision)`` and the failures."""
    acked: list[tuple[str, str, str]] = []
    failures: list[str] = []
    lock = threading.Lock()
    with live_server(app) as base:
        clients = {name: http_login(base, name) for name in reviewers}

        def work(name: str, part: list[str]) -> None:
            client, csrf = clients[name]
            for rid in part:
                decision = "include" if hash((name, rid)) % 2 else "maybe"
                try:
                    r = client.post("/screen/title-abstract/decide",
                                    data={"csrf_token": csrf, "record_id": rid,
                                          "decision": decision})
                except httpx.HTTPError as exc:  # not acknowledged: may be lost
                    with lock:
                        failures.append(repr(exc))
                    continue
                with lock:
                    if r.status_code == 303:
                        acked.append((name, rid, decision))
                    else:
                        failures.append(f"{r.status_code} {r.text[:200]}")

        threads = [threading.Thread(target=work, args=(name, ids[k::clients_each]))
                   for name in reviewers for k in range(clients_each)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for c, _ in clients.values():
            c.close()
    return acked, failures


def decide_then_kill_9(review: Path, ids: list[str], *extra: str) -> None:
    """``evsynth serve REVIEW [extra...]`` in a subprocess; reviewer ann includes ``ids``
    through HTTP (each acknowledged), then the server is killed with SIGKILL."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, "-m", "evsynth.cli", "serve", str(review),
                             "--port", str(port), *extra], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 40
        while True:
            try:
                httpx.get(base + "/login", timeout=1)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "") \
                        from None
                time.sleep(0.1)
        client, csrf = http_login(base, "ann")
        for rid in ids:
            r = client.post("/screen/title-abstract/decide",
                            data={"csrf_token": csrf, "record_id": rid, "decision": "include"})
            assert r.status_code == 303
        client.close()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stderr:
            proc.stderr.close()
