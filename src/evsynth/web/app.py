"""The Starlette application of ``evsynth serve``.

Pages are rendered on the server from the Jinja2 templates in ``templates/`` (autoescaped:
record text is always shown as text); the little JavaScript there is (keyboard shortcuts of the
screener) is a static file, so the Content-Security-Policy allows no inline script.

Request handling
----------------
* every page but the login page needs a session (cookie); every POST needs, in addition, the
  session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``), and a request
  whose ``Origin`` header names another site is refused;
* roles: viewers read; reviewers also screen and attach full texts; owners also import,
  deduplicate and resolve conflicts;
* blind screening (role reviewer; owners and viewers see everything): the screening pages
  show a reviewer only their own decisions; other reviewers' decisions on a record appear in
  the conflicts view, and there only to reviewers who have themselves decided that record.
  Nothing else a reviewer is shown depends on the others' decisions on records the reviewer
  has not decided: at full text a reviewer screens the records that passed title-abstract
  *and* that they decided there (a record that passed without them is answered like one that
  did not pass); the progress page shows them the outcomes of the records they decided, their
  own count and their agreement with each other reviewer; the conflicts page does not count
  the conflicts it hides;
* decisions are final once the record has all its required decisions (agreed or in
  conflict) or a resolution: a reviewer may change a decision while the record waits for
  the others' (as in Covidence, where a vote can be changed until the record moves on), not
  after, when they may have seen the others' votes; such a request is refused (409) and a
  change goes through the owner's resolution, which is accepted for records that have all
  their required decisions at that stage (not for records still waiting for their screeners,
  nor for records not at that stage). The store keeps every decision (append-only, with
  time); the outcome counts each reviewer's latest decision (:mod:`evsynth.records.screening`)
  and the agreement on the progress page counts, per reviewer and record, the decision that
  stood when the reviewer could first see the others' (a change made afterwards elsewhere,
  e.g. in the terminal screener, or in this app before decisions were final, does not count:
  kappa measures independent decisions), :mod:`evsynth.web.screenindex`;
* the store work runs in a worker thread, and a decision is committed (one transaction; SQLite
  with ``synchronous=FULL``) before its response is sent.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evsynth.errors import InputError
from evsynth.files import atomic_write, inside_folder
from evsynth.records.settings import STAGES, ScreeningSettings, read_settings
from evsynth.records.store import Store, T
from evsynth.textsafe import document_text
from evsynth.web.accounts import (
    OWNER_ROLES,
    SCREEN_ROLES,
    RateLimited,
    User,
    authenticate,
    create_session,
    end_session,
    session_user,
)

HERE = Path(__file__).parent
#: folder (inside the review folder) where uploaded exports are kept
UPLOAD_DIR = "uploads"
#: folder (inside the review folder) where attached full-text PDFs are kept
FULLTEXT_DIR = "fulltext"
#: the Content-Security-Policy of every page: scripts, styles and images only from this server
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
#: the CSP of an SVG image (matplotlib's SVG carries a <style> element)
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'"
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]
#: body limit of requests other than uploads
SMALL_BODY = 1 << 20
LOGIN_CSRF_COOKIE = "evsynth_login_csrf"


@dataclass
class WebConfig:
    """Settings of one served review."""

    review_dir: Path
    store: Store
    #: largest export upload (bytes, whole request)
    max_upload: int = 200 << 20
    #: largest full-text PDF (bytes)
    max_pdf: int = 50 << 20
    #: Secure cookies: True, False, or None = when the request came over https
    secure_cookies: bool | None = None
    cookie_name: str = "evsynth_session"
    extra: dict[str, Any] = field(default_factory=dict)


class BodyTooLarge(Exception):
    """The request body is larger than allowed."""


# ----------------------------------------------------------------------------------------------
# ASGI middleware
# ----------------------------------------------------------------------------------------------
class SecurityHeaders:
    """Adds the CSP (unless the response set its own) and the other security headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CSP.encode()))
                headers += [h for h in SECURITY_HEADERS if h[0] not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


#: key of the ASGI scope where a route sets its own, smaller, body limit (bytes) before it
#: reads the body; :class:`BodyLimit` enforces it while the body streams in
BODY_LIMIT_KEY = "evsynth.body_limit"
#: body limit of the login form
LOGIN_BODY = 16 << 10


class BodyLimit:
    """Counts the bytes of a request body and raises :class:`BodyTooLarge` past ``limit``, or
    past the route's own limit (``scope[BODY_LIMIT_KEY]``, set before the route reads the
    body), whatever Content-Length says or when there is none (chunked); the route handlers
    turn it into 413."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > min(self.limit, scope.get(BODY_LIMIT_KEY, self.limit)):
                    raise BodyTooLarge
            return message

        await self.app(scope, limited, send)


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------
_env: Environment | None = None


def _shown(value: Any) -> Any:
    """Every text a template prints, before Jinja escapes it: control and bidi characters in
    caret notation (:func:`evsynth.textsafe.document_text`), as in the reports. Markup built
    by the templates themselves is left alone."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return document_text(value)
    return value


def templates() -> Environment:
    """The Jinja2 environment (templates from the package; autoescaping always on; control
    characters shown inert, :func:`_shown`)."""
    global _env
    if _env is None:
        _env = Environment(loader=PackageLoader("evsynth.web", "templates"),
                           autoescape=select_autoescape(default=True, default_for_string=True),
                           finalize=_shown)
    return _env


def cfg(request: Request) -> WebConfig:
    conf: WebConfig = request.app.state.config
    return conf


def render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    user: User | None = ctx.pop("user", None) or getattr(request.state, "user", None)
    c = cfg(request)
    html = templates().get_template(name).render(
        user=user, csrf=user.csrf_token if user else "", review=c.review_dir.name,
        stages=STAGES, path=request.url.path, **ctx)
    return HTMLResponse(html, status_code=status)


def error(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status=status, message=message, code=status)


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _secure(request: Request) -> bool:
    s = cfg(request).secure_cookies
    return request.url.scheme == "https" if s is None else s


def current_user(request: Request) -> User | None:
    token = request.cookies.get(cfg(request).cookie_name)
    return session_user(cfg(request).store, token)


def _origin_ok(request: Request) -> bool:
    """A request whose Origin (or, lacking it, Referer) names another host is refused."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin != "null"
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host", request.url.netloc)


def settings_of(request: Request) -> ScreeningSettings:
    return read_settings(cfg(request).review_dir).screening


Handler = Callable[..., Response]


def page(roles: Sequence[str] | None = None) -> Callable[[Handler], Callable[[Request],
                                                                        Awaitable[Response]]]:
    """A GET page: needs a logged-in user (with one of ``roles``, if given); the handler
    ``fn(request, user)`` runs in a worker thread."""

    def deco(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
        def run(request: Request) -> Response:
            user = current_user(request)
            if user is None:
                return RedirectResponse(f"/login?next={quote(request.url.path)}", 303)
            request.state.user = user
            if roles is not None and user.role not in roles:
                return error(request, 403, f"Your role ({user.role}) does not allow this page.")
            try:
                return fn(request, user)
            except InputError as exc:
                return error(request, 400, str(exc))

        async def endpoint(request: Request) -> Response:
            return await run_in_threadpool(run, request)

        return endpoint

    return deco


def action(roles: Sequence[str] | None = None, limit: int | str | None = None
           ) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """A state-changing POST: needs a session, its CSRF token, a same-site Origin and one of
    ``roles``; the body is limited to ``limit`` bytes (default :data:`SMALL_BODY`; a callable
    of the config for the upload routes). The handler ``fn(request, user, form)`` runs in a
    worker thread.

    What the headers decide is decided before the body is read: the session (401), the
    Origin, an ``X-CSRF-Token`` header when one is sent, the role (403) and Content-Length
    (413); the body then streams in under the route's limit (also when it comes chunked,
    without Content-Length), and the form field ``csrf_token`` is checked last."""

    def deco(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            max_bytes: int = SMALL_BODY
            if isinstance(limit, str):
                max_bytes = int(getattr(cfg(request), limit))
            elif limit is not None:
                max_bytes = limit
            user = await run_in_threadpool(current_user, request)
            if user is None:
                return error(request, 401, "Not logged in (or the session has expired).")
            request.state.user = user
            header_token = request.headers.get("x-csrf-token")
            if not _origin_ok(request) or (header_token is not None and not _same(
                    header_token, user.csrf_token)):
                return _csrf_refused(request)
            if roles is not None and user.role not in roles:
                return error(request, 403, f"Your role ({user.role}) may not do this.")
            try:
                n = int(request.headers.get("content-length", "0") or 0)
            except ValueError:
                return Response("bad Content-Length", 400)
            if n > max_bytes + 64 * 1024:
                return error(request, 413, f"Request too large: at most {max_bytes} bytes.")
            request.scope[BODY_LIMIT_KEY] = max_bytes + 64 * 1024  # multipart framing
            try:
                form = await request.form(max_files=50, max_fields=200)
            except BodyTooLarge:
                return error(request, 413, f"Request too large: at most {max_bytes} bytes.")
            except HTTPException as exc:
                return error(request, exc.status_code, str(exc.detail))
            try:
                return await run_in_threadpool(run, request, user, form)
            finally:
                await form.close()

        def run(request: Request, user: User, form: FormData) -> Response:
            token = form.get("csrf_token") or request.headers.get("x-csrf-token") or ""
            if not isinstance(token, str) or not _same(token, user.csrf_token):
                return _csrf_refused(request)
            try:
                return fn(request, user, form)
            except InputError as exc:
                return error(request, 400, str(exc))

        return endpoint

    return deco


def _same(token: str, expected: str) -> bool:
    return hmac.compare_digest(token.encode(), expected.encode())


def _csrf_refused(request: Request) -> Response:
    return error(request, 403, "Missing or wrong CSRF token; reload the page and try again.")


def _text(form: FormData, key: str, required: bool = False) -> str | None:
    v = form.get(key)
    if isinstance(v, UploadFile) or v is None or not str(v).strip():
        if required:
            raise InputError(f"field '{key}' is missing; expected a value")
        return None
    return str(v).strip()


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def check_stage_param(stage: str) -> str:
    if stage not in STAGES:
        raise HTTPException(404)
    return stage


# ----------------------------------------------------------------------------------------------
# login
# ----------------------------------------------------------------------------------------------
def _login_page(request: Request, status: int = 200, message: str | None = None,
                token: str | None = None) -> HTMLResponse:
    token = token or request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    nxt = request.query_params.get("next", "/")
    resp = render(request, "login.html", status=status, message=message, login_csrf=token,
                  next=nxt if nxt.startswith("/") and not nxt.startswith("//") else "/")
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                    secure=_secure(request), path="/login")
    return resp


async def login_get(request: Request) -> Response:
    def run() -> Response:
        if current_user(request) is not None:
            return redirect("/")
        return _login_page(request)
    return await run_in_threadpool(run)


async def login_post(request: Request) -> Response:
    request.scope[BODY_LIMIT_KEY] = LOGIN_BODY
    try:
        form = await request.form(max_files=0, max_fields=10)
    except (BodyTooLarge, HTTPException):
        return error(request, 400, "Bad login request.")

    def run() -> Response:
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        sent = form.get("csrf_token")
        if (not cookie or not isinstance(sent, str) or not _origin_ok(request)
                or not hmac.compare_digest(cookie.encode(), sent.encode())):
            return _login_page(request, 403, "The login form expired; please try again.")
        username = str(form.get("username") or "").strip()
        password = str(form.get("password") or "")
        store = cfg(request).store
        try:
            user = authenticate(store, username, password, client_of(request))
        except RateLimited:
            return _login_page(request, 429, "Too many failed logins; wait 15 minutes and try "
                               "again.")
        if user is None:
            return _login_page(request, 401, "Wrong user name or password.")
        token, _csrf = create_session(store, user.username)
        nxt = str(form.get("next") or "/")
        if not nxt.startswith("/") or nxt.startswith("//") or "\\" in nxt:
            nxt = "/"
        resp = redirect(nxt)
        resp.set_cookie(cfg(request).cookie_name, token, httponly=True, samesite="strict",
                        secure=_secure(request), path="/")
        resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return resp

    return await run_in_threadpool(run)


@action()
def logout(request: Request, user: User, form: FormData) -> Response:
    end_session(cfg(request).store, request.cookies.get(cfg(request).cookie_name))
    resp = redirect("/login")
    resp.delete_cookie(cfg(request).cookie_name, path="/")
    return resp


# ----------------------------------------------------------------------------------------------
# pages
# ----------------------------------------------------------------------------------------------
@page()
def home(request: Request, user: User) -> Response:
    from evsynth.web import views

    return render(request, "home.html", **views.overview(cfg(request).store,
                                                          settings_of(request), user))


@page()
def records_page(request: Request, user: User) -> Response:
    from evsynth.web import views

    return render(request, "records.html", **views.records_overview(
        cfg(request).store, cfg(request).review_dir))


@action(OWNER_ROLES, limit="max_upload")
def records_upload(request: Request, user: User, form: FormData) -> Response:
    from evsynth.web import views

    files = [f for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]
    if not files:
        raise InputError("no file chosen; expected one or more export files")
    database = _text(form, "database", required=True)
    assert database is not None
    kind = _text(form, "kind") or "database"
    fmt = _text(form, "format")
    c = cfg(request)
    results, problems, errors = views.import_uploads(
        c.store, c.review_dir, [(f.filename or "", f.file) for f in files], database, kind, fmt,
        c.max_upload)
    status = 400 if errors else 200
    return render(request, "records.html", status=status, results=results, problems=problems,
                  errors=errors, **views.records_overview(c.store, c.review_dir))


@action(OWNER_ROLES)
def records_dedup(request: Request, user: User, form: FormData) -> Response:
    from evsynth.web import views

    c = cfg(request)
    msg = views.run_dedup(c.store)
    return render(request, "records.html", message=msg,
                  **views.records_overview(c.store, c.review_dir))


@page()
def duplicates_page(request: Request, user: User) -> Response:
    from evsynth.web import views

    return render(request, "duplicates.html", **views.duplicate_pairs(cfg(request).store))


@action(OWNER_ROLES)
def duplicates_decide(request: Request, user: User, form: FormData) -> Response:
    from evsynth.web import views

    a = _text(form, "record_id_a", required=True)
    b = _text(form, "record_id_b", required=True)
    how = _text(form, "decision", required=True)
    assert a is not None and b is not None
    if how == "merge":
        cfg(request).store.merge_records([a, b], decided_by=user.username)
    elif how == "keep":
        views.keep_apart(cfg(request).store, a, b, user.username)
    else:
        raise InputError(f"duplicate decision {how!r}; expected 'merge' or 'keep'")
    return redirect("/duplicates")


def screen_order(request: Request, user: User, stage: str, asked: str | None) -> str:
    """The screening order of ``user`` at ``stage``: ``asked`` (the ``order`` query parameter
    or form field: "plain" or "prioritised"), remembered per user and stage while the server
    runs; else the remembered one; else the plain order."""
    from evsynth.web.ranking import ORDERS

    chosen: dict[tuple[str, str], str] = cfg(request).extra.setdefault("order", {})
    if asked in ORDERS:
        chosen[(user.username, stage)] = asked
        return asked
    return chosen.get((user.username, stage), ORDERS[0])


@page()
def screen_page(request: Request, user: User) -> Response:
    from evsynth.web import views

    stage = check_stage_param(request.path_params["stage"])
    ctx = views.screen_context(cfg(request).store, settings_of(request), stage, user,
                               request.query_params.get("rid"), request.query_params.get("after"),
                               cfg(request).review_dir,
                               order=screen_order(request, user, stage,
                                                  request.query_params.get("order")))
    if ctx is None:
        raise HTTPException(404, "no such record at this stage")
    return render(request, "screen.html", **ctx)


@action(SCREEN_ROLES)
def screen_decide(request: Request, user: User, form: FormData) -> Response:
    from evsynth.web import views

    stage = check_stage_param(request.path_params["stage"])
    rid = _text(form, "record_id", required=True)
    decision = _text(form, "decision", required=True)
    assert rid is not None and decision is not None
    try:
        views.decide(cfg(request).store, settings_of(request), stage, user, rid, decision,
                     _text(form, "reason"), _text(form, "note"))
    except views.DecisionLocked as exc:
        return error(request, 409, str(exc))
    if request.headers.get("accept", "").startswith("application/json"):
        from starlette.responses import JSONResponse

        return JSONResponse({"ok": True, "record_id": rid, "decision": decision})
    order = screen_order(request, user, stage, _text(form, "order"))
    return redirect(f"/screen/{stage}?after={quote(rid, safe='')}"
                    + ("&order=prioritised" if order == "prioritised" else ""))


@page()
def progress_page(request: Request, user: User) -> Response:
    from evsynth.web import views

    return render(request, "progress.html", **views.progress(cfg(request).store,
                                                              settings_of(request), user))


@page()
def conflicts_page(request: Request, user: User) -> Response:
    from evsynth.web import views

    s = settings_of(request)
    return render(request, "conflicts.html",
                  **views.conflict_list(cfg(request).store, s, user,
                                        _page_number(request.query_params.get("page"))))


def _page_number(value: str | None) -> int:
    """A ``?page=`` number: a whole number from 1 in ASCII digits, else 1 (too large is
    clamped by the view; ``str.isdigit`` alone accepts "²", which ``int`` refuses)."""
    if value is None or not (value.isascii() and value.isdigit()) or len(value) >= 10:
        return 1
    return int(value)


@action(OWNER_ROLES)
def conflicts_resolve(request: Request, user: User, form: FormData) -> Response:
    from evsynth.records.screening import resolve

    rid = _text(form, "record_id", required=True)
    stage = _text(form, "stage", required=True)
    decision = _text(form, "decision", required=True)
    assert rid is not None and stage is not None and decision is not None
    from evsynth.web import views

    store = cfg(request).store
    store.check_record_ids([rid], "resolve: ")
    settings = settings_of(request)
    views.check_resolvable(store, settings, stage, rid)
    resolve(store, rid, stage, decision, user.username, _text(form, "reason"),
            settings=settings, note=_text(form, "note"))
    page = _page_number(_text(form, "page"))  # back to the page the conflict was on
    return redirect("/conflicts" if page == 1 else f"/conflicts?page={page}")


@page()
def prisma_page(request: Request, user: User) -> Response:
    from evsynth.records.prisma import prisma_rows
    from evsynth.web import views

    counts = views.prisma(cfg(request).store, settings_of(request))
    pending = {k: v for k, v in counts.get("pending", {}).items() if v}
    return render(request, "prisma.html", rows=prisma_rows(counts), pending=pending)


@page()
def prisma_svg(request: Request, user: User) -> Response:
    from evsynth.records.prisma import prisma_svg as draw
    from evsynth.web import views

    svg = draw(views.prisma(cfg(request).store, settings_of(request)))
    return Response(svg, media_type="image/svg+xml",
                    headers={"content-security-policy": SVG_CSP})


# ----------------------------------------------------------------------------------------------
# full texts
# ----------------------------------------------------------------------------------------------
@action(SCREEN_ROLES, limit="max_pdf")
def fulltext_upload(request: Request, user: User, form: FormData) -> Response:
    """Attach a PDF to a record at the full-text stage: by a reviewer of review.toml who may
    screen the record there, as for a decision (:func:`evsynth.web.views.check_screenable`)."""
    from evsynth.web import views

    rid = _text(form, "record_id", required=True)
    assert rid is not None
    f = form.get("pdf")
    if not isinstance(f, UploadFile) or not f.filename:
        raise InputError("no PDF chosen; expected a PDF file")
    c = cfg(request)
    c.store.check_record_ids([rid], "full text: ")
    views.check_screenable(c.store, settings_of(request), "full-text", user, rid)
    data = f.file.read(c.max_pdf + 1)
    if len(data) > c.max_pdf:
        return error(request, 413, f"PDF too large: at most {c.max_pdf} bytes.")
    if not data.startswith(b"%PDF-"):
        return error(request, 415, f"{f.filename}: not a PDF file (it does not begin with "
                     "%PDF-); expected a PDF")
    sha = hashlib.sha256(data).hexdigest()
    rel = f"{FULLTEXT_DIR}/{sha}.pdf"
    dest = inside_folder(c.review_dir, rel, "full text")
    if not dest.exists():
        atomic_write(dest, data)
    from evsynth.records.store import now

    with c.store.transaction() as conn:
        conn.execute(T["fulltexts"].insert().values(
            record_id=rid, file=rel, sha256=sha, size=len(data), uploaded_by=user.username,
            uploaded_at=now()))
    back = _text(form, "back") or "/screen/full-text"
    if not back.startswith("/") or back.startswith("//"):
        back = "/"
    return redirect(back)


@page()
def fulltext_get(request: Request, user: User) -> Response:
    """Serve a stored full text: only names under REVIEW_DIR/fulltext, symlinks resolved."""
    name = request.path_params["name"]
    c = cfg(request)
    if not re.fullmatch(r"[0-9a-f]{64}\.pdf", name):
        return error(request, 404, "No such file.")
    try:
        path = inside_folder(c.review_dir / FULLTEXT_DIR, name, "full text")
        inside_folder(c.review_dir, path, "full text")
    except InputError:
        return error(request, 404, "No such file.")
    if not path.is_file():
        return error(request, 404, "No such file.")
    return FileResponse(path.resolve(), media_type="application/pdf",
                        headers={"content-disposition": "inline"})


# ----------------------------------------------------------------------------------------------
def create_app(review_dir: str | os.PathLike[str], db: str | None = None, *,
               max_upload: int = 200 << 20, max_pdf: int = 50 << 20,
               secure_cookies: bool | None = None) -> Starlette:
    """The web application over ``review_dir`` (its store, or the SQLAlchemy URL ``db``)."""
    review = Path(review_dir)
    if not review.is_dir():
        raise InputError(f"{review}: review folder does not exist; expected a directory")
    read_settings(review)  # a broken review.toml is reported now, not at the first page
    store = Store(db if db else review)
    ident = hashlib.sha256(store.engine.url.render_as_string(hide_password=True)
                           .encode()).hexdigest()[:10]
    config = WebConfig(review_dir=review, store=store, max_upload=max_upload, max_pdf=max_pdf,
                       secure_cookies=secure_cookies, cookie_name=f"evsynth_session_{ident}")
    routes = [
        Route("/login", login_get, methods=["GET"]),
        Route("/login", login_post, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", home, methods=["GET"]),
        Route("/records", records_page, methods=["GET"]),
        Route("/records/upload", records_upload, methods=["POST"]),
        Route("/records/dedup", records_dedup, methods=["POST"]),
        Route("/duplicates", duplicates_page, methods=["GET"]),
        Route("/duplicates/decide", duplicates_decide, methods=["POST"]),
        Route("/screen/{stage}", screen_page, methods=["GET"]),
        Route("/screen/{stage}/decide", screen_decide, methods=["POST"]),
        Route("/progress", progress_page, methods=["GET"]),
        Route("/conflicts", conflicts_page, methods=["GET"]),
        Route("/conflicts/resolve", conflicts_resolve, methods=["POST"]),
        Route("/prisma", prisma_page, methods=["GET"]),
        Route("/prisma.svg", prisma_svg, methods=["GET"]),
        Route("/fulltext/upload", fulltext_upload, methods=["POST"]),
        Route("/fulltext/{name}", fulltext_get, methods=["GET"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        code = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "Internal error."
        return HTMLResponse(templates().get_template("error.html").render(
            user=None, csrf="", review=review.name, stages=STAGES, path="", code=code,
            message=detail), status_code=code)

    app = Starlette(routes=routes, exception_handlers={HTTPException: not_found})
    app.state.config = config
    app.add_middleware(BodyLimit, limit=max(max_upload, max_pdf) + (1 << 20))
    app.add_middleware(SecurityHeaders)
    return app


__all__ = ["create_app", "WebConfig", "CSP"]
