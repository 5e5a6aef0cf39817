"""What a judgement is: the prompt (``guidelines/prompts/judge.j2``) and its bounded reply
schema, both made from the store's rubric; reading a reply; grounding its reason.

Plain functions of the rubric, a judged text and its item's context;
``annotate.judging.service`` asks a model and stores what comes back.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from annotate.core.errors import ConfigError
from annotate.core.guidelines import Rubric
from annotate.drafting.context import DraftContext
from annotate.drafting.grounding import (
    PLACEHOLDER,
    ParsedDraft,
    Quote,
    ReplyFormatError,
    copied_from,
    quote_in,
    read_citations,
    read_json_object,
)
from annotate.drafting.prompt import (
    LANGUAGE_NAMES,
    PROMPTS_DIR,
    PromptTemplate,
    _compiled,
    fit_transcript,
    load_template,
)
from annotate.drafting.schema import EVIDENCE_MAX, QUOTES_MAX, plain_schema, turn_range

TEMPLATE = PROMPTS_DIR / "judge.j2"
REASON_MAX = 600  # characters of the one-sentence reason (Chinese and English alike)
QUOTE_MAX = 200  # characters of a quote
RESERVED = ("reason", "evidence", "quotes")  # reply keys a criterion may not be named


@dataclass(frozen=True)
class Target:
    """One text to judge: an accepted rationale's current version or a prediction, with
    its item's context (the transcript as stored, or masked when ``context`` is)."""

    context: DraftContext
    text: str
    text_hash: str
    rationale_id: int | None = None
    rationale_version: int | None = None
    prediction_id: int | None = None
    source: str | None = None  # the prediction's model

    @property
    def key(self) -> tuple[str, int, int | None]:
        """What a judgement is stored for: the rationale's version, or the prediction."""
        if self.prediction_id is not None:
            return ("prediction", self.prediction_id, None)
        assert self.rationale_id is not None
        return ("rationale", self.rationale_id, self.rationale_version)

    @property
    def label(self) -> str:
        """How messages name it: 's01/goal_1' or 'prediction model-x s01/goal_1'."""
        where = f"{self.context.session_id}/{self.context.item_id}"
        return f"prediction {self.source} {where}" if self.source is not None else where

    @property
    def judge_line(self) -> str:
        """The line of the prompt that names what is judged."""
        where = f"(session {self.context.session_id}, item {self.context.item_id})"
        if self.source is not None:
            return f"Judge the prediction of {self.source} for {where}"
        return f"Judge the rationale for {where}"


def check_rubric(rubric: Rubric) -> Rubric:
    """The rubric, refused when a criterion's name is a key the reply needs for itself."""
    clash = [name for name in rubric.criteria if name in RESERVED]
    if clash:
        named = ", ".join(map(repr, clash))
        raise ConfigError(f"rubric {rubric.version}: a criterion may not be named {named}: "
                          "the judge's reply uses that key")  # fmt: skip
    return rubric


@cache
def judge_template() -> PromptTemplate:
    """The judge prompt as loaded (front matter checked, manual rules quoted, hashed)."""
    return load_template(TEMPLATE)


def messages(
    template: PromptTemplate, rubric: Rubric, target: Target, budget: int
) -> list[dict[str, str]]:
    """The chat messages asking for one judgement, the transcript fitted to ``budget``."""
    context = target.context
    transcript, elided = fit_transcript(context, budget)
    criteria = [
        {"id": name, "name": criterion.name, "question": criterion.question,
         "scores": sorted(criterion.scores.items())}
        for name, criterion in rubric.criteria.items()
    ]  # fmt: skip
    user = _compiled(template.source).render(
        manual_rules=template.manual_rules,
        criteria=criteria,
        scale_min=rubric.scale_min,
        scale_max=rubric.scale_max,
        threshold=rubric.threshold,
        transcript=transcript,
        elided=elided,
        judge_line=target.judge_line,
        item={"id": context.item_id, "text": context.item_text},
        dimension={"name": context.dimension_name, "definition": context.dimension_definition},
        rating=context.rating,
        anchor=context.anchor,
        item_scale_min=context.scale_min,
        item_scale_max=context.scale_max,
        text=target.text,
        language_name=LANGUAGE_NAMES.get(context.language, "the transcript's language"),
        evidence_max=EVIDENCE_MAX,
        quotes_max=QUOTES_MAX,
    )
    return [{"role": "system", "content": template.meta.system}, {"role": "user", "content": user}]


_STRICT = ConfigDict(extra="forbid", strict=True)


@cache
def judge_model(criteria: tuple[str, ...], low: int, high: int, first_turn: int,
                last_turn: int) -> type[BaseModel]:  # fmt: skip
    """The reply a judgement must be: an integer in ``low..high`` per criterion (named as
    in the rubric), a reason, and turns and quotes within the session's turns."""
    turn = Annotated[int, Field(ge=first_turn, le=last_turn)]
    quote = create_model(
        "JudgeQuote", __config__=_STRICT, turn=(turn, ...),
        text=(Annotated[str, Field(min_length=1, max_length=QUOTE_MAX)], ...),
    )  # fmt: skip
    score = Annotated[int, Field(ge=low, le=high)]
    fields: dict[str, Any] = {
        f"criterion_{n}": (score, Field(..., alias=name)) for n, name in enumerate(criteria)
    }
    return create_model(
        "JudgeReply",
        __config__=_STRICT,
        **fields,
        reason=(Annotated[str, Field(min_length=1, max_length=REASON_MAX)], ...),
        evidence=(Annotated[list[turn], Field(min_length=1, max_length=EVIDENCE_MAX)], ...),
        quotes=(Annotated[list[quote], Field(max_length=QUOTES_MAX)], ...),  # type: ignore[valid-type,arg-type]
    )


