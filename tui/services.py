"""How screens reach the domain services: the running app, typed by what screens use.

Screens never import the app module (the app opens the screens); they ask
:func:`services` for the app's store, expert and drafter, and for the key hold that
keeps keys typed while an item opens for that item.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from sqlalchemy.engine import Engine
from textual.dom import DOMNode

from annotate.research.stored import SessionTrace
from annotate.work.rationales.editor import Drafter


@runtime_checkable
class Services(Protocol):
    """What a screen may use of the running app (``tui.app.AnnotateApp`` provides it)."""

    engine: Engine
    annotator: str
    drafter: Drafter
    autosave_delay: float
    advance_on_accept: bool
    user_keymap: dict[str, str]
    lead: bool  # started with --lead: the progress screen may show the rubric judge

    def hold_keys(self) -> None: ...

    def release_keys(self) -> None: ...

    def discard_held_keys(self) -> int: ...

    def collect_when_idle(self) -> None: ...


def services(node: DOMNode) -> Services:
    """The running app's services, typed (no casts: mypy checks every screen-to-service
    call); a screen mounted in another app is refused."""
    app = node.app
    if not isinstance(app, Services):
        raise TypeError(f"{type(node).__name__} runs outside annotate's app")
    return app


def session_trace(engine: Engine, session_id: str) -> SessionTrace | None:
    """The session's newest stored alliance trace (``annotate trace``), None if never
    traced: what the editor's and the coding screen's strip show (read in a worker)."""
    from sqlmodel import Session

    from annotate.research import stored
    from store.db import reader

    with Session(reader(engine)) as session:
        return stored.session_trace(session, session_id)
