"""``annotate alliance counselors|watch`` and the not-on-track lines of ``annotate progress``:
tables, JSON equal to the domain's figures, warnings, and bad input as one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annotate.ingest import import_file
from annotate.research.counselors import counselor_effects
from annotate.research.watch import not_on_track
from cli.app import app
from tests.factories import session_record, write_jsonl
from tests.research.alliance_data import items_at, nested_records

pytestmark = pytest.mark.both_backends
runner = CliRunner()
FALLING = "来访者-下降"


def _falling() -> list[dict]:
    """A client whose ratings fall at the third session while the counselor's do not."""
    return [
        session_record(f"falls-{number}", client_id=FALLING, counselor_id="咨询师-稳",
                       session_number=number,
                       client_ratings=items_at(goal=client, task=client, bond=client),
                       counselor_ratings=items_at(goal=4, task=4, bond=4))
        for number, client in ((1, 4), (2, 4), (3, 2))
    ]  # fmt: skip


@pytest.fixture
def store(engine, tmp_path: Path):  # type: ignore[no-untyped-def]
    """12 counselors with 3 clients of 3 sessions each, and the falling client."""
    import_file(engine, write_jsonl(tmp_path / "s.jsonl", nested_records(12, 3, 3) + _falling()))
    return engine


def _run(db_url: str, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["--db", db_url, *args])


