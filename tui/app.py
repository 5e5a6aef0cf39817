"""The App and its factory, used by ``annotate tui``, ``annotate serve`` and the tests."""

from __future__ import annotations

import gc
import getpass

from sqlalchemy.engine import Engine
from textual import events
from textual.app import App
from textual.binding import Binding
from textual.timer import Timer

from annotate.core.errors import ConfigError
from annotate.work.rationales.editor import Drafter
from tui.keys import KeyHold


def default_drafter() -> Drafter:
    """The drafting engine's one-item call (configured provider, offline without a key)."""
    from annotate.drafting import draft_one

    return draft_one


IDLE_COLLECT_SECONDS = 1.0
HOLD_LIMIT_SECONDS = 60.0  # keys held for an item that never opens are let go after this


class AnnotateApp(App[None]):
    """Experts edit drafted rationales and cross-review each other's, blind."""

    TITLE = "annotate"
    ENABLE_COMMAND_PALETTE = False
    CSS_PATH = "app.tcss"
    BINDINGS = [
        Binding("f1", "help", "Help", id="help", tooltip="Keys, the manual and the rubric."),
        Binding("question_mark", "help", "Help", show=False, id="help_question"),
        Binding("f2", "queue", "Queue", id="queue", tooltip="Back to your work queue."),
        Binding("f3", "progress", "Progress", id="progress", tooltip="Figures for project leads."),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
    ]

    def __init__(
        self,
        engine: Engine,
        annotator: str,
        *,
        drafter: Drafter,
        autosave_delay: float = 1.0,
        advance_on_accept: bool = True,
        user_keymap: dict[str, str] | None = None,
        deid_review: bool = False,
        deid_session: str | None = None,
        lead: bool = False,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.annotator = annotator
        self.drafter = drafter
        self.autosave_delay = autosave_delay
        self.advance_on_accept = advance_on_accept  # Ctrl+O moves to the next unfinished item
        self.user_keymap = user_keymap or {}
        self.sub_title = annotator
        self._key_hold = KeyHold()
        self.deid_review, self.deid_session = deid_review, deid_session  # annotate deid review
        self.lead = lead  # started as a project lead (annotate tui --lead): sees the judge

    # -- keys typed while an item opens (tui.keys) ---------------------------------------

    async def on_event(self, event: events.Event) -> None:
        if self._key_hold.active and not self._quits(event) and self._key_hold.keep(event):
            return
        await super().on_event(event)

    def _quits(self, event: events.Event) -> bool:
        """Quit is never held: a hold that never ends must not trap the expert."""
        if not isinstance(event, events.Key):
            return False
        keys = self.user_keymap.get("quit", "ctrl+q")
        return event.key in {key.strip() for key in keys.split(",")}

    def hold_keys(self) -> None:
        """From now on typed keys wait (in order) until ``release_keys``."""
        self._key_hold.start()
        hold = self._key_hold.generation
        self.set_timer(HOLD_LIMIT_SECONDS, lambda: self._hold_expired(hold))

    def _hold_expired(self, hold: int) -> None:
        """A screen that never showed its item must not leave the keyboard dead."""
        if self._key_hold.active and self._key_hold.generation == hold:
            dropped = self._key_hold.discard()
            self.notify(
                f"The item did not open in {HOLD_LIMIT_SECONDS:.0f} s; "
                f"{dropped} key(s) typed meanwhile were not applied.",
                severity="warning",
            )

    @property
    def holding_keys(self) -> bool:
        return self._key_hold.active

    def release_keys(self) -> None:
        """Hand the held keys over, after what is already queued (such as a new focus)."""
        if self._key_hold.active:
            self.call_later(self._replay_held_keys)

    def discard_held_keys(self) -> int:
        """End a hold whose move did not happen; the keys typed for it are not applied."""
        return self._key_hold.discard()

    async def _replay_held_keys(self) -> None:
        hold = self._key_hold
        hold.active = False
        while hold.keys and not hold.active:  # a replayed move holds the rest again
            await super().on_event(hold.keys.popleft())

    def on_mount(self) -> None:
        from tui.screens.queue import QueueScreen

        self.set_keymap(self.user_keymap)
        if self.deid_review:  # the lead's check, on its own (no expert's queue under it)
            from tui.screens.deid import DeidScreen

            self.push_screen(DeidScreen(self.deid_session))
        else:
            self.push_screen(QueueScreen())
        self._idle_collect: Timer | None = None
        self.set_timer(IDLE_COLLECT_SECONDS, self._freeze_startup_objects)

    def _freeze_startup_objects(self) -> None:
        """Keep full garbage collections from stalling a keystroke.

        With a 1,000-turn transcript in memory a full collection takes 50-200 ms: so once
        the first screen is up, the start-up objects (which never become garbage) are
        frozen out of the collector's view, full collections are made rarer, and one runs
        whenever the expert pauses (``collect_when_idle``).
        """
        gc.collect()
        gc.freeze()
        gc.set_threshold(700, 10, 50)

    def collect_when_idle(self) -> None:
        """Called after each screen change: collect garbage after a second without one."""
        if self._idle_collect is not None:
            self._idle_collect.stop()
        self._idle_collect = self.set_timer(IDLE_COLLECT_SECONDS, gc.collect)

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            context = getattr(self.screen, "help_context", None)
            self.push_screen(
                HelpScreen(self.screen.BINDINGS, context() if context else None, self.user_keymap)
            )

    def action_queue(self) -> None:
        from tui.screens.queue import QueueScreen

        while len(self.screen_stack) > 2 and not isinstance(self.screen, QueueScreen):
            self.pop_screen()

    def action_progress(self) -> None:
        from tui.screens.progress import ProgressScreen

        if not isinstance(self.screen, ProgressScreen):
            self.push_screen(ProgressScreen())

    async def action_quit(self) -> None:
        """Quit, first storing any editor text that the autosave has not yet caught."""
        for screen in self.screen_stack:
            flush = getattr(screen, "flush_before_exit", None)
            if flush is not None:
                flush()
        self.exit()


def keymap_owners() -> tuple[type, ...]:
    """The app and its screens, the app first (its bindings work on every screen)."""
    from tui.screens.annotate import AnnotateScreen
    from tui.screens.coding import CodingScreen
    from tui.screens.deid import DeidScreen, TurnList
    from tui.screens.deid_mark import MarkMissScreen
    from tui.screens.flag import FlagScreen
    from tui.screens.help import HelpScreen
    from tui.screens.progress import ProgressScreen
    from tui.screens.queue import QueueScreen
    from tui.screens.review import ReviewScreen

    return (AnnotateApp, AnnotateScreen, ReviewScreen, QueueScreen, ProgressScreen,
            HelpScreen, FlagScreen, CodingScreen, DeidScreen, TurnList, MarkMissScreen)  # fmt: skip


def create_app(
    engine: Engine,
    annotator: str | None = None,
    *,
    drafter: Drafter | None = None,
    autosave_delay: float = 1.0,
    advance_on_accept: bool = True,
    deid_review: bool = False,
    deid_session: str | None = None,
    lead: bool = False,
) -> AnnotateApp:
    """Build the app for one annotator (default: the OS user name); ``deid_review`` opens
    the de-identification check on ``deid_session`` (default: the first session); ``lead``
    shows the rubric judge on the progress screen (never to one who authors or reviews)."""
    if not annotator:
        try:
            annotator = getpass.getuser()
        except (OSError, KeyError):
            raise ConfigError("cannot tell your user name: give --annotator NAME") from None
    from tui.keymap import load_keymap

    return AnnotateApp(
        engine,
        annotator,
        drafter=drafter if drafter is not None else default_drafter(),
        autosave_delay=autosave_delay,
        advance_on_accept=advance_on_accept,
        user_keymap=load_keymap(keymap_owners()),
        deid_review=deid_review,
        deid_session=deid_session,
        lead=lead,
    )
