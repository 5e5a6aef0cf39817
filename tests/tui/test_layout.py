"""Layout at 100x30 and 160x48: wrapping that keeps every character, footers, status lines."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from sqlmodel import Session, select
from textual.widgets import Static
from textual.widgets._footer import FooterKey

from annotate.work.progress import detail
from annotate.work.queue import authoring_queue
from store.models import TherapySession as SessionRow
from store.models import Turn
from tests import hypothesis_profiles
from tests.tui.helpers import settle
from tui.app import create_app
from tui.screens.annotate import AnnotateScreen
from tui.screens.progress import ProgressScreen
from tui.screens.review import ReviewScreen
from tui.widgets.item_panel import item_text
from tui.widgets.transcript import Transcript
from tui.widgets.wrap import NO_LINE_END, NO_LINE_START, wrap

SIZES = [(100, 30), (160, 48)]
PREFIX = 17  # "▌ " or "  ", the number in 4, a space, the speaker in 9, a space

HAN = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
CLOSING = st.sampled_from(sorted(NO_LINE_START & set("，。、！？；：」』）》")))
OPENING = st.sampled_from(sorted(NO_LINE_END & set("「『（《")))
CJK_WORD = st.one_of(
    HAN,
    st.tuples(HAN, CLOSING).map("".join),
    st.tuples(OPENING, HAN).map("".join),
)
LATIN_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz,.", min_size=1, max_size=14)


@settings(max_examples=hypothesis_profiles.examples(300), deadline=None)
@given(words=st.lists(CJK_WORD, min_size=1, max_size=80), width=st.integers(6, 60))
def test_chinese_wraps_keeping_every_character_and_the_punctuation_rules(
    words: list[str], width: int
) -> None:
    text = "".join(words)
    lines = wrap(text, width)
    assert "".join(lines) == text  # nothing lost, nothing added
    assert all(cell_len(line) <= width for line in lines)
    assert all(line for line in lines)
    for line in lines[1:]:
        assert line[0] not in NO_LINE_START, lines  # no "，" or "。" starts a line
    for line in lines[:-1]:
        assert line[-1] not in NO_LINE_END, lines  # no "「" ends one


@settings(max_examples=hypothesis_profiles.examples(300), deadline=None)
@given(
    words=st.lists(st.one_of(LATIN_WORD, CJK_WORD), min_size=1, max_size=60),
    spaces=st.lists(st.sampled_from(["", " ", "  "]), min_size=60, max_size=60),
    width=st.integers(2, 50),
)
def test_mixed_text_loses_only_the_spaces_at_breaks(
    words: list[str], spaces: list[str], width: int
) -> None:
    text = "".join(word + space for word, space in zip(words, spaces, strict=False)).strip()
    lines = wrap(text, width)
    assert all(cell_len(line) <= width for line in lines)
    assert re.sub(r"\s", "", "".join(lines)) == re.sub(r"\s", "", text)
    rebuilt = " ".join(lines)
    assert re.sub(r"\s+", " ", rebuilt).replace(" ", "") == text.replace(" ", "")
    for line in lines:
        assert line == line.rstrip(" ")  # the space at a break is not drawn


def test_words_longer_than_a_line_are_cut_not_dropped() -> None:
    word = "a" * 25
    assert wrap(f"x {word} y", 10) == ["x aaaaaaaa", "aaaaaaaaaa", "aaaaaaa y"]
    assert wrap("第一行\n\n第三行", 10) == ["第一行", "", "第三行"]


def _rendered_turns(transcript: Transcript) -> dict[int, list[str]]:
    """The transcript's drawn lines, grouped by turn: {number: [line text after the prefix]}."""
    turns: dict[int, list[str]] = {}
    current: int | None = None
    for y in range(transcript.scrollable_content_region.height):
        line = transcript.render_line(y).text.rstrip()
        start = re.match(r"^[▌ ] +(\d+) (Client|Counselor) +", line)
        if start:
            current = int(start.group(1))
            turns[current] = [line[PREFIX:]]
        elif current is not None and line:
            assert line[:PREFIX] == " " * PREFIX, line  # continuation under the text
            turns[current].append(line[PREFIX:])
    return turns


def _chinese_entry(engine, annotator: str = "ben"):  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        chinese = set(session.exec(select(SessionRow.id).where(SessionRow.language == "zh")))
    return next(e for e in authoring_queue(engine, annotator) if e.session_id in chinese)


