"""``evsynth serve`` and ``evsynth users``: run the web app, manage its accounts.

::

    evsynth serve REVIEW_DIR [--host 127.0.0.1] [--port 8000] [--db URL]
    evsynth users add REVIEW_DIR NAME [--role owner|reviewer|viewer] [--password-stdin] [--db URL]
    evsynth users list REVIEW_DIR [--db URL]
    evsynth users remove REVIEW_DIR NAME [--db URL]
    evsynth users role REVIEW_DIR NAME ROLE [--db URL]
    evsynth users password REVIEW_DIR NAME [--password-stdin] [--db URL]

The server binds to 127.0.0.1 unless ``--host`` says otherwise; behind a reverse proxy give
``--proxy-headers`` so session cookies are marked Secure (https) and the login rate limit,
which counts failed logins per client address, sees each user's address rather than the
proxy's (uvicorn trusts X-Forwarded-For only from FORWARDED_ALLOW_IPS, default 127.0.0.1).
Accounts belong to the review (they are stored in its store); the password is asked twice on
a terminal, or read from the first line of standard input with ``--password-stdin``.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from evsynth.errors import InputError
from evsynth.textsafe import echo

SERVE_HELP = "run the web app for a review folder (import, deduplicate, screen in a browser)"
USERS_HELP = "manage the web app's accounts of a review (add, list, remove, role, password)"


def _store(args: argparse.Namespace) -> Any:
    from evsynth.records.store import Store

    review = Path(args.review_dir)
    if not review.is_dir():
        raise InputError(f"{review}: review folder does not exist; expected a directory")
    return Store(args.db if args.db else review)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise InputError("no terminal to ask for the password; expected --password-stdin")
    pw = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != pw:
        raise InputError("the two passwords differ")
    return pw


def cmd_users(args: argparse.Namespace) -> int:
    from evsynth.web import accounts

    what = args.users_command
    if what is None:
        raise InputError("expected a subcommand: add, list, remove, role or password")
    with _store(args) as store:
        if what == "add":
            accounts.check_username(args.name)
            accounts.check_role(args.role)
            accounts.add_user(store, args.name, _password(args), args.role)
            echo(f"user {args.name} added ({args.role})")
        elif what == "list":
            rows = accounts.list_users(store)
            if not rows:
                echo("No users.")
            for name, role, created in rows:
                echo(f"{name}\t{role}\t{created}")
        elif what == "remove":
            accounts.remove_user(store, args.name)
            echo(f"user {args.name} removed (their screening decisions stay in the store)")
        elif what == "role":
            accounts.set_role(store, args.name, args.role)
            echo(f"user {args.name} is now {args.role}")
        elif what == "password":
            accounts.set_password(store, args.name, _password(args))
            echo(f"password of {args.name} changed; their sessions were ended")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ModuleNotFoundError:
        raise InputError("the web app needs its extra; expected 'pip install "
                         "\"evsynth[web]\"'") from None
    from evsynth.web.accounts import list_users
    from evsynth.web.app import create_app

    app = create_app(args.review_dir, args.db, max_upload=args.max_upload_mb << 20,
                     max_pdf=args.max_pdf_mb << 20)
    store = app.state.config.store
    if not any(role == "owner" for _n, role, _c in list_users(store)):
        echo("evsynth: note: this review has no owner account yet; add one with 'evsynth "
             f"users add {args.review_dir} NAME --role owner'", err=True)
    url = store.engine.url.render_as_string(hide_password=True)
    echo(f"evsynth: serving {args.review_dir} (store {url}) on http://{args.host}:{args.port}/",
         err=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                proxy_headers=args.proxy_headers, server_header=False)
    return 0


def _db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL", help="SQLAlchemy URL of the store (e.g. "
                   "postgresql://user@host/review; default: REVIEW_DIR/evsynth.sqlite)")


def register(subparsers: Any) -> None:
    """Add ``evsynth serve`` and ``evsynth users`` to the CLI."""
    p = subparsers.add_parser("serve", help=SERVE_HELP, description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("review_dir")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    _db(p)
    p.add_argument("--max-upload-mb", type=int, default=200,
                   help="largest export upload in MB (default 200)")
    p.add_argument("--max-pdf-mb", type=int, default=50,
                   help="largest full-text PDF in MB (default 50)")
    p.add_argument("--proxy-headers", action="store_true",
                   help="trust X-Forwarded-Proto/For from a reverse proxy (https: Secure "
                   "cookies; the client address of the login rate limit); needed behind a "
                   "proxy")
    p.set_defaults(func=cmd_serve)

    u = subparsers.add_parser("users", help=USERS_HELP, description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = u.add_subparsers(dest="users_command", metavar="SUBCOMMAND")
    u.set_defaults(func=cmd_users)
    roles = ["owner", "reviewer", "viewer"]
    q = sub.add_parser("add", help="add an account")
    q.add_argument("review_dir")
    q.add_argument("name")
    q.add_argument("--role", choices=roles, default="reviewer")
    q.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of standard input")
    _db(q)
    q = sub.add_parser("list", help="list the accounts")
    q.add_argument("review_dir")
    _db(q)
    q = sub.add_parser("remove", help="remove an account")
    q.add_argument("review_dir")
    q.add_argument("name")
    _db(q)
    q = sub.add_parser("role", help="change an account's role")
    q.add_argument("review_dir")
    q.add_argument("name")
    q.add_argument("role", choices=roles)
    _db(q)
    q = sub.add_parser("password", help="set an account's password")
    q.add_argument("review_dir")
    q.add_argument("name")
    q.add_argument("--password-stdin", action="store_true")
    _db(q)
