"""``annotate tui`` and ``annotate serve``: the experts' terminal UI, locally or in a browser."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.commands._common import engine, settings

AnnotatorOption = Annotated[
    str | None,
    typer.Option(help="Your annotator name (default: your user name on this computer)."),
]


def tui(
    annotator: AnnotatorOption = None,
    stay_on_accept: Annotated[
        bool,
        typer.Option(
            "--stay-on-accept", help="Stay on an item after accepting it (default: move on)."
        ),
    ] = False,
    lead: Annotated[
        bool,
        typer.Option(
            "--lead",
            help="As the project lead: the progress screen also shows the rubric judge's "
            "scores (never to an annotator who authors or reviews: review is blind).",
        ),
    ] = False,
) -> None:
    """Open the terminal UI: your queue, the editor, blind reviews, progress and help."""
    import os

    from tui.app import create_app

    # textual-serve (``annotate serve``) runs this command on pipes with its own driver.
    on_terminal = sys.stdin.isatty() and sys.stdout.isatty()
    if not on_terminal and not os.environ.get("TEXTUAL_DRIVER"):
        from annotate.core.errors import ConfigError

        raise ConfigError("annotate tui needs a terminal (or use annotate serve for a browser)")

    app = create_app(engine(), annotator, advance_on_accept=not stay_on_accept, lead=lead)
    app.run()
    if app.return_code:  # the UI stopped on an error (its traceback is shown): say so
        raise typer.Exit(app.return_code)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve(
    annotator: AnnotatorOption = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on (keep 127.0.0.1 unless behind a proxy).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free port, printed at start).")] = 8000,
    logins: Annotated[
        Path | None,
        typer.Option(
            help="Team mode: each expert logs in with the secret 'annotate login add' made "
            "for them, and works only as themselves."
        ),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(help="The address experts open, when a proxy (TLS) is in front."),
    ] = None,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="Listen on an address other than loopback (put a TLS proxy in front).",
        ),
    ] = False,
) -> None:
    """Serve the terminal UI in a web browser: to whoever holds the printed key, or to a
    team whose experts each log in (--logins)."""
    import os

    from annotate.core.errors import ConfigError
    from store.db import resolve_url

    try:
        from tui.serve import KeyServer, TeamServer, new_key
    except ImportError:
        raise ConfigError(
            "annotate serve needs textual-serve: pip install 'annotate[serve]'"
        ) from None
    if host not in LOOPBACK and not allow_remote:
        raise ConfigError(
            f"serving on {host} would let other machines reach the transcripts: keep "
            "127.0.0.1, or pass --allow-remote with a TLS proxy in front"
        )
    if logins is not None and annotator:
        raise ConfigError("with --logins each expert logs in as themselves: drop --annotator")
    check = None
    if logins is not None:
        from tui.logins import LoginCheck, read_logins

        if not read_logins(logins):
            raise ConfigError(f"{logins} has no logins: add one with 'annotate login add NAME'")
        check = LoginCheck.from_file(logins)
    engine()  # fail here, not in the browser, if the database is unusable
    if port == 0:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    # The database URL (it may hold a password) reaches the UI processes in their
    # environment, never on a command line that every local user can read in ps.
    os.environ["ANNOTATE_DB"] = resolve_url(settings().db)
    # -P: the UI processes import the installed annotate, never a folder named annotate/
    # (or store/, tui/) in the directory the server was started from.
    command = [sys.executable, "-P", "-m", "annotate", "tui"]
    server: KeyServer | TeamServer
    if check is not None:
        server = TeamServer(command, logins=check, host=host, port=port, public_url=public_url)
    else:
        server = KeyServer(command, annotator=annotator, key=new_key(), host=host, port=port,
                           public_url=public_url)  # fmt: skip
    if host not in LOOPBACK:
        typer.echo(
            f"warning: listening on {host}: put a TLS proxy in front, and give the "
            "address it serves as --public-url",
            err=True,
        )
    typer.echo(f"annotate UI on {server.url}")
    if check is not None:
        typer.echo(f"each expert logs in there with their own secret ({', '.join(check.names)})")
    else:
        typer.echo("open that address in your browser; the key in it changes at every start")
    sys.stdout.flush()
    server.serve()


login_app = typer.Typer(help="Per-expert logins for 'annotate serve --logins FILE'.")

LoginsFile = Annotated[Path, typer.Option(help="The logins file 'annotate serve --logins' reads.")]


@login_app.command("add")
def login_add(
    name: Annotated[str, typer.Argument(help="The expert's annotator name.")],
    logins: LoginsFile,
    replace: Annotated[
        bool, typer.Option("--replace", help="Give an expert who has a login a new secret.")
    ] = False,
) -> None:
    """Make a secret for one expert and store only its hash; the secret is shown once."""
    from tui.logins import add_login

    secret = add_login(logins, name, replace=replace)
    typer.echo(f"login for {name} stored in {logins} (a running server reads it at once)")
    typer.echo(f"secret (shown once; hand it to {name} privately): {secret}")


@login_app.command("remove")
def login_remove(
    name: Annotated[str, typer.Argument(help="The expert's annotator name.")],
    logins: LoginsFile,
) -> None:
    """Remove an expert's login: a running server closes their open terminals within seconds."""
    from tui.logins import remove_login

    remove_login(logins, name)
    typer.echo(f"login for {name} removed from {logins}; a running server closes their sessions")


@login_app.command("list")
def login_list(logins: LoginsFile) -> None:
    """The experts who can log in, with when their secret was made."""
    from tui.logins import read_logins

    for login in read_logins(logins).values():
        typer.echo(f"{login.name}\t{login.created}")


def register(app: typer.Typer) -> None:
    app.command("tui")(tui)
    app.command("serve")(serve)
    app.add_typer(login_app, name="login")
