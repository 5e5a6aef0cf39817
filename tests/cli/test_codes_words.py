"""``codes list`` names open proposals as the README does, and counts agree with their noun."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli.app import app

runner = CliRunner()


def test_codes_list_says_proposals_and_counts_agree(tmp_path: Path) -> None:
    db = str(tmp_path / "demo.db")
    demo = runner.invoke(app, ["--db", db, "demo", "--keep", "--no-ui"])
    assert demo.exit_code == 0, demo.output
    listed = runner.invoke(app, ["--db", db, "codes", "list", "--coder", "ana", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)["codings"]
    assert {row["session"]: row["proposals_open"] for row in rows} == {"s08": 2, "s12": 1}
    assert "suggestion" not in listed.stdout
    table = runner.invoke(app, ["--db", db, "codes", "list"])
    assert "proposals_open" in table.stdout and "suggestion" not in table.stdout
    one = runner.invoke(app, ["--db", db, "codes", "assign", "--coders", "ana",
                              "--session", "s01"])  # fmt: skip
    assert one.exit_code == 0, one.output
    assert one.stdout.startswith("assigned 1 session to code, 0 blind second codings, 0 reviews")
