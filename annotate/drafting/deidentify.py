"""De-identification on the way out: which runs de-identify, what they send, what comes back.

A run that asks a model de-identifies the transcripts it sends when told to
(``--deidentify``) and, by default, whenever the endpoint is not on this machine
(:func:`annotate.deid.endpoint.is_local`); ``--no-deidentify`` for a remote endpoint is
allowed and recorded in each draft's parameters (``{"deidentify": {"off": "explicit"}}``).
The offline drafter sends nothing and never de-identifies.

When on, each session's turns are replaced by its masked texts
(:func:`annotate.deid.service.masks_for_sessions`: the same surrogates for the same
person across the client's sessions, the map stored and never sent), the context is
marked ``deidentified`` (a provider that must de-identify refuses any other), and the
reply's texts (rationale, quotes, reasons, the raw reply kept for inspection) are mapped
back with the session's mask before grounding and storing: grounding then runs against
the original turns, and experts read the real names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from annotate.core.errors import ConfigError
from annotate.work.rationales.itemcontext import TurnText

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from annotate.drafting.grounding import ParsedDraft

MODES = ("surrogate", "tag")
DEFAULT_MODE = "surrogate"
EXPLICIT_OFF = {"off": "explicit"}


class Mask(Protocol):
    """What drafting needs of a session's mask (``annotate.deid.service.SessionMask``)."""

    @property
    def turns(self) -> tuple[str, ...]: ...

    def mask(self, text: str) -> str: ...

    def restore(self, text: str) -> str: ...


class NotDeidentified(RuntimeError):
    """A provider that must de-identify was handed text that is not (a programming error:
    nothing was sent)."""


@dataclass(frozen=True)
class Deidentify:
    """What a run does about identifiers in the text it sends."""

    on: bool = False
    mode: str = DEFAULT_MODE
    explicit_off: bool = False  # --no-deidentify for an endpoint not on this machine
    local: bool = True  # the endpoint is on this machine

    def provenance(self) -> dict[str, Any] | None:
        """The ``deidentify`` entry of a draft's parameters (None: none to record)."""
        if self.on:
            from annotate.deid.detect import METHOD, VERSION

            return {"mode": self.mode, "method": METHOD, "version": VERSION}
        if self.explicit_off:
            return dict(EXPLICIT_OFF)
        return None

    def warning(self, host: str | None) -> str | None:
        """The one line a run prints when it sends identifiable text off this machine."""
        if not self.explicit_off:
            return None
        return (
            f"warning: --no-deidentify: transcripts go to {host or 'the endpoint'} (not on "
            "this machine) with every name, place, date and number; recorded in each draft"
        )


OFF = Deidentify()


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ConfigError(f"--deidentify-mode must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


def decide(base_url: str | None, asked: bool | None, mode: str = DEFAULT_MODE) -> Deidentify:
    """The rule for an OpenAI-compatible endpoint (``base_url`` None: the OpenAI API).

    ``asked`` None (neither flag): on exactly when the endpoint is not on this machine;
    True: on; False: off, recorded as an explicit choice when the endpoint is remote.
    """
    from annotate.deid import endpoint

    check_mode(mode)
    local = endpoint.is_local(base_url)
    if asked is None:
        return Deidentify(on=not local, mode=mode, local=local)
    if asked:
        return Deidentify(on=True, mode=mode, local=local)
    return Deidentify(on=False, mode=mode, explicit_off=not local, local=local)


def plan_of(provider: object) -> Deidentify:
    """The provider's decision; OFF for providers that send nothing (the offline drafter,
    a test's own provider)."""
    found = getattr(provider, "deidentify", None)
    return found if isinstance(found, Deidentify) else OFF


def masks_for(engine: Engine, session_ids: Iterable[str], plan: Deidentify) -> dict[str, Mask]:
    """Each session's mask when ``plan`` is on (computed and its new map entries stored in
    one transaction: call it with no transaction of this thread open), else {}."""
    if not plan.on:
        return {}
    from annotate.deid.service import masks_for_sessions

    wanted = sorted(set(session_ids))
    if not wanted:
        return {}
    masks: dict[str, Mask] = dict(masks_for_sessions(engine, wanted, mode=plan.mode))
    missing = [s for s in wanted if s not in masks]
    if missing:
        raise NotDeidentified(f"no de-identification for session(s) {', '.join(missing)}")
    return masks


def masked_turns(turns: Sequence[TurnText], mask: Mask) -> tuple[TurnText, ...]:
    """The turns with the mask's texts (same numbers and speakers, in the same order)."""
    if len(mask.turns) != len(turns):
        raise NotDeidentified(
            f"the mask has {len(mask.turns)} turns for a transcript of {len(turns)}"
        )
    return tuple(
        dataclasses.replace(turn, text=text) for turn, text in zip(turns, mask.turns, strict=True)
    )


def restore_draft(parsed: ParsedDraft, mask: Mask | None) -> ParsedDraft:
    """A parsed reply's rationale and quotes mapped back to the original text."""
    if mask is None:
        return parsed
    from annotate.drafting.grounding import ParsedDraft, Quote

    quotes = [Quote(mask.restore(q.text), q.turn) for q in parsed.quotes]
    return ParsedDraft(mask.restore(parsed.rationale), list(parsed.evidence), quotes)


def restored(text: str | None, mask: Mask | None) -> str | None:
    """A text that came back (a raw reply, an error quoting it) mapped back."""
    if text is None or mask is None:
        return text
    return mask.restore(text)
