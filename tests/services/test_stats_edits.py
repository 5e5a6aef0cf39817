"""Draft-to-final statistics and the bit-parallel edit distance behind them."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select

from annotate.analysis._data import rationales
from annotate.analysis.edits import edit_stats
from annotate.analysis.textdistance import levenshtein, normalised_distance
from annotate.core import workflow
from annotate.core.errors import ConfigError
from annotate.ingest import import_file
from store.db import session_scope
from store.models import Annotator, Draft, Rationale, RationaleVersion
from tests import hypothesis_profiles
from tests.factories import session_record, write_jsonl
from tests.workdata import current_text

pytestmark = pytest.mark.both_backends


def table_distance(a: str, b: str) -> int:
    """The textbook dynamic-programming table, as an independent check."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            )
        previous = current
    return previous[-1]


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("kitten", "sitting", 3),
        ("", "abc", 3),
        ("same", "same", 0),
        ("来访者没有目标", "来访者有明确目标", 3),  # delete 没, insert 明确
        ("来访者说不知道", "来访者说知道", 1),
        ("a" * 130, "b" + "a" * 129, 1),  # longer than 64 characters: more than one word
    ],
)
def test_levenshtein_examples(a: str, b: str, distance: int) -> None:
    assert levenshtein(a, b) == distance == levenshtein(b, a)


@settings(max_examples=hypothesis_profiles.examples(300), deadline=None)
@given(st.text(alphabet="abc目标 ", max_size=80), st.text(alphabet="abc目标 ", max_size=80))
def test_levenshtein_equals_the_table(a: str, b: str) -> None:
    assert levenshtein(a, b) == table_distance(a, b)


def test_normalised_distance() -> None:
    assert normalised_distance("", "") == 0.0
    assert normalised_distance("abcd", "abcx") == pytest.approx(0.25)
    assert normalised_distance("abc", "xyz") == 1.0


def _draft(session_id: str, item_id: str, text: str | None, status: str = "ok") -> Draft:
    return Draft(
        session_id=session_id,
        item_id=item_id,
        status=status,
        text=text,
        provider="offline",
        model="test",
        prompt_version="1",
        prompt_hash="0" * 64,
    )


def _rationale(session, session_id, item_id, author, text, draft=None, status="accepted"):  # type: ignore[no-untyped-def]
    rationale = Rationale(
        session_id=session_id,
        item_id=item_id,
        author_id=author,
        draft_id=draft.id if draft else None,
        status=status,
        lock_version=1,
        current_version=1,
    )
    session.add(rationale)
    session.flush()
    session.add(RationaleVersion(rationale_id=rationale.id, version=1, text=text, author_id=author))


@pytest.fixture
def edits_engine(engine, tmp_path: Path):  # type: ignore[no-untyped-def]
    import_file(engine, write_jsonl(tmp_path / "s.jsonl", [session_record("a")]))
    with session_scope(engine) as session:
        session.add_all([Annotator(id="ana"), Annotator(id="li")])
        drafts = {
            "goal_1": _draft("a", "goal_1", "The client set a goal."),
            "goal_2": _draft("a", "goal_2", "abcd"),
            "task_1": _draft("a", "task_1", "来访者说不知道该怎么做"),
            "task_2": _draft("a", "task_2", None, status="failed"),
            "bond_1": _draft("a", "bond_1", "Unused draft"),
        }
        session.add_all(drafts.values())
        session.flush()
        # accepted unchanged (surrounding whitespace does not count as an edit)
        _rationale(session, "a", "goal_1", "ana", "  The client set a goal.\n", drafts["goal_1"])
        _rationale(session, "a", "goal_2", "ana", "abcx", drafts["goal_2"])  # one edit in four
        _rationale(session, "a", "task_1", "li", "来访者说知道该怎么做", drafts["task_1"])
        _rationale(session, "a", "task_2", "li", "Written from scratch.", drafts["task_2"])
        _rationale(session, "a", "task_3", "li", "Imported text, no draft.")
        _rationale(session, "a", "bond_1", "ana", "Still in progress", drafts["bond_1"],
                   status=workflow.IN_PROGRESS)  # fmt: skip
    return engine


def test_final_text_is_the_current_version_of_an_accepted_rationale(edits_engine) -> None:  # type: ignore[no-untyped-def]
    frame = rationales(edits_engine).set_index("rationale_id")
    with session_scope(edits_engine) as session:
        for rationale in session.exec(select(Rationale)).all():
            accepted = rationale.status == workflow.ACCEPTED
            expected = current_text(session, rationale) if accepted else None
            got = frame.loc[rationale.id, "final_text"]
            assert (got if isinstance(got, str) else None) == expected


def test_edit_stats_per_dimension(edits_engine) -> None:  # type: ignore[no-untyped-def]
    table = edit_stats(edits_engine, "dimension").set_index("dimension")
    assert list(table.index) == ["goal", "task", "all"]  # bond has nothing accepted
    goal, task, total = table.loc["goal"], table.loc["task"], table.loc["all"]
    assert (goal["accepted"], goal["with_draft"], goal["no_draft"]) == (2, 2, 0)
    assert goal["unchanged"] == 1 and goal["unchanged_share"] == pytest.approx(0.5)
    assert goal["edit_distance_mean"] == pytest.approx((0 + 0.25) / 2)
    # the failed draft has no text: counted as no draft, like the imported one
    assert (task["accepted"], task["with_draft"], task["no_draft"]) == (3, 1, 2)
    assert task["edit_distance_mean"] == pytest.approx(1 / 11)
    lengths = [len("The client set a goal."), 4, 10, len("Written from scratch."),
               len("Imported text, no draft.")]  # fmt: skip
    assert total["final_length_mean"] == pytest.approx(sum(lengths) / 5)
    assert total["draft_length_mean"] == pytest.approx((22 + 4 + 11) / 3)
    assert total["unchanged_share"] == pytest.approx(1 / 3)


def test_edit_stats_per_annotator(edits_engine) -> None:  # type: ignore[no-untyped-def]
    table = edit_stats(edits_engine, "annotator").set_index("annotator")
    assert table.loc["ana", "accepted"] == 2 and table.loc["li", "accepted"] == 3
    assert table.loc["li", "final_length_mean"] == pytest.approx((10 + 21 + 24) / 3)
    with pytest.raises(ConfigError):
        edit_stats(edits_engine, "session")


def test_demo_has_no_drafts_and_says_so(demo_engine) -> None:  # type: ignore[no-untyped-def]
    total = edit_stats(demo_engine).set_index("dimension").loc["all"]
    # 48 imported rationales; 3 were sent back by a review, so 45 are accepted
    assert (total["accepted"], total["with_draft"], total["no_draft"]) == (45, 0, 45)
    assert total["unchanged_share"] is None and total["final_length_mean"] > 100
