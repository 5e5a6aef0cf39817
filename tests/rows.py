"""Every row of a store as backend-neutral JSON: to make upgrade fixtures and compare stores.

``python -m tests.rows make FILE`` writes the fixture of the current schema with the demo
corpus and a few rows of every other table (run once per released schema; the file
is committed and never regenerated: tests/fixtures/schema_0001_demo.json).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, DateTime, MetaData, func, select, text
from sqlalchemy.engine import Engine


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat()
    return value


def dump_rows(engine: Engine, only: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Rows of every table (or of ``only``'s tables and columns), ordered by primary key."""
    metadata = MetaData()
    metadata.reflect(engine)
    tables: dict[str, Any] = {}
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            if table.name == "alembic_version" or (only is not None and table.name not in only):
                continue
            columns = only[table.name] if only is not None else [c.name for c in table.columns]
            order = list(table.primary_key.columns) or [table.columns[columns[0]]]
            query = select(*(table.c[name] for name in columns)).order_by(*order)
            rows = [[_plain(value) for value in row] for row in connection.execute(query)]
            tables[table.name] = {"columns": columns, "rows": rows}
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return {"revision": revision, "tables": tables}


def load_rows(engine: Engine, data: dict[str, Any]) -> None:
    """Insert dumped rows into a store already at ``data['revision']``."""
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.begin() as connection:
        for table in metadata.sorted_tables:
            if table.name not in data["tables"]:
                continue
            dumped = data["tables"][table.name]
            kinds = {c.name: c.type for c in table.columns}
            rows = []
            for row in dumped["rows"]:
                record = {}
                for name, value in zip(dumped["columns"], row, strict=True):
                    if value is not None and isinstance(kinds[name], DateTime):
                        value = datetime.fromisoformat(value).replace(tzinfo=UTC)
                    elif value is not None and isinstance(kinds[name], Boolean):
                        value = bool(value)
                    record[name] = value
                rows.append(record)
            if rows:
                connection.execute(table.insert(), rows)
            # PostgreSQL: move each id sequence past the ids inserted explicitly.
            integer_id = "id" in table.c and str(kinds["id"]).upper() == "INTEGER"
            if connection.dialect.name == "postgresql" and rows and integer_id:
                top = connection.execute(select(func.max(table.c.id))).scalar()
                connection.execute(
                    text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :v)"),
                    {"t": table.name, "v": top},
                )


def _make(path: Path) -> None:
    """Build the fixture from the demo corpus plus rows the demo leaves empty."""
    import tempfile

    from annotate.core.database import initialise
    from annotate.core.demo import DEMO_FILES
    from annotate.ingest import import_file
    from store.db import session_scope
    from store.models import Autosave, Draft, Rationale, RationaleVersion, ReviewAssignment

    with tempfile.TemporaryDirectory() as directory:
        engine, _ = initialise(str(Path(directory) / "fixture.db"))
        for demo_file in DEMO_FILES:
            import_file(engine, demo_file)
        with session_scope(engine) as session:
            draft = Draft(
                session_id="s02",
                item_id="goal_1",
                status="ok",
                text="来访者在第2轮把睡眠定为目标，咨询师表示认同。",
                evidence=[2, 3],
                quotes=["睡眠"],
                provider="offline",
                model="template",
                prompt_version="1.0.0",
                prompt_hash="0" * 64,
                params={"temperature": 0},
                tokens_in=812,
                tokens_out=64,
                latency_ms=12.5,
            )
            session.add(draft)
            session.flush()
            rationale = Rationale(
                session_id="s02",
                item_id="goal_1",
                author_id="ana",
                draft_id=draft.id,
                status="in_progress",
                flagged=True,
                flag_note="check turn 7: polite words, late arrival",
                lock_version=2,
                current_version=1,
            )
            session.add(rationale)
            session.flush()
            for number, (author, kind, body) in enumerate(
                [
                    ("ana", "save", "The client sets sleep as the goal."),
                    ("ben", "conflict", "ben's"),
                ],
                start=1,
            ):
                session.add(
                    RationaleVersion(
                        rationale_id=rationale.id,
                        version=number,
                        text=body,
                        author_id=author,
                        kind=kind,
                        guideline_version="1.0.0",
                    )
                )
            session.add(Autosave(rationale_id=rationale.id, annotator_id="ana", text="unsaved…"))
            session.add(ReviewAssignment(rationale_id=rationale.id, reviewer_id="chen"))
        data = dump_rows(engine)
        engine.dispose()
    path.write_text(format_rows(data), encoding="utf-8")


def format_rows(data: dict[str, Any]) -> str:
    """JSON with one row per line, so that a diff of a fixture is readable."""

    def dumps(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    parts = []
    for name, table in data["tables"].items():
        rows = ",\n".join(dumps(row) for row in table["rows"])
        parts.append(f'{dumps(name)}: {{"columns": {dumps(table["columns"])}, "rows": [\n{rows}]}}')
    return f'{{"revision": {dumps(data["revision"])}, "tables": {{\n' + ",\n".join(parts) + "}}\n"


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "make":
        raise SystemExit("usage: python -m tests.rows make FILE")
    _make(Path(sys.argv[2]))
