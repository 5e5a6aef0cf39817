"""One settings object per invocation, and one place that reads the environment for it."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from annotate.core.settings import Endpoint, Settings, api_key

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-test-0123456789abcdef"
ENVIRONMENT = {
    "ANNOTATE_DB": "env.db",
    "OPENAI_API_KEY": KEY,
    "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
    "ANNOTATE_DRAFT_MODEL": "small",
}


def test_settings_take_the_options_first_then_the_environment() -> None:
    from_env = Settings.load(environ=ENVIRONMENT)
    assert (from_env.db, from_env.db_option, from_env.debug) == ("env.db", None, False)
    assert from_env.endpoint == Endpoint(base_url="http://127.0.0.1:9/v1", model="small")
    given = Settings.load(db="given.db", debug=True, environ=ENVIRONMENT)
    assert (given.db, given.db_option, given.debug) == ("given.db", "given.db", True)
    bare = Settings.load(environ={})
    assert (bare.db, bare.endpoint) == (None, Endpoint())  # the store's default file


def test_settings_are_frozen_and_never_hold_the_key() -> None:
    settings = Settings.load(environ=ENVIRONMENT)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.db = "other.db"  # type: ignore[misc]
    assert KEY not in repr(settings) and KEY[:8] not in repr(settings)
    assert (
        api_key(ENVIRONMENT) == KEY
        and api_key({}) is None
        and api_key({"OPENAI_API_KEY": ""}) is None
    )


READS = re.compile(r"(environ|getenv)\b[^\n]*(OPENAI_API_KEY|OPENAI_BASE_URL|ANNOTATE_DRAFT_MODEL"
                   r"|ANNOTATE_DB)")  # fmt: skip


def _sources() -> list[Path]:
    return [path for folder in ("annotate", "cli", "tui") for path in (ROOT / folder).rglob("*.py")]


def test_the_key_and_the_endpoint_are_read_from_the_environment_in_one_module() -> None:
    readers = sorted(
        str(path.relative_to(ROOT)) for path in _sources() if READS.search(path.read_text())
    )
    # cli/commands/tui.py writes ANNOTATE_DB for the UI processes it starts; it reads none.
    assert readers == ["cli/commands/tui.py"]
    assert not READS.search(
        (ROOT / "cli/commands/tui.py").read_text().replace('os.environ["ANNOTATE_DB"] =', "")
    )


def test_database_urls_are_redacted_in_one_place() -> None:
    writers = sorted(
        str(path.relative_to(ROOT))
        for path in _sources()
        if "hide_password=True" in path.read_text()
    )
    assert writers == ["annotate/core/database.py"]
