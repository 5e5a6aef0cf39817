"""Reading a judge's reply: whatever a server sends is a judgement or one reason it is not.

Hostile replies (wrong types, huge and tiny numbers, deep nesting, NUL, surrogates,
duplicate keys, text around the JSON) are either read into scores in the rubric's scale
or refused with ``ReplyFormatError``; never another exception.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from annotate.core.guidelines import load_rubric
from annotate.drafting.grounding import ReplyFormatError
from annotate.judging.prompt import read_judgement

RUBRIC = load_rubric()
NAMES = tuple(RUBRIC.criteria)
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8,
)  # fmt: skip
# scores as strings of digits of any script: "③", "²" and "٣" pass str.isdigit()
digits = st.text(st.characters(categories=["Nd", "No"]) | st.sampled_from(" 0123456789"),
                 min_size=1, max_size=12)  # fmt: skip
replies = st.fixed_dictionaries(
    {},
    optional={**{name: values | st.integers(-3, 9) | digits for name in NAMES},
              "reason": values, "evidence": values, "quotes": values},
)  # fmt: skip


@given(reply=replies, before=st.sampled_from(["", "Sure:\n```json\n", "note {"]),
       after=st.sampled_from(["", "\n```", "}}", "\x00"]))  # fmt: skip
def test_any_reply_is_read_or_refused(reply: dict, before: str, after: str) -> None:
    content = before + json.dumps(reply, ensure_ascii=False) + after
    try:
        judged = read_judgement(content, RUBRIC)
    except ReplyFormatError as refusal:
        assert str(refusal) and "\n" not in str(refusal)
        return
    assert set(judged.scores) == set(NAMES)
    assert all(RUBRIC.scale_min <= score <= RUBRIC.scale_max for score in judged.scores.values())
    assert judged.reason == judged.reason.strip() and judged.reason


@pytest.mark.parametrize(
    "content",
    ["", "   ", "[" * 5000 + "]" * 5000, '{"faithfulness": ' + "9" * 5000 + "}",
     '{"faithfulness": 4, "faithfulness": 2}', "\ud800", "not json at all"],
)  # fmt: skip
def test_hostile_replies_are_refused_in_one_line(content: str) -> None:
    with pytest.raises(ReplyFormatError) as refused:
        read_judgement(content, RUBRIC)
    assert "\n" not in str(refused.value)


def test_scores_in_words_or_strings() -> None:
    reply = {"faithfulness": "4", "relevance": " 5 ", "informativeness": True, "reason": "x"}
    with pytest.raises(ReplyFormatError, match="'informativeness' is not an integer: True"):
        read_judgement(json.dumps(reply), RUBRIC)
    reply["informativeness"] = 3
    assert read_judgement(json.dumps(reply), RUBRIC).scores == {
        "faithfulness": 4, "relevance": 5, "informativeness": 3}  # fmt: skip


@given(scores=st.fixed_dictionaries({name: digits for name in NAMES}))
def test_scores_as_strings_of_any_digits_are_read_or_refused(scores: dict) -> None:
    content = json.dumps({**scores, "reason": "Turn 2."}, ensure_ascii=False)
    try:
        judged = read_judgement(content, RUBRIC)
    except ReplyFormatError:
        assert not all(s.strip().isascii() and s.strip().isdecimal() and
                       RUBRIC.scale_min <= int(s) <= RUBRIC.scale_max
                       for s in scores.values())  # fmt: skip
        return
    assert judged.scores == {name: int(given) for name, given in scores.items()}


@pytest.mark.parametrize("score", ["③", "²", "٣", " ４ ", "3²", "9" * 5000],
                         ids=["circled", "superscript", "arabic-indic", "fullwidth", "mixed",
                              "5000-digits"])  # fmt: skip
def test_a_score_in_digits_other_than_ascii_is_refused(score: str) -> None:
    reply = {"faithfulness": score, "relevance": 4, "informativeness": 4, "reason": "x"}
    with pytest.raises(ReplyFormatError, match="'faithfulness' is not an integer"):
        read_judgement(json.dumps(reply, ensure_ascii=False), RUBRIC)
