"""The editor: transcript, item and the rationale, with autosave, versions and the draft."""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Header, Label, OptionList, Static, TextArea
from textual.worker import Worker, WorkerState

from annotate.core.errors import ConflictError
from annotate.core.workflow import status_label
from annotate.work.queue import SENT_BACK, UNFINISHED, next_with_status
from annotate.work.rationales import editor as editing
from annotate.work.rationales.editor import DraftView, EditorState, SaveResult
from annotate.work.rationales.scaffold import find_scaffolding
from tui.failures import notify_failure
from tui.keys import OrderedTextArea, after_keys_handed_over
from tui.services import services, session_trace
from tui.widgets.alliance_strip import AllianceGutter, TraceTitle, flip_strip, shown_key
from tui.widgets.editor import CJKWrapTextArea, UndoSafeTextArea
from tui.widgets.item_panel import AlternativesPanel, ItemPanel, transcript_title
from tui.widgets.key_footer import KeyFooter
from tui.widgets.scroll_text import ScrollText
from tui.widgets.transcript import Transcript


class RationaleEditor(OrderedTextArea, UndoSafeTextArea, CJKWrapTextArea):
    """The rationale's text: its own keys (F7 select all, undo, cursor moves) act in the
    order typed among the characters, undo after revert cannot crash it, and it wraps by
    the transcript's rules."""


