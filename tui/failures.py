"""Show what a background worker failed with: workers post their state to their screen only."""

from __future__ import annotations

from textual.widget import Widget
from textual.worker import Worker, WorkerState

from annotate.core.errors import AnnotateError

# Seconds an error stays up: the app's default for every notice (Textual's 5 s). Notices
# sit over the right-hand column (app.tcss, Toast), never over the transcript.
ERROR_SECONDS = 5.0


def notify_failure(node: Widget, event: Worker.StateChanged) -> None:
    """A failed worker's error as a notification: a domain error's one line, else its type."""
    error = event.worker.error
    if event.state != WorkerState.ERROR or error is None:
        return
    message = str(error) if isinstance(error, AnnotateError) else f"{type(error).__name__}: {error}"
    node.notify(message, title="not done", severity="error", timeout=ERROR_SECONDS)
