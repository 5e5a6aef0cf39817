"""Every file annotate reads is a hostile file (issue 23).

For each kind (sessions, ratings, rationales, reviews, codings and predictions in JSONL
or CSV, instruments, marker schemes, rubrics, prompt templates, the keymap, the logins file,
the de-identification roster), hypothesis makes hostile variants of a valid file, and the
real reader (the CLI where there is one) runs in a child process under an address-space
limit. Each run either accepts the file cleanly or refuses it in lines naming the file and
line, with a non-zero exit, no traceback, memory under the limit, and the store byte for
byte as it was (the SQLite file, or every PostgreSQL row). Each kind gets 25 variants in
``make test`` and 300 under the slow hypothesis profile (``make test-slow``;
tests/hypothesis_profiles.py).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from annotate.core.guidelines import DEFAULT_INSTRUMENT, DEFAULT_MARKERS, GUIDELINES_DIR
from cli.app import app
from tests import hypothesis_profiles
from tests.factories import session_record
from tests.hostile_files import (
    assert_clean,
    byte_mutation,
    cli_job,
    hostile_json_line,
    hostile_toml,
    run_bounded,
    store_digest,
)

EXAMPLES = hypothesis_profiles.examples(25, "ANNOTATE_HYPOTHESIS_EXAMPLES")
FUZZ = settings(
    max_examples=EXAMPLES,
    # The suite's run is the same every time (a red CI names a real regression); a longer
    # hunt (the slow profile: make test-slow) draws new variants each run.
    derandomize=not hypothesis_profiles.hunting(),
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],  # fmt: skip
)

RATIONALE = {"session_id": "s01", "item_id": "goal_1", "author": "zoe",
             "text": "The client names sleep as the shared aim (turn 2)."}  # fmt: skip
REVIEW = {"session_id": "s02", "item_id": "goal_1", "reviewer": "zoe", "faithfulness": 4,
          "relevance": 4, "informativeness": 3, "comment": "ok"}  # fmt: skip
CODING = {"session_id": "s03", "coder": "zoe", "role": "primary", "scheme": "3rs",
          "codes": [{"turn": 2, "code": "pushback"}, {"turn": 3, "code": "explore"}]}  # fmt: skip
PREDICTION = {"session_id": "s01", "item_id": "goal_1", "rating": 4,
              "rationale": "客户提到睡眠是共同目标。"}  # fmt: skip

# kind -> (file name, valid record, CLI arguments after the file)
JSONL_KINDS: dict[str, tuple[str, dict, list[str]]] = {
    "sessions": ("sessions.jsonl", session_record("h1", language="zh"), []),
    "rationales": ("rationales.jsonl", RATIONALE, ["--kind", "rationales"]),
    "reviews": ("reviews.jsonl", REVIEW, ["--kind", "reviews"]),
    "codings": ("codings.jsonl", CODING, ["--kind", "codings"]),
    "predictions": ("predictions.jsonl", PREDICTION, ["--kind", "predictions", "--source", "m"]),
}


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "demo.db"
    result = CliRunner().invoke(app, ["--db", str(path), "demo", "--no-ui"])
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def store(demo_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "work.db"
    shutil.copy(demo_template, path)
    return str(path)


def _check(store: str, path: Path, data: bytes, args: list[str], *, line_required: bool = True,
           also: Path | None = None) -> str:  # fmt: skip
    """Write ``data`` to ``path``, run the CLI on it, and hold it to the promises."""
    path.write_bytes(data)
    before = store_digest(store)
    outcome = run_bounded(cli_job(["--db", store, *args]))
    verdict = assert_clean(outcome, path, line_required=line_required, also=also)
    if verdict == "refused":
        assert store_digest(store) == before, f"a refused {path.name} changed the store"
    return verdict


@pytest.mark.parametrize("kind", sorted(JSONL_KINDS))
def test_hostile_jsonl_lines(kind: str, store: str, tmp_path: Path) -> None:
    name, valid, extra = JSONL_KINDS[kind]
    path = tmp_path / name
    seen: set[str] = set()

    @FUZZ
    @given(
        st.one_of(hostile_json_line(valid), byte_mutation(json.dumps(valid).encode() + b"\n")),
        st.booleans(),
    )
    def run(line: bytes, twice: bool) -> None:
        data = line + b"\n" + (line + b"\n" if twice else b"")  # a repeated line too
        seen.add(_check(store, path, data, ["import", str(path), *extra]))

    run()
    assert "refused" in seen


@pytest.mark.parametrize("kind", ["predictions"])
def test_hostile_predictions_to_evaluate(kind: str, store: str, tmp_path: Path) -> None:
    name, valid, _ = JSONL_KINDS[kind]
    path = tmp_path / name

    @FUZZ
    @given(hostile_json_line(valid))
    def run(line: bytes) -> None:
        _check(store, path, line + b"\n", ["evaluate", str(path)])

    run()


def _csv(rows: list[list[str]]) -> bytes:
    import csv
    import io

    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8")


SESSION_CSV = _csv([
    ["session_id", "client_id", "counselor_id", "session_number", "language", "speaker", "text"],
    ["c1", "cl9", "co9", "1", "zh", "counselor", "今天想谈什么？"],
    ["c1", "cl9", "co9", "1", "zh", "client", "主要是睡眠。"],
])  # fmt: skip
ITEMS = [f"{d}_{n}" for d in ("goal", "task", "bond") for n in range(1, 5)]
RATINGS_CSV = _csv([["session_id", "rater", *ITEMS], ["c1", "client", *["4"] * 12],
                    ["c1", "counselor", *["5"] * 12]])  # fmt: skip
RATIONALES_CSV = _csv([["session_id", "item_id", "author", "text"],
                       ["s01", "goal_1", "zoe", "The client says sleep, turn 2."]])  # fmt: skip


def test_hostile_session_and_ratings_csv(store: str, tmp_path: Path) -> None:
    turns, ratings = tmp_path / "turns.csv", tmp_path / "ratings.csv"

    @FUZZ
    @given(byte_mutation(SESSION_CSV), byte_mutation(RATINGS_CSV), st.booleans())
    def run(turn_bytes: bytes, rating_bytes: bytes, which: bool) -> None:
        turns.write_bytes(turn_bytes if which else SESSION_CSV)
        ratings.write_bytes(RATINGS_CSV if which else rating_bytes)
        target, other = (turns, ratings) if which else (ratings, turns)
        _check(store, target, target.read_bytes(),
               ["import", str(turns), "--ratings", str(ratings)], also=other)  # fmt: skip

    run()


def test_hostile_rationale_csv(store: str, tmp_path: Path) -> None:
    path = tmp_path / "rationales.csv"

    @FUZZ
    @given(byte_mutation(RATIONALES_CSV))
    def run(data: bytes) -> None:
        _check(store, path, data, ["import", str(path), "--kind", "rationales"])

    run()


ROSTER_CSV = _csv([["name", "category", "client_id"], ["Dana Reyes", "name", "c01"],
                   ["王芳", "name", ""], ["Maple Clinic", "place", "c02"]])  # fmt: skip


def test_hostile_deid_roster(store: str, tmp_path: Path) -> None:
    """``deid roster``: the lead's list of names and places (issue 26)."""
    path = tmp_path / "roster.csv"

    @FUZZ
    @given(byte_mutation(ROSTER_CSV))
    def run(data: bytes) -> None:
        _check(store, path, data, ["deid", "roster", str(path)])

    run()


