"""CSV import: turns file plus a wide ratings file; rationale and review CSVs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select

from annotate.core.errors import ConfigError, ImportFailed
from annotate.ingest import import_file
from annotate.work.progress import counts
from store.models import Rating, Turn
from tests.factories import ITEMS

TURNS = (
    "session_id,client_id,counselor_id,session_number,language,speaker,text\n"
    'a,c1,t1,1,en,counselor,"What brings you here, today?"\n'
    'a,c1,t1,1,en,client,"Work. And sleep,\nmostly sleep."\n'
    "b,c2,t1,1,zh,counselor,你好，今天想聊什么？\n"
    "b,c2,t1,1,zh,client,我最近总是睡不着。\n"
)

pytestmark = pytest.mark.both_backends


def _ratings(rows: list[str]) -> str:
    return "session_id,rater," + ",".join(ITEMS) + "\n" + "\n".join(rows) + "\n"


def _row(session_id: str, rater: str, value: str = "4") -> str:
    return f"{session_id},{rater}," + ",".join([value] * 12)


def test_sessions_csv_with_ratings(engine, tmp_path: Path) -> None:
    turns = tmp_path / "turns.csv"
    turns.write_text(TURNS, encoding="utf-8")
    ratings = tmp_path / "ratings.csv"
    ratings.write_text(
        _ratings([_row("a", "client"), _row("b", "client", "5"), "a,counselor,3,,,,,,,,,,,"]),
        encoding="utf-8",
    )
    result = import_file(engine, turns, ratings_path=ratings)
    assert result.created == 2
    with Session(engine) as session:
        texts = session.exec(select(Turn.text).where(Turn.session_id == "a")).all()
        counselor = session.exec(select(Rating).where(Rating.rater_role == "counselor")).all()
    assert texts == ["What brings you here, today?", "Work. And sleep,\nmostly sleep."]
    assert [(r.item_id, r.value) for r in counselor] == [("goal_1", 3)]
    assert not import_file(engine, turns, ratings_path=ratings).changed


def test_sessions_csv_errors_name_the_right_line(engine, tmp_path: Path) -> None:
    turns = tmp_path / "turns.csv"
    turns.write_text(
        TURNS + "c,c3,t1,1,en,therapist,Hello\na,c1,t1,1,en,client,again\n", encoding="utf-8"
    )
    ratings = tmp_path / "ratings.csv"
    ratings.write_text(
        _ratings([_row("a", "client"), _row("b", "client", "9"), _row("c", "client")]),
        encoding="utf-8",
    )
    with pytest.raises(ImportFailed) as raised:
        import_file(engine, turns, ratings_path=ratings)
    errors = raised.value.errors
    assert f"{turns}:5: client_ratings.goal_1: rating 9 is outside the scale 1..5" in errors
    assert f"{turns}:7: turn 1: unknown speaker 'therapist' (use 'client' or 'counselor')" in errors
    assert f"{turns}:8: rows of session 'a' are not together" in errors
    assert counts(engine)["sessions"] == 0


def test_a_bad_turn_row_is_reported_at_its_own_line(engine, tmp_path: Path) -> None:
    turns = tmp_path / "turns.csv"
    turns.write_text(
        TURNS.replace("b,c2,t1,1,zh,client,我最近总是睡不着。", "b,c2,t1,1,zh,client,我睡不着。\n"
                      "b,c2,t1,1,zh,therapist,我们聊聊？"),
        encoding="utf-8",
    )  # fmt: skip
    ratings = tmp_path / "ratings.csv"
    ratings.write_text(_ratings([_row("a", "client"), _row("b", "client")]), encoding="utf-8")
    with pytest.raises(ImportFailed) as raised:
        import_file(engine, turns, ratings_path=ratings)
    # Session b starts at line 5; its third turn, the bad one, is the row at line 7.
    assert raised.value.errors == [
        f"{turns}:7: turn 3: unknown speaker 'therapist' (use 'client' or 'counselor')"
    ]


def test_sessions_csv_needs_ratings(engine, tmp_path: Path) -> None:
    turns = tmp_path / "turns.csv"
    turns.write_text(TURNS, encoding="utf-8")
    with pytest.raises(ConfigError, match="needs --ratings"):
        import_file(engine, turns, kind="sessions")


def test_rationale_and_review_csv(engine, tmp_path: Path) -> None:
    turns = tmp_path / "turns.csv"
    turns.write_text(TURNS, encoding="utf-8")
    ratings = tmp_path / "ratings.csv"
    ratings.write_text(_ratings([_row("a", "client"), _row("b", "client")]), encoding="utf-8")
    import_file(engine, turns, ratings_path=ratings)
    rationales = tmp_path / "rationales.csv"
    rationales.write_text(
        "session_id,item_id,author,text\n"
        'a,goal_1,ana,"The client names sleep as the focus (turn 2), and the counselor agrees."\n'
        "b,goal_1,ana,来访者在第2轮说出了睡眠问题，咨询师接受了这个目标。\n",
        encoding="utf-8",
    )
    assert import_file(engine, rationales).created == 2
    reviews = tmp_path / "reviews.csv"
    reviews.write_text(
        "session_id,item_id,reviewer,faithfulness,relevance,informativeness,comment\n"
        "a,goal_1,ben,4,5,x,\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportFailed) as raised:
        import_file(engine, reviews)
    assert raised.value.errors == [
        f"{reviews}:2: informativeness: expected a whole number, found 'x'"
    ]
    reviews.write_text(reviews.read_text().replace(",x,", ",3,"), encoding="utf-8")
    assert import_file(engine, reviews).created == 1
