"""``annotate import``: validated import of sessions, rationales and reviews."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.commands._common import engine, is_terminal, print_json


def import_command(
    file: Annotated[Path, typer.Argument(help="A .jsonl or .csv file.", show_default=False)],
    kind: Annotated[
        str | None,
        typer.Option(
            help="sessions, rationales, reviews (default: told from the records), or "
            "predictions (a model's rationales for blind review; needs --source), "
            "codings (turn codes of a marker scheme such as 3RS)."
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(help="With --kind predictions: the model's name, shown to no reviewer."),
    ] = None,
    ratings: Annotated[
        Path | None,
        typer.Option(help="For a sessions CSV: the wide ratings CSV (session_id, rater, items)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and report without writing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Import a JSONL or CSV file in one transaction; any error means nothing is written."""
    from annotate.core.errors import ConfigError
    from annotate.ingest import import_file

    if (kind == "predictions") != (source is not None):
        raise ConfigError("predictions are imported with --kind predictions --source MODEL")
    if kind == "codings":
        from annotate.ingest.codings import import_codings_file

        coded = import_codings_file(engine(), file, dry_run=dry_run)
        if as_json:
            print_json({"file": coded.path, "kind": "codings", "records": coded.records,
                        "created": coded.created, "updated": coded.updated,
                        "unchanged": coded.unchanged, "dry_run": dry_run})  # fmt: skip
        else:
            typer.echo(coded.summary())
        return
    if kind == "predictions":
        from annotate.ingest.predictions import import_predictions

        assert source is not None
        outcome = import_predictions(engine(), file, source)
        if as_json:
            print_json({"file": outcome.path, "kind": "predictions", "source": outcome.source,
                        "records": outcome.records, "created": outcome.created,
                        "updated": outcome.updated, "unchanged": outcome.unchanged,
                        "dry_run": False})  # fmt: skip
        else:
            typer.echo(outcome.summary())
        return
    store = engine(create=True)
    if is_terminal() and not as_json and file.is_file():
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        columns = (
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, transient=True) as bar:
            task = bar.add_task(f"importing {file.name}", total=file.stat().st_size)
            result = import_file(
                store,
                file,
                kind=kind,
                ratings_path=ratings,
                dry_run=dry_run,
                on_bytes=lambda n: bar.advance(task, n),
            )
    else:
        result = import_file(store, file, kind=kind, ratings_path=ratings, dry_run=dry_run)
    if as_json:
        print_json(
            {
                "file": result.path,
                "kind": result.kind,
                "records": result.records,
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "dry_run": result.dry_run,
            }
        )
    else:
        typer.echo(result.summary())


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)