TOML_KINDS = {
    "instrument": (DEFAULT_INSTRUMENT, ["instrument", "load"]),
    "marker scheme": (DEFAULT_MARKERS, ["codes", "load"]),
    "rubric": (GUIDELINES_DIR / "rubric.toml", ["rubric", "load"]),
}


@pytest.mark.parametrize("kind", sorted(TOML_KINDS))
def test_hostile_guideline_files(kind: str, store: str, tmp_path: Path) -> None:
    source, command = TOML_KINDS[kind]
    valid = source.read_text(encoding="utf-8")
    path = tmp_path / source.name

    @FUZZ
    @given(hostile_toml(valid))
    def run(data: bytes) -> None:
        _check(store, path, data, [*command, str(path)], line_required=False)

    run()


def _function_job(read: Callable[[], object]) -> Callable[[], tuple[int, str, str]]:
    """A reader without a command of its own: its ConfigError is the one line shown."""
    from annotate.core.errors import ConfigError

    def job() -> tuple[int, str, str]:
        try:
            read()
        except ConfigError as error:
            return 1, "", f"error: {error}\n"
        return 0, "", ""

    return job


LOGINS = (
    '# annotate serve logins\n\n[logins."ana"]\nhash = "$argon2id$v=19$m=65536,t=3,p=4$'
    'c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"\ncreated = "2026-12-06T04:00:00+00:00"\n\n'
    '[logins."王芳"]\nhash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"\n'
    'created = "2026-12-06T04:00:00+00:00"\n'
)
KEYMAP = '[keys]\n"annotate.revert" = "f10"\n"annotate.next" = "alt+down"\nquit = "ctrl+q"\n'


