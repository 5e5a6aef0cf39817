"""What text may be stored and accepted: plain checks shared by the writers and export.

Drafter scaffolding is the one kind of text that must never become a training target:
an offline draft (evidence picked by word overlap, not written by a model) accepted
unchanged, or any text that still carries the offline drafter's label. Accept refuses
it here; export leaves it out through :func:`scaffold_clause`, the same rule in SQL.
"""

from __future__ import annotations

import tomllib
import unicodedata
from functools import cache
from typing import Any

from annotate.errors import ConfigError, PermissionDenied
from annotate.guidelines import GUIDELINES_DIR

OFFLINE_SPEC = GUIDELINES_DIR / "prompts" / "offline.toml"
OFFLINE_PROVIDER = "offline"  # Draft.provider of the offline drafter's scaffolds
_BRACKETS = "[]【】 "


@cache
def offline_labels() -> dict[str, str]:
    """The offline drafter's label per language, as its spec file states it."""
    spec = tomllib.loads(OFFLINE_SPEC.read_text(encoding="utf-8"))
    return {language: words["label"] for language, words in spec["text"].items()}


@cache
def _label_phrases() -> tuple[str, ...]:
    """The labels without their brackets: deleting only a bracket still leaves the label."""
    return tuple(label.strip(_BRACKETS) for label in offline_labels().values())


def _clean(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def check_text(text: str, what: str = "text") -> None:
    """Refuse text no database can store faithfully (NUL, lone surrogates) or no text."""
    if not text.strip():
        raise ConfigError(f"the {what} is empty")
    if "\x00" in text:
        raise ConfigError(f"the {what} contains a NUL character")
    if not encodable(text):
        raise ConfigError(f"the {what} contains an invalid character (a lone surrogate)")


def encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_scaffold_draft(provider: str | None) -> bool:
    """A draft of the offline drafter: a starting point for the expert, not a rationale."""
    return provider == OFFLINE_PROVIDER


def scaffold_problem(
    text: str, draft_provider: str | None = None, draft_text: str | None = None
) -> str | None:
    """Why ``text`` is drafter scaffolding (None when it is not).

    ``draft_provider`` and ``draft_text`` describe the draft the text began from.
    """
    cleaned = _clean(text)
    if any(phrase in cleaned for phrase in _label_phrases()):
        return "it still contains the offline draft's label"
    unchanged = draft_text is not None and cleaned == _clean(draft_text)
    if is_scaffold_draft(draft_provider) and unchanged:
        return "it is the offline draft unchanged (quotes picked by word overlap)"
    return None


def refuse_scaffold(text: str, draft_provider: str | None, draft_text: str | None) -> None:
    """Accept's guard: scaffolding is never signed off as final."""
    problem = scaffold_problem(text, draft_provider, draft_text)
    if problem is not None:
        raise PermissionDenied(
            f"cannot accept this text: {problem}; write the rationale in your own words "
            "(Ctrl+S still saves it as work in progress)"
        )


def scaffold_clause(text: Any, draft_provider: Any, draft_text: Any) -> Any:
    """:func:`scaffold_problem` as a SQL condition on the given columns (for export)."""
    from sqlalchemy import and_, or_

    return or_(
        *(text.contains(phrase, autoescape=True) for phrase in _label_phrases()),
        and_(draft_provider == OFFLINE_PROVIDER, draft_text == text),
    )
