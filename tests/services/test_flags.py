"""Flags reach the project lead: the list, the progress counts and the report, from the rows."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from annotate.analysis.report import build_report
from annotate.work.progress import detail
from annotate.work.queue import authoring_queue
from annotate.work.rationales import editor
from annotate.work.rationales.flags import flags
from cli.app import app
from store.models import Item, Rationale
from tests.workdata import prepare_work

pytestmark = pytest.mark.both_backends


@pytest.fixture
def flagged(demo_engine):  # type: ignore[no-untyped-def]
    """Four flags by two experts, one cleared again, one note with markup and Chinese."""
    prepare_work(demo_engine)
    ana, ben = authoring_queue(demo_engine, "ana"), authoring_queue(demo_engine, "ben")
    editor.flag(demo_engine, ana[0].rationale_id, "ana", "check turn 7: polite words, late")
    editor.flag(demo_engine, ana[1].rationale_id, "ana", "<b>评分可疑</b>：来访者迟到")
    editor.flag(demo_engine, ben[0].rationale_id, "ben", "rating looks reversed")
    editor.flag(demo_engine, ben[1].rationale_id, "ben", "temporary")
    editor.flag(demo_engine, ben[1].rationale_id, "ben", "")  # cleared
    return demo_engine


def test_flags_list_the_flagged_rows(flagged) -> None:  # type: ignore[no-untyped-def]
    started = datetime.now(UTC).timestamp() - 600
    with Session(flagged) as session:
        rows = session.exec(
            select(Rationale, Item.dimension)
            .join(Item, Item.id == Rationale.item_id)  # type: ignore[arg-type]
            .where(Rationale.flagged)
        ).all()
    expected = {
        (r.session_id, r.item_id): (dimension, r.author_id, r.flag_note, r.status)
        for r, dimension in rows
    }
    found = flags(flagged)
    assert len(found) == len(expected) == 3
    assert {
        (f.session_id, f.item_id): (f.dimension, f.author, f.note, f.status) for f in found
    } == expected
    stamps = [f.flagged_at.timestamp() for f in found if f.flagged_at]
    assert len(stamps) == 3 and stamps == sorted(stamps) and min(stamps) > started
    assert [f.note for f in found][0] == "check turn 7: polite words, late"  # oldest first


def test_progress_counts_flags_per_annotator_and_dimension(flagged) -> None:  # type: ignore[no-untyped-def]
    figures = detail(flagged)
    found = flags(flagged)
    per_author = Counter(f.author for f in found)
    per_dimension = Counter(f.dimension for f in found)
    for name, row in figures["by_annotator"].items():
        assert row["flagged"] == per_author.get(name, 0), name
    for name, row in figures["by_dimension"].items():
        assert row["flagged"] == per_dimension.get(name, 0), name


def test_flags_command_and_report(flagged, db_url: str) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    result = runner.invoke(app, ["--db", db_url, "flags", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)["flags"]
    assert [f.as_json() for f in flags(flagged)] == listed
    assert "<b>评分可疑</b>：来访者迟到" in result.stdout  # unescaped UTF-8 in JSON
    plain = runner.invoke(app, ["--db", db_url, "flags"])
    assert plain.exit_code == 0 and "rating looks reversed" in plain.stdout
    assert "temporary" not in plain.stdout
    report = build_report(flagged, samples=20)
    assert "<h2>Flagged by experts</h2>" in report
    assert "&lt;b&gt;评分可疑&lt;/b&gt;：来访者迟到" in report and "<b>评分可疑" not in report
