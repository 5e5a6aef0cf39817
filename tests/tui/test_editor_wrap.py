"""The rationale editor's soft wrap breaks lines like the transcript (tui.widgets.wrap):
no line starts with closing punctuation, "第 5 轮" stays together, and editing works."""

from __future__ import annotations

from rich.cells import cell_len
from textual.app import App, ComposeResult
from textual.document._wrapped_document import WrappedDocument
from textual.widgets import TextArea

from tui.widgets.editor import CJKWrappedDocument, CJKWrapTextArea, cjk_wrap_offsets
from tui.widgets.wrap import NO_LINE_END, NO_LINE_START, wrap

TEXT = (
    "来访者说第 5 轮会谈以后，她觉得工作压力小了一些。咨询师问：「你现在睡得怎么样？」"
    "她说还好，只是周末会想很多。"
)


class OneEditor(App[None]):
    def __init__(self, editor: TextArea) -> None:
        super().__init__()
        self.editor = editor

    def compose(self) -> ComposeResult:
        yield self.editor


def _broken_rules(lines: list[str], width: int) -> list[str]:
    """What in LINES breaks the transcript's rules at WIDTH (empty when nothing does)."""
    problems = []
    for number, line in enumerate(lines):
        drawn = line.rstrip(" ")
        if number and drawn[:1] in NO_LINE_START:
            problems.append(f"line {number} starts with {drawn[0]!r}")
        if drawn[-1:] in NO_LINE_END:
            problems.append(f"line {number} ends with {drawn[-1]!r}")
        if cell_len(drawn) > width:
            problems.append(f"line {number} is {cell_len(drawn)} cells wide")
    if not any("第 5 轮" in line for line in lines):
        problems.append("'第 5 轮' is split")
    return problems


def test_wrap_keeps_a_number_with_the_characters_around_it() -> None:
    assert wrap("来访者说第 5 轮会谈", 12) == ["来访者说", "第 5 轮会谈"]
    assert wrap("I saw 5 clients", 8) == ["I saw 5", "clients"]  # Latin: as before


async def test_soft_wrap_follows_the_transcript_rules_at_every_width() -> None:
    for screen_width in range(15, 31):
        lines = {}
        for kind in (TextArea, CJKWrapTextArea):
            editor = kind(TEXT, soft_wrap=True, show_line_numbers=False)
            async with OneEditor(editor).run_test(size=(screen_width, 12)) as pilot:
                await pilot.pause()
                width = editor.wrap_width
                (lines[kind],) = editor.wrapped_document.lines
        assert "".join(lines[CJKWrapTextArea]) == TEXT  # every character kept, in order
        assert _broken_rules(lines[CJKWrapTextArea], width) == [], lines[CJKWrapTextArea]
        expected = wrap(TEXT, width)  # the transcript's lines, spaces at a break left out
        assert [line.rstrip(" ") for line in lines[CJKWrapTextArea]] == expected
        if screen_width in (15, 17):  # Textual's own wrap breaks the rules here
            assert _broken_rules(lines[TextArea], width), lines[TextArea]


async def test_editing_a_wrapped_chinese_text_works() -> None:
    editor = CJKWrapTextArea(TEXT, soft_wrap=True, show_line_numbers=False)
    async with OneEditor(editor).run_test(size=(17, 12)) as pilot:
        await pilot.pause()
        assert editor.wrapped_document.lines[0][:2] == ["来访者说", "第 5 轮会谈"]
        editor.focus()
        editor.move_cursor((0, 0))
        await pilot.press("down")  # to the second wrapped line, which begins at "第"
        assert editor.cursor_location == (0, 4)
        await pilot.press("end")  # the wrapped line's end: on its last character, "谈"
        assert editor.cursor_location == (0, 10)
        await pilot.press(*"3", "comma")
        await pilot.pause()
        assert editor.text == TEXT[:10] + "3," + TEXT[10:]
        (lines,) = editor.wrapped_document.lines  # rewrapped after the edit by our rules
        assert "".join(lines) == editor.text
        assert not any(line[:1] in NO_LINE_START for line in lines[1:]), lines
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert editor.text == TEXT
        editor.load_text("她说：「第 12 次了。」" * 3)  # a new document keeps the rules
        await pilot.pause()
        assert isinstance(editor.wrapped_document, CJKWrappedDocument)
        (lines,) = editor.wrapped_document.lines
        assert "".join(lines) == editor.text
        assert not any(line[:1] in NO_LINE_START for line in lines[1:]), lines
        assert all("第 12 次" in line or "第" not in line for line in lines), lines


def test_the_textual_hook_is_where_the_editor_expects_it() -> None:
    """A Textual upgrade that stops calling compute_wrap_offsets from these methods must
    fail here, not silently go back to Textual's own wrap."""
    for name in ("wrap", "wrap_range"):
        assert "compute_wrap_offsets" in getattr(WrappedDocument, name).__code__.co_names
        method = getattr(CJKWrappedDocument, name)
        assert method.__globals__["compute_wrap_offsets"] is cjk_wrap_offsets
