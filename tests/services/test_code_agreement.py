"""Agreement on turn codes equals the ``krippendorff`` package on the same matrix; the
acceptance table equals a count of the decisions."""

from __future__ import annotations

import json
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from annotate.analysis.codes import acceptance, code_agreement, family_values
from annotate.core.demo import DEMO_CODINGS
from annotate.core.guidelines import default_markers
from annotate.ingest.codings import import_codings_file
from annotate.work.codings import assign_codings, decide_suggestion
from store.db import session_scope
from store.models import MarkerDraft, MarkerSuggestion
from tests.factories import write_jsonl

pytestmark = pytest.mark.both_backends


def _turn_counts(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT session_id, max(number) FROM turns GROUP BY session_id")
        ).all()
    return {sid: int(n) for sid, n in rows}


def _reliability_matrix(records: list[dict], family: str, turns: dict[str, int]) -> np.ndarray:
    """Coders x units as the krippendorff package takes it, built from the file's records:
    each coder pair of a session in its own rows (coders named by position)."""
    family_of = {code.id: code.family for code in default_markers().codes}
    by_session: dict[str, dict[str, set[tuple[int, str]]]] = {}
    for record in records:
        by_session.setdefault(record["session_id"], {})[record["coder"]] = {
            (c["turn"], c["code"]) for c in record["codes"]
        }
    labels: dict[str, int] = {}
    columns: list[list[float]] = []
    for sid in sorted(by_session):
        coders = sorted(by_session[sid])
        if len(coders) < 2:
            continue
        for turn in range(1, turns[sid] + 1):
            column = []
            for coder in coders:
                on = sorted(c for t, c in by_session[sid][coder] if t == turn
                            and family_of[c] == family)  # fmt: skip
                value = "+".join(on) or "none"
                column.append(float(labels.setdefault(value, len(labels))))
            columns.append(column)
    width = max(len(column) for column in columns)
    matrix = np.full((width, len(columns)), np.nan)
    for j, column in enumerate(columns):
        matrix[: len(column), j] = column
    return matrix


def test_alpha_per_family_equals_the_krippendorff_package(demo_engine) -> None:  # type: ignore[no-untyped-def]
    import_codings_file(demo_engine, DEMO_CODINGS)
    records = [json.loads(line) for line in DEMO_CODINGS.read_text(encoding="utf-8").splitlines()]
    turns = _turn_counts(demo_engine)
    table = code_agreement(demo_engine, samples=200, seed=7).set_index("family")
    assert set(table.index) == {"confrontation", "withdrawal", "repair"}
    for family in table.index:
        expected = krippendorff.alpha(
            reliability_data=_reliability_matrix(records, family, turns),
            level_of_measurement="nominal",
        )
        row = table.loc[family]
        assert row["alpha"] == pytest.approx(expected, abs=1e-9)
        coded = ("s03", "s07", "s11", "s14")
        assert row["sessions"] == 4 and row["units"] == sum(turns[s] for s in coded)
        assert row["ci_low"] <= row["alpha"] <= row["ci_high"]
    again = code_agreement(demo_engine, samples=200, seed=7)
    assert again["ci_low"].tolist() == table["ci_low"].tolist()  # seeded


def test_perfect_and_absent_overlap(demo_engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    codes = [{"turn": 2, "code": "shutdown"}, {"turn": 8, "code": "avoidance"},
             {"turn": 15, "code": "explore"}]  # fmt: skip
    path = write_jsonl(tmp_path / "c.jsonl", [
        {"session_id": "s11", "coder": "ana", "codes": codes},
        {"session_id": "s11", "coder": "ben", "role": "second", "codes": codes},
        {"session_id": "s03", "coder": "ana", "codes": codes},  # coded once: no unit
    ])  # fmt: skip
    import_codings_file(demo_engine, path)
    table = code_agreement(demo_engine, samples=50).set_index("family")
    assert table.loc["withdrawal", "alpha"] == pytest.approx(1.0)
    assert table.loc["withdrawal", "units"] == 20 and table.loc["withdrawal", "sessions"] == 1
    assert pd.isna(table.loc["confrontation", "alpha"])  # nobody used one: no variation
    assert "no variation" in table.loc["confrontation", "note"]


def test_family_values_join_several_codes_of_one_family() -> None:
    family_of = {"shutdown": "withdrawal", "masking": "withdrawal", "explore": "repair"}
    values = family_values([(1, "masking"), (1, "shutdown"), (2, "explore")], family_of,
                           "withdrawal", range(1, 4))  # fmt: skip
    assert values == ["masking+shutdown", "none", "none"]


def test_acceptance_counts_each_decision(demo_engine) -> None:  # type: ignore[no-untyped-def]
    assign_codings(demo_engine, ["ana", "ben"], sessions=["s11"], second_fraction=1.0)
    with session_scope(demo_engine) as session:
        draft = MarkerDraft(session_id="s11", scheme_id="3rs", status="ok", provider="offline",
                            model="offline-cues-1", prompt_version="1", prompt_hash="h",
                            scheme_version="1.0.0")  # fmt: skip
        session.add(draft)
        session.flush()
        ids = []
        for turn, code in ((2, "shutdown"), (4, "shutdown"), (8, "avoidance")):
            row = MarkerSuggestion(draft_id=draft.id, session_id="s11", turn_number=turn,  # type: ignore[arg-type]
                                   code=code, quote="q", grounded=True)  # fmt: skip
            session.add(row)
            session.flush()
            ids.append(row.id)
    with demo_engine.connect() as connection:
        codings = dict(connection.execute(text("SELECT coder_id, id FROM codings")).all())
    decide_suggestion(demo_engine, codings["ana"], "ana", ids[0], True, 0)
    decide_suggestion(demo_engine, codings["ana"], "ana", ids[1], False, 1)
    decide_suggestion(demo_engine, codings["ben"], "ben", ids[0], True, 0)
    decide_suggestion(demo_engine, codings["ben"], "ben", ids[2], False, 1)
    table = acceptance(demo_engine).set_index("code")
    assert table.loc["shutdown", ["offered", "accepted", "rejected"]].tolist() == [2, 2, 1]
    assert table.loc["shutdown", "rate"] == pytest.approx(2 / 3)
    assert table.loc["avoidance", ["offered", "accepted", "rejected"]].tolist() == [1, 0, 1]
    assert table.loc["avoidance", "rate"] == 0.0
    assert set(table["source"]) == {"offline hinter"}


def test_report_shows_coding_agreement_and_acceptance(demo_engine) -> None:  # type: ignore[no-untyped-def]
    from annotate.analysis.report import build_report

    assert "Rupture coding" not in build_report(demo_engine, samples=20)  # no codings yet
    import_codings_file(demo_engine, DEMO_CODINGS)
    html = build_report(demo_engine, samples=20, seed=5)
    section = html[html.index("<h2>Rupture coding") :]
    section = section[: section.index("<h2>", 5)]
    assert "Codings: 8 submitted." in section
    alpha = code_agreement(demo_engine, samples=20, seed=5)
    for row in alpha.itertuples():
        assert f"{row.family}</td>" in section
        assert f"{row.alpha:.3f}" in section
    assert section.count("<svg") == 1
