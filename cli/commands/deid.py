"""``annotate deid``: what de-identification would replace, and the lead's corrections.

The counts are safe to share; the detected values (``scan --show``) go to stdout only,
for the lead's own terminal. No command here writes a value or the map to a file.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.commands._common import engine, is_terminal, print_json

if TYPE_CHECKING:
    from annotate.deid.scan import ScanRow

CATEGORY_HELP = "name, place, date, phone, email, url, id or age."
ByOption = Annotated[
    str | None,
    typer.Option("--by", help="Who makes the correction (default: your user name here)."),
]


ClientArgument = Annotated[
    str, typer.Argument(help="The client whose texts hold it.", show_default=False)
]


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        from annotate.core.errors import ConfigError

        raise ConfigError("cannot tell your user name: give --by NAME") from None


def roster(
    file: Annotated[
        Path,
        typer.Argument(
            help="A CSV file with the header name,category,client_id.", show_default=False
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Load names and places to find in every client's texts (or one client's), all or
    nothing."""
    from annotate.deid.service import load_roster

    loaded = load_roster(engine(), file)
    if as_json:
        print_json({"file": loaded.path, "entries": loaded.entries, "added": loaded.added,
                    "already": loaded.already})  # fmt: skip
        return
    entries = f"{loaded.entries} {'entry' if loaded.entries == 1 else 'entries'}"
    typer.echo(f"{loaded.path}: {entries}, {loaded.added} added, {loaded.already} already loaded")


