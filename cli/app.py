"""The ``annotate`` command line: a thin Typer layer over the domain services.

Heavy libraries (pandas, openai, textual, scipy) are imported inside the commands
that need them, so that ``annotate --help`` and small commands start fast.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from annotate.core.errors import AnnotateError, ConfigError, ImportFailed


@dataclass
class Settings:
    """Global options, set by the callback before any command runs."""

    db: str | None = None
    debug: bool = False


settings = Settings()


HELP_ORDER = (
    "init", "demo", "import", "instrument", "draft", "assign", "tui", "serve", "login",
    "review-assign", "codes", "progress", "flags", "agreement", "alignment", "edits", "lexicon",
    "report",
    "export", "evaluate", "backup", "restore",
)  # fmt: skip


class _Group(TyperGroup):
    """Turns domain errors into one line on stderr and a non-zero exit."""

    # typer.Context subclasses typer's vendored click Context, which typer does not export.
    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        """Commands in the order of the workflow, so ``--help`` reads as a recipe."""
        known = {name: index for index, name in enumerate(HELP_ORDER)}
        return sorted(self.commands, key=lambda name: (known.get(name, len(known)), name))

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except AnnotateError as error:
            if settings.debug:
                raise
            report_error(error)
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            if settings.debug:
                raise
            typer.echo("interrupted: finished work is saved", err=True)
            ctx.exit(130)
        except OSError as error:
            # A file the command could not read or write: its name and the reason.
            if settings.debug:
                raise
            where = f"{error.filename}: " if error.filename else ""
            report_error(ConfigError(f"{where}{error.strerror or error}"))
            ctx.exit(ConfigError.exit_code)
        except Exception as error:
            # A database that cannot be used (read-only, damaged, not a database, locked
            # too long): one line naming it, never a traceback with SQL or row parameters.
            from annotate.core.database import driver_error

            problem = None if settings.debug else driver_error(settings.db, error)
            if problem is None:
                raise
            report_error(problem)
            ctx.exit(problem.exit_code)


def report_error(error: AnnotateError) -> None:
    if isinstance(error, ImportFailed):
        for line in error.errors:
            typer.echo(line, err=True)
        if error.truncated:
            typer.echo(f"... and {error.truncated} more error(s)", err=True)
    typer.echo(f"error: {error}", err=True)


app = typer.Typer(
    cls=_Group,
    help="Curate expert rationales for therapy-session alliance ratings.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _global_options(
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Database path or SQLAlchemy URL (default: $ANNOTATE_DB, then ./annotate.db).",
            show_default=False,
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    settings.db = db
    settings.debug = debug


def _register_commands() -> None:
    """Each module in ``cli/commands`` adds its commands through ``register(app)``."""
    import cli.commands as package

    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"cli.commands.{module_info.name}")
        module.register(app)


_register_commands()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except AnnotateError as error:  # raised outside a command, or re-raised by --debug
        if settings.debug:
            raise
        report_error(error)
        sys.exit(error.exit_code)
