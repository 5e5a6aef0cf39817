"""The interactive commands run for real: ``tui`` on a pty, ``serve`` driven as a browser.

Both return what a user would have seen (control sequences removed) and the exit
code, so that they can sit in the table of tests/cli/test_backends.py beside the
commands that run under ``CliRunner``.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.tui.ptyrun import Terminal, wait_until

ROOT = Path(__file__).resolve().parents[1]
CTRL_Q = "\x11"
_CONTROL = re.compile(
    rb"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: cursor moves, colours, modes
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: titles, colour queries
    rb"|\x1b[()][0-9A-Za-z]|\x1b[=>78]"
)


def plain(screen: bytes) -> str:
    """Terminal output without its control sequences."""
    return _CONTROL.sub(b"", screen).decode("utf-8", errors="replace")


def in_terminal(*args: str, expect: str, timeout: float = 60.0) -> tuple[int, str]:
    """``annotate ARGS`` on a 140x40 pty: wait until ``expect`` is drawn, press Ctrl+Q."""
    terminal = Terminal(*args)
    try:
        try:
            wait_until(lambda: expect in plain(bytes(terminal.screen)), repr(expect), timeout)
        except AssertionError:
            return -1, plain(bytes(terminal.screen))
        terminal.type(CTRL_Q)
        terminal.process.wait(timeout=30)
    finally:
        code = terminal.close()
    return code, plain(bytes(terminal.screen))


def served(*args: str, expect: str, timeout: float = 60.0) -> tuple[int, str]:
    """``annotate ... serve --port 0 ...``: load the page, then drive the UI over its websocket.

    Connecting the websocket starts ``annotate tui`` under Textual's web driver, as a
    browser would; the test waits for ``expect`` on the streamed screen, presses Ctrl+Q
    (the app exits and the server closes the socket), then stops the server with SIGINT.
    Returns the server's exit code and its output, the page and the screen.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "annotate", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    seen = []
    try:
        first = process.stdout.readline().decode("utf-8", errors="replace")
        seen.append(first)
        if " on http://" not in first:
            return process.wait(timeout=30), "".join(seen) + process.stdout.read().decode()
        url = first.split(" on ")[1].strip()
        seen.append(_page(url, timeout))
        seen.append(asyncio.run(_browse(url, expect, timeout)))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # what Ctrl+C in the server's terminal sends
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait(timeout=30)
        seen.append(process.stdout.read().decode("utf-8", errors="replace"))
    return code, "".join(seen)


def _page(url: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return str(response.read().decode("utf-8"))
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


async def _browse(url: str, expect: str, timeout: float) -> str:
    origin, key = url.split("/?key=")
    socket_url = "ws://" + origin.removeprefix("http://") + f"/ws/{key}?width=140&height=40"
    return await browse_socket(socket_url, origin, expect, timeout)


async def browse_socket(
    socket_url: str,
    origin: str,
    expect: str,
    timeout: float,
    *,
    cookies: dict[str, str] | None = None,
) -> str:
    """The screen a browser's websocket to SOCKET_URL shows until EXPECT (then Ctrl+Q)."""
    import aiohttp

    screen = bytearray()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with (
        aiohttp.ClientSession(cookies=cookies) as client,
        client.ws_connect(socket_url, origin=origin) as socket,
    ):
        sent_quit = False
        while True:
            if not sent_quit and expect in plain(bytes(screen)):
                await socket.send_json(["stdin", CTRL_Q])
                sent_quit = True
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                message = await asyncio.wait_for(socket.receive(), remaining)
            except TimeoutError:
                break
            if message.type == aiohttp.WSMsgType.BINARY:
                screen.extend(message.data)
            elif message.type == aiohttp.WSMsgType.TEXT:
                continue  # meta messages (e.g. the app's exit)
            else:
                break  # the server closed the socket: the app has exited
    return plain(bytes(screen))
