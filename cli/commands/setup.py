"""``annotate init``, ``annotate demo`` and ``annotate instrument``: set up a store."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from annotate.core.plurals import counted
from cli.commands._common import engine, install_file, print_json, settings


def init(
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Create the database or upgrade its schema, and install the default instrument."""
    from annotate.core.database import initialise, safe_url
    from store.db import resolve_url
    from store.migrate import HEAD_REVISION

    db = settings().db
    _, before = initialise(db)
    url = resolve_url(db)
    if as_json:
        print_json({"database": safe_url(url), "from_revision": before, "revision": HEAD_REVISION})
    elif before == HEAD_REVISION:
        typer.echo(f"{safe_url(url)}: already at schema revision {HEAD_REVISION}")
    else:
        typer.echo(f"{safe_url(url)}: schema {before or 'empty'} -> {HEAD_REVISION}")


def demo(
    fresh: Annotated[
        bool, typer.Option("--fresh/--keep", help="Start from an empty database file.")
    ] = True,
    ui: Annotated[
        bool, typer.Option("--ui/--no-ui", help="Open the terminal UI when on a terminal.")
    ] = True,
) -> None:
    """Load the synthetic demo corpus, draft and trace it offline, then open the UI (or print
    a summary).

    A line each for the counselor effects and the clients not on track follows the
    summary, or the UI once it is closed."""
    from annotate.core.database import safe_url
    from annotate.core.demo import DEMO_CODINGS, DEMO_FILES, DEMO_MONITORING, annotated_session_ids
    from annotate.ingest import import_file
    from store.db import resolve_url

    given = settings()
    url = resolve_url(given.db)
    if fresh and url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = engine(create=True)
    for path in (*DEMO_FILES, DEMO_MONITORING):
        typer.echo(import_file(store, path).summary())
    from annotate.ingest.codings import import_codings_file

    typer.echo(import_codings_file(store, DEMO_CODINGS).summary())
    from annotate.drafting import DraftSettings, WorkSelection, make_provider, run_batch
    from cli.commands.draft import summary_line

    offline = make_provider(DraftSettings(provider="offline"), given.endpoint)
    # Every item of the annotated sessions, the imported accepted ones too: the demo's
    # drafts-vs-finals figures. The monitoring sessions are rated, not annotated.
    annotated_ids = annotated_session_ids()
    annotated = WorkSelection(sessions=annotated_ids, include_accepted=True)
    typer.echo(summary_line(run_batch(store, offline, annotated), None))
    _hand_out_demo_coding(store)
    from annotate.drafting.markers import OFFLINE_MODEL, run_markers

    typer.echo(run_markers(store, None).summary(f"offline/{OFFLINE_MODEL}"))
    from annotate.research.trace import run_trace

    typer.echo(run_trace(store).summary())  # the strip beside every transcript
    from annotate.work.progress import counts

    figures = counts(store)
    typer.echo(
        f"demo ready in {safe_url(url)}: {counted(figures['sessions'], 'session')} "
        f"({len(annotated_ids)} annotated, the others rated for monitoring), "
        f"{counted(figures['items'], 'item')}, {counted(figures['drafts'], 'draft')}, "
        f"{counted(figures['rationales'], 'rationale')}, "
        f"{counted(figures['reviews'], 'review')}, {counted(figures['codings'], 'turn coding')}"
    )
    if ui and sys.stdin.isatty() and sys.stdout.isatty():
        _open_demo_ui(store)
        # What a lead reads beside the experts' work, once the UI is closed (not before
        # it opens: the fits take seconds).
        for line in _monitoring_lines(store):
            typer.echo(line)
        return
    for line in _monitoring_lines(store):
        typer.echo(line)
    if ui:
        _hand_out_demo_work(store)
        db = "" if given.db_option is None else f"--db {shlex.quote(given.db_option)} "
        typer.echo(
            "no terminal here, so the UI did not open: in a terminal run "
            f"'annotate {db}tui --annotator ana' (or 'annotate {db}serve --annotator ana' "
            "for a browser)"
        )


