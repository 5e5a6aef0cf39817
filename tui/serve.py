"""``annotate serve``: the terminal UI in a browser, for one expert or for a team.

textual-serve as it ships answers any page and any WebSocket: a page open in the
expert's browser at another site could connect to ``ws://127.0.0.1:PORT/ws`` and read
transcripts. These servers refuse a WebSocket whose ``Origin`` is not their own, list no
static directory, serve the page with the packaged font instead of a font CDN, forbid
framing, and start each UI process themselves with the annotator they authenticated:
nothing the browser sends can choose it.

- ``KeyServer`` (one expert): a random per-run key in the URL it prints.
- ``TeamServer`` (``--logins FILE``): each expert logs in with their own secret (Argon2
  hashes in the file) and gets a session cookie; their UI runs as them alone. Its forms
  carry a token bound to a cookie and to this run's secret, and refuse cross-site posts
  (``Sec-Fetch-Site``, ``Origin``). Logging out, or a login removed or replaced in the
  file, closes that expert's open terminals at once. Failed logins are limited per
  address and the Argon2 work is bounded, so a flood of guesses cannot stall a real login.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import logging
import re
import secrets
import shlex
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import WSCloseCode, web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from annotate.core.errors import AnnotateError
from tui.logins import LoginCheck

log = logging.getLogger("annotate.serve")

FONT_CDN_LINK = re.compile(r"<link[^>]*fonts\.googleapis\.com[^>]*>")
LOCAL_FONT = (
    "<style>@font-face {{ font-family: 'Roboto Mono'; "
    "src: url('{static}fonts/RobotoMono-VariableFont_wght.ttf'); }}</style>"
)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the key is in the URL
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
}
# No key in a team server's URLs: its pages may name their origin, so that the browser's
# form posts carry ``Origin`` (under ``no-referrer`` they carry ``Origin: null``).
TEAM_PAGE_HEADERS = {**PAGE_HEADERS, "Referrer-Policy": "same-origin"}
SESSION_COOKIE = "annotate_session"
FORM_COOKIE = "annotate_form"
SESSION_HOURS = 12
FAILED_LOGIN_DELAY = 1.0
LOGINS_CHECK_SECONDS = 1.0  # how soon a removed or replaced login closes its terminals
UI_STOP_SECONDS = 10.0  # a UI process that does not quit by then is killed
HASH_WORKERS = 2  # Argon2 checks at once (each takes ~64 MiB and a core for ~0.1 s)
HASH_QUEUE = 4  # checks running or waiting; past that, addresses that failed lately wait
ADDRESS_IN_FLIGHT = 2  # login attempts one address may have running at once
ADDRESS_FAILURES = 10  # failed logins one address may make per window ...
FAILURE_WINDOW = 60.0  # ... of this many seconds


def new_key() -> str:
    """A fresh secret for one run of the server."""
    return secrets.token_urlsafe(24)


class GuardedServer(Server):
    """textual-serve's server, starting each UI process as the annotator ``identity`` gives."""

    def __init__(
        self, ui_command: Sequence[str], *, host: str, port: int, public_url: str | None = None
    ) -> None:
        super().__init__(shlex.join(ui_command), host=host, port=port, title="annotate",
                         public_url=public_url)  # fmt: skip
        self.ui_command = list(ui_command)
        # The open terminals by who opened them (a session token; "" for the key).
        self.terminals: dict[str, set[web.WebSocketResponse]] = {}
        self.closing: set[asyncio.Task[bool]] = set()

    def identity(self, request: web.Request) -> str | None:
        """The annotator this request acts as (None: the OS user); raise to refuse it."""
        raise NotImplementedError

    def socket_path(self, request: web.Request) -> str:
        raise NotImplementedError

    def holder(self, request: web.Request) -> str:
        """Whom a terminal opened by REQUEST belongs to, for ``close_terminals``."""
        return ""

    def routes(self) -> list[web.RouteDef]:
        return []

    async def background(self, app: web.Application) -> AsyncIterator[None]:
        """Work that runs as long as the server does (none here)."""
        yield

    def close_terminals(self, holder: str) -> int:
        """Close HOLDER's open terminals now (their UI processes are then told to quit)."""
        sockets = self.terminals.pop(holder, set())
        for socket in sockets:
            closing = asyncio.get_running_loop().create_task(
                socket.close(code=WSCloseCode.POLICY_VIOLATION, message=b"logged out")
            )
            self.closing.add(closing)  # held until done (the loop keeps weak references)
            closing.add_done_callback(self.closing.discard)
        return len(sockets)

    def command_for(self, annotator: str | None) -> str:
        command = list(self.ui_command)
        if annotator:
            command += ["--annotator", annotator]
        return shlex.join(command)

    async def _make_app(self) -> web.Application:
        app = web.Application()
        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
        app.add_routes(
            [
                web.get("/", self.handle_index, name="index"),
                *self.routes(),
                web.get("/download/{key}", self.handle_download, name="download"),
                web.static("/static", self.statics_path, name="static"),
            ]
        )
        app.cleanup_ctx.append(self.background)
        app.on_shutdown.append(self._close_all_terminals)
        return app

    async def _close_all_terminals(self, app: web.Application) -> None:
        """On Ctrl+C: close every open terminal, so that its UI quits and the server stops."""
        sockets = [socket for group in self.terminals.values() for socket in group]
        self.terminals.clear()
        closing = (socket.close(code=WSCloseCode.GOING_AWAY, message=b"server stopped")
                   for socket in sockets)  # fmt: skip
        await asyncio.gather(*closing, return_exceptions=True)

    def page_extra(self, request: web.Request) -> str:
        """HTML added to the terminal page (the team server's logout control)."""
        return ""

    def page(self, request: web.Request, headers: dict[str, str] = PAGE_HEADERS) -> web.Response:
        static = f"{self.public_url}/static/"
        scheme, rest = self.public_url.split(":", 1)
        socket = ("wss:" if scheme == "https" else "ws:") + rest + self.socket_path(request)
        context: dict[str, Any] = {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": socket,
            "config": {"static": {"url": static}},
            "application": {"name": self.title},
        }
        text = aiohttp_jinja2.render_string("app_index.html", request, context)
        text = FONT_CDN_LINK.sub(LOCAL_FONT.format(static=static), text)
        text = text.replace("</body>", self.page_extra(request) + "</body>", 1)
        return web.Response(text=text, content_type="text/html", headers=headers)

    async def handle_index(self, request: web.Request) -> web.Response:
        self.identity(request)
        return self.page(request)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        if request.headers.get("Origin") != self.public_url:
            raise web.HTTPForbidden(text="a page of another site may not connect")
        command = self.command_for(self.identity(request))
        holder = self.holder(request)
        websocket = web.WebSocketResponse(heartbeat=15)
        width = to_int(request.query.get("width", "80"), 80)
        height = to_int(request.query.get("height", "24"), 24)
        app_service: AppService | None = None

        async def close() -> None:
            await websocket.close()

        self.terminals.setdefault(holder, set()).add(websocket)
        try:
            await websocket.prepare(request)
            app_service = AppService(
                command,
                write_bytes=websocket.send_bytes,
                write_str=websocket.send_str,
                close=close,
                download_manager=self.download_manager,
                debug=self.debug,
            )
            await app_service.start(width, height)
            await self._process_messages(websocket, app_service)
        except asyncio.CancelledError:
            await websocket.close()
        finally:
            self.terminals.get(holder, set()).discard(websocket)
            if app_service is not None:
                await _stop(app_service)
        return websocket


