"""Reading model replies tolerantly and checking that drafts are grounded in the transcript."""

from __future__ import annotations

import json

import pytest

from annotate.drafting.context import TurnText
from annotate.drafting.grounding import (
    ParsedDraft,
    Quote,
    ReplyFormatError,
    grounding_error,
    parse_reply,
    quote_in,
)
from annotate.drafting.similarity import char_ngrams, rank

pytestmark = pytest.mark.both_backends

TURNS = (
    TurnText(1, "counselor", "What would you like to focus on today?"),
    TurnText(2, "client", "Honestly... I don't know what to do, and this isn't worth the money."),
    TurnText(3, "counselor", "你希望通过咨询带来什么改变呢？"),
    TurnText(4, "client", "我也知道顶回去没用，可是不知道还能怎么办。"),
)


def test_strict_json_reply() -> None:
    reply = json.dumps(
        {
            "rationale": "低分。",
            "evidence": [4],
            "quotes": [{"turn": 4, "text": "不知道还能怎么办"}],
        },
        ensure_ascii=False,
    )
    draft = parse_reply(reply)
    assert draft.rationale == "低分。"
    assert draft.evidence == [4]
    assert draft.quotes == [Quote("不知道还能怎么办", 4)]


def test_fenced_reply_with_prose_and_loose_types() -> None:
    reply = (
        "Sure, here it is:\n```json\n"
        '{"rationale": "Low task score.", "evidence": ["turn 2", 2, "3"], '
        '"quotes": ["worth the money"]}\n```\nAnything else?'
    )
    draft = parse_reply(reply)
    assert draft.evidence == [2, 3]  # "turn 2" and 2 are one turn; order kept
    assert draft.quotes == [Quote("worth the money", None)]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "no content"),
        ("The client seemed fine.", "not the requested JSON"),
        ('{"rationale": "x", "evidence": [2', "not the requested JSON"),
        ('{"evidence": [2], "quotes": []}', "no 'rationale'"),
        ("[1, 2, 3]", "not the requested JSON"),
    ],
)
def test_unusable_replies_are_format_errors(content: str, reason: str) -> None:
    with pytest.raises(ReplyFormatError, match=reason):
        parse_reply(content)


@pytest.mark.parametrize(
    ("quote", "turn", "found"),
    [
        ("i DON'T know what to do", 2, True),  # case and apostrophe
        ("Honestly, I don't know   what to do!", 2, True),  # punctuation and spacing
        ("Honestly ... worth the money", 2, True),  # an ellipsis between fragments
        ("worth the money ... Honestly", 2, False),  # fragments out of order
        ("I know what to do", 2, False),
        ("顶回去没用可是不知道", 4, True),  # Chinese with the comma dropped
        ("不知道还能怎么办！", 4, True),  # full-width punctuation
        ("我知道怎么办", 4, False),
        ("...", 4, False),
    ],
)
def test_quote_matching_tolerates_spacing_and_punctuation(
    quote: str, turn: int, found: bool
) -> None:
    assert quote_in(quote, TURNS[turn - 1].text) is found


RATIONALE = "The client doubts the sessions are worth it (turn 2)."


def test_grounded_draft_has_no_error() -> None:
    draft = ParsedDraft(RATIONALE, [2, 4], [Quote("worth the money", 2), Quote("没用")])
    assert grounding_error(draft, TURNS) is None


def test_every_grounding_failure_is_reported() -> None:
    draft = ParsedDraft(
        RATIONALE,
        [2, 999],
        [Quote("worth the money", 3), Quote("never said", None), Quote("hi", 999)],
    )
    error = grounding_error(draft, TURNS)
    assert error is not None
    assert "turn(s) 999 that do not exist (the transcript has 4)" in error
    assert "'worth the money' is not in turn 3" in error
    assert "'never said' is not in any cited turn" in error
    assert "names turn 999, which does not exist" in error


def test_a_draft_citing_nothing_is_ungrounded() -> None:
    assert grounding_error(ParsedDraft(RATIONALE, [], []), TURNS) == "cites no turn"


def test_character_ngrams_rank_chinese_and_english() -> None:
    assert "怎么" in char_ngrams("不知道怎么办")
    scores = rank("不知道怎么办 方法", [t.text for t in TURNS])
    assert max(range(4), key=scores.__getitem__) == 3
    scores = rank("worth the money", [t.text for t in TURNS])
    assert max(range(4), key=scores.__getitem__) == 1
    assert rank("", ["a"]) == [0.0]


@pytest.mark.parametrize(
    "rationale",
    [
        # SmolLM2 on a Chinese session answered with the length hint and the instruction.
        ",80-150 Chinese characters, written in Chinese (简体中文) in your own words, "
        "explaining why the client gave this rating, about this item and its dimension.",
        "The client trusts the counselor. Explaining why the client gave this rating, about "
        "this item and its dimension: turn 2.",
    ],
)
def test_a_rationale_copying_the_prompts_instructions_is_ungrounded(rationale: str) -> None:
    draft = ParsedDraft(rationale, [2], [])
    problem = grounding_error(draft, TURNS)
    assert problem is not None and "the rationale copies the prompt's instructions" in problem
    assert "explaining why the client gave this rating" in problem.lower()


def test_no_expert_rationale_of_the_demo_reads_as_copied_instructions() -> None:
    """The check is for a model parroting its prompt: none of the demo's written
    rationales (English and Chinese) trips it."""
    from annotate.core.demo import DEMO_FILES
    from annotate.drafting.grounding import copied_instructions

    path = next(p for p in DEMO_FILES if p.name == "rationales.jsonl")
    texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(texts) >= 40 and any("来访者" in t for t in texts)
    assert [t for t in texts if copied_instructions(t) is not None] == []
