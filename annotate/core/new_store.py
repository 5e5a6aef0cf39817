"""The default instruments and marker scheme written into a new store with plain SQL.

The same rows as ``install_instrument`` and ``install_markers`` (a test compares them on
both backends), without loading the ORM, so that the first command on a new database
(often ``annotate import``) starts fast.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from annotate.core.guidelines import InstrumentSpec, MarkerScheme
from store.db import stored_timestamp


def install_defaults(connection: Connection) -> None:
    """WAI-SR, the rupture question and 3RS, into a store that has no instruments yet."""
    from annotate.core.guidelines import (
        RUPTURE_INSTRUMENT,
        default_instrument,
        default_markers,
        load_instrument,
    )

    now = stored_timestamp(connection, datetime.now(UTC))
    for spec in (default_instrument(), load_instrument(RUPTURE_INSTRUMENT)):
        _instrument(connection, spec, now)
    _markers(connection, default_markers(), now)


def _instrument(connection: Connection, spec: InstrumentSpec, now: Any) -> None:
    connection.execute(
        text(
            "INSERT INTO instruments (id, name, version, scale_min, scale_max, anchors,"
            " dimensions, rationales, loaded_at) VALUES (:id, :name, :version, :scale_min,"
            " :scale_max, :anchors, :dimensions, :rationales, :loaded_at)"
        ),
        {
            "id": spec.id,
            "name": spec.name,
            "version": spec.version,
            "scale_min": spec.scale_min,
            "scale_max": spec.scale_max,
            "anchors": json.dumps({str(value): label for value, label in spec.anchors.items()}),
            "dimensions": json.dumps({key: d.model_dump() for key, d in spec.dimensions.items()}),
            "rationales": spec.rationales,
            "loaded_at": now,
        },
    )
    connection.execute(
        text(
            "INSERT INTO items (id, instrument_id, dimension, position, text, binary_above,"
            " counselor_text) VALUES (:id, :instrument_id, :dimension, :position, :text,"
            " :binary_above, :counselor_text)"
        ),
        [
            {
                "id": item.id,
                "instrument_id": spec.id,
                "dimension": item.dimension,
                "position": position,
                "text": item.text,
                "binary_above": item.binary_above,
                "counselor_text": item.counselor_text,
            }
            for position, item in enumerate(spec.items, start=1)
        ],
    )


def _markers(connection: Connection, spec: MarkerScheme, now: Any) -> None:
    connection.execute(
        text(
            "INSERT INTO marker_schemes (id, name, version, families, codes, cues, loaded_at)"
            " VALUES (:id, :name, :version, :families, :codes, :cues, :loaded_at)"
        ),
        {
            "id": spec.id,
            "name": spec.name,
            "version": spec.version,
            "families": json.dumps({key: f.model_dump() for key, f in spec.families.items()}),
            "codes": json.dumps([code.model_dump() for code in spec.codes]),
            "cues": json.dumps(spec.cues),
            "loaded_at": now,
        },
    )
