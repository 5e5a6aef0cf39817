"""Pilot tests of the queue filters, the progress screen and help."""

from __future__ import annotations

from annotate.core import workflow
from annotate.work.progress import detail
from annotate.work.queue import authoring_queue
from tests.tui.helpers import SIZE, screen_text, settle
from tui.app import create_app
from tui.screens.help import HelpScreen
from tui.screens.progress import ProgressScreen


def table_keys(app, table_id: str) -> list[int]:  # type: ignore[no-untyped-def]
    table = app.screen.query_one(table_id)
    return [int(row.key.value) for row in table.ordered_rows]


async def test_queue_filters_by_status_and_dimension(work_engine) -> None:
    app = create_app(work_engine, "ana")
    everything = authoring_queue(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        sent_back_first = [e for e in everything if e.status == workflow.REVISION_REQUESTED]
        rest = [e for e in everything if e.status != workflow.REVISION_REQUESTED]
        assert sent_back_first, "the demo work has items sent back"
        assert table_keys(app, "#authoring") == [e.rationale_id for e in sent_back_first + rest]
        summary = str(app.screen.query_one("#summary").render())
        assert summary.startswith(f"ana: {len(everything)} rationales")
        await pilot.press("s", "s", "s")  # all -> pending -> in progress -> accepted
        await settle(pilot)
        accepted = [e.rationale_id for e in everything if e.status == workflow.ACCEPTED]
        assert accepted and table_keys(app, "#authoring") == accepted
        await pilot.press("s")  # -> sent back
        await settle(pilot)
        sent_back = [e for e in everything if e.status == workflow.REVISION_REQUESTED]
        assert sent_back and table_keys(app, "#authoring") == [e.rationale_id for e in sent_back]
        await pilot.press("s", "d")  # -> all statuses; dimension -> goal
        await settle(pilot)
        goal = [
            e.rationale_id
            for e in sorted(everything, key=lambda e: e.status != workflow.REVISION_REQUESTED)
            if e.dimension == "goal"
        ]
        assert table_keys(app, "#authoring") == goal
        assert len(goal) < len(everything)


async def test_queue_lists_only_this_reviewers_pending_reviews(work_engine) -> None:
    from annotate.work.reviews.queue import review_queue

    app = create_app(work_engine, "ben")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        tasks = review_queue(work_engine, "ben")
        assert table_keys(app, "#reviews") == [t.assignment_id for t in tasks]
        own = {e.rationale_id for e in authoring_queue(work_engine, "ben")}
        assert not own & {t.rationale_id for t in tasks}


async def test_progress_screen_shows_the_same_figures_as_the_command(work_engine) -> None:
    figures = detail(work_engine)
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f3")
        await settle(pilot)
        assert isinstance(app.screen, ProgressScreen)
        screen = app.screen
        authoring = screen.table("authoring-by-annotator")
        reviewing = screen.table("reviews-by-annotator")
        for index, (name, row) in enumerate(figures["by_annotator"].items()):
            cells = authoring.get_row_at(index)
            assert cells[0] == name
            assert cells[1:] == [
                str(row[k])
                for k in ("assigned", "drafted", "edited", "accepted", "reviewed", "sent_back",
                          "awaiting_revision", "flagged")
            ]  # fmt: skip
            given = reviewing.get_row_at(index)
            assert given[:3] == [name, str(row["reviews_given"]), str(row["reviews_pending"])]
            means = row["score_means"]
            assert given[3:] == [
                "-" if means[k] is None else f"{means[k]:.2f}"
                for k in ("faithfulness", "relevance", "informativeness")
            ]
        assert screen.table("authoring-by-dimension").row_count == 3
        assert screen.table("scores-by-dimension").row_count == 3
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ProgressScreen)