def _monitoring_lines(store) -> list[str]:
    """The demo's counselor effects and clients not on track, in a line each (the intervals
    and trajectories are in 'annotate alliance counselors' and 'annotate alliance watch')."""
    from annotate.research.counselors import counselor_effects
    from annotate.research.watch import not_on_track

    effects = counselor_effects(store, samples=0)  # no bootstrap: the demo stays quick
    shares = ", ".join(
        f"{d.dimension} {d.icc:.2f}" for d in effects.dimensions if d.icc is not None
    )
    first = effects.dimensions[0]
    gaps = [c for c in effects.counselors if c.dimension == first.dimension][:2]
    above = ", ".join(
        f"{c.counselor_id} {c.gap_estimate:+.2f}" for c in gaps if c.gap_estimate is not None
    )
    lines = [
        f"counselor effects: ICC {shares} ({counted(first.n_counselors, 'counselor')}, "
        f"{counted(first.n_clients, 'client')}); rating above their clients most "
        f"({first.dimension}): {above}; see 'annotate alliance counselors'"
    ]
    watch = not_on_track(store)
    flagged = []
    for track in (t for t in watch.clients if t.flags):
        session = next(f.session_id for f in watch.flags if f.client_id == track.client_id)
        state = ("missed by the counselor" if track.missed else "no counselor rating"
                 if track.unknown else "the counselor's rating fell too")  # fmt: skip
        flagged.append(f"{track.client_id} ({session}, {state})")
    lines.append(
        f"clients not on track: {'; '.join(flagged) or 'none'}; see 'annotate alliance watch'"
    )
    return lines


def _hand_out_demo_work(store) -> None:
    """Give the demo experts their work on the annotated sessions (idempotent)."""
    from annotate.core.demo import annotated_session_ids
    from annotate.work.assignment import assign_authoring, assign_reviews
    from annotate.work.reviews.queue import review_queue

    assign_authoring(store, ["ana", "ben", "chen"], seed=0, sessions=annotated_session_ids())
    if not review_queue(store, "ana"):
        assign_reviews(store, fraction=1.0, overlap=2, seed=0)


def _hand_out_demo_coding(store) -> None:
    """ana codes two rupture sessions (s08 and s12) with the hinter's proposals; the
    imported codings of s03, s07, s11 and s14 get reviewers (idempotent)."""
    from annotate.work.codings import assign_codings

    assign_codings(store, ["ana"], sessions=["s08", "s12"])
    assign_codings(store, ["ana", "ben", "chen"], sessions=["s03", "s07", "s11", "s14"],
                   reviewers=True)  # fmt: skip


def _open_demo_ui(store) -> None:
    """Give the demo experts their work and open the UI as the first of them."""
    from tui.app import create_app

    _hand_out_demo_work(store)
    create_app(store, "ana").run()


def instrument_load(
    file: Annotated[Path, typer.Argument(help="An instrument TOML file.", show_default=False)],
) -> None:
    """Load or update an instrument (e.g. a licensed official wording) from a TOML file."""
    from annotate.core.guidelines import load_instrument
    from annotate.core.instruments import install_instrument
    from store.db import session_scope

    spec = load_instrument(file)

    def install() -> bool:
        with session_scope(engine()) as session:
            return install_instrument(session, spec)

    changed = install_file(file, install)
    state = "loaded" if changed else "unchanged"
    typer.echo(f"{spec.id} {spec.version} ({counted(len(spec.items), 'item')}): {state}")


def rubric_load(
    file: Annotated[Path, typer.Argument(help="A rubric TOML file.", show_default=False)],
) -> None:
    """Make a rubric (its criteria, scale and threshold) the one reviews are scored on."""
    from annotate.core.guidelines import load_rubric
    from annotate.core.vocabulary import install_rubric

    rubric = load_rubric(file)

    def install() -> bool:
        with engine().begin() as connection:
            return install_rubric(connection, rubric)

    changed = install_file(file, install)
    state = "loaded" if changed else "unchanged, now in use"
    typer.echo(f"rubric {rubric.version} ({', '.join(rubric.criteria)}): {state}")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("demo")(demo)
    instrument = typer.Typer(help="Manage rating instruments.", no_args_is_help=True)
    instrument.command("load")(instrument_load)
    app.add_typer(instrument, name="instrument")
    rubric = typer.Typer(help="Manage the cross-review rubric.", no_args_is_help=True)
    rubric.command("load")(rubric_load)
    app.add_typer(rubric, name="rubric")
