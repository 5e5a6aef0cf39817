"""Layering and start-up: the services never load UI libraries; the CLI loads no heavy ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules_after(statement: str) -> set[str]:
    code = f"{statement}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    output = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return {name.split(".")[0] for name in json.loads(output)}


def _service_modules() -> list[str]:
    names = []
    for path in sorted((ROOT / "annotate").rglob("*.py")):
        relative = path.relative_to(ROOT).with_suffix("")
        parts = relative.parts
        if parts[-1] == "__main__":
            continue
        names.append(".".join(p for p in parts if p != "__init__"))
    return names


def test_services_never_import_ui_libraries() -> None:
    statement = "\n".join(f"import {name}" for name in _service_modules())
    loaded = _modules_after(statement)
    assert not loaded & {"textual", "typer", "rich", "tui", "cli", "click"}


def test_cli_import_is_light() -> None:
    loaded = _modules_after("import cli.app")
    assert not loaded & {"pandas", "openai", "textual", "scipy", "numpy", "krippendorff"}
    # Commands load when they run (cli.app.COMMANDS): no store, ORM or validation library.
    assert not loaded & {"sqlalchemy", "sqlmodel", "pydantic", "store", "alembic", "rich"}


def test_cli_import_loads_no_command_module() -> None:
    code = "import sys, cli.app\nprint(sorted(m for m in sys.modules if m.startswith('cli.')))"
    output = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, check=True, timeout=60).stdout  # fmt: skip
    assert output.split() == ["['cli.app']"]


def test_store_does_not_import_annotate() -> None:
    loaded = _modules_after("import store.models, store.db, store.migrate")
    assert "annotate" not in loaded and "tui" not in loaded
