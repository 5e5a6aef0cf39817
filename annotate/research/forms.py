"""The item wordings a turn is compared with: the client form for client turns, the
counselor form (``items.counselor_text``) for counselor turns when the instrument carries
one, else the client form; and, for a Chinese session, the shipped Chinese wording of the
paraphrased WAI-SR (``guidelines/trace/wai-sr.zh.toml``) when the store holds that wording.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from annotate.core.errors import ConfigError
from annotate.core.guidelines import DEFAULT_INSTRUMENT, GUIDELINES_DIR, load_instrument
from store.tables import INSTRUMENTS, ITEMS

TRANSLATIONS = {"zh": GUIDELINES_DIR / "trace" / "wai-sr.zh.toml"}
SPEAKERS = ("client", "counselor")


@dataclass(frozen=True)
class Wording:
    """One form in one language: the items' texts, each with its dimension."""

    form: str  # client | counselor (the counselor's turns fall back to "client")
    language: str  # "instrument": the stored wording; else a shipped translation's language
    items: tuple[tuple[str, str], ...]  # (dimension, text), in the instrument's order


@dataclass(frozen=True)
class Forms:
    """What a trace compares turns with, read once per run."""

    instrument_id: str
    version: str
    dimensions: tuple[str, ...]
    wordings: dict[tuple[str, str], Wording]  # (form, language) -> wording

    def wording(self, speaker: str, language: str | None) -> Wording:
        """The wording for a turn of SPEAKER in a session of LANGUAGE."""
        form = "counselor" if speaker == "counselor" else "client"
        if (form, "instrument") not in self.wordings:
            form = "client"
        translated = _language(language)
        return self.wordings.get((form, translated)) or self.wordings[(form, "instrument")]

    def texts(self) -> list[str]:
        """Every distinct item text, in a stable order (what is embedded once per run)."""
        seen: dict[str, None] = {}
        for key in sorted(self.wordings):
            for _, text in self.wordings[key].items:
                seen.setdefault(text, None)
        return list(seen)


def _language(language: str | None) -> str:
    code = (language or "").lower().replace("_", "-").split("-")[0]
    return code if code in TRANSLATIONS else "instrument"


def load_forms(connection: Connection, instrument_id: str = "wai-sr") -> Forms:
    """The stored instrument's forms (and the shipped translations that fit its wording)."""
    stored = connection.execute(
        select(INSTRUMENTS.c.version, INSTRUMENTS.c.dimensions, INSTRUMENTS.c.rationales)
        .where(INSTRUMENTS.c.id == instrument_id)
    ).first()  # fmt: skip
    if stored is None:
        raise ConfigError(f"no instrument {instrument_id!r} in the store: run 'annotate init'")
    rows = connection.execute(
        select(ITEMS.c.id, ITEMS.c.dimension, ITEMS.c.text, ITEMS.c.counselor_text)
        .where(ITEMS.c.instrument_id == instrument_id, ITEMS.c.binary_above.is_(None))
        .order_by(ITEMS.c.position)
    ).all()  # fmt: skip
    if not rows:
        raise ConfigError(f"instrument {instrument_id!r} has no rated items to compare turns with")
    dimensions = tuple(d for d in stored.dimensions if any(r.dimension == d for r in rows))
    wordings = {
        ("client", "instrument"): Wording(
            "client", "instrument", tuple((r.dimension, r.text) for r in rows)
        )
    }
    if all(r.counselor_text for r in rows):
        wordings[("counselor", "instrument")] = Wording(
            "counselor", "instrument", tuple((r.dimension, r.counselor_text) for r in rows)
        )
    if instrument_id == "wai-sr" and _shipped_wording(rows):
        for language, path in TRANSLATIONS.items():
            wordings.update(
                _translation(path, language, rows, "counselor" in {form for form, _ in wordings})
            )
    return Forms(instrument_id, stored.version, dimensions, wordings)  # fmt: skip


def _shipped_wording(rows: Sequence[Any]) -> bool:
    """The store holds the paraphrase shipped in guidelines/ (a translation of it fits)."""
    shipped = {item.id: item.text for item in load_instrument(DEFAULT_INSTRUMENT).items}
    return all(shipped.get(row.id) == row.text for row in rows)


def _translation(path: Path, language: str, rows: Sequence[Any], counselor: bool
                 ) -> dict[tuple[str, str], Wording]:  # fmt: skip
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    items = data["items"]
    found = {
        ("client", language): Wording(
            "client", language, tuple((r.dimension, items[r.id]["text"]) for r in rows)
        )
    }
    if counselor:
        found[("counselor", language)] = Wording(
            "counselor", language, tuple((r.dimension, items[r.id]["counselor_text"]) for r in rows)
        )
    return found  # fmt: skip
