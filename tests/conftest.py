"""Shared fixtures: every test gets its own database file and no stray environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotate.database import initialise
from annotate.demo import DEMO_FILES
from annotate.importing import import_file


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the default database at a fresh file and keep API keys out of tests."""
    monkeypatch.setenv("ANNOTATE_DB", str(tmp_path / "annotate.db"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def engine(db_url: str):  # type: ignore[no-untyped-def]
    engine, _ = initialise(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def demo_engine(engine):  # type: ignore[no-untyped-def]
    """A store holding the shipped demo corpus (sessions, rationales, reviews)."""
    for path in DEMO_FILES:
        import_file(engine, path)
    return engine
