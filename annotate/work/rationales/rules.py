"""What text may be stored and accepted: plain checks shared by the writers and export.

Drafter scaffolding is the one kind of text that must never become a training target:
any text that still holds a sentence the offline drafter declares as its instruction,
template or label (:mod:`annotate.work.rationales.scaffold`), whatever its origin. Accept
refuses it here, import refuses it, and export leaves it out with the same detector.
"""

from __future__ import annotations

import tomllib
import unicodedata
from functools import cache

from annotate.core.errors import ConfigError, PermissionDenied
from annotate.core.guidelines import GUIDELINES_DIR
from annotate.work.rationales.scaffold import find_scaffolding

OFFLINE_SPEC = GUIDELINES_DIR / "prompts" / "offline.toml"
OFFLINE_PROVIDER = "offline"  # Draft.provider of the offline drafter's scaffolds


@cache
def offline_labels() -> dict[str, str]:
    """The offline drafter's label per language, as its spec file states it."""
    spec = tomllib.loads(OFFLINE_SPEC.read_text(encoding="utf-8"))
    return {language: words["label"] for language, words in spec["text"].items()}


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


def scaffold_problem(text: str) -> str | None:
    """Why ``text`` cannot be signed off as a rationale (None when it can).

    The rule keys on the text alone, so a draft edited around its instructions, or
    the same words arriving by import, is caught like the draft itself.
    """
    found = find_scaffolding(_clean(text))
    if not found:
        return None
    more = f" (and {len(found) - 1} more of its sentences)" if len(found) > 1 else ""
    return f"rewrite the drafter's instruction '{found[0].quoted()}' in your own words{more}"


def refuse_scaffold(text: str) -> None:
    """Accept's guard: scaffolding is never signed off as final."""
    problem = scaffold_problem(text)
    if problem is not None:
        raise PermissionDenied(
            f"cannot accept this text: {problem} (Ctrl+S still saves it as work in progress)"
        )
