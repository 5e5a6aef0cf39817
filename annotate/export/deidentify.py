"""``export --deidentify``: training files with the identifiers replaced, as drafting sends them.

Every text of a record goes through the session's mask
(:func:`annotate.deid.service.masks_for_sessions`): the transcript is the masked turns a
de-identified draft request carries, and every other text of the client (the expert's
rationale, the model draft a DPO pair rejects, session metadata values) is masked with
the same client's detections and map (``SessionMask.mask``), so a person has one
surrogate in the transcript and in the rationale that explains it. The session
metadata key ``names`` (the people de-identification is told of) is left out. The map
stays in the store; the manifest records the method, its version and the mode.

Masks are made a batch of sessions at a time (memory stays flat); metadata, which the
manifest counts before any record is written, is masked once per client with a mask of
one of its sessions, and that masked metadata is what the index lines carry too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from annotate.core.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from annotate.deid.service import SessionMask

MODES = ("surrogate", "tag")
NAMES_KEY = "names"  # session metadata listing the people to de-identify: never exported
CLIENTS_PER_BATCH = 500


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ConfigError(f"--deidentify-mode must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


def manifest_entry(mode: str) -> dict[str, Any]:
    """The manifest's ``deidentification``: method, version and mode."""
    from annotate.deid.detect import METHOD, VERSION

    return {"method": METHOD, "version": VERSION, "mode": mode}


class ExportMasks:
    """The masks of one export, a batch of sessions at a time."""

    def __init__(self, engine: Engine, mode: str) -> None:
        self.engine = engine
        self.mode = check_mode(mode)
        self._masks: dict[str, SessionMask] = {}

    def load(self, session_ids: Sequence[str]) -> None:
        """Make the masks of a batch (new map entries stored in a transaction of their own:
        the export's read snapshot does not see them and needs not)."""
        from annotate.deid.service import masks_for_sessions

        self._masks = dict(masks_for_sessions(self.engine, list(session_ids), mode=self.mode))

    def _mask(self, session_id: str) -> SessionMask:
        found = self._masks.get(session_id)
        if found is None:
            raise RuntimeError(f"no mask loaded for session {session_id}")
        return found

    def turns(self, session_id: str, turns: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """The session's turns with their texts masked; each turn is a tuple whose last
        element is its text (``(speaker, text)``, ``(number, speaker, text)``)."""
        masked = self._mask(session_id).turns
        if len(masked) != len(turns):
            raise RuntimeError(
                f"session {session_id}: {len(masked)} masked turns for {len(turns)} turns"
            )
        return [(*turn[:-1], text) for turn, text in zip(turns, masked, strict=True)]

    def text(self, session_id: str, text: str) -> str:
        """Another text of the session's client (a rationale, a draft), masked alike."""
        return self._mask(session_id).mask(text)

    def metadata(
        self, meta_of: dict[str, dict[str, str]], client_of: dict[str, str]
    ) -> dict[str, dict[str, str]]:
        """Every exported session's metadata without ``names`` and with each value masked
        by its client (one mask per client, made from one of its sessions)."""
        wanted = {sid: meta for sid, meta in meta_of.items() if sid in client_of}
        one_of: dict[str, str] = {}
        for session_id in sorted(wanted):
            one_of.setdefault(client_of[session_id], session_id)
        clients = sorted(one_of)
        masks: dict[str, SessionMask] = {}
        from annotate.deid.service import masks_for_sessions

        for start in range(0, len(clients), CLIENTS_PER_BATCH):
            chosen = [one_of[client] for client in clients[start : start + CLIENTS_PER_BATCH]]
            found = masks_for_sessions(self.engine, chosen, mode=self.mode)
            masks.update({mask.client_id: mask for mask in found.values()})
        masked: dict[str, dict[str, str]] = {}
        for session_id, meta in wanted.items():
            mask = masks[client_of[session_id]]
            kept = {key: mask.mask(value) for key, value in meta.items() if key != NAMES_KEY}
            if kept:
                masked[session_id] = kept
        return masked
