"""``annotate draft --ingest`` on hostile batch output files: one line naming file and
line, a non-zero exit and the store untouched; the same file twice changes nothing."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from typer.testing import CliRunner

from annotate.core.errors import ConfigError
from annotate.drafting.batch import _scrubbed, draft_values
from annotate.drafting.batch_api import MAX_LINE_BYTES, read_batch_output
from annotate.drafting.context import DraftContext, TurnText
from cli.app import app
from tests import hypothesis_profiles

runner = CliRunner()
BASE = ["draft", "--base-url", "http://127.0.0.1:9/v1", "--model", "batch-model"]


def _draft(rationale: str = "The client says the goals are shared.", **extra: Any) -> str:
    return json.dumps({"rationale": rationale, "evidence": [1], "quotes": [], **extra})


def _line(custom_id: str = "s13/goal_1", content: Any = None, **body: Any) -> dict[str, Any]:
    """A valid batch output line (a grounded draft citing turn 1), with ``body`` merged in."""
    return {
        "id": f"batch_req_{custom_id}",
        "custom_id": custom_id,
        "response": {
            "status_code": 200,
            "request_id": "req_1",
            "body": {
                "id": f"chatcmpl-{custom_id}",
                "object": "chat.completion",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant",
                                         "content": _draft() if content is None else content}}],
                "usage": {"prompt_tokens": 700, "completion_tokens": 40, "total_tokens": 740},
                **body,
            },
        },
        "error": None,
    }  # fmt: skip


def _dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _with(path: str, value: Any, line: dict[str, Any] | None = None) -> bytes:
    """A valid line with the value at a dotted path (``response.body.usage``) replaced."""
    data = line or _line()
    target = data
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return _dumps(data)


DEEP = b'{"custom_id": "s13/goal_1", "response": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
GOOD = _dumps(_line("s13/goal_2"))

# (name, the hostile line's bytes); each goes on line 2, after a valid line.
HOSTILE: list[tuple[str, bytes]] = [
    ("response-string", _with("response", "oops")),
    ("status-code-string", _with("response.status_code", "200")),
    ("status-code-out-of-range", _with("response.status_code", 1000)),
    ("choices-string", _with("response.body.choices", "stop")),
    ("choices-too-many", _with("response.body.choices", [{"message": None}] * 50)),
    ("usage-string", _with("response.body.usage", "lots")),
    ("int-id", _with("id", 42)),
    ("int-body-id", _with("response.body.id", 7)),
    ("content-dict", _with("response.body.choices.0.message.content", {"rationale": "x"})),
    ("tokens-many", _with("response.body.usage.prompt_tokens", "many")),
    ("tokens-1e30", _with("response.body.usage.prompt_tokens", 1e30)),
    ("tokens-negative", _with("response.body.usage.completion_tokens", -1)),
    ("tokens-huge-int", _with("response.body.usage.completion_tokens", 10**10)),
    ("tokens-bool", _with("response.body.usage.prompt_tokens", True)),
    ("tokens-inf", _with("response.body.usage.prompt_tokens", float("inf"))),
    ("timings-nan", _with("response.body.timings", {"prompt_ms": float("nan")})),
    ("lone-surrogate-custom-id", _with("custom_id", "s13/goal_1\ud800")),
    ("lone-surrogate-content", _with("response.body.choices.0.message.content", "ok \udc00")),
    ("lone-surrogate-escaped", GOOD.replace(b"s13/goal_2", b"s13/goal_2\\udfff")),
    ("nul-escaped-in-content", GOOD.replace(b"goals", b"go\\u0000als")),
    ("deep-nesting", DEEP),
    ("deep-nesting-top", b"[" * 100_000 + b"]" * 100_000),
    ("invalid-utf8", GOOD.replace(b"goals", b"go\xff\xfeals")),
    ("nul-byte", GOOD.replace(b"goals", b"go\x00als")),
    ("nul-escape-custom-id", _with("custom_id", "s13/goal_1\x00")),
    ("nul-in-rationale", _with("response.body.choices.0.message.content", _draft("a\x00b"))),
    ("surrogate-in-rationale", _with("response.body.choices.0.message.content",
                                     '{"rationale": "a\\ud800", "evidence": [1]}')),
    ("rationale-25k", _with("response.body.choices.0.message.content", _draft("w " * 12_500))),
    ("turn-number-1e30",
     _with("response.body.choices.0.message.content", _draft(evidence=[10**30]))),
    ("evidence-300", _with("response.body.choices.0.message.content",
                           json.dumps({"rationale": "r", "evidence": list(range(300))}))),
    ("content-200k", _with("response.body.choices.0.message.content", "x" * 200_000)),
    ("duplicate-key", b'{"custom_id": "s13/goal_2", "custom_id": "s13/goal_3", "error": null}'),
    ("duplicate-key-nested", GOOD.replace(b'"prompt_tokens": 700', b'"prompt_tokens": 700, '
                                          b'"prompt_tokens": 5')),
    ("custom-id-no-slash", _with("custom_id", "s13-goal_1")),
    ("custom-id-missing", _dumps({"response": _line()["response"]})),
    ("unknown-session", _with("custom_id", "zz/goal_1")),
    ("unknown-item", _with("custom_id", "s13/goal_99")),
    ("repeated-custom-id", _dumps(_line("s13/goal_1"))),
    ("neither-response-nor-error", _dumps({"custom_id": "s13/goal_2"})),
    ("body-null", _with("response.body", None)),
    ("error-string", _dumps({"custom_id": "s13/goal_2", "response": None, "error": "boom"})),
    ("finish-reason-long", _with("response.body.choices.0.finish_reason", "stop" * 100)),
    ("array", b"[1, 2, 3]"),
    ("number", b"42"),
    ("not-json", b"oops, this is a log line"),
    ("bom-on-line-2", b"\xef\xbb\xbf" + GOOD),
    ("long-integer", GOOD.replace(b'"prompt_tokens": 700', b'"prompt_tokens": ' + b"9" * 5000)),
]  # fmt: skip


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    result = runner.invoke(app, ["--db", str(path), "demo", "--no-ui"])
    assert result.exit_code == 0, result.output
    _checkpoint(path)
    return path


@pytest.fixture
def demo_db(demo_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "demo.db"
    shutil.copy(demo_template, path)
    return path


def _checkpoint(path: Path) -> None:
    """Fold the write-ahead log into the file, so its bytes are the whole store."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


