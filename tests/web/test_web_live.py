"""Durability and concurrency against a live server (issue 16, point 6): reviewers screening
at once through HTTP lose no acknowledged decision, and an acknowledged decision survives
``kill -9`` of the server (SQLite store)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from web_helpers import PASSWORD, make_review

from evsynth.records.store import Store

uvicorn = pytest.importorskip("uvicorn")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(app):
    port = _free_port()
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


def _login(base: str, name: str) -> tuple[httpx.Client, str]:
    c = httpx.Client(base_url=base, follow_redirects=False, timeout=60)
    r = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', r.text).group(1)
    r = c.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303, r.text
    page = c.get("/").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return c, csrf


def test_concurrent_reviewers_lose_no_decision(tmp_path):
    from evsynth.web.app import create_app

    n = 24
    review = make_review(tmp_path / "r", n=n)
    with Store(review) as s:
        ids = s.record_ids()
    app = create_app(review)
    acked: list[tuple[str, str, str]] = []
    failures: list[str] = []
    lock = threading.Lock()
    try:
        with live_server(app) as base:
            clients = {name: _login(base, name) for name in ("ann", "bob")}

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
                    if r.status_code == 303:
                        with lock:
                            acked.append((name, rid, decision))
                    else:
                        with lock:
                            failures.append(f"{r.status_code} {r.text[:200]}")

            threads = [threading.Thread(target=work, args=(name, ids[k::3]))
                       for name in ("ann", "bob") for k in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            for c, _ in clients.values():
                c.close()
    finally:
        app.state.config.store.close()
    assert not failures, failures[:3]
    assert len(acked) == 2 * n
    with Store(review) as s:  # a fresh connection: what is committed
        h = s.decision_history("title-abstract")
    stored = set(zip(h["reviewer"], h["record_id"], h["decision"], strict=True))
    assert set(acked) <= stored and len(h) == 2 * n


def test_acknowledged_decisions_survive_kill_9(tmp_path):
    review = make_review(tmp_path / "r", n=8)
    with Store(review) as s:
        ids = s.record_ids()
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, "-m", "evsynth.cli", "serve", str(review),
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
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
        client, csrf = _login(base, "ann")
        for rid in ids[:5]:
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
    with Store(review) as s:
        h = s.decision_history()
    assert sorted(h["record_id"]) == sorted(ids[:5])
    assert set(h["reviewer"]) == {"ann"} and set(h["source"]) == {"web"}
