"""``annotate progress``: counts for project leads and scripts."""

from __future__ import annotations

from typing import Annotated

import typer

from annotate.commands._common import engine, print_json

LABELS = {
    "sessions": "Sessions",
    "clients": "Clients",
    "counselors": "Counselors",
    "turns": "Turns",
    "items": "Items to explain (session x item with a client rating)",
    "client_ratings": "Client ratings",
    "counselor_ratings": "Counselor ratings",
    "drafts": "Drafts",
    "rationales": "Rationales",
    "rationale_versions": "Saved rationale versions",
    "reviews": "Reviews",
    "annotators": "Annotators",
}


def progress(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show how many sessions, items, ratings, drafts, rationales and reviews are stored."""
    from annotate.progress import counts

    figures = counts(engine())
    if as_json:
        print_json(figures)
        return
    width = max(len(label) for label in LABELS.values())
    for key, label in LABELS.items():
        typer.echo(f"{label:<{width}}  {figures[key]:>8}")


def register(app: typer.Typer) -> None:
    app.command("progress")(progress)
