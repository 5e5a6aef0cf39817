"""Helpers shared by the command modules (output, the store, progress bars)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from typer._click.globals import get_current_context  # typer vendors click, unexported

from annotate.core.settings import Settings


def settings() -> Settings:
    """This invocation's settings: the global options and the environment, which the
    app's callback put on the click context (``ctx.obj``)."""
    ctx = get_current_context(silent=True)
    found = ctx.find_object(Settings) if ctx is not None else None
    return found if found is not None else Settings.load()


def engine(*, create: bool = False):
    """The store named by the global ``--db`` option (or ``$ANNOTATE_DB``), at the
    current schema.

    A SQLite file that does not exist is refused unless ``create`` (import, demo).
    """
    from annotate.core.database import open_store

    return open_store(settings().db, create=create)


def print_json(data: Any) -> None:
    """JSON for scripts: UTF-8, unescaped, one document on stdout."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def is_terminal() -> bool:
    return sys.stderr.isatty()


def cell(value: Any) -> str:
    """One table cell: '-' for missing, yes/no, three decimals."""
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def show_table(frame: Any, title: str) -> None:
    """A DataFrame as a rich table on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        values = [v for v in frame[column] if v is not None and v == v]
        numeric = all(isinstance(v, int | float) or hasattr(v, "dtype") for v in values)
        table.add_column(str(column), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(cell(value) for value in row))
    Console(width=160).print(table)


def estimate_cell(value: float | None, spread: float | None = None) -> str:
    """An estimate with two decimals, and its spread over folds when given (``0.52±0.08``)."""
    if value is None:
        return "-"
    return f"{value:.2f}" if spread is None else f"{value:.2f}±{spread:.2f}"


def install_file(file: Path, install: Callable[[], bool]) -> bool:
    """Run ``install()`` (a loader's install into the store); a ConfigError from it (a
    version stored with other content) is the file's fault and names it."""
    from annotate.core.errors import ConfigError

    try:
        return install()
    except ConfigError as error:
        raise ConfigError(f"{file}: {error}") from None


# Options the commands that call a model share (draft, judge, trace): one wording in every
# --help, one place to change it.
ModelOption = Annotated[
    str | None,
    typer.Option(help="Model name (default: $ANNOTATE_DRAFT_MODEL, then gpt-4o-mini)."),
]
BaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (default: "
        "$OPENAI_BASE_URL, then the OpenAI API). The key is read from OPENAI_API_KEY only.",
        show_default=False,
    ),
]
SessionsOption = Annotated[
    list[str] | None,
    typer.Option("--session", help="Only this session (repeat for more).", show_default=False),
]
ConcurrencyOption = Annotated[int, typer.Option(min=1, help="Requests in flight at once.")]
TimeoutOption = Annotated[float, typer.Option(help="Seconds per request attempt.")]
MaxRetriesOption = Annotated[
    int, typer.Option(min=0, help="Retries on 408/409/429/5xx, timeouts and resets.")
]
MaxTokensOption = Annotated[int, typer.Option(min=1, help="Maximum tokens per reply.")]
ContextBudgetOption = Annotated[
    int, typer.Option(min=200, help="Estimated tokens the transcript may take in the prompt.")
]
PriceInOption = Annotated[
    float | None,
    typer.Option(help="With --dry-run: price per million input tokens.", show_default=False),
]
PriceOutOption = Annotated[
    float | None,
    typer.Option(help="With --dry-run: price per million output tokens.", show_default=False),
]
DeidentifyModeOption = Annotated[
    str,
    typer.Option(
        help="surrogate (realistic stand-ins, the same per person across a client's "
        "sessions) or tag ([NAME_1])."
    ),
]
PollSecondsOption = Annotated[
    float, typer.Option(min=0.05, help="With --batch-api: seconds between polls.")
]


class ProgressBar:
    """A rich progress bar on stderr (when ``enabled``): LABEL, the bar, done/total, time
    left and an outcome line (failures, tokens, ...) that the command writes."""

    def __init__(self, enabled: bool, label: str) -> None:
        self.enabled, self.label = enabled, label
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn(self.label), BarColumn(bar_width=24), MofNCompleteColumn(),
                TimeRemainingColumn(), TextColumn("{task.fields[outcome]}"),
                console=Console(stderr=True),
            )  # fmt: skip
            self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def show(self, done: int, total: int, outcome: str) -> None:
        """DONE of TOTAL, with OUTCOME beside them."""
        if self._progress is None:
            return
        if self._task is None:
            self._task = self._progress.add_task(self.label, total=total, outcome=outcome)
        self._progress.update(self._task, completed=done, outcome=outcome)
