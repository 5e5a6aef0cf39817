"""``annotate progress``: counts for project leads and scripts."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.commands._common import engine, print_json

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
    "codings": "Turn codings (3RS)",
}


def progress(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show how many sessions, items, ratings, drafts, rationales and reviews are stored,
    and how many units are reviewed by two people (what Krippendorff's alpha needs).

    Clients not on track (``annotate alliance watch``) are listed first in the text
    output; ``--json`` keeps to the counts (use ``annotate alliance watch --json``)."""
    from annotate.core.vocabulary import current_rubric
    from annotate.work.progress import (
        agreement_line,
        agreement_progress,
        coding_detail,
        counts,
        detail,
        judge_progress,
    )

    store = engine()
    figures: dict[str, Any] = {**counts(store), **detail(store),
                               "agreement": agreement_progress(store),
                               "codings_by_coder": coding_detail(store)}  # fmt: skip
    judged = judge_progress(store)
    if judged is not None:  # leads only: reviewers never see the judge (blind review)
        figures["judge"] = judged
    if as_json:
        print_json(figures)
        return
    for line in not_on_track_lines(store):
        typer.echo(line)
    rubric = current_rubric(store)
    headings = {name: criterion.heading for name, criterion in rubric.criteria.items()}
    width = max(len(label) for label in LABELS.values())
    for key, label in LABELS.items():
        typer.echo(f"{label:<{width}}  {figures[key]:>8}")
    typer.echo(agreement_line(figures["agreement"]))
    if judged is not None:
        for line in judge_table(judged):
            typer.echo(line)
    for title, key in (("annotator", "by_annotator"), ("dimension", "by_dimension")):
        if figures[key]:
            typer.echo("")
            for line in detail_table(title, figures[key], headings):
                typer.echo(line)
    if figures["codings_by_coder"]:
        typer.echo("")
        for line in coding_table(figures["codings_by_coder"]):
            typer.echo(line)


def not_on_track_lines(store: Any) -> list[str]:
    """Clients not on track, flagged clients first, then a blank line; none when no client
    is flagged (``annotate alliance watch`` has the thresholds and every session)."""
    from cli.commands.alliance import flagged_lines

    lines = flagged_lines(store)
    return [*lines, ""] if lines else []


def judge_table(judged: dict[str, Any]) -> list[str]:
    """The judge's coverage and means, then the weakest by judge first, as plain text."""
    from annotate.work.progress import WEAKEST_HEADERS, judge_lines, weakest_rows

    lines = judge_lines(judged)
    rows = weakest_rows(judged)
    if rows:
        lines.append(f"Weakest by judge first ({len(rows)}):")
        lines += text_table(list(WEAKEST_HEADERS), rows)
    return lines


def text_table(headers: list[str], body: list[list[str]]) -> list[str]:
    """Rows as plain-text columns: numbers right-aligned, text left."""
    widths = [max(len(r[i]) for r in [headers, *body]) for i in range(len(headers))]
    numeric = [all(r[i].isdigit() or r[i] == "-" for r in body) for i in range(len(headers))]
    return [
        "  ".join(
            c.rjust(w) if right else c.ljust(w)
            for c, w, right in zip(r, widths, numeric, strict=True)
        ).rstrip()
        for r in [headers, *body]
    ]


def coding_columns() -> tuple[tuple[str, str], ...]:
    """The coding table's columns: roles, each coding status with its label, reviews."""
    from annotate.core.workflow import CODING_STATUSES
    from annotate.work.progress import CODING_ROLE_LABELS

    return (
        *CODING_ROLE_LABELS.items(),
        *((str(status), status.label) for status in CODING_STATUSES),
        ("reviews_given", "reviews given"),
        ("reviews_pending", "to review"),
    )


def coding_table(rows: dict[str, dict[str, int]]) -> list[str]:
    """Turn coding per coder, as plain text."""
    columns = coding_columns()
    headers = ["coder (3RS)", *(label for _, label in columns)]
    body = [[name, *(str(row[key]) for key, _ in columns)] for name, row in rows.items()]
    widths = [max(len(r[i]) for r in [headers, *body]) for i in range(len(headers))]
    return [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths,
                                                                               strict=True)))
        for r in [headers, *body]
    ]  # fmt: skip


def detail_table(
    title: str, rows: dict[str, dict[str, Any]], headings: dict[str, str]
) -> list[str]:
    """A plain-text table of the per-annotator or per-dimension figures; ``headings``
    names the rubric's criteria (their score means close each row)."""
    from annotate.work.progress import STAGE_LABELS

    every = (("items", "items"), *STAGE_LABELS.items(),
             ("reviews_given", "reviews given"), ("reviews_pending", "to review"))  # fmt: skip
    first = next(iter(rows.values()))
    columns = [(key, label) for key, label in every if key in first]
    headers = [title, *(label for _, label in columns), *headings.values()]
    body = []
    for name, figures in rows.items():
        means = [figures["score_means"].get(c) for c in headings]
        body.append(
            [name, *(str(figures[key]) for key, _ in columns)]
            + ["-" if m is None else f"{m:.2f}" for m in means]
        )
    widths = [max(len(row[i]) for row in [headers, *body]) for i in range(len(headers))]
    return [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [headers, *body]
    ]


def flags_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The items experts flagged for the project lead: note, author, status and time."""
    from annotate.work.rationales.flags import flags

    found = flags(engine())
    if as_json:
        print_json({"flags": [flag.as_json() for flag in found]})
        return
    if not found:
        typer.echo("no flagged items")
        return
    for flag in found:
        when = f"{flag.flagged_at:%Y-%m-%d %H:%M}" if flag.flagged_at else "-"
        typer.echo(
            f"{when}  {flag.session_id} {flag.item_id} ({flag.dimension})  "
            f"{flag.author or '-'}  [{flag.status}]  {flag.note or ''}"
        )


def register(app: typer.Typer) -> None:
    app.command("progress")(progress)
    app.command("flags")(flags_command)
