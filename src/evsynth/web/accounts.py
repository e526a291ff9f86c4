"""Accounts, roles, login sessions and login rate limiting of the web app.

Everything lives in the review's store (schema version 2, :mod:`evsynth.records.store`):

* ``users``: one row per account of this review, with its role (``owner`` manages records,
  duplicates and conflicts; ``reviewer`` screens; ``viewer`` only reads). Passwords are stored
  as argon2id hashes (argon2-cffi's defaults, RFC 9106); a hash made with older parameters is
  replaced at the next successful login.
* ``web_sessions``: a session is a random 256-bit token held by the browser in an HttpOnly
  cookie; the store keeps only its SHA-256, so a copy of the database does not hand out
  sessions. Each session has its own CSRF token and an absolute expiry.
* ``login_attempts``: failed logins within :data:`WINDOW` are counted per *(user name, client
  address)* and per client address; past :data:`MAX_FAILURES_USER` failures for one name from
  one address, or :data:`MAX_FAILURES_CLIENT` from one address (any names), that address's
  logins (for that name, or at all) are refused (HTTP 429) until the window has passed. The
  lockout is per address so that someone elsewhere cannot lock an account (the owner's
  included) by typing wrong passwords for its name: the account's own user, from another
  address, still logs in. (A password guesser with many addresses gets
  :data:`MAX_FAILURES_USER` tries per address and window, each costing an argon2id
  verification; the passwords are at least :data:`MIN_PASSWORD` characters.)

  The client address is the one the server sees. Behind a reverse proxy every request comes
  from the proxy's address, so all users would share one per-address count (and one user's
  typos would lock everyone out): run ``evsynth serve --proxy-headers`` there, so the address
  is taken from the proxy's ``X-Forwarded-For`` (uvicorn trusts it only from the addresses in
  ``FORWARDED_ALLOW_IPS``, default 127.0.0.1: a proxy on another machine must be listed there).

Because accounts are stored with the review, a user of one review has no account in another
review's store, and a session token of one review is unknown to another.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from evsynth.errors import InputError
from evsynth.records.store import ROLES, Store, T, now

#: how long a login session lasts
SESSION_LIFETIME = _dt.timedelta(hours=12)
#: window of the login rate limit
WINDOW = _dt.timedelta(minutes=15)
#: failed logins for one user name from one client address within WINDOW before further
#: attempts at that name from that address are refused
MAX_FAILURES_USER = 5
#: failed logins from one client address within WINDOW before further attempts are refused
MAX_FAILURES_CLIENT = 20
#: allowed user names
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
#: minimum password length
MIN_PASSWORD = 8

#: roles that may record screening decisions and attach full texts
SCREEN_ROLES = ("owner", "reviewer")
#: roles that may import, deduplicate and resolve conflicts
OWNER_ROLES = ("owner",)


def _hasher() -> Any:  # argon2 is an optional dependency (the ``web`` extra)
    try:
        from argon2 import PasswordHasher
    except ModuleNotFoundError:  # pragma: no cover - depends on the installation
        raise InputError("the web app needs argon2-cffi; expected 'pip install "
                         "evsynth[web]'") from None
    return PasswordHasher()


def hash_password(password: str) -> str:
    """argon2id hash of ``password`` (InputError if it is shorter than MIN_PASSWORD)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InputError(f"password too short; expected at least {MIN_PASSWORD} characters")
    return str(_hasher().hash(password))


def check_username(username: str) -> str:
    """``username`` if it is a valid user name, else InputError."""
    if not isinstance(username, str) or not USERNAME_RE.match(username):
        raise InputError(f"user name {username!r}; expected 1-64 letters, digits or . _ @ - "
                         "(starting with a letter or digit)")
    return username


def check_role(role: str) -> str:
    """``role`` if it is a known role, else InputError."""
    if role not in ROLES:
        raise InputError(f"role {role!r}; expected one of {list(ROLES)}")
    return role


@dataclass(frozen=True)
class User:
    """A logged-in user: name, role in this review and the session's CSRF token."""

    username: str
    role: str
    csrf_token: str = ""

    @property
    def can_screen(self) -> bool:
        return self.role in SCREEN_ROLES

    @property
    def is_owner(self) -> bool:
        return self.role in OWNER_ROLES


def add_user(store: Store, username: str, password: str, role: str = "reviewer") -> None:
    """Create an account in this review's store (InputError if the name is taken)."""
    check_username(username)
    check_role(role)
    pw = hash_password(password)
    u = T["users"]
    with store.transaction() as conn:
        if conn.execute(sa.select(u.c.username).where(u.c.username == username)).first():
            raise InputError(f"user {username!r} already exists; expected a new user name")
        conn.execute(u.insert().values(username=username, password_hash=pw, role=role,
                                       created_at=now()))


def set_role(store: Store, username: str, role: str) -> None:
    """Change a user's role."""
    check_role(role)
    u = T["users"]
    with store.transaction() as conn:
        n = conn.execute(u.update().where(u.c.username == username).values(role=role)).rowcount
    if not n:
        raise InputError(f"user {username!r} does not exist")


