"""Nothing identifying leaves in a request to a model (issue 26): ``draft`` de-identifies
with ``--deidentify`` and by default for an endpoint not on this machine, and maps the
model's reply back before grounding and storing.

The real ``openai`` client talks to the project's test server (``tests/llm_server.py``),
which keeps every request body as received. With the ``whole-turns`` fault the server
answers with a rationale and quotes that repeat the client's turns as it received them,
surrogates and all: the stored draft must hold the original names and be grounded.
A remote endpoint is simulated by making ``is_local`` say no.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from annotate.deid import endpoint
from annotate.deid.detect import METHOD, VERSION
from annotate.drafting import DraftSettings, WorkSelection, draft_one, make_provider, run_batch
from annotate.drafting.context import load_contexts
from annotate.drafting.deidentify import NotDeidentified, decide
from annotate.drafting.markers import run_markers
from cli.app import app
from store.db import session_scope
from store.tables import DRAFTS
from tests.deid.planted import (
    EN_ID,
    EN_TURNS,
    PLANTED,
    PLANTED_EN,
    ZH_ID,
    ZH_TURNS,
    import_planted,
    leaks,
    surrogate,
)
from tests.llm_server import FakeLLM, ServerThread

runner = CliRunner()
ON = {"mode": "surrogate", "method": METHOD, "version": VERSION}
ORIGINAL = {EN_ID: dict(enumerate((t for _, t in EN_TURNS), 1)),
            ZH_ID: dict(enumerate((t for _, t in ZH_TURNS), 1))}  # fmt: skip


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A store file with the planted sessions, for the command line."""
    from annotate.core.database import initialise

    path = tmp_path / "cli.db"
    engine, _ = initialise(f"sqlite:///{path}")
    import_planted(engine, tmp_path)
    engine.dispose()
    return str(path)