def _digest(path: Path) -> str:
    _checkpoint(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _drafts(path: Path) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(
            "SELECT session_id, item_id, status, text, error, params FROM drafts "
            "WHERE model = 'batch-model' ORDER BY id"
        ).fetchall()
    finally:
        connection.close()


def _ingest(db: Path | str, file: Path, *extra: str) -> Any:
    return runner.invoke(app, ["--db", str(db), *BASE, "--ingest", str(file), *extra])


@pytest.mark.parametrize(("name", "hostile"), HOSTILE, ids=[name for name, _ in HOSTILE])
def test_a_hostile_line_is_one_error_and_writes_nothing(
    demo_db: Path, tmp_path: Path, name: str, hostile: bytes
) -> None:
    file = tmp_path / "output.jsonl"
    file.write_bytes(_dumps(_line("s13/goal_1")) + b"\n" + hostile + b"\n")
    before = _digest(demo_db)
    result = _ingest(demo_db, file)
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {file}:2: "), lines[0]
    assert lines[0].endswith("nothing was ingested") and len(lines[0]) < 600
    assert _digest(demo_db) == before  # not a byte written
    assert _drafts(demo_db) == []


def test_a_50_mb_line_is_refused_without_reading_it_whole(demo_db: Path, tmp_path: Path) -> None:
    import tracemalloc

    file = tmp_path / "output.jsonl"
    with file.open("wb") as handle:
        handle.write(_dumps(_line("s13/goal_1")) + b"\n")
        handle.write(b'{"custom_id": "s13/goal_2", "response": {"status_code": 200, "body": '
                     b'{"choices": [{"message": {"content": "')  # fmt: skip
        handle.write(b"w " * (25 << 20))
        handle.write(b'"}}]}}}\n')
        handle.write(_dumps(_line("s13/goal_3")) + b"\n")
    before = _digest(demo_db)
    result = _ingest(demo_db, file)
    assert result.exit_code == 1
    assert result.stderr == (f"error: {file}:2: the line is longer than "
                             f"{MAX_LINE_BYTES >> 20} MiB; nothing was ingested\n")  # fmt: skip
    assert _digest(demo_db) == before
    tracemalloc.start()
    try:
        with file.open("rb") as handle, pytest.raises(ConfigError):
            read_batch_output(handle, str(file))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * MAX_LINE_BYTES  # a line or two at the cap, never the 50 MB


def test_problems_are_counted_and_the_first_named(demo_db: Path, tmp_path: Path) -> None:
    file = tmp_path / "output.jsonl"
    file.write_bytes(b"\n".join([b"not json", _dumps(_line()), b"[]", b"", b"42"]) + b"\n")
    result = _ingest(demo_db, file)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {file}:1: not valid JSON")
    assert "(and 2 more problem(s)); nothing was ingested" in result.stderr


def test_the_same_file_twice_changes_nothing(demo_db: Path, tmp_path: Path) -> None:
    file = tmp_path / "output.jsonl"
    failed = {"id": "batch_req_3", "custom_id": "s13/goal_3", "response": None,
              "error": {"code": "server_error", "message": "model overloaded"}}  # fmt: skip
    refused = _line("s13/goal_4")
    refusal = {"content": None, "refusal": "I can't help."}
    refused["response"]["body"]["choices"][0]["message"] = refusal
    lines = [_line("s13/goal_1"), _line("s13/goal_2"), failed, refused]
    file.write_bytes(b"\xef\xbb\xbf" + b"\n".join(map(_dumps, lines)) + b"\n")  # with a BOM
    first = _ingest(demo_db, file, "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == {"ingested": 4, "ok": 2, "ungrounded": 0, "failed": 2,
                                        "already_ingested": 0}  # fmt: skip
    stored = _drafts(demo_db)
    assert [(s, i, status) for s, i, status, *_ in stored] == [
        ("s13", "goal_1", "ok"), ("s13", "goal_2", "ok"), ("s13", "goal_3", "failed"),
        ("s13", "goal_4", "failed")]  # fmt: skip
    assert "model overloaded" in stored[2][4] and stored[3][4] == "the model refused: I can't help."
    assert all(json.loads(row[5])["batch"] is True for row in stored)
    before = _digest(demo_db)
    again = _ingest(demo_db, file)
    assert again.exit_code == 0, again.output
    assert again.stdout.strip().endswith("0 failed; 4 already ingested (skipped)")
    assert _drafts(demo_db) == stored and _digest(demo_db) == before
    # A new reply for one item (another batch) is a new draft; the rest stay skipped.
    lines[1] = _line("s13/goal_2", content=_draft("Another reading of turn one."), id="other")
    file.write_bytes(b"\n".join(map(_dumps, lines)) + b"\n")
    third = _ingest(demo_db, file, "--json")
    assert json.loads(third.stdout)["ingested"] == 1
    assert json.loads(third.stdout)["already_ingested"] == 3
    assert len(_drafts(demo_db)) == 5


# --- the reader under random mutations ----------------------------------------------------

ERROR_LINE = re.compile(r"^f\.jsonl:\d+: [^\n]+; nothing was ingested$")
CONTEXT = DraftContext("s13", "goal_1", "en", (TurnText(1, "client", "we share goals"),), "item",
                      "goal", "Goal", "", 5, "a", ((1, "a"),), 1, 7, "1.0.0")  # fmt: skip
PROVIDER = SimpleNamespace(name="openai", model="m", base_url_host=None, prompt_version="1",
                           prompt_hash="h", params={"temperature": 0.0})  # fmt: skip

hostile_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["\x00", "\ud800", "a\udfffb", "\ufeff", "s13/goal_1", "", "200", "/"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
PATHS = ["custom_id", "id", "error", "response", "response.status_code", "response.body",
         "response.body.id", "response.body.choices", "response.body.choices.0",
         "response.body.choices.0.message", "response.body.choices.0.message.content",
         "response.body.choices.0.message.refusal", "response.body.choices.0.finish_reason",
         "response.body.usage", "response.body.usage.prompt_tokens",
         "response.body.usage.completion_tokens", "response.body.timings",
         "response.body.usage.prompt_tokens_details"]  # fmt: skip


@st.composite
def mutated_lines(draw: st.DrawFn) -> bytes:
    data = _line()
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        try:
            raw = _with(path, draw(hostile_values), data)
        except (KeyError, IndexError, TypeError, ValueError, RecursionError):
            continue  # the path no longer exists after an earlier mutation
        data = json.loads(raw.decode("utf-8", "surrogatepass"))
    try:
        raw = _dumps(data)
    except (ValueError, RecursionError):
        raw = _dumps(_line())
    kind = draw(st.sampled_from(["as-is", "bom", "utf8", "nul", "dup", "cut", "escape", "deep"]))
    if kind == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif kind == "utf8":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + raw[at:]
    elif kind == "nul":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + b"\x00" + raw[at:]
    elif kind == "dup":
        raw = b'{"custom_id": "s13/goal_2", ' + raw[1:]
    elif kind == "cut":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif kind == "deep":
        depth = draw(st.sampled_from([10, 900, 5_000, 200_000]))
        raw = raw.replace(b'"stop"', b"[" * depth + b"]" * depth)
    elif kind == "escape":
        raw = raw.replace(b"goals", draw(st.sampled_from([b"\\u0000", b"\\ud800", b"\\\\u0000"])))
    return raw.replace(b"\n", b" ")


@settings(
    max_examples=hypothesis_profiles.examples(300),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(line=mutated_lines(), first=st.booleans())
def test_the_reader_accepts_cleanly_or_names_the_line(line: bytes, first: bool) -> None:
    data = line + b"\n" if first else _dumps(_line("s13/goal_9")) + b"\n" + line + b"\n"
    try:
        results = read_batch_output(io.BytesIO(data), "f.jsonl")
    except ConfigError as error:
        message = str(error)
        assert ERROR_LINE.match(message), message
        assert message.startswith("f.jsonl:1:" if first else "f.jsonl:2:"), message
        return
    for result in results:  # accepted: every value is what the store takes
        values = _scrubbed(draft_values(PROVIDER, CONTEXT, result.reply))  # type: ignore[arg-type]
        for value in values.values():
            if isinstance(value, str):
                assert "\x00" not in value
                value.encode("utf-8")  # no lone surrogate
        for count in ("tokens_in", "tokens_out", "cached_tokens"):
            assert values[count] is None or 0 <= values[count] <= 10**9
        assert values["finish_reason"] is None or len(values["finish_reason"]) <= 32


# --- PostgreSQL: a NUL in a rationale is refused there as on SQLite ------------------------


@pytest.mark.both_backends
def test_a_nul_in_a_rationale_is_refused_on_both_backends(
    demo_engine: Any, db_url: str, tmp_path: Path
) -> None:
    file = tmp_path / "output.jsonl"
    nul = "The client says the goals are\x00 shared."  # long enough for the reply schema
    hostile = _with("response.body.choices.0.message.content", _draft(nul),
                    _line("s02/goal_2"))  # fmt: skip
    file.write_bytes(_dumps(_line("s02/goal_1")) + b"\n" + hostile + b"\n")
    result = _ingest(db_url, file)
    assert result.exit_code == 1, result.output
    assert result.stderr == (f"error: {file}:2: the reply's draft cannot be stored: the text "
                             "contains a NUL character; nothing was ingested\n")  # fmt: skip
    with demo_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM drafts")).scalar_one() == 0
    fixed = _with("response.body.choices.0.message.content", _draft(nul.replace("\x00", "")),
                  _line("s02/goal_2"))  # fmt: skip
    file.write_bytes(_dumps(_line("s02/goal_1")) + b"\n" + fixed + b"\n")
    accepted = _ingest(db_url, file, "--json")
    assert accepted.exit_code == 0, accepted.output
    assert json.loads(accepted.stdout)["ok"] == 2
    with demo_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM drafts")).scalar_one() == 2