async def test_help_shows_keys_manual_and_rubric(work_engine) -> None:
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.text
        assert "Status filter" in text and "Faithfulness" in text and "Annotation manual" in text
        assert "Keys" in screen_text(pilot)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_queue_jumps_to_a_session_keeps_its_place_and_goes_to_the_ends(work_engine) -> None:
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#authoring")
        keys = table_keys(app, "#authoring")
        screen = app.screen
        target = next(e for e in screen.entries if e.session_id != screen.entries[0].session_id)
        await pilot.press("slash", *target.session_id, "enter")
        await settle(pilot)
        row = table.cursor_row  # type: ignore[attr-defined]
        assert screen.entries[row].session_id == target.session_id
        assert all(e.session_id != target.session_id for e in screen.entries[:row])
        await pilot.press("down", "down", "enter")  # open an item two rows further
        await settle(pilot)
        opened = keys[row + 2]
        await pilot.press("escape")  # back: the cursor is on that item, not the top row
        await settle(pilot)
        assert keys[app.screen.query_one("#authoring").cursor_row] == opened  # type: ignore[attr-defined]
        await pilot.press("end")
        assert app.screen.query_one("#authoring").cursor_row == len(keys) - 1  # type: ignore[attr-defined]
        await pilot.press("home")
        assert app.screen.query_one("#authoring").cursor_row == 0  # type: ignore[attr-defined]
        await pilot.press("slash", *"nobody", "enter")
        await settle(pilot)
        messages = " ".join(n.message for n in app._notifications)
        assert "No session or client id starts with 'nobody'" in messages


async def test_an_unknown_annotator_is_told_who_has_work(work_engine) -> None:
    app = create_app(work_engine, "anna")  # a typo of ana
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        messages = " ".join(n.message for n in app._notifications)
    assert "No work is assigned to 'anna'" in messages
    assert "ana, ben, chen" in messages and "--annotator NAME" in messages


async def test_after_a_crash_the_queue_marks_and_offers_the_unsaved_item(work_engine) -> None:
    from annotate.work.rationales import editor

    entries = authoring_queue(work_engine, "ana")
    target = entries[5]
    editor.autosave(work_engine, target.rationale_id, "ana", "Half a sentence when the power", 0)
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#authoring")
        row = table.get_row(str(target.rationale_id))  # type: ignore[attr-defined]
        assert any("unsaved" in str(cell) for cell in row)
        # The whole mark is drawn, at any width ("pending · unsaved" was cut at 160).
        status = next(str(cell) for cell in row if "unsaved" in str(cell))
        assert status.endswith("· unsaved")
        column = next(c for c in table.ordered_columns if str(c.label) == "status")  # type: ignore[attr-defined]
        assert column.get_render_width(table) - 2 * table.cell_padding >= len(status)  # type: ignore[attr-defined]
        assert status in screen_text(pilot)
        keys = table_keys(app, "#authoring")
        assert keys[table.cursor_row] == target.rationale_id  # type: ignore[attr-defined]
        messages = " ".join(n.message for n in app._notifications)
        assert f"{target.session_id} {target.item_id}" in messages
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.editor.text == "Half a sentence when the power"  # type: ignore[attr-defined]


def test_demo_without_a_terminal_says_how_to_open_the_ui(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from cli.app import app as cli

    db = str(tmp_path / "d.db")
    result = CliRunner().invoke(cli, ["--db", db, "demo"])  # stdin and stdout are not a tty
    assert result.exit_code == 0, result.output
    assert f"'annotate --db {db} tui --annotator ana'" in result.output
    from annotate.core.database import open_store

    assert authoring_queue(open_store(db), "ana")  # the work is handed out for that command


async def test_progress_screen_names_the_clients_not_on_track(work_engine) -> None:  # type: ignore[no-untyped-def]
    from textual.widgets import Static

    from annotate.research.watch import not_on_track

    flagged = not_on_track(work_engine).flagged_clients()
    assert flagged  # the demo holds clients whose rating falls
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f3")
        await settle(pilot)
        assert isinstance(app.screen, ProgressScreen)
        line = app.screen.query_one("#not-on-track", Static)
        assert line.display
        shown = ", ".join(flagged[:3]) + (", ..." if len(flagged) > 3 else "")
        assert str(line.render()).startswith(f"{len(flagged)} clients not on track ({shown}):")
        assert "annotate alliance watch" in str(line.render())
