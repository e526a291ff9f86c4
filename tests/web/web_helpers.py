"""Helpers of the web-app tests: a review folder with records and accounts, logging in."""

from __future__ import annotations

import re
from pathlib import Path

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


def make_review(path: Path, n: int = 6, users: dict[str, str] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "review.toml").write_text(TOML, encoding="utf-8")
    from evsynth.records import read

    f = path / "pubmed.ris"
    f.write_text(ris([f"Trial number {i} of vertebroplasty" for i in range(1, n + 1)]),
                 encoding="utf-8")
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


def csrf_of(client: TestClient, url: str = "/") -> str:
    r = client.get(url)
    m = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
    assert m, r.text
    return m.group(1)


