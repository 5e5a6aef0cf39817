"""One speaker rule for turn codes: the coding screen and the codings import refuse alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from annotate.core.errors import ConfigError, ImportFailed
from annotate.core.guidelines import MarkerScheme, default_markers
from annotate.core.markers import misplaced, speaker_fits
from annotate.ingest.codings import import_codings_file
from annotate.work.codings import assign_codings, toggle_code
from tests.factories import write_jsonl

pytestmark = pytest.mark.both_backends

# s11 (the demo): odd turns are the counselor's, even turns the client's.
CLIENT_TURN, COUNSELOR_TURN = 2, 3


def _count(engine, table: str) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_the_rule_places_client_markers_repairs_and_a_teams_own_family() -> None:
    scheme = default_markers()
    assert misplaced(scheme, "shutdown", CLIENT_TURN, "client") is None
    assert misplaced(scheme, "explore", COUNSELOR_TURN, "counselor") is None
    assert misplaced(scheme, "pushback", 3, "counselor") == (
        f"code 'pushback' ({scheme.code('pushback').name}) is a confrontation code, which "
        "goes on client turns; turn 3 is the counselor's"
    )
    assert "goes on counselor turns; turn 2 is the client's" in str(
        misplaced(scheme, "explore", 2, "client")
    )
    data = scheme.model_dump()
    data["families"]["humour"] = {"name": "Humour", "definition": "Anyone jokes."}
    data["codes"].append({**data["codes"][0], "id": "joke", "key": "j", "family": "humour"})
    own = MarkerScheme.model_validate(data)
    for speaker in ("client", "counselor"):
        assert misplaced(own, "joke", 1, speaker) is None and speaker_fits(own, "joke", speaker)
        assert speaker_fits(own, "shutdown", speaker) == (speaker == "client")


@pytest.mark.parametrize(
    ("turn", "code", "said"),
    [
        (COUNSELOR_TURN, "shutdown", "goes on client turns; turn 3 is the counselor's"),
        (CLIENT_TURN, "explore", "goes on counselor turns; turn 2 is the client's"),
    ],
)
def test_the_screen_and_the_import_refuse_a_code_on_the_other_speakers_turn(
    demo_engine, tmp_path: Path, turn: int, code: str, said: str
) -> None:  # type: ignore[no-untyped-def]
    message = misplaced(default_markers(), code, turn, "client" if turn % 2 == 0 else "counselor")
    assert message is not None and said in message
    # The coding screen's change (toggle_code) says it, and stores nothing.
    assign_codings(demo_engine, ["ana"], sessions=["s11"])
    with demo_engine.connect() as connection:
        coding_id = connection.execute(text("SELECT id FROM codings")).scalar_one()
    with pytest.raises(ConfigError) as refused:
        toggle_code(demo_engine, coding_id, "ana", turn, code, 0)
    assert str(refused.value) == message
    assert _count(demo_engine, "coding_versions") == 0
    # The import says the same, with its file and line, and writes nothing at all.
    fine = {"session_id": "s03", "coder": "ben", "codes": [{"turn": 6, "code": "shutdown"}]}
    marks = [{"turn": CLIENT_TURN, "code": "masking"}, {"turn": turn, "code": code}]
    wrong = {"session_id": "s11", "coder": "chen", "role": "second", "codes": marks}
    path = write_jsonl(tmp_path / "codings.jsonl", [fine, wrong])
    with pytest.raises(ImportFailed) as failed:
        import_codings_file(demo_engine, path)
    assert failed.value.errors == [f"{path}:2: session 's11': {message}"]
    assert _count(demo_engine, "codings") == 1  # the assignment above, nothing imported
    assert _count(demo_engine, "coding_versions") == 0


def test_codes_on_their_speakers_turns_still_import(demo_engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    record = {"session_id": "s11", "coder": "ana",
              "codes": [{"turn": CLIENT_TURN, "code": "shutdown"},
                        {"turn": COUNSELOR_TURN, "code": "explore"}]}  # fmt: skip
    result = import_codings_file(demo_engine, write_jsonl(tmp_path / "c.jsonl", [record]))
    assert (result.records, result.created) == (1, 1)