def judge_schema(rubric: Rubric, context: DraftContext, *, for_openai: bool = False) -> dict:
    """The JSON Schema of a usable judgement of a text of ``context``'s session, so a
    server constraining its output to it can only answer scores in the rubric's scale
    and turns that exist."""
    first, last = turn_range([turn.number for turn in context.turns])
    model = judge_model(tuple(rubric.criteria), rubric.scale_min, rubric.scale_max, first, last)
    return plain_schema(model, for_openai=for_openai)


# --- reading a reply --------------------------------------------------------------------


@dataclass(frozen=True)
class Judged:
    """A reply read: the scores in the rubric's order, the reason and its citations."""

    scores: dict[str, int]
    reason: str
    evidence: list[int]
    quotes: list[Quote]

    @property
    def cited(self) -> ParsedDraft:
        """The reason and citations in the shape de-identification maps back."""
        return ParsedDraft(self.reason, list(self.evidence), list(self.quotes))


def read_judgement(content: str | None, rubric: Rubric) -> Judged:
    """The judgement in a reply, read as leniently as a draft (``read_json_object``); a
    missing, non-integer or out-of-scale score or no reason is ``ReplyFormatError``."""
    if not content or not content.strip():
        raise ReplyFormatError("the reply is empty")
    names = tuple(rubric.criteria)
    try:
        data = read_json_object(content, lambda found: any(name in found for name in names))
    except (ValueError, RecursionError) as error:
        raise ReplyFormatError(str(error) if isinstance(error, ReplyFormatError) else
                               "the reply is not the requested JSON object") from None  # fmt: skip
    scores: dict[str, int] = {}
    for name in names:
        if name not in data:
            raise ReplyFormatError(f"no score for {name!r}")
        value = data[name]
        # ASCII digits only: "③" and "²" pass isdigit() but int() refuses them
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdecimal():
            value = int(value.strip()) if len(value.strip()) <= 9 else value
        if type(value) is not int:
            raise ReplyFormatError(f"the score for {name!r} is not an integer: {value!r:.40}")
        if not rubric.scale_min <= value <= rubric.scale_max:
            raise ReplyFormatError(f"the score for {name!r} is {value}, outside "
                                   f"{rubric.scale_min}..{rubric.scale_max}")  # fmt: skip
        scores[name] = value
    reason = data.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ReplyFormatError("no reason")
    evidence, quotes = read_citations(data)
    return Judged(scores, reason.strip(), evidence, quotes)


def judged_problem(judged: Judged, target: Target) -> str | None:
    """Why a judgement is not grounded in the transcript (None when it is): every cited
    turn exists, every quote is in its turn (a bare one in a cited turn), and nothing is
    a placeholder or text of the prompt, the judged text included."""
    turns = {turn.number: turn.text for turn in target.context.turns}
    problems: list[str] = []
    if not judged.evidence:
        problems.append("cites no turn")
    missing = [n for n in judged.evidence if n not in turns]
    if missing:
        problems.append(f"cites turn(s) {', '.join(map(str, missing))} that do not exist "
                        f"(the transcript has {len(turns)})")  # fmt: skip
    if len(judged.reason) > REASON_MAX:
        problems.append(f"the reason is {len(judged.reason):,} characters, more than {REASON_MAX}")
    if PLACEHOLDER.search(judged.reason):
        problems.append("the reason holds a placeholder of the prompt")
    if len(judged.evidence) > EVIDENCE_MAX or len(judged.quotes) > QUOTES_MAX:
        problems.append(f"cites more than {EVIDENCE_MAX} turns or {QUOTES_MAX} quotes")
    cited = [n for n in judged.evidence if n in turns]
    for quote in judged.quotes:
        short = quote.text if len(quote.text) <= 60 else quote.text[:57] + "..."
        where = [quote.turn] if quote.turn is not None else cited
        if quote.turn is not None and quote.turn not in turns:
            problems.append(f"quote {short!r} names turn {quote.turn}, which does not exist")
        elif not any(quote_in(quote.text, turns[n]) for n in where):
            named = f"turn {quote.turn}" if quote.turn is not None else "any cited turn"
            copied = copied_from(quote.text, target.context)
            if copied is None and quote_in(quote.text, target.text):
                copied = "words of the judged text"
            what = f" is {copied}, not words from " if copied else " is not in "
            problems.append(f"quote {short!r}{what}{named}")
        elif len(quote.text) > QUOTE_MAX:
            problems.append(f"quote {short!r} is {len(quote.text)} characters, more than "
                            f"{QUOTE_MAX}")  # fmt: skip
    return "; ".join(problems) or None
