"""Two fictional sessions with planted identifiers (issue 26), for the tests of what leaves
the machine: a request to a model (``draft``) and a training file (``export``).

Nobody here is a real person: the names, the town, the phone number, the e-mail address
and the dates are made up for these tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from annotate.ingest.service import import_file
from store.models import utcnow
from store.tables import DEID_CLIENTS, DEID_SURROGATES
from tests.factories import session_record, write_jsonl

EN_ID, ZH_ID = "deid-en", "deid-zh"
EN_TURNS = [
    ("counselor", "Good to see you again, Marisol. How did the week go?"),
    ("client", "Tobias and I drove to Millbrook on March 14, 2025 and it went badly."),
    ("counselor", "What happened when you got to Millbrook?"),
    ("client", "My sister kept calling me on 555-867-5309 and emailing marisol.q@example.org."),
    ("counselor", "That sounds like a lot. What would help today?"),
    ("client", "I want to stop fighting with Tobias every weekend."),
]
ZH_TURNS = [
    ("counselor", "王建国先生，这周过得怎么样？"),
    ("client", "小明上周回成都了，我们又吵架了。"),
    ("counselor", "你们在成都发生了什么？"),
    ("client", "他一直打我的手机13812345678，我不想接。"),
    ("counselor", "听起来很累。今天你想谈什么？"),
    ("client", "2024年3月14日那天他离开了家，我想和小明好好谈谈。"),
]
EN_META = {"names": "Marisol Quintero, Tobias", "condition": "couples"}
ZH_META = {"names": "王建国、小明", "condition": "家庭"}
# Every planted identifier, and pieces of them that must not leave either.
PLANTED_EN = ("Marisol", "Quintero", "Tobias", "Millbrook", "March 14", "555-867-5309",
              "867-5309", "marisol.q@example.org", "marisol.q")  # fmt: skip
PLANTED_ZH = ("王建国", "小明", "成都", "13812345678", "3月14日")
PLANTED = PLANTED_EN + PLANTED_ZH


def records() -> list[dict]:
    """The two sessions as import records (each its own client)."""

    def turns(said: list[tuple[str, str]]) -> list[dict[str, str]]:
        return [{"speaker": speaker, "text": text} for speaker, text in said]

    return [
        session_record(EN_ID, client_id="cl-deid-en", counselor_id="co-deid",
                       turns=turns(EN_TURNS), metadata=EN_META),
        session_record(ZH_ID, client_id="cl-deid-zh", counselor_id="co-deid", language="zh",
                       turns=turns(ZH_TURNS), metadata=ZH_META),
    ]  # fmt: skip


SHIFT_DAYS = 40  # each client's date shift, fixed so that no date can keep its day


def import_planted(engine: Engine, folder: Path) -> None:
    """Import the two sessions and fix their clients' date shifts (chosen at random
    otherwise: a shift of a whole year would keep "March 14")."""
    import_file(engine, write_jsonl(folder / "planted.jsonl", records()))
    with engine.begin() as connection:
        connection.execute(
            insert(DEID_CLIENTS),
            [{"client_id": client, "date_shift_days": SHIFT_DAYS, "created_at": utcnow()}
             for client in ("cl-deid-en", "cl-deid-zh")],
        )  # fmt: skip


def forms(identifier: str) -> set[bytes]:
    """The byte forms an identifier takes in a request or a file: UTF-8, JSON-escaped
    (``ensure_ascii``), in any letter case for ASCII."""
    found = {identifier.encode("utf-8"), json.dumps(identifier)[1:-1].encode("ascii")}
    return found | {form.lower() for form in found}


def leaks(blobs: Iterable[bytes], planted: Iterable[str] = PLANTED) -> list[tuple[int, str]]:
    """(index of the blob, identifier) for every planted identifier found in a blob
    (compared lower-cased, so a changed letter case is found too)."""
    found = []
    wanted = [(identifier, forms(identifier)) for identifier in planted]
    for index, blob in enumerate(blobs):
        lowered = blob.lower()
        for identifier, shapes in wanted:
            if any(shape in lowered for shape in shapes):
                found.append((index, identifier))
    return found


def surrogate(engine: Engine, client_id: str, category: str, original: str,
              mode: str = "surrogate") -> str:  # fmt: skip
    """The client's stored surrogate of ORIGINAL (the test reads the map; nothing else may)."""
    with engine.connect() as connection:
        found = connection.execute(
            select(DEID_SURROGATES.c.surrogate).where(
                DEID_SURROGATES.c.client_id == client_id,
                DEID_SURROGATES.c.mode == mode,
                DEID_SURROGATES.c.category.in_([category, f"{category}:{mode}"]),
                DEID_SURROGATES.c.original == original,
            )
        ).scalar()
    assert found, (client_id, category, original)
    return str(found)
