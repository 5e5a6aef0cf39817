"""Hostile input: random and malformed JSONL/CSV give clean FILE:LINE errors, never a
traceback and never a partial import, on SQLite and on PostgreSQL.

Property tests (hypothesis) mutate valid files byte by byte, put arbitrary JSON values
in every field and arbitrary text in CSV cells; example tests cover the cases named
in the issue (a 10 MB turn, deep nesting, NUL, invalid UTF-8, BOM, CRLF).
"""

from __future__ import annotations

import json
import re
from itertools import count
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from annotate.core.errors import ConfigError, ImportFailed
from annotate.ingest import import_file
from annotate.work.progress import counts
from store.models import Turn
from tests import hypothesis_profiles
from tests.factories import ITEMS, session_record, write_jsonl

pytestmark = pytest.mark.both_backends

# The slow hypothesis profile (make test-slow) hunts longer; the suite's default stays fast.
EXAMPLES = hypothesis_profiles.examples(40, "ANNOTATE_HYPOTHESIS_EXAMPLES")
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MAX_LINE = 400  # an error line stays readable whatever the input holds
_ids = count()


def outcome(engine, path: Path, **options) -> str:  # type: ignore[no-untyped-def]
    """Import ``path``; on failure check the errors are clean and nothing was written."""
    before = counts(engine)
    try:
        result = import_file(engine, path, **options)
    except ImportFailed as failed:
        assert counts(engine) == before, "a failed import wrote something"
        files = [path, options.get("ratings_path") or path]
        pattern = re.compile("^(" + "|".join(re.escape(str(f)) for f in files) + r"):[1-9]\d*: \S")
        assert failed.errors, "a failed import names at least one problem"
        for line in failed.errors:
            assert pattern.match(line), line[:MAX_LINE]
            assert len(line) <= MAX_LINE, f"error line of {len(line)} characters"
        return "rejected"
    except ConfigError as error:
        assert counts(engine) == before
        assert "\n" not in str(error)
        return "refused"
    after = counts(engine)
    if result.kind == "sessions":
        assert after["sessions"] == before["sessions"] + result.created
    return "imported"


def _fresh(record: dict) -> dict:
    record = dict(record)
    record["session_id"] = f"h{next(_ids)}"
    return record


# -- byte-level mutations of a valid file ----------------------------------------

_VALID = (
    "\n".join(
        json.dumps(r, ensure_ascii=False)
        for r in (
            session_record("m1"),
            session_record(
                "m2",
                language="zh",
                turns=[
                    {"speaker": "counselor", "text": "你今天想聊些什么？"},
                    {"speaker": "client", "text": "最近睡不好。"},
                ],
            ),
        )
    )
    + "\n"
).encode("utf-8")

_mutation = st.one_of(
    st.tuples(st.just("insert"), st.integers(0, len(_VALID)), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), st.integers(0, len(_VALID)), st.integers(1, 40)),
    st.tuples(
        st.just("replace"), st.integers(0, len(_VALID) - 1), st.binary(min_size=1, max_size=1)
    ),
    st.tuples(st.just("truncate"), st.integers(0, len(_VALID)), st.just(0)),
)


def _mutate(data: bytes, mutations: list, bom: bool, crlf: bool) -> bytes:
    for kind, position, value in mutations:
        position = min(position, len(data))
        if kind == "insert":
            data = data[:position] + value + data[position:]
        elif kind == "delete":
            data = data[:position] + data[position + value :]
        elif kind == "replace" and position < len(data):
            data = data[:position] + value + data[position + 1 :]
        elif kind == "truncate":
            data = data[:position]
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    return (b"\xef\xbb\xbf" if bom else b"") + data


@PROPERTY
@given(mutations=st.lists(_mutation, min_size=1, max_size=4), bom=st.booleans(), crlf=st.booleans())
def test_mutated_jsonl_is_imported_whole_or_rejected_cleanly(
    engine, tmp_path: Path, mutations: list, bom: bool, crlf: bool
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / f"mut{next(_ids)}.jsonl"
    path.write_bytes(_mutate(_VALID, mutations, bom, crlf))
    outcome(engine, path)


# -- arbitrary JSON values in every field ----------------------------------------

_any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=30)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _any_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(_any_text, children, max_size=4)
    ),
    max_leaves=12,
)
_FIELDS = [*session_record(), "client_ratings.goal_1", "turns.0.text", "turns.0.speaker", "extra"]


