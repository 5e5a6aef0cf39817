"""Helpers shared by the command modules (output, the store, progress bars)."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer


def engine(*, create: bool = False):
    """The store named by the global ``--db`` option, at the current schema.

    A SQLite file that does not exist is refused unless ``create`` (import, demo).
    """
    from annotate.core.database import open_store
    from cli.app import settings

    return open_store(settings.db, create=create)


def print_json(data: Any) -> None:
    """JSON for scripts: UTF-8, unescaped, one document on stdout."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def is_terminal() -> bool:
    return sys.stderr.isatty()