@pytest.fixture
def remote(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every endpoint is taken for one off this machine (the test server is on it)."""
    monkeypatch.setattr(endpoint, "is_local", lambda base_url, **_: False)


def _drafts(engine) -> list[dict]:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(select(DRAFTS))]


def _draft(db: str, fake: FakeLLM, *args: str) -> dict:
    result = runner.invoke(app, ["--db", db, "draft", "--json", "--base-url", fake.base_url,
                                 "--model", "test-model", "--max-retries", "0", "--force",
                                 "--dimension", "goal", *args])  # fmt: skip
    assert result.exit_code == 0, result.output
    return {"summary": json.loads(result.stdout), "stderr": result.stderr}


def _check_restored(drafts: list[dict]) -> None:
    """Every draft is grounded and holds the original turns, none of the surrogates."""
    assert drafts
    for draft in drafts:
        assert draft["status"] == "ok", (draft["grounding_error"], draft["error"])
        turns = ORIGINAL[draft["session_id"]]
        quotes = draft["quotes"]
        quotes = quotes if isinstance(quotes, list) else json.loads(quotes)
        assert quotes and all(q["text"] == turns[q["turn"]] for q in quotes)
        assert all(turns[q["turn"]] in draft["text"] for q in quotes)


def test_draft_deidentify_sends_no_identifier_and_stores_the_originals(
    db: str, fake: FakeLLM
) -> None:
    from store.db import make_engine

    ran = _draft(db, fake, "--deidentify")
    assert ran["summary"]["done"] == ran["summary"]["ok"] == 8  # 2 sessions x 4 goal items
    assert ran["summary"]["deidentify"] == ON
    assert len(fake.raw_bodies) == 8
    assert leaks(fake.raw_bodies) == []
    # The server read surrogates (not a blanked transcript) and answered with them.
    engine = make_engine(db)
    try:
        tobias = surrogate(engine, "cl-deid-en", "name", "Tobias")
        chengdu = surrogate(engine, "cl-deid-zh", "place", "成都")
        sent = b"".join(fake.raw_bodies).decode("utf-8")
        assert tobias in sent and chengdu in sent
        drafts = _drafts(engine)
        _check_restored(drafts)
        assert all(d["params"]["deidentify"] == ON for d in drafts)
        en = [d for d in drafts if d["session_id"] == EN_ID]
        assert all("Tobias" in d["text"] and tobias not in d["text"] for d in en)
    finally:
        engine.dispose()


def test_tag_mode_sends_tags_and_stores_the_originals(db: str, fake: FakeLLM) -> None:
    from store.db import make_engine

    ran = _draft(db, fake, "--deidentify", "--deidentify-mode", "tag", "--session", ZH_ID)
    assert ran["summary"]["ok"] == 4 and ran["summary"]["deidentify"]["mode"] == "tag"
    assert leaks(fake.raw_bodies) == []
    assert b"[NAME_" in b"".join(fake.raw_bodies)
    engine = make_engine(db)
    try:
        _check_restored(_drafts(engine))
    finally:
        engine.dispose()


def test_a_local_endpoint_sends_the_transcript_as_it_is(db: str, fake: FakeLLM) -> None:
    """The test server is on this machine: without a flag nothing is changed or recorded."""
    from store.db import make_engine

    ran = _draft(db, fake, "--session", EN_ID)
    assert ran["summary"]["ok"] == 4 and "deidentify" not in ran["summary"]
    assert {identifier for _, identifier in leaks(fake.raw_bodies)} >= {"Tobias", "Millbrook"}
    engine = make_engine(db)
    try:
        drafts = _drafts(engine)
        _check_restored(drafts)
        assert all("deidentify" not in d["params"] for d in drafts)
    finally:
        engine.dispose()
    assert "warning" not in ran["stderr"]


@pytest.mark.usefixtures("remote")
def test_a_remote_endpoint_is_deidentified_by_default_and_no_deidentify_is_recorded(
    db: str, fake: FakeLLM
) -> None:
    from store.db import make_engine

    ran = _draft(db, fake)
    assert ran["summary"]["ok"] == 8 and ran["summary"]["deidentify"] == ON
    assert leaks(fake.raw_bodies) == []
    assert "warning" not in ran["stderr"]
    fake.raw_bodies.clear()
    plain = _draft(db, fake, "--no-deidentify", "--session", EN_ID)
    assert plain["summary"]["deidentify"] == {"off": "explicit"}
    warning = [line for line in plain["stderr"].splitlines() if line.startswith("warning")]
    assert len(warning) == 1 and "--no-deidentify" in warning[0]
    found = {identifier for _, identifier in leaks(fake.raw_bodies)}
    assert found >= {"Tobias", "Millbrook", "555-867-5309"}  # what the user chose to send
    engine = make_engine(db)
    try:
        newest = [d for d in _drafts(engine) if d["session_id"] == EN_ID][-4:]
        assert all(d["params"]["deidentify"] == {"off": "explicit"} for d in newest)
        _check_restored(newest)
    finally:
        engine.dispose()


@pytest.mark.both_backends
@pytest.mark.usefixtures("remote")
def test_the_service_default_and_draft_one_deidentify_for_a_remote_endpoint(
    store, fake: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``run_batch`` and ``draft_one`` (the terminal UI's drafter, configured from the
    environment) decide alike."""
    settings = DraftSettings(provider="openai", model="test-model", base_url=fake.base_url,
                             max_retries=0)  # fmt: skip
    summary = run_batch(store, make_provider(settings), WorkSelection(dimension="bond"))
    assert (summary.progress.done, summary.progress.ok) == (8, 8)
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    one = draft_one(store, ZH_ID, "task_1")
    assert one.status == "ok" and one.params["deidentify"] == ON
    assert leaks(fake.raw_bodies) == [] and len(fake.raw_bodies) == 9
    _check_restored(_drafts(store))


def test_a_provider_that_must_deidentify_refuses_a_plain_transcript(store, fake: FakeLLM) -> None:  # type: ignore[no-untyped-def]
    settings = DraftSettings(provider="openai", model="m", base_url=fake.base_url,
                             deidentify=True, max_retries=0)  # fmt: skip
    provider = make_provider(settings)
    with session_scope(store) as session:
        (context,) = load_contexts(session, [(EN_ID, "goal_1")])

    async def ask() -> None:
        async with provider:
            await provider.draft(context)

    with pytest.raises(NotDeidentified):
        asyncio.run(ask())
    assert fake.raw_bodies == []


@pytest.mark.both_backends
@pytest.mark.parametrize("how", ["flag", "remote"])
def test_marker_proposals_are_deidentified_and_mapped_back(
    store, fake: FakeLLM, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if how == "remote":
        monkeypatch.setattr(endpoint, "is_local", lambda base_url, **_: False)
    settings = DraftSettings(provider="openai", model="test-model", base_url=fake.base_url,
                             max_retries=0, deidentify=True if how == "flag" else None)  # fmt: skip
    run = run_markers(store, settings, sessions=[EN_ID, ZH_ID])
    assert (run.sessions, run.ok, run.failed) == (2, 2, 0), run.errors
    assert leaks(fake.raw_bodies) == [] and len(fake.raw_bodies) == 2
    with store.connect() as connection:
        rows = connection.execute(text(
            "SELECT session_id, turn_number, quote, reason, grounded FROM marker_suggestions"
        )).all()  # fmt: skip
    assert len(rows) == 6  # every client turn, quoted whole
    for session_id, turn, quote, reason, grounded in rows:
        assert grounded and quote == ORIGINAL[session_id][turn]
        assert reason == f"The client says: {quote}"


@pytest.mark.usefixtures("remote")
def test_the_batch_api_sends_deidentified_requests_and_ingests_the_originals(
    db: str, fake: FakeLLM, tmp_path: Path
) -> None:
    from store.db import make_engine

    base = ["--db", db, "draft", "--base-url", fake.base_url, "--model", "test-model",
            "--dimension", "task", "--max-retries", "0"]  # fmt: skip
    written = runner.invoke(app, [*base, "--batch-file", str(tmp_path / "requests.jsonl")])
    assert written.exit_code == 0, written.output
    lines = (tmp_path / "requests.jsonl").read_bytes()
    assert lines.count(b"\n") == 8 and leaks([lines]) == []
    ran = runner.invoke(app, [*base, "--batch-api", "--json", "--poll-seconds", "0.05"])
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout)["ok"] == 8
    uploads = [body for body in fake.raw_bodies if b"custom_id" in body]
    assert len(uploads) == 1 and leaks(fake.raw_bodies) == []
    engine = make_engine(db)
    try:
        drafts = _drafts(engine)
        _check_restored(drafts)
        assert all(d["params"]["deidentify"] == ON and d["params"]["batch"] for d in drafts)
    finally:
        engine.dispose()


def test_the_planted_identifiers_are_in_the_sessions() -> None:
    """The leak check can fail: every planted identifier is in the transcripts or the
    ``names`` metadata as imported."""
    from tests.deid.planted import records

    raw = json.dumps(records(), ensure_ascii=False).encode("utf-8")
    assert {identifier for _, identifier in leaks([raw])} == set(PLANTED)
    assert leaks([json.dumps(records()).encode()], PLANTED_EN)  # and JSON-escaped


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8000/v1", True),
        ("http://localhost:11434/v1", True),
        ("http://LOCALHOST./v1", True),
        ("http://[::1]:8000/v1", True),
        ("http://[::ffff:127.0.0.1]/v1", True),
        ("http://127.0.0.2/v1", True),
        ("http://user:pass@127.0.0.1/v1", True),
        ("https://api.openai.com/v1", False),
        ("http://10.0.0.7:8000/v1", False),
        ("http://192.168.1.20/v1", False),
        ("http://0.0.0.0:8000/v1", False),
        ("http://no-such-host.invalid/v1", False),
        ("http://[zz/v1", False),
        ("", False),
        (None, False),
    ],
)
def test_is_local(url: str | None, local: bool) -> None:
    assert endpoint.is_local(url) is local


