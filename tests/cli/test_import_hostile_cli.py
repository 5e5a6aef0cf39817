"""``annotate import`` on hostile files: exit 1, FILE:LINE lines on stderr, no traceback."""

from __future__ import annotations

import re
from itertools import count
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli.app import app
from tests import hypothesis_profiles
from tests.services.test_import_hostile import _VALID, CASES, _mutate, _mutation

runner = CliRunner()
_ids = count()


def _check(result, path: Path) -> None:  # type: ignore[no-untyped-def]
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        return
    assert result.exit_code == 1
    allowed = re.compile(
        rf"^({re.escape(str(path))}:[1-9]\d*: \S.*|error: .+|\.\.\. and \d+ more error\(s\))$"
    )
    lines = result.stderr.splitlines()
    assert lines and lines[-1].startswith("error: "), result.stderr
    for line in lines:
        assert allowed.match(line), line[:300]


# The service tests run these cases on both backends; the command line adds only output.
@pytest.mark.parametrize(("case", "line", "message"), CASES, ids=[c[0] for c in CASES])
def test_named_hostile_lines_on_the_command_line(
    db_url: str, tmp_path: Path, case: str, line: bytes, message: str
) -> None:
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(_VALID + line + b"\n")
    result = runner.invoke(app, ["--db", db_url, "import", str(path)])
    assert result.exit_code == 1
    _check(result, path)
    assert message in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith("nothing was imported")


@settings(
    max_examples=hypothesis_profiles.examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mutations=st.lists(_mutation, min_size=1, max_size=4), bom=st.booleans(), crlf=st.booleans())
def test_mutated_files_on_the_command_line(
    tmp_path: Path, mutations: list, bom: bool, crlf: bool
) -> None:
    path = tmp_path / f"m{next(_ids)}.jsonl"
    path.write_bytes(_mutate(_VALID, mutations, bom, crlf))
    db = str(tmp_path / "cli.db")
    _check(runner.invoke(app, ["--db", db, "import", str(path)]), path)
