"""assign, review-assign, progress detail, tui and serve from the command line."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from typer.testing import CliRunner

from cli.app import app
from tests.factories import session_record, write_jsonl

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def demo_db(tmp_path: Path) -> str:
    db = str(tmp_path / "d.db")
    result = runner.invoke(app, ["--db", db, "demo", "--no-ui"])
    assert result.exit_code == 0, result.output
    return db


def test_assign_then_progress_json(tmp_path: Path) -> None:
    db = demo_db(tmp_path)
    result = runner.invoke(app, ["--db", db, "assign", "--annotators", "ana,ben,chen", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # every rated item: the 192 of the annotated sessions (48 imported with an author) and
    # the 1152 of the monitoring sessions, which the demo itself hands to nobody
    assert sum(data["created"].values()) == 1344 - 48
    assert sum(data["total"].values()) == 1344
    progress = json.loads(runner.invoke(app, ["--db", db, "progress", "--json"]).stdout)
    assert progress["rationales"] == 1344 and isinstance(progress["sessions"], int)
    assert set(progress["by_annotator"]) == {"ana", "ben", "chen"}
    assert set(progress["by_dimension"]) == {"goal", "task", "bond"}
    assert sum(row["assigned"] for row in progress["by_annotator"].values()) == 1344
    assert progress["by_annotator"]["ana"]["score_means"]["faithfulness"] is not None


def test_review_assign_and_text_output(tmp_path: Path) -> None:
    db = demo_db(tmp_path)
    result = runner.invoke(app, ["--db", db, "review-assign", "--sessions", "2", "--overlap", "2"])
    assert result.exit_code == 0, result.output
    assert "2 sessions sampled, 1 with overlap" in result.output
    text = runner.invoke(app, ["--db", db, "progress"]).output
    assert "annotator" in text and "sent back" in text and "dimension" in text


def test_review_assign_refuses_both_sample_options(tmp_path: Path) -> None:
    db = demo_db(tmp_path)
    result = runner.invoke(
        app, ["--db", db, "review-assign", "--fraction", "0.5", "--sessions", "2"]
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: give exactly one of --fraction and --sessions"


def test_assign_with_chinese_sessions(tmp_path: Path) -> None:
    db = str(tmp_path / "z.db")
    record = session_record("中1", language="zh")
    assert (
        runner.invoke(
            app, ["--db", db, "import", str(write_jsonl(tmp_path / "s.jsonl", [record]))]
        ).exit_code
        == 0
    )
    result = runner.invoke(app, ["--db", db, "assign", "--annotators", "王医生", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "created": {"王医生": 12},
        "total": {"王医生": 12},
        "order": "session",
        "ordered": 0,
        "unmeasured": 0,
    }
    assert "王医生" in result.stdout  # unescaped


def test_progress_json_does_not_import_pandas_or_textual(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom cli.app import main\n"
        f"sys.argv = ['annotate', '--db', {str(tmp_path / 'p.db')!r}, 'progress', '--json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', sorted(m for m in ('pandas', 'textual', 'numpy') if m in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    ).stdout
    assert "HEAVY []" in output


def test_tui_and_serve_are_listed() -> None:
    result = runner.invoke(app, ["--help"])
    for command in ("tui", "serve", "assign", "review-assign"):
        assert f"  {command} " in result.output
    assert "--annotator" in runner.invoke(app, ["tui", "--help"]).output


def test_tui_without_a_terminal_says_so_instead_of_hanging(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--db", str(tmp_path / "t.db"), "tui", "--annotator", "ana"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: annotate tui needs a terminal (or use annotate serve for a browser)"
    )


def test_serve_answers_on_loopback(tmp_path: Path) -> None:
    db = demo_db(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "annotate",
            "--db",
            db,
            "serve",
            "--port",
            "0",
            "--annotator",
            "ana",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("annotate UI on http://127.0.0.1:"), first
        url = first.split(" on ")[1].strip()
        deadline, page = time.monotonic() + 30, ""
        while time.monotonic() < deadline and not page:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    page = response.read().decode("utf-8")
            except OSError:
                time.sleep(0.2)
        assert "<div>annotate</div>" in page
        origin, key = url.split("/?key=")
        assert len(key) >= 32
        socket = f"ws://{origin.removeprefix('http://')}/ws/{key}"
        assert f'data-session-websocket-url="{socket}"' in page
        # Nothing is fetched from outside the server: the font is the packaged one.
        assert "googleapis" not in page and f"{origin}/static/fonts/RobotoMono" in page
        refused = _refusals(origin, key)
        assert refused == {
            "page without the key": 403,
            "page with a wrong key": 403,
            "static listing": 403,
            "websocket without the key": 403,
            "websocket from another site": 403,
            "websocket without an Origin": 403,
        }
        assert asyncio.run(_opens_websocket(f"{socket}?width=80&height=24", origin))
    finally:
        process.terminate()
        process.wait(timeout=30)


def _refusals(origin: str, key: str) -> dict[str, int]:
    """The HTTP status of requests a foreign page or a stranger could make."""
    import asyncio

    import aiohttp

    async def status(url: str, headers: dict[str, str] | None = None, ws: bool = False) -> int:
        async with aiohttp.ClientSession() as client:
            if ws:
                try:
                    async with client.ws_connect(url, headers=headers or {}):
                        return 101
                except aiohttp.WSServerHandshakeError as error:
                    return error.status
            async with client.get(url) as response:
                return response.status

    socket = f"ws://{origin.removeprefix('http://')}/ws"

    async def gather() -> dict[str, int]:
        return {
            "page without the key": await status(f"{origin}/"),
            "page with a wrong key": await status(f"{origin}/?key=guess"),
            "static listing": await status(f"{origin}/static/"),
            "websocket without the key": await status(
                f"{socket}/guess", {"Origin": origin}, ws=True
            ),
            "websocket from another site": await status(
                f"{socket}/{key}", {"Origin": "http://evil.example.com"}, ws=True
            ),
            "websocket without an Origin": await status(f"{socket}/{key}", ws=True),
        }

    return asyncio.run(gather())


async def _opens_websocket(url: str, origin: str) -> bool:
    import aiohttp

    async with aiohttp.ClientSession() as client, client.ws_connect(url, origin=origin) as ws:
        message = await ws.receive(timeout=30)
        await ws.close()
        return message.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT)
