"""``annotate tui`` and ``annotate serve``: the experts' terminal UI, locally or in a browser."""

from __future__ import annotations

import shlex
import socket
import sys
from typing import Annotated

import typer

from annotate.commands._common import engine

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
) -> None:
    """Open the terminal UI: your queue, the editor, blind reviews, progress and help."""
    import os

    from tui.app import create_app

    # textual-serve (``annotate serve``) runs this command on pipes with its own driver.
    on_terminal = sys.stdin.isatty() and sys.stdout.isatty()
    if not on_terminal and not os.environ.get("TEXTUAL_DRIVER"):
        from annotate.errors import ConfigError

        raise ConfigError("annotate tui needs a terminal (or use annotate serve for a browser)")

    create_app(engine(), annotator, advance_on_accept=not stay_on_accept).run()


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve(
    annotator: AnnotatorOption = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on (keep 127.0.0.1 unless behind a proxy).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free port, printed at start).")] = 8000,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="Listen on an address other than loopback (put an authenticating proxy in front).",
        ),
    ] = False,
) -> None:
    """Serve the same terminal UI in a web browser, to whoever holds the printed key."""
    import os

    from annotate.cli import settings
    from annotate.errors import ConfigError
    from store.db import resolve_url

    try:
        from tui.serve import PrivateServer, new_key
    except ImportError:
        raise ConfigError(
            "annotate serve needs textual-serve: pip install 'annotate[serve]'"
        ) from None
    if host not in LOOPBACK and not allow_remote:
        raise ConfigError(
            f"serving on {host} would let other machines reach the transcripts: keep "
            "127.0.0.1, or pass --allow-remote with an authenticating proxy in front"
        )
    engine()  # fail here, not in the browser, if the database is unusable
    if port == 0:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    # The database URL (it may hold a password) reaches the UI processes in their
    # environment, never on a command line that every local user can read in ps.
    os.environ["ANNOTATE_DB"] = resolve_url(settings.db)
    command = [sys.executable, "-m", "annotate", "tui"]
    if annotator:
        command += ["--annotator", annotator]
    server = PrivateServer(shlex.join(command), host=host, port=port, key=new_key(),
                           title="annotate")  # fmt: skip
    if host not in LOOPBACK:
        typer.echo(
            f"warning: listening on {host}: anyone who can reach it and has the key gets "
            "the UI; put an authenticating proxy (TLS, single sign-on) in front",
            err=True,
        )
    typer.echo(f"annotate UI on {server.url}")
    typer.echo("open that address in your browser; the key in it changes at every start")
    sys.stdout.flush()
    server.serve()


def register(app: typer.Typer) -> None:
    app.command("tui")(tui)
    app.command("serve")(serve)
