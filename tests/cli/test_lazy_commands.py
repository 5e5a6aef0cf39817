"""A command's module is imported only when the command is used: ``annotate --help`` lists
every command, with its help, in the workflow's order, from ``cli.app.COMMANDS`` alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.core import TyperArgument, TyperOption

from cli.app import COMMANDS, full_command

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = """
import json, sys
from cli.app import main
sys.argv = ["annotate", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith("cli.commands"))))
"""
WIDE = {**os.environ, "COLUMNS": "200"}


def _run(*args: str) -> tuple[str, list[str]]:
    """The output of ``annotate ARGS`` (run in process) and the cli.commands modules loaded."""
    done = subprocess.run([sys.executable, "-c", PROGRAM, *args], capture_output=True, text=True,
                          check=True, cwd=ROOT, env=WIDE, timeout=60)  # fmt: skip
    *output, modules = done.stdout.splitlines()
    return "\n".join(output), json.loads(modules)


def test_help_imports_no_command_module_and_lists_every_command_with_its_help() -> None:
    output, modules = _run("--help")
    assert modules == []
    listed = output.split("Commands:\n", 1)[1].splitlines()
    assert [line.split()[0] for line in listed] == list(COMMANDS)  # the workflow's order
    commands = full_command().commands
    for line, name in zip(listed, COMMANDS, strict=True):
        shown = line.split(None, 1)[1].removesuffix("...")  # cut to the help's width
        assert len(shown) > 20 and commands[name].get_short_help_str(10**6).startswith(shown)


def test_the_table_names_each_command_its_module_and_its_help() -> None:
    commands = full_command().commands
    assert set(commands) == set(COMMANDS)  # a command a module registers is in the table
    for name, entry in COMMANDS.items():
        command = commands[name]
        assert entry.help == command.get_short_help_str(limit=10**6), name
        callback = command.callback
        if callback is not None and not hasattr(command, "commands"):  # a group has none
            assert callback.__module__ == entry.module, name


@pytest.mark.parametrize(
    "name", sorted({entry.module: name for name, entry in COMMANDS.items()}.values())
)
def test_a_commands_help_imports_only_its_module(name: str) -> None:
    output, modules = _run(name, "--help")
    assert f"Usage: annotate {name}" in output
    own = COMMANDS[name].module
    others = {entry.module for entry in COMMANDS.values()} - {own}
    assert own in modules
    assert not others & set(modules), sorted(others & set(modules))


def test_a_misspelt_command_is_suggested_from_the_table() -> None:
    done = subprocess.run([sys.executable, "-c", PROGRAM, "improt"], capture_output=True,
                          text=True, cwd=ROOT, env=WIDE, timeout=60)  # fmt: skip
    assert "No such command 'improt'. Did you mean 'import'?" in done.stderr


def _parameters(command: Any) -> Iterator[tuple[Any, Any]]:
    """(command, parameter) for every parameter of COMMAND and its subcommands, --help too."""
    context = typer.Context(command)
    for param in command.get_params(context):
        yield command, param
    for child in getattr(command, "commands", {}).values():
        yield from _parameters(child)


def _outcome(process: Any, *args: Any) -> Any:
    try:
        return process(*args)
    except typer.BadParameter as error:
        return ("refused", error.format_message())


def test_values_skipped_by_the_light_coercion_come_out_as_typer_makes_them(
    tmp_path: Path,
) -> None:
    unreadable = tmp_path / "locked.jsonl"
    unreadable.write_text("{}")
    unreadable.chmod(0)
    paths = [str(tmp_path), str(tmp_path / "missing.jsonl"), str(unreadable), "", "-",
             str(ROOT / "README.md"), "caf\u00e9 \udcff.jsonl"]  # fmt: skip
    checked = 0
    for command, param in _parameters(full_command()):
        base = TyperArgument if isinstance(param, TyperArgument) else TyperOption
        context = typer.Context(command)
        values: list[str | None] = [None] if not param.required else []
        if param.type_descriptor.annotation is str:
            values += ["text", "", "caf\u00e9 \udcff"]
        if param.type_descriptor.annotation is Path:
            values += paths
        for value in values:
            light = _outcome(param.process_value, context, value)
            assert light == _outcome(base.process_value, param, context, value), (
                command.name, param.name, value,
            )  # fmt: skip
            checked += 1
    assert checked > 150


def test_a_command_with_no_value_to_coerce_imports_no_pydantic(tmp_path: Path) -> None:
    db = str(tmp_path / "a.db")
    subprocess.run([sys.executable, "-m", "annotate", "--db", db, "init"], check=True,
                   capture_output=True, cwd=ROOT)  # fmt: skip
    program = PROGRAM.replace('m.startswith("cli.commands")', 'm.startswith("typer._adapters")')
    done = subprocess.run([sys.executable, "-c", program, "--db", db, "flags", "--json"],
                          capture_output=True, text=True, check=True, cwd=ROOT)  # fmt: skip
    assert json.loads(done.stdout.splitlines()[-1]) == []  # typer's pydantic coercion