def _write_record(path: Path, record: dict, ascii_only: bool) -> None:
    text = json.dumps(record, ensure_ascii=ascii_only, allow_nan=True)
    # Unescaped lone surrogates cannot be UTF-8: written as such they are invalid bytes.
    path.write_bytes(text.encode("utf-8", errors="surrogatepass") + b"\n")


@PROPERTY
@given(field=st.sampled_from(_FIELDS), value=_json, ascii_only=st.booleans())
def test_any_json_value_in_any_field(
    engine, tmp_path: Path, field: str, value, ascii_only: bool
) -> None:  # type: ignore[no-untyped-def]
    record = _fresh(session_record())
    record["turns"] = [dict(t) for t in record["turns"]]
    record["client_ratings"] = dict(record["client_ratings"])
    target, *rest = field.split(".")
    if not rest:
        record[target] = value
    elif target == "client_ratings":
        record["client_ratings"][rest[0]] = value
    else:
        record["turns"][0][rest[1]] = value
    path = tmp_path / f"val{next(_ids)}.jsonl"
    _write_record(path, record, ascii_only)
    result = outcome(engine, path)
    if result == "imported" and field == "turns.0.text":
        with Session(engine) as session:
            stored = session.exec(
                select(Turn.text).where(Turn.session_id == record["session_id"], Turn.number == 1)
            ).one()
        assert stored == value, "text must be stored exactly"


@PROPERTY
@given(
    fields=st.dictionaries(
        st.sampled_from(["session_id", "item_id", "author", "text", "reviewer", "faithfulness"]),
        _json,
        max_size=6,
    ),
    ascii_only=st.booleans(),
)
def test_any_rationale_or_review_record(
    engine, tmp_path: Path, fields: dict, ascii_only: bool
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / f"rat{next(_ids)}.jsonl"
    _write_record(path, fields, ascii_only)
    outcome(engine, path)


# -- arbitrary CSV cells -----------------------------------------------------------

_cell = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40),
    st.sampled_from(["", ",", '"', '""', "\n", "\r\n", "a,b", '"quoted, text"', "\x00", "4"]),
)


@PROPERTY
@given(
    rows=st.lists(st.lists(_cell, min_size=3, max_size=5), min_size=1, max_size=5),
    raw=st.binary(max_size=6),
)
def test_any_rationale_csv(engine, tmp_path: Path, rows: list, raw: bytes) -> None:  # type: ignore[no-untyped-def]
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["session_id", "item_id", "author", "text"])
    for row in rows:
        writer.writerow(row)
    path = tmp_path / f"r{next(_ids)}.csv"
    data = buffer.getvalue().encode("utf-8")
    path.write_bytes(data[: len(data) // 2] + raw + data[len(data) // 2 :])
    outcome(engine, path)


@PROPERTY
@given(
    turns=st.lists(st.tuples(st.sampled_from(["t1", "t2"]), _cell, _cell), min_size=1, max_size=6),
    ratings=st.lists(st.tuples(st.sampled_from(["t1", "t2", "t3"]), _cell, _cell), max_size=4),
)
def test_any_sessions_csv_pair(engine, tmp_path: Path, turns: list, ratings: list) -> None:  # type: ignore[no-untyped-def]
    import csv

    turns_path = tmp_path / f"t{next(_ids)}.csv"
    with turns_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["session_id", "client_id", "counselor_id", "speaker", "text"])
        for session_id, speaker, text in turns:
            writer.writerow([f"{session_id}-{turns_path.stem}", "c1", "co1", speaker, text])
    ratings_path = tmp_path / f"{turns_path.stem}-ratings.csv"
    with ratings_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["session_id", "rater", *ITEMS])
        for session_id, rater, value in ratings:
            writer.writerow([f"{session_id}-{turns_path.stem}", rater, *([value] * len(ITEMS))])
    outcome(engine, turns_path, ratings_path=ratings_path)


