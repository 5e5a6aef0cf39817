"""Every command works the same with ``--db`` naming a SQLite file or a PostgreSQL URL.

COMMANDS holds one representative run of each command against the demo corpus, in
the order they run (later runs see the work of earlier ones), with what its output
must say and, where the command changes or reads something checkable, a check of the
store or the files afterwards. A new command must be added here (the coverage test
below fails until it is), so that the whole command line keeps working on PostgreSQL.

Most runs go through ``CliRunner``; ``tui`` runs on a pseudo-terminal and ``serve``
is driven over its websocket as a browser would (tests/interactive.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from annotate.core.demo import DEMO_CODINGS, DEMO_SESSIONS
from annotate.core.guidelines import GUIDELINES_DIR
from cli.app import app, full_command
from store.db import make_engine
from tests import interactive
from tests.factories import ITEMS, session_record, write_jsonl

runner = CliRunner()
pytestmark = pytest.mark.both_backends

ANNOTATED = 17  # the demo's 16 annotated sessions and the imported one
MONITORING = 96  # the demo's sessions rated for the monitoring views, not annotated
SESSIONS = ANNOTATED + MONITORING
UNITS = SESSIONS * len(ITEMS)  # (session, item) pairs with a client rating


@dataclass(frozen=True)
class Ran:
    """One command's run: where, its output, and the store it ran on."""

    engine: Engine
    tmp: Path
    output: str

    def json(self) -> dict:
        return json.loads(self.output)  # type: ignore[no-any-return]

    def scalar(self, sql: str) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(text(sql)).scalar_one())


@dataclass(frozen=True)
class Run:
    """Arguments after ``--db URL`` ({tmp} is the test's directory), text the output must
    hold, an optional check of the effects, and how it runs: ``cli`` (CliRunner),
    ``terminal`` (a pty; Ctrl+Q once ``expect`` is drawn) or ``served`` (see above)."""

    args: list[str]
    expect: str
    check: Callable[[Ran], None] | None = None
    how: str = "cli"


def _rubric_stored(ran: Ran) -> None:
    assert ran.scalar("SELECT count(*) FROM rubrics") == 1


def _draft(ran: Ran) -> None:
    summary = ran.json()
    new = 12 + MONITORING * len(ITEMS)  # the imported session; the demo drafts no monitoring
    assert (summary["provider"], summary["done"], summary["ok"]) == ("offline", new, new)
    assert summary["skipped_accepted"] == 45  # the demo's accepted rationales: left out
    assert summary["skipped_already_drafted"] == UNITS - new - 45  # the demo drafted the rest
    assert ran.scalar("SELECT count(*) FROM drafts") == UNITS
    duplicates = ran.scalar(
        "SELECT count(*) FROM (SELECT session_id, item_id FROM drafts "
        "GROUP BY session_id, item_id, provider, model, prompt_version HAVING count(*) > 1) d"
    )
    assert duplicates == 0


def _assign(ran: Ran) -> None:
    result = ran.json()
    assert sum(result["created"].values()) == UNITS - 48
    assert sum(result["total"].values()) == UNITS
    assert ran.scalar("SELECT count(*) FROM rationales WHERE author_id IS NULL") == 0
    split_clients = ran.scalar(
        "SELECT count(*) FROM (SELECT s.client_id FROM rationales r JOIN sessions s "
        "ON s.id = r.session_id GROUP BY s.client_id HAVING count(DISTINCT r.author_id) > 1) c"
    )
    assert split_clients == 0


def _codes_assign(ran: Ran) -> None:
    result = ran.json()
    # the demo's s08 and s12 get a reviewer too; its four imported codings had one
    new = SESSIONS - 6  # the demo gave six sessions their coders
    assert (result["primary"], result["second"], result["reviews"]) == (new, new, new + 2)
    assert ran.scalar("SELECT count(*) FROM codings WHERE role = 'primary'") == SESSIONS
    assert ran.scalar("SELECT count(*) FROM coding_reviews r JOIN codings c "
                      "ON c.id = r.coding_id WHERE c.coder_id = r.reviewer_id") == 0  # fmt: skip