class AnnotateScreen(Screen[int | None]):
    """Edits one rationale at a time; next/previous walk the queue it was opened from."""

    # Every key of this screen is a priority binding whose action first lets the editor
    # handle the keys typed before it (tui.keys), so a burst acts in the order typed; the
    # keys that open another item (and accept, which moves on) then hold the keys after
    # them until that item is shown.
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="annotate.save", tooltip="Store a new version.",
                priority=True),
        Binding("ctrl+o", "accept", "Accept", id="annotate.accept", tooltip="Sign off as final.",
                priority=True),
        # Not Ctrl+B (tmux's prefix) nor Ctrl+N, Ctrl+R, Ctrl+W (a browser's own keys):
        # the first key of each is one that works in a terminal, in tmux and in a browser.
        Binding("ctrl+l,ctrl+r", "regenerate", "Regenerate", id="annotate.regenerate",
                priority=True),
        Binding(
            "ctrl+g",
            "revert",
            "Revert to draft",
            id="annotate.revert",
            tooltip="Put the draft in the editor (Ctrl+Z brings your text back).",
            priority=True,
        ),
        Binding(
            "f6",
            "alternative",
            "Next alternative draft",
            id="annotate.alternative",
            tooltip="Show the item's next sampled draft (draft --samples); your text is kept.",
            show=False,
            priority=True,
        ),
        Binding("ctrl+f", "flag", "Flag", id="annotate.flag", priority=True),
        Binding("f4", "evidence", "Evidence", id="annotate.evidence", priority=True),
        Binding("ctrl+down,ctrl+n", "next", "Next", id="annotate.next", priority=True),
        Binding("ctrl+up,ctrl+p", "previous", "Prev", id="annotate.previous", priority=True),
        Binding(
            "f8",
            "next_unfinished",
            "Next unfinished",
            id="annotate.next_unfinished",
            tooltip="The next item not yet accepted (accepting moves there too).",
            show=False,  # listed in Help: the footer is full at 160 columns
            priority=True,
        ),
        Binding(
            "f9",
            "next_sent_back",
            "Next sent back",
            id="annotate.next_sent_back",
            tooltip="The next item a reviewer sent back.",
            show=False,
            priority=True,
        ),
        # Only redraws: it acts as it arrives, never waits for nor moves the keys typed
        # around it (a function key, since every letter and most Ctrl keys are the text's).
        Binding(
            "f5",
            "toggle_trace",
            "Alliance strip on/off",
            id="annotate.trace",
            tooltip="Show or hide each turn's inferred alliance beside the transcript.",
            show=False,
            priority=True,
        ),
        Binding("escape", "back", "Queue", id="annotate.back", priority=True),
    ]  # fmt: skip

    @dataclass
    class Loaded(Message):
        state: EditorState
        gutter: AllianceGutter | None = None  # the session's alliance strip, if traced

    @dataclass
    class Shown(Message):
        """Posted after the screen has been redrawn with a newly loaded item."""

        rationale_id: int

    @dataclass
    class Saved(Message):
        rationale_id: int
        result: SaveResult
        text: str
        accepted: bool

    @dataclass
    class Autosaved(Message):
        rationale_id: int
        text: str

    @dataclass
    class Regenerated(Message):
        rationale_id: int
        draft: DraftView

    @dataclass
    class Flagged(Message):
        rationale_id: int
        note: str | None

    def __init__(self, rationale_ids: list[int], index: int = 0) -> None:
        super().__init__()
        self.rationale_ids = rationale_ids
        self.index = index
        self.state: EditorState | None = None
        self.draft: DraftView | None = None
        self.saved_text: str | None = None
        self.persisted_text = ""  # last text stored anywhere (version or autosave)
        self.lock_version = 0  # the version the next save names (optimistic check)
        self.current_version: int | None = None
        self.draft_origin: int | None = None  # the draft the editor text began from
        # Which of the item's sampled drafts ``self.draft`` is (None: not one of them).
        self.alternative_index: int | None = None
        self.alternative_aside = False  # shown beside the text, which cycling did not replace
        self.saving: dict[Worker[None], int] = {}  # saves being written, by rationale
        # Ctrl+S / Ctrl+O pressed while that item's save was being written: its text, the
        # draft it began from, and whether to accept; sent once the first save is stored.
        self.queued_saves: dict[int, tuple[str, int | None, bool]] = {}
        self._banner_label: str | None = None
        self._scaffold_checked: str | None = None  # the text the sentences below were found in
        self._scaffold_found: tuple[str, ...] = ()
        self._indicator_rows = 0
        self.flagged = False
        self.autosaved = False
        self._autosave_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            with Vertical(id="left"):
                yield Label("Transcript", classes="panel-title", id="transcript-title")
                yield TraceTitle(id="trace-title")
                yield Transcript(id="transcript")
            with Vertical(id="right"):
                yield ItemPanel(id="item")
                yield ScrollText(id="comments", title="Sent back by review")
                yield Label("Rationale", classes="panel-title")
                yield AlternativesPanel(id="alternatives")
                yield Static(id="scaffold")
                yield RationaleEditor(id="editor", soft_wrap=True, show_line_numbers=False)
                yield Static(id="indicator")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.load(self.rationale_ids[self.index])

    @property
    def editor(self) -> TextArea:
        return self.query_one("#editor", TextArea)

    def help_context(self) -> str | None:
        """The guideline text for the current item, shown first in Help."""
        if self.state is None:
            return None
        context = self.state.context
        return (
            f"# This item: {context.item_id} ({context.dimension_name})\n\n{context.item_text}\n\n"
            f"**{context.dimension_name}**: {context.dimension_definition}"
        )

    # -- loading ----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def load(self, rationale_id: int) -> None:
        app = services(self)
        state = editing.open_rationale(app.engine, rationale_id, app.annotator)
        trace = session_trace(app.engine, state.context.session_id)
        self.post_message(self.Loaded(state, AllianceGutter.of(trace) if trace else None))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        state = message.state
        self.state, self.draft = state, state.draft
        self.saved_text = state.saved_text
        self.lock_version = state.lock_version
        self.current_version = state.current_version
        self.draft_origin = state.initial_draft_id
        self.flagged = state.flagged
        self.persisted_text = state.initial_text  # what reopening the item would show
        self.autosaved = state.autosave_text is not None
        self.alternative_index, self.alternative_aside = None, False
        if state.alternatives is not None:  # the sampled draft the text began from, if one
            self.alternative_index = state.alternatives.position(state.initial_draft_id)
            if self.alternative_index is not None:
                self.draft = state.alternative_drafts[self.alternative_index]
        transcript = self.query_one("#transcript", Transcript)
        transcript.show(
            state.context.turns,
            self.draft.evidence if self.draft else (),
            key=state.context.session_id,
            alliance=message.gutter,
        )
        self._refresh_trace_title()
        self.query_one("#item", ItemPanel).show(state.context)
        self.query_one("#transcript-title", Label).update(transcript_title(state.context))
        comments = self.query_one("#comments", ScrollText)
        if comments.display != bool(state.review_comments):
            comments.display = bool(state.review_comments)
        if state.review_comments:
            comments.show(" / ".join(state.review_comments))
        self.editor.load_text(state.initial_text)
        self._refresh_alternatives()
        self.editor.focus()
        self.sub_title = f"{self.index + 1} of {len(self.rationale_ids)}"
        if state.autosave_text is not None:
            self.notify("Restored your unsaved text from the last sitting.")
        self._refresh_indicator()
        services(self).release_keys()  # keys typed while it loaded: for this item
        self.call_after_refresh(self.post_message, self.Shown(state.rationale_id))
        services(self).collect_when_idle()

    # -- editing and autosave --------------------------------------------------------------

    @on(TextArea.Changed, "#editor")
    def _edited(self) -> None:
        if not self.editor.text.strip():
            self.draft_origin = None  # emptied: what is typed next is the expert's own
        self._refresh_indicator()
        if self._autosave_timer is not None:
            self._autosave_timer.stop()
            self._autosave_timer = None
        if self.editor.text == self.persisted_text:
            return
        self._autosave_timer = self.set_timer(
            services(self).autosave_delay,
            self._autosave_now,
        )

    def _autosave_now(self) -> None:
        self._autosave_timer = None
        if self.state is None or self.editor.text == self.persisted_text:
            return
        self.autosave(
            self.state.rationale_id, self.editor.text, self.lock_version, self.draft_origin
        )

    @work(thread=True, exit_on_error=False, group="autosave")
    def autosave(
        self, rationale_id: int, text: str, base_version: int, draft_id: int | None
    ) -> None:
        app = services(self)
        editing.autosave(app.engine, rationale_id, app.annotator, text, base_version, draft_id)
        self.post_message(self.Autosaved(rationale_id, text))

    @on(Autosaved)
    def _autosaved(self, message: Autosaved) -> None:
        if self.state is not None and message.rationale_id == self.state.rationale_id:
            self.persisted_text = message.text
            self.autosaved = True
            self._refresh_indicator()

    def _refresh_indicator(self) -> None:
        if self.state is None:
            return
        text = self.editor.text
        parts = [status_label(self.state.status)]
        if self.saved_text is not None and text == self.saved_text:
            parts.append(f"saved v{self.current_version}")
        elif text == self.persisted_text and self.autosaved:
            parts.append("not saved, autosaved")
        elif text == self.persisted_text:
            parts.append("not saved yet")
        else:
            parts.append("unsaved changes")
        if self.draft is None:
            parts.append("no draft")
        elif text == self.draft.text:
            parts.append(f"draft unchanged ({self.draft.status})")
        else:
            parts.append("draft edited")
        if self.flagged:
            parts.append("flagged")
        indicator = self.query_one("#indicator", Static)
        line = " · ".join(parts)
        # A new layout only when the line needs another number of rows (not per keystroke).
        rows = -(-cell_len(line) // max(indicator.content_region.width, 1))
        indicator.update(line, layout=rows != self._indicator_rows)
        self._indicator_rows = rows
        self._refresh_scaffold_banner()

    def _refresh_scaffold_banner(self) -> None:
        """Above the editor: what an offline draft is (its label is not in the text), and
        the drafter's instructions the text still holds, which accept refuses."""
        text = self.editor.text
        if text != self._scaffold_checked:  # recomputed only when the text changed
            self._scaffold_checked = text
            self._scaffold_found = tuple(m.quoted(70) for m in find_scaffolding(text))
        draft = self.draft
        label = draft.scaffold_label if draft is not None else None
        lines = (
            [label]
            if label is not None and draft is not None and self.draft_origin == draft.id
            else []
        )
        if self._scaffold_found:
            lines.append("Still the drafter's instructions; rewrite them in your own words "
                         "before accepting:")  # fmt: skip
            lines.extend(f"  · {sentence}" for sentence in self._scaffold_found)
        shown = "\n".join(lines)
        banner = self.query_one("#scaffold", Static)
        if shown and shown != self._banner_label:
            banner.update(Text(shown))  # relayout: the lines wrap to their own height
            self._banner_label = shown
        if banner.display != bool(shown):
            banner.display = bool(shown)

    # -- save and accept ---------------------------------------------------------------------

    async def action_save(self) -> None:
        await after_keys_handed_over(self)
        self._store(accept=False)

    async def action_accept(self) -> None:
        await after_keys_handed_over(self)
        if self.state is None:
            return
        if services(self).advance_on_accept:
            services(self).hold_keys()  # the keys after Ctrl+O belong to the next item
        self._store(accept=True)

    def _store(self, *, accept: bool) -> None:
        """Save or accept the item shown; pressed while its save is being written, it waits
        for that one (so a quick second Ctrl+S never races the first into a conflict with
        oneself)."""
        if self.state is None:
            return
        rationale_id, text = self.state.rationale_id, self.editor.text
        if rationale_id in self.saving.values():
            queued = self.queued_saves.get(rationale_id)
            self.queued_saves[rationale_id] = (
                text, self.draft_origin, accept or (queued is not None and queued[2])
            )  # fmt: skip
            return
        self._start_store(rationale_id, text, self.lock_version, self.draft_origin, accept)

    def _start_store(
        self, rationale_id: int, text: str, base_version: int, draft_id: int | None, accept: bool
    ) -> None:
        worker = self.store(rationale_id, text, base_version, draft_id, accept=accept)
        self.saving[worker] = rationale_id

    # Not exclusive: a save still being written when the expert moves on must not be
    # cancelled by the next item's save.
    @work(thread=True, exit_on_error=False, group="save")
    def store(
        self,
        rationale_id: int,
        text: str,
        base_version: int,
        draft_id: int | None,
        *,
        accept: bool,
    ) -> None:
        app = services(self)
        operation = editing.accept if accept else editing.save
        result = operation(app.engine, rationale_id, app.annotator, text, base_version, draft_id)
        self.post_message(self.Saved(rationale_id, result, text, accept))

    @on(Saved)
    def _saved(self, message: Saved) -> None:
        verb = "Accepted" if message.accepted else "Saved"
        for worker, rationale_id in list(self.saving.items()):
            if rationale_id == message.rationale_id:  # written (one save per item at a time)
                del self.saving[worker]
        queued = self.queued_saves.pop(message.rationale_id, None)
        if queued is not None:  # pressed again meanwhile: store that text on top of this one
            text, draft_id, accept = queued
            if accept or text != message.text:
                lock_version = message.result.lock_version
                self._start_store(message.rationale_id, text, lock_version, draft_id, accept)
        if self.state is None or message.rationale_id != self.state.rationale_id:
            self.notify(f"{verb}: version {message.result.version} of the item left")
            return
        self.saved_text = self.persisted_text = message.text
        self.autosaved = False
        self.lock_version = message.result.lock_version
        self.current_version = message.result.version
        self.state = _with_status(self.state, message.result.status)
        if self._autosave_timer is not None:
            self._autosave_timer.stop()
            self._autosave_timer = None
        self.notify(f"{verb}: version {message.result.version}")
        self._refresh_indicator()
        if queued is not None and queued[2]:
            return  # a queued accept is on its way: that one moves on
        if message.accepted and services(self).advance_on_accept:
            self.find_next(UNFINISHED, "Accepted; no unfinished item is left in this list.")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        notify_failure(self, event)
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        failed = event.state != WorkerState.SUCCESS
        if event.worker.group == "save":
            rationale_id = self.saving.pop(event.worker, None)
            if not failed or rationale_id is None:
                return
            self.queued_saves.pop(rationale_id, None)
            self._drop_held_keys("the save failed")
            shown = self.state is not None and self.state.rationale_id == rationale_id
            if isinstance(event.worker.error, ConflictError) and shown:
                self.load(rationale_id)  # show the text that won; ours is a conflict version
        elif event.worker.group in ("load", "find") and failed:
            if self.state is not None:  # still showing the item before the move
                self.index = self.rationale_ids.index(self.state.rationale_id)
            self._drop_held_keys("the next item did not open")

    def _drop_held_keys(self, why: str) -> None:
        """A move that did not happen: the keys typed for the item it was to open are not
        given to the one still shown."""
        dropped = services(self).discard_held_keys()
        if dropped:
            self.notify(
                f"{dropped} key(s) typed after that were not applied: {why}.",
                severity="warning",
            )

    # -- the draft -----------------------------------------------------------------------------

    async def action_regenerate(self) -> None:
        await after_keys_handed_over(self)
        if self.state is None:
            return
        self.notify("Drafting a new version in the background...")
        self.regenerate(self.state.rationale_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="regenerate")
    def regenerate(self, rationale_id: int) -> None:
        app = services(self)
        draft = editing.regenerate(app.engine, rationale_id, app.annotator, app.drafter)
        self.post_message(self.Regenerated(rationale_id, draft))

    @on(Regenerated)
    def _regenerated(self, message: Regenerated) -> None:
        if self.state is None or message.rationale_id != self.state.rationale_id:
            return
        old = self.draft
        self._show_draft(message.draft)
        if not self.editor.text.strip() or (old is not None and self.editor.text == old.text):
            self.editor.load_text(message.draft.text)  # untouched draft: show the new one
            self.draft_origin = message.draft.id
            self.notify("New draft loaded into the editor.")
        else:
            self.notify("New draft ready; Ctrl+G puts it in the editor (your text is kept).")
        self._refresh_alternatives()
        self._refresh_indicator()

    def _show_draft(self, draft: DraftView) -> None:
        """Make DRAFT the one shown (revert puts it in the editor), its evidence marked."""
        assert self.state is not None
        self.draft, self.alternative_aside = draft, False
        if self.state.alternatives is not None:
            self.alternative_index = self.state.alternatives.position(draft.id)
        transcript = self.query_one("#transcript", Transcript)
        context = self.state.context
        transcript.show(context.turns, draft.evidence, key=context.session_id,
                        alliance=transcript.alliance)  # fmt: skip

    # -- alternative drafts (draft --samples) ------------------------------------------------

    async def action_alternative(self) -> None:
        """Show the item's next sampled draft (wrapping). An editor still holding the draft
        it began from (or nothing) gets the alternative, which a save then records as the
        draft the text began from; typed text is never replaced: the alternative is shown
        above it, and revert puts it in the editor (undo brings the text back)."""
        await after_keys_handed_over(self)  # the keys typed before it are in the text
        state = self.state
        if state is None:
            return
        if state.alternatives is None:
            self.notify("This item has no alternative drafts.", severity="warning")
            return
        index = 0 if self.alternative_index is None else self.alternative_index + 1
        alternative = state.alternative_drafts[index % len(state.alternative_drafts)]
        untouched = not self.editor.text.strip() or self.editor.text == self._origin_text()
        self._show_draft(alternative)
        if untouched:
            # An edit, not a reload, as revert: Ctrl+Z goes back to the draft before.
            self.editor.replace(alternative.text, (0, 0), self.editor.document.end)
            self.draft_origin = alternative.id  # the line above the editor says which
        else:
            self.alternative_aside = True
            revert = shown_key(services(self).user_keymap.get("annotate.revert", "ctrl+g"))
            which = state.alternatives.which(self.alternative_index)
            self.notify(f"Your text is kept; {which} is shown above it ({revert} puts it in "
                        "the editor, Ctrl+Z undoes that).")  # fmt: skip
        self._refresh_alternatives()
        self._refresh_indicator()

    def _origin_text(self) -> str | None:
        """The text of the draft the editor's text began from (None: from scratch)."""
        state = self.state
        if state is None or self.draft_origin is None:
            return None
        known = (*state.alternative_drafts, state.draft, self.draft)
        return next((d.text for d in known if d is not None and d.id == self.draft_origin), None)

    def _refresh_alternatives(self) -> None:
        """Above the editor: which sampled draft is shown and how uncertain the item is;
        the shown draft's text too when the editor's text did not begin from it."""
        state, panel = self.state, self.query_one("#alternatives", AlternativesPanel)
        if state is None or state.alternatives is None:
            panel.present(None)
            return
        key = shown_key(services(self).user_keymap.get("annotate.alternative", "f6"))
        caption = f"{state.alternatives.caption(self.alternative_index)} · {key}: next draft"
        aside = self.draft.text if self.draft is not None and self.alternative_aside else None
        panel.present(caption, aside)

    async def action_revert(self) -> None:
        await after_keys_handed_over(self)
        if self.draft is None:
            self.notify("This item has no draft.", severity="warning")
            return
        # An edit, not a reload: Ctrl+Z brings the expert's own text back.
        self.editor.replace(self.draft.text, (0, 0), self.editor.document.end)
        self.draft_origin = self.draft.id
        self.alternative_aside = False
        self._refresh_alternatives()
        self._refresh_indicator()

    async def action_evidence(self) -> None:
        await after_keys_handed_over(self)
        self.query_one("#transcript", Transcript).jump_to_evidence(1)

    # -- the alliance strip -------------------------------------------------------------------

    def action_toggle_trace(self) -> None:
        """Show or hide the strip; it only redraws, so the keys typed around it are left
        to arrive in order (no wait, no hold)."""
        transcript = self.query_one("#transcript", Transcript)
        shown = flip_strip(self.app, transcript.alliance is not None)
        if shown is not None:
            transcript.show_alliance(shown)
            self._refresh_trace_title()

    @on(OptionList.OptionHighlighted, "#transcript")
    def _turn_highlighted(self) -> None:
        self._refresh_trace_title()

    def _refresh_trace_title(self) -> None:
        transcript = self.query_one("#transcript", Transcript)
        self.query_one("#trace-title", TraceTitle).present(
            transcript.alliance, transcript.highlighted_turn(), border=transcript,
            keys=services(self).user_keymap.get("annotate.trace", "f5"),
        )  # fmt: skip

    # -- flag ------------------------------------------------------------------------------------

    async def action_flag(self) -> None:
        from tui.screens.flag import FlagScreen

        await after_keys_handed_over(self)
        if self.state is None:
            return
        rationale_id = self.state.rationale_id

        def done(note: str | None) -> None:
            if note is not None:
                self.set_flag(rationale_id, note)

        self.app.push_screen(FlagScreen(self.state.flag_note or ""), done)

    @work(thread=True, exit_on_error=False, group="flag")
    def set_flag(self, rationale_id: int, note: str) -> None:
        app = services(self)
        editing.flag(app.engine, rationale_id, app.annotator, note)
        self.post_message(self.Flagged(rationale_id, note.strip() or None))

    @on(Flagged)
    def _flagged(self, message: Flagged) -> None:
        if self.state is None or message.rationale_id != self.state.rationale_id:
            self.notify("Flag stored on the item left.")
            return
        self.flagged = message.note is not None
        if self.state is not None:
            self.state = _with_flag(self.state, message.note)
        self.notify("Flagged for the project lead." if self.flagged else "Flag cleared.")
        self._refresh_indicator()

    # -- navigation ------------------------------------------------------------------------------

    def _flush_autosave(self) -> None:
        """Store the text now if it differs from what is stored: asked by the text itself,
        not by a pending timer, since the edit's Changed message may not have reached this
        screen yet when a burst moves on (its text was lost when the next item loaded)."""
        if self._autosave_timer is not None:
            self._autosave_timer.stop()
            self._autosave_timer = None
        self._autosave_now()

    def flush_before_exit(self) -> None:
        """On quit: store unsaved text right away (workers no longer run at shutdown)."""
        if self._autosave_timer is not None:
            self._autosave_timer.stop()
            self._autosave_timer = None
        if self.state is not None and self.editor.text != self.persisted_text:
            app = services(self)
            editing.autosave(
                app.engine,
                self.state.rationale_id,
                app.annotator,
                self.editor.text,
                self.lock_version,
                self.draft_origin,
            )

    def _go(self, step: int) -> None:
        """Open the item ``step`` places on; the keys typed from now on are held for it."""
        target = self.index + step
        if not 0 <= target < len(self.rationale_ids):
            self._drop_held_keys("no item was opened")
            self.notify("No more items in this direction.")
            return
        self._flush_autosave()
        self.index = target
        services(self).hold_keys()
        self.load(self.rationale_ids[target])

    async def action_next(self) -> None:
        await after_keys_handed_over(self)
        self._go(1)

    async def action_next_unfinished(self) -> None:
        await after_keys_handed_over(self)
        services(self).hold_keys()
        self.find_next(UNFINISHED, "No unfinished item is left in this list.")

    async def action_next_sent_back(self) -> None:
        await after_keys_handed_over(self)
        services(self).hold_keys()
        self.find_next(SENT_BACK, "No item of this list is sent back.")

    @work(thread=True, exclusive=True, exit_on_error=False, group="find")
    def find_next(self, statuses: tuple[str, ...], none_left: str) -> None:
        found = next_with_status(services(self).engine, self.rationale_ids, self.index, statuses)
        self.post_message(self.Found(found, none_left))

    @dataclass
    class Found(Message):
        index: int | None
        none_left: str

    @on(Found)
    def _found(self, message: Found) -> None:
        if message.index is None or message.index == self.index:
            self._drop_held_keys("no item was opened")
            self.notify(message.none_left)
            return
        self._go(message.index - self.index)

    async def action_previous(self) -> None:
        await after_keys_handed_over(self)
        self._go(-1)

    async def action_back(self) -> None:
        """Back to the queue, which puts its cursor on the item shown last."""
        await after_keys_handed_over(self)
        self._flush_autosave()
        self.dismiss(self.state.rationale_id if self.state is not None else None)


def _with_status(state: EditorState, status: str) -> EditorState:
    from dataclasses import replace

    return replace(state, status=status)


def _with_flag(state: EditorState, note: str | None) -> EditorState:
    from dataclasses import replace

    return replace(state, flagged=note is not None, flag_note=note)