# -- the named hostile cases ---------------------------------------------------------


def _stored_turns(engine, session_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        query = select(Turn.text).where(Turn.session_id == session_id).order_by(Turn.number)
        return list(session.exec(query).all())


def test_a_10_mb_turn_imports_exactly_from_jsonl_and_csv(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    huge = ("我一直说没事，" + "but I did not do it again. ") * 300_000  # ~10.5 MB
    assert len(huge.encode("utf-8")) > 10_000_000
    record = session_record("huge", turns=[{"speaker": "client", "text": huge}])
    assert outcome(engine, write_jsonl(tmp_path / "huge.jsonl", [record])) == "imported"
    assert _stored_turns(engine, "huge") == [huge]

    turns = tmp_path / "huge.csv"
    turns.write_text(
        f'session_id,client_id,counselor_id,speaker,text\r\nhcsv,c1,t1,client,"{huge}"\r\n',
        encoding="utf-8",
    )
    ratings = tmp_path / "huge-ratings.csv"
    ratings.write_text("session_id,rater," + ",".join(ITEMS) + "\nhcsv,client" + ",4" * 12 + "\n")
    assert outcome(engine, turns, ratings_path=ratings) == "imported"
    assert _stored_turns(engine, "hcsv") == [huge]


CASES = [
    (
        "deep nesting",
        b'{"session_id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "nested too deeply",
    ),
    ("raw NUL byte", b'{"session_id": "a\x00"}', "contains a NUL byte"),
    ("escaped NUL", b'{"session_id": "a\\u0000"}', "NUL character"),
    ("lone surrogate", b'{"session_id": "\\ud800"}', "lone UTF-16 surrogate"),
    ("invalid UTF-8", b'{"session_id": "\xc3\x28"}', "not valid UTF-8"),
    ("huge integer", b'{"session_number": ' + b"9" * 5000 + b"}", "number is too long"),
    (
        "out of range",
        json.dumps(session_record("big", session_number=2**31)).encode(),
        "session_number",
    ),
    (
        "control character in id",
        json.dumps(session_record("a\x1b[2J")).encode(),
        "control characters",
    ),
    ("100 kB id", json.dumps(session_record("x" * 100_000)).encode(), "at most 128 characters"),
    (
        "100 kB unknown field",
        json.dumps({**session_record("a"), "y" * 100_000: 1}).encode(),
        "unknown field",
    ),
    ("array", b"[1, 2, 3]", "expected a JSON object"),
    ("truncated", json.dumps(session_record("t")).encode()[:-5], "not valid JSON"),
]


@pytest.mark.parametrize(("case", "line", "message"), CASES, ids=[c[0] for c in CASES])
def test_named_hostile_lines(engine, tmp_path: Path, case: str, line: bytes, message: str) -> None:  # type: ignore[no-untyped-def]
    good = json.dumps(session_record("fine")).encode()
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + good + b"\r\n" + line + b"\r\n")
    before = counts(engine)
    with pytest.raises(ImportFailed) as raised:
        import_file(engine, path)
    assert counts(engine) == before
    assert any(e.startswith(f"{path}:2: ") and message in e for e in raised.value.errors), (
        raised.value.errors
    )
    assert all(len(e) <= MAX_LINE for e in raised.value.errors)


def test_invalid_utf8_in_csv_names_its_own_line(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rows = [f"s{n},goal_1,ana,fine text number {n}".encode() for n in range(400)]
    rows[300] = b"s300,goal_1,ana,broken \xff\xfe text"
    path = tmp_path / "r.csv"
    path.write_bytes(
        b"\xef\xbb\xbfsession_id,item_id,author,text\r\n" + b"\r\n".join(rows) + b"\r\n"
    )
    with pytest.raises(ImportFailed) as raised:
        import_file(engine, path)
    assert f"{path}:302: not valid UTF-8" in raised.value.errors


def test_csv_header_with_a_repeated_column_is_refused(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "r.csv"
    path.write_text("session_id,item_id,author,text,text\ns1,goal_1,ana,a,b\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as raised:
        import_file(engine, path)
    assert raised.value.errors == [f"{path}:1: the header repeats column(s) 'text'"]
