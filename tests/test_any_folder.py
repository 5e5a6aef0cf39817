"""``annotate serve`` from any folder, also one holding unrelated ``annotate/``, ``store/``
and ``tui/`` packages (a checkout cloned into one's home, run from there).

The UI processes run ``python -P -m annotate tui``: no current folder on ``sys.path``.
For the server itself, ``annotate`` (the installed entry point) and
``python -P -m annotate`` work from any folder; plain ``python -m annotate`` works where
no folder is named ``annotate/`` (Python imports that one before any of our code runs).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
from tests.interactive import browse_socket
from tests.test_serve_team import Served

ENTRY_POINT = Path(sys.executable).parent / "annotate"
DECOY = 'raise SystemExit("the {name}/ package of the current folder was imported")\n'


def _folder(tmp_path: Path, *decoys: str) -> Path:
    """A working folder holding a decoy package for each name in DECOYS."""
    folder = tmp_path / "home"
    for name in decoys:
        (folder / name).mkdir(parents=True)
        (folder / name / "__init__.py").write_text(DECOY.format(name=name), encoding="utf-8")
    folder.mkdir(exist_ok=True)
    return folder


def _installed_env() -> dict[str, str]:
    """The environment without PYTHONPATH: annotate comes from its installation."""
    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


def _reaches_the_queue(served: Served) -> str:
    origin, key = served.url.split("/?key=")
    socket = "ws://" + origin.removeprefix("http://") + f"/ws/{key}?width=140&height=40"
    return asyncio.run(browse_socket(socket, origin, " rationales · ", 60.0))


@pytest.fixture
def demo_db(tmp_path: Path) -> str:
    db = str(tmp_path / "demo.db")
    assert runner.invoke(app, ["--db", db, "demo", "--no-ui"]).exit_code == 0
    return db


runner = CliRunner()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("how", "decoys"),
    [
        ("entry point", ("annotate", "store", "tui")),
        ("python -P -m", ("annotate", "store", "tui")),
        ("python -m", ("store", "tui")),
    ],
)
def test_serve_from_a_folder_with_decoy_packages(
    how: str, decoys: tuple[str, ...], tmp_path: Path, demo_db: str
) -> None:
    if how == "entry point" and not ENTRY_POINT.exists():
        pytest.skip(f"{ENTRY_POINT} is not installed (pip install -e .)")
    command = {
        "entry point": [str(ENTRY_POINT)],
        "python -P -m": [sys.executable, "-P", "-m", "annotate"],
        "python -m": [sys.executable, "-m", "annotate"],
    }[how]
    folder = _folder(tmp_path, *decoys)
    served = Served.start("--db", demo_db, "serve", "--port", "0", "--annotator", "ana",
                          cwd=folder, command=command, env=_installed_env())  # fmt: skip
    try:
        screen = _reaches_the_queue(served)
    finally:
        output = served.stop()
    assert " rationales · " in screen, (screen[-1500:], output[-1500:])
    assert "annotate — ana" in screen or "annotate - ana" in screen
    assert "current folder was imported" not in output, output[-1500:]


@pytest.mark.parametrize("how", ["entry point", "python -P -m"])
def test_commands_from_a_folder_with_a_decoy_annotate(
    how: str, tmp_path: Path, demo_db: str
) -> None:
    if how == "entry point" and not ENTRY_POINT.exists():
        pytest.skip(f"{ENTRY_POINT} is not installed (pip install -e .)")
    command = (
        [str(ENTRY_POINT)] if how == "entry point" else [sys.executable, "-P", "-m", "annotate"]
    )
    folder = _folder(tmp_path, "annotate", "store", "tui")
    result = subprocess.run(
        [*command, "--db", demo_db, "progress"],
        cwd=folder, env=_installed_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "ana" in result.stdout and "current folder" not in result.stderr
    # The trace reads its item wordings (guidelines/trace) from the package, not the folder.
    traced = subprocess.run(
        [*command, "--db", demo_db, "trace", "--provider", "offline", "--session", "s13",
         "--json"], cwd=folder, env=_installed_env(), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert traced.returncode == 0, traced.stderr
    [session] = json.loads(traced.stdout)["sessions"]
    assert session["session_id"] == "s13" and session["turns"]
