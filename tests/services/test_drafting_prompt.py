"""The versioned Jinja2 prompt: what it contains, its hash, and fitting long transcripts."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from annotate.core.errors import ConfigError
from annotate.drafting.context import DraftContext, TurnText, load_contexts
from annotate.drafting.prompt import (
    DEFAULT_TEMPLATE,
    PROMPTS_DIR,
    estimate_tokens,
    fit_transcript,
    load_template,
)
from store.db import session_scope

pytestmark = pytest.mark.both_backends


def _context(engine, session_id: str, item_id: str) -> DraftContext:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        return load_contexts(session, [(session_id, item_id)])[0]


def test_prompt_holds_transcript_item_rating_and_rules(demo_engine) -> None:  # type: ignore[no-untyped-def]
    template = load_template()
    context = _context(demo_engine, "s13", "task_3")
    system, user = template.messages(context)
    assert system["role"] == "system" and "JSON" in system["content"]
    text = user["content"]
    assert "(session s13, item task_3)" in text
    assert context.item_text in text
    assert context.dimension_definition in text
    assert f'rating: {context.rating} on 1..5 ("{context.anchor}")' in text
    assert "Polite words versus behaviour" in text  # the manual's traps
    assert "## Review" not in text  # only the sections the template names
    numbered = re.findall(r"^\[(\d+)\] (client|counselor): ", text, re.M)
    assert [int(n) for n, _ in numbered] == list(range(1, len(context.turns) + 1))
    assert context.turns[1].text[:10] in text  # the Chinese dialogue, unescaped
    assert "written in Chinese" in text
    assert '"evidence"' in text and '"quotes"' in text


def test_template_version_and_hash_are_stable_and_sensitive(tmp_path: Path) -> None:
    first, second = load_template(), load_template()
    assert first.version == "2.1.0" and first.hash == second.hash and len(first.hash) == 64
    changed = tmp_path / "draft.j2"
    changed.write_text(DEFAULT_TEMPLATE.read_text(encoding="utf-8") + "\nBe brief.\n")
    assert load_template(changed).hash != first.hash


def test_a_sessions_items_share_the_prompt_up_to_the_end_of_the_transcript(demo_engine) -> None:  # type: ignore[no-untyped-def]
    """Version 2 puts what a session's items share first: a server's prefix cache
    (llama.cpp's slot, vLLM's blocks, OpenAI's cached input) reuses the transcript."""
    template = load_template()
    first, second = (
        "\n".join(m["content"] for m in template.messages(_context(demo_engine, "s13", item)))
        for item in ("goal_1", "bond_4")
    )
    shared = len(os.path.commonprefix([first, second]))
    transcript_end = first.index("## The rating to explain")
    assert shared >= transcript_end > 0.6 * len(first)  # manual, rules and transcript
    old = load_template(PROMPTS_DIR / "draft-v1.j2")
    first_v1, second_v1 = (
        "\n".join(m["content"] for m in old.messages(_context(demo_engine, "s13", item)))
        for item in ("goal_1", "bond_4")
    )
    assert len(os.path.commonprefix([first_v1, second_v1])) < 0.3 * len(first_v1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no front matter", "front matter"),
        ('+++\nversion = "1"\n+++\nhello', "description"),
        (
            '+++\nversion = "1"\ndescription = "d"\nmanual_sections = []\nsystem = "s"\n+++\n'
            "{% for x in %}",
            "bad.j2:7: ",  # the line in the file, below the front matter
        ),
        ('+++\nversion = "1"\ndescription = 5\n+++\nhi', "bad.j2:3: description"),
        ('+++\nversion = "1\n+++\nhi', "bad.j2:2: not valid TOML"),
        (
            '+++\nversion = "1"\ndescription = "d"\nmanual_sections = ["Nope"]\nsystem = "s"\n'
            "+++\nhi",
            "no section",
        ),
    ],
)
def test_bad_templates_are_config_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.j2"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_template(path)


def _long_context(language: str) -> DraftContext:
    word = "我也不知道该怎么办才好" if language == "zh" else "I do not know what to do now "
    turns = tuple(
        TurnText(n, "client" if n % 2 == 0 else "counselor", f"turn {n}: " + word * 8)
        for n in range(1, 201)
    )
    return DraftContext(
        session_id="long",
        item_id="task_3",
        language=language,
        turns=turns,
        item_text="I understand what I could do to improve my situation.",
        dimension="task",
        dimension_name="Task",
        dimension_definition="Agreement on the activities of the sessions.",
        rating=2,
        anchor="Sometimes",
        anchors=((1, "Seldom"), (2, "Sometimes")),
        scale_min=1,
        scale_max=5,
        instrument_version="1.0.0",
    )


@pytest.mark.parametrize("language", ["en", "zh"])
def test_long_transcripts_fit_the_budget_with_numbers_kept(language: str) -> None:
    context = _long_context(language)
    whole, elided = fit_transcript(context, 10**9)
    assert not elided and len(whole) == 200
    budget = 2000
    lines, elided = fit_transcript(context, budget)
    assert elided
    assert sum(estimate_tokens(line) for line in lines) <= budget
    kept = [int(m.group(1)) for line in lines if (m := re.match(r"\[(\d+)\] ", line))]
    assert kept == sorted(kept) and kept[:2] == [1, 2] and kept[-2:] == [199, 200]
    for number in kept:  # a kept turn keeps its own number and text
        assert any(line.startswith(f"[{number}] ") and f"turn {number}:" in line for line in lines)
    markers = [line for line in lines if "omitted" in line]
    assert markers
    omitted = set()
    for marker in markers:
        numbers = [int(n) for n in re.findall(r"\d+", marker)]
        omitted |= set(range(numbers[0], numbers[-1] + 1))
    assert omitted | set(kept) == set(range(1, 201)) and not omitted & set(kept)
    rendered = load_template().messages(context, budget)[1]["content"]
    assert "left out to fit the context budget" in rendered
