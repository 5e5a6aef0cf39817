"""The msgspec fast path refuses exactly what the reference reader and validator refuse.

``fast.SessionLines.accept`` may only ever accept a line the reference path
(``readers.parse_line`` + ``validation.check_session``) accepts, with the same rows and
hash; anything else goes to the reference path, which writes every message. Checked
line by line on every fixture, and import by import (fast path on, fast path off: the
same errors or the same rows) on the fixtures and on hypothesis-generated files.
"""

from __future__ import annotations

import hashlib
import json
from itertools import count
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from annotate.core.catalog import read_catalog
from annotate.core.database import initialise
from annotate.core.demo import DEMO_SESSIONS
from annotate.core.errors import AnnotateError, ImportFailed
from annotate.ingest import fast, import_file, parsing, readers, validation
from tests import hypothesis_profiles
from tests.factories import ITEMS, session_record, write_jsonl
from tests.services import test_import, test_import_hostile

EXAMPLES = hypothesis_profiles.examples(40, "ANNOTATE_HYPOTHESIS_EXAMPLES")
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_ids = count()


@pytest.fixture
def catalog(engine):  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return read_catalog(connection)


def _reference(number: int, raw: bytes, catalog) -> fast.SessionRows | None:  # type: ignore[no-untyped-def]
    parsed = readers.parse_line(number, raw)
    if parsed is None or parsed.data is None:
        return None
    record, problems = validation.check_session(parsed.data, catalog)
    return None if problems else fast.session_rows(record)


def _agrees(raw: bytes, catalog, *, number: int = 2) -> fast.SessionRows | None:  # type: ignore[no-untyped-def]
    """The fast answer for one line, after checking it against the reference."""
    quick = fast.SessionLines(catalog).accept(
        raw[3:] if number == 1 and raw.startswith(fast.BOM) else raw
    )
    if quick is not None:
        assert quick == _reference(number, raw, catalog), raw[:200]
    return quick


def _lines() -> list[bytes]:
    """Every session line the other tests use: valid, broken and hostile."""
    records = [session_record("ok"), session_record("zh", language="zh")]
    records += [session_record("bad", **change) for _, change, _ in test_import.BROKEN]
    records += [session_record("m", metadata={"condition": "cbt", "site": "a:b"})]
    records += [session_record("m", metadata={}), session_record("m", metadata={"x y": "1"})]
    records += [session_record("n", session_number=None, language=None, counselor_ratings=None)]
    lines = [json.dumps(r, ensure_ascii=ascii).encode() for r in records for ascii in (True, False)]
    lines += [line for _, line, _ in test_import_hostile.CASES]
    lines += DEMO_SESSIONS.read_bytes().splitlines()
    return lines


def test_every_fixture_line_gets_the_reference_answer(catalog) -> None:  # type: ignore[no-untyped-def]
    for raw in _lines():
        _agrees(raw, catalog)


def test_valid_lines_take_the_fast_path(catalog) -> None:  # type: ignore[no-untyped-def]
    demo = DEMO_SESSIONS.read_bytes().splitlines()
    assert all(_agrees(raw, catalog) is not None for raw in demo)
    plain = json.dumps(session_record("ok"), ensure_ascii=False).encode()
    assert _agrees(plain, catalog) is not None
    assert _agrees(fast.BOM + plain, catalog, number=1) is not None


DUPLICATES = [
    '{"session_id": "a", "session_id": "b", REST}',
    '{"session_id": "a", REST, "language": "en", "language": "zh"}',
    '{"session_id": "a", REST, "language": null, "language": null}',
    '{"session_id": "a", REST, "metadata": {"k": "v", "k": "w"}}',
    '{"session_id": "a", REST, "counselor_ratings": {"goal_1": 1, "goal_1": 2}}',
]


@pytest.mark.parametrize("template", DUPLICATES)
def test_a_repeated_key_anywhere_is_left_to_the_reference(catalog, template: str) -> None:  # type: ignore[no-untyped-def]
    rest = json.dumps({k: v for k, v in session_record().items() if k != "session_id"})[1:-1]
    rest = rest.replace('"speaker": "client"', '"speaker": "client", "speaker": "client"', 1)
    plain = json.dumps(session_record())[1:-1].split(", ", 1)[1]
    for line in (template.replace("REST", rest), template.replace("REST", plain)):
        raw = line.encode()
        assert _agrees(raw, catalog) is None
        assert readers.parse_line(2, raw).error.startswith("duplicate key")  # type: ignore[union-attr]


def test_colons_inside_strings_do_not_hide_a_repeated_key(catalog) -> None:  # type: ignore[no-untyped-def]
    record = session_record("a:b", client_id="c:", turns=[{"speaker": "client", "text": "x: y"}])
    raw = json.dumps(record).encode()
    assert _agrees(raw, catalog) is not None
    doubled = raw.replace(b'"language": "en"', b'"language": "en", "language": "en"')
    assert _agrees(doubled, catalog) is None
    escaped = raw.replace(b"x: y", b"x\\u003a y")  # an escaped colon: the reference decides
    assert _agrees(escaped, catalog) is None
    assert _reference(2, escaped, catalog) is not None


@PROPERTY
@given(text=st.text(st.characters(codec=None, exclude_categories=("Cs",)), max_size=40))
def test_the_canonical_hash_is_the_reference_hash(text: str) -> None:
    record = session_record(turns=[{"speaker": "client", "text": text}], metadata={"k": text})
    expected = hashlib.sha256(readers.dumps(record).encode("utf-8")).hexdigest()
    assert fast.canonical_hash(record) == expected