@pytest.mark.parametrize("size", SIZES)
async def test_chinese_turns_keep_every_character_when_wrapped(work_engine, size) -> None:  # type: ignore[no-untyped-def]
    entry = _chinese_entry(work_engine)
    with Session(work_engine) as session:
        stored = {
            t.number: t.text
            for t in session.exec(select(Turn).where(Turn.session_id == entry.session_id))
        }
    app = create_app(work_engine, "ben")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("slash", *entry.session_id, "enter")  # as an expert gets there
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AnnotateScreen) and screen.state is not None
        assert screen.state.context.session_id == entry.session_id
        transcript = app.screen.query_one(Transcript)
        first_screen = _rendered_turns(transcript)  # as first drawn, before any scrolling
        complete = list(first_screen)[:-1]  # the last one may run off the bottom
        assert len(complete) >= 3
        for number in complete:
            assert "".join(first_screen[number]) == stored[number], first_screen[number]
        # Every turn has the height it is drawn with at this width (a height measured
        # before the scrollbar appeared would cut the last line of some turns).
        width = transcript.scrollable_content_region.width
        drawn = sum(
            len(app.console.render_lines(transcript.get_option_at_index(i).prompt,
                                         app.console.options.update_width(width)))
            for i in range(transcript.option_count)
        )  # fmt: skip
        assert transcript.virtual_size.height == drawn
        checked: set[int] = set()
        for number in sorted(stored, key=lambda n: -len(stored[n]))[:4]:  # the longest turns
            transcript.highlighted = transcript._index_of[number]
            transcript.scroll_to_highlight(top=True)
            await settle(pilot)
            lines = _rendered_turns(transcript)[number]
            assert len(lines) > 1  # long enough to wrap at this width
            assert "".join(lines) == stored[number], (number, lines)
            assert not any(line[0] in NO_LINE_START for line in lines[1:]), lines
            checked.add(number)
        assert len(checked) == 4


async def _open_each_screen(pilot):  # type: ignore[no-untyped-def]
    """Queue, editor, review and progress, each yielded once it is shown."""
    app = pilot.app
    await settle(pilot)
    yield "queue"
    entry = authoring_queue(app.engine, app.annotator)[0]
    app.push_screen(AnnotateScreen([entry.rationale_id]))
    await settle(pilot)
    yield "annotate"
    app.pop_screen()
    await pilot.press("tab", "enter")
    await settle(pilot)
    assert isinstance(app.screen, ReviewScreen)
    yield "review"
    app.pop_screen()
    await pilot.press("f3")
    await settle(pilot)
    assert isinstance(app.screen, ProgressScreen)
    yield "progress"


@pytest.mark.parametrize("size", [(100, 30), (80, 24), (160, 48)])
async def test_every_footer_key_is_on_screen(work_engine, size) -> None:  # type: ignore[no-untyped-def]
    app = create_app(work_engine, "ana")
    async with app.run_test(size=size) as pilot:
        async for name in _open_each_screen(pilot):
            keys = list(app.screen.query(FooterKey))
            shown = {key.description for key in keys}
            assert {"Quit", "Help"} <= shown, (name, shown)
            assert "Queue" in shown or name == "queue", (name, shown)
            if size != (80, 24):  # at 80x24 a second line may still be too short
                for key in keys:
                    region = key.region
                    assert region.width > 0 and region.right <= size[0], (name, key.description)


@pytest.mark.parametrize("size", SIZES)
async def test_status_line_and_item_box_are_not_cut(work_engine, size) -> None:  # type: ignore[no-untyped-def]
    entry = next(e for e in authoring_queue(work_engine, "ana") if e.status == "accepted")
    app = create_app(work_engine, "ana")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        app.push_screen(AnnotateScreen([entry.rationale_id]))
        await settle(pilot)
        await pilot.press("ctrl+f")
        await settle(pilot)
        await pilot.press(*"check turn 7", "enter")  # flagged: the longest status line
        await settle(pilot)
        indicator = app.screen.query_one("#indicator", Static)
        line = str(indicator.render())
        assert "flagged" in line
        needed = math.ceil(cell_len(line) / indicator.content_region.width)
        assert indicator.content_region.height >= needed, (line, indicator.content_region)
        item = app.screen.query_one("#item", Static)
        screen = app.screen
        assert isinstance(screen, AnnotateScreen) and screen.state is not None
        item_lines = item_text(screen.state.context).wrap(app.console, item.content_region.width)
        assert "(Very often)" in item_lines[-1].plain or "Counselor" in item_lines[-1].plain
        assert item.content_region.height >= len(item_lines), (item_lines, item.content_region)


async def test_progress_screen_shows_flags_and_fits_100_columns(work_engine) -> None:
    from annotate.work.rationales import editor

    flagged = authoring_queue(work_engine, "ana")[:2]
    for entry in flagged:
        editor.flag(work_engine, entry.rationale_id, "ana", "unclear rating")
    figures = detail(work_engine)
    assert figures["by_annotator"]["ana"]["flagged"] == 2
    app = create_app(work_engine, "ana")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("f3")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ProgressScreen)
        by_annotator = screen.table("authoring-by-annotator")
        columns = [str(column.label) for column in by_annotator.columns.values()]
        flag_column = columns.index("flagged")
        for index, (name, row) in enumerate(figures["by_annotator"].items()):
            cells = by_annotator.get_row_at(index)
            assert cells[0] == name and cells[flag_column] == str(row["flagged"])
        by_dimension = screen.table("authoring-by-dimension")
        flags_by_dimension = {
            by_dimension.get_row_at(i)[0]: by_dimension.get_row_at(i)[-1]
            for i in range(by_dimension.row_count)
        }
        assert flags_by_dimension == {
            name: str(row["flagged"]) for name, row in figures["by_dimension"].items()
        }
        for table_id in ("authoring-by-annotator", "authoring-by-dimension",
                         "reviews-by-annotator", "scores-by-dimension"):  # fmt: skip
            table = screen.table(table_id)
            assert table.virtual_size.width <= 100, table_id  # nothing cut on the right