def _reader(kind: str) -> tuple[str, str, Callable[[Path], object]]:
    """(file name, a valid file, its reader) for files read without a command of their own."""
    if kind == "keymap":
        from tui.app import keymap_owners
        from tui.keymap import load_keymap

        return "keys.toml", KEYMAP, lambda path: load_keymap(keymap_owners(), path)
    if kind == "prompt template":
        from annotate.drafting.prompt import load_template

        source = (GUIDELINES_DIR / "prompts" / "draft.j2").read_text(encoding="utf-8")
        return "draft.j2", source, load_template
    from tui.logins import read_logins

    return "logins.toml", LOGINS, read_logins


@pytest.mark.parametrize("kind", ["keymap", "prompt template", "logins"])
def test_hostile_settings_files(kind: str, tmp_path: Path) -> None:
    name, valid, read = _reader(kind)
    path = tmp_path / name

    @FUZZ
    @given(st.one_of(hostile_toml(valid), byte_mutation(valid.encode())))
    def run(data: bytes) -> None:
        path.write_bytes(data)
        outcome = run_bounded(_function_job(lambda: read(path)))
        assert_clean(outcome, path, line_required=False)

    run()


# -- enormous inputs, once each (too slow to draw many of) ---------------------------------


@pytest.mark.parametrize("kind", sorted(JSONL_KINDS))
def test_an_enormous_line_is_refused_without_holding_it(
    kind: str, store: str, tmp_path: Path
) -> None:
    """A 40 MB line (over the 16 MiB line limit) after a valid one: its line is named,
    the store is unchanged, and the reader stays inside its memory limit."""
    name, valid, extra = JSONL_KINDS[kind]
    path = tmp_path / name
    with path.open("wb") as handle:
        handle.write(json.dumps(valid).encode() + b"\n")
        handle.write(b'{"text": "' + b"x" * (40 << 20) + b'"}\n')
    before = store_digest(store)
    outcome = run_bounded(cli_job(["--db", store, "import", str(path), *extra]))
    assert_clean(outcome, path, line_required=True)
    assert outcome.exit_code != 0
    assert f"{path}:2: the line is longer than 16 MiB" in outcome.stderr
    assert store_digest(store) == before


def test_a_file_of_one_endless_line_and_a_csv_of_one_huge_cell(store: str, tmp_path: Path) -> None:
    path = tmp_path / "endless.jsonl"
    with path.open("wb") as handle:  # 1 GB of "[" without a newline, sparse on disk
        handle.write(b"[" * (1 << 20))
        handle.truncate(1 << 30)
    outcome = run_bounded(cli_job(["--db", store, "import", str(path)]))
    assert_clean(outcome, path, line_required=True)
    assert f"{path}:1: the line is longer than 16 MiB" in outcome.stderr
    cell = tmp_path / "rationales.csv"
    cell.write_bytes(
        b'session_id,item_id,author,text\ns01,goal_1,zoe,"' + b"y" * (20 << 20) + b'"\n'
    )
    outcome = run_bounded(cli_job(["--db", store, "import", str(cell), "--kind", "rationales"]))
    assert_clean(outcome, cell, line_required=True)
    assert outcome.exit_code != 0


def test_the_harness_catches_a_reader_that_allocates_without_bound() -> None:
    """The memory limit is real: a job that allocates 2 GiB is stopped and reported."""

    def greedy() -> tuple[int, str, str]:
        hoard = bytearray(2 << 30)
        return len(hoard), "", ""

    outcome = run_bounded(greedy)
    assert outcome.out_of_memory


