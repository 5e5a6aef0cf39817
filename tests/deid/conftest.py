"""Fixtures the de-identification tests share: a test server that answers with whole
masked turns, and a store holding the planted sessions (tests/deid/planted.py). A module
that needs another store defines its own ``store``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deid.planted import import_planted
from tests.llm_server import FakeLLM, ServerThread


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    server = FakeLLM(default_fault="whole-turns")
    with ServerThread(server):
        yield server


@pytest.fixture
def store(engine, tmp_path: Path):  # type: ignore[no-untyped-def]
    import_planted(engine, tmp_path)
    return engine
