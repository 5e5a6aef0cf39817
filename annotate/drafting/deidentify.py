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
import difflib
import re
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


def restore_draft(
    parsed: ParsedDraft, mask: Mask | None, turns: Sequence[TurnText] = ()
) -> ParsedDraft:
    """A parsed reply's rationale and quotes mapped back to the original text. A quote
    that ends inside a surrogate ("drove to Las" of "Las Cruces") maps back to the
    original words under it (:func:`restore_quote`), given the session's original
    ``turns``."""
    if mask is None:
        return parsed
    from annotate.drafting.grounding import ParsedDraft, Quote

    sent = dict(zip((t.number for t in turns), mask.turns, strict=False)) if turns else {}
    said = {turn.number: turn.text for turn in turns}
    numbers = [n for n in parsed.evidence if n in said]
    rationale = mask.restore(parsed.rationale)
    quotes = []
    for quote in parsed.quotes:
        where = [quote.turn] if quote.turn is not None else numbers
        text = restore_quote(quote.text, mask, [(said[n], sent[n]) for n in where if n in said])
        back = mask.restore(quote.text)
        if text != back and back:  # the rationale repeats the quote: the same words
            rationale = rationale.replace(back, text)
        quotes.append(Quote(text, quote.turn))
    return ParsedDraft(rationale, list(parsed.evidence), quotes)


_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# What quotes are aligned by: one Chinese character, a run of other letters or digits, a
# run of spaces, or one other sign.
_TOKEN = re.compile(rf"[{_HAN}]|[^\W_{_HAN}]+|\s+|.", re.S)


def restore_quote(text: str, mask: Mask, turns: Sequence[tuple[str, str]]) -> str:
    """A quote from masked turns mapped back: the surrogates in it restored; when that is
    in none of ``turns`` (original, masked text) because the quote cuts through a
    surrogate, the original words under the quoted masked text (an exact piece of the
    original turn); else the restored text, which grounding then refuses."""
    from annotate.drafting.grounding import quote_in

    back = mask.restore(text)
    if not turns or any(quote_in(back, original) for original, _ in turns):
        return back
    for original, masked in turns:
        found = original_under(text, masked, original)
        if found:
            return found
    return back


def original_under(quote: str, masked: str, original: str) -> str | None:
    """The piece of ``original`` under ``quote``'s place in ``masked`` (its masked copy),
    or None when the quote is not a piece of ``masked`` (letter case aside). Words the
    mask kept align one to one; a quote that begins or ends inside a replaced run takes
    the whole original run."""
    at = masked.find(quote)
    if at < 0 and len(masked.lower()) == len(masked):
        at = masked.lower().find(quote.lower())
    if at < 0 or not quote:
        return None
    end = at + len(quote)
    sent = [(m.start(), m.end()) for m in _TOKEN.finditer(masked)]
    kept = [(m.start(), m.end()) for m in _TOKEN.finditer(original)]
    matcher = difflib.SequenceMatcher(
        None, [masked[a:b] for a, b in sent], [original[a:b] for a, b in kept], autojunk=False
    )
    low = high = None
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        o_start = kept[j1][0] if j1 < len(kept) else len(original)
        o_end = kept[j2 - 1][1] if j2 > j1 else o_start
        for index in range(i1, i2):
            m_start, m_end = sent[index]
            if m_end <= at or m_start >= end:
                continue
            if tag == "equal":  # the same token: the same characters
                o_token = kept[j1 + index - i1][0]
                first = o_token + max(at, m_start) - m_start
                last = o_token + min(end, m_end) - m_start
            else:  # a replaced run: all of the original run
                first, last = o_start, o_end
            low = first if low is None else min(low, first)
            high = last if high is None else max(high, last)
    if low is None or high is None:
        return None
    piece = original[low:high].strip()
    return piece or None


def restored(text: str | None, mask: Mask | None) -> str | None:
    """A text that came back (a raw reply, an error quoting it) mapped back."""
    if text is None or mask is None:
        return text
    return mask.restore(text)