async def _stop(app_service: AppService) -> None:
    """Tell the UI process to quit; kill it if it has not within UI_STOP_SECONDS."""
    try:
        await asyncio.wait_for(app_service.stop(), UI_STOP_SECONDS)
    except TimeoutError:
        process = app_service._process  # textual-serve keeps it private
        if process is not None and process.returncode is None:
            log.warning("a UI process did not quit; killing it")
            process.kill()


class KeyServer(GuardedServer):
    """One expert's server: page and WebSocket need the random key printed at start."""

    def __init__(
        self, ui_command: Sequence[str], *, annotator: str | None, key: str, host: str,
        port: int, public_url: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(ui_command, host=host, port=port, public_url=public_url)
        self.annotator = annotator
        self.key = key

    @property
    def url(self) -> str:
        """The address to open in the browser (with the key)."""
        return f"{self.public_url}/?key={self.key}"

    def identity(self, request: web.Request) -> str | None:
        given = request.query.get("key", "") or request.match_info.get("key", "")
        if not hmac.compare_digest(given.encode(), self.key.encode()):
            raise web.HTTPForbidden(text="this address needs the key annotate serve printed")
        return self.annotator

    def socket_path(self, request: web.Request) -> str:
        return f"/ws/{self.key}"

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/ws/{key}", self.handle_websocket, name="websocket")]


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>annotate: log in</title>
<style>body {{ font-family: sans-serif; max-width: 24em; margin: 4em auto; }}
label, input, button {{ display: block; width: 100%; margin: .4em 0; font-size: 1.1em; }}
.error {{ color: #a00; }}</style></head>
<body><h1>annotate</h1><p>Log in with the name and secret your project lead gave you.</p>
{error}<form method="post" action="/login">
<input type="hidden" name="form_token" value="{token}">
<label>Name <input name="name" autocomplete="username" required autofocus></label>
<label>Secret <input name="secret" type="password" autocomplete="current-password" required>
</label><button type="submit">Log in</button></form></body></html>
"""
LOGOUT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>annotate: log out</title></head>
<body style="font-family: sans-serif; max-width: 24em; margin: 4em auto;">
<p>Logged in as {name}.</p>{form}</body></html>
"""
LOGOUT_FORM = (
    '<form method="post" action="/logout" class="annotate-logout">'
    '<input type="hidden" name="form_token" value="{token}">'
    '<button type="submit" title="Log out: closes this terminal">Log out</button></form>'
)
LOGOUT_STYLE = (
    "<style>.annotate-logout { position: fixed; top: 0; right: 0; z-index: 30; margin: 0; }"
    " body .annotate-logout button { margin: 0; padding: 1px 10px; font-size: 12px; "
    "display: inline; opacity: .8; }</style>"
)


@dataclass
class Session:
    """A logged-in expert: who, with which secret (its hash) and until when."""

    name: str
    secret_hash: str
    expires: float


@dataclass
class LoginThrottle:
    """Per-address limits on login attempts, so that one address cannot hold the hashing.

    An address may have ADDRESS_IN_FLIGHT attempts running and ADDRESS_FAILURES failures
    per FAILURE_WINDOW seconds; past that it is refused before any hashing.
    """

    running: dict[str, int] = field(default_factory=dict)
    failures: dict[str, deque[float]] = field(default_factory=dict)

    def refusal(self, address: str, now: float) -> str | None:
        """Why ADDRESS may not try now (None: it may, and the attempt is counted running)."""
        recent = self.failures.get(address)
        while recent and recent[0] < now - FAILURE_WINDOW:
            recent.popleft()
        if recent is not None and not recent:
            del self.failures[address]
        if recent and len(recent) >= ADDRESS_FAILURES:
            wait = int(recent[0] + FAILURE_WINDOW - now) + 1
            return f"Too many failed logins from your address: try again in {wait} s."
        if self.running.get(address, 0) >= ADDRESS_IN_FLIGHT:
            return "A login from your address is being checked: try again in a moment."
        self.running[address] = self.running.get(address, 0) + 1
        return None

    def finished(self, address: str, *, failed: bool, now: float, counted: bool = True) -> None:
        """An attempt ADDRESS was allowed has ended (COUNTED: as a failure if FAILED)."""
        left = self.running.get(address, 1) - 1
        if left:
            self.running[address] = left
        else:
            self.running.pop(address, None)
        if not counted:
            return
        if failed:
            recent = self.failures.setdefault(address, deque())
            recent.append(now)
            if len(recent) == ADDRESS_FAILURES:
                log.warning("%d failed logins from %s: its logins are refused for a while",
                            ADDRESS_FAILURES, address)  # fmt: skip
        else:
            self.failures.pop(address, None)


class TeamServer(GuardedServer):
    """A team's server: each expert logs in with their own secret and works only as themselves."""

    def __init__(
        self, ui_command: Sequence[str], *, logins: LoginCheck, host: str, port: int,
        public_url: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(ui_command, host=host, port=port, public_url=public_url)
        self.logins = logins
        self.sessions: dict[str, Session] = {}  # by session token
        self.form_secret = secrets.token_bytes(32)  # binds form tokens to this run
        self.throttle = LoginThrottle()
        self.hashing = ThreadPoolExecutor(HASH_WORKERS, thread_name_prefix="argon2")
        self.hashing_now = 0  # Argon2 checks running or waiting for a worker

    @property
    def url(self) -> str:
        return f"{self.public_url}/"

    # -- sessions -------------------------------------------------------------------

    def _follow_logins(self) -> None:
        """Re-read the logins file if it changed; close sessions it no longer allows."""
        try:
            self.logins.refresh()
        except AnnotateError as error:
            log.warning("logins file unreadable, keeping the logins read before: %s", error)
        now = time.time()
        for token, session in list(self.sessions.items()):
            if session.expires < now or self.logins.hash_of(session.name) != session.secret_hash:
                self.end_session(token)

    def end_session(self, token: str) -> None:
        """Forget the session TOKEN and close its open terminals."""
        session = self.sessions.pop(token, None)
        closed = self.close_terminals(token)
        if session is not None:
            log.warning("session of %s ended; %d open terminal(s) closed", session.name, closed)

    async def background(self, app: web.Application) -> AsyncIterator[None]:
        async def watch() -> None:
            while True:
                await asyncio.sleep(LOGINS_CHECK_SECONDS)
                self._follow_logins()

        watcher = asyncio.get_running_loop().create_task(watch())
        yield
        watcher.cancel()
        self.hashing.shutdown(wait=False, cancel_futures=True)

    def _session(self, request: web.Request) -> tuple[str, Session] | None:
        self._follow_logins()
        token = request.cookies.get(SESSION_COOKIE, "")
        session = self.sessions.get(token)
        return (token, session) if session is not None else None

    def identity(self, request: web.Request) -> str:
        held = self._session(request)
        if held is None:
            if request.path == "/":
                raise web.HTTPSeeOther("/login")
            raise web.HTTPForbidden(text="log in first")
        return held[1].name

    def holder(self, request: web.Request) -> str:
        return request.cookies.get(SESSION_COOKIE, "")

    def socket_path(self, request: web.Request) -> str:
        return "/ws"

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/ws", self.handle_websocket, name="websocket"),
            web.get("/login", self.handle_login_page),
            web.post("/login", self.handle_login),
            web.get("/logout", self.handle_logout_page),
            web.post("/logout", self.handle_logout),
        ]

    # -- forms: same-origin posts only ----------------------------------------------

    def _form_token(self, bound_to: str) -> str:
        return hmac.new(self.form_secret, bound_to.encode(), hashlib.sha256).hexdigest()

    def _check_post(self, request: web.Request, form: Any, bound_to: str) -> None:
        """Refuse a post that another site's page made, or whose form token is not ours.

        Browsers say where a request comes from in ``Sec-Fetch-Site``, and in ``Origin``
        (``null`` under some referrer policies); the token in the form is bound to a cookie
        that only this site's pages set, so a page elsewhere cannot produce it either.
        """
        site = request.headers.get("Sec-Fetch-Site")
        origin = request.headers.get("Origin")
        if (site is not None and site != "same-origin") or (
            origin not in (None, "null") and origin != self.public_url
        ):
            raise web.HTTPForbidden(text="a page of another site may not post here")
        given = str(form.get("form_token", ""))
        if not bound_to or not hmac.compare_digest(given, self._form_token(bound_to)):
            raise web.HTTPForbidden(
                text="this form is out of date (the server restarted?): reload the page"
            )

    def _form_cookie(self, request: web.Request) -> str:
        """The random value this browser's forms are bound to (kept while it is valid)."""
        value = request.cookies.get(FORM_COOKIE, "")
        return value if re.fullmatch(r"[A-Za-z0-9_-]{32,64}", value) else secrets.token_urlsafe(32)

    def _login_page(self, request: web.Request, error: str = "", status: int = 200) -> web.Response:
        message = f'<p class="error">{html.escape(error)}</p>' if error else ""
        bound_to = self._form_cookie(request)
        page = LOGIN_PAGE.format(error=message, token=self._form_token(bound_to))
        response = web.Response(text=page, status=status, content_type="text/html",
                                headers=TEAM_PAGE_HEADERS)  # fmt: skip
        response.set_cookie(FORM_COOKIE, bound_to, httponly=True, samesite="Strict", path="/",
                            secure=self.public_url.startswith("https:"))  # fmt: skip
        return response

    def page_extra(self, request: web.Request) -> str:
        token = self._form_token("logout:" + self.holder(request))
        return LOGOUT_STYLE + LOGOUT_FORM.format(token=token)

    async def handle_index(self, request: web.Request) -> web.Response:
        self.identity(request)
        return self.page(request, TEAM_PAGE_HEADERS)

    async def handle_login_page(self, request: web.Request) -> web.Response:
        return self._login_page(request)

    # -- logging in and out ---------------------------------------------------------

    def _address(self, request: web.Request) -> str:
        """The client's address; behind a local proxy, the one the proxy appended."""
        remote = request.remote or ""
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded and remote in ("127.0.0.1", "::1"):
            return forwarded.rsplit(",", 1)[-1].strip() or remote
        return remote

    async def _verified_hash(self, name: str, secret: str) -> str | None:
        """NAME's hash if SECRET is theirs, else None: checked by one of HASH_WORKERS."""
        self.hashing_now += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.hashing, self.logins.verified_hash, name,
                                              secret)  # fmt: skip
        finally:
            self.hashing_now -= 1

    async def handle_login(self, request: web.Request) -> web.Response:
        form = await request.post()
        self._check_post(request, form, request.cookies.get(FORM_COOKIE, ""))
        name, secret = str(form.get("name", "")).strip(), str(form.get("secret", "")).strip()
        address = self._address(request)
        refusal = self.throttle.refusal(address, time.monotonic())
        if refusal is None and self.hashing_now >= HASH_QUEUE and address in self.throttle.failures:
            # Many addresses guessing at once: those that failed lately wait their turn;
            # the others (an expert typing their secret) still join the queue.
            self.throttle.finished(address, failed=True, now=time.monotonic(), counted=False)
            refusal = "The server is busy checking logins: try again in a moment."
        if refusal is not None:
            log.debug("login for %r from %s refused: %s", name, address, refusal)
            return self._login_page(request, refusal, status=429)
        failed = True
        try:
            self._follow_logins()
            secret_hash = await self._verified_hash(name, secret)
            failed = secret_hash is None
            if secret_hash is None:
                log.warning("failed login for %r from %s", name, address)
                await asyncio.sleep(FAILED_LOGIN_DELAY)
                return self._login_page(request, "That name and secret do not match.", 403)
        finally:
            self.throttle.finished(address, failed=failed, now=time.monotonic())
        token = secrets.token_urlsafe(32)
        self.sessions[token] = Session(name, secret_hash, time.time() + SESSION_HOURS * 3600)
        response = web.HTTPSeeOther("/")
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict", path="/",
                            max_age=SESSION_HOURS * 3600,
                            secure=self.public_url.startswith("https:"))  # fmt: skip
        raise response

    async def handle_logout_page(self, request: web.Request) -> web.Response:
        held = self._session(request)
        if held is None:
            raise web.HTTPSeeOther("/login")
        form = LOGOUT_FORM.format(token=self._form_token("logout:" + held[0]))
        page = LOGOUT_PAGE.format(name=html.escape(held[1].name), form=form)
        return web.Response(text=page, content_type="text/html", headers=TEAM_PAGE_HEADERS)

    async def handle_logout(self, request: web.Request) -> web.Response:
        token = request.cookies.get(SESSION_COOKIE, "")
        if token in self.sessions:
            self._check_post(request, await request.post(), "logout:" + token)
            self.end_session(token)
        response = web.HTTPSeeOther("/login")
        response.del_cookie(SESSION_COOKIE, path="/")
        raise response
