"""Helpers shared by the command modules (output, the store, progress bars)."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer


def engine():  # type: ignore[no-untyped-def]
    """The store named by the global ``--db`` option, at the current schema."""
    from annotate.cli import settings
    from annotate.database import open_store

    return open_store(settings.db)


def print_json(data: Any) -> None:
    """JSON for scripts: UTF-8, unescaped, one document on stdout."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def is_terminal() -> bool:
    return sys.stderr.isatty()
