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
from sqlmodel import Session, select
from typer.testing import CliRunner

from cli.app import app
from store import migrate
from store.db import make_engine
from store.models import Rationale
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
    # 0008 moved the three score columns of reviews into review_scores rows.
    moved = ("faithfulness", "relevance", "informativeness")
    columns = {
        name: [c for c in table["columns"] if name != "reviews" or c not in moved]
        for name, table in fixture["tables"].items()
    }
    after = dump_rows(
        engine, only={**columns, "review_scores": ["review_id", "criterion", "score"]}
    )
    engine.dispose()
    assert after["revision"] == migrate.HEAD_REVISION
    for name, table in fixture["tables"].items():
        rows = after["tables"][name]["rows"]
        if name in ("instruments", "items"):  # init adds the rupture question, nothing else
            key = table["columns"].index("id" if name == "instruments" else "instrument_id")
            added = [row for row in rows if row[key] == "rupture"]
            assert len(added) == 1, f"{name}: {added}"
            rows = [row for row in rows if row[key] != "rupture"]
        kept = [table["columns"].index(c) for c in columns[name]]
        assert rows == [[row[i] for i in kept] for row in table["rows"]], f"rows of {name} changed"
    reviews = fixture["tables"]["reviews"]
    where = {c: reviews["columns"].index(c) for c in ("id", *moved)}
    assert len(reviews["rows"]) == 22
    assert after["tables"]["review_scores"]["rows"] == sorted(
        [row[where["id"]], criterion, row[where[criterion]]]
        for row in reviews["rows"]
        for criterion in moved
    )

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


def _add_0001_rows(engine, rows: dict[str, list[dict]]) -> None:  # type: ignore[no-untyped-def]
    """Insert rows into a store still at revision 0001 (its own columns, reflected)."""
    from sqlalchemy import MetaData

    metadata = MetaData()
    metadata.reflect(engine)
    with engine.begin() as connection:
        for name in ("drafts", "rationales", "rationale_versions", "reviews"):
            if rows.get(name):
                connection.execute(metadata.tables[name].insert(), rows[name])


def test_a_0001_store_with_conflicts_reviews_and_drafts_gives_corrected_figures(
    empty_db_url: str, backend: str, tmp_path: Path
) -> None:
    """The issue's cases, as revision 0001 stored them, read right after ``annotate init``.

    s03/goal_1: accepted (v1, reviewed and passed), then a stale window's save kept as
    conflict v2; 0001's export wrote the conflict text and left the record out as
    unreviewed. s03/goal_2: accepted from the editor pre-filled with a draft, which 0001
    never linked (``edits`` said no_draft, ``dpo`` wrote no pair).
    """
    from datetime import UTC, datetime, timedelta

    fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, "0001")
    load_rows(engine, fixture)
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    draft_text = "The client says the plan suits them (turn 4); the counselor agrees."
    final_text = (
        "The client says the plan suits them (turn 4) and asks to start this week; "
        "the counselor agrees and names the first step, hence the high rating."
    )
    _add_0001_rows(
        engine,
        {
            "drafts": [
                {"id": 900, "session_id": "s03", "item_id": "goal_2", "status": "ok",
                 "text": draft_text, "evidence": [4], "quotes": [], "provider": "openai",
                 "model": "m", "prompt_version": "1.0.0", "prompt_hash": "0" * 64,
                 "params": {}, "created_at": start},
            ],
            "rationales": [
                {"id": 900, "session_id": "s03", "item_id": "goal_1", "author_id": "ana",
                 "draft_id": None, "status": "accepted", "flagged": False, "lock_version": 2,
                 "updated_at": start},
                {"id": 901, "session_id": "s03", "item_id": "goal_2", "author_id": "ana",
                 "draft_id": None, "status": "accepted", "flagged": False, "lock_version": 1,
                 "updated_at": start},
            ],
            "rationale_versions": [
                {"rationale_id": 900, "version": 1, "text": "Accepted in window A.",
                 "author_id": "ana", "kind": "accept", "created_at": start},
                {"rationale_id": 900, "version": 2, "text": "Stale window B.",
                 "author_id": "ana", "kind": "conflict", "created_at": start + timedelta(1)},
                {"rationale_id": 901, "version": 1, "text": final_text, "author_id": "ana",
                 "kind": "accept", "created_at": start + timedelta(hours=1)},
            ],
            "reviews": [
                {"rationale_id": 900, "rationale_version": 1, "reviewer_id": "ben",
                 "faithfulness": 4, "relevance": 4, "informativeness": 4, "passed": True,
                 "rubric_version": "1.0.0", "created_at": start + timedelta(hours=2)},
            ],
        },
    )  # fmt: skip
    engine.dispose()
    result = runner.invoke(app, ["--db", empty_db_url, "init", "--json"])
    assert result.exit_code == 0, result.output

    engine = make_engine(empty_db_url)
    with Session(engine) as session:
        stale, prefilled, conflicted = (
            session.get(Rationale, 900), session.get(Rationale, 901),
            session.exec(select(Rationale).where(Rationale.session_id == "s02")).one(),
        )  # fmt: skip
    engine.dispose()
    assert stale is not None and prefilled is not None
    assert (stale.current_version, stale.lock_version) == (1, 2)
    assert prefilled.draft_id == 900
    assert conflicted.current_version == 1  # the fixture's own conflict (v2) is not current
    assert conflicted.flagged and conflicted.flagged_at == conflicted.updated_at  # 0003

    out = tmp_path / "export"
    result = runner.invoke(
        app, ["--db", empty_db_url, "export", "--format", "alpaca", "--target", "rationale",
              "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    outputs = {
        (key["session_id"], key["item_id"]): json.loads(line)["output"]
        for key, line in zip(
            map(json.loads, (out / "train.index.jsonl").read_text("utf-8").splitlines()),
            (out / "train.jsonl").read_text("utf-8").splitlines(),
            strict=True,
        )
    }
    assert "Accepted in window A." in outputs[("s03", "goal_1")]  # reviewed, not the conflict
    assert all("Stale window B." not in text for text in outputs.values())

    edits = json.loads(runner.invoke(app, ["--db", empty_db_url, "edits", "--json"]).stdout)
    ana = next(row for row in edits["by_annotator"] if row["annotator"] == "ana")
    assert ana["with_draft"] >= 1

    dpo = tmp_path / "dpo"
    result = runner.invoke(
        app, ["--db", empty_db_url, "export", "--format", "dpo", "--target", "rationale",
              "--include-unreviewed", "--out", str(dpo)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    pairs = (dpo / "train.jsonl").read_text("utf-8")
    assert final_text in pairs and draft_text in pairs

    progress = json.loads(runner.invoke(app, ["--db", empty_db_url, "progress", "--json"]).stdout)
    assert progress["by_annotator"]["ana"]["reviewed"] >= 1
