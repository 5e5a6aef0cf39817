"""The standing upgrade test: a store made with the first released schema keeps every row.

tests/fixtures/schema_0001_demo.json holds every row of a revision-0001 store (the demo
corpus plus a draft, a flagged rationale with a conflict version, an autosave and a
review assignment). It is loaded into an empty database migrated to 0001, then
``annotate init`` upgrades it to the current head. Every future migration must pass
this test: a migration that transforms data documents it here, never by editing the
fixture.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annotate.cli import app
from store import migrate
from store.db import make_engine
from tests.factories import session_record, write_jsonl
from tests.rows import dump_rows, load_rows

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "schema_0001_demo.json"
runner = CliRunner()

pytestmark = pytest.mark.both_backends


def test_first_schema_upgrades_with_every_row_intact(
    empty_db_url: str, backend: str, tmp_path: Path
) -> None:
    fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert fixture["revision"] == "0001"
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, fixture["revision"])
    load_rows(engine, fixture)
    engine.dispose()

    result = runner.invoke(app, ["--db", empty_db_url, "init", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["from_revision"], report["revision"]) == ("0001", migrate.HEAD_REVISION)

    engine = make_engine(empty_db_url)
    columns = {name: table["columns"] for name, table in fixture["tables"].items()}
    after = dump_rows(engine, only=columns)
    engine.dispose()
    assert after["revision"] == migrate.HEAD_REVISION
    for name, table in fixture["tables"].items():
        assert after["tables"][name]["rows"] == table["rows"], f"rows of {name} changed"

    # The upgraded store is usable: figures match, and new work can be written.
    progress = json.loads(runner.invoke(app, ["--db", empty_db_url, "progress", "--json"]).stdout)
    assert (progress["sessions"], progress["rationale_versions"], progress["reviews"]) == (
        16,
        50,
        22,
    )
    path = write_jsonl(tmp_path / "new.jsonl", [session_record("after-upgrade")])
    imported = runner.invoke(app, ["--db", empty_db_url, "import", str(path)])
    assert imported.exit_code == 0, imported.output


def test_fixture_covers_every_table_of_its_schema() -> None:
    fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))
    empty = [name for name, table in fixture["tables"].items() if not table["rows"]]
    assert empty == [], f"the fixture should hold rows in every table: {empty}"