def scan(
    sessions: Annotated[
        list[str] | None,
        typer.Option("--session", help="A session to scan (repeat it; default: every session)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    show: Annotated[
        bool,
        typer.Option(
            "--show",
            help="Also print the values found (to stdout only: keep them on your screen).",
        ),
    ] = False,
) -> None:
    """Count per session and category what de-identification would replace (nothing is
    stored); --show adds the values found."""
    from annotate.deid.detect import CATEGORIES
    from annotate.deid.scan import scan as scan_sessions

    store = engine()
    wanted = list(sessions) if sessions else None
    if is_terminal() and not as_json:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        columns = ("[progress.description]{task.description}", BarColumn(),
                   MofNCompleteColumn(), TimeRemainingColumn())  # fmt: skip
        with Progress(*columns, transient=True) as bar:
            task = bar.add_task("scanning sessions", total=None)
            rows = scan_sessions(
                store, wanted, values=show,
                on_progress=lambda done, total: bar.update(task, completed=done, total=total),
            )  # fmt: skip
    else:
        rows = scan_sessions(store, wanted, values=show)
    if as_json:
        print_json(_scan_json(rows, show))
        return
    _scan_table(rows, CATEGORIES, show)


def _scan_json(rows: list[ScanRow], show: bool) -> dict[str, Any]:
    from annotate.deid.detect import CATEGORIES

    totals = dict.fromkeys(CATEGORIES, 0)
    for row in rows:
        for category, count in row.counts.items():
            totals[category] = totals.get(category, 0) + count
    sessions = []
    for row in rows:
        entry: dict[str, Any] = {"session_id": row.session_id, "client_id": row.client_id,
                                 "language": row.language, "turns": row.turns,
                                 "counts": row.counts, "total": row.total}  # fmt: skip
        if show:
            entry["values"] = {category: list(found) for category, found in row.values.items()}
        sessions.append(entry)
    return {"sessions": sessions, "totals": totals}


def _scan_table(rows: list[ScanRow], categories: tuple[str, ...], show: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="What de-identification would replace", title_justify="left")
    table.add_column("session")
    table.add_column("client")
    for category in categories:
        table.add_column(category, justify="right")
    table.add_column("total", justify="right")
    for row in rows:
        table.add_row(row.session_id, row.client_id,
                      *(str(row.counts.get(c, 0)) for c in categories), str(row.total))  # fmt: skip
    if len(rows) > 1:
        sums = [sum(row.counts.get(c, 0) for row in rows) for c in categories]
        table.add_section()
        table.add_row("all", "", *map(str, sums), str(sum(sums)))
    console = Console(width=max(100, 24 + 9 * len(categories)), highlight=False)
    console.print(table)
    if not show:
        return
    for row in rows:
        found = [(c, row.values.get(c, ())) for c in categories if row.values.get(c)]
        if not found:
            continue
        console.print(f"{row.session_id} ({row.client_id})", markup=False)
        for category, values in found:
            console.print(f"  {category}: {' | '.join(values)}", markup=False)


def mark(
    client: ClientArgument,
    text: Annotated[
        str, typer.Argument(help="The text to replace from now on.", show_default=False)
    ],  # fmt: skip
    category: Annotated[
        str | None, typer.Option("--category", help=CATEGORY_HELP, show_default=False)
    ] = None,
    by: ByOption = None,
) -> None:
    """Mark a text the detector missed: replaced in the client's texts from now on."""
    from annotate.core.errors import ConfigError
    from annotate.deid.roster import said_by
    from annotate.deid.service import mark as mark_text

    if category is None:
        raise ConfigError(f"say what {text!r} is: --category {CATEGORY_HELP.rstrip('.')}")
    store = engine()
    made = mark_text(store, client, text, category, _who(by))
    typer.echo(f"correction {made}: {text!r} ({category}) is replaced in {client}'s texts "
               "from now on")  # fmt: skip
    if not said_by(store, client, text):
        typer.echo(f"note: {text!r} is not written in any of {client}'s sessions (a typo?)",
                   err=True)  # fmt: skip


def unmark(
    client: ClientArgument,
    text: Annotated[
        str, typer.Argument(help="The text to keep from now on.", show_default=False)
    ],  # fmt: skip
    by: ByOption = None,
) -> None:
    """Unmark a false hit: the text is never replaced in the client's texts from now on."""
    from annotate.deid.service import unmark as unmark_text

    made = unmark_text(engine(), client, text, _who(by))
    typer.echo(f"correction {made}: {text!r} is kept as it is in {client}'s texts from now on")


def corrections(
    client: Annotated[str | None, typer.Option("--client", help="Only this client's.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """List the corrections of detections (marked misses, unmarked false hits)."""
    from annotate.deid.service import corrections as stored

    rows = stored(engine(), client)
    if as_json:
        print_json({"corrections": [
            {"id": r.id, "client_id": r.client_id, "text": r.text, "category": r.category,
             "action": r.action, "made_by": r.made_by, "created_at": r.created_at}
            for r in rows
        ]})  # fmt: skip
        return
    if not rows:
        typer.echo("no corrections stored")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Corrections of de-identification", title_justify="left")
    for column in ("id", "client", "action", "category", "text", "by", "when"):
        table.add_column(column, justify="right" if column == "id" else "left")
    for r in rows:
        when = r.created_at.strftime("%Y-%m-%d %H:%M") if r.created_at else "-"
        table.add_row(str(r.id), r.client_id, r.action, r.category or "-", r.text, r.made_by,
                      when)  # fmt: skip
    Console(width=120, highlight=False).print(table)


def review(
    session: Annotated[
        str | None,
        typer.Argument(help="The session to open (default: the first).", show_default=False),
    ] = None,
    by: ByOption = None,
) -> None:
    """Check and correct detections in the terminal UI, turn by turn."""
    import os
    import sys

    from annotate.core.errors import ConfigError

    on_terminal = sys.stdin.isatty() and sys.stdout.isatty()
    if not on_terminal and not os.environ.get("TEXTUAL_DRIVER"):
        raise ConfigError("annotate deid review needs a terminal")
    from tui.app import create_app

    store = engine()
    if session is not None:
        from annotate.deid.scan import client_of

        client_of(store, session)  # a session that does not exist: one line, now
    app = create_app(store, _who(by), deid_review=True, deid_session=session)
    app.run()
    if app.return_code:
        raise typer.Exit(app.return_code)


def register(app: typer.Typer) -> None:
    deid = typer.Typer(
        help="De-identification: scan what would be replaced, load a roster, correct detections.",
        no_args_is_help=True,
    )
    deid.command("scan")(scan)
    deid.command("roster")(roster)
    deid.command("mark")(mark)
    deid.command("unmark")(unmark)
    deid.command("corrections")(corrections)
    deid.command("review")(review)
    app.add_typer(deid, name="deid")
