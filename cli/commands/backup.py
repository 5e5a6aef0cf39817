"""``annotate backup`` and ``annotate restore``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from annotate.core.plurals import counted
from cli.commands._common import print_json, settings


def _describe(report) -> str:
    size = f"{report.bytes / 1_000_000:.1f} MB"
    if report.sessions is None:
        return f"revision {report.revision}, {size}"
    return (
        f"revision {report.revision}, {counted(report.sessions, 'session')}, "
        f"{counted(report.rationale_versions, 'rationale version')}, {size}"
    )


def backup_command(
    file: Annotated[Path, typer.Argument(help="The backup file to write.", show_default=False)],
    force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Back up the database while others keep working (SQLite online backup, or pg_dump)."""
    from annotate.export.backup import backup

    report = backup(settings().db, file, force=force)
    if as_json:
        print_json(report.as_dict())
    else:
        typer.echo(f"backed up {report.database} to {report.file} ({_describe(report)})")


def restore_command(
    file: Annotated[Path, typer.Argument(help="A backup made by 'annotate backup'.")],
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace a database that holds work or a newer schema."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Restore a SQLite backup into the database in one transaction (all or nothing)."""
    from annotate.export.backup import restore
    from store.migrate import HEAD_REVISION

    report = restore(settings().db, file, force=force)
    if as_json:
        print_json(report.as_dict())
        return
    typer.echo(f"restored {report.file} into {report.database} ({_describe(report)})")
    if report.revision != HEAD_REVISION:
        typer.echo("the backup has an older schema: run 'annotate init' to upgrade it")


def register(app: typer.Typer) -> None:
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
