"""A marker draft records what was done about identifiers (issue 26), as a rationale
draft does: ``marker_drafts.params`` holds ``{"deidentify": {mode, method, version}}``
when what was sent was de-identified, ``{"deidentify": {"off": "explicit"}}`` when
``--no-deidentify`` sent a transcript to an endpoint off this machine, no ``deidentify``
for a local endpoint without a flag, and nothing (NULL) for the offline hinter.

The real ``openai`` client talks to the project's test server (``tests/llm_server.py``);
a remote endpoint is simulated by making ``is_local`` say no.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from annotate.deid import endpoint
from annotate.deid.detect import METHOD, VERSION
from annotate.drafting import DraftSettings
from annotate.drafting.markers import run_markers
from cli.app import app
from store.tables import MARKER_DRAFTS
from tests.deid.planted import EN_ID, ZH_ID, import_planted, leaks
from tests.llm_server import FakeLLM

runner = CliRunner()
ON = {"mode": "surrogate", "method": METHOD, "version": VERSION}


@pytest.fixture
def remote(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every endpoint is taken for one off this machine (the test server is on it)."""
    monkeypatch.setattr(endpoint, "is_local", lambda base_url, **_: False)


def _params(engine) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Each session's marker draft's params (JSON text on some drivers: decoded)."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(MARKER_DRAFTS.c.session_id, MARKER_DRAFTS.c.params, MARKER_DRAFTS.c.status)
        ).all()
    found = {}
    for session_id, params, status in rows:
        assert status == "ok", (session_id, status)
        found[session_id] = json.loads(params) if isinstance(params, str) else params
    return found


def _settings(fake: FakeLLM, deidentify: bool | None, mode: str = "surrogate") -> DraftSettings:
    return DraftSettings(provider="openai", model="test-model", base_url=fake.base_url,
                         max_retries=0, deidentify=deidentify, deidentify_mode=mode)  # fmt: skip


@pytest.mark.both_backends
@pytest.mark.parametrize(
    ("deidentify", "mode", "is_remote", "expected"),
    [
        (True, "surrogate", False, ON),  # --deidentify to a local endpoint
        (True, "tag", False, {**ON, "mode": "tag"}),  # --deidentify --deidentify-mode tag
        (None, "surrogate", True, ON),  # a remote endpoint, neither flag: on
        (False, "surrogate", True, {"off": "explicit"}),  # --no-deidentify, remote
        (None, "surrogate", False, None),  # a local endpoint, neither flag: nothing
    ],
    ids=["flag", "tag", "remote", "explicit-off", "local"],
)
def test_a_marker_draft_records_what_was_done_about_identifiers(
    store,  # type: ignore[no-untyped-def]
    fake: FakeLLM,
    monkeypatch: pytest.MonkeyPatch,
    deidentify: bool | None,
    mode: str,
    is_remote: bool,
    expected: dict[str, str] | None,
) -> None:
    if is_remote:
        monkeypatch.setattr(endpoint, "is_local", lambda base_url, **_: False)
    run = run_markers(store, _settings(fake, deidentify, mode), sessions=[EN_ID, ZH_ID])
    assert (run.sessions, run.ok, run.failed) == (2, 2, 0), run.errors
    params = _params(store)
    assert set(params) == {EN_ID, ZH_ID}
    for stored in params.values():
        assert stored is not None and stored["temperature"] is not None  # what was asked
        if expected is None:
            assert "deidentify" not in stored
        else:
            assert stored["deidentify"] == expected
    sent_plain = expected is None or expected == {"off": "explicit"}
    assert bool(leaks(fake.raw_bodies)) is sent_plain


@pytest.mark.both_backends
def test_the_offline_hinter_records_no_parameters(store) -> None:  # type: ignore[no-untyped-def]
    run = run_markers(store, None, sessions=[EN_ID])
    assert run.failed == 0
    with store.connect() as connection:
        (params,) = connection.execute(select(MARKER_DRAFTS.c.params)).scalars().all()
    assert params is None


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A store file with the planted sessions, for the command line."""
    from annotate.core.database import initialise

    path = tmp_path / "cli.db"
    engine, _ = initialise(f"sqlite:///{path}")
    import_planted(engine, tmp_path)
    engine.dispose()
    return str(path)


def _draft_markers(db: str, fake: FakeLLM, *args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["--db", db, "draft", "--markers", "--json", "--base-url",
                                 fake.base_url, "--model", "test-model", "--max-retries", "0",
                                 *args])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def test_draft_markers_deidentify_on_the_command_line(db: str, fake: FakeLLM) -> None:
    from store.db import make_engine

    summary = _draft_markers(db, fake, "--deidentify", "--session", EN_ID)
    assert summary["deidentify"] == ON and summary["ok"] == 1
    assert leaks(fake.raw_bodies) == []
    engine = make_engine(db)
    try:
        assert _params(engine)[EN_ID]["deidentify"] == ON
    finally:
        engine.dispose()


@pytest.mark.usefixtures("remote")
def test_draft_markers_no_deidentify_to_a_remote_endpoint_is_recorded(
    db: str, fake: FakeLLM
) -> None:
    from store.db import make_engine

    summary = _draft_markers(db, fake, "--no-deidentify", "--session", ZH_ID)
    assert summary["deidentify"] == {"off": "explicit"} and summary["ok"] == 1
    assert leaks(fake.raw_bodies)  # what the user chose to send
    engine = make_engine(db)
    try:
        assert _params(engine)[ZH_ID]["deidentify"] == {"off": "explicit"}
    finally:
        engine.dispose()
