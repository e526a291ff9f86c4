"""``evsynth users`` and ``evsynth serve`` on the command line."""

from __future__ import annotations

import io
import sys
import tomllib
from pathlib import Path

from evsynth.cli import main
from evsynth.records.store import Store
from evsynth.web import accounts

ROOT = Path(__file__).resolve().parents[2]


def _stdin(monkeypatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


def test_users_add_list_role_password_remove(tmp_path, monkeypatch, capsys):
    review = tmp_path / "r"
    review.mkdir()
    _stdin(monkeypatch, "a long password\n")
    assert main(["users", "add", str(review), "olga", "--role", "owner",
                 "--password-stdin"]) == 0
    assert "user olga added (owner)" in capsys.readouterr().out
    _stdin(monkeypatch, "another password\n")
    assert main(["users", "add", str(review), "ann", "--password-stdin"]) == 0
    assert main(["users", "list", str(review)]) == 0
    out = capsys.readouterr().out
    assert "ann\treviewer" in out and "olga\towner" in out
    assert main(["users", "role", str(review), "ann", "viewer"]) == 0
    _stdin(monkeypatch, "a third password\n")
    assert main(["users", "password", str(review), "ann", "--password-stdin"]) == 0
    with Store(review) as s:
        assert accounts.get_role(s, "ann") == "viewer"
        assert accounts.authenticate(s, "ann", "a third password", "t") is not None
        with s.engine.connect() as conn:
            h = list(conn.exec_driver_sql("SELECT password_hash FROM users").scalars())
        assert h and all(x.startswith("$argon2id$") for x in h)
    assert main(["users", "remove", str(review), "ann"]) == 0
    capsys.readouterr()
    # errors: exit 2 with a message, no traceback
    _stdin(monkeypatch, "short\n")
    assert main(["users", "add", str(review), "bob", "--password-stdin"]) == 2
    assert "too short" in capsys.readouterr().err
    _stdin(monkeypatch, "a long password\n")
    assert main(["users", "add", str(review), "olga", "--password-stdin"]) == 2
    assert "already exists" in capsys.readouterr().err
    _stdin(monkeypatch, "a long password\n")
    assert main(["users", "add", str(review), "../x", "--password-stdin"]) == 2
    assert main(["users", "remove", str(review), "nobody"]) == 2
    assert main(["users", "list", str(tmp_path / "missing")]) == 2


def test_serve_defaults_and_missing_folder(tmp_path, capsys):
    from evsynth.cli import build_parser

    args = build_parser(["serve"]).parse_args(["serve", str(tmp_path)])
    assert args.host == "127.0.0.1" and args.port == 8000 and args.db is None
    assert main(["serve", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_templates_and_static_files_are_package_data():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    data = conf["tool"]["setuptools"]["package-data"]["evsynth"]
    web = ROOT / "src" / "evsynth" / "web"
    files = [p for d in ("templates", "static") for p in (web / d).iterdir()]
    assert files
    for p in files:
        rel = p.relative_to(ROOT / "src" / "evsynth").as_posix()
        assert any(Path(rel).match(pat) for pat in data), rel
    extras = conf["project"]["optional-dependencies"]
    names = {x.split(">")[0].split("=")[0] for x in extras["web"]}
    test = {x.split(">")[0].split("=")[0] for x in extras["test"]}
    assert names <= test and "httpx" in test
