"""What a marker proposal is: the prompt and its bounded reply schema, reading a reply,
grounding a proposal in the transcript, and the offline hinter (the scheme's cue lists).

Plain functions of the scheme and a session's turns; ``annotate.drafting.markers`` asks a
model for proposals and stores them.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from annotate.core.guidelines import MarkerScheme
from annotate.core.markers import speaker_fits
from annotate.drafting.context import TurnText
from annotate.drafting.deidentify import Mask, restore_quote, restored
from annotate.drafting.grounding import (
    PLACEHOLDER,
    ReplyFormatError,
    quote_in,
    read_json_object,
)
from annotate.drafting.prompt import (
    LANGUAGE_NAMES,
    PROMPTS_DIR,
    PromptMeta,
    _compiled,
    turn_line,
)
from annotate.drafting.schema import (
    MARKER_QUOTE_MAX,
    MARKER_REASON_MAX,
    MARKERS_MAX,
    marker_model,
    plain_schema,
    turn_range,
)
from annotate.drafting.similarity import normalise

TEMPLATE = PROMPTS_DIR / "markers.j2"


def marker_schema(
    scheme: MarkerScheme, context: SessionTurns | None = None, *, for_openai: bool = False
) -> dict[str, Any]:
    """The reply schema for a window of turns: the scheme's code ids as an enum and turn
    numbers within the window, so a server that constrains its output to the schema
    (llama.cpp's grammar, vLLM's guided decoding) can only name codes and turns that
    exist; proposals, reasons and quotes bounded (see ``annotate.drafting.schema``)."""
    numbers = [turn.number for turn in context.turns] if context else []
    first, last = turn_range(numbers) if numbers else (1, 2**31 - 1)
    model = marker_model(first, last, tuple(scheme.code_ids))
    return plain_schema(model, for_openai=for_openai)


@dataclass(frozen=True)
class SessionTurns:
    """What a proposer needs for one session (plain data)."""

    session_id: str
    language: str
    turns: tuple[TurnText, ...]
    deidentified: bool = False  # the turns are a de-identified copy, fit to send

    @property
    def by_number(self) -> dict[int, TurnText]:
        return {turn.number: turn for turn in self.turns}


@dataclass(frozen=True)
class Proposal:
    turn: int
    code: str
    reason: str | None
    quote: str | None


@dataclass(frozen=True)
class MarkerTemplate:
    meta: PromptMeta
    source: str
    hash: str

    @property
    def version(self) -> str:
        return self.meta.version

    def messages(self, scheme: MarkerScheme, context: SessionTurns) -> list[dict[str, str]]:
        user = _compiled(self.source).render(
            scheme=scheme,
            families=list(scheme.families.items()),
            codes=scheme.codes,
            session_id=context.session_id,
            transcript=[turn_line(turn) for turn in context.turns],
            language_name=LANGUAGE_NAMES.get(context.language, "the transcript's language"),
            markers_max=MARKERS_MAX,
        )
        return [{"role": "system", "content": self.meta.system}, {"role": "user", "content": user}]


@cache
def marker_template() -> MarkerTemplate:
    raw = TEMPLATE.read_text(encoding="utf-8")
    _, front, body = raw.split("+++", 2)
    meta = PromptMeta.model_validate(tomllib.loads(front))
    return MarkerTemplate(meta, body.lstrip("\n"), hashlib.sha256(raw.encode()).hexdigest())


# --- grounding --------------------------------------------------------------------------


def proposal_error(scheme: MarkerScheme, context: SessionTurns, proposal: Proposal) -> str | None:
    """Why a proposal cannot be offered, or None when it is grounded."""
    turn = context.by_number.get(proposal.turn)
    if turn is None:
        return f"turn {proposal.turn} does not exist (the session has {len(context.turns)})"
    if proposal.code not in scheme.code_ids:
        return f"unknown code {proposal.code!r}"
    if not speaker_fits(scheme, proposal.code, turn.speaker):
        family = scheme.code(proposal.code).family
        return f"{proposal.code!r} ({family}) does not fit a {turn.speaker} turn ({turn.number})"
    if not proposal.quote or not proposal.quote.strip():
        return f"no quote for {proposal.code!r} on turn {proposal.turn}"
    if len(proposal.quote) > MARKER_QUOTE_MAX:
        return f"the quote is {len(proposal.quote)} characters, more than {MARKER_QUOTE_MAX}"
    if proposal.reason is not None and len(proposal.reason) > MARKER_REASON_MAX:
        return f"the reason is {len(proposal.reason)} characters, more than {MARKER_REASON_MAX}"
    if not quote_in(proposal.quote, turn.text):
        copied = _copied(scheme, proposal.quote)
        if copied:
            shown = proposal.quote[:60]
            return f"the quote {shown!r} is {copied}, not words from turn {turn.number}"
        return f"the quote is not in turn {proposal.turn}: {proposal.quote[:60]!r}"
    return None


def _copied(scheme: MarkerScheme, quote: str) -> str | None:
    """What of the marker prompt a quote copies: a placeholder, or a code's name,
    id or definition."""
    if PLACEHOLDER.search(quote):
        return "a placeholder"
    key = normalise(quote).replace(" ", "")
    for code in scheme.codes:
        if key in {normalise(code.id).replace(" ", ""), normalise(code.name).replace(" ", "")}:
            return f"the name of the code {code.id!r}"
        if len(key) >= 8 and key in normalise(code.definition).replace(" ", ""):
            return f"words of the definition of {code.id!r}"
    return None


def restore_proposal(
    proposal: Proposal, mask: Mask | None, sent: SessionTurns | None = None,
    original: SessionTurns | None = None,
) -> Proposal:  # fmt: skip
    """A proposal read from a reply to masked turns (``sent``), its reason and quote
    mapped back to the original text (``original``'s turns; a quote cutting through a
    surrogate becomes the original words under it), so grounding checks the quote
    against the stored turn."""
    if mask is None:
        return proposal
    turns: list[tuple[str, str]] = []
    if sent is not None and original is not None:
        masked, stored = sent.by_number.get(proposal.turn), original.by_number.get(proposal.turn)
        if masked is not None and stored is not None:
            turns.append((stored.text, masked.text))
    quote = restore_quote(proposal.quote, mask, turns) if proposal.quote is not None else None
    return replace(proposal, reason=restored(proposal.reason, mask), quote=quote)


class MarkerReplyError(ValueError):
    pass


def parse_markers(content: str | None) -> list[Proposal]:
    """The proposals of a reply ({"markers": [...]}), read as leniently as a draft (see
    ``read_json_object``), or ``MarkerReplyError``."""
    if not content or not content.strip():
        raise MarkerReplyError("the reply is empty")
    try:
        data = read_json_object(content, lambda found: isinstance(found.get("markers"), list))
    except ReplyFormatError as error:
        raise MarkerReplyError(str(error).replace("JSON object", 'JSON object with a "markers" '
                                                  "list", 1)) from None  # fmt: skip
    if not isinstance(data.get("markers"), list):
        raise MarkerReplyError('the reply is not a JSON object with a "markers" list')
    if len(data["markers"]) > MARKERS_MAX:
        raise MarkerReplyError(
            f"the reply proposes {len(data['markers'])} markers, more than {MARKERS_MAX}"
        )
    found = []
    for entry in data["markers"]:
        if not isinstance(entry, dict):
            raise MarkerReplyError("a marker is not an object")
        turn = entry.get("turn")
        if isinstance(turn, str) and turn.strip().isdigit():
            turn = int(turn)
        if type(turn) is not int:
            raise MarkerReplyError(f"a marker's turn is not a number: {turn!r}")
        code, reason, quote = entry.get("code"), entry.get("reason"), entry.get("quote")
        if not isinstance(code, str):
            raise MarkerReplyError("a marker has no code")
        found.append(Proposal(turn, code.strip(), _text(reason), _text(quote)))
    return found


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


# --- the offline proposer ----------------------------------------------------------------


def hint_offline(scheme: MarkerScheme, context: SessionTurns) -> list[Proposal]:
    """Proposals from the scheme's cue lists: a turn containing a cue of a code that fits
    its speaker. Cues of the session's language (else English); the quote is the cue as
    it appears in the turn."""
    cues = scheme.cues.get(context.language) or scheme.cues.get("en") or {}
    found: list[Proposal] = []
    for turn in context.turns:
        lowered = turn.text.lower()
        for code in scheme.codes:
            if not speaker_fits(scheme, code.id, turn.speaker):
                continue
            for cue in cues.get(code.id, []):
                at = lowered.find(cue.lower())
                if at >= 0:
                    quote = turn.text[at : at + len(cue)]
                    reason = f"offline hinter: the cue {cue!r} ({code.name})"
                    found.append(Proposal(turn.number, code.id, reason, quote))
                    break
    return found
