"""``annotate import`` of sessions loads only what it needs: no ORM, no Alembic."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.factories import session_record, write_jsonl

HEAVY = {"sqlalchemy.orm", "sqlmodel", "alembic", "store.models", "pandas", "textual"}
PROGRAM = """
import json, sys
from cli.app import main
sys.argv = ["annotate", "--db", sys.argv[1], "import", sys.argv[2]]
try:
    main()
except SystemExit as done:
    assert not done.code, done.code
print(json.dumps(sorted(m for m in sys.modules if m in {heavy})))
"""


def _loaded(db: Path, data: Path) -> list[str]:
    program = PROGRAM.replace("{heavy}", repr(HEAVY))
    output = subprocess.run(
        [sys.executable, "-c", program, str(db), str(data)],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2],
    ).stdout  # fmt: skip
    return json.loads(output.splitlines()[-1])


def test_a_sessions_import_into_a_new_database_loads_no_orm(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "s.jsonl", [session_record(f"s{n}") for n in range(20)])
    assert _loaded(tmp_path / "new.db", data) == []  # new store: head schema, defaults
    assert _loaded(tmp_path / "new.db", data) == []  # existing store, nothing changed
