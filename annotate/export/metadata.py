"""Session metadata in an export: in the index and the manifest, in a prompt only when asked.

A session's metadata (``sessions.meta``: string keys and values such as ``condition``)
describes the session, so every index line carries it and the manifest counts its
values per fold. It never enters a record's text unless ``--prompt-metadata`` names
keys: then the user message begins with one header line of those keys.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from annotate.core.errors import ConfigError
from annotate.export.records import driver_rows
from annotate.ingest.validation import METADATA_KEY
from store.tables import SESSIONS

HEADER = "Session metadata: "


def session_metadata(connection: Connection) -> Iterator[tuple[str, dict[str, str]]]:
    """(session id, metadata) of every session that has any."""
    query = select(SESSIONS.c.id, SESSIONS.c.meta).where(SESSIONS.c.meta.is_not(None))
    for session_id, raw in driver_rows(connection, query):
        meta: Any = json.loads(raw) if isinstance(raw, str | bytes) else raw
        if isinstance(meta, dict) and meta:  # JSON null is stored as text 'null' on SQLite
            yield session_id, {str(key): str(value) for key, value in meta.items()}


def prompt_keys(keys: Iterable[str]) -> tuple[str, ...]:
    """The keys named by ``--prompt-metadata``, checked for form, duplicates dropped."""
    named: list[str] = []
    for key in keys:
        if not METADATA_KEY.match(key):
            raise ConfigError(
                f"--prompt-metadata: {key!r} is not a metadata key (a letter, then letters, "
                "digits, '_', '.' or '-')"
            )
        if key not in named:
            named.append(key)
    return tuple(named)


def check_known(keys: tuple[str, ...], meta_of: dict[str, dict[str, str]]) -> None:
    """Refuse a key that no exported session carries (most likely a typo)."""
    carried = sorted({key for meta in meta_of.values() for key in meta})
    unknown = [key for key in keys if key not in carried]
    if unknown:
        known = ", ".join(carried) if carried else "none"
        raise ConfigError(
            f"--prompt-metadata: no exported session has {', '.join(map(repr, unknown))} "
            f"(keys in this export: {known})"
        )


def header(meta: dict[str, str], keys: tuple[str, ...]) -> str:
    """The user message's first line for the named keys the session has ('' for none)."""
    parts = [f"{key} = {meta[key]}" for key in keys if key in meta]
    return HEADER + "; ".join(parts) + "\n" if parts else ""
