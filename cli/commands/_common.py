"""Helpers shared by the command modules (output, the store, progress bars)."""

from __future__ import annotations

import json
import sys
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