def _markers(ran: Ran) -> None:
    result = ran.json()
    assert result["sessions"] == SESSIONS - 6  # the demo proposed for its six coded ones
    assert result["failed"] == 0 and result["grounded"] == result["proposals"] > 0
    drafted = ran.scalar("SELECT count(DISTINCT session_id) FROM marker_drafts")
    assert drafted == SESSIONS


def _review_assign(ran: Ran) -> None:
    result = ran.json()
    assert len(result["sessions"]) == 2 and len(result["overlap_sessions"]) == 1
    assert ran.scalar("SELECT count(*) FROM review_assignments") == sum(result["assigned"].values())
    own = ran.scalar(
        "SELECT count(*) FROM review_assignments a JOIN rationales r ON r.id = a.rationale_id "
        "WHERE r.author_id = a.reviewer_id"
    )
    assert own == 0


def _ana_rationales(ran: Ran) -> None:
    ana = ran.scalar("SELECT count(*) FROM rationales WHERE author_id = 'ana'")
    assert f"ana: {ana} rationales" in ran.output, ran.output[-2000:]


def _served(ran: Ran) -> None:
    assert "<div>annotate</div>" in ran.output  # the page
    _ana_rationales(ran)  # the UI, streamed over the websocket


def _agreement(ran: Ran) -> None:
    result = ran.json()
    alpha = {row["criterion"]: row for row in result["alpha"]}
    assert list(alpha) == ["faithfulness", "relevance", "informativeness"]
    # The demo's doubly reviewed rationales; tests/services/test_stats_agreement.py
    # derives these from the files independently.
    assert alpha["faithfulness"]["alpha"] == pytest.approx(0.8129251700680272)
    assert alpha["faithfulness"]["units"] == 6
    assert alpha["faithfulness"]["ci_low"] <= 0.8129 <= alpha["faithfulness"]["ci_high"]
    overall = {row["criterion"]: row for row in result["scores"]["overall"]}
    assert overall["relevance"]["n"] == ran.scalar("SELECT count(*) FROM reviews")
    mean = (
        ran.scalar("SELECT sum(score) FROM review_scores WHERE criterion = 'relevance'")
        / overall["relevance"]["n"]
    )
    assert overall["relevance"]["mean"] == pytest.approx(mean)


def _alignment(ran: Ran) -> None:
    rows = {row["dimension"]: row for row in ran.json()["dimensions"]}
    assert list(rows) == ["goal", "task", "bond", "total"]
    # pg-new is complete on both sides (client 4s, counselor 5s): one more goal pair; and
    # every monitoring session.
    assert rows["goal"]["n"] == 15 + MONITORING
    for row in rows.values():
        assert -1 <= row["pearson_r"] <= 1 and row["mse"] > 0
        assert isinstance(row["n"], int)


def _flags(ran: Ran) -> None:
    listed = ran.json()["flags"]
    assert len(listed) == ran.scalar("SELECT count(*) FROM rationales WHERE flagged")


def _edits(ran: Ran) -> None:
    result = ran.json()
    everything = next(row for row in result["by_dimension"] if row["dimension"] == "all")
    accepted = ran.scalar("SELECT count(*) FROM rationales WHERE status = 'accepted'")
    assert everything["accepted"] == accepted == 45
    lengths = ran.scalar(  # of the final texts: the versions rationales.current_version names
        "SELECT sum(length(v.text)) FROM rationale_versions v JOIN rationales r "
        "ON r.id = v.rationale_id WHERE r.status = 'accepted' AND v.version = r.current_version"
    )
    assert everything["final_length_mean"] == pytest.approx(lengths / accepted)


def _lexicon(ran: Ran) -> None:
    result = ran.json()
    by_dimension: dict[str, list[dict]] = {}
    for row in result["words"]:
        by_dimension.setdefault(row["dimension"], []).append(row)
    assert list(by_dimension) == ["goal", "task", "bond"]
    for rows in by_dimension.values():
        assert [row["rank"] for row in rows] == [1, 2, 3]
        assert [row["z"] for row in rows] == sorted((row["z"] for row in rows), reverse=True)
        assert all(row["significant"] == (row["z"] > result["significant_z"]) for row in rows)


