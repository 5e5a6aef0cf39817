"""De-identification with the store: Known per client, masks, the stored map, corrections,
the roster file and scans, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from annotate.core.errors import ConfigError, NotFoundError
from annotate.core.reading import FileError
from annotate.deid import scan, service
from annotate.deid.detect import CATEGORIES
from annotate.ingest import import_file
from store.db import make_engine
from store.tables import DEID_CLIENTS, DEID_CORRECTIONS, DEID_ROSTER, DEID_SURROGATES
from tests.factories import session_record, write_jsonl

pytestmark = pytest.mark.both_backends

PHONE = "555-201-3344"


def _turns(*texts: str) -> list[dict[str, str]]:
    speakers = ("counselor", "client")
    return [{"speaker": speakers[i % 2], "text": text} for i, text in enumerate(texts)]


RECORDS = [
    session_record("s1", client_id="cl1", metadata={"names": "Dana Reyes, Tom Hale"},
                   turns=_turns("Hello Dana, how was your week?",
                                f"Tom Hale called me twice, his number is {PHONE}.")),
    session_record("s2", client_id="cl1", session_number=2, metadata={"names": "Dana Reyes; Ivo"},
                   turns=_turns("Dana, last time you said Tom Hale called.",
                                "Yes, and Ivo came over on Sunday.")),
    session_record("z1", client_id="cl2", language="zh", metadata={"names": "王芳、李雷，小周"},
                   turns=_turns("王芳，你好。", "李雷昨天又给我打电话了。")),
]  # fmt: skip


@pytest.fixture
def store(engine, tmp_path: Path):  # type: ignore[no-untyped-def]
    import_file(engine, write_jsonl(tmp_path / "sessions.jsonl", RECORDS))
    return engine


def _count(engine: Any, table: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _map(engine: Any, client: str = "cl1") -> dict[tuple[str, str, str], str]:
    query = select(DEID_SURROGATES.c.mode, DEID_SURROGATES.c.category,
                   DEID_SURROGATES.c.original, DEID_SURROGATES.c.surrogate
                   ).where(DEID_SURROGATES.c.client_id == client)  # fmt: skip
    with engine.connect() as connection:
        return {(m, c, o): s for m, c, o, s in connection.execute(query)}


def test_names_in_metadata_split_on_every_separator() -> None:
    assert service.names_in_metadata("Dana Reyes, Tom; 王芳、李雷，小周；Ann ") == [
        "Dana Reyes", "Tom", "王芳", "李雷", "小周", "Ann"]  # fmt: skip
    assert service.names_in_metadata(None) == [] and service.names_in_metadata(" , ") == []


def test_known_for_client_gathers_metadata_roster_and_corrections(store, backend: str) -> None:
    with store.begin() as connection:
        connection.execute(DEID_ROSTER.insert(), [
            {"name": "Maple Clinic", "category": "place", "client_id": None},
            {"name": "Rita", "category": "name", "client_id": "cl1"},
            {"name": "Omar", "category": "name", "client_id": "cl2"},
        ])  # fmt: skip
    service.mark(store, "cl1", "Riverton", "place", "lead")
    service.mark(store, "cl1", "AB-1234", "id", "lead")
    service.mark(store, "cl1", "Ivo", "name", "lead")
    service.unmark(store, "cl1", "Ivo", "lead")  # the latest correction is in force
    service.unmark(store, "cl1", "Sunday", "lead")
    service.mark(store, "cl1", "Sunday", "date", "lead")
    with store.connect() as connection:
        known = service.known_for_client(connection, "cl1")
        other = service.known_for_client(connection, "cl2")
    assert known.names == ("Dana Reyes", "Tom Hale", "Rita")  # Ivo (metadata) is unmarked
    assert known.places == ("Maple Clinic", "Riverton")
    assert known.keep == ("Ivo",)
    assert known.extra == (("AB-1234", "id"), ("Sunday", "date"))
    assert other.names == ("王芳", "李雷", "小周", "Omar") and other.places == ("Maple Clinic",)


def test_masks_replace_identifiers_with_one_stored_map(store, backend: str) -> None:
    masks = service.masks_for_sessions(store, ["s1", "s2"])
    assert list(masks) == ["s1", "s2"]
    masked = "\n".join(masks["s1"].turns + masks["s2"].turns)
    for original in ("Dana", "Tom Hale", "Ivo", PHONE):
        assert original not in masked
    for mask in masks.values():
        for turn, spans in zip(mask.turns, mask.spans, strict=True):
            assert all(span.text not in turn for span in spans if len(span.text) > 3)
    assert {span.category for spans in masks["s1"].spans for span in spans} >= {"name", "phone"}
    stored = _map(store)
    assert ("surrogate", "name", "Dana") in stored or ("surrogate", "name", "Dana Reyes") in stored
    with store.connect() as connection:
        shifts = connection.execute(select(DEID_CLIENTS.c.client_id,
                                           DEID_CLIENTS.c.date_shift_days)).all()  # fmt: skip
    assert [client for client, _ in shifts] == ["cl1"] and shifts[0][1] != 0
    assert abs(shifts[0][1]) <= service.SHIFT_DAYS
    # Read back: the reply of a model that used the surrogates reads as the original.
    assert masks["s1"].restore(masks["s1"].turns[1]) == RECORDS[0]["turns"][1]["text"]
    assert masks["s2"].restore(masks["s2"].turns[0]) == RECORDS[1]["turns"][0]["text"]

    # Another call (another process) gets the same surrogates and writes nothing new.
    rows = _count(store, DEID_SURROGATES)
    again = service.masks_for_sessions(make_engine(store.url.render_as_string(False)), ["s2"])
    assert again["s2"].turns == masks["s2"].turns
    assert _count(store, DEID_SURROGATES) == rows and _count(store, DEID_CLIENTS) == 1


def test_mask_of_other_text_uses_and_extends_the_map(store, backend: str) -> None:
    mask = service.masks_for_sessions(store, ["s1"])["s1"]
    rationale = f"Dana says Tom Hale phones her ({PHONE}); she trusts the counselor."
    masked = mask.mask(rationale)
    assert "Dana" not in masked and "Tom Hale" not in masked and PHONE not in masked
    assert mask.restore(masked) == rationale
    # Ivo is said only in s2: masking him here stores his surrogate for every later text.
    masked_ivo = mask.mask("Dana mentioned Ivo.")
    assert "Ivo" not in masked_ivo
    assert any(original == "Ivo" for (_, _, original) in _map(store))
    later = service.masks_for_sessions(store, ["s2"])["s2"]
    surrogate_of_ivo = _map(store)[("surrogate", "name", "Ivo")]
    assert surrogate_of_ivo in later.turns[1] and surrogate_of_ivo in masked_ivo


def test_tag_mode_keeps_its_own_map(store, backend: str) -> None:
    surrogates = service.masks_for_sessions(store, ["s1"])["s1"]
    tags = service.masks_for_sessions(store, ["s1"], mode="tag")["s1"]
    assert tags.turns != surrogates.turns
    assert "Dana" not in "".join(tags.turns)
    modes = {mode for (mode, _, _) in _map(store)}
    assert modes == {"surrogate", "tag"}
    assert tags.restore(tags.turns[0]) == RECORDS[0]["turns"][0]["text"]
    with pytest.raises(ConfigError, match="unknown de-identification mode"):
        service.masks_for_sessions(store, ["s1"], mode="redact")


def test_clients_have_their_own_maps_and_chinese_is_masked(store, backend: str) -> None:
    masks = service.masks_for_sessions(store, ["z1", "s1"])
    assert masks["z1"].language == "zh" and masks["z1"].client_id == "cl2"
    assert "王芳" not in "".join(masks["z1"].turns) and "李雷" not in "".join(masks["z1"].turns)
    assert _map(store, "cl2") and not set(_map(store, "cl2").values()) & set(["Dana"])
    assert _count(store, DEID_CLIENTS) == 2


def test_unknown_session_is_one_line(store, backend: str) -> None:
    with pytest.raises(NotFoundError, match="no session nope in the store"):
        service.masks_for_sessions(store, ["s1", "nope"])
    assert _count(store, DEID_SURROGATES) == 0


def test_corrections_change_what_is_replaced_from_then_on(store, backend: str) -> None:
    before = service.masks_for_sessions(store, ["s2"])["s2"]
    assert "Sunday" in before.turns[1]
    service.mark(store, "cl1", "Sunday", "date", "lead")
    service.unmark(store, "cl1", "Ivo", "lead", category="name")
    after = service.masks_for_sessions(store, ["s2"])["s2"]
    assert "Sunday" not in after.turns[1] and "Ivo" in after.turns[1]
    listed = service.corrections(store)
    assert [(c.client_id, c.text, c.category, c.action, c.made_by) for c in listed] == [
        ("cl1", "Sunday", "date", "mark", "lead"),
        ("cl1", "Ivo", "name", "unmark", "lead"),
    ]
    assert service.corrections(store, "cl2") == []


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("nobody", "Ann", "name"), NotFoundError, "no client 'nobody'"),
        (("cl1", "  ", "name"), ConfigError, "empty"),
        (("cl1", "x" * 201, "name"), ConfigError, "longer than 200"),
        (("cl1", "Ann\nBo", "name"), ConfigError, "line break"),
        (("cl1", "Ann", "colour"), ConfigError, "unknown category 'colour'"),
    ],
)
def test_mark_refuses_what_it_cannot_store(
    store, backend: str, args: tuple[str, str, str], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        service.mark(store, *args, made_by="lead")
    assert _count(store, DEID_CORRECTIONS) == 0


def test_scan_counts_without_storing_and_shows_values_only_when_asked(store, backend: str) -> None:
    rows = scan.scan(store)
    assert [row.session_id for row in rows] == ["s1", "s2", "z1"]
    first = rows[0]
    assert set(first.counts) == set(CATEGORIES) and first.values == {}
    assert first.counts["name"] >= 2 and first.counts["phone"] == 1 and first.turns == 2
    assert first.total == sum(first.counts.values())
    shown = scan.scan(store, ["s1"], values=True)
    assert shown[0].counts == first.counts
    assert "Dana" in shown[0].values["name"] and shown[0].values["phone"] == (PHONE,)
    seen: list[tuple[int, int]] = []
    scan.scan(store, ["z1", "s2"], on_progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]
    assert _count(store, DEID_SURROGATES) == _count(store, DEID_CLIENTS) == 0


def test_two_writers_agree_on_one_map(store, backend: str) -> None:
    """Two processes mask the same client at once (each its own engine and sessions with
    shared and own identifiers): one date shift, one surrogate per identifier, and no
    surrogate stands for two identifiers."""
    url = store.url.render_as_string(hide_password=False)
    results: dict[str, Any] = {}
    barrier = threading.Barrier(2)

    def work(session_id: str) -> None:
        engine = make_engine(url)
        try:
            barrier.wait()
            results[session_id] = service.masks_for_sessions(engine, [session_id])[session_id]
        except BaseException as error:  # reported below
            results[session_id] = error
        finally:
            engine.dispose()

    threads = [threading.Thread(target=work, args=(sid,)) for sid in ("s1", "s2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(isinstance(r, service.SessionMask) for r in results.values()), results
    stored = _map(store)
    assert len(set(stored.values())) == len(stored)  # no surrogate means two things
    assert _count(store, DEID_CLIENTS) == 1
    dana = next(s for (_, c, o), s in stored.items() if o.startswith("Dana"))
    assert dana in results["s1"].turns[0] and dana in results["s2"].turns[0]
    for sid, mask in results.items():
        record = next(r for r in RECORDS if r["session_id"] == sid)
        assert [mask.restore(t) for t in mask.turns] == [t["text"] for t in record["turns"]]


# -- the roster file -----------------------------------------------------------------


def test_roster_loads_all_or_nothing_and_again_adds_nothing(
    store, backend: str, tmp_path: Path
) -> None:
    path = tmp_path / "roster.csv"
    path.write_text("name,category,client_id\nRita Moss,name,cl1\nMaple Clinic,place,\n"
                    "\nRita Moss,name,cl1\n小周,name,cl2\n", encoding="utf-8")  # fmt: skip
    loaded = service.load_roster(store, path)
    assert (loaded.entries, loaded.added, loaded.already) == (3, 3, 0)
    again = service.load_roster(store, path)
    assert (again.entries, again.added, again.already) == (3, 0, 3)
    with store.connect() as connection:
        rows = connection.execute(select(DEID_ROSTER.c.name, DEID_ROSTER.c.category,
                                         DEID_ROSTER.c.client_id)
                                  .order_by(DEID_ROSTER.c.id)).all()  # fmt: skip
    assert [tuple(r) for r in rows] == [
        ("Rita Moss", "name", "cl1"),
        ("Maple Clinic", "place", None),
        ("小周", "name", "cl2"),
    ]
    mask = service.masks_for_sessions(store, ["s1"])["s1"]
    assert "Maple Clinic" not in mask.mask("We met at Maple Clinic.")


def test_roster_without_the_client_column(store, backend: str, tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text("\ufeffName,Category\nRiverton,place\n", encoding="utf-8")
    assert service.load_roster(store, path).added == 1


@pytest.mark.parametrize(
    ("content", "where", "message"),
    [
        ("", "", "empty: the header name,category,client_id is missing"),
        ("who,what\nAnn,name\n", ":1", "the header must be name,category,client_id"),
        ("name,category\nAnn,name\nBo,person\n", ":3", "category 'person' is not name or place"),
        ("name,category,client_id\nAnn,name,cl1\nBo,name,ghost\n", ":3", "no client 'ghost'"),
        ("name,category\n,name\n", ":2", "name '' is empty"),
        ("name,category\nAnn,name,extra\n", ":2", "expected 2 columns, found 3"),
        ('name,category\n"Ann\nBo",name\n', ":2", "holds a line break"),
        ('name,category\n"Ann,name\n', ":2", "not valid CSV"),
        ("name,category\n" + "A" * 300 + ",name\n", ":2", "longer than 200 characters"),
    ],
)
def test_a_bad_roster_is_one_line_and_stores_nothing(
    store, backend: str, tmp_path: Path, content: str, where: str, message: str
) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(FileError) as raised:
        service.load_roster(store, path)
    text = str(raised.value)
    assert text.startswith(f"{path}{where}: ") and message in text and "\n" not in text
    assert _count(store, DEID_ROSTER) == 0


def test_roster_files_that_are_not_text(store, backend: str, tmp_path: Path) -> None:
    binary = tmp_path / "roster.csv"
    binary.write_bytes(b"name,category\nAnn\xff,name\n")
    with pytest.raises(FileError, match="not valid UTF-8"):
        service.load_roster(store, binary)
    with pytest.raises(FileError, match="roster file not found"):
        service.load_roster(store, tmp_path / "missing.csv")
    with pytest.raises(FileError, match="not a regular file"):
        service.load_roster(store, tmp_path)
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as handle:
        handle.write(b"name,category\n")
        handle.truncate(5 * 1024 * 1024)
    with pytest.raises(FileError, match="larger than 4 MiB"):
        service.load_roster(store, huge)
    assert _count(store, DEID_ROSTER) == 0


def test_one_mask_used_from_many_threads(store, backend: str) -> None:
    """The drafting engine masks item contexts and rationales in worker threads: each new
    name gets one surrogate, stored once, and every text reads back."""
    mask = service.masks_for_sessions(store, ["s1"])["s1"]
    texts = [f"Dana met Tom Hale and {name} at the gym." for name in
             ("Greta", "Hugo", "Ines", "Jonas", "Karin", "Lukas")] * 2  # fmt: skip
    out: dict[int, str] = {}
    barrier = threading.Barrier(len(texts))

    def work(index: int) -> None:
        barrier.wait()
        out[index] = mask.mask(texts[index])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(out) == len(texts)
    for index, text in enumerate(texts):
        assert "Dana" not in out[index] and mask.restore(out[index]) == text
        assert out[index] == out[index % 6]  # the same text, the same surrogates
    stored = _map(store)
    assert len(set(stored.values())) == len(stored)


def test_scan_counts_what_masks_replace(store, backend: str) -> None:
    """The lead checks what drafts and exports replace: the same detections, counted."""
    from collections import Counter

    masks = service.masks_for_sessions(store, ["s1", "s2", "z1"])
    for row in scan.scan(store, ["s1", "s2", "z1"]):
        found = Counter(span.category for spans in masks[row.session_id].spans for span in spans)
        assert {c: n for c, n in row.counts.items() if n} == dict(found), row.session_id