def test_counselors_json_equals_the_domain_and_the_table_says_what_it_shows(store, db_url) -> None:  # type: ignore[no-untyped-def]
    result = _run(db_url, "alliance", "counselors", "--samples", "20", "--seed", "4", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == counselor_effects(store, samples=20, seed=4).as_json()
    assert [d["dimension"] for d in data["dimensions"]] == ["goal", "task", "bond"]
    goal = data["dimensions"][0]
    assert (goal["n_counselors"], goal["n_clients"], goal["n_sessions"]) == (13, 37, 111)
    assert goal["icc_low"] <= goal["icc"] <= goal["icc_high"]
    table = _run(db_url, "alliance", "counselors", "--dimension", "goal", "--samples", "20",
                 "--seed", "4")  # fmt: skip
    assert table.exit_code == 0, table.output
    text = table.stdout
    assert "ICC: share of client-rated alliance variance between counselors" in text
    assert f"{goal['icc']:.2f} [{goal['icc_low']:.2f}, {goal['icc_high']:.2f}]" in text
    first = next(c for c in data["counselors"] if c["dimension"] == "goal")
    assert first["counselor_id"] in text
    assert f"{first['gap_estimate']:.2f} [{first['gap_low']:.2f}," in text
    assert "largest overestimation first" in text and "Leads only" in text
    assert "task" not in text.split("largest overestimation first")[1]  # --dimension goal


def test_few_counselors_are_a_plain_warning(engine, db_url, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import_file(engine, write_jsonl(tmp_path / "s.jsonl", nested_records(3, 2, 2)))
    result = _run(db_url, "alliance", "counselors", "--samples", "0")
    assert result.exit_code == 0, result.output
    assert ("warning: goal: only 3 counselors: the ICC is very uncertain (at least 10 are "
            "needed for a usable estimate)") in result.stdout  # fmt: skip
    assert "Traceback" not in result.output


def test_watch_json_equals_the_domain_and_lists_flagged_clients_first(store, db_url) -> None:  # type: ignore[no-untyped-def]
    result = _run(db_url, "alliance", "watch", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == not_on_track(store).as_json()
    assert "not a diagnosis and not a prediction of dropout" in data["meaning"]
    mine = [f for f in data["flags"] if f["client_id"] == FALLING]
    assert {(f["dimension"], f["compared_to"], f["drop"], f["missed"]) for f in mine} == {
        (d, c, 2.0, True) for d in ("goal", "task", "bond") for c in ("previous", "baseline")
    }
    flagged = [c["flags"] > 0 for c in data["clients"]]
    assert flagged == sorted(flagged, reverse=True)
    text = _run(db_url, "alliance", "watch", "--client", FALLING).stdout
    assert "not a diagnosis" in text and "4.00 → 4.00 → 2.00" in text
    assert "4.00 → 4.00" in text.split("counselor's rating")[1]  # the counselor's, unchanged
    stated = json.loads(_run(db_url, "alliance", "watch", "--reliability", "0.8",
                             "--baseline", "2", "--json").stdout)  # fmt: skip
    assert {r["alpha"] for r in stated["reliability"]} == {0.8}
    assert {r["alpha_source"] for r in stated["reliability"]} == {"stated"}
    assert stated["baseline_sessions"] == 2


def test_progress_lists_clients_not_on_track_first(store, db_url) -> None:  # type: ignore[no-untyped-def]
    result = _run(db_url, "progress")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Clients not on track: ")
    watch = not_on_track(store)
    flagged = watch.flagged_clients()
    assert int(lines[0].split(": ")[1].split()[0]) == len(flagged)
    listed = [line.split()[0] for line in lines[1 : 1 + len(flagged)]]
    assert listed == flagged and FALLING in listed
    assert lines.index(next(line for line in lines if line.startswith("Sessions"))) > len(flagged)
    assert "not_on_track" not in json.loads(_run(db_url, "progress", "--json").stdout)


def test_progress_without_flags_starts_with_the_counts(engine, db_url, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import_file(engine, write_jsonl(tmp_path / "s.jsonl", [session_record("one")]))
    result = _run(db_url, "progress")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith("Sessions")


def test_too_few_clients_for_alpha_say_to_state_one(engine, db_url, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import_file(engine, write_jsonl(tmp_path / "s.jsonl", _falling()))
    result = _run(db_url, "alliance", "watch", "--dimension", "goal")
    assert result.exit_code == 0, result.output
    assert ("warning: goal: Cronbach's alpha is not estimated from only 1 client (needs 5); "
            "state one with --reliability") in result.stdout  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["watch", "--dimension", "trust"], "error: unknown dimension 'trust'; known: goal, "
         "task, bond"),
        (["counselors", "--dimension", "信任"], "error: unknown dimension '信任'; known: goal, "
         "task, bond"),
        (["watch", "--reliability", "1.2"],
         "error: --reliability must be between 0 and 1 (exclusive), not 1.2"),
        (["watch", "--reliability", "0"],
         "error: --reliability must be between 0 and 1 (exclusive), not 0.0"),
        (["watch", "--baseline", "0"], "error: --baseline must be at least 1 session, not 0"),
        (["watch", "--client", "nobody"], "error: no client 'nobody' with client ratings"),
        (["counselors", "--samples", "-1"], "error: --samples must be 0 or more, not -1"),
    ],
)  # fmt: skip
def test_bad_input_is_a_one_line_error(engine, db_url, tmp_path: Path, args, message) -> None:  # type: ignore[no-untyped-def]
    import_file(engine, write_jsonl(tmp_path / "s.jsonl", _falling()))
    result = _run(db_url, "alliance", *args)
    assert result.exit_code == 1
    assert result.stderr.strip() == message
    assert "Traceback" not in result.output


def test_the_report_shows_the_domains_figures_flagged_clients_first(
    store, db_url, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "report.html"
    result = _run(db_url, "report", "--html", str(path), "--samples", "20", "--seed", "3")
    assert result.exit_code == 0, result.output
    html = path.read_text(encoding="utf-8")
    watch = not_on_track(store)
    flagged = watch.flagged_clients()
    assert f"Clients not on track ({len(flagged)}): {', '.join(flagged)}." in html
    assert html.index("Clients not on track (") < html.index("<h2>Progress</h2>")
    section = html[html.index('id="not-on-track"') : html.index("<h2>Counselor effects</h2>")]
    for level in watch.reliability:
        assert f'<td class="num">{level.threshold:.3f}</td>' in section
    rows = section.split("Flagged sessions, flagged clients first")[1].split("</table>")[0]
    shown = [cells.split("</td>")[0] for cells in rows.split('<tr><td class="text">')[1:]]
    assert shown == [flag.client_id for flag in watch.flags]  # flagged clients first
    for flag in watch.flags:
        assert f'<td class="num">{flag.drop:.2f}</td>' in rows
    assert f"<title>{FALLING}: goal</title>" in section  # its trajectory chart
    clients = section.split("Clients, not on track first")[1]
    assert clients.index(FALLING) < clients.index("counselor-00/来访者0")
    effects = counselor_effects(store, samples=20, seed=3)
    counselors = html[html.index("<h2>Counselor effects</h2>") :]
    for effect in effects.dimensions:
        assert f"{effect.icc:.2f} [{effect.icc_low:.2f}, {effect.icc_high:.2f}]" in counselors
    goal = [c for c in effects.counselors if c.dimension == "goal"]
    table = counselors.split("goal: per counselor, largest overestimation first")[1]
    order = [table.index(f">{c.counselor_id}<") for c in goal]
    assert order == sorted(order)  # largest gap first, as the domain sorts them
    assert f"{goal[0].gap_estimate:.2f} [{goal[0].gap_low:.2f}, {goal[0].gap_high:.2f}]" in table
