"""``annotate serve``: the terminal UI in a browser, for one expert or for a team.

textual-serve as it ships answers any page and any WebSocket: a page open in the
expert's browser at another site could connect to ``ws://127.0.0.1:PORT/ws`` and read
transcripts. These servers refuse a WebSocket whose ``Origin`` is not their own, list no
static directory, serve the page with the packaged font instead of a font CDN, forbid
framing, and start each UI process themselves with the annotator they authenticated:
nothing the browser sends can choose it.

- ``KeyServer`` (one expert): a random per-run key in the URL it prints.
- ``TeamServer`` (``--logins FILE``): each expert logs in with their own secret (Argon2
  hashes in the file) and gets a session cookie; their UI runs as them alone.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import logging
import re
import secrets
import shlex
import time
from collections.abc import Sequence
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from annotate.logins import LoginCheck

log = logging.getLogger("annotate.serve")

FONT_CDN_LINK = re.compile(r"<link[^>]*fonts\.googleapis\.com[^>]*>")
LOCAL_FONT = (
    "<style>@font-face {{ font-family: 'Roboto Mono'; "
    "src: url('{static}fonts/RobotoMono-VariableFont_wght.ttf'); }}</style>"
)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # a key may be in the URL
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
}
SESSION_COOKIE = "annotate_session"
SESSION_HOURS = 12
FAILED_LOGIN_DELAY = 1.0


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

    def identity(self, request: web.Request) -> str | None:
        """The annotator this request acts as (None: the OS user); raise to refuse it."""
        raise NotImplementedError

    def socket_path(self, request: web.Request) -> str:
        raise NotImplementedError

    def routes(self) -> list[web.RouteDef]:
        return []

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
        return app

    def page(self, request: web.Request) -> web.Response:
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
        return web.Response(text=text, content_type="text/html", headers=PAGE_HEADERS)

    async def handle_index(self, request: web.Request) -> web.Response:  # type: ignore[override]
        self.identity(request)
        return self.page(request)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        if request.headers.get("Origin") != self.public_url:
            raise web.HTTPForbidden(text="a page of another site may not connect")
        command = self.command_for(self.identity(request))
        websocket = web.WebSocketResponse(heartbeat=15)
        width = to_int(request.query.get("width", "80"), 80)
        height = to_int(request.query.get("height", "24"), 24)
        app_service: AppService | None = None

        async def close() -> None:
            await websocket.close()

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
            if app_service is not None:
                await app_service.stop()
        return websocket


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
<label>Name <input name="name" autocomplete="username" required autofocus></label>
<label>Secret <input name="secret" type="password" autocomplete="current-password" required>
</label><button type="submit">Log in</button></form></body></html>
"""


class TeamServer(GuardedServer):
    """A team's server: each expert logs in with their own secret and works only as themselves."""

    def __init__(
        self, ui_command: Sequence[str], *, logins: LoginCheck, host: str, port: int,
        public_url: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(ui_command, host=host, port=port, public_url=public_url)
        self.logins = logins
        self.sessions: dict[str, tuple[str, float]] = {}  # token -> (annotator, expiry)

    @property
    def url(self) -> str:
        return f"{self.public_url}/"

    def identity(self, request: web.Request) -> str:
        token = request.cookies.get(SESSION_COOKIE, "")
        held = self.sessions.get(token)
        if held is None or held[1] < time.time():
            self.sessions.pop(token, None)
            if request.path == "/":
                raise web.HTTPSeeOther("/login")
            raise web.HTTPForbidden(text="log in first")
        return held[0]

    def socket_path(self, request: web.Request) -> str:
        return "/ws"

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/ws", self.handle_websocket, name="websocket"),
            web.get("/login", self.handle_login_page),
            web.post("/login", self.handle_login),
            web.post("/logout", self.handle_logout),
        ]

    def _login_page(self, error: str = "", status: int = 200) -> web.Response:
        message = f'<p class="error">{html.escape(error)}</p>' if error else ""
        return web.Response(text=LOGIN_PAGE.format(error=message), status=status,
                            content_type="text/html", headers=PAGE_HEADERS)  # fmt: skip

    async def handle_login_page(self, request: web.Request) -> web.Response:
        return self._login_page()

    async def handle_login(self, request: web.Request) -> web.Response:
        origin = request.headers.get("Origin")
        if origin is not None and origin != self.public_url:
            raise web.HTTPForbidden(text="a page of another site may not log in here")
        form = await request.post()
        name, secret = str(form.get("name", "")).strip(), str(form.get("secret", "")).strip()
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, self.logins.verify, name, secret):
            log.warning("failed login for %r from %s", name, request.remote)
            await asyncio.sleep(FAILED_LOGIN_DELAY)
            return self._login_page("That name and secret do not match.", status=403)
        token = secrets.token_urlsafe(32)
        self.sessions[token] = (name, time.time() + SESSION_HOURS * 3600)
        response = web.HTTPSeeOther("/")
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict", path="/",
                            max_age=SESSION_HOURS * 3600,
                            secure=self.public_url.startswith("https:"))  # fmt: skip
        raise response

    async def handle_logout(self, request: web.Request) -> web.Response:
        self.sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
        response = web.HTTPSeeOther("/login")
        response.del_cookie(SESSION_COOKIE, path="/")
        raise response
