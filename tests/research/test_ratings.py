"""Session dimension scores per rater: complete item sets only, the WAI-SR not the rupture
question, sessions ordered by number then import order, the condition from metadata."""

from __future__ import annotations

import pytest

from annotate.research.ratings import dimension_scores, dimensions, paired
from tests.factories import session_record
from tests.research.alliance_data import items_at, session_scores_by_sql


@pytest.mark.both_backends
def test_scores_order_and_condition(engine, add_sessions) -> None:  # type: ignore[no-untyped-def]
    partial = items_at(goal=3, task=4, bond=5)
    del partial["goal_2"]  # an incomplete goal set: no counselor goal score for the session
    add_sessions([
        session_record("b", client_id="来访者", session_number=2,
                       client_ratings={**items_at(goal=2, task=2, bond=2), "rupture_1": 3},
                       metadata={"condition": "焦虑"}),
        session_record("a-late", client_id="来访者", session_number=None,
                       client_ratings=items_at(goal=3, task=4, bond=5), counselor_ratings=partial),
        session_record("c", client_id="来访者", session_number=1,
                       client_ratings=items_at(goal=4, task=4, bond=4)),
    ])  # fmt: skip
    add_sessions([session_record("d-later", client_id="来访者", session_number=None)])
    assert dimensions(engine) == ["goal", "task", "bond"]  # the rupture question is not one
    scores = dimension_scores(engine)
    visits = scores.drop_duplicates("session_id")[["session_id", "visit"]].values.tolist()
    assert visits == [["c", 1], ["b", 2], ["a-late", 3], ["d-later", 4]]
    oracle = session_scores_by_sql(engine)
    mine = scores.set_index(["session_id", "dimension", "rater_role"])["score"].sort_index()
    theirs = oracle.set_index(["session_id", "dimension", "rater_role"])["score"].sort_index()
    assert mine.to_dict() == theirs.to_dict()  # complete sets only, equal means
    assert ("a-late", "goal", "counselor") not in mine.index
    assert mine[("a-late", "goal", "client")] == 3.0
    assert mine[("a-late", "task", "counselor")] == 4.0
    wide = paired(scores)
    b = wide[wide["session_id"] == "b"].set_index("dimension")
    assert b.loc["goal", "client"] == 2.0 and b.loc["goal", "counselor"] == 5.0
    assert set(b["condition"]) == {"焦虑"}
    late = wide[wide["session_id"] == "a-late"].set_index("dimension")
    assert late["counselor"].isna().tolist() == [True, False, False]  # goal, task, bond
    assert late["condition"].isna().all()
