"""Helpers shared by the command modules (output, the store, progress bars)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
