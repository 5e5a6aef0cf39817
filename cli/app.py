"""The ``annotate`` command line: a thin Typer layer over the domain services.

A command's module (``cli/commands/*.py``, each adding its commands through
``register(app)``) is imported only when that command runs or shows its help: ``COMMANDS``
names each command's module and one-line help, so ``annotate --help`` imports none.
Heavy libraries (pandas, openai, textual, scipy) are imported inside the commands that
need them. The global options and the environment become one ``Settings`` object
(``annotate.core.settings``) on the click context, ``ctx.obj``.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Annotated, Any

import typer
from typer._click.exceptions import UsageError  # typer vendors click and does not export it
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from annotate.core.errors import AnnotateError, ConfigError, ImportFailed
from annotate.core.settings import Settings


@dataclass(frozen=True)
class Entry:
    """Where a command lives and its one-line help (the first sentence of its docstring)."""

    module: str
    help: str


# Every command, in the order of the workflow (so ``--help`` reads as a recipe): its module
# is imported only when the command runs or its own help is asked for. tests/cli/
# test_lazy_commands.py checks this table against the commands the modules register.
COMMANDS: dict[str, Entry] = {
    "init": Entry("cli.commands.setup",
                  "Create the database or upgrade its schema, and install the default instrument."),
    "demo": Entry("cli.commands.setup", "Load the synthetic demo corpus, draft and trace it "
                  "offline, then open the UI (or print a summary)."),
    "import": Entry("cli.commands.importing", "Import a JSONL or CSV file in one transaction; any "
                    "error means nothing is written."),
    "instrument": Entry("cli.commands.setup", "Manage rating instruments."),
    "rubric": Entry("cli.commands.setup", "Manage the cross-review rubric."),
    "deid": Entry("cli.commands.deid", "De-identification: scan what would be replaced, load a "
                  "roster, correct detections."),
    "draft": Entry("cli.commands.draft", "Draft a rationale per (session, item) with an LLM or "
                   "offline; reruns resume."),
    "assign": Entry("cli.commands.assignment", "Split the unassigned rationales among experts, "
                    "balanced, a client's sessions together."),
    "tui": Entry("cli.commands.tui", "Open the terminal UI: your queue, the editor, blind "
                 "reviews, progress and help."),
    "serve": Entry("cli.commands.tui", "Serve the terminal UI in a web browser: to whoever holds "
                   "the printed key, or to a team whose experts each log in (--logins)."),
    "login": Entry("cli.commands.tui", "Per-expert logins for 'annotate serve --logins FILE'."),
    "review-assign": Entry("cli.commands.assignment", "Assign blind cross-reviews of accepted "
                           "rationales; nobody reviews their own work."),
    "judge": Entry("cli.commands.judge", "Score accepted rationales and predictions on the "
                   "rubric with a model, for leads."),
    "codes": Entry("cli.commands.codes", "Turn coding (3RS rupture and repair markers): schemes, "
                   "assignment, reviews, agreement."),
    "progress": Entry("cli.commands.progress", "Show how many sessions, items, ratings, drafts, "
                      "rationales and reviews are stored, and how many units are reviewed by "
                      "two people (what Krippendorff's alpha needs)."),
    "flags": Entry("cli.commands.progress", "The items experts flagged for the project lead: "
                   "note, author, status and time."),
    "agreement": Entry("cli.commands.stats", "Krippendorff's alpha per review criterion, score "
                       "means and SDs, and the pass rate; --judge: the rubric judge against "
                       "the reviewers."),
    "alignment": Entry("cli.commands.stats", "Counselor vs client dimension scores (Pearson, "
                       "Spearman, MSE, who rates higher) and binary items (2x2 table, missed "
                       "share, kappa); --by: per group with bootstrap CIs."),
    "edits": Entry("cli.commands.stats", "Draft to final text: share kept unchanged, edit "
                   "distance and length."),
    "lexicon": Entry("cli.commands.stats", "Words that mark each dimension's rationales "
                     "(weighted log-odds z-scores)."),
    "trace": Entry("cli.commands.trace", "Turn-level alliance trace: each turn's similarity to "
                   "each dimension's items (embeddings or offline lexical); --validate."),
    "alliance": Entry("cli.commands.alliance", "Alliance monitoring for leads: counselor "
                      "effects (ICC) and clients not on track (reliable change)."),
    "report": Entry("cli.commands.stats", "Write one self-contained HTML report (tables and "
                    "charts; opens offline)."),
    "export": Entry("cli.commands.export", "Write training-ready files with client-grouped "
                    "folds, a manifest and an index."),
    "evaluate": Entry("cli.commands.export", "Score predicted ratings against the clients' per "
                      "dimension, beside the counselors'; and predicted rationales against the "
                      "experts' (BLEU, ROUGE, optionally BERTScore)."),
    "backup": Entry("cli.commands.backup", "Back up the database while others keep working "
                    "(SQLite online backup, or pg_dump)."),
    "restore": Entry("cli.commands.backup", "Restore a SQLite backup into the database in one "
                     "transaction (all or nothing)."),
}  # fmt: skip

_REPORTED = "_annotate_reraised"  # set on an error that --debug let through _Group.invoke


def _plain(param: Any, ctx: Any, value: Any) -> tuple[bool, Any]:
    """(True, the value typer would make) when making it needs no pydantic: None (typer
    turns it into None, or () for many values, without looking), a str for a plain ``str``
    parameter (typer's check returns it unchanged) or for a plain ``Path`` one (pydantic's
    part is ``Path(value)``; typer's own checks of the path then run as they would);
    (False, None) otherwise.

    Typer coerces every value but a flag's with a pydantic TypeAdapter that it builds at
    each run, even for None: that imports pydantic (about as long as Python's own start)
    for commands that never need it, ``--help`` included.
    """
    if value is None and not param.required:
        return True, () if param.multiple or param.nargs == -1 else None
    descriptor = param.type_descriptor
    info = descriptor.parameter_info
    if (not isinstance(value, str) or param.nargs != 1 or param.multiple
            or info.parser is not None or descriptor.is_choice):  # fmt: skip
        return False, None
    if descriptor.annotation is str:
        return True, value
    if descriptor.annotation is Path and info.path_type is None:
        from typer._param_types import coerce_cli_path

        return True, coerce_cli_path(Path(value), info, path_type=Path, param=param, ctx=ctx)
    return False, None


# Typer's own coercion (typer 0.2x); an older typer leaves its parameters as they are.
_COERCES = hasattr(TyperOption, "get_runtime_param")


class _Option(TyperOption):
    def process_value(self, ctx: Any, value: Any) -> Any:
        plain, coerced = _plain(self, ctx, value)
        if not plain:
            return super().process_value(ctx, value)
        return coerced if self.callback is None else self.callback(ctx, self, coerced)


class _Argument(TyperArgument):
    def process_value(self, ctx: Any, value: Any) -> Any:
        plain, coerced = _plain(self, ctx, value)
        if not plain:
            return super().process_value(ctx, value)
        return coerced if self.callback is None else self.callback(ctx, self, coerced)


def _lighter(param: Any) -> Any:
    """PARAM skipping the coercion of a value that needs none (:func:`_plain`)."""
    if not _COERCES:
        return param
    if type(param) is TyperOption:
        param.__class__ = _Option
    elif type(param) is TyperArgument:
        param.__class__ = _Argument
    return param


class _Command(TyperCommand):
    def get_help_option(self, ctx: Any) -> Any:  # made when first parsed: --help is typer's
        return _lighter(super().get_help_option(ctx))


class _Subgroup(TyperGroup):
    def get_help_option(self, ctx: Any) -> Any:
        return _lighter(super().get_help_option(ctx))


def _without_needless_coercion(command: Any) -> Any:
    """COMMAND (and its subcommands), each parameter and ``--help`` skipping the coercion
    of a value that needs none (:func:`_plain`)."""
    for param in command.params:
        _lighter(param)
    if type(command) is TyperCommand:
        command.__class__ = _Command
    elif type(command) is TyperGroup:
        command.__class__ = _Subgroup
    for child in getattr(command, "commands", {}).values():
        _without_needless_coercion(child)
    return command


def _settings(ctx: typer.Context) -> Settings | None:
    return ctx.obj if isinstance(ctx.obj, Settings) else None


class _Group(TyperGroup):
    """Loads a command's module when the command is used, and turns domain errors into one
    line on stderr and a non-zero exit."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        # Typo suggestions come from the table (TyperGroup's would see loaded commands only).
        self.suggest_all, self.suggest_commands = self.suggest_commands, False
        self.loaded: set[str] = set()
        _without_needless_coercion(self)

    # typer.Context subclasses typer's vendored click Context, which typer does not export.
    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        """Commands in the order of the workflow, so ``--help`` reads as a recipe."""
        return [*COMMANDS, *sorted(name for name in self.commands if name not in COMMANDS)]

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:  # type: ignore[override]
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.load(COMMANDS[cmd_name].module)
        return self.commands.get(cmd_name)

    def get_help_option(self, ctx: Any) -> Any:
        return _lighter(super().get_help_option(ctx))

    def load(self, module_name: str) -> None:
        """Import one module of ``cli/commands`` and add the commands it registers."""
        if module_name in self.loaded:
            return
        module = importlib.import_module(module_name)
        holder = typer.Typer(add_completion=False, pretty_exceptions_enable=False,
                             rich_markup_mode=None)  # fmt: skip
        module.register(holder)
        for name, command in typer.main.get_group(holder).commands.items():
            self.commands.setdefault(name, _without_needless_coercion(command))
        self.loaded.add(module_name)

    def load_all(self) -> None:
        for entry in COMMANDS.values():
            self.load(entry.module)

    def format_commands(self, ctx: typer.Context, formatter: Any) -> None:  # type: ignore[override]
        """The command list from the table, without importing a command module."""
        listed = {
            name: TyperCommand(name=name, help=entry.help) for name, entry in COMMANDS.items()
        }
        rows = []
        limit = formatter.width - 6 - max(len(name) for name in listed)
        for name in self.list_commands(ctx):
            command = listed.get(name) or self.commands[name]
            if not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def resolve_command(self, ctx: typer.Context, args: list[str]) -> Any:  # type: ignore[override]
        try:
            return super().resolve_command(ctx, args)
        except UsageError as error:
            if self.suggest_all and args:
                matches = get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    suggestions = ", ".join(f"{m!r}" for m in matches)
                    error.message = f"{error.message.rstrip('.')}. Did you mean {suggestions}?"
            raise

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except AnnotateError as error:
            if _debug(ctx):
                setattr(error, _REPORTED, True)
                raise
            report_error(error)
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            if _debug(ctx):
                raise
            typer.echo("interrupted: finished work is saved", err=True)
            ctx.exit(130)
        except OSError as error:
            # A file the command could not read or write: its name and the reason.
            if _debug(ctx):
                raise
            where = f"{error.filename}: " if error.filename else ""
            report_error(ConfigError(f"{where}{error.strerror or error}"))
            ctx.exit(ConfigError.exit_code)
        except Exception as error:
            # A database that cannot be used (read-only, damaged, not a database, locked
            # too long): one line naming it, never a traceback with SQL or row parameters.
            from annotate.core.database import driver_error

            settings = _settings(ctx)
            db = settings.db if settings is not None else None
            problem = None if _debug(ctx) else driver_error(db, error)
            if problem is None:
                raise
            report_error(problem)
            ctx.exit(problem.exit_code)


def _debug(ctx: typer.Context) -> bool:
    settings = _settings(ctx)
    return settings is not None and settings.debug


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
    ctx: typer.Context,
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
    ctx.obj = Settings.load(db=db, debug=debug)  # the environment is read here, once


def full_command() -> TyperGroup:
    """The click group with every command loaded (for tests that walk all the options)."""
    group = typer.main.get_command(app)
    assert isinstance(group, _Group)
    group.load_all()
    return group


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except AnnotateError as error:  # raised outside a command, or re-raised by --debug
        if getattr(error, _REPORTED, False):
            raise
        report_error(error)
        sys.exit(error.exit_code)
