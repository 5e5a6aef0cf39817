"""A TextArea whose soft wrap breaks lines like the transcript does (``tui.widgets.wrap``).

Textual wraps at spaces only and folds what is left anywhere, so a Chinese rationale got
lines starting with "，" and "第 5 / 轮" split. Here every line break is where ``wrap``
would break: CJK between characters, never before closing punctuation or after an
opening bracket, "第 5 轮" kept together. The spaces at a break stay at the end of the
line before it (the cursor can sit on them); every character is kept.

Textual has no hook for this: ``WrappedDocument.wrap`` and ``wrap_range`` call the
module-level ``compute_wrap_offsets``. ``CJKWrappedDocument`` runs those two methods
unchanged with that one name bound to our rule (no copy of them, nothing patched for
other widgets); ``tests/tui/test_editor_wrap.py`` fails if a Textual upgrade moves it.

``UndoSafeTextArea`` keeps undo and redo from crashing when the text changes its number
of lines and with it whether a scrollbar is shown (Textual issue #6686).
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import textual.document._wrapped_document as textual_wrapping
from textual._wrap import compute_wrap_offsets
from textual.document._wrapped_document import WrappedDocument
from textual.geometry import Offset
from textual.widgets import TextArea

from tui.widgets.wrap import break_offsets


def cjk_wrap_offsets(
    text: str,
    width: int,
    tab_size: int,
    fold: bool = True,
    precomputed_tab_sections: list[tuple[str, int]] | None = None,
) -> list[int]:
    """``textual._wrap.compute_wrap_offsets`` with ``wrap``'s rules (a line holding a tab,
    whose width depends on where it stands, is left to Textual's own rule)."""
    if "\t" in text:
        return compute_wrap_offsets(text, width, tab_size, fold, precomputed_tab_sections)
    return break_offsets(text, width)


def _with_cjk_offsets(method: Callable[..., Any]) -> Callable[..., Any]:
    """METHOD of WrappedDocument, its ``compute_wrap_offsets`` being ``cjk_wrap_offsets``."""
    namespace = {**vars(textual_wrapping), "compute_wrap_offsets": cjk_wrap_offsets}
    function = types.FunctionType(
        method.__code__, namespace, method.__name__, method.__defaults__, method.__closure__
    )
    function.__kwdefaults__ = method.__kwdefaults__
    function.__doc__ = method.__doc__
    return function


class CJKWrappedDocument(WrappedDocument):
    """The wrapped view of a document, broken where ``tui.widgets.wrap`` breaks."""

    wrap = _with_cjk_offsets(WrappedDocument.wrap)
    wrap_range = _with_cjk_offsets(WrappedDocument.wrap_range)


class CJKWrapTextArea(TextArea):
    """A TextArea whose soft wrap follows the transcript's rules (CJK, kinsoku); combine
    it with other TextArea subclasses (``class RationaleEditor(OrderedTextArea,
    CJKWrapTextArea)``): it changes only how lines are wrapped."""

    @property
    def wrapped_document(self) -> WrappedDocument:
        return self._cjk_wrapped_document

    @wrapped_document.setter
    def wrapped_document(self, wrapped: WrappedDocument) -> None:
        # TextArea makes a plain WrappedDocument whenever it gets a new document.
        if not isinstance(wrapped, CJKWrappedDocument):
            wrapped = CJKWrappedDocument(wrapped.document, tab_width=wrapped._tab_width)
        self._cjk_wrapped_document = wrapped


class UndoSafeTextArea(TextArea):
    """A TextArea whose undo and redo never scroll to a cursor row the text no longer has.

    Textual's undo puts the old text back, then updates the scrollbars, and only then
    moves the cursor back: when the undone text (a draft put in by revert, a paste) was
    long enough for a scrollbar and the old one is not, hiding the scrollbar scrolls to
    the cursor still on a row of the longer text, and ``WrappedDocument`` raises
    "The document line index 1 is out of bounds" (Textual issue #6686; redo likewise).
    That scroll is skipped; the cursor set right after it scrolls into view itself.
    """

    def scroll_cursor_visible(self, center: bool = False, animate: bool = False) -> Offset:
        cursor = self.selection.end
        if self.clamp_visitable(cursor) != cursor:  # the text changed, the cursor not yet
            return Offset(0, 0)
        return super().scroll_cursor_visible(center=center, animate=animate)
