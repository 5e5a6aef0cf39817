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


def tui(annotator: AnnotatorOption = None) -> None:
    """Open the terminal UI: your queue, the editor, blind reviews, progress and help."""
    import os

    from tui.app import create_app

    # textual-serve (``annotate serve``) runs this command on pipes with its own driver.
    on_terminal = sys.stdin.isatty() and sys.stdout.isatty()
    if not on_terminal and not os.environ.get("TEXTUAL_DRIVER"):
        from annotate.errors import ConfigError

        raise ConfigError("annotate tui needs a terminal (or use annotate serve for a browser)")

    create_app(engine(), annotator).run()


def serve(
    annotator: AnnotatorOption = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on (keep 127.0.0.1 unless behind a proxy).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free port, printed at start).")] = 8000,
) -> None:
    """Serve the same terminal UI in a web browser (textual-serve)."""
    from annotate.cli import settings
    from store.db import resolve_url

    try:
        from textual_serve.server import Server
    except ImportError:
        from annotate.errors import ConfigError

        raise ConfigError(
            "annotate serve needs textual-serve: pip install 'annotate[serve]'"
        ) from None
    engine()  # fail here, not in the browser, if the database is unusable
    if port == 0:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    command = [sys.executable, "-m", "annotate", "--db", resolve_url(settings.db), "tui"]
    if annotator:
        command += ["--annotator", annotator]
    typer.echo(f"annotate UI on http://{host}:{port}", err=False)
    sys.stdout.flush()
    Server(shlex.join(command), host=host, port=port, title="annotate").serve()


def register(app: typer.Typer) -> None:
    app.command("tui")(tui)
    app.command("serve")(serve)
