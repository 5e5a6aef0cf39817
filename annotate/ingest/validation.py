"""Check one record against the instrument and rubric; return its problems in plain words."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from annotate.core.catalog import ItemCatalog
from annotate.ingest.readers import RATER_ROLES, show

MAX_ID_LENGTH = 128

MAX_INTEGER = 2**31 - 1  # PostgreSQL INTEGER
SESSION_FIELDS = {
    "session_id",
    "client_id",
    "counselor_id",
    "session_number",
    "language",
    "turns",
    "client_ratings",
    "counselor_ratings",
    "metadata",
}
MAX_METADATA_KEYS = 32
MAX_METADATA_VALUE = 200
# A rationale is a few sentences; a review comment a paragraph or two.
MAX_RATIONALE_LENGTH = 20_000
MAX_COMMENT_LENGTH = 20_000
METADATA_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
RATIONALE_FIELDS = {"session_id", "item_id", "author", "text"}
# A review's fields besides its scores, one per criterion of the store's rubric.
REVIEW_FIELDS = {"session_id", "item_id", "reviewer", "comment", "rationale_version"}


@dataclass
class Problems:
    messages: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        self.messages.append(message)


def _scaffold_problem(text: str) -> str | None:
    """The accept rule's verdict, imported only by rationale checks: a sessions import
    loads no ORM (the lifecycle package does)."""
    from annotate.work.rationales.rules import scaffold_problem

    return scaffold_problem(text)


def _unknown_fields(data: dict[str, Any], allowed: set[str], problems: Problems) -> None:
    for key in sorted(set(data) - allowed):
        problems.add(f"unknown field {show(key)}")


def _identifier(data: dict[str, Any], key: str, problems: Problems) -> str | None:
    value = data.get(key)
    if value is None:
        problems.add(f"{key} is missing")
        return None
    if not isinstance(value, str) or not value.strip():
        problems.add(f"{key} must be a non-empty string")
        return None
    if len(value) > MAX_ID_LENGTH or value != value.strip():
        problems.add(f"{key} must be at most {MAX_ID_LENGTH} characters without outer spaces")
        return None
    if not value.isprintable():
        problems.add(f"{key} must not contain control characters, found {show(value)}")
        return None
    return value


def _whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _ratings(
    data: dict[str, Any], key: str, catalog: ItemCatalog, problems: Problems, *, required: bool
) -> dict[str, int]:
    value = data.get(key)
    if value is None:
        if required:
            problems.add(f"{key} is missing")
        return {}
    if not isinstance(value, dict) or (required and not value):
        problems.add(f"{key} must be an object of item id -> rating")
        return {}
    ratings: dict[str, int] = {}
    scales = catalog.item_scales
    for item_id, rating in value.items():
        scale = scales.get(item_id)
        if scale is None:
            problems.add(f"{key}: unknown item {show(item_id)}")
            continue
        low, high = scale
        if type(rating) is not int or not low <= rating <= high:
            problems.add(
                f"{key}.{item_id}: rating {show(rating)} is outside the scale {low}..{high}"
            )
            continue
        ratings[item_id] = rating
    if required:
        instruments = {catalog.item_instrument[i] for i in value if i in catalog.item_instrument}
        for instrument in sorted(instruments):
            missing = sorted(catalog.instrument_items[instrument] - set(value))
            if missing:
                problems.add(f"{key}: missing item(s) {', '.join(missing)}")
    return ratings


def _metadata(data: dict[str, Any], problems: Problems) -> dict[str, str] | None:
    """Optional string metadata of a session (condition, modality, ...)."""
    value = data.get("metadata")
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.add("metadata must be an object of string keys and string values")
        return None
    if len(value) > MAX_METADATA_KEYS:
        problems.add(f"metadata has {len(value)} keys; at most {MAX_METADATA_KEYS}")
        return None
    clean: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not METADATA_KEY.match(key):
            problems.add(
                f"metadata key {show(key)} must start with a letter and use letters, digits, "
                "'_', '.' or '-' (at most 64)"
            )
            continue
        if not isinstance(item, str) or not item.strip():
            problems.add(f"metadata.{key} must be a non-empty string, found {show(item)}")
            continue
        if len(item) > MAX_METADATA_VALUE or item != item.strip() or not item.isprintable():
            problems.add(
                f"metadata.{key} must be at most {MAX_METADATA_VALUE} printable characters "
                "without outer spaces"
            )
            continue
        clean[key] = item
    return clean or None


def check_session(data: dict[str, Any], catalog: ItemCatalog) -> tuple[dict[str, Any], list[str]]:
    """Validate a session record; return its normalised form and the problems found."""
    problems = Problems()
    _unknown_fields(data, SESSION_FIELDS, problems)
    session_id = _identifier(data, "session_id", problems)
    client_id = _identifier(data, "client_id", problems)
    counselor_id = _identifier(data, "counselor_id", problems)
    number = data.get("session_number")
    if number is not None and (not _whole_number(number) or not 0 <= number <= MAX_INTEGER):
        problems.add(f"session_number must be a whole number, found {show(number)}")
    language = data.get("language")
    if language is not None and (not isinstance(language, str) or len(language) > 16):
        problems.add("language must be a short code such as 'en' or 'zh'")
    turns = data.get("turns")
    clean_turns: list[dict[str, str]] = []
    if not isinstance(turns, list) or not turns:
        problems.add("turns must be a non-empty list (the transcript is empty)")
    else:
        for index, turn in enumerate(turns, start=1):
            if not isinstance(turn, dict):
                problems.add(f"turn {index}: expected an object with speaker and text")
                continue
            if len(turn) != 2 or "speaker" not in turn or "text" not in turn:
                extra = sorted(set(turn) - {"speaker", "text"})
                if extra:
                    problems.add(f"turn {index}: unknown field {show(extra[0])}")
            speaker, text = turn.get("speaker"), turn.get("text")
            if speaker not in RATER_ROLES:
                problems.add(
                    f"turn {index}: unknown speaker {show(speaker)} (use 'client' or 'counselor')"
                )
            if not isinstance(text, str) or not text or text.isspace():
                problems.add(f"turn {index}: text must be a non-empty string")
            else:
                clean_turns.append({"speaker": str(speaker), "text": text})
    client = _ratings(data, "client_ratings", catalog, problems, required=True)
    counselor = _ratings(data, "counselor_ratings", catalog, problems, required=False)
    metadata = _metadata(data, problems)
    record = {
        "session_id": session_id,
        "client_id": client_id,
        "counselor_id": counselor_id,
        "session_number": number,
        "language": language,
        "turns": clean_turns,
        "client_ratings": client,
        "counselor_ratings": counselor,
    }
    if metadata:  # absent from the record (and so from its hash) when there is none
        record["metadata"] = metadata
    return record, problems.messages


def check_rationale(data: dict[str, Any], catalog: ItemCatalog) -> tuple[dict[str, Any], list[str]]:
    problems = Problems()
    _unknown_fields(data, RATIONALE_FIELDS, problems)
    session_id = _identifier(data, "session_id", problems)
    item_id = _identifier(data, "item_id", problems)
    if item_id is not None and item_id not in catalog.item_instrument:
        problems.add(f"unknown item {show(item_id)}")
    author = _identifier(data, "author", problems)
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        problems.add("text must be a non-empty string")
    elif len(text) > MAX_RATIONALE_LENGTH:
        problems.add(f"text has {len(text):,} characters; a rationale has at most "
                     f"{MAX_RATIONALE_LENGTH:,}")  # fmt: skip
    elif (scaffolding := _scaffold_problem(text)) is not None:
        # An imported rationale is stored as accepted: the accept rule holds here too.
        problems.add(f"text is not accepted as a rationale: {scaffolding}")
    record = {"session_id": session_id, "item_id": item_id, "author": author, "text": text}
    return record, problems.messages


def check_review(data: dict[str, Any], catalog: ItemCatalog) -> tuple[dict[str, Any], list[str]]:
    """A review record: its fields, and a score on the store's rubric for each criterion
    (``catalog.rubric``); the checked record holds the scores under ``scores``."""
    problems = Problems()
    rubric = catalog.rubric
    _unknown_fields(data, REVIEW_FIELDS | set(rubric.criteria), problems)
    session_id = _identifier(data, "session_id", problems)
    item_id = _identifier(data, "item_id", problems)
    if item_id is not None and item_id not in catalog.item_instrument:
        problems.add(f"unknown item {show(item_id)}")
    reviewer = _identifier(data, "reviewer", problems)
    low, high = rubric.scale_min, rubric.scale_max
    scores: dict[str, int] = {}
    for criterion in rubric.criteria:
        value = data.get(criterion)
        if value is None:
            problems.add(f"{criterion} is missing")
        elif not _whole_number(value) or not low <= value <= high:
            problems.add(f"{criterion}: score {show(value)} is outside the scale {low}..{high}")
        else:
            scores[criterion] = value
    comment = data.get("comment")
    if comment is not None and not isinstance(comment, str):
        problems.add("comment must be a string")
    elif comment is not None and len(comment) > MAX_COMMENT_LENGTH:
        problems.add(f"comment has {len(comment):,} characters; at most {MAX_COMMENT_LENGTH:,}")
    version = data.get("rationale_version")
    if version is not None and (not _whole_number(version) or not 0 <= version <= MAX_INTEGER):
        problems.add(f"rationale_version must be a whole number, found {show(version)}")
        version = None
    record = {
        "session_id": session_id,
        "item_id": item_id,
        "reviewer": reviewer,
        "scores": scores,
        "comment": comment or None,
        "rationale_version": version,
    }
    return record, problems.messages
