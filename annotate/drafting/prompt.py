"""The versioned drafting prompt: load the Jinja2 template, fit the transcript, render messages."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from annotate.core import reading
from annotate.core.errors import ConfigError
from annotate.core.guidelines import GUIDELINES_DIR, Manual, load_manual
from annotate.drafting.context import DraftContext, TurnText
from annotate.drafting.schema import EVIDENCE_MAX, QUOTES_MAX
from annotate.drafting.similarity import rank

PROMPTS_DIR = GUIDELINES_DIR / "prompts"
DEFAULT_TEMPLATE = PROMPTS_DIR / "draft.j2"
DEFAULT_CONTEXT_BUDGET = 6000  # estimated tokens for the transcript part of the prompt
LANGUAGE_NAMES = {"en": "English", "zh": "Chinese (简体中文)"}
LENGTH_HINTS = {"zh": "80-150 Chinese characters", "en": "100-200 characters"}


class PromptMeta(BaseModel):
    """The template's front matter."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str
    description: str
    manual_sections: list[str]
    system: str


@dataclass(frozen=True)
class PromptTemplate:
    """A loaded template: its metadata, source, the manual rules it quotes, and its hash."""

    meta: PromptMeta
    source: str
    manual_rules: str
    hash: str

    @property
    def version(self) -> str:
        return self.meta.version

    def messages(self, context: DraftContext, budget: int = DEFAULT_CONTEXT_BUDGET) -> list[dict]:
        """The chat messages for one item: the system rules and the rendered request."""
        transcript, elided = fit_transcript(context, budget)
        user = _compiled(self.source).render(
            session_id=context.session_id,
            item={"id": context.item_id, "text": context.item_text},
            dimension={"name": context.dimension_name, "definition": context.dimension_definition},
            rating=context.rating,
            anchor=context.anchor,
            anchors=context.anchors,
            scale_min=context.scale_min,
            scale_max=context.scale_max,
            manual_rules=self.manual_rules,
            transcript=transcript,
            elided=elided,
            language_name=LANGUAGE_NAMES.get(context.language, context.language),
            length_hint=LENGTH_HINTS.get(context.language, LENGTH_HINTS["en"]),
            evidence_max=EVIDENCE_MAX,
            quotes_max=QUOTES_MAX,
        )
        return [
            {"role": "system", "content": self.meta.system},
            {"role": "user", "content": user},
        ]


@cache
def _compiled(source: str):
    from jinja2 import Environment, StrictUndefined

    environment = Environment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    return environment.from_string(source)


def manual_rules(manual: Manual, sections: list[str]) -> str:
    """The named ``##`` sections of the manual in manual order: the rules a drafter follows."""
    parts = manual.text.split("\n## ")
    chosen = []
    for part in parts[1:]:
        title = part.split("\n", 1)[0].strip()
        if title in sections:
            chosen.append("### " + part.strip())
    missing = set(sections) - {c.split("\n", 1)[0].removeprefix("### ").strip() for c in chosen}
    if missing:
        raise ConfigError(f"the manual has no section(s) {reading.shown(sorted(missing))}")
    return "\n\n".join(chosen)


def load_template(path: Path | str = DEFAULT_TEMPLATE) -> PromptTemplate:
    """Read a template file (TOML front matter between ``+++`` lines, then Jinja2)."""
    path = Path(path)
    raw = reading.read_text(path, reading.MAX_TOML_BYTES, "prompt template")
    parts = raw.split("+++", 2)
    if len(parts) != 3 or parts[0].strip():
        raise ConfigError(f"{path}: expected TOML front matter between +++ lines")
    front_line = 1 + parts[0].count("\n")
    meta = reading.validated(
        PromptMeta,
        path,
        reading.load_toml(path, parts[1], first_line=front_line),
        parts[1],
        first_line=front_line,
    )
    source = parts[2].lstrip("\n")
    body_line = front_line + parts[1].count("\n") + len(parts[2]) - len(source)
    from jinja2 import TemplateSyntaxError

    try:
        _compiled(source)
    except TemplateSyntaxError as error:
        line = body_line + (error.lineno or 1) - 1
        raise ConfigError(f"{path}:{line}: {error.message}") from None
    except RecursionError:
        raise ConfigError(f"{path}:{body_line}: the template is nested too deeply") from None
    try:
        rules = manual_rules(load_manual(), meta.manual_sections)
    except ConfigError as error:
        where = reading.line_of(parts[1], ("manual_sections",), front_line) or front_line
        raise ConfigError(f"{path}:{where}: manual_sections: {error}") from None
    digest = hashlib.sha256(raw.encode() + b"\0" + rules.encode()).hexdigest()
    return PromptTemplate(meta=meta, source=source, manual_rules=rules, hash=digest)


@cache
def default_template() -> PromptTemplate:
    return load_template(DEFAULT_TEMPLATE)


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: about 4 ASCII characters per token, 1 per other character."""
    ascii_chars = len(text.encode("ascii", "ignore"))
    return ascii_chars // 4 + (len(text) - ascii_chars) + 1


def turn_line(turn: TurnText, max_tokens: int | None = None) -> str:
    text = " ".join(turn.text.split())
    if max_tokens is not None and estimate_tokens(text) > max_tokens:
        keep = max(1, len(text) * max_tokens // estimate_tokens(text))
        text = text[:keep].rstrip() + " [... rest of turn cut]"
    return f"[{turn.number}] {turn.speaker}: {text}"


def fit_transcript(context: DraftContext, budget: int) -> tuple[list[str], bool]:
    """Numbered transcript lines within ``budget`` estimated tokens; omitted runs are marked.

    When the whole transcript does not fit, the opening and closing turns are kept, then
    the turns most similar to the item and its dimension, shown in their original order
    with ``[turns a-b omitted]`` where turns were left out. Turn numbers never change.
    """
    turns = context.turns
    lines = [turn_line(t) for t in turns]
    costs = [estimate_tokens(line) for line in lines]
    if sum(costs) <= budget:
        return lines, False
    per_turn_cap = max(50, budget // 4)
    lines = [turn_line(t, per_turn_cap) for t in turns]
    costs = [estimate_tokens(line) for line in lines]
    query = f"{context.item_text} {context.dimension_name} {context.dimension_definition}"
    scores = rank(query, [t.text for t in turns])
    edges = [0, 1, len(turns) - 2, len(turns) - 1]
    order = [i for i in dict.fromkeys(edges) if 0 <= i < len(turns)]
    order += sorted((i for i in range(len(turns)) if i not in order), key=lambda i: (-scores[i], i))
    kept: set[int] = set()
    spent = 12  # room for the omission markers
    for index in order:
        if spent + costs[index] > budget:
            continue
        kept.add(index)
        spent += costs[index] + 6
    result: list[str] = []
    gap_start: int | None = None
    for index in range(len(turns)):
        if index in kept:
            if gap_start is not None:
                result.append(_omitted(turns[gap_start].number, turns[index - 1].number))
                gap_start = None
            result.append(lines[index])
        elif gap_start is None:
            gap_start = index
    if gap_start is not None:
        result.append(_omitted(turns[gap_start].number, turns[-1].number))
    return result, True


def _omitted(first: int, last: int) -> str:
    span = f"turn {first}" if first == last else f"turns {first}-{last}"
    return f"[... {span} omitted to fit the context budget ...]"