def _fuzz_imports(url: str, path: Path, valid: dict, extra: list[str], examples: int) -> None:
    @settings(FUZZ, max_examples=examples)
    @given(hostile_json_line(valid))
    def run(line: bytes) -> None:
        _check(url, path, line + b"\n", ["import", str(path), *extra])

    run()


@pytest.mark.both_backends
def test_hostile_imports_on_both_backends(db_url: str, demo_engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The same promises on PostgreSQL (every row compared), a few variants per kind."""
    for name, valid, extra in JSONL_KINDS.values():
        _fuzz_imports(db_url, tmp_path / name, valid, extra, max(3, EXAMPLES // 4))
    nul = tmp_path / "nul.jsonl"  # refused whole on PostgreSQL before; one line now
    line = json.dumps({**RATIONALE, "text": "a\u0000b"}).encode()
    assert (
        _check(db_url, nul, line + b"\n", ["import", str(nul), "--kind", "rationales"]) == "refused"
    )


@pytest.mark.parametrize(
    ("codes", "said"),
    [
        ([{"turn": 2, "code": {}}], "codes[1]: code must be a code id"),  # was a TypeError
        ([{"turn": "2", "code": "pushback"}], "codes[1]: turn must be a turn number"),
        ("pushback", "codes must be a list"),
        (
            [{"turn": n, "code": "pushback"} for n in range(1, 10_002)],
            "codes: at most 10,000 codes",
        ),
    ],
)
def test_codings_with_values_of_the_wrong_shape_are_one_line(
    store: str, tmp_path: Path, codes: object, said: str
) -> None:
    path = tmp_path / "codings.jsonl"
    line = json.dumps({**CODING, "codes": codes}).encode() + b"\n"
    assert _check(store, path, line, ["import", str(path), "--kind", "codings"]) == "refused"
    outcome = run_bounded(cli_job(["--db", store, "import", str(path), "--kind", "codings"]))
    assert f"{path}:1: {said}" in outcome.stderr


def test_a_scheme_that_is_not_text_is_one_line(store: str, tmp_path: Path) -> None:
    path = tmp_path / "codings.jsonl"
    line = json.dumps({**CODING, "scheme": ["3rs"]}).encode() + b"\n"  # was a TypeError
    assert _check(store, path, line, ["import", str(path), "--kind", "codings"]) == "refused"


BATCH_LINE = {
    "id": "batch_req_1",
    "custom_id": "s13/goal_1",
    "response": {
        "status_code": 200,
        "request_id": "req_1",
        "body": {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant",
                "content": json.dumps({"rationale": "The client says the goals are shared.",
                                       "evidence": [1], "quotes": []}),
            }}],
            "usage": {"prompt_tokens": 700, "completion_tokens": 40, "total_tokens": 740},
        },
    },
    "error": None,
}  # fmt: skip


def test_hostile_batch_output(store: str, tmp_path: Path) -> None:
    """``draft --ingest``: a batch runner's output file, at any depth of its reply."""
    path = tmp_path / "output.jsonl"
    command = ["draft", "--base-url", "http://127.0.0.1:9/v1", "--model", "batch-model",
               "--ingest", str(path)]  # fmt: skip
    seen: set[str] = set()

    @FUZZ
    @given(st.one_of(hostile_json_line(BATCH_LINE),
                     byte_mutation(json.dumps(BATCH_LINE).encode() + b"\n")))  # fmt: skip
    def run(line: bytes) -> None:
        seen.add(_check(store, path, line + b"\n", command))

    run()
    assert "refused" in seen


@pytest.mark.parametrize("rating", ["9" * 400, "-" + "9" * 400, "1e400", "NaN"])
def test_a_rating_beyond_any_float_is_one_line(store: str, tmp_path: Path, rating: str) -> None:
    """Found by the suite on CI: a 400-digit rating made ``math.isfinite`` overflow."""
    path = tmp_path / "predictions.jsonl"
    line = json.dumps({**PREDICTION, "rating": 0}).replace('"rating": 0', f'"rating": {rating}')
    for command in (["evaluate", str(path)], ["import", str(path), "--kind", "predictions",
                                               "--source", "m"]):  # fmt: skip
        assert _check(store, path, line.encode() + b"\n", command) == "refused"
