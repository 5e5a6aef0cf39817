"""Session lines decoded and checked by msgspec: accepted only when certainly valid.

``SessionLines.accept(raw)`` returns a session's normalised record (exactly what
``validation.check_session`` would return) when the line is a valid session, and None
otherwise; the caller then runs the reference reader and validator on that line, so
every refusal and every ``FILE:LINE`` message comes from the one validator. What the
fast path checks is therefore only ever a subset of what the validator allows: a test
(``tests/services/test_import_fast.py``) holds it to the same answers on every fixture
and on generated files.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from itertools import chain, count, repeat
from typing import Any, Literal, NamedTuple

import msgspec
from msgspec import UNSET, UnsetType

from annotate.core.catalog import ItemCatalog
from annotate.ingest.validation import (
    MAX_ID_LENGTH,
    MAX_INTEGER,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE,
    METADATA_KEY,
)


class _Turn(msgspec.Struct, forbid_unknown_fields=True):
    speaker: Literal["client", "counselor"]
    text: str


class _Session(msgspec.Struct, forbid_unknown_fields=True):
    # UNSET tells an absent field from an explicit null (the key still counts, see below).
    session_id: str
    client_id: str
    counselor_id: str
    turns: list[_Turn]
    client_ratings: dict[str, int]
    session_number: int | None | UnsetType = UNSET
    language: str | None | UnsetType = UNSET
    counselor_ratings: dict[str, int] | None | UnsetType = UNSET
    metadata: dict[str, str] | None | UnsetType = UNSET


_OPTIONAL = ("session_number", "language", "counselor_ratings", "metadata")
# Escapes that decode to text no store keeps (NUL, surrogates) or to a ":" that the
# duplicate-key count below would miss: such lines take the reference path.
_SPECIAL_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F]|003[aA])")
_DECODER = msgspec.json.Decoder(_Session)
_CANONICAL = msgspec.json.Encoder(order="sorted")
BOM = b"\xef\xbb\xbf"


def canonical_hash(record: dict[str, Any]) -> str:
    """SHA-256 of ``readers.dumps(record)`` (sorted keys, UTF-8 unescaped), computed by msgspec."""
    return hashlib.sha256(_CANONICAL.encode(record)).hexdigest()


_SPEAKERS = {"client": "client", "counselor": "counselor"}  # one object per speaker


class SessionRows(NamedTuple):
    """A valid session as the writer stores it, compact for the pipe from the parser.

    The turns' texts travel joined by NUL (no valid text holds one: the readers refuse
    it), speakers and item ids as shared objects; ``turn_rows`` and ``rating_rows``
    yield the rows, only for sessions that are new.
    """

    session_id: str
    client_id: str
    counselor_id: str
    session_number: int | None
    language: str | None
    metadata: dict[str, str] | None
    content_hash: str
    speakers: tuple[str, ...]
    texts: str
    client_items: tuple[str, ...]
    client_values: tuple[int, ...]
    counselor_items: tuple[str, ...]
    counselor_values: tuple[int, ...]

    def turn_rows(self) -> Iterator[tuple[str, int, str, str]]:
        texts = self.texts.split("\x00")
        return zip(repeat(self.session_id), count(1), self.speakers, texts, strict=False)

    def rating_rows(self) -> Iterator[tuple[str, str, str, int]]:
        session = repeat(self.session_id)
        return chain(
            zip(session, self.client_items, repeat("client"), self.client_values, strict=False),
            zip(session, self.counselor_items, repeat("counselor"), self.counselor_values,
                strict=False),
        )  # fmt: skip


def session_rows(record: dict[str, Any]) -> SessionRows:
    """The rows of a valid session record (``validation.check_session``'s output)."""
    turns = record["turns"]
    client, counselor = record["client_ratings"], record["counselor_ratings"]
    return SessionRows(
        record["session_id"],
        record["client_id"],
        record["counselor_id"],
        record["session_number"],
        record["language"],
        record.get("metadata"),
        canonical_hash(record),
        tuple(_SPEAKERS[turn["speaker"]] for turn in turns),
        "\x00".join(turn["text"] for turn in turns),
        tuple(client),
        tuple(client.values()),
        tuple(counselor),
        tuple(counselor.values()),
    )


def _identifier(value: str) -> bool:
    return 0 < len(value) <= MAX_ID_LENGTH and value == value.strip() and value.isprintable()


class SessionLines:
    """The fast path for one catalog's session records."""

    def __init__(self, catalog: ItemCatalog) -> None:
        self.scales = catalog.item_scales
        self.item_instrument = catalog.item_instrument
        self.sizes = {name: len(items) for name, items in catalog.instrument_items.items()}
        self.known_ids: set[str] = set()  # client and counselor ids already found valid
        self.items: dict[tuple[str, ...], tuple[str, ...]] = {}

    def _ratings(self, ratings: dict[str, int], *, complete: bool) -> int | None:
        """The colons in the item ids of valid ratings (None: not valid). ``complete``:
        every item of each instrument named is there (the client's ratings)."""
        scales, item_instrument = self.scales, self.item_instrument
        colons = 0
        for item_id, rating in ratings.items():
            scale = scales.get(item_id)
            if scale is None or not scale[0] <= rating <= scale[1]:
                return None
            colons += item_id.count(":")
        if complete:
            # All ids are distinct items of the instruments named: complete when their
            # number is the sum of those instruments' sizes.
            instruments = {item_instrument[item_id] for item_id in ratings}
            if sum(self.sizes[name] for name in instruments) != len(ratings):
                return None
        return colons

    def accept(self, raw: bytes) -> SessionRows | None:
        """The rows of a valid session line, else None (take the reference path)."""
        if b"\x00" in raw or (b"\\u" in raw and _SPECIAL_ESCAPE.search(raw)):
            return None
        try:
            session = _DECODER.decode(raw)
        except (msgspec.DecodeError, ValueError):
            return None
        known = self.known_ids
        session_id, client_id, counselor_id = (
            session.session_id, session.client_id, session.counselor_id,
        )  # fmt: skip
        if not _identifier(session_id):
            return None
        for other in (client_id, counselor_id):
            if other not in known:
                if not _identifier(other):
                    return None
                known.add(other)
        colons = session_id.count(":") + client_id.count(":") + counselor_id.count(":")
        keys = 5  # session_id, client_id, counselor_id, turns, client_ratings
        number = session.session_number
        if number is UNSET:
            number = None
        else:
            keys += 1
            if number is not None and not 0 <= number <= MAX_INTEGER:
                return None
        language = session.language
        if language is UNSET:
            language = None
        else:
            keys += 1
            if language is not None:
                if len(language) > 16:
                    return None
                colons += language.count(":")
        turns = session.turns
        if not turns:
            return None
        for turn in turns:
            text = turn.text
            if not text or text.isspace():
                return None
            colons += text.count(":")
        keys += 2 * len(turns)
        client = session.client_ratings
        if not client:
            return None
        found = self._ratings(client, complete=True)
        if found is None:
            return None
        colons += found
        keys += len(client)
        counselor = session.counselor_ratings
        if counselor is UNSET:
            counselor = {}
        else:
            keys += 1
            if counselor is None:
                counselor = {}
            found = self._ratings(counselor, complete=False)
            if found is None:
                return None
            colons += found
            keys += len(counselor)
        metadata = session.metadata
        if metadata is UNSET:
            metadata = None
        else:
            keys += 1
            if metadata is not None:
                if len(metadata) > MAX_METADATA_KEYS:
                    return None
                for key, value in metadata.items():
                    if not (
                        METADATA_KEY.match(key)
                        and value.strip()
                        and len(value) <= MAX_METADATA_VALUE
                        and value == value.strip()
                        and value.isprintable()
                    ):
                        return None
                    colons += key.count(":") + value.count(":")
                keys += len(metadata)
        # A repeated key would be dropped silently by the decoder; the reference reader
        # refuses it. Every key of every object is followed by exactly one ":" outside a
        # string, so the decoded keys must account for every such ":" of the line.
        if raw.count(b":") - colons != keys:
            return None
        record: dict[str, Any] = {
            "session_id": session_id,
            "client_id": client_id,
            "counselor_id": counselor_id,
            "session_number": number,
            "language": language,
            "turns": turns,  # structs encode as {"speaker", "text"}, like the dicts
            "client_ratings": client,
            "counselor_ratings": counselor,
        }
        if metadata:
            record["metadata"] = metadata
        else:
            metadata = None
        items = self.items
        client_items = tuple(client)
        counselor_items = tuple(counselor)
        return SessionRows(
            session_id,
            client_id,
            counselor_id,
            number,
            language,
            metadata,
            canonical_hash(record),
            tuple([turn.speaker for turn in turns]),
            "\x00".join([turn.text for turn in turns]),
            items.setdefault(client_items, client_items),  # one object per key order
            tuple(client.values()),
            items.setdefault(counselor_items, counselor_items),
            tuple(counselor.values()),
        )
