"""A model's prediction reviewed through the UI: the same screen, no source, scores stored."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from annotate.ingest.predictions import import_predictions
from annotate.work.reviews.predictions import assign_prediction_reviews
from annotate.work.reviews.queue import review_queue
from tests.factories import write_jsonl
from tests.tui.helpers import SIZE, screen_text, settle
from tui.app import create_app
from tui.screens.review import ReviewScreen

MODEL = "secret-model-7b"


async def test_a_prediction_is_reviewed_blind_in_the_review_screen(
    work_engine, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    with work_engine.connect() as connection:
        items = connection.execute(
            text("SELECT session_id, item_id, value FROM ratings WHERE rater_role = 'client' "
                 "AND session_id IN ('s03', 's04') AND item_id != 'rupture_1' ORDER BY 1, 2")
        ).all()  # fmt: skip
    path = write_jsonl(tmp_path / "p.jsonl", [
        {"session_id": s, "item_id": i, "rating": v, "rationale": f"Turn 2 shows it ({s}/{i})."}
        for s, i, v in items
    ])  # fmt: skip
    import_predictions(work_engine, path, MODEL)
    assign_prediction_reviews(work_engine, MODEL, fraction=1.0, reviewers=["chen"])
    tasks = review_queue(work_engine, "chen")
    index = next(n for n, task in enumerate(tasks) if task.rationale_id is None)
    app = create_app(work_engine, "chen")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert MODEL not in screen_text(pilot)
        reviews = app.screen.query_one("#reviews")
        reviews.focus()
        reviews.move_cursor(row=index)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        shown = screen_text(pilot)
        assert "Turn 2 shows it" in shown and MODEL not in shown
        await pilot.press("4", "tab", "5", "tab", "3", "tab", *"ok", "ctrl+s")
        await settle(pilot)
    with work_engine.connect() as connection:
        stored = connection.execute(
            text("SELECT " + ", ".join(
                f"(SELECT score FROM prediction_review_scores x WHERE x.prediction_review_id "
                f"= w.id AND x.criterion = '{name}')"
                for name in ("faithfulness", "relevance", "informativeness"))
                + ", w.comment, p.source "
                "FROM prediction_reviews w JOIN predictions p ON p.id = w.prediction_id")
        ).all()  # fmt: skip
    assert [tuple(row) for row in stored] == [(4, 5, 3, "ok", MODEL)]