def _report(ran: Ran) -> None:
    page = (ran.tmp / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "Krippendorff" in page
    assert "<svg" in page and "<script src" not in page and "<link" not in page


def _export(ran: Ran) -> None:
    manifest = ran.json()
    out = ran.tmp / "export"
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8")) == manifest
    for name, described in manifest["files"].items():
        data = (out / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == described["sha256"], name
    validation = [
        json.loads(line)
        for fold in (1, 2)
        for line in (out / f"fold_{fold}/val.index.jsonl").read_text().splitlines()
    ]
    assert len(validation) == manifest["counts"]["records"] > 0
    eligible = ran.scalar(
        "SELECT count(*) FROM rationales r WHERE r.status = 'accepted' AND EXISTS "
        "(SELECT 1 FROM reviews v WHERE v.rationale_id = r.id) AND NOT EXISTS (SELECT 1 "
        "FROM reviews v JOIN review_scores s ON s.review_id = v.id "
        "WHERE v.rationale_id = r.id AND s.score < 3)"
    )
    assert manifest["counts"]["records"] == eligible


def _evaluate(ran: Ran) -> None:
    result = ran.json()
    assert result["predictions"] == {
        "file": str(ran.tmp / "predictions.jsonl"),
        "records": ANNOTATED * len(ITEMS),
        "sessions": ANNOTATED,
        "with_rationale": 0,
    }
    assert result["rationales"] is None
    model = next(row for row in result["rows"] if row["name"] == "model")
    for figures in model["overall"].values():  # the predictions are the clients' ratings
        assert (figures["n"], figures["pearson"], figures["mse"]) == (ANNOTATED, 1.0, 0.0)
    assert result["folds"] == 2


def _deid_scan(ran: Ran) -> None:
    result = ran.json()
    assert len(result["sessions"]) == SESSIONS and set(result["totals"]) >= {"name", "date"}
    assert ran.scalar("SELECT count(*) FROM deid_surrogates") == 0  # a scan stores nothing


def _counselors(ran: Ran) -> None:
    goal = ran.json()["dimensions"][0]
    assert goal["dimension"] == "goal" and goal["n_counselors"] == 11  # t01..t10, the import's
    assert goal["icc"] is not None and 0 < goal["icc"] < 1


def _watch(ran: Ran) -> None:
    flagged = {flag["client_id"] for flag in ran.json()["flags"]}
    assert "c13" in flagged  # the demo's client whose counselor did not see the drop


def _trace(ran: Ran) -> None:
    traced = ran.json()["run"]
    assert traced["failed"] == 0 and traced["ok"] + traced["skipped"] >= 16
    stored = ran.scalar("SELECT count(*) FROM turn_alliance WHERE method = 'lexical'")
    assert stored == ran.scalar("SELECT count(*) FROM turns")  # every turn of every session


def _deid_corrections(ran: Ran) -> None:
    listed = [(c["text"], c["action"]) for c in ran.json()["corrections"]]
    assert listed == [("Maple Row", "mark"), ("Hope", "unmark")]
    assert ran.scalar("SELECT count(*) FROM deid_roster") == 2


def _judge_dry(ran: Ran) -> None:
    """The judge's dry run counts every accepted (or sent back) rationale and prediction
    and writes nothing."""
    texts = ran.scalar("SELECT count(*) FROM rationales WHERE current_version IS NOT NULL "
                       "AND status IN ('accepted', 'revision_requested')") + ran.scalar(
        "SELECT count(*) FROM predictions")  # fmt: skip
    assert ran.json()["texts"] == texts > 0
    assert ran.scalar("SELECT count(*) FROM judgements") == 0


COMMANDS: dict[str, Run] = {
    "init": Run(["init", "--json"], '"revision"'),
    "demo": Run(["demo", "--keep", "--no-ui"], "demo ready"),
    "import": Run(["import", "{tmp}/new.jsonl", "--json"], '"created": 1'),
    "progress": Run(["progress", "--json"], f'"sessions": {SESSIONS}'),
    "deid roster": Run(["deid", "roster", "{tmp}/roster.csv", "--json"], '"added": 2'),
    "deid scan": Run(["deid", "scan", "--json"], '"totals"', _deid_scan),
    "deid mark": Run(
        ["deid", "mark", "c01", "Maple Row", "--category", "place", "--by", "lead"], "correction 1"
    ),  # fmt: skip
    "deid unmark": Run(["deid", "unmark", "c01", "Hope", "--by", "lead"], "correction 2"),
    "deid corrections": Run(["deid", "corrections", "--json"], '"unmark"', _deid_corrections),
    "deid review": Run(["deid", "review", "s01", "--by", "lead"], "to replace", None, "terminal"),
    "instrument load": Run(
        ["instrument", "load", str(GUIDELINES_DIR / "instruments" / "rupture.toml")],
        "rupture 1.0.0 (1 item): unchanged",  # every new store has it already
    ),
    "rubric load": Run(
        ["rubric", "load", str(GUIDELINES_DIR / "rubric.toml")],
        "rubric 1.0.0 (faithfulness, relevance, informativeness): loaded",
        _rubric_stored,
    ),
    "codes load": Run(
        ["codes", "load", str(GUIDELINES_DIR / "markers" / "3rs.toml")],
        "3rs 1.0.0 (13 codes): unchanged",
    ),
    "codes import": Run(
        ["import", str(DEMO_CODINGS), "--kind", "codings", "--json"], '"unchanged": 8'
    ),  # the demo imported them
    "codes assign": Run(
        ["codes", "assign", "--coders", "ana,ben", "--second", "1", "--review", "--json"],
        f'"primary": {SESSIONS - 6}',  # 6 sessions given coders by the demo
        _codes_assign,
    ),
    "codes list": Run(["codes", "list", "--coder", "ben", "--json"], '"role": "primary"'),
    "codes review": Run(
        # coding 1 is ben's of s03 (the demo's first); with coders ana,ben ana reviews it
        ["codes", "review", "1", "--reviewer", "ana", "--pass"],
        "coding 1: accepted",
    ),
    "draft markers": Run(
        ["draft", "--markers", "--provider", "offline", "--json"], '"skipped": 6', _markers
    ),
    "codes agreement": Run(["codes", "agreement", "--samples", "50", "--json"], '"alpha"'),
    "backup": Run(["backup", "{tmp}/backup.file"], "backed up"),
    # restore runs on SQLite; on PostgreSQL it prints the pg_restore command (exit 1).
    "restore": Run(["restore", "{tmp}/backup.file", "--force"], "restore"),
    "draft": Run(["draft", "--provider", "offline", "--json"], '"done": ', _draft),
    "assign": Run(["assign", "--annotators", "ana,ben,chen", "--json"], '"created"', _assign),
    "review-assign": Run(
        ["review-assign", "--sessions", "2", "--overlap", "2", "--json"],
        '"assigned"',
        _review_assign,
    ),
    "tui": Run(["tui", "--annotator", "ana"], " rationales · ", _ana_rationales, "terminal"),
    "flags": Run(["flags", "--json"], '"flags"', _flags),
    "serve": Run(
        ["serve", "--port", "0", "--annotator", "ana"], " rationales · ", _served, "served"
    ),
    "login add": Run(["login", "add", "ana", "--logins", "{tmp}/logins.toml"], "shown once"),
    "login list": Run(["login", "list", "--logins", "{tmp}/logins.toml"], "ana\t"),
    "login remove": Run(["login", "remove", "ana", "--logins", "{tmp}/logins.toml"], "removed"),
    "agreement": Run(["agreement", "--samples", "50", "--json"], '"alpha"', _agreement),
    "judge": Run(
        ["judge", "--dry-run", "--base-url", "http://127.0.0.1:9/v1", "--json"],
        '"texts": ',
        _judge_dry,
    ),  # sends nothing: the runs have no model (tests/services/test_judge.py judges)
    "alignment": Run(["alignment", "--json"], '"pearson_r"', _alignment),
    "edits": Run(["edits", "--json"], '"by_annotator"', _edits),
    "lexicon": Run(["lexicon", "--top", "3", "--json"], '"words"', _lexicon),
    "trace": Run(["trace", "--provider", "offline", "--json"], '"method": "lexical"', _trace),
    "alliance counselors": Run(
        ["alliance", "counselors", "--samples", "0", "--json"], '"dimensions"', _counselors
    ),
    "alliance watch": Run(["alliance", "watch", "--json"], '"flags"', _watch),
    "report": Run(["report", "--html", "{tmp}/report.html", "--samples", "50"], "wrote", _report),
    "export": Run(
        ["export", "--format", "openai", "--out", "{tmp}/export", "--folds", "2", "--json"],
        '"fold_table"',
        _export,
    ),
    "evaluate": Run(
        ["evaluate", "{tmp}/predictions.jsonl", "--folds-from", "{tmp}/export", "--json"],
        '"Predictions"',
        _evaluate,
    ),
}


def prepare_inputs(tmp_path: Path) -> None:
    """The files the runs read: a session to import and predictions to evaluate."""
    new = session_record("pg-new", client_id="c-new", language="zh")
    write_jsonl(tmp_path / "new.jsonl", [new])
    predictions = []
    for line in [*DEMO_SESSIONS.read_text(encoding="utf-8").splitlines(), json.dumps(new)]:
        record = json.loads(line)
        for item, rating in record["client_ratings"].items():
            if item == "rupture_1":  # another instrument: evaluate compares WAI-SR
                continue
            key = {"session_id": record["session_id"], "item_id": item}
            predictions.append({**key, "rating": rating})
    write_jsonl(tmp_path / "predictions.jsonl", predictions)
    roster = "name,category,client_id\nMaple Clinic,place,\nRita Moss,name,c01\n"
    (tmp_path / "roster.csv").write_text(roster, encoding="utf-8")  # deid roster


def invoke(run: Run, db_url: str, tmp_path: Path) -> tuple[int, str, str]:
    """Run one command; return its exit code, its output (stdout) and its error output."""
    arguments = ["--db", db_url, *(a.replace("{tmp}", str(tmp_path)) for a in run.args)]
    if run.how == "terminal":
        code, screen = interactive.in_terminal(*arguments, expect=run.expect)
        return code, screen, ""
    if run.how == "served":
        code, seen = interactive.served(*arguments, expect=run.expect)
        return code, seen, ""
    result = runner.invoke(app, arguments)
    return result.exit_code, result.stdout, result.stderr


def _leaf_commands(group, prefix: str = "") -> list[str]:  # type: ignore[no-untyped-def]
    names = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer may bring its own click)
            names.extend(_leaf_commands(command, f"{prefix}{name} "))
        else:
            names.append(f"{prefix}{name}")
    return names


def test_every_command_has_a_backend_run() -> None:
    group = full_command()  # every command loaded (they load lazily)
    missing = sorted(set(_leaf_commands(group)) - set(COMMANDS))
    assert missing == [], f"add a run of {missing} to COMMANDS in {__file__}"
    assert all(run.how in ("cli", "terminal", "served") for run in COMMANDS.values())


def test_every_command_runs(demo_engine, db_url: str, backend: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    prepare_inputs(tmp_path)
    from annotate.export.backup import find_pg_tool

    checked = make_engine(db_url)
    try:
        for name, run in COMMANDS.items():
            if name == "backup" and backend == "postgresql" and find_pg_tool("pg_dump") is None:
                continue
            code, output, errors = invoke(run, db_url, tmp_path)
            if name == "restore" and backend == "postgresql":
                assert code == 1 and "pg_restore" in errors, output + errors
                continue
            assert code == 0, f"{name}: {output}{errors}"
            assert run.expect in output, f"{name}: {output}"
            if run.check is not None:
                run.check(Ran(checked, tmp_path, output))
    finally:
        checked.dispose()
    progress = json.loads(runner.invoke(app, ["--db", db_url, "progress", "--json"]).stdout)
    assert progress["sessions"] == SESSIONS and progress["instrument_items"] == 13
    assert progress["rationales"] == UNITS
