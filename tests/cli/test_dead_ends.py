"""Dead ends: each refusal says what is wrong and what to do next, in one line.

The cases of issue 21: a markers export with folds when nothing is coded, a fold count
the reviewed clients cannot meet, ``evaluate --folds-from`` over an export that holds
few of the predicted sessions, and ``alignment --by`` a key no session carries.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text
from typer.testing import CliRunner

from annotate.core.demo import DEMO_FILES, DEMO_SESSIONS
from cli.app import app
from tests.export_corpus import build_corpus
from tests.factories import ITEMS, session_record, write_jsonl

runner = CliRunner()


def _refused(args: list[str]) -> str:
    """The one line of a refusal (exit 1, nothing on stdout)."""
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0].removeprefix("error: ")


def _import(db: str, *paths: Path) -> None:
    for path in paths:
        result = runner.invoke(app, ["--db", db, "import", str(path)])
        assert result.exit_code == 0, result.output


# --- export --format markers --folds K with nothing coded ---------------------------------


def test_markers_folds_with_nothing_coded_says_so(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    _import(db, DEMO_SESSIONS)
    out = tmp_path / "m"
    message = _refused(["--db", db, "export", "--format", "markers", "--folds", "5",
                        "--out", str(out)])  # fmt: skip
    assert message == (
        "nothing is coded yet under '3rs': no session has a finished coding; hand out "
        "sessions with 'annotate codes assign --coders A,B' and code them in 'annotate tui', "
        "or import codings with 'annotate import FILE --kind codings', then export"
    )
    assert not out.exists()
    assigned = runner.invoke(app, ["--db", db, "codes", "assign", "--coders", "ana",
                                   "--session", "s01", "--session", "s02"])  # fmt: skip
    assert assigned.exit_code == 0, assigned.output
    message = _refused(["--db", db, "export", "--format", "markers", "--folds", "loco",
                        "--out", str(out)])  # fmt: skip
    assert message.startswith(
        "nothing is coded yet under '3rs': no session has a finished coding (2 codings under "
        "way: finish them in 'annotate tui'); "
    )


def test_markers_folds_with_few_coded_clients_offers_fewer_folds(tmp_path: Path) -> None:
    db = str(tmp_path / "demo.db")
    _import(db, *DEMO_FILES)
    from annotate.core.demo import DEMO_CODINGS

    result = runner.invoke(app, ["--db", db, "import", str(DEMO_CODINGS), "--kind", "codings"])
    assert result.exit_code == 0, result.output
    message = _refused(["--db", db, "export", "--format", "markers", "--folds", "5",
                        "--out", str(tmp_path / "m")])  # fmt: skip
    assert message.startswith("--folds 5 needs at least 5 clients; ")
    assert " have a finished coding under '3rs': use --folds " in message
    assert message.endswith("or finish the coding of more clients' sessions")


# --- export --folds K with fewer reviewed clients ------------------------------------------


def _five_clients_three_reviewed(engine) -> None:  # type: ignore[no-untyped-def]
    build_corpus(engine, [2, 2, 2, 2, 2])
    with engine.begin() as connection:  # c003 and c004: accepted, never reviewed
        unreviewed = (
            "SELECT v.id FROM reviews v JOIN rationales r ON r.id = v.rationale_id "
            "JOIN sessions s ON s.id = r.session_id WHERE s.client_id IN ('c003', 'c004')"
        )
        connection.execute(text(f"DELETE FROM review_scores WHERE review_id IN ({unreviewed})"))
        connection.execute(text(f"DELETE FROM reviews WHERE id IN ({unreviewed})"))


def test_folds_beyond_the_reviewed_clients_offer_fewer_folds_and_unreviewed(
    engine, db_url: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    _five_clients_three_reviewed(engine)
    export = ["--db", db_url, "export", "--format", "openai", "--out", str(tmp_path / "o")]
    assert _refused([*export, "--folds", "5"]) == (
        "--folds 5 needs at least 5 clients; the export has 3 (clients with a reviewed, "
        "passing rationale): use --folds 3, or add --include-unreviewed (5 clients)"
    )
    assert _refused([*export, "--folds", "6"]) == (
        "--folds 6 needs at least 6 clients; the export has 3 (clients with a reviewed, "
        "passing rationale): use --folds 3, or add --include-unreviewed with --folds 5"
    )
    assert _refused([*export, "--folds", "6", "--include-unreviewed"]) == (
        "--folds 6 needs at least 6 clients; the export has 5 (clients with an accepted "
        "rationale): use --folds 5"
    )
    # Both suggestions work.
    for extra in (["--folds", "3"], ["--folds", "5", "--include-unreviewed"]):
        result = runner.invoke(app, [*export, *extra, "--force"])
        assert result.exit_code == 0, result.output


def test_folds_with_nothing_accepted_say_what_to_do(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    _import(db, DEMO_SESSIONS)
    message = _refused(["--db", db, "export", "--format", "openai", "--folds", "5",
                        "--out", str(tmp_path / "o")])  # fmt: skip
    assert message == (
        "--folds 5: nothing to export yet, no client has an accepted rationale; accept "
        "rationales in the editor ('annotate tui'), have them reviewed ('annotate "
        "review-assign'), then export"
    )


# --- evaluate --folds-from an export holding few of the predicted sessions ---------------


def _predict_every_session(tmp_path: Path, sessions: set[str] | None = None) -> Path:
    records = [json.loads(line) for line in DEMO_SESSIONS.read_text(encoding="utf-8").splitlines()]
    predictions = [
        {"session_id": record["session_id"], "item_id": item, "rating": rating}
        for record in records
        if sessions is None or record["session_id"] in sessions
        for item, rating in record["client_ratings"].items()
        if item in ITEMS
    ]
    return write_jsonl(tmp_path / "p.jsonl", predictions)


def test_evaluate_says_up_front_how_many_sessions_are_in_the_folds(tmp_path: Path) -> None:
    db = str(tmp_path / "demo.db")
    _import(db, *DEMO_FILES)
    out = tmp_path / "x"
    exported = runner.invoke(app, ["--db", db, "export", "--format", "openai", "--folds", "2",
                                   "--out", str(out), "--json"])  # fmt: skip
    assert exported.exit_code == 0, exported.output
    in_folds = json.loads(exported.stdout)["counts"]["sessions"]
    assert in_folds == 4  # the four reviewed sessions of the demo
    path = _predict_every_session(tmp_path)
    result = runner.invoke(app, ["--db", db, "evaluate", str(path), "--folds-from", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"4 of the 16 predicted sessions are in the 2 folds of {out}; 12 are in no fold and "
        "count only in the pooled figures (--json: rows[].overall)"
    )
    assert lines[1].split() == ["Goal", "Task", "Bond"]
    data = json.loads(runner.invoke(app, ["--db", db, "evaluate", str(path), "--folds-from",
                                          str(out), "--json"]).stdout)  # fmt: skip
    assert (data["sessions_in_folds"], data["sessions_outside_folds"]) == (4, 12)
    # None of the predicted sessions in the folds: refused, not a table of empty folds.
    outside = _predict_every_session(tmp_path, {"s02", "s03", "s04"})
    assert _refused(["--db", db, "evaluate", str(outside), "--folds-from", str(out)]) == (
        f"--folds-from {out}: none of the 3 predicted sessions is in its 2 folds (they hold "
        "4 other sessions); evaluate without --folds-from, or predict the sessions of that "
        "export"
    )


# --- alignment --by a key no session carries -----------------------------------------------


def test_alignment_by_a_missing_key_offers_only_keys_with_sessions(engine, db_url: str) -> None:  # type: ignore[no-untyped-def]
    build_corpus(engine, [2, 3])  # session numbers, no metadata
    assert _refused(["--db", db_url, "alignment", "--by", "condition"]) == (
        "no session carries 'condition': use --by with a key sessions carry: "
        "session_number (5 sessions)"
    )


def test_alignment_by_with_nothing_to_group_says_what_to_import(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    bare = [session_record(f"x{n}", client_id=f"c{n}") for n in range(3)]
    for record in bare:
        del record["session_number"]
    _import(db, write_jsonl(tmp_path / "bare.jsonl", bare))
    for key in ("condition", "session_number"):
        assert _refused(["--db", db, "alignment", "--by", key]) == (
            f"no session carries '{key}', nor any other metadata or a session_number, so "
            'there is nothing to group by: both come with the sessions file ("metadata": '
            '{"condition": ...}, "session_number") and a stored session does not change on a '
            "second import, so import the completed file into a new database"
        )
