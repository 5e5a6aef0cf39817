"""``annotate serve``: the terminal UI in a browser, for the one expert holding its key.

textual-serve as it ships answers any page and any WebSocket: a page open in the
expert's browser at another site could connect to ``ws://127.0.0.1:PORT/ws`` and read
transcripts. This server requires a random per-run key (in the URL it prints) for the
page and the WebSocket, refuses a WebSocket whose ``Origin`` is not its own, lists no
static directory, and serves the page with the packaged font instead of a font CDN.
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.server import Server, to_int

FONT_CDN_LINK = re.compile(r"<link[^>]*fonts\.googleapis\.com[^>]*>")
LOCAL_FONT = (
    "<style>@font-face {{ font-family: 'Roboto Mono'; "
    "src: url('{static}fonts/RobotoMono-VariableFont_wght.ttf'); }}</style>"
)


def new_key() -> str:
    """A fresh secret for one run of the server."""
    return secrets.token_urlsafe(24)


class PrivateServer(Server):
    """textual-serve's server, answering only requests that carry its key."""

    def __init__(self, command: str, *, host: str, port: int, key: str, title: str) -> None:
        super().__init__(command, host=host, port=port, title=title)
        self.key = key

    @property
    def url(self) -> str:
        """The address to open in the browser (with the key)."""
        return f"{self.public_url}/?key={self.key}"

    def _holds_key(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.key.encode())

    async def _make_app(self) -> web.Application:
        app = web.Application()
        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
        app.add_routes(
            [
                web.get("/", self.handle_index, name="index"),
                web.get("/ws/{key}", self.handle_websocket, name="websocket"),
                web.get("/download/{key}", self.handle_download, name="download"),
                web.static("/static", self.statics_path, name="static"),
            ]
        )
        return app

    async def handle_index(self, request: web.Request) -> web.Response:  # type: ignore[override]
        if not self._holds_key(request.query.get("key", "")):
            raise web.HTTPForbidden(text="this address needs the key annotate serve printed")
        static = f"{self.public_url}/static/"
        websocket = "ws:" + self.public_url.split(":", 1)[1] + f"/ws/{self.key}"
        context: dict[str, Any] = {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": websocket,
            "config": {"static": {"url": static}},
            "application": {"name": self.title},
        }
        page = aiohttp_jinja2.render_string("app_index.html", request, context)
        page = FONT_CDN_LINK.sub(LOCAL_FONT.format(static=static), page)
        response = web.Response(text=page, content_type="text/html")
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"  # the key is in the URL
        return response

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        if not self._holds_key(request.match_info.get("key", "")):
            raise web.HTTPForbidden(text="wrong key")
        if request.headers.get("Origin") != self.public_url:
            raise web.HTTPForbidden(text="a page of another site may not connect")
        return await super().handle_websocket(request)