def set_password(store: Store, username: str, password: str) -> None:
    """Replace a user's password (their sessions are ended)."""
    pw = hash_password(password)
    u, s = T["users"], T["web_sessions"]
    with store.transaction() as conn:
        n = conn.execute(u.update().where(u.c.username == username)
                         .values(password_hash=pw)).rowcount
        conn.execute(s.delete().where(s.c.username == username))
    if not n:
        raise InputError(f"user {username!r} does not exist")


def remove_user(store: Store, username: str) -> None:
    """Delete an account and its sessions (its screening decisions stay in the history)."""
    u, s = T["users"], T["web_sessions"]
    with store.transaction() as conn:
        conn.execute(s.delete().where(s.c.username == username))
        n = conn.execute(u.delete().where(u.c.username == username)).rowcount
    if not n:
        raise InputError(f"user {username!r} does not exist")


def list_users(store: Store) -> list[tuple[str, str, str]]:
    """``[(username, role, created_at)]`` sorted by name."""
    u = T["users"]
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(u.c.username, u.c.role, u.c.created_at)
                            .order_by(u.c.username)).all()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def get_role(store: Store, username: str) -> str | None:
    """The role of ``username`` in this review (None: no such user)."""
    u = T["users"]
    with store.engine.connect() as conn:
        r = conn.execute(sa.select(u.c.role).where(u.c.username == username)).scalar()
    return None if r is None else str(r)


# ----------------------------------------------------------------------------- login
class RateLimited(Exception):
    """Too many failed logins (for the user name from this client, or from this client)
    within WINDOW."""


def _since(delta: _dt.timedelta) -> str:
    return (_dt.datetime.now(_dt.UTC) - delta).isoformat(timespec="microseconds")


def recent_failures(store: Store, *, username: str | None = None,
                    client: str | None = None) -> int:
    """Failed login attempts within WINDOW for a user name, a client address, or (both
    given) that user name from that client address."""
    a = T["login_attempts"]
    q = sa.select(sa.func.count()).select_from(a).where(
        a.c.succeeded.is_(False), a.c.attempted_at >= _since(WINDOW))
    if username is not None:
        q = q.where(a.c.username == username[:255])
    if client is not None:
        q = q.where(a.c.client == client[:64])
    with store.engine.connect() as conn:
        return int(conn.execute(q).scalar() or 0)


_DUMMY_HASH: list[str] = []


def authenticate(store: Store, username: str, password: str, client: str) -> User | None:
    """Check a login; returns the user or None (wrong name or password).

    Raises :class:`RateLimited` when the user name has too many recent failures from this
    client, or the client has too many (checked before the password, so guessing goes no
    faster); failures from other addresses do not lock the name here. Every attempt is
    logged; an unknown user name costs the same argon2 verification as a known one.
    """
    from argon2.exceptions import InvalidHashError, VerificationError

    username = str(username)[:255]
    client = str(client)[:64]
    if (recent_failures(store, username=username, client=client) >= MAX_FAILURES_USER
            or recent_failures(store, client=client) >= MAX_FAILURES_CLIENT):
        raise RateLimited(username)
    u = T["users"]
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(u.c.password_hash, u.c.role)
                           .where(u.c.username == username)).first()
    ph = _hasher()
    ok = False
    if row is None:
        if not _DUMMY_HASH:
            _DUMMY_HASH.append(ph.hash(secrets.token_hex(16)))
        try:
            ph.verify(_DUMMY_HASH[0], password)
        except (VerificationError, InvalidHashError):
            pass
    else:
        try:
            ok = bool(ph.verify(row.password_hash, password))
        except (VerificationError, InvalidHashError):
            ok = False
    with store.transaction() as conn:
        conn.execute(T["login_attempts"].insert().values(
            username=username, client=client, succeeded=ok, attempted_at=now()))
        if ok and row is not None and ph.check_needs_rehash(row.password_hash):
            conn.execute(u.update().where(u.c.username == username)
                         .values(password_hash=ph.hash(password)))
    if not ok or row is None:
        return None
    return User(username, str(row.role))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_session(store: Store, username: str) -> tuple[str, str]:
    """Start a session; returns ``(token for the cookie, CSRF token)``."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    ts = _dt.datetime.now(_dt.UTC)
    with store.transaction() as conn:
        conn.execute(T["web_sessions"].insert().values(
            token_hash=_token_hash(token), username=username, csrf_token=csrf,
            created_at=ts.isoformat(timespec="microseconds"),
            expires_at=(ts + SESSION_LIFETIME).isoformat(timespec="microseconds")))
    return token, csrf


def session_user(store: Store, token: str | None) -> User | None:
    """The user of a live session token (None: no, unknown or expired session)."""
    if not token or len(token) > 200:
        return None
    s, u = T["web_sessions"], T["users"]
    q = (sa.select(u.c.username, u.c.role, s.c.csrf_token, s.c.expires_at)
         .join(u, u.c.username == s.c.username)
         .where(s.c.token_hash == _token_hash(token)))
    with store.engine.connect() as conn:
        row = conn.execute(q).first()
    if row is None or row.expires_at <= now():
        return None
    return User(str(row.username), str(row.role), str(row.csrf_token))


def end_session(store: Store, token: str | None) -> None:
    """Delete a session (logout)."""
    if not token:
        return
    s = T["web_sessions"]
    with store.transaction() as conn:
        conn.execute(s.delete().where(s.c.token_hash == _token_hash(token)))
        conn.execute(s.delete().where(s.c.expires_at <= now()))
