"""``annotate serve --logins``: two experts in browsers, each working only as themselves.

The server runs for real; the test is the browser: it posts the login form, keeps the
session cookie and drives the UI over the websocket, reading the streamed screen.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annotate.cli import app
from annotate.logins import LoginCheck, add_login, read_logins
from store.db import make_engine
from tests.interactive import ROOT, _page, browse_socket

runner = CliRunner()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


def _request(url: str, *, form: dict[str, str] | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:  # fmt: skip
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, headers=headers or {})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def _login(base: str, name: str, secret: str) -> str | None:
    """The session cookie a correct login sets (None when refused)."""
    status, headers, _ = _request(f"{base}/login", form={"name": name, "secret": secret},
                                  headers={"Origin": base})  # fmt: skip
    if status != 303:
        return None
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie, cookie
    return cookie.split(";", 1)[0].split("=", 1)[1]


def _screen(base: str, cookie: str | None, expect: str, *, query: str = "",
            origin: str | None = None, timeout: float = 60.0) -> str:  # fmt: skip
    socket = "ws://" + base.removeprefix("http://") + "/ws?width=140&height=40" + query
    cookies = {"annotate_session": cookie} if cookie else None
    return asyncio.run(browse_socket(socket, origin or base, expect, timeout, cookies=cookies))


def _authors(db: str) -> dict[str, set[str]]:
    engine = make_engine(db)
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT author_id, session_id FROM rationales WHERE author_id IS NOT NULL"
            ).all()
    finally:
        engine.dispose()
    sessions: dict[str, set[str]] = {}
    for author, session in rows:
        sessions.setdefault(author, set()).add(session)
    return sessions


def _coding_work(db: str) -> dict[str, set[str]]:
    """Sessions each person codes or reviews the coding of (listed in their queue too)."""
    engine = make_engine(db)
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT coder_id, session_id FROM codings UNION SELECT r.reviewer_id, "
                "c.session_id FROM coding_reviews r JOIN codings c ON c.id = r.coding_id"
            ).all()
    finally:
        engine.dispose()
    sessions: dict[str, set[str]] = {}
    for person, session in rows:
        sessions.setdefault(person, set()).add(session)
    return sessions


def _not_theirs(db: str, name: str, other: str) -> set[str]:
    """The other's rationale sessions that nothing in NAME's queue lists."""
    hidden = _authors(db)[other] - _coding_work(db).get(name, set())
    assert hidden, "the demo should leave some of the other's sessions out of the queue"
    return hidden


@pytest.fixture
def team(tmp_path: Path) -> Iterator[tuple[str, str, dict[str, str]]]:
    """A demo store served in team mode to ana and ben: (base URL, db, secrets)."""
    db = str(tmp_path / "team.db")
    assert runner.invoke(app, ["--db", db, "demo", "--no-ui"]).exit_code == 0
    logins = tmp_path / "logins.toml"
    secrets = {name: add_login(logins, name) for name in ("ana", "ben")}
    process = subprocess.Popen(
        [sys.executable, "-m", "annotate", "--db", db, "serve", "--port", "0",
         "--logins", str(logins)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    first = process.stdout.readline()
    try:
        assert " on http://127.0.0.1:" in first, first + process.stdout.read()
        base = first.split(" on ")[1].strip().rstrip("/")
        _page(f"{base}/login", 30.0)
        yield base, db, secrets
    finally:
        process.send_signal(signal.SIGINT)
        output = first + process.communicate(timeout=30)[0]
        assert all(secret not in output for secret in secrets.values()), output


def test_each_expert_sees_only_their_own_queue(team) -> None:  # type: ignore[no-untyped-def]
    base, db, secrets = team
    own = _authors(db)
    assert own["ana"] and own["ben"] and not own["ana"] & own["ben"]
    for name, other in (("ana", "ben"), ("ben", "ana")):
        cookie = _login(base, name, secrets[name])
        assert cookie is not None
        screen = _screen(base, cookie, " rationales · ")
        assert f"annotate — {name}" in screen or f"annotate - {name}" in screen, screen[:600]
        assert all(session in screen for session in own[name]), (name, screen[-2000:])
        hidden = _not_theirs(db, name, other)
        assert not any(session in screen for session in hidden), (name, screen[-2000:])


def test_an_expert_cannot_act_as_another(team) -> None:  # type: ignore[no-untyped-def]
    base, db, secrets = team
    own = _authors(db)
    # Another's name with one's own secret, a guessed secret, an unknown name: refused.
    assert _login(base, "ben", secrets["ana"]) is None
    assert _login(base, "ben", "guess") is None
    assert _login(base, "nobody", secrets["ana"]) is None
    # Without a session the page sends to the login form and the websocket is refused.
    status, headers, _ = _request(f"{base}/")
    assert status == 303 and headers["Location"] == "/login"
    for cookie in (None, "forged-session-token"):
        with pytest.raises(Exception, match="403"):
            _screen(base, cookie, "never")
    ana = _login(base, "ana", secrets["ana"])
    assert ana is not None
    # Nothing in the request chooses the annotator: ana's session is ana's UI.
    screen = _screen(base, ana, " rationales · ", query="&annotator=ben&user=ben")
    assert all(session in screen for session in own["ana"])
    assert not any(session in screen for session in _not_theirs(db, "ana", "ben"))
    # A page of another site cannot use ana's session.
    with pytest.raises(Exception, match="403"):
        _screen(base, ana, "never", origin="http://evil.example")
    status, _, _ = _request(f"{base}/login", form={"name": "ana", "secret": secrets["ana"]},
                            headers={"Origin": "http://evil.example"})  # fmt: skip
    assert status == 403
    # After logging out the cookie opens nothing.
    status, _, _ = _request(f"{base}/logout", form={},
                            headers={"Cookie": f"annotate_session={ana}"})  # fmt: skip
    assert status == 303
    with pytest.raises(Exception, match="403"):
        _screen(base, ana, "never")


def test_logins_file_keeps_hashes_only(tmp_path: Path) -> None:
    logins = tmp_path / "l" / "logins.toml"
    result = runner.invoke(app, ["login", "add", "陈医生", "--logins", str(logins)])
    assert result.exit_code == 0, result.output
    secret = result.output.rsplit(": ", 1)[1].strip()
    assert secret not in logins.read_text(encoding="utf-8")
    assert oct(logins.stat().st_mode & 0o777) == "0o600"
    check = LoginCheck(read_logins(logins))
    assert check.names == ["陈医生"]
    assert check.verify("陈医生", secret) and not check.verify("陈医生", secret + "x")
    again = runner.invoke(app, ["login", "add", "陈医生", "--logins", str(logins)])
    assert again.exit_code == 1 and "--replace" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    replaced = runner.invoke(app, ["login", "add", "陈医生", "--replace", "--logins", str(logins)])
    new_secret = replaced.output.rsplit(": ", 1)[1].strip()
    check = LoginCheck(read_logins(logins))
    assert check.verify("陈医生", new_secret) and not check.verify("陈医生", secret)
    assert runner.invoke(app, ["login", "remove", "陈医生", "--logins", str(logins)]).exit_code == 0
    assert read_logins(logins) == {}
    empty = runner.invoke(app, ["--db", str(tmp_path / "x.db"), "serve", "--logins", str(logins)])
    assert empty.exit_code == 1 and "has no logins" in empty.stderr
    logins.write_text("[logins.ana]\nhash = 'plain-text'\n", encoding="utf-8")
    broken = runner.invoke(app, ["login", "list", "--logins", str(logins)])
    assert broken.exit_code == 1 and "no Argon2 hash" in broken.stderr