def test_a_name_is_local_only_when_it_resolves_to_loopback_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    answers = {
        "gpu-box": ["127.0.0.1"],
        "split": ["127.0.0.1", "10.1.2.3"],
        "slow": None,
    }

    def getaddrinfo(name: str, *_: object, **__: object) -> list:
        found = answers[name]
        if found is None:
            import time

            time.sleep(1.0)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 0))]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 0)) for address in found]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    assert endpoint.is_local("http://gpu-box:8000/v1")
    assert not endpoint.is_local("http://split:8000/v1")
    assert not endpoint.is_local("http://slow:8000/v1", timeout=0.1)


def test_a_proxy_carries_the_request_off_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.com:3128")
    assert not endpoint.is_local("https://localhost:8443/v1")
    assert endpoint.is_local("http://localhost:8000/v1")  # no proxy for http
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    monkeypatch.delenv("HTTPS_PROXY")
    assert endpoint.is_local("https://localhost:8443/v1")  # a proxy on this machine


def test_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    here = "http://127.0.0.1:1/v1"
    assert decide(here, None).provenance() is None
    assert decide(here, True).provenance() == ON
    assert decide(here, False).provenance() is None  # nothing leaves: nothing to record
    assert decide(None, None).provenance() == ON  # the OpenAI API
    assert decide(None, False).provenance() == {"off": "explicit"}
    assert decide(None, None, "tag").provenance() == {**ON, "mode": "tag"}
    offline = make_provider(DraftSettings(provider="offline"))
    from annotate.drafting.deidentify import plan_of

    assert not plan_of(offline).on  # the offline drafter sends nothing


