"""``annotate deid``: scan, roster, mark, unmark, corrections and review from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
from tests.deid.test_service import PHONE, RECORDS
from tests.factories import write_jsonl

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "store.db")
    sessions = write_jsonl(tmp_path / "sessions.jsonl", RECORDS)
    result = runner.invoke(app, ["--db", path, "import", str(sessions)])
    assert result.exit_code == 0, result.output
    return path


def _run(db: str, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["--db", db, "deid", *args])


def test_scan_counts_per_session_and_category_without_values(db: str) -> None:
    result = _run(db, "scan")
    assert result.exit_code == 0, result.output
    for expected in ("session", "client", "name", "phone", "age", "total", "s1", "s2", "z1",
                     "all"):  # fmt: skip
        assert expected in result.stdout
    assert "Dana" not in result.output and PHONE not in result.output
    data = json.loads(_run(db, "scan", "--json").stdout)
    assert [row["session_id"] for row in data["sessions"]] == ["s1", "s2", "z1"]
    first = data["sessions"][0]
    assert first["client_id"] == "cl1" and first["counts"]["phone"] == 1
    assert "values" not in first and PHONE not in json.dumps(data)
    assert data["totals"]["name"] == sum(row["counts"]["name"] for row in data["sessions"])


def test_scan_show_prints_the_values_on_stdout_only(db: str, tmp_path: Path) -> None:
    before = sorted(path.name for path in tmp_path.iterdir())
    result = _run(db, "scan", "--session", "s1", "--show")
    assert result.exit_code == 0, result.output
    assert "s1 (cl1)" in result.stdout and "Dana" in result.stdout and PHONE in result.stdout
    assert "s2" not in result.stdout
    data = json.loads(_run(db, "scan", "--session", "z1", "--session", "s1", "--show",
                           "--json").stdout)  # fmt: skip
    assert [row["session_id"] for row in data["sessions"]] == ["z1", "s1"]
    assert data["sessions"][1]["values"]["phone"] == [PHONE]
    assert "王芳" in data["sessions"][0]["values"]["name"]
    # No file holds them: the store and the inputs are all there is.
    assert sorted(path.name for path in tmp_path.iterdir()) == before


def test_scan_of_an_unknown_session_is_one_line(db: str) -> None:
    result = _run(db, "scan", "--session", "nope")
    assert result.exit_code == 1
    assert result.stderr == "error: no session nope in the store\n"


def test_mark_unmark_and_the_list_of_corrections(db: str) -> None:
    result = _run(db, "mark", "cl1", "Sunday", "--category", "date", "--by", "lead")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "correction 1: 'Sunday' (date) is replaced in cl1's texts from now on\n"
    )
    result = _run(db, "unmark", "cl1", "Ivo", "--by", "lead")
    assert result.exit_code == 0, result.output
    assert result.stdout == "correction 2: 'Ivo' is kept as it is in cl1's texts from now on\n"
    listed = json.loads(_run(db, "corrections", "--json").stdout)["corrections"]
    assert [(c["id"], c["client_id"], c["text"], c["category"], c["action"], c["made_by"])
            for c in listed] == [(1, "cl1", "Sunday", "date", "mark", "lead"),
                                 (2, "cl1", "Ivo", None, "unmark", "lead")]  # fmt: skip
    table = _run(db, "corrections")
    assert table.exit_code == 0 and "Sunday" in table.stdout and "unmark" in table.stdout
    assert json.loads(_run(db, "corrections", "--client", "cl2", "--json").stdout) == {
        "corrections": []}  # fmt: skip
    # Used from then on: the scan counts Sunday as a date, and no longer counts Ivo.
    shown = json.loads(_run(db, "scan", "--session", "s2", "--show", "--json").stdout)
    values = shown["sessions"][0]["values"]
    assert "Sunday" in values["date"] and "Ivo" not in values["name"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("mark", "ghost", "Ann", "--category", "name"), "error: no client 'ghost' in the store"),
        (("mark", "cl1", "Ann", "--category", "colour"), "error: unknown category 'colour'"),
        (("mark", "cl1", " ", "--category", "name"), "error: the text to mark is empty"),
        (("unmark", "cl1", "x" * 300), "error: the text to unmark is longer than 200"),
        (("mark", "cl1", "Ann"), "error: say what 'Ann' is: --category name, place, date"),
    ],
)
def test_a_correction_that_cannot_be_stored_is_one_line(
    db: str, args: tuple[str, ...], message: str
) -> None:
    result = _run(db, *args, "--by", "lead")
    assert result.exit_code == 1
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    assert json.loads(_run(db, "corrections", "--json").stdout) == {"corrections": []}


def test_a_mark_no_session_holds_is_stored_and_named_and_an_unknown_client_listed_is_an_error(
    db: str,
) -> None:
    """From a user walk: a tired lead's typo was stored silently, and listing the
    corrections of a client that does not exist said 'no corrections stored'."""
    result = _run(db, "mark", "cl1", "Sunnday", "--category", "date", "--by", "lead")
    assert result.exit_code == 0, result.output
    assert result.stderr == "note: 'Sunnday' is not written in any of cl1's sessions (a typo?)\n"
    said = _run(db, "mark", "cl1", "Sunday", "--category", "date", "--by", "lead")
    assert said.exit_code == 0 and said.stderr == ""
    listed = _run(db, "corrections", "--client", "nope")
    assert listed.exit_code == 1 and listed.stderr == "error: no client 'nope' in the store\n"


def test_roster_loads_and_a_bad_one_is_one_line(db: str, tmp_path: Path) -> None:
    good = tmp_path / "roster.csv"
    good.write_text("name,category,client_id\nRita Moss,name,cl1\nMaple Clinic,place,\n",
                    encoding="utf-8")  # fmt: skip
    result = _run(db, "roster", str(good))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{good}: 2 entries, 2 added, 0 already loaded\n"
    again = json.loads(_run(db, "roster", str(good), "--json").stdout)
    assert again == {"file": str(good), "entries": 2, "added": 0, "already": 2}
    bad = tmp_path / "bad.csv"
    bad.write_text("name,category,client_id\nAnn,name,\nBo,person,\n", encoding="utf-8")
    result = _run(db, "roster", str(bad))
    assert result.exit_code == 1
    assert result.stderr == f"error: {bad}:3: category 'person' is not name or place\n"
    missing = _run(db, "roster", str(tmp_path / "none.csv"))
    assert missing.exit_code == 1 and "roster file not found" in missing.stderr
    assert "Traceback" not in missing.output


def test_review_needs_a_terminal_and_a_stored_session(db: str) -> None:
    result = _run(db, "review", "s1", "--by", "lead")
    assert result.exit_code == 1
    assert result.stderr == "error: annotate deid review needs a terminal\n"


def test_help_lists_the_commands(db: str) -> None:
    result = runner.invoke(app, ["deid", "--help"])
    assert result.exit_code == 0
    for command in ("scan", "roster", "mark", "unmark", "corrections", "review"):
        assert command in result.stdout
