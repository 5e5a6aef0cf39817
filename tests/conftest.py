"""Shared fixtures: every test gets its own database and no stray environment.

A test runs on SQLite by default. Marked ``@pytest.mark.both_backends`` (or a module
with ``pytestmark = pytest.mark.both_backends``), every test that uses ``backend``,
``db_url``, ``engine`` or ``demo_engine`` runs twice: on a SQLite file and on a fresh
database of a PostgreSQL server that the test session starts once (tests/pgserver.py).
Without the server binaries the PostgreSQL runs skip with a message saying what to
install; with ``ANNOTATE_REQUIRE_POSTGRES=1`` (CI) they fail instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from annotate.core.database import initialise
from annotate.core.demo import DEMO_FILES
from annotate.ingest import import_file
from tests.hypothesis_profiles import register as register_hypothesis_profiles
from tests.pgserver import PostgresServer, Unavailable

# "default" (make test) and "slow" (make test-slow): tests/hypothesis_profiles.py
register_hypothesis_profiles()

# A pytest-xdist worker starts with COLUMNS=80 and LINES=24 in its environment; they
# would win over a pty's own size (tests/tui/ptyrun.py) and over what Rich measures,
# as they never do in a terminal or a serial run: gone before any test module loads.
for _variable in ("COLUMNS", "LINES"):
    os.environ.pop(_variable, None)

BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "both_backends"
    ):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


# Under pytest-xdist (``make test`` runs ``-n 4 --dist loadgroup``) the tests marked slow
# go first, so that no worker is left with a long test while the others have finished
# (longest first); every worker collects the same order. Tests that measure time or load
# the cores on purpose are marked ``pytest.mark.xdist_group("timing")``: the tests of a
# group run one after another on one worker, never beside each other.
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend") == "postgresql":
            item.add_marker(pytest.mark.postgres)
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: slow tests first
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the default database at a fresh file and keep API keys out of tests."""
    monkeypatch.setenv("ANNOTATE_DB", str(tmp_path / "annotate.db"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole test session (started on first use)."""
    try:
        server = PostgresServer.start()
    except Unavailable as error:
        if os.environ.get("ANNOTATE_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL is required here: {error}")
        pytest.skip(f"PostgreSQL tests skipped: {error}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_template(pg_server: PostgresServer) -> str:
    """A database at the current schema with the default instrument, copied per test."""
    name = "annotate_template"
    url = pg_server.create_database(name=name)
    engine, _ = initialise(url)
    engine.dispose()
    pg_server.prefetch(name)
    return name


@pytest.fixture(scope="session")
def pg_demo_template(pg_server: PostgresServer, pg_template: str) -> str:
    """The template with the demo corpus imported (``demo_engine`` copies it)."""
    name = "annotate_demo_template"
    url = pg_server.create_database(template=pg_template, name=name)
    engine, _ = initialise(url)
    for path in DEMO_FILES:
        import_file(engine, path)
    engine.dispose()
    pg_server.prefetch(name)
    return name


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` unless the test is marked ``both_backends`` (then each in turn)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def empty_db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL of a database that does not exist yet (SQLite) or is empty (PostgreSQL)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    url = server.create_database()
    yield url
    server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The test's own database: a new SQLite file, or a PostgreSQL copy of the template.

    On SQLite the file does not exist yet (the first command creates it); on
    PostgreSQL the database is already at the current schema, which every command
    treats the same way (and holds the demo corpus when the test uses ``demo_engine``).
    """
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    wanted = "pg_demo_template" if "demo_engine" in request.fixturenames else "pg_template"
    url = server.create_database(template=request.getfixturevalue(wanted))
    yield url
    server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
def engine(db_url: str):  # type: ignore[no-untyped-def]
    engine, _ = initialise(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def demo_engine(engine, backend: str):  # type: ignore[no-untyped-def]
    """A store holding the shipped demo corpus (sessions, rationales, reviews).

    On PostgreSQL the database is already a copy of the imported demo template.
    """
    if backend == "sqlite":
        for path in DEMO_FILES:
            import_file(engine, path)
    return engine


@pytest.fixture
def offline_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`datasets` never goes online and caches under the test's own directory."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