def test_a_quote_cut_inside_a_surrogate_maps_back_to_the_original_words(
    db: str, tmp_path: Path
) -> None:
    """The test server's usual answer quotes the first 24 characters of the first client
    turn as it received it, which may end inside a surrogate ("drove to Las" of "Las
    Cruces"): the stored quote is the original words under it, and grounded."""
    from store.db import make_engine

    server = FakeLLM()
    with ServerThread(server):
        ran = _draft(db, server, "--deidentify")
    assert ran["summary"]["ok"] == 8 and leaks(server.raw_bodies) == []
    engine = make_engine(db)
    try:
        for draft in _drafts(engine):
            (quote,) = draft["quotes"]
            assert quote["text"] in ORIGINAL[draft["session_id"]][quote["turn"]]
            assert draft["text"].endswith(quote["text"])
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("quote", "masked", "original", "expected"),
    [
        ("Richard and I drove to Las", "Richard and I drove to Las Cruces on April 23.",
         "Tobias and I drove to Millbrook on March 14.", "Tobias and I drove to Millbrook"),
        ("to Las Cruces on Apr", "Richard and I drove to Las Cruces on April 23.",
         "Tobias and I drove to Millbrook on March 14.", "to Millbrook on March"),
        ("RICHARD AND I", "Richard and I drove", "Tobias and I drove", "Tobias and I"),
        ("小成上周回宜", "小成上周回宜都了。", "小明上周回成都了。", "小明上周回成"),
        ("手机174", "他打我的手机17489768523。", "他打我的手机13812345678。", "手机13812345678"),
        ("words nobody said", "Richard and I", "Tobias and I", None),
    ],
)  # fmt: skip
def test_original_under(quote: str, masked: str, original: str, expected: str | None) -> None:
    from annotate.drafting.deidentify import original_under

    assert original_under(quote, masked, original) == expected


@pytest.mark.usefixtures("remote")
def test_a_batch_file_is_deidentified_and_its_output_ingested_with_the_originals(
    db: str, fake: FakeLLM, tmp_path: Path
) -> None:
    """``--batch-file`` writes masked requests (its batch records the mode); the runner's
    output, answered from the masked text, is mapped back on ``--ingest``."""
    import urllib.request

    from store.db import make_engine

    base = ["--db", db, "draft", "--base-url", fake.base_url, "--model", "test-model",
            "--dimension", "bond"]  # fmt: skip
    requests = tmp_path / "requests.jsonl"
    assert runner.invoke(app, [*base, "--batch-file", str(requests)]).exit_code == 0
    assert leaks([requests.read_bytes()]) == []
    outputs = []
    for line in requests.read_text(encoding="utf-8").splitlines():  # an offline runner
        entry = json.loads(line)
        asked = urllib.request.Request(
            fake.base_url + "/chat/completions", json.dumps(entry["body"]).encode(),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(asked, timeout=10) as answer:
            body = json.loads(answer.read())
        outputs.append(json.dumps({"id": f"r{len(outputs)}", "custom_id": entry["custom_id"],
                                   "response": {"status_code": 200, "body": body},
                                   "error": None}, ensure_ascii=False))  # fmt: skip
    output = tmp_path / "output.jsonl"
    output.write_text("\n".join(outputs) + "\n", encoding="utf-8")
    ingested = runner.invoke(app, [*base, "--ingest", str(output), "--json"])
    assert ingested.exit_code == 0, ingested.output
    assert json.loads(ingested.stdout)["ok"] == 8
    assert leaks(fake.raw_bodies) == []
    engine = make_engine(db)
    try:
        drafts = _drafts(engine)
        _check_restored(drafts)
        assert all(d["params"]["deidentify"] == ON for d in drafts)
    finally:
        engine.dispose()