# -- import by import: fast path on and off give the same answer --------------------


def _answer(engine, path: Path, **options):  # type: ignore[no-untyped-def]
    try:
        result = import_file(engine, path, **options)
    except ImportFailed as failed:
        return ("failed", failed.errors, failed.truncated)
    except AnnotateError as error:
        return ("refused", str(error))
    with engine.connect() as connection:
        rows = [
            list(connection.execute(text(query)))
            for query in (
                "SELECT id, client_id, counselor_id, session_number, language, meta,"
                " content_hash FROM sessions ORDER BY id",
                "SELECT session_id, number, speaker, text FROM turns ORDER BY session_id, number",
                "SELECT session_id, item_id, rater_role, value FROM ratings"
                " ORDER BY session_id, item_id, rater_role",
            )
        ]
    return ("imported", result.created, result.unchanged, rows)


def _both_ways(tmp_path: Path, monkeypatch, path: Path, **options):  # type: ignore[no-untyped-def]
    """Import into a new store with the fast path (through the parsing process), and into
    another with the reference path only: the same errors, or the same rows."""
    answers = []
    for way in ("fast", "reference"):
        engine, _ = initialise(f"sqlite:///{tmp_path / f'{way}{next(_ids)}.db'}")
        with monkeypatch.context() as patch:
            if way == "fast":
                patch.setattr(parsing, "PROCESS_MIN_BYTES", 0)
            else:
                patch.setattr(fast.SessionLines, "accept", lambda self, raw: None)
            answers.append(_answer(engine, path, **options))
        engine.dispose()
    assert answers[0] == answers[1]
    return answers[0]


def test_fixture_files_get_the_same_answer(engine, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lines = _lines()
    for n, raw in enumerate(lines):
        path = tmp_path / f"one{n}.jsonl"
        path.write_bytes(json.dumps(session_record("first")).encode() + b"\n" + raw + b"\n")
        _both_ways(tmp_path, monkeypatch, path)
    everything = tmp_path / "all.jsonl"
    everything.write_bytes(b"\n".join(lines) + b"\n")
    assert _both_ways(tmp_path, monkeypatch, everything)[0] == "failed"
    assert _both_ways(tmp_path, monkeypatch, DEMO_SESSIONS)[0] == "imported"


@PROPERTY
@given(
    mutations=st.lists(test_import_hostile._mutation, min_size=1, max_size=4),
    bom=st.booleans(),
    crlf=st.booleans(),
)
def test_mutated_files_get_the_same_answer(
    engine, monkeypatch, tmp_path: Path, mutations: list, bom: bool, crlf: bool
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / f"mut{next(_ids)}.jsonl"
    path.write_bytes(
        test_import_hostile._mutate(test_import_hostile._VALID, mutations, bom, crlf)
        + json.dumps(session_record(f"after{next(_ids)}")).encode()
    )
    _both_ways(tmp_path, monkeypatch, path, kind="sessions")


@PROPERTY
@given(
    field=st.sampled_from(test_import_hostile._FIELDS + ["metadata", "metadata.k"]),
    value=test_import_hostile._json,
    ascii_only=st.booleans(),
)
def test_any_value_in_any_field_gets_the_same_answer(
    engine, monkeypatch, tmp_path: Path, field: str, value, ascii_only: bool
) -> None:  # type: ignore[no-untyped-def]
    record = session_record(f"v{next(_ids)}", metadata={"k": "v"})
    record["turns"] = [dict(t) for t in record["turns"]]
    record["client_ratings"] = dict(record["client_ratings"])
    target, *rest = field.split(".")
    if not rest:
        record[target] = value
    elif target == "client_ratings":
        record["client_ratings"][rest[0]] = value
    elif target == "metadata":
        record["metadata"][rest[0]] = value
    else:
        record["turns"][0][rest[1]] = value
    path = tmp_path / f"val{next(_ids)}.jsonl"
    first = json.dumps(session_record(f"first{next(_ids)}")).encode() + b"\n"
    line = json.dumps(record, ensure_ascii=ascii_only, allow_nan=True)
    path.write_bytes(first + line.encode("utf-8", errors="surrogatepass") + b"\n")
    _both_ways(tmp_path, monkeypatch, path)


@pytest.mark.both_backends
def test_the_parsing_process_gives_the_inline_answer(engine, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import multiprocessing

    records: list = [session_record(f"p{n}", client_id=f"c{n % 7}") for n in range(1500)]
    records[700] = "{broken"
    records[1400] = session_record("p3")  # a duplicate far from its first line
    path = write_jsonl(tmp_path / "many.jsonl", records)
    clean = write_jsonl(tmp_path / "clean.jsonl", records[:700] + records[701:1400])
    for file in (path, clean):
        with monkeypatch.context() as patch:
            patch.setattr(parsing, "PROCESS_MIN_BYTES", 0)
            in_child = _answer(engine, file, dry_run=True)
        assert multiprocessing.active_children() == []  # the parser is gone, whatever happened
        assert in_child == _answer(engine, file, dry_run=True)
    assert in_child[:3] == ("imported", 1399, 0)


def test_a_client_id_reused_with_different_items_is_still_checked(catalog) -> None:  # type: ignore[no-untyped-def]
    lines = fast.SessionLines(catalog)
    first = session_record("a", client_ratings={item: 3 for item in ITEMS})
    assert lines.accept(json.dumps(first).encode()) is not None
    partial = session_record("b", client_ratings={item: 3 for item in ITEMS[:-1]})
    assert lines.accept(json.dumps(partial).encode()) is None
